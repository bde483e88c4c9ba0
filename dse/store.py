"""The results database of a run folder: one embedded SQLite file, written once per run.

Every finished (problem, method, seed) job is written in **one transaction**: its row in
``runs`` (configuration, metrics, counts), its designs in ``designs`` and its checkpoints in
``history``. SQLite commits atomically and the database runs in write-ahead-log mode, so a
process killed at any moment leaves either the whole job or none of it, never a corrupt
file; ``runs.job_key`` is unique, so a job is never stored twice.

Tables (all readable with ``pandas.read_sql_query``):

``runs``
    one row per finished job: ``run_id``, ``job_key``, ``problem``, ``problem_params``
    (JSON), ``method``, ``kind``, ``seed``, ``budget``, ``config`` (JSON), ``device``,
    counts (``n_evals``, ``n_grad_evals``, ``wall_time``, ``n_designs``, ``n_feasible``,
    ``n_front``), metrics (``hypervolume``, ``hv_ratio``, ``igd``, ``ref_point`` as JSON)
    and the variable/objective/constraint names (JSON lists).
``designs``
    one row per returned design: ``run_id``, ``design``, ``feasible``, ``on_front`` and
    the vectors ``x``, ``f``, ``g`` as JSON lists (exact float64 round trip);
    :meth:`Store.designs` expands them to one column per variable/objective.
``history``
    ``run_id``, ``step``, ``n_evals``, ``n_grad_evals``, ``wall_time``, ``hypervolume``.
``claims``
    ``job_key``, ``owner``, ``host``, ``pid``, ``claimed_at``: jobs a running sweep has
    taken, so that two sweeps into one folder share the work instead of both running it.

A job counts as finished only when its ``runs`` row holds all ``n_designs`` of its designs;
a row missing designs (a file edited or damaged by hand) is run again and replaced.

Every row of ``runs``, ``designs`` and ``history`` also carries a ``checksum`` (a blake2b
digest of its values as stored), which reading compares: SQLite checks its pages, not the
values in them, and a changed digit would otherwise read back as another number. A changed
row is a ``ValueError`` naming the file, the run and the row. Rows written before a table
had the column hold NULL and are read unchecked; a sweep that writes to such a store adds
the column, and its new rows get a checksum.
"""

from __future__ import annotations

import functools
import hashlib
import importlib.util
import json
import os
import socket
import sqlite3
import uuid
import warnings
from collections.abc import Callable, Iterable, Iterator, Sequence
from contextlib import contextmanager
from datetime import datetime, timezone
from pathlib import Path
from typing import Any, TypeVar

import numpy as np
import pandas as pd

from dse.result import HISTORY_COLUMNS, Result

__all__ = ["DB_NAME", "SCHEMA_VERSION", "Store"]

T = TypeVar("T")

#: File name of the database inside a run folder.
DB_NAME = "results.sqlite"
SCHEMA_VERSION = 1
# Bytes of each row's checksum (blake2b): 64 bits against accidental changes.
_CHECKSUM_BYTES = 8

_SCHEMA = """
CREATE TABLE IF NOT EXISTS meta (key TEXT PRIMARY KEY, value TEXT NOT NULL);
CREATE TABLE IF NOT EXISTS runs (
    run_id INTEGER PRIMARY KEY,
    job_key TEXT NOT NULL UNIQUE,
    problem TEXT NOT NULL,
    problem_params TEXT NOT NULL,
    method TEXT NOT NULL,
    kind TEXT,
    seed INTEGER NOT NULL,
    budget INTEGER,
    config TEXT NOT NULL,
    device TEXT,
    n_evals INTEGER NOT NULL,
    n_grad_evals INTEGER NOT NULL,
    wall_time REAL NOT NULL,
    n_designs INTEGER NOT NULL,
    n_feasible INTEGER NOT NULL,
    n_front INTEGER NOT NULL,
    hypervolume REAL,
    hv_ratio REAL,
    igd REAL,
    ref_point TEXT,
    variable_names TEXT NOT NULL,
    objective_names TEXT NOT NULL,
    constraint_names TEXT NOT NULL,
    finished_at TEXT NOT NULL,
    checksum TEXT
);
CREATE TABLE IF NOT EXISTS designs (
    run_id INTEGER NOT NULL REFERENCES runs(run_id),
    design INTEGER NOT NULL,
    feasible INTEGER NOT NULL,
    on_front INTEGER NOT NULL,
    x TEXT NOT NULL,
    f TEXT NOT NULL,
    g TEXT NOT NULL,
    checksum TEXT,
    PRIMARY KEY (run_id, design)
);
CREATE TABLE IF NOT EXISTS claims (
    job_key TEXT PRIMARY KEY,
    owner TEXT NOT NULL,
    host TEXT NOT NULL,
    pid INTEGER NOT NULL,
    claimed_at TEXT NOT NULL
);
CREATE TABLE IF NOT EXISTS history (
    run_id INTEGER NOT NULL REFERENCES runs(run_id),
    step INTEGER NOT NULL,
    n_evals REAL,
    n_grad_evals REAL,
    wall_time REAL,
    hypervolume REAL,
    checksum TEXT,
    PRIMARY KEY (run_id, step)
);
"""

_METRICS = ("hypervolume", "hv_ratio", "igd")

# Runs whose designs are all there; anything else is not a finished job.
_COMPLETE = """
SELECT r.run_id, r.job_key FROM runs r
LEFT JOIN (SELECT run_id, COUNT(*) AS n FROM designs GROUP BY run_id) d
       ON d.run_id = r.run_id
WHERE COALESCE(d.n, 0) = r.n_designs
"""


#: Columns of a ``runs`` row its checksum covers (every column written, see ``_run_row``),
#: in the order they are digested.
_RUN_CHECKED = ("run_id", "job_key", "problem", "problem_params", "method", "kind", "seed",
                "budget", "config", "device", "n_evals", "n_grad_evals", "wall_time",
                "n_designs", "n_feasible", "n_front", "hypervolume", "hv_ratio", "igd",
                "ref_point", "variable_names", "objective_names", "constraint_names",
                "finished_at")

#: The tables whose rows carry a checksum.
_CHECKED_TABLES = ("runs", "designs", "history")

#: Columns of ``runs`` that reading relies on (a damaged schema may have lost some).
_RUN_COLUMNS = ("run_id", "job_key", "problem", "problem_params", "method", "seed", "config",
                "n_evals", "n_grad_evals", "wall_time", "n_designs", "n_front",
                "variable_names", "objective_names", "constraint_names")


class _Unreadable(ValueError):
    """A damaged file, said once with its name and how to recover (see :func:`_reads`)."""


class _MissingColumns(Exception):
    """The ``runs`` table lacks columns reading needs (a damaged schema)."""


# What reading a damaged file raises, besides sqlite's own errors.
# (ValueError and TypeError: stored text that no longer parses as the numbers it held.)
_READ_ERRORS = (sqlite3.Error, pd.errors.DatabaseError, ValueError, TypeError, _MissingColumns)


def _one_line(exc: object, limit: int = 160) -> str:
    text = " ".join(str(exc).split())
    return text if len(text) <= limit else text[: limit - 3] + "..."


def _reads(method: Callable[..., T]) -> Callable[..., T]:
    """Turn what a damaged file makes reading raise into one ValueError naming the file."""

    @functools.wraps(method)
    def wrapper(self: Store, *args: Any, **kwargs: Any) -> T:
        try:
            return method(self, *args, **kwargs)
        except _Unreadable:
            raise  # already says which file (a reading method that calls another)
        except _READ_ERRORS as exc:
            raise _Unreadable(
                f"{self.path} cannot be read ({_one_line(exc)}); it was left as it is: if "
                f"it is damaged, move it aside (mv {self.path} {self.path}.bad) and rerun the "
                "sweep to start a fresh one"
            ) from None

    return wrapper


def _pid_alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:  # someone else's process: alive
        return True
    return True


def _json(value: Any) -> str:
    # Python's float repr round-trips float64 exactly, so fronts read back are identical.
    return json.dumps(value, default=_json_default)


def _json_default(value: Any) -> Any:
    if isinstance(value, np.generic):
        return value.item()
    if isinstance(value, np.ndarray):
        return value.tolist()
    return str(value)


def _opt_float(value: Any) -> float | None:
    if value is None:
        return None
    v = float(value)
    return None if np.isnan(v) else v


# ---------------------------------------------------------------------- rows of one job
def _checked_metrics(metrics: dict[str, Any] | None) -> dict[str, Any]:
    """A copy of ``metrics``; a key other than the metrics and ``ref_point`` is refused."""
    metrics = dict(metrics or {})
    unknown = set(metrics) - {*_METRICS, "ref_point"}
    if unknown:
        raise ValueError(
            f"unknown metric(s) {sorted(unknown)}; valid: {[*_METRICS, 'ref_point']}"
        )
    return metrics


def _run_row(job_key: str, result: Result, metrics: dict[str, Any], info: dict[str, Any], *,
             n_feasible: int, n_front: int) -> dict[str, Any]:
    """The job's ``runs`` row, column name -> value (JSON text for lists and dicts)."""
    config = {**info.get("config", {}), "result": result.config}
    ref = metrics.get("ref_point")
    return {
        "job_key": job_key,
        "problem": result.problem,
        "problem_params": _json(info.get("problem_params", {})),
        "method": result.method,
        "kind": info.get("kind"),
        "seed": int(result.seed),
        "budget": None if info.get("budget") is None else int(info["budget"]),
        "config": _json(config),
        "device": info.get("device"),
        "n_evals": int(result.n_evals),
        "n_grad_evals": int(result.n_grad_evals),
        "wall_time": float(result.wall_time),
        "n_designs": len(result.F),
        "n_feasible": n_feasible,
        "n_front": n_front,
        **{m: _opt_float(metrics.get(m)) for m in _METRICS},
        "ref_point": None if ref is None else _json(np.asarray(ref, float).tolist()),
        "variable_names": _json(list(result.variable_names)),
        "objective_names": _json(list(result.objective_names)),
        "constraint_names": _json(list(result.constraint_names)),
        "finished_at": datetime.now(timezone.utc).isoformat(timespec="seconds"),
    }


def _insert_run(c: sqlite3.Connection, row: dict[str, Any]) -> int | None:
    """Insert the ``runs`` row; its new ``run_id``, or ``None`` when the key is taken."""
    cols = ", ".join(row)
    marks = ", ".join("?" * len(row))
    cur = c.execute(
        f"INSERT INTO runs ({cols}) VALUES ({marks}) ON CONFLICT(job_key) DO NOTHING",
        tuple(row.values()),
    )
    return None if cur.rowcount == 0 else int(cur.lastrowid or 0)


def _design_rows(run_id: int, result: Result, feasible: np.ndarray,
                 front: np.ndarray) -> Iterator[tuple[Any, ...]]:
    """``designs`` rows: run, index, feasible, on front, x, f, g as JSON lists, checksum."""
    for i in range(len(result.F)):
        row = (run_id, i, int(feasible[i]), int(front[i]), _json(result.X[i].tolist()),
               _json(result.F[i].tolist()), _json(result.G[i].tolist()))
        yield (*row, _checksum(*row))


def _digest(text: str) -> str:
    return hashlib.blake2b(text.encode(), digest_size=_CHECKSUM_BYTES).hexdigest()


def _checksum(run_id: int, design: int, feasible: int, on_front: int, x: str, f: str,
              g: str) -> str:
    """Digest of one stored design row, as written.

    SQLite checks its pages, not the values in them: a changed digit in a stored objective
    reads back as another number. Each design row therefore carries this digest of its
    own values, and reading compares (:meth:`Store._verify`). Rows written before the
    column existed hold NULL and are read unchecked.
    """
    return _digest(f"{int(run_id)}|{int(design)}|{int(feasible)}|{int(on_front)}|{x}|{f}|{g}")


def _number(value: Any) -> float | None:
    """A stored REAL as digested: NULL (which pandas reads as NaN) is None, and -0.0 is
    0.0 (as SQLite stores it)."""
    if value is None:
        return None
    v = float(value)
    return None if v != v else v + 0.0


def _history_checksum(run_id: int, step: int, *values: Any) -> str:
    """Digest of one ``history`` row: run, step and :data:`~dse.result.HISTORY_COLUMNS`
    (floats in ``repr``, exact for float64; NULL as ``None``)."""
    return _digest("|".join([str(int(run_id)), str(int(step)),
                             *(repr(_number(v)) for v in values)]))


def _run_checksum(values: Sequence[Any]) -> str:
    """Digest of one ``runs`` row: the :data:`_RUN_CHECKED` columns as SQLite returns
    them (text, integers, floats in ``repr``, NULL), so that what is digested at writing is
    what reading sees, whatever type conversions the columns applied."""
    return _digest(json.dumps([_json_default(v) if isinstance(v, np.generic) else v
                               for v in values]))


def _history_rows(run_id: int, history: pd.DataFrame) -> Iterator[tuple[Any, ...]]:
    """``history`` rows: run, step, :data:`~dse.result.HISTORY_COLUMNS`, checksum."""
    hist = history.reset_index(drop=True)
    for i in range(len(hist)):
        values = tuple(_opt_float(hist[col].iloc[i]) for col in HISTORY_COLUMNS)
        yield (run_id, i, *values, _history_checksum(run_id, i, *values))


class Store:
    """The SQLite results database of one run folder.

    Parameters
    ----------
    path
        A run folder (the database is ``<folder>/results.sqlite``) or a database file.
    create
        Create the folder and the database when missing; otherwise a missing database is
        a ``FileNotFoundError``.

    Notes
    -----
    One process writes (the sweep's main process); readers may open the same file at the
    same time. Use as a context manager or call :meth:`close`.
    """

    def __init__(self, path: str | Path, *, create: bool = True) -> None:
        p = Path(path)
        self.path = p if p.suffix in (".sqlite", ".db") else p / DB_NAME
        if not self.path.exists():
            if not create:
                raise FileNotFoundError(f"no results database at {self.path}")
            self.path.parent.mkdir(parents=True, exist_ok=True)
        elif not create and self.path.stat().st_size == 0:
            # Opening would write a fresh header into it: say so and leave it empty.
            raise ValueError(f"{self.path} is empty, not a results database; it was left as "
                             "it is")
        # isolation_level=None: transactions are opened explicitly (BEGIN IMMEDIATE) so
        # that one job is exactly one transaction.
        self._conn = sqlite3.connect(self.path, timeout=60.0, isolation_level=None)
        try:
            self._open(create)
        except (sqlite3.DatabaseError, _MissingColumns) as exc:
            # Not SQLite, truncated or corrupt: say which file and how to recover, and
            # leave the file as it is (it may hold results worth rescuing).
            self._conn.close()
            raise ValueError(
                f"{self.path} is not a readable results database ({_one_line(exc)}); it was "
                "left as "
                f"it is: move it aside (mv {self.path} {self.path}.bad) and rerun to start a "
                "fresh one"
            ) from None

    def _open(self, create: bool) -> None:
        # Read the schema before anything writes: a file that is SQLite but holds no
        # results (or only some tables of them) is refused untouched.
        tables = {r[0] for r in self._conn.execute(
            "SELECT name FROM sqlite_master WHERE type = 'table'")}
        ours = {"meta", "runs", "designs", "history"}
        # A sweep completes a schema a kill interrupted, but never adds tables to someone
        # else's database; reading needs them all.
        if (not create and not ours <= tables) or (create and tables and not tables & ours):
            raise _MissingColumns(f"no {', '.join(sorted(ours - tables))} table(s)")
        if "runs" in tables:
            cols = {r[1] for r in self._conn.execute("PRAGMA table_info(runs)")}
            missing = [c for c in _RUN_COLUMNS if c not in cols]
            if missing:
                raise _MissingColumns(f"the runs table lacks {', '.join(missing)}")
        self._conn.execute("PRAGMA journal_mode=WAL")
        # FULL: a commit is on disk before write() returns, so a job reported done is done.
        self._conn.execute("PRAGMA synchronous=FULL")
        self._conn.execute("PRAGMA foreign_keys=ON")
        self._conn.execute("SELECT COUNT(*) FROM sqlite_master").fetchone()
        if create:
            # Every statement is idempotent (IF NOT EXISTS / OR IGNORE), so a kill between
            # them leaves a database the next open completes.
            self._conn.executescript(_SCHEMA)
            for table in _CHECKED_TABLES:
                if "checksum" not in self._columns(table):
                    # A store from before checksums: its new rows get one.
                    self._conn.execute(f"ALTER TABLE {table} ADD COLUMN checksum TEXT")
            with self._transaction():
                self._conn.execute(
                    "INSERT OR IGNORE INTO meta VALUES ('schema_version', ?)",
                    (str(SCHEMA_VERSION),),
                )
        # Tables whose rows may carry a checksum (a store from before them has none).
        self._checked = {t for t in _CHECKED_TABLES if "checksum" in self._columns(t)}

    def _columns(self, table: str) -> set[str]:
        return {r[1] for r in self._conn.execute(f"PRAGMA table_info({table})")}

    def _verify(self, run_id: int, rows: Iterable[Sequence[Any]]) -> None:
        """Compare each design row ``(design, feasible, on_front, x, f, g, checksum)`` with
        its stored checksum (:func:`_checksum`); rows without one are not checked."""
        for design, feasible, on_front, x, f, g, digest in rows:
            if digest is not None and digest != _checksum(run_id, design, feasible,
                                                          on_front, x, f, g):
                raise ValueError(f"run {run_id}, design {int(design)}: values differ from "
                                 "their checksum, changed after writing")

    def _verify_history(self, rows: Iterable[Sequence[Any]]) -> None:
        """Compare each history row ``(run_id, step, n_evals, n_grad_evals, wall_time,
        hypervolume, checksum)`` with its checksum; rows without one are not checked."""
        for run_id, step, *values, digest in rows:
            if isinstance(digest, str) and digest != _history_checksum(run_id, step, *values):
                raise ValueError(f"run {int(run_id)}, history step {int(step)}: values "
                                 "differ from their checksum, changed after writing")

    def _verify_runs(self, run_ids: Iterable[int] | None = None) -> None:
        """Compare the ``runs`` rows of ``run_ids`` (``None``: all) with their checksums
        (:func:`_run_checksum`), read as SQLite returns them; rows without one are not
        checked."""
        if "runs" not in self._checked:
            return
        wanted = None if run_ids is None else {int(i) for i in run_ids}
        if wanted is not None and not wanted:
            return
        sql = f"SELECT {', '.join(_RUN_CHECKED)}, checksum FROM runs"
        params: tuple[int, ...] = ()
        if wanted is not None and len(wanted) == 1:
            sql += " WHERE run_id = ?"
            params = tuple(wanted)
        # Several runs: the whole (small) table, filtered here rather than with one SQL
        # parameter per run (SQLite caps their number).
        for *values, digest in self._conn.execute(sql, params):
            if wanted is not None and values[0] not in wanted:
                continue
            if digest is not None and digest != _run_checksum(values):
                raise ValueError(f"run {values[0]}: its runs row (counts, metrics, "
                                 "settings) differs from its checksum, changed after writing")

    # ------------------------------------------------------------------ lifecycle
    def close(self) -> None:
        self._conn.close()

    def __enter__(self) -> Store:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def __repr__(self) -> str:
        return f"Store({str(self.path)!r}, runs={len(self)})"

    @_reads
    def __len__(self) -> int:
        return int(self._conn.execute(f"SELECT COUNT(*) FROM ({_COMPLETE})").fetchone()[0])

    @contextmanager
    def _transaction(self) -> Iterator[sqlite3.Connection]:
        self._conn.execute("BEGIN IMMEDIATE")
        try:
            yield self._conn
        except BaseException:
            self._conn.execute("ROLLBACK")
            raise
        self._conn.execute("COMMIT")

    # ------------------------------------------------------------------ writing
    def set_meta(self, key: str, value: str) -> None:
        """Store a folder-level value (e.g. the sweep config as YAML)."""
        with self._transaction() as c:
            c.execute("INSERT OR REPLACE INTO meta VALUES (?, ?)", (key, value))

    @_reads
    def get_meta(self, key: str) -> str | None:
        """A folder-level value stored by :meth:`set_meta` (``None`` when absent).

        .. deprecated:: 0.1.0
            Nothing in dse uses it; it goes in the next release. Use
            ``query("SELECT value FROM meta WHERE key = ?", [key])``.
        """
        warnings.warn(
            "Store.get_meta() is deprecated and will be removed in the next release; use "
            "Store.query(\"SELECT value FROM meta WHERE key = ?\", [key])",
            DeprecationWarning,
            stacklevel=3,  # through the _reads wrapper
        )
        row = self._conn.execute("SELECT value FROM meta WHERE key = ?", (key,)).fetchone()
        return None if row is None else str(row[0])

    def write(
        self,
        job_key: str,
        result: Result,
        *,
        metrics: dict[str, Any] | None = None,
        info: dict[str, Any] | None = None,
    ) -> int | None:
        """Write one finished job in a single transaction.

        Parameters
        ----------
        job_key
            Unique identity of the job; a key already stored is left alone.
        result
            The solver's result.
        metrics
            ``hypervolume``, ``hv_ratio``, ``igd`` (``None`` where undefined) and
            ``ref_point``.
        info
            ``problem_params``, ``kind``, ``budget``, ``device`` and ``config`` (the job's
            own settings, merged with ``result.config``).

        Returns
        -------
        The new ``run_id``, or ``None`` when ``job_key`` was already stored.
        """
        metrics = _checked_metrics(metrics)
        front, feasible = result.front_mask, result.feasible
        row = _run_row(job_key, result, metrics, dict(info or {}),
                       n_feasible=int(feasible.sum()), n_front=int(front.sum()))
        with self._transaction() as c:
            if self._stored_complete(c, job_key):
                return None
            run_id = _insert_run(c, row)
            if run_id is None:
                return None
            # Digested as stored: read back in this transaction, after SQLite's conversions.
            stored = c.execute(f"SELECT {', '.join(_RUN_CHECKED)} FROM runs WHERE run_id = ?",
                               (run_id,)).fetchone()
            c.execute("UPDATE runs SET checksum = ? WHERE run_id = ?",
                      (_run_checksum(stored), run_id))
            c.executemany(
                "INSERT INTO designs (run_id, design, feasible, on_front, x, f, g, checksum) "
                "VALUES (?, ?, ?, ?, ?, ?, ?, ?)",
                _design_rows(run_id, result, feasible, front))
            c.executemany(
                "INSERT INTO history (run_id, step, n_evals, n_grad_evals, wall_time, "
                "hypervolume, checksum) VALUES (?, ?, ?, ?, ?, ?, ?)",
                _history_rows(run_id, result.history))
        return run_id

    def _stored_complete(self, c: sqlite3.Connection, job_key: str) -> bool:
        """Whether ``job_key`` is stored with all its designs; a row missing designs is no
        finished job, and is deleted (with its designs and history) to be written whole."""
        old = c.execute("SELECT run_id FROM runs WHERE job_key = ?", (job_key,)).fetchone()
        if old is None:
            return False
        if self._complete(old[0]):
            return True
        for table in ("designs", "history", "runs"):
            c.execute(f"DELETE FROM {table} WHERE run_id = ?", (old[0],))
        return False

    # ------------------------------------------------------------------ reading
    @_reads
    def job_keys(self) -> set[str]:
        """Keys of every finished job (a run with all its designs stored)."""
        return {r[1] for r in self._conn.execute(_COMPLETE)}

    @_reads
    def __contains__(self, job_key: object) -> bool:
        return bool(self._conn.execute(
            f"SELECT 1 FROM ({_COMPLETE}) WHERE job_key = ?", (job_key,)).fetchone())

    def _complete(self, run_id: int) -> bool:
        return bool(self._conn.execute(
            f"SELECT 1 FROM ({_COMPLETE}) WHERE run_id = ?", (run_id,)).fetchone())

    # ------------------------------------------------------------------ claims
    @property
    def owner(self) -> str:
        """This store object's identity in ``claims`` (one per open sweep)."""
        if not hasattr(self, "_owner"):
            self._owner = uuid.uuid4().hex
        return self._owner

    def claim(self, job_key: str) -> bool:
        """Take ``job_key`` for this sweep; ``False`` when it is finished or another live
        sweep holds it. Claims of processes that died on this host are taken over."""
        host = socket.gethostname()
        with self._transaction() as c:
            if c.execute(f"SELECT 1 FROM ({_COMPLETE}) WHERE job_key = ?",
                         (job_key,)).fetchone():
                return False
            held = c.execute("SELECT owner, host, pid FROM claims WHERE job_key = ?",
                             (job_key,)).fetchone()
            if held is not None and held[0] != self.owner and (
                    held[1] != host or _pid_alive(int(held[2]))):
                return False
            c.execute(
                "INSERT OR REPLACE INTO claims VALUES (?, ?, ?, ?, ?)",
                (job_key, self.owner, host, os.getpid(),
                 datetime.now(timezone.utc).isoformat(timespec="seconds")),
            )
        return True

    def release_claims(self) -> None:
        """Give back every claim this store object holds (finished or not)."""
        with self._transaction() as c:
            c.execute("DELETE FROM claims WHERE owner = ?", (self.owner,))

    def query(self, sql: str, params: Iterable[Any] = ()) -> pd.DataFrame:
        """Any read-only SQL query as a DataFrame.

        Read-only for real: the connection refuses every change while the query runs
        (``PRAGMA query_only``), so ``DROP TABLE`` or ``DELETE`` is a ``ValueError`` and the
        results stay as they are.
        """
        try:
            return self._select(sql, params)
        except (sqlite3.Error, pd.errors.DatabaseError) as exc:
            cause = exc.__cause__ if isinstance(exc.__cause__, sqlite3.Error) else exc
            raise ValueError(
                f"Store.query({_one_line(sql, 80)!r}) on {self.path} failed: "
                f"{_one_line(cause)} (queries are read-only: one SELECT statement; tables: "
                "runs, designs, history, meta, claims)"
            ) from None

    def _select(self, sql: str, params: Iterable[Any] = ()) -> pd.DataFrame:
        self._conn.execute("PRAGMA query_only = ON")
        try:
            return pd.read_sql_query(sql, self._conn, params=tuple(params))
        finally:
            self._conn.execute("PRAGMA query_only = OFF")

    @_reads
    def runs(self) -> pd.DataFrame:
        """The ``runs`` table, JSON columns decoded, one row per finished job."""
        df = self._select(f"SELECT * FROM runs WHERE run_id IN (SELECT run_id FROM "
                          f"({_COMPLETE})) ORDER BY run_id")
        self._verify_runs(df["run_id"].tolist())
        df = df.drop(columns="checksum", errors="ignore")
        for col in ("problem_params", "config", "ref_point", "variable_names",
                    "objective_names", "constraint_names"):
            # NULLs may come back as None or, in a column pandas typed float, as NaN.
            df[col] = [json.loads(v) if isinstance(v, str) else None for v in df[col]]
        return df

    @_reads
    def history(self, run_id: int | None = None) -> pd.DataFrame:
        """Checkpoints of every run (or one), with ``problem``, ``method`` and ``seed``."""
        checksum = ", h.checksum" if "history" in self._checked else ""
        sql = (
            "SELECT h.run_id, r.problem, r.method, r.seed, h.step, h.n_evals, "
            f"h.n_grad_evals, h.wall_time, h.hypervolume{checksum} FROM history h "
            "JOIN runs r USING (run_id)"
        )
        params: tuple[Any, ...] = ()
        if run_id is not None:
            sql += " WHERE h.run_id = ?"
            params = (int(run_id),)
        hist = self._select(sql + " ORDER BY h.run_id, h.step", params)
        self._verify_runs(hist["run_id"].unique().tolist())
        if checksum:
            self._verify_history(hist[["run_id", "step", *HISTORY_COLUMNS, "checksum"]]
                                 .itertuples(index=False))
            hist = hist.drop(columns="checksum")
        return hist

    @_reads
    def designs(self, run_id: int | None = None, *, front_only: bool = False,
                variables: bool = True) -> pd.DataFrame:
        """Designs with one column per variable (``x.<name>``), objective (``f.<name>``)
        and constraint (``g.<name>``), plus ``run_id``, ``problem``, ``method``, ``seed``,
        ``design``, ``feasible`` and ``on_front``.

        ``variables=False`` leaves out the ``x.*`` columns (cheaper for problems with
        thousands of variables, such as network weights).
        """
        checksum = ", d.checksum" if "designs" in self._checked and variables else ""
        vectors = f"d.x, d.f, d.g{checksum}" if variables else "d.f, d.g"
        sql = (
            "SELECT d.run_id, r.problem, r.method, r.seed, d.design, d.feasible, d.on_front, "
            f"{vectors}, r.variable_names, r.objective_names, r.constraint_names "
            "FROM designs d JOIN runs r USING (run_id)"
        )
        where, params = [], []
        if run_id is not None:
            where.append("d.run_id = ?")
            params.append(int(run_id))
        if front_only:
            where.append("d.on_front = 1")
        if where:
            sql += " WHERE " + " AND ".join(where)
        raw = self._select(sql + " ORDER BY d.run_id, d.design", params)
        self._verify_runs(raw["run_id"].unique().tolist())
        if checksum:
            for rid, grp in raw.groupby("run_id", sort=True):
                self._verify(int(rid), grp[["design", "feasible", "on_front", "x", "f", "g",
                                            "checksum"]].itertuples(index=False))
            raw = raw.drop(columns="checksum")
        keys = ["run_id", "problem", "method", "seed", "design", "feasible", "on_front"]
        parts = (("x", "variable_names"),) if variables else ()
        parts += (("f", "objective_names"), ("g", "constraint_names"))
        frames = []
        for _, grp in raw.groupby("run_id", sort=True):
            first = grp.iloc[0]
            block = grp[keys].reset_index(drop=True)
            block["feasible"] = block["feasible"].astype(bool)
            block["on_front"] = block["on_front"].astype(bool)
            # One concat of whole blocks: inserting thousands of columns one by one is slow.
            blocks = [block]
            for col, names in parts:
                labels = [f"{col}.{n}" for n in json.loads(first[names])]
                vals = np.array([json.loads(v) for v in grp[col]], float).reshape(
                    len(grp), len(labels)
                )
                blocks.append(pd.DataFrame(vals, columns=labels))
            frames.append(pd.concat(blocks, axis=1))
        if not frames:
            return raw[keys]
        return pd.concat(frames, ignore_index=True)

    @_reads
    def result(self, run_id: int) -> Result:
        """Rebuild the :class:`~dse.result.Result` of one stored run (exact arrays)."""
        run = self._select("SELECT * FROM runs WHERE run_id = ?", (int(run_id),))
        if run.empty:
            raise KeyError(f"no run with run_id {run_id} in {self.path}")
        self._verify_runs([int(run_id)])
        r = run.iloc[0]
        checksum = "checksum" if "designs" in self._checked else "NULL"
        rows = self._conn.execute(
            f"SELECT design, feasible, on_front, x, f, g, {checksum} FROM designs "
            "WHERE run_id = ? ORDER BY design", (int(run_id),)
        ).fetchall()
        self._verify(int(run_id), rows)
        rows = [(x, f, g) for _, _, _, x, f, g, _ in rows]
        vn, on, cn = (json.loads(r[k]) for k in
                      ("variable_names", "objective_names", "constraint_names"))
        n = len(rows)
        X = np.array([json.loads(x) for x, _, _ in rows], float).reshape(n, len(vn))
        F = np.array([json.loads(f) for _, f, _ in rows], float).reshape(n, len(on))
        G = np.array([json.loads(g) for _, _, g in rows], float).reshape(n, len(cn))
        hist = self.history(run_id)[list(HISTORY_COLUMNS)]
        config = json.loads(r["config"]).get("result", {})
        return Result(
            problem=r["problem"], method=r["method"], seed=int(r["seed"]), X=X, F=F, G=G,
            n_evals=int(r["n_evals"]), n_grad_evals=int(r["n_grad_evals"]),
            wall_time=float(r["wall_time"]), history=hist, config=config,
            variable_names=tuple(vn), objective_names=tuple(on), constraint_names=tuple(cn),
        )

    @_reads
    def results(self) -> list[Result]:
        """Every stored run as a :class:`~dse.result.Result`, in ``run_id`` order."""
        ids = [int(r[0]) for r in self._conn.execute("SELECT run_id FROM runs ORDER BY run_id")]
        return [self.result(i) for i in ids]

    # ------------------------------------------------------------------ maintenance
    @_reads
    def integrity_check(self) -> str:
        """SQLite's ``PRAGMA integrity_check`` (``"ok"`` for a sound file)."""
        return str(self._conn.execute("PRAGMA integrity_check").fetchone()[0])

    def export(self, folder: str | Path, fmt: str = "csv") -> list[Path]:
        """Write ``runs``, ``designs`` (expanded) and ``history`` as CSV or Parquet files.

        Returns the written paths.
        """
        if fmt not in ("csv", "parquet"):
            raise ValueError(f"unknown export format {fmt!r}; valid: csv, parquet")
        if fmt == "parquet" and not any(
            importlib.util.find_spec(engine) for engine in ("pyarrow", "fastparquet")
        ):
            # Checked before any file is written, with the fix in the message (pandas would
            # fail on the first table with a message about engines).
            raise ModuleNotFoundError(
                "parquet export needs pyarrow: pip install pyarrow (or the extra: "
                "pip install 'dse[parquet]'); --format csv needs nothing more"
            )
        out = Path(folder)
        out.mkdir(parents=True, exist_ok=True)
        runs = self.runs()
        for col in ("problem_params", "config", "ref_point", "variable_names",
                    "objective_names", "constraint_names"):
            runs[col] = [_json(v) for v in runs[col]]  # flat text columns in both formats
        paths = []
        for name, df in (("runs", runs), ("designs", self.designs()),
                         ("history", self.history())):
            path = out / f"{name}.{fmt}"
            if fmt == "csv":
                df.to_csv(path, index=False)
            else:
                df.to_parquet(path, index=False)
            paths.append(path)
        return paths
