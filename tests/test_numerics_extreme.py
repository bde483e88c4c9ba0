"""Numerics and scale: indicators at magnitudes near the float64 limits, infinite values, and
exact dominance for integers beyond 2**53, each against brute force or exact values."""

from __future__ import annotations

import math
import warnings

import moocore
import numpy as np
import pytest
import torch

import dse.pareto
from dse.indicators import epsilon_additive, gd, igd, igd_plus, spacing
from dse.pareto import nondominated, pareto_rank

BIG = 2**53  # float64 represents every integer up to here, and not 2**53 + 1


# ---------------------------------------------------------------- independent brute force
def brute_igd(F: np.ndarray, R: np.ndarray, plus: bool = False) -> float:
    """Mean over R of the distance to the nearest point of F, with Python floats: the points
    scaled into [-1, 1] by a power of two (exact), math.hypot per pair, math.fsum."""
    _, e = math.frexp(float(max(np.max(np.abs(F)), np.max(np.abs(R)))))
    F = [[math.ldexp(float(v), -e) for v in f] for f in F]
    R = [[math.ldexp(float(v), -e) for v in z] for z in R]
    dists = []
    for z in R:
        diffs = [[a - b for a, b in zip(f, z, strict=True)] for f in F]
        dists.append(min(math.hypot(*[max(x, 0.0) if plus else x for x in d]) for d in diffs))
    return math.ldexp(math.fsum(dists) / len(dists), e)


def brute_spacing(F: np.ndarray, ddof: int = 1) -> float:
    """Schott's spacing with Python floats, on F scaled into [0, 1) by a power of two (exact),
    so nothing overflows; the result is scaled back."""
    _, e = math.frexp(float(np.max(np.abs(F))))
    G = [[math.ldexp(float(v), -e) for v in row] for row in F]
    n = len(G)
    d = [min(math.fsum(abs(a - b) for a, b in zip(G[i], G[j], strict=True))
             for j in range(n) if j != i) for i in range(n)]
    mean = math.fsum(d) / n
    return math.ldexp(math.sqrt(math.fsum((x - mean) ** 2 for x in d) / (n - ddof)), e)


def brute_mask(F: list[list[int]], keep_duplicates: bool = True) -> list[bool]:
    """Dominance by the definition, on Python ints (exact at any size)."""
    mask = []
    for i, f in enumerate(F):
        beaten = any(all(a <= b for a, b in zip(g, f, strict=True)) and g != f for g in F)
        copy = not keep_duplicates and f in F[:i]
        mask.append(not beaten and not copy)
    return mask


def brute_ranks(F: list[list[int]]) -> list[int]:
    ranks, left, r = [-1] * len(F), list(range(len(F))), 0
    while left:
        m = brute_mask([F[i] for i in left])
        for i, keep in zip(left, m, strict=True):
            if keep:
                ranks[i] = r
        left = [i for i, keep in zip(left, m, strict=True) if not keep]
        r += 1
    return ranks


def plain_igd(F: np.ndarray, R: np.ndarray, plus: bool = False) -> float:
    """The textbook formula (fine at ordinary magnitudes), as dse computed it before."""
    diff = F[None, :, :] - R[:, None, :]
    if plus:
        diff = np.maximum(diff, 0.0)
    return float(np.sqrt(np.einsum("...k,...k->...", diff, diff)).min(axis=1).mean())


# ---------------------------------------------------------------- distance indicators
def test_distances_near_float64_limits_exact_values() -> None:
    z = [[0.0, 0.0]]
    for f in (igd, igd_plus, gd, epsilon_additive):
        assert f([[1e300, 0.0]], z) == 1e300, f.__name__
        assert f([[1e-300, 0.0]], z) == 1e-300, f.__name__  # the square underflows to 0
        assert f([[5e-324, 0.0]], z) == 5e-324, f.__name__  # the smallest subnormal
    for f in (igd, igd_plus, gd):
        assert f([[3e300, 4e300]], z) == pytest.approx(5e300, rel=1e-15), f.__name__
        assert f([[3e-300, 4e-300]], z) == pytest.approx(5e-300, rel=1e-15), f.__name__
    # distances whose sum overflows, though their mean does not
    assert gd([[1e308, 0.0], [1.5e308, 0.0]], z) == pytest.approx(1.25e308, rel=1e-15)
    # a difference that overflows: 2e308 is out of range, but the mean over R is not
    assert igd([[1e308, 0.0]], [[-1e308, 0.0], [1e308, 0.0]]) == pytest.approx(1e308)
    assert igd_plus([[1e308, 0.0]], [[-1e308, 0.0], [1e308, 0.0]]) == pytest.approx(1e308)
    # a true value beyond the float64 range is inf, quietly (it is the rounded answer)
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        assert igd([[1.5e308, 0.0]], [[-1.5e308, 0.0]]) == np.inf
        assert epsilon_additive([[1.5e308, 0.0]], [[-1.5e308, 0.0]]) == np.inf


@pytest.mark.parametrize("k", [-1060, -1000, -500, 500, 1000, 1021, 1023])
@pytest.mark.parametrize("m", [1, 3])
def test_distances_scale_exactly_by_powers_of_two(k: int, m: int) -> None:
    """Scaling F and R by 2**k scales every distance indicator by 2**k, and matches brute
    force. At k = -1060 the inputs are subnormal (rounded by the scaling), so only brute
    force on those inputs applies; at k = 1023 differences of coordinates overflow."""
    rng = np.random.default_rng(abs(k) + m)
    A0, R0 = rng.uniform(-1, 1, (12, m)), rng.uniform(-1, 1, (15, m))
    A, R = np.ldexp(A0, k), np.ldexp(R0, k)
    msg = f"seed={abs(k) + m} k={k} m={m}"
    assert 0.0 < igd(A, R) < np.inf, msg  # (IGD+ is 0 when min(F) <= min(R) with M = 1)
    for f, plus in ((igd, False), (igd_plus, True)):
        assert f(A, R) == pytest.approx(brute_igd(A, R, plus), rel=1e-12), f"{msg} {f}"
        if k >= -1000:
            assert f(A, R) == pytest.approx(math.ldexp(f(A0, R0), k), rel=1e-12), msg
    assert gd(A, R) == pytest.approx(brute_igd(R, A), rel=1e-12), msg
    if k >= -1000:
        assert gd(A, R) == pytest.approx(math.ldexp(gd(A0, R0), k), rel=1e-12), msg
        if k < 1023:  # at 1023 a difference can exceed the float64 range
            assert epsilon_additive(A, R) == pytest.approx(
                math.ldexp(epsilon_additive(A0, R0), k), rel=1e-12), msg


@pytest.mark.parametrize("scale", [1e-150, 1.0, 1e150])
def test_distances_match_moocore_where_its_squares_fit(scale: float) -> None:
    rng = np.random.default_rng(11)
    A, R = rng.random((30, 3)) * scale, rng.random((40, 3)) * scale
    assert igd(A, R) == pytest.approx(moocore.igd(A, R), rel=1e-12), f"scale={scale}"
    assert igd_plus(A, R) == pytest.approx(moocore.igd_plus(A, R), rel=1e-12), f"scale={scale}"
    assert epsilon_additive(A, R) == pytest.approx(moocore.epsilon_additive(A, R), rel=1e-12)


def test_ordinary_magnitudes_keep_the_same_bits() -> None:
    rng = np.random.default_rng(5)
    for m in (1, 2, 4):
        A, R = rng.standard_normal((40, m)), rng.standard_normal((60, m))
        A[:10] = R[:10]  # exact zero distances take the careful branch's shortcut
        assert igd(A, R) == plain_igd(A, R), f"seed=5 m={m}"
        assert gd(A, R) == plain_igd(R, A), f"seed=5 m={m}"
        assert igd_plus(A, R) == plain_igd(A, R, plus=True), f"seed=5 m={m}"


def test_infinite_values_in_distance_indicators() -> None:
    inf = np.inf
    R = np.array([[1.0, 0.0], [0.0, 1.0]])
    # an infinitely far point is at distance inf: ignored by the min, counted by GD's mean
    assert igd([[inf, 0.0], [0.0, 0.0]], R) == 1.0
    assert gd([[inf, 0.0], [0.0, 0.0]], R) == inf
    assert igd([[inf, 0.0]], R) == inf
    assert igd_plus([[-inf, 0.0]], R) == 0.0  # better than everything in objective 0
    # inf - inf has no value: a clear error naming the rows, not a silent NaN
    for f in (igd, igd_plus, epsilon_additive):
        with pytest.raises(ValueError, match=r"inf - inf.*ref_front's 1 row\(s\) \[1\]|"
                                             r"ref_front's 1 row\(s\) \[1\].*inf - inf"):
            f([[inf, 0.0], [0.0, 0.0]], [[0.0, 0.0], [inf, 1.0]])
    with pytest.raises(ValueError, match=r"F's 1 row\(s\) \[0\]"):
        gd([[-inf, 0.0], [0.0, 0.0]], [[-inf, 1.0], [0.0, 0.0]])


# ---------------------------------------------------------------- spacing
def test_spacing_rejects_infinite_rows_naming_them() -> None:
    inf = np.inf
    F = np.array([[inf, 0.0], [0.0, 1.0], [1.0, -inf], [2.0, 0.0]])
    for X in (F, torch.as_tensor(F)):
        with pytest.raises(ValueError, match=r"infinite value in 2 row\(s\) \[0, 2\]"):
            spacing(X)
        with pytest.raises(ValueError, match="infinite"):
            spacing(X, nan="drop")  # nan= is about NaN rows only
    with pytest.raises(ValueError, match=r"infinite value in 1 row\(s\) \[0\]"):
        spacing([[inf, 0.0]])
    # NaN rows keep their policy: dropped, and then the remaining inf still raises
    G = np.array([[np.nan, 0.0], [inf, 1.0], [0.0, 0.0]])
    with pytest.raises(ValueError, match="NaN"):
        spacing(G)
    with pytest.raises(ValueError, match="infinite"):
        spacing(G, nan="drop")
    assert spacing(np.array([[np.nan, 0.0], [0.0, 1.0], [1.0, 0.0], [3.0, 0.0]]),
                   nan="drop") == pytest.approx(brute_spacing(np.array(
                       [[0.0, 1.0], [1.0, 0.0], [3.0, 0.0]])), rel=1e-12)


@pytest.mark.parametrize("k", [-1000, -600, 600, 1000, 1021, 1023])
def test_spacing_at_extreme_magnitudes(k: int) -> None:
    rng = np.random.default_rng(abs(k))
    F0 = rng.uniform(-1, 1, (20, 3))
    F = np.ldexp(F0, k)
    for ddof in (0, 1):
        got = spacing(F, ddof=ddof)
        assert 0.0 < got < np.inf, f"k={k}"
        assert got == pytest.approx(math.ldexp(spacing(F0, ddof=ddof), k), rel=1e-12)
        assert got == pytest.approx(brute_spacing(F, ddof), rel=1e-12), f"k={k} ddof={ddof}"


def test_spacing_exact_values_at_1e300() -> None:
    # nearest-neighbour distances 1, 1, 2 (times s): mean 4/3, S = sqrt(2/3 / 2) = 1/sqrt(3)
    for s in (1e300, 1e-300):
        F = np.array([[0.0, 0.0], [1.0, 0.0], [3.0, 0.0]]) * s
        assert spacing(F) == pytest.approx(s / math.sqrt(3), rel=1e-14), f"s={s}"


# ---------------------------------------------------------------- dominance beyond 2**53
def as_routes(F: np.ndarray) -> list[tuple[str, object]]:
    routes: list[tuple[str, object]] = [("numpy", F)]
    if F.dtype != np.uint64:
        T = torch.from_numpy(F.copy())  # torch warns on read-only arrays
        routes += [(f"torch-{m}", (T, m)) for m in ("auto", "sweep", "pairwise")
                   if m != "sweep" or F.shape[-1] <= 3]
    return routes


def mask_of(X: object, keep: bool = True) -> list[bool]:
    if isinstance(X, tuple):
        T, method = X
        return nondominated(T, keep_duplicates=keep, method=method).tolist()
    return nondominated(X, keep_duplicates=keep).tolist()


def test_int64_beyond_2_53_compares_exactly() -> None:
    cases = {
        ((BIG + 1, 0), (BIG, 1)): [True, True],
        ((BIG, 0), (BIG + 1, 0)): [True, False],
        ((BIG + 1, 0), (BIG, 0)): [False, True],
        ((BIG, 0, 5), (BIG + 1, 0, 5), (BIG + 1, -1, 5)): [True, False, True],
    }
    for rows, want in cases.items():
        F = np.array(rows, dtype=np.int64)
        for name, X in as_routes(F):
            assert mask_of(X) == want, f"{name} {rows}"
            assert mask_of(X, keep=False) == want, f"{name} {rows}"
    F = np.array([[BIG, 0], [BIG + 1, 0], [BIG + 2, 0]], dtype=np.int64)
    assert pareto_rank(F).tolist() == [0, 1, 2]
    assert pareto_rank(torch.from_numpy(F)).tolist() == [0, 1, 2]


@pytest.mark.parametrize("m", [1, 2, 3, 4])
@pytest.mark.parametrize("seed", [0, 1])
def test_large_integers_match_brute_force(m: int, seed: int) -> None:
    """Values 2**62 + small offsets (all equal in float64) and the int64 extremes."""
    rng = np.random.default_rng(seed)
    info = np.iinfo(np.int64)
    F = rng.integers(0, 4, size=(30, m)) + 2**62
    F[:3] = rng.choice([info.min, info.max, info.max - 1, info.min + 1], size=(3, m))
    F.setflags(write=False)
    rows = F.tolist()
    for keep in (True, False):
        want = brute_mask(rows, keep)
        for name, X in as_routes(F):
            assert mask_of(X, keep) == want, f"seed={seed} m={m} keep={keep} {name}"
    want_ranks = brute_ranks(rows)
    assert pareto_rank(F).tolist() == want_ranks, f"seed={seed} m={m}"
    assert pareto_rank(torch.from_numpy(F.copy())).tolist() == want_ranks
    # batched sets: each set on its own
    B = np.stack([F, F[::-1]])
    got = nondominated(B)
    got_t = nondominated(torch.from_numpy(B.copy())).numpy()
    for b in range(2):
        assert got[b].tolist() == brute_mask(B[b].tolist()), f"seed={seed} m={m} set={b}"
        assert got_t[b].tolist() == brute_mask(B[b].tolist()), f"seed={seed} m={m} set={b}"


def test_unsigned_integers_both_routes() -> None:
    top = 2**64 - 1
    rows = [[top, 0], [top - 1, 0], [0, top], [2**63, 2**63], [2**63 + 1, 2**63 - 1],
            [top, top]]
    want = brute_mask(rows)
    U = np.array(rows, dtype=np.uint64)
    assert nondominated(U).tolist() == want
    assert pareto_rank(U).tolist() == brute_ranks(rows)
    # torch has no sort or gather for uint64: the route maps it to int64 preserving order
    T = torch.from_numpy(U.view(np.int64)).view(torch.uint64)
    for method in ("auto", "pairwise"):
        assert nondominated(T, method=method).tolist() == want, method
    assert pareto_rank(T).tolist() == brute_ranks(rows)
    small = [[3, 0, 1], [2, 1, 1], [3, 1, 1], [2, 1, 1]]
    for dtype in (torch.uint8, torch.uint16, torch.uint32):
        assert nondominated(torch.tensor(small, dtype=dtype)).tolist() == brute_mask(small)


@pytest.mark.skipif(np.finfo(np.longdouble).eps >= np.finfo(np.float64).eps,
                    reason="long double is float64 on this platform")
def test_long_double_compares_exactly() -> None:
    one = np.longdouble(1)
    up = one + np.finfo(np.longdouble).eps  # rounds to 1.0 in float64
    F = np.array([[one, 0], [up, 0], [one, 1]], dtype=np.longdouble)
    assert nondominated(F).tolist() == [True, False, False]
    G = np.array([[up, 0], [one, 1], [np.nan, 0]], dtype=np.longdouble)
    assert nondominated(G, nan="drop").tolist() == [True, True, False]


def test_moocore_still_does_the_work(monkeypatch: pytest.MonkeyPatch) -> None:
    """Ordinary input reaches moocore as it is; large integers reach it as exact ranks."""
    seen: list[np.ndarray] = []
    real = moocore.is_nondominated

    def spy(p: np.ndarray, **kwargs: object) -> np.ndarray:
        seen.append(np.array(p))
        return real(p, **kwargs)

    monkeypatch.setattr(dse.pareto.moocore, "is_nondominated", spy)
    nondominated(np.array([[3, 1], [1, 3], [3, 3]], dtype=np.int64))
    assert seen[-1].tolist() == [[3.0, 1.0], [1.0, 3.0], [3.0, 3.0]]
    assert nondominated(np.array([[BIG + 1, 0], [BIG, 1]])).tolist() == [True, True]
    assert seen[-1].tolist() == [[1.0, 0.0], [0.0, 1.0]]
