"""What ``cli.py sweep --help`` and ``cli.py list`` print: every configuration key with its
default and help text, every registered problem and method with its parameters.
Re-exported by :mod:`dse.config`."""

from __future__ import annotations

import json
from dataclasses import fields
from typing import Any

from dse.config_schema import SweepConfig
from dse.config_validate import method_parameters, solver_kinds

__all__ = ["config_help", "describe_methods", "describe_problems"]


def config_help(schema: type = SweepConfig, prefix: str = "") -> list[tuple[str, str, str]]:
    """``(key, default, help)`` for every documented key of ``schema``, nested keys
    flattened with dots."""
    rows: list[tuple[str, str, str]] = []
    instance = schema()
    for f in fields(schema):
        value = getattr(instance, f.name)
        key = prefix + f.name
        if f.name in ("params", "methods") and isinstance(value, dict):
            rows.append((prefix + "<param>" if f.name == "params" else
                         prefix + "<method>.<param>", "", f.metadata.get("help", "")))
            continue
        if hasattr(value, "__dataclass_fields__"):
            rows.append((key, "", f.metadata.get("help", "")))
            rows += config_help(type(value), key + ".")
            continue
        shown = "null" if value is None else json.dumps(value)
        rows.append((key, shown, f.metadata.get("help", "")))
    return rows


def _shown(value: Any) -> str:
    import inspect

    if value is inspect.Parameter.empty:
        return "(required)"
    return "null" if value is None else repr(value)


def describe_problems() -> list[tuple[str, str, str]]:
    """``(name, description, "param=default, ...")`` for every registered problem."""
    from dse.problem import PROBLEMS, list_problems

    rows = []
    for name in list_problems():
        params = ", ".join(f"{k}={_shown(v)}" for k, v in PROBLEMS.parameters(name).items())
        rows.append((name, PROBLEMS.describe(name), params))
    return rows


def describe_methods() -> list[tuple[str, str, str]]:
    """``(name, kind, "param=default, ...")`` for every registered solver."""
    rows = []
    for name, kind in sorted(solver_kinds().items()):
        params = ", ".join(f"{k}={_shown(v)}" for k, v in method_parameters(name).items())
        rows.append((name, kind, params))
    return rows
