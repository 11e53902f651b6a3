"""Small helpers the emulator's modules share, and the emulator's own name and version.

Nothing here is a MoEngage fact (see :mod:`.facts`) and nothing comes from the client.
"""

from __future__ import annotations

import hashlib
import math
from datetime import datetime, timezone
from importlib import metadata
from typing import Any

__all__ = [
    "EMULATOR_NAME",
    "EMULATOR_VERSION",
    "check_rpm",
    "format_seconds",
    "hex_id",
    "is_number",
    "iso_time",
    "naive_iso_time",
]

#: What the emulator calls itself (the ``Server`` header and ``GET /_emulator``).
EMULATOR_NAME = "moecohort-emulator"


def _installed_version() -> str:
    try:
        return metadata.version("moecohort")
    except metadata.PackageNotFoundError:  # running from a source tree that is not installed
        return "0+unknown"


#: The installed distribution's version, read from its metadata (not from the client code).
EMULATOR_VERSION = _installed_version()


def iso_time(ts: float | None) -> str | None:
    """``ts`` (epoch seconds) as ISO 8601 UTC with milliseconds and a ``Z``; None stays None."""
    if ts is None:
        return None
    text = datetime.fromtimestamp(ts, timezone.utc).isoformat(timespec="milliseconds")
    return text.replace("+00:00", "Z")


def is_number(value: Any) -> bool:
    """True for a finite int or float (bools are not numbers here)."""
    return isinstance(value, (int, float)) and not isinstance(value, bool) and math.isfinite(value)


def check_rpm(value: Any, name: str = "requests_per_minute") -> int | None:
    """``value`` if None or an int >= 1, else ValueError naming the setting ``name``."""
    if value is None:
        return None
    if not isinstance(value, int) or isinstance(value, bool) or value < 1:
        raise ValueError(f"{name} must be None or an int >= 1, got {value!r}")
    return value


def format_seconds(value: float) -> str:
    """A header value for seconds: ``"2"`` for whole numbers, else the float's repr."""
    if isinstance(value, int) or float(value).is_integer():
        return str(int(value))
    return repr(float(value))


def naive_iso_time(ts: float) -> str:
    """``ts`` (epoch seconds) as UTC ISO 8601 with microseconds and no zone, the way the
    Custom Segments API writes ``created_time`` (``2022-12-01T13:17:46.409000``)."""
    return (
        datetime.fromtimestamp(ts, timezone.utc).replace(tzinfo=None).isoformat("T", "microseconds")
    )


def hex_id(*parts: str) -> str:
    """A stable 24-hex-digit id derived from ``parts`` (the shape of MoEngage's internal ids).

    Deterministic across runs and machines: the same parts always give the same id.
    """
    digest = hashlib.blake2b("\x00".join(parts).encode("utf-8"), digest_size=12)
    return digest.hexdigest()
