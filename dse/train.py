"""Training loops that take any weighting of :mod:`dse.gradient`.

Two loops share one way of turning task gradients into an update:

* :func:`train` trains a multi-task model (any :class:`~dse.mtl_task.MTLTaskProtocol`,
  e.g. ``problems.mtl.multidigits()``): per
  step, the ``T`` task losses of a mini-batch, their Jacobian w.r.t. the shared
  parameters, the Gramian of its rows, weights from the weighting, ``weights @ J`` into
  the shared ``.grad``, and a torch optimiser step. The Jacobian costs one backward per
  task and nothing more: on the CPU, K ordinary backward passes, each starting at its
  own head's output (loss ``t`` depends on head ``t`` only, so no pass runs the other
  heads backward on zero gradients); on accelerators one vmapped backward. That is the
  floor for exact per-task gradients (about 1.6x the FLOPs of one summed-loss step
  on MultiDigits); ``jacobian="features"`` (MGDA-UB) costs one backward plus the heads.
  The loop is explicit state plus one step, a function per Jacobian route
  (:mod:`dse._train_steps`).
* :func:`descend` runs the same update directly on the variables ``x`` of any
  differentiable :class:`~dse.problem.Problem`, for a batch of starting points at once
  (the CAGrad toy's trajectories, the advisor's short descent).

Weightings (``weighting=``) are given by registry name (``"cagrad"``), with
``weighting_params``, or as an object from :func:`dse.gradient.get_weighting`; stateless ones
are called on the Gramian, stateful ones (uncertainty, GradNorm, DWA, loss normalisation)
go through their explicit ``init`` / ``update``. Heads (parameters of one task only) get
their task's gradient, scaled by the task weight for methods that scalarise the loss (equal
/ linear weights and the stateful loss weightings) and unscaled for the
gradient-aggregation methods (MGDA, CAGrad, PCGrad, IMTL-G, UPGrad, gradient
normalisation), as in Sener & Koltun and TorchJD.

Metrics and Delta_m
-------------------
:func:`evaluate_model` returns per-task loss and metric on a held-out split; :func:`delta_m`
compares them to single-task models with the convention of CAGrad and Nash-MTL::

    Delta_m = (1/T) sum_t (-1)^{higher_is_better_t} (M_t - M_single_t) / M_single_t * 100

so a multi-task model that loses accuracy has a positive Delta_m: lower is better.
"""

from __future__ import annotations

import time
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import pandas as pd
import torch
from torch import Tensor

from dse._train_steps import (
    Combiner,
    Recorder,
    batch_order,
    choose_jacobian_route,
    init_state,
    make_optimizer,
    method_name,
    pair_cosines,
    take_step,
)
from dse.device import resolve_device
from dse.mtl_task import MTLTaskProtocol
from dse.registry import renamed_keywords

__all__ = [
    "DescentResult",
    "TrainResult",
    "delta_m",
    "descend",
    "descend_many",
    "evaluate_model",
    "resolve_device",
    "resolve_method",
    "train",
]

# ---------------------------------------------------------------------- helpers
#: CPU training takes K ordinary backward passes (one per task) instead of one vmapped
#: backward; see :func:`dse._train_steps.choose_jacobian_route`. A switch so the tests can
#: run both routes on the CPU.
_LOOP_JACOBIAN_ON_CPU = True


@renamed_keywords(method_params="weighting_params")
def resolve_method(method: Any, weighting_params: dict[str, Any] | None = None) -> Any:
    """A weighting object from a registry name (with ``weighting_params``) or an object.

    Accepts what :func:`dse.gradient.get_weighting` returns, or any callable
    ``w(G, *, losses=None) -> (..., K)`` (treated as stateless). The old keyword
    ``method_params=`` still works, with a :class:`DeprecationWarning`, for one release.
    """
    from dse.gradient import get_weighting

    if isinstance(method, str):
        return get_weighting(method, **(weighting_params or {}))
    if weighting_params:
        raise ValueError("weighting_params only apply when the weighting is a registry name")
    if hasattr(method, "init") and hasattr(method, "update"):
        return method
    if callable(method):
        return method
    raise TypeError(
        "method must be a weighting name, a weighting from dse.gradient.get_weighting, or a "
        f"callable w(G, losses=...) -> weights; got {type(method).__name__}"
    )



# ---------------------------------------------------------------------- evaluation
def evaluate_model(model: torch.nn.Module, task: MTLTaskProtocol, split: str = "test", *,
                   device: str | torch.device | None = None,
                   batch_size: int = 4096) -> dict[str, dict[str, float]]:
    """Per-task loss and metric of ``model`` on one split.

    Returns ``{task_name: {"loss": ..., task.metric_name: ...}}`` (examples weighted
    equally across evaluation batches).
    """
    X, Y = task.split(split)
    dev = next(model.parameters()).device if device is None else resolve_device(device)
    n = X.shape[0]
    loss_sum = torch.zeros(task.n_tasks, dtype=torch.float64, device=dev)
    metric_sum = torch.zeros_like(loss_sum)
    was_training = model.training
    model.eval()
    with torch.no_grad():
        for i in range(0, n, batch_size):
            xb, yb = X[i:i + batch_size].to(dev), Y[i:i + batch_size].to(dev)
            out = model(xb)
            m = xb.shape[0]
            loss_sum += task.losses(out, yb).double() * m
            metric_sum += task.metrics(out, yb).double() * m
    model.train(was_training)
    loss, metric = (loss_sum / n).cpu().numpy(), (metric_sum / n).cpu().numpy()
    return {t: {"loss": float(loss[i]), task.metric_name: float(metric[i])}
            for i, t in enumerate(task.task_names)}


def delta_m(metrics: Sequence[float], single: Sequence[float],
            higher_is_better: Sequence[bool]) -> float:
    """Delta_m% of a multi-task model against single-task baselines (lower is better).

    ``Delta_m = (1/T) sum_t (-1)^{higher_is_better_t} (M_t - M_single_t) / M_single_t * 100``.
    """
    m, s = np.asarray(metrics, dtype=float), np.asarray(single, dtype=float)
    h = np.asarray(higher_is_better, dtype=bool)
    if not (m.shape == s.shape == h.shape) or m.ndim != 1 or m.size == 0:
        raise ValueError(
            "metrics, single and higher_is_better must be 1-D of the same length T >= 1, got "
            f"shapes {m.shape}, {s.shape}, {h.shape}"
        )
    if np.any(s == 0):
        raise ValueError(f"single-task metrics must be non-zero, got {s.tolist()}")
    sign = np.where(h, -1.0, 1.0)
    return float(np.mean(sign * (m - s) / s) * 100.0)


# ---------------------------------------------------------------------- training
@dataclass
class TrainResult:
    """What :func:`train` returns: the trained model, its training history, held-out
    metrics, and the settings that produced them.

    Attributes
    ----------
    model
        The trained model (on the training device).
    history
        One row per logged step: ``step``, ``loss_<task>``, ``weight_<task>`` and, when
        the Jacobian was computed, ``cos_<a>_<b>`` for every task pair and ``grad_norm_<task>``
        (norm of the task's shared-parameter gradient; with ``jacobian="features"`` both are
        measured on the gradients w.r.t. the shared representation).
    metrics
        ``{split: evaluate_model(...)}`` for the held-out splits after training.
    method, seed, wall_time
        The weighting's name, the seed, seconds spent training.
    config
        The settings :func:`train` resolved: ``steps``, ``lr``, ``batch_size``,
        ``optimizer``, ``device``, ``weighting_params``, ``jacobian`` and the trained
        ``tasks``.
    """

    model: torch.nn.Module
    history: pd.DataFrame
    metrics: dict[str, dict[str, dict[str, float]]]
    method: str
    seed: int
    wall_time: float
    config: dict[str, Any] = field(default_factory=dict)

    def metric(self, split: str = "test", name: str | None = None) -> np.ndarray:
        """Per-task values of one metric (default: the task's main metric) on ``split``."""
        table = self.metrics[split]
        key = name or next(k for k in next(iter(table.values())) if k != "loss")
        return np.array([table[t][key] for t in table])


@renamed_keywords(method="weighting", method_params="weighting_params")
def train(
    task: MTLTaskProtocol,
    weighting: Any = "mean",
    *,
    weighting_params: dict[str, Any] | None = None,
    steps: int | None = None,
    lr: float | None = None,
    optimizer: Any = "adam",
    batch_size: int | str | None = "task",
    device: str | torch.device | None = "cpu",
    seed: int = 0,
    tasks: Sequence[int] | None = None,
    track_gradients: bool = True,
    jacobian: str = "params",
    log_every: int = 1,
    eval_splits: Sequence[str] = ("val", "test"),
    progress: bool = True,
) -> TrainResult:
    """Train ``task``'s model with a gradient weighting.

    Parameters
    ----------
    task
        Any :class:`~dse.mtl_task.MTLTaskProtocol` (e.g. ``problems.mtl.multidigits()``).
    weighting
        Weighting name from :func:`dse.gradient.list_weightings` (``"mean"``, ``"mgda"``,
        ``"cagrad"``, ``"pcgrad"``, ``"upgrad"``, ``"imtl_g"``, ``"gradnorm"``,
        ``"uncertainty"``, ``"dwa"``, ``"loss_norm"``, ...), or a weighting object.

        .. deprecated:: 0.1.0
            Its old keyword ``method=`` (``method`` is a solver in :func:`dse.solve`)
            still works, with a :class:`DeprecationWarning`, for one release.
    weighting_params
        Parameters of the named weighting (``{"c": 0.5}``).

        .. deprecated:: 0.1.0
            Its old keyword ``method_params=`` still works, with a
            :class:`DeprecationWarning`, for one release.
    steps, lr
        Optimiser steps and learning rate (default: the task's suggestion).
    optimizer
        ``"adam"``, ``"adamw"``, ``"sgd"`` or a callable ``(params, lr) -> Optimizer``.
    batch_size
        Mini-batch size; ``"task"`` uses the task's suggestion, ``None`` the full batch.
    device
        ``"cpu"``, ``"cuda"`` or ``"auto"``.
    seed
        Seeds the model initialisation and the mini-batch order (no global seeding).
    tasks
        Train on these task indices only (``[t]`` gives the single-task baseline of task
        ``t``, trained by a plain backward of its loss).
    track_gradients
        Compute the per-task Jacobian even for ``"mean"`` / ``"linear"`` so the history
        holds gradient cosines; with ``False`` those methods take one ordinary backward.
    jacobian
        ``"params"`` (default): exact per-task gradients of all shared parameters (one
        backward per task; see the module docstring). ``"features"``: the MGDA-UB
        shortcut of Sener & Koltun (2018): weights from the Gramian of the task gradients
        w.r.t. the shared representation (the trunk output, per example), then one
        ordinary backward of ``sum_i w_i L_i``; the step is still ``sum_i w_i g_i`` but
        the weights solve the problem posed in feature space (an upper bound for MGDA),
        at about the cost of plain training. Heads get ``w_i``-scaled gradients there,
        and GradNorm measures its norms on the representation instead of the last shared
        layer.
    log_every
        Record every ``log_every``-th step in the history.
    eval_splits
        Held-out splits evaluated at the end (those the task has).
    progress
        Show a tqdm progress bar (``False``: quiet).

    Returns
    -------
    TrainResult
    """
    from dse.progress import track as tqdm  # live line in a terminal, plain lines in a log

    dev = resolve_device(device)
    steps, lr, active = _checked_settings(task, steps, lr, log_every, tasks, jacobian)
    single = tasks is not None and len(active) == 1
    weighting = None if single else resolve_method(weighting, weighting_params)
    name = f"single_{task.task_names[active[0]]}" if single else method_name(weighting)

    s = init_state(task, weighting, name, active, features=jacobian == "features",
                   track_gradients=track_gradients, optimizer=optimizer, lr=lr, seed=seed,
                   device=dev)
    n = s.X.shape[0]
    bs = task.batch_size if batch_size == "task" else batch_size
    bs = n if bs is None else min(int(bs), n)
    order = batch_order(n, bs, steps, seed, dev)
    choose_jacobian_route(s, order[0], _LOOP_JACOBIAN_ON_CPU)

    rec = Recorder()
    postfix_every = max(1, steps // 50)
    t0 = time.perf_counter()
    bar = tqdm(range(steps), desc=name, disable=not progress, leave=False)
    for step in bar:
        losses_all, w, G = take_step(s, order[step])
        if step % log_every == 0 or step == steps - 1:
            rec.record(step, losses_all, w, G)
        if progress and (step % postfix_every == 0 or step == steps - 1):
            bar.set_postfix({t: f"{v:.3g}" for t, v in
                             zip(task.task_names, losses_all.detach().cpu().tolist(),
                                 strict=True)})
    if dev.type == "cuda":
        torch.cuda.synchronize(dev)  # queued kernels belong to the timed loop
    wall = time.perf_counter() - t0

    history = rec.history(task.task_names, active)
    metrics = {sp: evaluate_model(s.model, task, sp) for sp in eval_splits if sp in task.data}
    return TrainResult(model=s.model, history=history, metrics=metrics, method=name,
                       seed=int(seed), wall_time=wall,
                       config={"steps": steps, "lr": lr, "batch_size": bs,
                               "optimizer": str(optimizer), "device": str(dev),
                               "weighting_params": dict(weighting_params or {}),
                               "jacobian": jacobian,
                               "tasks": active})


def _checked_settings(task: MTLTaskProtocol, steps: int | None, lr: float | None,
                      log_every: int, tasks: Sequence[int] | None,
                      jacobian: str) -> tuple[int, float, list[int]]:
    """``steps`` and ``lr`` (the task's suggestion where ``None``) and the trained task
    indices, each checked; a ``ValueError`` names the bad value."""
    steps = int(task.steps if steps is None else steps)
    lr = float(task.lr if lr is None else lr)
    if steps < 1:
        raise ValueError(f"steps must be >= 1, got {steps}")
    if lr <= 0:
        raise ValueError(f"lr must be > 0, got {lr}")
    if log_every < 1:
        raise ValueError(f"log_every must be >= 1, got {log_every}")
    K = task.n_tasks
    active = list(range(K)) if tasks is None else sorted({int(t) for t in tasks})
    if not active or any(t < 0 or t >= K for t in active):
        raise ValueError(f"tasks must be indices in [0, {K - 1}], got {tasks}")
    if jacobian not in ("params", "features"):
        raise ValueError(f"jacobian must be 'params' or 'features', got {jacobian!r}")
    return steps, lr, active


# ---------------------------------------------------------------------- descent on x
@dataclass
class DescentResult:
    """Trajectories of :func:`descend`.

    Attributes
    ----------
    X
        Recorded iterates ``(R, S, n_var)`` for ``R`` recorded steps and ``S`` starts; the
        last row is the final point.
    F
        Objectives ``(R, S, K)`` at those iterates.
    weights
        Task weights used at those steps ``(R, S, K)``.
    cosines
        Pairwise gradient cosines ``(R, S, K(K-1)/2)`` (upper triangle, row-major).
    grad_norms
        Norms of each objective's gradient ``(R, S, K)``.
    steps
        The recorded step numbers ``(R,)``.
    method
        The weighting's name.
    """

    X: np.ndarray
    F: np.ndarray
    weights: np.ndarray
    cosines: np.ndarray
    grad_norms: np.ndarray
    steps: np.ndarray
    method: str

    @property
    def x_final(self) -> np.ndarray:
        return self.X[-1]

    @property
    def f_final(self) -> np.ndarray:
        return self.F[-1]


@renamed_keywords(method="weighting", method_params="weighting_params")
def descend(
    problem: Any,
    weighting: Any = "mean",
    x0: Any = None,
    *,
    weighting_params: dict[str, Any] | None = None,
    **kwargs: Any,
) -> DescentResult:
    """Gradient descent on a differentiable problem's variables with one weighting.

    Shorthand for :func:`descend_many` with a single weighting (a name, with
    ``weighting_params``, or an object); see there for the keyword arguments (``steps``,
    ``lr``, ``optimizer``, ``record_every``, ``device``, ``dtype``, ``seed``, ``project``,
    ``progress``).

    .. deprecated:: 0.1.0
        The old keywords ``method=`` for ``weighting=`` and ``method_params=`` for
        ``weighting_params=`` still work, with a :class:`DeprecationWarning`, for one
        release.
    """
    w = resolve_method(weighting, weighting_params)
    return descend_many(problem, {"_": w}, x0, **kwargs)["_"]


def descend_many(
    problem: Any,
    methods: Mapping[str, Any],
    x0: Any = None,
    *,
    steps: int = 1000,
    lr: float = 1e-2,
    optimizer: Any = "adam",
    record_every: int = 1,
    device: str | torch.device | None = "cpu",
    dtype: torch.dtype = torch.float64,
    seed: int = 0,
    project: bool = True,
    progress: bool = False,
) -> dict[str, DescentResult]:
    """Run several weightings side by side from the same starts, in one batched loop.

    Every method's copy of the starts is stacked into one ``(M * S, n_var)`` tensor, so
    each step costs one evaluation, one batched backward and one optimiser step for all
    methods (only the weightings are called per method). Adam acts per coordinate, so this
    is the same as ``M * S`` separate runs.

    Parameters
    ----------
    problem
        A :class:`~dse.problem.Problem` with a continuous relaxation.
    methods
        Label -> weighting name or object (``{"mgda": "mgda", "c=10": get_weighting(
        "cagrad", c=10.0)}``).
    x0
        Starting points ``(S, n_var)`` or ``(n_var,)`` (default: the problem's
        ``initial_point(seed=seed)`` when it has one, else ``problem.sample(1, seed)``).
    steps, lr, optimizer
        Optimiser settings.
    record_every
        Keep every ``record_every``-th iterate (the final point is always kept).
    device, dtype
        Where and in which precision to run.
    seed
        Used only for the default ``x0``.
    project
        Clip iterates to the variable bounds after each step.
    progress
        Show a tqdm progress bar.

    Returns
    -------
    Label -> :class:`DescentResult`.
    """
    from tqdm.auto import tqdm

    from dse.gradient import gramian

    if not getattr(problem, "has_relaxation", False):
        raise ValueError(f"problem {getattr(problem, 'name', problem)!r} has no relaxation")
    if steps < 1 or record_every < 1:
        raise ValueError(f"steps and record_every must be >= 1, got {steps}, {record_every}")
    if not methods:
        raise ValueError("methods must name at least one weighting")
    dev = resolve_device(device)
    if x0 is None:
        init = getattr(problem, "initial_point", None)
        x0 = init(seed=seed) if callable(init) else problem.sample(1, seed=seed)[0]
    start = torch.as_tensor(np.asarray(x0) if not isinstance(x0, Tensor) else x0.detach())
    start = start.to(dev, dtype)
    if start.ndim == 1:
        start = start[None]
    if start.ndim != 2 or start.shape[1] != problem.n_relaxed:
        raise ValueError(f"x0 must have shape (S, {problem.n_relaxed}) or "
                         f"({problem.n_relaxed},), got {tuple(start.shape)}")
    S, K = start.shape[0], problem.n_obj
    labels = list(methods)
    M = len(labels)
    combiners = [Combiner(resolve_method(methods[k]), K, dev, dtype, lead=(S,))
                 for k in labels]
    x = start.repeat(M, 1).requires_grad_(True)
    lo, hi = (torch.as_tensor(b, device=dev, dtype=dtype) for b in problem.relaxed_bounds())
    extra = [p for c in combiners for p in c.extra_parameters()]
    opt = make_optimizer(optimizer, [x, *extra], lr)
    eye = torch.eye(K, dtype=dtype, device=dev)[:, None, :].expand(K, M * S, K)

    def jac(z: Tensor) -> tuple[Tensor, Tensor]:
        F = problem.evaluate_relaxed(z)
        # One batched backward gives every objective's gradient at every point.
        (Jt,) = torch.autograd.grad(F, z, grad_outputs=eye, is_grads_batched=True)
        return F.detach(), Jt.transpose(0, 1)  # (M*S, K), (M*S, K, n)

    recs: dict[str, list[Tensor]] = {k: [] for k in ("X", "F", "w", "G")}
    rec_steps: list[int] = []
    w = torch.zeros(M * S, K, dtype=dtype, device=dev)
    for step in tqdm(range(steps + 1), disable=not progress, leave=False, desc="descend"):
        F, J = jac(x)
        G = gramian(J)
        if step < steps:
            opt.zero_grad(set_to_none=True)
            w = torch.cat([c.weights(G[i * S:(i + 1) * S], F[i * S:(i + 1) * S]).to(dtype)
                           for i, c in enumerate(combiners)])
        if step % record_every == 0 or step == steps:
            rec_steps.append(step)
            for k, v in (("X", x), ("F", F), ("w", w), ("G", G)):
                recs[k].append(v.detach().clone())
        if step == steps:
            break
        x.grad = (w.unsqueeze(-2) @ J).squeeze(-2)
        opt.step()
        if project:
            with torch.no_grad():
                x.copy_(torch.maximum(torch.minimum(x, hi), lo))
    # (R, M*S, ...) -> per method (R, S, ...); one host transfer.
    Xr, Fr, Wr, Gr = (torch.stack(recs[k]) for k in ("X", "F", "w", "G"))
    cos = pair_cosines(Gr) if K > 1 else Gr[..., 0, :0]
    norms = Gr.diagonal(dim1=-2, dim2=-1).clamp(min=0).sqrt()
    arrays = [a.detach().double().cpu().numpy() for a in (Xr, Fr, Wr, cos, norms)]
    out = {}
    for i, label in enumerate(labels):
        sl = slice(i * S, (i + 1) * S)
        X_, F_, W_, C_, N_ = (a[:, sl] for a in arrays)
        out[label] = DescentResult(X=X_, F=F_, weights=W_, cosines=C_, grad_norms=N_,
                                   steps=np.asarray(rec_steps),
                                   method=method_name(combiners[i].w))
    return out
