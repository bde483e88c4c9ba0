"""pymoo evolutionary solvers and a random-search baseline behind :func:`dse.solvers.solve`.

Evaluation
----------
The :class:`~dse.problem.Problem` is wrapped in a pymoo ``Problem`` with
``elementwise=False``, so every generation's offspring are evaluated in one call of the
vectorised :meth:`~dse.problem.Problem.evaluate` (MOEA/D uses pymoo's ``ParallelMOEAD``
for the same reason). Constraints are passed to pymoo as inequality constraints ``G <= 0``
(pymoo's MOEA/D has no constraint handling: for it the total violation is added to every
objective as a penalty; the archive and the result keep the exact ``F`` and ``G``).
The wrapper counts every evaluated design and feeds the run's archive; a callback records
the archive hypervolume once per generation.

Algorithms
----------
:data:`ALGORITHMS` holds one :class:`Algorithm` per method: how to build the pymoo object
from the shared operators, its description, its own parameters and whether pymoo handles
its constraints. Every entry is registered as a solver of kind ``"evolutionary"``, so a new
algorithm is one builder function and one entry of that table.

Budget
------
``pop_size`` designs are evaluated at initialisation and ``n_offsprings`` (= ``pop_size``)
per generation, so a budget ``b`` gives ``1 + (b - pop_size) // pop_size`` generations; the
run never exceeds the budget (duplicate elimination may leave it slightly under). The
minimum is two populations (initialisation and one generation). NSGA-III and MOEA/D take
their population from a Das-Dennis set of at most ``pop_size`` reference directions.

Integer and categorical variables
---------------------------------
They are searched in their integer encoding (a categorical is the index of its choice):
sampling draws exact designs with :meth:`~dse.problem.Problem.sample`, SBX and polynomial
mutation act on the box with the small distribution index (``eta = 3``) pymoo recommends
for integer-coded variables, and a repair rounds the discrete columns and applies the
problem's own :meth:`~dse.problem.Problem.repair`. This works unchanged for all six
algorithms, whereas pymoo's mixed-variable mating only plugs into some of them; the price
is that categorical indices are treated as ordered, which the coarse mutation (eta = 3
jumps across many indices) makes tolerable.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import torch
from pymoo.core.callback import Callback
from pymoo.core.problem import Problem as PymooProblem
from pymoo.core.repair import Repair
from pymoo.core.sampling import Sampling
from pymoo.operators.crossover.sbx import SBX
from pymoo.operators.mutation.pm import PM
from pymoo.optimize import minimize

from dse.checks import whole_number
from dse.problem import Categorical, Integer, Problem, Table
from dse.solvers._api import register_solver
from dse.solvers._history import RunRecorder
from dse.solvers._preferences import das_dennis, das_dennis_partitions

__all__ = ["ALGORITHMS", "Algorithm", "run_evolutionary", "run_random"]

# Objective (and constraint) value pymoo sees in place of NaN/inf, so its sorting never
# meets NaN; such designs never reach the archive, which keeps the true values. Finite,
# because inf turns pymoo's normalisation and crowding distances into NaN; far beyond any
# real objective, so every finite design dominates it, yet small enough that squares and
# sums of it stay finite in float64. ``_exact_values`` reads values above half of it as NaN.
_BAD = 1e30

# Probability that a mating pair is recombined by SBX (the rest pass to mutation as they
# are): pymoo's default and the setting of Deb's NSGA-II.
_CROSSOVER_PROB = 0.9
# SBX and polynomial-mutation distribution indices on real variables: pymoo's defaults
# (larger means children nearer their parents; mutation steps finer than crossover's).
_ETA_CROSSOVER = 15.0
_ETA_MUTATION = 20.0
# Both indices on mixed (integer-coded) problems: the small index pymoo recommends for
# integer variables spreads children widely enough that they still differ from their
# parents after rounding (see the module doc).
_ETA_MIXED = 3.0
# MOEA/D: neighbourhood size T (capped by the number of reference directions) and the
# probability of mating within it rather than across the population; pymoo's defaults,
# from Zhang & Li (2007).
_MOEAD_NEIGHBOURS = 20
_MOEAD_NEIGHBOUR_MATING = 0.9


class _Wrapped(PymooProblem):
    """A dse Problem as a vectorised pymoo problem that counts and archives evaluations.

    Every batch is evaluated as numpy input is (under ``torch.no_grad``; not
    ``inference_mode``, whose tensors a problem might cache and a hybrid's gradient stage
    could then not differentiate). The first batch (the initial population, which may hold
    given designs) is validated as any caller's would be; later batches, the offspring,
    are not for problems without a repair (all variables real, no repair of their own):
    SBX and polynomial mutation clip every design into the box, and on cheap problems the
    validation cost as much as the evaluation. With a repair (integer, categorical and
    table variables, or the problem's own) every batch is validated.
    """

    def __init__(self, problem: Problem, rec: RunRecorder, *, penalise: bool) -> None:
        self.dse_problem = problem
        self.rec = rec
        self.penalise = penalise
        self.n_batches = 0
        self.offspring_in_box = not _needs_repair(problem)
        # Exact (F, G) by design, kept only when pymoo sees penalised objectives, so the
        # final population can be reported exactly without evaluating it again.
        self.exact: dict[bytes, tuple[np.ndarray, np.ndarray]] = {}
        super().__init__(
            n_var=problem.n_var,
            n_obj=problem.n_obj,
            n_ieq_constr=0 if penalise else problem.n_constr,
            xl=np.asarray(problem.xl, float),
            xu=np.asarray(problem.xu, float),
            elementwise=False,
        )

    def _evaluate(self, X: np.ndarray, out: dict[str, Any], *args: Any, **kwargs: Any) -> None:
        X = np.asarray(X, dtype=float)
        # Offspring of in-box operators need no validation; the first population is checked.
        # (evaluate works on a copy of X, so a problem that writes into its input cannot
        # change pymoo's array.)
        F, G = self.dse_problem.evaluate(
            X, constraints=True, check=self.n_batches == 0 or not self.offspring_in_box)
        self.n_batches += 1
        self.rec.count(len(X))
        self.rec.add(X, F, G)
        if self.penalise:
            for x, f, g in zip(X, F, G, strict=True):
                self.exact[np.ascontiguousarray(x).tobytes()] = (f, g)
        # pymoo's comparisons meet NaN as None and fail: a NaN constraint is a violation.
        if not np.isfinite(G).all():
            G = np.where(np.isfinite(G), G, _BAD)
        if not np.isfinite(F).all():
            F = np.where(np.isfinite(F), F, _BAD)
        if self.penalise:
            F = F + np.maximum(G, 0.0).sum(axis=1, keepdims=True)
        elif self.dse_problem.n_constr:
            out["G"] = G
        out["F"] = F


class _ExactSampling(Sampling):
    """Initial designs from :meth:`Problem.sample` (integers and choices uniform), after
    the given ``initial`` designs (a hybrid's first stage), which come first."""

    def __init__(self, initial: np.ndarray | None = None) -> None:
        super().__init__()
        if initial is not None:
            # Repeated designs would be dropped by pymoo's duplicate elimination, leaving
            # the first population short (and the budget not fully used): keep each once.
            initial = np.asarray(initial, dtype=float)
            _, first = np.unique(initial, axis=0, return_index=True)
            initial = initial[np.sort(first)]
        self.initial = initial

    def _do(self, problem: Any, n_samples: int, *args: Any, random_state: Any = None,
            **kwargs: Any) -> np.ndarray:
        given = self.initial[:n_samples] if self.initial is not None else np.zeros((0, 0))
        if len(given) == n_samples:
            return given.copy()
        rest = problem.dse_problem.sample(n_samples - len(given), seed=random_state)
        return np.concatenate([given.reshape(-1, rest.shape[1]), rest])


class _ExactRepair(Repair):
    """Round integer and categorical columns into their bounds, move table columns to the
    nearest table value, then apply the problem's own repair."""

    def _do(self, problem: Any, X: np.ndarray, **kwargs: Any) -> np.ndarray:
        p: Problem = problem.dse_problem
        X = np.array(X, dtype=float)
        integral = p.kind_mask(Integer) | p.kind_mask(Categorical)
        X[:, integral] = np.clip(np.round(X[:, integral]), p.xl[integral], p.xu[integral])
        for i, v in enumerate(p.variables):
            if isinstance(v, Table):
                table = np.asarray(v.values)
                X[:, i] = table[np.abs(X[:, i, None] - table).argmin(axis=1)]
        return p.repair(torch.from_numpy(X)).numpy()


class _HistoryCallback(Callback):
    def __init__(self, rec: RunRecorder) -> None:
        super().__init__()
        self.rec = rec

    def notify(self, algorithm: Any) -> None:
        self.rec.checkpoint()


def _needs_repair(problem: Problem) -> bool:
    return problem.is_mixed or type(problem).repair is not Problem.repair


def _operators(problem: Problem, eta_c: float | None, eta_m: float | None,
               initial: np.ndarray | None = None) -> dict[str, Any]:
    mixed = problem.is_mixed
    if eta_c is None:
        eta_c = _ETA_MIXED if mixed else _ETA_CROSSOVER
    if eta_m is None:
        eta_m = _ETA_MIXED if mixed else _ETA_MUTATION
    ops: dict[str, Any] = {"sampling": _ExactSampling(initial)}
    ops["crossover"] = SBX(prob=_CROSSOVER_PROB, eta=eta_c)
    ops["mutation"] = PM(eta=eta_m)
    if _needs_repair(problem):
        ops["repair"] = _ExactRepair()
    return ops


#: ``build(problem, pop_size, params, ops) -> (algorithm, population size)``: the pymoo
#: algorithm made with the operators ``ops`` (sampling, crossover, mutation and, when the
#: problem needs one, repair; see ``_operators``) and the run's ``params`` (the entry's
#: defaults filled in).
Builder = Callable[[Problem, int, dict[str, Any], dict[str, Any]], tuple[Any, int]]


@dataclass(frozen=True)
class Algorithm:
    """One pymoo algorithm behind :func:`dse.solvers.solve` (an entry of :data:`ALGORITHMS`).

    Attributes
    ----------
    build
        A :data:`Builder`. pymoo is imported inside it, so that an algorithm whose optional
        dependency is missing fails only when it is used.
    description
        One line, shown by :func:`dse.solvers.list_solvers`.
    defaults
        Its own parameters and their defaults, beyond the shared ``pop_size``, ``eta_c``
        and ``eta_m``.
    constraints
        Whether pymoo's algorithm handles inequality constraints; when not, the total
        violation is added to every objective (the archive keeps the exact values).
    """

    build: Builder
    description: str
    defaults: Mapping[str, Any] = field(default_factory=dict)
    constraints: bool = True


def _reference_directions(problem: Problem, pop_size: int) -> np.ndarray:
    """Das-Dennis directions, at most ``pop_size`` of them (NSGA-III and MOEA/D)."""
    return das_dennis(das_dennis_partitions(pop_size, problem.n_obj), problem.n_obj)


def _nsga2(problem: Problem, pop_size: int, params: dict[str, Any],
           ops: dict[str, Any]) -> tuple[Any, int]:
    from pymoo.algorithms.moo.nsga2 import NSGA2

    return NSGA2(pop_size=pop_size, **ops), pop_size


def _nsga3(problem: Problem, pop_size: int, params: dict[str, Any],
           ops: dict[str, Any]) -> tuple[Any, int]:
    from pymoo.algorithms.moo.nsga3 import NSGA3

    ref_dirs = _reference_directions(problem, pop_size)
    return NSGA3(ref_dirs=ref_dirs, pop_size=len(ref_dirs), **ops), len(ref_dirs)


def _moead(problem: Problem, pop_size: int, params: dict[str, Any],
           ops: dict[str, Any]) -> tuple[Any, int]:
    from pymoo.algorithms.moo.moead import ParallelMOEAD

    ref_dirs = _reference_directions(problem, pop_size)
    ops = dict(ops)
    algo = ParallelMOEAD(
        ref_dirs=ref_dirs,
        n_neighbors=min(int(params["n_neighbors"]), len(ref_dirs)),
        prob_neighbor_mating=params["prob_neighbor_mating"],
        repair=ops.pop("repair", None),
        **ops,
    )
    if params.get("n_offsprings") is None:
        # One child per subproblem and generation, as the budget arithmetic counts.
        algo.n_offsprings = len(ref_dirs)
    return algo, len(ref_dirs)


def _smsemoa(problem: Problem, pop_size: int, params: dict[str, Any],
             ops: dict[str, Any]) -> tuple[Any, int]:
    from pymoo.algorithms.moo.sms import SMSEMOA

    return SMSEMOA(pop_size=pop_size, **ops), pop_size


def _agemoea2(problem: Problem, pop_size: int, params: dict[str, Any],
              ops: dict[str, Any]) -> tuple[Any, int]:
    try:
        from pymoo.algorithms.moo.age2 import AGEMOEA2
    except Exception as exc:  # pymoo raises a bare Exception when numba is missing
        raise ValueError(
            "method 'agemoea2' needs the optional package numba (pymoo's AGE-MOEA-II is "
            "compiled with it); install numba or use another method"
        ) from exc
    return AGEMOEA2(pop_size=pop_size, **ops), pop_size


#: Every evolutionary method by name; each is registered as a solver (see ``_register``).
ALGORITHMS: dict[str, Algorithm] = {
    "nsga2": Algorithm(
        _nsga2, "NSGA-II (pymoo): non-dominated sorting and crowding distance."),
    "nsga3": Algorithm(
        _nsga3, "NSGA-III (pymoo): reference-direction niching, Das-Dennis directions."),
    "moead": Algorithm(
        _moead, "MOEA/D (pymoo, batched ParallelMOEAD): Tchebycheff decomposition.",
        defaults={"n_neighbors": _MOEAD_NEIGHBOURS,
                  "prob_neighbor_mating": _MOEAD_NEIGHBOUR_MATING},
        constraints=False),
    "smsemoa": Algorithm(
        _smsemoa, "SMS-EMOA (pymoo): hypervolume-contribution survival."),
    "agemoea2": Algorithm(
        _agemoea2, "AGE-MOEA-II (pymoo): adaptive geometry estimation."),
}


def _algorithm(method: str) -> Algorithm:
    if method not in ALGORITHMS:
        raise ValueError(f"unknown evolutionary algorithm {method!r}; valid: "
                         f"{', '.join(ALGORITHMS)}")
    return ALGORITHMS[method]


def _build(
    method: str, problem: Problem, pop_size: int, params: dict[str, Any],
    initial: np.ndarray | None = None,
) -> tuple[Any, int]:
    """The pymoo algorithm of ``method`` and its population size."""
    algorithm = _algorithm(method)
    ops = _operators(problem, params.get("eta_c"), params.get("eta_m"), initial)
    return algorithm.build(problem, pop_size, {**algorithm.defaults, **params}, ops)


def run_evolutionary(
    method: str, problem: Problem, *, budget: int | None, seed: int, pop_size: int = 100,
    recorder: RunRecorder | None = None, initial: np.ndarray | None = None, **params: Any,
) -> Any:
    """Run pymoo algorithm ``method`` within ``budget`` evaluations; see the module doc.

    ``recorder`` continues another run's counts, archive and history (a hybrid's second
    stage); ``budget`` is then this stage's share. ``initial`` designs make up the first
    population (the rest is drawn at random).
    """
    algorithm = _algorithm(method)
    pop_size = whole_number("pop_size", pop_size, 4)
    rec = RunRecorder(problem) if recorder is None else recorder
    penalise = not algorithm.constraints and problem.n_constr > 0
    wrapped = _Wrapped(problem, rec, penalise=penalise)
    algo, n_pop = _build(method, problem, int(pop_size), params, initial)
    if budget is None:
        budget = n_pop * 100
    if budget < 2 * n_pop:
        raise ValueError(
            f"budget {budget} is too small for {method!r} with population {n_pop}: it needs "
            f"at least {2 * n_pop} evaluations (initial population and one generation); "
            "lower pop_size or raise the budget"
        )
    n_gen = 1 + (budget - n_pop) // n_pop
    res = minimize(
        wrapped, algo, ("n_gen", n_gen), seed=int(seed), callback=_HistoryCallback(rec),
        verbose=False, copy_algorithm=False,
    )
    pop = res.pop
    X = np.asarray(pop.get("X"), float)
    F, G = _exact_values(problem, X, pop, wrapped)
    config = {"pop_size": n_pop, "n_gen": n_gen, "budget": int(budget), **params,
              "stop_reason": "budget"}
    return rec.result(method, seed, (X, F, G), config)


def _exact_values(problem: Problem, X: np.ndarray, pop: Any, wrapped: _Wrapped) -> tuple[Any, Any]:
    """Exact ``F, G`` of the final population, undoing the NaN and penalty stand-ins."""
    if wrapped.penalise:
        pairs = [wrapped.exact[np.ascontiguousarray(x).tobytes()] for x in X]
        return np.array([f for f, _ in pairs]), np.array([g for _, g in pairs])
    F = np.asarray(pop.get("F"), float)
    if problem.n_constr == 0:
        G = np.zeros((len(X), 0))
    else:
        G = np.asarray(pop.get("G"), float).reshape(len(X), problem.n_constr)
    F = np.where(F >= _BAD * 0.5, np.nan, F)
    return F, G


def run_random(
    problem: Problem, *, budget: int | None, seed: int, batch_size: int = 100
) -> Any:
    """Random search: uniform exact designs, evaluated ``batch_size`` at a time."""
    if int(batch_size) != batch_size or batch_size < 1:
        raise ValueError(f"batch_size must be an integer >= 1, got {batch_size!r}")
    if budget is None:
        budget = batch_size * 100
    rng = np.random.default_rng(seed)
    rec = RunRecorder(problem)
    X = F = G = None
    while rec.n_evals < budget:
        n = min(batch_size, budget - rec.n_evals)
        X = problem.sample(n, seed=rng)
        F, G = problem.evaluate(X, constraints=True)
        rec.count(n)
        rec.add(X, F, G)
        rec.checkpoint()
    config = {"batch_size": int(batch_size), "budget": int(budget), "stop_reason": "budget"}
    return rec.result("random", seed, (X, F, G), config)


# ---------------------------------------------------------------------- registry entries
def _register(method: str) -> None:
    """Register ``ALGORITHMS[method]`` as a solver of kind ``"evolutionary"``."""
    algorithm = ALGORITHMS[method]
    defaults: dict[str, Any] = {"pop_size": 100, "eta_c": None, "eta_m": None,
                                **algorithm.defaults}

    def solver(problem: Problem, *, budget: int | None, seed: int, device: Any,
               **params: Any) -> Any:
        merged = {**defaults, **params}
        pop_size = merged.pop("pop_size")
        return run_evolutionary(method, problem, budget=budget, seed=seed,
                                pop_size=pop_size, **merged)

    register_solver(method, solver, kind="evolutionary", defaults=defaults,
                    description=algorithm.description)


for _m in ALGORITHMS:
    _register(_m)


def _random_solver(problem: Problem, *, budget: int | None, seed: int, device: Any,
                   batch_size: int = 100) -> Any:
    return run_random(problem, budget=budget, seed=seed, batch_size=batch_size)


register_solver("random", _random_solver, kind="evolutionary", defaults={"batch_size": 100},
                description="Random search baseline: uniform designs in batches.")
