"""dse: multi-objective design-space exploration.

Define a problem once (:class:`dse.Problem`), solve it with gradient-based Pareto methods
or evolutionary solvers, and measure every front with the same indicators.
"""

from dse import problem
from dse.indicators import (
    epsilon_additive,
    gd,
    hypervolume,
    hypervolume_ratio,
    igd,
    igd_plus,
    normalise,
    reference_point,
    spacing,
)
from dse.pareto import nondominated, nondominated_front, pareto_rank

# Every public name of dse.problem is re-exported (see __all__ below): its own __all__ is the
# one list of them.
from dse.problem import *  # noqa: F403
from dse.registry import deprecated_names
from dse.result import Result

__all__ = [
    "Result",
    "epsilon_additive",
    "gd",
    "hypervolume",
    "hypervolume_ratio",
    "igd",
    "igd_plus",
    "nondominated",
    "nondominated_front",
    "normalise",
    "pareto_rank",
    "reference_point",
    "solve",  # noqa: F405 (not from the star import: loaded lazily by __getattr__ below)
    "spacing",
]
__all__ += problem.__all__

__version__ = "0.1.0"


def _lazy(name: str) -> object:
    # The solvers pull in pymoo; load them on first use so ``import dse`` stays light.
    if name == "solve":
        from dse.solvers import solve

        return solve
    raise AttributeError(f"module 'dse' has no attribute {name!r}")


# Old names, served with a DeprecationWarning for one release (see each new name's docstring).
__getattr__ = deprecated_names(
    __name__, {"normalize": "normalise", "pareto_front": "nondominated_front"}, otherwise=_lazy
)
