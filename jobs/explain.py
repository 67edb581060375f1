"""Explain: why a customer is what it is. Its records, the links between them, and for a pair of records the
comparisons and weights that decided it (Splink's waterfall).

    rcu explain --customer C3f9a0c2e71d84b5a6c01          records, links, splits and id events of a customer
    rcu explain --record crm_customers:CLI00003105        the same, for the customer holding that record
    rcu explain --pair crm_customers:CLI00003105 eshop_orders:CMD0000002755 [--html waterfall.html]
    rcu explain --customer C3f9a0c2e71d84b5a6c01 --json   machine-readable output
    spark-submit --py-files rcu.zip jobs/explain.py --lakehouse /data/lakehouse --customer C3f9a0c2e71d84b5a6c01

A customer is shown as:

- its records: ``gold.customer_crosswalk`` joined to ``silver.customer_records`` (how each was matched,
  name, birth date, email, mobile, postcode and city, loyalty card, account, cookie);
- the links between them: deterministic edges (``silver.deterministic_edges``: the rule and the shared
  value) and probabilistic pairs (``silver.match_pairs``: probability, weight, blocking rule and the level of
  each comparison); clustering links a pair at the threshold of ``conf/matching_rules.yaml``;
- the links from its records to other customers' records (what merge protection cut, or a pair below the
  threshold);
- the splits of its linked component (``gold.cluster_splits``) and its id events (``gold.customer_id_events``).

A pair is scored again by the champion model of the MLflow registry (``rcu-matching@champion``): the prior,
then per comparison its level, the two values, m, u, the Bayes factor and the match weight; they add up to
the pair's match weight. A record the model does not score (a cookie without a name, an order placed from
an account) is reported as such, with the deterministic links that joined it instead.

The job only reads. An unknown customer or record, a missing table or model ends with a message and exit
code 2. In a notebook::

    import argparse
    from jobs.common import build_context
    from jobs import explain

    ctx = build_context(argparse.Namespace(lakehouse="lakehouse"), "rcu-notebook")
    explain.customer_records(ctx, "C3f9a0c2e71d84b5a6c01").toPandas()
    links = explain.customer_links(ctx, "C3f9a0c2e71d84b5a6c01")   # dict of DataFrames
    links["probabilistic"].toPandas()
    pair = explain.explain_records_pair(ctx, "crm_customers:CLI00003105", "eshop_orders:CMD0000002755")
    pair["chart"]                                                  # Splink's waterfall chart
"""

from __future__ import annotations

import argparse
import datetime as dt
import json
import sys
from pathlib import Path
from typing import Any, Iterable, Mapping, Sequence

from pyspark.sql import DataFrame
from pyspark.sql import functions as F

from jobs import tracking
from jobs.common import JobContext, add_common_arguments, build_context
from jobs.match import CROSSWALK, DETERMINISTIC_EDGES, ID_EVENTS, MATCH_PAIRS, RECORDS, SPLITS
from spark_lib.matching import explain_pair, load_matching_config
from spark_lib.matching.clustering import load_clustering_config
from spark_lib.matching.probabilistic import MODEL_COLUMNS, MatchingConfig, model_input
from spark_lib.storage import TableNotFoundError

#: identifiers that link records without the model (``conf/matching_rules.yaml`` pivots)
PIVOT_COLUMNS = ("customer_ref", "account_id", "loyalty_card", "cookie_id", "email_std", "phone_mobile", "phone_landline")
#: a linked component is followed at most this many hops, or up to this many records (see customer_links)
MAX_COMPONENT_HOPS = 50
MAX_COMPONENT_RECORDS = 10_000


class ExplainError(LookupError):
    """What was asked cannot be explained: an unknown customer or record, no model. ``main`` exits with 2."""


class UnknownCustomerError(ExplainError):
    """The customer id is not in ``gold.customer_crosswalk``."""


class UnknownRecordError(ExplainError):
    """The record key is not in ``silver.customer_records`` or not matched yet."""


class ModelUnavailableError(ExplainError):
    """The champion model cannot be loaded from the MLflow registry."""


# --------------------------------------------------------------------------------------------------
# A customer: its records and their links
# --------------------------------------------------------------------------------------------------


def _text(display: str, std: str):
    """The display value, or the standardised one when the source gave none (both are strings)."""
    return F.coalesce(F.col(display), F.col(std))


def customer_record_keys(ctx: JobContext, customer_id: str) -> list[str]:
    """The record keys of ``customer_id`` in ``gold.customer_crosswalk``, sorted; raises UnknownCustomerError.

    Example::

        customer_record_keys(ctx, "C3f9a0c2e71d84b5a6c01")   # ['crm_customers:CLI00003105', ...]
    """
    if not customer_id:
        raise ValueError("customer_record_keys: 'customer_id' cannot be empty")
    crosswalk = ctx.lake.read(CROSSWALK)
    keys = sorted(r.record_key for r in crosswalk.where(F.col("customer_id") == customer_id).select("record_key").collect())
    if not keys:
        raise UnknownCustomerError(f"unknown customer {customer_id!r}: not in {CROSSWALK}{_retired_hint(ctx, customer_id)}")
    return keys


def _retired_hint(ctx: JobContext, customer_id: str) -> str:
    """``" (merged into C2 on ...)"`` when a merge retired the id, else ``""``."""
    events = ctx.lake.read_or_none(ID_EVENTS)
    if events is None:
        return ""
    row = (
        events.where((F.col("event_type") == "merge") & F.array_contains("other_ids", customer_id))
        .orderBy(F.col("event_time").desc())
        .select("event_time", "customer_id")
        .first()
    )
    if row is None:
        return ""
    return f" (merged into {row.customer_id} on {row.event_time:%Y-%m-%d %H:%M}: rcu explain --customer {row.customer_id})"


def customer_of_record(ctx: JobContext, record_key: str) -> str:
    """The customer id holding ``record_key``; raises UnknownRecordError (unknown, or not matched yet).

    Example::

        customer_of_record(ctx, "crm_customers:CLI00003105")   # 'C3f9a0c2e71d84b5a6c01'
    """
    if not record_key:
        raise ValueError("customer_of_record: 'record_key' cannot be empty")
    row = ctx.lake.read(CROSSWALK).where(F.col("record_key") == record_key).select("customer_id").first()
    if row is not None:
        return row.customer_id
    if ctx.lake.read(RECORDS).where(F.col("record_key") == record_key).limit(1).count():
        raise UnknownRecordError(f"record {record_key!r} is in {RECORDS} but not in {CROSSWALK} yet: run `rcu match`")
    raise UnknownRecordError(f"unknown record {record_key!r}: not in {RECORDS} (a key is '<source>:<source record id>')")


def customer_records(ctx: JobContext, customer_id: str, record_keys: Sequence[str] | None = None) -> DataFrame:
    """The records of a customer, one row each: how it was matched and who it says it is.

    Columns: record_key, source, source_record_id, channel, match_rule, match_probability, name,
    birth_date, email, phone_mobile, postcode, city, loyalty_card, account_id, cookie_id, customer_ref.
    Names, email and city are the source's display values, or the standardised ones when there are none.
    Raises UnknownCustomerError. ``record_keys`` (from :func:`customer_record_keys`) saves one lookup.

    Example::

        customer_records(ctx, "C3f9a0c2e71d84b5a6c01").show(truncate=False)
    """
    keys = list(record_keys) if record_keys is not None else customer_record_keys(ctx, customer_id)
    crosswalk = ctx.lake.read(CROSSWALK).where(F.col("customer_id") == customer_id)
    records = ctx.lake.read(RECORDS).where(F.col("record_key").isin(keys))
    name = F.concat_ws(" ", _text("first_name", "first_name_std"), _text("last_name", "last_name_std"))
    return (
        crosswalk.select("record_key", "source", "source_record_id", "channel", "match_rule", "match_probability")
        .join(
            records.select(
                "record_key",
                F.when(name != "", name).alias("name"),
                "birth_date",
                _text("email", "email_std").alias("email"),
                "phone_mobile",
                "postcode",
                _text("city", "city_std").alias("city"),
                "loyalty_card",
                "account_id",
                "cookie_id",
                "customer_ref",
            ),
            "record_key",
            "left",  # a crosswalk row whose silver record was erased still shows
        )
        .orderBy("source", "record_key")
    )


def customer_links(ctx: JobContext, customer_id: str, record_keys: Sequence[str] | None = None) -> dict[str, DataFrame]:
    """The links of a customer's records, as DataFrames by name:

    - ``deterministic``: edges between two of its records (record_key_l, record_key_r, rule, value);
    - ``probabilistic``: scored pairs between two of its records (record_key_l, record_key_r,
      match_probability, match_weight, blocking_rule, gamma_*, and ``above_threshold``: whether clustering
      links the pair, at the ``clustering.threshold`` of ``conf/matching_rules.yaml``);
    - ``to_other_customers``: deterministic edges and pairs above the threshold from one of its records to
      another customer's (record_key, other_record_key, other_customer_id, link, value, match_probability):
      links that merge protection cut;
    - ``splits``: the ``gold.cluster_splits`` rows of its linked component (the records reached from its
      own through deterministic edges and pairs above the threshold, which holds the component that was
      split whatever merge protection later cut);
    - ``id_events``: ``gold.customer_id_events`` naming it, as the customer or among ``other_ids``.

    Tables the match step has not written (no split yet) give empty DataFrames. Raises UnknownCustomerError.

    Example::

        links = customer_links(ctx, "C3f9a0c2e71d84b5a6c01")
        links["deterministic"].show(); links["probabilistic"].show()
    """
    keys = list(record_keys) if record_keys is not None else customer_record_keys(ctx, customer_id)
    threshold = _clustering_threshold(ctx)
    edges, pairs = _table(ctx, DETERMINISTIC_EDGES), _table(ctx, MATCH_PAIRS)
    left_in, right_in = F.col("record_key_l").isin(keys), F.col("record_key_r").isin(keys)
    gammas = [c for c in pairs.columns if c.startswith("gamma_")]

    deterministic = (
        edges.where(left_in & right_in).select("record_key_l", "record_key_r", "rule", "value")
        .orderBy("record_key_l", "record_key_r", "rule")
    )
    probabilistic = (
        pairs.where(left_in & right_in)
        .select("record_key_l", "record_key_r", "match_probability", "match_weight", "blocking_rule", *gammas,
                (F.col("match_probability") >= F.lit(threshold)).alias("above_threshold"))
        .orderBy(F.col("match_probability").desc(), "record_key_l", "record_key_r")
    )

    def outward(df: DataFrame, link, value, probability) -> DataFrame:
        one_end = df.where(left_in != right_in)
        return one_end.select(
            F.when(left_in, F.col("record_key_l")).otherwise(F.col("record_key_r")).alias("record_key"),
            F.when(left_in, F.col("record_key_r")).otherwise(F.col("record_key_l")).alias("other_record_key"),
            link.alias("link"), value.alias("value"), probability.alias("match_probability"),
        )

    crosswalk = ctx.lake.read(CROSSWALK).select(
        F.col("record_key").alias("other_record_key"), F.col("customer_id").alias("other_customer_id")
    )
    to_others = (
        outward(edges, F.concat(F.lit("deterministic:"), F.col("rule")), F.col("value"), F.lit(1.0))
        .unionByName(outward(pairs.where(F.col("match_probability") >= F.lit(threshold)), F.lit("probabilistic"),
                             F.lit(None).cast("string"), F.col("match_probability")))
        .join(crosswalk, "other_record_key", "left")
        .select("record_key", "other_record_key", "other_customer_id", "link", "value", "match_probability")
        .orderBy("record_key", "other_record_key", "link")
    )

    splits = _table(ctx, SPLITS)
    split_ids = {r.component_id for r in splits.select("component_id").distinct().collect()}
    component = linked_component(edges, pairs, keys, threshold) if split_ids else []  # no split: no search
    splits = splits.where(F.col("component_id").isin(sorted(split_ids & set(component)))).orderBy("run_time", "component_id")

    events = (
        _table(ctx, ID_EVENTS).where((F.col("customer_id") == customer_id) | F.array_contains("other_ids", customer_id))
        .select("event_time", "event_type", "customer_id", "other_ids", "records_affected", "reason")
        .orderBy("event_time", "event_type", "customer_id")
    )
    return {
        "deterministic": deterministic,
        "probabilistic": probabilistic,
        "to_other_customers": to_others,
        "splits": splits,
        "id_events": events,
    }


def linked_component(
    edges: DataFrame,
    pairs: DataFrame,
    record_keys: Iterable[str],
    threshold: float,
    *,
    max_hops: int = MAX_COMPONENT_HOPS,
    max_records: int = MAX_COMPONENT_RECORDS,
) -> list[str]:
    """The record keys reached from ``record_keys`` through deterministic ``edges`` and ``pairs`` at or above
    ``threshold`` (breadth first, one Spark job per hop), sorted; bounded by ``max_hops`` and ``max_records``.

    Example::

        linked_component(lake.read("silver.deterministic_edges"), lake.read("silver.match_pairs"), ["crm:C1"], 0.9)
    """
    links = edges.select("record_key_l", "record_key_r").unionByName(
        pairs.where(F.col("match_probability") >= F.lit(threshold)).select("record_key_l", "record_key_r")
    )
    seen = set(record_keys)
    frontier = set(seen)
    for _ in range(max_hops):
        if not frontier or len(seen) >= max_records:
            break
        wanted = sorted(frontier)
        rows = links.where(F.col("record_key_l").isin(wanted) | F.col("record_key_r").isin(wanted)).collect()
        frontier = {key for row in rows for key in row} - seen
        seen |= frontier
    return sorted(seen)


#: schemas of the tables ``rcu match`` writes, for a lakehouse where one is missing (no split logged yet)
_EMPTY = {
    DETERMINISTIC_EDGES: "record_key_l string, record_key_r string, rule string, value string",
    MATCH_PAIRS: "record_key_l string, record_key_r string, match_probability double, match_weight double, "
                 "blocking_rule string",
    SPLITS: "component_id string, size_before long, sizes_after array<long>, threshold double, reason string, "
            "run_time timestamp",
    ID_EVENTS: "event_time timestamp, event_type string, customer_id string, other_ids array<string>, "
               "records_affected long, reason string",
}


def _table(ctx: JobContext, table: str) -> DataFrame:
    """``table``, or an empty DataFrame of its columns when the match step has not written it."""
    df = ctx.lake.read_or_none(table)
    return df if df is not None else ctx.spark.createDataFrame([], _EMPTY[table])


def _clustering_threshold(ctx: JobContext) -> float:
    return load_clustering_config(ctx.conf_dir / "matching_rules.yaml").threshold


# --------------------------------------------------------------------------------------------------
# A pair: the model's comparisons and weights, or the deterministic links that joined it
# --------------------------------------------------------------------------------------------------


def _matching_config(ctx: JobContext) -> MatchingConfig:
    return load_matching_config(ctx.conf_dir / "matching.yaml")


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
    ctx: JobContext,
    key_l: str,
    key_r: str,
    model_json: Mapping[str, Any] | None = None,
    config: MatchingConfig | None = None,
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

    ``model_json`` defaults to the champion of the MLflow registry (pipeline.yaml ``mlflow_tracking_uri``),
    loaded only when both records are scored. Raises UnknownRecordError, ModelUnavailableError.

    Example::

        pair = explain_records_pair(ctx, "crm_customers:CLI00003105", "eshop_orders:CMD0000002755")
        [(s["comparison"], s["level"], round(s["match_weight"], 2)) for s in pair["steps"]]
    """
    if not key_l or not key_r:
        raise ValueError("explain_records_pair: 'key_l' and 'key_r' must be record keys")
    if key_l == key_r:
        raise ExplainError(f"a pair needs two different records, got {key_l!r} twice")
    config = config or _matching_config(ctx)
    keys = [key_l, key_r]
    both = lambda df: df.where(F.col("record_key_l").isin(keys) & F.col("record_key_r").isin(keys))  # noqa: E731
    silver = ctx.lake.read(RECORDS)
    rows = {r.record_key: r.asDict() for r in silver.where(F.col("record_key").isin(keys)).collect()}
    for key in keys:
        if key not in rows:
            raise UnknownRecordError(f"unknown record {key!r}: not in {RECORDS} (a key is '<source>:<source record id>')")
    crosswalk = ctx.lake.read(CROSSWALK).select("record_key", "customer_id", "match_rule")
    matched = {r.record_key: r.asDict() for r in crosswalk.where(F.col("record_key").isin(keys)).collect()}
    records = [matched.get(key, {"record_key": key, "customer_id": None, "match_rule": None}) for key in keys]
    customers = {r["customer_id"] for r in records}
    edges = _table(ctx, DETERMINISTIC_EDGES)
    stored = both(_table(ctx, MATCH_PAIRS)).first()
    result: dict[str, Any] = {
        "record_key_l": key_l,
        "record_key_r": key_r,
        "records": records,
        "same_customer": None if None in customers else len(customers) == 1,
        "direct_links": _rows(both(edges).select("record_key_l", "record_key_r", "rule", "value").orderBy("rule")),
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
                      linked_by=_rows(linked_by))
        return result

    if model_json is None:
        model_json = load_model(ctx)
    explanation = explain_pair(ctx.spark, silver, model_json, key_l, key_r, config)
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


def load_model(ctx: JobContext) -> dict[str, Any]:
    """The champion model JSON of the MLflow registry; raises ModelUnavailableError with the reason."""
    uri = ctx.pipeline.mlflow_tracking_uri
    try:
        return tracking.load_champion_model(tracking_uri=uri)
    except LookupError as error:
        raise ModelUnavailableError(f"{error} (tracking URI {uri}): run `rcu match` first") from error
    except Exception as error:  # noqa: BLE001 - a missing artifact, an unreachable server: say which, not a traceback
        raise ModelUnavailableError(
            f"cannot load the champion model from {uri}: {type(error).__name__}: {error}"
        ) from error


# --------------------------------------------------------------------------------------------------
# Output
# --------------------------------------------------------------------------------------------------


def _rows(df: DataFrame) -> list[dict[str, Any]]:
    return [r.asDict(recursive=True) for r in df.collect()]


def _cell(value: Any, width: int) -> str:
    if value is None:
        text = ""
    elif isinstance(value, bool):
        text = "yes" if value else "no"
    elif isinstance(value, float):
        text = f"{value:.3g}" if value and (abs(value) >= 1e5 or abs(value) < 1e-3) else f"{value:.4f}"
    elif isinstance(value, dt.datetime):
        text = value.strftime("%Y-%m-%d %H:%M:%S")
    elif isinstance(value, (list, tuple)):
        text = ", ".join(str(v) for v in value)
    else:
        text = str(value)
    return text if len(text) <= width else text[: width - 1] + "…"


def format_table(rows: Sequence[Mapping[str, Any]], columns: Sequence[str], *, headers: Mapping[str, str] | None = None,
                 max_width: int = 36, indent: str = "  ") -> str:
    """Rows as an aligned text table; ``(none)`` when there are no rows. Cells are cut at ``max_width``
    except record keys and component ids, which the reader copies into ``--pair`` or ``--record``."""
    if not rows:
        return f"{indent}(none)"
    headers = headers or {}
    widths_of = {c: 1_000 if "record_key" in c or c == "component_id" else max_width for c in columns}
    cells = [[_cell(row.get(c), widths_of[c]) for c in columns] for row in rows]
    titles = [headers.get(c, c) for c in columns]
    widths = [max(len(t), *(len(r[i]) for r in cells)) for i, t in enumerate(titles)]
    line = lambda values: indent + "  ".join(v.ljust(w) for v, w in zip(values, widths)).rstrip()  # noqa: E731
    return "\n".join([line(titles), line(["-" * w for w in widths]), *(line(r) for r in cells)])


RECORD_COLUMNS = ("record_key", "match_rule", "match_probability", "name", "birth_date", "email", "phone_mobile",
                  "postcode", "city", "loyalty_card", "account_id", "cookie_id")


def format_customer(customer_id: str, records: list[dict], links: Mapping[str, list[dict]], threshold: float,
                    selected: str | None = None) -> str:
    sources = {r["source"] for r in records}
    records = [{**r, "mark": "*" if r["record_key"] == selected else ""} for r in records]
    columns = ["mark", *RECORD_COLUMNS] if selected else list(RECORD_COLUMNS)
    probabilistic = links["probabilistic"]
    gammas = [c for c in (probabilistic[0] if probabilistic else {}) if c.startswith("gamma_")]
    out = [
        f"Customer {customer_id}: {len(records)} record(s) from {len(sources)} source(s) ({CROSSWALK} + {RECORDS})",
        format_table(records, columns, headers={"mark": "", "match_probability": "p", "phone_mobile": "mobile"}),
        "",
        f"Deterministic links between its records ({DETERMINISTIC_EDGES}): {len(links['deterministic'])}",
        format_table(links["deterministic"], ["record_key_l", "record_key_r", "rule", "value"]),
        "",
        f"Probabilistic pairs between its records ({MATCH_PAIRS}; clustering links p >= {threshold}): {len(probabilistic)}",
        format_table(probabilistic, ["record_key_l", "record_key_r", "match_probability", "match_weight", "blocking_rule",
                                     *gammas, "above_threshold"],
                     headers={"match_probability": "p", "match_weight": "weight", "above_threshold": "linked",
                              "blocking_rule": "blocked by", **{g: g[len("gamma_"):] for g in gammas}}),
        "",
        f"Links to other customers' records: {len(links['to_other_customers'])}",
        format_table(links["to_other_customers"], ["record_key", "other_record_key", "other_customer_id", "link", "value",
                                                   "match_probability"], headers={"match_probability": "p"}),
        "",
        f"Splits of its linked component ({SPLITS}): {len(links['splits'])}",
        format_table(links["splits"], ["run_time", "component_id", "size_before", "sizes_after", "reason", "threshold"]),
        "",
        f"Id events ({ID_EVENTS}): {len(links['id_events'])}",
        format_table(links["id_events"],
                     ["event_time", "event_type", "customer_id", "other_ids", "records_affected", "reason"],
                     max_width=60),
        "",
        "Explain a pair: rcu explain --pair <record_key_l> <record_key_r>",
    ]
    return "\n".join(out)


def format_pair(pair: Mapping[str, Any]) -> str:
    out = [f"Pair {pair['record_key_l']} ~ {pair['record_key_r']}"]
    for r in pair["records"]:
        where = f"customer {r['customer_id']} ({r['match_rule']})" if r.get("customer_id") else "not matched yet"
        out.append(f"  {r['record_key']}: {where}")
    if pair["same_customer"] is not None:
        out.append(f"  {'same customer' if pair['same_customer'] else 'different customers'}")
    stored = pair["stored_pair"]
    out.append(
        f"  last match run ({MATCH_PAIRS}): p {_cell(stored['match_probability'], 12)}, weight "
        f"{stored['match_weight']:.2f}, blocked by {stored['blocking_rule']}" if stored
        else f"  last match run ({MATCH_PAIRS}): not among the scored pairs (not blocked together, or below the "
             "prediction threshold)"
    )
    if pair["direct_links"]:
        shared = ", ".join(f"{e['rule']} = {e['value']}" for e in pair["direct_links"])
        out.append(f"  deterministic links between them: {shared}")
    out.append("")
    if not pair["scored"]:
        for key, reason in pair["not_scored"].items():
            out.append(f"{key} is not scored by the model: {reason}.")
        out.append(f"How it was linked instead ({DETERMINISTIC_EDGES}): {len(pair['linked_by'])} link(s)")
        out.append(format_table(pair["linked_by"], ["record_key_l", "record_key_r", "rule", "value", "customer_id_l",
                                                    "customer_id_r"]))
        return "\n".join(out)
    prior = pair["prior"]
    out.append(f"Comparisons and weights (champion model; prior: probability {prior['probability']:.3g} of two random "
               f"records matching, weight {prior['match_weight']:.2f}):")
    steps = [{**s, "match_weight": f"{s['match_weight']:+.2f}"} for s in pair["steps"]]
    out.append(format_table(steps, ["comparison", "level", "gamma", "value_l", "value_r", "m_probability", "u_probability",
                                    "bayes_factor", "match_weight"],
                            headers={"m_probability": "m", "u_probability": "u", "bayes_factor": "Bayes factor",
                                     "match_weight": "weight"}, max_width=40))
    out.append(f"Final: match weight {pair['match_weight']:.2f} (the sum of the weights above), "
               f"match probability {_cell(pair['match_probability'], 12)}")
    return "\n".join(out)


def render(result: Mapping[str, Any], *, as_json: bool = False) -> str:
    """What ``rcu explain`` prints for a :func:`run` result: text, or JSON (without the chart object)."""
    if as_json:
        return json.dumps({k: v for k, v in result.items() if k != "chart"}, indent=2, default=str, ensure_ascii=False)
    if "scored" in result:
        text = format_pair(result)
        if result.get("html"):
            text += f"\nWaterfall chart: {result['html']}"
        return text
    return format_customer(result["customer_id"], result["records"], result["links"], result["clustering_threshold"],
                           selected=result.get("record"))


# --------------------------------------------------------------------------------------------------
# Entry point
# --------------------------------------------------------------------------------------------------


def build_parser(parser: argparse.ArgumentParser | None = None) -> argparse.ArgumentParser:
    parser = parser or argparse.ArgumentParser(prog="rcu explain", description=__doc__,
                                               formatter_class=argparse.RawDescriptionHelpFormatter)
    add_common_arguments(parser)
    what = parser.add_mutually_exclusive_group(required=True)
    what.add_argument("--customer", metavar="CUSTOMER_ID", help="a customer id of gold.customer_crosswalk")
    what.add_argument("--record", metavar="RECORD_KEY", help="a record key ('<source>:<source record id>'): its customer")
    what.add_argument("--pair", nargs=2, metavar=("KEY_L", "KEY_R"),
                      help="two record keys: the model's comparisons and weights for them")
    parser.add_argument("--html", metavar="PATH", help="with --pair: write Splink's waterfall chart to this HTML file")
    parser.add_argument("--json", action="store_true", help="machine-readable output (JSON) on stdout")
    return parser


def run(ctx: JobContext, args: argparse.Namespace) -> dict[str, Any]:
    """What ``main`` prints, as a dict (JSON-ready except ``chart``)."""
    if args.pair:
        pair = explain_records_pair(ctx, *args.pair)
        if args.html and pair.get("chart") is not None:
            path = Path(args.html)
            path.parent.mkdir(parents=True, exist_ok=True)
            path.write_text(pair["chart"].to_html(inline=True), encoding="utf-8")  # opens without internet access
            pair["html"] = str(path)
        return pair
    customer_id = args.customer or customer_of_record(ctx, args.record)
    keys = customer_record_keys(ctx, customer_id)
    tables = {"records": customer_records(ctx, customer_id, keys), **customer_links(ctx, customer_id, keys)}
    rows = {name: _rows(df) for name, df in tables.items()}
    return {
        "customer_id": customer_id,
        "record": args.record,
        "clustering_threshold": _clustering_threshold(ctx),
        "records": rows.pop("records"),
        "links": rows,
    }


def main(argv: list[str] | None = None) -> dict[str, Any]:
    parser = build_parser()
    args = parser.parse_args(argv)
    if args.html and not args.pair:
        parser.error("--html goes with --pair")
    ctx = build_context(args, "rcu-explain")
    try:
        result = run(ctx, args)
    except (ExplainError, TableNotFoundError) as error:
        print(f"rcu explain: error: {error}", file=sys.stderr)
        raise SystemExit(2) from error
    print(render(result, as_json=args.json))
    if args.html and not result.get("html"):
        print("No waterfall chart: the model does not score this pair.", file=sys.stderr)
    return result


if __name__ == "__main__":
    main()
