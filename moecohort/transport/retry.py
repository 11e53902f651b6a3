"""Retries as a value: which answers are retried, how often, and how long to wait.

:class:`RetryPolicy` is a frozen value object in the spirit of urllib3's ``Retry``:
the transport asks it, and a different policy is a different object (``with_``),
never a changed setting.
"""

from __future__ import annotations

import dataclasses
import email.utils
import math
import random
import time
from dataclasses import dataclass
from typing import Any

from ..errors import ConfigurationError

__all__ = [
    "DEFAULT_RETRY",
    "RETRY_STATUSES",
    "RetryPolicy",
    "default_retry",
    "header_float",
    "retry_after_seconds",
]

#: HTTP statuses worth another attempt: the rate limit and the server's transient errors.
RETRY_STATUSES = frozenset({429, 500, 502, 503, 504})


def _seconds(value: Any, name: str) -> float:
    if isinstance(value, bool) or not isinstance(value, (int, float)) or not value >= 0:
        raise ConfigurationError(f"{name} must be seconds >= 0, not {value!r}.", setting=name)
    if not math.isfinite(value):
        raise ConfigurationError(f"{name} must be a finite number, not {value!r}.", setting=name)
    return float(value)


@dataclass(frozen=True)
class RetryPolicy:
    """When and how long to retry.

    Retried: :data:`RETRY_STATUSES`, timeouts and connection errors, up to
    ``max_retries`` times after the first attempt. A 429 waits as long as the server
    says (``Retry-After`` or ``x-ratelimit-reset``, at most ``max_retry_after_s``);
    everything else waits an exponential backoff with "equal jitter": half of
    ``min(backoff_cap_s, backoff_base_s * 2**(attempt - 1))`` fixed, half random.
    """

    max_retries: int = 5
    backoff_base_s: float = 0.5
    backoff_cap_s: float = 30.0
    #: Longest wait honoured from a ``Retry-After`` header; longer asks are shortened.
    max_retry_after_s: float = 120.0

    def __post_init__(self) -> None:
        retries = self.max_retries
        if isinstance(retries, bool) or not isinstance(retries, int) or retries < 0:
            raise ConfigurationError(
                f"max_retries must be an int >= 0, not {retries!r}.", setting="max_retries"
            )
        for name in ("backoff_base_s", "backoff_cap_s", "max_retry_after_s"):
            object.__setattr__(self, name, _seconds(getattr(self, name), name))

    def with_(self, **changes: Any) -> RetryPolicy:
        """A copy with ``changes`` applied (checked like a new policy)."""
        return dataclasses.replace(self, **changes)

    def retries(self, status: int | None) -> bool:
        """Whether an answer with this status (None: no response) is worth retrying."""
        return status is None or status in RETRY_STATUSES

    def backoff(self, attempt: int, rng: random.Random) -> float:
        """Seconds to wait after failed attempt number ``attempt`` (1 for the first)."""
        ceiling = min(self.backoff_cap_s, self.backoff_base_s * (2 ** (attempt - 1)))
        return ceiling / 2 + rng.uniform(0, ceiling / 2)


#: The policy used when none is given (``max_retries`` is usually set per call).
DEFAULT_RETRY = RetryPolicy()


def default_retry(max_retries: int | None = None) -> RetryPolicy:
    """:data:`DEFAULT_RETRY` (read when called), with ``max_retries`` when given."""
    policy = DEFAULT_RETRY
    return policy if max_retries is None else policy.with_(max_retries=max_retries)


def header_float(value: str | None) -> float | None:
    """A header's value as a finite number, or None."""
    if value is None:
        return None
    try:
        number = float(value)
    except ValueError:
        return None
    return number if math.isfinite(number) else None


def retry_after_seconds(value: str | None) -> float | None:
    """Retry-After as seconds (it may be a number or an HTTP date)."""
    if not value:
        return None
    seconds = header_float(value)
    if seconds is not None:
        return max(0.0, seconds)
    try:
        when = email.utils.parsedate_to_datetime(value)
    except (TypeError, ValueError):
        return None
    return max(0.0, when.timestamp() - time.time())
