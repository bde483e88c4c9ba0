"""How each sweep method turns a row's objectives and preference into a direction or a value.

Objectives are normalised, ``Fn = (F - ideal) / (nadir - ideal)``. A preference vector
``d`` on the simplex means, per method:

- ``weighted_sum``, ``cagrad``, ``gradient``: *weights* (the importance of each objective),
  floored at ``weight_floor`` so that corner vectors reach Pareto-optimal rather than
  weakly optimal points;
- ``chebyshev``, ``epo``: a *ray* from the utopia point ``-u`` (just below the ideal)
  through ``d``: the row's target satisfies ``Fn + u = t (d + u)``, reached with
  Tchebycheff weights / EPO scaling ``r ∝ 1 / (d + u)``;
- ``mgda``: nothing (multi-start).

Two uses: :func:`direction` is the descent direction of a batch (autograd), and
:func:`row_values` the scalar by which a row ranks its exactly evaluated designs (the one
it reports, the one a polish step must improve). Infeasible designs rank after every
feasible one, by total violation.
"""

from __future__ import annotations

from typing import Any

import torch
from torch import Tensor

__all__ = [
    "INFEASIBLE",
    "RAY_METHODS",
    "anchor_weights",
    "direction",
    "ray_preferences",
    "row_values",
    "scaling",
]

#: Methods whose preference vectors are rays in normalised objective space.
RAY_METHODS = ("chebyshev", "epo")
#: Value added to the violation of an infeasible design, so it ranks after all feasible.
INFEASIBLE = 1e12


def scaling(method: str, P: Tensor, *, utopia: float, weight_floor: float,
            preference_scaling: bool = True) -> Tensor:
    """Per-row task scaling ``r`` (B, K), mean 1, applied to the Gramian and the losses."""
    K = P.shape[-1]
    if method in RAY_METHODS:
        # Ray from the utopia point through ideal + d: Fn + u = t (d + u). The shift keeps
        # rays on the simplex's faces (some d_k = 0) reachable: with weights 1 / d_k -> inf
        # the term of an objective already at its minimum would pin the max at the
        # constant utopia offset and stop the other objectives.
        r = 1.0 / (P + utopia)
        return r / r.sum(-1, keepdim=True) * K
    if method == "mgda" or not preference_scaling:
        return torch.ones_like(P)
    w = P.clamp(min=weight_floor)
    return w / w.sum(-1, keepdim=True) * K


def _chebyshev(Fn: Tensor, R: Tensor, s: Any) -> Tensor:
    lam = R / R.sum(-1, keepdim=True)
    u = lam * (Fn + s.utopia)
    peak = s.smooth * torch.logsumexp(u / s.smooth, dim=-1) if s.smooth > 0 else u.amax(-1)
    # The augmentation term rho * sum(u) makes the minimiser Pareto optimal, not only
    # weakly optimal (flat directions of the max are broken toward lower objectives).
    return peak + s.rho * u.sum(-1)


def _weighted(Fn: Tensor, P: Tensor, s: Any) -> Tensor:
    W = P.clamp(min=s.weight_floor)
    return (W / W.sum(-1, keepdim=True) * Fn).sum(-1)


def direction(
    s: Any, z: Tensor, Fn: Tensor, pen: Tensor, P: Tensor, R: Tensor, weighting: Any,
    anchor: Tensor,
) -> Tensor:
    """Descent direction ``(B, n_relaxed)`` of the batch (graph of ``Fn`` alive).

    Scalarised methods need one backward pass of the summed per-row losses (rows are
    independent, so the gradient of the sum is each row's own gradient). Jacobian methods
    take K backward passes, one per objective, and apply the batched weighting to the
    Gramian of the preference-scaled task gradients ``J_s = diag(r) J``. Rows flagged in
    ``anchor`` (a ``(B,)`` bool mask) descend on :func:`anchor_weights` instead.
    """
    A = anchor_weights(s, P)
    if s.method in ("weighted_sum", "chebyshev"):
        loss = _weighted(Fn, P, s) if s.method == "weighted_sum" else _chebyshev(Fn, R, s)
        loss = torch.where(anchor, (A * Fn).sum(-1), loss) + pen
        return torch.autograd.grad(loss.sum(), z)[0]
    K = Fn.shape[-1]
    Fp = Fn + pen[:, None]
    rows = [
        torch.autograd.grad(Fp[:, k].sum(), z, retain_graph=k < K - 1)[0] for k in range(K)
    ]
    J = torch.stack(rows, dim=1)  # (B, K, n)
    Js = J * R[..., None]
    G = Js @ Js.transpose(-1, -2)
    losses = R * (Fn.detach() + s.utopia)
    w = weighting(G, losses=losses)
    d = torch.einsum("bk,bkn->bn", w.to(Js.dtype), Js)
    d_anchor = torch.einsum("bk,bkn->bn", A, J)
    return torch.where(anchor[:, None], d_anchor, d)


def anchor_weights(s: Any, P: Tensor) -> Tensor:
    """Weights ``(B, K)`` by which an anchor row with corner preference ``P`` descends.

    For weight methods the corner ``e_k`` means "minimise objective k": weights ``e_k``.
    For ray methods it is the ray through ``e_k``, which ends at the extreme point where
    every *other* objective is smallest: weights ``1 - e_k``. Either way the remaining
    weights are ``weight_floor``, so the anchor is lexicographic (Pareto optimal), and it
    reaches a steep end of the front that a Tchebycheff ray, offset by the utopia, stops
    short of.
    """
    W = (1.0 - P) if s.method in RAY_METHODS else P
    W = W.clamp(min=s.weight_floor)
    return W / W.sum(-1, keepdim=True)


def row_values(s: Any, Fn: Tensor, G: Tensor, P: Tensor, R: Tensor, anchor: Tensor) -> Tensor:
    """The scalar by which each row ranks its exact designs (lower is better).

    Weighted-sum rows and anchors use their weighted sum; preference rows of the other
    methods the augmented Tchebycheff value on their ray (what they converge to, for EPO
    exactly); MGDA rows, which have no preference, the sum of the normalised objectives
    (MGDA descends in all objectives at once). Infeasible designs and non-finite
    objectives rank last.
    """
    if s.method == "weighted_sum":
        val = _weighted(Fn, P, s)
    elif s.method == "mgda":
        val = Fn.sum(-1)
    else:
        lam = scaling("chebyshev", P, utopia=s.utopia, weight_floor=s.weight_floor)
        val = torch.where(anchor, (anchor_weights(s, P) * Fn).sum(-1), _chebyshev(Fn, lam, s))
    viol = torch.relu(G).sum(-1) if G.shape[-1] else torch.zeros_like(val)
    val = torch.where(viol > 0, INFEASIBLE + viol, val)
    return torch.where(torch.isfinite(val), val, torch.full_like(val, torch.inf))


def ray_preferences(Fn: Tensor, utopia: float) -> Tensor:
    """The preference vector whose ray passes through each normalised point ``Fn``.

    Inverse of ``Fn + u = t (d + u)`` with ``sum(d) = 1``:
    ``d = (Fn + u) (1 + K u) / (sum(Fn) + K u) - u``, clipped to the simplex (points
    beyond the nadir or below the ideal have no exact ray on it).
    """
    K = Fn.shape[-1]
    u = utopia
    Fc = Fn.clamp(min=0.0)
    d = (Fc + u) * (1 + K * u) / (Fc.sum(-1, keepdim=True) + K * u) - u
    d = d.clamp(min=0.0)
    return d / d.sum(-1, keepdim=True).clamp(min=1e-300)
