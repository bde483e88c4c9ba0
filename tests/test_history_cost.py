"""Hypervolume checkpoints at scale: exact where cheap, a labelled estimate beyond.

* Up to three objectives every checkpoint is the exact hypervolume of the archive, whatever
  its size, and every checkpoint is recorded (checked against an independent route: the
  exact hypervolume of the non-dominated set of everything added so far).
* The estimate (:func:`dse.indicators.hypervolume_estimate`) is within its stated tolerance
  of the exact value where the exact one is still affordable, scales like a volume, has
  the edge cases of the exact one and never modifies its input.
* A many-objective run switches to estimates, says so in ``config["hv_estimate"]`` (kept by
  the store), spaces its estimated checkpoints, always records the final one, and gives the
  same history for the same seed.
"""

from __future__ import annotations

import moocore
import numpy as np
import pandas as pd
import pytest

import dse
import dse.indicators as ind
from dse.indicators import (
    ReferencePointWarning,
    hypervolume,
    hypervolume_estimate,
    hypervolume_is_cheap,
)
from dse.pareto import nondominated
from dse.solvers import _history
from dse.solvers._history import ESTIMATE_SPACING, RunRecorder
from dse.store import Store

# Relative error the estimate is held to here, with its default number of samples
# (measured worst case about 2e-3 on 4 to 7 objectives).
EST_RTOL = 5e-3


def sphere_points(n: int, m: int, rng: np.random.Generator,
                  jitter: float = 0.05) -> np.ndarray:
    """Points on the positive unit sphere, pushed outwards by up to ``jitter`` (a typical
    DTLZ2-like front; some points dominated). Without jitter all are non-dominated."""
    x = np.abs(rng.standard_normal((n, m)))
    x /= np.linalg.norm(x, axis=1, keepdims=True)
    return x * (1.0 + jitter * rng.random((n, 1)))


def objective_problem(m: int) -> dse.Problem:
    """A problem whose objectives are its variables (any point set can be 'evaluated')."""
    return dse.Problem.from_function(lambda x: x, {f"x{i}": (0.0, 2.0) for i in range(m)},
                                     n_obj=m, name=f"identity{m}")


def feed(rec: RunRecorder, F: np.ndarray, batch: int) -> list[float]:
    """Add ``F`` to ``rec`` in batches, checkpointing after each; return the independent
    route's exact hypervolume of everything added so far at each checkpoint."""
    expected = []
    for s in range(0, len(F), batch):
        part = F[s:s + batch]
        rec.count(len(part))
        rec.add(part, part, np.zeros((len(part), 0)))
        rec.checkpoint()
        seen = F[:s + batch]
        expected.append(hypervolume(seen[nondominated(seen)], rec.ref_point))
    return expected


# ------------------------------------------------------------------------ the cost rule
@pytest.mark.parametrize("m", [1, 2, 3])
def test_up_to_three_objectives_is_always_cheap(m: int) -> None:
    assert all(hypervolume_is_cheap(n, m) for n in (0, 1, 10**3, 10**6, 10**9))


@pytest.mark.parametrize("m", [4, 5, 6, 7, 10])
def test_cheapness_is_monotone_in_size_and_objectives(m: int) -> None:
    sizes = [1, 10, 50, 100, 300, 1000, 5000, 10**5]
    flags = [hypervolume_is_cheap(n, m) for n in sizes]
    assert flags == sorted(flags, reverse=True)  # True ... True, False ... False
    assert hypervolume_is_cheap(10, m)
    assert not hypervolume_is_cheap(10**5, m)
    # Cheap with m objectives implies cheap with fewer.
    assert all(hypervolume_is_cheap(n, m - 1) or not hypervolume_is_cheap(n, m)
               for n in sizes)


# ------------------------------------------------------------------------ the estimate
@pytest.mark.parametrize("seed", [0, 1, 2])
@pytest.mark.parametrize("shape", ["sphere", "linear", "scaled"])
def test_estimate_within_tolerance_of_exact_5_objectives_100_points(seed: int,
                                                                    shape: str) -> None:
    rng = np.random.default_rng(seed)
    if shape == "sphere":
        F = sphere_points(100, 5, rng)
    elif shape == "linear":
        F = rng.random((100, 5))
        F /= F.sum(axis=1, keepdims=True)
    else:  # objectives of very different ranges: the estimate must normalise them
        F = sphere_points(100, 5, rng) * np.array([1e-3, 0.1, 1.0, 10.0, 1e3])
    ref = F.max(axis=0) * 1.1
    exact = hypervolume(F, ref)
    est = hypervolume_estimate(F, ref)
    assert est == pytest.approx(exact, rel=EST_RTOL), f"seed={seed} shape={shape}"


def test_estimate_is_deterministic_and_does_not_modify_input() -> None:
    F = sphere_points(200, 6, np.random.default_rng(3))
    F.flags.writeable = False
    ref = np.full(6, 1.2)
    ref.flags.writeable = False
    assert hypervolume_estimate(F, ref) == hypervolume_estimate(F.copy(), ref.copy())


def test_estimate_scales_like_a_volume() -> None:
    # Two routes: estimate of scaled points == prod(scale) * estimate (normalisation makes
    # the estimate exactly equivariant up to rounding).
    rng = np.random.default_rng(4)
    F = sphere_points(150, 5, rng)
    ref = np.full(5, 1.1)
    scale = np.array([0.5, 2.0, 3.0, 1e-2, 7.0])
    assert hypervolume_estimate(F * scale, ref * scale) == pytest.approx(
        np.prod(scale) * hypervolume_estimate(F, ref), rel=1e-10)


def test_estimate_ignores_points_outside_the_box() -> None:
    rng = np.random.default_rng(5)
    F = sphere_points(80, 5, rng)
    ref = np.full(5, 1.1)
    outside = F + 5.0
    assert hypervolume_estimate(np.concatenate([F, outside]), ref) == hypervolume_estimate(F, ref)


def test_estimate_edge_cases_match_exact() -> None:
    ref = np.ones(4)
    assert hypervolume_estimate(np.zeros((0, 4)), ref) == 0.0
    with pytest.warns(ReferencePointWarning):
        assert hypervolume_estimate(np.full((3, 4), 2.0), ref) == 0.0
    F1 = np.array([[0.25], [0.5]])
    assert hypervolume_estimate(F1, [1.0]) == hypervolume(F1, [1.0]) == 0.75
    # One point: a box, which the estimate measures (almost) exactly.
    assert hypervolume_estimate([[0.5, 0.5, 0.5, 0.5]], ref) == pytest.approx(0.5**4, rel=EST_RTOL)
    with pytest.raises(ValueError, match=r"shape \(4,\)"):
        hypervolume_estimate(np.zeros((2, 4)), [1.0, 1.0])
    with pytest.raises(ValueError, match="n_samples"):
        hypervolume_estimate(np.zeros((2, 4)), ref, n_samples=0)
    with pytest.raises(ValueError, match="NaN"):
        hypervolume_estimate(np.array([[np.nan, 0.0, 0.0, 0.0]]), ref)


# ------------------------------------------------------------------------ the recorder
@pytest.mark.parametrize("m", [2, 3])
def test_two_and_three_objectives_stay_exact_at_every_checkpoint(m: int) -> None:
    # A large archive (thousands of non-dominated points) is still measured exactly, at
    # every checkpoint, bit for bit equal to the exact hypervolume of the seen front.
    rng = np.random.default_rng(m)
    F = sphere_points(6000, m, rng, jitter=0.0)
    rec = RunRecorder(objective_problem(m), ref_point=np.full(m, 1.2))
    expected = feed(rec, F, 500)
    hist = rec.history()
    assert hist["hypervolume"].tolist() == expected
    assert len(hist) == len(expected)
    assert rec.n_front == len(F)
    assert rec.hv_estimate is None
    res = rec.result("test", 0, (F[:1], F[:1], np.zeros((1, 0))), {})
    assert res.hv_exact and "hv_estimate" not in res.config


@pytest.mark.parametrize("m", [2, 3])
@pytest.mark.parametrize("seed", range(40))
def test_archive_and_hypervolume_equal_the_full_recomputation(m: int, seed: int) -> None:
    # Two routes: the recorder's incremental archive (merged batch by batch)
    # and moocore's non-dominated mask of everything added so far, on coarse grids that
    # make ties, duplicates and points on the reference box common.
    rng = np.random.default_rng(seed)
    grid = int(rng.integers(3, 25))
    problem = objective_problem(m)
    rec = RunRecorder(problem, ref_point=np.ones(m))
    seen = np.zeros((0, m))
    for _ in range(int(rng.integers(1, 12))):
        k = int(rng.integers(1, 40))
        F = np.round(rng.random((k, m)) * grid) / grid * 1.2
        if rng.random() < 0.5:  # points near a front, so that batches replace old ones
            F[:, -1] = np.clip(1.2 - F[:, :-1].sum(axis=1), 0, None) + rng.integers(0, 3, k) / grid
        rec.add(F, F, np.zeros((k, 0)))
        rec.checkpoint()
        seen = np.concatenate([seen, F])
        front = seen[moocore.is_nondominated(seen, keep_weakly=False)]
        X, Fa, _ = rec.archive
        np.testing.assert_array_equal(Fa, front, err_msg=f"seed={seed}")
        np.testing.assert_array_equal(X, front, err_msg=f"seed={seed}")
        inside = (front < 1.0).all(axis=1)
        hv = hypervolume(front[inside], np.ones(m)) if inside.any() else 0.0
        assert rec.history()["hypervolume"].iloc[-1] == hv, f"seed={seed}"


def test_many_objectives_switch_to_a_labelled_estimate_within_tolerance(
        monkeypatch: pytest.MonkeyPatch) -> None:
    # 5 objectives and 100 points: exact is still feasible, so both can be compared;
    # lowering the threshold forces the estimate path.
    monkeypatch.setattr(ind, "HV_EXACT_MAX_COST", 10.0**3)  # 5 objectives: up to 15 points
    F = sphere_points(100, 5, np.random.default_rng(6))
    rec = RunRecorder(objective_problem(5), ref_point=np.full(5, 1.2))
    expected = feed(rec, F, 10)
    label = rec.hv_estimate
    assert label is not None and label["from_step"] >= 1
    assert label["n_samples"] == ind.HV_ESTIMATE_SAMPLES
    assert label["from_n_evals"] == 10 * (label["from_step"] + 1)
    hist = rec.history()
    k = label["from_step"]
    # Exact before the switch (bit for bit), the estimate from it on.
    assert hist["hypervolume"].tolist()[:k] == expected[:k]
    res = rec.result("test", 0, (F[:1], F[:1], np.zeros((1, 0))), {})
    assert not res.hv_exact
    assert res.config["hv_estimate"] == label
    final = res.history["hypervolume"].iloc[-1]
    assert res.history["n_evals"].iloc[-1] == len(F)
    assert final == pytest.approx(expected[-1], rel=EST_RTOL)
    assert final != expected[-1]  # really an estimate


def test_estimated_checkpoints_are_spaced_and_the_last_one_is_kept(
        monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(ind, "HV_EXACT_MAX_COST", 0.0)  # estimates from the first row
    F = sphere_points(400, 5, np.random.default_rng(7))
    rec = RunRecorder(objective_problem(5), ref_point=np.full(5, 1.2))
    feed(rec, F[:395], 5)  # 79 checkpoints, at 5, 10, ..., 395 evaluations
    rows = rec.history()["n_evals"].to_numpy()
    assert len(rows) < 79 / 2
    assert np.all(rows[1:] >= rows[:-1] * (1 + ESTIMATE_SPACING))
    assert rows[-1] < 395  # the solver's last checkpoint was skipped ...
    res = rec.result("test", 0, (F[:1], F[:1], np.zeros((1, 0))), {})
    hist = res.history
    assert hist["n_evals"].iloc[-1] == 395  # ... and result() recorded it
    _, Fa, _ = rec.archive
    assert hist["hypervolume"].iloc[-1] == hypervolume_estimate(Fa, rec.ref_point)


@pytest.mark.parametrize("m", [2, 3])
def test_unchanged_archive_is_measured_once(m: int, monkeypatch: pytest.MonkeyPatch) -> None:
    calls = []
    real = RunRecorder._measure
    monkeypatch.setattr(RunRecorder, "_measure",
                        lambda self, n: calls.append(1) or real(self, n))
    rec = RunRecorder(objective_problem(m), ref_point=np.full(m, 1.2))
    F = np.eye(m) * 0.6 + 0.2
    for batch in (F, F + 0.1, F):  # dominated and duplicate designs change nothing
        rec.add(batch, batch, np.zeros((m, 0)))
        rec.checkpoint()
    assert rec.history()["hypervolume"].nunique() == 1  # measures the deferred checkpoints
    assert len(calls) == 1


# ------------------------------------------------------------------------ a solver run
@pytest.fixture(scope="module")
def six_objective_runs() -> tuple[dse.Result, dse.Result]:
    problem = dse.get_problem("dtlz2", n_obj=6)
    return tuple(dse.solve(problem, "nsga3", budget=1500, seed=0) for _ in range(2))


def test_six_objective_run_takes_the_estimate_path(six_objective_runs) -> None:
    res, _ = six_objective_runs
    assert not res.hv_exact
    label = res.config["hv_estimate"]
    assert 0 < label["from_step"] < len(res.history)
    hist = res.history
    n_gen = res.config["n_gen"]
    assert len(hist) < n_gen  # estimated checkpoints are spaced out
    assert hist["n_evals"].iloc[-1] == res.n_evals  # the final checkpoint is recorded
    # The last value is the estimate of the result's front (the archive it measured).
    assert hist["hypervolume"].iloc[-1] == hypervolume_estimate(
        res.front_F, res.config["ref_point"])
    # Rows before the switch are exact, and their archives were small.
    assert (hist["n_evals"].iloc[:label["from_step"]] < label["from_n_evals"]).all()
    assert hist["n_evals"].iloc[label["from_step"]] == label["from_n_evals"]


def test_six_objective_run_is_reproducible(six_objective_runs) -> None:
    a, b = six_objective_runs
    cols = ["n_evals", "n_grad_evals", "hypervolume"]
    pd.testing.assert_frame_equal(a.history[cols], b.history[cols])
    np.testing.assert_array_equal(a.X, b.X)
    np.testing.assert_array_equal(a.F, b.F)
    assert a.config == b.config


def test_label_survives_the_store(six_objective_runs, tmp_path) -> None:
    res, _ = six_objective_runs
    with Store(tmp_path) as store:
        run_id = store.write("job", res)
        back = store.result(run_id)
    assert not back.hv_exact
    assert back.config["hv_estimate"] == res.config["hv_estimate"]
    pd.testing.assert_frame_equal(back.history[["n_evals", "hypervolume"]],
                                  res.history[["n_evals", "hypervolume"]])
    # A result stored without the label (every result before estimates existed) is exact.
    old = dse.Result(problem="p", method="m", seed=0, X=np.zeros((1, 1)), F=np.zeros((1, 2)),
                     G=np.zeros((1, 0)), n_evals=1)
    assert old.hv_exact


def test_deferred_checkpoints_keep_their_own_counts_and_times() -> None:
    # Checkpoints are measured when the history is read, not when they are taken: each row
    # must still hold the counts and the time of its own moment and the archive as it was.
    rec = RunRecorder(objective_problem(2), ref_point=np.full(2, 2.0))
    batches = [np.array([[1.0, 1.0]]), np.array([[0.5, 1.5]]), np.array([[0.4, 0.4]])]
    expected = []
    seen = np.zeros((0, 2))
    for i, F in enumerate(batches):
        rec.count(1, n_grad_evals=i)
        rec.add(F, F, np.zeros((1, 0)))
        rec.checkpoint()
        seen = np.concatenate([seen, F])
        expected.append(hypervolume(seen[nondominated(seen)], np.full(2, 2.0)))
    rec.add(np.array([[0.1, 0.1]]), np.array([[0.1, 0.1]]), np.zeros((1, 0)))  # after the last
    hist = rec.history()
    assert hist["hypervolume"].tolist() == expected
    assert hist["n_evals"].tolist() == [1, 2, 3]
    assert hist["n_grad_evals"].tolist() == [0, 1, 3]
    assert hist["wall_time"].is_monotonic_increasing
    assert rec.n_front == 1  # the design added after the last checkpoint is merged too
    assert rec.hypervolume() == hypervolume(np.array([[0.1, 0.1]]), np.full(2, 2.0))


def test_a_long_run_merges_before_holding_too_many_designs(
        monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(_history, "_MAX_PENDING_ROWS", 25)
    rec = RunRecorder(objective_problem(2), ref_point=np.full(2, 1.2))
    F = sphere_points(100, 2, np.random.default_rng(3), jitter=0.0)
    for s in range(0, 100, 10):
        rec.add(F[s:s + 10], F[s:s + 10], np.zeros((10, 0)))
        rec.checkpoint()
        assert rec._pending_rows <= 25
    assert len(rec.history()) == 10
    assert rec.n_front == 100


@pytest.mark.parametrize("seed", range(30))
def test_two_objective_merge_equals_moocore_on_the_concatenation(seed: int) -> None:
    # The 2-objective shortcut must give moocore's masks on [archive, new] exactly, on
    # grids that make equal first objectives, copies and copies of archive points common.
    rng = np.random.default_rng(seed)
    grid = int(rng.integers(2, 12))
    old = np.round(rng.random((int(rng.integers(0, 60)), 2)) * grid) - grid / 2
    Fa = old[moocore.is_nondominated(old, keep_weakly=False)] if len(old) else old
    Fn = np.round(rng.random((int(rng.integers(1, 60)), 2)) * grid) - grid / 2
    if len(Fa) and rng.random() < 0.5:
        Fn[: min(len(Fa), len(Fn))] = Fa[: min(len(Fa), len(Fn))]  # copies of the archive
    keep = moocore.is_nondominated(np.concatenate([Fa, Fn]), keep_weakly=False)
    order = np.argsort(Fa[:, 0])
    kept, new = _history._merge_2d(Fa[order, 0], -Fa[order, 1], Fn)
    kept_old = np.ones(len(Fa), dtype=bool)
    if kept is not None:
        kept_old[order] = kept
    kept_new = np.zeros(len(Fn), dtype=bool)
    kept_new[new] = True
    np.testing.assert_array_equal(kept_old, keep[: len(Fa)], err_msg=f"seed={seed}")
    np.testing.assert_array_equal(kept_new, keep[len(Fa):], err_msg=f"seed={seed}")
    assert np.all(np.diff(Fn[new, 0]) > 0)  # by increasing first objective


@pytest.mark.parametrize("seed", range(30))
def test_two_objective_filter_equals_moocore(seed: int) -> None:
    # The batch filter of the 2-objective merge against moocore's mask, copies included.
    rng = np.random.default_rng(100 + seed)
    grid = int(rng.integers(1, 10))
    F = np.round(rng.random((int(rng.integers(1, 80)), 2)) * grid)
    F.flags.writeable = False
    keep = np.zeros(len(F), dtype=bool)
    keep[_history._nondominated_2d(F)] = True
    np.testing.assert_array_equal(keep, moocore.is_nondominated(F, keep_weakly=False),
                                  err_msg=f"seed={seed}")


@pytest.mark.parametrize("seed", range(40))
def test_two_objective_hypervolume_equals_moocore_to_the_last_bit(seed: int) -> None:
    # Two routes: the sorted archive's sum and moocore.hypervolume, on non-dominated sets
    # of very different sizes and scales, with points on and beyond the reference box.
    rng = np.random.default_rng(seed)
    n = int(rng.integers(1, 20000 if seed % 8 == 0 else 300))
    scale = 10.0 ** rng.uniform(-8, 8)
    if seed % 2:
        a = rng.random(n)
        P = np.column_stack([a, 1.0 - np.sqrt(a) + 1e-3 * rng.random(n)]) * scale
    else:
        P = rng.standard_normal((n, 2)) * scale
    if seed % 3 == 0:
        P = np.round(P / scale * 8) * scale / 8  # ties and copies
    P = P[moocore.is_nondominated(P, keep_weakly=False)]
    order = np.argsort(P[:, 0])
    f1, g = P[order, 0], -P[order, 1]
    f1.flags.writeable = False
    g.flags.writeable = False
    for ref in (P.max(axis=0) + scale * rng.random(2),  # every point inside
                np.quantile(P, rng.uniform(0.2, 0.9, 2), axis=0).diagonal(),  # some outside
                P.min(axis=0) - scale):  # none inside
        inside = (P < ref).all(axis=1)
        expected = float(moocore.hypervolume(P[inside], ref=ref)) if inside.any() else 0.0
        assert _history._hypervolume_2d(f1, g, ref) == expected, f"seed={seed} n={n}"


@pytest.mark.parametrize("m", [2, 3])
def test_long_churning_run_keeps_the_archive_in_the_order_found(m: int) -> None:
    # Many batches that replace most of the archive: the buffers are reallocated (and
    # their dead rows dropped) many times; the archive must still equal moocore's front of
    # everything seen, in the order the designs came, with designs and constraint values
    # that belong to their objective vectors.
    rng = np.random.default_rng(10 + m)
    rec = RunRecorder(dse.Problem.from_function(
        lambda x: x[..., :m], {f"x{i}": (0.0, 2.0) for i in range(m + 1)}, n_obj=m,
        n_constr=0, name="churn"), ref_point=np.full(m, 1.5))
    seen_X = np.zeros((0, m + 1))
    for step in range(120):
        k = int(rng.integers(1, 80))
        F = sphere_points(k, m, rng, jitter=0.3) * (1.2 - step / 150)  # fronts move inwards
        X = np.concatenate([F, rng.random((k, 1))], axis=1)
        rec.add(X, F, np.zeros((k, 0)))
        rec.checkpoint()
        seen_X = np.concatenate([seen_X, X])
        if step % 10 == 9:
            keep = moocore.is_nondominated(seen_X[:, :m], keep_weakly=False)
            Xa, Fa, Ga = rec.archive
            np.testing.assert_array_equal(Xa, seen_X[keep], err_msg=f"step={step}")
            np.testing.assert_array_equal(Fa, seen_X[keep, :m])
            assert Ga.shape == (len(Xa), 0)
            assert rec.hypervolume() == hypervolume(seen_X[keep, :m], np.full(m, 1.5))
