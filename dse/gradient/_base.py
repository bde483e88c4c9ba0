"""Base class, input checks and small helpers shared by all weightings."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any, ClassVar

import torch
from torch import Tensor

__all__ = [
    "Weighting",
    "WeightingBase",
    "as_simplex",
    "check_gramian",
    "check_losses",
    "normalise_gramian",
    "psd_gramian",
]


def check_gramian(G: Any) -> Tensor:
    """Return ``G`` if it is a floating tensor of shape ``(..., K, K)`` with ``K >= 1``."""
    if not isinstance(G, Tensor):
        raise TypeError(f"G must be a torch.Tensor of shape (..., K, K), got {type(G).__name__}")
    if G.ndim < 2 or G.shape[-1] != G.shape[-2] or G.shape[-1] < 1:
        raise ValueError(f"G must have shape (..., K, K) with K >= 1, got {tuple(G.shape)}")
    if not G.is_floating_point():
        raise TypeError(f"G must be a floating tensor, got dtype {G.dtype}")
    return G


def check_losses(losses: Any, K: int | None, *, name: str) -> Tensor:
    """Return ``losses`` as a floating tensor of shape ``(..., K)`` or raise naming ``name``."""
    if losses is None:
        raise ValueError(f"weighting {name!r} needs losses=... of shape (..., K)")
    if not isinstance(losses, Tensor):
        raise TypeError(f"losses must be a torch.Tensor of shape (..., K), got {type(losses)}")
    if losses.ndim < 1 or (K is not None and losses.shape[-1] != K):
        raise ValueError(f"losses must have shape (..., {K}), got {tuple(losses.shape)}")
    if not losses.is_floating_point():
        raise TypeError(f"losses must be a floating tensor, got dtype {losses.dtype}")
    return losses


def normalise_gramian(G: Tensor) -> Tensor:
    """float64 copy of ``G`` divided by its trace (all-zero Gramians stay zero).

    Scale-invariant weightings work on this copy so that Gramians from 1e-30 to 1e30 give the
    same well-scaled problem; float64 is the solvers' working precision.
    """
    G64 = G.to(torch.float64)
    tr = G64.diagonal(dim1=-2, dim2=-1).sum(-1)[..., None, None]
    return G64 / torch.where(tr > 0, tr, torch.ones_like(tr))


def psd_gramian(G: Tensor) -> Tensor:
    """:func:`normalise_gramian` plus ``K eps I`` with ``eps`` the input dtype's resolution.

    A Gramian rounded in float32 can have eigenvalues down to about ``-K eps`` (relative);
    then ``v^T G v`` is unbounded below along them and a QP on it diverges. The shift is at
    the level of the input's own rounding error, so it changes no answer beyond it.
    """
    K = G.shape[-1]
    eps = torch.finfo(G.dtype).eps
    Gn = normalise_gramian(G)
    return Gn + (K * eps) * torch.eye(K, dtype=Gn.dtype, device=Gn.device)


def as_simplex(values: Sequence[float] | Tensor, *, name: str, length: int | None = None) -> Tensor:
    """Validate a vector on the probability simplex (>= 0, sums to 1 within 1e-6)."""
    t = torch.as_tensor(values, dtype=torch.float64).detach().clone()
    if t.ndim != 1 or t.numel() < 1:
        raise ValueError(f"{name} must be a non-empty 1-D sequence, got shape {tuple(t.shape)}")
    if length is not None and t.numel() != length:
        raise ValueError(f"{name} must have length {length}, got {t.numel()}")
    if not torch.isfinite(t).all() or (t < 0).any() or abs(float(t.sum()) - 1.0) > 1e-6:
        raise ValueError(f"{name} must lie on the simplex (entries >= 0, sum 1), got {t.tolist()}")
    return t


def positive_vector(values: Sequence[float] | Tensor, *, name: str) -> Tensor:
    """Validate a 1-D vector of finite, strictly positive entries."""
    t = torch.as_tensor(values, dtype=torch.float64).detach().clone()
    if t.ndim != 1 or t.numel() < 1:
        raise ValueError(f"{name} must be a non-empty 1-D sequence, got shape {tuple(t.shape)}")
    if not torch.isfinite(t).all() or (t <= 0).any():
        raise ValueError(f"{name} must have finite entries > 0, got {t.tolist()}")
    return t


def non_negative(value: float, *, name: str) -> float:
    """Validate a finite scalar >= 0."""
    v = float(value)
    if not v >= 0 or v == float("inf"):
        raise ValueError(f"{name} must be a finite number >= 0, got {value!r}")
    return v


def seed_value(seed: int | None) -> int | None:
    """Validate a seed: an int, or None (seed from the OS)."""
    if seed is not None and (isinstance(seed, bool) or not isinstance(seed, int)):
        raise ValueError(f"seed must be an int or None, got {seed!r}")
    return seed


def seeded_generator(seed: int | None) -> torch.Generator:
    """A CPU ``torch.Generator`` seeded with ``seed`` (an int), or from the OS for None."""
    gen = torch.Generator()
    if seed_value(seed) is None:
        gen.seed()
    else:
        gen.manual_seed(seed)
    return gen


def positive_int(value: int, *, name: str) -> int:
    """Validate an integer >= 1."""
    if isinstance(value, bool) or not isinstance(value, int) or value < 1:
        raise ValueError(f"{name} must be an integer >= 1, got {value!r}")
    return value


class WeightingBase:
    """What every weighting, stateless or stateful, declares: the class attributes the
    registry records (``name``, ``kind``, what it needs) and its parameters, kept in
    ``params`` and shown by ``repr`` as the :func:`~dse.gradient.get_weighting` call that
    builds it."""

    name: ClassVar[str] = ""
    kind: ClassVar[str] = ""
    needs_gramian: ClassVar[bool] = False
    needs_losses: ClassVar[bool] = False
    #: Whose Gramian a training step should give it: ``"shared"`` (the task gradients of all
    #: the shared parameters) or ``"last_shared_layer"`` (GradNorm's).
    gramian_scope: ClassVar[str] = "shared"

    def __init__(self, **params: Any) -> None:
        self.params = params

    def __repr__(self) -> str:
        args = ", ".join(f"{k}={v!r}" for k, v in self.params.items())
        return f"get_weighting({self.name!r}{', ' if args else ''}{args})"


class Weighting(WeightingBase):
    """A stateless map from a Gramian ``G (..., K, K)`` (and losses) to weights ``(..., K)``.

    Subclasses set the class attributes and implement :meth:`_weights`, which receives the
    checked Gramian (any dtype; most methods call :func:`normalise_gramian`) and returns
    weights in any floating dtype; ``__call__`` casts them back to ``G``'s dtype. Calling a
    weighting never mutates its inputs and never synchronises with the host.
    """

    kind: ClassVar[str] = "stateless"
    needs_gramian: ClassVar[bool] = True

    def __call__(self, G: Tensor | None, *, losses: Tensor | None = None) -> Tensor:
        """Weights ``(..., K)`` for Gramian ``G (..., K, K)``; see the class docstring."""
        if G is None:
            if self.needs_gramian:
                raise ValueError(
                    f"weighting {self.name!r} needs the Gramian G of shape (..., K, K)"
                )
            losses = check_losses(losses, None, name=self.name)
            out_dtype = losses.dtype
        else:
            G = check_gramian(G)
            out_dtype = G.dtype
            if self.needs_losses:
                losses = check_losses(losses, G.shape[-1], name=self.name)
        return self._weights(G, losses).to(out_dtype)

    def _weights(self, G: Tensor | None, losses: Tensor | None) -> Tensor:
        raise NotImplementedError
