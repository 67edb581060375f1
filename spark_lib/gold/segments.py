"""Segments: RFM segment and engagement temperature per customer, kept as dated snapshots.

Both are rule tables in ``conf/gold.yaml``, read top to bottom: the first rule a customer matches names
their segment; a customer matching none gets the section's ``default``.

``rfm_segments``
    each rule gives inclusive ``[min, max]`` ranges of ``r``, ``f``, ``m`` scores (an omitted score matches
    any value). Scores are 1..5 among buyers and 0 for customers who never bought
    (:func:`spark_lib.gold.customer360.rfm_scores`), so ``r: [0, 0]`` catches prospects.
``temperature``
    each rule gives ``max_activity_days`` (the customer's last activity at most this many days before the
    run date; omitted: any, including never) and ``min_recent_actions`` (at least this many actions in the
    360's engagement window: purchases, carts, visits, email opens and clicks, calls). From hot to cold:
    ``brûlant``, ``chaud``, ``tiède``, ``froid``, ``glacé``.

``gold.customer_segments`` holds one snapshot per run date (``run_date, customer_id, rfm_segment,
temperature, r_score, f_score, m_score``); re-running a date replaces that date's snapshot
(``replaceWhere``) and leaves the others. :func:`segment_movements` counts customers from one segment to
another between two snapshots.

Example::

    snapshot = assign_segments(c360, config.rfm_segments, config.temperature)
    segment_movements(lake.read(tables.SEGMENTS), date(2026, 9, 30), date(2026, 10, 31))
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass

from pyspark.sql import Column, DataFrame
from pyspark.sql import functions as F

from spark_lib.config import ConfigError
from spark_lib.gold.survivorship import require_columns

SEGMENT_COLUMNS: tuple[str, ...] = ("run_date", "customer_id", "rfm_segment", "temperature", "r_score", "f_score", "m_score")


def _check_range(name: str, bounds: tuple[int, ...] | None) -> None:
    if bounds is None:
        return
    if len(bounds) != 2 or bounds[0] > bounds[1] or bounds[0] < 0:
        raise ConfigError(f"{name}: expected [min, max] with 0 <= min <= max, got {list(bounds)}")


@dataclass(frozen=True)
class RfmSegmentRule:
    """One row of the RFM rule table: inclusive score ranges (None: any score)."""

    name: str
    r: tuple[int, ...] | None = None
    f: tuple[int, ...] | None = None
    m: tuple[int, ...] | None = None

    def __post_init__(self) -> None:
        for score in ("r", "f", "m"):
            _check_range(score, getattr(self, score))

    def condition(self) -> Column:
        condition = F.lit(True)
        for score in ("r", "f", "m"):
            bounds = getattr(self, score)
            if bounds is not None:
                condition = condition & F.col(f"{score}_score").between(bounds[0], bounds[1])
        return condition


@dataclass(frozen=True)
class RfmSegmentsConfig:
    """Section ``rfm_segments`` of ``conf/gold.yaml``."""

    rules: tuple[RfmSegmentRule, ...]
    default: str = "others"

    def __post_init__(self) -> None:
        if not self.rules:
            raise ConfigError("rules: give at least one rule")


@dataclass(frozen=True)
class TemperatureRule:
    """One row of the temperature rule table."""

    name: str
    max_activity_days: int | None = None
    min_recent_actions: int = 0

    def __post_init__(self) -> None:
        if self.max_activity_days is not None and self.max_activity_days < 0:
            raise ConfigError(f"max_activity_days: must be 0 or more, got {self.max_activity_days}")
        if self.min_recent_actions < 0:
            raise ConfigError(f"min_recent_actions: must be 0 or more, got {self.min_recent_actions}")

    def condition(self) -> Column:
        condition = F.col("recent_actions") >= F.lit(self.min_recent_actions)
        if self.max_activity_days is not None:
            # never active (null) matches no rule with a recency bound
            condition = condition & F.coalesce(F.col("activity_recency_days") <= self.max_activity_days, F.lit(False))
        return condition


@dataclass(frozen=True)
class TemperatureConfig:
    """Section ``temperature`` of ``conf/gold.yaml``."""

    rules: tuple[TemperatureRule, ...]
    default: str = "glacé"

    def __post_init__(self) -> None:
        if not self.rules:
            raise ConfigError("rules: give at least one rule")


def _first_match(rules, default: str) -> Column:
    expression = None
    for rule in rules:
        expression = (F.when(rule.condition(), F.lit(rule.name)) if expression is None
                      else expression.when(rule.condition(), F.lit(rule.name)))
    return expression.otherwise(F.lit(default))


def assign_segments(customer_360: DataFrame, rfm: RfmSegmentsConfig, temperature: TemperatureConfig) -> DataFrame:
    """A snapshot row per customer of ``customer_360`` (columns :data:`SEGMENT_COLUMNS`).

    Example::

        assign_segments(lake.read("gold.customer_360"), config.rfm_segments, config.temperature)
    """
    require_columns(
        customer_360,
        ["run_date", "customer_id", "r_score", "f_score", "m_score", "recent_actions", "activity_recency_days"],
        "customer_360",
    )
    return customer_360.select(
        "run_date",
        "customer_id",
        _first_match(rfm.rules, rfm.default).alias("rfm_segment"),
        _first_match(temperature.rules, temperature.default).alias("temperature"),
        "r_score",
        "f_score",
        "m_score",
    )


def segment_movements(
    snapshots: DataFrame, from_date: dt.date, to_date: dt.date, column: str = "rfm_segment"
) -> DataFrame:
    """Customers moving between segments from one snapshot to another: ``from_segment, to_segment, customers``.

    ``column`` is ``rfm_segment`` or ``temperature``. A customer absent from a snapshot has a null segment
    on that side (new customers: null ``from_segment``; customers gone: null ``to_segment``). Customers who
    stayed appear too (``from_segment = to_segment``).

    Example::

        segment_movements(lake.read(tables.SEGMENTS), date(2026, 9, 30), date(2026, 10, 31))
    """
    if column not in ("rfm_segment", "temperature"):
        raise ValueError(f"'column' in segment_movements must be 'rfm_segment' or 'temperature', got {column!r}")
    require_columns(snapshots, ["run_date", "customer_id", column], "snapshots")

    def side(day: dt.date, alias: str) -> DataFrame:
        return snapshots.where(F.col("run_date") == F.lit(day).cast("date")).select(
            "customer_id", F.col(column).alias(alias)
        )

    return (
        side(from_date, "from_segment")
        .join(side(to_date, "to_segment"), "customer_id", "full_outer")
        .groupBy("from_segment", "to_segment")
        .agg(F.count(F.lit(1)).alias("customers"))
    )
