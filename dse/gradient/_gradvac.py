"""GradVac (Wang et al., 2021): gradient vaccine, a stateful weighting on the Gramian.

For each task ``i``, its gradient is corrected against every other task ``j`` in a random
order: with ``phi`` the cosine of the (corrected) ``g_i`` and ``g_j`` and ``phi_hat`` an
exponential moving average of past cosines of that pair, where ``phi < phi_hat`` the paper's
closed form adds ``w g_j`` to ``g_i`` so that the cosine rises to ``phi_hat``:

    w = ||g_i|| (phi_hat sqrt(1 - phi^2) - phi sqrt(1 - phi_hat^2))
        / (||g_j|| sqrt(1 - phi_hat^2));

then ``phi_hat <- (1 - beta) phi_hat + beta phi``. The direction is the sum of the
corrected gradients. Every corrected gradient is ``sum_k C_ik g_k``, so norms and cosines
come from ``C G C^T`` and ``C G``: the whole method runs on the Gramian, all ``i`` (and the
batch) at once in ``K - 1`` vectorised steps.
"""

from __future__ import annotations

from dataclasses import dataclass

import torch
from torch import Tensor

from ._base import check_gramian, non_negative, normalise_gramian, seed_value, seeded_generator
from ._stateful import StatefulWeighting, _k

__all__ = ["GradVac", "GradVacState", "gradvac_weights"]


def gradvac_weights(
    G: Tensor, order: Tensor, phi_hat: Tensor, *, beta: float, eps: float = 0.0
) -> tuple[Tensor, Tensor]:
    """GradVac weights and the updated targets for given visiting orders.

    ``G (..., K, K)``; ``order (..., K, K - 1)`` (long, on ``G``'s device): row ``i`` lists
    the other tasks in the order ``g_i`` is corrected against them; ``phi_hat (..., K, K)``
    the targets. ``eps`` is added to the two denominators as in the reference code; with 0
    the divisions are exact and a correction whose denominator vanishes is skipped (a zero
    gradient, or a target cosine of exactly 1, which no finite correction reaches).
    Returns ``(weights (..., K), phi_hat (..., K, K))``.
    """
    K = G.shape[-1]
    batch = G.shape[:-2]
    C = torch.eye(K, dtype=G.dtype, device=G.device).expand(*batch, K, K).clone()
    phi_hat = phi_hat.expand(*batch, K, K).clone()
    norm = G.diagonal(dim1=-2, dim2=-1).clamp(min=0.0).sqrt()
    for t in range(K - 1):
        j = order[..., :, t].expand(*batch, K)  # (..., K): the task row i meets at step t
        CG = C @ G  # row i: g_i^corr . g_k for every k
        dot = CG.gather(-1, j.unsqueeze(-1)).squeeze(-1)
        norm_i = (CG * C).sum(-1).clamp(min=0.0).sqrt()
        norm_j = norm.gather(-1, j)
        target = phi_hat.gather(-1, j.unsqueeze(-1)).squeeze(-1)
        den = norm_i * norm_j + eps
        phi = torch.where(den > 0, dot / torch.where(den > 0, den, 1.0), 0.0)
        root_hat = (1.0 - target * target).clamp(min=0.0).sqrt()
        den_w = norm_j * root_hat + eps
        w = norm_i * (target * (1.0 - phi * phi).clamp(min=0.0).sqrt() - phi * root_hat)
        fix = (phi < target) & (den_w > 0)
        w = torch.where(fix, w / torch.where(den_w > 0, den_w, 1.0), 0.0)
        C = C.scatter_add(-1, j.unsqueeze(-1), w.unsqueeze(-1))
        phi_hat = phi_hat.scatter(
            -1, j.unsqueeze(-1), ((1.0 - beta) * target + beta * phi).unsqueeze(-1)
        )
    return C.sum(-2), phi_hat


@dataclass(frozen=True)
class GradVacState:
    """``phi_hat``: the target cosines ``(..., K, K)`` (float64); ``rng``: the state of the
    CPU generator that draws the visiting orders (advanced by each update); ``step``."""

    phi_hat: Tensor
    rng: Tensor
    step: Tensor


class GradVac(StatefulWeighting):
    """GradVac: each gradient pulled towards a moving-average cosine with every other one.

    ``beta`` is the moving average's rate (the paper's 1e-2 for its translation models;
    TorchJD's default 0.5, also here); the targets start at 0, so the first update is
    PCGrad-like (conflicting pairs are made orthogonal). The visiting orders come from a
    CPU generator seeded with ``seed`` whose state lives in the weighting's state, so an
    update is a pure function of its state (``seed=None``: seeded from the OS at ``init``).
    Works on the trace-normalised Gramian; with ``eps = 0`` (default) it is invariant to the
    Gramian's scale. ``eps`` is added to the denominators as in the reference code (TorchJD:
    1e-8 on the raw Gramian); here it is relative to the normalised one.
    ``G`` is the Gramian of the task gradients of all the shared parameters (the paper's
    'whole model' grouping: ``gramian_scope = "shared"``). Weights ``(..., K)``; the batch
    shape is fixed by the first update.
    """

    name = "gradvac"
    needs_gramian = True
    needs_losses = False

    def __init__(self, beta: float = 0.5, eps: float = 0.0, seed: int | None = 0) -> None:
        beta = non_negative(beta, name="beta")
        if beta > 1:
            raise ValueError(f"beta must be in [0, 1], got {beta!r}")
        super().__init__(beta=beta, eps=non_negative(eps, name="eps"), seed=seed_value(seed))

    def init(
        self, K: int, *, device: torch.device | str | None = None, dtype: torch.dtype | None = None
    ) -> GradVacState:
        K = _k(K)
        gen = seeded_generator(self.params["seed"])
        return GradVacState(
            phi_hat=torch.zeros(K, K, dtype=torch.float64, device=device),
            rng=gen.get_state(),
            step=torch.zeros((), dtype=torch.long, device=device),
        )

    def update(
        self, state: GradVacState, *, losses: Tensor | None = None, G: Tensor | None = None
    ) -> tuple[Tensor, GradVacState]:
        K = state.phi_hat.shape[-1]
        if G is None:
            raise ValueError(f"gradvac needs the Gramian G of shape (..., {K}, {K})")
        G = check_gramian(G)
        if G.shape[-1] != K:
            raise ValueError(f"G must have shape (..., {K}, {K}), got {tuple(G.shape)}")
        gen = torch.Generator()
        gen.set_state(state.rng)
        # Row i: a random order of the K - 1 other tasks (indices skip i itself).
        perm = torch.rand(*G.shape[:-1], K - 1, generator=gen).argsort(-1)
        order = (perm + (perm >= torch.arange(K).unsqueeze(-1))).to(G.device)
        w, phi_hat = gradvac_weights(
            normalise_gramian(G.detach()), order, state.phi_hat.to(G.device),
            beta=self.params["beta"], eps=self.params["eps"],
        )
        new_state = GradVacState(phi_hat=phi_hat, rng=gen.get_state(), step=state.step + 1)
        return w.to(G.dtype), new_state
