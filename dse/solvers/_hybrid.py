"""Hybrid solver: a gradient sweep and an evolutionary search, one after the other.

Evolutionary search and gradient sweeps fail in complementary ways. A gradient sweep
converges fast and moves many coupled variables at once (hardware and every layer's
schedule), but each row ends on one design; a population recombines designs and spreads
along the front (every aspect ratio of a floorplan), but from random designs it needs
many generations to find the coupled moves. Two orders are offered (``first``):

- ``"sweep"`` (default): the sweep (``sweep``: ``epo``, ``chebyshev``, ...) runs for
  ``share`` of the budget; its designs, front first, then make up the first population
  of pymoo's ``evolutionary`` algorithm, which recombines them for the rest;
- ``"evolutionary"``: the population runs first; then every row of the sweep starts from
  the archive's best design for its own preference
  (:func:`dse.solvers._gradient.run_gradient_sweep` with a recorder).

Measured on the co-design problem (seeds 0-2, HV ratio to the exact front): sweep first
0.986-0.992 at 10k evaluations and 0.996 at 40k; evolutionary first 0.78-0.85 and
0.94-0.96, below the sweep alone (an early population's designs are poor starts). So
``"sweep"`` is the default. The default ``share`` is 0.3: on the small constrained
engineering problems (``problems/engineering``) the evolutionary stage needs most of the
budget (seeds 0-2 at 10k, mean HV ratio: share 0.6 below NSGA-II alone on 10 of 25
problems, 0.3 on 7, 0.15 on 7 but worse on co-design), while on co-design 0.3 costs
little (10k: 0.985 against 0.988 at 0.6; 40k: 0.996 both). Measured with
``solve(problem, "hybrid", first=..., share=...)``; ``bench/bench_codesign_solvers.py``
and ``bench/bench_engineering.py`` compare the default with NSGA-II and the sweeps.

On a constrained problem whose feasible set the penalised descent does not reach (MW1,
MW10: narrow feasible bands behind a multimodal distance function) the sweep's share is
wasted. ``give_up=g`` ends the sweep when ``g`` of its share found no feasible design and
gives the rest to the population. It is off by default: measured (seeds 0-2, 10k) with
``g=0.5``, MW1 0.646 -> 0.684 and MW10 0.518 -> 0.524 (NSGA-II alone: 0.755, 0.526), but
MW13 0.777 -> 0.739, where the sweep's feasible designs come late and pay off (``g=0.25``
also cuts MW4 from 0.944 to 0.328).

The last ``refine`` of the budget (default 0.05; problems with real variables) goes to
:func:`~dse.solvers._refine.refine_gaps`: exact designs halfway, in the real variables,
between neighbours around the archive's largest gaps, in ten rounds. On the engineering
problems (seeds 0-4, 10k, mean HV ratio) it turned SRN 0.9991 -> 0.9995, TNK 0.9889 ->
0.9923, truss2d (table) 0.9996 -> 0.9998 and co-design 0.9841 -> 0.9865 (40k: 0.9959 ->
0.9961), while MW1, whose feasible band is too thin for midpoints, lost 0.3878 -> 0.3608.
When the first stage leaves no front to refine, the second stage takes that share; what
no stage can use (less than a generation) is spent on random designs, so the budget is
used to the last evaluation.

All stages share one :class:`~dse.solvers._history.RunRecorder`: evaluation counts,
archive and hypervolume history run on from one stage to the next, so the result is
measured exactly like every other method's. The budget is split in whole generations,
so it is used to the last evaluation.
"""

from __future__ import annotations

from typing import Any

import numpy as np
import torch

from dse.checks import whole_number
from dse.problem import Problem, Real
from dse.solvers._api import register_solver
from dse.solvers._evolutionary import ALGORITHMS, run_evolutionary
from dse.solvers._gradient import (
    BASE_DEFAULTS,
    SweepSettings,
    check_gradient_problem,
    default_sweep_budget,
    exact_is_relaxed,
    run_gradient_sweep,
)
from dse.solvers._history import RunRecorder
from dse.solvers._refine import evaluate_counted, refine_gaps

__all__ = ["run_hybrid"]

_SWEEPS = ("weighted_sum", "chebyshev", "epo", "cagrad")
# Second word of the seed of the random designs that fill a budget no stage could use.
_RANDOM_STREAM = 0x5EED


def run_hybrid(
    problem: Problem,
    *,
    budget: int | None,
    seed: int,
    device: torch.device,
    evolutionary: str = "nsga2",
    sweep: str = "epo",
    first: str = "sweep",
    share: float = 0.3,
    refine: float = 0.05,
    pop_size: int = 100,
    **params: Any,
) -> Any:
    """The sweep for ``share`` of ``budget``, the evolutionary search in the order
    ``first``, then ``refine`` of the budget on midpoints of the front's largest gaps
    (:func:`~dse.solvers._refine.refine_gaps`; problems with real variables only); see the
    module. ``params`` are the sweep's parameters."""
    if sweep not in _SWEEPS:
        raise ValueError(f"sweep must be one of {', '.join(_SWEEPS)}, got {sweep!r}")
    if evolutionary not in ALGORITHMS:  # every algorithm of the table, added ones too
        raise ValueError(
            f"evolutionary must be one of {', '.join(ALGORITHMS)}, got {evolutionary!r}"
        )
    if first not in ("sweep", "evolutionary"):
        raise ValueError(f"first must be 'sweep' or 'evolutionary', got {first!r}")
    if isinstance(share, bool) or not isinstance(share, (int, float)) or not 0 < share < 1:
        raise ValueError(f"share must be a number in (0, 1), got {share!r}")
    if (isinstance(refine, bool) or not isinstance(refine, (int, float))
            or not 0 <= refine < 1 - share):
        raise ValueError(f"refine must be a number in [0, 1 - share) = [0, {1 - share:g}), "
                         f"got {refine!r}")
    pop_size = whole_number("pop_size", pop_size, 4)
    check_gradient_problem(problem, "hybrid")
    settings = SweepSettings(method=sweep, **params)
    if budget is None:
        budget = int(default_sweep_budget(settings, settings.n_points,
                                          exact_is_relaxed(problem)) / share)
    # Without real variables there is no midpoint to take: the population keeps that share.
    refine = refine if problem.kind_mask(Real).any() else 0.0
    refine_budget = int(refine * budget)
    # Whole generations for the evolutionary stage; the sweep takes the rest exactly.
    evo_budget = max(2 * pop_size,
                     int((1 - share - refine) * budget) // pop_size * pop_size)
    if evo_budget + refine_budget >= budget:
        raise ValueError(
            f"budget {budget} is too small for the hybrid: its evolutionary stage alone "
            f"needs {2 * pop_size} evaluations (two populations of {pop_size}); raise the "
            "budget or lower pop_size"
        )
    rec = RunRecorder(problem)
    if first == "evolutionary":
        run_evolutionary(evolutionary, problem, budget=evo_budget, seed=seed,
                         pop_size=pop_size, recorder=rec)
        refine_budget = _refinable(rec, refine_budget)
        result = run_gradient_sweep(problem, settings, budget=budget - refine_budget,
                                    seed=seed, device=device, recorder=rec)
    else:
        swept = run_gradient_sweep(problem, settings,
                                   budget=budget - evo_budget - refine_budget, seed=seed,
                                   device=device, recorder=rec)
        # A sweep that gave up (no feasible design, see ``give_up``) leaves the rest of its
        # share to the population, in whole generations.
        refine_budget = _refinable(rec, refine_budget)
        evo_budget = max(evo_budget,
                         (budget - refine_budget - rec.n_evals) // pop_size * pop_size)
        ok = swept.feasible
        on_front = swept.front_mask[ok]
        X = swept.X[ok]
        initial = np.concatenate([X[on_front], X[~on_front]])
        result = run_evolutionary(evolutionary, problem, budget=evo_budget, seed=seed,
                                  pop_size=pop_size, recorder=rec, initial=initial)
        result.config.update({f"sweep.{k}": v for k, v in swept.config.items()
                              if k in ("steps", "rounds", "polish_evals", "n_rows",
                                       "stop_reason")})
    refined = refine_gaps(problem, rec, budget - rec.n_evals) if refine_budget else 0
    # What no stage could use (less than a generation, and no front to refine) goes to
    # random designs: the budget is used to the last evaluation, and a late feasible design
    # still counts.
    rest = budget - rec.n_evals
    if rest > 0:
        _evaluate_random(problem, rec, rest, seed)
    if refined or rest > 0:
        result = _with_archive(rec, result, seed)
    result.method = "hybrid"
    result.config.update(evolutionary=evolutionary, sweep=sweep, first=first, share=share,
                         refine=refine, refine_evals=refined, random_evals=max(rest, 0),
                         pop_size=pop_size,
                         evolutionary_budget=evo_budget, budget=budget)
    return result


def _refinable(rec: RunRecorder, refine_budget: int) -> int:
    """The refinement's share, or 0 when the first stage left no front to refine (no two
    feasible designs): the second stage then takes that share too."""
    return refine_budget if rec.n_front >= 2 else 0


def _evaluate_random(problem: Problem, rec: RunRecorder, n: int, seed: int) -> None:
    # A stream of its own: the population's first designs came from the run's seed.
    evaluate_counted(problem, rec, problem.sample(n, seed=np.random.default_rng(
        (seed, _RANDOM_STREAM))))


def _with_archive(rec: RunRecorder, result: Any, seed: int) -> Any:
    """``result`` again from the recorder: its final designs, then the archive's designs,
    which now include the refinement's (counts and history run on)."""
    n = result.config["n_final"]
    config = {k: v for k, v in result.config.items()
              if k not in ("n_final", "n_nonfinite", "ref_point", "hv_estimate")}
    again = rec.result(result.method, seed, (result.X[:n], result.F[:n], result.G[:n]),
                       config)
    again.config["n_nonfinite"] = result.config["n_nonfinite"]
    return again


def _solver(problem: Problem, *, budget: int | None, seed: int, device: torch.device,
            **params: Any) -> Any:
    merged = {**_DEFAULTS, **params}
    return run_hybrid(problem, budget=budget, seed=seed, device=device, **merged)


_DEFAULTS: dict[str, Any] = {
    "evolutionary": "nsga2", "sweep": "epo", "first": "sweep", "share": 0.3, "refine": 0.05,
    "pop_size": 100, **BASE_DEFAULTS, "utopia": 0.01,
    # Automatic: anchors descend longer where the relaxed design is the design (see
    # dse.solvers._gradient._ANCHOR_LIFE).
    "anchor_life": None,
}

register_solver(
    "hybrid", _solver, kind="hybrid", defaults=_DEFAULTS,
    description="EPO sweep for 30% of the budget, then NSGA-II started from its designs, "
    "then 5% on midpoints of the front's largest gaps (first=evolutionary: the first two "
    "the other way round).",
)
