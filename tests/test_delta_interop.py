"""Delta interoperability: gold tables written by Spark through the Lakehouse read the same with delta-rs.

A consumer without a JVM (a Python service, a BI extract with ``deltalake``, DuckDB or Polars on delta-rs)
must see what Spark wrote: the same rows and types, each snapshot version, and the change data feed.
"""

from __future__ import annotations

import datetime as dt

import pyarrow as pa
import pytest
from deltalake import DeltaTable, write_deltalake

from spark_lib import tables
from spark_lib.gold.kpis import KPI_SNAPSHOTS as KPI_SCHEMA
from spark_lib.storage import Lakehouse
from tests.gold_tables import CUSTOMER, crosswalk, customers, frame, ts

GOLDEN = [
    {"customer_id": "C1", "civility": "MME", "first_name": "Hélène", "last_name": "LE GOFF", "birth_date": dt.date(1980, 2, 29),
     "email": "helene.legoff@exemple.fr", "consent_email": True, "consent_email_date": ts("2026-03-01 10:15"),
     "consent_email_source": "newsletter_signups", "postcode": "29200", "city": "Brest", "sources": ["crm_customers", "eshop_accounts"],
     "record_count": 2, "first_seen": ts("2024-11-02 08:00"), "last_seen": ts("2026-10-30 21:45")},
    {"customer_id": "C2", "first_name": "Zoé", "last_name": "N'DIAYE", "consent_sms": False, "sources": [], "record_count": 1},
]


def normalise(value):
    """Python values to compare across engines: datetimes as epoch seconds (naive ones are local, as PySpark
    reads them), nested lists and dicts element by element."""
    if isinstance(value, dt.datetime):
        return value.timestamp()
    if isinstance(value, dict):
        return {k: normalise(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [normalise(v) for v in value]
    return value


def spark_rows(df) -> list[dict]:
    return sorted((normalise(r.asDict(recursive=True)) for r in df.collect()), key=repr)


def delta_rs_rows(table: pa.Table) -> list[dict]:
    return sorted((normalise(r) for r in table.to_pylist()), key=repr)


@pytest.fixture()
def lake(spark, tmp_path):
    return Lakehouse(spark, str(tmp_path / "lake"))


def test_golden_records_written_by_spark_read_the_same_with_delta_rs(spark, lake):
    df = customers(spark, GOLDEN)
    lake.overwrite(df, tables.CUSTOMER)

    table = DeltaTable(lake.path(tables.CUSTOMER))

    assert table.schema().to_arrow().names == CUSTOMER.fieldNames()
    assert delta_rs_rows(table.to_pyarrow_table()) == spark_rows(lake.read(tables.CUSTOMER))
    assert delta_rs_rows(table.to_pyarrow_table())[0]["first_name"] == "Hélène"


def test_snapshots_replaced_per_run_date_read_the_same_at_every_version(spark, lake):
    sep, oct_ = dt.date(2026, 9, 30), dt.date(2026, 10, 31)
    kpi = lambda day, value: {"run_date": day, "kpi": "duplicate_rate", "dimension": "all", "value": value}  # noqa: E731
    lake.replace_where(frame(spark, KPI_SCHEMA, [kpi(sep, 0.61)]), tables.KPI_SNAPSHOTS, f"run_date = DATE'{sep}'")
    lake.replace_where(frame(spark, KPI_SCHEMA, [kpi(oct_, 0.70)]), tables.KPI_SNAPSHOTS, f"run_date = DATE'{oct_}'")
    lake.replace_where(frame(spark, KPI_SCHEMA, [kpi(oct_, 0.72)]), tables.KPI_SNAPSHOTS, f"run_date = DATE'{oct_}'")

    table = DeltaTable(lake.path(tables.KPI_SNAPSHOTS))

    assert table.version() == 2
    assert delta_rs_rows(table.to_pyarrow_table()) == spark_rows(lake.read(tables.KPI_SNAPSHOTS))
    assert {(r["run_date"], r["value"]) for r in table.to_pyarrow_table().to_pylist()} == {(sep, 0.61), (oct_, 0.72)}
    table.load_as_version(1)
    assert {(r["run_date"], r["value"]) for r in table.to_pyarrow_table().to_pylist()} == {(sep, 0.61), (oct_, 0.70)}


def test_change_data_feed_of_a_merged_crosswalk_reads_the_same_with_delta_rs(spark, lake):
    first = {"web_events:w1": "A", "crm_customers:c1": "A", "crm_customers:c2": "B"}
    lake.overwrite(crosswalk(spark, first), tables.CROSSWALK)
    path = lake.path(tables.CROSSWALK)
    spark.sql(f"ALTER TABLE delta.`{path}` SET TBLPROPERTIES (delta.enableChangeDataFeed = true)")
    # c2 moves to customer A (a merge of two customers), w2 is new, w1 and c1 are unchanged
    second = {**first, "crm_customers:c2": "A", "web_events:w2": "B"}
    lake.merge(crosswalk(spark, second), tables.CROSSWALK, keys=["record_key"], compare_columns=["customer_id"])

    changes = pa.table(DeltaTable(path).load_cdf(starting_version=2))
    expected = spark.read.format("delta").option("readChangeFeed", "true").option("startingVersion", 2).load(path)

    keep = ("record_key", "customer_id", "_change_type", "_commit_version")
    delta_rs = sorted(tuple(r[c] for c in keep) for r in changes.to_pylist())
    assert delta_rs == sorted(tuple(r[c] for c in keep) for r in expected.collect())
    assert delta_rs == [
        ("crm_customers:c2", "A", "update_postimage", 2),
        ("crm_customers:c2", "B", "update_preimage", 2),
        ("web_events:w2", "B", "insert", 2),
    ]


def test_a_table_written_by_delta_rs_reads_the_same_in_spark(lake, tmp_path):
    rows = [{"run_date": dt.date(2026, 10, 31), "kpi": "customers", "dimension": "all", "value": 16956.0}]
    schema = pa.schema([("run_date", pa.date32(), False), ("kpi", pa.string(), False), ("dimension", pa.string(), False),
                        ("value", pa.float64())])
    write_deltalake(lake.path(tables.KPI_SNAPSHOTS), pa.Table.from_pylist(rows, schema))

    assert spark_rows(lake.read(tables.KPI_SNAPSHOTS)) == rows


def test_a_merge_that_the_stream_s_commits_conflict_with_is_run_again_and_loses_neither(spark, tmp_path, monkeypatch):
    """The batch's MERGE into a silver table while another writer (the stream, where no lock holds: an object
    store) inserts into it through delta-rs for a second and a half: Delta refuses the MERGE's commit, the MERGE
    runs again, and the table holds both writers' rows."""
    import threading
    import time

    from spark_lib import storage
    from spark_lib.streaming.commits import insert_new

    lake = Lakehouse(spark, str(tmp_path / "lake"))
    table = "silver.shared_events"
    lake.overwrite(spark.createDataFrame([(f"b{i}", i) for i in range(50)], "k string, v long"), table)
    conflicts = []

    def conflict(error):
        found = storage_conflict(error)
        conflicts.extend([found] if found else [])
        return found

    storage_conflict = storage.concurrent_write_error
    monkeypatch.setattr(storage, "concurrent_write_error", conflict)
    stop, inserted = threading.Event(), []

    def stream():
        number, until = 0, time.monotonic() + 1.5
        while not stop.is_set() and time.monotonic() < until:
            inserted.append(insert_new(lake.path(table), pa.table({"k": [f"s{number}"], "v": [number]}), ["k"]))
            number += 1
            time.sleep(0.01)

    writer = threading.Thread(target=stream)
    writer.start()
    try:
        lake.merge(spark.createDataFrame([(f"b{i}", i + 100) for i in range(50)], "k string, v long"), table, keys=["k"])
    finally:
        stop.set()
        writer.join()
    rows = dict(lake.read(table).collect())
    assert conflicts, "no commit of the stream conflicted with the MERGE: nothing was tried again"
    assert all(rows[f"b{i}"] == i + 100 for i in range(50))
    assert sum(inserted) == len([k for k in rows if k.startswith("s")]) > 0
