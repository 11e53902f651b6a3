"""Small helpers shared by the test modules (importable: pytest puts tests/ on sys.path)."""

from __future__ import annotations

import json
import re
import threading
import uuid
from collections.abc import Callable
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

#: The sample exports of two apps (data/samples).
SAMPLES = Path(__file__).resolve().parent.parent / "data" / "samples"


def ids(n: int, seed: int = 0) -> list[str]:
    """``n`` distinct 36-character user ids; different seeds give disjoint sets."""
    return [str(uuid.UUID(int=(seed << 64) + i)) for i in range(n)]


def plain(values) -> list:
    """A Series or Index as a list, with every kind of missing value as None."""
    import pandas as pd

    return [None if pd.isna(v) else v for v in list(values)]


def sample_readme_counts() -> dict[str, int]:
    """The quirk counts stated in data/samples/README.md (its "| `key` | ... | n |" rows)."""
    text = (SAMPLES / "README.md").read_text(encoding="utf-8")
    rows = re.findall(r"^\| `(\w+)` \|.*\| ([\d,]+) \|$", text, flags=re.MULTILINE)
    counts = {key: int(value.replace(",", "")) for key, value in rows}
    assert len(counts) == len(rows), "a README key appears twice"
    return counts


class FakeClock:
    """A monotonic clock that moves only by hand (``advance``) or when something sleeps;
    ``late`` adds oversleep."""

    def __init__(self, start: float = 1000.0, late: Callable[[], float] | None = None) -> None:
        self.now = start
        self.sleeps: list[float] = []
        self.late = late

    def __call__(self) -> float:
        return self.now

    def sleep(self, seconds: float) -> None:
        assert seconds >= 0, seconds
        self.sleeps.append(seconds)
        self.now += seconds + (self.late() if self.late else 0.0)

    def advance(self, seconds: float) -> None:
        self.now += seconds


def recording_pacer(*args, **kwargs):
    """A :class:`moecohort.transport.Pacer` that keeps every start it grants in ``.starts``
    (in time order), for tests to read."""
    from moecohort.transport import Pacer

    class RecordingPacer(Pacer):
        def __init__(self, *args, **kwargs) -> None:
            super().__init__(*args, **kwargs)
            self._granted: list[float] = []

        def acquire(self, cancel=None):
            start = super().acquire(cancel)
            if start is not None:
                self._granted.append(start)
            return start

        @property
        def starts(self) -> list[float]:
            return sorted(self._granted)  # grants are in time order; threads append late

    return RecordingPacer(*args, **kwargs)


class HoldingServer:
    """A Cohort Sync endpoint on 127.0.0.1 that answers the first request (unless
    ``answer_first=False``) and holds every later one until :meth:`release`: those stay in
    flight as long as a test needs. ``held`` is set once a request is being held."""

    def __init__(self, answer_first: bool = True) -> None:
        self.held = threading.Event()  # a request is being held
        self.released = threading.Event()
        self.answered = 0
        self._lock = threading.Lock()
        outer = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:
                self.rfile.read(int(self.headers["Content-Length"]))
                with outer._lock:
                    first = answer_first and outer.answered == 0 and not outer.held.is_set()
                    if first:
                        outer.answered += 1
                if not first:
                    outer.held.set()
                    outer.released.wait(60)
                with outer._lock:
                    if not first:
                        outer.answered += 1
                body = json.dumps({"status": "success", "message": "accepted"}).encode()
                self.send_response(200)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                self.wfile.write(body)

            def log_message(self, *args: object) -> None:
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.server.daemon_threads = True
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)
        self.thread.start()
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}"

    def release(self) -> None:
        self.released.set()

    def close(self) -> None:
        self.release()
        self.server.shutdown()
        self.server.server_close()
