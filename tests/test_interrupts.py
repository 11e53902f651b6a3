"""Ctrl-C (SIGINT, what Jupyter's "interrupt kernel" sends) in every phase of a push or sync.

Every interruption here is driven by events, never by a delay: a signal is sent once the
server has answered (or is holding) a request, or from inside the input being read. The
first Ctrl-C while sending stops the run (the requests in flight are waited for), the
second aborts it (they are not), and Ctrl-C before anything is sent raises
KeyboardInterrupt after cleaning up. Whatever happens, every user is accounted for and
the reports say what was acknowledged, next to what was planned.
"""

from __future__ import annotations

import logging
import os
import signal
import tempfile
import threading
from collections.abc import Callable, Iterator
from pathlib import Path

import pandas as pd
import pytest
from click.testing import CliRunner
from support import HoldingServer, ids

import moecohort as mc
from moecohort.cli import cli

KEY = "interrupt-key-3c9a71"
#: Bodies hold about 3,400 of these 36-character ids: 30,000 users make 9 requests.
USERS = ids(30_000)
FAST = 60_000  # requests per minute: pacing never decides anything here

pytestmark = pytest.mark.usefixtures("sigint")


def interrupt() -> None:
    os.kill(os.getpid(), signal.SIGINT)


@pytest.fixture
def holding():
    server = HoldingServer()
    yield server
    server.close()


@pytest.fixture
def stopping_logged():
    """An event set when the library logs that Ctrl-C is stopping the run."""
    seen = threading.Event()

    class Watch(logging.Handler):
        def emit(self, record: logging.LogRecord) -> None:
            if "stopping" in record.getMessage():
                seen.set()

    handler = Watch()
    logger = logging.getLogger("moecohort")
    logger.addHandler(handler)
    previous = logger.level
    logger.setLevel(logging.WARNING)
    yield seen
    logger.removeHandler(handler)
    logger.setLevel(previous)


def in_background(*steps: Callable[[], object]) -> threading.Thread:
    """Run ``steps`` one after the other in a thread (each waits for its own event)."""

    def run() -> None:
        for step in steps:
            step()

    thread = threading.Thread(target=run, daemon=True)
    thread.start()
    return thread


def accounted(result: mc.PushResult) -> bool:
    return (
        result.members_accepted
        + result.members_failed
        + result.skipped_anonymous
        + result.skipped_duplicates
        == result.input_rows
    )


# --------------------------------------------------------------------------- while sending
def test_a_second_ctrl_c_aborts_without_waiting_for_the_requests_in_flight(
    holding, stopping_logged
):
    app = mc.AppCredentials("WS", KEY, base_url=holding.url)
    done: list[int] = []
    watcher = in_background(
        lambda: holding.held.wait(60),  # a request is in flight, and stays there
        interrupt,
        lambda: stopping_logged.wait(60),  # the first press was handled: stopping
        interrupt,  # the second press: abort
    )
    result = mc.push_cohort(
        pd.DataFrame({"uid": USERS}),
        app,
        "Held",
        requests_per_minute=FAST,
        progress=lambda d, t: done.append(d),
    )
    watcher.join()
    assert holding.answered == 1 and not holding.released.is_set()  # still held: not waited for
    assert result.stopped_by == "interrupted by the user" and result.interrupted
    assert accounted(result) and not result.ok
    first_body = result.members_accepted
    assert 0 < first_body < len(USERS)
    kinds = result.failed["error_type"].value_counts().to_dict()
    assert kinds.get("Interrupted", 0) > 0  # the held requests: they may or may not land
    assert set(kinds) <= {"Interrupted", "NotSent"}
    held = result.failed[result.failed["error_type"] == "Interrupted"]
    assert "may or may not have landed" in held["message"].iloc[0]
    assert done[-1] == first_body  # the bar stops where the work stopped, not at 100 %
    assert signal.getsignal(signal.SIGINT) is signal.default_int_handler


def test_the_progress_bar_stops_where_the_work_stopped(moe_emulator):
    moe_emulator.add_workspace("WS", KEY, users=USERS, requests_per_minute=100_000)
    app = mc.AppCredentials("WS", KEY, base_url=moe_emulator.url)
    done: list[int] = []
    accepted = threading.Event()

    def first_accepted() -> None:
        while not any(e["status"] == 200 for e in moe_emulator.request_log("WS")):
            accepted.wait(0.005)

    watcher = in_background(first_accepted, interrupt)
    result = mc.push_cohort(
        pd.DataFrame({"uid": USERS}),
        app,
        "Bar",
        requests_per_minute=600,
        progress=lambda d, t: done.append(d),
    )
    watcher.join()
    assert result.interrupted and accounted(result)
    answered = result.members_accepted + int(result.failed["status"].notna().sum())
    assert done[-1] == answered < len(USERS)


def test_an_interrupted_sync_reports_what_was_acknowledged(moe_emulator, tmp_path):
    moe_emulator.add_workspace("WS", KEY, users=USERS, requests_per_minute=100_000)
    app = mc.AppCredentials("WS", KEY, base_url=moe_emulator.url)
    state = tmp_path / "sync.sqlite"
    waiting = threading.Event()

    def first_accepted() -> None:
        while not any(e["status"] == 200 for e in moe_emulator.request_log("WS")):
            waiting.wait(0.005)

    watcher = in_background(first_accepted, interrupt)
    result = mc.sync_cohort(
        pd.DataFrame({"uid": USERS}), app, "Mirror", state=state, requests_per_minute=600
    )
    watcher.join()
    members = moe_emulator.cohort_members("WS", "Mirror")
    assert result.status == "stopped" and result.interrupted
    assert result.added == len(members) < result.to_add == len(USERS)
    assert f"+{result.added:,} of {len(USERS):,} to add" in result.headline
    assert f"+{len(USERS):,} -0" not in result.headline  # never claims the plan as done
    log = mc.sync_log(app, "Mirror", state=state)
    assert (log["added"].iloc[0], log["to_add"].iloc[0]) == (len(members), len(USERS))
    # The next run sends only what was not acknowledged, and ends with everyone.
    rerun = mc.sync_cohort(
        pd.DataFrame({"uid": USERS}), app, "Mirror", state=state, requests_per_minute=FAST
    )
    assert rerun.ok and rerun.to_add == len(USERS) - len(members)
    assert moe_emulator.cohort_members("WS", "Mirror") == set(USERS)


# --------------------------------------------------------------------------- before sending
def chunks_then_ctrl_c(after: int) -> Iterator[pd.DataFrame]:
    """A streamed input whose reading is interrupted after ``after`` chunks."""
    for i in range(0, len(USERS), 5_000):
        if i == after * 5_000:
            interrupt()
        yield pd.DataFrame({"uid": USERS[i : i + 5_000]})


@pytest.fixture
def spool_dir(tmp_path, monkeypatch) -> Path:
    """Where temporary files go during the test (the spool's among them)."""
    monkeypatch.setattr(tempfile, "tempdir", str(tmp_path))
    return tmp_path


def test_ctrl_c_while_reading_a_push_sends_nothing_and_cleans_up(moe_emulator, spool_dir):
    moe_emulator.add_workspace("WS", KEY, users=USERS)
    app = mc.AppCredentials("WS", KEY, base_url=moe_emulator.url)
    with pytest.raises(KeyboardInterrupt):
        mc.push_cohort(chunks_then_ctrl_c(2), app, "Read", progress=False)
    assert moe_emulator.request_log("WS") == []
    assert list(spool_dir.glob("moecohort-*")) == []  # the on-disk spool is gone
    assert signal.getsignal(signal.SIGINT) is signal.default_int_handler


def test_ctrl_c_while_reading_a_sync_records_no_run(moe_emulator, tmp_path):
    moe_emulator.add_workspace("WS", KEY, users=USERS)
    app = mc.AppCredentials("WS", KEY, base_url=moe_emulator.url)
    state = tmp_path / "sync.sqlite"
    with pytest.raises(KeyboardInterrupt):
        mc.sync_cohort(chunks_then_ctrl_c(2), app, "Read", state=state, progress=False)
    assert moe_emulator.request_log("WS") == []
    assert mc.sync_log(app, state=state).empty  # no run left "running" to resume
    again = mc.sync_cohort(pd.DataFrame({"uid": USERS[:10]}), app, "Read", state=state)
    assert again.ok and not again.resumed and again.to_add == 10


# --------------------------------------------------------------------------- the command line
@pytest.fixture
def cli_env(monkeypatch, tmp_path):
    monkeypatch.setenv("MOECOHORT_CONFIG_DIR", str(tmp_path / "config"))
    monkeypatch.setenv("MOECOHORT_NO_KEYRING", "1")
    users = tmp_path / "users.csv"
    pd.DataFrame({"uid": USERS}).to_csv(users, index=False)
    return users


def test_the_cli_says_stopping_and_still_reports_after_two_ctrl_c(
    holding, stopping_logged, cli_env, tmp_path
):
    failed_out = tmp_path / "failed.csv"
    env = {
        "MOECOHORT_WORKSPACE_ID": "WS",
        "MOECOHORT_DATA_API_KEY": KEY,
        "MOECOHORT_BASE_URL": holding.url,
    }
    watcher = in_background(
        lambda: holding.held.wait(60),
        interrupt,
        lambda: stopping_logged.wait(60),
        interrupt,
    )
    result = CliRunner().invoke(
        cli,
        ["push", str(cli_env), "-n", "Held", "--rpm", str(FAST), "--failed-out", str(failed_out)],
        env=env,
    )
    watcher.join()
    assert result.exit_code == 130, result.output
    assert "stopping…" in result.output  # said on the command line, not only logged
    assert "push incomplete" in result.output
    assert "members accepted by the API" in result.output
    failed = pd.read_csv(failed_out, dtype={"uid": str})
    assert {"Interrupted", "NotSent"} >= set(failed["error_type"]) >= {"Interrupted"}
    assert "Aborted!" not in result.output and KEY not in result.output


def test_the_cli_says_nothing_was_sent_when_ctrl_c_comes_before_sending(tmp_path, monkeypatch):
    monkeypatch.setenv("MOECOHORT_NO_KEYRING", "1")
    users = tmp_path / "users.csv"
    pd.DataFrame({"uid": USERS[:100]}).to_csv(users, index=False)
    original = pd.read_csv

    def read_then_ctrl_c(*args, **kwargs):
        interrupt()
        return original(*args, **kwargs)

    monkeypatch.setattr(pd, "read_csv", read_then_ctrl_c)
    result = CliRunner().invoke(cli, ["push", str(users), "-n", "X", "--dry-run"])
    assert result.exit_code == 130, result.output
    assert "interrupted: nothing more is sent" in result.output
    assert "Traceback" not in result.output and "Aborted!" not in result.output


def test_ctrl_c_while_the_command_loads_ends_quietly(monkeypatch, capsys):
    import moecohort.cli as entry

    def loading():
        raise KeyboardInterrupt  # as if Ctrl-C came while the commands were imported

    monkeypatch.setattr(entry, "_group", loading)
    with pytest.raises(SystemExit) as info:
        entry.main()
    assert info.value.code == 130
    captured = capsys.readouterr()
    assert captured.err.strip() == "interrupted" and "Traceback" not in captured.err


def test_a_process_told_to_ignore_ctrl_c_keeps_ignoring_it(holding):
    # A background job (nohup, `cmd &`) starts with SIGINT ignored: a push must not undo it.
    previous = signal.signal(signal.SIGINT, signal.SIG_IGN)
    try:
        app = mc.AppCredentials("WS", KEY, base_url=holding.url)
        seen = []

        def release_when_held() -> None:
            holding.held.wait(60)
            seen.append(signal.getsignal(signal.SIGINT))  # what the push installed, if anything
            interrupt()  # ignored
            holding.release()

        watcher = in_background(release_when_held)
        result = mc.push_cohort(pd.DataFrame({"uid": USERS}), app, "Ignored", progress=False)
        watcher.join()
        assert seen == [signal.SIG_IGN]
        assert result.ok and result.members_accepted == len(USERS)
    finally:
        signal.signal(signal.SIGINT, previous)


def test_a_wait_entered_after_an_abort_is_not_an_error():
    from moecohort.delivery.interrupts import CtrlC

    ctrl_c = CtrlC()
    ctrl_c.presses = 2  # aborted already, as when the run's last wait begins
    entered = []
    with ctrl_c.blocking():
        entered.append(True)  # the wait itself checks `aborted` and returns at once
    assert entered == [True] and ctrl_c.aborted
