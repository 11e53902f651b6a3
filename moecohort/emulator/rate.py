"""Rate windows: one fixed window per workspace, and the ``x-ratelimit-*`` headers it sends.

MoEngage documents 300 requests per minute for Cohort Sync and, on its rate-limited APIs,
``x-ratelimit-limit``, ``x-ratelimit-remaining`` and ``x-ratelimit-reset`` (seconds left in
the 60 s window) on every response. Windows live in memory only: they are not persisted.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

from .facts import RATE_WINDOW_S

__all__ = ["RateWindow"]


@dataclass
class RateWindow:
    """A fixed window of :data:`~.facts.RATE_WINDOW_S` seconds counting one workspace's requests.

    The window opens at the first request and a new one opens at the first request after
    it ends. Every request counts, including the ones it rejects.
    """

    start: float | None = None
    count: int = 0

    def clear(self) -> None:
        """Forget the current window."""
        self.start, self.count = None, 0

    def hit(self, now: float, limit: int | None) -> tuple[bool, list[tuple[str, str]]]:
        """Count one request at ``now`` (a monotonic clock, in seconds).

        Returns ``(over, headers)``: ``over`` is True when the request is beyond ``limit``;
        ``headers`` are the ``x-ratelimit-*`` headers to send, none when ``limit`` is None
        (unlimited).
        """
        if self.start is None or now >= self.start + RATE_WINDOW_S:
            self.start = now
            self.count = 0
        self.count += 1
        if limit is None:
            return False, []
        remaining = max(0, limit - self.count)
        reset = max(1, math.ceil(self.start + RATE_WINDOW_S - now))
        headers = [
            ("x-ratelimit-limit", str(limit)),
            ("x-ratelimit-remaining", str(remaining)),
            ("x-ratelimit-reset", str(reset)),
        ]
        return self.count > limit, headers
