"""Credentials for MoEngage workspaces (apps): validation, masking and storage.

A destination app is addressed by three things: its **workspace ID** (formerly "App ID"),
its **Data API key** and its **data center** (``01``..``06`` or ``101``). Cohort Sync
authenticates with HTTP Basic: the workspace ID is the username, the key the password.

The key is wrapped in :class:`SecretStr` as soon as it enters moecohort, so ``repr``,
``str``, f-strings, logging and exception messages only ever show a masked form such as
``****9f2a``. The raw key leaves an :class:`AppCredentials` object in exactly two places:
:meth:`AppCredentials.basic_auth` (for ``requests``) and
:meth:`SecretStr.get_secret_value`.

Credentials come from one of three places (see :func:`get_credentials`):

* an :class:`AppCredentials` built in code;
* a named profile saved with :class:`ProfileStore` (``profiles.toml`` in the user's
  config directory, mode 0600; the key goes to the system keyring when one is usable);
* environment variables, ``MOECOHORT_WORKSPACE_ID``, ``MOECOHORT_DATA_API_KEY``,
  ``MOECOHORT_DATA_CENTER`` and ``MOECOHORT_BASE_URL`` (or another prefix).
"""

from __future__ import annotations

import builtins
import contextlib
import dataclasses
import getpass
import hmac
import ipaddress
import logging
import os
import re
import sys
import tempfile
from collections.abc import Iterator, Mapping
from pathlib import Path
from typing import Any, Literal
from urllib.parse import urlsplit

import filelock
import platformdirs
import tomli_w

from ._constants import COHORT_SYNC_PATH, DATA_CENTERS, HOST_TEMPLATE
from .errors import ConfigurationError

if sys.version_info >= (3, 11):
    import tomllib
else:  # pragma: no cover - exercised on Python 3.10 only
    import tomli as tomllib

__all__ = [
    "CONFIG_DIR_ENV",
    "DEFAULT_ENV_PREFIX",
    "KEYRING_SERVICE",
    "NO_KEYRING_ENV",
    "PROFILES_FILENAME",
    "AppCredentials",
    "ProfileInfo",
    "ProfileStore",
    "SecretStr",
    "get_credentials",
    "keyring_available",
    "list_profiles",
    "load_profile",
    "mask_secret",
    "normalize_data_center",
    "remove_profile",
    "save_profile",
]

logger = logging.getLogger("moecohort")

#: Environment variable that overrides the directory holding ``profiles.toml``.
CONFIG_DIR_ENV = "MOECOHORT_CONFIG_DIR"
#: Environment variable that, set to ``1``/``true``/``yes``/``on``, disables keyring use.
NO_KEYRING_ENV = "MOECOHORT_NO_KEYRING"
#: Default prefix of the credential environment variables.
DEFAULT_ENV_PREFIX = "MOECOHORT"
#: Name of the profiles file inside the config directory.
PROFILES_FILENAME = "profiles.toml"
#: Keyring service name; the keyring username is ``profile:<name>``.
KEYRING_SERVICE = "moecohort"

_MASK = "****"
_MIN_LEN_FOR_HINT = 12
_TRUTHY = frozenset({"1", "true", "yes", "on"})
_DC_PATTERN = re.compile(r"^(?:dc)?[-_ ]?(\d{1,4})$")
_PROFILE_NAME = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.-]{0,63}$")
_ADD_HINT = "moecohort profiles add NAME"


# --------------------------------------------------------------------------- secrets


def mask_secret(value: str | SecretStr | None) -> str:
    """Return a form of ``value`` that is safe to show or log.

    Values of 12 characters or more keep their last four characters (``****9f2a``), so a
    user can tell two keys apart; shorter values (and ``None``) become just ``****``.
    """
    if isinstance(value, SecretStr):
        value = value.get_secret_value()
    if not value or len(value) < _MIN_LEN_FOR_HINT:
        return _MASK
    return _MASK + value[-4:]


class SecretStr:
    """A string that never shows itself: ``repr``, ``str`` and ``format`` give ``****9f2a``.

    Use :meth:`get_secret_value` to obtain the real value. Equality is constant-time
    (:func:`hmac.compare_digest`) and only defined between two :class:`SecretStr`.
    Pickling (and :func:`copy.deepcopy`) keep the real value; the object has no
    ``__dict__``, so :func:`vars` cannot expose it.
    """

    __slots__ = ("_secret",)

    _secret: str

    def __init__(self, value: str | SecretStr) -> None:
        if isinstance(value, SecretStr):
            value = value.get_secret_value()
        if not isinstance(value, str):
            raise TypeError(f"SecretStr wraps a str, not {type(value).__name__}")
        object.__setattr__(self, "_secret", value)

    def get_secret_value(self) -> str:
        """Return the real, unmasked value."""
        return self._secret

    @property
    def masked(self) -> str:
        """The masked form, e.g. ``****9f2a`` (see :func:`mask_secret`)."""
        return mask_secret(self._secret)

    def __repr__(self) -> str:
        return f"SecretStr({self.masked!r})"

    def __str__(self) -> str:
        return self.masked

    def __format__(self, format_spec: str) -> str:
        return format(self.masked, format_spec)

    def __len__(self) -> int:
        return len(self._secret)

    def __bool__(self) -> bool:
        return bool(self._secret)

    def __eq__(self, other: object) -> bool:
        if not isinstance(other, SecretStr):
            return NotImplemented
        return hmac.compare_digest(
            self._secret.encode("utf-8", "surrogatepass"),
            other._secret.encode("utf-8", "surrogatepass"),
        )

    def __hash__(self) -> int:
        return hash((SecretStr, self._secret))

    def __setattr__(self, name: str, value: object) -> None:
        raise AttributeError("SecretStr is immutable")

    def __reduce__(self) -> tuple[type[SecretStr], tuple[str]]:
        return (SecretStr, (self._secret,))


# --------------------------------------------------------------------------- validation


def _region_label(dc: str) -> str:
    region = DATA_CENTERS[dc]
    return "region not stated" if region == "not stated" else region


def _valid_data_centers() -> str:
    return ", ".join(f"{dc} ({_region_label(dc)})" for dc in DATA_CENTERS)


def _show_invalid(value: object, limit: int = 10) -> str:
    """Echo a rejected value, unless it is longer than ``limit``: then it may be a
    misplaced secret, and is shown masked."""
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
        f"Unknown MoEngage data center {_show_invalid(value)}. Valid data centers: "
        f"{_valid_data_centers()}. Yours is the number in your dashboard's address "
        "(https://dashboard-01.moengage.com is data center 01)."
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
        raise ConfigurationError(f"base_url must be a string, not {type(value).__name__}")
    text = value.strip()
    try:
        parts = urlsplit(text)
        port = parts.port  # raises ValueError for a bad port
        host = parts.hostname
    except ValueError:
        # urlsplit's message may quote parts of the URL, which could hold a secret.
        raise ConfigurationError(
            "base_url is not a valid URL (check the port and the [brackets] of IPv6 hosts)"
        ) from None
    del port
    scheme = parts.scheme.lower()
    shown = f"{scheme}://{host or ''}" if scheme else "base_url"
    if scheme not in ("http", "https"):
        raise ConfigurationError(
            f"base_url must start with https:// (or http:// for a local emulator); got {shown!r}"
        )
    if not host:
        raise ConfigurationError("base_url must include a host name, e.g. https://proxy.example")
    if parts.username is not None or parts.password is not None:
        raise ConfigurationError(
            "base_url must not contain a user name or password; the workspace ID and "
            "Data API key are sent as HTTP Basic auth"
        )
    if parts.query or parts.fragment or text.endswith(("?", "#")):
        raise ConfigurationError("base_url must not contain a query string or fragment")
    if scheme == "http" and not _is_loopback(host):
        raise ConfigurationError(
            f"base_url {shown!r} uses plain http://, which would send the Data API key "
            "unencrypted (HTTP Basic auth is only base64). Use https://; http:// is only "
            "allowed for loopback hosts (localhost, 127.0.0.0/8, [::1]), e.g. a local emulator."
        )
    path = parts.path.rstrip("/")
    if path.endswith(COHORT_SYNC_PATH):
        raise ConfigurationError(
            f"base_url should stop before the endpoint path: moecohort appends "
            f"{COHORT_SYNC_PATH} itself (use e.g. {scheme}://{parts.netloc})"
        )
    return f"{scheme}://{parts.netloc}{path}"


def _validate_workspace_id(value: object) -> str:
    if not isinstance(value, str):
        raise ConfigurationError(f"workspace_id must be a string, not {type(value).__name__}")
    text = value.strip()
    if not text:
        raise ConfigurationError("workspace_id is empty: give the destination's workspace ID")
    # The value is not echoed: a pasted "WORKSPACE:KEY" or "WORKSPACE KEY" holds a secret.
    if any(ch.isspace() for ch in text) or not text.isprintable() or not text.isascii():
        raise ConfigurationError(
            "workspace_id must be plain ASCII, without whitespace or control characters"
        )
    if ":" in text:
        raise ConfigurationError(
            "workspace_id must not contain ':' (it is the HTTP Basic auth user name); "
            "give the workspace ID and the Data API key separately"
        )
    return text


def _validate_key(value: object) -> SecretStr:
    if isinstance(value, SecretStr):
        raw = value.get_secret_value()
    elif isinstance(value, str):
        raw = value
    else:
        raise ConfigurationError(
            f"data_api_key must be a str or SecretStr, not {type(value).__name__}"
        )
    raw = raw.strip()
    if not raw:
        raise ConfigurationError(
            "data_api_key is empty: copy the Data API key from the MoEngage dashboard "
            "(Settings > Account > APIs > Data API)"
        )
    if any(ch.isspace() for ch in raw) or not raw.isprintable() or not raw.isascii():
        raise ConfigurationError(
            "data_api_key contains whitespace, control or non-ASCII characters (a copy-paste "
            "error, such as a typographic dash?)"
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
        ConfigurationError: when a value is invalid. Messages never contain the key.
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
            raise ConfigurationError(f"name must be a string, not {type(name).__name__}")
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
        env = os.environ if environ is None else environ
        names = _env_names(prefix)
        values = {field: (env.get(var) or "").strip() for field, var in names.items()}
        missing = [names[f] for f in ("workspace_id", "data_api_key") if not values[f]]
        if missing:
            raise ConfigurationError(
                f"Missing environment variable{'s' if len(missing) > 1 else ''}: "
                f"{' and '.join(missing)}. Set {' and '.join(missing)} (optional: "
                f"{names['data_center']}, default 01; {names['base_url']})."
            )
        return _build_from_env(values, names, name=name)


def _env_names(prefix: str) -> dict[str, str]:
    if not isinstance(prefix, str) or not prefix.strip().rstrip("_"):
        raise ConfigurationError(f"Invalid environment prefix {prefix!r}, e.g. 'MOECOHORT_DEST'")
    stem = prefix.strip().rstrip("_")
    return {
        "workspace_id": f"{stem}_WORKSPACE_ID",
        "data_api_key": f"{stem}_DATA_API_KEY",
        "data_center": f"{stem}_DATA_CENTER",
        "base_url": f"{stem}_BASE_URL",
    }


def _build_from_env(
    values: Mapping[str, str], names: Mapping[str, str], *, name: str | None
) -> AppCredentials:
    checks: list[tuple[str, Any]] = [
        ("workspace_id", _validate_workspace_id),
        ("data_api_key", _validate_key),
        ("data_center", normalize_data_center),
    ]
    for field, check in checks:
        if values.get(field):
            try:
                check(values[field])
            except ConfigurationError as err:
                raise ConfigurationError(f"{names[field]}: {err}") from None
    if values.get("base_url"):
        try:
            _validate_base_url(values["base_url"])
        except ConfigurationError as err:
            raise ConfigurationError(f"{names['base_url']}: {err}") from None
    return AppCredentials(
        values["workspace_id"],
        values["data_api_key"],
        values.get("data_center") or "01",
        base_url=values.get("base_url") or None,
        name=name,
    )


# --------------------------------------------------------------------------- keyring


def _keyring_disabled_by_env() -> bool:
    return os.environ.get(NO_KEYRING_ENV, "").strip().lower() in _TRUTHY


def _usable_keyring() -> tuple[Any | None, str]:
    """Return ``(keyring module, "")`` when a usable backend is active, else ``(None, why)``."""
    if _keyring_disabled_by_env():
        return None, f"keyring use is disabled by {NO_KEYRING_ENV}"
    try:
        import keyring
        from keyring.backends import chainer, fail
    except ImportError:
        return None, "the 'keyring' package is not installed (pip install 'moecohort[keyring]')"
    try:
        backend = keyring.get_keyring()
    except Exception as err:  # a broken keyring configuration must not break moecohort
        return None, f"the keyring backend could not be loaded ({type(err).__name__})"
    if isinstance(backend, fail.Keyring):
        return None, "no keyring backend is available on this system"
    if isinstance(backend, chainer.ChainerBackend) and not backend.backends:
        return None, "no keyring backend is available on this system"
    try:
        priority = float(getattr(backend, "priority", 0))
    except (TypeError, ValueError):
        priority = 0.0
    if priority <= 0:
        return None, f"the active keyring backend ({type(backend).__name__}) is not usable"
    return keyring, ""


def keyring_available() -> bool:
    """Whether profile keys would be stored in the system keyring (see :class:`ProfileStore`)."""
    return _usable_keyring()[0] is not None


def _keyring_username(name: str) -> str:
    return f"profile:{name}"


def _delete_keyring_entry(name: str) -> None:
    kr, why = _usable_keyring()
    if kr is None:
        logger.warning(
            "Could not remove the key of profile %r from the keyring (%s); remove the "
            "entry service=%r username=%r by hand",
            name,
            why,
            KEYRING_SERVICE,
            _keyring_username(name),
        )
        return
    try:
        kr.delete_password(KEYRING_SERVICE, _keyring_username(name))
    except Exception as err:  # PasswordDeleteError when absent; backend errors
        logger.debug("No keyring entry removed for profile %r (%s)", name, type(err).__name__)


# --------------------------------------------------------------------------- profiles


@dataclasses.dataclass(frozen=True)
class ProfileInfo:
    """One saved profile as :meth:`ProfileStore.list` shows it (the key is masked)."""

    name: str
    workspace_id: str
    data_center: str
    region: str
    base_url: str | None
    key_storage: Literal["keyring", "file"]
    masked_key: str

    def to_dict(self) -> dict[str, Any]:
        """The fields as a plain dict (safe to print: the key is masked)."""
        return dataclasses.asdict(self)


def _check_profile_name(name: object) -> str:
    if not isinstance(name, str) or not _PROFILE_NAME.match(name):
        raise ConfigurationError(
            f"Invalid profile name {name!r}: use 1-64 letters, digits, '_', '-' or '.', "
            "starting with a letter or digit"
        )
    return name


def _default_profiles_path() -> Path:
    override = os.environ.get(CONFIG_DIR_ENV, "").strip()
    base = Path(override).expanduser() if override else platformdirs.user_config_path("moecohort")
    return base / PROFILES_FILENAME


class ProfileStore:
    """Named credentials in a TOML file (``profiles.toml``).

    The file lives in ``platformdirs.user_config_path("moecohort")``, or in the
    directory named by ``MOECOHORT_CONFIG_DIR``, or at ``path``: a ``.toml`` file, or a
    directory that holds ``profiles.toml``. It is rewritten atomically (temporary file
    in the same directory, then :func:`os.replace`), always with mode 0600; a config
    directory created here gets mode 0700. Concurrent writers are serialised with a
    lock file.

    When ``keyring`` is installed and its backend is usable, :meth:`save` puts the key
    in the keyring (service ``moecohort``, username ``profile:<name>``) and the file
    holds ``key_in_keyring = true`` and a masked hint; otherwise the key is written to
    the file. ``MOECOHORT_NO_KEYRING=1`` disables the keyring.

    File layout::

        [profiles.dest]
        workspace_id = "ABC123"
        data_center = "01"
        key_in_keyring = true
        key_hint = "****9f2a"
    """

    def __init__(self, path: str | os.PathLike[str] | None = None) -> None:
        if path is None:
            resolved = _default_profiles_path()
        else:
            resolved = Path(path).expanduser()
            if resolved.suffix.lower() != ".toml":
                resolved = resolved / PROFILES_FILENAME
        self._path = resolved

    @property
    def path(self) -> Path:
        """The profiles file (it may not exist yet)."""
        return self._path

    def __repr__(self) -> str:
        return f"ProfileStore({str(self._path)!r})"

    # ---- reading

    def _read(self) -> dict[str, Any]:
        try:
            data = self._path.read_bytes()
        except FileNotFoundError:
            return {}
        except OSError as err:
            raise ConfigurationError(f"Cannot read profiles file {self._path}: {err}") from None
        try:
            doc = tomllib.loads(data.decode("utf-8"))
        except (UnicodeDecodeError, tomllib.TOMLDecodeError) as err:
            raise ConfigurationError(
                f"Profiles file {self._path} is not valid TOML ({err}); fix or delete it"
            ) from None
        profiles = doc.get("profiles", {})
        if not isinstance(profiles, dict):
            raise ConfigurationError(f"Profiles file {self._path}: 'profiles' must be a table")
        self._warn_if_loose(profiles)
        return doc

    def _warn_if_loose(self, profiles: Mapping[str, Any]) -> None:
        if os.name != "posix":
            return
        holds_keys = any(isinstance(p, dict) and "data_api_key" in p for p in profiles.values())
        with contextlib.suppress(OSError):
            mode = self._path.stat().st_mode & 0o777
            if holds_keys and mode & 0o077:
                logger.warning(
                    "Profiles file %s holds API keys and is readable by others (mode %o); "
                    "run: chmod 600 %s",
                    self._path,
                    mode,
                    self._path,
                )

    def _profiles(self) -> dict[str, Any]:
        profiles: dict[str, Any] = self._read().get("profiles", {})
        return profiles

    def _unknown(self, name: str, known: builtins.list[str]) -> ConfigurationError:
        listed = ", ".join(repr(n) for n in known) if known else "none yet"
        # A long "name" may be a key passed where a profile name goes: never echo it whole.
        shown = _show_invalid(name, limit=16)
        return ConfigurationError(
            f"Unknown profile {shown}. Known profiles: {listed} (in {self._path}). "
            f"Add one with: {_ADD_HINT}"
        )

    # ---- writing

    @contextlib.contextmanager
    def _locked(self) -> Iterator[None]:
        directory = self._path.parent
        if not directory.exists():
            directory.mkdir(parents=True, exist_ok=True, mode=0o700)
            with contextlib.suppress(OSError):
                directory.chmod(0o700)
        lock = filelock.FileLock(str(self._path) + ".lock", timeout=30, mode=0o600)
        try:
            with lock:
                yield
        except filelock.Timeout:
            raise ConfigurationError(
                f"Profiles file {self._path} is locked by another process"
            ) from None

    def _write(self, doc: dict[str, Any]) -> None:
        text = (
            "# moecohort profiles: written by moecohort, mode 0600. "
            f"Edit with '{_ADD_HINT}'.\n" + tomli_w.dumps(doc)
        )
        directory = self._path.parent
        fd, tmp_name = tempfile.mkstemp(prefix=f".{self._path.name}.", suffix=".tmp", dir=directory)
        try:
            if hasattr(os, "fchmod"):
                os.fchmod(fd, 0o600)
            with os.fdopen(fd, "wb") as fh:
                fh.write(text.encode("utf-8"))
                fh.flush()
                os.fsync(fh.fileno())
            os.replace(tmp_name, self._path)
        except BaseException:
            with contextlib.suppress(OSError):
                os.unlink(tmp_name)
            raise
        with contextlib.suppress(OSError):
            os.chmod(self._path, 0o600)

    # ---- public API

    def save(
        self,
        creds: AppCredentials,
        name: str | None = None,
        *,
        use_keyring: bool | None = None,
        overwrite: bool = True,
    ) -> AppCredentials:
        """Save ``creds`` as profile ``name`` (default: ``creds.name``).

        Args:
            use_keyring: ``None`` uses the keyring when one is usable, else the file;
                ``True`` requires the keyring; ``False`` writes the key to the file.
            overwrite: when ``False``, refuse to replace an existing profile.

        Returns:
            ``creds`` with ``name`` set to the profile name.

        Raises:
            ConfigurationError: no name, an invalid name, ``use_keyring=True`` without a
                usable keyring, or an existing profile with ``overwrite=False``.
        """
        if not isinstance(creds, AppCredentials):
            raise TypeError(f"save() takes AppCredentials, not {type(creds).__name__}")
        profile = _check_profile_name(name if name is not None else creds.name)
        kr = None
        if use_keyring is not False:
            kr, why = _usable_keyring()
            if kr is None and use_keyring:
                raise ConfigurationError(
                    f"Cannot store the key of profile {profile!r} in a keyring: {why}. "
                    "Save with use_keyring=False to keep it in the 0600 profiles file."
                )
        entry: dict[str, Any] = {
            "workspace_id": creds.workspace_id,
            "data_center": creds.data_center,
        }
        if creds.base_url is not None:
            entry["base_url"] = creds.base_url
        with self._locked():
            doc = self._read()
            profiles = doc.setdefault("profiles", {})
            previous = profiles.get(profile)
            if previous is not None and not overwrite:
                raise ConfigurationError(
                    f"Profile {profile!r} already exists in {self._path}; remove it first"
                )
            if kr is not None:
                try:
                    kr.set_password(
                        KEYRING_SERVICE,
                        _keyring_username(profile),
                        creds.data_api_key.get_secret_value(),
                    )
                except Exception as err:
                    if use_keyring:
                        raise ConfigurationError(
                            f"Could not store the key of profile {profile!r} in the keyring "
                            f"({type(err).__name__})"
                        ) from None
                    logger.warning(
                        "Keyring refused the key of profile %r (%s); storing it in %s (mode 0600)",
                        profile,
                        type(err).__name__,
                        self._path,
                    )
                    kr = None
            if kr is not None:
                entry["key_in_keyring"] = True
                entry["key_hint"] = creds.masked_key
            else:
                entry["data_api_key"] = creds.data_api_key.get_secret_value()
            profiles[profile] = entry
            self._write(doc)
        was_in_keyring = isinstance(previous, dict) and previous.get("key_in_keyring") is True
        if kr is None and was_in_keyring:
            _delete_keyring_entry(profile)
        logger.debug(
            "Saved profile %r (%s) to %s", profile, "keyring" if kr else "file", self._path
        )
        return creds.with_(name=profile)

    def load(self, name: str) -> AppCredentials:
        """Return the credentials saved as profile ``name``.

        Raises:
            ConfigurationError: unknown profile (the message lists the known ones), a
                malformed entry, or a key that should be in the keyring but is not.
        """
        profiles = self._profiles()
        entry = profiles.get(name) if isinstance(name, str) else None
        if not isinstance(entry, dict):
            raise self._unknown(str(name), sorted(profiles))
        where = f"Profile {name!r} in {self._path}"
        if entry.get("key_in_keyring") is True:
            kr, why = _usable_keyring()
            if kr is None:
                raise ConfigurationError(
                    f"{where} keeps its key in the system keyring, but {why}. "
                    f"Re-add it with: moecohort profiles add {name}"
                )
            try:
                key = kr.get_password(KEYRING_SERVICE, _keyring_username(name))
            except Exception as err:
                raise ConfigurationError(
                    f"{where}: reading the keyring failed ({type(err).__name__})"
                ) from None
            if not key:
                raise ConfigurationError(
                    f"{where}: its key is missing from the keyring (service "
                    f"{KEYRING_SERVICE!r}, username {_keyring_username(name)!r}). "
                    f"Re-add it with: moecohort profiles add {name}"
                )
        else:
            key = entry.get("data_api_key")
            if not isinstance(key, str) or not key.strip():
                raise ConfigurationError(f"{where} has no data_api_key")
        workspace_id = entry.get("workspace_id")
        if not isinstance(workspace_id, str):
            raise ConfigurationError(f"{where} has no workspace_id")
        data_center = entry.get("data_center", "01")
        base_url = entry.get("base_url")
        try:
            creds = AppCredentials(
                workspace_id, key, data_center, base_url=base_url or None, name=name
            )
        except ConfigurationError as err:
            raise ConfigurationError(f"{where}: {err}") from None
        logger.debug("Loaded profile %r: %r", name, creds)
        return creds

    def names(self) -> builtins.list[str]:
        """The saved profile names, sorted."""
        return sorted(self._profiles())

    def exists(self, name: str) -> bool:
        """Whether a profile called ``name`` is saved."""
        return isinstance(self._profiles().get(name), dict)

    def info(self, name: str) -> ProfileInfo | None:
        """The saved profile ``name`` (masked key), or None."""
        return next((info for info in self.list() if info.name == name), None)

    def list(self) -> builtins.list[ProfileInfo]:
        """Every saved profile, sorted by name, with masked keys (the keyring is not read)."""
        infos = []
        for name, entry in sorted(self._profiles().items()):
            if not isinstance(entry, dict):
                continue
            in_keyring = entry.get("key_in_keyring") is True
            if in_keyring:
                hint = entry.get("key_hint")
                masked = hint if isinstance(hint, str) and hint.startswith(_MASK) else _MASK
            else:
                masked = mask_secret(str(entry.get("data_api_key") or "").strip())
            dc = str(entry.get("data_center", "01"))
            try:
                dc = normalize_data_center(dc)
                region = DATA_CENTERS[dc]
            except ConfigurationError:
                region = "invalid"
            base_url = entry.get("base_url")
            infos.append(
                ProfileInfo(
                    name=name,
                    workspace_id=str(entry.get("workspace_id", "")),
                    data_center=dc,
                    region=region,
                    base_url=base_url if isinstance(base_url, str) else None,
                    key_storage="keyring" if in_keyring else "file",
                    masked_key=masked,
                )
            )
        return infos

    def remove(self, name: str) -> None:
        """Delete profile ``name`` and, if its key is in the keyring, the keyring entry.

        Raises:
            ConfigurationError: unknown profile.
        """
        with self._locked():
            doc = self._read()
            profiles = doc.get("profiles", {})
            entry = profiles.get(name) if isinstance(name, str) else None
            if not isinstance(entry, dict):
                raise self._unknown(str(name), sorted(profiles))
            del profiles[name]
            self._write(doc)
        if entry.get("key_in_keyring") is True:
            _delete_keyring_entry(name)
        logger.debug("Removed profile %r from %s", name, self._path)


def load_profile(name: str) -> AppCredentials:
    """Load profile ``name`` from the default :class:`ProfileStore`."""
    return ProfileStore().load(name)


def save_profile(creds: AppCredentials, name: str | None = None, **kw: Any) -> AppCredentials:
    """Save ``creds`` in the default :class:`ProfileStore` (see :meth:`ProfileStore.save`)."""
    return ProfileStore().save(creds, name, **kw)


def list_profiles() -> list[ProfileInfo]:
    """The profiles of the default :class:`ProfileStore`, with masked keys."""
    return ProfileStore().list()


def remove_profile(name: str) -> None:
    """Remove profile ``name`` (and its keyring entry) from the default :class:`ProfileStore`."""
    ProfileStore().remove(name)


# --------------------------------------------------------------------------- resolution


def _prompt_line(label: str, default: str | None = None) -> str:
    suffix = f" [{default}]" if default else ""
    try:
        answer = input(f"{label}{suffix}: ").strip()
    except EOFError:
        raise ConfigurationError(f"No answer for {label!r}: no terminal to prompt on") from None
    return answer or (default or "")


def get_credentials(
    app: AppCredentials | str | None = None,
    *,
    profile: str | None = None,
    env_prefix: str | None = None,
    prompt: bool = False,
) -> AppCredentials:
    """Find credentials, the first source that has them winning.

    1. ``app``: an :class:`AppCredentials` is returned as is (a ``str`` is taken as a
       profile name);
    2. ``profile``: a saved profile (:func:`load_profile`);
    3. the environment: ``{env_prefix}_WORKSPACE_ID`` and friends
       (:meth:`AppCredentials.from_env`). With ``env_prefix=None`` the default
       ``MOECOHORT_*`` variables are used when any of them is set;
    4. with ``prompt=True``, ask on the terminal for what is still missing (the key
       with :func:`getpass.getpass`, never echoed).

    Raises:
        ConfigurationError: nothing found; the message explains the three ways to
            provide credentials. With an explicit ``env_prefix`` and ``prompt=False``
            the message names the missing variables.
    """
    if isinstance(app, AppCredentials):
        return app
    if isinstance(app, str):
        return load_profile(app)
    if app is not None:
        raise TypeError(f"app must be AppCredentials or a profile name, not {type(app).__name__}")
    if profile is not None:
        return load_profile(profile)

    prefix = DEFAULT_ENV_PREFIX if env_prefix is None else env_prefix
    names = _env_names(prefix)
    values = {field: os.environ.get(var, "").strip() for field, var in names.items()}
    if values["workspace_id"] and values["data_api_key"]:
        return _build_from_env(values, names, name=None)
    if not prompt:
        if env_prefix is not None or any(values.values()):
            return AppCredentials.from_env(prefix)  # raises, naming the missing variables
        raise ConfigurationError(
            "No MoEngage credentials given. Provide them in one of three ways: "
            "(1) pass AppCredentials(workspace_id, data_api_key, data_center); "
            f"(2) save a profile with '{_ADD_HINT}' and pass profile='NAME'; "
            f"(3) set the environment variables {names['workspace_id']} and "
            f"{names['data_api_key']} (optional: {names['data_center']}, default 01). "
            "Or pass prompt=True to be asked on the terminal."
        )

    workspace_id = values["workspace_id"] or _prompt_line("MoEngage workspace ID")
    if values["data_api_key"]:
        key = values["data_api_key"]
    else:
        try:
            key = getpass.getpass("MoEngage Data API key (input hidden): ")
        except EOFError:
            raise ConfigurationError("No Data API key entered: no terminal to prompt on") from None
    data_center = values["data_center"] or _prompt_line("Data center", "01")
    return AppCredentials(workspace_id, key, data_center, base_url=values["base_url"] or None)
