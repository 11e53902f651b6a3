"""The push panel: what a push will send and skip, a checked cohort name, "Dry run",
"Check destination" and "Push" (both in a background thread, with a progress bar), then
the result; to one app or to several at once."""

from __future__ import annotations

import html
import threading
from collections.abc import Callable, Sequence
from typing import Any

import ipywidgets as widgets
import pandas as pd

from ..checks import PreflightReport, preflight
from ..credentials import AppCredentials
from ..delivery import FAILED_COLUMNS
from ..errors import CohortNameError, MoEngageError
from ..fanout import MultiAppResult, push_to_apps
from ..input import prepare_ids
from ..payload import cohort_id_for, validate_cohort_name
from ..push import push_cohort
from ..results import PushResult
from ._look import bad, note, ok
from .credentials import AppPairPicker
from .targets import (
    Target,
    Targets,
    app_key,
    check_summary,
    failed_link,
    failed_of,
    label_of,
    plan_html,
    reports_html,
)

__all__ = ["MAX_INLINE_CSV_BYTES", "PushPanel"]

#: Failed users above this many bytes of CSV are written to a file instead of a data: link.
MAX_INLINE_CSV_BYTES = 200_000  # small: the link is saved in the notebook with the widget


class PushPanel(widgets.VBox):
    """Push a DataFrame of users to an app (or several) as a cohort, from a notebook.

    Shows the rows, the anonymous and duplicate users that will be skipped, a cohort name
    field with live validation (and a suggested clean name), add/remove, "Dry run" (the
    request plan; nothing is sent), "Check destination" (the pre-flight: credentials, the
    name in the segments list, and an estimate of the users the destination knows; nothing
    is created) and "Push". The check and the push run in a background thread, so the
    notebook stays usable; then the :class:`~moecohort.PushResult` (a
    :class:`~moecohort.MultiAppResult` for several apps: a row per app) shows as a table,
    with the members expected to land once checked, and the failed users downloadable as
    CSV.

    Args:
        df: the users; one row per user, ids in ``id_col``.
        app: the destination: :class:`~moecohort.AppCredentials`, a profile name, or a
            :class:`CredentialsPicker` (read when a button is pressed); a list of those,
            or an :class:`AppPairPicker` (each of its destinations), to push to every
            app at once with :func:`~moecohort.push_to_apps`. ``None``: dry runs only.
        id_col: the id column (MoEngage exports call it ``ID``).
        cohort_name, action: initial values of the fields.
        check_options: passed to :func:`~moecohort.preflight` by "Check destination"
            (``sample``, ``confidence``, ``seed``, ``users_per_minute``, ...).
        **push_options: passed to :func:`~moecohort.push_cohort` (``wire_format``,
            ``requests_per_minute``, ``description``, ...).

    From code (what the buttons do): :meth:`dry_run`, :meth:`check_destination` and
    :meth:`push` (``wait=True`` blocks and returns the report or the result), :meth:`wait`,
    :attr:`result`, :attr:`report`, :meth:`failed_csv`.
    """

    def __init__(
        self,
        df: pd.DataFrame,
        app: Target | AppPairPicker | Sequence[Target] | None,
        *,
        id_col: str = "uid",
        cohort_name: str = "",
        action: str = "add",
        check_options: dict[str, Any] | None = None,
        **push_options: Any,
    ) -> None:
        for reserved in ("dry_run", "progress", "cohort_name", "action", "id_col"):
            push_options.pop(reserved, None)
        self.df = df
        self.app_source = app
        self.targets = Targets(app)
        self.id_col = id_col
        self.push_options = push_options
        self.check_options = dict(check_options or {})
        for reserved in ("data", "id_col", "progress", "wire_format"):
            self.check_options.pop(reserved, None)
        self.result: PushResult | MultiAppResult | None = None
        #: The last check's reports, by app (host, workspace).
        self.reports: dict[tuple[str, str], PreflightReport] = {}
        self._labels: dict[tuple[str, str], str] = {}
        self.error: BaseException | None = None
        self._thread: threading.Thread | None = None
        self._done = threading.Event()
        self._done.set()
        self._busy = False
        self._lock = threading.Lock()
        self.users = 0
        self._counts = ""

        self.header = widgets.HTML()
        self.cohort_name_field = widgets.Text(
            value=cohort_name,
            description="Cohort name",
            placeholder="e.g. High intent shoppers from app A",
            style={"description_width": "7em"},
            layout=widgets.Layout(width="36em", max_width="100%"),
        )
        self.name_check = widgets.HTML()
        self.suggestion_button = widgets.Button(
            description="Use suggested name", layout=widgets.Layout(display="none")
        )
        self.action_toggle = widgets.ToggleButtons(
            options=[("Add members", "add"), ("Remove members", "remove")],
            value=action,
            description="Action",
            style={"description_width": "7em"},
        )
        self.dry_run_button = widgets.Button(description="Dry run", icon="list")
        self.check_button = widgets.Button(description="Check destination", icon="search")
        self.push_button = widgets.Button(description="Push", icon="upload", button_style="primary")
        self.progress = widgets.IntProgress(
            value=0,
            min=0,
            max=1,
            description="Progress",
            style={"description_width": "7em"},
            layout=widgets.Layout(display="none"),
        )
        self.progress_label = widgets.HTML()
        self.check_output = widgets.HTML()
        self.output = widgets.HTML()
        for widget, css in (
            (self.header, "push-header"),
            (self.cohort_name_field, "cohort-name"),
            (self.name_check, "name-check"),
            (self.suggestion_button, "suggestion"),
            (self.action_toggle, "action"),
            (self.dry_run_button, "dry-run"),
            (self.check_button, "check"),
            (self.check_output, "check-output"),
            (self.push_button, "push"),
            (self.progress, "progress"),
            (self.output, "push-output"),
        ):
            widget.add_class(f"moecohort-{css}")
        super().__init__(
            children=[
                self.header,
                widgets.HBox([self.cohort_name_field, self.suggestion_button]),
                self.name_check,
                self.action_toggle,
                widgets.HBox(
                    [self.dry_run_button, self.check_button, self.push_button],
                    layout=widgets.Layout(margin="0.3em 0 0.3em 7.2em"),
                ),
                widgets.HBox([self.progress, self.progress_label]),
                self.check_output,
                self.output,
            ]
        )
        self.add_class("moecohort-push-panel")

        self.cohort_name_field.observe(lambda _c: self._check_name(), names="value")
        self.suggestion_button.on_click(lambda _b: self.use_suggestion())
        self.dry_run_button.on_click(lambda _b: self.dry_run())
        self.check_button.on_click(lambda _b: self.check_destination(wait=False))
        self.push_button.on_click(lambda _b: self.push(wait=False))
        self._suggestion: str | None = None
        self._input_ok = self._describe_input()
        self._check_name()

    # ---- public API
    @property
    def cohort_name(self) -> str:
        """The cohort name in the field."""
        return str(self.cohort_name_field.value)

    @property
    def action(self) -> str:
        """``"add"`` or ``"remove"``."""
        return str(self.action_toggle.value)

    @property
    def running(self) -> bool:
        """Whether a check or a push is running."""
        return not self._done.is_set()

    @property
    def report(self) -> PreflightReport | dict[str, PreflightReport] | None:
        """The last check: its :class:`~moecohort.PreflightReport`; for several apps, a
        report per app label (None before any check)."""
        if not self.reports:
            return None
        if not self.targets.several:
            return next(iter(self.reports.values()))
        return {self._labels[key]: r for key, r in self.reports.items()}

    def use_suggestion(self) -> None:
        """Replace the cohort name with the suggested clean one."""
        if self._suggestion:
            self.cohort_name_field.value = self._suggestion

    def dry_run(self) -> PushResult | None:
        """Validate everything and show the request plan; nothing is sent (the plan is
        the same for every app). Returns the plan's result, or None when something is
        invalid (shown)."""
        try:
            result = push_cohort(
                self.df,
                self._app_or_none(),
                self.cohort_name,
                id_col=self.id_col,
                action=self.action,
                dry_run=True,
                progress=False,
                **self.push_options,
            )
        except MoEngageError as err:
            self.error = err
            self.output.value = bad(str(err))
            return None
        self.result, self.error = result, None
        self._with_presence(result)
        self.output.value = self._dry_run_html(result)
        return result

    def check_destination(
        self, *, wait: bool = True, timeout: float | None = None
    ) -> PreflightReport | dict[str, PreflightReport] | None:
        """Check the destination before pushing, in a background thread (what the "Check
        destination" button does): the credentials, the cohort name in its segments list
        and how many of the users it knows (an estimate from a sample), with a progress
        bar over the lookups; creates nothing. The push's result then shows the members
        expected to land.

        With ``wait=True`` (the default from code), block until it ends and return the
        :class:`~moecohort.PreflightReport` (for several apps, a dict of them by app
        label; None when it could not run: the reason is in :attr:`error`).
        """
        started = self._start(self._run_check, "moecohort-check-destination")
        if not started:
            return self._wait_report(timeout) if wait and self.running else None
        return self._wait_report(timeout) if wait else None

    def push(
        self, *, wait: bool = True, timeout: float | None = None
    ) -> PushResult | MultiAppResult | None:
        """Start the push in a background thread (what the "Push" button does): to one
        app (a :class:`~moecohort.PushResult`) or to several at once with
        :func:`~moecohort.push_to_apps` (a :class:`~moecohort.MultiAppResult`).

        With ``wait=True`` (the default from code), block until it ends and return the
        result (None when it could not start or failed before sending; the reason is
        shown and kept in :attr:`error`). With ``wait=False`` return None at once.
        """
        started = self._start(self._run_push, "moecohort-push-panel")
        if not started and not self.running:
            return None
        return self.wait(timeout) if wait else None

    def wait(self, timeout: float | None = None) -> PushResult | MultiAppResult | None:
        """Wait for a running check or push to end; returns :attr:`result`."""
        self._done.wait(timeout)
        return self.result

    def failed_csv(self) -> str:
        """The failed users of the last push (or dry run) as CSV text (a header only
        when none failed); for several apps, with an ``app`` column first."""
        if self.result is None:
            return ",".join(FAILED_COLUMNS) + "\n"
        return str(failed_of(self.result).to_csv(index=False))

    # ---- internals
    def _start(self, target: Callable[[list[AppCredentials], str, str], None], name: str) -> bool:
        """Run ``target(apps, cohort name, action)`` in a background thread, unless one
        runs already or the apps or the name are not ready (said in the output)."""
        with self._lock:
            if self.running:
                self.output.value = note("A check or a push is already running.")
                return False
            try:
                apps = self.targets.apps()
                validate_cohort_name(self.cohort_name)
            except MoEngageError as err:
                self.error = err
                self.output.value = bad(str(err))
                return False
            self._done.clear()
            self.error = None
            self._set_busy(True)
            self._thread = threading.Thread(
                target=target,
                args=(apps, self.cohort_name, self.action),
                name=name,
                daemon=True,
            )
            self._thread.start()
        return True

    def _wait_report(
        self, timeout: float | None
    ) -> PreflightReport | dict[str, PreflightReport] | None:
        self._done.wait(timeout)
        return self.report

    def _app_or_none(self) -> AppCredentials | None:
        if self.targets.several:
            return None
        try:
            return self.targets.apps()[0]
        except MoEngageError:
            return None

    def _describe_input(self) -> bool:
        try:
            prepared = prepare_ids(self.df, self.id_col)
        except MoEngageError as err:
            self.header.value = bad(str(err))
            self.dry_run_button.disabled = self.push_button.disabled = True
            self.check_button.disabled = True
            return False
        self.users = len(prepared.unique)
        reasons = ", ".join(f"{n:,} {r}" for r, n in prepared.anonymous_by_reason.items() if n)
        anon = f"{prepared.anonymous:,} anonymous" + (f" ({reasons})" if reasons else "")
        self._counts = (
            f"<b>{prepared.rows:,} rows</b> in column <code>{html.escape(self.id_col)}"
            f"</code>: {html.escape(anon)} and {prepared.duplicates:,} duplicates will be "
            f"skipped; <b>{self.users:,} users</b> will be sent"
        )
        self._render_header()
        for picker in self.targets.pickers:  # follow the pickers' changes
            picker.observe(lambda _change: self._render_header(), names="app")
        return True

    def _render_header(self) -> None:
        text = self.targets.describe()
        self.header.value = f"<div>{self._counts}{html.escape(text)}.</div>"

    def _check_name(self) -> bool:
        name = self.cohort_name
        self._suggestion = None
        try:
            validate_cohort_name(name)
        except CohortNameError as err:
            self._suggestion = err.suggestion
            self.name_check.value = bad(str(err)) if name else note("Give the cohort a name.")
            shown = bool(err.suggestion) and bool(name)
            self.suggestion_button.description = (
                f"Use {err.suggestion!r}"[:60] if err.suggestion else "Use suggested name"
            )
            self.suggestion_button.layout.display = None if shown else "none"
            self.push_button.disabled = self.check_button.disabled = True
            return False
        self.suggestion_button.layout.display = "none"
        self.name_check.value = (
            ok("valid name")
            + " "
            + note(
                f"cohort id {cohort_id_for(name)} (the same name always updates the same cohort)"
            )
        )
        self.push_button.disabled = self.check_button.disabled = not self._input_ok or self._busy
        return True

    def _set_busy(self, busy: bool) -> None:
        self._busy = busy
        for button in (self.dry_run_button, self.check_button, self.push_button):
            button.disabled = busy or not self._input_ok
        self.cohort_name_field.disabled = busy
        self.action_toggle.disabled = busy

    def _show_progress(self, total: int) -> None:
        self.progress.max = max(total, 1)
        self.progress.value = 0
        self.progress.bar_style = "info"
        self.progress.layout.display = None

    def _run_check(self, apps: list[AppCredentials], name: str, action: str) -> None:
        self._show_progress(self.users)
        self.reports = {}
        self.check_output.value = ""
        self.output.value = note(f"Checking {', '.join(a.workspace_id for a in apps)} ...")
        try:
            for app in apps:
                self._labels[app_key(app)] = label_of(app)
                self.reports[app_key(app)] = preflight(
                    app,
                    name,
                    data=self.df,
                    id_col=self.id_col,
                    wire_format=self.push_options.get("wire_format", "segment_sync"),
                    progress=self._check_progress(app),
                    **self.check_options,
                )
            self.check_output.value = reports_html(self.reports)
            self.output.value = ""
            self.progress.bar_style = (
                "success" if all(r.ok for r in self.reports.values()) else "danger"
            )
            self.progress_label.value = check_summary(self.reports)
        except Exception as err:  # never die silently in a thread
            self.error = err
            self.output.value = bad(
                str(err) if isinstance(err, MoEngageError) else f"{type(err).__name__}: {err}"
            )
            self.progress.bar_style = "danger"
            self.progress_label.value = bad("check failed (see below)")
        finally:
            self._set_busy(False)
            self._check_name()
            self._done.set()

    def _check_progress(self, app: AppCredentials) -> Callable[[int, int], None]:
        """The lookups' progress callback: ids looked up so far."""
        return lambda done, total: self._on_progress(
            done, total, f"ids looked up in {app.workspace_id}"
        )

    def _with_presence(self, result: PushResult | MultiAppResult) -> None:
        """Give the result the presence the last check found (the members expected)."""
        if isinstance(result, PushResult):
            apps = self.targets.apps() if self.reports and not self.targets.several else []
            report = self.reports.get(app_key(apps[0])) if apps else None
            if report is not None:
                result.presence = report.presence
            return
        for outcome in result:
            found = self.reports.get(app_key(outcome.app))
            if found is not None and outcome.result is not None:
                outcome.result.presence = found.presence

    def _run_push(self, apps: list[AppCredentials], name: str, action: str) -> None:
        self.result = None
        self._show_progress(self.users * len(apps))
        self.output.value = note(f"Pushing to {', '.join(a.workspace_id for a in apps)} ...")
        options: dict[str, Any] = {
            "id_col": self.id_col,
            "action": action,
            "progress": self._on_progress,
            **self.push_options,
        }
        try:
            result: PushResult | MultiAppResult
            if self.targets.several:
                result = push_to_apps(self.df, apps, name, **options)
            else:
                result = push_cohort(self.df, apps[0], name, **options)
            self.result = result
            self._with_presence(result)
            self._show_result(result)
        except MoEngageError as err:
            self.error = err
            partial = getattr(err, "result", None)
            if isinstance(partial, PushResult):
                self.result = partial
                self._with_presence(partial)
                self._show_result(partial, error=str(err))
            else:
                self.output.value = bad(str(err))
        except Exception as err:  # never die silently in a thread
            self.error = err
            self.output.value = bad(f"{type(err).__name__}: {err}")
        finally:
            self._finish_progress()
            self._set_busy(False)
            self._check_name()
            self._done.set()

    def _on_progress(self, done: int, total: int, what: str = "users sent") -> None:
        """The push's progress callback: users settled (accepted or failed) so far, over
        every app."""
        self.progress.max = max(total, 1)
        self.progress.value = min(done, total)
        self.progress_label.value = note(f"{done:,} of {total:,} {what}")

    def _finish_progress(self) -> None:
        result = self.result
        if result is None:
            self.progress.bar_style = "danger"
            self.progress_label.value = bad("push failed before sending (see below)")
            return
        results = [result] if isinstance(result, PushResult) else list(result.results.values())
        done = sum(r.members_accepted for r in results if isinstance(r, PushResult))
        failed = sum(r.members_failed for r in results)
        planned = max(done + failed, 1)
        self.progress.max = planned
        self.progress.value = min(done, planned)
        self.progress.bar_style = "success" if result.ok else "danger"
        apps = "" if isinstance(result, PushResult) else f" in {len(result):,} apps"
        self.progress_label.value = (ok if result.ok else bad)(
            f"{done:,} accepted, {failed:,} failed{apps} in {result.elapsed_s:.1f} s"
        )

    def _dry_run_html(self, result: PushResult) -> str:
        return plan_html(result) + self._failed_link(result)

    def _show_result(
        self, result: PushResult | MultiAppResult, *, error: str | None = None
    ) -> None:
        head = bad(error) if error else ""
        self.output.value = head + result._repr_html_() + self._failed_link(result)

    def _failed_link(self, result: PushResult | MultiAppResult) -> str:
        return failed_link(result, MAX_INLINE_CSV_BYTES)

    def __repr__(self) -> str:
        return (
            f"PushPanel({self.users:,} users, cohort {self.cohort_name!r}, action {self.action}, "
            f"result={'none' if self.result is None else self.result.headline})"
        )
