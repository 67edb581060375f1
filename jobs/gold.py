"""Gold: one golden record per customer, where each value came from, the customer 360 and segments.

Reads ``silver.customer_records``, ``gold.customer_crosswalk`` and the silver interaction tables named in
``conf/sources.yaml``; rules in ``conf/gold.yaml``. Writes:

1. ``gold.customer``: survivorship per attribute, consents (latest statement wins), published with a Delta
   MERGE on ``customer_id``: a customer is rewritten only when its ``content_hash`` changed, new customers
   are inserted, customers no longer in the crosswalk deleted. Change Data Feed is on
   (``delta.enableChangeDataFeed``), so ``table_changes`` shows exactly the customers that changed.
2. ``gold.customer_provenance``: one row per non-null golden value; overwritten each run (it is derived
   from the same survivors as gold.customer, so it always matches the latest golden records; earlier
   versions stay readable by Delta time travel).
3. ``gold.customer_360``: per customer as of the run date; overwritten each run (a current-state table;
   its ``run_date`` column says as of when).
4. ``gold.customer_segments``: RFM segment and temperature, one snapshot per run date (``replaceWhere``
   on ``run_date``: re-running a date replaces its snapshot, other dates are kept).

The run date defaults to the latest event date in the silver interaction tables (the synthetic data ends on
2026-10-31), so a re-run on the same data gives the same 360 and segments; give ``--run-date`` to compute
them as of another day (events after it are ignored).

    rcu gold [--run-date 2026-10-31]
    spark-submit --py-files rcu.zip jobs/gold.py --lakehouse /data/lakehouse --conf-dir conf
"""

from __future__ import annotations

import argparse
import datetime as dt
import json
import sys
import time
from contextlib import contextmanager
from dataclasses import asdict, dataclass, field

from pyspark.sql import DataFrame, SparkSession
from pyspark.sql import functions as F

from jobs.common import JobContext, Progress, add_common_arguments, build_context, record_seconds
from spark_lib.gold import (
    GoldConfig,
    assign_segments,
    build_customer_360,
    customer_changes,
    customer_provenance,
    default_run_date,
    golden_records,
    load_gold_config,
    survive,
    union_interactions,
    with_customer_id,
)
from spark_lib.schemas import INTERACTIONS

RECORDS = "silver.customer_records"
CROSSWALK = "gold.customer_crosswalk"
CUSTOMER = "gold.customer"
PROVENANCE = "gold.customer_provenance"
CUSTOMER_360 = "gold.customer_360"
SEGMENTS = "gold.customer_segments"

CDF_PROPERTY = "delta.enableChangeDataFeed"


@dataclass
class GoldReport:
    run_date: str = ""
    customers: int = 0
    inserted: int = 0
    updated: int = 0
    deleted: int = 0
    provenance_rows: int = 0
    customer_360_rows: int = 0
    segment_rows: int = 0
    rfm_segments: dict = field(default_factory=dict)
    temperatures: dict = field(default_factory=dict)
    seconds: dict = field(default_factory=dict)


def interaction_events(ctx: JobContext) -> DataFrame:
    """Every silver interaction table that ``conf/sources.yaml`` feeds and that exists, as one frame."""
    names = sorted({s.interactions.table for s in ctx.sources.sources if s.interactions is not None})
    frames = {name: ctx.lake.read(f"silver.{name}") for name in names if ctx.lake.exists(f"silver.{name}")}
    if not frames:
        frames = {"orders": ctx.spark.createDataFrame([], INTERACTIONS)}
    return union_interactions(frames)


def _same_columns(a: DataFrame, b: DataFrame) -> bool:
    """Same names and types, nullability aside (Delta may read back an array as containing nulls)."""
    def columns(df: DataFrame) -> list[tuple[str, str]]:
        return [(f.name, f.dataType.simpleString()) for f in df.schema.fields]

    return columns(a) == columns(b)


def _enable_change_data_feed(ctx: JobContext, table: str) -> None:
    properties = ctx.lake.delta_table(table).detail().select("properties").first()["properties"] or {}
    if properties.get(CDF_PROPERTY) != "true":
        ctx.spark.sql(f"ALTER TABLE delta.`{ctx.lake.path(table)}` SET TBLPROPERTIES ({CDF_PROPERTY} = true)")


def _replace_with_change_feed(ctx: JobContext, customers: DataFrame, existed: bool) -> dict[str, int]:
    """Write ``customers`` as the whole of ``gold.customer`` (new schema allowed), Change Data Feed on."""
    (
        customers.write.format("delta").mode("overwrite").option("overwriteSchema", "true")
        .option(CDF_PROPERTY, "true")  # a "delta." option on the write creating a table becomes its property
        .save(ctx.lake.path(CUSTOMER))
    )
    if existed:
        _enable_change_data_feed(ctx, CUSTOMER)
    rows = ctx.lake.last_operation_metrics(CUSTOMER).get("num_output_rows", 0)
    return {"num_target_rows_inserted": rows, "num_target_rows_updated": 0, "num_target_rows_deleted": 0}


def publish_customers(ctx: JobContext, customers: DataFrame) -> dict[str, int]:
    """MERGE ``customers`` into ``gold.customer`` on ``customer_id``; returns Delta's operation metrics.

    Matched customers are updated only when their ``content_hash`` differs, new ones inserted, ids no longer
    produced deleted. The MERGE's source holds only those rows (:func:`customer_changes`): Delta rewrites
    every file holding a *matched* row, so matching unchanged customers would copy them all (16,956 rows
    copied per run on the 10k-person lakehouse). When nothing changed there is nothing to merge and no new
    version. The first publish writes the table with Change Data Feed on; when the columns changed (an
    attribute added to ``conf/gold.yaml``), every row changes anyway and the table is rewritten with the new
    schema (every customer counted as inserted).
    """
    lake = ctx.lake
    existed = lake.exists(CUSTOMER)
    if not existed or not _same_columns(lake.read(CUSTOMER), customers):
        return _replace_with_change_feed(ctx, customers, existed)
    _enable_change_data_feed(ctx, CUSTOMER)
    # The changes are computed from the table they are merged into: materialise them first.
    changes = customer_changes(customers, lake.read(CUSTOMER)).localCheckpoint()
    if changes.isEmpty():
        # nothing to write: no MERGE, no new version, an empty change feed
        return {"num_target_rows_inserted": 0, "num_target_rows_updated": 0, "num_target_rows_deleted": 0}
    values = {c: f"s.`{c}`" for c in customers.columns}
    (
        lake.delta_table(CUSTOMER)
        .alias("t")
        .merge(changes.alias("s"), "t.customer_id = s.customer_id")
        .whenMatchedDelete(condition="s._delete")
        .whenMatchedUpdate(condition="NOT (t.content_hash <=> s.content_hash)", set=values)
        .whenNotMatchedInsert(condition="NOT s._delete", values=values)
        .execute()
    )
    return lake.last_operation_metrics(CUSTOMER)


def publish_segments(ctx: JobContext, segments: DataFrame, run_date: dt.date) -> None:
    """Write ``segments`` as the ``run_date`` snapshot of ``gold.customer_segments``, replacing that date's only."""
    if not isinstance(run_date, dt.date):
        raise TypeError(f"'run_date' must be a date, got {type(run_date).__name__}")
    # Delta checks that every written row matches the replaceWhere predicate (and refuses otherwise)
    ctx.lake.replace_where(segments, SEGMENTS, f"run_date = DATE'{run_date.isoformat()}'")


@contextmanager
def _methods_hotspot_compiles(spark: SparkSession):
    """Run with ``spark.sql.codegen.hugeMethodLimit`` at 8000 bytes, then put the previous value back.

    The survivorship and 360 aggregates generate whole-stage methods above HotSpot's 8000-byte limit, which
    the JIT then never compiles: they run interpreted. At 8000 Spark splits such stages instead, and these
    steps take half the CPU (measured on the 10k-person lakehouse). Restored after the step, so other steps
    of a shared session keep their settings.
    """
    key = "spark.sql.codegen.hugeMethodLimit"
    previous = spark.conf.get(key)
    spark.conf.set(key, "8000")
    try:
        yield
    finally:
        spark.conf.set(key, previous)


def run(
    ctx: JobContext,
    run_date: dt.date | None = None,
    progress: Progress | None = None,
    config: GoldConfig | None = None,
) -> GoldReport:
    """Build and publish the gold tables (see the module docstring); returns counts and seconds per stage."""
    with _methods_hotspot_compiles(ctx.spark):
        return _run(ctx, run_date, progress or Progress("gold"), config)


def _run(ctx: JobContext, run_date: dt.date | None, progress: Progress, config: GoldConfig | None) -> GoldReport:
    started_all = time.perf_counter()
    config = config or load_gold_config(ctx.conf_dir / "gold.yaml")
    config.check_sources(ctx.sources.names)
    lake = ctx.lake
    report = GoldReport()
    run_time = dt.datetime.now(dt.timezone.utc).replace(microsecond=0, tzinfo=None)

    # Anonymous records (a cookie that never logged in: nothing says whose it is) are no one's golden record:
    # they stay in the crosswalk, out of gold.customer, its 360 and segments.
    records, crosswalk = lake.read(RECORDS), lake.read(CROSSWALK).where(~F.col("match_rule").eqNullSafe("anonymous"))
    # The events are read once (the run date and the 360 both scan them); a few columns, ~200k rows at 10k persons.
    events = interaction_events(ctx).localCheckpoint()
    if run_date is None:
        run_date = default_run_date(events).first()["run_date"] or run_time.date()
    report.run_date = run_date.isoformat()
    record_seconds(report.seconds, "read", started_all)
    progress(f"inputs read; run date {run_date}")

    started = time.perf_counter()
    # Both gold.customer and its provenance are read off the survivors: compute them once.
    survivors = survive(with_customer_id(records, crosswalk), config.survivorship).localCheckpoint()
    report.customers = survivors.count()
    record_seconds(report.seconds, "survivorship", started)
    progress(f"survivorship: {report.customers:,} customers")

    started = time.perf_counter()
    metrics = publish_customers(ctx, golden_records(survivors, config.survivorship, run_time))
    report.inserted = metrics.get("num_target_rows_inserted", 0)
    report.updated = metrics.get("num_target_rows_updated", 0)
    report.deleted = metrics.get("num_target_rows_deleted", 0)
    lake.overwrite(customer_provenance(survivors, config.survivorship), PROVENANCE)
    report.provenance_rows = lake.last_operation_metrics(PROVENANCE).get("num_output_rows", 0)
    record_seconds(report.seconds, "customer", started)
    progress(
        f"{CUSTOMER}: {report.inserted:,} inserted, {report.updated:,} updated, {report.deleted:,} deleted; "
        f"{PROVENANCE}: {report.provenance_rows:,} rows"
    )

    started = time.perf_counter()
    c360 = build_customer_360(
        survivors.select("customer_id"), events, crosswalk, run_date, config.customer_360
    ).localCheckpoint()  # written, then read again by the segments
    lake.overwrite(c360, CUSTOMER_360)
    report.customer_360_rows = c360.count()
    record_seconds(report.seconds, "customer_360", started)
    progress(f"{CUSTOMER_360}: {report.customer_360_rows:,} customers as of {run_date}")

    started = time.perf_counter()
    segments = assign_segments(c360, config.rfm_segments, config.temperature).localCheckpoint()
    publish_segments(ctx, segments, run_date)
    counts = segments.groupBy("rfm_segment", "temperature").count().collect()  # a few dozen rows
    for row in counts:
        report.rfm_segments[row["rfm_segment"]] = report.rfm_segments.get(row["rfm_segment"], 0) + row["count"]
        report.temperatures[row["temperature"]] = report.temperatures.get(row["temperature"], 0) + row["count"]
    report.segment_rows = sum(r["count"] for r in counts)
    record_seconds(report.seconds, "segments", started)
    progress(f"{SEGMENTS}: snapshot {run_date}: {report.segment_rows:,} customers; temperatures {report.temperatures}")
    record_seconds(report.seconds, "total", started_all)
    return report


def build_parser(parser: argparse.ArgumentParser | None = None) -> argparse.ArgumentParser:
    parser = parser or argparse.ArgumentParser(prog="rcu gold", description=__doc__)
    add_common_arguments(parser)
    parser.add_argument(
        "--run-date",
        type=dt.date.fromisoformat,
        help="compute the 360 and segments as of this day, YYYY-MM-DD (default: the latest event date in silver)",
    )
    return parser


def main(argv: list[str] | None = None) -> GoldReport:
    args = build_parser().parse_args(argv)
    ctx = build_context(args, "rcu-gold")
    report = run(ctx, run_date=args.run_date)
    print(json.dumps(asdict(report), indent=2, ensure_ascii=False), file=sys.stdout)
    return report


if __name__ == "__main__":
    main()
