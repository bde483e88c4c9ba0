"""Stateful weightings with explicit state (optax style: pure ``init`` / ``update``).

Every method here has the same API::

    m = get_weighting("dwa", temperature=2.0)
    state = m.init(K, device=device, dtype=dtype)
    weights, state = m.update(state, losses=losses, G=G)   # G only if m.needs_gramian

``losses`` has shape ``(..., K)`` (any leading batch dims, fixed from the first update on);
``weights`` ``(..., K)`` are detached and meant for ``weights @ J`` (or
``(weights * losses).sum(-1).backward()``). ``update`` never mutates ``state``; it returns a
new one. Learnable weightings (uncertainty) expose ``parameters(state)`` for a torch
optimiser and ``loss(state, losses)``, the full differentiable objective.
"""

from __future__ import annotations

from dataclasses import dataclass, replace
from typing import Any, ClassVar

import torch
from torch import Tensor

from ._base import WeightingBase, check_gramian, check_losses, non_negative

__all__ = [
    "DWA",
    "DWAState",
    "GradNorm",
    "GradNormState",
    "LossNorm",
    "LossNormState",
    "StatefulWeighting",
    "UncertaintyState",
    "UncertaintyWeighting",
]


class StatefulWeighting(WeightingBase):
    """Base of the stateful weightings: ``init``, ``update``, ``parameters``."""

    kind: ClassVar[str] = "stateful"
    needs_losses: ClassVar[bool] = True

    def init(
        self, K: int, *, device: torch.device | str | None = None, dtype: torch.dtype | None = None
    ) -> Any:
        """Initial state for ``K`` objectives on ``device`` / ``dtype`` (default float32)."""
        raise NotImplementedError

    def update(self, state: Any, *, losses: Tensor, G: Tensor | None = None) -> tuple[Tensor, Any]:
        """Return ``(weights, new_state)``; see the module docstring."""
        raise NotImplementedError

    def parameters(self, state: Any) -> list[Tensor]:
        """Learnable tensors of ``state`` to hand to a torch optimiser (none by default)."""
        return []

    def _losses(self, losses: Tensor, K: int) -> Tensor:
        return check_losses(losses, K, name=self.name).detach()


def _k(K: int) -> int:
    if isinstance(K, bool) or not isinstance(K, int) or K < 1:
        raise ValueError(f"K must be an integer >= 1, got {K!r}")
    return K


@dataclass(frozen=True)
class UncertaintyState:
    """``log_vars``: learnable log-variances ``s`` (a leaf tensor with requires_grad)."""

    log_vars: Tensor


class UncertaintyWeighting(StatefulWeighting):
    """Uncertainty weighting (Kendall et al., 2018): ``sum_i 0.5 exp(-s_i) L_i + 0.5 s_i``.

    ``s`` are learnable log-variances (initialised at ``init_log_var``). Two equivalent uses:

    - scalar loss: ``m.loss(state, losses).backward()`` trains the model and ``s`` in one
      backward pass (put ``m.parameters(state)`` into the optimiser);
    - Gramian route: ``weights = 0.5 exp(-s)`` (detached) for ``weights @ J``, plus
      ``m.loss(state, losses.detach()).backward()`` to give ``s`` its exact gradient.

    ``update`` returns the current weights and the same state: ``s`` is changed by the
    optimiser, in place, like any model parameter.
    """

    name = "uncertainty"

    def __init__(self, init_log_var: float = 0.0) -> None:
        super().__init__(init_log_var=float(init_log_var))

    def init(
        self, K: int, *, device: torch.device | str | None = None, dtype: torch.dtype | None = None
    ) -> UncertaintyState:
        s = torch.full(
            (_k(K),), self.params["init_log_var"], device=device, dtype=dtype or torch.float32
        )
        return UncertaintyState(log_vars=s.requires_grad_(True))

    def update(
        self, state: UncertaintyState, *, losses: Tensor, G: Tensor | None = None
    ) -> tuple[Tensor, UncertaintyState]:
        losses = self._losses(losses, state.log_vars.shape[-1])
        w = 0.5 * torch.exp(-state.log_vars.detach())
        return w.to(losses.dtype).expand(losses.shape), state

    def loss(self, state: UncertaintyState, losses: Tensor) -> Tensor:
        """Kendall's objective, differentiable w.r.t. ``losses`` and ``state.log_vars``.

        Summed over tasks (and over any leading batch dims of ``losses``).
        """
        check_losses(losses, state.log_vars.shape[-1], name=self.name)
        s = state.log_vars
        return (0.5 * torch.exp(-s) * losses + 0.5 * s).sum()

    def parameters(self, state: UncertaintyState) -> list[Tensor]:
        return [state.log_vars]


@dataclass(frozen=True)
class GradNormState:
    """``weights`` (sum to K), ``initial_losses`` (set at the first update), ``step``."""

    weights: Tensor
    initial_losses: Tensor | None
    step: Tensor


class GradNorm(StatefulWeighting):
    """GradNorm (Chen et al., 2018) with explicit state and a built-in weight step.

    ``G`` must be the Gramian of the per-task gradients of the *last shared layer* (see
    :func:`dse.gradient.task_jacobian`), so ``||grad_W (w_i L_i)|| = w_i sqrt(G_ii)``. With
    ``r_i = (L_i / L_i(0)) / mean_j(L_j / L_j(0))`` and target
    ``T_i = mean_j(w_j sqrt(G_jj)) * r_i^alpha`` (held constant, as in the paper), the
    GradNorm loss ``sum_i |w_i sqrt(G_ii) - T_i|`` has gradient
    ``sign(w_i sqrt(G_ii) - T_i) sqrt(G_ii)``; ``update`` returns the current weights, then
    takes one step of size ``lr`` along that gradient divided by the mean norm (scale-free),
    clamps them positive and renormalises them to sum to K. ``alpha = 0.12`` is the
    paper's value for its synthetic task.
    """

    name = "gradnorm"
    needs_gramian = True
    gramian_scope = "last_shared_layer"

    def __init__(self, alpha: float = 0.12, lr: float = 0.025) -> None:
        super().__init__(alpha=non_negative(alpha, name="alpha"), lr=non_negative(lr, name="lr"))

    def init(
        self, K: int, *, device: torch.device | str | None = None, dtype: torch.dtype | None = None
    ) -> GradNormState:
        K = _k(K)
        dtype = dtype or torch.float32
        return GradNormState(
            weights=torch.ones(K, device=device, dtype=dtype),
            initial_losses=None,
            step=torch.zeros((), device=device, dtype=torch.long),
        )

    def update(
        self, state: GradNormState, *, losses: Tensor, G: Tensor | None = None
    ) -> tuple[Tensor, GradNormState]:
        K = state.weights.shape[-1]
        losses = self._losses(losses, K)
        if G is None:
            raise ValueError("gradnorm needs G, the last shared layer's Gramian (..., K, K)")
        G = check_gramian(G)
        if G.shape[-1] != K:
            raise ValueError(f"G must have shape (..., {K}, {K}), got {tuple(G.shape)}")
        L0 = losses if state.initial_losses is None else state.initial_losses
        w = state.weights.expand(losses.shape).to(losses.dtype)
        norms = G.detach().diagonal(dim1=-2, dim2=-1).clamp(min=0).sqrt().to(losses.dtype)
        ratio = losses / L0.clamp(min=torch.finfo(losses.dtype).tiny)
        r = ratio / ratio.mean(-1, keepdim=True).clamp(min=torch.finfo(losses.dtype).tiny)
        gw = w * norms
        target = gw.mean(-1, keepdim=True) * r ** self.params["alpha"]
        # Divided by the mean norm so that lr is scale-free (the paper steps the weights with
        # the model's optimiser, e.g. Adam, which has the same invariance).
        mean_norm = norms.mean(-1, keepdim=True).clamp(min=torch.finfo(norms.dtype).tiny)
        grad = torch.sign(gw - target) * norms / mean_norm
        new_w = (w - self.params["lr"] * grad).clamp(min=1e-6)
        new_w = K * new_w / new_w.sum(-1, keepdim=True)
        new_state = replace(state, weights=new_w, initial_losses=L0, step=state.step + 1)
        return w, new_state


@dataclass(frozen=True)
class DWAState:
    """The most recent loss vector seen (``None`` until observed) and ``step``."""

    prev: Tensor | None
    step: Tensor


class DWA(StatefulWeighting):
    """Dynamic weight average (Liu et al., 2019): ``w = K softmax(r / T)``,
    ``r_i = L_i(t-1) / L_i(t-2)``; weights 1 until two loss vectors have been seen.

    ``update(state, losses=L)`` records ``L`` and returns the weights computed from the
    two most recent records (including ``L``). The paper records epoch-mean losses, so call
    it once per epoch and reuse the weights over the next epoch, or once per step.
    Weights sum to K as in the paper.
    """

    name = "dwa"

    def __init__(self, temperature: float = 2.0) -> None:
        t = non_negative(temperature, name="temperature")
        if t == 0:
            raise ValueError("temperature must be > 0, got 0")
        super().__init__(temperature=t)

    def init(
        self, K: int, *, device: torch.device | str | None = None, dtype: torch.dtype | None = None
    ) -> DWAState:
        _k(K)
        return DWAState(prev=None, step=torch.zeros((), dtype=torch.long, device=device))

    def update(
        self, state: DWAState, *, losses: Tensor, G: Tensor | None = None
    ) -> tuple[Tensor, DWAState]:
        K = losses.shape[-1] if state.prev is None else state.prev.shape[-1]
        losses = self._losses(losses, K)
        new_state = DWAState(prev=losses, step=state.step + 1)
        if state.prev is None:
            return torch.ones_like(losses), new_state
        r = losses / state.prev.clamp(min=torch.finfo(losses.dtype).tiny)
        return K * torch.softmax(r / self.params["temperature"], dim=-1), new_state


@dataclass(frozen=True)
class LossNormState:
    """``initial_losses``: the first losses seen (used by ``mode='initial'``)."""

    initial_losses: Tensor | None


class LossNorm(StatefulWeighting):
    """Loss normalisation, three modes.

    - ``'initial'``: ``L_i / L_i(0)``, weights ``1 / L_i(0)`` (state: the first losses);
    - ``'dynamic'``: ``L_i / stop_grad(L_i)``, weights ``1 / L_i``: the gradient of
      ``sum_i log L_i``;
    - ``'geometric'``: the geometric mean ``(prod_i L_i)^(1/K)``, whose gradient has weights
      ``GM / (K L_i)``.

    Losses must be positive.
    """

    name = "loss_norm"
    _MODES = ("initial", "dynamic", "geometric")

    def __init__(self, mode: str = "initial") -> None:
        if mode not in self._MODES:
            raise ValueError(f"mode must be one of {self._MODES}, got {mode!r}")
        super().__init__(mode=mode)

    def init(
        self, K: int, *, device: torch.device | str | None = None, dtype: torch.dtype | None = None
    ) -> LossNormState:
        _k(K)
        return LossNormState(initial_losses=None)

    def update(
        self, state: LossNormState, *, losses: Tensor, G: Tensor | None = None
    ) -> tuple[Tensor, LossNormState]:
        K = None if state.initial_losses is None else state.initial_losses.shape[-1]
        losses = self._losses(losses, K)
        tiny = torch.finfo(losses.dtype).tiny
        L0 = losses if state.initial_losses is None else state.initial_losses
        mode = self.params["mode"]
        if mode == "initial":
            w = 1.0 / L0.clamp(min=tiny)
        elif mode == "dynamic":
            w = 1.0 / losses.clamp(min=tiny)
        else:
            logs = torch.log(losses.clamp(min=tiny))
            gm = torch.exp(logs.mean(-1, keepdim=True))
            w = gm / (losses.shape[-1] * losses.clamp(min=tiny))
        return w, LossNormState(initial_losses=L0)
