"""Start/stop, SQLite persistence, the pytest plugin, load_samples and serve()."""

from __future__ import annotations

import csv
import io
import socket
import subprocess
import sys
import threading
import time
from pathlib import Path

import pytest
import requests
from support import SAMPLES

from moecohort.emulator import (
    DEMO_DEST_KEY,
    DEMO_DEST_WORKSPACE,
    DEMO_SOURCE_WORKSPACE,
    Emulator,
    load_samples,
    serve,
)

KEY = "life-key-00000000"


def _free(port: int) -> bool:
    with socket.socket() as s:
        s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            s.bind(("127.0.0.1", port))
        except OSError:
            return False
        return True


# --- lifecycle ------------------------------------------------------------------------------
def test_start_stop_frees_port_quickly(make_api):
    emu = Emulator()
    with pytest.raises(RuntimeError):
        _ = emu.url
    emu.start()
    assert emu.running
    assert emu.url == f"http://127.0.0.1:{emu.port}"
    assert emu.endpoint == emu.url + "/v1/integrations/cohortsync"
    emu.add_workspace("W", KEY, ["u1"])
    api = make_api(emu, "W", KEY)
    assert api.add("c", ["u1"]).ok  # leaves an idle keep-alive connection open
    port = emu.port
    # Another idle keep-alive connection, held here: stop() must close it, not wait on it.
    idle = socket.create_connection(("127.0.0.1", port), timeout=10)
    idle.sendall(b"GET /_emulator HTTP/1.1\r\nHost: x\r\nConnection: keep-alive\r\n\r\n")
    assert idle.recv(65536).startswith(b"HTTP/1.")
    emu.stop()
    assert idle.recv(1) == b""  # closed by the server (a timeout here would mean it was not)
    idle.close()
    assert not emu.running
    assert _free(port)
    with pytest.raises(requests.ConnectionError):
        requests.get(f"http://127.0.0.1:{port}/_emulator", timeout=2)
    emu.stop()  # idempotent


def test_restart_keeps_port_and_state(make_api):
    emu = Emulator().start()
    try:
        emu.add_workspace("W", KEY, ["u1"])
        api = make_api(emu, "W", KEY)
        api.add("c", ["u1"])
        port = emu.port
        emu.stop()
        emu.start()
        assert emu.port == port
        assert api.add("c", ["u1"]).ok  # the session reconnects
        assert emu.cohort_members("W", "c") == {"u1"}
    finally:
        emu.stop()


def test_double_start_refused():
    with Emulator() as emu, pytest.raises(RuntimeError):
        emu.start()


def test_fixture_gives_empty_started_emulator(moe_emulator):
    assert moe_emulator.running
    assert moe_emulator.workspaces() == []
    assert requests.get(moe_emulator.url + "/_emulator", timeout=5).ok


def test_plugin_import_is_light():
    """Loading the plugin (pytest_plugins = [...]) starts nothing and loads no server code."""
    code = (
        "import sys, moecohort.emulator.pytest_plugin as p; "
        "print(hasattr(p, 'moe_emulator'), 'moecohort.emulator.server' in sys.modules, "
        "'http.server' in sys.modules)"
    )
    out = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, check=True
    ).stdout
    assert out.split() == ["True", "False", "False"]


def test_concurrent_clients(make_api):
    with Emulator(rate_limit=False) as emu:
        users = [f"u{i}" for i in range(400)]
        emu.add_workspace("W", KEY, users)
        errors: list[int] = []

        def worker(k: int) -> None:
            api = make_api(emu, "W", KEY)
            for j in range(10):
                chunk = users[(k * 10 + j) * 4 : (k * 10 + j) * 4 + 4]
                r = api.add("shared", chunk)
                if r.status_code != 200:
                    errors.append(r.status_code)

        threads = [threading.Thread(target=worker, args=(k,)) for k in range(8)]
        for t in threads:
            t.start()
        for t in threads:
            t.join()
        assert errors == []
        assert emu.cohort_members("W", "shared") == set(users[:320])
        assert len(emu.request_log()) == 80


# --- SQLite ---------------------------------------------------------------------------------
def test_sqlite_persists_across_restart(tmp_path, make_api):
    db = tmp_path / "emu.sqlite"
    with Emulator(db=db) as emu:
        assert emu.db == str(db)
        emu.add_workspace("W", KEY, ["u1", "u2", "u3"], requests_per_minute=50)
        emu.add_workspace("S", KEY, ["u1"], suspended="BlockedClient")
        api = make_api(emu, "W", KEY)
        api.add("c1", ["u1", "u2", "ghost"], name="First", cohort_description="desc")
        api.remove("c1", ["u2"], name="First")
        api.segment("s1", add=["u3"], name="Seg")
        api.post(raw=b"{")
        before_cohorts = emu.cohorts("W")
        before_log = emu.request_log()

    with Emulator(db=db) as emu:
        assert emu.cohorts("W") == before_cohorts
        assert emu.cohort_members("W", "c1") == {"u1"}
        assert emu.cohort_unmatched("W", "c1") == {"ghost"}
        assert emu.cohort_members("W", "Seg") == {"u3"}
        assert emu.request_log() == before_log
        ws = {w["workspace_id"]: w for w in emu.workspaces()}
        assert ws["W"]["requests_per_minute"] == 50
        assert ws["S"]["suspended"] == "BlockedClient"
        api = make_api(emu, "W", KEY)
        assert api.add("c1", ["u3"]).ok  # the key survived too
        assert emu.cohort_members("W", "c1") == {"u1", "u3"}
        assert emu.request_log()[-1]["seq"] == before_log[-1]["seq"] + 1
        emu.remove_workspace("S")
        emu.reset()

    with Emulator(db=db) as emu:
        assert [w["workspace_id"] for w in emu.workspaces()] == ["W"]
        assert emu.cohorts("W") == []
        assert emu.request_log() == []
        emu.reset(workspaces=True)

    with Emulator(db=db) as emu:
        assert emu.workspaces() == []


def test_sqlite_usable_before_start(tmp_path):
    db = tmp_path / "pre.sqlite"
    emu = Emulator(db=db)
    emu.add_workspace("W", KEY, ["u1"])
    emu.close()
    assert [w["workspace_id"] for w in Emulator(db=db).workspaces()] == ["W"]


# --- samples --------------------------------------------------------------------------------
def _write_csv(path: Path, header: list[str], rows: list[list[str]]) -> None:
    with open(path, "w", encoding="utf-8", newline="") as fh:
        writer = csv.writer(fh)
        writer.writerow(header)
        writer.writerows(rows)


@pytest.fixture
def samples(tmp_path) -> Path:
    _write_csv(
        tmp_path / "app_a_segment_export.csv",
        ["ID", "MoEngage User ID", "Email"],
        [
            ["1001", "a1", "x"],
            ["", "a2", ""],  # anonymous
            ["0", "a3", ""],  # placeholders
            ["-1", "a4", ""],
            ["1002", "a5", ""],
            ["1001", "a1", "x"],  # duplicate row
        ],
    )
    _write_csv(
        tmp_path / "app_b_users.csv",
        ["ID", "MoEngage User ID"],
        [
            ["1001", "b1"],
            [" 1002", "b2"],  # stray space kept
            ["Guest", "b3"],
            ["  null ", "b4"],
            ["(empty)", "b5"],
            ["N/A", "b6"],
            ["", "b7"],
            ["1003", "b8"],
        ],
    )
    return tmp_path


def test_load_samples(samples):
    with Emulator() as emu:
        info = load_samples(emu, samples)
        assert info["source"]["workspace_id"] == DEMO_SOURCE_WORKSPACE == "DEMO-SOURCE"
        assert info["destination"] == {
            "workspace_id": DEMO_DEST_WORKSPACE,
            "api_key": DEMO_DEST_KEY,
            "base_url": emu.url,
            "users": 3,
            "file": str(samples / "app_b_users.csv"),
        }
        assert info["source"]["users"] == 2
        ws = {w["workspace_id"]: w for w in emu.workspaces()}
        assert ws["DEMO-DEST"]["users"] == 3
        # " 1002" is a user of DEMO-DEST, "1002" is not
        r = requests.post(
            emu.endpoint,
            json={
                "action": "add_members",
                "partner": "demo",
                "parameters": {
                    "cohort_name": "demo",
                    "cohort_id": "d1",
                    "members": [{"uid": "1001"}, {"uid": "1002"}, {"uid": " 1002"}],
                },
            },
            auth=(DEMO_DEST_WORKSPACE, DEMO_DEST_KEY),
            headers={"MOE-APPKEY": DEMO_DEST_WORKSPACE},
            timeout=5,
        )
        assert r.ok
        assert emu.cohort_members("DEMO-DEST", "d1") == {"1001", " 1002"}


def test_load_samples_missing_files(tmp_path):
    with Emulator() as emu, pytest.raises(FileNotFoundError, match="app_a_segment_export"):
        load_samples(emu, tmp_path)


def test_load_real_samples_if_present():
    if not (SAMPLES / "app_b_users.csv").is_file():
        pytest.skip("data/samples not generated")
    with Emulator() as emu:
        info = load_samples(emu, SAMPLES)
    assert info["source"]["users"] == 3760  # README: a_distinct_valid_ids
    assert info["destination"]["users"] == 4795  # README: b_distinct_valid_ids


# --- serve ----------------------------------------------------------------------------------
def test_serve_prints_url_and_demo_credentials(samples):
    out = io.StringIO()
    stop = threading.Event()
    thread = threading.Thread(
        target=serve,
        kwargs={"port": 0, "samples_dir": samples, "quiet": True, "stop_event": stop, "out": out},
    )
    thread.start()
    try:
        for _ in range(200):
            if "Ctrl-C" in out.getvalue():
                break
            time.sleep(0.01)
        text = out.getvalue()
        url = text.split("listening on ", 1)[1].split()[0]
        assert url.startswith("http://127.0.0.1:")
        assert "demo-dest-key-0002" in text
        assert "DEMO-SOURCE" in text
        assert requests.get(url + "/_emulator/workspaces", timeout=5).json()["workspaces"]
    finally:
        stop.set()
        thread.join(5)
    assert not thread.is_alive()
