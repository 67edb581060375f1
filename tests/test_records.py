"""The tests' builder of silver.customer_records rows (tests/records.py) fills what a record needs and no more."""

from __future__ import annotations

import datetime as dt

import pytest
from pyspark.sql.types import StringType, StructField

from spark_lib.schemas import CUSTOMER_RECORDS
from tests.records import INGESTED_AT, silver_columns, silver_record, silver_records


def test_a_record_has_every_column_its_keys_and_defaults_and_nulls_elsewhere():
    row = silver_record("crm:C001", last_name="LE GOFF")

    assert list(row) == CUSTOMER_RECORDS.fieldNames()
    assert {k: v for k, v in row.items() if v is not None} == {
        "record_key": "crm:C001", "source": "crm", "source_record_id": "C001", "channel": "online",
        "last_name": "LE GOFF", "quality_flags": [], "ingested_at": INGESTED_AT, "source_file": "crm.csv",
    }
    assert silver_record(source="crm", source_record_id="C001", last_name="LE GOFF") == row
    assert silver_record(**row) == row  # idempotent


def test_derived_std_columns_fold_the_display_value_unless_given():
    row = silver_record("a:1", first_name="Jean-Pierre", last_name="LE GOFF", last_name_std="le goff",
                        street=None, derive_std=("first_name", "last_name", "street"))

    assert (row["first_name_std"], row["last_name_std"], row["street_std"]) == ("jean-pierre", "le goff", None)
    with pytest.raises(KeyError, match="phone_mobile_std"):
        silver_record("a:1", derive_std=("phone_mobile",))
    with pytest.raises(ValueError, match="two record keys"):
        silver_record("a:1", record_key="a:2")


def test_frames_are_typed_by_the_schema_and_refuse_unknown_columns(spark):
    df = silver_records(spark, {"key": "pos:1", "birth_date": dt.date(1980, 1, 2)}, {"key": "pos:2", "customer_id": "C9"},
                        extra=[StructField("customer_id", StringType())], customer_id="C1", channel="offline")

    assert df.schema.fields[: len(CUSTOMER_RECORDS.fields)] == CUSTOMER_RECORDS.fields
    assert [(r.record_key, r.channel, r.customer_id, r.birth_date) for r in df.collect()] == [
        ("pos:1", "offline", "C1", dt.date(1980, 1, 2)), ("pos:2", "offline", "C9", None)]
    with pytest.raises(KeyError, match="emial"):
        silver_records(spark, {"key": "a:1", "emial": "a@b.fr"})

    few = silver_columns(spark, ("record_key", "source", "birth_date"), {"record_key": "a:1"})
    assert [(f.name, f.dataType.simpleString(), f.nullable) for f in few.schema.fields] == [
        ("record_key", "string", True), ("source", "string", True), ("birth_date", "date", True)]
    assert [tuple(r) for r in few.collect()] == [("a:1", None, None)]
