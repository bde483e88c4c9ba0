"""One result type for every solver, gradient or evolutionary.

A :class:`Result` holds the exactly evaluated designs a run returns, their objective and
constraint values, how many objective and gradient evaluations the run used, its wall
time and a history of ``(n_evals, wall_time, hypervolume)``. It converts to one pandas
DataFrame (a row per design, run metadata in ``DataFrame.attrs``) and back without loss.
"""

from __future__ import annotations

import json
import warnings
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import pandas as pd

__all__ = ["HISTORY_COLUMNS", "Result"]

#: Columns of :attr:`Result.history`.
HISTORY_COLUMNS = ("n_evals", "n_grad_evals", "wall_time", "hypervolume")


def _empty_history() -> pd.DataFrame:
    return pd.DataFrame({c: pd.Series(dtype=float) for c in HISTORY_COLUMNS})


@dataclass
class Result:
    """What a solver returns.

    Attributes
    ----------
    problem, method
        Registry names of the problem and the method.
    seed
        The seed the run used.
    X, F, G
        Exact designs ``(N, n_var)``, their objectives ``(N, n_obj)`` and constraint values
        ``(N, n_constr)`` (``<= 0`` is satisfied). Always from the exact evaluation.
    n_evals
        Objective evaluations used (one design's objective vector counts one).
    n_grad_evals
        Gradient evaluations used (one design's Jacobian counts one), counted apart.
    wall_time
        Seconds the run took.
    history
        DataFrame with columns :data:`HISTORY_COLUMNS`, one row per checkpoint. Its
        hypervolumes are exact unless ``config`` holds ``"hv_estimate"`` (see
        :attr:`hv_exact`).
    config
        The method's parameters and anything else needed to rerun it (JSON-serialisable).
        ``config["hv_estimate"]``, present only when the history holds estimated
        hypervolumes (many objectives, large archives), says from which history row
        (``from_step``) and evaluation count (``from_n_evals``) on they are estimates, and
        how they were estimated (``estimator``, ``n_samples``, ``spacing``).
    variable_names, objective_names, constraint_names
        Labels for tables and plots.
    """

    problem: str
    method: str
    seed: int
    X: np.ndarray
    F: np.ndarray
    G: np.ndarray
    n_evals: int
    n_grad_evals: int = 0
    wall_time: float = 0.0
    history: pd.DataFrame = field(default_factory=_empty_history)
    config: dict[str, Any] = field(default_factory=dict)
    variable_names: tuple[str, ...] = ()
    objective_names: tuple[str, ...] = ()
    constraint_names: tuple[str, ...] = ()

    def __post_init__(self) -> None:
        self.X = np.atleast_2d(np.asarray(self.X, dtype=float))
        self.F = np.atleast_2d(np.asarray(self.F, dtype=float))
        n = self.F.shape[0]
        if self.X.shape[0] != n:
            raise ValueError(f"X has {self.X.shape[0]} rows but F has {n}")
        G = np.asarray(self.G, dtype=float)
        if G.size:
            self.G = G.reshape(n, -1)
        else:  # no design: keep the constraint columns the names (or G's shape) say
            width = G.shape[-1] if G.ndim == 2 else len(self.constraint_names)
            self.G = np.zeros((n, width))
        if not self.variable_names:
            self.variable_names = tuple(f"x{i}" for i in range(self.X.shape[1]))
        if not self.objective_names:
            self.objective_names = tuple(f"f{i + 1}" for i in range(self.F.shape[1]))
        if not self.constraint_names:
            self.constraint_names = tuple(f"g{i + 1}" for i in range(self.G.shape[1]))
        self.history = pd.DataFrame(self.history).reset_index(drop=True)
        for col in HISTORY_COLUMNS:
            if col not in self.history:
                self.history[col] = np.nan

    # ------------------------------------------------------------------ derived sets
    @property
    def feasible(self) -> np.ndarray:
        """Mask of designs that satisfy every constraint and have finite objectives."""
        ok = np.isfinite(self.F).all(axis=1)
        if self.G.shape[1]:
            ok &= (self.G <= 0).all(axis=1)
        return ok

    @property
    def front_mask(self) -> np.ndarray:
        """Mask of the feasible, non-dominated designs (duplicates kept once)."""
        from dse.pareto import nondominated

        mask = np.zeros(len(self.F), dtype=bool)
        idx = np.flatnonzero(self.feasible)
        if idx.size:
            mask[idx[nondominated(self.F[idx], keep_duplicates=False)]] = True
        return mask

    @property
    def front_X(self) -> np.ndarray:
        return self.X[self.front_mask]

    @property
    def front_F(self) -> np.ndarray:
        return self.F[self.front_mask]

    @property
    def hv_exact(self) -> bool:
        """Whether every hypervolume of :attr:`history` is exact.

        ``False`` when the run switched to estimates (``config["hv_estimate"]`` says from
        which row on); results stored before estimates existed are all exact.
        """
        return "hv_estimate" not in self.config

    @property
    def stop_reason(self) -> str:
        """Why the run stopped: ``"budget"``, ``"converged"`` or ``"max_steps"``."""
        return str(self.config.get("stop_reason", ""))

    # ------------------------------------------------------------------ conversion
    def to_frame(self) -> pd.DataFrame:
        """One row per design: variables, objectives, constraints, feasibility, front flag.

        Run metadata (counts, time, config, history) travels in ``DataFrame.attrs`` so
        :meth:`from_frame` restores the result exactly.
        """
        data: dict[str, Any] = {}
        for j, name in enumerate(self.variable_names):
            data[f"x.{name}"] = self.X[:, j]
        for j, name in enumerate(self.objective_names):
            data[f"f.{name}"] = self.F[:, j]
        for j, name in enumerate(self.constraint_names):
            data[f"g.{name}"] = self.G[:, j]
        df = pd.DataFrame(data, index=pd.RangeIndex(len(self.F), name="design"))
        df["feasible"] = self.feasible
        df["on_front"] = self.front_mask
        df.attrs = self.metadata()
        return df

    def metadata(self) -> dict[str, Any]:
        """Run-level fields as plain JSON-serialisable values."""
        return {
            "problem": self.problem,
            "method": self.method,
            "seed": int(self.seed),
            "n_evals": int(self.n_evals),
            "n_grad_evals": int(self.n_grad_evals),
            "wall_time": float(self.wall_time),
            "config": json.loads(json.dumps(self.config, default=str)),
            "history": self.history.to_dict(orient="list"),
            "variable_names": list(self.variable_names),
            "objective_names": list(self.objective_names),
            "constraint_names": list(self.constraint_names),
        }

    @classmethod
    def from_frame(cls, df: pd.DataFrame) -> Result:
        """Inverse of :meth:`to_frame`."""
        meta = df.attrs
        missing = {"problem", "method", "seed", "n_evals"} - set(meta)
        if missing:
            raise ValueError(f"DataFrame.attrs lacks result metadata: {sorted(missing)}")
        vn = list(meta["variable_names"])
        on = list(meta["objective_names"])
        cn = list(meta["constraint_names"])
        n = len(df)
        return cls(
            problem=meta["problem"],
            method=meta["method"],
            seed=meta["seed"],
            X=df[[f"x.{v}" for v in vn]].to_numpy(float).reshape(n, len(vn)),
            F=df[[f"f.{o}" for o in on]].to_numpy(float).reshape(n, len(on)),
            G=df[[f"g.{c}" for c in cn]].to_numpy(float).reshape(n, len(cn)),
            n_evals=meta["n_evals"],
            n_grad_evals=meta["n_grad_evals"],
            wall_time=meta["wall_time"],
            history=pd.DataFrame(meta["history"]),
            config=dict(meta["config"]),
            variable_names=tuple(vn),
            objective_names=tuple(on),
            constraint_names=tuple(cn),
        )

    def summary(self) -> dict[str, Any]:
        """Counts for tables: designs, feasible, front size, evaluations, time.

        .. deprecated:: 0.1.0
            Nothing in dse uses it; it goes in the next release. Use :meth:`metadata` for
            the run's fields and ``len(F)``, ``feasible.sum()``, ``front_mask.sum()`` for
            the counts (``Store.runs()`` holds the same columns for stored runs).
        """
        warnings.warn(
            "Result.summary() is deprecated and will be removed in the next release; use "
            "Result.metadata() for the run's fields and len(result.F), "
            "result.feasible.sum(), result.front_mask.sum() for the counts",
            DeprecationWarning,
            stacklevel=2,
        )
        return {
            "problem": self.problem,
            "method": self.method,
            "seed": self.seed,
            "n_designs": len(self.F),
            "n_feasible": int(self.feasible.sum()),
            "n_front": int(self.front_mask.sum()),
            "n_evals": self.n_evals,
            "n_grad_evals": self.n_grad_evals,
            "wall_time": self.wall_time,
        }
