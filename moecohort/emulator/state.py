"""State of the emulator and the Cohort Sync pipeline that changes it.

Everything lives in memory behind one lock, so the hot path is a few dict and set
operations. With a SQLite path every change is also written through to the database
(:mod:`.store`, one connection, guarded by the same lock) and loaded back on start, so an
emulator restarted on the same file picks up where it stopped. Rate windows
(:mod:`.rate`) are not persisted. Workspaces and cohorts are in :mod:`.model`, faults in
:mod:`.faults`.

:meth:`EmulatorState.handle_sync` is the whole Cohort Sync pipeline, applied in the
order a real gateway applies it: authentication (401), account state (403), media type
(415), size (413), body (400), rate (429). Faults are drawn for every request that gets
past the account check.
"""

from __future__ import annotations

import hmac
import os
import random
import threading
import time
import uuid
from collections import deque
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from typing import Any

from . import protocol as p
from .common import check_rpm, format_seconds, iso_time
from .facts import MAX_ACTIVE_SEGMENTS, MAX_BODY_BYTES, REQUESTS_PER_MINUTE
from .faults import FaultDraw, Faults
from .model import Cohort, Workspace, normalise_suspended, user_set
from .store import Database

__all__ = ["DEFAULT_LOG_LIMIT", "DEFAULT_MAX_COHORTS", "EmulatorState", "Outcome"]

#: Cohorts a workspace may hold by default: MoEngage's cap on active segments.
DEFAULT_MAX_COHORTS = MAX_ACTIVE_SEGMENTS

#: How many request-log entries are kept in memory (the SQLite file keeps them all).
DEFAULT_LOG_LIMIT = 100_000


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
        self._db: Database | None = None
        if db is not None:
            self._db = Database(db)
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
        requests_per_minute: int | None = REQUESTS_PER_MINUTE,
        suspended: bool | str | None = False,
    ) -> dict[str, Any]:
        """Register or replace a workspace (see ``Emulator.add_workspace``)."""
        if not isinstance(workspace_id, str) or not workspace_id:
            raise ValueError("workspace_id must be a non-empty string")
        if ":" in workspace_id:
            raise ValueError("workspace_id cannot contain ':' (it is the Basic-auth username)")
        if not isinstance(api_key, str) or not api_key:
            raise ValueError("api_key must be a non-empty string")
        rpm = check_rpm(requests_per_minute)
        kind = normalise_suspended(suspended)
        uids = user_set(users)
        with self._lock:
            old = self._workspaces.get(workspace_id)
            ws = Workspace(workspace_id, api_key, uids, rpm, kind, time.time())
            if old is not None:  # replacing keeps cohorts, the rate window and the creation time
                ws.cohorts = old.cohorts
                ws.window = old.window
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
                ws.window.clear()
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
            retry = [("Retry-After", format_seconds(faults.retry_after))]
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
        """Count one request in the workspace's rate window; True when over the limit."""
        limit = self._faults.requests_per_minute
        if limit is None and self.rate_limit:
            limit = ws.requests_per_minute
        over, rate_headers = ws.window.hit(self._clock(), limit)
        headers += rate_headers
        return over

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
        entry["time"] = iso_time(entry["ts"])
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
