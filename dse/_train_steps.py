"""The state and the step of :func:`dse.train.train`, split along its Jacobian routes.

A training run is explicit state (:class:`TrainState`: the model and its data, the
weighting's :class:`Combiner`, the optimiser, and which route every step takes, all fixed
by :func:`init_state`) plus one step (:func:`take_step`): :func:`forward` computes the
mini-batch losses, then one route turns them into ``.grad`` of every trained parameter:

* :func:`single_task_step`: a single-task baseline, one ordinary backward of its loss;
* :func:`scalarised_step`: equal / linear weights without a Jacobian, one backward of
  ``sum_i w_i L_i``;
* :func:`features_step`: MGDA-UB, the Gramian of the task gradients w.r.t. the shared
  representation, then one backward of ``sum_i w_i L_i``;
* :func:`params_step`: the exact ``K x P`` Jacobian of the shared parameters (K backward
  passes on the CPU, one vmapped backward elsewhere), ``w @ J`` into their ``.grad``, each
  head its own task's gradient.

:class:`Recorder` keeps the logged steps on the device and builds the history with one host
transfer at the end. The helpers shared with :func:`dse.train.descend_many` (the combiner,
the optimiser table, pairwise cosines) live here too.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass, field, replace
from typing import Any

import numpy as np
import pandas as pd
import torch
from torch import Tensor

from dse.mtl_task import MTLTaskProtocol

#: A route: gradients of one mini-batch into ``.grad``; returns the task weights used and
#: the Gramian (``None`` when no Jacobian was computed).
StepRoute = Callable[["TrainState", "Batch"], "tuple[Tensor, Tensor | None]"]


# ---------------------------------------------------------------------- shared helpers
def method_name(w: Any) -> str:
    return str(getattr(w, "name", "") or type(w).__name__)


def is_stateful(w: Any) -> bool:
    return getattr(w, "kind", "stateless") == "stateful"


def pair_cosines(G: Tensor) -> Tensor:
    """Upper-triangle pairwise cosines ``(..., K(K-1)/2)`` of the Gramian ``G``."""
    from dse.gradient import cosine_matrix

    K = G.shape[-1]
    iu = torch.triu_indices(K, K, offset=1, device=G.device)
    return cosine_matrix(G)[..., iu[0], iu[1]]


def make_optimizer(optimizer: Any, params: list[Tensor], lr: float) -> torch.optim.Optimizer:
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


class Combiner:
    """Weights from a stateless or stateful weighting, keeping the state explicit."""

    def __init__(self, weighting: Any, K: int, device: torch.device, dtype: torch.dtype,
                 lead: tuple[int, ...] = ()) -> None:
        self.w = weighting
        self.stateful = is_stateful(weighting)
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


# ---------------------------------------------------------------------- state
@dataclass
class TrainState:
    """Everything a training step reads: the model, its data, how gradients are formed.

    ``active`` are the trained tasks, ``heads`` their heads' parameters (in that order);
    ``combiner`` is ``None`` for a single-task baseline. The route flags: ``use_jac``
    (per-task gradients at all), ``features`` (MGDA-UB), ``split`` (loss t reads head t's
    output only, so per-task passes start at the heads), ``loop_jac`` (K ordinary backward
    passes instead of one vmapped one), ``scale_heads`` (heads get ``w_t``-scaled
    gradients: scalarising weightings), ``last_cols`` (GradNorm's last shared layer).
    """

    task: MTLTaskProtocol
    model: torch.nn.Module
    X: Tensor
    Y: Tensor
    active: list[int]
    shared: list[Tensor]
    heads: list[list[Tensor]]
    combiner: Combiner | None
    opt: torch.optim.Optimizer
    device: torch.device
    use_jac: bool
    features: bool
    split: bool = False
    loop_jac: bool = False
    scale_heads: bool = False
    last_cols: slice | None = None

    @property
    def single(self) -> bool:
        return self.combiner is None

    @property
    def head_params(self) -> list[Tensor]:
        return [p for hp in self.heads for p in hp]


@dataclass
class Batch:
    """One mini-batch's losses (all tasks, and the trained ones) and what the routes need:
    the head outputs with the losses' gradients w.r.t. them (split routes) and the shared
    representation ``z`` (feature routes)."""

    losses_all: Tensor
    losses: Tensor
    out: Any = None
    d_out: Sequence[Tensor] | None = None
    z: Tensor | None = None


def gradnorm_columns(model: torch.nn.Module, shared: Sequence[Tensor]) -> slice:
    """Columns of the shared-parameter Jacobian that belong to the last shared layer, where
    GradNorm measures its gradient norms."""
    from dse.gradient import param_slices

    last_ids = {id(p) for p in model.last_shared_layer().parameters()}
    sl = [s for p, s in zip(shared, param_slices(shared), strict=True) if id(p) in last_ids]
    return slice(sl[0].start, sl[-1].stop)


def batch_order(n: int, bs: int, steps: int, seed: int, device: torch.device) -> Tensor:
    """Every step's mini-batch indices ``(steps, bs)``, epochs of seeded permutations.

    All drawn up front from a seeded CPU generator: one transfer, no host round-trip per
    step."""
    gen = torch.Generator().manual_seed(int(seed) + 1)
    n_epochs = -(-steps * bs // n)
    order = torch.cat([torch.randperm(n, generator=gen) for _ in range(n_epochs)])
    return order[: steps * bs].view(steps, bs).to(device)


def init_state(task: MTLTaskProtocol, weighting: Any, name: str, active: list[int], *,
               features: bool, track_gradients: bool, optimizer: Any, lr: float, seed: int,
               device: torch.device) -> TrainState:
    """The model (seeded), the training split on ``device``, the combiner and the optimiser,
    and the routes that do not depend on the data (``weighting`` is ``None`` for a
    single-task baseline); :func:`choose_jacobian_route` sets the others."""
    from dse.gradient import scalarising_weightings

    model = task.make_model(seed).to(device)
    shared = model.shared_parameters()
    all_heads = [list(h.parameters()) for h in model.heads]
    heads = [all_heads[t] for t in active]
    X, Y = task.split("train")
    single = weighting is None
    use_jac = not single and (
        track_gradients or is_stateful(weighting) or name not in ("mean", "linear")
    )
    combiner = None if single else Combiner(weighting, len(active), device, torch.float32)
    opt = make_optimizer(optimizer, [*model.parameters(),
                                     *(combiner.extra_parameters() if combiner else [])], lr)
    state = TrainState(task=task, model=model, X=X.to(device), Y=Y.to(device), active=active,
                       shared=shared, heads=heads, combiner=combiner, opt=opt, device=device,
                       use_jac=use_jac, features=features and not single)
    # Methods whose weights define a scalarised loss sum_i w_i L_i (the registry's
    # ``scalarising`` entries): heads get w_i * grad L_i.
    state.scale_heads = name in scalarising_weightings() or not hasattr(weighting, "name")
    # GradNorm balances gradient norms at the last shared layer; every other weighting
    # (GradVac included) reads the Gramian of all shared parameters.
    if (combiner is not None and combiner.needs_gramian
            and getattr(weighting, "gramian_scope", "shared") == "last_shared_layer"):
        state.last_cols = gradnorm_columns(model, shared)
    return state


def choose_jacobian_route(s: TrainState, first_batch: Tensor, loop_on_cpu: bool) -> None:
    """Set ``s.split`` and ``s.loop_jac`` from the device and the first mini-batch.

    On the CPU, K ordinary backward passes, each starting at its task's head (and giving
    that head's gradient), cost less than one vmapped backward through every head plus one
    through the heads: best of 10, 1.0 vs 1.4 ms on MultiDigits (K = 2) and 11.6 vs 23.9 ms
    on the GradNorm regression with K = 10 (batch 256). On accelerators, where one batched
    pass saves K - 1 rounds of kernel launches, the vmapped backward is used. Per-task
    passes start at each task's own head only when loss t reads head t's output only (the
    usual case); losses that couple heads take the general routes."""
    loop_jac = s.device.type == "cpu" and loop_on_cpu
    s.split = s.use_jac and (s.features or loop_jac) and losses_separable(
        s.task, s.model, s.X[first_batch], s.Y[first_batch], s.active)
    s.loop_jac = loop_jac and s.split


# ---------------------------------------------------------------------- one step
def forward(s: TrainState, idx: Tensor) -> Batch:
    """The mini-batch ``idx``'s losses, computed the way the route needs them."""
    if s.split:
        # Loss t depends on head t's output only, so the losses are differentiated
        # w.r.t. the head outputs first (cheap), and each task's backward then starts
        # at its own head: it never runs the other heads' backward on zero gradients.
        z = s.model.trunk(s.X[idx])
        out = s.model.forward_heads(z)
        leaf = [o.detach().requires_grad_(True) for o in out]
        losses_all = s.task.losses(leaf, s.Y[idx])
        losses = losses_all[s.active]
        d_out = torch.autograd.grad(losses.sum(), [leaf[t] for t in s.active])
        return Batch(losses_all, losses, out=[out[t] for t in s.active], d_out=d_out, z=z)
    if s.features:
        z = s.model.trunk(s.X[idx])
        losses_all = s.task.losses(s.model.forward_heads(z), s.Y[idx])
        return Batch(losses_all, losses_all[s.active], z=z)
    out = s.model(s.X[idx])
    losses_all = s.task.losses(out, s.Y[idx])
    return Batch(losses_all, losses_all[s.active], out=out)


def single_task_step(s: TrainState, b: Batch) -> tuple[Tensor, None]:
    """Single-task baseline: a plain backward of its loss."""
    b.losses[0].backward()
    return torch.ones(1, device=s.device), None


def scalarised_step(s: TrainState, b: Batch) -> tuple[Tensor, None]:
    """Weights from the losses alone (no Jacobian): one backward of ``sum_i w_i L_i``."""
    w = s.combiner.w(None, losses=b.losses.detach())
    (w.to(b.losses.dtype) * b.losses).sum().backward()
    return w, None


def features_step(s: TrainState, b: Batch) -> tuple[Tensor, Tensor]:
    """MGDA-UB route: the Gramian of the task gradients w.r.t. the shared representation
    (heads only), then ONE ordinary backward of ``sum_i w_i L_i``, which gives the shared
    parameters exactly ``sum_i w_i g_i``."""
    from dse.gradient import gramian

    if s.split:
        Jz = torch.stack([torch.autograd.grad(o, b.z, d, retain_graph=True)[0]
                          for o, d in zip(b.out, b.d_out, strict=True)])
    else:
        Jz = torch.stack([torch.autograd.grad(loss, b.z, retain_graph=True)[0]
                          for loss in b.losses])
    G = gramian(Jz.reshape(len(s.active), -1))
    w = s.combiner.weights(G, b.losses, G)
    wd = w.detach().to(b.losses.dtype)
    if s.split:
        torch.autograd.backward(b.out, [c * d for c, d in zip(wd, b.d_out, strict=True)])
    else:
        (wd * b.losses).sum().backward()
    return w, G


def params_step(s: TrainState, b: Batch) -> tuple[Tensor, Tensor]:
    """Shared parameters: the K x P Jacobian, ``w @ J`` into their ``.grad``. Heads: each
    is reached by its own loss only, so head t's gradient is c_t times its task's gradient
    (``c_t = w_t`` for scalarising weightings, 1 otherwise)."""
    from dse.gradient import gramian, task_jacobian

    head_grads: list[tuple[Tensor, ...]] = []
    if s.loop_jac:
        J, head_grads = jacobian_and_heads(b.out, b.d_out, s.shared, s.heads)
    else:
        J = task_jacobian(b.losses, s.shared, retain_graph=True)
    G = gramian(J)
    G_last = gramian(J[:, s.last_cols]) if s.last_cols is not None else None
    w = s.combiner.weights(G, b.losses, G_last)
    write_grads(s.shared, w.to(J.dtype) @ J)
    coef = w.detach().to(b.losses.dtype) if s.scale_heads else torch.ones_like(b.losses)
    if s.loop_jac:
        for c, hp, hg in zip(coef, s.heads, head_grads, strict=True):
            for p, g in zip(hp, hg, strict=True):
                p.grad = c * g if s.scale_heads else g
    else:
        grads = torch.autograd.grad((coef * b.losses).sum(), s.head_params)
        for p, g in zip(s.head_params, grads, strict=True):
            p.grad = g
    return w, G


def route(s: TrainState) -> StepRoute:
    """The step route the state's flags pick."""
    if s.single:
        return single_task_step
    if not s.use_jac:
        return scalarised_step
    return features_step if s.features else params_step


def take_step(s: TrainState, idx: Tensor) -> tuple[Tensor, Tensor, Tensor | None]:
    """One optimiser step on mini-batch ``idx``: the losses of all tasks, the task weights
    and the Gramian (``None`` without a Jacobian)."""
    s.opt.zero_grad(set_to_none=True)
    b = forward(s, idx)
    w, G = route(s)(s, b)
    s.opt.step()
    return b.losses_all, w, G


# ---------------------------------------------------------------------- Jacobian pieces
def jacobian_and_heads(
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


def losses_separable(task: Any, model: torch.nn.Module, x: Tensor, y: Tensor,
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


def write_grads(params: Sequence[Tensor], flat: Tensor) -> None:
    """Set ``p.grad`` from consecutive slices of ``flat`` (grads were zeroed before)."""
    start = 0
    for p in params:
        k = p.numel()
        p.grad = flat[start:start + k].view_as(p).to(p.dtype)
        start += k


# ---------------------------------------------------------------------- history
@dataclass
class Recorder:
    """The logged steps, kept on the device until :meth:`history`."""

    steps: list[int] = field(default_factory=list)
    losses: list[Tensor] = field(default_factory=list)
    weights: list[Tensor] = field(default_factory=list)
    grams: list[Tensor] = field(default_factory=list)

    def record(self, step: int, losses_all: Tensor, w: Tensor, G: Tensor | None) -> None:
        self.steps.append(step)
        self.losses.append(losses_all.detach())
        self.weights.append(w.detach().float())
        if G is not None:
            self.grams.append(G.detach())

    def history(self, names: Sequence[str], active: Sequence[int]) -> pd.DataFrame:
        """One row per logged step: losses, weights, pair cosines and gradient norms."""
        # One host transfer for the whole run.
        L = torch.stack(self.losses).double().cpu().numpy()
        W = torch.stack(self.weights).double().cpu().numpy()
        cols: dict[str, Any] = {"step": np.asarray(self.steps)}
        for i, t in enumerate(names):
            cols[f"loss_{t}"] = L[:, i]
        for j, t in enumerate(active):
            cols[f"weight_{names[t]}"] = W[:, j]
        if self.grams:
            G = torch.stack(self.grams).double()
            cos = pair_cosines(G).cpu().numpy()
            norms = G.diagonal(dim1=-2, dim2=-1).clamp(min=0).sqrt().cpu().numpy()
            iu = np.triu_indices(len(active), 1)
            for c, (a, b) in enumerate(zip(*iu, strict=True)):
                cols[f"cos_{names[active[a]]}_{names[active[b]]}"] = cos[:, c]
            for j, t in enumerate(active):
                cols[f"grad_norm_{names[t]}"] = norms[:, j]
        return pd.DataFrame(cols)
