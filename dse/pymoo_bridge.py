"""pymoo, both ways: a pymoo problem in dse, a dse problem in pymoo, pymoo results in dse.

* :func:`from_pymoo` wraps a pymoo ``Problem`` as a :class:`~dse.problem.Problem`, so
  :func:`dse.solvers.solve` (which calls it for you) and every dse method can run it. The
  evolutionary methods always can; the gradient methods when the pymoo problem's
  ``_evaluate`` is written in operations torch can differentiate (otherwise the sweep says
  so and names an evolutionary method). Mixed-variable pymoo problems (``vars`` of
  ``Real``, ``Integer``, ``Choice``, ``Binary``) map to dse variables of the same kinds.
* :func:`to_pymoo` wraps a dse problem as a pymoo ``Problem`` for
  ``pymoo.optimize.minimize``; integer, categorical and table variables are snapped to
  exact designs (:meth:`~dse.problem.Problem.snap`) before each evaluation.
* :func:`result_from_pymoo` turns a pymoo ``Result`` into a :class:`~dse.result.Result`,
  so pymoo's fronts are measured and compared with the same indicators as dse's.
"""

from __future__ import annotations

from typing import Any

import numpy as np
from pymoo.core.problem import Problem as _PymooProblem
from torch import Tensor

from dse.problem import Categorical, Integer, Problem, Real, Variable
from dse.result import Result

__all__ = ["from_pymoo", "is_pymoo_problem", "result_from_pymoo", "to_pymoo"]


def is_pymoo_problem(obj: Any) -> bool:
    """True for instances of pymoo's ``Problem`` (and not of dse's)."""
    return isinstance(obj, _PymooProblem)


# ---------------------------------------------------------------------- pymoo -> dse
def _variables(p: Any) -> tuple[list[Variable], list[tuple[str, tuple[Any, ...]]]]:
    """dse variables of pymoo problem ``p``, and for mixed ones each column's pymoo kind."""
    mixed = getattr(p, "vars", None)
    if mixed:
        from pymoo.core.variable import Binary, Choice
        from pymoo.core.variable import Integer as PInteger
        from pymoo.core.variable import Real as PReal

        out: list[Variable] = []
        kinds: list[tuple[str, tuple[Any, ...]]] = []
        for key, var in mixed.items():
            if isinstance(var, PReal):
                out.append(Real(str(key), *map(float, var.bounds)))
                kinds.append((str(key), ()))
            elif isinstance(var, PInteger):
                out.append(Integer(str(key), *map(int, var.bounds)))
                kinds.append((str(key), ()))
            elif isinstance(var, Binary):
                out.append(Integer(str(key), 0, 1))
                kinds.append((str(key), (False, True)))
            elif isinstance(var, Choice):
                options = tuple(var.options)
                out.append(Categorical(str(key), tuple(str(o) for o in options)))
                kinds.append((str(key), options))
            else:
                raise TypeError(f"pymoo variable {key!r} of type {type(var).__name__} has "
                                "no dse counterpart (Real, Integer, Choice, Binary do)")
        return out, kinds
    xl = np.broadcast_to(np.asarray(p.xl, float), (p.n_var,))
    xu = np.broadcast_to(np.asarray(p.xu, float), (p.n_var,))
    if not (np.isfinite(xl).all() and np.isfinite(xu).all()):
        raise ValueError(f"pymoo problem {type(p).__name__} needs finite bounds xl, xu for "
                         "dse (every dse variable lives in a box)")
    return [Real(f"x{i + 1}", float(lo), float(hi)) for i, (lo, hi) in
            enumerate(zip(xl, xu, strict=True))], []


class PymooProblem(Problem):
    """A pymoo ``Problem`` as a dse :class:`~dse.problem.Problem`; see :func:`from_pymoo`."""

    def __init__(self, problem: Any, *, name: str | None = None) -> None:
        if not is_pymoo_problem(problem):
            raise TypeError(f"from_pymoo takes a pymoo Problem, got {type(problem).__name__}")
        if getattr(problem, "n_eq_constr", 0):
            raise ValueError(
                f"pymoo problem {type(problem).__name__} has {problem.n_eq_constr} equality "
                "constraint(s); dse takes inequalities g(x) <= 0: write h(x) = 0 as "
                "|h(x)| - eps <= 0"
            )
        variables, self._kinds = _variables(problem)
        super().__init__(variables, problem.n_obj, getattr(problem, "n_ieq_constr", 0))
        self.pymoo_problem = problem
        self.name = name or type(problem).__name__.lower()

    def _evaluate(self, x: Tensor) -> Any:
        if x.requires_grad and not self._kinds and not self.pymoo_problem.elementwise:
            out = self._torch_route(x)
            if out is not None:
                return out
        flat = x.detach().reshape(-1, self.n_var).cpu().numpy()
        values: Any = flat
        if self._kinds:  # pymoo's mixed problems take one dict per design
            values = np.array([self._as_dict(row) for row in flat], dtype=object)
        res = self.pymoo_problem.evaluate(values, return_as_dictionary=True)
        lead = tuple(x.shape[:-1])
        F = np.asarray(res["F"], float).reshape(*lead, self.n_obj)
        if not self.n_constr:
            return F
        return F, np.asarray(res["G"], float).reshape(*lead, self.n_constr)

    def _torch_route(self, x: Tensor) -> Any:
        # pymoo problems written in array operations torch also has run on tensors, and
        # then give gradients; any failure means "numpy only", and the numpy route answers.
        out: dict[str, Any] = {}
        try:
            self.pymoo_problem._evaluate(x.reshape(-1, self.n_var), out)
        except Exception:
            return None
        F = out.get("F")
        if not isinstance(F, Tensor) or not F.requires_grad:
            return None
        lead = tuple(x.shape[:-1])
        F = F.reshape(*lead, self.n_obj)
        if not self.n_constr:
            return F
        G = out.get("G")
        if not isinstance(G, Tensor):
            return None
        return F, G.reshape(*lead, self.n_constr)

    def _as_dict(self, row: np.ndarray) -> dict[str, Any]:
        d: dict[str, Any] = {}
        for (key, options), var, value in zip(self._kinds, self.variables, row, strict=True):
            if options:
                d[key] = options[round(float(value))]
            elif isinstance(var, Integer):
                d[key] = round(float(value))
            else:
                d[key] = float(value)
        return d

    def pareto_front(self, n: int = 100) -> np.ndarray | None:
        front = None
        try:
            front = self.pymoo_problem.pareto_front(n)
        except Exception:  # pymoo raises when a problem has no known front, or needs
            pass          # reference directions for it (DTLZ, WFG with 3+ objectives)
        if front is None and self.n_obj >= 3:
            from pymoo.util.ref_dirs import get_reference_directions

            dirs = get_reference_directions("energy", self.n_obj, max(n, self.n_obj), seed=1)
            try:
                front = self.pymoo_problem.pareto_front(ref_dirs=dirs)
            except Exception:
                return None
        if front is None or len(front) == 0:
            return None
        return np.atleast_2d(np.asarray(front, float))


def from_pymoo(problem: Any, *, name: str | None = None) -> PymooProblem:
    """A pymoo ``Problem`` as a dse problem (named after its class unless ``name``)."""
    return PymooProblem(problem, name=name)


# ---------------------------------------------------------------------- dse -> pymoo
class DseProblem(_PymooProblem):
    """A dse problem as a vectorised pymoo ``Problem``; see :func:`to_pymoo`."""

    def __init__(self, problem: Problem) -> None:
        if not isinstance(problem, Problem):
            raise TypeError(f"to_pymoo takes a dse Problem, got {type(problem).__name__}")
        self.dse_problem = problem
        all_int = all(isinstance(v, Integer | Categorical) for v in problem.variables)
        super().__init__(n_var=problem.n_var, n_obj=problem.n_obj,
                         n_ieq_constr=problem.n_constr, xl=problem.bounds()[0],
                         xu=problem.bounds()[1], vtype=int if all_int else float)

    def _evaluate(self, X: np.ndarray, out: dict[str, Any], *args: Any, **kwargs: Any) -> None:
        F, G = self.dse_problem.evaluate(self.dse_problem.snap(np.asarray(X, float)),
                                         constraints=True)
        out["F"] = F
        if self.dse_problem.n_constr:
            out["G"] = G

    def _calc_pareto_front(self, n_pareto_points: int = 100, **kwargs: Any) -> Any:
        return self.dse_problem.pareto_front(n_pareto_points)


def to_pymoo(problem: Problem) -> DseProblem:
    """A dse problem for ``pymoo.optimize.minimize`` (evaluations snapped to exact designs)."""
    return DseProblem(problem)


# ---------------------------------------------------------------------- results
def result_from_pymoo(
    res: Any, problem: Problem | Any | None = None, *, method: str | None = None,
) -> Result:
    """A pymoo ``Result`` as a dse :class:`~dse.result.Result`, without new evaluations.

    The final population's designs and values are kept (``Result.front_F`` is then
    pymoo's non-dominated set); ``n_evals`` is pymoo's evaluation count. ``problem`` (dse
    or pymoo, default ``res.problem``) gives names and labels; designs of a mixed dse
    problem are snapped as :func:`to_pymoo` evaluated them.
    """
    if not hasattr(res, "algorithm") or not hasattr(res, "F"):
        raise TypeError(f"result_from_pymoo takes a pymoo Result, got {type(res).__name__}")
    given = problem if problem is not None else getattr(res, "problem", None)
    if isinstance(given, DseProblem):
        given = given.dse_problem
    dse_problem = given if isinstance(given, Problem) else (
        from_pymoo(given) if is_pymoo_problem(given) else None)
    pop = getattr(res, "pop", None)
    source = pop if pop is not None and len(pop) else res.opt
    if source is None or len(source) == 0:
        X, F, G = np.zeros((0, 0)), np.zeros((0, 0)), np.zeros((0, 0))
    else:
        X, F, G = (np.asarray(source.get(k)) for k in ("X", "F", "G"))
    if X.dtype == object:  # mixed pymoo problems hold one dict per design
        assert isinstance(dse_problem, PymooProblem)
        X = np.array([[_code(dse_problem, k, row[k]) for k, _ in dse_problem._kinds]
                      for row in X], float)
    n_var = dse_problem.n_var if dse_problem is not None else X.shape[-1]
    X = np.asarray(X, float).reshape(-1, n_var)
    if dse_problem is not None and dse_problem.is_mixed and len(X) and \
            not isinstance(dse_problem, PymooProblem):
        X = dse_problem.snap(X)
    algorithm = res.algorithm
    evaluator = getattr(algorithm, "evaluator", None)
    kwargs: dict[str, Any] = {}
    if dse_problem is not None:
        kwargs = {"variable_names": dse_problem.variable_names,
                  "objective_names": dse_problem.objective_names,
                  "constraint_names": dse_problem.constraint_names}
    seed = getattr(algorithm, "seed", None)
    return Result(
        problem=dse_problem.name if dse_problem is not None else "pymoo",
        method=method or type(algorithm).__name__.lower(),
        seed=int(seed) if seed is not None else 0,
        X=X, F=np.asarray(F, float).reshape(len(X), -1),
        G=np.asarray(G, float).reshape(len(X), -1) if G is not None and np.size(G) else
        np.zeros((len(X), 0)),
        n_evals=int(getattr(evaluator, "n_eval", 0) or 0),
        wall_time=float(getattr(res, "exec_time", 0.0) or 0.0),
        config={"source": "pymoo", "algorithm": type(algorithm).__name__},
        **kwargs,
    )


def _code(problem: PymooProblem, key: str, value: Any) -> float:
    """A mixed pymoo design's value in dse's numbers (a choice's index)."""
    options = dict(problem._kinds)[key]
    if options:
        return float(list(options).index(value))
    return float(value)

