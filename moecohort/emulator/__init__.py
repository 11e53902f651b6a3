"""A local stand-in for the destination side of MoEngage's Cohort Sync API.

In the spirit of moto for AWS: a real HTTP server on loopback that authenticates,
validates, rate-limits and applies ``POST /v1/integrations/cohortsync`` like MoEngage
documents it, keeps the resulting cohorts for inspection, and can inject faults.

It shares no code with the client package except :mod:`moecohort._constants`, so it
catches the client's mistakes instead of repeating them. Submodules load lazily: the
pytest plugin imports this package in every test session.

>>> from moecohort.emulator import Emulator
>>> with Emulator(seed=1) as emu:  # doctest: +SKIP
...     emu.add_workspace("WS1", "key", users=["u1"])
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:  # pragma: no cover
    from .samples import (
        DEMO_DEST_KEY,
        DEMO_DEST_WORKSPACE,
        DEMO_SOURCE_KEY,
        DEMO_SOURCE_WORKSPACE,
        load_samples,
        read_user_ids,
    )
    from .server import Emulator, serve
    from .state import Faults

__all__ = [
    "DEMO_DEST_KEY",
    "DEMO_DEST_WORKSPACE",
    "DEMO_SOURCE_KEY",
    "DEMO_SOURCE_WORKSPACE",
    "Emulator",
    "Faults",
    "load_samples",
    "read_user_ids",
    "serve",
]

_WHERE = {
    "Emulator": "server",
    "serve": "server",
    "Faults": "state",
    "load_samples": "samples",
    "read_user_ids": "samples",
    "DEMO_SOURCE_WORKSPACE": "samples",
    "DEMO_SOURCE_KEY": "samples",
    "DEMO_DEST_WORKSPACE": "samples",
    "DEMO_DEST_KEY": "samples",
}


def __getattr__(name: str) -> Any:
    module = _WHERE.get(name)
    if module is None:
        raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
    value = getattr(importlib.import_module(f"{__name__}.{module}"), name)
    globals()[name] = value
    return value


def __dir__() -> list[str]:
    return sorted({*globals(), *__all__})
