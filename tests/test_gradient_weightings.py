"""Stateless weightings: TorchJD as an independent route, brute force, and properties.

Property checks run over Jacobians of chosen structure (full rank, rank-deficient,
colinear, one zero gradient, all zero), scales 0 to 1e15, float32 and float64.
"""

from __future__ import annotations

import itertools

import numpy as np
import pytest
import torch

from dse.gradient import aggregate, get_weighting, gramian
from dse.gradient._base import normalise_gramian
from dse.gradient._qp import solve_cagrad_dual, solve_qp
from dse.gradient._weightings import _cagrad_k2, pcgrad_weights

tja = pytest.importorskip("torchjd.aggregation")

STRUCTURES = ["full", "rank2", "colinear", "zero_row", "all_zero"]
SCALES = [0.0, 1e-15, 1.0, 1e7, 1e15]
DTYPES = [torch.float32, torch.float64]


def make_jacobian(structure: str, K: int, P: int, *, seed: int,
                  dtype: torch.dtype = torch.float64, scale: float = 1.0) -> torch.Tensor:
    """Random ``K x P`` Jacobian with the named structure."""
    g = torch.Generator().manual_seed(seed)
    if structure == "full":
        J = torch.randn(K, P, generator=g, dtype=torch.float64)
    elif structure == "rank2":
        J = torch.randn(K, 2, generator=g, dtype=torch.float64) @ torch.randn(
            2, P, generator=g, dtype=torch.float64)
    elif structure == "colinear":  # multiples (of both signs) of one vector
        J = torch.randn(K, 1, generator=g, dtype=torch.float64) * torch.randn(
            1, P, generator=g, dtype=torch.float64)
    elif structure == "zero_row":
        J = torch.randn(K, P, generator=g, dtype=torch.float64)
        J[K // 2] = 0
    elif structure == "all_zero":
        J = torch.zeros(K, P, dtype=torch.float64)
    else:
        raise ValueError(structure)
    return (J * scale).to(dtype)


GRAMIAN_METHODS = {
    "mean": {}, "mgda": {}, "cagrad": {}, "pcgrad": {}, "imtl_g": {}, "upgrad": {},
    "grad_normalisation": {},
}


def _non_conflict_tol(J: torch.Tensor, w: torch.Tensor) -> torch.Tensor:
    # Rounding of G, of the float64 weights cast back to J's dtype and of J @ d.
    eps = torch.finfo(J.dtype).eps
    G = gramian(J.double())
    return 100 * eps * G.diagonal().max() * w.double().abs().sum() + 1e-300


# --------------------------------------------------------------------------- TorchJD


@pytest.mark.parametrize("K", [2, 3, 5])
@pytest.mark.parametrize("seed", range(3))
def test_mgda_matches_torchjd(K: int, seed: int) -> None:
    J = make_jacobian("full", K, 20, seed=seed)
    ours = aggregate(J, get_weighting("mgda"))
    G = gramian(J)
    w_ref = tja.MGDAWeighting(epsilon=1e-12, max_iters=2_000)(G)
    # TorchJD's Frank-Wolfe converges sublinearly; its Wolfe gap 2 (w^T G w - min_i (G w)_i)
    # bounds its suboptimality, so the exact optimum lies in [f_ref - gap, f_ref].
    f_ref = w_ref @ G @ w_ref
    gap = 2 * (f_ref - (G @ w_ref).min())
    f = ours @ ours
    assert f_ref - gap - 1e-12 <= f <= f_ref + 1e-12, f"seed={seed}"
    assert (ours - w_ref @ J).norm() <= (2 * gap).sqrt() + 1e-9  # strong convexity in d


@pytest.mark.parametrize("K", [2, 3, 6])
@pytest.mark.parametrize("seed", range(3))
def test_upgrad_matches_torchjd(K: int, seed: int) -> None:
    pytest.importorskip("quadprog")  # TorchJD's projector: quadprog through qpsolvers
    pytest.importorskip("qpsolvers")
    J = make_jacobian("full", K, 20, seed=seed)
    # TorchJD regularises the normalised Gramian with 1e-4 I for quadprog: same setting here.
    ours = aggregate(J, get_weighting("upgrad", reg_eps=1e-4))
    torch.testing.assert_close(ours, tja.UPGrad()(J), rtol=1e-9, atol=1e-10)


@pytest.mark.parametrize("K", [2, 3, 5, 10])
@pytest.mark.parametrize("seed", range(3))
def test_cagrad_matches_torchjd(K: int, seed: int) -> None:
    pytest.importorskip("cvxpy")
    J = make_jacobian("full", K, 20, seed=seed)
    # TorchJD's CAGrad does not rescale: rescale=False gives the same vector.
    w = get_weighting("cagrad", c=0.5, rescale=False)(gramian(J))
    w_ref = tja.CAGradWeighting(c=0.5)(gramian(J))
    # Clarabel's default tolerance (~1e-9 on the objective) leaves up to ~1e-4 relative on
    # the direction (the optimum is flat); the tight SLSQP test below pins ours to 1e-7.
    d, d_ref = w @ J, w_ref @ J
    assert (d - d_ref).norm() <= 1e-3 * d_ref.norm(), f"seed={seed}"
    # ...and our dual objective is at least as low as TorchJD's.
    Gn = normalise_gramian(gramian(J))
    w0 = torch.full((K,), 1.0 / K, dtype=torch.float64)
    s = 0.5 * (w0 @ Gn @ w0).sqrt()

    def dual(weights: torch.Tensor) -> torch.Tensor:
        v = (weights - w0) / (weights - w0).sum()
        return v @ Gn @ w0 + s * (v @ Gn @ v).sqrt()

    assert dual(w) <= dual(w_ref) + 1e-12


@pytest.mark.parametrize("K", [3, 5, 8])
@pytest.mark.parametrize("seed", range(2))
def test_cagrad_dual_matches_scipy_slsqp(K: int, seed: int) -> None:
    from scipy.optimize import minimize

    Gn = normalise_gramian(gramian(make_jacobian("full", K, 20, seed=seed)))
    a = Gn.mean(-1)
    s = 0.5 * float(Gn.mean()) ** 0.5
    G_np, a_np = Gn.numpy(), a.numpy()

    def dual(x: np.ndarray) -> float:
        return a_np @ x + s * (x @ G_np @ x) ** 0.5

    ref = minimize(dual, [1 / K] * K, method="SLSQP", bounds=[(0, 1)] * K, tol=1e-15,
                   constraints=[{"type": "eq", "fun": lambda x: x.sum() - 1}])
    w = solve_cagrad_dual(Gn, a, torch.tensor([s], dtype=torch.float64))
    assert dual(w.numpy()) <= ref.fun + 1e-12
    # KKT on the simplex: the gradient a + s G w / ||g_w|| is equal on the support and not
    # smaller off it (SLSQP itself only gets ~1e-7 on w, so pin ours with KKT instead).
    grad = a + s * (Gn @ w) / (w @ Gn @ w).sqrt()
    support = w > 1e-9
    lam = grad[support].mean()
    assert (grad[support] - lam).abs().max() < 1e-12
    assert (grad[~support] >= lam - 1e-12).all()


@pytest.mark.parametrize("K", [3, 8])
@pytest.mark.parametrize("structure", ["rank2", "colinear", "zero_row"])
def test_cagrad_dual_degenerate_vs_multistart_slsqp(K: int, structure: str) -> None:
    """0 in or near the hull (objective not smooth at J^T w = 0): still at the optimum."""
    from scipy.optimize import minimize

    Gn = normalise_gramian(gramian(make_jacobian(structure, K, 6, seed=0)))
    a = Gn.mean(-1)
    s = 0.5 * float(Gn.mean()) ** 0.5
    G_np, a_np = Gn.numpy(), a.numpy()

    def dual(x: np.ndarray) -> float:
        return a_np @ x + s * max(x @ G_np @ x, 0.0) ** 0.5

    starts = [np.full(K, 1 / K)] + [np.eye(K)[i] for i in range(K)]
    best = min(minimize(dual, x0, method="SLSQP", bounds=[(0, 1)] * K, tol=1e-15,
                        constraints=[{"type": "eq", "fun": lambda x: x.sum() - 1}]).fun
               for x0 in starts)
    w = solve_cagrad_dual(Gn, a, torch.tensor([s], dtype=torch.float64))
    # Documented accuracy near the kink: 5e-8 (trace-normalised units).
    assert dual(w.numpy()) <= best + 1e-7


@pytest.mark.parametrize("K", [2, 3, 5])
@pytest.mark.parametrize("structure", ["full", "rank2", "zero_row"])
def test_imtl_g_matches_torchjd(K: int, structure: str) -> None:
    J = make_jacobian(structure, K, 20, seed=K)
    torch.testing.assert_close(aggregate(J, "imtl_g"), tja.IMTLG()(J), rtol=1e-8, atol=1e-10)


@pytest.mark.parametrize("K", [2, 3, 5])
@pytest.mark.parametrize("seed", range(3))
def test_pcgrad_matches_torchjd_with_same_orders(K: int, seed: int) -> None:
    J = make_jacobian("full", K, 20, seed=seed)
    G = gramian(J)
    # TorchJD draws torch.randperm(K) once per task from the global RNG; replay it.
    torch.manual_seed(seed)
    ref = tja.PCGradWeighting()(G)
    torch.manual_seed(seed)
    order = torch.stack([torch.randperm(K) for _ in range(K)])
    torch.testing.assert_close(pcgrad_weights(G, order), ref, rtol=1e-10, atol=1e-12)


def test_pcgrad_k2_matches_paper_formula() -> None:
    J = torch.tensor([[1.0, 0.0], [-1.0, 1.0]], dtype=torch.float64)
    g1, g2 = J
    p1 = g1 - (g1 @ g2) / (g2 @ g2) * g2
    p2 = g2 - (g2 @ g1) / (g1 @ g1) * g1
    torch.testing.assert_close(aggregate(J, "pcgrad"), p1 + p2)


def test_pcgrad_seed_reproducible() -> None:
    G = gramian(make_jacobian("full", 6, 10, seed=0))
    a = [get_weighting("pcgrad", seed=3)(G) for _ in range(2)]
    b = [get_weighting("pcgrad", seed=3)(G) for _ in range(2)]
    torch.testing.assert_close(a, b)


# --------------------------------------------------------------------------- exact routes


def _brute_mgda(G: torch.Tensor) -> float:
    """Min of w^T G w over the simplex by enumerating supports (KKT systems)."""
    K = G.shape[0]
    best = float("inf")
    for r in range(1, K + 1):
        for S in itertools.combinations(range(K), r):
            M = torch.zeros(r + 1, r + 1, dtype=G.dtype)
            M[:r, :r] = G[list(S)][:, list(S)]
            M[:r, r] = 1
            M[r, :r] = 1
            rhs = torch.zeros(r + 1, dtype=G.dtype)
            rhs[r] = 1
            sol, info = torch.linalg.solve_ex(M, rhs)
            if info == 0 and (sol[:r] >= -1e-12).all():
                w = torch.zeros(K, dtype=G.dtype)
                w[list(S)] = sol[:r]
                best = min(best, float(w @ G @ w))
    return best


@pytest.mark.parametrize("structure", ["full", "rank2", "colinear", "zero_row"])
@pytest.mark.parametrize("K", [3, 4, 6])
def test_mgda_value_matches_support_enumeration(structure: str, K: int) -> None:
    J = make_jacobian(structure, K, 5, seed=K)
    Gn = normalise_gramian(gramian(J))
    w = get_weighting("mgda")(Gn)
    assert abs(float(w @ Gn @ w) - _brute_mgda(Gn)) < 1e-12


@pytest.mark.parametrize("seed", range(5))
def test_cagrad_k2_closed_form_matches_interior_point(seed: int) -> None:
    g = torch.Generator().manual_seed(seed)
    J = torch.randn(64, 2, 4, generator=g, dtype=torch.float64)
    J[:, 1] = J[:, 1] * torch.rand(64, 1, generator=g, dtype=torch.float64) * 10
    J[:32, 1] -= J[:32, 0]  # make half of them conflict strongly
    Gn = normalise_gramian(gramian(J))
    w0 = torch.full((64, 2), 0.5, dtype=torch.float64)
    a = (Gn @ w0.unsqueeze(-1)).squeeze(-1)
    s = 0.5 * (a * w0).sum(-1, keepdim=True).sqrt()

    def dual(w: torch.Tensor) -> torch.Tensor:
        return (a * w).sum(-1) + s[:, 0] * (w * (Gn @ w.unsqueeze(-1)).squeeze(-1)).sum(-1).sqrt()

    closed, ipm = _cagrad_k2(Gn, a, s), solve_cagrad_dual(Gn, a, s)
    assert (dual(closed) - dual(ipm)).abs().max() < 1e-12
    assert (dual(closed) <= dual(ipm) + 1e-14).all()


@pytest.mark.parametrize("seed", range(3))
def test_upgrad_k2_closed_form_matches_qp(seed: int) -> None:
    J = make_jacobian("full", 2, 3, seed=seed)
    J[1] = J[1] - 1.5 * J[0]
    Gn = normalise_gramian(gramian(J))
    V = solve_qp(Gn.expand(2, 2, 2), lower=torch.eye(2, dtype=torch.float64) / 2)
    torch.testing.assert_close(get_weighting("upgrad")(Gn), V.sum(0), rtol=1e-10, atol=1e-12)


# --------------------------------------------------------------------------- properties


@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("scale", SCALES)
@pytest.mark.parametrize("structure", STRUCTURES)
def test_finite_and_non_conflicting(structure: str, scale: float, dtype: torch.dtype) -> None:
    J = make_jacobian(structure, 5, 7, seed=1, dtype=dtype, scale=scale)
    losses = torch.rand(5, dtype=dtype) + 0.1
    for name, params in GRAMIAN_METHODS.items():
        w = get_weighting(name, **params)(gramian(J))
        assert w.dtype == dtype and w.shape == (5,)
        assert torch.isfinite(w).all(), f"{name} {structure} {scale} {dtype}: {w}"
        d = w @ J
        assert torch.isfinite(d).all(), name
        if name in ("mgda", "upgrad"):
            assert (J @ d >= -_non_conflict_tol(J, w)).all(), f"{name} conflicts: {J @ d}"
    for name, params in [("chebyshev", {"preference": [0.2] * 5}),
                         ("epo", {"preference": [1.0] * 5})]:
        w = get_weighting(name, **params)(gramian(J), losses=losses)
        assert torch.isfinite(w).all(), f"{name} {structure} {scale} {dtype}: {w}"


@pytest.mark.parametrize("structure", STRUCTURES[:4])
@pytest.mark.parametrize("seed", range(3))
def test_mgda_kkt(structure: str, seed: int) -> None:
    J = make_jacobian(structure, 8, 6, seed=seed)
    Gn = normalise_gramian(gramian(J))
    w = get_weighting("mgda")(Gn)
    Gw = Gn @ w
    v = w @ Gw
    assert (w >= 0).all() and abs(float(w.sum()) - 1) < 1e-12
    assert (Gw >= v - 1e-10).all(), f"stationarity: {Gw - v}"
    assert ((Gw - v) * w).abs().max() < 1e-10, "complementary slackness"


@pytest.mark.parametrize("structure", STRUCTURES[:4])
def test_upgrad_kkt(structure: str) -> None:
    """Each projection: v >= u, G v >= 0, (G v)_i (v - u)_i = 0 (Prop. 1 of the paper)."""
    K = 7
    Gn = normalise_gramian(gramian(make_jacobian(structure, K, 5, seed=2)))
    U = torch.eye(K, dtype=torch.float64) / K
    V = solve_qp(Gn.expand(K, K, K), lower=U)
    GV = V @ Gn
    assert (V >= U - 1e-12).all() and (GV >= -1e-10).all()
    assert (GV * (V - U)).abs().max() < 1e-10


@pytest.mark.parametrize("name", ["mean", "mgda", "cagrad", "imtl_g", "upgrad",
                                  "grad_normalisation"])
@pytest.mark.parametrize("structure", STRUCTURES[:4])
def test_permutation_invariance(name: str, structure: str) -> None:
    J = make_jacobian(structure, 6, 9, seed=3)
    perm = torch.randperm(6, generator=torch.Generator().manual_seed(0))
    d = aggregate(J, name)
    d_perm = aggregate(J[perm], name)
    torch.testing.assert_close(d_perm, d, rtol=1e-7, atol=1e-9 * float(J.norm()))


@pytest.mark.parametrize("name", ["mean", "mgda", "pcgrad", "imtl_g", "upgrad"])
def test_single_objective_gives_the_gradient(name: str) -> None:
    J = make_jacobian("full", 1, 9, seed=4)
    torch.testing.assert_close(aggregate(J, name), J[0])


def test_cagrad_single_objective_is_scaled_gradient() -> None:
    J = make_jacobian("full", 1, 9, seed=4)
    c = 0.5
    torch.testing.assert_close(aggregate(J, get_weighting("cagrad", c=c, rescale=False)),
                               (1 + c) * J[0])
    torch.testing.assert_close(aggregate(J, get_weighting("cagrad", c=c)),
                               (1 + c) / (1 + c * c) * J[0])


@pytest.mark.parametrize("K", [2, 3, 7])
@pytest.mark.parametrize("rescale", [True, False])
def test_cagrad_c0_is_mean(K: int, rescale: bool) -> None:
    J = make_jacobian("full", K, 9, seed=K)
    torch.testing.assert_close(aggregate(J, get_weighting("cagrad", c=0.0, rescale=rescale)),
                               J.mean(0))


def test_cagrad_large_c_tends_to_mgda() -> None:
    J = make_jacobian("full", 4, 9, seed=5)
    d = aggregate(J, get_weighting("cagrad", c=1e4, rescale=False))
    m = aggregate(J, "mgda")
    cos = d @ m / (d.norm() * m.norm())
    assert cos > 1 - 1e-6


@pytest.mark.parametrize("name", list(GRAMIAN_METHODS))
def test_batched_equals_one_by_one(name: str) -> None:
    Js = torch.stack([make_jacobian(s, 4, 6, seed=i) for i, s in enumerate(STRUCTURES[:4])])
    Js = Js.reshape(2, 2, 4, 6)
    if name == "pcgrad":  # random orders: compare on K = 2, where PCGrad is deterministic
        Js = Js[..., :2, :]
    w = get_weighting(name)
    batched = aggregate(Js, w)
    single = torch.stack([aggregate(J, w) for J in Js.reshape(-1, *Js.shape[-2:])])
    torch.testing.assert_close(batched.reshape(single.shape), single, rtol=1e-7, atol=1e-9)


@pytest.mark.parametrize("name", ["mgda", "cagrad", "upgrad", "imtl_g"])
def test_scale_invariance_of_weights(name: str) -> None:
    G = gramian(make_jacobian("full", 5, 8, seed=6))
    w = get_weighting(name)
    torch.testing.assert_close(w(G * 1e20), w(G), rtol=1e-8, atol=1e-10)


def test_inputs_not_mutated_and_dtype_kept() -> None:
    G = gramian(make_jacobian("full", 4, 6, seed=7, dtype=torch.float32))
    G.requires_grad_(False)
    before = G.clone()
    for name in GRAMIAN_METHODS:
        assert get_weighting(name)(G).dtype == torch.float32
    assert torch.equal(G, before)


def test_linear_and_mean() -> None:
    G = gramian(make_jacobian("full", 3, 4, seed=0)).expand(2, 3, 3)
    w = get_weighting("linear", weights=[0.2, 0.3, 0.5])(G)
    torch.testing.assert_close(w, torch.tensor([[0.2, 0.3, 0.5]] * 2, dtype=torch.float64))
    with pytest.raises(ValueError, match="K = 3"):
        get_weighting("weighted_sum", weights=[0.5, 0.5])(G)
    torch.testing.assert_close(get_weighting("mean")(G), torch.full((2, 3), 1 / 3,
                                                                    dtype=torch.float64))


def test_grad_normalisation_gives_unit_sum() -> None:
    J = make_jacobian("zero_row", 3, 5, seed=0)
    d = aggregate(J, "grad_normalisation")
    expected = sum(g / g.norm() for g in J if g.norm() > 0)
    torch.testing.assert_close(d, expected)


# --------------------------------------------------------------------------- preference-based


@pytest.mark.parametrize("smoothing", [0.0, 0.05])
def test_chebyshev_weights_are_scalarisation_gradient(smoothing: float) -> None:
    p = torch.tensor([0.2, 0.5, 0.3], dtype=torch.float64)
    z = torch.tensor([0.1, -0.2, 0.0], dtype=torch.float64)
    f = torch.tensor([[1.0, 0.4, 2.0], [0.3, 0.9, 0.1]], dtype=torch.float64,
                     requires_grad=True)
    t = p * (f - z)
    S = smoothing * torch.logsumexp(t / smoothing, -1) if smoothing else t.amax(-1)
    (grad,) = torch.autograd.grad(S.sum(), f)
    w = get_weighting("chebyshev", preference=p, ideal=z, smoothing=smoothing)(None, losses=f)
    torch.testing.assert_close(w, grad)


def _concave_problem(x: torch.Tensor) -> torch.Tensor:
    """Lin et al. (2019): f_{1,2} = 1 - exp(-||x -/+ 1/sqrt(n)||^2)."""
    n = x.shape[-1]
    c = 1 / n**0.5
    return torch.stack([1 - torch.exp(-((x - c) ** 2).sum(-1)),
                        1 - torch.exp(-((x + c) ** 2).sum(-1))], -1)


@pytest.mark.parametrize("r", [(1.0, 3.0), (4.0, 1.0)])
def test_epo_lands_on_preference_ray(r: tuple[float, float]) -> None:
    """EPO's claim: the iterate reaches r_1 f_1 = r_2 f_2 on the Pareto front."""
    g = torch.Generator().manual_seed(0)
    x = (torch.rand(20, generator=g, dtype=torch.float64) - 0.5)
    # eps (the paper's tolerance on the non-uniformity mu) sets how close to the ray it ends.
    w = get_weighting("epo", preference=list(r), eps=1e-7)
    for _ in range(60):
        xr = x.clone().requires_grad_(True)
        f = _concave_problem(xr)
        J = torch.stack([torch.autograd.grad(f[i], xr, retain_graph=True)[0] for i in range(2)])
        x = x - 0.2 * aggregate(J, w, losses=f.detach())
    f = _concave_problem(x)
    rf = torch.tensor(r, dtype=torch.float64) * f
    assert abs(float(rf[0] / rf[1]) - 1) < 2e-3, f"r*f = {rf}"
    # ... and on the front: the min-norm point of the two gradients vanishes.
    xr = x.clone().requires_grad_(True)
    fr = _concave_problem(xr)
    J = torch.stack([torch.autograd.grad(fr[i], xr, retain_graph=True)[0] for i in range(2)])
    assert aggregate(J, "mgda").norm() < 1e-2 * J.norm(dim=1).min()
