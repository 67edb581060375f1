"""Dashboard: one self-contained HTML page of the customer reference's KPIs, from the gold tables that exist.

Reads ``gold.customer_crosswalk``, ``silver.customer_records``, ``gold.customer``, ``gold.customer_segments``,
``gold.audience_members`` and ``gold.kpi_snapshots`` (each optional: a missing table is named on the page and
in the report, and the charts that need it say so) and writes one HTML file with Plotly's JavaScript inlined:
it opens from disk, offline, with no server. Prints the file's path.

    rcu dashboard [--output reports/dashboard.html] [--run-date 2026-10-31]
    spark-submit --py-files rcu.zip jobs/dashboard.py --lakehouse /data/lakehouse --output /data/reports/dashboard.html
"""

from __future__ import annotations

import argparse
import datetime as dt
import sys
from dataclasses import dataclass, field
from pathlib import Path

from jobs.common import JobContext, Progress, add_common_arguments, build_context, parse_date
from spark_lib.config import ConfigError
from spark_lib.gold.audiences import interaction_tables_of, load_audiences
from spark_lib.gold.dashboard import DASHBOARD_TABLES, collect_dashboard_data, render_dashboard


@dataclass
class DashboardReport:
    path: str = ""
    run_date: str = ""
    missing_tables: list = field(default_factory=list)
    charts: int = 0
    bytes: int = 0
    seconds: float = 0.0


def default_output(lakehouse_root: str) -> Path:
    """``<lakehouse>/../reports/dashboard.html``: beside the lakehouse, not inside it."""
    if "://" in lakehouse_root and not lakehouse_root.startswith("file:"):
        raise ValueError(f"the lakehouse {lakehouse_root} is not a local folder: give --output")
    root = Path(lakehouse_root.removeprefix("file://").removeprefix("file:"))
    return root.resolve().parent / "reports" / "dashboard.html"


def run(ctx: JobContext, output: str | None = None, run_date: dt.date | None = None,
        progress: Progress | None = None) -> DashboardReport:
    progress = progress or Progress("dashboard")
    path = Path(output) if output else default_output(ctx.lake.root)
    tables = {table: ctx.lake.read_or_none(table) for table in DASHBOARD_TABLES}
    try:
        config = load_audiences(ctx.conf_dir / "audiences.yaml", interaction_tables_of(ctx.sources))
        descriptions = {a.name: a.description for a in config.audiences}
    except ConfigError:
        descriptions = {}  # descriptions only label the audience bars: the page is still worth writing
    data = collect_dashboard_data(tables, lakehouse=ctx.lake.root, run_date=run_date,
                                  audience_descriptions=descriptions)
    if data.missing:
        progress(f"missing tables (their charts say so): {', '.join(data.missing)}")
    page = render_dashboard(data)
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(page, encoding="utf-8")
    report = DashboardReport(
        path=str(path),
        run_date=data.run_date,
        missing_tables=data.missing,
        charts=page.count('data-status="plot"'),
        bytes=len(page.encode("utf-8")),
        seconds=round(progress.seconds, 1),
    )
    progress(f"{report.charts} charts for {report.run_date} -> {path} ({report.bytes / 1e6:.1f} MB)")
    return report


def build_parser(parser: argparse.ArgumentParser | None = None) -> argparse.ArgumentParser:
    parser = parser or argparse.ArgumentParser(prog="rcu dashboard", description=__doc__)
    add_common_arguments(parser)
    parser.add_argument("--output", help="HTML file to write (default: <lakehouse>/../reports/dashboard.html)")
    parser.add_argument("--run-date", type=parse_date,
                        help="run date of the current figures (default: the latest snapshot's)")
    return parser


def main(argv: list[str] | None = None) -> str:
    args = build_parser().parse_args(argv)
    ctx = build_context(args, "rcu-dashboard")
    report = run(ctx, output=args.output, run_date=args.run_date)
    print(report.path, file=sys.stdout)
    return report.path


if __name__ == "__main__":
    main()
