"""A run killed in the middle, then run again, leaves exactly what an uninterrupted run leaves.

One moment here: ``rcu match`` killed (SIGKILL to the driver and its JVM) once it has logged the cluster
splits, while it replaces the id registry and merges the crosswalk; then ``rcu match`` and ``rcu gold`` run
again on that lakehouse and are compared with the same steps run without a kill on a copy of it. Only the
killed run is a subprocess (its own Spark: the slow part); the others use the tests' session.
``benchmarks/kill_rerun.py`` kills ``rcu run-all`` at more moments (ingest, standardise, match before and
after the registry, gold) on a larger lakehouse.
"""

from __future__ import annotations

import argparse
import os
import shutil
from pathlib import Path

import pytest

from jobs import generate, gold, ingest, match, standardise
from jobs.common import Progress, build_context
from spark_lib.lock import LOCK_FILE

# 3.5 minutes on 2 cores (a subprocess with its own Spark): kept out of `make test` to hold the suite under
# 12 minutes; `make test-slow` runs it.
pytestmark = [pytest.mark.e2e, pytest.mark.slow]

ROOT = Path(__file__).resolve().parent.parent


@pytest.fixture()
def kill_rerun(monkeypatch):
    """``benchmarks/`` holds scripts, not a package: import the script's helpers as the scripts do."""
    monkeypatch.syspath_prepend(str(ROOT / "benchmarks"))
    import kill_rerun

    return kill_rerun


def test_match_killed_then_run_again_leaves_what_an_uninterrupted_run_leaves(spark, tmp_path, monkeypatch,
                                                                              kill_rerun):
    raw, reference, killed = tmp_path / "raw", tmp_path / "reference", tmp_path / "killed"
    generate.run(persons=300, raw_dir=str(raw), truth_dir=str(tmp_path / "truth"), seed=11,
                 reference_date="2026-10-31", progress=Progress("generate", quiet=True))
    # a registry of its own: the champion trained here scores the killed run's data (the same data)
    monkeypatch.setenv("MLFLOW_TRACKING_URI", f"sqlite:///{tmp_path / 'mlflow.db'}")
    common = ["--raw-dir", str(raw), "--truth-dir", str(tmp_path / "no-truth")]
    quiet = Progress("silver", quiet=True)
    ctx = build_context(argparse.Namespace(conf_dir=None, lakehouse=str(reference), raw_dir=str(raw), sources=None,
                                           truth_dir=None), "test", spark=spark)
    ingest.run(ctx, progress=quiet)
    standardise.run(ctx, progress=quiet)
    shutil.copytree(reference, killed)
    match.main(["--lakehouse", str(reference), "--retrain", *common])
    gold.main(["--lakehouse", str(reference), "--raw-dir", str(raw)])

    env = dict(os.environ, PYTHONPATH=str(ROOT))
    kill = kill_rerun.run_killed(kill_rerun.rcu_command("match", "--lakehouse", str(killed), *common),
                                 "match] cluster:", env, timeout=900)
    assert kill["killed"] and kill["returncode"] == -9, kill
    assert (killed / LOCK_FILE).read_text()  # the killed run's record is left: the next run takes over
    match.main(["--lakehouse", str(killed), *common])
    gold.main(["--lakehouse", str(killed), "--raw-dir", str(raw)])

    expected = kill_rerun.lakehouse_state(spark, str(reference))
    assert kill_rerun.differences(expected, kill_rerun.lakehouse_state(spark, str(killed))) == []
    assert all(expected["ids_consistent"].values()) and expected["golden_customers"] > 200
