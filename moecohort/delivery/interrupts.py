"""Ctrl-C during a run: the first press stops it, the second aborts it.

The signal handler only counts presses and writes a byte to a pipe; a watcher thread
reads the pipe and does the work (stopping the transport, waking the waiting threads,
logging). A handler that took a lock itself could deadlock: it runs in the main thread,
between two bytecodes of whatever the main thread was doing, perhaps while holding that
very lock. The one thing the handler does do is raise, on the second press, when the
main thread is waiting (for a request or for the sending threads): only an exception
gets the main thread out of such a wait at once.
"""

from __future__ import annotations

import contextlib
import os
import signal
import threading
from collections.abc import Callable, Iterator
from contextvars import ContextVar
from types import FrameType
from typing import Any

__all__ = ["WAKE_S", "Aborted", "CtrlC", "join", "not_for_ctrl_c", "shared_ctrl_c"]

#: How often a waiting main thread wakes up, so that its signal handler can run: Python
#: runs handlers in the main thread, and a wait the OS signal did not reach (it may land
#: on any thread) would otherwise only end when what it waits for ends.
WAKE_S = 0.1


def not_for_ctrl_c() -> None:
    """Called first in a thread of moecohort's own: SIGINT is delivered to another thread
    (the main one, whose wait it then interrupts at once)."""
    if hasattr(signal, "pthread_sigmask"):
        signal.pthread_sigmask(signal.SIG_BLOCK, {signal.SIGINT})


def join(thread: threading.Thread, give_up: Callable[[], bool] = lambda: False) -> None:
    """Wait for ``thread`` to end (or for ``give_up()``), waking every :data:`WAKE_S`."""
    while thread.is_alive() and not give_up():
        thread.join(WAKE_S)


#: The Ctrl-C listener of runs started in threads by one caller (a push to several apps):
#: set by that caller, read by each run (threads get it through ``contextvars``).
shared_ctrl_c: ContextVar[CtrlC | None] = ContextVar("moecohort_shared_ctrl_c", default=None)


class Aborted(BaseException):
    """Raised in the main thread by a second Ctrl-C, to leave a blocking wait at once."""


class CtrlC:
    r"""Counts Ctrl-C presses while it is entered (in the main thread only, and only when
    SIGINT is not ignored; otherwise it does nothing) and calls every listener's
    ``on_press(n)`` from a watcher thread for press ``n``.

    Several runs may share one (a push to several apps, each in its thread): whoever runs
    them enters it in the main thread and sets :data:`shared_ctrl_c`; each run then
    :meth:`listen`\ s to it instead of entering its own.

    A third press raises :class:`KeyboardInterrupt`: the user wants out, whatever it costs.
    """

    def __init__(self, on_press: Callable[[int], None] | None = None) -> None:
        self._listeners: list[Callable[[int], None]] = [] if on_press is None else [on_press]
        self._listeners_lock = threading.Lock()
        #: Presses so far (set by the handler: a plain attribute, no lock needed).
        self.presses = 0
        #: Whether the main thread is in a wait that a second press may cut short.
        self.main_blocked = False
        self._handled = 0  # presses the listeners were told of
        self._pipe: tuple[int, int] | None = None
        self._watcher: threading.Thread | None = None
        self._previous: Callable[[int, FrameType | None], Any] | int | None = None

    @property
    def aborted(self) -> bool:
        """True once a second press gave up on what was in flight."""
        return self.presses >= 2

    def __enter__(self) -> CtrlC:
        if threading.current_thread() is not threading.main_thread():
            return self
        if signal.getsignal(signal.SIGINT) is signal.SIG_IGN:
            return self  # told to ignore Ctrl-C (a background job, nohup): keep ignoring it
        read, write = os.pipe()
        try:
            self._previous = signal.signal(signal.SIGINT, self._handle)
        except ValueError:  # pragma: no cover - not the main interpreter
            os.close(read)
            os.close(write)
            return self
        self._pipe = (read, write)
        self._watcher = threading.Thread(target=self._watch, name="moecohort-ctrl-c", daemon=True)
        self._watcher.start()
        return self

    def __exit__(self, *exc: object) -> None:
        if self._pipe is None:
            return
        signal.signal(signal.SIGINT, self._previous)
        read, write = self._pipe
        os.close(write)  # the watcher handles the presses still in the pipe, then ends
        if self._watcher is not None:
            join(self._watcher)
        os.close(read)
        self._pipe = None

    @contextlib.contextmanager
    def listening(self, on_press: Callable[[int], None]) -> Iterator[None]:
        """Call ``on_press(n)`` for every press while inside (at once for the presses that
        came before)."""
        with self._listeners_lock:
            self._listeners.append(on_press)
            past = self._handled
        for press in range(1, past + 1):
            on_press(press)
        try:
            yield
        finally:
            with self._listeners_lock:
                self._listeners.remove(on_press)

    @contextlib.contextmanager
    def blocking(self) -> Iterator[None]:
        """A wait that a second press cuts short when the main thread is the one waiting
        (the wait itself must also stop waiting once :attr:`aborted`)."""
        on_main = threading.current_thread() is threading.main_thread()
        if on_main:
            self.main_blocked = True
        try:
            yield
        except Aborted:
            pass
        finally:
            if on_main:
                self.main_blocked = False

    def _handle(self, signum: int, frame: FrameType | None) -> None:
        self.presses += 1
        if self.presses >= 3:
            raise KeyboardInterrupt
        if self._pipe is not None:
            os.write(self._pipe[1], b"\0")
        if self.presses == 2 and self.main_blocked:
            raise Aborted

    def _watch(self) -> None:
        not_for_ctrl_c()
        assert self._pipe is not None
        read = self._pipe[0]
        while os.read(read, 1):
            with self._listeners_lock:
                self._handled += 1
                press, listeners = self._handled, list(self._listeners)
            for on_press in listeners:
                on_press(press)
