"""Finding credentials: :func:`get_credentials`.

Credentials come from one of three places, the first that has them winning:

* an :class:`~moecohort.credentials.AppCredentials` built in code;
* a named profile saved with :class:`~moecohort.credentials.ProfileStore`;
* environment variables, ``MOECOHORT_WORKSPACE_ID``, ``MOECOHORT_DATA_API_KEY``,
  ``MOECOHORT_DATA_CENTER`` and ``MOECOHORT_BASE_URL`` (or another prefix).

With ``prompt=True`` what is still missing is asked for on the terminal (the key with
:func:`getpass.getpass`, never echoed).
"""

from __future__ import annotations

import getpass
import os

from ..errors import ConfigurationError
from .app import (
    DEFAULT_ENV_PREFIX,
    AppCredentials,
    build_from_env,
    env_names,
    missing_env_error,
    read_env,
)
from .profiles import ADD_PROFILE_HINT, load_profile

__all__ = ["get_credentials"]


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
    names = env_names(prefix)
    values = read_env(names, os.environ)
    missing = missing_env_error(names, values)
    if missing is None:
        return build_from_env(values, names, name=None)
    if not prompt:
        if env_prefix is not None or any(values.values()):
            raise missing
        raise ConfigurationError(
            "No MoEngage credentials given. Provide them in one of three ways: "
            "(1) pass AppCredentials(workspace_id, data_api_key, data_center); "
            f"(2) save a profile with '{ADD_PROFILE_HINT}' and pass profile='NAME'; "
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
