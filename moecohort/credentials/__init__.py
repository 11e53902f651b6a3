"""Credentials for MoEngage workspaces (apps): validation, masking and storage.

Four modules, each importing only from those above it:

* :mod:`.secret`: :class:`SecretStr` and :func:`mask_secret`, so a key never shows;
* :mod:`.app`: :class:`AppCredentials` (workspace ID, Data API key, data center,
  optional base URL), the validators and :meth:`AppCredentials.from_env`;
* :mod:`.profiles`: named credentials in ``profiles.toml`` (:class:`ProfileStore`),
  the key in the system keyring when one is usable;
* :mod:`.resolve`: :func:`get_credentials`, which picks the first source that has
  credentials: an argument, a profile, the environment, then (``prompt=True``) the
  terminal.
"""

from __future__ import annotations

from .app import DEFAULT_ENV_PREFIX, AppCredentials, normalize_data_center
from .profiles import (
    CONFIG_DIR_ENV,
    KEYRING_SERVICE,
    NO_KEYRING_ENV,
    PROFILES_FILENAME,
    ProfileInfo,
    ProfileStore,
    keyring_available,
    list_profiles,
    load_profile,
    remove_profile,
    save_profile,
)
from .resolve import get_credentials
from .secret import SecretStr, mask_secret

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
