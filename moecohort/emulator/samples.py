"""Register the demo workspaces from the sample CSV exports in ``data/samples/``.

This module knows nothing of the server: :func:`load_samples` registers workspaces on
anything shaped like a :class:`WorkspaceHost` (an :class:`~.server.Emulator` is one), so
``server`` may import it and it never imports ``server``.
"""

from __future__ import annotations

import csv
import os
from collections.abc import Iterable
from pathlib import Path
from typing import Any, Protocol

from .facts import PLACEHOLDER_IDS

__all__ = [
    "DEMO_DEST_KEY",
    "DEMO_DEST_WORKSPACE",
    "DEMO_SOURCE_KEY",
    "DEMO_SOURCE_WORKSPACE",
    "DEST_FILE",
    "ID_COLUMN",
    "SOURCE_FILE",
    "WorkspaceHost",
    "load_samples",
    "read_user_ids",
]

#: The source app's segment export (the emulator's own constant, like every name here).
SOURCE_FILE = "app_a_segment_export.csv"
#: The destination app's users export.
DEST_FILE = "app_b_users.csv"
#: Dashboard exports show the unique user id under this header.
ID_COLUMN = "ID"

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

    def add_workspace(self, workspace_id: str, api_key: str, users: Iterable[str] = ()) -> Any: ...


def read_user_ids(path: str | os.PathLike[str], column: str = ID_COLUMN) -> list[str]:
    """The user ids of a MoEngage CSV export, in file order, duplicates dropped.

    Cells are kept exactly as written (never trimmed); empty cells and the values
    MoEngage never accepts as an ID (:data:`.facts.PLACEHOLDER_IDS`, compared
    case-insensitively after trimming) are skipped. The column is found by exact
    name, else by a case-insensitive match after trimming the header.
    """
    with open(path, encoding="utf-8-sig", newline="") as fh:
        reader = csv.reader(fh)
        header = next(reader, None)
        if header is None:
            raise ValueError(f"{path}: the file is empty")
        if column in header:
            index = header.index(column)
        else:
            loose = [i for i, h in enumerate(header) if h.strip().lower() == column.lower()]
            if not loose:
                raise ValueError(f"{path}: no {column!r} column (columns: {', '.join(header)})")
            index = loose[0]
        seen: dict[str, None] = {}
        for row in reader:
            if index >= len(row):
                continue
            cell = row[index]
            if cell.strip().lower() in PLACEHOLDER_IDS:
                continue
            seen.setdefault(cell, None)
    return list(seen)


def load_samples(
    emu: WorkspaceHost, samples_dir: str | os.PathLike[str]
) -> dict[str, dict[str, Any]]:
    """Register ``DEMO-SOURCE`` and ``DEMO-DEST`` from the sample exports in ``samples_dir``.

    ``DEMO-SOURCE`` gets the users of ``app_a_segment_export.csv`` and ``DEMO-DEST`` those
    of ``app_b_users.csv`` (the ``ID`` column). Re-registering keeps existing cohorts.

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
        users = read_user_ids(path)
        emu.add_workspace(ws_id, key, users)
        out[role] = {
            "workspace_id": ws_id,
            "api_key": key,
            "base_url": emu.url if emu.running else None,
            "users": len(users),
            "file": str(path),
        }
    return out
