"""Transport: HTTP to MoEngage, paced and retried.

* :mod:`~moecohort.transport.pacer`: :class:`Pacer`, even spacing under the rate limit;
* :mod:`~moecohort.transport.retry`: :class:`RetryPolicy`, a frozen value (like urllib3's
  ``Retry``);
* :mod:`~moecohort.transport.http`: :class:`Transport`, one endpoint's requests (Cohort Sync,
  or another :class:`Endpoint`), and the :class:`Reply` each ends with.
"""

from __future__ import annotations

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
from .pacer import Pacer, check_rate
from .retry import DEFAULT_RETRY, RETRY_STATUSES, RetryPolicy, default_retry

__all__ = [
    "DEFAULT_MAX_IN_FLIGHT",
    "DEFAULT_RETRY",
    "MAX_IN_FLIGHT_LIMIT",
    "NOT_SENT",
    "RETRY_STATUSES",
    "USER_AGENT",
    "Endpoint",
    "Pacer",
    "Reply",
    "RetryPolicy",
    "Transport",
    "TransportStats",
    "check_rate",
    "default_retry",
]
