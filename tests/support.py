"""Small helpers shared by the test modules (importable: pytest puts tests/ on sys.path)."""

from __future__ import annotations

import re
import uuid
from pathlib import Path

#: The sample exports of two apps (data/samples).
SAMPLES = Path(__file__).resolve().parent.parent / "data" / "samples"


def ids(n: int, seed: int = 0) -> list[str]:
    """``n`` distinct 36-character user ids; different seeds give disjoint sets."""
    return [str(uuid.UUID(int=(seed << 64) + i)) for i in range(n)]


def sample_readme_counts() -> dict[str, int]:
    """The quirk counts stated in data/samples/README.md (its "| `key` | ... | n |" rows)."""
    text = (SAMPLES / "README.md").read_text(encoding="utf-8")
    rows = re.findall(r"^\| `(\w+)` \|.*\| ([\d,]+) \|$", text, flags=re.MULTILINE)
    counts = {key: int(value.replace(",", "")) for key, value in rows}
    assert len(counts) == len(rows), "a README key appears twice"
    return counts
