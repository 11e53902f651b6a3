"""What the three API pipelines share: the outcome the HTTP layer acts on, the request-log
entry every request starts with, and the fault step.

Every pipeline (:mod:`.cohortsync`, :mod:`.lookups`, :mod:`.segments`) runs the checks in
the order a gateway applies them: authentication (401), account state (403), then the
faults drawn for the request, then its own checks (media type, size, body), then the rate
limit (429), and only then does it do the work.
"""

from __future__ import annotations

import time
from contextlib import AbstractContextManager
from dataclasses import dataclass, field
from typing import Any, Protocol

from .common import format_seconds
from .faults import FaultDraw, Faults
from .rate import Headers

__all__ = [
    "ENDPOINT_COHORTSYNC",
    "ENDPOINT_GET_USER",
    "ENDPOINT_SEGMENTS",
    "Injected",
    "Outcome",
    "RequestLog",
    "inject",
    "new_entry",
]

#: The ``endpoint`` of each request-log entry.
ENDPOINT_COHORTSYNC = "cohortsync"
ENDPOINT_GET_USER = "get_user"
ENDPOINT_SEGMENTS = "custom_segments"


@dataclass
class Outcome:
    """What the HTTP layer must do with an API request."""

    status: int
    body: bytes
    headers: Headers
    #: ``"before"`` / ``"after"``: close the connection instead of answering.
    drop: str | None = None
    #: The request-log entry (set on every path).
    entry: dict[str, Any] = field(default_factory=dict)


def new_entry(endpoint: str, format_: str | None, request_id: str, **fields: Any) -> dict[str, Any]:
    """A request-log entry with the keys every endpoint has, then ``fields``."""
    return {
        "seq": 0,
        "time": None,
        "ts": time.time(),
        "request_id": request_id,
        "workspace": None,
        "authenticated": False,
        "endpoint": endpoint,
        "format": format_,
        **fields,
        "status": None,
        "error_type": None,
        "fault": None,
    }


@dataclass(frozen=True)
class Injected:
    """What the fault dice decided, once the latency has been served."""

    #: ``"drop_before"``, ``"error_500"`` or ``"rate_429"``: answer that instead of working;
    #: None: go on.
    fault: str | None
    #: True: do the work, then close the connection without answering (``drop_after``).
    drop_after: bool
    #: The ``Retry-After`` header for 429s and injected 500s (empty when not configured).
    retry: Headers


class RequestLog(Protocol):
    """Where a pipeline logs its requests (the emulator's state)."""

    @property
    def lock(self) -> AbstractContextManager[Any]: ...

    def append_log(self, entry: dict[str, Any]) -> None: ...


def inject(
    draw: FaultDraw, faults: Faults, state: RequestLog, entry: dict[str, Any], headers: Headers
) -> tuple[Injected, Outcome | None]:
    """Sleep the drawn latency and say which fault, if any, the request gets (recorded in
    its log ``entry``), with the outcome of a connection dropped before answering, which
    ends the request at once.

    The first of ``drop_before``, ``error_500``, ``rate_429`` wins; ``drop_after`` applies
    to whatever the request would otherwise have answered. Called without the state lock.
    """
    injected = _draw(draw, faults)
    if injected.fault is not None:
        entry["fault"] = injected.fault
    if injected.fault != "drop_before":
        return injected, None
    with state.lock:
        state.append_log(entry)
    return injected, Outcome(0, b"", headers, drop="before", entry=entry)


def _draw(draw: FaultDraw, faults: Faults) -> Injected:
    if draw.delay_s > 0:
        time.sleep(draw.delay_s)
    retry: Headers = []
    if faults.retry_after is not None:
        retry = [("Retry-After", format_seconds(faults.retry_after))]
    for name, hit in (
        ("drop_before", draw.drop_before),
        ("error_500", draw.error_500),
        ("rate_429", draw.rate_429),
    ):
        if hit:
            return Injected(name, False, retry)
    return Injected(None, draw.drop_after, retry)
