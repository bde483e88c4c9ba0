"""Pareto dominance: non-dominated masks, fronts and ranks (minimisation everywhere).

This is the one dominance module every solver and every report uses, so that two solvers'
fronts are extracted by the same rule.

Two routes give identical answers:

* numpy arrays (and array-likes) go through :mod:`moocore` (C, ``O(N log N)`` for up to three
  objectives), one point set at a time;
* torch tensors stay in torch on their own device (a GPU population is never copied to the
  host), batched over any leading dimensions: ``F`` of shape ``(..., N, M)`` gives a mask
  ``(..., N)``. One or two objectives use an ``O(N log N)`` sort-and-cumulative-minimum
  sweep; three objectives an ``O(N log^2 N)`` divide-and-conquer sweep (sorts, cumulative
  minima and binary searches, no host synchronisation, memory ``O(N)``); four or more a
  chunked pairwise comparison against the growing front, ``O(N * front size * M)`` work with
  peak memory bounded by ``chunk_size * (front size + chunk_size)`` instead of ``N^2 * M``.

Conventions
-----------
``a`` dominates ``b`` when ``a <= b`` in every objective and ``a < b`` in at least one. Equal
vectors do not dominate each other, so duplicates of a non-dominated vector are all
non-dominated unless ``keep_duplicates=False``, which keeps only the first copy (smallest
index). Rows holding a NaN have no defined dominance: by default they raise a
:class:`ValueError` that names the rows; with ``nan="drop"`` they are treated as excluded
(never non-dominated, rank ``-1``) and do not affect any other row. Values compare exactly
in their own dtype: integers beyond ``2**53`` (and long doubles), which moocore's float64
would round, reach it as per-objective ranks with the same order; the torch route compares
integers as integers (unsigned ones mapped in order onto ``int64``).
"""

from __future__ import annotations

import math
from collections.abc import Callable
from typing import Literal, TypeVar

import moocore
import numpy as np
import torch
from torch import Tensor

from dse.checks import whole_number
from dse.registry import deprecated_names

__all__ = [
    "Method",
    "NanPolicy",
    "dominates",
    "nondominated",
    "nondominated_front",
    "pareto_rank",
]

NanPolicy = Literal["raise", "drop"]
Method = Literal["auto", "sweep", "pairwise"]
ArrayT = TypeVar("ArrayT", np.ndarray, Tensor)

# Default bound on the number of elements of one comparison block (batch * rows * candidates)
# in the torch pairwise route: 2**24 booleans is 16 MiB per temporary, small enough for any
# GPU or CPU yet large enough that the per-chunk launch overhead is negligible.
_BLOCK_ELEMENTS = 2**24
_MAX_LISTED_ROWS = 10
_FIRST_CHUNK = 128  # doubled each chunk up to the block budget
_SWEEP_BASE = 32  # block size below which the three-objective sweep compares all pairs


# --------------------------------------------------------------------------------------
# Input validation shared with dse.indicators
# --------------------------------------------------------------------------------------
def as_points(F: object, name: str = "F", *, min_ndim: int = 2) -> np.ndarray | Tensor:
    """Validate a point set and return it as a numpy array or a torch tensor (never copied).

    Parameters
    ----------
    F
        numpy array, torch tensor or array-like of real numbers with shape ``(..., N, M)``.
    name
        Name used in error messages.
    min_ndim
        Minimum number of dimensions (2 for a point set).

    Raises
    ------
    TypeError
        For boolean, complex or non-numeric data.
    ValueError
        For too few dimensions or zero objectives.
    """
    if isinstance(F, Tensor):
        if F.dtype == torch.bool or F.is_complex():
            raise TypeError(f"{name} must hold real numbers, got torch dtype {F.dtype}")
    else:
        if not isinstance(F, np.ndarray):
            F = np.asarray(F)
        if F.dtype == np.bool_ or not np.issubdtype(F.dtype, np.number) or np.iscomplexobj(F):
            raise TypeError(f"{name} must hold real numbers, got numpy dtype {F.dtype}")
    if F.ndim < min_ndim:
        raise ValueError(
            f"{name} must have shape (N, M) (or (..., N, M)), with one row per point and one "
            f"column per objective; got shape {tuple(F.shape)}"
        )
    if F.shape[-1] == 0:
        raise ValueError(f"{name} must have at least one objective column, got shape "
                         f"{tuple(F.shape)}")
    return F


def nan_rows(F: np.ndarray | Tensor) -> np.ndarray | Tensor:
    """Boolean mask ``(..., N)`` of the rows of ``F`` that hold at least one NaN."""
    if isinstance(F, Tensor):
        if not F.is_floating_point():
            return torch.zeros(F.shape[:-1], dtype=torch.bool, device=F.device)
        return torch.isnan(F).any(dim=-1)
    if not np.issubdtype(F.dtype, np.floating):
        return np.zeros(F.shape[:-1], dtype=bool)
    return np.isnan(F).any(axis=-1)


def describe_rows(bad: np.ndarray | Tensor) -> str:
    """``"3 row(s) [1, 4, 7]"``: the rows flagged in ``bad`` (``(..., N)``), for messages.

    At most ten indices are listed (then ``"and K more"``); for batched sets each index is a
    tuple into the leading dims.
    """
    bad_np = bad.cpu().numpy() if isinstance(bad, Tensor) else np.asarray(bad)
    where = np.argwhere(bad_np)
    if bad_np.ndim == 1:
        listed = [int(i[0]) for i in where[:_MAX_LISTED_ROWS]]
    else:
        listed = [tuple(int(v) for v in i) for i in where[:_MAX_LISTED_ROWS]]
    more = f" and {len(where) - _MAX_LISTED_ROWS} more" if len(where) > _MAX_LISTED_ROWS else ""
    return f"{len(where)} row(s) {listed}{more}"


def raise_nan_rows(bad: np.ndarray | Tensor, name: str = "F") -> None:
    """Raise a :class:`ValueError` naming the rows flagged in ``bad`` (``(..., N)``)."""
    raise ValueError(
        f"{name} has NaN in {describe_rows(bad)} (indices into {name}'s leading dims); "
        f"dominance is undefined for them. Fix the evaluation, or pass nan='drop' to treat "
        f"those rows as excluded."
    )


def check_nan_policy(nan: str) -> None:
    """Validate a ``nan=`` argument."""
    if nan not in ("raise", "drop"):
        raise ValueError(f"nan must be 'raise' or 'drop', got {nan!r}")


def _nan_or_raise(F: np.ndarray | Tensor, nan: str, name: str) -> np.ndarray | Tensor | None:
    """NaN-row mask to exclude (``nan='drop'``), or ``None`` when there is nothing to exclude.

    With ``nan='raise'`` this costs one host synchronisation per call (to decide whether to
    raise): the price of never keeping a NaN row silently. ``nan='drop'`` on a tensor avoids it.
    """
    check_nan_policy(nan)
    bad = nan_rows(F)
    if nan == "drop" and isinstance(F, Tensor):
        return bad  # no host sync: excluding no row is harmless
    if not bool(bad.any()):
        return None
    if nan == "raise":
        raise_nan_rows(bad, name)
    return bad


# --------------------------------------------------------------------------------------
# Dominance
# --------------------------------------------------------------------------------------
def dominates(a: ArrayT, b: ArrayT) -> ArrayT:
    """Whether ``a`` Pareto-dominates ``b`` (minimisation), broadcast over leading dims.

    Parameters
    ----------
    a, b
        Objective vectors of shapes broadcastable to ``(..., M)`` (both numpy or both torch).

    Returns
    -------
    Boolean array / tensor of the broadcast leading shape: ``all(a <= b) & any(a < b)``.
    Comparisons with NaN are false, so nothing dominates or is dominated by a NaN vector.
    """
    if isinstance(a, Tensor) or isinstance(b, Tensor):
        if not (isinstance(a, Tensor) and isinstance(b, Tensor)):
            raise TypeError("dominates: pass two torch tensors or two numpy arrays, not a mix")
        return (a <= b).all(dim=-1) & (a < b).any(dim=-1)
    a, b = np.asarray(a), np.asarray(b)
    return np.all(a <= b, axis=-1) & np.any(a < b, axis=-1)


def nondominated(
    F: ArrayT,
    *,
    keep_duplicates: bool = True,
    nan: NanPolicy = "raise",
    chunk_size: int | None = None,
    method: Method = "auto",
) -> ArrayT:
    """Mask of the non-dominated rows of ``F`` (minimisation).

    Parameters
    ----------
    F
        Objective values, shape ``(..., N, M)``; numpy (or array-like) or torch. Leading
        dimensions are independent point sets.
    keep_duplicates
        If ``True`` every copy of a non-dominated vector is kept (copies do not dominate each
        other). If ``False`` only the first copy (smallest row index) is kept.
    nan
        ``"raise"`` (default): a :class:`ValueError` naming the rows with a NaN.
        ``"drop"``: such rows are excluded (mask ``False``) and ignored by the other rows.
    chunk_size
        torch pairwise route only: number of rows compared at once. Default: starts at 128
        and doubles while one comparison block holds at most about ``2**24`` elements.
        Ignored by the numpy route and by the sweeps.
    method
        torch route only. ``"auto"`` (default): the sweep for up to three objectives, the
        pairwise route otherwise. ``"sweep"`` (one to three objectives) or ``"pairwise"``
        (any number) to force one; all give the same mask.

    Returns
    -------
    Boolean mask of shape ``(..., N)``: numpy for numpy input, torch on ``F``'s device for
    torch input. ``F`` is never modified. An empty set (``N == 0``) gives an empty mask.

    Raises
    ------
    TypeError
        Non-real dtype.
    ValueError
        Fewer than two dimensions, zero objectives, NaN rows with ``nan="raise"``, or a
        non-positive ``chunk_size``, an unknown ``method`` or ``"sweep"`` with more than
        three objectives.
    """
    F = as_points(F)
    if chunk_size is not None:
        chunk_size = whole_number("chunk_size", chunk_size, 1)
    if method not in ("auto", "sweep", "pairwise"):
        raise ValueError(f"method must be 'auto', 'sweep' or 'pairwise', got {method!r}")
    if method == "sweep" and F.shape[-1] > 3:
        raise ValueError(f"method='sweep' handles 1 to 3 objectives, got shape {tuple(F.shape)};"
                         " use 'auto' or 'pairwise'")
    excluded = _nan_or_raise(F, nan, "F")
    if isinstance(F, Tensor):
        with torch.no_grad():  # a mask has no gradient; do not record a graph
            return _nondominated_torch(F, keep_duplicates, excluded, chunk_size, method)
    return _nondominated_numpy(F, keep_duplicates, excluded)


def nondominated_front(F: ArrayT, **kwargs: object) -> ArrayT:
    """Copy of the non-dominated rows of a single point set ``F`` of shape ``(N, M)``.

    Keyword arguments are those of :func:`nondominated` (``keep_duplicates``, ``nan``,
    ``chunk_size``, ``method``). Row order is preserved. For batched sets use :func:`nondominated`
    (fronts of different sizes do not stack). Not to be confused with
    :meth:`dse.problem.Problem.pareto_front`, a problem's true front.

    .. deprecated:: 0.1.0
        Its old name ``pareto_front`` (``dse.pareto_front``, ``dse.pareto.pareto_front``)
        still gives this function, with a :class:`DeprecationWarning`; it goes in the next
        release.
    """
    F = as_points(F)
    if F.ndim != 2:
        raise ValueError(
            f"nondominated_front takes one point set of shape (N, M), got shape {tuple(F.shape)}; "
            "for batched sets use nondominated(F) and index each set"
        )
    mask = nondominated(F, **kwargs)  # type: ignore[arg-type]
    return F[mask]  # boolean indexing copies in numpy and torch


def pareto_rank(F: ArrayT, *, nan: NanPolicy = "raise") -> ArrayT:
    """Pareto rank of every row (non-dominated sorting): 0 for the first front, 1 for the next.

    Parameters
    ----------
    F
        Objective values, shape ``(..., N, M)``; numpy (via :func:`moocore.pareto_rank`) or
        torch (repeated peeling of fronts with :func:`nondominated`, on ``F``'s device).
    nan
        ``"raise"`` or ``"drop"`` as in :func:`nondominated`; dropped rows get rank ``-1``.

    Returns
    -------
    Integer ranks of shape ``(..., N)`` (numpy ``int64`` or torch ``int64``). Duplicated
    vectors share a rank.
    """
    F = as_points(F)
    excluded = _nan_or_raise(F, nan, "F")
    if isinstance(F, Tensor):
        return _pareto_rank_torch(F, excluded)
    return _pareto_rank_numpy(F, excluded)


# --------------------------------------------------------------------------------------
# numpy route (moocore), one point set at a time
# --------------------------------------------------------------------------------------
def _exact_in_float64(F: np.ndarray) -> np.ndarray:
    """``F``, or a float64 stand-in with the same comparisons, for moocore (float64 only).

    Integers beyond ``2**53`` (and long doubles) would be rounded when cast to float64, so
    distinct values could merge and dominance change: ``(2**53 + 1, 0)`` would seem to be
    dominated by ``(2**53, 1)``. Dominance uses only ``<`` and ``==`` within each objective,
    so such an array is replaced by the per-objective ranks of its values (``np.unique``'s
    inverse, an exact sort), which give the same masks and ranks through moocore.
    """
    if F.size == 0:
        return F
    if np.issubdtype(F.dtype, np.integer):
        # Checked by value, not dtype: numpy calls int64 -> float64 a "safe" cast.
        if F.dtype.itemsize < 8 or (F.min() >= -(2**53) and F.max() <= 2**53):
            return F
    elif F.dtype.itemsize <= 8:  # float16/32/64: exact in float64
        return F
    else:  # long double: NaN rows are excluded by the caller, so their ranks do not matter
        with np.errstate(over="ignore"):
            if np.array_equal(F.astype(np.float64), F, equal_nan=True):
                return F
    flat = F.reshape(-1, F.shape[-1])
    ranks = np.empty(flat.shape, dtype=np.float64)
    for k in range(flat.shape[1]):
        ranks[:, k] = np.unique(flat[:, k], return_inverse=True)[1].reshape(-1)
    return ranks.reshape(F.shape)


def _per_set_numpy(
    F: np.ndarray,
    excluded: np.ndarray | None,
    fn: Callable[[np.ndarray], np.ndarray],
    fill: int | bool,
    dtype: type,
) -> np.ndarray:
    """Apply ``fn`` (a moocore function on an ``(n, M)`` float array) to each point set."""
    F = _exact_in_float64(F)
    lead = F.shape[:-2]
    flat = F.reshape(math.prod(lead), F.shape[-2], F.shape[-1])
    flat_ex = None if excluded is None else excluded.reshape(flat.shape[:2])
    out = np.full(flat.shape[:2], fill, dtype=dtype)
    for b in range(flat.shape[0]):
        keep = np.ones(flat.shape[1], dtype=bool) if flat_ex is None else ~flat_ex[b]
        pts = np.asarray(flat[b][keep], dtype=np.float64)
        if len(pts):
            out[b, keep] = fn(pts)
    return out.reshape(*lead, F.shape[-2])


def _nondominated_numpy(
    F: np.ndarray, keep_duplicates: bool, excluded: np.ndarray | None
) -> np.ndarray:
    return _per_set_numpy(
        F,
        excluded,
        lambda p: moocore.is_nondominated(p, keep_weakly=keep_duplicates),
        False,
        bool,
    )


def _pareto_rank_numpy(F: np.ndarray, excluded: np.ndarray | None) -> np.ndarray:
    return _per_set_numpy(F, excluded, moocore.pareto_rank, -1, np.int64)


# --------------------------------------------------------------------------------------
# torch route
# --------------------------------------------------------------------------------------
def _signed_exact(X: Tensor) -> Tensor:
    """``X`` with unsigned integers (16 to 64 bits) mapped to ``int64``, keeping the order.

    torch's sort, gather and cumulative minimum lack those dtypes. ``uint16``/``uint32`` fit
    in ``int64``; ``uint64`` is reinterpreted and its top bit flipped (``x - 2**63``), an
    exact order-preserving map. ``uint8`` and signed integers are supported as they are.
    """
    if X.dtype in (torch.uint16, torch.uint32):
        return X.to(torch.int64)
    if X.dtype == torch.uint64:
        return X.view(torch.int64) ^ torch.iinfo(torch.int64).min
    return X


def _worst_value(dtype: torch.dtype) -> float | int:
    """A value no real entry exceeds: rows filled with it never dominate any other row."""
    return math.inf if dtype.is_floating_point else torch.iinfo(dtype).max


def _lexsort(F: Tensor, tiebreak: Tensor) -> Tensor:
    """Order of the rows of ``F`` (``(B, N, M)``) sorted lexicographically by its columns.

    Ties of whole rows are broken by ``tiebreak`` (``(B, N)`` bool, ``False`` first) and then
    by the original index (stable sorts), so the first copy of a duplicated vector comes
    first. Dominance implies lexicographic order, so a row can only be dominated by rows
    before it in this order.
    """
    order = torch.argsort(tiebreak.to(torch.uint8), dim=-1, stable=True)
    for k in reversed(range(F.shape[-1])):
        key = torch.gather(F[..., k], -1, order)
        order = torch.gather(order, -1, torch.argsort(key, dim=-1, stable=True))
    return order


def _nondominated_torch(
    F: Tensor,
    keep_duplicates: bool,
    excluded: Tensor | None,
    chunk_size: int | None,
    method: str = "auto",
) -> Tensor:
    lead, n, m = F.shape[:-2], F.shape[-2], F.shape[-1]
    b = math.prod(lead)
    if n == 0 or b == 0:
        return torch.zeros((*lead, n), dtype=torch.bool, device=F.device)
    X = _signed_exact(F.reshape(b, n, m))
    if X.is_floating_point():
        X = X + 0.0  # -0.0 -> +0.0: radix sorts (CUDA) would order them apart, == does not
    if excluded is None:
        ex = torch.zeros((b, n), dtype=torch.bool, device=F.device)
    else:
        ex = excluded.reshape(b, n)
        # Excluded rows become "worst" rows: they never dominate a real row and, thanks to
        # the tie-break in _lexsort, sort after every real row they might equal.
        X = torch.where(ex[..., None], _worst_value(X.dtype), X)
    if m == 1:
        # One objective is the two-objective sweep on (f, f): same dominance relation.
        X = X.expand(b, n, 2)
    order = _lexsort(X, ex)
    S = torch.gather(X, 1, order[..., None].expand_as(X))
    # first[i]: row i (sorted) differs from the previous one, i.e. starts a group of copies.
    first = torch.ones((b, n), dtype=torch.bool, device=F.device)
    first[:, 1:] = (S[:, 1:] != S[:, :-1]).any(dim=-1)
    if method == "pairwise" or S.shape[-1] > 3:
        dominated = _dominated_sorted_pairwise(S, first, chunk_size)
    elif S.shape[-1] == 2:
        dominated = _dominated_sorted_2d(S, first)
    else:
        dominated = _dominated_sorted_3d(S, first)
    keep_sorted = ~dominated
    if not keep_duplicates:
        keep_sorted &= first
    mask = torch.empty_like(keep_sorted).scatter_(1, order, keep_sorted)
    mask &= ~ex
    return mask.reshape(*lead, n)


def _dominated_sorted_2d(S: Tensor, first: Tensor) -> Tensor:
    """Dominated rows of lexicographically sorted two-objective sets ``S`` (``(B, N, 2)``).

    Every row before the group of copies of row ``i`` has a lexicographically smaller,
    different vector, so it dominates row ``i`` iff its second objective is ``<=``. Row
    ``i`` is therefore dominated iff the minimum second objective before its group is
    ``<=`` its own: a cumulative minimum, ``O(N)`` after the ``O(N log N)`` sort.
    """
    b, n, _ = S.shape
    pos = torch.arange(n, device=S.device).expand(b, n)
    start = torch.cummax(torch.where(first, pos, 0), dim=-1).values
    f2 = S[..., 1]
    running_min = torch.cummin(f2, dim=-1).values
    # min of f2 over positions < k (the value at k = 0 is unused: masked by start > 0)
    before = torch.cat([running_min[:, :1], running_min[:, :-1]], dim=1)
    return (start > 0) & (torch.gather(before, 1, start) <= f2)


def _dominated_sorted_3d(S: Tensor, first: Tensor) -> Tensor:
    """Dominated rows of lexicographically sorted three-objective sets ``S`` (``(B, N, 3)``).

    Only the first copy of each vector (``first``) acts as a candidate dominator; every
    earlier candidate is lexicographically smaller and different, so it dominates row ``i``
    iff ``f2 <= f2_i`` and ``f3 <= f3_i``: a two-dimensional query on the rows before ``i``.
    It is answered by divide and conquer over positions (CDQ): at the level with halves of
    size ``h``, every block of ``2h`` rows sorts its left half by ``f2``, takes the cumulative
    minimum of ``f3`` (and a cumulative count of real candidates, so that padding and later
    copies, which carry the worst value, never count), and each row of the right half looks
    up its ``f2`` by binary search. Over all levels each row meets every earlier row exactly
    once; blocks of ``_SWEEP_BASE`` rows are compared pairwise instead of recursing. Copies
    then take the answer of their group's first row. All levels are batched
    tensor operations: ``O(N log^2 N)`` work, ``O(N)`` memory, no host synchronisation.
    """
    b, n, _ = S.shape
    length = 1 << max(0, (n - 1).bit_length())  # padded to a power of two
    worst = _worst_value(S.dtype)
    pos = torch.arange(n, device=S.device).expand(b, n)
    start = torch.cummax(torch.where(first, pos, 0), dim=-1).values
    f2 = S[..., 1]
    f3 = torch.where(first, S[..., 2], worst)
    real = first.to(torch.int32)
    if length > n:
        f2 = torch.nn.functional.pad(f2, (0, length - n), value=worst)
        f3 = torch.nn.functional.pad(f3, (0, length - n), value=worst)
        real = torch.nn.functional.pad(real, (0, length - n), value=0)
    # Base case: inside blocks of _SWEEP_BASE rows, compare every pair directly; the first
    # levels of the recursion would be many tiny sorts and scans, slow on CPU.
    k = min(_SWEEP_BASE, length)
    c2, c3, cr = (t.view(b, length // k, k) for t in (f2, f3, real))
    earlier = torch.ones((k, k), dtype=torch.bool, device=S.device).tril(-1)  # [i, j]: j < i
    hit = (earlier & (c2[..., None, :] <= c2[..., :, None])
           & (c3[..., None, :] <= c3[..., :, None]) & (cr[..., None, :] > 0))
    dominated = hit.any(dim=-1).reshape(b, length)
    h = k
    while h < length:
        shape = (b, length // (2 * h), 2, h)
        q2, q3, qr = f2.view(shape), f3.view(shape), real.view(shape)
        left2, idx = torch.sort(q2[:, :, 0], dim=-1)
        left3 = torch.cummin(torch.gather(q3[:, :, 0], -1, idx), dim=-1).values
        count = torch.cumsum(torch.gather(qr[:, :, 0], -1, idx), dim=-1)
        right2, right3 = q2[:, :, 1].contiguous(), q3[:, :, 1]
        p = torch.searchsorted(left2, right2, right=True)  # left rows with f2 <= f2_i
        at = (p - 1).clamp_min(0)
        hit = (p > 0) & (torch.gather(count, -1, at) > 0) & (
            torch.gather(left3, -1, at) <= right3)
        dominated.view(shape)[:, :, 1] |= hit
        h *= 2
    return torch.gather(dominated[:, :n], 1, start)


def _dominates_block(cand: Tensor, cand_g: Tensor, rows: Tensor, rows_g: Tensor) -> Tensor:
    """``out[b, i]``: some row of ``cand`` (``(B, K, M)``) dominates ``rows[b, i]``.

    All rows come from one lexicographically sorted set and carry their group id ``g`` (equal
    vectors share it; ``g`` increases along the sorted order). A row ``j`` dominates ``i`` iff
    ``g_j < g_i`` (``j`` is lexicographically smaller and different, so its first objective is
    ``<=``) and ``f_k(j) <= f_k(i)`` for the other objectives: one comparison fewer per pair
    than the plain definition, and no separate equality test. Objectives are handled one at a
    time so that temporaries are ``(B, C, K)`` booleans, not ``M`` times larger.
    """
    out = cand_g[:, None, :] < rows_g[:, :, None]
    for k in range(1, rows.shape[-1]):
        out &= cand[:, None, :, k] <= rows[:, :, None, k]
    return out.any(dim=-1)


def _compact(x: Tensor, g: Tensor, keep: Tensor) -> tuple[Tensor, Tensor, Tensor]:
    """Move the kept rows of each batch member to the front; drop columns nobody keeps.

    Returns the rows ``(B, W, M)``, their group ids (padding gets the largest id, so padded
    rows never dominate) and the source index of each slot. One host sync to size ``W``.
    """
    counts = keep.sum(dim=1)
    width = int(counts.max())
    pick = torch.argsort((~keep).to(torch.uint8), dim=1, stable=True)[:, :width]
    pad = torch.arange(width, device=x.device)[None, :] >= counts[:, None]
    rows = torch.gather(x, 1, pick[..., None].expand(x.shape[0], width, x.shape[2]))
    gid = torch.where(pad, torch.iinfo(g.dtype).max, torch.gather(g, 1, pick))
    return rows, gid, pick


def _dominated_sorted_pairwise(S: Tensor, first: Tensor, chunk_size: int | None) -> Tensor:
    """Dominated rows of lexicographically sorted sets ``S`` (``(B, N, M)``), ``M >= 1``.

    Rows are processed in sorted order, in chunks. A dominated row is dominated by some
    non-dominated row (dominance is transitive on a finite set) that precedes it in sorted
    order, so each chunk is compared with the front found so far (the archive) and then the
    chunk's survivors with each other only (a row dominated by a non-survivor would be
    dominated by the archive too). Work is ``O(N * front size * M)`` plus the survivors'
    square, memory ``O(B * C * (A + C))`` for chunk ``C`` and archive ``A``. Batch members
    with fewer front rows are padded with rows that dominate nothing.
    """
    b, n, m = S.shape
    g = torch.cumsum(first, dim=1)  # group id: equal vectors share one
    dominated = torch.zeros((b, n), dtype=torch.bool, device=S.device)
    archive, archive_g = S.new_empty((b, 0, m)), g.new_empty((b, 0))
    start, c = 0, _FIRST_CHUNK
    while start < n:
        a = archive.shape[1]
        if chunk_size is not None:
            c = chunk_size
        else:
            # Keep both the chunk-vs-archive and the survivors' square blocks within budget;
            # start small and double, because against an empty archive every row survives.
            per = _BLOCK_ELEMENTS / b
            c = int(min(math.sqrt(per), per / max(a, 1), 2 * c))
        c = max(1, min(c, n - start))
        rows, rows_g = S[:, start:start + c], g[:, start:start + c]
        dom = _dominates_block(archive, archive_g, rows, rows_g)
        surv, surv_g, pick = _compact(rows, rows_g, ~dom)
        if surv.shape[1]:
            lost = _dominates_block(surv, surv_g, surv, surv_g)
            # Padded slots of pick point at rows already dominated: writing True is a no-op.
            dom = dom.scatter(1, pick, lost | (surv_g == torch.iinfo(g.dtype).max))
            new, new_g, _ = _compact(surv, surv_g, ~lost)
            archive = torch.cat([archive, new], dim=1)
            archive_g = torch.cat([archive_g, new_g], dim=1)
        dominated[:, start:start + c] = dom
        start += c
    return dominated


def _pareto_rank_torch(F: Tensor, excluded: Tensor | None) -> Tensor:
    """Ranks by peeling: front ``r`` = non-dominated rows among those not yet ranked."""
    lead, n = F.shape[:-2], F.shape[-2]
    ranks = torch.full((*lead, n), -1, dtype=torch.int64, device=F.device)
    done = torch.zeros((*lead, n), dtype=torch.bool, device=F.device)
    if excluded is not None:
        done |= excluded
    r = 0
    while not bool(done.all()):  # one host sync per front
        front = _nondominated_torch(F, True, done, None)
        ranks = torch.where(front, r, ranks)
        done = done | front
        r += 1
    return ranks


# Old names, served with a DeprecationWarning for one release.
__getattr__ = deprecated_names(__name__, {"pareto_front": "nondominated_front"})
