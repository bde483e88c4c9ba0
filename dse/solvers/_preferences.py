"""Preference vectors on the unit simplex: Das-Dennis lattices and uniform random draws.

A sweep optimises one subproblem per preference vector, so the spread of these vectors
decides the spread of the front a sweep can find.
"""

from __future__ import annotations

import numpy as np
from pymoo.util.ref_dirs import get_reference_directions
from pymoo.util.reference_direction import get_partition_closest_to_points

__all__ = ["das_dennis", "das_dennis_partitions", "preference_vectors", "random_simplex"]


def das_dennis_partitions(n_points: int, n_obj: int) -> int:
    """Largest number of partitions ``p`` whose lattice has at most ``n_points`` points.

    The Das-Dennis lattice with ``p`` partitions in ``n_obj`` objectives has
    ``comb(p + n_obj - 1, n_obj - 1)`` points. At least one partition is always used (pymoo
    gives 0 when even one partition has too many points, and for one objective).
    """
    _check_counts(n_points, n_obj)
    return max(1, get_partition_closest_to_points(int(n_points), int(n_obj)))


def das_dennis(n_partitions: int, n_obj: int) -> np.ndarray:
    """All points of the simplex lattice ``{w >= 0, sum w = 1, w * p integral}``.

    Returns an array of shape ``(comb(p + n_obj - 1, n_obj - 1), n_obj)``, rows in
    descending lexicographic order (``(1, 0, ..., 0)`` first), as pymoo's Das-Dennis
    directions reversed.
    """
    if n_partitions < 1:
        raise ValueError(f"n_partitions must be >= 1, got {n_partitions}")
    if n_obj < 1:
        raise ValueError(f"n_obj must be >= 1, got {n_obj}")
    W = get_reference_directions("das-dennis", n_obj, n_partitions=n_partitions)
    # pymoo sorts the rows in ascending order; the descending order this function always had
    # is kept because sweeps and NSGA-III pair vectors with subproblems by position (seeded
    # runs give the same results). A copy: torch.as_tensor refuses negative strides.
    return W[::-1].copy()


def random_simplex(n_points: int, n_obj: int, *, seed: int | np.random.Generator = 0) -> np.ndarray:
    """``n_points`` vectors drawn uniformly on the simplex (normalised exponentials)."""
    _check_counts(n_points, n_obj)
    rng = np.random.default_rng(seed)
    e = rng.exponential(size=(n_points, n_obj))
    return e / e.sum(axis=1, keepdims=True)


def preference_vectors(
    kind: str, n_points: int, n_obj: int, *, seed: int | np.random.Generator = 0
) -> np.ndarray:
    """Preference vectors by name: ``"das_dennis"`` (at most ``n_points``) or ``"random"``.

    For two objectives Das-Dennis gives exactly ``n_points`` evenly spaced vectors.
    """
    if kind == "das_dennis":
        return das_dennis(max(1, das_dennis_partitions(n_points, n_obj)), n_obj)
    if kind == "random":
        return random_simplex(n_points, n_obj, seed=seed)
    raise ValueError(f"unknown preference kind {kind!r}; valid: 'das_dennis', 'random'")


def _check_counts(n_points: int, n_obj: int) -> None:
    if int(n_points) != n_points or n_points < 1:
        raise ValueError(f"n_points must be a positive integer, got {n_points}")
    if int(n_obj) != n_obj or n_obj < 1:
        raise ValueError(f"n_obj must be a positive integer, got {n_obj}")
