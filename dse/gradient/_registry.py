"""Registry of the weightings by name, with their kind and parameters."""

from __future__ import annotations

import inspect
from dataclasses import dataclass
from typing import Any

from ._base import Weighting
from ._stateful import DWA, GradNorm, LossNorm, StatefulWeighting, UncertaintyWeighting
from ._weightings import (
    EPO,
    IMTLG,
    MGDA,
    CAGrad,
    Chebyshev,
    GradNormalization,
    Linear,
    Mean,
    PCGrad,
    UPGrad,
)

__all__ = ["WeightingInfo", "get_weighting", "list_weightings"]

_CLASSES: dict[str, type] = {
    cls.name: cls
    for cls in (
        Linear,
        Mean,
        MGDA,
        CAGrad,
        PCGrad,
        IMTLG,
        UPGrad,
        GradNormalization,
        Chebyshev,
        EPO,
        UncertaintyWeighting,
        GradNorm,
        DWA,
        LossNorm,
    )
}
_ALIASES = {
    "weighted_sum": "linear",
    "gradnorm_unit": "grad_normalization",
    "imtlg": "imtl_g",
    "kendall": "uncertainty",
}


@dataclass(frozen=True)
class WeightingInfo:
    """One registry entry.

    ``params`` maps each parameter to its default (``inspect.Parameter.empty`` if required);
    ``needs_gramian`` / ``needs_losses`` say what a call or ``update`` must be given.
    """

    name: str
    kind: str
    params: dict[str, Any]
    needs_gramian: bool
    needs_losses: bool
    aliases: tuple[str, ...]
    summary: str


def _is_named(name: str, p: inspect.Parameter) -> bool:
    return name != "self" and p.kind not in (p.VAR_KEYWORD, p.VAR_POSITIONAL)


def _info(name: str, cls: type) -> WeightingInfo:
    sig = inspect.signature(cls.__init__)
    params = {k: p.default for k, p in sig.parameters.items() if _is_named(k, p)}
    doc = (cls.__doc__ or "").strip().splitlines()
    return WeightingInfo(
        name=name,
        kind=cls.kind,
        params=params,
        needs_gramian=cls.needs_gramian,
        needs_losses=cls.needs_losses,
        aliases=tuple(a for a, t in _ALIASES.items() if t == name),
        summary=doc[0] if doc else "",
    )


def list_weightings(kind: str | None = None) -> list[WeightingInfo]:
    """All registered weightings (optionally only ``kind`` 'stateless' or 'stateful')."""
    if kind not in (None, "stateless", "stateful"):
        raise ValueError(f"kind must be None, 'stateless' or 'stateful', got {kind!r}")
    infos = [_info(n, c) for n, c in sorted(_CLASSES.items())]
    return [i for i in infos if kind is None or i.kind == kind]


def get_weighting(name: str, **params: Any) -> Weighting | StatefulWeighting:
    """Build the weighting registered as ``name`` (or an alias) with ``params``.

    Raises ValueError for an unknown name (listing the valid ones), unknown parameters
    (listing the accepted ones) or invalid values.
    """
    if not isinstance(name, str):
        raise TypeError(f"name must be a str, got {type(name).__name__}")
    key = _ALIASES.get(name.lower(), name.lower())
    if key not in _CLASSES:
        valid = sorted([*_CLASSES, *_ALIASES])
        raise ValueError(f"unknown weighting {name!r}; valid names: {', '.join(valid)}")
    cls = _CLASSES[key]
    accepted = [k for k, p in inspect.signature(cls.__init__).parameters.items() if _is_named(k, p)]
    unknown = sorted(set(params) - set(accepted))
    if unknown:
        raise ValueError(
            f"weighting {key!r} got unknown parameters {unknown}; accepted: {accepted or 'none'}"
        )
    try:
        return cls(**params)
    except TypeError as err:  # a missing required parameter
        raise ValueError(f"weighting {key!r}: {err}; parameters: {accepted}") from err
