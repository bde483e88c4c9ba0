"""Shared pieces of the model-based multi-task problems.

A multi-task setup is described once by an :class:`MTLTask` (data splits, a model
factory, per-task losses and metrics) and used two ways:

* through a plain training loop (:func:`dse.train.train`), which takes any weighting from
  :mod:`dse.gradient`;
* as an objective-vector :class:`ModelLossProblem` whose variables are the flattened model
  parameters and whose objectives are the task losses on a fixed training set. Its
  evaluation maps over the leading dims with :func:`torch.func.vmap` and
  :func:`torch.func.functional_call`, so a preference sweep trains ``B`` models in one
  batched forward/backward.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import torch
from torch import Tensor, nn

from dse.mtl_task import MTLTaskProtocol
from dse.problem import Problem, Real

__all__ = [
    "MTLTask",
    "ModelLossProblem",
    "MultiTaskNet",
    "build_on_meta",
    "init_parameters",
    "seeded_models",
]


class MultiTaskNet(nn.Module):
    """A shared trunk followed by one head per task (hard parameter sharing).

    Parameters
    ----------
    trunk
        Module mapping inputs to the shared representation.
    heads
        One module per task mapping the representation to that task's output.
    """

    def __init__(self, trunk: nn.Module, heads: Sequence[nn.Module]) -> None:
        super().__init__()
        if len(heads) < 1:
            raise ValueError("MultiTaskNet needs at least one head")
        self.trunk = trunk
        self.heads = nn.ModuleList(heads)

    @property
    def n_tasks(self) -> int:
        return len(self.heads)

    def forward(self, x: Tensor) -> tuple[Tensor, ...]:
        """Per-task outputs (a tuple with one tensor per head)."""
        z = self.trunk(x)
        return tuple(head(z) for head in self.heads)

    def forward_heads(self, z: Tensor) -> tuple[Tensor, ...]:
        """Per-task outputs from a shared representation ``z`` (for Jacobians w.r.t. it)."""
        return tuple(head(z) for head in self.heads)

    def shared_parameters(self) -> list[nn.Parameter]:
        """Parameters every task's loss depends on."""
        return list(self.trunk.parameters())

    def task_parameters(self) -> list[nn.Parameter]:
        """Parameters of the heads (each touched by one task only)."""
        return list(self.heads.parameters())

    def last_shared_layer(self) -> nn.Module:
        """The last trunk module holding parameters (GradNorm measures norms there)."""
        last = None
        for m in self.trunk.modules():
            if any(True for _ in m.parameters(recurse=False)):
                last = m
        if last is None:
            raise ValueError("the trunk has no parameters")
        return last


def init_parameters(module: nn.Module, generator: torch.Generator) -> nn.Module:
    """Re-initialise every parameter from ``generator`` (no global seeding).

    Weights and biases of each layer are drawn from ``U(-1/sqrt(fan_in), 1/sqrt(fan_in))``,
    the range PyTorch's default ``nn.Linear`` initialisation uses, so models built from a
    seed match the usual scale.
    """
    with torch.no_grad():
        for m in module.modules():
            w = getattr(m, "weight", None)
            if not isinstance(w, Tensor):
                continue
            fan_in = math.prod(w.shape[1:]) if w.ndim > 1 else w.shape[0]
            bound = 1.0 / math.sqrt(max(fan_in, 1))
            w.uniform_(-bound, bound, generator=generator)
            b = getattr(m, "bias", None)
            if isinstance(b, Tensor):
                b.uniform_(-bound, bound, generator=generator)
    return module


def build_on_meta(factory: Callable[[], nn.Module], seed: int) -> nn.Module:
    """Build ``factory()`` without touching the global RNG, then initialise from ``seed``."""
    with torch.device("meta"):
        module = factory()
    module = module.to_empty(device="cpu")
    return init_parameters(module, torch.Generator().manual_seed(int(seed)))


def seeded_models(factory: Callable[[], MultiTaskNet]) -> Callable[[int], MultiTaskNet]:
    """An :attr:`MTLTask.make_model`: ``seed -> build_on_meta(factory, seed)``."""

    def make_model(seed: int) -> MultiTaskNet:
        return build_on_meta(factory, seed)  # type: ignore[return-value]

    return make_model


@dataclass(frozen=True)
class MTLTask(MTLTaskProtocol):
    """Everything a training loop needs to know about a multi-task setup.

    The built-in implementation of :class:`dse.mtl_task.MTLTaskProtocol`, the protocol
    :func:`dse.train.train` is written against.

    Attributes
    ----------
    name
        Short identifier (``"multidigits"``, ``"gradnorm_regression"``).
    task_names
        One label per task.
    make_model
        ``make_model(seed) -> MultiTaskNet``; initialisation depends on ``seed`` only.
    data
        Split name (``"train"``, ``"val"``, ``"test"``) -> ``(X, Y)`` CPU tensors; ``Y[:, t]``
        (or ``Y[:, t, ...]``) is task ``t``'s target.
    losses
        ``losses(outputs, Y) -> (T,)`` per-task training losses of one batch. Loss ``t``
        may depend on ``outputs[t]`` only (one head per task): the training loop
        differentiates the losses w.r.t. the head outputs and starts task ``t``'s
        backward at head ``t``.
    metrics
        ``metrics(outputs, Y) -> (T,)`` per-task held-out metric (:attr:`metric_name`).
    metric_name
        What :attr:`metrics` measures (``"accuracy"``, ``"mse"``).
    higher_is_better
        Per task, whether a larger metric is better (sign in Delta_m).
    batch_size
        Mini-batch size for training (``None``: full batch).
    steps, lr
        Suggested training budget for the full-size experiment.
    info
        Free-form description of how the data were made (seed, sizes, ...).
    """

    name: str
    task_names: tuple[str, ...]
    make_model: Callable[[int], MultiTaskNet]
    data: dict[str, tuple[Tensor, Tensor]]
    losses: Callable[[Sequence[Tensor], Tensor], Tensor]
    metrics: Callable[[Sequence[Tensor], Tensor], Tensor]
    metric_name: str
    higher_is_better: tuple[bool, ...]
    batch_size: int | None = None
    steps: int = 1000
    lr: float = 1e-3
    info: dict[str, Any] = field(default_factory=dict)

    @property
    def n_tasks(self) -> int:
        return len(self.task_names)

    def split(self, name: str) -> tuple[Tensor, Tensor]:
        """``(X, Y)`` of one split, with a clear error for unknown names."""
        if name not in self.data:
            raise ValueError(f"unknown split {name!r}; valid: {', '.join(self.data)}")
        return self.data[name]


class ModelLossProblem(Problem):
    """Task losses of one model as an objective vector over its flattened parameters.

    ``x`` of shape ``(..., n_var)`` holds ``prod(...)`` parameter vectors; each is unpacked
    into the model's parameter tensors and the ``T`` task losses on a fixed set of
    ``n_samples`` training examples are returned, all models at once through
    :func:`torch.func.vmap`. Gradients flow to ``x``, so any gradient solver on this
    problem trains a batch of models side by side.

    Parameters
    ----------
    task
        The multi-task setup (its ``"train"`` split supplies the fixed batch).
    n_samples
        How many training examples define the objectives (the first ``n_samples``).
    param_bound
        Box ``[-param_bound, param_bound]`` of every parameter (a Problem needs finite
        bounds; the default initialisation lies well inside it).
    seed
        Seed of the model whose parameter layout (and :meth:`initial_point`) is used.
    """

    def __init__(
        self, task: MTLTask, *, n_samples: int | None = None, param_bound: float = 3.0,
        seed: int = 0,
    ) -> None:
        if param_bound <= 0:
            raise ValueError(f"param_bound must be > 0, got {param_bound}")
        X, Y = task.split("train")
        if n_samples is not None:
            if not 1 <= n_samples <= X.shape[0]:
                raise ValueError(f"n_samples must lie in [1, {X.shape[0]}], got {n_samples}")
            X, Y = X[:n_samples], Y[:n_samples]
        self.task = task
        self._seed = int(seed)
        self._model = task.make_model(self._seed)
        self._names = [n for n, _ in self._model.named_parameters()]
        self._shapes = [tuple(p.shape) for _, p in self._model.named_parameters()]
        self._sizes = [math.prod(s) for s in self._shapes]
        self._X, self._Y = X, Y
        self._cache: dict[tuple[str, torch.dtype], tuple[Tensor, Tensor]] = {}
        n = sum(self._sizes)
        b = float(param_bound)
        super().__init__(
            [Real(f"theta{i}", -b, b) for i in range(n)], task.n_tasks,
            objective_names=tuple(f"loss_{t}" for t in task.task_names),
        )

    # ------------------------------------------------------------------ parameters
    def flatten(self, model: nn.Module) -> Tensor:
        """The parameter vector of ``model`` (same layout as ``x``)."""
        return torch.cat([p.detach().reshape(-1) for p in model.parameters()])

    def unflatten(self, theta: Tensor) -> dict[str, Tensor]:
        """Parameter tensors (batched over leading dims of ``theta``) by name."""
        parts = torch.split(theta, self._sizes, dim=-1)
        lead = theta.shape[:-1]
        return {
            name: part.reshape(*lead, *shape)
            for name, part, shape in zip(self._names, parts, self._shapes, strict=True)
        }

    def initial_point(self, n: int | None = None, *, seed: int = 0) -> np.ndarray:
        """Default-initialised parameter vectors: one ``(n_var,)``, or ``(n, n_var)``.

        Model ``i`` is initialised from ``seed + i``; values are clipped to the bounds.
        """
        seeds = [seed] if n is None else [seed + i for i in range(n)]
        rows = [self.flatten(self.task.make_model(s)).double().numpy() for s in seeds]
        out = np.clip(np.stack(rows), self.xl, self.xu)
        return out[0] if n is None else out

    def model_from(self, theta: Any) -> MultiTaskNet:
        """A fresh model holding the parameters ``theta`` of shape ``(n_var,)``."""
        t = torch.as_tensor(np.asarray(theta) if not isinstance(theta, Tensor) else theta)
        if t.shape != (self.n_var,):
            raise ValueError(f"theta must have shape ({self.n_var},), got {tuple(t.shape)}")
        model = self.task.make_model(self._seed)
        with torch.no_grad():
            for p, v in zip(model.parameters(), self.unflatten(t.detach().float()).values(),
                            strict=True):
                p.copy_(v)
        return model

    # ------------------------------------------------------------------ evaluation
    def _data(self, like: Tensor) -> tuple[Tensor, Tensor]:
        key = (str(like.device), like.dtype)
        if key not in self._cache:
            Y = self._Y.to(like.device)
            if Y.is_floating_point():
                Y = Y.to(like.dtype)
            self._cache[key] = (self._X.to(like.device, like.dtype), Y)
        return self._cache[key]

    def _evaluate(self, x: Tensor) -> Tensor:
        lead = x.shape[:-1]
        flat = x.reshape(-1, self.n_var)
        if flat.shape[0] == 0:
            return x.new_zeros((*lead, self.n_obj))
        X, Y = self._data(x)
        model = self._model

        def losses(theta: Tensor) -> Tensor:
            out = torch.func.functional_call(model, self.unflatten(theta), (X,))
            return self.task.losses(out, Y)

        F = torch.func.vmap(losses)(flat)
        return F.reshape(*lead, self.n_obj)
