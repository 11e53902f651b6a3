"""Tests of moecohort.credentials: validation, masking, environment, profiles, keyring."""

from __future__ import annotations

import copy
import dataclasses
import getpass
import logging
import os
import pickle
import stat
import sys
from collections.abc import Iterator
from pathlib import Path

import keyring
import platformdirs
import pytest
from jaraco.classes.properties import classproperty
from keyring.backend import KeyringBackend
from keyring.backends import fail, null
from keyring.errors import PasswordDeleteError

from moecohort.credentials import (
    AppCredentials,
    ProfileInfo,
    ProfileStore,
    SecretStr,
    get_credentials,
    keyring_available,
    list_profiles,
    load_profile,
    mask_secret,
    normalize_data_center,
    remove_profile,
    save_profile,
)
from moecohort.errors import ConfigurationError, MoEngageError

if sys.version_info >= (3, 11):
    import tomllib
else:  # pragma: no cover
    import tomli as tomllib

KEY = "SECRETkeyZZ-q7Wm3Xv8Lp2Tn5Rs-9f2a"  # distinctive, ends in 9f2a
OTHER_KEY = "another-distinctive-key-0000-b7c1"
WS = "ABC123"
POSIX = os.name == "posix"


class MemoryKeyring(KeyringBackend):
    """In-memory keyring backend.

    ``priority`` raises unless the class is active, so keyring's own backend detection
    (which may run in this process later) never picks this class by itself.
    """

    active = False

    @classproperty
    def priority(cls) -> float:
        if not cls.active:
            raise RuntimeError("test backend: only usable through keyring.set_keyring")
        return 1

    def __init__(self) -> None:
        super().__init__()
        self.store: dict[tuple[str, str], str] = {}

    def get_password(self, service: str, username: str) -> str | None:
        return self.store.get((service, username))

    def set_password(self, service: str, username: str, password: str) -> None:
        self.store[(service, username)] = password

    def delete_password(self, service: str, username: str) -> None:
        try:
            del self.store[(service, username)]
        except KeyError:
            raise PasswordDeleteError(username) from None


class BrokenKeyring(MemoryKeyring):
    """A keyring that looks usable but refuses to store anything."""

    def set_password(self, service: str, username: str, password: str) -> None:
        raise keyring.errors.KeyringError("locked")


@pytest.fixture(autouse=True)
def _isolated(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> Iterator[Path]:
    """No MOECOHORT_* variables, a private config dir and no usable keyring by default."""
    for var in list(os.environ):
        if var.startswith("MOECOHORT"):
            monkeypatch.delenv(var)
    config_dir = tmp_path / "config"
    monkeypatch.setenv("MOECOHORT_CONFIG_DIR", str(config_dir))
    previous = keyring.get_keyring()
    keyring.set_keyring(fail.Keyring())
    try:
        yield config_dir
    finally:
        keyring.set_keyring(previous)


@pytest.fixture
def config_dir(_isolated: Path) -> Path:
    return _isolated


@pytest.fixture
def memory_keyring() -> Iterator[MemoryKeyring]:
    """Install the in-memory backend (the autouse fixture restores the original)."""
    MemoryKeyring.active = True
    backend = MemoryKeyring()
    keyring.set_keyring(backend)
    try:
        yield backend
    finally:
        MemoryKeyring.active = False


@pytest.fixture
def creds() -> AppCredentials:
    return AppCredentials(WS, KEY, "01", name="dest")


def _profiles_text(config_dir: Path) -> str:
    return (config_dir / "profiles.toml").read_text(encoding="utf-8")


def _mode(path: Path) -> int:
    return stat.S_IMODE(os.stat(path).st_mode)


# --------------------------------------------------------------------------- SecretStr


def test_mask_secret_keeps_last_four_of_long_values_only() -> None:
    assert mask_secret(KEY) == "****9f2a"
    assert mask_secret("x" * 11) == "****"
    assert mask_secret("abcdefgh9f2a") == "****9f2a"  # exactly 12 characters
    assert mask_secret("") == "****"
    assert mask_secret(None) == "****"
    assert mask_secret(SecretStr(KEY)) == "****9f2a"


def test_secretstr_shows_only_the_masked_form() -> None:
    secret = SecretStr(KEY)
    assert str(secret) == "****9f2a"
    assert repr(secret) == "SecretStr('****9f2a')"
    assert f"{secret}" == "****9f2a"
    assert f"{secret:>10}" == "  ****9f2a"
    assert "{}".format(secret) == "****9f2a"  # noqa: UP032
    assert "%s %r" % (secret, secret) == "****9f2a SecretStr('****9f2a')"
    assert secret.masked == "****9f2a"
    assert secret.get_secret_value() == KEY
    assert str(SecretStr("short")) == "****"


def test_secretstr_equality_hash_copy_and_pickle() -> None:
    secret = SecretStr(KEY)
    assert secret == SecretStr(KEY)
    assert secret != SecretStr(OTHER_KEY)
    assert secret != KEY  # only SecretStr compares equal to SecretStr
    assert hash(secret) == hash(SecretStr(KEY))
    assert len({secret, SecretStr(KEY)}) == 1
    assert SecretStr(secret) == secret
    for clone in (copy.copy(secret), copy.deepcopy(secret), pickle.loads(pickle.dumps(secret))):
        assert clone == secret
        assert clone.get_secret_value() == KEY
        assert KEY not in repr(clone)


def test_secretstr_has_no_dict_and_is_immutable() -> None:
    secret = SecretStr(KEY)
    with pytest.raises(TypeError):
        vars(secret)
    with pytest.raises(AttributeError):
        secret._secret = "x"  # type: ignore[misc]
    with pytest.raises(TypeError):
        SecretStr(123)  # type: ignore[arg-type]


# --------------------------------------------------------------------------- data centers


@pytest.mark.parametrize(
    ("spelling", "canonical"),
    [
        ("01", "01"),
        (1, "01"),
        ("1", "01"),
        ("DC-01", "01"),
        ("dc1", "01"),
        ("DC01", "01"),
        (" dc-01 ", "01"),
        ("dc_02", "02"),
        ("DC 03", "03"),
        (4, "04"),
        ("05", "05"),
        ("DC-06", "06"),
        ("dc-101", "101"),
        ("DC101", "101"),
        ("101", "101"),
        (101, "101"),
    ],
)
def test_every_data_center_spelling_is_normalised(spelling: str | int, canonical: str) -> None:
    assert normalize_data_center(spelling) == canonical
    assert AppCredentials(WS, KEY, spelling).data_center == canonical


@pytest.mark.parametrize(
    "bad", ["07", 0, 7, 100, 102, "us", "", "dc", "DC-1-1", "api-01", True, 1.0, None]
)
def test_unknown_data_center_lists_the_valid_ones(bad: object) -> None:
    with pytest.raises(ConfigurationError) as info:
        AppCredentials(WS, KEY, bad)  # type: ignore[arg-type]
    message = str(info.value)
    for code, region in [("01", "US"), ("02", "EU"), ("03", "India"), ("06", "Indonesia")]:
        assert f"{code} ({region})" in message
    assert "101" in message
    assert "dashboard" in message
    assert isinstance(info.value, MoEngageError)
    assert isinstance(info.value, ValueError)


def test_region_property() -> None:
    assert AppCredentials(WS, KEY, "02").region == "EU"
    assert AppCredentials(WS, KEY, 3).region == "India"
    assert AppCredentials(WS, KEY, 101).region == "not stated"


# --------------------------------------------------------------------------- hosts


def test_host_and_endpoint_for_01_and_101() -> None:
    dc01 = AppCredentials(WS, KEY)
    assert dc01.data_center == "01"
    assert dc01.host == "https://api-01.moengage.com"
    assert dc01.endpoint == "https://api-01.moengage.com/v1/integrations/cohortsync"
    dc101 = AppCredentials(WS, KEY, "dc-101")
    assert dc101.host == "https://api-101.moengage.com"
    assert "api-0101" not in dc101.endpoint
    assert dc101.endpoint == "https://api-101.moengage.com/v1/integrations/cohortsync"


@pytest.mark.parametrize(
    ("base_url", "host"),
    [
        ("http://127.0.0.1:8080", "http://127.0.0.1:8080"),
        ("http://127.5.5.5/", "http://127.5.5.5"),
        ("http://localhost:5000/", "http://localhost:5000"),
        ("http://LOCALHOST", "http://LOCALHOST"),
        ("http://[::1]:9000/", "http://[::1]:9000"),
        ("https://proxy.example.com", "https://proxy.example.com"),
        ("https://proxy.example.com/moengage/", "https://proxy.example.com/moengage"),
        ("HTTPS://10.1.2.3:8443", "https://10.1.2.3:8443"),
    ],
)
def test_base_url_allowed(base_url: str, host: str) -> None:
    app = AppCredentials(WS, KEY, base_url=base_url)
    assert app.host == host
    assert app.endpoint == host + "/v1/integrations/cohortsync"


@pytest.mark.parametrize(
    "base_url",
    [
        "http://example.com",
        "http://api-01.moengage.com/",
        "http://10.0.0.1:8080",
        "http://192.168.1.5",
        "http://localhost.evil.example",
        "http://127.0.0.1.nip.io",
    ],
)
def test_plain_http_refused_for_non_loopback_hosts(base_url: str) -> None:
    with pytest.raises(ConfigurationError, match=r"http://") as info:
        AppCredentials(WS, KEY, base_url=base_url)
    message = str(info.value)
    assert "https://" in message
    assert "unencrypted" in message
    assert "loopback" in message


@pytest.mark.parametrize(
    ("base_url", "fragment"),
    [
        ("ftp://example.com", "https://"),
        ("api-01.moengage.com", "https://"),
        ("https://", "host"),
        ("https://user:pw@example.com", "user name or password"),
        ("https://example.com/?x=1", "query"),
        ("https://example.com/#top", "fragment"),
        ("https://example.com:notaport", "not a valid URL"),
        ("https://api-01.moengage.com/v1/integrations/cohortsync", "appends"),
    ],
)
def test_invalid_base_url(base_url: str, fragment: str) -> None:
    with pytest.raises(ConfigurationError, match=fragment):
        AppCredentials(WS, KEY, base_url=base_url)


def test_empty_base_url_means_default_host() -> None:
    assert AppCredentials(WS, KEY, base_url="").base_url is None
    assert AppCredentials(WS, KEY, base_url="").host == "https://api-01.moengage.com"


# --------------------------------------------------------------------------- workspace / key


def test_workspace_id_and_key_are_stripped() -> None:
    app = AppCredentials(f"  {WS}\n", f" {KEY}\n")
    assert app.workspace_id == WS
    assert app.data_api_key.get_secret_value() == KEY
    assert AppCredentials(WS, SecretStr(KEY)).data_api_key == SecretStr(KEY)


@pytest.mark.parametrize(
    ("workspace_id", "fragment"),
    [
        ("", "empty"),
        ("   ", "empty"),
        ("ABC 123", "whitespace"),
        ("ABC\t123", "whitespace"),
        ("ABC:123", "':'"),
        (123, "string"),
    ],
)
def test_invalid_workspace_id(workspace_id: object, fragment: str) -> None:
    with pytest.raises(ConfigurationError, match=fragment):
        AppCredentials(workspace_id, KEY)  # type: ignore[arg-type]


@pytest.mark.parametrize("key", ["", "   ", "\n"])
def test_empty_key_refused(key: str) -> None:
    with pytest.raises(ConfigurationError, match="data_api_key is empty"):
        AppCredentials(WS, key)


def test_key_with_inner_whitespace_refused() -> None:
    with pytest.raises(ConfigurationError, match="whitespace"):
        AppCredentials(WS, KEY[:10] + " " + KEY[10:])


@pytest.mark.parametrize("key", ["abc\u2013def-0123456789", "ключ-0123456789ab"])
def test_non_ascii_keys_are_refused_without_echo(key: str) -> None:
    with pytest.raises(ConfigurationError, match="non-ASCII") as info:
        AppCredentials("WS", key)
    assert key not in str(info.value)


def test_non_ascii_workspace_id_is_refused() -> None:
    with pytest.raises(ConfigurationError, match="ASCII"):
        AppCredentials("WS\u2013A", "key-0123456789ab")


# --------------------------------------------------------------------------- the object


def test_repr_format(creds: AppCredentials) -> None:
    assert repr(creds) == (
        "AppCredentials(name='dest', workspace_id='ABC123', data_center='01' (US), "
        "data_api_key='****9f2a')"
    )
    local = AppCredentials(WS, KEY, 2, base_url="http://127.0.0.1:8080/")
    assert repr(local) == (
        "AppCredentials(workspace_id='ABC123', data_center='02' (EU), "
        "data_api_key='****9f2a', base_url='http://127.0.0.1:8080')"
    )
    assert str(creds) == repr(creds)


def test_basic_auth_and_masked_key(creds: AppCredentials) -> None:
    assert creds.basic_auth() == (WS, KEY)
    assert creds.masked_key == "****9f2a"
    assert isinstance(creds.data_api_key, SecretStr)


def test_frozen_replace_equality_and_hash(creds: AppCredentials) -> None:
    with pytest.raises(dataclasses.FrozenInstanceError):
        creds.workspace_id = "X"  # type: ignore[misc]
    moved = creds.with_(data_center="dc-02")
    assert moved.data_center == "02"
    assert moved.data_api_key == creds.data_api_key
    assert moved.name == "dest"
    assert dataclasses.replace(creds, data_api_key=OTHER_KEY).basic_auth() == (WS, OTHER_KEY)
    with pytest.raises(ConfigurationError):
        creds.with_(base_url="http://example.com")
    # the name is a label: it does not take part in equality
    assert creds == AppCredentials(WS, KEY, 1)
    assert hash(creds) == hash(AppCredentials(WS, KEY, 1))
    assert creds != AppCredentials(WS, OTHER_KEY)
    assert creds != AppCredentials(WS, KEY, 2)
    assert pickle.loads(pickle.dumps(creds)) == creds


# --------------------------------------------------------------------------- no leaks


def test_key_absent_from_every_rendering(creds: AppCredentials) -> None:
    local = creds.with_(base_url="http://localhost:1234")
    renderings = [
        repr(creds),
        str(creds),
        f"{creds}",
        f"{creds!r}",
        "{0} {0!r}".format(creds),  # noqa: UP032
        "%s %r" % (creds, creds),
        repr(local),
        str(dataclasses.asdict(creds)),
        repr(dataclasses.asdict(creds)),
        str(vars(creds)),
        str(dataclasses.astuple(creds)),
        str([creds, creds.data_api_key]),
        repr(creds.data_api_key),
        str(creds.data_api_key),
        f"{creds.data_api_key}",
        str(copy.deepcopy(creds)),
    ]
    for text in renderings:
        assert KEY not in text
        assert "9f2a" in text


def test_key_absent_from_logging(
    caplog: pytest.LogCaptureFixture, creds: AppCredentials, memory_keyring: MemoryKeyring
) -> None:
    caplog.set_level(logging.DEBUG)
    log = logging.getLogger("moecohort")
    log.info("creds %r / %s", creds, creds)
    log.info("key %s %r", creds.data_api_key, creds.data_api_key)
    log.info("dict %s", dataclasses.asdict(creds))
    store = ProfileStore()
    store.save(creds)
    store.load("dest")
    store.save(creds, "plain", use_keyring=False)
    store.load("plain")
    store.list()
    store.remove("dest")
    store.remove("plain")
    assert caplog.records
    assert KEY not in caplog.text
    for record in caplog.records:
        assert KEY not in record.getMessage()


def test_key_absent_from_exception_messages() -> None:
    attempts = [
        lambda: AppCredentials(f"{WS}:{KEY}", KEY),  # a pasted "user:password"
        lambda: AppCredentials(f"{WS} {KEY}", KEY),
        lambda: AppCredentials(WS, f"{KEY} tail"),
        lambda: AppCredentials(WS, KEY, KEY),  # the key given as the data center
        lambda: AppCredentials(WS, KEY, base_url=f"http://user:{KEY}@example.com"),
        lambda: AppCredentials(WS, KEY, base_url=f"https://user:{KEY}@example.com"),
        lambda: AppCredentials(WS, KEY, base_url=f"https://example.com:{KEY}"),
        lambda: AppCredentials(WS, KEY, base_url=f"https://example.com/?key={KEY}"),
        lambda: ProfileStore().save(AppCredentials(WS, KEY), "x", use_keyring=True),
        lambda: AppCredentials.from_env(
            "APP", {"APP_WORKSPACE_ID": WS, "APP_DATA_API_KEY": KEY, "APP_DATA_CENTER": KEY}
        ),
        lambda: AppCredentials.from_env(
            "APP", {"APP_WORKSPACE_ID": KEY + ":", "APP_DATA_API_KEY": KEY}
        ),
    ]
    for attempt in attempts:
        with pytest.raises(ConfigurationError) as info:
            attempt()
        assert KEY not in str(info.value)
        assert KEY not in repr(info.value)


def test_a_key_given_as_a_profile_name_is_not_echoed() -> None:
    key_like = "my-real-data-api-key-9f2a77"
    with pytest.raises(ConfigurationError) as info:
        get_credentials(key_like)
    assert key_like not in str(info.value)
    assert "****" in str(info.value)
    with pytest.raises(ConfigurationError, match="'dest'"):
        get_credentials(profile="dest")  # short names are shown as typed


# --------------------------------------------------------------------------- environment


@pytest.mark.parametrize("prefix", ["MOECOHORT_DEST", "MOECOHORT_DEST_"])
def test_from_env_with_prefix(monkeypatch: pytest.MonkeyPatch, prefix: str) -> None:
    monkeypatch.setenv("MOECOHORT_DEST_WORKSPACE_ID", WS)
    monkeypatch.setenv("MOECOHORT_DEST_DATA_API_KEY", KEY)
    monkeypatch.setenv("MOECOHORT_DEST_DATA_CENTER", "DC-101")
    app = AppCredentials.from_env(prefix)
    assert app.basic_auth() == (WS, KEY)
    assert app.data_center == "101"
    assert app.base_url is None


def test_from_env_defaults_and_base_url(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("MOECOHORT_WORKSPACE_ID", WS)
    monkeypatch.setenv("MOECOHORT_DATA_API_KEY", KEY)
    app = AppCredentials.from_env()
    assert app.data_center == "01"
    monkeypatch.setenv("MOECOHORT_BASE_URL", "http://127.0.0.1:8080/")
    assert AppCredentials.from_env().host == "http://127.0.0.1:8080"


def test_from_env_reads_a_given_mapping_only(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("SRC_WORKSPACE_ID", "FROM_OS")
    environ = {"SRC_WORKSPACE_ID": WS, "SRC_DATA_API_KEY": KEY, "SRC_DATA_CENTER": "2"}
    app = AppCredentials.from_env("SRC", environ, name="source")
    assert (app.workspace_id, app.data_center, app.name) == (WS, "02", "source")


def test_from_env_missing_names_exactly_the_variables(monkeypatch: pytest.MonkeyPatch) -> None:
    with pytest.raises(ConfigurationError) as info:
        AppCredentials.from_env("MOECOHORT_DEST")
    message = str(info.value)
    assert "MOECOHORT_DEST_WORKSPACE_ID and MOECOHORT_DEST_DATA_API_KEY" in message
    assert "MOECOHORT_DEST_DATA_CENTER" in message  # mentioned as optional

    monkeypatch.setenv("MOECOHORT_DEST_WORKSPACE_ID", WS)
    monkeypatch.setenv("MOECOHORT_DEST_DATA_API_KEY", "   ")  # blank counts as missing
    with pytest.raises(ConfigurationError) as info:
        AppCredentials.from_env("MOECOHORT_DEST")
    message = str(info.value)
    assert message.startswith("Missing environment variable: MOECOHORT_DEST_DATA_API_KEY.")
    assert "MOECOHORT_DEST_WORKSPACE_ID" not in message


def test_from_env_invalid_value_names_the_variable(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("MOECOHORT_WORKSPACE_ID", WS)
    monkeypatch.setenv("MOECOHORT_DATA_API_KEY", KEY)
    monkeypatch.setenv("MOECOHORT_DATA_CENTER", "eu")
    with pytest.raises(ConfigurationError, match=r"^MOECOHORT_DATA_CENTER: .*02 \(EU\)"):
        AppCredentials.from_env()
    monkeypatch.setenv("MOECOHORT_DATA_CENTER", "02")
    monkeypatch.setenv("MOECOHORT_BASE_URL", "http://example.com")
    with pytest.raises(ConfigurationError, match=r"^MOECOHORT_BASE_URL: "):
        AppCredentials.from_env()


def test_from_env_rejects_empty_prefix() -> None:
    with pytest.raises(ConfigurationError, match="prefix"):
        AppCredentials.from_env("_")


# --------------------------------------------------------------------------- profiles


def test_profile_round_trip_in_file(config_dir: Path, creds: AppCredentials) -> None:
    assert not keyring_available()
    store = ProfileStore()
    assert store.path == config_dir / "profiles.toml"
    saved = store.save(creds.with_(data_center=101, base_url="https://proxy.example/moe/"))
    assert saved.name == "dest"
    loaded = store.load("dest")
    assert loaded == saved
    assert loaded.name == "dest"
    assert loaded.data_center == "101"
    assert loaded.base_url == "https://proxy.example/moe"
    assert loaded.basic_auth() == (WS, KEY)
    doc = tomllib.loads(_profiles_text(config_dir))
    assert doc["profiles"]["dest"]["data_api_key"] == KEY
    assert "key_in_keyring" not in doc["profiles"]["dest"]
    assert store.names() == ["dest"]
    assert store.exists("dest")
    assert not store.exists("other")


@pytest.mark.skipif(not POSIX, reason="POSIX file modes")
def test_profile_file_mode_0600_and_dir_0700(config_dir: Path, creds: AppCredentials) -> None:
    ProfileStore().save(creds)
    assert _mode(config_dir / "profiles.toml") == 0o600
    assert _mode(config_dir) == 0o700
    # a file someone loosened is tightened again by the next write
    os.chmod(config_dir / "profiles.toml", 0o644)
    ProfileStore().save(creds, "second")
    assert _mode(config_dir / "profiles.toml") == 0o600
    leftovers = [p.name for p in config_dir.iterdir() if p.name.endswith(".tmp")]
    assert leftovers == []


@pytest.mark.skipif(not POSIX, reason="POSIX file modes")
def test_existing_directory_mode_is_left_alone(tmp_path: Path, creds: AppCredentials) -> None:
    shared = tmp_path / "shared"
    shared.mkdir(mode=0o755)
    os.chmod(shared, 0o755)
    ProfileStore(shared).save(creds)
    assert _mode(shared) == 0o755
    assert _mode(shared / "profiles.toml") == 0o600


@pytest.mark.skipif(not POSIX, reason="POSIX file modes")
def test_loose_file_with_keys_warns(
    config_dir: Path, creds: AppCredentials, caplog: pytest.LogCaptureFixture
) -> None:
    ProfileStore().save(creds)
    os.chmod(config_dir / "profiles.toml", 0o644)
    with caplog.at_level(logging.WARNING, logger="moecohort"):
        ProfileStore().load("dest")
    assert "chmod 600" in caplog.text


def test_profile_store_path_argument(tmp_path: Path, creds: AppCredentials) -> None:
    as_dir = ProfileStore(tmp_path / "a")
    assert as_dir.path == tmp_path / "a" / "profiles.toml"
    as_file = ProfileStore(tmp_path / "b" / "team.toml")
    assert as_file.path == tmp_path / "b" / "team.toml"
    as_file.save(creds)
    assert as_file.load("dest") == creds
    assert not as_dir.exists("dest")


def test_default_path_uses_platformdirs(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("MOECOHORT_CONFIG_DIR")
    expected = platformdirs.user_config_path("moecohort") / "profiles.toml"
    assert ProfileStore().path == expected


def test_profile_with_keyring_keeps_key_out_of_file(
    config_dir: Path, creds: AppCredentials, memory_keyring: MemoryKeyring
) -> None:
    assert keyring_available()
    ProfileStore().save(creds)
    text = _profiles_text(config_dir)
    assert KEY not in text
    entry = tomllib.loads(text)["profiles"]["dest"]
    assert entry["key_in_keyring"] is True
    assert "data_api_key" not in entry
    assert memory_keyring.store == {("moecohort", "profile:dest"): KEY}
    loaded = ProfileStore().load("dest")
    assert loaded.basic_auth() == (WS, KEY)
    if POSIX:
        assert _mode(config_dir / "profiles.toml") == 0o600


def test_use_keyring_false_forces_the_file(
    config_dir: Path, creds: AppCredentials, memory_keyring: MemoryKeyring
) -> None:
    ProfileStore().save(creds, use_keyring=False)
    assert KEY in _profiles_text(config_dir)
    assert memory_keyring.store == {}


def test_no_keyring_env_disables_keyring(
    monkeypatch: pytest.MonkeyPatch,
    config_dir: Path,
    creds: AppCredentials,
    memory_keyring: MemoryKeyring,
) -> None:
    monkeypatch.setenv("MOECOHORT_NO_KEYRING", "1")
    assert not keyring_available()
    ProfileStore().save(creds)
    assert KEY in _profiles_text(config_dir)
    assert memory_keyring.store == {}
    with pytest.raises(ConfigurationError, match="MOECOHORT_NO_KEYRING"):
        ProfileStore().save(creds, use_keyring=True)


def test_keyring_profile_unreadable_when_keyring_disabled(
    monkeypatch: pytest.MonkeyPatch, creds: AppCredentials, memory_keyring: MemoryKeyring
) -> None:
    ProfileStore().save(creds)
    monkeypatch.setenv("MOECOHORT_NO_KEYRING", "yes")
    with pytest.raises(ConfigurationError, match=r"keyring.*MOECOHORT_NO_KEYRING"):
        ProfileStore().load("dest")


def test_keyring_entry_missing(creds: AppCredentials, memory_keyring: MemoryKeyring) -> None:
    ProfileStore().save(creds)
    memory_keyring.store.clear()
    with pytest.raises(ConfigurationError, match="missing from the keyring") as info:
        ProfileStore().load("dest")
    assert "moecohort profiles add dest" in str(info.value)


@pytest.mark.parametrize("backend", [fail.Keyring, null.Keyring])
def test_unusable_keyring_falls_back_to_file(
    config_dir: Path, creds: AppCredentials, backend: type[KeyringBackend]
) -> None:
    keyring.set_keyring(backend())
    assert not keyring_available()
    ProfileStore().save(creds)
    assert KEY in _profiles_text(config_dir)
    assert ProfileStore().load("dest").basic_auth() == (WS, KEY)
    with pytest.raises(ConfigurationError, match=r"Cannot store the key .* in a keyring"):
        ProfileStore().save(creds, use_keyring=True)


def test_keyring_not_installed_falls_back_to_file(
    monkeypatch: pytest.MonkeyPatch, config_dir: Path, creds: AppCredentials
) -> None:
    monkeypatch.setitem(sys.modules, "keyring", None)  # makes "import keyring" fail
    assert not keyring_available()
    ProfileStore().save(creds)
    assert KEY in _profiles_text(config_dir)
    with pytest.raises(ConfigurationError, match="not installed"):
        ProfileStore().save(creds, use_keyring=True)


def test_keyring_that_refuses_falls_back_to_file(
    config_dir: Path, creds: AppCredentials, memory_keyring: MemoryKeyring
) -> None:
    keyring.set_keyring(BrokenKeyring())
    ProfileStore().save(creds)
    assert KEY in _profiles_text(config_dir)
    with pytest.raises(ConfigurationError, match="Could not store"):
        ProfileStore().save(creds, use_keyring=True)


def test_moving_a_profile_out_of_the_keyring_deletes_the_entry(
    creds: AppCredentials, memory_keyring: MemoryKeyring
) -> None:
    ProfileStore().save(creds)
    assert memory_keyring.store
    ProfileStore().save(creds, use_keyring=False)
    assert memory_keyring.store == {}
    assert ProfileStore().load("dest").basic_auth() == (WS, KEY)


def test_remove_profile_and_its_keyring_entry(
    creds: AppCredentials, memory_keyring: MemoryKeyring
) -> None:
    store = ProfileStore()
    store.save(creds)
    store.save(creds, "plain", use_keyring=False)
    assert store.names() == ["dest", "plain"]
    store.remove("dest")
    assert memory_keyring.store == {}
    assert store.names() == ["plain"]
    store.remove("plain")
    assert store.names() == []
    with pytest.raises(ConfigurationError, match="Unknown profile 'plain'"):
        store.remove("plain")


def test_unknown_profile_lists_known_names_and_how_to_add() -> None:
    store = ProfileStore()
    with pytest.raises(ConfigurationError) as info:
        store.load("dest")
    assert "none yet" in str(info.value)
    assert "moecohort profiles add NAME" in str(info.value)
    store.save(AppCredentials(WS, KEY), "source")
    store.save(AppCredentials(WS, OTHER_KEY), "prod-eu")
    with pytest.raises(ConfigurationError) as info:
        store.load("dest")
    message = str(info.value)
    assert "Unknown profile 'dest'" in message
    assert "'prod-eu', 'source'" in message
    assert "moecohort profiles add NAME" in message


def test_list_shows_masked_keys(creds: AppCredentials, memory_keyring: MemoryKeyring) -> None:
    store = ProfileStore()
    store.save(creds)
    store.save(AppCredentials("XYZ", OTHER_KEY, 2), "plain", use_keyring=False)
    infos = store.list()
    assert infos == [
        ProfileInfo("dest", WS, "01", "US", None, "keyring", "****9f2a"),
        ProfileInfo("plain", "XYZ", "02", "EU", None, "file", "****b7c1"),
    ]
    assert KEY not in str(infos) and OTHER_KEY not in str([i.to_dict() for i in infos])
    assert infos[1].to_dict()["masked_key"] == "****b7c1"


def test_save_needs_a_valid_name_and_respects_overwrite(creds: AppCredentials) -> None:
    store = ProfileStore()
    with pytest.raises(ConfigurationError, match="Invalid profile name"):
        store.save(creds.with_(name=None))
    for bad in ["", "has space", "../up", "-dash", "x" * 65]:
        with pytest.raises(ConfigurationError, match="Invalid profile name"):
            store.save(creds, bad)
    store.save(creds, "dest")
    store.save(creds.with_(data_center=2), "dest")  # overwrite by default
    assert store.load("dest").data_center == "02"
    with pytest.raises(ConfigurationError, match="already exists"):
        store.save(creds, "dest", overwrite=False)


def test_other_profiles_and_settings_survive_a_save(config_dir: Path) -> None:
    config_dir.mkdir()
    (config_dir / "profiles.toml").write_text(
        'default = "src"\n\n[profiles.src]\nworkspace_id = "SRC1"\n'
        f'data_center = "03"\ndata_api_key = "{OTHER_KEY}"\n',
        encoding="utf-8",
    )
    ProfileStore().save(AppCredentials(WS, KEY), "dest")
    doc = tomllib.loads(_profiles_text(config_dir))
    assert doc["default"] == "src"
    assert sorted(doc["profiles"]) == ["dest", "src"]
    assert ProfileStore().load("src").basic_auth() == ("SRC1", OTHER_KEY)


def test_broken_profiles_file(config_dir: Path) -> None:
    config_dir.mkdir()
    path = config_dir / "profiles.toml"
    path.write_text("[profiles.dest\n", encoding="utf-8")
    with pytest.raises(ConfigurationError, match="not valid TOML"):
        ProfileStore().load("dest")
    path.write_text('[profiles.dest]\nworkspace_id = "W"\n', encoding="utf-8")
    with pytest.raises(ConfigurationError, match="no data_api_key"):
        ProfileStore().load("dest")
    path.write_text(
        f'[profiles.dest]\nworkspace_id = "W"\ndata_api_key = "{KEY}"\ndata_center = "9"\n',
        encoding="utf-8",
    )
    with pytest.raises(ConfigurationError, match=r"Profile 'dest' in .*Unknown MoEngage data"):
        ProfileStore().load("dest")


def test_module_level_helpers(config_dir: Path, creds: AppCredentials) -> None:
    saved = save_profile(creds, "dest", use_keyring=False)
    assert saved.name == "dest"
    assert (config_dir / "profiles.toml").exists()
    assert load_profile("dest") == creds
    assert [info.name for info in list_profiles()] == ["dest"]
    remove_profile("dest")
    assert list_profiles() == []


# --------------------------------------------------------------------------- get_credentials


def _set_env(monkeypatch: pytest.MonkeyPatch, prefix: str, workspace: str, key: str) -> None:
    monkeypatch.setenv(f"{prefix}_WORKSPACE_ID", workspace)
    monkeypatch.setenv(f"{prefix}_DATA_API_KEY", key)


def test_get_credentials_precedence(monkeypatch: pytest.MonkeyPatch) -> None:
    explicit = AppCredentials("EXPLICIT", KEY)
    save_profile(AppCredentials("PROFILE", KEY), "dest")
    _set_env(monkeypatch, "MOECOHORT", "ENV", KEY)
    _set_env(monkeypatch, "MOECOHORT_DEST", "ENVDEST", KEY)

    assert get_credentials(explicit, profile="dest", env_prefix="MOECOHORT_DEST") is explicit
    assert get_credentials(profile="dest", env_prefix="MOECOHORT_DEST").workspace_id == "PROFILE"
    assert get_credentials("dest").workspace_id == "PROFILE"  # a str is a profile name
    assert get_credentials(env_prefix="MOECOHORT_DEST").workspace_id == "ENVDEST"
    assert get_credentials().workspace_id == "ENV"  # default MOECOHORT_* variables


def test_get_credentials_nothing_found_explains_three_ways() -> None:
    with pytest.raises(ConfigurationError) as info:
        get_credentials()
    message = str(info.value)
    assert "AppCredentials(" in message
    assert "moecohort profiles add NAME" in message
    assert "MOECOHORT_WORKSPACE_ID" in message and "MOECOHORT_DATA_API_KEY" in message
    assert "prompt=True" in message


def test_get_credentials_with_prefix_names_missing_variables() -> None:
    with pytest.raises(ConfigurationError, match="MOECOHORT_DEST_WORKSPACE_ID and"):
        get_credentials(env_prefix="MOECOHORT_DEST")


def test_get_credentials_partial_default_env_names_the_gap(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setenv("MOECOHORT_WORKSPACE_ID", WS)
    with pytest.raises(ConfigurationError, match=r"^Missing environment variable: MOECOHORT_DATA"):
        get_credentials()


def test_get_credentials_unknown_profile() -> None:
    with pytest.raises(ConfigurationError, match="Unknown profile 'nope'"):
        get_credentials(profile="nope")


def test_get_credentials_rejects_other_types() -> None:
    with pytest.raises(TypeError):
        get_credentials(42)  # type: ignore[arg-type]


def test_get_credentials_prompts_with_getpass(monkeypatch: pytest.MonkeyPatch) -> None:
    answers = iter([WS, "dc2"])
    prompts: list[str] = []

    def fake_input(prompt: str = "") -> str:
        prompts.append(prompt)
        return next(answers)

    def fake_getpass(prompt: str = "Password: ", stream: object = None) -> str:
        prompts.append(prompt)
        return KEY

    monkeypatch.setattr("builtins.input", fake_input)
    monkeypatch.setattr(getpass, "getpass", fake_getpass)
    app = get_credentials(prompt=True)
    assert app.basic_auth() == (WS, KEY)
    assert app.data_center == "02"
    assert any("Data API key" in p for p in prompts)
    assert not any(KEY in p for p in prompts)


def test_get_credentials_prompts_only_for_what_env_lacks(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setenv("MOECOHORT_DEST_WORKSPACE_ID", WS)
    monkeypatch.setenv("MOECOHORT_DEST_DATA_CENTER", "101")

    def no_input(prompt: str = "") -> str:
        raise AssertionError(f"unexpected prompt {prompt!r}")

    monkeypatch.setattr("builtins.input", no_input)
    monkeypatch.setattr(getpass, "getpass", lambda prompt="", stream=None: KEY)
    app = get_credentials(env_prefix="MOECOHORT_DEST", prompt=True)
    assert (app.workspace_id, app.data_center) == (WS, "101")


def test_get_credentials_prompt_without_terminal(monkeypatch: pytest.MonkeyPatch) -> None:
    def eof(prompt: str = "") -> str:
        raise EOFError

    monkeypatch.setattr("builtins.input", eof)
    with pytest.raises(ConfigurationError, match="no terminal"):
        get_credentials(prompt=True)
