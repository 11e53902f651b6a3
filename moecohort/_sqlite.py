"""Opening the SQLite files that several moecohort processes share: the rate budget and
the sync state.

SQLite's busy timeout makes a connection wait for another's reads and writes, but not for
the switch of a new database file to WAL mode: processes that open a fresh file at the same
moment may get "database is locked" at once, whatever the timeout (three processes opening
a new file together 300 times: 14 of the 900 openings failed so). The rate budget then
paced that process alone, at the full rate next to the others. So a file is opened, put in
WAL mode and given its schema under a lock file beside it (:mod:`filelock`); after that,
SQLite's own locking is enough.
"""

from __future__ import annotations

import sqlite3
from collections.abc import Callable
from pathlib import Path
from typing import Literal

import filelock

__all__ = ["open_shared"]


def open_shared(
    path: Path,
    *,
    timeout: float,
    setup: Callable[[sqlite3.Connection], None],
    isolation_level: Literal["DEFERRED", "IMMEDIATE", "EXCLUSIVE"] | None = "DEFERRED",
) -> sqlite3.Connection:
    """A connection to the SQLite file at ``path`` (WAL mode, ``synchronous=NORMAL``: a
    process kill loses nothing), usable from several threads, after ``setup(conn)`` (the
    schema) ran while no other process was opening the file. ``isolation_level`` is
    :func:`sqlite3.connect`'s (None: autocommit, the caller says BEGIN). ``timeout`` bounds the wait
    for that lock (:class:`filelock.Timeout`, an :class:`OSError`) and for SQLite's locks."""
    with filelock.FileLock(f"{path}.open-lock", timeout=timeout):
        conn = sqlite3.connect(
            path, timeout=timeout, isolation_level=isolation_level, check_same_thread=False
        )
        try:
            conn.execute("PRAGMA journal_mode=WAL")
            conn.execute("PRAGMA synchronous=NORMAL")
            setup(conn)
        except BaseException:
            conn.close()
            raise
    return conn
