"""Fault injection: the :class:`Faults` settings and the per-request dice roll."""

from __future__ import annotations

import dataclasses
import random
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from .common import check_rpm, is_number

__all__ = ["FaultDraw", "Faults"]


@dataclass(frozen=True)
class FaultDraw:
    """What the fault dice decided for one request."""

    drop_before: bool
    error_500: bool
    rate_429: bool
    drop_after: bool
    delay_s: float


@dataclass(frozen=True)
class Faults:
    """Faults to inject into API requests that pass authentication and the account check:
    Cohort Sync, the Get User API and the Custom Segments API alike, all drawing from the
    same dice in arrival order.

    Probabilities are in ``[0, 1]`` and drawn independently for every such request, in
    arrival order, from the emulator's seeded ``random.Random`` (five draws per request,
    whatever the settings, so a seed always gives the same sequence). When several hit,
    the first of ``drop_before``, ``error_500``, ``rate_429`` wins; ``drop_after`` applies
    to whatever the request would otherwise have answered.

    Attributes:
        error_500: answer a 500 (``Server Error``; ``ServerError`` on the Get User API;
            the Custom Segments envelope there); nothing is applied or counted.
        rate_429: answer a 429 (``Rate Limits Exceeded``; ``RateLimitError`` on the Get
            User API; "Too Many Requests" on the Custom Segments API); nothing is applied.
        retry_after: seconds for a ``Retry-After`` header on every 429 (injected or real)
            and injected 500; ``None`` sends no header.
        drop_before: close the connection without a response; nothing is applied.
        drop_after: apply the request, then close the connection without a response.
        latency_s: delay every such request by this many seconds ...
        latency_jitter_s: ... plus a uniform random ``[0, latency_jitter_s)``.
        requests_per_minute: override the Cohort Sync rate limit of every workspace (even
            with ``Emulator(rate_limit=False)``); ``None`` keeps each workspace's own.
        lookups_per_minute: the same for the Get User API's users per minute.
    """

    error_500: float = 0.0
    rate_429: float = 0.0
    retry_after: float | None = None
    drop_before: float = 0.0
    drop_after: float = 0.0
    latency_s: float = 0.0
    latency_jitter_s: float = 0.0
    requests_per_minute: int | None = None
    lookups_per_minute: int | None = None

    def __post_init__(self) -> None:
        for name in ("error_500", "rate_429", "drop_before", "drop_after"):
            value = getattr(self, name)
            if not is_number(value) or not 0.0 <= value <= 1.0:
                raise ValueError(f"Faults.{name} must be a probability in [0, 1], got {value!r}")
        for name in ("latency_s", "latency_jitter_s"):
            value = getattr(self, name)
            if not is_number(value) or value < 0:
                raise ValueError(f"Faults.{name} must be a number >= 0, got {value!r}")
        if self.retry_after is not None and (
            not is_number(self.retry_after) or self.retry_after < 0
        ):
            raise ValueError(f"Faults.retry_after must be None or >= 0, got {self.retry_after!r}")
        check_rpm(self.requests_per_minute, "Faults.requests_per_minute")
        check_rpm(self.lookups_per_minute, "Faults.lookups_per_minute")

    @property
    def active(self) -> bool:
        """True when any fault or override is set."""
        return self != Faults()

    def to_dict(self) -> dict[str, Any]:
        """The settings as a JSON-ready dict."""
        return dataclasses.asdict(self)

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> Faults:
        """Build from a dict; unknown keys raise ``ValueError``."""
        known = {f.name for f in dataclasses.fields(cls)}
        unknown = sorted(set(data) - known)
        if unknown:
            raise ValueError(f"unknown fault setting(s): {', '.join(unknown)}")
        return cls(**dict(data))

    def draw(self, rng: random.Random) -> FaultDraw:
        """Roll the dice for one request (always consumes five numbers)."""
        r = [rng.random() for _ in range(5)]
        return FaultDraw(
            drop_before=r[0] < self.drop_before,
            error_500=r[1] < self.error_500,
            rate_429=r[2] < self.rate_429,
            drop_after=r[3] < self.drop_after,
            delay_s=self.latency_s + r[4] * self.latency_jitter_s,
        )
