"""pymoo both ways: pymoo problems in dse, dse problems in pymoo, pymoo results in dse."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from pymoo.algorithms.moo.nsga2 import NSGA2, RankAndCrowding
from pymoo.core.mixed import MixedVariableGA
from pymoo.core.problem import ElementwiseProblem
from pymoo.core.problem import Problem as PymooBase
from pymoo.core.variable import Binary, Choice, Integer, Real
from pymoo.optimize import minimize
from pymoo.problems import get_problem as pymoo_problem

from dse.indicators import hypervolume_ratio
from dse.problem import get_problem
from dse.pymoo_bridge import from_pymoo, result_from_pymoo, to_pymoo
from dse.solvers import solve


class TorchFriendly(PymooBase):
    """ZDT1 written in operations numpy and torch share: differentiable through dse."""

    def __init__(self, n_var: int = 6) -> None:
        super().__init__(n_var=n_var, n_obj=2, n_ieq_constr=1, xl=0.0, xu=1.0)

    def _evaluate(self, x, out, *args, **kwargs) -> None:  # type: ignore[no-untyped-def]
        stack = torch.stack if isinstance(x, torch.Tensor) else np.stack
        f1 = x[:, 0]
        g = 1 + 9 * x[:, 1:].sum(1) / (self.n_var - 1)
        out["F"] = stack([f1, g * (1 - (f1 / g) ** 0.5)], 1)
        out["G"] = (x[:, 0] - 0.9)[:, None]


class Mixed(ElementwiseProblem):
    """pymoo's mixed-variable example shape: a binary, a choice, an integer, a real."""

    def __init__(self) -> None:
        super().__init__(vars={"b": Binary(), "c": Choice(options=["plain", "times10"]),
                               "n": Integer(bounds=(0, 2)), "z": Real(bounds=(0, 5))},
                         n_obj=2, n_ieq_constr=1)

    def _evaluate(self, X, out, *args, **kwargs) -> None:  # type: ignore[no-untyped-def]
        f = (X["z"] + X["n"]) * (100 if X["b"] else 1) * (10 if X["c"] == "times10" else 1)
        out["F"] = [f, (5 - X["z"]) ** 2 + X["n"]]
        out["G"] = [X["z"] - 4.5]


X6 = np.random.default_rng(0).random((7, 6))


def test_a_pymoo_problem_evaluates_like_pymoo() -> None:
    for name, kw in (("zdt1", {"n_var": 6}), ("dtlz2", {"n_var": 6, "n_obj": 3}),
                     ("bnh", {})):
        pp = pymoo_problem(name, **kw)
        dp = from_pymoo(pp)
        X = pp.xl + X6[:, : pp.n_var] * (pp.xu - pp.xl)
        want = pp.evaluate(X, return_as_dictionary=True)
        F, G = dp.evaluate(X, constraints=True)
        np.testing.assert_array_equal(F, want["F"])
        if pp.n_ieq_constr:
            np.testing.assert_array_equal(G, want["G"])
        assert dp.n_constr == pp.n_ieq_constr and dp.name == type(pp).__name__.lower()
        if pp.n_obj == 2:
            np.testing.assert_array_equal(dp.pareto_front(50), pp.pareto_front(50))
        else:  # pymoo needs reference directions here; on the unit sphere for DTLZ2
            front = dp.pareto_front(50)
            assert len(front) == 50
            np.testing.assert_allclose(np.linalg.norm(front, axis=1), 1.0)


def test_solve_takes_a_pymoo_problem() -> None:
    pp = pymoo_problem("zdt1", n_var=6)
    res = solve(pp, "nsga2", budget=2000, seed=0, pop_size=40)
    ours = solve(get_problem("zdt1", n_var=6), "nsga2", budget=2000, seed=0, pop_size=40)
    # The same maths through either door: the same front.
    np.testing.assert_allclose(res.front_F, ours.front_F, rtol=1e-12)
    assert res.n_evals == 2000 and res.problem == "zdt1"


def test_gradient_methods_on_pymoo_problems() -> None:
    res = solve(TorchFriendly(), "epo", budget=2000, seed=0, device="cpu")
    assert res.n_evals == 2000 and res.n_grad_evals > 0
    front = from_pymoo(pymoo_problem("zdt1", n_var=6)).pareto_front(200)
    feasible = res.front_F[res.front_F[:, 0] <= 0.9]
    assert hypervolume_ratio(feasible, front[front[:, 0] <= 0.9]) > 0.9
    assert (res.front_X[:, 0] <= 0.9 + 1e-9).all()
    # pymoo's own ZDT1 runs on numpy: a clear error naming an evolutionary method.
    with pytest.raises(TypeError, match=r"no gradient to follow.*'nsga2'"):
        solve(pymoo_problem("zdt1", n_var=6), "chebyshev", budget=500, seed=0, device="cpu")


def test_mixed_pymoo_problems_map_variables() -> None:
    dp = from_pymoo(Mixed())
    kinds = [type(v).__name__ for v in dp.variables]
    assert kinds == ["Integer", "Categorical", "Integer", "Real"]
    F, G = dp.evaluate(np.array([[1, 1, 2, 1.0], [0, 0, 0, 4.0]]), constraints=True)
    np.testing.assert_allclose(F, [[3000.0, 18.0], [4.0, 1.0]])
    np.testing.assert_allclose(G[:, 0], [-3.5, -0.5])
    res = solve(Mixed(), "nsga2", budget=600, seed=0, pop_size=30)
    assert res.n_evals == 600 and (res.front_X[:, :3] == np.round(res.front_X[:, :3])).all()
    # And a result of pymoo's own mixed-variable GA comes back in dse's numbers.
    pres = minimize(Mixed(), MixedVariableGA(pop_size=20, survival=RankAndCrowding()),
                    ("n_evals", 300), seed=0)
    r = result_from_pymoo(pres)
    assert r.n_evals == pres.algorithm.evaluator.n_eval and r.X.shape[1] == 4
    np.testing.assert_allclose(dp.evaluate(r.X), r.F)


def test_equality_constraints_and_other_objects_are_refused() -> None:
    with pytest.raises(ValueError, match=r"equality constraint.*\|h\(x\)\| - eps <= 0"):
        from_pymoo(PymooBase(n_var=2, n_obj=2, n_eq_constr=1, xl=0.0, xu=1.0))
    with pytest.raises(ValueError, match="finite bounds"):
        from_pymoo(PymooBase(n_var=2, n_obj=2))
    with pytest.raises(TypeError, match="from_pymoo takes a pymoo Problem, got ZDT1"):
        from_pymoo(get_problem("zdt1"))
    with pytest.raises(TypeError, match=r"a dse\.Problem, a pymoo Problem, a registry name"):
        solve(object(), "nsga2", budget=100)


def test_a_dse_problem_in_pymoo_minimize() -> None:
    p = get_problem("zdt1", n_var=6)
    with pytest.raises(TypeError, match=r"not a pymoo one: pass dse.pymoo_bridge.to_pymoo"):
        minimize(p, NSGA2(pop_size=20), ("n_gen", 2))
    pres = minimize(to_pymoo(p), NSGA2(pop_size=40), ("n_evals", 2000), seed=0)
    r = result_from_pymoo(pres, p)
    np.testing.assert_allclose(p.evaluate(pres.X), pres.F)  # pymoo saw dse's values
    assert r.problem == "zdt1" and r.n_evals == 2000 and r.method == "nsga2"
    assert r.objective_names == p.objective_names
    np.testing.assert_allclose(np.sort(r.front_F, 0), np.sort(pres.F, 0))
    assert hypervolume_ratio(r.front_F, p.pareto_front(200)) > 0.5


def test_mixed_dse_problems_are_snapped_for_pymoo() -> None:
    p = get_problem("welded_beam", discrete=True)
    pres = minimize(to_pymoo(p), NSGA2(pop_size=30), ("n_evals", 600), seed=0)
    r = result_from_pymoo(pres, p)
    assert r.n_evals == 600 and len(r.front_F)
    np.testing.assert_allclose(p.evaluate(r.X), r.F)  # snapped X are what was evaluated
    np.testing.assert_array_equal(p.snap(r.X), r.X)
