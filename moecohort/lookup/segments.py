"""The segments of the destination app: :func:`find_segments`, the Custom Segments API's list
(``GET {host}/v3/custom-segments?name=<exact name>``, Basic auth plus ``MOE-APPKEY``).

The list allows 50 calls a minute, 200 an hour and 1,000 a day per workspace.
:class:`SegmentsBudget` counts the calls this process makes, per workspace, in the three
windows (sliding: a call counts for the 60 s, the hour and the day after it), and
:func:`find_segments` says it would go over rather than send. It also honours what the
server says: a 429, or ``x-ratelimit-remaining: 0``, holds further calls until
``x-ratelimit-reset`` has passed. A 429 is not retried (the next free call may be an hour
away); 5xx and network errors are retried once, when the budget allows.

The API returns ``name``, ``id``, ``type``, ``source`` and ``created_time`` per segment; the
values of a segment the Cohort Sync API created are not documented, so they are reported
as they come, never interpreted.
"""

from __future__ import annotations

import collections
import html
import math
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import quote, urlencode

from .. import _html
from .._constants import CUSTOM_SEGMENTS_PATH, HEADER_APPKEY, SEGMENT_LIST_LIMITS
from ..credentials import AppCredentials, get_credentials
from ..errors import APIError
from ..transport import Endpoint, Pacer, RetryPolicy, Transport
from ..transport.retry import header_float

__all__ = [
    "SEGMENT_FIELDS",
    "SegmentList",
    "SegmentsBudget",
    "default_budget",
    "find_segments",
]

#: What the API shows of a segment, in this order.
SEGMENT_FIELDS = ("name", "id", "type", "source", "created_time")

_WINDOW_NAMES = {60.0: "minute", 3600.0: "hour", 86400.0: "day"}


def _window_name(seconds: float) -> str:
    return _WINDOW_NAMES.get(seconds, f"{seconds:g} s")


class SegmentsBudget:
    """Calls to the segments list this process made, per workspace, against the API's
    limits (``(window seconds, calls)`` pairs). Thread-safe; :meth:`hold` serialises the
    calls of one process so two threads never both take the last one."""

    def __init__(
        self,
        limits: tuple[tuple[float, int], ...] = SEGMENT_LIST_LIMITS,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.limits = tuple(sorted(limits))
        self.clock = clock
        self._longest = max(length for length, _ in self.limits)
        self._calls: dict[tuple[str, str], collections.deque[float]] = {}
        self._held_until: dict[tuple[str, str], float] = {}
        self._lock = threading.RLock()

    def hold(self) -> threading.RLock:
        """The lock to hold from checking the budget to recording the calls."""
        return self._lock

    def left(self, key: tuple[str, str]) -> tuple[int, str, float]:
        """Calls left now for ``key``, the window that allows the fewest (its name: minute,
        hour, day, or "server"), and the seconds until one more is allowed (0 when some
        are left)."""
        with self._lock:
            now = self.clock()
            calls = self._calls.setdefault(key, collections.deque())
            while calls and calls[0] <= now - self._longest:
                calls.popleft()
            held = self._held_until.get(key, -math.inf)
            if held > now:
                return 0, "server", held - now
            best: tuple[int, str, float] | None = None
            for length, limit in self.limits:
                recent = [t for t in calls if t > now - length]
                left = max(0, limit - len(recent))
                wait = 0.0 if left else recent[len(recent) - limit] + length - now
                if best is None or left < best[0]:
                    best = (left, _window_name(length), wait)
            assert best is not None
            return best

    def record(self, key: tuple[str, str], calls: int) -> None:
        """Count ``calls`` made now."""
        with self._lock:
            now = self.clock()
            self._calls.setdefault(key, collections.deque()).extend([now] * calls)

    def hold_for(self, key: tuple[str, str], seconds: float) -> None:
        """Send no call for ``key`` during ``seconds`` (the server said so)."""
        with self._lock:
            until = self.clock() + max(0.0, seconds)
            self._held_until[key] = max(self._held_until.get(key, -math.inf), until)


_DEFAULT = SegmentsBudget()


def default_budget() -> SegmentsBudget:
    """The budget every call of this process shares unless given another."""
    return _DEFAULT


class _NoRateRetry(RetryPolicy):
    """Retries 5xx and network errors, never a 429: the next free call of the segments
    list may be an hour away."""

    def retries(self, status: int | None) -> bool:
        return status != 429 and super().retries(status)


@dataclass(repr=False)
class SegmentList:
    """The segments of a workspace with one exact name (or every segment), as the
    Custom Segments API listed them; ``checked`` is False when no answer was had, and
    ``note`` then says why (the budget, or the error)."""

    workspace_id: str
    name: str | None
    checked: bool
    segments: list[dict[str, Any]] = field(default_factory=list)
    note: str = ""
    error: APIError | None = None
    #: Calls made (HTTP attempts).
    calls: int = 0
    #: The ``x-ratelimit-*`` headers of the last answer.
    rate_limit: dict[str, str] = field(default_factory=dict)

    def __len__(self) -> int:
        return len(self.segments)

    @property
    def headline(self) -> str:
        what = f"named {self.name!r}" if self.name is not None else "in all"
        if not self.checked:
            return f"segments {what} in workspace {self.workspace_id}: not checked ({self.note})"
        return f"{len(self.segments):,} segment(s) {what} in workspace {self.workspace_id}"

    def __repr__(self) -> str:
        lines = [f"SegmentList: {self.headline}"]
        for seg in self.segments:
            lines.append("  " + ", ".join(f"{k}={seg.get(k)!r}" for k in SEGMENT_FIELDS))
        return "\n".join(lines)

    def _repr_html_(self) -> str:
        rows = [(f"segment {i + 1}", describe(seg)) for i, seg in enumerate(self.segments)]
        return _html.table_html(
            f"SegmentList: {self.headline}",
            rows,
            note=html.escape(self.note) if self.note else None,
            status=(self.checked, "checked" if self.checked else "not checked"),
        )


def describe(segment: dict[str, Any]) -> str:
    """One segment in words, its values as the API gave them."""
    return ", ".join(f"{k} {segment.get(k)!r}" for k in SEGMENT_FIELDS if k in segment)


def find_segments(
    app: AppCredentials | str,
    name: str | None = None,
    *,
    budget: SegmentsBudget | None = None,
    max_retries: int = 1,
    timeout: tuple[float, float] = (10.0, 30.0),
    sleep: Callable[[float], None] | None = None,
) -> SegmentList:
    """The segments of ``app`` named exactly ``name`` (every segment when None), from
    ``GET /v3/custom-segments?name=...``. Never raises for what the API answers: the
    :class:`SegmentList` says what happened. Counts its calls in ``budget`` (default: the
    process's, :func:`default_budget`) and sends nothing when a limit would be exceeded."""
    creds = get_credentials(app)
    budget = budget or default_budget()
    key = (creds.host, creds.workspace_id)
    url = creds.host + CUSTOM_SEGMENTS_PATH
    if name is not None:
        url += "?" + urlencode({"name": name}, quote_via=quote)
    with budget.hold():
        left, window, wait = budget.left(key)
        if left == 0:
            limits = ", ".join(
                f"{n:,} {'an' if _window_name(s) == 'hour' else 'a'} {_window_name(s)}"
                for s, n in budget.limits
            )
            why = (
                "the server asked to wait"
                if window == "server"
                else f"this process has used the {window}'s calls"
            )
            return SegmentList(
                creds.workspace_id,
                name,
                checked=False,
                note=f"not sent: {why} (the segments list allows {limits}); "
                f"try again in {math.ceil(wait):,} s",
            )
        transport = Transport(
            creds,
            endpoint=Endpoint(url, "GET", {HEADER_APPKEY: creds.workspace_id}),
            retry=_NoRateRetry(max_retries=max(0, min(max_retries, left - 1))),
            timeout=timeout,
            pacer=Pacer(budget.limits[0][1], clock=budget.clock, sleep=sleep or time.sleep),
            sleep=sleep,
        )
        try:
            reply = transport.send(None)
        finally:
            transport.close()
            budget.record(key, transport.stats.attempts)
        headers = {k: v for k, v in reply.headers.items() if k.lower().startswith("x-ratelimit-")}
        reset = header_float(_header(headers, "x-ratelimit-reset"))
        remaining = header_float(_header(headers, "x-ratelimit-remaining"))
        if reply.status == 429 or remaining == 0:
            budget.hold_for(key, reset if reset is not None else budget.limits[0][0])
    out = SegmentList(creds.workspace_id, name, checked=False, calls=transport.stats.attempts)
    out.rate_limit = headers
    data = reply.body.get("data") if isinstance(reply.body, dict) else None
    if reply.ok and isinstance(data, list):
        out.checked = True
        out.segments = [dict(s) for s in data if isinstance(s, dict)]
        return out
    out.error = _error(reply.status, reply.body, reply.message, reply.error_type)
    out.note = str(out.error)
    return out


def _header(headers: dict[str, str], name: str) -> str | None:
    for key, value in headers.items():
        if key.lower() == name:
            return value
    return None


def _error(status: int | None, body: Any, message: str | None, kind: str | None) -> APIError:
    """The API's error envelope (``{"response_id", "type", "error": {"code", "message"}}``)
    as an :class:`APIError`."""
    error = body.get("error") if isinstance(body, dict) else None
    if status is None or not isinstance(error, dict):
        if status is None:
            return APIError(None, kind, message)
        return APIError.from_response(status, body)
    envelope = {
        "error": {
            "type": error.get("code"),
            "message": error.get("message"),
            "request_id": body.get("response_id") if isinstance(body, dict) else None,
        }
    }
    return APIError.from_response(status, envelope)
