"""IGD+ and additive epsilon are computed by moocore; these tests check that they agree with
the numpy formulas the project used before (kept as independent routes, with the brute force
of tests/test_numerics_extreme.py) on many random sets, at extreme magnitudes and with
infinite values, and record why IGD and normalisation stay the project's own."""

from __future__ import annotations

import math

import moocore
import numpy as np
import pytest
import torch
from test_numerics_extreme import brute_igd
from test_numerics_extreme import plain_igd as numpy_igd

from dse.indicators import epsilon_additive, igd, igd_plus, normalise

REL = 1e-12


def readonly(a: np.ndarray) -> np.ndarray:
    a = np.array(a, dtype=float)
    a.setflags(write=False)
    return a


def numpy_epsilon(F: np.ndarray, R: np.ndarray) -> float:
    """``max_z min_a max_k (a_k - z_k)`` in numpy (the project's route before moocore)."""
    with np.errstate(over="ignore"):
        return float((F[None, :, :] - R[:, None, :]).max(axis=-1).min(axis=1).max())


def random_pair(rng: np.random.Generator) -> tuple[np.ndarray, np.ndarray]:
    """A random approximation set and reference front of 1 to 60 rows and 2 to 5 objectives,
    often with ties (values on a coarse grid), duplicate rows and shared rows."""
    m = int(rng.integers(2, 6))
    F = rng.random((int(rng.integers(1, 61)), m))
    R = rng.random((int(rng.integers(1, 61)), m))
    if rng.random() < 0.4:  # ties in every objective
        F, R = np.round(F * 4) / 4, np.round(R * 4) / 4
    if rng.random() < 0.4 and len(F) > 1:  # duplicates, and points on the reference front
        F[-1] = F[0]
        F[: min(len(F), len(R)) // 2] = R[: min(len(F), len(R)) // 2]
    if rng.random() < 0.3:  # a shifted or mirrored front, away from [0, 1]
        shift = rng.uniform(-100.0, 100.0)
        F, R = F + shift, R + shift
    return F, R


def close(a: float, b: float) -> bool:
    return a == b or abs(a - b) <= REL * max(abs(a), abs(b))


@pytest.mark.parametrize("seed", range(20))
def test_moocore_agrees_with_the_project_formulas_on_random_sets(seed: int) -> None:
    rng = np.random.default_rng(seed)
    for case in range(25):
        F, R = random_pair(rng)
        msg = f"seed={seed} case={case} shapes={F.shape} {R.shape}"
        assert close(igd_plus(readonly(F), readonly(R)), numpy_igd(F, R, plus=True)), msg
        assert epsilon_additive(readonly(F), readonly(R)) == numpy_epsilon(F, R), msg
        # IGD stays the project's own (see its docstring), though moocore agrees here too
        assert close(igd(F, R), float(moocore.igd(F, R))), msg


@pytest.mark.parametrize("seed", range(3))
def test_one_objective_agrees(seed: int) -> None:
    """moocore has a separate numpy route for one objective."""
    rng = np.random.default_rng(100 + seed)
    F, R = rng.random((30, 1)), rng.random((45, 1))
    assert close(igd_plus(F, R), numpy_igd(F, R, plus=True)), f"seed={100 + seed}"
    assert epsilon_additive(F, R) == numpy_epsilon(F, R), f"seed={100 + seed}"


def test_igd_keeps_its_digits_far_from_the_origin() -> None:
    """The reason IGD is not moocore's: with one objective moocore expands the square, which
    cancels for points far from the origin; the project's IGD and IGD+ keep full accuracy."""
    rng = np.random.default_rng(7)
    for m in (1, 2, 3):
        F, R = rng.random((20, m)) + 1e8, rng.random((25, m)) + 1e8
        for f, plus in ((igd, False), (igd_plus, True)):
            assert f(F, R) == pytest.approx(brute_igd(F, R, plus), rel=REL), f"m={m} {f}"


@pytest.mark.parametrize("k", [-1074, -1060, -1000, -700, 600, 1000, 1021, 1023])
@pytest.mark.parametrize("m", [1, 2, 4])
def test_igd_plus_at_extreme_magnitudes(k: int, m: int) -> None:
    """moocore's squares would overflow above about 1e154 and lose digits below 1e-154: the
    inputs are scaled by a power of two first, so IGD+ is accurate at any magnitude."""
    rng = np.random.default_rng(abs(k) + m)
    F0, R0 = rng.uniform(-1, 1, (12, m)), rng.uniform(-1, 1, (15, m))
    F, R = np.ldexp(F0, k), np.ldexp(R0, k)
    msg = f"seed={abs(k) + m} k={k} m={m}"
    assert igd_plus(F, R) == pytest.approx(brute_igd(F, R, plus=True), rel=REL), msg
    if k >= -1000:  # exact scaling (no subnormal inputs)
        assert igd_plus(F, R) == pytest.approx(math.ldexp(igd_plus(F0, R0), k), rel=REL), msg
        if k < 1023:  # at 1023 a difference can exceed the float64 range
            assert epsilon_additive(F, R) == math.ldexp(epsilon_additive(F0, R0), k), msg


def test_exact_values_near_the_float64_limits() -> None:
    z = [[0.0, 0.0]]
    for v in (1e300, 1e-300, 5e-324, 1.7e308):
        assert igd_plus([[v, 0.0]], z) == v and epsilon_additive([[v, 0.0]], z) == v
    assert igd_plus([[3e300, 4e300]], z) == pytest.approx(5e300, rel=1e-15)
    assert igd_plus([[3e-300, 4e-300]], z) == pytest.approx(5e-300, rel=1e-15)
    # a true value beyond the float64 range is inf, without a warning
    with np.errstate(all="raise"):
        assert igd_plus([[1.5e308, 1.5e308]], [[-1.5e308, -1.5e308]]) == np.inf
        assert epsilon_additive([[1.5e308, 0.0]], [[-1.5e308, 0.0]]) == np.inf
        assert epsilon_additive([[1.5e308]], [[-1.5e308]]) == np.inf


def test_mixed_magnitudes_take_the_careful_route() -> None:
    """Magnitudes spanning more than any one scaling fits (1e-200 next to 1e300): the
    careful route, still exact to rounding."""
    rng = np.random.default_rng(8)
    for m in (1, 3):
        F = np.vstack([rng.random((10, m)) * 1e-200, np.full((1, m), 1e300)])
        R = rng.random((12, m)) * 1e-200
        assert igd_plus(F, R) == pytest.approx(brute_igd(F, R, plus=True), rel=REL), f"m={m}"
        assert epsilon_additive(F, R) == numpy_epsilon(F, R), f"m={m}"


@pytest.mark.parametrize("seed", range(5))
def test_infinite_values_agree_and_inf_minus_inf_is_named(seed: int) -> None:
    rng = np.random.default_rng(200 + seed)
    checked = 0
    for _ in range(200):
        m = int(rng.integers(1, 5))
        F, R = rng.random((int(rng.integers(1, 8)), m)), rng.random((int(rng.integers(1, 8)), m))
        for X in (F, R):
            mask = rng.random(X.shape) < 0.2
            X[mask] = rng.choice([np.inf, -np.inf], size=int(mask.sum()))
        with np.errstate(invalid="ignore"):
            diff = F[None, :, :] - R[:, None, :]
        undefined = np.isnan(diff).any(axis=(1, 2))  # rows of R that meet inf - inf
        for f in (igd_plus, epsilon_additive):
            if undefined.any():
                rows = np.flatnonzero(undefined).tolist()
                with pytest.raises(ValueError, match=rf"inf - inf.*{rows}|{rows}.*inf - inf"):
                    f(F, R)
            else:
                want = numpy_igd(F, R, plus=True) if f is igd_plus else numpy_epsilon(F, R)
                assert close(f(F, R), want), f"seed={200 + seed} {f.__name__} {F} {R}"
                checked += 1
    assert checked > 100


def test_inputs_kept_and_torch_gives_the_same_values() -> None:
    rng = np.random.default_rng(9)
    F, R = readonly(rng.random((40, 3)) * 1e200), readonly(rng.random((50, 3)) * 1e200)
    before = F.copy(), R.copy()
    for f in (igd_plus, epsilon_additive):
        assert f(torch.tensor(F), torch.tensor(R)) == f(F, R)
        assert f(np.asfortranarray(F), R[::-1][::-1]) == f(F, R)
    assert np.array_equal(F, before[0]) and np.array_equal(R, before[1])


def test_normalise_agrees_with_moocore_normalise() -> None:
    """Bit for bit where moocore's normalise applies (2-D numpy, two or more objectives,
    degenerate ranges only shifted): kept as the project's own for the other inputs it takes
    (a single point, one objective, batches, torch), see its docstring."""
    rng = np.random.default_rng(10)
    for case in range(200):
        m = int(rng.integers(2, 6))
        X = rng.standard_normal((int(rng.integers(1, 50)), m)) * 10 ** rng.uniform(-5, 5)
        lo, hi = X.min(axis=0) - rng.random(m), X.max(axis=0) + rng.random(m)
        if case % 4 == 0:
            hi[0] = lo[0]  # a degenerate range
        ours = normalise(X, lo, hi)
        assert np.array_equal(ours, moocore.normalise(X, lower=lo, upper=hi)), f"case={case}"
