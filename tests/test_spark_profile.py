"""benchmarks/spark_profile.py: Spark's event log summed per pipeline stage and call site (no Spark here)."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

BENCHMARKS = Path(__file__).resolve().parent.parent / "benchmarks"


@pytest.fixture()
def spark_profile(monkeypatch):
    monkeypatch.syspath_prepend(str(BENCHMARKS))
    import spark_profile

    return spark_profile


def _job(job_id: int, stages: list[int], execution: int | None, description: str | None = None, call_site: str = "?"):
    properties = {"callSite.short": call_site}
    if description is not None:
        properties["spark.job.description"] = description
    if execution is not None:
        properties["spark.sql.execution.id"] = str(execution)
    return {"Event": "SparkListenerJobStart", "Job ID": job_id, "Stage IDs": stages, "Properties": properties}


def _task(stage: int, run_ms: int, spill: int = 0):
    return {
        "Event": "SparkListenerTaskEnd",
        "Stage ID": stage,
        "Task Metrics": {"Executor Run Time": run_ms, "Executor CPU Time": run_ms * 500_000, "JVM GC Time": 10,
                         "Disk Bytes Spilled": spill, "Shuffle Write Metrics": {"Shuffle Bytes Written": 2**20}},
    }


def _stage(stage: int, name: str, start: int, end: int, tasks: int = 2):
    return {"Event": "SparkListenerStageCompleted",
            "Stage Info": {"Stage ID": stage, "Stage Name": name, "Number of Tasks": tasks,
                           "Submission Time": start, "Completion Time": end}}


def _events() -> list[dict]:
    """A table write (our description), the job Delta starts inside it, a Python count, a skipped stage."""
    return [
        {"Event": "org.apache.spark.sql.execution.ui.SparkListenerSQLExecutionStart", "executionId": 7, "rootExecutionId": 7},
        {"Event": "org.apache.spark.sql.execution.ui.SparkListenerSQLExecutionStart", "executionId": 8, "rootExecutionId": 7},
        _job(1, [10], 7, description="overwrite silver.customer_records", call_site="save at NativeMethodAccessorImpl.java:0"),
        _job(2, [11], 8, description="Delta: Filtering files for query",
             call_site="$anonfun$recordDeltaOperationInternal$1 at DatabricksLogging.scala:128"),
        _job(3, [12, 13], None, call_site="count at /repo/jobs/match.py:103"),
        _task(10, 3000, spill=2**21), _task(10, 2000), _task(11, 500), _task(12, 1000),
        _stage(10, "save at NativeMethodAccessorImpl.java:0", 1_000, 4_000),
        _stage(11, "$anonfun$recordDeltaOperationInternal$1 at DatabricksLogging.scala:128", 3_500, 4_500),
        _stage(12, "count at /repo/jobs/match.py:103", 10_000, 11_000),
        {"Event": "SparkListenerStageCompleted", "Stage Info": {"Stage ID": 13, "Stage Name": "count", "Number of Tasks": 4}},
    ]


def test_stages_are_named_after_what_started_them(spark_profile):
    stages = {s.stage_id: s for s in spark_profile.spark_stages(_events())}

    assert sorted(stages) == [10, 11, 12]  # the skipped stage never ran
    assert stages[10].name == "overwrite silver.customer_records"
    # Delta's inner job belongs to the write that started it, not to Delta's own call site
    assert stages[11].name == "overwrite silver.customer_records"
    assert stages[12].name == "count at /repo/jobs/match.py:103"
    assert (stages[10].task_ms, stages[10].spill_bytes, stages[10].wall_ms) == (5000, 2**21, 3000)


def test_profile_splits_by_pipeline_stage_and_counts_overlaps_once(spark_profile):
    stages = spark_profile.spark_stages(_events())
    run = {"stages": {"silver": {"started_epoch": 0.5, "ended_epoch": 6.0},
                      "deterministic": {"started_epoch": 6.0, "ended_epoch": 12.0},
                      "gold": {"seconds": 3.0}}}  # an older result without epochs is left out
    report = spark_profile.profile(stages, spark_profile.pipeline_windows(run), root="/repo")

    assert list(report) == ["silver", "deterministic"]
    silver = report["silver"]
    assert silver["spark_wall_s"] == pytest.approx(3.5)  # 1.0-4.0 and 3.5-4.5 overlap
    assert silver["driver_gap_s"] == pytest.approx(5.5 - 3.5)
    assert silver["task_s"] == pytest.approx(5.5)
    [write] = silver["call_sites"]
    assert (write["call_site"], write["stages"], write["wall_s"]) == ("overwrite silver.customer_records", 2, 3.5)
    assert report["deterministic"]["call_sites"][0]["call_site"] == "count at jobs/match.py:103"
    assert "| silver | 5.5 | 3.5 | 2.0 |" in spark_profile.render(report)


def test_reads_an_event_log_folder(spark_profile, tmp_path):
    folder = tmp_path / "eventlog_v2_local-1"
    folder.mkdir()
    events = _events()
    (folder / "events_2_local-1").write_text("\n".join(json.dumps(e) for e in events[6:]) + "\n{\"Event\": ", encoding="utf-8")
    (folder / "events_1_local-1").write_text("\n".join(json.dumps(e) for e in events[:6]) + "\n", encoding="utf-8")

    assert spark_profile.find_event_log(tmp_path) == folder
    # the files are read in their index order, and a half-written last line is skipped
    assert [s.name for s in spark_profile.spark_stages(spark_profile.read_events(folder))][0] == "overwrite silver.customer_records"
    with pytest.raises(FileNotFoundError, match="no Spark event log"):
        spark_profile.find_event_log(tmp_path / "eventlog_v2_local-1")
