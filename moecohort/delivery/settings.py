"""How to deliver, checked once before anything is read or sent: the action, the wire
format, the pace (and whether it is shared with the machine's other processes), the
number of requests in flight, the retries and the timeouts."""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Literal

from .._constants import DEFAULT_REQUESTS_PER_MINUTE
from ..errors import ConfigurationError, InputError
from ..payload import WireFormat, check_wire_format
from ..transport import (
    DEFAULT_MAX_IN_FLIGHT,
    MAX_IN_FLIGHT_LIMIT,
    RetryPolicy,
    check_rate,
    shared_budget_enabled,
)
from ..transport.retry import default_retry

__all__ = ["Action", "Settings", "Timeout", "check_action", "check_settings"]

Action = Literal["add", "remove"]
_ACTIONS: dict[str, Action] = {"add": "add", "remove": "remove"}
#: Seconds, or a (connect, read) pair of them.
Timeout = float | tuple[float, float]


@dataclass(frozen=True)
class Settings:
    """Delivery settings, each already checked (:func:`check_settings`)."""

    wire_format: WireFormat
    requests_per_minute: float
    #: Requests in flight at most (threads and pooled connections).
    workers: int
    retry: RetryPolicy
    timeout: tuple[float, float]
    #: Share the workspace's rate budget with the machine's other moecohort processes
    #: (:mod:`moecohort.transport.budget`); resolved from ``$MOECOHORT_SHARED_BUDGET``
    #: when not given.
    shared_budget: bool = True


def check_action(action: object) -> Action:
    """``action`` as an :data:`Action`; :class:`InputError` otherwise."""
    found = _ACTIONS.get(action) if isinstance(action, str) else None
    if found is None:
        raise InputError(f"action must be 'add' or 'remove', not {action!r}.", param="action")
    return found


def check_settings(
    *,
    wire_format: object = "segment_sync",
    requests_per_minute: object = DEFAULT_REQUESTS_PER_MINUTE,
    max_in_flight: object = None,
    max_retries: object = 5,
    timeout: object = (10.0, 60.0),
    shared_budget: object = None,
) -> Settings:
    """Check every delivery setting; the error names the first one at fault.

    ``shared_budget``: True or False, or None for the default: on, unless
    ``$MOECOHORT_SHARED_BUDGET`` is ``0`` (``false``, ``no``, ``off``).
    """
    checked_timeout = _timeout(timeout)
    return Settings(
        wire_format=check_wire_format(wire_format),
        requests_per_minute=check_rate(requests_per_minute),
        workers=_workers(max_in_flight),
        retry=_retry(max_retries),
        timeout=checked_timeout,
        shared_budget=shared_budget_enabled(shared_budget),
    )


def _timeout(timeout: object) -> tuple[float, float]:
    parts = timeout if isinstance(timeout, (tuple, list)) else (timeout, timeout)
    if len(parts) != 2 or not all(
        isinstance(t, (int, float)) and not isinstance(t, bool) and 0 < t < math.inf for t in parts
    ):
        raise ConfigurationError(
            "timeout must be seconds (a positive number) or a (connect, read) pair of them, "
            f"not {timeout!r}.",
            setting="timeout",
        )
    return (float(parts[0]), float(parts[1]))


def _workers(max_in_flight: object) -> int:
    if max_in_flight is None:
        return DEFAULT_MAX_IN_FLIGHT
    if (
        isinstance(max_in_flight, bool)
        or not isinstance(max_in_flight, int)
        or not 1 <= max_in_flight <= MAX_IN_FLIGHT_LIMIT
    ):
        raise ConfigurationError(
            f"max_in_flight must be None or an int from 1 to {MAX_IN_FLIGHT_LIMIT}, "
            f"not {max_in_flight!r}.",
            setting="max_in_flight",
        )
    return max_in_flight


def _retry(max_retries: object) -> RetryPolicy:
    if isinstance(max_retries, bool) or not isinstance(max_retries, int) or max_retries < 0:
        raise ConfigurationError(
            f"max_retries must be an int >= 0, not {max_retries!r}.", setting="max_retries"
        )
    return default_retry(max_retries)
