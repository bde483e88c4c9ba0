"""Weightings from the alpha-fair allocation ``G x = x^(-1/alpha)``: FairGrad and Nash-MTL.

FairGrad (Ban & Ji, 2024, Eq. 4) weights the task gradients by the ``x > 0`` with
``(G x)_i = x_i^(-1/alpha)``: the direction ``d = J^T x`` gives task ``i`` the rate
``g_i . d = x_i^(-1/alpha)``, an alpha-fair share. Nash-MTL (Navon et al., 2022) is the
case ``alpha = 1`` (the Nash bargaining solution ``G x = 1 / x``) with the direction's norm
clipped.

That system is the stationarity condition of the strictly convex program
``min_{x > 0} 1/2 x^T G x - sum_i phi(x_i)`` with ``phi' = x^(-1/alpha)``
(``phi = log`` for ``alpha = 1``), solved here by damped Newton (:func:`solve_alpha_fair`):
exact to rounding where a solution exists, batched; a fixed number of iterations on
accelerators (no host synchronisation), a stop per problem on the CPU. The reference codes
run a generic solver instead (scipy's ``least_squares`` for FairGrad, a sequence of convex
programs in cvxpy for Nash-MTL) and stop at their tolerances.

No solution exists where 0 is in the convex hull of the task gradients (Pareto
stationarity): the program is then unbounded and its weights diverge while ``d`` tends to a
residual that vanishes with ``1 / x``. The weights on unit gradients are therefore capped
at ``eps^(-1/2)`` (``eps`` the resolution of ``G``'s dtype), beyond which ``J^T x`` would be
dominated by the rounding of ``J``; the cap is far above the weights of any solvable
problem the tests meet (gradients down to 1e-6 of the largest), and it binds only near
stationarity, where the direction it gives is small. A zero gradient has no fair share
(its equation ``0 = x_i^(-1/alpha)`` has no root) and no effect on ``d``: weight 0.
"""

from __future__ import annotations

import torch
from torch import Tensor

from . import _cpu
from ._base import Weighting, non_negative, normalise_gramian, positive_int

__all__ = ["FairGrad", "NashMTL", "solve_alpha_fair"]

#: Newton iterations. From the diagonal solution, random problems with K from 2 to 10 and
#: gradient norms spread over up to 6 decades reached a backward error of 1e-15 (residual
#: over ``|G| x + x^(-1/alpha)``) within 20 iterations for alpha from 0.25 to 5, and
#: within 40 for alpha = 10. On the CPU the loop stops once the Newton step is rounding.
FAIR_ITERS = 50
#: Step lengths tried per iteration (fractions of the longest step keeping x > 0).
_TRIALS = torch.tensor([2.0**-k for k in range(12)], dtype=torch.float64)
_STEP_FRACTION = 0.99
_EPS = torch.finfo(torch.float64).eps


def _bmv(M: Tensor, v: Tensor) -> Tensor:
    return (M @ v.unsqueeze(-1)).squeeze(-1)


def _newton_solve(H: Tensor, g: Tensor, on_host: bool) -> Tensor:
    """``H^-1 g`` batched. On the host through numpy (:mod:`dse.gradient._cpu`): torch's
    batched LU and Cholesky of K x K matrices cost milliseconds there (thread start-up),
    numpy's microseconds. Elsewhere ``solve_ex``: no error check, no host synchronisation."""
    if on_host:
        sol, _ = _cpu._solve(H.numpy(), g.unsqueeze(-1).numpy())
        return torch.from_numpy(sol).squeeze(-1)
    return torch.linalg.solve_ex(H, g.unsqueeze(-1))[0].squeeze(-1)


def _phi(x: Tensor, alpha: float) -> Tensor:
    """Antiderivative of ``x^(-1/alpha)`` (``log x`` for ``alpha = 1``)."""
    if alpha == 1.0:
        return torch.log(x)
    p = 1.0 - 1.0 / alpha
    return x.pow(p) / p


def solve_alpha_fair(
    G: Tensor, alpha: float, *, cap: float, iters: int = FAIR_ITERS
) -> Tensor:
    """``x > 0`` with ``G x = x^(-1/alpha)`` for a batch of PSD ``G (..., K, K)`` (float64).

    Damped Newton on ``F(x) = 1/2 x^T G x - sum_i phi(x_i)`` from the diagonal solution
    ``x_i = G_ii^(-alpha / (1 + alpha))``: each iteration takes the best of 12 halvings of
    the Newton step (longest: 0.99 of the way to the boundary ``x = 0``) and staying put:
    the longest whose ``F`` is within rounding of the lowest, so ``F`` never increases
    beyond its rounding and the full step is taken near the solution (quadratic
    convergence); a fixed number of iterations on accelerators, a stop once the step is
    rounding on the CPU. ``x_i sqrt(G_ii)`` is capped at ``cap`` (see the module docstring).
    Rows with ``G_ii = 0`` get 0. ``G`` should be scaled to order one.
    """
    K = G.shape[-1]
    diag = G.diagonal(dim1=-2, dim2=-1)
    zero = ~(diag > 0)
    # A zero gradient's row is replaced by the equation x_i = x_i^(-1/alpha) (root 1), which
    # decouples it; its weight is set to 0 at the end.
    keep = (~zero).to(G.dtype)
    Gm = G * keep.unsqueeze(-1) * keep.unsqueeze(-2) + torch.diag_embed(zero.to(G.dtype))
    d = Gm.diagonal(dim1=-2, dim2=-1)
    upper = torch.where(zero, torch.inf, cap / d.sqrt())
    x = d.pow(-alpha / (1.0 + alpha)).clamp(max=upper)
    trials = _TRIALS.to(G.device)
    # A Gramian that autograd tracks keeps the torch ops (as in dse.gradient._cpu).
    on_host = _cpu.use_numpy(G)
    done = torch.zeros_like(x[..., :1], dtype=torch.bool)

    def objective(v: Tensor) -> Tensor:  # v (..., T, K) -> (..., T)
        quad = (v * (v @ Gm)).sum(-1)  # Gm symmetric: row-vector products
        return 0.5 * quad - _phi(v, alpha).sum(-1)

    for _ in range(iters):
        push = x.pow(-1.0 / alpha)
        grad = _bmv(Gm, x) - push
        H = Gm + torch.diag_embed(push / (alpha * x))
        dx = -_newton_solve(H, grad, on_host)
        ratio = torch.where(dx < 0, -x / dx.clamp(max=-torch.finfo(x.dtype).tiny), torch.inf)
        longest = (_STEP_FRACTION * ratio.amin(-1, keepdim=True)).clamp(max=1.0)
        steps = longest * trials  # (..., T)
        cand = x.unsqueeze(-2) + steps.unsqueeze(-1) * dx.nan_to_num(0.0).unsqueeze(-2)
        cand = torch.minimum(cand, upper.unsqueeze(-2))
        cand = torch.cat([cand, x.unsqueeze(-2)], dim=-2)  # the last: stay put
        f = objective(cand)
        f = torch.where(torch.isfinite(f) & (cand > 0).all(-1), f, torch.inf)
        # The longest step whose F is within rounding of the lowest: near the solution F is
        # flat to within its rounding, and comparing F alone would stall there at a
        # residual of about sqrt(eps); the full Newton step then gets quadratic convergence.
        scale = (x * _bmv(Gm.abs(), x)).sum(-1, keepdim=True) + _phi(x, alpha).abs().sum(
            -1, keepdim=True
        )
        noise = 16 * K * _EPS * scale
        ok = f <= f.amin(-1, keepdim=True) + noise
        best = torch.arange(ok.shape[-1], device=G.device).masked_fill(~ok, ok.shape[-1])
        best = best.amin(-1, keepdim=True)
        x_new = cand.gather(-2, best.unsqueeze(-1).expand(*best.shape, K)).squeeze(-2)
        if on_host:
            # On the host a data-dependent stop costs nothing (no device to synchronise
            # with): a problem whose x moved by at most 1e-9 (relative) is done, its next
            # step being rounding (quadratic convergence), or x held by the cap or staying
            # put for good. Each problem stops on its own, so a batch gives what a loop
            # over its problems gives.
            x_new = torch.where(done, x, x_new)
            done = done | ((x_new - x).abs() <= 1e-9 * x).all(-1, keepdim=True)
            x = x_new
            if bool(done.all()):
                break
        else:
            x = x_new
    return torch.where(zero, 0.0, x)


def _fair_weights(G: Tensor, alpha: float, iters: int) -> Tensor:
    """:func:`solve_alpha_fair` on the trace-normalised ``G``, rescaled to ``G`` itself:
    ``x(t G) = t^(-alpha / (1 + alpha)) x(G)``."""
    tr = G.to(torch.float64).diagonal(dim1=-2, dim2=-1).sum(-1, keepdim=True)
    cap = torch.finfo(G.dtype).eps ** -0.5
    x = solve_alpha_fair(normalise_gramian(G), alpha, cap=cap, iters=iters)
    return x * torch.where(tr > 0, tr, 1.0).pow(-alpha / (1.0 + alpha))


class FairGrad(Weighting):
    """FairGrad: weights ``x > 0`` with ``(G x)_i = x_i^(-1/alpha)`` (alpha-fair rates).

    ``alpha = 0`` gives the mean (1/K, the paper's linear scalarisation limit); ``alpha = 1``
    the Nash bargaining solution, ``alpha -> inf`` equal rates (``x = G^-1 1``). Solved on
    the trace-normalised Gramian and rescaled exactly (``x(t G) = t^(-alpha/(1+alpha))
    x(G)``), so the weights are those of ``G`` itself. See :mod:`dse.gradient._fair` for
    the solver, the cap near Pareto stationarity and zero gradients. The direction is not
    invariant to the scale of ``J``: it scales like ``|J|^((1-alpha)/(1+alpha))``.
    """

    name = "fairgrad"

    def __init__(self, alpha: float = 1.0, iters: int = FAIR_ITERS) -> None:
        super().__init__(
            alpha=non_negative(alpha, name="alpha"), iters=positive_int(iters, name="iters")
        )

    def _weights(self, G: Tensor | None, losses: Tensor | None) -> Tensor:
        assert G is not None
        alpha = self.params["alpha"]
        if alpha == 0:
            K = G.shape[-1]
            return torch.full(G.shape[:-1], 1.0 / K, dtype=torch.float64, device=G.device)
        return _fair_weights(G, alpha, self.params["iters"])


class NashMTL(Weighting):
    """Nash-MTL: the Nash bargaining weights ``x > 0`` with ``G x = 1 / x``, norm-clipped.

    The bargaining solution is FairGrad with ``alpha = 1``; where ``max_norm > 0`` the weights
    are then scaled down so that ``||J^T x|| <= max_norm`` (at the solution
    ``||J^T x||^2 = x^T G x = K``, so the default 1 always clips for K >= 2). The official
    code reaches the solution through up to 20 convex programs (cvxpy), warm-started from the
    previous step's weights (hence its state) and optionally recomputed only every few steps;
    here it is solved to rounding at every call, so it needs no state. See
    :mod:`dse.gradient._fair` for the cap near Pareto stationarity and zero gradients.
    """

    name = "nash_mtl"

    def __init__(self, max_norm: float = 1.0, iters: int = FAIR_ITERS) -> None:
        super().__init__(
            max_norm=non_negative(max_norm, name="max_norm"),
            iters=positive_int(iters, name="iters"),
        )

    def _weights(self, G: Tensor | None, losses: Tensor | None) -> Tensor:
        assert G is not None
        x = _fair_weights(G, 1.0, self.params["iters"])
        max_norm = self.params["max_norm"]
        if max_norm > 0:
            norm = (x * _bmv(G.to(torch.float64), x)).sum(-1, keepdim=True).clamp(min=0.0).sqrt()
            x = x * torch.where(norm > max_norm, max_norm / torch.where(norm > 0, norm, 1.0), 1.0)
        return x
