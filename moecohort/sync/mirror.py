"""Mirror sync: keep a destination cohort equal to a changing segment, safely.

Like Outbound Segment Sync, the first run sends everyone and later runs send
only who joined (adds) and who left (removes), compared with the membership the
destination is known to hold. That membership lives in a local SQLite file
(:class:`~moecohort.sync.state.SyncState`), updated in one transaction per
acknowledged request, so a run killed at any point (even with SIGKILL) and started
again sends only what was not acknowledged, and ends with the cohort equal to the
desired set. At most the requests that were in flight when the run died are sent
twice, which is harmless (membership is a set).

Two syncs of the same cohort never interleave: the second waits (``wait=``
seconds) or stops with :class:`~moecohort.SyncLockedError`.
"""

from __future__ import annotations

import hashlib
import logging
import os
import time
from collections.abc import Iterable
from typing import Any, Literal

from filelock import FileLock, Timeout

from .._constants import DEFAULT_REQUESTS_PER_MINUTE
from ..credentials import AppCredentials, get_credentials
from ..delivery import (
    Failures,
    ProgressOption,
    Sent,
    Settings,
    Tally,
    check_settings,
    jobs_of,
    plan_frame,
    progress_bar,
    send,
)
from ..delivery import Timeout as TimeoutSetting
from ..errors import InputError, SyncLockedError
from ..payload import (
    Batch,
    Envelope,
    Plan,
    StreamedPlan,
    check_cohort_id,
    check_envelope,
    validate_cohort_name,
)
from ..results import SyncResult
from ..transport import Reply
from .state import Changes, SyncState

__all__ = ["Resync", "sync_cohort"]

log = logging.getLogger("moecohort")

Resync = Literal["all", "last_diff"]
_MODES: dict[str | None, str] = {None: "diff", "all": "all", "last_diff": "last_diff"}


def sync_cohort(
    data: Any,
    app: AppCredentials | str,
    cohort_name: str,
    *,
    id_col: str = "uid",
    cohort_id: str | None = None,
    state: SyncState | str | os.PathLike[str] | None = None,
    resync: Resync | str | None = None,
    dry_run: bool = False,
    wire_format: str = "segment_sync",
    requests_per_minute: float = DEFAULT_REQUESTS_PER_MINUTE,
    max_in_flight: int | None = None,
    max_retries: int = 5,
    progress: ProgressOption = "auto",
    placeholders: Iterable[str] | None = None,
    timeout: TimeoutSetting = (10.0, 60.0),
    wait: float = 0,
    allow_empty: bool = False,
    shared_budget: bool | None = None,
) -> SyncResult:
    """Make the cohort in ``app`` hold exactly the (non-anonymous, distinct) users of ``data``.

    Sends only the difference from the membership the destination is known to
    hold (the first run sends everyone). ``resync="all"`` sends the whole desired
    set again; ``resync="last_diff"`` resends the difference of the latest run that
    changed something (as far as it still agrees with the desired set) along with
    today's difference. ``dry_run=True``
    returns counts, samples and the request plan, sending and recording nothing.

    ``data`` is anything :func:`~moecohort.push_cohort` takes, streamed inputs included.

    Users the destination does not know are accepted by the API (MoEngage never
    creates users) and so recorded as members: if they sign up in the destination
    later, a diff run will not send them again. Filter with
    :func:`~moecohort.keep_in_destination` first, or run ``resync="all"`` from time to time.
    ``state`` is a :class:`SyncState` or a path (default: the user data folder).
    An input with no usable id is refused unless ``allow_empty=True``, which
    removes everyone. ``shared_budget`` is as for :func:`~moecohort.push_cohort`.
    """
    started = time.monotonic()
    settings = check_settings(
        wire_format=wire_format,
        requests_per_minute=requests_per_minute,
        max_in_flight=max_in_flight,
        max_retries=max_retries,
        timeout=timeout,
        shared_budget=shared_budget,
    )
    mode = _MODES.get(resync) if isinstance(resync, (str, type(None))) else None
    if mode is None:
        raise InputError(
            f"resync must be None, 'all' or 'last_diff', not {resync!r}.", param="resync"
        )
    validate_cohort_name(cohort_name)
    cohort_id = check_cohort_id(cohort_id, cohort_name)
    creds = get_credentials(app)
    store = state if isinstance(state, SyncState) else SyncState(state)
    try:
        run = _Run(store, creds, cohort_name, cohort_id, mode, settings, started)
        if dry_run:
            return run.preview(data, id_col, placeholders, allow_empty)
        key = store.cohort_key(creds, cohort_id, cohort_name)
        assert key is not None  # created when missing
        lock = _acquire(store, key, cohort_name, wait)
        try:
            return run.apply(key, data, id_col, placeholders, allow_empty, progress)
        finally:
            lock.release()
    finally:
        if not isinstance(state, SyncState):
            store.close()


def _acquire(store: SyncState, key: int, cohort_name: str, wait: float) -> FileLock:
    """The cohort's lock file, next to the state file; :class:`SyncLockedError` when
    another sync holds it for longer than ``wait`` seconds."""
    digest = hashlib.sha256(f"{store.path.resolve()}|{key}".encode()).hexdigest()[:16]
    lock = FileLock(str(store.path.with_name(f"{store.path.name}.{digest}.lock")))
    try:
        try:
            lock.acquire(timeout=0)
        except Timeout:
            if not wait:
                raise
            log.info(
                "another sync of %r is running; waiting up to %gs for it to finish",
                cohort_name,
                wait,
            )
            lock.acquire(timeout=wait)
    except Timeout:
        who = store.running_run(key)
        raise SyncLockedError(
            f"Another sync of cohort {cohort_name!r} is running{f' ({who})' if who else ''}. "
            "Wait for it to finish, or pass wait=SECONDS to wait for it."
        ) from None
    return lock


class _Run:
    """One run of :func:`sync_cohort`: plan the changes, then preview or apply them."""

    def __init__(
        self,
        store: SyncState,
        creds: AppCredentials,
        cohort_name: str,
        cohort_id: str,
        mode: str,
        settings: Settings,
        started: float,
    ) -> None:
        self.store = store
        self.creds = creds
        self.cohort_name = cohort_name
        self.cohort_id = cohort_id
        self.mode = mode
        self.settings = settings
        self.started = started
        self.envelope = Envelope(settings.wire_format, cohort_name, cohort_id)
        check_envelope(self.envelope)

    def _plan(
        self,
        key: int | None,
        data: Any,
        id_col: str,
        placeholders: Iterable[str] | None,
        allow_empty: bool,
        *,
        resumed: bool = False,
        dry_run: bool = False,
    ) -> tuple[Changes, SyncResult, StreamedPlan]:
        changes = self.store.plan_changes(
            data,
            key,
            mode=self.mode,
            id_col=id_col,
            placeholders=placeholders,
            allow_empty=allow_empty,
        )
        desired = changes.desired
        result = SyncResult(
            cohort_name=self.cohort_name,
            cohort_id=self.cohort_id,
            workspace_id=self.creds.workspace_id,
            mode=self.mode,
            dry_run=dry_run,
            input_rows=desired.rows,
            skipped_anonymous=desired.anonymous,
            skipped_duplicates=desired.duplicates,
            anonymous_by_reason=dict(desired.anonymous_by_reason),
            desired=desired.unique,
            unchanged=changes.unchanged,
            to_add=changes.to_add,
            to_remove=changes.to_remove,
            resumed=resumed,
        )
        plan = StreamedPlan(self.envelope, self.store.planned_adds, self.store.planned_removes)
        return changes, result, plan

    def preview(
        self, data: Any, id_col: str, placeholders: Iterable[str] | None, allow_empty: bool
    ) -> SyncResult:
        """The dry run: counts, samples and the request plan; nothing sent or recorded."""
        key = self.store.cohort_key(self.creds, self.cohort_id, self.cohort_name, create=False)
        try:
            _, result, plan = self._plan(key, data, id_col, placeholders, allow_empty, dry_run=True)
            failures = Failures(with_op=True)
            result.plan = plan_frame(plan.pieces(), failures)
            result.failed = failures.frame()
            result.batches = plan.total_pages if (result.to_add or result.to_remove) else 0
            result.sample_adds, result.sample_removes = self.store.planned_samples()
            result.elapsed_s = time.monotonic() - self.started
            return result
        finally:
            self.store.forget_changes()

    def apply(
        self,
        key: int,
        data: Any,
        id_col: str,
        placeholders: Iterable[str] | None,
        allow_empty: bool,
        progress: ProgressOption,
    ) -> SyncResult:
        """Send the changes; the state follows every acknowledged request."""
        store = self.store
        # We hold the cohort's lock: a run still marked running died on the way.
        resumed = store.mark_interrupted(key)
        if resumed:
            log.warning(
                "the previous sync of %r did not finish; resuming after it", self.cohort_name
            )
        sent: Sent | None = None
        try:
            changes, result, plan = self._plan(
                key, data, id_col, placeholders, allow_empty, resumed=resumed
            )
            run_id = store.begin_run(key, self.mode, changes)
            result.run_id = run_id
            log.info(
                "sync %r (run %s, %s): %s to add, %s to remove, %s unchanged",
                self.cohort_name,
                run_id,
                self.mode,
                f"{result.to_add:,}",
                f"{result.to_remove:,}",
                f"{result.unchanged:,}",
            )
            try:
                sent = self._send(key, run_id, plan, result, progress)
                store.finish_run(
                    run_id,
                    status=result.status,
                    failed=result.failed,
                    requests=result.requests,
                    message=result.stopped_by,
                )
            except BaseException as exc:
                # Whatever stopped us, the run must not stay "running": the next run resumes it.
                store.abort_run(run_id, f"{type(exc).__name__}: {exc}")
                raise
        finally:
            store.forget_changes()
        log.info("%s", result.headline)
        if sent is not None and sent.fatal is not None:
            sent.fatal.result = result
            raise sent.fatal
        return result

    def _send(
        self,
        key: int,
        run_id: int,
        plan: StreamedPlan,
        result: SyncResult,
        progress: ProgressOption,
    ) -> Sent | None:
        store = self.store
        added, removed = Tally(), Tally()
        failures = Failures(with_op=True)

        def acknowledged(piece: Plan, batch: Batch, reply: Reply) -> None:
            adds, removes = piece.ids(batch)
            store.acknowledge(key, run_id, adds, removes)  # one transaction per request
            added.add(len(adds))
            removed.add(len(removes))

        sent = None
        changes = result.to_add + result.to_remove
        if changes:
            sent = send(
                self.creds,
                jobs_of(plan.pieces(), failures),
                on_success=acknowledged,
                failures=failures,
                settings=self.settings,
                progress=progress_bar(progress, changes, f"sync {self.cohort_name}"),
            )
            result.record(sent)
        result.added, result.removed = added.value, removed.value
        result.failed = failures.frame()
        result.elapsed_s = time.monotonic() - self.started
        return sent
