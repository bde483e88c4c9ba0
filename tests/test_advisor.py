"""The gradient-conflict advisor: each rule fires on a problem built to trigger it."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from dse.advisor import RECOMMENDATIONS, Report, diagnose, diagnose_problem
from dse.gradient import WEIGHTINGS
from dse.problem import Categorical, Problem, Real


class _Quadratics(Problem):
    """f_i = s_i ||x - c_i||^2 on [-2, 2]^2: centres and scales chosen per test."""

    name = "quadratics"

    def __init__(self, centres, scales) -> None:
        self.c = torch.tensor(centres, dtype=torch.float64)
        self.s = torch.tensor(scales, dtype=torch.float64)
        super().__init__([Real("a", -2, 2), Real("b", -2, 2)], len(scales))

    def _evaluate(self, x):
        d = x.unsqueeze(-2) - self.c.to(x)
        return self.s.to(x) * (d**2).sum(-1) + 1.0


def test_aligned_objectives_get_a_weighted_sum() -> None:
    # Same centre: the gradients are parallel everywhere (cosine 1).
    r = diagnose_problem(_Quadratics([[1.0, 1.0], [1.0, 1.0]], [1.0, 2.0]), steps=30)
    assert r.verdicts == {"aligned"}
    assert r.recommended[0] == "mean" and "cagrad" not in r.recommended
    assert r.stats["mean_cos"] == pytest.approx(1.0, abs=1e-6)


def test_mismatched_scales_get_normalisation() -> None:
    r = diagnose_problem(_Quadratics([[1.0, 1.0], [1.0, 1.0]], [1.0, 1000.0]), steps=30)
    assert "mismatched" in r.verdicts and "gradnorm" in r.recommended
    # Parallel gradients: the norm ratio is exactly the scale ratio.
    assert r.stats["norm_ratio"] == pytest.approx(1000.0, rel=1e-6)


def test_opposed_objectives_get_conflict_methods_and_a_sweep() -> None:
    from dse.solvers import SOLVERS

    # Centres on opposite corners: between them the gradients point in opposite directions,
    # and the descent ends on the segment joining them (the Pareto set), still opposed.
    r = diagnose_problem(_Quadratics([[-1.0, -1.0], [1.0, 1.0]], [1.0, 1.0]), steps=200)
    assert {"conflicting", "tradeoff"} <= r.verdicts
    # The sweep advised first is a registered solver ("epo"), no longer a dead name.
    assert r.recommended[0] == "epo"
    assert all(name in WEIGHTINGS for name in r.recommended) and "epo" in SOLVERS
    assert {"cagrad", "mgda", "pcgrad"} <= set(r.recommended)
    assert r.stats["late_cos"] < -0.9


def test_every_recommendation_is_a_registered_name() -> None:
    """What the advisor can recommend is found by name: each rule's names are weightings
    (train(task, name) takes them) and the trade-off's sweep is a solver as well
    (solve(problem, name)); a renamed or removed entry fails here, not in a user's run."""
    from dse.solvers import SOLVERS, list_solvers

    assert set(RECOMMENDATIONS) == {"mismatched", "conflicting", "tradeoff", "aligned", "none"}
    for verdict, names in RECOMMENDATIONS.items():
        for name in names:
            assert name in WEIGHTINGS, (verdict, name)
    solvers = {s["name"] for s in list_solvers()}
    for name in RECOMMENDATIONS["tradeoff"]:
        assert name in solvers and SOLVERS.entry(name).meta["kind"] == "gradient"


def test_registered_problems_and_tasks() -> None:
    from problems.mtl import gradnorm_regression

    r = diagnose("zdt1", steps=40)
    assert "conflicting" in r.verdicts and r.cosines.shape[1:] == (4, 1)
    task = gradnorm_regression(2, n_in=20, n_out=10, width=16, n_train=256, n_val=8, n_test=8)
    rt = diagnose(task, steps=30)
    assert "mismatched" in rt.verdicts  # sigma = (1, 100)
    assert rt.stats["loss_ratio"] > 100


def test_report_prints_evidence_and_plots(tmp_path) -> None:
    r = diagnose("cagrad_toy", steps=50, seed=1)
    text = str(r)
    for needle in ("mean pairwise cosine", "norm ratio", "Verdict", "Advice", "cos(f1, f2)"):
        assert needle in text
    assert f"{r.stats['mean_cos']:+.3f}" in text
    path = tmp_path / "cos.png"
    r.plot_cosines(str(path))
    assert path.stat().st_size > 1000
    assert isinstance(r.to_dict()["recommended"], list)
    assert isinstance(r, Report)


def test_bad_inputs() -> None:
    class _Mixed(Problem):
        name = "mixed"

        def __init__(self) -> None:
            super().__init__([Categorical("c", ("a", "b"))], 2)

        def _evaluate(self, x):
            return torch.stack([x[..., 0], -x[..., 0]], -1)

    with pytest.raises(ValueError, match="relaxation"):
        diagnose_problem(_Mixed())
    with pytest.raises(TypeError, match="Problem"):
        diagnose(3.0)
    with pytest.raises(ValueError, match="steps"):
        diagnose_problem("zdt1", steps=2)
    assert np.isfinite(diagnose_problem("zdt1", steps=5, n_starts=1).stats["mean_cos"])
