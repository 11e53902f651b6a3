"""Library errors in the command line's words.

Errors name what to change in Python's words: ``InputError.param`` (with the value to
use, ``InputError.suggestion``) and ``ConfigurationError.setting``. :data:`FLAGS` is the
one table from those names to the flags that set them; :func:`cli_message` (used by
``friendly``) says an error with them, for the flags the running command has:

* a suggestion becomes ``Did you mean --id-col ID?`` (Python reads ``id_col='ID'``);
* the Python name at the start of a message, or written ``name=value``, becomes the
  flag (``requests_per_minute must be above 0`` -> ``--rpm must be above 0``,
  ``use_keyring=False`` -> ``--no-keyring``);
* advice about Python inputs (a DataFrame, an iterator...) is left out for a file;
* an empty input, where the command can sync one, names ``--allow-empty``.

A name the command has no flag for is left as it is.
"""

from __future__ import annotations

import re
import shlex

import click

from ..errors import ConfigurationError, EmptyInputError, InputError, MoEngageError

__all__ = ["FLAGS", "cli_message", "command_flags"]

#: Python parameter or setting name (or ``name=value``) -> the flag that sets it.
FLAGS: dict[str, str] = {
    "id_col": "--id-col",
    "on": "--on",
    "destination_col": "--dest-on",
    "cohort_name": "--cohort-name",
    "cohort_id": "--cohort-id",
    "description": "--description",
    "action": "--action",
    "wire_format": "--wire-format",
    "requests_per_minute": "--rpm",
    "max_in_flight": "--max-in-flight",
    "max_retries": "--max-retries",
    "resync": "--resync",
    "wait": "--wait",
    "state": "--state",
    "allow_empty": "--allow-empty",
    "dry_run": "--dry-run",
    "workspace_id": "--workspace-id",
    "data_center": "--data-center",
    "base_url": "--base-url",
    "profile": "--profile",
    "env_prefix": "--env",
    "use_keyring": "--keyring",
    "use_keyring=True": "--keyring",
    "use_keyring=False": "--no-keyring",
    "allow_empty=True": "--allow-empty",
    "dry_run=True": "--dry-run",
    "shared_budget": "--no-shared-budget",
    "shared_budget=False": "--no-shared-budget",
    "users_per_minute": "--users-per-minute",
    "fields": "--fields",
    "sample": "--sample",
    "confidence": "--confidence",
    "seed": "--seed",
    "exact": "--exact",
    "exact=True": "--exact",
    "max_lookups": "--max-lookups",
    "min_presence": "--min-presence",
    "apps": "--profile",
}


def command_flags() -> set[str]:
    """Every flag of the running command (none outside a command)."""
    ctx = click.get_current_context(silent=True)
    if ctx is None:
        return set()
    flags: set[str] = set()
    for param in ctx.command.params:
        if isinstance(param, click.Option):
            flags.update(param.opts, param.secondary_opts)
    return flags


def cli_message(exc: MoEngageError, flags: set[str] | None = None) -> str:
    """The first line of ``exc``, said with the flags of the running command."""
    flags = command_flags() if flags is None else flags
    text = _first_line(str(exc)) or repr(exc)
    name: str | None = None
    if isinstance(exc, InputError):
        name = exc.param
        flag = _flag(name, flags)
        if flag and exc.suggestion is not None and exc.advice:
            value = shlex.quote(str(exc.suggestion))
            return f"{_first_line(exc.problem)} Did you mean {flag} {value}?"
        if exc.path is not None:
            text = _first_line(exc.problem)  # the advice is about Python inputs
        if isinstance(exc, EmptyInputError) and "--allow-empty" in flags:
            text += " Pass --allow-empty to sync it anyway: everyone leaves the cohort."
    elif isinstance(exc, ConfigurationError):
        name = exc.setting
    return _in_flags(text, name, flags) if name else text


def _first_line(text: str) -> str:
    return text.splitlines()[0] if text else ""


def _flag(name: str | None, flags: set[str]) -> str | None:
    flag = FLAGS.get(name) if name else None
    return flag if flag in flags else None


def _in_flags(text: str, name: str, flags: set[str]) -> str:
    """``text`` with ``name`` written as its flag: at the start, and as ``name=value``."""

    def written(match: re.Match[str]) -> str:
        value = match.group(1)
        exact = _flag(f"{name}={value}", flags) if value else None
        flag = exact or _flag(name, flags)
        if flag is None:
            return match.group(0)
        return f"{flag} {value}" if value and not exact else flag

    # name=value (a value ends before a blank, a comma, a bracket or a closing full stop)
    pattern = rf"(?<![\w.-]){re.escape(name)}=((?:[^\s,;).]|\.(?=\w))+)|^{re.escape(name)}\b(?!=)"
    return re.sub(pattern, written, text)
