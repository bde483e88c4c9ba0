"""Training loops that take any weighting of :mod:`dse.gradient`.

Two loops share one way of turning task gradients into an update:

* :func:`train` trains a multi-task model (an :class:`~problems.mtl.base.MTLTask`): per
  step, the ``T`` task losses of a mini-batch, their Jacobian w.r.t. all parameters in ONE
  vmapped backward, the Gramian of the shared-parameter rows, weights from the weighting,
  ``weights @ J`` into the shared ``.grad``, and a torch optimiser step.
* :func:`descend` runs the same update directly on the variables ``x`` of any
  differentiable :class:`~dse.problem.Problem`, for a batch of starting points at once
  (the CAGrad toy's trajectories, the advisor's short descent).

Weightings are given by registry name (``"cagrad"``), with ``method_params``, or as an
object from :func:`dse.gradient.get_weighting`; stateless ones are called on the Gramian,
stateful ones (uncertainty, GradNorm, DWA, loss normalisation) go through their explicit
``init`` / ``update``. Heads (parameters of one task only) get their task's gradient,
scaled by the task weight for methods that scalarise the loss (equal / linear weights and
the stateful loss weightings) and unscaled for the gradient-aggregation methods (MGDA,
CAGrad, PCGrad, IMTL-G, UPGrad, gradient normalisation), as in Sener & Koltun and TorchJD.

Metrics and Delta_m
-------------------
:func:`evaluate_model` returns per-task loss and metric on a held-out split; :func:`delta_m`
compares them to single-task models with the convention of CAGrad and Nash-MTL::

    Delta_m = (1/T) sum_t (-1)^{higher_is_better_t} (M_t - M_single_t) / M_single_t * 100

so a multi-task model that loses accuracy has a positive Delta_m: lower is better.
"""

from __future__ import annotations

import time
from collections.abc import Sequence
from dataclasses import dataclass, field, replace
from typing import Any

import numpy as np
import pandas as pd
import torch
from torch import Tensor

__all__ = [
    "DescentResult",
    "TrainResult",
    "delta_m",
    "descend",
    "evaluate_model",
    "resolve_device",
    "resolve_method",
    "train",
]

# Methods whose weights define a scalarised loss sum_i w_i L_i: heads get w_i * grad L_i.
_SCALARISING = {"mean", "linear", "uncertainty", "gradnorm", "dwa", "loss_norm"}


# ---------------------------------------------------------------------- helpers
def resolve_device(device: str | torch.device | None) -> torch.device:
    """``"auto"`` (CUDA when available), ``"cpu"``, ``"cuda[:i]"`` or a torch.device."""
    if device is None or device == "auto":
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    try:
        dev = torch.device(device)
    except (RuntimeError, TypeError) as err:
        raise ValueError(f"device must be 'auto', 'cpu', 'cuda' or 'cuda:i', got {device!r}") from err
    if dev.type == "cuda" and not torch.cuda.is_available():
        raise ValueError("device 'cuda' requested but CUDA is not available; use 'cpu' or 'auto'")
    return dev


def resolve_method(method: Any, method_params: dict[str, Any] | None = None) -> Any:
    """A weighting object from a registry name (with ``method_params``) or an object.

    Accepts what :func:`dse.gradient.get_weighting` returns, or any callable
    ``w(G, *, losses=None) -> (..., K)`` (treated as stateless).
    """
    from dse.gradient import get_weighting

    if isinstance(method, str):
        return get_weighting(method, **(method_params or {}))
    if method_params:
        raise ValueError("method_params only apply when method is a registry name")
    if hasattr(method, "init") and hasattr(method, "update"):
        return method
    if callable(method):
        return method
    raise TypeError(
        "method must be a weighting name, a weighting from dse.gradient.get_weighting, or a "
        f"callable w(G, losses=...) -> weights; got {type(method).__name__}"
    )


def _method_name(w: Any) -> str:
    return str(getattr(w, "name", "") or type(w).__name__)


def _is_stateful(w: Any) -> bool:
    return getattr(w, "kind", "stateless") == "stateful"


def _pair_cosines(G: Tensor) -> Tensor:
    """Upper-triangle pairwise cosines ``(..., K(K-1)/2)`` of the Gramian ``G``."""
    from dse.gradient import cosine_matrix

    K = G.shape[-1]
    iu = torch.triu_indices(K, K, offset=1, device=G.device)
    return cosine_matrix(G)[..., iu[0], iu[1]]


def _make_optimizer(optimizer: Any, params: list[Tensor], lr: float) -> torch.optim.Optimizer:
    if callable(optimizer) and not isinstance(optimizer, str):
        return optimizer(params, lr)
    table = {"adam": torch.optim.Adam, "adamw": torch.optim.AdamW, "sgd": torch.optim.SGD}
    key = str(optimizer).lower()
    if key not in table:
        raise ValueError(
            f"unknown optimizer {optimizer!r}; valid: {', '.join(table)} or a callable "
            "(params, lr) -> torch.optim.Optimizer"
        )
    return table[key](params, lr=lr)


class _Combiner:
    """Weights from a stateless or stateful weighting, keeping the state explicit."""

    def __init__(self, weighting: Any, K: int, device: torch.device, dtype: torch.dtype,
                 lead: tuple[int, ...] = ()) -> None:
        self.w = weighting
        self.stateful = _is_stateful(weighting)
        self.state = None
        if self.stateful:
            self.state = weighting.init(K, device=device, dtype=dtype)
            log_vars = getattr(self.state, "log_vars", None)
            if lead and isinstance(log_vars, Tensor):
                # Independent runs (a batch of starts) need their own log-variances.
                s = log_vars.detach().expand(*lead, K).clone().requires_grad_(True)
                self.state = replace(self.state, log_vars=s)

    @property
    def needs_gramian(self) -> bool:
        return bool(getattr(self.w, "needs_gramian", True))

    def extra_parameters(self) -> list[Tensor]:
        return list(self.w.parameters(self.state)) if self.stateful else []

    def weights(self, G: Tensor, losses: Tensor, G_last: Tensor | None = None) -> Tensor:
        if not self.stateful:
            return self.w(G, losses=losses.detach())
        G_in = (G_last if G_last is not None else G) if self.needs_gramian else None
        w, self.state = self.w.update(self.state, losses=losses.detach(), G=G_in)
        if hasattr(self.w, "loss") and self.extra_parameters():
            # Learnable weightings (uncertainty): their own objective gives the gradient of
            # their parameters; the model gets the weights through w @ J.
            self.w.loss(self.state, losses.detach()).backward()
        return w


# ---------------------------------------------------------------------- evaluation
def evaluate_model(model: torch.nn.Module, task: Any, split: str = "test", *,
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
    """What :func:`train` returns.

    Attributes
    ----------
    model
        The trained model (on the training device).
    history
        One row per logged step: ``step``, ``loss_<task>``, ``weight_<task>`` and, when
        the Jacobian was computed, ``cos_<a>_<b>`` for every task pair and ``grad_norm_<task>``
        (norm of the task's shared-parameter gradient).
    metrics
        ``{split: evaluate_model(...)}`` for the held-out splits after training.
    method, seed, wall_time
        The weighting's name, the seed, seconds spent training.
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


def train(
    task: Any,
    method: Any = "mean",
    *,
    method_params: dict[str, Any] | None = None,
    steps: int | None = None,
    lr: float | None = None,
    optimizer: Any = "adam",
    batch_size: int | None | str = "task",
    device: str | torch.device | None = "cpu",
    seed: int = 0,
    tasks: Sequence[int] | None = None,
    track_gradients: bool = True,
    log_every: int = 1,
    eval_splits: Sequence[str] = ("val", "test"),
    progress: bool = True,
) -> TrainResult:
    """Train ``task``'s model with a gradient weighting.

    Parameters
    ----------
    task
        An :class:`~problems.mtl.base.MTLTask` (e.g. ``problems.mtl.multidigits()``).
    method
        Weighting name from :func:`dse.gradient.list_weightings` (``"mean"``, ``"mgda"``,
        ``"cagrad"``, ``"pcgrad"``, ``"upgrad"``, ``"imtl_g"``, ``"gradnorm"``,
        ``"uncertainty"``, ``"dwa"``, ``"loss_norm"``, ...), or a weighting object.
    method_params
        Parameters of the named weighting (``{"c": 0.5}``).
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
    from tqdm.auto import tqdm

    from dse.gradient import gramian, param_slices, task_jacobian

    dev = resolve_device(device)
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
    single = tasks is not None and len(active) == 1
    weighting = None if single else resolve_method(method, method_params)
    name = f"single_{task.task_names[active[0]]}" if single else _method_name(weighting)

    model = task.make_model(seed).to(dev)
    shared = model.shared_parameters()
    heads = [list(h.parameters()) for h in model.heads]
    X, Y = task.split("train")
    X, Y = X.to(dev), Y.to(dev)
    n = X.shape[0]
    bs = task.batch_size if batch_size == "task" else batch_size
    bs = n if bs is None else min(int(bs), n)

    use_jac = not single and (
        track_gradients or _is_stateful(weighting) or name not in ("mean", "linear")
    )
    combiner = None if single else _Combiner(weighting, len(active), dev, torch.float32)
    opt = _make_optimizer(optimizer, [*model.parameters(),
                                      *(combiner.extra_parameters() if combiner else [])], lr)
    scale_heads = name in _SCALARISING or not hasattr(weighting, "name")

    # GradNorm measures gradient norms on the last shared layer only.
    last_cols = None
    if combiner is not None and combiner.stateful and combiner.needs_gramian:
        last_ids = {id(p) for p in model.last_shared_layer().parameters()}
        sl = [s for p, s in zip(shared, param_slices(shared), strict=True) if id(p) in last_ids]
        last_cols = slice(sl[0].start, sl[-1].stop)

    # All mini-batch indices drawn up front from a seeded CPU generator: one transfer,
    # no host round-trip per step.
    gen = torch.Generator().manual_seed(int(seed) + 1)
    n_epochs = -(-steps * bs // n)
    order = torch.cat([torch.randperm(n, generator=gen) for _ in range(n_epochs)])
    order = order[: steps * bs].view(steps, bs).to(dev)

    rec_loss, rec_w, rec_G, rec_step = [], [], [], []
    n_shared = sum(p.numel() for p in shared)
    head_sizes = [sum(p.numel() for p in ps) for ps in heads]
    postfix_every = max(1, steps // 50)
    t0 = time.perf_counter()
    bar = tqdm(range(steps), desc=name, disable=not progress, leave=False)
    for step in bar:
        idx = order[step]
        out = model(X[idx])
        losses_all = task.losses(out, Y[idx])
        losses = losses_all[active]
        opt.zero_grad(set_to_none=True)
        G = None
        if single:
            losses[0].backward()
            w = torch.ones(1, device=dev)
        elif not use_jac:
            w = combiner.w(None, losses=losses.detach())
            (w.to(losses.dtype) * losses).sum().backward()
        else:
            head_params = [p for t in active for p in heads[t]]
            J_all = task_jacobian(losses, shared + head_params)
            J = J_all[:, :n_shared]
            G = gramian(J)
            G_last = gramian(J[:, last_cols]) if last_cols is not None else None
            w = combiner.weights(G, losses, G_last)
            _write(shared, w.to(J.dtype) @ J)
            start = n_shared
            for i, t in enumerate(active):
                size = head_sizes[t]
                g = J_all[i, start:start + size]
                _write(heads[t], g * w[i].to(g.dtype) if scale_heads else g)
                start += size
        opt.step()
        if step % log_every == 0 or step == steps - 1:
            rec_step.append(step)
            rec_loss.append(losses_all.detach())
            rec_w.append(w.detach().float())
            if G is not None:
                rec_G.append(G.detach())
        if progress and (step % postfix_every == 0 or step == steps - 1):
            bar.set_postfix({t: f"{v:.3g}" for t, v in
                             zip(task.task_names, losses_all.detach().cpu().tolist(),
                                 strict=True)})
    wall = time.perf_counter() - t0

    history = _history(task.task_names, active, rec_step, rec_loss, rec_w, rec_G)
    metrics = {s: evaluate_model(model, task, s) for s in eval_splits if s in task.data}
    return TrainResult(model=model, history=history, metrics=metrics, method=name,
                       seed=int(seed), wall_time=wall,
                       config={"steps": steps, "lr": lr, "batch_size": bs,
                               "optimizer": str(optimizer), "device": str(dev),
                               "method_params": dict(method_params or {}),
                               "tasks": active})


def _write(params: Sequence[Tensor], flat: Tensor) -> None:
    """Set ``p.grad`` from consecutive slices of ``flat`` (grads were zeroed before)."""
    start = 0
    for p in params:
        k = p.numel()
        p.grad = flat[start:start + k].view_as(p).to(p.dtype).clone()
        start += k


def _history(names: Sequence[str], active: Sequence[int], steps: list[int],
             losses: list[Tensor], weights: list[Tensor], grams: list[Tensor]) -> pd.DataFrame:
    # One host transfer for the whole run.
    L = torch.stack(losses).double().cpu().numpy()
    W = torch.stack(weights).double().cpu().numpy()
    cols: dict[str, Any] = {"step": np.asarray(steps)}
    for i, t in enumerate(names):
        cols[f"loss_{t}"] = L[:, i]
    for j, t in enumerate(active):
        cols[f"weight_{names[t]}"] = W[:, j]
    if grams:
        G = torch.stack(grams).double()
        cos = _pair_cosines(G).cpu().numpy()
        norms = G.diagonal(dim1=-2, dim2=-1).clamp(min=0).sqrt().cpu().numpy()
        iu = np.triu_indices(len(active), 1)
        for c, (a, b) in enumerate(zip(*iu, strict=True)):
            cols[f"cos_{names[active[a]]}_{names[active[b]]}"] = cos[:, c]
        for j, t in enumerate(active):
            cols[f"grad_norm_{names[t]}"] = norms[:, j]
    return pd.DataFrame(cols)


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


def descend(
    problem: Any,
    method: Any = "mean",
    x0: Any = None,
    *,
    method_params: dict[str, Any] | None = None,
    steps: int = 1000,
    lr: float = 1e-2,
    optimizer: Any = "adam",
    record_every: int = 1,
    device: str | torch.device | None = "cpu",
    dtype: torch.dtype = torch.float64,
    seed: int = 0,
    project: bool = True,
    progress: bool = False,
) -> DescentResult:
    """Gradient descent on a differentiable problem's variables with a weighting.

    Parameters
    ----------
    problem
        A :class:`~dse.problem.Problem` with a continuous relaxation.
    method, method_params
        As in :func:`train`.
    x0
        Starting points ``(S, n_var)`` or ``(n_var,)`` (default: ``problem.sample(1, seed)``,
        or the problem's ``initial_point`` when it has one).
    steps, lr, optimizer
        Optimiser settings; all starts move at once (Adam acts per coordinate, so a batch
        of starts is the same as separate runs).
    record_every
        Keep every ``record_every``-th iterate (plus the last).
    device, dtype
        Where and in which precision to run.
    seed
        Used only for the default ``x0``.
    project
        Clip iterates to the variable bounds after each step.
    progress
        Show a tqdm progress bar.
    """
    from tqdm.auto import tqdm

    from dse.gradient import gramian

    if not getattr(problem, "has_relaxation", False):
        raise ValueError(f"problem {getattr(problem, 'name', problem)!r} has no relaxation")
    if steps < 1 or record_every < 1:
        raise ValueError(f"steps and record_every must be >= 1, got {steps}, {record_every}")
    dev = resolve_device(device)
    if x0 is None:
        init = getattr(problem, "initial_point", None)
        x0 = init(seed=seed) if callable(init) else problem.sample(1, seed=seed)[0]
    x = torch.as_tensor(np.asarray(x0) if not isinstance(x0, Tensor) else x0.detach())
    x = x.to(dev, dtype).clone()
    if x.ndim == 1:
        x = x[None]
    if x.ndim != 2 or x.shape[1] != problem.n_relaxed:
        raise ValueError(f"x0 must have shape (S, {problem.n_relaxed}) or "
                         f"({problem.n_relaxed},), got {tuple(x.shape)}")
    S, K = x.shape[0], problem.n_obj
    lo, hi = (torch.as_tensor(b, device=dev, dtype=dtype) for b in problem.relaxed_bounds())
    x.requires_grad_(True)
    weighting = resolve_method(method, method_params)
    combiner = _Combiner(weighting, K, dev, dtype, lead=(S,))
    opt = _make_optimizer(optimizer, [x, *combiner.extra_parameters()], lr)
    eye = torch.eye(K, dtype=dtype, device=dev)[:, None, :].expand(K, S, K)

    recs: dict[str, list[Tensor]] = {k: [] for k in ("X", "F", "w", "G")}
    rec_steps: list[int] = []
    for step in tqdm(range(steps), disable=not progress, leave=False,
                     desc=_method_name(weighting)):
        F = problem.evaluate_relaxed(x)
        # One batched backward gives every objective's gradient for every start.
        (Jt,) = torch.autograd.grad(F, x, grad_outputs=eye, is_grads_batched=True)
        J = Jt.transpose(0, 1)  # (S, K, n)
        G = gramian(J)
        opt.zero_grad(set_to_none=True)
        w = combiner.weights(G, F)
        x.grad = (w.to(J.dtype).unsqueeze(-2) @ J).squeeze(-2)
        if step % record_every == 0:
            rec_steps.append(step)
            for k, v in (("X", x), ("F", F), ("w", w), ("G", G)):
                recs[k].append(v.detach().clone())
        opt.step()
        if project:
            with torch.no_grad():
                x.copy_(torch.maximum(torch.minimum(x, hi), lo))
    with torch.no_grad():
        F = problem.evaluate_relaxed(x)
    (Jt,) = torch.autograd.grad(problem.evaluate_relaxed(x), x, grad_outputs=eye,
                                is_grads_batched=True)
    G = gramian(Jt.transpose(0, 1))
    rec_steps.append(steps)
    for k, v in (("X", x), ("F", F), ("w", recs["w"][-1]), ("G", G)):
        recs[k].append(v.detach().clone())
    Gs = torch.stack(recs["G"])
    return DescentResult(
        X=torch.stack(recs["X"]).cpu().numpy(),
        F=torch.stack(recs["F"]).cpu().numpy(),
        weights=torch.stack(recs["w"]).double().cpu().numpy(),
        cosines=(_pair_cosines(Gs) if K > 1 else Gs[..., :0, 0]).cpu().numpy(),
        grad_norms=Gs.diagonal(dim1=-2, dim2=-1).clamp(min=0).sqrt().cpu().numpy(),
        steps=np.asarray(rec_steps),
        method=_method_name(weighting),
    )

