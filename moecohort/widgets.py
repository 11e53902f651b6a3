"""Notebook widgets (ipywidgets): pick credentials, check them, push a cohort.

``pip install moecohort[widgets]`` (ipywidgets 8). ``import moecohort`` never imports
this module; ``import moecohort.widgets`` needs ipywidgets.

* :class:`CredentialsPicker`: one app's credentials (saved profile, workspace ID, Data API
  key, data center, advanced base URL), with "Test connection" and "Save profile".
* :class:`AppPairPicker`: a source and a destination picker side by side.
* :class:`PushPanel`: what a push will send and skip, a validated cohort name, "Dry run"
  and "Push" (in a background thread, with a progress bar), then the result, with the
  failed users downloadable as CSV.

**Secrets.** ipywidgets keeps every widget value in the notebook file when the notebook
is saved with widget state. So the Data API key never stays in a widget: the moment the
kernel receives it from the password field (on Enter, when the field loses focus, or when
a button is pressed), it is moved into the kernel (a :class:`~moecohort.SecretStr` held by
the picker; the profile store or the keyring when saved) and the field is cleared. Only
the masked form (``****9f2a``) is shown. The field syncs only on Enter or focus loss
(``continuous_update=False``), so a half-typed key never reaches the widget model either,
and the kernel does not echo the key back to the browser.
"""

from __future__ import annotations

import base64
import contextlib
import html
import re
import threading
from collections.abc import Callable, Iterator
from typing import Any

try:
    import ipywidgets as widgets
    import traitlets
except ImportError as exc:  # pragma: no cover - exercised only without the extra
    raise ImportError(
        "moecohort.widgets needs ipywidgets 8: pip install 'moecohort[widgets]'"
    ) from exc

import pandas as pd

from . import _html
from ._constants import DATA_CENTERS
from .credentials import AppCredentials, ProfileStore, SecretStr, get_credentials
from .delivery import FAILED_COLUMNS
from .errors import CohortNameError, ConfigurationError, MoEngageError
from .input import prepare_ids
from .payload import cohort_id_for, validate_cohort_name
from .push import ConnectionCheck, check_connection, push_cohort
from .results import PushResult

__all__ = [
    "DATA_CENTER_OPTIONS",
    "AppPairPicker",
    "CredentialsPicker",
    "PushPanel",
]

#: Data center dropdown options: ``("01 (US)", "01")`` ... ``("101", "101")``.
DATA_CENTER_OPTIONS: list[tuple[str, str]] = [
    (dc if region == "not stated" else f"{dc} ({region})", dc)
    for dc, region in DATA_CENTERS.items()
]

_NEW_PROFILE = ""
#: Failed users above this many bytes of CSV are written to a file instead of a data: link.
MAX_INLINE_CSV_BYTES = 200_000  # small: the link is saved in the notebook with the widget

_OK_STYLE = "color:var(--jp-success-color1,#1a7f37);font-weight:600"
_BAD_STYLE = "color:var(--jp-error-color1,#cf222e);font-weight:600"
_NOTE_STYLE = "color:var(--jp-ui-font-color2,#57606a)"


def _ok(text: str) -> str:
    return f"<span style='{_OK_STYLE}'>✓ {html.escape(text)}</span>"


def _bad(text: str) -> str:
    return f"<span style='{_BAD_STYLE}'>✗ {html.escape(text)}</span>"


def _field() -> dict[str, Any]:
    """Layout and style shared by the picker's fields (aligned, labels not cut)."""
    return {
        "style": {"description_width": "8.5em"},
        "layout": widgets.Layout(width="28em", max_width="100%"),
    }


def _note(text: str) -> str:
    return f"<span style='{_NOTE_STYLE}'>{html.escape(text)}</span>"


class _SecretField(widgets.Password):
    """A password box whose value the kernel never echoes back to the browser.

    Same front-end model and view as :class:`ipywidgets.Password`; only the kernel side
    differs: ``echo_update=False`` keeps ipywidgets from sending a received value back.
    """

    value = traitlets.Unicode("", help="The typed text; cleared as soon as it is read").tag(
        sync=True, echo_update=False
    )


# --------------------------------------------------------------------------- credentials
class CredentialsPicker(widgets.VBox):
    """Choose or enter one app's credentials.

    Args:
        app: credentials to start from (e.g. ``sandbox().destination``), or the name of
            a saved profile to load.
        title: heading shown above the fields (e.g. ``"Destination app (B)"``).
        store: where profiles are read and saved (default: the user's profile store,
            ``MOECOHORT_CONFIG_DIR`` honoured).
        use_keyring: passed to :meth:`ProfileStore.save` by "Save profile" (``None``:
            the keyring when one is usable, else the 0600 profiles file).
        role: a short word for CSS classes and messages (``"source"``, ``"destination"``).

    The current credentials are :attr:`credentials` (raises when incomplete) and the
    trait :attr:`app` (``None`` when incomplete), which observers can watch::

        picker.observe(lambda change: print(change["new"]), names="app")
        picker.on_change(lambda creds: ...)
    """

    #: The credentials the fields describe, or None while they are incomplete or invalid.
    app = traitlets.Instance(AppCredentials, allow_none=True)

    def __init__(
        self,
        app: AppCredentials | str | None = None,
        *,
        title: str | None = None,
        store: ProfileStore | None = None,
        use_keyring: bool | None = None,
        role: str = "app",
        **kwargs: Any,
    ) -> None:
        self._store = store if store is not None else ProfileStore()
        self._use_keyring = use_keyring
        self._key: SecretStr | None = None
        self._quiet = False
        self._role = role
        self.problem: str | None = None
        self.last_check: ConnectionCheck | None = None

        self.title_html = widgets.HTML(f"<b>{html.escape(title)}</b>" if title else "")
        self.profile_dropdown = widgets.Dropdown(
            description="Profile", options=[("(none: enter below)", _NEW_PROFILE)], **_field()
        )
        self.name_field = widgets.Text(
            description="Name", placeholder="profile name, e.g. app-b", **_field()
        )
        self.workspace_field = widgets.Text(
            description="Workspace ID", placeholder="Settings > Account > APIs", **_field()
        )
        self.key_field = _SecretField(
            description="Data API key",
            placeholder="paste the key, then Enter",
            continuous_update=False,
            **_field(),
        )
        self.key_display = widgets.HTML(
            _note("no key yet"), layout=widgets.Layout(margin="-0.2em 0 0.2em 9.2em")
        )
        self.data_center_dropdown = widgets.Dropdown(
            description="Data center", options=DATA_CENTER_OPTIONS, value="01", **_field()
        )
        self.base_url_field = widgets.Text(
            description="Base URL",
            placeholder="blank: https://api-{dc}.moengage.com",
            **_field(),
        )
        self.advanced = widgets.Accordion(
            children=[
                widgets.VBox(
                    [
                        self.base_url_field,
                        widgets.HTML(
                            _note(
                                "Only for a proxy or the local emulator; http:// is "
                                "accepted for loopback hosts only."
                            )
                        ),
                    ]
                )
            ],
            titles=("Advanced",),
            selected_index=None,
        )
        self.test_button = widgets.Button(
            description="Test connection", icon="plug", tooltip="One request, creates nothing"
        )
        self.save_button = widgets.Button(description="Save profile", icon="save")
        self.summary = widgets.HTML()
        self.status = widgets.HTML()
        for widget, css in (
            (self.profile_dropdown, "profile"),
            (self.name_field, "name"),
            (self.workspace_field, "workspace-id"),
            (self.key_field, "key"),
            (self.key_display, "key-display"),
            (self.data_center_dropdown, "data-center"),
            (self.base_url_field, "base-url"),
            (self.advanced, "advanced"),
            (self.test_button, "test"),
            (self.save_button, "save"),
            (self.summary, "summary"),
            (self.status, "status"),
        ):
            widget.add_class(f"moecohort-{css}")
        kwargs.setdefault(
            "layout", widgets.Layout(min_width="22em", flex="1 1 0", margin="0 1.5em 0.5em 0")
        )
        super().__init__(
            children=[
                self.title_html,
                self.profile_dropdown,
                self.name_field,
                self.workspace_field,
                self.key_field,
                self.key_display,
                self.data_center_dropdown,
                self.advanced,
                widgets.HBox([self.test_button, self.save_button]),
                self.summary,
                self.status,
            ],
            **kwargs,
        )
        self.add_class("moecohort-picker")
        self.add_class(f"moecohort-picker-{role}")

        self.key_field.observe(self._on_key, names="value")
        for field in (
            self.name_field,
            self.workspace_field,
            self.data_center_dropdown,
            self.base_url_field,
        ):
            field.observe(self._on_field, names="value")
        self.profile_dropdown.observe(self._on_profile, names="value")
        self.test_button.on_click(lambda _b: self.test_connection())
        self.save_button.on_click(lambda _b: self._save_clicked())

        self.refresh_profiles()
        if isinstance(app, str):
            self.load_profile(app)
        elif app is not None:
            self.set_credentials(app)
        else:
            self._refresh()

    # ---- public API
    @property
    def credentials(self) -> AppCredentials:
        """The credentials in the fields.

        Raises:
            ConfigurationError: when they are incomplete or invalid (the message says
                what is missing; it never contains the key).
        """
        self._absorb_key()
        return self._build()

    @property
    def masked_key(self) -> str | None:
        """The held key, masked (``****9f2a``), or None when there is none."""
        return self._key.masked if self._key is not None else None

    @property
    def has_key(self) -> bool:
        """Whether a Data API key is held (typed or loaded from a profile)."""
        return self._key is not None

    def set_credentials(self, app: AppCredentials) -> None:
        """Fill the fields from ``app`` and hold its key (shown masked)."""
        if not isinstance(app, AppCredentials):
            raise TypeError(f"set_credentials() takes AppCredentials, not {type(app).__name__}")
        with self._quietly():
            self.name_field.value = app.name or ""
            self.workspace_field.value = app.workspace_id
            self.data_center_dropdown.value = app.data_center
            self.base_url_field.value = app.base_url or ""
            if app.base_url:
                self.advanced.selected_index = 0  # never hide where the requests go
            self._set_key(app.data_api_key)
        self._refresh()

    def clear_key(self) -> None:
        """Forget the held key (the fields stay)."""
        self._key = None
        self.key_field.value = ""
        self.key_field.placeholder = "paste the key, then Enter"
        self.key_display.value = _note("no key yet")
        self._refresh()

    def refresh_profiles(self) -> list[str]:
        """Re-read the saved profiles into the dropdown; returns their names."""
        options: list[tuple[str, str]] = [("(none: enter below)", _NEW_PROFILE)]
        try:
            infos = self._store.list()
        except MoEngageError as err:
            self._status(_bad(str(err)))
            infos = []
        for info in infos:
            options.append(
                (
                    f"{info.name} · {info.workspace_id} · DC {info.data_center} · "
                    f"{info.masked_key}",
                    info.name,
                )
            )
        current = self.profile_dropdown.value
        with self._quietly():
            self.profile_dropdown.options = options
            names = [value for _label, value in options]
            self.profile_dropdown.value = current if current in names else _NEW_PROFILE
        return [info.name for info in infos]

    def load_profile(self, name: str) -> AppCredentials | None:
        """Load saved profile ``name`` into the fields; returns it (None on error, shown)."""
        try:
            app = self._store.load(name)
        except MoEngageError as err:
            self._status(_bad(str(err)))
            return None
        self.set_credentials(app)
        with self._quietly():
            if name in [value for _label, value in self.profile_dropdown.options]:
                self.profile_dropdown.value = name
        self._status(_ok(f"loaded profile {name!r} (key {app.masked_key})"))
        return app

    def test_connection(self) -> ConnectionCheck | None:
        """Check the credentials with one request (see :func:`moecohort.check_connection`)
        and show the outcome. Returns the check, or None when the fields are incomplete."""
        try:
            app = self.credentials
        except MoEngageError as err:
            self._status(_bad(str(err)))
            return None
        self.test_button.disabled = True
        self._status(_note(f"checking {app.host} ..."))
        try:
            check = check_connection(app, timeout=(5.0, 20.0))
        except Exception as err:  # a network stack surprise: say it, do not raise
            self._status(_bad(f"connection check failed: {type(err).__name__}: {err}"))
            return None
        finally:
            self.test_button.disabled = False
        self.last_check = check
        if check.ok:
            latency = f" in {check.latency_ms:.0f} ms" if check.latency_ms is not None else ""
            self._status(_ok(f"Connected: {check.message}{latency}"))
        else:
            status = f"HTTP {check.status}: " if check.status is not None else ""
            self._status(_bad(f"Not connected ({status}{check.message})"))
        return check

    def save_profile(self, name: str | None = None) -> AppCredentials:
        """Save the credentials as profile ``name`` (default: the Name field).

        The key goes to the system keyring when one is usable, else to the 0600
        profiles file (see :class:`~moecohort.ProfileStore`).

        Raises:
            ConfigurationError: incomplete credentials or an invalid profile name.
        """
        app = self.credentials
        profile = (name if name is not None else self.name_field.value).strip()
        saved = self._store.save(app, profile or None, use_keyring=self._use_keyring)
        info = self._store.info(saved.name or "")
        if info is None:
            where = str(self._store.path)
        elif info.key_storage == "keyring":
            where = "the system keyring"
        else:
            where = f"{self._store.path} (mode 0600)"
        self.refresh_profiles()
        with self._quietly():
            self.name_field.value = saved.name or ""
            self.profile_dropdown.value = saved.name
        self._refresh()
        self._status(_ok(f"saved profile {saved.name!r}; key {saved.masked_key} in {where}"))
        return saved

    def on_change(self, callback: Callable[[AppCredentials | None], Any]) -> None:
        """Call ``callback(credentials_or_None)`` whenever the credentials change."""
        self.observe(lambda change: callback(change["new"]), names="app")

    # ---- internals
    def _status(self, value: str) -> None:
        self.status.value = value

    def _save_clicked(self) -> None:
        try:
            self.save_profile()
        except MoEngageError as err:
            self._status(_bad(str(err)))

    def _set_key(self, key: SecretStr) -> None:
        self._key = key
        self.key_field.value = ""
        masked = key.masked
        self.key_field.placeholder = f"held: {masked}"
        self.key_display.value = _note(f"key {masked}, held in the kernel")

    def _absorb_key(self) -> None:
        """Move a typed key out of the widget model into the kernel."""
        raw = self.key_field.value
        if not raw:
            return
        self.key_field.value = ""  # first of all: out of the widget model
        text = raw.strip()
        if text:
            self._set_key(SecretStr(text))

    def _on_key(self, change: dict[str, Any]) -> None:
        if change["new"]:
            self._absorb_key()
            self._refresh()

    @contextlib.contextmanager
    def _quietly(self) -> Iterator[None]:
        """Set widget values without their observers reacting."""
        self._quiet = True
        try:
            yield
        finally:
            self._quiet = False

    def _on_field(self, _change: dict[str, Any]) -> None:
        if not self._quiet:
            self._refresh()

    def _on_profile(self, change: dict[str, Any]) -> None:
        if self._quiet or not change["new"]:
            return
        self.load_profile(change["new"])

    def _build(self) -> AppCredentials:
        if self._key is None:
            raise ConfigurationError(
                "No Data API key: type it in the key field (then Enter) or pick a saved profile."
            )
        return AppCredentials(
            self.workspace_field.value.strip(),
            self._key,
            self.data_center_dropdown.value,
            base_url=self.base_url_field.value.strip() or None,
            name=self.name_field.value.strip() or None,
        )

    def _refresh(self) -> None:
        try:
            app = self._build()
        except MoEngageError as err:
            self.problem = str(err)
            self.summary.value = _note(self.problem)
            self.app = None
            return
        self.problem = None
        self.summary.value = _note(
            f"→ {app.host} · workspace {app.workspace_id} · key {app.masked_key}"
        )
        if self.app is None or self.app != app or self.app.name != app.name:
            self.app = app

    def __repr__(self) -> str:
        return f"CredentialsPicker({self._role}: {self.app!r})"


class AppPairPicker(widgets.HBox):
    """A source and a destination :class:`CredentialsPicker`, side by side.

    Args:
        source, destination: credentials or profile names to start from.
        store, use_keyring: passed to both pickers.
        source_title, destination_title: the headings.
    """

    def __init__(
        self,
        source: AppCredentials | str | None = None,
        destination: AppCredentials | str | None = None,
        *,
        store: ProfileStore | None = None,
        use_keyring: bool | None = None,
        source_title: str = "Source app (A)",
        destination_title: str = "Destination app (B)",
        **kwargs: Any,
    ) -> None:
        self.source = CredentialsPicker(
            source, title=source_title, store=store, use_keyring=use_keyring, role="source"
        )
        self.destination = CredentialsPicker(
            destination,
            title=destination_title,
            store=store,
            use_keyring=use_keyring,
            role="destination",
        )
        kwargs.setdefault("layout", widgets.Layout(flex_flow="row wrap"))
        super().__init__(children=[self.source, self.destination], **kwargs)
        self.add_class("moecohort-app-pair")
        # A profile saved on one side shows up in the other side's dropdown.
        self.source.save_button.on_click(lambda _b: self.destination.refresh_profiles())
        self.destination.save_button.on_click(lambda _b: self.source.refresh_profiles())

    @property
    def credentials(self) -> tuple[AppCredentials, AppCredentials]:
        """``(source, destination)`` credentials; raises ConfigurationError when either
        side is incomplete."""
        return self.source.credentials, self.destination.credentials

    def __repr__(self) -> str:
        return f"AppPairPicker(source={self.source.app!r}, destination={self.destination.app!r})"


# --------------------------------------------------------------------------- push panel
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
            self.output.value = _bad(str(err))
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
                self.output.value = _note("A push is already running.")
                return self.wait(timeout) if wait else None
            try:
                app = self._app()
                validate_cohort_name(self.cohort_name)
            except MoEngageError as err:
                self.error = err
                self.output.value = _bad(str(err))
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
            self.header.value = _bad(str(err))
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
            self.name_check.value = _bad(str(err)) if name else _note("Give the cohort a name.")
            shown = bool(err.suggestion) and bool(name)
            self.suggestion_button.description = (
                f"Use {err.suggestion!r}"[:60] if err.suggestion else "Use suggested name"
            )
            self.suggestion_button.layout.display = None if shown else "none"
            self.push_button.disabled = True
            return False
        self.suggestion_button.layout.display = "none"
        self.name_check.value = (
            _ok("valid name")
            + " "
            + _note(
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
        self.output.value = _note(f"Pushing to {app.workspace_id} ...")
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
                self.output.value = _bad(str(err))
        except Exception as err:  # never die silently in a thread
            self.error = err
            self.output.value = _bad(f"{type(err).__name__}: {err}")
        finally:
            self._finish_progress(total)
            self._set_busy(False)
            self._check_name()
            self._done.set()

    def _on_progress(self, done: int, total: int) -> None:
        """push_cohort's progress callback: users settled (accepted or failed) so far."""
        self.progress.max = max(total, 1)
        self.progress.value = min(done, total)
        self.progress_label.value = _note(f"{done:,} of {total:,} users sent")

    def _finish_progress(self, total: int) -> None:
        result = self.result
        if result is None:
            self.progress.bar_style = "danger"
            self.progress_label.value = _bad("push failed before sending (see below)")
            return
        done = result.members_accepted
        planned = max(result.members_accepted + result.members_failed, 1)
        self.progress.max = planned
        self.progress.value = min(done, planned)
        self.progress.bar_style = "success" if result.ok else "danger"
        self.progress_label.value = (_ok if result.ok else _bad)(
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
        head = _bad(error) if error else ""
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
        return _note(f"The {n:,} failed users were written to {filename} (next to the notebook).")

    def __repr__(self) -> str:
        return (
            f"PushPanel({self.users:,} users, cohort {self.cohort_name!r}, action {self.action}, "
            f"result={'none' if self.result is None else self.result.headline})"
        )
