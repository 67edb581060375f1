"""Gold: one golden record per customer, where each value came from, the customer 360 and segments.

Reads ``silver.customer_records``, ``gold.customer_crosswalk`` and the silver interaction tables named in
``conf/sources.yaml``; rules in ``conf/gold.yaml``. Writes:

1. ``gold.customer``: survivorship per attribute, consents (latest statement wins), published with a Delta
   MERGE on ``customer_id``: a customer is rewritten only when its ``content_hash`` changed, new customers
   are inserted, customers no longer in the crosswalk deleted. Change Data Feed is on
   (``delta.enableChangeDataFeed``), so ``table_changes`` shows exactly the customers that changed.
2. ``gold.customer_provenance``: one row per non-null golden value, derived from the same survivors as
   gold.customer, so it always matches the latest golden records.
3. ``gold.customer_360``: per customer as of the run date; overwritten each run (a current-state table;
   its ``run_date`` column says as of when).
4. ``gold.customer_segments``: RFM segment and temperature, one snapshot per run date (``replaceWhere``
   on ``run_date``: re-running a date replaces its snapshot, other dates are kept).

The run date defaults to the latest event date in the silver interaction tables (the synthetic data ends on
2026-10-31), so a re-run on the same data gives the same 360 and segments; give ``--run-date`` to compute
them as of another day (events after it are ignored).

**Daily runs build what changed.** A run that follows a complete one (same configuration and code, the
input versions it read kept in ``ops.run_state``) reads from the change feeds of ``silver.customer_records``,
``gold.customer_crosswalk`` and the interaction tables which customers changed since (:func:`changes_since`):
the survivorship runs on the records of the customers whose records or membership changed, only their rows of
``gold.customer`` are written, and theirs replace their rows of ``gold.customer_provenance`` (one overwrite:
a day's customers are spread over every file); the 360 counts events again for those,
for the customers whose events changed and for those an event entered or left a counted period for as the
run date moved (:func:`spark_lib.gold.refresh_customer_360`); every other customer keeps its counters with
the new date's recency, and the scores are ranked again over all. ``--full`` (or a feed that cannot tell,
the first run, another configuration) builds every customer; both give the same tables.

    rcu gold [--run-date 2026-10-31] [--full]
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
from functools import reduce

from pyspark.sql import DataFrame, SparkSession
from pyspark.sql import functions as F

from jobs.common import (
    JobContext,
    Progress,
    add_common_arguments,
    add_lock_argument,
    latest_event_date,
    parse_date,
    step_fingerprint,
    writing_run,
)
from spark_lib.gold import (
    GoldConfig,
    assign_segments,
    build_customer_360,
    customer_changes,
    customer_provenance,
    golden_records,
    load_gold_config,
    refresh_customer_360,
    survive,
    union_interactions,
    with_customer_id,
)
from spark_lib import tables
from spark_lib.run_state import RunState
from spark_lib.gold.audiences import interaction_tables_of
from spark_lib.schemas import INTERACTIONS


@dataclass
class GoldReport:
    run_date: str = ""
    mode: str = ""      # full: every customer built; incremental: those whose inputs changed since the last run
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
    frames = {name: ctx.lake.read(tables.interactions(name)) for name in interaction_tables_of(ctx.sources)
              if ctx.lake.exists(tables.interactions(name))}
    if not frames:
        frames = {"orders": ctx.spark.createDataFrame([], INTERACTIONS)}
    return union_interactions(frames)


def _same_columns(a: DataFrame, b: DataFrame) -> bool:
    """Same names and types, nullability aside (Delta may read back an array as containing nulls)."""
    def columns(df: DataFrame) -> list[tuple[str, str]]:
        return [(f.name, f.dataType.simpleString()) for f in df.schema.fields]

    return columns(a) == columns(b)


def publish_customers(ctx: JobContext, customers: DataFrame, scope: DataFrame | None = None) -> dict[str, int]:
    """MERGE ``customers`` into ``gold.customer`` on ``customer_id``; returns Delta's operation metrics.

    Matched customers are updated only when their ``content_hash`` differs, new ones inserted, ids no longer
    produced deleted. The MERGE's source holds only those rows (:func:`customer_changes`): Delta rewrites
    every file holding a *matched* row, so matching unchanged customers would copy them all. When nothing
    changed there is nothing to merge and no new version. The first publish writes the table with Change
    Data Feed on; when the columns changed (an attribute added to ``conf/gold.yaml``), every row changes
    anyway and the table is rewritten with the new schema (every customer counted as inserted). ``scope``: a
    daily run's customers (``customers`` holds theirs only), the only ones that can be deleted.
    """
    lake = ctx.lake
    if not lake.exists(tables.CUSTOMER) or not _same_columns(lake.read(tables.CUSTOMER), customers):
        if scope is not None:
            # another configuration or code changes the columns, and then the run builds every customer
            raise RuntimeError(f"a daily run of gold cannot change the columns of {tables.CUSTOMER}: "
                               "run it with --full")
        # the catalogue's gold.customer keeps the change feed: the overwrite and the MERGE below see to it
        lake.overwrite(customers, tables.CUSTOMER)
        rows = lake.last_operation_metrics(tables.CUSTOMER).get("num_output_rows", 0)
        return {"num_target_rows_inserted": rows, "num_target_rows_updated": 0, "num_target_rows_deleted": 0}
    # The changes are computed from the table they are merged into: materialise them first.
    changes = customer_changes(customers, lake.read(tables.CUSTOMER), scope).localCheckpoint()
    if changes.isEmpty():
        # nothing to write: no MERGE, no new version, an empty change feed
        return {"num_target_rows_inserted": 0, "num_target_rows_updated": 0, "num_target_rows_deleted": 0}
    return lake.apply_changes(changes, tables.CUSTOMER, tables.CUSTOMER.keys, deleted="_delete",
                              unchanged_when="t.content_hash <=> s.content_hash")


def publish_provenance(ctx: JobContext, provenance: DataFrame, scope: DataFrame | None) -> int:
    """Write ``provenance`` to ``gold.customer_provenance``: the whole table, or with ``scope`` (a daily run's
    customers, whose rows ``provenance`` holds) in place of those customers' rows. Returns the rows written.

    One overwrite either way: a day's customers are spread over every file of the table, so a MERGE would
    rewrite them all too, after a join to find them."""
    lake, table = ctx.lake, tables.PROVENANCE
    if scope is not None:
        kept = lake.read(table).join(scope.select("customer_id"), "customer_id", "left_anti")
        provenance = kept.unionByName(provenance)
    lake.overwrite(provenance, table)
    return lake.last_operation_metrics(table).get("num_output_rows", 0)


@dataclass(frozen=True)
class Changes:
    """The customers a daily run of gold works on (frames of ``customer_id``, ids of retired customers
    included): ``members``, whose records or membership changed since the last run (their golden record is
    made again); ``active``, those and the customers whose events changed (their 360 is counted again)."""

    members: DataFrame
    active: DataFrame


def changes_since(ctx: JobContext, since: dict[str, int | None], crosswalk: DataFrame,
                  until: dict[str, int | None] | None = None) -> Changes | None:
    """The customers whose records, membership or events changed after the input versions ``since`` (what
    gold last read) and up to ``until`` (the versions this run reads; None: the latest), from the tables'
    change feeds; None when a feed cannot tell (turned on after that version, purged) or the gold tables are
    not all there: then gold builds everything.

    ``crosswalk``: the current one. A record that changed names its customer now; a membership that changed
    names the customer before and after (a merge, a split, a retired id)."""
    lake = ctx.lake
    if not all(lake.exists(t) for t in (tables.CUSTOMER, tables.PROVENANCE, tables.CUSTOMER_360)):
        return None

    def changed(table: tables.Table, column: str) -> DataFrame | None:
        return lake.changes(table, since.get(str(table)), [column], until=(until or {}).get(str(table)))

    records, membership = changed(tables.CUSTOMER_RECORDS, "record_key"), changed(tables.CROSSWALK, "customer_id")
    names = sorted({s.interactions.table for s in ctx.sources.sources if s.interactions is not None})
    events = [changed(t, "record_key") for t in map(tables.interactions, names) if lake.exists(t)]
    if records is None or membership is None or any(e is None for e in events):
        return None
    ids = crosswalk.select("record_key", "customer_id")
    members = (records.select("record_key").join(ids, "record_key").select("customer_id")
               .unionByName(membership.select("customer_id")).distinct().localCheckpoint())
    if not events:
        return Changes(members, members)
    touched = reduce(DataFrame.unionByName, [e.select("record_key") for e in events]).distinct()
    active = (touched.join(ids, "record_key").select("customer_id").unionByName(members)
              .distinct().localCheckpoint())
    return Changes(members, active)


def publish_segments(ctx: JobContext, segments: DataFrame, run_date: dt.date) -> None:
    """Write ``segments`` as the ``run_date`` snapshot of ``gold.customer_segments``, replacing that date's only."""
    if not isinstance(run_date, dt.date):
        raise TypeError(f"'run_date' must be a date, got {type(run_date).__name__}")
    # Delta checks that every written row matches the replaceWhere predicate (and refuses otherwise)
    ctx.lake.replace_where(segments, tables.SEGMENTS, f"run_date = DATE'{run_date.isoformat()}'")


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
    since: dict[str, int | None] | None = None,
    until: dict[str, int | None] | None = None,
) -> GoldReport:
    """Build and publish the gold tables (see the module docstring); returns counts and seconds per stage.

    ``since``: the versions of the input tables the last run read (``spark_lib.run_state``): only the
    customers whose records, membership or events changed after them (up to the versions ``until``, when
    the caller read them) are built again (see :func:`changes_since`); None: every customer."""
    with _methods_hotspot_compiles(ctx.spark):
        return _run(ctx, run_date, progress or Progress("gold"), config, since, until)


def _run(ctx: JobContext, run_date: dt.date | None, progress: Progress, config: GoldConfig | None,
         since: dict[str, int | None] | None, until: dict[str, int | None] | None) -> GoldReport:
    stages = ctx.stages("gold", progress)
    started = time.perf_counter()
    config = config or load_gold_config(ctx.conf_dir / "gold.yaml")
    config.check_sources(ctx.sources.names)
    trust = ctx.sources.trust()
    config.check_trust(trust, ctx.sources.file)
    lake = ctx.lake
    report = GoldReport(seconds=stages.seconds)
    run_time = dt.datetime.now(dt.timezone.utc).replace(microsecond=0, tzinfo=None)

    with stages("read") as stage:
        # Anonymous records (a cookie that never logged in: nothing says whose it is) are no one's golden
        # record: they stay in the crosswalk, out of gold.customer, its 360 and segments.
        records = lake.read(tables.CUSTOMER_RECORDS)
        crosswalk = lake.read(tables.CROSSWALK).where(~F.col("match_rule").eqNullSafe("anonymous"))
        changes = None if since is None else changes_since(ctx, since, crosswalk, until)
        events = interaction_events(ctx)
        if run_date is None:
            run_date = latest_event_date(ctx) or run_time.date()
        report.run_date = run_date.isoformat()
        report.mode = "full" if changes is None else "incremental"
        stage.done(f"inputs read; run date {run_date}; " + (
            "every customer built" if changes is None else
            f"{changes.members.count():,} customers' records or membership and {changes.active.count():,} "
            "customers' records, membership or events changed since the last run"))

    scope = None if changes is None else changes.members
    with stages("survivorship") as stage:
        # Both gold.customer and its provenance are read off the survivors: compute them once.
        members = crosswalk if scope is None else crosswalk.join(scope, "customer_id", "left_semi")
        survivors = survive(with_customer_id(records, members), config.survivorship, trust).localCheckpoint()
        survived = survivors.count()
        stage.done(f"{survived:,} customers")

    with stages("customer") as stage:
        metrics = publish_customers(ctx, golden_records(survivors, config.survivorship, run_time), scope)
        report.inserted = metrics.get("num_target_rows_inserted", 0)
        report.updated = metrics.get("num_target_rows_updated", 0)
        report.deleted = metrics.get("num_target_rows_deleted", 0)
        report.customers = survived if scope is None else lake.read(tables.CUSTOMER).count()
        report.provenance_rows = publish_provenance(ctx, customer_provenance(survivors, config.survivorship), scope)
        stage.done(f"{tables.CUSTOMER}: {report.inserted:,} inserted, {report.updated:,} updated, "
                   f"{report.deleted:,} deleted; {tables.PROVENANCE}: {report.provenance_rows:,} rows")

    with stages("customer_360") as stage:
        customers = (survivors if scope is None else lake.read(tables.CUSTOMER)).select("customer_id")
        previous = None if changes is None else lake.read(tables.CUSTOMER_360)
        previous_date = None if previous is None else previous.agg(F.max("run_date")).first()[0]
        if previous_date is None or previous_date > run_date:
            c360 = build_customer_360(customers, events, crosswalk, run_date, config.customer_360)
        else:
            c360 = refresh_customer_360(previous, customers, events, crosswalk, changes.active, run_date,
                                        previous_date, config.customer_360)
        c360 = c360.localCheckpoint()  # written, then read again by the segments
        lake.overwrite(c360, tables.CUSTOMER_360)
        report.customer_360_rows = c360.count()
        stage.done(f"{report.customer_360_rows:,} customers as of {run_date}")

    with stages("segments") as stage:
        segments = assign_segments(c360, config.rfm_segments, config.temperature).localCheckpoint()
        publish_segments(ctx, segments, run_date)
        counts = segments.groupBy("rfm_segment", "temperature").count().collect()  # a few dozen rows
        for row in counts:
            report.rfm_segments[row["rfm_segment"]] = report.rfm_segments.get(row["rfm_segment"], 0) + row["count"]
            report.temperatures[row["temperature"]] = report.temperatures.get(row["temperature"], 0) + row["count"]
        report.segment_rows = sum(r["count"] for r in counts)
        stage.done(f"snapshot {run_date}: {report.segment_rows:,} customers; temperatures {report.temperatures}")
    report.seconds["total"] = round(time.perf_counter() - started, 2)
    return report


def build_parser(parser: argparse.ArgumentParser | None = None) -> argparse.ArgumentParser:
    parser = parser or argparse.ArgumentParser(prog="rcu gold", description=__doc__)
    add_common_arguments(parser)
    add_lock_argument(parser)
    parser.add_argument(
        "--run-date",
        type=parse_date,
        help="compute the 360 and segments as of this day, YYYY-MM-DD (default: the latest event date in silver)",
    )
    parser.add_argument("--full", action="store_true",
                        help="build every customer, not only those whose inputs changed since the last run")
    return parser


def main(argv: list[str] | None = None) -> GoldReport:
    from jobs.run_all import step_inputs  # run_all imports this module

    args = build_parser().parse_args(argv)
    with writing_run(args, "rcu-gold", "rcu gold", steps=["gold"]) as ctx:
        state, stamp = RunState(ctx.lake), step_fingerprint(ctx, "gold")
        versions = state.versions(step_inputs(ctx, "gold"))
        report = run(ctx, run_date=args.run_date, since=None if args.full else state.consumed("gold", stamp),
                     until=versions)
        state.record("gold", versions, stamp)
    print(json.dumps(asdict(report), indent=2, ensure_ascii=False), file=sys.stdout)
    return report


if __name__ == "__main__":
    main()
