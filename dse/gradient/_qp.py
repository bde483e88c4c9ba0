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

__all__ = ["DEFAULT_ITERS", "solve_cagrad_dual", "solve_qp"]

#: Interior-point iterations. Mehrotra's method reaches a relative duality gap below 1e-12
#: in 12-20 iterations on these K x K problems; 30 leaves margin for badly scaled ones.
DEFAULT_ITERS = 30

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
    xp = torch.where(active, lower, xp)
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
    active-set polish applies) or general rows ``A x >= b``; plus ``sum(x) = 1`` when
    ``simplex``. ``Q`` must be symmetric positive semi-definite, shape ``(..., n, n)``;
    vectors ``(..., n)``; it is the caller's job to scale ``Q`` to order one.

    Returns the minimiser in float64, shape ``(..., n)``.
    """
    Q = Q.to(torch.float64)
    n = Q.shape[-1]
    batch = Q.shape[:-2]
    q = torch.zeros(*batch, n, dtype=Q.dtype, device=Q.device) if q is None else q.to(Q)
    if A is None:
        lower = torch.zeros_like(q) if lower is None else lower.to(Q).expand_as(q)
        A = torch.eye(n, dtype=Q.dtype, device=Q.device).expand(*batch, n, n)
        b = lower
    else:
        A = A.to(Q)
        b = b.to(Q)
    x0 = torch.full_like(q, 1.0 / n) if simplex else torch.zeros_like(q)

    def grad_hess(x: Tensor) -> tuple[Tensor, Tensor]:
        return _bmv(Q, x) + q, Q

    x, s, z = _ipm(grad_hess, A, b, x0, simplex=simplex, iters=iters)
    if polish and lower is not None:
        x = _polish_bounds(Q, q, lower, x, s, z, simplex=simplex)
    return x


def solve_cagrad_dual(G: Tensor, a: Tensor, scale: Tensor, *, iters: int = DEFAULT_ITERS) -> Tensor:
    """Minimise ``a^T w + scale * sqrt(w^T G w)`` over the probability simplex (batched).

    This is the dual of CAGrad (``a = G w0`` with ``w0`` the mean weights, ``scale`` =
    ``c ||g0||``). The objective is convex but not quadratic: the interior-point iteration
    uses its exact gradient ``a + scale G w / n`` and Hessian
    ``scale (G / n - (G w)(G w)^T / n^3)`` with ``n = ||J^T w||``. ``n`` is floored at a
    tiny fraction of the scale of ``G`` so the Hessian stays finite where the convex hull
    of the gradients contains 0 (there CAGrad falls back to the mean gradient anyway).
    ``G (..., K, K)``, ``a (..., K)``, ``scale (..., 1)``; float64 in and out.
    """
    K = G.shape[-1]
    floor = 1e-24 * G.diagonal(dim1=-2, dim2=-1).sum(-1, keepdim=True).clamp(min=1e-300)

    def grad_hess(w: Tensor) -> tuple[Tensor, Tensor]:
        Gw = _bmv(G, w)
        n2 = (w * Gw).sum(-1, keepdim=True) + floor
        n = n2.sqrt()
        grad = a + scale * Gw / n
        H = scale.unsqueeze(-1) * (
            G / n.unsqueeze(-1) - Gw.unsqueeze(-1) * Gw.unsqueeze(-2) / (n2 * n).unsqueeze(-1)
        )
        return grad, H

    eye = torch.eye(K, dtype=G.dtype, device=G.device).expand_as(G)
    x0 = torch.full_like(a, 1.0 / K)
    w, _, _ = _ipm(grad_hess, eye, torch.zeros_like(a), x0, simplex=True, iters=iters)
    return w
