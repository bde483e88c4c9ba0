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

:func:`solve_cagrad_dual` is the same interior-point scheme applied to the (non-quadratic,
convex) CAGrad dual ``min_{w in simplex} a^T w + s ||J^T w||``.
"""

from __future__ import annotations

import functools
from collections.abc import Callable

import torch
from torch import Tensor

__all__ = ["CAGRAD_ITERS", "CAGRAD_ROUNDS", "DEFAULT_ITERS", "solve_cagrad_dual", "solve_qp"]

#: Interior-point iterations. Mehrotra's method reached KKT residuals below 1e-13 within 15
#: iterations on every test problem (K up to 40, rank-deficient included), then the polish.
DEFAULT_ITERS = 15

#: Path-following rounds of the CAGrad polish (each one (K+1) x (K+1) solve): each round
#: crosses one breakpoint of the support; the interior point lands within 1-2 of the end.
CAGRAD_ROUNDS = 2
#: Interior-point iterations for the non-quadratic CAGrad dual.
CAGRAD_ITERS = 30
_REG = 1e-15  # relative primal regularisation of the Newton matrix
_STEP_FRACTION = 0.99  # fraction-to-boundary rule: keep slacks and duals strictly positive


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
    for _ in range(iters):
        g, H = grad_hess(x)
        if simplex:
            g = g + nu
        d = z / s
        reg = _REG * (1.0 + H.diagonal(dim1=-2, dim2=-1).abs().amax(-1, keepdim=True))
        L, _ = torch.linalg.cholesky_ex(H + torch.diag_embed(d + reg))
        mu = (s * z).mean(-1, keepdim=True)
        # Predictor: Z dx + S dz = -S z  =>  (H + D) dx (+ 1 dnu) = -g.
        if simplex:
            Y = torch.cholesky_solve(torch.cat([-g.unsqueeze(-1), ones], -1), L)
            y1 = Y[..., 1]
            sum_y1 = y1.sum(-1, keepdim=True)
            dnu_a = Y[..., 0].sum(-1, keepdim=True) / sum_y1
            dx_a = Y[..., 0] - dnu_a * y1
        else:
            dx_a = torch.cholesky_solve(-g.unsqueeze(-1), L).squeeze(-1)
        dz_a = -z - d * dx_a
        alpha_a = torch.minimum(_step_to_boundary(s, dx_a), _step_to_boundary(z, dz_a))
        mu_a = ((s + alpha_a * dx_a) * (z + alpha_a * dz_a)).mean(-1, keepdim=True)
        sigma = (mu_a / mu).clamp(0.0, 1.0) ** 3
        # Corrector: Z dx + S dz = -S z - dx_a dz_a + sigma mu.
        rhs = (sigma * mu - dx_a * dz_a) / s - g
        y = torch.cholesky_solve(rhs.unsqueeze(-1), L).squeeze(-1)
        dx = y
        if simplex:
            dnu = y.sum(-1, keepdim=True) / sum_y1
            dx = y - dnu * y1
            nu_next = nu + dnu
        dz = (sigma * mu - dx_a * dz_a) / s - z - d * dx
        alpha = torch.minimum(_step_to_boundary(s, dx), _step_to_boundary(z, dz))
        s = s + alpha * dx
        x = lower + s
        z = z + alpha * dz
        if simplex:
            nu = nu + alpha * (nu_next - nu)
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


def _cagrad_path_polish(
    G: Tensor, a: Tensor, s: Tensor, w: Tensor, *, rounds: int
) -> tuple[Tensor, Tensor]:
    """Exact CAGrad weights by following the solution path of a parametric QP.

    Writing ``||v|| = min_l (||v||^2 / l + l) / 2``, the CAGrad minimiser is the solution
    ``w(theta)`` of ``min 1/2 w^T G w + theta a^T w`` on the simplex at the ``theta`` where
    ``||J^T w(theta)|| = s theta``. On a fixed support ``w`` and the multiplier ``nu`` are
    affine in ``theta`` (one bordered solve, two right-hand sides), so that condition is a
    quadratic in ``theta``, and the support changes only at breakpoints where a weight hits
    0 or an inactive multiplier does. Starting from the support of the approximate ``w``,
    each round either lands on the root inside the current piece (exact answer) or moves to
    the next breakpoint toward it and toggles that index. Returns ``(w, ok)`` with ``ok``
    where the final point passed the KKT check.
    """
    K = G.shape[-1]
    n = (w * _bmv(G, w)).sum(-1, keepdim=True).clamp(min=0).sqrt()
    theta = n / s
    free = w > 1e-9 * w.amax(-1, keepdim=True)
    zero = torch.zeros_like(a[..., :1])
    e_rhs = torch.cat([torch.zeros_like(a), torch.ones_like(zero)], -1)

    def piece(free: Tensor) -> tuple[Tensor, ...]:
        f = free.to(G.dtype)
        M = torch.where(free.unsqueeze(-1) & free.unsqueeze(-2), G, torch.diag_embed(1 - f))
        M = torch.cat(
            [torch.cat([M, f.unsqueeze(-1)], -1), torch.cat([f, zero], -1).unsqueeze(-2)], -2
        )
        rhs = torch.stack([e_rhs, torch.cat([-a * f, zero], -1)], -1)
        sol, info = torch.linalg.solve_ex(M, rhs)
        w0, w1 = sol[..., :K, 0], sol[..., :K, 1]
        nu0, nu1 = sol[..., K:, 0], sol[..., K:, 1]
        Gw0, Gw1 = _bmv(G, w0), _bmv(G, w1)
        m0, m1 = Gw0 + nu0, Gw1 + a + nu1  # multipliers of the bounds, affine in theta
        A0 = (w0 * Gw0).sum(-1, keepdim=True)
        A1 = (w0 * Gw1).sum(-1, keepdim=True)
        A2 = (w1 * Gw1).sum(-1, keepdim=True)
        return w0, w1, m0, m1, A0, A1, A2, info

    for _ in range(rounds):
        w0, w1, m0, m1, A0, A1, A2, _ = piece(free)
        qa = A2 - s * s
        # Positive root of (A2 - s^2) th^2 + 2 A1 th + A0 = 0; none (inf) if qa >= 0.
        disc = (A1 * A1 - qa * A0).clamp(min=0).sqrt()
        root = torch.where(qa < 0, (A1 + disc) / torch.where(qa < 0, -qa, 1.0), torch.inf)
        up = root >= theta
        # Breakpoints between theta and the root: free weights reaching 0, inactive
        # multipliers reaching 0, in the direction of travel.
        val = torch.where(free, w0, m0)
        slope = torch.where(free, w1, m1)
        cross = -val / torch.where(slope != 0, slope, 1.0)
        towards = torch.where(up, slope < 0, slope > 0) & (slope != 0)
        ahead = torch.where(up, cross >= theta, cross <= theta)
        dist = torch.where(towards & ahead, (cross - theta).abs(), torch.inf)
        event_dist, event = dist.min(-1, keepdim=True)
        reach = (root - theta).abs() <= event_dist
        new_theta = torch.where(reach, root, theta + torch.where(up, 1.0, -1.0) * event_dist)
        toggle = (~reach) & torch.isfinite(event_dist)
        flip = torch.zeros_like(free).scatter(-1, event, toggle)
        ok = torch.isfinite(new_theta) & (new_theta >= 0)
        theta = torch.where(ok, new_theta, theta)
        free = torch.where(ok, free ^ flip, free)
    w0, w1, m0, m1, _, _, _, info = piece(free)
    wp = torch.where(free, w0 + theta * w1, 0.0)
    mult = m0 + theta * m1
    tol = 1e-10
    ok = (info == 0).unsqueeze(-1) & torch.isfinite(wp).all(-1, keepdim=True)
    ok = ok & (wp >= -tol).all(-1, keepdim=True) & ((mult >= -tol) | free).all(-1, keepdim=True)
    np_ = (wp * _bmv(G, wp)).sum(-1, keepdim=True).clamp(min=0).sqrt()
    ok = ok & ((np_ - s * theta).abs() <= 1e-9 * (np_ + s * theta) + 1e-300)
    return wp.clamp(min=0), ok


def solve_cagrad_dual(
    G: Tensor,
    a: Tensor,
    scale: Tensor,
    *,
    iters: int = CAGRAD_ITERS,
    rounds: int = CAGRAD_ROUNDS,
) -> Tensor:
    """Minimise ``a^T w + scale * ||J^T w||`` over the probability simplex (batched).

    This is the dual of CAGrad (``a = G w0`` with ``w0`` the mean weights, ``scale`` =
    ``c ||g0||``). An interior-point pass on the (convex, non-quadratic) objective with its
    exact gradient ``a + scale G w / n`` and Hessian ``scale (G / n - G w w^T G / n^3)``,
    ``n = ||J^T w||``, gets close; :func:`_cagrad_path_polish` then makes it exact by
    following the parametric-QP solution path (needed where the objective is not smooth,
    at ``J^T w = 0``, where the interior point alone can stall). The polished point is kept
    where it passes its KKT check. ``G (..., K, K)``, ``a (..., K)``, ``scale (..., 1)``.

    Known limitation: where 0 is in (or within ~1e-3 of) the convex hull of the gradients
    and the optimum sits near the kink ``J^T w = 0``, the interior point can end on a
    suboptimal point (dual objective up to ~4e-3 too high, trace-normalised units, in our
    rank-deficient tests) and the polish cannot recover it. Full-rank (K <= P) problems
    are solved to KKT residuals ~1e-16.
    """
    K = G.shape[-1]
    floor = 1e-24 * G.diagonal(dim1=-2, dim2=-1).sum(-1, keepdim=True) + 1e-300

    def grad_hess(w: Tensor) -> tuple[Tensor, Tensor]:
        Gw = _bmv(G, w)
        n2 = (w * Gw).sum(-1, keepdim=True) + floor
        n = n2.sqrt()
        grad = a + scale * Gw / n
        H = scale.unsqueeze(-1) * (
            G / n.unsqueeze(-1) - Gw.unsqueeze(-1) * Gw.unsqueeze(-2) / (n2 * n).unsqueeze(-1)
        )
        return grad, H

    x0 = torch.full_like(a, 1.0 / K)
    w, _, _ = _ipm_bounds(grad_hess, torch.zeros_like(a), x0, simplex=True, iters=iters)
    s = scale.clamp(min=1e-300)
    wp, ok = _cagrad_path_polish(G, a, s, w, rounds=rounds)
    return torch.where(ok, wp, w)
