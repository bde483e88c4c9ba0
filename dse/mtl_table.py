"""Compare weightings on a multi-task problem: per-seed runs, single-task baselines,
Delta_m%, and a mean / spread summary (the table of MTL papers).

:func:`compare_methods` trains every method for every seed with :func:`dse.train.train`,
trains one single-task model per task and seed (the Delta_m reference of that seed), and
returns one row per run; :func:`summarise_methods` turns those rows into mean and
standard deviation over seeds per method.

Delta_m% uses the CAGrad / Nash-MTL convention (lower is better, see
:func:`dse.train.delta_m`); each multi-task run is compared with the single-task models of
its own seed.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

import numpy as np
import pandas as pd

from dse.registry import deprecated_names
from dse.train import delta_m, train

__all__ = ["compare_methods", "summarise_methods"]

#: Label of the single-task baseline rows.
SINGLE = "single-task"


def _normalise_methods(methods: Any) -> dict[str, tuple[Any, dict[str, Any]]]:
    """``{label: (method, params)}`` from a list of names or a mapping of label to name,
    ``(name, params)`` or weighting object."""
    if isinstance(methods, str):
        methods = [methods]
    if not isinstance(methods, Mapping):
        methods = {str(m): m for m in methods}
    out: dict[str, tuple[Any, dict[str, Any]]] = {}
    for label, spec in methods.items():
        if label == SINGLE:
            raise ValueError(f"{SINGLE!r} is reserved for the single-task baselines")
        if isinstance(spec, tuple):
            if len(spec) != 2 or not isinstance(spec[1], Mapping):
                raise ValueError(
                    f"method {label!r}: expected a name, a weighting or (name, params), "
                    f"got {spec!r}"
                )
            out[str(label)] = (spec[0], dict(spec[1]))
        else:
            out[str(label)] = (spec, {})
    if not out:
        raise ValueError("methods is empty; give at least one weighting name")
    return out


def compare_methods(
    task: Any,
    methods: Any,
    *,
    seeds: Sequence[int] = (0, 1, 2),
    steps: int | None = None,
    split: str = "test",
    progress: bool = False,
    **train_kwargs: Any,
) -> pd.DataFrame:
    """Train each method for each seed, and single-task models for Delta_m.

    Parameters
    ----------
    task
        An :class:`~problems.mtl.base.MTLTask`.
    methods
        Weighting names (``["mean", "mgda"]``) or ``{label: name | (name, params) |
        weighting}`` (``{"CAGrad c=0.5": ("cagrad", {"c": 0.5})}``).
    seeds
        One run per method and seed (model initialisation and batch order).
    steps
        Training steps of every run (default: the task's suggestion).
    split
        Held-out split the metrics and Delta_m are measured on.
    progress
        Show progress (:mod:`dse.progress`): a line per finished training and the steps
        of the one under way (a live line in a terminal, a line every few seconds in a
        log).
    **train_kwargs
        Passed to :func:`dse.train.train` for every run (``lr``, ``batch_size``,
        ``device``, ``jacobian``, ...).

    Returns
    -------
    pandas.DataFrame
        One row per run: ``method``, ``seed``, ``<metric>_<task>`` and ``loss_<task>`` on
        ``split``, ``delta_m`` (``0`` for the single-task rows) and ``wall_time``
        (seconds of training). The single-task rows (``method == "single-task"``) hold
        task ``t``'s model's values in task ``t``'s columns.
    """
    from dse.progress import Progress

    table = _normalise_methods(methods)
    seeds = [int(s) for s in seeds]
    if not seeds:
        raise ValueError("seeds is empty; give at least one seed")
    if split not in task.data:
        raise ValueError(f"unknown split {split!r}; valid: {', '.join(task.data)}")
    names, metric = task.task_names, task.metric_name
    # Each training reports its steps to the run under way (dse.progress.track).
    common = dict(train_kwargs, steps=steps, progress=progress, eval_splits=(split,))
    total = len(seeds) * (len(names) + len(table))
    bar = Progress(total, quiet=not progress, unit="steps")
    bar.say(f"compare on {task.name}: {total} trainings ({len(table)} methods "
            f"and {len(names)} single-task models, x {len(seeds)} seeds)")
    rows: list[dict[str, Any]] = []
    try:
        for seed in seeds:
            single_metric = np.empty(len(names))
            row: dict[str, Any] = {"method": SINGLE, "seed": seed, "wall_time": 0.0}
            for t, name in enumerate(names):
                bar.start(f"{SINGLE} {name} seed={seed}", steps)
                res = train(task, tasks=[t], seed=seed, **common)
                values = res.metrics[split][name]
                single_metric[t] = values[metric]
                row[f"{metric}_{name}"] = values[metric]
                row[f"loss_{name}"] = values["loss"]
                row["wall_time"] += res.wall_time
                bar.finish(text=f"{metric} {values[metric]:.4g}", wall_time=res.wall_time)
            rows.append({**row, "delta_m": 0.0})
            for label, (method, params) in table.items():
                bar.start(f"{label} seed={seed}", steps)
                res = train(task, method, weighting_params=params, seed=seed, **common)
                values = res.metrics[split]
                m = np.array([values[n][metric] for n in names])
                dm = delta_m(m, single_metric, task.higher_is_better)
                rows.append({"method": label, "seed": seed,
                             **{f"{metric}_{n}": values[n][metric] for n in names},
                             **{f"loss_{n}": values[n]["loss"] for n in names},
                             "delta_m": dm, "wall_time": res.wall_time})
                bar.finish(text=f"delta_m {dm:+.2f}%", wall_time=res.wall_time)
    finally:
        bar.close()
    order = [*table, SINGLE]
    columns = ["method", "seed", *(f"{metric}_{n}" for n in names),
               *(f"loss_{n}" for n in names), "delta_m", "wall_time"]
    df = pd.DataFrame(rows, columns=columns)
    df["method"] = pd.Categorical(df["method"], categories=order, ordered=True)
    return df.sort_values(["method", "seed"], kind="stable").reset_index(drop=True)


def summarise_methods(runs: pd.DataFrame) -> pd.DataFrame:
    """Mean and standard deviation over seeds (sample std, ``ddof=1``; ``NaN`` for one
    seed) of every numeric column of :func:`compare_methods`' rows, one row per method.

    .. deprecated:: 0.1.0
        The old name ``summarize_methods`` still works and warns (one spelling: "-ise").
    """
    if "method" not in runs or "seed" not in runs:
        raise ValueError("runs must be compare_methods' table (columns 'method' and 'seed')")
    cols = [c for c in runs.columns if c not in ("method", "seed")
            and pd.api.types.is_numeric_dtype(runs[c])]
    out = runs.groupby("method", sort=True, observed=True)[cols].agg(["mean", "std"])
    out.insert(0, ("seeds", "n"), runs.groupby("method", sort=True, observed=True).size())
    return out


__getattr__ = deprecated_names(__name__, {"summarize_methods": "summarise_methods"})
