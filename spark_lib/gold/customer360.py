"""``gold.customer_360``: what each customer did, on every channel, as of a run date.

Events are the silver interaction tables (``orders``, ``receipts``, ``navigation_events``,
``campaign_events``, ``mailings``, ``contacts``) up to the end of the run date (``event_time <
run_date + 1 day``, UTC). An event belongs to the customer its ``record_key`` has in the crosswalk; events
without a record key, or whose record is not in the crosswalk (an anonymous receipt), are left out.

What counts as what is configured (``conf/gold.yaml``, ``customer_360.measures``): each measure is a table
and its event types (none listed: every event of the table). Definitions:

- ``revenue_online`` / ``orders_online``: amount and number of ``online_order`` events (completed orders);
  ``revenue_offline`` / ``orders_offline``: the same for ``store_purchase`` (receipts);
  ``carts_abandoned``: ``abandoned_cart`` events. Amounts are rounded to the cent.
- ``last_*``: latest time of the measure (``last_purchase``: online order or store purchase;
  ``last_activity``: any ``activity`` measure, i.e. something the customer did, not something sent to them).
- ``emails_sent`` / ``emails_opened`` / ``emails_clicked``: *distinct campaigns* sent to, opened or clicked
  by the customer (any of their addresses; an event without campaign counts alone);
  ``open_rate = emails_opened / emails_sent``, ``click_rate = emails_clicked / emails_sent`` (click-through),
  capped at 1, and 0 when nothing was sent.
- ``web_sessions``: visits: the customer's ``web_visit`` events (all their cookies and devices) cut where two
  events are more than ``session_gap_minutes`` apart. ``product_views``, ``catalogues_received``,
  ``contacts``: event counts.
- ``ropo`` (research online, purchase offline): at least one store purchase made within ``ropo_days`` days
  after a product view (``ropo_purchases`` counts those purchases).
- ``channels_used``: the configured channels (in configuration order) with at least one event of their measures.
- ``recent_actions``: activity in the last ``engagement_days`` days (web sessions count once per visit).
- RFM: ``recency_days`` (run date minus the last purchase's date; null when the customer never bought),
  ``frequency`` and ``monetary`` (purchases and their amount in the last ``rfm_period_days`` days),
  ``activity_recency_days`` (the same for ``last_activity``).
- Scores 1..``score_buckets`` (5: quintiles) among the customers who ever bought, by the rank of their
  value (``percent_rank``; equal values always get equal scores): recent, frequent and big spenders score
  high. Customers who never bought score 0 on all three.

Every customer of ``gold.customer`` has a row: counts and amounts 0, dates null, ``channels_used`` empty.

Example::

    events = union_interactions({"orders": lake.read(tables.interactions("orders")), "receipts": lake.read(tables.interactions("receipts"))})
    c360 = build_customer_360(lake.read(tables.CUSTOMER), events, lake.read(tables.CROSSWALK),
                              date(2026, 10, 31), config.customer_360)
"""

from __future__ import annotations

import dataclasses
import datetime as dt
from dataclasses import dataclass, field
from functools import reduce
from typing import Mapping

from pyspark.sql import Column, DataFrame, Window
from pyspark.sql import functions as F

from spark_lib.config import INTERACTION_TABLES, ConfigError
from spark_lib.gold.survivorship import require_columns


@dataclass(frozen=True)
class EventSelector:
    """Events of one interaction table, of the listed types (none: all types)."""

    table: str
    event_types: tuple[str, ...] = ()

    def __post_init__(self) -> None:
        if self.table not in INTERACTION_TABLES:
            raise ConfigError(f"table: {self.table!r} is not one of {', '.join(INTERACTION_TABLES)}")


@dataclass(frozen=True)
class Measures:
    """Which events each measure of the 360 counts."""

    online_order: EventSelector = EventSelector("orders", ("completed",))
    abandoned_cart: EventSelector = EventSelector("orders", ("cart",))
    store_purchase: EventSelector = EventSelector("receipts", ("purchase",))
    web_visit: EventSelector = EventSelector("navigation_events")
    product_view: EventSelector = EventSelector("navigation_events", ("product_view",))
    email_sent: EventSelector = EventSelector("campaign_events", ("send",))
    email_open: EventSelector = EventSelector("campaign_events", ("open",))
    email_click: EventSelector = EventSelector("campaign_events", ("click",))
    catalogue: EventSelector = EventSelector("mailings", ("catalogue_sent",))
    contact: EventSelector = EventSelector("contacts")


MEASURES: tuple[str, ...] = tuple(f.name for f in dataclasses.fields(Measures))


@dataclass(frozen=True)
class ChannelRule:
    """A channel of ``channels_used`` and the measures that show the customer used it."""

    name: str
    measures: tuple[str, ...]


@dataclass(frozen=True)
class Customer360Config:
    """Section ``customer_360`` of ``conf/gold.yaml``."""

    measures: Measures = field(default_factory=Measures)
    channels_used: tuple[ChannelRule, ...] = (
        ChannelRule("web", ("web_visit",)),
        ChannelRule("eshop", ("online_order", "abandoned_cart")),
        ChannelRule("store", ("store_purchase",)),
        ChannelRule("email", ("email_open", "email_click")),
        ChannelRule("call_centre", ("contact",)),
    )
    #: measures that are the customer's own doing (recency of activity, temperature)
    activity: tuple[str, ...] = (
        "online_order", "abandoned_cart", "store_purchase", "web_visit", "email_open", "email_click", "contact",
    )
    session_gap_minutes: int = 30
    ropo_days: int = 7
    engagement_days: int = 90
    rfm_period_days: int = 365
    score_buckets: int = 5

    def __post_init__(self) -> None:
        for rule in self.channels_used:
            for measure in rule.measures:
                if measure not in MEASURES:
                    raise ConfigError(
                        f"channels_used.{rule.name}: unknown measure {measure!r} (allowed: {', '.join(MEASURES)})"
                    )
        for measure in self.activity:
            if measure not in MEASURES:
                raise ConfigError(f"activity: unknown measure {measure!r} (allowed: {', '.join(MEASURES)})")
        for name in ("session_gap_minutes", "ropo_days", "engagement_days", "rfm_period_days"):
            if getattr(self, name) < 1:
                raise ConfigError(f"{name}: must be at least 1, got {getattr(self, name)}")
        if not 2 <= self.score_buckets <= 100:
            raise ConfigError(f"score_buckets: must be between 2 and 100, got {self.score_buckets}")


#: Columns of gold.customer_360, in order.
CUSTOMER_360_COLUMNS: tuple[str, ...] = (
    "customer_id", "run_date",
    "revenue_online", "revenue_offline", "orders_online", "orders_offline", "carts_abandoned",
    "channels_used",
    "last_web_visit", "last_online_order", "last_store_purchase", "last_purchase", "last_email_open",
    "last_email_click", "last_catalogue_received", "last_activity",
    "emails_sent", "emails_opened", "emails_clicked", "open_rate", "click_rate",
    "web_sessions", "product_views", "catalogues_received", "contacts", "ropo", "ropo_purchases",
    "recent_actions", "recency_days", "activity_recency_days", "frequency", "monetary",
    "r_score", "f_score", "m_score",
)

_EVENT_COLUMNS = ("interaction_key", "record_key", "event_time", "event_type", "amount", "campaign_id", "event_id")


def union_interactions(tables: Mapping[str, DataFrame]) -> DataFrame:
    """One frame of every interaction table's events, with a ``table`` column naming where each came from.

    Example::

        union_interactions({"orders": lake.read(tables.interactions("orders")), "receipts": lake.read(tables.interactions("receipts"))})
    """
    if not tables:
        raise ValueError("'tables' in union_interactions cannot be empty")
    frames = []
    for name, frame in tables.items():
        require_columns(frame, _EVENT_COLUMNS, f"silver.{name}")
        frames.append(frame.select(F.lit(name).alias("table"), *_EVENT_COLUMNS))
    return reduce(DataFrame.unionByName, frames)


def _selects(selector: EventSelector) -> Column:
    condition = F.col("table") == F.lit(selector.table)
    if selector.event_types:
        condition = condition & F.col("event_type").isin(*selector.event_types)
    return condition


def _count(condition: Column) -> Column:
    return F.count(F.when(condition, F.lit(1)))


def _distinct_campaigns(condition: Column) -> Column:
    return F.size(F.collect_set(F.when(condition, F.coalesce(F.col("campaign_id"), F.col("event_id")))))


def _latest(condition: Column) -> Column:
    return F.max(F.when(condition, F.col("event_time")))


def _cents(condition: Column) -> Column:
    return F.round(F.coalesce(F.sum(F.when(condition, F.col("amount"))), F.lit(0.0)), 2)


def _rate(numerator: str, denominator: str) -> Column:
    return F.round(F.least(F.coalesce(F.try_divide(F.col(numerator), F.col(denominator)), F.lit(0.0)), F.lit(1.0)), 4)


def _day_start(day: dt.date) -> Column:
    return F.lit(dt.datetime(day.year, day.month, day.day)).cast("timestamp")


def customer_activity(
    events: DataFrame, crosswalk: DataFrame, run_date: dt.date, config: Customer360Config | None = None
) -> DataFrame:
    """Per customer with at least one event up to ``run_date``: the 360's counters (no scores, no run_date).

    ``events``: :func:`union_interactions` output. ``crosswalk``: ``record_key, customer_id``.
    """
    if not isinstance(run_date, dt.date):
        raise TypeError(f"'run_date' must be a date, got {type(run_date).__name__}")
    cfg = config or Customer360Config()
    require_columns(events, ("table",) + _EVENT_COLUMNS, "events")
    require_columns(crosswalk, ["record_key", "customer_id"], "crosswalk")
    m = {name: _selects(getattr(cfg.measures, name)) for name in MEASURES}
    end = _day_start(run_date + dt.timedelta(days=1))
    rfm_start = _day_start(run_date + dt.timedelta(days=1 - cfg.rfm_period_days))
    engagement_start = _day_start(run_date + dt.timedelta(days=1 - cfg.engagement_days))

    # Each measure is evaluated once, as a boolean column, and the aggregates below read the columns.
    mine = (
        events.where(F.col("record_key").isNotNull() & F.col("event_time").isNotNull() & (F.col("event_time") < end))
        .join(crosswalk.select("record_key", "customer_id"), "record_key")
        .select("customer_id", "interaction_key", "event_time", "amount", "campaign_id", "event_id",
                *[condition.alias(f"_m_{name}") for name, condition in m.items()])
    )
    m = {name: F.col(f"_m_{name}") for name in MEASURES}
    # One ordering per customer serves both sessions and ROPO: at equal times a view comes before a purchase.
    ordered = Window.partitionBy("customer_id").orderBy("event_time", m["store_purchase"].cast("int"), "interaction_key")
    before = ordered.rowsBetween(Window.unboundedPreceding, -1)
    up_to_here = ordered.rowsBetween(Window.unboundedPreceding, Window.currentRow)
    previous_visit = F.last(F.when(m["web_visit"], F.col("event_time")), ignorenulls=True).over(before)
    last_view = F.last(F.when(m["product_view"], F.col("event_time")), ignorenulls=True).over(up_to_here)
    gap = F.unix_seconds(F.col("event_time")) - F.unix_seconds(previous_visit)
    session_start = m["web_visit"] & (previous_visit.isNull() | (gap > cfg.session_gap_minutes * 60))
    ropo_seconds = F.unix_seconds(F.col("event_time")) - F.unix_seconds(last_view)
    ropo_purchase = m["store_purchase"] & last_view.isNotNull() & (ropo_seconds <= cfg.ropo_days * 86400)
    activity = reduce(lambda a, b: a | b, [m[name] for name in cfg.activity]) if cfg.activity else F.lit(False)
    # a visit counts once (its first event); other activity once per event
    action = F.when(m["web_visit"], F.col("_session_start")).otherwise(activity)
    flagged = mine.select("*", session_start.alias("_session_start"), ropo_purchase.alias("_ropo_purchase"))

    purchase = m["online_order"] | m["store_purchase"]
    in_period = F.col("event_time") >= rfm_start
    channels = F.filter(
        F.array(*[F.when(reduce(lambda a, b: a | b, [F.col(f"_n_{n}") > 0 for n in rule.measures]),
                         F.lit(rule.name)) for rule in cfg.channels_used]),
        lambda c: c.isNotNull(),
    ) if cfg.channels_used else F.array().cast("array<string>")

    per_customer = flagged.groupBy("customer_id").agg(
        _cents(m["online_order"]).alias("revenue_online"),
        _cents(m["store_purchase"]).alias("revenue_offline"),
        _count(m["online_order"]).alias("orders_online"),
        _count(m["store_purchase"]).alias("orders_offline"),
        _count(m["abandoned_cart"]).alias("carts_abandoned"),
        *[_count(m[name]).alias(f"_n_{name}") for name in MEASURES],
        _latest(m["web_visit"]).alias("last_web_visit"),
        _latest(m["online_order"]).alias("last_online_order"),
        _latest(m["store_purchase"]).alias("last_store_purchase"),
        _latest(purchase).alias("last_purchase"),
        _latest(m["email_open"]).alias("last_email_open"),
        _latest(m["email_click"]).alias("last_email_click"),
        _latest(m["catalogue"]).alias("last_catalogue_received"),
        _latest(activity).alias("last_activity"),
        _distinct_campaigns(m["email_sent"]).alias("emails_sent"),
        _distinct_campaigns(m["email_open"]).alias("emails_opened"),
        _distinct_campaigns(m["email_click"]).alias("emails_clicked"),
        _count(F.col("_session_start")).alias("web_sessions"),
        _count(m["product_view"]).alias("product_views"),
        _count(m["catalogue"]).alias("catalogues_received"),
        _count(m["contact"]).alias("contacts"),
        _count(F.col("_ropo_purchase")).alias("ropo_purchases"),
        _count(action & (F.col("event_time") >= engagement_start)).alias("recent_actions"),
        _count(purchase & in_period).alias("frequency"),
        _cents(purchase & in_period).alias("monetary"),
    )
    return per_customer.select(
        "*",
        channels.alias("channels_used"),
        (F.col("ropo_purchases") > 0).alias("ropo"),
        _rate("emails_opened", "emails_sent").alias("open_rate"),
        _rate("emails_clicked", "emails_sent").alias("click_rate"),
    ).drop(*[f"_n_{name}" for name in MEASURES])


def rfm_scores(frame: DataFrame, buckets: int = 5) -> DataFrame:
    """Add ``r_score``, ``f_score``, ``m_score`` (1..buckets among buyers, 0 for who never bought).

    A buyer is a row whose ``recency_days`` is not null. The score of a value is ``1 + floor(percent_rank *
    buckets)`` (capped at ``buckets``) in the order that makes higher better: fewer days since the last
    purchase, more purchases, more spent. Equal values share a rank, hence a score. ``percent_rank`` is
    ``(rank - 1) / (buyers - 1)``, computed here from the integers so that no rounding moves a score.
    """
    require_columns(frame, ["recency_days", "frequency", "monetary"], "frame")
    buyer = F.col("recency_days").isNotNull()
    by_buyer = Window.partitionBy(buyer)
    buyers = F.count(F.lit(1)).over(by_buyer)

    def score(order: Column) -> Column:
        rank = F.rank().over(by_buyer.orderBy(order))
        bucket = F.floor((rank - 1) * buckets / F.greatest(buyers - 1, F.lit(1))).cast("int") + 1
        return F.when(buyer, F.least(F.lit(buckets), bucket)).otherwise(F.lit(0)).cast("int")

    return frame.select(
        "*",
        score(F.col("recency_days").desc()).alias("r_score"),
        score(F.col("frequency").asc()).alias("f_score"),
        score(F.col("monetary").asc()).alias("m_score"),
    )


def build_customer_360(
    customers: DataFrame,
    events: DataFrame,
    crosswalk: DataFrame,
    run_date: dt.date,
    config: Customer360Config | None = None,
) -> DataFrame:
    """``gold.customer_360``: one row per customer of ``customers`` (columns :data:`CUSTOMER_360_COLUMNS`).

    Example::

        build_customer_360(lake.read(tables.CUSTOMER), events, crosswalk, date(2026, 10, 31))
    """
    cfg = config or Customer360Config()
    require_columns(customers, ["customer_id"], "customers")
    counted = _filled(customers, customer_activity(events, crosswalk, run_date, cfg), run_date)
    return rfm_scores(counted, cfg.score_buckets).select(*CUSTOMER_360_COLUMNS)


_ZERO_LONG = ("orders_online", "orders_offline", "carts_abandoned", "emails_sent", "emails_opened", "emails_clicked",
              "web_sessions", "product_views", "catalogues_received", "contacts", "ropo_purchases", "recent_actions",
              "frequency")
_ZERO_DOUBLE = ("revenue_online", "revenue_offline", "open_rate", "click_rate", "monetary")
#: what the run date alone sets: the row's date and the days since the last purchase and activity
_DATED = ("run_date", "recency_days", "activity_recency_days")
_SCORES = ("r_score", "f_score", "m_score")


def _filled(customers: DataFrame, activity: DataFrame, run_date: dt.date) -> DataFrame:
    """Every customer of ``customers`` with its :func:`customer_activity` (zeros and nulls when it has none)
    and its dated columns; no scores."""
    joined = customers.select("customer_id").join(activity, "customer_id", "left")
    return _dated(joined.select(
        "customer_id",
        *[F.coalesce(F.col(c), F.lit(0)).cast("long").alias(c) for c in _ZERO_LONG],
        *[F.coalesce(F.col(c), F.lit(0.0)).cast("double").alias(c) for c in _ZERO_DOUBLE],
        F.coalesce(F.col("channels_used"), F.array().cast("array<string>")).alias("channels_used"),
        F.coalesce(F.col("ropo"), F.lit(False)).alias("ropo"),
        *[F.col(c) for c in CUSTOMER_360_COLUMNS if c.startswith("last_")],
    ), run_date)


def _dated(frame: DataFrame, run_date: dt.date) -> DataFrame:
    """``frame`` (its ``last_purchase`` and ``last_activity`` read) with :data:`_DATED` as of ``run_date``."""
    run_day = F.lit(run_date).cast("date")
    return frame.select(
        *[c for c in frame.columns if c not in _DATED],
        run_day.alias("run_date"),
        F.datediff(run_day, F.to_date("last_purchase")).alias("recency_days"),
        F.datediff(run_day, F.to_date("last_activity")).alias("activity_recency_days"),
    )


def recount_periods(previous: dt.date, run_date: dt.date, config: Customer360Config | None = None
                    ) -> list[tuple[dt.datetime, dt.datetime]]:
    """The event times ``[start, end)`` whose events a 360 as of ``run_date`` counts and one as of ``previous``
    (not after it) does not, or the other way round: the days after ``previous`` up to ``run_date``, and for
    each sliding period (``engagement_days``, ``rfm_period_days``) the days that left it. None of them when
    the date did not move."""
    if previous > run_date:
        raise ValueError(f"recount_periods: the previous run date {previous} is after {run_date}")
    cfg = config or Customer360Config()

    def start(day: dt.date) -> dt.datetime:
        return dt.datetime(day.year, day.month, day.day)

    one = dt.timedelta(days=1)
    periods = [(start(previous + one), start(run_date + one))]
    for days in sorted({cfg.engagement_days, cfg.rfm_period_days}):
        window = dt.timedelta(days=days)
        periods.append((start(previous + one - window), start(run_date + one - window)))
    return [(lo, hi) for lo, hi in periods if lo < hi]


def refresh_customer_360(
    previous: DataFrame,
    customers: DataFrame,
    events: DataFrame,
    crosswalk: DataFrame,
    changed: DataFrame,
    run_date: dt.date,
    previous_date: dt.date,
    config: Customer360Config | None = None,
) -> DataFrame:
    """``gold.customer_360`` as of ``run_date`` from ``previous`` (the one as of ``previous_date``, not after
    it): what :func:`build_customer_360` gives, counting events again for the customers that need it only.

    Counted again: the customers of ``changed`` (a frame of ``customer_id``: their records, their membership
    or their events changed), those with an event in a :func:`recount_periods` period (it entered or left a
    counted period) and those ``previous`` lacks. Every other customer of ``customers`` keeps its counters,
    with the recency days and the date of ``run_date``; the scores are ranked again over all (they compare
    customers). Customers of ``previous`` no longer in ``customers`` are dropped.
    """
    cfg = config or Customer360Config()
    require_columns(customers, ["customer_id"], "customers")
    require_columns(changed, ["customer_id"], "changed")
    ids = customers.select("customer_id")
    periods = recount_periods(previous_date, run_date, cfg)
    recount = changed.select("customer_id").unionByName(ids.join(previous, "customer_id", "left_anti"))
    if periods:
        moved = reduce(lambda a, b: a | b,
                       [(F.col("event_time") >= F.lit(lo)) & (F.col("event_time") < F.lit(hi)) for lo, hi in periods])
        entering_or_leaving = (events.where(F.col("record_key").isNotNull() & moved).select("record_key").distinct()
                               .join(crosswalk.select("record_key", "customer_id"), "record_key").select("customer_id"))
        recount = recount.unionByName(entering_or_leaving)
    # used twice below: settled once
    recount = ids.join(recount.distinct(), "customer_id", "left_semi").localCheckpoint()
    mine = crosswalk.select("record_key", "customer_id").join(recount, "customer_id", "left_semi")
    counted = _filled(recount, customer_activity(events, mine, run_date, cfg), run_date)
    kept = _dated(previous.join(ids, "customer_id", "left_semi").join(recount, "customer_id", "left_anti")
                  .drop(*_SCORES), run_date)
    return rfm_scores(counted.unionByName(kept), cfg.score_buckets).select(*CUSTOMER_360_COLUMNS)
