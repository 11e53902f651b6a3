"""State of the emulator: workspaces, their users, cohorts and segments, the request log,
the fault settings, and what the API pipelines need to read and change them.

Everything lives in memory behind one lock (:attr:`EmulatorState.lock`), so the hot path is
a few dict and set operations. With a SQLite path every change is also written through to
the database (:mod:`.store`, one connection, guarded by the same lock) and loaded back on
start, so an emulator restarted on the same file picks up where it stopped. Rate windows
(:mod:`.rate`) are not persisted. The data model is in :mod:`.model` and :mod:`.users`,
faults in :mod:`.faults`; the pipelines that answer the APIs are :mod:`.cohortsync`,
:mod:`.lookups` and :mod:`.segments`.
"""

from __future__ import annotations

import hmac
import os
import random
import threading
import time
from collections import deque
from collections.abc import Callable
from typing import Any

from . import protocol as p
from .common import check_rpm, iso_time
from .facts import (
    LOOKUPS_PER_MINUTE,
    MAX_ACTIVE_SEGMENTS,
    REQUESTS_PER_MINUTE,
    SEGMENT_GET_LIMITS,
    SEGMENT_LIST_LIMITS,
)
from .faults import FaultDraw, Faults
from .gateway import ENDPOINT_COHORTSYNC
from .model import (
    Cohort,
    Segment,
    Workspace,
    check_segment,
    normalise_created_time,
    normalise_suspended,
)
from .store import Database
from .users import UsersArg, parse_users, user_view

__all__ = ["DEFAULT_LOG_LIMIT", "DEFAULT_MAX_COHORTS", "EmulatorState"]

#: Segments of all kinds (cohorts included) a workspace may hold by default: MoEngage's cap.
DEFAULT_MAX_COHORTS = MAX_ACTIVE_SEGMENTS

#: How many request-log entries are kept in memory (the SQLite file keeps them all).
DEFAULT_LOG_LIMIT = 100_000


class EmulatorState:
    """All mutable state of one emulator."""

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
        #: Guards everything here, and the SQLite connection.
        self.lock = threading.Lock()
        self.seed = seed
        self._rng = random.Random(seed)
        self.rate_limit = bool(rate_limit)
        self._faults = faults if faults is not None else Faults()
        #: The cap on a workspace's active segments of all kinds (cohorts included).
        self.max_cohorts = max_cohorts
        #: The monotonic clock of the rate windows.
        self.clock: Callable[[], float] = clock or time.monotonic
        self._log: deque[dict[str, Any]] = deque(maxlen=log_limit)
        self._seq = 0
        self._workspaces: dict[str, Workspace] = {}
        #: The write-through store, or None in memory. Use with the lock held.
        self.db: Database | None = None
        if db is not None:
            self.db = Database(db)
            workspaces, log, seq = self.db.load(log_limit)
            self._workspaces = workspaces
            self._log.extend(log)
            self._seq = seq

    @property
    def db_path(self) -> str | None:
        """The SQLite path, or None in memory."""
        return self.db.path if self.db is not None else None

    def close(self) -> None:
        """Close the SQLite connection (it reopens by itself if used again)."""
        with self.lock:
            if self.db is not None:
                self.db.close()

    def _commit(self) -> None:
        if self.db is not None:
            self.db.commit()

    # --- workspaces ---------------------------------------------------------------------------
    def add_workspace(
        self,
        workspace_id: str,
        api_key: str,
        users: UsersArg = (),
        *,
        requests_per_minute: int | None = REQUESTS_PER_MINUTE,
        suspended: bool | str | None = False,
        lookups: bool = True,
        lookups_per_minute: int | None = LOOKUPS_PER_MINUTE,
    ) -> dict[str, Any]:
        """Register or replace a workspace (see ``Emulator.add_workspace``)."""
        if not isinstance(workspace_id, str) or not workspace_id:
            raise ValueError("workspace_id must be a non-empty string")
        if ":" in workspace_id:
            raise ValueError("workspace_id cannot contain ':' (it is the Basic-auth username)")
        if not isinstance(api_key, str) or not api_key:
            raise ValueError("api_key must be a non-empty string")
        if not isinstance(lookups, bool):
            raise ValueError(f"lookups must be True or False, got {lookups!r}")
        rpm = check_rpm(requests_per_minute)
        upm = check_rpm(lookups_per_minute, "lookups_per_minute")
        kind = normalise_suspended(suspended)
        parsed = parse_users(users)
        with self.lock:
            old = self._workspaces.get(workspace_id)
            ws = Workspace(workspace_id, api_key, parsed, rpm, kind, time.time(), lookups, upm)
            if old is not None:  # replacing keeps cohorts, segments, windows, creation time
                ws.cohorts = old.cohorts
                ws.segments = old.segments
                ws.window = old.window
                ws.lookup_window = old.lookup_window
                ws.list_windows = old.list_windows
                ws.get_windows = old.get_windows
                ws.created_at = old.created_at
            self._workspaces[workspace_id] = ws
            if self.db is not None:
                self.db.put_workspace(ws)
                self.db.commit()
            return ws.public()

    def remove_workspace(self, workspace_id: str) -> None:
        """Forget a workspace, its users, cohorts and segments; KeyError if unknown."""
        with self.lock:
            if self._workspaces.pop(workspace_id, None) is None:
                raise KeyError(f"no workspace {workspace_id!r}")
            if self.db is not None:
                self.db.delete_workspace(workspace_id)
                self.db.commit()

    def workspaces(self) -> list[dict[str, Any]]:
        """Public views of every workspace, in registration order."""
        with self.lock:
            return [ws.public() for ws in self._workspaces.values()]

    def workspace(self, workspace_id: str) -> dict[str, Any]:
        """Public view of one workspace; KeyError if unknown."""
        with self.lock:
            return self.get_workspace(workspace_id).public()

    def get_workspace(self, workspace_id: str) -> Workspace:
        """The workspace object; KeyError if unknown. Lock held."""
        ws = self._workspaces.get(workspace_id)
        if ws is None:
            raise KeyError(f"no workspace {workspace_id!r}")
        return ws

    def find_workspace(self, workspace_id: str) -> Workspace | None:
        """The workspace object, or None (removed while a request was in flight). Lock held."""
        return self._workspaces.get(workspace_id)

    # --- users --------------------------------------------------------------------------------
    def users(self, workspace_id: str) -> list[dict[str, Any]]:
        """Every user of a workspace as the Get User API shows it, in registration order."""
        with self.lock:
            ws = self.get_workspace(workspace_id)
            return [user_view(ws.workspace_id, uid, a) for uid, a in ws.users.items()]

    def user(self, workspace_id: str, uid: str) -> dict[str, Any]:
        """One user (``customer_id``, ``id``, attributes); KeyError if unknown."""
        with self.lock:
            ws = self.get_workspace(workspace_id)
            attributes = ws.users.get(uid)
            if attributes is None:
                raise KeyError(f"workspace {workspace_id!r} has no user {uid!r}")
            return user_view(ws.workspace_id, uid, attributes)

    # --- cohorts ------------------------------------------------------------------------------
    def cohorts(self, workspace_id: str) -> list[dict[str, Any]]:
        """Public views of a workspace's cohorts, oldest first."""
        with self.lock:
            return [c.public() for c in self.get_workspace(workspace_id).cohorts.values()]

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
        with self.lock:
            return self._find(self.get_workspace(workspace_id), key).public()

    def cohort_members(self, workspace_id: str, key: str) -> set[str]:
        """A copy of a cohort's matched members."""
        with self.lock:
            return set(self._find(self.get_workspace(workspace_id), key).members)

    def cohort_unmatched(self, workspace_id: str, key: str) -> set[str]:
        """A copy of the uids sent for a cohort that matched no user."""
        with self.lock:
            return set(self._find(self.get_workspace(workspace_id), key).unmatched)

    # --- segments -----------------------------------------------------------------------------
    def segments(self, workspace_id: str) -> list[dict[str, Any]]:
        """Every segment of a workspace as the Custom Segments API lists it, oldest first."""
        with self.lock:
            return [s.view() for s in self.get_workspace(workspace_id).all_segments()]

    def add_segment(
        self,
        workspace_id: str,
        name: str,
        *,
        type_: str,
        source: str,
        segment_id: str | None,
        created_time: str | float | None,
    ) -> dict[str, Any]:
        """Register a segment made on the dashboard or by file (see ``Emulator.add_segment``)."""
        check_segment(name, type_, source, segment_id)
        created = normalise_created_time(created_time, time.time())
        with self.lock:
            ws = self.get_workspace(workspace_id)
            taken = {s.name for s in ws.all_segments()}
            if name in taken:
                raise ValueError(f"workspace {workspace_id!r} already has a segment named {name!r}")
            if segment_id is None:
                segment_id = Segment.derive_id(workspace_id, name)
            if segment_id in {s.segment_id for s in ws.all_segments()}:
                raise ValueError(
                    f"workspace {workspace_id!r} already has segment id {segment_id!r}"
                )
            count = ws.active_segments()
            if count >= self.max_cohorts:
                raise ValueError(
                    f"Total active segments limit breached (actual_count {count}, "
                    f"limit {self.max_cohorts})"
                )
            segment = Segment(segment_id, name, type_, source, created)
            ws.segments[segment_id] = segment
            if self.db is not None:
                self.db.put_segment(workspace_id, segment)
                self.db.commit()
            return segment.view()

    # --- log, reset, faults -------------------------------------------------------------------
    def request_log(
        self,
        workspace_id: str | None = None,
        limit: int | None = None,
        endpoint: str | None = None,
    ) -> list[dict[str, Any]]:
        """Copies of the logged requests, oldest first; the last ``limit`` if given; only
        those of ``endpoint`` (``"cohortsync"``, ``"get_user"``, ``"custom_segments"``) if
        given."""
        with self.lock:
            entries = [
                dict(e)
                for e in self._log
                if (workspace_id is None or e["workspace"] == workspace_id)
                and (endpoint is None or e.get("endpoint", ENDPOINT_COHORTSYNC) == endpoint)
            ]
        if limit is not None:
            entries = entries[-limit:] if limit > 0 else []
        return entries

    def append_log(self, entry: dict[str, Any]) -> None:
        """Number, timestamp and store a log entry, committing SQLite. Lock held."""
        self._seq += 1
        entry["seq"] = self._seq
        entry["time"] = iso_time(entry["ts"])
        self._log.append(entry)
        if self.db is not None:
            self.db.log(entry)
            self.db.commit()

    def reset(self, workspaces: bool = False) -> None:
        """Clear cohorts, segments, the log and rate windows, re-seed the RNG; optionally
        forget workspaces (and their users) too."""
        with self.lock:
            self._log.clear()
            self._rng = random.Random(self.seed)
            if workspaces:
                self._workspaces.clear()
            for ws in self._workspaces.values():
                ws.cohorts = {}
                ws.segments = {}
                ws.clear_windows()
            if self.db is not None:
                self.db.clear(workspaces)
                self.db.commit()

    @property
    def faults(self) -> Faults:
        """The current fault settings."""
        return self._faults

    def set_faults(self, faults: Faults) -> Faults:
        """Replace the fault settings."""
        if not isinstance(faults, Faults):
            raise TypeError("faults must be a Faults instance")
        with self.lock:
            self._faults = faults
        return faults

    def summary(self) -> dict[str, Any]:
        """Counts and settings, for ``GET /_emulator``."""
        with self.lock:
            return {
                "workspaces": len(self._workspaces),
                "requests_logged": self._seq,
                "rate_limit": self.rate_limit,
                "seed": self.seed,
                "db": self.db_path,
                "max_cohorts": self.max_cohorts,
                "faults": self._faults.to_dict(),
            }

    # --- what the pipelines share (lock held) -------------------------------------------------
    def authenticate(
        self, creds: tuple[str, str] | None, appkey: str | None, entry: dict[str, Any]
    ) -> Workspace:
        """The workspace of Basic-auth ``creds`` whose ID equals ``appkey`` (the
        ``MOE-APPKEY`` header, or the Get User API's ``app_id``), else the 401 in Cohort
        Sync's wording. Records the workspace in ``entry``. Lock held."""
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
        return ws

    def draw_faults(self) -> tuple[FaultDraw, Faults]:
        """Roll the fault dice for one request, in arrival order. Lock held."""
        faults = self._faults
        return faults.draw(self._rng), faults

    def sync_limit(self, ws: Workspace) -> int | None:
        """Cohort Sync requests a minute for ``ws`` (None: unlimited)."""
        limit = self._faults.requests_per_minute
        if limit is None and self.rate_limit:
            limit = ws.requests_per_minute
        return limit

    def lookup_limit(self, ws: Workspace) -> int | None:
        """Get User API users a minute for ``ws`` (None: unlimited)."""
        limit = self._faults.lookups_per_minute
        if limit is None and self.rate_limit:
            limit = ws.lookups_per_minute
        return limit

    def segment_limits(self, by_id: bool) -> tuple[tuple[float, int], ...] | None:
        """The Custom Segments API's ``(window seconds, limit)`` pairs (None: unlimited)."""
        if not self.rate_limit:
            return None
        return SEGMENT_GET_LIMITS if by_id else SEGMENT_LIST_LIMITS
