"""Hypervolume ratios of NSGA-II, the gradient sweeps and the hybrid on the engineering family.

Every problem of ``problems/engineering`` (continuous defaults and the mixed variants: SRN
with an integer ``x1``, truss, welded beam and car side impact with table variables) runs
through ``dse.solvers.solve(problem, method, budget=..., seed=s, device=...)`` with the
method's defaults, for each method and seed. The score of a run is the hypervolume of its
feasible front (``Result.front_F``) over the reference front's (``problem.pareto_front()``),
both w.r.t. ``problem.ref_point``; an empty front scores 0. A run that raises is counted as
failed (the ``ok`` column), left out of its method's mean, and listed at the end with the
exact call and its traceback, once per distinct error.

One row per (problem, method): mean and minimum ratio over the seeds that ran, mean
evaluations used and mean wall time. Then one row per problem: the best gradient or hybrid
method by mean ratio, its mean, NSGA-II's, the difference, and whether it is at least
NSGA-II's (``yes``/``no``; ``*`` when a compared method failed on some seed, ``-`` when
either is missing).

    python bench/bench_engineering.py [--quick] [--problems KEY,...] [--methods a,b]
        [--seeds 0,1,2,3,4] [--budget 10000] [--device cpu|cuda|auto]

Problem keys are registry names, with ``-integer`` / ``-discrete`` for the variants.
``--quick`` runs seed 0 on seven problems (every kind of variable and front, 3-4 minutes on
two CPU cores); the whole table with five seeds takes about half an hour there.
"""

from __future__ import annotations

import argparse
import statistics
import time
import traceback
import warnings
from typing import Any

import numpy as np

from dse.indicators import hypervolume
from dse.problem import Problem, get_problem
from dse.solvers import list_solvers, resolve_device, solve

#: Key -> (registry name, parameters), in the order of the table.
CASES: dict[str, tuple[str, dict[str, Any]]] = {
    "bnh": ("bnh", {}),
    "srn": ("srn", {}),
    "srn-integer": ("srn", {"integer": True}),
    "osy": ("osy", {}),
    "tnk": ("tnk", {}),
    "truss2d": ("truss2d", {}),
    "truss2d-discrete": ("truss2d", {"discrete": True}),
    "welded_beam": ("welded_beam", {}),
    "welded_beam-discrete": ("welded_beam", {"discrete": True}),
    "car_side_impact": ("car_side_impact", {}),
    "car_side_impact-discrete": ("car_side_impact", {"discrete": True}),
    **{f"mw{i}": (f"mw{i}", {}) for i in range(1, 15)},
}
DEFAULT_METHODS = "nsga2,chebyshev,epo,weighted_sum,hybrid"
#: --quick: one seed on a subset that has every kind of variable and front.
QUICK_CASES = "bnh,srn-integer,truss2d-discrete,welded_beam-discrete,car_side_impact,mw1,mw4"


def hv_ratio(front_F: np.ndarray, problem: Problem, hv_ref: float) -> float:
    """HV of ``front_F`` over the reference front's HV, both w.r.t. ``problem.ref_point``."""
    if not len(front_F):
        return 0.0
    with warnings.catch_warnings():
        # A front entirely beyond the reference point scores 0; that is the answer here.
        warnings.simplefilter("ignore")
        return hypervolume(front_F, problem.ref_point) / hv_ref


def short_error(exc: BaseException, width: int = 90) -> str:
    first = (str(exc).strip().splitlines() or [""])[0]
    text = f"{type(exc).__name__}: {first}"
    return text if len(text) <= width else text[: width - 3] + "..."


def call_text(name: str, params: dict[str, Any], method: str, budget: int, seed: int,
              device: str) -> str:
    """The call that reproduces one run."""
    args = "".join(f", {k}={v!r}" for k, v in params.items())
    return (f"solve(get_problem({name!r}{args}), {method!r}, budget={budget}, seed={seed}, "
            f"device={device!r})")


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--problems", default=",".join(CASES),
                    help="comma-separated keys: " + ", ".join(CASES))
    ap.add_argument("--methods", default=DEFAULT_METHODS)
    ap.add_argument("--seeds", default="0,1,2,3,4")
    ap.add_argument("--budget", type=int, default=10_000, help="evaluations per run")
    # An empty feasible front scores 0 in the table; solve's warning about it would only
    # repeat that between the rows.
    warnings.filterwarnings("ignore", message=".*no feasible design", category=RuntimeWarning)
    ap.add_argument("--device", default="cpu", help="cpu, cuda or auto (gradient sweeps)")
    ap.add_argument("--quick", action="store_true",
                    help="seed 0 on a subset of problems: " + QUICK_CASES)
    args = ap.parse_args()
    if args.quick:
        args.seeds, args.problems = "0", QUICK_CASES
    keys = [k.strip() for k in args.problems.split(",")]
    unknown = [k for k in keys if k not in CASES]
    if unknown:
        raise SystemExit(f"error: unknown problem key(s) {unknown}; valid: {list(CASES)}")
    methods = [m.strip() for m in args.methods.split(",")]
    kinds = {d["name"]: d["kind"] for d in list_solvers()}
    bad = [m for m in methods if m not in kinds]
    if bad:
        raise SystemExit(f"error: unknown method(s) {bad}; valid: {sorted(kinds)}")
    seeds = [int(s) for s in args.seeds.split(",")]
    device = str(resolve_device(args.device))
    print(f"budget {args.budget} evaluations, seeds {seeds}, device {device}, "
          f"{len(keys)} problems x {len(methods)} methods", flush=True)

    rows: list[str] = []
    verdicts: list[str] = []
    errors: dict[str, list[str]] = {}  # traceback -> the calls that raised it
    t_start = time.perf_counter()
    for key in keys:
        name, params = CASES[key]
        problem = get_problem(name, **params)
        hv_ref = hypervolume(problem.pareto_front(), problem.ref_point)
        means: dict[str, float] = {}
        failed: set[str] = set()
        for method in methods:
            ratios, evals, walls = [], [], []
            for seed in seeds:
                t0 = time.perf_counter()
                try:
                    res = solve(problem, method, budget=args.budget, seed=seed, device=device)
                except Exception as exc:  # report and go on: one run must not end the bench
                    tb = "".join(traceback.format_exception(exc)).rstrip()
                    call = call_text(name, params, method, args.budget, seed, device)
                    errors.setdefault(tb, []).append(call)
                    failed.add(method)
                    print(f"  {key} {method} seed {seed}: FAILED {short_error(exc)}",
                          flush=True)
                    continue
                walls.append(time.perf_counter() - t0)
                ratios.append(hv_ratio(res.front_F, problem, hv_ref))
                evals.append(res.n_evals)
            ok = f"{len(ratios)}/{len(seeds)}"
            if not ratios:
                rows.append(f"{key:26s} {method:13s} {ok:>4s} {'failed':>8s}")
            else:
                means[method] = statistics.fmean(ratios)
                rows.append(f"{key:26s} {method:13s} {ok:>4s} {means[method]:8.4f} "
                            f"{min(ratios):8.4f} {statistics.fmean(evals):7.0f} "
                            f"{statistics.fmean(walls):7.2f}")
            print(rows[-1] + f"   [{time.perf_counter() - t_start:.0f} s]", flush=True)
        others = {m: v for m, v in means.items() if kinds[m] != "evolutionary"}
        if "nsga2" in means and others:
            best = max(others, key=others.__getitem__)
            diff = others[best] - means["nsga2"]
            flag = "*" if failed & {best, "nsga2"} else ""
            verdict = ("yes" if diff >= 0 else "no") + flag
            verdicts.append(f"{key:26s} {best:13s} {others[best]:8.4f} {means['nsga2']:8.4f} "
                            f"{diff:+8.4f} {verdict:>5s}")
        else:
            verdicts.append(f"{key:26s} {'-':13s} {'':8s} {'':8s} {'':8s} {'-':>5s}")

    print()
    print(f"{'problem':26s} {'method':13s} {'ok':>4s} {'HV mean':>8s} {'HV min':>8s} "
          f"{'evals':>7s} {'wall s':>7s}")
    print("\n".join(rows))
    print()
    print("best gradient/hybrid method vs NSGA-II (mean HV ratio over the seeds)")
    print(f"{'problem':26s} {'best':13s} {'its mean':>8s} {'nsga2':>8s} {'diff':>8s} "
          f"{'>=':>5s}")
    print("\n".join(verdicts))
    n_yes = sum(" yes" in v for v in verdicts)
    print(f"gradient/hybrid >= NSGA-II on {n_yes} of {len(verdicts)} problems; "
          f"{time.perf_counter() - t_start:.0f} s in all")
    if errors:
        print()
        print(f"errors ({sum(map(len, errors.values()))} runs, {len(errors)} distinct)")
        for tb, calls in errors.items():
            print()
            print("\n".join(calls))
            print(tb)


if __name__ == "__main__":
    main()
