"""Ingest: land each source's new raw files in its bronze Delta table; malformed rows go to quarantine.

Append-only and idempotent: a file whose content was already ingested (same SHA-256) is skipped, and a
batch replaces its own files' rows atomically, so a run interrupted half-way converges when re-run.

    spark-submit --py-files rcu.zip jobs/ingest.py --lakehouse /data/lakehouse --raw-dir /data/raw
    rcu ingest [--source loyalty_members ...]
"""

from __future__ import annotations

import argparse
import uuid
from dataclasses import asdict, dataclass, field
from functools import reduce

from pyspark import StorageLevel
from pyspark.sql import DataFrame
from pyspark.sql import functions as F

from jobs.common import JobContext, Progress, add_common_arguments, add_lock_argument, run_concurrently, writing_run
from spark_lib import tables
from spark_lib.config import SourceSpec
from spark_lib.schemas import INGESTION_LOG
from spark_lib.sources.bronze import split_malformed, validate_mapping, with_ingestion_metadata
from spark_lib.sources.readers import file_fingerprint, list_files, read_raw



@dataclass(frozen=True)
class IngestReport:
    source: str
    files_found: int
    files_ingested: int
    rows_read: int
    rows_bronze: int
    rows_quarantined: int


def ingested_hashes(ctx: JobContext) -> dict[str, set[str]]:
    """The content hashes already ingested, by source (one read of the log for the whole run)."""
    log = ctx.lake.read_or_none(tables.INGESTION_LOG)
    if log is None:
        return {}
    seen: dict[str, set[str]] = {}
    for row in log.select("source", "file_hash").distinct().collect():
        seen.setdefault(row.source, set()).add(row.file_hash)
    return seen


@dataclass
class _Landed:
    """One source's batch once its bronze rows are written: what remains to record in the shared tables."""

    report: IngestReport
    hashes: tuple[str, ...] = ()
    quarantine: DataFrame | None = None      # checkpointed: small, and independent of the raw files
    log_rows: list = field(default_factory=list)


def ingest_source(ctx: JobContext, spec: SourceSpec, batch_id: str, progress: Progress, seen: set[str]) -> _Landed:
    """Land one source's new files in ``bronze.<source>``; its quarantine and log rows are returned, not written
    (several sources land at the same time, and one writer per shared table avoids commit conflicts)."""
    files = list_files(spec, ctx.raw_dir)
    if not files:
        progress(f"{spec.name}: no file matches {spec.glob(ctx.raw_dir)}")
        return _Landed(IngestReport(spec.name, 0, 0, 0, 0, 0))
    new: dict[str, str] = {}
    for path in files:
        digest = file_fingerprint(path)
        if digest not in seen and digest not in new.values():
            new[path] = digest
    if not new:
        progress(f"{spec.name}: {len(files)} file(s), all already ingested")
        return _Landed(IngestReport(spec.name, len(files), 0, 0, 0, 0))

    spark = ctx.spark
    raw = read_raw(spark, spec, list(new))
    validate_mapping(raw, spec, path_hint=", ".join(new))
    hashes = spark.createDataFrame(list(new.items()), "path string, file_hash string")
    landed = with_ingestion_metadata(raw, spec.name, hashes, batch_id)
    # Read once, written to bronze, counted and split: keep it rather than re-parse the files.
    landed = landed.persist(StorageLevel.MEMORY_AND_DISK)
    split = split_malformed(landed, spec)
    in_batch = ", ".join(f"'{h}'" for h in new.values())
    ctx.lake.replace_where(split.valid, tables.bronze(spec.name), f"_file_hash IN ({in_batch})")
    quarantine = split.quarantine.localCheckpoint()
    per_file = (
        landed.groupBy("_source_file", "_file_hash")
        .agg(F.count(F.lit(1)).alias("rows_read"))
        .join(
            quarantine.groupBy(F.col("file_hash").alias("_file_hash")).agg(F.count(F.lit(1)).alias("rows_quarantined")),
            "_file_hash",
            "left",
        )
        .select(
            F.lit(spec.name).alias("source"),
            F.col("_source_file").alias("file_path"),
            F.col("_file_hash").alias("file_hash"),
            F.col("rows_read"),
            (F.col("rows_read") - F.coalesce("rows_quarantined", F.lit(0))).alias("rows_bronze"),
            F.coalesce("rows_quarantined", F.lit(0)).alias("rows_quarantined"),
            F.lit(batch_id).alias("batch_id"),
        )
    )
    counts = per_file.collect()
    landed.unpersist()
    report = IngestReport(
        spec.name,
        len(files),
        len(new),
        sum(r.rows_read for r in counts),
        sum(r.rows_bronze for r in counts),
        sum(r.rows_quarantined for r in counts),
    )
    progress(
        f"{spec.name}: {report.files_ingested}/{report.files_found} new file(s), {report.rows_read:,} rows read, "
        f"{report.rows_bronze:,} to bronze, {report.rows_quarantined:,} quarantined"
    )
    return _Landed(report, tuple(new.values()), quarantine, counts)


def run(ctx: JobContext, only: list[str] | None = None, progress: Progress | None = None) -> list[IngestReport]:
    """Ingest every configured source (or ``only`` these), ``pipeline.concurrent_tables`` at a time.

    Each source's bronze rows are committed as soon as it is read; the batch's quarantine rows and log rows
    are committed once at the end. A run interrupted before the end wrote no log row, so the next run takes
    the same files again and its ``replaceWhere`` on their hashes converges to one copy of each row.
    """
    progress = progress or Progress("ingest")
    specs = [ctx.sources.get(name) for name in only] if only else list(ctx.sources.sources)
    batch_id = uuid.uuid4().hex[:12]
    seen = ingested_hashes(ctx)

    def task(number: int, spec: SourceSpec):
        def ingest() -> _Landed:
            progress(f"source {number}/{len(specs)}: {spec.name}")
            return ingest_source(ctx, spec, batch_id, progress, seen.get(spec.name, set()))

        return ingest

    landed = run_concurrently([task(n, spec) for n, spec in enumerate(specs, start=1)], ctx.pipeline.concurrent_tables)
    batches = [b for b in landed if b.hashes]
    if batches:
        quarantine = reduce(DataFrame.unionByName, [b.quarantine for b in batches])
        batch_filter = " OR ".join(
            f"(source = '{b.report.source}' AND file_hash IN ({', '.join(repr(h) for h in b.hashes)}))" for b in batches
        )
        ctx.lake.replace_where(quarantine, tables.QUARANTINE, batch_filter)
        rows = [row for b in batches for row in b.log_rows]
        log = ctx.spark.createDataFrame(rows, INGESTION_LOG).withColumn("ingested_at", F.current_timestamp())
        ctx.lake.append(log, tables.INGESTION_LOG)
    return [b.report for b in landed]


def build_parser(parser: argparse.ArgumentParser | None = None) -> argparse.ArgumentParser:
    parser = parser or argparse.ArgumentParser(prog="rcu ingest", description=__doc__)
    add_common_arguments(parser)
    add_lock_argument(parser)
    parser.add_argument("--source", action="append", dest="only", help="ingest only this source (repeatable)")
    return parser


def main(argv: list[str] | None = None) -> list[IngestReport]:
    args = build_parser().parse_args(argv)
    with writing_run(args, "rcu-ingest", "rcu ingest", steps=["ingest"]) as ctx:
        reports = run(ctx, args.only)
    for report in reports:
        print(asdict(report))
    return reports


if __name__ == "__main__":
    main()
