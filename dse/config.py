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
"""

from __future__ import annotations

import hashlib
import inspect
import json
import math
import os
import re
from collections.abc import Sequence
from dataclasses import dataclass, field, fields
from typing import Any

import yaml
from omegaconf import DictConfig, OmegaConf
from omegaconf.errors import OmegaConfBaseException

from dse.checks import MAX_BUDGET, MAX_SEED, whole_number
from dse.registry import reject_unknown

__all__ = [
    "PROBLEM_DEFAULTS",
    "ConfigError",
    "DiagnoseConfig",
    "ExecutorConfig",
    "ProblemConfig",
    "ProblemDefaults",
    "ResolvedSweep",
    "SolverConfig",
    "SweepConfig",
    "config_hash",
    "config_help",
    "describe_methods",
    "describe_problems",
    "load_config",
    "method_parameters",
    "parse_diagnose",
    "parse_overrides",
    "problem_defaults",
    "quick_mode",
    "resolve",
    "solver_kinds",
    "to_yaml",
    "validate",
]


class ConfigError(ValueError):
    """A bad override: unknown key, name or parameter, or a value of the wrong type."""


# ---------------------------------------------------------------------------- schema
def _doc(text: str) -> dict[str, str]:
    """Field metadata carrying the help text shown by ``--help`` and ``list``."""
    return {"help": text}


@dataclass
class ProblemConfig:
    """Which problem, and its factory parameters (``problem.<param>=value``)."""

    name: str = field(default="codesign", metadata=_doc(
        "registered problem name (see `list`), or module:Name / file.py:Name"))
    params: dict[str, Any] = field(
        default_factory=dict, metadata=_doc("problem factory parameters, e.g. problem.n_obj=3")
    )


@dataclass
class SolverConfig:
    """Settings shared by the methods and per-method parameters."""

    budget: int | None = field(
        default=None, metadata=_doc("objective evaluations per run (null: problem default)")
    )
    params: dict[str, Any] = field(
        default_factory=dict, metadata=_doc("solver.<param>=v: to every method that takes it")
    )
    methods: dict[str, Any] = field(
        default_factory=dict, metadata=_doc("solver.<method>.<param>=v: one method's parameter")
    )


@dataclass
class ExecutorConfig:
    """Where the (problem, method, seed) jobs run."""

    name: str = field(default="local", metadata=_doc("local (in-process) or dask"))
    address: str | None = field(default=None, metadata=_doc(
        "dask scheduler address, e.g. tcp://host:8786 (null: start a local cluster)"))
    n_workers: int = field(default=2, metadata=_doc("worker processes of the local cluster"))
    threads_per_worker: int = field(default=1, metadata=_doc("threads per local dask worker"))


@dataclass
class SweepConfig:
    """Everything a sweep needs; defaults finish in minutes on a laptop CPU."""

    problem: ProblemConfig = field(
        default_factory=ProblemConfig, metadata=_doc("problem=NAME, problem.<param>=v")
    )
    methods: list[str] | None = field(default=None, metadata=_doc(
        "methods to run, e.g. [nsga2,cagrad] (null: the problem's default set)"))
    seeds: list[int] = field(
        default_factory=lambda: [0], metadata=_doc("seeds, one run per (method, seed)")
    )
    device: str = field(default="auto", metadata=_doc("auto, cpu, cuda or cuda:N"))
    solver: SolverConfig = field(default_factory=SolverConfig, metadata=_doc(
        "solver.budget, solver.<param>, solver.<method>.<param>"))
    executor: ExecutorConfig = field(default_factory=ExecutorConfig, metadata=_doc(
        "executor=dask, executor.address=tcp://..."))
    out: str | None = field(
        default=None, metadata=_doc("run folder (null: runs/<problem>-<config hash>)")
    )
    ref_offset: float = field(default=0.1, metadata=_doc(
        "hypervolume reference point: nadir + ref_offset * (nadir - ideal)"))
    plots: bool = field(default=True, metadata=_doc("draw plots into <run>/plots at the end"))
    quiet: bool = field(default=False, metadata=_doc("no progress bars or tables"))


@dataclass
class DiagnoseConfig:
    """Settings of ``cli.py diagnose`` (the gradient-conflict advisor)."""

    problem: ProblemConfig = field(
        default_factory=ProblemConfig, metadata=_doc("problem=NAME, problem.<param>=v")
    )
    steps: int = field(default=200, metadata=_doc("optimisation steps the advisor watches"))
    seed: int = field(default=0, metadata=_doc("seed of the advisor's run"))
    device: str = field(default="auto", metadata=_doc("auto, cpu, cuda or cuda:N"))
    out: str | None = field(
        default=None, metadata=_doc("folder for the cosine plot (null: no plot)")
    )
    quiet: bool = field(default=False, metadata=_doc("print nothing but the report"))


# ---------------------------------------------------------------------------- defaults
@dataclass(frozen=True)
class ProblemDefaults:
    """What a sweep runs on a problem when the user does not say.

    ``budget`` is in objective evaluations per (method, seed) run; ``quick_budget`` is
    used when the environment variable ``DSE_QUICK`` is ``"1"`` (tests and notebooks).
    """

    methods: tuple[str, ...]
    budget: int
    quick_budget: int


#: Per-problem defaults, chosen so that ``cli.py sweep problem=<name>`` with one seed
#: finishes in a few minutes on a 2-core laptop CPU. Keys are problem names or families
#: (a prefix: ``zdt`` covers zdt1..zdt6).
PROBLEM_DEFAULTS: dict[str, ProblemDefaults] = {
    "codesign": ProblemDefaults(
        ("hybrid", "epo", "chebyshev", "weighted_sum", "mgda", "nsga2", "moead", "random"),
        40000, 600),
    "zdt": ProblemDefaults(("weighted_sum", "mgda", "nsga2", "moead"), 5000, 300),
    "dtlz": ProblemDefaults(("chebyshev", "mgda", "nsga3", "moead"), 5000, 300),
    "pmtl": ProblemDefaults(("weighted_sum", "epo", "mgda", "nsga2"), 3000, 200),
    "cagrad_toy": ProblemDefaults(("weighted_sum", "mgda", "cagrad", "nsga2"), 3000, 200),
    # Small constrained engineering problems (problems/engineering), some with tables.
    **{name: ProblemDefaults(("hybrid", "epo", "chebyshev", "weighted_sum", "nsga2"),
                             10000, 600)
       for name in ("bnh", "srn", "osy", "tnk", "truss2d", "welded_beam",
                    "car_side_impact", "mw")},
    # Network weights (hundreds to thousands of variables): gradient methods only.
    "gradnorm_regression": ProblemDefaults(("weighted_sum", "mgda", "cagrad"), 3000, 200),
    "multidigits": ProblemDefaults(("weighted_sum", "mgda", "cagrad"), 3000, 200),
}
_FALLBACK_DEFAULTS = ProblemDefaults(("weighted_sum", "mgda", "nsga2"), 2000, 200)

_DEVICES = ("auto", "cpu", "cuda")
_EXECUTORS = ("local", "dask")


def quick_mode() -> bool:
    """True when ``DSE_QUICK=1``: tests and notebooks shrink every default budget."""
    return os.environ.get("DSE_QUICK", "0").strip() == "1"


def problem_defaults(problem: str) -> ProblemDefaults:
    """Defaults for ``problem``: its own entry, else its family's (longest prefix), else
    a generic set."""
    key = problem.lower()
    if ":" in key:  # a user's module:Name is no family of ours, whatever its spelling
        return _FALLBACK_DEFAULTS
    if key in PROBLEM_DEFAULTS:
        return PROBLEM_DEFAULTS[key]
    matches = [k for k in PROBLEM_DEFAULTS if key.startswith(k)]
    return PROBLEM_DEFAULTS[max(matches, key=len)] if matches else _FALLBACK_DEFAULTS


# ---------------------------------------------------------------------------- parsing
def _parse_value(text: str) -> Any:
    """A value as OmegaConf's dot-list grammar reads it (ints, floats, bools, null, lists)."""
    try:
        text.encode("utf-8")
    except UnicodeEncodeError:
        raise ConfigError(
            f"value {text!r} is not valid text (a byte that is not UTF-8 in the argument?)"
        ) from None
    bad = sorted({f"U+{ord(c):04X}" for c in text if ord(c) < 32 or ord(c) == 127})
    if bad:
        raise ConfigError(
            f"value {text!r} holds control character(s) {', '.join(bad)}; give plain text"
        )
    if text.lstrip().startswith("!") or " !" in text or "[!" in text or ",!" in text:
        # YAML tags (!!python/object, !!binary, ...) would ask the YAML loader to build
        # objects; a value is a number, text, a list or null, nothing else.
        raise ConfigError(f"value {text!r}: YAML tags (!...) are not accepted; give the "
                          "value itself")
    if "${" in text:
        # OmegaConf would resolve ${oc.env:...} and friends later, writing the machine's
        # environment into config.yaml and the results database.
        raise ConfigError(
            f"value {text!r}: interpolations (${{...}}) are not expanded in overrides; "
            "give the value itself"
        )
    try:
        node = OmegaConf.from_dotlist([f"v={text}"])
    except (OmegaConfBaseException, yaml.YAMLError) as exc:
        first = str(getattr(exc, "problem", None) or exc).strip().splitlines()[0]
        hint = "; lists are [a,b]" if text.lstrip().startswith("[") else ""
        raise ConfigError(f"cannot parse value {text!r}: {first}{hint}") from None
    return OmegaConf.to_container(node)["v"]


def _check_text(key: str, text: str) -> None:
    if key == "out" and text:
        check_out(text)


def check_out(out: str) -> None:
    """Refuse an ``out=`` folder that cannot be one, before any job runs."""
    if "\x00" in out:
        raise ConfigError(f"out={out!r}: a path cannot hold a NUL character")
    try:
        name_max = os.pathconf(os.path.dirname(os.path.abspath(out)) or "/", "PC_NAME_MAX")
    except (OSError, ValueError):
        name_max = 255
    longest = max((len(os.fsencode(p)) for p in out.split(os.sep)), default=0)
    if longest > name_max:
        raise ConfigError(f"out={out[:40]}...: a folder name is {longest} bytes, more than "
                          f"the file system's {name_max}")
    if len(os.fsencode(os.path.abspath(out))) >= 4096:
        raise ConfigError(f"out={out[:40]}...: the path is longer than the file system allows")
    if os.path.exists(out) and not os.path.isdir(out):
        raise ConfigError(f"out={out}: a file of that name exists; give a folder")
    real = os.path.realpath(out)
    if real == "/proc" or real.startswith(("/proc/", "/sys/", "/dev/")):
        raise ConfigError(f"out={out}: not a place for a run folder (a system file system)")


def _valid_keys(schema: type) -> list[str]:
    return [f.name for f in fields(schema)]


def _route(key: str, schema: type) -> list[str]:
    """Map a user key to its path in the schema (shorthands and free parameter dicts)."""
    parts = key.split(".")
    if any(not p for p in parts):
        raise ConfigError(f"malformed key {key!r}")
    head, rest = parts[0], parts[1:]
    if head not in _valid_keys(schema):
        raise ConfigError(
            f"unknown key {key!r}; valid keys: {', '.join(_valid_keys(schema))}"
        )
    if head == "problem":
        if not rest or rest == ["name"]:
            return ["problem", "name"]
        if rest[0] == "params":
            rest = rest[1:]
        if len(rest) != 1:
            raise ConfigError(f"problem parameters are flat: problem.<param>, got {key!r}")
        return ["problem", "params", rest[0]]
    if head == "executor":
        if not rest:
            return ["executor", "name"]
        if len(rest) != 1 or rest[0] not in _valid_keys(ExecutorConfig):
            raise ConfigError(
                f"unknown key {key!r}; valid executor keys: "
                f"{', '.join('executor.' + k for k in _valid_keys(ExecutorConfig))}"
            )
        return parts
    if head == "solver":
        if not rest:
            raise ConfigError("`solver` needs a sub-key: solver.budget, solver.<param>, "
                              "solver.<method>.<param>")
        if rest == ["budget"]:
            return parts
        if rest[0] in ("params", "methods"):
            return parts
        if len(rest) == 1:
            return ["solver", "params", rest[0]]
        # solver.<method>.<param>[.<sub-key>...]: deeper keys fill dict-valued parameters
        return ["solver", "methods", *rest]
    if rest:
        raise ConfigError(f"key {head!r} takes no sub-key, got {key!r}")
    return parts


def _set(tree: dict[str, Any], path: list[str], value: Any) -> None:
    for p in path[:-1]:
        node = tree.setdefault(p, {})
        if not isinstance(node, dict):
            raise ConfigError(f"key {'.'.join(path)!r} conflicts with an earlier override")
        tree = node
    tree[path[-1]] = value


def _build(schema: type, overrides: Sequence[str]) -> DictConfig:
    tree: dict[str, Any] = {}
    for item in overrides:
        if not isinstance(item, str) or "=" not in item:
            raise ConfigError(
                f"overrides are key=value, got {item!r}; valid keys: "
                f"{', '.join(_valid_keys(schema))}"
            )
        key, text = item.split("=", 1)
        path = _route(key.strip(), schema)
        value = _parse_value(text)
        _check_text(key.strip(), text)
        if path in (["methods"], ["seeds"]) and value is not None and not isinstance(
            value, list
        ):
            value = [value]  # `seeds=3` and `methods=nsga2` mean one-element lists
        _set(tree, path, value)
    base = OmegaConf.structured(schema)
    try:
        cfg = OmegaConf.merge(base, tree)
    except OmegaConfBaseException as exc:
        raise ConfigError(_short(exc)) from None
    assert isinstance(cfg, DictConfig)
    return cfg


def _short(exc: OmegaConfBaseException) -> str:
    # OmegaConf appends a multi-line "full_key / object_type" trailer; the first line says
    # what is wrong and with which value.
    return str(exc).strip().splitlines()[0] + (
        f" (key {exc.full_key})" if getattr(exc, "full_key", None) else ""
    )


def parse_overrides(overrides: Sequence[str] = ()) -> SweepConfig:
    """Build a validated :class:`SweepConfig` from ``key=value`` strings.

    Raises
    ------
    ConfigError
        For an unknown key, problem, method, parameter, device or executor, or a value of
        the wrong type; the message names the valid choices.
    """
    cfg = OmegaConf.to_object(_build(SweepConfig, overrides))
    assert isinstance(cfg, SweepConfig)
    validate(cfg)
    return cfg


def parse_diagnose(overrides: Sequence[str] = ()) -> DiagnoseConfig:
    """Build a validated :class:`DiagnoseConfig` from ``key=value`` strings."""
    cfg = OmegaConf.to_object(_build(DiagnoseConfig, overrides))
    assert isinstance(cfg, DiagnoseConfig)
    _validate_problem(cfg.problem)
    _validate_device(cfg.device)
    if cfg.steps < 4:
        raise ConfigError(f"steps must be >= 4, got {cfg.steps}")
    return cfg


def load_config(path: str | os.PathLike[str]) -> SweepConfig:
    """Read a config saved by a sweep (``<run>/config.yaml``) back, validated."""
    name = os.fspath(path)
    try:
        with open(name, encoding="utf-8") as fh:
            text = fh.read()
    except OSError as exc:
        raise ConfigError(f"cannot read config {name!r}: {exc.strerror or exc}") from None
    except UnicodeDecodeError:
        raise ConfigError(f"config {name!r} is not UTF-8 text") from None
    try:
        loaded = yaml.safe_load(text)
    except yaml.YAMLError as exc:
        first = str(getattr(exc, "problem", None) or exc).strip().splitlines()[0]
        raise ConfigError(f"config {name!r} is not valid YAML: {first}") from None
    # An empty or scalar file is no config: falling back to the defaults would quietly
    # run (or compare against) a codesign sweep nobody asked for.
    if not isinstance(loaded, dict) or not loaded:
        raise ConfigError(f"config {name!r} is empty or not a mapping of keys; a sweep's "
                          "config.yaml holds problem, methods, seeds, ...")
    if any("${" in str(v) for v in _leaves(loaded)):
        raise ConfigError(f"config {name!r}: interpolations (${{...}}) are not expanded")
    try:
        node = OmegaConf.merge(OmegaConf.structured(SweepConfig), loaded)
    except OmegaConfBaseException as exc:
        raise ConfigError(f"config {name!r}: {_short(exc)}") from None
    cfg = OmegaConf.to_object(node)
    assert isinstance(cfg, SweepConfig)
    validate(cfg)
    return cfg


def _leaves(tree: Any) -> list[Any]:
    if isinstance(tree, dict):
        return [leaf for v in tree.values() for leaf in _leaves(v)]
    if isinstance(tree, list):
        return [leaf for v in tree for leaf in _leaves(v)]
    return [tree]


def to_yaml(cfg: SweepConfig) -> str:
    """The config as YAML (what a run folder stores)."""
    return OmegaConf.to_yaml(OmegaConf.structured(cfg))


# ---------------------------------------------------------------------------- validation
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


def _validate_problem(pc: ProblemConfig) -> None:
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


def _validate_device(device: str) -> None:
    base = device.split(":", 1)[0]
    index = device.split(":", 1)[1] if ":" in device else "0"
    if base not in _DEVICES or not re.fullmatch(r"[0-9]+", index):
        raise ConfigError(f"unknown device {device!r}; valid: auto, cpu, cuda, cuda:N")


def validate(cfg: SweepConfig) -> None:
    """Check names and parameters against the registries (raises :class:`ConfigError`)."""
    _validate_problem(cfg.problem)
    _validate_device(cfg.device)
    kinds = solver_kinds()
    methods = cfg.methods if cfg.methods is not None else []
    for m in methods:
        if not isinstance(m, str):
            raise ConfigError(f"methods is a list of names, e.g. methods=[nsga2,epo]; got "
                              f"{m!r} in it")
        if m not in kinds:
            raise ConfigError(f"unknown method {m!r}; valid methods: {', '.join(sorted(kinds))}")
    if cfg.methods is not None and not cfg.methods:
        raise ConfigError("methods is empty; give at least one, e.g. methods=[nsga2]")
    if len(set(methods)) != len(methods):
        raise ConfigError(f"methods listed twice: {methods}")
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
    selected = methods or list(problem_defaults(cfg.problem.name).methods)
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


# ---------------------------------------------------------------------------- resolving
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


# ---------------------------------------------------------------------------- help
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


# ---------------------------------------------------------------------------- listings
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
