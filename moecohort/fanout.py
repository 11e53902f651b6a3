"""One cohort to several destination apps at once (one app per region, say).

:func:`push_to_apps` and :func:`sync_to_apps` run :func:`~moecohort.push_cohort` or
:func:`~moecohort.sync_cohort` for every app concurrently, one thread per app: each app
keeps its own pacing (and rate budget), its own result and its own failures, and a failure
in one (a rejected key, a suspended workspace) never stops the others. The
:class:`MultiAppResult` puts them side by side: a row per app, ``ok`` only if every app is
ok. Ctrl-C works as for one app: the first press stops every app, the second aborts them.
"""

from __future__ import annotations

import html
import threading
import time
from collections.abc import Callable, Iterator, Sequence
from contextvars import copy_context
from dataclasses import dataclass, field
from typing import Any, Literal

import pandas as pd
import pyarrow as pa

from . import _html
from .credentials import AppCredentials, get_credentials
from .delivery import ProgressOption
from .delivery.interrupts import CtrlC, join, shared_ctrl_c
from .errors import APIError, InputError, MoEngageError, PushFailedError
from .push import push_cohort
from .results import DeliveryResult
from .sync import SyncState, sync_cohort

__all__ = ["AppOutcome", "MultiAppResult", "push_to_apps", "sync_to_apps"]

Kind = Literal["push", "sync"]


@dataclass(frozen=True)
class AppOutcome:
    """How the delivery to one app ended: its result (also when an error stopped it, as
    far as it got) and the error, if one did."""

    label: str
    app: AppCredentials
    result: DeliveryResult | None
    error: MoEngageError | None = None

    @property
    def ok(self) -> bool:
        return self.error is None and self.result is not None and self.result.ok


@dataclass(repr=False)
class MultiAppResult:
    """What a push or sync to several apps did, app by app."""

    kind: Kind
    cohort_name: str
    outcomes: list[AppOutcome] = field(default_factory=list)
    elapsed_s: float = 0.0

    @property
    def ok(self) -> bool:
        """True only when every app's delivery is ok."""
        return all(o.ok for o in self.outcomes)

    @property
    def results(self) -> dict[str, DeliveryResult]:
        """Each app's result, by label (the profile name, else the workspace id)."""
        return {o.label: o.result for o in self.outcomes if o.result is not None}

    @property
    def errors(self) -> dict[str, MoEngageError]:
        """The error that stopped an app, by label."""
        return {o.label: o.error for o in self.outcomes if o.error is not None}

    def __getitem__(self, label: str) -> DeliveryResult:
        return self.results[label]

    def __iter__(self) -> Iterator[AppOutcome]:
        return iter(self.outcomes)

    def __len__(self) -> int:
        return len(self.outcomes)

    def raise_for_status(self) -> MultiAppResult:
        """Raise :class:`~moecohort.PushFailedError` unless every app is ok."""
        if not self.ok:
            bad = [o.label for o in self.outcomes if not o.ok]
            raise PushFailedError(
                f"{self.kind} of {self.cohort_name!r} not complete in {len(bad)} of "
                f"{len(self)} apps ({', '.join(bad)}); see result.summary()",
                self,
            )
        return self

    def summary(self) -> pd.DataFrame:
        """A row per app: workspace, ok, status, accepted and failed counts, requests,
        seconds and the error that stopped it, if any."""
        rows = []
        for o in self.outcomes:
            r = o.result
            rows.append(
                {
                    "app": o.label,
                    "workspace_id": o.app.workspace_id,
                    "ok": o.ok,
                    "status": _status(o),
                    "accepted": _accepted(r),
                    "failed": r.members_failed if r is not None else pd.NA,
                    "requests": r.requests if r is not None else 0,
                    "elapsed_s": round(r.elapsed_s, 1) if r is not None else pd.NA,
                    "error": str(o.error).splitlines()[0] if o.error is not None else "",
                }
            )
        frame = pd.DataFrame(rows).set_index("app")
        return frame.astype({"failed": "Int64", "accepted": "Int64"})

    def as_dict(self) -> dict[str, Any]:
        """Plain values (for JSON): ``ok`` and each app's result (or error)."""
        apps: dict[str, Any] = {}
        for o in self.outcomes:
            entry: dict[str, Any] = o.result.as_dict() if o.result is not None else {"ok": False}
            if o.error is not None:
                entry["error"] = str(o.error)
            apps[o.label] = entry
        return {
            "ok": self.ok,
            "cohort_name": self.cohort_name,
            "elapsed_s": round(self.elapsed_s, 3),
            "apps": apps,
        }

    @property
    def headline(self) -> str:
        done = sum(o.ok for o in self.outcomes)
        return (
            f"{self.kind} of cohort {self.cohort_name!r} to {len(self)} apps: "
            f"{done} ok, {len(self) - done} not ok, in {self.elapsed_s:.1f}s"
        )

    def __repr__(self) -> str:
        table = _html.shown(self.summary().reset_index()).to_string(index=False)
        return f"MultiAppResult: {self.headline}\n" + "\n".join(
            "  " + line for line in table.splitlines()
        )

    def _repr_html_(self) -> str:
        sections = [
            (f"{o.label}: {o.result.headline}", o.result.summary_html())
            for o in self.outcomes
            if o.result is not None
        ]
        return (
            f"{_html.STYLE}<div class='moecohort-report'><h4>"
            f"{html.escape('MultiAppResult: ' + self.headline)} "
            f"<span class='{'ok' if self.ok else 'bad'}'>{'ok' if self.ok else 'not ok'}"
            f"</span></h4>{_html.frame_html(self.summary())}"
            + "".join(
                f"<details><summary>{_html.esc(title)}</summary>{body}</details>"
                for title, body in sections
            )
            + "</div>"
        )


def push_to_apps(
    df: object,
    apps: Sequence[AppCredentials | str],
    cohort_name: str,
    *,
    progress: ProgressOption = "auto",
    **options: Any,
) -> MultiAppResult:
    """Push ``df``'s users to the cohort ``cohort_name`` in every app of ``apps`` at once.

    Takes every option of :func:`~moecohort.push_cohort`; returns a
    :class:`MultiAppResult`. ``progress`` is as for one app (a callable gets the totals of
    all apps). ``df`` is read once per app: a DataFrame, a file path or an Arrow table,
    not a one-shot iterator.
    """
    return _deliver("push", push_cohort, df, apps, cohort_name, progress, options)


def sync_to_apps(
    data: object,
    apps: Sequence[AppCredentials | str],
    cohort_name: str,
    *,
    progress: ProgressOption = "auto",
    **options: Any,
) -> MultiAppResult:
    """Make the cohort ``cohort_name`` hold exactly ``data``'s users in every app of
    ``apps``, at once: :func:`~moecohort.sync_cohort` for each (one state file records
    them all). Returns a :class:`MultiAppResult`."""
    state = options.get("state")
    if isinstance(state, SyncState):
        options["state"] = state.path  # one connection per app: each run plans on its own
    return _deliver("sync", sync_cohort, data, apps, cohort_name, progress, options)


def _deliver(
    kind: Kind,
    deliver: Callable[..., DeliveryResult],
    data: object,
    apps: Sequence[AppCredentials | str],
    cohort_name: str,
    progress: ProgressOption,
    options: dict[str, Any],
) -> MultiAppResult:
    started = time.monotonic()
    if isinstance(apps, (str, AppCredentials)) or not apps:
        raise InputError(
            "apps must be a list of apps (AppCredentials or profile names), at least one.",
            param="apps",
        )
    creds = [get_credentials(app) for app in apps]  # a bad profile stops here: nothing sent
    labels = _labels(creds)
    if _read_once(data):
        raise InputError(
            f"{type(data).__name__} can be read only once, and each app reads the input: "
            "give a DataFrame, a file path or an Arrow table to push to several apps.",
        )
    progresses = _progresses(progress, len(creds))
    ctrl_c = CtrlC()
    outcomes: list[AppOutcome | None] = [None] * len(creds)
    crashes: list[BaseException] = []

    def run(i: int) -> None:
        app = creds[i]
        try:
            result = deliver(data, app, cohort_name, progress=progresses[i], **options)
            outcomes[i] = AppOutcome(labels[i], app, result)
        except MoEngageError as exc:
            partial = exc.result if isinstance(exc, (APIError, PushFailedError)) else None
            outcome = partial if isinstance(partial, DeliveryResult) else None
            outcomes[i] = AppOutcome(labels[i], app, outcome, exc)
        except BaseException as exc:  # a bug: reported after the other apps end
            crashes.append(exc)

    with ctrl_c:
        token = shared_ctrl_c.set(ctrl_c)  # each app's run listens to this one Ctrl-C
        try:
            threads = [
                threading.Thread(
                    target=copy_context().run,
                    args=(run, i),
                    name=f"moecohort-{kind}-{labels[i]}",
                    daemon=True,
                )
                for i in range(len(creds))
            ]
            for t in threads:
                t.start()
            for t in threads:
                join(t)
        finally:
            shared_ctrl_c.reset(token)
    if crashes:
        raise crashes[0]
    done = [o for o in outcomes if o is not None]
    refused = [o.error for o in done if o.result is None and o.error is not None]
    if len(refused) == len(done) and all(isinstance(e, InputError) for e in refused):
        raise refused[0]  # the same input refused by every app: nothing was sent
    return MultiAppResult(kind, cohort_name, done, time.monotonic() - started)


def _labels(creds: list[AppCredentials]) -> list[str]:
    """A label per app: its profile name, else its workspace id (with its host when two
    apps share a workspace id); the same app twice is refused."""
    seen = {(c.host, c.workspace_id) for c in creds}
    if len(seen) < len(creds):
        raise InputError("The same app (host and workspace) is given twice.", param="apps")
    ids = [c.workspace_id for c in creds]
    return [
        c.name
        or (c.workspace_id if ids.count(c.workspace_id) == 1 else f"{c.workspace_id}@{c.host}")
        for c in creds
    ]


def _read_once(data: object) -> bool:
    """Whether ``data`` is a one-shot stream (an iterator, a reader), which only one app
    could read."""
    if isinstance(data, pa.RecordBatchReader):
        return True
    return isinstance(data, Iterator) or hasattr(data, "get_chunk")


def _progresses(progress: ProgressOption, n: int) -> list[ProgressOption]:
    """Each app's ``progress``: a callable gets the sum over the apps."""
    if not callable(progress) or isinstance(progress, bool):
        return [progress] * n
    report = progress
    lock = threading.Lock()
    done = [0] * n
    total = [0] * n

    def for_app(i: int) -> Callable[[int, int], None]:
        def update(d: int, t: int) -> None:
            with lock:
                done[i], total[i] = d, t
                now = sum(done), sum(total)
            report(*now)

        return update

    return [for_app(i) for i in range(n)]


def _status(o: AppOutcome) -> str:
    if o.result is None:
        return "error"
    status = getattr(o.result, "status", None)
    if isinstance(status, str):
        return status
    if o.result.dry_run:
        return "dry_run"
    return "ok" if o.ok else ("stopped" if o.result.stopped_by else "failed")


def _accepted(r: DeliveryResult | None) -> Any:
    if r is None:
        return pd.NA
    counts = r.as_dict()
    if "members_accepted" in counts:
        return counts["members_planned"] if r.dry_run else counts["members_accepted"]
    return counts["added"] + counts["removed"]
