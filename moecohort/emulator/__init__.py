"""A local stand-in for the destination side of MoEngage's APIs.

In the spirit of moto for AWS: a real HTTP server on loopback that authenticates,
validates, rate-limits and answers like MoEngage documents it:

* ``POST /v1/integrations/cohortsync``, the Cohort Sync API: applies both wire formats
  and keeps the resulting cohorts for inspection;
* ``POST /v1/customers/export?app_id=...``, the Get User API: looks users up by
  ``customer_id`` or MoEngage's internal ``id`` (20 identifiers a request, 1,000 users a
  minute; can be disabled per workspace, as MoEngage enables it on request);
* ``GET /v3/custom-segments[?name=...]`` and ``GET /v3/custom-segments/{id}``, the Custom
  Segments API v3 (read side): the cohorts cohort sync created and segments registered as
  made on the dashboard or by file;

plus a control API under ``/_emulator``, reset, SQLite persistence and seeded faults.

It imports nothing from the client package: the API facts it enforces are its own copy
(:mod:`.facts`), so it catches the client's mistakes instead of repeating them
(``tests/test_emulator_facts.py`` compares that copy with the client's constants).
Submodules load lazily, so importing this package (as the pytest plugin does) is cheap.

Modules, from the bottom up: ``facts`` (what MoEngage documents), ``common`` (helpers,
the emulator's version), ``protocol`` (Cohort Sync wire format, validation, error envelope),
``userapi`` (Get User wire format), ``rate`` (rate windows), ``faults``, ``users`` (users,
internal ids, attributes), ``model`` (workspaces, cohorts, segments), ``store`` (SQLite),
``gateway`` (what the pipelines share), ``state``, the pipelines ``cohortsync``, ``lookups``
and ``segments``, ``control`` (the ``/_emulator`` API), ``handler`` (HTTP), ``samples``
(demo workspaces from the sample exports), ``server`` (:class:`Emulator`, :func:`serve`)
and ``pytest_plugin``.

>>> from moecohort.emulator import Emulator
>>> with Emulator(seed=1) as emu:  # doctest: +SKIP
...     emu.add_workspace("WS1", "key", users={"u1": {"first_name": "Ana"}})
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:  # pragma: no cover
    from .faults import Faults
    from .samples import (
        DEMO_DEST_KEY,
        DEMO_DEST_WORKSPACE,
        DEMO_SOURCE_KEY,
        DEMO_SOURCE_WORKSPACE,
        load_samples,
        read_user_ids,
    )
    from .server import Emulator, serve

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
    "Faults": "faults",
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
