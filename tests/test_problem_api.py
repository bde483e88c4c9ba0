"""Behaviour of the :class:`dse.Problem` base class, on tiny purpose-built problems.

The problems here are written for the test (a mixed real/integer/categorical one with a
constraint, and one whose objective turns NaN), so every expected value is known by hand.
"""

from __future__ import annotations

import warnings

import numpy as np
import pytest
import torch
from torch import Tensor

import dse
import dse.problem as problem_module
from dse import Categorical, Integer, NonFiniteObjectiveWarning, Problem, Real
from dse.registry import Registry

WEIGHTS = (0.0, 1.0, 2.5)  # cost of each choice of the categorical variable "c"


class Mixed(Problem):
    """f1 = a^2 + n + w[c], f2 = (a - 1)^2 + 1/n, g = a + n - 4 (<= 0 feasible)."""

    name = "mixed"

    def __init__(self) -> None:
        super().__init__(
            [Real("a", -1.0, 2.0), Integer("n", 1, 4), Categorical("c", ("x", "y", "z"))],
            n_obj=2,
            n_constr=1,
        )

    def _evaluate(self, x: Tensor) -> tuple[Tensor, Tensor]:
        a, n, c = x[..., 0], x[..., 1], x[..., 2]
        w = torch.tensor(WEIGHTS, dtype=x.dtype, device=x.device)[c.long()]
        return self._objectives(a, n, w)

    def relaxation(self, z: Tensor) -> tuple[Tensor, Tensor]:
        v = self.relaxed_values(z)
        w = v["c"] @ torch.tensor(WEIGHTS, dtype=z.dtype, device=z.device)
        return self._objectives(v["a"], v["n"], w)

    @staticmethod
    def _objectives(a: Tensor, n: Tensor, w: Tensor) -> tuple[Tensor, Tensor]:
        F = torch.stack([a**2 + n + w, (a - 1.0) ** 2 + 1.0 / n], dim=-1)
        return F, (a + n - 4.0).unsqueeze(-1)


class MixedNoRelaxation(Mixed):
    """The same problem without a continuous relaxation."""

    name = "mixed_norelax"
    relaxation = Problem.relaxation  # type: ignore[assignment]


class Root(Problem):
    """f = (sqrt(x), x): NaN for x < 0, so evaluations must warn."""

    name = "root"

    def __init__(self) -> None:
        super().__init__([Real("x", -1.0, 1.0)], n_obj=2)

    def _evaluate(self, x: Tensor) -> Tensor:
        return torch.cat([torch.sqrt(x), x], dim=-1)


def hand_mixed(x: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Independent numpy evaluation of :class:`Mixed`."""
    a, n, c = x[..., 0], x[..., 1], x[..., 2].astype(int)
    w = np.asarray(WEIGHTS)[c]
    F = np.stack([a**2 + n + w, (a - 1.0) ** 2 + 1.0 / n], axis=-1)
    return F, (a + n - 4.0)[..., None]


@pytest.fixture
def mixed() -> Mixed:
    return Mixed()


# --------------------------------------------------------------------------- variables


@pytest.mark.parametrize(
    ("make", "match"),
    [
        (lambda: Real("r", 2.0, 1.0), "'r'.*lower bound 2.0 > upper bound 1.0"),
        (lambda: Real("r", 0.0, float("inf")), "'r' needs finite bounds"),
        (lambda: Real("r", float("nan"), 1.0), "'r' needs finite bounds"),
        (lambda: Integer("i", 0.5, 3), "'i' needs integral bounds"),
        (lambda: Categorical("k", ("only",)), "'k' needs at least 2 choices"),
    ],
)
def test_bad_variable_definitions(make, match) -> None:
    with pytest.raises(ValueError, match=match):
        make()


def test_categorical_bounds_are_indices() -> None:
    v = Categorical("c", ["p", "q", "r"])
    assert (v.lower, v.upper) == (0, 2)
    assert v.choices == ("p", "q", "r")


def test_bad_problem_definitions() -> None:
    with pytest.raises(ValueError, match="unique"):
        Problem([Real("a", 0, 1), Real("a", 0, 1)], n_obj=1)
    with pytest.raises(ValueError, match="at least one variable"):
        Problem([], n_obj=1)
    with pytest.raises(ValueError, match="n_obj must be >= 1"):
        Problem([Real("a", 0, 1)], n_obj=0)
    with pytest.raises(ValueError, match="n_constr must be >= 0"):
        Problem([Real("a", 0, 1)], n_obj=1, n_constr=-1)
    with pytest.raises(ValueError, match="objective_names"):
        Problem([Real("a", 0, 1)], n_obj=2, objective_names=["only_one"])


def test_description(mixed: Mixed) -> None:
    assert (mixed.n_var, mixed.n_obj, mixed.n_constr) == (3, 2, 1)
    assert mixed.variable_names == ("a", "n", "c")
    assert mixed.objective_names == ("f1", "f2")
    assert mixed.constraint_names == ("g1",)
    assert mixed.is_mixed and not Root().is_mixed
    np.testing.assert_array_equal(mixed.kind_mask(Integer), [False, True, False])
    np.testing.assert_array_equal(mixed.xl, [-1.0, 1.0, 0.0])
    np.testing.assert_array_equal(mixed.xu, [2.0, 4.0, 2.0])
    assert mixed.n_relaxed == 5
    lo, hi = mixed.relaxed_bounds()
    np.testing.assert_array_equal(lo, [-1.0, 1.0, -5.0, -5.0, -5.0])
    np.testing.assert_array_equal(hi, [2.0, 4.0, 5.0, 5.0, 5.0])
    assert "n_var=3" in repr(mixed)
    # The bound arrays are shared state: they must not be writable by callers.
    with pytest.raises(ValueError):
        mixed.xl[0] = 5.0


def test_bounds_follow_like(mixed: Mixed) -> None:
    like = torch.zeros(2, dtype=torch.float32)
    xl, xu = mixed.bounds(like=like)
    assert xl.dtype == xu.dtype == torch.float32
    lo, _ = mixed.bounds()
    lo[0] = 99.0  # a copy: the problem's own bounds are untouched
    assert mixed.xl[0] == -1.0


# --------------------------------------------------------------------------- evaluate


def test_evaluate_matches_hand_computation(mixed: Mixed) -> None:
    x = np.array([[0.5, 2, 1], [-1.0, 4, 2], [2.0, 1, 0]])
    F, G = mixed.evaluate(x, constraints=True)
    F_ref, G_ref = hand_mixed(x)
    np.testing.assert_allclose(F, F_ref, rtol=1e-15)
    np.testing.assert_allclose(G, G_ref, rtol=1e-15)
    assert isinstance(F, np.ndarray) and F.dtype == np.float64
    np.testing.assert_array_equal(mixed(x), F)  # __call__ is evaluate


@pytest.mark.parametrize("shape", [(), (5,), (2, 3), (2, 1, 4)])
def test_batch_shapes(mixed: Mixed, shape: tuple[int, ...]) -> None:
    x = mixed.sample(int(np.prod(shape)), seed=3).reshape(*shape, 3)
    F, G = mixed.evaluate(x, constraints=True)
    assert F.shape == (*shape, 2) and G.shape == (*shape, 1)
    F_ref, G_ref = hand_mixed(x)
    np.testing.assert_allclose(F, F_ref, rtol=1e-15)
    np.testing.assert_allclose(G, G_ref, rtol=1e-15)


def test_unconstrained_problem_has_empty_constraints() -> None:
    F, G = Root().evaluate(np.array([[0.25], [1.0]]), constraints=True)
    assert G.shape == (2, 0)
    np.testing.assert_allclose(F, [[0.5, 0.25], [1.0, 1.0]])


@pytest.mark.parametrize("dtype", [torch.float32, torch.float64])
def test_torch_in_torch_out(mixed: Mixed, dtype: torch.dtype) -> None:
    x_np = mixed.sample(7, seed=1)
    x = torch.tensor(x_np, dtype=dtype)
    F, G = mixed.evaluate(x, constraints=True)
    assert isinstance(F, Tensor) and F.dtype == dtype and F.device == x.device
    assert G.dtype == dtype
    tol = 1e-6 if dtype == torch.float32 else 1e-15
    np.testing.assert_allclose(F.numpy(), hand_mixed(x_np)[0], rtol=tol)


@pytest.mark.skipif(not torch.cuda.is_available(), reason="no CUDA device")
def test_device_follows_input(mixed: Mixed) -> None:
    x = torch.tensor(mixed.sample(4, seed=0), device="cuda")
    F, G = mixed.evaluate(x, constraints=True)
    assert F.device == x.device and G.device == x.device


def test_numpy_float32_and_int_inputs_give_float64(mixed: Mixed) -> None:
    x = np.array([[0.5, 2, 1]], dtype=np.float32)
    assert mixed.evaluate(x).dtype == np.float64
    xi = np.array([[0, 2, 1]], dtype=np.int64)
    np.testing.assert_allclose(mixed.evaluate(xi), hand_mixed(xi.astype(float))[0])
    np.testing.assert_allclose(mixed.evaluate([[0, 2, 1]]), hand_mixed(xi.astype(float))[0])


def test_gradient_flows_for_real_variables(mixed: Mixed) -> None:
    x = torch.tensor([[0.5, 2.0, 1.0]], dtype=torch.float64, requires_grad=True)
    F = mixed.evaluate(x)
    (g,) = torch.autograd.grad(F[0, 0], x)
    assert g[0, 0].item() == pytest.approx(2 * 0.5)  # d(a^2)/da


# --------------------------------------------------------------------------- validation


def test_wrong_last_dimension_names_the_shape(mixed: Mixed) -> None:
    with pytest.raises(ValueError, match=r"n_var=3.*\(4, 2\)"):
        mixed.evaluate(np.zeros((4, 2)))
    with pytest.raises(ValueError, match=r"n_var=3"):
        mixed.evaluate(torch.zeros(3, 4, dtype=torch.float64))
    with pytest.raises(ValueError, match=r"n_var=3.*\(\)"):
        mixed.evaluate(np.float64(1.0))


@pytest.mark.parametrize(
    ("column", "value", "name"),
    [(0, 2.5, "a"), (0, -1.5, "a"), (1, 5.0, "n"), (1, 0.0, "n"), (2, 3.0, "c"), (2, -1.0, "c")],
)
def test_out_of_bounds_names_the_variable(mixed, column, value, name) -> None:
    x = np.array([[0.5, 2, 1], [0.0, 1, 0]])
    x[1, column] = value
    with pytest.raises(ValueError, match=rf"variable '{name}' \(column {column}\) must lie in"):
        mixed.evaluate(x)
    with pytest.raises(ValueError, match=rf"'{name}'.*got {value}"):
        mixed.evaluate(torch.from_numpy(x))


def test_bound_check_has_only_rounding_slack(mixed: Mixed) -> None:
    x = np.array([[2.0 + 1e-9, 2, 1]])  # float32-clamping noise is accepted
    mixed.evaluate(x)
    with pytest.raises(ValueError, match="'a'"):
        mixed.evaluate(np.array([[2.0 + 1e-4, 2, 1]]))


@pytest.mark.parametrize("bad", [np.nan, np.inf, -np.inf])
def test_non_finite_input_rejected(mixed: Mixed, bad: float) -> None:
    x = np.array([[0.5, 2, 1], [0.5, 2, 1], [bad, 2, 1]])
    with pytest.raises(ValueError, match=r"NaN or inf in 1 design"):
        mixed.evaluate(x)
    with pytest.raises(ValueError, match=r"NaN or inf"):
        mixed.evaluate(torch.from_numpy(x))


@pytest.mark.parametrize(("column", "name"), [(1, "n"), (2, "c")])
def test_non_integral_discrete_values_rejected(mixed, column, name) -> None:
    x = np.array([[0.5, 2.0, 1.0]])
    x[0, column] += 0.3
    with pytest.raises(ValueError, match=rf"'{name}'.*integral values.*decode"):
        mixed.evaluate(x)


def test_wrong_dtypes(mixed: Mixed) -> None:
    with pytest.raises(TypeError, match=r"floating tensor.*torch\.int64"):
        mixed.evaluate(torch.tensor([[0, 2, 1]]))
    with pytest.raises(TypeError, match="real-valued array"):
        mixed.evaluate(np.array([["a", "b", "c"]]))
    with pytest.raises(TypeError, match="real-valued array"):
        mixed.evaluate(np.array([[True, False, True]]))
    with pytest.raises(TypeError, match="real-valued array"):
        mixed.evaluate(np.array([[1 + 1j, 2, 1]]))


def test_check_false_skips_validation(mixed: Mixed) -> None:
    x = np.array([[5.0, 2, 1]])  # out of bounds: only checked when asked
    np.testing.assert_allclose(mixed.evaluate(x, check=False), hand_mixed(x)[0])


def test_inputs_not_mutated(mixed: Mixed) -> None:
    x = mixed.sample(5, seed=2)
    x.setflags(write=False)  # any in-place write would raise
    keep = x.copy()
    mixed.evaluate(x, constraints=True)
    mixed.encode(x)
    z = mixed.encode(x)
    z.setflags(write=False)
    z_keep = z.copy()
    mixed.decode(z)
    np.testing.assert_array_equal(x, keep)
    np.testing.assert_array_equal(z, z_keep)
    xt = torch.tensor(keep)
    xt_keep = xt.clone()
    mixed.evaluate(xt)
    mixed.decode(mixed.encode(xt))
    assert torch.equal(xt, xt_keep)


# --------------------------------------------------------------------------- non-finite output


def test_nan_objective_warns() -> None:
    root = Root()
    with pytest.warns(NonFiniteObjectiveWarning, match="2 design"):
        F = root.evaluate(np.array([[-0.5], [0.25], [-1.0]]))
    assert np.isnan(F[[0, 2], 0]).all()  # reported, and left visible to the caller
    with warnings.catch_warnings():
        warnings.simplefilter("error", NonFiniteObjectiveWarning)
        root.evaluate(np.array([[0.5], [0.0]]))  # finite: no warning


def test_nan_objective_warns_for_torch_too() -> None:
    with pytest.warns(NonFiniteObjectiveWarning, match="root"):
        Root().evaluate(torch.tensor([[-0.5]], dtype=torch.float64))


# --------------------------------------------------------------------------- relaxation


def test_has_relaxation() -> None:
    assert Mixed().has_relaxation
    assert Root().has_relaxation  # all-real problems relax to themselves
    norelax = MixedNoRelaxation()
    assert not norelax.has_relaxation
    with pytest.raises(NotImplementedError, match="no relaxation"):
        norelax.evaluate_relaxed(torch.zeros(1, 5, dtype=torch.float64))


def test_evaluate_relaxed_checks_input(mixed: Mixed) -> None:
    with pytest.raises(TypeError, match="torch tensor"):
        mixed.evaluate_relaxed(np.zeros((1, 5)))
    with pytest.raises(TypeError, match="floating"):
        mixed.evaluate_relaxed(torch.zeros(1, 5, dtype=torch.int64))
    with pytest.raises(ValueError, match=r"n_relaxed=5.*\(1, 3\)"):
        mixed.evaluate_relaxed(torch.zeros(1, 3, dtype=torch.float64))


def test_evaluate_relaxed_is_differentiable(mixed: Mixed) -> None:
    z = torch.tensor([[0.3, 2.4, 1.0, -2.0, 0.5]], dtype=torch.float64, requires_grad=True)

    def f(zz: Tensor) -> Tensor:
        return mixed.evaluate_relaxed(zz)

    assert torch.autograd.gradcheck(f, (z,))
    F, G = mixed.evaluate_relaxed(z, constraints=True)
    assert F.shape == (1, 2) and G.shape == (1, 1)


def test_relaxed_equals_exact_for_real_problems() -> None:
    root = Root()
    x = torch.tensor([[0.3], [0.9]], dtype=torch.float64)
    assert torch.equal(root.evaluate_relaxed(x), root.evaluate(x))
    np.testing.assert_array_equal(root.encode(x.numpy()), x.numpy())
    np.testing.assert_array_equal(root.decode(x.numpy()), x.numpy())
    z = root.encode([[0.3]])  # a list is array-like: numpy out, float64
    assert isinstance(z, np.ndarray) and z.dtype == np.float64


def test_encode_decode_round_trip(mixed: Mixed) -> None:
    x = mixed.sample(50, seed=4)
    z = mixed.encode(x)
    assert z.shape == (50, 5)
    # One-hot logits at the ends of the logit box for the categorical block.
    np.testing.assert_array_equal(np.sort(np.unique(z[:, 2:])), [-5.0, 5.0])
    np.testing.assert_array_equal(z[:, 2:].argmax(axis=1), x[:, 2])
    np.testing.assert_array_equal(mixed.decode(z), x)
    xt = torch.tensor(x, dtype=torch.float32)
    back = mixed.decode(mixed.encode(xt))
    assert back.dtype == torch.float32 and torch.equal(back, xt)


def test_encode_validates_designs(mixed: Mixed) -> None:
    with pytest.raises(ValueError, match=r"'c' \(column 2\)"):
        mixed.encode(np.array([[0.5, 2, 3]]))  # no choice 3
    with pytest.raises(ValueError, match=r"'n'.*integral"):
        mixed.encode(np.array([[0.5, 2.5, 1]]))
    with pytest.raises(ValueError, match=r"n_var=3"):
        mixed.encode(np.zeros((1, 5)))


def test_decode_rounds_clips_and_takes_argmax(mixed: Mixed) -> None:
    z = np.array([[3.7, 2.6, 0.1, 0.9, -1.0], [-4.0, 0.2, 1.0, -1.0, 0.0]])
    x = mixed.decode(z)
    np.testing.assert_array_equal(x, [[2.0, 3.0, 1.0], [-1.0, 1.0, 0.0]])
    mixed.evaluate(x)  # decoded designs are exact and valid
    zt = torch.tensor(z, requires_grad=True)
    assert not mixed.decode(zt).requires_grad  # exact designs carry no gradient
    with pytest.raises(ValueError, match=r"n_relaxed=5"):
        mixed.decode(np.zeros((2, 3)))


# --------------------------------------------------------------------------- sampling


def test_sample_within_bounds_and_integral(mixed: Mixed) -> None:
    x = mixed.sample(400, seed=5)
    assert x.shape == (400, 3)
    assert (x >= mixed.xl).all() and (x <= mixed.xu).all()
    np.testing.assert_array_equal(x[:, 1:], np.round(x[:, 1:]))
    # Every integer and every choice is drawn (uniform over 4 and 3 values).
    assert set(x[:, 1]) == {1.0, 2.0, 3.0, 4.0}
    assert set(x[:, 2]) == {0.0, 1.0, 2.0}
    mixed.evaluate(x)


def test_sample_is_seeded(mixed: Mixed) -> None:
    np.testing.assert_array_equal(mixed.sample(5, seed=7), mixed.sample(5, seed=7))
    assert not np.array_equal(mixed.sample(5, seed=7), mixed.sample(5, seed=8))
    rng = np.random.default_rng(0)
    a, b = mixed.sample(5, seed=rng), mixed.sample(5, seed=rng)
    assert not np.array_equal(a, b)  # a Generator advances


def test_no_front_means_no_ideal_or_nadir(mixed: Mixed) -> None:
    assert mixed.pareto_front() is None
    assert mixed.ideal is None and mixed.nadir is None and mixed.ref_point is None


def test_ideal_and_nadir_default_to_front_extremes() -> None:
    class WithFront(Root):
        def pareto_front(self, n: int = 100) -> np.ndarray:
            t = np.linspace(0.0, 1.0, n)
            return np.column_stack([t, 2.0 - 2.0 * t])

    p = WithFront()
    np.testing.assert_array_equal(p.ideal, [0.0, 0.0])
    np.testing.assert_array_equal(p.nadir, [1.0, 2.0])


# --------------------------------------------------------------------------- registry


def test_unknown_problem_lists_valid_names() -> None:
    with pytest.raises(ValueError, match=r"unknown problem 'nope'.*zdt1") as info:
        dse.get_problem("nope")
    for name in ("dtlz2", "pmtl_concave"):
        assert name in str(info.value)


def test_unknown_parameter_is_named() -> None:
    with pytest.raises(ValueError, match=r"unknown parameter\(s\) nvar.*accepted: n_var"):
        dse.get_problem("zdt1", nvar=10)


def test_lookup_is_case_insensitive_and_takes_aliases() -> None:
    assert dse.get_problem("ZDT1", n_var=5).n_var == 5
    assert dse.get_problem("vlmop2").name == "pmtl_concave"
    with pytest.raises(TypeError, match="str"):
        dse.get_problem(3)  # type: ignore[arg-type]


def test_builtin_problems_are_listed() -> None:
    names = dse.list_problems()
    expected = {f"zdt{i}" for i in (1, 2, 3, 4, 6)} | {f"dtlz{i}" for i in range(1, 8)}
    assert expected | {"pmtl_concave"} <= set(names)
    assert names == sorted(names)


def test_register_problem(monkeypatch: pytest.MonkeyPatch) -> None:
    # A private registry, so the shared one (and the contract suite) never sees test problems.
    monkeypatch.setattr(problem_module, "PROBLEMS", Registry("problem"))

    @dse.register_problem("tiny", aliases=("tiny_alias",))
    class Tiny(Root):
        """A one-variable test problem."""

    assert isinstance(dse.get_problem("tiny"), Tiny)
    assert isinstance(dse.get_problem("Tiny-Alias"), Tiny)
    assert problem_module.PROBLEMS.describe("tiny") == "A one-variable test problem."
    with pytest.raises(ValueError, match="already registered"):
        dse.register_problem("tiny")(Root)
    with pytest.raises(ValueError, match=r"accepted: \(none\)"):
        dse.get_problem("tiny", n_var=3)
