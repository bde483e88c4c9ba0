"""Sweeps on a local Dask cluster of worker processes: same jobs, same fronts, one writer.

One cluster (two worker processes) serves the whole module: starting one costs seconds.
"""

from __future__ import annotations

import os
from pathlib import Path

import numpy as np
import pytest

from dse.executor import DaskExecutor, LocalExecutor, make_executor
from dse.store import Store
from dse.sweep import run_sweep

BASE = [
    "problem=zdt1", "problem.n_var=6", "methods=[nsga2,weighted_sum]", "seeds=[0,1]",
    "solver.budget=300", "solver.nsga2.pop_size=20", "solver.weighted_sum.n_points=10",
    "quiet=true", "plots=false",
]


def _pid(_: object) -> int:
    return os.getpid()


def _fail(x: int) -> int:
    if x == 1:
        raise ValueError("job one fails")
    return x * 10


@pytest.fixture(scope="module")
def cluster():
    # No address: the executor starts (and later stops) its own LocalCluster.
    with DaskExecutor(n_workers=2, threads_per_worker=1) as ex:
        yield ex


def test_dask_sweep_matches_in_process(cluster: DaskExecutor, tmp_path: Path) -> None:
    local = run_sweep([*BASE, f"out={tmp_path / 'local'}"])
    dask = run_sweep([*BASE, f"out={tmp_path / 'dask'}", "executor=dask"], executor=cluster)
    assert dask.n_run == 4 and not dask.failures
    with Store(tmp_path / "local") as a, Store(tmp_path / "dask") as b:
        ra = {(r.method, r.seed): r for r in a.results()}
        rb = {(r.method, r.seed): r for r in b.results()}
        assert a.job_keys() == b.job_keys()
        assert b.integrity_check() == "ok"
    assert ra.keys() == rb.keys()
    for key in ra:
        np.testing.assert_array_equal(ra[key].F, rb[key].F, err_msg=str(key))
        np.testing.assert_array_equal(ra[key].X, rb[key].X, err_msg=str(key))
    np.testing.assert_array_equal(
        local.runs.sort_values(["method", "seed"])["hypervolume"].to_numpy(),
        dask.runs.sort_values(["method", "seed"])["hypervolume"].to_numpy())
    # A rerun through the cluster finds everything stored.
    again = run_sweep([*BASE, f"out={tmp_path / 'dask'}"], executor=cluster)
    assert (again.n_run, again.n_skipped) == (0, 4)


def test_jobs_run_in_worker_processes_and_failures_come_back(cluster: DaskExecutor) -> None:
    pids = {out for _, out in cluster.map_unordered(_pid, list(range(8)))}
    assert os.getpid() not in pids and len(pids) >= 1
    got = dict(cluster.map_unordered(_fail, [0, 1, 2]))
    assert got[0] == 0 and got[2] == 20 and isinstance(got[1], ValueError)


def test_executor_by_address(cluster: DaskExecutor) -> None:
    address = cluster.client.scheduler.address
    ex = make_executor("dask", address=address)
    try:
        assert isinstance(ex, DaskExecutor)
        assert dict(ex.map_unordered(_fail, [3])) == {3: 30}
    finally:
        ex.close()  # closes only the client: the cluster belongs to the fixture
    assert dict(cluster.map_unordered(_fail, [4])) == {4: 40}


def test_local_executor_and_factory() -> None:
    got = dict(LocalExecutor().map_unordered(_fail, [0, 1, 2]))
    assert got[2] == 20 and isinstance(got[1], ValueError)
    assert isinstance(make_executor("local"), LocalExecutor)
    with pytest.raises(ValueError, match="local, dask"):
        make_executor("ray")
    with pytest.raises(ValueError, match="executor=dask"):
        make_executor("local", address="tcp://x:1")
