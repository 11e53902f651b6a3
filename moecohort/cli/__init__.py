"""The ``moecohort`` command: the Python API from a shell.

Every command prints one clear line and exits non-zero on an error (no
traceback): 1 for a failed push, check or input problem, 2 for a usage error.
"""

from __future__ import annotations

import sys
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:  # pragma: no cover
    import click

__all__ = ["cli", "main"]


def __getattr__(name: str) -> Any:
    if name == "cli":
        return _group()
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")


def _group() -> click.Group:
    from . import data, lookups, setup  # noqa: F401  (the commands register themselves on the group)
    from .base import cli

    return cli


def main() -> None:
    """Console entry point. Ctrl-C while the command itself loads ends quietly too."""
    try:
        group = _group()
    except KeyboardInterrupt:
        print("interrupted", file=sys.stderr)
        sys.exit(130)
    group(prog_name="moecohort")
