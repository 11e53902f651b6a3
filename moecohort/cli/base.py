"""What every command shares: the ``moecohort`` group, the error handling that turns
library errors into one line, the credential, sending and progress options, reading
files, and printing results."""

from __future__ import annotations

import functools
import json
import logging
import os
import sqlite3
import sys
from collections.abc import Callable
from typing import TYPE_CHECKING, Any, ParamSpec, TypeVar

import click

from .._constants import DEFAULT_REQUESTS_PER_MINUTE, VERSION
from ..credentials import (
    DEFAULT_ENV_PREFIX,
    AppCredentials,
    get_credentials,
    normalize_data_center,
)
from ..credentials.app import env_names, read_env
from ..errors import APIError, ConfigurationError, MoEngageError, PushFailedError
from .messages import cli_message, command_flags

if TYPE_CHECKING:  # pragma: no cover
    from ..results import DeliveryResult

__all__ = [
    "app_from_options",
    "cli",
    "credential_options",
    "data_center_option",
    "echo_result",
    "friendly",
    "progress_option",
    "sending_options",
    "verbose_asked",
]

#: The wire formats (as :data:`moecohort.payload.WIRE_FORMATS`; spelled here so that
#: ``--help`` does not load the engine).
WIRE_FORMATS = ("segment_sync", "cohort_sync")
#: Exit status of a command that Ctrl-C stopped (128 + SIGINT, as shells report it).
INTERRUPTED_EXIT = 130

F = TypeVar("F", bound=Callable[..., Any])
P = ParamSpec("P")
R = TypeVar("R")


def friendly(func: Callable[P, R]) -> Callable[P, R]:
    """Turn errors into one line and exit status 1 (``-v`` shows the traceback of
    unexpected ones). A push or sync that stopped still prints what it did."""

    @functools.wraps(func)
    def wrapper(*args: P.args, **kwargs: P.kwargs) -> R:
        try:
            return func(*args, **kwargs)
        except MoEngageError as exc:
            from ..results import DeliveryResult

            line = cli_message(exc)  # in the words of the command line: its flags
            partial = exc.result if isinstance(exc, (APIError, PushFailedError)) else None
            if isinstance(partial, DeliveryResult):
                click.echo(f"Error: {line}", err=True)
                failed_out = kwargs.get("failed_out")
                echo_result(
                    partial,
                    failed_out if isinstance(failed_out, str) else None,
                    kwargs.get("as_json") is True,
                )
            raise click.ClickException(line) from exc
        except (FileNotFoundError, IsADirectoryError, PermissionError) as exc:
            raise click.ClickException(f"{exc.strerror}: {exc.filename}") from exc
        except sqlite3.Error as exc:
            raise click.ClickException(f"the sync state file could not be used: {exc}") from exc
        except KeyboardInterrupt:
            # Before anything was sent (reading, spooling, packing), or a third Ctrl-C.
            click.echo("interrupted: nothing more is sent", err=True)
            raise click.exceptions.Exit(INTERRUPTED_EXIT) from None
        except (click.ClickException, click.exceptions.Exit, SystemExit):
            raise
        except Exception as exc:
            if isinstance(exc, _file_errors()):
                hint = ""
                if isinstance(exc, UnicodeDecodeError) and "--encoding" in command_flags():
                    hint = (
                        " (the file is in another encoding: pass --encoding, e.g. cp1252 "
                        "for Excel on Windows)"
                    )
                raise click.ClickException(f"could not read the file: {exc}{hint}") from exc
            if verbose_asked():
                raise
            raise click.ClickException(
                f"unexpected error: {type(exc).__name__}: {exc} (run with -v for details)"
            ) from exc

    return wrapper


def _file_errors() -> tuple[type[BaseException], ...]:
    """What reading a malformed file raises (pandas and pyarrow only when they are loaded:
    if they are not, nothing of theirs can have raised)."""
    errors: list[type[BaseException]] = [UnicodeDecodeError]
    pandas = sys.modules.get("pandas")
    if pandas is not None:
        errors += [pandas.errors.ParserError, pandas.errors.EmptyDataError]
    pyarrow = sys.modules.get("pyarrow")
    if pyarrow is not None:
        errors.append(pyarrow.ArrowException)
    return tuple(errors)


def data_center_option(value: str) -> str:
    try:
        return normalize_data_center(value)
    except ConfigurationError as exc:
        raise click.BadParameter(str(exc)) from None


def verbose_asked() -> bool:
    ctx = click.get_current_context(silent=True)
    return bool(ctx and ctx.find_root().params.get("verbose"))


def app_from_options(profile: str | None, env_prefix: str | None) -> AppCredentials:
    try:
        return get_credentials(profile=profile, env_prefix=env_prefix)
    except ConfigurationError:
        if profile or env_prefix:
            raise
        names = env_names(DEFAULT_ENV_PREFIX)
        if any(read_env(names, os.environ).values()):
            raise  # MOECOHORT_* variables are set: the error names the one at fault
        raise click.ClickException(
            "no credentials given: pass --profile NAME (save one with `moecohort profiles add "
            "NAME`) or --env PREFIX (reads PREFIX_WORKSPACE_ID, PREFIX_DATA_API_KEY, "
            "PREFIX_DATA_CENTER), or set the MOECOHORT_* variables"
        ) from None


_credential_options = [
    click.option("--profile", "-p", help="Saved profile to use (see `moecohort profiles`)."),
    click.option(
        "--env",
        "env_prefix",
        metavar="PREFIX",
        help="Read credentials from PREFIX_WORKSPACE_ID, PREFIX_DATA_API_KEY, "
        "PREFIX_DATA_CENTER, PREFIX_BASE_URL (default prefix: MOECOHORT).",
    ),
]


def credential_options(func: F) -> F:
    for option in reversed(_credential_options):
        func = option(func)
    return func


#: --progress/--no-progress, handed to the Python functions as True, False or "auto".
progress_option = click.option(
    "--progress/--no-progress",
    default=None,
    callback=lambda ctx, param, value: "auto" if value is None else value,
    help="Progress bar (default: on a terminal).",
)

# Options shared by the commands that send (push, sync), as the Python functions share them.
_sending_options = [
    click.option("--id-col", default="uid", show_default=True, help="Column holding the user id."),
    click.option(
        "--wire-format", type=click.Choice(WIRE_FORMATS), default="segment_sync", show_default=True
    ),
    click.option("--cohort-id", help="Cohort id (default: derived from the name)."),
    click.option(
        "--rpm",
        type=float,
        default=DEFAULT_REQUESTS_PER_MINUTE,
        show_default=True,
        help="Requests per minute.",
    ),
    click.option(
        "--max-in-flight", type=click.IntRange(min=1), help="Fixed cap on concurrent requests."
    ),
    click.option("--max-retries", type=click.IntRange(min=0), default=5, show_default=True),
    click.option(
        "--failed-out", type=click.Path(dir_okay=False), help="Write failed users to this CSV."
    ),
    click.option("--json", "as_json", is_flag=True, help="Print the result as JSON."),
    progress_option,
]


def sending_options(func: F) -> F:
    for option in reversed(_sending_options):
        func = option(func)
    return func


def echo_result(
    result: DeliveryResult, failed_out: str | None, as_json: bool, **extra: Any
) -> None:
    """Print a PushResult or SyncResult (table or JSON) and write its failures; exit 1 if not
    ok, 130 if Ctrl-C stopped it."""
    if failed_out and len(result.failed):
        result.failed.to_csv(failed_out, index=False)
    if as_json:
        click.echo(json.dumps({**result.as_dict(), **extra}, indent=2))
    else:
        click.echo(repr(result))
        if failed_out and len(result.failed):
            click.echo(f"failed users written to {failed_out}")
    if not result.ok:
        sys.exit(INTERRUPTED_EXIT if result.interrupted else 1)


@click.group(context_settings={"help_option_names": ["-h", "--help"], "max_content_width": 100})
@click.version_option(VERSION, prog_name="moecohort")
@click.option("-v", "--verbose", count=True, help="Log what happens (-vv: every request).")
def cli(verbose: int) -> None:
    """Sync MoEngage segments from one app (workspace) to another as cohorts.

    Start with `moecohort demo`: the whole job against a local emulator, no credentials.
    """
    # The library logs and never prints; here warnings (such as "stopping…" after Ctrl-C)
    # go to stderr, and -v / -vv add what happens and every request.
    logger = logging.getLogger("moecohort")
    handler = logging.StreamHandler()  # this invocation's stderr
    if verbose:
        handler.setFormatter(logging.Formatter("%(asctime)s %(levelname)s %(name)s: %(message)s"))
    else:
        handler.setFormatter(logging.Formatter("moecohort: %(message)s"))
    level = logger.level
    logger.addHandler(handler)
    logger.setLevel(logging.DEBUG if verbose > 1 else logging.INFO if verbose else logging.WARNING)

    def restore() -> None:
        logger.removeHandler(handler)
        logger.setLevel(level)

    click.get_current_context().call_on_close(restore)
