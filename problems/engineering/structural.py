"""Structural design problems: two-bar truss, welded beam, car side impact.

Each has pymoo's continuous definition by default and a ``discrete=True`` variant in which
some sizes come from a :class:`~dse.problem.Table` of standard values (gradient solvers
relax a table by interpolation in index space; reported designs take table values).

Sources (values and bounds as in pymoo 0.6, ``pymoo.problems.multi``; independent torch
implementation):

* **Two-bar truss** (``truss2d``) -- K. Deb, *Multi-Objective Optimization using
  Evolutionary Algorithms*, Wiley 2001; K. Deb and A. Srinivasan, "Innovization", GECCO 2006.
  Bars AC and BC with cross-sections ``a_ac``, ``a_bc`` [m^2] in [0, 0.01], the height ``y``
  [m] of C in [1, 3]; minimise the volume [m^3] and the larger bar stress [kPa] under a
  100 kN load, stress at most 1e5 kPa.
* **Welded beam** (``welded_beam``) -- T. Ray and K. M. Liew, "A swarm metaphor for
  multiobjective design optimization", Engineering Optimization 34(2), 2002 (after Ragsdell
  and Phillips, 1976; K. Deb, 2001). Weld thickness ``h``, weld length ``l``, bar height
  ``t`` and bar thickness ``b`` [in]; minimise fabrication cost and end deflection subject to
  shear stress, bending stress, ``h <= b`` and buckling load.
* **Car side impact** (``car_side_impact``) -- L. Gu et al., "Optimisation and robustness
  for crashworthiness of side impact", Int. J. Vehicle Design 26(4), 2001; three-objective
  form of H. Jain and K. Deb, "An evolutionary many-objective optimization algorithm using
  reference-point based nondominated sorting approach, Part II", IEEE TEVC 18(4), 2014.
  Seven thicknesses ``x1..x7``; minimise weight, pubic force and the mean of two velocities
  under ten safety limits.

Constraints are ``G <= 0`` with pymoo's normalisation, except the truss: ``stress / 1e5 - 1``
(pymoo: ``stress - 1e5``, of order 1e5, which would swamp a penalty).

Discrete variants
-----------------
* ``truss2d(discrete=True)``: both cross-sections from the ISO 3 R10 series of preferred
  numbers, 1 cm^2 to 100 cm^2 (1.0e-4 .. 1.0e-2 m^2, 21 sizes, steps of 25-28 %): a geometric
  table within the original bounds whose smallest size is below any area a feasible design
  needs (about 3.3e-4 m^2). ``y`` stays real.
* ``welded_beam(discrete=True)``: ``h`` and ``b`` in multiples of 1/16 in (0.0625) within
  their bounds [0.125, 5] (79 sizes, plate and weld gauges); ``l`` and ``t`` stay real.
* ``car_side_impact(discrete=True)``: adds the materials of the B-pillar inner (``x8``) and
  of the floor side inner (``x9``) of the original eleven-variable model as variables with the
  two values 0.192 and 0.345; pymoo's (and Jain and Deb's) seven-variable problem is the
  case ``x8 = 0.345, x9 = 0.192``, where both variants agree exactly. Where Jain and Deb's
  published constants are products with these values, the products are split back:
  ``0.0092928 x3 = 0.0484 x3 x9`` (the eleven-variable form of Youn et al. 2004 has
  ``0.484 x3 x9``, ten times as much) and ``0.031296 x3 = 0.163 x3 x9`` (there
  ``0.163 x3 x8``). The factors follow the published seven-variable problem so that the
  variants agree; the terms in ``x10``, ``x11`` (barrier height and hitting position, zero
  in the nominal case) are left out as in that problem.

Fronts
------
* ``truss2d``: closed form. With both stresses equal to ``S``, the volume is
  ``100 (4 + y^2) / (y S)``, least at ``y = 2``: ``V = 400 / S`` while ``a_bc`` fits its
  bound (``S >= 4000 sqrt(5)``); below, ``a_bc = 0.01`` and ``y`` in [2, 3] solves
  ``S = 8000 sqrt(1 + y^2) / y``. Equal to pymoo's front.
* ``truss2d(discrete=True)``: for each of the 441 pairs of sizes the volume rises and the
  stress falls with ``y``; the front is the non-dominated union of these 441 curves.
* ``welded_beam`` and ``car_side_impact`` (both variants): stored fronts built by
  ``bench/build_engineering_fronts.py``: five NSGA-II runs of 600,000 evaluations
  (population 500; for the car's four material pairs, five per pair), the non-dominated
  feasible points merged and thinned to 2000, then two rounds of an epsilon-constraint
  SLSQP polish (NSGA-II alone stops up to 0.7 % of the range short of the welded beam's
  front and 1.7 % of the car's); designs are kept.
"""

from __future__ import annotations

import math
from typing import Any

import numpy as np
import torch
from torch import Tensor

from dse.problem import Real, Table, register_problem
from problems.engineering.fronts import KnownFrontProblem, load_front

__all__ = [
    "CAR_MATERIALS",
    "PLATE_SIZES",
    "R10_AREAS",
    "CarSideImpact",
    "Truss2D",
    "WeldedBeam",
]

#: ISO 3 R10 preferred numbers from 1 to 100 cm^2, in m^2 (truss cross-sections).
_R10 = (1.0, 1.25, 1.6, 2.0, 2.5, 3.15, 4.0, 5.0, 6.3, 8.0)
R10_AREAS: tuple[float, ...] = (*(m * 10.0**e for e in (-4, -3) for m in _R10), 1e-2)

#: Multiples of 1/16 in from 0.125 to 5 in (welded beam: weld and plate thickness).
PLATE_SIZES: tuple[float, ...] = tuple(0.0625 * k for k in range(2, 81))

#: The two materials of the car side impact model's B-pillar inner and floor side inner.
CAR_MATERIALS: tuple[float, ...] = (0.192, 0.345)

# Small step into the feasible side for closed-form front designs on an active constraint.
_INWARD = 1e-12


def _variant_key(name: str, discrete: bool) -> str:
    return f"{name}-discrete" if discrete else name


@register_problem("truss2d")
class Truss2D(KnownFrontProblem):
    """Two-bar truss: volume vs largest stress; ``discrete=True`` takes R10 cross-sections."""

    name = "truss2d"
    #: Largest admissible stress [kPa].
    S_MAX = 1e5

    def __init__(self, discrete: bool = False) -> None:
        self.discrete = bool(discrete)
        if self.discrete:
            areas: list[Any] = [Table("a_ac", R10_AREAS), Table("a_bc", R10_AREAS)]
        else:
            areas = [Real("a_ac", 0.0, 0.01), Real("a_bc", 0.0, 0.01)]
        super().__init__([*areas, Real("y", 1.0, 3.0)], n_obj=2, n_constr=1,
                         objective_names=("volume", "stress"), constraint_names=("stress",))

    def _front_key(self) -> tuple[Any, ...]:
        return (self.name, self.discrete)

    def _evaluate(self, x: Tensor) -> tuple[Tensor, Tensor]:
        a_ac, a_bc, y = x.unbind(dim=-1)
        l_ac = torch.sqrt(16.0 + y * y)  # bar lengths [m]
        l_bc = torch.sqrt(1.0 + y * y)
        volume = a_ac * l_ac + a_bc * l_bc
        stress = torch.maximum(20.0 * l_ac / (y * a_ac), 80.0 * l_bc / (y * a_bc))
        return (torch.stack([volume, stress], dim=-1),
                (stress / self.S_MAX - 1.0)[..., None])

    def _reference_front(self) -> tuple[np.ndarray, np.ndarray]:
        if self.discrete:
            a = np.asarray(R10_AREAS)
            y = np.linspace(1.0, 3.0, 2001)
            A1, A2, Y = np.meshgrid(a, a, y, indexing="ij")
            return self._front_of_designs(np.column_stack([A1.ravel(), A2.ravel(), Y.ravel()]))
        # Part A: y = 2, both stresses S, a_bc = 40 sqrt(5) / S <= 0.01.
        s_knee = 4000.0 * math.sqrt(5.0)
        S = np.geomspace(s_knee, self.S_MAX * (1.0 - _INWARD), 6001)
        part_a = np.column_stack([20.0 * math.sqrt(20.0) / (2.0 * S),
                                  80.0 * math.sqrt(5.0) / (2.0 * S), np.full_like(S, 2.0)])
        # Part B: a_bc at its bound, y in [2, 3], a_ac sized for the same stress.
        y = np.linspace(2.0, 3.0, 4001)
        S_b = 8000.0 * np.sqrt(1.0 + y * y) / y
        part_b = np.column_stack([20.0 * np.sqrt(16.0 + y * y) / (y * S_b),
                                  np.full_like(y, 0.01), y])
        return self._front_of_designs(np.vstack([part_a, part_b]))


@register_problem("welded_beam")
class WeldedBeam(KnownFrontProblem):
    """Welded beam: cost vs deflection; ``discrete=True`` takes ``h``, ``b`` in 1/16 in."""

    name = "welded_beam"
    P = 6000.0  # load [lb]
    L = 14.0  # overhang [in]
    TAU_MAX = 13600.0  # shear stress limit [psi]
    SIGMA_MAX = 30000.0  # bending stress limit [psi]

    def __init__(self, discrete: bool = False) -> None:
        self.discrete = bool(discrete)
        if self.discrete:
            h: Any = Table("h", PLATE_SIZES)
            b: Any = Table("b", PLATE_SIZES)
        else:
            h, b = Real("h", 0.125, 5.0), Real("b", 0.125, 5.0)
        super().__init__(
            [h, Real("l", 0.1, 10.0), Real("t", 0.1, 10.0), b], n_obj=2, n_constr=4,
            objective_names=("cost", "deflection"),
            constraint_names=("shear", "bending", "h_le_b", "buckling"),
        )

    def _front_key(self) -> tuple[Any, ...]:
        return (self.name, self.discrete)

    def _evaluate(self, x: Tensor) -> tuple[Tensor, Tensor]:
        h, l, t, b = x.unbind(dim=-1)  # noqa: E741  (the literature's names)
        P, L = self.P, self.L
        cost = 1.10471 * h * h * l + 0.04811 * t * b * (14.0 + l)
        deflection = 2.1952 / (b * t**3)
        # Shear stress in the weld: primary (direct) and secondary (torsion) components.
        tau1 = P / (math.sqrt(2.0) * h * l)
        R = torch.sqrt(0.25 * (l * l + (h + t) ** 2))
        J = math.sqrt(2.0) * h * l * (l * l / 12.0 + 0.25 * (h + t) ** 2)
        tau2 = P * (L + 0.5 * l) * R / J
        tau = torch.sqrt(tau1 * tau1 + tau2 * tau2 + tau1 * tau2 * l / R)
        sigma = 6.0 * P * L / (b * t * t)
        p_buckling = 64746.022 * (1.0 - 0.0282346 * t) * t * b**3
        G = torch.stack([
            (tau - self.TAU_MAX) / self.TAU_MAX,
            (sigma - self.SIGMA_MAX) / self.SIGMA_MAX,
            (h - b) / (5.0 - 0.125),
            (P - p_buckling) / P,
        ], dim=-1)
        return torch.stack([cost, deflection], dim=-1), G

    def _reference_front(self) -> tuple[np.ndarray, np.ndarray]:
        stored = load_front(_variant_key(self.name, self.discrete))
        return stored.X, stored.F


@register_problem("car_side_impact")
class CarSideImpact(KnownFrontProblem):
    """Car side impact: weight, pubic force, mean velocity; ``discrete=True`` adds materials."""

    name = "car_side_impact"
    #: The nominal materials of the seven-variable problem (x8, x9).
    NOMINAL = (0.345, 0.192)

    def __init__(self, discrete: bool = False) -> None:
        self.discrete = bool(discrete)
        lower = (0.5, 0.45, 0.5, 0.5, 0.875, 0.4, 0.4)
        upper = (1.5, 1.35, 1.5, 1.5, 2.625, 1.2, 1.2)
        variables: list[Any] = [
            Real(f"x{i + 1}", lo, hi) for i, (lo, hi) in enumerate(zip(lower, upper, strict=True))
        ]
        if self.discrete:
            variables += [Table("x8", CAR_MATERIALS), Table("x9", CAR_MATERIALS)]
        super().__init__(
            variables, n_obj=3, n_constr=10,
            objective_names=("weight", "pubic_force", "mean_velocity"),
            constraint_names=("abdomen_load", "vc_upper", "vc_middle", "vc_lower",
                              "rib_upper", "rib_middle", "rib_lower", "pubic_force",
                              "v_b_pillar", "v_front_door"),
        )

    def _front_key(self) -> tuple[Any, ...]:
        return (self.name, self.discrete)

    def _evaluate(self, x: Tensor) -> tuple[Tensor, Tensor]:
        x1, x2, x3, x4, x5, x6, x7 = x[..., :7].unbind(dim=-1)
        if self.discrete:
            x8, x9 = x[..., 7], x[..., 8]
        else:
            x8, x9 = self.NOMINAL
        abdomen = 1.16 - 0.3717 * x2 * x4 - 0.0484 * x3 * x9
        vc_upper = (0.261 - 0.0159 * x1 * x2 - 0.188 * x1 * x8 - 0.019 * x2 * x7
                    + 0.0144 * x3 * x5 + 0.08045 * x6 * x9)
        vc_middle = (0.214 + 0.00817 * x5 - 0.131 * x1 * x8 - 0.0704 * x1 * x9
                     + 0.03099 * x2 * x6 - 0.018 * x2 * x7 + 0.0208 * x3 * x8
                     + 0.121 * x3 * x9 - 0.00364 * x5 * x6 - 0.018 * x2 * x2)
        vc_lower = 0.74 - 0.61 * x2 - 0.163 * x3 * x9 - 0.166 * x7 * x9 + 0.227 * x2 * x2
        rib_upper = 28.98 + 3.818 * x3 - 4.2 * x1 * x2 + 6.63 * x6 * x9 - 7.77 * x7 * x8
        rib_middle = (33.86 + 2.95 * x3 - 5.057 * x1 * x2 - 11.0 * x2 * x8 - 9.98 * x7 * x8
                      + 22.0 * x8 * x9)
        rib_lower = 46.36 - 9.9 * x2 - 12.9 * x1 * x8
        pubic = 4.72 - 0.5 * x4 - 0.19 * x2 * x3
        v_b_pillar = 10.58 - 0.674 * x1 * x2 - 1.95 * x2 * x8
        v_front_door = 16.45 - 0.489 * x3 * x7 - 0.843 * x5 * x6
        weight = (1.98 + 4.9 * x1 + 6.67 * x2 + 6.98 * x3 + 4.01 * x4 + 1.78 * x5
                  + 0.00001 * x6 + 2.73 * x7)
        F = torch.stack([weight, pubic, 0.5 * (v_b_pillar + v_front_door)], dim=-1)
        responses = torch.stack([abdomen, vc_upper, vc_middle, vc_lower, rib_upper, rib_middle,
                                 rib_lower, pubic, v_b_pillar, v_front_door], dim=-1)
        limits = torch.tensor([1.0, 0.32, 0.32, 0.32, 32.0, 32.0, 32.0, 4.0, 9.9, 15.7],
                              dtype=x.dtype, device=x.device)
        return F, responses / limits - 1.0

    def _reference_front(self) -> tuple[np.ndarray, np.ndarray]:
        stored = load_front(_variant_key(self.name, self.discrete))
        return stored.X, stored.F
