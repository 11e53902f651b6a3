"""One workspace's credentials: the validators and :class:`AppCredentials`.

A destination app is addressed by three things: its **workspace ID** (formerly "App ID"),
its **Data API key** and its **data center** (``01``..``06`` or ``101``). Cohort Sync
authenticates with HTTP Basic: the workspace ID is the username, the key the password.

Validation happens once, in :class:`AppCredentials`: every field error it raises is a
:class:`~moecohort.errors.ConfigurationError` whose ``setting`` is the parameter at
fault. :meth:`AppCredentials.from_env` reads ``{prefix}_WORKSPACE_ID``,
``{prefix}_DATA_API_KEY``, ``{prefix}_DATA_CENTER`` and ``{prefix}_BASE_URL`` (default
prefix ``MOECOHORT``) and prefixes such an error with the variable that holds the value.
"""

from __future__ import annotations

import dataclasses
import ipaddress
import os
import re
from collections.abc import Mapping
from typing import Any
from urllib.parse import urlsplit

from .._constants import COHORT_SYNC_PATH, DATA_CENTERS, HOST_TEMPLATE
from ..errors import ConfigurationError
from .secret import SecretStr, mask_secret

__all__ = ["DEFAULT_ENV_PREFIX", "AppCredentials", "normalize_data_center"]

#: Default prefix of the credential environment variables.
DEFAULT_ENV_PREFIX = "MOECOHORT"

_DC_PATTERN = re.compile(r"^(?:dc)?[-_ ]?(\d{1,4})$")
#: The variables without which :meth:`AppCredentials.from_env` has no credentials.
_REQUIRED_ENV = ("workspace_id", "data_api_key")


# --------------------------------------------------------------------------- validation


def _region_label(dc: str) -> str:
    region = DATA_CENTERS[dc]
    return "region not stated" if region == "not stated" else region


def _valid_data_centers() -> str:
    return ", ".join(f"{dc} ({_region_label(dc)})" for dc in DATA_CENTERS)


def show_invalid(value: object, limit: int = 10) -> str:
    """Echo a rejected value, unless it is longer than ``limit``: then it may be a
    misplaced secret, and is shown masked.

    Shared with :mod:`.profiles`, which echoes a rejected profile name this way.
    """
    text = str(value)
    return repr(value) if len(text) <= limit else f"{mask_secret(text)!r} (shown masked)"


def normalize_data_center(value: str | int) -> str:
    """Return the canonical data-center code (a key of ``DATA_CENTERS``) for ``value``.

    Accepts ``"01"``, ``1``, ``"1"``, ``"DC-01"``, ``"dc1"``, ``"DC01"``, ``"dc_02"``,
    ``"dc-101"``, ``101`` and the like (case and surrounding blanks ignored).

    Raises:
        ConfigurationError: for anything else; the message lists the valid codes.
    """
    code: str | None = None
    if isinstance(value, bool):
        code = None
    elif isinstance(value, int):
        code = str(value)
    elif isinstance(value, str):
        match = _DC_PATTERN.match(value.strip().lower())
        code = match.group(1) if match else None
    if code is not None:
        number = int(code)
        canonical = f"{number:02d}"
        if canonical in DATA_CENTERS:
            return canonical
    raise ConfigurationError(
        f"Unknown MoEngage data center {show_invalid(value)}. Valid data centers: "
        f"{_valid_data_centers()}. Yours is the number in your dashboard's address "
        "(https://dashboard-01.moengage.com is data center 01).",
        setting="data_center",
    )


def _is_loopback(host: str) -> bool:
    host = host.rstrip(".").lower()
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


def _validate_base_url(value: str) -> str:
    if not isinstance(value, str):
        raise ConfigurationError(
            f"base_url must be a string, not {type(value).__name__}", setting="base_url"
        )
    text = value.strip()
    try:
        parts = urlsplit(text)
        port = parts.port  # raises ValueError for a bad port
        host = parts.hostname
    except ValueError:
        # urlsplit's message may quote parts of the URL, which could hold a secret.
        raise ConfigurationError(
            "base_url is not a valid URL (check the port and the [brackets] of IPv6 hosts)",
            setting="base_url",
        ) from None
    del port
    scheme = parts.scheme.lower()
    shown = f"{scheme}://{host or ''}" if scheme else "base_url"
    if scheme not in ("http", "https"):
        raise ConfigurationError(
            f"base_url must start with https:// (or http:// for a local emulator); got {shown!r}",
            setting="base_url",
        )
    if not host:
        raise ConfigurationError(
            "base_url must include a host name, e.g. https://proxy.example", setting="base_url"
        )
    if parts.username is not None or parts.password is not None:
        raise ConfigurationError(
            "base_url must not contain a user name or password; the workspace ID and "
            "Data API key are sent as HTTP Basic auth",
            setting="base_url",
        )
    if parts.query or parts.fragment or text.endswith(("?", "#")):
        raise ConfigurationError(
            "base_url must not contain a query string or fragment", setting="base_url"
        )
    if scheme == "http" and not _is_loopback(host):
        raise ConfigurationError(
            f"base_url {shown!r} uses plain http://, which would send the Data API key "
            "unencrypted (HTTP Basic auth is only base64). Use https://; http:// is only "
            "allowed for loopback hosts (localhost, 127.0.0.0/8, [::1]), e.g. a local emulator.",
            setting="base_url",
        )
    path = parts.path.rstrip("/")
    if path.endswith(COHORT_SYNC_PATH):
        raise ConfigurationError(
            f"base_url should stop before the endpoint path: moecohort appends "
            f"{COHORT_SYNC_PATH} itself (use e.g. {scheme}://{parts.netloc})",
            setting="base_url",
        )
    return f"{scheme}://{parts.netloc}{path}"


def _validate_workspace_id(value: object) -> str:
    if not isinstance(value, str):
        raise ConfigurationError(
            f"workspace_id must be a string, not {type(value).__name__}", setting="workspace_id"
        )
    text = value.strip()
    if not text:
        raise ConfigurationError(
            "workspace_id is empty: give the destination's workspace ID", setting="workspace_id"
        )
    # The value is not echoed: a pasted "WORKSPACE:KEY" or "WORKSPACE KEY" holds a secret.
    if any(ch.isspace() for ch in text) or not text.isprintable() or not text.isascii():
        raise ConfigurationError(
            "workspace_id must be plain ASCII, without whitespace or control characters",
            setting="workspace_id",
        )
    if ":" in text:
        raise ConfigurationError(
            "workspace_id must not contain ':' (it is the HTTP Basic auth user name); "
            "give the workspace ID and the Data API key separately",
            setting="workspace_id",
        )
    return text


def _validate_key(value: object) -> SecretStr:
    if isinstance(value, SecretStr):
        raw = value.get_secret_value()
    elif isinstance(value, str):
        raw = value
    else:
        raise ConfigurationError(
            f"data_api_key must be a str or SecretStr, not {type(value).__name__}",
            setting="data_api_key",
        )
    raw = raw.strip()
    if not raw:
        raise ConfigurationError(
            "data_api_key is empty: copy the Data API key from the MoEngage dashboard "
            "(Settings > Account > APIs > Data API)",
            setting="data_api_key",
        )
    if any(ch.isspace() for ch in raw) or not raw.isprintable() or not raw.isascii():
        raise ConfigurationError(
            "data_api_key contains whitespace, control or non-ASCII characters (a copy-paste "
            "error, such as a typographic dash?)",
            setting="data_api_key",
        )
    return SecretStr(raw)


# --------------------------------------------------------------------------- credentials


@dataclasses.dataclass(frozen=True, init=False, repr=False)
class AppCredentials:
    """Validated credentials of one MoEngage workspace (app).

    Args:
        workspace_id: the workspace ID (formerly "App ID"); the HTTP Basic user name.
        data_api_key: the Data API key, as ``str`` or :class:`SecretStr`; stored as
            :class:`SecretStr` with surrounding blanks removed.
        data_center: ``"01"``..``"06"`` or ``"101"``, in any spelling
            :func:`normalize_data_center` accepts (``1``, ``"DC-01"``, ``"dc101"``...).
        base_url: overrides the API host, e.g. a proxy or the local emulator. Must be
            ``https://``; ``http://`` only for loopback hosts. A path prefix is allowed.
        name: a label (the profile name when loaded from a profile). Not compared.

    Instances are immutable and hashable; use :meth:`with_` or
    :func:`dataclasses.replace` to derive a modified copy.

    Raises:
        ConfigurationError: when a value is invalid, with ``setting`` naming the
            parameter at fault. Messages never contain the key.
    """

    workspace_id: str
    data_api_key: SecretStr
    data_center: str = "01"
    base_url: str | None = None
    name: str | None = dataclasses.field(default=None, compare=False)

    def __init__(
        self,
        workspace_id: str,
        data_api_key: str | SecretStr,
        data_center: str | int = "01",
        *,
        base_url: str | None = None,
        name: str | None = None,
    ) -> None:
        setattr_ = object.__setattr__
        setattr_(self, "workspace_id", _validate_workspace_id(workspace_id))
        setattr_(self, "data_api_key", _validate_key(data_api_key))
        setattr_(self, "data_center", normalize_data_center(data_center))
        base = None if base_url is None or not str(base_url).strip() else base_url
        setattr_(self, "base_url", None if base is None else _validate_base_url(base))
        if name is not None and not isinstance(name, str):
            raise ConfigurationError(
                f"name must be a string, not {type(name).__name__}", setting="name"
            )
        setattr_(self, "name", name)

    @property
    def region(self) -> str:
        """The data center's region as MoEngage documents it (``"US"``, ``"EU"``...)."""
        return DATA_CENTERS[self.data_center]

    @property
    def host(self) -> str:
        """``https://api-{dc}.moengage.com``, or :attr:`base_url` when set."""
        if self.base_url is not None:
            return self.base_url
        return HOST_TEMPLATE.format(dc=self.data_center)

    @property
    def endpoint(self) -> str:
        """The Cohort Sync endpoint URL: :attr:`host` + ``/v1/integrations/cohortsync``."""
        return self.host + COHORT_SYNC_PATH

    @property
    def masked_key(self) -> str:
        """The Data API key, masked (``****9f2a``)."""
        return self.data_api_key.masked

    def basic_auth(self) -> tuple[str, str]:
        """Return ``(workspace_id, data_api_key)`` for ``requests``' ``auth=``.

        Together with :meth:`SecretStr.get_secret_value` this is the only way the raw
        key leaves the object. Do not log the result.
        """
        return (self.workspace_id, self.data_api_key.get_secret_value())

    def with_(self, **changes: Any) -> AppCredentials:
        """Return a copy with ``changes`` applied (same as :func:`dataclasses.replace`)."""
        return dataclasses.replace(self, **changes)

    def __repr__(self) -> str:
        parts = []
        if self.name is not None:
            parts.append(f"name={self.name!r}")
        parts.append(f"workspace_id={self.workspace_id!r}")
        parts.append(f"data_center={self.data_center!r} ({_region_label(self.data_center)})")
        parts.append(f"data_api_key={self.masked_key!r}")
        if self.base_url is not None:
            parts.append(f"base_url={self.base_url!r}")
        return f"AppCredentials({', '.join(parts)})"

    __str__ = __repr__

    @classmethod
    def from_env(
        cls,
        prefix: str = DEFAULT_ENV_PREFIX,
        environ: Mapping[str, str] | None = None,
        *,
        name: str | None = None,
    ) -> AppCredentials:
        """Read credentials from ``{prefix}_WORKSPACE_ID``, ``{prefix}_DATA_API_KEY``,
        ``{prefix}_DATA_CENTER`` (default ``01``) and ``{prefix}_BASE_URL`` (optional).

        ``prefix`` may end with an underscore or not: ``from_env("MOECOHORT_DEST")`` and
        ``from_env("MOECOHORT_DEST_")`` both read ``MOECOHORT_DEST_WORKSPACE_ID``...
        Empty variables count as missing. ``environ`` defaults to :data:`os.environ`.

        Raises:
            ConfigurationError: naming the variables to set, or the variable whose value
                is invalid.
        """
        names = env_names(prefix)
        values = read_env(names, os.environ if environ is None else environ)
        missing = missing_env_error(names, values)
        if missing is not None:
            raise missing
        return build_from_env(values, names, name=name)


# --------------------------------------------------------------------------- environment
# Shared with .resolve, which reads the environment once for get_credentials and then
# either builds from it, reports what is missing, or prompts for the rest.


def env_names(prefix: str) -> dict[str, str]:
    """The variable of each setting: ``workspace_id`` -> ``{stem}_WORKSPACE_ID``..."""
    if not isinstance(prefix, str) or not prefix.strip().rstrip("_"):
        raise ConfigurationError(f"Invalid environment prefix {prefix!r}, e.g. 'MOECOHORT_DEST'")
    stem = prefix.strip().rstrip("_")
    return {
        "workspace_id": f"{stem}_WORKSPACE_ID",
        "data_api_key": f"{stem}_DATA_API_KEY",
        "data_center": f"{stem}_DATA_CENTER",
        "base_url": f"{stem}_BASE_URL",
    }


def read_env(names: Mapping[str, str], environ: Mapping[str, str]) -> dict[str, str]:
    """The value of each setting's variable, stripped; ``""`` when unset or blank."""
    return {field: (environ.get(var) or "").strip() for field, var in names.items()}


def missing_env_error(
    names: Mapping[str, str], values: Mapping[str, str]
) -> ConfigurationError | None:
    """The error naming the required variables that ``values`` lacks; None when it has them."""
    missing = [names[field] for field in _REQUIRED_ENV if not values[field]]
    if not missing:
        return None
    return ConfigurationError(
        f"Missing environment variable{'s' if len(missing) > 1 else ''}: "
        f"{' and '.join(missing)}. Set {' and '.join(missing)} (optional: "
        f"{names['data_center']}, default 01; {names['base_url']})."
    )


def build_from_env(
    values: Mapping[str, str], names: Mapping[str, str], *, name: str | None
) -> AppCredentials:
    """Build :class:`AppCredentials` from :func:`read_env` values that hold the required
    ones (see :func:`missing_env_error`).

    The values are validated once, by :class:`AppCredentials`; an error about a value read
    from a variable is raised again prefixed with that variable's name, ``setting`` kept.
    """
    try:
        return AppCredentials(
            values["workspace_id"],
            values["data_api_key"],
            values.get("data_center") or "01",
            base_url=values.get("base_url") or None,
            name=name,
        )
    except ConfigurationError as err:
        field = err.setting
        if field is None or field not in names:
            raise  # not about a variable (an invalid ``name``): as AppCredentials said it
        # from None: no chained exception carries anything of the rejected value.
        raise ConfigurationError(f"{names[field]}: {err}", setting=field) from None
