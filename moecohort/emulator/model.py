"""The emulator's data model: workspaces and their cohorts, and the checks on their settings."""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import Any

from . import protocol as p
from .common import iso_time
from .rate import RateWindow

__all__ = ["Cohort", "Workspace", "normalise_suspended", "user_set"]


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
            "created_at": iso_time(self.created_at),
            "updated_at": iso_time(self.updated_at),
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
    window: RateWindow = field(default_factory=RateWindow)

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
            "created_at": iso_time(self.created_at),
        }


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


def user_set(users: Iterable[str]) -> frozenset[str]:
    """The uids of ``add_workspace(users=...)`` as a frozenset; TypeError for anything else."""
    if isinstance(users, (str, bytes)):
        raise TypeError("users must be an iterable of uid strings, not a single string")
    out = frozenset(users)
    for uid in out:
        if not isinstance(uid, str):
            raise TypeError(f"every user id must be a str, got {type(uid).__name__}")
    return out
