"""Small helpers shared by the test modules (importable: pytest puts tests/ on sys.path)."""

from __future__ import annotations

import re
import uuid
from collections.abc import Callable
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
