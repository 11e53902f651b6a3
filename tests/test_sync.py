"""Mirror sync against the emulator: diffs, resyncs, failures retried, locking,
streamed input, and kill-and-resume with a real SIGKILL."""

from __future__ import annotations

import logging
import os
import signal
import sqlite3
import subprocess
import sys
import textwrap
import time
from pathlib import Path

import pandas as pd
import pyarrow as pa
import pyarrow.parquet as pq
import pytest
from support import ids

import moecohort as mc
from moecohort.sync import SyncState, sync_changes, sync_cohort, sync_log

KEY = "sync-test-key-93c1f0"
FAST = 60_000


pytestmark = pytest.mark.usefixtures("fast_backoff")


USERS = ids(40_000)


@pytest.fixture
def emu(moe_emulator):
    moe_emulator.add_workspace("WS", KEY, users=USERS, requests_per_minute=1_000_000)
    return moe_emulator


@pytest.fixture
def app(emu) -> mc.AppCredentials:
    return mc.AppCredentials("WS", KEY, base_url=emu.url)


@pytest.fixture
def state(tmp_path: Path) -> Path:
    return tmp_path / "state.sqlite"


def frame(uids: list[str], extra: list[object] | None = None) -> pd.DataFrame:
    return pd.DataFrame({"uid": list(uids) + list(extra or [])})


def run(data, app, state, name="Mirror", **kw) -> mc.SyncResult:
    kw.setdefault("requests_per_minute", FAST)
    kw.setdefault("progress", False)
    return sync_cohort(data, app, name, state=state, **kw)


def accounted(result: mc.SyncResult) -> None:
    assert (
        result.input_rows == result.desired + result.skipped_anonymous + result.skipped_duplicates
    )
    failed_adds = int((result.failed["op"] == "add").sum()) if len(result.failed) else 0
    failed_removes = len(result.failed) - failed_adds
    if not result.dry_run:
        assert result.to_add == result.added + failed_adds
        assert result.to_remove == result.removed + failed_removes


@pytest.mark.parametrize("wire_format", ["segment_sync", "cohort_sync"])
def test_first_run_sends_everyone_then_only_the_difference(emu, app, state, wire_format):
    first = run(
        frame(USERS[:20_000], [None, "guest", USERS[0]]), app, state, wire_format=wire_format
    )
    accounted(first)
    assert first.ok and first.to_add == first.added == 20_000 and first.to_remove == 0
    assert first.skipped_anonymous == 2 and first.skipped_duplicates == 1
    assert emu.cohort_members("WS", "Mirror") == set(USERS[:20_000])
    requests_before = len(emu.request_log("WS"))

    churned = USERS[300:20_300]  # 300 left, 300 joined
    second = run(frame(churned), app, state, wire_format=wire_format)
    accounted(second)
    assert second.ok
    assert (second.to_add, second.to_remove, second.unchanged) == (300, 300, 19_700)
    assert emu.cohort_members("WS", "Mirror") == set(churned)
    sent = emu.request_log("WS")[requests_before:]
    assert sum(e["members"] for e in sent) == 600  # only the difference travelled
    assert len(sent) == (1 if wire_format == "segment_sync" else 2)  # adds + removes together

    third = run(frame(churned), app, state, wire_format=wire_format)
    assert (third.to_add, third.to_remove, third.requests) == (0, 0, 0)


def test_dry_run_shows_the_plan_and_changes_nothing(emu, app, state):
    run(frame(USERS[:1_000]), app, state)
    log_before = len(emu.request_log("WS"))
    history_before = len(sync_log(state=state))
    plan = run(frame(USERS[500:1_600]), app, state, dry_run=True)
    assert plan.dry_run and plan.status == "dry_run"
    assert (plan.to_add, plan.to_remove) == (600, 500)
    assert set(plan.sample_adds) <= set(USERS[1_000:1_600])
    assert set(plan.sample_removes) <= set(USERS[:500])
    assert plan.plan is not None and plan.plan["bytes"].max() <= 128_000
    assert int(plan.plan["add_members"].sum()) == 600
    assert len(emu.request_log("WS")) == log_before
    assert len(sync_log(state=state)) == history_before
    assert "would sync" in repr(plan)


def test_resync_all_and_last_difference(emu, app, state):
    run(frame(USERS[:1_000]), app, state)
    run(frame(USERS[100:1_100]), app, state)  # +100 -100
    quiet = run(frame(USERS[100:1_100]), app, state)
    assert quiet.to_add == quiet.to_remove == 0

    last = run(frame(USERS[100:1_100]), app, state, resync="last_diff")
    assert (last.to_add, last.to_remove) == (100, 100)  # the last real difference, again
    everyone = run(frame(USERS[100:1_100]), app, state, resync="all")
    assert (everyone.to_add, everyone.to_remove) == (1_000, 0)
    assert emu.cohort_members("WS", "Mirror") == set(USERS[100:1_100])
    with pytest.raises(mc.InputError, match="resync"):
        run(frame(USERS[:10]), app, state, resync="everything")


def test_failed_changes_are_retried_by_the_next_run(emu, app, state):
    emu.set_faults(error_500=1.0)
    failed = run(frame(USERS[:3_000]), app, state, max_retries=0)
    accounted(failed)
    assert not failed.ok and failed.status == "failed"
    assert failed.members_failed == 3_000 and set(failed.failed["status"]) == {500}
    changes = sync_changes(failed.run_id, state=state)
    assert len(changes) == 3_000 and changes["error_type"].notna().all()
    with pytest.raises(mc.PushFailedError, match="next run retries"):
        failed.raise_for_status()

    emu.set_faults()
    retried = run(frame(USERS[:3_000]), app, state)
    assert retried.ok and retried.to_add == 3_000
    assert emu.cohort_members("WS", "Mirror") == set(USERS[:3_000])
    history = sync_log(app, "Mirror", state=state)
    assert list(history["status"]) == ["ok", "failed"]
    assert list(history.columns[:6]) == [
        "workspace_id",
        "cohort_name",
        "cohort_id",
        "mode",
        "status",
        "started",
    ]


def test_state_is_kept_per_workspace_and_cohort(emu, app, state):
    emu.add_workspace("OTHER", KEY, users=USERS)
    other = mc.AppCredentials("OTHER", KEY, base_url=emu.url)
    run(frame(USERS[:100]), app, state, name="A")
    run(frame(USERS[:100]), other, state, name="A")
    b = run(frame(USERS[:100]), app, state, name="B")
    assert b.to_add == 100  # a different cohort starts from nothing
    with SyncState(state) as store:
        assert store.members(app, mc.cohort_id_for("A")) == set(USERS[:100])
        assert store.members(other, mc.cohort_id_for("A")) == set(USERS[:100])
    assert len(sync_log(other, state=state)) == 1


def test_streamed_inputs(emu, app, state, tmp_path):
    path = tmp_path / "segment.parquet"
    pq.write_table(pa.table({"uid": USERS[:30_000] + USERS[:10] + [None]}), path)
    first = run(str(path), app, state)
    accounted(first)
    assert first.ok and first.desired == 30_000 and first.skipped_duplicates == 10
    chunks = (
        pd.read_parquet(path)
        .iloc[1_000:]
        .pipe(lambda d: [d.iloc[i : i + 7_000] for i in range(0, len(d), 7_000)])
    )
    second = run(iter(chunks), app, state)
    # The first 1,000 rows are gone, but 10 of those users come back at the end of the file.
    assert (second.to_add, second.to_remove) == (0, 990)
    assert emu.cohort_members("WS", "Mirror") == set(USERS[1_000:30_000]) | set(USERS[:10])


def test_empty_input_is_refused_unless_allowed(emu, app, state):
    run(frame(USERS[:50]), app, state)
    with pytest.raises(mc.InputError, match="anonymous"):
        run(frame([], ["", None, "guest"]), app, state)
    cleared = run(frame([], ["", None]), app, state, allow_empty=True)
    assert cleared.ok and cleared.to_remove == 50
    assert emu.cohort_members("WS", "Mirror") == set()


def test_bad_input_fails_before_anything(emu, app, state):
    with pytest.raises(mc.CohortNameError):
        sync_cohort(frame(USERS[:5]), app, "no|pipes", state=state)
    with pytest.raises(mc.InputError, match="'uid'"):
        sync_cohort(pd.DataFrame({"ID": USERS[:5]}), app, "x", state=state)
    assert emu.request_log("WS") == []


def test_a_second_sync_of_the_same_cohort_waits_or_stops(emu, app, state):
    run(frame(USERS[:10]), app, state)  # creates the state and the cohort
    locks = list(state.parent.glob(f"{state.name}.*.lock"))
    assert len(locks) == 1
    # Another process holds the cohort's lock, as a running sync would, until told to stop.
    holder = subprocess.Popen(
        [
            sys.executable,
            "-c",
            "import sys; from filelock import FileLock; "
            "lock = FileLock(sys.argv[1]); lock.acquire(); print('locked', flush=True); "
            "sys.stdin.readline()",
            str(locks[0]),
        ],
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        text=True,
    )

    class ReleaseWhenWaiting(logging.Handler):
        """The holder lets go once the second sync says it is waiting (an event, no delay)."""

        def emit(self, record: logging.LogRecord) -> None:
            if "waiting up to" in record.getMessage():
                assert holder.stdin is not None
                holder.stdin.write("done\n")
                holder.stdin.flush()

    logger = logging.getLogger("moecohort")
    release, level = ReleaseWhenWaiting(), logger.level
    try:
        assert holder.stdout is not None and holder.stdout.readline().strip() == "locked"
        with pytest.raises(mc.SyncLockedError, match="Another sync of cohort 'Mirror' is running"):
            run(frame(USERS[:20]), app, state)
        logger.addHandler(release)
        logger.setLevel(logging.INFO)
        waited = run(frame(USERS[:20]), app, state, wait=60)  # waits for the holder to end
        assert waited.ok and waited.to_add == 10
    finally:
        logger.removeHandler(release)
        logger.setLevel(level)
        holder.kill()
        holder.wait()
    other_cohort = run(frame(USERS[:5]), app, state, name="Another")
    assert other_cohort.ok


# --------------------------------------------------------------------------- kill and resume
CHILD = textwrap.dedent(
    """
    import sys
    import moecohort as mc
    from moecohort.sync import sync_cohort

    url, state, data = sys.argv[1:4]
    app = mc.AppCredentials("KILL", "%s", base_url=url)
    sync_cohort(data, app, "Killed", state=state, requests_per_minute=60000,
                max_in_flight=2, progress=False)
    """
    % KEY
)


def _known(state: Path) -> set[str]:
    with sqlite3.connect(state) as conn:
        return {r[0] for r in conn.execute("SELECT uid FROM members")}


def _running_rows(state: Path) -> int:
    if not state.exists():
        return 0
    try:
        with sqlite3.connect(state, timeout=5) as conn:
            return conn.execute("SELECT count(*) FROM runs WHERE status = 'running'").fetchone()[0]
    except sqlite3.OperationalError:
        return 0


@pytest.mark.parametrize("kill_after", [0, 1, 6, 12])
def test_sigkill_mid_sync_then_rerun_ends_exact_without_resending(
    moe_emulator, tmp_path, kill_after
):
    """A child process syncs (slow server: 40 ms per request, two in flight) and is
    SIGKILLed after ``kill_after`` requests reached the emulator (0: as soon as its
    run is recorded). The rerun sends exactly what the state had not recorded as
    acknowledged, and the cohort ends equal to the desired set."""
    emu = moe_emulator
    users = ids(60_000, seed=3)
    emu.add_workspace("KILL", KEY, users=users, requests_per_minute=1_000_000)
    emu.set_faults(latency_s=0.04)
    app = mc.AppCredentials("KILL", KEY, base_url=emu.url)
    state = tmp_path / "state.sqlite"
    data = tmp_path / "segment.parquet"

    # A first, complete sync; then the segment changes and the next sync is killed.
    pq.write_table(pa.table({"uid": users[:40_000]}), data)
    run(str(data), app, state, name="Killed")
    desired = users[20_000:60_000]  # 20,000 leave, 20,000 join: about 16 requests
    pq.write_table(pa.table({"uid": desired}), data)
    start_log = len(emu.request_log("KILL"))

    child = subprocess.Popen(
        [sys.executable, "-c", CHILD, emu.url, str(state), str(data)],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
    )
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline and child.poll() is None:
        if kill_after == 0 and _running_rows(state):
            break
        if kill_after and len(emu.request_log("KILL")) - start_log >= kill_after:
            break
        time.sleep(0.005)
    assert child.poll() is None, child.communicate()
    os.kill(child.pid, signal.SIGKILL)
    child.wait(timeout=10)
    assert emu.wait_idle()  # requests already on the wire have landed (or were dropped)

    known = _known(state)  # what the state had recorded as acknowledged
    mark = len(emu.request_log("KILL"))
    rerun = run(str(data), app, state, name="Killed")
    assert rerun.ok and rerun.resumed
    assert emu.cohort_members("KILL", "Killed") == set(desired)
    expected_adds = set(desired) - known
    expected_removes = known - set(desired)
    assert (rerun.to_add, rerun.to_remove) == (len(expected_adds), len(expected_removes))
    resent = emu.request_log("KILL")[mark:]
    assert all(e["status"] == 200 for e in resent)
    assert sum(e["members"] for e in resent) == len(expected_adds) + len(expected_removes)
    history = sync_log(app, "Killed", state=state)
    assert list(history["status"])[:2] == ["ok", "interrupted"]


# ------------------------------------------------------------- failures with no request id
def test_an_oversize_id_fails_alone_and_is_recorded(emu, app, state):
    big = "x" * 130_000
    result = run(frame([*USERS[:100], big]), app, state)
    accounted(result)
    assert result.added == 100 and result.members_failed == 1
    assert result.failed["error_type"].tolist() == ["IdTooLarge"]
    assert result.status == "failed"
    changes = sync_changes(result.run_id, state=state)
    assert changes.loc[changes["uid"] == big, "error_type"].tolist() == ["IdTooLarge"]
    assert sync_log(state=state)["status"].iloc[0] == "failed"


def test_a_wrong_key_stops_the_sync_and_keeps_the_record(emu, state):
    bad = mc.AppCredentials("WS", "not-the-key-00000000", base_url=emu.url)
    with pytest.raises(mc.AuthenticationError) as info:
        run(frame(USERS[:20_000]), bad, state)
    result = info.value.result
    assert isinstance(result, mc.SyncResult)
    accounted(result)
    assert result.added == 0 and result.members_failed == 20_000
    assert set(result.failed["error_type"]) >= {"NotSent"}
    history = sync_log(state=state)
    assert history["status"].iloc[0] == "stopped"
    assert len(emu.request_log("WS")) == 1


def test_allow_empty_only_covers_an_empty_or_anonymous_input(emu, app, state, tmp_path):
    run(frame(USERS[:30]), app, state)
    with pytest.raises(mc.InputError, match="No such file"):
        run(str(tmp_path / "exports" / "empty_cart_users.parqet"), app, state, allow_empty=True)
    with pytest.raises(mc.InputError, match="'uid' not found"):
        run(pd.DataFrame({"is_anonymous": [True]}), app, state, allow_empty=True)
    assert emu.cohort_members("WS", "Mirror") == set(USERS[:30])  # untouched
    cleared = run(frame([], [None, "guest", ""]), app, state, allow_empty=True)
    assert cleared.to_remove == 30
    assert (cleared.input_rows, cleared.skipped_anonymous) == (3, 3)


def test_a_dry_run_records_nothing_even_the_first_time(emu, app, state):
    preview = run(frame(USERS[:10]), app, state, dry_run=True)
    assert preview.to_add == 10
    with sqlite3.connect(state) as conn:
        assert conn.execute("SELECT count(*) FROM cohorts").fetchone()[0] == 0
        assert conn.execute("SELECT count(*) FROM runs").fetchone()[0] == 0
    assert emu.request_log("WS") == []
