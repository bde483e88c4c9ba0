"""Exact refinement of a front's gaps: counted, never repeated, halfway in the reals."""

from __future__ import annotations

import numpy as np
import torch

from dse.indicators import hypervolume
from dse.problem import Integer, Problem, Real, get_problem
from dse.solvers._evolutionary import run_evolutionary
from dse.solvers._gaps import gap_midpoints
from dse.solvers._history import RunRecorder
from dse.solvers._refine import refine_gaps


class _Logged(Problem):
    """ZDT1 on 4 variables that logs every design it evaluates."""

    name = "logged_zdt1"

    def __init__(self) -> None:
        super().__init__([Real(f"x{i}", 0.0, 1.0) for i in range(4)], n_obj=2)
        self.inner = get_problem("zdt1", n_var=4)
        self.seen: list[np.ndarray] = []

    def _evaluate(self, x: torch.Tensor) -> torch.Tensor:
        self.seen.append(x.detach().numpy().reshape(-1, 4).copy())
        return self.inner._evaluate(x)


def test_refinement_counts_every_evaluation_and_raises_the_hypervolume() -> None:
    p = _Logged()
    rec = RunRecorder(p)
    run_evolutionary("nsga2", p, budget=400, seed=0, pop_size=20, recorder=rec)
    _, F0, _ = rec.archive
    n0, hv0, logged0 = rec.n_evals, hypervolume(F0, p.inner.ref_point), sum(map(len, p.seen))
    used = refine_gaps(p, rec, 120)
    assert 0 < used <= 120
    assert rec.n_evals - n0 == used == sum(map(len, p.seen)) - logged0
    new = np.concatenate(p.seen)[logged0:]
    assert len(np.unique(new, axis=0)) == len(new)  # no midpoint twice
    _, F1, _ = rec.archive
    # A converging population leaves gaps on ZDT1's continuous front: midpoints fill them.
    assert hypervolume(F1, p.inner.ref_point) > hv0
    # The history's last row is the refined archive, at the refined count.
    assert rec.history()["n_evals"].iloc[-1] == rec.n_evals


def test_midpoints_are_halfway_in_the_reals_and_keep_an_endpoints_discrete_part() -> None:
    X = np.array([[0.0, 1.0, 2.0], [1.0, 3.0, 4.0], [0.5, 5.0, 4.0]])
    F = np.array([[0.0, 1.0], [0.6, 0.5], [1.0, 0.0]])
    real = np.array([True, False, True])
    seen: set[bytes] = set()
    mids = gap_midpoints(X, F, real, 10, seen)
    assert mids  # every pair's reals differ
    for m in mids:
        halfway = [(X[i, real] + X[j, real]) / 2 for i in range(3) for j in range(3) if i < j]
        assert any(np.allclose(m[real], h) for h in halfway)
        assert m[1] in X[:, 1]
    # Asked again, nothing already seen comes back.
    assert all(m.tobytes() not in {a.tobytes() for a in mids}
               for m in gap_midpoints(X, F, real, 10, seen))


def test_nothing_to_refine_without_real_variables_or_a_front() -> None:
    def grid(x: torch.Tensor) -> torch.Tensor:
        a, b = x[..., 0], x[..., 1]
        return torch.stack([(a - 3) ** 2 + b, a + (b - 12) ** 2], dim=-1)

    p = Problem.from_function(grid, [Integer("a", 0, 20), Integer("b", 0, 20)], n_obj=2)
    rec = RunRecorder(p)
    run_evolutionary("nsga2", p, budget=200, seed=0, pop_size=20, recorder=rec)
    n = rec.n_evals
    assert refine_gaps(p, rec, 100) == 0 and rec.n_evals == n
    empty = RunRecorder(_Logged())
    assert refine_gaps(empty.problem, empty, 100) == 0 and empty.n_evals == 0
