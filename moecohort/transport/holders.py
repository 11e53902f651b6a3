"""Who is alive: each process that uses a shared rate budget holds a lock file for as long
as it lives, so the others can tell a live process from a dead one.

The operating system releases a process's file locks when it dies, however it dies
(``kill -9`` included), so "can I take that lock?" is a liveness test that needs no pid
(a pid may already belong to another process) and works the same on Linux, macOS and
Windows. The locks are :mod:`filelock`'s (already a dependency); each process holds one
per budget directory, under ``holders/``, named by its token (the pid and 8 random hex
digits). A holder's reservations carry its token and pid
(:mod:`~moecohort.transport.budget`).
"""

from __future__ import annotations

import atexit
import contextlib
import os
import secrets
import threading
import time
from pathlib import Path

import filelock

__all__ = ["HOLDERS_DIR", "Holder", "current_holder", "holder_alive"]

#: The sub-directory of a budget directory that holds the holders' lock files.
HOLDERS_DIR = "holders"
#: Lock files of dead processes older than this are swept when a process starts using a
#: budget directory (younger ones may belong to a process that is just starting).
SWEEP_AFTER_S = 3600.0


class Holder:
    """One process's identity in a budget directory: ``token`` (pid and random digits),
    ``pid``, and the lock file it holds until it dies or :meth:`release` is called."""

    def __init__(self, directory: Path) -> None:
        self.pid = os.getpid()
        self.token = f"{self.pid}-{secrets.token_hex(4)}"
        self.path = lock_path(directory, self.token)
        self.path.parent.mkdir(parents=True, exist_ok=True)
        self._lock = filelock.FileLock(str(self.path), thread_local=False)
        self._lock.acquire(timeout=0)  # a fresh name: nobody else holds it
        self.released = False

    def __repr__(self) -> str:
        return f"Holder({self.token!r}{', released' if self.released else ''})"

    def release(self) -> None:
        """Stop being alive in this directory (the process exits, or a test plays dead)."""
        if self.released:
            return
        self.released = True
        with contextlib.suppress(OSError):
            self.path.unlink()  # before unlocking: nobody can take the lock of a gone file
        with contextlib.suppress(OSError):
            self._lock.release(force=True)


def lock_path(directory: Path, token: str) -> Path:
    return directory / HOLDERS_DIR / f"{token}.lock"


def holder_alive(directory: Path, token: str) -> bool:
    """Whether the process that made ``token`` still lives (still holds its lock). A dead
    holder's lock file is removed on the way."""
    path = lock_path(directory, token)
    if not path.exists():
        return False  # released, or found dead by someone else already
    probe = filelock.FileLock(str(path), thread_local=False)
    try:
        probe.acquire(timeout=0)
    except filelock.Timeout:
        return True
    except OSError:
        return True  # cannot tell: assume alive (its reservations still expire)
    with contextlib.suppress(OSError):
        path.unlink()
    with contextlib.suppress(OSError):
        probe.release(force=True)
    return False


_holders: dict[Path, Holder] = {}
_holders_lock = threading.Lock()
#: Holders of the parent process, kept referenced in a forked child so that garbage
#: collection never unlocks what the parent still holds.
_inherited: list[Holder] = []


def current_holder(directory: Path) -> Holder:
    """This process's holder in ``directory``, made (and old dead ones swept) on first use."""
    key = directory.resolve()
    with _holders_lock:
        holder = _holders.get(key)
        if holder is None or holder.released:
            holder = _holders[key] = Holder(key)
            _sweep(key, holder.token)
        return holder


def _sweep(directory: Path, mine: str) -> None:
    """Remove the lock files of dead processes left behind (older than an hour)."""
    with contextlib.suppress(OSError):
        for path in (directory / HOLDERS_DIR).glob("*.lock"):
            token = path.stem
            if token == mine:
                continue
            with contextlib.suppress(OSError):
                if time.time() - path.stat().st_mtime > SWEEP_AFTER_S:
                    holder_alive(directory, token)  # removes the file when its holder is dead


def _forget_after_fork() -> None:
    # A forked child is another process: it makes its own holder when it needs one.
    _inherited.extend(_holders.values())
    _holders.clear()


def _release_all() -> None:
    with _holders_lock:
        for holder in _holders.values():
            if holder.pid == os.getpid():
                holder.release()
        _holders.clear()


if hasattr(os, "register_at_fork"):
    os.register_at_fork(after_in_child=_forget_after_fork)
atexit.register(_release_all)
