"""Mirror sync: keep a destination cohort equal to a changing segment, safely.

Like Outbound Segment Sync, the first run sends everyone and later runs send
only who joined (adds) and who left (removes), compared with the membership the
destination is known to hold. That membership lives in a local SQLite file
(:class:`SyncState`), updated in one transaction per acknowledged request, so a
run killed at any point (even with SIGKILL) and started again sends only what
was not acknowledged, and ends with the cohort equal to the desired set. At
most the requests that were in flight when the run died are sent twice, which
is harmless (membership is a set).

Two syncs of the same cohort never interleave: the second waits (``wait=``
seconds) or stops with :class:`~moecohort.SyncLockedError`.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import html
import logging
import os
import socket
import sqlite3
import threading
import time
from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal

import pandas as pd
import pyarrow as pa

from . import _html
from .credentials import AppCredentials, get_credentials
from .errors import ConfigurationError, InputError, PushFailedError, SyncLockedError
from .payload import Batch, Envelope, Plan, StreamedPlan, validate_cohort_name
from .push import (
    Counter,
    ProgressOption,
    Reply,
    _check_cohort_id,
    _check_settings,
    _Failures,
    _progress_bar,
    check_envelope,
    jobs_of,
    plan_frame,
    send,
)
from .sources import CHUNK_ROWS, page_uids, spool

__all__ = ["STATE_ENV", "SyncResult", "SyncState", "sync_changes", "sync_cohort", "sync_log"]

log = logging.getLogger("moecohort")

#: Environment variable naming the state file (default: in the user data folder).
STATE_ENV = "MOECOHORT_STATE"
Resync = Literal["all", "last_diff"]

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


def _now() -> str:
    return dt.datetime.now(dt.timezone.utc).isoformat(timespec="milliseconds")


def default_state_path() -> Path:
    """``$MOECOHORT_STATE``, else ``sync.sqlite`` in the user data folder (platformdirs)."""
    env = os.environ.get(STATE_ENV)
    if env:
        return Path(env).expanduser()
    import platformdirs

    return platformdirs.user_data_path("moecohort") / "sync.sqlite"


class SyncState:
    """The local record of what each destination cohort is known to hold, and of runs.

    One SQLite file (WAL mode); safe to share between processes. ``path=None``
    uses :func:`default_state_path`.
    """

    def __init__(self, path: str | os.PathLike[str] | None = None) -> None:
        self.path = Path(path).expanduser() if path is not None else default_state_path()
        self.path.parent.mkdir(parents=True, exist_ok=True)
        self.conn = sqlite3.connect(self.path, check_same_thread=False, timeout=30)
        self.lock = threading.RLock()  # one connection, used by the sending threads too
        self.conn.execute("PRAGMA journal_mode=WAL")
        self.conn.execute("PRAGMA synchronous=NORMAL")  # durable across process kills
        self.conn.executescript(_SCHEMA)
        self.conn.execute("INSERT OR IGNORE INTO meta VALUES ('schema', '1')")
        self.conn.commit()

    def __repr__(self) -> str:
        return f"SyncState({str(self.path)!r})"

    def close(self) -> None:
        with self.lock:
            self.conn.close()

    def __enter__(self) -> SyncState:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    # -- queries used by sync_cohort and the faces
    def cohort_key(
        self, app: AppCredentials, cohort_id: str, cohort_name: str, *, create: bool = True
    ) -> int | None:
        """The state's key for a destination cohort (None if unknown and not ``create``)."""
        if not create:
            with self.lock:
                found = self.conn.execute(
                    "SELECT id FROM cohorts WHERE host = ? AND workspace_id = ? AND cohort_id = ?",
                    (app.host, app.workspace_id, cohort_id),
                ).fetchone()
            return None if found is None else int(found[0])
        with self.lock, self.conn:
            now = _now()
            self.conn.execute(
                "INSERT INTO cohorts (host, workspace_id, cohort_id, cohort_name, created_at,"
                " updated_at) VALUES (?, ?, ?, ?, ?, ?) ON CONFLICT (host, workspace_id,"
                " cohort_id) DO UPDATE SET cohort_name = excluded.cohort_name",
                (app.host, app.workspace_id, cohort_id, cohort_name, now, now),
            )
            row = self.conn.execute(
                "SELECT id FROM cohorts WHERE host = ? AND workspace_id = ? AND cohort_id = ?",
                (app.host, app.workspace_id, cohort_id),
            ).fetchone()
        return int(row[0])

    def members(self, app: AppCredentials, cohort_id: str) -> set[str]:
        """The membership the destination cohort is known to hold (acknowledged)."""
        with self.lock:
            rows = self.conn.execute(
                "SELECT m.uid FROM members m JOIN cohorts c ON c.id = m.cohort"
                " WHERE c.host = ? AND c.workspace_id = ? AND c.cohort_id = ?",
                (app.host, app.workspace_id, cohort_id),
            ).fetchall()
        return {r[0] for r in rows}

    def count(self, sql: str, *args: Any) -> int:
        with self.lock:
            return int(self.conn.execute(sql, args).fetchone()[0])

    def page(self, table: str, size: int = CHUNK_ROWS) -> Iterator[pa.Array]:
        """All uids of a one-column table, in uid order, ``size`` at a time."""
        return page_uids(self.conn, table, size, self.lock)


# --------------------------------------------------------------------------- results
@dataclass(repr=False)
class SyncResult:
    """What a mirror sync run did (or, with ``dry_run``, would do)."""

    cohort_name: str
    cohort_id: str
    workspace_id: str
    mode: str
    run_id: int | None = None
    dry_run: bool = False
    input_rows: int = 0
    skipped_anonymous: int = 0
    skipped_duplicates: int = 0
    #: Distinct, non-anonymous ids in the input: the membership the cohort should have.
    desired: int = 0
    #: Desired ids the cohort was already known to hold (not sent).
    unchanged: int = 0
    to_add: int = 0
    to_remove: int = 0
    added: int = 0
    removed: int = 0
    #: One row per failed change: op ("add"/"remove"), uid, status, error_type, message,
    #: request_id. They are retried by the next run.
    failed: pd.DataFrame = field(default_factory=lambda: _Failures(with_op=True).frame())
    requests: int = 0
    batches: int = 0
    retries: int = 0
    request_ids: list[str] = field(default_factory=list)
    statuses: dict[str, int] = field(default_factory=dict)
    elapsed_s: float = 0.0
    stopped_by: str | None = None
    #: True when an earlier run of this cohort had died and this one picked up after it.
    resumed: bool = False
    #: Dry run: one row per request (add/remove members, bytes, fill).
    plan: pd.DataFrame | None = None
    sample_adds: list[str] = field(default_factory=list)
    sample_removes: list[str] = field(default_factory=list)

    @property
    def members_failed(self) -> int:
        return len(self.failed)

    @property
    def ok(self) -> bool:
        return self.members_failed == 0 and self.stopped_by is None

    @property
    def status(self) -> str:
        if self.dry_run:
            return "dry_run"
        if self.stopped_by:
            return "stopped"
        return "ok" if self.ok else "failed"

    def raise_for_status(self) -> SyncResult:
        if not self.ok:
            raise PushFailedError(
                f"sync of {self.cohort_name!r} incomplete: {self.members_failed:,} changes failed"
                + (f" (stopped: {self.stopped_by})" if self.stopped_by else "")
                + "; the next run retries them; see result.failed",
                self,  # type: ignore[arg-type]
            )
        return self

    def summary(self) -> pd.DataFrame:
        rows = [
            ("input rows", self.input_rows),
            ("skipped: anonymous", self.skipped_anonymous),
            ("skipped: duplicate", self.skipped_duplicates),
            ("desired members", self.desired),
            ("unchanged", self.unchanged),
            ("to add", self.to_add),
            ("to remove", self.to_remove),
            ("added", self.added),
            ("removed", self.removed),
            ("failed", self.members_failed),
            ("requests (HTTP attempts)", self.requests),
        ]
        return pd.DataFrame(rows, columns=["", "count"]).set_index("")

    def _headline(self) -> str:
        verb = "would sync" if self.dry_run else "synced"
        mode = "" if self.mode == "diff" else f" (resync {self.mode})"
        return (
            f"{verb} cohort {self.cohort_name!r} in workspace {self.workspace_id}{mode}: "
            f"+{self.to_add:,} -{self.to_remove:,}"
            + ("" if self.dry_run else f" in {self.elapsed_s:.1f}s, {self.status}")
        )

    def __repr__(self) -> str:
        lines = [f"SyncResult: {self._headline()}"]
        if self.run_id is not None:
            lines[0] += f" [run {self.run_id}]"
        lines += [f"  {k:<26} {int(v):>12,}" for k, v in self.summary()["count"].items()]
        if self.resumed:
            lines.append("  resumed after an interrupted run")
        if self.stopped_by:
            lines.append(f"  stopped: {self.stopped_by}")
        if self.dry_run:
            if self.sample_adds:
                lines.append(f"  e.g. adds: {', '.join(map(repr, self.sample_adds[:5]))}")
            if self.sample_removes:
                lines.append(f"  e.g. removes: {', '.join(map(repr, self.sample_removes[:5]))}")
            if self.plan is not None and len(self.plan):
                lines.append(
                    f"  plan: {len(self.plan):,} requests, {int(self.plan['bytes'].sum()):,} bytes"
                )
        return "\n".join(lines)

    def _repr_html_(self) -> str:
        rows = [(k, f"{int(v):,}") for k, v in self.summary()["count"].items()]
        sections = []
        if self.plan is not None and len(self.plan):
            sections.append((f"request plan ({len(self.plan):,})", _html.frame_html(self.plan)))
        if len(self.failed):
            sections.append((f"failed ({len(self.failed):,})", _html.frame_html(self.failed)))
        for label, sample in (("adds", self.sample_adds), ("removes", self.sample_removes)):
            if sample:
                text = ", ".join(_html.esc(repr(s)) for s in sample[:10])
                sections.append((f"sample {label}", f"<div class='note'>{text}</div>"))
        note = html.escape(f"stopped: {self.stopped_by}") if self.stopped_by else None
        return _html.table_html(
            f"SyncResult: {self._headline()}",
            rows,
            note=note,
            status=(self.ok, self.status),
            sections=sections,
        )


# --------------------------------------------------------------------------- the sync
def sync_cohort(
    data: Any,
    app: AppCredentials | str,
    cohort_name: str,
    *,
    id_col: str = "uid",
    cohort_id: str | None = None,
    state: SyncState | str | os.PathLike[str] | None = None,
    resync: Resync | None = None,
    dry_run: bool = False,
    wire_format: str = "segment_sync",
    requests_per_minute: float = 300,
    max_in_flight: int | None = None,
    max_retries: int = 5,
    progress: ProgressOption = "auto",
    placeholders: Iterable[str] | None = None,
    timeout: tuple[float, float] = (10.0, 60.0),
    wait: float = 0,
    allow_empty: bool = False,
) -> SyncResult:
    """Make the cohort in ``app`` hold exactly the (non-anonymous, distinct) users of ``data``.

    Sends only the difference from the membership the destination is known to
    hold (the first run sends everyone). ``resync="all"`` sends the whole desired
    set again; ``resync="last_diff"`` resends the difference of the latest run that
    changed something (as far as it still agrees with the desired set) along with
    today's difference. ``dry_run=True``
    returns counts, samples and the request plan, sending and recording nothing.

    ``data`` is anything :func:`push_cohort` takes, streamed inputs included.

    Users the destination does not know are accepted by the API (MoEngage never
    creates users) and so recorded as members: if they sign up in the destination
    later, a diff run will not send them again. Filter with
    :func:`keep_in_destination` first, or run ``resync="all"`` from time to time.
    ``state`` is a :class:`SyncState` or a path (default: :func:`default_state_path`).
    An input with no usable id is refused unless ``allow_empty=True``, which
    removes everyone.
    """
    started = time.monotonic()
    settings = _check_settings(
        "add", wire_format, requests_per_minute, max_in_flight, max_retries, timeout
    )
    if resync not in (None, "all", "last_diff"):
        raise InputError(f"resync must be None, 'all' or 'last_diff', not {resync!r}.")
    validate_cohort_name(cohort_name)
    cohort_id = _check_cohort_id(cohort_id, cohort_name)
    creds = get_credentials(app)
    store = state if isinstance(state, SyncState) else SyncState(state)
    owns_store = not isinstance(state, SyncState)
    try:
        key = store.cohort_key(creds, cohort_id, cohort_name, create=not dry_run)
        lock = None if dry_run else _acquire(store, key, cohort_name, wait)  # type: ignore[arg-type]
        try:
            return _sync(
                data,
                creds,
                store,
                key,
                cohort_name=cohort_name,
                cohort_id=cohort_id,
                id_col=id_col,
                resync=resync,
                dry_run=dry_run,
                wire_format=wire_format,
                requests_per_minute=requests_per_minute,
                workers=settings["workers"],
                max_retries=max_retries,
                progress=progress,
                placeholders=placeholders,
                timeout=settings["timeout"],
                allow_empty=allow_empty,
                started=started,
            )
        finally:
            if lock is not None:
                lock.release()
    finally:
        if owns_store:
            store.close()


def _acquire(store: SyncState, key: int, cohort_name: str, wait: float) -> Any:
    from filelock import FileLock, Timeout

    digest = hashlib.sha256(f"{store.path.resolve()}|{key}".encode()).hexdigest()[:16]
    lock = FileLock(str(store.path.with_name(f"{store.path.name}.{digest}.lock")))
    try:
        lock.acquire(timeout=wait)
    except Timeout:
        with store.lock:
            row = store.conn.execute(
                "SELECT run_id, pid, hostname, started_at FROM runs WHERE cohort = ? AND"
                " status = 'running' ORDER BY run_id DESC LIMIT 1",
                (key,),
            ).fetchone()
        who = f" (run {row[0]}, pid {row[1]} on {row[2]}, started {row[3]})" if row else ""
        raise SyncLockedError(
            f"Another sync of cohort {cohort_name!r} is running{who}. Wait for it to finish, "
            "or pass wait=SECONDS to wait for it."
        ) from None
    return lock


def _sync(
    data: Any,
    creds: AppCredentials,
    store: SyncState,
    key: int | None,
    *,
    cohort_name: str,
    cohort_id: str,
    id_col: str,
    resync: Resync | None,
    dry_run: bool,
    wire_format: str,
    requests_per_minute: float,
    workers: int,
    max_retries: int,
    progress: bool | str,
    placeholders: Iterable[str] | None,
    timeout: tuple[float, float],
    allow_empty: bool,
    started: float,
) -> SyncResult:
    conn = store.conn
    mode = resync or "diff"
    resumed = False
    if not dry_run:
        with store.lock, conn:
            # We hold the cohort's lock: a run still marked running died on the way.
            resumed = (
                conn.execute(
                    "UPDATE runs SET status = 'interrupted', message = 'the process ended "
                    "before the run finished' WHERE cohort = ? AND status = 'running'",
                    (key,),
                ).rowcount
                > 0
            )
        if resumed:
            log.warning("the previous sync of %r did not finish; resuming after it", cohort_name)

    with store.lock:
        desired = spool(data, id_col, placeholders=placeholders, conn=conn, allow_empty=allow_empty)
        # "Last difference": the latest run that changed something (a full resync aside).
        previous = conn.execute(
            "SELECT max(run_id) FROM runs WHERE cohort = ? AND status != 'running'"
            " AND mode != 'all' AND to_add + to_remove > 0",
            (key,),
        ).fetchone()[0]
        _diff(conn, key, mode, previous)
        n_add = store.count("SELECT count(*) FROM temp.to_add")
        n_remove = store.count("SELECT count(*) FROM temp.to_remove")
        unchanged = desired.unique - n_add  # to_add only ever holds ids of the spool
    result = SyncResult(
        cohort_name=cohort_name,
        cohort_id=cohort_id,
        workspace_id=creds.workspace_id,
        mode=mode,
        dry_run=dry_run,
        input_rows=desired.rows,
        skipped_anonymous=desired.anonymous,
        skipped_duplicates=desired.duplicates,
        desired=desired.unique,
        unchanged=unchanged,
        to_add=n_add,
        to_remove=n_remove,
        resumed=resumed,
    )
    envelope = Envelope(wire_format, cohort_name, cohort_id)  # type: ignore[arg-type]
    check_envelope(envelope)
    plan = StreamedPlan(
        envelope,
        lambda: store.page("temp.to_add"),
        lambda: store.page("temp.to_remove"),
    )
    failures = _Failures(with_op=True)
    try:
        if dry_run:
            result.plan = plan_frame(plan.pieces(), failures)
            result.failed = failures.frame()
            result.batches = plan.total_pages if (n_add or n_remove) else 0
            with store.lock:
                result.sample_adds = [
                    r[0] for r in conn.execute("SELECT uid FROM temp.to_add LIMIT 10")
                ]
                result.sample_removes = [
                    r[0] for r in conn.execute("SELECT uid FROM temp.to_remove LIMIT 10")
                ]
            result.elapsed_s = time.monotonic() - started
            return result

        with store.lock, conn:
            run_id = conn.execute(
                "INSERT INTO runs (cohort, mode, status, started_at, input_rows, desired, to_add,"
                " to_remove, pid, hostname) VALUES (?, ?, 'running', ?, ?, ?, ?, ?, ?, ?)",
                (
                    key,
                    mode,
                    _now(),
                    desired.rows,
                    desired.unique,
                    n_add,
                    n_remove,
                    os.getpid(),
                    socket.gethostname(),
                ),
            ).lastrowid
            conn.execute("INSERT INTO run_changes SELECT ?, 'add', uid FROM temp.to_add", (run_id,))
            conn.execute(
                "INSERT INTO run_changes SELECT ?, 'remove', uid FROM temp.to_remove", (run_id,)
            )
        result.run_id = run_id
        log.info(
            "sync %r (run %s, %s): %s to add, %s to remove, %s unchanged",
            cohort_name,
            run_id,
            mode,
            f"{n_add:,}",
            f"{n_remove:,}",
            f"{unchanged:,}",
        )
        try:
            added, removed = Counter(), Counter()

            def acknowledged(piece: Plan, batch: Batch, reply: Reply) -> None:
                adds, removes = piece.ids(batch)
                with store.lock, conn:  # one transaction per acknowledged request
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
                added.add(len(adds))
                removed.add(len(removes))

            sent = None
            if n_add or n_remove:
                sent = send(
                    creds,
                    jobs_of(plan.pieces(), failures),
                    on_success=acknowledged,
                    failures=failures,
                    wire_format=wire_format,
                    requests_per_minute=requests_per_minute,
                    workers=workers,
                    max_retries=max_retries,
                    timeout=timeout,
                    progress=_progress_bar(progress, n_add + n_remove, f"sync {cohort_name}"),
                )
                sent.fill(result)
            result.added, result.removed = added.value, removed.value
            result.failed = failures.frame()
            result.elapsed_s = time.monotonic() - started
            with store.lock, conn:
                if len(result.failed):
                    conn.executemany(
                        "INSERT INTO run_failures VALUES (?, ?, ?, ?, ?, ?, ?)",
                        (
                            (run_id, *(_sql_value(v) for v in row))
                            for row in result.failed[
                                ["op", "uid", "status", "error_type", "message", "request_id"]
                            ]
                            .astype(object)
                            .itertuples(index=False)
                        ),
                    )
                conn.execute(
                    "UPDATE runs SET status = ?, finished_at = ?, failed = ?, requests = ?,"
                    " message = ? WHERE run_id = ?",
                    (
                        result.status,
                        _now(),
                        result.members_failed,
                        result.requests,
                        result.stopped_by,
                        run_id,
                    ),
                )
        except BaseException as exc:
            # Whatever stopped us, the run must not stay "running": the next run resumes it.
            with store.lock, conn:
                conn.execute(
                    "UPDATE runs SET status = 'error', finished_at = ?, message = ?"
                    " WHERE run_id = ?",
                    (_now(), f"{type(exc).__name__}: {exc}"[:500], run_id),
                )
            raise
        log.info("%s", result._headline())
        if sent is not None and sent.fatal is not None:
            sent.fatal.result = result  # type: ignore[assignment]
            raise sent.fatal
        return result
    finally:
        with store.lock:
            for table in ("spool", "to_add", "to_remove"):
                conn.execute(f"DROP TABLE IF EXISTS temp.{table}")


def _sql_value(value: Any) -> Any:
    """A DataFrame cell as SQLite takes it: missing -> NULL, numpy scalars -> Python."""
    if value is None or value is pd.NA or (isinstance(value, float) and value != value):
        return None
    return value.item() if hasattr(value, "item") else value


def _diff(conn: sqlite3.Connection, key: int | None, mode: str, previous: int | None) -> None:
    """Fill temp.to_add and temp.to_remove from temp.spool (desired) and members (known)."""
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


# --------------------------------------------------------------------------- history
def _open(state: SyncState | str | os.PathLike[str] | None) -> tuple[SyncState, bool]:
    if isinstance(state, SyncState):
        return state, False
    path = Path(state).expanduser() if state is not None else default_state_path()
    if not path.exists():
        raise ConfigurationError(f"No sync state at {path}: no sync has run there yet.")
    return SyncState(path), True


def sync_log(
    app: AppCredentials | str | None = None,
    cohort_name: str | None = None,
    *,
    cohort_id: str | None = None,
    state: SyncState | str | os.PathLike[str] | None = None,
) -> pd.DataFrame:
    """The run history as a DataFrame, newest first: run id, workspace, cohort, mode,
    status, started, finished, input rows, desired, adds, removes, failed, requests.

    Filter by ``app`` (its host and workspace) and by cohort name or id."""
    store, owned = _open(state)
    try:
        where, args = [], []
        if app is not None:
            creds = get_credentials(app)
            where += ["c.host = ?", "c.workspace_id = ?"]
            args += [creds.host, creds.workspace_id]
        if cohort_id is not None:
            where.append("c.cohort_id = ?")
            args.append(cohort_id)
        elif cohort_name is not None:
            where.append("c.cohort_name = ?")
            args.append(cohort_name)
        sql = (
            "SELECT r.run_id, c.workspace_id, c.cohort_name, c.cohort_id, r.mode, r.status,"
            " r.started_at AS started, r.finished_at AS finished, r.input_rows, r.desired,"
            " r.to_add AS adds, r.to_remove AS removes, r.added, r.removed, r.failed,"
            " r.requests, r.message FROM runs r JOIN cohorts c ON c.id = r.cohort"
            + (" WHERE " + " AND ".join(where) if where else "")
            + " ORDER BY r.run_id DESC"
        )
        with store.lock:
            frame = pd.read_sql_query(sql, store.conn, params=args)
        for col in ("started", "finished"):
            frame[col] = pd.to_datetime(frame[col], utc=True, format="ISO8601")
        return frame.set_index("run_id")
    finally:
        if owned:
            store.close()


def sync_changes(
    run_id: int, *, state: SyncState | str | os.PathLike[str] | None = None
) -> pd.DataFrame:
    """Per-record log of one run: every planned change (op, uid) with its failure, if any
    (status, error_type, message, request_id; missing for changes that went through or
    were still pending when a run died)."""
    store, owned = _open(state)
    try:
        with store.lock:
            return pd.read_sql_query(
                "SELECT c.op, c.uid, f.status, f.error_type, f.message, f.request_id"
                " FROM run_changes c LEFT JOIN run_failures f ON f.run_id = c.run_id AND"
                " f.op = c.op AND f.uid = c.uid WHERE c.run_id = ? ORDER BY c.op, c.uid",
                store.conn,
                params=(run_id,),
            )
    finally:
        if owned:
            store.close()
