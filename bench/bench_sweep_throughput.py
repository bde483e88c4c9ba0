"""Throughput of a batched gradient sweep vs the same runs one at a time.

A sweep of B preference vectors is one tensor program (z of shape (B, n)); the baseline
runs the B subproblems one after the other, each from the same start with the same
preference, the same number of steps and the same settings. Both go through
``dse.solvers.solve``, so both pay the same bookkeeping per run (history, archive, final
exact evaluation). Stationarity stopping is switched off (``ftol=0``) so that both do
exactly ``steps`` steps per subproblem. Prints one line per measurement and the ratio.

Goal: >= 20x on CPU for B = 256 (>= 100x on a GPU).

    python bench/bench_sweep_throughput.py [--device cpu|cuda|auto] [--quick]
"""

from __future__ import annotations

import time

import numpy as np
import torch
from _timing import bench_parser, synchronizer

from dse.problem import get_problem
from dse.solvers import preference_vectors, resolve_device, solve


def main() -> None:
    ap = bench_parser(__doc__)
    ap.add_argument("--methods", default="chebyshev,mgda", help="comma-separated sweeps")
    ap.add_argument("--problem", default="zdt1")
    ap.add_argument("--n-var", type=int, default=30)
    ap.add_argument("--points", type=int, default=256, help="B, preference vectors")
    ap.add_argument("--steps", type=int, default=100)
    ap.add_argument("--dtype", default="float32", choices=["float32", "float64"])
    ap.add_argument("--threads", type=int, default=1,
                    help="torch CPU threads for both sides (1: the ratio measures batching, "
                         "not parallelism, and stays stable on a shared machine)")
    args = ap.parse_args()
    torch.set_num_threads(args.threads)
    if args.quick:
        args.points, args.steps = 32, 20
    device = resolve_device(args.device)
    problem = get_problem(args.problem, n_var=args.n_var)
    B, steps = args.points, args.steps
    P = preference_vectors("random", B, problem.n_obj, seed=0)
    lo, hi = problem.relaxed_bounds()
    starts = np.random.default_rng(0).uniform(lo, hi, size=(B, problem.n_relaxed))
    common = dict(
        budget=B * steps, device=device, ftol=0.0, max_steps=steps, checkpoint_every=steps,
        dtype=args.dtype,
    )
    print(f"problem={args.problem} n_var={args.n_var} B={B} steps={steps} device={device} "
          f"dtype={args.dtype} threads={torch.get_num_threads()}")
    for method in args.methods.split(","):
        _measure(problem, method.strip(), P, starts, common, B, steps, device)


def _measure(problem, method, P, starts, common, B, steps, device) -> None:  # type: ignore[no-untyped-def]
    sync = synchronizer(device)
    # Warm-up (first-call allocations, CUDA context) outside the timings.
    solve(problem, method, preferences=P[:2], init=starts[:2], **{**common, "budget": 2 * steps})

    # The batched run is short: the median of three keeps one hiccup from deciding it.
    times = []
    for _ in range(3):
        sync()
        t0 = time.perf_counter()
        batched = solve(problem, method, preferences=P, init=starts, **common)
        sync()
        times.append(time.perf_counter() - t0)
    t_batched = float(np.median(times))

    one = {**common, "budget": steps}
    t0 = time.perf_counter()
    singles = [
        solve(problem, method, preferences=P[i : i + 1], init=starts[i : i + 1], **one)
        for i in range(B)
    ]
    sync()
    t_single = time.perf_counter() - t0

    # Fixed cost of one solve() call (bookkeeping, final evaluation): a 1-step run.
    t0 = time.perf_counter()
    for i in range(min(B, 32)):
        solve(problem, method, preferences=P[i : i + 1], init=starts[i : i + 1],
              **{**one, "budget": 1, "max_steps": 1, "checkpoint_every": 1})
    sync()
    t_fixed = (time.perf_counter() - t0) / min(B, 32)

    n_single = sum(r.n_evals for r in singles)
    print(f"[{method}] batched    : {t_batched:8.3f} s  {batched.n_evals:8d} evals  "
          f"{batched.n_evals / t_batched:12.0f} evals/s")
    print(f"[{method}] one-by-one : {t_single:8.3f} s  {n_single:8d} evals  "
          f"{n_single / t_single:12.0f} evals/s  (fixed cost per solve() call "
          f"{1000 * t_fixed:.2f} ms = {100 * B * t_fixed / t_single:.0f}% of it)")
    print(f"[{method}] speed-up batched vs one-by-one: {t_single / t_batched:.1f}x "
          f"(goal >= 20x on CPU, >= 100x on GPU)")


if __name__ == "__main__":
    main()
