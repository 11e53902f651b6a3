"""Named credentials: :class:`ProfileStore` (``profiles.toml``) and the system keyring.

A profile is an :class:`~moecohort.credentials.AppCredentials` saved under a name in
``profiles.toml`` in the user's config directory (or the directory named by
``MOECOHORT_CONFIG_DIR``), mode 0600. The key goes to the system keyring when one is
usable (``MOECOHORT_NO_KEYRING=1`` turns that off); the file then holds a masked hint.
The module-level :func:`save_profile`, :func:`load_profile`, :func:`list_profiles` and
:func:`remove_profile` use the default store.
"""

from __future__ import annotations

import builtins
import contextlib
import dataclasses
import logging
import os
import re
import sys
import tempfile
from collections.abc import Iterator, Mapping
from pathlib import Path
from typing import Any, Literal

import filelock
import platformdirs
import tomli_w

from .._constants import DATA_CENTERS
from ..errors import ConfigurationError
from .app import AppCredentials, normalize_data_center, show_invalid
from .secret import MASK, mask_secret

if sys.version_info >= (3, 11):
    import tomllib
else:  # pragma: no cover - exercised on Python 3.10 only
    import tomli as tomllib

__all__ = [
    "CONFIG_DIR_ENV",
    "KEYRING_SERVICE",
    "NO_KEYRING_ENV",
    "PROFILES_FILENAME",
    "ProfileInfo",
    "ProfileStore",
    "keyring_available",
    "list_profiles",
    "load_profile",
    "remove_profile",
    "save_profile",
]

logger = logging.getLogger("moecohort")

#: Environment variable that overrides the directory holding ``profiles.toml``.
CONFIG_DIR_ENV = "MOECOHORT_CONFIG_DIR"
#: Environment variable that, set to ``1``/``true``/``yes``/``on``, disables keyring use.
NO_KEYRING_ENV = "MOECOHORT_NO_KEYRING"
#: Name of the profiles file inside the config directory.
PROFILES_FILENAME = "profiles.toml"
#: Keyring service name; the keyring username is ``profile:<name>``.
KEYRING_SERVICE = "moecohort"
#: The command that adds a profile. Shared with :mod:`.resolve`, whose "no credentials"
#: message suggests it.
ADD_PROFILE_HINT = "moecohort profiles add NAME"

_TRUTHY = frozenset({"1", "true", "yes", "on"})
_PROFILE_NAME = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.-]{0,63}$")


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
        shown = show_invalid(name, limit=16)
        return ConfigurationError(
            f"Unknown profile {shown}. Known profiles: {listed} (in {self._path}). "
            f"Add one with: {ADD_PROFILE_HINT}"
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
            f"Edit with '{ADD_PROFILE_HINT}'.\n" + tomli_w.dumps(doc)
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
                    "Save with use_keyring=False to keep it in the 0600 profiles file.",
                    setting="use_keyring",
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
            raise ConfigurationError(f"{where}: {err}", setting=err.setting) from None
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
                masked = hint if isinstance(hint, str) and hint.startswith(MASK) else MASK
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
