"""The one builder of ``silver.customer_records`` rows for the tests (schema ``spark_lib.schemas.CUSTOMER_RECORDS``).

A test names only the fields its story is about; :func:`silver_record` fills the rest as the silver job would
leave a record that has nothing more to say: the keys (``record_key = source:source_record_id``, either side
derived from the other), a channel, no quality flags, an ingestion time and a source file, every other column
null. ::

    silver_record("crm:1", first_name="Anne", last_name="LE GOFF", derive_std=("first_name", "last_name"))
    silver_records(spark, {"key": "crm:1", "email": "a@b.fr"}, silver_record("pos:2"), channel="offline")
    silver_columns(spark, ("record_key", "email_std"), {"record_key": "a:1", "email_std": "a@b.fr"})

:func:`rows_of` and :func:`frame` turn dicts into rows of any table (``tests/gold_tables.py`` builds its gold
tables with them).
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterable, Sequence

from pyspark.sql import DataFrame, SparkSession
from pyspark.sql.types import StructField, StructType

from spark_lib.schemas import CUSTOMER_RECORDS

#: ``ingested_at`` of a record that does not say otherwise.
INGESTED_AT = dt.datetime(2026, 10, 31)


def fold(text: str | None) -> str | None:
    """The tests' stand-in for silver's folding of a display value into its ``*_std`` column: lower case
    (accents are kept); null for null or empty."""
    return text.lower() if text else None


def silver_record(key: str | None = None, *, derive_std: Iterable[str] = (), **fields) -> dict:
    """A ``silver.customer_records`` row as a dict of every column (in schema order), with ``fields`` as given.

    ``key`` is the record key ``"<source>:<source_record_id>"`` (or give ``record_key``, or ``source`` and
    ``source_record_id``); what is not given of the three derives from the rest. Unless given: ``channel`` is
    ``"online"``, ``quality_flags`` ``[]``, ``ingested_at`` :data:`INGESTED_AT`, ``source_file``
    ``"<source>.csv"``, every other column null. ``derive_std`` names display columns (``first_name``,
    ``last_name``, ``street``...) whose ``<column>_std`` is :func:`fold` of the display value, unless the
    ``_std`` column is given too. Columns outside the schema (a ``customer_id``...) are kept, after the schema's;
    :func:`silver_records` checks them against its own.

    Idempotent: ``silver_record(**silver_record(...))`` is the same row.
    """
    if key is not None:
        if fields.get("record_key", key) != key:
            raise ValueError(f"two record keys: {key!r} and record_key={fields['record_key']!r}")
        fields["record_key"] = key
    record_key = fields.get("record_key")
    if record_key is None:
        if fields.get("source") is None or fields.get("source_record_id") is None:
            raise ValueError("a silver record needs its key, or its source and source_record_id")
        record_key = f"{fields['source']}:{fields['source_record_id']}"
    source, _, record_id = record_key.partition(":")
    row = {f.name: None for f in CUSTOMER_RECORDS.fields}
    row.update(record_key=record_key, source=source, source_record_id=record_id, channel="online", quality_flags=[],
               ingested_at=INGESTED_AT)
    row.update(fields)
    if "source_file" not in fields:
        row["source_file"] = f"{row['source']}.csv"
    for column in derive_std:
        if f"{column}_std" not in row:
            raise KeyError(f"{column!r} has no {column}_std column to derive")
        if f"{column}_std" not in fields:
            row[f"{column}_std"] = fold(row[column])
    return row


def silver_records(spark: SparkSession, *rows: dict, extra: Sequence[StructField] = (), **defaults) -> DataFrame:
    """A DataFrame typed by ``CUSTOMER_RECORDS`` (plus the ``extra`` fields, after it) of the rows, each completed
    by :func:`silver_record`: ``defaults`` are fields of every row that a row's own fields override (a row may
    be partial, ``{"key": "crm:1", ...}``, or already whole). A field outside the schema is a ``KeyError``."""
    schema = StructType(CUSTOMER_RECORDS.fields + list(extra))
    return frame(spark, schema, [silver_record(**{**defaults, **row}) for row in rows])


def silver_columns(spark: SparkSession, columns: Sequence[str], *rows: dict) -> DataFrame:
    """Only ``columns`` of ``silver.customer_records`` (typed as in ``CUSTOMER_RECORDS``, every one nullable), for
    functions that read a few of them: nothing is filled in, an unspecified field is null (keys included)."""
    schema = StructType([StructField(c, CUSTOMER_RECORDS[c].dataType, True) for c in columns])
    return frame(spark, schema, list(rows))


def rows_of(schema: StructType, records: list[dict]) -> list[tuple]:
    """The dicts as tuples in the schema's order (a missing field is null); a field outside it is a ``KeyError``."""
    names = schema.fieldNames()
    for record in records:
        unknown = set(record) - set(names)
        if unknown:
            raise KeyError(f"unknown column(s) {sorted(unknown)} (schema: {names})")
    return [tuple(record.get(name) for name in names) for record in records]


def frame(spark: SparkSession, schema: StructType, records: list[dict]) -> DataFrame:
    """A DataFrame of the schema from dicts (see :func:`rows_of`)."""
    return spark.createDataFrame(rows_of(schema, records), schema)
