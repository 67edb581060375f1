"""Jobs as entry points: the CLI, and a Databricks-style environment where a session already exists."""

from __future__ import annotations

import subprocess
import sys

import pytest
from pyspark.sql import SparkSession

from jobs import cli, ingest
from spark_lib.config import ConfigError
from tests.deliveries import write_delivery


def test_job_main_reuses_the_session_that_already_exists(spark, tmp_path):
    delivery = write_delivery(tmp_path)
    status = ingest.main(
        ["--lakehouse", delivery.lakehouse, "--raw-dir", delivery.raw_dir, "--sources", delivery.sources,
         "--source", "receipts"]
    )
    assert SparkSession.getActiveSession() is spark
    assert status == 0   # one row quarantined, no file: done
    assert spark.read.format("delta").load(f"{delivery.lakehouse}/bronze/receipts").count() == 2
    assert spark.read.format("delta").load(f"{delivery.lakehouse}/bronze/quarantine").count() == 1


def test_cli_help_lists_every_step():
    result = subprocess.run([sys.executable, "-m", "jobs.cli", "--help"], capture_output=True, text=True, timeout=120)
    assert result.returncode == 0
    for step in cli.STEPS:
        assert step in result.stdout


def test_cli_step_help_explains_its_options():
    result = subprocess.run(
        [sys.executable, "-m", "jobs.cli", "ingest", "--help"], capture_output=True, text=True, timeout=120
    )
    assert result.returncode == 0
    assert "--source" in result.stdout and "idempotent" in result.stdout
    # the exit status that tells "done, some files quarantined" from "failed" is documented
    assert "3 done, but some files were quarantined" in " ".join(result.stdout.split())


def test_unknown_source_key_is_an_error_naming_key_and_file(spark, tmp_path):
    delivery = write_delivery(tmp_path)
    text = open(delivery.sources).read().replace("separator: \";\"", "sepparator: \";\"", 1)
    open(delivery.sources, "w").write(text)
    with pytest.raises(ConfigError, match=r"sources\.yaml: sources\.loyalty: unknown key 'sepparator'"):
        ingest.main(["--lakehouse", delivery.lakehouse, "--raw-dir", delivery.raw_dir, "--sources", delivery.sources])


def test_wrong_type_in_source_config_is_an_error_naming_key_and_file(spark, tmp_path):
    delivery = write_delivery(tmp_path)
    text = open(delivery.sources).read().replace("channel: offline", "channel: offline\n    header: \"yes\"", 1)
    open(delivery.sources, "w").write(text)
    with pytest.raises(ConfigError, match=r"sources\.yaml: sources\.loyalty\.header: expected true or false"):
        ingest.main(["--lakehouse", delivery.lakehouse, "--raw-dir", delivery.raw_dir, "--sources", delivery.sources])
