"""ops.run_state: a step is up to date when no row of its inputs changed since it last ended, under the same
fingerprint; Delta commits that change no row (a MERGE of identical rows, OPTIMIZE) do not count."""

from __future__ import annotations

from types import SimpleNamespace

import pytest

from spark_lib.run_state import RunState, fingerprint
from spark_lib.storage import Lakehouse

TABLE = "silver.customer_records"


@pytest.fixture()
def lake(spark, tmp_path):
    lake = Lakehouse(spark, str(tmp_path / "lake"))
    lake.append(spark.createDataFrame([("k1", "Jean"), ("k2", "Zoé")], "record_key string, first_name string"), TABLE)
    return lake


def _rows(spark, *rows):
    return spark.createDataFrame(list(rows), "record_key string, first_name string")


def test_a_step_is_up_to_date_until_a_row_of_its_input_changes(spark, lake):
    state = RunState(lake)
    assert not state.up_to_date("match", [TABLE], "f1")             # never ran
    state.record("match", state.versions([TABLE]), "f1")
    assert state.up_to_date("match", [TABLE], "f1")
    assert not state.up_to_date("match", [TABLE], "f2")             # configuration or code changed
    assert not state.up_to_date("match", [TABLE, "gold.customer"], "f1")   # another input now

    lake.merge(_rows(spark, ("k1", "Jean"), ("k2", "Zoé")), TABLE, keys=["record_key"])   # the same rows again
    lake.delta_table(TABLE).optimize().executeCompaction()
    assert state.up_to_date("match", [TABLE], "f1")

    lake.merge(_rows(spark, ("k2", "Zoe")), TABLE, keys=["record_key"])                    # one row changed
    assert not state.up_to_date("match", [TABLE], "f1")
    state.record("match", state.versions([TABLE]), "f1")
    assert state.up_to_date("match", [TABLE], "f1")

    lake.append(_rows(spark, ("k3", "Luc")), TABLE)                                        # one row added
    assert not state.up_to_date("match", [TABLE], "f1")


def test_a_merge_with_deletions_upserts_and_deletes_in_one_commit(spark, lake):
    """Standardisation's MERGE: the day's records enter and the records their sources deleted leave together."""
    before = lake.version(TABLE)
    doomed = spark.createDataFrame([("k1",), ("k4",)], "record_key string")   # k4 arrives and is deleted the same day
    metrics = lake.merge(_rows(spark, ("k2", "Zoe"), ("k3", "Luc"), ("k4", "Ana")), TABLE, keys=["record_key"],
                         delete=doomed)
    assert sorted(map(tuple, lake.read(TABLE).collect())) == [("k2", "Zoe"), ("k3", "Luc")]
    assert lake.version(TABLE) == before + 1
    assert (metrics["num_target_rows_inserted"], metrics["num_target_rows_updated"],
            metrics["num_target_rows_deleted"]) == (1, 1, 1)

    lake.merge(_rows(spark, ("n1", "Eva"), ("n2", "Léa")), "silver.other_records", keys=["record_key"],
               delete=spark.createDataFrame([("n2",)], "record_key string"))    # a table written first
    assert [tuple(r) for r in lake.read("silver.other_records").collect()] == [("n1", "Eva")]


def test_an_input_that_appears_or_disappears_is_a_change(spark, lake):
    state = RunState(lake)
    state.record("gold", state.versions([TABLE, "gold.customer_crosswalk"]), "f")
    assert state.up_to_date("gold", [TABLE, "gold.customer_crosswalk"], "f")
    lake.append(_rows(spark, ("k1", "C1")), "gold.customer_crosswalk")
    assert not state.up_to_date("gold", [TABLE, "gold.customer_crosswalk"], "f")


def test_a_row_written_by_delta_rs_is_a_change_and_so_is_a_decision_for_run_all_s_match_step(spark, lake, tmp_path):
    """The review page and the stream append with the deltalake package, whose commits name their metrics
    otherwise than Spark's; run-all's match step reads the steward's decisions and the stream's links."""
    import pyarrow as pa
    from deltalake import write_deltalake

    from jobs.run_all import step_inputs
    from spark_lib import tables

    state = RunState(lake)
    lake.append(_rows(spark, ("k1", "Jean")), "ops.review_decisions")
    state.record("match", state.versions(["ops.review_decisions"]), "f")
    assert state.up_to_date("match", ["ops.review_decisions"], "f")
    write_deltalake(lake.path("ops.review_decisions"), pa.table({"record_key": ["k2"], "first_name": ["Zoé"]}), mode="append")
    assert not state.up_to_date("match", ["ops.review_decisions"], "f")

    ctx = SimpleNamespace(sources=SimpleNamespace(sources=()))    # no source: silver's own tables only
    assert {str(tables.REVIEW_DECISIONS), str(tables.STREAM_IDENTITY_LINKS)} <= set(step_inputs(ctx, "match"))


def test_the_fingerprint_follows_the_files_bytes_and_the_extra_values(tmp_path):
    conf = tmp_path / "matching.yaml"
    conf.write_text("threshold: 0.9\n")
    first = fingerprint([conf], "match", "champion 3")
    assert fingerprint([conf], "match", "champion 3") == first
    assert fingerprint([conf], "match", "champion 4") != first
    conf.write_text("threshold: 0.8\n")
    assert fingerprint([conf], "match", "champion 3") != first


def test_the_batches_written_since_a_version_are_read_from_the_log_unless_a_write_has_no_note(spark, lake):
    """Standardise takes the bronze batches added since its last run from the notes of the commits after it
    (no scan of the table); a write without a note (a table written by an older version) makes it scan."""
    rows = lambda batch: spark.createDataFrame([(batch, 1)], "_batch_id string, n int")
    table = "bronze.noted"
    lake.append(rows("b1"), table, note="b1")
    first = lake.version(table)
    lake.replace_where(rows("b2"), table, "_batch_id = 'b2'", note="b2")
    lake.delete_keys(rows("b1"), table, ["_batch_id"])      # an erasure: a MERGE that adds nothing
    lake.append(rows("b3"), table, note="b3")
    assert lake.committed_notes(table, first) == {"b2", "b3"}
    assert lake.committed_notes(table, lake.version(table)) == set()
    lake.append(rows("b4"), table)
    assert lake.committed_notes(table, first) is None


def test_a_table_s_version_and_small_rows_are_read_without_a_spark_query_and_match_delta_s(spark, lake):
    """The up-to-date checks of a run with nothing to do read versions from the log's listing and the run state
    with delta-rs: the same answers as Delta's history and Spark, also once a checkpoint let old commits go."""
    import os
    from pathlib import Path

    for i in range(11):   # Delta writes a checkpoint every 10 commits
        lake.merge(_rows(spark, ("k1", f"Jean {i}")), TABLE, keys=["record_key"])
    log = Path(lake.path(TABLE)) / "_delta_log"
    assert (log / f"{10:020d}.checkpoint.parquet").exists()
    for old in range(5):   # the log cleanup after a checkpoint removes commits older than the retention
        os.remove(log / f"{old:020d}.json")
    history = lake.delta_table(TABLE).history(1).select("version").first()[0]
    assert lake.version(TABLE) == history == 11
    assert lake.version("silver.nothing_here") is None and lake.small_table_rows("silver.nothing_here", ["a"]) is None

    expected = sorted((r.record_key, r.first_name) for r in lake.read(TABLE).collect())
    for root in (lake.root, f"file:{lake.root}", f"file://{lake.root}"):
        rows = Lakehouse(spark, root).small_table_rows(TABLE, ["record_key", "first_name"])
        assert sorted((r["record_key"], r["first_name"]) for r in rows) == expected == [("k1", "Jean 10"), ("k2", "Zoé")]


def test_a_table_s_properties_are_read_from_its_log_as_delta_describes_them(spark, lake):
    """Writes check the change feed and the statistics columns of a table before they write: its properties,
    read from the Delta log (delta-rs) as Spark's DESCRIBE DETAIL gives them, a property set since included."""
    from spark_lib.storage import CHANGE_DATA_FEED, STATS_COLUMNS

    lake.overwrite(_rows(spark, ("k1", "Jean")), TABLE)
    assert CHANGE_DATA_FEED not in lake.properties(TABLE)
    lake.enable_change_data_feed(TABLE)
    described = lake.delta_table(TABLE).detail().first()["properties"]
    for root in (lake.root, f"file:{lake.root}", f"file://{lake.root}"):
        assert Lakehouse(spark, root).properties(TABLE) == described
    # the table has no key nor date column: no statistics kept (an empty list, not Delta's default of all)
    assert described[CHANGE_DATA_FEED] == "true" and described[STATS_COLUMNS] == ""


def test_a_write_s_metrics_are_read_from_the_log_as_delta_s_history_gives_them(spark, lake):
    """A MERGE reports the rows it inserted, updated and deleted: read from the latest commit in the Delta log,
    the figures of Delta's own history."""
    lake.overwrite(_rows(spark, ("k1", "Jean"), ("k2", "Zoé"), ("k3", "Léa")), TABLE)
    assert lake.last_operation_metrics(TABLE)["num_output_rows"] == 3
    gone = spark.createDataFrame([("k3",)], "record_key string")
    lake.merge(_rows(spark, ("k1", "Jean"), ("k2", "Zoe"), ("k4", "Noé")), TABLE, keys=["record_key"], delete=gone)
    history = lake.delta_table(TABLE).history(1).first()["operationMetrics"]
    expected = {"num_target_rows_inserted": 1, "num_target_rows_updated": 1, "num_target_rows_deleted": 1}
    for root in (lake.root, f"file:{lake.root}", f"file://{lake.root}"):
        metrics = Lakehouse(spark, root).last_operation_metrics(TABLE)
        assert {k: metrics[k] for k in expected} == expected
    assert int(history["numTargetRowsInserted"]) == int(history["numTargetRowsUpdated"]) == 1


def test_the_latest_event_day_is_read_from_the_log_s_statistics_and_is_the_day_spark_gives(spark, lake):
    """The default run date of gold and activate: the latest event's day, in the session's time zone."""
    import datetime as dt

    from spark_lib.session import session_settings
    from spark_lib.storage import _logged_maximum

    events = "silver.orders"
    schema = "record_key string, event_time timestamp"
    at = lambda text: dt.datetime.fromisoformat(f"{text}+00:00")  # noqa: E731
    lake.overwrite(spark.createDataFrame([("a", at("2026-10-30 10:00:00"))], schema), events)
    lake.append(spark.createDataFrame([("b", at("2026-11-01 23:30:00")), ("c", None)], schema), events)
    assert _logged_maximum(lake.path(events), "event_time") is not None   # two files, each with its maximum

    spark_day = lambda: lake.read(events).agg({"event_time": "max"}).selectExpr("to_date(`max(event_time)`)").first()[0]  # noqa: E731
    assert lake.latest_day(events, "event_time") == spark_day() == dt.date(2026, 11, 1)
    with session_settings(spark, {"spark.sql.session.timeZone": "Europe/Paris"}):   # 2026-11-02 00:30 in Paris
        assert lake.latest_day(events, "event_time") == spark_day() == dt.date(2026, 11, 2)

    # a table whose files keep no statistics for the column: Spark scans it, same answer
    bare = lake.path("silver.receipts")
    spark.createDataFrame([("d", at("2026-09-01 08:00:00"))], schema).write.format("delta").option(
        "delta.dataSkippingStatsColumns", "record_key").save(bare)
    assert _logged_maximum(bare, "event_time") is None
    assert lake.latest_day("silver.receipts", "event_time") == dt.date(2026, 9, 1)

    # nothing to date a run with: no value, no table
    lake.overwrite(spark.createDataFrame([("e", None)], schema), "silver.contacts")
    assert lake.latest_day("silver.contacts", "event_time") is None
    assert lake.latest_day("silver.mailings", "event_time") is None
