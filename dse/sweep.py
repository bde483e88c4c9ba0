"""Sweeps: every (problem, method, seed) job of a config, run once, stored, measured.

:func:`run_sweep` builds the job list from a :class:`~dse.config.SweepConfig`, skips the
jobs its run folder's database already holds (so rerunning a killed sweep resumes it), runs
the rest in-process or on Dask (:mod:`dse.executor`), and writes each finished job to the
database (:mod:`dse.store`) in one transaction as soon as it comes back. It then writes the
tables and, unless switched off, the plots. It shows a header and each job's progress on
stderr (:mod:`dse.progress`); Ctrl-C raises :class:`SweepInterrupted` (a
``KeyboardInterrupt`` that says how many jobs are stored).

Metrics follow one rule everywhere (:mod:`dse.run_metrics`, re-exported here).

Run folder layout::

    <run>/config.yaml      the last sweep's config (rerun with the same overrides, or
                           load_config)
    <run>/configs/<hash>.yaml  every config that has run into this folder (out= reused)
    <run>/results.sqlite   every finished job: runs, designs, history (dse.store)
    <run>/runs.csv         one row per (method, seed): metrics, evaluations, wall time
    <run>/summary.csv      one row per method: mean and std over seeds
    <run>/plots/*.png|pdf  fronts, hypervolume curves, codesign hardware parameters
"""

from __future__ import annotations

import functools
import hashlib
import json
import sys
import time
import warnings
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pandas as pd

from dse.config import (
    ConfigError,
    SweepConfig,
    config_hash,
    parse_overrides,
    resolve,
    solver_kinds,
    to_yaml,
)
from dse.executor import LocalExecutor, make_executor
from dse.problem_specs import build_problem, spec_files, spec_label
from dse.progress import Progress
from dse.registry import deprecated_names
from dse.result import Result
from dse.run_metrics import (
    front_metrics,
    metrics_table,
    reference_for,
    run_labels,
    stored_reference,
    summarise,
)
from dse.store import Store

__all__ = [
    "Job",
    "JobOutput",
    "SweepFolderWarning",
    "SweepInterrupted",
    "SweepReport",
    "build_jobs",
    "compare_runs",
    "front_metrics",
    "load_run",
    "metrics_table",
    "reference_for",
    "run_dir_for",
    "run_job",
    "run_sweep",
    "stored_reference",
    "summarise",
]


# ---------------------------------------------------------------------------- jobs
@dataclass(frozen=True)
class Job:
    """One (problem, method, seed) run with everything needed to repeat it."""

    problem: str
    problem_params: dict[str, Any]
    method: str
    seed: int
    budget: int | None
    params: dict[str, Any]
    kind: str = ""
    device: str = "auto"
    ref_offset: float = 0.1

    @property
    def key(self) -> str:
        """Identity in the store: readable prefix + hash of what determines the result.

        Neither the device nor the reference offset is part of it: a job finished on one
        device is not rerun on another, and tables recompute metrics from stored fronts.
        """
        ident = json.dumps(
            [self.problem, self.problem_params, self.method, self.seed, self.budget,
             self.params],
            sort_keys=True, default=str,
        )
        digest = hashlib.sha1(ident.encode()).hexdigest()[:12]
        return f"{self.problem}/{self.method}/seed={self.seed}/{digest}"

    def settings(self) -> dict[str, Any]:
        """The job as plain JSON-able values (stored with the run)."""
        return {
            "problem": self.problem, "problem_params": self.problem_params,
            "method": self.method, "seed": self.seed, "budget": self.budget,
            "params": self.params, "device": self.device,
        }


@dataclass
class JobOutput:
    """What a job sends back to the writer: the result and its per-run metrics."""

    job: Job
    result: Result
    metrics: dict[str, Any]


def build_jobs(cfg: SweepConfig) -> list[Job]:
    """The jobs of ``cfg``, method-major (all seeds of the first method first)."""
    rs = resolve(cfg)
    kinds = solver_kinds()
    return [
        Job(problem=rs.problem, problem_params=dict(rs.problem_params), method=m,
            seed=s, budget=rs.budgets[m], params=dict(rs.method_params[m]),
            kind=kinds.get(m, ""), device=cfg.device, ref_offset=cfg.ref_offset)
        for m in rs.methods
        for s in rs.seeds
    ]


def run_job(job: Job, progress: Callable[..., None] | None = None) -> JobOutput:
    """Build the problem, solve, and measure the front (runs on any worker).

    ``progress`` is :func:`dse.solvers.solve`'s callback (in this process only)."""
    from dse.solvers import solve

    problem = build_problem(job.problem, **job.problem_params)
    result = solve(problem, job.method, budget=job.budget, seed=job.seed, device=job.device,
                   progress=progress, **job.params)
    ref_front, ref = reference_for(problem, job.ref_offset)
    metrics = front_metrics(result.front_F, ref_front, ref) if ref is not None else {}
    if ref is not None:
        metrics["ref_point"] = ref
    return JobOutput(job, result, metrics)


# ---------------------------------------------------------------------------- sweeps
@dataclass
class SweepReport:
    """What :func:`run_sweep` did."""

    run_dir: Path
    runs: pd.DataFrame
    summary: pd.DataFrame
    n_run: int
    n_skipped: int
    failures: list[tuple[str, str]] = field(default_factory=list)
    plots: list[Path] = field(default_factory=list)
    wall_time: float = 0.0
    #: Jobs another sweep into the same folder had claimed (it runs and stores them).
    n_elsewhere: int = 0


def run_dir_for(cfg: SweepConfig) -> Path:
    """``cfg.out``, or ``runs/<problem>-<config hash>`` so the same command finds its
    folder again."""
    if cfg.out:
        return Path(cfg.out)
    return Path("runs") / f"{spec_label(cfg.problem.name)}-{config_hash(cfg)}"


class SweepFolderWarning(UserWarning):
    """A sweep adds runs to a folder that holds another configuration's runs."""


class SweepInterrupted(KeyboardInterrupt):
    """A sweep stopped by Ctrl-C (a :class:`KeyboardInterrupt`): what it had stored stays,
    and the same call continues it."""

    def __init__(self, run_dir: Path, n_stored: int, n_jobs: int) -> None:
        self.run_dir, self.n_stored, self.n_jobs = run_dir, n_stored, n_jobs
        super().__init__(
            f"interrupted: {n_stored} of {n_jobs} jobs stored in {run_dir}; rerun the same "
            "command to continue")


def _label(job: Job) -> str:
    return f"{job.method} seed={job.seed}"


def _header(cfg: SweepConfig, jobs: Sequence[Job], n_todo: int, run_dir: Path) -> str:
    """What the sweep is about to do, in a few short lines."""
    params = ", ".join(f"{k}={v}" for k, v in cfg.problem.params.items())
    methods = list(dict.fromkeys(j.method for j in jobs))
    seeds = sorted({j.seed for j in jobs})
    budgets = {j.method: j.budget for j in jobs}
    if len(set(budgets.values())) == 1:
        b = next(iter(budgets.values()))
        budget = f"{b} evaluations per job" if b is not None else "each method's default"
    else:
        budget = ", ".join(f"{m} {'default' if b is None else b}"
                           for m, b in budgets.items())
    stored = len(jobs) - n_todo
    where = ("" if cfg.executor.name == "local"
             else f"; executor {cfg.executor.name} ({cfg.executor.address or 'local cluster'})")
    return "\n".join([
        f"sweep {cfg.problem.name}{f' ({params})' if params else ''}: {len(jobs)} jobs "
        f"({len(methods)} methods x {len(seeds)} seeds), {n_todo} to run"
        f"{f', {stored} already stored' if stored else ''}{where}",
        f"  methods    {', '.join(methods)}",
        f"  seeds      {', '.join(map(str, seeds))}",
        f"  budget     {budget}",
        f"  run folder {run_dir}",
    ])


def _finished_text(out: JobOutput) -> str:
    m = out.metrics
    parts = []
    if m.get("hypervolume") is not None:
        ratio = m.get("hv_ratio")
        parts.append(f"hv {m['hypervolume']:.6g}"
                     + (f" (ratio {ratio:.4f})" if ratio is not None else ""))
    parts.append(f"{out.result.n_evals} evals")
    if out.result.n_grad_evals:
        parts.append(f"{out.result.n_grad_evals} grad evals")
    return ", ".join(parts)


def _n_stored(run_dir: Path, keys: set[str]) -> int:
    try:
        with Store(run_dir, create=False) as store:
            return len(keys & store.job_keys())
    except (OSError, ValueError):  # no database yet (interrupted before it was made)
        return 0


def _claimed_runs(ex: Any, store: Store, todo: Sequence[Job], elsewhere: list[Job],
                  progress: Progress) -> Iterator[tuple[Job, Any]]:
    """Run the jobs this sweep can claim; those another live sweep holds go to
    ``elsewhere``. In this process a job is claimed just before it runs, so two sweeps
    into one folder take turns, and it reports its progress inside the job; an executor
    with workers gets its claims up front (and reports jobs as they end)."""
    if isinstance(ex, LocalExecutor):
        for job in todo:
            if store.claim(job.key):
                progress.start(_label(job), job.budget)
                fn = functools.partial(run_job, progress=progress.solver_hook())
                yield from ex.map_unordered(fn, [job])
            else:
                elsewhere.append(job)
                progress.n_jobs -= 1
        return
    mine = []
    for job in todo:
        (mine if store.claim(job.key) else elsewhere).append(job)
    progress.n_jobs = len(mine)
    yield from ex.map_unordered(run_job, mine)


def _warn_if_other_config(run_dir: Path, store: Store, problem: str,
                          jobs: Sequence[Job]) -> None:
    """Warn when ``run_dir`` holds runs this sweep would be mixed up with: another problem
    (or its parameters), or the same method and seed run with other settings. More
    methods or seeds into the same folder is how a sweep grows, and says nothing."""
    if not len(store) or not jobs:
        return
    stored = store.runs()
    params = json.dumps(jobs[0].problem_params, sort_keys=True)
    other_problem = sorted({
        f"{name} {json.dumps(p, sort_keys=True)}" if p else str(name)
        for name, p in zip(stored["problem"], stored["problem_params"], strict=True)
        if name != problem or json.dumps(p, sort_keys=True) != params})
    mine = {(j.method, j.seed): j.key for j in jobs}
    clash = sorted({f"{m} seed={sd}" for m, sd, k in
                    zip(stored["method"], stored["seed"], stored["job_key"], strict=True)
                    if (m, sd) in mine and mine[(m, sd)] != k})
    if other_problem:
        what = f"runs of another problem ({', '.join(other_problem[:3])})"
    elif clash:
        what = f"runs of the same method and seed with other settings ({', '.join(clash[:3])})"
    else:
        return
    warnings.warn(
        f"{run_dir} already holds {what}; this sweep adds its runs beside them, and "
        "tables and plots will hold both. Give a new out= to keep them apart.",
        SweepFolderWarning, stacklevel=3)


def run_sweep(config: SweepConfig | Sequence[str] = (), *, executor: Any = None
              ) -> SweepReport:
    """Run every job of ``config`` (a config or ``key=value`` overrides) not yet stored.

    ``executor`` (optional) is an already open executor of :mod:`dse.executor` to use
    instead of the one ``config.executor`` describes (e.g. one Dask cluster for several
    sweeps); it is left open.

    Each finished job is written to ``<run>/results.sqlite`` at once, so an interrupted
    sweep loses at most the jobs still running; calling again with the same config runs
    only what is missing. Failing jobs are reported in :attr:`SweepReport.failures` and do
    not stop the others.
    """
    cfg = config if isinstance(config, SweepConfig) else parse_overrides(list(config))
    # The problem is built once before any job: a bad parameter (a layer file that is
    # not one) is one error up front, not one failure per job.
    try:
        problem = build_problem(cfg.problem.name, **cfg.problem.params)
    except (TypeError, ValueError) as exc:
        raise ConfigError(f"problem {cfg.problem.name!r}: {exc}") from None
    start = time.perf_counter()
    run_dir = run_dir_for(cfg)
    try:
        run_dir.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        raise ConfigError(f"cannot create the run folder {str(run_dir)!r}: "
                          f"{exc.strerror or exc}") from None
    jobs = build_jobs(cfg)
    keys = {j.key for j in jobs}
    try:
        failures: list[tuple[str, str]] = []
        # The database first: a damaged one stops the sweep before anything is written.
        with Store(run_dir) as store:
            text = to_yaml(cfg)
            _warn_if_other_config(run_dir, store, problem.name, jobs)
            (run_dir / "config.yaml").write_text(text)
            # A later sweep pointed at the same out= (more methods or seeds) replaces
            # config.yaml; each distinct config is kept beside it.
            (run_dir / "configs").mkdir(exist_ok=True)
            (run_dir / "configs" / f"{config_hash(cfg)}.yaml").write_text(text)
            store.set_meta("config", text)
            done = store.job_keys()
            todo = [j for j in jobs if j.key not in done]
            n_run = 0
            elsewhere: list[Job] = []
            progress = Progress(len(todo), quiet=cfg.quiet)
            try:
                progress.say(_header(cfg, jobs, len(todo), run_dir))
                if todo:
                    ex = executor or make_executor(
                        cfg.executor.name, address=cfg.executor.address,
                        n_workers=cfg.executor.n_workers,
                        threads_per_worker=cfg.executor.threads_per_worker)
                    try:
                        if hasattr(ex, "ship"):
                            ex.ship(spec_files(cfg.problem.name))
                        for job, out in _claimed_runs(ex, store, todo, elsewhere, progress):
                            if isinstance(out, BaseException):
                                failures.append((job.key, f"{type(out).__name__}: {out}"))
                                progress.finish(_label(job), failures[-1][1], failed=True)
                            else:
                                store.write(job.key, out.result, metrics=out.metrics, info={
                                    "problem_params": job.problem_params, "kind": job.kind,
                                    "budget": job.budget, "device": job.device,
                                    "config": job.settings(),
                                })
                                n_run += 1
                                progress.finish(_label(job), _finished_text(out),
                                                wall_time=out.result.wall_time)
                    finally:
                        store.release_claims()
                        if executor is None:
                            ex.close()
            finally:
                progress.close()
            if elsewhere and not cfg.quiet:
                print(f"{len(elsewhere)} job(s) left to another sweep running in {run_dir}",
                      file=sys.stderr)
            runs = metrics_table([store], [run_dir.name], offset=cfg.ref_offset, job_keys=keys)
        summary = summarise(runs)
        if not runs.empty:
            runs.to_csv(run_dir / "runs.csv", index=False)
            summary.to_csv(run_dir / "summary.csv", index=False)
        plots: list[Path] = []
        if cfg.plots and not runs.empty:
            from dse.plots import plot_run
            from dse.report import write_report

            plots = plot_run(run_dir, job_keys=keys, offset=cfg.ref_offset)
            write_report(run_dir, plots=plots, job_keys=keys, offset=cfg.ref_offset)
    except KeyboardInterrupt:
        # Ctrl-C: every finished job is stored (one transaction each); say how many.
        raise SweepInterrupted(run_dir, _n_stored(run_dir, keys), len(jobs)) from None
    return SweepReport(run_dir=run_dir, runs=runs, summary=summary, n_run=n_run,
                       n_elsewhere=len(elsewhere),
                       n_skipped=len(jobs) - len(todo), failures=failures, plots=plots,
                       wall_time=time.perf_counter() - start)


# ---------------------------------------------------------------------------- reading runs
def load_run(run_dir: str | Path) -> Store:
    """Open the database of an existing run folder (``FileNotFoundError`` if none)."""
    return Store(run_dir, create=False)


def compare_runs(run_dirs: Sequence[str | Path], *, offset: float = 0.1) -> tuple[
    pd.DataFrame, pd.DataFrame
]:
    """Per-run and per-method tables of several run folders, measured with one reference
    point per problem (so numbers are comparable across folders)."""
    if not run_dirs:
        raise ValueError("compare needs at least one run folder")
    stores = [load_run(d) for d in run_dirs]
    try:
        labels = run_labels(run_dirs)
        runs = metrics_table(stores, labels, offset=offset)
    finally:
        for s in stores:
            s.close()
    return runs, summarise(runs)


__getattr__ = deprecated_names(__name__, {"summarize": "summarise"})
