"""Tests of dse.indicators against brute force, moocore and pymoo, plus their properties."""

from __future__ import annotations

import itertools
import warnings

import moocore
import numpy as np
import pytest
import torch
from hypothesis import assume, given, settings
from hypothesis import strategies as st
from hypothesis.extra.numpy import arrays
from pymoo.indicators.gd import GD
from pymoo.indicators.igd import IGD
from pymoo.indicators.igd_plus import IGDPlus
from pymoo.indicators.spacing import SpacingIndicator

from dse.indicators import (
    ReferencePointWarning,
    epsilon_additive,
    gd,
    hypervolume,
    hypervolume_ratio,
    hypervolume_torch_2d,
    ideal_nadir,
    igd,
    igd_plus,
    normalise,
    reference_point,
    spacing,
)
from dse.pareto import nondominated

SETTINGS = settings(max_examples=50, deadline=None)


def readonly(a: object) -> np.ndarray:
    a = np.array(a, dtype=float)
    a.setflags(write=False)
    return a


def brute_hv(F: np.ndarray, ref: np.ndarray) -> float:
    """Exact HV by grid cells: the distinct coordinates cut the box into cells; a cell is
    covered iff its lower corner is weakly dominated by some point."""
    P = F[np.all(F < ref, axis=1)]
    if len(P) == 0:
        return 0.0
    axes = [np.unique(np.append(P[:, k], ref[k])) for k in range(F.shape[1])]
    total = 0.0
    for cell in itertools.product(*(range(len(a) - 1) for a in axes)):
        low = np.array([axes[k][i] for k, i in enumerate(cell)])
        if np.any(np.all(P <= low, axis=1)):
            total += float(np.prod([axes[k][i + 1] - axes[k][i] for k, i in enumerate(cell)]))
    return total


def quiet_hv(F: object, ref: object) -> float:
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ReferencePointWarning)
        return hypervolume(F, ref)


# Points on a coarse grid (ties, duplicates, points on the reference boundary) or floats.
small_sets = st.integers(1, 3).flatmap(
    lambda m: st.tuples(
        arrays(np.float64, st.tuples(st.integers(0, 8), st.just(m)),
               elements=st.one_of(st.integers(0, 4).map(float),
                                  st.floats(0, 4, allow_nan=False, width=32))),
        st.just(np.full(m, 4.0)),
    )
)


# ---------------------------------------------------------------- hypervolume
@SETTINGS
@given(data=small_sets)
def test_hypervolume_equals_brute_force(data: tuple[np.ndarray, np.ndarray]) -> None:
    F, ref = readonly(data[0]), readonly(data[1])
    want = brute_hv(F, ref)
    assert quiet_hv(F, ref) == pytest.approx(want, rel=1e-12, abs=1e-12), F.tolist()
    assert quiet_hv(torch.tensor(F), torch.tensor(ref)) == pytest.approx(want, rel=1e-12,
                                                                         abs=1e-12)


@SETTINGS
@given(data=small_sets, perm_seed=st.integers(0, 2**32 - 1))
def test_hypervolume_properties(data: tuple[np.ndarray, np.ndarray], perm_seed: int) -> None:
    F, ref = readonly(data[0]), data[1]
    hv = quiet_hv(F, ref)
    # HV(P) == HV(nondominated(P)) (also with one copy of duplicates)
    assert quiet_hv(F[nondominated(F, keep_duplicates=False)], ref) == pytest.approx(hv)
    # invariant to permutation
    perm = np.random.default_rng(perm_seed).permutation(len(F))
    assert quiet_hv(F[perm], ref) == pytest.approx(hv), f"perm_seed={perm_seed}"
    # never drops when a point is added (any point, dominated or not)
    for extra in ([0.5] * F.shape[1], [3.9] * F.shape[1], [4.0] * F.shape[1]):
        grown = np.vstack([F, np.array([extra])])
        assert quiet_hv(grown, ref) >= hv - 1e-12 * max(1.0, hv), f"added {extra}"


def test_hypervolume_against_moocore_random() -> None:
    rng = np.random.default_rng(11)
    for m in (2, 3, 4, 5):
        F = readonly(rng.random((60, m)))
        ref = np.full(m, 1.1)
        assert hypervolume(F, ref) == pytest.approx(moocore.hypervolume(F, ref=ref),
                                                    rel=1e-12), f"seed=11 m={m}"


def test_hypervolume_edge_cases() -> None:
    ref = np.array([2.0, 2.0])
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # empty set: 0.0 and no warning
        assert hypervolume(np.zeros((0, 2)), ref) == 0.0
    assert hypervolume(np.array([[1.0, 0.5]]), ref) == pytest.approx(1.5)  # single point
    # points on the boundary of the reference box contribute nothing
    base = np.array([[1.0, 1.0]])
    on_edge = np.array([[1.0, 1.0], [0.0, 2.0], [2.0, 0.0], [5.0, -3.0]])
    assert hypervolume(on_edge, ref) == hypervolume(base, ref) == pytest.approx(1.0)
    # duplicates change nothing
    assert hypervolume(np.repeat(base, 5, axis=0), ref) == pytest.approx(1.0)
    # one objective: ref - min
    assert hypervolume(np.array([[3.0], [1.5], [7.0]]), [4.0]) == pytest.approx(2.5)
    # no point strictly dominates ref: 0.0 with a warning
    with pytest.warns(ReferencePointWarning, match="strictly dominates"):
        assert hypervolume(np.array([[3.0, 1.0], [2.0, 2.0]]), ref) == 0.0


def test_hypervolume_errors() -> None:
    F = np.array([[1.0, 1.0], [0.5, 1.5]])
    with pytest.raises(ValueError, match=r"ref must have shape \(2,\), got shape \(3,\)"):
        hypervolume(F, [2.0, 2.0, 2.0])
    with pytest.raises(ValueError, match=r"ref must have shape \(2,\), got shape \(1, 2\)"):
        hypervolume(F, [[2.0, 2.0]])
    with pytest.raises(ValueError, match="finite"):
        hypervolume(F, [np.inf, 2.0])
    with pytest.raises(ValueError, match=r"shape \(N, M\)"):
        hypervolume(np.zeros((2, 2, 2)), [1.0, 1.0])
    G = np.array([[1.0, 1.0], [np.nan, 0.0], [0.5, 1.5]])
    with pytest.raises(ValueError, match=r"NaN in 1 row\(s\) \[1\]"):
        hypervolume(G, [2.0, 2.0])
    assert hypervolume(G, [2.0, 2.0], nan="drop") == pytest.approx(hypervolume(F, [2.0, 2.0]))


# ---------------------------------------------------------------- differentiable 2-D HV
def test_hv_torch_2d_equals_moocore_batched() -> None:
    rng = np.random.default_rng(5)
    F = rng.random((6, 40, 2)) * 1.3  # some points outside the box [.., 1.1]
    F[0, :5] = F[0, 5:10]  # duplicates
    F[1, :, 0] = np.round(F[1, :, 0], 1)  # ties in the sort key
    ref = np.array([1.1, 1.0])
    got = hypervolume_torch_2d(torch.as_tensor(F), torch.as_tensor(ref))
    assert got.shape == (6,) and got.dtype == torch.float64
    for b in range(6):
        want = quiet_hv(F[b], ref)
        assert got[b].item() == pytest.approx(want, rel=1e-12, abs=1e-15), f"seed=5 set={b}"
    # float32 and a per-set reference point broadcast over the batch
    refs = torch.tensor([[1.1, 1.0], [2.0, 2.0]])
    got32 = hypervolume_torch_2d(torch.as_tensor(F[:2], dtype=torch.float32), refs)
    assert got32.dtype == torch.float32
    for b in range(2):
        assert got32[b].item() == pytest.approx(quiet_hv(F[b], refs[b].numpy()), rel=1e-5)


def test_hv_torch_2d_gradients() -> None:
    rng = np.random.default_rng(9)
    # distinct coordinates, no ties: HV is smooth there, so finite differences are exact
    F = torch.tensor(rng.permutation(20).reshape(10, 2) / 20.0, dtype=torch.float64,
                     requires_grad=True)
    ref = torch.tensor([1.2, 1.1], dtype=torch.float64, requires_grad=True)
    assert torch.autograd.gradcheck(hypervolume_torch_2d, (F, ref)), "seed=9"
    hv = hypervolume_torch_2d(F, ref)
    (g,) = torch.autograd.grad(hv, F)
    assert torch.isfinite(g).all()
    # dominated points get zero gradient, non-dominated ones a non-positive one
    mask = nondominated(F.detach())
    assert torch.all(g[~mask] == 0)
    assert torch.all(g[mask] <= 0) and torch.all(g[mask].sum(dim=-1) < 0)


def test_hv_torch_2d_edge_cases() -> None:
    empty = torch.zeros(3, 0, 2)
    assert torch.equal(hypervolume_torch_2d(empty, [1.0, 1.0]), torch.zeros(3))
    outside = torch.tensor([[2.0, 0.0], [0.0, 1.0]])
    assert hypervolume_torch_2d(outside, [1.0, 1.0]).item() == 0.0
    with_nan = torch.tensor([[[0.5, 0.5]], [[float("nan"), 0.5]]])
    hv = hypervolume_torch_2d(with_nan, [1.0, 1.0])
    assert hv[0].item() == pytest.approx(0.25) and torch.isnan(hv[1])
    with pytest.raises(ValueError, match=r"\(\.\.\., N, 2\).*\(4, 3\)"):
        hypervolume_torch_2d(torch.zeros(4, 3), [1.0, 1.0])
    with pytest.raises(ValueError, match="ref must have shape"):
        hypervolume_torch_2d(torch.zeros(4, 2), [1.0, 1.0, 1.0])
    with pytest.raises(TypeError, match="torch tensor"):
        hypervolume_torch_2d(np.zeros((4, 2)), [1.0, 1.0])  # type: ignore[arg-type]
    x = torch.tensor([[0.2, 0.3]])
    before = x.clone()
    hypervolume_torch_2d(x, [1.0, 1.0])
    assert torch.equal(x, before)


# ---------------------------------------------------------------- distance indicators
@pytest.mark.parametrize("seed", [0, 1, 2])
@pytest.mark.parametrize("m", [1, 2, 3])
def test_distance_indicators_match_moocore_and_pymoo(seed: int, m: int) -> None:
    rng = np.random.default_rng(seed)
    A = readonly(rng.random((25, m)))
    R = readonly(rng.random((40, m)))
    msg = f"seed={seed} m={m}"
    assert igd(A, R) == pytest.approx(moocore.igd(A, R), rel=1e-12), msg
    assert igd(A, R) == pytest.approx(IGD(np.array(R))(np.array(A)), rel=1e-12), msg
    assert igd_plus(A, R) == pytest.approx(moocore.igd_plus(A, R), rel=1e-12), msg
    assert igd_plus(A, R) == pytest.approx(IGDPlus(np.array(R))(np.array(A)), rel=1e-12), msg
    assert gd(A, R) == pytest.approx(GD(np.array(R))(np.array(A)), rel=1e-12), msg
    assert epsilon_additive(A, R) == pytest.approx(moocore.epsilon_additive(A, R),
                                                   rel=1e-12), msg
    # torch input, converted once, gives the same values
    At = torch.tensor(A)
    assert igd(At, R) == igd(A, R) and epsilon_additive(At, torch.tensor(R)) == \
        epsilon_additive(A, R)


def test_distance_indicator_properties() -> None:
    rng = np.random.default_rng(4)
    R = rng.random((30, 2))
    for f in (igd, igd_plus, gd, epsilon_additive):
        assert f(R, R) == pytest.approx(0.0, abs=1e-15), f.__name__
    assert gd(R[:10], R) == 0.0  # a subset of the reference front is on it
    assert igd(R[:10], R) > 0.0  # ... but does not cover it
    # shifting the whole set by +d: additive epsilon is exactly d; IGD+ at most d * sqrt(M)
    assert epsilon_additive(R + 0.25, R) == pytest.approx(0.25)
    assert 0.0 < igd_plus(R + 0.25, R) <= 0.25 * np.sqrt(2) + 1e-15
    # IGD+ counts only the objectives where the point is worse; IGD counts all
    z = np.array([[0.0, 0.0]])
    assert igd_plus([[0.25, 0.25]], z) == pytest.approx(0.25 * np.sqrt(2))
    assert igd_plus([[-1.0, 0.25]], z) == pytest.approx(0.25)
    assert igd([[-1.0, 0.25]], z) == pytest.approx(np.hypot(1.0, 0.25))
    # a set that dominates the reference front: IGD+ is 0, epsilon negative
    assert igd_plus(R - 0.1, R) == 0.0 and epsilon_additive(R - 0.1, R) == pytest.approx(-0.1)


def test_distance_indicator_edge_cases() -> None:
    R = np.array([[0.0, 1.0], [1.0, 0.0]])
    for f in (igd, igd_plus, gd, epsilon_additive):
        assert f(np.zeros((0, 2)), R) == np.inf, f.__name__
        with pytest.raises(ValueError, match="at least one point"):
            f(R, np.zeros((0, 2)))
        with pytest.raises(ValueError, match=r"shapes \(2, 2\) and \(2, 3\)"):
            f(R, np.zeros((2, 3)))
        with pytest.raises(ValueError, match=r"F has NaN in 1 row\(s\) \[0\]"):
            f(np.array([[np.nan, 0.0], [0.5, 0.5]]), R)
        assert f(np.array([[np.nan, 0.0], [0.5, 0.5]]), R, nan="drop") == f([[0.5, 0.5]], R)
    # a single point: exact values by hand
    assert igd([[0.0, 0.0]], R) == pytest.approx(1.0)
    assert gd([[0.0, 0.0]], R) == pytest.approx(1.0)
    assert epsilon_additive([[0.5, 0.5]], R) == pytest.approx(0.5)


# ---------------------------------------------------------------- spacing
def brute_spacing(F: np.ndarray) -> float:
    n = len(F)
    d = [min(np.abs(F[i] - F[j]).sum() for j in range(n) if j != i) for i in range(n)]
    return float(np.sqrt(sum((x - np.mean(d)) ** 2 for x in d) / (n - 1)))


@pytest.mark.parametrize("seed", [0, 1])
def test_spacing_matches_pymoo_and_brute_force(seed: int) -> None:
    rng = np.random.default_rng(seed)
    F = readonly(rng.random((30, 3)))
    assert spacing(F, ddof=0) == pytest.approx(SpacingIndicator()(np.array(F)), rel=1e-12)
    assert spacing(F) == pytest.approx(brute_spacing(F), rel=1e-12), f"seed={seed}"
    assert spacing(torch.tensor(F)) == spacing(F)


def test_spacing_edge_cases() -> None:
    line = np.stack([np.linspace(0, 1, 11), np.linspace(1, 0, 11)], axis=1)
    assert spacing(line) == pytest.approx(0.0, abs=1e-12)  # evenly spaced
    assert spacing([[1.0, 2.0]]) == 0.0
    assert spacing([[1.0, 2.0], [1.0, 2.0], [5.0, 5.0]]) == pytest.approx(
        brute_spacing(np.array([[1.0, 2.0], [1.0, 2.0], [5.0, 5.0]])))
    with pytest.raises(ValueError, match="at least one point"):
        spacing(np.zeros((0, 2)))
    with pytest.raises(ValueError, match="ddof"):
        spacing(line, ddof=2)


# ---------------------------------------------------------------- normalisation and ref point
def test_normalize() -> None:
    F = readonly([[1.0, 10.0, 5.0], [3.0, 30.0, 5.0]])
    out = normalise(F, ideal=[1.0, 10.0, 5.0], nadir=[3.0, 30.0, 5.0])
    assert out.tolist() == [[0.0, 0.0, 0.0], [1.0, 1.0, 0.0]]  # degenerate: shift only
    T = torch.tensor(np.array(F), dtype=torch.float32, requires_grad=True)
    out_t = normalise(T, [1.0, 10.0, 5.0], [3.0, 30.0, 5.0])
    assert out_t.dtype == torch.float32 and out_t.requires_grad
    assert out_t.detach().numpy().tolist() == out.tolist()
    batched = normalise(np.ones((2, 4, 3)), [0.0, 0.0, 0.0], [2.0, 2.0, 2.0])
    assert batched.shape == (2, 4, 3) and np.all(batched == 0.5)
    with pytest.raises(ValueError, match="nadir must be >= ideal"):
        normalise(F, [1.0, 1.0, 1.0], [0.0, 2.0, 2.0])
    with pytest.raises(ValueError, match=r"ideal must have shape \(3,\), got shape \(2,\)"):
        normalise(F, [1.0, 1.0], [2.0, 2.0, 2.0])


def test_reference_point_rule() -> None:
    ideal, nadir = np.array([1.0, -2.0, 0.0]), np.array([3.0, 2.0, 10.0])
    ref = reference_point(ideal, nadir)
    np.testing.assert_allclose(ref, nadir + 0.1 * (nadir - ideal))
    # invariant to rescaling: in normalised space it is 1 + offset everywhere
    np.testing.assert_allclose(normalise(ref, ideal, nadir), [1.1, 1.1, 1.1])
    np.testing.assert_allclose(reference_point(ideal, nadir, offset=0.5),
                               nadir + 0.5 * (nadir - ideal))
    # degenerate ranges still give a point strictly worse than the nadir
    np.testing.assert_allclose(reference_point([0.0, 5.0, -3.0], [1.0, 5.0, -3.0]),
                               [1.1, 5.5, -2.7])
    assert np.all(reference_point([0.0, 0.0], [0.0, 0.0]) > 0.0)
    with pytest.raises(ValueError, match="nadir must be >= ideal"):
        reference_point([1.0, 0.0], [0.0, 1.0])
    with pytest.raises(ValueError, match="offset"):
        reference_point([0.0, 0.0], [1.0, 1.0], offset=0.0)
    with pytest.raises(ValueError, match=r"nadir must have shape \(2,\)"):
        reference_point([0.0, 0.0], [1.0, 1.0, 1.0])


def test_ideal_nadir_ignores_dominated_outliers() -> None:
    F = readonly([[0.0, 1.0], [1.0, 0.0], [50.0, 50.0]])
    ideal, nadir = ideal_nadir(F)
    assert ideal.tolist() == [0.0, 0.0] and nadir.tolist() == [1.0, 1.0]
    with pytest.raises(ValueError, match="empty"):
        ideal_nadir(np.zeros((0, 2)))


def test_hypervolume_ratio() -> None:
    t = np.linspace(0, 1, 51)
    front = readonly(np.stack([t, 1 - t], axis=1))
    assert hypervolume_ratio(front, front) == pytest.approx(1.0)
    sub = front[::5]
    ref = reference_point(*ideal_nadir(front))
    want = hypervolume(sub, ref) / hypervolume(front, ref)
    assert hypervolume_ratio(sub, front) == pytest.approx(want)
    assert 0.0 < hypervolume_ratio(sub, front) < 1.0
    assert hypervolume_ratio(sub, front, ref=[2.0, 2.0]) == pytest.approx(
        hypervolume(sub, [2.0, 2.0]) / hypervolume(front, [2.0, 2.0]))
    assert hypervolume_ratio(np.zeros((0, 2)), front) == 0.0
    assert hypervolume_ratio(front + 10.0, front) == 0.0  # beyond ref: no warning needed
    with pytest.raises(ValueError, match="zero hypervolume"):
        hypervolume_ratio(sub, front, ref=[0.0, 0.0])


@SETTINGS
@given(F=arrays(np.float64, st.tuples(st.integers(1, 12), st.just(2)),
                elements=st.floats(0, 1, allow_nan=False)))
def test_hv_torch_2d_matches_hypervolume_property(F: np.ndarray) -> None:
    assume(np.all(np.isfinite(F)))
    ref = np.array([1.0, 1.0])
    got = hypervolume_torch_2d(torch.tensor(F), torch.tensor(ref)).item()
    assert got == pytest.approx(quiet_hv(F, ref), rel=1e-12, abs=1e-15), F.tolist()
