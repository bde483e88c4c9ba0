"""Where sweep jobs run: in this process, or on a Dask cluster.

An executor takes a picklable function and a list of jobs and yields ``(job, outcome)``
pairs *as the jobs finish*, where ``outcome`` is the function's return value or the
exception it raised (one failing job never stops the others). Results always come back
to the calling process, so the sweep's single SQLite writer stays in one place.

* :class:`LocalExecutor` runs the jobs one after the other in this process (the default).
* :class:`DaskExecutor` submits them to a Dask scheduler at ``address``, or to a
  ``LocalCluster`` of worker *processes* it starts (and stops) itself when no address is
  given. Workers must be able to import ``dse`` and ``problems``: a local cluster inherits
  this process's ``sys.path``; remote workers need the package installed. The file of a
  user's problem (``problem=file.py:Name``) is shipped to the workers (:meth:`ship`).
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Iterator, Sequence
from pathlib import Path
from typing import Any, Protocol, TypeVar

__all__ = ["DaskExecutor", "Executor", "LocalExecutor", "make_executor"]

J = TypeVar("J")


class Executor(Protocol):
    """Runs ``fn`` on every job and yields ``(job, result or exception)`` as they finish."""

    def map_unordered(
        self, fn: Callable[[J], Any], jobs: Sequence[J]
    ) -> Iterator[tuple[J, Any]]: ...

    def ship(self, files: Sequence[Path]) -> None: ...

    def close(self) -> None: ...


class LocalExecutor:
    """Run jobs sequentially in this process, in the order given."""

    def map_unordered(
        self, fn: Callable[[J], Any], jobs: Sequence[J]
    ) -> Iterator[tuple[J, Any]]:
        for job in jobs:
            try:
                out: Any = fn(job)
            except Exception as exc:
                out = exc
            yield job, out

    def ship(self, files: Sequence[Path]) -> None:
        """Nothing to do: jobs run in this process."""

    def close(self) -> None:
        pass

    def __enter__(self) -> LocalExecutor:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


class DaskExecutor:
    """Run jobs on a Dask cluster.

    Parameters
    ----------
    address
        Scheduler address (``tcp://host:8786``); ``None`` starts a ``LocalCluster``.
    n_workers, threads_per_worker
        Size of the local cluster (ignored with an address). One thread per worker keeps
        torch from oversubscribing the cores.
    """

    def __init__(
        self, address: str | None = None, *, n_workers: int = 2, threads_per_worker: int = 1
    ) -> None:
        from dask.distributed import Client, LocalCluster

        self._cluster = None
        if address is None:
            self._cluster = LocalCluster(
                n_workers=n_workers,
                threads_per_worker=threads_per_worker,
                processes=True,
                dashboard_address=None,
                silence_logs=logging.ERROR,
            )
            self._client = Client(self._cluster)
        else:
            self._client = Client(address, timeout=30)

    @property
    def client(self) -> Any:
        return self._client

    def map_unordered(
        self, fn: Callable[[J], Any], jobs: Sequence[J]
    ) -> Iterator[tuple[J, Any]]:
        from dask.distributed import as_completed

        # pure=False: a job is a run, never deduplicated or cached by Dask.
        futures = {self._client.submit(fn, job, pure=False): job for job in jobs}
        try:
            for fut in as_completed(futures):
                job = futures[fut]
                try:
                    out: Any = fut.result()
                except Exception as exc:
                    out = exc
                yield job, out
        finally:
            # When the consumer stops early (Ctrl-C, an error), leave nothing running.
            for fut in futures:
                fut.cancel()

    def ship(self, files: Sequence[Path]) -> None:
        """Copy the modules of a user's problem to every worker (importable there)."""
        for file in files:
            self._client.upload_file(str(file))

    def close(self) -> None:
        self._client.close()
        if self._cluster is not None:
            self._cluster.close()

    def __enter__(self) -> DaskExecutor:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


def make_executor(
    name: str = "local",
    *,
    address: str | None = None,
    n_workers: int = 2,
    threads_per_worker: int = 1,
) -> LocalExecutor | DaskExecutor:
    """Build the executor called ``name`` (``local`` or ``dask``)."""
    if name == "local":
        if address is not None:
            raise ValueError("executor.address needs executor=dask")
        return LocalExecutor()
    if name == "dask":
        return DaskExecutor(address, n_workers=n_workers, threads_per_worker=threads_per_worker)
    raise ValueError(f"unknown executor {name!r}; valid: local, dask")
