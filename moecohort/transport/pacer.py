"""Pacing: request starts spaced evenly under a requests-per-minute limit.

:class:`Pacer` is written here rather than taken from a rate-limit library because
it must (1) count every attempt, retries included, (2) hold two windows at once
(at most ``rpm`` requests in any 60 s and ``ceil(rpm/60)`` in any second) on the
actual send times, (3) spread requests evenly rather than in bursts, and (4) be
paused globally by server hints (``Retry-After``, ``x-ratelimit-*``), none of which
the common limiters do together.
"""

from __future__ import annotations

import collections
import math
import threading
import time
from collections.abc import Callable

from .._constants import RATE_WINDOW_S
from ..errors import ConfigurationError

__all__ = ["Pacer", "check_rate"]


def check_rate(requests_per_minute: object) -> float:
    """``requests_per_minute`` as a float above 0; :class:`ConfigurationError` otherwise."""
    if isinstance(requests_per_minute, bool) or not isinstance(requests_per_minute, (int, float)):
        raise ConfigurationError(
            f"requests_per_minute must be a number, not {requests_per_minute!r}.",
            setting="requests_per_minute",
        )
    if not 0 < requests_per_minute < math.inf:
        raise ConfigurationError(
            f"requests_per_minute must be above 0, not {requests_per_minute!r} "
            "(MoEngage allows 300 per minute).",
            setting="requests_per_minute",
        )
    return float(requests_per_minute)


class Pacer:
    """Spaces request starts evenly at ``rpm`` per minute, never exceeding
    ``rpm`` in any 60 s window nor ``ceil(rpm/60)`` in any 1 s window.

    ``acquire()`` blocks until the caller may send. Slots are scheduled on a grid
    (``60/rpm`` apart) so the long-run rate is exactly ``rpm`` even when a thread
    wakes a little late; the two sliding windows are then checked against the
    actual send times, so a late start never lets the next one crowd in.
    """

    def __init__(
        self,
        requests_per_minute: float,
        *,
        clock: Callable[[], float] = time.monotonic,
        sleep: Callable[[float], None] = time.sleep,
    ) -> None:
        rate = check_rate(requests_per_minute)
        self._clock = clock
        self._sleep = sleep
        self._gate = threading.Lock()  # one waiter at a time: FIFO-ish, no thundering herd
        self._lock = threading.Lock()
        self._next = -math.inf
        self._paused_until = -math.inf
        self._sent: collections.deque[float] = collections.deque()
        self._set_rate(rate)

    def acquire(self, cancel: threading.Event | None = None) -> float | None:
        """Block until a request may start; return its start time (None, without
        taking a slot, once ``cancel`` is set)."""
        with self._gate:
            while True:
                if cancel is not None and cancel.is_set():
                    return None
                with self._lock:
                    now = self._clock()
                    at = max(self._next, self._paused_until, self._window_ok())
                    if at <= now:
                        if now > self._next + self.interval:
                            # Idle (or first call): start a new grid, no catch-up burst.
                            self._next = now + self.interval
                        else:
                            # On the grid; a late wake may be made up by at most half a slot.
                            self._next = max(self._next + self.interval, now + self.interval / 2)
                        self._sent.append(now)
                        return now
                if cancel is not None and self._sleep is time.sleep:
                    cancel.wait(at - now)  # wakes at once when the push stops
                else:
                    self._sleep(at - now)

    def _window_ok(self) -> float:
        """Earliest time both sliding windows allow another start."""
        sent = self._sent
        earliest = -math.inf
        if len(sent) >= self.per_window:
            earliest = sent[-self.per_window] + RATE_WINDOW_S
        if len(sent) >= self.per_second:
            earliest = max(earliest, sent[-self.per_second] + 1.0)
        return earliest

    def _set_rate(self, rpm: float) -> None:
        self.rpm = rpm
        self.interval = RATE_WINDOW_S / rpm
        self.per_second = math.ceil(rpm / RATE_WINDOW_S)
        self.per_window = max(1, math.floor(rpm))
        self._sent = collections.deque(self._sent, maxlen=self.per_window)

    def slow_to(self, requests_per_minute: float) -> bool:
        """Lower the pace (never raise it), e.g. to a limit the server announced.
        Returns True when the pace changed."""
        with self._lock:
            if not 0 < requests_per_minute < self.rpm:
                return False
            self._set_rate(float(requests_per_minute))
            if self._sent:  # the next start keeps the new spacing from the last one
                self._next = max(self._next, self._sent[-1] + self.interval)
            return True

    def pause_until(self, when: float) -> None:
        """Hold every start until ``when`` (a ``clock()`` time)."""
        with self._lock:
            self._paused_until = max(self._paused_until, when)

    def pause_for(self, seconds: float) -> None:
        self.pause_until(self._clock() + max(0.0, seconds))
