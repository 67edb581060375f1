"""One Spark session for the whole test run, tuned for tiny data (see each setting's reason)."""

from __future__ import annotations

import os
import shutil
import tempfile
from pathlib import Path

import pytest

_TMP = Path(tempfile.mkdtemp(prefix="rcu-tests-"))
# Keep every side effect of the tests under one temporary folder: Spark's warehouse, MLflow's store. Each
# pytest-xdist worker (`make test` runs two) has its own: the values the controller set are replaced.
_SETTINGS = {"RCU_WAREHOUSE_DIR": str(_TMP / "warehouse"), "MLFLOW_TRACKING_URI": f"sqlite:///{_TMP / 'mlflow.db'}"}
for _name, _value in _SETTINGS.items():
    if os.environ.get("PYTEST_XDIST_WORKER") or _name not in os.environ:
        os.environ[_name] = _value


@pytest.fixture(scope="session")
def spark():
    from spark_lib.session import get_spark

    session = get_spark(
        app_name="rcu-tests",
        master="local[2]",
        # Test inputs are a few rows to a few thousand: one partition per stage (shuffles and file scans alike)
        # avoids hundreds of empty tasks, each serialised, scheduled and deserialised.
        shuffle_partitions=1,
        extra_conf={
            # Adaptive execution re-plans every small query; on tiny data it only adds planning time.
            "spark.sql.adaptive.enabled": "false",
            # The tests compare small DataFrames: collect them without Arrow's batch set-up cost.
            "spark.sql.execution.arrow.pyspark.enabled": "true",
            "spark.driver.memory": "4g",
            "spark.default.parallelism": "1",
            # On queries of a few hundred rows the JVM spends a third of its CPU compiling generated code with
            # Janino (profiled with JFR): the tests evaluate expressions interpreted instead. Spark's own
            # suites run both modes and they give the same rows; the jobs themselves keep code generation.
            "spark.sql.codegen.wholeStage": "false",
            "spark.sql.codegen.factoryMode": "NO_CODEGEN",
            # The test JVM lives minutes: the client compiler alone costs less CPU than tiered C2 compilation
            # of Spark's hot paths, which tiny data never repays. With the above, the review-overrides fixture
            # (two match runs on 90 records) took 186 s of JVM CPU instead of 310 s on a loaded machine; the
            # whole suite on a fresh clone, 1,032 s instead of 1,086 s (2026-12-07).
            "spark.driver.extraJavaOptions": "-XX:TieredStopAtLevel=1",
            # Most of a test's time is the driver's, not the tasks' (the incremental-match fixture: 39 s of Spark
            # stages in 149 s, read from Spark's event log): planning, Delta's log, closure cleaning. Constraint
            # propagation re-derives every filter's constraints on each optimiser pass over the matching's large
            # plans; broadcast joins build and ship a hash table per join where a one-partition shuffle is
            # cheaper. Neither changes a result. With one partition, the suite on this machine took 928 s
            # instead of 1,020 s (2026-12-07, both runs `make test` in one work tree); on a fresh clone then,
            # 755 s for 637 tests (1,138 s for 632 at the previous stop's CI).
            "spark.sql.constraintPropagation.enabled": "false",
            "spark.sql.autoBroadcastJoinThreshold": "-1",
        },
    )
    yield session
    session.stop()


@pytest.fixture(scope="module")
def browser():
    """A headless Chromium (tests/browser.py) for the module's tests; fails, saying how to install what is
    missing, rather than skipping."""
    try:
        from playwright.sync_api import sync_playwright
    except ImportError:
        pytest.fail("the Python package 'playwright' is missing: `pip install -e '.[dev]'` installs it")
    from tests.browser import ChromiumNotFoundError, launch

    with sync_playwright() as playwright:
        try:
            instance = launch(playwright)
        except ChromiumNotFoundError as error:
            pytest.fail(str(error))
        yield instance
        instance.close()


@pytest.fixture(scope="session")
def tmp_root() -> Path:
    """A folder for the whole run (lakehouses, raw files), removed at the end."""
    yield _TMP
    shutil.rmtree(_TMP, ignore_errors=True)


@pytest.fixture()
def tmp_dir(tmp_path) -> Path:
    return tmp_path


#: the files whose runs take longest, started first: with `make test`'s two workers, a long file started last
#: would leave one worker running alone at the end
LONG_FILES = ("test_pipeline_e2e.py", "test_incremental_match.py", "test_review_overrides.py", "test_onboarding_e2e.py",
              "test_silver.py", "test_deletions.py", "test_probabilistic.py", "test_bronze.py")


def pytest_collection_modifyitems(items):
    def rank(item) -> int:
        name = item.path.name
        return LONG_FILES.index(name) if name in LONG_FILES else len(LONG_FILES)

    items.sort(key=rank)   # stable: the tests of a file keep their order
