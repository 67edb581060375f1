"""Daily gold runs: only the customers whose records, membership or events changed are built again, and the
tables end as a full build of the same inputs leaves them.

One small lakehouse, two days. Day 2 changes a golden email (C1), adds a record to a customer (C2), merges C3
into C4, gives C5 a new order (which also moves the run date a day), lets C6's only visit leave the 90-day
engagement period, deletes one of C8's two records and C9's only one, and brings a new customer (C10); C7
changes in nothing but the date.
"""

from __future__ import annotations

import datetime as dt

import pytest
from pyspark.sql import functions as F

from jobs import gold
from jobs.common import JobContext
from jobs.run_all import step_inputs
from spark_lib import tables
from spark_lib.config import PipelineConfig, load_sources
from spark_lib.run_state import RunState
from spark_lib.schemas import CUSTOMER_RECORDS, INTERACTIONS
from spark_lib.storage import Lakehouse
from tests.gold_tables import CROSSWALK, crosswalk_rows, event, interaction_rows, ts
from tests.records import frame, silver_record

pytestmark = pytest.mark.e2e

PEOPLE = {
    "C1": ("Marie", "MARTIN", "marie.martin@free.fr"), "C2": ("Paul", "DURAND", "paul.durand@orange.fr"),
    "C3": ("Léa", "PETIT", None), "C4": ("Léa", "PETIT", "lea.petit@gmail.com"),
    "C5": ("Hugo", "BERNARD", "hugo.b@sfr.fr"), "C6": ("Inès", "ROBERT", "ines.robert@free.fr"),
    "C7": ("Jules", "RICHARD", "jules.richard@laposte.net"), "C8": ("Chloé", "DUBOIS", "chloe.dubois@free.fr"),
    "C9": ("Louis", "MOREAU", "louis.moreau@gmail.com"), "C10": ("Zoé", "LAURENT", "zoe.laurent@orange.fr"),
}
DAY_1 = {"crm_customers:c1": "C1", "eshop_orders:c1": "C1", "crm_customers:c2": "C2", "crm_customers:c3": "C3",
         "crm_customers:c4": "C4", "crm_customers:c5": "C5", "eshop_orders:c5": "C5", "crm_customers:c6": "C6",
         "web_events:c6": "C6", "crm_customers:c7": "C7", "eshop_orders:c7": "C7", "crm_customers:c8": "C8",
         "loyalty_members:c8": "C8", "crm_customers:c9": "C9"}
DAY_2 = {**{k: v for k, v in DAY_1.items() if k not in ("loyalty_members:c8", "crm_customers:c9")},
         "eshop_accounts:c2": "C2", "crm_customers:c3": "C4", "crm_customers:c10": "C10"}


def record(key: str, customer: str, **changes) -> dict:
    first, last, email = PEOPLE[customer]
    fields = dict(first_name=first, last_name=last, email=email, email_std=email, email_valid=bool(email),
                  record_time=ts("2026-10-01 12:00"), ingested_at=ts("2026-10-31 01:00"))
    return silver_record(key, derive_std=("first_name", "last_name"), **{**fields, **changes})


def order(key: str, when: str, amount: float) -> dict:
    return event(key, when, "completed", amount=amount)


EVENTS_1 = [order("eshop_orders:c1", "2026-10-01 10:00", 30.0), order("eshop_orders:c5", "2026-09-15 10:00", 50.0),
            event("web_events:c6", "2026-08-02 10:00", "page_view"), order("eshop_orders:c7", "2026-10-30 10:00", 80.0)]
EVENTS_2 = [order("eshop_orders:c5", "2026-10-31 09:00", 20.0)]


def write_day(spark, lake: Lakehouse, memberships: dict[str, str], changed: dict[str, dict], events: list[dict]):
    """silver and the crosswalk as the earlier steps leave them: merged by key, the records gone deleted."""
    records = frame(spark, CUSTOMER_RECORDS, [record(k, c, **changed.get(k, {})) for k, c in memberships.items()])
    lake.merge(records, tables.CUSTOMER_RECORDS, keys=["record_key"], delete_missing_condition="true")
    lake.merge(frame(spark, CROSSWALK, crosswalk_rows(memberships)), tables.CROSSWALK, keys=["record_key"],
               delete_missing_condition="true")
    for name, rows in interaction_rows(events).items():
        if rows:
            lake.merge(frame(spark, INTERACTIONS, rows), tables.interactions(name), keys=["interaction_key"])


def contents(lake: Lakehouse, run_date: dt.date) -> dict[str, list]:
    """Every gold table's rows (gold.customer without the time it last changed; the run date's segments)."""
    def rows(df):
        return sorted(tuple(r) for r in df.collect())

    return {
        "customer": rows(lake.read(tables.CUSTOMER).drop("updated_at")),
        "provenance": rows(lake.read(tables.PROVENANCE)),
        "customer_360": rows(lake.read(tables.CUSTOMER_360)),
        "segments": rows(lake.read(tables.SEGMENTS).where(F.col("run_date") == run_date)),
    }


@pytest.fixture(scope="module")
def two_days(spark, tmp_path_factory):
    lake = Lakehouse(spark, str(tmp_path_factory.mktemp("gold_incremental") / "lakehouse"))
    ctx = JobContext(spark, PipelineConfig(), load_sources(), lake)
    state = RunState(lake)
    write_day(spark, lake, DAY_1, {}, EVENTS_1)
    read = state.versions(step_inputs(ctx, "gold"))
    first = gold.run(ctx)
    customer_version = lake.version(tables.CUSTOMER)
    c360_before = {r.customer_id: r for r in lake.read(tables.CUSTOMER_360).collect()}

    write_day(spark, lake, DAY_2, {"crm_customers:c1": {"email": "marie.m@free.fr", "email_std": "marie.m@free.fr",
                                                         "record_time": ts("2026-10-31 08:00")}}, EVENTS_2)
    daily = gold.run(ctx, since=read)
    after_day = contents(lake, dt.date(2026, 10, 31))
    changed = (spark.read.format("delta").option("readChangeFeed", "true")
               .option("startingVersion", customer_version + 1).load(lake.path(tables.CUSTOMER))
               .select("customer_id", "_change_type").collect())
    c360_after = {r.customer_id: r for r in lake.read(tables.CUSTOMER_360).collect()}
    rebuilt = gold.run(ctx)
    return dict(first=first, daily=daily, rebuilt=rebuilt, after_day=after_day, changed=changed,
                rebuild=contents(lake, dt.date(2026, 10, 31)), c360_before=c360_before, c360_after=c360_after)


def test_a_daily_run_builds_only_what_changed_and_ends_as_a_full_build(two_days):
    first, daily, rebuilt = two_days["first"], two_days["daily"], two_days["rebuilt"]
    assert (first.mode, daily.mode, rebuilt.mode) == ("full", "incremental", "full")
    assert (first.run_date, daily.run_date) == ("2026-10-30", "2026-10-31")
    # the daily run's tables, row for row, are those a full build of the same inputs writes
    for table, rows in two_days["rebuild"].items():
        assert two_days["after_day"][table] == rows, table
    assert daily.customers == rebuilt.customers == 8
    assert (daily.inserted, daily.updated, daily.deleted) == (1, 4, 2)
    assert (rebuilt.inserted, rebuilt.updated, rebuilt.deleted) == (0, 0, 0)


def test_customers_untouched_by_the_day_keep_their_golden_record_unwritten(two_days):
    by_customer: dict[str, set] = {}
    for row in two_days["changed"]:
        by_customer.setdefault(row.customer_id, set()).add(row._change_type)
    # C1's email, C2's new record, C3 merged into C4, C8's lost record: rewritten; C3 and C9 retired; C10 new
    assert by_customer == {
        "C1": {"update_preimage", "update_postimage"}, "C2": {"update_preimage", "update_postimage"},
        "C4": {"update_preimage", "update_postimage"}, "C8": {"update_preimage", "update_postimage"},
        "C3": {"delete"}, "C9": {"delete"}, "C10": {"insert"},
    }


def test_the_360_moves_with_the_run_date_for_customers_whose_records_did_not_change(two_days):
    before, after = two_days["c360_before"], two_days["c360_after"]
    # C5's new order counts; C6's visit of August 2 left the 90-day period; C7 is a day further from its order
    assert (before["C5"].orders_online, after["C5"].orders_online, after["C5"].revenue_online) == (1, 2, 70.0)
    assert (before["C6"].recent_actions, after["C6"].recent_actions) == (1, 0)
    assert (before["C7"].recency_days, after["C7"].recency_days) == (0, 1)
    assert after["C7"].run_date == dt.date(2026, 10, 31)
    assert "C3" not in after and "C9" not in after and after["C10"].orders_online == 0


def test_changes_cannot_be_read_from_a_table_that_keeps_no_change_feed(spark, tmp_path):
    lake = Lakehouse(spark, str(tmp_path / "lakehouse"))
    plain = tables.Table("silver.plain", keys=("k",))
    lake.overwrite(spark.createDataFrame([("a", 1)], "k string, v int"), plain)
    lake.merge(spark.createDataFrame([("a", 2), ("b", 1)], "k string, v int"), plain, keys=["k"])
    assert lake.changes(plain, 0, ["k"]) is None

    kept = tables.Table("silver.kept", keys=("k",), change_feed=True)
    lake.overwrite(spark.createDataFrame([("a", 1)], "k string, v int"), kept)
    lake.merge(spark.createDataFrame([("a", 2), ("b", 1)], "k string, v int"), kept, keys=["k"])
    assert sorted(tuple(r) for r in lake.changes(kept, 0, ["k", "v"]).collect()) == [
        ("a", 1, "update_preimage"), ("a", 2, "update_postimage"), ("b", 1, "insert")]
    assert lake.changes(kept, 1, ["k"]).count() == 0
