"""The history of mirror syncs: runs, and every planned change of a run."""

from __future__ import annotations

import os

import pandas as pd

from ..credentials import AppCredentials, get_credentials
from .state import SyncState, open_state

__all__ = ["sync_changes", "sync_log"]


def sync_log(
    app: AppCredentials | str | None = None,
    cohort_name: str | None = None,
    *,
    cohort_id: str | None = None,
    state: SyncState | str | os.PathLike[str] | None = None,
) -> pd.DataFrame:
    """The run history as a DataFrame, newest first: run id, workspace, cohort, mode,
    status, started, finished, input rows, desired, the changes planned (``to_add``,
    ``to_remove``) next to those acknowledged (``added``, ``removed``; less than planned
    when a run was stopped or some changes failed), failed, requests, message.

    Filter by ``app`` (its host and workspace) and by cohort name or id."""
    store, owned = open_state(state)
    try:
        creds = get_credentials(app) if app is not None else None
        return store.run_log(
            host=creds.host if creds else None,
            workspace_id=creds.workspace_id if creds else None,
            cohort_id=cohort_id,
            cohort_name=cohort_name,
        )
    finally:
        if owned:
            store.close()


def sync_changes(
    run_id: int, *, state: SyncState | str | os.PathLike[str] | None = None
) -> pd.DataFrame:
    """Per-record log of one run: every planned change (op, uid) with its failure, if any
    (status, error_type, message, request_id; missing for changes that went through or
    were still pending when a run died)."""
    store, owned = open_state(state)
    try:
        return store.run_changes(run_id)
    finally:
        if owned:
            store.close()
