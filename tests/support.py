"""Small helpers shared by the test modules (importable: pytest puts tests/ on sys.path)."""

from __future__ import annotations

import uuid


def ids(n: int, seed: int = 0) -> list[str]:
    """``n`` distinct 36-character user ids; different seeds give disjoint sets."""
    return [str(uuid.UUID(int=(seed << 64) + i)) for i in range(n)]
