"""The sync state: what each destination cohort is known to hold, and every run's record.

One SQLite file (WAL mode), safe to share between processes. :class:`SyncState` owns
every SQL statement of it: callers ask in words (plan the changes, acknowledge a
request, finish a run) and never see a table.
"""

from __future__ import annotations

import datetime as dt
import json
import os
import socket
import sqlite3
import threading
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.compute as pc

from .._sqlite import open_shared
from ..credentials import AppCredentials
from ..errors import ConfigurationError
from ..input import CHUNK_ROWS, IdSpool, spool

__all__ = ["STATE_ENV", "Changes", "SyncState", "default_state_path", "open_state"]

#: Environment variable naming the state file (default: in the user data folder).
STATE_ENV = "MOECOHORT_STATE"

_SCHEMA = """
CREATE TABLE IF NOT EXISTS meta (key TEXT PRIMARY KEY, value TEXT);
CREATE TABLE IF NOT EXISTS cohorts (
    id INTEGER PRIMARY KEY,
    host TEXT NOT NULL,
    workspace_id TEXT NOT NULL,
    cohort_id TEXT NOT NULL,
    cohort_name TEXT NOT NULL,
    created_at TEXT NOT NULL,
    updated_at TEXT NOT NULL,
    UNIQUE (host, workspace_id, cohort_id)
);
CREATE TABLE IF NOT EXISTS members (
    cohort INTEGER NOT NULL,
    uid TEXT NOT NULL,
    PRIMARY KEY (cohort, uid)
) WITHOUT ROWID;
CREATE TABLE IF NOT EXISTS runs (
    run_id INTEGER PRIMARY KEY,
    cohort INTEGER NOT NULL,
    mode TEXT NOT NULL,
    status TEXT NOT NULL,
    started_at TEXT NOT NULL,
    finished_at TEXT,
    input_rows INTEGER,
    desired INTEGER,
    to_add INTEGER,
    to_remove INTEGER,
    added INTEGER NOT NULL DEFAULT 0,
    removed INTEGER NOT NULL DEFAULT 0,
    failed INTEGER NOT NULL DEFAULT 0,
    requests INTEGER NOT NULL DEFAULT 0,
    pid INTEGER,
    hostname TEXT,
    message TEXT
);
CREATE INDEX IF NOT EXISTS runs_by_cohort ON runs (cohort, run_id);
CREATE TABLE IF NOT EXISTS run_changes (
    run_id INTEGER NOT NULL,
    op TEXT NOT NULL,
    uid TEXT NOT NULL,
    PRIMARY KEY (run_id, op, uid)
) WITHOUT ROWID;
CREATE TABLE IF NOT EXISTS run_failures (
    run_id INTEGER NOT NULL,
    op TEXT NOT NULL,
    uid TEXT NOT NULL,
    status INTEGER,
    error_type TEXT,
    message TEXT,
    request_id TEXT
);
"""

#: The columns of a failed change, as ``run_failures`` stores them.
_FAILURE_COLUMNS = ["op", "uid", "status", "error_type", "message", "request_id"]
#: SQLite page cache of the state connection, in KiB (its temporary tables use it too).
_CACHE_KIB = 8 * 1024
#: Desired ids handed to SQLite per statement (as one JSON array).
_LOAD_ROWS = 100_000


def _now() -> str:
    return dt.datetime.now(dt.timezone.utc).isoformat(timespec="milliseconds")


def default_state_path() -> Path:
    """``$MOECOHORT_STATE``, else ``sync.sqlite`` in the user data folder (platformdirs)."""
    env = os.environ.get(STATE_ENV)
    if env:
        return Path(env).expanduser()
    import platformdirs

    return platformdirs.user_data_path("moecohort") / "sync.sqlite"


@dataclass(frozen=True)
class Changes:
    """The changes a run plans: the desired set's counts and the difference to send."""

    #: The input's counts (rows, anonymous ids by reason, repeats, distinct ids); its
    #: spool is closed once the desired set is in ``temp.spool``.
    desired: IdSpool
    to_add: int
    to_remove: int

    @property
    def unchanged(self) -> int:
        """Desired ids the cohort is already known to hold."""
        return self.desired.unique - self.to_add  # to_add only ever holds desired ids


def _create(conn: sqlite3.Connection) -> None:
    conn.executescript(_SCHEMA)
    conn.execute("INSERT OR IGNORE INTO meta VALUES ('schema', '1')")
    conn.commit()


class SyncState:
    """The local record of what each destination cohort is known to hold, and of runs.

    One SQLite file (WAL mode); safe to share between processes. ``path=None``
    uses :func:`default_state_path`. The planned changes of the run in progress live
    in temporary tables of this connection (:meth:`plan_changes` to :meth:`forget_changes`).
    """

    def __init__(self, path: str | os.PathLike[str] | None = None) -> None:
        self.path = Path(path).expanduser() if path is not None else default_state_path()
        self.path.parent.mkdir(parents=True, exist_ok=True)
        self._conn = open_shared(self.path, timeout=30, setup=_create)
        self._lock = threading.RLock()  # one connection, used by the sending threads too

    def __repr__(self) -> str:
        return f"SyncState({str(self.path)!r})"

    def close(self) -> None:
        with self._lock:
            self._conn.close()

    def __enter__(self) -> SyncState:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    # ---- cohorts
    def cohort_key(
        self, app: AppCredentials, cohort_id: str, cohort_name: str, *, create: bool = True
    ) -> int | None:
        """The state's key for a destination cohort (None if unknown and not ``create``)."""
        where = (app.host, app.workspace_id, cohort_id)
        find = "SELECT id FROM cohorts WHERE host = ? AND workspace_id = ? AND cohort_id = ?"
        if not create:
            with self._lock:
                found = self._conn.execute(find, where).fetchone()
            return None if found is None else int(found[0])
        with self._lock, self._conn:
            now = _now()
            self._conn.execute(
                "INSERT INTO cohorts (host, workspace_id, cohort_id, cohort_name, created_at,"
                " updated_at) VALUES (?, ?, ?, ?, ?, ?) ON CONFLICT (host, workspace_id,"
                " cohort_id) DO UPDATE SET cohort_name = excluded.cohort_name",
                (*where, cohort_name, now, now),
            )
            row = self._conn.execute(find, where).fetchone()
        return int(row[0])

    def members(self, app: AppCredentials, cohort_id: str) -> set[str]:
        """The membership the destination cohort is known to hold (acknowledged)."""
        with self._lock:
            rows = self._conn.execute(
                "SELECT m.uid FROM members m JOIN cohorts c ON c.id = m.cohort"
                " WHERE c.host = ? AND c.workspace_id = ? AND c.cohort_id = ?",
                (app.host, app.workspace_id, cohort_id),
            ).fetchall()
        return {r[0] for r in rows}

    # ---- runs
    def running_run(self, key: int) -> str | None:
        """Who runs a sync of the cohort, as the run log says (None when nobody does)."""
        with self._lock:
            row = self._conn.execute(
                "SELECT run_id, pid, hostname, started_at FROM runs WHERE cohort = ? AND"
                " status = 'running' ORDER BY run_id DESC LIMIT 1",
                (key,),
            ).fetchone()
        return f"run {row[0]}, pid {row[1]} on {row[2]}, started {row[3]}" if row else None

    def mark_interrupted(self, key: int) -> bool:
        """Mark runs of the cohort still 'running' as interrupted (their process ended:
        the caller holds the cohort's lock). True when there was one."""
        with self._lock, self._conn:
            return (
                self._conn.execute(
                    "UPDATE runs SET status = 'interrupted', message = 'the process ended "
                    "before the run finished' WHERE cohort = ? AND status = 'running'",
                    (key,),
                ).rowcount
                > 0
            )

    def plan_changes(
        self,
        data: Any,
        key: int | None,
        *,
        mode: str,
        id_col: str,
        placeholders: Iterable[str] | None,
        allow_empty: bool,
    ) -> Changes:
        """Spool ``data`` (the desired members) and plan the changes from the membership
        the cohort is known to hold: with ``mode="all"`` every desired id is added again;
        with ``"last_diff"`` the latest run that changed something is added to the
        difference, as far as it still agrees with the desired set."""
        desired = spool(data, id_col, placeholders=placeholders, allow_empty=allow_empty)
        conn = self._conn
        try:
            with self._lock:
                self._load_desired(desired)
                # "Last difference": the latest run that changed something (a full resync
                # aside).
                previous = conn.execute(
                    "SELECT max(run_id) FROM runs WHERE cohort = ? AND status != 'running'"
                    " AND mode != 'all' AND to_add + to_remove > 0",
                    (key,),
                ).fetchone()[0]
                self._diff(key, mode, previous)
                n_add = conn.execute("SELECT count(*) FROM temp.to_add").fetchone()[0]
                n_remove = conn.execute("SELECT count(*) FROM temp.to_remove").fetchone()[0]
                # End the transaction the temporary tables opened: it also holds a read
                # snapshot of the state, and another process's writes since would make this
                # connection's next write fail at once instead of waiting its turn.
                conn.commit()
        finally:
            desired.close()  # its files; the counts stay
        return Changes(desired, int(n_add), int(n_remove))

    def _load_desired(self, desired: IdSpool) -> None:
        """Fill temp.spool (uid primary key) with the spool's distinct ids: appended to an
        unindexed table in large JSON arrays, then copied in uid order, which SQLite's
        sorter does with bounded memory (inserting in input order into a B-tree would
        touch a random page per id)."""
        conn = self._conn
        # Set before any temp table exists: changing temp_store drops temporary tables.
        conn.execute("PRAGMA temp_store=FILE")
        conn.execute(f"PRAGMA cache_size=-{_CACHE_KIB}")
        conn.execute("DROP TABLE IF EXISTS temp.spool_rows")
        conn.execute("DROP TABLE IF EXISTS temp.spool")
        conn.execute("CREATE TEMP TABLE spool_rows (uid TEXT)")
        conn.execute("CREATE TEMP TABLE spool (uid TEXT PRIMARY KEY) WITHOUT ROWID")
        with conn:
            for ids in desired.chunks(_LOAD_ROWS):
                try:
                    conn.execute(
                        "INSERT INTO temp.spool_rows SELECT value FROM json_each(?)",
                        (_json_array(ids),),
                    )
                except sqlite3.OperationalError:  # an SQLite built without JSON functions
                    conn.executemany(
                        "INSERT INTO temp.spool_rows VALUES (?)", ((u,) for u in ids.to_pylist())
                    )
            conn.execute("INSERT INTO temp.spool SELECT uid FROM temp.spool_rows ORDER BY uid")
        conn.execute("DROP TABLE temp.spool_rows")

    def _diff(self, key: int | None, mode: str, previous: int | None) -> None:
        """Fill temp.to_add and temp.to_remove from temp.spool (desired) and members (known)."""
        conn = self._conn
        conn.execute("DROP TABLE IF EXISTS temp.to_add")
        conn.execute("DROP TABLE IF EXISTS temp.to_remove")
        conn.execute("CREATE TEMP TABLE to_add (uid TEXT PRIMARY KEY) WITHOUT ROWID")
        conn.execute("CREATE TEMP TABLE to_remove (uid TEXT PRIMARY KEY) WITHOUT ROWID")
        if mode == "all":
            conn.execute("INSERT INTO temp.to_add SELECT uid FROM temp.spool")
        else:
            conn.execute(
                "INSERT INTO temp.to_add SELECT s.uid FROM temp.spool s WHERE NOT EXISTS"
                " (SELECT 1 FROM members m WHERE m.cohort = ? AND m.uid = s.uid)",
                (key,),
            )
        conn.execute(
            "INSERT INTO temp.to_remove SELECT m.uid FROM members m WHERE m.cohort = ? AND NOT"
            " EXISTS (SELECT 1 FROM temp.spool s WHERE s.uid = m.uid)",
            (key,),
        )
        if mode == "last_diff" and previous is not None:
            # The previous run's difference, as far as it still agrees with the desired set.
            conn.execute(
                "INSERT OR IGNORE INTO temp.to_add SELECT c.uid FROM run_changes c WHERE"
                " c.run_id = ? AND c.op = 'add' AND EXISTS"
                " (SELECT 1 FROM temp.spool s WHERE s.uid = c.uid)",
                (previous,),
            )
            conn.execute(
                "INSERT OR IGNORE INTO temp.to_remove SELECT c.uid FROM run_changes c WHERE"
                " c.run_id = ? AND c.op = 'remove' AND NOT EXISTS"
                " (SELECT 1 FROM temp.spool s WHERE s.uid = c.uid)",
                (previous,),
            )

    def planned_adds(self, size: int = CHUNK_ROWS) -> Iterator[pa.Array]:
        """The planned additions, in uid order, ``size`` at a time."""
        return self._pages("temp.to_add", size)

    def planned_removes(self, size: int = CHUNK_ROWS) -> Iterator[pa.Array]:
        """The planned removals, in uid order, ``size`` at a time."""
        return self._pages("temp.to_remove", size)

    def _pages(self, table: str, size: int) -> Iterator[pa.Array]:
        """Every uid of a temp table, in uid order, ``size`` at a time. Keyset paging
        (``WHERE uid > last``): each page is one short query, so the sending threads
        may record acknowledgements in between."""
        last = ""  # every uid sorts after the empty string, which is never an id
        while True:
            with self._lock:
                rows = self._conn.execute(
                    f"SELECT uid FROM {table} WHERE uid > ? ORDER BY uid LIMIT ?", (last, size)
                ).fetchall()
            if not rows:
                return
            last = rows[-1][0]
            yield pa.array([r[0] for r in rows], pa.large_string())

    def planned_samples(self, limit: int = 10) -> tuple[list[str], list[str]]:
        """Up to ``limit`` planned additions and removals (for a dry run to show)."""
        with self._lock:
            adds = self._conn.execute("SELECT uid FROM temp.to_add LIMIT ?", (limit,))
            add_list = [r[0] for r in adds]
            removes = self._conn.execute("SELECT uid FROM temp.to_remove LIMIT ?", (limit,))
            return add_list, [r[0] for r in removes]

    def forget_changes(self) -> None:
        """Drop the planned changes and the spooled input."""
        with self._lock:
            for table in ("spool_rows", "spool", "to_add", "to_remove"):
                self._conn.execute(f"DROP TABLE IF EXISTS temp.{table}")

    def begin_run(self, key: int, mode: str, changes: Changes) -> int:
        """Record a run as 'running', with every planned change (its per-record log)."""
        conn = self._conn
        desired = changes.desired
        with self._lock, conn:
            cursor = conn.execute(
                "INSERT INTO runs (cohort, mode, status, started_at, input_rows, desired, to_add,"
                " to_remove, pid, hostname) VALUES (?, ?, 'running', ?, ?, ?, ?, ?, ?, ?)",
                (
                    key,
                    mode,
                    _now(),
                    desired.rows,
                    desired.unique,
                    changes.to_add,
                    changes.to_remove,
                    os.getpid(),
                    socket.gethostname(),
                ),
            )
            run_id = int(cursor.lastrowid or 0)
            conn.execute("INSERT INTO run_changes SELECT ?, 'add', uid FROM temp.to_add", (run_id,))
            conn.execute(
                "INSERT INTO run_changes SELECT ?, 'remove', uid FROM temp.to_remove", (run_id,)
            )
        return run_id

    def acknowledge(self, key: int, run_id: int, adds: pa.Array, removes: pa.Array) -> None:
        """Apply one acknowledged request to the known membership, in one transaction."""
        conn = self._conn
        with self._lock, conn:
            if len(adds):
                conn.executemany(
                    "INSERT OR IGNORE INTO members (cohort, uid) VALUES (?, ?)",
                    ((key, u) for u in adds.to_pylist()),
                )
            if len(removes):
                conn.executemany(
                    "DELETE FROM members WHERE cohort = ? AND uid = ?",
                    ((key, u) for u in removes.to_pylist()),
                )
            conn.execute(
                "UPDATE runs SET added = added + ?, removed = removed + ? WHERE run_id = ?",
                (len(adds), len(removes), run_id),
            )

    def finish_run(
        self,
        run_id: int,
        *,
        status: str,
        failed: pd.DataFrame,
        requests: int,
        message: str | None,
    ) -> None:
        """Record how a run ended, with its failed changes (retried by the next run)."""
        conn = self._conn
        with self._lock, conn:
            if len(failed):
                rows = failed[_FAILURE_COLUMNS].astype(object).itertuples(index=False)
                conn.executemany(
                    "INSERT INTO run_failures VALUES (?, ?, ?, ?, ?, ?, ?)",
                    ((run_id, *(_sql_value(v) for v in row)) for row in rows),
                )
            conn.execute(
                "UPDATE runs SET status = ?, finished_at = ?, failed = ?, requests = ?,"
                " message = ? WHERE run_id = ?",
                (status, _now(), len(failed), requests, message, run_id),
            )

    def abort_run(self, run_id: int, message: str) -> None:
        """Record a run that an exception ended (it must not stay 'running')."""
        with self._lock, self._conn:
            self._conn.execute(
                "UPDATE runs SET status = 'error', finished_at = ?, message = ? WHERE run_id = ?",
                (_now(), message[:500], run_id),
            )

    # ---- history
    def run_log(
        self,
        *,
        host: str | None = None,
        workspace_id: str | None = None,
        cohort_id: str | None = None,
        cohort_name: str | None = None,
    ) -> pd.DataFrame:
        """The runs, newest first (see :func:`moecohort.sync_log`)."""
        where, args = [], []
        for column, value in (
            ("c.host", host),
            ("c.workspace_id", workspace_id),
            ("c.cohort_id", cohort_id),
            ("c.cohort_name", None if cohort_id is not None else cohort_name),
        ):
            if value is not None:
                where.append(f"{column} = ?")
                args.append(value)
        sql = (
            "SELECT r.run_id, c.workspace_id, c.cohort_name, c.cohort_id, r.mode, r.status,"
            " r.started_at AS started, r.finished_at AS finished, r.input_rows, r.desired,"
            " r.to_add, r.added, r.to_remove, r.removed, r.failed,"
            " r.requests, r.message FROM runs r JOIN cohorts c ON c.id = r.cohort"
            + (" WHERE " + " AND ".join(where) if where else "")
            + " ORDER BY r.run_id DESC"
        )
        with self._lock:
            frame = pd.read_sql_query(sql, self._conn, params=args)
        for col in ("started", "finished"):
            frame[col] = pd.to_datetime(frame[col], utc=True, format="ISO8601")
        return frame.set_index("run_id")

    def run_changes(self, run_id: int) -> pd.DataFrame:
        """Every planned change of one run with its failure, if any (see
        :func:`moecohort.sync_changes`)."""
        with self._lock:
            return pd.read_sql_query(
                "SELECT c.op, c.uid, f.status, f.error_type, f.message, f.request_id"
                " FROM run_changes c LEFT JOIN run_failures f ON f.run_id = c.run_id AND"
                " f.op = c.op AND f.uid = c.uid WHERE c.run_id = ? ORDER BY c.op, c.uid",
                self._conn,
                params=(run_id,),
            )


def open_state(state: SyncState | str | os.PathLike[str] | None) -> tuple[SyncState, bool]:
    """An existing state (a :class:`SyncState`, or the file at a path) and whether the
    caller owns it (must close it). :class:`ConfigurationError` when there is no file."""
    if isinstance(state, SyncState):
        return state, False
    path = Path(state).expanduser() if state is not None else default_state_path()
    if not path.exists():
        raise ConfigurationError(
            f"No sync state at {path}: no sync has run there yet.", setting="state"
        )
    return SyncState(path), True


def _json_array(ids: pa.Array) -> str:
    """Ids (large_string, no nulls) as one JSON array of strings, for ``json_each``: built
    in Arrow; only ids JSON must escape go through the json module."""
    if not len(ids):
        return "[]"
    _, offsets_buf, data_buf = ids.buffers()
    ends = np.frombuffer(offsets_buf, dtype=np.int64)[ids.offset : ids.offset + len(ids) + 1]
    data = np.frombuffer(data_buf, dtype=np.uint8)[ends[0] : ends[-1]]
    text = pa.scalar('"', pa.large_string())
    quoted = pc.binary_join_element_wise(
        text, ids, pa.scalar('",', pa.large_string()), pa.scalar("", pa.large_string())
    )
    if (data < 0x20).any() or (data == 0x22).any() or (data == 0x5C).any():
        needs = pc.match_substring_regex(ids, '["\\\\\x00-\x1f]').to_numpy(zero_copy_only=False)
        where = np.flatnonzero(needs)
        escaped = [json.dumps(u, ensure_ascii=False) + "," for u in ids.take(where).to_pylist()]
        quoted = pc.replace_with_mask(quoted, pa.array(needs), pa.array(escaped, pa.large_string()))
    _, joined_offsets, joined = quoted.buffers()
    spans = np.frombuffer(joined_offsets, dtype=np.int64)
    lo, hi = int(spans[quoted.offset]), int(spans[quoted.offset + len(quoted)])
    return "[" + memoryview(joined)[lo : hi - 1].tobytes().decode("utf-8") + "]"


def _sql_value(value: Any) -> Any:
    """A DataFrame cell as SQLite takes it: missing -> NULL, numpy scalars -> Python."""
    if value is None or value is pd.NA or (isinstance(value, float) and value != value):
        return None
    return value.item() if hasattr(value, "item") else value
