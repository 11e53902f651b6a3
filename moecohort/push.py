"""Push users to a destination app as a cohort, and check that an app's credentials work.

``push_cohort`` validates everything before the first request (columns, ids,
cohort name, settings), drops anonymous users and repeats, packs the rest into
bodies of at most 128,000 bytes, and sends them paced and retried. The
:class:`~moecohort.results.PushResult` accounts for every input row exactly once:
``members_accepted + members_failed + skipped_anonymous + skipped_duplicates ==
input_rows``.
"""

from __future__ import annotations

import html
import logging
import time
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field

import pyarrow as pa

from . import _html
from ._constants import DEFAULT_REQUESTS_PER_MINUTE
from .credentials import AppCredentials, get_credentials
from .delivery import (
    Failures,
    Pieces,
    ProgressOption,
    Tally,
    Timeout,
    check_action,
    check_settings,
    jobs_of,
    plan_frame,
    progress_bar,
    send,
)
from .errors import InputError
from .input import IdSpool, PreparedIds, is_stream, prepare_ids, spool
from .payload import (
    Batch,
    Envelope,
    Plan,
    StreamedPlan,
    check_cohort_id,
    check_envelope,
    check_wire_format,
    pack,
    validate_cohort_name,
)
from .results import PushResult
from .transport import Reply, Transport

__all__ = ["ConnectionCheck", "check_connection", "push_cohort"]

log = logging.getLogger("moecohort")


def push_cohort(
    df: object,
    app: AppCredentials | str | None,
    cohort_name: str,
    *,
    id_col: str = "uid",
    action: str = "add",
    cohort_id: str | None = None,
    description: str | None = None,
    wire_format: str = "segment_sync",
    requests_per_minute: float = DEFAULT_REQUESTS_PER_MINUTE,
    max_in_flight: int | None = None,
    max_retries: int = 5,
    dry_run: bool = False,
    progress: ProgressOption = "auto",
    placeholders: Iterable[str] | None = None,
    timeout: Timeout = (10.0, 60.0),
    shared_budget: bool | None = None,
) -> PushResult:
    """Add the users of ``df`` to (or remove them from) a cohort in ``app``.

    ``df`` is a DataFrame (or a Series or list of ids), or, for inputs larger than
    memory, an iterator of DataFrame chunks, a Parquet or CSV path, or a pyarrow
    RecordBatchReader: those are read chunk by chunk, de-duplicated on disk and
    sent in the order the ids first appear (as in memory) while memory stays bounded.

    ``app`` is an :class:`AppCredentials` or a saved profile name. Everything is
    checked before anything is sent; see the module docs and the README for the
    rules. ``dry_run=True`` returns the plan without any HTTP request. ``progress``
    is ``"auto"`` (a tqdm bar in notebooks and terminals), True, False, or a
    callable ``progress(done_users, total_users)``. ``shared_budget`` (default: on, unless
    ``$MOECOHORT_SHARED_BUDGET=0``) shares the workspace's requests per minute with every
    other moecohort process of the machine; False paces this push alone.
    """
    started = time.monotonic()
    verb = check_action(action)
    settings = check_settings(
        wire_format=wire_format,
        requests_per_minute=requests_per_minute,
        max_in_flight=max_in_flight,
        max_retries=max_retries,
        timeout=timeout,
        shared_budget=shared_budget,
    )
    validate_cohort_name(cohort_name)
    cohort_id = check_cohort_id(cohort_id, cohort_name)
    if description is not None and not isinstance(description, str):
        raise InputError("description must be text or None.", param="description")
    if description is not None and settings.wire_format == "segment_sync":
        log.warning(
            "description is only sent in the cohort_sync wire format; it is ignored with "
            "segment_sync (pass wire_format='cohort_sync' to send it)"
        )
    creds = None if (dry_run and app is None) else get_credentials(app)
    envelope = Envelope(settings.wire_format, cohort_name, cohort_id, description)
    check_envelope(envelope)

    stored: IdSpool | None = None
    ids: IdSpool | PreparedIds
    pieces: Callable[[], Pieces]
    if is_stream(df):
        ids = stored = spool(df, id_col, placeholders=placeholders)
        unique = stored.unique
        chunks = stored.chunks
        streamed = (
            StreamedPlan(envelope, chunks)
            if verb == "add"
            else StreamedPlan(envelope, None, chunks)
        )
        pieces, n_bodies = streamed.pieces, streamed.total_pages
    else:
        ids = prepared = prepare_ids(df, id_col, placeholders=placeholders)
        unique = len(prepared.unique)
        none = pa.array([], pa.large_string())
        plan = (
            pack(envelope, prepared.unique)
            if verb == "add"
            else pack(envelope, none, prepared.unique)
        )

        def whole_plan() -> Pieces:
            return iter([(plan, plan.batches)])

        pieces = whole_plan
        n_bodies = len(plan.batches)
    result = PushResult(
        cohort_name=cohort_name,
        cohort_id=cohort_id,
        action=verb,
        wire_format=settings.wire_format,
        workspace_id=creds.workspace_id if creds else None,
        input_rows=ids.rows,
        skipped_anonymous=ids.anonymous,
        skipped_duplicates=ids.duplicates,
        anonymous_by_reason=ids.anonymous_by_reason,
        batches=n_bodies,
        dry_run=dry_run,
    )
    failures = Failures()
    try:
        if dry_run or creds is None:
            result.plan = plan_frame(pieces(), failures)
            result.members_planned = unique - failures.count
            result.failed = failures.frame()
            result.elapsed_s = time.monotonic() - started
            log.info("dry run: %s", result.headline)
            return result

        log.info(
            "pushing %s users (%s) to cohort %r in workspace %s: %s requests planned",
            f"{unique:,}",
            verb,
            cohort_name,
            creds.workspace_id,
            f"{n_bodies:,}",
        )
        accepted = Tally()

        def on_success(piece: Plan, batch: Batch, reply: Reply) -> None:
            accepted.add(batch.members)

        sent = send(
            creds,
            jobs_of(pieces(), failures),
            on_success=on_success,
            failures=failures,
            settings=settings,
            progress=progress_bar(progress, unique, f"push {cohort_name}"),
        )
    finally:
        if stored is not None:
            stored.close()
    result.members_accepted = accepted.value
    result.members_planned = unique - failures.count_of("IdTooLarge")
    result.failed = failures.frame()
    result.record(sent)
    result.elapsed_s = time.monotonic() - started
    log.info("%s", result.headline)
    if sent.fatal is not None:
        sent.fatal.result = result
        raise sent.fatal
    return result


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
    transport = Transport(
        creds, wire_format=check_wire_format(wire_format), max_retries=1, timeout=timeout
    )
    t0 = time.monotonic()
    try:
        reply = transport.send(b"{}")
    finally:
        transport.close()
    latency = (time.monotonic() - t0) * 1000
    rate = {k: v for k, v in reply.headers.items() if k.lower().startswith("x-ratelimit-")}
    status = reply.status

    def outcome(ok: bool, message: str) -> ConnectionCheck:
        return ConnectionCheck(
            ok=ok,
            status=status,
            message=message,
            error_type=reply.error_type,
            request_id=reply.request_id,
            latency_ms=latency,
            workspace_id=creds.workspace_id,
            rate_limit=rate,
        )

    body = reply.body if isinstance(reply.body, dict) else {}
    envelope = body.get("status") == "fail" or isinstance(body.get("error"), dict)
    if status == 400 and envelope:
        # The body was rejected in MoEngage's own words, so authentication had passed.
        msg = f"credentials accepted by {creds.host} (workspace {creds.workspace_id})"
        return outcome(True, msg)
    if status is not None and 200 <= status < 300:
        return outcome(
            True, "credentials accepted (the server also accepted an empty body, which is unusual)"
        )
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
    return outcome(False, msg.strip())
