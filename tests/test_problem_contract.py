"""The contract every registered problem keeps, run over the whole registry.

Each problem is built with its default parameters and put through the same checks: batch
shapes, dtypes, numpy and torch routes, input validation, gradients of the relaxation,
decoding, and the consistency of its optional knowledge (true front, ideal, nadir).
Batches stay small because some problems (co-design, multi-task learning) are expensive.
Non-domination is checked by brute force here, independently of :mod:`dse.pareto`.
"""

from __future__ import annotations

import warnings
from functools import cache

import numpy as np
import pytest
import torch

import dse
from dse import NonFiniteObjectiveWarning, Problem

NAMES = dse.list_problems()


@cache
def _problem(name: str) -> Problem:
    return dse.get_problem(name)


@pytest.fixture(params=NAMES)
def problem(request: pytest.FixtureRequest) -> Problem:
    return _problem(request.param)


@cache
def _designs(name: str) -> np.ndarray:
    """Six exact random designs, read-only so that a mutating evaluation fails loudly."""
    x = _problem(name).sample(6, seed=11)
    x.setflags(write=False)
    return x


@cache
def _objectives(name: str) -> tuple[np.ndarray, np.ndarray]:
    with warnings.catch_warnings():
        warnings.simplefilter("error", NonFiniteObjectiveWarning)
        return _problem(name).evaluate(_designs(name), constraints=True)


def _scale(F: np.ndarray) -> float:
    return max(1.0, float(np.abs(F).max(initial=0.0)))


def dominated_mask(F: np.ndarray) -> np.ndarray:
    """Brute force: row i is dominated when some row is <= everywhere and < somewhere."""
    le = (F[:, None, :] <= F[None, :, :]).all(axis=-1)  # le[j, i]: F[j] <= F[i]
    lt = (F[:, None, :] < F[None, :, :]).any(axis=-1)
    return (le & lt).any(axis=0)


def test_dominated_mask_helper() -> None:
    F = np.array([[0.0, 1.0], [1.0, 0.0], [1.0, 1.0], [0.0, 1.0], [2.0, -1.0]])
    np.testing.assert_array_equal(dominated_mask(F), [False, False, True, False, False])


# --------------------------------------------------------------------------- description


def test_description(problem: Problem) -> None:
    name = problem.name
    assert name in NAMES, f"problem.name {name!r} is not its registry name"
    assert problem.n_var == len(problem.variables) >= 1
    assert problem.n_obj >= 1 and problem.n_constr >= 0
    assert len(problem.objective_names) == problem.n_obj
    assert len(problem.constraint_names) == problem.n_constr
    assert len(set(problem.variable_names)) == problem.n_var
    assert problem.xl.shape == problem.xu.shape == (problem.n_var,)
    assert (problem.xl <= problem.xu).all()
    assert np.isfinite(problem.xl).all() and np.isfinite(problem.xu).all()


# --------------------------------------------------------------------------- evaluation


def test_sample_is_valid(problem: Problem) -> None:
    x = _designs(problem.name)
    assert x.shape == (6, problem.n_var)
    assert (x >= problem.xl).all() and (x <= problem.xu).all()
    discrete = ~problem.kind_mask(dse.Real)
    np.testing.assert_array_equal(x[:, discrete], np.round(x[:, discrete]))


def test_batch_shapes(problem: Problem) -> None:
    x = _designs(problem.name)
    F, G = _objectives(problem.name)
    assert F.shape == (6, problem.n_obj) and G.shape == (6, problem.n_constr)
    assert np.isfinite(F).all() and np.isfinite(G).all()
    # A single point and a (2, 3) batch give the rows of the flat evaluation.
    F0, G0 = problem.evaluate(x[0], constraints=True)
    assert F0.shape == (problem.n_obj,) and G0.shape == (problem.n_constr,)
    tol = 1e-10 * _scale(F)
    np.testing.assert_allclose(F0, F[0], rtol=1e-10, atol=tol)
    F23, G23 = problem.evaluate(x.reshape(2, 3, -1), constraints=True)
    assert F23.shape == (2, 3, problem.n_obj) and G23.shape == (2, 3, problem.n_constr)
    np.testing.assert_allclose(F23.reshape(6, -1), F, rtol=1e-10, atol=tol)
    np.testing.assert_allclose(G23.reshape(6, -1), G, rtol=1e-10, atol=1e-10 * _scale(G))
    assert problem.evaluate(x).shape == F.shape  # objectives only by default


def test_numpy_and_torch_routes_agree(problem: Problem) -> None:
    x = _designs(problem.name)
    F, G = _objectives(problem.name)
    xt = torch.tensor(x, dtype=torch.float64)
    Ft, Gt = problem.evaluate(xt, constraints=True)
    assert isinstance(Ft, torch.Tensor) and Ft.dtype == torch.float64
    assert Gt.dtype == torch.float64 and Ft.device == xt.device
    np.testing.assert_allclose(Ft.detach().numpy(), F, rtol=1e-10, atol=1e-10 * _scale(F))
    np.testing.assert_allclose(Gt.detach().numpy(), G, rtol=1e-10, atol=1e-10 * _scale(G))
    assert isinstance(F, np.ndarray) and F.dtype == np.float64


def test_float32(problem: Problem) -> None:
    x = _designs(problem.name)
    F, G = _objectives(problem.name)
    Ft, Gt = problem.evaluate(torch.tensor(x, dtype=torch.float32), constraints=True)
    assert Ft.dtype == Gt.dtype == torch.float32
    # float32 rounds the inputs too, so compare at float32's accuracy on the values' scale.
    np.testing.assert_allclose(Ft.detach().numpy(), F, rtol=1e-3, atol=1e-4 * _scale(F))
    np.testing.assert_allclose(Gt.detach().numpy(), G, rtol=1e-3, atol=1e-4 * _scale(G))


def test_inputs_not_mutated(problem: Problem) -> None:
    x = _designs(problem.name)  # read-only: writing to it raises
    xt = torch.tensor(x)
    keep = xt.clone()
    problem.evaluate(xt, constraints=True)
    problem.decode(problem.encode(xt))
    assert torch.equal(xt, keep)


@pytest.mark.skipif(not torch.cuda.is_available(), reason="no CUDA device")
def test_cuda_in_cuda_out(problem: Problem) -> None:
    x = _designs(problem.name)
    F, G = _objectives(problem.name)
    Fc, Gc = problem.evaluate(torch.tensor(x, device="cuda"), constraints=True)
    assert Fc.device.type == Gc.device.type == "cuda"
    np.testing.assert_allclose(Fc.cpu().numpy(), F, rtol=1e-8, atol=1e-8 * _scale(F))
    np.testing.assert_allclose(Gc.cpu().numpy(), G, rtol=1e-8, atol=1e-8 * _scale(G))


# --------------------------------------------------------------------------- validation


def test_wrong_last_dimension(problem: Problem) -> None:
    x = np.zeros((2, problem.n_var + 1))
    with pytest.raises(ValueError, match=rf"n_var={problem.n_var}.*\(2, {problem.n_var + 1}\)"):
        problem.evaluate(x)


@pytest.mark.parametrize("which", ["first", "last"])
@pytest.mark.parametrize("side", ["below", "above"])
def test_out_of_bounds_names_the_variable(problem: Problem, which: str, side: str) -> None:
    col = 0 if which == "first" else problem.n_var - 1
    x = np.array(_designs(problem.name)[:2])
    width = max(1.0, problem.xu[col] - problem.xl[col])
    x[1, col] = problem.xl[col] - width if side == "below" else problem.xu[col] + width
    name = problem.variables[col].name
    with pytest.raises(ValueError, match=rf"variable '{name}' \(column {col}\)"):
        problem.evaluate(x)


@pytest.mark.parametrize("bad", [np.nan, np.inf])
def test_non_finite_input(problem: Problem, bad: float) -> None:
    x = np.array(_designs(problem.name)[:2])
    x[0, -1] = bad
    with pytest.raises(ValueError, match="NaN or inf"):
        problem.evaluate(x)
    with pytest.raises(ValueError, match="NaN or inf"):
        problem.evaluate(torch.tensor(x))


def test_integer_tensor_rejected(problem: Problem) -> None:
    x = torch.tensor(np.round(_designs(problem.name)[:2])).long()
    with pytest.raises(TypeError, match="floating"):
        problem.evaluate(x)


# --------------------------------------------------------------------------- relaxation


def _relaxed_points(problem: Problem, n: int, seed: int) -> torch.Tensor:
    lo, hi = problem.relaxed_bounds()
    rng = np.random.default_rng(seed)
    return torch.tensor(rng.uniform(lo, hi, size=(n, problem.n_relaxed)))


def test_relaxation_gradients_finite(problem: Problem) -> None:
    if not (problem.has_relaxation and problem.differentiable):
        pytest.skip(f"{problem.name} offers no differentiable relaxation")
    z = _relaxed_points(problem, 3, seed=5).requires_grad_(True)
    F = problem.evaluate_relaxed(z)
    assert F.shape == (3, problem.n_obj) and F.dtype == torch.float64
    assert torch.isfinite(F).all()
    for i in range(problem.n_obj):
        (g,) = torch.autograd.grad(F[:, i].sum(), z, retain_graph=True, allow_unused=True)
        assert g is not None, f"objective {i} does not depend on z"
        assert torch.isfinite(g).all(), f"objective {i}: non-finite gradient"
    assert any(
        torch.autograd.grad(F[:, i].sum(), z, retain_graph=True)[0].abs().sum() > 0
        for i in range(problem.n_obj)
    ), "all gradients are zero"


def test_relaxation_float32(problem: Problem) -> None:
    if not problem.has_relaxation:
        pytest.skip(f"{problem.name} has no relaxation")
    z = _relaxed_points(problem, 2, seed=6)
    F32 = problem.evaluate_relaxed(z.float())
    assert F32.dtype == torch.float32
    F64 = problem.evaluate_relaxed(z)
    torch.testing.assert_close(
        F32.double(), F64, rtol=1e-3, atol=1e-4 * _scale(F64.detach().numpy())
    )


def test_decode_gives_exact_designs(problem: Problem) -> None:
    z = _relaxed_points(problem, 4, seed=7)
    x = problem.decode(z)
    assert isinstance(x, torch.Tensor) and x.shape == (4, problem.n_var)
    F = problem.evaluate(x)  # validation passes: in bounds and integral
    assert torch.isfinite(F).all()
    xn = problem.decode(z.numpy())
    assert isinstance(xn, np.ndarray)
    np.testing.assert_array_equal(xn, x.numpy())
    # Exact designs survive encode -> decode.
    d = _designs(problem.name)
    np.testing.assert_allclose(problem.decode(problem.encode(d)), d, rtol=1e-12, atol=1e-12)


def test_relaxation_agrees_with_exact_for_real_problems(problem: Problem) -> None:
    if problem.is_mixed:
        pytest.skip("mixed problem: the relaxation is a different function")
    x = torch.tensor(_designs(problem.name))
    F, G = problem.evaluate_relaxed(x, constraints=True)
    Fe, Ge = problem.evaluate(x, constraints=True)
    torch.testing.assert_close(F, Fe)
    torch.testing.assert_close(G, Ge)


# --------------------------------------------------------------------------- knowledge


@cache
def _front(name: str) -> np.ndarray | None:
    return _problem(name).pareto_front(60)


def test_front_shape_and_non_dominated(problem: Problem) -> None:
    front = _front(problem.name)
    if front is None:
        pytest.skip(f"{problem.name} has no known front")
    assert front.ndim == 2 and front.shape[1] == problem.n_obj
    assert len(front) >= 2 and np.isfinite(front).all()
    dom = dominated_mask(front)
    assert not dom.any(), f"{int(dom.sum())} front points are dominated, e.g. {front[dom][:3]}"


def test_ideal_nadir_bracket_front(problem: Problem) -> None:
    ideal, nadir = problem.ideal, problem.nadir
    front = _front(problem.name)
    if ideal is None or nadir is None:
        pytest.skip(f"{problem.name} has no ideal/nadir")
    assert ideal.shape == nadir.shape == (problem.n_obj,)
    assert (ideal <= nadir).all()
    if front is not None:
        tol = 1e-9 * _scale(front)
        assert (front >= ideal - tol).all() and (front <= nadir + tol).all()
        # ... and they are attained: the extremes of a front that includes its ends.
        np.testing.assert_allclose(front.min(axis=0), ideal, atol=1e-6 * _scale(front))
        np.testing.assert_allclose(front.max(axis=0), nadir, atol=1e-6 * _scale(front))


def test_random_designs_never_beat_the_front(problem: Problem) -> None:
    front = _front(problem.name)
    if front is None:
        pytest.skip(f"{problem.name} has no known front")
    # More designs than elsewhere, but only for problems that know their front.
    F, G = problem.evaluate(problem.sample(32, seed=12), constraints=True)
    F = F[(G <= 0).all(axis=-1)]
    tol = 1e-9 * _scale(front)
    # A feasible design strictly better than a true-front point in every objective would
    # contradict the front being Pareto-optimal.
    beats = (F[:, None, :] < front[None, :, :] - tol).all(axis=-1)
    assert not beats.any(), f"designs beat the front: {F[beats.any(axis=1)][:3]}"
    if problem.ideal is not None:
        assert (F >= problem.ideal - tol).all(), "a design is better than the ideal point"
