"""KPI snapshots: every figure on 4 hand-checked customers, partial lakehouses, and the activate job's snapshots."""

from __future__ import annotations

import datetime as dt

import pytest

from spark_lib import tables as catalogue
from spark_lib.gold.kpis import KPI_DEFINITIONS, compute_kpis, identity_kpis
from tests.gold_tables import (
    AUDIENCE_MEMBERS,
    RUN_DATES,
    SEGMENTS,
    SEPTEMBER_KPIS,
    activated_lakehouse,
    crosswalk,
    customers,
    frame,
)

OCT, SEP = dt.date(2026, 10, 31), dt.date(2026, 9, 30)

# A: online + offline, 3 records; B: online only, 2; C: offline only, 1; D: offline only, 2 (probabilistic)
RECORDS = {
    "eshop_accounts:a1": "A", "loyalty_members:a2": "A", "pos_receipts:a3": "A",
    "web_events:b1": "B", "eshop_accounts:b2": "B",
    "crm_customers:c1": "C",
    "loyalty_members:d1": "D", "crm_customers:d2": "D",
}
RULES = {
    "eshop_accounts:a1": "deterministic:account_id", "loyalty_members:a2": "deterministic:loyalty_card",
    "pos_receipts:a3": "deterministic:loyalty_card", "web_events:b1": "deterministic:account_id",
    "eshop_accounts:b2": "deterministic:account_id", "crm_customers:c1": "singleton",
    "loyalty_members:d1": "probabilistic", "crm_customers:d2": "probabilistic",
}
CUSTOMERS = [
    {"customer_id": "A", "email": "a@exemple.fr", "consent_email": True, "phone_mobile": "+33600000001", "consent_sms": False},
    {"customer_id": "B", "email": "pas-un-email", "consent_email": True, "phone_mobile": "+33600000002", "consent_sms": True},
    {"customer_id": "C", "house_number": "1", "street": "rue de la Paix", "postcode": "75002", "city": "Paris",
     "consent_postal": True},
    {"customer_id": "D", "street": "rue Basse", "city": "Lille", "consent_postal": True},  # no postcode
]
SEGMENT_ROWS = [
    {"run_date": SEP, "customer_id": "A", "rfm_segment": "champions", "temperature": "chaud"},
    {"run_date": SEP, "customer_id": "B", "rfm_segment": "loyal", "temperature": "tiède"},
    {"run_date": OCT, "customer_id": "A", "rfm_segment": "champions", "temperature": "brûlant"},
    {"run_date": OCT, "customer_id": "B", "rfm_segment": "at_risk", "temperature": "froid"},
    {"run_date": OCT, "customer_id": "C", "rfm_segment": "prospects", "temperature": "glacé"},
]
MEMBER_ROWS = [
    {"run_date": OCT, "audience": "abandoned_cart", "customer_id": "A", "channel": "email"},
    {"run_date": OCT, "audience": "abandoned_cart", "customer_id": "B", "channel": "sms"},
    {"run_date": OCT, "audience": "lapsed_store_regulars", "customer_id": "C", "channel": "postal"},
    {"run_date": SEP, "audience": "abandoned_cart", "customer_id": "D", "channel": "email"},
]


@pytest.fixture(scope="module")
def tables(spark):
    return {
        catalogue.CROSSWALK: crosswalk(spark, RECORDS, RULES),
        catalogue.CUSTOMER_RECORDS: None,
        catalogue.CUSTOMER: customers(spark, CUSTOMERS),
        catalogue.SEGMENTS: frame(spark, SEGMENTS, SEGMENT_ROWS),
        catalogue.AUDIENCE_MEMBERS: frame(spark, AUDIENCE_MEMBERS, MEMBER_ROWS),
    }


def rows(result) -> set[tuple]:
    return {(r.run_date, r.kpi, r.dimension, r.value) for r in result.kpis.collect()}


def test_every_kpi_of_a_run_date_on_hand_checked_customers(tables):
    result = compute_kpis(tables, OCT)

    expected = {
        ("source_records", "all", 8.0),
        ("identified_records", "all", 8.0),
        ("anonymous_records", "all", 0.0),
        ("customers", "all", 4.0),
        ("duplicate_rate", "all", 0.5),
        ("customers_with_duplicates", "all", 0.75),
        ("records_per_customer", "all", 2.0),
        ("reconciliation_rate", "all", 0.25),
        ("largest_cluster", "all", 3.0),
        ("customers_by_channel_mix", "online_only", 1.0),
        ("customers_by_channel_mix", "offline_only", 2.0),
        ("customers_by_channel_mix", "online_and_offline", 1.0),
        ("records_by_match_rule", "deterministic:account_id", 3.0),
        ("records_by_match_rule", "deterministic:loyalty_card", 2.0),
        ("records_by_match_rule", "singleton", 1.0),
        ("records_by_match_rule", "probabilistic", 2.0),
        # silver.customer_records is absent: the crosswalk's sources stand in
        ("records_by_source", "eshop_accounts", 2.0),
        ("records_by_source", "loyalty_members", 2.0),
        ("records_by_source", "pos_receipts", 1.0),
        ("records_by_source", "web_events", 1.0),
        ("records_by_source", "crm_customers", 2.0),
        # B's email is not an email; D's address has no postcode; A has a mobile but no SMS consent
        ("reachable_share", "valid_email", 0.25),
        ("reachable_share", "mobile", 0.5),
        ("reachable_share", "full_address", 0.25),
        ("contactable_share", "email", 0.25),
        ("contactable_share", "sms", 0.25),
        ("contactable_share", "postal", 0.25),
        ("customers_by_rfm_segment", "champions", 1.0),
        ("customers_by_rfm_segment", "at_risk", 1.0),
        ("customers_by_rfm_segment", "prospects", 1.0),
        ("customers_by_temperature", "brûlant", 1.0),
        ("customers_by_temperature", "froid", 1.0),
        ("customers_by_temperature", "glacé", 1.0),
        # D's membership is September's snapshot
        ("audience_members", "abandoned_cart", 2.0),
        ("audience_members", "lapsed_store_regulars", 1.0),
        ("audience_members_by_channel", "abandoned_cart/email", 1.0),
        ("audience_members_by_channel", "abandoned_cart/sms", 1.0),
        ("audience_members_by_channel", "lapsed_store_regulars/postal", 1.0),
    }
    assert rows(result) == {(OCT, *row) for row in expected}
    assert result.missing == []


def test_segment_kpis_between_snapshots_come_from_the_latest_snapshot_before(tables):
    mid_october = dt.date(2026, 10, 15)
    result = compute_kpis({catalogue.SEGMENTS: tables[catalogue.SEGMENTS]}, mid_october)

    assert rows(result) == {
        (mid_october, "customers_by_rfm_segment", "champions", 1.0),
        (mid_october, "customers_by_rfm_segment", "loyal", 1.0),
        (mid_october, "customers_by_temperature", "chaud", 1.0),
        (mid_october, "customers_by_temperature", "tiède", 1.0),
    }


def test_missing_tables_are_named_and_their_kpis_left_out(tables):
    result = compute_kpis({catalogue.CROSSWALK: tables[catalogue.CROSSWALK]}, OCT)

    assert result.missing == [catalogue.AUDIENCE_MEMBERS, catalogue.CUSTOMER, catalogue.SEGMENTS]
    assert result.groups == ["identity", "sources"]
    assert {kpi for _, kpi, _, _ in rows(result)} == {
        "source_records", "identified_records", "anonymous_records", "customers", "duplicate_rate",
        "customers_with_duplicates", "records_per_customer", "reconciliation_rate", "largest_cluster",
        "customers_by_channel_mix", "records_by_match_rule", "records_by_source",
    }
    assert compute_kpis({}, OCT).kpis is None


# --------------------------------------------------------------------------------------------------
# The activate job on the tiny lakehouse: audiences + KPIs of a run date, replacing only what it evaluated
# --------------------------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def activated(spark, tmp_root):
    return activated_lakehouse(spark, tmp_root)


def test_activate_writes_the_audiences_and_kpi_snapshot_of_its_run_date(activated):
    ctx, report = activated
    members = ctx.lake.read(catalogue.AUDIENCE_MEMBERS).where(f"run_date = DATE'{OCT}'")
    kpis = ctx.lake.read(catalogue.KPI_SNAPSHOTS).where(f"run_date = DATE'{OCT}'")

    assert {(r.audience, r.customer_id, r.channel) for r in members.collect()} == {
        ("catalogue_cart_no_order", "C01", "email"), ("catalogue_cart_no_order", "C04", "sms"),
        ("catalogue_cart_no_order", "C05", "postal"), ("catalogue_cart_no_order", "C09", "email"),
        ("abandoned_cart", "C13", "email"), ("lapsed_store_regulars", "C15", "postal"),
        ("newsletter_readers_never_bought", "C18", "email"),  # written before, by a run of that audience alone
    }
    assert report.run_date == "2026-10-31" and report.members_written == 6 and report.missing_tables == []
    assert report.audiences["catalogue_cart_no_order"] == {
        "eligible": 5, "members": 4, "no_channel": 1, "by_channel": {"email": 2, "sms": 1, "postal": 1}
    }
    sizes = {r.dimension: r.value for r in kpis.where("kpi = 'audience_members'").collect()}
    assert sizes == {"catalogue_cart_no_order": 4.0, "abandoned_cart": 1.0, "lapsed_store_regulars": 1.0,
                     "newsletter_readers_never_bought": 1.0}
    figures = {(r.kpi, r.dimension): r.value for r in kpis.collect()}
    assert figures[("customers", "all")] == 19 and figures[("source_records", "all")] == 95
    assert kpis.groupBy("kpi", "dimension").count().where("count > 1").count() == 0


def test_activate_replaces_only_the_audiences_and_run_date_it_evaluated(activated):
    ctx, _ = activated
    members = ctx.lake.read(catalogue.AUDIENCE_MEMBERS)
    kpis = ctx.lake.read(catalogue.KPI_SNAPSHOTS)

    # the stale October member of an evaluated audience is gone; September's rows are untouched
    assert members.where("customer_id = 'C99'").count() == 0
    september = {(r.audience, r.customer_id, r.reason) for r in members.where(f"run_date = DATE'{SEP}'").collect()}
    assert september == {("catalogue_cart_no_order", "C01", "(September)")}
    assert {(r.kpi, r.dimension): r.value for r in kpis.where(f"run_date = DATE'{SEP}'").collect()} == SEPTEMBER_KPIS
    assert {r.run_date for r in kpis.select("run_date").distinct().collect()} == set(RUN_DATES)


def test_anonymous_records_are_counted_apart_from_golden_customers(spark):
    """C1 holds three records (two channels), C2 one; two cookies that never logged in are no one's customer."""
    crosswalk = spark.createDataFrame(
        [("a:1", "C1", "online", "deterministic:email_std"), ("a:2", "C1", "offline", "probabilistic"),
         ("b:3", "C1", "offline", "deterministic:email_std"), ("b:4", "C2", "offline", "singleton"),
         ("web:k1", "C3", "online", "anonymous"), ("web:k2", "C4", "online", "anonymous")],
        "record_key string, customer_id string, channel string, match_rule string",
    )
    figures = {(r.kpi, r.dimension): r.value for r in identity_kpis(crosswalk).collect()}

    assert figures[("source_records", "all")] == 6 and figures[("anonymous_records", "all")] == 2
    assert figures[("identified_records", "all")] == 4 and figures[("customers", "all")] == 2
    assert figures[("duplicate_rate", "all")] == pytest.approx(1 - 2 / 4)
    assert figures[("customers_with_duplicates", "all")] == pytest.approx(1 / 2)
    assert figures[("records_per_customer", "all")] == pytest.approx(2.0)
    assert figures[("reconciliation_rate", "all")] == pytest.approx(1 / 2)
    assert figures[("customers_by_channel_mix", "online_only")] == 0
    assert figures[("records_by_match_rule", "anonymous")] == 2
    assert set(kpi for kpi, _ in figures) <= set(KPI_DEFINITIONS)
