"""Suite-wide rules.

A skipped test is a failed promise: the run fails if anything was skipped, so a
missing dependency or a platform gap can never turn CI green by omission.
"""

from __future__ import annotations

import pytest

# The emulator fixture (moe_emulator), as users load it in their own conftest.py.
pytest_plugins = ["moecohort.emulator.pytest_plugin"]


@pytest.fixture
def fast_backoff(monkeypatch: pytest.MonkeyPatch) -> None:
    """Retries wait milliseconds instead of seconds (the backoff logic is unchanged): the
    default retry policy, which every push and sync starts from, backs off faster."""
    from moecohort.transport import retry

    fast = retry.RetryPolicy(backoff_base_s=0.001, backoff_cap_s=0.004)
    monkeypatch.setattr(retry, "DEFAULT_RETRY", fast)


@pytest.fixture
def sigint():
    """SIGINT raises KeyboardInterrupt during the test, as in a terminal or a Jupyter kernel,
    even when the test run itself was started with SIGINT ignored (a background job)."""
    import signal

    previous = signal.signal(signal.SIGINT, signal.default_int_handler)
    yield
    signal.signal(signal.SIGINT, previous)


@pytest.fixture
def rsps():
    """A ``responses`` mock of ``requests``: nothing leaves the process."""
    import responses

    with responses.RequestsMock(assert_all_requests_are_fired=False) as r:
        yield r


@pytest.fixture(scope="session")
def readme_counts() -> dict[str, int]:
    """The quirk counts stated in data/samples/README.md."""
    from support import sample_readme_counts

    return sample_readme_counts()


@pytest.fixture(scope="module")
def app_a():
    """App A's segment export, read with pandas' defaults (its ID column is float64)."""
    import pandas as pd
    from support import SAMPLES

    return pd.read_csv(SAMPLES / "app_a_segment_export.csv")


@pytest.fixture(scope="module")
def app_b():
    """App B's users export, read with pandas' defaults (its ID column is text)."""
    import pandas as pd
    from support import SAMPLES

    return pd.read_csv(SAMPLES / "app_b_users.csv")


@pytest.fixture(scope="session")
def spark():
    """One local Spark session for the whole run (marker ``spark``): Spark takes seconds to
    start. Two cores, two shuffle partitions, no UI, Python workers run this interpreter.
    Without Java the tests fail and say what to install: they are never skipped."""
    import os
    import shutil
    import sys

    if not (shutil.which("java") or os.environ.get("JAVA_HOME")):
        pytest.fail(
            "The Spark tests need Java: apt-get install openjdk-17-jre-headless "
            "(or run the rest with -m 'not spark').",
            pytrace=False,
        )
    from pyspark.sql import SparkSession

    with pytest.MonkeyPatch.context() as mp:
        mp.setenv("PYSPARK_PYTHON", sys.executable)
        session = (
            SparkSession.builder.master("local[2]")
            .appName("moecohort-tests")
            .config("spark.ui.enabled", "false")
            .config("spark.ui.showConsoleProgress", "false")
            .config("spark.sql.shuffle.partitions", "2")
            .config("spark.default.parallelism", "2")
            .config("spark.driver.bindAddress", "127.0.0.1")
            .config("spark.driver.host", "127.0.0.1")
            .config("spark.sql.session.timeZone", "UTC")
            .getOrCreate()
        )
        session.sparkContext.setLogLevel("ERROR")
        try:
            yield session
        finally:
            session.stop()


def pytest_sessionfinish(session: pytest.Session, exitstatus: int) -> None:
    reporter = session.config.pluginmanager.get_plugin("terminalreporter")
    skipped = reporter.stats.get("skipped", []) if reporter is not None else []
    if skipped and exitstatus == 0:
        reporter.write_line(
            f"FAILED: {len(skipped)} test(s) skipped; every test must run (see tests/conftest.py)",
            red=True,
        )
        session.exitstatus = pytest.ExitCode.TESTS_FAILED


@pytest.fixture(scope="session")
def _matplotlib_config(tmp_path_factory: pytest.TempPathFactory) -> str:
    return str(tmp_path_factory.mktemp("matplotlib"))


@pytest.fixture(autouse=True)
def _own_user_folders(tmp_path_factory, monkeypatch, _matplotlib_config) -> None:
    """Every test, and every process it starts, has user data and config folders of its
    own (platformdirs follows the XDG variables): nothing reads or writes the user's
    profiles, sync state or rate budget, even in tests that clear the MOECOHORT_* variables.
    Matplotlib keeps one config folder for the session (its font cache is slow to build)."""
    home = tmp_path_factory.mktemp("user")
    monkeypatch.setenv("XDG_DATA_HOME", str(home / "data"))
    monkeypatch.setenv("XDG_CONFIG_HOME", str(home / "config"))
    monkeypatch.setenv("MPLCONFIGDIR", _matplotlib_config)


@pytest.fixture(autouse=True)
def _private_rate_budget(tmp_path_factory: pytest.TempPathFactory, monkeypatch) -> None:
    """Every test's pushes share a rate budget of their own, never the user's (in the user
    data folder) nor another test's: ``$MOECOHORT_BUDGET_DIR`` for child processes, and
    the default directory itself for tests that clear the ``MOECOHORT_*`` variables."""
    from moecohort.transport import budget

    directory = tmp_path_factory.mktemp("budget")
    monkeypatch.setenv(budget.BUDGET_DIR_ENV, str(directory))
    monkeypatch.setattr(budget, "default_budget_dir", lambda: directory)
