"""Speed of the co-design problem: exact and relaxed evaluation, repair, reference front.

Prints plain lines, e.g. ``exact evaluate  n=100000  0.210 s  476190 designs/s  0.21 x
target`` where the target is the issue's "10^5 designs well under a second". The reference
front is timed cold (built in an empty temporary cache directory) and warm (read back),
side by side.

Usage: ``python bench/bench_codesign.py [--device cpu|cuda|auto] [--quick]``
"""

from __future__ import annotations

import argparse
import tempfile
import time
from collections.abc import Callable

import numpy as np
import torch

from problems.codesign import CodesignProblem


def pick_device(name: str) -> torch.device:
    if name == "auto":
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    if name == "cuda" and not torch.cuda.is_available():
        raise SystemExit("--device cuda requested but CUDA is not available")
    return torch.device(name)


def best_time(fn: Callable[[], object], device: torch.device, repeats: int) -> float:
    """Smallest wall time of ``repeats`` calls (after one warm-up call)."""
    fn()
    times = []
    for _ in range(repeats):
        if device.type == "cuda":
            torch.cuda.synchronize(device)
        start = time.perf_counter()
        fn()
        if device.type == "cuda":
            torch.cuda.synchronize(device)
        times.append(time.perf_counter() - start)
    return min(times)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--device", default="cpu", choices=("cpu", "cuda", "auto"))
    parser.add_argument("--quick", action="store_true", help="small sizes (smoke test)")
    args = parser.parse_args()
    device = pick_device(args.device)
    n = 1_000 if args.quick else 100_000
    repeats = 1 if args.quick else 3
    target = 1.0  # seconds for 10^5 designs
    scale = 100_000 / n

    prob = CodesignProblem()
    X_np = prob.sample(n, seed=0)
    X = torch.from_numpy(X_np).to(device)
    Z = prob.encode(X).float().requires_grad_(True)
    print(f"device {device}  threads {torch.get_num_threads()}  n {n}  layers {prob.n_layers}")

    def line(label: str, seconds: float) -> None:
        print(
            f"{label:<28} n={n}  {seconds:.4f} s  {n / seconds:,.0f} designs/s  "
            f"{seconds * scale / target:.3f} x target (1 s per 1e5)"
        )

    if device.type == "cpu":
        line("exact evaluate (numpy)", best_time(lambda: prob.evaluate(X_np), device, repeats))
    line(
        "exact evaluate (torch)",
        best_time(lambda: prob.evaluate(X, constraints=True), device, repeats),
    )
    line(
        "exact evaluate, no checks",
        best_time(lambda: prob.evaluate(X, constraints=True, check=False), device, repeats),
    )

    def relaxed_step() -> None:
        F, G = prob.evaluate_relaxed(Z, constraints=True)
        (F.sum() + torch.relu(G).sum()).backward()
        Z.grad = None

    line("relaxed forward+backward", best_time(relaxed_step, device, repeats))
    line("decode (argmax + repair)", best_time(lambda: prob.decode(Z), device, repeats))

    with tempfile.TemporaryDirectory() as tmp:
        start = time.perf_counter()
        cold = CodesignProblem(cache_dir=tmp).reference()
        t_cold = time.perf_counter() - start
        start = time.perf_counter()
        warm = CodesignProblem(cache_dir=tmp).reference()
        t_warm = time.perf_counter() - start
    assert not cold.from_cache and warm.from_cache
    assert np.array_equal(cold.F, warm.F)
    print(
        f"reference front: {len(cold.F)} points (aspect grid {prob.aspect_grid}); "
        f"build {t_cold:.3f} s, cached load {t_warm:.4f} s, ratio {t_cold / t_warm:.0f}x"
    )


if __name__ == "__main__":
    main()
