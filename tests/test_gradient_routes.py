"""CPU numpy route vs torch route of the weightings (same algorithms, two implementations).

On CPU tensors MGDA, CAGrad and UPGrad solve in numpy (``dse.gradient._cpu``), with Python
floats for one 2 x 2 Gramian; on other devices in torch. Forcing the torch route on the
CPU lets both run on the same inputs: their directions must agree to rounding.
"""

from __future__ import annotations

import numpy as np
import pytest
import torch
from test_gradient_weightings import make_jacobian

from dse.gradient import _cpu, aggregate, get_weighting, gramian
from dse.gradient import _weightings as weightings_module
from dse.gradient._base import normalise_gramian
from dse.gradient._qp import solve_cagrad_dual, solve_qp

METHODS = [("mgda", {}), ("cagrad", {"c": 0.5}), ("cagrad", {"c": 2.0, "rescale": False}),
           ("upgrad", {}), ("upgrad", {"reg_eps": 1e-4})]


def _torch_route(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(weightings_module._cpu, "use_numpy", lambda G: False)


def _both(monkeypatch: pytest.MonkeyPatch, J: torch.Tensor, name: str,
          params: dict) -> tuple[torch.Tensor, torch.Tensor]:
    w = get_weighting(name, **params)
    ours = aggregate(J, w)
    with monkeypatch.context() as m:
        _torch_route(m)
        ref = aggregate(J, w)
    return ours, ref


@pytest.mark.parametrize(("name", "params"), METHODS)
@pytest.mark.parametrize("K", [2, 3, 6])
@pytest.mark.parametrize("structure", ["full", "rank2", "colinear", "zero_row", "all_zero"])
def test_numpy_route_matches_torch_route(monkeypatch: pytest.MonkeyPatch, name: str,
                                         params: dict, K: int, structure: str) -> None:
    for dtype in (torch.float64, torch.float32):
        J = make_jacobian(structure, K, 7, seed=K, dtype=dtype)
        ours, ref = _both(monkeypatch, J, name, params)
        assert ours.dtype == dtype
        if name == "cagrad" and structure in ("rank2", "colinear", "zero_row") and K > 2:
            # 0 is in (or at rounding distance of) the hull: the direction is ill-posed
            # (c ||g0|| / ||g_w|| ~ 1e6) and the bracketing is documented to 5e-8 in the
            # dual objective there. Compare that, which both routes minimise: the numpy
            # route (exact active sets first) must be at least as low.
            G = gramian(J)
            w = get_weighting(name, **params)
            wt = _weights_torch_route(monkeypatch, w, G)
            dual_ours = _cagrad_dual(G, w(G), params["c"])
            dual_ref = _cagrad_dual(G, wt, params["c"])
            assert dual_ours <= dual_ref + 5e-8, (dual_ours, dual_ref)
            continue
        if name == "upgrad" and structure == "zero_row":
            # The torch route's interior point leaves ~1e-7 on the zero gradient's
            # projection here (its polish rejects the active set); see the test below.
            continue
        scale = float(J.double().norm()) + 1e-300
        tol = 1e-9 if dtype == torch.float64 else 1e-5
        torch.testing.assert_close(ours, ref, rtol=tol, atol=tol * scale)


def _weights_torch_route(monkeypatch: pytest.MonkeyPatch, w, G: torch.Tensor) -> torch.Tensor:
    with monkeypatch.context() as m:
        _torch_route(m)
        return w(G)


def _cagrad_dual(G: torch.Tensor, weights: torch.Tensor, c: float) -> float:
    """CAGrad's dual objective ``a^T v + c ||g0|| ||g_v||`` at the simplex point behind
    the weights ``(1/K + lambda v) / (1 + c^2)`` (trace-normalised units)."""
    K = G.shape[-1]
    Gn = normalise_gramian(G)
    w0 = torch.full((K,), 1.0 / K, dtype=torch.float64)
    v = (weights.double() - w0) / (weights.double() - w0).sum()
    s = c * (w0 @ Gn @ w0).sqrt()
    return float(v @ Gn @ w0 + s * (v @ Gn @ v).clamp(min=0).sqrt())


@pytest.mark.parametrize(("name", "params"), METHODS)
def test_batched_routes_agree_large_batch(monkeypatch: pytest.MonkeyPatch, name: str,
                                          params: dict) -> None:
    """64 problems of K = 10: the numpy route's torch-Cholesky branch (large batches)."""
    g = torch.Generator().manual_seed(1)
    J = torch.randn(64, 10, 12, generator=g, dtype=torch.float64)
    J[:16, 1] = -J[:16, 0]  # exact conflicts (0 in the hull) in a quarter of them
    ours, ref = _both(monkeypatch, J, name, params)
    if name == "cagrad":
        # Exact conflicts put 0 in the hull: CAGrad's kink, where the direction is ill-posed
        # (see test_numpy_route_matches_torch_route); compare the dual objective there.
        G = gramian(J[:16])
        w = get_weighting(name, **params)
        wt = _weights_torch_route(monkeypatch, w, G)
        ws = w(G)
        for b in range(16):
            c = params["c"]
            assert _cagrad_dual(G[b], ws[b], c) <= _cagrad_dual(G[b], wt[b], c) + 5e-8
        ours, ref = ours[16:], ref[16:]
    elif not params.get("reg_eps"):
        # Colinear rows, singular Gramian: the torch route's interior point stops ~1e-11
        # short there (its polish rejects), the numpy route is exact
        # (test_numpy_qp_is_kkt_and_at_least_as_good): check the guarantee, no conflict.
        Jd = (J[:16] @ ours[:16].unsqueeze(-1)).squeeze(-1)
        assert (Jd >= -1e-12 * (J[:16] ** 2).sum((-2, -1)).unsqueeze(-1)).all()
        ours, ref = ours[16:], ref[16:]
    torch.testing.assert_close(ours, ref, rtol=1e-8, atol=1e-9 * float(J.norm()))


@pytest.mark.parametrize("structure", ["full", "rank2", "colinear", "zero_row", "all_zero"])
@pytest.mark.parametrize("K", [3, 6])
def test_numpy_qp_is_kkt_and_at_least_as_good(structure: str, K: int) -> None:
    """UPGrad's K projections and MGDA's simplex QP: the numpy route's answer satisfies the
    KKT conditions and its objective is not above the torch route's."""
    Gn = _cpu.psd_gramian(gramian(make_jacobian(structure, K, 7, seed=K)))
    U = np.eye(K) / K
    V = _cpu.solve_qp(Gn[None], lower=U)
    V_ref = solve_qp(torch.from_numpy(Gn).expand(K, K, K), lower=torch.from_numpy(U)).numpy()
    GV = V @ Gn
    assert (V >= U).all() and (GV >= -1e-12).all()
    assert np.abs(GV * (V - U)).max() < 1e-12
    obj, obj_ref = (V * GV).sum(-1), (V_ref * (V_ref @ Gn)).sum(-1)
    assert (obj <= obj_ref + 1e-15).all(), (obj, obj_ref)
    w = _cpu.solve_qp(Gn, simplex=True)
    w_ref = solve_qp(torch.from_numpy(Gn), simplex=True).numpy()
    Gw = Gn @ w
    assert (w >= 0).all() and abs(w.sum() - 1) < 1e-14
    assert (Gw >= w @ Gw - 1e-12).all() and np.abs((Gw - w @ Gw) * w).max() < 1e-12
    assert w @ Gw <= w_ref @ Gn @ w_ref + 1e-15


def test_upgrad_k40_routes_agree(monkeypatch: pytest.MonkeyPatch) -> None:
    J = make_jacobian("full", 40, 60, seed=0)
    ours, ref = _both(monkeypatch, J, "upgrad", {})
    torch.testing.assert_close(ours, ref, rtol=1e-8, atol=1e-9 * float(J.norm()))
    assert (J @ ours >= -1e-10 * float(J.norm()) ** 2).all()


@pytest.mark.parametrize("seed", range(4))
@pytest.mark.parametrize("scale", [1e-15, 1.0, 1e15])
def test_scalar_2x2_matches_array_route(seed: int, scale: float) -> None:
    """One 2 x 2 Gramian (Python floats) vs the same Gramian as a batch of one (numpy)."""
    g = torch.Generator().manual_seed(seed)
    J = torch.randn(6, 2, 5, generator=g, dtype=torch.float64)
    J[1, 1] = -2.0 * J[1, 0]  # anti-parallel
    J[2, 1] = 3.0 * J[2, 0]  # parallel
    J[3, 0] = 0.0  # one zero gradient
    J[4, 1] = J[4, 1] - 1.2 * J[4, 0]  # strong conflict
    J[5, 1] = 0.1 * J[5, 1] + J[5, 0]  # nearly aligned, very different norms
    G = gramian(J * scale)
    for name, params in [*METHODS, ("upgrad", {"pref": [0.3, 0.9]})]:
        w = get_weighting(name, **params)
        for b in range(G.shape[0]):
            if name == "cagrad" and b == 1:
                # 0 on the segment: ||g_w|| is rounding noise (the psd shift), so are the
                # weights c ||g0|| / ||g_w|| ~ 1e7; not a well-posed comparison.
                continue
            single, batch = w(G[b]), w(G[b : b + 1])[0]
            torch.testing.assert_close(single, batch, rtol=1e-12, atol=1e-13,
                                       msg=f"{name} {params} problem {b}")


def test_non_finite_2x2_takes_array_route() -> None:
    G = torch.tensor([[float("nan"), 0.0], [0.0, 1.0]], dtype=torch.float64)
    assert _cpu.psd_2x2(G) is None
    for name in ("mgda", "cagrad", "upgrad"):
        w = get_weighting(name)
        torch.testing.assert_close(w(G), w(G[None])[0], equal_nan=True)


@pytest.mark.parametrize("K", [3, 5, 8, 40])
@pytest.mark.parametrize("seed", range(3))
def test_numpy_cagrad_dual_kkt(K: int, seed: int) -> None:
    """The numpy route's CAGrad dual (with its early stop) is at a KKT point of
    ``min a^T w + s ||J^T w||`` on the simplex: the gradient is equal on the support and
    not smaller off it (as test_cagrad_dual_matches_scipy_slsqp for the torch route)."""
    J = make_jacobian("full", K, 3 * K, seed=seed)
    J[1] = J[1] - 1.5 * J[0]  # a conflict, so that the support is not everything
    Gn = _cpu.psd_gramian(gramian(J))
    a = Gn.mean(-1)
    s = np.array([0.5 * float(Gn.mean()) ** 0.5])
    w = _cpu.solve_cagrad_dual(Gn, a, s, rounds=3, points=8)
    w_ref = solve_cagrad_dual(torch.from_numpy(Gn), torch.from_numpy(a), torch.from_numpy(s))
    grad = a + s * (Gn @ w) / np.sqrt(w @ Gn @ w)
    support = w > 1e-9
    lam = grad[support].mean()
    assert np.abs(grad[support] - lam).max() < 1e-12
    assert (grad[~support] >= lam - 1e-12).all()
    np.testing.assert_allclose(w, w_ref.numpy(), rtol=1e-9, atol=1e-12)


@pytest.mark.parametrize("k", [2, 4])
def test_train_loop_jacobian_equals_vmapped(monkeypatch: pytest.MonkeyPatch, k: int) -> None:
    """dse.train on the CPU: K ordinary backward passes, each from its task's head (the
    default there) give the same training run as the vmapped Jacobian + head backward
    (the route for accelerators and for losses that couple heads)."""
    import dse.train as train_module
    from problems.mtl import gradnorm_regression, multidigits

    task = (multidigits(128, 32, 64, hidden=16, batch_size=32, seed=0) if k == 2 else
            gradnorm_regression(k, n_in=12, n_out=6, width=16, depth=3, n_train=64,
                                n_val=8, n_test=8, batch_size=32, seed=0))
    kw = {"steps": 8, "progress": False, "eval_splits": ()}
    for method in ("upgrad", "cagrad", "mean", "gradnorm"):
        a = train_module.train(task, method, track_gradients=True, **kw)
        with monkeypatch.context() as m:
            m.setattr(train_module, "_LOOP_JACOBIAN_ON_CPU", False)
            b = train_module.train(task, method, track_gradients=True, **kw)
        cols = [c for c in a.history.columns if c.startswith(("loss_", "weight_", "cos_"))]
        assert len(cols) >= 2 * k
        np.testing.assert_allclose(a.history[cols].values, b.history[cols].values,
                                   rtol=1e-5, atol=1e-7)


def test_tracked_gramian_keeps_differentiable_torch_route() -> None:
    J = make_jacobian("full", 3, 5, seed=0).requires_grad_(True)
    for name in ("mgda", "cagrad", "upgrad"):
        w = get_weighting(name)(gramian(J))
        assert w.requires_grad, name
        (g,) = torch.autograd.grad(w.sum(), J)
        assert torch.isfinite(g).all()
        with torch.no_grad():
            torch.testing.assert_close(get_weighting(name)(gramian(J)), w.detach(),
                                       rtol=1e-9, atol=1e-10)


@pytest.mark.parametrize("seed", range(3))
def test_simplex_vertex_shortcut_is_the_optimum(seed: int) -> None:
    """Simplex QPs whose optimum is a vertex (a dominant linear term, as CAGrad's large
    theta; one tiny gradient, MGDA) next to interior ones in one batch: the closed-form
    vertex check and the pivoting give the KKT point, and the torch route agrees."""
    K = 12
    J = make_jacobian("full", K, 3 * K, seed=seed)
    Gn = _cpu.psd_gramian(gramian(J))
    rng = np.random.default_rng(seed)
    a = Gn @ rng.random(K)
    theta = np.array([0.0, 1e-3, 1.0, 1e3, 1e6])[:, None]
    # Gradients sharing a common part, the first a small multiple of it: e_0 is optimal.
    common = 3.0 * torch.ones(3 * K, dtype=J.dtype)
    J_tiny = J + common
    J_tiny[0] = 1e-3 * common
    G_tiny = _cpu.psd_gramian(gramian(J_tiny))
    Q = np.stack([Gn] * len(theta) + [G_tiny])
    q = np.concatenate([theta * a, np.zeros((1, K))])
    w = _cpu.solve_qp(Q, q, simplex=True)
    w_ref = solve_qp(torch.from_numpy(Q), torch.from_numpy(q), simplex=True).numpy()
    grad = (Q @ w[..., None])[..., 0] + q
    lam = (grad * w).sum(-1, keepdims=True)  # = the multiplier of sum(w) = 1 at a KKT point
    scale = np.abs(grad).max(-1, keepdims=True)
    assert (w >= 0).all() and np.allclose(w.sum(-1), 1.0, rtol=0, atol=1e-14)
    assert (grad >= lam - 1e-9 * scale).all()
    assert (np.abs((grad - lam) * w) <= 1e-9 * scale).all()
    assert (w[3:5] == 1.0).sum(-1).tolist() == [1, 1]  # the large-theta ones are vertices
    assert w[-1, 0] == 1.0  # the small gradient alone is the min-norm point
    obj = 0.5 * (w * (grad - q)).sum(-1) + (q * w).sum(-1)
    obj_ref = 0.5 * np.einsum("bi,bij,bj->b", w_ref, Q, w_ref) + (q * w_ref).sum(-1)
    assert (obj <= obj_ref + 1e-12 * np.abs(obj_ref).max()).all(), (obj, obj_ref)


def test_bmv_shared_matrix_path_matches_general() -> None:
    """_bmv's product for one matrix shared by m vectors equals the broadcast one."""
    rng = np.random.default_rng(0)
    M = rng.standard_normal((3, 1, 5, 5))
    v = rng.standard_normal((3, 4, 5))
    expected = np.einsum("bij,bmj->bmi", M[:, 0], v)
    np.testing.assert_allclose(_cpu._bmv(M, v), expected, rtol=1e-14, atol=1e-14)
    np.testing.assert_allclose(_cpu._bmv(M[0], v), np.einsum("ij,bmj->bmi", M[0, 0], v),
                               rtol=1e-14, atol=1e-14)
    # Fewer vector dims than the matrix's batch: the general broadcast (no shared path).
    np.testing.assert_allclose(_cpu._bmv(M, v[0, 0]), np.einsum("bij,j->bi", M[:, 0], v[0, 0])
                               [:, None], rtol=1e-14, atol=1e-14)
