"""Bronze: each source lands as delivered, plus ingestion metadata; malformed rows go to quarantine.

Nothing is dropped: every row read is either a bronze row or a quarantine row with its reason.
"""

from __future__ import annotations

import re
from typing import NamedTuple

from pyspark.sql import Column, DataFrame
from pyspark.sql import functions as F

from spark_lib.config import SourceSpec
from spark_lib.sources.readers import CORRUPT, column_for

METADATA_COLUMNS = ("_source", "_source_file", "_file_hash", "_batch_id", "_ingested_at")

QUARANTINE_COLUMNS = ("source", "source_file", "file_hash", "reason", "raw_record", "batch_id", "ingested_at")


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
    payload = [c for c in df.columns if c not in (CORRUPT, *METADATA_COLUMNS)]
    raw_record = (
        F.coalesce(F.col(CORRUPT), F.to_json(F.struct(*[F.col(f"`{c}`") for c in payload])))
        if CORRUPT in df.columns
        else F.to_json(F.struct(*[F.col(f"`{c}`") for c in payload]))
    )
    quarantine = flagged.where(F.col("_reject_reason").isNotNull()).select(
        F.col("_source").alias("source"),
        F.col("_source_file").alias("source_file"),
        F.col("_file_hash").alias("file_hash"),
        F.col("_reject_reason").alias("reason"),
        raw_record.alias("raw_record"),
        F.col("_batch_id").alias("batch_id"),
        F.col("_ingested_at").alias("ingested_at"),
    )
    valid = flagged.where(F.col("_reject_reason").isNull()).drop("_reject_reason", *([CORRUPT] if CORRUPT in df.columns else []))
    return BronzeSplit(valid, quarantine)


def _reject_reason(df: DataFrame, spec: SourceSpec, record_id: Column) -> Column:
    missing_id = F.lit(f"missing record id (column {spec.record_id!r})")
    blank_id = record_id.isNull() | (F.trim(record_id.cast("string")) == "")
    if CORRUPT not in df.columns:
        return F.when(blank_id, missing_id)
    if spec.format == "csv":
        fields = F.size(F.split(F.col(CORRUPT), re.escape(spec.separator)))
        parse_error = F.concat(
            F.lit("malformed csv row: "),
            fields.cast("string"),
            F.lit(f" fields where the header has {len(_payload_columns(df))}, or an unbalanced quote"),
        )
    else:
        parse_error = F.lit("invalid json line")
    return F.when(F.col(CORRUPT).isNotNull(), parse_error).when(blank_id, missing_id)


def _payload_columns(df: DataFrame) -> list[str]:
    return [c for c in df.columns if c not in (CORRUPT, *METADATA_COLUMNS)]


def validate_mapping(df: DataFrame, spec: SourceSpec, path_hint: str) -> None:
    """Fail before writing anything when a configured column is absent or not a single value."""
    column_for(df, spec, "record_id", spec.record_id, path_hint)
    for canonical, column in spec.identity.items():
        column_for(df, spec, f"identity.{canonical}", column, path_hint)
    if spec.interactions:
        for canonical, column in spec.interactions.fields.items():
            column_for(df, spec, f"interactions.fields.{canonical}", column, path_hint)
