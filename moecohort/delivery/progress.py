"""Progress: a tqdm.auto bar in notebooks and terminals, or a callback for widgets."""

from __future__ import annotations

import sys
import threading
from collections.abc import Callable
from typing import Any, Literal, Protocol

__all__ = ["CallbackProgress", "Progress", "ProgressOption", "progress_bar"]

#: What ``progress=`` takes: ``"auto"`` (a bar in notebooks and terminals), True, False,
#: or a callable ``progress(done_users, total_users)``.
ProgressOption = bool | Literal["auto"] | Callable[[int, int], None]


class Progress(Protocol):
    """What the runner reports settled users to (a tqdm bar is one)."""

    def update(self, n: int) -> Any: ...

    def set_postfix_str(self, s: str) -> Any:
        """Show a short note next to the count (``"stopping…"``)."""

    def close(self) -> Any: ...


class CallbackProgress:
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

    def set_postfix_str(self, s: str) -> None:
        pass

    def close(self) -> None:
        pass


def progress_bar(progress: ProgressOption | str, total: int, desc: str) -> Progress | None:
    """A tqdm.auto bar (``True``, or ``"auto"`` in notebooks and terminals), a callback
    ``progress(done, total)``, or nothing."""
    if callable(progress) and not isinstance(progress, bool):
        return CallbackProgress(progress, total)
    if progress == "auto":
        progress = _interactive()
    if not progress:
        return None
    from tqdm.auto import tqdm

    bar: Progress = tqdm(total=total, desc=desc, unit="users", unit_scale=True, leave=True)
    return bar


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
