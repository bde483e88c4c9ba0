"""The exact reference front of the co-design problem and its disk cache.

The front is built by :mod:`problems.codesign.reference` (numpy, per-hardware minimum of
each layer). It is checked against independent routes: moocore's non-dominance test,
exact re-evaluation of every front design with :meth:`CodesignProblem.evaluate`, brute-force
minima over every schedule through the torch model, and a full brute-force front of a tiny
workload.
"""

from __future__ import annotations

import os

import moocore
import numpy as np
import pytest
import torch

import problems.codesign.reference as reference
from dse import get_problem
from problems.codesign import CodesignProblem
from problems.codesign.reference import min_total_cycles

SMALL_LAYERS = [
    {"name": "a", "M": 96, "K": 40, "N": 24, "count": 2},
    {"name": "b", "M": 16, "K": 300, "N": 70, "count": 1},
]


@pytest.fixture(scope="module")
def prob(tmp_path_factory: pytest.TempPathFactory) -> CodesignProblem:
    return CodesignProblem(cache_dir=tmp_path_factory.mktemp("codesign_cache"))


@pytest.fixture(scope="module")
def front(prob: CodesignProblem) -> np.ndarray:
    return prob.pareto_front()


def meshgrid_rows(*axes: np.ndarray) -> np.ndarray:
    """All combinations of the values of ``axes``, one a row."""
    return np.stack([g.ravel() for g in np.meshgrid(*axes, indexing="ij")], axis=1)


def test_front_is_nondominated_and_sorted(front: np.ndarray) -> None:
    assert front.ndim == 2 and front.shape[1] == 2 and len(front) > 50
    assert moocore.is_nondominated(front).all()
    assert len(np.unique(front, axis=0)) == len(front)
    assert np.all(np.diff(front[:, 0]) > 0) and np.all(np.diff(front[:, 1]) < 0)


def test_every_front_point_is_an_exactly_evaluated_design(
    prob: CodesignProblem, front: np.ndarray
) -> None:
    X = prob.reference_designs()
    assert X.shape == (len(front), prob.n_var)
    F, G = prob.evaluate(X, constraints=True)  # bound and integrality checks included
    np.testing.assert_allclose(F, front, rtol=1e-12, atol=0)
    assert (G <= 0).all()


def test_front_schedules_are_optimal_per_layer(prob: CodesignProblem) -> None:
    """Replacing any layer's schedule on a front design never lowers latency."""
    X = prob.reference_designs()
    rng = np.random.default_rng(21)
    rows = rng.integers(0, len(X), 3000)
    layers = rng.integers(0, prob.n_layers, 3000)
    Y = X[rows].copy()
    for j in range(5):
        col = 6 + 5 * layers + j
        Y[np.arange(len(Y)), col] = rng.integers(0, prob.xu[col].astype(int) + 1)
    Y = prob.repair(torch.from_numpy(Y)).numpy()
    F = prob.evaluate(Y)
    assert np.all(F[:, 0] == prob.evaluate(X[rows])[:, 0])  # schedules do not move area
    assert np.all(F[:, 1] >= prob.evaluate(X[rows])[:, 1] * (1 - 1e-12))


def test_random_designs_on_the_grid_are_weakly_dominated(
    prob: CodesignProblem, front: np.ndarray
) -> None:
    X = prob.sample(5000, seed=22)
    X[:, 5] = np.random.default_rng(23).choice(np.linspace(-2, 2, prob.aspect_grid), len(X))
    F = prob.evaluate(X)
    # The front is sorted by area with falling latency: the best latency within an area
    # is that of the last front point not larger.
    idx = np.searchsorted(front[:, 0], F[:, 0] * (1 + 1e-12), side="right") - 1
    assert (idx >= 0).all()
    assert np.all(front[idx, 1] <= F[:, 1] * (1 + 1e-12))


@pytest.mark.parametrize(
    "hw",
    [
        (2, 2, 5, 3, 0),  # smallest buffers: the big tiles of every layer are infeasible
        (7, 4, 6, 10, 3),
        (5, 7, 11, 4, 1),
    ],
)
def test_min_cycles_match_brute_force_over_all_schedules(
    prob: CodesignProblem, hw: tuple[int, ...]
) -> None:
    schedules = []
    for i in range(prob.n_layers):
        tops = prob.xu[6 + 5 * i : 11 + 5 * i].astype(int)
        schedules.append(meshgrid_rows(*[np.arange(t + 1) for t in tops]))
    n = max(len(s) for s in schedules)
    X = np.empty((n, prob.n_var))
    X[:, :6] = (*hw, 0.0)
    for i, s in enumerate(schedules):
        X[:, 6 + 5 * i : 11 + 5 * i] = s[np.arange(n) % len(s)]
    out = prob.breakdown(X)
    feasible = (out["glb_use"] <= 1) & (out["acc_use"] <= 1)
    assert not feasible.all()  # the constraints bind somewhere
    best = np.where(feasible, out["cycles"], np.inf).min(axis=0)
    counts = np.array([layer.count for layer in prob.layers])
    expected = (counts * best).sum()
    table = min_total_cycles(prob.layers)
    got = table[hw[0] - 2, hw[1] - 2, hw[2] - 5, hw[3] - 3, hw[4]]
    assert got == pytest.approx(expected, rel=1e-12)


def test_tiny_workload_front_matches_full_brute_force(tmp_path) -> None:
    prob = CodesignProblem(
        [{"name": "t", "M": 2, "K": 3, "N": 1}], aspect_grid=3, cache_dir=tmp_path
    )
    hw = meshgrid_rows(
        np.arange(2, 8),
        np.arange(2, 8),
        np.arange(5, 12),
        np.arange(3, 11),
        np.arange(4),
        np.linspace(-2, 2, 3),
    )
    sched = meshgrid_rows(np.arange(2), np.arange(3), np.arange(1), np.arange(3), np.arange(3))
    X = np.concatenate([np.repeat(hw, len(sched), axis=0), np.tile(sched, (len(hw), 1))], axis=1)
    F = prob.evaluate(X, check=False)
    brute = np.unique(F[moocore.is_nondominated(F)], axis=0)
    np.testing.assert_allclose(prob.pareto_front(), brute, rtol=1e-12, atol=0)


def test_ideal_nadir_thinning_and_budget(prob: CodesignProblem, front: np.ndarray) -> None:
    np.testing.assert_array_equal(prob.ideal, front.min(axis=0))
    np.testing.assert_array_equal(prob.nadir, front.max(axis=0))
    thin = prob.pareto_front(n=40)
    assert len(thin) == 40
    np.testing.assert_array_equal(thin[[0, -1]], front[[0, -1]])
    assert all((front == row).all(axis=1).any() for row in thin)
    budget = float(np.median(front[:, 0]))
    capped = CodesignProblem(area_budget=budget, cache_dir=prob.cache_dir)
    sub = capped.pareto_front()
    np.testing.assert_array_equal(sub, front[front[:, 0] <= budget])
    G = capped.evaluate(capped.reference_designs(), constraints=True)[1]
    assert (G <= 0).all()
    assert CodesignProblem(area_budget=0.1, cache_dir=prob.cache_dir).pareto_front() is None
    assert CodesignProblem(energy=True).pareto_front() is None


def test_construction_does_not_build_the_front(monkeypatch: pytest.MonkeyPatch) -> None:
    def boom(*args: object, **kwargs: object) -> None:
        raise AssertionError("the reference front was built")

    monkeypatch.setattr(reference, "build_reference", boom)
    monkeypatch.setattr(reference, "_load", boom)
    p = get_problem("codesign")
    p.evaluate(p.sample(10, seed=0))


# ---------------------------------------------------------------------- the disk cache
def small(cache_dir: object) -> CodesignProblem:
    return CodesignProblem(SMALL_LAYERS, aspect_grid=21, cache_dir=cache_dir)


def test_second_call_reads_the_cache(tmp_path, monkeypatch: pytest.MonkeyPatch) -> None:
    first = small(tmp_path).reference()
    assert not first.from_cache and first.path is not None and first.path.is_file()
    assert first.path.parent == tmp_path

    def boom(*args: object, **kwargs: object) -> None:
        raise AssertionError("rebuilt although the cache is valid")

    monkeypatch.setattr(reference, "build_reference", boom)
    second = small(tmp_path).reference()
    assert second.from_cache
    np.testing.assert_array_equal(second.F, first.F)
    np.testing.assert_array_equal(second.X, first.X)


def test_cache_dir_from_environment(tmp_path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("DSE_CACHE_DIR", str(tmp_path / "env"))
    ref = small(None).reference()
    assert ref.path is not None and ref.path.parent == tmp_path / "env"


def test_different_workload_or_grid_gets_its_own_entry(tmp_path) -> None:
    a = small(tmp_path).reference()
    b = CodesignProblem(SMALL_LAYERS, aspect_grid=31, cache_dir=tmp_path).reference()
    c = CodesignProblem(SMALL_LAYERS[:1], aspect_grid=21, cache_dir=tmp_path).reference()
    assert len({a.key, b.key, c.key}) == 3
    assert not (b.from_cache or c.from_cache)


def _tamper(path: os.PathLike, **changes: object) -> None:
    with np.load(path) as data:
        arrays = {k: data[k] for k in data.files}
    arrays.update(changes)
    with open(path, "wb") as fh:
        np.savez(fh, **arrays)


@pytest.mark.parametrize("damage", ["garbage", "truncated", "stale_key", "edited_values"])
def test_corrupt_or_stale_cache_is_rebuilt(tmp_path, damage: str) -> None:
    good = small(tmp_path).reference()
    path = good.path
    if damage == "garbage":
        path.write_bytes(b"not a cache file")
    elif damage == "truncated":
        path.write_bytes(path.read_bytes()[:200])
    elif damage == "stale_key":
        meta = str(np.load(path)["meta"]).replace(good.key, "0" * 64)
        _tamper(path, meta=np.array(meta))
    else:
        _tamper(path, F=good.F * 0.5)
    again = small(tmp_path).reference()
    assert not again.from_cache
    np.testing.assert_array_equal(again.F, good.F)
    np.testing.assert_array_equal(again.X, good.X)
    assert small(tmp_path).reference().from_cache  # and the file was rewritten


def test_unwritable_cache_dir_still_gives_the_front(tmp_path) -> None:
    blocker = tmp_path / "file"
    blocker.write_text("a file where the cache directory should be")
    ref = small(blocker / "sub").reference()
    assert ref.path is None and not ref.from_cache
    np.testing.assert_array_equal(ref.F, small(tmp_path).reference().F)
