"""Small helpers shared by several test files (import as ``from _helpers import ...``:
pytest puts this folder on ``sys.path``)."""

from __future__ import annotations

import sqlite3
from pathlib import Path

from dse.store import DB_NAME


def count_stored_runs(folder: Path) -> int:
    """Rows of the ``runs`` table of the store in ``folder``, read by a second connection
    (as another process would while a writer runs); 0 before the store or its schema exists.

    The file is not opened when absent: connecting would create an empty database under the
    writer's feet.
    """
    if not (folder / DB_NAME).exists():
        return 0
    try:
        con = sqlite3.connect(folder / DB_NAME, timeout=5)
        try:
            return int(con.execute("SELECT COUNT(*) FROM runs").fetchone()[0])
        finally:
            con.close()
    except sqlite3.OperationalError:  # schema not created yet
        return 0
