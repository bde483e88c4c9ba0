"""Evaluations and wall time each method needs to reach 95% / 99% of the true front's HV.

Problems: ZDT1, ZDT2, ZDT3 (2 objectives) and DTLZ2 (3 objectives), at n_var = 30 and at
n_var = 1000. Every method runs through ``dse.solvers.solve`` with its defaults, except
the sizes set here: gradient sweeps use 100 preference vectors for 2 objectives and 300
for 3 (a perfect set of N points on DTLZ2's sphere, one per Das-Dennis ray, gives 90.8%
of the HV at N = 66, 95.3% at 231, 95.9% at 300 and 98.8% at 3321: fewer than ~230 points
cannot reach 95%) and record a checkpoint after every step (free for all-real problems: the
step's own evaluation is exact); evolutionary methods use population 100 and record one per
generation (100 evaluations). The hypervolume is that of the run's archive (all exact
evaluations so far) w.r.t. the problem's reference point (nadir + 10% of the range); the
true front's HV is computed from a 5000-point sample of the front (2 objectives) or
analytically for DTLZ2 (``1.1^3 - pi/6``). ``-`` = not reached within the budget.

Gradient methods run first. At n_var > 30, NSGA-II then gets a budget of
``max(budget, 50 x the largest evaluation count a gradient method needed)`` evaluations,
capped by ``--nsga2-cap``: when it has not reached a level within that budget, the ratio
``>= b / g`` is a proven lower bound (in particular ``>= 50`` when the budget reached 50 g).

Ratios print ``NSGA-II evaluations / gradient evaluations`` for each gradient method
(goal: >= 5 at n_var = 30, >= 50 at n_var = 1000), then whether the goal is met (``yes``,
``no``, or ``?`` when NSGA-II's budget was too small to tell).

    python bench/bench_compare.py [--quick] [--device cpu|cuda|auto]
"""

from __future__ import annotations

import math
import time

import numpy as np
from _timing import bench_parser

from dse.indicators import hypervolume
from dse.problem import get_problem
from dse.solvers import list_solvers, resolve_device, solve

LEVELS = (0.95, 0.99)
GRADIENT = ["weighted_sum", "chebyshev", "epo", "mgda", "cagrad", "gradient"]
EVOLUTIONARY = ["nsga2", "nsga3", "moead", "smsemoa", "agemoea2", "random"]


def true_hv(problem) -> float:  # type: ignore[no-untyped-def]
    ref = problem.ref_point
    if problem.name == "dtlz2" and np.allclose(ref, 1.1):
        return 1.1**problem.n_obj - math.pi ** (problem.n_obj / 2) / (
            2**problem.n_obj * math.gamma(problem.n_obj / 2 + 1)
        )
    return float(hypervolume(problem.pareto_front(5000), ref))


def reach(hist, hv_true: float, level: float) -> tuple[float | None, float | None]:  # type: ignore[no-untyped-def]
    ok = np.flatnonzero(hist["hypervolume"].to_numpy() >= level * hv_true)
    if not ok.size:
        return None, None
    i = ok[0]
    return float(hist["n_evals"].iloc[i]), float(hist["wall_time"].iloc[i])


def fmt(v: float | None, kind: str) -> str:
    if v is None:
        return "-"
    return f"{int(v)}" if kind == "evals" else f"{v:.2f}"


def main() -> None:
    ap = bench_parser(__doc__, device_help="cpu, cuda or auto (gradient sweeps)",
                      quick_help="small budgets, two methods each")
    ap.add_argument("--sizes", default="30,1000", help="n_var values")
    ap.add_argument("--problems", default="zdt1,zdt2,zdt3,dtlz2")
    ap.add_argument("--methods", default=",".join(GRADIENT + EVOLUTIONARY))
    ap.add_argument("--evo-at-1000", default="nsga2,random",
                    help="evolutionary methods also run at n_var=1000 (others skipped: slow)")
    ap.add_argument("--budget-2obj", type=int, default=50_000)
    ap.add_argument("--budget-3obj", type=int, default=100_000)
    ap.add_argument("--budget-3obj-1000", type=int, default=60_000,
                    help="3-objective budget at n_var=1000 (NSGA-II is slow there)")
    ap.add_argument("--nsga2-cap", type=int, default=1_000_000,
                    help="largest NSGA-II budget at n_var > 30 (see the module docstring)")
    ap.add_argument("--seed", type=int, default=0)
    args = ap.parse_args()
    device = resolve_device(args.device)
    methods = [m.strip() for m in args.methods.split(",")]
    kinds = {d["name"]: d["kind"] for d in list_solvers()}
    if args.quick:
        methods = [m for m in ("chebyshev", "nsga2") if m in methods] or methods[:2]
        args.sizes, args.problems = "30", "zdt1,dtlz2"
        args.budget_2obj, args.budget_3obj = 10_000, 30_000
        args.nsga2_cap = 30_000
    evo_big = {m.strip() for m in args.evo_at_1000.split(",")}
    print(f"device={device} seed={args.seed} budgets: 2 obj {args.budget_2obj}, "
          f"3 obj {args.budget_3obj} ({args.budget_3obj_1000} at n_var=1000) evaluations")
    header = (f"{'problem':8s} {'n_var':>5s} {'method':13s} {'evals95':>8s} {'evals99':>8s} "
              f"{'time95':>7s} {'time99':>7s} {'final%':>7s} {'n_evals':>8s} {'grads':>8s} "
              f"{'wall':>7s}")
    table: dict[tuple[str, int, str], tuple] = {}
    for size in (int(s) for s in args.sizes.split(",")):
        for pname in args.problems.split(","):
            kw = {"n_var": size} if pname.startswith("zdt") else {"n_var": size, "n_obj": 3}
            problem = get_problem(pname, **kw)
            hv_true = true_hv(problem)
            budget = args.budget_2obj if problem.n_obj == 2 else (
                args.budget_3obj if size <= 30 else args.budget_3obj_1000)
            print(header)
            most = 0.0  # largest count a gradient method needed for a level it reached
            order = sorted(methods, key=lambda m: kinds[m] != "gradient")
            for method in order:
                if kinds[method] == "evolutionary" and size > 30 and method not in evo_big:
                    continue
                params: dict = {}
                if kinds[method] == "gradient":
                    params = {"n_points": 100 if problem.n_obj == 2 else 300}
                    params["checkpoint_every"] = 1
                run_budget = budget
                if method == "nsga2" and size > 30:
                    # Whole generations of 100: pymoo never runs a partial one, so the
                    # budget is rounded up to reach 50 x at least.
                    need = 100 * math.ceil(50 * most / 100)
                    run_budget = min(args.nsga2_cap, max(budget, need))
                t0 = time.perf_counter()
                try:
                    res = solve(problem, method, budget=run_budget, seed=args.seed, device=device,
                                **params)
                except Exception as exc:  # a third-party solver failing must not end the run
                    print(f"{pname:8s} {size:5d} {method:13s} failed: "
                          f"{type(exc).__name__}: {exc}", flush=True)
                    continue
                wall = time.perf_counter() - t0
                e95, t95 = reach(res.history, hv_true, 0.95)
                e99, t99 = reach(res.history, hv_true, 0.99)
                final = 100 * res.history["hypervolume"].iloc[-1] / hv_true
                table[(pname, size, method)] = (e95, e99, res.n_evals)
                if kinds[method] == "gradient":
                    most = max([most] + [e for e in (e95, e99) if e is not None])
                print(f"{pname:8s} {size:5d} {method:13s} {fmt(e95, 'evals'):>8s} "
                      f"{fmt(e99, 'evals'):>8s} {fmt(t95, 't'):>7s} {fmt(t99, 't'):>7s} "
                      f"{final:7.2f} {res.n_evals:8d} {res.n_grad_evals:8d} {wall:7.2f}",
                      flush=True)
    print()
    print("NSGA-II evaluations / gradient-method evaluations to reach each level "
          "(>= : NSGA-II did not reach it within the evaluations shown)")
    print(f"{'problem':8s} {'n_var':>5s} {'method':13s} {'nsga2_95':>9s} {'ratio95':>9s} "
          f"{'nsga2_99':>9s} {'ratio99':>9s} {'goal':>5s} {'met95':>6s} {'met99':>6s}")
    for (pname, size, method), (e95, e99, _) in table.items():
        if kinds[method] != "gradient" or (pname, size, "nsga2") not in table:
            continue
        n95, n99, n_used = table[(pname, size, "nsga2")]
        goal = 5.0 if size <= 30 else 50.0
        cells, met, spent = [], [], []
        for g, n in ((e95, n95), (e99, n99)):
            spent.append(fmt(n, "evals") if n is not None else f">{n_used}")
            if g is None:
                cells.append("-")
                met.append("no" if n is not None else "-")
            elif n is None:
                cells.append(f">={n_used / g:.1f}")
                met.append("yes" if n_used / g >= goal else "?")
            else:
                cells.append(f"{n / g:.1f}")
                met.append("yes" if n / g >= goal else "no")
        print(f"{pname:8s} {size:5d} {method:13s} {spent[0]:>9s} {cells[0]:>9s} "
              f"{spent[1]:>9s} {cells[1]:>9s} {goal:5.0f} {met[0]:>6s} {met[1]:>6s}")


if __name__ == "__main__":
    main()
