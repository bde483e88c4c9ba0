"""Where a sweep should look next: new preference vectors in the gaps of what it has covered.

Once a sweep's preferences have converged, its budget is best spent where the front is
still thin. The covered set is the preference vectors already handed to rows plus, for ray
methods, the rays through the points of the current front (a point found by a neighbouring
row covers its own ray). New vectors are picked greedily, each the candidate farthest from
everything covered so far (farthest-point sampling), so the largest gaps are filled first
and a batch of new vectors spreads over them instead of piling into one.

For two objectives the candidates are a fine grid of the simplex; for more, uniform random
draws (seeded). The size of the largest gap is returned too: a sweep whose largest gap is
below its tolerance has nothing left to refine.
"""

from __future__ import annotations

import numpy as np

from dse.solvers._preferences import random_simplex

__all__ = ["farthest_preferences", "gap_midpoints", "largest_gaps"]

# Candidate vectors per requested vector for more than two objectives; the farthest-point
# choice is as good as its candidate set is dense.
_CANDIDATES_PER_PICK = 64
# ... and at least this many, so that a request for a few vectors still picks among many.
_MIN_CANDIDATES = 1000
# Two objectives: candidates (t, 1 - t) with t spaced 1/4000, several times finer than the
# sweeps' default gap_tol (1e-3), so that the grid is not what limits where a gap is aimed.
_GRID_2D = 4001
# About this many covered vectors are compared with every candidate at once: bounds the
# (candidates x block x K) distance temporary when many vectors are covered.
_COVERED_BLOCK = 256


def farthest_preferences(
    covered: np.ndarray, n_new: int, *, seed: int | np.random.Generator = 0
) -> tuple[np.ndarray, np.ndarray]:
    """Up to ``n_new`` simplex vectors, each farthest from ``covered`` and earlier picks.

    Parameters
    ----------
    covered
        ``(m, K)`` vectors already covered (may be empty for ``m = 0``).
    n_new
        How many to pick.

    Returns
    -------
    ``(picked, gaps)``: ``(n_new, K)`` vectors and, for each, its Euclidean distance to the
    nearest covered vector at the time it was picked (non-increasing).
    """
    K = covered.shape[1]
    if K == 1:
        return np.ones((0, 1)), np.zeros(0)
    if K == 2:
        t = np.linspace(0.0, 1.0, _GRID_2D)
        cand = np.stack([t, 1.0 - t], axis=1)
    else:
        n_cand = max(_MIN_CANDIDATES, _CANDIDATES_PER_PICK * n_new)
        cand = np.concatenate([np.eye(K), random_simplex(n_cand, K, seed=seed)])
    if len(covered):
        dist = np.full(len(cand), np.inf)
        n_blocks = max(1, len(covered) // _COVERED_BLOCK)
        for chunk in np.array_split(np.arange(len(covered)), n_blocks):
            d = np.linalg.norm(cand[:, None, :] - covered[None, chunk, :], axis=-1)
            dist = np.minimum(dist, d.min(axis=1))
    else:
        dist = np.full(len(cand), np.inf)
    picked, gaps = [], []
    for _ in range(n_new):
        i = int(np.argmax(dist))
        picked.append(cand[i])
        gaps.append(float(dist[i]))
        dist = np.minimum(dist, np.linalg.norm(cand - cand[i], axis=1))
    return np.asarray(picked).reshape(-1, K), np.asarray(gaps)


def largest_gaps(F: np.ndarray, n: int) -> list[tuple[int, int]]:
    """Pairs ``(i, j)`` of points of the normalised front ``F`` around its ``n`` largest gaps.

    Two objectives: neighbours along the front (sorted by the first objective), the pairs
    whose gap rectangle ``|df1| * |df2|`` is largest first (the hypervolume a point on
    the front between them could add is a share of it). More objectives: each point with
    its nearest neighbour, the pairs with the largest such distance first (the sparsest
    regions).
    """
    m, K = F.shape
    if m < 2:
        return []
    if K == 2:
        order = np.argsort(F[:, 0], kind="stable")
        d = np.abs(np.diff(F[order], axis=0)).prod(axis=1)
        top = np.argsort(-d, kind="stable")[:n]
        return [(int(order[i]), int(order[i + 1])) for i in top]
    D = np.linalg.norm(F[:, None, :] - F[None, :, :], axis=-1)
    np.fill_diagonal(D, np.inf)
    nearest = D.argmin(axis=1)
    top = np.argsort(-D[np.arange(m), nearest], kind="stable")[:n]
    return [(int(i), int(nearest[i])) for i in top]


def gap_midpoints(
    X: np.ndarray, Fn: np.ndarray, real: np.ndarray, n: int, seen: set[bytes]
) -> list[np.ndarray]:
    """Designs halfway, in the real variables, between neighbours around the largest gaps.

    Between two front points whose designs differ in their real variables, the design with
    those reals averaged is usually a trade-off between them (a floorplan's aspect ratio
    between two others): one exact evaluation each, no descent. Pairs come from
    :func:`largest_gaps` of the normalised front ``Fn`` (largest first); each pair gives
    both midpoints (each endpoint's discrete part with the averaged reals). A midpoint in
    ``seen`` is skipped and new ones are added to it, so none is evaluated twice. Pairs are
    taken while fewer than ``n`` midpoints are found (the last pair may add one more).
    """
    mids: list[np.ndarray] = []
    for i, j in largest_gaps(Fn, len(Fn)):
        if len(mids) >= n:
            break
        if (X[i, real] == X[j, real]).all():
            continue
        for a, b in ((i, j), (j, i)):
            mid = X[a].copy()
            mid[real] = (X[a, real] + X[b, real]) / 2
            key = mid.tobytes()
            if key not in seen:
                seen.add(key)
                mids.append(mid)
    return mids
