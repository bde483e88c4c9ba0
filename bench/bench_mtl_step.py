"""Training-step cost of conflict-aware weightings relative to plain summed-loss training.

On MultiDigits (shared MLP encoder, two heads), times :func:`dse.train.train` with
``"mean"`` by one ordinary backward of the summed loss (the baseline) and with CAGrad,
MGDA and UPGrad, which need the per-task gradients of the shared parameters (exact
route: two ordinary backward passes for two tasks on the CPU, one vmapped backward
otherwise), and with the same methods on the MGDA-UB feature route
(``train(..., jacobian="features")``: weights from the Gramian w.r.t. the shared
representation, then one ordinary backward). Goal: step time at most 1.5x the baseline.

Time: each round runs every method once (the order rotates between rounds) and takes
its ratio to the same round's baseline, so slow spells of a shared machine hit both
sides of a ratio; the median and the range of the per-round ratios are printed.

FLOPs: matrix-multiply FLOPs per step counted by ``torch.utils.flop_counter`` (exact,
machine independent). The exact route needs the forward pass plus one trunk backward
per task, so on this model its floor is about 1.6x the baseline's FLOPs: its time ratio
stays below that only because the optimiser step and per-op overhead cost the same on
both sides.

Memory: on CUDA the peak allocated memory of a training run; on CPU (no allocator
statistics) the bytes allocated per step, from the torch profiler. Both relative to the
baseline.

Usage: python bench/bench_mtl_step.py [--device cpu|cuda|auto] [--threads N] [--quick]
"""

from __future__ import annotations

import argparse
import statistics
import sys
from pathlib import Path

import torch

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from dse.train import resolve_device, train
from problems.mtl import multidigits

METHODS = ("sum", "cagrad", "mgda", "upgrad", "cagrad/feat", "mgda/feat", "upgrad/feat")


def _args(method: str) -> tuple[str, dict]:
    """``"sum"``: one backward of the summed loss; ``"x/feat"``: MGDA-UB feature route."""
    if method == "sum":
        return "mean", {"track_gradients": False}
    name, _, mode = method.partition("/")
    return name, {"jacobian": "features" if mode == "feat" else "params"}


def _run(task, method: str, steps: int, device: torch.device) -> float:
    """Seconds per step of the training loop (evaluation excluded)."""
    name, kw = _args(method)
    res = train(task, name, steps=steps, device=device, progress=False, eval_splits=(), **kw)
    return res.wall_time / steps


def _flops(task, method: str, device: torch.device) -> float:
    """Matrix-multiply FLOPs of one training step (a 4-step run minus a 1-step run, so
    the one-off set-up work cancels)."""
    from torch.utils.flop_counter import FlopCounterMode

    name, kw = _args(method)
    total = []
    for steps in (1, 4):
        with FlopCounterMode(display=False) as counter:
            train(task, name, steps=steps, device=device, progress=False, eval_splits=(),
                  **kw)
        total.append(counter.get_total_flops())
    return (total[1] - total[0]) / 3


def _memory(task, method: str, device: torch.device) -> float:
    """Peak allocated bytes of a short run on CUDA; on the CPU, bytes allocated per step
    (a 5-step run minus a 1-step run, from the torch profiler)."""
    name, kw = _args(method)
    if device.type == "cuda":
        torch.cuda.synchronize()
        torch.cuda.reset_peak_memory_stats()
        train(task, name, steps=5, device=device, progress=False, eval_splits=(), **kw)
        torch.cuda.synchronize()
        return float(torch.cuda.max_memory_allocated())
    from torch.profiler import ProfilerActivity, profile

    total = []
    for steps in (1, 5):
        with profile(activities=[ProfilerActivity.CPU], profile_memory=True) as prof:
            train(task, name, steps=steps, device=device, progress=False, eval_splits=(), **kw)
        total.append(sum(max(e.self_cpu_memory_usage, 0) for e in prof.key_averages()))
    return (total[1] - total[0]) / 4


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--device", default="cpu", help="cpu, cuda or auto")
    ap.add_argument("--threads", type=int, default=1,
                    help="torch CPU threads (default 1: steady timings on a shared machine)")
    ap.add_argument("--rounds", type=int, default=None, help="timing rounds (default 9)")
    ap.add_argument("--quick", action="store_true", help="small sizes, for a smoke test")
    args = ap.parse_args()
    torch.set_num_threads(max(1, args.threads))
    dev = resolve_device(args.device)
    steps, rounds = (30, 2) if args.quick else (200, 9)
    rounds = args.rounds or rounds
    task = multidigits(2000 if args.quick else 6000, 10, 10, seed=0)
    print(f"device={dev} threads={torch.get_num_threads()} steps={steps} rounds={rounds} "
          f"batch={task.batch_size} hidden={task.info['hidden']}")
    for m in METHODS:  # warm-up (allocations, lazy imports, kernels)
        _run(task, m, 5, dev)
    times: dict[str, list[float]] = {m: [] for m in METHODS}
    for r in range(rounds):
        k = r % len(METHODS)
        for m in METHODS[k:] + METHODS[:k]:
            times[m].append(_run(task, m, steps, dev))
    ratios = {m: [t / b for t, b in zip(v, times["sum"], strict=True)] for m, v in times.items()}
    flops = {m: _flops(task, m, dev) for m in METHODS}
    mem = {m: _memory(task, m, dev) for m in METHODS}
    what = "peak allocated" if dev.type == "cuda" else "allocated per step"
    print(f"{'method':12s} {'ms/step':>8s} {'time ratio':>10s} {'(range)':>13s} "
          f"{'FLOP ratio':>10s} {'memory ratio':>12s}  ({what})")
    for m in METHODS:
        rat = statistics.median(ratios[m])
        print(f"{m:12s} {1e3 * statistics.median(times[m]):8.3f} {rat:10.2f} "
              f"{f'({min(ratios[m]):.2f}-{max(ratios[m]):.2f})':>13s} "
              f"{flops[m] / flops['sum']:10.2f} {mem[m] / mem['sum']:12.2f}  goal<=1.5: "
              f"{'met' if rat <= 1.5 else 'NOT met'}")
    floor = min(flops[m] for m in ("cagrad", "mgda", "upgrad")) / flops["sum"]
    print(f"exact route: forward + one backward per task = {floor:.2f}x the baseline's "
          "FLOPs (the floor for exact per-task gradients);\nfeature route (jacobian="
          "'features', MGDA-UB): one backward plus the heads' share.")


if __name__ == "__main__":
    main()
