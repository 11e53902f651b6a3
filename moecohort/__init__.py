"""moecohort: sync MoEngage segments from one app (workspace) to another as cohorts.

The modules follow the way data flows: :mod:`~moecohort.credentials` ->
:mod:`~moecohort.identifiers` -> :mod:`~moecohort.overlap` -> :mod:`~moecohort.payload`
-> :mod:`~moecohort.transport` -> :mod:`~moecohort.push` -> faces (the ``df.moe``
accessor, the ``moecohort`` command, :mod:`moecohort.widgets`). The Cohort Sync
emulator lives in :mod:`moecohort.emulator`.
"""

from __future__ import annotations

import logging as _logging

from . import accessor as _accessor  # noqa: F401  (registers df.moe)
from ._constants import VERSION as __version__
from .credentials import (
    AppCredentials,
    ProfileStore,
    SecretStr,
    get_credentials,
    list_profiles,
    load_profile,
    remove_profile,
    save_profile,
)
from .errors import (
    AccountSuspendedError,
    AllAnonymousError,
    APIError,
    AuthenticationError,
    CohortNameError,
    ConfigurationError,
    EmptyInputError,
    InputError,
    MoEngageError,
    PayloadTooLargeError,
    PushFailedError,
    RateLimitError,
    SyncLockedError,
)
from .ids import (
    DEFAULT_PLACEHOLDERS,
    AnonymousReport,
    anonymous_reasons,
    anonymous_report,
    canonical_ids,
    drop_anonymous,
    is_anonymous,
)
from .input import PreparedIds, prepare_ids
from .overlap import OverlapReport, keep_in_destination, overlap
from .payload import cohort_id_for, suggest_cohort_name, validate_cohort_name
from .push import ConnectionCheck, check_connection, push_cohort
from .results import DeliveryResult, PushResult, SyncResult
from .sync import SyncState, sync_changes, sync_cohort, sync_log

__all__ = [
    "DEFAULT_PLACEHOLDERS",
    "APIError",
    "AccountSuspendedError",
    "AllAnonymousError",
    "AnonymousReport",
    "AppCredentials",
    "AuthenticationError",
    "CohortNameError",
    "ConfigurationError",
    "ConnectionCheck",
    "DeliveryResult",
    "EmptyInputError",
    "InputError",
    "MoEngageError",
    "OverlapReport",
    "PayloadTooLargeError",
    "PreparedIds",
    "ProfileStore",
    "PushFailedError",
    "PushResult",
    "RateLimitError",
    "SecretStr",
    "SyncLockedError",
    "SyncResult",
    "SyncState",
    "__version__",
    "anonymous_reasons",
    "anonymous_report",
    "canonical_ids",
    "check_connection",
    "cohort_id_for",
    "drop_anonymous",
    "get_credentials",
    "is_anonymous",
    "keep_in_destination",
    "list_profiles",
    "load_profile",
    "overlap",
    "prepare_ids",
    "push_cohort",
    "remove_profile",
    "save_profile",
    "suggest_cohort_name",
    "sync_changes",
    "sync_cohort",
    "sync_log",
    "validate_cohort_name",
]

# A library never prints by itself: logging stays silent until the application configures it.
_logging.getLogger("moecohort").addHandler(_logging.NullHandler())
