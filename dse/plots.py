"""Plots of sweeps (matplotlib; every figure saved as PNG and PDF).

* :func:`plot_fronts` -- every method's front over the reference front: a scatter for two
  objectives, a 3D view plus the three pairwise projections for three, parallel
  coordinates (objectives scaled to ``[0, 1]``) for more.
* :func:`plot_hypervolume` -- hypervolume against evaluations or wall time per method; the
  line is the median over seeds and the band spans the seeds' minimum to maximum.
* :func:`plot_design_parameters` -- for co-design: the chosen hardware parameters along the
  combined front, against the first objective.
* :func:`plot_run` / :func:`plot_compare` draw all of the above for run folders.

Functions take plain arrays and DataFrames and return the figure, so notebooks can use them
directly; :func:`save` writes a figure in both formats.
"""

from __future__ import annotations

import hashlib
import json
import warnings
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

import matplotlib.pyplot as plt
import numpy as np
import pandas as pd
from matplotlib.figure import Figure

from dse.registry import renamed_keywords

__all__ = [
    "plot_compare",
    "plot_design_parameters",
    "plot_fronts",
    "plot_hypervolume",
    "plot_run",
    "save",
]

_FORMATS = ("png", "pdf")


def save(fig: Figure, path: str | Path, formats: Sequence[str] = _FORMATS) -> list[Path]:
    """Save ``fig`` as ``path.<fmt>`` for every format, close it, return the paths."""
    base = Path(path)
    base.parent.mkdir(parents=True, exist_ok=True)
    out = []
    for fmt in formats:
        p = base.with_suffix(f".{fmt}")
        fig.savefig(p, dpi=120, bbox_inches="tight")
        out.append(p)
    plt.close(fig)
    return out


def _nondominated(F: np.ndarray) -> np.ndarray:
    from dse.pareto import nondominated

    if len(F) == 0:
        return F
    return F[nondominated(F, keep_duplicates=False)]


def _log_axes(values: Sequence[np.ndarray], ax: Any, axes: Sequence[str] = ("x", "y")) -> None:
    """Log scale on an axis whose values are all positive and span over two decades
    (co-design latencies run from milliseconds to seconds)."""
    for k, which in enumerate(axes):
        col = np.concatenate([np.asarray(v, float)[:, k] for v in values if len(v)] or
                             [np.zeros(0)])
        col = col[np.isfinite(col)]
        if col.size and col.min() > 0 and col.max() / col.min() > 100:
            getattr(ax, f"set_{which}scale")("log")


def _sorted_front(F: np.ndarray) -> np.ndarray:
    return F[np.argsort(F[:, 0], kind="stable")] if len(F) else F


# ---------------------------------------------------------------------------- fronts
@renamed_keywords(ref_front="reference_front")
def plot_fronts(
    fronts: Mapping[str, np.ndarray],
    reference_front: np.ndarray | None = None,
    objective_names: Sequence[str] | None = None,
    title: str = "",
) -> Figure:
    """Overlay fronts (label -> ``(N, M)`` objectives) on ``reference_front`` (``(R, M)``,
    drawn in grey; ``None``: none).

    .. deprecated:: 0.1.0
        The old keyword ``ref_front=`` (``ref`` is a reference *point* in
        :mod:`dse.indicators`) still works, with a :class:`DeprecationWarning`, for one
        release.

    Raises
    ------
    ValueError
        When the fronts do not share one number of objectives.
    """
    arrays = {k: np.asarray(v, float).reshape(len(v), -1) for k, v in fronts.items()}
    dims = {a.shape[1] for a in arrays.values() if a.size} | (
        {np.asarray(reference_front).shape[1]} if reference_front is not None else set()
    )
    if len(dims) > 1:
        raise ValueError(f"fronts have different numbers of objectives: {sorted(dims)}")
    m = dims.pop() if dims else 2
    names = list(objective_names or [f"f{i + 1}" for i in range(m)])
    if len(names) != m:
        raise ValueError(f"objective_names has {len(names)} names for {m} objectives")
    ref = None if reference_front is None else np.asarray(reference_front, float)
    if m == 2:
        fig = _fronts_2d(arrays, ref, names)
    elif m == 3:
        fig = _fronts_3d(arrays, ref, names)
    else:
        fig = _fronts_parallel(arrays, ref, names)
    if title:
        fig.suptitle(title)
        fig.tight_layout()  # room for the title (3D axes otherwise run into it)
    return fig


def _fronts_2d(arrays: Mapping[str, np.ndarray], ref: np.ndarray | None,
               names: Sequence[str]) -> Figure:
    fig, ax = plt.subplots(figsize=(6.4, 4.8))
    if ref is not None and len(ref):
        r = _sorted_front(ref)
        ax.plot(r[:, 0], r[:, 1], "-", color="0.6", lw=2.5, alpha=0.7, label="reference front",
                zorder=1)
    for label, F in arrays.items():
        F = _sorted_front(F)
        ax.plot(F[:, 0], F[:, 1], "o-", ms=4, lw=0.8, label=f"{label} ({len(F)})", zorder=2)
    _log_axes([*arrays.values(), *([ref] if ref is not None else [])], ax)
    ax.set_xlabel(names[0])
    ax.set_ylabel(names[1])
    ax.grid(alpha=0.3)
    ax.legend(fontsize="small")
    return fig


def _fronts_3d(arrays: Mapping[str, np.ndarray], ref: np.ndarray | None,
               names: Sequence[str]) -> Figure:
    fig = plt.figure(figsize=(11, 9))
    ax3 = fig.add_subplot(2, 2, 1, projection="3d")
    pairs = [(0, 1), (0, 2), (1, 2)]
    axes = [fig.add_subplot(2, 2, k + 2) for k in range(3)]
    if ref is not None and len(ref):
        ax3.scatter(*ref.T, s=2, color="0.6", alpha=0.4, label="reference front")
        for ax, (i, j) in zip(axes, pairs, strict=True):
            ax.scatter(ref[:, i], ref[:, j], s=2, color="0.6", alpha=0.4)
    for label, F in arrays.items():
        (sc,) = [ax3.scatter(*F.T, s=10, label=f"{label} ({len(F)})")]
        colour = sc.get_facecolor()[0] if len(F) else None
        for ax, (i, j) in zip(axes, pairs, strict=True):
            ax.scatter(F[:, i], F[:, j], s=10, color=colour)
    ax3.set_xlabel(names[0])
    ax3.set_ylabel(names[1])
    ax3.set_zlabel(names[2])
    ax3.legend(fontsize="x-small")
    everything = [*arrays.values(), *([ref] if ref is not None else [])]
    for ax, (i, j) in zip(axes, pairs, strict=True):
        _log_axes([v[:, [i, j]] for v in everything if len(v)], ax)
        ax.set_xlabel(names[i])
        ax.set_ylabel(names[j])
        ax.grid(alpha=0.3)
    fig.tight_layout()
    return fig


def _fronts_parallel(arrays: Mapping[str, np.ndarray], ref: np.ndarray | None,
                     names: Sequence[str]) -> Figure:
    stacked = [a for a in arrays.values() if len(a)] + ([ref] if ref is not None else [])
    allF = np.concatenate(stacked) if stacked else np.zeros((0, len(names)))
    lo = allF.min(axis=0) if len(allF) else np.zeros(len(names))
    hi = allF.max(axis=0) if len(allF) else np.ones(len(names))
    width = np.where(hi > lo, hi - lo, 1.0)
    fig, ax = plt.subplots(figsize=(max(6.4, 1.2 * len(names)), 4.8))
    xs = np.arange(len(names))
    if ref is not None and len(ref):
        ref_lines = ax.plot(xs, ((ref - lo) / width).T, color="0.7", lw=0.5, alpha=0.3)
        ref_lines[0].set_label("reference front")
    for k, (label, F) in enumerate(arrays.items()):
        colour = f"C{k % 10}"
        lines = ax.plot(xs, ((F - lo) / width).T, color=colour, lw=0.8, alpha=0.6)
        if lines:
            lines[0].set_label(f"{label} ({len(F)})")
    ax.set_xticks(xs, names)
    ax.set_ylabel("objective scaled to [0, 1] (lower is better)")
    ax.grid(alpha=0.3)
    ax.legend(fontsize="small")
    return fig


# ---------------------------------------------------------------------------- hypervolume
def _spread(curves: list[tuple[np.ndarray, np.ndarray]], grid: np.ndarray) -> np.ndarray:
    """Each seed's curve as a step function on ``grid`` (NaN before its first point)."""
    out = np.full((len(curves), len(grid)), np.nan)
    for k, (x, y) in enumerate(curves):
        order = np.argsort(x, kind="stable")
        x, y = x[order], y[order]
        idx = np.searchsorted(x, grid, side="right") - 1
        ok = idx >= 0
        out[k, ok] = y[idx[ok]]
    return out


def plot_hypervolume(history: pd.DataFrame, x: str = "n_evals", *, title: str = "",
                     ax: Any = None) -> Figure:
    """Hypervolume against ``x`` (``n_evals`` or ``wall_time``) per method.

    ``history`` has columns ``method``, ``seed``, ``x`` and ``hypervolume`` (as
    :meth:`dse.store.Store.history` returns). The line is the median over seeds, the band
    the seeds' range.
    """
    if x not in ("n_evals", "wall_time", "n_grad_evals"):
        raise ValueError(f"x must be n_evals, n_grad_evals or wall_time, got {x!r}")
    missing = {"method", "seed", x, "hypervolume"} - set(history.columns)
    if missing:
        raise ValueError(f"history lacks column(s) {sorted(missing)}")
    if ax is None:
        fig, ax = plt.subplots(figsize=(6.4, 4.2))
    else:
        fig = ax.figure
    h = history.dropna(subset=[x, "hypervolume"])
    for k, (method, grp) in enumerate(h.groupby("method", sort=False)):
        curves = [(g[x].to_numpy(float), g["hypervolume"].to_numpy(float))
                  for _, g in grp.groupby("seed")]
        grid = np.unique(np.concatenate([c[0] for c in curves]))
        if grid.size == 0:
            continue
        ys = _spread(curves, grid)
        colour = f"C{k % 10}"
        with warnings.catch_warnings():
            # Columns before a seed's first checkpoint are all-NaN for that seed only.
            warnings.simplefilter("ignore", RuntimeWarning)
            med = np.nanmedian(ys, axis=0)
            lo, hi = np.nanmin(ys, axis=0), np.nanmax(ys, axis=0)
        ax.plot(grid, med, color=colour, drawstyle="steps-post",
                label=f"{method} ({len(curves)} seed{'s' if len(curves) > 1 else ''})")
        if len(curves) > 1:
            ax.fill_between(grid, lo, hi, color=colour, alpha=0.2, step="post")
    ax.set_xlabel({"n_evals": "objective evaluations", "wall_time": "wall time [s]",
                   "n_grad_evals": "gradient evaluations"}[x])
    ax.set_ylabel("hypervolume")
    if x == "wall_time" and len(h) and (h[x] > 0).all():
        ax.set_xscale("log")  # methods' times differ by orders of magnitude
    ax.grid(alpha=0.3)
    if ax.get_legend_handles_labels()[0]:
        ax.legend(fontsize="small")
    if title:
        ax.set_title(title)
    return fig


# ---------------------------------------------------------------------------- codesign
def plot_design_parameters(
    designs: pd.DataFrame,
    parameters: Sequence[str],
    objective: str,
    *,
    title: str = "",
) -> Figure:
    """Chosen design parameters along a front: one panel per parameter, against
    ``objective`` (e.g. area), points coloured by ``method``.

    ``designs`` has columns ``x.<parameter>``, ``f.<objective>`` and ``method`` (as
    :meth:`dse.store.Store.designs` returns).
    """
    cols = [f"x.{p}" for p in parameters]
    missing = sorted(set([*cols, f"f.{objective}", "method"]) - set(designs.columns))
    if missing:
        raise ValueError(f"designs lacks column(s) {missing}")
    if not parameters:
        raise ValueError("no parameters to plot")
    n = len(parameters)
    ncol = min(3, n)
    nrow = -(-n // ncol)
    fig, axes = plt.subplots(nrow, ncol, figsize=(4.2 * ncol, 3.0 * nrow), squeeze=False)
    d = designs.sort_values(f"f.{objective}")
    for k, (p, col) in enumerate(zip(parameters, cols, strict=True)):
        ax = axes[k // ncol][k % ncol]
        for j, (method, grp) in enumerate(d.groupby("method", sort=False)):
            ax.plot(grp[f"f.{objective}"], grp[col], "o", ms=3, alpha=0.7,
                    color=f"C{j % 10}", label=method)
        ax.set_title(p, fontsize="medium")
        ax.set_xlabel(objective)
        ax.grid(alpha=0.3)
    for k in range(n, nrow * ncol):
        axes[k // ncol][k % ncol].set_visible(False)
    handles, labels = axes[0][0].get_legend_handles_labels()
    if handles:
        fig.legend(handles, labels, loc="upper right", fontsize="small")
    fig.suptitle(title or f"design parameters along the fronts, against {objective}")
    fig.tight_layout()
    return fig


def hardware_parameters(variable_names: Sequence[str]) -> list[str]:
    """The per-design (not per-layer) variables: names without a ``.`` (layer variables
    are ``L<i>.<name>``)."""
    return [v for v in variable_names if "." not in v]


# ---------------------------------------------------------------------------- run folders
def _method_fronts(designs: pd.DataFrame, ocols: list[str], by: Sequence[str]) -> dict[
    str, np.ndarray
]:
    """Per group: the non-dominated union of its runs' fronts (all seeds pooled)."""
    fronts = {}
    for key, grp in designs.groupby(list(by), sort=False):
        label = ":".join(str(k) for k in (key if isinstance(key, tuple) else (key,)))
        fronts[label] = _nondominated(grp[ocols].to_numpy(float))
    return fronts


def _draw(stores: Sequence[Any], labels: Sequence[str], out: Path, *,
          job_keys: set[str] | None, offset: float) -> list[Path]:
    from dse.run_metrics import stored_reference

    runs, designs, hist = [], [], []
    for label, store in zip(labels, stores, strict=True):
        r = store.runs()
        if job_keys is not None:
            r = r[r["job_key"].isin(job_keys)]
        r = r.assign(run=label)
        # Variables only where a plot shows them (co-design hardware).
        need_x = bool((r["problem"] == "codesign").any())
        d = store.designs(front_only=True, variables=need_x).assign(run=label)
        h = store.history().assign(run=label)
        runs.append(r)
        designs.append(d[d["run_id"].isin(r["run_id"])])
        hist.append(h[h["run_id"].isin(r["run_id"])])
    R = pd.concat(runs, ignore_index=True)
    D = pd.concat(designs, ignore_index=True)
    H = pd.concat(hist, ignore_index=True)
    if R.empty:
        return []
    many = len(stores) > 1
    by = ["run", "method"] if many else ["method"]
    if many:
        # Keep methods of different folders apart in the HV plots as well.
        H = H.assign(method=H["run"] + ":" + H["method"])
        D = D.assign(label=D["run"] + ":" + D["method"])
    R["params_json"] = [json.dumps(p, sort_keys=True) for p in R["problem_params"]]
    paths: list[Path] = []
    for (name, pjson), grp in R.groupby(["problem", "params_json"], sort=False):
        params = json.loads(pjson)
        suffix = "" if R[["problem", "params_json"]].drop_duplicates().shape[0] == 1 else (
            f"-{name}-{hashlib.sha1(pjson.encode()).hexdigest()[:6]}")
        onames = list(grp["objective_names"].iloc[0])
        ocols = [f"f.{o}" for o in onames]
        ids = set(zip(grp["run"], grp["run_id"], strict=True))
        sel = D[[(r, i) in ids for r, i in zip(D["run"], D["run_id"], strict=True)]]
        ref_front, _ = stored_reference(name, params, offset)
        fronts = _method_fronts(sel, ocols, by)
        tag = f"{name} {params}" if params else name
        fig = plot_fronts(fronts, ref_front, onames, title=f"fronts: {tag}")
        paths += save(fig, out / f"fronts{suffix}")
        hsel = H[[(r, i) in ids for r, i in zip(H["run"], H["run_id"], strict=True)]]
        fig, axes = plt.subplots(1, 2, figsize=(12, 4.2))
        plot_hypervolume(hsel, "n_evals", ax=axes[0])
        plot_hypervolume(hsel, "wall_time", ax=axes[1])
        fig.suptitle(f"hypervolume: {tag}")
        fig.tight_layout()
        paths += save(fig, out / f"hypervolume{suffix}")
        hw = hardware_parameters(grp["variable_names"].iloc[0])
        if name == "codesign" and hw and len(sel):
            plot_sel = sel.assign(method=sel["label"]) if many else sel
            # Only designs on the combined front of all methods: what the trade-off picks.
            from dse.pareto import nondominated

            mask = nondominated(plot_sel[ocols].to_numpy(float))
            fig = plot_design_parameters(plot_sel[mask], hw, onames[0],
                                         title=f"hardware along the combined front: {tag}")
            paths += save(fig, out / f"hardware{suffix}")
    return paths


def plot_run(run_dir: str | Path, *, job_keys: set[str] | None = None,
             offset: float = 0.1) -> list[Path]:
    """(Re)draw every plot of a run folder into ``<run>/plots``; returns the files."""
    from dse.store import Store

    run_dir = Path(run_dir)
    with Store(run_dir, create=False) as store:
        return _draw([store], [run_dir.name], run_dir / "plots", job_keys=job_keys,
                     offset=offset)


def plot_compare(run_dirs: Sequence[str | Path], out: str | Path, *,
                 offset: float = 0.1) -> list[Path]:
    """Overlay the fronts and HV curves of several run folders into ``out``."""
    from dse.run_metrics import run_labels
    from dse.store import Store

    stores = [Store(d, create=False) for d in run_dirs]
    try:
        return _draw(stores, run_labels(run_dirs), Path(out), job_keys=None, offset=offset)
    finally:
        for s in stores:
            s.close()
