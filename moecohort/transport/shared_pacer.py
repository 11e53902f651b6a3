""":class:`SharedPacer`: a :class:`~moecohort.transport.pacer.Pacer` whose schedule every
moecohort process of a machine shares, for one (host, workspace, limit) budget.

It keeps every rule of the Pacer, now over all the processes' requests: every attempt
takes a start (retries too), starts are evenly spaced, at most ``rpm`` in any 60 s (plus
a small margin, :data:`~moecohort.transport.budget.WINDOW_MARGIN_S`) and ``ceil(rpm/60)``
in any second, on actual start times. Server hints reach every process: a pause
(``Retry-After``, a spent ``x-ratelimit-remaining``) holds the starts of every process of
the workspace, and a limit the server announces (``x-ratelimit-limit``) caps every
process's pace. Each process paces at its own ``requests_per_minute`` over everyone's
requests, so together they never go beyond the highest of their rates.

When the store cannot be used (a read-only or full disk, say), the pacer logs a warning
and paces its own requests alone, as a plain :class:`Pacer`.
"""

from __future__ import annotations

import contextlib
import logging
import os
import sqlite3
import threading
import time
from collections.abc import Callable

from .budget import (
    ANNOUNCED_TTL_S,
    COHORT_SYNC_LIMIT,
    BudgetKey,
    BudgetStore,
    Slot,
    shared_budget_enabled,
)
from .pacer import Pacer, following

__all__ = ["SharedPacer", "pacer_for"]

log = logging.getLogger("moecohort")


class SharedPacer(Pacer):
    """Paces starts at ``requests_per_minute`` with every other process that shares
    ``key``'s budget (see the module docs and :mod:`~moecohort.transport.budget`).

    ``store`` (default: a :class:`BudgetStore` in ``directory``, opened on first use) is
    closed by :meth:`close` when the pacer opened it. ``clock`` is the wall clock every
    process shares (tests pass a fake one, with a matching ``sleep``).
    """

    def __init__(
        self,
        requests_per_minute: float,
        key: BudgetKey,
        *,
        store: BudgetStore | None = None,
        directory: str | os.PathLike[str] | None = None,
        clock: Callable[[], float] = time.time,
        sleep: Callable[[float], None] = time.sleep,
    ) -> None:
        super().__init__(requests_per_minute, clock=clock, sleep=sleep)
        self.key = key
        self._store = store
        self._owns_store = store is None
        self._directory = directory
        self._alone = False  # the store failed: pace this process alone
        self._store_lock = threading.Lock()
        self._announced: tuple[float, float] | None = None  # (rpm, when) last recorded

    def __repr__(self) -> str:
        mode = "alone" if self._alone else "shared"
        return f"SharedPacer({self.rpm:g}/min, {self.key.workspace!r} at {self.key.host}, {mode})"

    @property
    def shared(self) -> bool:
        """False once the store failed and this pacer paces its process alone."""
        return not self._alone

    def store(self) -> BudgetStore | None:
        """The budget store (opened on first use); None when it cannot be used."""
        with self._store_lock:
            if self._store is None and not self._alone:
                try:
                    self._store = BudgetStore(self._directory)
                except (OSError, sqlite3.Error) as exc:
                    self._give_up(exc)
            return None if self._alone else self._store

    def _give_up(self, exc: BaseException) -> None:
        if not self._alone:
            self._alone = True
            where = self._directory or "the user data folder"
            log.warning(
                "the shared rate budget (in %s) cannot be used (%s): this process paces "
                "its own requests alone",
                where,
                exc,
            )

    def _take(self, cancel: threading.Event | None) -> float | None:
        store = self.store()
        if store is None:
            return super()._take(cancel)
        slot: Slot | None = None
        try:
            while True:
                if cancel is not None and cancel.is_set():
                    return None
                now = self._clock()
                if slot is None:
                    slot = store.take(self.key, now, self.rpm)
                else:
                    slot = store.confirm(slot, self.key, now, self.rpm)
                if slot.granted:
                    start, slot = slot.at, None
                    with self._lock:  # kept locally too, should the store fail later
                        self._next = following(self._next, start, self.interval)
                        self._sent.append(start)
                    return start
                self._wait(slot.at - now, cancel)
        except (OSError, sqlite3.Error) as exc:
            self._give_up(exc)
            slot = None
            return super()._take(cancel)
        finally:
            if slot is not None:  # cancelled (or failed) while holding a reservation
                with contextlib.suppress(OSError, sqlite3.Error):
                    store.release(slot)

    def slow_to(self, requests_per_minute: float) -> bool:
        """Lower this process's pace (as :meth:`Pacer.slow_to`) and record the limit the
        server announced for every process of the budget."""
        changed = super().slow_to(requests_per_minute)
        now = self._clock()
        last = self._announced
        if (
            last is not None
            and last[0] == requests_per_minute
            and now - last[1] < ANNOUNCED_TTL_S / 2
        ):
            return changed  # recorded lately: no need to write it again
        store = self.store()
        if store is not None and requests_per_minute >= 1:
            try:
                store.announce(self.key, float(requests_per_minute), now)
                self._announced = (requests_per_minute, now)
            except (OSError, sqlite3.Error) as exc:
                self._give_up(exc)
        return changed

    def pause_until(self, when: float) -> None:
        """Hold every start until ``when``: this process's and, through the store, those
        of every other process of the budget."""
        super().pause_until(when)
        store = self.store()
        if store is not None:
            try:
                store.pause_until(self.key, when, self._clock())
            except (OSError, sqlite3.Error) as exc:
                self._give_up(exc)

    def close(self) -> None:
        with self._store_lock:
            if self._owns_store and self._store is not None:
                with contextlib.suppress(sqlite3.Error):
                    self._store.close()
                self._store = None
                self._alone = True  # closed: anything after paces alone


def pacer_for(
    host: str,
    workspace: str,
    requests_per_minute: float,
    *,
    shared: bool | None = None,
    limit: str = COHORT_SYNC_LIMIT,
) -> Pacer:
    """The pacer for requests to ``workspace`` at ``host``: a :class:`SharedPacer` of the
    ``limit`` budget, or a plain :class:`Pacer` when ``shared`` is False (None: as
    :func:`~moecohort.transport.budget.shared_budget_enabled` says)."""
    if shared_budget_enabled(shared):
        return SharedPacer(requests_per_minute, BudgetKey.of(host, workspace, limit))
    return Pacer(requests_per_minute)
