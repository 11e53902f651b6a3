"""One rate budget per (host, workspace, limit) for every moecohort process of a machine.

Two notebooks, or a cron sync and an ad-hoc push, that send to the same workspace share
its requests per minute through :class:`BudgetStore`: a small SQLite file in the user
data folder (``platformdirs``; ``$MOECOHORT_BUDGET_DIR`` names another directory).

*Why SQLite.* Every start is a read-modify-write of the schedule (where is the grid, how
many starts are in the last second and the last 60 s, is the workspace paused), made by
several processes at once. SQLite (in the standard library) gives that as one
transaction (``BEGIN IMMEDIATE``), indexed range counts for the windows, and an
all-or-nothing commit that a process killed half-way (``kill -9``) cannot leave torn. A
JSON file under a :mod:`filelock` lock would re-read and rewrite the whole schedule for
every request and need its own crash-safe writes. :mod:`filelock` is used for what it
does best: telling live processes from dead ones (:mod:`~moecohort.transport.holders`).

*What is stored.* A budget is keyed by ``(host, workspace, limit)``: the limit names the
API's counter (``"cohort_sync"``, 300 requests a minute; the Get User API's will be
another), so one workspace can hold several budgets. Each budget holds the server's
pause (``paused_until``), the limit the server announced (``x-ratelimit-limit``), and
its *slots*: one row per request start (``at``, and ``due``, the grid time it was due
at, from which the next start's grid time follows at the pace of whoever asks), with the
token and pid of the process that took it. A slot is *pending* while its
process waits for that time, *sent* once the process starts the request at the actual
time (the row then holds the actual time).

*How a start is taken* (:meth:`BudgetStore.take`, :meth:`BudgetStore.confirm`): the same
rules as :class:`~moecohort.transport.pacer.Pacer`, over everyone's slots. The earliest
start is the latest of the grid's next slot, the pause, the 60 s window (the
``per_window``-th latest slot + 60 s + a margin) and the 1 s window; a start due now is
granted at once, a later one is reserved (a pending slot, after every other slot: first
come, first served) and the process sleeps until then. Awake, it confirms at the actual
time: granted when the pause is over and the actual time keeps both windows and half a
slot from every other start; otherwise its slot goes back and it takes a new one.

*Dead processes.* A pending slot is a promise of a start that has not happened; a process
that dies (even ``kill -9``) keeps none: the next process to take a slot finds its lock
free (:func:`~moecohort.transport.holders.holder_alive`) and drops its pending slots,
which are then reused. A pending slot a minute past its time is dropped whoever holds
it (a stopped process). Sent slots stay until they leave the windows, whoever sent them:
the server counted them.

*Time.* Slots are wall-clock times (:func:`time.time`), the one clock every process
shares. A clock set back (by more than 5 s) makes every stored time meaningless: the
store forgets its slots and pauses and starts again. No pause is held longer than an
hour, and slots more than two hours ahead are dropped.
"""

from __future__ import annotations

import contextlib
import math
import os
import sqlite3
import threading
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

from .._constants import RATE_WINDOW_S
from .._sqlite import open_shared
from ..errors import ConfigurationError
from .holders import Holder, current_holder, holder_alive
from .pacer import Rate, following

__all__ = [
    "BUDGET_DIR_ENV",
    "BUDGET_FILE",
    "COHORT_SYNC_LIMIT",
    "GET_USER_LIMIT",
    "SHARED_BUDGET_ENV",
    "WINDOW_MARGIN_S",
    "BudgetKey",
    "BudgetStore",
    "Slot",
    "default_budget_dir",
    "shared_budget_enabled",
]

#: Environment variable naming the budget directory (default: in the user data folder).
BUDGET_DIR_ENV = "MOECOHORT_BUDGET_DIR"
#: Environment variable that turns the shared budget off (``0``, ``false``, ``no``, ``off``).
SHARED_BUDGET_ENV = "MOECOHORT_SHARED_BUDGET"
#: The store's file, inside the budget directory.
BUDGET_FILE = "budget.sqlite"
#: The limit name of the Cohort Sync API's requests per minute.
COHORT_SYNC_LIMIT = "cohort_sync"
#: The budget of the Get User API's requests (1,000 users a minute: 50 full requests).
GET_USER_LIMIT = "get_user"
#: Added to the 60 s window: requests of different processes reach the server with
#: different delays after their start, so a window held to exactly 60 s on start times
#: could put one request too many into the server's minute.
WINDOW_MARGIN_S = 0.25
#: A pending slot this long past its time is dropped, whoever holds it (a stopped process).
PENDING_TTL_S = RATE_WINDOW_S
#: Sent slots are kept this long (past every window).
KEEP_S = 2 * RATE_WINDOW_S
#: A limit the server announced counts this long after it was last seen.
ANNOUNCED_TTL_S = 3600.0
#: Pauses longer than this, and slots further ahead than twice it, come from a clock that
#: was set back: they are dropped.
MAX_AHEAD_S = 3600.0
#: A clock that goes back by more than this has been set back: the store starts again.
CLOCK_STEP_S = 5.0

_OFF = frozenset({"0", "false", "no", "off"})
_ON = frozenset({"", "1", "true", "yes", "on"})

_SCHEMA = """
CREATE TABLE IF NOT EXISTS meta (key TEXT PRIMARY KEY, value REAL);
CREATE TABLE IF NOT EXISTS budgets (
    id INTEGER PRIMARY KEY,
    host TEXT NOT NULL,
    workspace TEXT NOT NULL,
    limit_name TEXT NOT NULL,
    paused_until REAL,
    announced_rpm REAL,
    announced_at REAL,
    UNIQUE (host, workspace, limit_name)
);
CREATE TABLE IF NOT EXISTS slots (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    budget INTEGER NOT NULL,
    at REAL NOT NULL,
    due REAL NOT NULL,
    pending INTEGER NOT NULL,
    holder TEXT NOT NULL,
    pid INTEGER NOT NULL
);
CREATE INDEX IF NOT EXISTS slots_by_time ON slots (budget, at);
CREATE INDEX IF NOT EXISTS slots_by_holder ON slots (holder, pending);
"""
#: ``PRAGMA user_version`` of the schema above. The store holds nothing that outlives a
#: minute or two, so a file of another version is simply made again.
SCHEMA_VERSION = 1
_TABLES = ("meta", "budgets", "slots")


def default_budget_dir() -> Path:
    """``$MOECOHORT_BUDGET_DIR``, else ``budget`` in the user data folder (platformdirs)."""
    env = os.environ.get(BUDGET_DIR_ENV, "").strip()
    if env:
        return Path(env).expanduser()
    import platformdirs

    return platformdirs.user_data_path("moecohort") / "budget"


def shared_budget_enabled(value: object = None) -> bool:
    """``shared_budget`` as a bool: True or False as given; None: on, unless
    ``$MOECOHORT_SHARED_BUDGET`` says ``0``, ``false``, ``no`` or ``off``."""
    if isinstance(value, bool):
        return value
    if value is not None:
        raise ConfigurationError(
            f"shared_budget must be True, False or None, not {value!r}.", setting="shared_budget"
        )
    text = os.environ.get(SHARED_BUDGET_ENV, "").strip().lower()
    if text in _OFF:
        return False
    if text in _ON:
        return True
    raise ConfigurationError(
        f"{SHARED_BUDGET_ENV} must be 1 or 0 (true/false, yes/no, on/off), not {text!r}.",
        setting=SHARED_BUDGET_ENV,
    )


@dataclass(frozen=True)
class BudgetKey:
    """What a budget is shared by: the API host, the workspace, and the limit's name."""

    host: str
    workspace: str
    limit: str = COHORT_SYNC_LIMIT

    @classmethod
    def of(cls, host: str, workspace: str, limit: str = COHORT_SYNC_LIMIT) -> BudgetKey:
        """The key with the host written one way (lower case, no trailing slash)."""
        return cls(host.strip().rstrip("/").lower(), workspace, limit)


@dataclass(frozen=True)
class Slot:
    """A start taken from a budget: ``granted`` (start now; ``at`` is now) or reserved for
    ``at`` (sleep until then, then :meth:`BudgetStore.confirm`)."""

    id: int
    at: float
    granted: bool


def _create(conn: sqlite3.Connection) -> None:
    """The store's tables (those of an older schema dropped: they hold nothing lasting)."""
    conn.execute("BEGIN IMMEDIATE")
    (version,) = conn.execute("PRAGMA user_version").fetchone()
    if version != SCHEMA_VERSION:
        for table in _TABLES:
            conn.execute(f"DROP TABLE IF EXISTS {table}")
        conn.execute(f"PRAGMA user_version = {SCHEMA_VERSION}")
    for statement in _SCHEMA.split(";"):
        if statement.strip():
            conn.execute(statement)
    conn.execute("COMMIT")


class BudgetStore:
    """The shared schedule of request starts, in ``budget.sqlite`` in ``directory``
    (default: :func:`default_budget_dir`). See the module docs for the rules.

    Every method takes ``now`` (the caller's :func:`time.time`, or a test's fake clock)
    and is one transaction. ``holder`` is this process's identity (default: made on
    first use; tests pass their own to play several processes).
    """

    def __init__(
        self,
        directory: str | os.PathLike[str] | None = None,
        *,
        holder: Holder | None = None,
        margin_s: float = WINDOW_MARGIN_S,
    ) -> None:
        self.directory = Path(directory).expanduser() if directory else default_budget_dir()
        self.directory.mkdir(parents=True, exist_ok=True)
        self.path = self.directory / BUDGET_FILE
        self.holder = holder or current_holder(self.directory)
        self.margin_s = margin_s
        self._lock = threading.Lock()
        self._ids: dict[BudgetKey, int] = {}
        self._conn = open_shared(self.path, timeout=60, setup=_create, isolation_level=None)

    def __repr__(self) -> str:
        return f"BudgetStore({str(self.path)!r})"

    def close(self) -> None:
        with self._lock:
            self._conn.close()

    @contextlib.contextmanager
    def _write(self) -> Iterator[sqlite3.Connection]:
        with self._lock:
            conn = self._conn
            conn.execute("BEGIN IMMEDIATE")
            try:
                yield conn
            except BaseException:
                conn.execute("ROLLBACK")
                raise
            conn.execute("COMMIT")

    # ------------------------------------------------------------------ starts
    def take(self, key: BudgetKey, now: float, rpm: float) -> Slot:
        """The next start for a caller pacing at ``rpm``: granted now, or reserved."""
        with self._write() as conn:
            budget = self._open(conn, key, now)
            return self._place(conn, budget, now, self._rate(conn, budget, rpm, now))

    def confirm(self, slot: Slot, key: BudgetKey, now: float, rpm: float) -> Slot:
        """Start the reserved ``slot`` at ``now`` if the rules still allow it (granted);
        otherwise the slot goes back and a new one is returned (or ``slot`` itself,
        unchanged, before its time)."""
        with self._write() as conn:
            budget = self._open(conn, key, now)
            rate = self._rate(conn, budget, rpm, now)
            row = conn.execute(
                "SELECT at FROM slots WHERE id = ? AND pending = 1 AND holder = ?",
                (slot.id, self.holder.token),
            ).fetchone()
            if row is not None and now < row[0]:
                return slot  # woke early: keep waiting for it
            if row is not None and self._fits(conn, budget, slot.id, row[0], now, rate):
                conn.execute("UPDATE slots SET at = ?, pending = 0 WHERE id = ?", (now, slot.id))
                return Slot(slot.id, now, granted=True)
            self._drop(conn, slot)
            return self._place(conn, budget, now, rate)

    def release(self, slot: Slot) -> None:
        """Give a reserved slot back (the caller will not send): others may take it."""
        with self._write() as conn:
            self._drop(conn, slot)

    def _drop(self, conn: sqlite3.Connection, slot: Slot) -> None:
        """Delete ``slot`` if it is still this holder's reservation (and nothing else)."""
        conn.execute(
            "DELETE FROM slots WHERE id = ? AND pending = 1 AND holder = ?",
            (slot.id, self.holder.token),
        )

    # ------------------------------------------------------------------ server hints
    def pause_until(self, key: BudgetKey, when: float, now: float) -> None:
        """Hold every start of the budget until ``when`` (never shortens a pause)."""
        when = min(when, now + MAX_AHEAD_S)
        with self._write() as conn:
            budget = self._open(conn, key, now)
            conn.execute(
                "UPDATE budgets SET paused_until = MAX(COALESCE(paused_until, ?), ?) WHERE id = ?",
                (when, when, budget),
            )

    def announce(self, key: BudgetKey, rpm: float, now: float) -> None:
        """Record the limit the server announced (``x-ratelimit-limit``) for everyone."""
        with self._write() as conn:
            budget = self._open(conn, key, now)
            conn.execute(
                "UPDATE budgets SET announced_rpm = ?, announced_at = ? WHERE id = ?",
                (rpm, now, budget),
            )

    # ------------------------------------------------------------------ reading
    def paused_until(self, key: BudgetKey) -> float | None:
        with self._lock:
            row = self._conn.execute(
                "SELECT paused_until FROM budgets WHERE host = ? AND workspace = ? "
                "AND limit_name = ?",
                (key.host, key.workspace, key.limit),
            ).fetchone()
        return None if row is None else row[0]

    def slots(self, key: BudgetKey) -> list[tuple[float, bool, int]]:
        """The budget's slots, oldest first, as ``(at, pending, pid)``."""
        with self._lock:
            rows = self._conn.execute(
                "SELECT s.at, s.pending, s.pid FROM slots s JOIN budgets b ON b.id = s.budget "
                "WHERE b.host = ? AND b.workspace = ? AND b.limit_name = ? ORDER BY s.at",
                (key.host, key.workspace, key.limit),
            ).fetchall()
        return [(at, bool(pending), pid) for at, pending, pid in rows]

    # ------------------------------------------------------------------ the rules
    def _open(self, conn: sqlite3.Connection, key: BudgetKey, now: float) -> int:
        """The budget's id (created when missing), with what is stale dropped."""
        self._check_clock(conn, now)
        budget = self._ids.get(key)
        if budget is None:
            conn.execute(
                "INSERT OR IGNORE INTO budgets (host, workspace, limit_name) VALUES (?, ?, ?)",
                (key.host, key.workspace, key.limit),
            )
            budget = conn.execute(
                "SELECT id FROM budgets WHERE host = ? AND workspace = ? AND limit_name = ?",
                (key.host, key.workspace, key.limit),
            ).fetchone()[0]
            self._ids[key] = budget
        conn.execute(
            "DELETE FROM slots WHERE budget = ? AND (at < ? OR at > ?)",
            (budget, now - KEEP_S, now + 2 * MAX_AHEAD_S),
        )
        conn.execute(
            "DELETE FROM slots WHERE budget = ? AND pending = 1 AND at < ?",
            (budget, now - PENDING_TTL_S),
        )
        others = conn.execute(
            "SELECT DISTINCT holder FROM slots WHERE budget = ? AND pending = 1 AND holder != ?",
            (budget, self.holder.token),
        ).fetchall()
        for (token,) in others:
            if not holder_alive(self.directory, token):
                conn.execute("DELETE FROM slots WHERE holder = ? AND pending = 1", (token,))
        conn.execute(
            "UPDATE budgets SET paused_until = NULL WHERE id = ? AND paused_until > ?",
            (budget, now + MAX_AHEAD_S),
        )
        return int(budget)

    def _check_clock(self, conn: sqlite3.Connection, now: float) -> None:
        """Start again when the wall clock was set back; remember the latest time seen."""
        row = conn.execute("SELECT value FROM meta WHERE key = 'latest'").fetchone()
        if row is not None and now < row[0] - CLOCK_STEP_S:
            conn.execute("DELETE FROM slots")
            conn.execute("UPDATE budgets SET paused_until = NULL, announced_at = NULL")
            conn.execute("UPDATE meta SET value = ? WHERE key = 'latest'", (now,))
        elif row is None or now > row[0]:
            conn.execute("INSERT OR REPLACE INTO meta VALUES ('latest', ?)", (now,))

    def _rate(self, conn: sqlite3.Connection, budget: int, rpm: float, now: float) -> Rate:
        """The caller's pace, no faster than what the server announced lately."""
        row = conn.execute(
            "SELECT announced_rpm, announced_at FROM budgets WHERE id = ?", (budget,)
        ).fetchone()
        announced, seen = row
        if announced is not None and seen is not None and seen >= now - ANNOUNCED_TTL_S:
            rpm = min(rpm, announced)
        return Rate(rpm)

    def _place(self, conn: sqlite3.Connection, budget: int, now: float, rate: Rate) -> Slot:
        """Grant a start now, or reserve the earliest one after every other slot."""
        last = conn.execute(
            "SELECT due, at FROM slots WHERE budget = ? ORDER BY at DESC LIMIT 1", (budget,)
        ).fetchone()
        # The Pacer's grid, at the caller's pace: the slot after the last start (a late
        # start made up by at most half a slot), or a new grid after an idle spell.
        grid = -math.inf if last is None else following(last[0], last[1], rate.interval)
        (paused,) = conn.execute(
            "SELECT paused_until FROM budgets WHERE id = ?", (budget,)
        ).fetchone()
        at = max(
            grid,
            -math.inf if paused is None else paused,
            self._nth_latest(conn, budget, rate.per_window) + RATE_WINDOW_S + self.margin_s,
            self._nth_latest(conn, budget, rate.per_second) + 1.0,
        )
        start = max(at, now)
        due = start if start > grid + rate.interval else grid  # idle: a new grid starts
        slot = conn.execute(
            "INSERT INTO slots (budget, at, due, pending, holder, pid) VALUES (?, ?, ?, ?, ?, ?)",
            (budget, start, due, int(at > now), self.holder.token, self.holder.pid),
        ).lastrowid
        assert slot is not None
        return Slot(slot, start, granted=at <= now)

    def _nth_latest(self, conn: sqlite3.Connection, budget: int, n: int) -> float:
        row = conn.execute(
            "SELECT at FROM slots WHERE budget = ? ORDER BY at DESC LIMIT 1 OFFSET ?",
            (budget, n - 1),
        ).fetchone()
        return -math.inf if row is None else float(row[0])

    def _fits(
        self,
        conn: sqlite3.Connection,
        budget: int,
        slot: int,
        reserved: float,
        now: float,
        rate: Rate,
    ) -> bool:
        """Whether a slot reserved for ``reserved`` may start at ``now`` instead."""
        (paused,) = conn.execute(
            "SELECT paused_until FROM budgets WHERE id = ?", (budget,)
        ).fetchone()
        if paused is not None and now < paused:
            return False  # paused meanwhile (by any process)
        half = rate.interval / 2
        crowded = conn.execute(
            "SELECT 1 FROM slots WHERE budget = ? AND id != ? AND at > ? AND at < ? LIMIT 1",
            (budget, slot, now - half, now + half),
        ).fetchone()
        if crowded:
            return False
        # The windows that hold ``now`` but did not hold ``reserved`` start in
        # (reserved, now]: at ``now`` itself, or at another slot in between.
        starts = [now] + [
            at
            for (at,) in conn.execute(
                "SELECT at FROM slots WHERE budget = ? AND id != ? AND at > ? AND at <= ?",
                (budget, slot, reserved, now),
            )
        ]
        for width, most in (
            (RATE_WINDOW_S + self.margin_s, rate.per_window),
            (1.0, rate.per_second),
        ):
            for start in starts:
                (count,) = conn.execute(
                    "SELECT COUNT(*) FROM slots WHERE budget = ? AND id != ? AND at >= ? "
                    "AND at < ?",
                    (budget, slot, start, start + width),
                ).fetchone()
                if count + 1 > most:
                    return False
        return True
