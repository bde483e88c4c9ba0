"""Gradient-conflict advisor: measure how the objectives' gradients interact, then advise.

:func:`diagnose` follows a short descent with the plain averaged gradient (the default a
practitioner starts from) and records, at every step, the pairwise cosines of the task
gradients, their norms and the loss values. The evidence is turned into advice by the rules
practitioners use:

* **aligned** gradients (mean pairwise cosine above ``aligned_cos`` and conflicts rare):
  a weighted sum is enough (``mean`` / ``linear``);
* **conflicting** gradients (a pair below zero in at least ``conflict_frac`` of the steps):
  a conflict-aware aggregator (``mgda``, ``pcgrad``, ``cagrad``; ``upgrad`` as well);
* **mismatched magnitudes** (median ratio of the largest to the smallest gradient norm, or
  of the loss scales, above ``scale_ratio``): balance them first (``gradnorm``,
  ``loss_norm``, ``grad_normalisation``);
* a **trade-off to explore** (conflict that persists in the last quarter of the descent,
  with a mean cosine there below ``tradeoff_cos``: the objectives keep pulling apart where
  progress has slowed, so there is a front, not a single answer): a Pareto sweep over
  preference vectors (``epo``: a sweep solver of :mod:`dse.solvers` and a weighting alike).

Gradients seen along one descent cannot tell whether a weighted sum can reach the front:
on a concave front the gradients may agree everywhere the descent goes while every weighted
sum lands on one of the front's two ends. So the advisor tests what it advises: for problems
with 2 or 3 objectives it runs the **front probe** of :mod:`dse._advisor_probe`, a
weighted-sum and a Chebyshev sweep of equal, small, counted budget (``probe_budget``
objective evaluations in all), and compares their hypervolumes, their numbers of distinct
front points and how far Chebyshev's points lie behind the convex hull (where no weight
reaches). A **concave** or **disconnected** front, or one the weighted sum covers less well
(**uncovered**), gets a Pareto sweep (:data:`FRONT_SWEEPS`: ``epo`` and ``chebyshev``)
first, and the weighted sum's names leave the advice; a weighted sum is advised to explore a
front only where the probe shows it covers it (:attr:`Report.sweep`).

The report also names the **practices to avoid** it sees (:data:`PRACTICES`): a weighted
sum's weights tuned by random search on a front the weighted sum does not cover, gradient
conflicts (cos < 0) left to a plain sum, and joint training from scratch where separate
pre-training then joint fine-tuning (:func:`dse._advisor_probe.probe_pretraining`, same
number of gradient evaluations) does better.

Every name the rules can recommend is in :data:`RECOMMENDATIONS` or :data:`FRONT_SWEEPS`:
each is a registered weighting (:func:`dse.gradient.get_weighting`), and the sweeps
(``epo``, ``chebyshev``, ``weighted_sum``) are also registered sweep solvers
(:func:`dse.solvers.solve`).

The returned :class:`Report` prints its evidence (``str(report)``) and plots the cosines
over the steps (:meth:`Report.plot_cosines`).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

import numpy as np

from dse._advisor_probe import (
    PROBE_THRESHOLDS,
    FrontProbe,
    PretrainProbe,
    probe_front,
    probe_pretraining,
)

if TYPE_CHECKING:
    from dse.mtl_task import MTLTaskProtocol

__all__ = [
    "FRONT_SWEEPS",
    "PRACTICES",
    "RECOMMENDATIONS",
    "FrontProbe",
    "PretrainProbe",
    "Report",
    "diagnose",
    "diagnose_problem",
    "diagnose_task",
    "probe_front",
]

#: Default thresholds of the rules (see the module docstring).
THRESHOLDS: dict[str, float] = {
    "aligned_cos": 0.5,  # cos > 0.5: the gradients agree on more than half their length
    "conflict_frac": 0.25,  # a pair opposed (cos < 0) in a quarter of the steps or more
    "scale_ratio": 10.0,  # an order of magnitude between gradient norms or loss scales
    "tradeoff_cos": -0.5,  # late mean cosine below -0.5: strongly opposed at the end
}

#: What each verdict recommends, best first (``"none"``: no rule fired). Every name is a
#: registered weighting; the trade-off's ``"epo"`` is a registered sweep solver as well.
RECOMMENDATIONS: dict[str, tuple[str, ...]] = {
    "mismatched": ("gradnorm", "loss_norm", "grad_normalisation"),
    "conflicting": ("cagrad", "mgda", "pcgrad", "upgrad"),
    "tradeoff": ("epo",),
    "aligned": ("mean", "linear"),
    "none": ("mean", "cagrad"),
}

#: The sweeps the front probe's verdict advises, best first: each is a registered sweep solver
#: of :func:`dse.solvers.solve` and a registered weighting. A front a weighted sum does not
#: cover gets a Pareto sweep: EPO first (it lands each preference on its exact ray), except on
#: a disconnected front, where a ray may point into a gap with no point to land on and
#: Chebyshev (which takes the nearest point behind the ray) leads (bench/bench_advisor.py:
#: on zdt3 EPO trails both others). ``"covered"``: the probe shows a weighted sum covers it.
FRONT_SWEEPS: dict[str, tuple[str, ...]] = {
    "concave": ("epo", "chebyshev"),
    "disconnected": ("chebyshev", "epo"),
    "uncovered": ("epo", "chebyshev"),
    "covered": ("weighted_sum",),
}

#: Names of the plain weighted sum (weightings ``mean`` / ``linear``, sweep ``weighted_sum``).
WEIGHTED_SUM_NAMES: tuple[str, ...] = ("mean", "linear", "weighted_sum")

#: Practices the report warns against when its evidence shows them (:attr:`Report.avoid`).
PRACTICES: dict[str, str] = {
    "random_search_weights": "tuning a weighted sum's weights by random search",
    "ignored_conflicts": "ignoring gradient conflicts (cos < 0) by summing the losses",
    "joint_from_scratch": "joint training from scratch where separate pre-training then "
                          "joint fine-tuning does better",
}


@dataclass
class Report:
    """Evidence gathered by :func:`diagnose` and the advice drawn from it.

    Attributes
    ----------
    subject
        What was diagnosed (problem or task name).
    objective_names
        One label per objective / task.
    steps
        Step numbers ``(R,)``.
    cosines
        Pairwise gradient cosines ``(R, S, P)`` for ``S`` runs (starts or one model) and
        ``P = K(K-1)/2`` pairs, in the order of :attr:`pairs`.
    grad_norms
        Gradient norms ``(R, S, K)``.
    losses
        Objective values ``(R, S, K)``.
    verdicts
        Which rules fired: subset of ``{"aligned", "conflicting", "mismatched",
        "tradeoff"}``.
    recommended
        Registry names of the recommended weightings, best first (see
        :data:`RECOMMENDATIONS`); when a sweep is advised, ``"epo"`` comes first: the EPO
        sweep solver of :func:`dse.solvers.solve` (also a weighting).
    reasons
        One sentence per rule, with the numbers behind it.
    stats
        The summary numbers the rules used.
    front
        The front probe's measurements (:class:`~dse._advisor_probe.FrontProbe`); ``None``
        when it did not run (``probe_budget=0``, a task, or not 2-3 objectives).
    pretrain
        The pre-training probe's measurements (:class:`~dse._advisor_probe.PretrainProbe`),
        or ``None``.
    sweep, sweep_alternative
        The sweep solver advised to explore the front (``"epo"`` when the probe shows a
        weighted sum does not cover it, ``"weighted_sum"`` when it shows it does) and the
        one advised against; ``None`` without a front probe or a front to explore.
    avoid
        Practices to avoid that the evidence shows (keys of :data:`PRACTICES`), each with
        one sentence and its numbers.
    """

    subject: str
    objective_names: tuple[str, ...]
    steps: np.ndarray
    cosines: np.ndarray
    grad_norms: np.ndarray
    losses: np.ndarray
    verdicts: set[str] = field(default_factory=set)
    recommended: list[str] = field(default_factory=list)
    reasons: list[str] = field(default_factory=list)
    stats: dict[str, float] = field(default_factory=dict)
    thresholds: dict[str, float] = field(default_factory=lambda: dict(THRESHOLDS))
    front: FrontProbe | None = None
    pretrain: PretrainProbe | None = None
    sweep: str | None = None
    sweep_alternative: str | None = None
    avoid: dict[str, str] = field(default_factory=dict)

    @property
    def n_probe_evals(self) -> int:
        """Objective evaluations the front probe used (0 when it did not run)."""
        return 0 if self.front is None else self.front.total_evals

    @property
    def pairs(self) -> list[tuple[str, str]]:
        names = self.objective_names
        K = len(names)
        return [(names[i], names[j]) for i in range(K) for j in range(i + 1, K)]

    @property
    def advice(self) -> str:
        """One line: the strategy to use."""
        if not self.recommended:
            return "no advice (a single objective)"
        return ", ".join(self.recommended)

    def __str__(self) -> str:
        s = self.stats
        lines = [
            f"Gradient diagnosis of {self.subject!r}: {len(self.objective_names)} objectives "
            f"({', '.join(self.objective_names)}), {len(self.steps)} recorded steps of the "
            f"averaged gradient, {self.cosines.shape[1]} run(s)",
            "",
            "Evidence",
            f"  mean pairwise cosine         {s.get('mean_cos', float('nan')):+.3f}"
            f"   (last quarter {s.get('late_cos', float('nan')):+.3f})",
            f"  steps with a conflicting pair {s.get('conflict_frac', float('nan')):6.1%}"
            f"  (last quarter {s.get('late_conflict_frac', float('nan')):.1%})",
            f"  gradient norm ratio max/min  {s.get('norm_ratio', float('nan')):9.3g} (median)",
            f"  loss scale ratio max/min     {s.get('loss_ratio', float('nan')):9.3g} (median)",
        ]
        for (a, b), c in zip(self.pairs, self._pair_means(), strict=True):
            lines.append(f"  cos({a}, {b}) mean {c:+.3f}")
        if "rise_frac" in s:
            lines.append(f"  steps where the averaged step raised an objective "
                         f"{s['rise_frac']:.1%} (first order)")
        if self.front is not None:
            lines += ["", "Front probe: weighted-sum vs Chebyshev sweep at equal budget"]
            lines += self.front.lines()
        if self.pretrain is not None:
            p = self.pretrain
            lines += ["", "Pre-training probe: joint from scratch vs each objective alone, "
                          "then joint fine-tuning",
                      f"  final averaged loss {p.scratch_loss:.4g} vs {p.pretrained_loss:.4g} "
                      f"({p.steps} steps a start, {p.n_grad_evals['scratch']} vs "
                      f"{p.n_grad_evals['pretrained']} gradient evaluations; gain "
                      f"{p.gain:+.3f} of the spread)"]
        lines += ["", "Verdict: " + (", ".join(sorted(self.verdicts)) or "none")]
        lines += [f"  - {r}" for r in self.reasons]
        if self.avoid:
            lines += ["", "Avoid"]
            lines += [f"  - {text}" for text in self.avoid.values()]
        lines += ["", f"Advice: {self.advice}"]
        if self.sweep is not None:
            lines.append(f"Sweep: {self.sweep} (rather than {self.sweep_alternative})")
        return "\n".join(lines)

    def _pair_means(self) -> np.ndarray:
        if self.cosines.size == 0:
            return np.zeros(0)
        return np.nanmean(self.cosines, axis=(0, 1))

    def to_dict(self) -> dict[str, Any]:
        """JSON-friendly summary (no per-step arrays)."""
        out: dict[str, Any] = {
            "subject": self.subject, "objectives": list(self.objective_names),
            "verdicts": sorted(self.verdicts), "recommended": list(self.recommended),
            "reasons": list(self.reasons), "stats": dict(self.stats),
            "sweep": self.sweep, "sweep_alternative": self.sweep_alternative,
            "avoid": dict(self.avoid)}
        if self.front is not None:
            f = self.front
            out["front"] = {"shape": f.shape, "verdict": f.verdict, "budget": f.budget,
                            "n_evals": dict(f.n_evals), "n_grad_evals": dict(f.n_grad_evals),
                            "hv": dict(f.hv), "n_front": dict(f.n_front),
                            "n_behind": f.n_behind, "depth": f.depth, "max_gap": f.max_gap}
        if self.pretrain is not None:
            p = self.pretrain
            out["pretrain"] = {"scratch_loss": p.scratch_loss,
                               "pretrained_loss": p.pretrained_loss, "gain": p.gain,
                               "n_grad_evals": dict(p.n_grad_evals), "better": p.better}
        return out

    def plot_cosines(self, path: str | None = None, ax: Any = None) -> Any:
        """Plot every pair's cosine over the steps (mean over runs, band = min..max).

        Saves a PNG when ``path`` is given; returns the matplotlib figure.
        """
        import matplotlib

        if ax is None and path is not None:
            matplotlib.use("Agg", force=False)
        import matplotlib.pyplot as plt

        fig = None
        if ax is None:
            fig, ax = plt.subplots(figsize=(6, 3.5))
        else:
            fig = ax.figure
        for p, (a, b) in enumerate(self.pairs):
            c = self.cosines[:, :, p]
            line, = ax.plot(self.steps, c.mean(axis=1), label=f"cos({a}, {b})")
            if c.shape[1] > 1:
                ax.fill_between(self.steps, c.min(axis=1), c.max(axis=1), alpha=0.2,
                                color=line.get_color())
        ax.axhline(0.0, color="k", lw=0.8)
        ax.axhline(self.thresholds["aligned_cos"], color="g", lw=0.6, ls="--")
        ax.set_ylim(-1.05, 1.05)
        ax.set_xlabel("step")
        ax.set_ylabel("gradient cosine")
        ax.set_title(f"{self.subject}: {self.advice}", fontsize=9)
        if self.pairs:
            ax.legend(fontsize=7, loc="best")
        if path is not None:
            fig.savefig(path, dpi=100, bbox_inches="tight")
        return fig


# ---------------------------------------------------------------------- rules
def _rise_fraction(cos: np.ndarray, norms: np.ndarray) -> float:
    """Share of (step, run) records where the averaged gradient's step raised an objective.

    The Gramian ``G_ij = |g_i| |g_j| cos_ij`` is rebuilt from the recorded norms and pair
    cosines; objective ``i`` rises to first order along ``-mean(g)`` when ``(G 1)_i < 0``:
    the conflict the plain sum ignores, made visible as a loss going up.
    """
    K = norms.shape[-1]
    C = np.broadcast_to(np.eye(K), (*norms.shape[:-1], K, K)).copy()
    iu = np.triu_indices(K, 1)
    C[..., iu[0], iu[1]] = cos
    C[..., iu[1], iu[0]] = cos
    G = norms[..., :, None] * C * norms[..., None, :]
    rises = (G.sum(-1) < 0).any(-1)
    return float(np.nanmean(rises))


def _statistics(cos: np.ndarray, norms: np.ndarray, conflict: np.ndarray, late: slice,
                tiny: float) -> dict[str, float]:
    """The rules' summary numbers from cosines ``(R, S, P)`` and norms ``(R, S, K)``."""
    return {
        "mean_cos": float(np.nanmean(cos)),
        "late_cos": float(np.nanmean(cos[late])),
        "min_cos": float(np.nanmin(cos)),
        "conflict_frac": float(conflict.mean()),
        "late_conflict_frac": float(conflict[late].mean()),
        "norm_ratio": float(np.median(norms.max(-1) / np.maximum(norms.min(-1), tiny))),
        "rise_frac": _rise_fraction(cos, norms),
    }


def _advise(report: Report) -> Report:
    th = report.thresholds
    K = len(report.objective_names)
    if K < 2:
        report.reasons.append("one objective: nothing can conflict")
        return report
    cos, norms, losses = report.cosines, report.grad_norms, report.losses
    R = cos.shape[0]
    late = slice(max(0, R - max(1, R // 4)), R)
    tiny = np.finfo(float).tiny
    conflict = (cos < 0).any(axis=-1)  # (R, S): some pair opposed at that step
    # A zero gradient norm makes a ratio infinite: that is the figure, not a warning.
    with np.errstate(over="ignore", divide="ignore", invalid="ignore"):
        stats = _statistics(cos, norms, conflict, late, tiny)
    absl = np.abs(losses)
    positive = bool((losses > 0).all())
    with np.errstate(over="ignore", divide="ignore", invalid="ignore"):
        stats["loss_ratio"] = (
            float(np.median(absl.max(-1) / np.maximum(absl.min(-1), tiny))) if positive
            else float("nan"))
    report.stats = stats

    mismatched = stats["norm_ratio"] > th["scale_ratio"] or (
        positive and stats["loss_ratio"] > th["scale_ratio"])
    conflicting = stats["conflict_frac"] >= th["conflict_frac"]
    aligned = stats["mean_cos"] > th["aligned_cos"] and not conflicting
    tradeoff = (stats["late_conflict_frac"] >= 0.5 and stats["late_cos"] < th["tradeoff_cos"])
    front = report.front
    needs_sweep = front is not None and front.verdict is not None
    covered = front is not None and front.covered and front.shape != "point"
    fired: dict[str, str] = {}  # verdict -> reason, in the order the rules are listed
    if mismatched:
        fired["mismatched"] = (
            f"gradient norms differ by {stats['norm_ratio']:.3g}x (loss scales by "
            f"{stats['loss_ratio']:.3g}x), above {th['scale_ratio']:g}x: the largest objective "
            "would dominate a plain sum; balance them (GradNorm or loss/gradient normalisation)")
    if conflicting:
        fired["conflicting"] = (
            f"a pair of gradients is opposed (cos < 0) in {stats['conflict_frac']:.0%} of the "
            f"steps (threshold {th['conflict_frac']:.0%}), mean cosine {stats['mean_cos']:+.2f}: "
            "use a conflict-aware aggregator")
    if tradeoff:
        fired["tradeoff"] = (
            f"the conflict persists at the end (last-quarter mean cosine "
            f"{stats['late_cos']:+.2f} < {th['tradeoff_cos']:+g}): the objectives trade off, "
            + ("and the front probe shows a weighted-sum sweep covers the front: explore it "
               "with one (solver 'weighted_sum')" if covered else
               "so explore the front with a Pareto sweep over preference vectors (solver "
               "'epo' or 'chebyshev')"))
    if aligned:
        fired["aligned"] = (
            f"gradients agree (mean cosine {stats['mean_cos']:+.2f} > {th['aligned_cos']:g}, "
            f"conflicts in {stats['conflict_frac']:.0%} of steps): "
            + ("along the descent a weighted sum would do, but the front probe shows it "
               "misses the front (below)" if needs_sweep else "a weighted sum suffices"))
    report.verdicts.update(fired)
    if not fired:
        fired["none"] = (
            f"gradients are weakly related (mean cosine {stats['mean_cos']:+.2f}) with rare "
            f"conflicts ({stats['conflict_frac']:.0%}) and comparable scales: "
            + ("CAGrad is a cheap safeguard; the front probe rules out a weighted sum "
               "(below)" if needs_sweep else
               "a weighted sum is a fine default; CAGrad is a cheap safeguard"))
    report.reasons.extend(fired.values())
    # The advice leads with the simplest remedy that fits (a plain sum, else a sweep over
    # the trade-off), then balancing, then conflict-aware aggregation.
    rec = [name for verdict in ("aligned", "tradeoff", "mismatched", "conflicting", "none")
           if verdict in fired for name in RECOMMENDATIONS[verdict]]
    if front is not None:
        rec = _front_advice(report, front, rec)
    report.recommended = list(dict.fromkeys(rec))
    report.avoid = _practices_seen(report)
    return report


def _front_advice(report: Report, front: FrontProbe, rec: list[str]) -> list[str]:
    """Let the front probe's measurements decide the sweep; returns the advice list."""
    report.reasons.append(front.reason())
    if front.verdict is not None:
        # Measured: a weighted sum misses part of the front. Pareto sweeps lead, and no
        # weighted sum is advised, whatever the gradients along one descent suggested.
        report.verdicts.add(front.verdict)
        sweeps = FRONT_SWEEPS[front.verdict]
        report.sweep, report.sweep_alternative = sweeps[0], "weighted_sum"
        return [*sweeps, *(n for n in rec if n not in WEIGHTED_SUM_NAMES)]
    if front.covered and front.shape != "point":
        # Measured: the weighted sum reaches as much of the front as Chebyshev.
        report.sweep, report.sweep_alternative = FRONT_SWEEPS["covered"][0], "chebyshev"
        if rec and rec[0] not in WEIGHTED_SUM_NAMES:
            return [*FRONT_SWEEPS["covered"], *rec]
    return rec


def _practices_seen(report: Report) -> dict[str, str]:
    """The practices of :data:`PRACTICES` that the report's evidence shows, with numbers."""
    s, front, seen = report.stats, report.front, {}
    if front is not None and front.verdict is not None and front.shape != "unknown":
        ws, ch = "weighted_sum", "chebyshev"
        why = (f"{front.n_behind} of the front points found lie behind the convex hull, "
               "where no weight reaches" if front.n_behind else
               "its points bunch where the front's slope changes little")
        seen["random_search_weights"] = (
            f"{PRACTICES['random_search_weights']}: here the weighted sum's "
            f"{front.n_points} weights found {front.n_front[ws]} distinct front points "
            f"(hypervolume {front.hv[ws]:.3f}) where Chebyshev's found {front.n_front[ch]} "
            f"({front.hv[ch]:.3f}) at equal budget; {why}, so more random weights buy "
            "runs, not coverage")
    if "conflicting" in report.verdicts and s.get("rise_frac", 0.0) > 0:
        # Ignoring a conflict costs something only where the summed step raises a loss.
        seen["ignored_conflicts"] = (
            f"{PRACTICES['ignored_conflicts']}: a pair of gradients is opposed in "
            f"{s['conflict_frac']:.0%} of the steps (lowest cosine {s['min_cos']:+.2f}), and the "
            f"averaged step raised an objective (to first order) in "
            f"{s.get('rise_frac', float('nan')):.0%} of all steps")
    p = report.pretrain
    if p is not None and p.better:
        seen["joint_from_scratch"] = (
            f"{PRACTICES['joint_from_scratch']}: here pre-training each objective alone, "
            f"then joint fine-tuning, reached an averaged loss of {p.pretrained_loss:.4g} vs "
            f"{p.scratch_loss:.4g} from scratch with as many gradient evaluations "
            f"({p.n_grad_evals['pretrained']} vs {p.n_grad_evals['scratch']})")
    return seen


# ---------------------------------------------------------------------- entry points
def diagnose_problem(problem: Any, steps: int = 200, seed: int = 0,
                     device: Any = "cpu", *, n_starts: int = 4, lr: float | None = None,
                     thresholds: dict[str, float] | None = None, probe_budget: int = 400,
                     probe_points: int | None = None, pretrain_probe: bool = True,
                     **params: Any) -> Report:
    """Diagnose a differentiable :class:`~dse.problem.Problem` (instance or registry name).

    Runs ``steps`` Adam steps of the averaged gradient of the objectives w.r.t. ``x`` from
    ``n_starts`` random starts (the problem's default initial point if it has one), all
    batched, and applies the rules. ``lr`` defaults to 0.5% of the median box width
    (1e-3 for model-parameter problems). ``params`` build the problem when it is a name.
    Constraints are ignored by the descent: only the objectives' gradients are compared.

    With 2 or 3 objectives the front probe (:func:`~dse._advisor_probe.probe_front`) then
    spends ``probe_budget`` objective evaluations (half on a weighted-sum sweep, half on a
    Chebyshev sweep, ``probe_points`` preferences each; ``0`` skips it) to test whether a
    weighted sum covers the front; with ``pretrain_probe`` the descent is repeated from the
    same starts as separate pre-training then joint fine-tuning, with as many gradient
    evaluations (:func:`~dse._advisor_probe.probe_pretraining`). Both are counted in the
    report (:attr:`Report.front`, :attr:`Report.pretrain`). ``thresholds`` may override
    the probes' thresholds (:data:`~dse._advisor_probe.PROBE_THRESHOLDS`) as well.
    """
    from dse.problem_specs import build_problem
    from dse.train import descend

    if isinstance(problem, str):
        problem = build_problem(problem, **params)
    elif params:
        raise ValueError("problem parameters only apply when problem is a registry name")
    if not getattr(problem, "has_relaxation", False):
        raise ValueError(f"problem {problem.name!r} is not differentiable (no relaxation); "
                         "the advisor needs gradients")
    if steps < 4:
        raise ValueError(f"steps must be >= 4, got {steps}")
    if probe_budget < 0:
        raise ValueError(f"probe_budget must be >= 0 (0: no front probe), got {probe_budget}")
    rules = {k: v for k, v in (thresholds or {}).items() if k not in PROBE_THRESHOLDS}
    probe_th = {k: v for k, v in (thresholds or {}).items() if k in PROBE_THRESHOLDS}
    init = getattr(problem, "initial_point", None)
    if callable(init):
        x0 = init(n_starts, seed=seed)
        lr = 1e-3 if lr is None else lr
    else:
        lo, hi = problem.relaxed_bounds()
        rng = np.random.default_rng(seed)
        x0 = rng.uniform(lo, hi, size=(n_starts, len(lo)))
        lr = 0.005 * float(np.median(hi - lo)) if lr is None else lr
    res = descend(problem, "mean", x0, steps=steps, lr=lr, device=device)
    report = Report(subject=problem.name, objective_names=tuple(problem.objective_names),
                    steps=res.steps, cosines=res.cosines, grad_norms=res.grad_norms,
                    losses=res.F, thresholds={**THRESHOLDS, **rules})
    K = len(report.objective_names)
    if probe_budget and K in (2, 3):
        report.front = probe_front(problem, budget=probe_budget, seed=seed, device=device,
                                   n_points=probe_points, thresholds=probe_th)
    elif probe_budget and K > 3:
        report.reasons.append(f"front probe skipped: it takes 2 or 3 objectives, not {K}")
    if pretrain_probe and K >= 2:
        report.pretrain = probe_pretraining(
            problem, x0, res.f_final, steps, lr, device,
            gain=probe_th.get("pretrain_gain", PROBE_THRESHOLDS["pretrain_gain"]))
    return _advise(report)


def diagnose_task(task: MTLTaskProtocol, steps: int = 200, seed: int = 0, device: Any = "cpu", *,
                  lr: float | None = None, thresholds: dict[str, float] | None = None,
                  progress: bool = False) -> Report:
    """Diagnose a multi-task training setup (a :class:`~dse.mtl_task.MTLTaskProtocol`).

    Trains with equal weights for ``steps`` steps (gradients of the shared parameters)
    and applies the rules to the recorded cosines, norms and losses.
    """
    from dse.train import train

    res = train(task, "mean", steps=steps, lr=lr, device=device, seed=seed,
                track_gradients=True, eval_splits=(), progress=progress)
    h = res.history
    names = task.task_names
    K = len(names)
    pairs = [f"cos_{names[i]}_{names[j]}" for i in range(K) for j in range(i + 1, K)]
    report = Report(
        subject=task.name, objective_names=tuple(names), steps=h["step"].to_numpy(),
        cosines=h[pairs].to_numpy()[:, None, :] if pairs else np.zeros((len(h), 1, 0)),
        grad_norms=h[[f"grad_norm_{t}" for t in names]].to_numpy()[:, None, :],
        losses=h[[f"loss_{t}" for t in names]].to_numpy()[:, None, :],
        thresholds={**THRESHOLDS, **(thresholds or {})})
    return _advise(report)


def diagnose(subject: Any, steps: int = 200, seed: int = 0, device: Any = "cpu",
             **kwargs: Any) -> Report:
    """Diagnose a problem (instance or registry name) or a multi-task setup.

    Dispatches to :func:`diagnose_problem` or :func:`diagnose_task`; see those for the
    keyword arguments.
    """
    from dse.problem import Problem

    if isinstance(subject, (str, Problem)):
        return diagnose_problem(subject, steps=steps, seed=seed, device=device, **kwargs)
    if hasattr(subject, "make_model") and hasattr(subject, "task_names"):
        return diagnose_task(subject, steps=steps, seed=seed, device=device, **kwargs)
    raise TypeError(
        "diagnose takes a Problem, a registered problem name or an MTLTask, got "
        f"{type(subject).__name__}")
