"""The push panel: what a push will send and skip, a checked cohort name, "Dry run" and
"Push" (in a background thread, with a progress bar), then the result."""

from __future__ import annotations

import base64
import html
import re
import threading
from typing import Any

import ipywidgets as widgets
import pandas as pd

from .. import _html
from ..credentials import AppCredentials, get_credentials
from ..delivery import FAILED_COLUMNS
from ..errors import CohortNameError, ConfigurationError, MoEngageError
from ..input import prepare_ids
from ..payload import cohort_id_for, validate_cohort_name
from ..push import push_cohort
from ..results import PushResult
from ._look import bad, note, ok
from .credentials import CredentialsPicker

__all__ = ["MAX_INLINE_CSV_BYTES", "PushPanel"]

#: Failed users above this many bytes of CSV are written to a file instead of a data: link.
MAX_INLINE_CSV_BYTES = 200_000  # small: the link is saved in the notebook with the widget


class PushPanel(widgets.VBox):
    """Push a DataFrame of users to an app as a cohort, from a notebook.

    Shows the rows, the anonymous and duplicate users that will be skipped, a cohort name
    field with live validation (and a suggested clean name), add/remove, "Dry run" (the
    request plan; nothing is sent) and "Push". The push runs in a background thread, so
    the notebook stays usable; then the :class:`~moecohort.PushResult` shows as a table,
    with the failed users downloadable as CSV.

    Args:
        df: the users; one row per user, ids in ``id_col``.
        app: the destination: :class:`~moecohort.AppCredentials`, a profile name, or a
            :class:`CredentialsPicker` (read when a button is pressed). ``None``: dry
            runs only.
        id_col: the id column (MoEngage exports call it ``ID``).
        cohort_name, action: initial values of the fields.
        **push_options: passed to :func:`~moecohort.push_cohort` (``wire_format``,
            ``requests_per_minute``, ``description``, ...).

    From code (what the buttons do): :meth:`dry_run`, :meth:`push` (``wait=True``
    blocks and returns the result), :meth:`wait`, :attr:`result`, :meth:`failed_csv`.
    """

    def __init__(
        self,
        df: pd.DataFrame,
        app: AppCredentials | CredentialsPicker | str | None,
        *,
        id_col: str = "uid",
        cohort_name: str = "",
        action: str = "add",
        **push_options: Any,
    ) -> None:
        for reserved in ("dry_run", "progress", "cohort_name", "action", "id_col"):
            push_options.pop(reserved, None)
        self.df = df
        self.app_source = app
        self.id_col = id_col
        self.push_options = push_options
        self.result: PushResult | None = None
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
        self.output = widgets.HTML()
        for widget, css in (
            (self.header, "push-header"),
            (self.cohort_name_field, "cohort-name"),
            (self.name_check, "name-check"),
            (self.suggestion_button, "suggestion"),
            (self.action_toggle, "action"),
            (self.dry_run_button, "dry-run"),
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
                    [self.dry_run_button, self.push_button],
                    layout=widgets.Layout(margin="0.3em 0 0.3em 7.2em"),
                ),
                widgets.HBox([self.progress, self.progress_label]),
                self.output,
            ]
        )
        self.add_class("moecohort-push-panel")

        self.cohort_name_field.observe(lambda _c: self._check_name(), names="value")
        self.suggestion_button.on_click(lambda _b: self.use_suggestion())
        self.dry_run_button.on_click(lambda _b: self._dry_run_clicked())
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
        """Whether a push is running."""
        return not self._done.is_set()

    def use_suggestion(self) -> None:
        """Replace the cohort name with the suggested clean one."""
        if self._suggestion:
            self.cohort_name_field.value = self._suggestion

    def dry_run(self) -> PushResult | None:
        """Validate everything and show the request plan; nothing is sent.
        Returns the plan's result, or None when something is invalid (shown)."""
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
        self.output.value = self._dry_run_html(result)
        return result

    def push(self, *, wait: bool = True, timeout: float | None = None) -> PushResult | None:
        """Start the push in a background thread (what the "Push" button does).

        With ``wait=True`` (the default from code), block until it ends and return the
        result (None when it could not start or failed before sending; the reason is
        shown and kept in :attr:`error`). With ``wait=False`` return None at once.
        """
        with self._lock:
            if self.running:
                self.output.value = note("A push is already running.")
                return self.wait(timeout) if wait else None
            try:
                app = self._app()
                validate_cohort_name(self.cohort_name)
            except MoEngageError as err:
                self.error = err
                self.output.value = bad(str(err))
                return None
            self._done.clear()
            self.result, self.error = None, None
            self._set_busy(True)
            self._thread = threading.Thread(
                target=self._run_push,
                args=(app, self.cohort_name, self.action),
                name="moecohort-push-panel",
                daemon=True,
            )
            self._thread.start()
        return self.wait(timeout) if wait else None

    def wait(self, timeout: float | None = None) -> PushResult | None:
        """Wait for a running push to end; returns :attr:`result`."""
        self._done.wait(timeout)
        return self.result

    def failed_csv(self) -> str:
        """The failed users of the last push (or dry run) as CSV text (a header only
        when none failed)."""
        if self.result is None:
            return ",".join(FAILED_COLUMNS) + "\n"
        return str(self.result.failed.to_csv(index=False))

    # ---- internals
    def _app_or_none(self) -> AppCredentials | None:
        try:
            return self._app()
        except MoEngageError:
            return None

    def _app(self) -> AppCredentials:
        source = self.app_source
        if isinstance(source, CredentialsPicker):
            return source.credentials
        if source is None:
            raise ConfigurationError(
                "No destination app given: PushPanel(df, app) needs AppCredentials, a "
                "profile name or a CredentialsPicker to push (a dry run works without)."
            )
        return get_credentials(source)

    def _describe_input(self) -> bool:
        try:
            prepared = prepare_ids(self.df, self.id_col)
        except MoEngageError as err:
            self.header.value = bad(str(err))
            self.dry_run_button.disabled = self.push_button.disabled = True
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
        if isinstance(self.app_source, CredentialsPicker):  # follow the picker's changes
            self.app_source.observe(lambda _change: self._render_header(), names="app")
        return True

    def _render_header(self) -> None:
        self.header.value = f"<div>{self._counts}{html.escape(self._target_text())}.</div>"

    def _target_text(self) -> str:
        source = self.app_source
        app = source.app if isinstance(source, CredentialsPicker) else None
        if isinstance(source, AppCredentials):
            app = source
        if isinstance(source, str):
            return f" to profile {source!r}"
        if app is None:
            return " (the destination app's credentials are not complete yet)"
        return f" to workspace {app.workspace_id} ({app.host})"

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
            self.push_button.disabled = True
            return False
        self.suggestion_button.layout.display = "none"
        self.name_check.value = (
            ok("valid name")
            + " "
            + note(
                f"cohort id {cohort_id_for(name)} (the same name always updates the same cohort)"
            )
        )
        self.push_button.disabled = not self._input_ok or self._busy
        return True

    def _dry_run_clicked(self) -> None:
        self.dry_run()

    def _set_busy(self, busy: bool) -> None:
        self._busy = busy
        self.dry_run_button.disabled = busy or not self._input_ok
        self.push_button.disabled = busy or not self._input_ok
        self.cohort_name_field.disabled = busy
        self.action_toggle.disabled = busy

    def _run_push(self, app: AppCredentials, name: str, action: str) -> None:
        total = max(self.users, 1)
        self.progress.max = total
        self.progress.value = 0
        self.progress.bar_style = "info"
        self.progress.layout.display = None
        self.output.value = note(f"Pushing to {app.workspace_id} ...")
        try:
            result = push_cohort(
                self.df,
                app,
                name,
                id_col=self.id_col,
                action=action,
                progress=self._on_progress,
                **self.push_options,
            )
            self.result = result
            self._show_result(result)
        except MoEngageError as err:
            self.error = err
            partial = getattr(err, "result", None)
            if isinstance(partial, PushResult):
                self.result = partial
                self._show_result(partial, error=str(err))
            else:
                self.output.value = bad(str(err))
        except Exception as err:  # never die silently in a thread
            self.error = err
            self.output.value = bad(f"{type(err).__name__}: {err}")
        finally:
            self._finish_progress(total)
            self._set_busy(False)
            self._check_name()
            self._done.set()

    def _on_progress(self, done: int, total: int) -> None:
        """push_cohort's progress callback: users settled (accepted or failed) so far."""
        self.progress.max = max(total, 1)
        self.progress.value = min(done, total)
        self.progress_label.value = note(f"{done:,} of {total:,} users sent")

    def _finish_progress(self, total: int) -> None:
        result = self.result
        if result is None:
            self.progress.bar_style = "danger"
            self.progress_label.value = bad("push failed before sending (see below)")
            return
        done = result.members_accepted
        planned = max(result.members_accepted + result.members_failed, 1)
        self.progress.max = planned
        self.progress.value = min(done, planned)
        self.progress.bar_style = "success" if result.ok else "danger"
        self.progress_label.value = (ok if result.ok else bad)(
            f"{done:,} accepted, {result.members_failed:,} failed in {result.elapsed_s:.1f} s"
        )

    def _dry_run_html(self, result: PushResult) -> str:
        plan = result.plan if result.plan is not None else pd.DataFrame()
        return (
            result.summary_html()
            + f"<div><b>Request plan</b> ({len(plan):,} request body"
            + ("" if len(plan) == 1 else "s")
            + ", nothing sent):</div>"
            + _html.frame_html(plan)
            + self._failed_link(result)
        )

    def _show_result(self, result: PushResult, *, error: str | None = None) -> None:
        head = bad(error) if error else ""
        self.output.value = head + result._repr_html_() + self._failed_link(result)

    def _failed_link(self, result: PushResult) -> str:
        if not len(result.failed):
            return ""
        text = result.failed.to_csv(index=False)
        slug = re.sub(r"[^A-Za-z0-9]+", "_", result.cohort_name).strip("_")[:40] or "cohort"
        filename = f"failed_users_{slug}.csv"
        n = len(result.failed)
        if len(text.encode("utf-8")) <= MAX_INLINE_CSV_BYTES:
            data = base64.b64encode(text.encode("utf-8")).decode("ascii")
            return (
                f"<div><a download='{html.escape(filename)}' href='data:text/csv;base64,{data}'"
                f" class='moecohort-failed-csv'>Download the {n:,} failed users (CSV)</a></div>"
            )
        with open(filename, "w", encoding="utf-8", newline="") as fh:
            fh.write(text)
        return note(f"The {n:,} failed users were written to {filename} (next to the notebook).")

    def __repr__(self) -> str:
        return (
            f"PushPanel({self.users:,} users, cohort {self.cohort_name!r}, action {self.action}, "
            f"result={'none' if self.result is None else self.result.headline})"
        )
