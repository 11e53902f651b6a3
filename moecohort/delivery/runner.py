"""The runner: sends (plan, batch) jobs with several requests in flight, settling each
batch's users exactly once as accepted or failed."""

from __future__ import annotations

import collections
import contextlib
import itertools
import logging
import threading
from collections.abc import Callable, Iterable

from ..errors import APIError
from ..payload import Batch, Plan
from ..transport import NOT_SENT, Reply, Transport
from .failures import Failures
from .interrupts import WAKE_S, CtrlC, join, not_for_ctrl_c, shared_ctrl_c
from .progress import Progress

__all__ = ["INTERRUPTED", "Job", "Runner"]

log = logging.getLogger("moecohort")

#: One unit of work: a batch and the plan that can render, split and name it.
Job = tuple[Plan, Batch]


#: ``stopped_by`` of a run that Ctrl-C (or Jupyter's "interrupt kernel") stopped.
INTERRUPTED = "interrupted by the user"


class Runner:
    """Sends the batches of a plan with up to ``workers`` requests in flight.

    The first body goes alone, so a wrong key or a wrong URL costs one request.
    After that, workers wait on the transport's pacer, so the number actually in
    flight is what the latency needs to hold the pace (``latency x rate``), up to
    ``workers``. A 413 splits the batch in two and sends the halves; a 400 fails
    the batch's users; 401/403 (and other errors that would repeat for every
    batch, such as 404) stop the run: batches not yet sent are reported as failed
    with ``error_type="NotSent"``, and :attr:`fatal` holds the error.

    Ctrl-C (in the main thread) stops the run the same way (:attr:`stopped_by` is
    :data:`INTERRUPTED`): nothing more is sent, the requests in flight are waited for.
    A second Ctrl-C aborts: the requests still in flight are not waited for; their
    users are reported as failed with ``error_type="Interrupted"`` (they may or may not
    have landed, and are safe to send again), and what those requests answer later is
    ignored. Every batch's users are accounted for exactly once, as accepted or failed;
    the progress bar counts only the users whose request was answered.
    """

    def __init__(
        self,
        transport: Transport,
        *,
        workers: int,
        on_success: Callable[[Plan, Batch, Reply], None],
        failures: Failures,
        progress: Progress | None = None,
    ) -> None:
        self.transport = transport
        self.workers = max(1, workers)
        self.on_success = on_success
        self.failures = failures
        self.progress = progress
        self.fatal: APIError | None = None
        self.stopped_by: str | None = None
        self.bodies = 0
        self._queue: collections.deque[Job] = collections.deque()
        self._cv = threading.Condition()  # reentrant: the SIGINT handler may take it too
        self._outstanding = 0
        self._producing = True
        self._sending: dict[int, Job] = {}  # requests in flight, by ticket
        self._tickets = itertools.count()
        self._settling = 0  # answered requests being accounted for (local work only)
        shared = shared_ctrl_c.get()
        #: Ctrl-C: this run's own, or the one its caller shares between runs in threads.
        self._ctrl_c = shared if shared is not None else CtrlC()
        self._owns_ctrl_c = shared is None

    @property
    def aborted(self) -> bool:
        """True once a second Ctrl-C gave up waiting for the requests in flight."""
        return self._ctrl_c.aborted

    def run(self, jobs: Iterable[Job]) -> None:
        """Send every (plan, batch) job; returns when all are settled (see the class)."""
        threads: list[threading.Thread] = []
        with self._ctrl_c_entered(), self._ctrl_c.listening(self._on_ctrl_c):
            try:
                pending = iter(jobs)
                first = next(pending, None)
                if first is None:
                    return
                with self._cv:
                    self._outstanding += 1
                with self._ctrl_c.blocking():
                    self._process(first)
                threads = [
                    threading.Thread(target=self._work, name=f"moecohort-send-{i}", daemon=True)
                    for i in range(self.workers)
                ]
                for t in threads:
                    t.start()
                for job in pending:
                    with self._cv:
                        # Bounded look-ahead, so streamed plans stay small in memory
                        # (once stopped, the rest is only accounted for: no need to wait).
                        while len(self._queue) >= 2 * self.workers and self.stopped_by is None:
                            self._cv.wait(WAKE_S)
                        if self.aborted:
                            self._not_sent(*job)
                            continue
                        self._queue.append(job)
                        self._outstanding += 1
                        self._cv.notify()
            finally:
                with self._cv:
                    self._producing = False
                    self._cv.notify_all()
                if not threads:  # stopped before the workers started: drain here
                    self._work()
                with self._ctrl_c.blocking():
                    for t in threads:
                        join(t, give_up=lambda: self.aborted)
        if self.aborted:
            self._account_abandoned()
        if self.progress is not None:
            self.progress.close()

    def _ctrl_c_entered(self) -> contextlib.AbstractContextManager[object]:
        """This run's own Ctrl-C handling, entered; nothing when its caller shares one."""
        return self._ctrl_c if self._owns_ctrl_c else contextlib.nullcontext()

    def _on_ctrl_c(self, press: int) -> None:
        """Press 1 stops the run; press 2 aborts it (the watcher thread calls this)."""
        if press == 1:
            log.warning("interrupted: stopping… (press Ctrl-C again to abort at once)")
            self._note("stopping…")
            self._stop(None, INTERRUPTED)
        elif press == 2:
            log.warning("aborting: not waiting for the requests in flight")
            self._note("aborting…")
            with self._cv:
                self._cv.notify_all()

    def _account_abandoned(self) -> None:
        """After an abort: the requests in flight and the jobs queued are accounted for
        now, and what the requests in flight answer later is ignored."""
        with self._cv:
            while self._settling:  # callbacks under way finish (no network: quick)
                self._cv.wait()
            in_flight = list(self._sending.values())
            self._sending.clear()
            queued = list(self._queue)
            self._queue.clear()
            self._outstanding -= len(queued)
            self._cv.notify_all()
        for plan, batch in in_flight:
            self._fail(
                plan,
                batch,
                None,
                "Interrupted",
                "aborted while this request was in flight: it may or may not have landed; "
                "safe to send again",
            )
        for plan, batch in queued:
            self._not_sent(plan, batch)

    def _next(self) -> Job | None:
        """The next job to send; None once every job is settled."""
        with self._cv:
            while not self._queue:
                if not self._producing and self._outstanding <= 0:
                    return None
                self._cv.wait()
            job = self._queue.popleft()
            self._cv.notify_all()
            return job

    def _done(self, new: Iterable[Job] = ()) -> None:
        with self._cv:
            for b in new:
                self._queue.appendleft(b)
                self._outstanding += 1
            self._outstanding -= 1
            self._cv.notify_all()

    def _work(self) -> None:
        if threading.current_thread() is not threading.main_thread():
            not_for_ctrl_c()
        while True:
            job = self._next()
            if job is None:
                return
            self._process(job)

    def _process(self, job: Job) -> None:
        """Send one batch and account for its users exactly once."""
        halves: list[Job] = []
        try:
            halves = self._send(*job)
        except Exception as exc:  # a bug, or a failing callback: stop, but lose nobody
            log.exception("client error while sending a batch")
            self._fail(*job, None, "ClientError", f"{type(exc).__name__}: {exc}")
            self._stop(APIError(None, "ClientError", str(exc)), f"client error: {exc}")
        finally:
            self._done(new=halves)

    def _send(self, plan: Plan, batch: Batch) -> list[Job]:
        """Send ``batch`` and settle it; returns the halves to send instead after a 413."""
        with self._cv:
            stopped = self.fatal is not None or self.stopped_by is not None
            if not stopped:
                ticket = next(self._tickets)
                self._sending[ticket] = (plan, batch)
        if stopped:
            self._not_sent(plan, batch)
            return []
        body = plan.body(batch)
        try:
            reply = self.transport.send(body)
        finally:
            answered = self._claim(ticket)  # False: an abort has accounted for it already
        if not answered:
            return []
        try:
            return self._settle(plan, batch, reply)
        finally:
            with self._cv:
                self._settling -= 1
                self._cv.notify_all()

    def _settle(self, plan: Plan, batch: Batch, reply: Reply) -> list[Job]:
        """Account for an answered request; returns the halves to send after a 413."""
        status = reply.status
        if status is None and reply.error_type == NOT_SENT:
            # The push stopped (401, 403, Ctrl-C, ...) while this body waited for its turn.
            self._not_sent(plan, batch)
            return []
        with self._cv:
            self.bodies += 1
        if reply.ok:
            self.on_success(plan, batch, reply)
            self._tick(batch)
        elif status == 413:
            halves = plan.split(batch)
            if halves is None:
                self._fail(
                    plan, batch, reply, reply.error_type or "Payload too large", reply.message
                )
                return []
            log.info("413 for a body of %d bytes: splitting it in two", batch.nbytes)
            return [(plan, half) for half in halves]
        elif status is not None and 400 < status < 500 and status != 429:  # 401, 403 too
            error = APIError.from_response(status, reply.body)
            if error.request_id is None:
                error.request_id = reply.request_id
            self._fail(plan, batch, reply, error.type, error.message)
            kind = {401: "authentication failed", 403: "account suspended or blocked"}.get(
                status, f"HTTP {status}"
            )
            self._stop(error, f"{kind}: {error}")
        else:
            # 400 (the batch's content), or retries exhausted (429, 5xx, network).
            self._fail(plan, batch, reply, reply.error_type, reply.message)
        return []

    def _claim(self, ticket: int) -> bool:
        """Take the settling of a request that came back; False once the run is aborted
        (the abort accounts for it)."""
        with self._cv:
            if self.aborted or self._sending.pop(ticket, None) is None:
                return False
            self._settling += 1
            return True

    def _not_sent(self, plan: Plan, batch: Batch) -> None:
        self._fail(plan, batch, None, NOT_SENT, f"not sent: the push stopped ({self.stopped_by})")

    def _fail(
        self,
        plan: Plan,
        batch: Batch,
        reply: Reply | None,
        error_type: str | None,
        message: str | None,
    ) -> None:
        adds, removes = plan.ids(batch)
        status = reply.status if reply else None
        request_id = reply.request_id if reply else None
        for ids, op in ((adds, "add"), (removes, "remove")):
            self.failures.add(ids, status, error_type, message, request_id, op=op)
        if reply is not None:  # the bar counts the users whose request was answered
            self._tick(batch)

    def _tick(self, batch: Batch) -> None:
        if self.progress is not None:
            with contextlib.suppress(Exception):  # a display problem never loses a batch
                self.progress.update(batch.members)

    def _note(self, text: str) -> None:
        if self.progress is not None:
            with contextlib.suppress(Exception):
                self.progress.set_postfix_str(text)

    def _stop(self, error: APIError | None, why: str) -> None:
        with self._cv:
            if self.stopped_by is None:
                self.fatal = error
                self.stopped_by = why
                log.error("stopping: %s", why)
            self._cv.notify_all()
        self.transport.stop()  # bodies waiting for the pacer or a retry are not sent
