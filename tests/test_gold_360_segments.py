"""Customer 360 (sums, last dates, sessions, email rates, ROPO, RFM scores), segments and temperature,
dated snapshots and their movements, and the gold job end to end on a tiny lakehouse."""

from __future__ import annotations

import dataclasses
import datetime as dt

import pytest
from chispa import assert_df_equality
from pyspark.sql import functions as F
from pyspark.sql.types import DateType, IntegerType, LongType, StringType, StructField, StructType

from jobs import gold
from jobs.common import JobContext
from spark_lib import tables
from spark_lib.config import InteractionSpec, PipelineConfig, SourcesConfig, SourceSpec
from spark_lib.gold import (
    AttributeRule,
    Customer360Config,
    RfmSegmentRule,
    RfmSegmentsConfig,
    TemperatureConfig,
    TemperatureRule,
    assign_segments,
    build_customer_360,
    customer_activity,
    load_gold_config,
    rfm_scores,
    segment_movements,
    union_interactions,
)
from spark_lib.schemas import INTERACTIONS
from spark_lib.storage import Lakehouse
from tests.records import silver_records

RUN_DATE = dt.date(2026, 10, 31)
INGESTED = dt.datetime(2026, 11, 1)


def at(text: str) -> dt.datetime:
    return dt.datetime.fromisoformat(text)


def events(spark, *rows: tuple) -> "DataFrame":  # noqa: F821
    """Interaction rows ``(record_key, event_time, event_type, amount, campaign_id, product)``."""
    data = []
    for number, (record_key, when, event_type, amount, campaign, product) in enumerate(rows):
        values = {f.name: None for f in INTERACTIONS.fields}
        values.update(interaction_key=f"e:{number}", source="s", event_id=str(number), record_key=record_key,
                      channel="online", event_time=at(when), event_type=event_type, amount=amount,
                      campaign_id=campaign, product=product, ingested_at=INGESTED)
        data.append(tuple(values[f.name] for f in INTERACTIONS.fields))
    return spark.createDataFrame(data, INTERACTIONS)


def crosswalk(spark, pairs: dict[str, str]):
    return spark.createDataFrame(sorted(pairs.items()), "record_key string, customer_id string")


def test_360_sums_counts_last_dates_sessions_rates_and_scores_as_of_the_run_date(spark):
    tables = {
        "orders": events(
            spark,
            ("eshop:1", "2026-10-01 12:00:00", "completed", 50.0, None, None),
            ("eshop:1", "2026-06-01 12:00:00", "completed", 30.5, None, None),
            ("eshop:1", "2026-10-20 12:00:00", "cart", 20.0, None, None),
            ("eshop:1", "2026-10-21 12:00:00", "cancelled", 99.0, None, None),     # neither order nor cart
            ("eshop:1", "2026-11-02 12:00:00", "completed", 500.0, None, None),    # after the run date
            (None, "2026-10-01 12:00:00", "completed", 70.0, None, None),          # anonymous
            ("eshop:9", "2026-10-01 12:00:00", "completed", 80.0, None, None),     # record not in the crosswalk
        ),
        "receipts": events(
            spark,
            ("pos:1", "2026-10-10 18:00:00", "purchase", 12.5, None, None),       # 5 days after a product view
            ("pos:1", "2025-09-01 18:00:00", "purchase", 100.0, None, None),      # before the 365-day RFM period
            ("pos:3", "2026-01-15 10:00:00", "purchase", 20.0, None, None),
        ),
        "navigation_events": events(
            spark,
            ("web:1", "2026-10-05 10:00:00", "page_view", None, None, None),
            ("web:1", "2026-10-05 10:10:00", "product_view", None, None, "SKU1"),
            ("web:1", "2026-10-05 10:50:00", "product_view", None, None, "SKU2"),  # 40 min later: a new visit
            ("web:1", "2026-10-28 09:00:00", "login", None, None, None),
        ),
        "campaign_events": events(
            spark,
            ("mail:1", "2026-09-01 09:00:00", "send", None, "A", None),
            ("mail:1", "2026-10-01 09:00:00", "send", None, "B", None),
            ("mail:1", "2026-09-02 20:00:00", "open", None, "A", None),
            ("mail:1", "2026-09-03 08:00:00", "open", None, "A", None),            # A opened twice: one email
            ("mail:1", "2026-09-03 08:01:00", "click", None, "A", None),
        ),
        "mailings": events(spark, ("cat:1", "2026-08-12 06:00:00", "catalogue_sent", None, "CAT", None)),
    }
    xwalk = crosswalk(spark, {"eshop:1": "C1", "pos:1": "C1", "web:1": "C1", "mail:1": "C1", "cat:1": "C1",
                              "pos:3": "C3", "crm:2": "C2"})
    customers = spark.createDataFrame([("C1",), ("C2",), ("C3",)], "customer_id string")
    actual = build_customer_360(customers, union_interactions(tables), xwalk, RUN_DATE, Customer360Config())

    zeros = dict(revenue_online=0.0, revenue_offline=0.0, orders_online=0, orders_offline=0, carts_abandoned=0,
                 channels_used=[], last_web_visit=None, last_online_order=None, last_store_purchase=None,
                 last_purchase=None, last_email_open=None, last_email_click=None, last_catalogue_received=None,
                 last_activity=None, emails_sent=0, emails_opened=0, emails_clicked=0, open_rate=0.0,
                 click_rate=0.0, web_sessions=0, product_views=0, catalogues_received=0, contacts=0, ropo=False,
                 ropo_purchases=0, recent_actions=0, recency_days=None, activity_recency_days=None, frequency=0,
                 monetary=0.0, r_score=0, f_score=0, m_score=0)
    c1 = zeros | dict(
        revenue_online=80.5, revenue_offline=112.5, orders_online=2, orders_offline=2, carts_abandoned=1,
        channels_used=["web", "eshop", "store", "email"],
        last_web_visit=at("2026-10-28 09:00:00"), last_online_order=at("2026-10-01 12:00:00"),
        last_store_purchase=at("2026-10-10 18:00:00"), last_purchase=at("2026-10-10 18:00:00"),
        last_email_open=at("2026-09-03 08:00:00"), last_email_click=at("2026-09-03 08:01:00"),
        last_catalogue_received=at("2026-08-12 06:00:00"), last_activity=at("2026-10-28 09:00:00"),
        emails_sent=2, emails_opened=1, emails_clicked=1, open_rate=0.5, click_rate=0.5,
        web_sessions=3, product_views=2, catalogues_received=1, ropo=True, ropo_purchases=1,
        # last 90 days: order, cart, receipt, 3 visits, 2 opens, 1 click
        recent_actions=9, recency_days=21, activity_recency_days=3,
        frequency=3, monetary=93.0,  # the 2025-09-01 receipt is outside the 365 days
        r_score=5, f_score=5, m_score=5,
    )
    c3 = zeros | dict(
        revenue_offline=20.0, orders_offline=1, channels_used=["store"], last_store_purchase=at("2026-01-15 10:00:00"),
        last_purchase=at("2026-01-15 10:00:00"), last_activity=at("2026-01-15 10:00:00"), recency_days=289,
        activity_recency_days=289, frequency=1, monetary=20.0, r_score=1, f_score=1, m_score=1,
    )
    rows = [dict(customer_id=cid, run_date=RUN_DATE) | values for cid, values in (("C1", c1), ("C2", zeros), ("C3", c3))]
    expected = spark.createDataFrame([tuple(r[c] for c in actual.columns) for r in rows], actual.schema)
    assert_df_equality(actual, expected, ignore_row_order=True, ignore_nullable=True)


def test_ropo_needs_a_store_purchase_within_n_days_after_a_product_view(spark):
    tables = {
        "navigation_events": events(
            spark,
            ("web:1", "2026-10-01 10:00:00", "product_view", None, None, "SKU1"),
            ("web:2", "2026-10-01 10:00:00", "product_view", None, None, "SKU1"),
            ("web:3", "2026-10-01 10:00:00", "page_view", None, None, None),      # not a product view
            ("web:4", "2026-10-20 10:00:00", "product_view", None, None, "SKU1"),
        ),
        "receipts": events(
            spark,
            ("pos:1", "2026-10-08 10:00:00", "purchase", 10.0, None, None),       # 7 days: ROPO
            ("pos:2", "2026-10-08 10:00:01", "purchase", 10.0, None, None),       # 7 days and 1 second: not
            ("pos:3", "2026-10-02 10:00:00", "purchase", 10.0, None, None),
            ("pos:4", "2026-10-19 10:00:00", "purchase", 10.0, None, None),       # the day before the view
        ),
    }
    xwalk = crosswalk(spark, {f"{s}:{n}": f"C{n}" for s in ("web", "pos") for n in range(1, 5)})
    actual = customer_activity(union_interactions(tables), xwalk, RUN_DATE, Customer360Config(ropo_days=7))
    assert sorted(map(tuple, actual.select("customer_id", "ropo", "ropo_purchases").collect())) == [
        ("C1", True, 1), ("C2", False, 0), ("C3", False, 0), ("C4", False, 0)]


def test_rfm_scores_are_quintiles_among_buyers_ties_share_a_score_and_non_buyers_score_zero(spark):
    schema = "customer_id string, recency_days int, frequency long, monetary double"
    frame = spark.createDataFrame(
        [("A", 400, 1, 10.0), ("B", 100, 1, 20.0), ("C", 30, 2, 30.0), ("D", 10, 2, 40.0), ("E", 1, 5, 50.0),
         ("F", 1, 9, 60.0), ("N", None, 0, 0.0)],
        schema,
    )
    actual = rfm_scores(frame, buckets=5).select("customer_id", "r_score", "f_score", "m_score")
    expected = spark.createDataFrame(
        [("A", 1, 1, 1), ("B", 2, 1, 2), ("C", 3, 3, 3), ("D", 4, 3, 4), ("E", 5, 5, 5), ("F", 5, 5, 5),
         ("N", 0, 0, 0)],
        "customer_id string, r_score int, f_score int, m_score int",
    )
    assert_df_equality(actual, expected, ignore_row_order=True, ignore_nullable=True)


SEGMENT_INPUT = StructType([
    StructField("run_date", DateType()), StructField("customer_id", StringType()),
    StructField("r_score", IntegerType()), StructField("f_score", IntegerType()), StructField("m_score", IntegerType()),
    StructField("recent_actions", LongType()), StructField("activity_recency_days", IntegerType()),
])


def test_rfm_segment_and_temperature_follow_the_rule_tables_of_conf_gold_yaml(spark):
    config = load_gold_config()
    customers = spark.createDataFrame(
        [
            (RUN_DATE, "hot_champion", 5, 5, 4, 8, 2),
            (RUN_DATE, "warm_loyal", 3, 4, 3, 3, 45),        # not 6 actions: chaud, not brûlant
            (RUN_DATE, "lukewarm_new", 5, 1, 1, 1, 100),
            (RUN_DATE, "cold_cant_lose", 1, 5, 5, 0, 300),
            (RUN_DATE, "frozen_hibernating", 1, 1, 2, 0, 500),
            (RUN_DATE, "never_active_prospect", 0, 0, 0, 0, None),
            (RUN_DATE, "browsing_prospect", 0, 0, 0, 7, 1),  # active without buying: hot prospect
        ],
        SEGMENT_INPUT,
    )
    actual = assign_segments(customers, config.rfm_segments, config.temperature).select(
        "customer_id", "rfm_segment", "temperature")
    expected = spark.createDataFrame(
        [("hot_champion", "champions", "brûlant"), ("warm_loyal", "loyal", "chaud"),
         ("lukewarm_new", "new_customers", "tiède"), ("cold_cant_lose", "cant_lose", "froid"),
         ("frozen_hibernating", "hibernating", "glacé"), ("never_active_prospect", "prospects", "glacé"),
         ("browsing_prospect", "prospects", "brûlant")],
        "customer_id string, rfm_segment string, temperature string",
    )
    assert_df_equality(actual, expected, ignore_row_order=True, ignore_nullable=True)


def test_first_matching_rule_wins_and_unmatched_customers_get_the_default(spark):
    rfm = RfmSegmentsConfig(rules=(RfmSegmentRule("big", m=(4, 5)), RfmSegmentRule("recent", r=(4, 5))),
                            default="rest")
    temperature = TemperatureConfig(rules=(TemperatureRule("hot", max_activity_days=10, min_recent_actions=2),),
                                    default="cold")
    customers = spark.createDataFrame(
        [(RUN_DATE, "a", 5, 1, 5, 2, 10), (RUN_DATE, "b", 5, 1, 1, 1, 1), (RUN_DATE, "c", 1, 1, 1, 5, 11)],
        SEGMENT_INPUT,
    )
    actual = assign_segments(customers, rfm, temperature).select("customer_id", "rfm_segment", "temperature")
    assert sorted(map(tuple, actual.collect())) == [("a", "big", "hot"), ("b", "recent", "cold"), ("c", "rest", "cold")]


def test_movements_count_customers_from_one_segment_to_another_between_two_snapshots(spark):
    schema = "run_date date, customer_id string, rfm_segment string, temperature string"
    d1, d2 = dt.date(2026, 9, 30), RUN_DATE
    snapshots = spark.createDataFrame(
        [(d1, "a", "loyal", "chaud"), (d1, "b", "loyal", "chaud"), (d1, "c", "at_risk", "froid"),
         (d1, "gone", "hibernating", "glacé"),
         (d2, "a", "champions", "brûlant"), (d2, "b", "loyal", "tiède"), (d2, "c", "champions", "chaud"),
         (d2, "new", "prospects", "glacé"),
         (dt.date(2026, 8, 31), "a", "hibernating", "glacé")],   # another date: ignored
        schema,
    )
    expected = spark.createDataFrame(
        [("loyal", "champions", 1), ("loyal", "loyal", 1), ("at_risk", "champions", 1), ("hibernating", None, 1),
         (None, "prospects", 1)],
        "from_segment string, to_segment string, customers long",
    )
    assert_df_equality(segment_movements(snapshots, d1, d2), expected, ignore_row_order=True, ignore_nullable=True)


def test_a_run_date_snapshot_replaces_that_date_only(spark, tmp_path):
    ctx = JobContext(spark, PipelineConfig(), SourcesConfig(()), Lakehouse(spark, str(tmp_path / "lakehouse")))
    d1, d2 = dt.date(2026, 9, 30), RUN_DATE
    schema = "run_date date, customer_id string, rfm_segment string, temperature string, r_score int, f_score int, m_score int"

    def snapshot(day, *rows):
        return spark.createDataFrame([(day, c, seg, "froid", 1, 1, 1) for c, seg in rows], schema)

    gold.publish_segments(ctx, snapshot(d1, ("a", "loyal"), ("b", "loyal"), ("c", "at_risk")), d1)
    gold.publish_segments(ctx, snapshot(d2, ("a", "champions"), ("b", "loyal")), d2)
    gold.publish_segments(ctx, snapshot(d1, ("a", "promising"), ("b", "hibernating")), d1)   # d1 re-run
    actual = ctx.lake.read(tables.SEGMENTS).select("run_date", "customer_id", "rfm_segment")
    expected = spark.createDataFrame(
        [(d1, "a", "promising"), (d1, "b", "hibernating"), (d2, "a", "champions"), (d2, "b", "loyal")],
        "run_date date, customer_id string, rfm_segment string",
    )
    assert_df_equality(actual, expected, ignore_row_order=True, ignore_nullable=True)


def _tiny_lakehouse(spark, root) -> JobContext:
    """Three customers' records, their crosswalk, and orders: what the gold job reads."""
    lake = Lakehouse(spark, str(root))
    rows = [{"key": key, "last_name": last_name, "record_time": at(f"{when} 10:00:00")}
            for key, last_name, when in (("shop:1", "DURAND", "2026-01-01"), ("shop:2", "PETIT", "2026-02-01"),
                                         ("shop:3", "MARTIN", "2026-03-01"))]
    lake.overwrite(silver_records(spark, *rows, channel="online", ingested_at=INGESTED, source_file="f"),
                   tables.CUSTOMER_RECORDS)
    lake.overwrite(
        crosswalk(spark, {"shop:1": "C1", "shop:2": "C2", "shop:3": "C3"}).select(
            F.lit("shop").alias("source"), F.substring("record_key", 6, 9).alias("source_record_id"), "record_key",
            F.lit("online").alias("channel"), "customer_id", F.lit("deterministic:account_id").alias("match_rule"),
            F.lit(1.0).alias("match_probability"), F.lit(INGESTED).alias("matched_at")),
        tables.CROSSWALK,
    )
    lake.overwrite(
        events(spark, ("shop:1", "2026-10-30 12:00:00", "completed", 40.0, None, None),
               ("shop:3", "2026-03-01 12:00:00", "completed", 15.0, None, None)),
        tables.interactions("orders"),
    )
    source = SourceSpec(name="shop", path="shop/*.json", format="json", channel="online", record_id="id",
                        identity={"last_name": "nom"},
                        interactions=InteractionSpec(table="orders", fields={"event_time": "ts", "event_type": "st"}))
    return JobContext(spark, PipelineConfig(), SourcesConfig((source,)), lake)


@pytest.mark.e2e
def test_gold_job_reads_silver_and_the_crosswalk_and_publishes_every_gold_table(spark, tmp_path):
    ctx = _tiny_lakehouse(spark, tmp_path / "lakehouse")
    config = dataclasses.replace(load_gold_config(), survivorship=(AttributeRule("last_name", rules=("most_recent",)),))

    report = gold.run(ctx, progress=gold.Progress("gold", quiet=True), config=config)

    # the run date defaults to the latest event's date
    assert (report.run_date, report.customers, report.inserted, report.provenance_rows, report.customer_360_rows,
            report.segment_rows) == ("2026-10-30", 3, 3, 3, 3, 3)
    joined = (
        ctx.lake.read(tables.CUSTOMER).join(ctx.lake.read(tables.CUSTOMER_360), "customer_id")
        .join(ctx.lake.read(tables.SEGMENTS), ["customer_id", "run_date"])
        .select("customer_id", "last_name", "orders_online", "recency_days", "rfm_segment", "temperature")
    )
    expected = spark.createDataFrame(
        [("C1", "DURAND", 1, 0, "new_customers", "tiède"), ("C2", "PETIT", 0, None, "prospects", "glacé"),
         ("C3", "MARTIN", 1, 243, "hibernating", "froid")],
        "customer_id string, last_name string, orders_online long, recency_days int, rfm_segment string, "
        "temperature string",
    )
    assert_df_equality(joined, expected, ignore_row_order=True, ignore_nullable=True)
