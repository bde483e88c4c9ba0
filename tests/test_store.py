"""The results database: exact round trips, one transaction per job, survives SIGKILL."""

from __future__ import annotations

import json
import os
import re
import signal
import sqlite3
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import pytest
from _helpers import count_stored_runs

from dse.result import Result
from dse.store import DB_NAME, Store

ROOT = Path(__file__).resolve().parents[1]


def make_result(seed: int = 0, n: int = 12, method: str = "m") -> Result:
    rng = np.random.default_rng(seed)
    hist = pd.DataFrame({
        "n_evals": [10.0, 20.0, 30.0], "n_grad_evals": [0.0, 5.0, 9.0],
        "wall_time": [0.1, 0.2, 0.3], "hypervolume": [0.5, np.nan, 0.75],
    })
    return Result(
        problem="toy", method=method, seed=seed, X=rng.random((n, 3)),
        F=rng.random((n, 2)) * np.pi, G=rng.random((n, 1)) - 0.3, n_evals=30,
        n_grad_evals=9, wall_time=1.25, history=hist, config={"lr": 0.1, "tags": ["a"]},
        variable_names=("a", "b", "c"), objective_names=("area", "latency"),
        constraint_names=("buf",),
    )


def test_round_trip_is_exact(tmp_path: Path) -> None:
    res = make_result()
    with Store(tmp_path) as store:
        run_id = store.write("k", res, metrics={"hypervolume": 1.5, "hv_ratio": None,
                                                "igd": 0.25, "ref_point": [1.0, 2.0]},
                             info={"kind": "gradient", "budget": 30, "device": "cpu",
                                   "problem_params": {"n": 3}, "config": {"seed": 0}})
        assert run_id is not None
        back = store.result(run_id)
        # Bit-for-bit: JSON keeps float64 exactly.
        np.testing.assert_array_equal(back.X, res.X)
        np.testing.assert_array_equal(back.F, res.F)
        np.testing.assert_array_equal(back.G, res.G)
        pd.testing.assert_frame_equal(back.history, res.history, check_dtype=False)
        assert back.config == res.config
        assert (back.n_evals, back.n_grad_evals, back.wall_time) == (30, 9, 1.25)
        assert back.objective_names == res.objective_names
        runs = store.runs()
        row = runs.iloc[0]
        assert row["hypervolume"] == 1.5 and row["igd"] == 0.25
        assert pd.isna(row["hv_ratio"])
        assert row["ref_point"] == [1.0, 2.0] and row["problem_params"] == {"n": 3}
        assert row["n_front"] == res.front_mask.sum()
        assert row["n_feasible"] == res.feasible.sum()
        d = store.designs()
        np.testing.assert_array_equal(d[["f.area", "f.latency"]].to_numpy(), res.F)
        np.testing.assert_array_equal(d["on_front"].to_numpy(), res.front_mask)
        front = store.designs(front_only=True)
        np.testing.assert_array_equal(front[["f.area", "f.latency"]].to_numpy(), res.front_F)


def test_plain_pandas_reads_the_file(tmp_path: Path) -> None:
    """An independent route: sqlite3 + pandas only, no dse code."""
    res = make_result(3)
    with Store(tmp_path) as store:
        store.write("k", res)
    con = sqlite3.connect(tmp_path / DB_NAME)
    runs = pd.read_sql_query("SELECT * FROM runs", con)
    designs = pd.read_sql_query("SELECT * FROM designs ORDER BY design", con)
    hist = pd.read_sql_query("SELECT * FROM history ORDER BY step", con)
    con.close()
    assert runs.loc[0, "method"] == "m" and runs.loc[0, "seed"] == 3
    F = np.array([json.loads(f) for f in designs["f"]])
    np.testing.assert_array_equal(F, res.F)
    np.testing.assert_array_equal(hist["n_evals"].to_numpy(), res.history["n_evals"])


@pytest.mark.parametrize("sql", ["DROP TABLE runs", "DELETE FROM designs",
                                 "UPDATE runs SET seed = 7", "SELECT 1; DROP TABLE runs"])
def test_query_is_read_only(tmp_path: Path, sql: str) -> None:
    with Store(tmp_path) as store:
        store.write("k", make_result(0))
        with pytest.raises(ValueError, match="read-only"):
            store.query(sql)
        # Nothing changed, and the store still writes after the refused query.
        assert len(store.designs()) == 12 and store.runs().loc[0, "seed"] == 0
        assert store.write("k2", make_result(1)) is not None
    with Store(tmp_path, create=False) as again:
        assert len(again.runs()) == 2


@pytest.mark.parametrize("damage", ["garbage", "header"])
def test_a_damaged_database_is_named_and_left_alone(tmp_path: Path, damage: str) -> None:
    db = tmp_path / DB_NAME
    if damage == "garbage":
        db.write_bytes(b"not a database at all")
    else:  # a real database whose header was overwritten
        with Store(tmp_path) as store:
            store.write("k", make_result(0))
        raw = bytearray(db.read_bytes())
        raw[:100] = b"x" * 100
        db.write_bytes(bytes(raw))
    before = db.read_bytes()
    for create in (True, False):
        with pytest.raises(ValueError, match="move it aside") as err:
            Store(tmp_path, create=create)
        assert str(db) in str(err.value)
    assert db.read_bytes() == before


def test_a_job_is_stored_once(tmp_path: Path) -> None:
    with Store(tmp_path) as store:
        assert store.write("k", make_result(0)) is not None
        assert store.write("k", make_result(1)) is None  # same key: left alone
        assert len(store) == 1 and store.job_keys() == {"k"} and "k" in store
        assert store.result(1).seed == 0
        assert len(store.designs()) == 12


def test_failed_write_leaves_nothing(tmp_path: Path) -> None:
    good = make_result(0)
    bad = make_result(1)
    # A value that fails half-way through the write (after the runs and designs rows).
    bad.history["wall_time"] = bad.history["wall_time"].astype(object)
    bad.history.loc[1, "wall_time"] = "not a number"
    with Store(tmp_path) as store:
        store.write("good", good)
        with pytest.raises(ValueError):
            store.write("bad", bad)
        assert store.job_keys() == {"good"}
        counts = store.query("SELECT COUNT(*) AS n FROM designs")["n"].item()
        assert counts == len(good.F)
        assert len(store.history()) == len(good.history)
        assert store.integrity_check() == "ok"


def test_unknown_metric_is_rejected(tmp_path: Path) -> None:
    with Store(tmp_path) as store, pytest.raises(ValueError, match="hypervolume"):
        store.write("k", make_result(), metrics={"hv": 1.0})


def test_missing_database_is_an_error(tmp_path: Path) -> None:
    with pytest.raises(FileNotFoundError):
        Store(tmp_path / "nothing", create=False)


@pytest.mark.parametrize("fmt", ["csv", "parquet"])
def test_export(tmp_path: Path, fmt: str) -> None:
    res = [make_result(s, method=m) for s in (0, 1) for m in ("a", "b")]
    with Store(tmp_path) as store:
        for i, r in enumerate(res):
            store.write(f"k{i}", r)
        paths = store.export(tmp_path / "exp", fmt)
    read = pd.read_csv if fmt == "csv" else pd.read_parquet
    tables = {p.stem: read(p) for p in paths}
    assert set(tables) == {"runs", "designs", "history"}
    assert len(tables["runs"]) == 4
    d = tables["designs"]
    for i, r in enumerate(res):
        got = d[d["run_id"] == i + 1][["f.area", "f.latency"]].to_numpy()
        np.testing.assert_allclose(got, r.F, rtol=0, atol=0 if fmt == "parquet" else 1e-15)
    assert len(tables["history"]) == 4 * 3
    with Store(tmp_path) as store, pytest.raises(ValueError, match="parquet"):
        store.export(tmp_path / "x", "xlsx")


_WRITER = """
import sys
sys.path.insert(0, {tests!r})
from test_store import make_result
from dse.store import Store
store = Store({db!r})
i = 0
while True:
    store.write(f"job{{i}}", make_result(i, n=400))
    i += 1
"""


def test_sigkill_during_writes_never_corrupts(tmp_path: Path) -> None:
    """Kill a process that writes jobs as fast as it can; every stored job is whole."""
    code = _WRITER.format(tests=str(ROOT / "tests"), db=str(tmp_path))
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    for extra in (0.037,):
        proc = subprocess.Popen([sys.executable, "-c", code], cwd=ROOT, env=env)
        before = count_stored_runs(tmp_path)
        deadline = time.monotonic() + 60
        # Kill once the writer is busy (a few more jobs stored), at an arbitrary moment.
        while count_stored_runs(tmp_path) < before + 3 and time.monotonic() < deadline:
            time.sleep(0.02)
        time.sleep(extra)
        os.kill(proc.pid, signal.SIGKILL)
        proc.wait()
        assert proc.returncode == -signal.SIGKILL
        with Store(tmp_path) as store:
            assert store.integrity_check() == "ok"
            runs = store.runs()
            assert len(runs) > 0
            per_run = store.query("SELECT run_id, COUNT(*) AS n FROM designs GROUP BY run_id")
            assert (per_run["n"] == 400).all() and len(per_run) == len(runs)
            hist = store.query("SELECT run_id, COUNT(*) AS n FROM history GROUP BY run_id")
            assert (hist["n"] == 3).all() and len(hist) == len(runs)
            assert (runs["n_designs"] == 400).all()
    with Store(tmp_path) as store:
        keys = store.runs()["job_key"]
        assert keys.is_unique


def test_parquet_export_without_an_engine_names_what_to_install(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str],
) -> None:
    import importlib.util

    import cli

    with Store(tmp_path) as store:
        store.write("k0", make_result())
    real = importlib.util.find_spec
    monkeypatch.setattr(importlib.util, "find_spec",
                        lambda name, *a: None if name in ("pyarrow", "fastparquet")
                        else real(name, *a))
    with Store(tmp_path) as store, pytest.raises(ModuleNotFoundError, match="pip install pyarrow"):
        store.export(tmp_path / "out", "parquet")
    assert not (tmp_path / "out").exists()  # refused before anything is written
    assert cli.main(["export", str(tmp_path), "--format", "parquet"]) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and err.startswith("error: parquet export needs pyarrow")


def test_a_store_from_before_checksums_reads_unchecked_and_gains_them(tmp_path: Path) -> None:
    with Store(tmp_path) as store:
        store.write("old", make_result(0))
    con = sqlite3.connect(tmp_path / DB_NAME)
    con.execute("ALTER TABLE designs DROP COLUMN checksum")  # as written before checksums
    con.commit()
    con.close()
    with Store(tmp_path, create=False) as store:  # a reader changes nothing
        np.testing.assert_array_equal(store.result(1).F, make_result(0).F)
    con = sqlite3.connect(tmp_path / DB_NAME)
    assert "checksum" not in {r[1] for r in con.execute("PRAGMA table_info(designs)")}
    con.close()
    with Store(tmp_path) as store:  # a writer adds the column; new rows get a checksum
        store.write("new", make_result(1))
        assert len(store.results()) == 2
    con = sqlite3.connect(tmp_path / DB_NAME)
    sums = dict(con.execute("SELECT run_id, COUNT(checksum) FROM designs GROUP BY run_id"))
    con.close()
    assert sums == {1: 0, 2: len(make_result(1).F)}


def _read_all(store: Store) -> list[tuple[str, Any]]:
    return [("runs", store.runs), ("result", lambda: store.result(1)),
            ("results", store.results), ("designs", store.designs),
            ("history", store.history)]


@pytest.mark.parametrize("change", [
    "UPDATE runs SET hypervolume = 1.5000000000000002 WHERE run_id = 1",  # last bit
    "UPDATE runs SET n_evals = 31 WHERE run_id = 1",
    "UPDATE runs SET n_grad_evals = 8 WHERE run_id = 1",
    "UPDATE runs SET igd = NULL WHERE run_id = 1",
    "UPDATE runs SET config = replace(config, '0.1', '0.2') WHERE run_id = 1",
    "UPDATE runs SET method = 'other' WHERE run_id = 1",
    "UPDATE runs SET job_key = 'j' WHERE run_id = 1",
])
def test_a_changed_runs_row_is_one_error_naming_file_and_run(tmp_path: Path,
                                                             change: str) -> None:
    with Store(tmp_path) as store:
        store.write("k", make_result(0), metrics={"hypervolume": 1.5, "igd": 0.25})
    con = sqlite3.connect(tmp_path / DB_NAME)
    con.execute(change)
    con.commit()
    con.close()
    with Store(tmp_path, create=False) as store:
        for _, read in _read_all(store):
            with pytest.raises(ValueError, match=re.escape(str(tmp_path / DB_NAME))
                               + r".*run 1: its runs row.*checksum, changed after writing"):
                read()


@pytest.mark.parametrize("change", [
    "UPDATE history SET hypervolume = 0.7500000000000001 WHERE step = 2",
    "UPDATE history SET n_evals = 21 WHERE step = 1",
    "UPDATE history SET hypervolume = 0.5 WHERE step = 1",  # was NULL
    "UPDATE history SET wall_time = NULL WHERE step = 0",
    "UPDATE history SET step = 5 WHERE step = 2",
])
def test_a_changed_history_row_is_one_error_naming_file_run_and_step(tmp_path: Path,
                                                                     change: str) -> None:
    with Store(tmp_path) as store:
        store.write("k", make_result(0))
    con = sqlite3.connect(tmp_path / DB_NAME)
    con.execute(change)
    con.commit()
    con.close()
    with Store(tmp_path, create=False) as store:
        for read in (store.history, lambda: store.history(1), lambda: store.result(1),
                     store.results):
            with pytest.raises(ValueError, match=re.escape(str(tmp_path / DB_NAME))
                               + r".*run 1, history step \d.*checksum"):
                read()
        assert len(store.designs()) == 12  # the designs are untouched and read


def test_checksums_survive_the_conversions_sqlite_applies(tmp_path: Path) -> None:
    # Values the columns convert (an int in a text column, -0.0 and integral floats in
    # real ones, infinity, NULL metrics) read back unchanged for the checksum.
    res = make_result(0)
    res.history = pd.DataFrame({"n_evals": [1.0, 2.0], "n_grad_evals": [0.0, -0.0],
                                "wall_time": [-0.0, 1e-300], "hypervolume": [np.inf, np.nan]})
    res.wall_time = 2.0
    with Store(tmp_path) as store:
        store.write("k", res, metrics={"hypervolume": -0.0, "hv_ratio": np.nan, "igd": np.inf},
                    info={"kind": 7, "device": 0, "budget": 30.0})
    with Store(tmp_path, create=False) as store:
        for _, read in _read_all(store):
            read()
        back = store.result(1)
    np.testing.assert_array_equal(back.history["hypervolume"], [np.inf, np.nan])
    con = sqlite3.connect(tmp_path / DB_NAME)
    for table in ("runs", "designs", "history"):
        assert con.execute(f"SELECT COUNT(*) FROM {table} WHERE checksum IS NULL"
                           ).fetchone()[0] == 0, table
    con.close()


def test_the_runs_checksum_covers_every_column_written(tmp_path: Path) -> None:
    from dse import store as store_module

    res = make_result(0)
    row = store_module._run_row("k", res, {}, {}, n_feasible=1, n_front=1)
    assert set(store_module._RUN_CHECKED) == {"run_id", *row}
    with Store(tmp_path) as store:
        store.write("k", res)
    con = sqlite3.connect(tmp_path / DB_NAME)
    columns = [r[1] for r in con.execute("PRAGMA table_info(runs)")]
    con.close()
    assert set(columns) == {*store_module._RUN_CHECKED, "checksum"}


def test_a_store_from_before_run_and_history_checksums_reads_unchecked_and_gains_them(
        tmp_path: Path) -> None:
    with Store(tmp_path) as store:
        store.write("old", make_result(0))
    con = sqlite3.connect(tmp_path / DB_NAME)
    for table in ("runs", "history"):  # as written before these checksums
        con.execute(f"ALTER TABLE {table} DROP COLUMN checksum")
    con.execute("UPDATE runs SET n_evals = 31")  # unchecked: reads as it is
    con.execute("UPDATE history SET hypervolume = 0.25 WHERE step = 0")
    con.commit()
    con.close()
    with Store(tmp_path, create=False) as store:  # a reader changes nothing
        back = store.result(1)
        assert back.n_evals == 31 and back.history["hypervolume"].iloc[0] == 0.25
        assert "checksum" not in store.runs() and "checksum" not in store.history()
    con = sqlite3.connect(tmp_path / DB_NAME)
    for table in ("runs", "history"):
        assert "checksum" not in {r[1] for r in con.execute(f"PRAGMA table_info({table})")}
    con.close()
    with Store(tmp_path) as store:  # a writer adds the columns; new rows get a checksum
        store.write("new", make_result(1))
        assert len(store.results()) == 2
        assert "checksum" not in store.runs()
    con = sqlite3.connect(tmp_path / DB_NAME)
    runs = dict(con.execute("SELECT run_id, checksum IS NOT NULL FROM runs"))
    hist = dict(con.execute("SELECT run_id, COUNT(checksum) FROM history GROUP BY run_id"))
    con.execute("UPDATE runs SET n_evals = 32 WHERE run_id = 2")  # now checked
    con.commit()
    con.close()
    assert runs == {1: 0, 2: 1} and hist == {1: 0, 2: 3}
    with Store(tmp_path, create=False) as store, pytest.raises(ValueError, match="run 2: "):
        store.runs()
