"""Run bookkeeping shared by every solver: evaluation counts, an archive, HV checkpoints.

Every solver reports its progress the same way: an archive of the feasible non-dominated
designs among all *exact* evaluations seen so far, and at each checkpoint a row
``(n_evals, n_grad_evals, wall_time, hypervolume)`` where the hypervolume is that of the
archive. The reference point is the problem's own (:attr:`dse.Problem.ref_point`) when it
knows its front, otherwise one fixed from the first recorded batch with the rule of
:func:`dse.indicators.reference_point`, so that every checkpoint of a run uses one reference.
"""

from __future__ import annotations

import time
from typing import Any

import numpy as np
import pandas as pd

from dse.pareto import nondominated
from dse.problem import Problem
from dse.result import HISTORY_COLUMNS, Result

__all__ = ["RunRecorder"]


def _hypervolume(F: np.ndarray, ref: np.ndarray) -> float:
    from dse.indicators import hypervolume

    return float(hypervolume(F, ref))


def _reference_point(ideal: np.ndarray, nadir: np.ndarray) -> np.ndarray:
    from dse.indicators import reference_point

    return np.asarray(reference_point(ideal, nadir), dtype=float)


class RunRecorder:
    """Counts evaluations, keeps the exact non-dominated archive and the HV history.

    Parameters
    ----------
    problem
        The problem being solved (for its reference point and labels).
    ref_point
        Hypervolume reference; ``None`` uses ``problem.ref_point`` or, when the problem
        does not know its front, a point fixed from the first recorded batch.
    """

    def __init__(self, problem: Problem, ref_point: np.ndarray | None = None) -> None:
        self.problem = problem
        ref = problem.ref_point if ref_point is None else ref_point
        self.ref_point: np.ndarray | None = None if ref is None else np.asarray(ref, float)
        self.n_evals = 0
        self.n_grad_evals = 0
        self.start = time.perf_counter()
        self._X = np.zeros((0, problem.n_var))
        self._F = np.zeros((0, problem.n_obj))
        self._G = np.zeros((0, problem.n_constr))
        self._rows: list[dict[str, float]] = []

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
        non-dominated ones, one copy of each objective vector.
        """
        X = np.asarray(X, float).reshape(-1, self.problem.n_var)
        F = np.asarray(F, float).reshape(len(X), self.problem.n_obj)
        G = np.asarray(G, float).reshape(len(X), self.problem.n_constr)
        if self.ref_point is None and len(F):
            finite = np.isfinite(F).all(axis=1)
            if finite.any():
                self.ref_point = _reference_point(F[finite].min(0), F[finite].max(0))
        ok = np.isfinite(F).all(axis=1) & (G <= 0).all(axis=1)
        if not ok.any():
            return
        X = np.concatenate([self._X, X[ok]])
        F = np.concatenate([self._F, F[ok]])
        G = np.concatenate([self._G, G[ok]])
        keep = np.asarray(nondominated(F, keep_duplicates=False))
        self._X, self._F, self._G = X[keep], F[keep], G[keep]

    @property
    def archive(self) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """``(X, F, G)`` of the feasible non-dominated designs seen so far."""
        return self._X.copy(), self._F.copy(), self._G.copy()

    @property
    def n_front(self) -> int:
        """How many feasible non-dominated designs the archive holds."""
        return len(self._F)

    def hypervolume(self) -> float:
        """Hypervolume of the archive w.r.t. :attr:`ref_point` (0 when nothing is known)."""
        if self.ref_point is None or not len(self._F):
            return 0.0
        inside = (self._F < self.ref_point).all(axis=1)
        if not inside.any():
            return 0.0
        return _hypervolume(self._F[inside], self.ref_point)

    def checkpoint(self) -> None:
        """Append one history row for the current counts, time and archive HV."""
        self._rows.append(
            {
                "n_evals": float(self.n_evals),
                "n_grad_evals": float(self.n_grad_evals),
                "wall_time": self.elapsed(),
                "hypervolume": self.hypervolume(),
            }
        )

    def history(self) -> pd.DataFrame:
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
        """
        Xf, Ff, Gf = (np.asarray(a, float) for a in final)
        Gf = Gf.reshape(len(Xf), -1)
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
