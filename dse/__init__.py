"""dse: multi-objective design-space exploration.

Define a problem once (:class:`dse.Problem`), solve it with gradient-based Pareto methods
or evolutionary solvers, and measure every front with the same indicators.
"""

from dse.indicators import (
    epsilon_additive,
    gd,
    hypervolume,
    hypervolume_ratio,
    igd,
    igd_plus,
    normalize,
    reference_point,
    spacing,
)
from dse.pareto import nondominated, pareto_front, pareto_rank
from dse.problem import (
    PROBLEMS,
    Categorical,
    FunctionProblem,
    Integer,
    NonFiniteObjectiveWarning,
    Problem,
    Real,
    Table,
    Variable,
    get_problem,
    list_problems,
    register_problem,
)
from dse.result import Result

__all__ = [
    "PROBLEMS",
    "Categorical",
    "FunctionProblem",
    "Integer",
    "NonFiniteObjectiveWarning",
    "Problem",
    "Real",
    "Result",
    "Table",
    "Variable",
    "epsilon_additive",
    "gd",
    "get_problem",
    "hypervolume",
    "hypervolume_ratio",
    "igd",
    "igd_plus",
    "list_problems",
    "nondominated",
    "normalize",
    "pareto_front",
    "pareto_rank",
    "reference_point",
    "register_problem",
    "solve",
    "spacing",
]

__version__ = "0.1.0"


def __getattr__(name: str) -> object:
    # The solvers pull in pymoo; load them on first use so ``import dse`` stays light.
    if name == "solve":
        from dse.solvers import solve

        return solve
    raise AttributeError(f"module 'dse' has no attribute {name!r}")
