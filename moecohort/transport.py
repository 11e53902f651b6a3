"""HTTP to the Cohort Sync endpoint: pacing, retries, and rate-limit hints.

:class:`Pacer` is written here rather than taken from a rate-limit library because
it must (1) count every attempt, retries included, (2) hold two windows at once
(at most ``rpm`` requests in any 60 s and ``ceil(rpm/60)`` in any second) on the
actual send times, (3) spread requests evenly rather than in bursts, and (4) be
paused globally by server hints (``Retry-After``, ``x-ratelimit-*``), none of which
the common limiters do together.
"""

from __future__ import annotations

import base64
import collections
import email.utils
import json
import logging
import math
import random
import threading
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any

import requests
import requests.auth
from requests.adapters import HTTPAdapter

from ._constants import (
    DEFAULT_REQUESTS_PER_MINUTE,
    HEADER_APPKEY,
    HEADER_PARTNER,
    PARTNER_MOENGAGE,
    RATE_WINDOW_S,
    VERSION,
)
from .credentials import AppCredentials
from .errors import ConfigurationError

__all__ = ["Pacer", "Reply", "Transport"]

log = logging.getLogger("moecohort")

RETRY_STATUSES = frozenset({429, 500, 502, 503, 504})
#: Ceiling of in-flight requests when ``max_in_flight`` is left to moecohort.
DEFAULT_MAX_IN_FLIGHT = 16
#: Upper bound for an explicit ``max_in_flight`` (each one is a thread and a connection).
MAX_IN_FLIGHT_LIMIT = 64
#: Longest wait honoured from a ``Retry-After`` header; longer asks are shortened (and logged).
MAX_RETRY_AFTER_S = 120.0
USER_AGENT = f"moecohort/{VERSION} (+https://pypi.org/project/moecohort)"
#: ``Reply.error_type`` of a body that was not sent because :meth:`Transport.stop` was called.
NOT_SENT = "NotSent"


class _BasicAuth(requests.auth.AuthBase):
    """HTTP Basic auth that keeps the key in its SecretStr until the header is built,
    so no local variable or attribute (as shown by verbose tracebacks) holds it."""

    def __init__(self, app: AppCredentials) -> None:
        self._app = app

    def __call__(self, request: requests.PreparedRequest) -> requests.PreparedRequest:
        workspace, key = self._app.basic_auth()
        request.headers["Authorization"] = _basic_header(workspace, key)
        return request

    def __repr__(self) -> str:
        return f"_BasicAuth({self._app.workspace_id}:{self._app.masked_key})"


def _basic_header(user: str, password: str) -> str:
    return "Basic " + base64.b64encode(f"{user}:{password}".encode()).decode("ascii")


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
        if not requests_per_minute or requests_per_minute <= 0:
            raise ConfigurationError(
                f"requests_per_minute must be a positive number, not {requests_per_minute!r}"
            )
        self._clock = clock
        self._sleep = sleep
        self._gate = threading.Lock()  # one waiter at a time: FIFO-ish, no thundering herd
        self._lock = threading.Lock()
        self._next = -math.inf
        self._paused_until = -math.inf
        self._sent: collections.deque[float] = collections.deque()
        self._set_rate(float(requests_per_minute))
        #: Every granted start time (for tests and benchmarks), when ``record=True``.
        self.record = False
        self.starts: list[float] = []

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
                        if self.record:
                            self.starts.append(now)
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


@dataclass
class Reply:
    """The final outcome of sending one body (after any retries)."""

    status: int | None
    body: Any = None
    headers: Mapping[str, str] = field(default_factory=dict)
    request_id: str | None = None
    attempts: int = 1
    error_type: str | None = None
    message: str | None = None

    @property
    def ok(self) -> bool:
        return self.status is not None and 200 <= self.status < 300


@dataclass
class TransportStats:
    attempts: int = 0
    retries: int = 0
    statuses: collections.Counter[str] = field(default_factory=collections.Counter)
    request_ids: list[str] = field(default_factory=list)


class Transport:
    """Sends bodies to ``app``'s Cohort Sync endpoint with pacing and retries.

    Retried: 429 (after ``Retry-After`` or ``x-ratelimit-reset`` when given, else
    backoff, and pausing every sender), 500/502/503/504, timeouts and connection
    errors, with exponential backoff and jitter, up to ``max_retries`` times.
    Anything else is returned to the caller to decide (400, 401, 403, 413, ...).
    After :meth:`stop`, nothing more is sent: ``send`` returns a ``NotSent`` reply.
    """

    #: Backoff base and cap (seconds). Class attributes, so tests can shorten them.
    backoff_base_s: float = 0.5
    backoff_cap_s: float = 30.0

    def __init__(
        self,
        app: AppCredentials,
        *,
        wire_format: str = "segment_sync",
        requests_per_minute: float = DEFAULT_REQUESTS_PER_MINUTE,
        max_retries: int = 5,
        timeout: tuple[float, float] = (10.0, 60.0),
        backoff_base_s: float | None = None,
        backoff_cap_s: float | None = None,
        session: requests.Session | None = None,
        pool_size: int = DEFAULT_MAX_IN_FLIGHT,
        pacer: Pacer | None = None,
        rng: random.Random | None = None,
        sleep: Callable[[float], None] | None = None,
    ) -> None:
        if not isinstance(app, AppCredentials):
            raise ConfigurationError(
                f"app must be an AppCredentials (or a profile name), not {type(app).__name__}"
            )
        if not isinstance(max_retries, int) or max_retries < 0:
            raise ConfigurationError(f"max_retries must be an int >= 0, not {max_retries!r}")
        self.app = app
        self.url = app.endpoint
        self.max_retries = max_retries
        self.timeout = timeout
        if backoff_base_s is not None:
            self.backoff_base_s = backoff_base_s
        if backoff_cap_s is not None:
            self.backoff_cap_s = backoff_cap_s
        self.pacer = pacer or Pacer(requests_per_minute)
        self.stats = TransportStats()
        self._rng = rng or random.Random()
        self._sleep = sleep
        self._lock = threading.Lock()
        self._in_flight = 0
        self._stopped = threading.Event()
        self._owns_session = session is None
        self.session = session or requests.Session()
        if self._owns_session:
            adapter = HTTPAdapter(pool_connections=1, pool_maxsize=pool_size, max_retries=0)
            self.session.mount("http://", adapter)
            self.session.mount("https://", adapter)
        self.headers = {
            "Content-Type": "application/json",
            HEADER_APPKEY: app.workspace_id,
            "User-Agent": USER_AGENT,
            "Accept": "application/json",
        }
        if wire_format == "segment_sync":
            self.headers[HEADER_PARTNER] = PARTNER_MOENGAGE
        self._auth = _BasicAuth(app)

    def close(self) -> None:
        if self._owns_session:
            self.session.close()

    def __enter__(self) -> Transport:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def stop(self) -> None:
        """Send nothing more (e.g. after a 401): waiting and retrying sends end ``NotSent``."""
        self._stopped.set()

    def send(self, body: bytes) -> Reply:
        """POST ``body``, retrying what is worth retrying. Never raises for HTTP or
        network errors: the returned :class:`Reply` says how it ended."""
        attempt = 0
        while True:
            attempt += 1
            reply, wait = self._attempt(body)
            reply.attempts = attempt
            retryable = (
                reply.status is None and reply.error_type != NOT_SENT
            ) or reply.status in RETRY_STATUSES
            if not retryable or attempt > self.max_retries:
                return reply
            with self._lock:
                self.stats.retries += 1
            delay = wait if wait is not None else self._backoff(attempt)
            log.debug(
                "retrying after %s (attempt %d of %d) in %.2fs",
                reply.status or reply.error_type,
                attempt,
                self.max_retries + 1,
                delay,
            )
            if self._pause(delay):  # the push stopped while we waited
                return Reply(status=None, error_type=NOT_SENT, message="the push stopped")

    def _pause(self, seconds: float) -> bool:
        """Wait before a retry; True if the push was stopped meanwhile."""
        if self._sleep is None:
            return self._stopped.wait(seconds)  # wakes at once on stop()
        self._sleep(seconds)
        return self._stopped.is_set()

    def _backoff(self, attempt: int) -> float:
        """Exponential backoff with "equal jitter": half fixed, half random."""
        ceiling = min(self.backoff_cap_s, self.backoff_base_s * (2 ** (attempt - 1)))
        return ceiling / 2 + self._rng.uniform(0, ceiling / 2)

    def _attempt(self, body: bytes) -> tuple[Reply, float | None]:
        if self.pacer.acquire(self._stopped) is None or self._stopped.is_set():
            return Reply(status=None, error_type=NOT_SENT, message="not sent: stopped"), None
        with self._lock:
            self._in_flight += 1
            self.stats.attempts += 1
        t0 = time.monotonic()
        try:
            resp = self.session.post(
                self.url,
                data=body,
                headers=self.headers,
                auth=self._auth,
                timeout=self.timeout,
                allow_redirects=False,
            )
        except requests.Timeout as exc:
            return self._network_failure("Timeout", exc), None
        except requests.RequestException as exc:
            return self._network_failure("ConnectionError", exc), None
        finally:
            with self._lock:
                self._in_flight -= 1
        latency = time.monotonic() - t0
        reply = _reply_from(resp)
        with self._lock:
            self.stats.statuses[str(resp.status_code)] += 1
            if reply.request_id:
                self.stats.request_ids.append(reply.request_id)
        log.debug(
            "POST %s -> %s in %.0f ms (%d bytes)%s",
            self.url,
            resp.status_code,
            latency * 1000,
            len(body),
            f" request_id={reply.request_id}" if reply.request_id else "",
        )
        wait = self._read_rate_hints(resp)
        return reply, wait

    def _network_failure(self, kind: str, exc: Exception) -> Reply:
        with self._lock:
            self.stats.statuses[kind] += 1
        # The exception text names the host and the reason; it never holds credentials.
        message = str(exc).split(" (Caused by ")[0][:300] or kind
        log.debug("POST %s failed: %s", self.url, message)
        return Reply(status=None, error_type=kind, message=message)

    def _read_rate_hints(self, resp: requests.Response) -> float | None:
        """Pause before the server's limit rather than after a 429. Returns how long a
        retry of this request should wait, when the server said so."""
        headers = resp.headers
        reset = _float(headers.get("x-ratelimit-reset"))
        if reset is not None:
            # Seconds left in the 60 s window: never negative, never more than the window.
            reset = min(max(0.0, reset), RATE_WINDOW_S)
        remaining = _float(headers.get("x-ratelimit-remaining"))
        limit = _float(headers.get("x-ratelimit-limit"))
        if limit is not None and limit >= 1 and self.pacer.slow_to(limit):
            log.info("the server allows %g requests per minute: pacing at that rate", limit)
        if resp.status_code == 429:
            wait = _retry_after(headers.get("Retry-After"))
            if wait is None:
                wait = reset
            if wait is None:
                return None
            if wait > MAX_RETRY_AFTER_S:
                log.warning(
                    "the server asked to wait %.0fs; waiting %.0fs instead", wait, MAX_RETRY_AFTER_S
                )
                wait = MAX_RETRY_AFTER_S
            elif wait >= 10:
                log.warning("rate limited: waiting %.0fs as the server asked", wait)
            self.pacer.pause_for(wait)
            return wait
        if remaining is not None and reset is not None and remaining <= self._in_flight:
            # The window is (nearly) spent: the requests already in flight will use it up.
            log.debug("rate limit window nearly spent; pausing %.1fs", reset)
            self.pacer.pause_for(reset)
        return None


def _reply_from(resp: requests.Response) -> Reply:
    try:
        body: Any = resp.json()
    except (ValueError, json.JSONDecodeError):
        body = resp.text[:500]
    error = body.get("error") if isinstance(body, dict) else None
    error = error if isinstance(error, dict) else {}
    request_id = error.get("request_id") or resp.headers.get("x-request-id")
    message = error.get("message")
    if message is None and isinstance(body, dict) and resp.status_code >= 400:
        message = body.get("message")
    if message is None and isinstance(body, str) and resp.status_code >= 400:
        message = body.strip()[:300] or resp.reason
    return Reply(
        status=resp.status_code,
        body=body,
        headers=dict(resp.headers),
        request_id=str(request_id) if request_id else None,
        error_type=error.get("type") or (None if resp.ok else resp.reason),
        message=message,
    )


def _float(value: str | None) -> float | None:
    if value is None:
        return None
    try:
        number = float(value)
    except ValueError:
        return None
    return number if math.isfinite(number) else None


def _retry_after(value: str | None) -> float | None:
    """Retry-After as seconds (it may be a number or an HTTP date)."""
    if not value:
        return None
    seconds = _float(value)
    if seconds is not None:
        return max(0.0, seconds)
    try:
        when = email.utils.parsedate_to_datetime(value)
    except (TypeError, ValueError):
        return None
    return max(0.0, when.timestamp() - time.time())
