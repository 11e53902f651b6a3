"""``import moecohort`` loads its public names when first used; a name that is also the name of
the module holding it (``preflight``) stays the function, whichever name is used first."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]


@pytest.mark.parametrize(
    "first", ["mc.PreflightReport", "mc.preflight", "moecohort.widgets", "moecohort.cli.send"]
)
def test_preflight_stays_the_function(first: str) -> None:
    load = f"import {first}" if not first.startswith("mc.") else first
    code = f"import moecohort as mc\n{load}\nassert callable(mc.preflight), mc.preflight\n"
    proc = subprocess.run([sys.executable, "-c", code], cwd=ROOT, capture_output=True, text=True)
    assert proc.returncode == 0, proc.stderr
