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
