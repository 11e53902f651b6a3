"""What a delivery did: one base for a push's and a mirror sync's results.

:class:`DeliveryResult` holds what every delivery reports: the cohort, the input rows
and the users set aside, the failed users, the requests and how the run ended. It
renders as text (``repr``) and as HTML in notebooks from the same rows. A push
(:class:`PushResult`) adds the members accepted by the API; a sync (:class:`SyncResult`)
adds the difference it planned and what of it the API acknowledged.

"Accepted by the API" is all a 200 from the Cohort Sync API means: it never creates users
and silently drops the uids the destination does not know. When what the destination knows
is known (``result.presence``: a :class:`~moecohort.PresenceEstimate` from
``estimate_presence``, or a :class:`~moecohort.LookupResult` of the same ids), the views
also show the members expected to land, with the interval.
"""

from __future__ import annotations

import html
from dataclasses import dataclass, field
from typing import Any

import pandas as pd

from . import _html
from .delivery import INTERRUPTED, Accounting, Sent, failed_frame
from .errors import PushFailedError
from .lookup import Expected, LookupResult, PresenceEstimate

__all__ = ["DeliveryResult", "PushResult", "SyncResult"]


def _plural(n: int, word: str) -> str:
    return f"{n:,} {word}{'' if n == 1 else 's'}"


def _samples(ids: list[str], n: int = 5) -> str:
    """The first ``n`` ids, quoted (so stray spaces show), long ones cut."""
    return ", ".join(str(_html.shorten(repr(i))) for i in ids[:n])


def _failed_with_op() -> pd.DataFrame:
    frame = failed_frame()
    frame.insert(0, "op", pd.Categorical([], categories=["add", "remove"]))
    return frame


@dataclass(repr=False, kw_only=True)
class DeliveryResult(Accounting):
    """What a delivery to a destination cohort did (or, with ``dry_run``, would do): the
    figures of :class:`~moecohort.delivery.Accounting` (a sync's failed rows also say the
    ``op``), and the cohort's."""

    cohort_name: str
    cohort_id: str
    workspace_id: str | None
    dry_run: bool = False
    #: The request plan (dry run): one row per body (members, bytes, fill).
    plan: pd.DataFrame | None = None
    #: What the destination knows of these users, when known: the estimate (or the exact
    #: lookup) the expected members are computed from. Set it after the push:
    #: ``result.presence = mc.estimate_presence(df, app)``.
    presence: PresenceEstimate | LookupResult | None = None

    @property
    def members_failed(self) -> int:
        """Users (or changes) that were not accepted."""
        return len(self.failed)

    @property
    def ok(self) -> bool:
        """True when every user (or change) was accepted, or in a dry run can be sent."""
        return self.members_failed == 0 and self.stopped_by is None

    @property
    def interrupted(self) -> bool:
        """True when Ctrl-C (or Jupyter's "interrupt kernel") stopped the delivery."""
        return self.stopped_by == INTERRUPTED

    def record(self, sent: Sent) -> None:
        """Take the figures of the requests that were sent."""
        self.requests = sent.requests
        self.retries = sent.retries
        self.batches = sent.bodies
        self.request_ids = sent.request_ids
        self.statuses = sent.statuses
        self.stopped_by = sent.stopped_by

    def raise_for_status(self) -> DeliveryResult:
        """Raise :class:`~moecohort.PushFailedError` unless everything was accepted."""
        if not self.ok:
            raise PushFailedError(self._failure_message(), self)
        return self

    def summary(self) -> pd.DataFrame:
        """The counts, one per row."""
        return pd.DataFrame(self._summary_rows(), columns=["", "count"]).set_index("")

    @property
    def headline(self) -> str:
        """One line saying what happened."""
        raise NotImplementedError

    def summary_html(self) -> str:
        """The counts as HTML, without the collapsible details (plan, failures)."""
        return self._html(sections=False)

    def as_dict(self) -> dict[str, Any]:
        """The result as plain values under their attribute names (for JSON, such as
        ``moecohort push --json``): what was delivered, how it ended, every count."""
        out: dict[str, Any] = {
            "ok": self.ok,
            "cohort_name": self.cohort_name,
            "cohort_id": self.cohort_id,
            "workspace_id": self.workspace_id,
            "dry_run": self.dry_run,
            "stopped_by": self.stopped_by,
            "elapsed_s": round(self.elapsed_s, 3),
            "input_rows": self.input_rows,
            "skipped_anonymous": self.skipped_anonymous,
            "skipped_duplicates": self.skipped_duplicates,
            "anonymous_by_reason": dict(self.anonymous_by_reason),
            **self._counts(),
            "members_failed": self.members_failed,
            "requests": self.requests,
            "batches": self.batches,
            "retries": self.retries,
            "statuses": dict(self.statuses),
        }
        expected = self.expected()
        if expected is not None:
            out["expected_members"] = {
                "members": expected.members,
                "low": expected.low,
                "high": expected.high,
                "confidence": expected.confidence,
                "exact": expected.exact,
            }
        return out

    def estimate(self) -> PresenceEstimate | None:
        """:attr:`presence` as a :class:`~moecohort.PresenceEstimate` (None when unknown)."""
        if isinstance(self.presence, LookupResult):
            return PresenceEstimate.from_lookup(self.presence)
        return self.presence

    def expected(self) -> Expected | None:
        """Members expected to land (or, removing, to leave), with the interval; None when
        :attr:`presence` is not set or answered nothing."""
        estimate = self.estimate()
        if estimate is None or not estimate.n_checked:
            return None
        return estimate.expected_for(self._sent_members())

    def __repr__(self) -> str:
        lines = [f"{type(self).__name__}: {self.headline}{self._title_suffix()}"]
        lines += [f"  {k:<30} {v:>12}" for k, v in self._display_rows()]
        lines += self._detail_lines() + self._presence_lines()
        return "\n".join(lines)

    def _repr_html_(self) -> str:
        return self._html(sections=True)

    # ---- what each kind of result says in its own words
    def _summary_rows(self) -> list[tuple[str, int]]:
        raise NotImplementedError

    def _counts(self) -> dict[str, Any]:
        """The counts of this kind of result, for :meth:`as_dict`."""
        raise NotImplementedError

    def _sent_members(self) -> int:
        """The members the expectation applies to (accepted, or planned in a dry run)."""
        raise NotImplementedError

    def _expected_label(self) -> str:
        return "members expected to land"

    def _expected_rows(self) -> list[tuple[str, int]]:
        expected = self.expected()
        return [] if expected is None else [(self._expected_label(), expected.members)]

    def _display_rows(self) -> list[tuple[str, str]]:
        """The summary rows as text; the expected members with their interval."""
        expected = self.expected()
        label = self._expected_label()
        return [
            (k, str(expected) if expected is not None and k == label else f"{int(v):,}")
            for k, v in self._summary_rows()
        ]

    def _presence_lines(self) -> list[str]:
        estimate = self.estimate()
        if estimate is None or not estimate.n_checked:
            return []
        low, high = estimate.interval
        how = "every id looked up" if estimate.exact else f"{estimate.n_checked:,} ids sampled"
        return [
            f"  the destination knows {estimate.fraction:.1%} of these users "
            f"({low:.1%} to {high:.1%}, {estimate.confidence:.0%}; {how}): "
            "the API accepts the others but they do not join the cohort"
        ]

    def _expected_suffix(self) -> str:
        raise NotImplementedError

    def _failure_message(self) -> str:
        raise NotImplementedError

    def _detail_lines(self) -> list[str]:
        return []

    def _title_suffix(self) -> str:
        return ""

    def _badge(self) -> str:
        return "ok" if self.ok else "not ok"

    def _html_note(self) -> str | None:
        return None

    def _html_sections(self) -> list[tuple[str, str]]:
        return []

    def _html(self, *, sections: bool) -> str:
        notes = [n for n in (self._html_note(), *map(html.escape, self._presence_lines())) if n]
        return _html.table_html(
            f"{type(self).__name__}: {self.headline}",
            self._display_rows(),
            note="<br>".join(n.strip() for n in notes) or None,
            status=(self.ok, self._badge()),
            sections=self._html_sections() if sections else (),
        )

    def _stopped_note(self, prefix: str) -> str | None:
        return html.escape(f"{prefix}{self.stopped_by}") if self.stopped_by else None


@dataclass(repr=False, kw_only=True)
class PushResult(DeliveryResult):
    """What happened to every user of a push (or, with ``dry_run``, what would).

    Every input row is accounted for exactly once: ``members_accepted +
    members_failed + skipped_anonymous + skipped_duplicates == input_rows`` (with
    ``members_planned`` in place of ``members_accepted`` in a dry run).
    """

    action: str
    wire_format: str
    members_accepted: int = 0
    #: Members that were (or, in a dry run, would be) sent.
    members_planned: int = 0

    @property
    def accounted(self) -> int:
        """Rows accounted for; always equals ``input_rows``."""
        done = self.members_planned if self.dry_run else self.members_accepted
        return done + self.members_failed + self.skipped_anonymous + self.skipped_duplicates

    def raise_for_status(self) -> PushResult:
        """Raise :class:`~moecohort.PushFailedError` unless every user was accepted."""
        super().raise_for_status()
        return self

    @property
    def headline(self) -> str:
        what = "add" if self.action == "add" else "remove"
        where = f" in workspace {self.workspace_id}" if self.workspace_id else ""
        if self.dry_run:
            return (
                f"would push {self.members_planned:,} users ({what}) to cohort "
                f"{self.cohort_name!r}{where}" + self._expected_suffix()
            )
        return (
            ("" if self.ok else "push incomplete: ")
            + f"{self.members_accepted:,} users accepted by the API ({what}) for cohort "
            + f"{self.cohort_name!r}{where} in {self.elapsed_s:.1f}s"
            + self._expected_suffix()
        )

    def _sent_members(self) -> int:
        return self.members_planned if self.dry_run else self.members_accepted

    def _expected_label(self) -> str:
        return "members expected to land" if self.action == "add" else "members expected to leave"

    def _expected_suffix(self) -> str:
        expected = self.expected()
        if expected is None:
            return ""
        return f"; {expected} expected to {'land' if self.action == 'add' else 'leave'}"

    def _counts(self) -> dict[str, Any]:
        return {
            "action": self.action,
            "wire_format": self.wire_format,
            "members_accepted": self.members_accepted,
            "members_planned": self.members_planned,
        }

    def _failure_message(self) -> str:
        done = self.members_planned if self.dry_run else self.members_accepted
        return (
            f"{self.members_failed:,} of {done + self.members_failed:,} "
            f"users were not accepted for cohort {self.cohort_name!r}"
            + (f" (stopped: {self.stopped_by})" if self.stopped_by else "")
            + "; see result.failed"
        )

    def _summary_rows(self) -> list[tuple[str, int]]:
        return [
            ("input rows", self.input_rows),
            (
                "members planned" if self.dry_run else "members accepted by the API",
                self.members_planned if self.dry_run else self.members_accepted,
            ),
            *self._expected_rows(),
            ("members failed", self.members_failed),
            ("skipped: anonymous", self.skipped_anonymous),
            ("skipped: duplicate", self.skipped_duplicates),
            ("requests (HTTP attempts)", self.requests),
            ("request bodies", self.batches),
            ("retries", self.retries),
        ]

    def _detail_lines(self) -> list[str]:
        lines = []
        if self.stopped_by:
            lines.append(f"  stopped: {self.stopped_by}")
        if self.dry_run and self.plan is not None and len(self.plan):
            fill = self.plan["fill"]
            lines.append(
                f"  plan: {_plural(len(self.plan), 'request')}, "
                f"{int(self.plan['bytes'].sum()):,} bytes, "
                f"fill {fill.min():.1%}..{fill.max():.1%}"
            )
        if len(self.failed):
            lines.append("  failed (first rows):")
            rows = _html.shown(self.failed.head(5)).to_string()
            lines += ["    " + line for line in rows.splitlines()]
        return lines

    def _badge(self) -> str:
        return "dry run" if self.dry_run else super()._badge()

    def _html_note(self) -> str | None:
        return self._stopped_note("Stopped: ")

    def _html_sections(self) -> list[tuple[str, str]]:
        sections = []
        if self.plan is not None and len(self.plan):
            sections.append(
                (f"request plan ({len(self.plan):,} bodies)", _html.frame_html(self.plan))
            )
        if len(self.failed):
            sections.append((f"failed users ({len(self.failed):,})", _html.frame_html(self.failed)))
        return sections


@dataclass(repr=False, kw_only=True)
class SyncResult(DeliveryResult):
    """What a mirror sync run did (or, with ``dry_run``, would do)."""

    workspace_id: str
    mode: str
    run_id: int | None = None
    #: Distinct, non-anonymous ids in the input: the membership the cohort should have.
    desired: int = 0
    #: Desired ids the cohort was already known to hold (not sent).
    unchanged: int = 0
    to_add: int = 0
    to_remove: int = 0
    added: int = 0
    removed: int = 0
    #: One row per failed change: op ("add"/"remove"), uid, status, error_type, message,
    #: request_id. They are retried by the next run.
    failed: pd.DataFrame = field(default_factory=_failed_with_op)
    #: True when an earlier run of this cohort had died and this one picked up after it.
    resumed: bool = False
    sample_adds: list[str] = field(default_factory=list)
    sample_removes: list[str] = field(default_factory=list)

    @property
    def status(self) -> str:
        if self.dry_run:
            return "dry_run"
        if self.stopped_by:
            return "stopped"
        return "ok" if self.ok else "failed"

    def raise_for_status(self) -> SyncResult:
        """Raise :class:`~moecohort.PushFailedError` unless every change was accepted."""
        super().raise_for_status()
        return self

    @property
    def headline(self) -> str:
        """What the API acknowledged (next to what was planned, when that differs)."""
        mode = "" if self.mode == "diff" else f" (resync {self.mode})"
        where = f"cohort {self.cohort_name!r} in workspace {self.workspace_id}{mode}"
        if self.dry_run:
            return f"would sync {where}: +{self.to_add:,} -{self.to_remove:,}" + (
                self._expected_suffix()
            )
        if (self.added, self.removed) == (self.to_add, self.to_remove):
            changes = f"+{self.to_add:,} -{self.to_remove:,}"
        else:
            changes = (
                f"+{self.added:,} of {self.to_add:,} to add, "
                f"-{self.removed:,} of {self.to_remove:,} to remove"
            )
        return (
            f"sync of {where}: {changes} accepted by the API in {self.elapsed_s:.1f}s, "
            f"{self.status}" + self._expected_suffix()
        )

    def _sent_members(self) -> int:
        return self.desired

    def _expected_label(self) -> str:
        return "members expected in the cohort"

    def _expected_suffix(self) -> str:
        expected = self.expected()
        return "" if expected is None else f"; {expected} members expected in the cohort"

    def _counts(self) -> dict[str, Any]:
        return {
            "status": self.status,
            "run_id": self.run_id,
            "mode": self.mode,
            "resumed": self.resumed,
            "desired": self.desired,
            "unchanged": self.unchanged,
            "to_add": self.to_add,
            "added": self.added,
            "to_remove": self.to_remove,
            "removed": self.removed,
        }

    def _failure_message(self) -> str:
        return (
            f"sync of {self.cohort_name!r} incomplete: {self.members_failed:,} changes failed"
            + (f" (stopped: {self.stopped_by})" if self.stopped_by else "")
            + "; the next run retries them; see result.failed"
        )

    def _summary_rows(self) -> list[tuple[str, int]]:
        return [
            ("input rows", self.input_rows),
            ("skipped: anonymous", self.skipped_anonymous),
            ("skipped: duplicate", self.skipped_duplicates),
            ("desired members", self.desired),
            *self._expected_rows(),
            ("unchanged", self.unchanged),
            ("to add", self.to_add),
            ("to remove", self.to_remove),
            ("adds accepted by the API", self.added),
            ("removes accepted by the API", self.removed),
            ("failed", self.members_failed),
            ("requests (HTTP attempts)", self.requests),
        ]

    def _title_suffix(self) -> str:
        return f" [run {self.run_id}]" if self.run_id is not None else ""

    def _detail_lines(self) -> list[str]:
        lines = []
        if self.resumed:
            lines.append("  resumed after an interrupted run")
        if self.stopped_by:
            lines.append(f"  stopped: {self.stopped_by}")
        if self.dry_run:
            if self.sample_adds:
                lines.append(f"  e.g. adds: {_samples(self.sample_adds)}")
            if self.sample_removes:
                lines.append(f"  e.g. removes: {_samples(self.sample_removes)}")
            if self.plan is not None and len(self.plan):
                lines.append(
                    f"  plan: {len(self.plan):,} requests, {int(self.plan['bytes'].sum()):,} bytes"
                )
        return lines

    def _badge(self) -> str:
        return self.status

    def _html_note(self) -> str | None:
        return self._stopped_note("stopped: ")

    def _html_sections(self) -> list[tuple[str, str]]:
        sections = []
        if self.plan is not None and len(self.plan):
            sections.append((f"request plan ({len(self.plan):,})", _html.frame_html(self.plan)))
        if len(self.failed):
            sections.append((f"failed ({len(self.failed):,})", _html.frame_html(self.failed)))
        for label, sample in (("adds", self.sample_adds), ("removes", self.sample_removes)):
            if sample:
                text = _html.esc(_samples(sample, 10))
                sections.append((f"sample {label}", f"<div class='note'>{text}</div>"))
        return sections
