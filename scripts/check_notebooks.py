#!/usr/bin/env python3
"""Check that notebooks are committed clean: no outputs, no widget state, no keys.

    python scripts/check_notebooks.py            # checks notebooks/*.ipynb; exit 1 on any problem
    python scripts/check_notebooks.py --strip    # removes outputs and widget state in place
    python scripts/check_notebooks.py PATH ...   # other notebooks

A notebook saved from JupyterLab after a run carries its outputs (which may show data about
real users) and, with "Save Widget State Automatically" on, the state of every widget in
``metadata.widgets``. Neither belongs in the repository. The check also flags source lines
that look like a key written into a cell (``data_api_key = "..."``,
``AppCredentials("WS", "...")``): keys belong in profiles, the keyring or the environment.
``--strip`` fixes the first two kinds of problem; a key in a cell must be removed by hand
(and rotated).
"""

from __future__ import annotations

import argparse
import re
import sys
from pathlib import Path
from typing import Any

import nbformat

ROOT = Path(__file__).resolve().parents[1]
DEFAULT_DIR = ROOT / "notebooks"

#: Cell metadata keys that JupyterLab or nbclient add when running; not committed.
RUN_METADATA = ("execution", "collapsed", "scrolled", "widgets")

_KEY_PATTERNS = [
    re.compile(
        r"""(?ix)\b\w*(key|secret|password|passwd|token)\b
        \s*[:=]\s*(?P<q>["'])[^"'\s]{8,}(?P=q)"""
    ),
    re.compile(r"""AppCredentials\(\s*(["'])[^"']*\1\s*,\s*(["'])[^"'\s]{8,}\2"""),
]


def problems(nb: Any, name: str = "notebook") -> list[str]:
    """Every reason ``nb`` (a NotebookNode) must not be committed, as readable lines."""
    found: list[str] = []
    try:
        nbformat.validate(nb)
    except nbformat.ValidationError as err:
        found.append(f"{name}: not a valid notebook: {err.message}")
    if "widgets" in nb.metadata:
        found.append(
            f"{name}: carries widget state (metadata.widgets); turn off 'Save Widget State "
            "Automatically' and run scripts/check_notebooks.py --strip"
        )
    for index, cell in enumerate(nb.cells, start=1):
        where = f"{name}: cell {index}"
        if cell.cell_type == "code":
            if cell.get("outputs"):
                found.append(f"{where} has outputs (run scripts/check_notebooks.py --strip)")
            if cell.get("execution_count") is not None:
                found.append(f"{where} has an execution count")
        if "widgets" in cell.get("metadata", {}):
            found.append(f"{where} carries widget state in its metadata")
        if cell.get("attachments"):
            found.append(f"{where} has attachments")
        for line_no, line in enumerate(str(cell.source).splitlines(), start=1):
            if any(p.search(line) for p in _KEY_PATTERNS):
                found.append(
                    f"{where}, line {line_no}: looks like a key written in the cell; use a "
                    "saved profile, the keyring or environment variables (and rotate that key)"
                )
    return found


def strip(nb: Any) -> Any:
    """Remove outputs, execution counts, run metadata and widget state from ``nb``."""
    nb.metadata.pop("widgets", None)
    for cell in nb.cells:
        if cell.cell_type == "code":
            cell.outputs = []
            cell.execution_count = None
        for key in RUN_METADATA:
            cell.get("metadata", {}).pop(key, None)
    return nb


def check_paths(paths: list[Path], *, fix: bool = False) -> list[str]:
    """Check (or, with ``fix``, strip then check) the notebooks at ``paths``."""
    found: list[str] = []
    for path in paths:
        nb = nbformat.read(path, as_version=4)
        if fix:
            nbformat.write(strip(nb), path)
        found += problems(nb, str(path.relative_to(ROOT) if path.is_relative_to(ROOT) else path))
    return found


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("paths", nargs="*", type=Path, help="notebooks (default: notebooks/)")
    parser.add_argument("--strip", action="store_true", help="remove outputs and widget state")
    args = parser.parse_args(argv)
    paths = [p.resolve() for p in args.paths] or sorted(DEFAULT_DIR.glob("*.ipynb"))
    if not paths:
        print("check_notebooks: no notebooks found", file=sys.stderr)
        return 1
    found = check_paths(paths, fix=args.strip)
    for line in found:
        print(line, file=sys.stderr)
    if found:
        print(
            f"check_notebooks: {len(found)} problem(s) in {len(paths)} notebook(s)", file=sys.stderr
        )
        return 1
    print(f"check_notebooks: {len(paths)} notebook(s) clean")
    return 0


if __name__ == "__main__":
    sys.exit(main())
