"""Name-based registries for problems, solvers and weightings.

Every kind of pluggable object (problems, solvers, gradient weightings) is found by name, so
the CLI, the notebooks and user code refer to the same table, and a failed lookup can list
what is valid instead of raising a bare ``KeyError``.
"""

from __future__ import annotations

import inspect
from collections.abc import Callable, Iterator
from typing import Any, Generic, TypeVar

T = TypeVar("T")

__all__ = ["Registry", "UnknownNameError"]


class UnknownNameError(ValueError):
    """Raised when a name is not in a registry; the message lists the valid names."""


def _normalise(name: str) -> str:
    return name.strip().lower().replace("-", "_")


class Registry(Generic[T]):
    """A case-insensitive table from names to factories (classes or functions).

    Parameters
    ----------
    kind
        What the registry holds, used in error messages ("problem", "solver", ...).
    """

    def __init__(self, kind: str) -> None:
        self.kind = kind
        self._entries: dict[str, T] = {}
        self._aliases: dict[str, str] = {}
        self._descriptions: dict[str, str] = {}

    def register(
        self, name: str, obj: T | None = None, *, aliases: tuple[str, ...] = (),
        description: str = "",
    ) -> Any:
        """Register ``obj`` under ``name``; usable as a decorator when ``obj`` is omitted."""

        def _add(target: T) -> T:
            key = _normalise(name)
            if key in self._entries or key in self._aliases:
                raise ValueError(f"{self.kind} {name!r} is already registered")
            self._entries[key] = target
            doc = description or (inspect.getdoc(target) or "").split("\n")[0]
            self._descriptions[key] = doc
            for alias in aliases:
                self._aliases[_normalise(alias)] = key
            return target

        return _add if obj is None else _add(obj)

    def canonical(self, name: str) -> str:
        """The registered name behind ``name`` (resolving aliases and case)."""
        if not isinstance(name, str):
            raise TypeError(f"{self.kind} name must be a str, got {type(name).__name__}")
        key = _normalise(name)
        key = self._aliases.get(key, key)
        if key not in self._entries:
            raise UnknownNameError(
                f"unknown {self.kind} {name!r}; valid names: {', '.join(self.names())}"
            )
        return key

    def get(self, name: str) -> T:
        """The factory registered under ``name``."""
        return self._entries[self.canonical(name)]

    def create(self, name: str, **params: Any) -> Any:
        """Call the factory for ``name`` with ``params``, naming unknown parameters clearly."""
        factory = self.get(name)
        check_params(factory, params, f"{self.kind} {self.canonical(name)!r}")
        return factory(**params)  # type: ignore[operator]

    def names(self) -> list[str]:
        return sorted(self._entries)

    def describe(self, name: str) -> str:
        return self._descriptions[self.canonical(name)]

    def parameters(self, name: str) -> dict[str, Any]:
        """Keyword parameters of the factory and their defaults (``inspect.Parameter.empty``
        when required)."""
        return factory_parameters(self.get(name))

    def __contains__(self, name: object) -> bool:
        if not isinstance(name, str):
            return False
        key = _normalise(name)
        return key in self._entries or key in self._aliases

    def __iter__(self) -> Iterator[str]:
        return iter(self.names())

    def __len__(self) -> int:
        return len(self._entries)

    def __repr__(self) -> str:
        return f"Registry({self.kind!r}, {self.names()})"


def factory_parameters(factory: Callable[..., Any]) -> dict[str, Any]:
    """Keyword parameters accepted by ``factory`` with their defaults."""
    sig = inspect.signature(factory)
    return {
        p.name: p.default
        for p in sig.parameters.values()
        if p.kind in (p.POSITIONAL_OR_KEYWORD, p.KEYWORD_ONLY) and p.name != "self"
    }


def check_params(factory: Callable[..., Any], params: dict[str, Any], what: str) -> None:
    """Raise a ``ValueError`` naming unknown parameters and the accepted ones."""
    sig = inspect.signature(factory)
    if any(p.kind is p.VAR_KEYWORD for p in sig.parameters.values()):
        return
    accepted = factory_parameters(factory)
    unknown = sorted(set(params) - set(accepted))
    if unknown:
        raise ValueError(
            f"unknown parameter(s) {', '.join(unknown)} for {what}; "
            f"accepted: {', '.join(accepted) or '(none)'}"
        )
