"""Overhead of dse's NSGA-II over raw pymoo: same problem, seed and budget, side by side.

Raw pymoo runs ``NSGA2(pop_size)`` with its default operators (SBX eta 15 prob 0.9,
polynomial mutation eta 20, the ones dse passes) on pymoo's own ZDT1; dse runs
``dse.solve(zdt1, "nsga2")`` with the same budget and seed, so both draw the same random
numbers and search the same designs. What dse adds per generation is its bookkeeping:
the torch evaluation behind :meth:`dse.Problem.evaluate`, evaluation counting, the exact
non-dominated archive and a hypervolume checkpoint (:class:`dse.solvers._history.RunRecorder`).

For each budget it prints the median wall time of each route over ``--repeats`` rounds
(after one warm-up run of each), the ratio dse / raw, and whether the fronts are
identical: the final populations must hold the same designs in the same order (exactly)
and the same objective values (to the last bits that torch and numpy may round
differently: ``rtol=1e-12``). A mismatch is an error.

A round runs both routes back to back, in alternating order, and the ratio is the median
of the rounds' ratios: on a shared machine the load drifts by more than the overhead
measured here, and two runs a second apart see nearly the same load. The same ratio of
process CPU times (``cpu dse/pymoo``) leaves out the time the process waited for a core,
which on a loaded machine is most of the scatter of the wall-time ratio.

Goal: ratio < 1.05 on CPU.

Usage::

    OMP_NUM_THREADS=1 python bench/bench_overhead.py [--budgets 10000 40000] [--repeats 9]
                                                     [--quick]
"""

from __future__ import annotations

import argparse
import statistics
import time
from collections.abc import Callable
from functools import partial

import numpy as np
import pymoo
import torch
from pymoo.algorithms.moo.nsga2 import NSGA2
from pymoo.optimize import minimize
from pymoo.problems import get_problem as pymoo_problem

import dse


def raw_pymoo(n_var: int, budget: int, pop_size: int, seed: int) -> tuple[np.ndarray, np.ndarray]:
    """Final population ``(X, F)`` of pymoo's NSGA-II, as many generations as dse runs."""
    n_gen = 1 + (budget - pop_size) // pop_size  # dse's rule (see dse.solvers._evolutionary)
    res = minimize(pymoo_problem("zdt1", n_var=n_var), NSGA2(pop_size=pop_size),
                   ("n_gen", n_gen), seed=seed, verbose=False)
    return res.pop.get("X"), res.pop.get("F")


def dse_nsga2(n_var: int, budget: int, pop_size: int, seed: int) -> tuple[np.ndarray, np.ndarray]:
    """Final population ``(X, F)`` of dse's NSGA-II (the result's first ``n_final`` rows)."""
    res = dse.solve(dse.get_problem("zdt1", n_var=n_var), "nsga2", budget=budget, seed=seed,
                    pop_size=pop_size)
    n = res.config["n_final"]
    return res.X[:n], res.F[:n]


def paired_times(
    base: Callable[[], object], other: Callable[[], object], repeats: int
) -> tuple[list[tuple[float, float]], list[tuple[float, float]], tuple[object, object]]:
    """``(wall, cpu)`` seconds of ``base`` and of ``other`` in ``repeats`` rounds that run
    both back to back (``base`` first in even rounds, ``other`` first in odd ones), after
    one warm-up run of each; also the outputs of the warm-up runs."""
    outputs = (base(), other())
    t_base: list[tuple[float, float]] = []
    t_other: list[tuple[float, float]] = []
    for r in range(repeats):
        order = [(base, t_base), (other, t_other)]
        for fn, times in order if r % 2 == 0 else order[::-1]:
            t0, c0 = time.perf_counter(), time.process_time()
            fn()
            times.append((time.perf_counter() - t0, time.process_time() - c0))
    return t_base, t_other, outputs


def median_ratio(num: list[tuple[float, float]], den: list[tuple[float, float]],
                 which: int) -> float:
    """Median over rounds of ``num / den`` (``which``: 0 wall time, 1 CPU time)."""
    return statistics.median(a[which] / b[which] for a, b in zip(num, den, strict=True))


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--budgets", type=int, nargs="+", default=[10000, 40000])
    ap.add_argument("--repeats", type=int, default=9)
    ap.add_argument("--n-var", type=int, default=30)
    ap.add_argument("--pop-size", type=int, default=100)
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--threads", type=int, default=1,
                    help="torch CPU threads (1: pymoo's numpy route is single-threaded too, "
                         "and spinning threads on a busy machine distort timings)")
    ap.add_argument("--quick", action="store_true", help="small budget, for a smoke test")
    args = ap.parse_args()
    torch.set_num_threads(args.threads)
    budgets = [2000] if args.quick else args.budgets
    repeats = 2 if args.quick else args.repeats
    print(f"# zdt1 n_var={args.n_var} pop_size={args.pop_size} seed={args.seed} "
          f"repeats={repeats} threads={torch.get_num_threads()} pymoo={pymoo.__version__} "
          f"torch={torch.__version__}")
    print("#  budget  n_gen   pymoo_s     dse_s  dse/pymoo  fronts_identical  cpu dse/pymoo")
    failed = []
    for budget in budgets:
        args_run = (args.n_var, budget, args.pop_size, args.seed)
        t_raw, t_dse, ((X_raw, F_raw), (X_dse, F_dse)) = paired_times(
            partial(raw_pymoo, *args_run), partial(dse_nsga2, *args_run), repeats)
        same = bool(np.array_equal(X_raw, X_dse)
                    and np.allclose(F_raw, F_dse, rtol=1e-12, atol=0.0))
        if not same:
            failed.append(budget)
        n_gen = 1 + (budget - args.pop_size) // args.pop_size
        print(f"{budget:9d} {n_gen:6d} {statistics.median(t[0] for t in t_raw):9.3f} "
              f"{statistics.median(t[0] for t in t_dse):9.3f} "
              f"{median_ratio(t_dse, t_raw, 0):10.3f}  {same!s:16s}  "
              f"{median_ratio(t_dse, t_raw, 1):13.3f}")
    if failed:
        raise SystemExit(f"fronts differ from raw pymoo's at budget(s) {failed}")


if __name__ == "__main__":
    main()
