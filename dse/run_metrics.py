"""Metrics of stored runs under one rule, shared by sweeps, comparisons and plots.

The hypervolume reference point is :func:`dse.indicators.reference_point` on the ideal and
nadir of the problem's reference front when it is known, otherwise on those of the union of
all fronts being compared, so that every front is measured in the same box. HV ratio and
IGD are against the reference front and left empty where it is unknown.
"""

from __future__ import annotations

import json
import warnings
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from dse.problem import Problem
from dse.problem_specs import build_problem
from dse.registry import deprecated_names
from dse.store import Store

__all__ = [
    "REF_FRONT_POINTS",
    "front_metrics",
    "mean_std_text",
    "metrics_table",
    "reference_for",
    "run_labels",
    "stored_reference",
    "summarise",
    "summary_text",
]

#: Samples of a known Pareto front used as the reference front (HV ratio, IGD, plots).
REF_FRONT_POINTS = 1000


def reference_for(
    problem: Problem, offset: float = 0.1
) -> tuple[np.ndarray | None, np.ndarray | None]:
    """``(reference front, reference point)`` of a problem, ``(None, None)`` when its
    front is unknown."""
    from dse.indicators import reference_point

    front = problem.pareto_front(REF_FRONT_POINTS)
    if front is None or len(front) == 0:
        return None, None
    front = np.asarray(front, float)
    return front, reference_point(front.min(axis=0), front.max(axis=0), offset)


def stored_reference(
    name: str, params: dict[str, Any], offset: float = 0.1
) -> tuple[np.ndarray | None, np.ndarray | None]:
    """:func:`reference_for` of a stored run's problem; ``(None, None)`` when the problem
    is not registered in this process (e.g. one defined in a notebook), so its runs are
    still measured, with the union rule."""
    try:
        problem = build_problem(name, **params)
    except (TypeError, ValueError):
        return None, None
    return reference_for(problem, offset)


def front_metrics(
    F: np.ndarray, ref_front: np.ndarray | None, ref: np.ndarray
) -> dict[str, float | None]:
    """Hypervolume of ``F`` w.r.t. ``ref``; HV ratio and IGD against ``ref_front``
    (``None`` without one). An empty front has hypervolume 0 and no IGD."""
    from dse.indicators import ReferencePointWarning, hypervolume, igd

    F = np.asarray(F, float).reshape(-1, len(ref))
    with warnings.catch_warnings():
        # A front entirely beyond the reference box scores 0: that is the measurement.
        warnings.simplefilter("ignore", ReferencePointWarning)
        hv = hypervolume(F, ref) if len(F) else 0.0
        out: dict[str, float | None] = {"hypervolume": float(hv), "hv_ratio": None, "igd": None}
        if ref_front is not None:
            denom = hypervolume(ref_front, ref)
            out["hv_ratio"] = float(hv / denom) if denom > 0 else None
            out["igd"] = float(igd(F, ref_front)) if len(F) else None
    return out


def metrics_table(stores: Sequence[Store], labels: Sequence[str] | None = None, *,
                  offset: float = 0.1, job_keys: set[str] | None = None) -> pd.DataFrame:
    """One row per stored run across ``stores``, with metrics under one reference rule.

    Runs of the same problem (name and parameters) share one reference point: from the
    problem's reference front when known, else from the union of all their fronts.
    """
    labels = list(labels) if labels is not None else [str(s.path.parent) for s in stores]
    runs, fronts = [], []
    for label, store in zip(labels, stores, strict=True):
        r = store.runs()
        if job_keys is not None:
            r = r[r["job_key"].isin(job_keys)]
        r.insert(0, "run", label)
        runs.append(r)
        d = store.designs(front_only=True, variables=False)
        d.insert(0, "run", label)
        fronts.append(d)
    table = pd.concat(runs, ignore_index=True) if runs else pd.DataFrame()
    if table.empty:
        return table
    designs = pd.concat(fronts, ignore_index=True)
    table["params_json"] = [json.dumps(p, sort_keys=True) for p in table["problem_params"]]
    for col in ("hypervolume", "hv_ratio", "igd"):
        table[col] = np.nan
    for (name, pjson), grp in table.groupby(["problem", "params_json"], sort=False):
        ocols = [f"f.{o}" for o in grp["objective_names"].iloc[0]]
        front_of = {}
        for idx, row in grp.iterrows():
            sel = designs[(designs["run"] == row["run"]) & (designs["run_id"] == row["run_id"])]
            front_of[idx] = (sel[ocols].to_numpy(float) if len(sel)
                             else np.zeros((0, len(ocols))))
        ref_front, ref = stored_reference(name, json.loads(pjson), offset)
        if ref is None:
            from dse.indicators import reference_point

            union = np.concatenate([f for f in front_of.values() if len(f)] or
                                   [np.zeros((0, len(ocols)))])
            if not len(union):
                continue
            ref = reference_point(union.min(axis=0), union.max(axis=0), offset)
        for idx, F in front_of.items():
            m = front_metrics(F, ref_front, ref)
            for col, v in m.items():
                table.loc[idx, col] = np.nan if v is None else v
            table.loc[idx, "ref_point"] = json.dumps(np.asarray(ref).tolist())
    keep = ["run", "problem", "method", "kind", "seed", "hypervolume", "hv_ratio", "igd",
            "n_evals", "n_grad_evals", "wall_time", "n_designs", "n_feasible", "n_front",
            "budget", "problem_params", "ref_point", "run_id"]
    table["problem_params"] = table["params_json"]
    return table[keep].reset_index(drop=True)


def summarise(runs: pd.DataFrame) -> pd.DataFrame:
    """Per (run folder, problem, method): mean and std over seeds of every metric.

    .. deprecated:: 0.1.0
        The old name ``summarize`` still works and warns (one spelling: "-ise").
    """
    if runs.empty:
        return runs
    agg: dict[str, Any] = {
        "seeds": ("seed", "count"),
        "hypervolume": ("hypervolume", "mean"),
        "hypervolume_std": ("hypervolume", "std"),
        "hv_ratio": ("hv_ratio", "mean"),
        "hv_ratio_std": ("hv_ratio", "std"),
        "igd": ("igd", "mean"),
        "igd_std": ("igd", "std"),
        "n_evals": ("n_evals", "mean"),
        "n_grad_evals": ("n_grad_evals", "mean"),
        "wall_time": ("wall_time", "mean"),
        "n_front": ("n_front", "mean"),
    }
    out = runs.groupby(["run", "problem", "method", "kind"], sort=False, dropna=False).agg(
        **agg
    )
    return out.reset_index()


def _num(v: Any, fmt: str) -> str:
    return "-" if v is None or pd.isna(v) else format(v, fmt)


def mean_std_text(mean: Any, std: Any, n: Any, decimals: int | None = None) -> str:
    """``mean ± std`` with four significant digits of the mean (or ``decimals``) and the
    std to the same decimals; the mean alone where one seed gives no spread."""
    if mean is None or pd.isna(mean):
        return "-"
    mean = float(mean)
    if mean == 0 and decimals is None:
        return "0"
    mag = int(np.floor(np.log10(abs(mean)))) if mean != 0 and np.isfinite(mean) else 0
    d = max(0, 3 - mag) if decimals is None else decimals
    text = f"{mean:.{d}f}"
    if int(n) > 1 and not pd.isna(std):
        text += f" ± {float(std):.{d}f}"
    return text


def summary_text(summary: pd.DataFrame, *, width: int = 100) -> str:
    """The per-method table of :func:`summarise` as text for a terminal or a log.

    ``*`` marks the best method of each problem (highest mean hypervolume); a spread is
    shown only where there are several seeds; footnotes say what a hypervolume of 0 means.
    The table keeps within ``width`` characters by leaving out columns in this order:
    ``kind``, ``grad_evals``, ``igd``, ``run`` (a footnote names them).
    """
    if summary.empty:
        return "no finished runs"
    df = summary.reset_index(drop=True)
    hv = df["hypervolume"].astype(float)
    best = pd.Series(False, index=df.index)
    for _, grp in df.groupby("problem", sort=False):
        top = hv[grp.index].max()
        if pd.notna(top) and top > 0 and len(grp) > 1:
            best[grp.index] = hv[grp.index] == top
    cols: dict[str, list[str]] = {}
    if df["run"].nunique() > 1:
        cols["run"] = [str(v) for v in df["run"]]
    if df["problem"].nunique() > 1:
        cols["problem"] = [str(v) for v in df["problem"]]
    cols["method"] = [("* " if b else "  ") + str(m) for b, m in zip(best, df["method"],
                                                                        strict=True)]
    cols["kind"] = [str(v) for v in df["kind"]]
    cols["seeds"] = [str(int(v)) for v in df["seeds"]]
    cols["hypervolume"] = [mean_std_text(m, s, n) for m, s, n in
                           zip(df["hypervolume"], df["hypervolume_std"], df["seeds"],
                               strict=True)]
    if df["hv_ratio"].notna().any():
        cols["hv_ratio"] = [mean_std_text(m, s, n, 4) for m, s, n in
                            zip(df["hv_ratio"], df["hv_ratio_std"], df["seeds"],
                                strict=True)]
    if df["igd"].notna().any():
        cols["igd"] = [_num(v, ".3g") for v in df["igd"]]
    cols["evals"] = [_num(v, ".0f") for v in df["n_evals"]]
    if (df["n_grad_evals"].fillna(0) > 0).any():
        cols["grad_evals"] = [_num(v, ".0f") for v in df["n_grad_evals"]]
    cols["time_s"] = [_num(v, ".2f" if v < 100 else ".0f") for v in df["wall_time"]]
    cols["front"] = [_num(v, ".0f") for v in df["n_front"]]

    def render(names: list[str]) -> list[str]:
        w = {c: max(len(c), *(len(v) for v in cols[c])) for c in names}
        left = {"run", "problem", "method", "kind"}

        def row(vals: dict[str, str]) -> str:
            return "  ".join(vals[c].ljust(w[c]) if c in left else vals[c].rjust(w[c])
                             for c in names).rstrip()

        head = row({c: ("  " + c if c == "method" else c) for c in names})
        return [head, *(row({c: cols[c][i] for c in names}) for i in range(len(df)))]

    names = list(cols)
    dropped = []
    lines = render(names)
    for c in ("kind", "grad_evals", "igd", "run"):
        if max(len(x) for x in lines) <= width:
            break
        if c in names:
            names.remove(c)
            dropped.append(c)
            lines = render(names)
    notes = []
    if best.any():
        notes.append("* best mean hypervolume" + (" of its problem"
                                                  if "problem" in cols else ""))
    zero = df.loc[hv == 0, "method"].astype(str).tolist()
    if zero:
        notes.append(f"hypervolume 0 ({', '.join(zero)}): no design of the front lies "
                     "inside the reference box (ref = nadir + offset * (nadir - ideal)), "
                     "so it adds no volume")
    if dropped:
        notes.append(f"left out to fit {width} columns: {', '.join(dropped)}")
    import textwrap

    wrapped = [textwrap.fill(n, width, subsequent_indent="  ") for n in notes]
    return "\n".join(lines + wrapped)


def run_labels(run_dirs: Sequence[str | Path]) -> list[str]:
    """Short labels of run folders: their names, or their paths where names repeat."""
    names = [Path(d).resolve().name for d in run_dirs]
    if len(set(names)) == len(names):
        return names
    return [str(Path(d)) for d in run_dirs]


__getattr__ = deprecated_names(__name__, {"summarize": "summarise"})
