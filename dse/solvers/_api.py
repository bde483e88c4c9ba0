"""The one entry point: ``solve(problem, method, budget=..., seed=..., device=...)``.

Every solver, gradient or evolutionary, is a function registered in :data:`SOLVERS` (a
:class:`dse.registry.Registry`) with its kind and its parameter defaults as the entry's
metadata, takes a :class:`~dse.problem.Problem`, a budget of
objective evaluations, a seed and a device, and returns a :class:`~dse.result.Result`.
"""

from __future__ import annotations

import copy
import time
import warnings
from collections.abc import Callable
from typing import Any

import torch

from dse.checks import MAX_BUDGET, MAX_SEED, whole_number
from dse.device import resolve_device
from dse.problem import Problem
from dse.problem_specs import build_problem
from dse.pymoo_bridge import from_pymoo, is_pymoo_problem
from dse.registry import Registry, reject_unknown
from dse.result import Result
from dse.solvers._history import reporting

__all__ = [
    "KINDS",
    "SOLVERS",
    "list_solvers",
    "register_solver",
    "resolve_device",
    "solve",
    "solver_parameters",
]

#: ``progress(n_evals, budget, hv, elapsed)``: what ``solve(..., progress=...)`` calls.
ProgressFn = Callable[[int, int | None, float | None, float], None]

#: Every solver by name; entries are functions ``f(problem, *, budget, seed, device, **params)``
#: whose metadata holds their ``kind`` and ``parameters`` (the defaults ``solve`` accepts).
SOLVERS: Registry[Callable[..., Result]] = Registry("solver")

#: Kinds of solver: batched gradient sweeps, pymoo's evolutionary algorithms, and hybrids
#: of the two.
KINDS = ("gradient", "evolutionary", "hybrid")


def register_solver(
    name: str,
    fn: Callable[..., Result],
    *,
    kind: str,
    defaults: dict[str, Any],
    description: str = "",
) -> None:
    """Add a solver; ``defaults`` are its keyword parameters (what ``solve`` accepts)."""
    if kind not in KINDS:
        raise ValueError(f"kind must be one of {', '.join(KINDS)}, got {kind!r}")
    SOLVERS.register(name, fn, description=description, kind=kind,
                     parameters=copy.deepcopy(dict(defaults)))


def solver_parameters(name: str) -> dict[str, Any]:
    """Keyword parameters of solver ``name`` and their defaults (a fresh copy)."""
    return copy.deepcopy(SOLVERS.parameters(name))


def list_solvers(kind: str | None = None) -> list[dict[str, Any]]:
    """One dict per solver: ``name``, ``kind``, ``description``, ``parameters`` (defaults).

    Parameters
    ----------
    kind
        ``"gradient"``, ``"evolutionary"`` or ``"hybrid"`` to list only that kind; ``None``
        for all.
    """
    if kind is not None and kind not in KINDS:
        raise ValueError(f"kind must be None or one of {', '.join(KINDS)}, got {kind!r}")
    return [
        {
            "name": e.name,
            "kind": e.meta["kind"],
            "description": e.description,
            "parameters": solver_parameters(e.name),
        }
        for e in SOLVERS.entries()
        if kind is None or e.meta["kind"] == kind
    ]


def solve(
    problem: Problem | str,
    method: str,
    *,
    budget: int | None = None,
    seed: int = 0,
    device: str | torch.device = "auto",
    progress: ProgressFn | None = None,
    **params: Any,
) -> Result:
    """Solve ``problem`` with solver ``method`` and return one :class:`Result`.

    Parameters
    ----------
    problem
        A :class:`~dse.problem.Problem` or a problem registry name (built with defaults).
    method
        A solver name from :func:`list_solvers`.
    budget
        Number of objective evaluations the run may use (one design's objective vector is
        one evaluation; gradient evaluations are counted apart). ``None`` uses the method's
        default: gradient sweeps ``n_points * max_steps`` (plus the exact checkpoint
        evaluations for mixed problems); evolutionary methods ``pop_size * 100``.
    seed
        Seed of every random choice of the run; same seed and parameters, same front.
    device
        Torch device for gradient sweeps (``"auto"``: CUDA when present). Evolutionary
        solvers evaluate on the CPU.
    progress
        Called as ``progress(n_evals, budget, hv, elapsed)`` while the run goes, at most
        every :data:`~dse.solvers._history.PROGRESS_EVERY` seconds at the solver's
        checkpoints: objective evaluations used, ``budget`` as given (``None``: the
        method's default), the hypervolume of the last checkpoint (``None`` before the
        first) and seconds since the run started. The run is the same with or without it.
    **params
        Method parameters; see :func:`solver_parameters`.

    Raises
    ------
    ValueError
        Unknown method or parameter (the message lists the valid ones), a budget too small
        for the method (the message gives the minimum), a problem without gradients given
        to a gradient method.
    """
    if isinstance(problem, str):
        problem = build_problem(problem)
    elif is_pymoo_problem(problem):
        problem = from_pymoo(problem)
    if not isinstance(problem, Problem):
        raise TypeError(
            "problem must be a dse.Problem, a pymoo Problem, a registry name or "
            f"module:Name, got {type(problem).__name__}"
        )
    key = SOLVERS.canonical(method)  # UnknownNameError (a ValueError) lists valid names
    reject_unknown(params, sorted(SOLVERS.parameters(key)), f"for solver {key!r}")
    if budget is not None:
        budget = whole_number("budget", budget, 1, MAX_BUDGET)
    seed = whole_number("seed", seed, 0, MAX_SEED)
    dev = resolve_device(device)
    t0 = time.perf_counter()
    report = None if progress is None else (
        lambda n, hv, t: progress(n, budget, hv, t))
    # Set even without a callback, so that a solve() inside another's run reports nothing.
    with reporting(report):
        result = SOLVERS.get(key)(problem, budget=budget, seed=int(seed), device=dev,
                                  **params)
    result.method = key
    result.wall_time = time.perf_counter() - t0
    if not len(result.front_F):
        warnings.warn(
            f"{key} on {problem.name}: no feasible design in {result.n_evals} evaluations "
            "(none had finite objectives and met the constraints); the result's front is "
            "empty (raise the budget, check the constraints' signs: G <= 0 is feasible, "
            "and where the objectives are NaN)",
            RuntimeWarning,
            stacklevel=2,
        )
    return result
