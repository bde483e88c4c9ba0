"""Build the stored reference fronts of ``problems/engineering`` from long NSGA-II runs.

For every target without a closed-form front (the welded beam and the car side impact
problem, continuous and discrete) pymoo's NSGA-II runs ``--evals`` evaluations per seed
(population ``--pop``, SBX eta 15 and polynomial mutation eta 20, pymoo's defaults) for each
seed of ``--seeds``. Every evaluated feasible design goes into an archive of non-dominated
points (``dse.pareto.nondominated``); the archives of all seeds are merged, filtered again
and thinned evenly to at most ``MAX_FRONT_POINTS`` points (farthest-point sampling that keeps
the extreme points).

NSGA-II stops short of the front by up to a few percent of its range (0.7 % at the welded
beam's cheapest end, 1.7 % on the car's), so the kept points are then polished, in
``--polish-rounds`` rounds: from every point SLSQP (exact gradients from torch) minimises the
first objective with every other objective held below the point's value (an
epsilon-constraint step) and the constraints below 0, both by a margin of 1e-10, over the
real variables (table and integer variables stay fixed). Every polished design that
re-evaluates feasible joins the points; the union is filtered to its non-dominated rows
(a polished design strictly dominates its start) and thinned again, and the next round
starts from that. Points SLSQP cannot improve stay as NSGA-II left them. The result is
written with its designs to ``problems/engineering/fronts/<key>.npz``; ``meta`` records the
runs and, per round, how many polished designs reached the stored front. ``--polish-only``
repeats just the polish on the stored files.

Discrete variables are searched in index space (a table's index, an integer's value) and
rounded by a repair; ``problem.decode`` maps them to exact designs. When the discrete
variables have few joint values (the car's two materials: four), each combination is run as
a continuous problem with the discrete columns fixed, and the fronts are merged: the union
of exact sub-problems, searched with continuous operators.

``--check`` runs the same search on the problems whose front is computed (closed form or ray
search, see the modules) and prints, per problem, the archive's hypervolume over the
computed front's (reference point ``problem.ref_point``) and the number of archive points
that beat a front point in every objective by more than 1e-6 of the front's range, which
would show the computed front to be wrong. Nothing is written then.

    python bench/build_engineering_fronts.py [--problems KEY,...] [--check] [--quick]
        [--polish-only] [--polish-rounds 2] [--seeds 0,1,2,3,4] [--evals 600000]
        [--pop 500] [--jobs 2]

Every stored front was written by this script with its defaults (``--jobs 1`` on a 2-core
machine: about 40 minutes for the four targets); the tests check each file's ``meta``.
"""

from __future__ import annotations

import argparse
import itertools
import time
import warnings
from dataclasses import dataclass, field
from multiprocessing import Pool
from typing import Any

import numpy as np
import torch
from bench_engineering import CASES
from pymoo.algorithms.moo.nsga2 import NSGA2
from pymoo.core.problem import Problem as PymooProblem
from pymoo.core.repair import Repair
from pymoo.operators.crossover.sbx import SBX
from pymoo.operators.mutation.pm import PM
from pymoo.optimize import minimize
from scipy.optimize import minimize as scipy_minimize

from dse.indicators import hypervolume
from dse.pareto import nondominated
from dse.problem import Integer, Problem, Table, get_problem
from problems.engineering.fronts import (
    MAX_FRONT_POINTS,
    feasible_front,
    load_front,
    save_front,
    thin_front,
)

#: Targets whose front is stored (searched by long runs); every other case of the
#: engineering bench has its front computed, checked with --check.
STORED: dict[str, tuple[str, dict[str, Any]]] = {
    key: CASES[key] for key in
    ("welded_beam", "welded_beam-discrete", "car_side_impact", "car_side_impact-discrete")
}
COMPUTED: dict[str, tuple[str, dict[str, Any]]] = {
    key: case for key, case in CASES.items() if key not in STORED
}

# Discrete variables with at most this many joint values are enumerated, not searched.
_ENUMERATE_MAX = 8
# Constraints of the polish are tightened by this much so its designs stay strictly feasible
# (SLSQP ends on the boundary up to about 1e-14, on either side).
_POLISH_MARGIN = 1e-10


@dataclass
class Archive:
    """Non-dominated feasible designs seen so far (exact ``X`` and ``F``)."""

    n_var: int
    n_obj: int
    X: np.ndarray = field(init=False)
    F: np.ndarray = field(init=False)
    n_evals: int = 0

    def __post_init__(self) -> None:
        self.X = np.zeros((0, self.n_var))
        self.F = np.zeros((0, self.n_obj))

    def add(self, X: np.ndarray, F: np.ndarray, G: np.ndarray) -> None:
        ok = np.isfinite(F).all(axis=1) & (G <= 0).all(axis=1)
        if not ok.any():
            return
        X = np.vstack([self.X, X[ok]])
        F = np.vstack([self.F, F[ok]])
        keep = nondominated(F, keep_duplicates=False)
        self.X, self.F = X[keep], F[keep]


class _Search(PymooProblem):
    """A dse problem in index space for pymoo, some discrete columns fixed, archiving."""

    def __init__(self, problem: Problem, fixed: dict[int, float], archive: Archive) -> None:
        self.problem = problem
        self.fixed = fixed
        self.archive = archive
        self.free = [i for i in range(problem.n_var) if i not in fixed]
        lo, hi = problem.relaxed_bounds()  # index space for tables, values for the rest
        self.discrete = np.array([not _is_real(problem.variables[i]) for i in self.free])
        super().__init__(n_var=len(self.free), n_obj=problem.n_obj,
                         n_ieq_constr=problem.n_constr, xl=lo[self.free], xu=hi[self.free])

    def designs(self, Z: np.ndarray) -> np.ndarray:
        full = np.empty((len(Z), self.problem.n_var))
        full[:, self.free] = Z
        for i, v in self.fixed.items():
            full[:, i] = v
        return np.asarray(self.problem.decode(full))

    def _evaluate(self, Z: np.ndarray, out: dict[str, Any], *args: Any, **kwargs: Any) -> None:
        X = self.designs(np.asarray(Z, float))
        F, G = self.problem.evaluate(X, constraints=True)
        self.archive.n_evals += len(X)
        self.archive.add(X, F, G)
        out["F"] = np.where(np.isfinite(F), F, 1e30)
        out["G"] = G


class _Round(Repair):
    """Round the discrete (index) columns so pymoo's population holds exact designs."""

    def _do(self, problem: Any, X: np.ndarray, **kwargs: Any) -> np.ndarray:
        X = np.array(X, dtype=float)
        X[:, problem.discrete] = np.round(X[:, problem.discrete])
        return X


def _is_real(v: Any) -> bool:
    return not isinstance(v, Integer | Table)


def _discrete_combinations(problem: Problem) -> list[dict[int, float]]:
    """Every joint value of the discrete columns (index space), or ``[{}]`` if too many."""
    cols, ranges = [], []
    lo, hi = problem.relaxed_bounds()
    for i, v in enumerate(problem.variables):
        if not _is_real(v):
            cols.append(i)
            ranges.append(range(int(lo[i]), int(hi[i]) + 1))
    total = int(np.prod([len(r) for r in ranges])) if ranges else 0
    if not cols or total > _ENUMERATE_MAX:
        return [{}]
    return [dict(zip(cols, map(float, combo), strict=True))
            for combo in itertools.product(*ranges)]


def run_seed(job: tuple[str, str, dict[str, Any], int, int, int]) -> dict[str, Any]:
    """One seed of one target: NSGA-II on every discrete combination; the merged archive."""
    key, name, params, seed, evals, pop = job
    torch.set_num_threads(1)
    problem = get_problem(name, **params)
    archive = Archive(problem.n_var, problem.n_obj)
    t0 = time.perf_counter()
    for fixed in _discrete_combinations(problem):
        search = _Search(problem, fixed, archive)
        has_discrete = bool(search.discrete.any())
        algo = NSGA2(pop_size=pop, crossover=SBX(prob=0.9, eta=15), mutation=PM(eta=20),
                     repair=_Round() if has_discrete else None)
        minimize(search, algo, ("n_evals", evals), seed=seed, verbose=False)
    return {"key": key, "seed": seed, "X": archive.X, "F": archive.F,
            "n_evals": archive.n_evals, "seconds": time.perf_counter() - t0}


def polish_one(job: tuple[str, dict[str, Any], np.ndarray, np.ndarray, np.ndarray,
                           np.ndarray]) -> tuple[np.ndarray, np.ndarray] | None:
    """Epsilon-constraint SLSQP from one front design: a better feasible design, or ``None``.

    Minimises the first objective (normalised by ``lo``, ``span``) over the real columns of
    ``x0`` with the other objectives below ``f0``'s and every constraint below 0, both by a
    margin of 1e-10 (normalised), so that a polished design dominates its start strictly
    and the start leaves the front (with the caps exact, it could end a rounding error above
    one of them, and both would stay, the start up to 1.7 % of the range off the front).
    """
    name, params, x0, f0, lo, span = job
    torch.set_num_threads(1)
    problem = get_problem(name, **params)
    free = np.array([_is_real(v) for v in problem.variables])
    base = torch.tensor(x0)

    def values(z: np.ndarray, grad: bool) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
        zt = torch.tensor(z, requires_grad=grad)
        x = base.clone()
        x[torch.from_numpy(free)] = zt
        F, G = problem.evaluate(x, constraints=True, check=False)
        return zt, (F - torch.from_numpy(lo)) / torch.from_numpy(span), G

    def objective(z: np.ndarray) -> tuple[float, np.ndarray]:
        zt, Fn, _ = values(z, True)
        (g,) = torch.autograd.grad(Fn[0], zt)
        return float(Fn[0].detach()), g.numpy()

    cap = (f0[1:] - lo[1:]) / span[1:]

    def slack(z: np.ndarray, grad: bool = False) -> Any:
        zt, Fn, G = values(z, grad)
        c = torch.cat([torch.from_numpy(cap) - Fn[1:], -G]) - _POLISH_MARGIN
        if not grad:
            return c.detach().numpy()
        rows = [torch.autograd.grad(ci, zt, retain_graph=True)[0] for ci in c]
        return torch.stack(rows).numpy()

    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # SLSQP's "values outside bounds" notes
        res = scipy_minimize(
            objective, x0[free], jac=True, method="SLSQP",
            bounds=list(zip(problem.xl[free], problem.xu[free], strict=True)),
            constraints=[{"type": "ineq", "fun": slack, "jac": lambda z: slack(z, True)}],
            options={"maxiter": 300, "ftol": 1e-13},
        )
    x = x0.copy()
    x[free] = np.clip(res.x, problem.xl[free], problem.xu[free])
    F, G = problem.evaluate(x, constraints=True)
    # Any feasible design is a valid candidate (the non-dominated filter decides); one that
    # is not better in the objective it minimised is not worth keeping.
    if not (np.isfinite(F).all() and (G <= 0).all() and F[0] < f0[0]):
        return None
    return x, F


def polish(name: str, params: dict[str, Any], X: np.ndarray, F: np.ndarray, pool: Any,
           rounds: int) -> tuple[np.ndarray, np.ndarray, list[int]]:
    """``rounds`` polish rounds; each merges, filters and thins. Also, per round, how many
    polished designs are among the (thinned) result."""
    kept: list[int] = []
    for _ in range(rounds):
        lo = F.min(axis=0)
        span = np.maximum(F.max(axis=0) - lo, 1e-12)
        jobs = [(name, params, x, f, lo, span) for x, f in zip(X, F, strict=True)]
        done = [r for r in pool.map(polish_one, jobs, chunksize=16) if r is not None]
        n_old = len(X)
        if done:
            X = np.vstack([X, np.array([x for x, _ in done])])
            F = np.vstack([F, np.array([f for _, f in done])])
        keep = np.flatnonzero(feasible_front(F))
        keep = keep[thin_front(F[keep], MAX_FRONT_POINTS)]
        X, F = X[keep], F[keep]
        kept.append(int((keep >= n_old).sum()))
    return X, F, kept


def merge(runs: list[dict[str, Any]]) -> tuple[np.ndarray, np.ndarray]:
    X = np.vstack([r["X"] for r in runs])
    F = np.vstack([r["F"] for r in runs])
    keep = feasible_front(F)
    return X[keep], F[keep]


def report_check(key: str, name: str, params: dict[str, Any], runs: list[dict[str, Any]]) -> str:
    problem = get_problem(name, **params)
    _, F = merge(runs)
    front = problem.pareto_front()
    ref = problem.ref_point
    hv_front = hypervolume(front, ref)
    ratio = hypervolume(F, ref) / hv_front if hv_front > 0 else float("nan")
    span = np.maximum(front.max(axis=0) - front.min(axis=0), 1e-12)
    beats = (F[:, None, :] < front[None, :, :] - 1e-6 * span).all(axis=-1).any(axis=1)
    evals = sum(r["n_evals"] for r in runs)
    flag = "" if (not beats.any() and ratio <= 1.001) else "  <-- check the computed front"
    return (f"{key:26s} runs {len(runs)} evals {evals:>9d} archive {len(F):>6d} "
            f"HV(archive)/HV(front) {ratio:.5f} beating points {int(beats.sum())}{flag}")


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--problems", default=None,
                    help="comma-separated keys (default: all stored, or all computed with "
                         "--check); keys: " + ", ".join([*STORED, *COMPUTED]))
    ap.add_argument("--check", action="store_true",
                    help="check the computed fronts against NSGA-II instead of building")
    ap.add_argument("--seeds", default="0,1,2,3,4")
    ap.add_argument("--evals", type=int, default=600_000, help="evaluations per run")
    ap.add_argument("--pop", type=int, default=500, help="NSGA-II population")
    ap.add_argument("--jobs", type=int, default=2, help="worker processes")
    ap.add_argument("--polish-rounds", type=int, default=2,
                    help="rounds of the epsilon-constraint polish (0: none)")
    ap.add_argument("--polish-only", action="store_true",
                    help="only polish the stored fronts again (no NSGA-II runs)")
    ap.add_argument("--quick", action="store_true",
                    help="smoke run: 2 seeds x 20k evaluations, population 100, one polish "
                         "round, nothing written")
    args = ap.parse_args()
    if args.quick:
        args.seeds, args.evals, args.pop, args.polish_rounds = "0,1", 20_000, 100, 1
    table = COMPUTED if args.check else STORED
    keys = args.problems.split(",") if args.problems else list(table)
    unknown = [k for k in keys if k not in STORED and k not in COMPUTED]
    if unknown:
        raise SystemExit(f"error: unknown key(s) {unknown}; valid: {[*STORED, *COMPUTED]}")
    if args.polish_only and [k for k in keys if k not in STORED]:
        raise SystemExit(f"error: --polish-only takes stored keys only: {list(STORED)}")
    seeds = [int(s) for s in args.seeds.split(",")]
    targets = {k: {**STORED, **COMPUTED}[k] for k in keys}
    t0 = time.perf_counter()
    with Pool(args.jobs) as pool:
        for key, (name, params) in targets.items():
            if args.polish_only:
                repolish(key, name, params, args, pool)
                continue
            jobs = [(key, name, params, s, args.evals, args.pop) for s in seeds]
            runs = []
            for run in pool.imap_unordered(run_seed, jobs):
                runs.append(run)
                print(f"  {key} seed {run['seed']}: {run['n_evals']} evaluations, archive "
                      f"{len(run['F'])}, {run['seconds']:.0f} s "
                      f"[{time.perf_counter() - t0:.0f} s total]", flush=True)
            runs.sort(key=lambda r: r["seed"])
            if args.check or key in COMPUTED:
                print(report_check(key, name, params, runs), flush=True)
            else:
                build(key, name, params, runs, seeds, args, pool)


def repolish(key: str, name: str, params: dict[str, Any], args: argparse.Namespace,
             pool: Any) -> None:
    """Polish a stored front again and write it back, its ``meta`` extended."""
    stored = load_front(key)
    X, F, kept = polish(name, params, stored.X, stored.F, pool, args.polish_rounds)
    meta = dict(stored.meta)
    meta["polish_kept"] = [*meta.get("polish_kept", []), *kept]
    meta["polish_rounds"] = meta.get("polish_rounds", 0) + args.polish_rounds
    meta["stored_points"] = len(F)
    path = save_front(key, X, F, meta)
    print(f"{key:26s} polished designs kept per round {kept}, {len(F)} stored in "
          f"{path.name}", flush=True)


def build(key: str, name: str, params: dict[str, Any], runs: list[dict[str, Any]],
          seeds: list[int], args: argparse.Namespace, pool: Any) -> None:
    """Merge one target's runs, thin, polish, and write (or, with --quick, just report)."""
    import pymoo

    X, F = merge(runs)
    n_merged = len(F)
    idx = thin_front(F, MAX_FRONT_POINTS)
    t0 = time.perf_counter()
    X, F, kept = polish(name, params, X[idx], F[idx], pool, args.polish_rounds)
    meta = {
        "problem": name, "params": params, "algorithm": "pymoo NSGA-II",
        "pymoo_version": pymoo.__version__, "pop_size": args.pop,
        "evaluations_per_run": args.evals, "seeds": seeds,
        "combinations": len(_discrete_combinations(get_problem(name, **params))),
        "total_evaluations": int(sum(r["n_evals"] for r in runs)),
        "merged_front_points": n_merged,
        "polish": "SLSQP epsilon-constraint (min f1, other objectives capped)",
        "polish_rounds": args.polish_rounds, "polish_kept": kept,
        "stored_points": len(F), "built_by": "bench/build_engineering_fronts.py",
    }
    wall = sum(r["seconds"] for r in runs)
    polish_s = time.perf_counter() - t0
    if args.quick:
        print(f"{key:26s} (quick, not written) {meta['total_evaluations']} evaluations, "
              f"{len(F)} front points, polished designs kept per round {kept}, {wall:.0f} s "
              f"of runs, {polish_s:.0f} s of polish", flush=True)
        return
    path = save_front(key, X, F, meta)
    print(f"{key:26s} {meta['total_evaluations']:>9d} evaluations, {n_merged} merged front "
          f"points, polished designs kept per round {kept}, {len(F)} stored in {path.name} "
          f"({path.stat().st_size // 1024} KiB), {wall:.0f} s of runs, {polish_s:.0f} s of "
          f"polish", flush=True)


if __name__ == "__main__":
    main()
