"""Sending lookups: requests of at most 20 uids, several in flight, each uid settled once.

:class:`LookupRun` takes :class:`~moecohort.lookup.wire.LookupRequest` s from an iterator
and sends them through one :class:`~moecohort.transport.Transport` (which paces every
attempt, retries included, and honours the server's ``x-ratelimit-*`` headers), with up to
``workers`` requests in flight. The first request goes alone, so a wrong key or a workspace
without the Get User API costs one request. Each uid ends found, not found, or failed
with the reason.

401, 403, 404 and ``LimitBreached`` would repeat for every request: they stop the run
(requests not yet sent fail ``NotSent``) and :attr:`LookupRun.fatal` holds the error, with
a hint saying what to do. Ctrl-C stops it too (a second press stops waiting for the
requests in flight, whose uids fail ``Interrupted``).
"""

from __future__ import annotations

import contextlib
import itertools
import logging
import threading
from collections.abc import Iterator
from typing import Any

import pyarrow as pa

from .._constants import LOOKUP_LIMIT_BREACHED, MAX_LOOKUP_IDENTIFIERS, SUSPENDED_TYPES
from ..delivery import INTERRUPTED, Failures, Progress
from ..delivery.interrupts import CtrlC
from ..errors import APIError, LookupsNotEnabledError
from ..transport import NOT_SENT, Reply, Transport
from .wire import LookupRequest, body_of, read_answer

__all__ = ["LookupRun", "fatal_error"]

log = logging.getLogger("moecohort")


def fatal_error(reply: Reply, workspace_id: str, url: str) -> APIError | None:
    """The error that stops a lookup, for an answer that would repeat for every request;
    None for an answer that concerns only its own request."""
    status = reply.status
    if status is None or status == 429 or not 400 <= status < 500:
        return None
    body = reply.body
    hint: str | None = None
    if status == 401:
        hint = (
            "If these credentials work for Cohort Sync (mc.check_connection), the Get User "
            f"API may not be enabled for workspace {workspace_id}: MoEngage enables the Get "
            "User API per workspace on request."
        )
    elif status == 403:
        error = APIError.from_response(status, body)
        if error.type in SUSPENDED_TYPES:
            return _with_request_id(error, reply)
        return _with_request_id(
            LookupsNotEnabledError(
                status,
                error.type,
                error.message,
                attribute=error.attribute,
                request_id=error.request_id,
                hint=(
                    f"The Get User API refused workspace {workspace_id}: it is probably not "
                    "enabled for it. MoEngage enables the Get User API per workspace on "
                    "request (ask your MoEngage account manager or support)."
                ),
            ),
            reply,
        )
    elif status == 404:
        hint = f"No Get User API at {url}: check the data center or the base URL."
    elif status == 400:
        error = APIError.from_response(status, body)
        if error.type != LOOKUP_LIMIT_BREACHED:
            return None  # this request's content: its uids fail, the others go on
        hint = (
            f"MoEngage refused a request of at most {MAX_LOOKUP_IDENTIFIERS} identifiers, "
            "the documented limit: this workspace's limit may be lower. Nothing more was sent."
        )
    elif status == 413:
        return None  # this request's size: its uids fail, the others go on
    return _with_request_id(APIError.from_response(status, body, hint=hint), reply)


def _with_request_id(error: APIError, reply: Reply) -> APIError:
    if error.request_id is None:
        error.request_id = reply.request_id
    return error


class LookupRun:
    """Sends every request of an iterator and settles each uid once (see the module)."""

    def __init__(
        self,
        transport: Transport,
        fields: list[str] | None,
        *,
        workspace_id: str,
        workers: int,
        progress: Progress | None = None,
    ) -> None:
        self.transport = transport
        self.fields = fields
        self.workspace_id = workspace_id
        self.workers = max(1, workers)
        self.progress = progress
        #: Every uid taken from the iterator, in order.
        self.order: list[str] = []
        self.found: dict[str, dict[str, Any]] = {}
        self.not_found: set[str] = set()
        self.failures = Failures()
        self.fatal: APIError | None = None
        self.stopped_by: str | None = None
        self.bodies = 0
        self._pending: Iterator[LookupRequest] = iter(())
        self._lock = threading.Lock()  # the counts and sets
        self._cv = threading.Condition()  # what is taken, in flight and being settled
        self._closed = False
        self._settling = 0
        self._sending: dict[int, LookupRequest] = {}
        self._tickets = itertools.count()
        self._ctrl_c = CtrlC(self._on_ctrl_c)

    def run(self, pending: Iterator[LookupRequest]) -> None:
        """Send every request (see the module); returns when each uid is settled."""
        self._pending = pending
        with self._ctrl_c:
            taken = self._take()
            if taken is not None:
                with self._ctrl_c.blocking():
                    self._process(*taken)
                threads = [
                    threading.Thread(target=self._work, name=f"moecohort-lookup-{i}", daemon=True)
                    for i in range(self.workers)
                ]
                for t in threads:
                    t.start()
                with self._ctrl_c.blocking():
                    for t in threads:
                        t.join()
        if self._ctrl_c.aborted:
            self._account_abandoned()
        self._drain()
        if self.progress is not None:
            with contextlib.suppress(Exception):
                self.progress.close()

    # ---- the work
    def _take(self) -> tuple[int, LookupRequest] | None:
        """The next request to send, registered as in flight; None once stopped or done."""
        with self._cv:
            if self.stopped_by is not None or self._closed:
                return None
            request = next(self._pending, None)
            if request is None:
                return None
            self.order.extend(request.uids)
            ticket = next(self._tickets)
            self._sending[ticket] = request
            return ticket, request

    def _work(self) -> None:
        while (taken := self._take()) is not None:
            self._process(*taken)

    def _process(self, ticket: int, request: LookupRequest) -> None:
        try:
            reply = self.transport.send(body_of(request.uids, self.fields))
        except Exception as exc:  # a bug: stop, but lose nobody
            log.exception("client error while looking users up")
            reply = Reply(status=None, error_type="ClientError", message=f"{exc}")
            self._stop(APIError(None, "ClientError", str(exc)), f"client error: {exc}")
        with self._cv:
            if self._sending.pop(ticket, None) is None:  # an abort accounted for it already
                return
            self._settling += 1
        try:
            self._settle(request, reply)
        finally:
            with self._cv:
                self._settling -= 1
                self._cv.notify_all()

    def _settle(self, request: LookupRequest, reply: Reply) -> None:
        uids = request.uids
        if reply.status is None and reply.error_type == NOT_SENT:
            self._not_sent(request)
            return
        with self._lock:
            self.bodies += 1
        if reply.ok:
            answer = read_answer(uids, reply.body)
            if answer is None:
                self._fail(uids, reply, "UnexpectedAnswer", "the 200 was not the documented body")
            else:
                with self._lock:
                    self.found.update(answer.found)
                    self.not_found.update(answer.not_found)
                self._fail(
                    answer.unanswered,
                    reply,
                    "Unanswered",
                    "the API listed this uid neither among the users nor as not found",
                )
        else:
            fatal = fatal_error(reply, self.workspace_id, self.transport.url)
            error_type, message = reply.error_type, reply.message
            if fatal is not None:
                error_type, message = fatal.type or error_type, fatal.message or message
            self._fail(uids, reply, error_type, message)
            if fatal is not None:
                self._stop(fatal, f"HTTP {reply.status}: {fatal}")
        self._tick(len(uids))

    def _fail(
        self, uids: list[str], reply: Reply | None, error_type: str | None, message: str | None
    ) -> None:
        self.failures.add(
            pa.array(uids, pa.large_string()),
            reply.status if reply else None,
            error_type,
            message,
            reply.request_id if reply else None,
        )

    def _not_sent(self, request: LookupRequest) -> None:
        why = f"not sent: the lookup stopped ({self.stopped_by})"
        self._fail(request.uids, None, NOT_SENT, why)

    def _tick(self, n: int) -> None:
        if self.progress is not None:
            with contextlib.suppress(Exception):  # a display problem never loses a request
                self.progress.update(n)

    # ---- stopping
    def _stop(self, error: APIError | None, why: str) -> None:
        with self._lock:
            if self.stopped_by is None:
                self.fatal = error
                self.stopped_by = why
                log.error("lookup stopping: %s", why)
        self.transport.stop()  # requests waiting for the pacer or a retry are not sent

    def _on_ctrl_c(self, press: int) -> None:
        if press == 1:
            log.warning("interrupted: stopping… (press Ctrl-C again to abort at once)")
            self._stop(None, INTERRUPTED)

    def _account_abandoned(self) -> None:
        """After a second Ctrl-C: the requests still in flight are failed now, and what
        they answer later is ignored."""
        with self._cv:
            self._closed = True
            while self._settling:  # answers being read finish (no network: quick)
                self._cv.wait()
            in_flight = list(self._sending.values())
            self._sending.clear()
        for request in in_flight:
            self._fail(
                request.uids,
                None,
                "Interrupted",
                "aborted while this request was in flight: its answer was not read",
            )

    def _drain(self) -> None:
        """The requests never taken (the run stopped): not sent."""
        with self._cv:
            self._closed = True
            rest = list(self._pending)
        for request in rest:
            self.order.extend(request.uids)
            self._not_sent(request)
