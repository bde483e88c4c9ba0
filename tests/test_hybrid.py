"""The hybrid solver: both orders, one shared count, archive and history, clear errors."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from _helpers import wrap
from test_solvers import CountingBowls, MixedNoRelaxation, _check_result
from test_sweep_engine import CountingTable

import dse.solvers._gradient as engine
import dse.solvers._hybrid as hybrid
from dse.indicators import hypervolume
from dse.problem import Integer, Problem, Real, get_problem
from dse.solvers import list_solvers, solve


def test_hybrid_is_registered_with_its_kind() -> None:
    listed = {d["name"]: d for d in list_solvers("hybrid")}
    assert set(listed) == {"hybrid"}
    params = listed["hybrid"]["parameters"]
    assert params["first"] == "sweep" and params["evolutionary"] == "nsga2"
    assert 0 < params["share"] < 1


@pytest.mark.parametrize("first", ["sweep", "evolutionary"])
def test_hybrid_counts_every_evaluation_of_both_stages(first: str) -> None:
    p = CountingTable()
    res = solve(p, "hybrid", budget=3000, seed=0, device="cpu", first=first, n_points=8,
                pop_size=20)
    assert res.n_evals == p.rows
    assert 3000 - 20 < res.n_evals <= 3000  # pymoo may drop a few duplicate offspring
    assert res.method == "hybrid" and res.config["first"] == first
    _check_result(res, p, 3000)
    # One history across both stages: counts and archive hypervolume never go back.
    h = res.history
    assert h["n_evals"].iloc[-1] == res.n_evals
    assert (np.diff(h["hypervolume"]) >= -1e-12).all()


def test_sweep_first_hands_its_designs_to_the_population(monkeypatch: pytest.MonkeyPatch) -> None:
    seen = {}

    def spy(run_evolutionary, *args, **kwargs):  # type: ignore[no-untyped-def]
        seen["initial"] = kwargs["initial"]
        seen["evals_before"] = kwargs["recorder"].n_evals
        return run_evolutionary(*args, **kwargs)

    wrap(monkeypatch, hybrid, "run_evolutionary", spy)
    # anchor_life=None: the hybrid's default for its sweep (longer anchors where the
    # relaxed design is the design), so that both run the same sweep.
    swept = solve(CountingBowls(), "chebyshev", budget=600, seed=0, device="cpu",
                  n_points=8, anchor_life=None)
    res = solve(CountingBowls(), "hybrid", budget=1000, seed=0, device="cpu", n_points=8,
                pop_size=20, sweep="chebyshev", share=0.6, refine=0)
    # The sweep stage is the same sweep as on its own (same seed, same budget share)...
    assert seen["evals_before"] == 600
    # ...and its designs, front first, seed the population.
    front = swept.front_X
    np.testing.assert_array_equal(seen["initial"][: len(front)],
                                  swept.X[swept.front_mask])
    assert len(seen["initial"]) == len(swept.X)
    assert res.config["evolutionary_budget"] == 400


def test_evolutionary_first_seeds_every_row_from_the_archive(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    calls = []

    def spy(seed_from_archive, run, st):  # type: ignore[no-untyped-def]
        calls.append(st.n_rows)
        seed_from_archive(run, st)
        # Every row starts at an archive design (encoded), next to its solution.
        X, _, _ = run.rec.archive
        Z = run.problem.encode(X)
        for z in st.z.numpy():
            assert np.isclose(Z, z).all(axis=1).any()

    wrap(monkeypatch, engine, "_seed_from_archive", spy)
    p = get_problem("zdt1", n_var=6)
    res = solve(p, "hybrid", budget=2000, seed=0, device="cpu", first="evolutionary",
                n_points=8, pop_size=20)
    # 8 rows: the method's own vectors hold the simplex corners, which are the anchors.
    assert calls == [8]
    _check_result(res, p, 2000)


def test_hybrid_rejects_bad_parameters() -> None:
    p = CountingBowls()
    with pytest.raises(ValueError, match="share"):
        solve(p, "hybrid", budget=2000, share=1.5)
    with pytest.raises(ValueError, match="sweep"):
        solve(p, "hybrid", budget=2000, sweep="nsga2")
    with pytest.raises(ValueError, match="first"):
        solve(p, "hybrid", budget=2000, first="both")
    for bad in (-0.1, 0.7, True, "0.05"):  # share 0.3 leaves refine < 0.7
        with pytest.raises(ValueError, match="refine"):
            solve(p, "hybrid", budget=2000, refine=bad)
    with pytest.raises(ValueError, match="too small"):
        solve(p, "hybrid", budget=150, pop_size=100)
    with pytest.raises(ValueError, match="relaxation"):
        solve(MixedNoRelaxation(), "hybrid", budget=2000)


def test_hybrid_beats_its_parts_on_codesign() -> None:
    # At an equal budget the hybrid's front is above both of its stages run alone.
    p = get_problem("codesign")
    ref = p.ref_point
    hv = {
        m: hypervolume(solve(p, m, budget=6000, seed=0, device="cpu").front_F, ref)
        for m in ("hybrid", "epo", "nsga2")
    }
    assert hv["hybrid"] > hv["epo"] > hv["nsga2"]


def test_repeated_seed_designs_enter_the_first_population_once() -> None:
    # Sweep rows may share a design; pymoo would drop the repeats from the first population
    # and leave the budget short. Each enters once, in order, and random designs fill up.
    from dse.solvers._evolutionary import run_evolutionary

    p = CountingBowls()
    X = p.sample(5, seed=123)  # not the designs the population's own seed draws
    res = run_evolutionary("nsga2", p, budget=200, seed=0, pop_size=20,
                           initial=np.concatenate([X, X[::-1], X]))
    assert res.n_evals == p.rows == 200


def test_a_sweep_that_gives_up_leaves_its_share_to_the_population() -> None:
    # No design is ever feasible: with give_up=0.5 the sweep stops after half its share
    # ("infeasible") and the population runs on in whole generations of the rest.
    from test_solvers import NeverFeasible

    p = NeverFeasible()
    swept = solve(p, "chebyshev", budget=2000, seed=0, device="cpu", give_up=0.5)
    assert swept.stop_reason == "infeasible"
    assert 1000 <= swept.n_evals < 1200
    res = solve(p, "hybrid", budget=4000, seed=0, device="cpu", pop_size=20, give_up=0.5,
                share=0.5)
    assert res.config["sweep.stop_reason"] == "infeasible"
    assert res.config["evolutionary_budget"] > 2000
    assert 4000 - 20 < res.n_evals <= 4000
    # Without give_up the sweep keeps its whole share.
    full = solve(p, "hybrid", budget=4000, seed=0, device="cpu", pop_size=20, share=0.5)
    assert full.config["sweep.stop_reason"] == "budget"
    assert full.config["evolutionary_budget"] == 2000 and full.n_evals == 4000
    with pytest.raises(ValueError, match="give_up"):
        solve(p, "chebyshev", budget=2000, seed=0, device="cpu", give_up=1.5)


def test_the_refinement_share_ends_the_run_counted_and_raises_the_front(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    # The last ``refine`` of the budget goes to midpoints of the front's largest gaps: every
    # one counted, the budget used to the last evaluation, the front's HV not lower after.
    seen = {}

    def spy(refine_gaps, problem, rec, budget):  # type: ignore[no-untyped-def]
        seen["before"] = (rec.n_evals, rec.hypervolume(), budget)
        used = refine_gaps(problem, rec, budget)
        seen["after"] = (rec.n_evals, rec.hypervolume())
        return used

    wrap(monkeypatch, hybrid, "refine_gaps", spy)
    p = CountingBowls()
    res = solve(p, "hybrid", budget=1000, seed=0, device="cpu", n_points=8, pop_size=20,
                sweep="chebyshev", share=0.3, refine=0.1)
    assert res.n_evals == p.rows == 1000
    n_before, hv_before, left = seen["before"]
    assert left == 1000 - n_before >= 100  # its share, and what the generations left
    assert res.config["refine_evals"] == seen["after"][0] - n_before == left
    assert seen["after"][1] >= hv_before
    _check_result(res, p, 1000)
    assert res.history["n_evals"].iloc[-1] == 1000


def test_without_real_variables_the_population_keeps_the_refinement_share() -> None:
    def grid(x):  # type: ignore[no-untyped-def]
        a, b = x[..., 0], x[..., 1]
        return torch.stack([(a - 3) ** 2 + b, a + (b - 12) ** 2], dim=-1)

    p = Problem.from_function(grid, [Integer("a", 0, 20), Integer("b", 0, 20)], n_obj=2)
    assert not p.kind_mask(Real).any()
    res = solve(p, "hybrid", budget=2000, seed=0, device="cpu", n_points=8, pop_size=20)
    assert res.config["refine"] == 0 and res.config["refine_evals"] == 0
    assert res.n_evals == 2000
