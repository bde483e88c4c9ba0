"""ZDT benchmark problems (Zitzler, Deb and Thiele, 2000): ZDT1, ZDT2, ZDT3, ZDT4, ZDT6.

Two objectives, real variables, definitions and defaults as in pymoo (``n_var`` = 30, and 10
for ZDT4 and ZDT6). Everything is torch, batched over leading dimensions and differentiable.

The square root of ZDT1/3/4 and the fourth root of ZDT6 have infinite slopes at 0, which is
exactly where the Pareto set lies (``x_2..x_n = 0``) and where ``x_1`` has its lower bound.
:func:`safe_pow` keeps the objective values exact and replaces the slope below a tiny
threshold by the (large but finite) slope at the threshold, so gradient solvers never see
``inf`` or ``NaN``.

ZDT5 (binary strings) is not provided.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from functools import lru_cache

import numpy as np
import torch
from scipy.optimize import brentq, minimize_scalar
from torch import Tensor

from dse.problem import Problem, Real, register_problem

__all__ = [
    "ZDT1",
    "ZDT2",
    "ZDT3",
    "ZDT4",
    "ZDT6",
    "safe_pow",
    "strict_record_intervals",
]

#: Below this value :func:`safe_pow` uses the slope at ``SAFE_POW_EPS`` instead of the true one.
SAFE_POW_EPS = 1e-12


def safe_pow(t: Tensor, p: float, eps: float = SAFE_POW_EPS) -> Tensor:
    """``t ** p`` for ``t >= 0`` and ``0 < p < 1`` with a finite gradient at ``t = 0``.

    The value is exact everywhere. For ``t >= eps`` value and derivatives (of any order) are
    those of ``t ** p``; for ``t < eps`` the first derivative is the one at ``eps``,
    ``p * eps ** (p - 1)``, where the true one grows to infinity.
    """
    if not (t.requires_grad and torch.is_grad_enabled()):
        # No derivative will be taken: the value alone, ``max(t, 0) ** p`` on both branches
        # below, in three operations instead of eleven (evolutionary solvers evaluate this
        # way at every generation). Adding 0.0 turns -0.0 into +0.0 as the linear term does
        # below, so both routes agree to the bit.
        return (t.clamp_min(0.0) + 0.0).pow(p)
    small = t < eps
    # Double-where: the autograd branch never sees t < eps, so its backward stays finite.
    t_big = torch.where(small, torch.full_like(t, eps), t)
    big = t_big.pow(p)
    td = t.detach()
    slope = p * eps ** (p - 1.0)
    tiny = td.clamp_min(0.0).pow(p) + slope * (t - td)
    return torch.where(small, tiny, big)


def strict_record_intervals(
    h: Callable[[np.ndarray], np.ndarray],
    dh: Callable[[float], float],
    lo: float = 0.0,
    hi: float = 1.0,
    n_grid: int = 200_001,
) -> list[tuple[float, float]]:
    """Intervals of ``[lo, hi]`` where ``h`` reaches a new strict running minimum.

    These are the ``x`` for which the point ``(x, h(x))`` is non-dominated among all
    ``(y, h(y))``, ``y`` in ``[lo, hi]`` (minimising both), i.e. the true front of a
    two-objective problem whose front is the curve ``f2 = h(f1)``. A grid locates the
    intervals; their ends are then refined to machine precision: a right end is a root of
    ``dh`` (a local minimum of ``h``) or ``hi``; a left end (after the first) solves
    ``h(x) = h(previous right end)`` and is moved inward by 1e-12 so it is strictly
    non-dominated.
    """
    x = np.linspace(lo, hi, n_grid)
    y = h(x)
    prev_min = np.minimum.accumulate(np.concatenate([[np.inf], y[:-1]]))
    record = y < prev_min
    edges = np.flatnonzero(np.diff(record.astype(np.int8)))
    starts = [0] if record[0] else []
    ends: list[int] = []
    for e in edges:
        if record[e + 1]:
            starts.append(e + 1)
        else:
            ends.append(e)
    if len(ends) < len(starts):
        ends.append(n_grid - 1)
    intervals: list[tuple[float, float]] = []
    for s, e in zip(starts, ends, strict=True):
        if e == n_grid - 1:
            b = hi
        else:
            b = brentq(dh, x[max(e - 2, 0)], x[min(e + 2, n_grid - 1)], xtol=1e-15)
        if s == 0:
            a = lo
        else:
            level = h(np.array([intervals[-1][1]]))[0]
            a = brentq(lambda t, lv=level: h(np.array([t]))[0] - lv, x[s - 1], x[s], xtol=1e-15)
            a += 1e-12
        intervals.append((float(a), float(b)))
    return intervals


def _allocate(lengths: list[float], n: int) -> list[int]:
    """Split ``n`` samples over pieces proportionally to ``lengths`` (at least 2 each)."""
    total = sum(lengths)
    counts = [max(2, round(n * w / total)) for w in lengths]
    return counts


class _ZDT(Problem):
    """Common part of the ZDT problems: two objectives, ``f1`` from ``x_1``, ``g`` from the rest
    and ``f2 = g h(f1, g)``."""

    name = "zdt"

    def __init__(self, n_var: int = 30) -> None:
        if int(n_var) != n_var or n_var < 2:
            raise ValueError(f"{self.name}: n_var must be an integer >= 2, got {n_var}")
        super().__init__(self._variables(int(n_var)), n_obj=2)

    @staticmethod
    def _variables(n_var: int) -> list[Real]:
        return [Real(f"x{i + 1}", 0.0, 1.0) for i in range(n_var)]

    def _f1(self, x: Tensor) -> Tensor:
        return x[..., 0]

    def _g(self, x: Tensor) -> Tensor:
        return 1.0 + 9.0 / (self.n_var - 1) * x[..., 1:].sum(dim=-1)

    def _h(self, f1: Tensor, g: Tensor) -> Tensor:
        """``f2 / g``; on the Pareto set (``g = 1``) the front ``f2(f1)``."""
        raise NotImplementedError

    def _evaluate(self, x: Tensor) -> Tensor:
        f1 = self._f1(x)
        g = self._g(x)
        return torch.stack([f1, g * self._h(f1, g)], dim=-1)

    @property
    def ideal(self) -> np.ndarray:
        return np.array([0.0, 0.0])

    @property
    def nadir(self) -> np.ndarray:
        return np.array([1.0, 1.0])


class _ConvexZDT(_ZDT):
    """ZDT1 and ZDT4: the convex front ``f2 = 1 - sqrt(f1)``, ``f1`` in [0, 1]."""

    def _h(self, f1: Tensor, g: Tensor) -> Tensor:
        return 1.0 - safe_pow(f1 / g, 0.5)

    def pareto_front(self, n: int = 100) -> np.ndarray:
        f1 = np.linspace(0.0, 1.0, n)
        return np.column_stack([f1, 1.0 - np.sqrt(f1)])


class _ConcaveZDT(_ZDT):
    """ZDT2 and ZDT6: the concave front ``f2 = 1 - f1^2``, ``f1`` from :meth:`_f1_min` to 1."""

    def _f1_min(self) -> float:
        return 0.0

    def _h(self, f1: Tensor, g: Tensor) -> Tensor:
        return 1.0 - (f1 / g) ** 2

    def pareto_front(self, n: int = 100) -> np.ndarray:
        f1 = np.linspace(self._f1_min(), 1.0, n)
        return np.column_stack([f1, 1.0 - f1**2])


@register_problem("zdt1")
class ZDT1(_ConvexZDT):
    """ZDT1: convex front ``f2 = 1 - sqrt(f1)``, ``f1`` in [0, 1]."""

    name = "zdt1"


@register_problem("zdt2")
class ZDT2(_ConcaveZDT):
    """ZDT2: concave front ``f2 = 1 - f1^2``, ``f1`` in [0, 1]."""

    name = "zdt2"


def _zdt3_h(x: np.ndarray) -> np.ndarray:
    return 1.0 - np.sqrt(x) - x * np.sin(10.0 * np.pi * x)


def _zdt3_dh(x: float) -> float:
    return (
        -0.5 / math.sqrt(max(x, 1e-300))
        - math.sin(10.0 * math.pi * x)
        - 10.0 * math.pi * x * math.cos(10.0 * math.pi * x)
    )


@lru_cache(maxsize=1)
def zdt3_regions() -> tuple[tuple[float, float], ...]:
    """The five ``f1`` intervals of ZDT3's disconnected front (computed once)."""
    return tuple(strict_record_intervals(_zdt3_h, _zdt3_dh))


@register_problem("zdt3")
class ZDT3(_ZDT):
    """ZDT3: disconnected front, five pieces of ``f2 = 1 - sqrt(f1) - f1 sin(10 pi f1)``."""

    name = "zdt3"

    def _h(self, f1: Tensor, g: Tensor) -> Tensor:
        r = f1 / g
        return 1.0 - safe_pow(r, 0.5) - r * torch.sin(10.0 * math.pi * f1)

    def pareto_front(self, n: int = 100) -> np.ndarray:
        regions = zdt3_regions()
        counts = _allocate([b - a for a, b in regions], n)
        f1 = np.concatenate(
            [np.linspace(a, b, c) for (a, b), c in zip(regions, counts, strict=True)]
        )
        return np.column_stack([f1, _zdt3_h(f1)])

    @property
    def ideal(self) -> np.ndarray:
        last = zdt3_regions()[-1][1]
        return np.array([0.0, float(_zdt3_h(np.array([last]))[0])])

    @property
    def nadir(self) -> np.ndarray:
        return np.array([zdt3_regions()[-1][1], 1.0])


@register_problem("zdt4")
class ZDT4(_ConvexZDT):
    """ZDT4: multimodal ``g`` (21^9 local fronts); ``x_1`` in [0, 1], others in [-5, 5]."""

    name = "zdt4"

    def __init__(self, n_var: int = 10) -> None:
        super().__init__(n_var)

    @staticmethod
    def _variables(n_var: int) -> list[Real]:
        return [Real("x1", 0.0, 1.0)] + [Real(f"x{i + 1}", -5.0, 5.0) for i in range(1, n_var)]

    def _g(self, x: Tensor) -> Tensor:
        xr = x[..., 1:]
        terms = xr * xr - 10.0 * torch.cos(4.0 * math.pi * xr)
        return 1.0 + 10.0 * (self.n_var - 1) + terms.sum(dim=-1)


def _zdt6_f1(x: float) -> float:
    return 1.0 - math.exp(-4.0 * x) * math.sin(6.0 * math.pi * x) ** 6


@lru_cache(maxsize=1)
def zdt6_f1_min() -> float:
    """Smallest ``f1`` of ZDT6 (about 0.2807753191), the left end of its front."""
    # The global minimum of f1 lies in the first hump of sin^6, where exp(-4x) is largest.
    res = minimize_scalar(_zdt6_f1, bounds=(0.0, 1.0 / 6.0), method="bounded",
                          options={"xatol": 1e-14})
    return float(res.fun)


@register_problem("zdt6")
class ZDT6(_ConcaveZDT):
    """ZDT6: non-uniform, biased; front ``f2 = 1 - f1^2`` with ``f1`` in [0.2808, 1]."""

    name = "zdt6"

    def __init__(self, n_var: int = 10) -> None:
        super().__init__(n_var)

    def _g(self, x: Tensor) -> Tensor:
        mean = x[..., 1:].sum(dim=-1) / (self.n_var - 1.0)
        return 1.0 + 9.0 * safe_pow(mean, 0.25)

    def _f1(self, x: Tensor) -> Tensor:
        x1 = x[..., 0]
        return 1.0 - torch.exp(-4.0 * x1) * torch.sin(6.0 * math.pi * x1) ** 6

    def _f1_min(self) -> float:
        return zdt6_f1_min()

    @property
    def ideal(self) -> np.ndarray:
        return np.array([zdt6_f1_min(), 0.0])

    @property
    def nadir(self) -> np.ndarray:
        return np.array([1.0, 1.0 - zdt6_f1_min() ** 2])
