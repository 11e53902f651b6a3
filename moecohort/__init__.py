"""moecohort: sync MoEngage segments from one app (workspace) to another as cohorts.

The modules follow the way data flows; each imports only from those before it:

1. :mod:`~moecohort.errors` (every exception) and ``_constants`` (the API facts);
2. :mod:`~moecohort.credentials`: the apps' keys, validated once, masked everywhere;
3. :mod:`~moecohort.ids`: the canonical form of user ids, and anonymous users;
4. :mod:`~moecohort.input`: the distinct ids of a push or sync's input, in memory or
   spooled on disk;
5. :mod:`~moecohort.matching`: the overlap of two apps' ids, near misses, its engines;
6. :mod:`~moecohort.payload`: cohort names and ids, envelopes, packing into bodies;
7. :mod:`~moecohort.transport`: HTTP, pacing and retries (:class:`RetryPolicy`);
8. :mod:`~moecohort.delivery`: the engine that push and sync drive (runner, failures,
   progress, settings);
9. :mod:`~moecohort.lookup`: what the destination knows, without an export
   (:func:`lookup_users`, :func:`estimate_presence`, :func:`keep_in_destination`, the
   segments list);
10. :mod:`~moecohort.results`: what a delivery did (:class:`PushResult`, :class:`SyncResult`);
11. :mod:`~moecohort.push` and :mod:`~moecohort.sync` (mirror sync and its state);
12. :mod:`~moecohort.checks`: :func:`preflight`, the checks before a push;
    :mod:`~moecohort.fanout`: one cohort to several apps at once (:func:`push_to_apps`,
    :func:`sync_to_apps`);
13. the faces: the ``df.moe`` accessor, the ``moecohort`` command (:mod:`~moecohort.cli`),
    :mod:`moecohort.widgets`, :mod:`moecohort.charts` and :mod:`moecohort.demo`.

:mod:`moecohort.emulator`, a local stand-in for the MoEngage APIs, imports nothing from
the client, so it catches the client's mistakes instead of repeating them.

``import moecohort`` is cheap: the names below are loaded when first used, and ``df.moe``
is registered as soon as pandas is imported too.
"""

from __future__ import annotations

import importlib
import logging as _logging
from typing import TYPE_CHECKING, Any

from ._constants import VERSION as __version__
from ._hooks import after_import
from .errors import (
    AccountSuspendedError,
    AllAnonymousError,
    APIError,
    AuthenticationError,
    CohortNameError,
    ConfigurationError,
    EmptyInputError,
    InputError,
    LookupFailedError,
    LookupsNotEnabledError,
    MoEngageError,
    PayloadTooLargeError,
    PushFailedError,
    RateLimitError,
    SyncLockedError,
    TooManyLookupsError,
)

if TYPE_CHECKING:  # pragma: no cover - what __getattr__ loads, for type checkers
    from .checks import PreflightReport, preflight
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
    from .fanout import MultiAppResult, push_to_apps, sync_to_apps
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
    from .lookup import (
        LookupResult,
        PresenceEstimate,
        SegmentList,
        estimate_presence,
        find_segments,
        keep_in_destination,
        lookup_users,
    )
    from .matching import OverlapReport, overlap
    from .payload import cohort_id_for, suggest_cohort_name, validate_cohort_name
    from .push import ConnectionCheck, check_connection, push_cohort
    from .results import DeliveryResult, PushResult, SyncResult
    from .sync import SyncState, sync_changes, sync_cohort, sync_log

#: Where each lazily loaded public name lives.
_LAZY: dict[str, str] = {
    **dict.fromkeys(
        [
            "AppCredentials",
            "ProfileStore",
            "SecretStr",
            "get_credentials",
            "list_profiles",
            "load_profile",
            "remove_profile",
            "save_profile",
        ],
        "credentials",
    ),
    **dict.fromkeys(
        [
            "DEFAULT_PLACEHOLDERS",
            "AnonymousReport",
            "anonymous_reasons",
            "anonymous_report",
            "canonical_ids",
            "drop_anonymous",
            "is_anonymous",
        ],
        "ids",
    ),
    **dict.fromkeys(["PreparedIds", "prepare_ids"], "input"),
    **dict.fromkeys(["OverlapReport", "overlap"], "matching"),
    **dict.fromkeys(
        [
            "LookupResult",
            "PresenceEstimate",
            "SegmentList",
            "estimate_presence",
            "find_segments",
            "keep_in_destination",
            "lookup_users",
        ],
        "lookup",
    ),
    **dict.fromkeys(["PreflightReport", "preflight"], "checks"),
    **dict.fromkeys(["MultiAppResult", "push_to_apps", "sync_to_apps"], "fanout"),
    **dict.fromkeys(["cohort_id_for", "suggest_cohort_name", "validate_cohort_name"], "payload"),
    **dict.fromkeys(["ConnectionCheck", "check_connection", "push_cohort"], "push"),
    **dict.fromkeys(["DeliveryResult", "PushResult", "SyncResult"], "results"),
    **dict.fromkeys(["SyncState", "sync_changes", "sync_cohort", "sync_log"], "sync"),
}

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
    "LookupFailedError",
    "LookupResult",
    "LookupsNotEnabledError",
    "MoEngageError",
    "MultiAppResult",
    "OverlapReport",
    "PayloadTooLargeError",
    "PreflightReport",
    "PreparedIds",
    "PresenceEstimate",
    "ProfileStore",
    "PushFailedError",
    "PushResult",
    "RateLimitError",
    "SecretStr",
    "SegmentList",
    "SyncLockedError",
    "SyncResult",
    "SyncState",
    "TooManyLookupsError",
    "__version__",
    "anonymous_reasons",
    "anonymous_report",
    "canonical_ids",
    "check_connection",
    "cohort_id_for",
    "drop_anonymous",
    "estimate_presence",
    "find_segments",
    "get_credentials",
    "is_anonymous",
    "keep_in_destination",
    "list_profiles",
    "load_profile",
    "lookup_users",
    "overlap",
    "preflight",
    "prepare_ids",
    "push_cohort",
    "push_to_apps",
    "remove_profile",
    "save_profile",
    "suggest_cohort_name",
    "sync_changes",
    "sync_cohort",
    "sync_log",
    "sync_to_apps",
    "validate_cohort_name",
]


def __getattr__(name: str) -> Any:
    module = _LAZY.get(name)
    if module is None:
        raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
    value = getattr(importlib.import_module(f"{__name__}.{module}"), name)
    globals()[name] = value
    return value


def __dir__() -> list[str]:
    return sorted({*globals(), *__all__})


def _register_accessor() -> None:
    importlib.import_module(f"{__name__}.accessor")  # registers df.moe


# df.moe: now if pandas is loaded already, else the moment it is.
after_import("pandas", _register_accessor)

# A library never prints by itself: logging stays silent until the application configures it.
_logging.getLogger("moecohort").addHandler(_logging.NullHandler())
