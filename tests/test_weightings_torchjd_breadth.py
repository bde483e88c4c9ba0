"""The aggregators TorchJD 0.18 has beyond the first set: DualProj, Aligned-MTL, ConFIG,
Random (RLW), GradVac, FairGrad and Nash-MTL.

Each is compared with TorchJD's aggregator (an independent implementation, most of them on
the Jacobian rather than the Gramian) on random, rank-deficient, colinear, zero-row and
badly scaled Jacobians, then checked for the properties the other weightings have: finite
from scale 0 to 1e15 in float32 and float64, permutation invariance where the method is
invariant, K = 1, batched equal to one by one. Measured worst differences are in comments.
"""

from __future__ import annotations

import warnings

import numpy as np
import pytest
import torch

from dse.gradient import aggregate, get_weighting, gramian
from dse.gradient._base import normalise_gramian
from dse.gradient._fair import solve_alpha_fair
from dse.gradient._gradvac import gradvac_weights

STRUCTURES = ["full", "rank2", "colinear", "zero_row", "badly_scaled"]
SCALES = [0.0, 1e-15, 1.0, 1e7, 1e15]
EXACT = ["dualproj", "aligned_mtl", "config"]
STATELESS = [*EXACT, "random", "fairgrad", "nash_mtl"]
INVARIANT = [*EXACT, "fairgrad", "nash_mtl"]  # permutation invariant (not the random ones)


def make_jacobian(structure: str, K: int, P: int, *, seed: int,
                  dtype: torch.dtype = torch.float64, scale: float = 1.0) -> torch.Tensor:
    """Random ``K x P`` Jacobian with the named structure (``badly_scaled``: rows with
    norms spread over 4 decades)."""
    g = torch.Generator().manual_seed(seed)
    J = torch.randn(K, P, generator=g, dtype=torch.float64)
    if structure == "rank2":
        J = torch.randn(K, 2, generator=g, dtype=torch.float64) @ J[:2]
    elif structure == "colinear":  # multiples (of both signs) of one vector
        J = torch.randn(K, 1, generator=g, dtype=torch.float64) * J[:1]
    elif structure == "zero_row":
        J[K // 2] = 0
    elif structure == "badly_scaled":
        spread = torch.logspace(-2, 2, K, dtype=torch.float64)
        J = J * spread[torch.randperm(K, generator=g)][:, None]
    elif structure != "full":
        raise ValueError(structure)
    return (J * scale).to(dtype)


def _rel(d: torch.Tensor, ref: torch.Tensor) -> float:
    return float((d - ref).norm() / ref.norm().clamp(min=1e-300))


def _tja():
    return pytest.importorskip("torchjd.aggregation")


# --------------------------------------------------------------------------- TorchJD, exact


@pytest.mark.parametrize("K", [2, 3, 5])
@pytest.mark.parametrize("structure", STRUCTURES)
def test_exact_ones_match_torchjd(structure: str, K: int) -> None:
    """DualProj, Aligned-MTL (3 scale modes), ConFIG: same direction to 1e-6 relative.

    Measured worst: 2e-11 (DualProj, a QP solved by both sides), 2e-10 (Aligned-MTL on the
    badly scaled rows, the Gramian's conditioning), 1e-14 (ConFIG)."""
    tja = _tja()
    pytest.importorskip("quadprog")  # TorchJD's dual-cone projector
    pytest.importorskip("qpsolvers")
    J = make_jacobian(structure, K, 20, seed=K)
    pairs = [
        # TorchJD regularises the normalised Gramian with 1e-4 I for quadprog: same here.
        (get_weighting("dualproj", reg_eps=1e-4), tja.DualProj()),
        (get_weighting("config"), tja.ConFIG()),
        *[(get_weighting("aligned_mtl", scale_mode=m), tja.AlignedMTL(scale_mode=m))
          for m in ("min", "median", "rmse")],
    ]
    for ours, ref in pairs:
        d, d_ref = aggregate(J, ours), ref(J)
        assert (d - d_ref).norm() <= 1e-6 * d_ref.norm() + 1e-12 * J.norm(), (ours, _rel(d, d_ref))


def test_preference_vectors_match_torchjd() -> None:
    tja = _tja()
    pytest.importorskip("quadprog")
    pytest.importorskip("qpsolvers")
    J = make_jacobian("full", 4, 12, seed=9)
    p = torch.tensor([0.1, 0.2, 0.3, 0.4], dtype=torch.float64)
    for ours, ref in [(get_weighting("dualproj", pref=p, reg_eps=1e-4), tja.DualProj(p)),
                      (get_weighting("aligned_mtl", pref=p), tja.AlignedMTL(p)),
                      (get_weighting("config", pref=p), tja.ConFIG(p))]:
        d_ref = ref(J)
        assert _rel(aggregate(J, ours), d_ref) < 1e-9, ours


@pytest.mark.parametrize("seed", range(3))
def test_random_replays_torchjd(seed: int) -> None:
    """TorchJD draws torch.randn(K) from the global generator; ours from its own, seeded
    the same way: the same weights (to rounding)."""
    tja = _tja()
    J = make_jacobian("full", 5, 8, seed=seed)
    torch.manual_seed(seed)
    ref = tja.Random()(J)
    torch.testing.assert_close(aggregate(J, get_weighting("random", seed=seed)), ref,
                               rtol=1e-12, atol=1e-14)


def _torchjd_orders(K: int, seed: int) -> torch.Tensor:
    """The visiting orders TorchJD's GradVac draws after ``torch.manual_seed(seed)``."""
    torch.manual_seed(seed)
    rows = []
    for i in range(K):
        others = [j for j in range(K) if j != i]
        rows.append([others[p] for p in torch.randperm(K - 1).tolist()])
    return torch.tensor(rows).reshape(K, K - 1)


@pytest.mark.parametrize("K", [3, 5])
@pytest.mark.parametrize("structure", ["full", "rank2", "zero_row", "badly_scaled"])
def test_gradvac_matches_torchjd_over_steps(structure: str, K: int) -> None:
    """Four steps sharing the moving-average state, the same visiting orders replayed.

    With ``eps = 0`` on both sides (ours on the trace-normalised Gramian) and with TorchJD's
    ``eps = 1e-8`` on the raw Gramian (same formula): measured worst 9e-15. Colinear
    gradients are left out: their cosines are +-1 to rounding, where the correction's
    branch ``phi < phi_hat`` is decided by the last bit (both sides then differ)."""
    tja = _tja()
    for eps in (0.0, 1e-8):
        ref = tja.GradVac(beta=0.5, eps=eps)
        phi = torch.zeros(K, K, dtype=torch.float64)
        for step in range(4):
            J = make_jacobian(structure, K, 20, seed=K + 10 * step)
            order = _torchjd_orders(K, step)
            torch.manual_seed(step)
            d_ref = ref(J)
            G = gramian(J)
            w, phi = gradvac_weights(normalise_gramian(G) if eps == 0 else G, order, phi,
                                     beta=0.5, eps=eps)
            assert _rel(w @ J, d_ref) < 1e-9, (eps, step)


def test_gradvac_update_matches_torchjd_for_two_tasks() -> None:
    """K = 2: the visiting order is forced, so the stateful update itself is compared."""
    tja = _tja()
    m = get_weighting("gradvac", beta=0.3)
    ref = tja.GradVac(beta=0.3, eps=0.0)
    state = m.init(2)
    for step in range(6):
        J = make_jacobian("full", 2, 7, seed=step)
        if step % 2:
            J[1] = J[1] - 1.5 * J[0]  # conflicting half of the time
        w, state = m.update(state, G=gramian(J))
        assert _rel(w @ J, ref(J)) < 1e-12, step


# --------------------------------------------------------------------------- TorchJD, iterative


def _fair_residual(G: torch.Tensor, x: torch.Tensor, alpha: float) -> float:
    """Backward error of ``G x = x^(-1/alpha)``: residual over the terms' magnitudes."""
    push = x.pow(-1.0 / alpha)
    return float(((G @ x - push).abs() / (G.abs() @ x + push)).max())


@pytest.mark.parametrize("alpha", [0.5, 1.0, 2.0])
@pytest.mark.parametrize("structure", ["full", "rank2", "zero_row", "badly_scaled"])
def test_fairgrad_matches_torchjd(structure: str, alpha: float) -> None:
    """TorchJD runs scipy's least_squares (tolerances 1e-8); ours is exact to rounding.

    K = 3 (rank 2 then still has a solution). Where TorchJD converged (its backward error
    below 1e-8) the directions agree: measured worst 8e-12 relative, our backward error
    4e-16; the zero gradient gets weight 0 here (any weight gives the same direction).
    Where it did not (rows over 4 decades with alpha = 1: its backward error 0.3, its
    direction 0.39 off), ours must have the smaller backward error."""
    tja = _tja()
    pytest.importorskip("scipy")
    J = make_jacobian(structure, 3, 20, seed=3)
    G = gramian(J)
    w = get_weighting("fairgrad", alpha=alpha)(G)
    w_ref = tja.FairGradWeighting(alpha)(G)
    live = G.diagonal() > 0
    ours = _fair_residual(G[live][:, live], w[live], alpha)
    theirs = _fair_residual(G[live][:, live], w_ref[live], alpha)
    assert ours < 1e-13
    if theirs < 1e-8:
        assert _rel(w @ J, tja.FairGrad(alpha)(J)) < 1e-6
    else:
        assert ours < theirs


def test_fairgrad_at_pareto_stationarity_is_smaller_than_torchjd() -> None:
    """0 in the convex hull (5 gradients of rank 2, opposite colinear ones): no solution,
    the weights diverge and d tends to 0. Ours stops at the cap with a direction below
    1e-6 of the gradients (measured 2e-8); TorchJD's is larger (measured 1e-3 to 1e-5)."""
    tja = _tja()
    v = make_jacobian("full", 1, 20, seed=2)[0]
    for J in (make_jacobian("rank2", 5, 20, seed=5), torch.stack([v, -2 * v])):
        d = aggregate(J, "fairgrad")
        assert torch.isfinite(d).all()
        assert d.norm() < 1e-6 * J.norm(dim=1).min()
        assert d.norm() <= tja.FairGrad(1.0)(J).norm()


@pytest.mark.parametrize("structure,K", [("full", 2), ("full", 5), ("rank2", 3)])
def test_nash_mtl_matches_torchjd(structure: str, K: int) -> None:
    """TorchJD's Nash-MTL: up to 20 cvxpy/ECOS programs, stopping at ||G a - 1/a|| < 1e-3.

    Measured worst: 5e-9 relative on the direction (clipped to norm 1) and unclipped."""
    tja = _tja()
    pytest.importorskip("cvxpy")
    pytest.importorskip("ecos")
    J = make_jacobian(structure, K, 20, seed=K)
    for max_norm in (0.0, 1.0):
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")  # cvxpy's warnings about its own solver choice
            d_ref = tja.NashMTL(n_tasks=K, max_norm=max_norm)(J)
        d = aggregate(J, get_weighting("nash_mtl", max_norm=max_norm))
        assert _rel(d, d_ref) < 1e-6, max_norm


@pytest.mark.parametrize("alpha", [0.5, 1.0, 3.0])
def test_fairgrad_on_same_sign_colinear_gradients_is_the_closed_form(alpha: float) -> None:
    """g_i = a_i v (a_i > 0, ||v|| = 1): G = a a^T, so x_i = (a_i s)^(-alpha) with
    s = a . x, i.e. s^(1 + alpha) = sum_i a_i^(1 - alpha). A rank-1 Gramian, exact."""
    a = torch.tensor([0.3, 1.0, 4.0, 20.0], dtype=torch.float64)
    v = make_jacobian("full", 1, 7, seed=8)[0]
    J = a[:, None] * (v / v.norm())
    s = float((a ** (1 - alpha)).sum()) ** (1 / (1 + alpha))
    expected = (a * s) ** (-alpha)
    torch.testing.assert_close(get_weighting("fairgrad", alpha=alpha)(gramian(J)), expected,
                               rtol=1e-12, atol=0.0)


def test_nash_mtl_is_the_bargaining_solution_on_badly_scaled_rows() -> None:
    """Where TorchJD's convex programs stop early (rows over 4 decades: its directions are
    off by 7e-2 to 0.9), check the definition: G x = 1/x, hence ||J^T x||^2 = K."""
    J = make_jacobian("badly_scaled", 5, 20, seed=5)
    G = gramian(J)
    x = get_weighting("nash_mtl", max_norm=0.0)(G)
    assert _fair_residual(G, x, 1.0) < 1e-13
    assert abs(float(x @ G @ x) - 5) < 1e-10
    d = aggregate(J, "nash_mtl")  # default max_norm=1 clips sqrt(5) to 1
    torch.testing.assert_close(d, (x @ J) / 5**0.5)


# --------------------------------------------------------------------------- properties


@pytest.mark.parametrize("dtype", [torch.float32, torch.float64])
@pytest.mark.parametrize("scale", SCALES)
@pytest.mark.parametrize("structure", [*STRUCTURES, "all_zero"])
def test_finite_at_every_scale(structure: str, scale: float, dtype: torch.dtype) -> None:
    J = (torch.zeros(5, 7, dtype=dtype) if structure == "all_zero"
         else make_jacobian(structure, 5, 7, seed=1, dtype=dtype, scale=scale))
    G = gramian(J)
    for name in STATELESS:
        w = get_weighting(name)(G)
        assert w.dtype == dtype and w.shape == (5,), name
        assert torch.isfinite(w).all() and torch.isfinite(w @ J).all(), f"{name}: {w}"
    m = get_weighting("gradvac")
    w, _ = m.update(m.init(5), G=G)
    assert w.dtype == dtype and torch.isfinite(w).all(), f"gradvac: {w}"


@pytest.mark.parametrize("structure", ["full", "rank2", "colinear", "zero_row"])
def test_dualproj_does_not_conflict_and_solves_its_qp(structure: str) -> None:
    """v >= u, G v >= 0, (G v)_i (v - u)_i = 0: the projection's KKT conditions."""
    J = make_jacobian(structure, 6, 5, seed=2)
    Gn = normalise_gramian(gramian(J))
    v = get_weighting("dualproj")(Gn)
    Gv = Gn @ v
    assert (v >= 1 / 6 - 1e-12).all() and (Gv >= -1e-12).all()
    assert ((v - 1 / 6) * Gv).abs().max() < 1e-12


def test_dualproj_torch_route_equals_numpy_route() -> None:
    """Same directions (on rank-deficient Gramians the QP's minimiser, the weights, is not
    unique; its image J^T v is)."""
    Js = torch.stack([make_jacobian(s, 5, 6, seed=i) for i, s in enumerate(STRUCTURES)])
    G = gramian(Js)
    w = get_weighting("dualproj")
    numpy_route = w(G)
    torch_route = w(G.clone().requires_grad_(True)).detach()  # tracked: the torch solver
    d_np = (numpy_route.unsqueeze(-2) @ Js).squeeze(-2)
    d_torch = (torch_route.unsqueeze(-2) @ Js).squeeze(-2)
    scale = Js.norm(dim=(-2, -1), keepdim=True).squeeze(-1)
    assert ((d_torch - d_np).abs() / scale).max() < 1e-9


@pytest.mark.parametrize("name", ["fairgrad", "nash_mtl"])
def test_fair_device_route_equals_host_route(name: str) -> None:
    """The accelerator route (fixed iterations, torch solves; taken here by a Gramian that
    autograd tracks) against the host route (numpy solves, per-problem stops)."""
    Js = torch.stack([make_jacobian(s, 5, 9, seed=i)
                      for i, s in enumerate(["full", "zero_row", "badly_scaled"])])
    G = gramian(Js)
    w = get_weighting(name)
    host = w(G)
    device = w(G.clone().requires_grad_(True)).detach()
    torch.testing.assert_close(device, host, rtol=1e-10, atol=0.0)


def test_aligned_mtl_rows_become_orthonormal_up_to_scale() -> None:
    """Weights are B pref, linear in pref: B's columns from prefs 1 + e_i and 1. Then B J
    has orthogonal rows of equal norm sqrt(lam_min) (full rank)."""
    J = make_jacobian("badly_scaled", 4, 9, seed=3)
    G = gramian(J)
    ones = torch.ones(4, dtype=torch.float64)
    base = get_weighting("aligned_mtl", pref=ones)(G)
    B = torch.stack([get_weighting("aligned_mtl", pref=ones + e)(G) - base
                     for e in torch.eye(4, dtype=torch.float64)], dim=1)
    BJ = B @ J
    lam_min = torch.linalg.eigvalsh(G)[0]
    torch.testing.assert_close(BJ @ BJ.T, lam_min * torch.eye(4, dtype=torch.float64),
                               rtol=0.0, atol=1e-8 * float(lam_min))


def test_config_has_equal_cosines_with_every_gradient() -> None:
    J = make_jacobian("badly_scaled", 4, 9, seed=4)
    d = aggregate(J, "config")
    cos = J @ d / (J.norm(dim=1) * d.norm())
    assert (cos.max() - cos.min()).abs() < 1e-12 and cos.min() > 0
    torch.testing.assert_close(d.norm(), (J @ d / d.norm()).sum())  # its length rule


@pytest.mark.parametrize("name", INVARIANT)
@pytest.mark.parametrize("structure", ["full", "rank2", "zero_row", "badly_scaled"])
def test_permutation_invariance(name: str, structure: str) -> None:
    J = make_jacobian(structure, 6, 9, seed=3)
    perm = torch.randperm(6, generator=torch.Generator().manual_seed(0))
    d, d_perm = aggregate(J, name), aggregate(J[perm], name)
    # 6 gradients of rank 2 have 0 in their hull: FairGrad and Nash-MTL have no solution
    # there, only a direction below 1e-6 of J (the cap), whose rounding depends on the order.
    atol = 1e-6 if structure == "rank2" and name in ("fairgrad", "nash_mtl") else 1e-9
    torch.testing.assert_close(d_perm, d, rtol=1e-7, atol=atol * float(J.norm()))


def test_single_objective() -> None:
    J = make_jacobian("full", 1, 9, seed=4)
    g = J[0]
    for name in ["dualproj", "aligned_mtl", "config", "random"]:
        torch.testing.assert_close(aggregate(J, name), g, msg=name)
    m = get_weighting("gradvac")
    w, _ = m.update(m.init(1), G=gramian(J))
    torch.testing.assert_close(w @ J, g)
    n = g.norm()
    for alpha in (0.5, 1.0, 3.0):  # n^2 x = x^(-1/alpha)
        d = aggregate(J, get_weighting("fairgrad", alpha=alpha))
        torch.testing.assert_close(d, n ** (-2 * alpha / (1 + alpha)) * g)
    torch.testing.assert_close(aggregate(J, get_weighting("nash_mtl", max_norm=0.0)), g / n)
    torch.testing.assert_close(aggregate(J * 1e-3, "nash_mtl"), g / n)  # norm 1 <= max_norm


@pytest.mark.parametrize("name", STATELESS)
def test_batched_equals_one_by_one(name: str) -> None:
    Js = torch.stack([make_jacobian(s, 4, 6, seed=i) for i, s in enumerate(STRUCTURES[:4])])
    Js = Js.reshape(2, 2, 4, 6)
    if name == "random":  # one draw per problem: the batch draws the loop's numbers
        batched = aggregate(Js, get_weighting(name, seed=1))
        w = get_weighting(name, seed=1)
        z = torch.randn(2, 2, 4, generator=torch.Generator().manual_seed(1), dtype=torch.float64)
        torch.testing.assert_close(batched, (torch.softmax(z, -1).unsqueeze(-2) @ Js).squeeze(-2))
        return
    w = get_weighting(name)
    batched = aggregate(Js, w)
    single = torch.stack([aggregate(J, w) for J in Js.reshape(-1, 4, 6)])
    # FairGrad and Nash-MTL on the rank-2 and mixed-sign colinear problems (0 in the hull):
    # no solution, directions of about 1e-8 at the cap that differ in their rounding.
    atol = 1e-7 if name in ("fairgrad", "nash_mtl") else 1e-9
    torch.testing.assert_close(batched.reshape(single.shape), single, rtol=1e-7, atol=atol)


def test_gradvac_batched_equals_one_by_one_and_state_is_pure() -> None:
    """K = 2 (forced orders) over 3 steps; an update leaves its input state untouched."""
    Js = torch.stack([make_jacobian("full", 2, 6, seed=i) for i in range(4)])
    Js[::2, 1] -= 2 * Js[::2, 0]
    m = get_weighting("gradvac")
    s_batch = m.init(2)
    s_single = [m.init(2) for _ in range(4)]
    for step in range(3):
        J = Js * (1 + step)
        before = s_batch.phi_hat.clone()
        wb, s_new = m.update(s_batch, G=gramian(J))
        assert torch.equal(s_batch.phi_hat, before)
        s_batch = s_new
        for i in range(4):
            wi, s_single[i] = m.update(s_single[i], G=gramian(J[i]))
            torch.testing.assert_close(wb[i], wi, rtol=1e-10, atol=1e-12)


def test_gradvac_is_reproducible_and_pcgrad_like_at_first() -> None:
    J = make_jacobian("full", 5, 8, seed=6)
    G = gramian(J)
    m = get_weighting("gradvac", seed=3)
    state = m.init(5)
    a, s1 = m.update(state, G=G)
    b, _ = m.update(state, G=G)  # the same state: the same orders, the same weights
    torch.testing.assert_close(a, b, rtol=0, atol=0)
    c, _ = m.update(s1, G=G)  # the next state: new orders and targets
    assert s1.step == 1 and not torch.equal(a, c)
    # Targets start at 0: the first step makes every conflicting pair orthogonal (PCGrad).
    K2 = make_jacobian("full", 2, 5, seed=1)
    K2[1] -= 3 * K2[0]
    g1, g2 = K2
    w, _ = get_weighting("gradvac").update(get_weighting("gradvac").init(2), G=gramian(K2))
    p1 = g1 - (g1 @ g2) / (g2 @ g2) * g2
    p2 = g2 - (g2 @ g1) / (g1 @ g1) * g1
    torch.testing.assert_close(w @ K2, p1 + p2)


@pytest.mark.parametrize("name", EXACT)
def test_weights_do_not_depend_on_scale(name: str) -> None:
    G = gramian(make_jacobian("badly_scaled", 5, 8, seed=6))
    w = get_weighting(name)
    torch.testing.assert_close(w(G * 1e20), w(G), rtol=1e-8, atol=1e-10)


@pytest.mark.parametrize("alpha", [0.5, 1.0, 4.0])
def test_fairgrad_scaling_law(alpha: float) -> None:
    """x(t G) = t^(-alpha/(1+alpha)) x(G): the direction is not scale-invariant."""
    G = gramian(make_jacobian("full", 4, 8, seed=7))
    w = get_weighting("fairgrad", alpha=alpha)
    torch.testing.assert_close(w(G * 1e6), w(G) * 1e6 ** (-alpha / (1 + alpha)), rtol=1e-10,
                               atol=0.0)


def test_alpha_fair_solver_converges_over_six_decades() -> None:
    """The documented iteration count: 30 problems, K 2..10, norms over up to 6 decades."""
    g = torch.Generator().manual_seed(0)
    for _ in range(30):
        K = int(torch.randint(2, 11, (1,), generator=g))
        dec = 6 * float(torch.rand(1, generator=g))
        J = torch.randn(K, 30, generator=g, dtype=torch.float64)
        J = J * torch.logspace(-dec / 2, dec / 2, K, dtype=torch.float64)[:, None]
        Gn = normalise_gramian(gramian(J))
        for alpha in (0.25, 1.0, 10.0):
            x = solve_alpha_fair(Gn, alpha, cap=1e8)
            assert _fair_residual(Gn, x, alpha) < 1e-13, (K, dec, alpha)


def test_parameters_are_checked() -> None:
    for name, params, match in [
        ("dualproj", {"pref": [1.0, -1.0]}, "pref"), ("dualproj", {"reg_eps": -1.0}, "reg_eps"),
        ("aligned_mtl", {"scale_mode": "max"}, "scale_mode"), ("config", {"pref": [0.0]}, "pref"),
        ("random", {"seed": 1.5}, "seed"), ("fairgrad", {"alpha": -1.0}, "alpha"),
        ("nash_mtl", {"max_norm": -1.0}, "max_norm"), ("gradvac", {"beta": 2.0}, "beta"),
        ("gradvac", {"seed": "a"}, "seed"), ("fairgrad", {"colour": 1}, "unknown parameters"),
    ]:
        with pytest.raises(ValueError, match=match):
            get_weighting(name, **params)
    with pytest.raises(ValueError, match="K = 3"):
        get_weighting("config", pref=[1.0, 2.0])(torch.eye(3))
    m = get_weighting("gradvac")
    with pytest.raises(ValueError, match="Gramian"):
        m.update(m.init(2), G=None)


# --------------------------------------------------------------------------- usable by name


def test_every_new_name_is_registered_with_its_kind() -> None:
    from dse.gradient import WEIGHTINGS, list_weightings

    infos = {i.name: i for i in list_weightings()}
    for name in STATELESS:
        assert infos[name].kind == "stateless", name
    assert infos["gradvac"].kind == "stateful" and infos["gradvac"].needs_gramian
    assert infos["random"].scalarising and not infos["random"].needs_gramian
    for alias, name in [("rlw", "random"), ("dual_proj", "dualproj"),
                        ("nashmtl", "nash_mtl"), ("alignedmtl", "aligned_mtl")]:
        assert WEIGHTINGS.canonical(alias) == name


@pytest.mark.parametrize("name", STATELESS)
def test_sweep_with_each_new_weighting(name: str) -> None:
    """``method=gradient weighting=name``: a small ZDT1 sweep, counted and finite."""
    from dse.solvers import solve

    res = solve("zdt1", "gradient", weighting=name, budget=120, n_points=4, seed=0)
    assert len(res.F) and np.isfinite(res.F).all()


def test_cli_sweep_takes_a_new_weighting(tmp_path) -> None:
    import sys
    from pathlib import Path

    root = Path(__file__).resolve().parents[1]
    if str(root) not in sys.path:
        sys.path.insert(0, str(root))
    import cli

    out = tmp_path / "run"
    assert cli.main(["sweep", "problem=zdt1", "problem.n_var=4", "methods=[gradient]",
                     "solver.gradient.weighting=config", "solver.budget=100",
                     "solver.gradient.n_points=4", f"out={out}", "--quiet",
                     "plots=false"]) == 0
