"""The ``moecohort`` command: the Python API from a shell.

Every command prints one clear line and exits non-zero on an error (no
traceback): 1 for a failed push, check or input problem, 2 for a usage error.
"""

from __future__ import annotations

from . import data, setup  # noqa: F401  (the commands register themselves on the group)
from .base import cli

__all__ = ["cli", "main"]


def main() -> None:
    """Console entry point."""
    cli(prog_name="moecohort")
