"""Notebook widgets (ipywidgets): pick credentials, check them, push a cohort.

``pip install moecohort[widgets]`` (ipywidgets 8). ``import moecohort`` never imports
this package; ``import moecohort.widgets`` needs ipywidgets.

* :mod:`~moecohort.widgets.credentials`: :class:`CredentialsPicker`, :class:`AppPairPicker`;
* :mod:`~moecohort.widgets.push_panel`: :class:`PushPanel`.

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

try:
    import ipywidgets  # noqa: F401
    import traitlets  # noqa: F401
except ImportError as exc:  # pragma: no cover - exercised only without the extra
    raise ImportError(
        "moecohort.widgets needs ipywidgets 8: pip install 'moecohort[widgets]'"
    ) from exc

from .credentials import DATA_CENTER_OPTIONS, AppPairPicker, CredentialsPicker
from .push_panel import PushPanel

__all__ = [
    "DATA_CENTER_OPTIONS",
    "AppPairPicker",
    "CredentialsPicker",
    "PushPanel",
]
