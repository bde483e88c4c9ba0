"""The HW/SW co-design problem: accelerator floorplan area vs end-to-end latency.

Variables (exact form, in this order): the hardware ``pe_rows, pe_cols, glb_kb, acc_kb,
dram_ch`` (integer log2 values) and ``glb_aspect`` (real, log2 of the global buffer's
height/width), then for every layer ``i`` of the workload ``L{i}.tm, L{i}.tk, L{i}.tn``
(integer tile exponents ``0 .. ceil(log2 dim)``), ``L{i}.df`` (dataflow WS/OS/IS) and
``L{i}.ord`` (DRAM loop order C-stat/B-stat/A-stat).

Objectives (minimised): ``area_mm2``, ``latency_ms`` and, with ``energy=True``,
``energy_mj``. Constraints: ``L{i}.glb`` and ``L{i}.acc``, the buffer need over capacity
minus one (``<= 0`` when the tiles fit), and ``area_budget`` (area / budget - 1) when an
area budget is given.
"""

from __future__ import annotations

import math
import os
from collections.abc import Mapping, Sequence
from typing import Any

import numpy as np
import torch
from torch import Tensor

from dse.problem import Categorical, Integer, Problem, Real, register_problem
from problems.codesign.layers import Layer, load_layers
from problems.codesign.model import (
    CONSTANTS,
    DATAFLOWS,
    EXACT,
    HARDWARE_DOMAINS,
    LOOP_ORDERS,
    buffer_needs,
    design_costs,
)
from problems.codesign.reference import ReferenceFront, reference_front
from problems.codesign.relaxed import relaxed_costs

__all__ = ["CodesignProblem"]

#: Exact variables per layer, in order.
LAYER_FIELDS = ("tm", "tk", "tn", "df", "ord")
_N_HW = len(HARDWARE_DOMAINS)


def tile_exponent_max(dim: int) -> int:
    """``ceil(log2 dim)``: the smallest exponent whose tile covers the whole dimension."""
    return (int(dim) - 1).bit_length()


def hardware_linear(h: Tensor) -> tuple[Tensor, Tensor, Tensor, Tensor, Tensor, Tensor]:
    """``(R, C, SP_KB, ACC_KB, n_ch, glb_aspect)`` from the hardware part of a design."""
    r, c, sp, acc, ch, aspect = h.unbind(dim=-1)
    return (
        torch.exp2(r),
        torch.exp2(c),
        torch.exp2(sp),
        torch.exp2(acc),
        torch.exp2(ch),
        aspect,
    )


@register_problem("codesign", aliases=("hwsw_codesign",))
class CodesignProblem(Problem):
    """HW/SW co-design of a DNN accelerator: floorplan area vs latency (optionally energy).

    Parameters
    ----------
    layers
        The workload: ``None`` for the spec's baseline (ResNet-50 + BERT-base GEMMs), a
        CSV path with columns ``name,M,K,N[,count]``, or a sequence of
        :class:`~problems.codesign.layers.Layer` objects or dicts with those keys.
    energy
        Add energy [mJ] as a third objective.
    area_budget
        Maximum die area [mm^2]; adds the constraint ``area / area_budget - 1 <= 0``.
    sharpness
        ``p`` of the smooth maximum in the relaxed model (larger: closer to the exact
        model, stiffer gradients).
    aspect_grid
        Number of ``glb_aspect`` values (evenly spaced over ``[-2, 2]``) scanned by the
        reference front.
    cache_dir
        Directory of the on-disk reference-front cache; default ``$DSE_CACHE_DIR``, else
        the user cache directory (``$XDG_CACHE_HOME/dse`` or ``~/.cache/dse``).
    """

    name = "codesign"

    def __init__(
        self,
        layers: str | os.PathLike[str] | Sequence[Layer | Mapping[str, Any]] | None = None,
        *,
        energy: bool = False,
        area_budget: float | None = None,
        sharpness: float = 16.0,
        aspect_grid: int = 401,
        cache_dir: str | os.PathLike[str] | None = None,
    ) -> None:
        self.layers: tuple[Layer, ...] = load_layers(layers)
        if not isinstance(energy, bool):
            raise TypeError(f"energy must be a bool, got {type(energy).__name__}")
        if area_budget is not None:
            area_budget = float(area_budget)
            if not (math.isfinite(area_budget) and area_budget > 0):
                raise ValueError(
                    f"area_budget must be a positive number of mm^2, got {area_budget}"
                )
        if isinstance(aspect_grid, bool) or not isinstance(aspect_grid, int) or aspect_grid < 2:
            raise ValueError(f"aspect_grid must be an integer >= 2, got {aspect_grid!r}")
        self.energy = energy
        self.area_budget = area_budget
        self.sharpness = sharpness
        self.aspect_grid = aspect_grid
        self.cache_dir = cache_dir
        self._reference: ReferenceFront | None = None

        variables: list[Any] = [
            Real(name, lo, hi) if name == "glb_aspect" else Integer(name, int(lo), int(hi))
            for name, lo, hi in HARDWARE_DOMAINS
        ]
        constraint_names: list[str] = []
        for i, layer in enumerate(self.layers):
            for field, dim in zip(("tm", "tk", "tn"), (layer.M, layer.K, layer.N), strict=True):
                variables.append(Integer(f"L{i}.{field}", 0, tile_exponent_max(dim)))
            variables.append(Categorical(f"L{i}.df", DATAFLOWS))
            variables.append(Categorical(f"L{i}.ord", LOOP_ORDERS))
            constraint_names += [f"L{i}.glb", f"L{i}.acc"]
        if area_budget is not None:
            constraint_names.append("area_budget")
        objective_names = ["area_mm2", "latency_ms"] + (["energy_mj"] if energy else [])
        super().__init__(
            variables,
            n_obj=len(objective_names),
            n_constr=len(constraint_names),
            objective_names=objective_names,
            constraint_names=constraint_names,
        )
        self._dims = np.array([[ly.M, ly.K, ly.N] for ly in self.layers], dtype=np.float64)
        self._counts = np.array([ly.count for ly in self.layers], dtype=np.float64)

    # ------------------------------------------------------------------ parameters
    @property
    def sharpness(self) -> float:
        """``p`` of the relaxed model's smooth maximum."""
        return self._sharpness

    @sharpness.setter
    def sharpness(self, value: float) -> None:
        value = float(value)
        if not (math.isfinite(value) and value > 0):
            raise ValueError(f"sharpness must be a finite positive number, got {value}")
        self._sharpness = value

    @property
    def n_layers(self) -> int:
        return len(self.layers)

    def _workload(self, like: Tensor) -> tuple[Tensor, Tensor]:
        """Layer dimensions ``(L, 3)`` and counts ``(L,)`` on ``like``'s device and dtype."""
        if like.device.type == "cpu":
            return (
                torch.as_tensor(self._dims, dtype=like.dtype),
                torch.as_tensor(self._counts, dtype=like.dtype),
            )
        # Kept per device: a copy from the host each evaluation made a GPU sweep wait for
        # its queue to drain twice per step.
        cache = self.__dict__.setdefault("_workload_cache", {})
        key = (like.dtype, like.device)
        if key not in cache:
            cache[key] = (
                torch.as_tensor(self._dims, dtype=like.dtype, device=like.device),
                torch.as_tensor(self._counts, dtype=like.dtype, device=like.device),
            )
        return cache[key]

    def __getstate__(self) -> dict[str, Any]:
        # Device copies are a cache: a pickled problem (Dask workers) rebuilds its own.
        state = self.__dict__.copy()
        state.pop("_workload_cache", None)
        return state

    # ------------------------------------------------------------------ exact model
    def _exact_costs(self, x: Tensor) -> dict[str, Tensor]:
        # float64 inside: cycle and byte counts are integers up to ~1e10 and must be exact.
        x64 = x.to(torch.float64)
        dims, counts = self._workload(x64)
        sw = x64[..., _N_HW:].reshape(*x64.shape[:-1], self.n_layers, len(LAYER_FIELDS))
        T = torch.minimum(torch.exp2(sw[..., :3]), dims)
        dataflow, order = sw[..., 3:5].round().long().unbind(dim=-1)
        return design_costs(
            hardware_linear(x64[..., :_N_HW]), T, dataflow, order, dims, counts, EXACT
        )

    def _assemble(self, costs: dict[str, Tensor], dtype: torch.dtype) -> tuple[Tensor, Tensor]:
        objectives = [costs["area"], costs["latency_ms"]]
        if self.energy:
            objectives.append(costs["energy_mj"])
        G = torch.stack((costs["glb_use"] - 1, costs["acc_use"] - 1), dim=-1).flatten(-2)
        if self.area_budget is not None:
            G = torch.cat((G, (costs["area"] / self.area_budget - 1).unsqueeze(-1)), dim=-1)
        return torch.stack(objectives, dim=-1).to(dtype), G.to(dtype)

    def _evaluate(self, x: Tensor) -> tuple[Tensor, Tensor]:
        return self._assemble(self._exact_costs(x), x.dtype)

    def breakdown(self, x: Any) -> dict[str, Any]:
        """Exact per-design and per-layer figures of designs ``x`` of shape ``(..., n_var)``.

        Keys: ``area`` [mm^2], ``clock_ns``, ``total_cycles``, ``latency_ms``, ``energy_mj``
        (shape ``(...)``) and per layer (shape ``(..., L)``) ``compute`` and ``memory``
        cycles, ``cycles``, DRAM ``bytes``, ``energy_pj``, ``glb_use`` and ``acc_use``
        (buffer need over capacity). numpy in -> numpy out, torch in -> torch (float64).
        """
        is_numpy = not isinstance(x, Tensor)
        xt = self._as_tensor(x)
        self._check_input(xt, exact=True)
        with torch.no_grad():
            costs = self._exact_costs(xt)
        return {k: v.cpu().numpy() for k, v in costs.items()} if is_numpy else costs

    # ------------------------------------------------------------------ relaxation
    def relaxed_bounds(self) -> tuple[np.ndarray, np.ndarray]:
        """The default box, with each tile exponent capped at ``log2`` of its dimension.

        Above ``log2 X`` the tile ``min(2^t, X)`` is the whole dimension whatever ``t``:
        its gradient is zero there, so a relaxed tile that drifted up (large tiles are
        often best) could never shrink again when a smaller buffer needs it to. Capped, the
        box holds every tile size once; decoding still reaches ``ceil(log2 X)``, which
        rounds the top of the box up to the whole dimension.
        """
        lo, hi = super().relaxed_bounds()
        per_layer = 3 + len(DATAFLOWS) + len(LOOP_ORDERS)
        for i, (M, K, N) in enumerate(self._dims):
            start = _N_HW + per_layer * i
            hi[start : start + 3] = np.log2([M, K, N])
        return lo, hi

    def relaxation(self, z: Tensor) -> tuple[Tensor, Tensor]:
        """Smooth costs of relaxed designs (see :mod:`problems.codesign.relaxed`)."""
        dims, counts = self._workload(z)
        return self._assemble(relaxed_costs(z, dims, counts, self.sharpness), z.dtype)

    def repair(self, x: Tensor) -> Tensor:
        """Shrink tile exponents until every layer's tiles fit both buffers.

        Greedy and deterministic: while a layer breaks a buffer constraint, halve its
        largest tile among those the broken constraint involves (``T_m, T_n`` for the
        accumulator, all three for the global buffer). Always terminates feasible, since
        1x1x1 tiles fit the smallest buffers. Hardware, dataflow and loop order are kept;
        ``x`` is not modified.
        """
        batch = x.shape[:-1]
        x64 = x.detach().to(torch.float64)
        dims, _ = self._workload(x64)
        sw = x64[..., _N_HW:].reshape(*batch, self.n_layers, len(LAYER_FIELDS)).clone()
        t = sw[..., :3].round()
        _, _, sp_kb, acc_kb, _, _ = hardware_linear(x64[..., :_N_HW].round())
        glb_cap = (CONSTANTS.bytes_per_kb * sp_kb).unsqueeze(-1)
        acc_cap = (CONSTANTS.bytes_per_kb * acc_kb).unsqueeze(-1)
        acc_dims = torch.tensor([True, False, True]).to(x.device, non_blocking=True)
        for _ in range(int(self.xu.sum()) + 1):
            T = torch.minimum(torch.exp2(t), dims)
            glb_need, acc_need = buffer_needs(T)
            bad_glb, bad_acc = glb_need > glb_cap, acc_need > acc_cap
            bad = bad_glb | bad_acc
            if not bool(bad.any()):
                break
            # Candidate tiles: those the broken constraint involves, and not already 1.
            allowed = torch.where(bad_acc.unsqueeze(-1), acc_dims, True) & (t > 0)
            score = torch.where(allowed, T, -1.0)
            pick = torch.nn.functional.one_hot(score.argmax(dim=-1), 3).to(t.dtype)
            t = t - pick * bad.unsqueeze(-1).to(t.dtype)
        sw[..., :3] = t
        out = torch.cat((x64[..., :_N_HW], sw.flatten(-2)), dim=-1)
        return out.to(x.dtype)

    # ------------------------------------------------------------------ reference front
    def reference(self) -> ReferenceFront | None:
        """The exact two-objective reference front (built lazily, cached on disk).

        ``None`` with ``energy=True`` (no exact three-objective front is computed).
        """
        if self.energy:
            return None
        if self._reference is None:
            self._reference = reference_front(
                self.layers, aspect_grid=self.aspect_grid, cache_dir=self.cache_dir
            )
        return self._reference

    def _budget_mask(self, F: np.ndarray) -> np.ndarray:
        if self.area_budget is None:
            return np.ones(len(F), dtype=bool)
        return F[:, 0] <= self.area_budget

    def pareto_front(self, n: int | None = None) -> np.ndarray | None:
        """The exact (area, latency) front by enumeration, sorted by area.

        The whole front is returned by default (use it for hypervolume ratios); ``n`` thins
        it to ``n`` points evenly spaced along the front, extremes kept, for plots. With an
        area budget, only the points within budget (the constrained front). ``None`` when
        ``energy=True`` or no design meets the budget.
        """
        ref = self.reference()
        if ref is None:
            return None
        F = ref.F[self._budget_mask(ref.F)]
        if len(F) == 0:
            return None
        if n is not None:
            if isinstance(n, bool) or not isinstance(n, int) or n < 1:
                raise ValueError(f"n must be a positive integer or None, got {n!r}")
            if n < len(F):
                F = F[np.unique(np.linspace(0, len(F) - 1, n).round().astype(int))]
        return F.copy()

    def reference_designs(self) -> np.ndarray | None:
        """Exact designs ``(n_front, n_var)`` of the points of :meth:`pareto_front`, in order."""
        ref = self.reference()
        if ref is None:
            return None
        X = ref.X[self._budget_mask(ref.F)]
        return X.copy() if len(X) else None
