"""A run killed in the middle, then run again, leaves exactly what an uninterrupted run leaves.

``rcu run-all`` is killed (SIGKILL to the driver and its JVM) at five moments in turn on one lakehouse:
while ingest lands its sources, while standardise writes silver, during deterministic matching, once the
cluster splits are logged (while the id registry and the crosswalk are replaced), and during gold's
survivorship; then run once more to the end. The lakehouse must then hold what an uninterrupted run on the
same files leaves (``benchmarks/kill_rerun.py``'s comparison: counts, record keys, the partition into
customers, ids consistent between crosswalk, registry and gold). The killed runs are subprocesses with their
own Spark (the slow part); the uninterrupted run and the last one use the tests' session.
``benchmarks/kill_rerun.py`` runs the same scenario on a larger lakehouse.
"""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from jobs import generate, run_all
from jobs.common import Progress
from spark_lib.lock import LOCK_FILE

# minutes on 2 cores (a subprocess with its own Spark): kept out of `make test` to hold the suite under
# 12 minutes; `make test-slow` runs it.
pytestmark = [pytest.mark.e2e, pytest.mark.slow]

ROOT = Path(__file__).resolve().parent.parent


@pytest.fixture()
def kill_rerun(monkeypatch):
    """``benchmarks/`` holds scripts, not a package: import the script's helpers as the scripts do."""
    monkeypatch.syspath_prepend(str(ROOT / "benchmarks"))
    import kill_rerun

    return kill_rerun


def test_run_all_killed_at_every_stage_then_run_again_leaves_what_an_uninterrupted_run_leaves(
        spark, tmp_path, monkeypatch, kill_rerun):
    raw, reference, killed = tmp_path / "raw", tmp_path / "reference", tmp_path / "killed"
    generate.run(persons=300, raw_dir=str(raw), truth_dir=str(tmp_path / "truth"), seed=11,
                 reference_date="2026-10-31", progress=Progress("generate", quiet=True))
    # a registry of its own: the champion trained by the uninterrupted run scores the killed runs' data (the same)
    monkeypatch.setenv("MLFLOW_TRACKING_URI", f"sqlite:///{tmp_path / 'mlflow.db'}")
    common = ["--raw-dir", str(raw), "--truth-dir", str(tmp_path / "no-truth")]
    run_all.main(["--lakehouse", str(reference), "--retrain", *common])

    env = dict(os.environ, PYTHONPATH=str(ROOT))
    for moment in kill_rerun.DEFAULT_MOMENTS:
        kill = kill_rerun.run_killed(kill_rerun.rcu_command("run-all", "--lakehouse", str(killed), *common),
                                     moment, env, timeout=900)
        assert kill["killed"] and kill["returncode"] == -9, kill
        assert (killed / LOCK_FILE).read_text()  # the killed run's record is left: the next run takes over
    run_all.main(["--lakehouse", str(killed), *common])

    expected = kill_rerun.lakehouse_state(spark, str(reference))
    assert kill_rerun.differences(expected, kill_rerun.lakehouse_state(spark, str(killed))) == []
    assert all(expected["ids_consistent"].values()) and expected["golden_customers"] > 200
