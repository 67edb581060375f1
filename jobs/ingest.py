"""Ingest: land each source's new raw files in its bronze Delta table; malformed rows go to quarantine.

Append-only and idempotent: a file whose content was already ingested (same SHA-256) is skipped, and a
batch replaces its own files' rows atomically, so a run interrupted half-way converges when re-run.

    spark-submit --py-files rcu.zip jobs/ingest.py --lakehouse /data/lakehouse --raw-dir /data/raw
    rcu ingest [--source loyalty_members ...]
"""

from __future__ import annotations

import argparse
import uuid
from dataclasses import asdict, dataclass

from pyspark import StorageLevel
from pyspark.sql import functions as F

from jobs.common import JobContext, Progress, add_common_arguments, build_context
from spark_lib.config import SourceSpec
from spark_lib.sources.bronze import split_malformed, validate_mapping, with_ingestion_metadata
from spark_lib.sources.readers import file_fingerprint, list_files, read_raw

LOG_TABLE = "bronze.ingestion_log"
QUARANTINE_TABLE = "bronze.quarantine"


@dataclass(frozen=True)
class IngestReport:
    source: str
    files_found: int
    files_ingested: int
    rows_read: int
    rows_bronze: int
    rows_quarantined: int


def bronze_table(source: str) -> str:
    return f"bronze.{source}"


def ingested_hashes(ctx: JobContext, source: str) -> set[str]:
    log = ctx.lake.read_or_none(LOG_TABLE)
    if log is None:
        return set()
    return {r.file_hash for r in log.where(F.col("source") == source).select("file_hash").distinct().collect()}


def ingest_source(ctx: JobContext, spec: SourceSpec, batch_id: str, progress: Progress) -> IngestReport:
    files = list_files(spec, ctx.raw_dir)
    if not files:
        progress(f"{spec.name}: no file matches {spec.glob(ctx.raw_dir)}")
        return IngestReport(spec.name, 0, 0, 0, 0, 0)
    seen = ingested_hashes(ctx, spec.name)
    new: dict[str, str] = {}
    for path in files:
        digest = file_fingerprint(path)
        if digest not in seen and digest not in new.values():
            new[path] = digest
    if not new:
        progress(f"{spec.name}: {len(files)} file(s), all already ingested")
        return IngestReport(spec.name, len(files), 0, 0, 0, 0)

    spark = ctx.spark
    raw = read_raw(spark, spec, list(new))
    validate_mapping(raw, spec, path_hint=", ".join(new))
    hashes = spark.createDataFrame(list(new.items()), "path string, file_hash string")
    landed = with_ingestion_metadata(raw, spec.name, hashes, batch_id)
    # Read once, written twice (bronze and quarantine) and counted: keep it rather than re-parse the files.
    landed = landed.persist(StorageLevel.MEMORY_AND_DISK)
    split = split_malformed(landed, spec)
    in_batch = ", ".join(f"'{h}'" for h in new.values())
    ctx.lake.replace_where(split.valid, bronze_table(spec.name), f"_file_hash IN ({in_batch})")
    ctx.lake.replace_where(
        split.quarantine, QUARANTINE_TABLE, f"source = '{spec.name}' AND file_hash IN ({in_batch})"
    )
    per_file = (
        landed.groupBy("_source_file", "_file_hash")
        .agg(F.count(F.lit(1)).alias("rows_read"))
        .join(
            split.quarantine.groupBy(F.col("file_hash").alias("_file_hash")).agg(
                F.count(F.lit(1)).alias("rows_quarantined")
            ),
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
            F.current_timestamp().alias("ingested_at"),
        )
    )
    counts = per_file.collect()
    ctx.lake.append(spark.createDataFrame(counts, per_file.schema), LOG_TABLE)
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
    return report


def run(ctx: JobContext, only: list[str] | None = None, progress: Progress | None = None) -> list[IngestReport]:
    progress = progress or Progress("ingest")
    specs = [ctx.sources.get(name) for name in only] if only else list(ctx.sources.sources)
    batch_id = uuid.uuid4().hex[:12]
    reports = []
    for number, spec in enumerate(specs, start=1):
        progress(f"source {number}/{len(specs)}: {spec.name}")
        reports.append(ingest_source(ctx, spec, batch_id, progress))
    return reports


def build_parser(parser: argparse.ArgumentParser | None = None) -> argparse.ArgumentParser:
    parser = parser or argparse.ArgumentParser(prog="rcu ingest", description=__doc__)
    add_common_arguments(parser)
    parser.add_argument("--source", action="append", dest="only", help="ingest only this source (repeatable)")
    return parser


def main(argv: list[str] | None = None) -> list[IngestReport]:
    args = build_parser().parse_args(argv)
    ctx = build_context(args, "rcu-ingest")
    reports = run(ctx, args.only)
    for report in reports:
        print(asdict(report))
    return reports


if __name__ == "__main__":
    main()
