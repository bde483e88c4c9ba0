"""Training-step cost of conflict-aware weightings relative to plain summed-loss training.

On MultiDigits (shared MLP encoder, two heads), times :func:`dse.train.train` with
``"mean"`` by one ordinary backward of the summed loss (the baseline) and with CAGrad,
MGDA and UPGrad, which need the per-task Jacobian of the shared parameters (one vmapped
backward, see :mod:`dse.gradient`), and with the same methods on the MGDA-UB feature
route (``train(..., jacobian="features")``: weights from the Gramian w.r.t. the shared
representation, then one ordinary backward). Runs alternate between methods and the median of the
repeats is reported. Goal: step time at most 1.5x the baseline.

Memory: on CUDA the peak allocated memory of a training run; on CPU (no allocator
statistics) the bytes allocated per step, from the torch profiler. Both relative to the
baseline.

Usage: python bench/bench_mtl_step.py [--device cpu|cuda|auto] [--quick]
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


def _memory(task, method: str, device: torch.device) -> float:
    steps = 5
    name, kw = _args(method)
    if device.type == "cuda":
        torch.cuda.synchronize()
        torch.cuda.reset_peak_memory_stats()
        train(task, name, steps=steps, device=device, progress=False, eval_splits=(), **kw)
        torch.cuda.synchronize()
        return float(torch.cuda.max_memory_allocated())
    from torch.profiler import ProfilerActivity, profile

    with profile(activities=[ProfilerActivity.CPU], profile_memory=True) as prof:
        train(task, name, steps=steps, device=device, progress=False, eval_splits=(), **kw)
    total = sum(max(e.self_cpu_memory_usage, 0) for e in prof.key_averages())
    return total / steps


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--device", default="cpu", help="cpu, cuda or auto")
    ap.add_argument("--quick", action="store_true", help="small sizes, for a smoke test")
    args = ap.parse_args()
    dev = resolve_device(args.device)
    steps, repeats = (30, 1) if args.quick else (300, 5)
    task = multidigits(2000 if args.quick else 6000, 10, 10, seed=0)
    print(f"device={dev} threads={torch.get_num_threads()} steps={steps} repeats={repeats} "
          f"batch={task.batch_size} hidden={task.info['hidden']}")
    for m in METHODS:  # warm-up (allocations, lazy imports, kernels)
        _run(task, m, 5, dev)
    times: dict[str, list[float]] = {m: [] for m in METHODS}
    for _ in range(repeats):
        for m in METHODS:
            times[m].append(_run(task, m, steps, dev))
    med = {m: statistics.median(v) for m, v in times.items()}
    mem = {m: _memory(task, m, dev) for m in METHODS}
    what = "peak allocated" if dev.type == "cuda" else "allocated per step"
    print(f"{'method':12s} {'ms/step':>9s} {'time ratio':>10s} {'memory ratio':>12s}  ({what})")
    for m in METHODS:
        print(f"{m:12s} {1e3 * med[m]:9.3f} {med[m] / med['sum']:10.2f} "
              f"{mem[m] / mem['sum']:12.2f}  goal<=1.5: "
              f"{'met' if med[m] / med['sum'] <= 1.5 else 'NOT met'}")


if __name__ == "__main__":
    main()
