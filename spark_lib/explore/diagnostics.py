"""How matching went overall: how records were attached, how big customers are, the pairs the model was least
sure of, and the model's own charts.

Example::

    display(match_rule_breakdown(crosswalk))
    display(borderline_pairs(lake.read(tables.MATCH_PAIRS), 10))
"""

from __future__ import annotations

import logging
from typing import Any, Mapping

from pyspark.sql import DataFrame
from pyspark.sql import functions as F


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
