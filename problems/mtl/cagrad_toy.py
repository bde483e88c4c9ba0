"""The two-objective toy of the CAGrad paper (Liu et al., NeurIPS 2021).

With ``LOWER = 5e-6``::

    f1 = log(max(|0.5(-x1-7) - tanh(-x2)|, LOWER)) + 6
    f2 = log(max(|0.5(-x1+3) + tanh(-x2) + 2|, LOWER)) + 6
    c1 = max(tanh(x2/2), 0);  c2 = max(tanh(-x2/2), 0)
    f1_sq = ((-x1+7)^2 + 0.1(-x2-8)^2)/10 - 20
    f2_sq = ((-x1-7)^2 + 0.1(-x2-8)^2)/10 - 20
    f1 = f1*c1 + f1_sq*c2;  f2 = f2*c1 + f2_sq*c2

The upper half-plane holds two narrow log valleys where the averaged gradient stalls; the
lower half-plane holds two quadratic bowls whose Pareto set is ``x1 in [-7, 7]``,
``x2 ~ -8.3552``. The ``"scaled"`` variant multiplies ``f1`` by 0.1 (Nash-MTL, FAMO), which
makes the loss scales differ.
"""

from __future__ import annotations

import numpy as np
import torch
from torch import Tensor

from dse.problem import Problem, Real, register_problem

__all__ = [
    "CAGRAD_TOY_STARTS",
    "CAGradToy",
    "cagrad_toy_losses",
]

LOWER = 5e-6

#: Starting points used in the papers, per variant.
CAGRAD_TOY_STARTS: dict[str, tuple[tuple[float, float], ...]] = {
    "original": ((-8.5, 7.5), (-8.5, -5.0), (9.0, 9.0)),
    "scaled": ((-8.5, 7.5), (0.0, 0.0), (9.0, 9.0), (-7.5, -0.5), (9.0, -1.0)),
}

_VARIANT_SCALE = {"original": 1.0, "scaled": 0.1}


def cagrad_toy_losses(x: Tensor, variant: str = "original") -> Tensor:
    """``(f1, f2)`` of the toy at ``x`` of shape ``(..., 2)``; returns ``(..., 2)``.

    Differentiable, batched over leading dims, same device and dtype as ``x``.
    """
    if variant not in _VARIANT_SCALE:
        raise ValueError(f"unknown variant {variant!r}; valid: {', '.join(_VARIANT_SCALE)}")
    if x.shape[-1:] != (2,):
        raise ValueError(f"x must have shape (..., 2), got {tuple(x.shape)}")
    x1, x2 = x[..., 0], x[..., 1]
    th = torch.tanh(-x2)
    f1 = torch.clamp((0.5 * (-x1 - 7) - th).abs(), LOWER).log() + 6
    f2 = torch.clamp((0.5 * (-x1 + 3) + th + 2).abs(), LOWER).log() + 6
    c1 = torch.clamp(torch.tanh(x2 / 2), 0)
    c2 = torch.clamp(torch.tanh(-x2 / 2), 0)
    f1_sq = ((-x1 + 7) ** 2 + 0.1 * (-x2 - 8) ** 2) / 10 - 20
    f2_sq = ((-x1 - 7) ** 2 + 0.1 * (-x2 - 8) ** 2) / 10 - 20
    f1 = f1 * c1 + f1_sq * c2
    f2 = f2 * c1 + f2_sq * c2
    return torch.stack([f1 * _VARIANT_SCALE[variant], f2], dim=-1)


@register_problem("cagrad_toy")
class CAGradToy(Problem):
    """Two-objective toy of the CAGrad paper on ``[-10, 10]^2``.

    Parameters
    ----------
    variant
        ``"original"`` (Liu et al. 2021) or ``"scaled"`` (``f1`` times 0.1, as in Nash-MTL
        and FAMO).
    """

    name = "cagrad_toy"

    def __init__(self, variant: str = "original") -> None:
        if variant not in _VARIANT_SCALE:
            raise ValueError(f"unknown variant {variant!r}; valid: {', '.join(_VARIANT_SCALE)}")
        self.variant = variant
        super().__init__([Real("x1", -10.0, 10.0), Real("x2", -10.0, 10.0)], 2)

    @property
    def starts(self) -> np.ndarray:
        """The papers' starting points for this variant, ``(S, 2)``."""
        return np.array(CAGRAD_TOY_STARTS[self.variant])

    def _evaluate(self, x: Tensor) -> Tensor:
        return cagrad_toy_losses(x, self.variant)

    def pareto_set(self, n: int = 100) -> np.ndarray:
        """``n`` points of the Pareto set, ``x1`` evenly spaced in ``[-7, 7]``.

        The objective scaling of the variant does not move the set (scaling ``f1`` only
        relabels the weights), so both variants share it.
        """
        x1 = np.linspace(-7.0, 7.0, n)
        return np.stack([x1, _pareto_x2(x1)], axis=1)

    def pareto_front(self, n: int = 100) -> np.ndarray:
        with torch.no_grad():
            F = self._evaluate(torch.from_numpy(self.pareto_set(n)))
        return F.numpy()


def _pareto_x2(x1: np.ndarray) -> np.ndarray:
    """``x2`` of the Pareto point with first coordinate ``x1`` (``|x1| <= 7``).

    Below ``x2 = 0`` both objectives read ``c2(x2) (a_i(x1) + q(x2))`` with
    ``a_1 = (x1-7)^2/10``, ``a_2 = (x1+7)^2/10``, ``q = 0.01 (x2+8)^2 - 20``. Stationarity
    of ``l f1 + (1-l) f2`` in ``x1`` gives ``l = (x1+7)/14``; in ``x2`` it says ``x2``
    minimises ``c2(x2) (l a_1 + (1-l) a_2 + q(x2))``, solved here by golden-section search
    (about -8.355, moving slightly with ``x1``) instead of being hard-coded.
    """
    lam = (x1 + 7.0) / 14.0
    a = (lam * (x1 - 7.0) ** 2 + (1.0 - lam) * (x1 + 7.0) ** 2) / 10.0

    def h(x2: np.ndarray) -> np.ndarray:
        return np.tanh(-x2 / 2) * (a + 0.01 * (x2 + 8) ** 2 - 20)

    lo, hi = np.full_like(x1, -10.0), np.full_like(x1, -6.0)
    r = (np.sqrt(5) - 1) / 2
    for _ in range(100):
        u, v = hi - r * (hi - lo), lo + r * (hi - lo)
        left = h(u) < h(v)
        hi = np.where(left, v, hi)
        lo = np.where(left, lo, u)
    return 0.5 * (lo + hi)
