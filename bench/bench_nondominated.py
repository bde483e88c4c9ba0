"""Benchmark: torch ``dse.pareto.nondominated`` against moocore's ``is_nondominated``.

For each case (N points, M objectives, random cloud or points on a front) it prints one line
with the median wall time of each route over a few repeats, measured side by side in this
run, and the ratio torch / moocore (> 1: torch slower). The torch route runs on ``--device``;
moocore always runs on the CPU (a GPU tensor would first have to be copied to the host: that
copy is timed as part of moocore's route when the device is not the CPU, since that is what a
GPU solver would pay). Masks are checked equal before timing.

Usage::

    python bench/bench_nondominated.py [--device cpu|cuda|auto] [--quick] [--repeats R]
                                       [--methods auto pairwise]

``--methods`` picks the torch routes timed (see ``dse.pareto.nondominated``): ``auto`` is the
default route (sort sweeps for 2 and 3 objectives); ``pairwise`` forces the chunked pairwise
route, to show what the sweeps gain.
"""

from __future__ import annotations

import argparse

import moocore
import numpy as np
import torch
from _timing import median_time, synchronizer

from dse.pareto import nondominated


def make_points(kind: str, n: int, m: int, rng: np.random.Generator) -> np.ndarray:
    """``random``: uniform cloud (tiny front). ``front``: points on the positive unit sphere
    (every point non-dominated, the worst case for pairwise routes). ``mixed``: a front plus
    an equal number of points dominated by it."""
    if kind == "random":
        return rng.random((n, m))
    sphere = np.abs(rng.standard_normal((n, m)))
    sphere /= np.linalg.norm(sphere, axis=1, keepdims=True)
    if kind == "front":
        return sphere
    half = n // 2
    return np.concatenate([sphere[:half], sphere[half:] + rng.random((n - half, m)) * 0.5])


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--device", default="auto", choices=["cpu", "cuda", "auto"])
    parser.add_argument("--quick", action="store_true", help="small sizes, for a smoke test")
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--threads", type=int, default=1,
                        help="torch CPU threads (default 1: moocore is single-threaded, and "
                             "spinning OpenMP threads on a busy machine distort timings)")
    parser.add_argument("--methods", nargs="+", default=["auto"],
                        choices=["auto", "sweep", "pairwise"])
    args = parser.parse_args()
    torch.set_num_threads(args.threads)
    if args.device == "auto":
        device = torch.device("cuda" if torch.cuda.is_available() else "cpu")
    else:
        device = torch.device(args.device)
    if device.type == "cuda" and not torch.cuda.is_available():
        raise SystemExit("--device cuda requested but CUDA is not available")

    sync = synchronizer(device)

    sizes = [1000, 3000] if args.quick else [10_000, 100_000]
    print(f"# device={device} torch={torch.__version__} moocore={moocore.__version__} "
          f"threads={torch.get_num_threads()} seed={args.seed} repeats={args.repeats}")
    print("# case                       method    n_front   moocore_s    torch_s  torch/moocore")
    rng = np.random.default_rng(args.seed)
    for n in sizes:
        for m in (2, 3):
            for kind in ("random", "mixed", "front"):
                F = make_points(kind, n, m, rng)
                T = torch.as_tensor(F, device=device)
                ref = moocore.is_nondominated(F, keep_weakly=True)
                if device.type == "cpu":
                    t_moo = median_time(lambda F=F: moocore.is_nondominated(F, keep_weakly=True),
                                   args.repeats, sync)
                else:
                    t_moo = median_time(lambda T=T: moocore.is_nondominated(T.cpu().numpy(),
                                                                       keep_weakly=True),
                                   args.repeats, sync)
                case = f"n={n} m={m} {kind}"
                for method in args.methods:
                    got = nondominated(T, method=method).cpu().numpy()
                    if not np.array_equal(ref, got):
                        raise SystemExit(f"mask mismatch for {case} method={method}")
                    t_torch = median_time(lambda T=T, method=method: nondominated(T, method=method),
                                     args.repeats, sync)
                    print(f"{case:<28s} {method:<9s} {int(ref.sum()):>7d} {t_moo:>11.5f} "
                          f"{t_torch:>10.5f} {t_torch / t_moo:>14.2f}", flush=True)


if __name__ == "__main__":
    main()
