"""One cohort to several destination apps at once: each app its own pacing, result and
failures; one app's failure never stops the others; a combined view with a row per app."""

from __future__ import annotations

import itertools
import logging
import os
import signal
import statistics
import threading

import pandas as pd
import pytest
from support import HoldingServer, ids

import moecohort as mc
from moecohort.emulator import Emulator

USERS = ids(9_000)
KEYS = {"EU": "eu-key-0000000001", "US": "us-key-0000000002", "IN": "in-key-0000000003"}
FAST = 60_000


@pytest.fixture
def emu(moe_emulator: Emulator) -> Emulator:
    for ws, key in KEYS.items():
        moe_emulator.add_workspace(ws, key, users=USERS, requests_per_minute=100_000)
    return moe_emulator


def apps(emu: Emulator, *workspaces: str) -> list[mc.AppCredentials]:
    return [mc.AppCredentials(ws, KEYS[ws], base_url=emu.url) for ws in workspaces]


def test_a_push_to_three_apps_lands_in_each(emu):
    frame = pd.DataFrame({"uid": [*USERS, None, USERS[0]]})
    result = mc.push_to_apps(
        frame, apps(emu, "EU", "US", "IN"), "VIP", requests_per_minute=FAST, progress=False
    )
    assert result.ok and len(result) == 3
    for ws in KEYS:
        assert emu.cohort_members(ws, "VIP") == set(USERS)
        pushed = result[ws]
        assert pushed.ok and pushed.members_accepted == len(USERS)
        assert pushed.skipped_anonymous == 1 and pushed.skipped_duplicates == 1
    table = result.summary()
    assert list(table.index) == ["EU", "US", "IN"]
    assert table["ok"].all() and (table["accepted"] == len(USERS)).all()


def test_a_rejected_key_in_one_app_does_not_stop_the_others(emu):
    good = apps(emu, "EU", "IN")
    wrong = mc.AppCredentials("US", "not-the-key-00000000", base_url=emu.url)
    result = mc.push_to_apps(
        pd.DataFrame({"uid": USERS}),
        [good[0], wrong, good[1]],
        "VIP",
        requests_per_minute=FAST,
        progress=False,
    )
    assert not result.ok
    assert set(result.errors) == {"US"} and isinstance(result.errors["US"], mc.AuthenticationError)
    assert result["US"].members_accepted == 0  # what it did before stopping is still there
    assert emu.cohort_members("EU", "VIP") == emu.cohort_members("IN", "VIP") == set(USERS)
    assert emu.cohorts("US") == []
    table = result.summary()
    assert table.loc["US", "ok"] == False  # noqa: E712 (a numpy bool)
    assert table.loc["US", "status"] == "stopped" and "HTTP 401" in table.loc["US", "error"]
    with pytest.raises(mc.PushFailedError, match="1 of 3 apps"):
        result.raise_for_status()
    assert "not-the-key" not in repr(result) + result._repr_html_() + str(result.as_dict())


def test_each_app_keeps_its_own_pace(emu):
    # Two apps at 600 requests a minute each: each is paced, and they run at the same time.
    frame = pd.DataFrame({"uid": USERS})
    result = mc.push_to_apps(
        frame, apps(emu, "EU", "US"), "Paced", requests_per_minute=600, progress=False
    )
    assert result.ok
    spans = {}
    for ws in ("EU", "US"):
        times = [e["ts"] for e in emu.request_log(ws)]
        assert len(times) == result[ws].requests >= 3
        gaps = [b - a for a, b in itertools.pairwise(times)]
        assert statistics.median(gaps) >= 0.1 - 0.04  # paced (unpaced: a few ms)
        spans[ws] = (times[0], times[-1])
    (eu_start, eu_end), (us_start, us_end) = spans["EU"], spans["US"]
    assert eu_start < us_end and us_start < eu_end  # at once, not one after the other


def test_a_sync_to_two_apps_records_each_in_one_state(emu, tmp_path):
    state = tmp_path / "sync.sqlite"
    targets = apps(emu, "EU", "US")
    first = mc.sync_to_apps(
        pd.DataFrame({"uid": USERS[:100]}), targets, "Mirror", state=state, progress=False
    )
    second = mc.sync_to_apps(
        pd.DataFrame({"uid": USERS[50:150]}),
        targets,
        "Mirror",
        state=mc.SyncState(state),
        progress=False,
    )
    assert first.ok and second.ok
    for ws in ("EU", "US"):
        assert (second[ws].to_add, second[ws].to_remove) == (50, 50)
        assert emu.cohort_members(ws, "Mirror") == set(USERS[50:150])
    assert len(mc.sync_log(state=state)) == 4


def test_progress_callbacks_add_up_over_the_apps(emu):
    seen: list[tuple[int, int]] = []
    lock = threading.Lock()

    def progress(done: int, total: int) -> None:
        with lock:
            seen.append((done, total))

    result = mc.push_to_apps(
        pd.DataFrame({"uid": USERS}), apps(emu, "EU", "US"), "Bars", progress=progress
    )
    assert result.ok and max(seen) == (2 * len(USERS), 2 * len(USERS))


def test_bad_input_is_refused_once_before_anything_is_sent(emu):
    with pytest.raises(mc.InputError, match="'user_id'"):
        mc.push_to_apps(
            pd.DataFrame({"uid": USERS[:10]}), apps(emu, "EU", "US"), "X", id_col="user_id"
        )
    with pytest.raises(mc.ConfigurationError, match="Unknown profile"):
        mc.push_to_apps(pd.DataFrame({"uid": USERS[:10]}), [*apps(emu, "EU"), "nope"], "X")
    with pytest.raises(mc.InputError, match="read only once"):
        mc.push_to_apps(iter([pd.DataFrame({"uid": USERS})]), apps(emu, "EU", "US"), "X")
    with pytest.raises(mc.InputError, match="twice"):
        mc.push_to_apps(pd.DataFrame({"uid": USERS}), apps(emu, "EU", "EU"), "X")
    assert all(emu.request_log(ws) == [] for ws in KEYS)


def test_the_accessor_takes_a_list_of_apps(emu):
    result = pd.DataFrame({"uid": USERS[:10]}).moe.push(
        apps(emu, "EU", "US"), "Accessor", progress=False
    )
    assert isinstance(result, mc.MultiAppResult) and result.ok


@pytest.mark.usefixtures("sigint")
def test_ctrl_c_stops_every_app_and_each_accounts_for_its_users():
    servers = [HoldingServer(), HoldingServer()]  # each answers one request, then holds
    stopping = threading.Semaphore(0)

    class Watch(logging.Handler):
        def emit(self, record: logging.LogRecord) -> None:
            if "stopping" in record.getMessage():
                stopping.release()  # once per app's run

    def interrupt_then_release() -> None:
        for s in servers:
            s.held.wait(60)  # both apps have a request in flight
        os.kill(os.getpid(), signal.SIGINT)
        for _ in servers:  # every app's run is stopping: the requests in flight may finish
            stopping.acquire(timeout=60)
        for s in servers:
            s.release()

    logger = logging.getLogger("moecohort")
    handler, level = Watch(), logger.level
    logger.addHandler(handler)
    logger.setLevel(logging.WARNING)
    targets = [
        mc.AppCredentials(f"WS{i}", f"hold-key-00000000{i}", base_url=s.url)
        for i, s in enumerate(servers)
    ]
    watcher = threading.Thread(target=interrupt_then_release, daemon=True)
    watcher.start()
    try:
        result = mc.push_to_apps(
            pd.DataFrame({"uid": USERS}), targets, "Held", requests_per_minute=FAST, progress=False
        )
    finally:
        watcher.join()
        logger.removeHandler(handler)
        logger.setLevel(level)
        for s in servers:
            s.close()
    assert not result.ok and len(result) == 2
    for outcome in result:
        r = outcome.result
        assert r is not None and r.interrupted
        assert r.members_accepted + r.members_failed == len(USERS)
        assert r.members_accepted > 0 and set(r.failed["error_type"]) <= {"NotSent"}
    assert signal.getsignal(signal.SIGINT) is signal.default_int_handler
