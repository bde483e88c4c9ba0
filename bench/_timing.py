"""Helpers shared by the bench scripts: median wall time with device synchronisation, and
the command line options every script has."""

from __future__ import annotations

import argparse
import statistics
import time
from collections.abc import Callable

import torch


def synchronizer(device: torch.device) -> Callable[[], None]:
    """A function that waits for queued work on ``device`` (a no-op on the CPU)."""

    def sync() -> None:
        if device.type == "cuda":
            torch.cuda.synchronize(device)

    return sync


def median_time(fn: Callable[[], object], repeats: int, sync: Callable[[], None]) -> float:
    """Median seconds of ``repeats`` calls of ``fn`` after one warm-up call.

    The warm-up pays lazy initialisation and allocator growth; ``sync`` makes GPU work
    count in the call that queued it.
    """
    fn()
    sync()
    times = []
    for _ in range(repeats):
        t0 = time.perf_counter()
        fn()
        sync()
        times.append(time.perf_counter() - t0)
    return statistics.median(times)


def bench_parser(
    doc: str,
    *,
    device_help: str = "cpu, cuda or auto",
    quick_help: str = "small sizes (smoke test)",
) -> argparse.ArgumentParser:
    """A parser described by the first line of ``doc`` (the script's docstring), with the
    options every bench takes: ``--device`` (default ``cpu``) and ``--quick``."""
    ap = argparse.ArgumentParser(description=doc.split("\n")[0])
    ap.add_argument("--device", default="cpu", help=device_help)
    ap.add_argument("--quick", action="store_true", help=quick_help)
    return ap
