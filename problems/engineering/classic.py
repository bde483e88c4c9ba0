"""Classic constrained two-objective test problems: BNH, SRN, OSY and TNK.

Sources of the formulations (values and bounds as in pymoo 0.6, ``pymoo.problems.multi``;
this is an independent implementation in torch):

* **BNH** -- T. T. Binh and U. Korn, "MOBES: a multiobjective evolution strategy for
  constrained optimization problems", Proc. Mendel 1997; as restated in K. Deb,
  *Multi-Objective Optimization using Evolutionary Algorithms*, Wiley 2001.
* **SRN** -- N. Srinivas and K. Deb, "Multiobjective optimization using nondominated sorting
  in genetic algorithms", Evolutionary Computation 2(3), 1994.
* **OSY** -- A. Osyczka and S. Kundu, "A new method to solve generalized multicriteria
  optimization problems using the simple genetic algorithm", Structural Optimization 10,
  1995; Pareto-optimal regions as tabulated in Deb (2001).
* **TNK** -- M. Tanaka et al., "GA-based decision support system for multicriteria
  optimization", Proc. IEEE SMC 1995.

Constraints are returned as ``G <= 0``, with pymoo's normalisation except for SRN's circle,
``(x1^2 + x2^2) / 225 - 1`` (pymoo: ``x1^2 + x2^2 - 225``), scaled to order one so that
penalty-based gradient solvers weigh both constraints alike.

Fronts are computed from the closed-form Pareto sets, evaluated with the problems' own
formulas, and filtered to the feasible non-dominated points:

* BNH: ``x1 = x2`` in [0, 3], then ``x2 = 3``, ``x1`` in [3, 5] (pymoo's).
* SRN: three pieces, not only pymoo's segment ``x1 = -2.5``: where the linear constraint
  ``x1 - 3 x2 + 10 <= 0`` is active (``x2`` in [2.5, 3.7], the minimum of ``f1`` = 10.1 at
  ``x = (1.1, 3.7)``), the segment ``x1 = -2.5`` (the only stationary points of a weighted
  sum: ``f1 + f2 = x1^2 + 5 x1 + 6``), and the arc of the circle constraint beyond it. pymoo's
  front covers only the segment (``f1 >= 24.5``).
* SRN with ``integer=True`` (``x1`` an integer in [-20, 20]): for each integer ``x1`` the
  objectives trade off along ``|x2 - 1|``; the front is the non-dominated union of these
  curves over all feasible ``x2``.
* OSY: Deb's five regions (``x4 = x6 = 0``; AB/BC: ``x1 = 5, x2 = 1``, ``x5`` in {5, 1},
  ``x3`` free; CD: ``x2 = (x1 - 2) / 3``; DE: ``x1 = 0, x2 = 2``; EF: ``x2 = 2 - x1``),
  checked against long NSGA-II runs by ``bench/build_engineering_fronts.py --check``.
* TNK: the objective space is the design space, so the front is the non-dominated part of
  the feasible region's boundary: the wavy circle ``x1^2 + x2^2 = 1 + 0.1 cos(16 atan(x1/x2))``
  where it lies inside the disc ``(x1 - 1/2)^2 + (x2 - 1/2)^2 <= 1/2``.

Points on an active constraint are moved 1e-12 (relative) into the feasible side, so every
front design re-evaluates as feasible in floating point.
"""

from __future__ import annotations

import math
from typing import Any

import numpy as np
import torch
from torch import Tensor

from dse.problem import Integer, Real, register_problem
from problems.engineering.fronts import KnownFrontProblem

__all__ = ["BNH", "OSY", "SRN", "TNK"]

# Relative step into the feasible side for front designs on an active constraint.
_INWARD = 1e-12


@register_problem("bnh")
class BNH(KnownFrontProblem):
    """Binh and Korn: two reals, two objectives, two constraints; convex front."""

    name = "bnh"

    def __init__(self) -> None:
        super().__init__([Real("x1", 0.0, 5.0), Real("x2", 0.0, 3.0)], n_obj=2, n_constr=2)

    def _evaluate(self, x: Tensor) -> tuple[Tensor, Tensor]:
        x1, x2 = x[..., 0], x[..., 1]
        f1 = 4.0 * x1**2 + 4.0 * x2**2
        f2 = (x1 - 5.0) ** 2 + (x2 - 5.0) ** 2
        g1 = ((x1 - 5.0) ** 2 + x2**2 - 25.0) / 25.0
        g2 = -((x1 - 8.0) ** 2 + (x2 + 3.0) ** 2 - 7.7) / 7.7
        return torch.stack([f1, f2], dim=-1), torch.stack([g1, g2], dim=-1)

    def _reference_front(self) -> tuple[np.ndarray, np.ndarray]:
        t = np.linspace(0.0, 3.0, 6001)
        u = np.linspace(3.0, 5.0, 4001)
        X = np.vstack([np.column_stack([t, t]), np.column_stack([u, np.full_like(u, 3.0)])])
        return self._front_of_designs(X)


@register_problem("srn")
class SRN(KnownFrontProblem):
    """Srinivas and Deb: two variables in [-20, 20], two constraints.

    Parameters
    ----------
    integer
        Make ``x1`` an integer variable (a mixed-integer variant; the default is pymoo's
        continuous problem). Its front is made of one curve per integer ``x1``.
    """

    name = "srn"

    def __init__(self, integer: bool = False) -> None:
        self.integer = bool(integer)
        first = Integer("x1", -20, 20) if self.integer else Real("x1", -20.0, 20.0)
        super().__init__([first, Real("x2", -20.0, 20.0)], n_obj=2, n_constr=2)

    def _front_key(self) -> tuple[Any, ...]:
        return (self.name, self.integer)

    def _evaluate(self, x: Tensor) -> tuple[Tensor, Tensor]:
        x1, x2 = x[..., 0], x[..., 1]
        f1 = 2.0 + (x1 - 2.0) ** 2 + (x2 - 1.0) ** 2
        f2 = 9.0 * x1 - (x2 - 1.0) ** 2
        g1 = (x1**2 + x2**2) / 225.0 - 1.0
        g2 = x1 - 3.0 * x2 + 10.0
        return torch.stack([f1, f2], dim=-1), torch.stack([g1, g2], dim=-1)

    def _reference_front(self) -> tuple[np.ndarray, np.ndarray]:
        if self.integer:
            return self._front_of_designs(self._integer_candidates())
        # Linear constraint active: x1 = 3 x2 - 10, from the segment's end to min f1.
        x2 = np.linspace(2.5, 3.7, 4001)
        line = np.column_stack([3.0 * x2 - 10.0 - 10 * _INWARD, x2])
        # Stationary segment x1 = -2.5 up to the circle.
        top = math.sqrt(225.0 - 2.5**2) * (1.0 - _INWARD)
        seg = np.column_stack([np.full(8001, -2.5), np.linspace(2.5, top, 8001)])
        # Circle x1^2 + x2^2 = 225 beyond the segment (x1 < -2.5), f2 still decreasing.
        phi = np.linspace(math.asin(2.5 / 15.0), math.asin(8.0 / 15.0), 4001)
        arc = 15.0 * (1.0 - _INWARD) * np.column_stack([-np.sin(phi), np.cos(phi)])
        return self._front_of_designs(np.vstack([line, seg, arc]))

    @staticmethod
    def _integer_candidates() -> np.ndarray:
        """For every integer ``x1``, a dense grid of its feasible ``x2`` interval."""
        rows = []
        for k in range(-20, 21):
            if k * k >= 225:
                continue  # no x2 inside the circle
            lo = (k + 10.0) / 3.0 + 10 * _INWARD  # x1 - 3 x2 + 10 <= 0
            hi = math.sqrt(225.0 - k * k) * (1.0 - _INWARD)  # inside the circle
            if lo > hi:
                continue
            x2 = np.linspace(lo, hi, 4001)
            rows.append(np.column_stack([np.full_like(x2, float(k)), x2]))
        return np.vstack(rows)


@register_problem("osy")
class OSY(KnownFrontProblem):
    """Osyczka and Kundu: six reals, two objectives, six constraints; five-piece front."""

    name = "osy"

    def __init__(self) -> None:
        lower = (0.0, 0.0, 1.0, 0.0, 1.0, 0.0)
        upper = (10.0, 10.0, 5.0, 6.0, 5.0, 10.0)
        bounds = zip(lower, upper, strict=True)
        super().__init__([Real(f"x{i + 1}", lo, hi) for i, (lo, hi) in enumerate(bounds)],
                         n_obj=2, n_constr=6)

    def _evaluate(self, x: Tensor) -> tuple[Tensor, Tensor]:
        x1, x2, x3, x4, x5, x6 = x.unbind(dim=-1)
        f1 = -(
            25.0 * (x1 - 2.0) ** 2 + (x2 - 2.0) ** 2 + (x3 - 1.0) ** 2
            + (x4 - 4.0) ** 2 + (x5 - 1.0) ** 2
        )
        f2 = (x * x).sum(dim=-1)
        G = torch.stack([
            (2.0 - x1 - x2) / 2.0,
            (x1 + x2 - 6.0) / 6.0,
            (x2 - x1 - 2.0) / 2.0,
            (x1 - 3.0 * x2 - 2.0) / 2.0,
            ((x3 - 3.0) ** 2 + x4 - 4.0) / 4.0,
            (4.0 - (x5 - 3.0) ** 2 - x6) / 4.0,
        ], dim=-1)
        return torch.stack([f1, f2], dim=-1), G

    def _reference_front(self) -> tuple[np.ndarray, np.ndarray]:
        n = 4001

        def design(x1: Any, x2: Any, x3: Any, x5: float) -> np.ndarray:
            cols = (x1, x2, x3, 0.0, x5, 0.0)  # x4 = x6 = 0 on every region
            return np.column_stack([np.broadcast_to(np.asarray(c, float), (n,)) for c in cols])

        s3 = np.linspace(1.0, 5.0, n)
        # Wider ranges than Deb's table (CD from x1 = 4.056, DE up to x3 = 3.732, EF up to
        # x1 = 1): the non-dominated filter finds the ends, the table need not be trusted.
        a = np.linspace(2.0, 5.0, n)
        b = np.linspace(0.0, 2.0, n)
        X = np.vstack([
            design(5.0, 1.0, s3, 5.0),  # AB
            design(5.0, 1.0, s3, 1.0),  # BC
            design(a, (a - 2.0) / 3.0 + 10 * _INWARD, 1.0, 1.0),  # CD: x1 - 3 x2 - 2 <= 0
            design(0.0, 2.0, s3, 1.0),  # DE
            design(b, 2.0 - b + 10 * _INWARD, 1.0, 1.0),  # EF: 2 - x1 - x2 <= 0
        ])
        return self._front_of_designs(X)


@register_problem("tnk")
class TNK(KnownFrontProblem):
    """Tanaka: ``f = (x1, x2)`` outside a wavy unit circle and inside a small disc."""

    name = "tnk"

    def __init__(self) -> None:
        # x2 > 0 keeps atan(x1 / x2) defined (pymoo's lower bound).
        super().__init__([Real("x1", 0.0, math.pi), Real("x2", 1e-30, math.pi)], n_obj=2,
                         n_constr=2)

    def _evaluate(self, x: Tensor) -> tuple[Tensor, Tensor]:
        x1, x2 = x[..., 0], x[..., 1]
        # atan2(x1, x2) = atan(x1 / x2) for x2 > 0, with a gradient that stays finite at
        # x2 = 1e-30 (the quotient's derivative would be 1e60 there).
        wave = 0.1 * torch.cos(16.0 * torch.atan2(x1, x2))
        g1 = -(x1**2 + x2**2 - 1.0 - wave)
        g2 = 2.0 * ((x1 - 0.5) ** 2 + (x2 - 0.5) ** 2) - 1.0
        return torch.stack([x1, x2], dim=-1), torch.stack([g1, g2], dim=-1)

    def _reference_front(self) -> tuple[np.ndarray, np.ndarray]:
        phi = np.linspace(0.0, math.pi / 2.0, 50001)
        r = np.sqrt(1.0 + 0.1 * np.cos(16.0 * phi)) * (1.0 + _INWARD)
        wavy = np.column_stack([r * np.sin(phi), r * np.cos(phi)])
        # The disc's boundary also bounds the feasible region where it leaves the circle.
        psi = np.linspace(0.0, 2.0 * math.pi, 20001)
        disc = 0.5 + math.sqrt(0.5) * (1.0 - _INWARD) * np.column_stack([np.cos(psi),
                                                                       np.sin(psi)])
        X = np.vstack([wavy, disc])
        inside = (X >= self.xl).all(axis=1) & (X <= self.xu).all(axis=1)
        return self._front_of_designs(X[inside])
