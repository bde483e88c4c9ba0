"""The MTL problems: formulas against independent routes, determinism, batching."""

from __future__ import annotations

import numpy as np
import pytest
import torch

import dse
from problems.mtl import (
    CAGradToy,
    GradNormRegression,
    MultiDigits,
    cagrad_toy_losses,
    gradnorm_regression,
    make_multidigits,
    multidigits,
)


def _toy_numpy(x: np.ndarray, scale1: float) -> np.ndarray:
    """The CAGrad toy written out again in numpy, straight from the spec."""
    x1, x2 = x[..., 0], x[..., 1]
    lower = 5e-6
    f1 = np.log(np.maximum(np.abs(0.5 * (-x1 - 7) - np.tanh(-x2)), lower)) + 6
    f2 = np.log(np.maximum(np.abs(0.5 * (-x1 + 3) + np.tanh(-x2) + 2), lower)) + 6
    c1 = np.maximum(np.tanh(x2 / 2), 0)
    c2 = np.maximum(np.tanh(-x2 / 2), 0)
    f1_sq = ((-x1 + 7) ** 2 + 0.1 * (-x2 - 8) ** 2) / 10 - 20
    f2_sq = ((-x1 - 7) ** 2 + 0.1 * (-x2 - 8) ** 2) / 10 - 20
    return np.stack([scale1 * (f1 * c1 + f1_sq * c2), f2 * c1 + f2_sq * c2], axis=-1)


@pytest.mark.parametrize(("variant", "scale1"), [("original", 1.0), ("scaled", 0.1)])
def test_cagrad_toy_matches_spec_formula(variant: str, scale1: float) -> None:
    rng = np.random.default_rng(0)
    x = rng.uniform(-10, 10, size=(4, 50, 2))
    p = dse.get_problem("cagrad_toy", variant=variant)
    np.testing.assert_allclose(p.evaluate(x), _toy_numpy(x, scale1), rtol=1e-12, atol=1e-12)
    xt = torch.tensor(x, dtype=torch.float32)
    out = p.evaluate(xt)
    assert out.dtype == torch.float32 and out.shape == (4, 50, 2)


def test_cagrad_toy_pareto_set() -> None:
    p = CAGradToy()
    ps = p.pareto_set(41)
    # The spec's value of x2 on the Pareto set at x1 = 0.
    assert abs(ps[20, 1] - (-8.3552)) < 1e-3
    # Pareto stationarity: the two gradients are anti-parallel at every point of the set.
    x = torch.tensor(ps[1:-1], requires_grad=True)
    F = cagrad_toy_losses(x)
    g1 = torch.autograd.grad(F[:, 0].sum(), x, retain_graph=True)[0]
    g2 = torch.autograd.grad(F[:, 1].sum(), x)[0]
    cos = torch.nn.functional.cosine_similarity(g1, g2, dim=-1)
    assert torch.all(cos < -1 + 1e-6)
    # Brute force: no point of a dense grid dominates the front by more than grid noise.
    g = np.stack(np.meshgrid(np.linspace(-10, 10, 401), np.linspace(-10, 10, 401)), -1)
    G = p.evaluate(g.reshape(-1, 2))
    front = p.pareto_front(41)
    dominated = (G[None, :, :] < front[:, None, :] - 1e-3).all(-1).any(-1)
    assert not dominated.any()


def test_cagrad_toy_rejects_unknown_variant() -> None:
    with pytest.raises(ValueError, match="original"):
        CAGradToy("nope")
    with pytest.raises(ValueError, match=r"\(\.\.\., 2\)"):
        cagrad_toy_losses(torch.zeros(3))


@pytest.mark.parametrize("cls", [GradNormRegression, MultiDigits])
def test_model_problem_matches_module_forward(cls: type) -> None:
    """vmap + functional_call over flat vectors == the nn.Module on the same parameters."""
    p = cls()
    theta = torch.tensor(p.initial_point(3, seed=1)).float()
    theta[2] += 0.05 * torch.randn(p.n_var, generator=torch.Generator().manual_seed(0))
    F = p.evaluate(theta.reshape(3, 1, -1))
    assert F.shape == (3, 1, p.n_obj)
    X, Y = p.task.split("train")
    X, Y = X[: p._X.shape[0]], Y[: p._X.shape[0]]
    for i in range(3):
        model = p.model_from(theta[i])
        with torch.no_grad():
            ref = p.task.losses(model(X), Y)
        torch.testing.assert_close(F[i, 0], ref, rtol=1e-5, atol=1e-6)
    # Gradients reach x, and a numpy input gives numpy out.
    t = theta[:2].clone().requires_grad_(True)
    p.evaluate(t).sum().backward()
    assert t.grad is not None and torch.isfinite(t.grad).all() and t.grad.abs().sum() > 0
    assert isinstance(p.evaluate(p.initial_point()), np.ndarray)


def test_gradnorm_regression_data() -> None:
    a = gradnorm_regression(2, n_in=20, n_out=5, width=8, n_train=50, n_val=5, n_test=5, seed=3)
    b = gradnorm_regression(2, n_in=20, n_out=5, width=8, n_train=50, n_val=5, n_test=5, seed=3)
    c = gradnorm_regression(2, n_in=20, n_out=5, width=8, n_train=50, n_val=5, n_test=5, seed=4)
    _, Ya = a.split("train")
    torch.testing.assert_close(Ya, b.split("train")[1])
    assert not torch.allclose(Ya, c.split("train")[1])
    assert Ya.shape == (50, 2, 5)
    # |f_i| <= sigma_i, and the scales differ as the spec says (1 vs 100).
    assert float(Ya[:, 0].abs().max()) <= 1.0 and float(Ya[:, 1].abs().max()) <= 100.0
    assert float(Ya[:, 1].abs().mean()) > 30 * float(Ya[:, 0].abs().mean())
    ten = gradnorm_regression(10, n_in=4, n_out=2, width=4, n_train=10, n_val=2, n_test=2)
    s = ten.info["sigmas"]
    assert len(s) == 10 and s[0] == pytest.approx(1.0) and s[-1] == pytest.approx(100.0)
    with pytest.raises(ValueError, match="sigmas"):
        gradnorm_regression(3, sigmas=(1.0, 2.0))


def test_multidigits_labels_and_determinism() -> None:
    from sklearn.datasets import load_digits

    d1 = make_multidigits(40, 10, 10, jitter=0, seed=5)
    d2 = make_multidigits(40, 10, 10, jitter=0, seed=5)
    for k in d1:
        np.testing.assert_array_equal(d1[k][0], d2[k][0])
        np.testing.assert_array_equal(d1[k][1], d2[k][1])
    digits = load_digits()
    imgs = (digits.images / 16.0).astype(np.float32)
    X, Y = d1["train"]
    # With jitter 0 the right digit starts at row 4: rows 0-3 show the left digit alone,
    # rows 8-11 the right digit alone; each must be a real digit image with that label.
    for n in range(len(X)):
        top = np.all(np.isclose(imgs[:, :4, :], X[n, :4, :8]), axis=(1, 2))
        bottom = np.all(np.isclose(imgs[:, 4:, :], X[n, 8:, 4:]), axis=(1, 2))
        assert Y[n, 0] in set(digits.target[top]), n
        assert Y[n, 1] in set(digits.target[bottom]), n
    assert X.min() >= 0 and X.max() <= 1


def test_multidigits_pools_are_disjoint() -> None:
    """Test composites use digit images that never appear in training composites."""
    from sklearn.datasets import load_digits

    imgs = (load_digits().images / 16.0).astype(np.float32)
    d = make_multidigits(400, 50, 100, jitter=0, seed=1, return_sources=True)
    used = {k: set(np.unique(v[2]).tolist()) for k, v in d.items()}
    assert not (used["train"] & used["test"]) and not (used["train"] & used["val"])
    X, _, src = d["test"]
    # The reported sources really are the pictured digits (rows 0-3 show the left one).
    np.testing.assert_array_equal(X[:, :4, :8], imgs[src[:, 0], :4, :])


def test_multidigits_task_and_registry() -> None:
    task = multidigits(64, 16, 16, hidden=8)
    assert task.task_names == ("L", "R") and task.higher_is_better == (True, True)
    X, Y = task.split("train")
    assert X.shape == (64, 144) and Y.shape == (64, 2) and Y.dtype == torch.int64
    with pytest.raises(ValueError, match="valid"):
        task.split("nope")
    assert {"cagrad_toy", "gradnorm_regression", "multidigits"} <= set(dse.list_problems())
    p = dse.get_problem("multidigits", hidden=4, n_samples=16)
    F = p.evaluate(p.sample(3, seed=0))
    assert F.shape == (3, 2) and np.isfinite(F).all()
