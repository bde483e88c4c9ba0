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


# ---------------------------------------------------------------------- from_function
def _tradeoff(x: torch.Tensor) -> torch.Tensor:
    return torch.stack([x[..., 0], 1.0 - x[..., 0] + x[..., 1] ** 2], -1)


def test_from_function_batched_matches_a_subclass() -> None:
    p = Problem.from_function(_tradeoff, {"a": (0.0, 1.0), "b": (0.0, 1.0)}, n_obj=2)
    assert p.name == "_tradeoff" and p.variable_names == ("a", "b")
    np.testing.assert_array_equal(p.evaluate(X), UserProblem().evaluate(X))
    res = solve(p, "chebyshev", budget=600, seed=0, device="cpu")
    ref = solve(UserProblem(), "chebyshev", budget=600, seed=0, device="cpu")
    np.testing.assert_array_equal(res.F, ref.F)  # same maths, same seed: same front
    assert res.n_evals == 600


def test_from_function_elementwise_with_constraints_and_decorator() -> None:
    from dse import Integer

    @Problem.from_function(variables=[Real("a", 0.0, 1.0), Integer("n", 1, 5)], n_obj=2,
                           n_constr=1, elementwise=True, name="beam")
    def beam(x: torch.Tensor) -> tuple[list, list]:
        a, n = x
        return [a * n, (1 - a) ** 2 + 1 / n], [a + n - 5]

    Xb = np.array([[0.5, 2.0], [1.0, 5.0], [0.0, 1.0]])
    F, G = beam.evaluate(Xb, constraints=True)
    np.testing.assert_allclose(F, np.stack([Xb[:, 0] * Xb[:, 1],
                                            (1 - Xb[:, 0]) ** 2 + 1 / Xb[:, 1]], 1))
    np.testing.assert_allclose(G[:, 0], Xb.sum(1) - 5)
    # Per-design tensors keep the graph: a gradient method runs on it.
    res = solve(beam, "chebyshev", budget=500, seed=0, device="cpu")
    assert res.n_evals == 500 and len(res.front_F) >= 5
    assert (res.front_X[:, 1] == np.round(res.front_X[:, 1])).all()


def test_from_function_rejects_bad_definitions() -> None:
    with pytest.raises(TypeError, match="needs a callable, got int"):
        Problem.from_function(3, {"a": (0, 1)}, n_obj=1)
    with pytest.raises(TypeError, match="needs variables and n_obj"):
        Problem.from_function(_tradeoff)
    with pytest.raises(TypeError, match=r"variable 'a'.*\(lower, upper\) pairs, got 5"):
        Problem.from_function(_tradeoff, {"a": 5}, n_obj=2)
    with pytest.raises(TypeError, match="Real, Integer, Categorical or Table objects, got str"):
        Problem.from_function(_tradeoff, ["a", "b"], n_obj=2)
    with pytest.raises(TypeError, match="n_obj must be an int, got '2'"):
        Problem.from_function(_tradeoff, {"a": (0, 1)}, n_obj="2")
    with pytest.raises(ValueError, match=r"variable 'a' has lower bound 1.0 > upper bound 0.0"):
        Problem.from_function(_tradeoff, {"a": (1, 0)}, n_obj=2)
    one = Problem.from_function(lambda x: [1.0], {"a": (0, 1)}, n_obj=2, elementwise=True)
    with pytest.raises(TypeError, match=r"1 F value\(s\) for one design"):
        one.evaluate(np.zeros((2, 1)))


def test_a_decorated_problem_pickles_by_reference() -> None:
    import pickle

    from problems_for_tests import decorated

    again = pickle.loads(pickle.dumps(decorated))
    assert again is decorated
    np.testing.assert_array_equal(again.evaluate(X), decorated.evaluate(X))


# ---------------------------------------------------------------------- relaxation hook
class Material(Problem):
    """A categorical material and a real thickness; relaxation through the public hook."""

    name = "material"
    DENSITY = (2.7, 7.8, 4.5)
    STIFF = (70.0, 200.0, 110.0)

    def __init__(self) -> None:
        from dse import Categorical

        super().__init__([Real("t", 0.1, 2.0), Categorical("m", ("al", "steel", "ti"))],
                         n_obj=2)

    def _evaluate(self, x: torch.Tensor) -> torch.Tensor:
        m = x[..., 1].long()
        rho = torch.tensor(self.DENSITY, dtype=x.dtype)[m]
        e = torch.tensor(self.STIFF, dtype=x.dtype)[m]
        return torch.stack([rho * x[..., 0], 100.0 / (e * x[..., 0] ** 3)], -1)

    def relaxation(self, z: torch.Tensor) -> torch.Tensor:
        v = self.relaxed_values(z)
        rho = v["m"] @ torch.tensor(self.DENSITY, dtype=z.dtype)
        e = v["m"] @ torch.tensor(self.STIFF, dtype=z.dtype)
        return torch.stack([rho * v["t"], 100.0 / (e * v["t"] ** 3)], -1)


def test_relaxation_hook_and_relaxed_values() -> None:
    p = Material()
    assert p.has_relaxation and p.overrides_relaxation
    x = np.array([[0.5, 0.0], [1.0, 1.0], [2.0, 2.0]])
    z = torch.as_tensor(p.encode(x))
    parts = p.relaxed_values(z)
    assert set(parts) == {"t", "m"} and parts["m"].shape == (3, 3)
    np.testing.assert_allclose(parts["m"].sum(-1).numpy(), 1.0)
    # An encoded exact design is (nearly) its own relaxation.
    np.testing.assert_allclose(p.evaluate_relaxed(z).numpy(), p.evaluate(x), rtol=2e-2)
    res = solve(p, "chebyshev", budget=800, seed=0, device="cpu")
    assert res.n_evals == 800 and len(res.front_F) >= 5
    assert set(np.unique(res.front_X[:, 1])) <= {0.0, 1.0, 2.0}


def test_categoricals_without_a_relaxation_name_the_hook() -> None:
    class NoRelax(Material):
        relaxation = Problem.relaxation  # type: ignore[assignment]

    p = NoRelax()
    assert not p.has_relaxation
    with pytest.raises(NotImplementedError, match=r"\['m'\].*override Problem.relaxation"):
        Problem.relaxation(p, torch.zeros(1, 4, dtype=torch.float64))
    with pytest.raises(ValueError, match=r"override Problem\.relaxation"):
        solve(p, "chebyshev", budget=400, seed=0, device="cpu")


def test_snap_gives_the_nearest_exact_design() -> None:
    from dse import Categorical, Integer, Table

    p = Problem.from_function(
        lambda x: x[..., :2],
        [Real("a", 0.0, 1.0), Integer("n", 1, 5), Categorical("c", ("p", "q")),
         Table("d", (6.0, 8.0, 12.0))], n_obj=2)
    got = p.snap(np.array([[1.3, 2.6, 0.2, 10.5], [-0.1, 9.0, 1.7, 5.0]]))
    np.testing.assert_array_equal(got, [[1.0, 3.0, 0.0, 12.0], [0.0, 5.0, 1.0, 6.0]])
    with pytest.raises(ValueError, match="NaN or inf"):
        p.snap(np.array([[np.nan, 1, 0, 6]]))


def _half_flat(x: torch.Tensor) -> torch.Tensor:
    # f1 smooth; f2 a staircase: zero gradient almost everywhere.
    return torch.stack([x[..., 0] + 0.1 * x[..., 1],
                        torch.floor((1 - x[..., 0]) * 8) / 8 + torch.floor(x[..., 1] * 4) / 4],
                       -1)


@pytest.mark.parametrize("method", ["chebyshev", "epo", "mgda"])
def test_one_flat_objective_is_named(method: str) -> None:
    import warnings

    p = Problem.from_function(_half_flat, {"a": (0.0, 1.0), "b": (0.0, 1.0)}, n_obj=2,
                              objective_names=("cost", "steps"))
    with pytest.warns(RuntimeWarning, match=r"objective\(s\) 'steps' had a zero gradient.*"
                                            r"'nsga2'") as rec:
        res = solve(p, method, budget=1000, seed=0, device="cpu")
    assert res.n_evals == 1000
    assert all(w.filename == __file__ for w in rec if "zero gradient" in str(w.message))
    # Smooth objectives never hear it.
    with warnings.catch_warnings():
        warnings.simplefilter("error", RuntimeWarning)
        solve(UserProblem(), method, budget=600, seed=0, device="cpu")
