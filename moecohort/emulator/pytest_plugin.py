"""pytest plugin: the ``moe_emulator`` fixture.

Not registered as an entry point, so pytest loads it only when asked. Add it to the
``conftest.py`` at the root of your tests::

    pytest_plugins = ["moecohort.emulator.pytest_plugin"]

(or run ``pytest -p moecohort.emulator.pytest_plugin``). Loading it imports nothing
heavy: the emulator itself is imported inside the fixture.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import TYPE_CHECKING

import pytest

if TYPE_CHECKING:  # pragma: no cover
    from moecohort.emulator import Emulator


@pytest.fixture
def moe_emulator() -> Iterator[Emulator]:
    """A started :class:`moecohort.emulator.Emulator` with no workspaces (seed 0, in memory).

    Register workspaces with ``moe_emulator.add_workspace(...)`` and point the client at
    ``moe_emulator.url``. Stopped (and its port freed) when the test ends.
    """
    from moecohort.emulator import Emulator

    with Emulator(seed=0) as emu:
        yield emu
