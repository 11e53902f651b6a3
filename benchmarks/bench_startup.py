"""Start-up: how long the command line and the package take to load.

Each figure is the median of 10 runs of a fresh process, next to a baseline measured in
the same run: the interpreter starting with nothing to import (``python -c pass``), and
``import pandas``, which the package used to load at import time. ``--help`` must not
load pandas, pyarrow or the engine (target: under 0.3 s); ``import moecohort.emulator``
must not load the client.
"""

from __future__ import annotations

import statistics
import subprocess
import sys
import time
from pathlib import Path

from _common import markdown_table, write_section

RUNS = 10
BIN = Path(sys.executable).parent

CASES: list[tuple[str, list[str]]] = [
    ("python -c pass (baseline)", [sys.executable, "-c", "pass"]),
    ("python -c 'import pandas' (baseline)", [sys.executable, "-c", "import pandas"]),
    ("python -c 'import moecohort'", [sys.executable, "-c", "import moecohort"]),
    ("python -c 'import moecohort.emulator'", [sys.executable, "-c", "import moecohort.emulator"]),
    ("moecohort --help", [str(BIN / "moecohort"), "--help"]),
    ("moecohort profiles --help", [str(BIN / "moecohort"), "profiles", "--help"]),
    ("moecohort emulator --help", [str(BIN / "moecohort"), "emulator", "--help"]),
]

LOADED = (
    "import sys, {module}; "
    "print(sorted(m for m in ('pandas', 'pyarrow', 'numpy', 'requests', 'moecohort.push') "
    "if m in sys.modules))"
)


def median_seconds(command: list[str]) -> float:
    times = []
    for _ in range(RUNS):
        t0 = time.perf_counter()
        subprocess.run(command, check=True, capture_output=True)
        times.append(time.perf_counter() - t0)
    return statistics.median(times)


def main() -> None:
    figures = {label: median_seconds(command) for label, command in CASES}
    bare = figures["python -c pass (baseline)"]
    rows = [
        [label, round(seconds, 3), round(seconds - bare, 3), f"{seconds / bare:.1f}x"]
        for label, seconds in figures.items()
    ]
    loaded = {
        module: subprocess.run(
            [sys.executable, "-c", LOADED.format(module=module)],
            check=True,
            capture_output=True,
            text=True,
        ).stdout.strip()
        for module in ("moecohort", "moecohort.emulator", "moecohort.cli")
    }
    body = (
        markdown_table(
            ["command", "median s", "s over bare python", "x bare python"],
            rows,
        )
        + "\n\nHeavy modules loaded by an import (of pandas, pyarrow, numpy, requests, "
        + "moecohort.push): "
        + "; ".join(f"`{m}`: {v}" for m, v in loaded.items())
        + f"\n\nMedian of {RUNS} fresh processes each."
    )
    write_section("startup", "Start-up", body)


if __name__ == "__main__":
    main()
