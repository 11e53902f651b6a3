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


@pytest.fixture(autouse=True)
def typed_at_a_terminal(monkeypatch: pytest.MonkeyPatch) -> None:
    """The runner's ``input=`` stands for what a user types at a terminal: the key is asked
    for (hidden). Tests of scripts, where stdin is no terminal, set it back to False."""
    monkeypatch.setattr("moecohort.cli.setup.stdin_is_terminal", lambda: True)


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


@pytest.mark.parametrize("args", [["--help"], ["profiles", "--help"], ["emulator", "--help"]])
def test_help_loads_no_heavy_module(args: list[str]) -> None:
    """--help answers at once: pandas, pyarrow, numpy and requests stay unloaded."""
    code = (
        "import sys\n"
        "from moecohort.cli import cli\n"
        f"try:\n    cli({args!r}, prog_name='moecohort')\n"
        "except SystemExit as exc:\n    assert exc.code == 0, exc.code\n"
        "heavy = ('pandas', 'pyarrow', 'numpy', 'requests')\n"
        "print('LOADED', sorted(m for m in heavy if m in sys.modules), file=sys.stderr)\n"
    )
    proc = subprocess.run(
        [sys.executable, "-c", code],
        capture_output=True,
        text=True,
        timeout=120,
        cwd=Path(__file__).resolve().parents[1],
    )
    assert proc.returncode == 0, proc.stderr
    assert "Usage:" in proc.stdout
    assert "LOADED []" in proc.stderr


@pytest.mark.parametrize("command", ["push", "sync", "overlap"])
def test_a_missing_file_says_no_such_file(
    runner: CliRunner, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, command
) -> None:
    monkeypatch.setenv("MOECOHORT_WORKSPACE_ID", "WS")  # sync needs credentials first
    monkeypatch.setenv("MOECOHORT_DATA_API_KEY", KEY)
    missing = str(tmp_path / "x.csv")
    args = [missing, DEST] if command == "overlap" else [missing, "-n", "X", "--dry-run"]
    result = runner.invoke(cli, [command, *args])
    assert result.exit_code == 1
    assert f"No such file: {missing}" in result.output
    assert "DataFrame" not in result.output and "RecordBatchReader" not in result.output


@pytest.mark.parametrize("name", ["users.xlsx", "users.xls"])
@pytest.mark.parametrize("command", ["push", "overlap"])
def test_an_excel_file_says_what_to_do(runner: CliRunner, tmp_path: Path, name, command) -> None:
    book = tmp_path / name
    book.write_bytes(b"PK\x03\x04 not really a workbook")
    args = [str(book), DEST] if command == "overlap" else [str(book), "-n", "X", "--dry-run"]
    result = runner.invoke(cli, [command, *args])
    assert result.exit_code == 1
    assert "Excel files are not read: save the sheet as CSV" in result.output
    assert "Parquet" in result.output and "DataFrame" not in result.output


def test_an_excel_file_in_python_says_read_excel(tmp_path: Path) -> None:
    import moecohort

    book = tmp_path / "users.xlsx"
    book.write_bytes(b"PK\x03\x04")
    with pytest.raises(moecohort.InputError, match=r"pd\.read_excel\(path\)") as info:
        moecohort.push_cohort(str(book), None, "X", dry_run=True)
    assert info.value.path == str(book)
    with pytest.raises(moecohort.InputError, match="No such file") as missing:
        moecohort.push_cohort(str(tmp_path / "nope.csv"), None, "X", dry_run=True)
    assert missing.value.problem == f"No such file: {str(tmp_path / 'nope.csv')!r}."


# --------------------------------------------------------------------------- errors in flags
def test_flag_table_names_real_flags() -> None:
    """Every flag the errors may name is a flag of some command."""
    from moecohort.cli.messages import FLAGS

    def options(command) -> set[str]:
        found = set()
        for param in command.params:
            found.update(getattr(param, "opts", []), getattr(param, "secondary_opts", []))
        for sub in getattr(command, "commands", {}).values():
            found |= options(sub)
        return found

    assert set(FLAGS.values()) <= options(cli)


def test_overlap_suggests_the_on_flag(runner: CliRunner) -> None:
    result = runner.invoke(cli, ["overlap", SOURCE, DEST])  # --on defaults to uid
    assert result.exit_code == 1
    assert "Did you mean --on ID?" in result.output
    assert "on=(" not in result.output


def test_overlap_suggests_dest_on_for_the_destination(runner: CliRunner, tmp_path) -> None:
    other = tmp_path / "dest.csv"
    other.write_text("uid,name\n1,a\n")
    result = runner.invoke(cli, ["overlap", SOURCE, str(other), "--on", "ID"])
    assert result.exit_code == 1
    assert "Did you mean --dest-on uid?" in result.output


def test_push_suggests_the_id_col_flag_and_python_keeps_its_words(runner: CliRunner) -> None:
    import moecohort

    result = runner.invoke(cli, ["push", DEST, "-n", "X", "--id-col", "user_id", "--dry-run"])
    assert result.exit_code == 1
    assert "Column 'user_id' not found" in result.output
    assert "Did you mean --id-col ID?" in result.output and "id_col=" not in result.output
    with pytest.raises(moecohort.InputError, match=r"Did you mean id_col='ID'\?") as info:
        moecohort.push_cohort(DEST, None, "X", id_col="user_id", dry_run=True)
    err = info.value
    assert (err.param, err.suggestion, err.column) == ("id_col", "ID", "user_id")
    assert err.advice == "Did you mean id_col='ID'?"
    assert str(err) == f"{err.problem} {err.advice}"


def test_python_errors_record_which_side_lacks_the_column() -> None:
    import moecohort

    src = pd.DataFrame({"ID": ["a"]})
    with pytest.raises(moecohort.InputError) as dest_side:
        moecohort.overlap(src, pd.DataFrame({"uid": ["a"]}), on="ID")
    assert dest_side.value.param == "destination_col" and dest_side.value.suggestion == "uid"
    assert "Did you mean on=('ID', 'uid')?" in str(dest_side.value)
    with pytest.raises(moecohort.InputError) as source_side:
        moecohort.overlap(pd.DataFrame({"uid": ["a"]}), src, on="ID")
    assert source_side.value.param == "on"
    with pytest.raises(moecohort.InputError, match=r"Did you mean destination_col='uid'\?") as k:
        moecohort.keep_in_destination(src, pd.DataFrame({"uid": ["a"]}), "ID")
    assert k.value.param == "destination_col" and k.value.suggestion == "uid"


def test_a_setting_is_named_by_its_flag(runner: CliRunner) -> None:
    result = runner.invoke(
        cli,
        ["push", SOURCE, "-n", "X", "--id-col", "ID", "--dry-run", "--rpm", "0"],
    )
    assert result.exit_code == 1
    assert "--rpm must be above 0" in result.output
    assert "requests_per_minute" not in result.output


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
    assert data["members_planned"] == 3760
    assert data["skipped_anonymous"] == 200
    assert data["skipped_duplicates"] == 40
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
    assert payload["ok"] is False and payload["members_failed"] == 3760
    assert "authentication failed" in payload["stopped_by"]
    assert len(pd.read_csv(out)) == 3760
    assert "wrong-key-0000000000" not in result.output


# --------------------------------------------------------------------------- CSV files
def planned(result) -> int:
    assert result.exit_code == 0, result.output
    return json.loads(result.stdout)["members_planned"]


@pytest.mark.parametrize(("sep", "shown"), [(";", "';'"), ("\t", "tab"), ("|", "'|'")])
def test_a_separator_is_detected_and_said(
    runner: CliRunner, tmp_path: Path, sep: str, shown: str
) -> None:
    path = tmp_path / "users.csv"
    path.write_text(sep.join(["ID", "name"]) + "\n" + f"007{sep}a\n7{sep}b\n007{sep}c\n")
    result = runner.invoke(
        cli, ["push", str(path), "-n", "X", "--id-col", "ID", "--dry-run", "--json"]
    )
    assert planned(result) == 2  # "007" and "7": read as text
    assert f"note: users.csv: columns separated by {shown} (detected" in result.stderr
    overlap = runner.invoke(cli, ["overlap", str(path), DEST, "--on", "ID", "--json"])
    assert overlap.exit_code == 0, overlap.output
    assert json.loads(overlap.stdout)["source"]["unique ids"] == 2


def test_sep_and_encoding_are_read_as_given(runner: CliRunner, tmp_path: Path) -> None:
    path = tmp_path / "export.csv"
    path.write_bytes("Prénom;ID\nZoé;007\nLéa;008\n".encode("cp1252"))
    args = ["push", str(path), "-n", "X", "--id-col", "ID", "--dry-run", "--json"]
    wrong = runner.invoke(cli, args)
    assert wrong.exit_code == 1
    assert "--encoding" in wrong.output and "Traceback" not in wrong.output
    assert planned(runner.invoke(cli, [*args, "--encoding", "cp1252", "--sep", ";"])) == 2
    bad = runner.invoke(cli, [*args, "--sep", ";;"])
    assert bad.exit_code == 2 and "one character" in bad.output


@pytest.mark.parametrize(
    "extra", [[], ["--encoding", "utf-8"], ["--sep", ","], ["--encoding", "latin-1"]]
)
def test_a_utf8_bom_never_reaches_the_first_column_name(
    runner: CliRunner, tmp_path: Path, extra: list[str]
) -> None:
    path = tmp_path / "bom.csv"
    path.write_bytes("\ufeffID,name\n007,a\n".encode())
    result = runner.invoke(
        cli, ["push", str(path), "-n", "X", "--id-col", "ID", "--dry-run", "--json", *extra]
    )
    assert planned(result) == 1


def test_no_header_takes_the_id_column_by_number(runner: CliRunner, tmp_path: Path) -> None:
    path = tmp_path / "ids.csv"
    path.write_text("John,1322776\nJane,1322777\nJim,01322777\n")
    args = ["push", str(path), "-n", "X", "--no-header", "--dry-run", "--json"]
    assert planned(runner.invoke(cli, [*args, "--id-col", "2"])) == 3
    wrong = runner.invoke(cli, [*args, "--id-col", "uid"])
    assert wrong.exit_code == 2 and "number of the id column (1 to 2" in wrong.output
    overlap = runner.invoke(
        cli, ["overlap", str(path), str(path), "--no-header", "--on", "2", "--json"]
    )
    assert overlap.exit_code == 0, overlap.output
    assert json.loads(overlap.stdout)["in_both"] == 3


def test_a_file_without_header_row_is_caught(runner: CliRunner, tmp_path: Path) -> None:
    path = tmp_path / "ids.csv"
    path.write_text("1322776,John\n1322777,Jane\n")
    named = runner.invoke(cli, ["push", str(path), "-n", "X", "--id-col", "1322776", "--dry-run"])
    assert named.exit_code == 1
    assert "seems to have no header row" in named.output
    assert "use --no-header --id-col 1" in named.output
    default = runner.invoke(cli, ["push", str(path), "-n", "X", "--dry-run"])
    assert default.exit_code == 1
    assert (
        "first line looks like data" in default.output
        and "--no-header --id-col N" in default.output
    )


def test_push_streams_files_and_reads_options_in_chunks(
    runner: CliRunner, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A plain CSV goes to the library as a path (any size works); with --sep, --encoding
    or --no-header the library gets the ids chunk by chunk, never the whole file."""
    import moecohort.push
    from moecohort.cli import files

    seen = []
    real = moecohort.push.push_cohort

    def spy(data, *args, **kwargs):
        seen.append(data if isinstance(data, str) else type(data).__name__)
        if not isinstance(data, str):
            data = list(data)
            seen.append([len(chunk) for chunk in data])
        return real(data if isinstance(data, str) else iter(data), *args, **kwargs)

    monkeypatch.setattr(moecohort.push, "push_cohort", spy)
    monkeypatch.setattr(files, "STREAM_ROWS", 1000)
    plain = runner.invoke(cli, ["push", DEST, "-n", "X", "--id-col", "ID", "--dry-run", "--json"])
    assert planned(plain) == 4795 and seen == [DEST]
    seen.clear()
    semi = tmp_path / "dest.csv"
    pd.read_csv(DEST, dtype=str).to_csv(semi, sep=";", index=False)
    chunked = runner.invoke(
        cli, ["push", str(semi), "-n", "X", "--id-col", "ID", "--dry-run", "--json"]
    )
    assert planned(chunked) == 4795
    assert seen == ["generator", [1000] * 5]


# --------------------------------------------------------------------------- push/sync --only-in
def test_push_only_in_keeps_the_users_the_destination_has(
    runner: CliRunner, dest_env, monkeypatch: pytest.MonkeyPatch
) -> None:
    import moecohort
    from moecohort.cli import files

    monkeypatch.setattr(files, "STREAM_ROWS", 700)  # several chunks
    source, dest = pd.read_csv(SOURCE, dtype={"ID": str}), pd.read_csv(DEST, dtype={"ID": str})
    expected = moecohort.keep_in_destination(source, dest, "ID")
    args = ["push", SOURCE, "-n", "Known", "--id-col", "ID", "--env", "MOECOHORT_DEST"]
    result = runner.invoke(cli, [*args, "--only-in", DEST, "--dest-on", "ID", "--no-progress"])
    assert result.exit_code == 0, result.output
    left_out = len(source) - len(expected)
    assert (
        f"--only-in app_b_users.csv: {len(expected):,} of {len(source):,} rows kept; "
        f"{left_out:,} left out" in result.stderr
    )
    assert result.output.index("--only-in") < result.output.index("PushResult")  # before sending
    members = dest_env.cohort_members("WS-CLI", "Known")
    assert members == set(moecohort.canonical_ids(expected["ID"]))


def test_sync_only_in_and_its_column(runner: CliRunner, dest_env, tmp_path: Path) -> None:
    export = tmp_path / "dest.parquet"
    pd.read_csv(DEST, dtype={"ID": str}).rename(columns={"ID": "customer_id"}).to_parquet(export)
    args = ["sync", SOURCE, "-n", "Mirror", "--id-col", "ID", "--env", "MOECOHORT_DEST"]
    args += ["--state", str(tmp_path / "s.sqlite"), "--only-in", str(export), "--json"]
    wrong = runner.invoke(cli, args)
    assert wrong.exit_code == 1
    assert "Column 'ID' not found. dest.parquet has:" in wrong.output
    assert "Did you mean --dest-on customer_id?" in wrong.output
    result = runner.invoke(cli, [*args, "--dest-on", "customer_id"])
    assert result.exit_code == 0, result.output
    assert json.loads(result.stdout)["added"] == 2400
    alone = runner.invoke(cli, ["push", SOURCE, "-n", "X", "--dest-on", "ID", "--dry-run"])
    assert alone.exit_code == 2 and "give --only-in too" in alone.output


# --------------------------------------------------------------------------- offline
def test_an_unreachable_host_says_why(runner: CliRunner, monkeypatch: pytest.MonkeyPatch) -> None:
    import socket

    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    monkeypatch.setenv("MOECOHORT_WORKSPACE_ID", "WS")
    monkeypatch.setenv("MOECOHORT_DATA_API_KEY", KEY)
    monkeypatch.setenv("MOECOHORT_BASE_URL", f"http://127.0.0.1:{port}")
    result = runner.invoke(cli, ["check"])
    assert result.exit_code == 1
    assert f"connection refused by 127.0.0.1:{port}: nothing is listening there" in result.output
    assert "Max retries exceeded" not in result.output and KEY not in result.output


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


@pytest.mark.parametrize(
    ("variable", "value", "words"),
    [
        (
            "MOECOHORT_DATA_CENTER",
            "7",
            ["MOECOHORT_DATA_CENTER", "Unknown MoEngage data center", "01 (US)"],
        ),
        ("MOECOHORT_BASE_URL", "http://example.com", ["MOECOHORT_BASE_URL", "https://"]),
    ],
)
def test_a_bad_moecohort_variable_is_named(
    runner: CliRunner, monkeypatch: pytest.MonkeyPatch, variable, value, words
) -> None:
    monkeypatch.setenv("MOECOHORT_WORKSPACE_ID", "WS-CLI")
    monkeypatch.setenv("MOECOHORT_DATA_API_KEY", KEY)
    monkeypatch.setenv(variable, value)
    result = runner.invoke(cli, ["check"])
    assert result.exit_code == 1
    for word in words:
        assert word in result.output
    assert "no credentials given" not in result.output
    assert KEY not in result.output


def test_no_variable_at_all_says_how_to_give_credentials(runner: CliRunner) -> None:
    result = runner.invoke(cli, ["check"])
    assert result.exit_code == 1
    assert "no credentials given: pass --profile NAME" in result.output


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


def test_profiles_add_uses_the_default_data_center_without_asking(runner: CliRunner) -> None:
    result = runner.invoke(cli, ["profiles", "add", "us", "--workspace-id", "WS"], input=KEY + "\n")
    assert result.exit_code == 0, result.output
    assert "data center 01" in result.output
    assert "Data center" not in result.output  # no prompt for it
    assert KEY not in result.output


def test_profiles_add_reads_a_piped_key_with_key_stdin(isolated_config: Path) -> None:
    """A real pipe (no terminal): the key is read from stdin, no GetPassWarning, no echo."""
    env = {**os.environ, "MOECOHORT_CONFIG_DIR": str(isolated_config)}
    args = ["profiles", "add", "piped", "--workspace-id", "WS", "--key-stdin"]
    proc = subprocess.run(
        [sys.executable, "-m", "moecohort.cli", *args],
        input=KEY + "\n",
        capture_output=True,
        text=True,
        timeout=120,
        env=env,
        cwd=Path(__file__).resolve().parents[1],
    )
    assert proc.returncode == 0, proc.stderr
    assert "data center 01" in proc.stdout and "****" in proc.stdout
    assert "GetPassWarning" not in proc.stderr
    assert KEY not in proc.stdout + proc.stderr
    from moecohort.credentials import load_profile

    assert load_profile("piped").basic_auth() == ("WS", KEY)


def test_profiles_add_with_a_piped_key_and_no_flag_says_which_flag(
    runner: CliRunner, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr("moecohort.cli.setup.stdin_is_terminal", lambda: False)
    result = runner.invoke(cli, ["profiles", "add", "x", "--workspace-id", "WS"], input=KEY + "\n")
    assert result.exit_code == 2
    assert "--key-stdin" in result.output and "--key-env" in result.output
    assert "Aborted" not in result.output and KEY not in result.output
    missing_id = runner.invoke(cli, ["profiles", "add", "x", "--key-stdin"], input=KEY + "\n")
    assert missing_id.exit_code == 2 and "--workspace-id" in missing_id.output


def test_profiles_add_reads_the_key_from_an_environment_variable(
    runner: CliRunner, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr("moecohort.cli.setup.stdin_is_terminal", lambda: False)
    monkeypatch.setenv("DEST_KEY", KEY)
    args = ["profiles", "add", "env", "--workspace-id", "WS", "--data-center", "02"]
    result = runner.invoke(cli, [*args, "--key-env", "DEST_KEY"])
    assert result.exit_code == 0, result.output
    assert "data center 02" in result.output and KEY not in result.output
    unset = runner.invoke(cli, [*args, "--key-env", "NOT_SET_ANYWHERE"])
    assert unset.exit_code == 2 and "NOT_SET_ANYWHERE is not set" in unset.output
    both = runner.invoke(cli, [*args, "--key-env", "DEST_KEY", "--key-stdin"])
    assert both.exit_code == 2 and "not both" in both.output


def test_profiles_add_never_echoes_a_rejected_key(
    runner: CliRunner, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr("moecohort.cli.setup.stdin_is_terminal", lambda: False)
    bad = "pasted key-with a-space"
    args = ["profiles", "add", "x", "--workspace-id", "WS", "--key-stdin"]
    result = runner.invoke(cli, args, input=bad + "\n")
    assert result.exit_code == 1
    assert "whitespace" in result.output
    assert "pasted" not in result.output and "a-space" not in result.output


def test_a_profile_without_keyring_names_the_no_keyring_flag(runner: CliRunner) -> None:
    args = ["profiles", "add", "kr", "--workspace-id", "WS", "--keyring"]
    result = runner.invoke(cli, args, input=KEY + "\n")  # MOECOHORT_NO_KEYRING=1
    assert result.exit_code == 1
    assert "Save with --no-keyring to keep it" in result.output
    assert "use_keyring" not in result.output


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
    assert data["status"] == "ok" and data["added"] == data["to_add"] > 2000

    users.head(3100).tail(3000).to_csv(first_file, index=False)  # 100 leave, 100 join
    dry = runner.invoke(cli, [*args, "--state", state, "--dry-run"])
    assert dry.exit_code == 0 and "would sync" in dry.output
    second = runner.invoke(cli, [*args, "--state", state, "--json"])
    data2 = json.loads(second.output)
    assert second.exit_code == 0 and data2["run_id"] == 2
    assert 0 < data2["to_add"] <= 100 and 0 < data2["to_remove"] <= 100

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


def test_sync_an_empty_file_needs_allow_empty(runner: CliRunner, dest_env, tmp_path: Path) -> None:
    state = str(tmp_path / "state.sqlite")
    args = ["-n", "Emptied", "--id-col", "ID", "--env", "MOECOHORT_DEST", "--state", state]
    first = tmp_path / "some.csv"
    pd.read_csv(DEST, dtype={"ID": str}).head(50).to_csv(first, index=False)
    assert runner.invoke(cli, ["sync", str(first), *args]).exit_code == 0
    assert dest_env.cohort_members("WS-CLI", "Emptied")
    for content in ("", "ID\n"):  # no bytes at all; a header and no rows
        empty = tmp_path / "empty.csv"
        empty.write_text(content)
        refused = runner.invoke(cli, ["sync", str(empty), *args])
        assert refused.exit_code == 1
        assert "--allow-empty" in refused.output and "allow_empty" not in refused.output
        assert len(refused.output.strip().splitlines()) == 1
    emptied = runner.invoke(cli, ["sync", str(empty), *args, "--allow-empty"])
    assert emptied.exit_code == 0, emptied.output
    assert dest_env.cohort_members("WS-CLI", "Emptied") == set()


# --------------------------------------------------------------------------- emulator
def test_emulator_passes_latency_and_faults(
    runner: CliRunner, monkeypatch: pytest.MonkeyPatch
) -> None:
    import moecohort.emulator
    from moecohort.emulator import Faults

    calls = []
    monkeypatch.setattr(moecohort.emulator, "serve", lambda *a, **kw: calls.append((a, kw)))
    args = ["emulator", "--port", "0", "--latency", "0.2", "--jitter", "0.1", "--seed", "7"]
    args += ["--error-500", "0.1", "--rate-429", "0.05", "--retry-after", "1"]
    args += ["--drop-before", "0.01", "--drop-after", "0.02"]
    result = runner.invoke(cli, args)
    assert result.exit_code == 0, result.output
    ((_, kwargs),) = calls
    assert kwargs["seed"] == 7
    assert kwargs["faults"] == Faults(
        error_500=0.1,
        rate_429=0.05,
        retry_after=1.0,
        drop_before=0.01,
        drop_after=0.02,
        latency_s=0.2,
        latency_jitter_s=0.1,
    )
    assert "faults:" in result.stderr
    bad = runner.invoke(cli, ["emulator", "--error-500", "1.5"])
    assert bad.exit_code == 2


def test_emulator_faults_reach_the_requests(runner: CliRunner, tmp_path: Path) -> None:
    """The real command, as a process: every request answered 500."""
    args = ["emulator", "--port", "0", "--samples", "-q", "--error-500", "1", "--retry-after", "0"]
    proc = subprocess.Popen(
        [sys.executable, "-m", "moecohort.cli", *args],
        stdout=subprocess.PIPE,
        stderr=subprocess.DEVNULL,
        text=True,
        cwd=Path(__file__).resolve().parents[1],
    )
    try:
        assert proc.stdout is not None
        url = ""
        for line in proc.stdout:  # the banner says where it listens
            if "listening on" in line:
                url = line.split("listening on")[1].strip()
                break
        assert url.startswith("http://127.0.0.1:")
        env = {
            "MOECOHORT_WORKSPACE_ID": "DEMO-DEST",
            "MOECOHORT_DATA_API_KEY": "demo-dest-key-0002",
            "MOECOHORT_BASE_URL": url,
        }
        args = ["push", DEST, "-n", "Chaos", "--id-col", "ID", "--max-retries", "0", "--json"]
        result = runner.invoke(cli, args, env=env)
        assert result.exit_code == 1
        assert json.loads(result.stdout)["members_failed"] == 4795
    finally:
        proc.terminate()
        proc.wait(timeout=60)


def test_emulator_on_a_port_in_use_says_so(runner: CliRunner) -> None:
    import socket

    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = taken.getsockname()[1]
        result = runner.invoke(cli, ["emulator", "--port", str(port), "-q"])
    assert result.exit_code == 1
    assert f"port {port} is in use: pass --port 0 for a free port, or another port" in result.output
    assert "Traceback" not in result.output


# --------------------------------------------------------------------------- notebooks
def test_notebooks_are_copied_out_and_not_overwritten(runner: CliRunner, tmp_path: Path) -> None:
    target = tmp_path / "nb"
    result = runner.invoke(cli, ["notebooks", str(target)])
    assert result.exit_code == 0, result.output
    names = sorted(
        p.name for p in (Path(__file__).resolve().parents[1] / "notebooks").glob("*.ipynb")
    )
    assert sorted(p.name for p in target.iterdir()) == names and len(names) >= 2
    (target / names[0]).write_text("mine")
    again = runner.invoke(cli, ["notebooks", str(target)])
    assert again.exit_code == 1 and "pass --force to overwrite" in again.output
    assert (target / names[0]).read_text() == "mine"
    forced = runner.invoke(cli, ["notebooks", str(target), "--force"])
    assert forced.exit_code == 0 and (target / names[0]).read_text() != "mine"


def test_the_wheel_ships_the_notebooks() -> None:
    try:
        import tomllib
    except ModuleNotFoundError:  # Python 3.10
        import tomli as tomllib

    root = Path(__file__).resolve().parents[1]
    config = tomllib.loads((root / "pyproject.toml").read_text(encoding="utf-8"))
    include = config["tool"]["hatch"]["build"]["targets"]["wheel"]["force-include"]
    assert include["notebooks"] == "moecohort/_notebooks"


def test_the_demo_points_to_notebooks_that_exist(tmp_path: Path) -> None:
    from moecohort.demo import next_step

    installed = tmp_path / "site-packages" / "moecohort"
    (installed / "_notebooks").mkdir(parents=True)
    (installed / "_notebooks" / "01.ipynb").write_text("{}")
    assert "`moecohort notebooks ./notebooks && jupyter lab notebooks/`" in next_step(installed)
    checkout = Path(__file__).resolve().parents[1] / "moecohort"
    line = next_step(checkout)
    assert "jupyter lab" in line and "moecohort notebooks" not in line
    assert "notebooks" in line


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
