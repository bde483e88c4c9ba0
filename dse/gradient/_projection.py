"""Weightings built from one projection or one spectral transform of the Gramian.

- DualProj (Lopez-Paz & Ranzato, 2017, Eq. 11): the preference-weighted gradient projected
  onto the dual cone of the task gradients (one QP on the Gramian);
- Aligned-MTL (Senushkin et al., 2023, Alg. 1): the task gradients made orthogonal with
  equal norms through the Gramian's eigendecomposition;
- ConFIG (Liu et al., 2024, Eq. 2): the direction with equal (preference-weighted) cosines to
  every task gradient, of length the sum of the gradients' projections on it.

All three are exact (no iterative solver beyond DualProj's QP), batched over leading dims
and computed from ``G = J J^T`` only. Aligned-MTL and ConFIG need the Gramian's
pseudo-inverse; an eigenvalue counts as zero below ``K eps`` times the largest, ``eps``
the resolution of ``G``'s dtype (the rule of the Aligned-MTL code and of TorchJD): the
Gramian only resolves eigenvalues to about that, so smaller ones are rounding noise.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import torch
from torch import Tensor

from . import _cpu
from ._base import (
    Weighting,
    normalise_gramian,
    positive_vector,
    psd_gramian,
)
from ._qp import solve_qp
from ._weightings import DualConeWeighting

__all__ = ["AlignedMTL", "ConFIG", "DualProj"]


def _preference(pref: Tensor | None, G: Tensor, fill: float) -> Tensor:
    """``pref`` broadcast over ``G``'s batch (float64, on its device), or ``fill`` if None."""
    K = G.shape[-1]
    if pref is None:
        return torch.full(G.shape[:-1], fill, dtype=torch.float64, device=G.device)
    if pref.numel() != K:
        raise ValueError(f"pref has length {pref.numel()} but the problem has K = {K} objectives")
    return pref.to(G.device).expand(G.shape[:-1])


def _rank_mask(eigvals: Tensor, dtype: torch.dtype) -> Tensor:
    """Eigenvalues (ascending, ``(..., K)``) above ``K eps`` times the largest."""
    K = eigvals.shape[-1]
    top = eigvals[..., -1:]
    return (eigvals > K * torch.finfo(dtype).eps * top) & (top > 0)


class DualProj(DualConeWeighting):
    """DualProj: ``J^T pref`` projected onto the dual cone of the rows of ``J``.

    Weights ``v = argmin_v v^T G v  s.t.  v >= pref`` (the dual of the projection, as for
    UPGrad, whose weights are the sum of K such projections, one per ``e_i``). ``pref``
    defaults to ``1/K`` (the mean gradient); ``reg_eps`` adds ``reg_eps * I`` to the
    trace-normalised Gramian (TorchJD's projector uses 1e-4 for quadprog; the default 0
    gives the exact projection, whose direction conflicts with no task: ``G v >= 0``).
    """

    name = "dualproj"


    def _weights(self, G: Tensor | None, losses: Tensor | None) -> Tensor:
        assert G is not None
        K = G.shape[-1]
        u = _preference(self._pref, G, 1.0 / K)
        if K == 1:
            return u.clone()
        eps, iters = self.params["reg_eps"], self.params["iters"]
        if _cpu.use_numpy(G):  # CPU: the same solve in numpy, a fraction of the dispatch cost
            Gn = _cpu.psd_gramian(G)
            if eps > 0:
                Gn = Gn + eps * np.eye(K)
            return torch.from_numpy(_cpu.solve_qp(Gn, lower=u.numpy(), iters=iters))
        Gn = psd_gramian(G)
        if eps > 0:
            Gn = Gn + eps * torch.eye(K, dtype=Gn.dtype, device=Gn.device)
        return solve_qp(Gn, lower=u, iters=iters)


_SCALE_MODES = ("min", "median", "rmse")


class AlignedMTL(Weighting):
    """Aligned-MTL: align the task gradients' principal components, then combine them.

    With ``G = V diag(lam) V^T`` restricted to its non-zero eigenvalues, the balance
    transformation ``B = sqrt(s) V diag(lam)^(-1/2) V^T`` maps ``J`` to ``B J``, whose rows
    are orthogonal with equal norms ``sqrt(s)``; the weights are ``B pref`` (``pref``
    defaults to ``1/K``). ``scale_mode`` picks ``s``: the smallest non-zero eigenvalue
    (``'min'``, the paper's), their median (``'median'``, the lower one for an even count)
    or their mean (``'rmse'``, the original code's option). A zero Gramian gives
    ``B = I``. The weights do not depend on the Gramian's scale, so the direction scales
    with ``J``.
    """

    name = "aligned_mtl"

    def __init__(
        self, pref: Sequence[float] | Tensor | None = None, scale_mode: str = "min"
    ) -> None:
        if scale_mode not in _SCALE_MODES:
            raise ValueError(f"scale_mode must be one of {_SCALE_MODES}, got {scale_mode!r}")
        self._pref = None if pref is None else positive_vector(pref, name="pref")
        super().__init__(pref=None if pref is None else self._pref.tolist(), scale_mode=scale_mode)

    def _weights(self, G: Tensor | None, losses: Tensor | None) -> Tensor:
        assert G is not None
        K = G.shape[-1]
        u = _preference(self._pref, G, 1.0 / K)
        lam, V = torch.linalg.eigh(normalise_gramian(G))  # ascending
        kept = _rank_mask(lam, G.dtype)
        rank = kept.sum(-1, keepdim=True)
        lam_k = torch.where(kept, lam, 1.0)
        mode = self.params["scale_mode"]
        if mode == "min":  # the smallest kept one: the first kept in ascending order
            scale = lam.gather(-1, (K - rank).clamp(max=K - 1))
        elif mode == "median":  # the lower median of the kept ones (torch.median's choice)
            scale = lam.gather(-1, (K - rank + (rank - 1) // 2).clamp(0, K - 1))
        else:
            scale = torch.where(kept, lam, 0.0).sum(-1, keepdim=True) / rank.clamp(min=1)
        inv_sqrt = torch.where(kept, lam_k.rsqrt(), 0.0) * scale.clamp(min=0.0).sqrt()
        w = (V * inv_sqrt.unsqueeze(-2)) @ (V.mT @ u.unsqueeze(-1))
        return torch.where(rank > 0, w.squeeze(-1), u)


class ConFIG(Weighting):
    """ConFIG: the direction with prescribed cosines to every task gradient.

    With ``u_i = g_i / ||g_i||`` (0 for a zero gradient), the direction ``v = U^+ pref`` (the
    least-norm ``v`` with ``u_i . v = pref_i``, least squares where that has no solution) is
    normalised and scaled to ``sum_i g_i . v / ||v||``. From the Gramian:
    ``c = D^+ C^+ pref`` with ``D = diag(||g_i||)`` and ``C = D^+ G D^+`` the cosine matrix
    (``C^+`` on its eigenvalues above ``K eps`` times the largest), and the weights are
    ``(1^T G c / c^T G c) c``. ``pref`` defaults to ones (only its direction matters). Where
    ``pref`` lies in the null space of ``C`` (``v = 0``, e.g. two opposite gradients) there
    is no direction and the weights are 0. The weights do not depend on the Gramian's scale.
    """

    name = "config"

    def __init__(self, pref: Sequence[float] | Tensor | None = None) -> None:
        self._pref = None if pref is None else positive_vector(pref, name="pref")
        super().__init__(pref=None if pref is None else self._pref.tolist())

    def _weights(self, G: Tensor | None, losses: Tensor | None) -> Tensor:
        assert G is not None
        p = _preference(self._pref, G, 1.0)
        Gn = normalise_gramian(G)
        norms = Gn.diagonal(dim1=-2, dim2=-1).clamp(min=0.0).sqrt()
        inv_norm = torch.where(norms > 0, 1.0 / torch.where(norms > 0, norms, 1.0), 0.0)
        C = Gn * inv_norm.unsqueeze(-1) * inv_norm.unsqueeze(-2)
        lam, V = torch.linalg.eigh(C)
        kept = _rank_mask(lam, G.dtype)
        lam_inv = torch.where(kept, 1.0 / torch.where(kept, lam, 1.0), 0.0)
        y = (V * lam_inv.unsqueeze(-2)) @ (V.mT @ p.unsqueeze(-1))
        y = y.squeeze(-1)
        # ||U^+ pref||^2 = y^T C y is at least |pref's part in C's range|^2 / lam_max. Where
        # pref lies in C's null space (up to K eps) there is no direction: U^+ pref is
        # rounding noise, which normalising would blow up to an arbitrary unit vector.
        v2 = (y * (C @ y.unsqueeze(-1)).squeeze(-1)).sum(-1, keepdim=True)
        tol = G.shape[-1] * torch.finfo(G.dtype).eps * (p * p).sum(-1, keepdim=True)
        has_dir = v2 > tol / lam[..., -1:].clamp(min=torch.finfo(lam.dtype).tiny)
        c = inv_norm * y
        Gc = (Gn @ c.unsqueeze(-1)).squeeze(-1)
        num = Gc.sum(-1, keepdim=True)  # sum_i g_i . (J^T c)
        den = (c * Gc).sum(-1, keepdim=True)  # ||J^T c||^2
        ok = has_dir & (den > 0)
        return torch.where(ok, num / torch.where(ok, den, 1.0) * c, 0.0)
