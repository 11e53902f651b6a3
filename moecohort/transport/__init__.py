"""Transport: HTTP to MoEngage, paced and retried.

* :mod:`~moecohort.transport.pacer`: :class:`Pacer`, even spacing under the rate limit;
* :mod:`~moecohort.transport.budget`: :class:`BudgetStore`, one rate budget per (host,
  workspace, limit) for every process of the machine, and
  :mod:`~moecohort.transport.shared_pacer`: :class:`SharedPacer`, the Pacer that uses it
  (:mod:`~moecohort.transport.holders` tells live processes from dead ones);
* :mod:`~moecohort.transport.retry`: :class:`RetryPolicy`, a frozen value (like urllib3's
  ``Retry``);
* :mod:`~moecohort.transport.http`: :class:`Transport`, one endpoint's requests (Cohort Sync,
  or another :class:`Endpoint`), and the :class:`Reply` each ends with.
"""

from __future__ import annotations

from .budget import (
    BUDGET_DIR_ENV,
    COHORT_SYNC_LIMIT,
    GET_USER_LIMIT,
    SHARED_BUDGET_ENV,
    BudgetKey,
    BudgetStore,
    default_budget_dir,
    shared_budget_enabled,
)
from .http import (
    DEFAULT_MAX_IN_FLIGHT,
    MAX_IN_FLIGHT_LIMIT,
    NOT_SENT,
    USER_AGENT,
    Endpoint,
    Reply,
    Transport,
    TransportStats,
)
from .pacer import Pacer, Rate, check_rate
from .retry import DEFAULT_RETRY, RETRY_STATUSES, RetryPolicy, default_retry
from .shared_pacer import SharedPacer, pacer_for

__all__ = [
    "BUDGET_DIR_ENV",
    "COHORT_SYNC_LIMIT",
    "DEFAULT_MAX_IN_FLIGHT",
    "DEFAULT_RETRY",
    "GET_USER_LIMIT",
    "MAX_IN_FLIGHT_LIMIT",
    "NOT_SENT",
    "RETRY_STATUSES",
    "SHARED_BUDGET_ENV",
    "USER_AGENT",
    "BudgetKey",
    "BudgetStore",
    "Endpoint",
    "Pacer",
    "Rate",
    "Reply",
    "RetryPolicy",
    "SharedPacer",
    "Transport",
    "TransportStats",
    "check_rate",
    "default_budget_dir",
    "default_retry",
    "pacer_for",
    "shared_budget_enabled",
]
