"""Argument checks shared by the public functions: one wording for every bad number.

A bad argument gets a ``TypeError`` when it is not a number at all and a ``ValueError``
naming the valid range otherwise, never an internal message from ``int()`` or numpy.
"""

from __future__ import annotations

import math
from typing import Any

import numpy as np

__all__ = ["MAX_BUDGET", "MAX_SEED", "positive_number", "whole_number"]

#: Largest seed: numpy's and torch's generators and SQLite's INTEGER all take it.
MAX_SEED = 2**63 - 1
#: Largest budget: beyond it a run would not end in any reasonable time (1e12 evaluations).
MAX_BUDGET = 10**12

_NUMBER = (int, float, np.integer, np.floating)


def whole_number(name: str, value: Any, lo: int, hi: int | None = None) -> int:
    """``value`` as an ``int`` in ``[lo, hi]`` (``hi=None``: no upper bound)."""
    where = f"[{lo}, {hi}]" if hi is not None else f">= {lo}"
    what = f"a whole number in {where}" if hi is not None else f"a whole number {where}"
    if isinstance(value, bool) or not isinstance(value, _NUMBER):
        raise TypeError(f"{name} must be {what}, got {type(value).__name__} {value!r}")
    if (not math.isfinite(value) or int(value) != value or value < lo
            or (hi is not None and value > hi)):
        raise ValueError(f"{name} must be {what}, got {value!r}")
    return int(value)


def positive_number(name: str, value: Any) -> float:
    """``value`` as a finite ``float`` > 0."""
    if isinstance(value, bool) or not isinstance(value, _NUMBER):
        raise TypeError(
            f"{name} must be a finite number > 0, got {type(value).__name__} {value!r}"
        )
    if not (math.isfinite(value) and value > 0):
        raise ValueError(f"{name} must be a finite number > 0, got {value!r}")
    return float(value)
