"""The advisor's probes: small, counted experiments that test what it would advise.

:func:`probe_front` asks whether a weighted sum covers a problem's front. It runs two
counted sweeps of equal budget, a weighted-sum sweep and a Chebyshev sweep over the same
preference vectors (:func:`dse.solvers.solve`), and measures, in the box of the union of
their fronts (normalised so that the union's ideal is 0 and its nadir 1):

* each arm's **hypervolume** (reference point 1.1, :func:`dse.indicators.reference_point`)
  and its number of **distinct front points**;
* how far each Chebyshev point (of those no point of either arm dominates: an unconverged
  point lies behind the hull too) lies **behind the convex hull** of all the points found
  (:func:`hull_depth`). A weighted sum ``w . f`` is minimised only by points on that hull
  (supported points): a point behind it is out of reach of every weight, however the
  weights are chosen. On a concave front every interior point is behind the chord between
  the ends; on a disconnected front, the pieces that dent inwards are;
* the largest **gap** between neighbouring Chebyshev points (two objectives): with points
  behind the hull it tells a disconnected front from a concave one.

Its verdict: ``"concave"`` or ``"disconnected"`` (Chebyshev points behind the hull deeper
than ``hull_tol``), ``"uncovered"`` (all points reachable, but the weighted sum's
hypervolume does not beat Chebyshev's by ``cover_margin``: its points bunch where the front's
slope changes little, or the two are level), or ``None`` (the weighted sum covers the front,
or the probe found a single non-dominated point, or its Chebyshev arm no feasible design).
The rule is asymmetric on purpose: a Pareto sweep reaches every point of any front, a
weighted sum only the convex hull's, so a weighted sum is advised on positive evidence only.

:func:`probe_pretraining` asks whether joint training from scratch (the averaged gradient
from random starts) loses to separate pre-training (each objective descended alone) followed
by joint fine-tuning, at the same number of gradient evaluations.

Every evaluation either probe makes is counted in its result.
"""

from __future__ import annotations

import time
import warnings
from dataclasses import dataclass, field
from typing import Any

import numpy as np

__all__ = [
    "PROBE_THRESHOLDS",
    "FrontProbe",
    "PretrainProbe",
    "distinct_count",
    "hull_depth",
    "probe_front",
    "probe_pretraining",
]

#: Default thresholds of the probes, in units of the union front's range (normalised box).
PROBE_THRESHOLDS: dict[str, float] = {
    # A point more than 8% of the range behind the convex hull: no weighted sum reaches it.
    # Short sweeps leave unconverged points up to about 5% behind the hull of a convex front
    # (zdt1, srn, truss2d at 200 evaluations an arm); concave fronts show 12-27%.
    "hull_tol": 0.08,
    # The weighted sum covers the front when its hypervolume beats Chebyshev's by at least
    # this (0.5% of the unit box): a level result is no evidence for the sum (see above).
    "cover_margin": 0.005,
    # A gap of 40% of the range between neighbouring points: a front in pieces (with points
    # behind the hull); 8 rays on a connected front leave gaps of about 0.2.
    "gap_tol": 0.4,
    # Points closer than 2% of the range count as one (for the distinct-point counts).
    "distinct_tol": 0.02,
    # Pre-training then fine-tuning "does better" when its final averaged loss is lower than
    # joint training's by more than 5% of the spread of the objectives' values.
    "pretrain_gain": 0.05,
}

#: The two arms of the front probe: registered sweep solvers of :mod:`dse.solvers`.
ARMS = ("weighted_sum", "chebyshev")


def distinct_count(P: np.ndarray, tol: float) -> int:
    """Number of points of ``P (n, m)`` left after merging those within ``tol`` of a kept one
    (greedy, in the given order; Euclidean distance)."""
    P = np.asarray(P, dtype=float)
    kept: list[np.ndarray] = []
    for p in P:
        if all(np.linalg.norm(p - q) > tol for q in kept):
            kept.append(p)
    return len(kept)


def _weight_grid(m: int) -> np.ndarray:
    """About 2,000 weight vectors spread evenly on the simplex of ``m`` objectives."""
    from dse.solvers import das_dennis

    partitions = {1: 1, 2: 2000, 3: 60}.get(m, 8)
    return das_dennis(partitions, m)


def hull_depth(P: np.ndarray, Q: np.ndarray) -> np.ndarray:
    """How far each point of ``P (n, m)`` lies behind the convex hull of ``Q (k, m)``.

    ``depth(p) = min_w (w . p - min_q w . q)`` over weight vectors ``w`` on the simplex (a
    grid of about 2,000): zero when some weighted sum is minimised at ``p`` among ``Q``
    (``p`` supported, on the hull), positive when no weighted sum reaches ``p``. In
    normalised objectives it is a distance in units of the front's range. ``Q`` should
    contain ``P``.
    """
    P = np.atleast_2d(np.asarray(P, dtype=float))
    Q = np.atleast_2d(np.asarray(Q, dtype=float))
    if P.shape[-1] != Q.shape[-1]:
        raise ValueError(f"P and Q must have the same number of objectives, got P {P.shape} "
                         f"and Q {Q.shape}")
    if not len(P):
        return np.zeros(0)
    W = _weight_grid(P.shape[-1])
    best = (Q @ W.T).min(axis=0)  # (G,): the weighted sum's minimum over Q, per weight
    return np.maximum((P @ W.T - best).min(axis=1), 0.0)


def _max_gap(P: np.ndarray) -> float:
    """Largest distance between neighbours along a two-objective front (0 for fewer than two
    points or other numbers of objectives)."""
    if P.shape[-1] != 2 or len(P) < 2:
        return 0.0
    s = P[np.argsort(P[:, 0])]
    return float(np.linalg.norm(np.diff(s, axis=0), axis=1).max())


@dataclass(frozen=True)
class FrontProbe:
    """What :func:`probe_front` measured.

    Attributes
    ----------
    budget
        Objective evaluations allowed, both arms together (half each).
    n_points, seed
        Preference vectors per arm and the seed of both sweeps.
    n_evals, n_grad_evals
        Objective and gradient evaluations each arm used (``{"weighted_sum": ...,
        "chebyshev": ...}``).
    hv
        Each arm's hypervolume in the union's normalised box (reference point 1.1 in every
        objective, so at most ``1.1 ** m``).
    n_front
        Each arm's number of distinct front points (closer than ``distinct_tol`` count once).
    n_behind, depth
        Chebyshev front points behind the convex hull of all points found (deeper than
        ``hull_tol``), and the deepest one's depth (normalised).
    max_gap
        Largest gap between neighbouring Chebyshev points (two objectives; else 0).
    shape
        ``"point"`` (one non-dominated point found), ``"convex"``, ``"concave"``,
        ``"disconnected"`` or ``"unknown"`` (the Chebyshev arm found no feasible design).
    verdict
        ``"concave"``, ``"disconnected"``, ``"uncovered"`` or ``None`` (see the module).
    wall_time
        Seconds both sweeps took.
    thresholds
        The thresholds used.
    """

    budget: int
    n_points: int
    seed: int
    n_evals: dict[str, int]
    n_grad_evals: dict[str, int]
    hv: dict[str, float]
    n_front: dict[str, int]
    n_behind: int
    depth: float
    max_gap: float
    shape: str
    verdict: str | None
    wall_time: float
    thresholds: dict[str, float] = field(default_factory=lambda: dict(PROBE_THRESHOLDS))

    @property
    def total_evals(self) -> int:
        """Objective evaluations both arms used together."""
        return int(sum(self.n_evals.values()))

    @property
    def covered(self) -> bool:
        """True when the probe shows a weighted sum covers the front (a single point
        included); False when it does not, or when the probe could not tell."""
        return self.verdict is None and self.shape in ("convex", "point")

    @property
    def hv_gap(self) -> float:
        """Chebyshev's hypervolume minus the weighted sum's (normalised box)."""
        return self.hv["chebyshev"] - self.hv["weighted_sum"]

    def lines(self) -> list[str]:
        """The probe's evidence, one figure a line (for :class:`dse.advisor.Report`)."""
        ws, ch = "weighted_sum", "chebyshev"
        return [
            f"  budget {self.budget} objective evaluations ({self.n_points} preferences per "
            f"arm, seed {self.seed}); used {self.n_evals[ws]} + {self.n_evals[ch]} "
            f"(+ {self.n_grad_evals[ws]} + {self.n_grad_evals[ch]} gradient), "
            f"{self.wall_time:.1f} s",
            f"  hypervolume (union box, ref 1.1)  weighted sum {self.hv[ws]:.3f}   "
            f"Chebyshev {self.hv[ch]:.3f}   (difference {self.hv_gap:+.3f}, "
            f"margin {self.thresholds['cover_margin']:g})",
            f"  distinct front points          weighted sum {self.n_front[ws]:5d}   "
            f"Chebyshev {self.n_front[ch]:5d}",
            f"  Chebyshev points behind the convex hull {self.n_behind} (deepest "
            f"{self.depth:.3f} of the range, tolerance {self.thresholds['hull_tol']:g}); "
            f"largest gap {self.max_gap:.2f}",
            f"  shape: {self.shape}",
        ]

    def reason(self) -> str:
        """One sentence with the numbers behind the verdict."""
        ws, ch = "weighted_sum", "chebyshev"
        hv = (f"hypervolume {self.hv[ws]:.3f} vs Chebyshev's {self.hv[ch]:.3f}, "
              f"{self.n_front[ws]} vs {self.n_front[ch]} distinct points")
        if self.verdict in ("concave", "disconnected"):
            what = ("concave: weighted sums find only its ends" if self.verdict == "concave"
                    else f"disconnected (a gap of {self.max_gap:.2f} of the range): weighted "
                         "sums skip the pieces that dent inwards")
            return (f"the front is {what}; {self.n_behind} Chebyshev point(s) lie behind the "
                    f"convex hull (up to {self.depth:.3f} of the range), where no weight "
                    f"reaches ({hv} at equal budget): explore it with a Pareto sweep (solver "
                    + ("'chebyshev' or 'epo')" if self.verdict == "disconnected"
                       else "'epo' or 'chebyshev')"))
        if self.verdict == "uncovered":
            margin = self.thresholds["cover_margin"]
            how = (f"its points bunch up: {hv} at equal budget (short by {self.hv_gap:.3f})"
                   if self.hv_gap > 0 else
                   f"it does no better: {hv} at equal budget (ahead by {-self.hv_gap:.3f} < "
                   f"{margin:g}), and a Pareto sweep reaches every point of any front")
            return (f"every point found is on the convex hull, but the weighted sum does not "
                    f"show it covers the front: {how}; use a Pareto sweep (solver 'epo' or "
                    "'chebyshev')")
        if self.shape == "point":
            return (f"the front probe found a single non-dominated point in "
                    f"{self.total_evals} evaluations: no trade-off showed (the hypervolumes "
                    "of a one-point box compare nothing), so it advises no sweep (raise "
                    "probe_budget if a front is expected)")
        if self.shape == "unknown":
            return (f"the front probe's Chebyshev sweep found no feasible design in "
                    f"{self.n_evals['chebyshev']} evaluations (the weighted sum "
                    f"{self.n_front['weighted_sum']} front points): no evidence on the front's "
                    "shape, no sweep advised (raise probe_budget)")
        return (f"the weighted sum covers the front: no Chebyshev point lies behind the convex "
                f"hull and it reaches {hv} at equal budget (ahead by at least "
                f"{self.thresholds['cover_margin']:g}): a weighted-sum sweep suffices to "
                "explore it")


def probe_front(problem: Any, budget: int = 400, seed: int = 0, device: Any = "cpu", *,
                n_points: int | None = None,
                thresholds: dict[str, float] | None = None) -> FrontProbe:
    """Test whether a weighted sum covers ``problem``'s front (see the module docstring).

    Parameters
    ----------
    problem
        A differentiable :class:`~dse.problem.Problem` (or registry name) with 2 or 3
        objectives.
    budget
        Objective evaluations for both arms together (each gets ``budget // 2``).
    seed, device
        Of both sweeps.
    n_points
        Preference vectors per arm (default 8 for two objectives, 10 for three).
    thresholds
        Overrides of :data:`PROBE_THRESHOLDS`.
    """
    from dse.indicators import hypervolume, normalise, reference_point
    from dse.pareto import nondominated
    from dse.problem_specs import build_problem
    from dse.solvers import solve

    if isinstance(problem, str):
        problem = build_problem(problem)
    th = {**PROBE_THRESHOLDS, **(thresholds or {})}
    m = int(problem.n_obj)
    if m not in (2, 3):
        raise ValueError(f"the front probe takes problems with 2 or 3 objectives, got {m} "
                         f"({problem.name!r})")
    n_points = {2: 8, 3: 10}[m] if n_points is None else int(n_points)
    if budget < 2 * n_points:
        raise ValueError(f"probe budget must be at least 2 * n_points = {2 * n_points} "
                         f"evaluations, got {budget}")
    t0 = time.perf_counter()
    fronts: dict[str, np.ndarray] = {}
    n_evals: dict[str, int] = {}
    n_grad: dict[str, int] = {}
    for arm in ARMS:
        with warnings.catch_warnings():
            # An empty front is reported by the probe itself (shape "unknown").
            warnings.simplefilter("ignore", RuntimeWarning)
            res = solve(problem, arm, budget=budget // 2, seed=seed, device=device,
                        n_points=n_points)
        fronts[arm] = np.asarray(res.front_F, dtype=float).reshape(-1, m)
        n_evals[arm] = int(res.n_evals)
        n_grad[arm] = int(res.n_grad_evals)
    wall = time.perf_counter() - t0

    def make(hv: dict[str, float], n_front: dict[str, int], n_behind: int, depth: float,
             gap: float, shape: str, verdict: str | None) -> FrontProbe:
        return FrontProbe(budget=int(budget), n_points=n_points, seed=int(seed),
                          n_evals=n_evals, n_grad_evals=n_grad, hv=hv, n_front=n_front,
                          n_behind=n_behind, depth=depth, max_gap=gap, shape=shape,
                          verdict=verdict, wall_time=wall, thresholds=th)

    if not len(fronts["chebyshev"]):
        # Nothing to test the hull with. (A weighted sum that found nothing where Chebyshev
        # found designs is measured below: hypervolume 0, "uncovered".)
        hv = {a: 0.0 if len(fronts[a]) == 0 else float("nan") for a in ARMS}
        return make(hv, {a: len(f) for a, f in fronts.items()}, 0, 0.0, 0.0, "unknown", None)

    union = np.vstack(list(fronts.values()))
    union = union[nondominated(union)]
    ideal, nadir = union.min(axis=0), union.max(axis=0)
    scale = np.maximum(np.abs(nadir), np.abs(ideal)).max()
    N = {a: np.asarray(normalise(f, ideal, nadir)) for a, f in fronts.items()}
    ref = reference_point(np.zeros(m), np.ones(m))  # 1.1: the one rule, in the normalised box
    hv = {a: float(hypervolume(n, ref)) if len(n) else 0.0 for a, n in N.items()}
    n_front = {a: distinct_count(n, th["distinct_tol"]) for a, n in N.items()}
    if (nadir - ideal).max() <= 1e-9 * max(scale, 1.0):
        return make(hv, n_front, 0, 0.0, 0.0, "point", None)

    # Only Chebyshev points that no point of either arm dominates: an unconverged point lies
    # behind the hull too, but the other arm's converged points dominate it.
    both = np.vstack(list(N.values()))
    cheb = N["chebyshev"]
    cheb = cheb[nondominated(np.vstack([cheb, both]))[: len(cheb)]]
    depth = hull_depth(cheb, both)
    behind = depth > th["hull_tol"]
    gap = _max_gap(cheb)
    if behind.any():
        shape = "disconnected" if gap > th["gap_tol"] else "concave"
        verdict: str | None = shape
    else:
        shape = "convex"
        ahead = hv["weighted_sum"] - hv["chebyshev"]
        verdict = None if ahead >= th["cover_margin"] else "uncovered"
    return make(hv, n_front, int(behind.sum()), float(depth.max(initial=0.0)), gap, shape,
                verdict)


# ---------------------------------------------------------------------- pre-training
@dataclass(frozen=True)
class PretrainProbe:
    """What :func:`probe_pretraining` measured.

    Attributes
    ----------
    steps
        Gradient steps of each arm per start (joint from scratch: ``steps`` joint steps;
        pre-training: ``steps // (2K)`` steps per objective, then ``steps - K * that``
        joint steps).
    scratch_loss, pretrained_loss
        Final averaged loss (mean of the objectives, what the averaged gradient minimises),
        mean over the starts, of each arm.
    spread
        The objectives' spread over both arms' final points (the scale of the comparison).
    n_grad_evals
        Gradient evaluations of each arm (one design's Jacobian counts one).
    better
        Whether pre-training then fine-tuning beat joint training by more than
        ``pretrain_gain * spread``.
    """

    steps: int
    scratch_loss: float
    pretrained_loss: float
    spread: float
    n_grad_evals: dict[str, int]
    better: bool

    @property
    def gain(self) -> float:
        """How much lower the pre-trained arm's loss is, in units of the spread."""
        return (self.scratch_loss - self.pretrained_loss) / self.spread


def _single_objective(k: int, K: int) -> Any:
    """A weighting that keeps objective ``k`` alone (weights ``e_k`` for every batch row)."""
    import torch

    def weights(G: Any, *, losses: Any = None) -> Any:
        e = torch.zeros(K, dtype=G.dtype, device=G.device)
        e[k] = 1.0
        return e.expand(*G.shape[:-2], K)

    return weights


def probe_pretraining(problem: Any, x0: np.ndarray, scratch_F: np.ndarray, steps: int,
                      lr: float, device: Any = "cpu", *,
                      gain: float = PROBE_THRESHOLDS["pretrain_gain"]) -> PretrainProbe:
    """Compare joint training from scratch with separate pre-training then joint fine-tuning.

    ``scratch_F (S, K)`` are the final objectives of the joint arm (the averaged gradient
    from the starts ``x0 (S, n_var)`` for ``steps`` steps: the advisor's own descent, reused).
    The other arm descends each objective alone from the same starts for ``steps // (2K)``
    steps, then descends the averaged gradient for the rest of ``steps`` from the
    pre-trained point whose averaged loss is lowest, per start. Both arms take ``steps``
    steps per start; every step evaluates the K objectives' gradients at every row.
    """
    from dse.train import descend, descend_many

    S, K = scratch_F.shape
    pre = max(1, steps // (2 * K))
    fine = max(1, steps - K * pre)
    runs = descend_many(problem, {f"f{k}": _single_objective(k, K) for k in range(K)}, x0,
                        steps=pre, lr=lr, device=device, record_every=pre)
    X = np.stack([runs[f"f{k}"].x_final for k in range(K)])  # (K, S, n_var)
    F = np.stack([runs[f"f{k}"].f_final for k in range(K)])  # (K, S, K)
    pick = F.mean(axis=-1).argmin(axis=0)  # per start, the pre-trained point to fine-tune
    start = X[pick, np.arange(S)]
    tuned = descend(problem, "mean", start, steps=fine, lr=lr, device=device,
                    record_every=fine).f_final
    both = np.vstack([scratch_F, tuned])
    spread = float(np.nanmax(both.max(axis=0) - both.min(axis=0)))
    spread = spread if spread > 0 else 1.0
    scratch_loss = float(np.nanmean(scratch_F.mean(axis=-1)))
    pretrained_loss = float(np.nanmean(tuned.mean(axis=-1)))
    return PretrainProbe(
        steps=int(steps), scratch_loss=scratch_loss, pretrained_loss=pretrained_loss,
        spread=spread, n_grad_evals={"scratch": S * steps, "pretrained": S * (K * pre + fine)},
        better=bool(scratch_loss - pretrained_loss > gain * spread))
