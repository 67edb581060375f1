"""The dashboard: one self-contained HTML file whose every chart renders in a real (headless) Chromium.

Chromium comes from Debian (``apt-get install -y chromium``, done by ``make setup``); Playwright drives it
through ``executable_path``, so no browser is ever downloaded. ``RCU_CHROMIUM`` points at another binary.
Without Chromium the tests fail, saying how to install it: they never skip silently.
"""

from __future__ import annotations

from pathlib import Path

import pytest

from jobs import dashboard
from spark_lib import tables as catalogue
from spark_lib.gold.dashboard import DASHBOARD_TABLES, collect_dashboard_data, render_dashboard
from tests.gold_tables import activated_lakehouse, crosswalk

ALL_CHARTS = 11


def open_page(browser, path: Path) -> dict:
    """Load ``path``; return what rendered: plot sections, rendered Plotly SVGs, errors, network requests."""
    page = browser.new_page(viewport={"width": 1400, "height": 1000})
    errors, requests = [], []
    page.on("pageerror", lambda error: errors.append(str(error)))
    page.on("console", lambda message: errors.append(message.text) if message.type == "error" else None)
    page.on("request", lambda request: requests.append(request.url))
    page.goto(path.resolve().as_uri(), wait_until="load")
    expected = page.locator('section[data-status="plot"]').count()
    # Plotly draws asynchronously: wait until every plot section holds a drawn SVG with marks in it.
    page.wait_for_function(
        "n => document.querySelectorAll('section[data-status=plot] .js-plotly-plot .main-svg .plot path,"
        " section[data-status=plot] .js-plotly-plot .main-svg .pielayer path').length > 0 && "
        "Array.from(document.querySelectorAll('section[data-status=plot]')).every("
        "s => s.querySelector('.js-plotly-plot .main-svg') !== null)",
        arg=expected, timeout=30_000,
    )
    result = {
        "plot_sections": expected,
        "missing_sections": page.locator('section[data-status="missing"]').count(),
        "rendered": page.evaluate(
            "() => Array.from(document.querySelectorAll('section[data-status=plot]')).filter("
            "s => s.querySelectorAll('.js-plotly-plot .main-svg').length > 0 && "
            "s.querySelectorAll('.main-svg .trace, .main-svg .slice').length > 0).map(s => s.dataset.chart)"
        ),
        "tiles": page.locator(".tile .value").all_inner_texts(),
        "definitions": page.locator("#kpi-definitions tbody tr").count(),
        "missing_banner": page.locator("#missing-tables").all_inner_texts(),
        "errors": errors,
        "remote_requests": [u for u in requests if not u.startswith(("file:", "data:", "blob:", "about:"))],
    }
    page.close()
    return result


@pytest.fixture(scope="module")
def full_page(spark, tmp_root):
    ctx, _ = activated_lakehouse(spark, tmp_root)
    path = dashboard.main(["--lakehouse", ctx.lake.root])
    return Path(path)


def test_job_writes_one_file_beside_the_lakehouse_and_returns_its_path(full_page, tmp_root):
    assert full_page == (tmp_root / "reports" / "dashboard.html").resolve()
    text = full_page.read_text(encoding="utf-8")
    assert "<script src=" not in text and "<link " not in text  # every script and style inlined
    assert text.count('data-status="plot"') == ALL_CHARTS


def test_every_chart_renders_in_headless_chromium_without_errors_or_network(browser, full_page):
    result = open_page(browser, full_page)

    assert result["errors"] == []
    assert result["remote_requests"] == []
    assert result["plot_sections"] == ALL_CHARTS and result["missing_sections"] == 0
    assert sorted(result["rendered"]) == sorted([
        "quality_over_time", "volumes_over_time", "contact_quality", "rfm_segments", "temperatures",
        "temperatures_over_time", "audiences", "match_rules", "cluster_sizes", "sources", "channel_mix",
    ])
    # 19 customers of 5 records each, no anonymous record (duplicate rate 1 - 19/95, every customer has
    # duplicates); October's audiences: 4 + 1 + 1 + 1 members
    assert result["tiles"][:5] == ["19", "95", "0", "80.0%", "100.0%"] and result["tiles"][-1] == "7"
    assert result["definitions"] >= 10
    assert result["missing_banner"] == []


def test_a_partial_lakehouse_names_its_missing_tables_and_still_renders_what_it_has(spark, browser, tmp_path):
    tables = {table: None for table in DASHBOARD_TABLES}
    tables[catalogue.CROSSWALK] = crosswalk(spark, {"web_events:w1": "A", "crm_customers:c1": "A", "crm_customers:c2": "B"})
    path = tmp_path / "partial.html"
    path.write_text(render_dashboard(collect_dashboard_data(tables, lakehouse="partial")), encoding="utf-8")

    result = open_page(browser, path)

    assert result["errors"] == [] and result["remote_requests"] == []
    assert sorted(result["rendered"]) == ["channel_mix", "cluster_sizes", "match_rules", "sources"]
    assert result["missing_sections"] == ALL_CHARTS - 4
    banner = result["missing_banner"][0]
    for table in (catalogue.CUSTOMER, catalogue.SEGMENTS, catalogue.AUDIENCE_MEMBERS, catalogue.KPI_SNAPSHOTS,
                  catalogue.CUSTOMER_RECORDS):
        assert table in banner
    assert catalogue.CROSSWALK not in banner
