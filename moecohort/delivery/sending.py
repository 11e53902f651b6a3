"""Delivering a plan: its jobs, the dry run's request plan, and one call that sends them."""

from __future__ import annotations

import threading
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass

import pandas as pd

from ..credentials import AppCredentials
from ..errors import APIError
from ..payload import Batch, Plan
from ..transport import Reply, Transport
from .failures import Failures
from .progress import Progress
from .runner import Job, Runner
from .settings import Settings

__all__ = ["Pieces", "Sent", "Tally", "jobs_of", "plan_frame", "send"]

Pieces = Iterable[tuple[Plan, list[Batch]]]


def jobs_of(pieces: Pieces, failures: Failures) -> Iterator[Job]:
    """The (plan, batch) jobs of a plan's pieces; ids too large to send go to ``failures``."""
    for piece, batches in _noting_oversize(pieces, failures):
        for batch in batches:
            yield piece, batch


def plan_frame(pieces: Pieces, failures: Failures) -> pd.DataFrame | None:
    """The request plan of a dry run, one row per body; oversize ids go to ``failures``."""
    frames = [piece.to_frame(batches) for piece, batches in _noting_oversize(pieces, failures)]
    return pd.concat(frames) if frames else None


def _noting_oversize(pieces: Pieces, failures: Failures) -> Iterator[tuple[Plan, list[Batch]]]:
    for piece, batches in pieces:
        failures.oversize(piece)
        yield piece, batches


class Tally:
    """A running total that several sending threads add to."""

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


def send(
    creds: AppCredentials,
    jobs: Iterable[Job],
    *,
    on_success: Callable[[Plan, Batch, Reply], None],
    failures: Failures,
    settings: Settings,
    progress: Progress | None = None,
) -> Sent:
    """Send (plan, batch) jobs to ``creds``' endpoint, paced and retried (see :class:`Runner`)."""
    transport = Transport(
        creds,
        wire_format=settings.wire_format,
        requests_per_minute=settings.requests_per_minute,
        retry=settings.retry,
        timeout=settings.timeout,
        pool_size=settings.workers,
        shared_budget=settings.shared_budget,
    )
    runner = Runner(
        transport,
        workers=settings.workers,
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
