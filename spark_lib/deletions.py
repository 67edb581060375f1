"""Records the sources deleted: which silver records go, and why.

A source says it deleted a record in one of two ways (``conf/sources.yaml``):

* a **deletion list** (``deletions:``): CSV files naming the deleted records' ids, with a deletion date and a
  reason when the source gives them. Ingest lands their lines in ``bronze.deletions``
  (:func:`read_deletion_list`); a record named there leaves silver unless it changed after its deletion (its
  ``record_time`` after the deletion date, or, without dates, delivered again after the list): a closed
  account re-opened later stays;
* a **full snapshot** (``delivery: snapshot``): every delivery (the files of one ingest batch) holds every
  record the source has, so a record missing from a later delivery was deleted. A delivery holding fewer
  than :data:`SNAPSHOT_MIN_SHARE` of the records of the complete delivery before it looks truncated: it
  deletes nothing, and the run says so.

Standardisation removes them from ``silver.customer_records`` and logs each in ``silver.deleted_records``
(record, source, how, the file that said so, the deletion date and reason). Past orders, receipts and
events of a deleted record stay: they happened. Matching then takes the record out of its customer, and
retires a customer whose last record goes.
"""

from __future__ import annotations

from dataclasses import dataclass

from pyspark.sql import DataFrame
from pyspark.sql import functions as F

from spark_lib.config import DeletionSpec, SourceSpec
from spark_lib.sources.readers import column_for

#: a snapshot delivery holding fewer records than this share of the complete delivery before it is taken for a
#: truncated extract: it deletes nothing
SNAPSHOT_MIN_SHARE = 0.5


def read_deletion_list(raw: DataFrame, spec: SourceSpec) -> DataFrame:
    """A deletion list's rows (read as strings) as ``bronze.deletions`` rows, without the lineage columns.

    Raises ``KeyError`` naming the missing column when the file lacks one the spec names."""
    listed: DeletionSpec = spec.deletions
    for column in (listed.record_id, listed.deleted_at, listed.reason):
        if column and column not in raw.columns:
            raise KeyError(f"column {column!r} (sources.{spec.name}.deletions) is not in the file "
                           f"(columns: {', '.join(raw.columns)})")
    date = F.coalesce(F.to_date(F.trim(F.col(listed.deleted_at)), "yyyy-MM-dd"),
                      F.to_date(F.trim(F.col(listed.deleted_at)), "dd/MM/yyyy")) if listed.deleted_at else F.lit(None)
    return raw.select(
        F.lit(spec.name).alias("source"),
        F.trim(F.col(listed.record_id)).alias("record_id"),
        date.cast("date").alias("deleted_at"),
        (F.col(listed.reason) if listed.reason else F.lit(None)).cast("string").alias("reason"),
    ).where(F.col("record_id").isNotNull() & (F.col("record_id") != ""))


def listed_deletions(records: DataFrame, deletions: DataFrame) -> DataFrame:
    """The silver ``records`` a deletion list names and that did not change after it (module docstring), as
    ``silver.deleted_records`` rows (how ``deletion_list``)."""
    named = deletions.select(
        "source", F.col("record_id").alias("source_record_id"), "deleted_at", "reason",
        F.col("_source_file").alias("file"), F.col("_ingested_at").alias("listed_at"),
    )
    joined = records.select("record_key", "source", "source_record_id", "record_time", "ingested_at").join(
        F.broadcast(named), ["source", "source_record_id"])
    changed_after = F.when(
        F.col("record_time").isNotNull() & F.col("deleted_at").isNotNull(),
        F.to_date("record_time") > F.col("deleted_at"),
    ).otherwise(F.col("ingested_at") > F.col("listed_at"))
    latest = joined.where(~changed_after).groupBy("record_key").agg(
        F.max_by(F.struct("source", "source_record_id", "file", "deleted_at", "reason"), "listed_at").alias("d"))
    return latest.select("record_key", "d.source", "d.source_record_id", F.lit("deletion_list").alias("how"),
                         "d.file", "d.deleted_at", "d.reason")


@dataclass(frozen=True)
class SnapshotDeletions:
    """What a snapshot source's deliveries say was deleted."""

    #: ``silver.deleted_records`` rows (how ``snapshot``)
    rows: DataFrame
    #: records in the latest delivery, and in the latest complete one before it (equal when it is complete)
    delivered: int
    held: int

    @property
    def truncated(self) -> bool:
        """The latest delivery looks truncated: it deleted nothing."""
        return self.delivered < self.held


def snapshot_deletions(records: DataFrame, bronze: DataFrame, spec: SourceSpec) -> SnapshotDeletions:
    """The silver ``records`` of snapshot source ``spec`` missing from its latest complete delivery (a
    delivery is the rows of one ingest batch in ``bronze``; one holding fewer than :data:`SNAPSHOT_MIN_SHARE`
    of the records of the complete delivery before it is truncated and deletes nothing): the records whose
    id was last delivered before it. Replaying the deliveries gives the same answer whether silver is built
    day by day or in one full run."""
    ids = bronze.select("_batch_id", "_ingested_at", "_source_file",
                        column_for(bronze, spec, "record_id", spec.record_id, spec.path).cast("string").alias("id"))
    ids = ids.where(F.col("id").isNotNull())
    batches = ids.groupBy("_batch_id").agg(F.max("_ingested_at").alias("at"), F.countDistinct("id").alias("n"),
                                           F.concat_ws(", ", F.sort_array(F.collect_set("_source_file"))).alias("files"))
    complete = None
    for batch in batches.orderBy("at", "_batch_id").collect():
        if complete is None or batch.n >= SNAPSHOT_MIN_SHARE * complete.n:
            complete = batch
        latest = batch
    if complete is None:
        return SnapshotDeletions(records.limit(0).select(*_empty_columns()), 0, 0)
    last_seen = ids.groupBy("id").agg(F.max("_ingested_at").alias("last_seen"))
    gone = last_seen.where(F.col("last_seen") < F.lit(complete.at)).select("id")
    missing = records.where(F.col("source") == spec.name).join(
        gone, F.col("source_record_id") == F.col("id"), "left_semi").where(F.col("ingested_at") <= F.lit(complete.at))
    rows = missing.select("record_key", "source", "source_record_id", F.lit("snapshot").alias("how"),
                          F.lit(complete.files).alias("file"), F.to_date(F.lit(complete.at)).alias("deleted_at"),
                          F.lit("missing from a later full delivery").alias("reason"))
    return SnapshotDeletions(rows, latest.n, complete.n if latest is not complete else latest.n)


def _empty_columns():
    return [F.col("record_key"), F.col("source"), F.col("source_record_id"), F.lit("snapshot").alias("how"),
            F.lit(None).cast("string").alias("file"), F.lit(None).cast("date").alias("deleted_at"),
            F.lit(None).cast("string").alias("reason")]
