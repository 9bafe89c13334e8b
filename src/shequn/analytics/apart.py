"""The analysis in a process of its own (分析子进程), for callers that hold connections to a SQLite store.

Why: DuckDB's SQLite scanner is a second copy of SQLite inside the process. POSIX locks belong to the process, not
to the library, so the two copies cannot see each other's locks on the same file: one copy may take itself for the
last connection and truncate the WAL's shared memory that the other still maps (a bus error under load, seen in the
console), and closing a file through one copy drops the locks the other holds. A spawned child that only reads keeps
the copies apart from the caller's connections. PostgreSQL stores have no such file; they are analysed in the
caller's process.

May import: ``analytics.engine`` (in the child), ``store`` (URLs), the standard library.
"""

from __future__ import annotations

import multiprocessing
from concurrent.futures import ProcessPoolExecutor
from functools import cache
from typing import TYPE_CHECKING, Any

from sqlalchemy.engine import make_url

if TYPE_CHECKING:
    from shequn.analytics.model import Report
    from shequn.store import WorkspaceInfo


def analyze_apart(url: str, ws: WorkspaceInfo, **options: Any) -> Report:
    """:func:`shequn.analytics.analyze` of the store at ``url`` with ``options``, in a child process when the store
    is a SQLite file (the child is spawned once and kept for the next call); its errors are raised here."""
    if make_url(url).get_backend_name() != "sqlite":
        return _analyze(url, ws, options)
    return _pool().submit(_analyze, url, ws, options).result()


@cache
def _pool() -> ProcessPoolExecutor:
    return ProcessPoolExecutor(max_workers=1, mp_context=multiprocessing.get_context("spawn"))


def shutdown() -> None:
    """End the analysis child if one was started (a server stopping): a running analysis is abandoned (the child
    only reads), and multiprocessing's resource tracker, which the child keeps alive, ends with it."""
    if not _pool.cache_info().currsize:
        return
    pool = _pool()
    children = list(getattr(pool, "_processes", {}).values())  # the executor has no public way to stop a busy child
    pool.shutdown(wait=False, cancel_futures=True)
    for child in children:
        child.terminate()
    for child in children:
        child.join(timeout=5)
    _pool.cache_clear()


def _analyze(url: str, ws: WorkspaceInfo, options: dict[str, Any]) -> Report:
    from shequn.analytics.engine import analyze
    from shequn.store import Store

    store = Store(url, migrate=False)
    try:
        return analyze(store, ws, **options)
    finally:
        store.close()
