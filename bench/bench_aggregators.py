"""Step overhead of the gradient aggregators, next to TorchJD's, measured side by side.

For each (K, P) it times, on the same J:
  gram    J -> J J^T
  solve   G -> weights, ours and TorchJD's weighting (same Gramian)
  total   J -> direction (Gramian + solve + weights @ J), ours and TorchJD's aggregator
and prints  overhead = solve / gram  (goal: <= 0.20)  and  speedup = TorchJD solve / ours
(goal for CAGrad and UPGrad at K = 2 and K = 40: >= 5). Then B = 64 problems of K = 10
solved in one batched call vs one by one (goal: >= 10x).

Usage: python bench/bench_aggregators.py [--device cpu|cuda|auto] [--quick] [--repeats N]
       [--threads N]
"""

from __future__ import annotations

import argparse
from collections.abc import Callable

import torch
from _timing import median_time, synchronizer

from dse.gradient import aggregate, get_weighting, gramian

METHODS = {"mgda": {}, "cagrad": {"c": 0.5}, "upgrad": {}}


def _timer(device: torch.device, repeats: int) -> Callable[[Callable[[], object]], float]:
    sync = synchronizer(device)
    return lambda fn: median_time(fn, repeats, sync)


def _torchjd() -> dict[str, tuple[object, object]]:
    """TorchJD's (weighting, aggregator) per method; missing optional deps are skipped."""
    try:
        import torchjd.aggregation as tja
    except ImportError:
        return {}
    out: dict[str, tuple[object, object]] = {}
    for name, make in [("mgda", lambda: (tja.MGDAWeighting(), tja.MGDA())),
                       ("cagrad", lambda: (tja.CAGradWeighting(c=0.5), tja.CAGrad(c=0.5))),
                       ("upgrad", lambda: (tja.UPGradWeighting(), tja.UPGrad()))]:
        try:
            out[name] = make()
        except ImportError:
            pass
    return out


def bench_overhead(device: torch.device, sizes: list[tuple[int, int]], repeats: int) -> None:
    measure = _timer(device, repeats)
    tjd = _torchjd()
    print("# step overhead: times in ms; overhead = solve/gram; speedup = torchjd/ours (solve)")
    for K, P in sizes:
        g = torch.Generator(device="cpu").manual_seed(K)
        J = torch.randn(K, P, generator=g).to(device)
        G = gramian(J)
        t_gram = measure(lambda: gramian(J))  # noqa: B023
        print(f"K={K} P={P:.0e} gram={t_gram * 1e3:.3f}")
        for name, params in METHODS.items():
            w = get_weighting(name, **params)
            t_solve = measure(lambda: w(G))  # noqa: B023
            t_total = measure(lambda: aggregate(J, w))  # noqa: B023
            line = (f"  {name:7s} ours   solve={t_solve * 1e3:8.3f} total={t_total * 1e3:8.3f}"
                    f" overhead={t_solve / t_gram:6.3f}")
            if name in tjd:
                tw, ta = tjd[name]
                t_tw = measure(lambda: tw(G))  # noqa: B023
                t_ta = measure(lambda: ta(J))  # noqa: B023
                line += (f" | torchjd solve={t_tw * 1e3:8.3f} total={t_ta * 1e3:8.3f}"
                         f" overhead={t_tw / t_gram:6.3f} speedup={t_tw / t_solve:7.2f}x")
            else:
                line += " | torchjd n/a"
            print(line)


def bench_batched(device: torch.device, B: int, K: int, P: int, repeats: int) -> None:
    measure = _timer(device, repeats)
    g = torch.Generator(device="cpu").manual_seed(0)
    J = torch.randn(B, K, P, generator=g).to(device)
    G = gramian(J)
    print(f"# batched: B={B} problems of K={K}, one call vs a loop of {B} calls (solve only)")
    for name, params in METHODS.items():
        w = get_weighting(name, **params)
        t_batch = measure(lambda: w(G))  # noqa: B023
        t_loop = measure(lambda: [w(G[b]) for b in range(B)])  # noqa: B023
        same = torch.allclose(w(G), torch.stack([w(G[b]) for b in range(B)]), atol=1e-5)
        print(f"  {name:7s} batched={t_batch * 1e3:8.3f} ms  loop={t_loop * 1e3:9.3f} ms"
              f"  speedup={t_loop / t_batch:7.2f}x  same_result={same}")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--device", default="auto", choices=["cpu", "cuda", "auto"])
    parser.add_argument("--quick", action="store_true", help="small sizes (smoke test)")
    parser.add_argument("--repeats", type=int, default=None)
    parser.add_argument("--threads", type=int, default=None,
                        help="torch CPU threads (1 gives stable numbers on a shared machine)")
    args = parser.parse_args()
    if args.threads:
        torch.set_num_threads(args.threads)
    if args.device == "auto":
        args.device = "cuda" if torch.cuda.is_available() else "cpu"
    device = torch.device(args.device)
    repeats = args.repeats or (3 if args.quick else 15)
    if args.quick:
        sizes = [(2, 10_000), (10, 10_000), (40, 1_000)]
    else:
        sizes = [(2, 1_000_000), (10, 1_000_000), (40, 100_000)]
    print(f"device={device} torch={torch.__version__} threads={torch.get_num_threads()}")
    bench_overhead(device, sizes, repeats)
    bench_batched(device, 64, 10, 1_000 if args.quick else 10_000, repeats)


if __name__ == "__main__":
    main()
