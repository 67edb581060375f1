"""Segments over run dates: their distribution, the customers' movements between two snapshots, and what each
segment's customers look like.

Example::

    dates = run_dates(segments)
    display(segment_distribution(segments, "temperature", TEMPERATURES))
    display(segment_profile(segments, customer_360, dates[-1]))
"""

from __future__ import annotations

from typing import Sequence

from pyspark.sql import DataFrame
from pyspark.sql import functions as F


def run_dates(snapshots: DataFrame) -> list:
    """The run dates of a snapshot table (``gold.customer_segments``, ``gold.kpi_snapshots``...), oldest first."""
    return [r.run_date for r in snapshots.select("run_date").distinct().orderBy("run_date").collect()]


def segment_distribution(
    segments: DataFrame, column: str = "temperature", order: Sequence[str] | None = None
) -> DataFrame:
    """Customers per ``column`` value (columns) at each run date (rows)."""
    if column not in ("rfm_segment", "temperature"):
        raise ValueError(f"segment_distribution: 'column' must be 'rfm_segment' or 'temperature', got {column!r}")
    pivoted = segments.groupBy("run_date").pivot(column, list(order) if order else None).count()
    return pivoted.na.fill(0).orderBy("run_date")


def movement_matrix(movements: DataFrame, order: Sequence[str]) -> DataFrame:
    """``segment_movements`` output as a matrix: one row per segment before, one column per segment after.

    Customers new in the later snapshot are the row ``(new)``; those gone from it, the column ``(gone)``.
    """
    labelled = movements.select(
        F.coalesce("from_segment", F.lit("(new)")).alias("from"),
        F.coalesce("to_segment", F.lit("(gone)")).alias("to"),
        "customers",
    )
    matrix = labelled.groupBy("from").pivot("to", [*order, "(gone)"]).sum("customers").na.fill(0)
    rank = F.array_position(F.array(*[F.lit(s) for s in (*order, "(new)")]), F.col("from"))
    return matrix.orderBy(rank)


def segment_profile(segments: DataFrame, customer_360: DataFrame, run_date, column: str = "temperature") -> DataFrame:
    """Per segment of the ``run_date`` snapshot: customers and their mean recency, frequency and spend."""
    snapshot = segments.where(F.col("run_date") == F.lit(run_date).cast("date"))
    measures = customer_360.select("customer_id", "recency_days", "frequency", "monetary")
    return (
        snapshot.join(measures, "customer_id", "left")
        .groupBy(column)
        .agg(
            F.count("*").alias("customers"),
            F.round(F.avg("recency_days"), 1).alias("mean_recency_days"),
            F.round(F.avg("frequency"), 2).alias("mean_frequency"),
            F.round(F.avg("monetary"), 2).alias("mean_monetary"),
        )
        .orderBy(F.desc("customers"))
    )
