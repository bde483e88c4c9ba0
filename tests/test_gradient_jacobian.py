"""Per-task Jacobians, write-back to .grad, registry and diagnostics."""

from __future__ import annotations

import pytest
import torch
from torch import nn

from dse.gradient import (
    aggregate,
    conflict_rate,
    cosine_matrix,
    get_weighting,
    gradient_diagnostics,
    gramian,
    list_weightings,
    mtl_backward,
    norm_ratios,
    param_slices,
    task_jacobian,
)


def _model(seed: int = 0) -> tuple[nn.Module, list[nn.Module], torch.Tensor]:
    torch.manual_seed(seed)  # test-only: parameter init of the toy model
    trunk = nn.Sequential(nn.Linear(5, 8), nn.Tanh(), nn.Linear(8, 6))
    heads = [nn.Linear(6, 1) for _ in range(3)]
    x = torch.randn(16, 5)
    return trunk, heads, x


def _losses(trunk: nn.Module, heads: list[nn.Module], x: torch.Tensor) -> torch.Tensor:
    h = trunk(x)
    return torch.stack([(head(h) ** 2).mean() * (i + 1) for i, head in enumerate(heads)])


def test_task_jacobian_batched_equals_loop_and_jacrev() -> None:
    trunk, heads, x = _model()
    params = list(trunk.parameters())
    J1 = task_jacobian(_losses(trunk, heads, x), params)
    J2 = task_jacobian(_losses(trunk, heads, x), params, batched=False)
    names = [n for n, _ in trunk.named_parameters()]

    def f(*ps: torch.Tensor) -> torch.Tensor:
        out = torch.func.functional_call(trunk, dict(zip(names, ps, strict=True)), (x,))
        return torch.stack([(hd(out) ** 2).mean() * (i + 1) for i, hd in enumerate(heads)])

    jac = torch.func.jacrev(f, argnums=tuple(range(len(params))))(*params)
    J3 = torch.cat([j.reshape(3, -1) for j in jac], dim=1)
    torch.testing.assert_close(J1, J2)
    torch.testing.assert_close(J1, J3)
    assert J1.shape == (3, sum(p.numel() for p in params))
    assert sum(s.stop - s.start for s in param_slices(params)) == J1.shape[1]


def test_mtl_backward_with_mean_equals_plain_backward() -> None:
    trunk, heads, x = _model(1)
    shared = list(trunk.parameters())
    task = [list(h.parameters()) for h in heads]
    step = mtl_backward(_losses(trunk, heads, x), shared, "mean", task_params=task)
    got = [p.grad.clone() for p in shared] + [p.grad.clone() for ps in task for p in ps]
    for p in [*shared, *(p for ps in task for p in ps)]:
        p.grad = None
    losses = _losses(trunk, heads, x)
    losses.mean().backward(retain_graph=True)
    expected_shared = [p.grad.clone() for p in shared]
    # Heads get their own task's (unweighted) gradient: that of the sum of the losses.
    for p in [*shared, *(p for ps in task for p in ps)]:
        p.grad = None
    losses.sum().backward()
    expected_heads = [p.grad.clone() for ps in task for p in ps]
    torch.testing.assert_close(got, expected_shared + expected_heads)
    assert step.weights.shape == (3,) and step.gramian.shape == (3, 3)


def test_mtl_backward_then_optimiser_steps_and_mgda_does_not_conflict() -> None:
    trunk, heads, x = _model(2)
    shared = list(trunk.parameters())
    opt = torch.optim.SGD(shared, lr=1e-3)
    losses = _losses(trunk, heads, x)
    J = task_jacobian(losses, shared, retain_graph=True)
    opt.zero_grad()
    mtl_backward(losses, shared, get_weighting("mgda"))
    d = torch.cat([p.grad.reshape(-1) for p in shared])
    torch.testing.assert_close(d, aggregate(J, "mgda"))
    assert (J @ d >= -1e-6 * float(J.norm()) ** 2).all()
    before = _losses(trunk, heads, x).detach()
    opt.step()
    assert (_losses(trunk, heads, x).detach() <= before + 1e-7).all()


# --------------------------------------------------------------------------- registry


def test_registry_lists_every_required_name_with_kind() -> None:
    infos = {i.name: i for i in list_weightings()}
    for name in ["linear", "mean", "mgda", "cagrad", "pcgrad", "imtl_g", "upgrad",
                 "grad_normalisation", "chebyshev", "epo", "dualproj", "aligned_mtl",
                 "config", "random", "fairgrad", "nash_mtl"]:
        assert infos[name].kind == "stateless", name
    for name in ["uncertainty", "gradnorm", "dwa", "loss_norm", "gradvac"]:
        assert infos[name].kind == "stateful", name
    assert infos["cagrad"].params["c"] == 0.5
    assert "weighted_sum" in infos["linear"].aliases
    assert {i.name for i in list_weightings("stateful")} == {"uncertainty", "gradnorm", "dwa",
                                                             "loss_norm", "gradvac"}
    for alias in ["weighted_sum", "gradnorm_unit"]:
        assert get_weighting(alias, **({"weights": [1.0]} if alias == "weighted_sum" else {}))


@pytest.mark.parametrize("name,params,match", [
    ("nope", {}, "valid names: .*mgda"),
    ("cagrad", {"c": -1.0}, "c must be"),
    ("gradnorm", {"alpha": -1.0}, "alpha"),
    ("linear", {"weights": [0.5, 0.6]}, "simplex"),
    ("linear", {"weights": [-0.5, 1.5]}, "simplex"),
    ("linear", {}, "weights"),
    ("mgda", {"colour": 1}, "unknown parameters"),
    ("chebyshev", {"preference": [1.0, -1.0]}, "preference"),
    ("upgrad", {"reg_eps": -1.0}, "reg_eps"),
])
def test_registry_errors(name: str, params: dict, match: str) -> None:
    with pytest.raises(ValueError, match=match):
        get_weighting(name, **params)


def test_bad_shapes() -> None:
    w = get_weighting("mgda")
    with pytest.raises(ValueError, match=r"\(\.\.\., K, K\)"):
        w(torch.zeros(3, 4))
    with pytest.raises(ValueError, match="losses"):
        get_weighting("epo", preference=[1.0, 1.0])(torch.eye(2))
    with pytest.raises(ValueError, match="K = 2"):
        get_weighting("chebyshev", preference=[1.0, 1.0, 1.0])(torch.eye(2),
                                                               losses=torch.ones(2))
    with pytest.raises(TypeError, match="stateless"):
        aggregate(torch.eye(2), get_weighting("dwa"))


# --------------------------------------------------------------------------- diagnostics


def test_diagnostics_match_direct_computation() -> None:
    g = torch.Generator().manual_seed(0)
    J = torch.randn(4, 3, 7, generator=g, dtype=torch.float64)
    J[1, 2] = 0
    G = gramian(J)
    n = J.norm(dim=-1)
    cos = cosine_matrix(G)
    for b in range(4):
        for i in range(3):
            for j in range(3):
                expect = 0.0 if n[b, i] * n[b, j] == 0 else float(J[b, i] @ J[b, j] / (n[b, i]
                                                                                     * n[b, j]))
                assert abs(float(cos[b, i, j]) - expect) < 1e-12
    torch.testing.assert_close(norm_ratios(G), n / n.amax(-1, keepdim=True))
    pairs = torch.stack([cos[:, 0, 1], cos[:, 0, 2], cos[:, 1, 2]], -1)
    torch.testing.assert_close(conflict_rate(G), (pairs < 0).double().mean(-1))
    d = gradient_diagnostics(G)
    assert set(d) >= {"cosine", "norm_ratios", "conflict_rate", "min_cosine"}


def test_conflict_rate_known_case() -> None:
    J = torch.tensor([[1.0, 0.0], [-1.0, 0.1], [0.0, 1.0]])
    assert float(conflict_rate(gramian(J))) == pytest.approx(1 / 3)
