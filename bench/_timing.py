"""Timing shared by the bench scripts: median wall time with device synchronisation."""

from __future__ import annotations

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
