"""Exact lookups: :func:`lookup_users` asks the destination app's Get User API about every
distinct id of an input.

The input is anything ``push_cohort`` takes (a DataFrame, a Series or list of ids, an
iterator of DataFrame chunks, a Parquet or CSV path, a pyarrow RecordBatchReader); ids
are made canonical and anonymous ones and repeats are set aside and counted, exactly as
for a push (:mod:`moecohort.input`). The distinct ids go out 20 a request at most, paced
at 1,000 users a minute (50 requests), every attempt counted, retries included
(:mod:`moecohort.lookup.run`).
"""

from __future__ import annotations

import contextlib
import logging
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass
from typing import Any

import pandas as pd
import pyarrow as pa
import requests

from .._constants import LOOKUPS_PER_MINUTE
from ..credentials import AppCredentials, get_credentials
from ..delivery import ProgressOption, Timeout, progress_bar
from ..input import IdSpool, is_stream, prepare_ids, spool
from ..transport import GET_USER_LIMIT, Transport
from .options import Clock, LookupOptions
from .result import LookupResult, empty_found
from .run import LookupRun
from .wire import UID_FIELD, check_fields, lookup_endpoint, requests_of

__all__ = ["IdSource", "lookup_users", "read_ids", "run_lookup"]

log = logging.getLogger("moecohort")

#: Ids read back from a spool at a time.
_PAGE = 10_000


@dataclass
class IdSource:
    """The distinct, non-anonymous canonical ids of an input, with its counts."""

    column: str
    rows: int
    anonymous_by_reason: dict[str, int]
    duplicates: int
    unique: int
    #: The distinct ids, a page at a time, in the order they first appear.
    pages: Callable[[], Iterator[pa.Array]]

    @property
    def anonymous(self) -> int:
        return sum(self.anonymous_by_reason.values())

    def ids(self) -> Iterator[str]:
        for page in self.pages():
            yield from page.to_pylist()

    def take(self, positions: Iterable[int]) -> list[str]:
        """The ids at ``positions`` (ascending) of :meth:`pages`' order."""
        wanted = iter(positions)
        out: list[str] = []
        at = next(wanted, None)
        offset = 0
        for page in self.pages():
            end = offset + len(page)
            while at is not None and at < end:
                out.append(page[at - offset].as_py())
                at = next(wanted, None)
            if at is None:
                break
            offset = end
        return out


@contextlib.contextmanager
def read_ids(
    data: Any, id_col: str, placeholders: Iterable[str] | None = None
) -> Iterator[IdSource]:
    """The :class:`IdSource` of ``data``: in memory (:func:`~moecohort.input.prepare_ids`),
    or spooled on disk for a streamed input (removed on exit)."""
    stored: IdSpool | None = None
    try:
        if is_stream(data):
            stored = spool(data, id_col, placeholders=placeholders)
            yield IdSource(
                id_col,
                stored.rows,
                stored.anonymous_by_reason,
                stored.duplicates,
                stored.unique,
                lambda: stored.chunks(_PAGE) if stored is not None else iter(()),
            )
        else:
            prepared = prepare_ids(data, id_col, placeholders=placeholders)
            unique = prepared.unique

            def pages() -> Iterator[pa.Array]:
                for start in range(0, len(unique), _PAGE):
                    yield unique.slice(start, _PAGE)

            yield IdSource(
                prepared.column,
                prepared.rows,
                prepared.anonymous_by_reason,
                prepared.duplicates,
                len(unique),
                pages,
            )
    finally:
        if stored is not None:
            stored.close()


def lookup_users(
    ids: Any,
    app: AppCredentials | str | None,
    *,
    id_col: str = "uid",
    fields: Iterable[str] | None = None,
    progress: ProgressOption = "auto",
    placeholders: Iterable[str] | None = None,
    users_per_minute: float = LOOKUPS_PER_MINUTE,
    max_in_flight: int | None = None,
    max_retries: int = 5,
    timeout: Timeout = (10.0, 60.0),
    clock: Clock | None = None,
    session: requests.Session | None = None,
) -> LookupResult:
    """Ask ``app``'s Get User API which of these users it knows.

    ``ids`` is anything :func:`~moecohort.push_cohort` takes (the id column is ``id_col``).
    ``fields``: the attributes to fetch for each user found (``user_fields_to_export``);
    None fetches every attribute the API returns. ``app`` is an :class:`AppCredentials` or
    a saved profile name.

    Sends at most 20 ids a request, never more than ``users_per_minute`` (1,000, the API's
    limit) a minute, retries included, and slows down when the server's ``x-ratelimit-*``
    headers say so. 429, 5xx and network errors are retried (``max_retries``); what still
    fails is in ``result.failed`` with the reason. 401 and 403 stop at once
    (:class:`~moecohort.AuthenticationError`, :class:`~moecohort.LookupsNotEnabledError` for
    a workspace without the Get User API, :class:`~moecohort.AccountSuspendedError`), as
    do 404 and ``LimitBreached``; the exception's ``.result`` holds what was found so far.

    ``max_in_flight``, ``timeout``: as for a push; ``clock`` (a callable with a
    ``sleep(seconds)`` method) drives the pacing and the retry waits, for tests; ``session``
    is the ``requests.Session`` to send with.
    """
    options = LookupOptions.of(
        users_per_minute=users_per_minute,
        max_in_flight=max_in_flight,
        max_retries=max_retries,
        timeout=timeout,
        clock=clock,
        session=session,
        progress=progress,
    )
    wanted = check_fields(fields)
    creds = get_credentials(app)
    started = options.now()
    with read_ids(ids, id_col, placeholders) as source:
        return run_lookup(creds, source, source.ids(), source.unique, wanted, options, started)


def run_lookup(
    creds: AppCredentials,
    source: IdSource,
    uids: Iterable[str],
    total: int,
    fields: list[str] | None,
    options: LookupOptions,
    started: float,
) -> LookupResult:
    """Look ``uids`` (``total`` of them, distinct, canonical) up and account for each one;
    the counts of ``source`` go into the result. Raises the error that stopped the run
    (401, 403, 404, ``LimitBreached``) with the result as its ``.result``."""
    minutes = total / options.users_per_minute
    log.info(
        "looking up %s users in workspace %s: about %s at %s users a minute",
        f"{total:,}",
        creds.workspace_id,
        f"{minutes * 60:.0f} s" if minutes < 2 else f"{minutes:.0f} minutes",
        f"{options.users_per_minute:,.0f}",
    )
    oversize: list[str] = []
    transport = Transport(
        creds,
        endpoint=lookup_endpoint(creds),
        retry=options.retry,
        timeout=options.timeout,
        session=options.session,
        pool_size=options.workers,
        requests_per_minute=options.requests_per_minute,
        pacer=options.pacer(),
        budget=GET_USER_LIMIT,
        sleep=options.clock.sleep if options.clock is not None else None,
    )
    run = LookupRun(
        transport,
        fields,
        workspace_id=creds.workspace_id,
        workers=options.workers,
        progress=progress_bar(options.progress, total, f"look up in {creds.workspace_id}"),
    )
    try:
        run.run(requests_of(uids, fields, oversize))
    finally:
        transport.close()
    if oversize:
        run.failures.add(
            pa.array(oversize, pa.large_string()),
            None,
            "IdTooLarge",
            "this id alone makes a Get User request larger than 128,000 bytes; not sent",
        )
    stats = transport.stats
    result = LookupResult(
        workspace_id=creds.workspace_id,
        column=source.column,
        fields=fields,
        input_rows=source.rows,
        skipped_anonymous=source.anonymous,
        skipped_duplicates=source.duplicates,
        anonymous_by_reason=dict(source.anonymous_by_reason),
        found=found_frame(run.order, run.found),
        not_found=[u for u in run.order if u in run.not_found],
        failed=run.failures.frame(),
        requests=stats.attempts,
        batches=run.bodies,
        retries=stats.retries,
        request_ids=list(stats.request_ids),
        statuses=dict(stats.statuses),
        elapsed_s=options.now() - started,
        stopped_by=run.stopped_by,
    )
    log.info("%s", result.headline)
    if run.fatal is not None:
        run.fatal.result = result
        raise run.fatal
    return result


def found_frame(order: list[str], found: dict[str, dict[str, Any]]) -> pd.DataFrame:
    """One row per user found, in the order of ``order``: ``uid``, then the attributes
    (``customer_id``, equal to ``uid``, left out)."""
    uids = [u for u in order if u in found]
    if not uids:
        return empty_found()
    frame = pd.DataFrame([found[u] for u in uids])
    frame = frame.drop(columns=[UID_FIELD], errors="ignore")
    frame = frame.rename(columns={"uid": "attribute uid"})  # a user attribute named "uid"
    frame.insert(0, "uid", pd.array(uids, dtype="string"))
    return frame
