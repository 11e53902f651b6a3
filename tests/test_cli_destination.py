"""The command line's faces of "know what will land" and "several destinations":
``lookup``, ``estimate``, ``push/sync --check-destination`` and ``--min-presence``,
``--profile`` more than once, ``--no-shared-budget``; driven through click's test runner
against the emulator.

Lookups go at production pace (20 ids a request, 1.2 s apart) unless asked otherwise:
these tests give the emulator's workspaces no Get User limit and the commands
``--users-per-minute 600000``, so a few requests take milliseconds whatever the machine.
"""

from __future__ import annotations

import json
import os
from pathlib import Path

import pandas as pd
import pytest
from click.testing import CliRunner

import moecohort as mc
from moecohort.cli import cli
from moecohort.cli.send import presence_verdict
from moecohort.emulator import Faults
from moecohort.lookup import PresenceEstimate

KEY_EU = "eu-secret-key-5b1d0c9e"
KEY_US = "us-secret-key-8e2f7a41"
FAST = ["--users-per-minute", "600000"]
#: u0..u49: EU knows the even ones (with attributes), US every third.
IDS = [f"u{i}" for i in range(50)]


@pytest.fixture(autouse=True)
def isolated_config(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    config = tmp_path / "config"
    for var in list(os.environ):
        if var.startswith("MOECOHORT_") and var != "MOECOHORT_BUDGET_DIR":
            monkeypatch.delenv(var)
    monkeypatch.setenv("MOECOHORT_CONFIG_DIR", str(config))
    monkeypatch.setenv("MOECOHORT_NO_KEYRING", "1")
    return config


@pytest.fixture
def runner() -> CliRunner:
    return CliRunner()


@pytest.fixture
def emu(moe_emulator, monkeypatch: pytest.MonkeyPatch):
    """Two apps, EU and US, as saved profiles ``eu`` and ``us`` and in MOECOHORT_EU_* /
    MOECOHORT_US_*."""
    moe_emulator.add_workspace(
        "EU",
        KEY_EU,
        users={f"u{i}": {"name": f"Name {i}", "city": "Lyon"} for i in range(0, 50, 2)},
        lookups_per_minute=None,
    )
    moe_emulator.add_workspace(
        "US", KEY_US, users=[f"u{i}" for i in range(0, 50, 3)], lookups_per_minute=None
    )
    for name, key in (("EU", KEY_EU), ("US", KEY_US)):
        app = mc.AppCredentials(name, key, base_url=moe_emulator.url, name=name.lower())
        mc.save_profile(app, name.lower())
        monkeypatch.setenv(f"MOECOHORT_{name}_WORKSPACE_ID", name)
        monkeypatch.setenv(f"MOECOHORT_{name}_DATA_API_KEY", key)
        monkeypatch.setenv(f"MOECOHORT_{name}_BASE_URL", moe_emulator.url)
    return moe_emulator


@pytest.fixture
def users_csv(tmp_path: Path) -> str:
    """u0..u49, one anonymous row and one repeat, in a semicolon-separated file."""
    path = tmp_path / "users.csv"
    frame = pd.DataFrame({"ID": [*IDS, None, "u1"], "plan": "gold"})
    frame.to_csv(path, index=False, sep=";")
    return str(path)


def no_key(*texts: str) -> None:
    for text in texts:
        assert KEY_EU not in text and KEY_US not in text


@pytest.mark.parametrize("command", ["lookup", "estimate"])
def test_the_new_commands_have_help(runner: CliRunner, command: str) -> None:
    result = runner.invoke(cli, [command, "--help"])
    assert result.exit_code == 0 and "Usage:" in result.output


# --------------------------------------------------------------------------- lookup
def test_lookup_ids_given_as_arguments(runner: CliRunner, emu) -> None:
    result = runner.invoke(
        cli, ["lookup", "u2", "u3", "007", "u2", "--profile", "eu", "--fields", "name"]
    )
    assert result.exit_code == 0, result.output
    out = result.stdout
    assert "1 of 3 users found in workspace EU (33.3%)" in out
    assert "found (1):" in out
    table = out.split("found (1):")[1]
    assert "u2" in table and "Name 2" in table and "Lyon" not in table  # --fields name
    assert "not found (2): 'u3', '007'" in out
    no_key(result.output)


def test_lookup_ids_from_a_file_with_csv_options_as_json(
    runner: CliRunner, emu, users_csv: str
) -> None:
    result = runner.invoke(
        cli,
        [
            "lookup",
            "--file",
            users_csv,
            "--id-col",
            "ID",
            "--sep",
            ";",
            "--env",
            "MOECOHORT_EU",
            "--json",
            "--no-progress",
            *FAST,
        ],
    )
    assert result.exit_code == 0, result.output
    data = json.loads(result.stdout)
    assert data["ok"] is True and data["workspace_id"] == "EU"
    assert (data["found"], data["not_found"], data["failed"]) == (25, 25, 0)
    assert (data["skipped_anonymous"], data["skipped_duplicates"]) == (1, 1)
    assert data["requests"] == 3  # 50 ids, 20 a request
    users = {u["uid"]: u for u in data["users"]}
    assert set(users) == {f"u{i}" for i in range(0, 50, 2)}
    assert users["u4"]["name"] == "Name 4" and users["u4"]["city"] == "Lyon"
    assert set(data["not_found_ids"]) == {f"u{i}" for i in range(1, 50, 2)}
    no_key(result.output)


def test_lookup_exits_one_when_some_ids_could_not_be_looked_up(
    runner: CliRunner, emu, fast_backoff
) -> None:
    emu.set_faults(Faults(error_500=1.0))
    result = runner.invoke(cli, ["lookup", "u1", "u2", "--profile", "eu"])
    assert result.exit_code == 1, result.output
    assert "0 of 0 users found in workspace EU, 2 not looked up" in result.output
    assert "ServerError" in result.output


def test_lookup_arguments_and_errors_in_the_command_line_words(runner: CliRunner, emu) -> None:
    both = runner.invoke(cli, ["lookup", "u1", "--file", "x.csv", "--profile", "eu"])
    assert both.exit_code == 2 and "not both" in both.output
    neither = runner.invoke(cli, ["lookup", "--profile", "eu"])
    assert neither.exit_code == 2 and "nor neither" in neither.output
    pace = runner.invoke(cli, ["lookup", "u1", "--profile", "eu", "--users-per-minute", "0"])
    assert pace.exit_code == 1 and "--users-per-minute must be a number above 0" in pace.output
    emu.add_workspace("EU", KEY_EU, users=["u1"], lookups=False)
    disabled = runner.invoke(cli, ["lookup", "u1", "--profile", "eu"])
    assert disabled.exit_code == 1 and "Traceback" not in disabled.output
    assert "Get User API" in disabled.output
    no_key(both.output, neither.output, pace.output, disabled.output)


# --------------------------------------------------------------------------- estimate
def test_estimate_prints_the_interval_and_the_expected_members(
    runner: CliRunner, emu, users_csv: str
) -> None:
    args = ["estimate", users_csv, "--id-col", "ID", "--profile", "eu", "--sample", "20"]
    result = runner.invoke(cli, [*args, "--seed", "3", *FAST])
    assert result.exit_code == 0, result.output
    out = result.stdout
    assert "PresenceEstimate: about" in out and "of 50 users are known in workspace EU" in out
    assert "interval (95%)" in out and "expected members" in out
    assert "a uniform random sample of 20 ids looked up, seed 3" in out
    again = runner.invoke(cli, [*args, "--seed", "3", *FAST])
    assert again.stdout.splitlines()[0] == out.splitlines()[0]  # the seed repeats the sample
    as_json = runner.invoke(cli, [*args, "--seed", "3", "--json", *FAST])
    data = json.loads(as_json.stdout)
    assert (data["n_distinct"], data["n_checked"], data["seed"]) == (50, 20, 3)
    assert data["low"] <= data["fraction"] <= data["high"]
    assert data["expected_low"] <= data["expected_members"] <= data["expected_high"]
    assert "members" not in emu.cohorts("EU")  # nothing created
    no_key(result.output, as_json.output)


def test_estimate_exact_and_its_limits(runner: CliRunner, emu, users_csv: str) -> None:
    base = ["estimate", users_csv, "--id-col", "ID", "--profile", "eu", *FAST]
    exact = runner.invoke(cli, [*base, "--exact", "--json"])
    assert exact.exit_code == 0, exact.output
    data = json.loads(exact.stdout)
    assert data["exact"] and (data["n_found"], data["n_distinct"]) == (25, 50)
    assert data["expected_members"] == data["expected_low"] == 25
    refused = runner.invoke(cli, [*base, "--exact", "--max-lookups", "10"])
    assert refused.exit_code == 1 and "--max-lookups 10" in refused.output
    bad = runner.invoke(cli, [*base, "--confidence", "1.5"])
    assert bad.exit_code == 1 and "--confidence must be a number between 0 and 1" in bad.output
    small = runner.invoke(cli, [*base, "--sample", "0"])
    assert small.exit_code == 1 and "--sample must be" in small.output


# --------------------------------------------------------------------------- --check-destination
def test_check_destination_shows_the_checks_then_the_expected_members(
    runner: CliRunner, emu, users_csv: str
) -> None:
    emu.add_segment("EU", "Dashboard list", source="DASHBOARD")
    args = ["push", users_csv, "--id-col", "ID", "--sep", ";", "-p", "eu", *FAST]
    taken = runner.invoke(cli, [*args, "-n", "Dashboard list", "--check-destination"])
    out = taken.stdout
    assert "PreflightReport: ready, with 2 warning(s): cohort 'Dashboard list'" in out
    assert "segments list                  1 with this name" in out
    assert "source 'DASHBOARD'" in out and "warning: the name 'Dashboard list' is already" in out
    assert "users known to the destination 25 of 50 (50.0%)" in out
    assert out.index("PreflightReport") < out.index("PushResult")  # checked before sending

    fine = runner.invoke(cli, [*args, "-n", "Landing", "--check-destination"])
    assert fine.exit_code == 0, fine.output
    assert "50 users accepted by the API (add) for cohort 'Landing'" in fine.stdout
    assert "; 25 expected to land" in fine.stdout  # the result shows the expected members
    assert "members expected to land                 25" in fine.stdout
    assert len(emu.cohort_members("EU", "Landing")) == 25
    no_key(taken.output, fine.output)


def test_check_destination_as_json(runner: CliRunner, emu, users_csv: str) -> None:
    result = runner.invoke(
        cli,
        [
            "push",
            users_csv,
            "--id-col",
            "ID",
            "--sep",
            ";",
            "-p",
            "eu",
            "-n",
            "J",
            "--check-destination",
            "--json",
            "--no-progress",
            *FAST,
        ],
    )
    assert result.exit_code == 0, result.output
    data = json.loads(result.stdout)  # stdout holds the JSON alone
    assert data["members_accepted"] == 50
    assert data["expected_members"]["members"] == 25 and data["expected_members"]["exact"]
    assert data["preflight"]["ok"] and data["preflight"]["presence"]["n_found"] == 25
    assert data["preflight"]["segments_checked"] is True


def test_check_destination_with_dry_run_checks_and_creates_nothing(
    runner: CliRunner, emu, users_csv: str
) -> None:
    result = runner.invoke(
        cli,
        [
            "push",
            users_csv,
            "--id-col",
            "ID",
            "--sep",
            ";",
            "-p",
            "eu",
            "-n",
            "Dry",
            "--dry-run",
            "--check-destination",
            *FAST,
        ],
    )
    assert result.exit_code == 0, result.output
    assert "PreflightReport: ready" in result.stdout
    assert "would push 50 users (add) to cohort 'Dry' in workspace EU; 25 expected to land" in (
        result.stdout
    )
    assert emu.cohorts("EU") == []
    assert emu.request_log(endpoint="get_user")  # the users were checked


def test_check_destination_stops_on_rejected_credentials(
    runner: CliRunner, emu, users_csv: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("MOECOHORT_EU_DATA_API_KEY", "not-the-key-00000000")
    result = runner.invoke(
        cli,
        [
            "push",
            users_csv,
            "--id-col",
            "ID",
            "--sep",
            ";",
            "--env",
            "MOECOHORT_EU",
            "-n",
            "Nope",
            "--check-destination",
            *FAST,
        ],
    )
    assert result.exit_code == 1
    assert "PreflightReport: not ready" in result.stdout
    assert "Error: nothing sent: credentials rejected" in result.output
    assert emu.cohorts("EU") == []
    assert "not-the-key-00000000" not in result.output


def test_sync_check_destination_shows_the_members_expected_in_the_cohort(
    runner: CliRunner, emu, users_csv: str, tmp_path: Path
) -> None:
    result = runner.invoke(
        cli,
        [
            "sync",
            users_csv,
            "--id-col",
            "ID",
            "--sep",
            ";",
            "-p",
            "us",
            "-n",
            "Mirror",
            "--state",
            str(tmp_path / "s.sqlite"),
            "--check-destination",
            *FAST,
        ],
    )
    assert result.exit_code == 0, result.output
    assert "17 of 50 (34.0%)" in result.stdout
    assert "; 17 members expected in the cohort" in result.stdout
    assert len(emu.cohort_members("US", "Mirror")) == 17


# --------------------------------------------------------------------------- --min-presence
def test_min_presence_stops_before_sending(runner: CliRunner, emu, users_csv: str) -> None:
    args = ["push", users_csv, "--id-col", "ID", "--sep", ";", "-p", "eu", "-n", "Gate", *FAST]
    stopped = runner.invoke(cli, [*args, "--min-presence", "80%"])
    assert stopped.exit_code == 1
    assert (
        "Error: nothing sent: --min-presence 80%: 50.0% of the users are known "
        "(every id looked up): too few"
    ) in stopped.output
    assert "PushResult" not in stopped.stdout
    assert emu.cohorts("EU") == []  # --min-presence implies --check-destination

    as_json = runner.invoke(cli, [*args, "--min-presence", "0.8", "--json"])
    assert as_json.exit_code == 1
    data = json.loads(as_json.stdout)
    assert data["sent"] is False and "too few" in data["min_presence"]["eu"]

    passed = runner.invoke(cli, [*args, "--min-presence", "0.5"])
    assert passed.exit_code == 0, passed.output
    assert "--min-presence 50%: 50.0% of the users are known (every id looked up): enough" in (
        passed.stdout
    )
    assert len(emu.cohort_members("EU", "Gate")) == 25


@pytest.mark.parametrize("value", ["1.5", "120%", "-0.1", "most"])
def test_min_presence_takes_a_fraction_or_a_percentage(
    runner: CliRunner, emu, users_csv: str, value: str
) -> None:
    result = runner.invoke(
        cli, ["push", users_csv, "--id-col", "ID", "-p", "eu", "-n", "X", "--min-presence", value]
    )
    assert result.exit_code == 2
    assert "give a fraction from 0 to 1 (0.8) or a percentage (80%)" in result.output


def test_min_presence_compares_the_lower_bound_of_a_sample() -> None:
    """A sampled estimate passes only when its lower bound reaches the minimum: 55 % found
    in 400 of 1,000 ids is not enough for 53 % (the interval starts near 51 %)."""
    sampled = PresenceEstimate(
        workspace_id="EU", n_distinct=1000, n_checked=400, n_found=220, seed=1
    )
    checked = mc.PreflightReport("EU", "X", presence=sampled)
    low = sampled.low
    assert 0.5 < low < 0.53 < sampled.fraction
    enough, line = presence_verdict(checked, 0.53)
    assert not enough
    assert line == (
        f"--min-presence 53%: at least {low:.1%} of the users are known (the lower bound of "
        f"the estimate 55.0%, {low:.1%} to {sampled.high:.1%} at 95%): too few"
    )
    assert presence_verdict(checked, 0.5)[0]
    unknown = mc.PreflightReport("EU", "X")
    assert presence_verdict(unknown, 0.1) == (
        False,
        "--min-presence 10%: the users the destination knows could not be checked",
    )


# --------------------------------------------------------------------------- several apps
def test_push_to_several_profiles_at_once(runner: CliRunner, emu, users_csv: str) -> None:
    result = runner.invoke(
        cli,
        [
            "push",
            users_csv,
            "--id-col",
            "ID",
            "--sep",
            ";",
            "-n",
            "Everywhere",
            "--profile",
            "eu",
            "--profile",
            "us",
            "--check-destination",
            *FAST,
        ],
    )
    assert result.exit_code == 0, result.output
    out = result.stdout
    assert "MultiAppResult: push of cohort 'Everywhere' to 2 apps: 2 ok, 0 not ok" in out
    rows = {line.split()[0]: line for line in out.splitlines() if line.startswith("   ")}
    assert set(rows) >= {"eu", "us"} and "EU" in rows["eu"] and "US" in rows["us"]
    assert "eu: 50 users accepted by the API (add) for cohort 'Everywhere' in workspace EU" in out
    assert "; 25 expected to land" in out and "; 17 expected to land" in out
    assert len(emu.cohort_members("EU", "Everywhere")) == 25
    assert len(emu.cohort_members("US", "Everywhere")) == 17
    no_key(result.output)


def test_one_app_failing_does_not_stop_the_others_and_failures_share_one_file(
    runner: CliRunner, emu, users_csv: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("MOECOHORT_US_DATA_API_KEY", "not-the-key-00000000")
    emu.add_segment("EU", "Both", source="DASHBOARD")  # EU refuses the cohort: users fail
    failed = tmp_path / "failed.csv"
    result = runner.invoke(
        cli,
        [
            "push",
            users_csv,
            "--id-col",
            "ID",
            "--sep",
            ";",
            "-n",
            "Both",
            "--no-progress",
            "--env",
            "MOECOHORT_EU",
            "--env",
            "MOECOHORT_US",
            "--failed-out",
            str(failed),
        ],
    )
    assert result.exit_code == 1
    out = result.stdout
    assert "to 2 apps: 0 ok, 2 not ok" in out
    assert "US: error: HTTP 401: Unauthorized - App Secret key mismatch." in out
    assert "EU: failed (first rows):" in out
    assert f"failed users of every app written to {failed} (column app)" in out
    frame = pd.read_csv(failed, dtype=str)
    assert list(frame.columns[:2]) == ["app", "uid"]
    assert frame["app"].value_counts()["EU"] == 50  # and US's users, stopped by the 401
    assert set(frame.loc[frame["app"] == "US", "status"]) == {"401"}
    assert "not-the-key-00000000" not in result.output

    good = runner.invoke(
        cli,
        [
            "push",
            users_csv,
            "--id-col",
            "ID",
            "--sep",
            ";",
            "-n",
            "Only EU",
            "--json",
            "--env",
            "MOECOHORT_EU",
            "--env",
            "MOECOHORT_US",
        ],
    )
    assert good.exit_code == 1  # exit 0 only when every app is ok
    data = json.loads(good.stdout)
    assert data["ok"] is False and data["apps"]["EU"]["ok"] is True
    assert "error" in data["apps"]["US"]
    assert len(emu.cohort_members("EU", "Only EU")) == 25


def test_sync_to_several_apps_and_a_dry_run(
    runner: CliRunner, emu, users_csv: str, tmp_path: Path
) -> None:
    args = ["sync", users_csv, "--id-col", "ID", "--sep", ";", "-n", "Mirror", "-p", "eu"]
    args += ["-p", "us", "--state", str(tmp_path / "s.sqlite")]
    preview = runner.invoke(cli, [*args, "--dry-run"])
    assert preview.exit_code == 0, preview.output
    assert "eu: would sync cohort 'Mirror' in workspace EU: +50 -0" in preview.stdout
    assert emu.cohorts("EU") == [] and emu.cohorts("US") == []
    done = runner.invoke(cli, [*args, "--json"])
    assert done.exit_code == 0, done.output
    data = json.loads(done.stdout)
    assert {a: r["added"] for a, r in data["apps"].items()} == {"eu": 50, "us": 50}


def test_one_profile_changes_nothing(runner: CliRunner, emu, users_csv: str) -> None:
    result = runner.invoke(
        cli, ["push", users_csv, "--id-col", "ID", "--sep", ";", "-p", "eu", "-n", "One"]
    )
    assert result.exit_code == 0, result.output
    assert result.stdout.startswith("PushResult: 50 users accepted by the API")
    assert "MultiAppResult" not in result.stdout


def test_the_same_app_twice_is_refused(runner: CliRunner, emu, users_csv: str) -> None:
    result = runner.invoke(
        cli, ["push", users_csv, "--id-col", "ID", "-p", "eu", "--env", "MOECOHORT_EU", "-n", "X"]
    )
    assert result.exit_code == 1 and "given twice" in result.output
    assert emu.cohorts("EU") == []


# --------------------------------------------------------------------------- --no-shared-budget
@pytest.mark.parametrize("kind", ["push", "sync"])
@pytest.mark.parametrize("flag", [[], ["--no-shared-budget"]])
def test_no_shared_budget_reaches_the_library(
    runner: CliRunner,
    emu,
    users_csv: str,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    kind: str,
    flag: list[str],
) -> None:
    import moecohort.push
    import moecohort.sync

    seen: dict[str, object] = {}
    module = moecohort.push if kind == "push" else moecohort.sync
    name = "push_cohort" if kind == "push" else "sync_cohort"
    real = getattr(module, name)

    def spy(*args: object, **kwargs: object):
        seen.update(kwargs)
        return real(*args, **kwargs)

    monkeypatch.setattr(module, name, spy)
    state = ["--state", str(tmp_path / "s.sqlite")] if kind == "sync" else []
    result = runner.invoke(
        cli, [kind, users_csv, "--id-col", "ID", "--sep", ";", "-p", "eu", "-n", "B", *state, *flag]
    )
    assert result.exit_code == 0, result.output
    assert seen["shared_budget"] is (False if flag else None)


def test_the_faces_leave_mc_preflight_the_function() -> None:
    """The module moecohort.preflight holds the function preflight: a face importing the
    module first would leave ``mc.preflight`` naming the module."""
    import subprocess
    import sys

    code = (
        "import moecohort.cli.send, moecohort.widgets, moecohort as mc\n"
        "from moecohort.cli import cli\n"
        "assert callable(mc.preflight), mc.preflight\n"
    )
    root = Path(__file__).resolve().parents[1]
    proc = subprocess.run([sys.executable, "-c", code], cwd=root, capture_output=True, text=True)
    assert proc.returncode == 0, proc.stderr
