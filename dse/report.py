"""One self-contained HTML report per run folder: which method wins, which design to pick.

:func:`write_report` writes ``<run>/report.html``: the per-method summary (the best method
marked, as in the terminal table), every plot of the folder embedded as a base64 PNG (the
file is shared alone: no other file, no network), the designs worth considering -- the
knee of the front of all methods together and each objective's extreme -- and each
method's best compromise, with what a problem family says about a design (co-design: its
hardware and per-layer schedule), registered with :func:`register_design_description`.

The knee rule is :func:`dse.plots.knee_index` (the one the fronts plot marks): objectives
scaled to ``[0, 1]`` over the combined front, the design with the smallest sum. A method's
"best compromise" is the same rule on its own front, scaled over the combined front, so the
methods' picks are compared on one scale.
"""

from __future__ import annotations

import base64
import datetime
import html
import json
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from dse.registry import Registry

__all__ = [
    "DESIGN_DESCRIPTIONS",
    "Pick",
    "register_design_description",
    "report_html",
    "write_report",
]

#: What a problem family says about one design, found by the stored problem's name:
#: ``fn(problem, x) -> {"summary": one line, section title: {label: text} or DataFrame}``,
#: ``x`` the exact design ``(n_var,)`` in the problem's variable order.
DESIGN_DESCRIPTIONS: Registry[Callable[..., Mapping[str, Any]]] = Registry(
    "design description")

REPORT_NAME = "report.html"


def register_design_description(problem: str, *, aliases: tuple[str, ...] = ()) -> Any:
    """Decorator registering a design description for the runs of problem ``problem``."""
    return DESIGN_DESCRIPTIONS.register(problem, aliases=aliases)


@dataclass
class Pick:
    """One design named in the report: why (``role``), who found it and what it is."""

    role: str
    method: str
    seed: int
    objectives: dict[str, float]
    x: np.ndarray | None = None
    description: Mapping[str, Any] = field(default_factory=dict)


# ---------------------------------------------------------------------------- choosing
def _scaled(F: np.ndarray, lo: np.ndarray, hi: np.ndarray) -> np.ndarray:
    return (F - lo) / np.where(hi > lo, hi - lo, 1.0)


def _picks(front_rows: pd.DataFrame, ocols: list[str], xcols: list[str] | None,
           problem: Any, describe: Callable[..., Mapping[str, Any]] | None,
           labels: Mapping[str, str] | None = None) -> tuple[list[Pick], list[Pick]]:
    """``(designs to consider, best compromise per method)`` from every method's front
    designs (``method``, ``seed``, ``f.*`` and, where known, ``x.*`` columns)."""
    from dse.pareto import nondominated
    from dse.plots import knee_index

    if front_rows.empty:
        return [], []
    F = front_rows[ocols].to_numpy(float)
    on = nondominated(F, keep_duplicates=False)
    comb = F[on]
    lo, hi = comb.min(axis=0), comb.max(axis=0)
    idx = np.flatnonzero(on)

    def pick(role: str, i: int) -> Pick:
        row = front_rows.iloc[i]
        x = row[xcols].to_numpy(float) if xcols else None
        desc: Mapping[str, Any] = {}
        if describe is not None and x is not None:
            try:
                desc = describe(problem, x)
            except (TypeError, ValueError) as exc:  # a description never sinks the report
                desc = {"summary": f"(no description: {exc})"}
        return Pick(role, str(row["method"]), int(row["seed"]),
                    {c[2:]: float(row[c]) for c in ocols}, x, desc)

    names = [c[2:] for c in ocols]
    consider = [pick("knee of the combined front", int(idx[knee_index(comb)]))]
    for k, name in enumerate(names):
        shown = (labels or {}).get(name, name)
        consider.append(pick(f"lowest {shown}", int(idx[np.argmin(comb[:, k])])))
    per_method = []
    for method, grp in front_rows.groupby("method", sort=False):
        pos = np.flatnonzero((front_rows["method"] == method).to_numpy())
        best = int(np.argmin(_scaled(grp[ocols].to_numpy(float), lo, hi).sum(axis=1)))
        per_method.append(pick(f"best compromise of {method}", int(pos[best])))
    return consider, per_method


# ---------------------------------------------------------------------------- HTML pieces
_CSS = """
body{font-family:system-ui,-apple-system,Segoe UI,Helvetica,Arial,sans-serif;margin:2em auto;
max-width:1200px;padding:0 1em;color:#222;line-height:1.4}
h1{font-size:1.5em}h2{font-size:1.25em;border-bottom:1px solid #ddd;padding-bottom:.2em;
margin-top:1.6em}h3{font-size:1.05em}
table{border-collapse:collapse;margin:.6em 0;font-size:.9em}
th,td{border:1px solid #ccc;padding:.25em .6em;text-align:right}
th{background:#f3f3f3}td.l,th.l{text-align:left}
tr.best td{background:#fff6d5;font-weight:600}
.verdict{background:#eef6ee;border-left:4px solid #4a4;padding:.6em 1em}
.note{color:#666;font-size:.85em}
figure{margin:1em 0}figure img{max-width:100%;border:1px solid #eee}
figcaption{color:#555;font-size:.9em}
details{margin:.4em 0}summary{cursor:pointer}
"""


def _e(v: Any) -> str:
    return html.escape(str(v))


def _num(v: Any, digits: int = 4) -> str:
    if v is None or (isinstance(v, float) and not np.isfinite(v)) or pd.isna(v):
        return "-"
    return f"{float(v):.{digits}g}"


def _table(rows: Sequence[Mapping[str, Any]], *, left: Sequence[str] = (),
           best: Sequence[bool] | None = None, cls: str = "") -> str:
    if not rows:
        return "<p class='note'>none</p>"
    cols = list(rows[0])
    head = "".join(f"<th class='{'l' if c in left else ''}'>{_e(c)}</th>" for c in cols)
    body = []
    for k, r in enumerate(rows):
        tr = " class='best'" if best is not None and best[k] else ""
        cells = "".join(f"<td class='{'l' if c in left else ''}'>{_e(r[c])}</td>"
                        for c in cols)
        body.append(f"<tr{tr}>{cells}</tr>")
    return (f"<table class='{cls}'><thead><tr>{head}</tr></thead>"
            f"<tbody>{''.join(body)}</tbody></table>")


def _summary_table(summary: pd.DataFrame) -> tuple[str, str | None]:
    """The per-method table as HTML (best mean hypervolume marked) and the best method."""
    from dse.run_metrics import mean_std_text

    hv = summary["hypervolume"].astype(float)
    top = hv.max()
    best = [bool(pd.notna(top) and top > 0 and len(summary) > 1 and v == top) for v in hv]
    has_ratio = summary["hv_ratio"].notna().any()
    has_igd = summary["igd"].notna().any()
    rows = []
    for _, r in summary.iterrows():
        row = {"method": r["method"], "kind": r["kind"], "seeds": int(r["seeds"]),
               "hypervolume": mean_std_text(r["hypervolume"], r["hypervolume_std"], r["seeds"])}
        if has_ratio:
            row["HV ratio"] = mean_std_text(r["hv_ratio"], r["hv_ratio_std"], r["seeds"], 4)
        if has_igd:
            row["IGD"] = _num(r["igd"], 3)
        row["evaluations"] = _num(r["n_evals"], 6)
        row["gradient evaluations"] = _num(r["n_grad_evals"], 6)
        row["time [s]"] = _num(r["wall_time"], 3)
        row["front size"] = _num(r["n_front"], 4)
        rows.append(row)
    winner = next((str(r["method"]) for r, b in zip(rows, best, strict=True) if b), None)
    return _table(rows, left=("method", "kind"), best=best, cls="summary"), winner


def _image(path: Path) -> str:
    data = base64.b64encode(path.read_bytes()).decode("ascii")
    return (f"<figure><img alt='{_e(path.stem)}' src='data:image/png;base64,{data}'>"
            f"<figcaption>{_e(path.name)}</figcaption></figure>")


def _objective_cells(p: Pick, labels: Mapping[str, str]) -> dict[str, str]:
    return {labels.get(k, k): _num(v) for k, v in p.objectives.items()}


def _describe_html(p: Pick) -> str:
    parts = []
    for title, part in p.description.items():
        if title == "summary":
            continue
        parts.append(f"<h4>{_e(title)}</h4>")
        if isinstance(part, pd.DataFrame):
            parts.append(_table(part.astype(str).to_dict("records"),
                                left=[c for c in part.columns if part[c].dtype == object]))
        elif isinstance(part, Mapping):
            parts.append(_table([{"": k, "value": v} for k, v in part.items()],
                                left=("", "value")))
        else:
            parts.append(f"<p>{_e(part)}</p>")
    return "".join(parts)


# ---------------------------------------------------------------------------- report
def report_html(run_dir: str | Path, *, plots: Sequence[str | Path] | None = None,
                job_keys: set[str] | None = None, offset: float = 0.1) -> str:
    """The HTML text of a run folder's report (see :mod:`dse.report`).

    ``plots``: the plot files to embed (their PNGs); ``None`` draws them afresh with
    :func:`dse.plots.plot_run` into ``<run>/plots``. ``FileNotFoundError`` for a folder
    without results.
    """
    from dse.plots import plot_run, series_fronts, stored_problem
    from dse.problem import objective_label
    from dse.run_metrics import metrics_table, summarise
    from dse.store import Store

    run_dir = Path(run_dir)
    with Store(run_dir, create=False) as store:
        runs = store.runs()
        if job_keys is not None:
            runs = runs[runs["job_key"].isin(job_keys)]
        metrics = metrics_table([store], [run_dir.name], offset=offset, job_keys=job_keys)
        designs = store.designs(front_only=True, variables=True)
    designs = designs[designs["run_id"].isin(runs["run_id"])]
    if plots is None:
        plots = plot_run(run_dir, job_keys=job_keys, offset=offset) if len(runs) else []
    pngs = [Path(p) for p in plots if Path(p).suffix == ".png" and Path(p).is_file()]

    out = [f"<!DOCTYPE html><html lang='en'><head><meta charset='utf-8'>"
           f"<title>dse report: {_e(run_dir.name)}</title><style>{_CSS}</style></head><body>",
           f"<h1>Design-space exploration report: {_e(run_dir.name)}</h1>",
           f"<p class='note'>run folder {_e(run_dir.resolve())}; written "
           f"{datetime.datetime.now().isoformat(timespec='seconds')}. Every objective is "
           "minimised.</p>"]
    if runs.empty:
        out.append("<p>No finished runs in this folder.</p></body></html>")
        return "".join(out)
    summary = summarise(metrics)
    runs = runs.assign(params_json=[json.dumps(p, sort_keys=True)
                                    for p in runs["problem_params"]])
    for (name, pjson), grp in runs.groupby(["problem", "params_json"], sort=False):
        params = json.loads(pjson)
        problem = stored_problem(name, params)
        onames = list(grp["objective_names"].iloc[0])
        labels = dict(zip(onames, (problem.objective_labels if problem is not None
                                   else [objective_label(o) for o in onames]), strict=True))
        ocols = [f"f.{o}" for o in onames]
        sel = designs[designs["run_id"].isin(grp["run_id"])]
        _, front_rows = series_fronts(sel, ocols, ["method"])
        xcols = None
        if problem is not None:
            xcols = [f"x.{v}" for v in problem.variable_names]
            if not set(xcols) <= set(front_rows.columns):
                xcols = None
        describe = DESIGN_DESCRIPTIONS.get(name) if name in DESIGN_DESCRIPTIONS else None
        consider, per_method = _picks(front_rows, ocols, xcols, problem, describe, labels)
        tag = f"{name} {params}" if params else name
        methods = list(dict.fromkeys(grp["method"]))
        seeds = sorted({int(s) for s in grp["seed"]})
        budgets = sorted({int(b) for b in grp["budget"].dropna()})
        out.append(f"<h2>Problem: {_e(tag)}</h2>")
        out.append(f"<p>methods {_e(', '.join(methods))}; seeds {_e(seeds)}; budget "
                   f"{_e(', '.join(map(str, budgets)))} objective evaluations per run; "
                   f"objectives {_e(', '.join(labels.values()))}.</p>")
        gsum = summary[summary["problem"] == name]
        table, winner = _summary_table(gsum.reset_index(drop=True))
        verdict = []
        if winner is not None:
            row = gsum[gsum["method"] == winner].iloc[0]
            ratio = (f" (HV ratio {row['hv_ratio']:.3f} of the reference front)"
                     if pd.notna(row["hv_ratio"]) else "")
            verdict.append(f"Best method: <b>{_e(winner)}</b>, highest mean hypervolume"
                           f"{_e(ratio)}.")
        if consider:
            k = consider[0]
            objs = ", ".join(f"{labels.get(o, o)} = {_num(v)}"
                             for o, v in k.objectives.items())
            summ = k.description.get("summary")
            verdict.append(f"Suggested design: the knee of the combined front, found by "
                           f"{_e(k.method)} (seed {k.seed}): {_e(objs)}"
                           + (f"; {_e(summ)}" if summ else "") + ".")
        if verdict:
            out.append(f"<div class='verdict'><p>{'<br>'.join(verdict)}</p></div>")
        out.append("<h3>Summary per method</h3>" + table)
        out.append("<p class='note'>Highlighted: best mean hypervolume. Reference point "
                   f"nadir + {offset:g} (nadir - ideal) of the known front (else of all "
                   "fronts); a hypervolume of 0 means no design of that front lies inside "
                   "the reference box. HV ratio and IGD only where the front is known.</p>")
        if consider:
            out.append("<h3>Designs to consider (on the front of all methods together)</h3>")
            rows = [{"design": p.role, "found by": f"{p.method} (seed {p.seed})",
                     **_objective_cells(p, labels),
                     **({"summary": p.description.get("summary", "")}
                        if describe else {})} for p in consider]
            out.append(_table(rows, left=("design", "found by", "summary")))
            k = consider[0]
            if k.description:
                out.append(f"<h3>The knee design ({_e(k.method)}, seed {k.seed})</h3>")
                out.append(_describe_html(k))
        if per_method:
            out.append("<h3>Best compromise of each method</h3><p class='note'>Each "
                       "method's design closest to the knee, objectives scaled over the "
                       "combined front.</p>")
            rows = [{"method": p.method, "seed": p.seed, **_objective_cells(p, labels),
                     **({"summary": p.description.get("summary", "")}
                        if describe else {})} for p in per_method]
            out.append(_table(rows, left=("method", "summary")))
            for p in per_method:
                if p.description:
                    out.append(f"<details><summary>{_e(p.method)}: hardware and schedule"
                               f"</summary>{_describe_html(p)}</details>")
    if pngs:
        out.append("<h2>Plots</h2>")
        out += [_image(p) for p in pngs]
    out.append("<p class='note'>Written by dse (python cli.py report RUN). Images are "
               "embedded: this file can be shared on its own.</p></body></html>")
    return "\n".join(out)


def write_report(run_dir: str | Path, *, plots: Sequence[str | Path] | None = None,
                 job_keys: set[str] | None = None, offset: float = 0.1,
                 out: str | Path | None = None) -> Path:
    """Write the report of a run folder to ``out`` (default ``<run>/report.html``);
    returns its path. ``plots`` as in :func:`report_html`."""
    path = Path(out) if out is not None else Path(run_dir) / REPORT_NAME
    text = report_html(run_dir, plots=plots, job_keys=job_keys, offset=offset)
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(path.name + ".tmp")
    tmp.write_text(text, encoding="utf-8")
    tmp.replace(path)  # a reader never sees half a report
    return path
