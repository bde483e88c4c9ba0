"""The advisor's advice on built-in problems next to the sweeps' measured hypervolumes.

For each problem: the advisor's diagnosis (:func:`dse.advisor.diagnose_problem`, its front
probe spending ``--probe-budget`` objective evaluations at seed 0), then the sweep it advises
(:attr:`~dse.advisor.Report.sweep`) and the one it advises against, each run at the same
``--budget`` objective evaluations on seeds 1..``--seeds`` (not the probe's), measured as the
hypervolume ratio to the problem's known front (w.r.t. ``problem.ref_point``). Weighted sum,
Chebyshev and EPO are all shown.

``ok``: the advised sweep's mean ratio is at least the other's (``yes``), or falls short by
less than two standard errors of the paired difference over the seeds (``tie``: the seeds
cannot tell the two apart, so either advice is as good); ``NO`` otherwise.

    python bench/bench_advisor.py                 # every 2-3 objective built-in with a front
    python bench/bench_advisor.py --quick         # the subset tests/test_advisor.py checks
    python bench/bench_advisor.py --problems zdt1,pmtl_concave --seeds 3
"""

from __future__ import annotations

import time
import warnings

import numpy as np
from _timing import bench_parser

from dse.advisor import diagnose_problem
from dse.indicators import hypervolume_ratio
from dse.problem import Problem, list_problems
from dse.problem_specs import build_problem
from dse.solvers import solve

#: The subset tests/test_advisor.py checks: fronts where the seeds separate the methods
#: (concave, convex with bunched weighted-sum points, and one a weighted sum covers).
QUICK = ("pmtl_concave", "zdt1", "zdt2", "dtlz2", "bnh")
METHODS = ("weighted_sum", "chebyshev", "epo")


def builtin_problems() -> list[str]:
    """Registered problems the advisor's front probe takes: 2-3 objectives, differentiable,
    with a known front and a reference point to measure against."""
    names = []
    for name in list_problems():
        p = build_problem(name)
        if not (p.n_obj in (2, 3) and getattr(p, "has_relaxation", False)
                and getattr(p, "ref_point", None) is not None):
            continue
        try:
            front = p.pareto_front()
        except (NotImplementedError, ValueError):
            front = None
        if front is not None and len(front):
            names.append(name)
    return names


def measured(problem: Problem, method: str, budget: int, seed: int, device: str,
             n_points: int) -> float:
    """Hypervolume ratio to the known front of one sweep (0 without a feasible design)."""
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", RuntimeWarning)
        res = solve(problem, method, budget=budget, seed=seed, device=device,
                    n_points=n_points)
    if not len(res.front_F):
        return 0.0
    return float(hypervolume_ratio(res.front_F, problem.pareto_front(), problem.ref_point,
                                   nan="drop"))


def main() -> None:
    ap = bench_parser(__doc__)
    ap.add_argument("--problems", default=None, help="comma-separated names (default: all)")
    ap.add_argument("--budget", type=int, default=200,
                    help="objective evaluations of each checked sweep (default 200: the "
                         "probe's per-arm budget)")
    ap.add_argument("--probe-budget", type=int, default=400,
                    help="the advisor's front probe budget, both arms (default 400)")
    ap.add_argument("--steps", type=int, default=60, help="advisor descent steps (default 60)")
    ap.add_argument("--seeds", type=int, default=4, help="checked seeds 1..N (default 4)")
    ap.add_argument("--points", type=int, default=0,
                    help="preferences of each checked sweep (default 0: 8 for two objectives, "
                         "10 for three, as the probe)")
    args = ap.parse_args()
    names = (args.problems.split(",") if args.problems
             else list(QUICK) if args.quick else builtin_problems())
    seeds = range(1, 1 + (2 if args.quick else args.seeds))
    print(f"advice (probe {args.probe_budget} evaluations, seed 0) vs measured HV ratio to "
          f"the known front (sweeps of {args.budget} evaluations, seeds {list(seeds)}, mean)")
    print(f"{'problem':16s} {'shape':12s} {'verdict':12s} {'probe ws/ch':>12s} "
          f"{'advised':>13s} {'other':>13s} {'diff':>15s} {'ok':4s} "
          f"{'ws':>6s} {'cheb':>6s} {'epo':>6s}   time")
    counts = {"yes": 0, "tie": 0, "NO": 0, "-": 0}
    for name in names:
        t0 = time.perf_counter()
        problem = build_problem(name)
        n_points = args.points or {2: 8, 3: 10}[problem.n_obj]
        r = diagnose_problem(problem, steps=args.steps, device=args.device,
                             probe_budget=args.probe_budget, pretrain_probe=False)
        f = r.front
        if f is None or r.sweep is None:
            counts["-"] += 1
            shape = "-" if f is None else f.shape
            print(f"{name:16s} {shape:12s} no sweep advised: {r.advice}", flush=True)
            continue
        hv = {m: np.array([measured(problem, m, args.budget, s, args.device, n_points)
                           for s in seeds]) for m in METHODS}
        d = hv[r.sweep] - hv[r.sweep_alternative]
        se = float(d.std(ddof=1) / np.sqrt(len(d))) if len(d) > 1 else 0.0
        ok = "yes" if d.mean() >= 0 else "tie" if d.mean() > -2 * se else "NO"
        counts[ok] += 1
        probe = f"{f.hv['weighted_sum']:.3f}/{f.hv['chebyshev']:.3f}"
        diff = f"{d.mean():+.3f}±{se:.3f}"
        print(f"{name:16s} {f.shape:12s} {f.verdict or '-':12s} {probe:>12s} "
              f"{r.sweep:>13s} {r.sweep_alternative:>13s} {diff:>15s} {ok:4s} "
              f"{hv['weighted_sum'].mean():6.3f} {hv['chebyshev'].mean():6.3f} "
              f"{hv['epo'].mean():6.3f} {time.perf_counter() - t0:5.1f}s", flush=True)
    print(f"advised sweep at least as good: {counts['yes']}, within noise: {counts['tie']}, "
          f"worse: {counts['NO']}, no sweep advised: {counts['-']} (of {len(names)})")


if __name__ == "__main__":
    main()
