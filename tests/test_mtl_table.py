"""The MTL comparison table: rows per method and seed, Delta_m against the same seed's
single-task models, mean and spread over seeds (fast version of the MultiDigits table in
notebooks/mtl_multidigits.ipynb)."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from dse.mtl_table import compare_methods, summarise_methods
from dse.train import train
from problems.mtl import multidigits

METHODS = {"equal": "mean", "MGDA": "mgda", "CAGrad": ("cagrad", {"c": 0.5}),
           "PCGrad": "pcgrad", "GradNorm": ("gradnorm", {"alpha": 1.5}),
           "uncertainty": "uncertainty", "IMTL-G": "imtl_g", "UPGrad": "upgrad"}


@pytest.fixture(scope="module")
def task():
    return multidigits(400, 32, 200, hidden=32, seed=0)


@pytest.fixture(scope="module")
def runs(task):
    return compare_methods(task, METHODS, seeds=(0, 1), steps=80, lr=3e-3)


def test_rows_and_columns(runs) -> None:
    assert list(runs.columns) == ["method", "seed", "accuracy_L", "accuracy_R", "loss_L",
                                  "loss_R", "delta_m", "wall_time"]
    assert list(runs["method"].cat.categories) == [*METHODS, "single-task"]
    assert len(runs) == 2 * (len(METHODS) + 1)
    acc = runs[["accuracy_L", "accuracy_R"]].to_numpy()
    # 80 steps on 400 images: every model has learnt both digits well above chance (0.1).
    assert np.isfinite(acc).all() and acc.min() > 0.25, runs


def test_delta_m_is_against_the_same_seeds_single_task_models(task, runs) -> None:
    for seed in (0, 1):
        one = runs[runs["seed"] == seed]
        single = one[one["method"] == "single-task"][["accuracy_L", "accuracy_R"]].to_numpy()[0]
        # The single-task row holds models trained on one task alone (same seed).
        alone = [train(task, tasks=[t], steps=80, lr=3e-3, seed=seed, progress=False,
                       eval_splits=("test",)).metric()[t] for t in range(2)]
        np.testing.assert_allclose(single, alone, rtol=0, atol=1e-12)
        multi = one[one["method"] != "single-task"]
        acc = multi[["accuracy_L", "accuracy_R"]].to_numpy()
        # Accuracy: higher is better, so a drop gives a positive Delta_m.
        expect = np.mean((single - acc) / single, axis=1) * 100
        np.testing.assert_allclose(multi["delta_m"].to_numpy(), expect, rtol=1e-12)


def test_summary_is_mean_and_sample_std_over_seeds(runs) -> None:
    summary = summarise_methods(runs)
    assert list(summary.index) == [*METHODS, "single-task"]
    for label in METHODS:
        v = runs.loc[runs["method"] == label, "delta_m"].to_numpy()
        assert summary.loc[label, ("seeds", "n")] == 2
        assert summary.loc[label, ("delta_m", "mean")] == pytest.approx(v.mean(), rel=1e-12)
        assert summary.loc[label, ("delta_m", "std")] == pytest.approx(v.std(ddof=1),
                                                                       rel=1e-12)


def test_bad_input(task) -> None:
    with pytest.raises(ValueError, match="empty"):
        compare_methods(task, [], seeds=(0,), steps=1)
    with pytest.raises(ValueError, match="reserved"):
        compare_methods(task, {"single-task": "mean"}, seeds=(0,), steps=1)
    with pytest.raises(ValueError, match="unknown split 'dev'; valid: train, val, test"):
        compare_methods(task, ["mean"], seeds=(0,), steps=1, split="dev")
    with pytest.raises(ValueError, match=r"\(name, params\)"):
        compare_methods(task, {"x": ("cagrad", 0.5)}, seeds=(0,), steps=1)
    with pytest.raises(ValueError, match="unknown weighting 'nope'"):
        compare_methods(task, ["nope"], seeds=(0,), steps=1)
    with pytest.raises(ValueError, match="compare_methods"):
        summarise_methods(pd.DataFrame({"a": [1]}))
