"""Problems by name: a registered one, or a user's own as ``module:attr`` / ``file.py:attr``.

The command line, sweeps and their workers all build problems from a string, so that a
job stays a small picklable record. Besides registry names (``zdt1``, ``codesign``), a
string of the form

* ``package.module:Name`` imports ``package.module`` (the current folder is searched too,
  as ``python -m`` would) and takes its attribute ``Name``;
* ``path/to/file.py:Name`` loads that file and takes ``Name``;

where ``Name`` is a :class:`~dse.problem.Problem` subclass or a function returning a
problem (called with the ``problem.<param>=v`` parameters), or a problem instance (e.g.
made with :meth:`~dse.problem.Problem.from_function`; then no parameters). Files are
named by their absolute path once parsed (:func:`canonical_spec`), so a Dask worker
started elsewhere loads the same file; remote workers get the file itself
(:func:`spec_files`).
"""

from __future__ import annotations

import hashlib
import importlib
import importlib.util
import inspect
import os
import re
import sys
from collections.abc import Callable
from pathlib import Path
from types import ModuleType
from typing import Any

from dse.problem import PROBLEMS, Problem, get_problem, list_problems
from dse.registry import check_params, factory_parameters

__all__ = [
    "build_problem",
    "canonical_spec",
    "is_user_spec",
    "spec_files",
    "spec_label",
    "spec_parameters",
]


def is_user_spec(name: str) -> bool:
    """True when ``name`` names a user's problem (``module:attr`` or ``file.py:attr``)."""
    return isinstance(name, str) and ":" in name


def _split(spec: str) -> tuple[str, str]:
    where, _, attr = spec.rpartition(":")
    if not where or not attr.isidentifier():
        raise ValueError(
            f"problem {spec!r}: a user problem is written module:Name or path/to/file.py:Name "
            "(Name a Problem subclass, a function returning a Problem, or a Problem)"
        )
    return where, attr


def _is_file(where: str) -> bool:
    return where.endswith(".py") or os.sep in where or "/" in where


def _load_file(path: str, spec: str) -> ModuleType:
    file = Path(path).expanduser()
    if not file.is_file():
        # A file shipped to a remote Dask worker lies on its sys.path under its stem.
        if file.stem.isidentifier() and importlib.util.find_spec(file.stem) is not None:
            return importlib.import_module(file.stem)
        raise ValueError(f"problem {spec!r}: no file {str(file)!r}")
    file = file.resolve()
    digest = hashlib.sha1(str(file).encode()).hexdigest()[:10]
    stem = re.sub(r"\W", "_", file.stem)
    name = f"_dse_user_{stem}_{digest}"
    if name in sys.modules:
        return sys.modules[name]
    loader_spec = importlib.util.spec_from_file_location(name, file)
    if loader_spec is None or loader_spec.loader is None:
        raise ValueError(f"problem {spec!r}: cannot load {str(file)!r} as Python")
    module = importlib.util.module_from_spec(loader_spec)
    # Registered before running it, so classes defined there pickle by reference.
    sys.modules[name] = module
    try:
        loader_spec.loader.exec_module(module)
    except BaseException as exc:
        del sys.modules[name]
        raise ValueError(f"problem {spec!r}: loading {file.name} failed: "
                         f"{type(exc).__name__}: {exc}") from None
    return module


def _import(module: str, spec: str) -> ModuleType:
    try:
        return importlib.import_module(module)
    except ModuleNotFoundError as exc:
        cwd = os.getcwd()
        if exc.name == module.split(".")[0] and cwd not in sys.path:
            sys.path.insert(0, cwd)  # as `python -m` would search the current folder
            return _import(module, spec)
        raise ValueError(f"problem {spec!r}: cannot import module {module!r} ({exc}); "
                         "is it on PYTHONPATH or in the current folder?") from None
    except Exception as exc:
        raise ValueError(f"problem {spec!r}: importing {module!r} failed: "
                         f"{type(exc).__name__}: {exc}") from None


def _target(spec: str) -> Any:
    where, attr = _split(spec)
    module = _load_file(where, spec) if _is_file(where) else _import(where, spec)
    if not hasattr(module, attr):
        found = sorted(k for k, v in vars(module).items()
                       if not k.startswith("_") and _is_problem_like(v))
        raise ValueError(f"problem {spec!r}: {attr!r} is not defined there; problems found: "
                         f"{', '.join(found) or '(none)'}")
    target = getattr(module, attr)
    if not _is_problem_like(target):
        raise TypeError(f"problem {spec!r}: {attr} is a {type(target).__name__}; it must be "
                        "a Problem subclass, a function returning a Problem, or a Problem")
    return target


def _is_problem_like(v: Any) -> bool:
    if isinstance(v, Problem):
        return True
    if inspect.isclass(v):
        return issubclass(v, Problem) and v is not Problem
    return inspect.isfunction(v)


def spec_parameters(name: str) -> dict[str, Any]:
    """Keyword parameters (and defaults) of a registered or user problem's factory."""
    if not is_user_spec(name):
        list_problems()  # the built-in families register on first use
        return PROBLEMS.parameters(name)
    target = _target(name)
    return {} if isinstance(target, Problem) else factory_parameters(target)


def build_problem(name: str, **params: Any) -> Problem:
    """A registered problem (:func:`dse.problem.get_problem`) or a user's ``module:attr``.

    Raises ``ValueError`` naming the spec for a missing file, module or attribute, or an
    unknown parameter; ``TypeError`` when the attribute is not a problem or its factory
    does not return one.
    """
    if not is_user_spec(name):
        return get_problem(name, **params)
    target = _target(name)
    if isinstance(target, Problem):
        if params:
            raise ValueError(f"problem {name!r} is a ready-made Problem and takes no "
                             f"parameters, got {', '.join(sorted(params))}")
        return target
    factory: Callable[..., Any] = target
    check_params(factory, params, f"problem {name!r}")
    problem = factory(**params)
    if not isinstance(problem, Problem):
        raise TypeError(f"problem {name!r} returned a {type(problem).__name__}, not a "
                        "dse.Problem")
    return problem


def canonical_spec(name: str) -> str:
    """``name`` with a file's path made absolute (so workers elsewhere find it)."""
    if not is_user_spec(name):
        list_problems()
        return PROBLEMS.canonical(name)
    where, attr = _split(name)
    _target(name)  # fails here, at parse time, for a missing file or attribute
    if _is_file(where):
        return f"{Path(where).expanduser().resolve()}:{attr}"
    return name


def spec_label(name: str) -> str:
    """A short name for run folders: the registered name, or the user's ``attr``."""
    if not is_user_spec(name):
        return name
    return re.sub(r"[^A-Za-z0-9_.-]", "_", name.rpartition(":")[2]).lower()


def spec_files(name: str) -> list[Path]:
    """Files a remote worker needs for a user problem (its module's file), else none."""
    if not is_user_spec(name):
        return []
    where, _ = _split(name)
    if _is_file(where):
        return [Path(where).expanduser().resolve()]
    module = sys.modules.get(where)
    file = getattr(module, "__file__", None)
    # A module that is a single file can be shipped; a package must be installed there.
    if file and "." not in where and not file.endswith("__init__.py"):
        return [Path(file)]
    return []
