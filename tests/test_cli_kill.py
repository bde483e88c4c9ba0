"""Kill a real `cli.py sweep` process with SIGKILL mid-run, rerun the same command:
nothing lost, nothing duplicated, the database intact, the fronts those of a clean run."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
from _helpers import count_stored_runs

from dse.store import Store
from dse.sweep import run_sweep

ROOT = Path(__file__).resolve().parents[1]

# Four jobs of about a second each, so that the kill lands while later jobs still run.
ARGS = [
    "problem=zdt1", "problem.n_var=6", "methods=[nsga2,weighted_sum]", "seeds=[0,1]",
    "solver.budget=4000", "solver.nsga2.pop_size=40", "solver.weighted_sum.n_points=10",
    "plots=false",
]
N_JOBS = 4


def _fronts(folder: Path) -> dict[tuple[str, int], np.ndarray]:
    with Store(folder) as store:
        return {(r.method, r.seed): r.F for r in store.results()}


def _run_folder(cwd: Path) -> Path | None:
    found = sorted((cwd / "runs").glob("zdt1-*"))
    assert len(found) <= 1, found
    return found[0] if found else None


def test_sigkill_mid_sweep_then_rerun(tmp_path: Path) -> None:
    # No out=: the run folder is runs/<problem>-<config hash> under the working directory,
    # and the rerun, a new process, must find the same one.
    cmd = [sys.executable, str(ROOT / "cli.py"), "sweep", *ARGS, "--quiet"]
    env = {**os.environ, "OMP_NUM_THREADS": "1",
           "PYTHONPATH": os.pathsep.join(filter(None, [str(ROOT),
                                                       os.environ.get("PYTHONPATH")]))}
    proc = subprocess.Popen(cmd, cwd=tmp_path, env=env, stdout=subprocess.DEVNULL,
                            stderr=subprocess.DEVNULL)
    deadline = time.monotonic() + 120
    out = None
    while time.monotonic() < deadline and proc.poll() is None:
        out = out or _run_folder(tmp_path)
        if out is not None and count_stored_runs(out) >= 1:
            break
        time.sleep(0.02)
    assert out is not None
    os.kill(proc.pid, signal.SIGKILL)
    proc.wait()
    assert proc.returncode == -signal.SIGKILL, "the sweep ended before it could be killed"
    stored = count_stored_runs(out)
    assert 1 <= stored < N_JOBS, f"kill should land mid-sweep, found {stored} jobs stored"
    with Store(out) as store:
        assert store.integrity_check() == "ok"
        before = _fronts(out)

    rerun = subprocess.run(cmd[:-1], cwd=tmp_path, env=env, capture_output=True, text=True,
                           timeout=300)
    assert rerun.returncode == 0, rerun.stderr
    assert f"run folder: runs/{out.name}" in rerun.stdout
    assert f"jobs run: {N_JOBS - stored}, skipped (already stored): {stored}" in rerun.stdout

    with Store(out) as store:
        assert store.integrity_check() == "ok"
        runs = store.runs()
        assert len(runs) == N_JOBS and runs["job_key"].is_unique
        per_run = store.query("SELECT run_id, COUNT(*) AS n FROM designs GROUP BY run_id")
        assert dict(zip(per_run["run_id"], per_run["n"], strict=True)) == dict(
            zip(runs["run_id"], runs["n_designs"], strict=True))
    after = _fronts(out)
    for key, F in before.items():  # what was stored before the kill is untouched
        np.testing.assert_array_equal(after[key], F)

    # An uninterrupted run of the same command (here in-process) gives the same fronts.
    clean = tmp_path / "clean"
    run_sweep([*ARGS, f"out={clean}", "quiet=true"])
    reference = _fronts(clean)
    assert reference.keys() == after.keys()
    for key in reference:
        np.testing.assert_array_equal(after[key], reference[key], err_msg=str(key))
