"""SQLite write-through persistence of workspaces, cohorts and the request log.

One connection, used only while the caller holds the state lock. Rate windows are not
stored: an emulator restarted on the same file starts with fresh windows.
"""

from __future__ import annotations

import json
import os
import sqlite3
from collections.abc import Iterable
from typing import Any

from .model import Cohort, Workspace

__all__ = ["SCHEMA", "Database"]

SCHEMA = """
CREATE TABLE IF NOT EXISTS workspaces (
    workspace_id TEXT PRIMARY KEY,
    api_key TEXT NOT NULL,
    requests_per_minute INTEGER,
    suspended TEXT,
    created_at REAL NOT NULL
);
CREATE TABLE IF NOT EXISTS workspace_users (
    workspace_id TEXT NOT NULL,
    uid TEXT NOT NULL,
    PRIMARY KEY (workspace_id, uid)
) WITHOUT ROWID;
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
        users: dict[str, list[str]] = {}
        for ws_id, uid in c.execute("SELECT workspace_id, uid FROM workspace_users"):
            users.setdefault(ws_id, []).append(uid)
        rows = c.execute(
            "SELECT workspace_id, api_key, requests_per_minute, suspended, created_at "
            "FROM workspaces ORDER BY rowid"
        )
        for ws_id, key, rpm, suspended, created in rows:
            workspaces[ws_id] = Workspace(
                ws_id, key, frozenset(users.get(ws_id, ())), rpm, suspended, created
            )
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
            "created_at) VALUES (?, ?, ?, ?, ?) ON CONFLICT (workspace_id) DO UPDATE SET "
            "api_key = excluded.api_key, requests_per_minute = excluded.requests_per_minute, "
            "suspended = excluded.suspended",
            (ws.workspace_id, ws.api_key, ws.requests_per_minute, ws.suspended, ws.created_at),
        )
        c.execute("DELETE FROM workspace_users WHERE workspace_id = ?", (ws.workspace_id,))
        c.executemany(
            "INSERT INTO workspace_users (workspace_id, uid) VALUES (?, ?)",
            ((ws.workspace_id, uid) for uid in ws.users),
        )

    def delete_workspace(self, ws_id: str) -> None:
        for table in ("workspaces", "workspace_users", "cohorts", "members", "unmatched"):
            self.conn.execute(f"DELETE FROM {table} WHERE workspace_id = ?", (ws_id,))

    def clear(self, workspaces: bool) -> None:
        tables = ["cohorts", "members", "unmatched", "requests"]
        if workspaces:
            tables += ["workspaces", "workspace_users"]
        for table in tables:
            self.conn.execute(f"DELETE FROM {table}")

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
