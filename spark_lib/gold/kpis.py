"""KPIs of the customer reference, one snapshot per run date (``gold.kpi_snapshots``).

Every KPI is a row ``(run_date, kpi, dimension, value)``; ``dimension`` is ``"all"`` for a single figure,
else the source, match rule, segment, temperature or audience it is broken down by. The groups below each
need one gold or silver table; :func:`compute_kpis` computes the groups whose table exists and names the
others, so a partial lakehouse (matching done, golden record not yet) still gets its KPIs.

Each KPI's definition is in :data:`KPI_DEFINITIONS` (the dashboard shows them; the README copies them).

Example::

    result = compute_kpis({tables.CROSSWALK: crosswalk, tables.CUSTOMER: None, ...}, dt.date(2026, 10, 31))
    result.missing        # ['gold.customer']
    result.kpis.show()    # run_date, kpi, dimension, value
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass, field
from functools import reduce
from typing import Callable, Mapping

from pyspark.sql import Column, DataFrame
from pyspark.sql import functions as F

from spark_lib import schemas
from spark_lib.tables import AUDIENCE_MEMBERS, CROSSWALK, CUSTOMER, CUSTOMER_RECORDS, SEGMENTS
from spark_lib.gold.audiences import CHANNELS, contactable, reachable

ALL = "all"

#: kpi -> (its dimensions, what it counts): the definitions the dashboard and the README show. A golden
#: customer is a customer of ``gold.customer``: anonymous records (a cookie that never logged in, a receipt
#: with only the store's phone: nothing says whose they are) are source records but no one's customer.
KPI_DEFINITIONS: dict[str, tuple[str, str]] = {
    "source_records": ("all", "identity records of every source (crosswalk rows), anonymous ones included"),
    "identified_records": ("all", "source records that are not anonymous"),
    "anonymous_records": ("all", "source records with nothing to match on, counted apart from customers"),
    "customers": ("all", "golden customers: distinct customers of the identified records"),
    "duplicate_rate": ("all", "share of identified records that repeat a customer another record already "
                              "gives: 1 - customers / identified records"),
    "customers_with_duplicates": ("all", "share of golden customers known through more than one record"),
    "records_per_customer": ("all", "identified records / golden customers"),
    "reconciliation_rate": ("all", "share of golden customers with both online and offline records"),
    "customers_by_channel_mix": ("online_only, offline_only, online_and_offline",
                                 "golden customers by the channels of their records"),
    "largest_cluster": ("all", "records of the golden customer with the most records"),
    "records_by_match_rule": ("deterministic:<pivot>, probabilistic, singleton, anonymous",
                              "source records by how they were matched"),
    "records_by_source": ("<source>", "silver.customer_records rows per source"),
    "reachable_share": ("valid_email, mobile, full_address",
                        "share of golden customers holding a valid email, a mobile phone, a street + postcode + city"),
    "contactable_share": ("email, sms, postal", "share of golden customers consenting AND reachable on the channel"),
    "customers_by_rfm_segment": ("<segment>", "golden customers per RFM segment (segments snapshot)"),
    "customers_by_temperature": ("glacé ... brûlant", "golden customers per temperature (segments snapshot)"),
    "audience_members": ("<audience>", "members of each trigger audience"),
    "audience_members_by_channel": ("<audience>/<channel>", "members of each audience per channel"),
}

KPI_SNAPSHOTS = schemas.KPI_SNAPSHOTS

#: The temperature scale of gold.customer_segments, coldest first (the order charts use).
TEMPERATURES: tuple[str, ...] = ("glacé", "froid", "tiède", "chaud", "brûlant")

RECORDS = CUSTOMER_RECORDS


def _rows(df: DataFrame, figures: list[tuple[str, str, Column]]) -> DataFrame:
    """One aggregation row -> one ``(kpi, dimension, value)`` row per ``(kpi, dimension, value expression)``."""
    rows = [
        F.struct(F.lit(kpi).alias("kpi"), F.lit(dimension).alias("dimension"), value.cast("double").alias("value"))
        for kpi, dimension, value in figures
    ]
    return df.select(F.explode(F.array(*rows)).alias("r")).select("r.*")


def _counts(df: DataFrame, dimensions: Mapping[str, Column]) -> DataFrame:
    """``(kpi, dimension, value)``: rows of ``df`` per value of each ``kpi -> dimension column``, in one shuffle
    (grouping sets); a null value counts as ``"unknown"``."""
    names = {kpi: f"_d{i}" for i, kpi in enumerate(dimensions)}
    grouped = (
        df.select(*[dimensions[kpi].cast("string").alias(name) for kpi, name in names.items()])
        .groupingSets([[name] for name in names.values()], *names.values())
        .agg(F.count(F.lit(1)).alias("_n"), *[F.grouping(name).alias(f"{name}_all") for name in names.values()])
    )
    # grouping(c) is 0 on the rows grouped by c (and 1 where c is rolled up): it says which KPI a row is.
    kpi = F.coalesce(*[F.when(F.col(f"{name}_all") == 0, F.lit(k)) for k, name in names.items()])
    value = F.coalesce(
        *[F.when(F.col(f"{name}_all") == 0, F.coalesce(name, F.lit("unknown"))) for name in names.values()]
    )
    return grouped.select(kpi.alias("kpi"), value.alias("dimension"), F.col("_n").cast("double").alias("value"))


def identity_kpis(crosswalk: DataFrame) -> DataFrame:
    """Records and golden customers, duplicate and reconciliation rates, channel mix, largest customer, match rules.

    Anonymous records (``match_rule = 'anonymous'``: nothing says whose they are) are counted apart: they are
    source records but no one's golden customer, so every per-customer figure leaves them out.
    """
    anonymous = F.col("match_rule").eqNullSafe("anonymous")
    identified = ~anonymous

    def seen(channel: str):
        return F.max(F.when(identified & (F.col("channel") == channel), 1).otherwise(0))

    per_customer = crosswalk.groupBy("customer_id").agg(
        F.sum(F.when(identified, 1).otherwise(0)).alias("records"),
        F.sum(F.when(anonymous, 1).otherwise(0)).alias("anonymous"),
        seen("online").alias("online"),
        seen("offline").alias("offline"),
    )
    golden = F.col("records") > 0
    stats = per_customer.agg(
        F.sum("records").alias("records"),
        F.sum("anonymous").alias("anonymous"),
        F.count(F.when(golden, 1)).alias("customers"),
        F.count(F.when(F.col("records") > 1, 1)).alias("with_duplicates"),
        F.sum(F.col("online") * F.col("offline")).alias("both"),
        F.sum(F.when((F.col("online") == 1) & (F.col("offline") == 0), 1).otherwise(0)).alias("online_only"),
        F.sum(F.when((F.col("online") == 0) & (F.col("offline") == 1), 1).otherwise(0)).alias("offline_only"),
        F.max("records").alias("largest"),
    )
    figures = [
        ("source_records", ALL, F.col("records") + F.col("anonymous")),
        ("identified_records", ALL, F.col("records")),
        ("anonymous_records", ALL, F.col("anonymous")),
        ("customers", ALL, F.col("customers")),
        ("duplicate_rate", ALL, 1 - F.try_divide(F.col("customers"), F.col("records"))),
        ("customers_with_duplicates", ALL, F.try_divide(F.col("with_duplicates"), F.col("customers"))),
        ("records_per_customer", ALL, F.try_divide(F.col("records"), F.col("customers"))),
        ("reconciliation_rate", ALL, F.try_divide(F.col("both"), F.col("customers"))),
        ("largest_cluster", ALL, F.col("largest")),
        ("customers_by_channel_mix", "online_only", F.col("online_only")),
        ("customers_by_channel_mix", "offline_only", F.col("offline_only")),
        ("customers_by_channel_mix", "online_and_offline", F.col("both")),
    ]
    totals = _rows(stats, figures)
    return totals.unionByName(_counts(crosswalk, {"records_by_match_rule": F.col("match_rule")}))


def source_kpis(records: DataFrame) -> DataFrame:
    """Identity records per source (``silver.customer_records``, or the crosswalk: both have ``source``)."""
    return _counts(records, {"records_by_source": F.col("source")})


def contact_kpis(customers: DataFrame) -> DataFrame:
    """Shares of golden records that hold each contact value, and that may be contacted on each channel."""
    n = F.count("*")
    share = lambda condition: F.try_divide(F.sum(condition.cast("int")), n)  # noqa: E731
    stats = customers.agg(
        share(reachable("email")).alias("valid_email"),
        share(reachable("sms")).alias("mobile"),
        share(reachable("postal")).alias("full_address"),
        *[share(contactable(channel)).alias(f"contactable_{channel}") for channel in CHANNELS],
    )
    figures = [("reachable_share", d, F.col(d)) for d in ("valid_email", "mobile", "full_address")]
    figures += [("contactable_share", c, F.col(f"contactable_{c}")) for c in CHANNELS]
    return _rows(stats, figures)


def snapshot_at(df: DataFrame, run_date: dt.date) -> DataFrame:
    """The rows of the latest ``run_date`` snapshot at or before ``run_date`` (empty when there is none)."""
    latest = df.where(F.col("run_date") <= F.lit(run_date)).agg(F.max("run_date").alias("_latest"))
    return df.join(latest, F.col("run_date") == F.col("_latest")).drop("_latest")


def segment_kpis(segments: DataFrame, run_date: dt.date) -> DataFrame:
    """Customers per RFM segment and per temperature, from the segments snapshot of ``run_date`` (or before)."""
    snapshot = snapshot_at(segments, run_date)
    return _counts(snapshot, {"customers_by_rfm_segment": F.col("rfm_segment"),
                              "customers_by_temperature": F.col("temperature")})


def audience_kpis(members: DataFrame, run_date: dt.date) -> DataFrame:
    """Members per audience and per audience and channel, from the audience snapshot of ``run_date``."""
    snapshot = members.where(F.col("run_date") == F.lit(run_date))
    return _counts(snapshot, {"audience_members": F.col("audience"),
                              "audience_members_by_channel": F.concat_ws("/", "audience", "channel")})


@dataclass
class KpiResult:
    #: ``run_date, kpi, dimension, value`` (see :data:`KPI_SNAPSHOTS`)
    kpis: DataFrame | None
    #: tables that were absent, so their KPIs are missing from this snapshot
    missing: list[str] = field(default_factory=list)
    #: KPI groups computed, by name
    groups: list[str] = field(default_factory=list)


#: group name -> (the table it needs, the function). ``records_by_source`` falls back to the crosswalk.
KPI_GROUPS: dict[str, tuple[str, Callable[..., DataFrame]]] = {
    "identity": (CROSSWALK, lambda df, run_date: identity_kpis(df)),
    "sources": (RECORDS, lambda df, run_date: source_kpis(df)),
    "contact": (CUSTOMER, lambda df, run_date: contact_kpis(df)),
    "segments": (SEGMENTS, segment_kpis),
    "audiences": (AUDIENCE_MEMBERS, audience_kpis),
}

#: Every table :func:`compute_kpis` can read.
KPI_TABLES: tuple[str, ...] = tuple(table for table, _ in KPI_GROUPS.values())


def compute_kpis(tables: Mapping[str, DataFrame | None], run_date: dt.date) -> KpiResult:
    """The KPI snapshot of ``run_date`` from whichever of :data:`KPI_TABLES` are given (None: absent).

    Example::

        result = compute_kpis({t: lake.read_or_none(t) for t in KPI_TABLES}, dt.date(2026, 10, 31))
    """
    if run_date is None:
        raise ValueError("compute_kpis: 'run_date' cannot be None")
    frames, missing, groups = [], [], []
    for group, (table, build) in KPI_GROUPS.items():
        df = tables.get(table)
        if df is None and group == "sources":
            df = tables.get(CROSSWALK)
        if df is None:
            missing.append(table)
            continue
        frames.append(build(df, run_date))
        groups.append(group)
    if not frames:
        return KpiResult(None, sorted(set(missing)), groups)
    union = reduce(DataFrame.unionByName, frames)
    kpis = union.select(F.lit(run_date).cast("date").alias("run_date"), "kpi", "dimension", "value")
    return KpiResult(kpis, sorted(set(missing)), groups)
