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

Every name the rules can recommend is in :data:`RECOMMENDATIONS`: each is a registered
weighting (:func:`dse.gradient.get_weighting`), and the trade-off's ``epo`` is also a
registered sweep solver (:func:`dse.solvers.solve`).

The returned :class:`Report` prints its evidence (``str(report)``) and plots the cosines
over the steps (:meth:`Report.plot_cosines`).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

import numpy as np

if TYPE_CHECKING:
    from dse.mtl_task import MTLTaskProtocol

__all__ = ["RECOMMENDATIONS", "Report", "diagnose", "diagnose_problem", "diagnose_task"]

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
        lines += ["", "Verdict: " + (", ".join(sorted(self.verdicts)) or "none")]
        lines += [f"  - {r}" for r in self.reasons]
        lines += ["", f"Advice: {self.advice}"]
        return "\n".join(lines)

    def _pair_means(self) -> np.ndarray:
        if self.cosines.size == 0:
            return np.zeros(0)
        return np.nanmean(self.cosines, axis=(0, 1))

    def to_dict(self) -> dict[str, Any]:
        """JSON-friendly summary (no per-step arrays)."""
        return {"subject": self.subject, "objectives": list(self.objective_names),
                "verdicts": sorted(self.verdicts), "recommended": list(self.recommended),
                "reasons": list(self.reasons), "stats": dict(self.stats)}

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
    stats = {
        "mean_cos": float(np.nanmean(cos)),
        "late_cos": float(np.nanmean(cos[late])),
        "min_cos": float(np.nanmin(cos)),
        "conflict_frac": float(conflict.mean()),
        "late_conflict_frac": float(conflict[late].mean()),
        "norm_ratio": float(np.median(norms.max(-1) / np.maximum(norms.min(-1), tiny))),
    }
    absl = np.abs(losses)
    positive = bool((losses > 0).all())
    stats["loss_ratio"] = (float(np.median(absl.max(-1) / np.maximum(absl.min(-1), tiny)))
                           if positive else float("nan"))
    report.stats = stats

    mismatched = stats["norm_ratio"] > th["scale_ratio"] or (
        positive and stats["loss_ratio"] > th["scale_ratio"])
    conflicting = stats["conflict_frac"] >= th["conflict_frac"]
    aligned = stats["mean_cos"] > th["aligned_cos"] and not conflicting
    tradeoff = (stats["late_conflict_frac"] >= 0.5 and stats["late_cos"] < th["tradeoff_cos"])
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
            "so explore the front with a Pareto sweep over preference vectors (solver "
            "'epo' or 'chebyshev')")
    if aligned:
        fired["aligned"] = (
            f"gradients agree (mean cosine {stats['mean_cos']:+.2f} > {th['aligned_cos']:g}, "
            f"conflicts in {stats['conflict_frac']:.0%} of steps): a weighted sum suffices")
    report.verdicts.update(fired)
    if not fired:
        fired["none"] = (
            f"gradients are weakly related (mean cosine {stats['mean_cos']:+.2f}) with rare "
            f"conflicts ({stats['conflict_frac']:.0%}) and comparable scales: a weighted sum "
            "is a fine default; CAGrad is a cheap safeguard")
    report.reasons.extend(fired.values())
    # The advice leads with the simplest remedy that fits (a plain sum, else a sweep over
    # the trade-off), then balancing, then conflict-aware aggregation.
    rec = [name for verdict in ("aligned", "tradeoff", "mismatched", "conflicting", "none")
           if verdict in fired for name in RECOMMENDATIONS[verdict]]
    report.recommended = list(dict.fromkeys(rec))
    return report


# ---------------------------------------------------------------------- entry points
def diagnose_problem(problem: Any, steps: int = 200, seed: int = 0,
                     device: Any = "cpu", *, n_starts: int = 4, lr: float | None = None,
                     thresholds: dict[str, float] | None = None, **params: Any) -> Report:
    """Diagnose a differentiable :class:`~dse.problem.Problem` (instance or registry name).

    Runs ``steps`` Adam steps of the averaged gradient of the objectives w.r.t. ``x`` from
    ``n_starts`` random starts (the problem's default initial point if it has one), all
    batched, and applies the rules. ``lr`` defaults to 0.5% of the median box width
    (1e-3 for model-parameter problems). ``params`` build the problem when it is a name.
    Constraints are ignored: only the objectives' gradients are compared.
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
                    losses=res.F, thresholds={**THRESHOLDS, **(thresholds or {})})
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
