"""The concave two-objective problem of Pareto MTL (Lin et al., NeurIPS 2019).

    f_1(x) = 1 - exp(-||x - 1/sqrt(n)||^2),   f_2(x) = 1 - exp(-||x + 1/sqrt(n)||^2)

with ``x`` in R^n, n = 20 (the paper's setting; its starts are ``x0 ~ U(-0.5, 0.5)^n``).
This is Van Veldhuizen and Lamont's VLMOP2 (1999) in ``n`` dimensions. The paper leaves
``x`` unbounded; a :class:`dse.Problem` needs a box and we use VLMOP2's usual
``[-2, 2]^n``, which holds the paper's starts, the whole Pareto set and a margin around it.

Pareto set: the segment ``x = (s / sqrt(n)) * (1, ..., 1)``, ``s`` in [-1, 1]; front:
``(1 - exp(-(s - 1)^2), 1 - exp(-(s + 1)^2))``, concave, from (0, 1 - e^-4) to
(1 - e^-4, 0). It is concave for ``|s| < 1/sqrt(2)`` and only slightly convex beyond, so
linear scalarisation finds only points within 0.002 of its two ends, whatever the weights.
"""

from __future__ import annotations

import math

import numpy as np
import torch
from torch import Tensor

from dse.problem import Problem, Real, register_problem

__all__ = ["ParetoMTLConcave"]


@register_problem("pmtl_concave", aliases=("vlmop2",))
class ParetoMTLConcave(Problem):
    """Pareto MTL's concave synthetic problem (VLMOP2), ``n_var`` reals in ``[-bound, bound]``."""

    name = "pmtl_concave"

    def __init__(self, n_var: int = 20, bound: float = 2.0) -> None:
        if int(n_var) != n_var or n_var < 1:
            raise ValueError(f"pmtl_concave: n_var must be an integer >= 1, got {n_var}")
        n_var = int(n_var)
        # The box must contain the Pareto set, whose coordinates reach 1/sqrt(n).
        if not bound >= 1.0 / math.sqrt(n_var):
            raise ValueError(
                f"pmtl_concave: bound must be >= 1/sqrt(n_var) = {1.0 / math.sqrt(n_var):.4g} "
                f"so the box holds the Pareto set, got {bound}"
            )
        self.bound = float(bound)
        super().__init__([Real(f"x{i + 1}", -self.bound, self.bound) for i in range(n_var)],
                         n_obj=2)

    def _evaluate(self, x: Tensor) -> Tensor:
        c = 1.0 / math.sqrt(self.n_var)
        d1 = ((x - c) ** 2).sum(dim=-1)
        d2 = ((x + c) ** 2).sum(dim=-1)
        # 1 - exp(-d) as -expm1(-d): accurate near the optimum of each objective.
        return torch.stack([-torch.expm1(-d1), -torch.expm1(-d2)], dim=-1)

    def pareto_set(self, n: int = 100) -> np.ndarray:
        """``n`` designs evenly spaced along the Pareto set (a segment)."""
        s = np.linspace(-1.0, 1.0, n) / math.sqrt(self.n_var)
        return np.repeat(s[:, None], self.n_var, axis=1)

    def pareto_front(self, n: int = 100) -> np.ndarray:
        s = np.linspace(-1.0, 1.0, n)
        return np.column_stack([-np.expm1(-((s - 1.0) ** 2)), -np.expm1(-((s + 1.0) ** 2))])

    @property
    def ideal(self) -> np.ndarray:
        return np.zeros(2)

    @property
    def nadir(self) -> np.ndarray:
        return np.full(2, -math.expm1(-4.0))
