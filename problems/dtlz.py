"""DTLZ benchmark problems (Deb, Thiele, Laumanns and Zitzler, 2005): DTLZ1 to DTLZ7.

Any number of objectives ``n_obj >= 2`` and variables ``n_var >= n_obj``; all variables in
[0, 1]. Definitions follow pymoo. The last ``k = n_var - n_obj + 1`` variables form the
distance part ``x_M``; when ``n_var`` is not given it is ``n_obj + k - 1`` with pymoo's
``k`` (5 for DTLZ1, 8 otherwise), so ``n_obj = 3`` gives pymoo's 7 and 10 variables.

All torch, batched over leading dimensions and differentiable; DTLZ6's ``x ** 0.1`` (infinite
slope at the front, ``x_M = 0``) goes through :func:`problems.zdt.safe_pow`.

True fronts: DTLZ1 the simplex ``sum f = 1/2`` (Das-Dennis points); DTLZ2-4 the unit sphere
(Das-Dennis directions, normalised, as pymoo); DTLZ5/6 the degenerate curve ``theta_1`` in
[0, pi/2], other angles pi/4 (the textbook front; for ``n_obj >= 4`` Huband et al. (2006)
showed that this curve is not the whole front, so treat fronts there as approximate);
DTLZ7 the ``2^(n_obj-1)`` disconnected patches.
"""

from __future__ import annotations

import math
from functools import lru_cache
from itertools import product

import numpy as np
import torch
from torch import Tensor

from dse.problem import Problem, Real, register_problem
from dse.solvers._preferences import das_dennis, das_dennis_partitions
from problems.zdt import safe_pow, strict_record_intervals

__all__ = [
    "DTLZ1",
    "DTLZ2",
    "DTLZ3",
    "DTLZ4",
    "DTLZ5",
    "DTLZ6",
    "DTLZ7",
    "das_dennis",
]


def simplex_points(n: int, n_dim: int) -> np.ndarray:
    """The largest Das-Dennis set with at most ``n`` points (at least the ``n_dim`` corners)."""
    return das_dennis(das_dennis_partitions(n, n_dim), n_dim)


def _spherical(c: Tensor, s: Tensor, scale: Tensor) -> Tensor:
    """``f_i = scale * prod_{j < M-1-i} c_j * (s_{M-1-i} if i > 0)``; ``c, s``: ``(..., M-1)``.

    The DTLZ objective pattern (with ``c = cos``, ``s = sin`` of the angles, or ``c = x``,
    ``s = 1 - x`` for DTLZ1), as one cumulative product instead of a loop over objectives.
    """
    ones = torch.ones_like(c[..., :1])
    prefix = torch.cat([ones, torch.cumprod(c, dim=-1)], dim=-1)  # prefix[k] = prod_{j<k} c_j
    tail = torch.cat([ones, s.flip(-1)], dim=-1)
    return scale.unsqueeze(-1) * prefix.flip(-1) * tail


class _DTLZ(Problem):
    """Common part: ``n_obj`` objectives, ``n_var`` variables in [0, 1]."""

    name = "dtlz"
    #: pymoo's default distance-part size, giving its default ``n_var`` at ``n_obj = 3``.
    default_k = 8

    def __init__(self, n_obj: int = 3, n_var: int | None = None) -> None:
        if int(n_obj) != n_obj or n_obj < 2:
            raise ValueError(f"{self.name}: n_obj must be an integer >= 2, got {n_obj}")
        n_obj = int(n_obj)
        if n_var is None:
            n_var = n_obj + self.default_k - 1
        if int(n_var) != n_var or n_var < n_obj:
            raise ValueError(
                f"{self.name}: n_var must be an integer >= n_obj={n_obj}, got {n_var}"
            )
        n_var = int(n_var)
        super().__init__([Real(f"x{i + 1}", 0.0, 1.0) for i in range(n_var)], n_obj=n_obj)
        self.k = n_var - n_obj + 1

    def __repr__(self) -> str:
        return super().__repr__()[:-1] + f", k={self.k})"

    def _split_x(self, x: Tensor) -> tuple[Tensor, Tensor]:
        m = self.n_obj - 1
        return x[..., :m], x[..., m:]

    def _g_rastrigin(self, xm: Tensor) -> Tensor:
        """DTLZ1/3's multimodal distance function (``11^k - 1`` local fronts)."""
        d = xm - 0.5
        return 100.0 * (self.k + (d * d - torch.cos(20.0 * math.pi * d)).sum(dim=-1))

    @staticmethod
    def _g_sphere(xm: Tensor) -> Tensor:
        d = xm - 0.5
        return (d * d).sum(dim=-1)

    @staticmethod
    def _angles(theta: Tensor, g: Tensor) -> Tensor:
        half_pi = 0.5 * math.pi
        return _spherical(torch.cos(theta * half_pi), torch.sin(theta * half_pi), 1.0 + g)

    @property
    def ideal(self) -> np.ndarray:
        return np.zeros(self.n_obj)

    @property
    def nadir(self) -> np.ndarray:
        return np.ones(self.n_obj)

    def pareto_front(self, n: int = 100) -> np.ndarray:
        """The unit sphere's positive orthant (DTLZ2-4), through Das-Dennis directions."""
        w = simplex_points(n, self.n_obj)
        return w / np.linalg.norm(w, axis=1, keepdims=True)


@register_problem("dtlz1")
class DTLZ1(_DTLZ):
    """DTLZ1: linear front ``sum f = 1/2``, multimodal distance function."""

    name = "dtlz1"
    default_k = 5

    def _evaluate(self, x: Tensor) -> Tensor:
        xp, xm = self._split_x(x)
        return _spherical(xp, 1.0 - xp, 0.5 * (1.0 + self._g_rastrigin(xm)))

    @property
    def nadir(self) -> np.ndarray:
        return np.full(self.n_obj, 0.5)

    def pareto_front(self, n: int = 100) -> np.ndarray:
        return 0.5 * simplex_points(n, self.n_obj)


@register_problem("dtlz2")
class DTLZ2(_DTLZ):
    """DTLZ2: spherical front ``sum f^2 = 1``.

    The objectives are the spherical coordinates of angles ``_positions(x_P, g)`` at
    radius ``1 + g``. DTLZ3-6 are DTLZ2 with another distance function ``_g`` (DTLZ3,
    DTLZ6) or another map from the position variables to the angles (DTLZ4, DTLZ5), as
    the paper defines them.
    """

    name = "dtlz2"

    def _g(self, xm: Tensor) -> Tensor:
        return self._g_sphere(xm)

    def _positions(self, xp: Tensor, g: Tensor) -> Tensor:
        return xp

    def _evaluate(self, x: Tensor) -> Tensor:
        xp, xm = self._split_x(x)
        g = self._g(xm)
        return self._angles(self._positions(xp, g), g)


@register_problem("dtlz3")
class DTLZ3(DTLZ2):
    """DTLZ3: spherical front with DTLZ1's multimodal distance function."""

    name = "dtlz3"

    def _g(self, xm: Tensor) -> Tensor:
        return self._g_rastrigin(xm)


@register_problem("dtlz4")
class DTLZ4(DTLZ2):
    """DTLZ4: spherical front, density biased by ``x ** alpha`` (alpha = 100 as pymoo)."""

    name = "dtlz4"

    def __init__(self, n_obj: int = 3, n_var: int | None = None, alpha: float = 100.0) -> None:
        if not alpha > 0:
            raise ValueError(f"dtlz4: alpha must be > 0, got {alpha}")
        super().__init__(n_obj, n_var)
        self.alpha = float(alpha)

    def _positions(self, xp: Tensor, g: Tensor) -> Tensor:
        # alpha >= 1 in practice: x ** alpha then has a finite slope at 0.
        return xp.pow(self.alpha) if self.alpha >= 1 else safe_pow(xp, self.alpha)


@register_problem("dtlz5")
class DTLZ5(DTLZ2):
    """DTLZ5: degenerate curved front (``g`` as DTLZ2): all angles but the first squeezed
    towards pi/4 as ``g`` goes to 0."""

    name = "dtlz5"

    def _positions(self, xp: Tensor, g: Tensor) -> Tensor:
        gc = g.unsqueeze(-1)
        rest = (1.0 + 2.0 * gc * xp[..., 1:]) / (2.0 * (1.0 + gc))
        return torch.cat([xp[..., :1], rest], dim=-1)

    def pareto_front(self, n: int = 100) -> np.ndarray:
        """The degenerate curve (see the module note for ``n_obj >= 4``)."""
        t1 = np.linspace(0.0, 0.5 * np.pi, n)
        theta = np.column_stack([t1] + [np.full(n, 0.25 * np.pi)] * (self.n_obj - 2))
        with torch.no_grad():
            th = torch.from_numpy(theta)
            f = _spherical(torch.cos(th), torch.sin(th), torch.ones(n, dtype=th.dtype))
        return f.numpy()

    @property
    def nadir(self) -> np.ndarray:
        # Each objective is monotone along the curve: its maximum is at one of the two ends.
        return self.pareto_front(2).max(axis=0)


@register_problem("dtlz6")
class DTLZ6(DTLZ5):
    """DTLZ6: DTLZ5's degenerate curved front, harder ``g = sum x_M ** 0.1``."""

    name = "dtlz6"

    def _g(self, xm: Tensor) -> Tensor:
        return safe_pow(xm, 0.1).sum(dim=-1)


def _dtlz7_u(t: np.ndarray) -> np.ndarray:
    return t * (1.0 + np.sin(3.0 * np.pi * t))


def _dtlz7_du(t: float) -> float:
    return 1.0 + math.sin(3.0 * math.pi * t) + 3.0 * math.pi * t * math.cos(3.0 * math.pi * t)


@lru_cache(maxsize=1)
def dtlz7_regions() -> tuple[tuple[float, float], ...]:
    """The ``f_i`` intervals (``i < n_obj``) of DTLZ7's disconnected front.

    A front point has every ``f_i`` where ``u(t) = t (1 + sin(3 pi t))`` reaches a new strict
    running maximum: elsewhere a smaller ``f_i`` with ``u`` at least as large exists, which
    dominates (``f_M = 2 n_obj - sum u(f_i)`` on the front).
    """
    return tuple(strict_record_intervals(lambda t: -_dtlz7_u(t), lambda t: -_dtlz7_du(t)))


@register_problem("dtlz7")
class DTLZ7(_DTLZ):
    """DTLZ7: ``2^(n_obj-1)`` disconnected front patches."""

    name = "dtlz7"

    def _evaluate(self, x: Tensor) -> Tensor:
        xp, xm = self._split_x(x)
        g = 1.0 + 9.0 / self.k * xm.sum(dim=-1)
        gc = g.unsqueeze(-1)
        h = self.n_obj - (xp / (1.0 + gc) * (1.0 + torch.sin(3.0 * math.pi * xp))).sum(dim=-1)
        return torch.cat([xp, ((1.0 + g) * h).unsqueeze(-1)], dim=-1)

    def pareto_front(self, n: int = 100) -> np.ndarray:
        """A product grid over the front intervals of ``f_1 .. f_{M-1}`` (about ``n`` points)."""
        m = self.n_obj - 1
        per_dim = max(2 * len(dtlz7_regions()), round(n ** (1.0 / m)))
        t = _interval_samples(dtlz7_regions(), per_dim)
        fp = np.array(list(product(t, repeat=m)))
        return np.column_stack([fp, 2.0 * self.n_obj - _dtlz7_u(fp).sum(axis=1)])

    @property
    def ideal(self) -> np.ndarray:
        top = dtlz7_regions()[-1][1]
        return np.array([0.0] * (self.n_obj - 1)
                        + [2.0 * self.n_obj - (self.n_obj - 1) * float(_dtlz7_u(np.array(top)))])

    @property
    def nadir(self) -> np.ndarray:
        top = dtlz7_regions()[-1][1]
        return np.array([top] * (self.n_obj - 1) + [2.0 * self.n_obj])


def _interval_samples(regions: tuple[tuple[float, float], ...], n: int) -> np.ndarray:
    """About ``n`` points spread over ``regions`` in proportion to their lengths, ends included."""
    total = sum(b - a for a, b in regions)
    counts = [max(2, round(n * (b - a) / total)) for a, b in regions]
    return np.concatenate([np.linspace(a, b, c) for (a, b), c in zip(regions, counts, strict=True)])
