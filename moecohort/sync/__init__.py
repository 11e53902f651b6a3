"""Mirror sync: keep a destination cohort equal to a changing segment.

* :mod:`~moecohort.sync.state`: :class:`SyncState`, the local SQLite record of what each
  cohort holds and of every run; it owns every SQL statement;
* :mod:`~moecohort.sync.mirror`: :func:`sync_cohort`, one run: plan, send, record;
* :mod:`~moecohort.sync.history`: :func:`sync_log` and :func:`sync_changes`.
"""

from __future__ import annotations

from ..results import SyncResult
from .history import sync_changes, sync_log
from .mirror import Resync, sync_cohort
from .state import STATE_ENV, SyncState, default_state_path

__all__ = [
    "STATE_ENV",
    "Resync",
    "SyncResult",
    "SyncState",
    "default_state_path",
    "sync_changes",
    "sync_cohort",
    "sync_log",
]
