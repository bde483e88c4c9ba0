"""Batched gradient Pareto sweeps: many subproblems optimised as one tensor program.

A sweep holds rows, one subproblem each: a preference vector (or, for MGDA, a start) and a
relaxed design ``z`` (:mod:`dse.solvers._sweep_state`). One *step* moves every active row
at once:

1. one batched forward ``F, G = problem.evaluate_relaxed(z)`` of shape ``(B, K)``;
2. normalised objectives ``Fn = (F - ideal) / (nadir - ideal)`` plus the constraint
   penalty ``penalty * sum(relu(G))``;
3. a direction from :func:`dse.solvers._scalarize.direction` (one backward pass for the
   scalarised methods, K for the Jacobian ones, whose weights come batched from
   :mod:`dse.gradient`);
4. an Adam (default) or SGD step with per-coordinate learning rate
   ``lr * lr_decay^t * (upper - lower)`` (``t`` the row's own step count), corrected on
   constrained problems onto the constraints linearised at the evaluated design
   (``restore``, :mod:`dse.solvers._restore`: a violated row returns to the boundary in
   one step and slides along it), then projection onto the box.

Every ``check_every`` steps rows whose normalised objectives moved less than ``ftol`` are
stationary and leave the batch (the only host synchronisation of the loop).

Normalisation
-------------
Preferences mean something only in a fixed normalised space. Until the *anchor* rows (one
per objective: the corners of the simplex, added when the user's preferences lack them)
have converged, the nadir is a provisional estimate from the current designs. From then
on ideal and nadir come from the exact front found so far (its extremes are the anchors'
designs), re-read only between rounds; when they move by more than ``renorm_tol`` of
their span, the rows resume so that they land on their rays in the final space. The ends
of the front are thus reached even when no user preference points at them. Where the
relaxed design is the design, the hybrid's anchors descend ``anchor_life`` (4) times
longer than the other rows: an end of the front is a single-objective optimum, often on
several active constraints, and the population that follows spreads from it.

Growth and anytime rounds
-------------------------
The initial preferences start in stages (``grow``): ordered by farthest-point sampling
from the anchors, a first stage of ``grow_start`` rows descends from the starts, and each
later stage (twice as large) starts between solved neighbours, warm-started from their
designs and optimiser scales, which costs a few steps instead of a descent.

A sweep uses the budget it is given (``anytime``). When every row has converged it runs a
round of improvements and carries on:

- *polish* (problems with integer, table or categorical variables): each row's best
  exact design moves to its best exactly evaluated neighbour (one discrete move away,
  :mod:`dse.solvers._polish`) while that improves the row's own value;
- *restarts*: rows whose design collapsed onto another row's, missed their ray, or
  stalled behind the front start again between the rows that landed (from a random design
  when none did), at most ``restarts`` times each; a row still behind the front at the
  end reports the run's best design for its preference;
- *gap rows*: ``refill * n_points`` new preference vectors, farthest from everything
  covered so far (:mod:`dse.solvers._gaps`), warm-started from their nearest rows.

The run stops when the budget is spent (``stop_reason="budget"``), at ``max_steps``,
when no gap larger than ``gap_tol`` is left and nothing improves (``"converged"``), or,
with ``give_up`` set, when that share of the budget found no feasible design
(``"infeasible"``).

Discrete variables
------------------
Relaxed rows are decoded (rounded, argmax, repaired) and evaluated exactly every
``checkpoint_every`` steps; each row keeps its best exact design by its own scalar value
(:func:`dse.solvers._scalarize.row_values`). What a row reports is therefore never worse
than plain rounding of its relaxed designs at the checkpoints, and the polish only
improves on it.

Counting
--------
Every design evaluated in a step costs one objective evaluation and one gradient
evaluation; every exact evaluation (checkpoint, polish neighbour, final) one objective
evaluation. For problems whose relaxation *is* the exact problem (all-real variables,
default relaxation and repair) the step's own evaluation is exact and is reused, so
checkpoints cost nothing extra.

Result
------
Rows are reported in order: the initial preferences (the first ``len(preferences)`` rows of
``Result.F`` are the designs of the given preferences, in order), then added anchors, gap
and restart rows, then the archive's other non-dominated designs.
"""

from __future__ import annotations

import math
import warnings
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import torch
from torch import Tensor

from dse.pareto import nondominated
from dse.problem import Problem, Real
from dse.registry import deprecated_names
from dse.solvers._api import register_solver
from dse.solvers._epo_lp import MAX_OBJECTIVES, epo_lp_weights
from dse.solvers._gaps import farthest_preferences, gap_midpoints, largest_gaps
from dse.solvers._history import RunRecorder
from dse.solvers._polish import combine, neighbours
from dse.solvers._preferences import preference_vectors
from dse.solvers._restore import feasible_step, linearise
from dse.solvers._scalarize import (
    RAY_METHODS,
    direction,
    ray_preferences,
    row_values,
    scaling,
)
from dse.solvers._sweep_state import (
    ACTIVE,
    ANCHOR,
    DONE,
    GAP,
    PENDING,
    PREFERENCE,
    SweepState,
    add_rows,
    new_state,
    restart_rows,
)

__all__ = ["BASE_DEFAULTS", "SweepSettings", "epo_lp_weights", "run_gradient_sweep"]

_SCALARISED = ("weighted_sum", "chebyshev")
# Relative improvement a polish move must bring, so that float noise is not a move.
_POLISH_RTOL = 1e-12
# An ideal-to-nadir span at or below this is degenerate (one value in that objective):
# dividing by it would blow the normalised objective up, so a fallback span is used.
_MIN_SPAN = 1e-12
# Added to preference distances in inverse-distance weights, so that a row whose preference
# coincides with a neighbour's takes that neighbour's design instead of dividing by zero.
_DIST_EPS = 1e-12
# Rows on one point count as collapsed only when their preferences differ by more than this
# many ``gap_tol``: neighbouring preferences may rightly land within ``gap_tol`` of each other.
_COLLAPSE_PREF_FACTOR = 10
# Budget left below this many stationarity checks of one row (``check_every`` steps each)
# would not carry a new or restarted row to anything it could report.
_MIN_CHECKS_LEFT = 2
# Relative margin inside the box where designs are kept: several benchmark objectives have
# infinite derivatives on its faces (sqrt(x) at x = 0 in ZDT1/3), which would turn a row's
# direction into inf/NaN.
_BOX_MARGIN = 1e-9
# Default first growth stage: this fraction (1/16) of the preferences, so that most rows
# (four doublings at the default grow_factor) warm-start next to solved neighbours.
_GROW_START_DIVISOR = 16
# Percentile of converged rows' step counts used as the next rows' cost: the upper quartile,
# so the budget estimate covers the slower rows without following the slowest one.
_AGE_PERCENTILE = 75
# Entries of one block of the rows-by-archive comparisons (4M: tens of MiB of temporaries
# on any device, however large the archive).
_BLOCK_ENTRIES = 1 << 22
# Row-index sets kept on the device at once; the active set changes only every few steps.
_INDEX_CACHE_SIZE = 8


@dataclass(frozen=True)
class SweepSettings:
    """Everything that defines one sweep (validated by :func:`run_gradient_sweep`)."""

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
    beta2: float = 0.9
    max_steps: int | None = None
    check_every: int = 5
    ftol: float = 1e-4
    checkpoint_every: int = 10
    utopia: float = 0.01
    smooth: float = 0.0
    rho: float = 1e-5
    weight_floor: float = 1e-3
    penalty: float = 10.0
    dtype: str = "float64"
    grow: bool = True
    grow_start: int | None = None
    grow_factor: float = 2.0
    stage_steps: int = 15
    anchors: bool = True
    anytime: bool = True
    refill: float = 0.25
    restarts: int = 2
    polish: bool | None = None
    polish_neighbours: int | None = None
    gap_tol: float = 1e-3
    renorm_tol: float = 1e-3
    polish_every: int = 25
    descent_share: float = 0.3
    ray_tol: float = 0.01
    give_up: float | None = None
    restore: bool | None = None
    anchor_life: float | None = 1.0


def exact_is_relaxed(problem: Problem) -> bool:
    """True when a relaxed evaluation of an in-bounds ``z`` is the exact evaluation of ``z``."""
    cls = type(problem)
    return (
        not problem.is_mixed
        and not problem.overrides_relaxation
        and cls.repair is Problem.repair
    )


def check_gradient_problem(problem: Problem, method: str) -> None:
    """Raise a clear ``ValueError`` when ``problem`` offers no gradients."""
    if not problem.has_relaxation or not getattr(problem, "differentiable", True):
        raise ValueError(
            f"method {method!r} needs gradients, but problem {problem.name!r} has "
            "categorical variables without a differentiable relaxation (override "
            "Problem.relaxation); use an evolutionary method (nsga2, nsga3, moead, "
            "smsemoa, agemoea2, random)"
        )


# ---------------------------------------------------------------------- the run's context
@dataclass
class _Run:
    """What stays fixed during a run, plus its bookkeeping (counts, archive, stages)."""

    problem: Problem
    s: SweepSettings
    device: torch.device
    dtype: torch.dtype
    budget: int
    free: bool
    restore: bool
    anchor_life: float
    polish: bool
    weighting: Any
    rec: RunRecorder
    lo_in: Tensor
    hi_in: Tensor
    width: Tensor
    n_init: int  # initial preference rows (reported first)
    anchors: np.ndarray  # rows whose convergence fixes the normalisation
    stages: list[np.ndarray]
    rng: np.random.Generator
    gen: torch.Generator
    next_stage: int = 1
    stop_reason: str = ""
    rounds: int = 0
    notes: dict[str, int] = field(default_factory=dict)
    converged_ages: list[int] = field(default_factory=list)
    max_age: float = math.inf
    next_polish: int = 0
    bisected: set[bytes] = field(default_factory=set)
    # Objectives whose gradient has been nonzero somewhere (checked over the first steps).
    grad_seen: np.ndarray = field(default_factory=lambda: np.zeros(0, bool))
    grad_checks: int = 0
    # Device copies of row indices and of the anchor mask: on a GPU each copy from the host
    # waits for the queue to drain, and the same rows step together for many steps.
    index_cache: dict[bytes, Tensor] = field(default_factory=dict)
    anchor_mask: Tensor | None = None

    @property
    def K(self) -> int:
        return self.problem.n_obj


def _device_rows(run: _Run, st: SweepState, rows: np.ndarray) -> Tensor:
    """``rows`` as an index tensor on the sweep's device (the latest few sets are kept)."""
    rows = np.asarray(rows)
    if st.z.device.type == "cpu":
        return torch.as_tensor(rows)
    key = rows.dtype.str.encode() + rows.tobytes()
    idx = run.index_cache.get(key)
    if idx is None:
        if len(run.index_cache) >= _INDEX_CACHE_SIZE:
            run.index_cache.clear()
        idx = run.index_cache[key] = torch.as_tensor(rows, device=st.z.device)
    return idx


def _exact(run: _Run, X: Tensor) -> tuple[Tensor, Tensor]:
    """Exact objectives and constraints of designs ``X`` (counted)."""
    with torch.no_grad():
        F, G = run.problem.evaluate(X, constraints=True, check=False)
    run.rec.count(len(X))
    return F.to(run.dtype), G.to(run.dtype)


def _ideal(st: SweepState) -> Tensor:
    # Before any finite evaluation the ideal is +inf; 0 stands in so nothing turns NaN.
    return torch.where(torch.isfinite(st.ideal), st.ideal, torch.zeros_like(st.ideal))


def _span(st: SweepState) -> Tensor:
    span = st.nadir - _ideal(st)
    # A degenerate span (all designs equal in one objective, or no finite value) falls
    # back to 1 so the normalisation never divides by zero.
    return torch.where(span > _MIN_SPAN, span, torch.ones_like(span))


def _normalised(st: SweepState, F: Tensor) -> Tensor:
    return (F - _ideal(st)) / _span(st)


def _anchor_mask(run: _Run, st: SweepState, idx: Tensor) -> Tensor:
    if run.anchor_mask is None or len(run.anchor_mask) != st.n_rows:
        mask = np.isin(np.arange(st.n_rows), run.anchors)
        run.anchor_mask = torch.as_tensor(mask, device=st.z.device)
    return run.anchor_mask[idx]


def _values(run: _Run, st: SweepState, idx: Tensor, F: Tensor, G: Tensor) -> Tensor:
    return row_values(
        run.s, _normalised(st, F), G, st.P[idx], st.R[idx], _anchor_mask(run, st, idx)
    )


def _observe(run: _Run, st: SweepState, rows: np.ndarray, X: Tensor, F: Tensor, G: Tensor,
             *, archive: bool) -> Tensor:
    """Offer exact designs to ``rows``: each keeps the better of its best and the new one.

    Returns the mask of rows whose best changed. With ``archive`` the designs also enter
    the run's non-dominated archive.
    """
    idx = _device_rows(run, st, rows)
    new = _values(run, st, idx, F, G)
    old = _values(run, st, idx, st.best_F[idx], st.best_G[idx])
    has = torch.as_tensor(st.has_best[rows], device=st.z.device)
    better = (new < old) | ~has
    st.best_X[idx] = torch.where(better[:, None], X.to(st.best_X), st.best_X[idx])
    st.best_F[idx] = torch.where(better[:, None], F, st.best_F[idx])
    st.best_G[idx] = torch.where(better[:, None], G, st.best_G[idx])
    st.has_best[rows] = True
    if run.polish:
        st.polished[rows] &= ~better.cpu().numpy()
    if archive:
        run.rec.add(X.detach().cpu().numpy(), F.cpu().numpy(), G.cpu().numpy())
    return better


# ---------------------------------------------------------------------- one step
#: Steps over which each objective's own gradient is checked for being zero everywhere.
_FLAT_CHECK_STEPS = 20


def _check_flat_objectives(run: _Run, z: Tensor, F: Tensor) -> None:
    """Note which objectives have shown a nonzero gradient; a few backward passes of
    already evaluated rows (no new evaluation), and none once every objective has one."""
    if len(run.grad_seen) != run.K:
        run.grad_seen = np.zeros(run.K, bool)
    if run.grad_seen.all() or run.grad_checks >= _FLAT_CHECK_STEPS:
        return
    run.grad_checks += 1
    for k in np.flatnonzero(~run.grad_seen):
        Fk = F[:, k]
        if not Fk.requires_grad:
            continue
        (g,) = torch.autograd.grad(Fk.sum(), z, retain_graph=True, allow_unused=True)
        run.grad_seen[k] = g is not None and bool((torch.nan_to_num(g) != 0).any())


def _warn_flat_objectives(run: _Run, st: SweepState) -> None:
    flat = np.flatnonzero(~run.grad_seen) if len(run.grad_seen) == run.K else []
    if len(flat) == 0 or len(flat) == run.K:  # all flat: the zero-direction warning says it
        return
    names = ", ".join(repr(run.problem.objective_names[k]) for k in flat)
    warnings.warn(
        f"{run.s.method} on {run.problem.name}: objective(s) {names} had a zero gradient at "
        f"every design checked ({run.grad_checks} steps): flat to torch's autograd "
        "(rounding, floor, comparisons, table lookups or .detach() inside _evaluate?), so "
        "the sweep cannot trade them off and its front misses their range; use an "
        "evolutionary method such as 'nsga2' (or 'hybrid'), or give the problem a smooth "
        "relaxation(z)",
        RuntimeWarning,
        stacklevel=6,  # the caller of solve()
    )


#: The restoration's correction is at most this many learning rates per coordinate (of the
#: box): far from the feasible set (MW4's distance function, 12 above its band) a
#: linearisation of a multimodal constraint points anywhere, and steps of 0.1 of the box
#: made rows wander (hybrid, seeds 0-2: 0.93 -> 0.55; capped at one learning rate 0.94,
#: at three 0.78); capped at the descent's own pace, it shrinks as the rows settle.
_RESTORE_CAP = 1.0


#: ``anchor_life=None`` (automatic, the hybrid's default): on problems whose relaxed
#: design is the design, anchor rows' learning rates decay this many times slower (and
#: they live as much longer). The front's ends are single-objective optima, often on
#: several active constraints at once, and a few rows cost little: with restoration,
#: hybrid at 10k (seeds 0-2) welded beam 0.980 -> 0.994, OSY 0.985 -> 0.991, MW8 0.775 ->
#: 0.884. Not on mixed problems: co-design's hybrid fell 0.985 -> 0.974 (their anchors are
#: polished exactly instead). Not in a sweep alone (default 1): there the other rows wait
#: on the anchors for their normalisation, and spread less over the front in the same
#: budget (a chebyshev sweep of a partly-NaN problem: 7 front designs instead of >= 20).
_ANCHOR_LIFE = 4.0


def _step(run: _Run, st: SweepState, rows: np.ndarray, checkpoint: bool) -> None:
    """One batched gradient step of ``rows`` (and their exact checkpoint when due)."""
    s, problem = run.s, run.problem
    idx = _device_rows(run, st, rows)
    z = st.z[idx].requires_grad_(True)
    F, G = problem.evaluate_relaxed(z, constraints=True)
    run.rec.count(len(rows), len(rows))
    if not F.requires_grad:
        raise TypeError(
            f"{problem.name}: its objectives do not depend on the design through torch "
            f"operations (numpy, .item() or .detach() inside _evaluate?), so {s.method!r} "
            "has no gradient to follow; write _evaluate (or relaxation) with torch "
            "operations, or use an evolutionary method such as 'nsga2'"
        )
    _check_flat_objectives(run, z, F)
    Fd = F.detach()
    st.ideal = torch.minimum(st.ideal, _finite_min(Fd))
    st.F_last[idx] = Fd
    if not st.fixed:
        _provisional_nadir(run, st)
    Fn = _normalised(st, F)
    if problem.n_constr:
        pen = s.penalty * torch.relu(G).sum(-1)
        # Before the direction's backward passes free the graph.
        lin = linearise(z, G, run.width) if run.restore else ([], None)
    else:
        pen = torch.zeros(len(rows), dtype=run.dtype, device=st.z.device)
        lin = ([], None)
    d = direction(s, z, Fn, pen, st.P[idx], st.R[idx], run.weighting,
                  _anchor_mask(run, st, idx))
    # A non-finite entry (a singular derivative, a failed weighting) must not poison the
    # optimiser state: it is zeroed and counted on the device (reported at the end).
    st.n_bad = st.n_bad + (~torch.isfinite(d)).any(-1).sum()
    d = torch.nan_to_num(d, 0.0, 0.0, 0.0)
    st.n_moved = st.n_moved + (d != 0).any(-1).sum()
    z_eval = z.detach()
    st.z_last[idx] = z_eval
    st.exact_current[rows] = run.free or checkpoint
    with torch.no_grad():
        if s.optimizer == "adam":
            upd = st.opt.direction(d, idx)
        else:
            st.opt.t[idx] += 1
            upd = d
        age = st.opt.t[idx] - 1
        if run.anchor_life != 1.0:
            age = torch.where(_anchor_mask(run, st, idx), age / run.anchor_life, age)
        lr = s.lr * s.lr_decay ** age
        dz = feasible_step(G, -lr[:, None] * run.width * upd, run.width, *lin,
                           max_move=_RESTORE_CAP * lr)
        st.z[idx] = (z_eval + dz).clamp(run.lo_in, run.hi_in)
    if run.free:
        _observe(run, st, rows, z_eval, Fd, G.detach(), archive=checkpoint)
    elif checkpoint:
        X = problem.decode(z_eval)
        Fx, Gx = _exact(run, X)
        st.ideal = torch.minimum(st.ideal, _finite_min(Fx))
        _observe(run, st, rows, X, Fx, Gx, archive=True)
    if checkpoint:
        run.rec.checkpoint()
    st.step += 1
    st.stage_step += 1
    st.age[rows] += 1
    if st.step % s.check_every == 0:
        # Host sync only here: stationarity of the rows that stepped. Rows started since
        # the last check compare with +inf and stay.
        moved = ((Fd - st.F_check[idx]).abs() / _span(st)).amax(-1)
        st.F_check[idx] = Fd
        done = (~(moved >= s.ftol)).cpu().numpy()  # NaN rows count as done
        # A row whose learning rate has decayed to a sliver of its start has used its
        # descent: it stops too (its design is polished and refined by the anytime rounds).
        life = np.where(np.isin(rows, run.anchors), run.max_age * run.anchor_life,
                        run.max_age)
        done |= st.opt.t[idx].cpu().numpy() >= life
        _finish_rows(run, st, rows[done])


def _provisional_nadir(run: _Run, st: SweepState) -> None:
    """Nadir until the anchors have settled: the worst value among the started rows.

    Anchors count with their best exact designs where they have one (polished on mixed
    problems); the other rows with their last designs. The anchors alone would be a
    payoff table, which is degenerate on fronts where several objectives' minimisers
    share a zero coordinate (DTLZ2: a nadir of 1e-9 in one objective would make every
    row minimise it first).
    """
    started = np.flatnonzero(st.status != PENDING)
    idx = torch.as_tensor(started, device=st.z.device)
    F = st.F_last[idx]
    anchor = torch.as_tensor(
        np.isin(started, run.anchors) & st.has_best[started], device=st.z.device
    )
    use_best = anchor[:, None] & torch.isfinite(st.best_F[idx])
    st.nadir = _finite_max(torch.where(use_best, st.best_F[idx], F))


def _anchors_settled(run: _Run, st: SweepState) -> bool:
    """Anchors have converged (gradient) or, on mixed problems, reached a polish optimum."""
    a = run.anchors
    if not len(a):
        return False
    done = st.status[a] == DONE
    if run.polish:
        done |= st.polished[a]
    return bool(done.all())


def _finish_rows(run: _Run, st: SweepState, rows: np.ndarray) -> None:
    """Rows that stop: they keep their last evaluated design, exactly evaluated.

    The step that found them stationary has already moved ``z`` on; it goes back to the
    design that was evaluated, and on mixed problems that design, decoded, is evaluated
    exactly if the step was not a checkpoint (paid from the reserve), so that a row's
    report is never worse than plain rounding of where its descent ended.
    """
    if not len(rows):
        return
    st.status[rows] = DONE
    run.converged_ages += st.age[rows].tolist()
    idx = _device_rows(run, st, rows)
    st.z[idx] = st.z_last[idx]
    _evaluate_last(run, st, rows[~st.exact_current[rows]])


def _evaluate_last(run: _Run, st: SweepState, rows: np.ndarray) -> None:
    """Exact evaluation of the decoded last designs of ``rows`` (offered to the rows)."""
    if not len(rows):
        return
    X = run.problem.decode(st.z_last[_device_rows(run, st, rows)])
    F, G = _exact(run, X)
    st.ideal = torch.minimum(st.ideal, _finite_min(F))
    _observe(run, st, rows, X, F, G, archive=True)
    st.exact_current[rows] = True


# ---------------------------------------------------------------------- scheduling
def _grow(run: _Run, st: SweepState) -> None:
    """Start the next stage, each new row between its nearest started neighbours."""
    new = run.stages[run.next_stage]
    started = np.flatnonzero(st.status != PENDING)
    P = st.P.cpu().numpy()
    near, w = _nearest(P[new], P[started], min(run.K, len(started)))
    _warm_start(run, st, new, started[near], w)
    st.status[new] = ACTIVE
    run.next_stage += 1
    st.stage_step = 0


def _nearest(query: np.ndarray, ref: np.ndarray, k: int) -> tuple[np.ndarray, np.ndarray]:
    """The ``k`` rows of ``ref`` nearest each row of ``query`` and their weights.

    Returns ``(near, w)``, both ``(len(query), k)``: indices into ``ref`` (nearest first) and
    inverse-distance weights that sum to one per row.
    """
    dist = np.linalg.norm(query[:, None, :] - ref[None, :, :], axis=-1)
    near = np.argsort(dist, axis=1, kind="stable")[:, :k]
    w = 1.0 / (np.take_along_axis(dist, near, axis=1) + _DIST_EPS)
    return near, w / w.sum(1, keepdims=True)


def _warm_start(run: _Run, st: SweepState, rows: np.ndarray, src: np.ndarray,
                w: np.ndarray) -> None:
    """Rows start from the ``w``-weighted mean of rows ``src`` and inherit their scales."""
    dev = st.z.device
    src_t = torch.as_tensor(src, device=dev)
    w_t = torch.as_tensor(w, dtype=run.dtype, device=dev)
    idx = torch.as_tensor(rows, device=dev)
    st.z[idx] = torch.einsum("rk,rkn->rn", w_t, _source_z(run, st, src_t)).clamp(
        run.lo_in, run.hi_in)
    # Until it steps, a new row's last design is its start.
    st.z_last[idx] = st.z[idx]
    st.exact_current[rows] = st.has_best[rows]
    st.opt.v[idx] = torch.einsum("rk,rkn->rn", w_t, st.opt.v[src_t])
    # The neighbours' step count sets a small first step, capped so that the new row
    # keeps half a lifetime of steps: its own solution may lie a fair way off theirs.
    t = (w_t * st.opt.t[src_t]).sum(-1)
    st.opt.t[idx] = t.clamp(max=_warm_age(run))
    st.opt.m[idx] = 0.0
    st.F_check[idx] = torch.inf
    st.age[rows] = 0


def _source_z(run: _Run, st: SweepState, src: Tensor) -> Tensor:
    """Relaxed designs ``(r, k, n)`` that rows ``src`` pass on to warm starts.

    A row that restarted (an anchor trying another basin, a row that missed its ray)
    descends from a random design that says nothing about its neighbours' solutions: it
    passes on its best design so far instead. Other rows pass on where they are.
    """
    z = st.z[src]
    restarted = torch.as_tensor(st.restarts > 0, device=z.device)[src]
    has_best = torch.as_tensor(st.has_best, device=z.device)[src]
    use = restarted & has_best
    if not bool(use.any()):
        return z
    best = run.problem.encode(st.best_X[src[use]]).to(z)
    z = z.clone()
    z[use] = best
    return z


def _front(run: _Run, st: SweepState) -> tuple[np.ndarray, np.ndarray]:
    """Exact feasible non-dominated set of the archive and the rows' best designs: (X, F)."""
    have = np.flatnonzero(st.has_best)
    if len(have):
        idx = torch.as_tensor(have, device=st.z.device)
        run.rec.add(
            st.best_X[idx].cpu().numpy(), st.best_F[idx].cpu().numpy(),
            st.best_G[idx].cpu().numpy(),
        )
    X, F, _ = run.rec.archive
    return X, F


def _renormalise(run: _Run, st: SweepState) -> bool:
    """Ideal and nadir from the designs the rows converged to; True when they moved.

    The ideal is the running minimum of everything evaluated (the archive included);
    the nadir the component-wise maximum of the rows' best designs that no other row's
    best dominates. Rows' converged designs, not the whole archive: with three or more
    objectives the archive keeps stray points (designs on their way, non-dominated only
    because few points compete) that would set the nadir and move it at every round,
    and the extreme points alone (a payoff table) are degenerate on fronts such as
    DTLZ2's, where several objectives' minimisers share a zero coordinate.
    """
    _front(run, st)  # the rows' bests join the archive (and its ideal point)
    rows = np.flatnonzero(st.has_best)
    idx = _device_rows(run, st, rows)
    F = st.best_F[idx].cpu().numpy()
    G = st.best_G[idx].cpu().numpy()
    ok = np.isfinite(F).all(1) & (G <= 0).all(1)
    F = F[ok]
    if len(F):
        F = F[np.asarray(nondominated(F))]
    if len(F) < 2:
        # Nothing to read the front's extent from (yet): keep the provisional scales.
        st.fixed = True
        return False
    front_min = torch.as_tensor(F.min(0), dtype=run.dtype, device=st.z.device)
    nadir = torch.as_tensor(F.max(0), dtype=run.dtype, device=st.z.device)
    ideal = torch.minimum(st.ideal, front_min)
    # Keep the provisional value in an objective the front does not spread over yet.
    nadir = torch.where(nadir - ideal > _MIN_SPAN, nadir, st.nadir)
    old_span = _span(st)
    moved = float(((nadir - st.nadir).abs() / old_span).max())
    was_fixed = st.fixed
    st.nadir, st.ideal, st.fixed = nadir, ideal, True
    return not was_fixed or moved > run.s.renorm_tol


def _resume(run: _Run, st: SweepState) -> None:
    """Every finished row steps again (its target moved with the normalisation).

    Its step count goes back to at most half a lifetime, so that a row whose learning
    rate was spent still has steps left to reach its new target.
    """
    done = st.rows(DONE)
    idx = torch.as_tensor(done, device=st.z.device)
    st.status[done] = ACTIVE
    st.F_check[idx] = torch.inf
    st.opt.t[idx] = st.opt.t[idx].clamp(max=_warm_age(run))


def _max_age(lr_decay: float) -> float:
    """Steps after which a row's learning rate is ``_LR_FLOOR`` of its start."""
    return math.inf if lr_decay >= 1 else math.log(_LR_FLOOR) / math.log(lr_decay)


def _warm_age(run: _Run) -> float:
    """Step count a warm-started row starts with: half its lifetime (see ``_max_age``)."""
    return run.max_age / 2 if math.isfinite(run.max_age) else float(_DEFAULT_STEPS)


def _steps_per_row(run: _Run) -> float:
    """How many steps a row takes to converge: measured on the rows that did, else the
    steps until its learning rate has decayed to its floor."""
    ages = run.converged_ages[-_AGE_WINDOW:]
    if ages:
        return max(float(np.percentile(ages, _AGE_PERCENTILE)), float(run.s.check_every))
    return min(run.max_age, float(_DEFAULT_STEPS))


def _affordable(run: _Run, st: SweepState, n_new: int) -> bool:
    """Whether ``descent_share`` of the budget left can carry ``n_new`` more rows (and the
    active ones) to convergence.

    Starting rows the budget cannot finish spreads it over more subproblems than it can
    solve: on a problem whose rows need hundreds of steps, every row stops halfway. The
    rest of the budget is kept for what converged rows make possible: polishing their
    designs and filling the front's gaps. Rows not started now start when others finish.
    """
    return _n_affordable(run, st, share=run.s.descent_share) >= n_new


def _n_affordable(run: _Run, st: SweepState, share: float = 1.0) -> int:
    """How many new rows ``share`` of the budget left can carry to convergence beside the
    active ones."""
    n_active = int((st.status == ACTIVE).sum())
    per_step = 1.0 if run.free else 1.0 + 1.0 / run.s.checkpoint_every
    left = share * (run.budget - run.rec.n_evals - _reserve(run, st))
    return max(0, int(left / (_steps_per_row(run) * per_step)) - n_active)


def _reserve(run: _Run, st: SweepState) -> int:
    """Evaluations owed at the end: one per row that has not had its last design evaluated
    exactly (a pending row's warm start; on mixed problems, the decoded last design of a
    row that stepped since its last exact evaluation)."""
    pending = int((st.status == PENDING).sum())
    if run.free:
        return pending
    return pending + int(((st.status != PENDING) & ~st.exact_current).sum())


def _step_cost(run: _Run, st: SweepState, rows: np.ndarray, checkpoint: bool) -> np.ndarray:
    """Cumulative evaluations (counted plus newly owed) of stepping the first ``i`` rows."""
    cost = np.ones(len(rows), np.int64)
    if not run.free:
        # A checkpoint evaluates the decoded design now; otherwise a row whose last design
        # was exact starts to owe one for its new design.
        cost += 1 if checkpoint else st.exact_current[rows]
    return np.cumsum(cost)


def _schedule(run: _Run, st: SweepState) -> str | None:
    """Decide what happens before the next step; a stop reason when nothing can."""
    s = run.s
    if run.polish and not st.fixed and st.step >= run.next_polish:
        # The anchors decide the normalisation: polish them early and often (an exact
        # local search reaches a steep end of the front long before a penalised descent).
        run.next_polish = st.step + s.check_every
        if _polish_pass(run, st, anchors=True) < 0:
            return "budget"
    n_active = int((st.status == ACTIVE).sum())
    growing = run.next_stage < len(run.stages)
    if growing and (
        n_active == 0
        or (st.stage_step >= s.stage_steps
            and _affordable(run, st, len(run.stages[run.next_stage])))
    ):
        _grow(run, st)
        return None
    if not st.fixed and _anchors_settled(run, st):
        if _renormalise(run, st):
            _resume(run, st)
        return None
    if st.fixed and run.s.anytime:
        _restart_anchors(run, st)
    if run.polish and n_active and st.fixed and st.step >= run.next_polish:
        # Rows that have finished their descent are polished while the others descend.
        run.next_polish = st.step + s.polish_every
        if _polish_pass(run, st) < 0:
            return "budget"
        _bisect_gaps(run, st)
    if n_active:
        return None
    # Every row has converged and every stage has started.
    if _renormalise(run, st):
        _resume(run, st)
        return None
    if not s.anytime:
        return "converged"
    return _anytime_round(run, st)


def _anytime_round(run: _Run, st: SweepState) -> str | None:
    """Polish, restart collapsed rows, add gap rows; ``"converged"`` if none applies."""
    run.rounds += 1
    polished = 0
    if run.polish:
        polished = _polish_pass(run, st)
        if polished < 0:
            return "budget"
        polished += _bisect_gaps(run, st)
    added = _restart_collapsed(run, st) + _add_gap_rows(run, st)
    if added or polished:
        return None
    if run.budget - run.rec.n_evals - _reserve(run, st) < _MIN_CHECKS_LEFT * run.s.check_every:
        return "budget"  # what is left would not carry a row anywhere
    return "converged"


def _polish_pass(run: _Run, st: SweepState, *, anchors: bool = False) -> int:
    """One exact neighbourhood step for every finished row not yet at a local optimum.

    Every row's neighbours are evaluated in one batch; then, for rows with several
    improving moves, the design with all of them at once (:func:`combine`, one more
    evaluation each). Each row moves to its best candidate when that improves its own
    value. With ``anchors``, the anchor rows are polished, finished or not. Returns the
    number of designs evaluated, ``-1`` when the budget left none.
    """
    todo = st.has_best & ~st.polished
    if anchors:
        todo &= np.isin(np.arange(st.n_rows), run.anchors)
    else:
        todo &= st.status == DONE
    rows = np.flatnonzero(todo)
    if not len(rows):
        return 0

    left = run.budget - run.rec.n_evals - _reserve(run, st)
    if left <= 0:
        return -1
    dev = st.z.device
    rows_t = torch.as_tensor(rows, device=dev)
    X = st.best_X[rows_t]
    Y, owner, var = neighbours(run.problem, X, limit=run.s.polish_neighbours, generator=run.gen)
    if len(Y) == 0:
        st.polished[rows] = True
        return 0
    complete = np.ones(len(rows), bool)
    if len(Y) > left:
        # The budget ends inside this pass: the last rows see part of their neighbourhood
        # (and are not marked as local optima).
        Y, owner, var = Y[:left], owner[:left], var[:left]
        complete[int(owner[-1]):] = False
    F, G = _exact_observed(run, st, Y)
    cur = _values(run, st, rows_t, st.best_F[rows_t], st.best_G[rows_t])
    val = _values(run, st, rows_t[owner], F, G)
    gain = cur[owner] - val
    gain = torch.where(gain > _POLISH_RTOL * (1.0 + cur[owner].abs()), gain, 0.0)
    n_eval = len(Y)
    Xc, crow = combine(run.problem, X, Y, owner, var, gain)
    if 0 < len(Xc) <= run.budget - run.rec.n_evals - _reserve(run, st):
        Fc, Gc = _exact_observed(run, st, Xc)
        Y, owner = torch.cat([Y, Xc]), torch.cat([owner, crow])
        F, G = torch.cat([F, Fc]), torch.cat([G, Gc])
        val = torch.cat([val, _values(run, st, rows_t[crow], Fc, Gc)])
        n_eval += len(Xc)
    # Best candidate per row (the first one on ties).
    n, m = len(rows), len(val)
    low = torch.full((n,), torch.inf, dtype=val.dtype, device=dev)
    low = low.scatter_reduce(0, owner, val, reduce="amin")
    pos = torch.where(val == low[owner], torch.arange(m, device=dev), m)
    first = torch.full((n,), m, dtype=torch.long, device=dev)
    first = first.scatter_reduce(0, owner, pos, reduce="amin")
    seen = first < m
    pick = first[seen]
    better = val[pick] < cur[seen] - _POLISH_RTOL * (1.0 + cur[seen].abs())
    moved = rows[seen.cpu().numpy()][better.cpu().numpy()]
    if len(moved):
        sel = pick[better]
        _observe(run, st, moved, Y[sel], F[sel], G[sel], archive=False)
    stuck = np.setdiff1d(rows[complete], moved)
    st.polished[stuck] = True
    run.notes["polish_evals"] = run.notes.get("polish_evals", 0) + n_eval
    return n_eval


def _bisect_gaps(run: _Run, st: SweepState) -> int:
    """Exact designs halfway between neighbours around the front's largest gaps.

    :func:`~dse.solvers._gaps.gap_midpoints` of the sweep's exact front, normalised as the
    rows see it, about ``n_points`` per call (never beyond the budget's reserve); a
    midpoint is never evaluated twice. Returns the evaluations made.
    """
    real = run.problem.kind_mask(Real)
    if not real.any():
        return 0
    X, F = _front(run, st)
    if len(F) < 2:
        return 0
    Fn = _normalised(st, torch.as_tensor(F, dtype=run.dtype, device=st.z.device))
    left = run.budget - run.rec.n_evals - _reserve(run, st)
    mids = gap_midpoints(X, Fn.cpu().numpy(), real, min(run.n_init, left), run.bisected)
    if not mids:
        return 0
    Xm = run.problem.repair(torch.as_tensor(np.asarray(mids), dtype=run.dtype,
                                            device=st.z.device))
    _exact_observed(run, st, Xm)
    run.notes["bisect_evals"] = run.notes.get("bisect_evals", 0) + len(mids)
    return len(mids)


def _exact_observed(run: _Run, st: SweepState, X: Tensor) -> tuple[Tensor, Tensor]:
    """Exact evaluation (counted) whose designs enter the archive and the ideal point."""
    F, G = _exact(run, X)
    run.rec.add(X.cpu().numpy(), F.cpu().numpy(), G.cpu().numpy())
    st.ideal = torch.minimum(st.ideal, _finite_min(F))
    return F, G


def _restart_collapsed(run: _Run, st: SweepState) -> int:
    """Rows that missed their target start again, at most ``restarts`` times each.

    A row missed when its best point lies within ``gap_tol`` (normalised) of an earlier
    row's while their preferences differ (it was caught on the way: a stationary point at
    a concave front's end, a discrete design shared by many rays), or, for ray methods,
    when its point is off its ray by more than ``ray_tol`` (the preference of the ray
    through the point differs from the row's by that much), or when another row's feasible
    point beats it in every objective by more than ``gap_tol`` (it stalled behind the
    front, on a plateau or in a local minimum). It starts again between the
    rows that did land on theirs (a warm start from their designs, which is what a row
    between solved neighbours needs), or from a random design when none did.
    """
    s = run.s
    have = np.flatnonzero(st.has_best & (st.status == DONE) & (st.origin != ANCHOR))
    if not len(have) or s.restarts == 0:
        return 0
    idx = torch.as_tensor(have, device=st.z.device)
    Fn_t = _normalised(st, st.best_F[idx])
    Fn = Fn_t.cpu().numpy()
    P = st.P[idx].cpu().numpy()
    dF = np.linalg.norm(Fn[:, None, :] - Fn[None, :, :], axis=-1)
    dP = np.linalg.norm(P[:, None, :] - P[None, :, :], axis=-1)
    # Row i collapsed if an earlier row j < i sits on the same point with another preference.
    distinct = dP > _COLLAPSE_PREF_FACTOR * s.gap_tol
    missed = np.tril((dF <= s.gap_tol) & distinct, k=-1).any(axis=1)
    if s.method in RAY_METHODS:
        off = np.linalg.norm(ray_preferences(Fn_t, s.utopia).cpu().numpy() - P, axis=1)
        missed |= off > s.ray_tol
    # A row stuck where the objectives are NaN or infinite (its steps were skipped).
    missed |= ~np.isfinite(Fn).all(axis=1)
    # Or it stalled behind the front (a plateau, a local minimum; on its ray, far out):
    # another row's feasible point is better in every objective by more than gap_tol.
    rows_q = np.flatnonzero(st.has_best)
    q_idx = torch.as_tensor(rows_q, device=st.z.device)
    feasible = (torch.relu(st.best_G[q_idx]).sum(-1) <= 0).cpu().numpy()
    Q = _normalised(st, st.best_F[q_idx])[torch.as_tensor(feasible, device=st.z.device)]
    missed |= _beaten(Fn_t, Q, s.gap_tol).cpu().numpy()
    rows = have[missed & (st.restarts[have] < s.restarts)]
    if not len(rows):
        return 0
    good = have[~missed]
    if len(good):
        Pg = st.P[torch.as_tensor(good, device=st.z.device)].cpu().numpy()
        Pr = st.P[_device_rows(run, st, rows)].cpu().numpy()
        near, w = _nearest(Pr, Pg, min(run.K, len(good)))
        restart_rows(st, rows, st.z[_device_rows(run, st, rows)])
        _warm_start(run, st, rows, good[near], w)
    else:
        _restart_random(run, st, rows)
    return len(rows)


def _restart_anchors(run: _Run, st: SweepState) -> int:
    """Finished anchors start again from random designs (``restarts`` times each).

    An objective may have several local minima (ZDT3's f2 has one on every piece of the
    front): a single descent can end at the wrong one, and then the front's end, and the
    normalisation read from it, are missed. Each anchor keeps its best design over its
    starts. Only a handful of rows, so a cheap insurance.
    """
    rows = run.anchors[(st.status[run.anchors] == DONE)
                       & (st.restarts[run.anchors] < run.s.restarts)]
    if not len(rows):
        return 0
    _restart_random(run, st, rows)
    return len(rows)


def _restart_random(run: _Run, st: SweepState, rows: np.ndarray) -> None:
    """``rows`` start again from designs drawn uniformly in the box (``run.rng``)."""
    lo, hi = run.lo_in, run.hi_in
    u = torch.as_tensor(run.rng.random((len(rows), lo.shape[0])), dtype=run.dtype,
                        device=lo.device)
    restart_rows(st, rows, _random_relaxed(run, lo + (hi - lo) * u))


def _add_gap_rows(run: _Run, st: SweepState) -> int:
    """New rows in the largest gaps of what the sweep has covered."""
    s = run.s
    # At least one row while any budget is left: a warm-started gap row needs far fewer
    # steps than the estimate (made on rows that descended from scratch).
    n_new = min(math.ceil(s.refill * run.n_init), max(1, _n_affordable(run, st)))
    if run.budget - run.rec.n_evals - _reserve(run, st) < _MIN_CHECKS_LEFT * s.check_every:
        return 0
    if s.method == "mgda":
        return _add_mgda_gap_rows(run, st, n_new)
    P = st.P.cpu().numpy()
    picked = _gap_preferences(run, st, P, n_new)
    if not len(picked):
        return 0
    have = np.flatnonzero(st.has_best)
    near, w = _nearest(picked, P[have], min(run.K, len(have)))
    Pt = torch.as_tensor(picked, dtype=run.dtype, device=st.z.device)
    R = _scaling(s, Pt)
    rows = add_rows(st, st.z[: len(picked)].clone(), Pt, R, GAP, status=ACTIVE)
    _warm_start(run, st, rows, have[near], w)
    return len(rows)


def _gap_preferences(run: _Run, st: SweepState, P: np.ndarray, n_new: int) -> np.ndarray:
    """Preference vectors aimed at the largest gaps, none within ``gap_tol`` of a row's.

    Two objectives: the gaps between neighbours of the exact front, largest rectangle
    first, each aimed at through its midpoint (ray methods: the ray through it;
    weight methods: the weights normal to the segment, whose weighted sum is minimised
    between its ends on a convex front). More objectives: farthest-point sampling of the
    simplex against the rows' preferences (and, for ray methods, the rays through the
    front's points).
    """
    s = run.s
    _, F = _front(run, st)
    Fn = _normalised(st, torch.as_tensor(F, dtype=run.dtype, device=st.z.device))
    if run.K == 2:
        Fn_np = Fn.cpu().numpy()
        pairs = largest_gaps(Fn_np, len(Fn_np))
        if not pairs:
            return np.zeros((0, 2))
        a = Fn_np[[i for i, _ in pairs]]
        b = Fn_np[[j for _, j in pairs]]
        if s.method in RAY_METHODS:
            mid = torch.as_tensor((a + b) / 2, dtype=run.dtype)
            cand = ray_preferences(mid, s.utopia).numpy()
        else:
            normal = np.abs(b - a)[:, ::-1]
            cand = normal / np.maximum(normal.sum(1, keepdims=True), 1e-300)
        picked: list[np.ndarray] = []
        for c in cand:
            known = np.concatenate([P, np.asarray(picked).reshape(-1, 2)])
            if np.linalg.norm(known - c, axis=1).min() > s.gap_tol:
                picked.append(c)
            if len(picked) == n_new:
                break
        return np.asarray(picked).reshape(-1, 2)
    covered = [P]
    if s.method in RAY_METHODS and len(F):
        covered.append(ray_preferences(Fn, s.utopia).cpu().numpy())
    picked_k, gaps = farthest_preferences(np.concatenate(covered), n_new, seed=run.rng)
    return picked_k[gaps > s.gap_tol]


def _add_mgda_gap_rows(run: _Run, st: SweepState, n_new: int) -> int:
    """MGDA has no preferences: new starts halfway (in ``z``) across the front's gaps."""
    X, F = _front(run, st)
    if len(F) < 2:
        return 0
    Fn = _normalised(st, torch.as_tensor(F, dtype=run.dtype, device=st.z.device))
    pairs = [
        (i, j) for i, j in largest_gaps(Fn.cpu().numpy(), n_new)
        if float((Fn[i] - Fn[j]).norm()) > run.s.gap_tol
    ]
    if not pairs:
        return 0
    Xt = torch.as_tensor(X, dtype=run.dtype, device=st.z.device)
    Z = run.problem.encode(Xt)
    a = torch.as_tensor([i for i, _ in pairs], device=st.z.device)
    b = torch.as_tensor([j for _, j in pairs], device=st.z.device)
    z = ((Z[a] + Z[b]) / 2).clamp(run.lo_in, run.hi_in)
    P = torch.full((len(pairs), run.K), 1.0 / run.K, dtype=run.dtype, device=st.z.device)
    add_rows(st, z, P, torch.ones_like(P), GAP, status=ACTIVE)
    return len(pairs)


# ---------------------------------------------------------------------- the driver
def run_gradient_sweep(
    problem: Problem, s: SweepSettings, *, budget: int | None, seed: int, device: torch.device,
    recorder: RunRecorder | None = None,
) -> Any:
    """Run one batched sweep and return its :class:`~dse.result.Result`.

    With ``recorder`` the sweep continues another run (a hybrid's evolutionary stage):
    its counts, archive and history go on, ``budget`` is the whole run's, and every row
    starts from the archive's best design for its own preference instead of ``init``.
    """
    check_gradient_problem(problem, s.method)
    _validate(s)
    run, st = _start(problem, s, budget=budget, seed=seed, device=device, recorder=recorder)
    while True:
        if s.max_steps is not None and st.step >= s.max_steps:
            run.stop_reason = "max_steps"
            break
        if _hopeless(run):
            run.stop_reason = "infeasible"
            break
        reason = _schedule(run, st)
        if reason is not None:
            run.stop_reason = reason
            break
        rows = st.rows(ACTIVE)
        if not len(rows):
            continue
        ck = st.step % s.checkpoint_every == 0
        left = run.budget - run.rec.n_evals - _reserve(run, st)
        n = int(np.searchsorted(_step_cost(run, st, rows, ck), left, side="right"))
        if n == 0:
            run.stop_reason = "budget"
            break
        # The last step may move only part of the batch: the budget is used to the end.
        _step(run, st, rows[:n], ck)
    return _finish(run, st, seed)


def _hopeless(run: _Run) -> bool:
    """With ``give_up``: ``give_up`` of the budget spent and still no feasible design.

    On problems whose feasible set a penalised descent does not reach (narrow or
    disconnected feasible regions far from where the rows start), the rest of the budget
    is better spent elsewhere: a hybrid hands it to its evolutionary stage.
    """
    s = run.s
    return (s.give_up is not None and run.problem.n_constr > 0 and run.rec.n_front == 0
            and run.rec.n_evals >= s.give_up * run.budget)


def _start(problem: Problem, s: SweepSettings, *, budget: int | None, seed: int,
           device: torch.device, recorder: RunRecorder | None = None
           ) -> tuple[_Run, SweepState]:
    """Build the run's context and its state with every initial row (pending)."""
    dtype = {"float64": torch.float64, "float32": torch.float32}[s.dtype]
    K = problem.n_obj
    P_init = _initial_preferences(s, K, seed)
    B = len(P_init)
    P_anchor = _anchor_preferences(s, P_init)
    n_rows = B + len(P_anchor)
    free = exact_is_relaxed(problem)
    rec = RunRecorder(problem) if recorder is None else recorder
    seeded = recorder is not None and len(rec.archive[0]) > 0
    stages = [np.arange(n_rows)] if seeded else _stages(s, np.concatenate([P_init, P_anchor]), B)
    min_budget = rec.n_evals + (n_rows if free else n_rows + len(stages[0]))
    if budget is None:
        budget = rec.n_evals + default_sweep_budget(s, B, free)
    if budget < min_budget:
        raise ValueError(
            f"budget {budget} is too small for {s.method!r} with {n_rows} designs per sweep: "
            f"it needs at least {min_budget} evaluations (one step of the first "
            f"{len(stages[0])} designs"
            + ("" if free else " with their exact evaluation")
            + ", one evaluation of every other design); lower n_points or raise the budget"
        )
    lo_np, hi_np = problem.relaxed_bounds()
    lo = torch.as_tensor(lo_np, dtype=dtype, device=device)
    hi = torch.as_tensor(hi_np, dtype=dtype, device=device)
    width = hi - lo
    # Designs are kept a hair inside the box (see _BOX_MARGIN).
    lo_in = torch.minimum(lo + _BOX_MARGIN * width, hi)
    hi_in = torch.maximum(hi - _BOX_MARGIN * width, lo_in)
    polish = problem.is_mixed if s.polish is None else bool(s.polish)
    run = _Run(
        problem=problem, s=s, device=device, dtype=dtype, budget=int(budget), free=free,
        polish=polish and problem.is_mixed,
        weighting=None if s.method in _SCALARISED else _make_weighting(s, K),
        rec=rec, lo_in=lo_in, hi_in=hi_in, width=width, n_init=B,
        anchors=np.zeros(0, np.int64), stages=stages,
        rng=np.random.default_rng([int(seed), 1]),
        gen=torch.Generator().manual_seed(int(seed) + 1),
        max_age=_max_age(s.lr_decay),
        # Restoration where the relaxed design is the design: on mixed problems the
        # relaxed point's constraints are not the decoded design's (measured: neutral to
        # slightly worse there, see dse.solvers._restore).
        restore=free if s.restore is None else s.restore,
        anchor_life=(_ANCHOR_LIFE if free else 1.0) if s.anchor_life is None
        else float(s.anchor_life),
    )
    st = new_state(len(lo_np), problem.n_var, K, problem.n_constr, dtype=dtype,
                   device=device, beta2=s.beta2)
    P_all = torch.as_tensor(np.concatenate([P_init, P_anchor]), dtype=dtype, device=device)
    z0 = _starts(run, s.init, B, seed)
    if len(P_anchor):
        # Anchors start like the other rows (a named rule such as "center" matters on
        # fronts whose surroundings are flat), or uniformly next to explicit starts.
        rule = s.init if isinstance(s.init, str) else "uniform"
        z0 = torch.cat([z0, _starts(run, rule, len(P_anchor), seed + 1)])
    add_rows(st, z0[:B], P_all[:B], _scaling(s, P_all[:B]), PREFERENCE)
    if len(P_anchor):
        add_rows(st, z0[B:], P_all[B:], _scaling(s, P_all[B:]), ANCHOR)
    if s.anchors and s.method != "mgda" and K > 1:
        # One row per corner of the simplex: the first row with that corner preference.
        P_np = P_all.cpu().numpy()
        corner = np.isclose(P_np[:, None, :], np.eye(K)[None, :, :]).all(-1)
        run.anchors = np.sort(corner.argmax(0))
    else:
        run.anchors = np.zeros(0, np.int64)
    if seeded:
        _seed_from_archive(run, st)
    st.z_last = st.z.clone()
    st.status[stages[0]] = ACTIVE
    return run, st


def _seed_from_archive(run: _Run, st: SweepState) -> None:
    """Normalise by the archive's front and start every row at its best archive design.

    Each row (preference or anchor) takes the archive design with the best value by its
    own scalarisation, so it starts next to its solution: its step count is set to half a
    lifetime (small first steps), and the normalisation is fixed from the start.
    """
    X, F, _ = run.rec.archive
    dev = st.z.device
    Ft = torch.as_tensor(F, dtype=run.dtype, device=dev)
    st.ideal = Ft.amin(0)
    span = Ft.amax(0) - st.ideal
    st.nadir = torch.where(span > _MIN_SPAN, Ft.amax(0), st.ideal + 1.0)
    st.fixed = True
    G0 = torch.zeros((len(F), run.problem.n_constr), dtype=run.dtype, device=dev)
    Xt = torch.as_tensor(X, dtype=run.dtype, device=dev)
    Z = run.problem.encode(Xt).to(run.dtype).clamp(run.lo_in, run.hi_in)
    for r in range(st.n_rows):
        idx = torch.full((len(F),), r, device=dev)
        best = int(torch.argmin(_values(run, st, idx, Ft, G0)))
        st.z[r] = Z[best]
    st.opt.t[:] = _warm_age(run)


def _finish(run: _Run, st: SweepState, seed: int) -> Any:
    """Report every row's best exact design, then the archive's other front points."""
    s = run.s
    if int(st.n_bad):
        warnings.warn(
            f"{s.method}: {int(st.n_bad)} row-steps had a non-finite search direction (from "
            f"the objectives' derivatives or the weighting {s.weighting or s.method!r}); "
            "those steps were skipped, and rows that stopped moving were frozen",
            RuntimeWarning,
            stacklevel=4,  # the caller of solve()
        )
    _warn_flat_objectives(run, st)
    if st.step and not int(st.n_moved):
        warnings.warn(
            f"{s.method} on {run.problem.name}: every search direction was zero, so no row "
            "moved from its start: the objectives are flat to torch's autograd (rounding, "
            "floor, comparisons or table lookups inside _evaluate?); use an evolutionary "
            "method such as 'nsga2', or give the problem a smooth relaxation(z)",
            RuntimeWarning,
            stacklevel=4,  # the caller of solve()
        )
    # Rows the budget left unstarted report their warm starts; rows never evaluated
    # exactly report their current design (both reserved in the budget above).
    while run.next_stage < len(run.stages):
        _grow(run, st)
    _evaluate_last(run, st, np.flatnonzero(~st.exact_current))
    _adopt_archive(run, st)
    final = (
        st.best_X.cpu().numpy(), st.best_F.detach().cpu().numpy(),
        st.best_G.detach().cpu().numpy(),
    )
    run.rec.add(*final)
    run.rec.checkpoint()
    config = _config(s, st, run)
    result = run.rec.result(s.method, seed, final, config)
    # The preference rows come first; any of them left out (no finite value) shift up.
    result.config["n_final"] = int(np.isfinite(final[1][: run.n_init]).all(axis=1).sum())
    result.config["n_rows"] = st.n_rows
    return result


def _beaten(own: Tensor, Q: Tensor, tol: float, chunk: int = _BLOCK_ENTRIES) -> Tensor:
    """Rows of ``own`` that some point of ``Q`` beats in every objective by more than
    ``tol`` (both normalised); compared a bounded block of ``Q`` at a time."""
    out = torch.zeros(len(own), dtype=torch.bool, device=own.device)
    blk = max(1, chunk // max(1, own.numel()))
    for j0 in range(0, len(Q), blk):
        out |= (Q[None, j0:j0 + blk] < own[:, None] - tol).all(-1).any(1)
    return out


def _adopt_archive(run: _Run, st: SweepState, chunk: int = _BLOCK_ENTRIES) -> None:
    """Rows stalled behind the front report the run's best design for their preference.

    A row can end on a plateau or in a local minimum (a flat region where every gradient
    vanishes, far out on its ray) after its restarts are spent. When a design the run
    evaluated exactly beats the row's in every objective by more than ``gap_tol``
    (normalised), the row takes the archive's best design by its own value
    (:func:`row_values`) instead: no new evaluation, and no preference reports a design
    the run knows to be dominated; an infeasible row takes one as well. Rows on the front
    keep their own designs, so rows stay distinct where the front is discrete.
    """
    X, F, G = run.rec.archive
    if not len(X):
        return
    dev = st.z.device
    Fa = torch.as_tensor(F, dtype=run.dtype, device=dev)
    Ga = torch.as_tensor(G, dtype=run.dtype, device=dev)
    Fn = _normalised(st, Fa)
    has = np.flatnonzero(st.has_best)
    h_idx = torch.as_tensor(has, device=dev)
    own = _normalised(st, st.best_F[h_idx])
    # An infeasible row takes a feasible archive design too (the archive is feasible), and
    # so does a row that never saw a finite objective value.
    beaten = (torch.relu(st.best_G[h_idx]).sum(-1) > 0) | ~torch.isfinite(
        st.best_F[h_idx]).all(-1)
    beaten |= _beaten(own, Fn, run.s.gap_tol, chunk)
    rows = has[beaten.cpu().numpy()]
    if not len(rows):
        return
    idx = torch.as_tensor(rows, device=dev)
    P, R, anchor = st.P[idx], st.R[idx], _anchor_mask(run, st, idx)
    n = len(rows)
    best_val = torch.full((n,), torch.inf, dtype=run.dtype, device=dev)
    best_j = torch.zeros(n, dtype=torch.long, device=dev)
    step = max(1, chunk // n)  # rows x archive values, a bounded block at a time

    def rep(t: Tensor, a: int) -> Tensor:
        return t[:, None].expand(n, a, *t.shape[1:]).reshape(n * a, *t.shape[1:])

    for j0 in range(0, len(X), step):
        a = min(step, len(X) - j0)
        vals = row_values(
            run.s, Fn[j0:j0 + a].repeat(n, 1), Ga[j0:j0 + a].repeat(n, 1),
            rep(P, a), rep(R, a), rep(anchor, a),
        ).reshape(n, a)
        v, j = vals.min(1)
        better = v < best_val
        best_val = torch.where(better, v, best_val)
        best_j = torch.where(better, j + j0, best_j)
    pick = best_j.cpu().numpy()
    Xa = torch.as_tensor(X[pick], dtype=st.best_X.dtype, device=dev)
    _observe(run, st, rows, Xa, Fa[best_j], Ga[best_j], archive=False)


# ---------------------------------------------------------------------- pieces
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


def _anchor_preferences(s: SweepSettings, P: np.ndarray) -> np.ndarray:
    """Corner preferences of the anchor rows the initial set lacks, one per objective.

    The anchors find the front's extreme points (see
    :func:`dse.solvers._scalarize.anchor_weights`); a corner among the user's preferences
    already asks for one and serves as that anchor itself.
    """
    K = P.shape[1]
    if not s.anchors or s.method == "mgda" or K < 2:
        return np.zeros((0, K))
    eye = np.eye(K)
    have = np.isclose(P[:, None, :], eye[None, :, :]).all(-1).any(0)
    return eye[~have]


def _scaling(s: SweepSettings, P: Tensor) -> Tensor:
    return scaling(s.method, P, utopia=s.utopia, weight_floor=s.weight_floor,
                   preference_scaling=s.preference_scaling)


def _make_weighting(s: SweepSettings, K: int) -> Any:
    if s.method == "epo" and K <= MAX_OBJECTIVES:
        return lambda G, *, losses: epo_lp_weights(G, losses)
    from dse.gradient import get_weighting

    name = {"mgda": "mgda", "cagrad": "cagrad", "epo": "epo"}.get(s.method, s.weighting)
    params = dict(s.weighting_params or {})
    if name in ("epo", "chebyshev") and "preference" not in params:
        # The row's own preference enters through the task scaling; on the scaled tasks the
        # preference is uniform.
        params["preference"] = [1.0 / K] * K
    return get_weighting(name, **params)


def _stages(s: SweepSettings, P: np.ndarray, n_init: int | None = None) -> list[np.ndarray]:
    """Row indices started at each stage of a growing sweep (one stage when not growing).

    The rows are ordered by farthest-point sampling of their preference vectors, from
    the corners of the simplex (the anchors), so that the first ``n`` rows spread over
    the simplex for every ``n``; stage sizes grow by ``grow_factor`` from ``grow_start``
    (default ``max(K + 1, B // 16)``) to ``B``. MGDA (no preferences) and explicit
    starting designs do not grow. ``n_init`` is the number of initial preference rows
    (the others are added anchors, which always start in the first stage).
    """
    B, K = P.shape
    n_init = B if n_init is None else n_init
    default_start = max(K + 1, n_init // _GROW_START_DIVISOR)
    start = s.grow_start if s.grow_start is not None else default_start
    if not s.grow or s.method == "mgda" or not isinstance(s.init, str) or start >= B:
        return [np.arange(B)]
    # The corners first (added anchors or the user's own), then farthest points.
    corners = list(range(n_init, B)) + [i for i in range(n_init) if np.isclose(P[i].max(), 1.0)]
    order = corners[:K] if corners else [int(np.argmax(P.max(1)))]
    start = max(start, len(order))
    dist = np.min(np.linalg.norm(P[:, None, :] - P[order][None, :, :], axis=-1), axis=1)
    while len(order) < B:
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


def _random_relaxed(run: _Run, z: Tensor) -> Tensor:
    """Random relaxed designs with categorical logits shrunk towards 0.

    Logits drawn over the whole box would start most rows with a saturated softmax, whose
    gradient is vanishingly small: the choice would be frozen at random. Near zero every
    choice keeps a share of the mixture, and the gradient decides.
    """
    mask = torch.as_tensor(run.problem.relaxed_logit_mask(), device=z.device)
    return torch.where(mask, z * _START_LOGIT_SHRINK, z)


# Fraction of the logit box that random starts use (see _random_relaxed).
_START_LOGIT_SHRINK = 0.1


def _starts(run: _Run, init: Any, B: int, seed: int) -> Tensor:
    """Initial relaxed designs ``(B, n_relaxed)``.

    ``"uniform"``: uniform in the relaxed box (categorical logits near zero); ``"center"``:
    every row at the box centre (preferences alone then separate the rows); an array:
    explicit starts, one row each or one row for all. Random starts are drawn on the CPU
    so CPU and GPU runs of one seed start identically.
    """
    lo, hi = run.lo_in, run.hi_in
    n = lo.shape[0]
    if isinstance(init, str):
        if init == "uniform":
            gen = torch.Generator().manual_seed(int(seed))
            u = torch.rand((B, n), generator=gen, dtype=torch.float64)
            z = (lo + (hi - lo) * u.to(device=lo.device, dtype=lo.dtype)).clamp(lo, hi)
            return _random_relaxed(run, z)
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


def _finite_min(F: Tensor) -> Tensor:
    # NaN/inf rows (a diverged design) must not poison the running ideal point.
    m = torch.where(torch.isfinite(F), F, torch.inf).amin(0)
    return torch.where(torch.isfinite(m), m, torch.full_like(m, torch.inf))


def _finite_max(F: Tensor) -> Tensor:
    m = torch.where(torch.isfinite(F), F, -torch.inf).amax(0)
    return torch.where(torch.isfinite(m), m, torch.zeros_like(m))


def default_sweep_budget(s: SweepSettings, B: int, free: bool) -> int:
    """``B * 500`` steps' worth, plus the exact checkpoint evaluations when not free.

    With ``max_steps`` set, ``B * max_steps`` instead (the run stops at either).
    """
    steps = s.max_steps if s.max_steps is not None else _DEFAULT_STEPS
    n_ck = 0 if free else math.ceil(steps / s.checkpoint_every) + 1
    return B * (steps + n_ck)


# Steps per preference a default budget pays for.
_DEFAULT_STEPS = 500
# A row stops when its decayed learning rate falls to this fraction of the initial one.
_LR_FLOOR = 0.05
# Converged rows whose step counts estimate the next rows' (the most recent ones).
_AGE_WINDOW = 50


def _validate(s: SweepSettings) -> None:
    if s.optimizer not in ("adam", "sgd"):
        raise ValueError(f"optimizer must be 'adam' or 'sgd', got {s.optimizer!r}")
    if s.dtype not in ("float64", "float32"):
        raise ValueError(f"dtype must be 'float64' or 'float32', got {s.dtype!r}")
    if s.grow_start is not None and (int(s.grow_start) != s.grow_start or s.grow_start < 1):
        raise ValueError(f"grow_start must be None or an integer >= 1, got {s.grow_start!r}")
    if not (math.isfinite(s.grow_factor) and s.grow_factor > 1):
        raise ValueError(f"grow_factor must be a finite number > 1, got {s.grow_factor!r}")
    for name in ("n_points", "check_every", "checkpoint_every", "stage_steps", "polish_every"):
        v = getattr(s, name)
        if int(v) != v or v < 1:
            raise ValueError(f"{name} must be an integer >= 1, got {v!r}")
    for name in ("max_steps", "polish_neighbours"):
        v = getattr(s, name)
        if v is not None and (isinstance(v, bool) or int(v) != v or v < 1):
            raise ValueError(f"{name} must be None or an integer >= 1, got {v!r}")
    if isinstance(s.restarts, bool) or int(s.restarts) != s.restarts or s.restarts < 0:
        raise ValueError(f"restarts must be an integer >= 0, got {s.restarts!r}")
    for name in ("lr", "utopia", "refill"):
        v = getattr(s, name)
        if not (math.isfinite(v) and v > 0):
            raise ValueError(f"{name} must be a finite number > 0, got {v!r}")
    for name, v in (("lr_decay", s.lr_decay), ("beta2", s.beta2),
                    ("descent_share", s.descent_share)):
        if not 0 < v <= 1:
            raise ValueError(f"{name} must lie in (0, 1], got {v!r}")
    if s.give_up is not None and (isinstance(s.give_up, bool)
                                  or not isinstance(s.give_up, (int, float))
                                  or not 0 < s.give_up <= 1):
        raise ValueError(f"give_up must be None or a number in (0, 1], got {s.give_up!r}")
    for name in ("ftol", "smooth", "rho", "weight_floor", "penalty", "gap_tol", "renorm_tol",
                 "ray_tol"):
        v = getattr(s, name)
        if not (math.isfinite(v) and v >= 0):
            raise ValueError(f"{name} must be a finite number >= 0, got {v!r}")
    if s.anchor_life is not None and (isinstance(s.anchor_life, bool)
                                      or not isinstance(s.anchor_life, (int, float))
                                      or not 1 <= s.anchor_life < math.inf):
        raise ValueError(f"anchor_life must be None (automatic) or a finite number >= 1, "
                         f"got {s.anchor_life!r}")
    if s.restore is not None and not isinstance(s.restore, bool):
        raise ValueError(f"restore must be None (automatic), True or False, got {s.restore!r}")
    if s.method == "gradient" and not s.weighting:
        raise ValueError("method 'gradient' needs weighting=<name> from dse.gradient")


def _config(s: SweepSettings, st: SweepState, run: _Run) -> dict[str, Any]:
    cfg = {k: v for k, v in s.__dict__.items() if k != "method"}
    if not isinstance(s.preferences, str):
        cfg["preferences"] = st.P[: run.n_init].cpu().numpy().tolist()
    if not isinstance(s.init, str):
        cfg["init"] = np.asarray(s.init, dtype=float).tolist()
    cfg.update(
        budget=int(run.budget), n_designs=run.n_init, steps=st.step, device=str(run.device),
        stop_reason=run.stop_reason, rounds=run.rounds, restore=run.restore,
        anchor_life=run.anchor_life,
        polish_evals=run.notes.get("polish_evals", 0),
        bisect_evals=run.notes.get("bisect_evals", 0),
        # Every row's preference (user rows, then anchors, gap rows and restarts), so that
        # each row of ``Result.F`` can be read against its ray.
        row_preferences=st.P.cpu().numpy().tolist(), anchor_rows=run.anchors.tolist(),
    )
    return cfg


# ---------------------------------------------------------------------- registry entries
#: The parameters every sweep method accepts, with their defaults.
BASE_DEFAULTS: dict[str, Any] = {
    f: getattr(SweepSettings, f)
    for f in (
        "n_points", "preferences", "init", "optimizer", "lr", "lr_decay", "beta2",
        "max_steps", "check_every", "ftol", "checkpoint_every", "penalty", "dtype", "grow",
        "grow_start", "grow_factor", "stage_steps", "anchors", "anytime", "refill",
        "restarts", "polish", "polish_neighbours", "polish_every", "gap_tol", "renorm_tol",
        "descent_share", "ray_tol", "give_up", "restore", "anchor_life",
    )
}


def _register(method: str, description: str, **defaults: Any) -> None:
    base = {**BASE_DEFAULTS, **defaults}

    def solver(problem: Problem, *, budget: int | None, seed: int, device: torch.device,
               **params: Any) -> Any:
        settings = SweepSettings(method=method, **{**base, **params})
        return run_gradient_sweep(problem, settings, budget=budget, seed=seed, device=device)

    register_solver(method, solver, kind="gradient", defaults=base, description=description)


_register(
    "weighted_sum",
    "Weighted-sum sweep: one linear scalarisation per preference vector, batched.",
    weight_floor=1e-3,
)
_register(
    "chebyshev",
    "Tchebycheff sweep (augmented, fixed normalisation from anchors): lands on each ray.",
    smooth=0.0, rho=1e-5, utopia=0.01,
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


# The engine was ``run_sweep`` here, the name of the job runner in ``dse.sweep`` too.
__getattr__ = deprecated_names(__name__, {"run_sweep": "run_gradient_sweep"})
