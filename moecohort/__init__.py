"""moecohort: sync MoEngage segments from one app (workspace) to another as cohorts."""

from __future__ import annotations

from .errors import (
    AccountSuspendedError,
    APIError,
    AuthenticationError,
    CohortNameError,
    ConfigurationError,
    InputError,
    MoEngageError,
    PayloadTooLargeError,
    PushFailedError,
    RateLimitError,
    SyncLockedError,
)

__version__ = "0.1.0"

__all__ = [
    "APIError",
    "AccountSuspendedError",
    "AuthenticationError",
    "CohortNameError",
    "ConfigurationError",
    "InputError",
    "MoEngageError",
    "PayloadTooLargeError",
    "PushFailedError",
    "RateLimitError",
    "SyncLockedError",
    "__version__",
]
