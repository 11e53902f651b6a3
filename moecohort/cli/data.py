"""The commands that read users and send them: ``overlap``, ``push``, ``sync``,
``history`` and ``check``."""

from __future__ import annotations

import json
import sys
from typing import TYPE_CHECKING

import click

if TYPE_CHECKING:  # pragma: no cover
    from ..credentials import AppCredentials
    from ..delivery import ProgressOption

from .base import (
    WIRE_FORMATS,
    app_from_options,
    cli,
    credential_options,
    friendly,
    sending_options,
)
from .files import CsvFormat, csv_options, read_ids, read_layout, require_id_column
from .reading import input_options, users_of
from .send import Sending, apps_from_options, check_options, destination_options, send


# --------------------------------------------------------------------------- overlap
@cli.command()
@click.argument("source", type=click.Path(dir_okay=False))
@click.argument("destination", type=click.Path(dir_okay=False))
@click.option("--on", default="uid", show_default=True, help="Id column (in both files).")
@click.option("--dest-on", help="Id column of DESTINATION when its name differs.")
@csv_options
@click.option("--json", "as_json", is_flag=True, help="Print JSON instead of a table.")
@friendly
def overlap(
    source: str,
    destination: str,
    on: str,
    dest_on: str | None,
    sep: str | None,
    encoding: str,
    no_header: bool,
    as_json: bool,
) -> None:
    """Compare the user ids of two exports (CSV or Parquet).

    Ids match exactly; anonymous users are counted apart and near misses (ids that
    differ only by whitespace, case or Unicode form) are listed, never merged.
    --sep, --encoding and --no-header describe both files.
    """
    from ..matching import overlap as compute

    fmt = CsvFormat(sep, encoding, header=not no_header)
    dst_on = dest_on or on
    src_layout = read_layout(source, fmt, on, "--on")
    dst_layout = read_layout(destination, fmt, dst_on, "--dest-on" if dest_on else "--on")
    require_id_column(src_layout, on, "on")
    require_id_column(dst_layout, dst_on, "destination_col")
    src, dst = read_ids(src_layout, on), read_ids(dst_layout, dst_on)
    labels = (src_layout.name, dst_layout.name)
    if labels[0] == labels[1]:  # the report's two columns need two names
        labels = (f"{source} (source)", f"{destination} (destination)")
    report = compute(src, dst, on=(on, dst_on), labels=labels)
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
@destination_options
@sending_options
@click.option("--action", type=click.Choice(["add", "remove"]), default="add", show_default=True)
@click.option("--description", help="Cohort description (cohort_sync format only).")
@click.option("--dry-run", is_flag=True, help="Validate and show the request plan; send nothing.")
@check_options
@input_options
@friendly
def push(
    file: str,
    cohort_name: str,
    profiles: tuple[str, ...],
    env_prefixes: tuple[str, ...],
    id_col: str,
    sep: str | None,
    encoding: str,
    no_header: bool,
    only_in: str | None,
    dest_on: str | None,
    action: str,
    wire_format: str,
    cohort_id: str | None,
    description: str | None,
    rpm: float,
    max_in_flight: int | None,
    max_retries: int,
    dry_run: bool,
    check_destination: bool,
    min_presence: float | None,
    users_per_minute: float,
    no_shared_budget: bool,
    failed_out: str | None,
    as_json: bool,
    progress: ProgressOption,
) -> None:
    """Push the users of FILE (CSV or Parquet) to a cohort, in one app or several.

    Exit status 0 only when every user was accepted (or, with --dry-run, can be sent)
    in every app.
    """
    checked = check_destination or min_presence is not None
    apps: list[AppCredentials | None] = (
        [None]
        if (dry_run and not checked and not profiles and not env_prefixes)
        else list(apps_from_options(profiles, env_prefixes))
    )
    how = Sending(
        "push",
        cohort_name,
        id_col,
        {
            "action": action,
            "cohort_id": cohort_id,
            "description": description,
            "wire_format": wire_format,
            "requests_per_minute": rpm,
            "max_in_flight": max_in_flight,
            "max_retries": max_retries,
            "dry_run": dry_run,
            "shared_budget": False if no_shared_budget else None,
        },
        check=checked,
        min_presence=min_presence,
        users_per_minute=users_per_minute,
        failed_out=failed_out,
        as_json=as_json,
        progress=progress,
    )
    fmt = CsvFormat(sep, encoding, header=not no_header)
    with users_of(file, fmt, id_col, only_in, dest_on) as users:
        send(users, apps, how)  # read in chunks, de-duplicated on disk: any file size works


# --------------------------------------------------------------------------- sync and history
@cli.command()
@click.argument("file", type=click.Path(dir_okay=False))
@click.option("--cohort-name", "-n", required=True, help="Name of the cohort in the destination.")
@destination_options
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
@click.option(
    "--allow-empty",
    is_flag=True,
    help="Sync an empty FILE (or one of anonymous users only): everyone leaves the cohort.",
)
@check_options
@input_options
@friendly
def sync(
    file: str,
    cohort_name: str,
    profiles: tuple[str, ...],
    env_prefixes: tuple[str, ...],
    id_col: str,
    sep: str | None,
    encoding: str,
    no_header: bool,
    only_in: str | None,
    dest_on: str | None,
    allow_empty: bool,
    state: str | None,
    resync: str | None,
    wire_format: str,
    cohort_id: str | None,
    rpm: float,
    max_in_flight: int | None,
    max_retries: int,
    wait: float,
    dry_run: bool,
    check_destination: bool,
    min_presence: float | None,
    users_per_minute: float,
    no_shared_budget: bool,
    failed_out: str | None,
    as_json: bool,
    progress: ProgressOption,
) -> None:
    """Mirror the users of FILE (CSV or Parquet, read in chunks) into a cohort, in one
    app or several.

    Sends only who joined and who left since the last run; a run that dies is
    resumed by the next one. Exit status 0 only when every change was accepted in
    every app.
    """
    apps: list[AppCredentials | None] = list(apps_from_options(profiles, env_prefixes))
    how = Sending(
        "sync",
        cohort_name,
        id_col,
        {
            "cohort_id": cohort_id,
            "state": state,
            "resync": resync,
            "dry_run": dry_run,
            "wire_format": wire_format,
            "requests_per_minute": rpm,
            "max_in_flight": max_in_flight,
            "max_retries": max_retries,
            "wait": wait,
            "allow_empty": allow_empty,
            "shared_budget": False if no_shared_budget else None,
        },
        check=check_destination or min_presence is not None,
        min_presence=min_presence,
        users_per_minute=users_per_minute,
        failed_out=failed_out,
        as_json=as_json,
        progress=progress,
    )
    fmt = CsvFormat(sep, encoding, header=not no_header)
    with users_of(file, fmt, id_col, only_in, dest_on, allow_empty=allow_empty) as users:
        send(users, apps, how)


@cli.command()
@credential_options
@click.option("--cohort-name", "-n", help="Only this cohort.")
@click.option("--state", type=click.Path(dir_okay=False), help="Sync state file.")
@click.option("--limit", type=click.IntRange(min=1), default=20, show_default=True)
@click.option("--json", "as_json", is_flag=True)
@friendly
def history(
    profile: str | None,
    env_prefix: str | None,
    cohort_name: str | None,
    state: str | None,
    limit: int,
    as_json: bool,
) -> None:
    """Past mirror-sync runs, newest first (all workspaces unless credentials are given)."""
    from ..sync import sync_log

    app = app_from_options(profile, env_prefix) if (profile or env_prefix) else None
    frame = sync_log(app, cohort_name, state=state).head(limit)
    if as_json:
        click.echo(frame.reset_index().to_json(orient="records", date_format="iso", indent=2))
    elif frame.empty:
        click.echo("no sync runs yet")
    else:
        shown = frame[
            [
                "cohort_name",
                "mode",
                "status",
                "started",
                "added",
                "to_add",
                "removed",
                "to_remove",
                "failed",
                "requests",
            ]
        ]
        click.echo(shown.to_string())


# --------------------------------------------------------------------------- check
@cli.command()
@credential_options
@click.option(
    "--wire-format", type=click.Choice(WIRE_FORMATS), default="segment_sync", show_default=True
)
@friendly
def check(profile: str | None, env_prefix: str | None, wire_format: str) -> None:
    """Check that the destination accepts the credentials (creates nothing)."""
    from ..push import check_connection

    outcome = check_connection(app_from_options(profile, env_prefix), wire_format=wire_format)
    click.echo(str(outcome))
    if not outcome.ok:
        sys.exit(1)
