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
