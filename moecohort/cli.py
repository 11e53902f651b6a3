"""The ``moecohort`` command: the Python API from a shell.

Every command prints one clear line and exits non-zero on an error (no
traceback): 1 for a failed push, check or input problem, 2 for a usage error.
"""

from __future__ import annotations

import functools
import json
import logging
import sqlite3
import sys
from collections.abc import Callable
from pathlib import Path
from typing import Any, ParamSpec, TypeVar

import click
import pandas as pd
import pyarrow as pa

from . import __version__
from ._constants import DATA_CENTERS, DEFAULT_REQUESTS_PER_MINUTE
from .credentials import AppCredentials, ProfileStore, get_credentials, normalize_data_center
from .delivery import ProgressOption
from .errors import APIError, ConfigurationError, MoEngageError, PushFailedError
from .payload import WIRE_FORMATS
from .results import DeliveryResult

F = TypeVar("F", bound=Callable[..., Any])
P = ParamSpec("P")
R = TypeVar("R")


def _friendly(func: Callable[P, R]) -> Callable[P, R]:
    """Turn errors into one line and exit status 1 (``-v`` shows the traceback of
    unexpected ones). A push or sync that stopped still prints what it did."""

    @functools.wraps(func)
    def wrapper(*args: P.args, **kwargs: P.kwargs) -> R:
        try:
            return func(*args, **kwargs)
        except MoEngageError as exc:
            line = str(exc).splitlines()[0] if str(exc) else repr(exc)
            partial = exc.result if isinstance(exc, (APIError, PushFailedError)) else None
            if isinstance(partial, DeliveryResult):
                click.echo(f"Error: {line}", err=True)
                failed_out = kwargs.get("failed_out")
                _echo_result(
                    partial,
                    failed_out if isinstance(failed_out, str) else None,
                    kwargs.get("as_json") is True,
                )
            raise click.ClickException(line) from exc
        except (FileNotFoundError, IsADirectoryError, PermissionError) as exc:
            raise click.ClickException(f"{exc.strerror}: {exc.filename}") from exc
        except (
            pd.errors.ParserError,
            pd.errors.EmptyDataError,
            UnicodeDecodeError,
            pa.ArrowException,
        ) as exc:
            raise click.ClickException(f"could not read the file: {exc}") from exc
        except sqlite3.Error as exc:
            raise click.ClickException(f"the sync state file could not be used: {exc}") from exc
        except (click.ClickException, click.exceptions.Exit, KeyboardInterrupt, SystemExit):
            raise
        except Exception as exc:
            if _verbose():
                raise
            raise click.ClickException(
                f"unexpected error: {type(exc).__name__}: {exc} (run with -v for details)"
            ) from exc

    return wrapper


def _data_center(value: str) -> str:
    try:
        return normalize_data_center(value)
    except ConfigurationError as exc:
        raise click.BadParameter(str(exc)) from None


def _verbose() -> bool:
    ctx = click.get_current_context(silent=True)
    return bool(ctx and ctx.find_root().params.get("verbose"))


def read_table(path: str | Path, id_col: str | None = None) -> pd.DataFrame:
    """Read a CSV (optionally compressed) or Parquet file. The id column of a CSV is
    read as text, so ids such as ``007123`` keep their leading zeros."""
    p = Path(path)
    if not p.exists():
        raise FileNotFoundError(2, "No such file", str(p))
    name = p.name.lower()
    if name.endswith((".parquet", ".pq")):
        return pd.read_parquet(p)
    sep = "\t" if name.endswith((".tsv", ".tsv.gz")) else ","
    dtype = {id_col: str} if id_col else None
    return pd.read_csv(p, dtype=dtype, sep=sep)


def _app(profile: str | None, env_prefix: str | None) -> AppCredentials:
    try:
        return get_credentials(profile=profile, env_prefix=env_prefix)
    except ConfigurationError:
        if profile or env_prefix:
            raise
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
_progress_option = click.option(
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
    _progress_option,
]


def sending_options(func: F) -> F:
    for option in reversed(_sending_options):
        func = option(func)
    return func


def _echo_result(
    result: DeliveryResult, failed_out: str | None, as_json: bool, **extra: Any
) -> None:
    """Print a PushResult or SyncResult (table or JSON), write its failures, exit 1 if not ok."""
    if failed_out and len(result.failed):
        result.failed.to_csv(failed_out, index=False)
    if as_json:
        summary = {k: int(v) for k, v in result.summary()["count"].items()}
        payload = {
            "ok": result.ok,
            "cohort_name": result.cohort_name,
            "cohort_id": result.cohort_id,
            "workspace_id": result.workspace_id,
            "stopped_by": result.stopped_by,
            "elapsed_s": round(result.elapsed_s, 3),
            **extra,
            **summary,
        }
        click.echo(json.dumps(payload, indent=2))
    else:
        click.echo(repr(result))
        if failed_out and len(result.failed):
            click.echo(f"failed users written to {failed_out}")
    if not result.ok:
        sys.exit(1)


@click.group(context_settings={"help_option_names": ["-h", "--help"], "max_content_width": 100})
@click.version_option(__version__, prog_name="moecohort")
@click.option("-v", "--verbose", count=True, help="Log what happens (-vv: every request).")
def cli(verbose: int) -> None:
    """Sync MoEngage segments from one app (workspace) to another as cohorts.

    Start with `moecohort demo`: the whole job against a local emulator, no credentials.
    """
    if verbose:
        logging.basicConfig(format="%(asctime)s %(levelname)s %(name)s: %(message)s")
        logging.getLogger("moecohort").setLevel(logging.DEBUG if verbose > 1 else logging.INFO)


# --------------------------------------------------------------------------- overlap
@cli.command()
@click.argument("source", type=click.Path(dir_okay=False))
@click.argument("destination", type=click.Path(dir_okay=False))
@click.option("--on", default="uid", show_default=True, help="Id column (in both files).")
@click.option("--dest-on", help="Id column of DESTINATION when its name differs.")
@click.option("--json", "as_json", is_flag=True, help="Print JSON instead of a table.")
@_friendly
def overlap(source: str, destination: str, on: str, dest_on: str | None, as_json: bool) -> None:
    """Compare the user ids of two exports (CSV or Parquet).

    Ids match exactly; anonymous users are counted apart and near misses (ids that
    differ only by whitespace, case or Unicode form) are listed, never merged.
    """
    from .matching import overlap as compute

    src = read_table(source, on)
    dst = read_table(destination, dest_on or on)
    report = compute(
        src, dst, on=(on, dest_on or on), labels=(Path(source).name, Path(destination).name)
    )
    if as_json:
        summary = report.summary()
        payload = {
            "in_both": report.n_in_both,
            "only_source": report.n_only_source,
            "only_destination": report.n_only_destination,
            "match_rate": round(report.match_rate, 6),
            "source": {k: int(v) for k, v in summary.iloc[:, 0].items()},
            "destination": {k: int(v) for k, v in summary.iloc[:, 1].items()},
            "near_misses": report.near_misses.astype(object).to_dict(orient="records"),
        }
        click.echo(json.dumps(payload, indent=2))
    else:
        click.echo(repr(report))


# --------------------------------------------------------------------------- push
@cli.command()
@click.argument("file", type=click.Path(dir_okay=False))
@click.option("--cohort-name", "-n", required=True, help="Name of the cohort in the destination.")
@credential_options
@sending_options
@click.option("--action", type=click.Choice(["add", "remove"]), default="add", show_default=True)
@click.option("--description", help="Cohort description (cohort_sync format only).")
@click.option("--dry-run", is_flag=True, help="Validate and show the request plan; send nothing.")
@_friendly
def push(
    file: str,
    cohort_name: str,
    profile: str | None,
    env_prefix: str | None,
    id_col: str,
    action: str,
    wire_format: str,
    cohort_id: str | None,
    description: str | None,
    rpm: float,
    max_in_flight: int | None,
    max_retries: int,
    dry_run: bool,
    failed_out: str | None,
    as_json: bool,
    progress: ProgressOption,
) -> None:
    """Push the users of FILE (CSV or Parquet) to a cohort.

    Exit status 0 only when every user was accepted (or, with --dry-run, can be sent).
    """
    from .push import push_cohort

    app = None if (dry_run and not profile and not env_prefix) else _app(profile, env_prefix)
    result = push_cohort(
        file,  # read in chunks, de-duplicated on disk: any file size works
        app,
        cohort_name,
        id_col=id_col,
        action=action,
        cohort_id=cohort_id,
        description=description,
        wire_format=wire_format,
        requests_per_minute=rpm,
        max_in_flight=max_in_flight,
        max_retries=max_retries,
        dry_run=dry_run,
        progress=progress,
    )
    _echo_result(result, failed_out, as_json, dry_run=result.dry_run)


# --------------------------------------------------------------------------- sync and history
@cli.command()
@click.argument("file", type=click.Path(dir_okay=False))
@click.option("--cohort-name", "-n", required=True, help="Name of the cohort in the destination.")
@credential_options
@sending_options
@click.option(
    "--state",
    type=click.Path(dir_okay=False),
    help="Sync state file (default: user data folder or $MOECOHORT_STATE).",
)
@click.option(
    "--resync",
    type=click.Choice(["all", "last_diff"]),
    help="Send everyone again, or the last difference again.",
)
@click.option(
    "--wait",
    type=float,
    default=0,
    show_default=True,
    help="Seconds to wait for another sync of the cohort to end.",
)
@click.option("--dry-run", is_flag=True, help="Show what would be added and removed; send nothing.")
@_friendly
def sync(
    file: str,
    cohort_name: str,
    profile: str | None,
    env_prefix: str | None,
    id_col: str,
    state: str | None,
    resync: str | None,
    wire_format: str,
    cohort_id: str | None,
    rpm: float,
    max_in_flight: int | None,
    max_retries: int,
    wait: float,
    dry_run: bool,
    failed_out: str | None,
    as_json: bool,
    progress: ProgressOption,
) -> None:
    """Mirror the users of FILE (CSV or Parquet, read in chunks) into a cohort.

    Sends only who joined and who left since the last run; a run that dies is
    resumed by the next one. Exit status 0 only when every change was accepted.
    """
    from .sync import sync_cohort

    result = sync_cohort(
        file,
        _app(profile, env_prefix),
        cohort_name,
        id_col=id_col,
        cohort_id=cohort_id,
        state=state,
        resync=resync,
        dry_run=dry_run,
        wire_format=wire_format,
        requests_per_minute=rpm,
        max_in_flight=max_in_flight,
        max_retries=max_retries,
        wait=wait,
        progress=progress,
    )
    _echo_result(
        result,
        failed_out,
        as_json,
        status=result.status,
        run_id=result.run_id,
        mode=result.mode,
        resumed=result.resumed,
    )


@cli.command()
@credential_options
@click.option("--cohort-name", "-n", help="Only this cohort.")
@click.option("--state", type=click.Path(dir_okay=False), help="Sync state file.")
@click.option("--limit", type=click.IntRange(min=1), default=20, show_default=True)
@click.option("--json", "as_json", is_flag=True)
@_friendly
def history(
    profile: str | None,
    env_prefix: str | None,
    cohort_name: str | None,
    state: str | None,
    limit: int,
    as_json: bool,
) -> None:
    """Past mirror-sync runs, newest first (all workspaces unless credentials are given)."""
    from .sync import sync_log

    app = _app(profile, env_prefix) if (profile or env_prefix) else None
    frame = sync_log(app, cohort_name, state=state).head(limit)
    if as_json:
        click.echo(frame.reset_index().to_json(orient="records", date_format="iso", indent=2))
    elif frame.empty:
        click.echo("no sync runs yet")
    else:
        shown = frame[
            ["cohort_name", "mode", "status", "started", "adds", "removes", "failed", "requests"]
        ]
        click.echo(shown.to_string())


# --------------------------------------------------------------------------- check
@cli.command()
@credential_options
@click.option(
    "--wire-format", type=click.Choice(WIRE_FORMATS), default="segment_sync", show_default=True
)
@_friendly
def check(profile: str | None, env_prefix: str | None, wire_format: str) -> None:
    """Check that the destination accepts the credentials (creates nothing)."""
    from .push import check_connection

    outcome = check_connection(_app(profile, env_prefix), wire_format=wire_format)
    click.echo(str(outcome))
    if not outcome.ok:
        sys.exit(1)


# --------------------------------------------------------------------------- profiles
@cli.group()
def profiles() -> None:
    """Saved credentials (a 0600 TOML file in your config folder; keys in the system
    keyring when one is available)."""


@profiles.command("add")
@click.argument("name")
@click.option("--workspace-id", prompt="Workspace ID", help="Destination Workspace ID (App ID).")
@click.option(
    "--data-center",
    default="01",
    show_default=True,
    callback=lambda ctx, param, value: _data_center(value),
    prompt="Data center (" + ", ".join(f"{k} {v}" for k, v in DATA_CENTERS.items()) + ")",
)
@click.option("--base-url", help="Override the API host (an emulator or a proxy).")
@click.option(
    "--keyring/--no-keyring",
    "use_keyring",
    default=None,
    help="Store the key in the system keyring (default: when available).",
)
@_friendly
def profiles_add(
    name: str, workspace_id: str, data_center: str, base_url: str | None, use_keyring: bool | None
) -> None:
    """Save credentials as profile NAME. The Data API key is asked for without echo."""
    key = click.prompt("Data API key", hide_input=True)
    creds = AppCredentials(workspace_id, key, data_center, base_url=base_url, name=name)
    store = ProfileStore()
    store.save(creds, name, use_keyring=use_keyring)
    info = store.info(name)
    assert info is not None  # just saved
    click.echo(
        f"saved profile {name!r}: workspace {info.workspace_id}, data center "
        f"{info.data_center}, key {info.masked_key} in the {info.key_storage}"
    )


@profiles.command("list")
@click.option("--json", "as_json", is_flag=True)
@_friendly
def profiles_list(as_json: bool) -> None:
    """List saved profiles (keys masked)."""
    store = ProfileStore()
    infos = store.list()
    if as_json:
        click.echo(json.dumps([i.to_dict() for i in infos], indent=2))
        return
    if not infos:
        click.echo(f"no profiles yet ({store.path}); add one with `moecohort profiles add NAME`")
        return
    frame = pd.DataFrame([i.to_dict() for i in infos]).set_index("name")
    click.echo(frame.to_string())


@profiles.command("remove")
@click.argument("name")
@_friendly
def profiles_remove(name: str) -> None:
    """Delete profile NAME (and its keyring entry)."""
    ProfileStore().remove(name)
    click.echo(f"removed profile {name!r}")


# --------------------------------------------------------------------------- emulator and demo
@cli.command()
@click.option("--host", default="127.0.0.1", show_default=True, help="Interface to bind.")
@click.option("--port", type=int, default=8787, show_default=True)
@click.option("--db", type=click.Path(dir_okay=False), help="Keep state in this SQLite file.")
@click.option("--samples", is_flag=True, help="Register the two sample apps from data/samples.")
@click.option("--seed", type=int, help="Seed for fault injection.")
@click.option("--quiet", "-q", is_flag=True, help="No line per request.")
@_friendly
def emulator(
    host: str, port: int, db: str | None, samples: bool, seed: int | None, quiet: bool
) -> None:
    """Run the local Cohort Sync emulator until Ctrl-C."""
    from .emulator import serve
    from .samples import samples_dir

    serve(host, port, db=db, samples_dir=samples_dir() if samples else None, seed=seed, quiet=quiet)


@cli.command()
@_progress_option
@_friendly
def demo(progress: ProgressOption) -> None:
    """Run the whole job against the local emulator with the sample apps."""
    from .demo import run_demo

    code = run_demo(click.echo, progress=progress)
    sys.exit(code)


def main() -> None:
    """Console entry point."""
    cli(prog_name="moecohort")


if __name__ == "__main__":  # pragma: no cover
    main()
