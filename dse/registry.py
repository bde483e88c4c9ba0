"""Name-based registries for problems, solvers and weightings.

Every kind of pluggable object (problems, solvers, gradient weightings) is found by name in
one :class:`Registry` class, so the CLI, the notebooks and user code refer to the same
tables, and a failed lookup can list what is valid instead of raising a bare ``KeyError``.
Each :class:`Entry` carries its metadata (a solver's ``kind`` and ``parameters``, a
weighting's ``scalarising`` and ``needs_gramian`` ...), so questions such as "which
weightings scalarise?" are queries (:meth:`Registry.where`), not hand-kept lists.
"""

from __future__ import annotations

import functools
import inspect
import sys
import warnings
from collections.abc import Callable, Iterable, Iterator, Mapping
from dataclasses import dataclass, field
from types import MappingProxyType
from typing import Any, Generic, TypeVar

T = TypeVar("T")

__all__ = [
    "Entry",
    "Registry",
    "UnknownNameError",
    "deprecated_names",
    "reject_unknown",
    "renamed_keywords",
]

#: The release in which the current deprecated aliases were introduced; they go in the next.
DEPRECATED_SINCE = "0.1.0"


class UnknownNameError(ValueError):
    """Raised when a name is not in a registry; the message lists the valid names."""


def _normalise(name: str) -> str:
    return name.strip().lower().replace("-", "_")


@dataclass(frozen=True)
class Entry(Generic[T]):
    """One registered object and what the registry knows about it.

    Attributes
    ----------
    name
        The canonical (normalised) name.
    obj
        The factory: a class or a function.
    description
        One line, from ``register(description=...)`` or the factory's docstring.
    aliases
        Other (normalised) names the entry is found under.
    meta
        Read-only metadata given at registration; what it holds depends on the kind
        (a solver's ``kind`` and ``parameters``, a weighting's ``scalarising``, ...). A
        ``parameters`` mapping (name -> default) is what :meth:`Registry.create` accepts.
    """

    name: str
    obj: T
    description: str = ""
    aliases: tuple[str, ...] = ()
    meta: Mapping[str, Any] = field(default_factory=lambda: MappingProxyType({}))


class Registry(Generic[T]):
    """A case-insensitive table from names (and aliases) to factories with their metadata.

    Parameters
    ----------
    kind
        What the registry holds, used in error messages ("problem", "solver", ...).
    """

    def __init__(self, kind: str) -> None:
        self.kind = kind
        self._entries: dict[str, Entry[T]] = {}
        self._aliases: dict[str, str] = {}

    def register(
        self, name: str, obj: T | None = None, *, aliases: tuple[str, ...] = (),
        description: str = "", **meta: Any,
    ) -> Any:
        """Register ``obj`` under ``name``; usable as a decorator when ``obj`` is omitted.

        ``meta`` is stored, read-only, on the :class:`Entry`; a ``parameters`` mapping
        (name -> default) replaces the factory's signature as the accepted parameters.
        """

        def _add(target: T) -> T:
            key = _normalise(name)
            for taken in (key, *map(_normalise, aliases)):
                if taken in self:
                    raise ValueError(f"{self.kind} {taken!r} is already registered")
            doc = description or (inspect.getdoc(target) or "").split("\n")[0]
            alias_keys = tuple(dict.fromkeys(_normalise(a) for a in aliases))
            self._entries[key] = Entry(key, target, doc, alias_keys, MappingProxyType(meta))
            for alias in alias_keys:
                self._aliases[alias] = key
            return target

        return _add if obj is None else _add(obj)

    def remove(self, name: str) -> T:
        """Take ``name`` and its aliases out of the registry; returns the factory.

        For tests and plug-ins that register something for a while.
        """
        entry = self._entries.pop(self.canonical(name))
        for alias in entry.aliases:
            self._aliases.pop(alias, None)
        return entry.obj

    def canonical(self, name: str) -> str:
        """The registered name behind ``name`` (resolving aliases and case)."""
        if not isinstance(name, str):
            raise TypeError(f"{self.kind} name must be a str, got {type(name).__name__}")
        key = _normalise(name)
        key = self._aliases.get(key, key)
        if key not in self._entries:
            raise UnknownNameError(
                f"unknown {self.kind} {name!r}; valid names: "
                f"{', '.join(self.names(aliases=True))}"
            )
        return key

    def entry(self, name: str) -> Entry[T]:
        """The :class:`Entry` registered under ``name`` (or an alias)."""
        return self._entries[self.canonical(name)]

    def entries(self) -> list[Entry[T]]:
        """Every entry, sorted by name."""
        return [self._entries[k] for k in self.names()]

    def get(self, name: str) -> T:
        """The factory registered under ``name``."""
        return self.entry(name).obj

    def create(self, name: str, **params: Any) -> Any:
        """Call the factory for ``name`` with ``params``, naming unknown parameters clearly."""
        entry = self.entry(name)
        if "parameters" in entry.meta:
            reject_unknown(params, entry.meta["parameters"], f"for {self.kind} {entry.name!r}")
        else:
            check_params(entry.obj, params, f"{self.kind} {entry.name!r}")  # type: ignore[arg-type]
        return entry.obj(**params)  # type: ignore[operator]

    def names(self, *, aliases: bool = False) -> list[str]:
        """Sorted registered names (with the aliases too when ``aliases``)."""
        return sorted([*self._entries, *self._aliases] if aliases else self._entries)

    def where(self, **meta: Any) -> list[str]:
        """Sorted names of the entries whose metadata has every given value.

        ``weightings.where(scalarising=True)``; an entry without a key never matches it.
        """
        missing = object()
        return [
            e.name for e in self.entries()
            if all(e.meta.get(k, missing) == v for k, v in meta.items())
        ]

    def describe(self, name: str) -> str:
        return self.entry(name).description

    def parameters(self, name: str) -> dict[str, Any]:
        """Keyword parameters of ``name`` and their defaults (``inspect.Parameter.empty``
        when required): the registered ``parameters``, else the factory's signature."""
        entry = self.entry(name)
        if "parameters" in entry.meta:
            return dict(entry.meta["parameters"])
        return factory_parameters(entry.obj)  # type: ignore[arg-type]

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


def reject_unknown(
    given: Iterable[str], valid: Iterable[str], where: str, *,
    noun: str = "parameter(s)", label: str = "accepted",
    error: type[ValueError] = ValueError,
) -> None:
    """Raise ``error`` naming every key of ``given`` that is not in ``valid``, and listing
    ``valid``; the one check behind every "unknown parameter" message.

    Parameters
    ----------
    given
        The keys a caller passed (a dict of parameters is fine).
    valid
        The accepted keys, in the order they are to be listed.
    where
        Whose parameters, as it reads after the keys: ``"for solver 'nsga2'"``.
    noun, label
        The words before the unknown keys and before the list of valid ones.
    error
        The exception raised: ``ValueError`` or a subclass (the config's ``ConfigError``).

    Raises
    ------
    ValueError
        ``unknown parameter(s) a, b for solver 'nsga2'; accepted: eta_c, pop_size``.
    """
    valid = list(valid)
    unknown = sorted(set(given) - set(valid))
    if unknown:
        raise error(
            f"unknown {noun} {', '.join(unknown)} {where}; "
            f"{label}: {', '.join(valid) or '(none)'}"
        )


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
        return  # a factory taking **kwargs accepts any name (and checks them itself)
    reject_unknown(params, factory_parameters(factory), f"for {what}")


# ---------------------------------------------------------------------- renamed names
def _deprecation(old: str, new: str) -> None:
    # stacklevel 3: past this helper and the wrapper, to the caller's line.
    warnings.warn(
        f"{old} is deprecated since {DEPRECATED_SINCE} and will be removed in the next "
        f"release; use {new}",
        DeprecationWarning,
        stacklevel=3,
    )


def deprecated_names(
    module: str, renamed: Mapping[str, str], *, otherwise: Callable[[str], Any] | None = None,
) -> Callable[[str], Any]:
    """A module-level ``__getattr__`` that still serves the old names of renamed objects.

    ``renamed`` maps each old name to the new one in the same module; reading an old name
    (``from module import old`` or ``module.old``) emits one :class:`DeprecationWarning`
    naming the new one and returns the very same object (``old is new``). Old names stay
    out of ``__all__``, so ``import *`` does not warn. Any other missing name goes to
    ``otherwise`` (a module's own lazy ``__getattr__``), else raises the usual
    :class:`AttributeError`.

    Usage, at the end of the module::

        __getattr__ = deprecated_names(__name__, {"normalize": "normalise"})
    """
    table = dict(renamed)

    def __getattr__(name: str) -> Any:
        if name not in table:
            if otherwise is not None:
                return otherwise(name)
            raise AttributeError(f"module {module!r} has no attribute {name!r}")
        # ``from package import old`` asks twice: the import system's hasattr probe, then
        # the import statement itself. Warn on the second only, so it is one warning at
        # the caller's line.
        if sys._getframe(1).f_globals.get("__name__") != "importlib._bootstrap":
            _deprecation(f"{module}.{name}", f"{module}.{table[name]}")
        return getattr(sys.modules[module], table[name])

    return __getattr__


def renamed_keywords(**renamed: str) -> Callable[[Callable[..., T]], Callable[..., T]]:
    """Decorator: a function still accepts the old names of its renamed keyword arguments.

    ``@renamed_keywords(ref_front="reference_front")``: a call with ``ref_front=`` emits one
    :class:`DeprecationWarning` naming ``reference_front`` and passes the value on under the
    new name; giving both names is a :class:`TypeError`.
    """

    def wrap(fn: Callable[..., T]) -> Callable[..., T]:
        @functools.wraps(fn)
        def call(*args: Any, **kwargs: Any) -> T:
            for old, new in renamed.items():
                if old in kwargs:
                    if new in kwargs:
                        raise TypeError(f"{fn.__name__}() got both {old}= (deprecated) and "
                                        f"{new}=; give {new}= only")
                    _deprecation(f"{fn.__name__}({old}=...)", f"{fn.__name__}({new}=...)")
                    kwargs[new] = kwargs.pop(old)
            return fn(*args, **kwargs)

        return call

    return wrap
