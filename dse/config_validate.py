"""Checking a sweep configuration against the registries: problem, methods, their
parameters and the value of every setting, before any job runs. Errors are
:class:`~dse.config_schema.ConfigError` naming the valid choices. Re-exported by
:mod:`dse.config`."""

from __future__ import annotations

import inspect
import math
import re
from typing import Any

from dse.checks import MAX_BUDGET, MAX_SEED, whole_number
from dse.config_schema import ConfigError, ProblemConfig, SweepConfig, problem_defaults
from dse.registry import reject_unknown

__all__ = [
    "check_param_type",
    "method_parameters",
    "solver_kinds",
    "validate",
    "validate_device",
    "validate_problem",
]

_DEVICES = ("auto", "cpu", "cuda")
_EXECUTORS = ("local", "dask")


def solver_kinds() -> dict[str, str]:
    """``{method: kind}`` for every registered solver (kind: gradient/evolutionary/...)."""
    from dse.solvers import list_solvers

    listed = list_solvers()
    if isinstance(listed, dict):
        return {str(k): str(v) for k, v in listed.items()}
    if hasattr(listed, "to_dict") and hasattr(listed, "columns"):  # a DataFrame
        cols = list(listed.columns)
        name_col = "name" if "name" in cols else cols[0]
        kind_col = "kind" if "kind" in cols else cols[-1]
        return dict(zip(listed[name_col].astype(str), listed[kind_col].astype(str),
                        strict=True))
    out: dict[str, str] = {}
    for item in listed:
        if isinstance(item, str):
            out[item] = ""
        elif isinstance(item, dict):
            out[str(item["name"])] = str(item.get("kind", ""))
        elif isinstance(item, tuple | list):
            out[str(item[0])] = str(item[1]) if len(item) > 1 else ""
        else:
            out[str(item.name)] = str(getattr(item, "kind", ""))
    return out


def method_parameters(method: str) -> dict[str, Any]:
    """Defaults of a method's parameters (from ``dse.solvers.solver_parameters``)."""
    from dse.solvers import solver_parameters

    return dict(solver_parameters(method))


def validate_problem(pc: ProblemConfig) -> None:
    from dse.problem import PROBLEMS, list_problems
    from dse.problem_specs import canonical_spec, is_user_spec, spec_parameters

    if not isinstance(pc.name, str):
        raise ConfigError(f"problem must be a name, got {pc.name!r}")
    if is_user_spec(pc.name):
        try:
            pc.name = canonical_spec(pc.name)
            accepted = spec_parameters(pc.name)
        except (TypeError, ValueError) as exc:
            raise ConfigError(str(exc)) from None
    else:
        names = list_problems()  # also registers the built-in families on first use
        if pc.name not in PROBLEMS:
            raise ConfigError(
                f"unknown problem {pc.name!r}; valid problems: {', '.join(names)} "
                "(or your own as module:Name or path/to/file.py:Name)"
            )
        pc.name = PROBLEMS.canonical(pc.name)
        accepted = PROBLEMS.parameters(pc.name)
    reject_unknown(pc.params, accepted, f"of problem {pc.name!r}", label="valid",
                   error=ConfigError)
    for key, value in pc.params.items():
        check_param_type(f"problem.{key}", value, accepted[key])


def check_param_type(key: str, value: Any, default: Any) -> None:
    """Refuse a value whose kind cannot be the parameter's (judged by its default).

    A number where the default is a number, true/false where it is a bool; a parameter
    without a default, or with ``None``, takes anything (its factory checks it).
    """
    if value is None or default is None or default is inspect.Parameter.empty:
        return
    if isinstance(default, bool):
        if not isinstance(value, bool):
            raise ConfigError(f"{key} must be true or false (default {str(default).lower()}), "
                              f"got {value!r}")
    elif isinstance(default, int | float):
        if isinstance(value, bool) or not isinstance(value, int | float):
            raise ConfigError(f"{key} must be a number (default {default}), got {value!r}")
        if isinstance(default, int) and isinstance(value, float) and not value.is_integer():
            raise ConfigError(f"{key} must be a whole number (default {default}), "
                              f"got {value!r}")


def validate_device(device: str) -> None:
    base = device.split(":", 1)[0]
    index = device.split(":", 1)[1] if ":" in device else "0"
    if base not in _DEVICES or not re.fullmatch(r"[0-9]+", index):
        raise ConfigError(f"unknown device {device!r}; valid: auto, cpu, cuda, cuda:N")


def validate(cfg: SweepConfig) -> None:
    """Check names and parameters against the registries (raises :class:`ConfigError`)."""
    validate_problem(cfg.problem)
    validate_device(cfg.device)
    kinds = solver_kinds()
    methods = cfg.methods if cfg.methods is not None else []
    _check_methods(cfg.methods, kinds)
    _check_settings(cfg)
    selected = methods or list(problem_defaults(cfg.problem.name).methods)
    _check_method_params(cfg, kinds, selected)


def _check_methods(methods: list[str] | None, kinds: dict[str, str]) -> None:
    """``methods=``: registered names, at least one, none twice (``None``: the defaults)."""
    listed = methods if methods is not None else []
    for m in listed:
        if not isinstance(m, str):
            raise ConfigError(f"methods is a list of names, e.g. methods=[nsga2,epo]; got "
                              f"{m!r} in it")
        if m not in kinds:
            raise ConfigError(f"unknown method {m!r}; valid methods: {', '.join(sorted(kinds))}")
    if methods is not None and not methods:
        raise ConfigError("methods is empty; give at least one, e.g. methods=[nsga2]")
    if len(set(listed)) != len(listed):
        raise ConfigError(f"methods listed twice: {listed}")


def _check_settings(cfg: SweepConfig) -> None:
    """Seeds, budgets, the executor and the reference offset: values a run can take."""
    if not cfg.seeds:
        raise ConfigError("seeds is empty; give at least one, e.g. seeds=[0]")
    # Checked here, before any job runs: a seed or budget a run cannot take must not
    # abort the sweep after other jobs have finished.
    for seed in cfg.seeds:
        _whole("seeds", seed, 0, MAX_SEED)
    if len(set(cfg.seeds)) != len(cfg.seeds):
        raise ConfigError(f"seeds must be distinct non-negative integers, got {cfg.seeds}")
    if cfg.solver.budget is not None:
        _whole("solver.budget", cfg.solver.budget, 1, MAX_BUDGET)
    for m, own in cfg.solver.methods.items():
        if isinstance(own, dict) and own.get("budget") is not None:
            _whole(f"solver.{m}.budget", own["budget"], 1, MAX_BUDGET)
    if cfg.executor.name not in _EXECUTORS:
        raise ConfigError(
            f"unknown executor {cfg.executor.name!r}; valid: {', '.join(_EXECUTORS)}"
        )
    if cfg.executor.n_workers < 1 or cfg.executor.threads_per_worker < 1:
        raise ConfigError("executor.n_workers and executor.threads_per_worker must be >= 1")
    if not (math.isfinite(cfg.ref_offset) and cfg.ref_offset > 0):
        raise ConfigError(f"ref_offset must be a finite number > 0, got {cfg.ref_offset}")


def _check_method_params(cfg: SweepConfig, kinds: dict[str, str], selected: list[str]) -> None:
    """``solver.<method>.<param>`` names a method and one of its parameters, and each
    shared ``solver.<param>`` is taken by at least one ``selected`` method."""
    for m, params in cfg.solver.methods.items():
        if m not in kinds:
            raise ConfigError(
                f"solver.{m}: unknown method {m!r}; valid methods: {', '.join(sorted(kinds))}"
            )
        if not isinstance(params, dict):
            raise ConfigError(f"solver.{m} needs a parameter: solver.{m}.<param>=value")
        accepted = method_parameters(m)
        # budget is every method's own (checked above), not one of its parameters.
        reject_unknown([k for k in params if k != "budget"], sorted(accepted),
                       f"of method {m!r}", label="valid", error=ConfigError)
        for key, value in params.items():
            if key in accepted:
                check_param_type(f"solver.{m}.{key}", value, accepted[key])
    for p in cfg.solver.params:
        if p in kinds:
            raise ConfigError(f"solver.{p} needs a parameter: solver.{p}.<param>=value")
        if not any(p in method_parameters(m) for m in selected if m in kinds):
            valid = sorted({q for m in selected if m in kinds for q in method_parameters(m)})
            raise ConfigError(
                f"solver.{p}: no selected method ({', '.join(selected)}) takes {p!r}; "
                f"valid: budget, {', '.join(valid)}"
            )


def _whole(name: str, value: Any, lo: int, hi: int) -> None:
    try:
        whole_number(name, value, lo, hi)
    except (TypeError, ValueError) as exc:
        raise ConfigError(str(exc)) from None
