"""Batched gradient Pareto sweeps: B subproblems optimised as one tensor program.

A sweep holds B relaxed designs ``z`` of shape ``(B, n_relaxed)``, one per preference
vector (or random start), and moves all of them at once:

1. one batched forward ``F, G = problem.evaluate_relaxed(z)`` of shape ``(B, K)``;
2. objectives normalised, ``Fn = (F - ideal) / (nadir - ideal)``, with the ideal the
   running minimum of everything evaluated and the nadir re-estimated at every step as
   the maximum over the current designs (frozen rows count with their last values), both
   on the device, so that objective scales do not decide which point a preference
   reaches; relaxed constraint values add the penalty ``penalty * sum(relu(G))`` to every
   normalised objective;
3. a direction ``d`` of shape ``(B, n_relaxed)``:

   - scalarised methods (``weighted_sum``, ``chebyshev``) need the gradient of one scalar
     per row: one backward pass of ``loss.sum()`` (rows are independent, so the gradient of
     the sum is each row's own gradient);
   - Jacobian methods (``mgda``, ``cagrad``, ``epo``, ``gradient``) need ``J`` of shape
     ``(B, K, n_relaxed)``: K backward passes of the same batched graph (one per
     objective, ``grad(Fn[:, k].sum(), z)``), so one step costs one forward and K backward
     passes whatever B is; the weights come from :mod:`dse.gradient` applied to the
     batched Gramian ``J J^T`` of shape ``(B, K, K)``;
4. an Adam (default) or SGD step with per-coordinate learning rate ``lr * (upper - lower)``
   (so ``lr`` is a fraction of the box), decayed by ``lr_decay`` per step, followed by
   projection onto the box (clamp);
5. every ``check_every`` steps, rows whose normalised objectives moved less than ``ftol``
   since the previous check are stationary: they are frozen and dropped from the batch
   (their evaluations stop being counted). Only these checks synchronise with the host.

Growing batch
-------------
With ``grow=True`` (default for preference sweeps started from ``"uniform"`` or
``"center"``) the B subproblems are not all started at once. The preference vectors are
ordered by farthest-point sampling (so every prefix of the order spreads over the simplex)
and started in stages of ``grow_start`` (default ``max(K + 1, B // 16)``) growing by
``grow_factor`` to B. The first stage descends from the starts; a later stage begins when
every started row is stationary or after ``stage_steps`` steps, and each of its rows starts
from the inverse-distance-weighted mean (over its K nearest started preferences) of the
designs of those neighbours and inherits their Adam second moments (the local gradient
scale) with a zero first moment, which makes its first steps small. The batch is still one
tensor program (new rows join the active batch). Why it is general: the expensive part of
a sweep is the descent to the front, which every subproblem shares; with the front's
parametrisation continuous in the preference, a new subproblem started between two solved
neighbours is already near its solution, so it costs a few steps instead of a full
descent, whatever the problem. It needs no knowledge of the front, and the final set of
preferences is the same as without growth. MGDA (no preferences) and explicit starting
designs do not grow.

Preferences
-----------
Preference vectors ``d`` lie on the simplex (Das-Dennis or uniform random). For
``weighted_sum`` and ``cagrad`` they are *weights* (importance of each objective; floored at
``weight_floor`` so corner vectors reach Pareto-optimal rather than weakly optimal points).
For ``chebyshev`` and ``epo`` they are *ray directions* in normalised objective space: the
target lies on the ray from the utopia point ``-utopia`` (just below the ideal point)
through the point ``d``, i.e. ``Fn + utopia = t (d + utopia)`` (the "WS transformation" of
MOEA/D, shifted so that rays on the simplex's faces stay reachable), which is achieved with
Tchebycheff weights / EPO preference ``r ∝ 1 / (d + utopia)``; evenly spread rays give
evenly spread points on any front shape.

Jacobian methods apply a preference to any weighting of the registry by scaling the task
gradients: the weighting sees ``D G D`` and losses ``r * l`` with ``D = diag(r)``, and the
direction is ``sum_k w_k r_k grad(Fn_k)``. With CAGrad this makes the preference-weighted
gradient the base direction; with EPO (uniform preference on the scaled tasks) the
fixed point is the ray ``r_1 l_1 = ... = r_K l_K``; ``mgda`` uses no scaling (multi-start).

Counting
--------
Each design evaluated in a step costs one objective evaluation and one gradient evaluation
(a relaxed evaluation counts like an exact one). Checkpoints record the exact evaluation
of the current designs: for problems whose relaxation *is* the exact problem (all-real
variables, default relaxation and repair) the step's own evaluation is exact and is reused,
so checkpoints and the final designs cost nothing extra; for mixed problems every
checkpoint and the final result decode, repair and evaluate exactly, B evaluations each.
"""

from __future__ import annotations

import functools
import itertools
import math
import warnings
from dataclasses import dataclass
from typing import Any

import numpy as np
import torch
from torch import Tensor

from dse.problem import Problem
from dse.solvers._api import register_solver
from dse.solvers._history import RunRecorder
from dse.solvers._preferences import preference_vectors

__all__ = ["SweepSettings", "run_sweep"]

_SCALARISED = ("weighted_sum", "chebyshev")


@dataclass(frozen=True)
class SweepSettings:
    """Everything that defines one sweep (validated by :func:`run_sweep`)."""

    method: str
    n_points: int = 100
    preferences: Any = "das_dennis"
    weighting: str | None = None
    weighting_params: dict[str, Any] | None = None
    preference_scaling: bool = True
    init: Any = "uniform"
    optimizer: str = "adam"
    lr: float = 0.05
    lr_decay: float = 0.99
    max_steps: int = 500
    check_every: int = 5
    ftol: float = 1e-4
    checkpoint_every: int = 10
    utopia: float = 0.01
    smooth: float = 0.0
    rho: float = 1e-3
    weight_floor: float = 1e-3
    penalty: float = 10.0
    dtype: str = "float64"
    grow: bool = True
    grow_start: int | None = None
    grow_factor: float = 2.0
    stage_steps: int = 15


def exact_is_relaxed(problem: Problem) -> bool:
    """True when a relaxed evaluation of an in-bounds ``z`` is the exact evaluation of ``z``."""
    cls = type(problem)
    return (
        not problem.is_mixed
        and cls._evaluate_relaxed is Problem._evaluate_relaxed
        and cls.repair is Problem.repair
    )


def check_gradient_problem(problem: Problem, method: str) -> None:
    """Raise a clear ``ValueError`` when ``problem`` offers no gradients."""
    if not problem.has_relaxation or not getattr(problem, "differentiable", True):
        raise ValueError(
            f"method {method!r} needs gradients, but problem {problem.name!r} has "
            "integer/categorical variables without a differentiable relaxation; use an "
            "evolutionary method (nsga2, nsga3, moead, smsemoa, agemoea2, random)"
        )


def _initial_preferences(s: SweepSettings, n_obj: int, seed: int) -> np.ndarray:
    if isinstance(s.preferences, str):
        if s.method == "mgda":
            # MGDA has no preference: it is a multi-start method; ones keep the code uniform.
            return np.full((s.n_points, n_obj), 1.0 / n_obj)
        return preference_vectors(s.preferences, s.n_points, n_obj, seed=seed)
    P = np.asarray(s.preferences, dtype=float)
    if P.ndim != 2 or P.shape[1] != n_obj or len(P) < 1:
        raise ValueError(
            f"preferences must be 'das_dennis', 'random' or an array of shape (B, {n_obj}), "
            f"got shape {P.shape}"
        )
    if not np.isfinite(P).all() or (P < 0).any() or (P.sum(axis=1) <= 0).any():
        raise ValueError("preference vectors need finite entries >= 0 and a positive sum")
    return P / P.sum(axis=1, keepdims=True)


def _scaling(s: SweepSettings, P: Tensor) -> Tensor:
    """Per-row task scaling ``r`` (B, K) applied to the Gramian and the losses."""
    K = P.shape[-1]
    if s.method in ("chebyshev", "epo"):
        # Ray from the utopia point through ideal + d: Fn + utopia = t (d + utopia). The
        # shift keeps rays on the simplex's faces (some d_k = 0) reachable: with weights
        # 1 / d_k -> inf the term of an objective already at its minimum would pin the
        # max at the constant utopia offset and stop the other objectives.
        r = 1.0 / (P + s.utopia)
        return r / r.sum(-1, keepdim=True) * K
    if s.method == "mgda" or not s.preference_scaling:
        return torch.ones_like(P)
    w = P.clamp(min=s.weight_floor)
    return w / w.sum(-1, keepdim=True) * K


def _make_weighting(s: SweepSettings, K: int) -> Any:
    if s.method == "epo" and K <= 5:
        return lambda G, *, losses: epo_lp_weights(G, losses)
    from dse.gradient import get_weighting

    name = {"mgda": "mgda", "cagrad": "cagrad", "epo": "epo"}.get(s.method, s.weighting)
    params = dict(s.weighting_params or {})
    if name in ("epo", "chebyshev") and "preference" not in params:
        # The row's own preference enters through the task scaling; on the scaled tasks the
        # preference is uniform.
        params["preference"] = [1.0 / K] * K
    return get_weighting(name, **params)


@functools.lru_cache(maxsize=32)
def _combinations(m: int, k: int, device: str) -> Tensor:
    # Cached per device so that a sweep step does not copy the index table every time.
    rows = list(itertools.combinations(range(m), k))
    return torch.tensor(rows, dtype=torch.long, device=device).reshape(-1, k)


def _lp_vertices(A: Tensor, b: Tensor, c: Tensor) -> Tensor:
    """Maximise ``c^T x`` over ``{x >= 0, sum x = 1, A x >= b}`` by vertex enumeration.

    ``A`` is ``(..., m, K)`` (its rows include ``x >= 0``), ``b`` ``(..., m)``, ``c``
    ``(..., K)``. Every vertex has ``K - 1`` active inequalities plus ``sum x = 1``; all
    ``comb(m, K - 1)`` candidates are solved as one batched ``K x K`` system, infeasible
    or singular ones discarded, and the best feasible one kept (the first on ties). Exact
    and branch-free for the handful of objectives sweeps face (cost grows as
    ``comb(2K + 1, K - 1)``).
    """
    K = A.shape[-1]
    combos = _combinations(A.shape[-2], K - 1, str(A.device))
    ones = torch.ones((*A.shape[:-2], combos.shape[0], 1, K), dtype=A.dtype, device=A.device)
    M = torch.cat([A[..., combos, :], ones], dim=-2)  # (..., n_c, K, K)
    rhs = torch.cat([b[..., combos], ones[..., 0, :1]], dim=-1)  # (..., n_c, K)
    x, info = torch.linalg.solve_ex(M, rhs)
    ok = (info == 0) & torch.isfinite(x).all(-1)
    x = torch.where(ok[..., None], x, torch.zeros_like(x))
    slack = torch.einsum("...mk,...ck->...cm", A, x) - b[..., None, :]
    ok = ok & (slack >= -1e-9).all(-1)
    value = torch.where(ok, torch.einsum("...k,...ck->...c", c, x), -torch.inf)
    best = value.argmax(-1)
    xb = torch.gather(x, -2, best[..., None, None].expand(*best.shape, 1, K)).squeeze(-2)
    found = ok.any(-1, keepdim=True)
    return torch.where(found, xb, torch.full_like(xb, 1.0 / K))


def epo_lp_weights(G: Tensor, losses: Tensor, eps: float = 1e-4) -> Tensor:
    """EPO weights (Mahapatra & Rajan, 2020) for a uniform preference, batched and exact.

    Same linear programs as :class:`dse.gradient` 's ``epo`` weighting with preference
    ``1/K`` (a row's own preference enters by scaling its tasks beforehand): with
    ``l_hat = l / sum(l)``, ``mu = KL(l_hat || 1/K)``, ``a = log(K l_hat) - mu`` and
    ``C = G / trace(G)``:

    - balance mode (``mu > eps``): maximise ``(C a)^T w`` s.t. ``(C w)_j >= (C a)_j`` for
      tasks with ``(C a)_j <= 0`` and ``(C w)_j >= 0`` for the largest loss (all tasks
      ``>= 0`` when no ``(C a)_j > 0``);
    - descent mode: maximise ``1^T C w`` s.t. ``C w >= 0`` and ``a^T C w >= min(max(C a), 0)``.

    Solved by vertex enumeration (:func:`_lp_vertices`) instead of an interior-point
    method: a few batched ``K x K`` solves, which is what makes the EPO sweep as fast as
    the others.
    """
    K = G.shape[-1]
    C = G.to(torch.float64)
    tr = C.diagonal(dim1=-2, dim2=-1).sum(-1)[..., None, None]
    C = C / torch.where(tr > 0, tr, torch.ones_like(tr))
    lv = losses.detach().to(torch.float64).clamp(min=torch.finfo(torch.float64).tiny)
    l_hat = lv / lv.sum(-1, keepdim=True)
    log_term = torch.log(l_hat * K)
    mu = (l_hat * log_term).sum(-1, keepdim=True)
    a = log_term - mu
    Ca = (C @ a[..., None])[..., 0]
    is_max = lv == lv.amax(-1, keepdim=True)
    any_pos = (Ca > 0).any(-1, keepdim=True)
    constrained = torch.where(any_pos, (Ca <= 0) | is_max, torch.ones_like(is_max))
    rhs = torch.where(any_pos, torch.where(is_max, 0.0, Ca), 0.0)
    eye = torch.eye(K, dtype=C.dtype, device=C.device).expand_as(C)
    zero_row = torch.zeros_like(Ca)[..., None, :]
    A_bal = torch.cat([eye, torch.where(constrained[..., None], C, 0.0), zero_row], dim=-2)
    b_bal = torch.cat(
        [torch.zeros_like(Ca), torch.where(constrained, rhs, -1.0), -torch.ones_like(Ca[..., :1])],
        dim=-1,
    )
    A_dom = torch.cat([eye, C, Ca[..., None, :]], dim=-2)
    b_dom = torch.cat(
        [torch.zeros_like(Ca), torch.zeros_like(Ca), Ca.amax(-1, keepdim=True).clamp(max=0.0)],
        dim=-1,
    )
    w = _lp_vertices(
        torch.stack([A_bal, A_dom]), torch.stack([b_bal, b_dom]), torch.stack([Ca, C.sum(-1)])
    )
    w = torch.where(mu > eps, w[0], w[1]).clamp(min=0.0)
    return (w / w.sum(-1, keepdim=True).clamp(min=1e-300)).to(G.dtype)


class _Adam:
    """Batched Adam with explicit per-row state for all ``N`` rows of a sweep.

    Only the active rows step; frozen rows keep their state, so that rows added later can
    inherit their neighbours' second moments (the scale of the gradients there) and step
    counts instead of starting with Adam's full-size sign-like first steps.
    """

    def __init__(self, shape: torch.Size, like: Tensor, beta1: float = 0.9, beta2: float = 0.999):
        self.m = torch.zeros(shape, dtype=like.dtype, device=like.device)
        self.v = torch.zeros_like(self.m)
        self.t = torch.zeros(shape[0], dtype=like.dtype, device=like.device)
        self.b1, self.b2 = beta1, beta2

    def step(self, d: Tensor, rows: Tensor) -> Tensor:
        t = self.t[rows] + 1
        m = self.m[rows] * self.b1 + (1 - self.b1) * d
        v = self.v[rows] * self.b2 + (1 - self.b2) * d * d
        self.t[rows], self.m[rows], self.v[rows] = t, m, v
        mhat = m / (1 - self.b1 ** t)[:, None]
        vhat = v / (1 - self.b2 ** t)[:, None]
        return mhat / (vhat.sqrt() + 1e-12)

    def inherit(self, rows: Tensor, src: Tensor, w: Tensor) -> None:
        """Rows ``rows`` take the ``w``-weighted mean (``w``: (r, k)) of rows ``src`` (r, k)."""
        self.v[rows] = torch.einsum("rk,rkn->rn", w, self.v[src])
        self.t[rows] = (w * self.t[src]).sum(-1)
        self.m[rows] = 0.0


def _direction(
    s: SweepSettings, z: Tensor, Fn: Tensor, pen: Tensor, P: Tensor, R: Tensor, weighting: Any
) -> Tensor:
    """Descent direction ``(B, n_relaxed)`` for the current batch (graph of ``Fn`` alive)."""
    if s.method == "weighted_sum":
        W = P.clamp(min=s.weight_floor)
        W = W / W.sum(-1, keepdim=True)
        loss = (W * Fn).sum(-1) + pen
        return torch.autograd.grad(loss.sum(), z)[0]
    if s.method == "chebyshev":
        lam = R / R.sum(-1, keepdim=True)
        u = lam * (Fn + s.utopia)
        if s.smooth > 0:
            peak = s.smooth * torch.logsumexp(u / s.smooth, dim=-1)
        else:
            peak = u.amax(-1)
        # The augmentation term rho * sum(u) makes the minimiser Pareto optimal, not only
        # weakly optimal (flat directions of the max are broken toward lower objectives).
        loss = peak + s.rho * u.sum(-1) + pen
        return torch.autograd.grad(loss.sum(), z)[0]
    K = Fn.shape[-1]
    Fp = Fn + pen[:, None]
    rows = [
        torch.autograd.grad(Fp[:, k].sum(), z, retain_graph=k < K - 1)[0] for k in range(K)
    ]
    J = torch.stack(rows, dim=1)  # (B, K, n)
    Js = J * R[..., None]
    G = Js @ Js.transpose(-1, -2)
    losses = R * (Fn.detach() + s.utopia)
    w = weighting(G, losses=losses)
    return torch.einsum("bk,bkn->bn", w.to(Js.dtype), Js)


def run_sweep(
    problem: Problem, s: SweepSettings, *, budget: int | None, seed: int, device: torch.device
) -> Any:
    """Run one batched sweep and return its :class:`~dse.result.Result`."""
    check_gradient_problem(problem, s.method)
    _validate(s)
    dtype = {"float64": torch.float64, "float32": torch.float32}[s.dtype]
    K = problem.n_obj
    P_np = _initial_preferences(s, K, seed)
    B = len(P_np)
    free = exact_is_relaxed(problem)
    min_budget = B if free else 2 * B
    if budget is None:
        budget = default_sweep_budget(s, B, free)
    if budget < min_budget:
        raise ValueError(
            f"budget {budget} is too small for {s.method!r} with {B} designs per sweep: it "
            f"needs at least {min_budget} evaluations (one batched step"
            + ("" if free else " and one exact evaluation of the decoded designs")
            + "); lower n_points or raise the budget"
        )
    weighting = None if s.method in _SCALARISED else _make_weighting(s, K)

    rec = RunRecorder(problem)
    lo_np, hi_np = problem.relaxed_bounds()
    lo = torch.as_tensor(lo_np, dtype=dtype, device=device)
    hi = torch.as_tensor(hi_np, dtype=dtype, device=device)
    width = hi - lo
    # Designs are kept a hair inside the box: several benchmark objectives have infinite
    # derivatives on its faces (sqrt(x) at x = 0 in ZDT1/3), which would turn a row's
    # direction into inf/NaN.
    lo_in = torch.minimum(lo + 1e-9 * width, hi)
    hi_in = torch.maximum(hi - 1e-9 * width, lo_in)
    z_all = _starts(s.init, B, lo_in, hi_in, seed)
    P_all = torch.as_tensor(P_np, dtype=dtype, device=device)
    R_all = _scaling(s, P_all)
    stages = _stages(s, P_np)  # host-side index arrays, one per stage

    Z_last = z_all.clone()  # last evaluated design of every row
    F_last = torch.zeros((B, K), dtype=dtype, device=device)
    G_last = torch.zeros((B, problem.n_constr), dtype=dtype, device=device)
    F_check = torch.full((B, K), torch.inf, dtype=dtype, device=device)
    opt = _Adam(z_all.shape, z_all) if s.optimizer == "adam" else None
    ideal = None
    n_bad = torch.zeros((), dtype=torch.long, device=device)
    lr = s.lr
    reserve = 0 if free else B  # final exact evaluation of the decoded designs
    seen_np = stages[0]
    active = torch.as_tensor(stages[0], device=device)
    seen = active
    n_pending = B - len(seen_np)
    next_stage, stage_step = 1, 0
    evaluated_upto = 0  # stages before this one have all had an evaluation

    def record_exact(zs: Tensor, F: Tensor, G: Tensor) -> None:
        X = problem.decode(zs.detach())
        if free:
            rec.add(X.cpu().numpy(), F.detach().cpu().numpy(), G.detach().cpu().numpy())
        else:
            with torch.no_grad():
                Fx, Gx = problem.evaluate(X, constraints=True)
            rec.count(len(X))
            rec.add(X.cpu().numpy(), Fx.cpu().numpy(), Gx.cpu().numpy())

    def grow() -> None:
        # Add the next stage's rows, each started from the preference-weighted mean of the
        # designs (and Adam scales) of its nearest already-started rows: between two
        # solved neighbours a new subproblem starts next to its own solution, so it costs
        # a few steps instead of a descent from scratch.
        nonlocal active, seen, seen_np, next_stage, stage_step, n_pending
        new_np = stages[next_stage]
        k = min(K, len(seen_np))
        dist = np.linalg.norm(P_np[new_np][:, None, :] - P_np[seen_np][None, :, :], axis=-1)
        near = np.argsort(dist, axis=1, kind="stable")[:, :k]
        w = 1.0 / (np.take_along_axis(dist, near, axis=1) + 1e-12)
        w = w / w.sum(1, keepdims=True)
        src = torch.as_tensor(seen_np[near], device=device)
        w_t = torch.as_tensor(w, dtype=dtype, device=device)
        new = torch.as_tensor(new_np, device=device)
        z_all[new] = torch.einsum("rk,rkn->rn", w_t, z_all[src]).clamp(lo_in, hi_in)
        if opt is not None:
            opt.inherit(new, src, w_t)
        seen_np = np.concatenate([seen_np, new_np])
        seen = torch.cat([seen, new])
        active = torch.cat([active, new])
        n_pending -= len(new_np)
        next_stage += 1
        stage_step = 0

    step = 0
    while step < s.max_steps:
        n_act = int(active.shape[0])
        if next_stage < len(stages) and (n_act == 0 or stage_step >= s.stage_steps):
            grow()
            n_act = int(active.shape[0])
        ck_due = step % s.checkpoint_every == 0
        ck_cost = 0 if free or not ck_due else n_act
        # Rows not started yet still need one evaluation each at the end (free problems).
        later = n_pending if free else 0
        if n_act == 0 or rec.n_evals + n_act + ck_cost + reserve + later > budget:
            break
        z = z_all[active].requires_grad_(True)
        F, G = problem.evaluate_relaxed(z, constraints=True)
        rec.count(n_act, n_act)
        evaluated_upto = next_stage
        Fd = F.detach()
        ideal = _finite_min(Fd) if ideal is None else torch.minimum(ideal, _finite_min(Fd))
        Z_last[active] = z.detach()
        F_last[active] = Fd
        G_last[active] = G.detach()
        # Nadir estimate: the worst value among the last designs of every started row,
        # updated every step on the device, so that scales track the batch as it converges
        # instead of keeping the random start's spread.
        scale = _scale(_finite_max(F_last[seen]) - ideal)
        Fn = (F - ideal) / scale
        pen = (
            s.penalty * torch.relu(G).sum(-1)
            if problem.n_constr
            else torch.zeros(n_act, dtype=dtype, device=device)
        )
        # A non-finite entry (a singular derivative, a failed weighting) must not poison the
        # optimiser state: it is zeroed and counted on the device (reported at the end).
        d = _direction(s, z, Fn, pen, P_all[active], R_all[active], weighting)
        n_bad = n_bad + (~torch.isfinite(d)).any(-1).sum()
        d = torch.nan_to_num(d, 0.0, 0.0, 0.0)
        z_eval = z.detach()
        with torch.no_grad():
            upd = opt.step(d, active) if opt is not None else d
            z_all[active] = (z_eval - lr * width * upd).clamp(lo_in, hi_in)
        lr *= s.lr_decay
        if ck_due:
            record_exact(z_eval, Fd, G)
            rec.checkpoint()
        step += 1
        stage_step += 1
        if step % s.check_every == 0:
            # Host sync only here: stationarity of every row. Rows started since the last
            # check compare with +inf and stay.
            moved = ((Fd - F_check[active]).abs() / scale).amax(-1)
            F_check[active] = Fd
            done = ~(moved >= s.ftol)  # NaN rows count as done: they cannot progress
            if bool(done.any()):
                active = active[~done]
    if int(n_bad):
        warnings.warn(
            f"{s.method}: {int(n_bad)} row-steps had a non-finite search direction (from "
            f"the objectives' derivatives or the weighting {s.weighting or s.method!r}); "
            "those steps were skipped, and rows that stopped moving were frozen",
            RuntimeWarning,
            stacklevel=4,  # the caller of solve()
        )
    # Rows the budget left unstarted report their warm starts (one evaluation each,
    # reserved above for free problems; the final exact evaluation covers the others).
    while next_stage < len(stages):
        grow()
    if evaluated_upto < len(stages):
        rows = torch.as_tensor(np.concatenate(stages[evaluated_upto:]), device=device)
        Z_last[rows] = z_all[rows]
        if free:
            with torch.no_grad():
                Fu, Gu = problem.evaluate(problem.decode(z_all[rows]), constraints=True)
            rec.count(len(rows))
            F_last[rows], G_last[rows] = Fu.to(dtype), Gu.to(dtype)
    # Final designs: the last evaluated design of every row, decoded and exact.
    X = problem.decode(Z_last)
    if free:
        Ff, Gf = F_last, G_last
    else:
        with torch.no_grad():
            Ff, Gf = problem.evaluate(X, constraints=True)
        rec.count(B)
    final = (X.cpu().numpy(), Ff.detach().cpu().numpy(), Gf.detach().cpu().numpy())
    rec.add(*final)
    rec.checkpoint()
    config = _config(s, P_np, B, budget, steps=step, device=device)
    return rec.result(s.method, seed, final, config)


def _stages(s: SweepSettings, P: np.ndarray) -> list[np.ndarray]:
    """Row indices started at each stage of a growing sweep (one stage when not growing).

    The rows are ordered by farthest-point sampling of their preference vectors (from the
    vector with the largest entry, a corner of the simplex), so that the first ``n`` rows
    spread over the simplex for every ``n``; stage sizes grow by ``grow_factor`` from
    ``grow_start`` (default ``max(K + 1, B // 16)``) to ``B``. MGDA (no preferences) and
    explicit starting designs do not grow.
    """
    B, K = P.shape
    start = s.grow_start if s.grow_start is not None else max(K + 1, B // 16)
    if not s.grow or s.method == "mgda" or not isinstance(s.init, str) or start >= B:
        return [np.arange(B)]
    order = [int(np.argmax(P.max(1)))]
    dist = np.linalg.norm(P - P[order[0]], axis=1)
    for _ in range(B - 1):
        i = int(np.argmax(dist))
        order.append(i)
        dist = np.minimum(dist, np.linalg.norm(P - P[i], axis=1))
    # Stage sizes B, B / f, B / f^2, ... down to the first one: the last stage is a full
    # growth step rather than a remainder.
    bounds = [B]
    while math.ceil(bounds[0] / s.grow_factor) >= start and bounds[0] > 1:
        bounds.insert(0, min(bounds[0] - 1, math.ceil(bounds[0] / s.grow_factor)))
    idx = np.asarray(order)
    return [idx[a:b] for a, b in zip([0, *bounds[:-1]], bounds, strict=True)]


def _starts(init: Any, B: int, lo: Tensor, hi: Tensor, seed: int) -> Tensor:
    """Initial relaxed designs ``(B, n_relaxed)``.

    ``"uniform"``: uniform in the relaxed box; ``"center"``: every row at the box centre
    (preferences alone then separate the rows); an array: explicit starts, one row each or
    one row for all. Random starts are drawn on the CPU so CPU and GPU runs of one seed
    start identically.
    """
    n = lo.shape[0]
    if isinstance(init, str):
        if init == "uniform":
            gen = torch.Generator().manual_seed(int(seed))
            u = torch.rand((B, n), generator=gen, dtype=torch.float64)
            return (lo + (hi - lo) * u.to(device=lo.device, dtype=lo.dtype)).clamp(lo, hi)
        if init == "center":
            return ((lo + hi) / 2).expand(B, n).clone()
        raise ValueError(f"init must be 'uniform', 'center' or an array, got {init!r}")
    z = torch.as_tensor(np.asarray(init, dtype=float), dtype=lo.dtype, device=lo.device)
    if z.ndim == 1:
        z = z.expand(B, -1)
    if z.shape != (B, n):
        raise ValueError(f"init array must have shape ({B}, {n}) or ({n},), got {tuple(z.shape)}")
    if not bool(torch.isfinite(z).all()):
        raise ValueError("init array must be finite")
    return z.clamp(lo, hi).clone()


def _scale(span: Tensor) -> Tensor:
    # A degenerate span (all designs equal in one objective, or no finite value) falls
    # back to 1 so the normalisation never divides by zero.
    return torch.where(span > 1e-12, span, torch.ones_like(span))


def _finite_min(F: Tensor) -> Tensor:
    # NaN/inf rows (a diverged design) must not poison the running ideal point.
    m = torch.where(torch.isfinite(F), F, torch.inf).amin(0)
    return torch.where(torch.isfinite(m), m, torch.zeros_like(m))


def _finite_max(F: Tensor) -> Tensor:
    m = torch.where(torch.isfinite(F), F, -torch.inf).amax(0)
    return torch.where(torch.isfinite(m), m, torch.zeros_like(m))


def default_sweep_budget(s: SweepSettings, B: int, free: bool) -> int:
    """``B * max_steps`` plus the exact checkpoint and final evaluations when not free."""
    n_ck = 0 if free else math.ceil(s.max_steps / s.checkpoint_every) + 1
    return B * (s.max_steps + n_ck)


def _validate(s: SweepSettings) -> None:
    if s.optimizer not in ("adam", "sgd"):
        raise ValueError(f"optimizer must be 'adam' or 'sgd', got {s.optimizer!r}")
    if s.dtype not in ("float64", "float32"):
        raise ValueError(f"dtype must be 'float64' or 'float32', got {s.dtype!r}")
    if s.grow_start is not None and (int(s.grow_start) != s.grow_start or s.grow_start < 1):
        raise ValueError(f"grow_start must be None or an integer >= 1, got {s.grow_start!r}")
    if not (math.isfinite(s.grow_factor) and s.grow_factor > 1):
        raise ValueError(f"grow_factor must be a finite number > 1, got {s.grow_factor!r}")
    for name in ("n_points", "max_steps", "check_every", "checkpoint_every", "stage_steps"):
        v = getattr(s, name)
        if int(v) != v or v < 1:
            raise ValueError(f"{name} must be an integer >= 1, got {v!r}")
    for name in ("lr", "utopia"):
        v = getattr(s, name)
        if not (math.isfinite(v) and v > 0):
            raise ValueError(f"{name} must be a finite number > 0, got {v!r}")
    if not 0 < s.lr_decay <= 1:
        raise ValueError(f"lr_decay must lie in (0, 1], got {s.lr_decay!r}")
    for name in ("ftol", "smooth", "rho", "weight_floor", "penalty"):
        v = getattr(s, name)
        if not (math.isfinite(v) and v >= 0):
            raise ValueError(f"{name} must be a finite number >= 0, got {v!r}")
    if s.method == "gradient" and not s.weighting:
        raise ValueError("method 'gradient' needs weighting=<name> from dse.gradient")


def _config(
    s: SweepSettings, P: np.ndarray, B: int, budget: int, *, steps: int, device: torch.device
) -> dict[str, Any]:
    cfg = {k: v for k, v in s.__dict__.items() if k != "method"}
    if not isinstance(s.preferences, str):
        cfg["preferences"] = P.tolist()
    if not isinstance(s.init, str):
        cfg["init"] = np.asarray(s.init, dtype=float).tolist()
    cfg.update(budget=int(budget), n_designs=B, steps=steps, device=str(device))
    return cfg


# ---------------------------------------------------------------------- registry entries
def _register(method: str, description: str, **defaults: Any) -> None:
    base = {
        "n_points": 100,
        "preferences": "das_dennis",
        "init": "uniform",
        "optimizer": "adam",
        "lr": 0.05,
        "lr_decay": 0.99,
        "max_steps": 500,
        "check_every": 5,
        "ftol": 1e-4,
        "checkpoint_every": 10,
        "penalty": 10.0,
        "dtype": "float64",
        "grow": True,
        "grow_start": None,
        "grow_factor": 2.0,
        "stage_steps": 15,
    }
    base.update(defaults)

    def solver(problem: Problem, *, budget: int | None, seed: int, device: torch.device,
               **params: Any) -> Any:
        settings = SweepSettings(method=method, **{**base, **params})
        return run_sweep(problem, settings, budget=budget, seed=seed, device=device)

    register_solver(method, solver, kind="gradient", defaults=base, description=description)


_register(
    "weighted_sum",
    "Weighted-sum sweep: one linear scalarisation per preference vector, batched.",
    weight_floor=1e-3,
)
_register(
    "chebyshev",
    "Tchebycheff sweep (augmented, ideal point = running minimum): lands on each ray.",
    smooth=0.0, rho=1e-3, utopia=0.01,
)
_register(
    "mgda",
    "Multi-start MGDA: min-norm common descent direction from n_points random starts.",
)
_register(
    "cagrad",
    "CAGrad sweep: conflict-averse direction around each preference-weighted gradient.",
    weighting_params={"c": 0.5}, weight_floor=1e-3,
)
_register(
    "epo",
    "EPO sweep: exact Pareto search landing on the ray of each preference vector.",
    utopia=0.01,
)
_register(
    "gradient",
    "Generic sweep with any dse.gradient weighting (weighting=name) on preference-scaled "
    "tasks.",
    weighting="upgrad", weighting_params=None, preference_scaling=True, weight_floor=1e-3,
)
