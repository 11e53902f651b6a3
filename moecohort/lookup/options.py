"""How to look users up, checked once: the pace, the requests in flight, retries, timeouts,
the clock, the HTTP session and the progress display.

Every function that looks users up (``lookup_users``, ``estimate_presence``,
``keep_in_destination`` with an app, ``preflight``) takes these as keyword arguments.
"""

from __future__ import annotations

import math
import time
from dataclasses import dataclass
from typing import Any, Protocol

import requests

from .._constants import LOOKUPS_PER_MINUTE, MAX_LOOKUP_IDENTIFIERS
from ..delivery import ProgressOption, check_settings
from ..errors import ConfigurationError, TooManyLookupsError
from ..transport import Pacer, RetryPolicy

__all__ = [
    "DEFAULT_LOOKUP_IN_FLIGHT",
    "MAX_EXACT_LOOKUPS",
    "Clock",
    "LookupOptions",
    "check_count",
    "check_limit",
]

#: Requests in flight at most, unless ``max_in_flight`` says otherwise. Lookups go out 1.2 s
#: apart (50 a minute), so a few are enough to hold the pace even when an answer takes
#: several seconds.
DEFAULT_LOOKUP_IN_FLIGHT = 4


#: Most distinct ids looked up one by one unless the caller raises it (``max_lookups=``):
#: 10 minutes at the Get User API's 1,000 users a minute.
MAX_EXACT_LOOKUPS = 10_000


def check_limit(max_lookups: object) -> int:
    """``max_lookups`` as an int >= 1; :class:`ConfigurationError` otherwise."""
    if isinstance(max_lookups, bool) or not isinstance(max_lookups, int) or max_lookups < 1:
        raise ConfigurationError(
            f"max_lookups must be an int >= 1, not {max_lookups!r}.", setting="max_lookups"
        )
    return max_lookups


def check_count(n: int, max_lookups: int, users_per_minute: float, instead: str) -> None:
    """Refuse to look ``n`` ids up one by one when that is more than ``max_lookups``:
    :class:`TooManyLookupsError` naming the limit, the time it would take and ``instead``."""
    if n <= max_lookups:
        return
    minutes = n / users_per_minute
    took = f"{minutes:,.0f} minutes" if minutes < 120 else f"{minutes / 60:,.1f} hours"
    raise TooManyLookupsError(
        f"Looking up all {n:,} distinct ids would take about {took} at the Get User API's "
        f"{users_per_minute:,.0f} users a minute, more than the limit of {max_lookups:,} ids "
        f"(max_lookups={max_lookups:,}). {instead} Or raise max_lookups if the wait is "
        "worth it.",
        ids=n,
        limit=max_lookups,
        param="max_lookups",
    )


class Clock(Protocol):
    """A monotonic clock that can also wait: ``clock()`` is the time in seconds,
    ``clock.sleep(s)`` waits ``s`` seconds of it. Tests pass a fake one, so that the pacing
    and the retry waits take no real time."""

    def __call__(self) -> float: ...

    def sleep(self, seconds: float) -> None: ...


@dataclass(frozen=True)
class LookupOptions:
    """Lookup settings, each already checked (:meth:`of`)."""

    #: Users looked up a minute at most, every attempt (retries too) counted as 20.
    users_per_minute: float
    workers: int
    retry: RetryPolicy
    timeout: tuple[float, float]
    clock: Clock | None = None
    session: requests.Session | None = None
    progress: ProgressOption = "auto"

    @classmethod
    def of(
        cls,
        *,
        users_per_minute: object = LOOKUPS_PER_MINUTE,
        max_in_flight: object = None,
        max_retries: object = 5,
        timeout: object = (10.0, 60.0),
        clock: Clock | None = None,
        session: requests.Session | None = None,
        progress: ProgressOption = "auto",
    ) -> LookupOptions:
        """Check every setting; the error names the first one at fault.

        * ``users_per_minute``: the pace, 1,000 (the Get User API's limit) unless lower is
          asked for (to leave room for another client of the same workspace);
        * ``max_in_flight``: requests in flight at most (default
          :data:`DEFAULT_LOOKUP_IN_FLIGHT`);
        * ``max_retries``, ``timeout``: as for ``push_cohort``;
        * ``clock``: a :class:`Clock` driving the pacing and the retry waits (tests);
        * ``session``: a ``requests.Session`` to send with (proxies, certificates);
        * ``progress``: ``"auto"``, True, False or ``callback(done, total)``.
        """
        if (
            isinstance(users_per_minute, bool)
            or not isinstance(users_per_minute, (int, float))
            or not 0 < users_per_minute < math.inf
        ):
            raise ConfigurationError(
                f"users_per_minute must be a number above 0, not {users_per_minute!r} "
                f"(the Get User API allows {LOOKUPS_PER_MINUTE:,} users a minute).",
                setting="users_per_minute",
            )
        settings = check_settings(
            max_in_flight=DEFAULT_LOOKUP_IN_FLIGHT if max_in_flight is None else max_in_flight,
            max_retries=max_retries,
            timeout=timeout,
        )
        if clock is not None and not (callable(clock) and callable(getattr(clock, "sleep", None))):
            raise ConfigurationError(
                "clock must be callable (the time in seconds) and have a sleep(seconds) method.",
                setting="clock",
            )
        return cls(
            users_per_minute=float(users_per_minute),
            workers=settings.workers,
            retry=settings.retry,
            timeout=settings.timeout,
            clock=clock,
            session=session,
            progress=progress,
        )

    @classmethod
    def from_kwargs(cls, progress: ProgressOption, options: dict[str, Any]) -> LookupOptions:
        """:meth:`of` for functions that pass their lookup settings on as ``**options``;
        an unknown name is a :class:`ConfigurationError` listing the known ones."""
        known = {"users_per_minute", "max_in_flight", "max_retries", "timeout", "clock", "session"}
        unknown = sorted(set(options) - known)
        if unknown:
            raise ConfigurationError(
                f"unknown lookup setting(s): {', '.join(unknown)} "
                f"(known: {', '.join(sorted(known))}).",
                setting=unknown[0],
            )
        return cls.of(progress=progress, **options)

    def now(self) -> float:
        """The time on :attr:`clock` (``time.monotonic`` when none was given)."""
        return self.clock() if self.clock is not None else time.monotonic()

    @property
    def requests_per_minute(self) -> float:
        """The pace in requests: each request holds at most 20 ids."""
        return self.users_per_minute / MAX_LOOKUP_IDENTIFIERS

    def pacer(self) -> Pacer | None:
        """A pacer at :attr:`requests_per_minute` on :attr:`clock` when one is given; None
        otherwise: the transport then spends the workspace's Get User budget, shared by
        every moecohort process of the machine."""
        if self.clock is None:
            return None
        return Pacer(self.requests_per_minute, clock=self.clock, sleep=self.clock.sleep)
