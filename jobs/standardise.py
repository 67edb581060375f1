"""Standardise: conform every bronze source into silver customer records and interaction tables.

Written with Delta MERGE on the record key (and the event key for interactions), so re-runs converge and
unchanged rows are not rewritten.

Incremental: a run takes only the bronze batches added since the last run that ended under the same
configuration and code (``ops.run_state``, :func:`new_rows`): a day's new files, not the whole history. A
record whose rows are folded across batches (``records_repeat``: a cookie over page views) is recomputed
from all its rows; the records a ``snapshot`` source (a daily full extract) delivers as it did the day before are
not standardised again. ``--full`` (and a changed configuration or code) takes every bronze row again. The
records the sources deleted leave silver in the MERGE that writes the day's records.

    spark-submit --py-files rcu.zip jobs/standardise.py --lakehouse /data/lakehouse
    rcu standardise
"""

from __future__ import annotations

import argparse
from collections import defaultdict
from dataclasses import asdict, dataclass
from functools import reduce

from pyspark.sql import DataFrame

from pyspark.sql import functions as F

from jobs.common import (
    JobContext,
    Progress,
    add_common_arguments,
    add_lock_argument,
    run_concurrently,
    step_fingerprint,
    writing_run,
)
from spark_lib import silver, tables
from spark_lib.config import SourceSpec
from spark_lib.deletions import SNAPSHOT_MIN_SHARE, listed_deletions, snapshot_deletions
from spark_lib.run_state import RunState
from spark_lib.sources.readers import column_for



@dataclass(frozen=True)
class StandardiseReport:
    table: str
    rows: int
    inserted: int
    updated: int


def _union(frames: list[DataFrame]) -> DataFrame:
    return reduce(lambda a, b: a.unionByName(b), frames)


def new_rows(ctx: JobContext, spec: SourceSpec, bronze: DataFrame,
             since: int | None) -> tuple[DataFrame, DataFrame, int | None]:
    """(identity rows, event rows, new batches) of ``bronze`` not standardised yet: the rows of the batches
    added after version ``since`` of the table (None: every row, and None batches). The identity rows of a
    ``records_repeat`` source are all the rows of the records those batches touch: a record folds its rows;
    those of a ``snapshot`` source leave out the records delivered as in the delivery before
    (:func:`spark_lib.silver.changed_since_delivery`)."""
    if since is None:
        return bronze, bronze, None
    batches = _batches_since(ctx, spec, bronze, since)
    if batches is None:
        return bronze, bronze, None
    added = bronze.where(F.col("_batch_id").isin(batches))
    if spec.delivery == "snapshot" and batches and not spec.records_repeat:
        before, records = _delivery_before(bronze, batches), ctx.lake.read_or_none(tables.CUSTOMER_RECORDS)
        if before is None or records is None:
            return added, added, len(batches)
        held = records.where(F.col("source") == spec.name).select("source_record_id")
        return silver.changed_since_delivery(added, before, held, spec), added, len(batches)
    if not spec.records_repeat or not batches:
        return added, added, len(batches)
    keyed = bronze.withColumn("_record_id", column_for(bronze, spec, "record_id", spec.record_id, spec.path))
    touched = keyed.where(F.col("_batch_id").isin(batches)).select(F.col("_record_id").alias("_touched")).distinct()
    identity = keyed.join(touched, F.col("_record_id").eqNullSafe(F.col("_touched")), "left_semi").drop("_record_id")
    return identity, added, len(batches)


def _delivery_before(bronze: DataFrame, batches: list[str]) -> DataFrame | None:
    """The rows of the latest ingest batch of ``bronze`` before ``batches`` (a snapshot source's previous
    delivery), or None when there is none."""
    latest = (bronze.where(~F.col("_batch_id").isin(batches))
              .agg(F.max_by("_batch_id", F.struct("_ingested_at", "_batch_id")).alias("batch")).first())
    if latest is None or latest.batch is None:
        return None
    return bronze.where(F.col("_batch_id") == latest.batch)


def _batches_since(ctx: JobContext, spec: SourceSpec, bronze: DataFrame, since: int) -> list[str] | None:
    """The ingest batches added to the source's bronze table after version ``since``: noted in the commits
    after it (ingest notes its batch id), else the batch ids of the rows now less those of version ``since``
    (a table written before batches were noted: two scans); None when that version is gone (vacuumed)."""
    table = tables.bronze(spec.name)
    noted = ctx.lake.committed_notes(table, since)
    if noted is not None:
        return sorted(noted)
    try:
        before = ctx.spark.read.format("delta").option("versionAsOf", since).load(ctx.lake.path(table))
        known = {r[0] for r in before.select("_batch_id").distinct().collect()}
    except Exception:  # noqa: BLE001 - that version was vacuumed away: take everything again
        return None
    return sorted({r[0] for r in bronze.select("_batch_id").distinct().collect()} - known)


def run(ctx: JobContext, progress: Progress | None = None,
        since: dict[str, int | None] | None = None) -> list[StandardiseReport]:
    """Standardise the bronze rows added after the versions ``since`` (by bronze table; None: every row)."""
    progress = progress or Progress("standardise")
    records: list[tuple[DataFrame, SourceSpec]] = []
    events: dict[str, list[DataFrame]] = defaultdict(list)
    fresh: set[str] = set()     # the sources with new rows
    for spec in ctx.sources.sources:
        name = tables.bronze(spec.name)
        bronze = ctx.lake.read_or_none(name)
        if bronze is None:
            progress(f"{spec.name}: no bronze table yet, skipped (run `rcu ingest` first)")
            continue
        identity, added, batches = new_rows(ctx, spec, bronze, (since or {}).get(str(name)))
        if batches != 0:
            fresh.add(spec.name)
        if batches == 0:
            progress(f"{spec.name}: nothing new since the last run")
            continue
        progress(f"{spec.name}: {'every row' if batches is None else f'{batches} new batch(es)'}")
        if spec.identity:
            records.append((identity, spec))
        if spec.interactions:
            events[spec.interactions.table].append(silver.interactions(added, spec))

    targets = [(tables.CUSTOMER_RECORDS, silver.sources_customer_records(records, ctx.pipeline.default_region),
                len(records))] if records else []
    targets += [(tables.interactions(name), _union(frames), len(frames)) for name, frames in sorted(events.items())]

    snapshots = [s for s in ctx.sources.sources if s.delivery == "snapshot" and (since is None or s.name in fresh)]

    def task(number: int, table: tables.Table, data: DataFrame, sources: int):
        def publish() -> StandardiseReport:
            progress(f"table {number}/{len(targets)}: {table} from {sources} source(s)")
            # Compare everything but the ingestion lineage: a re-delivered identical row is not a change.
            source = data
            compare = [c for c in source.columns if c not in ("ingested_at", "source_file")]
            doomed = None
            if table == tables.CUSTOMER_RECORDS:
                # Read twice, by the deletions' lookup and by the MERGE, and their standardisation cannot be cut
                # to the lookup's columns (pandas functions return whole rows): computed once (a 100k-person day's
                # `rcu standardise`: 109.8 s when computed twice, 94.7 s).
                source = source.localCheckpoint()
                # The records the sources deleted leave silver in the same MERGE as the day's records enter it.
                doomed = deleted_records(ctx, progress, snapshots, arriving=source)
            metrics = ctx.lake.merge(source, table, keys=table.keys, compare_columns=compare, delete=doomed)
            rows = ctx.lake.read(table).count()
            report = StandardiseReport(
                table, rows, metrics.get("num_target_rows_inserted", 0), metrics.get("num_target_rows_updated", 0)
            )
            progress(f"{table}: {rows:,} rows ({report.inserted:,} inserted, {report.updated:,} updated)")
            if doomed is not None:
                _report_removed(progress, doomed)
            return report

        return publish

    # Each task writes its own table: they can run side by side (see jobs.common.run_concurrently).
    reports = run_concurrently(
        [task(n, *target) for n, target in enumerate(targets, start=1)], ctx.pipeline.concurrent_tables
    )
    if not records:
        # no record arrived: the deletion lists and snapshots may still remove some
        remove_deleted_records(ctx, progress, snapshots)
    return reports


def remove_deleted_records(ctx: JobContext, progress: Progress, snapshots: list[SourceSpec]) -> int:
    """Remove from silver the records their sources deleted (:func:`deleted_records`); returns how many left."""
    lake = ctx.lake
    doomed = deleted_records(ctx, progress, snapshots)
    if doomed is None:
        return 0
    lake.delete_keys(doomed, tables.CUSTOMER_RECORDS, ["record_key"])
    return _report_removed(progress, doomed)


def _report_removed(progress: Progress, doomed: DataFrame) -> int:
    rows = doomed.groupBy("how").count().orderBy("how").collect()
    count = sum(r["count"] for r in rows)
    if count:
        by_how = ", ".join(f"{r['count']:,} by {r.how.replace('_', ' ')}" for r in rows)
        progress(f"{tables.CUSTOMER_RECORDS}: {count:,} record(s) deleted at their source removed ({by_how}; "
                 f"see {tables.DELETED_RECORDS})")
    return count


def deleted_records(ctx: JobContext, progress: Progress, snapshots: list[SourceSpec],
                    arriving: DataFrame | None = None) -> DataFrame | None:
    """The silver records their sources deleted (:mod:`spark_lib.deletions`): named by a deletion list, or
    missing from the latest delivery of a ``snapshot`` source in ``snapshots``. Each is logged in
    ``silver.deleted_records`` (once: a run started again logs nothing twice); returns them materialised
    (``silver.deleted_records`` rows without the time), or None when none is.

    ``arriving``: the records about to be merged into silver: looked up with those silver holds (the run's
    deletions are then written by the same MERGE)."""
    lake = ctx.lake
    records = lake.read_or_none(tables.CUSTOMER_RECORDS)
    if arriving is not None:
        lookup = ["record_key", "source", "source_record_id", "record_time", "ingested_at"]
        held = None if records is None else records.select(*lookup).join(arriving.select("record_key"), "record_key", "left_anti")
        records = arriving.select(*lookup) if held is None else held.unionByName(arriving.select(*lookup))
    if records is None:
        return None
    found = []
    if lake.exists(tables.DELETIONS):
        found.append(listed_deletions(records, lake.read(tables.DELETIONS)))
    for spec in snapshots:
        bronze = lake.read_or_none(tables.bronze(spec.name))
        if bronze is None:
            continue
        snapshot = snapshot_deletions(records, bronze, spec)
        if snapshot.truncated:
            progress(f"{spec.name}: its latest full delivery holds {snapshot.delivered:,} records, fewer than "
                     f"{SNAPSHOT_MIN_SHARE:.0%} of the {snapshot.held:,} of the one before: taken for a truncated "
                     "extract, nothing deleted on its account")
        found.append(snapshot.rows)
    if not found:
        return None
    doomed = reduce(DataFrame.unionByName, found).dropDuplicates(["record_key"]).localCheckpoint()
    if doomed.isEmpty():
        return None
    lake.append_new(doomed.withColumn("removed_at", F.current_timestamp()), tables.DELETED_RECORDS,
                    keys=tables.DELETED_RECORDS.keys)
    return doomed


def build_parser(parser: argparse.ArgumentParser | None = None) -> argparse.ArgumentParser:
    parser = parser or argparse.ArgumentParser(prog="rcu standardise", description=__doc__)
    add_common_arguments(parser)
    add_lock_argument(parser)
    parser.add_argument("--full", action="store_true", help="take every bronze row again, not only the new batches")
    return parser


def main(argv: list[str] | None = None) -> list[StandardiseReport]:
    args = build_parser().parse_args(argv)
    with writing_run(args, "rcu-standardise", "rcu standardise", steps=["standardise"]) as ctx:
        state, stamp = RunState(ctx.lake), step_fingerprint(ctx, "standardise")
        inputs = [str(tables.bronze(spec.name)) for spec in ctx.sources.sources]
        versions = state.versions(inputs)
        reports = run(ctx, since=None if args.full else state.consumed("standardise", stamp))
        state.record("standardise", versions, stamp)
    for report in reports:
        print(asdict(report))
    return reports


if __name__ == "__main__":
    main()
