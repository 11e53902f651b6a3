"""Push a DataFrame of users to a destination app as a cohort.

``push_cohort`` validates everything before the first request (columns, ids,
cohort name, settings), drops anonymous users and repeats, packs the rest into
bodies of at most 128,000 bytes, and sends them paced and retried. The
:class:`PushResult` accounts for every input row exactly once:
``members_accepted + members_failed + skipped_anonymous + skipped_duplicates ==
input_rows``.
"""

from __future__ import annotations

import collections
import contextlib
import html
import logging
import math
import signal
import sys
import threading
import time
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass, field
from typing import Any, Literal

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.compute as pc

from . import _html
from ._constants import MAX_BODY_BYTES
from .credentials import AppCredentials, get_credentials
from .errors import (
    APIError,
    ConfigurationError,
    InputError,
    PushFailedError,
)
from .identifiers import (
    _as_series,
    _string_array,
    _without_anonymous,
    require_column,
    to_arrow_ids,
)
from .payload import (
    WIRE_FORMATS,
    Batch,
    Envelope,
    Plan,
    StreamedPlan,
    cohort_id_for,
    pack,
    validate_cohort_name,
)
from .sources import IdSpool, all_anonymous_error, is_stream, spool
from .transport import DEFAULT_MAX_IN_FLIGHT, MAX_IN_FLIGHT_LIMIT, NOT_SENT, Reply, Transport

__all__ = [
    "ConnectionCheck",
    "PreparedIds",
    "PushResult",
    "check_connection",
    "prepare_ids",
    "push_cohort",
]

log = logging.getLogger("moecohort")

Action = Literal["add", "remove"]
FAILED_COLUMNS = ["uid", "status", "error_type", "message", "request_id"]


# --------------------------------------------------------------------------- results
def _plural(n: int, word: str) -> str:
    return f"{n:,} {word}{'' if n == 1 else 's'}"


@dataclass(repr=False)
class PushResult:
    """What happened to every user of a push (or, with ``dry_run``, what would)."""

    cohort_name: str
    cohort_id: str
    action: str
    wire_format: str
    workspace_id: str | None
    input_rows: int
    members_accepted: int = 0
    members_failed: int = 0
    skipped_anonymous: int = 0
    skipped_duplicates: int = 0
    #: One row per failed user: uid, status (HTTP status, missing when no response),
    #: error_type, message, request_id.
    failed: pd.DataFrame = field(default_factory=lambda: _failed_frame())
    requests: int = 0
    batches: int = 0
    retries: int = 0
    request_ids: list[str] = field(default_factory=list)
    elapsed_s: float = 0.0
    dry_run: bool = False
    #: Members that were (or, in a dry run, would be) sent.
    members_planned: int = 0
    #: The request plan: one row per body (members, bytes, fill of the 128,000 limit).
    plan: pd.DataFrame | None = None
    #: Anonymous rows by reason: missing, blank, placeholder.
    anonymous_by_reason: dict[str, int] = field(default_factory=dict)
    #: HTTP statuses (and network errors) seen, every attempt included.
    statuses: dict[str, int] = field(default_factory=dict)
    #: Set when the push stopped early (401, 403, ...).
    stopped_by: str | None = None

    @property
    def ok(self) -> bool:
        """True when every non-anonymous, distinct user was accepted (or, in a dry
        run, can be sent)."""
        return self.members_failed == 0 and self.stopped_by is None

    @property
    def accounted(self) -> int:
        """Rows accounted for; always equals ``input_rows``."""
        done = self.members_planned if self.dry_run else self.members_accepted
        return done + self.members_failed + self.skipped_anonymous + self.skipped_duplicates

    def raise_for_status(self) -> PushResult:
        """Raise :class:`~moecohort.PushFailedError` unless every user was accepted."""
        if not self.ok:
            total = self.members_accepted + self.members_failed
            if self.dry_run:
                total = self.members_planned + self.members_failed
            raise PushFailedError(
                f"{self.members_failed:,} of {total:,} "
                f"users were not accepted for cohort {self.cohort_name!r}"
                + (f" (stopped: {self.stopped_by})" if self.stopped_by else "")
                + "; see result.failed",
                self,
            )
        return self

    def summary(self) -> pd.DataFrame:
        """The counts, one per row."""
        done_label = "members planned" if self.dry_run else "members accepted"
        done = self.members_planned if self.dry_run else self.members_accepted
        rows = [
            ("input rows", self.input_rows),
            (done_label, done),
            ("members failed", self.members_failed),
            ("skipped: anonymous", self.skipped_anonymous),
            ("skipped: duplicate", self.skipped_duplicates),
            ("requests (HTTP attempts)", self.requests),
            ("request bodies", self.batches),
            ("retries", self.retries),
        ]
        return pd.DataFrame(rows, columns=["", "count"]).set_index("")

    def _headline(self) -> str:
        verb = "would push" if self.dry_run else ("pushed" if self.ok else "push incomplete:")
        what = "add" if self.action == "add" else "remove"
        done = self.members_planned if self.dry_run else self.members_accepted
        return (
            f"{verb} {done:,} users ({what}) to cohort {self.cohort_name!r}"
            + (f" in workspace {self.workspace_id}" if self.workspace_id else "")
            + (f" in {self.elapsed_s:.1f}s" if not self.dry_run else "")
        )

    def __repr__(self) -> str:
        lines = [f"PushResult: {self._headline()}"]
        lines += [f"  {k:<26} {int(v):>12,}" for k, v in self.summary()["count"].items()]
        if self.stopped_by:
            lines.append(f"  stopped: {self.stopped_by}")
        if self.dry_run and self.plan is not None and len(self.plan):
            fill = self.plan["fill"]
            lines.append(
                f"  plan: {_plural(len(self.plan), 'request')}, "
                f"{int(self.plan['bytes'].sum()):,} bytes, "
                f"fill {fill.min():.1%}..{fill.max():.1%}"
            )
        if len(self.failed):
            lines.append("  failed (first rows):")
            lines += ["    " + line for line in self.failed.head(5).to_string().splitlines()]
        return "\n".join(lines)

    def _repr_html_(self) -> str:
        rows = [(k, f"{int(v):,}") for k, v in self.summary()["count"].items()]
        sections = []
        if self.plan is not None and len(self.plan):
            sections.append(
                (f"request plan ({len(self.plan):,} bodies)", _html.frame_html(self.plan))
            )
        if len(self.failed):
            sections.append((f"failed users ({len(self.failed):,})", _html.frame_html(self.failed)))
        note = None
        if self.stopped_by:
            note = "Stopped: " + html.escape(self.stopped_by)
        status = (self.ok, "dry run" if self.dry_run else ("ok" if self.ok else "not ok"))
        return _html.table_html(
            f"PushResult: {self._headline()}", rows, note=note, status=status, sections=sections
        )


@dataclass(frozen=True)
class PreparedIds:
    """Canonical ids of a push, after anonymous users and repeats are set aside."""

    column: str
    rows: int
    unique: pa.Array  # large_string, first-appearance order
    anonymous_by_reason: dict[str, int]
    duplicates: int

    @property
    def anonymous(self) -> int:
        return sum(self.anonymous_by_reason.values())


def prepare_ids(
    data: Any, id_col: str = "uid", *, placeholders: Iterable[str] | None = None
) -> PreparedIds:
    """Validate the input and return its distinct, non-anonymous canonical ids.

    Raises :class:`InputError` for an empty input, a missing column, ids that are
    not text or whole numbers, and an input with no usable id at all.
    """
    if isinstance(data, pd.DataFrame):
        if data.shape[0] == 0:
            raise InputError("The DataFrame is empty: there is nobody to push.")
        require_column(data, id_col)
        ids = to_arrow_ids(data[id_col], column=id_col, frame=data)
        column = id_col
    elif isinstance(
        data, (pd.Series, pd.Index, list, tuple, np.ndarray, pa.Array, pa.ChunkedArray)
    ):
        series = _as_series(data)
        column = str(series.name) if series.name is not None else id_col
        if len(series) == 0:
            raise InputError("No ids given: there is nobody to push.")
        ids = to_arrow_ids(series, column=column)
    else:
        raise InputError(
            f"Expected a DataFrame (or a Series / list of ids), got {type(data).__name__}."
        )
    valid, by_reason = _without_anonymous(ids, placeholders)
    usable = len(valid)
    if usable == 0:
        raise all_anonymous_error(len(ids), by_reason, column)
    if not pa.types.is_large_string(valid.type):
        valid = valid.cast(pa.large_string())
    unique = pc.unique(valid)  # keeps first-appearance order
    if isinstance(unique, pa.ChunkedArray):
        unique = unique.combine_chunks()
    return PreparedIds(column, len(ids), unique, by_reason, usable - len(unique))


# --------------------------------------------------------------------------- the push
def push_cohort(
    df: Any,
    app: AppCredentials | str | None,
    cohort_name: str,
    *,
    id_col: str = "uid",
    action: Action = "add",
    cohort_id: str | None = None,
    description: str | None = None,
    wire_format: str = "segment_sync",
    requests_per_minute: float = 300,
    max_in_flight: int | None = None,
    max_retries: int = 5,
    dry_run: bool = False,
    progress: ProgressOption = "auto",
    placeholders: Iterable[str] | None = None,
    timeout: tuple[float, float] = (10.0, 60.0),
) -> PushResult:
    """Add the users of ``df`` to (or remove them from) a cohort in ``app``.

    ``df`` is a DataFrame (or a Series or list of ids), or, for inputs larger than
    memory, an iterator of DataFrame chunks, a Parquet or CSV path, or a pyarrow
    RecordBatchReader: those are read chunk by chunk, de-duplicated on disk and
    sent in id order while memory stays bounded.

    ``app`` is an :class:`AppCredentials` or a saved profile name. Everything is
    checked before anything is sent; see the module docs and the README for the
    rules. ``dry_run=True`` returns the plan without any HTTP request. ``progress``
    is ``"auto"`` (a tqdm bar in notebooks and terminals), True, False, or a
    callable ``progress(done_users, total_users)``.
    """

    started = time.monotonic()
    settings = _check_settings(
        action, wire_format, requests_per_minute, max_in_flight, max_retries, timeout
    )
    validate_cohort_name(cohort_name)
    cohort_id = _check_cohort_id(cohort_id, cohort_name)
    if description is not None and not isinstance(description, str):
        raise InputError("description must be text or None.")
    if description is not None and wire_format == "segment_sync":
        log.warning(
            "description is only sent in the cohort_sync wire format; it is ignored with "
            "segment_sync (pass wire_format='cohort_sync' to send it)"
        )
    creds = None if (dry_run and app is None) else get_credentials(app)
    envelope = Envelope(wire_format, cohort_name, cohort_id, description)  # type: ignore[arg-type]
    check_envelope(envelope)
    empty = pa.array([], pa.large_string())

    stored = None
    ids: IdSpool | PreparedIds
    if is_stream(df):
        ids = stored = spool(df, id_col, placeholders=placeholders)
        unique = stored.unique
        chunks = stored.chunks
        streamed = StreamedPlan(
            envelope, chunks if action == "add" else None, None if action == "add" else chunks
        )
        pieces, n_bodies = streamed.pieces, streamed.total_pages
    else:
        ids = prepared = prepare_ids(df, id_col, placeholders=placeholders)
        unique = len(prepared.unique)
        plan = (
            pack(envelope, prepared.unique)
            if action == "add"
            else pack(envelope, empty, prepared.unique)
        )
        pieces, n_bodies = (lambda: iter([(plan, plan.batches)])), len(plan.batches)
    result = PushResult(
        cohort_name=cohort_name,
        cohort_id=cohort_id,
        action=action,
        wire_format=wire_format,
        workspace_id=creds.workspace_id if creds else None,
        input_rows=ids.rows,
        skipped_anonymous=ids.anonymous,
        skipped_duplicates=ids.duplicates,
        anonymous_by_reason=ids.anonymous_by_reason,
        batches=n_bodies,
        dry_run=dry_run,
    )
    failures = _Failures()
    try:
        if dry_run or creds is None:
            result.plan = plan_frame(pieces(), failures)
            result.members_failed = failures.count
            result.members_planned = unique - failures.count
            result.failed = failures.frame()
            result.elapsed_s = time.monotonic() - started
            log.info("dry run: %s", result._headline())
            return result

        log.info(
            "pushing %s users (%s) to cohort %r in workspace %s: %s requests planned",
            f"{unique:,}",
            action,
            cohort_name,
            creds.workspace_id,
            f"{n_bodies:,}",
        )

        accepted = Counter()

        def on_success(plan: Plan, batch: Batch, reply: Reply) -> None:
            accepted.add(batch.members)

        sent = send(
            creds,
            jobs_of(pieces(), failures),
            on_success=on_success,
            failures=failures,
            wire_format=wire_format,
            requests_per_minute=requests_per_minute,
            workers=settings["workers"],
            max_retries=max_retries,
            timeout=settings["timeout"],
            progress=_progress_bar(progress, unique, f"push {cohort_name}"),
        )
    finally:
        if stored is not None:
            stored.close()
    result.members_accepted = accepted.value
    result.members_failed = failures.count
    result.members_planned = unique - failures.count_of("IdTooLarge")
    result.failed = failures.frame()
    sent.fill(result)
    result.elapsed_s = time.monotonic() - started
    log.info("%s", result._headline())
    if sent.fatal is not None:
        sent.fatal.result = result
        raise sent.fatal
    return result


Pieces = Iterable[tuple[Plan, list[Batch]]]


def jobs_of(pieces: Pieces, failures: _Failures) -> Iterator[Job]:
    """The (plan, batch) jobs of a plan's pieces; ids too large to send go to ``failures``."""
    for piece, batches in _noting_oversize(pieces, failures):
        for batch in batches:
            yield piece, batch


def plan_frame(pieces: Pieces, failures: _Failures) -> pd.DataFrame | None:
    """The request plan of a dry run, one row per body; oversize ids go to ``failures``."""
    frames = [piece.to_frame(batches) for piece, batches in _noting_oversize(pieces, failures)]
    return pd.concat(frames) if frames else None


def _noting_oversize(pieces: Pieces, failures: _Failures) -> Iterator[tuple[Plan, list[Batch]]]:
    for piece, batches in pieces:
        failures.oversize(piece)
        yield piece, batches


class Counter:
    """A thread-safe running total."""

    def __init__(self) -> None:
        self.value = 0
        self._lock = threading.Lock()

    def add(self, n: int) -> None:
        with self._lock:
            self.value += n


@dataclass
class Sent:
    """What sending a stream of jobs took and how it ended."""

    requests: int
    retries: int
    bodies: int
    request_ids: list[str]
    statuses: dict[str, int]
    stopped_by: str | None
    fatal: APIError | None

    def fill(self, result: Any) -> None:
        """Copy the figures onto a result object with the same field names."""
        result.requests = self.requests
        result.retries = self.retries
        result.batches = self.bodies
        result.request_ids = self.request_ids
        result.statuses = self.statuses
        result.stopped_by = self.stopped_by


def send(
    creds: AppCredentials,
    jobs: Iterable[Job],
    *,
    on_success: Callable[[Plan, Batch, Reply], None],
    failures: _Failures,
    wire_format: str,
    requests_per_minute: float,
    workers: int,
    max_retries: int,
    timeout: tuple[float, float],
    progress: Any = None,
) -> Sent:
    """Send (plan, batch) jobs to ``creds``' endpoint, paced and retried (see :class:`Runner`)."""
    transport = Transport(
        creds,
        wire_format=wire_format,
        requests_per_minute=requests_per_minute,
        max_retries=max_retries,
        timeout=timeout,
        pool_size=workers,
    )
    runner = Runner(
        transport,
        workers=workers,
        on_success=on_success,
        failures=failures,
        progress=progress,
    )
    try:
        runner.run(jobs)
    finally:
        transport.close()
    stats = transport.stats
    return Sent(
        requests=stats.attempts,
        retries=stats.retries,
        bodies=runner.bodies,
        request_ids=list(stats.request_ids),
        statuses=dict(stats.statuses),
        stopped_by=runner.stopped_by,
        fatal=runner.fatal,
    )


def _check_settings(
    action: str,
    wire_format: str,
    requests_per_minute: float,
    max_in_flight: int | None,
    max_retries: int,
    timeout: Any = (10.0, 60.0),
) -> dict[str, Any]:
    parts = timeout if isinstance(timeout, (tuple, list)) else (timeout, timeout)
    if len(parts) != 2 or not all(
        isinstance(t, (int, float)) and not isinstance(t, bool) and 0 < t < math.inf for t in parts
    ):
        raise ConfigurationError(
            "timeout must be seconds (a positive number) or a (connect, read) pair of them, "
            f"not {timeout!r}."
        )
    if action not in ("add", "remove"):
        raise InputError(f"action must be 'add' or 'remove', not {action!r}.")
    if wire_format not in WIRE_FORMATS:
        raise InputError(
            f"wire_format must be one of {', '.join(WIRE_FORMATS)}, not {wire_format!r}."
        )
    if isinstance(requests_per_minute, bool) or not isinstance(requests_per_minute, (int, float)):
        raise ConfigurationError("requests_per_minute must be a number.")
    if not 0 < requests_per_minute < float("inf"):
        raise ConfigurationError(
            f"requests_per_minute must be above 0, not {requests_per_minute!r} "
            "(MoEngage allows 300 per minute)."
        )
    if max_in_flight is not None and (
        isinstance(max_in_flight, bool)
        or not isinstance(max_in_flight, int)
        or not 1 <= max_in_flight <= MAX_IN_FLIGHT_LIMIT
    ):
        raise ConfigurationError(
            f"max_in_flight must be None or an int from 1 to {MAX_IN_FLIGHT_LIMIT}, "
            f"not {max_in_flight!r}."
        )
    if isinstance(max_retries, bool) or not isinstance(max_retries, int) or max_retries < 0:
        raise ConfigurationError(f"max_retries must be an int >= 0, not {max_retries!r}.")
    return {"workers": max_in_flight or DEFAULT_MAX_IN_FLIGHT, "timeout": tuple(parts)}


def check_envelope(envelope: Envelope) -> None:
    """Refuse a cohort name, id or description so long that little room is left for users."""
    overhead = max(envelope.overhead(action="add"), envelope.overhead(action="remove"))
    if overhead > MAX_BODY_BYTES // 2:
        raise InputError(
            f"The cohort name, cohort_id and description take {overhead:,} bytes of each "
            f"{MAX_BODY_BYTES:,}-byte request; shorten them."
        )


def _check_cohort_id(cohort_id: str | None, cohort_name: str) -> str:
    if cohort_id is None:
        return cohort_id_for(cohort_name)
    if not isinstance(cohort_id, str) or not cohort_id.strip():
        raise InputError(f"cohort_id must be non-empty text, not {cohort_id!r}.")
    return cohort_id


# --------------------------------------------------------------------------- failures
@dataclass(frozen=True)
class _FailedPart:
    ids: pa.Array
    status: int | None
    error_type: str | None
    message: str | None
    request_id: str | None
    op: str


class _Failures:
    """Collects failed users, batch by batch, thread-safely. With ``with_op`` (mirror
    sync) each row also says whether it was an ``add`` or a ``remove``.

    Ids stay in their pyarrow arrays and the per-batch fields are stored once per
    batch (categoricals in the frame), so even millions of failed users (a stopped
    10M-id push) take little more memory than their ids.
    """

    def __init__(self, *, with_op: bool = False) -> None:
        self._parts: list[_FailedPart] = []
        self._lock = threading.Lock()
        self.with_op = with_op
        self.count = 0

    def add(
        self,
        ids: pa.Array,
        status: int | None,
        error_type: str | None,
        message: str | None,
        request_id: str | None = None,
        op: str = "add",
    ) -> None:
        if len(ids) == 0:
            return
        part = _FailedPart(ids, status, error_type, message, request_id, op)
        with self._lock:
            self._parts.append(part)
            self.count += len(ids)

    def oversize(self, plan: Plan) -> None:
        pairs = (
            ("add", plan.adds, plan.oversize_adds),
            ("remove", plan.removes, plan.oversize_removes),
        )
        for op, members, positions in pairs:
            if positions:
                self.add(
                    members.ids.take(pa.array(positions)),
                    None,
                    "IdTooLarge",
                    f"this id alone makes a request body larger than {MAX_BODY_BYTES:,} bytes; "
                    "not sent",
                    op=op,
                )

    def count_of(self, error_type: str) -> int:
        with self._lock:
            return sum(len(p.ids) for p in self._parts if p.error_type == error_type)

    def frame(self) -> pd.DataFrame:
        with self._lock:
            parts = list(self._parts)
        if not parts:
            empty = _failed_frame()
            if self.with_op:
                empty.insert(0, "op", pd.Categorical([], categories=["add", "remove"]))
            return empty
        lengths = np.array([len(p.ids) for p in parts])
        ids = pa.chunked_array([p.ids.cast(pa.large_string()) for p in parts])
        statuses = np.repeat([p.status if p.status is not None else 0 for p in parts], lengths)
        missing = np.repeat([p.status is None for p in parts], lengths)
        columns: dict[str, Any] = {}
        if self.with_op:
            columns["op"] = _repeat_categorical([p.op for p in parts], lengths)
        columns["uid"] = _string_array(ids)
        columns["status"] = pd.arrays.IntegerArray(statuses.astype("int64"), missing)
        for name in ("error_type", "message", "request_id"):
            columns[name] = _repeat_categorical([getattr(p, name) for p in parts], lengths)
        return pd.DataFrame(columns)


def _repeat_categorical(values: list[str | None], lengths: np.ndarray) -> pd.Categorical:
    """One value per part, repeated ``lengths`` times, as a categorical (None -> missing)."""
    categories = sorted({v for v in values if v is not None})
    code_of = {v: i for i, v in enumerate(categories)}
    codes = np.repeat([code_of[v] if v is not None else -1 for v in values], lengths)
    return pd.Categorical.from_codes(codes, categories=categories)


def _failed_frame() -> pd.DataFrame:
    """An empty frame of failed users, with the columns and dtypes of a real one."""
    return pd.DataFrame(
        {
            "uid": pd.array([], dtype="string"),
            "status": pd.array([], dtype="Int64"),
            "error_type": pd.array([], dtype="string"),
            "message": pd.array([], dtype="string"),
            "request_id": pd.array([], dtype="string"),
        }
    )


# --------------------------------------------------------------------------- the runner
_STOP = object()
#: One unit of work: a batch and the plan that can render, split and name it.
Job = tuple[Plan, Batch]


class Runner:
    """Sends the batches of a plan with up to ``workers`` requests in flight.

    The first body goes alone, so a wrong key or a wrong URL costs one request.
    After that, workers wait on the transport's pacer, so the number actually in
    flight is what the latency needs to hold the pace (``latency x rate``), up to
    ``workers``. A 413 splits the batch in two and sends the halves; a 400 fails
    the batch's users; 401/403 (and other errors that would repeat for every
    batch, such as 404) stop the run: batches not yet sent are reported as failed
    with ``error_type="NotSent"``, and :attr:`fatal` holds the error. Ctrl-C stops
    the run the same way (:attr:`stopped_by` says so) without losing any user.
    Every batch's users are accounted for exactly once, as accepted or failed.
    """

    def __init__(
        self,
        transport: Transport,
        *,
        workers: int,
        on_success: Callable[[Plan, Batch, Reply], None],
        failures: _Failures,
        progress: Any = None,
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
        self._cv = threading.Condition()
        self._outstanding = 0
        self._producing = True

    def run(self, jobs: Iterable[Job]) -> None:
        """Send every (plan, batch) job; returns when all are settled.

        In the main thread, a first Ctrl-C (or a Jupyter "interrupt kernel") stops the
        run gracefully: nothing more is sent and every remaining user is accounted as
        not sent. A second Ctrl-C raises KeyboardInterrupt at once.
        """
        threads: list[threading.Thread] = []
        with self._interruptible():
            try:
                pending = iter(jobs)
                first = next(pending, None)
                if first is None:
                    return
                with self._cv:
                    self._outstanding += 1
                self._process(first)
                threads = [
                    threading.Thread(target=self._work, name=f"moecohort-send-{i}", daemon=True)
                    for i in range(self.workers)
                ]
                for t in threads:
                    t.start()
                while True:
                    with self._cv:
                        # Bounded look-ahead, so streamed plans stay small in memory
                        # (once stopped, the rest is only accounted for: no need to wait).
                        while len(self._queue) >= 2 * self.workers and self.stopped_by is None:
                            self._cv.wait(0.5)
                    job = next(pending, None)
                    if job is None:
                        break
                    with self._cv:
                        self._queue.append(job)
                        self._outstanding += 1
                        self._cv.notify()
            finally:
                with self._cv:
                    self._producing = False
                    self._cv.notify_all()
                if not threads:  # stopped before the workers started: drain here
                    self._work()
                for t in threads:
                    t.join()
                if self.progress is not None:
                    self.progress.close()

    @contextlib.contextmanager
    def _interruptible(self) -> Iterator[None]:
        """Turn the first SIGINT into a graceful stop while the run is in progress."""
        if threading.current_thread() is not threading.main_thread():
            yield
            return
        previous = signal.getsignal(signal.SIGINT)

        def on_sigint(signum: int, frame: Any) -> None:
            if self.stopped_by == "interrupted by the user":
                raise KeyboardInterrupt  # second press: stop now
            log.warning("interrupted: stopping (press Ctrl-C again to abort at once)")
            self._stop(None, "interrupted by the user")

        try:
            signal.signal(signal.SIGINT, on_sigint)
        except ValueError:  # pragma: no cover - not the main interpreter
            yield
            return
        try:
            yield
        finally:
            signal.signal(signal.SIGINT, previous)

    def _next(self) -> Job | object:
        with self._cv:
            while not self._queue:
                if not self._producing and self._outstanding == 0:
                    return _STOP
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
        while True:
            job = self._next()
            if job is _STOP:
                return
            self._process(job)  # type: ignore[arg-type]

    def _process(self, job: Job) -> None:
        """Send one batch and account for its users exactly once."""
        halves: list[Job] = []
        try:
            halves = self._send(*job)
        except Exception as exc:  # a bug, or a failing callback: stop, but lose nobody
            log.exception("client error while sending a batch")
            self._fail(*job, None, "ClientError", f"{type(exc).__name__}: {exc}")
            self._stop(APIError(None, "ClientError", str(exc)), f"client error: {exc}")
        except BaseException:
            # Ctrl-C while this batch was on its way: it may or may not have landed.
            self._fail(*job, None, "Interrupted", "interrupted while sending; safe to push again")
            raise
        finally:
            self._done(new=halves)

    def _send(self, plan: Plan, batch: Batch) -> list[Job]:
        """Send ``batch`` and settle it; returns the halves to send instead after a 413."""
        if self.fatal is not None or self.stopped_by is not None:
            self._not_sent(plan, batch)
            return []
        body = plan.body(batch)
        reply = self.transport.send(body)
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
        self._tick(batch)

    def _tick(self, batch: Batch) -> None:
        if self.progress is not None:
            with contextlib.suppress(Exception):  # a display problem never loses a batch
                self.progress.update(batch.members)

    def _stop(self, error: APIError | None, why: str) -> None:
        with self._cv:
            if self.stopped_by is None:
                self.fatal = error
                self.stopped_by = why
                log.error("stopping: %s", why)
            self._cv.notify_all()
        self.transport.stop()  # bodies waiting for the pacer or a retry are not sent


ProgressOption = bool | Literal["auto"] | Callable[[int, int], None]


class _CallbackProgress:
    """Calls ``fn(done, total)`` as users are settled (for widgets and dashboards)."""

    def __init__(self, fn: Callable[[int, int], None], total: int) -> None:
        self.fn = fn
        self.total = total
        self.done = 0
        self._lock = threading.Lock()
        fn(0, total)

    def update(self, n: int) -> None:
        with self._lock:
            self.done += n
            done = self.done
        self.fn(done, self.total)

    def close(self) -> None:
        pass


def _progress_bar(progress: ProgressOption, total: int, desc: str) -> Any:
    """A tqdm.auto bar (``True``, or ``"auto"`` in notebooks and terminals), a callback
    ``progress(done, total)``, or nothing."""
    if callable(progress) and not isinstance(progress, bool):
        return _CallbackProgress(progress, total)
    if progress == "auto":
        progress = _interactive()
    if not progress:
        return None
    from tqdm.auto import tqdm

    return tqdm(total=total, desc=desc, unit="users", unit_scale=True, leave=True)


def _interactive() -> bool:
    """True in a Jupyter kernel or when stderr is a terminal."""
    if "ipykernel" in sys.modules:
        try:
            from IPython import get_ipython

            shell = get_ipython()
            if shell is not None and shell.__class__.__name__ == "ZMQInteractiveShell":
                return True
        except ImportError:  # pragma: no cover
            pass
    try:
        return sys.stderr.isatty()
    except (AttributeError, ValueError):
        return False


# --------------------------------------------------------------------------- connection check
@dataclass(frozen=True)
class ConnectionCheck:
    """Outcome of :func:`check_connection`."""

    ok: bool
    status: int | None
    message: str
    error_type: str | None = None
    request_id: str | None = None
    latency_ms: float | None = None
    workspace_id: str | None = None
    rate_limit: dict[str, str] = field(default_factory=dict)

    def __str__(self) -> str:
        return ("OK: " if self.ok else "FAILED: ") + self.message

    def _repr_html_(self) -> str:
        rows = [("status", self.status if self.status is not None else "no response")]
        if self.latency_ms is not None:
            rows.append(("latency", f"{self.latency_ms:.0f} ms"))
        if self.request_id:
            rows.append(("request_id", self.request_id))
        rows += list(self.rate_limit.items())
        return _html.table_html(
            f"Connection to {self.workspace_id or 'workspace'}",
            rows,
            note=html.escape(self.message),
            status=(self.ok, "ok" if self.ok else "failed"),
        )


def check_connection(
    app: AppCredentials | str,
    *,
    wire_format: str = "segment_sync",
    timeout: tuple[float, float] = (10.0, 30.0),
) -> ConnectionCheck:
    """Tell whether ``app``'s credentials are accepted, without creating anything.

    Method: one POST of the empty JSON object ``{}`` with the real headers and
    authentication. The gateway checks authentication and account state before
    it reads the body, so a valid key gets ``400 MissingAttributeError`` (the
    body is rejected, nothing is created) while a bad key gets 401 and a
    suspended workspace 403. It costs one request of the rate limit.
    """
    creds = get_credentials(app)
    transport = Transport(creds, wire_format=wire_format, max_retries=1, timeout=timeout)
    t0 = time.monotonic()
    try:
        reply = transport.send(b"{}")
    finally:
        transport.close()
    latency = (time.monotonic() - t0) * 1000
    rate = {k: v for k, v in reply.headers.items() if k.lower().startswith("x-ratelimit-")}
    base = dict(
        status=reply.status,
        error_type=reply.error_type,
        request_id=reply.request_id,
        latency_ms=latency,
        workspace_id=creds.workspace_id,
        rate_limit=rate,
    )
    status = reply.status
    body = reply.body if isinstance(reply.body, dict) else {}
    envelope = body.get("status") == "fail" or isinstance(body.get("error"), dict)
    if status == 400 and envelope:
        # The body was rejected in MoEngage's own words, so authentication had passed.
        msg = f"credentials accepted by {creds.host} (workspace {creds.workspace_id})"
        return ConnectionCheck(ok=True, message=msg, **base)  # type: ignore[arg-type]
    if status is not None and 200 <= status < 300:
        msg = "credentials accepted (the server also accepted an empty body, which is unusual)"
        return ConnectionCheck(ok=True, message=msg, **base)  # type: ignore[arg-type]
    if status == 401:
        msg = f"credentials rejected: {reply.message or 'unauthorized'}"
    elif status == 403:
        msg = f"workspace blocked or suspended: {reply.message or reply.error_type}"
    elif status == 404:
        msg = f"no Cohort Sync endpoint at {creds.endpoint}: check the data center or base URL"
    elif status is None:
        msg = f"could not reach {creds.host}: {reply.message}"
    else:
        msg = f"unexpected answer HTTP {status}: {reply.error_type or ''} {reply.message or ''}"
    return ConnectionCheck(ok=False, message=msg.strip(), **base)  # type: ignore[arg-type]
