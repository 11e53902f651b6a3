"""Pacing: request starts spaced evenly under a requests-per-minute limit.

:class:`Pacer` is written here rather than taken from a rate-limit library because
it must (1) count every attempt, retries included, (2) hold two windows at once
(at most ``rpm`` requests in any 60 s and ``ceil(rpm/60)`` in any second) on the
actual send times, (3) spread requests evenly rather than in bursts, and (4) be
paused globally by server hints (``Retry-After``, ``x-ratelimit-*``), none of which
the common limiters do together.

:class:`~moecohort.transport.shared_pacer.SharedPacer` holds the same rules for every
moecohort process of a machine that sends to one workspace (see
:mod:`~moecohort.transport.budget`).
"""

from __future__ import annotations

import collections
import math
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass

from .._constants import RATE_WINDOW_S
from ..errors import ConfigurationError

__all__ = ["Pacer", "Rate", "check_rate", "following"]


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


@dataclass(frozen=True)
class Rate:
    """What a pace of ``rpm`` requests per minute allows: starts ``interval`` seconds
    apart, at most ``per_second`` in any second and ``per_window`` in any 60 s."""

    rpm: float

    @property
    def interval(self) -> float:
        return RATE_WINDOW_S / self.rpm

    @property
    def per_second(self) -> int:
        return math.ceil(self.rpm / RATE_WINDOW_S)

    @property
    def per_window(self) -> int:
        return max(1, math.floor(self.rpm))


def following(grid: float, start: float, interval: float) -> float:
    """The earliest start after one at ``start`` that was due at ``grid``: on the grid
    (a late start is made up by at most half a slot), or a new grid after an idle spell."""
    if start > grid + interval:
        return start + interval  # idle (or first call): a new grid, no catch-up burst
    return max(grid + interval, start + interval / 2)


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
            return self._take(cancel)

    def _take(self, cancel: threading.Event | None) -> float | None:
        """:meth:`acquire`, the gate held."""
        while True:
            if cancel is not None and cancel.is_set():
                return None
            with self._lock:
                now = self._clock()
                at = max(self._next, self._paused_until, self._window_ok())
                if at <= now:
                    # On the grid (a late wake is made up by at most half a slot), or
                    # a new grid after an idle spell: no catch-up burst.
                    self._next = following(self._next, now, self.interval)
                    self._sent.append(now)
                    return now
            self._wait(at - now, cancel)

    def _wait(self, seconds: float, cancel: threading.Event | None) -> None:
        if cancel is not None and self._sleep is time.sleep:
            cancel.wait(seconds)  # wakes at once when the push stops
        else:
            self._sleep(seconds)

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
        rate = Rate(rpm)
        self.rpm = rpm
        self.interval = rate.interval
        self.per_second = rate.per_second
        self.per_window = rate.per_window
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

    def close(self) -> None:
        """Let go of what the pacer holds (nothing here; a shared pacer's store)."""
