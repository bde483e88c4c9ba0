"""The exact (area, latency) reference front of the co-design problem, by enumeration.

For a fixed hardware ``(R, C, SP_KB, ACC_KB, n_ch)`` the best schedule of each layer is
independent of the other layers and of ``glb_aspect`` (which only moves area and clock). So,
per hardware configuration, each layer's minimum feasible cycles over all (tiles, dataflow,
loop order) are summed; then ``glb_aspect`` is scanned on a grid and the non-dominated
(area, latency) points are kept. Since ``cycles = max(compute, memory)`` is monotone in both
and the dataflow only moves compute while the loop order only moves memory, each tile's best
dataflow and best loop order are chosen separately; tiles are grouped by the smallest buffer
sizes they fit, so the minimum over feasible tiles of every buffer pair is a 2-D running
minimum over the groups.

The schedule side is deliberately an independent route to the model of
:mod:`problems.codesign.model`: numpy, integer ceiling division, the spec's cycle and traffic
formulas written out again. Area and clock do not depend on the schedule, so they are the
model's own :func:`~problems.codesign.model.floorplan`, evaluated once on the hardware grid.
The result is cached on disk (``$DSE_CACHE_DIR``, else the user cache directory), keyed by a
hash of the layers, the constants, the grid and the source of this file and of the model; a
cache file whose key or checksum does not match is rebuilt.
"""

from __future__ import annotations

import hashlib
import json
import logging
import os
import tempfile
import zipfile
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch

import problems.codesign.model as model
from dse.pareto import nondominated
from problems.codesign.layers import Layer
from problems.codesign.model import CONSTANTS, HARDWARE_DOMAINS, floorplan

__all__ = [
    "ReferenceFront",
    "build_reference",
    "cache_directory",
    "cache_key",
    "min_total_cycles",
    "reference_front",
]

_log = logging.getLogger(__name__)
_FORMAT_VERSION = 1
_ASPECT_RANGE = (float(HARDWARE_DOMAINS[5][1]), float(HARDWARE_DOMAINS[5][2]))


@dataclass(frozen=True)
class ReferenceFront:
    """The exact front: objectives ``F`` ``(n, 2)`` sorted by area, designs ``X`` ``(n, n_var)``.

    ``path`` is the cache file (``None`` when the cache directory is not writable);
    ``from_cache`` tells whether it was read from disk rather than built.
    """

    F: np.ndarray
    X: np.ndarray
    key: str
    path: Path | None
    from_cache: bool


def _hardware_axes() -> list[np.ndarray]:
    """Integer exponents of ``pe_rows, pe_cols, glb_kb, acc_kb, dram_ch``."""
    return [np.arange(int(lo), int(hi) + 1) for _, lo, hi in HARDWARE_DOMAINS[:5]]


def _ceil_div(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    return -(-a // b)


def _layer_table(layer: Layer) -> dict[str, np.ndarray]:
    """Per-tile best cycles of one layer for every (R, C, n_ch), with the argmins.

    Returns ``cycles`` ``(nR, nC, nCh, n_tiles)``, ``glb_group`` / ``acc_group`` (index of the
    smallest global buffer / accumulator the tile fits; one past the end when none),
    ``exps`` ``(n_tiles, 3)``, ``best_df`` ``(nR, nC, n_tiles)`` and ``best_ord`` ``(n_tiles,)``.
    """
    k = CONSTANTS
    r_e, c_e, sp_e, acc_e, ch_e = _hardware_axes()
    M, K, N = layer.M, layer.K, layer.N
    grids = np.meshgrid(*[np.arange((d - 1).bit_length() + 1) for d in (M, K, N)], indexing="ij")
    exps = np.stack([g.ravel() for g in grids], axis=1)
    tm = np.minimum(2 ** exps[:, 0], M)
    tk = np.minimum(2 ** exps[:, 1], K)
    tn = np.minimum(2 ** exps[:, 2], N)
    n_m, n_k, n_n = _ceil_div(M, tm), _ceil_div(K, tk), _ceil_div(N, tn)

    # Compute cycles, integer: (df, R, C, tile).
    R = (2**r_e)[None, :, None, None]
    C = (2**c_e)[None, None, :, None]
    s_r = np.stack([tk, tm, tk])[:, None, None, :]  # WS, OS, IS
    s_c = np.stack([tn, tn, tm])[:, None, None, :]
    depth = np.stack([tm, tk, tn])[:, None, None, :]
    compute = (n_m * n_k * n_n) * _ceil_div(s_r, R) * _ceil_div(s_c, C) * (2 * R + C + depth - 2)
    best_df = compute.argmin(axis=0)
    best_compute = compute.min(axis=0).astype(np.float64)

    # DRAM bytes, integer: (order, tile); psums are 4 bytes, spilled and refilled.
    psum = 4 * M * N * (2 * n_k - 1)
    traffic = np.stack(
        [
            M * K * n_n + K * N * n_m + M * N,  # C-stat
            K * N + M * K * n_n + psum,  # B-stat
            M * K + K * N * n_m + psum,  # A-stat
        ]
    )
    best_ord = traffic.argmin(axis=0)
    bandwidth = k.dram_bytes_per_cycle * 2.0**ch_e
    memory = traffic.min(axis=0)[None, :] / bandwidth[:, None]  # (ch, tile)
    cycles = np.maximum(best_compute[:, :, None, :], memory[None, None, :, :])

    glb_caps = 1024 * 2**sp_e
    acc_caps = 1024 * 2**acc_e
    glb_group = np.searchsorted(glb_caps, 2 * (tm * tk + tk * tn), side="left")
    acc_group = np.searchsorted(acc_caps, 4 * tm * tn, side="left")
    return {
        "cycles": cycles,
        "glb_group": glb_group,
        "acc_group": acc_group,
        "exps": exps,
        "best_df": best_df,
        "best_ord": best_ord,
    }


def _best_per_buffers(table: dict[str, np.ndarray]) -> np.ndarray:
    """Minimum feasible cycles ``(nR, nC, nSP, nACC, nCh)`` of one layer."""
    cycles = table["cycles"]
    n_sp, n_acc = len(_hardware_axes()[2]), len(_hardware_axes()[3])
    # Tiles that fit no buffer at all get the group one past the end and are dropped below.
    group = table["glb_group"] * (n_acc + 1) + table["acc_group"]
    order = np.argsort(group, kind="stable")
    present, starts = np.unique(group[order], return_index=True)
    flat = cycles.reshape(-1, cycles.shape[-1])[:, order]
    grouped = np.full((flat.shape[0], (n_sp + 1) * (n_acc + 1)), np.inf)
    grouped[:, present] = np.minimum.reduceat(flat, starts, axis=1)
    grouped = grouped.reshape(*cycles.shape[:3], n_sp + 1, n_acc + 1)[..., :n_sp, :n_acc]
    # A tile fitting (s, a) fits every bigger pair: running minimum over both buffer axes.
    best = np.minimum.accumulate(np.minimum.accumulate(grouped, axis=-2), axis=-1)
    return best.transpose(0, 1, 3, 4, 2)


def _total_cycles(layers: Sequence[Layer], tables: Sequence[dict[str, np.ndarray]]) -> np.ndarray:
    total = np.zeros(tuple(len(a) for a in _hardware_axes()))
    for layer, table in zip(layers, tables, strict=True):
        total += layer.count * _best_per_buffers(table)
    return total


def min_total_cycles(layers: Sequence[Layer]) -> np.ndarray:
    """Best feasible total cycles (sum of ``count *`` each layer's minimum) per hardware.

    Shape ``(6, 6, 7, 8, 4)``: indices of ``pe_rows - 2, pe_cols - 2, glb_kb - 5,
    acc_kb - 3, dram_ch``.
    """
    return _total_cycles(layers, [_layer_table(layer) for layer in layers])


def build_reference(
    layers: Sequence[Layer], aspect_grid: int = 401
) -> tuple[np.ndarray, np.ndarray]:
    """Enumerate the exact front: ``(F, X)``, objectives and designs sorted by area."""
    axes = _hardware_axes()
    shape = tuple(len(a) for a in axes)
    tables = [_layer_table(layer) for layer in layers]
    total = _total_cycles(layers, tables)

    aspects = np.linspace(*_ASPECT_RANGE, aspect_grid)
    lin = np.meshgrid(*[2.0**a for a in axes], aspects, indexing="ij", sparse=True)
    with torch.no_grad():
        plan = floorplan(*(torch.from_numpy(a) for a in lin))
    area, clock = plan["area"].numpy(), plan["clock_ns"].numpy()
    latency = clock * total[..., None] * 1e-6
    F_all = np.stack([area.ravel(), latency.ravel()], axis=1)
    # One design per distinct front point (the first in grid order); distinct non-dominated
    # points of two objectives have distinct areas, so sorting by area orders the front.
    keep = np.flatnonzero(nondominated(F_all, keep_duplicates=False))
    keep = keep[np.argsort(F_all[keep, 0])]
    *hw_idx, aspect_idx = np.unravel_index(keep, (*shape, aspect_grid))

    # Designs: re-derive each layer's best schedule on the front's hardware.
    n_front = len(keep)
    X = np.empty((n_front, 6 + 5 * len(layers)))
    for j, (axis, idx) in enumerate(zip(axes, hw_idx, strict=True)):
        X[:, j] = axis[idx]
    X[:, 5] = aspects[aspect_idx]
    r_i, c_i, sp_i, acc_i, ch_i = hw_idx
    for i, table in enumerate(tables):
        cyc = table["cycles"][r_i, c_i, ch_i]  # (n_front, n_tiles)
        fits = (table["glb_group"][None, :] <= sp_i[:, None]) & (
            table["acc_group"][None, :] <= acc_i[:, None]
        )
        tile = np.where(fits, cyc, np.inf).argmin(axis=1)
        col = 6 + 5 * i
        X[:, col : col + 3] = table["exps"][tile]
        X[:, col + 3] = table["best_df"][r_i, c_i, tile]
        X[:, col + 4] = table["best_ord"][tile]
    return F_all[keep], X


# ---------------------------------------------------------------------- disk cache
def cache_directory(cache_dir: str | os.PathLike[str] | None = None) -> Path:
    """``cache_dir``, else ``$DSE_CACHE_DIR``, else ``$XDG_CACHE_HOME/dse``, else
    ``~/.cache/dse``."""
    if cache_dir is not None:
        return Path(cache_dir)
    if os.environ.get("DSE_CACHE_DIR"):
        return Path(os.environ["DSE_CACHE_DIR"])
    base = os.environ.get("XDG_CACHE_HOME") or Path.home() / ".cache"
    return Path(base) / "dse"


def cache_key(layers: Sequence[Layer], aspect_grid: int) -> str:
    """Hash of everything the front depends on (layer dimensions and counts in order, the
    constants, the variable domains, the grid, and the source of this module and of the
    model, whose floorplan it uses)."""
    payload = {
        "version": _FORMAT_VERSION,
        "layers": [[ly.M, ly.K, ly.N, ly.count] for ly in layers],
        "constants": CONSTANTS.as_dict(),
        "domains": [list(d) for d in HARDWARE_DOMAINS],
        "aspect_grid": [*_ASPECT_RANGE, int(aspect_grid)],
        "source": [
            hashlib.sha256(Path(f).read_bytes()).hexdigest() for f in (__file__, model.__file__)
        ],
    }
    return hashlib.sha256(json.dumps(payload, sort_keys=True).encode()).hexdigest()


def _checksum(F: np.ndarray, X: np.ndarray) -> str:
    digest = hashlib.sha256()
    for a in (F, X):
        digest.update(str(a.shape).encode())
        digest.update(np.ascontiguousarray(a, dtype=np.float64).tobytes())
    return digest.hexdigest()


def _load(path: Path, key: str, n_var: int) -> tuple[np.ndarray, np.ndarray] | None:
    """The cached ``(F, X)``, or ``None`` when missing, unreadable, stale or corrupt."""
    if not path.is_file():
        return None
    try:
        with np.load(path, allow_pickle=False) as data:
            meta = json.loads(str(data["meta"]))
            F, X = np.array(data["F"], dtype=np.float64), np.array(data["X"], dtype=np.float64)
    except (OSError, ValueError, KeyError, EOFError, zipfile.BadZipFile) as exc:
        _log.info("codesign reference cache %s unreadable (%s); rebuilding", path, exc)
        return None
    if meta.get("key") != key:
        _log.info("codesign reference cache %s is stale; rebuilding", path)
        return None
    ok = (
        F.ndim == 2
        and F.shape[1] == 2
        and X.shape == (len(F), n_var)
        and len(F) > 0
        and meta.get("checksum") == _checksum(F, X)
    )
    if not ok:
        _log.info("codesign reference cache %s fails its checksum; rebuilding", path)
        return None
    return F, X


def _save(path: Path, key: str, F: np.ndarray, X: np.ndarray) -> bool:
    """Write atomically (temporary file, then rename); ``False`` if the directory is not
    writable."""
    meta = json.dumps({"key": key, "checksum": _checksum(F, X), "version": _FORMAT_VERSION})
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=path.name, suffix=".tmp")
        try:
            with os.fdopen(fd, "wb") as fh:
                np.savez(fh, F=F, X=X, meta=np.array(meta))
            os.replace(tmp, path)
        finally:
            if os.path.exists(tmp):
                os.unlink(tmp)
    except OSError as exc:
        _log.warning("cannot write the codesign reference cache %s: %s", path, exc)
        return False
    return True


def reference_front(
    layers: Sequence[Layer],
    *,
    aspect_grid: int = 401,
    cache_dir: str | os.PathLike[str] | None = None,
) -> ReferenceFront:
    """The exact front of ``layers``, read from the disk cache or built and cached."""
    key = cache_key(layers, aspect_grid)
    path = cache_directory(cache_dir) / f"codesign_front_{key[:24]}.npz"
    n_var = 6 + 5 * len(layers)
    cached = _load(path, key, n_var)
    if cached is not None:
        F, X = cached
        return ReferenceFront(F=F, X=X, key=key, path=path, from_cache=True)
    F, X = build_reference(layers, aspect_grid)
    saved = _save(path, key, F, X)
    return ReferenceFront(F=F, X=X, key=key, path=path if saved else None, from_cache=False)
