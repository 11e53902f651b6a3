"""The commands that ask the destination app what it knows, through its Get User API:
``lookup`` (which of these users exist, with their attributes) and ``estimate`` (how many
of a file's users exist, from a random sample, with the interval)."""

from __future__ import annotations

import json
import sys
from typing import TYPE_CHECKING, Any

import click

from .._constants import LOOKUPS_PER_MINUTE
from .base import (
    INTERRUPTED_EXIT,
    app_from_options,
    cli,
    credential_options,
    friendly,
    progress_option,
)
from .files import CsvFormat, csv_options
from .reading import users_of

if TYPE_CHECKING:  # pragma: no cover
    from ..delivery import ProgressOption
    from ..lookup import LookupResult

__all__ = ["fields_of", "lookup_pace_option", "records"]

#: --users-per-minute: the pace of every lookup a command makes.
lookup_pace_option = click.option(
    "--users-per-minute",
    type=float,
    default=float(LOOKUPS_PER_MINUTE),
    show_default=True,
    metavar="N",
    help="Users looked up a minute at most (the Get User API allows 1,000; lower leaves "
    "room for another client of the workspace).",
)


def fields_of(given: tuple[str, ...]) -> list[str] | None:
    """--fields a,b --fields c -> ["a", "b", "c"]; None (every attribute) when not given."""
    names = [name.strip() for value in given for name in value.split(",") if name.strip()]
    return names or None


def records(frame: Any) -> list[dict[str, Any]]:
    """A DataFrame's rows as JSON-ready dicts (missing values as null)."""
    shown = frame.astype(object).where(frame.notna(), None)
    return list(shown.to_dict(orient="records"))


# --------------------------------------------------------------------------- lookup
@cli.command()
@click.argument("ids", nargs=-1)
@click.option(
    "--file",
    "-f",
    "file",
    type=click.Path(dir_okay=False),
    help="Read the ids from this file (CSV or Parquet), column --id-col.",
)
@click.option("--id-col", default="uid", show_default=True, help="Id column of --file.")
@csv_options
@click.option(
    "--fields",
    multiple=True,
    metavar="NAMES",
    help="Attributes to fetch, comma-separated (repeatable; default: all the API returns).",
)
@credential_options
@lookup_pace_option
@click.option("--json", "as_json", is_flag=True, help="Print the result as JSON.")
@progress_option
@friendly
def lookup(
    ids: tuple[str, ...],
    file: str | None,
    id_col: str,
    sep: str | None,
    encoding: str,
    no_header: bool,
    fields: tuple[str, ...],
    profile: str | None,
    env_prefix: str | None,
    users_per_minute: float,
    as_json: bool,
    progress: ProgressOption,
) -> None:
    """Look users up in the destination app: which exist there, with their attributes.

    Ids come as arguments (moecohort lookup u1 u2 --profile dest) or from --file with
    --id-col. Repeats and anonymous ids are counted, not looked up. At most 20 ids a
    request and 1,000 users a minute (the Get User API's limits, which the workspace
    must have enabled). Exit status 0 when every id was looked up (found or not), 1 when
    some could not be.
    """
    from ..delivery import INTERRUPTED
    from ..lookup import lookup_users

    if bool(ids) == bool(file):
        raise click.UsageError(
            "give the ids as arguments (moecohort lookup u1 u2) or --file FILE --id-col COL, "
            "not both" + ("" if ids else " (nor neither)")
        )
    app = app_from_options(profile, env_prefix)
    wanted = fields_of(fields)
    options: dict[str, Any] = {
        "fields": wanted,
        "progress": progress,
        "users_per_minute": users_per_minute,
    }
    if file:
        fmt = CsvFormat(sep, encoding, header=not no_header)
        with users_of(file, fmt, id_col, None, None) as users:
            result = lookup_users(users, app, id_col=id_col, **options)
    else:
        result = lookup_users(list(ids), app, **options)
    echo_lookup(result, as_json)
    if not result.ok:
        sys.exit(INTERRUPTED_EXIT if result.stopped_by == INTERRUPTED else 1)


def echo_lookup(result: LookupResult, as_json: bool) -> None:
    """The lookup's counts, then the users found as a table and those not found."""
    if as_json:
        payload = {
            **result.as_dict(),
            "fields": result.fields,
            "users": records(result.found),
            "not_found_ids": result.not_found,
            "failed_ids": records(result.failed),
        }
        click.echo(json.dumps(payload, indent=2, default=str))
        return
    click.echo(repr(result))
    if result.n_found:
        click.echo(f"found ({result.n_found:,}):")
        shown = result.found.astype(object).where(result.found.notna(), "")
        click.echo(shown.to_string(index=False))
    if result.n_not_found:
        first = ", ".join(repr(u) for u in result.not_found[:20])
        more = f" ... and {result.n_not_found - 20:,} more" if result.n_not_found > 20 else ""
        click.echo(f"not found ({result.n_not_found:,}): {first}{more}")


# --------------------------------------------------------------------------- estimate
@cli.command()
@click.argument("file", type=click.Path(dir_okay=False))
@click.option("--id-col", default="uid", show_default=True, help="Column holding the user id.")
@csv_options
@credential_options
@click.option(
    "--sample",
    type=int,
    default=400,
    show_default=True,
    help="Ids looked up (a uniform random sample; all of them when fewer).",
)
@click.option(
    "--confidence",
    type=float,
    default=0.95,
    show_default=True,
    help="Confidence of the interval (between 0 and 1).",
)
@click.option("--seed", type=int, help="Seed of the sample (default: drawn, and printed).")
@click.option("--exact", is_flag=True, help="Look every distinct id up (no sampling error).")
@click.option(
    "--max-lookups",
    type=int,
    default=10_000,
    show_default=True,
    help="With --exact, refuse above this many distinct ids.",
)
@lookup_pace_option
@click.option("--json", "as_json", is_flag=True, help="Print the estimate as JSON.")
@progress_option
@friendly
def estimate(
    file: str,
    id_col: str,
    sep: str | None,
    encoding: str,
    no_header: bool,
    profile: str | None,
    env_prefix: str | None,
    sample: int,
    confidence: float,
    seed: int | None,
    exact: bool,
    max_lookups: int,
    users_per_minute: float,
    as_json: bool,
    progress: ProgressOption,
) -> None:
    """Estimate how many of FILE's users exist in the destination app, without an export.

    Looks up a uniform random sample of the distinct ids (400 by default: about 23 s,
    ±5 points at 95 %) and prints the fraction known, its interval and the members a
    cohort of these users would hold. Creates nothing.
    """
    from ..lookup import estimate_presence

    app = app_from_options(profile, env_prefix)
    fmt = CsvFormat(sep, encoding, header=not no_header)
    with users_of(file, fmt, id_col, None, None) as users:
        found = estimate_presence(
            users,
            app,
            id_col=id_col,
            sample=sample,
            confidence=confidence,
            seed=seed,
            exact=exact,
            max_lookups=max_lookups,
            progress=progress,
            users_per_minute=users_per_minute,
        )
    if as_json:
        click.echo(json.dumps(found.as_dict(), indent=2))
    else:
        click.echo(repr(found))
