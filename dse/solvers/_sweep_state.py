"""The explicit state of a batched gradient sweep, and the small functions that change it.

A sweep is a set of *rows*, one subproblem each (a preference vector and a relaxed design
``z``), all stored in one set of tensors so that the active ones move in one batched step.
Rows are added over the run (growth stages, anchors, gap-filling rows, restarts), never
removed: a row that converged becomes ``DONE`` and keeps its best exact design, which is
what the result reports for it.

Everything here is a plain dataclass plus functions that take it (as optax keeps optimiser
state): the driver in :mod:`dse.solvers._gradient` composes them.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np
import torch
from torch import Tensor

__all__ = [
    "ACTIVE",
    "ANCHOR",
    "DONE",
    "GAP",
    "PENDING",
    "PREFERENCE",
    "RESTART",
    "Adam",
    "SweepState",
    "add_rows",
    "new_state",
    "restart_rows",
]

# Row status.
PENDING, ACTIVE, DONE = 0, 1, 2
# Row origin: a preference of the initial set (reported first, in order), an anchor
# (single-objective extreme used for normalisation), a row added in a gap of the front,
# a restart of a row that collapsed onto another row's design.
PREFERENCE, ANCHOR, GAP, RESTART = 0, 1, 2, 3
# Adam's denominator guard, far below the usual 1e-8: it only stops 0 / 0 where a row's
# gradient is zero, and keeps the step scale-free where the gradients are tiny.
_ADAM_EPS = 1e-12


@dataclass
class Adam:
    """Batched Adam moments with one step count per row.

    Rows step independently (each has its own bias correction), so rows added late start
    fresh or inherit their neighbours' moments. ``beta2`` is low by default in sweeps: an
    objective whose gradient shrinks by orders of magnitude on the way to the front (a
    latency that falls from seconds to milliseconds) would otherwise keep the first steps'
    huge second moment for thousands of steps and freeze the row far from the front.
    """

    m: Tensor
    v: Tensor
    t: Tensor
    beta1: float = 0.9
    beta2: float = 0.9

    def direction(self, d: Tensor, rows: Tensor) -> Tensor:
        """Update the moments of ``rows`` with gradients ``d`` and return the Adam step."""
        t = self.t[rows] + 1
        m = self.m[rows] * self.beta1 + (1 - self.beta1) * d
        v = self.v[rows] * self.beta2 + (1 - self.beta2) * d * d
        self.t[rows], self.m[rows], self.v[rows] = t, m, v
        mhat = m / (1 - self.beta1**t)[:, None]
        vhat = v / (1 - self.beta2**t)[:, None]
        return mhat / (vhat.sqrt() + _ADAM_EPS)


@dataclass
class SweepState:
    """Everything a sweep knows between two steps.

    Shapes: ``N`` rows, ``n`` relaxed variables, ``K`` objectives, ``C`` constraints,
    ``V`` exact variables. Tensors live on the sweep's device; ``status`` and ``origin``
    are host arrays (they drive scheduling, which happens on the host anyway).
    """

    z: Tensor  # (N, n) current relaxed design of every row
    z_last: Tensor  # (N, n) the last relaxed design evaluated (the step before ``z``)
    P: Tensor  # (N, K) preference vector on the simplex
    R: Tensor  # (N, K) task scaling derived from P
    opt: Adam
    F_last: Tensor  # (N, K) last relaxed evaluation
    F_check: Tensor  # (N, K) relaxed values at the last stationarity check
    best_X: Tensor  # (N, V) best exact design of the row (by the row's own scalar value)
    best_F: Tensor  # (N, K)
    best_G: Tensor  # (N, C)
    status: np.ndarray  # (N,) PENDING / ACTIVE / DONE
    origin: np.ndarray  # (N,) PREFERENCE / ANCHOR / GAP / RESTART
    has_best: np.ndarray  # (N,) whether the row has an exactly evaluated design
    restarts: np.ndarray  # (N,) how often the row was restarted
    polished: np.ndarray  # (N,) best design is a local optimum of the exact polish
    age: np.ndarray  # (N,) steps taken since the row (re)started
    exact_current: np.ndarray  # (N,) the decoded ``z_last`` was evaluated exactly
    ideal: Tensor  # (K,) running minimum of every evaluation
    nadir: Tensor  # (K,) current nadir estimate
    fixed: bool = False  # normalisation taken from the front (True) or provisional
    step: int = 0
    stage_step: int = 0
    n_bad: Tensor = field(default_factory=lambda: torch.zeros((), dtype=torch.long))
    n_moved: Tensor = field(default_factory=lambda: torch.zeros((), dtype=torch.long))

    @property
    def n_rows(self) -> int:
        return int(self.z.shape[0])

    def rows(self, status: int) -> np.ndarray:
        return np.flatnonzero(self.status == status)


def new_state(
    n_relaxed: int, n_var: int, K: int, C: int, *, dtype: torch.dtype, device: torch.device,
    beta2: float,
) -> SweepState:
    """An empty sweep (no rows) on ``device``."""

    def empty(*shape: int) -> Tensor:
        return torch.zeros(shape, dtype=dtype, device=device)

    return SweepState(
        z=empty(0, n_relaxed),
        z_last=empty(0, n_relaxed),
        P=empty(0, K),
        R=empty(0, K),
        opt=Adam(empty(0, n_relaxed), empty(0, n_relaxed), empty(0), beta2=beta2),
        F_last=empty(0, K),
        F_check=empty(0, K),
        best_X=empty(0, n_var),
        best_F=empty(0, K),
        best_G=empty(0, C),
        status=np.zeros(0, np.int8),
        origin=np.zeros(0, np.int8),
        has_best=np.zeros(0, bool),
        restarts=np.zeros(0, np.int64),
        polished=np.zeros(0, bool),
        age=np.zeros(0, np.int64),
        exact_current=np.zeros(0, bool),
        ideal=torch.full((K,), torch.inf, dtype=dtype, device=device),
        nadir=torch.ones(K, dtype=dtype, device=device),
        n_bad=torch.zeros((), dtype=torch.long, device=device),
        n_moved=torch.zeros((), dtype=torch.long, device=device),
    )


def add_rows(
    st: SweepState,
    z: Tensor,
    P: Tensor,
    R: Tensor,
    origin: int,
    *,
    status: int = PENDING,
    src: Tensor | None = None,
    w: Tensor | None = None,
) -> np.ndarray:
    """Append rows; return their indices.

    With ``src`` (``(r, k)`` row indices) and ``w`` (``(r, k)`` weights summing to one),
    the new rows inherit the weighted mean of those rows' Adam second moments and step
    counts with a zero first moment: their first steps are scaled to the local gradient
    and small, which is what a warm start next to solved neighbours needs.
    """
    r = int(z.shape[0])
    first = st.n_rows
    like = st.z
    st.z = torch.cat([st.z, z.to(like)])
    st.z_last = torch.cat([st.z_last, z.to(like)])
    st.P = torch.cat([st.P, P.to(like)])
    st.R = torch.cat([st.R, R.to(like)])
    n, K = z.shape[1], P.shape[1]
    if src is not None and w is not None:
        v = torch.einsum("rk,rkn->rn", w, st.opt.v[src])
        t = (w * st.opt.t[src]).sum(-1)
    else:
        v = like.new_zeros((r, n))
        t = like.new_zeros(r)
    st.opt.m = torch.cat([st.opt.m, like.new_zeros((r, n))])
    st.opt.v = torch.cat([st.opt.v, v])
    st.opt.t = torch.cat([st.opt.t, t])
    st.F_last = torch.cat([st.F_last, like.new_zeros((r, K))])
    st.F_check = torch.cat([st.F_check, like.new_full((r, K), torch.inf)])
    st.best_X = torch.cat([st.best_X, like.new_zeros((r, st.best_X.shape[1]))])
    st.best_F = torch.cat([st.best_F, like.new_full((r, K), torch.inf)])
    st.best_G = torch.cat([st.best_G, like.new_zeros((r, st.best_G.shape[1]))])
    st.status = np.concatenate([st.status, np.full(r, status, np.int8)])
    st.origin = np.concatenate([st.origin, np.full(r, origin, np.int8)])
    st.has_best = np.concatenate([st.has_best, np.zeros(r, bool)])
    st.restarts = np.concatenate([st.restarts, np.zeros(r, np.int64)])
    st.polished = np.concatenate([st.polished, np.zeros(r, bool)])
    st.age = np.concatenate([st.age, np.zeros(r, np.int64)])
    st.exact_current = np.concatenate([st.exact_current, np.zeros(r, bool)])
    return np.arange(first, first + r)


def restart_rows(st: SweepState, rows: np.ndarray, z: Tensor) -> None:
    """Start ``rows`` again from designs ``z`` with fresh optimiser moments."""
    idx = torch.as_tensor(rows, device=st.z.device)
    st.z[idx] = z.to(st.z)
    # The row keeps its best design; nothing is owed for the new start until it steps.
    st.z_last[idx] = z.to(st.z)
    st.exact_current[rows] = True
    st.opt.m[idx] = 0.0
    st.opt.v[idx] = 0.0
    st.opt.t[idx] = 0.0
    st.F_check[idx] = torch.inf
    st.status[rows] = ACTIVE
    st.restarts[rows] += 1
    st.age[rows] = 0
