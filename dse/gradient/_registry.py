"""Registry of the weightings by name, with their kind, parameters and needs.

The weightings live in one :class:`dse.registry.Registry` (the class that also holds the
problems and the solvers); each entry's metadata says its kind, its parameters, whether it
needs the Gramian and/or the losses, and whether it scalarises (see
:func:`register_weighting`).
"""

from __future__ import annotations

import inspect
from dataclasses import dataclass
from typing import Any, TypeVar

from dse.registry import Registry, reject_unknown

from . import _fair, _gradvac, _projection, _stateful, _weightings
from ._base import Weighting
from ._stateful import StatefulWeighting

__all__ = [
    "WEIGHTINGS",
    "WeightingInfo",
    "get_weighting",
    "list_weightings",
    "register_weighting",
    "scalarising_weightings",
]

W = TypeVar("W", bound=type)

#: Every weighting class by name (and alias).
WEIGHTINGS: Registry[type[Weighting] | type[StatefulWeighting]] = Registry("weighting")


@dataclass(frozen=True)
class WeightingInfo:
    """One registry entry.

    ``params`` maps each parameter to its default (``inspect.Parameter.empty`` if required);
    ``needs_gramian`` / ``needs_losses`` say what a call or ``update`` must be given;
    ``scalarising``: the weights define a loss ``sum_i w_i L_i`` (see
    :func:`register_weighting`).
    """

    name: str
    kind: str
    params: dict[str, Any]
    needs_gramian: bool
    needs_losses: bool
    aliases: tuple[str, ...]
    summary: str
    scalarising: bool = False


def _is_named(name: str, p: inspect.Parameter) -> bool:
    return name != "self" and p.kind not in (p.VAR_KEYWORD, p.VAR_POSITIONAL)


def register_weighting(
    cls: W | None = None, *, aliases: tuple[str, ...] = (), scalarising: bool = False
) -> Any:
    """Add a weighting class to :data:`WEIGHTINGS` under its ``name``; usable as a decorator.

    Parameters
    ----------
    cls
        A :class:`~dse.gradient.Weighting` or :class:`~dse.gradient.StatefulWeighting`
        subclass; its class attributes ``name``, ``kind``, ``needs_gramian`` and
        ``needs_losses`` and its ``__init__`` parameters become the entry's metadata.
    aliases
        Other names it is found under.
    scalarising
        True when its weights define a scalarised loss ``sum_i w_i L_i`` (a linear
        combination, Chebyshev, the loss-based stateful ones): a multi-task training step
        then gives each task head ``w_i * grad L_i``, as the gradient of that loss would;
        other methods (MGDA, UPGrad, ...) only steer the shared parameters.
    """

    def _add(target: W) -> W:
        if not (isinstance(target, type) and issubclass(target, Weighting | StatefulWeighting)):
            raise TypeError(f"register_weighting needs a Weighting or StatefulWeighting "
                            f"subclass, got {target!r}")
        if not target.name:
            raise ValueError(f"{target.__name__} has no name: set the class attribute "
                             "name = '...'")
        sig = inspect.signature(target.__init__)
        doc = (target.__doc__ or "").strip().splitlines()
        WEIGHTINGS.register(
            target.name, target, aliases=aliases, description=doc[0] if doc else "",
            kind=target.kind, needs_gramian=target.needs_gramian,
            needs_losses=target.needs_losses, scalarising=scalarising,
            # Named parameters only: the bases' **params only store them, so a class that
            # declares none accepts none.
            parameters={k: p.default for k, p in sig.parameters.items() if _is_named(k, p)},
        )
        return target

    return _add if cls is None else _add(cls)


# The built-in weightings.
register_weighting(_weightings.Linear, aliases=("weighted_sum",), scalarising=True)
register_weighting(_weightings.Mean, scalarising=True)
register_weighting(_weightings.MGDA)
register_weighting(_weightings.CAGrad)
register_weighting(_weightings.PCGrad)
register_weighting(_weightings.IMTLG, aliases=("imtlg",))
register_weighting(_weightings.UPGrad)
# "grad_normalization": the name before the project settled on one spelling (-ise).
register_weighting(_weightings.GradNormalisation,
                   aliases=("gradnorm_unit", "grad_normalization"))
register_weighting(_weightings.Chebyshev, scalarising=True)
register_weighting(_weightings.EPO)
register_weighting(_stateful.UncertaintyWeighting, aliases=("kendall",), scalarising=True)
register_weighting(_stateful.GradNorm, scalarising=True)
register_weighting(_stateful.DWA, scalarising=True)
register_weighting(_stateful.LossNorm, scalarising=True)
# The aggregators of TorchJD 0.18 that the ones above did not cover.
register_weighting(_projection.DualProj, aliases=("dual_proj",))
register_weighting(_projection.AlignedMTL, aliases=("alignedmtl",))
register_weighting(_projection.ConFIG, aliases=("conflict_free",))
# Random loss weighting: its weights are loss weights (a random scalarisation).
register_weighting(_weightings.Random, aliases=("rlw",), scalarising=True)
register_weighting(_fair.FairGrad)
register_weighting(_fair.NashMTL, aliases=("nashmtl",))
register_weighting(_gradvac.GradVac)


def scalarising_weightings() -> list[str]:
    """Names of the weightings whose weights define a scalarised loss (sorted)."""
    return WEIGHTINGS.where(scalarising=True)


def list_weightings(kind: str | None = None) -> list[WeightingInfo]:
    """All registered weightings (optionally only ``kind`` 'stateless' or 'stateful')."""
    if kind not in (None, "stateless", "stateful"):
        raise ValueError(f"kind must be None, 'stateless' or 'stateful', got {kind!r}")
    infos = [
        WeightingInfo(
            name=e.name,
            kind=e.meta["kind"],
            params=dict(e.meta["parameters"]),
            needs_gramian=e.meta["needs_gramian"],
            needs_losses=e.meta["needs_losses"],
            aliases=e.aliases,
            summary=e.description,
            scalarising=e.meta["scalarising"],
        )
        for e in WEIGHTINGS.entries()
    ]
    return [i for i in infos if kind is None or i.kind == kind]


def get_weighting(name: str, **params: Any) -> Weighting | StatefulWeighting:
    """Build the weighting registered as ``name`` (or an alias) with ``params``.

    Raises ValueError for an unknown name (listing the valid ones), unknown parameters
    (listing the accepted ones) or invalid values.
    """
    entry = WEIGHTINGS.entry(name)  # UnknownNameError (a ValueError) lists the valid names
    accepted = list(entry.meta["parameters"])
    reject_unknown(params, accepted, f"for weighting {entry.name!r}", noun="parameters")
    try:
        return entry.obj(**params)
    except TypeError as err:  # a missing required parameter
        raise ValueError(f"weighting {entry.name!r}: {err}; parameters: {accepted}") from err
