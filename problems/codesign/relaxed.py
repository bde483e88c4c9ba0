"""The smooth relaxation of the co-design model, for gradient-based solvers.

The relaxed vector ``z`` has the default layout of :class:`dse.Problem`: the six hardware
values in place (exponents become reals), then per layer ``tm, tk, tn`` (real exponents)
and one logit per option of ``df`` and of ``ord``. Relative to the exact model:

* ``R = 2^pe_rows`` etc. with real exponents; tiles ``T = min(2^t, X)`` (kept as is: exact at
  integers and piecewise smooth in ``t``);
* every ``ceil(x)`` becomes ``smooth_max(x, 1)`` and every ``max(a, b)`` the ``p``-norm
  smooth maximum, computed in log space (:func:`~problems.codesign.model.smooth_max`);
* each categorical becomes the softmax mixture of its per-option costs (compute cycles
  over dataflows, DRAM bytes over loop orders);
* the buffer constraints keep their exact form ``need / capacity - 1``, which is already a
  smooth function of the real tile exponents and buffer sizes.
"""

from __future__ import annotations

import torch
from torch import Tensor

from problems.codesign.model import HARDWARE_DOMAINS, design_costs, smooth_ops

__all__ = ["RELAXED_PER_LAYER", "relaxed_costs"]

#: Entries of ``z`` per layer: three tile exponents, three dataflow and three order logits.
RELAXED_PER_LAYER = 9
_N_HW = len(HARDWARE_DOMAINS)


def relaxed_costs(z: Tensor, dims: Tensor, counts: Tensor, sharpness: float) -> dict[str, Tensor]:
    """Smooth costs of relaxed designs ``z`` of shape ``(..., 6 + 9 L)``.

    Returns the same keys as :func:`~problems.codesign.model.design_costs`, differentiable
    with respect to ``z`` (same dtype and device).
    """
    n_layers = dims.shape[0]
    if z.shape[-1] != _N_HW + RELAXED_PER_LAYER * n_layers:
        raise ValueError(
            f"z must have shape (..., {_N_HW + RELAXED_PER_LAYER * n_layers}) for "
            f"{n_layers} layers, got {tuple(z.shape)}"
        )
    r, c, sp, acc, ch, aspect = z[..., :_N_HW].unbind(dim=-1)
    hw = (torch.exp2(r), torch.exp2(c), torch.exp2(sp), torch.exp2(acc), torch.exp2(ch), aspect)
    sw = z[..., _N_HW:].reshape(*z.shape[:-1], n_layers, RELAXED_PER_LAYER)
    T = torch.minimum(torch.exp2(sw[..., :3]), dims)
    dataflow = torch.softmax(sw[..., 3:6], dim=-1)
    order = torch.softmax(sw[..., 6:9], dim=-1)
    return design_costs(hw, T, dataflow, order, dims, counts, smooth_ops(sharpness))
