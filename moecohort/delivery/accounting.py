"""What every result of sending ids counts, whatever it sent them for (a push, a sync, a
lookup): the rows read and set aside, the failed users, the requests, how it ended."""

from __future__ import annotations

from dataclasses import dataclass, field

import pandas as pd

from .failures import failed_frame

__all__ = ["Accounting"]


@dataclass(repr=False, kw_only=True)
class Accounting:
    """The figures :class:`~moecohort.DeliveryResult` and :class:`~moecohort.LookupResult`
    share."""

    input_rows: int = 0
    skipped_anonymous: int = 0
    skipped_duplicates: int = 0
    #: Anonymous rows by reason: missing, blank, placeholder.
    anonymous_by_reason: dict[str, int] = field(default_factory=dict)
    #: One row per failed user: uid, status (HTTP status, missing when no response),
    #: error_type, message, request_id.
    failed: pd.DataFrame = field(default_factory=failed_frame)
    #: HTTP attempts, retries included.
    requests: int = 0
    #: Request bodies.
    batches: int = 0
    retries: int = 0
    request_ids: list[str] = field(default_factory=list)
    #: HTTP statuses (and network errors) seen, every attempt included.
    statuses: dict[str, int] = field(default_factory=dict)
    elapsed_s: float = 0.0
    #: Set when the run stopped early (401, 403, Ctrl-C, ...).
    stopped_by: str | None = None
