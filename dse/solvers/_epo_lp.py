"""EPO's linear programs (Mahapatra & Rajan, 2020), batched and exact, for sweeps.

The ``epo`` weighting of :mod:`dse.gradient` solves one preference at a time; a sweep needs
one LP per row at every step, for a handful of objectives. Here they are solved by vertex
enumeration: every vertex of the feasible polytope is a batched ``K x K`` solve, so the
whole batch costs a few tensor operations on any device, with no host synchronisation.
"""

from __future__ import annotations

import functools
import itertools

import torch
from torch import Tensor

__all__ = ["MAX_OBJECTIVES", "epo_lp_weights"]

#: Largest number of objectives for which vertex enumeration is used: the candidates grow
#: as ``comb(2K + 1, K - 1)`` (84 at K = 5, 330 at K = 6), so beyond this the sweep falls
#: back to the iterative EPO weighting of :mod:`dse.gradient`.
MAX_OBJECTIVES = 5


@functools.lru_cache(maxsize=32)
def _combinations(m: int, k: int, device: str) -> Tensor:
    # Cached per device so that a sweep step does not copy the index table every time.
    rows = list(itertools.combinations(range(m), k))
    return torch.tensor(rows, dtype=torch.long, device=device).reshape(-1, k)


def _lp_vertices(A: Tensor, b: Tensor, c: Tensor) -> Tensor:
    """Maximise ``c^T x`` over ``{x >= 0, sum x = 1, A x >= b}`` by vertex enumeration.

    ``A`` is ``(..., m, K)`` (its rows include ``x >= 0``), ``b`` ``(..., m)``, ``c``
    ``(..., K)``. Every vertex has ``K - 1`` active inequalities plus ``sum x = 1``; all
    ``comb(m, K - 1)`` candidates are solved as one batched ``K x K`` system, infeasible
    or singular ones discarded, and the best feasible one kept (the first on ties). Exact
    and branch-free for the handful of objectives sweeps face (cost grows as
    ``comb(2K + 1, K - 1)``).
    """
    K = A.shape[-1]
    combos = _combinations(A.shape[-2], K - 1, str(A.device))
    ones = torch.ones((*A.shape[:-2], combos.shape[0], 1, K), dtype=A.dtype, device=A.device)
    M = torch.cat([A[..., combos, :], ones], dim=-2)  # (..., n_c, K, K)
    rhs = torch.cat([b[..., combos], ones[..., 0, :1]], dim=-1)  # (..., n_c, K)
    x, info = torch.linalg.solve_ex(M, rhs)
    ok = (info == 0) & torch.isfinite(x).all(-1)
    x = torch.where(ok[..., None], x, torch.zeros_like(x))
    slack = torch.einsum("...mk,...ck->...cm", A, x) - b[..., None, :]
    ok = ok & (slack >= -1e-9).all(-1)
    value = torch.where(ok, torch.einsum("...k,...ck->...c", c, x), -torch.inf)
    best = value.argmax(-1)
    xb = torch.gather(x, -2, best[..., None, None].expand(*best.shape, 1, K)).squeeze(-2)
    found = ok.any(-1, keepdim=True)
    return torch.where(found, xb, torch.full_like(xb, 1.0 / K))


def epo_lp_weights(G: Tensor, losses: Tensor, eps: float = 1e-4) -> Tensor:
    """EPO weights (Mahapatra & Rajan, 2020) for a uniform preference, batched and exact.

    Same linear programs as :class:`dse.gradient` 's ``epo`` weighting with preference
    ``1/K`` (a row's own preference enters by scaling its tasks beforehand): with
    ``l_hat = l / sum(l)``, ``mu = KL(l_hat || 1/K)``, ``a = log(K l_hat) - mu`` and
    ``C = G / trace(G)``:

    - balance mode (``mu > eps``): maximise ``(C a)^T w`` s.t. ``(C w)_j >= (C a)_j`` for
      tasks with ``(C a)_j <= 0`` and ``(C w)_j >= 0`` for the largest loss (all tasks
      ``>= 0`` when no ``(C a)_j > 0``);
    - descent mode: maximise ``1^T C w`` s.t. ``C w >= 0`` and ``a^T C w >= min(max(C a), 0)``.

    Solved by vertex enumeration (:func:`_lp_vertices`) instead of an interior-point
    method: a few batched ``K x K`` solves, which is what makes the EPO sweep as fast as
    the others.
    """
    K = G.shape[-1]
    C = G.to(torch.float64)
    tr = C.diagonal(dim1=-2, dim2=-1).sum(-1)[..., None, None]
    C = C / torch.where(tr > 0, tr, torch.ones_like(tr))
    lv = losses.detach().to(torch.float64).clamp(min=torch.finfo(torch.float64).tiny)
    l_hat = lv / lv.sum(-1, keepdim=True)
    log_term = torch.log(l_hat * K)
    mu = (l_hat * log_term).sum(-1, keepdim=True)
    a = log_term - mu
    Ca = (C @ a[..., None])[..., 0]
    is_max = lv == lv.amax(-1, keepdim=True)
    any_pos = (Ca > 0).any(-1, keepdim=True)
    constrained = torch.where(any_pos, (Ca <= 0) | is_max, torch.ones_like(is_max))
    rhs = torch.where(any_pos, torch.where(is_max, 0.0, Ca), 0.0)
    eye = torch.eye(K, dtype=C.dtype, device=C.device).expand_as(C)
    zero_row = torch.zeros_like(Ca)[..., None, :]
    A_bal = torch.cat([eye, torch.where(constrained[..., None], C, 0.0), zero_row], dim=-2)
    b_bal = torch.cat(
        [torch.zeros_like(Ca), torch.where(constrained, rhs, -1.0), -torch.ones_like(Ca[..., :1])],
        dim=-1,
    )
    A_dom = torch.cat([eye, C, Ca[..., None, :]], dim=-2)
    b_dom = torch.cat(
        [torch.zeros_like(Ca), torch.zeros_like(Ca), Ca.amax(-1, keepdim=True).clamp(max=0.0)],
        dim=-1,
    )
    w = _lp_vertices(
        torch.stack([A_bal, A_dom]), torch.stack([b_bal, b_dom]), torch.stack([Ca, C.sum(-1)])
    )
    w = torch.where(mu > eps, w[0], w[1]).clamp(min=0.0)
    return (w / w.sum(-1, keepdim=True).clamp(min=1e-300)).to(G.dtype)
