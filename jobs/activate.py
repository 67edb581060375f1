"""Activate: trigger audiences and the KPI snapshot of a run date.

1. the events of the interaction tables the audiences use (``conf/sources.yaml`` says which tables sources
   feed), each given its customer through ``gold.customer_crosswalk`` (anonymous events are dropped);
2. every audience of ``conf/audiences.yaml`` evaluated on the run date; eligible customers reached on the
   first channel of the audience's list they consented to and can be reached on (``gold.customer``) ->
   ``gold.audience_members`` (the run date's snapshot is replaced); eligible customers with no such channel
   are counted in the report, not written;
3. the KPIs of the run date (records vs customers, reconciliation, contact data quality, segments,
   audience sizes, records per source) -> ``gold.kpi_snapshots`` (the run date's snapshot is replaced).

The run date defaults to the date of the latest interaction event, as for ``rcu gold`` (so the snapshots
of both steps line up, and a demo on generated data targets the data's own "today").

When no source feeds an interaction table (a retailer's first customer files, ``rcu init``'s proposal),
there is nothing to trigger on: the audiences are skipped, said so, and the KPIs are dated today as gold is.
Asking for an audience by name (``--audience``) still loads ``audiences.yaml`` strictly.

    rcu activate [--run-date 2026-10-31] [--audience abandoned_cart ...] [--audiences conf/audiences.yaml]
    spark-submit --py-files rcu.zip jobs/activate.py --lakehouse /data/lakehouse --conf-dir conf
"""

from __future__ import annotations

import argparse
import datetime as dt
import json
import sys
from dataclasses import dataclass, field

from pyspark.sql import functions as F

from jobs.common import (
    JobContext, Progress, add_common_arguments, add_lock_argument, latest_event_date, parse_date, writing_run,
)
from spark_lib.gold.audiences import (
    customer_events,
    evaluate_audiences,
    interaction_tables_of,
    load_audiences,
    summarise_audiences,
    usable_events,
    with_run_date,
)
from spark_lib.gold.kpis import KPI_TABLES, compute_kpis
from spark_lib.privacy.footprint import objecting_customers
from spark_lib.privacy.identifiers import lakehouse_key
from spark_lib.tables import AUDIENCE_MEMBERS, CROSSWALK, CUSTOMER, KPI_SNAPSHOTS, OBJECTIONS, interactions


@dataclass
class ActivateReport:
    run_date: str = ""
    #: audience -> eligible, members, no_channel (eligible but no consented reachable channel), by_channel
    audiences: dict = field(default_factory=dict)
    members_written: int = 0
    kpis_written: int = 0
    #: tables that were absent: their events or KPIs are missing from this run
    missing_tables: list = field(default_factory=list)
    seconds: dict = field(default_factory=dict)


def _objecting(ctx: JobContext, crosswalk, customers, progress):
    """customer_id of those who objected to marketing (``rcu privacy object``): in no audience, not even
    counted as eligible (None: nobody objected)."""
    if not ctx.lake.exists(OBJECTIONS):
        return None
    objecting = objecting_customers(crosswalk, customers, ctx.lake.read(OBJECTIONS), lakehouse_key(ctx.lake.root))
    objecting = objecting.localCheckpoint()
    progress(f"{objecting.count():,} customer(s) objected to marketing (rcu privacy object): left out of every audience")
    return objecting


def _audiences(ctx: JobContext, stages, report: ActivateReport, crosswalk, customers, run_date, audiences,
               audiences_file) -> dt.date:
    """Evaluate the audiences of ``audiences.yaml`` (or those named) and write their members; the run date."""
    progress = stages.progress
    config = load_audiences(audiences_file or ctx.conf_dir / "audiences.yaml", interaction_tables_of(ctx.sources))
    wanted = audiences or config.names
    for name in wanted:
        config.get(name)  # an unknown audience name is an error before any work
    run_date = run_date or latest_event_date(ctx)
    if run_date is None:
        raise ValueError("activate: no interaction events in the lakehouse to date the run: give --run-date")
    report.run_date = run_date.isoformat()
    progress(f"run date {report.run_date}; audiences: {', '.join(wanted)}")
    lake = ctx.lake
    with stages("audiences"):
        frames = {}
        for table in config.tables():
            df = lake.read_or_none(interactions(table))
            if df is None:
                report.missing_tables.append(interactions(table))
            else:
                frames[table] = df
        if report.missing_tables:
            progress(f"missing interaction tables (their events count as none): {', '.join(report.missing_tables)}")
        if not frames:
            raise ValueError(
                f"activate: none of the interaction tables the audiences use exists ({', '.join(config.tables())})"
            )
        # Every condition of every audience filters these events: keep in memory, once, those the audiences
        # can count on the run date (their kinds, within the furthest look-back).
        objecting = _objecting(ctx, crosswalk, customers, progress)
        events = customer_events(frames, crosswalk, where=usable_events(config, run_date, wanted)).cache()
        eligible = evaluate_audiences(events, customers, config, run_date, wanted)
        if objecting is not None:
            eligible = eligible.join(objecting, "customer_id", "left_anti")
        eligible = eligible.localCheckpoint()
        events.unpersist()
        report.audiences = summarise_audiences(eligible)
        for name in wanted:
            s = report.audiences.setdefault(name, {"eligible": 0, "members": 0, "no_channel": 0, "by_channel": {}})
            channels = ", ".join(f"{c} {n:,}" for c, n in sorted(s["by_channel"].items())) or "none"
            progress(f"{name}: {s['eligible']:,} eligible, {s['members']:,} members ({channels}), "
                     f"{s['no_channel']:,} left out without a consented reachable channel")
        members = with_run_date(eligible.where(F.col("channel").isNotNull()), run_date)
        names = ", ".join(f"'{n}'" for n in wanted)
        lake.replace_where(members, AUDIENCE_MEMBERS, f"run_date = DATE'{run_date.isoformat()}' AND audience IN ({names})")
        report.members_written = sum(s["members"] for s in report.audiences.values())
    return run_date


def run(
    ctx: JobContext,
    run_date: dt.date | None = None,
    audiences: list[str] | None = None,
    audiences_file: str | None = None,
    progress: Progress | None = None,
) -> ActivateReport:
    stages = ctx.stages("activate", progress)
    progress = stages.progress
    lake, report = ctx.lake, ActivateReport(seconds=stages.seconds)
    crosswalk, customers = lake.read(CROSSWALK), lake.read(CUSTOMER)
    if not interaction_tables_of(ctx.sources) and not audiences:
        run_date = run_date or dt.datetime.now(dt.timezone.utc).date()
        report.run_date = run_date.isoformat()
        progress(f"run date {report.run_date}; no source feeds an interaction table: audiences skipped")
    else:
        run_date = _audiences(ctx, stages, report, crosswalk, customers, run_date, audiences, audiences_file)

    with stages("kpis") as stage:
        already_read = {CROSSWALK: crosswalk, CUSTOMER: customers}
        inputs = {t: already_read[t] if t in already_read else lake.read_or_none(t) for t in KPI_TABLES}
        result = compute_kpis(inputs, run_date)
        if result.kpis is not None:
            kpis = result.kpis.localCheckpoint()
            lake.replace_where(kpis, KPI_SNAPSHOTS, f"run_date = DATE'{run_date.isoformat()}'")
            report.kpis_written = kpis.count()
        report.missing_tables += [t for t in result.missing if t not in report.missing_tables]
        stage.done(f"{report.kpis_written:,} rows for {report.run_date} ({', '.join(result.groups)})"
                   + (f"; missing tables: {', '.join(result.missing)}" if result.missing else ""))
    return report


def build_parser(parser: argparse.ArgumentParser | None = None) -> argparse.ArgumentParser:
    parser = parser or argparse.ArgumentParser(prog="rcu activate", description=__doc__)
    add_common_arguments(parser)
    add_lock_argument(parser)
    parser.add_argument("--run-date", type=parse_date, help="date of the snapshot (default: date of the latest event)")
    parser.add_argument("--audience", action="append", dest="audience_names", metavar="NAME",
                        help="evaluate only this audience (repeatable; default: every audience)")
    parser.add_argument("--audiences", dest="audiences_file",
                        help="audiences YAML (default: <conf-dir>/audiences.yaml)")
    return parser


def main(argv: list[str] | None = None) -> ActivateReport:
    args = build_parser().parse_args(argv)
    with writing_run(args, "rcu-activate", "rcu activate", steps=["activate"], audiences_file=args.audiences_file,
                     audience_names=args.audience_names or ()) as ctx:
        report = run(ctx, run_date=args.run_date, audiences=args.audience_names, audiences_file=args.audiences_file)
    print(json.dumps(report.__dict__, indent=2, default=str), file=sys.stdout)
    return report


if __name__ == "__main__":
    main()
