"""Stateful weightings: autograd as the independent route, and the papers' fixed points."""

from __future__ import annotations

import pytest
import torch

from dse.gradient import get_weighting


def test_uncertainty_loss_trains_log_variances_to_log_loss() -> None:
    """Kendall's objective 0.5 e^-s L + 0.5 s is minimised at s = log L."""
    m = get_weighting("uncertainty")
    state = m.init(3, dtype=torch.float64)
    opt = torch.optim.Adam(m.parameters(state), lr=0.05)
    losses = torch.tensor([0.1, 1.0, 20.0], dtype=torch.float64)
    for _ in range(1500):
        opt.zero_grad()
        m.loss(state, losses).backward()
        opt.step()
    torch.testing.assert_close(state.log_vars.detach(), losses.log(), atol=1e-3, rtol=0)


def test_uncertainty_weights_are_loss_gradient() -> None:
    m = get_weighting("uncertainty", init_log_var=0.3)
    state = m.init(2, dtype=torch.float64)
    losses = torch.tensor([0.5, 2.0], dtype=torch.float64, requires_grad=True)
    (grad,) = torch.autograd.grad(m.loss(state, losses), losses)
    weights, new_state = m.update(state, losses=losses.detach())
    torch.testing.assert_close(weights, grad)
    assert new_state is state and not weights.requires_grad


def test_gradnorm_balances_weighted_gradient_norms() -> None:
    """Equal training rates: GradNorm drives w_i ||g_i|| together (weights sum to K)."""
    # Fixed-size steps oscillate by ~lr * 100 / 50.5 around w_2 = 2 / 101: small lr.
    m = get_weighting("gradnorm", alpha=0.12, lr=5e-4)
    state = m.init(2, dtype=torch.float64)
    G = torch.diag(torch.tensor([1.0, 100.0], dtype=torch.float64) ** 2)  # norms 1 and 100
    losses = torch.tensor([1.0, 1.0], dtype=torch.float64)
    for _ in range(2500):
        _, state = m.update(state, losses=losses, G=G)
    gw = state.weights * torch.tensor([1.0, 100.0], dtype=torch.float64)
    assert abs(float(state.weights.sum()) - 2) < 1e-9
    assert float(gw.max() / gw.min()) < 1.1, f"weighted norms {gw}"


def test_gradnorm_favours_slow_task() -> None:
    """Same gradient norms, task 0 trains slower (higher L/L0): it gets the larger weight."""
    m = get_weighting("gradnorm", alpha=1.0, lr=0.01)
    state = m.init(2, dtype=torch.float64)
    G = torch.eye(2, dtype=torch.float64)
    _, state = m.update(state, losses=torch.tensor([1.0, 1.0], dtype=torch.float64), G=G)
    for _ in range(100):
        _, state = m.update(state, losses=torch.tensor([0.9, 0.3], dtype=torch.float64), G=G)
    assert state.weights[0] > state.weights[1]


def test_dwa_matches_formula() -> None:
    m = get_weighting("dwa", temperature=2.0)
    state = m.init(3)
    l1, l2 = torch.tensor([1.0, 2.0, 3.0]), torch.tensor([0.5, 2.0, 3.3])
    w, state = m.update(state, losses=l1)
    torch.testing.assert_close(w, torch.ones(3))
    w, state = m.update(state, losses=l2)
    r = l2 / l1
    torch.testing.assert_close(w, 3 * torch.exp(r / 2) / torch.exp(r / 2).sum())


@pytest.mark.parametrize("mode", ["initial", "dynamic", "geometric"])
def test_loss_norm_weights_are_gradients(mode: str) -> None:
    m = get_weighting("loss_norm", mode=mode)
    state = m.init(3)
    L0 = torch.tensor([2.0, 0.5, 4.0], dtype=torch.float64)
    _, state = m.update(state, losses=L0)
    L = torch.tensor([1.0, 0.25, 3.0], dtype=torch.float64, requires_grad=True)
    objective = {
        "initial": lambda x: (x / L0).sum(),
        "dynamic": lambda x: x.log().sum(),
        "geometric": lambda x: x.log().mean().exp(),
    }[mode]
    (grad,) = torch.autograd.grad(objective(L), L)
    w, _ = m.update(state, losses=L.detach())
    torch.testing.assert_close(w, grad)


def test_state_is_not_mutated() -> None:
    m = get_weighting("gradnorm")
    state = m.init(2)
    before = state.weights.clone()
    m.update(state, losses=torch.ones(2), G=torch.eye(2) * 4)
    assert torch.equal(state.weights, before)


@pytest.mark.parametrize("name,params", [("gradnorm", {"alpha": -0.1}),
                                         ("dwa", {"temperature": 0.0}),
                                         ("loss_norm", {"mode": "median"})])
def test_invalid_params(name: str, params: dict) -> None:
    with pytest.raises(ValueError):
        get_weighting(name, **params)


def test_gradnorm_needs_gramian() -> None:
    m = get_weighting("gradnorm")
    with pytest.raises(ValueError, match="Gramian"):
        m.update(m.init(2), losses=torch.ones(2))
