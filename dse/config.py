"""Typed, documented sweep configuration read from ``key=value`` overrides.

A sweep is described by one :class:`SweepConfig` (an OmegaConf structured config built from
dataclasses, so every key has a type, a default and a help text). Users change it with
dot-list overrides, as on the command line::

    problem=codesign problem.energy=true methods=[nsga2,cagrad] seeds=[0,1,2]
    solver.budget=20000 solver.nsga2.pop_size=40 device=cuda executor=dask

Shorthands: ``problem=NAME`` sets ``problem.name``, ``executor=NAME`` sets ``executor.name``;
``problem.<param>`` is a parameter of the problem's factory; ``solver.<method>.<param>`` a
parameter of one method, ``solver.<param>`` one given to every selected method that accepts
it. Unknown keys, names and parameters raise a :class:`ConfigError` (a ``ValueError``) that
lists the valid ones.

:func:`resolve` turns a config into the concrete list of methods, budgets and parameters,
filling what the user left open from the per-problem defaults in :data:`PROBLEM_DEFAULTS`.

The pieces live in one module per job, all re-exported here: :mod:`dse.config_schema`
(dataclasses, defaults table, :class:`ConfigError`), :mod:`dse.config_parse` (overrides,
``config.yaml``), :mod:`dse.config_validate` (checks against the registries),
:mod:`dse.config_resolve` (methods, budgets, parameters, the config hash) and
:mod:`dse.config_listing` (``--help`` and ``list``).
"""

# This module is the face of the config_* modules: it imports every name it defined before
# the split (public ones listed in __all__, private and helper ones kept importable) and
# uses none of them itself.
# ruff: noqa: F401
from __future__ import annotations

from dse import config_listing, config_resolve, config_schema
from dse.checks import MAX_BUDGET, MAX_SEED, whole_number
from dse.config_listing import _shown, config_help, describe_methods, describe_problems
from dse.config_parse import (
    _build,
    _check_text,
    _leaves,
    _parse_value,
    _route,
    _set,
    _short,
    _valid_keys,
    check_out,
    load_config,
    parse_diagnose,
    parse_overrides,
    to_yaml,
)
from dse.config_resolve import ResolvedSweep, config_hash, resolve
from dse.config_schema import (
    _FALLBACK_DEFAULTS,
    PROBLEM_DEFAULTS,
    ConfigError,
    DiagnoseConfig,
    ExecutorConfig,
    ProblemConfig,
    ProblemDefaults,
    SolverConfig,
    SweepConfig,
    _doc,
    problem_defaults,
    quick_mode,
)
from dse.config_validate import (
    _DEVICES,
    _EXECUTORS,
    _whole,
    check_param_type,
    method_parameters,
    solver_kinds,
    validate,
    validate_device,
    validate_problem,
)
from dse.registry import reject_unknown

# The private names this module defined before it was split, still importable from here.
_validate_device = validate_device
_validate_problem = validate_problem

# The public names: every name the schema, resolving and listing modules export, and the
# parser's and validator's entry points.
__all__ = [
    *config_schema.__all__,
    *config_resolve.__all__,
    *config_listing.__all__,
    "load_config",
    "method_parameters",
    "parse_diagnose",
    "parse_overrides",
    "solver_kinds",
    "to_yaml",
    "validate",
]
