"""How ``push`` and ``sync`` send: to one app or to several at once (``--profile`` or
``--env`` given more than once: ``push_to_apps`` / ``sync_to_apps``), after the checks of
``--check-destination`` (the pre-flight of each app, with the estimate of the users it
knows) and ``--min-presence``, which stops before anything is sent."""

from __future__ import annotations

import json
import sys
import tempfile
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, TypeVar

import click

from .base import INTERRUPTED_EXIT, app_from_options, echo_result
from .lookups import lookup_pace_option
from .messages import cli_message
from .reading import reusable

if TYPE_CHECKING:  # pragma: no cover
    from ..checks import PreflightReport
    from ..credentials import AppCredentials
    from ..delivery import ProgressOption
    from ..fanout import MultiAppResult
    from ..results import DeliveryResult

__all__ = [
    "Sending",
    "apps_from_options",
    "check_options",
    "destination_options",
    "parse_presence",
    "presence_verdict",
    "send",
]

F = TypeVar("F", bound=Callable[..., Any])


def parse_presence(ctx: click.Context, param: click.Parameter, value: str | None) -> float | None:
    """--min-presence: a fraction from 0 to 1 (``0.8``) or a percentage (``80%``)."""
    if value is None:
        return None
    text = value.strip()
    try:
        number = float(text.removesuffix("%"))
    except ValueError:
        number = -1.0
    fraction = number / 100 if text.endswith("%") else number
    if not 0 <= fraction <= 1:
        raise click.BadParameter(
            f"give a fraction from 0 to 1 (0.8) or a percentage (80%), not {value!r}"
        )
    return fraction


_destination_options = [
    click.option(
        "--profile",
        "-p",
        "profiles",
        multiple=True,
        metavar="NAME",
        help="Saved profile to send to (see `moecohort profiles`); more than once: every "
        "app at once.",
    ),
    click.option(
        "--env",
        "env_prefixes",
        multiple=True,
        metavar="PREFIX",
        help="Read credentials from PREFIX_WORKSPACE_ID, PREFIX_DATA_API_KEY, "
        "PREFIX_DATA_CENTER, PREFIX_BASE_URL (default prefix: MOECOHORT); more than once: "
        "every app at once.",
    ),
]

_check_options = [
    click.option(
        "--check-destination",
        is_flag=True,
        help="First check each app (credentials, the cohort name in its segments list) and "
        "estimate how many of the users it knows (400 looked up); creates nothing.",
    ),
    click.option(
        "--min-presence",
        metavar="P",
        callback=parse_presence,
        help="Send nothing unless the estimate's lower bound (95 %) is at least P of the "
        "users: 0.8 or 80%. Implies --check-destination.",
    ),
    lookup_pace_option,
    click.option(
        "--no-shared-budget",
        is_flag=True,
        help="Pace this run alone, not sharing the workspace's requests per minute with the "
        "machine's other moecohort processes.",
    ),
]


def destination_options(func: F) -> F:
    for option in reversed(_destination_options):
        func = option(func)
    return func


def check_options(func: F) -> F:
    for option in reversed(_check_options):
        func = option(func)
    return func


def apps_from_options(
    profiles: tuple[str, ...], env_prefixes: tuple[str, ...]
) -> list[AppCredentials]:
    """Every app named by --profile and --env (the MOECOHORT_* variables when none is)."""
    if not profiles and not env_prefixes:
        return [app_from_options(None, None)]
    return [app_from_options(p, None) for p in profiles] + [
        app_from_options(None, e) for e in env_prefixes
    ]


@dataclass
class Sending:
    """What ``push`` or ``sync`` asked for, besides the input and the apps."""

    kind: str  # "push" or "sync"
    cohort_name: str
    id_col: str
    options: dict[str, Any]
    check: bool = False
    min_presence: float | None = None
    users_per_minute: float = 1000.0
    failed_out: str | None = None
    as_json: bool = False
    progress: ProgressOption = "auto"
    reports: dict[tuple[str, str], PreflightReport] = field(default_factory=dict)


def send(users: Any, apps: list[AppCredentials | None], how: Sending) -> None:
    """Check (when asked), send to one app or to all of them, print the result; exit 1
    unless every app is ok (130 after Ctrl-C)."""
    check = how.check or how.min_presence is not None
    with tempfile.TemporaryDirectory(prefix="moecohort-") as folder:
        if check or len(apps) > 1:
            users = reusable(users, how.id_col, folder)  # each check and app reads it
        if check:
            _check(users, [a for a in apps if a is not None], how)
        if len(apps) == 1:
            _send_one(users, apps[0], how)
        else:
            _send_many(users, [a for a in apps if a is not None], how)


def _key(app: AppCredentials) -> tuple[str, str]:
    return (app.host, app.workspace_id)


def _check(users: Any, apps: list[AppCredentials], how: Sending) -> None:
    from ..checks import preflight

    stops: list[str] = []
    verdicts: dict[str, str] = {}
    for app in apps:
        report = preflight(
            app,
            how.cohort_name,
            data=users,
            id_col=how.id_col,
            wire_format=how.options.get("wire_format", "segment_sync"),
            progress=how.progress,
            users_per_minute=how.users_per_minute,
        )
        how.reports[_key(app)] = report
        label = app.name or app.workspace_id
        where = f"{label}: " if len(apps) > 1 else ""
        if not how.as_json:
            click.echo(repr(report))
        if not report.ok:
            stops.append(f"{where}{report.problems[0]}")
        if how.min_presence is not None:
            enough, line = presence_verdict(report, how.min_presence)
            verdicts[label] = line
            if not enough:
                stops.append(where + line)
            elif not how.as_json:
                click.echo(line)
    if not stops:
        return
    if how.as_json:
        click.echo(
            json.dumps(
                {
                    "ok": False,
                    "sent": False,
                    "preflight": {
                        (a.name or a.workspace_id): how.reports[_key(a)].as_dict() for a in apps
                    },
                    "min_presence": verdicts or None,
                },
                indent=2,
            )
        )
    where = " to any app" if len(apps) > 1 else ""
    raise click.ClickException(f"nothing sent{where}: " + "; ".join(stops))


def presence_verdict(report: PreflightReport, minimum: float) -> tuple[bool, str]:
    """Whether the estimate's lower bound reaches --min-presence, said in one line."""
    asked = f"--min-presence {minimum * 100:g}%"
    estimate = report.presence
    if estimate is None or not estimate.n_checked:
        return False, f"{asked}: the users the destination knows could not be checked"
    low, high = estimate.interval
    if estimate.exact:
        seen = f"{estimate.fraction:.1%} of the users are known (every id looked up)"
    else:
        seen = (
            f"at least {low:.1%} of the users are known (the lower bound of the estimate "
            f"{estimate.fraction:.1%}, {low:.1%} to {high:.1%} at {estimate.confidence:.0%})"
        )
    enough = low >= minimum
    return enough, f"{asked}: {seen}: " + ("enough" if enough else "too few")


def _send_one(users: Any, app: AppCredentials | None, how: Sending) -> None:
    from ..push import push_cohort
    from ..sync import sync_cohort

    deliver: Callable[..., DeliveryResult] = push_cohort if how.kind == "push" else sync_cohort
    result = deliver(
        users, app, how.cohort_name, id_col=how.id_col, progress=how.progress, **how.options
    )
    report = how.reports.get(_key(app)) if app is not None else None
    extra: dict[str, Any] = {}
    if report is not None:
        result.presence = report.presence
        extra["preflight"] = report.as_dict()
    echo_result(result, how.failed_out, how.as_json, **extra)


def _send_many(users: Any, apps: list[AppCredentials], how: Sending) -> None:
    from ..fanout import push_to_apps, sync_to_apps

    deliver = push_to_apps if how.kind == "push" else sync_to_apps
    result = deliver(
        users, apps, how.cohort_name, id_col=how.id_col, progress=how.progress, **how.options
    )
    extra: dict[str, Any] = {}
    for outcome in result:
        report = how.reports.get(_key(outcome.app))
        if report is not None:
            if outcome.result is not None:
                outcome.result.presence = report.presence
            extra.setdefault("preflight", {})[outcome.label] = report.as_dict()
    echo_apps(result, how.failed_out, how.as_json, **extra)


def echo_apps(result: MultiAppResult, failed_out: str | None, as_json: bool, **extra: Any) -> None:
    """Print a push or sync to several apps: a row per app, then each app's result line,
    error and failures; write every app's failures to one CSV with an ``app`` column.
    Exit 1 unless every app is ok (130 when Ctrl-C stopped them)."""
    import pandas as pd

    failed = [
        o.result.failed.assign(app=o.label)
        for o in result
        if o.result is not None and len(o.result.failed)
    ]
    if failed_out and failed:
        frame = pd.concat(failed, ignore_index=True)
        frame = frame[["app", *[c for c in frame.columns if c != "app"]]]
        frame.to_csv(failed_out, index=False)
    if as_json:
        click.echo(json.dumps({**result.as_dict(), **extra}, indent=2, default=str))
    else:
        click.echo(repr(result))
        for o in result:
            if o.result is not None:
                click.echo(f"{o.label}: {o.result.headline}")
            if o.error is not None:
                click.echo(f"{o.label}: error: {cli_message(o.error)}")
            if o.result is not None and len(o.result.failed):
                click.echo(f"{o.label}: failed (first rows):")
                rows = o.result.failed.head(5).to_string(index=False)
                click.echo("\n".join("  " + line for line in rows.splitlines()))
        if failed_out and failed:
            click.echo(f"failed users of every app written to {failed_out} (column app)")
    if not result.ok:
        stopped = any(o.result is not None and o.result.interrupted for o in result)
        sys.exit(INTERRUPTED_EXIT if stopped else 1)
