"""The sweep configuration's schema: the typed dataclasses behind every ``key=value``
override (each key with a type, a default and a help text), the per-problem defaults table
and :class:`ConfigError`. Re-exported by :mod:`dse.config`."""

from __future__ import annotations

import os
from dataclasses import dataclass, field
from typing import Any

__all__ = [
    "PROBLEM_DEFAULTS",
    "ConfigError",
    "DiagnoseConfig",
    "ExecutorConfig",
    "ProblemConfig",
    "ProblemDefaults",
    "SolverConfig",
    "SweepConfig",
    "problem_defaults",
    "quick_mode",
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
