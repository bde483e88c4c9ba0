"""Small helpers shared by several test files (import as ``from _helpers import ...``:
pytest puts this folder on ``sys.path``)."""

from __future__ import annotations

import sqlite3
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

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


def read_refused(read: Callable[[Path], object], path: Path, content: str | bytes,
                 error: type[Exception] = ValueError,
                 match: str | None = None) -> pytest.ExceptionInfo[Exception]:
    """Write ``content`` (text or bytes) to ``path`` and return the error ``read(path)``
    must raise: an ``error`` whose message matches ``match`` (a regular expression)."""
    if isinstance(content, bytes):
        path.write_bytes(content)
    else:
        path.write_text(content)
    with pytest.raises(error, match=match) as info:
        read(path)
    return info


def wrap(monkeypatch: pytest.MonkeyPatch, owner: object, name: str,
         around: Callable[..., Any]) -> None:
    """For one test, make ``owner.name(*args)`` call ``around(original, *args)``: to watch
    what a library function receives, leaves behind and returns, without changing it."""
    original = getattr(owner, name)

    def wrapped(*args: Any, **kwargs: Any) -> Any:
        return around(original, *args, **kwargs)

    monkeypatch.setattr(owner, name, wrapped)
