"""State of the emulator: workspaces, cohorts, the request log, rate windows and faults.

Everything lives in memory behind one lock, so the hot path is a few dict and set
operations. With a SQLite path every change is also written through to the database
(one connection, guarded by the same lock) and loaded back on start, so an emulator
restarted on the same file picks up where it stopped. Rate windows are not persisted.

:meth:`EmulatorState.handle_sync` is the whole Cohort Sync pipeline, applied in the
order a real gateway applies it: authentication (401), account state (403), media type
(415), size (413), body (400), rate (429). Faults are drawn for every request that gets
past the account check.
"""

from __future__ import annotations

import dataclasses
import hmac
import json
import math
import os
import random
import sqlite3
import threading
import time
import uuid
from collections import deque
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field
from datetime import datetime, timezone
from typing import Any

from moecohort._constants import (
    DEFAULT_REQUESTS_PER_MINUTE,
    MAX_BODY_BYTES,
    RATE_WINDOW_S,
)

from . import protocol as p

#: MoEngage's documented cap on active segments per workspace.
DEFAULT_MAX_COHORTS = 1000

#: How many request-log entries are kept in memory (the SQLite file keeps them all).
DEFAULT_LOG_LIMIT = 100_000


def _iso(ts: float | None) -> str | None:
    if ts is None:
        return None
    text = datetime.fromtimestamp(ts, timezone.utc).isoformat(timespec="milliseconds")
    return text.replace("+00:00", "Z")


def _is_number(value: Any) -> bool:
    return isinstance(value, (int, float)) and not isinstance(value, bool) and math.isfinite(value)


# --- faults -------------------------------------------------------------------------------
@dataclass(frozen=True)
class FaultDraw:
    """What the fault dice decided for one request."""

    drop_before: bool
    error_500: bool
    rate_429: bool
    drop_after: bool
    delay_s: float


@dataclass(frozen=True)
class Faults:
    """Faults to inject into Cohort Sync requests that pass authentication and the account check.

    Probabilities are in ``[0, 1]`` and drawn independently for every such request, in
    arrival order, from the emulator's seeded ``random.Random`` (five draws per request,
    whatever the settings, so a seed always gives the same sequence). When several hit,
    the first of ``drop_before``, ``error_500``, ``rate_429`` wins; ``drop_after`` applies
    to whatever the request would otherwise have answered.

    Attributes:
        error_500: answer ``500 Server Error``; nothing is applied.
        rate_429: answer ``429 Rate Limits Exceeded``; nothing is applied.
        retry_after: seconds for a ``Retry-After`` header on every 429 (injected or real)
            and injected 500; ``None`` sends no header.
        drop_before: close the connection without a response; nothing is applied.
        drop_after: apply the request, then close the connection without a response.
        latency_s: delay every such request by this many seconds ...
        latency_jitter_s: ... plus a uniform random ``[0, latency_jitter_s)``.
        requests_per_minute: override the rate limit of every workspace (even with
            ``Emulator(rate_limit=False)``); ``None`` keeps each workspace's own.
    """

    error_500: float = 0.0
    rate_429: float = 0.0
    retry_after: float | None = None
    drop_before: float = 0.0
    drop_after: float = 0.0
    latency_s: float = 0.0
    latency_jitter_s: float = 0.0
    requests_per_minute: int | None = None

    def __post_init__(self) -> None:
        for name in ("error_500", "rate_429", "drop_before", "drop_after"):
            value = getattr(self, name)
            if not _is_number(value) or not 0.0 <= value <= 1.0:
                raise ValueError(f"Faults.{name} must be a probability in [0, 1], got {value!r}")
        for name in ("latency_s", "latency_jitter_s"):
            value = getattr(self, name)
            if not _is_number(value) or value < 0:
                raise ValueError(f"Faults.{name} must be a number >= 0, got {value!r}")
        if self.retry_after is not None and (
            not _is_number(self.retry_after) or self.retry_after < 0
        ):
            raise ValueError(f"Faults.retry_after must be None or >= 0, got {self.retry_after!r}")
        _check_rpm(self.requests_per_minute, "Faults.requests_per_minute")

    @property
    def active(self) -> bool:
        """True when any fault or override is set."""
        return self != Faults()

    def to_dict(self) -> dict[str, Any]:
        """The settings as a JSON-ready dict."""
        return dataclasses.asdict(self)

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> Faults:
        """Build from a dict; unknown keys raise ``ValueError``."""
        known = {f.name for f in dataclasses.fields(cls)}
        unknown = sorted(set(data) - known)
        if unknown:
            raise ValueError(f"unknown fault setting(s): {', '.join(unknown)}")
        return cls(**dict(data))

    def draw(self, rng: random.Random) -> FaultDraw:
        """Roll the dice for one request (always consumes five numbers)."""
        r = [rng.random() for _ in range(5)]
        return FaultDraw(
            drop_before=r[0] < self.drop_before,
            error_500=r[1] < self.error_500,
            rate_429=r[2] < self.rate_429,
            drop_after=r[3] < self.drop_after,
            delay_s=self.latency_s + r[4] * self.latency_jitter_s,
        )


# --- model --------------------------------------------------------------------------------
@dataclass(eq=False)
class Cohort:
    """One cohort (segment) of a workspace."""

    cohort_id: str
    name: str
    description: str | None
    partner: str | None
    format: str
    created_at: float
    updated_at: float
    members: set[str] = field(default_factory=set)
    unmatched: set[str] = field(default_factory=set)

    def public(self) -> dict[str, Any]:
        """JSON-ready view (counts, not member sets)."""
        return {
            "cohort_id": self.cohort_id,
            "name": self.name,
            "description": self.description,
            "members": len(self.members),
            "unmatched": len(self.unmatched),
            "created_at": _iso(self.created_at),
            "updated_at": _iso(self.updated_at),
            "format": self.format,
            "partner": self.partner,
        }


@dataclass(eq=False)
class Workspace:
    """A destination workspace: credentials, its users, cohorts and rate window."""

    workspace_id: str
    api_key: str
    users: frozenset[str]
    requests_per_minute: int | None
    suspended: str | None
    created_at: float
    cohorts: dict[str, Cohort] = field(default_factory=dict)
    window_start: float | None = None
    window_count: int = 0

    def public(self) -> dict[str, Any]:
        """JSON-ready view; the API key only as a hint (its last four characters)."""
        key = self.api_key
        return {
            "workspace_id": self.workspace_id,
            "api_key_hint": ("****" + key[-4:]) if len(key) >= 12 else "****",
            "users": len(self.users),
            "requests_per_minute": self.requests_per_minute,
            "suspended": self.suspended,
            "cohorts": len(self.cohorts),
            "created_at": _iso(self.created_at),
        }


@dataclass
class Outcome:
    """What the HTTP layer must do with a Cohort Sync request."""

    status: int
    body: bytes
    headers: list[tuple[str, str]]
    #: ``"before"`` / ``"after"``: close the connection instead of answering.
    drop: str | None = None
    #: The request-log entry (set on every path of ``handle_sync``).
    entry: dict[str, Any] = field(default_factory=dict)


def normalise_suspended(value: bool | str | None) -> str | None:
    """Map ``add_workspace(suspended=...)`` to a 403 type, or None when not suspended."""
    if value is None or value is False:
        return None
    if value is True:
        return p.DEFAULT_SUSPENSION
    if isinstance(value, str) and value in p.SUSPENSION_MESSAGES:
        return value
    choices = ", ".join(repr(k) for k in p.SUSPENSION_MESSAGES)
    raise ValueError(f"suspended must be a bool or one of {choices}, got {value!r}")


def _check_rpm(value: Any, name: str = "requests_per_minute") -> int | None:
    """``value`` if None or an int >= 1, else ValueError naming the setting ``name``."""
    if value is None:
        return None
    if not isinstance(value, int) or isinstance(value, bool) or value < 1:
        raise ValueError(f"{name} must be None or an int >= 1, got {value!r}")
    return value


def _user_set(users: Iterable[str]) -> frozenset[str]:
    if isinstance(users, (str, bytes)):
        raise TypeError("users must be an iterable of uid strings, not a single string")
    out = frozenset(users)
    for uid in out:
        if not isinstance(uid, str):
            raise TypeError(f"every user id must be a str, got {type(uid).__name__}")
    return out


# --- SQLite -------------------------------------------------------------------------------
_SCHEMA = """
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


class _Database:
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
            conn.executescript(_SCHEMA)
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


# --- the state ----------------------------------------------------------------------------
class EmulatorState:
    """All mutable state of one emulator, and the Cohort Sync pipeline that changes it."""

    def __init__(
        self,
        *,
        seed: int | None = None,
        db: str | os.PathLike[str] | None = None,
        rate_limit: bool = True,
        faults: Faults | None = None,
        max_cohorts: int = DEFAULT_MAX_COHORTS,
        log_limit: int | None = DEFAULT_LOG_LIMIT,
        clock: Callable[[], float] | None = None,
    ) -> None:
        if not isinstance(max_cohorts, int) or max_cohorts < 1:
            raise ValueError("max_cohorts must be an int >= 1")
        if log_limit is not None and (not isinstance(log_limit, int) or log_limit < 1):
            raise ValueError("log_limit must be None or an int >= 1")
        self._lock = threading.Lock()
        self.seed = seed
        self._rng = random.Random(seed)
        self.rate_limit = bool(rate_limit)
        self._faults = faults if faults is not None else Faults()
        self.max_cohorts = max_cohorts
        self._clock = clock or time.monotonic
        self._log: deque[dict[str, Any]] = deque(maxlen=log_limit)
        self._seq = 0
        self._workspaces: dict[str, Workspace] = {}
        self._db: _Database | None = None
        if db is not None:
            self._db = _Database(db)
            workspaces, log, seq = self._db.load(log_limit)
            self._workspaces = workspaces
            self._log.extend(log)
            self._seq = seq

    @property
    def db_path(self) -> str | None:
        """The SQLite path, or None in memory."""
        return self._db.path if self._db is not None else None

    def close(self) -> None:
        """Close the SQLite connection (it reopens by itself if used again)."""
        with self._lock:
            if self._db is not None:
                self._db.close()

    # --- workspaces ---------------------------------------------------------------------------
    def add_workspace(
        self,
        workspace_id: str,
        api_key: str,
        users: Iterable[str] = (),
        *,
        requests_per_minute: int | None = DEFAULT_REQUESTS_PER_MINUTE,
        suspended: bool | str | None = False,
    ) -> dict[str, Any]:
        """Register or replace a workspace (see ``Emulator.add_workspace``)."""
        if not isinstance(workspace_id, str) or not workspace_id:
            raise ValueError("workspace_id must be a non-empty string")
        if ":" in workspace_id:
            raise ValueError("workspace_id cannot contain ':' (it is the Basic-auth username)")
        if not isinstance(api_key, str) or not api_key:
            raise ValueError("api_key must be a non-empty string")
        rpm = _check_rpm(requests_per_minute)
        kind = normalise_suspended(suspended)
        user_set = _user_set(users)
        with self._lock:
            old = self._workspaces.get(workspace_id)
            ws = Workspace(workspace_id, api_key, user_set, rpm, kind, time.time())
            if old is not None:  # replacing keeps cohorts, the rate window and the creation time
                ws.cohorts = old.cohorts
                ws.window_start, ws.window_count = old.window_start, old.window_count
                ws.created_at = old.created_at
            self._workspaces[workspace_id] = ws
            if self._db is not None:
                self._db.put_workspace(ws)
                self._db.commit()
            return ws.public()

    def remove_workspace(self, workspace_id: str) -> None:
        """Forget a workspace and its cohorts; KeyError if unknown."""
        with self._lock:
            if self._workspaces.pop(workspace_id, None) is None:
                raise KeyError(f"no workspace {workspace_id!r}")
            if self._db is not None:
                self._db.delete_workspace(workspace_id)
                self._db.commit()

    def workspaces(self) -> list[dict[str, Any]]:
        """Public views of every workspace, in registration order."""
        with self._lock:
            return [ws.public() for ws in self._workspaces.values()]

    def workspace(self, workspace_id: str) -> dict[str, Any]:
        """Public view of one workspace; KeyError if unknown."""
        with self._lock:
            return self._get_ws(workspace_id).public()

    def _get_ws(self, workspace_id: str) -> Workspace:
        ws = self._workspaces.get(workspace_id)
        if ws is None:
            raise KeyError(f"no workspace {workspace_id!r}")
        return ws

    # --- cohorts ------------------------------------------------------------------------------
    def cohorts(self, workspace_id: str) -> list[dict[str, Any]]:
        """Public views of a workspace's cohorts, oldest first."""
        with self._lock:
            return [c.public() for c in self._get_ws(workspace_id).cohorts.values()]

    @staticmethod
    def _find(ws: Workspace, key: str) -> Cohort:
        cohort = ws.cohorts.get(key)
        if cohort is not None:
            return cohort
        named = [c for c in ws.cohorts.values() if c.name == key]
        if len(named) == 1:
            return named[0]
        if named:
            raise ValueError(
                f"{len(named)} cohorts of {ws.workspace_id!r} are named {key!r}; use the cohort id"
            )
        raise KeyError(f"workspace {ws.workspace_id!r} has no cohort with id or name {key!r}")

    def cohort(self, workspace_id: str, key: str) -> dict[str, Any]:
        """Public view of one cohort, by id, else by (unambiguous) name."""
        with self._lock:
            return self._find(self._get_ws(workspace_id), key).public()

    def cohort_members(self, workspace_id: str, key: str) -> set[str]:
        """A copy of a cohort's matched members."""
        with self._lock:
            return set(self._find(self._get_ws(workspace_id), key).members)

    def cohort_unmatched(self, workspace_id: str, key: str) -> set[str]:
        """A copy of the uids sent for a cohort that matched no user."""
        with self._lock:
            return set(self._find(self._get_ws(workspace_id), key).unmatched)

    # --- log, reset, faults -------------------------------------------------------------------
    def request_log(
        self, workspace_id: str | None = None, limit: int | None = None
    ) -> list[dict[str, Any]]:
        """Copies of the logged requests, oldest first; the last ``limit`` if given."""
        with self._lock:
            entries = [
                dict(e) for e in self._log if workspace_id is None or e["workspace"] == workspace_id
            ]
        if limit is not None:
            entries = entries[-limit:] if limit > 0 else []
        return entries

    def reset(self, workspaces: bool = False) -> None:
        """Clear cohorts, the log and rate windows, re-seed the RNG; optionally workspaces."""
        with self._lock:
            self._log.clear()
            self._rng = random.Random(self.seed)
            if workspaces:
                self._workspaces.clear()
            for ws in self._workspaces.values():
                ws.cohorts = {}
                ws.window_start, ws.window_count = None, 0
            if self._db is not None:
                self._db.clear(workspaces)
                self._db.commit()

    @property
    def faults(self) -> Faults:
        """The current fault settings."""
        return self._faults

    def set_faults(self, faults: Faults) -> Faults:
        """Replace the fault settings."""
        if not isinstance(faults, Faults):
            raise TypeError("faults must be a Faults instance")
        with self._lock:
            self._faults = faults
        return faults

    def summary(self) -> dict[str, Any]:
        """Counts and settings, for ``GET /_emulator``."""
        with self._lock:
            return {
                "workspaces": len(self._workspaces),
                "requests_logged": self._seq,
                "rate_limit": self.rate_limit,
                "seed": self.seed,
                "db": self.db_path,
                "max_cohorts": self.max_cohorts,
                "faults": self._faults.to_dict(),
            }

    # --- the pipeline -------------------------------------------------------------------------
    def handle_sync(
        self,
        *,
        authorization: str | None,
        appkey: str | None,
        partner: str | None,
        content_type: str | None,
        body: bytes | None,
        body_len: int,
    ) -> Outcome:
        """Run one ``POST /v1/integrations/cohortsync`` through every check and apply it.

        ``body`` is None when the HTTP layer did not read an oversized body; ``body_len``
        is its (declared or counted) length.
        """
        rid = uuid.uuid4().hex
        segment_format = p.is_moengage_partner(partner)
        entry: dict[str, Any] = {
            "seq": 0,
            "time": None,
            "ts": time.time(),
            "request_id": rid,
            "workspace": None,
            "authenticated": False,
            "format": p.FORMAT_SEGMENT_SYNC if segment_format else p.FORMAT_PARTNER,
            "action": None,
            "cohort_id": None,
            "cohort_name": None,
            "members": 0,
            "unmatched": 0,
            "page": None,
            "body_bytes": body_len,
            "status": None,
            "error_type": None,
            "fault": None,
        }
        headers: list[tuple[str, str]] = [("x-request-id", rid)]
        creds = p.parse_basic_auth(authorization)
        try:
            with self._lock:
                ws_id, over, draw, faults = self._admit(creds, appkey, entry, headers)
        except p.ProtocolError as err:
            return self._fail(err, entry, headers)

        if draw.delay_s > 0:
            time.sleep(draw.delay_s)
        retry: list[tuple[str, str]] = []
        if faults.retry_after is not None:
            retry = [("Retry-After", _format_seconds(faults.retry_after))]
        if draw.drop_before:
            entry["fault"] = "drop_before"
            with self._lock:
                self._append_log(entry)
            return Outcome(0, b"", headers, drop="before", entry=entry)
        if draw.error_500:
            entry["fault"] = "error_500"
            return self._fail(
                p.ProtocolError(500, p.TYPE_SERVER, p.MSG_SERVER), entry, headers + retry
            )
        if draw.rate_429:
            entry["fault"] = "rate_429"
            return self._fail(p.ProtocolError(429, p.TYPE_RATE, p.MSG_RATE), entry, headers + retry)
        drop = "after" if draw.drop_after else None
        if drop:
            entry["fault"] = "drop_after"

        try:
            if not p.is_json_content_type(content_type):
                raise p.ProtocolError(415, p.TYPE_MEDIA, p.MSG_MEDIA)
            if body is None or body_len > MAX_BODY_BYTES:
                raise p.ProtocolError(413, p.TYPE_TOO_LARGE, p.MSG_TOO_LARGE)
            obj = p.decode_json(body)
            req = p.parse_segment_sync(obj) if segment_format else p.parse_partner(obj)
            entry["action"] = req.action
            entry["cohort_id"] = req.cohort_id
            entry["cohort_name"] = req.cohort_name
            entry["members"] = len(req.add) + len(req.remove)
            entry["page"] = req.page
            with self._lock:
                ws = self._workspaces.get(ws_id)
                if ws is None:  # removed by a reset while this request was in flight
                    raise p.ProtocolError(401, p.TYPE_UNAUTHORIZED, p.MSG_KEY_MISMATCH)
                if req.cohort_id not in ws.cohorts and len(ws.cohorts) >= self.max_cohorts:
                    attr = "moengage_sync_id" if segment_format else "cohort_id"
                    raise p.ProtocolError(
                        400,
                        p.TYPE_LIMIT,
                        f"The workspace already has {self.max_cohorts} active segments; "
                        "a new cohort cannot be created",
                        attr,
                    )
                if over:
                    raise p.ProtocolError(429, p.TYPE_RATE, p.MSG_RATE)
                self._apply(ws, req, entry)
                entry["status"] = 200
                self._append_log(entry)
        except p.ProtocolError as err:
            out = self._fail(err, entry, headers + retry if err.status == 429 else headers)
            out.drop = drop
            return out
        return Outcome(200, p.SUCCESS_BODY, headers, drop=drop, entry=entry)

    def _admit(
        self,
        creds: tuple[str, str] | None,
        appkey: str | None,
        entry: dict[str, Any],
        headers: list[tuple[str, str]],
    ) -> tuple[str, bool, FaultDraw, Faults]:
        """Authentication, counting, account state and the fault draw. Lock held."""
        if creds is None:
            raise p.ProtocolError(401, p.TYPE_UNAUTHORIZED, p.MSG_AUTH_REQUIRED)
        user, key = creds
        entry["workspace"] = user
        ws = self._workspaces.get(user)
        if ws is None or not hmac.compare_digest(ws.api_key.encode("utf-8"), key.encode("utf-8")):
            raise p.ProtocolError(401, p.TYPE_UNAUTHORIZED, p.MSG_KEY_MISMATCH)
        if appkey is None or appkey != user:
            raise p.ProtocolError(401, p.TYPE_AUTH_MISMATCH, p.MSG_AUTH_MISMATCH)
        entry["authenticated"] = True
        over = self._count(ws, headers)
        if ws.suspended:
            raise p.ProtocolError(403, ws.suspended, p.SUSPENSION_MESSAGES[ws.suspended])
        faults = self._faults
        return user, over, faults.draw(self._rng), faults

    def _count(self, ws: Workspace, headers: list[tuple[str, str]]) -> bool:
        """Count one request in the workspace's fixed window; True when over the limit."""
        now = self._clock()
        if ws.window_start is None or now >= ws.window_start + RATE_WINDOW_S:
            ws.window_start = now
            ws.window_count = 0
        ws.window_count += 1
        limit = self._faults.requests_per_minute
        if limit is None and self.rate_limit:
            limit = ws.requests_per_minute
        if limit is None:
            return False
        remaining = max(0, limit - ws.window_count)
        reset = max(1, math.ceil(ws.window_start + RATE_WINDOW_S - now))
        headers += [
            ("x-ratelimit-limit", str(limit)),
            ("x-ratelimit-remaining", str(remaining)),
            ("x-ratelimit-reset", str(reset)),
        ]
        return ws.window_count > limit

    def _apply(self, ws: Workspace, req: p.SyncRequest, entry: dict[str, Any]) -> None:
        """Apply a validated request. Lock held. Work is proportional to the uids sent."""
        now = time.time()
        cohort = ws.cohorts.get(req.cohort_id)
        if cohort is None:
            cohort = Cohort(
                req.cohort_id, req.cohort_name, req.description, req.partner, req.format, now, now
            )
            ws.cohorts[req.cohort_id] = cohort
        else:
            cohort.name = req.cohort_name
            if req.description is not None:
                cohort.description = req.description
            cohort.partner = req.partner
            cohort.format = req.format
            cohort.updated_at = now
        users = ws.users
        unmatched = 0
        add_known: list[str] = []
        add_unknown: list[str] = []
        for uid in req.add:
            if uid in users:
                add_known.append(uid)
            else:
                add_unknown.append(uid)
        unmatched += len(add_unknown)
        cohort.members.update(add_known)
        cohort.unmatched.update(add_unknown)
        if req.remove:
            unmatched += sum(1 for uid in req.remove if uid not in users)
            cohort.members.difference_update(req.remove)
            cohort.unmatched.difference_update(req.remove)
        entry["unmatched"] = unmatched
        db = self._db
        if db is not None:
            db.put_cohort(ws.workspace_id, cohort)
            cid = cohort.cohort_id
            db.change_uids("members", ws.workspace_id, cid, add_known, add=True)
            db.change_uids("unmatched", ws.workspace_id, cid, add_unknown, add=True)
            if req.remove:
                db.change_uids("members", ws.workspace_id, cid, req.remove, add=False)
                db.change_uids("unmatched", ws.workspace_id, cid, req.remove, add=False)

    def _append_log(self, entry: dict[str, Any]) -> None:
        """Number, timestamp and store a log entry, committing SQLite. Lock held."""
        self._seq += 1
        entry["seq"] = self._seq
        entry["time"] = _iso(entry["ts"])
        self._log.append(entry)
        if self._db is not None:
            self._db.log(entry)
            self._db.commit()

    def _fail(
        self, err: p.ProtocolError, entry: dict[str, Any], headers: list[tuple[str, str]]
    ) -> Outcome:
        entry["status"] = err.status
        entry["error_type"] = err.type
        with self._lock:
            self._append_log(entry)
        body = p.error_body(err.type, err.message, err.attribute, entry["request_id"])
        return Outcome(err.status, body, headers, entry=entry)


def _format_seconds(value: float) -> str:
    if isinstance(value, int) or float(value).is_integer():
        return str(int(value))
    return repr(float(value))
