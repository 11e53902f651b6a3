"""HTTP to a MoEngage endpoint: authentication, pacing, retries and rate-limit hints.

:class:`Transport` sends one body at a time per caller thread, paced by a
:class:`~moecohort.transport.pacer.Pacer` (by default a
:class:`~moecohort.transport.shared_pacer.SharedPacer`, whose budget every process of the
machine that sends to the workspace shares) and retried as a
:class:`~moecohort.transport.retry.RetryPolicy` says. It never raises for HTTP or
network errors: each :meth:`Transport.send` returns a :class:`Reply` saying how it ended.

By default it talks to the Cohort Sync endpoint; an :class:`Endpoint` points it at another
MoEngage API (the Get User API, the Custom Segments API) with that API's method, headers
and rate-limit unit, and everything else (auth, pacing, retries, hints) stays the same.
"""

from __future__ import annotations

import base64
import collections
import http.client
import json
import logging
import math
import random
import re
import socket
import ssl
import threading
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import urlsplit

import requests
import requests.auth
import urllib3.exceptions
from requests.adapters import HTTPAdapter

from .._constants import (
    DEFAULT_REQUESTS_PER_MINUTE,
    HEADER_APPKEY,
    HEADER_PARTNER,
    PARTNER_MOENGAGE,
    RATE_WINDOW_S,
    VERSION,
)
from ..credentials import AppCredentials
from ..errors import ConfigurationError
from .budget import COHORT_SYNC_LIMIT
from .pacer import Pacer
from .retry import RetryPolicy, default_retry, header_float, retry_after_seconds
from .shared_pacer import pacer_for

__all__ = [
    "DEFAULT_MAX_IN_FLIGHT",
    "MAX_IN_FLIGHT_LIMIT",
    "NOT_SENT",
    "USER_AGENT",
    "Endpoint",
    "Reply",
    "Transport",
    "TransportStats",
    "network_failure_message",
]

log = logging.getLogger("moecohort")

#: Ceiling of in-flight requests when ``max_in_flight`` is left to moecohort.
DEFAULT_MAX_IN_FLIGHT = 16
#: Upper bound for an explicit ``max_in_flight`` (each one is a thread and a connection).
MAX_IN_FLIGHT_LIMIT = 64
USER_AGENT = f"moecohort/{VERSION} (+https://pypi.org/project/moecohort)"
#: ``Reply.error_type`` of a body that was not sent because :meth:`Transport.stop` was called.
NOT_SENT = "NotSent"


class BasicAuth(requests.auth.AuthBase):
    """HTTP Basic auth that keeps the key in its SecretStr until the header is built,
    so no local variable or attribute (as shown by verbose tracebacks) holds it."""

    def __init__(self, app: AppCredentials) -> None:
        self._app = app

    def __call__(self, request: requests.PreparedRequest) -> requests.PreparedRequest:
        workspace, key = self._app.basic_auth()
        request.headers["Authorization"] = _basic_header(workspace, key)
        return request

    def __repr__(self) -> str:
        return f"BasicAuth({self._app.workspace_id}:{self._app.masked_key})"


def _basic_header(user: str, password: str) -> str:
    return "Basic " + base64.b64encode(f"{user}:{password}".encode()).decode("ascii")


@dataclass(frozen=True)
class Endpoint:
    """Where a :class:`Transport` sends, other than the Cohort Sync endpoint.

    ``headers`` are sent besides ``User-Agent``, ``Accept`` and Basic auth.
    ``units_per_request`` says how the server's ``x-ratelimit-*`` headers count: 1 when they
    count requests (Cohort Sync, the Custom Segments API); the most units one request can
    use when they count something else (the Get User API counts users: 20 a request). The
    transport reads a limit of ``L`` units as ``L / units_per_request`` requests a minute
    and ``R`` units left as ``floor(R / units_per_request)`` requests left.
    """

    url: str
    method: str = "POST"
    headers: Mapping[str, str] = field(default_factory=dict)
    units_per_request: int = 1

    def __post_init__(self) -> None:
        if self.units_per_request < 1:
            raise ConfigurationError("units_per_request must be at least 1.")


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
    """Sends bodies to ``app``'s Cohort Sync endpoint (or to ``endpoint``) with pacing and
    retries.

    Retried as ``retry`` says (:class:`RetryPolicy`; default :data:`DEFAULT_RETRY`
    with ``max_retries`` when given): 429 after ``Retry-After`` or ``x-ratelimit-reset``
    when given, else backoff, pausing every sender; 500/502/503/504, timeouts and
    connection errors after backoff. Anything else is returned to the caller to decide
    (400, 401, 403, 413, ...). After :meth:`stop`, nothing more is sent: ``send``
    returns a ``NotSent`` reply.

    Without a ``pacer``, the transport makes its own (closed by :meth:`close`): one that
    shares the workspace's budget with every moecohort process of the machine, unless
    ``shared_budget`` is False (None: on, unless ``$MOECOHORT_SHARED_BUDGET`` is 0);
    ``budget`` names which of the workspace's limits it spends (Cohort Sync's by default).
    """

    def __init__(
        self,
        app: AppCredentials,
        *,
        endpoint: Endpoint | None = None,
        wire_format: str = "segment_sync",
        requests_per_minute: float = DEFAULT_REQUESTS_PER_MINUTE,
        retry: RetryPolicy | None = None,
        max_retries: int | None = None,
        timeout: tuple[float, float] = (10.0, 60.0),
        session: requests.Session | None = None,
        pool_size: int = DEFAULT_MAX_IN_FLIGHT,
        pacer: Pacer | None = None,
        rng: random.Random | None = None,
        sleep: Callable[[float], None] | None = None,
        shared_budget: bool | None = None,
        budget: str = COHORT_SYNC_LIMIT,
    ) -> None:
        if not isinstance(app, AppCredentials):
            raise ConfigurationError(
                f"app must be an AppCredentials (or a profile name), not {type(app).__name__}"
            )
        if retry is None:
            retry = default_retry(max_retries)
        elif max_retries is not None:
            retry = retry.with_(max_retries=max_retries)
        self.app = app
        self.endpoint = endpoint
        self.url = app.endpoint if endpoint is None else endpoint.url
        self.method = "POST" if endpoint is None else endpoint.method
        self._units = 1 if endpoint is None else endpoint.units_per_request
        self.retry = retry
        self.timeout = timeout
        self._owns_pacer = pacer is None
        self.pacer = pacer or pacer_for(
            app.host, app.workspace_id, requests_per_minute, shared=shared_budget, limit=budget
        )
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
        if endpoint is None:
            self.headers = {
                "Content-Type": "application/json",
                HEADER_APPKEY: app.workspace_id,
                "User-Agent": USER_AGENT,
                "Accept": "application/json",
            }
            if wire_format == "segment_sync":
                self.headers[HEADER_PARTNER] = PARTNER_MOENGAGE
        else:
            self.headers = {"User-Agent": USER_AGENT, "Accept": "application/json"}
            self.headers.update(endpoint.headers)
        self._auth = BasicAuth(app)

    def close(self) -> None:
        if self._owns_session:
            self.session.close()
        if self._owns_pacer:
            self.pacer.close()

    def __enter__(self) -> Transport:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def stop(self) -> None:
        """Send nothing more (e.g. after a 401): waiting and retrying sends end ``NotSent``."""
        self._stopped.set()

    def send(self, body: bytes | None = None) -> Reply:
        """Send ``body`` (POST by default; None: no body, as for a GET), retrying what is
        worth retrying. Never raises for HTTP or network errors: the returned
        :class:`Reply` says how it ended."""
        attempt = 0
        while True:
            attempt += 1
            reply, wait = self._attempt(body)
            reply.attempts = attempt
            retryable = reply.error_type != NOT_SENT and self.retry.retries(reply.status)
            if not retryable or attempt > self.retry.max_retries:
                return reply
            with self._lock:
                self.stats.retries += 1
            delay = wait if wait is not None else self.retry.backoff(attempt, self._rng)
            log.debug(
                "retrying after %s (attempt %d of %d) in %.2fs",
                reply.status or reply.error_type,
                attempt,
                self.retry.max_retries + 1,
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

    def _attempt(self, body: bytes | None) -> tuple[Reply, float | None]:
        if self.pacer.acquire(self._stopped) is None or self._stopped.is_set():
            return Reply(status=None, error_type=NOT_SENT, message="not sent: stopped"), None
        with self._lock:
            self._in_flight += 1
            self.stats.attempts += 1
        t0 = time.monotonic()
        try:
            resp = self.session.request(
                self.method,
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
        reply = reply_from(resp)
        with self._lock:
            self.stats.statuses[str(resp.status_code)] += 1
            if reply.request_id:
                self.stats.request_ids.append(reply.request_id)
        log.debug(
            "%s %s -> %s in %.0f ms (%d bytes)%s",
            self.method,
            self.url,
            resp.status_code,
            latency * 1000,
            len(body or b""),
            f" request_id={reply.request_id}" if reply.request_id else "",
        )
        wait = self._read_rate_hints(resp)
        return reply, wait

    def _network_failure(self, kind: str, exc: Exception) -> Reply:
        with self._lock:
            self.stats.statuses[kind] += 1
        message = network_failure_message(self.url, exc, self.timeout)
        log.debug("%s %s failed: %s", self.method, self.url, message)
        return Reply(status=None, error_type=kind, message=message)

    def _read_rate_hints(self, resp: requests.Response) -> float | None:
        """Pause before the server's limit rather than after a 429. Returns how long a
        retry of this request should wait, when the server said so."""
        headers = resp.headers
        reset = header_float(headers.get("x-ratelimit-reset"))
        if reset is not None:
            # Seconds left in the 60 s window: never negative, never more than the window.
            reset = min(max(0.0, reset), RATE_WINDOW_S)
        remaining = header_float(headers.get("x-ratelimit-remaining"))
        if remaining is not None and self._units > 1:
            # In requests: the Get User API counts users, at most ``_units`` a request.
            remaining = math.floor(remaining / self._units)
        limit = header_float(headers.get("x-ratelimit-limit"))
        if limit is not None and limit >= 1:
            limit /= self._units
        else:
            limit = None
        if limit is not None and self.pacer.slow_to(limit):
            log.info("the server allows %g requests per minute: pacing at that rate", limit)
        if resp.status_code == 429:
            wait = retry_after_seconds(headers.get("Retry-After"))
            if wait is None:
                wait = reset
            if wait is None:
                return None
            longest = self.retry.max_retry_after_s
            if wait > longest:
                log.warning("the server asked to wait %.0fs; waiting %.0fs instead", wait, longest)
                wait = longest
            elif wait >= 10:
                log.warning("rate limited: waiting %.0fs as the server asked", wait)
            self.pacer.pause_for(wait)
            return wait
        if remaining is not None and reset is not None and remaining <= self._in_flight:
            # The window is (nearly) spent: the requests already in flight will use it up.
            log.debug("rate limit window nearly spent; pausing %.1fs", reset)
            self.pacer.pause_for(reset)
        return None


def network_failure_message(
    url: str, exc: BaseException, timeout: tuple[float, float] = (10.0, 60.0)
) -> str:
    """Why a request to ``url`` got no answer, in words: the host, the cause (connection
    refused, host name not found, timeout, TLS/certificate, proxy, connection closed)
    classified from the requests/urllib3 exception and its causes, and what to check.

    Only the host of ``url`` is shown; for an unknown cause, the exception's text with
    every URL in it cut down to its host (an address could carry a secret).
    """
    parts = urlsplit(url)
    host = parts.hostname or "the server"
    where = f"{host}:{parts.port}" if parts.port else host
    chain = _causes(exc)

    def caused_by(*kinds: type[BaseException]) -> BaseException | None:
        return next((e for e in chain if isinstance(e, kinds)), None)

    cert = caused_by(ssl.SSLCertVerificationError)
    if cert is not None or caused_by(requests.exceptions.SSLError, ssl.SSLError):
        why = getattr(cert, "verify_message", None) or "the TLS handshake failed"
        return (
            f"TLS/certificate problem with {where}: {why}. Check the base URL (https:// to a "
            "server that speaks it) and the CA certificates (REQUESTS_CA_BUNDLE behind a "
            "proxy that inspects HTTPS)."
        )
    if caused_by(requests.exceptions.ProxyError, urllib3.exceptions.ProxyError):
        return (
            f"the proxy failed to connect to {where}. Check the HTTPS_PROXY / HTTP_PROXY "
            "settings (and NO_PROXY for a local emulator)."
        )
    if caused_by(urllib3.exceptions.NameResolutionError, socket.gaierror):
        return (
            f"the host name {host} was not found (DNS). Check the data center or base URL, "
            "and your network connection."
        )
    if caused_by(ConnectionRefusedError):
        return (
            f"connection refused by {where}: nothing is listening there. Check the base URL "
            "(or data center) and that the server, or the emulator, is running."
        )
    if caused_by(requests.ConnectTimeout, urllib3.exceptions.ConnectTimeoutError) and not (
        caused_by(urllib3.exceptions.NewConnectionError)
    ):
        return (
            f"no connection to {where} within {timeout[0]:g} s (timeout). Check your network "
            "connection, VPN, proxy or firewall."
        )
    if caused_by(requests.Timeout, urllib3.exceptions.ReadTimeoutError, TimeoutError):
        return (
            f"{where} did not answer within {timeout[1]:g} s (timeout). The server may be "
            "overloaded; check your network connection, proxy or firewall."
        )
    if caused_by(ConnectionResetError, http.client.RemoteDisconnected):
        return (
            f"{where} closed the connection without an answer. Check the base URL and any "
            "proxy or firewall in between."
        )
    errno_text = next((e.strerror for e in chain if isinstance(e, OSError) and e.strerror), None)
    text = errno_text or _without_urls(str(exc).split(" (Caused by ")[0])[:200]
    return (
        f"network error talking to {where}: {text or type(exc).__name__}. Check your "
        "network connection, proxy or firewall."
    )


def _causes(exc: BaseException) -> list[BaseException]:
    """``exc`` and what it wraps: causes, contexts, urllib3's ``reason``, exception args."""
    seen: list[BaseException] = []
    todo: list[object] = [exc]
    while todo and len(seen) < 32:
        item = todo.pop()
        if not isinstance(item, BaseException) or any(item is s for s in seen):
            continue
        seen.append(item)
        todo += [item.__cause__, item.__context__, getattr(item, "reason", None), *item.args]
    return seen


_URL = re.compile(r"[A-Za-z][A-Za-z0-9+.-]*://[^\s'\"<>]+")


def _without_urls(text: str) -> str:
    """``text`` with each URL replaced by its host."""

    def host(match: re.Match[str]) -> str:
        try:
            return urlsplit(match.group(0)).hostname or "(address)"
        except ValueError:
            return "(address)"

    return _URL.sub(host, text)


def reply_from(resp: requests.Response) -> Reply:
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
