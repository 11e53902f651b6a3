"""What importing moecohort costs and gives: a light import, ``df.moe`` whichever of
pandas and moecohort comes first, public names loaded on first use."""

from __future__ import annotations

import ast
import subprocess
import sys

import pytest

HEAVY = ("pandas", "pyarrow", "numpy", "requests", "moecohort.push", "moecohort.matching")


def loaded_after(code: str) -> list[str]:
    """The heavy modules in sys.modules after running ``code`` in a fresh interpreter."""
    probe = f"{code}\nimport sys\nprint(sorted(m for m in {HEAVY!r} if m in sys.modules))"
    out = subprocess.run([sys.executable, "-c", probe], capture_output=True, text=True, check=True)
    return ast.literal_eval(out.stdout.strip().splitlines()[-1])


@pytest.mark.parametrize(
    "code", ["import moecohort", "import moecohort.emulator", "from moecohort.cli import main"]
)
def test_importing_loads_no_engine(code):
    assert loaded_after(code) == []


@pytest.mark.parametrize(
    "order",
    ["import moecohort\nimport pandas as pd", "import pandas as pd\nimport moecohort"],
)
def test_df_moe_exists_whichever_is_imported_first(order):
    code = order + "\nprint(pd.DataFrame({'uid': [1.0, None]}).moe.canonical_ids().tolist())"
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "['1', <NA>]"


def test_public_names_load_on_first_use_and_stay_functions():
    code = (
        "import moecohort as mc\n"
        "import moecohort.matching\n"  # the package holding overlap(), imported first
        "print(callable(mc.overlap), mc.overlap.__module__, 'push_cohort' in dir(mc))"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.split() == ["True", "moecohort.matching.compute", "True"]
