"""Credential widgets: one app's credentials (:class:`CredentialsPicker`), or a pair of
apps side by side (:class:`AppPairPicker`).

The Data API key never stays in a widget: see :mod:`moecohort.widgets`.
"""

from __future__ import annotations

import contextlib
import html
from collections.abc import Callable, Iterator, Sequence
from typing import Any

import ipywidgets as widgets
import traitlets

from .._constants import DATA_CENTERS
from ..credentials import AppCredentials, ProfileStore, SecretStr
from ..errors import ConfigurationError, MoEngageError
from ..push import ConnectionCheck, check_connection
from ._look import bad, field_layout, note, ok

__all__ = ["DATA_CENTER_OPTIONS", "AppPairPicker", "CredentialsPicker", "SecretField"]

#: Data center dropdown options: ``("01 (US)", "01")`` ... ``("101", "101")``.
DATA_CENTER_OPTIONS: list[tuple[str, str]] = [
    (dc if region == "not stated" else f"{dc} ({region})", dc)
    for dc, region in DATA_CENTERS.items()
]

_NEW_PROFILE = ""


class SecretField(widgets.Password):
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
            description="Profile", options=[("(none: enter below)", _NEW_PROFILE)], **field_layout()
        )
        self.name_field = widgets.Text(
            description="Name", placeholder="profile name, e.g. app-b", **field_layout()
        )
        self.workspace_field = widgets.Text(
            description="Workspace ID", placeholder="Settings > Account > APIs", **field_layout()
        )
        self.key_field = SecretField(
            description="Data API key",
            placeholder="paste the key, then Enter",
            continuous_update=False,
            **field_layout(),
        )
        self.key_display = widgets.HTML(
            note("no key yet"), layout=widgets.Layout(margin="-0.2em 0 0.2em 9.2em")
        )
        self.data_center_dropdown = widgets.Dropdown(
            description="Data center", options=DATA_CENTER_OPTIONS, value="01", **field_layout()
        )
        self.base_url_field = widgets.Text(
            description="Base URL",
            placeholder="blank: https://api-{dc}.moengage.com",
            **field_layout(),
        )
        self.advanced = widgets.Accordion(
            children=[
                widgets.VBox(
                    [
                        self.base_url_field,
                        widgets.HTML(
                            note(
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
        self.key_display.value = note("no key yet")
        self._refresh()

    def refresh_profiles(self) -> list[str]:
        """Re-read the saved profiles into the dropdown; returns their names."""
        options: list[tuple[str, str]] = [("(none: enter below)", _NEW_PROFILE)]
        try:
            infos = self._store.list()
        except MoEngageError as err:
            self._status(bad(str(err)))
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
            self._status(bad(str(err)))
            return None
        self.set_credentials(app)
        with self._quietly():
            if name in [value for _label, value in self.profile_dropdown.options]:
                self.profile_dropdown.value = name
        self._status(ok(f"loaded profile {name!r} (key {app.masked_key})"))
        return app

    def test_connection(self) -> ConnectionCheck | None:
        """Check the credentials with one request (see :func:`moecohort.check_connection`)
        and show the outcome. Returns the check, or None when the fields are incomplete."""
        try:
            app = self.credentials
        except MoEngageError as err:
            self._status(bad(str(err)))
            return None
        self.test_button.disabled = True
        self._status(note(f"checking {app.host} ..."))
        try:
            check = check_connection(app, timeout=(5.0, 20.0))
        except Exception as err:  # a network stack surprise: say it, do not raise
            self._status(bad(f"connection check failed: {type(err).__name__}: {err}"))
            return None
        finally:
            self.test_button.disabled = False
        self.last_check = check
        if check.ok:
            latency = f" in {check.latency_ms:.0f} ms" if check.latency_ms is not None else ""
            self._status(ok(f"Connected: {check.message}{latency}"))
        else:
            status = f"HTTP {check.status}: " if check.status is not None else ""
            self._status(bad(f"Not connected ({status}{check.message})"))
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
        self._status(ok(f"saved profile {saved.name!r}; key {saved.masked_key} in {where}"))
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
            self._status(bad(str(err)))

    def _set_key(self, key: SecretStr) -> None:
        self._key = key
        self.key_field.value = ""
        masked = key.masked
        self.key_field.placeholder = f"held: {masked}"
        self.key_display.value = note(f"key {masked}, held in the kernel")

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
            self.summary.value = note(self.problem)
            self.app = None
            return
        self.problem = None
        self.summary.value = note(
            f"→ {app.host} · workspace {app.workspace_id} · key {app.masked_key}"
        )
        if self.app is None or self.app != app or self.app.name != app.name:
            self.app = app

    def __repr__(self) -> str:
        return f"CredentialsPicker({self._role}: {self.app!r})"


class AppPairPicker(widgets.HBox):
    """A source and a destination :class:`CredentialsPicker`, side by side; or a source and
    several destinations (one app per region, say): ``destination`` a list.

    Args:
        source, destination: credentials or profile names to start from; ``destination``
            may be a list, one picker per destination app.
        store, use_keyring: passed to every picker.
        source_title, destination_title: the headings (further destinations are
            lettered on: "Destination app (C)", ...).

    ``.destination`` is the (first) destination picker, ``.destinations`` all of them;
    :class:`~moecohort.widgets.PushPanel` pushes to every one of them when given the pair.
    """

    def __init__(
        self,
        source: AppCredentials | str | None = None,
        destination: AppCredentials | str | Sequence[AppCredentials | str | None] | None = None,
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
        starts: list[AppCredentials | str | None]
        if destination is None or isinstance(destination, (AppCredentials, str)):
            starts = [destination]
        else:
            starts = list(destination) or [None]
        self.destinations = [
            CredentialsPicker(
                start,
                title=destination_title
                if i == 0
                else destination_title.replace("(B)", f"({chr(ord('B') + i)})"),
                store=store,
                use_keyring=use_keyring,
                role="destination",
            )
            for i, start in enumerate(starts)
        ]
        self.destination = self.destinations[0]
        kwargs.setdefault("layout", widgets.Layout(flex_flow="row wrap"))
        super().__init__(children=[self.source, *self.destinations], **kwargs)
        self.add_class("moecohort-app-pair")
        # A profile saved on one side shows up in the other pickers' dropdowns.
        pickers = [self.source, *self.destinations]
        for picker in pickers:
            picker.save_button.on_click(_refresher([p for p in pickers if p is not picker]))

    @property
    def credentials(self) -> tuple[AppCredentials, AppCredentials]:
        """``(source, destination)`` credentials (the first destination); raises
        ConfigurationError when either side is incomplete."""
        return self.source.credentials, self.destination.credentials

    @property
    def destination_apps(self) -> list[AppCredentials]:
        """Every destination's credentials; raises ConfigurationError when one is
        incomplete."""
        return [picker.credentials for picker in self.destinations]

    def __repr__(self) -> str:
        shown = ", ".join(repr(p.app) for p in self.destinations)
        return f"AppPairPicker(source={self.source.app!r}, destination={shown})"


def _refresher(pickers: list[CredentialsPicker]) -> Callable[[Any], None]:
    """A button handler that refreshes the profile lists of ``pickers``."""

    def refresh(_button: Any) -> None:
        for picker in pickers:
            picker.refresh_profiles()

    return refresh
