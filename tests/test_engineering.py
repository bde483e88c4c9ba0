"""The engineering family (``problems.engineering``) against independent routes.

* Objectives and constraints equal pymoo's on random designs and at the bounds, through the
  numpy (float64) and the torch route, with pymoo's constraint scaling converted; every
  constraint's sign (the feasible set) equals pymoo's, and named constraints react to the
  design faults they describe.
* Discrete variants: tables and bounds as documented, values equal to the continuous
  problem's wherever both are defined, relaxed designs snap to the nearest table entry (or
  integer), and the relaxation interpolates the table.
* Gradients (autograd, of the exact problem and of the relaxation) are finite at random
  interior points and at every bound where the formula is defined, and equal finite
  differences inside.
* Computed fronts equal pymoo's closed-form fronts (where pymoo has one offline) and their
  designs re-evaluate exactly; stored fronts are small, non-dominated, re-evaluate exactly
  and feasibly, were written by ``bench/build_engineering_fronts.py`` (their ``meta``), and
  a short NSGA-II run does not beat them.
"""

from __future__ import annotations

import math
import warnings
from functools import cache

import numpy as np
import pytest
import torch
from pymoo.problems import get_problem as pymoo_problem

import dse
from dse.indicators import hypervolume
from dse.pareto import nondominated
from dse.solvers import solve
from problems.engineering.fronts import (
    FRONT_DIR,
    MAX_FRONT_POINTS,
    front_path,
    load_front,
    thin_front,
)
from problems.engineering.structural import (
    CAR_MATERIALS,
    PLATE_SIZES,
    R10_AREAS,
    CarSideImpact,
)

MW = [f"mw{i}" for i in range(1, 15)]
CONTINUOUS = ["bnh", "srn", "osy", "tnk", "truss2d", "welded_beam", "car_side_impact", *MW]

#: Our name -> (pymoo's name, factor from pymoo's G to ours, per constraint).
PYMOO = {
    "bnh": ("bnh", 1.0),
    "srn": ("srn", np.array([1.0 / 225.0, 1.0])),
    "osy": ("osy", 1.0),
    "tnk": ("tnk", 1.0),
    "truss2d": ("truss2d", 1e-5),
    "welded_beam": ("welded_beam", 1.0),
    "car_side_impact": ("carside", 1.0),
    **{n: (n, 1.0) for n in MW},
}

#: Mixed variants: (name, parameters).
VARIANTS = [
    ("srn", {"integer": True}),
    ("truss2d", {"discrete": True}),
    ("welded_beam", {"discrete": True}),
    ("car_side_impact", {"discrete": True}),
]
ALL = [(n, {}) for n in CONTINUOUS] + VARIANTS
STORED = ["welded_beam", "welded_beam-discrete", "car_side_impact", "car_side_impact-discrete"]


def _id(case: tuple[str, dict]) -> str:
    name, params = case
    return name + "".join(f"-{k}" for k in params)


@cache
def _problem(name: str, discrete: bool = False, integer: bool = False) -> dse.Problem:
    params = {"discrete": True} if discrete else {"integer": True} if integer else {}
    return dse.get_problem(name, **params)


def _get(case: tuple[str, dict]) -> dse.Problem:
    name, params = case
    return _problem(name, **params)


def beaten(A: np.ndarray, B: np.ndarray, tol: np.ndarray | float) -> np.ndarray:
    """Rows of ``A`` strictly better than some row of ``B`` by more than ``tol`` everywhere."""
    return (A[:, None, :] < B[None, :, :] - tol).all(axis=-1).any(axis=1)


def _span(F: np.ndarray) -> np.ndarray:
    return np.maximum(F.max(axis=0) - F.min(axis=0), 1e-12)


# --------------------------------------------------------------------------- values vs pymoo


@pytest.mark.parametrize("name", CONTINUOUS)
def test_values_equal_pymoo(name: str) -> None:
    ours = _problem(name)
    theirs_name, g_factor = PYMOO[name]
    theirs = pymoo_problem(theirs_name)
    assert (ours.n_var, ours.n_obj, ours.n_constr) == (theirs.n_var, theirs.n_obj,
                                                         theirs.n_ieq_constr)
    np.testing.assert_array_equal(ours.xl, theirs.xl)
    np.testing.assert_allclose(ours.xu, theirs.xu, rtol=1e-15)
    rng = np.random.default_rng(0)
    X = np.vstack([rng.uniform(ours.xl, ours.xu, size=(64, ours.n_var)), ours.xl, ours.xu])
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # pymoo divides by zero at some bounds
        F_ref, G_ref = theirs.evaluate(X, return_values_of=["F", "G"])
        F, G = ours.evaluate(X, constraints=True)
    G_ref = G_ref.reshape(len(X), -1) * g_factor
    # pymoo gives inf at the truss's zero areas (so do we) and NaN at MW11's upper bound,
    # where 2 - (f1/g)^2 rounds below 0 under a square root (we clamp it to 0).
    ok = np.isfinite(F_ref).all(axis=1) & np.isfinite(G_ref).all(axis=1)
    assert ok.sum() >= 64
    assert np.isfinite(F[ok]).all()
    scale = np.abs(F_ref[ok]).max(axis=0) + 1.0
    np.testing.assert_allclose(F[ok], F_ref[ok], rtol=1e-12, atol=1e-13 * scale.max())
    np.testing.assert_allclose(G[ok], G_ref[ok], rtol=1e-12, atol=1e-12)
    # The torch route (float64, two leading dimensions) gives the same numbers.
    Xt = torch.tensor(X[ok][:64]).reshape(4, 16, -1)
    Ft, Gt = ours.evaluate(Xt, constraints=True)
    assert Ft.shape == (4, 16, ours.n_obj) and Gt.shape == (4, 16, ours.n_constr)
    np.testing.assert_allclose(Ft.reshape(64, -1).numpy(), F_ref[ok][:64], rtol=1e-12,
                               atol=1e-13 * scale.max())
    np.testing.assert_allclose(Gt.reshape(64, -1).numpy(), G_ref[ok][:64], rtol=1e-12,
                               atol=1e-12)


def test_mw11_upper_bound_finite_where_pymoo_gives_nan() -> None:
    x = _problem("mw11").xu[None, :]
    F, G = _problem("mw11").evaluate(x, constraints=True)
    assert np.isfinite(F).all() and np.isfinite(G).all()
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        assert np.isnan(pymoo_problem("mw11").evaluate(x, return_values_of=["F"])).any()


@pytest.mark.parametrize(("name", "n_obj"), [("mw4", 2), ("mw4", 4), ("mw8", 4), ("mw14", 2)])
def test_mw_many_objectives_equal_pymoo(name: str, n_obj: int) -> None:
    ours = dse.get_problem(name, n_obj=n_obj)
    theirs = pymoo_problem(name, n_obj=n_obj)
    assert ours.n_var == theirs.n_var == n_obj + 12
    X = ours.sample(40, seed=1)
    F_ref, G_ref = theirs.evaluate(X, return_values_of=["F", "G"])
    F, G = ours.evaluate(X, constraints=True)
    np.testing.assert_allclose(F, F_ref, rtol=1e-12, atol=1e-13)
    np.testing.assert_allclose(G, G_ref.reshape(40, -1), rtol=1e-12, atol=1e-12)


@pytest.mark.parametrize(
    ("name", "params", "match"),
    [
        ("mw1", {"n_var": 2}, "n_var must be an integer >= n_obj \\+ 1 = 3"),
        ("mw4", {"n_obj": 1}, "n_obj must be an integer >= 2"),
        ("mw8", {"n_obj": 3, "n_var": 3}, "n_var must be an integer >= n_obj \\+ 1 = 4"),
        ("mw1", {"n_obj": 3}, "unknown parameter"),
        ("truss2d", {"n_var": 3}, "unknown parameter"),
    ],
)
def test_bad_parameters(name: str, params: dict, match: str) -> None:
    with pytest.raises(ValueError, match=match):
        dse.get_problem(name, **params)


# --------------------------------------------------------------------------- discrete variants


def test_tables_and_bounds() -> None:
    wb, wb_c = _problem("welded_beam", discrete=True), _problem("welded_beam")
    assert [type(v).__name__ for v in wb.variables] == ["Table", "Real", "Real", "Table"]
    assert len(PLATE_SIZES) == 79
    np.testing.assert_allclose(np.array(PLATE_SIZES) / 0.0625, np.arange(2, 81), atol=0)
    assert (PLATE_SIZES[0], PLATE_SIZES[-1]) == (0.125, 5.0)
    np.testing.assert_array_equal(wb.xl, wb_c.xl)  # the tables span the original bounds
    np.testing.assert_array_equal(wb.xu, wb_c.xu)

    tr, tr_c = _problem("truss2d", discrete=True), _problem("truss2d")
    assert [type(v).__name__ for v in tr.variables] == ["Table", "Table", "Real"]
    areas = np.array(R10_AREAS)
    assert len(areas) == 21 and areas[0] == 1e-4 and areas[-1] == 1e-2
    assert (areas > tr_c.xl[0]).all() and (areas <= tr_c.xu[0]).all()
    ratios = areas[1:] / areas[:-1]
    assert ratios.min() >= 1.25 - 1e-12 and ratios.max() <= 1.28 + 1e-12  # about 10^(1/10)
    # The smallest size is below what any feasible design needs (stress <= 1e5 kPa).
    assert areas[0] < 20.0 * math.sqrt(16 + 9) / (3 * 1e5)

    car = _problem("car_side_impact", discrete=True)
    assert car.n_var == 9 and car.variable_names[-2:] == ("x8", "x9")
    assert car.variables[7].values == car.variables[8].values == CAR_MATERIALS == (0.192, 0.345)
    np.testing.assert_array_equal(car.xl[:7], _problem("car_side_impact").xl)

    srn = _problem("srn", integer=True)
    assert type(srn.variables[0]).__name__ == "Integer"
    assert (srn.variables[0].lower, srn.variables[0].upper) == (-20, 20)

    # Sampled designs take table values and integers; decode maps index space back.
    for p in (wb, tr, car, srn):
        x = p.sample(50, seed=3)
        p.evaluate(x)  # validation: every table value exact, integers integral
        np.testing.assert_array_equal(p.decode(p.encode(x)), x)


@pytest.mark.parametrize("case", VARIANTS, ids=_id)
def test_variant_equals_continuous_where_both_defined(case: tuple[str, dict]) -> None:
    variant = _get(case)
    cont = _problem(case[0])
    x = variant.sample(64, seed=4)
    if case[0] == "car_side_impact":
        x[:, 7:] = CarSideImpact.NOMINAL  # pymoo's seven-variable problem is this material pair
        F, G = variant.evaluate(x, constraints=True)
        Fc, Gc = cont.evaluate(x[:, :7], constraints=True)
    else:
        F, G = variant.evaluate(x, constraints=True)
        Fc, Gc = cont.evaluate(x, constraints=True)
    np.testing.assert_allclose(F, Fc, rtol=1e-14, atol=1e-14)
    np.testing.assert_allclose(G, Gc, rtol=1e-14, atol=1e-14)


def test_car_materials_enter_the_constraints() -> None:
    car = _problem("car_side_impact", discrete=True)
    x = car.sample(8, seed=5)
    x[:, 7:] = (0.345, 0.192)
    F0, G0 = car.evaluate(x, constraints=True)
    for col, value in ((7, 0.192), (8, 0.345)):
        y = x.copy()
        y[:, col] = value
        F1, G1 = car.evaluate(y, constraints=True)
        np.testing.assert_array_equal(F1[:, :2], F0[:, :2])  # weight, pubic force: no material
        assert (np.abs(G1 - G0).max(axis=0) > 0).sum() >= 4


def _mw_designs_near_g_one(problem: dse.Problem, n: int, seed: int) -> np.ndarray:
    """Random positions, distance variables near where the paper's ``g`` is 1 (its least).

    The distance variables are moved off that optimum by Gaussian noise of a random scale
    in [0, 0.1] per row, so ``g`` spans 1 to about 10: fronts that lie at ``g > 1`` (MW9,
    MW12) get feasible designs too.
    """
    rng = np.random.default_rng(seed)
    X = problem.sample(n, seed=rng)
    m, d = problem.n_obj, problem.n_var
    i = np.arange(m - 1, d)
    if problem.distance == "g1":  # x_i^(n-M) = 1/2 + i/(2n)
        X[:, m - 1:] = (0.5 + i / (2 * d)) ** (1.0 / (d - m))
    elif problem.distance == "g2":  # x_i = i/n
        X[:, m - 1:] = i / d
    else:  # g3: x_i = 1 - (x_{i-1} - 1/2)^2, a chain
        for j in i:
            X[:, j] = 1.0 - (X[:, j - 1] - 0.5) ** 2
    noise = rng.uniform(0.0, 0.1, size=(n, 1)) * rng.standard_normal((n, d - m + 1))
    X[:, m - 1:] += noise
    return np.clip(X, problem.xl, problem.xu)


@pytest.mark.parametrize("name", CONTINUOUS)
def test_feasible_sets_equal_pymoo(name: str) -> None:
    """Each constraint's sign (not only its value) agrees with pymoo's, row by row."""
    ours = _problem(name)
    theirs = pymoo_problem(PYMOO[name][0])
    X = ours.sample(1000, seed=12)
    if name in MW:  # random MW designs are all infeasible: add some near the distance optimum
        X = np.vstack([X, _mw_designs_near_g_one(ours, 1000, seed=12)])
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        G_ref = theirs.evaluate(X, return_values_of=["G"]).reshape(len(X), -1)
    G = ours.evaluate(X, constraints=True)[1]
    ok = np.isfinite(G_ref).all(axis=1)
    G, G_ref = G[ok], G_ref[ok]
    clear = np.abs(G_ref) * np.broadcast_to(PYMOO[name][1], G_ref.shape[1:]) > 1e-9
    np.testing.assert_array_equal((G <= 0)[clear], (G_ref <= 0)[clear])
    # Not vacuous: both signs occur, and every constraint is met somewhere.
    assert (G[clear] > 0).any() and (G[clear] <= 0).any()
    assert (G <= 0).any(axis=0).all()


def test_named_constraints_react_to_their_cause() -> None:
    """Designs that break one rule by construction violate that named constraint only."""
    wb = _problem("welded_beam")
    good = np.array([0.5, 3.0, 9.0, 0.6])  # a sound beam: every G < 0
    G = wb.evaluate(good, constraints=True)[1]
    assert (G < 0).all()
    h_over_b = good.copy()
    h_over_b[0] = 0.7  # weld thicker than the bar
    G2 = wb.evaluate(h_over_b, constraints=True)[1]
    assert G2[wb.constraint_names.index("h_le_b")] > 0
    thin = good.copy()
    thin[3] = 0.2  # thin bar: buckles and bends
    G3 = wb.evaluate(thin, constraints=True)[1]
    assert G3[wb.constraint_names.index("buckling")] > 0 and G3[1] > 0
    tr = _problem("truss2d")
    G = tr.evaluate(np.array([[1e-4, 1e-4, 2.0], [5e-3, 5e-3, 2.0]]), constraints=True)[1]
    assert G[0, 0] > 0 > G[1, 0]  # thin bars overstressed, thick ones not
    bnh = _problem("bnh")
    G = bnh.evaluate(np.array([[0.0, 0.0], [5.0, 3.0]]), constraints=True)[1]
    assert (G[0] <= 0).all() and (G[1] <= 0).all()  # both front ends feasible
    srn = _problem("srn")
    G = srn.evaluate(np.array([[-2.5, 10.0], [10.0, 0.0], [-14.0, 10.0]]), constraints=True)[1]
    assert (G[0] < 0).all() and G[1, 1] > 0 and G[2, 0] > 0


@pytest.mark.parametrize("case", VARIANTS, ids=_id)
def test_relaxed_tables_snap_to_nearest_entry(case: tuple[str, dict]) -> None:
    """``decode`` takes the nearest table value (or integer); at whole indices the
    relaxation equals the exact problem, in between it interpolates the table."""
    problem = _get(case)
    lo, hi = problem.relaxed_bounds()
    discrete = ~problem.kind_mask(dse.Real)
    rng = np.random.default_rng(13)
    z = rng.uniform(lo, hi, size=(200, problem.n_relaxed))
    x = problem.decode(z)
    problem.evaluate(x)  # exact designs: tables and integers validated
    for j in np.flatnonzero(discrete):
        v = problem.variables[j]
        values = np.asarray(getattr(v, "values", np.arange(v.lower, v.upper + 1)), float)
        index = z[:, j] if hasattr(v, "values") else z[:, j] - v.lower
        np.testing.assert_array_equal(x[:, j], values[np.round(index).astype(int)])
    np.testing.assert_array_equal(x[:, ~discrete], z[:, ~discrete])
    # Whole indices: the relaxation is the exact problem at the decoded design.
    zi = z.copy()
    zi[:, discrete] = np.round(zi[:, discrete])
    F_relaxed, G_relaxed = problem.evaluate_relaxed(torch.tensor(zi), constraints=True)
    F, G = problem.evaluate(problem.decode(zi), constraints=True)
    np.testing.assert_allclose(F_relaxed.numpy(), F, rtol=1e-13)
    np.testing.assert_allclose(G_relaxed.numpy(), G, rtol=1e-13, atol=1e-13)
    # Halfway between two table entries the relaxation is the continuous problem at their
    # mean (where a continuous problem takes that design: the truss and the welded beam).
    if case[0] in ("truss2d", "welded_beam"):
        zh = zi[:16].copy()
        mid = zi[:16].copy()
        for j in np.flatnonzero(discrete):
            values = np.asarray(problem.variables[j].values)
            k = np.arange(16) % (len(values) - 1)
            zh[:, j] = k + 0.5
            mid[:, j] = 0.5 * (values[k] + values[k + 1])
        F_half, G_half = problem.evaluate_relaxed(torch.tensor(zh), constraints=True)
        F_mid, G_mid = _problem(case[0]).evaluate(mid, constraints=True)
        np.testing.assert_allclose(F_half.numpy(), F_mid, rtol=1e-12)
        np.testing.assert_allclose(G_half.numpy(), G_mid, rtol=1e-12, atol=1e-12)


# --------------------------------------------------------------------------- gradients


def _finite_grads(problem: dse.Problem, x: torch.Tensor, relaxed: bool = False) -> None:
    x = x.clone().requires_grad_(True)
    F, G = (problem.evaluate_relaxed(x, constraints=True) if relaxed
            else problem.evaluate(x, constraints=True))
    assert torch.isfinite(F).all() and torch.isfinite(G).all()
    for out, what in ((F, "objective"), (G, "constraint")):
        for i in range(out.shape[-1]):
            (g,) = torch.autograd.grad(out[:, i].sum(), x, retain_graph=True, allow_unused=True)
            assert g is None or torch.isfinite(g).all(), f"{problem.name}: {what} {i}: {g}"


@pytest.mark.parametrize("dtype", [torch.float64, torch.float32])
@pytest.mark.parametrize("case", ALL, ids=_id)
def test_gradients_finite_inside(case: tuple[str, dict], dtype: torch.dtype) -> None:
    problem = _get(case)
    lo, hi = problem.relaxed_bounds()
    rng = np.random.default_rng(6)
    z = torch.tensor(rng.uniform(lo + 0.05 * (hi - lo), hi - 0.05 * (hi - lo),
                                 size=(8, problem.n_relaxed)), dtype=dtype)
    _finite_grads(problem, z, relaxed=True)


@pytest.mark.parametrize("name", CONTINUOUS)
def test_gradients_finite_at_bounds(name: str) -> None:
    """Every corner of the box and every face centre (one variable at a bound)."""
    problem = _problem(name)
    lo, hi = problem.xl, problem.xu
    mid = 0.5 * (lo + hi)
    rows = [lo, hi]
    for j in range(problem.n_var):
        for bound in (lo, hi):
            r = mid.copy()
            r[j] = bound[j]
            rows.append(r)
    X = np.array(rows)
    if name == "truss2d":  # zero cross-section: infinite stress, no gradient to ask for
        X = X[(X[:, :2] > 0).all(axis=1)]
    _finite_grads(problem, torch.tensor(X))


@pytest.mark.parametrize("name", ["bnh", "srn", "osy", "tnk", "truss2d", "welded_beam",
                                  "car_side_impact", "mw1", "mw5", "mw8", "mw9", "mw12",
                                  "mw14"])
def test_gradients_equal_finite_differences(name: str) -> None:
    problem = _problem(name)
    rng = np.random.default_rng(7)
    lo, hi = problem.xl, problem.xu
    x = torch.tensor(rng.uniform(lo + 0.2 * (hi - lo), hi - 0.2 * (hi - lo),
                                 size=(2, problem.n_var)), requires_grad=True)

    def fg(x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        return problem.evaluate(x, constraints=True)

    # Relative steps: the truss's areas are 1e-3 and its stresses 1e4.
    assert torch.autograd.gradcheck(fg, (x,), eps=1e-7 * float(np.abs(hi).max()),
                                    atol=1e-5, rtol=1e-4)


# --------------------------------------------------------------------------- fronts


def test_thin_front_keeps_extremes_and_spreads_evenly() -> None:
    t = np.linspace(0.0, 1.0, 10001)
    F = np.column_stack([t, 1.0 - np.sqrt(t)])
    for n, spread in ((9, 1.1), (11, 2.1)):  # 2^k + 1 points: even; otherwise within 2x
        idx = thin_front(F, n)
        assert len(idx) == n and idx[0] == 0 and idx[-1] == 10000
        gaps = np.linalg.norm(np.diff(F[idx], axis=0), axis=1)
        assert gaps.max() < spread * gaps.min()
    np.testing.assert_array_equal(thin_front(F, 20000), np.arange(10001))
    F3 = np.random.default_rng(8).random((500, 3))
    idx3 = thin_front(F3, 2)  # fewer than the extremes: the extremes
    np.testing.assert_array_equal(F3[idx3].min(axis=0), F3.min(axis=0))
    np.testing.assert_array_equal(F3[idx3].max(axis=0), F3.max(axis=0))


@pytest.mark.parametrize("case", ALL, ids=_id)
def test_front_sizes_and_extremes(case: tuple[str, dict]) -> None:
    problem = _get(case)
    full = problem.pareto_front()
    assert 2 <= len(full) <= MAX_FRONT_POINTS and full.shape[1] == problem.n_obj
    small = problem.pareto_front(40)
    assert len(small) <= 40 + 2 * problem.n_obj
    np.testing.assert_array_equal(small.min(axis=0), problem.ideal)
    np.testing.assert_array_equal(small.max(axis=0), problem.nadir)
    assert not nondominated(full, keep_duplicates=False).sum() < len(full)
    with pytest.raises(ValueError, match="n must be an integer >= 2"):
        problem.pareto_front(1)


@pytest.mark.parametrize("case", [c for c in ALL if c[0] not in MW], ids=_id)
def test_front_designs_reevaluate_exactly(case: tuple[str, dict]) -> None:
    problem = _get(case)
    X = problem.pareto_set(200)
    front = problem.pareto_front(200)
    assert X.shape == (len(front), problem.n_var)
    F, G = problem.evaluate(X, constraints=True)  # also validates tables and integers
    np.testing.assert_array_equal(F, front)
    assert (G <= 0).all()


def _pymoo_front(name: str) -> np.ndarray:
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        F = pymoo_problem(name).pareto_front()
    # pymoo's MW12 curve is not monotone everywhere: keep its non-dominated part.
    return F[nondominated(F)]


def _covered(points: np.ndarray, front: np.ndarray, tol: np.ndarray) -> np.ndarray:
    """Rows of ``points`` weakly dominated by some row of ``front`` up to ``tol``."""
    return (front[None, :, :] <= points[:, None, :] + tol).all(axis=-1).any(axis=1)


@pytest.mark.parametrize("name", ["bnh", "truss2d", "mw1", "mw2", "mw3", "mw6", "mw12"])
def test_two_objective_fronts_equal_pymoo(name: str) -> None:
    """Neither front beats the other, each covers the other, equal hypervolumes."""
    problem = _problem(name)
    dense = problem.pareto_front(10**9)
    theirs = _pymoo_front(name)
    if name.startswith("mw"):
        # pymoo pushes MW3/MW12 points outward until the second constraint holds and never
        # checks the first: its MW12 front keeps points that violate it.
        ok = (problem.objective_constraints(theirs) <= 0).all(axis=1)
        assert ok.mean() > (0.9 if name == "mw12" else 0.999)
        theirs = theirs[ok]
    span = _span(dense)
    assert not beaten(theirs, dense, 1e-9 * span).any()
    # Ours covers pymoo's points up to its sampling step; pymoo's cover ours up to its own
    # (coarse: 100 points) step, checked through the hypervolume instead.
    assert _covered(theirs, dense, 1e-3 * span).all()
    ref = problem.ref_point
    ratio = hypervolume(dense, ref) / hypervolume(theirs, ref)
    assert 1.0 - 1e-4 < ratio < 1.02  # ours is denser: more HV between pymoo's points


@pytest.mark.parametrize("name", ["mw4", "mw8"])
def test_three_objective_fronts_equal_pymoo(name: str) -> None:
    problem = _problem(name)
    dense = problem.pareto_front(10**9)
    theirs = _pymoo_front(name)
    span = _span(dense)
    assert not beaten(theirs, dense, 1e-9 * span).any()
    assert _covered(theirs, dense, 0.02 * span).all()  # our grid: 101 x 101 positions
    # Ours lies on the analytic surface: the simplex (MW4) or the unit sphere (MW8).
    surface = dense.sum(axis=1) if name == "mw4" else np.linalg.norm(dense, axis=1)
    np.testing.assert_allclose(surface, 1.0, atol=1e-12)
    if name == "mw8":  # the infeasible bands are left out, as pymoo leaves them out
        elevation = np.arcsin(np.clip(dense[:, 2], 0.0, 1.0))
        assert (np.sin(6.0 * elevation) ** 2 <= 0.5 + 1e-9).all()


def test_srn_front_contains_pymoos_segment_and_more() -> None:
    problem = _problem("srn")
    dense = problem.pareto_front(10**9)
    theirs = _pymoo_front("srn")
    span = _span(dense)
    assert _covered(theirs, dense, 1e-4 * span).all()
    assert not beaten(theirs, dense, 1e-9 * span).any()
    # pymoo's segment x1 = -2.5 starts at f1 = 24.5; where x1 - 3 x2 + 10 <= 0 is active
    # the front goes on to the least f1 = 10.1 at x = (1.1, 3.7), and along the circle
    # beyond the segment's other end.
    np.testing.assert_allclose(problem.ideal[0], 10.1, atol=1e-9)
    assert theirs[:, 0].min() == pytest.approx(24.5)
    assert problem.ideal[1] < theirs[:, 1].min() - 5.0
    F, G = problem.evaluate(np.array([[1.1 - 1e-9, 3.7]]), constraints=True)
    assert (G <= 0).all() and F[0, 0] < theirs[:, 0].min()
    assert not _covered(F, theirs, np.zeros(2)).any()  # a front point pymoo's front misses


def test_srn_integer_front_is_made_of_integer_designs() -> None:
    problem = _problem("srn", integer=True)
    X = problem.pareto_set()
    np.testing.assert_array_equal(X[:, 0], np.round(X[:, 0]))
    assert len(np.unique(X[:, 0])) >= 3
    # Integer designs are continuous designs: the continuous front is never beaten.
    cont = _problem("srn").pareto_front()
    assert not beaten(problem.pareto_front(), cont, 1e-3 * _span(cont)).any()


def test_mw_fronts_closed_forms() -> None:
    """Where g = 1 is feasible the ray search returns the unconstrained shape."""
    f = _problem("mw2").pareto_front(10**9)
    np.testing.assert_allclose(f.sum(axis=1), 1.0, atol=1e-12)
    f = dse.get_problem("mw4", n_obj=4).pareto_front(500)
    np.testing.assert_allclose(f.sum(axis=1), 1.0, atol=1e-12)
    f = _problem("mw14").pareto_front()
    p = torch.tensor(f[:, :2])
    h = 6.0 - torch.exp(p) - 1.5 * torch.sin(1.1 * math.pi * p * p)
    np.testing.assert_allclose(f[:, 2], h.mean(dim=1).numpy(), atol=1e-12)


@pytest.mark.parametrize("name", MW)
def test_mw_fronts_not_beaten_by_samples(name: str) -> None:
    problem = _problem(name)
    front = problem.pareto_front()
    F, G = problem.evaluate(problem.sample(4000, seed=9), constraints=True)
    F = F[(G <= 0).all(axis=1)]
    assert not beaten(F, front, 1e-9 * _span(front)).any()


# --------------------------------------------------------------------------- stored fronts


@pytest.mark.parametrize("key", STORED)
def test_stored_front(key: str) -> None:
    assert front_path(key).stat().st_size < 256 * 1024
    stored = load_front(key)
    name, discrete = key.removesuffix("-discrete"), key.endswith("-discrete")
    problem = _problem(name, discrete=discrete)
    assert stored.X.shape == (len(stored.F), problem.n_var)
    assert 100 <= len(stored.F) <= MAX_FRONT_POINTS
    assert nondominated(stored.F, keep_duplicates=False).all()
    F, G = problem.evaluate(stored.X, constraints=True)  # tables exact, bounds kept
    np.testing.assert_array_equal(F, stored.F)
    assert (G <= 0).all()
    meta = stored.meta  # written by bench/build_engineering_fronts.py with its defaults
    assert meta["built_by"] == "bench/build_engineering_fronts.py"
    assert meta["problem"] == name and meta["params"] == ({"discrete": True} if discrete else {})
    assert meta["algorithm"] == "pymoo NSGA-II"
    assert meta["evaluations_per_run"] >= 500_000 and len(meta["seeds"]) >= 3
    assert meta["polish_rounds"] >= 1 and len(meta["polish_kept"]) == meta["polish_rounds"]
    assert meta["stored_points"] == len(stored.F)
    np.testing.assert_array_equal(problem.pareto_front(10**9), stored.F[np.lexsort(
        stored.F.T[::-1])])


def test_stored_files_small_and_all_built() -> None:
    files = sorted(FRONT_DIR.glob("*.npz"))
    assert sorted(f.stem for f in files) == sorted(STORED)
    assert sum(f.stat().st_size for f in files) < 1024 * 1024


@pytest.mark.parametrize("key", STORED)
def test_short_nsga2_does_not_beat_stored_front(key: str) -> None:
    problem = _problem(key.removesuffix("-discrete"), discrete=key.endswith("-discrete"))
    front = problem.pareto_front()
    res = solve(problem, "nsga2", budget=8000, seed=0)
    assert len(res.front_F)
    ref = problem.ref_point
    assert hypervolume(res.front_F, ref) <= 1.002 * hypervolume(front, ref)
    assert not beaten(res.front_F, front, 1e-3 * _span(front)).any()


@pytest.mark.parametrize("case", VARIANTS, ids=_id)
def test_discrete_fronts_against_continuous_ones(case: tuple[str, dict]) -> None:
    """Restricted variables never beat the continuous front; the car's added ones never lose."""
    variant = _get(case).pareto_front()
    cont = _problem(case[0]).pareto_front()
    if case[0] == "car_side_impact":
        # The seven-variable problem is one material pair of the nine-variable one.
        assert not beaten(cont, variant, 1e-3 * _span(variant)).any()
    else:
        assert not beaten(variant, cont, 1e-3 * _span(cont)).any()
    rng = np.random.default_rng(10)
    X = _get(case).sample(5000, seed=rng)
    F, G = _get(case).evaluate(X, constraints=True)
    F = F[(G <= 0).all(axis=1)]
    assert not beaten(F, variant, 1e-9 * _span(variant)).any()
