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
* :func:`descend` runs the same update directly on the variables ``x`` of any
  differentiable :class:`~dse.problem.Problem`, for a batch of starting points at once
  (the CAGrad toy's trajectories, the advisor's short descent).

Weightings (``weighting=``) are given by registry name (``"cagrad"``), with
``method_params``, or as an object from :func:`dse.gradient.get_weighting`; stateless ones
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
from dataclasses import dataclass, field, replace
from typing import Any

import numpy as np
import pandas as pd
import torch
from torch import Tensor

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
#: backward; see train. A switch so the tests can run both routes on the CPU.
_LOOP_JACOBIAN_ON_CPU = True
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
    """What :func:`train` returns.

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


@renamed_keywords(method="weighting")
def train(
    task: MTLTaskProtocol,
    weighting: Any = "mean",
    *,
    method_params: dict[str, Any] | None = None,
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
    from dse.gradient import gramian, param_slices, scalarising_weightings, task_jacobian
    from dse.progress import track as tqdm  # live line in a terminal, plain lines in a log

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
    if jacobian not in ("params", "features"):
        raise ValueError(f"jacobian must be 'params' or 'features', got {jacobian!r}")
    features = jacobian == "features" and not single
    weighting = None if single else resolve_method(weighting, method_params)
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
    # Methods whose weights define a scalarised loss sum_i w_i L_i (the registry's
    # ``scalarising`` entries): heads get w_i * grad L_i.
    scale_heads = name in scalarising_weightings() or not hasattr(weighting, "name")

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
    head_params = [p for t in active for p in heads[t]]
    # On the CPU, K ordinary backward passes, each starting at its task's head (and giving
    # that head's gradient), cost less than one vmapped backward through every head plus
    # one through the heads: best of 10, 1.0 vs 1.4 ms on MultiDigits (K = 2) and 11.6 vs
    # 23.9 ms on the GradNorm regression with K = 10 (batch 256). On accelerators, where one batched
    # pass saves K - 1 rounds of kernel launches, the vmapped backward is used.
    loop_jac = dev.type == "cpu" and _LOOP_JACOBIAN_ON_CPU
    # Per-task backward passes start at each task's own head when loss t reads head t's
    # output only (the usual case); losses that couple heads take the general routes.
    split = use_jac and (features or loop_jac) and _losses_separable(
        task, model, X[order[0]], Y[order[0]], active)
    loop_jac = loop_jac and split
    postfix_every = max(1, steps // 50)
    t0 = time.perf_counter()
    bar = tqdm(range(steps), desc=name, disable=not progress, leave=False)
    for step in bar:
        idx = order[step]
        opt.zero_grad(set_to_none=True)
        G = None
        if split:
            # Loss t depends on head t's output only, so the losses are differentiated
            # w.r.t. the head outputs first (cheap), and each task's backward then starts
            # at its own head: it never runs the other heads' backward on zero gradients.
            z = model.trunk(X[idx])
            out = model.forward_heads(z)
            leaf = [o.detach().requires_grad_(True) for o in out]
            losses_all = task.losses(leaf, Y[idx])
            losses = losses_all[active]
            d_out = torch.autograd.grad(losses.sum(), [leaf[t] for t in active])
            out = [out[t] for t in active]
        elif features:
            z = model.trunk(X[idx])
            losses_all = task.losses(model.forward_heads(z), Y[idx])
            losses = losses_all[active]
        else:
            out = model(X[idx])
            losses_all = task.losses(out, Y[idx])
            losses = losses_all[active]
        if single:
            losses[0].backward()
            w = torch.ones(1, device=dev)
        elif not use_jac:
            w = combiner.w(None, losses=losses.detach())
            (w.to(losses.dtype) * losses).sum().backward()
        elif features:
            # MGDA-UB route: the Gramian of the task gradients w.r.t. the shared
            # representation (heads only), then ONE ordinary backward of sum_i w_i L_i,
            # which gives the shared parameters exactly sum_i w_i g_i.
            if split:
                Jz = torch.stack([torch.autograd.grad(o, z, d, retain_graph=True)[0]
                                  for o, d in zip(out, d_out, strict=True)])
            else:
                Jz = torch.stack([torch.autograd.grad(loss, z, retain_graph=True)[0]
                                  for loss in losses])
            G = gramian(Jz.reshape(len(active), -1))
            w = combiner.weights(G, losses, G)
            wd = w.detach().to(losses.dtype)
            if split:
                torch.autograd.backward(out, [c * d for c, d in zip(wd, d_out, strict=True)])
            else:
                (wd * losses).sum().backward()
        else:
            # Shared parameters: the K x P Jacobian. Heads: each is reached by its own
            # loss only, so head t's gradient is c_t times its task's gradient.
            if loop_jac:
                J, head_grads = _jacobian_and_heads(out, d_out, shared,
                                                    [heads[t] for t in active])
            else:
                J = task_jacobian(losses, shared, retain_graph=True)
            G = gramian(J)
            G_last = gramian(J[:, last_cols]) if last_cols is not None else None
            w = combiner.weights(G, losses, G_last)
            _write(shared, w.to(J.dtype) @ J)
            coef = w.detach().to(losses.dtype) if scale_heads else torch.ones_like(losses)
            if loop_jac:
                for c, hp, hg in zip(coef, [heads[t] for t in active], head_grads, strict=True):
                    for p, g in zip(hp, hg, strict=True):
                        p.grad = c * g if scale_heads else g
            else:
                grads = torch.autograd.grad((coef * losses).sum(), head_params)
                for p, g in zip(head_params, grads, strict=True):
                    p.grad = g
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
    if dev.type == "cuda":
        torch.cuda.synchronize(dev)  # queued kernels belong to the timed loop
    wall = time.perf_counter() - t0

    history = _history(task.task_names, active, rec_step, rec_loss, rec_w, rec_G)
    metrics = {s: evaluate_model(model, task, s) for s in eval_splits if s in task.data}
    return TrainResult(model=model, history=history, metrics=metrics, method=name,
                       seed=int(seed), wall_time=wall,
                       config={"steps": steps, "lr": lr, "batch_size": bs,
                               "optimizer": str(optimizer), "device": str(dev),
                               "method_params": dict(method_params or {}),
                               "jacobian": jacobian,
                               "tasks": active})


def _jacobian_and_heads(
    outputs: Sequence[Tensor], d_out: Sequence[Tensor], shared: Sequence[Tensor],
    heads: Sequence[Sequence[Tensor]],
) -> tuple[Tensor, list[tuple[Tensor, ...]]]:
    """Shared-parameter Jacobian ``(K, P)`` and each head's gradient of its own loss, from
    K ordinary backward passes, pass t starting at head t's output with ``d_out[t]`` (the
    gradient of loss t w.r.t. it) and running through head t and the shared trunk."""
    P = sum(p.numel() for p in shared)
    J = torch.empty(len(heads), P, dtype=shared[0].dtype, device=shared[0].device)
    head_grads = []
    last = len(heads) - 1
    for i, (o, d, hp) in enumerate(zip(outputs, d_out, heads, strict=True)):
        g = torch.autograd.grad(o, [*shared, *hp], grad_outputs=d, retain_graph=i < last,
                                allow_unused=True)
        # Written straight into row i: no extra copy of the K x P Jacobian.
        torch.cat([(torch.zeros_like(p) if gi is None else gi).reshape(-1)
                   for gi, p in zip(g[: len(shared)], shared, strict=True)], out=J[i])
        head_grads.append(tuple(torch.zeros_like(p) if gi is None else gi
                                for gi, p in zip(g[len(shared):], hp, strict=True)))
    return J, head_grads


def _losses_separable(task: Any, model: torch.nn.Module, x: Tensor, y: Tensor,
                      active: Sequence[int]) -> bool:
    """Whether loss t depends on head t's output only, on one batch (the global RNG is
    left as it was, so checking does not change a seeded run)."""
    devices = [x.device] if x.device.type == "cuda" else []
    with torch.random.fork_rng(devices=devices):
        with torch.no_grad():
            out = model(x)
        leaf = [o.detach().requires_grad_(True) for o in out]
        losses = task.losses(leaf, y)
        for t in active:
            grads = torch.autograd.grad(losses[t], leaf, retain_graph=True, allow_unused=True)
            if any(j != t and g is not None and bool(g.ne(0).any())
                   for j, g in enumerate(grads)):
                return False
    return True


def _write(params: Sequence[Tensor], flat: Tensor) -> None:
    """Set ``p.grad`` from consecutive slices of ``flat`` (grads were zeroed before)."""
    start = 0
    for p in params:
        k = p.numel()
        p.grad = flat[start:start + k].view_as(p).to(p.dtype)
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


@renamed_keywords(method="weighting")
def descend(
    problem: Any,
    weighting: Any = "mean",
    x0: Any = None,
    *,
    method_params: dict[str, Any] | None = None,
    **kwargs: Any,
) -> DescentResult:
    """Gradient descent on a differentiable problem's variables with one weighting.

    Shorthand for :func:`descend_many` with a single weighting (a name, with
    ``method_params``, or an object); see there for the keyword arguments (``steps``,
    ``lr``, ``optimizer``, ``record_every``, ``device``, ``dtype``, ``seed``, ``project``,
    ``progress``).

    .. deprecated:: 0.1.0
        The old keyword ``method=`` for ``weighting=`` still works, with a
        :class:`DeprecationWarning`, for one release.
    """
    w = resolve_method(weighting, method_params)
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
    combiners = [_Combiner(resolve_method(methods[k]), K, dev, dtype, lead=(S,))
                 for k in labels]
    x = start.repeat(M, 1).requires_grad_(True)
    lo, hi = (torch.as_tensor(b, device=dev, dtype=dtype) for b in problem.relaxed_bounds())
    extra = [p for c in combiners for p in c.extra_parameters()]
    opt = _make_optimizer(optimizer, [x, *extra], lr)
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
    cos = _pair_cosines(Gr) if K > 1 else Gr[..., 0, :0]
    norms = Gr.diagonal(dim1=-2, dim2=-1).clamp(min=0).sqrt()
    arrays = [a.detach().double().cpu().numpy() for a in (Xr, Fr, Wr, cos, norms)]
    out = {}
    for i, label in enumerate(labels):
        sl = slice(i * S, (i + 1) * S)
        X_, F_, W_, C_, N_ = (a[:, sl] for a in arrays)
        out[label] = DescentResult(X=X_, F=F_, weights=W_, cosines=C_, grad_norms=N_,
                                   steps=np.asarray(rec_steps),
                                   method=_method_name(combiners[i].w))
    return out
