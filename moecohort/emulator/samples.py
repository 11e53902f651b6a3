"""Register the demo workspaces from the sample CSV exports in ``data/samples/``, with their
users' attributes.

Every column of an export but the id becomes an attribute under a snake_case name, the way
the Get User API shows attributes (:data:`ATTRIBUTE_COLUMNS`; any other column: its header
in snake_case, as text). ``MoEngage User ID`` becomes the user's ``id`` (MoEngage's internal
id). Numbers and booleans are converted; an empty cell means the user does not have that
attribute. The names are the emulator's choice: MoEngage shows standard attributes
(``first_name``, ``email``, ``first_seen``, ``last_seen``) under such names and custom ones
under whatever name the app tracked them.

This module knows nothing of the server: :func:`load_samples` registers workspaces on
anything shaped like a :class:`WorkspaceHost` (an :class:`~.server.Emulator` is one), so
``server`` may import it and it never imports ``server``.
"""

from __future__ import annotations

import csv
import os
import re
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any, Protocol

from .facts import LOOKUPS_PER_MINUTE, PLACEHOLDER_IDS

__all__ = [
    "ATTRIBUTE_COLUMNS",
    "DEMO_DEST_KEY",
    "DEMO_DEST_WORKSPACE",
    "DEMO_SOURCE_KEY",
    "DEMO_SOURCE_WORKSPACE",
    "DEST_FILE",
    "ID_COLUMN",
    "INTERNAL_ID_COLUMN",
    "SOURCE_FILE",
    "WorkspaceHost",
    "load_samples",
    "read_user_ids",
    "read_users",
    "snake_case",
]

#: The source app's segment export (the emulator's own constant, like every name here).
SOURCE_FILE = "app_a_segment_export.csv"
#: The destination app's users export.
DEST_FILE = "app_b_users.csv"
#: Dashboard exports show the unique user id under this header.
ID_COLUMN = "ID"
#: ... and MoEngage's internal id (``id`` in the Get User API) under this one.
INTERNAL_ID_COLUMN = "MoEngage User ID"


def _bool(text: str) -> bool:
    lowered = text.strip().lower()
    if lowered not in ("true", "false"):
        raise ValueError(text)
    return lowered == "true"


#: Export header -> (attribute name, conversion of the cell text); the columns of both
#: sample exports. A cell the conversion refuses stays text.
ATTRIBUTE_COLUMNS: dict[str, tuple[str, Callable[[str], Any]]] = {
    "First Name": ("first_name", str),
    "Email": ("email", str),
    "Country": ("country", str),
    "Plan": ("plan", str),
    "Lifetime Value": ("lifetime_value", float),
    "Orders": ("orders", int),
    "First Seen": ("first_seen", str),
    "Last Seen": ("last_seen", str),
    "Push Opt-in": ("push_opt_in", _bool),
    "Membership Tier": ("membership_tier", str),
    "Points Balance": ("points_balance", int),
}

# Demo credentials: fake on purpose, and printed on purpose.
DEMO_SOURCE_WORKSPACE = "DEMO-SOURCE"
DEMO_SOURCE_KEY = "demo-source-key-0001"
DEMO_DEST_WORKSPACE = "DEMO-DEST"
DEMO_DEST_KEY = "demo-dest-key-0002"


class WorkspaceHost(Protocol):
    """What :func:`load_samples` needs: somewhere to register workspaces, and its URL."""

    @property
    def running(self) -> bool: ...

    @property
    def url(self) -> str: ...

    def add_workspace(
        self,
        workspace_id: str,
        api_key: str,
        users: Any = (),
        *,
        lookups_per_minute: int | None = ...,
    ) -> Any: ...


def snake_case(header: str) -> str:
    """``"Push Opt-in"`` -> ``"push_opt_in"``: lower case, runs of other characters as ``_``."""
    return re.sub(r"[^0-9a-z]+", "_", header.strip().lower()).strip("_")


def _find(header: list[str], column: str) -> int | None:
    if column in header:
        return header.index(column)
    loose = [i for i, h in enumerate(header) if h.strip().lower() == column.lower()]
    return loose[0] if loose else None


def _rows(path: str | os.PathLike[str], column: str) -> Iterator[tuple[list[str], int, list[str]]]:
    """``(header, id index, row)`` for every row with a usable id, first row of an id only."""
    with open(path, encoding="utf-8-sig", newline="") as fh:
        reader = csv.reader(fh)
        header = next(reader, None)
        if header is None:
            raise ValueError(f"{path}: the file is empty")
        index = _find(header, column)
        if index is None:
            raise ValueError(f"{path}: no {column!r} column (columns: {', '.join(header)})")
        seen: set[str] = set()
        for row in reader:
            if index >= len(row):
                continue
            cell = row[index]
            if cell.strip().lower() in PLACEHOLDER_IDS or cell in seen:
                continue
            seen.add(cell)
            yield header, index, row


def read_user_ids(path: str | os.PathLike[str], column: str = ID_COLUMN) -> list[str]:
    """The user ids of a MoEngage CSV export, in file order, duplicates dropped.

    Cells are kept exactly as written (never trimmed); empty cells and the values
    MoEngage never accepts as an ID (:data:`.facts.PLACEHOLDER_IDS`, compared
    case-insensitively after trimming) are skipped. The column is found by exact
    name, else by a case-insensitive match after trimming the header.
    """
    return [row[index] for _, index, row in _rows(path, column)]


def read_users(path: str | os.PathLike[str], column: str = ID_COLUMN) -> dict[str, dict[str, Any]]:
    """The users of a MoEngage CSV export with their attributes: ``{uid: attributes}``.

    The same users as :func:`read_user_ids` (a uid on several rows keeps its first row).
    ``MoEngage User ID`` becomes ``id``; every other column an attribute named by
    :data:`ATTRIBUTE_COLUMNS` (else :func:`snake_case` of its header, as text); empty cells
    are left out.
    """
    users: dict[str, dict[str, Any]] = {}
    plan: list[tuple[int, str, Callable[[str], Any]]] | None = None
    for header, index, row in _rows(path, column):
        if plan is None:
            plan = []
            for i, name in enumerate(header):
                if i == index:
                    continue
                if name.strip() == INTERNAL_ID_COLUMN:
                    plan.append((i, "id", str))
                else:
                    plan.append((i, *ATTRIBUTE_COLUMNS.get(name.strip(), (snake_case(name), str))))
        attributes: dict[str, Any] = {}
        for i, name, convert in plan:
            cell = row[i] if i < len(row) else ""
            if cell == "":
                continue
            try:
                attributes[name] = convert(cell)
            except ValueError:
                attributes[name] = cell
        users[row[index]] = attributes
    return users


def load_samples(
    emu: WorkspaceHost,
    samples_dir: str | os.PathLike[str],
    *,
    lookups_per_minute: int | None = LOOKUPS_PER_MINUTE,
) -> dict[str, dict[str, Any]]:
    """Register ``DEMO-SOURCE`` and ``DEMO-DEST`` from the sample exports in ``samples_dir``.

    ``DEMO-SOURCE`` gets the users of ``app_a_segment_export.csv`` and ``DEMO-DEST`` those
    of ``app_b_users.csv`` (the ``ID`` column), with their attributes (:func:`read_users`).
    Re-registering keeps existing cohorts and segments. ``lookups_per_minute``: both
    apps' Get User API limit in users a minute (None: lookups at any pace).

    Returns ``{"source": {...}, "destination": {...}}``, each with ``workspace_id``,
    ``api_key``, ``base_url`` (None if the emulator is not running), ``users`` (count)
    and ``file``.
    """
    root = Path(samples_dir)
    out: dict[str, dict[str, Any]] = {}
    plan = [
        ("source", DEMO_SOURCE_WORKSPACE, DEMO_SOURCE_KEY, SOURCE_FILE),
        ("destination", DEMO_DEST_WORKSPACE, DEMO_DEST_KEY, DEST_FILE),
    ]
    missing = [name for *_, name in plan if not (root / name).is_file()]
    if missing:
        raise FileNotFoundError(f"sample file(s) not found in {root}: {', '.join(missing)}")
    for role, ws_id, key, name in plan:
        path = root / name
        users = read_users(path)
        emu.add_workspace(ws_id, key, users, lookups_per_minute=lookups_per_minute)
        out[role] = {
            "workspace_id": ws_id,
            "api_key": key,
            "base_url": emu.url if emu.running else None,
            "users": len(users),
            "file": str(path),
        }
    return out
