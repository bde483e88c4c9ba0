"""A user's own problem: what ``_evaluate`` may return, and clear errors for the rest."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from test_solvers import NeverFeasible

from dse.problem import Problem, Real
from dse.solvers import solve


class UserProblem(Problem):
    """Two objectives of two reals; ``mode`` picks what ``_evaluate`` returns."""

    name = "user_problem"

    def __init__(self, mode: str = "torch", n_constr: int = 0) -> None:
        super().__init__([Real("a", 0.0, 1.0), Real("b", 0.0, 1.0)], n_obj=2,
                         n_constr=n_constr)
        self.mode = mode

    def _evaluate(self, x: torch.Tensor) -> object:
        F = torch.stack([x[..., 0], 1.0 - x[..., 0] + x[..., 1] ** 2], -1)
        G = (x[..., 0] + x[..., 1] - 1.5)[..., None]
        out = {
            "torch": F, "float32": F.float(), "numpy": F.detach().numpy(),
            "list": F.detach().tolist(), "short": F[..., :1], "text": "F",
            "pair": (F, G), "pair_flat": (F, G[..., 0]), "three": (F, G, G),
        }[self.mode]
        return out


X = np.random.default_rng(0).random((6, 2))
EXPECTED = np.stack([X[:, 0], 1.0 - X[:, 0] + X[:, 1] ** 2], 1)


@pytest.mark.parametrize("mode", ["float32", "numpy", "list"])
def test_other_output_types_are_converted(mode: str) -> None:
    F = UserProblem(mode).evaluate(X)
    assert F.dtype == np.float64
    np.testing.assert_allclose(F, EXPECTED, rtol=1e-6)
    Ft = UserProblem(mode).evaluate(torch.tensor(X))
    assert Ft.dtype == torch.float64
    np.testing.assert_allclose(Ft.numpy(), EXPECTED, rtol=1e-6)


def test_constraints_with_or_without_their_trailing_axis() -> None:
    for mode in ("pair", "pair_flat"):
        F, G = UserProblem(mode, n_constr=1).evaluate(X, constraints=True)
        np.testing.assert_allclose(F, EXPECTED)
        np.testing.assert_allclose(G[:, 0], X.sum(1) - 1.5)


@pytest.mark.parametrize(("mode", "n_constr", "said"), [
    ("short", 0, "returned F of shape (6, 1)"),
    ("text", 0, "returned F of type str"),
    ("torch", 1, "returned F alone, without G"),
    ("three", 1, "returned a tuple of 3 items"),
])
def test_wrong_outputs_say_what_evaluate_must_return(mode: str, n_constr: int,
                                                     said: str) -> None:
    with pytest.raises(TypeError) as err:
        UserProblem(mode, n_constr).evaluate(X)
    msg = str(err.value)
    assert "user_problem._evaluate" in msg and said in msg
    assert "it must return" in msg and "(6, 2)" in msg


def test_a_gradient_method_on_numpy_objectives_says_so_and_nsga2_runs() -> None:
    p = UserProblem("numpy")
    with pytest.raises(TypeError, match=r"torch operations.*'nsga2'"):
        solve(p, "chebyshev", budget=400, seed=0, device="cpu")
    res = solve(p, "nsga2", budget=400, seed=0, pop_size=20)
    assert res.n_evals == 400 and len(res.front_F) >= 1


def test_float32_objectives_run_through_a_sweep() -> None:
    res = solve(UserProblem("float32"), "chebyshev", budget=600, seed=0, device="cpu")
    assert res.n_evals == 600 and len(res.front_F) > 10


@pytest.mark.parametrize(("kw", "error", "said"), [
    ({"budget": float("nan")}, ValueError, "budget must be a whole number"),
    ({"budget": float("inf")}, ValueError, "budget must be a whole number"),
    ({"budget": 1e24}, ValueError, "budget must be a whole number in [1, 1000000000000]"),
    ({"budget": "100"}, TypeError, "budget must be a whole number"),
    ({"budget": 10.5}, ValueError, "got 10.5"),
    ({"seed": 2**64}, ValueError, "seed must be a whole number in [0, 9223372036854775807]"),
    ({"seed": -1}, ValueError, "got -1"),
    ({"seed": "0"}, TypeError, "seed must be a whole number"),
    ({"device": "meta"}, ValueError, "device must be 'auto', 'cpu', 'cuda' or 'cuda:N'"),
    ({"device": "mps"}, ValueError, "got 'mps'"),
])
def test_bad_budget_seed_and_device_are_named(kw: dict, error: type, said: str) -> None:
    with pytest.raises(error) as err:
        solve(UserProblem(), "nsga2", **kw)
    assert said in str(err.value)


def test_no_feasible_design_warns_and_returns_an_empty_front() -> None:
    with pytest.warns(RuntimeWarning, match="no feasible design in 600 evaluations"):
        res = solve(NeverFeasible(), "nsga2", budget=600, seed=0, pop_size=20)
    assert res.front_F.shape == (0, 2)


def test_other_bad_numbers_are_named() -> None:
    from dse.indicators import reference_point
    from dse.pareto import nondominated

    p = UserProblem()
    with pytest.raises(TypeError, match="pop_size must be a whole number >= 4, got str 'a'"):
        solve(p, "nsga2", budget=400, pop_size="a")
    with pytest.raises(TypeError, match="pop_size must be a whole number"):
        solve(p, "hybrid", budget=4000, pop_size="a", device="cpu")
    with pytest.raises(ValueError, match=r"chunk_size must be a whole number >= 1, got 1\.5"):
        nondominated(torch.rand(10, 2), chunk_size=1.5)
    with pytest.raises(TypeError, match=r"offset must be a finite number > 0, got str '0\.1'"):
        reference_point([0, 0], [1, 1], offset="0.1")
    with pytest.raises(ValueError, match=r"decode: 1 relaxed design\(s\) hold NaN"):
        p.decode(np.array([[0.5, 0.5], [np.nan, 0.1]]))


class PartlyNaN(Problem):
    """Objectives NaN where ``b < cut`` (a simulator that fails on part of the space)."""

    name = "partly_nan"

    def __init__(self, cut: float) -> None:
        super().__init__([Real("a", 0.0, 1.0), Real("b", 0.0, 1.0)], n_obj=2)
        self.cut = cut

    def _evaluate(self, x: torch.Tensor) -> torch.Tensor:
        F = torch.stack([x[..., 0], 1.0 - x[..., 0] + x[..., 1]], -1)
        return torch.where(x[..., 1:] < self.cut, torch.full_like(F, float("nan")), F)


@pytest.mark.parametrize("method", ["nsga2", "chebyshev", "hybrid"])
def test_nan_designs_never_reach_the_result(method: str) -> None:
    # Everywhere NaN: an empty result and a warning, the budget still counted.
    with pytest.warns(RuntimeWarning, match="no feasible design"):
        res = solve(PartlyNaN(2.0), method, budget=1000, seed=0, device="cpu")
    assert len(res.X) == 0 and res.front_F.shape == (0, 2) and res.n_evals <= 1000
    # NaN on 30% of the space: rows that started there restart or take the archive's
    # design; no NaN row is reported, and the front is there.
    res = solve(PartlyNaN(0.3), method, budget=3000, seed=0, device="cpu")
    assert len(res.F) and np.isfinite(res.F).all() and np.isfinite(res.X).all()
    assert len(res.front_F) >= 20


class Staircase(Problem):
    """Objectives rounded inside ``_evaluate``: defined everywhere, flat to autograd."""

    name = "staircase"

    def __init__(self) -> None:
        super().__init__([Real("a", 0.0, 1.0), Real("b", 0.0, 1.0)], n_obj=2)

    def _evaluate(self, x: torch.Tensor) -> torch.Tensor:
        F = torch.stack([x[..., 0], 1.0 - x[..., 0] + x[..., 1]], -1)
        return torch.floor(F * 8) / 8


def test_a_sweep_on_flat_objectives_says_so() -> None:
    with pytest.warns(RuntimeWarning, match="every search direction was zero.*'nsga2'"):
        res = solve(Staircase(), "chebyshev", budget=600, seed=0, device="cpu")
    assert res.n_evals <= 600
    # A smooth problem never hears it.
    import warnings

    with warnings.catch_warnings():
        warnings.simplefilter("error", RuntimeWarning)
        solve(UserProblem(), "chebyshev", budget=600, seed=0, device="cpu")
