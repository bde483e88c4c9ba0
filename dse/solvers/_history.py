"""Run bookkeeping shared by every solver: evaluation counts, an archive, HV checkpoints.

Every solver reports its progress the same way: an archive of the feasible non-dominated
designs among all *exact* evaluations seen so far, and at each checkpoint a row
``(n_evals, n_grad_evals, wall_time, hypervolume)`` where the hypervolume is that of the
archive. The reference point is the problem's own (:attr:`dse.Problem.ref_point`) when it
knows its front, otherwise one fixed from the first recorded batch with the rule of
:func:`dse.indicators.reference_point`, so that every checkpoint of a run uses one reference.

Hypervolume cost
----------------
The hypervolume is exact while :func:`dse.indicators.hypervolume_is_cheap` says so (always
with up to three objectives). The exact time grows about like ``N ** (M / 2)`` with the
archive size ``N`` and ``M`` objectives: a 6-objective archive of 2000 designs takes
seconds per checkpoint, which made checkpoints cost 99% of such a run. From the first
checkpoint whose archive is too large on, the run therefore records the deterministic
estimate :func:`dse.indicators.hypervolume_estimate` instead (it stays on estimates, so a
history never switches back and forth between two measures), and only at checkpoints where
the evaluations (objective plus gradient) have grown by :data:`ESTIMATE_SPACING` since the
last recorded one; the run's last checkpoint is always recorded (by :meth:`RunRecorder.result`
if the solver's own last one was skipped). Such a result says so: its
``config["hv_estimate"]`` holds the history step (``from_step``) and evaluation count
(``from_n_evals``) where estimates start, the estimator, its ``n_samples`` and the spacing;
it is absent when every value is exact (see :attr:`dse.Result.hv_exact`). Both rules depend
only on counts and designs, so one seed still gives one history.

Progress
--------
While :func:`reporting` holds a callback (``solve(..., progress=fn)`` sets one for one
call), every recorder created in it calls ``fn(n_evals, hv, elapsed)`` at a checkpoint, at
most every :data:`PROGRESS_EVERY` seconds: ``hv`` is the last recorded checkpoint's
hypervolume. Reporting reads only what the recorder has already measured (it merges the
deferred batches earlier, which gives the same rows), so a run with and without a callback
has the same front, counts and history; without one a checkpoint costs one ``None`` test.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from contextvars import ContextVar
from typing import Any

import moocore
import numpy as np
import pandas as pd

from dse.indicators import (
    HV_ESTIMATE_SAMPLES,
    hypervolume_estimate,
    hypervolume_is_cheap,
    reference_point,
)
from dse.problem import Problem
from dse.result import HISTORY_COLUMNS, Result

__all__ = ["ESTIMATE_SPACING", "PROGRESS_EVERY", "RunRecorder", "reporting"]

#: Designs added but not yet merged into the archive beyond which :meth:`RunRecorder.add`
#: merges at once (bounds the memory the deferred merge holds: 20k designs of 100
#: variables are 16 MB).
_MAX_PENDING_ROWS = 20_000

#: Rows the archive's buffers hold at least (see :class:`_Archive`).
_MIN_ROWS = 256

#: Relative growth of the evaluation count between two recorded checkpoints once the
#: hypervolume is estimated (about 25 rows from the switch to a 10x larger count).
ESTIMATE_SPACING = 0.1

#: Seconds between two progress reports of one run (checkpoints in between report nothing).
PROGRESS_EVERY = 0.25

#: ``fn(n_evals, hv, elapsed)`` that recorders created now report to (see the module doc).
_PROGRESS: ContextVar[Callable[[int, float | None, float], None] | None] = ContextVar(
    "dse_run_progress", default=None)


@contextmanager
def reporting(fn: Callable[[int, float | None, float], None] | None) -> Iterator[None]:
    """Recorders created inside report their progress to ``fn`` (``None``: to nobody)."""
    token = _PROGRESS.set(fn)
    try:
        yield
    finally:
        _PROGRESS.reset(token)


def _hypervolume(F: np.ndarray, ref: np.ndarray) -> float:
    """Exact hypervolume of archive points that all strictly dominate ``ref``.

    The same moocore call as :func:`dse.indicators.hypervolume` makes on these points (so
    the same value to the last bit), without its validation: the archive is finite
    float64 by construction and already inside the box, and on a 2-objective archive of
    thousands of points that validation cost twice the computation, at every generation.
    """
    return float(moocore.hypervolume(F, ref=ref))


def _estimate_label(step: int, n_evals: int) -> dict[str, Any]:
    """What ``config["hv_estimate"]`` says about a history whose values become estimates."""
    return {
        "from_step": int(step),
        "from_n_evals": int(n_evals),
        "estimator": "dse.indicators.hypervolume_estimate (moocore.hv_approx, Rphi-FWE+)",
        "n_samples": int(HV_ESTIMATE_SAMPLES),
        "spacing": ESTIMATE_SPACING,
    }


def _hypervolume_2d(f1: np.ndarray, g: np.ndarray, ref: np.ndarray) -> float:
    """Exact hypervolume of a 2-objective archive w.r.t. ``ref``, the archive given by
    increasing first objective ``f1`` and ``g``, its second objectives negated (so that
    ``g`` increases too).

    moocore's 2-objective routine sorts the points by first objective and sums the
    horizontal slabs ``(ref_1 - f1_j) * (f2_{j-1} - f2_j)`` (``f2_{-1} = ref_2``) from left
    to right; the sorted archive lets the same sum, in the same order, run without the
    sort (``cumsum`` adds sequentially, as its loop does), so the value is the same to the
    last bit (checked against moocore in the tests): ``f2_{j-1} - f2_j`` is computed as
    ``g_j - g_{j-1}``, which rounds to the same double. The points strictly inside the box
    are one contiguous run of the sorted archive. With thousands of designs the sort was
    most of a checkpoint's cost.
    """
    # The run inside: from the first point with f2 < ref_2 to the last with f1 < ref_1
    # (usually the whole archive, which two comparisons tell).
    lo = 0 if g[0] > -ref[1] else int(g.searchsorted(-ref[1], "right"))
    hi = len(f1) if f1[-1] < ref[0] else int(f1.searchsorted(ref[0], "left"))
    if lo >= hi:
        return 0.0
    y = g[lo:hi]
    height = np.empty_like(y)
    height[0] = y[0] + ref[1]
    np.subtract(y[1:], y[:-1], out=height[1:])
    width = ref[0] - f1[lo:hi]
    width *= height
    return float(np.cumsum(width)[-1])


def _nondominated_2d(F: np.ndarray) -> np.ndarray:
    """Indices of the rows of ``F`` (two objectives, at least one row) that moocore's
    ``is_nondominated(F, keep_weakly=False)`` keeps, by increasing first objective.

    In the stable lexicographic order (first objective, then second, then position) every
    point that weakly dominates a row, and every earlier copy of it, comes before it: the
    row is kept when its second objective is below all those before it. moocore's call
    costs more than this on the small batches of a generation.
    """
    order = np.lexsort((F[:, 1], F[:, 0]))
    y = F[:, 1][order]
    keep = np.empty(len(y), dtype=bool)
    keep[0] = True
    np.less(y[1:], np.minimum.accumulate(y)[:-1], out=keep[1:])
    return order[keep]


def _merge_2d(
    f1: np.ndarray, g: np.ndarray, Fn: np.ndarray
) -> tuple[np.ndarray | None, np.ndarray]:
    """``(kept, new)``: what moocore's non-dominated filter on ``concatenate([archive,
    Fn])`` (``keep_weakly=False``) keeps of the archive and of ``Fn``, for two objectives,
    in ``O(k log N)`` for ``k`` new points (and ``O(N)`` when archive points go) instead
    of sorting the archive again.

    The archive (mutually non-dominated, no copies) is given by increasing first objective
    ``f1`` and ``g``, its second objectives negated (increasing too). ``kept`` is a mask
    over it (``None`` when every point stays); ``new`` the indices of the kept rows of
    ``Fn``, by increasing first objective. A new point is covered (weakly dominated, or a
    copy) when the archive point with the largest first objective not above its own has a
    second objective not above its own; the new points left are filtered among themselves
    (:func:`_nondominated_2d`); each then removes the archive points it dominates, one
    contiguous run of the sorted archive.
    """
    if not len(f1):
        return None, _nondominated_2d(Fn)
    x, ny = Fn[:, 0], -Fn[:, 1]
    # g of the archive point just left of each new point (-inf where there is none).
    left = np.concatenate(([-np.inf], g))[f1.searchsorted(x, "right")]
    new = (left < ny).nonzero()[0]
    if len(new) > 1:
        new = new[_nondominated_2d(Fn[new])]
    elif not len(new):
        return None, new
    # Archive points a new point s dominates: first objective >= s's (from lo on) and
    # second >= s's (before hi). Both bounds grow with s's first objective.
    lo = f1.searchsorted(x[new], "left")
    hi = g.searchsorted(ny[new], "right")
    live = lo < hi
    if not live.any():
        return None, new
    lo, size = lo[live], hi[live] - lo[live]
    # The runs' positions (a position in two runs twice): each run's start repeated over
    # its length, plus the position within it.
    ends = np.cumsum(size)
    gone = np.repeat(lo - ends + size, size) + np.arange(int(ends[-1]))
    kept = np.ones(len(f1), dtype=bool)
    kept[gone] = False
    return kept, new


def _strictly_below(F: np.ndarray, ref: np.ndarray) -> np.ndarray:
    """Mask of the rows of ``F`` below ``ref`` in every objective.

    One comparison per objective column: ``(F < ref).all(axis=1)`` reduces over the short
    objective axis row by row, which is several times slower on large archives.
    """
    mask = F[:, 0] < ref[0]
    for j in range(1, F.shape[1]):
        mask &= F[:, j] < ref[j]
    return mask


def _insert(a: np.ndarray, old: np.ndarray, at: np.ndarray, values: np.ndarray) -> np.ndarray:
    """``a`` with ``values`` inserted so that they land at positions ``at`` (``old``
    marks the other positions): ``np.insert`` with its mask computed once for three
    arrays."""
    out = np.empty(len(old), dtype=a.dtype)
    out[at] = values
    out[old] = a
    return out


class _Archive:
    """The feasible non-dominated designs, in the order they were found, kept so that a
    generation's merge costs about what the generation adds, not the archive's size.

    Rows live in buffers with room to grow; a merge marks the rows it removes dead
    (``alive``) and appends the new ones, and the dead rows go when full buffers are
    reallocated with room for as many rows again as are live (see :meth:`_reserve`), so
    the designs are not copied at every generation. With two objectives the live rows are
    also kept by increasing first objective: their first objectives ``f1``, their second
    ones negated ``g`` (increasing too, as binary searches need) and their buffer
    ``rows``, which the merge (:func:`_merge_2d`) and the hypervolume
    (:func:`_hypervolume_2d`) read without sorting. The archive read out is the live rows
    in buffer order: the order in which they were found, as before. On a 2-objective
    NSGA-II run whose archive grows to thousands of designs, the copies and sorts this
    saves were most of the recorder's cost per generation.
    """

    def __init__(self, n_var: int, n_obj: int, n_constr: int) -> None:
        self.X = np.zeros((0, n_var))
        self.F = np.zeros((0, n_obj))
        self.G = np.zeros((0, n_constr))
        self.alive = np.zeros(0, dtype=bool)
        self.n = 0  # buffer rows in use (live or dead)
        self.n_alive = 0
        self.f1 = np.zeros(0)
        self.g = np.zeros(0)
        self.rows = np.zeros(0, dtype=np.intp)

    def live(self) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """``(X, F, G)`` of the live rows (views while no row is dead: do not write)."""
        n = self.n
        if self.n_alive == n:
            return self.X[:n], self.F[:n], self.G[:n]
        keep = self.alive[:n]
        return self.X[:n][keep], self.F[:n][keep], self.G[:n][keep]

    def live_F(self) -> np.ndarray:
        n = self.n
        return self.F[:n] if self.n_alive == n else self.F[:n][self.alive[:n]]

    def merge(self, X: np.ndarray, F: np.ndarray, G: np.ndarray) -> bool:
        """Merge feasible designs with finite objectives; whether the archive changed."""
        if F.shape[1] == 2:
            return self._merge_2d(X, F, G)
        # moocore's mask directly (what dse.pareto.nondominated returns for numpy input):
        # F is finite float64, so its NaN scan, as slow as the mask itself on a large
        # archive, is not needed. keep_weakly=False keeps the first copy of a repeated vector.
        Fa = self.live_F()
        keep = moocore.is_nondominated(np.concatenate([Fa, F]), keep_weakly=False)
        kept_old, kept_new = keep[:len(Fa)], keep[len(Fa):]
        if kept_old.all() and not kept_new.any():
            return False
        if not kept_old.all():
            self.alive[np.flatnonzero(self.alive[:self.n])[~kept_old]] = False
            self.n_alive -= int(len(kept_old) - kept_old.sum())
        self._append(X, F, G, np.flatnonzero(kept_new))
        return True

    def _merge_2d(self, X: np.ndarray, F: np.ndarray, G: np.ndarray) -> bool:
        kept, new = _merge_2d(self.f1, self.g, F)
        if kept is None and not len(new):
            return False
        if kept is not None:
            self.alive[self.rows[~kept]] = False
            self.n_alive -= len(kept) - int(np.count_nonzero(kept))
            self.f1, self.g, self.rows = self.f1[kept], self.g[kept], self.rows[kept]
        if len(new):
            found = np.sort(new)  # appended in the order they came
            start = self._append(X, F, G, found)
            # Insert the new points (by increasing first objective, none equal to an
            # archive point's) at their places in the merged arrays.
            at = self.f1.searchsorted(F[new, 0])
            at += np.arange(len(new))
            old = np.ones(len(self.f1) + len(new), dtype=bool)
            old[at] = False
            self.f1 = _insert(self.f1, old, at, F[new, 0])
            self.g = _insert(self.g, old, at, -F[new, 1])
            self.rows = _insert(self.rows, old, at, start + found.searchsorted(new))
        return True

    def _append(self, X: np.ndarray, F: np.ndarray, G: np.ndarray, idx: np.ndarray) -> int:
        """Append rows ``idx`` of the batch; the buffer row of the first."""
        start = self._reserve(len(idx))
        stop = start + len(idx)
        X.take(idx, axis=0, out=self.X[start:stop])
        F.take(idx, axis=0, out=self.F[start:stop])
        G.take(idx, axis=0, out=self.G[start:stop])
        self.alive[start:stop] = True
        self.n = stop
        self.n_alive += len(idx)
        return start

    def _reserve(self, k: int) -> int:
        """Room for ``k`` more rows; the buffer row where they go. A reallocation keeps
        only the live rows (renumbering ``rows``) and leaves room for as many again,
        and for at least a few generations while the archive is small."""
        if self.n + k <= len(self.alive):
            return self.n
        keep = self.alive[:self.n]
        size = max(2 * (self.n_alive + k), _MIN_ROWS)
        for name in ("X", "F", "G"):
            old = getattr(self, name)
            buf = np.empty((size, old.shape[1]), dtype=old.dtype)
            np.compress(keep, old[:self.n], axis=0, out=buf[:self.n_alive])
            setattr(self, name, buf)
        # Each live row's new number: how many live rows precede it.
        self.rows = (np.cumsum(keep) - 1)[self.rows]
        self.alive = np.zeros(size, dtype=bool)
        self.alive[:self.n_alive] = True
        self.n = self.n_alive
        return self.n


class RunRecorder:
    """Counts evaluations, keeps the exact non-dominated archive and the HV history.

    Parameters
    ----------
    problem
        The problem being solved (for its reference point and labels).
    ref_point
        Hypervolume reference; ``None`` uses ``problem.ref_point`` or, when the problem
        does not know its front, a point fixed from the first recorded batch.

    Attributes
    ----------
    hv_estimate
        (property) ``None`` while every recorded hypervolume is exact; from the first estimated
        checkpoint on, the label that :meth:`result` puts in ``config["hv_estimate"]``
        (see the module doc).
    """

    def __init__(self, problem: Problem, ref_point: np.ndarray | None = None) -> None:
        self.problem = problem
        ref = problem.ref_point if ref_point is None else ref_point
        self.ref_point: np.ndarray | None = None if ref is None else np.asarray(ref, float)
        self.n_evals = 0
        self.n_grad_evals = 0
        self.start = time.perf_counter()
        self._archive = _Archive(problem.n_var, problem.n_obj, problem.n_constr)
        self._rows: list[dict[str, float]] = []
        self._hv_estimate: dict[str, Any] | None = None
        # Hypervolume of the archive as it is now (None: not measured since it changed), so
        # checkpoints between which the archive did not change measure it once.
        self._hv: float | None = None
        # Estimated checkpoints: the evaluation count the next recorded one needs, and
        # whether a checkpoint was skipped since the last recorded one.
        self._next_estimate = 0.0
        self._skipped = False
        # Work deferred until something reads the archive or the history (see _settle):
        # batches not yet merged, and checkpoints taken since as (n_evals, n_grad_evals,
        # wall_time, number of pending batches they follow).
        self._pending: list[tuple[np.ndarray, np.ndarray, np.ndarray]] = []
        self._pending_rows = 0
        self._marks: list[tuple[int, int, float, int]] = []
        self._report = _PROGRESS.get()
        self._next_report = 0.0

    # ------------------------------------------------------------------ counting
    def count(self, n_evals: int = 0, n_grad_evals: int = 0) -> None:
        """Add evaluations that were spent (relaxed or exact)."""
        self.n_evals += int(n_evals)
        self.n_grad_evals += int(n_grad_evals)

    def elapsed(self) -> float:
        return time.perf_counter() - self.start

    # ------------------------------------------------------------------ archive
    def add(self, X: np.ndarray, F: np.ndarray, G: np.ndarray) -> None:
        """Merge exactly evaluated designs into the archive (counting is done elsewhere).

        Only feasible designs with finite objectives enter; the archive keeps the
        non-dominated ones, one copy of each objective vector. The merge itself waits
        until the archive, its hypervolume or the history is read (:meth:`_settle`).
        """
        X = np.array(X, float).reshape(-1, self.problem.n_var)  # a copy: callers reuse buffers
        F = np.array(F, float).reshape(len(X), self.problem.n_obj)
        G = np.array(G, float).reshape(len(X), self.problem.n_constr)
        if self.ref_point is None:
            finite = np.isfinite(F).all(axis=1)
            if finite.any():
                self.ref_point = reference_point(F[finite].min(0), F[finite].max(0))
                self._hv = None
        self._pending.append((X, F, G))
        self._pending_rows += len(X)
        if self._pending_rows > _MAX_PENDING_ROWS:
            self._settle()

    def _settle(self) -> None:
        """Do the deferred work: merge the pending batches and measure the checkpoints
        taken between them, in the order they came.

        An evolutionary solver adds a batch and takes a checkpoint every generation, with
        its own work in between; done one at a time there, the merge and the measurement
        cost up to four times what they cost here in one loop (the CPU's caches hold the
        solver's code and data, not these). The values are the same either way: each
        checkpoint measures the archive of the batches added before it, with the counts
        and the time it was taken at.
        """
        done = 0
        for n_evals, n_grad_evals, wall_time, n_batches in self._marks:
            for batch in self._pending[done:n_batches]:
                self._merge_batch(*batch)
            done = n_batches
            self._record(n_evals, n_grad_evals, wall_time)
        for batch in self._pending[done:]:
            self._merge_batch(*batch)
        self._pending.clear()
        self._pending_rows = 0
        self._marks.clear()

    def _merge_batch(self, X: np.ndarray, F: np.ndarray, G: np.ndarray) -> None:
        finite = np.isfinite(F).all(axis=1)
        ok = finite & (G <= 0).all(axis=1) if G.shape[1] else finite
        if not ok.any():
            return
        if not ok.all():
            X, F, G = X[ok], F[ok], G[ok]
        if self._archive.merge(X, F, G):
            self._hv = None

    @property
    def archive(self) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """``(X, F, G)`` of the feasible non-dominated designs seen so far."""
        self._settle()
        X, F, G = self._archive.live()
        return X.copy(), F.copy(), G.copy()

    @property
    def n_front(self) -> int:
        """How many feasible non-dominated designs the archive holds."""
        self._settle()
        return self._archive.n_alive

    def hypervolume(self) -> float:
        """Hypervolume of the archive w.r.t. :attr:`ref_point` (0 when nothing is known).

        Exact, or the estimate once the run's checkpoints have switched to estimates
        (:attr:`hv_estimate`).
        """
        self._settle()
        return self._current_hv(self.n_evals)

    @property
    def hv_estimate(self) -> dict[str, Any] | None:
        self._settle()
        return self._hv_estimate

    def _current_hv(self, n_evals: int) -> float:
        """Hypervolume of the archive as it is now, measured at evaluation count
        ``n_evals`` (where a switch to estimates is said to happen)."""
        if self._hv is None:
            self._hv = self._measure(n_evals)
        return self._hv

    def _measure(self, n_evals: int) -> float:
        arc = self._archive
        if self.ref_point is None or not arc.n_alive:
            return 0.0
        if (arc.F.shape[1] == 2 and self._hv_estimate is None
                and hypervolume_is_cheap(arc.n_alive, 2)):
            return _hypervolume_2d(arc.f1, arc.g, self.ref_point)
        F = arc.live_F()
        inside = _strictly_below(F, self.ref_point)
        if not inside.any():
            return 0.0
        if not inside.all():
            F = F[inside]
        if self._hv_estimate is None and not hypervolume_is_cheap(len(F), F.shape[1]):
            self._hv_estimate = _estimate_label(len(self._rows), n_evals)
        if self._hv_estimate is None:
            return _hypervolume(F, self.ref_point)
        return hypervolume_estimate(F, self.ref_point)

    def checkpoint(self) -> None:
        """Append one history row for the current counts, time and archive HV.

        Once the hypervolume is estimated, a checkpoint before the evaluations have grown
        by :data:`ESTIMATE_SPACING` is skipped (:meth:`result` records the last one). The
        row is written when the history or the archive is next read (:meth:`_settle`).
        """
        self._marks.append((self.n_evals, self.n_grad_evals, self.elapsed(),
                            len(self._pending)))
        if self._report is not None:
            self._progress()

    def _progress(self) -> None:
        """Report to the :func:`reporting` callback, at most every PROGRESS_EVERY s."""
        now = self.elapsed()
        if now < self._next_report:
            return
        self._next_report = now + PROGRESS_EVERY
        self._settle()  # the same rows as settling later: this checkpoint is measured
        hv = self._rows[-1]["hypervolume"] if self._rows else None
        assert self._report is not None
        self._report(self.n_evals, hv, now)

    def _record(self, n_evals: int, n_grad_evals: int, wall_time: float) -> None:
        """The history row of a checkpoint taken at these counts and time, measured on the
        archive as it is now."""
        progress = n_evals + n_grad_evals
        if self._hv_estimate is not None and progress < self._next_estimate:
            self._skipped = True
            return
        hv = self._current_hv(n_evals)
        self._rows.append(
            {
                "n_evals": float(n_evals),
                "n_grad_evals": float(n_grad_evals),
                "wall_time": wall_time,
                "hypervolume": hv,
            }
        )
        self._skipped = False
        if self._hv_estimate is not None:
            self._next_estimate = progress * (1.0 + ESTIMATE_SPACING)

    def history(self) -> pd.DataFrame:
        self._settle()
        return pd.DataFrame(self._rows, columns=list(HISTORY_COLUMNS))

    # ------------------------------------------------------------------ result
    def result(
        self,
        method: str,
        seed: int,
        final: tuple[np.ndarray, np.ndarray, np.ndarray],
        config: dict[str, Any],
    ) -> Result:
        """The :class:`Result`: the final designs, then the archive designs they lack.

        ``final`` is the last batch (population, swept designs) as exactly evaluated, kept
        whole and first (``config["n_final"]`` rows); the archive adds the non-dominated
        designs found earlier, so that the result's front is the front the history's last
        hypervolume measured. Final designs without a finite objective vector (NaN or
        infinite values: nothing better was found for them) are left out, so every row of
        the result is a measured design; ``config["n_nonfinite"]`` counts them.
        ``config["hv_estimate"]`` labels a history with estimated hypervolumes.
        """
        self._settle()
        if self._skipped:
            # The solver's last checkpoint was skipped (estimates are spaced out): the
            # history still ends with the final archive, as for every run.
            self._next_estimate = 0.0
            self.checkpoint()
            self._settle()
        Xf, Ff, Gf = (np.asarray(a, float) for a in final)
        # By the problem's count: -1 cannot be inferred for 0 designs of 0 constraints.
        Gf = Gf.reshape(len(Xf), self.problem.n_constr)
        finite = np.isfinite(Ff).all(axis=1)
        config = {**config, "n_nonfinite": int((~finite).sum())}
        Xf, Ff, Gf = Xf[finite], Ff[finite], Gf[finite]
        Xa, Fa, Ga = self.archive
        # Archive designs already among the final ones are not repeated.
        key_f = {r.tobytes() for r in np.ascontiguousarray(np.concatenate([Xf, Ff], axis=1))}
        extra = np.array(
            [r.tobytes() not in key_f
             for r in np.ascontiguousarray(np.concatenate([Xa, Fa], axis=1))],
            dtype=bool,
        )
        X = np.concatenate([Xf, Xa[extra]])
        F = np.concatenate([Ff, Fa[extra]])
        G = np.concatenate([Gf, Ga.reshape(len(Xa), Gf.shape[1])[extra]])
        ref = None if self.ref_point is None else self.ref_point.tolist()
        if self._hv_estimate is not None:
            config["hv_estimate"] = dict(self._hv_estimate)
        return Result(
            problem=self.problem.name,
            method=method,
            seed=int(seed),
            X=X,
            F=F,
            G=G,
            n_evals=self.n_evals,
            n_grad_evals=self.n_grad_evals,
            wall_time=self.elapsed(),
            history=self.history(),
            config={**config, "ref_point": ref, "n_final": len(Xf)},
            variable_names=self.problem.variable_names,
            objective_names=self.problem.objective_names,
            constraint_names=self.problem.constraint_names,
        )
