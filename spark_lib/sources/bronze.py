"""Bronze: each source lands as delivered, plus ingestion metadata; malformed rows go to quarantine.

Nothing is dropped: every row read is either a bronze row or a quarantine row with its reason. A quarantine
row keeps the record as text (``raw_record``, always valid UTF-8 so that any Delta reader can read it) and,
for a line the reader could not parse, its bytes as delivered (``raw_bytes``, binary: nothing is lost even
when the line is binary garbage). Files that cannot be read at all go to ``bronze.file_quarantine``
(:mod:`spark_lib.sources.files`).

Example::

    split = split_malformed(with_ingestion_metadata(read_raw(spark, spec, paths), spec.name, hashes, batch), spec)
    split.valid        # -> bronze.<source>
    split.quarantine   # -> bronze.quarantine (QUARANTINE_COLUMNS), with its reason
"""

from __future__ import annotations

import re
from typing import NamedTuple

from pyspark.sql import Column, DataFrame
from pyspark.sql import functions as F
from pyspark.sql.types import StructType

from spark_lib.config import SourceSpec
from spark_lib.sources.readers import CORRUPT, column_for, has_column, mapped_columns

METADATA_COLUMNS = ("_source", "_source_file", "_file_hash", "_batch_id", "_ingested_at")

QUARANTINE_COLUMNS = ("source", "source_file", "file_hash", "reason", "raw_record", "raw_bytes", "batch_id", "ingested_at")


class BronzeSplit(NamedTuple):
    valid: DataFrame
    quarantine: DataFrame


def with_ingestion_metadata(raw: DataFrame, source: str, file_hashes: DataFrame, batch_id: str) -> DataFrame:
    """Add ``_source``, ``_file_hash``, ``_batch_id`` and ``_ingested_at`` to rows read by ``read_raw``.

    ``file_hashes`` has one row per file: ``path`` (absolute, as listed) and ``file_hash``.
    """
    # Spark reports file paths as URIs ("file:/data/x.csv", a space as %20): compare decoded paths.
    local_path = F.regexp_replace(F.url_decode("_source_file"), "^file:(//)?", "")
    hashes = F.broadcast(file_hashes.select(F.col("path").alias("_path"), F.col("file_hash").alias("_file_hash")))
    return (
        raw.withColumn("_path", local_path)
        .join(hashes, "_path", "left")
        .select(
            *raw.columns,
            F.lit(source).alias("_source"),
            "_file_hash",
            F.lit(batch_id).alias("_batch_id"),
            F.current_timestamp().alias("_ingested_at"),
        )
    )


def split_malformed(df: DataFrame, spec: SourceSpec) -> BronzeSplit:
    """Separate rows that cannot be used (unparseable, no record id) from the rows that land in bronze."""
    record_id = column_for(df, spec, "record_id", spec.record_id, spec.path)
    reason = _reject_reason(df, spec, record_id)
    flagged = df.withColumn("_reject_reason", reason)
    payload = F.to_json(F.struct(*[F.col(f"`{c}`") for c in _payload_columns(df)]))
    has_corrupt = CORRUPT in df.columns
    raw_record = F.coalesce(F.col(CORRUPT), payload) if has_corrupt else payload
    quarantine = flagged.where(F.col("_reject_reason").isNotNull()).select(
        F.col("_source").alias("source"),
        F.col("_source_file").alias("source_file"),
        F.col("_file_hash").alias("file_hash"),
        F.col("_reject_reason").alias("reason"),
        # A line of garbage holds bytes that are not UTF-8: the text column gets U+FFFD in their place
        # (Parquet strings must be UTF-8, or other Delta readers fail), the bytes themselves go to raw_bytes.
        F.make_valid_utf8(raw_record).alias("raw_record"),
        (_raw_bytes(F.col(CORRUPT), spec) if has_corrupt else F.lit(None).cast("binary")).alias("raw_bytes"),
        F.col("_batch_id").alias("batch_id"),
        F.col("_ingested_at").alias("ingested_at"),
    )
    valid = flagged.where(F.col("_reject_reason").isNull()).drop("_reject_reason", *([CORRUPT] if has_corrupt else []))
    return BronzeSplit(valid, quarantine)


def _is_utf8(spec: SourceSpec) -> bool:
    return spec.encoding.lower().replace("-", "").replace("_", "") == "utf8"


def _raw_bytes(corrupt: Column, spec: SourceSpec) -> Column:
    """The bytes of an unparsed line as delivered: Spark keeps a UTF-8 source's line as its raw bytes;
    another encoding's line was decoded, and encoding it back gives its bytes."""
    return corrupt.cast("binary") if _is_utf8(spec) else F.encode(corrupt, spec.encoding)


def _reject_reason(df: DataFrame, spec: SourceSpec, record_id: Column) -> Column:
    missing_id = F.lit(f"missing record id (column {spec.record_id!r})")
    blank_id = record_id.isNull() | (F.trim(record_id.cast("string")) == "")
    if CORRUPT not in df.columns:
        return F.when(blank_id, missing_id)
    corrupt = F.col(CORRUPT)
    if spec.format == "csv":
        fields = F.size(F.split(corrupt, re.escape(spec.separator)))
        parse_error = F.concat(
            F.lit("malformed csv row: "),
            fields.cast("string"),
            F.lit(f" fields where the header has {len(_payload_columns(df))}, or an unbalanced quote"),
        )
    else:
        parse_error = F.lit("invalid json line")
    if _is_utf8(spec):
        # Binary garbage or another encoding's bytes: say so rather than "invalid json".
        not_text = F.lit(f"line is not {spec.encoding} text (binary data or another encoding)")
        parse_error = F.when(~F.is_valid_utf8(corrupt), not_text).otherwise(parse_error)
    return F.when(corrupt.isNotNull(), parse_error).when(blank_id, missing_id)


def _payload_columns(df: DataFrame) -> list[str]:
    return [c for c in df.columns if c not in (CORRUPT, *METADATA_COLUMNS)]


def validate_mapping(df: DataFrame, spec: SourceSpec, path_hint: str, known: StructType | None = None) -> None:
    """Fail before writing anything when a configured column is absent or not a single value. ``known``: the
    bronze table's columns, for JSON lines, where a key no line of the day's files carries is a null value
    when earlier deliveries had it (an optional key), not a missing column."""
    for key, column in mapped_columns(spec):
        if known is not None and spec.format == "json" and has_column(known, spec, key, column):
            continue
        column_for(df, spec, key, column, path_hint)
