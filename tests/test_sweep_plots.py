"""Plots: the right kind of figure per number of objectives, seed spread computed right,
co-design hardware along the front, files in both formats."""

from __future__ import annotations

from pathlib import Path

import matplotlib.pyplot as plt
import numpy as np
import pandas as pd
import pytest

from dse.plots import (
    _spread,
    hardware_parameters,
    plot_design_parameters,
    plot_fronts,
    plot_hypervolume,
    save,
)
from dse.store import Store
from dse.sweep import run_sweep


def _fronts(m: int, rng: np.random.Generator) -> dict[str, np.ndarray]:
    return {"a": rng.random((7, m)), "b": rng.random((5, m))}


def test_two_objectives_one_axis_with_reference() -> None:
    rng = np.random.default_rng(0)
    fig = plot_fronts(_fronts(2, rng), rng.random((30, 2)), ["area", "latency"])
    (ax,) = fig.axes
    labels = [line.get_label() for line in ax.get_lines()]
    assert labels == ["reference front", "a (7)", "b (5)"]
    assert (ax.get_xlabel(), ax.get_ylabel()) == ("area", "latency")
    # Each front is drawn sorted along the first objective.
    xs = ax.get_lines()[1].get_xdata()
    assert np.all(np.diff(xs) >= 0)
    plt.close(fig)


def test_three_objectives_3d_and_pairwise() -> None:
    rng = np.random.default_rng(1)
    fig = plot_fronts(_fronts(3, rng), rng.random((40, 3)))
    assert len(fig.axes) == 4
    assert fig.axes[0].name == "3d"
    pairs = {(ax.get_xlabel(), ax.get_ylabel()) for ax in fig.axes[1:]}
    assert pairs == {("f1", "f2"), ("f1", "f3"), ("f2", "f3")}
    plt.close(fig)


def test_many_objectives_parallel_coordinates_scaled() -> None:
    rng = np.random.default_rng(2)
    fronts = _fronts(5, rng)
    fig = plot_fronts(fronts, None)
    (ax,) = fig.axes
    lines = ax.get_lines()
    assert len(lines) == 7 + 5  # one polyline per point
    ys = np.concatenate([line.get_ydata() for line in lines])
    assert ys.min() == pytest.approx(0.0) and ys.max() == pytest.approx(1.0)
    plt.close(fig)


def test_fronts_must_agree_on_objectives() -> None:
    with pytest.raises(ValueError, match="objectives"):
        plot_fronts({"a": np.zeros((2, 2)), "b": np.zeros((2, 3))})
    with pytest.raises(ValueError, match="names"):
        plot_fronts({"a": np.zeros((2, 2))}, objective_names=["x"])


def test_spread_is_a_step_function_brute_force() -> None:
    rng = np.random.default_rng(3)
    curves = [(np.sort(rng.choice(100, 6, replace=False)).astype(float), rng.random(6))
              for _ in range(3)]
    grid = np.unique(np.concatenate([c[0] for c in curves]))
    got = _spread(curves, grid)
    for k, (x, y) in enumerate(curves):
        for j, g in enumerate(grid):
            seen = y[x <= g]
            expect = seen[-1] if len(seen) else np.nan
            assert got[k, j] == expect or (np.isnan(expect) and np.isnan(got[k, j]))


def test_hypervolume_band_spans_seeds() -> None:
    hist = pd.DataFrame({
        "method": ["m"] * 4 + ["n"] * 2, "seed": [0, 0, 1, 1, 0, 0],
        "n_evals": [10, 20, 10, 20, 10, 20], "wall_time": [0.1, 0.2, 0.1, 0.3, 0.1, 0.2],
        "hypervolume": [1.0, 2.0, 3.0, 4.0, 5.0, 6.0],
    })
    fig = plot_hypervolume(hist, "n_evals")
    (ax,) = fig.axes
    med = ax.get_lines()[0].get_ydata()
    np.testing.assert_allclose(med, [2.0, 3.0])  # median of the two seeds
    assert len(ax.collections) == 1  # a band for "m" only (one seed of "n")
    plt.close(fig)
    with pytest.raises(ValueError, match="x must be"):
        plot_hypervolume(hist, "steps")


def test_design_parameters_panels(tmp_path: Path) -> None:
    names = ["pe_rows", "pe_cols", "glb_kb", "glb_aspect", "L0.tm", "L0.df"]
    assert hardware_parameters(names) == ["pe_rows", "pe_cols", "glb_kb", "glb_aspect"]
    rng = np.random.default_rng(4)
    d = pd.DataFrame({f"x.{n}": rng.integers(0, 5, 8) for n in names})
    d["f.area"] = rng.random(8)
    d["method"] = ["a"] * 4 + ["b"] * 4
    fig = plot_design_parameters(d, hardware_parameters(names), "area")
    visible = [ax for ax in fig.axes if ax.get_visible()]
    assert [ax.get_title() for ax in visible] == hardware_parameters(names)
    paths = save(fig, tmp_path / "hw")
    assert [p.suffix for p in paths] == [".png", ".pdf"] and all(p.stat().st_size for p in paths)
    with pytest.raises(ValueError, match="lacks"):
        plot_design_parameters(d, ["nope"], "area")


def test_codesign_run_draws_hardware_plot(tmp_path: Path) -> None:
    out = tmp_path / "cd"
    report = run_sweep(["problem=codesign", "methods=[nsga2,random]", "solver.budget=200",
                        "solver.nsga2.pop_size=20", "solver.random.batch_size=50",
                        f"out={out}", "quiet=true"])
    names = {p.name for p in report.plots}
    assert {"fronts.png", "fronts.pdf", "hypervolume.png", "hardware.png",
            "hardware.pdf"} <= names
    with Store(out) as store:
        assert set(store.runs()["method"]) == {"nsga2", "random"}
    # co-design knows its exact front: the HV ratio is defined.
    assert report.runs["hv_ratio"].notna().all()


# ---------------------------------------------------------------------------- issue 14
def test_every_series_gets_its_own_colour_and_its_family_marker() -> None:
    from matplotlib.colors import to_hex

    from dse.plots import FAMILY_MARKERS, series_styles

    for n in (3, 12, 20, 31):  # compare with many series: no colour repeats
        labels = [f"run{k // 6}:m{k}" for k in range(n)]
        st = series_styles(labels)
        assert len({to_hex(s["color"]) for s in st.values()}) == n
    st = series_styles(["a", "b", "c", "d"], {"a": "gradient", "b": "evolutionary",
                                               "c": "hybrid"})
    assert [st[k]["marker"] for k in "abc"] == [FAMILY_MARKERS[f] for f in
                                               ("gradient", "evolutionary", "hybrid")]
    assert st["b"]["mfc"] == "none" and st["d"]["marker"] not in FAMILY_MARKERS.values()


def test_fronts_legend_best_first_with_hv_ratio_and_steps_not_lines() -> None:
    rng = np.random.default_rng(5)
    fronts = {k: np.sort(rng.random((6, 2)), axis=0) * [1, -1] + [0, 1] for k in "abc"}
    fig = plot_fronts(fronts, None, ["area [mm^2]", "latency [ms]"],
                      kinds={"a": "gradient", "b": "evolutionary", "c": "hybrid"},
                      scores={"a": 0.5, "b": 0.9, "c": 0.7}, knee=np.array([0.5, 0.5]))
    (ax,) = fig.axes
    texts = [t.get_text() for t in ax.get_legend().get_texts()]
    method_rows = [t for t in texts if t[:2] in ("a:", "b:", "c:")]
    assert [t[0] for t in method_rows] == ["b", "c", "a"]  # best HV ratio first
    assert "HV ratio 0.9" in method_rows[0] and method_rows[0].endswith("best")
    assert any("knee" in t for t in texts) and any("family" in t for t in texts)
    by_label = {line.get_label()[0]: line for line in ax.get_lines()}
    # A gap between two designs shows as a staircase step, never as a covered segment.
    assert all(by_label[k].get_drawstyle() == "steps-post" for k in "abc")
    assert {by_label[k].get_marker() for k in "abc"} == {"o", "^", "D"}
    # The legend sits outside the data (to the right of the axes).
    fig.canvas.draw()
    leg = ax.get_legend().get_window_extent()
    assert leg.x0 >= ax.get_window_extent().x1
    plt.close(fig)


@pytest.mark.parametrize(("values", "log"), [
    (np.r_[1e-4, np.linspace(0.01, 1, 50)], False),   # [0, 1] data: linear however small
    (np.r_[np.geomspace(0.7, 30, 40), np.geomspace(40, 2000, 8)], True),  # ms to seconds
    (np.linspace(0.7, 40, 30), False),                 # under two decades
    (np.r_[-1.0, np.geomspace(1, 1e4, 20)], False),    # not all positive
])
def test_log_axes_only_where_data_span_decades(values: np.ndarray, log: bool) -> None:
    from dse.plots import _wants_log

    assert _wants_log(np.asarray(values, float)) is log


def _side(p: np.ndarray, a: np.ndarray, b: np.ndarray) -> np.ndarray:
    """Signed distance (times |b - a|) of points ``p`` from the line through ``a``, ``b``."""
    u = b - a
    return u[0] * (p[..., 1] - a[1]) - u[1] * (p[..., 0] - a[0])


def test_knee_is_the_point_farthest_from_the_line_through_the_ends() -> None:
    from dse.plots import knee_index

    rng = np.random.default_rng(6)
    for _ in range(20):
        x = np.sort(rng.random(15))
        y = np.sort(rng.random(15))[::-1]
        F = np.c_[x, y]
        a, b = F[np.argmin(x)], F[np.argmin(y)]
        # Second route: signed distance to the line through the ends, in the [0, 1]-scaled
        # objectives, positive on the side of the ideal point: the knee bulges most.
        lo, hi = F.min(0), F.max(0)
        S, sa, sb = (F - lo) / (hi - lo), (a - lo) / (hi - lo), (b - lo) / (hi - lo)
        d = _side(S, sa, sb) * np.sign(_side(np.zeros(2), sa, sb))
        assert knee_index(F) == int(np.argmax(d))
        # Units do not move the knee.
        assert knee_index(F * [1000.0, 0.001] + [5, 7]) == knee_index(F)
    with pytest.raises(ValueError, match="non-empty"):
        knee_index(np.zeros((0, 2)))


def test_hypervolume_ratio_axis_with_a_line_at_one() -> None:
    hist = pd.DataFrame({"method": ["m"] * 3, "seed": [0] * 3, "run_id": [1] * 3,
                         "n_evals": [10, 20, 30], "hypervolume": [2.0, 4.0, 8.0]})
    for reference_hv in (10.0, {1: 10.0}):
        fig = plot_hypervolume(hist, "n_evals", reference_hv=reference_hv)
        (ax,) = fig.axes
        line, one = ax.get_lines()
        np.testing.assert_allclose(line.get_ydata(), [0.2, 0.4, 0.8])
        np.testing.assert_allclose(one.get_ydata(), [1.0, 1.0])
        assert "HV ratio" in ax.get_ylabel()
        fig.canvas.draw()
        assert ax.get_legend().get_window_extent().x0 >= ax.get_window_extent().x1
        plt.close(fig)
    with pytest.raises(ValueError, match="positive"):
        plot_hypervolume(hist, "n_evals", reference_hv=0.0)


def test_objective_labels_with_units_and_defaults() -> None:
    import torch

    from dse import get_problem
    from dse.problem import Problem, Real, objective_label

    assert get_problem("codesign").objective_labels == ("area [mm^2]", "latency [ms]")
    assert get_problem("zdt1").objective_labels == ("f1", "f2")
    assert objective_label("energy_mj") == "energy [mJ]"
    assert objective_label("task_loss") == "task_loss"

    class Old(Problem):  # a subclass written before labels existed still works
        def __init__(self) -> None:
            super().__init__([Real("a", 0, 1)], n_obj=2, objective_names=["mass_kg", "sag"])

        def _evaluate(self, x: torch.Tensor) -> torch.Tensor:
            return torch.cat([x, 1 - x], -1)

    assert Old().objective_labels == ("mass [kg]", "sag")

    class New(Old):
        def __init__(self) -> None:
            Problem.__init__(self, [Real("a", 0, 1)], n_obj=2,
                             objective_labels=["mass [tonnes]", "sag [mm]"])

    assert New().objective_labels == ("mass [tonnes]", "sag [mm]")
    with pytest.raises(ValueError, match="objective_labels"):
        Problem.__init__(New.__new__(New), [Real("a", 0, 1)], n_obj=2,
                         objective_labels=["one"])


def test_codesign_hardware_in_real_units_for_every_method(tmp_path: Path) -> None:
    from dse.plots import FAMILY_PLOTS, plot_run

    out = tmp_path / "cd"
    run_sweep(["problem=codesign", "methods=[nsga2,chebyshev,random]",
               "solver.budget=300", "solver.nsga2.pop_size=20",
               "solver.random.batch_size=50", f"out={out}", "quiet=true", "plots=false"])
    assert "codesign" in FAMILY_PLOTS
    figures = {}
    real_save = save

    def keep(fig, path, formats=("png", "pdf")):  # look at the figures before they close
        figures[Path(path).name] = fig
        return real_save(fig, path, formats=("png",))

    import dse.plots as plots_module

    plots_module.save, restore = keep, plots_module.save
    try:
        paths = plot_run(out)
    finally:
        plots_module.save = restore
    assert {"fronts.png", "hypervolume.png", "hardware.png"} <= {p.name for p in paths}
    fronts_ax = figures["fronts"].axes[0]
    assert (fronts_ax.get_xlabel(), fronts_ax.get_ylabel()) == ("area [mm^2]", "latency [ms]")
    hw = figures["hardware"]
    titles = [ax.get_title() for ax in hw.axes]
    assert "PE array rows [PEs]" in titles and "global buffer [KB]" in titles
    for ax in hw.axes:
        ticks = [t.get_text() for t in ax.get_yticklabels()]
        if ax.get_title() == "global buffer [KB]":
            assert ticks == ["32", "64", "128", "256", "512", "1024", "2048"]
        if ax.get_title() == "DRAM channels":
            assert ticks == ["1", "2", "4", "8"]
    legend = [t.get_text() for t in hw.legends[0].get_texts()]
    with Store(out) as store:
        methods = set(store.designs(front_only=True, variables=False)["method"])
    assert methods <= set(legend)  # every method with a front, not only the winners'
    for fig in figures.values():
        plt.close(fig)


def test_objective_labels_through_from_function() -> None:
    import torch

    from dse.problem import Problem

    p = Problem.from_function(lambda x: torch.cat([x, 1 - x], -1), {"a": (0.0, 1.0)},
                              n_obj=2, objective_names=["cost_usd", "mass_kg"],
                              objective_labels=["cost [$]", "mass [t]"])
    assert p.objective_labels == ("cost [$]", "mass [t]")
    # Without labels the names give them (with units where the name carries one).
    q = Problem.from_function(lambda x: torch.cat([x, 1 - x], -1), {"a": (0.0, 1.0)},
                              n_obj=2, objective_names=["area_mm2", "sag"])
    assert q.objective_labels == ("area [mm^2]", "sag")
    with pytest.raises(ValueError, match="objective_labels"):
        Problem.from_function(lambda x: x, {"a": (0.0, 1.0)}, n_obj=2,
                              objective_labels=["one"])
