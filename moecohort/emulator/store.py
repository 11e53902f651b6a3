"""SQLite write-through persistence of workspaces (with their users' attributes), cohorts,
registered segments and the request log.

One connection, used only while the caller holds the state lock. Rate windows are not
stored: an emulator restarted on the same file starts with fresh windows. A file written
by an older emulator is upgraded in place (:data:`MIGRATIONS` adds the missing columns).
"""

from __future__ import annotations

import json
import os
import sqlite3
from collections.abc import Iterable
from typing import Any

from .facts import LOOKUPS_PER_MINUTE
from .model import Cohort, Segment, Workspace
from .users import NO_ATTRIBUTES, Attributes, attributes_json

__all__ = ["MIGRATIONS", "SCHEMA", "Database"]

SCHEMA = f"""
CREATE TABLE IF NOT EXISTS workspaces (
    workspace_id TEXT PRIMARY KEY,
    api_key TEXT NOT NULL,
    requests_per_minute INTEGER,
    suspended TEXT,
    created_at REAL NOT NULL,
    lookups INTEGER NOT NULL DEFAULT 1,
    lookups_per_minute INTEGER DEFAULT {LOOKUPS_PER_MINUTE}
);
CREATE TABLE IF NOT EXISTS workspace_users (
    workspace_id TEXT NOT NULL,
    uid TEXT NOT NULL,
    attributes TEXT,
    pos INTEGER,
    PRIMARY KEY (workspace_id, uid)
) WITHOUT ROWID;
CREATE TABLE IF NOT EXISTS segments (
    workspace_id TEXT NOT NULL,
    segment_id TEXT NOT NULL,
    name TEXT NOT NULL,
    type TEXT NOT NULL,
    source TEXT NOT NULL,
    created_time TEXT NOT NULL,
    PRIMARY KEY (workspace_id, segment_id)
);
CREATE TABLE IF NOT EXISTS cohorts (
    workspace_id TEXT NOT NULL,
    cohort_id TEXT NOT NULL,
    name TEXT NOT NULL,
    description TEXT,
    partner TEXT,
    format TEXT NOT NULL,
    created_at REAL NOT NULL,
    updated_at REAL NOT NULL,
    PRIMARY KEY (workspace_id, cohort_id)
);
CREATE TABLE IF NOT EXISTS members (
    workspace_id TEXT NOT NULL,
    cohort_id TEXT NOT NULL,
    uid TEXT NOT NULL,
    PRIMARY KEY (workspace_id, cohort_id, uid)
) WITHOUT ROWID;
CREATE TABLE IF NOT EXISTS unmatched (
    workspace_id TEXT NOT NULL,
    cohort_id TEXT NOT NULL,
    uid TEXT NOT NULL,
    PRIMARY KEY (workspace_id, cohort_id, uid)
) WITHOUT ROWID;
CREATE TABLE IF NOT EXISTS requests (
    seq INTEGER PRIMARY KEY,
    workspace TEXT,
    entry TEXT NOT NULL
);
"""


#: Columns added since the first schema: ``(table, column, declaration)``. A file written by
#: an older emulator gets them on open (their defaults are what that emulator behaved like).
MIGRATIONS: tuple[tuple[str, str, str], ...] = (
    ("workspaces", "lookups", "INTEGER NOT NULL DEFAULT 1"),
    ("workspaces", "lookups_per_minute", f"INTEGER DEFAULT {LOOKUPS_PER_MINUTE}"),
    ("workspace_users", "attributes", "TEXT"),
    ("workspace_users", "pos", "INTEGER"),
)


class Database:
    """Write-through persistence. Callers hold the state lock; nothing here locks."""

    def __init__(self, path: str | os.PathLike[str]) -> None:
        self.path = os.fspath(path)
        self._conn: sqlite3.Connection | None = None

    @property
    def conn(self) -> sqlite3.Connection:
        if self._conn is None:
            conn = sqlite3.connect(self.path, check_same_thread=False)
            if self.path != ":memory:":
                conn.execute("PRAGMA journal_mode=WAL")
            conn.execute("PRAGMA synchronous=NORMAL")
            conn.executescript(SCHEMA)
            for table, column, declaration in MIGRATIONS:
                columns = {row[1] for row in conn.execute(f"PRAGMA table_info({table})")}
                if column not in columns:
                    conn.execute(f"ALTER TABLE {table} ADD COLUMN {column} {declaration}")
            conn.commit()
            self._conn = conn
        return self._conn

    def close(self) -> None:
        if self._conn is not None:
            self._conn.commit()
            self._conn.close()
            self._conn = None

    def commit(self) -> None:
        self.conn.commit()

    def load(self, log_limit: int | None) -> tuple[dict[str, Workspace], list[dict[str, Any]], int]:
        c = self.conn
        workspaces: dict[str, Workspace] = {}
        users: dict[str, dict[str, Attributes]] = {}
        rows = c.execute(
            "SELECT workspace_id, uid, attributes FROM workspace_users "
            "ORDER BY workspace_id, pos, uid"
        )
        for ws_id, uid, attributes in rows:
            users.setdefault(ws_id, {})[uid] = (
                json.loads(attributes) if attributes else NO_ATTRIBUTES
            )
        rows = c.execute(
            "SELECT workspace_id, api_key, requests_per_minute, suspended, created_at, lookups, "
            "lookups_per_minute FROM workspaces ORDER BY rowid"
        )
        for ws_id, key, rpm, suspended, created, lookups, upm in rows:
            workspaces[ws_id] = Workspace(
                ws_id, key, users.get(ws_id, {}), rpm, suspended, created, bool(lookups), upm
            )
        rows = c.execute(
            "SELECT workspace_id, segment_id, name, type, source, created_time FROM segments "
            "ORDER BY rowid"
        )
        for ws_id, sid, name, kind, source, created_time in rows:
            ws = workspaces.get(ws_id)
            if ws is not None:
                ws.segments[sid] = Segment(sid, name, kind, source, created_time)
        rows = c.execute(
            "SELECT workspace_id, cohort_id, name, description, partner, format, created_at, "
            "updated_at FROM cohorts ORDER BY rowid"
        )
        for ws_id, cid, name, desc, partner, fmt, created, updated in rows:
            ws = workspaces.get(ws_id)
            if ws is not None:
                ws.cohorts[cid] = Cohort(cid, name, desc, partner, fmt, created, updated)
        for table in ("members", "unmatched"):
            for ws_id, cid, uid in c.execute(f"SELECT workspace_id, cohort_id, uid FROM {table}"):
                ws = workspaces.get(ws_id)
                cohort = ws.cohorts.get(cid) if ws is not None else None
                if cohort is not None:
                    getattr(cohort, table).add(uid)
        if log_limit is None:
            log_rows = c.execute("SELECT entry FROM requests ORDER BY seq DESC").fetchall()
        else:
            log_rows = c.execute(
                "SELECT entry FROM requests ORDER BY seq DESC LIMIT ?", (log_limit,)
            ).fetchall()
        log = [json.loads(row[0]) for row in reversed(log_rows)]
        seq = c.execute("SELECT COALESCE(MAX(seq), 0) FROM requests").fetchone()[0]
        return workspaces, log, int(seq)

    def put_workspace(self, ws: Workspace) -> None:
        c = self.conn
        c.execute(
            "INSERT INTO workspaces (workspace_id, api_key, requests_per_minute, suspended, "
            "created_at, lookups, lookups_per_minute) VALUES (?, ?, ?, ?, ?, ?, ?) "
            "ON CONFLICT (workspace_id) DO UPDATE SET "
            "api_key = excluded.api_key, requests_per_minute = excluded.requests_per_minute, "
            "suspended = excluded.suspended, lookups = excluded.lookups, "
            "lookups_per_minute = excluded.lookups_per_minute",
            (
                ws.workspace_id,
                ws.api_key,
                ws.requests_per_minute,
                ws.suspended,
                ws.created_at,
                int(ws.lookups),
                ws.lookups_per_minute,
            ),
        )
        c.execute("DELETE FROM workspace_users WHERE workspace_id = ?", (ws.workspace_id,))
        c.executemany(
            "INSERT INTO workspace_users (workspace_id, uid, attributes, pos) VALUES (?, ?, ?, ?)",
            (
                (ws.workspace_id, uid, attributes_json(attributes), pos)
                for pos, (uid, attributes) in enumerate(ws.users.items())
            ),
        )

    def delete_workspace(self, ws_id: str) -> None:
        tables = ("workspaces", "workspace_users", "segments", "cohorts", "members", "unmatched")
        for table in tables:
            self.conn.execute(f"DELETE FROM {table} WHERE workspace_id = ?", (ws_id,))

    def clear(self, workspaces: bool) -> None:
        tables = ["segments", "cohorts", "members", "unmatched", "requests"]
        if workspaces:
            tables += ["workspaces", "workspace_users"]
        for table in tables:
            self.conn.execute(f"DELETE FROM {table}")

    def put_segment(self, ws_id: str, segment: Segment) -> None:
        self.conn.execute(
            "INSERT OR REPLACE INTO segments (workspace_id, segment_id, name, type, source, "
            "created_time) VALUES (?, ?, ?, ?, ?, ?)",
            (
                ws_id,
                segment.segment_id,
                segment.name,
                segment.type,
                segment.source,
                segment.created_time,
            ),
        )

    def put_cohort(self, ws_id: str, cohort: Cohort) -> None:
        self.conn.execute(
            "INSERT INTO cohorts (workspace_id, cohort_id, name, description, partner, format, "
            "created_at, updated_at) VALUES (?, ?, ?, ?, ?, ?, ?, ?) "
            "ON CONFLICT (workspace_id, cohort_id) DO UPDATE SET name = excluded.name, "
            "description = excluded.description, partner = excluded.partner, "
            "format = excluded.format, updated_at = excluded.updated_at",
            (
                ws_id,
                cohort.cohort_id,
                cohort.name,
                cohort.description,
                cohort.partner,
                cohort.format,
                cohort.created_at,
                cohort.updated_at,
            ),
        )

    def change_uids(self, table: str, ws_id: str, cid: str, uids: Iterable[str], add: bool) -> None:
        sql = (
            f"INSERT OR IGNORE INTO {table} (workspace_id, cohort_id, uid) VALUES (?, ?, ?)"
            if add
            else f"DELETE FROM {table} WHERE workspace_id = ? AND cohort_id = ? AND uid = ?"
        )
        self.conn.executemany(sql, ((ws_id, cid, uid) for uid in uids))

    def log(self, entry: dict[str, Any]) -> None:
        self.conn.execute(
            "INSERT OR REPLACE INTO requests (seq, workspace, entry) VALUES (?, ?, ?)",
            (entry["seq"], entry["workspace"], json.dumps(entry)),
        )
