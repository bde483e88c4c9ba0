"""The pieces of one training step (dse._train_steps): mini-batch order, the route each
setting picks, and the K-backward Jacobian against the vmapped one."""

from __future__ import annotations

import pytest
import torch

from dse import _train_steps as ts
from dse.gradient import get_weighting, task_jacobian
from problems.mtl import multidigits


@pytest.fixture(scope="module")
def tiny_task():
    return multidigits(128, 32, 64, hidden=16, batch_size=32, seed=0)


@pytest.mark.parametrize(("n", "bs", "steps"), [(10, 3, 7), (8, 8, 3), (5, 1, 12)])
def test_batch_order_is_epochs_of_permutations(n: int, bs: int, steps: int) -> None:
    order = ts.batch_order(n, bs, steps, seed=3, device=torch.device("cpu"))
    assert order.shape == (steps, bs)
    flat = order.reshape(-1)
    for start in range(0, flat.numel(), n):
        epoch = flat[start:start + n]
        # every epoch (the last one cut short) draws each example at most once
        assert len(set(epoch.tolist())) == epoch.numel(), f"seed 3, epoch at {start}"
        if epoch.numel() == n:
            assert sorted(epoch.tolist()) == list(range(n))
    assert torch.equal(order, ts.batch_order(n, bs, steps, 3, torch.device("cpu")))
    assert not torch.equal(order, ts.batch_order(n, bs, steps, 4, torch.device("cpu")))


@pytest.mark.parametrize(("weighting", "features", "track", "active", "expected"), [
    (None, False, True, [0], ts.single_task_step),
    ("mean", False, False, [0, 1], ts.scalarised_step),
    ("mean", False, True, [0, 1], ts.params_step),
    ("mgda", False, False, [0, 1], ts.params_step),
    ("mgda", True, False, [0, 1], ts.features_step),
    ("gradnorm", False, False, [0, 1], ts.params_step),
])
def test_route_follows_the_settings(tiny_task, weighting, features, track, active,
                                    expected) -> None:
    w = None if weighting is None else get_weighting(weighting)
    name = "single" if w is None else ts.method_name(w)
    s = ts.init_state(tiny_task, w, name, active, features=features, track_gradients=track,
                      optimizer="adam", lr=1e-3, seed=0, device=torch.device("cpu"))
    assert ts.route(s) is expected
    assert (s.last_cols is not None) == (weighting == "gradnorm")


def test_head_started_jacobian_equals_vmapped(tiny_task) -> None:
    """Two routes to the shared-parameter Jacobian of one mini-batch: K backward passes
    from the heads' outputs, and task_jacobian of the losses."""
    s = ts.init_state(tiny_task, get_weighting("upgrad"), "upgrad", [0, 1], features=False,
                      track_gradients=True, optimizer="sgd", lr=1e-3, seed=0,
                      device=torch.device("cpu"))
    idx = ts.batch_order(s.X.shape[0], 32, 1, seed=0, device=torch.device("cpu"))[0]
    ts.choose_jacobian_route(s, idx, loop_on_cpu=True)
    assert s.split and s.loop_jac
    b = ts.forward(s, idx)
    J_loop, head_grads = ts.jacobian_and_heads(b.out, b.d_out, s.shared, s.heads)
    s.split = False
    b2 = ts.forward(s, idx)
    J_vmap = task_jacobian(b2.losses, s.shared, retain_graph=True)
    torch.testing.assert_close(J_loop, J_vmap, rtol=1e-5, atol=1e-7)
    for t, (hp, hg) in enumerate(zip(s.heads, head_grads, strict=True)):
        expected = torch.autograd.grad(b2.losses[t], hp, retain_graph=True)
        for g, e in zip(hg, expected, strict=True):
            torch.testing.assert_close(g, e, rtol=1e-5, atol=1e-7)
