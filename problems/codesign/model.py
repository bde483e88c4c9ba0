"""The co-design cost model of the spec (``shared/specs/codesign.md``), vectorised in torch.

One set of formulas serves both faces of the problem: the *exact* model (``ceil``, ``max``,
the chosen option of each categorical) and the *relaxed* model (smooth maximum, softmax
mixture of the options), selected by an :class:`Ops` object. Every function broadcasts over
leading batch dimensions; per-layer quantities carry one more axis of length ``L`` (the
layers), and per-option quantities one more of length 3 (the dataflows or loop orders).

Units: areas in mm^2, lengths in mm, clock period in ns, latency in ms, energy in mJ.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import asdict, dataclass

import torch
from torch import Tensor

__all__ = [
    "CONSTANTS",
    "DATAFLOWS",
    "EXACT",
    "HARDWARE_DOMAINS",
    "LOOP_ORDERS",
    "Constants",
    "Ops",
    "buffer_needs",
    "design_costs",
    "floorplan",
    "layer_costs",
    "smooth_max",
    "smooth_ops",
]

#: Array dataflows: which tile dimensions map to (rows, columns, streamed depth).
DATAFLOWS = ("WS", "OS", "IS")
#: DRAM loop orders: which operand stays resident (C = outputs, B = weights, A = inputs).
LOOP_ORDERS = ("C-stat", "B-stat", "A-stat")

#: Hardware variables (log2 values, except the aspect) and their domains, in variable order.
HARDWARE_DOMAINS: tuple[tuple[str, float, float], ...] = (
    ("pe_rows", 2, 7),
    ("pe_cols", 2, 7),
    ("glb_kb", 5, 11),
    ("acc_kb", 3, 10),
    ("dram_ch", 0, 3),
    ("glb_aspect", -2.0, 2.0),
)


@dataclass(frozen=True)
class Constants:
    """Every figure of the baseline model (see the spec for their sources)."""

    # Area fits to DOSA's Timeloop/Accelergy Gemmini dataset, 40 nm [mm^2].
    pe_area: float = 4.05e-4
    acc_area_per_kb: float = 5.55e-3
    acc_area_per_col: float = 1.09e-3
    glb_area_per_kb: float = 2.60e-3
    glb_area_fixed: float = 0.0138
    # DRAM PHY block per channel (assumed) [mm].
    phy_width: float = 1.0
    phy_height: float = 0.5
    # Clock: T_clk = base + per_mm * L (repeated wire, both assumed) [ns, ns/mm].
    clk_base_ns: float = 1.0
    clk_ns_per_mm: float = 0.1
    # DRAM bandwidth per channel [bytes/cycle]; operand and partial-sum widths [bytes].
    dram_bytes_per_cycle: float = 8.0
    psum_bytes: float = 4.0
    double_buffer: float = 2.0
    bytes_per_kb: float = 1024.0
    # Energy [pJ]: 8-bit MAC (Accelergy/Aladdin), DOSA's Gemmini buffer fits, DRAM.
    mac_pj: float = 0.561
    glb_pj_per_kb: float = 0.0251
    glb_pj_fixed: float = 0.49
    acc_pj_per_kb: float = 0.1005
    acc_pj_fixed: float = 1.94
    dram_pj_per_byte: float = 100.0

    def as_dict(self) -> dict[str, float]:
        return asdict(self)


CONSTANTS = Constants()


@dataclass(frozen=True)
class Ops:
    """The two non-smooth operations of the model: ``ceil`` and the maximum of two arrays."""

    ceil: Callable[[Tensor], Tensor]
    max: Callable[[Tensor, Tensor], Tensor]


#: The exact model.
EXACT = Ops(ceil=torch.ceil, max=torch.maximum)


def smooth_max(a: Tensor, b: Tensor, sharpness: float) -> Tensor:
    """Smooth maximum of positive ``a`` and ``b``: the ``p``-norm ``(a^p + b^p)^(1/p)``.

    Computed in log space (``exp(logaddexp(p log a, p log b) / p)``) so that large values
    and large ``p`` never overflow. It lies in ``[max(a, b), 2^(1/p) max(a, b)]``.
    """
    p = float(sharpness)
    return torch.exp(torch.logaddexp(p * torch.log(a), p * torch.log(b)) / p)


def smooth_ops(sharpness: float) -> Ops:
    """Relaxed operations: ``ceil(x) -> smooth_max(x, 1)``, ``max -> smooth_max``."""
    if not (math.isfinite(sharpness) and sharpness > 0):
        raise ValueError(f"sharpness must be a finite positive number, got {sharpness}")

    def ceil(x: Tensor) -> Tensor:
        return smooth_max(x, torch.ones_like(x), sharpness)

    def vmax(a: Tensor, b: Tensor) -> Tensor:
        return smooth_max(a, b, sharpness)

    return Ops(ceil=ceil, max=vmax)


#: Per dataflow (WS, OS, IS): indices into (T_m, T_k, T_n) of (rows S_r, columns S_c, depth).
_DATAFLOW_MAP = ((1, 2, 0), (0, 2, 1), (1, 0, 2))


def _choose(options: tuple[Tensor, Tensor, Tensor], choice: Tensor) -> Tensor:
    """The chosen one of three options: ``choice`` is an index tensor (exact) or mixture
    weights (relaxed, last axis of length 3, summing to one).

    Exact selection uses ``where`` (cheaper than stacking and gathering); a mixture is
    ``sum_i w_i * option_i``.
    """
    a, b, c = options
    if choice.is_floating_point():
        w0, w1, w2 = choice.unbind(dim=-1)
        return w0 * a + w1 * b + w2 * c
    return torch.where(choice == 0, a, torch.where(choice == 1, b, c))


def buffer_needs(T: Tensor, k: Constants = CONSTANTS) -> tuple[Tensor, Tensor]:
    """Bytes needed per layer in the global buffer and in the accumulator.

    ``T`` holds the tiles ``(T_m, T_k, T_n)`` on its last axis. Operands are 8-bit and
    double-buffered; partial sums are 32-bit.
    """
    tm, tk, tn = T.unbind(dim=-1)
    return k.double_buffer * (tm * tk + tk * tn), k.psum_bytes * tm * tn


def layer_costs(
    T: Tensor,
    dims: Tensor,
    R: Tensor,
    C: Tensor,
    n_ch: Tensor,
    sp_kb: Tensor,
    acc_kb: Tensor,
    dataflow: Tensor,
    order: Tensor,
    ops: Ops = EXACT,
    k: Constants = CONSTANTS,
) -> dict[str, Tensor]:
    """Cycles, DRAM bytes and energy of every layer (roofline of the systolic fold model).

    Parameters
    ----------
    T
        Tiles ``(..., L, 3)``: ``(T_m, T_k, T_n)`` per layer.
    dims
        ``(L, 3)`` layer dimensions ``(M, K, N)``.
    R, C, n_ch, sp_kb, acc_kb
        Hardware, shape ``(...)``: array rows and columns, DRAM channels, buffer sizes [KB].
    dataflow, order
        Index tensors ``(..., L)`` into :data:`DATAFLOWS` / :data:`LOOP_ORDERS`, or mixture
        weights ``(..., L, 3)``.
    ops
        :data:`EXACT` or :func:`smooth_ops`.

    Returns
    -------
    dict with per-layer tensors ``(..., L)``: ``compute`` and ``memory`` cycles, ``cycles``
    (their maximum), ``bytes`` (DRAM traffic) and ``energy_pj``.
    """
    # Hardware gets the layer axis; every helper below is one job of the roofline.
    R, C, n_ch = R.unsqueeze(-1), C.unsqueeze(-1), n_ch.unsqueeze(-1)
    sp_kb, acc_kb = sp_kb.unsqueeze(-1), acc_kb.unsqueeze(-1)
    n_m, n_k, n_n = _tile_counts(T, dims, ops)
    compute = _compute_cycles(T, n_m * n_k * n_n, R, C, dataflow, ops)
    traffic, operand_reads = _dram_traffic(dims, n_m, n_k, n_n, order, k)
    memory = traffic / (k.dram_bytes_per_cycle * n_ch)
    return {
        "compute": compute,
        "memory": memory,
        "cycles": ops.max(compute, memory),
        "bytes": traffic,
        "energy_pj": _layer_energy(dims, n_k, operand_reads, traffic, sp_kb, acc_kb, C, k),
    }


def _tile_counts(T: Tensor, dims: Tensor, ops: Ops) -> tuple[Tensor, Tensor, Tensor]:
    """Tiles along each dimension, ``n_X = ceil(X / T_x)``: ``(n_M, n_K, n_N)``, each
    ``(..., L)``."""
    M, K, N = dims.unbind(dim=-1)
    tm, tk, tn = T.unbind(dim=-1)
    return ops.ceil(M / tm), ops.ceil(K / tk), ops.ceil(N / tn)


def _fold_factors(rows: Tensor, cols: Tensor, depth: Tensor, R: Tensor, C: Tensor,
                  ops: Ops) -> tuple[Tensor, Tensor, Tensor]:
    """The factors of one tile's cycles on an ``R x C`` array (systolic fold model, as in
    SCALE-Sim): folds ``ceil(S_r / R)`` and ``ceil(S_c / C)``, and the pass length
    ``2R + C + depth - 2``."""
    return ops.ceil(rows / R), ops.ceil(cols / C), 2 * R + C + depth - 2


def _compute_cycles(T: Tensor, n_tiles: Tensor, R: Tensor, C: Tensor, dataflow: Tensor,
                    ops: Ops) -> Tensor:
    """Compute cycles of every layer ``(..., L)`` under its dataflow.

    Each dataflow maps the tiles to (rows S_r, columns S_c, streamed depth) by
    :data:`_DATAFLOW_MAP`: an exact design selects its own dataflow's mapping; a relaxed
    one (mixture weights) costs all three and mixes the cycles.
    """
    if dataflow.is_floating_point():
        Rx, Cx = R.unsqueeze(-1), C.unsqueeze(-1)
        # Stacked views, not a list index: indexing by a Python list copies the index to
        # the device (a host sync per evaluation on a GPU).
        rows, cols, depth = (
            torch.stack([T[..., i] for i in ix], dim=-1) for ix in zip(*_DATAFLOW_MAP, strict=True)
        )
        fold_r, fold_c, length = _fold_factors(rows, cols, depth, Rx, Cx, ops)
        compute = n_tiles.unsqueeze(-1) * (fold_r * fold_c * length)
        return _choose(compute.unbind(dim=-1), dataflow)
    rows, cols, depth = (
        _choose((T[..., i], T[..., j], T[..., k]), dataflow)
        for i, j, k in zip(*_DATAFLOW_MAP, strict=True)
    )
    fold_r, fold_c, length = _fold_factors(rows, cols, depth, R, C, ops)
    return n_tiles * fold_r * fold_c * length


def _dram_traffic(dims: Tensor, n_m: Tensor, n_k: Tensor, n_n: Tensor, order: Tensor,
                  k: Constants) -> tuple[Tensor, Tensor]:
    """DRAM bytes of every layer under its loop order, and its operand reads.

    Loop orders C-stat, B-stat, A-stat (8-bit operands, 32-bit partial sums): ``A`` is
    re-read once per column tile, ``B`` once per row tile, and the orders that keep an
    operand resident spill and refill the partial sums. Returns ``(bytes, A and B reads)``,
    each ``(..., L)``.
    """
    M, K, N = dims.unbind(dim=-1)
    mk, kn, mn = M * K, K * N, M * N
    a_reads = mk * n_n
    b_reads = kn * n_m
    psum_traffic = k.psum_bytes * mn * (2 * n_k - 1)
    traffic = _choose(
        (a_reads + b_reads + mn, kn + a_reads + psum_traffic, mk + b_reads + psum_traffic),
        order,
    )
    return traffic, a_reads + b_reads


def _layer_energy(dims: Tensor, n_k: Tensor, operand_reads: Tensor, traffic: Tensor,
                  sp_kb: Tensor, acc_kb: Tensor, C: Tensor, k: Constants) -> Tensor:
    """Energy [pJ] of every layer ``(..., L)``: the MACs, the operand reads from the global
    buffer, the accumulator's read-modify-writes and the DRAM traffic."""
    M, K, N = dims.unbind(dim=-1)
    return (
        M * K * N * k.mac_pj
        + operand_reads * (k.glb_pj_per_kb * sp_kb + k.glb_pj_fixed)
        + 2 * (M * N) * n_k * (k.acc_pj_per_kb * acc_kb / C + k.acc_pj_fixed)
        + traffic * k.dram_pj_per_byte
    )


def floorplan(
    R: Tensor,
    C: Tensor,
    sp_kb: Tensor,
    acc_kb: Tensor,
    n_ch: Tensor,
    aspect: Tensor,
    ops: Ops = EXACT,
    k: Constants = CONSTANTS,
) -> dict[str, Tensor]:
    """Slicing floorplan of the accelerator: die area [mm^2] and clock period [ns].

    The PE array (square PEs) sits above the accumulator of the same width; the global
    buffer (a soft block of height/width ``2^aspect``) is to their right; a strip of DRAM
    PHYs runs along the bottom edge. Returns ``area``, ``clock_ns``, ``width``, ``height``
    and ``wire_mm`` (the critical wire), all of the broadcast shape of the inputs.
    """
    pitch = math.sqrt(k.pe_area)
    array_w, array_h = C * pitch, R * pitch
    acc_h = (k.acc_area_per_kb * acc_kb + k.acc_area_per_col * C) / array_w
    glb_area = k.glb_area_per_kb * sp_kb + k.glb_area_fixed
    ratio = torch.exp2(aspect)
    glb_w, glb_h = torch.sqrt(glb_area / ratio), torch.sqrt(glb_area * ratio)
    core_w = array_w + glb_w
    core_h = ops.max(array_h + acc_h, glb_h)
    die_w = ops.max(core_w, k.phy_width * n_ch)
    die_h = core_h + k.phy_height
    wire = glb_w / 2 + array_w + core_h / 2
    return {
        "area": die_w * die_h,
        "clock_ns": k.clk_base_ns + k.clk_ns_per_mm * wire,
        "width": die_w,
        "height": die_h,
        "wire_mm": wire,
    }


def design_costs(
    hw: tuple[Tensor, Tensor, Tensor, Tensor, Tensor, Tensor],
    T: Tensor,
    dataflow: Tensor,
    order: Tensor,
    dims: Tensor,
    counts: Tensor,
    ops: Ops = EXACT,
    k: Constants = CONSTANTS,
) -> dict[str, Tensor]:
    """Everything about a batch of designs: objectives, buffer use and per-layer costs.

    Parameters
    ----------
    hw
        ``(R, C, SP_KB, ACC_KB, n_ch, glb_aspect)`` in linear units (aspect in log2), each of
        shape ``(...)``.
    T, dataflow, order, dims
        As in :func:`layer_costs`.
    counts
        ``(L,)`` executions of each layer.

    Returns
    -------
    dict with ``area`` [mm^2], ``latency_ms``, ``energy_mj``, ``clock_ns`` of shape
    ``(...)``; per layer ``(..., L)``: ``glb_use`` and ``acc_use`` (need / capacity) and the
    entries of :func:`layer_costs`.
    """
    R, C, sp_kb, acc_kb, n_ch, aspect = hw
    plan = floorplan(R, C, sp_kb, acc_kb, n_ch, aspect, ops, k)
    costs = layer_costs(T, dims, R, C, n_ch, sp_kb, acc_kb, dataflow, order, ops, k)
    sp_need, acc_need = buffer_needs(T, k)
    total_cycles = (costs["cycles"] * counts).sum(dim=-1)
    return {
        **costs,
        "area": plan["area"],
        "clock_ns": plan["clock_ns"],
        "total_cycles": total_cycles,
        "latency_ms": plan["clock_ns"] * total_cycles * 1e-6,
        "energy_mj": (costs["energy_pj"] * counts).sum(dim=-1) * 1e-9,
        "glb_use": sp_need / (k.bytes_per_kb * sp_kb.unsqueeze(-1)),
        "acc_use": acc_need / (k.bytes_per_kb * acc_kb.unsqueeze(-1)),
    }
