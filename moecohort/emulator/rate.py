"""Rate windows: fixed windows per workspace, and the ``x-ratelimit-*`` headers they send.

MoEngage documents 300 requests per minute for Cohort Sync, 1,000 users per minute for the
Get User API, and minute/hour/day request limits for the Custom Segments API; on its
rate-limited APIs it sends ``x-ratelimit-limit``, ``x-ratelimit-remaining`` and
``x-ratelimit-reset`` (seconds left in the window) on every response. Windows live in
memory only: they are not persisted.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass, field

from .facts import RATE_WINDOW_S

__all__ = ["Headers", "RateWindow", "WindowSet"]

#: Response headers, as ``(name, value)`` pairs.
Headers = list[tuple[str, str]]


@dataclass
class RateWindow:
    """A fixed window of ``length`` seconds (default :data:`~.facts.RATE_WINDOW_S`) counting
    one workspace's units (requests, or users for the Get User API).

    The window opens at the first use and a new one opens at the first use after it ends.
    """

    start: float | None = None
    count: int = 0
    length: float = RATE_WINDOW_S

    def clear(self) -> None:
        """Forget the current window."""
        self.start, self.count = None, 0

    def roll(self, now: float) -> None:
        """Open a new window at ``now`` (a monotonic clock, in seconds) if none is open."""
        if self.start is None or now >= self.start + self.length:
            self.start = now
            self.count = 0

    def remaining(self, limit: int) -> int:
        """Units left in the current window (never negative)."""
        return max(0, limit - self.count)

    def reset_in(self, now: float) -> int:
        """Whole seconds until the current window ends, rounded up, at least 1."""
        start = now if self.start is None else self.start
        return max(1, math.ceil(start + self.length - now))

    def headers(self, now: float, limit: int | None) -> Headers:
        """The ``x-ratelimit-*`` headers for the current window; none when ``limit`` is None."""
        if limit is None:
            return []
        self.roll(now)
        return [
            ("x-ratelimit-limit", str(limit)),
            ("x-ratelimit-remaining", str(self.remaining(limit))),
            ("x-ratelimit-reset", str(self.reset_in(now))),
        ]

    def hit(self, now: float, limit: int | None, cost: int = 1) -> tuple[bool, Headers]:
        """Count ``cost`` units at ``now``, whether they fit or not.

        Returns ``(over, headers)``: ``over`` is True when the count is now beyond
        ``limit``; ``headers`` are the ``x-ratelimit-*`` headers to send, none when
        ``limit`` is None (unlimited).
        """
        self.roll(now)
        self.count += cost
        if limit is None:
            return False, []
        return self.count > limit, self.headers(now, limit)

    def take(self, now: float, limit: int | None, cost: int) -> bool:
        """Count ``cost`` units at ``now`` only if they all fit; True when they did.

        All or nothing: units that do not all fit in what is left are refused whole and
        nothing is counted. Unlimited (``limit`` None) always fits.
        """
        self.roll(now)
        if limit is not None and self.count + cost > limit:
            return False
        self.count += cost
        return True


@dataclass
class WindowSet:
    """Several windows counted together (the Custom Segments API: minute, hour, day).

    Every request counts in every window, including the ones refused. The headers describe
    the window with the fewest units left (the shortest of those on a tie): the one that
    decides when the client may go on.
    """

    windows: list[RateWindow] = field(default_factory=list)

    @classmethod
    def of(cls, lengths: Sequence[float]) -> WindowSet:
        """Empty windows of the given lengths (seconds), shortest first."""
        return cls([RateWindow(length=length) for length in sorted(lengths)])

    def clear(self) -> None:
        """Forget every window."""
        for window in self.windows:
            window.clear()

    def hit(self, now: float, limits: Sequence[tuple[float, int]] | None) -> tuple[bool, Headers]:
        """Count one request in every window; ``limits`` is ``(length, limit)`` pairs matching
        the windows (None: unlimited, counts nothing, sends no headers).

        Returns ``(over, headers)``: ``over`` is True when any window is beyond its limit.
        """
        if limits is None:
            return False, []
        by_length = dict(limits)
        over = False
        binding: tuple[int, float, RateWindow, int] | None = None
        for window in self.windows:
            limit = by_length[window.length]
            window.roll(now)
            window.count += 1
            over = over or window.count > limit
            key = (window.remaining(limit), window.length, window, limit)
            if binding is None or key[:2] < binding[:2]:
                binding = key
        if binding is None:
            return over, []
        _, _, window, limit = binding
        return over, window.headers(now, limit)
