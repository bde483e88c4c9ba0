"""Checks of code that now lives in one place: Das-Dennis directions from pymoo (same vectors,
same order as before), the co-design reference front on the model's floorplan and dse's
non-dominated filter, the shared two-objective MW pattern, and dse's re-exported names."""

from __future__ import annotations

import itertools
import math

import numpy as np
import pytest
import torch
from pymoo.util.ref_dirs import get_reference_directions

import dse
import dse.problem
import problems.codesign.reference as reference
import problems.dtlz
from dse import get_problem
from dse.solvers import das_dennis, preference_vectors
from dse.solvers._preferences import das_dennis_partitions
from problems.codesign import CodesignProblem
from problems.codesign.model import floorplan


# ---------------------------------------------------------------- Das-Dennis directions
def lattice_by_brute_force(p: int, m: int) -> np.ndarray:
    """Every ``w`` in ``{0, 1/p, ..., 1}^m`` summing to 1, in descending lexicographic order
    (the order das_dennis always had: ``(1, 0, ..., 0)`` first)."""
    rows = [c for c in itertools.product(range(p, -1, -1), repeat=m) if sum(c) == p]
    return np.array(rows, dtype=float).reshape(-1, m) / p


@pytest.mark.parametrize("m", [1, 2, 3, 4, 5])
def test_das_dennis_is_pymoo_lattice_in_the_old_order(m: int) -> None:
    for p in (1, 2, 3, 4, 7, 12):
        W = das_dennis(p, m)
        assert W.shape == (math.comb(p + m - 1, m - 1), m), f"p={p} m={m}"
        # same bits and same order as the enumeration by definition
        assert np.array_equal(W, lattice_by_brute_force(p, m)), f"p={p} m={m}"
        # the same set as pymoo's, whose order is the reverse
        pymoo_W = get_reference_directions("das-dennis", m, n_partitions=p)
        assert np.array_equal(W, pymoo_W[::-1]), f"p={p} m={m}"
        assert W.flags.c_contiguous and torch.as_tensor(W).shape == W.shape


def test_problem_fronts_use_the_same_lattice() -> None:
    assert problems.dtlz.das_dennis is das_dennis
    for n, m in ((100, 2), (136, 3), (135, 3), (200, 5), (1, 3)):
        assert np.array_equal(problems.dtlz.simplex_points(n, m),
                              preference_vectors("das_dennis", n, m)), f"n={n} m={m}"


def test_das_dennis_partitions_largest_lattice_not_above_n() -> None:
    for m in range(2, 7):
        for n in range(1, 400):
            p = das_dennis_partitions(n, m)
            below = math.comb(p + m - 1, m - 1) <= n or p == 1
            assert below and math.comb(p + m, m - 1) > n, f"n={n} m={m} p={p}"
    assert das_dennis_partitions(10, 1) == 1  # one objective: one partition (no endless loop)


# ---------------------------------------------------------------- co-design reference front
SMALL_LAYERS = [
    {"name": "a", "M": 96, "K": 40, "N": 24, "count": 2},
    {"name": "b", "M": 16, "K": 300, "N": 70, "count": 1},
]


def nondominated_2d_by_sweep(F: np.ndarray) -> np.ndarray:
    """Indices of the non-dominated rows of ``F`` (first of each duplicate), sorted by
    ``f1``: a sort and a running minimum of ``f2``, independent of dse.pareto."""
    order = np.lexsort((np.arange(len(F)), F[:, 1], F[:, 0]))
    f2 = F[order, 1]
    best_before = np.minimum.accumulate(np.concatenate(([np.inf], f2[:-1])))
    return order[f2 < best_before]


def test_reference_front_selection_matches_an_independent_sweep(tmp_path) -> None:
    prob = CodesignProblem(SMALL_LAYERS, aspect_grid=21, cache_dir=tmp_path)
    F, X = reference.build_reference(prob.layers, 21)
    axes = reference._hardware_axes()
    aspects = np.linspace(-2.0, 2.0, 21)
    lin = np.meshgrid(*[2.0**a for a in axes], aspects, indexing="ij", sparse=True)
    with torch.no_grad():
        plan = floorplan(*(torch.from_numpy(a) for a in lin))
    total = reference.min_total_cycles(prob.layers)
    latency = plan["clock_ns"].numpy() * total[..., None] * 1e-6
    F_all = np.stack([plan["area"].numpy().ravel(), latency.ravel()], axis=1)
    keep = nondominated_2d_by_sweep(F_all)
    np.testing.assert_array_equal(F, F_all[keep])
    # the designs are those grid points: their hardware columns give back the same indices
    hw = np.unravel_index(keep, (*total.shape, 21))
    for j, (axis, idx) in enumerate(zip(axes, hw[:5], strict=True)):
        np.testing.assert_array_equal(X[:, j], axis[idx])
    np.testing.assert_array_equal(X[:, 5], aspects[hw[5]])
    # and the exact model puts the front designs at the same area, bit for bit
    np.testing.assert_array_equal(prob.evaluate(X)[:, 0], F[:, 0])


# ---------------------------------------------------------------- the MW pattern
MW2_NAMES = ["mw1", "mw2", "mw3", "mw5", "mw6", "mw7", "mw9", "mw10", "mw11", "mw12", "mw13"]


@pytest.mark.parametrize("name", MW2_NAMES)
def test_two_objective_mw_constraints_match_their_declared_count(name: str) -> None:
    p = get_problem(name)
    X = np.random.default_rng(3).uniform(p.xl, p.xu, (50, p.n_var))
    F, G = p.evaluate(X, constraints=True)
    assert F.shape == (50, 2) and G.shape == (50, p.n_constr), name
    x = torch.tensor(X, requires_grad=True)
    Ft, Gt = p.evaluate(x, constraints=True)
    (Ft.sum() + Gt.sum()).backward()
    assert torch.isfinite(x.grad).all(), name


@pytest.mark.parametrize("name", ["mw1", "mw2", "mw3", "mw5", "mw6", "mw7", "mw11"])
def test_mw_family_attributes_give_the_documented_fronts(name: str) -> None:
    """On ``g = 1`` the linear family lies on ``f2 = 1 - slope f1`` and the circle family on
    ``f1^2 + f2^2 = radius2``."""
    p = get_problem(name)
    x1 = torch.linspace(0.0, float(p.xu[0]), 101, dtype=torch.float64)[:, None]
    F = p._shape(x1, torch.ones(101, dtype=torch.float64)).numpy()
    if hasattr(p, "slope"):
        np.testing.assert_allclose(F[:, 1], 1.0 - p.slope * F[:, 0], rtol=0, atol=1e-15)
    else:
        inside = F[:, 0] ** 2 <= p.radius2
        np.testing.assert_allclose((F**2).sum(axis=1)[inside], p.radius2, rtol=1e-14)


# ---------------------------------------------------------------- re-exports
def test_dse_reexports_every_public_problem_name() -> None:
    assert set(dse.problem.__all__) <= set(dse.__all__)
    assert len(dse.__all__) == len(set(dse.__all__))
    for name in dse.__all__:
        assert getattr(dse, name) is not None, name
    assert dse.get_problem is dse.problem.get_problem
