"""Before a push: :func:`preflight` checks what can be checked without creating anything.

1. the cohort name (the characters MoEngage rejects; a clean name is proposed);
2. the credentials (:func:`~moecohort.check_connection`: one Cohort Sync request with an
   empty body, which creates nothing);
3. the name in the destination's segments list (the Custom Segments API): a segment that
   already holds the name is shown as the API describes it (name, id, type, source,
   created time) with a warning, since MoEngage documents that the Cohort Sync API cannot
   update a segment made on the dashboard or by the File Segment API, and does not
   document how a cohort-sync cohort is described: the values are reported, never
   interpreted. Its calls are counted against the list's limits (50 a minute, 200 an
   hour, 1,000 a day) and not sent when they would go over;
4. with ``data``, how many of the users the destination knows
   (:func:`~moecohort.estimate_presence`).

The :class:`PreflightReport` separates ``problems`` (the push would fail: rejected
credentials, an invalid name) from ``warnings`` (it would succeed, perhaps not as meant).
"""

from __future__ import annotations

import html
import logging
from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import Any

from . import _html
from .credentials import AppCredentials, get_credentials
from .delivery import ProgressOption
from .errors import APIError, CohortNameError, LookupFailedError
from .lookup import DEFAULT_SAMPLE, PresenceEstimate, SegmentList, estimate_presence
from .lookup.options import Clock, LookupOptions
from .lookup.presence import Lookup
from .lookup.segments import SegmentsBudget, describe, find_segments
from .payload import validate_cohort_name
from .push import ConnectionCheck, check_connection

__all__ = ["PreflightReport", "preflight"]

log = logging.getLogger("moecohort")


@dataclass(repr=False)
class PreflightReport:
    """What :func:`preflight` found. ``ok`` is True when nothing would make the push fail;
    ``warnings`` say what would make it land otherwise than meant."""

    workspace_id: str
    cohort_name: str
    connection: ConnectionCheck | None = None
    segments: SegmentList | None = None
    presence: PresenceEstimate | None = None
    #: A clean name to use instead, when the name would be rejected.
    suggestion: str | None = None
    problems: list[str] = field(default_factory=list)
    warnings: list[str] = field(default_factory=list)
    #: API calls made, by API.
    calls: dict[str, int] = field(default_factory=dict)
    elapsed_s: float = 0.0

    @property
    def ok(self) -> bool:
        return not self.problems

    @property
    def headline(self) -> str:
        where = f"cohort {self.cohort_name!r} in workspace {self.workspace_id}"
        if self.problems:
            return f"not ready: {where}, {len(self.problems)} problem(s)"
        if self.warnings:
            return f"ready, with {len(self.warnings)} warning(s): {where}"
        return f"ready: {where}"

    def as_dict(self) -> dict[str, Any]:
        """What was found, JSON-ready (for ``--json`` outputs)."""
        segments = self.segments
        return {
            "ok": self.ok,
            "workspace_id": self.workspace_id,
            "cohort_name": self.cohort_name,
            "suggestion": self.suggestion,
            "credentials_ok": None if self.connection is None else self.connection.ok,
            "credentials": None if self.connection is None else self.connection.message,
            "segments_checked": None if segments is None else segments.checked,
            "segments": None if segments is None else segments.segments,
            "presence": None if self.presence is None else self.presence.as_dict(),
            "problems": list(self.problems),
            "warnings": list(self.warnings),
            "calls": dict(self.calls),
            "elapsed_s": round(self.elapsed_s, 3),
        }

    def _rows(self) -> list[tuple[str, str]]:
        rows = [("cohort name", "invalid" if self.suggestion is not None else "valid")]
        if self.connection is not None:
            rows.append(("credentials", "accepted" if self.connection.ok else "rejected"))
        if self.segments is not None:
            seen = (
                f"{len(self.segments):,} with this name" if self.segments.checked else "not checked"
            )
            rows.append(("segments list", seen))
            for i, segment in enumerate(self.segments.segments):
                rows.append((f"segment {i + 1}", describe(segment)))
        if self.presence is not None:
            rows.append(("users known to the destination", _known(self.presence)))
            if self.presence.n_checked:
                rows.append(("members expected to land", str(self.presence.expected)))
        rows += [(f"calls: {api}", f"{n:,}") for api, n in self.calls.items()]
        rows.append(("time", f"{self.elapsed_s:.1f} s"))
        return rows

    def __repr__(self) -> str:
        lines = [f"PreflightReport: {self.headline}"]
        lines += [f"  {k:<30} {v}" for k, v in self._rows()]
        lines += [f"  problem: {p}" for p in self.problems]
        lines += [f"  warning: {w}" for w in self.warnings]
        return "\n".join(lines)

    def _repr_html_(self) -> str:
        notes = [f"<b>problem</b>: {html.escape(p)}" for p in self.problems]
        notes += [f"<b>warning</b>: {html.escape(w)}" for w in self.warnings]
        badge = "not ready" if self.problems else "warnings" if self.warnings else "ready"
        return _html.table_html(
            f"PreflightReport: {self.headline}",
            self._rows(),
            note="<br>".join(notes) or None,
            status=(self.ok and not self.warnings, badge),
        )


def _known(estimate: PresenceEstimate) -> str:
    if not estimate.n_checked:
        return "not checked"
    if estimate.exact:
        return f"{estimate.n_found:,} of {estimate.n_distinct:,} ({estimate.fraction:.1%})"
    low, high = estimate.interval
    return (
        f"{estimate.fraction:.1%} ({low:.1%} to {high:.1%}, {estimate.confidence:.0%}; "
        f"{estimate.n_checked:,} of {estimate.n_distinct:,} ids sampled)"
    )


def preflight(
    app: AppCredentials | str,
    cohort_name: str,
    *,
    data: Any = None,
    id_col: str = "uid",
    wire_format: str = "segment_sync",
    sample: int = DEFAULT_SAMPLE,
    confidence: float = 0.95,
    seed: int | None = None,
    placeholders: Iterable[str] | None = None,
    budget: SegmentsBudget | None = None,
    progress: ProgressOption = "auto",
    lookup: Lookup | None = None,
    **lookup_options: Any,
) -> PreflightReport:
    """Check a push of ``data`` (optional) to cohort ``cohort_name`` in ``app`` before
    making it; creates nothing (see the module docs for what is checked, and the calls
    each check costs).

    ``budget`` counts the calls to the segments list (default: this process's, shared by
    every call). ``sample``, ``confidence``, ``seed``, ``placeholders``, ``lookup`` and the
    other keywords (``users_per_minute``, ``clock``, ...) go to
    :func:`~moecohort.estimate_presence`.
    """
    options = LookupOptions.from_kwargs(progress, lookup_options)
    started = options.now()
    creds = get_credentials(app)
    report = PreflightReport(creds.workspace_id, cohort_name)
    try:
        validate_cohort_name(cohort_name)
    except CohortNameError as exc:
        report.suggestion = exc.suggestion
        report.problems.append(str(exc))

    report.connection = check_connection(creds, wire_format=wire_format)
    report.calls["cohort sync"] = 1
    if not report.connection.ok:
        report.problems.append(report.connection.message)
        report.warnings.append(
            "the segments list and the users were not checked: the credentials come first"
        )
    else:
        if report.suggestion is None:
            _check_name(report, creds, cohort_name, budget, options)
        else:
            report.warnings.append("the segments list was not checked: the name is invalid")
        if data is not None:
            _check_users(
                report,
                creds,
                data,
                lookup,
                lookup_options,
                id_col=id_col,
                sample=sample,
                confidence=confidence,
                seed=seed,
                placeholders=placeholders,
                progress=progress,
            )
    report.elapsed_s = options.now() - started
    log.info("preflight: %s", report.headline)
    return report


def _check_name(
    report: PreflightReport,
    creds: AppCredentials,
    name: str,
    budget: SegmentsBudget | None,
    options: LookupOptions,
) -> None:
    clock: Clock | None = options.clock
    found = find_segments(
        creds, name, budget=budget, sleep=clock.sleep if clock is not None else None
    )
    report.segments = found
    report.calls["segments list"] = found.calls
    if not found.checked:
        report.warnings.append(f"could not check the segments list: {found.note}")
        return
    for segment in found.segments:
        report.warnings.append(
            f"the name {name!r} is already taken by a segment ({describe(segment)}). "
            "The Cohort Sync API cannot update segments made on the dashboard or with the "
            "File Segment API, and MoEngage does not document how it describes the cohorts "
            "it creates itself, so moecohort cannot tell which this one is: if it is not "
            "a cohort you pushed before, choose another name."
        )


def _check_users(
    report: PreflightReport,
    creds: AppCredentials,
    data: Any,
    lookup: Lookup | None,
    lookup_options: dict[str, Any],
    **estimate: Any,
) -> None:
    try:
        presence = estimate_presence(data, creds, lookup=lookup, **estimate, **lookup_options)
    except (APIError, LookupFailedError) as exc:
        result = getattr(exc, "result", None)
        report.calls["get user"] = getattr(result, "requests", 0)
        report.warnings.append(f"could not check which users the destination knows: {exc}")
        return
    report.presence = presence
    report.calls["get user"] = presence.requests
    if presence.n_checked and presence.n_found < presence.n_checked:
        expected = presence.expected
        report.warnings.append(
            f"the destination does not know every user: of {presence.n_distinct:,} members, "
            f"{expected} are expected to land. The API accepts the others and drops them "
            "silently; keep_in_destination(df, app) keeps only the users it knows."
        )
