"""Explanation of a trained model: why one pair scores what it scores, and what the model learnt.

- :func:`explain_pair` scores one pair on Spark and breaks its match weight down by comparison (Splink's
  waterfall), for a data steward asking why two records were or were not linked;
- :func:`m_u_table` lists every level's m, u, Bayes factor and match weight from the model JSON alone,
  without Spark or a linker (MLflow, notebooks);
- :func:`model_charts` renders Splink's charts of the training linker as standalone HTML.

Example::

    explanation = explain_pair(spark, records, model.model_json, "crm:C001", "eshop_accounts:A17")
    rows = m_u_table(model.model_json)
    charts = model_charts(model.linker)          # {'match_weights': '<html>...', ...}
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from typing import Any, Mapping

from pyspark.sql import DataFrame, SparkSession
from pyspark.sql import functions as F

from spark_lib.matching.probabilistic.config import UNIQUE_ID, MatchingConfig, load_matching_config
from spark_lib.matching.probabilistic.scoring import _spark_api, _spark_linker, _table_name, model_input
from spark_lib.matching.probabilistic.splink_internals import has_em_sessions


@dataclass
class PairExplanation:
    """Why a pair scores what it scores: the prior, then one step per comparison (and term-frequency step)."""

    record_key_l: str
    record_key_r: str
    match_weight: float
    match_probability: float
    #: dicts with comparison, level, gamma, value_l, value_r, m_probability, u_probability, bayes_factor, match_weight
    steps: list[dict[str, Any]]
    #: Splink's waterfall chart (``.to_html()``)
    chart: Any = field(default=None, repr=False)


def explain_pair(
    spark: SparkSession,
    records_df: DataFrame,
    model_json: Mapping[str, Any],
    key_l: str,
    key_r: str,
    config: MatchingConfig | None = None,
) -> PairExplanation:
    """Score one pair of records and break its match weight down by comparison (Splink's waterfall).

    Term frequencies are those of all of ``records_df``, as when scoring. The steps' match weights add up
    to the pair's match weight.

    Example::

        explanation = explain_pair(spark, records, model_json, "crm:C001", "eshop_accounts:A17")
        [(s["comparison"], s["level"], round(s["match_weight"], 1)) for s in explanation.steps]
    """
    if not key_l or not key_r:
        raise ValueError("explain_pair: 'key_l' and 'key_r' must be record keys")
    config = config or load_matching_config()
    records = model_input(records_df, config)
    found = {row[UNIQUE_ID] for row in records.where(F.col(UNIQUE_ID).isin(key_l, key_r)).select(UNIQUE_ID).collect()}
    for key in (key_l, key_r):
        if key not in found:
            raise ValueError(f"explain_pair: no record {key!r} among the records the model scores")
    db_api = _spark_api(spark, config)
    linker = _spark_linker(
        spark, records, model_json, config, db_api=db_api,
        retain_matching_columns=True, retain_intermediate_calculation_columns=True,
    )
    left, right = (
        db_api.register(records.where(F.col(UNIQUE_ID) == key), table_name=_table_name("record")) for key in (key_l, key_r)
    )
    scored = linker.inference.score_pair(left, right).as_record_list()
    chart = linker.visualisations.waterfall_chart(scored, filter_nulls=False)
    steps = [
        {
            "comparison": r["column_name"],
            "level": r["label_for_charts"],
            "gamma": r["comparison_vector_value"],
            "value_l": r["value_l"],
            "value_r": r["value_r"],
            "m_probability": r["m_probability"],
            "u_probability": r["u_probability"],
            "bayes_factor": r["bayes_factor"],
            "match_weight": r["log2_bayes_factor"],
        }
        for r in chart.raw_records
        if r["column_name"] != "Final score"
    ]
    record = scored[0]
    return PairExplanation(
        record_key_l=key_l,
        record_key_r=key_r,
        match_weight=float(record["match_weight"]),
        match_probability=float(record["match_probability"]),
        steps=steps,
        chart=chart,
    )


def model_charts(linker, *, inline: bool = True) -> dict[str, str]:
    """Splink's diagnostic charts of a trained linker as standalone HTML documents, by name.

    ``inline`` embeds the Vega libraries, so that the files open without internet access (about 1 MB each).
    """
    if linker is None:
        raise ValueError("model_charts: 'linker' cannot be None (use TrainedModel.linker)")
    charts = {
        "match_weights": linker.visualisations.match_weights_chart(),
        "m_u_parameters": linker.visualisations.m_u_parameters_chart(),
    }
    if has_em_sessions(linker):
        charts["parameter_estimate_comparisons"] = linker.visualisations.parameter_estimate_comparisons_chart()
    return {name: chart.to_html(inline=inline) for name, chart in charts.items()}


def m_u_table(model_json: Mapping[str, Any]) -> list[dict[str, Any]]:
    """One row per comparison level (null levels excluded): m, u, Bayes factor and match weight.

    ``gamma`` is the level's index as in :func:`.scoring.predict_pairs`' ``gamma_<comparison>`` columns
    (highest for the first, most exact, level). Levels without a trained m or u have no Bayes factor.
    """
    if not model_json or "comparisons" not in model_json:
        raise ValueError("m_u_table: model_json must be a Splink model (a dict with 'comparisons'), e.g. TrainedModel.model_json")
    rows = []
    for comparison in model_json["comparisons"]:
        gamma = len([lv for lv in comparison["comparison_levels"] if not lv.get("is_null_level")]) - 1
        for level in comparison["comparison_levels"]:
            if level.get("is_null_level"):
                continue
            m, u = level.get("m_probability"), level.get("u_probability")
            bayes_factor = m / u if m is not None and u else None
            rows.append(
                {
                    "comparison": comparison["output_column_name"],
                    "gamma": gamma,
                    "level": level.get("label_for_charts", level["sql_condition"]),
                    "m_probability": m,
                    "u_probability": u,
                    "bayes_factor": bayes_factor,
                    "match_weight": math.log2(bayes_factor) if bayes_factor else None,
                }
            )
            gamma -= 1
    return rows
