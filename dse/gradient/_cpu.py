"""numpy route of the small K x K solves, for Gramians that live on the CPU.

The weightings' programs are K x K: their cost is the number of tensor operations, not
their arithmetic, and a torch operation costs a few microseconds of dispatch where numpy's
costs well under one. CPU tensors share their memory with numpy (no copy, no host round
trip: they are on the host already), so for them the algorithms of :mod:`dse.gradient._qp`
and :mod:`dse.gradient._weightings` run here in numpy: the closed forms for K = 2 (in
Python floats for a single 2 x 2 Gramian), the interior point with its active-set polish,
and the CAGrad bracketing, with the same tolerances and checks. On the host a stop that
depends on the data costs nothing, so the QPs first try block principal pivoting on the
bounds (exact, KKT-certified; one or two batched solves on most problems; on the simplex
also the best vertex, whose check is closed form), run the interior point only on the
problems left uncertified and stop it once its polish is certified; the CAGrad bracketing
stops once every problem has a certified exact root.
Tensors on an accelerator keep the torch route (fixed iterations, no host synchronisation).
The tests check the two routes against each other.

Everything here takes and returns float64 arrays; nothing mutates its inputs.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Iterator

import numpy as np
import torch
from torch import Tensor

from dse.gradient._qp import path_coefficients

__all__ = [
    "cagrad_2x2",
    "cagrad_weights",
    "mgda_2x2",
    "mgda_k2",
    "psd_2x2",
    "psd_gramian",
    "solve_cagrad_dual",
    "solve_qp",
    "to_numpy",
    "upgrad_2x2",
    "upgrad_k2",
    "use_numpy",
]

# Same constants as the torch route (see dse.gradient._qp).
_REG = 1e-15
_STEP_FRACTION = 0.99
_TINY = np.finfo(np.float64).tiny


def use_numpy(G: Tensor) -> bool:
    """True when ``G`` is a CPU tensor of a dtype numpy reads (the route of this module).

    A Gramian that autograd tracks keeps the torch route, whose weights stay differentiable
    with respect to it (numpy's would be constants).
    """
    return (
        G.device.type == "cpu"
        and G.dtype in (torch.float64, torch.float32)
        and not (G.requires_grad and torch.is_grad_enabled())
    )


def to_numpy(G: Tensor) -> np.ndarray:
    """float64 numpy view (or copy, for float32) of a CPU tensor, detached."""
    return G.detach().numpy().astype(np.float64, copy=False)


# NaN / inf inputs propagate as in the torch route, without numpy's warnings.
@np.errstate(all="ignore")
def psd_gramian(G: Tensor) -> np.ndarray:
    """numpy version of :func:`dse.gradient._base.psd_gramian` (trace-normalised + K eps I)."""
    K = G.shape[-1]
    eps = torch.finfo(G.dtype).eps
    g = to_numpy(G)
    tr = np.trace(g, axis1=-2, axis2=-1)[..., None, None]
    return g / np.where(tr > 0, tr, 1.0) + (K * eps) * np.eye(K)


def _diag(G: np.ndarray) -> np.ndarray:
    return np.diagonal(G, axis1=-2, axis2=-1)


def _bmv(M: np.ndarray, v: np.ndarray) -> np.ndarray:
    if M.ndim >= 3 and M.shape[-3] == 1 and v.ndim >= M.ndim - 1:
        # One matrix for the m vectors of v's last batch dim (UPGrad's K problems, CAGrad's
        # points): one (m x n) @ (n x n) product instead of m broadcast matrix-vector ones
        # (about 3x faster on 64 x 10 problems of order 10).
        return v @ np.swapaxes(M[..., 0, :, :], -1, -2)
    return (M @ v[..., None])[..., 0]


def _quad(G: np.ndarray, w: np.ndarray) -> np.ndarray:
    return (w * _bmv(G, w)).sum(-1, keepdims=True)


# --------------------------------------------------------------------------- K = 2
# One 2 x 2 Gramian (the two-task training step) in Python floats: a numpy call on a 0-d
# array costs ~0.5 us, a float operation ~0.03 us. Same formulas as the array versions.


def psd_2x2(G: Tensor) -> tuple[float, float, float] | None:
    """``(g11, g22, g12)`` of :func:`psd_gramian` for one 2 x 2 CPU Gramian.

    ``None`` if an entry is not finite: the array route then gives the same NaN/inf
    propagation as the torch route, which Python floats (that raise on 0-division) do not.
    """
    (g11, g12), (_, g22) = G.detach().tolist()
    tr = g11 + g22
    if not tr > 0:
        tr = 1.0
    shift = 2 * torch.finfo(G.dtype).eps
    out = (g11 / tr + shift, g22 / tr + shift, g12 / tr)
    return out if all(math.isfinite(v) for v in out) else None


def mgda_2x2(g11: float, g22: float, g12: float) -> list[float]:
    """Scalar :func:`mgda_k2` (finite inputs)."""
    den = g11 + g22 - 2 * g12
    t = min(max((g22 - g12) / den, 0.0), 1.0) if den > 0 else 0.5
    return [t, 1 - t]


def upgrad_2x2(g11: float, g22: float, g12: float, u0: float, u1: float) -> list[float]:
    """Scalar :func:`upgrad_k2` (finite inputs)."""
    neg = max(-g12, 0.0)
    r0 = neg / g11 if g11 > 0 else neg
    r1 = neg / g22 if g22 > 0 else neg
    return [u0 + u1 * r0, u1 + u0 * r1]


def cagrad_2x2(g11: float, g22: float, g12: float, c: float, rescale: bool) -> list[float]:
    """Scalar :func:`cagrad_weights` for K = 2 (finite inputs)."""
    a0, a1 = 0.5 * (g11 + g12), 0.5 * (g12 + g22)
    s = c * math.sqrt(max(0.5 * (a0 + a1), 0.0))
    D = g11 + g22 - 2 * g12
    e = g12 - g22
    r = max(D * g22 - e * e, 0.0)
    D1 = D if D > 0 else 1.0
    denom = s * math.sqrt(D1)
    kappa = -(a0 - a1) / (denom if denom > 0 else 1.0)
    one_minus = 1 - kappa * kappa
    # |kappa| >= 1: the objective is monotone in t and the minimiser is an end point.
    h = kappa * math.sqrt(r / one_minus) if one_minus > 0 else math.copysign(math.inf, kappa)
    t = min(max((h - e) / D1, 0.0), 1.0) if D > 0 and denom > 0 else 0.5
    w0, w1 = t, 1 - t
    gw = math.sqrt(max(w0 * (g11 * w0 + g12 * w1) + w1 * (g12 * w0 + g22 * w1), 0.0))
    lam = s / gw if gw > 1e-12 else 0.0
    div = 1.0 + c * c if rescale else 1.0
    return [(0.5 + lam * w0) / div, (0.5 + lam * w1) / div]


# NaN / inf inputs propagate as in the torch route, without numpy's warnings.
@np.errstate(all="ignore")
def mgda_k2(G: np.ndarray) -> np.ndarray:
    """Closed-form min-norm point of the segment [g1, g2] (see ``_weightings._mgda_k2``)."""
    a, c, b = G[..., 0, 0], G[..., 1, 1], G[..., 0, 1]
    den = a + c - 2 * b
    pos = den > 0
    t = np.clip(np.where(pos, (c - b) / np.where(pos, den, 1.0), 0.5), 0.0, 1.0)
    return np.stack([t, 1 - t], -1)


# NaN / inf inputs propagate as in the torch route, without numpy's warnings.
@np.errstate(all="ignore")
def upgrad_k2(G: np.ndarray, u: np.ndarray) -> np.ndarray:
    """Exact UPGrad weights for K = 2 (see ``_weightings._upgrad_small``)."""
    d = _diag(G)
    ratio = np.maximum(-G[..., 0, 1], 0.0)[..., None] / np.where(d > 0, d, 1.0)
    u0, u1 = u[..., 0], u[..., 1]
    return np.stack([u0 + u1 * ratio[..., 0], u1 + u0 * ratio[..., 1]], -1)


def _cagrad_k2(G: np.ndarray, a: np.ndarray, s: np.ndarray) -> np.ndarray:
    """Closed-form CAGrad dual on the segment (see ``_weightings._cagrad_k2``)."""
    g11, g22, g12 = G[..., 0, 0], G[..., 1, 1], G[..., 0, 1]
    D = g11 + g22 - 2 * g12
    e = g12 - g22
    r = np.maximum(D * g22 - e * e, 0.0)
    m = a[..., 0] - a[..., 1]
    s = s[..., 0]
    Dpos = D > 0
    D1 = np.where(Dpos, D, 1.0)
    denom = s * np.sqrt(D1)
    kappa = -m / np.where(denom > 0, denom, 1.0)
    one_minus = np.maximum(1 - kappa * kappa, 0.0)
    interior = one_minus > 0
    h = kappa * np.sqrt(r / np.where(interior, one_minus, 1.0))
    h = np.where(interior, h, np.sign(kappa) * np.inf)
    t = np.clip((h - e) / D1, 0.0, 1.0)
    t = np.where(Dpos & (denom > 0), t, 0.5)
    return np.stack([t, 1 - t], -1)


# NaN / inf inputs propagate as in the torch route, without numpy's warnings.
@np.errstate(all="ignore")
def cagrad_weights(
    Gn: np.ndarray, c: float, rescale: bool, rounds: int, points: int
) -> np.ndarray:
    """CAGrad weights from the psd-normalised Gramian (see ``_weightings.CAGrad``)."""
    K = Gn.shape[-1]
    w0 = np.full(Gn.shape[:-1], 1.0 / K)
    a = _bmv(Gn, w0)
    s = c * np.sqrt(np.maximum(_quad(Gn, w0), 0.0))
    if K == 1:
        w = np.ones_like(w0)
    elif K == 2:
        w = _cagrad_k2(Gn, a, s)
    else:
        w = solve_cagrad_dual(Gn, a, s, rounds=rounds, points=points)
        w = np.where(np.isfinite(w).all(-1, keepdims=True), w, w0)
    gw_norm = np.sqrt(np.maximum(_quad(Gn, w), 0.0))
    ok = gw_norm > 1e-12
    weights = w0 + np.where(ok, s / np.where(ok, gw_norm, 1.0), 0.0) * w
    if rescale:
        weights = weights / (1.0 + c * c)
    return weights


# --------------------------------------------------------------------------- QP


#: Batches of at least this many matrices of order at most _TORCH_SOLVE_MAX_N are solved
#: by torch's batched LU (on the same memory), smaller ones by numpy (see _solve).
_TORCH_SOLVE_MIN_MATRICES = 16
_TORCH_SOLVE_MAX_N = 20


def _solve(M: np.ndarray, rhs: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Batched ``M^-1 rhs`` and a per-problem success flag ``(..., 1)``.

    numpy raises for the whole batch if one matrix is exactly singular; then torch's
    ``solve_ex`` (per-problem status, no raise) handles that batch. torch's batched LU is
    also the faster one for many small matrices (measured: 640 of 10 x 10, ~1.7x), numpy's
    for a few (lower call cost).
    """
    n = M.shape[-1]
    if M.size < _TORCH_SOLVE_MIN_MATRICES * n * n or n > _TORCH_SOLVE_MAX_N:
        try:
            return np.linalg.solve(M, rhs), np.ones((*M.shape[:-2], 1), dtype=bool)
        except np.linalg.LinAlgError:
            pass
    Mt, rt = torch.from_numpy(np.ascontiguousarray(M)), torch.from_numpy(rhs)
    sol, info = torch.linalg.solve_ex(Mt, rt.expand(*Mt.shape[:-2], *rt.shape[-2:]))
    return sol.numpy(), (info == 0).numpy()[..., None]



#: From this many matrix entries on (e.g. 40 problems of 40 x 40, 640 of 10 x 10), one
#: torch Cholesky (on the same memory, no copy) serving both Newton solves of an iteration
#: beats two numpy LU solves by about 2x; below, numpy's lower call cost wins.
_FACTOR_MIN_ENTRIES = 4096


def _spd_solver(M: np.ndarray) -> Callable[[np.ndarray], np.ndarray]:
    """``rhs -> M^-1 rhs`` for a batch of symmetric positive definite ``M``."""
    if M.size < _FACTOR_MIN_ENTRIES:
        return lambda rhs: _solve(M, rhs)[0]
    # cholesky_ex: like the torch route, no raise on a non-PD matrix (NaN input).
    L, _ = torch.linalg.cholesky_ex(torch.from_numpy(M))
    return lambda rhs: torch.cholesky_solve(torch.from_numpy(rhs), L).numpy()


#: Early stop of the interior point on the host: first polish attempt, then every few.
_FIRST_CHECK = 4
_CHECK_EVERY = 2


def _step_to_boundary(v: np.ndarray, dv: np.ndarray) -> np.ndarray:
    return _STEP_FRACTION / np.maximum((-dv / v).max(-1, keepdims=True), _STEP_FRACTION)


def _ipm_bounds(
    Q: np.ndarray, q: np.ndarray, lower: np.ndarray, x0: np.ndarray, *, simplex: bool,
    iters: int,
) -> Iterator[tuple[np.ndarray, np.ndarray, np.ndarray]]:
    """numpy version of ``_qp._ipm_bounds`` for a quadratic objective (same iterations).

    Yields ``(x, s, z)`` after each iteration, so that the caller can stop early.
    """
    n = x0.shape[-1]
    s = x0 - lower
    x = x0
    z = np.ones_like(x0)
    nu = np.zeros_like(x0[..., :1])
    ones = np.ones_like(x0)
    eye = np.eye(n)
    reg = _REG * (1.0 + np.abs(_diag(Q)).max(-1, keepdims=True))
    for _ in range(iters):
        g = _bmv(Q, x) + q
        if simplex:
            g = g + nu
        d = z / s
        solve = _spd_solver(Q + (d + reg)[..., None] * eye)
        sz = np.concatenate([s, z], -1)
        mu = (s * z).mean(-1, keepdims=True)
        if simplex:
            Y = solve(np.stack([-g, ones], -1))
            y1 = Y[..., 1]
            sum_y1 = y1.sum(-1, keepdims=True)
            dnu_a = Y[..., 0].sum(-1, keepdims=True) / sum_y1
            dx_a = Y[..., 0] - dnu_a * y1
        else:
            dx_a = solve(-g[..., None])[..., 0]
        dz_a = -z - d * dx_a
        alpha_a = _step_to_boundary(sz, np.concatenate([dx_a, dz_a], -1))
        mu_a = ((s + alpha_a * dx_a) * (z + alpha_a * dz_a)).mean(-1, keepdims=True)
        sigma = np.clip(mu_a / mu, 0.0, 1.0) ** 3
        corr = (sigma * mu - dx_a * dz_a) / s
        dx = solve((corr - g)[..., None])[..., 0]
        if simplex:
            dnu = dx.sum(-1, keepdims=True) / sum_y1
            dx = dx - dnu * y1
        dz = corr - z - d * dx
        alpha = _step_to_boundary(sz, np.concatenate([dx, dz], -1))
        s = s + alpha * dx
        x = lower + s
        z = z + alpha * dz
        if simplex:
            nu = nu + alpha * dnu
        yield x, s, z


def _tolerances(Q: np.ndarray, q: np.ndarray, lower: np.ndarray) -> tuple[np.ndarray, ...]:
    """``(tol * scale, xtol)`` of the polish checks: multiplier and bound tolerances."""
    scale = np.abs(_diag(Q)).max(-1, keepdims=True)
    # A reduction over a short last axis costs ~30 us on UPGrad's 640 rows; q is often all
    # zero (UPGrad, MGDA), where its term is exactly 0 (the shapes broadcast alike).
    if q.any():
        scale = scale + np.abs(q).max(-1, keepdims=True)
    return _TOL * np.maximum(scale, _TINY), _TOL * (1.0 + np.abs(lower))


_TOL = 1e-9


def _on_active_set(
    Q: np.ndarray, q: np.ndarray, lower: np.ndarray, active: np.ndarray, *, simplex: bool,
    x_ref: np.ndarray | None = None, tols: tuple[np.ndarray, ...] | None = None,
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Solve the QP with the bounds in ``active`` as equalities and the others dropped.

    Returns ``(x, ok, flip)``: ``ok`` (per problem) where the solution is finite, primal
    feasible and its bound multipliers are >= 0, i.e. it is a KKT point hence optimal
    (and, given ``x_ref``, not worse than it); ``flip`` marks the violations (free entries
    below their bound, active bounds with a negative multiplier). Same checks and
    tolerances as the torch route's polish (``_qp._polish_bounds``); ``tols`` passes
    :func:`_tolerances` when the caller has them already.
    """
    n = Q.shape[-1]
    mtol, xtol = _tolerances(Q, q, lower) if tols is None else tols
    if simplex:
        # Bordered system [[M, free], [1^T, 0]], assembled in place (fewer array ops).
        M = np.empty((*active.shape[:-1], n + 1, n + 1))
        M[..., :n, :n] = Q
        np.copyto(M[..., :n, :n], np.eye(n), where=active[..., None])
        M[..., :n, n] = ~active
        M[..., n, :n] = 1.0
        M[..., n, n] = 0.0
        rhs = np.empty((*active.shape[:-1], n + 1, 1))
        rhs[..., :n, 0] = np.where(active, lower, -q)
        rhs[..., n, 0] = 1.0
    else:
        # Q's rows, the active ones replaced by identity rows (copyto: ~2x np.where's speed
        # on a broadcast Q).
        M = np.empty((*active.shape, n))
        M[...] = Q
        np.copyto(M, np.eye(n), where=active[..., None])
        rhs = np.where(active, lower, -q)[..., None]
    sol, ok = _solve(M, rhs)
    sol = sol[..., 0]
    xp = sol[..., :n]
    mult = _bmv(Q, xp) + q
    if simplex:
        mult += sol[..., n:]
    flip = np.where(active, mult < -mtol, xp < lower - xtol)
    ok = ok & np.isfinite(xp).all(-1, keepdims=True) & ~flip.any(-1, keepdims=True)
    if x_ref is not None:

        def objective(v: np.ndarray) -> np.ndarray:
            return 0.5 * _quad(Q, v) + (q * v).sum(-1, keepdims=True)

        ok = ok & (objective(xp) <= objective(x_ref) + mtol)
    xp = np.where(active, lower, np.maximum(xp, lower))
    if simplex:
        xp = xp / xp.sum(-1, keepdims=True)
    return xp, ok, flip


def _polish_bounds(
    Q: np.ndarray, q: np.ndarray, lower: np.ndarray, x: np.ndarray, s: np.ndarray,
    z: np.ndarray, *, simplex: bool,
) -> tuple[np.ndarray, np.ndarray]:
    """numpy version of ``_qp._polish_bounds``: the active set read off an interior-point
    iterate (slack below dual), solved exactly and kept where certified."""
    xp, ok, _ = _on_active_set(Q, q, lower, s < z, simplex=simplex, x_ref=x)
    return np.where(ok, xp, x), ok


def _best_vertex(
    Q: np.ndarray, q: np.ndarray, lower: np.ndarray, mtol: np.ndarray, xtol: np.ndarray
) -> tuple[np.ndarray, np.ndarray]:
    """The simplex QP's candidate vertex and whether it is certified optimal.

    Candidate: every bound active but the one entry ``j`` of least ``Q_jj / 2 + q_j`` (the
    objective at ``e_j``). Same KKT check and tolerances as :func:`_on_active_set` with
    that active set, whose bordered system has this closed-form solution: ``x_j = 1 - sum
    of the other bounds``, ``nu = -(Q x + q)_j``, multipliers ``(Q x + q)_i + nu``.
    """
    n = Q.shape[-1]
    j = (0.5 * _diag(Q) + q).argmin(-1)[..., None]
    is_j = np.arange(n) == j
    xj = 1.0 - (lower.sum(-1, keepdims=True) - np.take_along_axis(lower, j, -1))
    x = np.where(is_j, xj, lower)
    grad = _bmv(Q, x) + q
    mult = grad - np.take_along_axis(grad, j, -1)
    flip = np.where(is_j, x < lower - xtol, mult < -mtol)
    # Finite multipliers too: a NaN one would pass "not < -mtol" (NaN Gramian: no vertex).
    ok = np.isfinite(mult).all(-1, keepdims=True) & np.isfinite(x).all(-1, keepdims=True)
    ok = ok & ~flip.any(-1, keepdims=True)
    x = np.maximum(x, lower)
    return x / x.sum(-1, keepdims=True), ok


#: Block principal pivoting rounds tried before the interior point (see solve_qp).
_PIVOTS = 6


def solve_qp(
    Q: np.ndarray,
    q: np.ndarray | None = None,
    *,
    lower: np.ndarray | None = None,
    simplex: bool = False,
    iters: int = 15,
    polish: bool = True,
) -> np.ndarray:
    """numpy version of :func:`dse.gradient._qp.solve_qp` for bound constraints."""
    n = Q.shape[-1]
    shape = Q.shape[:-1]
    if q is not None:
        shape = np.broadcast_shapes(shape, q.shape)
    if lower is not None:
        shape = np.broadcast_shapes(shape, lower.shape)
    q = np.zeros(shape) if q is None else np.broadcast_to(q, shape)
    lower = np.zeros(shape) if lower is None else np.broadcast_to(lower, shape)
    x0 = np.full(shape, 1.0 / n) if simplex else lower + 1.0 / n
    with np.errstate(all="ignore"):
        if not polish:
            *_, (x, _, _) = _ipm_bounds(Q, q, lower, x0, simplex=simplex, iters=iters)
            return x
        # On the host the number of passes may depend on the data: first a few rounds of
        # block principal pivoting (guess the active bounds, solve, flip every violated
        # one), which certify the optimum (KKT) in one or two solves on most problems; the
        # interior point then runs on the problems left uncertified only. Guess: a bound is
        # active where the objective's gradient there points inwards (simplex: none).
        active = np.zeros(shape, dtype=bool) if simplex else _bmv(Q, lower) + q >= 0
        mtol, xtol = _tolerances(Q, q, lower)
        out, ok, flip = _on_active_set(Q, q, lower, active, simplex=simplex, tols=(mtol, xtol))
        if ok.all():
            return out
        if simplex:
            # Where a linear term dominates (CAGrad's large theta) the optimum is a vertex,
            # which pivoting from "all free" reaches only after several rounds; the best
            # vertex's KKT check is closed form (no solve), so try it first.
            vx, vok = _best_vertex(Q, q, lower, mtol, xtol)
            out = np.where(vok & ~ok, vx, out)
            ok = ok | vok
            if ok.all():
                return out
        # Later rounds (and the interior point) only on the problems still uncertified.
        rest = ~ok[..., 0]
        ids = np.flatnonzero(rest)
        flat_out = out.reshape(-1, n)
        Qr = np.broadcast_to(Q, (*shape, n))[rest]
        qr, lr, x0r, ar = q[rest], lower[rest], x0[rest], (active ^ flip)[rest]
        mtol = np.broadcast_to(mtol, (*shape[:-1], 1))[rest]
        xtol = np.broadcast_to(xtol, shape)[rest]
        for _ in range(_PIVOTS - 1):
            xr, okr, flr = _on_active_set(Qr, qr, lr, ar, simplex=simplex, tols=(mtol, xtol))
            okr = okr[:, 0]
            flat_out[ids[okr]] = xr[okr]
            if okr.all():
                return flat_out.reshape(shape)
            keep = ~okr
            ids, Qr, qr, lr, x0r = ids[keep], Qr[keep], qr[keep], lr[keep], x0r[keep]
            ar, mtol, xtol = (ar ^ flr)[keep], mtol[keep], xtol[keep]
        flat_out[ids] = _interior_point(Qr, qr, lr, x0r, simplex, iters)
    return flat_out.reshape(shape)


def _interior_point(
    Q: np.ndarray, q: np.ndarray, lower: np.ndarray, x0: np.ndarray, simplex: bool, iters: int
) -> np.ndarray:
    """Interior point + polish, stopping early once the polish certifies every problem."""
    for k, (x, s, z) in enumerate(
        _ipm_bounds(Q, q, lower, x0, simplex=simplex, iters=iters), start=1
    ):
        # From iteration _FIRST_CHECK on, try the active-set polish every _CHECK_EVERY
        # iterations (a data-dependent stop costs nothing on the host).
        if k < iters and k >= _FIRST_CHECK and (k - _FIRST_CHECK) % _CHECK_EVERY == 0:
            xp, ok = _polish_bounds(Q, q, lower, x, s, z, simplex=simplex)
            if ok.all():
                return xp
    return _polish_bounds(Q, q, lower, x, s, z, simplex=simplex)[0]


# --------------------------------------------------------------------------- CAGrad dual


def _support_path(G: np.ndarray, a: np.ndarray, free: np.ndarray) -> tuple[np.ndarray, ...]:
    """numpy version of ``_qp._support_path``."""
    K = G.shape[-1]
    a = np.broadcast_to(a, free.shape)
    zero = np.zeros_like(a[..., :1])
    f = free.astype(np.float64)
    M = np.where(free[..., :, None] & free[..., None, :], G, (1 - f)[..., None] * np.eye(K))
    M = np.concatenate(
        [np.concatenate([M, f[..., None]], -1), np.concatenate([f, zero], -1)[..., None, :]], -2
    )
    rhs = np.stack(
        [
            np.concatenate([np.zeros_like(a), np.ones_like(zero)], -1),
            np.concatenate([-a * f, zero], -1),
        ],
        -1,
    )
    sol, ok = _solve(M, rhs)
    return (*path_coefficients(G, a, sol, _bmv), ok)


def _exact_on_support(
    G: np.ndarray, a: np.ndarray, s: np.ndarray, w: np.ndarray, lo: np.ndarray, hi: np.ndarray
) -> tuple[np.ndarray, np.ndarray]:
    """numpy version of ``_qp._exact_on_support``."""
    free = w > 1e-9 * w.max(-1, keepdims=True)
    w0, w1, m0, m1, A0, A1, A2, ok = _support_path(G, a, free)
    qa = A2 - s * s
    disc = np.sqrt(np.maximum(A1 * A1 - qa * A0, 0.0))
    theta = np.where(qa < 0, (A1 + disc) / np.where(qa < 0, -qa, 1.0), np.inf)
    wp = np.where(free, w0 + theta * w1, 0.0)
    mult = m0 + theta * m1
    tol = 1e-10
    ok = ok & np.isfinite(wp).all(-1, keepdims=True)
    ok = ok & (theta >= lo * (1 - 1e-9)) & (theta <= hi * (1 + 1e-9))
    ok = ok & (wp >= -tol).all(-1, keepdims=True) & ((mult >= -tol) | free).all(-1, keepdims=True)
    wp = np.maximum(wp, 0.0)
    return wp / wp.sum(-1, keepdims=True), ok


def solve_cagrad_dual(
    G: np.ndarray, a: np.ndarray, scale: np.ndarray, *, rounds: int, points: int
) -> np.ndarray:
    """numpy version of :func:`dse.gradient._qp.solve_cagrad_dual` (same bracketing)."""
    K = G.shape[-1]
    with np.errstate(all="ignore"):
        s = np.maximum(scale, 1e-300)
        g0_norm = np.sqrt(np.maximum(a.sum(-1, keepdims=True) / K, 0.0))
        ref = np.log10(np.maximum(g0_norm / s, 1e-300))
        lo, hi = ref - 14.0, ref + 8.0
        bottom, top = lo, hi
        frac = np.linspace(0.0, 1.0, points)
        Gm = G[..., None, :, :]
        rank = np.arange(1, points + 1)
        for r in range(rounds):
            exps = lo + (hi - lo) * frac
            theta = 10.0**exps
            W = solve_qp(Gm, theta[..., None] * a[..., None, :], simplex=True)
            N = np.sqrt(np.maximum((W * _bmv(Gm, W)).sum(-1), 0.0))
            below = N >= s * theta
            last = (below * rank).max(-1, keepdims=True)
            idx = np.clip(last - 1, 0, points - 2)
            lo = np.take_along_axis(exps, idx, -1)
            hi = np.take_along_axis(exps, idx + 1, -1)
            t_lo = np.where(lo <= bottom, 0.0, 10.0**lo)
            t_hi = np.where(hi >= top, np.inf, 10.0**hi)
            w_lo = np.take_along_axis(W, idx[..., None], -2)[..., 0, :]
            w_hi = np.take_along_axis(W, idx[..., None] + 1, -2)[..., 0, :]
            # Both ends' supports in one batched solve (half the calls).
            exact, ok = _exact_on_support(
                Gm, a[..., None, :], s[..., None, :], np.stack([w_lo, w_hi], -2),
                t_lo[..., None, :], t_hi[..., None, :],
            )
            exact_lo, exact_hi = exact[..., 0, :], exact[..., 1, :]
            ok_lo, ok_hi = ok[..., 0, :], ok[..., 1, :]
            # On the host, stop as soon as every problem has a certified exact root (its
            # QP's KKT conditions hold on the support and N(theta) = s theta): further
            # rounds would only narrow a bracket around the same point. (The torch route
            # cannot branch on data without synchronising and always runs all rounds.)
            if r < rounds - 1 and (ok_lo | ok_hi).all():
                cand = np.stack([exact_lo, exact_hi, w_lo, w_hi], -2)
                valid = np.stack([ok_lo, ok_hi] + [np.ones_like(ok_lo)] * 2, -2)
                break
        else:
            mid = solve_qp(G, 10.0 ** ((lo + hi) / 2) * a, simplex=True)
            cand = np.stack([exact_lo, exact_hi, mid, w_lo, w_hi], -2)
            valid = np.stack([ok_lo, ok_hi] + [np.ones_like(ok_lo)] * 3, -2)
        norm = np.sqrt(np.maximum((cand * _bmv(G[..., None, :, :], cand)).sum(-1, keepdims=True),
                                  0.0))
        dual = (cand * a[..., None, :]).sum(-1, keepdims=True) + s[..., None] * norm
        dual = np.where(valid & np.isfinite(dual), dual, np.inf)
        best = dual.argmin(-2)[..., None]
        return np.take_along_axis(cand, best, -2)[..., 0, :]
