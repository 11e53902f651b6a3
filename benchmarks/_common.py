"""Shared helpers for the benchmark scripts: machine description and results.md sections.

Each benchmark owns one section of ``benchmarks/results.md`` (between
``<!-- begin NAME -->`` and ``<!-- end NAME -->``) and rewrites only that section, so
scripts can be run one at a time or all together with ``make bench``.
"""

from __future__ import annotations

import contextlib
import datetime as dt
import os
import platform
import re
import resource
import sys
from importlib import metadata
from pathlib import Path

RESULTS = Path(__file__).resolve().parent / "results.md"
CACHE = Path(__file__).resolve().parent / ".cache"


def machine() -> str:
    """One line: CPU count, memory, OS, Python and key library versions."""
    try:
        mem = os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_PHYS_PAGES") / 2**30
        mem_s = f"{mem:.0f} GiB RAM"
    except (ValueError, OSError):  # pragma: no cover
        mem_s = "RAM unknown"
    versions = []
    for pkg in ("moecohort", "pandas", "pyarrow", "numpy", "numba", "duckdb", "polars", "requests"):
        with contextlib.suppress(metadata.PackageNotFoundError):
            versions.append(f"{pkg} {metadata.version(pkg)}")
    return (
        f"{os.cpu_count()} CPUs, {mem_s}, {platform.system()} {platform.machine()}, "
        f"Python {platform.python_version()}; " + ", ".join(versions)
    )


def peak_rss_mib() -> float:
    """Peak resident memory of this process so far, in MiB (Linux reports KiB)."""
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    return peak / 1024 if sys.platform != "darwin" else peak / 2**20


def markdown_table(headers: list[str], rows: list[list[object]]) -> str:
    def cell(v: object) -> str:
        return f"{v:,.3f}" if isinstance(v, float) else (f"{v:,}" if isinstance(v, int) else str(v))

    lines = ["| " + " | ".join(headers) + " |", "|" + "---|" * len(headers)]
    lines += ["| " + " | ".join(cell(v) for v in row) + " |" for row in rows]
    return "\n".join(lines)


def write_section(name: str, title: str, body: str) -> None:
    """Replace (or append) the section ``name`` of results.md and print it."""
    stamp = dt.datetime.now(dt.timezone.utc).strftime("%Y-%m-%d %H:%M UTC")
    section = (
        f"<!-- begin {name} -->\n## {title}\n\n"
        f"Measured {stamp} on: {machine()}\n\n{body.strip()}\n<!-- end {name} -->"
    )
    print(section)
    text = (
        RESULTS.read_text(encoding="utf-8")
        if RESULTS.exists()
        else (
            "# Benchmark results\n\nWritten by the scripts in `benchmarks/` (`make bench`). "
            "Figures, not assertions: they depend on the machine.\n"
        )
    )
    pattern = re.compile(
        rf"<!-- begin {re.escape(name)} -->.*?<!-- end {re.escape(name)} -->", re.S
    )
    if pattern.search(text):
        text = pattern.sub(lambda _: section, text)
    else:
        text = text.rstrip() + "\n\n" + section + "\n"
    RESULTS.write_text(text, encoding="utf-8")
