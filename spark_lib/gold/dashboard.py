"""The RCU dashboard: one self-contained HTML file (Plotly's JavaScript inlined, no server, no network).

:func:`collect_dashboard_data` turns the gold tables that exist into small Python figures (a few
aggregations, collected); :func:`render_dashboard` turns those into HTML. Neither does I/O: ``jobs/dashboard.py``
reads the tables and writes the file.

What it shows: KPI tiles (customers, records, duplicate and reconciliation rates, contact data quality,
audience members); duplicate rate and reconciliation over run dates (``gold.kpi_snapshots``); records and
customers over run dates; contact data quality; RFM segments and temperatures (latest snapshot) and the
temperatures over run dates; audience sizes by channel; how records were matched (crosswalk match rules);
the cluster-size distribution (records per customer); records per source; the online/offline mix.
A chart whose table is missing is replaced by a note naming the table and the step that writes it.

Example::

    data = collect_dashboard_data({t: lake.read_or_none(t) for t in DASHBOARD_TABLES}, lakehouse="lakehouse")
    Path("reports/dashboard.html").write_text(render_dashboard(data), encoding="utf-8")
"""

from __future__ import annotations

import datetime as dt
import html
from dataclasses import dataclass, field
from typing import Any, Mapping

from pyspark.sql import DataFrame
from pyspark.sql import functions as F

from spark_lib.gold.kpis import KPI_DEFINITIONS, TEMPERATURES, compute_kpis
from spark_lib.tables import AUDIENCE_MEMBERS, CROSSWALK, CUSTOMER, KPI_SNAPSHOTS, SEGMENTS
from spark_lib.tables import CUSTOMER_RECORDS as RECORDS


#: Every table the dashboard reads (each optional).
DASHBOARD_TABLES: tuple[str, ...] = (CROSSWALK, RECORDS, CUSTOMER, SEGMENTS, AUDIENCE_MEMBERS, KPI_SNAPSHOTS)

#: The step that writes each table, for the "missing table" notes.
WRITTEN_BY: dict[str, str] = {
    CROSSWALK: "rcu match",
    RECORDS: "rcu standardise",
    CUSTOMER: "rcu gold",
    SEGMENTS: "rcu gold",
    AUDIENCE_MEMBERS: "rcu activate",
    KPI_SNAPSHOTS: "rcu activate",
}

#: Cold to hot, as the temperature bars are coloured.
TEMPERATURE_COLOURS = {
    "glacé": "#3b6fb6", "froid": "#7fb3e0", "tiède": "#f2c14e", "chaud": "#f08a3c", "brûlant": "#d7301f",
}
CHANNEL_COLOURS = {"email": "#4c78a8", "sms": "#59a14f", "postal": "#e15759"}


@dataclass
class DashboardData:
    """Everything the page shows, as plain Python values (small: aggregates only)."""

    lakehouse: str
    generated_at: str
    #: the run date the current figures are for (the latest snapshot's, else today), ISO format
    run_date: str
    missing: list[str]
    #: (kpi, dimension) -> value, for ``run_date``, computed from the tables as they are now
    current: dict[tuple[str, str], float] = field(default_factory=dict)
    #: run_date (ISO) -> {(kpi, dimension): value}, from gold.kpi_snapshots
    history: dict[str, dict[tuple[str, str], float]] = field(default_factory=dict)
    #: (records per customer, customers), ascending
    cluster_sizes: list[tuple[int, int]] = field(default_factory=list)
    #: audience -> description (from the audiences configuration, when given)
    audience_descriptions: dict[str, str] = field(default_factory=dict)


def _latest_run_date(tables: Mapping[str, DataFrame | None]) -> dt.date | None:
    dates = []
    for name in (KPI_SNAPSHOTS, AUDIENCE_MEMBERS, SEGMENTS):
        df = tables.get(name)
        if df is not None:
            dates.append(df.agg(F.max("run_date")).first()[0])
    dates = [d for d in dates if d is not None]
    return max(dates) if dates else None


def collect_dashboard_data(
    tables: Mapping[str, DataFrame | None],
    lakehouse: str = "",
    run_date: dt.date | None = None,
    audience_descriptions: Mapping[str, str] | None = None,
) -> DashboardData:
    """The dashboard's figures from whichever of :data:`DASHBOARD_TABLES` are given (None: the table is absent).

    ``run_date`` defaults to the latest run date of the snapshot tables (KPIs, audiences, segments), else today.
    """
    missing = sorted(t for t in DASHBOARD_TABLES if tables.get(t) is None)
    run_date = run_date or _latest_run_date(tables) or dt.date.today()
    data = DashboardData(
        lakehouse=lakehouse,
        generated_at=dt.datetime.now().strftime("%Y-%m-%d %H:%M"),
        run_date=run_date.isoformat(),
        missing=missing,
        audience_descriptions=dict(audience_descriptions or {}),
    )
    current = compute_kpis(tables, run_date)
    if current.kpis is not None:
        data.current = {(r.kpi, r.dimension): r.value for r in current.kpis.collect()}
    snapshots = tables.get(KPI_SNAPSHOTS)
    if snapshots is not None:
        for r in snapshots.collect():
            data.history.setdefault(r.run_date.isoformat(), {})[(r.kpi, r.dimension)] = r.value
        data.history = dict(sorted(data.history.items()))
    crosswalk = tables.get(CROSSWALK)
    if crosswalk is not None:
        sizes = crosswalk.groupBy("customer_id").count().groupBy(F.col("count").alias("size")).count()
        data.cluster_sizes = sorted((int(r["size"]), int(r["count"])) for r in sizes.collect())
    return data


# --------------------------------------------------------------------------------------------------
# Rendering
# --------------------------------------------------------------------------------------------------


@dataclass
class Chart:
    key: str
    title: str
    description: str
    #: a Plotly figure, or None with ``missing`` saying why
    figure: Any = None
    missing: str = ""


def _dimension(values: Mapping[tuple[str, str], float], kpi: str) -> dict[str, float]:
    return {d: v for (k, d), v in values.items() if k == kpi}


def _needs(data: DashboardData, *tables: str) -> str:
    absent = [t for t in tables if t in data.missing]
    if not absent:
        return ""
    return "No data: " + "; ".join(f"{t} is missing (written by `{WRITTEN_BY[t]}`)" for t in absent)


def _layout(fig, **kwargs):
    fig.update_layout(
        template="plotly_white",
        margin=dict(l=10, r=20, t=10, b=40),
        legend=dict(orientation="h", y=-0.2),
        font=dict(family="system-ui, -apple-system, Segoe UI, Roboto, sans-serif", size=12),
        **kwargs,
    )
    # Long category labels (match rules, audience names) get the room they need rather than being cut.
    return fig.update_xaxes(automargin=True).update_yaxes(automargin=True)


def _bar(labels, values, colours=None, percent=False, horizontal=False, labelled=True):
    import plotly.graph_objects as go

    text = [f"{v:.1%}" if percent else f"{v:,.0f}" for v in values] if labelled else None
    bar = go.Bar(
        x=values if horizontal else labels,
        y=labels if horizontal else values,
        orientation="h" if horizontal else "v",
        marker_color=colours,
        text=text,
        textposition="auto",
    )
    fig = _layout(go.Figure(bar), showlegend=False)
    axis = dict(tickformat=".0%", range=[0, 1]) if percent else {}
    if horizontal:
        fig.update_xaxes(**axis).update_yaxes(autorange="reversed")  # largest first, at the top
    else:
        fig.update_yaxes(**axis)
    return fig


def build_charts(data: DashboardData) -> list[Chart]:
    """The dashboard's charts, in page order; a chart without data carries the reason instead of a figure."""
    import plotly.graph_objects as go

    charts: list[Chart] = []
    history = data.history
    dates = list(history)

    chart = Chart("quality_over_time", "Duplicate rate and reconciliation over run dates",
                  "Duplicate rate = 1 - golden customers / identified records (anonymous records left out). "
                  "Reconciliation = share of golden customers with both online and offline records.")
    chart.missing = _needs(data, KPI_SNAPSHOTS)
    if not chart.missing:
        fig = go.Figure()
        lines = (("duplicate_rate", "duplicate rate"), ("reconciliation_rate", "online/offline reconciliation"))
        for kpi, label in lines:
            fig.add_trace(go.Scatter(x=dates, y=[history[d].get((kpi, "all")) for d in dates], mode="lines+markers",
                                     name=label))
        chart.figure = _layout(fig, yaxis=dict(tickformat=".0%", rangemode="tozero"), xaxis=dict(type="category"))
    charts.append(chart)

    chart = Chart("volumes_over_time", "Source records and customers over run dates",
                  "Identity records matched, and the customers they make.")
    chart.missing = _needs(data, KPI_SNAPSHOTS)
    if not chart.missing:
        fig = go.Figure()
        for kpi, label in (("source_records", "source records"), ("customers", "customers")):
            fig.add_trace(go.Bar(x=dates, y=[history[d].get((kpi, "all")) for d in dates], name=label))
        chart.figure = _layout(fig, barmode="group", xaxis=dict(type="category"))
    charts.append(chart)

    chart = Chart("contact_quality", "Contact data quality",
                  "Share of golden records holding a valid email, a mobile phone, a full postal address; and share "
                  "that may be contacted (consent and a value) on each channel.")
    chart.missing = _needs(data, CUSTOMER)
    if not chart.missing:
        reach = _dimension(data.current, "reachable_share")
        contact = _dimension(data.current, "contactable_share")
        fig = go.Figure()
        labels = ["valid email", "mobile", "full address"]
        fig.add_trace(go.Bar(x=labels, y=[reach.get(k) for k in ("valid_email", "mobile", "full_address")],
                             name="holds the value"))
        fig.add_trace(go.Bar(x=labels, y=[contact.get(k) for k in ("email", "sms", "postal")],
                             name="consented and reachable"))
        chart.figure = _layout(fig, barmode="group", yaxis=dict(tickformat=".0%", range=[0, 1]))
    charts.append(chart)

    chart = Chart("rfm_segments", f"RFM segments ({data.run_date})", "Customers per RFM segment, latest snapshot.")
    chart.missing = _needs(data, SEGMENTS)
    segments = _dimension(data.current, "customers_by_rfm_segment")
    if not chart.missing:
        ordered = sorted(segments.items(), key=lambda kv: -kv[1])
        chart.figure = _bar([k for k, _ in ordered], [v for _, v in ordered], horizontal=True)
    charts.append(chart)

    chart = Chart("temperatures", f"Temperature ({data.run_date})",
                  "Customers per engagement temperature, from glacé (no activity for a year) to brûlant.")
    chart.missing = _needs(data, SEGMENTS)
    if not chart.missing:
        temperatures = _dimension(data.current, "customers_by_temperature")
        labels = [t for t in TEMPERATURES if t in temperatures] + sorted(set(temperatures) - set(TEMPERATURES))
        chart.figure = _bar(labels, [temperatures[t] for t in labels],
                            colours=[TEMPERATURE_COLOURS.get(t, "#999999") for t in labels])
    charts.append(chart)

    chart = Chart("temperatures_over_time", "Temperature over run dates",
                  "Customers per temperature at each KPI snapshot.")
    chart.missing = _needs(data, KPI_SNAPSHOTS)
    if not chart.missing and not any(k == "customers_by_temperature" for d in dates for k, _ in history[d]):
        chart.missing = "No data: the KPI snapshots hold no temperatures yet (gold.customer_segments was missing)"
    if not chart.missing:
        fig = go.Figure()
        for t in TEMPERATURES:
            fig.add_trace(go.Bar(x=dates, y=[history[d].get(("customers_by_temperature", t), 0) for d in dates], name=t,
                                 marker_color=TEMPERATURE_COLOURS[t]))
        chart.figure = _layout(fig, barmode="stack", xaxis=dict(type="category"))
    charts.append(chart)

    chart = Chart("audiences", f"Trigger audiences ({data.run_date})",
                  "Members of each audience by the channel they will be contacted on.")
    chart.missing = _needs(data, AUDIENCE_MEMBERS)
    if not chart.missing:
        sizes = _dimension(data.current, "audience_members")
        by_channel = _dimension(data.current, "audience_members_by_channel")
        names = sorted(sizes, key=lambda a: -sizes[a])
        if not names:
            chart.missing = f"No audience members on {data.run_date}"
        else:
            fig = go.Figure()
            for channel, colour in CHANNEL_COLOURS.items():
                fig.add_trace(go.Bar(y=names, x=[by_channel.get(f"{a}/{channel}", 0) for a in names], name=channel,
                                     orientation="h", marker_color=colour,
                                     hovertext=[data.audience_descriptions.get(a, a) for a in names]))
            chart.figure = _layout(fig, barmode="stack", yaxis=dict(autorange="reversed"))
    charts.append(chart)

    chart = Chart("match_rules", "How records were matched",
                  "Crosswalk records by the rule that attached them to their customer.")
    chart.missing = _needs(data, CROSSWALK)
    if not chart.missing:
        rules = sorted(_dimension(data.current, "records_by_match_rule").items(), key=lambda kv: -kv[1])
        chart.figure = _bar([k for k, _ in rules], [v for _, v in rules], horizontal=True)
    charts.append(chart)

    chart = Chart("cluster_sizes", "Cluster sizes", "Customers by the number of source records they gather.")
    chart.missing = _needs(data, CROSSWALK)
    if not chart.missing:
        # Long-tailed (thousands of singletons, a few large clusters): a log scale shows both ends.
        fig = _bar([str(s) for s, _ in data.cluster_sizes], [n for _, n in data.cluster_sizes], labelled=False)
        chart.figure = fig.update_xaxes(title="records per customer", type="category").update_yaxes(
            title="customers", type="log")
    charts.append(chart)

    chart = Chart("sources", "Records per source", "Identity records each source contributes.")
    chart.missing = _needs(data, RECORDS) if CROSSWALK in data.missing else ""
    if not chart.missing:
        sources = sorted(_dimension(data.current, "records_by_source").items(), key=lambda kv: -kv[1])
        chart.figure = _bar([k for k, _ in sources], [v for _, v in sources], horizontal=True)
    charts.append(chart)

    chart = Chart("channel_mix", "Online / offline mix", "Customers by the channels their records come from.")
    chart.missing = _needs(data, CROSSWALK)
    if not chart.missing:
        mix = _dimension(data.current, "customers_by_channel_mix")
        labels = ["online_only", "offline_only", "online_and_offline"]
        chart.figure = _layout(go.Figure(go.Pie(labels=[label.replace("_", " ") for label in labels],
                                                values=[mix.get(k, 0) for k in labels], hole=0.5)))
    charts.append(chart)
    return charts


def _tiles(data: DashboardData) -> list[tuple[str, str]]:
    value = lambda kpi, dim="all": data.current.get((kpi, dim))  # noqa: E731

    def number(v):
        return "–" if v is None else f"{v:,.0f}".replace(",", "\u202f")

    def percent(v):
        return "–" if v is None else f"{v:.1%}"

    members = _dimension(data.current, "audience_members")
    return [
        ("Customers", number(value("customers"))),
        ("Source records", number(value("source_records"))),
        ("Anonymous records", number(value("anonymous_records"))),
        ("Duplicate rate", percent(value("duplicate_rate"))),
        ("Customers with duplicates", percent(value("customers_with_duplicates"))),
        ("Online/offline reconciliation", percent(value("reconciliation_rate"))),
        ("Valid email", percent(value("reachable_share", "valid_email"))),
        ("Mobile phone", percent(value("reachable_share", "mobile"))),
        ("Full address", percent(value("reachable_share", "full_address"))),
        ("Audience members", number(sum(members.values())) if members else "–"),
    ]


_STYLE = """
:root { --ink: #1f2933; --muted: #616e7c; --line: #e4e7eb; --bg: #f5f7fa; --accent: #2f6fb3; }
* { box-sizing: border-box; }
body { margin: 0; background: var(--bg); color: var(--ink);
       font-family: system-ui, -apple-system, "Segoe UI", Roboto, sans-serif; }
header { background: #fff; border-bottom: 1px solid var(--line); padding: 18px 28px; }
header h1 { margin: 0 0 4px; font-size: 22px; }
header p { margin: 0; color: var(--muted); font-size: 13px; }
main { padding: 20px 28px 40px; }
.missing { background: #fff4e5; border: 1px solid #f5c98b; border-radius: 8px; padding: 10px 14px; margin-bottom: 18px;
           font-size: 14px; }
.tiles { display: grid; grid-template-columns: repeat(auto-fill, minmax(170px, 1fr)); gap: 12px; margin-bottom: 20px; }
.tile { background: #fff; border: 1px solid var(--line); border-radius: 8px; padding: 12px 14px; }
.tile .label { color: var(--muted); font-size: 12px; text-transform: uppercase; letter-spacing: .04em; }
.tile .value { font-size: 26px; font-weight: 600; margin-top: 4px; color: var(--accent); }
.charts { display: grid; grid-template-columns: repeat(auto-fill, minmax(460px, 1fr)); gap: 16px; }
.card { background: #fff; border: 1px solid var(--line); border-radius: 8px; padding: 14px 16px; }
#kpi-definitions { margin-top: 20px; }
#kpi-definitions table { border-collapse: collapse; font-size: 13px; }
#kpi-definitions td, #kpi-definitions th { text-align: left; padding: 4px 10px; border-bottom: 1px solid var(--line); }
.card h2 { font-size: 15px; margin: 0 0 2px; }
.card p.description { color: var(--muted); font-size: 12px; margin: 0 0 8px; min-height: 30px; }
.card .plot { height: 340px; }
.card .empty { height: 340px; display: flex; align-items: center; justify-content: center; text-align: center;
               color: var(--muted); font-size: 13px; border: 1px dashed var(--line); border-radius: 6px;
               padding: 20px; }
footer { color: var(--muted); font-size: 12px; padding: 0 28px 24px; }
"""


def render_dashboard(data: DashboardData) -> str:
    """The whole page: one HTML document with Plotly's JavaScript inlined (about 5 MB; opens offline)."""
    import plotly.io as pio
    from plotly.offline import get_plotlyjs

    e = html.escape
    parts = []
    for chart in build_charts(data):
        head = f'<h2>{e(chart.title)}</h2><p class="description">{e(chart.description)}</p>'
        if chart.figure is None:
            parts.append(f'<section class="card" data-chart="{chart.key}" data-status="missing">{head}'
                         f'<div class="empty">{e(chart.missing)}</div></section>')
            continue
        div = pio.to_html(chart.figure, full_html=False, include_plotlyjs=False, div_id=f"chart-{chart.key}",
                          default_height="340px", config={"displaylogo": False, "responsive": True})
        parts.append(f'<section class="card" data-chart="{chart.key}" data-status="plot">{head}'
                     f'<div class="plot">{div}</div></section>')
    tiles = "".join(f'<div class="tile"><div class="label">{e(label)}</div><div class="value">{e(value)}</div></div>'
                    for label, value in _tiles(data))
    definitions = "".join(f"<tr><td><code>{e(kpi)}</code></td><td>{e(dimensions)}</td><td>{e(meaning)}</td></tr>"
                          for kpi, (dimensions, meaning) in KPI_DEFINITIONS.items())
    missing = ""
    if data.missing:
        items = ", ".join(f"<code>{e(t)}</code> (<code>{e(WRITTEN_BY[t])}</code>)" for t in data.missing)
        missing = f'<div class="missing" id="missing-tables"><strong>Missing tables:</strong> {items}. ' \
                  "The charts that need them say so.</div>"
    return f"""<!DOCTYPE html>
<html lang="en">
<head>
<meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<title>RCU dashboard – {e(data.run_date)}</title>
<style>{_STYLE}</style>
<script>{get_plotlyjs()}</script>
</head>
<body>
<header>
<h1>Référentiel client unique — dashboard</h1>
<p>Run date <strong>{e(data.run_date)}</strong> · lakehouse <code>{e(data.lakehouse)}</code>
 · generated {e(data.generated_at)} · {len(data.history)} KPI snapshot(s)</p>
</header>
<main>
{missing}
<div class="tiles">{tiles}</div>
<div class="charts">
{''.join(parts)}
</div>
<section class="card" id="kpi-definitions"><h2>What each figure counts</h2>
<table><thead><tr><th>KPI</th><th>dimensions</th><th>definition</th></tr></thead><tbody>{definitions}</tbody></table>
</section>
</main>
<footer>Self-contained page: every script is inlined, nothing is fetched from the network.</footer>
</body>
</html>
"""
