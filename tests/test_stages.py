"""Stage bookkeeping: a stage names its Spark jobs, is timed, told to listeners and reported on one line."""

from __future__ import annotations

import pytest

from spark_lib.stages import Progress, Stages


def test_a_stage_names_its_spark_jobs_and_records_its_seconds(spark, capsys):
    events = []
    stages = Stages(spark, "match", Progress("match", 4, 7), [lambda *e: events.append(e)])

    with stages("predict") as stage:
        described = spark.sparkContext.getLocalProperty("spark.job.description")
        spark.range(10).count()
        stage.done("10 scored pairs")

    assert described == "match: predict"
    assert spark.sparkContext.getLocalProperty("spark.job.description") is None
    assert list(stages.seconds) == ["predict"] and stages.seconds["predict"] >= 0
    assert events == [("start", "match", "predict"), ("end", "match", "predict")]
    assert "[step 4/7 match] predict: 10 scored pairs (" in capsys.readouterr().err


def test_a_failing_stage_ends_for_its_listeners_and_raises(spark, capsys):
    events = []
    stages = Stages(spark, "gold", Progress("gold"), [lambda *e: events.append(e)])

    with pytest.raises(ZeroDivisionError):
        with stages("customer") as stage:
            stage.done("never printed")
            1 / 0

    assert events == [("start", "gold", "customer"), ("end", "gold", "customer")]
    assert "customer" in stages.seconds
    assert "never printed" not in capsys.readouterr().err


def test_stages_keep_their_order_and_a_quiet_progress_prints_nothing(capsys):
    stages = Stages(None, "ingest", Progress("ingest", quiet=True))
    for name in ("read", "write", "log"):
        with stages(name) as stage:
            stage.done(name)
    assert list(stages.seconds) == ["read", "write", "log"]
    assert capsys.readouterr().err == ""
    with pytest.raises(ValueError, match="a stage needs a name"):
        with stages(""):
            pass
