"""Stateless weightings: Gramian ``G = J J^T`` (and losses) -> task weights.

The update direction is ``weights @ J``. All functions are batched over the leading
dimensions of ``G`` and run on its device; solvers work in float64 on the trace-normalised
Gramian (the methods here, except gradient normalisation, are invariant to a positive
rescaling of ``J``), so inputs from scale 1e-15 to 1e15 give the same weights.

MGDA, CAGrad and UPGrad solve on the host in numpy when ``G`` is a CPU tensor
(:mod:`dse.gradient._cpu`: exact active-set pivoting, the interior point only as a
fallback, Python floats for one 2 x 2 Gramian) and in torch otherwise (fixed iterations,
no host synchronisation); the tests check the two routes against each other.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import torch
from torch import Tensor

from . import _cpu
from ._base import (
    Weighting,
    as_simplex,
    non_negative,
    normalise_gramian,
    positive_int,
    positive_vector,
    psd_gramian,
    seeded_generator,
)
from ._qp import CAGRAD_POINTS, CAGRAD_ROUNDS, DEFAULT_ITERS, solve_cagrad_dual, solve_qp

__all__ = [
    "EPO",
    "IMTLG",
    "MGDA",
    "CAGrad",
    "Chebyshev",
    "GradNormalisation",
    "Linear",
    "Mean",
    "PCGrad",
    "Random",
    "UPGrad",
    "pcgrad_weights",
]


def _diag(G: Tensor) -> Tensor:
    return G.diagonal(dim1=-2, dim2=-1)


def _bmv(M: Tensor, v: Tensor) -> Tensor:
    return (M @ v.unsqueeze(-1)).squeeze(-1)


def _quad(G: Tensor, w: Tensor) -> Tensor:
    """``w^T G w`` over the last dim, keepdim."""
    return (w * _bmv(G, w)).sum(-1, keepdim=True)


def _batch_like(G: Tensor | None, losses: Tensor | None) -> tuple[torch.Size, torch.device]:
    if G is not None:
        return G.shape[:-1], G.device
    assert losses is not None
    return losses.shape, losses.device


def _check_k(vec: Tensor, K: int, what: str) -> None:
    if vec.numel() != K:
        raise ValueError(f"{what} has length {vec.numel()} but the problem has K = {K} objectives")


class Linear(Weighting):
    """Linear scalarisation with fixed ``weights`` on the simplex: returns ``weights``."""

    name = "linear"
    needs_gramian = False

    def __init__(self, weights: Sequence[float] | Tensor) -> None:
        self._w = as_simplex(weights, name="weights")
        super().__init__(weights=self._w.tolist())

    def _weights(self, G: Tensor | None, losses: Tensor | None) -> Tensor:
        shape, device = _batch_like(G, losses)
        _check_k(self._w, shape[-1], "weights")
        return self._w.to(device).expand(shape)


class Mean(Weighting):
    """Equal weights ``1/K`` (the averaged gradient)."""

    name = "mean"
    needs_gramian = False

    def _weights(self, G: Tensor | None, losses: Tensor | None) -> Tensor:
        shape, device = _batch_like(G, losses)
        return torch.full(shape, 1.0 / shape[-1], dtype=torch.float64, device=device)


class Random(Weighting):
    """Random loss weighting (RLW, Lin et al., 2022): softmax of a fresh normal draw.

    Weights ``softmax(z)`` with ``z ~ N(0, I)`` drawn at every call (one draw per problem
    of a batch), from a CPU ``torch.Generator`` seeded with ``seed`` that advances at each
    call (as for PCGrad): reproducible for a given seed and call sequence; ``seed=None``
    seeds it from the OS. Needs neither the Gramian nor the losses, only their shape.
    """

    name = "random"
    needs_gramian = False

    def __init__(self, seed: int | None = 0) -> None:
        self._gen = seeded_generator(seed)
        super().__init__(seed=seed)

    def _weights(self, G: Tensor | None, losses: Tensor | None) -> Tensor:
        shape, device = _batch_like(G, losses)
        z = torch.randn(shape, generator=self._gen, dtype=torch.float64)
        return torch.softmax(z, dim=-1).to(device)


def _mgda_k2(G: Tensor) -> Tensor:
    """Closed-form min-norm point of the segment [g1, g2] (Sener & Koltun, Alg. 1)."""
    a, c, b = G[..., 0, 0], G[..., 1, 1], G[..., 0, 1]
    den = a + c - 2 * b
    # den = ||g1 - g2||^2; where it vanishes every point of the segment is optimal.
    t = torch.where(den > 0, (c - b) / torch.where(den > 0, den, 1.0), 0.5).clamp(0.0, 1.0)
    return torch.stack([t, 1 - t], dim=-1)


class MGDA(Weighting):
    """MGDA: weights of the min-norm point of the convex hull of the task gradients.

    ``min_{w in simplex} ||J^T w||^2``, solved exactly: closed form for K = 2, otherwise the
    batched interior-point QP with an active-set polish (``iters`` iterations, float64).
    At the optimum ``G w >= (w^T G w) 1``, so the direction conflicts with no task.
    """

    name = "mgda"

    def __init__(self, iters: int = DEFAULT_ITERS) -> None:
        super().__init__(iters=positive_int(iters, name="iters"))

    def _weights(self, G: Tensor | None, losses: Tensor | None) -> Tensor:
        assert G is not None
        K = G.shape[-1]
        if K == 1:
            return torch.ones(G.shape[:-1], dtype=torch.float64, device=G.device)
        if _cpu.use_numpy(G):  # CPU: the same solves in numpy, a fraction of the dispatch cost
            if K == 2 and G.ndim == 2 and (g := _cpu.psd_2x2(G)) is not None:
                return torch.tensor(_cpu.mgda_2x2(*g), dtype=torch.float64)
            Gc = _cpu.psd_gramian(G)
            if K == 2:
                return torch.from_numpy(_cpu.mgda_k2(Gc))
            return torch.from_numpy(_cpu.solve_qp(Gc, simplex=True, iters=self.params["iters"]))
        Gn = psd_gramian(G)
        if K == 2:
            return _mgda_k2(Gn)
        return solve_qp(Gn, simplex=True, iters=self.params["iters"])


def _cagrad_k2(G: Tensor, a: Tensor, s: Tensor) -> Tensor:
    """Closed-form minimiser of ``a^T w + s ||J^T w||`` over the segment (K = 2).

    With ``w = (t, 1 - t)``, ``delta = g1 - g2``: ``D = ||delta||^2``, ``e = g2 . delta``,
    ``||g_w||^2 = (h^2 + r) / D`` with ``h = e + D t`` and ``r = D ||g2||^2 - e^2 >= 0``.
    The stationarity condition ``m + s sqrt(D) h / sqrt(h^2 + r) = 0`` (``m`` the slope of
    the linear part) gives ``h = kappa sqrt(r / (1 - kappa^2))``, ``kappa = -m / (s sqrt D)``;
    the objective is convex so clamping ``t`` to [0, 1] gives the constrained minimiser.
    """
    g11, g22, g12 = G[..., 0, 0], G[..., 1, 1], G[..., 0, 1]
    D = g11 + g22 - 2 * g12
    e = g12 - g22
    r = (D * g22 - e * e).clamp(min=0.0)
    m = a[..., 0] - a[..., 1]
    s = s[..., 0]
    Dpos = D > 0
    denom = s * torch.where(Dpos, D, 1.0).sqrt()
    kappa = -m / torch.where(denom > 0, denom, 1.0)
    one_minus = (1 - kappa * kappa).clamp(min=0.0)
    interior = one_minus > 0
    h = kappa * (r / torch.where(interior, one_minus, 1.0)).sqrt()
    # |kappa| >= 1: the objective is monotone in t, the minimiser is an end point.
    h = torch.where(interior, h, torch.sign(kappa) * torch.inf)
    t = ((h - e) / torch.where(Dpos, D, 1.0)).clamp(0.0, 1.0)
    t = torch.where(Dpos & (denom > 0), t, 0.5)
    return torch.stack([t, 1 - t], dim=-1)


class CAGrad(Weighting):
    """Conflict-averse gradient (Liu et al., 2021).

    ``d = g0 + (sqrt(phi) / ||g_w||) g_w`` with ``g0`` the mean gradient,
    ``sqrt(phi) = c ||g0||`` and ``w`` minimising ``g_w . g0 + sqrt(phi) ||g_w||`` on the
    simplex (closed form for K = 2, interior point otherwise). Weights:
    ``1/K + (c ||g0|| / ||g_w||) w``, divided by ``1 + c^2`` when ``rescale``.

    ``rescale=True`` is the default because it is what the official supervised MTL code
    does (its default ``rescale=1``), so learning rates tuned for the paper carry over; the
    direction is the same either way (TorchJD's CAGrad is ``rescale=False``). With ``c = 0``
    both give the mean gradient. Where ``||g_w||`` vanishes (0 in the convex hull) the
    official code's ``lambda = c / (||g_w|| + eps)`` leaves ``d = g0``; so does this.
    For K > 2 the dual is solved by bracketing a scalar on the path of an exact QP and an
    exact closed form on the final support (:func:`dse.gradient._qp.solve_cagrad_dual`).
    """

    name = "cagrad"

    def __init__(
        self,
        c: float = 0.5,
        rescale: bool = True,
        rounds: int = CAGRAD_ROUNDS,
        points: int = CAGRAD_POINTS,
    ) -> None:
        if not isinstance(rescale, bool):
            raise ValueError(f"rescale must be a bool, got {rescale!r}")
        if isinstance(points, bool) or not isinstance(points, int) or points < 2:
            raise ValueError(f"points must be an integer >= 2, got {points!r}")
        super().__init__(
            c=non_negative(c, name="c"),
            rescale=rescale,
            rounds=positive_int(rounds, name="rounds"),
            points=points,
        )

    def _weights(self, G: Tensor | None, losses: Tensor | None) -> Tensor:
        assert G is not None
        c = self.params["c"]
        if _cpu.use_numpy(G):  # CPU: the same solves in numpy, a fraction of the dispatch cost
            p = self.params
            if G.shape == (2, 2) and (g := _cpu.psd_2x2(G)) is not None:
                return torch.tensor(_cpu.cagrad_2x2(*g, c, p["rescale"]), dtype=torch.float64)
            w = _cpu.cagrad_weights(_cpu.psd_gramian(G), c, p["rescale"], p["rounds"], p["points"])
            return torch.from_numpy(w)
        Gn = psd_gramian(G)
        K = G.shape[-1]
        w0 = torch.full_like(Gn[..., 0], 1.0 / K)
        a = _bmv(Gn, w0)
        g0_norm = _quad(Gn, w0).clamp(min=0.0).sqrt()
        s = c * g0_norm
        if K == 1:
            w = torch.ones_like(w0)
        elif K == 2:
            w = _cagrad_k2(Gn, a, s)
        else:
            w = solve_cagrad_dual(
                Gn, a, s, rounds=self.params["rounds"], points=self.params["points"]
            )
            # All-zero or non-finite Gramians: any w gives d = g0 (or nothing better).
            w = torch.where(torch.isfinite(w).all(-1, keepdim=True), w, w0)
        gw_norm = _quad(Gn, w).clamp(min=0.0).sqrt()
        # Gn has trace 1, so 1e-12 is a relative threshold: below it g_w is rounding noise.
        ok = gw_norm > 1e-12
        weights = w0 + torch.where(ok, s / torch.where(ok, gw_norm, 1.0), 0.0) * w
        if self.params["rescale"]:
            weights = weights / (1.0 + c * c)
        return weights


def pcgrad_weights(G: Tensor, order: Tensor) -> Tensor:
    """PCGrad weights for given projection orders.

    ``order (..., K, K)`` (long, on ``G``'s device): row ``i`` lists the tasks that
    ``g_i`` is projected against, in order (entries equal to ``i`` are skipped). Each step
    is vectorised over ``i`` and the batch: ``K`` steps of a few tensor ops.
    """
    K = G.shape[-1]
    eye = torch.eye(K, dtype=G.dtype, device=G.device)
    W = eye.expand(G.shape).clone()
    rows = torch.arange(K, device=G.device)
    diag = _diag(G)
    for t in range(K):
        j = order[..., :, t]  # (..., K): the task row i projects against at step t
        Gj = torch.gather(G, -2, j.unsqueeze(-1).expand(G.shape))  # row i -> G[j_i, :]
        inner = (Gj * W).sum(-1)  # g_j . (current projected g_i)
        gjj = torch.gather(diag, -1, j)
        conflict = (inner < 0) & (j != rows) & (gjj > 0)
        delta = torch.where(conflict, -inner / torch.where(gjj > 0, gjj, 1.0), 0.0)
        W = W.scatter_add(-1, j.unsqueeze(-1), delta.unsqueeze(-1))
    return W.sum(-2)


class PCGrad(Weighting):
    """PCGrad (Yu et al., 2020): project each gradient off the ones it conflicts with.

    For every task ``i``, ``g_i`` is projected, in a random order of the other tasks, onto
    the normal plane of each ``g_j`` it conflicts with (``g_i . g_j < 0``); the projected
    gradients are summed (as in the paper and TorchJD). The orders come from a CPU
    ``torch.Generator`` seeded with ``seed`` that advances at each call: reproducible for a
    given seed and call sequence. With ``seed=None`` the generator is seeded from the OS.
    """

    name = "pcgrad"

    def __init__(self, seed: int | None = 0) -> None:
        self._gen = seeded_generator(seed)
        super().__init__(seed=seed)

    def _weights(self, G: Tensor | None, losses: Tensor | None) -> Tensor:
        assert G is not None
        Gn = normalise_gramian(G)
        order = torch.rand(G.shape, generator=self._gen).argsort(-1).to(G.device)
        return pcgrad_weights(Gn, order)


class IMTLG(Weighting):
    """IMTL-G (Liu et al., 2021) as generalised in TorchJD: ``pinv(G) sqrt(diag G)``,
    normalised to sum 1 (zero weights where that sum vanishes, i.e. all-zero gradients)."""

    name = "imtl_g"

    def _weights(self, G: Tensor | None, losses: Tensor | None) -> Tensor:
        assert G is not None
        Gn = normalise_gramian(G)
        v = _bmv(torch.linalg.pinv(Gn), _diag(Gn).clamp(min=0.0).sqrt())
        total = v.sum(-1, keepdim=True)
        ok = total.abs() > 1e-12
        return torch.where(ok, v / torch.where(ok, total, 1.0), 0.0)


class DualConeWeighting(Weighting):
    """Weightings that project onto the dual cone of the rows of ``J`` (UPGrad, DualProj):
    a preference vector ``pref`` (default ``1/K``), a ridge ``reg_eps`` on the
    trace-normalised Gramian and the interior point's iteration count ``iters``."""

    def __init__(
        self,
        pref: Sequence[float] | Tensor | None = None,
        reg_eps: float = 0.0,
        iters: int = DEFAULT_ITERS,
    ) -> None:
        self._pref = None if pref is None else positive_vector(pref, name="pref")
        super().__init__(
            pref=None if pref is None else self._pref.tolist(),
            reg_eps=non_negative(reg_eps, name="reg_eps"),
            iters=positive_int(iters, name="iters"),
        )


class UPGrad(DualConeWeighting):
    """UPGrad (Quinton & Rey, 2024): each ``g_i`` projected onto the dual cone of all rows.

    Weights ``sum_i v_i`` with ``v_i = argmin_v v^T G v  s.t.  v >= pref_i e_i`` (the dual of
    the projection). Exact closed form for K = 2; a batch of K interior-point QPs (with
    active-set polish) otherwise. ``pref`` defaults to ``1/K``; ``reg_eps`` adds
    ``reg_eps * I`` to the trace-normalised Gramian (TorchJD's projector uses 1e-4 there to
    keep quadprog's matrix positive definite; the interior point does not need it, so the
    default 0 gives the exact projection and the exact non-conflict guarantee).
    """

    name = "upgrad"

    def _weights(self, G: Tensor | None, losses: Tensor | None) -> Tensor:
        assert G is not None
        K = G.shape[-1]
        if _cpu.use_numpy(G):  # CPU: the same solves in numpy, a fraction of the dispatch cost
            return torch.from_numpy(self._weights_numpy(G))
        Gn = psd_gramian(G)
        if self.params["reg_eps"] > 0:
            Gn = Gn + self.params["reg_eps"] * torch.eye(K, dtype=Gn.dtype, device=Gn.device)
        if self._pref is None:
            u = torch.full_like(Gn[..., 0], 1.0 / K)
        else:
            _check_k(self._pref, K, "pref")
            u = self._pref.to(Gn.device).expand(Gn.shape[:-1])
        if K <= 2:
            return _upgrad_small(Gn, u)
        U = torch.diag_embed(u)  # row i: lower bound of problem i
        V = solve_qp(
            Gn.unsqueeze(-3).expand(*Gn.shape[:-2], K, K, K), lower=U, iters=self.params["iters"]
        )
        return V.sum(-2)

    def _weights_numpy(self, G: Tensor) -> np.ndarray:
        K = G.shape[-1]
        if self._pref is not None:
            _check_k(self._pref, K, "pref")
        if G.shape == (2, 2) and (g := _cpu.psd_2x2(G)) is not None:
            eps = self.params["reg_eps"]
            u = (0.5, 0.5) if self._pref is None else self._pref.tolist()
            return np.array(_cpu.upgrad_2x2(g[0] + eps, g[1] + eps, g[2], *u))
        Gn = _cpu.psd_gramian(G)
        if self.params["reg_eps"] > 0:
            Gn = Gn + self.params["reg_eps"] * np.eye(K)
        if self._pref is None:
            u = np.full(Gn.shape[:-1], 1.0 / K)
        else:
            u = np.broadcast_to(self._pref.numpy(), Gn.shape[:-1])
        if K == 1:
            return u.copy()
        if K == 2:
            return _cpu.upgrad_k2(Gn, u)
        # The K projections share the Gramian: one batch of K problems, row i's bound u_i e_i.
        lower = u[..., None] * np.eye(K)
        V = _cpu.solve_qp(Gn[..., None, :, :], lower=lower, iters=self.params["iters"])
        return V.sum(-2)


def _upgrad_small(G: Tensor, u: Tensor) -> Tensor:
    """Exact UPGrad weights for K <= 2.

    For K = 2, projecting ``g_i`` onto the dual cone only needs the half-space of the other
    gradient: ``v_i = u_i (e_i + max(0, -G_ij / G_jj) e_j)`` (Cauchy-Schwarz makes ``g_i``'s
    own constraint hold automatically).
    """
    if G.shape[-1] == 1:
        return u.clone()
    d = _diag(G)
    b = G[..., 0, 1]
    ratio = (-b).clamp(min=0.0).unsqueeze(-1) / torch.where(d > 0, d, 1.0)  # -b/G_jj per j
    w0 = u[..., 0] + u[..., 1] * ratio[..., 0]
    w1 = u[..., 1] + u[..., 0] * ratio[..., 1]
    return torch.stack([w0, w1], dim=-1)


class GradNormalisation(Weighting):
    """Gradient normalisation: ``sum_i g_i / ||g_i||``, i.e. weights ``1 / ||g_i||``
    (0 for a zero gradient). Not scale-invariant by design.

    .. deprecated:: 0.1.0
        The old spellings still work for one release: the registry name
        ``"grad_normalization"`` is an alias of ``"grad_normalisation"`` (configs keep
        working), and ``dse.gradient.GradNormalization`` gives this class with a
        :class:`DeprecationWarning`.
    """

    name = "grad_normalisation"

    def _weights(self, G: Tensor | None, losses: Tensor | None) -> Tensor:
        assert G is not None
        n = _diag(G.to(torch.float64)).clamp(min=0.0).sqrt()
        return torch.where(n > 0, 1.0 / torch.where(n > 0, n, 1.0), 0.0)


class Chebyshev(Weighting):
    """Weights of the (optionally smoothed) weighted Tchebycheff scalarisation.

    ``S(f) = max_i p_i (f_i - z_i)`` with preference ``p`` and ideal point ``z`` (default 0).
    The weights are the gradient of ``S`` w.r.t. ``f``: ``p_i`` on the active (largest) term,
    shared equally among exact ties; with ``smoothing = mu > 0``, the gradient of
    ``mu logsumexp(p (f - z) / mu)``: ``p * softmax(p (f - z) / mu)``. Uses losses only.
    """

    name = "chebyshev"
    needs_gramian = False
    needs_losses = True

    def __init__(
        self,
        preference: Sequence[float] | Tensor,
        ideal: Sequence[float] | Tensor | None = None,
        smoothing: float = 0.0,
    ) -> None:
        self._p = positive_vector(preference, name="preference")
        if ideal is None:
            self._z = torch.zeros_like(self._p)
        else:
            self._z = torch.as_tensor(ideal, dtype=torch.float64).detach().clone()
            if self._z.shape != self._p.shape or not torch.isfinite(self._z).all():
                raise ValueError(
                    f"ideal must be finite with the length of preference ({self._p.numel()}), "
                    f"got {self._z.tolist()}"
                )
        super().__init__(
            preference=self._p.tolist(),
            ideal=None if ideal is None else self._z.tolist(),
            smoothing=non_negative(smoothing, name="smoothing"),
        )

    def _weights(self, G: Tensor | None, losses: Tensor | None) -> Tensor:
        assert losses is not None
        K = losses.shape[-1]
        _check_k(self._p, K, "preference")
        p = self._p.to(losses.device)
        t = p * (losses.detach().to(torch.float64) - self._z.to(losses.device))
        mu = self.params["smoothing"]
        if mu > 0:
            w = p * torch.softmax(t / mu, dim=-1)
        else:
            active = (t == t.amax(-1, keepdim=True)).to(t.dtype)
            w = p * active / active.sum(-1, keepdim=True)
        if G is not None:
            w = w.expand(G.shape[:-1])
        return w


class EPO(Weighting):
    """EPO search direction (Mahapatra & Rajan, 2020) for preference ``r``.

    Drives the losses onto the ray ``r_1 f_1 = ... = r_K f_K`` and then descends along it.
    With ``l_hat = r f / sum(r f)``, the non-uniformity ``mu = KL(l_hat || 1/K)`` and
    ``a = r (log(K l_hat) - mu)``, the weights ``beta`` solve the paper's linear programs
    over the simplex (``C = G``):

    - balance mode (``mu > eps``): maximise ``(C a)^T beta`` s.t. ``(C beta)_j >= (C a)_j``
      for tasks with ``(C a)_j <= 0`` and ``(C beta)_j >= 0`` for the max ``r_j f_j``;
    - descent mode: maximise ``1^T C beta`` s.t. ``C beta >= 0`` and
      ``a^T C beta >= min(max(C a), 0)``.

    Both LPs are solved for every problem with the batched interior point (no solver
    branching on the host) and the mode selected with ``torch.where``. Losses must be > 0.
    ``eps`` is the paper's tolerance on ``mu``: it leaves ``r_i f_i`` equal to about
    ``sqrt(2 eps)`` relative (2 % at the default 1e-4).
    """

    name = "epo"
    needs_losses = True

    def __init__(
        self, preference: Sequence[float] | Tensor, eps: float = 1e-4, iters: int = 25
    ) -> None:
        self._r = positive_vector(preference, name="preference")
        super().__init__(
            preference=self._r.tolist(),
            eps=non_negative(eps, name="eps"),
            iters=positive_int(iters, name="iters"),
        )

    def _weights(self, G: Tensor | None, losses: Tensor | None) -> Tensor:
        assert G is not None and losses is not None
        K = G.shape[-1]
        _check_k(self._r, K, "preference")
        C = normalise_gramian(G)
        r = self._r.to(C.device)
        lv = losses.detach().to(torch.float64).clamp(min=torch.finfo(torch.float64).tiny)
        rl = r * lv
        l_hat = rl / rl.sum(-1, keepdim=True)
        log_term = torch.log(l_hat * K)
        mu = (l_hat * log_term).sum(-1, keepdim=True)
        a = r * (log_term - mu)
        Ca = _bmv(C, a)
        # Balance LP rows: C beta >= rhs where constrained, 0-row >= -1 (inactive) elsewhere.
        is_max = rl == rl.amax(-1, keepdim=True)
        any_pos = (Ca > 0).any(-1, keepdim=True)
        constrained = torch.where(any_pos, (Ca <= 0) | is_max, torch.ones_like(is_max))
        rhs_bal = torch.where(any_pos, torch.where(is_max, 0.0, Ca), 0.0)
        A_bal = torch.where(constrained.unsqueeze(-1), C, 0.0)
        b_bal = torch.where(constrained, rhs_bal, -1.0)
        # Descent LP rows: C beta >= 0 and a^T C beta >= min(max(Ca), 0).
        A_dom = torch.cat([C, Ca.unsqueeze(-2)], dim=-2)
        b_dom = torch.cat([torch.zeros_like(Ca), Ca.amax(-1, keepdim=True).clamp(max=0.0)], -1)
        A_bal = torch.cat([A_bal, torch.zeros_like(Ca).unsqueeze(-2)], dim=-2)
        b_bal = torch.cat([b_bal, -torch.ones_like(Ca[..., :1])], dim=-1)
        eye = torch.eye(K, dtype=C.dtype, device=C.device).expand(*C.shape[:-2], K, K)
        A = torch.stack([torch.cat([eye, A_bal], -2), torch.cat([eye, A_dom], -2)])
        b = torch.stack(
            [
                torch.cat([torch.zeros_like(Ca), b_bal], -1),
                torch.cat([torch.zeros_like(Ca), b_dom], -1),
            ]
        )
        q = torch.stack([-Ca, -C.sum(-1)])
        # A tiny quadratic term picks the min-norm point of the LP's optimal face.
        Q = 1e-6 * C.expand(2, *C.shape)
        beta = solve_qp(Q, q, A=A, b=b, simplex=True, iters=self.params["iters"])
        beta = torch.where(mu > self.params["eps"], beta[0], beta[1]).clamp(min=0.0)
        return beta / beta.sum(-1, keepdim=True).clamp(min=torch.finfo(beta.dtype).tiny)
