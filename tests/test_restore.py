"""Constraint restoration in gradient sweeps (dse.solvers._restore, ``restore=``)."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from dse.problem import Problem
from dse.solvers import solve
from dse.solvers._restore import feasible_step, linearise


def _plane_problem() -> Problem:
    """min (x - 2)^2 + y^2 and (x + 2)^2 + y^2 subject to x + y >= 1.5 (linear): the
    constrained front is the segment of x + y = 1.5 between the two minimisers' projections."""

    def f(x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        a, b = x[..., 0], x[..., 1]
        F = torch.stack([(a - 2) ** 2 + b**2, (a + 2) ** 2 + b**2], dim=-1)
        return F, (1.5 - a - b).unsqueeze(-1)

    return Problem.from_function(f, {"x": (-3.0, 3.0), "y": (-3.0, 3.0)}, n_obj=2,
                                 n_constr=1, name="plane")


def _linear_batch() -> tuple[torch.Tensor, torch.Tensor]:
    z = torch.tensor([[0.0, 0.0], [2.0, 2.0], [0.5, 0.5]], dtype=torch.float64,
                     requires_grad=True)
    G = (1.0 - z.sum(-1)).unsqueeze(-1)  # feasible where z0 + z1 >= 1
    return z, G


def test_a_violated_row_lands_inside_a_linear_constraint_by_its_margin() -> None:
    z, G = _linear_batch()
    width = torch.ones(2, dtype=torch.float64)
    cols, J = linearise(z, G, width)
    assert cols == [0]
    dz = torch.tensor([[-0.01, 0.0], [-0.01, 0.0], [-0.02, 0.0]], dtype=torch.float64)
    out = feasible_step(G, dz, width, cols, J, margin_fraction=0.5, max_move=10.0)
    after = 1.0 - (z.detach() + out).sum(-1)
    # Row 0 was violated by 1: it lands at -margin = -0.5 * |J dz| = -0.005 (linear: exact).
    assert after[0].item() == pytest.approx(-0.005, abs=1e-9)  # the ridge: 1e-10 relative
    # Row 1 is feasible and its step keeps it so: unchanged.
    assert torch.equal(out[1], dz[1])
    # Row 2 was violated too (0 + 0 vs 1): also restored inside.
    assert after[2].item() <= 0
    # The correction is along the constraint's normal: the tangential part of the step stays.
    tangent = torch.tensor([1.0, -1.0], dtype=torch.float64)
    assert (out[0] @ tangent).item() == pytest.approx((dz[0] @ tangent).item(), abs=1e-12)


def test_the_correction_is_capped_by_max_move() -> None:
    z, G = _linear_batch()
    width = torch.ones(2, dtype=torch.float64)
    dz = torch.zeros((3, 2), dtype=torch.float64)
    out = feasible_step(G, dz, width, *linearise(z, G, width), max_move=0.1)
    assert out.abs().amax().item() == pytest.approx(0.1)


def test_no_violation_costs_no_backward_pass_and_changes_nothing() -> None:
    z = torch.zeros((2, 2), dtype=torch.float64, requires_grad=True)
    G = (z.sum(-1) - 1.0).unsqueeze(-1)  # feasible everywhere here
    cols, J = linearise(z, G, torch.ones(2, dtype=torch.float64))
    assert cols == [] and J is None
    dz = torch.ones((2, 2), dtype=torch.float64)
    assert feasible_step(G, dz, torch.ones(2, dtype=torch.float64), cols, J) is dz


@pytest.mark.parametrize("method", ["chebyshev", "epo"])
def test_restoration_keeps_counts_and_rows_on_the_feasible_side(method: str) -> None:
    p = _plane_problem()
    on = solve(p, method, budget=1500, seed=0, device="cpu", n_points=8)
    off = solve(p, method, budget=1500, seed=0, device="cpu", n_points=8, restore=False)
    assert on.config["restore"] is True and off.config["restore"] is False
    assert on.n_evals == off.n_evals == 1500
    # Every preference row reports a feasible design near the constrained front: on the
    # boundary x + y = 1.5, or at the f1 minimiser (2, 0), which is feasible.
    rows = on.X[:8]
    assert on.feasible[:8].all()
    # Rows stop when their objectives move less than ftol, a little short of the boundary:
    # within 1% of the box (width 6) here, with or without restoration.
    on_boundary = np.abs(rows.sum(-1) - 1.5) < 0.06
    at_minimiser = np.abs(rows - [2.0, 0.0]).max(-1) < 0.01
    assert (on_boundary | at_minimiser).all()


def test_restoration_reaches_a_narrow_feasible_band_the_penalty_misses() -> None:
    # MW10's feasible set is a thin band behind a multimodal distance function: measured,
    # the penalised descent found no feasible design in 1,000 evaluations, the restored one
    # 25 (10k evaluations, seeds 0-4: see bench/bench_engineering.py and the issue note).
    from dse.problem import get_problem

    p = get_problem("mw10")
    on = solve(p, "chebyshev", budget=1000, seed=0, device="cpu", n_points=10)
    with pytest.warns(RuntimeWarning, match="no feasible design"):
        off = solve(p, "chebyshev", budget=1000, seed=0, device="cpu", n_points=10,
                    restore=False)
    assert not off.feasible.any()
    assert on.feasible.sum() >= 10 and len(on.front_F) >= 5


def test_mixed_problems_do_not_restore_by_default() -> None:
    from dse.problem import get_problem

    res = solve(get_problem("welded_beam", discrete=True), "chebyshev", budget=400, seed=0,
                device="cpu", n_points=4)
    assert res.config["restore"] is False


def test_restore_must_be_a_bool_or_none() -> None:
    with pytest.raises(ValueError, match="restore must be None"):
        solve(_plane_problem(), "chebyshev", budget=200, seed=0, device="cpu", restore="yes")


@pytest.mark.parametrize("method", ["weighted_sum", "chebyshev"])
def test_longer_anchors_reach_further_along_active_constraints(method: str) -> None:
    # The welded beam's cheapest design (cost 2.381, SLSQP) lies on three active
    # constraints; anchors that descend four times longer get closer at the same budget
    # (measured: weighted sum 2.82 -> 2.72, chebyshev 3.81 -> 2.49).
    from dse.problem import get_problem

    p = get_problem("welded_beam")
    corners = [[1.0, 0.0], [0.0, 1.0]]
    cheap = 0 if method == "weighted_sum" else 1  # ray methods: the other objective's corner
    short = solve(p, method, budget=3000, seed=0, device="cpu", preferences=corners)
    long = solve(p, method, budget=3000, seed=0, device="cpu", preferences=corners,
                 anchor_life=4)
    assert short.config["anchor_life"] == 1.0 and long.config["anchor_life"] == 4.0
    assert short.n_evals == long.n_evals == 3000
    assert long.feasible[cheap] and short.feasible[cheap]
    assert 2.38 <= long.F[cheap, 0] < short.F[cheap, 0]


def test_anchor_life_is_automatic_in_the_hybrid_only() -> None:
    from dse.problem import get_problem

    cont = solve(_plane_problem(), "chebyshev", budget=300, seed=0, device="cpu",
                 n_points=4, anchor_life=None)
    mixed = solve(get_problem("welded_beam", discrete=True), "chebyshev", budget=300,
                  seed=0, device="cpu", n_points=4, anchor_life=None)
    plain = solve(_plane_problem(), "chebyshev", budget=300, seed=0, device="cpu",
                  n_points=4)
    assert (cont.config["anchor_life"], mixed.config["anchor_life"]) == (4.0, 1.0)
    assert plain.config["anchor_life"] == 1.0
    from dse.solvers import solver_parameters

    assert solver_parameters("hybrid")["anchor_life"] is None
    assert solver_parameters("chebyshev")["anchor_life"] == 1.0


@pytest.mark.parametrize("bad", [0.5, "4", True, float("inf")])
def test_anchor_life_must_be_a_number_of_at_least_one(bad: object) -> None:
    with pytest.raises(ValueError, match="anchor_life must be"):
        solve(_plane_problem(), "chebyshev", budget=200, seed=0, device="cpu",
              anchor_life=bad)
