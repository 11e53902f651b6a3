"""The notebook widgets and charts, driven from Python the way a browser drives them.

A browser changes a widget by sending the kernel an ``update`` comm message, which
ipywidgets applies with ``Widget._handle_msg`` -> ``set_state`` (property lock held);
``type_into`` below does exactly that. What the kernel sends back to the browser goes
through ``Widget._send``, which ``sent`` records.
"""

from __future__ import annotations

import base64
import json
import re
import subprocess
import sys
import urllib.parse
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import ipywidgets
import matplotlib
import pandas as pd
import pytest
from ipywidgets.widgets.widget_selection import _Selection
from support import HoldingServer

import moecohort as mc
from moecohort import widgets as mw
from moecohort.credentials import ProfileStore
from moecohort.emulator import Emulator
from moecohort.widgets import push_panel
from moecohort.widgets.credentials import SecretField

matplotlib.use("Agg")

KEY = "typed-key-7f3a9c2e51d4"
WS = "WS-WIDGETS"
USERS = ["u1", "u2", "u3", "u4"]


# --------------------------------------------------------------------------- helpers
def type_into(widget: ipywidgets.Widget, value: Any) -> None:
    """What the browser does when the user edits a field: an 'update' comm message
    (selection widgets such as dropdowns sync the chosen option's index)."""
    if isinstance(widget, _Selection):
        state = {"index": [v for _label, v in widget._options_full].index(value)}
    else:
        state = {"value": value}
    message = {"method": "update", "state": state, "buffer_paths": []}
    widget._handle_msg({"content": {"data": message}, "buffers": []})
    # ipywidgets logs (and swallows) errors in handlers: make sure the update landed.
    assert widget.value == value or isinstance(widget, SecretField)


def html_text(widget: ipywidgets.HTML) -> str:
    return re.sub(r"<[^>]+>", "", str(widget.value)).replace("&#x27;", "'").replace("&quot;", '"')


@pytest.fixture
def sent(monkeypatch: pytest.MonkeyPatch) -> list[tuple[str, dict[str, Any]]]:
    """Messages the kernel sends to the browser: (model id, message)."""
    log: list[tuple[str, dict[str, Any]]] = []
    original = ipywidgets.Widget._send

    def record(self: ipywidgets.Widget, msg: dict[str, Any], buffers: Any = None) -> None:
        log.append((self.model_id, json.loads(json.dumps(msg, default=str))))
        original(self, msg, buffers=buffers)

    monkeypatch.setattr(ipywidgets.Widget, "_send", record)
    return log


@pytest.fixture(autouse=True)
def config_dir(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    folder = tmp_path / "config"
    monkeypatch.setenv("MOECOHORT_CONFIG_DIR", str(folder))
    monkeypatch.setenv("MOECOHORT_NO_KEYRING", "1")
    return folder


@pytest.fixture
def emu(moe_emulator: Emulator) -> Emulator:
    moe_emulator.add_workspace(WS, KEY, users=USERS)
    return moe_emulator


def filled(emu: Emulator, **kwargs: Any) -> mw.CredentialsPicker:
    picker = mw.CredentialsPicker(**kwargs)
    type_into(picker.workspace_field, WS)
    type_into(picker.base_url_field, emu.url)
    type_into(picker.key_field, KEY)
    return picker


# --------------------------------------------------------------------------- import hygiene
def test_import_moecohort_needs_neither_ipywidgets_nor_matplotlib() -> None:
    code = (
        "import sys, moecohort, moecohort.charts\n"
        "assert 'ipywidgets' not in sys.modules, 'ipywidgets imported'\n"
        "assert 'matplotlib' not in sys.modules, 'matplotlib imported'\n"
    )
    subprocess.run([sys.executable, "-c", code], check=True)


def test_data_center_dropdown_is_labelled_with_regions() -> None:
    assert [label for label, _ in mw.DATA_CENTER_OPTIONS] == [
        "01 (US)",
        "02 (EU)",
        "03 (India)",
        "04 (US)",
        "05 (Singapore)",
        "06 (Indonesia)",
        "101",
    ]
    picker = mw.CredentialsPicker()
    assert picker.data_center_dropdown.options == tuple(mw.DATA_CENTER_OPTIONS)
    assert picker.data_center_dropdown.value == "01"


# --------------------------------------------------------------------------- the picker
def test_empty_picker_says_what_is_missing() -> None:
    picker = mw.CredentialsPicker(title="Destination app")
    assert picker.app is None
    assert "No Data API key" in (picker.problem or "")
    with pytest.raises(mc.ConfigurationError, match="No Data API key"):
        _ = picker.credentials
    assert "Destination app" in picker.title_html.value
    picker.test_button.click()  # incomplete: says so, sends nothing
    assert "No Data API key" in html_text(picker.status)


def test_filling_the_fields_gives_credentials(emu: Emulator) -> None:
    picker = filled(emu)
    type_into(picker.data_center_dropdown, "02")
    type_into(picker.name_field, "app-b")
    creds = picker.credentials
    assert creds == mc.AppCredentials(WS, KEY, "02", base_url=emu.url)
    assert creds.name == "app-b" and creds.region == "EU"
    assert picker.app == creds
    assert picker.masked_key == "****51d4" and picker.has_key
    assert WS in picker.summary.value and emu.url in picker.summary.value


def test_typed_key_leaves_the_widget_model_at_once(
    sent: list[tuple[str, dict[str, Any]]],
) -> None:
    picker = mw.CredentialsPicker()
    field = picker.key_field
    type_into(field, f"  {KEY}\t")  # pasted with blanks around it
    # Gone from the model, in the kernel and in what the browser is told ...
    assert field.value == "" and field.get_state()["value"] == ""
    to_browser = [m for mid, m in sent if mid == field.model_id and m.get("method") == "update"]
    assert {"value": ""} in [m["state"] for m in to_browser]
    assert all(KEY not in json.dumps(m) for _mid, m in sent), "the key was sent to the browser"
    # ... no echo of it either (ipywidgets echoes received values by default) ...
    assert not [m for mid, m in sent if mid == field.model_id and m.get("method") == "echo_update"]
    # ... held by the kernel, shown masked only.
    assert picker._key is not None and picker._key.get_secret_value() == KEY
    assert "****51d4" in picker.key_display.value and field.placeholder == "held: ****51d4"
    state = json.dumps(ipywidgets.Widget.get_manager_state())
    assert KEY not in state
    assert "****51d4" in state
    assert KEY not in repr(picker) and KEY not in picker.summary.value


def test_a_plain_password_widget_would_have_kept_the_key() -> None:
    """The control for the test above: ipywidgets keeps a Password's value in the state
    a notebook saves, which is why the picker moves the key out."""
    plain = ipywidgets.Password()
    type_into(plain, KEY)
    assert KEY in json.dumps(ipywidgets.Widget.get_manager_state(widgets=[plain]))
    plain.close()


def test_key_set_from_code_is_cleared_too() -> None:
    picker = mw.CredentialsPicker()
    picker.key_field.value = KEY
    assert picker.key_field.value == "" and picker.masked_key == "****51d4"


def test_replacing_and_clearing_the_key(emu: Emulator) -> None:
    picker = filled(emu)
    type_into(picker.key_field, "another-key-00009999")
    assert picker.credentials.data_api_key.get_secret_value() == "another-key-00009999"
    picker.clear_key()
    assert picker.app is None and not picker.has_key
    assert "no key" in picker.key_display.value


def test_invalid_values_are_explained_without_the_key(emu: Emulator) -> None:
    picker = filled(emu)
    type_into(picker.base_url_field, "http://example.com")
    assert picker.app is None and "http://" in (picker.problem or "")
    type_into(picker.base_url_field, emu.url)
    type_into(picker.key_field, "has a space inside")
    assert picker.app is None and "whitespace" in (picker.problem or "")
    assert "has a space" not in (picker.problem or "")
    type_into(picker.workspace_field, "")
    assert "workspace_id is empty" in (picker.problem or "")


def test_observers_see_every_change(emu: Emulator) -> None:
    picker = mw.CredentialsPicker()
    seen: list[mc.AppCredentials | None] = []
    traits: list[Any] = []
    picker.on_change(seen.append)
    picker.observe(lambda change: traits.append(change["new"]), names="app")
    type_into(picker.workspace_field, WS)
    type_into(picker.base_url_field, emu.url)
    assert seen == []  # still no key: nothing complete to report
    type_into(picker.key_field, KEY)
    assert seen[-1] == mc.AppCredentials(WS, KEY, base_url=emu.url)
    type_into(picker.data_center_dropdown, "03")
    assert seen[-1] is not None and seen[-1].data_center == "03"
    type_into(picker.workspace_field, "")
    assert seen[-1] is None
    assert traits == seen


def test_test_connection_against_the_emulator(emu: Emulator) -> None:
    picker = filled(emu)
    picker.test_button.click()
    text = html_text(picker.status)
    assert text.startswith("✓ Connected: credentials accepted by"), text
    assert WS in text and picker.last_check is not None and picker.last_check.ok
    assert not picker.test_button.disabled

    type_into(picker.key_field, "wrong-key-0000000000")
    picker.test_button.click()
    text = html_text(picker.status)
    assert text.startswith("✗ Not connected (HTTP 401: credentials rejected:"), text
    assert "App Secret key mismatch" in text  # MoEngage's own words
    assert "wrong-key" not in text


def test_test_connection_when_nothing_answers(emu: Emulator) -> None:
    picker = filled(emu)
    url = emu.url
    emu.stop()
    picker.test_button.click()
    assert html_text(picker.status).startswith(f"✗ Not connected (could not reach {url}")


def test_save_profile_to_the_file(emu: Emulator, config_dir: Path) -> None:
    picker = filled(emu)
    type_into(picker.name_field, "app-b")
    picker.save_button.click()
    assert "saved profile 'app-b'" in html_text(picker.status)
    assert "mode 0600" in html_text(picker.status)
    assert ProfileStore().load("app-b") == picker.credentials
    assert picker.profile_dropdown.value == "app-b"
    assert "app-b · WS-WIDGETS · DC 01 · ****51d4" in [
        label for label, _ in picker.profile_dropdown.options
    ]
    assert (config_dir / "profiles.toml").stat().st_mode & 0o777 == 0o600
    assert picker.key_field.value == ""

    # A new picker (a new notebook) lists it and loads it, key included.
    again = mw.CredentialsPicker()
    type_into(again.profile_dropdown, "app-b")
    assert again.credentials == picker.credentials
    assert again.workspace_field.value == WS and again.key_field.value == ""
    assert "loaded profile 'app-b'" in html_text(again.status)
    assert mw.CredentialsPicker("app-b").credentials == picker.credentials


def test_save_profile_problems_are_shown(emu: Emulator) -> None:
    picker = filled(emu)
    type_into(picker.name_field, "not a valid name")
    picker.save_button.click()
    assert "Invalid profile name" in html_text(picker.status)
    broken = mw.CredentialsPicker("no-such-profile")
    assert "Unknown profile 'no-such-profile'" in html_text(broken.status)


class _MemoryKeyring:
    """A keyring backend in memory (keyring's API, priority > 0 so it is used)."""

    priority = 1

    def __init__(self) -> None:
        self.items: dict[tuple[str, str], str] = {}

    def get_password(self, service: str, username: str) -> str | None:
        return self.items.get((service, username))

    def set_password(self, service: str, username: str, password: str) -> None:
        self.items[(service, username)] = password

    def delete_password(self, service: str, username: str) -> None:
        self.items.pop((service, username), None)


@pytest.fixture
def memory_keyring(monkeypatch: pytest.MonkeyPatch) -> Iterator[_MemoryKeyring]:
    import keyring
    from keyring.backend import KeyringBackend

    backend_cls = type("MemoryKeyring", (_MemoryKeyring, KeyringBackend), {})
    backend = backend_cls()
    previous = keyring.get_keyring()
    monkeypatch.delenv("MOECOHORT_NO_KEYRING")
    keyring.set_keyring(backend)
    try:
        yield backend
    finally:
        keyring.set_keyring(previous)


def test_save_profile_to_the_keyring(
    emu: Emulator, config_dir: Path, memory_keyring: _MemoryKeyring
) -> None:
    picker = filled(emu)
    type_into(picker.name_field, "app-b")
    picker.save_button.click()
    assert "in the system keyring" in html_text(picker.status)
    assert memory_keyring.items == {("moecohort", "profile:app-b"): KEY}
    assert KEY not in (config_dir / "profiles.toml").read_text()
    assert mw.CredentialsPicker("app-b").credentials.data_api_key.get_secret_value() == KEY


def test_picker_from_credentials_holds_the_key_masked(emu: Emulator) -> None:
    app = mc.AppCredentials(WS, KEY, base_url=emu.url, name="sample destination")
    picker = mw.CredentialsPicker(app)
    assert picker.credentials == app and picker.key_field.value == ""
    assert picker.advanced.selected_index == 0  # a base URL is never hidden
    assert KEY not in json.dumps(ipywidgets.Widget.get_manager_state())


def test_app_pair_picker(emu: Emulator) -> None:
    source = mc.AppCredentials("WS-SOURCE", "source-key-000000001", base_url=emu.url)
    pair = mw.AppPairPicker(source)
    assert pair.children == (pair.source, pair.destination)
    assert "Source app" in pair.source.title_html.value
    assert "Destination app" in pair.destination.title_html.value
    with pytest.raises(mc.ConfigurationError):
        _ = pair.credentials
    type_into(pair.destination.workspace_field, WS)
    type_into(pair.destination.base_url_field, emu.url)
    type_into(pair.destination.key_field, KEY)
    assert pair.credentials == (source, mc.AppCredentials(WS, KEY, base_url=emu.url))
    type_into(pair.destination.name_field, "app-b")
    pair.destination.save_button.click()
    assert "app-b" in [value for _label, value in pair.source.profile_dropdown.options]
    assert "moecohort-picker-destination" in pair.destination._dom_classes


# --------------------------------------------------------------------------- the push panel
def frame() -> pd.DataFrame:
    return pd.DataFrame({"ID": ["u1", "u2", "u2", None, "guest", "u3", "zz9"]})


def app_for(emu: Emulator, key: str = KEY) -> mc.AppCredentials:
    return mc.AppCredentials(WS, key, base_url=emu.url)


def test_panel_says_what_will_be_skipped(emu: Emulator) -> None:
    panel = mw.PushPanel(frame(), app_for(emu), id_col="ID", cohort_name="Buyers")
    text = html_text(panel.header)
    assert "7 rows in column ID: 2 anonymous (1 missing, 1 placeholder)" in text
    assert "1 duplicates will be skipped; 4 users will be sent to workspace WS-WIDGETS" in text
    assert panel.users == 4


def test_panel_on_a_missing_column(emu: Emulator) -> None:
    panel = mw.PushPanel(frame(), app_for(emu), id_col="uid", cohort_name="Buyers")
    assert "uid" in html_text(panel.header) and "ID" in html_text(panel.header)
    assert panel.push_button.disabled and panel.dry_run_button.disabled


def test_cohort_name_is_validated_live(emu: Emulator) -> None:
    panel = mw.PushPanel(frame(), app_for(emu), id_col="ID")
    assert "Give the cohort a name" in html_text(panel.name_check)
    assert panel.push_button.disabled
    type_into(panel.cohort_name_field, "VIP (US): Q3")
    assert "would be rejected by MoEngage" in html_text(panel.name_check)
    assert panel.suggestion_button.layout.display is None
    assert panel.suggestion_button.description == "Use 'VIP US Q3'"
    assert panel.push_button.disabled
    panel.suggestion_button.click()
    assert panel.cohort_name == "VIP US Q3"
    assert html_text(panel.name_check).startswith("✓ valid name")
    assert mc.cohort_id_for("VIP US Q3") in html_text(panel.name_check)
    assert panel.suggestion_button.layout.display == "none"
    assert not panel.push_button.disabled


def test_dry_run_shows_the_plan_and_sends_nothing(emu: Emulator) -> None:
    panel = mw.PushPanel(frame(), app_for(emu), id_col="ID", cohort_name="Buyers")
    panel.dry_run_button.click()
    result = panel.result
    assert result is not None and result.dry_run and result.members_planned == 4
    text = html_text(panel.output)
    assert "would push 4 users (add) to cohort 'Buyers' in workspace WS-WIDGETS" in text
    assert "Request plan (1 request body, nothing sent)" in text and "fill" in text
    assert emu.request_log(WS) == []


def test_dry_run_without_an_app() -> None:
    panel = mw.PushPanel(frame(), None, id_col="ID", cohort_name="Buyers")
    assert panel.dry_run() is not None
    assert panel.push() is None
    assert "No destination app given" in html_text(panel.output)


def test_push_against_the_emulator(emu: Emulator) -> None:
    panel = mw.PushPanel(frame(), app_for(emu), id_col="ID", cohort_name="Buyers")
    panel.push_button.click()
    result = panel.wait(30)
    assert result is not None and result.ok and not panel.running
    assert result.members_accepted == 4 and result.skipped_duplicates == 1
    assert emu.cohort_members(WS, "Buyers") == {"u1", "u2", "u3"}  # zz9 is unknown to the app
    assert panel.progress.bar_style == "success"
    assert panel.progress.value == panel.progress.max == 4
    assert html_text(panel.progress_label).startswith("✓ 4 accepted, 0 failed")
    assert "PushResult: 4 users accepted by the API (add) for cohort 'Buyers'" in html_text(
        panel.output
    )
    assert "failed-csv" not in panel.output.value  # nothing failed: no download
    assert not panel.push_button.disabled and not panel.cohort_name_field.disabled

    type_into(panel.action_toggle, "remove")
    assert panel.push() is not None
    assert emu.cohort_members(WS, "Buyers") == set()


def test_push_runs_in_the_background() -> None:
    # The server holds the request until released: push(wait=False) must return meanwhile.
    server = HoldingServer(answer_first=False)
    try:
        app = mc.AppCredentials(WS, KEY, base_url=server.url)
        panel = mw.PushPanel(frame(), app, id_col="ID", cohort_name="Slow")
        assert panel.push(wait=False) is None
        assert server.held.wait(30)  # the request is on its way, and the caller is free
        assert panel.running and panel.push_button.disabled and panel.dry_run_button.disabled
        assert panel.progress.layout.display is None
        panel.push(wait=False)  # a second press while running starts nothing
        assert "already running" in html_text(panel.output)
        server.release()
        result = panel.wait(30)
        assert result is not None and result.ok and result.requests == 1
    finally:
        server.close()


def test_failed_users_download_as_csv(emu: Emulator) -> None:
    emu.set_faults(error_500=1.0)
    panel = mw.PushPanel(frame(), app_for(emu), id_col="ID", cohort_name="Doomed", max_retries=0)
    result = panel.push()
    assert result is not None and not result.ok and result.members_failed == 4
    assert panel.progress.bar_style == "danger"
    match = re.search(r"href='data:text/csv;base64,([^']+)'", panel.output.value)
    assert match, panel.output.value
    assert "download='failed_users_Doomed.csv'" in panel.output.value
    csv_text = base64.b64decode(match.group(1)).decode("utf-8")
    assert csv_text == panel.failed_csv() == result.failed.to_csv(index=False)
    lines = csv_text.splitlines()
    assert lines[0] == "uid,status,error_type,message,request_id"
    assert sorted(line.split(",")[0] for line in lines[1:]) == ["u1", "u2", "u3", "zz9"]
    assert "Download the 4 failed users (CSV)" in html_text(panel.output)


def test_large_failed_list_goes_to_a_file(
    emu: Emulator, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.chdir(tmp_path)
    monkeypatch.setattr(push_panel, "MAX_INLINE_CSV_BYTES", 10)
    emu.set_faults(error_500=1.0)
    panel = mw.PushPanel(frame(), app_for(emu), id_col="ID", cohort_name="Big", max_retries=0)
    panel.push()
    assert "written to failed_users_Big.csv" in html_text(panel.output)
    assert (tmp_path / "failed_users_Big.csv").read_text() == panel.failed_csv()


def test_wrong_key_stops_the_push_and_says_why(emu: Emulator) -> None:
    panel = mw.PushPanel(
        frame(), app_for(emu, "wrong-key-0000000000"), id_col="ID", cohort_name="Buyers"
    )
    result = panel.push()
    assert isinstance(panel.error, mc.AuthenticationError)
    assert result is not None and result.members_failed == 4
    text = html_text(panel.output)
    assert "authentication failed" in text.lower() or "App Secret key mismatch" in text
    assert "Download the 4 failed users" in text
    assert "wrong-key" not in panel.output.value
    assert len(emu.request_log(WS)) == 1  # the first body goes alone


def test_panel_reads_a_picker_when_the_button_is_pressed(emu: Emulator) -> None:
    picker = mw.CredentialsPicker()
    panel = mw.PushPanel(frame(), picker, id_col="ID", cohort_name="From picker")
    assert "credentials are not complete yet" in html_text(panel.header)
    assert panel.push() is None
    assert "No Data API key" in html_text(panel.output)
    type_into(picker.workspace_field, WS)
    type_into(picker.base_url_field, emu.url)
    type_into(picker.key_field, KEY)
    assert f"will be sent to workspace {WS} ({emu.url})" in html_text(panel.header)
    result = panel.push()
    assert result is not None and result.ok
    assert emu.cohort_members(WS, "From picker") == {"u1", "u2", "u3"}


def test_panel_with_a_profile_name(emu: Emulator) -> None:
    mc.save_profile(app_for(emu), "dest")
    panel = mw.PushPanel(frame(), "dest", id_col="ID", cohort_name="By profile")
    assert "to profile 'dest'" in html_text(panel.header)
    result = panel.push()
    assert result is not None and result.ok


# --------------------------------------------------------------------------- charts
def overlap_report() -> mc.OverlapReport:
    source = pd.DataFrame({"ID": ["a", "b", "c", "c", None, "x "]})
    dest = pd.DataFrame({"ID": ["b", "c", "d", "x"]})
    return mc.overlap(source, dest, on="ID", labels=("app A", "app B"))


def test_plot_overlap() -> None:
    from moecohort.charts import plot_overlap

    report = overlap_report()
    ax = plot_overlap(report)
    widths = sorted(round(p.get_width()) for p in ax.patches)
    assert widths == [2, 2, 2, 2]  # only A: a, "x "; both: b, c (twice); only B: d, x
    assert ax.get_title(loc="left") == "2 users are in both apps: 50% of app A's users"
    texts = " ".join(t.get_text() for t in ax.texts)
    assert "1 near misses" in texts and "1 anonymous" in texts
    assert report.plot() is not None  # OverlapReport.plot goes through charts


def test_membership_and_plot_compare() -> None:
    from moecohort.charts import membership, plot_compare

    report = overlap_report()
    source = pd.DataFrame(
        {
            "ID": ["a", "b", "c", "c", None, "x "],
            "Plan": ["free", "pro", "plus", "plus", "free", "pro"],
            "Lifetime Value": [1.0, 50.0, 20.0, 20.0, 0.0, 7.5],
        }
    )
    groups = membership(source, report)
    assert groups.tolist() == [
        "only in app A",
        "in both apps",
        "in both apps",
        "in both apps",
        "anonymous",
        "only in app A",
    ]
    ax = plot_compare(source, "Plan", groups, levels=["free", "plus", "pro"])
    assert [t.get_text() for t in ax.get_legend().get_texts()] == ["free", "plus", "pro"]
    labels = [t.get_text() for t in ax.get_yticklabels()]
    assert labels == ["in both apps\n(3 rows)", "only in app A\n(2 rows)", "anonymous\n(1 rows)"]
    source["Lifetime Value"] = [1.0, 50.0, 20.0, 20.0, 0.0, 7.5] * 1
    ax = plot_compare(
        pd.concat([source] * 3, ignore_index=True).assign(
            **{"Lifetime Value": [float(i) for i in range(18)]}
        ),
        "Lifetime Value",
        pd.concat([groups] * 3, ignore_index=True),
        unit=" USD",
    )
    assert any("median" in t.get_text() and "USD" in t.get_text() for t in ax.texts)
    with pytest.raises(ValueError, match="side must be"):
        membership(source, report, side="other")


def test_charts_say_what_to_install(monkeypatch: pytest.MonkeyPatch) -> None:
    from moecohort.charts import plot_overlap

    monkeypatch.setitem(sys.modules, "matplotlib.pyplot", None)
    with pytest.raises(ImportError, match=r"pip install 'moecohort\[widgets\]'"):
        plot_overlap(overlap_report())


def test_widget_state_of_a_whole_session_has_no_key(emu: Emulator) -> None:
    """Every widget of a session (pair, panel, a pushed result): no key anywhere."""
    pair = mw.AppPairPicker()
    for picker in (pair.source, pair.destination):
        type_into(picker.workspace_field, WS)
        type_into(picker.base_url_field, emu.url)
        type_into(picker.key_field, KEY)
        picker.test_button.click()
    panel = mw.PushPanel(frame(), pair.destination, id_col="ID", cohort_name="All")
    panel.push()
    state = json.dumps(ipywidgets.Widget.get_manager_state())
    assert KEY not in state and urllib.parse.quote(KEY) not in state
    assert base64.b64encode(KEY.encode()).decode() not in state
    assert state.count("****51d4") >= 2


# --------------------------------------------------------------------------- check destination
#: Lookups as fast as the emulator answers (its workspaces get no Get User limit below).
FAST_CHECK = {"users_per_minute": 600_000}


@pytest.fixture
def two_apps(moe_emulator: Emulator) -> tuple[mc.AppCredentials, mc.AppCredentials]:
    """EU knows u1 and u2, US knows u2 and u3; lookups at any pace."""
    moe_emulator.add_workspace(
        "EU", "eu-key-0000000001", users=["u1", "u2"], lookups_per_minute=None
    )
    moe_emulator.add_workspace(
        "US", "us-key-0000000002", users=["u2", "u3"], lookups_per_minute=None
    )
    eu = mc.AppCredentials("EU", "eu-key-0000000001", base_url=moe_emulator.url, name="eu")
    us = mc.AppCredentials("US", "us-key-0000000002", base_url=moe_emulator.url, name="us")
    return eu, us


def test_check_destination_shows_the_estimate_and_a_taken_name(
    emu: Emulator, sent: list[tuple[str, dict[str, Any]]]
) -> None:
    emu.add_workspace(WS, KEY, users=USERS, lookups_per_minute=None)
    emu.add_segment(WS, "Buyers", source="DASHBOARD")
    panel = mw.PushPanel(
        frame(), app_for(emu), id_col="ID", cohort_name="Buyers", check_options=FAST_CHECK
    )
    assert panel.check_button.description == "Check destination"
    assert panel.report is None
    panel.check_button.click()
    panel.wait(30)
    report = panel.report
    assert isinstance(report, mc.PreflightReport) and report.ok
    assert report.presence is not None and (
        report.presence.n_found,
        report.presence.n_distinct,
    ) == (3, 4)
    shown = html_text(panel.check_output)
    assert "PreflightReport: ready, with 2 warning(s): cohort 'Buyers'" in shown
    assert "users known to the destination" in shown and "3 of 4 (75.0%)" in shown
    assert "is already taken by a segment" in shown and "source 'DASHBOARD'" in shown
    assert panel.progress.layout.display is None  # the bar showed the lookups
    assert panel.progress.value == panel.progress.max == 4
    assert "3 members expected to land" in html_text(panel.progress_label)
    assert emu.cohorts(WS) == []  # a check creates nothing
    assert not panel.check_button.disabled and not panel.push_button.disabled

    type_into(panel.cohort_name_field, "Buyers from A")
    again = panel.check_destination()  # from code: waits and returns the report
    assert isinstance(again, mc.PreflightReport) and not again.warnings[:-1]
    result = panel.push()
    assert result is not None and result.ok
    assert "; 3 expected to land" in result.headline  # the push result shows the members
    assert "members expected to land" in html_text(panel.output)
    assert emu.cohort_members(WS, "Buyers from A") == {"u1", "u2", "u3"}
    everything = json.dumps(sent) + panel.check_output.value + panel.output.value
    assert (
        KEY not in everything
        and base64.b64encode(f"{WS}:{KEY}".encode()).decode() not in everything
    )


def test_check_destination_runs_in_the_background() -> None:
    server = HoldingServer(answer_first=False)  # holds the first request: the credentials check
    try:
        app = mc.AppCredentials(WS, KEY, base_url=server.url)
        panel = mw.PushPanel(frame(), app, id_col="ID", cohort_name="Slow check")
        assert panel.check_destination(wait=False) is None
        assert server.held.wait(30)  # the check is on its way, and the caller is free
        assert panel.running
        assert panel.check_button.disabled and panel.push_button.disabled
        assert panel.dry_run_button.disabled
        assert panel.push(wait=False) is None  # a push meanwhile starts nothing
        assert "already running" in html_text(panel.output)
        server.release()
        panel.wait(30)
        assert not panel.running and isinstance(panel.report, mc.PreflightReport)
        assert not panel.check_button.disabled
    finally:
        server.close()


def test_check_destination_needs_an_app_and_a_valid_name(emu: Emulator) -> None:
    panel = mw.PushPanel(frame(), None, id_col="ID", cohort_name="Fine")
    assert panel.check_destination() is None
    assert "No destination app given" in html_text(panel.output)
    named = mw.PushPanel(frame(), app_for(emu), id_col="ID", cohort_name="bad|name")
    assert named.check_button.disabled
    assert named.check_destination() is None and isinstance(named.error, mc.CohortNameError)


# --------------------------------------------------------------------------- several apps
def test_panel_pushes_to_a_list_of_apps(
    two_apps: tuple[mc.AppCredentials, mc.AppCredentials], moe_emulator: Emulator
) -> None:
    eu, us = two_apps
    panel = mw.PushPanel(
        frame(), [eu, us], id_col="ID", cohort_name="Everywhere", check_options=FAST_CHECK
    )
    assert "will be sent to 2 apps: to workspace EU" in html_text(panel.header)
    reports = panel.check_destination()
    assert isinstance(reports, dict) and set(reports) == {"eu", "us"}
    assert reports["eu"].presence is not None and reports["eu"].presence.n_found == 2
    assert "EU: 2 members expected to land" in html_text(panel.progress_label)
    result = panel.push()
    assert isinstance(result, mc.MultiAppResult) and result.ok and len(result) == 2
    assert result["eu"].members_accepted == result["us"].members_accepted == 4
    assert "; 2 expected to land" in result["us"].headline  # after the check
    shown = html_text(panel.output)
    assert "MultiAppResult: push of cohort 'Everywhere' to 2 apps: 2 ok" in shown
    assert panel.progress.value == panel.progress.max == 8  # one bar over every app
    assert "8 accepted, 0 failed in 2 apps" in html_text(panel.progress_label)
    assert moe_emulator.cohort_members("EU", "Everywhere") == {"u1", "u2"}
    assert moe_emulator.cohort_members("US", "Everywhere") == {"u2", "u3"}


def test_panel_with_several_apps_gathers_the_failures_in_one_csv(
    two_apps: tuple[mc.AppCredentials, mc.AppCredentials], moe_emulator: Emulator
) -> None:
    eu, us = two_apps
    wrong = us.with_(data_api_key="wrong-key-0000000000")
    panel = mw.PushPanel(frame(), [eu, wrong], id_col="ID", cohort_name="Half")
    result = panel.push()
    assert isinstance(result, mc.MultiAppResult) and not result.ok
    assert result["eu"].ok and not result["us"].ok  # one app's failure spares the other
    assert panel.progress.bar_style == "danger"
    lines = panel.failed_csv().splitlines()
    assert lines[0].startswith("app,uid,")
    assert {line.split(",")[0] for line in lines[1:]} == {"us"}
    assert "Download the 4 failed users (CSV)" in html_text(panel.output)
    assert "wrong-key" not in panel.output.value


def test_app_pair_picker_with_several_destinations(
    two_apps: tuple[mc.AppCredentials, mc.AppCredentials], moe_emulator: Emulator
) -> None:
    eu, us = two_apps
    source = mc.AppCredentials("WS-SOURCE", "source-key-000000001", base_url=moe_emulator.url)
    pair = mw.AppPairPicker(source, [eu, us])
    assert (
        pair.children == (pair.source, *pair.destinations)
        and pair.destination is pair.destinations[0]
    )
    assert "Destination app (B)" in pair.destinations[0].title_html.value
    assert "Destination app (C)" in pair.destinations[1].title_html.value
    assert pair.destination_apps == [eu, us]
    assert pair.credentials == (source, eu)
    panel = mw.PushPanel(frame(), pair, id_col="ID", cohort_name="Pair")
    result = panel.push()
    assert isinstance(result, mc.MultiAppResult) and result.ok
    assert set(result.results) == {"eu", "us"}
    single = mw.PushPanel(frame(), mw.AppPairPicker(source, eu), id_col="ID", cohort_name="One")
    assert isinstance(single.push(), mc.PushResult)  # one destination: as before
