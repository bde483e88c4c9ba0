"""What co-design adds to the plots and the report of a run folder.

* ``hardware`` plot (:func:`plot_hardware`): each method's hardware along its front, against
  the first objective (area), in real units -- PEs, KB, DRAM channels, the buffer's aspect
  ratio -- on power-of-two axes with one tick per value the variable can take.
* design description (:func:`describe_design`): a design's hardware, its cost and its
  schedule (per layer: tiles, dataflow, DRAM loop order, cycles, what bounds it), from
  :meth:`CodesignProblem.breakdown`.

Both are registered by problem name, so :mod:`dse.plots` and :mod:`dse.report` find them
without importing this family; matplotlib is imported only when a plot is drawn.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import TYPE_CHECKING, Any

import numpy as np
import pandas as pd

from dse.plots import register_family_plot
from dse.report import register_design_description
from problems.codesign.model import DATAFLOWS, HARDWARE_DOMAINS, LOOP_ORDERS

if TYPE_CHECKING:
    from matplotlib.figure import Figure

    from problems.codesign.problem import CodesignProblem

__all__ = ["HARDWARE_PANELS", "describe_design", "hardware_values", "plot_hardware"]

#: Hardware variables (log2-encoded except the aspect) -> panel title with its unit.
HARDWARE_PANELS = {
    "pe_rows": "PE array rows [PEs]",
    "pe_cols": "PE array columns [PEs]",
    "glb_kb": "global buffer [KB]",
    "acc_kb": "accumulator [KB]",
    "dram_ch": "DRAM channels",
    "glb_aspect": "global buffer aspect (height : width)",
}
_DOMAIN = {name: (lo, hi) for name, lo, hi in HARDWARE_DOMAINS}


def hardware_values(x: Mapping[str, float]) -> dict[str, float]:
    """Real values of a design's hardware from its encoded variables (``2 ** exponent``;
    the aspect as height / width)."""
    return {name: float(2.0 ** float(x[name])) for name in HARDWARE_PANELS}


def _ratio_text(r: float) -> str:
    return f"{r:.3g}:1" if r >= 1 else f"1:{1 / r:.3g}"


@register_family_plot("codesign")
def plot_hardware(problem: CodesignProblem, designs: pd.DataFrame, *,
                  styles: Mapping[str, Mapping[str, Any]], title: str = "codesign"
                  ) -> dict[str, Figure]:
    """``{"hardware": figure}``: one panel per hardware parameter, every method's front
    designs against the first objective; a black ring marks designs on the front of all
    methods together. Series are nudged apart vertically by a few percent so that methods
    choosing the same value stay visible (the ticks are the exact values)."""
    import matplotlib.pyplot as plt
    from matplotlib.lines import Line2D
    from matplotlib.ticker import FixedLocator, NullLocator

    from dse.plots import family_handles, legend_outside, log_axes

    obj = problem.objective_names[0]
    xlabel = problem.objective_labels[0]
    fig, axes = plt.subplots(2, 3, figsize=(14, 7.2))
    labels = [k for k in styles if k in set(designs["method"])]
    n = len(labels)
    for ax, (name, panel) in zip(axes.flat, HARDWARE_PANELS.items(), strict=True):
        for k, label in enumerate(labels):
            s = styles[label]
            d = designs[designs["method"] == label].sort_values(f"f.{obj}")
            nudge = 0.0 if name == "glb_aspect" else 0.05 * (k - (n - 1) / 2)
            y = 2.0 ** (d[f"x.{name}"].to_numpy(float) + nudge)
            ax.plot(d[f"f.{obj}"], y, ls="none", marker=s["marker"], ms=5, mfc=s["mfc"],
                    color=s["color"], alpha=0.85, label=label)
            on = d["combined_front"].to_numpy(bool)
            ax.plot(d[f"f.{obj}"].to_numpy(float)[on], y[on], ls="none", marker="o", ms=10,
                    mfc="none", mec="black", mew=0.8)
        lo, hi = _DOMAIN[name]
        ax.set_yscale("log", base=2)
        if name == "glb_aspect":
            ticks = 2.0 ** np.arange(np.ceil(lo), np.floor(hi) + 1)
            names = [_ratio_text(t) for t in ticks]
        else:
            ticks = 2.0 ** np.arange(int(lo), int(hi) + 1)
            names = [f"{int(t)}" for t in ticks]
        ax.yaxis.set_major_locator(FixedLocator(ticks))
        ax.yaxis.set_minor_locator(NullLocator())
        ax.set_yticklabels(names)
        ax.set_ylim(ticks[0] / 2**0.5, ticks[-1] * 2**0.5)
        ax.set_title(panel, fontsize="medium")
        ax.set_xlabel(xlabel)
        log_axes([designs[[f"f.{obj}"]].to_numpy(float)], ax, axes=("x",))
        ax.grid(alpha=0.3)
    handles = [Line2D([], [], ls="none", marker=styles[k]["marker"], mfc=styles[k]["mfc"],
                      color=styles[k]["color"], label=k) for k in labels]
    handles.append(Line2D([], [], ls="none", marker="o", ms=10, mfc="none", mec="black",
                          label="on the combined front"))
    fig.suptitle(f"hardware along each method's front: {title}")
    fig.tight_layout(rect=(0, 0, 0.86, 1))
    legend_outside(fig, handles, families=family_handles({k: styles[k] for k in labels}))
    return {"hardware": fig}


@register_design_description("codesign")
def describe_design(problem: CodesignProblem, x: np.ndarray) -> dict[str, Any]:
    """A design in words: ``summary`` (one line), ``hardware`` and ``cost`` (label ->
    text) and ``schedule`` (one row per layer)."""
    x = np.asarray(x, float).reshape(-1)
    named = dict(zip(problem.variable_names, x, strict=True))
    hw = hardware_values(named)
    b = problem.breakdown(x[None, :])
    rows, cols = int(hw["pe_rows"]), int(hw["pe_cols"])
    summary = (f"{rows}x{cols} PEs, buffer {hw['glb_kb']:.0f} KB, accumulator "
               f"{hw['acc_kb']:.0f} KB, {int(hw['dram_ch'])} DRAM ch")
    hardware = {
        "PE array": f"{rows} x {cols} = {rows * cols} PEs",
        "global buffer": f"{hw['glb_kb']:.0f} KB, aspect {_ratio_text(hw['glb_aspect'])}",
        "accumulator": f"{hw['acc_kb']:.0f} KB",
        "DRAM channels": f"{int(hw['dram_ch'])}",
    }
    cost = {
        "area": f"{float(b['area'][0]):.4g} mm^2",
        "clock period": f"{float(b['clock_ns'][0]):.3g} ns",
        "latency": f"{float(b['latency_ms'][0]):.4g} ms",
        "energy": f"{float(b['energy_mj'][0]):.4g} mJ",
        "total cycles": f"{float(b['total_cycles'][0]):.4g}",
    }
    cycles = np.asarray(b["cycles"][0], float)
    counts = np.array([ly.count for ly in problem.layers], float)
    total = float((cycles * counts).sum()) or 1.0
    sched = []
    for i, ly in enumerate(problem.layers):
        tiles = [min(2 ** round(float(named[f"L{i}.{f}"])), dim)
                 for f, dim in zip(("tm", "tk", "tn"), (ly.M, ly.K, ly.N), strict=True)]
        compute, memory = float(b["compute"][0][i]), float(b["memory"][0][i])
        sched.append({
            "layer": ly.name,
            "M x K x N": f"{ly.M} x {ly.K} x {ly.N}",
            "count": ly.count,
            "tile m x k x n": " x ".join(str(t) for t in tiles),
            "dataflow": DATAFLOWS[round(float(named[f"L{i}.df"]))],
            "DRAM order": LOOP_ORDERS[round(float(named[f"L{i}.ord"]))],
            "cycles": f"{cycles[i]:.4g}",
            "bound by": "compute" if compute >= memory else "memory",
            "share of latency": f"{100 * cycles[i] * counts[i] / total:.1f}%",
            "buffer use": f"{100 * float(b['glb_use'][0][i]):.0f}%",
            "accumulator use": f"{100 * float(b['acc_use'][0][i]):.0f}%",
        })
    return {"summary": summary, "hardware": hardware, "cost": cost,
            "schedule": pd.DataFrame(sched)}
