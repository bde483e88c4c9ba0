"""The MW constrained test suite (Ma and Wang, 2019): MW1 to MW14.

Z. Ma and Y. Wang, "Evolutionary constrained multiobjective optimization: test suite
construction and performance comparisons", IEEE Transactions on Evolutionary Computation
23(6), 2019. Definitions, bounds and defaults as in pymoo 0.6 (``pymoo.problems.multi.mw``,
itself after the authors' C++ code): ``n_var = 15``; MW4, MW8 and MW14 have ``n_obj = 3`` by
default (any ``n_obj >= 2``) and ``n_var = n_obj + 12``. Independent torch implementation.

Every MW problem has the same structure, which this module keeps explicit:

* a distance function ``g >= 1`` of the variables ``x_M .. x_n`` (one of three, ``g1``
  multimodal in ``x^(n-M)``, ``g2`` with a cosine landscape, ``g3`` a chain coupling
  neighbours), equal to 1 on the Pareto set;
* a shape: the objectives from the ``M - 1`` position variables and ``g``, every objective
  non-decreasing in ``g``;
* constraints that depend on the objective vector only.

So for fixed positions the best feasible point is the one of smallest feasible ``g``, and the
feasible Pareto front is the non-dominated set of ``{F(p, g*(p))}`` over the positions ``p``,
``g*(p)`` the smallest ``g >= 1`` with ``G(F(p, g)) <= 0`` (none: no front point). The front
is computed that way: a dense grid of positions (5001 spaced evenly along the unconstrained
front for two objectives, 101 x 101 for three), ``g = 1`` tried first, otherwise a scan of
``g`` in [1, 2.5] (steps of 2e-3; on every front found ``g*`` stays below 1.7) and a bisection
to float precision on the first feasible step, then the non-dominated filter. It needs no
run and no stored file (a few tenths of a second per problem), agrees with pymoo's
closed-form fronts (MW1-4, 6, 8, 12; pymoo's MW12 front also keeps points that violate its
first constraint) and is checked against long NSGA-II runs by
``bench/build_engineering_fronts.py --check``. Piece ends are resolved to the grid's step
(about 1e-4 of the front's range).

Numerics: ``atan(f2 / f1)`` is computed as ``atan2(f2, f1)`` (pymoo divides by zero at
``x1 = 0``); ``asin(f_M / ||f||)`` as ``atan2(f_M, ||f_1..M-1||)``; square roots and the
0.6 power that vanish at a bound go through :func:`problems.zdt.safe_pow`, so values equal
pymoo's and gradients stay finite at the bounds.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from typing import Any, TypeVar

import numpy as np
import torch
from torch import Tensor

from dse.pareto import nondominated
from dse.problem import Real, register_problem
from problems.engineering.fronts import KnownFrontProblem, feasible_front
from problems.zdt import safe_pow

__all__ = [
    "MW1", "MW2", "MW3", "MW4", "MW5", "MW6", "MW7",
    "MW8", "MW9", "MW10", "MW11", "MW12", "MW13", "MW14",
]

SQRT2 = math.sqrt(2.0)
# Ray search for the front: g is scanned on [1, _G_CAP] in _G_STEPS steps, positions on
# _POS_POINTS points (two objectives) or about that many in total (more objectives).
_G_CAP = 2.5
_G_STEPS = 751
_G_BLOCK = 10
_PRUNE_POINTS = 128
_BISECTIONS = 52
_POS_POINTS = 5001
_POS_POINTS_3D = 101 * 101
# Rows per chunk of the ray search: tensors of at most ~_ROWS elements per column.
_ROWS = 16384


# --------------------------------------------------------------------------- building blocks
def _power(theta: Tensor, c: float) -> Tensor:
    return theta if c == 1.0 else theta**c


def la1(a: float, b: float, c: float, d: int, theta: Tensor) -> Tensor:
    """``a sin(b pi theta^c)^d`` (the paper's LA1 landscape)."""
    return a * torch.sin(b * math.pi * _power(theta, c)) ** d


def la2(a: float, b: float, c: float, d: int, theta: Tensor) -> Tensor:
    """``a sin(b theta^c)^d`` (LA2)."""
    return a * torch.sin(b * _power(theta, c)) ** d


def la3(a: float, b: float, c: float, d: int, theta: Tensor) -> Tensor:
    """``a cos(b theta^c)^d`` (LA3)."""
    return a * torch.cos(b * _power(theta, c)) ** d


def _sqrt0(t: Tensor) -> Tensor:
    """``sqrt(max(t, 0))`` with a finite slope at 0 (``t`` can round just below 0)."""
    return safe_pow(t.clamp_min(0.0), 0.5)


def _index(x: Tensor, start: int) -> Tensor:
    """Zero-based indices ``start .. n_var - 1`` as a tensor like ``x``."""
    return torch.arange(start, x.shape[-1], dtype=x.dtype, device=x.device)


def distance_g1(x: Tensor, n_obj: int) -> Tensor:
    """``1 + sum_i (1 - exp(-10 (x_i^(n-M) - 1/2 - i/(2n))^2))`` over ``i >= M - 1``."""
    d = x.shape[-1]
    z = x[..., n_obj - 1:] ** (d - n_obj)
    c = 0.5 + _index(x, n_obj - 1) / (2.0 * d)
    return 1.0 + (-torch.expm1(-10.0 * (z - c) ** 2)).sum(dim=-1)


def distance_g2(x: Tensor, n_obj: int) -> Tensor:
    """``1 + sum_i (0.1/n z_i^2 + 1.5 - 1.5 cos(2 pi z_i))`` over ``i >= M - 1``.

    ``z_i = 1 - exp(-10 (x_i - i/n)^2)``.
    """
    d = x.shape[-1]
    z = -torch.expm1(-10.0 * (x[..., n_obj - 1:] - _index(x, n_obj - 1) / d) ** 2)
    return 1.0 + ((0.1 / d) * z * z + 1.5 - 1.5 * torch.cos(2.0 * math.pi * z)).sum(dim=-1)


def distance_g3(x: Tensor, n_obj: int) -> Tensor:
    """``1 + sum_i 2 (x_i + (x_{i-1} - 1/2)^2 - 1)^2`` over ``i >= M - 1`` (a chain)."""
    prev = x[..., n_obj - 2:-1]
    return 1.0 + (2.0 * (x[..., n_obj - 1:] + (prev - 0.5) ** 2 - 1.0) ** 2).sum(dim=-1)


_DISTANCES = {"g1": distance_g1, "g2": distance_g2, "g3": distance_g3}


def product_shape(c: Tensor, s: Tensor) -> Tensor:
    """``f_j = prod_{i < M-1-j} c_i * (s_{M-1-j} if j > 0)`` from ``c, s`` of shape (..., M-1).

    With ``c = 1 - x, s = x`` the linear (simplex) shape of MW4, with ``c = cos, s = sin`` of
    ``pi x / 2`` the spherical one of MW8: one cumulative product, no loop over objectives.
    """
    ones = torch.ones_like(c[..., :1])
    lead = torch.cat([ones, torch.cumprod(c, dim=-1)], dim=-1)  # prod_{i<k} c_i, k = 0..M-1
    return (lead * torch.cat([s, ones], dim=-1)).flip(-1)


# --------------------------------------------------------------------------- common part
class _MW(KnownFrontProblem):
    """An MW problem: ``distance`` + ``_shape(positions, g)`` + ``_constraints(F)``."""

    name = "mw"
    distance = "g1"
    upper = 1.0
    n_constraints = 1
    many_objectives = False  # whether n_obj is a parameter (MW4, MW8, MW14)

    def __init__(self, n_var: int | None, n_obj: int) -> None:
        if int(n_obj) != n_obj or n_obj < 2 or (n_obj != 2 and not self.many_objectives):
            allowed = ">= 2" if self.many_objectives else "2"
            raise ValueError(f"{self.name}: n_obj must be an integer {allowed}, got {n_obj!r}")
        n_obj = int(n_obj)
        if n_var is None:
            n_var = n_obj + 12 if self.many_objectives else 15
        if int(n_var) != n_var or n_var < n_obj + 1:
            raise ValueError(
                f"{self.name}: n_var must be an integer >= n_obj + 1 = {n_obj + 1}, got {n_var!r}"
            )
        variables = [Real(f"x{i + 1}", 0.0, self.upper) for i in range(int(n_var))]
        super().__init__(variables, n_obj=n_obj, n_constr=self.n_constraints)

    def _front_key(self) -> tuple[Any, ...]:
        return (self.name, self.n_var, self.n_obj)

    # -- the three parts of every MW problem
    def _distance(self, x: Tensor) -> Tensor:
        return _DISTANCES[self.distance](x, self.n_obj)

    def _shape(self, p: Tensor, g: Tensor) -> Tensor:
        """Objectives ``(..., M)`` from positions ``p`` ``(..., M-1)`` and distance ``g``."""
        raise NotImplementedError

    def _constraints(self, F: Tensor) -> Tensor:
        """Constraint values ``(..., n_constr)`` of objective vectors ``F``."""
        raise NotImplementedError

    def _evaluate(self, x: Tensor) -> tuple[Tensor, Tensor]:
        F = self._shape(x[..., : self.n_obj - 1], self._distance(x))
        return F, self._constraints(F)

    # -- front by ray search
    def _position_grid(self) -> np.ndarray:
        """Positions whose rays are searched.

        Two objectives: spaced evenly along the arc length of the unconstrained front
        ``F(p, 1)`` (normalised), so steep ends (a circle near an axis, ``x1^15``) are as
        densely sampled as the rest. More: an even grid of the position box.
        """
        m = self.n_obj - 1
        if m == 1:
            u = np.linspace(0.0, self.upper, 50 * _POS_POINTS)
            with torch.no_grad():
                F = self._shape(torch.from_numpy(u)[:, None], torch.ones(len(u),
                                                                       dtype=torch.float64))
            F = F.numpy()
            step = np.linalg.norm(np.diff(F, axis=0) / _span(F), axis=1)
            arc = np.concatenate([[0.0], np.cumsum(step)])
            return np.interp(np.linspace(0.0, arc[-1], _POS_POINTS), arc, u)[:, None]
        k = math.ceil(_POS_POINTS_3D ** (1.0 / m))
        axis = np.linspace(0.0, self.upper, k)
        return np.stack(np.meshgrid(*([axis] * m), indexing="ij"), axis=-1).reshape(-1, m)

    def objective_constraints(self, F: np.ndarray | Tensor) -> np.ndarray | Tensor:
        """Constraint values ``(..., n_constr)`` of objective vectors ``F`` (``<= 0``: met).

        MW constraints depend on the objectives only, so any point of objective space (a
        reference front from elsewhere, say) can be checked for feasibility.
        """
        if isinstance(F, Tensor):
            return self._constraints(F)
        with torch.no_grad():
            return self._constraints(torch.as_tensor(np.asarray(F, dtype=float))).numpy()

    def _largest_g(self) -> float:
        """A lower bound of the largest attainable ``g`` (probes: the box's corners, samples)."""
        probes = np.vstack([self.xl, self.xu, self.sample(2000, seed=0)])
        with torch.no_grad():
            return float(self._distance(torch.from_numpy(probes)).max())

    def _feasible(self, p: Tensor, g: Tensor) -> Tensor:
        return (self._constraints(self._shape(p, g)) <= 0).all(dim=-1)

    def _reference_front(self) -> tuple[None, np.ndarray]:
        P = torch.from_numpy(self._position_grid())
        with torch.no_grad():
            g_star = self._smallest_feasible_g(P)
            keep = ~torch.isnan(g_star)
            F = self._shape(P[keep], g_star[keep])
            G = self._constraints(F)
        F_np, G_np = F.numpy(), G.numpy()
        return None, F_np[feasible_front(F_np, G_np)]

    def _smallest_feasible_g(self, P: Tensor) -> Tensor:
        """``g*`` of every position; NaN where no scanned ``g`` is feasible or useful.

        ``g = 1`` first; the other rays are scanned upward in blocks, each leaving the scan
        at its first feasible step or as soon as its point is weakly dominated by a feasible
        point already found (every objective grows with ``g``, so the rest of the ray is
        dominated too); then a bisection on each first feasible step. Rays go in chunks
        small enough that every tensor stays below torch's parallel grain size: these
        element-wise ops gain nothing from threads, and on a busy machine the thread pool's
        waits made them ten times slower.
        """
        g_cap = min(_G_CAP, self._largest_g())
        grid = torch.linspace(1.0, g_cap, _G_STEPS, dtype=P.dtype)
        g_star = torch.full((len(P),), math.nan, dtype=P.dtype)
        at_one = torch.cat([self._feasible(p, torch.ones(len(p), dtype=P.dtype))
                            for p in P.split(_ROWS)])
        g_star[at_one] = 1.0
        known = _pruning_set(torch.cat([self._shape(p, torch.ones(len(p), dtype=P.dtype))
                                        for p in P[at_one].split(_ROWS)]))
        rays = torch.nonzero(~at_one).flatten()
        for todo in rays.split(_ROWS // _G_BLOCK):
            found_idx, lo_parts, hi_parts = [], [], []
            for start in range(1, len(grid), _G_BLOCK):
                if len(known):
                    head = self._shape(P[todo], grid[start - 1].expand(len(todo)))
                    todo = todo[~_weakly_dominated(head, known)]
                if not len(todo):
                    break
                gs = grid[start:start + _G_BLOCK]
                p = P[todo]
                feas = self._feasible(p[:, None, :].expand(-1, len(gs), -1),
                                      gs.expand(len(p), -1))
                found = feas.any(dim=1)
                if bool(found.any()):
                    first = feas[found].to(torch.int8).argmax(dim=1) + start
                    found_idx.append(todo[found])
                    lo_parts.append(grid[first - 1])
                    hi_parts.append(grid[first])
                    new = self._shape(P[todo[found]], grid[first])
                    known = _pruning_set(torch.cat([known, new]))
                todo = todo[~found]
            if found_idx:
                idx = torch.cat(found_idx)
                g_star[idx] = self._bisect(P[idx], torch.cat(lo_parts), torch.cat(hi_parts))
        return g_star

    def _bisect(self, p: Tensor, lo: Tensor, hi: Tensor) -> Tensor:
        """Shrink ``[lo, hi]`` (``lo`` infeasible, ``hi`` feasible) onto the boundary."""
        for _ in range(_BISECTIONS):
            mid = 0.5 * (lo + hi)
            ok = self._feasible(p, mid)
            hi = torch.where(ok, mid, hi)
            lo = torch.where(ok, lo, mid)
        return hi


def _span(F: np.ndarray) -> np.ndarray:
    """Range of each objective (1 where it is degenerate)."""
    span = F.max(axis=0) - F.min(axis=0)
    return np.where(span > 0, span, 1.0)


def _pruning_set(F: Tensor) -> Tensor:
    """At most ``_PRUNE_POINTS`` non-dominated rows of ``F`` (any subset prunes soundly)."""
    if not len(F):
        return F
    Fn = F.numpy()
    front = Fn[nondominated(Fn, keep_duplicates=False)]
    front = front[np.lexsort(front.T[::-1])]
    take = np.unique(np.linspace(0, len(front) - 1, _PRUNE_POINTS).round().astype(int))
    return torch.from_numpy(front[take])


def _weakly_dominated(Q: Tensor, A: Tensor) -> Tensor:
    """Rows of ``Q`` that some row of the non-dominated set ``A`` weakly dominates."""
    if Q.shape[-1] == 2:
        # Two objectives: A sorted by f1 has decreasing f2, so the best candidate for q is
        # the last row with f1 <= q1 (a binary search instead of |A| comparisons).
        order = torch.argsort(A[:, 0])
        f1, f2 = A[order, 0].contiguous(), A[order, 1]
        i = torch.searchsorted(f1, Q[:, 0].contiguous(), right=True) - 1
        return (i >= 0) & (f2[i.clamp_min(0)] <= Q[:, 1])
    rows = max(1, _ROWS // (len(A) * Q.shape[-1]))
    return torch.cat([(A <= q[:, None, :]).all(dim=-1).any(dim=-1) for q in Q.split(rows)])


class _MW2(_MW):
    """A two-objective MW problem (``n_var`` only, as in pymoo).

    All of them share one pattern, written here once: ``f1`` from the position ``x1`` (and
    ``g``), ``f2 = g * front(f1, g)``, and constraint values from ``(f1, f2)``.
    """

    def __init__(self, n_var: int = 15) -> None:
        super().__init__(n_var, 2)

    def _f1(self, x1: Tensor, g: Tensor) -> Tensor:
        return g * x1

    def _front(self, f1: Tensor, g: Tensor) -> Tensor:
        """``f2 / g``; on the Pareto set (``g = 1``) the unconstrained front ``f2(f1)``."""
        raise NotImplementedError

    def _limits(self, f1: Tensor, f2: Tensor) -> list[Tensor]:
        """The constraint values (``<= 0``: met), one tensor per constraint."""
        raise NotImplementedError

    def _shape(self, p: Tensor, g: Tensor) -> Tensor:
        f1 = self._f1(p[..., 0], g)
        return torch.stack([f1, g * self._front(f1, g)], dim=-1)

    def _constraints(self, F: Tensor) -> Tensor:
        return torch.stack(self._limits(F[..., 0], F[..., 1]), dim=-1)


class _LinearMW(_MW2):
    """MW1-3: ``f1 = x1`` and the linear front ``f2 = 1 - slope * f1``; MW1 and MW2 have one
    constraint, a wavy band above ``f1 + f2 = 1`` of frequency ``wave``."""

    slope = 1.0
    wave = 2.0

    def _f1(self, x1: Tensor, g: Tensor) -> Tensor:
        return x1

    def _front(self, f1: Tensor, g: Tensor) -> Tensor:
        return 1.0 - self.slope * f1 / g  # slope 1.0 multiplies exactly

    def _limits(self, f1: Tensor, f2: Tensor) -> list[Tensor]:
        return [f1 + f2 - 1.0 - la1(0.5, self.wave, 1.0, 8, SQRT2 * f2 - SQRT2 * f1)]


class _CircleMW(_MW2):
    """MW5-7 and MW11: the quarter circle ``f1^2 + f2^2 = radius2``."""

    radius2 = 1.0

    def _front(self, f1: Tensor, g: Tensor) -> Tensor:
        return _sqrt0(self.radius2 - (f1 / g) ** 2)


def _polar(f1: Tensor, f2: Tensor) -> tuple[Tensor, Tensor]:
    """Angle ``atan(f2 / f1)`` (as ``atan2``) and squared radius of objective vectors."""
    return torch.atan2(f2, f1), f1 * f1 + f2 * f2


class _MWMany(_MW):
    """An MW problem with any number of objectives (default 3, ``n_var = n_obj + 12``)."""

    many_objectives = True

    def __init__(self, n_var: int | None = None, n_obj: int = 3) -> None:
        super().__init__(n_var, n_obj)


_MWClass = TypeVar("_MWClass", bound=type[_MW])


def _mw(name: str, **settings: Any) -> Callable[[_MWClass], _MWClass]:
    """Class decorator: one row of the suite's table, registering an MW problem under
    ``name`` with its settings (``distance``, ``upper``, ``n_constraints`` and the shape's
    ``slope``, ``wave`` or ``radius2``); the class itself holds only its formulas."""

    def define(cls: _MWClass) -> _MWClass:
        unknown = sorted(key for key in settings if not hasattr(cls, key))
        if unknown:
            raise TypeError(f"{cls.__name__} has no MW setting {', '.join(unknown)}")
        cls.name = name
        for key, value in settings.items():
            setattr(cls, key, value)
        return register_problem(name)(cls)

    return define


# --------------------------------------------------------------------------- the problems
@_mw("mw1", slope=0.85)
class MW1(_LinearMW):
    """MW1: linear front ``f2 = 1 - 0.85 f1``, narrow feasible strips (g1)."""


@_mw("mw2", distance="g2", wave=3.0)
class MW2(_LinearMW):
    """MW2: linear front ``f1 + f2 = 1`` (g2)."""


@_mw("mw3", distance="g3", n_constraints=2)
class MW3(_LinearMW):
    """MW3: linear front partly pushed outward by a second constraint (g3)."""

    def _limits(self, f1: Tensor, f2: Tensor) -> list[Tensor]:
        t = SQRT2 * f2 - SQRT2 * f1
        return [
            f1 + f2 - 1.05 - la1(0.45, 0.75, 1.0, 6, t),
            0.85 - f1 - f2 + la1(0.3, 0.75, 1.0, 2, t),
        ]


@_mw("mw4")
class MW4(_MWMany):
    """MW4: simplex front ``sum f = 1`` (any ``n_obj``, default 3; g1)."""

    def _shape(self, p: Tensor, g: Tensor) -> Tensor:
        return g[..., None] * product_shape(1.0 - p, p)

    def _constraints(self, F: Tensor) -> Tensor:
        t = F[..., -1] - F[..., :-1].sum(dim=-1)
        return (F.sum(dim=-1) - 1.0 - la1(0.4, 2.5, 1.0, 8, t))[..., None]


@_mw("mw5", n_constraints=3)
class MW5(_CircleMW):
    """MW5: quarter circle, feasible only on a few short arcs (g1)."""

    def _limits(self, f1: Tensor, f2: Tensor) -> list[Tensor]:
        a, r2 = _polar(f1, f2)
        t = 0.5 * math.pi - 2.0 * (a - 0.25 * math.pi).abs()
        return [
            r2 - (1.7 - la2(0.2, 2.0, 1.0, 1, a)) ** 2,
            (1.0 + la2(0.5, 6.0, 3.0, 1, t)) ** 2 - r2,
            (1.0 - la2(0.45, 6.0, 3.0, 1, t)) ** 2 - r2,
        ]


@_mw("mw6", distance="g2", upper=1.1, radius2=1.21)
class MW6(_CircleMW):
    """MW6: circle of radius 1.1 cut by a wavy ellipse (g2; variables in [0, 1.1])."""

    def _limits(self, f1: Tensor, f2: Tensor) -> list[Tensor]:
        a = torch.atan2(f2, f1)
        return [f1**2 / (1.0 + la3(0.15, 6.0, 4.0, 10, a)) ** 2
                + f2**2 / (1.0 + la3(0.75, 6.0, 4.0, 10, a)) ** 2 - 1.0]


@_mw("mw7", distance="g3", n_constraints=2)
class MW7(_CircleMW):
    """MW7: quarter circle inside a wavy ring (g3)."""

    def _limits(self, f1: Tensor, f2: Tensor) -> list[Tensor]:
        a, r2 = _polar(f1, f2)
        return [
            r2 - (1.2 + la2(0.4, 4.0, 1.0, 16, a).abs()) ** 2,
            (1.15 - la2(0.2, 4.0, 1.0, 8, a)) ** 2 - r2,
        ]


@_mw("mw8", distance="g2")
class MW8(_MWMany):
    """MW8: unit sphere with infeasible bands (any ``n_obj``, default 3; g2)."""

    def _shape(self, p: Tensor, g: Tensor) -> Tensor:
        angle = 0.5 * math.pi * p
        return g[..., None] * product_shape(torch.cos(angle), torch.sin(angle))

    def _constraints(self, F: Tensor) -> Tensor:
        r2 = (F * F).sum(dim=-1)
        # asin(f_M / |f|) as atan2(f_M, |f_1..M-1|): equal, and finite-sloped at the pole.
        elevation = torch.atan2(F[..., -1], _sqrt0((F[..., :-1] ** 2).sum(dim=-1)))
        return (r2 - (1.25 - la2(0.5, 6.0, 1.0, 2, elevation)) ** 2)[..., None]


@_mw("mw9")
class MW9(_MW2):
    """MW9: convex front ``f2 = 1 - f1^0.6`` partly cut off (g1)."""

    def _front(self, f1: Tensor, g: Tensor) -> Tensor:
        return 1.0 - safe_pow((f1 / g).clamp_min(0.0), 0.6)

    def _limits(self, f1: Tensor, f2: Tensor) -> list[Tensor]:
        t1 = (1.0 - 0.64 * f1 * f1 - f2) * (1.0 - 0.36 * f1 * f1 - f2)
        t2 = ((1.35**2 - (f1 + 0.35) ** 2 - f2) * (1.15**2 - (f1 + 0.15) ** 2 - f2))
        return [torch.minimum(t1, t2)]


@_mw("mw10", distance="g2", n_constraints=3)
class MW10(_MW2):
    """MW10: concave front ``f2 = 1 - f1^2`` in disconnected pieces (g2)."""

    def _f1(self, x1: Tensor, g: Tensor) -> Tensor:
        return g * x1 ** self.n_var

    def _front(self, f1: Tensor, g: Tensor) -> Tensor:
        return 1.0 - (f1 / g) ** 2

    def _limits(self, f1: Tensor, f2: Tensor) -> list[Tensor]:
        q = f1 * f1
        return [
            -(2.0 - 4.0 * q - f2) * (2.0 - 8.0 * q - f2),
            (2.0 - 2.0 * q - f2) * (2.0 - 16.0 * q - f2),
            (1.0 - q - f2) * (1.2 - 1.2 * q - f2),
        ]


@_mw("mw11", distance="g3", upper=SQRT2, radius2=2.0, n_constraints=4)
class MW11(_CircleMW):
    """MW11: circle of radius sqrt(2) with feasible islands (g3; variables in [0, sqrt 2])."""

    def _limits(self, f1: Tensor, f2: Tensor) -> list[Tensor]:
        q = f1 * f1
        return [
            -(3.0 - q - f2) * (3.0 - 2.0 * q - f2),
            (3.0 - 0.625 * q - f2) * (3.0 - 7.0 * q - f2),
            -(1.62 - 0.18 * q - f2) * (1.125 - 0.125 * q - f2),
            (2.07 - 0.23 * q - f2) * (0.63 - 0.07 * q - f2),
        ]


@_mw("mw12", n_constraints=2)
class MW12(_MW2):
    """MW12: wavy linear front between two wavy constraint bands (g1)."""

    def _front(self, f1: Tensor, g: Tensor) -> Tensor:
        r = f1 / g
        return 0.85 - 0.8 * r - 0.08 * torch.sin(3.2 * math.pi * r).abs()

    def _limits(self, f1: Tensor, f2: Tensor) -> list[Tensor]:
        two_pi = 2.0 * math.pi
        return [
            -(1.0 - 0.625 * f1 - f2 + 0.08 * torch.sin(two_pi * (f2 - f1 / 1.6)))
            * (1.4 - 0.875 * f1 - f2 + 0.08 * torch.sin(two_pi * (f2 / 1.4 - f1 / 1.6))),
            (1.0 - 0.8 * f1 - f2 + 0.08 * torch.sin(two_pi * (f2 - f1 / 1.5)))
            * (1.8 - 1.125 * f1 - f2 + 0.08 * torch.sin(two_pi * (f2 / 1.8 - f1 / 1.6))),
        ]


@_mw("mw13", distance="g2", upper=1.5, n_constraints=2)
class MW13(_MW2):
    """MW13: ``f2 = 5 - exp(f1) - |0.5 sin(3 pi f1)|`` between two bands (g2; [0, 1.5])."""

    def _front(self, f1: Tensor, g: Tensor) -> Tensor:
        r = f1 / g
        return 5.0 - torch.exp(r) - (0.5 * torch.sin(3.0 * math.pi * r)).abs()

    def _limits(self, f1: Tensor, f2: Tensor) -> list[Tensor]:
        wave = 0.5 * torch.sin(3.0 * math.pi * f1)
        return [
            -(5.0 - (1.0 + f1 + 0.5 * f1 * f1) - wave - f2) * (5.0 - (1.0 + 0.7 * f1) - wave - f2),
            (5.0 - torch.exp(f1) - wave - f2) * (5.0 - (1.0 + 0.4 * f1) - wave - f2),
        ]


@_mw("mw14", distance="g3", upper=1.5)
class MW14(_MWMany):
    """MW14: disconnected front over the positions (any ``n_obj``, default 3; g3; [0, 1.5])."""

    def _shape(self, p: Tensor, g: Tensor) -> Tensor:
        h = 6.0 - torch.exp(p) - la1(1.5, 1.1, 2.0, 1, p)
        last = g / (self.n_obj - 1) * h.sum(dim=-1)
        return torch.cat([p, last[..., None]], dim=-1)

    def _constraints(self, F: Tensor) -> Tensor:
        p = F[..., :-1]
        alpha = 6.1 - 1.0 - p - 0.5 * p * p - la1(1.5, 1.1, 2.0, 1, p)
        return (F[..., -1] - alpha.sum(dim=-1) / (self.n_obj - 1))[..., None]
