"""The training loops: every weighting runs, the update is the one claimed, Delta_m."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from dse.gradient import get_weighting, list_weightings
from dse.train import delta_m, descend, descend_many, evaluate_model, train
from problems.mtl import CAGradToy, multidigits

_PARAMS = {"linear": {"weights": [0.3, 0.7]}, "chebyshev": {"preference": [0.5, 0.5]},
           "epo": {"preference": [0.5, 0.5]}}


@pytest.fixture(scope="module")
def tiny_task():
    return multidigits(128, 32, 64, hidden=16, batch_size=32, seed=0)


@pytest.mark.parametrize("info", list_weightings(), ids=lambda i: i.name)
def test_every_registered_weighting_trains(tiny_task, info) -> None:
    res = train(tiny_task, info.name, weighting_params=_PARAMS.get(info.name), steps=6,
                lr=1e-2, progress=False)
    h = res.history
    assert len(h) == 6 and list(h["step"]) == list(range(6))
    for col in ("loss_L", "loss_R", "weight_L", "weight_R", "cos_L_R", "grad_norm_L"):
        assert col in h and np.isfinite(h[col]).all(), col
    assert ((h["cos_L_R"] >= -1) & (h["cos_L_R"] <= 1)).all()
    assert set(res.metrics) == {"val", "test"}
    acc = res.metric("test")
    assert acc.shape == (2,) and ((acc >= 0) & (acc <= 1)).all()


def _one_sgd_step(task, method, **kw):
    """Parameters before/after one SGD(lr=1) step: the applied update is -grad."""
    before = task.make_model(0)
    res = train(task, method, steps=1, optimizer="sgd", lr=1.0, batch_size=None,
                progress=False, eval_splits=(), **kw)
    return before, res


def test_update_is_weights_times_jacobian(tiny_task) -> None:
    """The shared update equals sum_i w_i g_i with g_i from K separate backward passes
    (an independent route to the batched Jacobian), heads get their own gradient."""
    for method in ("mgda", "cagrad", "upgrad"):
        before, res = _one_sgd_step(tiny_task, method)
        X, Y = tiny_task.split("train")
        losses = tiny_task.losses(before(X), Y)
        shared = before.shared_parameters()
        g = [torch.cat([t.reshape(-1) for t in torch.autograd.grad(losses[i], shared,
                                                                   retain_graph=True)])
             for i in range(2)]
        J = torch.stack(g)
        w = get_weighting(method)(J @ J.T)
        torch.testing.assert_close(torch.tensor(res.history[["weight_L", "weight_R"]].values[0],
                                                dtype=w.dtype), w, rtol=1e-4, atol=1e-6)
        step = torch.cat([(p0 - p1).reshape(-1) for p0, p1 in
                          zip(shared, res.model.shared_parameters(), strict=True)])
        torch.testing.assert_close(step, w @ J, rtol=1e-4, atol=1e-6)
        head0 = torch.autograd.grad(losses[0], list(before.heads[0].parameters()))
        moved = [p0 - p1 for p0, p1 in zip(before.heads[0].parameters(),
                                           res.model.heads[0].parameters(), strict=True)]
        for a, b in zip(head0, moved, strict=True):
            torch.testing.assert_close(a, b, rtol=1e-4, atol=1e-6)


def test_jacobian_route_equals_plain_backward(tiny_task) -> None:
    a = train(tiny_task, "mean", steps=15, progress=False, eval_splits=("test",))
    b = train(tiny_task, "mean", steps=15, progress=False, track_gradients=False,
              eval_splits=("test",))
    np.testing.assert_allclose(a.history["loss_L"], b.history["loss_L"], rtol=1e-4)
    np.testing.assert_allclose(a.metric(), b.metric(), atol=1e-6)
    assert "cos_L_R" not in b.history


def test_seeded_runs_repeat(tiny_task) -> None:
    a = train(tiny_task, "pcgrad", steps=8, progress=False, seed=3)
    b = train(tiny_task, "pcgrad", steps=8, progress=False, seed=3)
    c = train(tiny_task, "pcgrad", steps=8, progress=False, seed=4)
    np.testing.assert_array_equal(a.history["loss_L"], b.history["loss_L"])
    assert not np.array_equal(a.history["loss_L"], c.history["loss_L"])


def test_stateful_weightings_keep_state(tiny_task) -> None:
    unc = train(tiny_task, "uncertainty", steps=30, lr=5e-2, progress=False)
    w = unc.history[["weight_L", "weight_R"]].to_numpy()
    assert np.allclose(w[0], 0.5) and not np.allclose(w[-1], 0.5)  # log-variances learnt
    gn = train(tiny_task, "gradnorm", weighting_params={"lr": 1e-2}, steps=20, progress=False)
    np.testing.assert_allclose(gn.history[["weight_L", "weight_R"]].sum(axis=1), 2.0, rtol=1e-5)


def test_single_task_and_delta_m(tiny_task) -> None:
    res = train(tiny_task, tasks=[1], steps=5, progress=False)
    assert res.method == "single_R" and "weight_L" not in res.history
    ev = evaluate_model(res.model, tiny_task, "test")
    assert ev["R"]["accuracy"] == pytest.approx(res.metrics["test"]["R"]["accuracy"])
    # Delta_m by hand: accuracy 0.9 vs 1.0 is +10 (worse); an error 0.9 vs 1.0 is -10.
    assert delta_m([0.9], [1.0], [True]) == pytest.approx(10.0)
    assert delta_m([0.9], [1.0], [False]) == pytest.approx(-10.0)
    assert delta_m([0.8, 1.1], [1.0, 1.0], [True, False]) == pytest.approx(15.0)
    with pytest.raises(ValueError, match="non-zero"):
        delta_m([1.0], [0.0], [True])
    with pytest.raises(ValueError, match="same length"):
        delta_m([1.0, 2.0], [1.0], [True])


def test_bad_arguments(tiny_task) -> None:
    with pytest.raises(ValueError, match="valid names"):
        train(tiny_task, "nope", steps=1, progress=False)
    with pytest.raises(ValueError, match="tasks"):
        train(tiny_task, tasks=[2], steps=1, progress=False)
    with pytest.raises(ValueError, match="steps"):
        train(tiny_task, steps=0, progress=False)
    with pytest.raises(ValueError, match="optimizer"):
        train(tiny_task, optimizer="lbfgsx", steps=1, progress=False)
    with pytest.raises(TypeError, match="method"):
        train(tiny_task, 3.0, steps=1, progress=False)


def test_descend_batch_equals_separate_runs() -> None:
    p = CAGradToy()
    both = descend(p, "cagrad", p.starts[:2], steps=60, lr=0.05, record_every=20)
    one = descend(p, "cagrad", p.starts[1], steps=60, lr=0.05, record_every=20)
    np.testing.assert_allclose(both.X[:, 1], one.X[:, 0], rtol=1e-10, atol=1e-12)
    assert both.X.shape == (4, 2, 2) and both.cosines.shape == (4, 2, 1)
    many = descend_many(p, {"a": "cagrad", "b": "mgda"}, p.starts[:2], steps=60, lr=0.05,
                        record_every=20)
    np.testing.assert_allclose(many["a"].X, both.X, rtol=1e-10, atol=1e-12)


@pytest.mark.skipif(not torch.cuda.is_available(), reason="needs CUDA")
def test_train_on_cuda(tiny_task) -> None:
    res = train(tiny_task, "upgrad", steps=5, device="cuda", progress=False)
    assert next(res.model.parameters()).is_cuda and np.isfinite(res.metric()).all()


def test_feature_route_update(tiny_task) -> None:
    """jacobian="features": weights from the Gramian of dL_i/dz (z = trunk output), and
    the shared update is still sum_i w_i g_i (checked against K separate backward passes)."""
    before, res = _one_sgd_step(tiny_task, "mgda", jacobian="features")
    X, Y = tiny_task.split("train")
    z = before.trunk(X)
    losses = tiny_task.losses(before.forward_heads(z), Y)
    gz = torch.stack([torch.autograd.grad(losses[i], z, retain_graph=True)[0].reshape(-1)
                      for i in range(2)])
    w = get_weighting("mgda")(gz @ gz.T)
    shared = before.shared_parameters()
    J = torch.stack([torch.cat([t.reshape(-1) for t in torch.autograd.grad(
        losses[i], shared, retain_graph=True)]) for i in range(2)])
    step = torch.cat([(p0 - p1).reshape(-1) for p0, p1 in
                      zip(shared, res.model.shared_parameters(), strict=True)])
    torch.testing.assert_close(step, w @ J, rtol=1e-4, atol=1e-6)
    with pytest.raises(ValueError, match="jacobian"):
        train(tiny_task, "mgda", steps=1, jacobian="nope", progress=False)


def _flops_of(fn) -> float:
    from torch.utils.flop_counter import FlopCounterMode

    with FlopCounterMode(display=False) as counter:
        fn()
    return counter.get_total_flops()


def _step_flops(task, method: str, **kw) -> float:
    """FLOPs of one step: a 2-step run minus a 1-step run (set-up work cancels)."""
    def run(steps: int) -> float:
        return _flops_of(lambda: train(task, method, steps=steps, batch_size=None,
                                       progress=False, eval_splits=(), **kw))

    return run(2) - run(1)


@pytest.mark.parametrize("k", [2, 4])
def test_step_costs_one_backward_per_task_and_no_more(k: int) -> None:
    """Matrix-multiply FLOPs of one training step (exact counts, no timing).

    Exact route: the forward pass plus, per task, one backward through the trunk and that
    task's head (the floor for exact per-task gradients), plus the K x K Gramian and
    w @ J. Feature route: one backward of the weighted loss plus, per task, the head's
    input gradient and the Gramian of the representation gradients. Plain summed-loss
    training: one backward. k = 2 takes the CPU route of K ordinary backward passes;
    k = 4 one vmapped backward, which also runs every head for every task (its extra
    work is bounded by the heads' share)."""
    from problems.mtl import gradnorm_regression

    task = (multidigits(128, 8, 8, hidden=16, seed=0) if k == 2 else
            gradnorm_regression(k, n_in=12, n_out=6, width=16, depth=3, n_train=64,
                                n_val=8, n_test=8, seed=0))
    model = task.make_model(0)
    X, Y = task.split("train")
    shared, heads = model.shared_parameters(), [list(h.parameters()) for h in model.heads]
    P = sum(p.numel() for p in shared)
    n, width = X.shape[0], 16
    fwd = _flops_of(lambda: task.losses(model(X), Y))
    z = model.trunk(X)
    out = model.forward_heads(z)
    per_task = _flops_of(lambda: [
        torch.autograd.grad(out[t], [*shared, *heads[t]], grad_outputs=torch.ones_like(out[t]),
                            retain_graph=True) for t in range(k)])
    head_in = _flops_of(lambda: [
        torch.autograd.grad(out[t], z, grad_outputs=torch.ones_like(out[t]), retain_graph=True)
        for t in range(k)])
    one = _flops_of(lambda: torch.autograd.grad(task.losses(model(X), Y).sum(),
                                                list(model.parameters()))) - fwd
    gram = 2 * k * k * P + 2 * k * P  # J J^T and w @ J
    heads_share = one - _flops_of(lambda: torch.autograd.grad(
        z, shared, grad_outputs=torch.ones_like(z), retain_graph=True))

    assert _step_flops(task, "mean", track_gradients=False) == fwd + one
    exact = _step_flops(task, "cagrad")
    extra = 0 if k == 2 else (k - 1) * heads_share  # vmapped: every head for every task
    assert fwd + per_task <= exact <= fwd + per_task + gram + extra, (exact, fwd, per_task)
    assert _step_flops(task, "upgrad") == exact
    feat = _step_flops(task, "mgda", jacobian="features")
    assert feat == fwd + one + head_in + 2 * k * k * n * width, feat


def test_losses_coupling_heads_take_the_general_route(tiny_task) -> None:
    """Per-task backward passes start at each head only when loss t reads head t alone;
    a loss that also reads another head's output must still get its exact gradient."""
    from dataclasses import replace

    def coupled(out, Y):
        base = tiny_task.losses(out, Y)
        return base + torch.stack([0.1 * out[1].square().mean(), out[0].new_zeros(())])

    task = replace(tiny_task, losses=coupled)
    before, res = _one_sgd_step(task, "mgda")
    X, Y = task.split("train")
    losses = coupled(before(X), Y)
    params = list(before.parameters())
    J = torch.stack([torch.cat([g.reshape(-1) for g in torch.autograd.grad(
        losses[i], params, retain_graph=True)]) for i in range(2)])
    shared = sum(p.numel() for p in before.shared_parameters())
    w = get_weighting("mgda")(J[:, :shared] @ J[:, :shared].T)
    step = torch.cat([(p0 - p1).reshape(-1) for p0, p1 in
                      zip(params, res.model.parameters(), strict=True)])
    torch.testing.assert_close(step[:shared], w @ J[:, :shared], rtol=1e-4, atol=1e-6)
    # Head R's parameters get both losses' gradients (MGDA leaves heads unscaled).
    torch.testing.assert_close(step[shared:], J[:, shared:].sum(0), rtol=1e-4, atol=1e-6)
    # The feature route: weights from the representation Gramian, update sum_i w_i g_i.
    before, res = _one_sgd_step(task, "mgda", jacobian="features")
    z = before.trunk(X)
    losses = coupled(before.forward_heads(z), Y)
    gz = torch.stack([torch.autograd.grad(losses[i], z, retain_graph=True)[0].reshape(-1)
                      for i in range(2)])
    w = get_weighting("mgda")(gz @ gz.T)
    step = torch.cat([(p0 - p1).reshape(-1) for p0, p1 in
                      zip(params, res.model.parameters(), strict=True)])
    torch.testing.assert_close(step, w @ J, rtol=1e-4, atol=1e-6)
