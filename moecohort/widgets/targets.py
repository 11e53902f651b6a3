"""Where a :class:`~moecohort.widgets.PushPanel` pushes (one app, or several at once),
and what it shows of a check and of a push to several apps.

A target is :class:`~moecohort.AppCredentials`, a profile name or a
:class:`CredentialsPicker` (read when a button is pressed); the panel takes one target, a
list of them, or an :class:`AppPairPicker` (every destination of the pair)."""

from __future__ import annotations

import base64
import html
import re
from collections.abc import Sequence
from dataclasses import dataclass

import pandas as pd

from .. import _html
from ..checks import PreflightReport
from ..credentials import AppCredentials, get_credentials
from ..delivery import FAILED_COLUMNS
from ..errors import ConfigurationError
from ..fanout import MultiAppResult
from ..results import PushResult
from ._look import bad, note, ok
from .credentials import AppPairPicker, CredentialsPicker

__all__ = [
    "Target",
    "Targets",
    "app_key",
    "check_summary",
    "failed_link",
    "failed_of",
    "label_of",
    "plan_html",
    "reports_html",
]

Target = AppCredentials | CredentialsPicker | str


def app_key(app: AppCredentials) -> tuple[str, str]:
    """An app's identity: its host and workspace."""
    return (app.host, app.workspace_id)


def label_of(app: AppCredentials) -> str:
    """An app's label: its profile name, else its workspace id (as ``push_to_apps``)."""
    return app.name or app.workspace_id


@dataclass
class Targets:
    """What the panel was given as ``app``, resolved when a button is pressed."""

    given: Target | AppPairPicker | Sequence[Target] | None

    @property
    def items(self) -> list[Target]:
        given = self.given
        if given is None:
            return []
        if isinstance(given, AppPairPicker):
            return list(given.destinations)
        if isinstance(given, (AppCredentials, CredentialsPicker, str)):
            return [given]
        return list(given)

    @property
    def several(self) -> bool:
        """True when the push goes to more than one app (a MultiAppResult)."""
        return len(self.items) > 1

    @property
    def pickers(self) -> list[CredentialsPicker]:
        return [t for t in self.items if isinstance(t, CredentialsPicker)]

    def apps(self) -> list[AppCredentials]:
        """Every target's credentials; ConfigurationError when none is given or one is
        incomplete."""
        if not self.items:
            raise ConfigurationError(
                "No destination app given: PushPanel(df, app) needs AppCredentials, a "
                "profile name or a CredentialsPicker (or a list of them, or an AppPairPicker) "
                "to push (a dry run works without)."
            )
        return [
            t.credentials if isinstance(t, CredentialsPicker) else get_credentials(t)
            for t in self.items
        ]

    def describe(self) -> str:
        """Where the push goes, for the panel's header."""
        texts = [_describe(t) for t in self.items]
        if not texts:
            return " (no destination app given: dry runs only)"
        if len(texts) == 1:
            return texts[0]
        return f" to {len(texts)} apps:" + ";".join(texts)


def _describe(target: Target) -> str:
    if isinstance(target, str):
        return f" to profile {target!r}"
    app = target.app if isinstance(target, CredentialsPicker) else target
    if app is None:
        return " (the destination app's credentials are not complete yet)"
    return f" to workspace {app.workspace_id} ({app.host})"


def failed_of(result: PushResult | MultiAppResult) -> pd.DataFrame:
    """The failed users of a push; of a push to several apps, with an ``app`` column first."""
    if isinstance(result, PushResult):
        return result.failed
    frames = [
        o.result.failed.assign(app=o.label)
        for o in result
        if o.result is not None and len(o.result.failed)
    ]
    if not frames:
        return pd.DataFrame(columns=["app", *FAILED_COLUMNS])
    frame = pd.concat(frames, ignore_index=True)
    return frame[["app", *[c for c in frame.columns if c != "app"]]]


def reports_html(reports: dict[tuple[str, str], PreflightReport]) -> str:
    """The pre-flight reports' notebook views, one after the other."""
    return "".join(r._repr_html_() for r in reports.values())


def check_summary(reports: dict[tuple[str, str], PreflightReport]) -> str:
    """One line per check, for the progress bar's label: the members expected to land,
    or the first problem."""
    parts = []
    for report in reports.values():
        where = f"{report.workspace_id}: " if len(reports) > 1 else ""
        estimate = report.presence
        if not report.ok:
            parts.append(bad(f"{where}{report.problems[0]}"))
        elif estimate is not None and estimate.n_checked:
            parts.append(ok(f"{where}{estimate.expected} members expected to land"))
        else:
            parts.append(note(f"{where}{report.headline}"))
    return " ".join(parts)


def plan_html(result: PushResult) -> str:
    """A dry run's counts and request plan."""
    plan = result.plan if result.plan is not None else pd.DataFrame()
    return (
        result.summary_html()
        + f"<div><b>Request plan</b> ({len(plan):,} request body"
        + ("" if len(plan) == 1 else "s")
        + ", nothing sent):</div>"
        + _html.frame_html(plan)
    )


def failed_link(result: PushResult | MultiAppResult, max_inline_bytes: int) -> str:
    """The failed users as a CSV download link (a file next to the notebook above
    ``max_inline_bytes``: the link is saved with the widget); nothing when none failed."""
    failed = failed_of(result)
    if not len(failed):
        return ""
    text = failed.to_csv(index=False)
    slug = re.sub(r"[^A-Za-z0-9]+", "_", result.cohort_name).strip("_")[:40] or "cohort"
    filename = f"failed_users_{slug}.csv"
    n = len(failed)
    if len(text.encode("utf-8")) <= max_inline_bytes:
        data = base64.b64encode(text.encode("utf-8")).decode("ascii")
        return (
            f"<div><a download='{html.escape(filename)}' href='data:text/csv;base64,{data}'"
            f" class='moecohort-failed-csv'>Download the {n:,} failed users (CSV)</a></div>"
        )
    with open(filename, "w", encoding="utf-8", newline="") as fh:
        fh.write(text)
    return note(f"The {n:,} failed users were written to {filename} (next to the notebook).")
