"""Resolving a sweep configuration: the concrete methods, budgets and parameters of every
job, filled from the per-problem defaults, and the hash that names the run folder.
Re-exported by :mod:`dse.config`."""

from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass
from typing import Any

from dse.config_schema import ConfigError, SweepConfig, problem_defaults, quick_mode
from dse.config_validate import method_parameters, solver_kinds

__all__ = ["ResolvedSweep", "config_hash", "resolve"]


@dataclass(frozen=True)
class ResolvedSweep:
    """The concrete sweep: methods, and per method the budget and parameters to pass."""

    problem: str
    problem_params: dict[str, Any]
    methods: tuple[str, ...]
    seeds: tuple[int, ...]
    budgets: dict[str, int | None]
    method_params: dict[str, dict[str, Any]]


def resolve(cfg: SweepConfig) -> ResolvedSweep:
    """Fill the open choices of ``cfg`` from the problem's defaults.

    Shared ``solver.<param>`` values go to the methods that accept them; a method's own
    ``solver.<method>.<param>`` wins over a shared value, and ``solver.<method>.budget``
    over ``solver.budget``.
    """
    defaults = problem_defaults(cfg.problem.name)
    kinds = solver_kinds()
    methods = tuple(cfg.methods) if cfg.methods else tuple(
        m for m in defaults.methods if m in kinds
    )
    if not methods:
        raise ConfigError(
            f"none of the default methods {list(defaults.methods)} of problem "
            f"{cfg.problem.name!r} is registered; pass methods=[...] from: "
            f"{', '.join(sorted(kinds))}"
        )
    default_budget = defaults.quick_budget if quick_mode() else defaults.budget
    budgets: dict[str, int | None] = {}
    params: dict[str, dict[str, Any]] = {}
    for m in methods:
        accepted = method_parameters(m)
        own = dict(cfg.solver.methods.get(m, {}))
        budget = own.pop("budget", cfg.solver.budget)
        budgets[m] = int(budget) if budget is not None else default_budget
        shared = {k: v for k, v in cfg.solver.params.items() if k in accepted}
        params[m] = {**shared, **own}
    return ResolvedSweep(
        problem=cfg.problem.name,
        problem_params=dict(cfg.problem.params),
        methods=methods,
        seeds=tuple(int(s) for s in cfg.seeds),
        budgets=budgets,
        method_params=params,
    )


def config_hash(cfg: SweepConfig) -> str:
    """Short stable hash of what determines the results (not device, executor, output)."""
    rs = resolve(cfg)
    ident = {
        "problem": rs.problem,
        "problem_params": rs.problem_params,
        "methods": list(rs.methods),
        "seeds": list(rs.seeds),
        "budgets": rs.budgets,
        "method_params": rs.method_params,
    }
    text = json.dumps(ident, sort_keys=True, default=str)
    return hashlib.sha1(text.encode()).hexdigest()[:8]
