"""Synthetic regression with mismatched task scales (GradNorm, Chen et al., ICML 2018).

Task ``i`` regresses ``f_i(x) = sigma_i tanh((B + eps_i) x)`` with ``x in R^n_in``,
outputs in ``R^n_out``, ``B`` entries ``~ N(0, 10^2)`` shared by all tasks and ``eps_i``
entries ``~ N(0, 3.5^2)`` fixed per task (the paper's "N(0, 10)" and "N(0, 3.5)" read as
standard deviations). Inputs are ``x ~ N(0, I)``. The model is a ReLU trunk of ``depth``
linear layers of width ``width`` and one linear head per task; the loss is the mean
squared error. With ``sigma = (1, 100)`` the second loss is about 10^4 times the first,
so equal weights let it dominate the shared trunk.

Everything is deterministic from ``seed`` (one :class:`numpy.random.Generator`).
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import torch
from torch import Tensor, nn

from dse.problem import register_problem
from problems.mtl.base import ModelLossProblem, MTLTask, MultiTaskNet, seeded_models

__all__ = ["GradNormRegression", "default_sigmas", "gradnorm_regression"]


def default_sigmas(n_tasks: int) -> tuple[float, ...]:
    """``(1, 100)`` for two tasks; otherwise log-spaced over two orders of magnitude."""
    if n_tasks < 1:
        raise ValueError(f"n_tasks must be >= 1, got {n_tasks}")
    if n_tasks == 2:
        return (1.0, 100.0)
    return tuple(float(s) for s in np.logspace(0.0, 2.0, n_tasks))


def _mse(outputs: Sequence[Tensor], Y: Tensor) -> Tensor:
    # Y: (N, T, n_out); one mean squared error per task.
    return torch.stack([((o - Y[..., t, :]) ** 2).mean() for t, o in enumerate(outputs)])


def gradnorm_regression(
    n_tasks: int = 2,
    *,
    sigmas: Sequence[float] | None = None,
    n_in: int = 250,
    n_out: int = 100,
    width: int = 100,
    depth: int = 4,
    n_train: int = 2000,
    n_val: int = 500,
    n_test: int = 1000,
    batch_size: int | None = 256,
    seed: int = 0,
) -> MTLTask:
    """The GradNorm regression as an :class:`MTLTask` (paper sizes by default).

    Parameters
    ----------
    n_tasks
        Number of tasks ``T`` (the paper uses 2 and 10).
    sigmas
        Scale of each task's target; default :func:`default_sigmas`.
    n_in, n_out, width, depth
        Input and output sizes, trunk width and number of trunk layers.
    n_train, n_val, n_test
        Sizes of the three splits (independent draws of ``x``).
    batch_size
        Mini-batch size suggested for training (``None``: full batch).
    seed
        Seed of ``B``, the ``eps_i`` and the inputs.
    """
    sig = tuple(float(s) for s in (sigmas if sigmas is not None else default_sigmas(n_tasks)))
    if len(sig) != n_tasks:
        raise ValueError(f"sigmas must have n_tasks={n_tasks} entries, got {len(sig)}")
    if any(s <= 0 for s in sig):
        raise ValueError(f"sigmas must be positive, got {sig}")
    for name, v in (("n_in", n_in), ("n_out", n_out), ("width", width), ("depth", depth),
                    ("n_train", n_train), ("n_val", n_val), ("n_test", n_test)):
        if v < 1:
            raise ValueError(f"{name} must be >= 1, got {v}")
    rng = np.random.default_rng(seed)
    B = rng.normal(0.0, 10.0, size=(n_out, n_in))
    eps = rng.normal(0.0, 3.5, size=(n_tasks, n_out, n_in))
    W = B[None] + eps  # (T, n_out, n_in)
    s = np.asarray(sig)[None, :, None]

    def draw(n: int) -> tuple[Tensor, Tensor]:
        x = rng.normal(size=(n, n_in))
        y = s * np.tanh(np.einsum("toi,ni->nto", W, x))  # (n, T, n_out)
        return torch.from_numpy(x).float(), torch.from_numpy(y).float()

    data = {"train": draw(n_train), "val": draw(n_val), "test": draw(n_test)}

    def factory() -> MultiTaskNet:
        layers: list[nn.Module] = []
        d = n_in
        for _ in range(depth):
            layers += [nn.Linear(d, width), nn.ReLU()]
            d = width
        return MultiTaskNet(nn.Sequential(*layers),
                            [nn.Linear(width, n_out) for _ in range(n_tasks)])

    return MTLTask(
        name="gradnorm_regression",
        task_names=tuple(f"t{i + 1}" for i in range(n_tasks)),
        make_model=seeded_models(factory),
        data=data,
        losses=_mse,
        metrics=_mse,
        metric_name="mse",
        higher_is_better=(False,) * n_tasks,
        batch_size=batch_size,
        steps=2000,
        lr=1e-3,
        info={"sigmas": sig, "n_in": n_in, "n_out": n_out, "width": width, "depth": depth,
              "seed": seed},
    )


@register_problem("gradnorm_regression")
class GradNormRegression(ModelLossProblem):
    """GradNorm regression: per-task MSE over the flattened model parameters.

    Defaults are small (so the registry's contract checks stay fast); pass the paper's
    sizes (``n_in=250, n_out=100, width=100``) for the real thing. ``x`` holds the
    parameters of one model per leading index; objectives are the ``T`` training MSEs on
    the first ``n_samples`` training examples.
    """

    name = "gradnorm_regression"

    def __init__(
        self, n_tasks: int = 2, n_in: int = 10, n_out: int = 5, width: int = 10,
        depth: int = 4, n_samples: int = 64, param_bound: float = 3.0, seed: int = 0,
    ) -> None:
        task = gradnorm_regression(n_tasks, n_in=n_in, n_out=n_out, width=width, depth=depth,
                                   n_train=n_samples, n_val=1, n_test=1, seed=seed)
        super().__init__(task, param_bound=param_bound, seed=seed)
