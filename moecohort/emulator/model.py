"""The emulator's data model: workspaces, their users, cohorts and segments, and the checks
on their settings."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime, timezone
from typing import Any

from . import protocol as p
from .common import hex_id, is_number, iso_time, naive_iso_time
from .facts import (
    COHORT_SEGMENT_SOURCE,
    COHORT_SEGMENT_TYPE,
    LOOKUPS_PER_MINUTE,
    SEGMENT_GET_LIMITS,
    SEGMENT_LIST_LIMITS,
)
from .rate import RateWindow, WindowSet
from .users import Attributes, moengage_id

__all__ = [
    "DEFAULT_SEGMENT_SOURCE",
    "DEFAULT_SEGMENT_TYPE",
    "SEGMENT_SOURCES",
    "Cohort",
    "Segment",
    "Workspace",
    "check_segment",
    "normalise_created_time",
    "normalise_suspended",
]

#: Where a segment registered with ``add_segment`` was made. "API" is the value MoEngage's
#: example shows; "DASHBOARD" and "FILE" (the File Segment API) are the emulator's own
#: spelling: the real values are not documented.
SEGMENT_SOURCES = ("DASHBOARD", "FILE", "API")
DEFAULT_SEGMENT_SOURCE = "DASHBOARD"
#: The ``type`` MoEngage's example shows for a segment (the only documented value).
DEFAULT_SEGMENT_TYPE = "ELASTIC_SEARCH"


@dataclass(eq=False)
class Cohort:
    """One cohort (segment) of a workspace, created by the Cohort Sync endpoint."""

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
            "created_at": iso_time(self.created_at),
            "updated_at": iso_time(self.updated_at),
            "format": self.format,
            "partner": self.partner,
        }

    def segment_id(self, workspace_id: str) -> str:
        """The id the Custom Segments API shows for this cohort: MoEngage's own id of the
        segment (24 hex digits derived from the workspace and the cohort id), not the
        ``cohort_id`` the partner sent."""
        return hex_id(workspace_id, "cohort", self.cohort_id)

    def segment(self, workspace_id: str) -> Segment:
        """This cohort as the Custom Segments API lists it."""
        return Segment(
            self.segment_id(workspace_id),
            self.name,
            COHORT_SEGMENT_TYPE,
            COHORT_SEGMENT_SOURCE,
            naive_iso_time(self.created_at),
        )


@dataclass(frozen=True)
class Segment:
    """A segment as the Custom Segments API shows it. Registered ones were made on the
    dashboard or through the File Segment API; cohort-sync ones come from :class:`Cohort`."""

    segment_id: str
    name: str
    type: str
    source: str
    #: UTC, ISO 8601 with microseconds and no zone (``2022-12-01T13:17:46.409000``).
    created_time: str

    @staticmethod
    def derive_id(workspace_id: str, name: str) -> str:
        """The id of a registered segment given none: 24 hex digits from the workspace and
        the name (names are unique in a workspace)."""
        return hex_id(workspace_id, "segment", name)

    def view(self) -> dict[str, Any]:
        """The API's shape: ``name``, ``id``, ``created_time``, ``type``, ``source``."""
        return {
            "name": self.name,
            "id": self.segment_id,
            "created_time": self.created_time,
            "type": self.type,
            "source": self.source,
        }


@dataclass(eq=False)
class Workspace:
    """A destination workspace: credentials, users, cohorts, segments and rate windows."""

    workspace_id: str
    api_key: str
    #: uid -> attributes, in registration order.
    users: dict[str, Attributes]
    requests_per_minute: int | None
    suspended: str | None
    created_at: float
    #: False: the Get User API is not enabled for this workspace (403).
    lookups: bool = True
    lookups_per_minute: int | None = LOOKUPS_PER_MINUTE
    cohorts: dict[str, Cohort] = field(default_factory=dict)
    #: Segments registered as made on the dashboard or by file, by segment id.
    segments: dict[str, Segment] = field(default_factory=dict)
    window: RateWindow = field(default_factory=RateWindow)
    lookup_window: RateWindow = field(default_factory=RateWindow)
    list_windows: WindowSet = field(
        default_factory=lambda: WindowSet.of([s for s, _ in SEGMENT_LIST_LIMITS])
    )
    get_windows: WindowSet = field(
        default_factory=lambda: WindowSet.of([s for s, _ in SEGMENT_GET_LIMITS])
    )
    id_index: dict[str, str] | None = field(default=None, repr=False)

    def public(self) -> dict[str, Any]:
        """JSON-ready view; the API key only as a hint (its last four characters)."""
        key = self.api_key
        return {
            "workspace_id": self.workspace_id,
            "api_key_hint": ("****" + key[-4:]) if len(key) >= 12 else "****",
            "users": len(self.users),
            "requests_per_minute": self.requests_per_minute,
            "suspended": self.suspended,
            "lookups": self.lookups,
            "lookups_per_minute": self.lookups_per_minute,
            "cohorts": len(self.cohorts),
            "segments": len(self.segments),
            "created_at": iso_time(self.created_at),
        }

    def clear_windows(self) -> None:
        """Forget every rate window."""
        for window in (self.window, self.lookup_window):
            window.clear()
        self.list_windows.clear()
        self.get_windows.clear()

    def uid_of(self, internal_id: str) -> str | None:
        """The uid of the user whose MoEngage internal id is ``internal_id``, if any.

        The index is built on first use (users never change in place: a re-registered
        workspace is a new object).
        """
        if self.id_index is None:
            ws = self.workspace_id
            self.id_index = {moengage_id(ws, uid, a): uid for uid, a in self.users.items()}
        return self.id_index.get(internal_id)

    def active_segments(self) -> int:
        """Segments of all kinds: cohort-sync cohorts and registered segments."""
        return len(self.cohorts) + len(self.segments)

    def all_segments(self) -> list[Segment]:
        """Every segment as the Custom Segments API lists it, oldest first."""
        items = [c.segment(self.workspace_id) for c in self.cohorts.values()]
        items += self.segments.values()
        return sorted(items, key=lambda s: s.created_time)

    def registered_named(self, name: str) -> Segment | None:
        """The registered (not cohort-sync) segment named exactly ``name``, if any."""
        for segment in self.segments.values():
            if segment.name == name:
                return segment
        return None


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


def normalise_created_time(value: str | float | None, now: float) -> str:
    """A segment's ``created_time``: ISO text (a zone is converted to UTC) or epoch seconds,
    as UTC ISO 8601 with microseconds and no zone; None means ``now``."""
    if value is None:
        return naive_iso_time(now)
    if is_number(value):
        return naive_iso_time(float(value))
    if not isinstance(value, str):
        raise TypeError("created_time must be None, epoch seconds or an ISO 8601 string")
    text = value[:-1] + "+00:00" if value.endswith(("Z", "z")) else value  # 3.10 lacks "Z"
    try:
        parsed = datetime.fromisoformat(text)
    except ValueError:
        raise ValueError(f"created_time is not an ISO 8601 time: {value!r}") from None
    if parsed.tzinfo is not None:
        parsed = parsed.astimezone(timezone.utc).replace(tzinfo=None)
    return parsed.isoformat("T", "microseconds")


def check_segment(name: Any, type_: Any, source: Any, segment_id: Any) -> None:
    """Validate the arguments of ``add_segment``; TypeError or ValueError."""
    for label, value in (("name", name), ("type", type_)):
        if not isinstance(value, str) or not value:
            raise ValueError(f"segment {label} must be a non-empty string")
    if source not in SEGMENT_SOURCES:
        raise ValueError(f"segment source must be one of {', '.join(SEGMENT_SOURCES)}")
    if segment_id is not None and (not isinstance(segment_id, str) or not segment_id):
        raise ValueError("segment id must be None or a non-empty string")
