"""Views for the notebooks: one customer's records and events, matching diagnostics, segment movements.

The notebooks in ``notebooks/`` only read tables, call these functions and display the results, so that
everything they compute is reachable by tests. Like every module of ``spark_lib``, these functions take
DataFrames and return DataFrames (or small Python values) and do no I/O.

Example::

    customer_id = largest_customer(crosswalk)
    display(customer_records(records, crosswalk, customer_id))
    display(customer_timeline({"orders": orders, "receipts": receipts}, crosswalk, customer_id))
"""

from __future__ import annotations

import logging
from functools import reduce
from typing import Any, Mapping, Sequence

from pyspark.sql import DataFrame
from pyspark.sql import functions as F

#: Columns of a source record worth showing next to its customer (display values, not matching keys).
RECORD_COLUMNS: tuple[str, ...] = (
    "civility", "first_name", "last_name", "birth_date", "email", "phone_mobile", "phone_landline",
    "house_number", "street", "postcode", "city", "loyalty_card", "account_id", "customer_ref",
    "consent_email", "consent_sms", "consent_postal", "record_time", "quality_flags",
)


def largest_customer(crosswalk: DataFrame) -> str | None:
    """The customer gathering the most source records (the smallest id among ties); None for an empty crosswalk."""
    row = crosswalk.groupBy("customer_id").count().orderBy(F.desc("count"), "customer_id").first()
    return row.customer_id if row else None


def customer_records(records: DataFrame, crosswalk: DataFrame, customer_id: str) -> DataFrame:
    """The source records of one customer with how each was matched, oldest source first."""
    if not customer_id:
        raise ValueError("customer_records: 'customer_id' cannot be empty")
    links = crosswalk.where(F.col("customer_id") == customer_id).select(
        "record_key", "customer_id", "match_rule", "match_probability"
    )
    shown = [c for c in RECORD_COLUMNS if c in records.columns]
    return (
        links.join(records.select("record_key", "source", "channel", *shown), "record_key", "left")
        .select("customer_id", "record_key", "source", "channel", "match_rule", "match_probability", *shown)
        .orderBy("source", "record_key")
    )


def customer_timeline(interactions: Mapping[str, DataFrame], crosswalk: DataFrame, customer_id: str) -> DataFrame:
    """Every interaction of one customer, latest first.

    Columns: ``event_time, table, event_type, detail, amount, record_key``.
    """
    if not interactions:
        raise ValueError("customer_timeline: 'interactions' cannot be empty")
    keys = crosswalk.where(F.col("customer_id") == customer_id).select("record_key")
    frames = [
        df.join(keys, "record_key").select(
            "event_time",
            F.lit(table).alias("table"),
            "event_type",
            F.concat_ws(" ", "campaign_id", "page", "product", "store_id", "order_id").alias("detail"),
            "amount",
            "record_key",
        )
        for table, df in interactions.items()
    ]
    return reduce(DataFrame.unionByName, frames).orderBy(F.desc("event_time"), "table")


def match_rule_breakdown(crosswalk: DataFrame) -> DataFrame:
    """``match_rule, records, share``: how the crosswalk's records were attached to their customer."""
    total = crosswalk.count()
    return (
        crosswalk.groupBy("match_rule")
        .agg(F.count("*").alias("records"))
        .withColumn("share", F.round(F.col("records") / F.lit(max(total, 1)), 4))
        .orderBy(F.desc("records"))
    )


def cluster_size_distribution(crosswalk: DataFrame) -> DataFrame:
    """``records_per_customer, customers``: how many customers gather 1, 2, 3... source records."""
    return (
        crosswalk.groupBy("customer_id")
        .agg(F.count("*").alias("records_per_customer"))
        .groupBy("records_per_customer")
        .agg(F.count("*").alias("customers"))
        .orderBy("records_per_customer")
    )


def borderline_pairs(pairs: DataFrame, n: int = 10) -> DataFrame:
    """The ``n`` scored pairs the model was least sure of (lowest match probability above the threshold)."""
    if n < 1:
        raise ValueError(f"borderline_pairs: 'n' must be at least 1, got {n}")
    return pairs.select("record_key_l", "record_key_r", "match_probability", "match_weight", "blocking_rule").orderBy(
        "match_probability", "record_key_l", "record_key_r"
    ).limit(n)


def model_charts_html(model_json: Mapping[str, Any], config) -> dict[str, str]:
    """Splink's match-weight and m/u charts of a model JSON (e.g. the registered champion), as HTML documents.

    The charts need only the model, not the records: they are drawn by an in-process DuckDB linker over an
    empty input table, whichever backend trained the model.
    """
    import pandas as pd
    from splink import DuckDBAPI, Linker, SettingsCreator

    from spark_lib.matching.probabilistic import MODEL_COLUMNS, model_charts, settings_for_dialect

    if not model_json or "comparisons" not in model_json:
        raise ValueError("model_charts_html: 'model_json' must be a Splink model (a dict with 'comparisons')")
    settings = dict(model_json)
    if settings.get("sql_dialect") != "duckdb":
        settings = settings_for_dialect(settings, config, "duckdb")
    empty = pd.DataFrame({column: pd.Series(dtype="object") for column in MODEL_COLUMNS})
    linker = Linker(DuckDBAPI().register(empty), SettingsCreator.from_path_or_dict(settings), log_level=logging.WARNING)
    return model_charts(linker)


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
