"""Exact refinement of a finished run's front: midpoints in the gaps, counted and archived.

A front found by a population or a sweep is a finite set of points, and on a continuous
trade-off the hypervolume it misses sits in the gaps between neighbours. Near the end of
a budget one exact evaluation halfway between two neighbours (in their real variables,
:func:`~dse.solvers._gaps.gap_midpoints`) usually lands on the front between them, and is
worth more there than one more generation of a population that has already converged.
:func:`refine_gaps` spends a given number of evaluations this way, in a few rounds, each
on the largest gaps of the archive as it stands (so a gap that a round split is split
again if it is still among the largest).

Measured in the hybrid (``bench/bench_engineering.py``): see :mod:`dse.solvers._hybrid`.
"""

from __future__ import annotations

import numpy as np
import torch

from dse.problem import Problem, Real
from dse.solvers._gaps import gap_midpoints
from dse.solvers._history import RunRecorder

__all__ = ["evaluate_counted", "refine_gaps"]

# Rounds over which the refinement budget is spread: the gaps are re-ranked between rounds.
REFINE_ROUNDS = 10


def refine_gaps(problem: Problem, rec: RunRecorder, budget: int,
                *, rounds: int = REFINE_ROUNDS) -> int:
    """Evaluate at most ``budget`` midpoints of the archive's largest gaps; returns how many.

    Every design is evaluated exactly (the problem's repair applied first), counted in
    ``rec`` and offered to its archive, with one history checkpoint per round. Nothing
    happens without real variables (there is no midpoint to take) or with fewer than two
    points on the front.
    """
    real = problem.kind_mask(Real)
    if budget <= 0 or not real.any():
        return 0
    batch = max(1, -(-budget // rounds))
    seen: set[bytes] = set()
    used = 0
    while used < budget:
        X, F, _ = rec.archive
        if len(F) < 2:
            break
        lo, hi = F.min(axis=0), F.max(axis=0)
        Fn = (F - lo) / np.where(hi > lo, hi - lo, 1.0)
        n = min(batch, budget - used)
        mids = gap_midpoints(X, Fn, real, n, seen)[:n]
        if not mids:
            break
        Xm = problem.repair(torch.as_tensor(np.asarray(mids), dtype=torch.float64)).numpy()
        evaluate_counted(problem, rec, Xm)
        used += len(Xm)
    return used


def evaluate_counted(problem: Problem, rec: RunRecorder, X: np.ndarray) -> None:
    """Evaluate exact designs ``X``: counted in ``rec``, offered to its archive, then one
    history checkpoint."""
    with torch.no_grad():
        F, G = problem.evaluate(X, constraints=True)
    rec.count(len(X))
    rec.add(X, np.asarray(F, float), np.asarray(G, float).reshape(len(X), -1))
    rec.checkpoint()
