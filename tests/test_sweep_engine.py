"""The sweep engine's mechanisms: budget use, stop reasons, faithful preferences, anchors,
decoding and polish of discrete designs, gap rows and restarts, exact counting."""

from __future__ import annotations

import itertools

import numpy as np
import pytest
import torch
from _helpers import wrap
from test_solvers import GRADIENT, CountingBowls, TinyMixed, _check_result

import dse.solvers._gradient as engine
from dse.indicators import hypervolume
from dse.problem import Categorical, Integer, Problem, Real, Table, get_problem
from dse.solvers import solve
from dse.solvers._polish import combine, neighbours
from dse.solvers._scalarize import ray_preferences

USER_PREFS = np.stack([np.linspace(0.01, 0.99, 20), np.linspace(0.99, 0.01, 20)], 1)


class CountingTable(Problem):
    """Two bars: a real length, an integer count and a diameter from a table of sizes.

    Mass ``n * d^2 * L`` against a deflection-like ``1 / (n d^2) + (1 - L)^2``, with a
    constraint ``L * d <= 20``. Written as a user would: torch arithmetic only, so the
    default relaxation (integer in place, table interpolated) is differentiable. Counts
    every evaluated row, exact or relaxed.
    """

    name = "counting_table"
    SIZES = (6.0, 8.0, 10.0, 12.0, 16.0, 20.0, 25.0)

    def __init__(self) -> None:
        super().__init__(
            [Real("L", 0.1, 1.0), Integer("n", 1, 6), Table("d", self.SIZES)],
            n_obj=2, n_constr=1,
        )
        self.rows = 0

    def _evaluate(self, x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        self.rows += int(np.prod(x.shape[:-1]))
        L, n, d = x.unbind(-1)
        mass = n * d**2 * L / 100
        defl = 100 / (n * d**2) + (1 - L) ** 2
        return torch.stack([mass, defl], -1), (L * d - 20)[..., None]


def _angles(F: np.ndarray, P: np.ndarray, front: np.ndarray) -> np.ndarray:
    """Degrees between each normalised point (by the true front) and its preference."""
    ideal, nadir = front.min(0), front.max(0)
    Fn = (F - ideal) / (nadir - ideal)
    return np.degrees(np.abs(np.arctan2(Fn[:, 1], Fn[:, 0]) - np.arctan2(P[:, 1], P[:, 0])))


def _beaten(F: np.ndarray, Q: np.ndarray, tol: float) -> np.ndarray:
    """Rows of ``F`` that a point of ``Q`` beats in every objective by more than ``tol``
    (both normalised by the range of ``Q``)."""
    lo, span = Q.min(0), np.ptp(Q, axis=0)
    Fn, Qn = (F - lo) / span, (Q - lo) / span
    return (Qn[None] < Fn[:, None] - tol).all(-1).any(1)


# ---------------------------------------------------------------------- budget and stopping
@pytest.mark.parametrize("method", GRADIENT)
def test_every_sweep_uses_its_whole_budget(method: str) -> None:
    p = get_problem("zdt1", n_var=8)
    res = solve(p, method, budget=3000, n_points=10, seed=0, device="cpu")
    assert res.n_evals == 3000
    assert res.stop_reason == "budget"
    _check_result(res, p, 3000)


def test_mixed_sweep_uses_its_whole_budget_and_counts_every_evaluation() -> None:
    p = CountingTable()
    res = solve(p, "chebyshev", budget=2500, n_points=8, seed=0, device="cpu")
    assert res.n_evals == p.rows == 2500  # relaxed steps, checkpoints, polish, final
    assert res.config["polish_evals"] > 0
    assert res.stop_reason == "budget"
    _check_result(res, p, 2500)


def test_more_budget_gives_more_hypervolume() -> None:
    for name, kw, budget in (("zdt1", {"n_var": 10}, 1500), ("pmtl_concave", {}, 1500)):
        p = get_problem(name, **kw)
        extra = {"init": "center", "lr": 0.02} if name == "pmtl_concave" else {}
        hv = [
            solve(p, "chebyshev", budget=b, n_points=10, seed=0, device="cpu", **extra)
            .history["hypervolume"].iloc[-1]
            for b in (budget, 4 * budget)
        ]
        assert hv[1] > hv[0], name


def test_stop_reasons() -> None:
    p = CountingBowls()
    res = solve(p, "chebyshev", budget=10**6, n_points=6, max_steps=40, device="cpu")
    assert res.stop_reason == "max_steps" and res.config["steps"] == 40
    res = solve(p, "weighted_sum", budget=10**6, n_points=6, anytime=False, device="cpu")
    assert res.stop_reason == "converged" and res.n_evals < 10**5
    res = solve(p, "chebyshev", budget=500, n_points=6, device="cpu")
    assert res.stop_reason == "budget" and res.n_evals == 500


def test_rows_stop_when_their_learning_rate_is_spent(monkeypatch: pytest.MonkeyPatch) -> None:
    # lr_decay 0.9 leaves 5% of the learning rate after log(0.05)/log(0.9) = 28.4 steps:
    # no row descends longer, whether or not it is stationary (ftol 0 never is).
    seen = {}

    def capture(finish, run, st, seed):  # type: ignore[no-untyped-def]
        seen["t"] = st.opt.t.clone()
        return finish(run, st, seed)

    wrap(monkeypatch, engine, "_finish", capture)
    p = CountingBowls()
    res = solve(p, "chebyshev", budget=10**6, n_points=4, lr_decay=0.9, ftol=0.0,
                anytime=False, grow=False, check_every=1, device="cpu")
    assert res.stop_reason == "converged"
    assert (seen["t"] > 28.4).all() and (seen["t"] < 30).all()


# ---------------------------------------------------------------------- preferences
@pytest.mark.parametrize("name", ["zdt1", "zdt2", "pmtl_concave"])
@pytest.mark.parametrize("method", ["epo", "chebyshev"])
def test_user_preferences_land_on_their_rays_in_order(name: str, method: str) -> None:
    # Preferences without the simplex corners, as other libraries pass them: the first
    # rows of the result are their designs, in order, each on its ray in the space
    # normalised by the true front (anchors find its ends).
    kw = {"n_var": 10} if name.startswith("zdt") else {}
    p = get_problem(name, **kw)
    extra = {"init": "center", "lr": 0.02} if name == "pmtl_concave" else {}
    res = solve(p, method, preferences=USER_PREFS, budget=6000, seed=0, device="cpu", **extra)
    ang = _angles(res.F[:20], USER_PREFS, p.pareto_front(2000))
    assert ang.mean() <= 1.0 and ang.max() <= 5.0, ang.round(2)
    assert res.config["n_final"] == 20
    np.testing.assert_allclose(res.config["preferences"], USER_PREFS)


def test_user_preferences_give_the_hypervolume_of_the_methods_own_vectors() -> None:
    p = get_problem("zdt2", n_var=10)
    true_hv = hypervolume(p.pareto_front(2000), p.ref_point)
    kw = {"budget": 6000, "seed": 0, "device": "cpu"}
    user = solve(p, "chebyshev", preferences=USER_PREFS, **kw)
    own = solve(p, "chebyshev", n_points=20, **kw)
    hv_user = hypervolume(user.front_F, p.ref_point) / true_hv
    hv_own = hypervolume(own.front_F, p.ref_point) / true_hv
    assert hv_user >= 0.98 * hv_own and hv_own > 0.99


def test_anchors_reach_the_ends_of_the_front() -> None:
    p = get_problem("zdt1", n_var=10)
    res = solve(p, "epo", preferences=USER_PREFS[5:15], budget=4000, seed=0, device="cpu")
    # Rows 10 and 11 are the anchors, one per simplex corner. For a ray method the corner
    # e_k is the ray along objective k, which ends where every other objective is least.
    assert res.config["anchor_rows"] == [10, 11]
    np.testing.assert_allclose(res.config["row_preferences"][10:12], np.eye(2))
    np.testing.assert_allclose(res.F[10], [1.0, 0.0], atol=2e-3)
    np.testing.assert_allclose(res.F[11], [0.0, 1.0], atol=2e-3)


def test_ray_preferences_invert_the_ray_map() -> None:
    gen = torch.Generator().manual_seed(0)
    for K in (2, 3, 4):
        d = -torch.rand(50, K, generator=gen, dtype=torch.float64).log()
        d = d / d.sum(-1, keepdim=True)  # uniform on the simplex
        t = 0.3 + torch.rand(50, 1, generator=gen, dtype=torch.float64)
        u = 0.01
        Fn = t * (d + u) - u  # points on the rays (inside the positive orthant)
        ok = (Fn >= 0).all(-1)
        np.testing.assert_allclose(ray_preferences(Fn[ok], u), d[ok], rtol=0, atol=1e-12)


# ---------------------------------------------------------------------- anytime rounds
def test_gap_rows_fill_the_front_after_the_preferences_converge() -> None:
    p = get_problem("zdt1", n_var=10)
    res = solve(p, "chebyshev", n_points=8, budget=8000, seed=0, device="cpu")
    assert res.config["n_rows"] > 8 + 2  # preferences, anchors, then gap rows
    F = res.front_F
    gaps = np.diff(np.sort(F[:, 0]))
    assert gaps.max() < 0.05  # 8 rays alone would leave gaps of ~0.14 in f1
    _check_result(res, p, 8000)


def test_rows_stalled_behind_the_front_do_not_report_their_stall() -> None:
    # pmtl_concave from uniform starts: far from the front both objectives are flat at 1
    # and every gradient vanishes, so a row can stall on its ray, far out (seed 3 left
    # row 11 at F = (0.996, 0.9995), 8.9 deg off its ray). Such a row restarts, and if its
    # restarts are spent it reports the run's best design for its preference.
    p = get_problem("pmtl_concave")
    res = solve(p, "epo", preferences=USER_PREFS, budget=10_000, seed=3, device="cpu")
    front = p.pareto_front(2000)
    assert _angles(res.F[:20], USER_PREFS, front).max() <= 5.0
    assert not _beaten(res.F[:20], res.front_F, 1e-3).any()


def test_collapsed_rows_restart(monkeypatch: pytest.MonkeyPatch) -> None:
    # On ZDT2's concave front a row can get stuck at an end, where the derivative of f2
    # along the front vanishes; restarted between rows that landed, it reaches its ray.
    calls: list[int] = []

    def spy(restart_collapsed, run, st):  # type: ignore[no-untyped-def]
        n = restart_collapsed(run, st)
        calls.append(n)
        return n

    wrap(monkeypatch, engine, "_restart_collapsed", spy)
    p = get_problem("zdt2", n_var=10)
    res = solve(p, "chebyshev", preferences=USER_PREFS, budget=6000, seed=0, device="cpu")
    assert sum(calls) > 0
    ang = _angles(res.F[:20], USER_PREFS, p.pareto_front(2000))
    assert ang.max() <= 5.0


# ---------------------------------------------------------------------- discrete variables
def test_table_variable_api() -> None:
    p = CountingTable()
    assert p.has_relaxation and p.n_relaxed == 3 and p.is_mixed
    _lo, hi = p.relaxed_bounds()
    np.testing.assert_array_equal(hi, [1.0, 6.0, 6.0])
    X = p.sample(200, seed=0)
    assert set(np.unique(X[:, 2])) <= set(CountingTable.SIZES)
    np.testing.assert_array_equal(p.decode(p.encode(X)), X)
    z = torch.tensor([[0.5, 2.5, 2.5]], dtype=torch.float64, requires_grad=True)
    F = p.evaluate_relaxed(z)
    F[0, 0].backward()
    # Index 2.5 interpolates 10 and 12: d = 11, mass = n d^2 L / 100.
    assert F[0, 0].item() == pytest.approx(2.5 * 11**2 * 0.5 / 100)
    assert (z.grad != 0).all()
    with pytest.raises(ValueError, match="table"):
        p.evaluate(np.array([[0.5, 2.0, 11.0]]))
    with pytest.raises(ValueError, match="repeated"):
        Table("t", (1.0, 1.0, 2.0))


def test_integer_problems_have_a_default_relaxation_and_categoricals_need_one() -> None:
    class Ints(Problem):
        def __init__(self) -> None:
            super().__init__([Integer("a", 0, 5), Real("b", 0, 1)], n_obj=2)

        def _evaluate(self, x: torch.Tensor) -> torch.Tensor:
            return torch.stack([x[..., 0] + x[..., 1], (5 - x[..., 0]) * (1 - x[..., 1])], -1)

    class Cats(Problem):
        def __init__(self) -> None:
            super().__init__([Categorical("c", ("a", "b")), Real("b", 0, 1)], n_obj=2)

        def _evaluate(self, x: torch.Tensor) -> torch.Tensor:
            return torch.stack([x[..., 0] + x[..., 1], 1 - x[..., 1]], -1)

    assert Ints().has_relaxation and not Cats().has_relaxation
    res = solve(Ints(), "chebyshev", budget=600, n_points=6, seed=0, device="cpu")
    np.testing.assert_array_equal(res.X[:, 0], np.round(res.X[:, 0]))
    with pytest.raises(ValueError, match="relaxation"):
        solve(Cats(), "chebyshev", budget=600, device="cpu")


def _brute_neighbours(p: Problem, x: np.ndarray) -> set[tuple[float, ...]]:
    out = set()
    for i, v in enumerate(p.variables):
        if isinstance(v, Real):
            continue
        if isinstance(v, Categorical):
            values = [float(c) for c in range(len(v.choices))]
        elif isinstance(v, Table):
            j = v.values.index(x[i])
            values = [v.values[k] for k in (j - 1, j + 1) if 0 <= k < len(v.values)]
        else:
            values = [x[i] - 1, x[i] + 1]
        for a in values:
            if v.lower <= a <= v.upper and a != x[i]:
                y = x.copy()
                y[i] = a
                y = p.repair(torch.from_numpy(y[None])).numpy()[0]
                if (y != x).any():
                    out.add(tuple(y))
    return out


def test_neighbours_are_every_single_discrete_move_repaired() -> None:
    for p in (TinyMixed(), CountingTable()):
        X = torch.from_numpy(p.sample(30, seed=1))
        Y, owner, _var = neighbours(p, X)
        assert (torch.diff(owner) >= 0).all()
        for r in range(len(X)):
            got = {tuple(y) for y in Y[owner == r].numpy()}
            assert got == _brute_neighbours(p, X[r].numpy())
            assert len(got) == int((owner == r).sum())  # no duplicates
        Y2, owner2, _ = neighbours(p, X, limit=2, generator=torch.Generator().manual_seed(0))
        assert torch.bincount(owner2).max() <= 2
        assert {tuple(y) for y in Y2.numpy()} <= {tuple(y) for y in Y.numpy()}


def test_combine_applies_each_rows_best_move_per_variable() -> None:
    p = CountingTable()
    X = torch.tensor([[0.5, 3.0, 10.0], [0.5, 3.0, 10.0]], dtype=torch.float64)
    Y, owner, var = neighbours(p, X)
    gain = torch.zeros(len(Y), dtype=torch.float64)
    # Row 0: improve by n -> 4 and d -> 12 (two variables); row 1: only d -> 8.
    for k in range(len(Y)):
        y = Y[k].tolist()
        if owner[k] == 0 and (y[1] == 4.0 or y[2] == 12.0):
            gain[k] = 1.0
        if owner[k] == 1 and y[2] == 8.0:
            gain[k] = 1.0
    Xc, rows = combine(p, X, Y, owner, var, gain)
    assert rows.tolist() == [0]
    np.testing.assert_array_equal(Xc.numpy(), [[0.5, 4.0, 12.0]])


def test_reported_designs_are_never_worse_than_rounding_their_relaxed_designs(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    # Independent route: round each row's final relaxed design (the plain decoding) and
    # evaluate it exactly; the row's reported design is at least as good by its own value.
    seen = {}

    def capture(finish, run, st, seed):  # type: ignore[no-untyped-def]
        result = finish(run, st, seed)
        # Each row's last evaluated relaxed design (where its descent ended or was cut).
        idx = torch.arange(st.n_rows)
        X = run.problem.decode(st.z_last)
        F, G = run.problem.evaluate(X, constraints=True)
        seen["plain"] = engine._values(run, st, idx, F, G)
        seen["best"] = engine._values(run, st, idx, st.best_F, st.best_G)
        return result

    wrap(monkeypatch, engine, "_finish", capture)
    for p in (get_problem("codesign"), CountingTable(), TinyMixed()):
        solve(p, "chebyshev", budget=3000, n_points=10, seed=0, device="cpu")
        assert (seen["best"] <= seen["plain"] + 1e-12).all(), p.name


def test_codesign_sweep_does_not_collapse() -> None:
    # 100 preferences used to end on 14-24 front designs; polished rows and gap rows now
    # fill the front. A row whose own descent ended behind the front reports the run's
    # best design for its preference instead, so rows may share designs, but none reports
    # a design the front beats in every objective.
    p = get_problem("codesign")
    res = solve(p, "epo", budget=20_000, seed=0, device="cpu")
    front = np.unique(res.front_F, axis=0)
    assert len(front) >= 90
    assert not _beaten(res.F[:100], front, 0.01).any()
    true_hv = hypervolume(p.pareto_front(), p.ref_point)
    assert hypervolume(res.front_F, p.ref_point) / true_hv > 0.95


def test_polish_reaches_the_exact_optimum_of_a_small_integer_problem() -> None:
    # A separable integer problem whose rounding is far from optimal: the polish (with
    # combined moves) reaches the brute-force optimum of each row's weighted sum.
    class Staircase(Problem):
        def __init__(self) -> None:
            super().__init__([Integer(f"n{i}", 0, 6) for i in range(4)], n_obj=2)

        def _evaluate(self, x: torch.Tensor) -> torch.Tensor:
            f1 = ((x - torch.tensor([1.0, 2, 3, 4], dtype=x.dtype)) ** 2).sum(-1)
            f2 = ((x - torch.tensor([5.0, 4, 3, 2], dtype=x.dtype)) ** 2).sum(-1)
            return torch.stack([f1, f2], -1)

    p = Staircase()
    P = np.array([[0.3, 0.7], [0.5, 0.5], [0.8, 0.2]])
    res = solve(p, "weighted_sum", preferences=P, budget=3000, seed=0, device="cpu")
    grid = np.array(list(itertools.product(range(7), repeat=4)), dtype=float)
    Fg = p.evaluate(grid)
    # The front's ends are (0, 24) and (24, 0): the normalisation divides both objectives
    # by 24, so each row minimises w . F itself.
    assert res.n_evals <= 3000
    for i, w in enumerate(P):
        assert res.F[i] @ w == pytest.approx((Fg @ w).min()), (i, res.F[i])
