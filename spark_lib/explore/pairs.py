"""Two records: why they are (or are not) one person.

A pair is scored again by a Splink model (by default the champion of the MLflow registry,
``rcu-matching@champion``): the prior, then per comparison its level, the two values, m, u, the Bayes factor
and the match weight; they add up to the pair's match weight. A record the model does not score (a cookie
without a name, an order placed from an account) is reported as such, with the deterministic links that
joined it instead.

Example::

    pair = explain_records_pair(lake, "crm_customers:CLI00003105", "eshop_orders:CMD0000002755", config,
                                tracking_uri="sqlite:///mlflow.db")
    [(s["comparison"], s["level"], round(s["match_weight"], 2)) for s in pair["steps"]]
    pair["chart"]                                     # Splink's waterfall chart
"""

from __future__ import annotations

from typing import Any, Mapping

from pyspark.sql import functions as F

from spark_lib import tables, tracking
from spark_lib.explore.customers import ExplainError, UnknownRecordError, collect_rows, optional_table
from spark_lib.matching import MatchingConfig, explain_pair
from spark_lib.matching.probabilistic import MODEL_COLUMNS, model_input
from spark_lib.storage import Lakehouse

#: identifiers that link records without the model (``conf/matching_rules.yaml`` pivots)
PIVOT_COLUMNS = ("customer_ref", "account_id", "loyalty_card", "cookie_id", "email_std", "phone_mobile", "phone_landline")


class ModelUnavailableError(ExplainError):
    """The champion model cannot be loaded from the MLflow registry."""


def load_model(tracking_uri: str | None, model_name: str = tracking.DEFAULT_MODEL_NAME) -> dict[str, Any]:
    """The champion model JSON of the MLflow registry at ``tracking_uri``; raises ModelUnavailableError with
    the reason (no champion yet, a missing artifact, an unreachable server) rather than MLflow's traceback."""
    try:
        return tracking.load_champion_model(model_name, tracking_uri=tracking_uri)
    except LookupError as error:
        raise ModelUnavailableError(f"{error} (tracking URI {tracking_uri}): run `rcu match` first") from error
    except Exception as error:  # noqa: BLE001 - say which, not a traceback
        raise ModelUnavailableError(
            f"cannot load the champion model from {tracking_uri}: {type(error).__name__}: {error}"
        ) from error


def not_scored_reason(record: Mapping[str, Any], config: MatchingConfig) -> str:
    """Why :func:`model_input` leaves a record out, in words (``record``: a silver.customer_records row as a dict).

    Example::

        not_scored_reason({"source": "web_events", "cookie_id": "K1", ...}, config)
        # 'not enough identity for the model: it needs first_name_std + last_name_std, or ...; it has cookie_id'
    """
    contact = getattr(config.probabilistic, "contact_records", None)
    if contact is not None and record.get("source") in contact.sources:
        owners = [c for c in contact.owner_columns if record.get(c) is not None]
        if owners:
            column = owners[0]
            return (
                f"a record of {record['source']} placed from {column} {record[column]}: its name, address and phone "
                f"may be a recipient's, so the model leaves it out and the deterministic step links it on {column} "
                "(probabilistic.contact_records in conf/matching.yaml)"
            )
    groups = " or ".join(" + ".join(group) for group in config.probabilistic.min_identity)
    present = [c for c in (*MODEL_COLUMNS[1:], *PIVOT_COLUMNS) if record.get(c) is not None]
    present = list(dict.fromkeys(present))
    return (
        f"not enough identity for the model: it needs {groups} "
        f"(probabilistic.min_identity); it has {', '.join(present) if present else 'none of the matching fields'}"
    )


def explain_records_pair(
    lake: Lakehouse,
    key_l: str,
    key_r: str,
    config: MatchingConfig,
    model_json: Mapping[str, Any] | None = None,
    *,
    tracking_uri: str | None = None,
    model_name: str = tracking.DEFAULT_MODEL_NAME,
) -> dict[str, Any]:
    """Why two records are (or are not) one person, as a dict.

    Always: ``record_key_l``, ``record_key_r``; ``records`` (per record: record_key, customer_id and
    match_rule from the crosswalk, or None before matching); ``same_customer``; ``direct_links`` (the
    deterministic edges between the two); ``stored_pair`` (the silver.match_pairs row of the last match
    run, None when the pair was not blocked, scored below the prediction threshold, or not scored because the
    deterministic step already put both records in one core); ``scored``.

    When the model scores both records (``scored`` true): ``prior`` (probability and match weight),
    ``steps`` (the prior, then per comparison and term-frequency adjustment: comparison, level, gamma,
    value_l, value_r, m_probability, u_probability, bayes_factor, match_weight; they add up to the
    pair's match weight), ``match_weight``, ``match_probability`` and ``chart`` (Splink's waterfall chart:
    ``chart.to_html()``). Otherwise: ``not_scored`` (record key -> reason) and ``linked_by`` (the
    deterministic edges of each record left out, with the other end's customer).

    ``model_json`` defaults to the champion of the MLflow registry at ``tracking_uri``, loaded only when both
    records are scored. Raises UnknownRecordError, ModelUnavailableError.

    Example::

        pair = explain_records_pair(lake, "crm_customers:CLI00003105", "eshop_orders:CMD0000002755", config, model_json)
        [(s["comparison"], s["level"], round(s["match_weight"], 2)) for s in pair["steps"]]
    """
    if not key_l or not key_r:
        raise ValueError("explain_records_pair: 'key_l' and 'key_r' must be record keys")
    if key_l == key_r:
        raise ExplainError(f"a pair needs two different records, got {key_l!r} twice")
    keys = [key_l, key_r]
    both = lambda df: df.where(F.col("record_key_l").isin(keys) & F.col("record_key_r").isin(keys))  # noqa: E731
    silver = lake.read(tables.CUSTOMER_RECORDS)
    rows = {r.record_key: r.asDict() for r in silver.where(F.col("record_key").isin(keys)).collect()}
    for key in keys:
        if key not in rows:
            raise UnknownRecordError(
                f"unknown record {key!r}: not in {tables.CUSTOMER_RECORDS} (a key is '<source>:<source record id>')"
            )
    crosswalk = lake.read(tables.CROSSWALK).select("record_key", "customer_id", "match_rule")
    matched = {r.record_key: r.asDict() for r in crosswalk.where(F.col("record_key").isin(keys)).collect()}
    records = [matched.get(key, {"record_key": key, "customer_id": None, "match_rule": None}) for key in keys]
    customers = {r["customer_id"] for r in records}
    edges = optional_table(lake, tables.DETERMINISTIC_EDGES)
    stored = both(optional_table(lake, tables.MATCH_PAIRS)).first()
    result: dict[str, Any] = {
        "record_key_l": key_l,
        "record_key_r": key_r,
        "records": records,
        "same_customer": None if None in customers else len(customers) == 1,
        "direct_links": collect_rows(both(edges).select("record_key_l", "record_key_r", "rule", "value").orderBy("rule")),
        "stored_pair": stored.asDict() if stored is not None else None,
    }

    model_records = model_input(silver.where(F.col("record_key").isin(keys)), config)
    scored = {r.record_key for r in model_records.select("record_key").collect()}
    left_out = [key for key in keys if key not in scored]
    if left_out:
        customer = lambda side: crosswalk.select(F.col("record_key").alias(f"record_key_{side}"),  # noqa: E731
                                                 F.col("customer_id").alias(f"customer_id_{side}"))
        linked_by = (
            edges.where(F.col("record_key_l").isin(left_out) | F.col("record_key_r").isin(left_out))
            .join(customer("l"), "record_key_l", "left")
            .join(customer("r"), "record_key_r", "left")
            .select("record_key_l", "record_key_r", "rule", "value", "customer_id_l", "customer_id_r")
            .orderBy("record_key_l", "record_key_r", "rule")
        )
        result.update(scored=False, not_scored={key: not_scored_reason(rows[key], config) for key in left_out},
                      linked_by=collect_rows(linked_by))
        return result

    if model_json is None:
        model_json = load_model(tracking_uri, model_name)
    explanation = explain_pair(lake.spark, silver, model_json, key_l, key_r, config)
    prior = next((s for s in explanation.steps if s["comparison"] == "Prior"), None)
    result.update(
        scored=True,
        prior={
            "probability": float(model_json["probability_two_random_records_match"]),
            "match_weight": prior["match_weight"] if prior else None,
        },
        steps=explanation.steps,
        match_weight=explanation.match_weight,
        match_probability=explanation.match_probability,
        chart=explanation.chart,
    )
    return result
