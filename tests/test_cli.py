"""The `moecohort` command, driven through click's test runner against a real emulator."""

from __future__ import annotations

import json
import os
import stat
import subprocess
import sys
from pathlib import Path

import pandas as pd
import pytest
from click.testing import CliRunner

from moecohort.cli import cli
from moecohort.samples import DESTINATION_FILE, SOURCE_FILE, samples_dir

SAMPLES = samples_dir()
SOURCE = str(SAMPLES / SOURCE_FILE)
DEST = str(SAMPLES / DESTINATION_FILE)
KEY = "cli-test-key-7f3a9c2e"


@pytest.fixture(autouse=True)
def isolated_config(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    config = tmp_path / "config"
    monkeypatch.setenv("MOECOHORT_CONFIG_DIR", str(config))
    monkeypatch.setenv("MOECOHORT_NO_KEYRING", "1")
    for var in list(os.environ):
        if var.startswith("MOECOHORT_") and var not in (
            "MOECOHORT_CONFIG_DIR",
            "MOECOHORT_NO_KEYRING",
        ):
            monkeypatch.delenv(var)
    return config


@pytest.fixture
def runner() -> CliRunner:
    return CliRunner()


@pytest.fixture
def dest_env(moe_emulator, monkeypatch: pytest.MonkeyPatch):
    """Destination credentials in MOECOHORT_DEST_* pointing at the emulator, which
    knows the users of the sample destination export."""
    users = pd.read_csv(DEST, dtype={"ID": str})["ID"].dropna().tolist()
    moe_emulator.add_workspace("WS-CLI", KEY, users=users)
    monkeypatch.setenv("MOECOHORT_DEST_WORKSPACE_ID", "WS-CLI")
    monkeypatch.setenv("MOECOHORT_DEST_DATA_API_KEY", KEY)
    monkeypatch.setenv("MOECOHORT_DEST_BASE_URL", moe_emulator.url)
    return moe_emulator


# --------------------------------------------------------------------------- help and errors
@pytest.mark.parametrize(
    "args",
    [
        [],
        ["overlap"],
        ["push"],
        ["check"],
        ["profiles"],
        ["profiles", "add"],
        ["profiles", "list"],
        ["profiles", "remove"],
        ["emulator"],
        ["demo"],
        ["sync"],
        ["history"],
    ],
)
def test_every_command_has_help(runner: CliRunner, args: list[str]) -> None:
    result = runner.invoke(cli, [*args, "--help"])
    assert result.exit_code == 0, result.output
    assert "Usage:" in result.output


def test_missing_file_is_one_clear_line(runner: CliRunner, tmp_path: Path) -> None:
    result = runner.invoke(cli, ["overlap", str(tmp_path / "nope.csv"), DEST])
    assert result.exit_code != 0
    assert "nope.csv" in result.output
    assert "Traceback" not in result.output


def test_a_corrupt_parquet_file_is_one_line(runner: CliRunner, dest_env, tmp_path) -> None:
    bad = tmp_path / "users.parquet"
    bad.write_bytes(b"PAR1 this is not parquet PAR1")
    result = runner.invoke(cli, ["push", str(bad), "-n", "X", "--env", "MOECOHORT_DEST"])
    assert result.exit_code == 1
    assert "could not read the file" in result.output
    assert "Traceback" not in result.output


# --------------------------------------------------------------------------- overlap
def test_overlap_prints_the_report(runner: CliRunner) -> None:
    result = runner.invoke(cli, ["overlap", SOURCE, DEST, "--on", "ID"])
    assert result.exit_code == 0, result.output
    assert "2,400 ids in both apps" in result.output
    assert "near misses" in result.output


def test_overlap_json_matches_the_library(runner: CliRunner) -> None:
    import moecohort

    result = runner.invoke(cli, ["overlap", SOURCE, DEST, "--on", "ID", "--json"])
    assert result.exit_code == 0, result.output
    data = json.loads(result.output)
    expected = moecohort.overlap(pd.read_csv(SOURCE), pd.read_csv(DEST), on="ID")
    assert data["in_both"] == expected.n_in_both
    assert data["only_source"] == expected.n_only_source
    assert data["only_destination"] == expected.n_only_destination
    assert data["source"]["anonymous rows"] == expected.source.anonymous
    assert len(data["near_misses"]) == len(expected.near_misses)


def test_overlap_keeps_leading_zeros_of_csv_ids(runner: CliRunner, tmp_path: Path) -> None:
    (tmp_path / "a.csv").write_text("uid\n007\n008\n")
    (tmp_path / "b.csv").write_text("uid\n007\n7\n")
    result = runner.invoke(
        cli, ["overlap", str(tmp_path / "a.csv"), str(tmp_path / "b.csv"), "--json"]
    )
    data = json.loads(result.output)
    assert data["in_both"] == 1  # "007" only; 7 is another user
    assert data["only_source"] == 1


def test_overlap_missing_column_is_one_clear_line(runner: CliRunner) -> None:
    result = runner.invoke(cli, ["overlap", SOURCE, DEST, "--on", "user_id"])
    assert result.exit_code == 1
    assert "Column 'user_id' not found" in result.output
    assert "'ID'" in result.output  # lists the columns
    assert "Traceback" not in result.output


# --------------------------------------------------------------------------- push
def test_push_dry_run_needs_no_credentials_and_sends_nothing(runner: CliRunner, dest_env) -> None:
    result = runner.invoke(
        cli, ["push", SOURCE, "-n", "Dry", "--id-col", "ID", "--dry-run", "--json"]
    )
    assert result.exit_code == 0, result.output
    data = json.loads(result.output)
    assert data["dry_run"] is True
    assert data["members planned"] == 3760
    assert data["skipped: anonymous"] == 200
    assert data["skipped: duplicate"] == 40
    assert dest_env.request_log() == []


def test_push_to_the_emulator_and_exit_zero(runner: CliRunner, dest_env) -> None:
    dest_users = set(pd.read_csv(DEST, dtype={"ID": str})["ID"].dropna())
    result = runner.invoke(
        cli,
        [
            "push",
            SOURCE,
            "-n",
            "From CLI",
            "--id-col",
            "ID",
            "--env",
            "MOECOHORT_DEST",
            "--no-progress",
        ],
    )
    # Users unknown to the destination are accepted by the API but never added.
    assert result.exit_code == 0, result.output
    assert "3,760 users accepted by the API" in result.output
    members = dest_env.cohort_members("WS-CLI", "From CLI")
    assert members and members <= dest_users
    assert len(members) == 2400
    assert KEY not in result.output


def test_push_exit_status_is_one_when_users_fail(
    runner: CliRunner, dest_env, tmp_path: Path
) -> None:
    dest_env.set_faults(error_500=1.0, retry_after=0)
    out = tmp_path / "failed.csv"
    result = runner.invoke(
        cli,
        [
            "push",
            SOURCE,
            "-n",
            "Failing",
            "--id-col",
            "ID",
            "--env",
            "MOECOHORT_DEST",
            "--max-retries",
            "0",
            "--failed-out",
            str(out),
        ],
    )
    assert result.exit_code == 1, result.output
    failed = pd.read_csv(out, dtype={"uid": str})
    assert len(failed) == 3760
    assert set(failed["status"]) == {500}


def test_push_bad_cohort_name_fails_before_sending(runner: CliRunner, dest_env) -> None:
    result = runner.invoke(
        cli, ["push", SOURCE, "-n", "VIP: (US)", "--id-col", "ID", "--env", "MOECOHORT_DEST"]
    )
    assert result.exit_code == 1
    assert "Try 'VIP US'" in result.output
    assert dest_env.request_log() == []


def test_push_without_credentials_says_how_to_give_them(runner: CliRunner) -> None:
    result = runner.invoke(cli, ["push", SOURCE, "-n", "X", "--id-col", "ID"])
    assert result.exit_code == 1
    assert "Traceback" not in result.output
    assert "profile" in result.output.lower()


def test_a_stopped_push_still_reports_what_it_did(
    runner: CliRunner, dest_env, monkeypatch, tmp_path
) -> None:
    monkeypatch.setenv("MOECOHORT_DEST_DATA_API_KEY", "wrong-key-0000000000")
    out = tmp_path / "failed.csv"
    result = runner.invoke(
        cli,
        [
            "push",
            SOURCE,
            "-n",
            "Stopped",
            "--id-col",
            "ID",
            "--env",
            "MOECOHORT_DEST",
            "--json",
            "--failed-out",
            str(out),
        ],
    )
    assert result.exit_code == 1
    assert "Traceback" not in result.output
    payload = json.loads(result.stdout)
    assert payload["ok"] is False and payload["members failed"] == 3760
    assert "authentication failed" in payload["stopped_by"]
    assert len(pd.read_csv(out)) == 3760
    assert "wrong-key-0000000000" not in result.output


# --------------------------------------------------------------------------- check
def test_check_good_and_bad_credentials(runner: CliRunner, dest_env, monkeypatch) -> None:
    ok = runner.invoke(cli, ["check", "--env", "MOECOHORT_DEST"])
    assert ok.exit_code == 0, ok.output
    assert ok.output.startswith("OK")
    monkeypatch.setenv("MOECOHORT_DEST_DATA_API_KEY", "wrong-key-0000000000")
    bad = runner.invoke(cli, ["check", "--env", "MOECOHORT_DEST"])
    assert bad.exit_code == 1
    assert "credentials rejected" in bad.output
    assert "wrong-key-0000000000" not in bad.output
    # the check creates nothing
    assert dest_env.cohorts("WS-CLI") == []


# --------------------------------------------------------------------------- profiles
def test_profiles_add_list_use_remove(runner: CliRunner, dest_env, isolated_config: Path) -> None:
    added = runner.invoke(
        cli,
        [
            "profiles",
            "add",
            "dest",
            "--workspace-id",
            "WS-CLI",
            "--data-center",
            "02",
            "--base-url",
            dest_env.url,
        ],
        input=KEY + "\n",
    )
    assert added.exit_code == 0, added.output
    assert KEY not in added.output
    assert "****" in added.output
    profiles_file = isolated_config / "profiles.toml"
    assert stat.S_IMODE(profiles_file.stat().st_mode) == 0o600

    listed = runner.invoke(cli, ["profiles", "list", "--json"])
    assert listed.exit_code == 0
    assert KEY not in listed.output
    assert [p["name"] for p in json.loads(listed.output)] == ["dest"]

    checked = runner.invoke(cli, ["check", "--profile", "dest"])
    assert checked.exit_code == 0, checked.output

    pushed = runner.invoke(cli, ["push", DEST, "-n", "Own users", "--id-col", "ID", "-p", "dest"])
    assert pushed.exit_code == 0, pushed.output
    assert len(dest_env.cohort_members("WS-CLI", "Own users")) == 4795

    removed = runner.invoke(cli, ["profiles", "remove", "dest"])
    assert removed.exit_code == 0
    gone = runner.invoke(cli, ["check", "--profile", "dest"])
    assert gone.exit_code == 1
    assert "dest" in gone.output


def test_profiles_add_rejects_plain_http_to_a_remote_host(runner: CliRunner) -> None:
    result = runner.invoke(
        cli,
        [
            "profiles",
            "add",
            "x",
            "--workspace-id",
            "WS",
            "--data-center",
            "01",
            "--base-url",
            "http://example.com",
        ],
        input=KEY + "\n",
    )
    assert result.exit_code == 1
    assert "http" in result.output.lower()


def test_profiles_add_takes_any_data_center_spelling(runner: CliRunner) -> None:
    result = runner.invoke(
        cli,
        ["profiles", "add", "eu", "--workspace-id", "WS", "--data-center", "DC-02"],
        input=KEY + "\n",
    )
    assert result.exit_code == 0, result.output
    assert "data center 02" in result.output
    bad = runner.invoke(
        cli,
        ["profiles", "add", "x", "--workspace-id", "WS", "--data-center", "7"],
        input=KEY + "\n",
    )
    assert bad.exit_code == 2 and "01 (US)" in bad.output


# --------------------------------------------------------------------------- sync and history
def test_sync_twice_then_history(runner: CliRunner, dest_env, tmp_path: Path) -> None:
    state = str(tmp_path / "state.sqlite")
    users = pd.read_csv(DEST, dtype={"ID": str})
    first_file = tmp_path / "segment.csv"
    users.head(3000).to_csv(first_file, index=False)
    args = ["sync", str(first_file), "-n", "Mirror", "--id-col", "ID", "--env", "MOECOHORT_DEST"]
    first = runner.invoke(cli, [*args, "--state", state, "--json"])
    assert first.exit_code == 0, first.output
    data = json.loads(first.output)
    assert data["status"] == "ok" and data["adds accepted by the API"] == data["to add"] > 2000

    users.head(3100).tail(3000).to_csv(first_file, index=False)  # 100 leave, 100 join
    dry = runner.invoke(cli, [*args, "--state", state, "--dry-run"])
    assert dry.exit_code == 0 and "would sync" in dry.output
    second = runner.invoke(cli, [*args, "--state", state, "--json"])
    data2 = json.loads(second.output)
    assert second.exit_code == 0 and data2["run_id"] == 2
    assert 0 < data2["to add"] <= 100 and 0 < data2["to remove"] <= 100

    history = runner.invoke(cli, ["history", "--state", state, "-n", "Mirror", "--json"])
    runs = json.loads(history.output)
    assert [r["run_id"] for r in runs] == [2, 1]
    assert {r["status"] for r in runs} == {"ok"}
    table = runner.invoke(cli, ["history", "--state", state])
    assert "Mirror" in table.output and KEY not in table.output


def test_history_without_state_says_so(runner: CliRunner, tmp_path: Path) -> None:
    result = runner.invoke(cli, ["history", "--state", str(tmp_path / "none.sqlite")])
    assert result.exit_code == 1
    assert "no sync has run" in result.output


# --------------------------------------------------------------------------- demo
def test_demo_runs_end_to_end(runner: CliRunner) -> None:
    result = runner.invoke(cli, ["demo", "--no-progress"])
    assert result.exit_code == 0, result.output
    assert "[6/6]" in result.output
    assert "holds exactly the 2,400 users" in result.output


def test_installed_command_runs_the_demo() -> None:
    """The README's first command, as a real process."""
    exe = Path(sys.executable).parent / "moecohort"
    proc = subprocess.run([str(exe), "demo"], capture_output=True, text=True, timeout=120)
    assert proc.returncode == 0, proc.stdout + proc.stderr
    assert "holds exactly" in proc.stdout
