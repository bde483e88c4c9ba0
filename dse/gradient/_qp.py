"""Batched solvers for the small convex programs behind the weightings.

Every solver here works on a leading batch of independent problems at once, runs a fixed
number of iterations (no data-dependent stopping, hence no host synchronisation) and works
in float64 internally whatever the input dtype: the programs are K x K with K the number of
objectives, so float64 costs nothing next to the Gramian and buys ~8 more digits.

Two routes, used as each other's check in the tests:

- :func:`solve_qp`: a primal-dual interior-point method (Mehrotra predictor-corrector) for
  ``min 1/2 x^T Q x + q^T x  s.t.  A x >= b  (and optionally sum(x) = 1)``, followed by an
  active-set "polish" step when ``A`` is the identity: the active set read off the
  interior-point iterate is solved exactly and kept only where it is primal and dual
  feasible. Cost per iteration: one batched LU of a (K+1) x (K+1) matrix.
- closed forms for K = 2 (MGDA, CAGrad), in the weighting modules.

This module is the device route (CUDA: no host synchronisation). Gramians on the CPU take
:mod:`dse.gradient._cpu` instead: the same algorithms in numpy, plus what only the host can
afford, data-dependent stops (exact active-set pivoting first, early certified stops).

:func:`solve_cagrad_dual` is the same interior-point scheme applied to the (non-quadratic,
convex) CAGrad dual ``min_{w in simplex} a^T w + s ||J^T w||``.
"""

from __future__ import annotations

import functools
from collections.abc import Callable
from typing import TYPE_CHECKING, TypeVar

import torch
from torch import Tensor

if TYPE_CHECKING:
    import numpy as np

__all__ = [
    "CAGRAD_POINTS",
    "CAGRAD_ROUNDS",
    "DEFAULT_ITERS",
    "path_coefficients",
    "solve_cagrad_dual",
    "solve_qp",
]

#: Interior-point iterations. Mehrotra's method reached KKT residuals below 1e-13 within 15
#: iterations on every test problem (K up to 40, rank-deficient included), then the polish.
DEFAULT_ITERS = 15

#: CAGrad bracketing: rounds of batched QP solves on a log grid of theta, and grid size.
#: 3 rounds of 8 points shrink 22 decades to a bracket of ratio ~1.2.
CAGRAD_ROUNDS = 3
CAGRAD_POINTS = 8
_REG = 1e-15  # relative primal regularisation of the Newton matrix
_STEP_FRACTION = 0.99  # fraction-to-boundary rule: keep slacks and duals strictly positive
# A torch tensor or a numpy array (for the helpers the numpy route shares).
_ArrayT = TypeVar("_ArrayT", Tensor, "np.ndarray")


def _bmv(M: Tensor, v: Tensor) -> Tensor:
    """Batched matrix-vector product ``M @ v`` with ``M (..., m, n)``, ``v (..., n)``."""
    return (M @ v.unsqueeze(-1)).squeeze(-1)


def _max_step(v: Tensor, dv: Tensor) -> Tensor:
    """Largest ``alpha <= 1`` with ``v + alpha dv >= (1 - fraction) v`` (per problem)."""
    ratio = torch.where(dv < 0, -v / dv.clamp(max=-torch.finfo(v.dtype).tiny), torch.inf)
    return (_STEP_FRACTION * ratio.amin(dim=-1)).clamp(max=1.0)


def _newton_step(
    rc: Tensor,
    *,
    lu: Tensor,
    piv: Tensor,
    A: Tensor,
    At: Tensor,
    s: Tensor,
    z: Tensor,
    rd: Tensor,
    rp: Tensor,
    re: Tensor | None,
    n: int,
) -> tuple[Tensor, Tensor, Tensor, Tensor]:
    """Solve the reduced Newton system for complementarity target ``Z ds + S dz = rc``."""
    rhs = -rd + _bmv(At, (rc - z * rp) / s)
    if re is not None:
        rhs = torch.cat([rhs, -re], dim=-1)
    sol = torch.linalg.lu_solve(lu, piv, rhs.unsqueeze(-1)).squeeze(-1)
    dx = sol[..., :n]
    dnu = sol[..., n:] if re is not None else torch.zeros_like(rd[..., :1])
    ds = _bmv(A, dx) + rp
    dz = (rc - z * ds) / s
    return dx, ds, dz, dnu


def _ipm(
    grad_hess: Callable[[Tensor], tuple[Tensor, Tensor]],
    A: Tensor,
    b: Tensor,
    x0: Tensor,
    *,
    simplex: bool,
    iters: int,
) -> tuple[Tensor, Tensor, Tensor]:
    """Primal-dual interior point for ``min f(x) s.t. A x >= b [, 1^T x = 1]``.

    ``grad_hess(x)`` returns the gradient ``(..., n)`` and Hessian ``(..., n, n)`` of the
    convex objective. Returns ``(x, s, z)``: primal point, slacks ``A x - b`` and duals.
    The Newton system is reduced to ``(H + A^T (Z/S) A) dx (+ 1 dnu) = r`` and factorised
    once per iteration (LU), serving both the predictor and the corrector solve.
    """
    n = x0.shape[-1]
    m = A.shape[-2]
    x = x0
    s = torch.ones_like(b)
    z = torch.ones_like(b)
    nu = torch.zeros_like(x0[..., :1])
    ones = torch.ones_like(x0)
    At = A.mT
    if simplex:
        # Bordered KKT matrix [[H, 1], [1^T, 0]]: the border never changes, only the block.
        border_row = torch.cat([ones, torch.zeros_like(nu)], dim=-1).unsqueeze(-2)
        border_col = ones.unsqueeze(-1)
    for _ in range(iters):
        g, H = grad_hess(x)
        rd = g - _bmv(At, z) + (nu * ones if simplex else 0.0)
        rp = _bmv(A, x) - s - b
        mu = (s * z).sum(-1, keepdim=True) / m
        d = z / s
        M = H + At @ (d.unsqueeze(-1) * A)
        # Primal regularisation: keeps M invertible where G is singular and the duals of
        # inactive bounds have vanished (e.g. 0 in the convex hull); too small to matter.
        M = M + _REG * (1.0 + M.diagonal(dim1=-2, dim2=-1).abs().amax(-1))[
            ..., None, None
        ] * torch.eye(n, dtype=M.dtype, device=M.device)
        if simplex:
            M = torch.cat([torch.cat([M, border_col], dim=-1), border_row], dim=-2)
            re = x.sum(-1, keepdim=True) - 1.0
        # lu_factor_ex: no error check, hence no host synchronisation.
        lu, piv, _ = torch.linalg.lu_factor_ex(M)
        newton = functools.partial(
            _newton_step,
            lu=lu,
            piv=piv,
            A=A,
            At=At,
            s=s,
            z=z,
            rd=rd,
            rp=rp,
            re=re if simplex else None,
            n=n,
        )

        # Predictor (affine scaling) step, then Mehrotra's centring + second-order corrector.
        _, ds_a, dz_a, _ = newton(-s * z)
        alpha_a = torch.minimum(_max_step(s, ds_a), _max_step(z, dz_a)).unsqueeze(-1)
        mu_a = ((s + alpha_a * ds_a) * (z + alpha_a * dz_a)).sum(-1, keepdim=True) / m
        sigma = (mu_a / mu).clamp(0.0, 1.0) ** 3
        dx, ds, dz, dnu = newton(-s * z - ds_a * dz_a + sigma * mu)
        alpha = torch.minimum(_max_step(s, ds), _max_step(z, dz)).unsqueeze(-1)
        # A problem whose step is not finite (singular system) simply stays where it is.
        finite = torch.isfinite(torch.cat([dx, ds, dz, dnu], -1)).all(-1, keepdim=True)
        alpha = torch.where(finite & torch.isfinite(alpha), alpha, 0.0)
        x = x + alpha * dx.nan_to_num(0.0, 0.0, 0.0)
        s = s + alpha * ds.nan_to_num(0.0, 0.0, 0.0)
        z = z + alpha * dz.nan_to_num(0.0, 0.0, 0.0)
        nu = nu + alpha * dnu.nan_to_num(0.0, 0.0, 0.0)
    return x, s, z


def _step_to_boundary(v: Tensor, dv: Tensor) -> Tensor:
    """``min(1, fraction * min_{dv<0} -v/dv)`` via one max: ``fraction / max(fraction, -dv/v)``."""
    return _STEP_FRACTION / (-dv / v).amax(-1, keepdim=True).clamp(min=_STEP_FRACTION)


def _ipm_bounds(
    grad_hess: Callable[[Tensor], tuple[Tensor, Tensor]],
    lower: Tensor,
    x0: Tensor,
    *,
    simplex: bool,
    iters: int,
) -> tuple[Tensor, Tensor, Tensor]:
    """Feasible primal-dual interior point for ``min f(x) s.t. x >= lower [, sum(x) = 1]``.

    The iterate starts strictly feasible (``x0 > lower``, on the simplex if asked) and stays
    so, so the slack is ``x - lower`` and there is no primal residual; this special case of
    :func:`_ipm` (A = I) needs about half the tensor ops per iteration, which is what costs
    on CPU for K x K problems. The Newton matrix ``H + Z / S`` is positive definite:
    Cholesky, no pivoting, no host synchronisation. The sum constraint is eliminated with a
    Schur complement: ``dx = y - dnu M^-1 1`` with ``dnu`` making ``sum(dx) = 0``.
    """
    # The slack is the iterate: recomputing x - lower would round it to 0 near a bound
    # like 1/K (ulp ~ 1e-17) and break the step-length rule.
    s = x0 - lower
    x = x0
    z = torch.ones_like(x0)
    nu = torch.zeros_like(x0[..., :1])
    ones = torch.ones_like(x0).unsqueeze(-1)
    # Fused ops (addcmul, one step-length rule on [s, z]) matter: the cost on these K x K
    # problems is the number of tensor ops, not their arithmetic.
    _, H0 = grad_hess(x)
    reg = _REG * (1.0 + H0.diagonal(dim1=-2, dim2=-1).abs().amax(-1, keepdim=True))
    for _ in range(iters):
        g, H = grad_hess(x)
        if simplex:
            g = g + nu
        d = z / s
        L, _ = torch.linalg.cholesky_ex(H + torch.diag_embed(d + reg))
        sz = torch.cat([s, z], -1)
        mu = (s * z).mean(-1, keepdim=True)
        # Predictor: Z dx + S dz = -S z  =>  (H + D) dx (+ 1 dnu) = -g.
        if simplex:
            Y = torch.cholesky_solve(torch.cat([-g.unsqueeze(-1), ones], -1), L)
            y1 = Y[..., 1]
            sum_y1 = y1.sum(-1, keepdim=True)
            dnu_a = Y[..., 0].sum(-1, keepdim=True) / sum_y1
            dx_a = torch.addcmul(Y[..., 0], dnu_a, y1, value=-1)
        else:
            dx_a = torch.cholesky_solve(-g.unsqueeze(-1), L).squeeze(-1)
        dz_a = torch.addcmul(-z, d, dx_a, value=-1)
        alpha_a = _step_to_boundary(sz, torch.cat([dx_a, dz_a], -1))
        mu_a = (torch.addcmul(s, alpha_a, dx_a) * torch.addcmul(z, alpha_a, dz_a)).mean(
            -1, keepdim=True
        )
        sigma = (mu_a / mu).clamp(0.0, 1.0) ** 3
        # Corrector: Z dx + S dz = -S z - dx_a dz_a + sigma mu.
        corr = torch.addcmul(sigma * mu, dx_a, dz_a, value=-1) / s
        y = torch.cholesky_solve((corr - g).unsqueeze(-1), L).squeeze(-1)
        dx = y
        if simplex:
            dnu = y.sum(-1, keepdim=True) / sum_y1
            dx = torch.addcmul(y, dnu, y1, value=-1)
        dz = torch.addcmul(corr - z, d, dx, value=-1)
        alpha = _step_to_boundary(sz, torch.cat([dx, dz], -1))
        s = torch.addcmul(s, alpha, dx)
        x = lower + s
        z = torch.addcmul(z, alpha, dz)
        if simplex:
            nu = torch.addcmul(nu, alpha, dnu)
    return x, s, z


def _polish_bounds(
    Q: Tensor, q: Tensor, lower: Tensor, x: Tensor, s: Tensor, z: Tensor, *, simplex: bool
) -> Tensor:
    """Solve the QP exactly on the active set guessed from an interior-point iterate.

    For ``A = I``, a bound is taken active where its slack is smaller than its dual. The
    equality-constrained problem on that set is one linear solve; its solution replaces the
    interior-point one only where it is finite, primal feasible, dual feasible (bound
    multipliers >= 0) and not worse, so the polish can only improve the answer.
    """
    n = x.shape[-1]
    active = s < z
    eye = torch.eye(n, dtype=Q.dtype, device=Q.device).expand_as(Q)
    M = torch.where(active.unsqueeze(-1), eye, Q)
    rhs = torch.where(active, lower, -q)
    if simplex:
        col = (~active).to(Q.dtype).unsqueeze(-1)
        row = torch.cat([torch.ones_like(x), torch.zeros_like(x[..., :1])], dim=-1)
        M = torch.cat([torch.cat([M, col], dim=-1), row.unsqueeze(-2)], dim=-2)
        rhs = torch.cat([rhs, torch.ones_like(x[..., :1])], dim=-1)
    sol, info = torch.linalg.solve_ex(M, rhs.unsqueeze(-1))
    sol = sol.squeeze(-1)
    xp = sol[..., :n]
    nu = sol[..., n:] if simplex else torch.zeros_like(x[..., :1])
    # Multipliers of the active bounds: Q x + q + nu = mult on active rows.
    mult = _bmv(Q, xp) + q + nu
    scale = Q.diagonal(dim1=-2, dim2=-1).abs().amax(-1, keepdim=True) + q.abs().amax(
        -1, keepdim=True
    )
    scale = scale.clamp(min=torch.finfo(Q.dtype).tiny)
    tol = 1e-9
    xtol = tol * (1.0 + lower.abs())
    ok = (info == 0).unsqueeze(-1) & torch.isfinite(xp).all(-1, keepdim=True)
    ok = ok & ((xp >= lower - xtol) | active).all(-1, keepdim=True)
    ok = ok & ((mult >= -tol * scale) | ~active).all(-1, keepdim=True)

    def objective(v: Tensor) -> Tensor:
        return 0.5 * (v * _bmv(Q, v)).sum(-1, keepdim=True) + (q * v).sum(-1, keepdim=True)

    ok = ok & (objective(xp) <= objective(x) + tol * scale)
    # Rounding can leave free entries a hair (< xtol) below their bound: clip them.
    xp = torch.where(active, lower, torch.maximum(xp, lower))
    if simplex:
        xp = xp / xp.sum(-1, keepdim=True)
    return torch.where(ok, xp, x)


def solve_qp(
    Q: Tensor,
    q: Tensor | None = None,
    *,
    lower: Tensor | None = None,
    A: Tensor | None = None,
    b: Tensor | None = None,
    simplex: bool = False,
    iters: int = DEFAULT_ITERS,
    polish: bool = True,
) -> Tensor:
    """Solve a batch of convex QPs ``min 1/2 x^T Q x + q^T x``.

    Constraints: either bounds ``x >= lower`` (``A`` is then the identity and the exact
    active-set polish applies; with ``simplex`` the bound must be 0, which is not checked
    because checking values would synchronise with the host) or general rows ``A x >= b``;
    plus ``sum(x) = 1`` when ``simplex``. ``Q`` must be symmetric positive semi-definite,
    shape ``(..., n, n)``; vectors ``(..., n)``; it is the caller's job to scale ``Q`` to order one.

    Returns the minimiser in float64, shape ``(..., n)``.
    """
    Q = Q.to(torch.float64)
    n = Q.shape[-1]
    batch = Q.shape[:-2]
    q = torch.zeros(*batch, n, dtype=Q.dtype, device=Q.device) if q is None else q.to(Q)
    if A is None:
        lower = torch.zeros_like(q) if lower is None else lower.to(Q).expand_as(q)
    else:
        if lower is not None:
            raise ValueError("give either lower or (A, b), not both")
        A = A.to(Q)
        b = b.to(Q)

    def grad_hess(x: Tensor) -> tuple[Tensor, Tensor]:
        return _bmv(Q, x) + q, Q

    if lower is None:
        x0 = torch.full_like(q, 1.0 / n) if simplex else torch.zeros_like(q)
        x, _, _ = _ipm(grad_hess, A, b, x0, simplex=simplex, iters=iters)
        return x
    # Strictly feasible start: the simplex centre (lower = 0 there) or lower + 1/n.
    x0 = torch.full_like(q, 1.0 / n) if simplex else lower + 1.0 / n
    x, s, z = _ipm_bounds(grad_hess, lower, x0, simplex=simplex, iters=iters)
    if polish:
        x = _polish_bounds(Q, q, lower, x, s, z, simplex=simplex)
    return x


def _support_path(G: Tensor, a: Tensor, free: Tensor) -> tuple[Tensor, ...]:
    """Solution path of ``min 1/2 w^T G w + theta a^T w`` on the simplex, fixed support.

    With the support ``free`` fixed, ``w = w0 + theta w1`` and the bound multipliers
    ``m0 + theta m1`` are affine in ``theta`` (one bordered solve, two right-hand sides);
    ``A0, A1, A2`` are the coefficients of ``||J^T w||^2`` in ``theta``.
    """
    zero = torch.zeros_like(a[..., :1])
    f = free.to(G.dtype)
    M = torch.where(free.unsqueeze(-1) & free.unsqueeze(-2), G, torch.diag_embed(1 - f))
    M = torch.cat([torch.cat([M, f.unsqueeze(-1)], -1), torch.cat([f, zero], -1).unsqueeze(-2)], -2)
    rhs = torch.stack(
        [
            torch.cat([torch.zeros_like(a), torch.ones_like(zero)], -1),
            torch.cat([-a * f, zero], -1),
        ],
        -1,
    )
    sol, info = torch.linalg.solve_ex(M, rhs)
    return (*path_coefficients(G, a, sol, _bmv), info)


def path_coefficients(
    G: _ArrayT, a: _ArrayT, sol: _ArrayT, bmv: Callable[[_ArrayT, _ArrayT], _ArrayT]
) -> tuple[_ArrayT, ...]:
    """``w0, w1, m0, m1, A0, A1, A2`` of :func:`_support_path` from its bordered solve.

    ``sol (..., K + 1, 2)`` holds the two solutions (``theta`` = 0, slope in ``theta``):
    their first ``K`` entries are ``w0, w1``, the last the simplex multiplier. Only
    operations that torch tensors and numpy arrays share (``keepdims`` included), with the
    backend's batched matrix-vector product ``bmv``, so that the numpy route
    (:mod:`dse.gradient._cpu`) uses the same formulas.
    """
    K = G.shape[-1]
    w0, w1 = sol[..., :K, 0], sol[..., :K, 1]
    nu0, nu1 = sol[..., K:, 0], sol[..., K:, 1]
    Gw0, Gw1 = bmv(G, w0), bmv(G, w1)
    A0 = (w0 * Gw0).sum(-1, keepdims=True)
    A1 = (w0 * Gw1).sum(-1, keepdims=True)
    A2 = (w1 * Gw1).sum(-1, keepdims=True)
    return w0, w1, Gw0 + nu0, Gw1 + a + nu1, A0, A1, A2


def _exact_on_support(
    G: Tensor, a: Tensor, s: Tensor, w: Tensor, lo: Tensor, hi: Tensor
) -> tuple[Tensor, Tensor]:
    """CAGrad weights on the support of ``w`` if the root lies in ``[lo, hi]`` (KKT-checked)."""
    free = w > 1e-9 * w.amax(-1, keepdim=True)
    w0, w1, m0, m1, A0, A1, A2, info = _support_path(G, a, free)
    qa = A2 - s * s
    # Positive root of (A2 - s^2) th^2 + 2 A1 th + A0 = 0 (none if qa >= 0).
    disc = (A1 * A1 - qa * A0).clamp(min=0).sqrt()
    theta = torch.where(qa < 0, (A1 + disc) / torch.where(qa < 0, -qa, 1.0), torch.inf)
    wp = torch.where(free, w0 + theta * w1, 0.0)
    mult = m0 + theta * m1
    tol = 1e-10
    ok = (info == 0).unsqueeze(-1) & torch.isfinite(wp).all(-1, keepdim=True)
    ok = ok & (theta >= lo * (1 - 1e-9)) & (theta <= hi * (1 + 1e-9))
    ok = ok & (wp >= -tol).all(-1, keepdim=True) & ((mult >= -tol) | free).all(-1, keepdim=True)
    wp = wp.clamp(min=0)
    return wp / wp.sum(-1, keepdim=True), ok


def solve_cagrad_dual(
    G: Tensor,
    a: Tensor,
    scale: Tensor,
    *,
    rounds: int = CAGRAD_ROUNDS,
    points: int = CAGRAD_POINTS,
) -> Tensor:
    """Minimise ``a^T w + scale * ||J^T w||`` over the probability simplex (batched).

    This is the dual of CAGrad (``a = G w0`` with ``w0`` the mean weights, ``scale`` =
    ``c ||g0||``). Its objective is not smooth where ``J^T w = 0``, which is where it
    matters near Pareto-stationary points, so it is not attacked directly. Writing
    ``||v|| = min_l (||v||^2 / l + l) / 2``, the minimiser is the solution ``w(theta)`` of
    the QP ``min 1/2 w^T G w + theta a^T w`` on the simplex (solved exactly by
    :func:`solve_qp`) at the ``theta`` where ``N(theta) = ||J^T w(theta)|| = scale theta``;
    ``N(theta) / theta`` is non-increasing (the envelope of a convex function), so that
    ``theta`` is bracketed by ``rounds`` rounds of ``points`` QPs solved as one batch on a
    log grid (22 decades, then refined). On the bracket's support ``w(theta)`` is affine in
    ``theta`` and the condition a quadratic: its root, checked for feasibility, optimality
    and for lying in the bracket, gives the exact weights; the returned point is the best
    (lowest dual objective) of these and of the QP solutions at the bracket's ends and
    centre, so where no check passes the error is that of a bracket of ratio ~1.2 (in our
    rank-deficient tests, where this happens near the kink, the dual objective stayed within
    5e-8 of the optimum, trace-normalised units, against SLSQP from several starts).
    ``G (..., K, K)``, ``a (..., K)``, ``scale (..., 1)``; float64.
    """
    K = G.shape[-1]
    s = scale.clamp(min=1e-300)
    g0_norm = (a.sum(-1, keepdim=True) / K).clamp(min=0).sqrt()  # a = G w0, w0 = 1/K
    ref = (g0_norm / s).clamp(min=1e-300).log10()
    lo, hi = ref - 14.0, ref + 8.0
    bottom, top = lo, hi
    frac = torch.linspace(0.0, 1.0, points, dtype=G.dtype, device=G.device)
    Gm = G.unsqueeze(-3).expand(*G.shape[:-2], points, K, K)
    for _ in range(rounds):
        exps = lo + (hi - lo) * frac  # (..., points)
        theta = 10.0**exps
        W = solve_qp(Gm, theta.unsqueeze(-1) * a.unsqueeze(-2), simplex=True)
        N = (W * _bmv(Gm, W)).sum(-1).clamp(min=0).sqrt()
        # theta_j <= theta* where N / theta >= s. Take the last such j: at tiny theta, N can
        # fall below the QP's resolution and read as a spurious "above".
        below = N >= s * theta
        last = (below * torch.arange(1, points + 1, device=G.device)).amax(-1, keepdim=True)
        idx = (last - 1).clamp(0, points - 2)
        lo, hi = exps.gather(-1, idx), exps.gather(-1, idx + 1)
    # A bracket at an end of the initial range may hold the root beyond it (theta* = 0 at
    # the kink J^T w = 0): accept closed-form roots there too.
    t_lo = torch.where(lo <= bottom, 0.0, 10.0**lo)
    t_hi = torch.where(hi >= top, torch.inf, 10.0**hi)
    w_lo = W.gather(-2, idx.unsqueeze(-1).expand(*idx.shape[:-1], 1, K)).squeeze(-2)
    w_hi = W.gather(-2, (idx + 1).unsqueeze(-1).expand(*idx.shape[:-1], 1, K)).squeeze(-2)
    exact_lo, ok_lo = _exact_on_support(G, a, s, w_lo, t_lo, t_hi)
    exact_hi, ok_hi = _exact_on_support(G, a, s, w_hi, t_lo, t_hi)
    mid = solve_qp(G, 10.0 ** ((lo + hi) / 2) * a, simplex=True)
    # Every candidate is a point of the simplex, so the one with the lowest dual objective
    # is the answer. (At the kink J^T w = 0, N(theta) jumps to 0 and has no root: there the
    # QP solution at the bracket's upper end is the optimum.)
    cand = torch.stack([exact_lo, exact_hi, mid, w_lo, w_hi], -2)
    valid = torch.stack([ok_lo, ok_hi] + [torch.ones_like(ok_lo)] * 3, -2)
    norm = (cand * _bmv(G.unsqueeze(-3), cand)).sum(-1, keepdim=True).clamp(min=0).sqrt()
    dual = (cand * a.unsqueeze(-2)).sum(-1, keepdim=True) + s.unsqueeze(-1) * norm
    dual = torch.where(valid & torch.isfinite(dual), dual, torch.inf)
    best = dual.argmin(-2, keepdim=True)
    return cand.gather(-2, best.expand(*best.shape[:-1], K)).squeeze(-2)
