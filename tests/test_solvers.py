"""Tests of dse.solvers: one entry point, honest counting, exact fronts, the theory's claims."""

from __future__ import annotations

from math import comb

import numpy as np
import pytest
import torch
from scipy.optimize import linprog

from dse.indicators import hypervolume
from dse.problem import Categorical, Integer, Problem, Real, get_problem
from dse.result import Result
from dse.solvers import das_dennis, list_solvers, random_simplex, solve, solver_parameters
from dse.solvers._gradient import epo_lp_weights

GRADIENT = ["weighted_sum", "chebyshev", "mgda", "cagrad", "epo", "gradient"]
EVOLUTIONARY = ["nsga2", "nsga3", "moead", "smsemoa", "agemoea2", "random"]


# ---------------------------------------------------------------------- tiny problems
class CountingBowls(Problem):
    """Two shifted quadratic bowls on [0, 1]^3 (convex front); counts evaluated rows.

    ``_evaluate`` is what both ``evaluate`` and the default relaxation call, so its row
    count is an independent tally of the objective evaluations a solver made.
    """

    name = "counting_bowls"

    def __init__(self) -> None:
        super().__init__([Real(f"x{i}", 0.0, 1.0) for i in range(3)], n_obj=2)
        self.rows = 0
        self.grad_rows = 0

    def _evaluate(self, x: torch.Tensor) -> torch.Tensor:
        n = int(np.prod(x.shape[:-1]))
        self.rows += n
        self.grad_rows += n if x.requires_grad else 0
        f1 = ((x - 0.2) ** 2).sum(-1)
        f2 = ((x - 0.8) ** 2).sum(-1)
        return torch.stack([f1, f2], dim=-1)


_COSTS = (0.3, 0.0, 0.6)


class TinyMixed(Problem):
    """One real, one integer, one categorical variable and one constraint, with a relaxation.

    f1 = (x - n/4)^2 + cost[c] + 0.1 n,  f2 = (1 - x)^2 + 0.5 - 0.1 n + cost[2 - c];
    g = n - 3 - x <= 0 (repair lowers n). The relaxation keeps n real and mixes the
    categorical costs with a softmax of the logits.
    """

    name = "tiny_mixed"

    def __init__(self) -> None:
        super().__init__(
            [Real("x", 0.0, 1.0), Integer("n", 0, 4), Categorical("c", ("a", "b", "c"))],
            n_obj=2, n_constr=1,
        )
        self.rows = 0

    def _objectives(self, x, n, cost1, cost2):  # type: ignore[no-untyped-def]
        f1 = (x - n / 4) ** 2 + cost1 + 0.1 * n
        f2 = (1 - x) ** 2 + 0.5 - 0.1 * n + cost2
        return torch.stack([f1, f2], -1), (n - 3 - x)[..., None]

    def _evaluate(self, X: torch.Tensor):  # type: ignore[no-untyped-def]
        self.rows += int(np.prod(X.shape[:-1]))
        costs = torch.tensor(_COSTS, dtype=X.dtype, device=X.device)
        c = X[..., 2].long()
        return self._objectives(X[..., 0], X[..., 1], costs[c], costs[2 - c])

    def _evaluate_relaxed(self, z: torch.Tensor):  # type: ignore[no-untyped-def]
        self.rows += int(np.prod(z.shape[:-1]))
        costs = torch.tensor(_COSTS, dtype=z.dtype, device=z.device)
        p = torch.softmax(z[..., 2:5], dim=-1)
        return self._objectives(z[..., 0], z[..., 1], p @ costs, p @ costs.flip(0))

    def repair(self, x: torch.Tensor) -> torch.Tensor:
        x = x.clone()
        x[..., 1] = torch.minimum(x[..., 1], torch.floor(3 + x[..., 0]))
        return x


class MixedNoRelaxation(TinyMixed):
    name = "mixed_no_relaxation"
    _evaluate_relaxed = Problem._evaluate_relaxed


def _brute_nondominated(F: np.ndarray) -> np.ndarray:
    le = (F[:, None, :] <= F[None, :, :]).all(-1)
    lt = (F[:, None, :] < F[None, :, :]).any(-1)
    return ~(le & lt).any(0)


def _check_result(res: Result, problem: Problem, budget: int) -> None:
    assert res.n_evals <= budget
    assert res.X.shape[1] == problem.n_var and res.F.shape[1] == problem.n_obj
    assert (res.X >= problem.xl - 1e-9).all() and (res.X <= problem.xu + 1e-9).all()
    # Reported values are the exact evaluation of the reported designs.
    F, G = problem.evaluate(res.X, constraints=True)
    np.testing.assert_allclose(res.F, F, rtol=1e-6, atol=1e-9)
    np.testing.assert_allclose(res.G, G, rtol=1e-6, atol=1e-9)
    front = res.front_F
    assert len(front) >= 1
    assert _brute_nondominated(front).all()
    h = res.history
    assert len(h) >= 2
    assert np.all(np.diff(h["n_evals"]) >= 0)
    assert np.all(np.diff(h["hypervolume"]) >= -1e-12)  # archive HV never decreases
    ref = np.asarray(res.config["ref_point"])
    inside = front[(front < ref).all(1)]
    hv = hypervolume(inside, ref) if len(inside) else 0.0
    assert h["hypervolume"].iloc[-1] == pytest.approx(hv, rel=1e-9, abs=1e-12)


# ---------------------------------------------------------------------- registry and API
def test_registry_lists_every_method_with_kind_and_defaults() -> None:
    listed = {d["name"]: d for d in list_solvers()}
    assert set(GRADIENT + EVOLUTIONARY) <= set(listed)
    assert {d["name"] for d in list_solvers("gradient")} == set(GRADIENT)
    assert {d["name"] for d in list_solvers("evolutionary")} == set(EVOLUTIONARY)
    params = solver_parameters("chebyshev")
    assert params["lr"] > 0 and params["n_points"] >= 1
    params["lr"] = -1.0  # a copy: the registry keeps its defaults
    assert solver_parameters("chebyshev")["lr"] > 0
    assert solver_parameters("nsga2")["pop_size"] == 100


def test_bad_inputs_raise_clear_errors() -> None:
    p = CountingBowls()
    with pytest.raises(ValueError, match="nsga2"):
        solve(p, "no_such_method")
    with pytest.raises(ValueError, match="accepted"):
        solve(p, "chebyshev", budget=1000, learning_rate=0.1)
    # 20 preference rows (their simplex corners serve as the anchors), each evaluated at
    # least once; 10 user preferences without corners get one anchor row per objective.
    with pytest.raises(ValueError, match="at least 20"):
        solve(p, "chebyshev", budget=10, n_points=20)
    with pytest.raises(ValueError, match="at least 12"):
        solve(p, "chebyshev", budget=5, preferences=[[0.1 * i + 0.05, 0.95 - 0.1 * i]
                                                     for i in range(10)])
    with pytest.raises(ValueError, match="at least 200"):
        solve(p, "nsga2", budget=150)
    with pytest.raises(ValueError, match="needs gradients"):
        solve(MixedNoRelaxation(), "weighted_sum", budget=1000)
    with pytest.raises(ValueError, match="budget"):
        solve(p, "nsga2", budget=0)
    with pytest.raises(ValueError, match="seed"):
        solve(p, "nsga2", seed=-1)
    with pytest.raises(ValueError, match="device"):
        solve(p, "chebyshev", device="tpu")
    with pytest.raises(ValueError, match="optimizer"):
        solve(p, "chebyshev", budget=1000, optimizer="lbfgs")
    with pytest.raises(ValueError, match="preferences"):
        solve(p, "chebyshev", budget=1000, preferences=np.ones((4, 3)))
    with pytest.raises(TypeError, match="problem"):
        solve(42, "nsga2")  # type: ignore[arg-type]


# ---------------------------------------------------------------------- every method
@pytest.mark.parametrize("method", GRADIENT)
def test_gradient_methods_count_and_return_valid_results(method: str) -> None:
    p = CountingBowls()
    budget = 1200
    res = solve(p, method, budget=budget, seed=1, device="cpu", n_points=12)
    # All-real problem: relaxed evaluations are exact; every evaluated row is counted once
    # as an evaluation and, in the steps, once as a gradient evaluation.
    assert res.n_evals == p.rows
    assert res.n_grad_evals == p.grad_rows > 0
    _check_result(res, p, budget)
    assert res.method == method and res.config["n_designs"] == 12


@pytest.mark.parametrize(
    "method",
    [m if m != "agemoea2" else pytest.param(m, marks=pytest.mark.slow) for m in EVOLUTIONARY],
)
def test_evolutionary_methods_count_and_return_valid_results(method: str) -> None:
    # AGE-MOEA-II is slow only because numba compiles pymoo's kernels in each new process
    # (6-40 s); the fast test below checks it is built with the same operators.
    if method == "agemoea2":
        pytest.importorskip("numba")
    p = CountingBowls()
    budget = 600
    res = solve(p, method, budget=budget, seed=3, pop_size=20) if method != "random" else (
        solve(p, method, budget=budget, seed=3, batch_size=50))
    assert res.n_evals == p.rows
    assert res.n_grad_evals == 0
    _check_result(res, p, budget)


class NeverFeasible(Problem):
    """A constraint no design meets: the run must still report, with an empty front."""

    name = "never_feasible"

    def __init__(self) -> None:
        super().__init__([Real("x", 0.0, 1.0), Real("y", 0.0, 1.0)], n_obj=2, n_constr=1)

    def _evaluate(self, x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        f = torch.stack([x[..., 0], 1 - x[..., 0] + x[..., 1]], -1)
        return f, 1.0 + x[..., 1:]


@pytest.mark.parametrize("method", ["nsga2", "chebyshev", "epo", "hybrid"])
def test_no_feasible_design_gives_an_empty_front_not_an_error(method: str) -> None:
    p = NeverFeasible()
    res = solve(p, method, budget=1000, seed=0, device="cpu")
    assert res.n_evals == 1000
    assert not res.feasible.any() and res.front_F.shape == (0, 2)
    assert len(res.X) >= 1 and res.G.shape == (len(res.X), 1)


def test_every_pymoo_method_is_built_with_the_exact_operators() -> None:
    pytest.importorskip("numba")
    from dse.solvers._evolutionary import _build, _ExactRepair, _ExactSampling

    for method in ("nsga2", "nsga3", "moead", "smsemoa", "agemoea2"):
        algo, n_pop = _build(method, TinyMixed(), 20, {})
        assert isinstance(algo.initialization.sampling, _ExactSampling), method
        assert isinstance(algo.repair, _ExactRepair), method
        assert n_pop == 20 or method in ("nsga3", "moead")


def test_result_round_trips_through_a_dataframe() -> None:
    for method in ("chebyshev", "nsga2"):
        kw = {"n_points": 10} if method == "chebyshev" else {"pop_size": 20}
        res = solve(TinyMixed(), method, budget=400, seed=0, device="cpu", **kw)
        back = Result.from_frame(res.to_frame())
        for attr in ("X", "F", "G"):
            np.testing.assert_array_equal(getattr(back, attr), getattr(res, attr))
        assert back.metadata() == res.metadata()
        np.testing.assert_array_equal(back.front_mask, res.front_mask)


def test_same_seed_same_front_and_other_seed_differs() -> None:
    p = get_problem("zdt1", n_var=8)
    for method, kw in (("chebyshev", {"n_points": 16, "init": "uniform"}),
                       ("nsga2", {"pop_size": 20})):
        a = solve(p, method, budget=800, seed=5, device="cpu", **kw)
        b = solve(p, method, budget=800, seed=5, device="cpu", **kw)
        c = solve(p, method, budget=800, seed=6, device="cpu", **kw)
        np.testing.assert_array_equal(a.front_F, b.front_F)
        np.testing.assert_array_equal(a.X, b.X)
        assert a.front_F.shape != c.front_F.shape or not np.array_equal(a.front_F, c.front_F)


# ---------------------------------------------------------------------- theory
def _interior(F: np.ndarray, tol: float = 0.05) -> np.ndarray:
    """Front points away from both ends of a two-objective front."""
    span = F.max(0) - F.min(0)
    return ((F - F.min(0)) > tol * span).all(1)


def _final_hv(res: Result, problem: Problem) -> float:
    """HV of the designs a sweep converged to (its final rows), not of its whole archive.

    The archive also holds the points a growing sweep passed through (new rows start
    between solved neighbours, in the middle of a concave front even for the weighted
    sum); the claims below are about where each scalarisation converges.
    """
    F = res.F[: res.config["n_final"]]
    F = F[(F < problem.ref_point).all(1)]
    return hypervolume(F, problem.ref_point) if len(F) else 0.0


def test_weighted_sum_collapses_to_the_ends_of_the_concave_pmtl_front() -> None:
    # Lin et al. (2019): on a concave front every linear scalarisation is minimised at an
    # end, whatever its weights; Tchebycheff and EPO land on each preference ray instead.
    p = get_problem("pmtl_concave")
    kw = {"n_points": 10, "init": "center", "lr": 0.02, "device": "cpu", "budget": 3000}
    ws = solve(p, "weighted_sum", **kw)
    ch = solve(p, "chebyshev", **kw)
    epo = solve(p, "epo", lr=0.01, **{k: v for k, v in kw.items() if k != "lr"})
    # The final designs (first rows of the result) of the weighted sum all sit at the
    # ends (0, 0.98) and (0.98, 0); the archive also holds points passed on the way.
    assert ws.config["n_final"] == 10
    F_ws = ws.F[:10]
    assert (F_ws.min(1) < 0.01).all() and (F_ws.max(1) > 0.97).all()
    assert (F_ws[:, 0] < 0.01).sum() >= 3 and (F_ws[:, 1] < 0.01).sum() >= 3
    true_hv = hypervolume(p.pareto_front(2000), p.ref_point)
    hv = {r.method: r.history["hypervolume"].iloc[-1] / true_hv for r in (ws, ch, epo)}
    assert hv["chebyshev"] > 0.95 and hv["epo"] > 0.95
    hv = {r.method: _final_hv(r, p) / true_hv for r in (ws, ch, epo)}
    assert hv["chebyshev"] - hv["weighted_sum"] > 0.2
    assert hv["epo"] - hv["weighted_sum"] > 0.2
    # Rays: with preference d, the normalised objectives satisfy Fn + u = t (d + u) with
    # u = 0.01 and Fn = F / 0.98 (ideal 0, nadir 0.98 at the front's ends).
    u = 0.01
    P = np.asarray(das_dennis(9, 2))
    ang_d = np.arctan2(P[:, 1] + u, P[:, 0] + u)
    for res in (ch, epo):
        F = res.F[:10]
        Fn = (F - F.min(0)) / (F.max(0) - F.min(0))
        ang_f = np.arctan2(Fn[:, 1] + u, Fn[:, 0] + u)
        assert np.abs(ang_f - ang_d).max() < 0.02, res.method
        assert _interior(F).sum() >= 8


def test_weighted_sum_misses_the_middle_of_zdt2_and_chebyshev_does_not() -> None:
    p = get_problem("zdt2", n_var=10)
    kw = {"n_points": 20, "budget": 8000, "device": "cpu", "seed": 0}
    ws = solve(p, "weighted_sum", **kw)
    ch = solve(p, "chebyshev", **kw)
    # Final designs of the weighted sum sit at the two ends f1 = 0 and f1 = 1 of the
    # concave front f2 = 1 - f1^2; the Tchebycheff sweep covers the middle.
    assert ws.config["n_final"] == 20
    f1_ws = ws.F[:20, 0]
    assert ((f1_ws < 0.05) | (f1_ws > 0.95)).all()
    f1_ch = ch.F[:20, 0]
    assert ((f1_ch > 0.05) & (f1_ch < 0.95)).sum() >= 7
    true_hv = hypervolume(p.pareto_front(2000), p.ref_point)
    r_ws = _final_hv(ws, p) / true_hv
    r_ch = _final_hv(ch, p) / true_hv
    # Only the two ends: HV of {(0, 1), (1, 0)} w.r.t. (1.1, 1.1) is 0.21, ratio ~0.4.
    assert r_ws < 0.6
    # 20 points on the Das-Dennis rays of the true front would give 0.954.
    assert r_ch > 0.93


# ---------------------------------------------------------------------- mixed problems
@pytest.mark.parametrize("method", ["weighted_sum", "chebyshev", "epo", "nsga2", "moead"])
def test_mixed_problem_designs_are_decoded_repaired_and_exact(method: str) -> None:
    p = TinyMixed()
    kw = {"n_points": 8} if method in GRADIENT else {"pop_size": 16}
    res = solve(p, method, budget=480, seed=2, device="cpu", **kw)
    n_rows = p.rows
    _check_result(res, p, 480)
    discrete = res.X[:, 1:]
    np.testing.assert_array_equal(discrete, np.round(discrete))
    assert (res.G <= 0).all()  # the repair makes every design feasible
    assert res.n_evals == n_rows  # relaxed steps + exact checkpoints + final, all counted
    if method in GRADIENT:
        # Each step's designs are counted once as evaluations and once as gradients; the
        # exact evaluations of decoded designs add evaluations only.
        assert res.n_evals > res.n_grad_evals > 0


def test_codesign_gradient_and_evolutionary_paths() -> None:
    p = get_problem("codesign")
    for method, kw in (("chebyshev", {"n_points": 8}), ("nsga2", {"pop_size": 16})):
        res = solve(p, method, budget=320, seed=0, device="cpu", **kw)
        _check_result(res, p, 320)
        discrete = res.X[:, ~p.kind_mask(Real)]
        np.testing.assert_array_equal(discrete, np.round(discrete))


# ---------------------------------------------------------------------- pieces
def test_das_dennis_and_random_preferences_lie_on_the_simplex() -> None:
    for p_, k in ((4, 2), (5, 3), (3, 4)):
        W = das_dennis(p_, k)
        assert W.shape == (comb(p_ + k - 1, k - 1), k)
        np.testing.assert_allclose(W.sum(1), 1.0)
        np.testing.assert_allclose(W * p_, np.round(W * p_), atol=1e-12)
        assert len(np.unique(W, axis=0)) == len(W)
    R = random_simplex(50, 3, seed=1)
    assert (R >= 0).all() and np.allclose(R.sum(1), 1.0)
    np.testing.assert_array_equal(R, random_simplex(50, 3, seed=1))


@pytest.mark.parametrize("K", [2, 3, 4])
def test_epo_lp_matches_scipy_linprog(K: int) -> None:
    # Independent route: the same EPO linear programs solved by HiGHS.
    gen = torch.Generator().manual_seed(K)
    B = 60
    J = torch.randn(B, K, 5, dtype=torch.float64, generator=gen)
    J[: B // 3, :, 2:] = 0.0  # rank-deficient Gramians
    G = J @ J.transpose(-1, -2)
    losses = torch.rand(B, K, dtype=torch.float64, generator=gen) + 0.1
    losses[:10] = 1.0  # on the ray: descent mode
    w = epo_lp_weights(G, losses).numpy()
    C = (G / G.diagonal(dim1=-2, dim2=-1).sum(-1)[:, None, None]).numpy()
    lh = (losses / losses.sum(-1, keepdim=True)).numpy()
    mu = (lh * np.log(K * lh)).sum(-1)
    for i in range(B):
        a = np.log(K * lh[i]) - mu[i]
        Ca = C[i] @ a
        if mu[i] > 1e-4:
            c = Ca
            top = losses[i].numpy() == losses[i].numpy().max()
            if (Ca > 0).any():
                rows = [
                    (C[i][j], 0.0 if top[j] else Ca[j])
                    for j in range(K)
                    if Ca[j] <= 0 or top[j]
                ]
            else:
                rows = [(C[i][j], 0.0) for j in range(K)]
        else:
            c = C[i].sum(-1)
            rows = [(C[i][j], 0.0) for j in range(K)] + [(Ca, min(Ca.max(), 0.0))]
        A_ub = -np.array([r[0] for r in rows])
        b_ub = -np.array([r[1] for r in rows])
        ref = linprog(-c, A_ub=A_ub, b_ub=b_ub, A_eq=np.ones((1, K)), b_eq=[1.0],
                      bounds=[(0, None)] * K, method="highs")
        assert ref.status == 0
        assert c @ w[i] == pytest.approx(-ref.fun, abs=1e-9)
        assert (A_ub @ w[i] <= b_ub + 1e-8).all() and w[i].min() >= 0
        assert w[i].sum() == pytest.approx(1.0)


def test_stationarity_stops_early_and_saves_evaluations() -> None:
    # Without the anytime rounds (which spend any budget left on the front's gaps), a sweep
    # whose rows all converged stops.
    p = CountingBowls()
    res = solve(p, "weighted_sum", budget=10**6, n_points=10, max_steps=2000, anytime=False,
                device="cpu")
    assert res.config["steps"] < 2000  # every row converged and left the batch
    assert res.n_evals < 10 * 2000


@pytest.mark.skipif(not torch.cuda.is_available(), reason="needs CUDA")
def test_cuda_sweep_matches_cpu() -> None:
    p = get_problem("zdt1", n_var=10)
    a = solve(p, "chebyshev", budget=2000, n_points=20, device="cpu")
    b = solve(p, "chebyshev", budget=2000, n_points=20, device="cuda")
    np.testing.assert_allclose(a.F, b.F, rtol=1e-6, atol=1e-8)


# ---------------------------------------------------------------------- growing batch
def test_growing_batch_stages_partition_the_rows_and_spread() -> None:
    from dse.solvers._gradient import SweepSettings, _stages

    for K, p_ in ((2, 99), (3, 23)):
        P = das_dennis(p_, K)
        B = len(P)
        st = _stages(SweepSettings(method="chebyshev", n_points=B), P)
        sizes = [len(s) for s in st]
        start = max(K + 1, B // 16)
        assert len(st) >= 3 and start <= sizes[0] < 2 * start
        np.testing.assert_array_equal(np.sort(np.concatenate(st)), np.arange(B))
        started = np.cumsum(sizes)
        assert (np.diff(started) > 0).all() and started[-1] == B
        # Every corner of the simplex is among the first rows (farthest-point order).
        corners = np.flatnonzero(P.max(1) == 1.0)
        assert set(corners) <= set(st[0])
        # A prefix spreads: no preference is farther from the first stage than the
        # first stage's own spacing allows (the covering radius halves as rows double).
        first = P[st[0]]
        gap = np.linalg.norm(P[:, None] - first[None], axis=-1).min(1).max()
        assert gap < 1.5 * np.sqrt(2) / (len(st[0]) ** (1 / (K - 1)) - 1)
    P = das_dennis(19, 2)
    for kw in ({"grow": False}, {"method": "mgda"}, {"init": np.full((20, 3), 0.5)}):
        st = _stages(SweepSettings(**{"method": "chebyshev", **kw}), P)  # type: ignore[arg-type]
        assert len(st) == 1 and np.array_equal(st[0], np.arange(20))


def test_growing_batch_needs_fewer_evaluations_and_lands_on_the_same_rays() -> None:
    # Independent route: the same sweep without growth. The growing batch, whose later rows
    # start between solved neighbours, reaches each HV level with fewer evaluations, and
    # its final designs lie on their preference rays (Fn + u = t (d + u), u = 0.01).
    p = get_problem("zdt1", n_var=10)
    true_hv = hypervolume(p.pareto_front(5000), p.ref_point)
    kw = {"n_points": 40, "budget": 20_000, "checkpoint_every": 1, "device": "cpu", "seed": 0}
    runs = {g: solve(p, "chebyshev", grow=g, **kw) for g in (True, False)}
    need = {}
    for g, res in runs.items():
        h = res.history
        assert h["hypervolume"].iloc[-1] > 0.99 * true_hv
        need[g] = [h["n_evals"][h["hypervolume"] >= lv * true_hv].iloc[0] for lv in (0.95, 0.99)]
        _check_result(res, p, kw["budget"])
    assert need[True][0] < 0.5 * need[False][0] and need[True][1] < 0.7 * need[False][1]
    F = runs[True].F[:40]
    Fn = (F - F.min(0)) / (F.max(0) - F.min(0))
    P = das_dennis(39, 2)
    u = 0.01
    ang = np.arctan2(Fn[:, 1] + u, Fn[:, 0] + u) - np.arctan2(P[:, 1] + u, P[:, 0] + u)
    assert np.abs(ang).max() < 0.02


@pytest.mark.parametrize("problem_cls, budget", [(CountingBowls, 45), (TinyMixed, 90)])
def test_growing_batch_cut_by_the_budget_reports_every_row_counted(
    problem_cls: type[Problem], budget: int
) -> None:
    # The budget ends the sweep before its last stages start: their rows still report
    # their warm starts (one exact evaluation each), and every evaluation is counted.
    p = problem_cls()
    res = solve(p, "chebyshev", budget=budget, n_points=40, device="cpu")
    assert res.n_evals == p.rows <= budget
    assert res.config["n_final"] == 40
    _check_result(res, p, budget)
