"""Reference fronts of the engineering family: one base class, thinning and stored fronts.

Every problem of :mod:`problems.engineering` derives from :class:`KnownFrontProblem`, which
turns one dense reference front into :meth:`~KnownFrontProblem.pareto_front` answers:

* the dense front comes from :meth:`KnownFrontProblem._reference_front`, either computed from
  the formula (the Pareto set known in closed form, or the constraint boundary traced along
  rays of the objective space, see :mod:`problems.engineering.mw`) or loaded from a file
  under ``fronts/`` that ``bench/build_engineering_fronts.py`` wrote from long NSGA-II runs
  (polished by a local epsilon-constraint step);
* it is computed once per process and parameter set (a module-level cache: the contract
  tests build many instances of the same problem);
* ``pareto_front(n)`` thins it to ``n`` points spread evenly along the front by farthest-point
  sampling in normalised objective space, always keeping every point that attains a
  component of the ideal or of the nadir, so ``ideal``/``nadir`` of any thinned front equal
  those of the dense one.

Stored files are ``fronts/<key>.npz`` with arrays ``X`` (designs), ``F`` (their exact
objectives) and ``meta`` (a JSON string: how the front was built).
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import numpy as np
import torch

from dse.pareto import nondominated
from dse.problem import Problem

__all__ = [
    "FRONT_DIR",
    "MAX_FRONT_POINTS",
    "KnownFrontProblem",
    "StoredFront",
    "feasible_front",
    "load_front",
    "save_front",
    "thin_front",
]

#: Folder of the stored fronts (inside the package, shipped as package data).
FRONT_DIR = Path(__file__).with_name("fronts")

#: Largest front a problem returns by default (and keeps in a stored file).
MAX_FRONT_POINTS = 2000

# Dense fronts by (class, parameters): computing one can take a second and the same
# problem is built many times over in a test session.
_DENSE: dict[tuple[Any, ...], tuple[np.ndarray | None, np.ndarray]] = {}
# Thinned row indices by (class, parameters, n): pareto_front(n) and pareto_set(n) share them.
_THINNED: dict[tuple[Any, ...], np.ndarray] = {}


def thin_front(F: np.ndarray, n: int) -> np.ndarray:
    """Indices (sorted) of about ``n`` rows of ``F`` spread evenly over the point set.

    Greedy farthest-point sampling in objective space normalised by the set's range. It
    starts from every row that attains a per-objective minimum or maximum (so the thinned
    set has the same ideal and nadir point as ``F``); the result therefore has
    ``max(n, number of such rows)`` rows when ``n < len(F)``, and all rows otherwise.
    """
    F = np.asarray(F, dtype=float)
    N = len(F)
    if n >= N:
        return np.arange(N)
    lo, hi = F.min(axis=0), F.max(axis=0)
    Z = (F - lo) / np.where(hi > lo, hi - lo, 1.0)
    seeds = list(dict.fromkeys([*F.argmin(axis=0).tolist(), *F.argmax(axis=0).tolist()]))
    dist = np.full(N, np.inf)  # squared distance to the nearest chosen row

    def update(i: int) -> None:
        d = Z - Z[i]
        np.minimum(dist, np.einsum("ij,ij->i", d, d), out=dist)

    for i in seeds:
        update(i)
    chosen = list(seeds)
    while len(chosen) < n:
        i = int(dist.argmax())
        chosen.append(i)
        update(i)
    return np.sort(np.array(chosen))


def feasible_front(F: np.ndarray, G: np.ndarray | None = None) -> np.ndarray:
    """Mask of the feasible (``G <= 0``, finite ``F``), non-dominated rows, duplicates once."""
    F = np.asarray(F, dtype=float)
    ok = np.isfinite(F).all(axis=1)
    if G is not None and G.shape[-1]:
        ok &= (np.asarray(G) <= 0).all(axis=1)
    mask = np.zeros(len(F), dtype=bool)
    idx = np.flatnonzero(ok)
    if idx.size:
        mask[idx[nondominated(F[idx], keep_duplicates=False)]] = True
    return mask


class StoredFront:
    """A front read from ``fronts/<key>.npz``: designs ``X``, objectives ``F``, ``meta``."""

    def __init__(self, X: np.ndarray, F: np.ndarray, meta: dict[str, Any]) -> None:
        self.X, self.F, self.meta = X, F, meta


def front_path(key: str) -> Path:
    """File of the stored front named ``key`` (e.g. ``welded_beam-discrete``)."""
    return FRONT_DIR / f"{key}.npz"


def load_front(key: str) -> StoredFront:
    """Read a stored front; a missing file names the script that builds it."""
    path = front_path(key)
    if not path.exists():
        raise FileNotFoundError(
            f"no stored front {path.name} in the package; build it with "
            f"`python bench/build_engineering_fronts.py --problems {key}`"
        )
    with np.load(path, allow_pickle=False) as data:
        X, F = np.array(data["X"], dtype=float), np.array(data["F"], dtype=float)
        meta = json.loads(str(data["meta"]))
    return StoredFront(X, F, meta)


def save_front(key: str, X: np.ndarray, F: np.ndarray, meta: dict[str, Any]) -> Path:
    """Write a front (compressed) under ``fronts/`` and return its path."""
    FRONT_DIR.mkdir(exist_ok=True)
    path = front_path(key)
    np.savez_compressed(path, X=np.asarray(X, float), F=np.asarray(F, float),
                        meta=np.array(json.dumps(meta, sort_keys=True)))
    return path


def _sorted_rows(F: np.ndarray) -> np.ndarray:
    """Row order sorting ``F`` lexicographically (first objective first)."""
    return np.lexsort(F.T[::-1])


class KnownFrontProblem(Problem):
    """A :class:`~dse.problem.Problem` whose Pareto front is known densely.

    Subclasses implement :meth:`_reference_front` (dense designs and objectives of the front)
    and :meth:`_front_key` (what the front depends on); this class caches the dense front,
    thins it on request and derives ``ideal``/``nadir``/``ref_point`` from it.
    """

    def _front_key(self) -> tuple[Any, ...]:
        """Hashable description of everything the front depends on (name and parameters)."""
        return (self.name,)

    def _reference_front(self) -> tuple[np.ndarray | None, np.ndarray]:
        """Dense ``(X, F)`` of the feasible Pareto front (``X`` may be ``None``)."""
        raise NotImplementedError

    def _cache_key(self) -> tuple[Any, ...]:
        return (type(self).__qualname__, *self._front_key())

    def _dense_front(self) -> tuple[np.ndarray | None, np.ndarray]:
        key = self._cache_key()
        if key not in _DENSE:
            X, F = self._reference_front()
            order = _sorted_rows(F)
            F = np.ascontiguousarray(F[order])
            F.setflags(write=False)
            if X is not None:
                X = np.ascontiguousarray(X[order])
                X.setflags(write=False)
            _DENSE[key] = (X, F)
        return _DENSE[key]

    def _thinned(self, n: int | None) -> tuple[np.ndarray | None, np.ndarray]:
        X, F = self._dense_front()
        if n is None:
            n = MAX_FRONT_POINTS
        if int(n) != n or n < 2:
            raise ValueError(f"{self.name}: n must be an integer >= 2 or None, got {n!r}")
        key = (*self._cache_key(), int(n))
        if key not in _THINNED:
            _THINNED[key] = thin_front(F, int(n))
        idx = _THINNED[key]
        return (None if X is None else X[idx].copy()), F[idx].copy()

    def pareto_front(self, n: int | None = None) -> np.ndarray:
        """The feasible Pareto front, thinned evenly to about ``n`` points.

        ``None`` gives the default resolution (at most :data:`MAX_FRONT_POINTS` points).
        Points attaining the ideal and nadir are always kept (so a few more than ``n`` may
        come back for very small ``n``).
        """
        return self._thinned(n)[1]

    def pareto_set(self, n: int | None = None) -> np.ndarray | None:
        """Designs behind :meth:`pareto_front` (same ``n``, same rows), or ``None``.

        Known where the front was built from designs (closed-form Pareto sets and stored
        fronts); fronts traced in objective space (the MW suite) have none.
        """
        return self._thinned(n)[0]

    @property
    def ideal(self) -> np.ndarray:
        return self._dense_front()[1].min(axis=0)

    @property
    def nadir(self) -> np.ndarray:
        return self._dense_front()[1].max(axis=0)

    # ------------------------------------------------------------------ helpers
    def _front_of_designs(self, X: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """Feasible non-dominated rows of candidate designs ``X`` and their objectives.

        Candidates must be exact designs; the evaluation is this problem's own, so the
        front is by construction what :meth:`evaluate` gives for its designs.
        """
        X = np.asarray(X, dtype=float)
        with torch.no_grad():
            F, G = self.evaluate(X, constraints=True)
        keep = feasible_front(F, G)
        return X[keep], F[keep]
