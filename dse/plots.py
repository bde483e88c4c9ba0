"""Plots of sweeps (matplotlib; every figure saved as PNG and PDF).

* :func:`plot_fronts` -- every method's front over the reference front: a scatter for two
  objectives (markers joined by the staircase each front attains, so a gap stays a gap),
  a 3D view plus the three pairwise projections for three, parallel coordinates
  (objectives scaled to ``[0, 1]``) for more. One marker per family of methods (gradient,
  evolutionary, hybrid), one colour per method, the HV ratio in the legend, best first.
* :func:`plot_hypervolume` -- hypervolume (or HV ratio, where the front is known, with a
  line at 1) against evaluations or wall time per method; the line is the median over
  seeds and the band spans the seeds' minimum to maximum.
* :func:`plot_design_parameters` -- design parameters along a front, against an objective.
* :func:`plot_run` / :func:`plot_compare` draw all of the above for run folders, plus the
  extra plots a problem family registers with :func:`register_family_plot` (co-design:
  its hardware along the fronts).

Functions take plain arrays and DataFrames and return the figure, so notebooks can use them
directly; :func:`save` writes a figure in both formats. matplotlib is imported when a
figure is drawn, not with this module (problem families import it to register plots).
"""

from __future__ import annotations

import hashlib
import json
import warnings
from collections.abc import Callable, Mapping, Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np
import pandas as pd

from dse.registry import Registry, renamed_keywords

if TYPE_CHECKING:
    from matplotlib.figure import Figure

__all__ = [
    "FAMILY_PLOTS",
    "family_handles",
    "knee_index",
    "legend_outside",
    "log_axes",
    "plot_compare",
    "plot_design_parameters",
    "plot_fronts",
    "plot_hypervolume",
    "plot_run",
    "register_family_plot",
    "save",
    "series_fronts",
    "series_styles",
    "stored_problem",
]

_FORMATS = ("png", "pdf")

#: Marker of each family of methods (the registry's solver kinds); hollow for the
#: evolutionary ones, so families read apart even where colours are close.
FAMILY_MARKERS = {"gradient": "o", "evolutionary": "^", "hybrid": "D"}
_OTHER_MARKER = "s"
_FAMILY_LINES = {"gradient": "-", "evolutionary": "--", "hybrid": "-."}

#: Extra plots of a problem family, found by the stored problem's name. The entry is
#: ``fn(problem, designs, *, styles, title) -> {file stem: Figure}``: ``designs`` holds every
#: series' own front (``x.*``, ``f.*`` columns, ``method`` the series label and
#: ``combined_front``, True for designs on the front of all series together), ``styles``
#: what :func:`series_styles` gives, so a family plot draws each method as the fronts do.
FAMILY_PLOTS: Registry[Callable[..., Mapping[str, Any]]] = Registry("family plot")


def register_family_plot(problem: str, *, aliases: tuple[str, ...] = ()) -> Any:
    """Decorator registering extra plots for the runs of problem ``problem``."""
    return FAMILY_PLOTS.register(problem, aliases=aliases)


def _plt() -> Any:
    import matplotlib.pyplot as plt

    return plt


def save(fig: Figure, path: str | Path, formats: Sequence[str] = _FORMATS) -> list[Path]:
    """Save ``fig`` as ``path.<fmt>`` for every format, close it, return the paths."""
    base = Path(path)
    base.parent.mkdir(parents=True, exist_ok=True)
    out = []
    for fmt in formats:
        p = base.with_suffix(f".{fmt}")
        fig.savefig(p, dpi=120, bbox_inches="tight")
        out.append(p)
    _plt().close(fig)
    return out


# ---------------------------------------------------------------------------- styles
def _palette(n: int) -> list[Any]:
    """``n`` distinct colours: tab10 up to 10, tab20 (its dark shades first) up to 20,
    evenly spaced samples of a perceptual map beyond."""
    from matplotlib import colormaps

    if n <= 10:
        return [colormaps["tab10"](k) for k in range(n)]
    if n <= 20:
        order = [*range(0, 20, 2), *range(1, 20, 2)]
        return [colormaps["tab20"](k) for k in order[:n]]
    return [colormaps["turbo"](v) for v in np.linspace(0.03, 0.97, n)]


def series_styles(labels: Sequence[str], kinds: Mapping[str, str] | None = None
                  ) -> dict[str, dict[str, Any]]:
    """One style per series: a colour of its own (no colour repeats, however many
    series), the marker and line style of its family (``kinds``: label -> solver kind,
    ``gradient``, ``evolutionary`` or ``hybrid``; unknown: squares).

    Each style has ``color``, ``marker``, ``linestyle``, ``mfc`` (marker face colour:
    ``"none"`` for the hollow evolutionary markers) and ``family``.
    """
    labels = list(dict.fromkeys(labels))
    colours = _palette(len(labels))
    kinds = kinds or {}
    out = {}
    for label, colour in zip(labels, colours, strict=True):
        family = str(kinds.get(label, "") or "")
        out[label] = {
            "color": colour,
            "marker": FAMILY_MARKERS.get(family, _OTHER_MARKER),
            "linestyle": _FAMILY_LINES.get(family, ":"),
            "mfc": "none" if family == "evolutionary" else colour,
            "family": family,
        }
    return out


def family_handles(styles: Mapping[str, Mapping[str, Any]]) -> list[Any]:
    """Grey legend entries explaining the markers of the families present."""
    from matplotlib.lines import Line2D

    present = list(dict.fromkeys(s["family"] for s in styles.values()))
    return [Line2D([], [], color="0.35", ls="none",
                   marker=FAMILY_MARKERS.get(f, _OTHER_MARKER),
                   mfc="none" if f == "evolutionary" else "0.35", label=f or "other")
            for f in present]


# ---------------------------------------------------------------------------- helpers
def _nondominated(F: np.ndarray) -> np.ndarray:
    from dse.pareto import nondominated

    if len(F) == 0:
        return F
    return F[nondominated(F, keep_duplicates=False)]


def knee_index(F: np.ndarray) -> int:
    """Index of the knee of a front ``F`` ``(N, M)``: with every objective scaled to
    ``[0, 1]`` over the front, the design with the smallest sum, i.e. the one farthest
    below the plane through the front's extremes (for two objectives: the point farthest
    from the line joining the two ends). ``ValueError`` for an empty front."""
    F = np.asarray(F, float)
    if F.ndim != 2 or len(F) == 0:
        raise ValueError(f"knee_index needs a non-empty (N, M) front, got shape {F.shape}")
    lo, hi = F.min(axis=0), F.max(axis=0)
    scaled = (F - lo) / np.where(hi > lo, hi - lo, 1.0)
    return int(np.argmin(scaled.sum(axis=1)))


def _wants_log(col: np.ndarray) -> bool:
    """Log scale for values that are all positive, span at least two decades and crowd
    into the lowest tenth of a linear axis (co-design latencies: milliseconds to
    seconds); values spread over ``[0, 1]`` stay linear however small their minimum."""
    col = col[np.isfinite(col)]
    if col.size < 2 or col.min() <= 0 or col.max() / col.min() < 100:
        return False
    return bool(np.median(col) < col.min() + 0.1 * (col.max() - col.min()))


def log_axes(values: Sequence[np.ndarray], ax: Any, axes: Sequence[str] = ("x", "y")) -> None:
    """Log scale on each of ``axes`` whose column of ``values`` (arrays ``(N, len(axes))``)
    spans decades and crowds a linear axis (see :func:`_wants_log`)."""
    for k, which in enumerate(axes):
        col = np.concatenate([np.asarray(v, float)[:, k] for v in values if len(v)] or
                             [np.zeros(0)])
        if _wants_log(col):
            getattr(ax, f"set_{which}scale")("log")


def _sorted_front(F: np.ndarray) -> np.ndarray:
    return F[np.argsort(F[:, 0], kind="stable")] if len(F) else F


def _legend_label(label: str, n: int, score: float | None, score_name: str,
                  best: bool) -> str:
    if score is None or not np.isfinite(score):
        return f"{label} ({n})"
    mark = "  best" if best else ""
    return f"{label}: {score_name} {score:.3g} ({n}){mark}"


def legend_outside(target: Any, handles: list[Any], *, title: str | None = None,
                   families: list[Any] | None = None) -> None:
    """One legend to the right of the axes (or figure), outside the data; ``families``
    (from :func:`family_handles`) listed under a ``family`` heading at its end."""
    from matplotlib.lines import Line2D

    if not handles:
        return
    if families:
        handles = [*handles, Line2D([], [], ls="none", label=" "),
                   Line2D([], [], ls="none", label="family (marker):"), *families]
    kw = {"fontsize": "small", "frameon": False, "title_fontsize": "small",
          "title": title, "handles": handles, "loc": "upper left"}
    if hasattr(target, "transAxes"):
        target.legend(bbox_to_anchor=(1.02, 1.0), borderaxespad=0.0, **kw)
    else:  # a figure: just right of its rightmost axes
        right = max((a.get_position().x1 for a in target.axes), default=0.85)
        target.legend(bbox_to_anchor=(right + 0.01, 0.93), **kw)


# ---------------------------------------------------------------------------- fronts
@renamed_keywords(ref_front="reference_front")
def plot_fronts(
    fronts: Mapping[str, np.ndarray],
    reference_front: np.ndarray | None = None,
    objective_names: Sequence[str] | None = None,
    title: str = "",
    *,
    kinds: Mapping[str, str] | None = None,
    scores: Mapping[str, float] | None = None,
    score_name: str = "HV ratio",
    knee: np.ndarray | None = None,
    styles: Mapping[str, Mapping[str, Any]] | None = None,
) -> Figure:
    """Overlay fronts (label -> ``(N, M)`` objectives) on ``reference_front`` (``(R, M)``,
    drawn in grey; ``None``: none).

    ``objective_names`` label the axes (give labels with units, e.g. a problem's
    ``objective_labels``); ``kinds`` (label -> solver kind) picks each family's marker;
    ``scores`` (label -> e.g. HV ratio, higher is better) go into the legend, which then
    lists the series best first; ``knee`` (``(M,)``) is marked with a star; ``styles``
    overrides :func:`series_styles`. Two objectives: each front's markers joined by the
    staircase it attains (a gap shows as a long flat step, never as a covered stretch).

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
    st = dict(styles) if styles is not None else series_styles(list(arrays), kinds)
    # Legend order: best score first (the question the plot answers), then the others.
    order = list(arrays)
    if scores:
        def key(label: str) -> float:
            v = scores.get(label)
            return -float(v) if v is not None and np.isfinite(v) else np.inf

        order = sorted(order, key=key)
    finite = [float(v) for v in (scores or {}).values() if v is not None and np.isfinite(v)]
    top = max(finite) if finite else None
    legend = {lab: _legend_label(lab, len(arrays[lab]), (scores or {}).get(lab), score_name,
                                 top is not None and top > 0 and len(arrays) > 1
                                 and (scores or {}).get(lab) == top)
              for lab in arrays}
    knee_pt = None if knee is None else np.asarray(knee, float).reshape(-1)
    if m == 2:
        fig = _fronts_2d(arrays, ref, names, st, legend, order, knee_pt)
    elif m == 3:
        fig = _fronts_3d(arrays, ref, names, st, legend, order, knee_pt)
    else:
        fig = _fronts_parallel(arrays, ref, names, st, legend, order)
    if title:
        fig.suptitle(title)
        fig.tight_layout()  # room for the title (3D axes otherwise run into it)
    return fig


def _fronts_2d(arrays: Mapping[str, np.ndarray], ref: np.ndarray | None,
               names: Sequence[str], st: Mapping[str, Mapping[str, Any]],
               legend: Mapping[str, str], order: Sequence[str],
               knee: np.ndarray | None) -> Figure:
    fig, ax = _plt().subplots(figsize=(8.6, 5.2))
    handles = []
    if ref is not None and len(ref):
        r = _sorted_front(ref)
        (h,) = ax.plot(r[:, 0], r[:, 1], "-", color="0.6", lw=2.5, alpha=0.7,
                       drawstyle="steps-post", label="reference front", zorder=1)
        handles.append(h)
    drawn = {}
    for label, F in arrays.items():
        s = st[label]
        F = _sorted_front(F)
        (drawn[label],) = ax.plot(
            F[:, 0], F[:, 1], marker=s["marker"], ms=5, mfc=s["mfc"], mew=1.0,
            color=s["color"], ls=s["linestyle"], lw=0.7, drawstyle="steps-post",
            label=legend[label], zorder=2)
    handles += [drawn[k] for k in order]
    if knee is not None and len(knee) == 2:
        (h,) = ax.plot(knee[0], knee[1], "*", ms=16, color="gold", mec="black", mew=0.8,
                       ls="none", label="knee of the combined front", zorder=5)
        handles.append(h)
    log_axes([*arrays.values(), *([ref] if ref is not None else [])], ax)
    ax.set_xlabel(names[0])
    ax.set_ylabel(names[1])
    ax.grid(alpha=0.3)
    ax.text(0.99, 0.99, "lower is better on both axes", transform=ax.transAxes,
            ha="right", va="top", fontsize="x-small", color="0.4")
    legend_outside(ax, handles, families=family_handles({k: st[k] for k in arrays}))
    fig.tight_layout()
    return fig


def _fronts_3d(arrays: Mapping[str, np.ndarray], ref: np.ndarray | None,
               names: Sequence[str], st: Mapping[str, Mapping[str, Any]],
               legend: Mapping[str, str], order: Sequence[str],
               knee: np.ndarray | None) -> Figure:
    fig = _plt().figure(figsize=(13, 9))
    ax3 = fig.add_subplot(2, 2, 1, projection="3d")
    pairs = [(0, 1), (0, 2), (1, 2)]
    axes = [fig.add_subplot(2, 2, k + 2) for k in range(3)]
    handles = []
    if ref is not None and len(ref):
        handles.append(ax3.scatter(*ref.T, s=2, color="0.6", alpha=0.4,
                                   label="reference front"))
        for ax, (i, j) in zip(axes, pairs, strict=True):
            ax.scatter(ref[:, i], ref[:, j], s=2, color="0.6", alpha=0.4)
    drawn = {}
    for label, F in arrays.items():
        s = st[label]
        face = "none" if s["mfc"] == "none" else s["color"]
        kw = {"marker": s["marker"], "facecolors": face, "edgecolors": [s["color"]]}
        drawn[label] = ax3.scatter(*F.T, s=14, label=legend[label], **kw)
        for ax, (i, j) in zip(axes, pairs, strict=True):
            ax.scatter(F[:, i], F[:, j], s=12, **kw)
    handles += [drawn[k] for k in order]
    if knee is not None and len(knee) == 3:
        handles.append(ax3.scatter(*knee[:, None], marker="*", s=200, color="gold",
                                   edgecolors="black", label="knee of the combined front"))
        for ax, (i, j) in zip(axes, pairs, strict=True):
            ax.scatter([knee[i]], [knee[j]], marker="*", s=200, color="gold",
                       edgecolors="black", zorder=5)
    ax3.set_xlabel(names[0])
    ax3.set_ylabel(names[1])
    ax3.set_zlabel(names[2])
    everything = [*arrays.values(), *([ref] if ref is not None else [])]
    for ax, (i, j) in zip(axes, pairs, strict=True):
        log_axes([v[:, [i, j]] for v in everything if len(v)], ax)
        ax.set_xlabel(names[i])
        ax.set_ylabel(names[j])
        ax.grid(alpha=0.3)
    fig.tight_layout(rect=(0, 0, 0.8, 1))
    legend_outside(fig, handles, families=family_handles({k: st[k] for k in arrays}))
    return fig


def _fronts_parallel(arrays: Mapping[str, np.ndarray], ref: np.ndarray | None,
                     names: Sequence[str], st: Mapping[str, Mapping[str, Any]],
                     legend: Mapping[str, str], order: Sequence[str]) -> Figure:
    stacked = [a for a in arrays.values() if len(a)] + ([ref] if ref is not None else [])
    allF = np.concatenate(stacked) if stacked else np.zeros((0, len(names)))
    lo = allF.min(axis=0) if len(allF) else np.zeros(len(names))
    hi = allF.max(axis=0) if len(allF) else np.ones(len(names))
    width = np.where(hi > lo, hi - lo, 1.0)
    fig, ax = _plt().subplots(figsize=(max(8.6, 1.2 * len(names) + 2.5), 4.8))
    xs = np.arange(len(names))
    handles = []
    if ref is not None and len(ref):
        ref_lines = ax.plot(xs, ((ref - lo) / width).T, color="0.7", lw=0.5, alpha=0.3)
        ref_lines[0].set_label("reference front")
        handles.append(ref_lines[0])
    drawn = {}
    for label, F in arrays.items():
        s = st[label]
        lines = ax.plot(xs, ((F - lo) / width).T, color=s["color"], ls=s["linestyle"],
                        lw=0.8, alpha=0.6)
        if lines:
            lines[0].set_label(legend[label])
            drawn[label] = lines[0]
    handles += [drawn[k] for k in order if k in drawn]
    ax.set_xticks(xs, names)
    ax.set_ylabel("objective scaled to [0, 1] (lower is better)")
    ax.grid(alpha=0.3)
    legend_outside(ax, handles)
    fig.tight_layout()
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
                     ax: Any = None, reference_hv: float | Mapping[Any, float] | None = None,
                     styles: Mapping[str, Mapping[str, Any]] | None = None,
                     legend: bool = True) -> Figure:
    """Hypervolume against ``x`` (``n_evals`` or ``wall_time``) per method.

    ``history`` has columns ``method``, ``seed``, ``x`` and ``hypervolume`` (as
    :meth:`dse.store.Store.history` returns). The line is the median over seeds, the band
    the seeds' range. With ``reference_hv`` (the reference front's hypervolume, one number
    or a mapping ``run_id -> number`` when runs used different reference points) the axis
    is the HV ratio, with a line at 1 for the reference front. ``styles``: as
    :func:`series_styles` gives (default: one colour per method); ``legend=False`` leaves
    the legend to the caller (a figure of several panels shares one).
    """
    if x not in ("n_evals", "wall_time", "n_grad_evals"):
        raise ValueError(f"x must be n_evals, n_grad_evals or wall_time, got {x!r}")
    missing = {"method", "seed", x, "hypervolume"} - set(history.columns)
    if missing:
        raise ValueError(f"history lacks column(s) {sorted(missing)}")
    if ax is None:
        fig, ax = _plt().subplots(figsize=(8.0, 4.2))
    else:
        fig = ax.figure
    h = history.dropna(subset=[x, "hypervolume"])
    ratio = reference_hv is not None
    if isinstance(reference_hv, Mapping):
        if "run_id" not in h.columns:
            raise ValueError("a reference_hv per run needs a run_id column in history")
        denom = h["run_id"].map(reference_hv).astype(float)
        h = h.assign(hypervolume=h["hypervolume"] / denom).dropna(subset=["hypervolume"])
    elif reference_hv is not None:
        if not reference_hv > 0:
            raise ValueError(f"reference_hv must be positive, got {reference_hv}")
        h = h.assign(hypervolume=h["hypervolume"] / float(reference_hv))
    st = dict(styles) if styles is not None else series_styles(
        list(dict.fromkeys(h["method"])))
    for method, grp in h.groupby("method", sort=False):
        curves = [(g[x].to_numpy(float), g["hypervolume"].to_numpy(float))
                  for _, g in grp.groupby("seed")]
        grid = np.unique(np.concatenate([c[0] for c in curves]))
        if grid.size == 0:
            continue
        ys = _spread(curves, grid)
        colour = st[method]["color"] if method in st else None
        with warnings.catch_warnings():
            # Columns before a seed's first checkpoint are all-NaN for that seed only.
            warnings.simplefilter("ignore", RuntimeWarning)
            med = np.nanmedian(ys, axis=0)
            lo, hi = np.nanmin(ys, axis=0), np.nanmax(ys, axis=0)
        ax.plot(grid, med, color=colour, ls=st.get(method, {}).get("linestyle", "-"),
                drawstyle="steps-post",
                label=f"{method} ({len(curves)} seed{'s' if len(curves) > 1 else ''})")
        if len(curves) > 1:
            ax.fill_between(grid, lo, hi, color=colour, alpha=0.2, step="post")
    if ratio:
        ax.axhline(1.0, color="black", lw=1.0, label="reference front (= 1)")
    ax.set_xlabel({"n_evals": "objective evaluations", "wall_time": "wall time [s]",
                   "n_grad_evals": "gradient evaluations"}[x])
    ax.set_ylabel("HV ratio (hypervolume / reference front's)" if ratio else "hypervolume")
    if x == "wall_time" and len(h) and (h[x] > 0).all():
        ax.set_xscale("log")  # methods' times differ by orders of magnitude
    ax.grid(alpha=0.3)
    if legend and ax.get_legend_handles_labels()[0]:
        legend_outside(ax, ax.get_legend_handles_labels()[0])
    if title:
        ax.set_title(title)
    return fig


# ---------------------------------------------------------------------------- parameters
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
    :meth:`dse.store.Store.designs` returns). A family with its own encoding (co-design's
    log2 sizes) registers a plot in real units with :func:`register_family_plot`.
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
    fig, axes = _plt().subplots(nrow, ncol, figsize=(4.2 * ncol, 3.0 * nrow), squeeze=False)
    d = designs.sort_values(f"f.{objective}")
    st = series_styles(list(dict.fromkeys(d["method"])))
    for k, (p, col) in enumerate(zip(parameters, cols, strict=True)):
        ax = axes[k // ncol][k % ncol]
        for method, grp in d.groupby("method", sort=False):
            ax.plot(grp[f"f.{objective}"], grp[col], "o", ms=3, alpha=0.7,
                    color=st[method]["color"], label=method)
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
def series_fronts(designs: pd.DataFrame, ocols: list[str], by: Sequence[str]
                   ) -> tuple[dict[str, np.ndarray], pd.DataFrame]:
    """Per series (``by`` joined with ``:``): the non-dominated union of its runs' fronts
    (all seeds pooled), as arrays and as the designs' rows (``method`` = the label)."""
    from dse.pareto import nondominated

    fronts, rows = {}, []
    for key, grp in designs.groupby(list(by), sort=False):
        label = ":".join(str(k) for k in (key if isinstance(key, tuple) else (key,)))
        F = grp[ocols].to_numpy(float)
        keep = nondominated(F, keep_duplicates=False) if len(F) else np.zeros(0, bool)
        fronts[label] = F[keep]
        rows.append(grp[keep].assign(method=label))
    return fronts, (pd.concat(rows, ignore_index=True) if rows else designs.iloc[:0])


def stored_problem(name: str, params: dict[str, Any]) -> Any:
    """The problem of stored runs, or ``None`` when it cannot be built in this process."""
    from dse.problem_specs import build_problem

    try:
        return build_problem(name, **params)
    except (TypeError, ValueError):
        return None


def _reference_hvs(ref_front: np.ndarray | None, runs: pd.DataFrame) -> dict[Any, float]:
    """``run_id -> HV of the reference front`` at each run's own stored reference point
    (the point its history was measured with)."""
    from dse.indicators import hypervolume

    if ref_front is None or "ref_point" not in runs.columns:
        return {}
    out, cache = {}, {}
    for rid, point in zip(runs["run_id"], runs["ref_point"], strict=True):
        if point is None or (not isinstance(point, (list, tuple, np.ndarray))
                             and pd.isna(point)):
            continue
        key = tuple(np.asarray(point, float).ravel())
        if key not in cache:
            cache[key] = float(hypervolume(ref_front, np.asarray(key)))
        if cache[key] > 0:
            out[rid] = cache[key]
    return out


def _scores(metrics: pd.DataFrame, label_of: Callable[[pd.Series], str]
            ) -> tuple[dict[str, float], str]:
    """Mean HV ratio per series (or mean hypervolume where no front is known)."""
    if metrics.empty:
        return {}, "HV"
    col = "hv_ratio" if metrics["hv_ratio"].notna().any() else "hypervolume"
    labels = metrics.apply(label_of, axis=1)
    means = metrics[col].astype(float).groupby(labels, sort=False).mean()
    return {k: float(v) for k, v in means.items()}, ("HV ratio" if col == "hv_ratio"
                                                       else "HV")


def _draw(stores: Sequence[Any], labels: Sequence[str], out: Path, *,
          job_keys: set[str] | None, offset: float) -> list[Path]:
    from dse.problem import list_problems, objective_label
    from dse.run_metrics import metrics_table, reference_for

    list_problems()  # loads the problem families, and with them their extra plots
    runs, designs, hist = [], [], []
    for label, store in zip(labels, stores, strict=True):
        r = store.runs()
        if job_keys is not None:
            r = r[r["job_key"].isin(job_keys)]
        r = r.assign(run=label)
        # Variables only where a family plot shows them (co-design hardware).
        need_x = any(p in FAMILY_PLOTS for p in r["problem"].unique())
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
    M = metrics_table(stores, labels, offset=offset, job_keys=job_keys)
    many = len(stores) > 1
    by = ["run", "method"] if many else ["method"]

    def label_of(row: pd.Series) -> str:
        return f"{row['run']}:{row['method']}" if many else str(row["method"])

    if many:
        # Keep methods of different folders apart in the HV plots as well.
        H = H.assign(method=H["run"] + ":" + H["method"])
    R["params_json"] = [json.dumps(p, sort_keys=True) for p in R["problem_params"]]
    R["label"] = R.apply(label_of, axis=1)
    paths: list[Path] = []
    n_groups = R[["problem", "params_json"]].drop_duplicates().shape[0]
    for (name, pjson), grp in R.groupby(["problem", "params_json"], sort=False):
        params = json.loads(pjson)
        suffix = "" if n_groups == 1 else (
            f"-{name}-{hashlib.sha1(pjson.encode()).hexdigest()[:6]}")
        onames = list(grp["objective_names"].iloc[0])
        ocols = [f"f.{o}" for o in onames]
        problem = stored_problem(name, params)
        axis_labels = (list(problem.objective_labels) if problem is not None
                       and len(problem.objective_labels) == len(onames)
                       else [objective_label(o) for o in onames])
        ids = set(zip(grp["run"], grp["run_id"], strict=True))
        sel = D[[(r, i) in ids for r, i in zip(D["run"], D["run_id"], strict=True)]]
        ref_front = reference_for(problem, offset)[0] if problem is not None else None
        fronts, front_rows = series_fronts(sel, ocols, by)
        kinds = dict(zip(grp["label"], grp["kind"], strict=True))
        styles = series_styles(list(fronts) or list(dict.fromkeys(grp["label"])), kinds)
        mgrp = M[[(r, i) in ids for r, i in zip(M["run"], M["run_id"], strict=True)]]
        scores, score_name = _scores(mgrp, label_of)
        union = np.concatenate([f for f in fronts.values() if len(f)] or
                               [np.zeros((0, len(onames)))])
        combined = _nondominated(union)
        knee = combined[knee_index(combined)] if len(combined) else None
        tag = f"{name} {params}" if params else name
        fig = plot_fronts(fronts, ref_front, axis_labels, title=f"fronts: {tag}",
                          scores=scores, score_name=score_name, knee=knee, styles=styles)
        paths += save(fig, out / f"fronts{suffix}")
        hsel = H[[(r, i) in ids for r, i in zip(H["run"], H["run_id"], strict=True)]]
        ref_hv = _reference_hvs(ref_front, grp)
        use_ratio = bool(ref_hv) and hsel["run_id"].isin(list(ref_hv)).all()
        fig, axes = _plt().subplots(1, 2, figsize=(13, 4.4))
        for ax, x in zip(axes, ("n_evals", "wall_time"), strict=True):
            plot_hypervolume(hsel, x, ax=ax, styles=styles, legend=False,
                             reference_hv=ref_hv if use_ratio else None)
        fig.suptitle(f"{'HV ratio' if use_ratio else 'hypervolume'}: {tag}"
                     " (median over seeds; band: their range)")
        fig.tight_layout(rect=(0, 0, 0.83, 1))
        legend_outside(fig, axes[0].get_legend_handles_labels()[0])
        paths += save(fig, out / f"hypervolume{suffix}")
        if problem is not None and name in FAMILY_PLOTS and len(front_rows):
            from dse.pareto import nondominated

            union_mask = nondominated(front_rows[ocols].to_numpy(float))
            family = FAMILY_PLOTS.get(name)
            figs = family(problem, front_rows.assign(combined_front=union_mask),
                          styles=styles, title=tag)
            for stem, f in figs.items():
                paths += save(f, out / f"{stem}{suffix}")
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
