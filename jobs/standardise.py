"""Standardise: conform every bronze source into silver customer records and interaction tables.

Written with Delta MERGE on the record key (and the event key for interactions), so re-runs converge and
unchanged rows are not rewritten.

    spark-submit --py-files rcu.zip jobs/standardise.py --lakehouse /data/lakehouse
    rcu standardise
"""

from __future__ import annotations

import argparse
from collections import defaultdict
from dataclasses import asdict, dataclass
from functools import reduce

from pyspark.sql import DataFrame

from jobs.common import JobContext, Progress, add_common_arguments, add_lock_argument, run_concurrently, writing_run
from spark_lib import silver, tables



@dataclass(frozen=True)
class StandardiseReport:
    table: str
    rows: int
    inserted: int
    updated: int


def _union(frames: list[DataFrame]) -> DataFrame:
    return reduce(lambda a, b: a.unionByName(b), frames)


def run(ctx: JobContext, progress: Progress | None = None) -> list[StandardiseReport]:
    progress = progress or Progress("standardise")
    records: list[DataFrame] = []
    events: dict[str, list[DataFrame]] = defaultdict(list)
    for spec in ctx.sources.sources:
        bronze = ctx.lake.read_or_none(tables.bronze(spec.name))
        if bronze is None:
            progress(f"{spec.name}: no bronze table yet, skipped (run `rcu ingest` first)")
            continue
        if spec.identity:
            records.append(silver.customer_records(bronze, spec, ctx.pipeline.default_region))
        if spec.interactions:
            events[spec.interactions.table].append(silver.interactions(bronze, spec))

    targets = [(tables.CUSTOMER_RECORDS, records)] + [
        (tables.interactions(name), frames) for name, frames in sorted(events.items())
    ]
    targets = [t for t in targets if t[1]]

    def task(number: int, table: tables.Table, frames: list[DataFrame]):
        def publish() -> StandardiseReport:
            progress(f"table {number}/{len(targets)}: {table} from {len(frames)} source(s)")
            # Compare everything but the ingestion lineage: a re-delivered identical row is not a change.
            data = _union(frames)
            compare = [c for c in data.columns if c not in ("ingested_at", "source_file")]
            metrics = ctx.lake.merge(data, table, keys=table.keys, compare_columns=compare)
            rows = ctx.lake.read(table).count()
            report = StandardiseReport(
                table, rows, metrics.get("num_target_rows_inserted", 0), metrics.get("num_target_rows_updated", 0)
            )
            progress(f"{table}: {rows:,} rows ({report.inserted:,} inserted, {report.updated:,} updated)")
            return report

        return publish

    # Each task writes its own table: they can run side by side (see jobs.common.run_concurrently).
    return run_concurrently(
        [task(n, *target) for n, target in enumerate(targets, start=1)], ctx.pipeline.concurrent_tables
    )


def build_parser(parser: argparse.ArgumentParser | None = None) -> argparse.ArgumentParser:
    parser = parser or argparse.ArgumentParser(prog="rcu standardise", description=__doc__)
    add_common_arguments(parser)
    add_lock_argument(parser)
    return parser


def main(argv: list[str] | None = None) -> list[StandardiseReport]:
    args = build_parser().parse_args(argv)
    with writing_run(args, "rcu-standardise", "rcu standardise", steps=["standardise"]) as ctx:
        reports = run(ctx)
    for report in reports:
        print(asdict(report))
    return reports


if __name__ == "__main__":
    main()
