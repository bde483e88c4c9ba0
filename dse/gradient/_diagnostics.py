"""Diagnostics of task-gradient conflict, all computed from the Gramian ``G = J J^T``.

Batched over leading dims; zero gradients get cosine 0 (they conflict with nothing).
"""

from __future__ import annotations

import torch
from torch import Tensor

from ._base import check_gramian

__all__ = ["conflict_rate", "cosine_matrix", "gradient_diagnostics", "norm_ratios"]


def _norms(G: Tensor) -> Tensor:
    return G.diagonal(dim1=-2, dim2=-1).clamp(min=0).sqrt()


def cosine_matrix(G: Tensor) -> Tensor:
    """Pairwise cosines ``G_ij / (||g_i|| ||g_j||)``, shape ``(..., K, K)``, in [-1, 1]."""
    G = check_gramian(G)
    n = _norms(G)
    den = n.unsqueeze(-1) * n.unsqueeze(-2)
    return torch.where(den > 0, G / torch.where(den > 0, den, 1), 0).clamp(-1, 1)


def norm_ratios(G: Tensor) -> Tensor:
    """``||g_i|| / max_j ||g_j||`` (..., K): 1 for the largest gradient (0 if all vanish)."""
    G = check_gramian(G)
    n = _norms(G)
    top = n.amax(-1, keepdim=True)
    return torch.where(top > 0, n / torch.where(top > 0, top, 1), 0)


def conflict_rate(G: Tensor, threshold: float = 0.0) -> Tensor:
    """Fraction of the K (K - 1) / 2 task pairs whose cosine is below ``threshold``.

    Shape ``G.shape[:-2]``; 0 for K = 1.
    """
    cos = cosine_matrix(G)
    K = G.shape[-1]
    if K < 2:
        return torch.zeros(G.shape[:-2], dtype=G.dtype, device=G.device)
    iu = torch.triu_indices(K, K, offset=1, device=G.device)
    pairs = cos[..., iu[0], iu[1]]
    return (pairs < threshold).to(G.dtype).mean(-1)


def gradient_diagnostics(G: Tensor) -> dict[str, Tensor]:
    """All of the above, plus the min pairwise cosine and max/min norm ratio, as a dict."""
    cos = cosine_matrix(G)
    n = _norms(G)
    K = G.shape[-1]
    off = cos + 2 * torch.eye(K, dtype=cos.dtype, device=cos.device)  # mask the diagonal
    tiny = torch.finfo(n.dtype).tiny
    return {
        "cosine": cos,
        "min_cosine": off.amin(dim=(-2, -1)) if K > 1 else torch.ones_like(n[..., 0]),
        "norm_ratios": norm_ratios(G),
        "max_min_norm_ratio": n.amax(-1) / n.amin(-1).clamp(min=tiny),
        "conflict_rate": conflict_rate(G),
    }
