"""Quality indicators of approximation sets (minimisation everywhere).

Every report in this project measures fronts with these functions, so that two solvers are
compared by the same rule. All are pure: inputs (numpy arrays, array-likes or torch tensors of
shape ``(N, M)``) are never modified, a torch input is converted to a float64 numpy array once,
and the result is a Python ``float``. The exception is :func:`hypervolume_torch_2d`, which stays
in torch (batched, differentiable) for gradient-based methods.

Edge cases (each tested)
------------------------
* Empty approximation set ``F``: hypervolume ``0.0``; IGD, IGD+, GD and additive epsilon
  ``inf`` (nothing approximates the reference front: the worst value, where moocore returns
  ``0.0`` for IGD). An empty reference front is a :class:`ValueError`.
* A row with a NaN: :class:`ValueError` naming the rows, or ``nan="drop"`` to ignore them.
* Infinite values are ordinary values for IGD, IGD+, GD and additive epsilon (an infinitely
  far point is at distance ``inf``), except where ``F`` and the reference front are infinite
  with the same sign in the same objective: ``inf - inf`` has no value, so that is a
  :class:`ValueError` naming the rows. Spacing has no value for a set with an infinite
  objective: a :class:`ValueError` naming the rows (``nan="drop"`` drops only NaN rows).
* Scale: distances are computed without overflow or underflow of intermediate squares and
  sums, so values from about ``1e-300`` to ``1e300`` give the same relative accuracy as
  ordinary ones; a result is ``inf`` only when its true value exceeds the float64 range.
* A reference point that no point strictly dominates: hypervolume ``0.0`` and a
  :class:`ReferencePointWarning` (it usually means a wrongly chosen reference point).
* Mismatched numbers of objectives: :class:`ValueError` naming both shapes.
"""

from __future__ import annotations

import math
import warnings
from collections.abc import Callable

import moocore
import numpy as np
import torch
from torch import Tensor

from dse.checks import positive_number
from dse.pareto import (
    NanPolicy,
    as_points,
    check_nan_policy,
    describe_rows,
    nan_rows,
    raise_nan_rows,
)
from dse.registry import deprecated_names

__all__ = [
    "ReferencePointWarning",
    "epsilon_additive",
    "gd",
    "hypervolume",
    "hypervolume_ratio",
    "hypervolume_torch_2d",
    "ideal_nadir",
    "igd",
    "igd_plus",
    "normalise",
    "reference_point",
    "spacing",
]

# Bound on the elements of one (rows x reference points) distance block, so that IGD-type
# indicators of large sets do not allocate N * R * M floats at once.
_BLOCK_ELEMENTS = 2**22
# A sum of squares below this may have lost accuracy to subnormal squares (each is off by up
# to 2**-1075, i.e. 2**-115 relative to this bound): such pairs are recomputed rescaled.
_TINY_SQUARES = 2.0**-960
# Coordinates at or above this in absolute value can overflow in a difference (the largest
# float64 is just under 2**1024), so distance indicators then work on inputs scaled by 1/4.
_HUGE_COORDINATE = 2.0**1022
# moocore squares differences in float64 without rescaling. Coordinates that are 0 or whose
# magnitude lies in [2**-420, 2**500) have nonzero differences in [2**-472, 2**501) (two
# floats of at least 2**-420 differ by a multiple of 2**-472), so every square is a normal
# float and M of them sum without overflow: moocore is then as accurate as the careful route.
_MOOCORE_LOW = 2.0**-420
_MOOCORE_HIGH_EXP = 500


class ReferencePointWarning(UserWarning):
    """The hypervolume reference point is not strictly dominated by any point of the set."""


# --------------------------------------------------------------------------------------
# Input handling
# --------------------------------------------------------------------------------------
def _points(F: object, name: str, nan: str) -> np.ndarray:
    """``(N, M)`` float64 numpy copy-free view (one conversion for torch), NaN rows handled."""
    check_nan_policy(nan)
    F = as_points(F, name)
    if F.ndim != 2:
        raise ValueError(f"{name} must have shape (N, M), got shape {tuple(F.shape)}")
    if isinstance(F, Tensor):
        F = F.detach().cpu().numpy()
    F = np.asarray(F, dtype=np.float64)
    bad = nan_rows(F)
    if bad.any():
        if nan == "raise":
            raise_nan_rows(bad, name)
        F = F[~bad]
    return F


def _vector(v: object, name: str, m: int | None = None) -> np.ndarray:
    """A finite float64 vector of length ``m`` (when given)."""
    if isinstance(v, Tensor):
        v = v.detach().cpu().numpy()
    v = np.asarray(v, dtype=np.float64)
    if v.ndim != 1 or (m is not None and v.shape[0] != m):
        want = f"({m},)" if m is not None else "(M,)"
        raise ValueError(f"{name} must have shape {want}, got shape {v.shape}")
    if not np.all(np.isfinite(v)):
        raise ValueError(f"{name} must be finite, got {v.tolist()}")
    return v


def _pair(F: object, ref_front: object, nan: str) -> tuple[np.ndarray, np.ndarray]:
    """Validate an approximation set and a non-empty reference front with equal ``M``."""
    A = _points(F, "F", nan)
    R = _points(ref_front, "ref_front", nan)
    if A.shape[1] != R.shape[1]:
        raise ValueError(
            f"F and ref_front must have the same number of objectives (columns), got shapes "
            f"{A.shape} and {R.shape}"
        )
    if R.shape[0] == 0:
        raise ValueError(f"ref_front must hold at least one point, got shape {R.shape}")
    return A, R


def _min_over_F(
    A: np.ndarray,
    R: np.ndarray,
    row_min: Callable[[np.ndarray], np.ndarray],
    names: tuple[str, str] = ("F", "ref_front"),
) -> np.ndarray:
    """For each row ``r`` of ``R``: ``min_a dist(a - r)`` over rows ``a`` of ``A``, chunked.

    ``row_min`` maps differences ``(C, NA, M)`` to ``min_a dist`` of shape ``(C,)``, NaN
    where a distance is NaN. ``names`` are the user-facing names of ``A`` and ``R``.

    Raises
    ------
    ValueError
        A difference is ``inf - inf`` (``A`` and ``R`` infinite with the same sign in the
        same objective): the inputs hold no NaN, so a NaN distance can only come from that.
    """
    out = np.empty(R.shape[0])
    chunk = max(1, _BLOCK_ELEMENTS // max(1, A.shape[0] * A.shape[1]))
    for s in range(0, R.shape[0], chunk):
        # inf - inf is reported below, by row; the callers prescale, so no difference
        # overflows.
        with np.errstate(invalid="ignore"):
            diff = A[None, :, :] - R[s:s + chunk, None, :]
        out[s:s + chunk] = row_min(diff)
    bad = np.isnan(out)
    if bad.any():
        _raise_inf_minus_inf(bad, names)
    return out


def _raise_inf_minus_inf(bad: np.ndarray, names: tuple[str, str]) -> None:
    """The error for the rows ``bad`` of ``names[1]`` whose difference to some row of
    ``names[0]`` is ``inf - inf``."""
    raise ValueError(
        f"{names[0]} and {names[1]} are infinite with the same sign in the same objective "
        f"for {names[1]}'s {describe_rows(bad)}: inf - inf has no value, so the distance "
        f"is undefined. Replace infinite objective values by a finite penalty."
    )


def _check_infinite_pairs(A: np.ndarray, R: np.ndarray) -> None:
    """Raise, as :func:`_min_over_F` does, for the rows of ``R`` that some row of ``A``
    meets with ``inf - inf``; moocore would quietly return a number for them.

    Such a row has an infinite value where some row of ``A`` has the same one, so one pass
    per objective finds them in ``O((NA + NR) M)``.
    """
    pos, neg = np.any(A == np.inf, axis=0), np.any(A == -np.inf, axis=0)
    bad = np.any(((R == np.inf) & pos) | ((R == -np.inf) & neg), axis=1)
    if bad.any():
        _raise_inf_minus_inf(bad, ("F", "ref_front"))


def _moocore_shift(A: np.ndarray, R: np.ndarray) -> int | None:
    """Power of two ``s`` such that moocore's sums of squares of differences of
    ``2**s * A`` and ``2**s * R`` neither overflow nor pass through subnormals (see
    ``_MOOCORE_LOW``), or ``None`` when the finite magnitudes span too wide a range for any
    ``s`` (over about 2**920; then the careful route must do the work).

    ``s`` is 0 (no copy, moocore on the inputs as they are) for ordinary magnitudes.
    """
    finite = [np.abs(X[np.isfinite(X)]) for X in (A, R)]
    top = max(float(np.max(a, initial=0.0)) for a in finite)
    low = min(float(np.min(a, where=a > 0, initial=np.inf)) for a in finite)
    if top < 2.0**_MOOCORE_HIGH_EXP and low >= _MOOCORE_LOW:
        return 0
    shift = _MOOCORE_HIGH_EXP - int(np.frexp(top)[1])  # then 2**s * top < 2**500
    return shift if math.ldexp(low, shift) >= _MOOCORE_LOW else None


def _min_euclid(diff: np.ndarray) -> np.ndarray:
    """``min`` over axis 1 of the Euclidean norms over the last axis of ``diff``
    (``(C, NA, M)``), accurate at any magnitude.

    The plain ``sqrt(min sum d**2)`` (equal to the minimum of the square roots, which are
    monotone and correctly rounded) is exact to rounding unless the smallest sum of squares
    overflowed (every ``|d|`` of the row above about ``1e154``) or may have lost digits to
    subnormal squares (some pair's ``|d|`` below about ``1e-144``). Only such rows are
    recomputed by :func:`_euclid_rescaled`, so ordinary values give the same bits as the
    plain formula at the same cost.
    """
    squares = np.einsum("...k,...k->...", diff, diff)
    best = squares.min(axis=1)  # NaN if any pair is NaN
    out = np.sqrt(best)
    rows = np.flatnonzero((best < _TINY_SQUARES) | (best == np.inf))
    if rows.size:
        # The common tiny case is an exact zero (a point of F on the reference point, or
        # dominating it for IGD+): then the first minimal pair has an all-zero difference.
        first = diff[rows, squares[rows].argmin(axis=1)]
        rows = rows[np.any(first != 0, axis=-1)]
    if rows.size:  # rare: extreme magnitudes only
        out[rows] = _euclid_rescaled(diff[rows]).min(axis=1)
    return out


def _euclid_rescaled(diff: np.ndarray) -> np.ndarray:
    """Euclidean norms over the last axis of ``diff`` (``(..., M)``), each vector scaled by
    a power of two so that its largest entry lies in ``[0.5, 1)``: the squares can then
    neither overflow nor (for the entries that matter) underflow, and the scaling is exact.
    Infinite entries give ``inf`` (``frexp(inf)`` leaves them unscaled)."""
    _, e = np.frexp(np.max(np.abs(diff), axis=-1))
    scaled = np.ldexp(diff, -e[..., None])
    return np.ldexp(np.sqrt(np.einsum("...k,...k->...", scaled, scaled)), e)


def _mean(d: np.ndarray) -> float:
    """Mean of non-negative ``d`` whose running sum cannot overflow: summed after an exact
    power-of-two scaling, so it equals ``d.mean()`` whenever that one does not overflow."""
    top = float(d.max())
    if top == 0.0 or top == np.inf:
        return float(d.mean())
    _, e = np.frexp(top)
    return float(np.ldexp(np.ldexp(d, -e).mean(), e))


def _prescale(A: np.ndarray, R: np.ndarray) -> tuple[np.ndarray, np.ndarray, int]:
    """``(A, R)`` scaled by ``2**-shift`` so that no difference of coordinates overflows.

    ``shift`` is 0 (no copy) unless a finite coordinate reaches ``_HUGE_COORDINATE``; then 2,
    which is exact except for subnormal coordinates, whose last two bits are immaterial next
    to such values. Results are multiplied back by ``2**shift``.
    """
    top = max(float(np.max(np.abs(X), where=np.isfinite(X), initial=0.0)) for X in (A, R))
    if top < _HUGE_COORDINATE:
        return A, R, 0
    return np.ldexp(A, -2), np.ldexp(R, -2), 2


def _mean_min_distance(
    A: np.ndarray,
    R: np.ndarray,
    row_min: Callable[[np.ndarray], np.ndarray],
    names: tuple[str, str] = ("F", "ref_front"),
) -> float:
    """``mean_r min_a dist(a - r)`` for a norm (see :func:`_min_over_F`), without overflow
    at any step."""
    A, R, shift = _prescale(A, R)
    mean = _mean(_min_over_F(A, R, row_min, names))
    with np.errstate(over="ignore"):  # inf is then the correctly rounded result
        return float(np.ldexp(mean, shift))


# --------------------------------------------------------------------------------------
# Hypervolume
# --------------------------------------------------------------------------------------
def _inside(F: object, ref: object, nan: NanPolicy) -> tuple[np.ndarray, np.ndarray]:
    """The points of ``F`` strictly inside the box below ``ref``, and ``ref``; warns (for
    the caller of the hypervolume function) when ``F`` has points but none is inside."""
    P = _points(F, "F", nan)
    r = _vector(ref, "ref", P.shape[1])
    inside = np.all(P < r, axis=1)
    if P.shape[0] and not inside.any():
        warnings.warn(
            f"no point of F (shape {P.shape}) strictly dominates the reference point "
            f"{r.tolist()}: hypervolume is 0.0; check the reference point",
            ReferencePointWarning,
            stacklevel=3,
        )
    return P[inside], r


def hypervolume(F: object, ref: object, *, nan: NanPolicy = "raise") -> float:
    """Exact hypervolume dominated by ``F`` and bounded by ``ref`` (minimisation), via moocore.

    Parameters
    ----------
    F
        Points, shape ``(N, M)``; numpy, array-like or torch (converted once).
    ref
        Reference point, shape ``(M,)``, finite. Use :func:`reference_point` for the
        project's rule.
    nan
        ``"raise"`` (default) or ``"drop"`` rows holding a NaN.

    Returns
    -------
    The Lebesgue measure of ``{y : exists f in F, f <= y <= ref}``. Points that do not
    strictly dominate ``ref`` (``f < ref`` in every objective) contribute nothing. An empty
    set gives ``0.0``; a non-empty set with no point strictly dominating ``ref`` gives ``0.0``
    and a :class:`ReferencePointWarning`. With one objective it is ``ref - min(F)``.

    Raises
    ------
    ValueError
        ``ref`` not of shape ``(M,)`` (the message names both shapes) or not finite; NaN rows
        with ``nan="raise"``.
    """
    P, r = _inside(F, ref, nan)
    if not len(P):
        return 0.0
    return float(moocore.hypervolume(P, ref=r))


def hypervolume_torch_2d(F: Tensor, ref: Tensor | object) -> Tensor:
    """Differentiable hypervolume of two-objective point sets, batched over leading dims.

    Sort the points by the first objective after clamping them to the reference box; the
    dominated region is then a staircase whose step ``i`` spans ``[f1_(i), f1_(i+1))`` (with
    ``f1_(N) = ref_1``) at height ``ref_2 - min_{j <= i} f2_(j)``. Summing these rectangles
    is exact, handles dominated points (they do not lower the running minimum) and points
    outside the box (clamping gives them zero width or height), and is differentiable almost
    everywhere: the gradient moves each non-dominated point's corners, and is zero for
    dominated points.

    Parameters
    ----------
    F
        Tensor of shape ``(..., N, 2)``; floating dtype.
    ref
        Reference point(s), shape ``(2,)`` or broadcastable to ``(..., 2)``; a tensor (may
        require grad) or anything ``torch.as_tensor`` accepts.

    Returns
    -------
    Tensor of shape ``(...)`` on ``F``'s device and dtype. An empty set gives 0. A set with a
    NaN gives NaN (for that batch member only; no host synchronisation), so a NaN is never
    silently hidden; use :func:`hypervolume` for a checked scalar.
    """
    if not isinstance(F, Tensor):
        raise TypeError(f"hypervolume_torch_2d takes a torch tensor, got {type(F).__name__}")
    if not F.is_floating_point():
        raise TypeError(f"F must have a floating dtype, got {F.dtype}")
    if F.ndim < 2 or F.shape[-1] != 2:
        raise ValueError(
            f"F must have shape (..., N, 2) (two objectives), got shape {tuple(F.shape)}"
        )
    r = torch.as_tensor(ref, dtype=F.dtype, device=F.device)
    if r.ndim == 0 or r.shape[-1] != 2:
        raise ValueError(f"ref must have shape (2,) or (..., 2), got shape {tuple(r.shape)}")
    lead = torch.broadcast_shapes(F.shape[:-2], r.shape[:-1])
    F = F.expand(*lead, *F.shape[-2:])
    r = r.expand(*lead, 2)
    if F.shape[-2] == 0:
        return F.new_zeros(lead) + 0.0 * r.sum(dim=-1)  # keeps ref in the graph
    C = torch.minimum(F, r[..., None, :])
    order = torch.argsort(C[..., 0], dim=-1)
    x = torch.gather(C[..., 0], -1, order)
    y = torch.gather(C[..., 1], -1, order)
    height = r[..., 1:2] - torch.cummin(y, dim=-1).values
    width = torch.diff(x, dim=-1, append=r[..., 0:1])
    hv = (width * height).sum(dim=-1)
    has_nan = torch.isnan(F).any(dim=-1).any(dim=-1)
    return torch.where(has_nan, torch.nan, hv)


# --------------------------------------------------------------------------------------
# Distance-based indicators
# --------------------------------------------------------------------------------------
def igd(F: object, ref_front: object, *, nan: NanPolicy = "raise") -> float:
    """Inverted generational distance: mean over the reference front of the Euclidean
    distance to the nearest point of ``F`` (``IGD_1``, as moocore and pymoo). Lower is better;
    ``inf`` for an empty ``F``.

    Computed here rather than by ``moocore.igd`` (unlike :func:`igd_plus`): with one
    objective moocore expands ``|z - a|**2`` as ``|z|**2 + |a|**2 - 2 z.a``, which cancels
    all digits for points far from the origin (0.0 instead of 0.0114 at an offset of 1e8),
    and with more it sums in another order than numpy's mean, whose bits
    tests/test_numerics_extreme.py pins (they differ by up to 1.5e-15 relative).
    """
    A, R = _pair(F, ref_front, nan)
    if A.shape[0] == 0:
        return float("inf")
    return _mean_min_distance(A, R, _min_euclid)


def igd_plus(F: object, ref_front: object, *, nan: NanPolicy = "raise") -> float:
    """IGD+ (Ishibuchi et al. 2015): as :func:`igd` with the distance from reference point
    ``z`` to ``a`` counting only the objectives where ``a`` is worse,
    ``sqrt(sum_k max(a_k - z_k, 0)^2)``; weakly Pareto compliant. ``inf`` for an empty ``F``.

    ``moocore.igd_plus`` does the work (8 times faster than numpy for two objectives and
    1000 points in each set), on inputs first scaled by a power of two (exact) so that its
    squares can neither overflow nor underflow; only sets whose magnitudes span more than
    about 2**920 take the careful route of :func:`igd`.
    """
    A, R = _pair(F, ref_front, nan)
    if A.shape[0] == 0:
        return float("inf")
    _check_infinite_pairs(A, R)
    shift = _moocore_shift(A, R)
    if shift is None:
        return _mean_min_distance(A, R, lambda d: _min_euclid(np.maximum(d, 0.0)))
    if shift:
        A, R = np.ldexp(A, shift), np.ldexp(R, shift)
    with np.errstate(over="ignore"):  # inf is then the correctly rounded result
        return float(np.ldexp(moocore.igd_plus(A, R), -shift))


def gd(F: object, ref_front: object, *, nan: NanPolicy = "raise") -> float:
    """Generational distance: mean over ``F`` of the Euclidean distance to the nearest
    reference point (``GD_1``, as pymoo's ``GD``). ``inf`` for an empty ``F``."""
    A, R = _pair(F, ref_front, nan)
    if A.shape[0] == 0:
        return float("inf")
    return _mean_min_distance(R, A, _min_euclid, names=("ref_front", "F"))


def epsilon_additive(F: object, ref_front: object, *, nan: NanPolicy = "raise") -> float:
    """Additive epsilon indicator: the smallest ``eps`` such that every reference point is
    weakly dominated by some point of ``F`` shifted by ``-eps``,
    ``max_z min_a max_k (a_k - z_k)``. ``<= 0`` iff ``F`` weakly dominates the reference front.
    ``inf`` for an empty ``F``.

    ``moocore.epsilon_additive`` does the work: it takes only differences and maxima, so it
    is exact to rounding at any magnitude (a difference beyond the float64 range is the
    correctly rounded ``inf``).
    """
    A, R = _pair(F, ref_front, nan)
    if A.shape[0] == 0:
        return float("inf")
    _check_infinite_pairs(A, R)
    with np.errstate(over="ignore"):  # an overflow is the correctly rounded inf
        if A.shape[1] == 1:
            # moocore loops over R in Python here (5 times slower than before at 1000
            # points); a - z is monotone in a and z, so the extremes give the same value.
            return float(A.min() - R.min())
        return float(moocore.epsilon_additive(A, R))


def spacing(F: object, *, ddof: int = 1, nan: NanPolicy = "raise") -> float:
    """Schott's spacing: spread of the nearest-neighbour distances of ``F``.

    ``d_i = min_{j != i} sum_k |f_ik - f_jk|`` (Manhattan) and
    ``S = sqrt(sum_i (d_i - mean(d))^2 / (N - ddof))``. Zero for evenly spaced points.

    Parameters
    ----------
    ddof
        ``1`` (default): Schott's original ``N - 1``; ``0``: pymoo's ``SpacingIndicator``.
    nan
        ``"raise"`` (default) or ``"drop"`` rows holding a NaN.

    Returns
    -------
    ``0.0`` for a single point (no spread to measure, by convention). Computed without
    overflow or underflow, so scaling ``F`` by any factor in float64 range scales ``S`` alike.

    Raises
    ------
    ValueError
        Empty ``F`` (spacing is undefined), ``ddof`` not 0 or 1, NaN rows with
        ``nan="raise"``, or rows with an infinite value (whatever ``nan`` is): their
        nearest-neighbour distance is infinite (or ``inf - inf``), so the spread has no value.
    """
    if ddof not in (0, 1):
        raise ValueError(f"ddof must be 0 or 1, got {ddof}")
    A = _points(F, "F", nan)
    if A.shape[0] == 0:
        raise ValueError(f"spacing needs at least one point, got shape {A.shape}")
    infinite = np.isinf(A).any(axis=1)
    if infinite.any():
        raise ValueError(
            f"F has an infinite value in {describe_rows(infinite)}; spacing is undefined for "
            f"them (their nearest-neighbour distance is infinite). Remove those rows or "
            f"replace the values by finite ones (nan='drop' drops only NaN rows)."
        )
    if A.shape[0] == 1:
        return 0.0
    # Below, every rescaling is by a power of two, hence exact: ordinary values give the same
    # bits as the plain formula, and extreme ones neither overflow nor underflow.
    _, e_top = np.frexp(np.max(np.abs(A)))
    # |a - b| summed over M objectives stays below 2**(e_top + 1 + log2 M): keep it finite.
    shift = max(0, int(e_top) + A.shape[1].bit_length() - 1022)
    if shift:
        A = np.ldexp(A, -shift)
    d = np.empty(A.shape[0])
    chunk = max(1, _BLOCK_ELEMENTS // (A.shape[0] * A.shape[1]))
    for s in range(0, A.shape[0], chunk):
        D = np.abs(A[None, :, :] - A[s:s + chunk, None, :]).sum(axis=-1)
        idx = np.arange(s, min(s + chunk, A.shape[0]))
        D[idx - s, idx] = np.inf  # exclude the point itself (but not its duplicates)
        d[s:s + chunk] = D.min(axis=1)
    _, e_d = np.frexp(d.max())
    d = np.ldexp(d, -e_d)  # now in [0, 1): the mean cannot overflow
    dev = d - d.mean()
    _, e_dev = np.frexp(np.max(np.abs(dev)))
    dev = np.ldexp(dev, -e_dev)  # now in (-1, 1): the squares neither overflow nor vanish
    S = np.sqrt(np.sum(dev**2) / (A.shape[0] - ddof))
    return float(np.ldexp(S, int(e_d) + int(e_dev) + shift))


# --------------------------------------------------------------------------------------
# Normalisation, reference point, hypervolume ratio
# --------------------------------------------------------------------------------------
def ideal_nadir(F: object, *, nan: NanPolicy = "raise") -> tuple[np.ndarray, np.ndarray]:
    """Ideal (column minima) and nadir (column maxima of the non-dominated rows) of ``F``.

    The nadir is taken over the non-dominated rows only, so dominated outliers do not stretch
    it. Raises :class:`ValueError` for an empty set.
    """
    from dse.pareto import nondominated  # local import: keeps the module graph one-way

    A = _points(F, "F", nan)
    if A.shape[0] == 0:
        raise ValueError(f"ideal/nadir of an empty set are undefined, got shape {A.shape}")
    front = A[nondominated(A)]
    return A.min(axis=0), front.max(axis=0)


def normalise(F: object, ideal: object, nadir: object) -> np.ndarray | Tensor:
    """Map objectives affinely so that ``ideal -> 0`` and ``nadir -> 1``: ``(F - ideal) /
    (nadir - ideal)``.

    .. deprecated:: 0.1.0
        The old spelling ``normalize`` (``dse.normalize``, ``dse.indicators.normalize``)
        still gives this function, with a :class:`DeprecationWarning`; it goes in the next
        release.

    An objective with a degenerate range (``nadir == ideal``) is only shifted (divided by 1),
    so it becomes 0 at the ideal instead of a division by zero. torch in -> torch out (same
    device and dtype, differentiable); otherwise numpy float64. Any leading shape ``(..., M)``.

    ``moocore.normalise`` gives the same bits, degenerate ranges included, but takes only
    2-D numpy arrays with at least two objectives: the one line of arithmetic below would
    remain for the other inputs, and it is as fast (44 vs 36 us at 1000 x 2).

    Raises
    ------
    ValueError
        Shapes of ``ideal``/``nadir`` not ``(M,)``, or ``nadir < ideal`` somewhere.
    """
    F = as_points(F, "F", min_ndim=1)
    m = F.shape[-1]
    lo, hi = _vector(ideal, "ideal", m), _vector(nadir, "nadir", m)
    if np.any(hi < lo):
        raise ValueError(f"nadir must be >= ideal in every objective, got ideal={lo.tolist()} "
                         f"nadir={hi.tolist()}")
    width = np.where(hi > lo, hi - lo, 1.0)
    if isinstance(F, Tensor):
        dtype = F.dtype if F.is_floating_point() else torch.get_default_dtype()
        lo_t = torch.as_tensor(lo, dtype=dtype, device=F.device)
        w_t = torch.as_tensor(width, dtype=dtype, device=F.device)
        return (F.to(dtype) - lo_t) / w_t
    return (np.asarray(F, dtype=np.float64) - lo) / width


def reference_point(ideal: object, nadir: object, offset: float = 0.1) -> np.ndarray:
    """THE hypervolume reference point used by every report: ``nadir + offset * (nadir - ideal)``.

    Why this rule:

    * Using the nadir itself would give the extreme points of a front zero contribution (they
      do not strictly dominate it), so the spread of a front would go unrewarded. Moving the
      reference point beyond the nadir makes the extremes count.
    * The offset is a fixed fraction of each objective's range, so the rule is invariant to
      rescaling an objective: normalising objectives to ``[0, 1]`` by ideal/nadir and then
      applying the rule gives the same point ``(1 + offset, ..., 1 + offset)``. ``offset=0.1``
      (i.e. ``1.1`` in normalised space) is the common choice in the literature (see
      Ishibuchi et al., "How to specify a reference point in hypervolume calculation for fair
      performance comparison", Evol. Comput. 2018, who recommend ``1 + 1/H``, about 1.1 for
      typical population sizes).
    * ``ideal``/``nadir`` should come from the reference (true) front when one is known, or
      from the union of all compared sets, never from each set separately, so that every set
      is measured in the same box.

    A degenerate range (``nadir == ideal`` in some objective) would leave no room in that
    objective; it is replaced by ``max(|nadir|, 1)`` so the reference point is still strictly
    worse than the nadir.

    Parameters
    ----------
    ideal, nadir
        Finite vectors of shape ``(M,)`` with ``nadir >= ideal``.
    offset
        Positive fraction of the range.

    Returns
    -------
    numpy float64 array of shape ``(M,)``.
    """
    lo = _vector(ideal, "ideal")
    hi = _vector(nadir, "nadir", lo.shape[0])
    offset = positive_number("offset", offset)
    if np.any(hi < lo):
        raise ValueError(f"nadir must be >= ideal in every objective, got ideal={lo.tolist()} "
                         f"nadir={hi.tolist()}")
    width = np.where(hi > lo, hi - lo, np.maximum(np.abs(hi), 1.0))
    return hi + offset * width


def hypervolume_ratio(
    F: object,
    ref_front: object,
    ref: object | None = None,
    *,
    offset: float = 0.1,
    nan: NanPolicy = "raise",
) -> float:
    """``HV(F) / HV(ref_front)`` with one reference point for both.

    Parameters
    ----------
    F
        Approximation set, shape ``(N, M)``.
    ref_front
        Reference (e.g. true) front, shape ``(R, M)``, non-empty.
    ref
        Reference point; default :func:`reference_point` on the ideal and nadir of
        ``ref_front`` with ``offset``.

    Returns
    -------
    A ratio in ``[0, 1]`` when ``ref_front`` is the true front; it can exceed 1 when
    ``ref_front`` is a finite sample of the front and ``F`` fills its gaps. Points of ``F``
    beyond ``ref`` contribute nothing (no warning is raised for them here).

    Raises
    ------
    ValueError
        Shapes mismatch, empty ``ref_front``, or ``HV(ref_front) == 0`` for the given ``ref``.
    """
    A, R = _pair(F, ref_front, nan)
    if ref is None:
        lo, hi = ideal_nadir(R)
        r = reference_point(lo, hi, offset)
    else:
        r = _vector(ref, "ref", R.shape[1])
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ReferencePointWarning)
        denom = hypervolume(R, r)
        if denom <= 0:
            raise ValueError(f"the reference front has zero hypervolume for ref={r.tolist()}; "
                             "choose a reference point that it dominates")
        return hypervolume(A, r) / denom


# --------------------------------------------------------------------------------------
# Hypervolume of large many-objective sets: when the exact value is affordable, and an
# estimate for when it is not
# --------------------------------------------------------------------------------------
__all__ += ["HV_ESTIMATE_SAMPLES", "HV_EXACT_MAX_COST", "hypervolume_estimate",
            "hypervolume_is_cheap"]

#: Largest ``N ** (M / 2)`` (``N`` points, ``M >= 4`` objectives) for which
#: :func:`hypervolume_is_cheap` calls the exact hypervolume affordable.
HV_EXACT_MAX_COST = 2.0**24

#: Directions :func:`hypervolume_estimate` integrates over by default: measured relative
#: error at most about 2e-3 on 4 to 7 objectives (spherical, linear and badly scaled sets).
HV_ESTIMATE_SAMPLES = 2**16


def hypervolume_is_cheap(n_points: int, n_obj: int) -> bool:
    """Whether the exact :func:`hypervolume` of ``n_points`` points is cheap to compute.

    Parameters
    ----------
    n_points
        Number of points that strictly dominate the reference point.
    n_obj
        Number of objectives.

    Returns
    -------
    ``True`` for up to three objectives, whatever ``N``: moocore's exact algorithms take
    ``O(N log N)`` there. From four objectives on, ``N ** (M / 2) <= HV_EXACT_MAX_COST``:
    moocore's time grows about like ``N ** (M / 2)`` (6 objectives on a sphere: 400 points
    0.2 s, 1600 points 7 s), and the bound admits about 4000 points with 4 objectives, 780
    with 5, 256 with 6 and 115 with 7, each a few hundredths of a second.
    """
    if n_obj <= 3:
        return True
    return float(n_points) ** (n_obj / 2) <= HV_EXACT_MAX_COST


def hypervolume_estimate(
    F: object, ref: object, *, n_samples: int = HV_ESTIMATE_SAMPLES, nan: NanPolicy = "raise"
) -> float:
    """Deterministic estimate of :func:`hypervolume`, for sets too large to measure exactly.

    The points that strictly dominate ``ref`` are first mapped onto the unit box (their
    ideal point to 0, ``ref`` to 1), where the estimate is integrated, and the result is
    scaled back: the integral over directions is not scale invariant, and objectives of
    very different ranges otherwise cost one to two orders of magnitude of accuracy.

    Parameters
    ----------
    F
        Points, shape ``(N, M)``; numpy, array-like or torch (converted once).
    ref
        Reference point, shape ``(M,)``, finite.
    n_samples
        Number of directions (``moocore.hv_approx``'s ``nsamples``); the time is about
        linear in ``n_samples * N * M``.
    nan
        ``"raise"`` (default) or ``"drop"`` rows holding a NaN.

    Returns
    -------
    ``moocore.hv_approx`` with its deterministic low-discrepancy method ``"Rphi-FWE+"``: the
    same inputs always give the same value, so no seed is needed. Relative error about 2e-3
    at the default ``n_samples`` (see :data:`HV_ESTIMATE_SAMPLES`). The edge cases are those
    of :func:`hypervolume`; one objective is exact.

    Raises
    ------
    ValueError
        As :func:`hypervolume`; also ``n_samples`` not a whole number in ``[1, 2**31]``, or
        more objectives than moocore's estimator takes (31).
    """
    from dse.checks import whole_number

    n_samples = whole_number("n_samples", n_samples, 1, 2**31)
    P, r = _inside(F, ref, nan)
    if not len(P):
        return 0.0
    if P.shape[1] == 1:
        return float(r[0] - P.min())
    if P.shape[1] > 31:
        raise ValueError(f"hypervolume_estimate takes at most 31 objectives (moocore's "
                         f"limit), got F of shape {P.shape}")
    lo = P.min(axis=0)
    span = r - lo
    unit = moocore.hv_approx((P - lo) / span, ref=np.ones(P.shape[1]), nsamples=n_samples,
                             method="Rphi-FWE+")
    return float(unit * np.prod(span))


# Old spellings, served with a DeprecationWarning for one release.
__getattr__ = deprecated_names(__name__, {"normalize": "normalise"})
