"""Per-task gradients of shared parameters, and writing a combined direction to ``.grad``.

Cost: :func:`task_jacobian` runs ONE backward pass through the graph, vmapped over the K
rows of the identity (``torch.autograd.grad(..., is_grads_batched=True)``): every backward
kernel runs once on a K-wide batch instead of K separate graph traversals, so the Python and
kernel-launch overhead is that of a single backward and the arithmetic is that of K
(K-wide matrix products are much better used than K thin ones). Memory: the Jacobian,
``K x P`` for ``P`` shared parameters, plus K-wide intermediate gradients. Where an op has
no batching rule, pass ``batched=False`` to fall back to K ordinary backward passes.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import NamedTuple

import torch
from torch import Tensor

from ._base import check_losses

__all__ = [
    "MTLStep",
    "aggregate",
    "gramian",
    "mtl_backward",
    "param_slices",
    "task_jacobian",
    "write_grads",
]


def gramian(J: Tensor) -> Tensor:
    """``J @ J^T`` batched: ``J (..., K, P)`` -> ``(..., K, K)``."""
    if not isinstance(J, Tensor) or J.ndim < 2:
        raise ValueError(f"J must be a tensor of shape (..., K, P), got {getattr(J, 'shape', J)}")
    return J @ J.mT


def aggregate(
    J: Tensor, weighting: Callable[..., Tensor] | str, *, losses: Tensor | None = None
) -> Tensor:
    """Direction ``weights @ J`` (shape ``(..., P)``) with ``weights = weighting(J J^T)``.

    ``weighting`` is a stateless weighting or a registered name (default parameters).
    """
    if isinstance(weighting, str):
        from ._registry import get_weighting

        weighting = get_weighting(weighting)
    if getattr(weighting, "kind", "stateless") != "stateless":
        raise TypeError(
            f"aggregate needs a stateless weighting; for {weighting!r} call "
            "weights, state = m.update(state, losses=..., G=gramian(J)) and use weights @ J"
        )
    weights = weighting(gramian(J), losses=losses)
    return (weights.unsqueeze(-2) @ J).squeeze(-2)


def _flat(
    grads: Sequence[Tensor | None], params: Sequence[Tensor], lead: tuple[int, ...]
) -> Tensor:
    parts = [
        (
            torch.zeros(*lead, p.numel(), dtype=p.dtype, device=p.device)
            if g is None
            else g.reshape(*lead, p.numel())
        )
        for g, p in zip(grads, params, strict=True)
    ]
    return torch.cat(parts, dim=-1)


def _check_params(params: Sequence[Tensor], what: str) -> list[Tensor]:
    params = list(params)
    for p in params:
        if not isinstance(p, Tensor) or not p.requires_grad:
            raise ValueError(f"every tensor in {what} must require grad")
    return params


def task_jacobian(
    losses: Tensor, params: Sequence[Tensor], *, retain_graph: bool = False, batched: bool = True
) -> Tensor:
    """Jacobian ``(K, P)`` of the K task losses w.r.t. ``params`` (flattened, concatenated).

    One vmapped backward pass (see the module docstring); parameters a loss does not reach
    get zero columns.
    """
    losses = check_losses(losses, None, name="task_jacobian")
    if losses.ndim != 1:
        raise ValueError(f"losses must have shape (K,), got {tuple(losses.shape)}")
    params = _check_params(params, "params")
    K = losses.shape[0]
    if batched:
        eye = torch.eye(K, dtype=losses.dtype, device=losses.device)
        grads = torch.autograd.grad(
            losses,
            params,
            grad_outputs=eye,
            is_grads_batched=True,
            retain_graph=retain_graph,
            allow_unused=True,
        )
        return _flat(grads, params, (K,))
    rows = []
    for i in range(K):
        g = torch.autograd.grad(
            losses[i], params, retain_graph=retain_graph or i < K - 1, allow_unused=True
        )
        rows.append(_flat(g, params, ()))
    return torch.stack(rows)


def param_slices(params: Sequence[Tensor]) -> list[slice]:
    """Column slice of each parameter in a :func:`task_jacobian` of ``params``.

    E.g. the last shared layer's Gramian for GradNorm: ``gramian(J[:, sl])``.
    """
    out, start = [], 0
    for p in params:
        out.append(slice(start, start + p.numel()))
        start += p.numel()
    return out


def write_grads(params: Sequence[Tensor], direction: Tensor) -> None:
    """Add the flat ``direction (P,)`` into ``p.grad`` (created if None), like backward."""
    params = list(params)
    total = sum(p.numel() for p in params)
    if direction.shape != (total,):
        raise ValueError(f"direction must have shape ({total},), got {tuple(direction.shape)}")
    for p, sl in zip(params, param_slices(params), strict=True):
        g = direction[sl].reshape(p.shape).to(p.dtype)
        p.grad = g.clone() if p.grad is None else p.grad + g


class MTLStep(NamedTuple):
    """What :func:`mtl_backward` computed: task ``weights (K,)`` and the ``gramian (K, K)``."""

    weights: Tensor
    gramian: Tensor


def mtl_backward(
    losses: Tensor,
    shared_params: Sequence[Tensor],
    weighting: Callable[..., Tensor] | str,
    *,
    task_params: Sequence[Sequence[Tensor]] = (),
    retain_graph: bool = False,
) -> MTLStep:
    """One multi-task backward: combined direction into the shared ``.grad``.

    ``shared_params`` get ``weights @ J`` with ``weights = weighting(J J^T, losses=losses)``;
    ``task_params[i]`` (parameters only task ``i`` uses, e.g. its head) get task ``i``'s own
    gradient. Both come from the same single vmapped backward. Then any torch optimiser can
    ``step()``. For a stateful weighting, pass a closure, e.g.
    ``lambda G, losses: m.update(state, losses=losses, G=G)[0]`` (keep the new state
    yourself), or use :func:`task_jacobian` and :func:`write_grads` directly.
    """
    if isinstance(weighting, str):
        from ._registry import get_weighting

        weighting = get_weighting(weighting)
    shared = _check_params(shared_params, "shared_params")
    heads = [_check_params(ps, f"task_params[{i}]") for i, ps in enumerate(task_params)]
    K = losses.shape[-1]
    if heads and len(heads) != K:
        raise ValueError(f"task_params must have one entry per task ({K}), got {len(heads)}")
    head_flat = [p for ps in heads for p in ps]
    J_all = task_jacobian(losses, shared + head_flat, retain_graph=retain_graph)
    n_shared = sum(p.numel() for p in shared)
    J = J_all[:, :n_shared]
    G = gramian(J)
    weights = weighting(G, losses=losses.detach())
    write_grads(shared, weights.to(J.dtype) @ J)
    start = n_shared
    for i, ps in enumerate(heads):
        n = sum(p.numel() for p in ps)
        write_grads(ps, J_all[i, start : start + n])
        start += n
    return MTLStep(weights=weights, gramian=G)
