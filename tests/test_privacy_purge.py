"""Purge: after an erasure and a purge with retention 0, no file of the table holds anything of the person.

Each test table has the change data feed on and several versions; one person's row is deleted by record_key
(a MERGE on a DataFrame of keys, as the erasing job does). Every file under the table's folder is then searched:
raw bytes (JSON commits, ``.crc``, ``_last_checkpoint``) and, for parquet (data, change data, checkpoints), every
decoded value.
"""

from __future__ import annotations

import datetime as dt
from pathlib import Path

import pyarrow.parquet as pq
import pytest
from deltalake import DeltaTable as RustDeltaTable
from pyspark.sql import functions as F
from pyspark.sql.types import ArrayType, DateType, IntegerType, StringType, StructField, StructType, TimestampType

from spark_lib.privacy import purge
from spark_lib.privacy.purge import (
    STATS_COLUMNS,
    PrivacyRetention,
    apply_privacy_properties,
    purge_table,
    stats_columns,
    table_properties,
)
from spark_lib.storage import Lakehouse
from spark_lib.tables import Table

TABLE = Table("gold.purge_customer", keys=("record_key",))
SCHEMA = "record_key string, email string, first_name string, updated_at timestamp"
PERSON = {"record_key": "crm:ERASE-0001", "email": "jean.effacer@example.org", "first_name": "Jeanvaljean"}
OTHERS = [
    ("crm:KEEP-0002", "bob.garde@example.org", "Bobby", "2024-01-02 10:00:00"),
    ("crm:KEEP-0003", "cid.garde@example.org", "Cid", "2024-01-03 10:00:00"),
]
LATE = ("crm:KEEP-0004", "dan.garde@example.org", "Dan", None)
ZERO = dt.timedelta(0)


def _values(obj):
    if isinstance(obj, dict):
        for value in obj.values():
            yield from _values(value)
    elif isinstance(obj, (list, tuple)):
        for value in obj:
            yield from _values(value)
    elif obj is not None:
        yield str(obj)


def files_holding(root, needle: str) -> list[str]:
    """The files under ``root`` holding ``needle``: in their bytes, or among the decoded values of a parquet file."""
    found = []
    for path in sorted(Path(root).rglob("*")):
        if not path.is_file():
            continue
        data = path.read_bytes()
        if needle.encode() in data or (data[:4] == b"PAR1" and any(needle in v for v in _values(pq.read_table(path).to_pylist()))):
            found.append(str(path.relative_to(root)))
    return found


def traces(root) -> dict[str, list[str]]:
    """The person's values found, by column, with the files holding them."""
    return {column: files for column, value in PERSON.items() if (files := files_holding(root, value))}


def listing(root) -> dict[str, int]:
    return {str(p.relative_to(root)): p.stat().st_mtime_ns for p in Path(root).rglob("*") if p.is_file()}


def build(spark, root, *, lakehouse_created: bool, deletion_vectors: bool = False) -> tuple[Lakehouse, str]:
    """4 versions: created with 3 rows (CDF on), a row appended, the person's first name updated, the person
    deleted by record_key."""
    lake = Lakehouse(spark, str(root))
    path = lake.path(TABLE)
    rows = [(PERSON["record_key"], PERSON["email"], "Jean", "2024-01-01 10:00:00"), *OTHERS]
    first = spark.createDataFrame(rows, "record_key string, email string, first_name string, updated_at string")
    first = first.withColumn("updated_at", F.to_timestamp("updated_at")).coalesce(1)
    if lakehouse_created:
        lake.overwrite(first, TABLE, change_data_feed=True)
    else:  # Delta's defaults: statistics for the first 32 columns, emails and names included
        first.write.format("delta").option("delta.enableChangeDataFeed", "true").save(path)
    if deletion_vectors:
        spark.sql(f"ALTER TABLE delta.`{path}` SET TBLPROPERTIES (delta.enableDeletionVectors = true)")
    lake.append(spark.createDataFrame([LATE], SCHEMA), TABLE)
    renamed = first.withColumn(
        "first_name", F.when(F.col("record_key") == PERSON["record_key"], PERSON["first_name"]).otherwise(F.col("first_name")))
    lake.merge(renamed, TABLE, keys=TABLE.keys)
    erased = spark.createDataFrame([(PERSON["record_key"],)], "record_key string")
    lake.delta_table(TABLE).alias("t").merge(erased.alias("s"), "t.record_key = s.record_key").whenMatchedDelete().execute()
    return lake, path


def remaining_rows(spark, path, *, with_delta_rs: bool = True) -> tuple[list, list | None]:
    """The table's rows as Spark reads them, and as delta-rs (``deltalake``) does."""
    spark_rows = sorted((r.record_key, r.email, r.first_name) for r in spark.read.format("delta").load(path).collect())
    if not with_delta_rs:
        return spark_rows, None
    rust = RustDeltaTable(path).to_pyarrow_table().to_pylist()
    return spark_rows, sorted((r["record_key"], r["email"], r["first_name"]) for r in rust)


EXPECTED = sorted([(k, e, n) for k, e, n, _ in OTHERS] + [LATE[:3]])


@pytest.mark.parametrize("lakehouse_created, deletion_vectors", [
    pytest.param(True, False, id="lakehouse-table"),
    # our tables have no deletion vectors (the e2e erasure covers them): Delta's defaults with them on are slow
    pytest.param(False, True, id="delta-defaults-with-deletion-vectors", marks=pytest.mark.slow),
])
def test_purge_leaves_nothing_of_an_erased_person(spark, tmp_path, lakehouse_created, deletion_vectors):
    lake, path = build(spark, tmp_path, lakehouse_created=lakehouse_created, deletion_vectors=deletion_vectors)
    assert spark.read.format("delta").load(path).where(F.col("record_key") == PERSON["record_key"]).count() == 0

    before = traces(path)
    assert set(before) == set(PERSON)  # the scan finds the person before the purge: the test can fail
    assert any(f.startswith("_change_data/") for f in before["email"])
    if not lakehouse_created:  # file statistics in the log and the checksum files
        assert any(f.endswith(".json") for f in before["email"]) and any(f.endswith(".crc") for f in before["email"])
    else:  # a Lakehouse table keeps no email in its statistics; the key is a statistic
        assert not any(f.startswith("_delta_log/") for f in before["email"])

    changed = apply_privacy_properties(spark, path, ZERO, stats_columns(lake.read(TABLE).schema, TABLE.keys))
    assert changed["delta.logRetentionDuration"] == "interval 0 hours"
    result = purge_table(spark, path, ZERO)

    assert traces(path) == {}
    assert result.data_files > 0 and result.change_data_files > 0 and result.log_files > 0 and result.checkpoint_written
    assert (result.rewritten_files > 0) == deletion_vectors
    assert (result.deletion_vector_files > 0) == deletion_vectors
    # the installed deltalake cannot read a table with deletion vectors at all (reader feature unsupported)
    spark_rows, rust_rows = remaining_rows(spark, path, with_delta_rs=not deletion_vectors)
    assert spark_rows == EXPECTED and rust_rows in (EXPECTED, None)

    # a second purge changes nothing: no commit, no file removed or rewritten
    files = listing(path)
    assert apply_privacy_properties(spark, path, ZERO, stats_columns(lake.read(TABLE).schema, TABLE.keys)) == {}
    again = purge_table(spark, path, ZERO)
    assert not again.changed and again.checkpoint_version == result.checkpoint_version
    assert listing(path) == files

    # the table lives on: a new write, then both engines read it
    lake.append(spark.createDataFrame([("crm:KEEP-0005", "eve@example.org", "Eve", None)], SCHEMA), TABLE)
    spark_rows, rust_rows = remaining_rows(spark, path, with_delta_rs=not deletion_vectors)
    assert len(spark_rows) == len(EXPECTED) + 1 and rust_rows in (spark_rows, None)
    assert lake.version(TABLE) == result.checkpoint_version + 1


def test_purge_keeps_files_younger_than_the_retention(spark, tmp_path):
    lake = Lakehouse(spark, str(tmp_path))
    path = lake.path(TABLE)
    for name in ("Jean", PERSON["first_name"]):  # the second overwrite leaves the first file tombstoned
        lake.overwrite(spark.createDataFrame([(PERSON["record_key"], PERSON["email"], name, None)], SCHEMA), TABLE)
    data_files = sorted(p.name for p in Path(path).glob("*.parquet"))
    result = purge_table(spark, path, dt.timedelta(hours=24))
    assert (result.data_files, result.change_data_files, result.log_files) == (0, 0, 0)
    assert result.checkpoint_written and result.checkpoint_version == 1
    assert sorted(p.name for p in Path(path).glob("*.parquet")) == data_files
    assert sorted(p.name for p in Path(path, "_delta_log").glob("*.json")) == [f"{v:020d}.json" for v in (0, 1)]
    assert remaining_rows(spark, path) == ([(PERSON["record_key"], PERSON["email"], PERSON["first_name"])],) * 2


@pytest.mark.slow
def test_a_purge_killed_after_its_checkpoint_is_finished_by_the_next(spark, tmp_path):
    lake = Lakehouse(spark, str(tmp_path))
    path = lake.path(TABLE)
    others = spark.createDataFrame([LATE], SCHEMA)
    person = spark.createDataFrame([(PERSON["record_key"], PERSON["email"], PERSON["first_name"], None)], SCHEMA)
    lake.overwrite(person.union(others), TABLE)
    lake.overwrite(others, TABLE)  # the person is gone from the table, not from its files
    apply_privacy_properties(spark, path, ZERO, list(TABLE.keys))
    assert set(traces(path)) == set(PERSON)

    # killed after VACUUM and the checkpoint, in the middle of the log clean-up (oldest files go first)
    purge._vacuum(spark, path, ZERO)
    purge._checkpoint(spark, path)
    Path(path, "_delta_log", f"{0:020d}.json").unlink()
    assert traces(path)  # the crc of version 0 still holds the key
    assert remaining_rows(spark, path)[0] == [LATE[:3]]

    result = purge_table(spark, path, ZERO)
    assert result.log_files > 0 and not result.checkpoint_written and result.data_files == 0
    assert traces(path) == {}
    assert remaining_rows(spark, path) == ([LATE[:3]],) * 2


def test_stats_columns_are_keys_and_dates_in_schema_order():
    schema = StructType([
        StructField("email", StringType()),
        StructField("updated_at", TimestampType()),
        StructField("record_key", StringType()),
        StructField("birth_date", DateType()),
        StructField("first_name", StringType()),
        StructField("record_count", IntegerType()),
        StructField("member_keys", ArrayType(StringType())),
    ])
    assert stats_columns(schema, ("record_key", "member_keys")) == ["updated_at", "record_key", "birth_date"]
    assert stats_columns(schema, ()) == ["updated_at", "birth_date"]


def test_tables_created_by_the_lakehouse_keep_stats_for_keys_and_dates(spark, tmp_path):
    lake = Lakehouse(spark, str(tmp_path))
    df = spark.createDataFrame([("k1", "a@x.org", "Ann", None)], SCHEMA)
    lake.overwrite(df, TABLE, change_data_feed=True)
    path = lake.path(TABLE)
    assert table_properties(spark, path)[STATS_COLUMNS] == "record_key,updated_at"
    add = next(line for line in Path(path, "_delta_log", "00000000000000000000.json").read_text().splitlines() if '"add"' in line)
    assert "a@x.org" not in add and "Ann" not in add

    lake.overwrite(df, TABLE, change_data_feed=True)  # an overwrite keeps the property
    lake.append(df, TABLE)
    assert table_properties(spark, path)[STATS_COLUMNS] == "record_key,updated_at"
    lake.overwrite(df.drop("updated_at"), TABLE)  # a statistics column dropped: the write still succeeds
    assert table_properties(spark, path)[STATS_COLUMNS] == "record_key"
    assert lake.read(TABLE).columns == ["record_key", "email", "first_name"]

    lake.append(df, "ops.plain_log")  # a plain name: no keys known, dates only
    assert table_properties(spark, lake.path("ops.plain_log"))[STATS_COLUMNS] == "updated_at"
    dated = df.withColumn("run_date", F.to_date(F.lit("2024-05-01")))
    lake.overwrite(dated, "ops.partitioned", partition_by=["run_date"])  # no statistics on a partition column
    assert table_properties(spark, lake.path("ops.partitioned"))[STATS_COLUMNS] == "updated_at"
    apply_privacy_properties(spark, lake.path("ops.partitioned"), ZERO, ["updated_at", "run_date"])
    assert table_properties(spark, lake.path("ops.partitioned"))[STATS_COLUMNS] == "updated_at"


def test_privacy_retention_from_mapping():
    assert PrivacyRetention.from_mapping(None).retention == dt.timedelta(days=7)
    assert PrivacyRetention.from_mapping({}).retention == dt.timedelta(days=7)
    assert PrivacyRetention.from_mapping({"retention_hours": 0}).retention == ZERO
    assert PrivacyRetention.from_mapping({"retention_hours": 672}).retention == dt.timedelta(days=28)
    with pytest.raises(ValueError, match="one month"):
        PrivacyRetention.from_mapping({"retention_hours": 673})
    with pytest.raises(ValueError, match="unknown key"):
        PrivacyRetention.from_mapping({"retention_days": 7})
    for bad in ("168", True, -1, float("nan")):
        with pytest.raises(ValueError):
            PrivacyRetention.from_mapping({"retention_hours": bad})
    with pytest.raises(ValueError, match="one month"):
        purge_table(None, "unused", dt.timedelta(days=31))
