"""Solvers behind one entry point: gradient Pareto sweeps and pymoo evolutionary methods.

::

    from dse.solvers import solve, list_solvers, solver_parameters
    res = solve("zdt1", "chebyshev", budget=20_000, seed=0)      # batched gradient sweep
    res = solve("zdt1", "nsga2", budget=20_000, seed=0)          # pymoo NSGA-II
    res.front_F, res.history, res.to_frame()

Gradient sweeps (kind ``"gradient"``): ``weighted_sum``, ``chebyshev``, ``mgda``, ``cagrad``,
``epo`` and ``gradient`` (any weighting of :mod:`dse.gradient`, ``weighting="upgrad"``).
Evolutionary (kind ``"evolutionary"``): ``nsga2``, ``nsga3``, ``moead``, ``smsemoa``,
``agemoea2`` and ``random`` (random search baseline). Hybrid (kind ``"hybrid"``):
``hybrid`` (NSGA-II, then a sweep seeded from its archive). Every method returns a
:class:`dse.result.Result` whose designs are exactly evaluated, with evaluation counts and
a hypervolume history measured the same way for all.
"""

from dse.solvers import _evolutionary, _gradient, _hybrid  # noqa: F401  (register the solvers)
from dse.solvers._api import (
    SOLVERS,
    list_solvers,
    register_solver,
    resolve_device,
    solve,
    solver_parameters,
)
from dse.solvers._preferences import das_dennis, preference_vectors, random_simplex

__all__ = [
    "SOLVERS",
    "das_dennis",
    "list_solvers",
    "preference_vectors",
    "random_simplex",
    "register_solver",
    "resolve_device",
    "solve",
    "solver_parameters",
]
