"""Reading a sweep configuration: ``key=value`` overrides (OmegaConf's dot-list grammar,
with the shorthands ``problem=NAME`` and ``executor=NAME``), a saved ``config.yaml``, and
writing one back. Every parsed config is validated (:mod:`dse.config_validate`).
Re-exported by :mod:`dse.config`."""

from __future__ import annotations

import os
from collections.abc import Sequence
from dataclasses import fields
from typing import Any

import yaml
from omegaconf import DictConfig, OmegaConf
from omegaconf.errors import OmegaConfBaseException

from dse.config_schema import ConfigError, DiagnoseConfig, ExecutorConfig, SweepConfig
from dse.config_validate import validate, validate_device, validate_problem

__all__ = ["check_out", "load_config", "parse_diagnose", "parse_overrides", "to_yaml"]


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
    validate_problem(cfg.problem)
    validate_device(cfg.device)
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
