"""What a user sees: the solver progress hook changes nothing, progress lines in a log and a
terminal, Ctrl-C ends a sweep with one line and status 130, the summary table."""

from __future__ import annotations

import io
import os
import re
import signal
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from _helpers import count_stored_runs

import cli
from dse.progress import Progress, track
from dse.run_metrics import summary_text
from dse.solvers import _history, solve

ROOT = Path(__file__).resolve().parents[1]


# ---------------------------------------------------------------------------- the hook
@pytest.mark.parametrize(("problem", "method", "budget"), [
    ("zdt1", "nsga2", 2000), ("zdt1", "chebyshev", 2000), ("zdt1", "random", 1000),
    ("dtlz2", "nsga3", 1200),
])
def test_progress_callback_changes_nothing(problem: str, method: str, budget: int,
                                           monkeypatch: pytest.MonkeyPatch) -> None:
    # Report at every checkpoint: the deferred archive merges happen at other times than
    # without a callback, which must give the same rows.
    monkeypatch.setattr(_history, "PROGRESS_EVERY", 0.0)
    calls: list[tuple] = []
    plain = solve(problem, method, budget=budget, seed=3)
    seen = solve(problem, method, budget=budget, seed=3,
                 progress=lambda *a: calls.append(a))
    np.testing.assert_array_equal(seen.X, plain.X)
    np.testing.assert_array_equal(seen.F, plain.F)
    assert (seen.n_evals, seen.n_grad_evals) == (plain.n_evals, plain.n_grad_evals)
    cols = ["n_evals", "n_grad_evals", "hypervolume"]
    pd.testing.assert_frame_equal(seen.history[cols], plain.history[cols])
    assert len(calls) >= 2
    n = [c[0] for c in calls]
    assert n == sorted(n) and n[-1] <= seen.n_evals
    assert {c[1] for c in calls} == {budget}
    hv = [c[2] for c in calls if c[2] is not None]
    assert hv and set(hv) <= set(seen.history["hypervolume"])
    assert all(c[3] >= 0 for c in calls)


def test_progress_callback_is_throttled() -> None:
    calls: list[tuple] = []
    res = solve("zdt1", "nsga2", budget=4000, seed=0, pop_size=20,
                progress=lambda *a: calls.append(a))
    # 200 checkpoints in well under a second: a handful of reports.
    assert len(res.history) >= 100
    assert 1 <= len(calls) <= 1 + res.wall_time / _history.PROGRESS_EVERY


# ---------------------------------------------------------------------------- Progress
def test_log_lines_are_plain_and_steady() -> None:
    out = io.StringIO()
    p = Progress(2, stream=out, every=0.3)
    assert not p.live  # a StringIO is no terminal
    p.say("header")
    p.start("nsga2 seed=0", 1000)
    p.update(250, hv=0.5, elapsed=0.5)
    time.sleep(1.2)  # nothing reported meanwhile: the timer still prints the status
    p.finish(text="hv 0.6", wall_time=1.25)
    p.start("mgda seed=0", None)
    p.finish(wall_time=0.5)
    p.close()
    text = out.getvalue()
    assert "\r" not in text and "\x1b" not in text
    lines = text.splitlines()
    assert lines[0] == "header"
    status = [ln for ln in lines if ln.startswith("[1/2] nsga2 seed=0:")]
    assert len(status) >= 2, text
    assert "250/1000 evals (25%)" in status[0] and "hv 0.5" in status[0]
    assert "500 evals/s" in status[0]
    assert "[1/2] nsga2 seed=0 done in 1.2 s: hv 0.6" in lines  # its own wall time
    assert lines[-1] == "[2/2] mgda seed=0 done in 0.50 s"


def test_terminal_line_is_redrawn_and_cleared() -> None:
    out = io.StringIO()
    with Progress(1, stream=out, live=True) as p:
        p.start("chebyshev seed=0", 1000)
        time.sleep(0.15)  # redraws are at most 10 a second
        p.update(500, hv=0.8)
        p.finish(wall_time=2.0)
    text = out.getvalue()
    assert "\r[1/1] chebyshev seed=0: |######------| 500/1000 evals, hv 0.8" in text
    assert "\r\x1b[K[1/1] chebyshev seed=0 done in 2.0 s\n" in text
    assert text.endswith("\r\x1b[K")  # nothing left on the status line


def test_quiet_progress_draws_nothing() -> None:
    out = io.StringIO()
    with Progress(1, stream=out, quiet=True) as p:
        p.say("header")
        p.start("x", 10)
        p.update(5)
        p.finish()
    assert out.getvalue() == ""


def test_track_reports_to_the_job_under_way() -> None:
    out = io.StringIO()
    with Progress(1, stream=out, live=True, unit="steps") as p:
        p.start("mean seed=0")
        bar = track(range(40), desc="inner")
        for i in bar:
            bar.set_postfix({"loss": f"{1 / (i + 1):.2g}"})
        assert p._job is not None and (p._job.done, p._job.total) == (40, 40)
        assert p._job.info == "loss=0.025"
        p.finish()
    assert "inner" not in out.getvalue()  # no line of its own
    assert list(track(range(3), disable=True)) == [0, 1, 2]


# ---------------------------------------------------------------------------- the CLI
def test_sweep_log_shows_header_and_one_line_per_job(tmp_path: Path,
                                                     capsys: pytest.CaptureFixture) -> None:
    argv = ["sweep", "problem=zdt1", "problem.n_var=6", "methods=[nsga2,chebyshev]",
            "seeds=[0]", "solver.budget=1000", "solver.nsga2.pop_size=20",
            "solver.chebyshev.n_points=10", f"out={tmp_path}", "plots=false"]
    assert cli.main(argv) == 0
    cap = capsys.readouterr()
    err = cap.err.splitlines()
    assert err[0].startswith("sweep zdt1 (n_var=6): 2 jobs (2 methods x 1 seeds), 2 to run")
    assert "  methods    nsga2, chebyshev" in err
    assert "  budget     1000 evaluations per job" in err
    assert f"  run folder {tmp_path}" in err
    done = [ln for ln in err if " done in " in ln]
    assert [d.split(" done")[0] for d in done] == ["[1/2] nsga2 seed=0",
                                                 "[2/2] chebyshev seed=0"]
    runs = pd.read_csv(tmp_path / "runs.csv")
    for line, wall in zip(done, runs["wall_time"], strict=True):  # each job's own time
        assert re.search(r"done in ([\d.]+) s", line).group(1) == (
            f"{wall:.2f}" if wall < 1 else f"{wall:.1f}")
    assert "\r" not in cap.err
    out = cap.out.splitlines()
    assert out[0] == f"run folder: {tmp_path}"
    assert max(len(ln) for ln in out) <= 100
    assert any(ln.startswith("* ") for ln in out) and "* best mean hypervolume" in out
    assert "±" not in cap.out and "nan" not in cap.out.lower()  # one seed: no spread


def test_quiet_prints_the_run_folder(tmp_path: Path, capsys: pytest.CaptureFixture) -> None:
    argv = ["sweep", "problem=zdt1", "problem.n_var=6", "methods=[nsga2]", "seeds=[0]",
            "solver.budget=400", "solver.nsga2.pop_size=20", f"out={tmp_path}",
            "plots=false", "--quiet"]
    assert cli.main(argv) == 0
    cap = capsys.readouterr()
    assert cap.out == f"run folder: {tmp_path}\n" and cap.err == ""


def test_ctrl_c_prints_one_line_and_exits_130(tmp_path: Path) -> None:
    out = tmp_path / "run"
    cmd = [sys.executable, str(ROOT / "cli.py"), "sweep", "problem=zdt1", "problem.n_var=6",
           "methods=[nsga2,weighted_sum]", "seeds=[0,1]", "solver.budget=4000",
           "solver.nsga2.pop_size=40", "solver.weighted_sum.n_points=10", "plots=false",
           f"out={out}"]
    env = {**os.environ, "OMP_NUM_THREADS": "1",
           "PYTHONPATH": os.pathsep.join(filter(None, [str(ROOT),
                                                       os.environ.get("PYTHONPATH")]))}
    proc = subprocess.Popen(cmd, cwd=tmp_path, env=env, stdout=subprocess.PIPE,
                            stderr=subprocess.PIPE, text=True)
    deadline = time.monotonic() + 120
    while time.monotonic() < deadline and proc.poll() is None and count_stored_runs(out) < 1:
        time.sleep(0.02)
    proc.send_signal(signal.SIGINT)
    stdout, stderr = proc.communicate(timeout=60)
    assert proc.returncode == 130, (stdout, stderr)
    n = count_stored_runs(out)
    assert 1 <= n < 4, "the interrupt should land mid-sweep"
    assert "Traceback" not in stderr and "KeyboardInterrupt" not in stderr
    last = stderr.strip().splitlines()[-1]
    assert last == (f"interrupted: {n} of 4 jobs stored in {out}; rerun the same command "
                    "to continue")
    assert stdout == ""
    # Nothing stored is lost: the rerun runs only the rest.
    rerun = subprocess.run(cmd, cwd=tmp_path, env=env, capture_output=True, text=True,
                           timeout=300)
    assert rerun.returncode == 0, rerun.stderr
    assert f"jobs run: {4 - n}, skipped (already stored): {n}" in rerun.stdout


# ---------------------------------------------------------------------------- summary
def _summary(**cols: list) -> pd.DataFrame:
    n = len(cols["method"])
    base = {"run": ["r"] * n, "problem": ["codesign"] * n, "kind": ["gradient"] * n,
            "seeds": [3] * n, "hypervolume_std": [1.5] * n, "hv_ratio": [np.nan] * n,
            "hv_ratio_std": [np.nan] * n, "igd": [np.nan] * n, "n_evals": [5000.0] * n,
            "n_grad_evals": [0.0] * n, "wall_time": [1.234] * n, "n_front": [12.0] * n}
    return pd.DataFrame({**base, **cols})


def test_summary_marks_best_and_explains_zero() -> None:
    s = _summary(method=["chebyshev", "random", "nsga2"],
                 hypervolume=[923.44, 0.0, 910.0], seeds=[3, 3, 1],
                 kind=["gradient", "evolutionary", "evolutionary"])
    text = summary_text(s)
    lines = text.splitlines()
    row = {ln.split()[1] if ln.startswith("*") else ln.split()[0]: ln for ln in lines[1:4]}
    assert row["chebyshev"].startswith("* chebyshev")
    assert not row["random"].startswith("*") and not row["nsga2"].startswith("*")
    assert "923.4 ± 1.5" in row["chebyshev"]
    assert "±" not in row["nsga2"]  # one seed: no spread
    assert "hv_ratio" not in lines[0] and "igd" not in lines[0]  # unknown front
    assert "hypervolume 0 (random): no design" in text and "reference box" in text
    assert "nan" not in text.lower()


def test_summary_fits_100_columns() -> None:
    names = ["weighted_sum_long_name", "hybrid", "uncertainty", "chebyshev"]
    s = _summary(method=names, hypervolume=[0.123456, 0.5, 0.25, 0.75],
                 hv_ratio=[0.1, 0.6, 0.3, 0.9], hv_ratio_std=[0.01] * 4,
                 igd=[0.0123] * 4, n_grad_evals=[123456.0] * 4,
                 kind=["gradient", "hybrid", "gradient", "evolutionary"],
                 run=["zdt1-1a2b3c4d", "zdt1-5e6f7a8b"] * 2)
    text = summary_text(s)
    assert max(len(ln) for ln in text.splitlines()) <= 100, text
    assert "left out to fit 100 columns" in text
    assert summary_text(s.iloc[:0]) == "no finished runs"
