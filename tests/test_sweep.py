"""Sweeps end to end (real solvers, tiny budgets): stored once, skipped on rerun,
reproducible, measured like pymoo measures."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
from pymoo.indicators.hv import HV
from pymoo.indicators.igd import IGD

import dse.solvers
from dse.indicators import reference_point
from dse.problem import get_problem
from dse.store import Store
from dse.sweep import build_jobs, compare_runs, load_run, metrics_table, run_sweep, summarise

BASE = [
    "problem=zdt1", "problem.n_var=6", "methods=[nsga2,weighted_sum]", "solver.budget=400",
    "solver.nsga2.pop_size=20", "solver.weighted_sum.n_points=10", "quiet=true",
]


def sweep(out: Path, *extra: str, plots: bool = False):
    return run_sweep([*BASE, f"out={out}", f"plots={str(plots).lower()}", *extra])


def fronts(folder: Path) -> dict[tuple[str, int], np.ndarray]:
    with Store(folder) as store:
        return {(r.method, r.seed): r.F for r in store.results()}


@pytest.fixture(scope="module")
def first(tmp_path_factory: pytest.TempPathFactory):
    out = tmp_path_factory.mktemp("sweep") / "run"
    return out, sweep(out, "seeds=[0,1]", plots=True)


def test_sweep_writes_the_run_folder(first) -> None:
    out, report = first
    assert report.run_dir == out and report.n_run == 4 and report.n_skipped == 0
    assert not report.failures
    for name in ("config.yaml", "results.sqlite", "runs.csv", "summary.csv"):
        assert (out / name).is_file(), name
    for name in ("fronts", "hypervolume"):
        for ext in ("png", "pdf"):
            assert (out / "plots" / f"{name}.{ext}").stat().st_size > 0
    with Store(out) as store:
        runs = store.runs()
    assert sorted(zip(runs["method"], runs["seed"], strict=True)) == [
        ("nsga2", 0), ("nsga2", 1), ("weighted_sum", 0), ("weighted_sum", 1)]
    assert set(runs["kind"]) == {"evolutionary", "gradient"}
    assert (runs["n_evals"] <= 400).all() and (runs["n_evals"] > 0).all()
    assert set(report.summary["method"]) == {"nsga2", "weighted_sum"}


def test_metrics_agree_with_pymoo(first) -> None:
    """HV, HV ratio and IGD of every stored front, recomputed with pymoo's indicators."""
    out, report = first
    problem = get_problem("zdt1", n_var=6)
    ref_front = problem.pareto_front(1000)
    ref = reference_point(ref_front.min(axis=0), ref_front.max(axis=0))
    hv = HV(ref_point=ref)
    igd = IGD(ref_front)
    with Store(out) as store:
        stored = store.runs().set_index("run_id")
        for run_id, row in report.runs.set_index("run_id").iterrows():
            F = store.result(run_id).front_F
            assert row["hypervolume"] == pytest.approx(hv(F), rel=1e-12)
            assert row["hv_ratio"] == pytest.approx(hv(F) / hv(ref_front), rel=1e-12)
            assert row["igd"] == pytest.approx(igd(F), rel=1e-12)
            # Stored at job time, recomputed for the table: the same rule gives the same.
            assert stored.loc[run_id, "hypervolume"] == pytest.approx(row["hypervolume"])


def test_summary_is_mean_and_std_over_seeds(first) -> None:
    _, report = first
    for method, grp in report.runs.groupby("method"):
        row = report.summary.set_index("method").loc[method]
        assert row["seeds"] == 2
        assert row["hypervolume"] == pytest.approx(grp["hypervolume"].mean())
        assert row["hypervolume_std"] == pytest.approx(grp["hypervolume"].std(ddof=1))
        assert row["wall_time"] == pytest.approx(grp["wall_time"].mean())


def test_rerun_skips_finished_jobs_and_adds_new_seeds(tmp_path: Path) -> None:
    out = tmp_path / "run"
    sweep(out, "seeds=[0]")
    again = sweep(out, "seeds=[0]")
    assert (again.n_run, again.n_skipped) == (0, 2)
    more = sweep(out, "seeds=[0,1]")
    assert (more.n_run, more.n_skipped) == (2, 2)
    with Store(out) as store:
        assert len(store) == 4 and store.runs()["job_key"].is_unique


def test_same_command_same_fronts(first, tmp_path: Path) -> None:
    out, _ = first
    other = tmp_path / "again"
    sweep(other, "seeds=[0,1]")
    a, b = fronts(out), fronts(other)
    assert a.keys() == b.keys()
    for key in a:
        np.testing.assert_array_equal(a[key], b[key], err_msg=str(key))


def test_failing_job_is_reported_and_retried(tmp_path: Path,
                                             monkeypatch: pytest.MonkeyPatch) -> None:
    real = dse.solvers.solve

    def broken(problem, method, **kw):
        if method == "nsga2":
            raise RuntimeError("solver exploded")
        return real(problem, method, **kw)

    monkeypatch.setattr(dse.solvers, "solve", broken)
    out = tmp_path / "run"
    report = sweep(out, "seeds=[0]")
    assert report.n_run == 1 and len(report.failures) == 1
    assert "nsga2" in report.failures[0][0] and "exploded" in report.failures[0][1]
    monkeypatch.setattr(dse.solvers, "solve", real)
    retry = sweep(out, "seeds=[0]")
    assert (retry.n_run, retry.n_skipped, retry.failures) == (1, 1, [])


def test_job_keys_ignore_device_and_track_parameters() -> None:
    from dse.config import parse_overrides

    a = build_jobs(parse_overrides([*BASE, "device=cpu"]))
    b = build_jobs(parse_overrides([*BASE, "device=auto"]))
    c = build_jobs(parse_overrides([*BASE, "solver.nsga2.pop_size=22"]))
    assert [j.key for j in a] == [j.key for j in b]
    assert a[0].key != c[0].key and a[1].key == c[1].key  # only nsga2 changed
    assert len({j.key for j in a}) == len(a)


def test_unknown_front_uses_the_union_of_fronts(first, monkeypatch: pytest.MonkeyPatch) -> None:
    """Without a known front, every run is measured against one reference point: the
    rule applied to the ideal and nadir of all compared fronts together."""
    out, _ = first
    monkeypatch.setattr("dse.run_metrics.reference_for", lambda problem, offset=0.1: (None, None))
    with Store(out) as store:
        table = metrics_table([store], ["r"])
        all_front = {rid: store.result(rid).front_F for rid in table["run_id"]}
    union = np.concatenate(list(all_front.values()))
    ref = reference_point(union.min(axis=0), union.max(axis=0))
    hv = HV(ref_point=ref)
    for _, row in table.iterrows():
        assert row["hypervolume"] == pytest.approx(hv(all_front[row["run_id"]]), rel=1e-12)
        assert np.isnan(row["hv_ratio"]) and np.isnan(row["igd"])


def test_compare_two_folders(first, tmp_path: Path) -> None:
    out, report = first
    other = tmp_path / "b"
    sweep(other, "seeds=[0]", "methods=[nsga2]")
    runs, summary = compare_runs([out, other])
    assert set(runs["run"]) == {"run", "b"}
    assert len(runs) == 5
    # The same run measured in either table has the same hypervolume (one rule).
    mine = report.runs.set_index(["method", "seed"])["hypervolume"]
    theirs = runs[runs["run"] == "run"].set_index(["method", "seed"])["hypervolume"]
    assert np.allclose(mine.sort_index(), theirs.sort_index())
    assert len(summary) == 3
    assert summarise(runs.iloc[:0]).empty
    with pytest.raises(ValueError):
        compare_runs([])


def test_runs_of_an_unregistered_problem_are_still_measured(tmp_path: Path) -> None:
    """A folder made in another process with a problem defined there (e.g. a notebook)."""
    from dse.result import Result

    rng = np.random.default_rng(0)
    with Store(tmp_path) as store:
        for seed in (0, 1):
            F = rng.random((6, 2))
            store.write(f"k{seed}", Result("defined_elsewhere", "nsga2", seed, X=F, F=F,
                                           G=np.zeros((6, 0)), n_evals=6))
        table = metrics_table([store], ["r"])
        fronts_ = [store.result(i).front_F for i in table["run_id"]]
    union = np.concatenate(fronts_)
    ref = reference_point(union.min(axis=0), union.max(axis=0))
    expect = [HV(ref_point=ref)(F) for F in fronts_]
    np.testing.assert_allclose(table["hypervolume"].to_numpy(), expect, rtol=1e-12)
    assert table["hv_ratio"].isna().all()


def test_progress_in_a_log_is_one_plain_line_per_job(tmp_path: Path, capsys) -> None:
    """stderr that is not a terminal (CI logs, files) gets a short header, then one line
    per finished job with its own wall time, no redrawn bars; quiet=true prints nothing."""
    import re

    sweep(tmp_path / "a", "seeds=[0,1]", "quiet=false")
    err = capsys.readouterr().err
    assert "\r" not in err and "\x1b" not in err
    lines = err.strip().splitlines()
    assert len(lines) == 5 + 4, err
    assert lines[0].startswith("sweep zdt1") and lines[4].endswith(str(tmp_path / "a"))
    pattern = (r"\[(\d)/4\] (nsga2|weighted_sum) seed=[01] done in \d+\.\d+ s: "
               r"hv [0-9.e+-]+ \(ratio [0-9.]+\), \d+ evals(, \d+ grad evals)?")
    assert [int(re.fullmatch(pattern, line).group(1)) for line in lines[5:]] == [1, 2, 3, 4]
    sweep(tmp_path / "b", "seeds=[0]")
    assert capsys.readouterr().err == ""


def test_reusing_out_keeps_every_config(tmp_path: Path) -> None:
    """A second sweep into the same folder (one more seed) runs only the new jobs and
    keeps both configs; config.yaml is the latest one."""
    from dse.config import load_config

    out = tmp_path / "run"
    sweep(out, "seeds=[0]")
    second = sweep(out, "seeds=[0,1]")
    assert second.n_run == 2 and second.n_skipped == 2
    kept = sorted((out / "configs").glob("*.yaml"))
    assert len(kept) == 2
    assert sorted(tuple(load_config(p).seeds) for p in kept) == [(0,), (0, 1)]
    assert tuple(load_config(out / "config.yaml").seeds) == (0, 1)


def test_other_problems_or_settings_in_a_folder_warn_and_never_crash(tmp_path: Path) -> None:
    import warnings

    from dse.sweep import SweepFolderWarning

    out = tmp_path / "run"
    sweep(out, "seeds=[0]")
    with warnings.catch_warnings():
        warnings.simplefilter("error", SweepFolderWarning)
        sweep(out, "seeds=[0,1]")  # more seeds: how a sweep grows, no warning
    with pytest.warns(SweepFolderWarning, match=r"same method and seed with other settings"):
        sweep(out, "seeds=[0]", "solver.budget=300")
    with pytest.warns(SweepFolderWarning, match=r"another problem \(zdt1"):
        run_sweep(["problem=dtlz2", "methods=[random]", "solver.budget=200", "quiet=true",
                   "plots=false", f"out={out}"])
    # A problem with no known front beside known ones (ref_point NULL in some rows).
    from test_problem_specs import FILE

    with pytest.warns(SweepFolderWarning):
        run_sweep([f"problem={FILE}:Shifted", "methods=[random]", "solver.budget=200",
                   "quiet=true", "plots=true", f"out={out}"])
    runs, summary = compare_runs([out])
    assert set(summary["problem"]) == {"zdt1", "dtlz2", "shifted"}
    assert set(runs["problem"]) == {"zdt1", "dtlz2", "shifted"}
    assert runs["hypervolume"].notna().all()


def test_a_damaged_database_stops_the_sweep_before_anything_is_written(tmp_path: Path) -> None:
    out = tmp_path / "run"
    out.mkdir()
    (out / "results.sqlite").write_bytes(b"not a database, but maybe worth rescuing" * 40)
    (out / "config.yaml").write_text("the previous config\n")
    with pytest.raises(ValueError, match=r"results.sqlite is not a readable results database"):
        sweep(out, "seeds=[0]")
    assert (out / "config.yaml").read_text() == "the previous config\n"
    assert not (out / "configs").exists()


def test_a_run_missing_its_designs_is_not_finished(tmp_path: Path) -> None:
    import sqlite3

    out = tmp_path / "run"
    sweep(out, "seeds=[0]")
    before = fronts(out)
    con = sqlite3.connect(out / "results.sqlite")
    with con:
        run_id, n = con.execute("SELECT run_id, n_designs FROM runs WHERE method='nsga2'"
                                ).fetchone()
        con.execute("DELETE FROM designs WHERE run_id = ? AND design >= ?", (run_id, n // 2))
    con.close()
    with Store(out) as store:
        assert len(store) == 1 and len(store.runs()) == 1
        assert not any("nsga2" in k for k in store.job_keys())
    again = sweep(out, "seeds=[0]")
    assert again.n_run == 1 and again.n_skipped == 1
    after = fronts(out)
    np.testing.assert_array_equal(after[("nsga2", 0)], before[("nsga2", 0)])
    with Store(out) as store:
        assert len(store) == 2 and store.integrity_check() == "ok"


def test_two_sweeps_into_one_folder_share_the_jobs(tmp_path: Path) -> None:
    import os
    import subprocess
    import sys

    root = Path(__file__).resolve().parents[1]
    out = tmp_path / "shared"
    args = ["problem=zdt1", "problem.n_var=6", "methods=[nsga2,weighted_sum]",
            "seeds=[0,1,2]", "solver.budget=3000", "solver.nsga2.pop_size=40",
            "plots=false", f"out={out}"]
    env = {**os.environ, "OMP_NUM_THREADS": "1",
           "PYTHONPATH": os.pathsep.join(filter(None, [str(root),
                                                       os.environ.get("PYTHONPATH")]))}
    cmd = [sys.executable, str(root / "cli.py"), "sweep", *args]
    procs = [subprocess.Popen(cmd, cwd=tmp_path, env=env, stdout=subprocess.PIPE,
                              stderr=subprocess.PIPE, text=True) for _ in range(2)]
    outs = [p.communicate(timeout=300) for p in procs]
    assert all(p.returncode == 0 for p in procs), [o[1] for o in outs]
    import re

    ran = [int(re.search(r"jobs run: (\d+)", o[0]).group(1)) for o in outs]
    assert sum(ran) == 6, outs  # every job run once, by one of the two
    with Store(out) as store:
        assert len(store) == 6 and store.integrity_check() == "ok"
        assert store.query("SELECT COUNT(*) AS n FROM claims")["n"].iloc[0] == 0


def test_reading_a_missing_run_folder_is_an_error_and_creates_nothing(tmp_path: Path) -> None:
    # The README reads results with load_run: a mistyped folder must not become an empty
    # database followed by a KeyError.
    missing = tmp_path / "runs" / "codesign-typo"
    with pytest.raises(FileNotFoundError, match="no results database"):
        load_run(missing)
    assert not (tmp_path / "runs").exists()
