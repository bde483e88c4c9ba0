"""What the multi-task training loop needs from a task and its model: two protocols.

:func:`dse.train.train`, :func:`dse.train.evaluate_model`, the advisor and
:mod:`dse.mtl_table` are written against :class:`MTLTaskProtocol` and
:class:`MultiTaskModel`, not against a class of a problem package, so a task from any
package (``problems.mtl.base.MTLTask`` is the built-in one) trains as long as it has these
attributes. Both are :func:`typing.runtime_checkable`: ``isinstance(task, MTLTaskProtocol)``
checks that the names are there (not their signatures).
"""

from __future__ import annotations

from collections.abc import Callable, Iterator, Mapping, Sequence
from typing import Protocol, runtime_checkable

from torch import Tensor, nn

__all__ = ["MTLTaskProtocol", "MultiTaskModel"]


@runtime_checkable
class MultiTaskModel(Protocol):
    """A model with hard parameter sharing: a trunk, then one head per task.

    It is also a :class:`torch.nn.Module` (``to``, ``train``, ``eval``, ``parameters``);
    ``model(x)`` returns one output per head.
    """

    trunk: nn.Module
    heads: Sequence[nn.Module]

    def __call__(self, x: Tensor) -> tuple[Tensor, ...]: ...

    def forward_heads(self, z: Tensor) -> tuple[Tensor, ...]:
        """Per-task outputs from the shared representation ``z = trunk(x)``."""
        ...

    def shared_parameters(self) -> list[nn.Parameter]:
        """Parameters every task's loss depends on (the trunk's)."""
        ...

    def last_shared_layer(self) -> nn.Module:
        """The last trunk module holding parameters (GradNorm measures norms there)."""
        ...

    def parameters(self, recurse: bool = True) -> Iterator[nn.Parameter]: ...


@runtime_checkable
class MTLTaskProtocol(Protocol):
    """A multi-task setup: data splits, a model factory, per-task losses and metrics.

    Attributes
    ----------
    name
        Short identifier (the advisor's subject).
    task_names
        One label per task; ``T = len(task_names)``.
    data
        Split name (``"train"``, ``"val"``, ``"test"``) -> ``(X, Y)`` tensors.
    make_model
        ``make_model(seed) -> MultiTaskModel``; initialisation depends on ``seed`` only.
    losses
        ``losses(outputs, Y) -> (T,)`` per-task training losses of one batch; loss ``t``
        should read ``outputs[t]`` only (the loop then starts task ``t``'s backward at its
        head; losses that couple heads are detected and take the general route).
    metrics
        ``metrics(outputs, Y) -> (T,)`` per-task held-out metric named ``metric_name``.
    higher_is_better
        Per task, whether a larger metric is better (the sign in Delta_m).
    batch_size, steps, lr
        Suggested mini-batch size (``None``: full batch), steps and learning rate.
    """

    name: str
    task_names: tuple[str, ...]
    data: Mapping[str, tuple[Tensor, Tensor]]
    make_model: Callable[[int], MultiTaskModel]
    losses: Callable[[Sequence[Tensor], Tensor], Tensor]
    metrics: Callable[[Sequence[Tensor], Tensor], Tensor]
    metric_name: str
    higher_is_better: tuple[bool, ...]
    batch_size: int | None
    steps: int
    lr: float

    @property
    def n_tasks(self) -> int:
        """``T``, the number of tasks."""
        ...

    def split(self, name: str) -> tuple[Tensor, Tensor]:
        """``(X, Y)`` of one split; a :class:`ValueError` naming the valid ones otherwise."""
        ...
