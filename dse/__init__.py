"""dse: multi-objective design-space exploration.

Define a problem once (:class:`dse.Problem`), solve it with gradient-based Pareto methods
or evolutionary solvers, and measure every front with the same indicators.
"""

from dse.problem import (
    PROBLEMS,
    Categorical,
    Integer,
    NonFiniteObjectiveWarning,
    Problem,
    Real,
    Variable,
    get_problem,
    list_problems,
    register_problem,
)

__all__ = [
    "PROBLEMS",
    "Categorical",
    "Integer",
    "NonFiniteObjectiveWarning",
    "Problem",
    "Real",
    "Variable",
    "get_problem",
    "list_problems",
    "register_problem",
]

__version__ = "0.1.0"
