"""What a user sees while long work runs: a header, progress inside each job and one line
per finished job, under the same rules for sweeps, method comparisons and training.

A :class:`Progress` holds the state (jobs done out of ``n_jobs``; the current job's units
done out of its total, its hypervolume or other figures) and draws it on ``stream``
(stderr by default) in one of two ways, chosen by whether the stream is a terminal:

* terminal: one status line redrawn in place (a bar, units done of the total, hypervolume,
  rate, elapsed time), and above it one permanent line per finished job;
* log (a file, a pipe, CI, a notebook): plain lines only, never ``\\r``: one per finished
  job with its own wall time, and the current job's status whenever :data:`LOG_EVERY`
  seconds pass without a line. A background timer prints it, so a job that reports
  nothing for a while (a slow first step, jobs on Dask workers) still shows it is alive.

``quiet`` draws nothing. :func:`track` wraps a loop the way ``tqdm`` does
(``for step in track(range(n), desc="train")``, ``set_postfix``); inside a job of an open
:class:`Progress` it reports to that job instead of drawing a line of its own, so a
comparison of trainings shows the steps of the training under way.
"""

from __future__ import annotations

import shutil
import sys
import threading
import time
from collections.abc import Callable, Iterable, Iterator, Mapping
from contextvars import ContextVar
from dataclasses import dataclass
from typing import Any, Generic, TextIO, TypeVar

__all__ = ["LOG_EVERY", "Progress", "format_seconds", "track"]

#: Longest time without a line in a log while work runs (seconds).
LOG_EVERY = 10.0

#: Shortest time between two redraws of a terminal's status line (seconds).
_REDRAW_EVERY = 0.1

#: Period of the background timer (seconds): terminal redraws of the elapsed time, and the
#: test for a log line that is due.
_TICK = 0.5

#: Width of the terminal's bar in characters.
_BAR = 12

T = TypeVar("T")

#: The Progress whose current job :func:`track` reports to.
_ACTIVE: ContextVar[Progress | None] = ContextVar("dse_progress", default=None)


def format_seconds(t: float) -> str:
    """``0.42 s``, ``12.3 s``, ``4m05s``, ``2h03m``."""
    if t < 1:
        return f"{t:.2f} s"
    if t < 60:
        return f"{t:.1f} s"
    if t < 3600:
        m, s = divmod(round(t), 60)
        return f"{m}m{s:02d}s"
    h, m = divmod(round(t) // 60, 60)
    return f"{h}h{m:02d}m"


def _format_rate(r: float) -> str:
    if r >= 1e6:
        return f"{r / 1e6:.1f}M"
    if r >= 1e4:
        return f"{r / 1e3:.0f}k"
    if r >= 10:
        return f"{r:.0f}"
    return f"{r:.2g}"


def _isatty(stream: Any) -> bool:
    try:
        return bool(stream.isatty())
    except (AttributeError, ValueError, OSError):  # no isatty, or a closed stream
        return False


@dataclass
class _Job:
    label: str
    total: int | None
    start: float
    done: int = 0
    hv: float | None = None
    info: str = ""
    elapsed: float | None = None  # as the job itself measures it (a solver's clock)
    previous: Progress | None = None  # what _ACTIVE held before this job


class Progress:
    """Progress of ``n_jobs`` jobs on ``stream``; see the module doc.

    Parameters
    ----------
    n_jobs
        Jobs to come (the ``[k/n]`` of every line).
    quiet
        Draw nothing at all.
    stream
        Where to draw (default ``sys.stderr`` at construction).
    live
        ``True``: a status line redrawn in place; ``False``: plain lines; ``None``: live
        when ``stream`` is a terminal.
    every
        Longest time without a line in plain mode (seconds).
    unit
        What a job counts (``"evals"``, ``"steps"``).
    """

    def __init__(self, n_jobs: int = 1, *, quiet: bool = False, stream: TextIO | None = None,
                 live: bool | None = None, every: float = LOG_EVERY, unit: str = "evals"
                 ) -> None:
        self.stream = sys.stderr if stream is None else stream
        self.quiet = quiet
        self.live = not quiet and (_isatty(self.stream) if live is None else live)
        self.every, self.unit = float(every), unit
        self.n_jobs, self.n_done = int(n_jobs), 0
        self.start_time = time.monotonic()
        self._job: _Job | None = None
        self._lock = threading.RLock()
        self._last_line = self.start_time
        self._last_draw = 0.0
        self._drawn = False
        self._stop = threading.Event()
        self._timer: threading.Thread | None = None
        if not quiet:
            self._timer = threading.Thread(target=self._tick, name="dse-progress",
                                           daemon=True)
            self._timer.start()

    # ------------------------------------------------------------------ jobs
    def say(self, text: str) -> None:
        """Print ``text`` as permanent lines (above a terminal's status line)."""
        if self.quiet:
            return
        with self._lock:
            self._clear()
            self._write(text.rstrip("\n") + "\n")
            self._last_line = time.monotonic()
            if self.live:
                self._draw()

    def start(self, label: str, total: int | None = None) -> None:
        """A job begins: ``total`` units (``None``: unknown)."""
        with self._lock:
            self._job = _Job(label, total, time.monotonic(), previous=_ACTIVE.get())
            _ACTIVE.set(self)
            if self.live:
                self._draw()

    def update(self, done: int, total: int | None = None, *, hv: float | None = None,
               elapsed: float | None = None, info: str | None = None) -> None:
        """The current job has done ``done`` units (of ``total``, when given)."""
        job = self._job
        if job is None:
            return
        job.done = int(done)
        if total is not None:
            job.total = int(total)
        if hv is not None:
            job.hv = float(hv)
        if elapsed is not None:
            job.elapsed = float(elapsed)
        if info is not None:
            job.info = info
        if self.live and time.monotonic() - self._last_draw >= _REDRAW_EVERY:
            with self._lock:
                self._draw()

    def solver_hook(self) -> Callable[[int, int | None, float | None, float], None]:
        """The ``progress=`` callback of :func:`dse.solvers.solve` for the current job."""
        def hook(n_evals: int, budget: int | None, hv: float | None, elapsed: float) -> None:
            self.update(n_evals, budget, hv=hv, elapsed=elapsed)
        return hook

    def finish(self, label: str | None = None, text: str = "",
               wall_time: float | None = None, *, failed: bool = False) -> float:
        """A job ended: one permanent ``[k/n] label done in 1.2 s: text`` line (``failed``:
        ``FAILED after``). The label and wall time default to the current job's (the time
        since :meth:`start`); returns the wall time."""
        with self._lock:
            job = self._job
            if job is not None:
                label = job.label if label is None else label
                if wall_time is None:
                    wall_time = time.monotonic() - job.start
                _ACTIVE.set(job.previous)
                self._job = None
            self.n_done += 1
            wall = 0.0 if wall_time is None else float(wall_time)
            verb = "FAILED after" if failed else "done in"
            tail = f": {text}" if text else ""
            self.say(f"[{self.n_done}/{self.n_jobs}] {label} {verb} "
                     f"{format_seconds(wall)}{tail}")
            return wall

    def close(self) -> None:
        """Stop the timer and take a terminal's status line away (idempotent)."""
        self._stop.set()
        if self._timer is not None and self._timer is not threading.current_thread():
            self._timer.join()
        self._timer = None
        with self._lock:
            if self._job is not None:
                _ACTIVE.set(self._job.previous)
                self._job = None
            self._clear()

    def __enter__(self) -> Progress:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    # ------------------------------------------------------------------ drawing
    def status(self, bar: bool = False) -> str:
        """The current state in one line; ``bar``: the terminal's short form (a bar of
        the job's share done instead of the percentage)."""
        now = time.monotonic()
        job = self._job
        if job is None:
            return (f"[{self.n_done}/{self.n_jobs}] jobs done, "
                    f"{format_seconds(now - self.start_time)}")
        parts = [f"[{self.n_done + 1}/{self.n_jobs}] {job.label}:"]
        elapsed = job.elapsed if job.elapsed is not None else now - job.start
        if job.done or job.total:
            if job.total:
                share = min(job.done / job.total, 1.0)
                if bar:
                    full = int(share * _BAR)
                    parts.append("|" + "#" * full + "-" * (_BAR - full) + "|")
                    parts.append(f"{job.done}/{job.total} {self.unit}")
                else:
                    parts.append(f"{job.done}/{job.total} {self.unit} "
                                 f"({int(share * 100)}%)")
            else:
                parts.append(f"{job.done} {self.unit}")
        else:
            parts.append("starting")
        extra = []
        if job.hv is not None:
            extra.append(f"hv {job.hv:.4g}")
        if job.info:
            extra.append(job.info)
        if job.done and elapsed > 0:
            rate = _format_rate(job.done / elapsed)
            extra.append(f"{rate}/s" if bar else f"{rate} {self.unit}/s")
        extra.append(format_seconds(now - job.start))
        return " ".join(parts) + ", " + ", ".join(extra)

    def _write(self, text: str) -> None:
        try:
            self.stream.write(text)
            self.stream.flush()
        except (OSError, ValueError):  # a closed pipe or stream: progress is not the job
            pass

    def _clear(self) -> None:
        if self._drawn:
            self._write("\r\x1b[K")
            self._drawn = False

    def _draw(self) -> None:
        width = shutil.get_terminal_size((100, 20)).columns - 1
        # Never wider than the terminal: a wrapped line cannot be redrawn in place. The
        # bar goes first, then the end of the line.
        line = self.status(bar=True)
        if len(line) > width:
            line = self.status()
        self._write("\r" + line[:width] + "\x1b[K")
        self._drawn = True
        self._last_draw = time.monotonic()

    def _tick(self) -> None:
        while not self._stop.wait(_TICK):
            with self._lock:
                if self._stop.is_set():
                    return
                if self.live:
                    self._draw()
                elif time.monotonic() - self._last_line >= self.every:
                    self._write(self.status() + "\n")
                    self._last_line = time.monotonic()


class track(Generic[T]):
    """Iterate over ``iterable`` showing progress (``tqdm``'s calls that dse uses).

    Inside a job of an open :class:`Progress` the steps count as that job's units;
    otherwise the loop has a :class:`Progress` of its own (one job, ``desc``) that ends
    with one line when the loop is done. ``disable=True`` shows nothing.
    """

    def __init__(self, iterable: Iterable[T], desc: str = "", total: int | None = None,
                 disable: bool = False, unit: str = "steps", **_: Any) -> None:
        self.iterable, self.desc, self.disable, self.unit = iterable, desc, disable, unit
        if total is None and hasattr(iterable, "__len__"):
            total = len(iterable)  # type: ignore[arg-type]
        self.total = total
        self.info = ""
        self._outer: Progress | None = None

    def set_postfix(self, values: Mapping[str, Any] | None = None, refresh: bool = True,
                    **kwargs: Any) -> None:
        """Figures shown after the count (``loss=0.31``)."""
        items = {**(values or {}), **kwargs}
        self.info = ", ".join(f"{k}={v}" for k, v in items.items())

    def __len__(self) -> int:
        return 0 if self.total is None else int(self.total)

    def __iter__(self) -> Iterator[T]:
        if self.disable:
            yield from self.iterable
            return
        outer = _ACTIVE.get()
        own = None
        if outer is None:
            own = Progress(1, unit=self.unit)
            own.start(self.desc or "progress", self.total)
        target = outer or own
        assert target is not None
        n = 0
        try:
            for item in self.iterable:
                yield item
                n += 1
                target.update(n, self.total, info=self.info)
            if own is not None:
                own.finish(text=f"{n} {self.unit}" + (f", {self.info}" if self.info else ""))
        finally:
            if own is not None:
                own.close()
