"""MultiDigits: a MultiMNIST-style two-task image benchmark from scikit-learn's digits.

scikit-learn ships the 8x8 handwritten digits (1797 images) with the package, so nothing
is downloaded. Each sample overlays two digits on a ``canvas x canvas`` image (pixel-wise
maximum), one placed in the upper-left corner and one in the lower-right corner, each
jittered by up to ``jitter`` pixels towards the centre; task ``L`` is the class of the
upper-left digit and task ``R`` the class of the lower-right one (Sener & Koltun 2018
built MultiMNIST the same way).

The 1797 source images are first split into disjoint train/validation/test pools, so
test composites only contain digit images never seen in training. All randomness comes
from one :class:`numpy.random.Generator` seeded by ``seed``.

The model is a small MLP encoder shared by both tasks and one linear classifier per task.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import torch
from torch import Tensor, nn

from dse.problem import register_problem
from problems.mtl.base import ModelLossProblem, MTLTask, MultiTaskNet, seeded_models

__all__ = ["MultiDigits", "make_multidigits", "multidigits"]


def make_multidigits(
    n_train: int = 6000,
    n_val: int = 1000,
    n_test: int = 2000,
    *,
    canvas: int = 12,
    jitter: int = 1,
    pool_fractions: tuple[float, float, float] = (0.6, 0.2, 0.2),
    seed: int = 0,
    return_sources: bool = False,
) -> dict[str, tuple[np.ndarray, ...]]:
    """Build the composite images.

    Returns
    -------
    Split name -> ``(X, Y)``: ``X`` float32 images ``(n, canvas, canvas)`` in ``[0, 1]``,
    ``Y`` int64 labels ``(n, 2)`` (left digit, right digit). With ``return_sources`` a
    third array ``(n, 2)`` gives the indices (into ``load_digits()``) of the two digits.
    """
    from sklearn.datasets import load_digits

    if canvas < 8 + jitter or jitter < 0:
        raise ValueError(f"need canvas >= 8 + jitter and jitter >= 0, got {canvas}, {jitter}")
    if len(pool_fractions) != 3 or any(f <= 0 for f in pool_fractions):
        raise ValueError(f"pool_fractions must be 3 positive numbers, got {pool_fractions}")
    digits = load_digits()
    images = (digits.images / 16.0).astype(np.float32)
    labels = digits.target.astype(np.int64)
    rng = np.random.default_rng(seed)
    order = rng.permutation(len(images))
    frac = np.asarray(pool_fractions, dtype=float) / sum(pool_fractions)
    cuts = np.cumsum((frac * len(images)).astype(int))[:2]
    pools = dict(zip(("train", "val", "test"), np.split(order, cuts), strict=True))
    far = canvas - 8  # offset of the lower-right digit before jitter
    out = {}
    for split, n in (("train", n_train), ("val", n_val), ("test", n_test)):
        if n < 1:
            raise ValueError(f"n_{split} must be >= 1, got {n}")
        pool = pools[split]
        i, j = rng.choice(pool, size=n), rng.choice(pool, size=n)
        d1 = rng.integers(0, jitter + 1, size=(n, 2))  # up-left digit moves right/down
        d2 = far - rng.integers(0, jitter + 1, size=(n, 2))  # down-right digit moves up/left
        X = np.zeros((n, canvas, canvas), dtype=np.float32)
        rows = np.arange(8)
        for k, (idx, off) in enumerate(((i, d1), (j, d2))):
            r = off[:, 0:1, None] + rows[None, :, None]
            c = off[:, 1:2, None] + rows[None, None, :]
            n_idx = np.arange(n)[:, None, None]
            X[n_idx, r, c] = np.maximum(X[n_idx, r, c], images[idx]) if k else images[idx]
        out[split] = (X, np.stack([labels[i], labels[j]], axis=1))
        if return_sources:
            out[split] = (*out[split], np.stack([i, j], axis=1))
    return out


def _cross_entropy(outputs: Sequence[Tensor], Y: Tensor) -> Tensor:
    return torch.stack([nn.functional.cross_entropy(o, Y[..., t]) for t, o in enumerate(outputs)])


def _accuracy(outputs: Sequence[Tensor], Y: Tensor) -> Tensor:
    return torch.stack([(o.argmax(-1) == Y[..., t]).float().mean() for t, o in enumerate(outputs)])


def multidigits(
    n_train: int = 6000,
    n_val: int = 1000,
    n_test: int = 2000,
    *,
    hidden: int = 128,
    canvas: int = 12,
    jitter: int = 1,
    batch_size: int | None = 128,
    seed: int = 0,
) -> MTLTask:
    """MultiDigits as an :class:`MTLTask`: tasks ``L`` and ``R``, metric test accuracy.

    Parameters
    ----------
    n_train, n_val, n_test
        Number of composite images per split.
    hidden
        Width of the two-layer ReLU encoder.
    canvas, jitter
        Canvas side and maximal shift of each digit (see :func:`make_multidigits`).
    batch_size
        Suggested mini-batch size (``None``: full batch).
    seed
        Seed of the data (pools, pairs and shifts).
    """
    raw = make_multidigits(n_train, n_val, n_test, canvas=canvas, jitter=jitter, seed=seed)
    data = {k: (torch.from_numpy(X.reshape(len(X), -1)), torch.from_numpy(Y))
            for k, (X, Y) in raw.items()}
    d_in = canvas * canvas

    def factory() -> MultiTaskNet:
        trunk = nn.Sequential(nn.Linear(d_in, hidden), nn.ReLU(),
                              nn.Linear(hidden, hidden), nn.ReLU())
        return MultiTaskNet(trunk, [nn.Linear(hidden, 10), nn.Linear(hidden, 10)])

    return MTLTask(
        name="multidigits",
        task_names=("L", "R"),
        make_model=seeded_models(factory),
        data=data,
        losses=_cross_entropy,
        metrics=_accuracy,
        metric_name="accuracy",
        higher_is_better=(True, True),
        batch_size=batch_size,
        steps=1500,
        lr=1e-3,
        info={"n_train": n_train, "n_val": n_val, "n_test": n_test, "hidden": hidden,
              "canvas": canvas, "jitter": jitter, "seed": seed},
    )


@register_problem("multidigits")
class MultiDigits(ModelLossProblem):
    """MultiDigits: cross-entropy of both tasks over the flattened model parameters.

    Defaults are small (hidden width 16, 128 training images) so the registry's contract
    checks stay fast; objectives are the two training losses on those images.
    """

    name = "multidigits"

    def __init__(self, hidden: int = 16, n_samples: int = 128, param_bound: float = 3.0,
                 seed: int = 0) -> None:
        task = multidigits(n_samples, 1, 1, hidden=hidden, seed=seed)
        super().__init__(task, param_bound=param_bound, seed=seed)
