"""The review queue: after each match run, the pairs of records worth a data steward's look.

Every match run that changes something (full or incremental; an ``unchanged`` run leaves it) rewrites
``gold.review_queue`` (:data:`spark_lib.schemas.REVIEW_QUEUE`) from the tables it left. A pair is queued for
one or more reasons:

``score_band``
    the model scored it between ``review.lower`` and ``review.upper`` (``conf/matching_rules.yaml``), a band
    around ``clustering.threshold``: the pairs the threshold decides by a hair (only the pairs
    ``silver.match_pairs`` keeps, at or above ``probabilistic.threshold_match_probability``);
``protection_split``
    merge protection or cannot-link re-forming cut a component into several customers: per pair of parts,
    the strongest edge between them (at or above the clustering threshold, and not two records that cannot
    link);
``long_chain``
    a customer held by a chain: one of at least ``review.long_chain_min_cores`` deterministic cores (a lone
    record is a core of one) whose graph of links between cores (probabilistic edges at or above the
    threshold, and the steward's must-links) has two cores ``review.long_chain_min_hops`` links apart or
    more. The pair queued is the two ends of that longest shortest path (its diameter; ties: the smallest
    record keys), each core standing as its smallest record_key. Merge protection bounds such a customer's
    size (``clustering.max_cluster_size``), not its length: A-B-C-D-E of weak links, each pair above the
    threshold, puts A and E together though nothing compared them directly;
``generic_value``
    two records linked, at the last run, through a pivot value this run classified generic, that are now in
    different customers (was the value the person's after all?);
``decision_stale``
    a decision whose records changed since it was taken: not applied (:mod:`spark_lib.matching.overrides`),
    asked again;
``sample``
    a pair of ``gold.review_sample`` (drawn to estimate precision) without a current decision.

A pair with a current (not stale) *same* or *different* decision is left out; one whose current decision is
*unsure* stays, at half its priority.

Priority (higher first; the queue keeps the ``review.max_pairs`` highest, ties by pair_id)::

    priority = weight(reasons) * (1 + closeness) * log2(1 + records) * (0.5 if unsure else 1)

- ``weight``: the sum over its reasons of :data:`REASON_WEIGHTS` (decision_stale 4, protection_split 3,
  generic_value 3, long_chain 2, sample 2, score_band 1): a decision already taken and doubted, or a cut the
  pipeline made alone, before a score near the line;
- ``closeness = 1 / (1 + |match_weight - threshold_weight|)``, the match weights in bits (log2 odds;
  ``threshold_weight`` is the clustering threshold's): 1 on the line, 0.5 one bit away; 0 when the model does
  not score the pair;
- ``records``: the records of the customers the pair's decision would move (its two customers; one when
  both records are in the same): a decision that merges or splits big customers moves more.

Each row shows both records' display values (:data:`DISPLAY_COLUMNS`, standardised value where the source
gave none) as JSON objects, and the comparisons (one per model comparison: its level, the level's match
weight from the model's m and u, and the two values compared) as ``rcu explain --pair`` lists them, from the
gamma columns ``silver.match_pairs`` stored. :func:`review_rows` builds these rows for any pairs (the
precision sampler shows its sample with it).

The queue is three Spark queries: the candidates, the ``max_pairs`` of highest priority, the rows written (the
long chains are one grouped pandas call over the few customers of several cores).

Example::

    rows = review_rows(sample_pairs, records, crosswalk, lake.read(tables.MATCH_PAIRS), model_json)
    queue = review_queue(ReviewInputs(...), rules.review, rules.clustering, model_json, run_time)
"""

from __future__ import annotations

import functools
import math
import os
from collections import deque
from dataclasses import dataclass
from typing import Any, Mapping

import pandas as pd
from pyspark.sql import Column, DataFrame, Window
from pyspark.sql import functions as F

from spark_lib.columns import require_columns
from spark_lib.config import ConfigError, read_section
from spark_lib.matching.clustering import STEWARD_RULE, ClusteringConfig, drop_cannot_link_edges
from spark_lib.matching.deterministic import DEFAULT_RULES_FILE, read_rules_section
from spark_lib.matching.incremental import record_hash
from spark_lib.schemas import REVIEW_QUEUE

#: why a pair is queued, in the order a row lists them
REASONS = ("decision_stale", "protection_split", "generic_value", "long_chain", "sample", "score_band")
#: each reason's share of a pair's priority (see the module docstring)
REASON_WEIGHTS = {"decision_stale": 4.0, "protection_split": 3.0, "generic_value": 3.0, "long_chain": 2.0,
                  "sample": 2.0, "score_band": 1.0}
#: the factor of a pair whose current decision is ``unsure``
UNSURE_FACTOR = 0.5

#: the columns of a record the queue shows, as their display value (or the standardised one when the source
#: gave none): what ``rcu explain`` shows of a record
DISPLAY_COLUMNS: dict[str, tuple[str, ...]] = {
    "source": ("source",), "channel": ("channel",), "civility": ("civility",),
    "first_name": ("first_name", "first_name_std"), "last_name": ("last_name", "last_name_std"),
    "birth_name": ("birth_name", "birth_name_std"), "birth_date": ("birth_date",),
    "email": ("email", "email_std"), "phone_mobile": ("phone_mobile",), "phone_landline": ("phone_landline",),
    "house_number": ("house_number",), "street": ("street", "street_std"), "address_extra": ("address_extra",),
    "postcode": ("postcode",), "city": ("city", "city_std"), "country": ("country",),
    "loyalty_card": ("loyalty_card",), "account_id": ("account_id",), "customer_ref": ("customer_ref",),
    "cookie_id": ("cookie_id",), "record_time": ("record_time",),
}
#: model comparison -> the displayed fields it compares (joined by a space, " / " between phones)
COMPARISON_FIELDS: dict[str, tuple[str, ...]] = {
    "first_name": ("first_name",), "last_name": ("last_name", "birth_name"), "birth_date": ("birth_date",),
    "email": ("email",), "phone": ("phone_mobile", "phone_landline"), "address": ("house_number", "street"),
    "postcode_city": ("postcode", "city"),
}


@dataclass(frozen=True)
class ReviewConfig:
    """Section ``review`` of ``conf/matching_rules.yaml``."""

    #: the score band: pairs scored between these match probabilities are queued (around clustering.threshold)
    lower: float = 0.99
    upper: float = 0.9999
    #: the queue keeps this many pairs, highest priority first
    max_pairs: int = 5000
    #: a customer of at least this many deterministic cores (a lone record is one) may be a long chain...
    long_chain_min_cores: int = 4
    #: ... when two of its cores are this many links apart or more
    long_chain_min_hops: int = 3

    def __post_init__(self) -> None:
        if not 0.0 <= self.lower <= self.upper <= 1.0:
            raise ConfigError(f"lower, upper: {self.lower}, {self.upper} must be probabilities with lower <= upper")
        if self.max_pairs < 1:
            raise ConfigError("max_pairs: must be at least 1")
        if self.long_chain_min_cores < 3:
            raise ConfigError("long_chain_min_cores: must be at least 3 (two cores are one link apart)")
        if self.long_chain_min_hops < 2:
            raise ConfigError("long_chain_min_hops: must be at least 2 (one link is a direct link)")


def load_review_config(path: str | os.PathLike | None = None) -> ReviewConfig:
    """Section ``review`` of ``conf/matching_rules.yaml`` (or of ``path``)."""
    file = str(path or DEFAULT_RULES_FILE)
    return read_section(ReviewConfig, read_rules_section("review", path), "review", file)


# --------------------------------------------------------------------------------------------------
# The rows a person reads: both records side by side
# --------------------------------------------------------------------------------------------------


def comparison_levels(model_json: Mapping[str, Any] | None) -> dict[str, dict[int, tuple[str, float]]]:
    """comparison -> gamma -> (level label, match weight) of a Splink model JSON, the null level included
    (gamma -1, weight 0); as :func:`~spark_lib.matching.probabilistic.explanation.m_u_table` numbers them."""
    levels: dict[str, dict[int, tuple[str, float]]] = {}
    for comparison in (model_json or {}).get("comparisons", []):
        name = comparison["output_column_name"]
        gamma = len([lv for lv in comparison["comparison_levels"] if not lv.get("is_null_level")]) - 1
        levels[name] = {}
        for level in comparison["comparison_levels"]:
            label = level.get("label_for_charts", level.get("sql_condition", ""))
            if level.get("is_null_level"):
                levels[name][-1] = (label, 0.0)
                continue
            m, u = level.get("m_probability"), level.get("u_probability")
            weight = math.log2(m / u) if m and u else None
            levels[name][gamma] = (label, weight)
            gamma -= 1
    return levels


def _display(record: str) -> Column:
    """The struct of a record's displayed values (``record``: the prefix of its columns, ``l_`` or ``r_``)."""
    return F.struct(*(F.col(f"{record}{name}").alias(name) for name in DISPLAY_COLUMNS))


def prior_weight(model_json: Mapping[str, Any] | None) -> float | None:
    """The model's prior as a match weight: log2 of the odds that two random records match, where the
    waterfall of a pair's weights starts."""
    lam = (model_json or {}).get("probability_two_random_records_match")
    return math.log2(lam / (1 - lam)) if lam and 0 < lam < 1 else None


def _comparisons(gammas: list[str], levels: dict[str, dict[int, tuple[str, float]]], prior: float | None = None) -> Column:
    """The JSON list of a scored pair's comparisons (null for a pair the model did not score), the model's
    prior first (comparison ``prior``): they add up to the pair's match weight, term-frequency adjustments
    apart."""
    items = []
    if prior is not None and gammas:
        items.append(F.struct(
            F.lit("prior").alias("comparison"),
            F.lit("probability that two random records match").alias("level"),
            F.lit(prior).cast("double").alias("match_weight"),
            F.lit(None).cast("string").alias("value_l"),
            F.lit(None).cast("string").alias("value_r"),
        ))
    for column in gammas:
        name = column[len("gamma_"):]
        known = levels.get(name, {})
        label = F.create_map(*(x for g, (lab, _) in known.items() for x in (F.lit(g), F.lit(lab)))) if known else None
        weight = F.create_map(*(x for g, (_, w) in known.items() for x in (F.lit(g), F.lit(w).cast("double")))) if known else None
        fields = COMPARISON_FIELDS.get(name, ())
        sep = " / " if name == "phone" else " "

        def value(side: str, fields=fields, sep=sep) -> Column:
            if not fields:
                return F.lit(None).cast("string")
            text = F.concat_ws(sep, *(F.col(f"{side}{f}").cast("string") for f in fields))
            return F.when(text != "", text)

        items.append(F.struct(
            F.lit(name).alias("comparison"),
            (F.element_at(label, F.col(column)) if label is not None else F.col(column).cast("string")).alias("level"),
            (F.element_at(weight, F.col(column)) if weight is not None else F.lit(None).cast("double")).alias("match_weight"),
            value("l_").alias("value_l"),
            value("r_").alias("value_r"),
        ))
    if not items:
        return F.lit(None).cast("string")
    return F.when(F.col("_scored"), F.to_json(F.array(*items), {"ignoreNullFields": "false"}))


def review_rows(pairs: DataFrame, records: DataFrame, crosswalk: DataFrame | None = None,
                scored: DataFrame | None = None, model_json: Mapping[str, Any] | None = None) -> DataFrame:
    """The display columns of :data:`~spark_lib.schemas.REVIEW_QUEUE` for any ``pairs`` (record_key_l,
    record_key_r, and any other columns, kept): pair_id, record_key_l < record_key_r (a pair given the other
    way round is turned), match_probability, match_weight, customer_id_l, customer_id_r, record_l, record_r
    (JSON), comparisons (JSON, null when the model did not score the pair), record_hash_l, record_hash_r.

    ``records``: silver.customer_records (a pair whose record it lacks is left out); ``crosswalk``: the
    customers (null ids without it); ``scored``: silver.match_pairs (scores and gamma columns);
    ``model_json``: the model that scored them (its levels' labels and weights). Lazy.

    Example::

        rows = review_rows(sample.select("record_key_l", "record_key_r"), lake.read(tables.CUSTOMER_RECORDS),
                           lake.read(tables.CROSSWALK), lake.read(tables.MATCH_PAIRS), model_json)
    """
    require_columns(pairs, ["record_key_l", "record_key_r"], "pairs")
    require_columns(records, ["record_key", *{c for cs in DISPLAY_COLUMNS.values() for c in cs}], "records")
    extra = [c for c in pairs.columns if c not in ("record_key_l", "record_key_r")]
    low, high = F.least("record_key_l", "record_key_r"), F.greatest("record_key_l", "record_key_r")
    pairs = pairs.select(low.alias("record_key_l"), high.alias("record_key_r"), *extra)
    # only the records the pairs name are hashed and shown (not the whole table, joined afterwards)
    named = pairs.select(F.col("record_key_l").alias("record_key")).unionByName(
        pairs.select(F.col("record_key_r").alias("record_key")))
    records = records.join(named, "record_key", "left_semi")
    shown = records.select(
        "record_key", record_hash(records).alias("record_hash"),
        *(F.coalesce(*(F.col(c) for c in columns)).alias(name) for name, columns in DISPLAY_COLUMNS.items()),
    )
    side = lambda s: shown.select(*(F.col(c).alias(f"{s}{c}") for c in shown.columns))  # noqa: E731
    out = pairs.join(side("l_"), F.col("record_key_l") == F.col("l_record_key")).join(
        side("r_"), F.col("record_key_r") == F.col("r_record_key"))
    gammas: list[str] = []
    if scored is not None:
        require_columns(scored, ["record_key_l", "record_key_r", "match_probability", "match_weight"], "scored")
        gammas = [c for c in scored.columns if c.startswith("gamma_")]
        out = out.join(scored.select("record_key_l", "record_key_r", "match_probability", "match_weight", *gammas,
                                     F.lit(True).alias("_scored")), ["record_key_l", "record_key_r"], "left")
    else:
        out = out.select("*", F.lit(None).cast("double").alias("match_probability"),
                         F.lit(None).cast("double").alias("match_weight"), F.lit(None).cast("boolean").alias("_scored"))
    if crosswalk is not None:
        require_columns(crosswalk, ["record_key", "customer_id"], "crosswalk")
        out = out.join(crosswalk.select(F.col("record_key").alias("record_key_l"), F.col("customer_id").alias("customer_id_l")),
                       "record_key_l", "left").join(
            crosswalk.select(F.col("record_key").alias("record_key_r"), F.col("customer_id").alias("customer_id_r")),
            "record_key_r", "left")
    else:
        out = out.select("*", F.lit(None).cast("string").alias("customer_id_l"),
                         F.lit(None).cast("string").alias("customer_id_r"))
    as_json = lambda s: F.to_json(_display(s), {"ignoreNullFields": "false"})  # noqa: E731
    return out.select(
        F.concat_ws("|", "record_key_l", "record_key_r").alias("pair_id"),
        "record_key_l", "record_key_r",
        F.col("match_probability").cast("double").alias("match_probability"),
        F.col("match_weight").cast("double").alias("match_weight"),
        "customer_id_l", "customer_id_r",
        as_json("l_").alias("record_l"), as_json("r_").alias("record_r"),
        _comparisons(gammas, comparison_levels(model_json), prior_weight(model_json)).alias("comparisons"),
        F.col("l_record_hash").alias("record_hash_l"), F.col("r_record_hash").alias("record_hash_r"),
        *extra,
    )


# --------------------------------------------------------------------------------------------------
# Why a pair is queued
# --------------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class ReviewInputs:
    """The tables a match run left, that the queue reads (all as the run left them)."""

    #: silver.customer_records
    records: DataFrame
    #: silver.match_pairs (scores and gamma columns)
    pairs: DataFrame
    #: silver.matched_records (record_key, core_id, component_id, cluster_id)
    state: DataFrame
    #: gold.customer_crosswalk
    crosswalk: DataFrame
    #: current decisions (:attr:`spark_lib.matching.overrides.Decisions.current`)
    decisions: DataFrame
    #: silver.generic_values now, and as the last run left it (None: no last run)
    generic_values: DataFrame | None = None
    generic_values_before: DataFrame | None = None
    #: silver.deterministic_edges as the last run left them (None: no last run)
    edges_before: DataFrame | None = None
    #: gold.review_sample, when there is one
    sample: DataFrame | None = None


def _pairs(df: DataFrame, reason: str) -> DataFrame:
    low, high = F.least("record_key_l", "record_key_r"), F.greatest("record_key_l", "record_key_r")
    return df.select(low.alias("record_key_l"), high.alias("record_key_r"), F.lit(reason).alias("reason"))


def _linking_edges(inputs: ReviewInputs, clustering: ClusteringConfig) -> DataFrame:
    """record_key_l, record_key_r, p: the probabilistic edges that may link (at or above the threshold, not
    two records that cannot link nor a steward's *different*), and the steward's must-links (p 1)."""
    strong = inputs.pairs.where(F.col("match_probability") >= clustering.threshold).select(
        "record_key_l", "record_key_r", F.col("match_probability").alias("p"))
    if clustering.cannot_link:
        strong = drop_cannot_link_edges(strong, inputs.records, clustering)
    in_force = inputs.decisions.where(~F.col("stale"))
    strong = strong.join(in_force.where(F.col("decision") == "different").select("record_key_l", "record_key_r"),
                         ["record_key_l", "record_key_r"], "left_anti")
    must = in_force.where(F.col("decision") == "same").select("record_key_l", "record_key_r", F.lit(1.0).alias("p"))
    return strong.unionByName(must)


def _with_places(edges: DataFrame, state: DataFrame) -> DataFrame:
    """``edges`` with core, component and cluster of both ends (suffixes _l, _r)."""
    places = state.select("record_key", "core_id", "component_id", "cluster_id")
    side = lambda s: places.select(*(F.col(c).alias(f"{c}_{s}" if c != "record_key" else f"record_key_{s}")  # noqa: E731
                                     for c in places.columns))
    return edges.join(side("l"), "record_key_l").join(side("r"), "record_key_r")


def protection_splits(linking: DataFrame, state: DataFrame) -> DataFrame:
    """record_key_l, record_key_r: per pair of customers cut from one component, the strongest edge between them."""
    return _protection_splits(_with_places(linking, state))


def _protection_splits(placed: DataFrame) -> DataFrame:
    cut = placed.where((F.col("component_id_l") == F.col("component_id_r")) & (F.col("cluster_id_l") != F.col("cluster_id_r")))
    parts = [F.least("cluster_id_l", "cluster_id_r"), F.greatest("cluster_id_l", "cluster_id_r")]
    first = F.row_number().over(Window.partitionBy(*parts).orderBy(F.desc("p"), "record_key_l", "record_key_r"))
    return cut.select("record_key_l", "record_key_r", first.alias("_n")).where("_n = 1").drop("_n")


def long_chains(linking: DataFrame, state: DataFrame, config: ReviewConfig) -> DataFrame:
    """record_key_l, record_key_r, hops: per customer of at least ``long_chain_min_cores`` cores, the two
    ends of its longest shortest path between cores, when ``long_chain_min_hops`` links or more (module
    docstring). One grouped pandas call per such customer."""
    return _long_chains(_with_places(linking, state), state, config)


def _long_chains(placed: DataFrame, state: DataFrame, config: ReviewConfig) -> DataFrame:
    inside = placed.where((F.col("cluster_id_l") == F.col("cluster_id_r")) & (F.col("core_id_l") != F.col("core_id_r")))
    edges = inside.select(F.col("cluster_id_l").alias("cluster_id"), F.least("core_id_l", "core_id_r").alias("a"),
                          F.greatest("core_id_l", "core_id_r").alias("b")).distinct()
    # Two cores long_chain_min_hops links apart take at least as many links: only the customers with that many
    # have their cores counted (not every customer of the state).
    linked = edges.groupBy("cluster_id").count().where(F.col("count") >= config.long_chain_min_hops).select("cluster_id")
    cores = state.join(F.broadcast(linked), "cluster_id", "left_semi").groupBy("cluster_id").agg(
        F.countDistinct("core_id").alias("cores"))
    wide = cores.where(F.col("cores") >= config.long_chain_min_cores).select("cluster_id")
    min_hops = config.long_chain_min_hops

    def diameter(pdf):   # a plain function: Spark reads no type hints from a functools.partial
        return _diameter(min_hops, pdf)

    return (edges.join(wide, "cluster_id", "left_semi").groupBy("cluster_id")
            .applyInPandas(diameter, "record_key_l string, record_key_r string, hops long"))


def _diameter(min_hops: int, edges: pd.DataFrame) -> pd.DataFrame:
    """The two cores farthest apart (breadth-first from every core) of one customer's links between cores."""
    neighbours: dict[str, set[str]] = {}
    for a, b in zip(edges["a"], edges["b"]):
        neighbours.setdefault(a, set()).add(b)
        neighbours.setdefault(b, set()).add(a)
    best = (0, "", "")
    for start in sorted(neighbours):
        seen = {start: 0}
        queue = deque([start])
        while queue:
            node = queue.popleft()
            for nxt in neighbours[node]:
                if nxt not in seen:
                    seen[nxt] = seen[node] + 1
                    queue.append(nxt)
        for end, hops in seen.items():
            if end > start and (hops > best[0] or (hops == best[0] and (start, end) < best[1:])):
                best = (hops, start, end)
    rows = [best[1:] + (best[0],)] if best[0] >= min_hops else []
    return pd.DataFrame(rows, columns=["record_key_l", "record_key_r", "hops"])


def newly_generic_pairs(inputs: ReviewInputs) -> DataFrame | None:
    """record_key_l, record_key_r: the last run's deterministic edges on a value generic since, whose records
    are now in different customers (None without a last run, or when no value became generic)."""
    if inputs.edges_before is None or inputs.generic_values_before is None or inputs.generic_values is None:
        return None
    keys = ["pivot", "value"]
    # a few hundred generic values at 1M persons, and most days none new: looked at before the edges are read
    new = inputs.generic_values.select(*keys).join(inputs.generic_values_before.select(*keys), keys, "left_anti").collect()
    if not new:
        return None
    values = inputs.generic_values.sparkSession.createDataFrame(new, "rule string, value string")
    linked = inputs.edges_before.join(F.broadcast(values), ["rule", "value"], "left_semi").localCheckpoint()
    ends = linked.select(F.col("record_key_l").alias("record_key")).unionByName(
        linked.select(F.col("record_key_r").alias("record_key"))).distinct()
    customer = inputs.crosswalk.join(F.broadcast(ends), "record_key", "left_semi").select("record_key", "customer_id")
    return (linked.join(customer.select(F.col("record_key").alias("record_key_l"), F.col("customer_id").alias("c_l")),
                        "record_key_l")
            .join(customer.select(F.col("record_key").alias("record_key_r"), F.col("customer_id").alias("c_r")),
                  "record_key_r")
            .where(F.col("c_l") != F.col("c_r")).select("record_key_l", "record_key_r"))


def review_candidates(inputs: ReviewInputs, config: ReviewConfig, clustering: ClusteringConfig) -> DataFrame:
    """record_key_l < record_key_r, reason: every reason every pair has to be queued (module docstring)."""
    band = inputs.pairs.where(F.col("match_probability").between(config.lower, config.upper))
    # the linking edges with their records' places, read by two reasons: computed once
    placed = _with_places(_linking_edges(inputs, clustering), inputs.state).localCheckpoint()
    found = [
        _pairs(band, "score_band"),
        _pairs(_protection_splits(placed), "protection_split"),
        _pairs(_long_chains(placed, inputs.state, config), "long_chain"),
        _pairs(inputs.decisions.where(F.col("stale")), "decision_stale"),
    ]
    generic = newly_generic_pairs(inputs)
    if generic is not None:
        found.append(_pairs(generic, "generic_value"))
    if inputs.sample is not None:
        found.append(_pairs(inputs.sample, "sample"))
    return functools.reduce(DataFrame.unionByName, found)


def review_queue(inputs: ReviewInputs, config: ReviewConfig, clustering: ClusteringConfig,
                 model_json: Mapping[str, Any] | None, queued_at) -> DataFrame:
    """``gold.review_queue`` rows (:data:`~spark_lib.schemas.REVIEW_QUEUE`) of a match run: the candidates
    (:func:`review_candidates`) without the pairs a current same/different decision settles, prioritised, the
    ``max_pairs`` first, shown (:func:`review_rows`). Computes the candidates and the pairs kept; the rows are
    lazy, computed when written."""
    # The candidates are computed first: planned as one query with the rows that show them, the queue took
    # twice as long, nearly all of it in Spark's optimiser (a 400-person lakehouse: 10.7-12.7 s, against 5.1-5.7 s).
    candidates = review_candidates(inputs, config, clustering).localCheckpoint()
    reasons = candidates.groupBy("record_key_l", "record_key_r").agg(F.collect_set("reason").alias("_reasons"))
    ordered = F.filter(F.array(*(F.lit(r) for r in REASONS)), lambda r: F.array_contains(F.col("_reasons"), r))
    settled = inputs.decisions.where(F.col("decision").isin("same", "different") & ~F.col("stale"))
    unsure = inputs.decisions.where((F.col("decision") == "unsure") & ~F.col("stale")).select(
        "record_key_l", "record_key_r", F.lit(True).alias("_unsure"))
    queued = (reasons.join(settled.select("record_key_l", "record_key_r"), ["record_key_l", "record_key_r"], "left_anti")
              .join(unsure, ["record_key_l", "record_key_r"], "left")
              .select("record_key_l", "record_key_r", ordered.alias("reasons"), "_unsure"))
    # Ranked on what the priority needs (scores, customers' sizes), then only the pairs kept are shown: showing
    # every candidate (90,000 at 1M persons, for 5,000 kept) joined the display columns of their records first.
    # A pair whose record silver no longer holds is not in the crosswalk either: it takes no place.
    customer = inputs.crosswalk.select("record_key", "customer_id")
    sizes = customer.groupBy("customer_id").agg(F.count(F.lit(1)).alias("n"))
    side = lambda s: customer.select(F.col("record_key").alias(f"record_key_{s}"),  # noqa: E731
                                     F.col("customer_id").alias(f"customer_id_{s}"))
    size = lambda s: sizes.select(F.col("customer_id").alias(f"customer_id_{s}"), F.col("n").alias(f"n_{s}"))  # noqa: E731
    scored = (queued.join(inputs.pairs.select("record_key_l", "record_key_r", "match_weight"),
                          ["record_key_l", "record_key_r"], "left")
              .join(side("l"), "record_key_l").join(side("r"), "record_key_r")
              .join(size("l"), "customer_id_l", "left").join(size("r"), "customer_id_r", "left"))
    records = F.coalesce(F.col("n_l"), F.lit(1)) + F.when(
        F.col("customer_id_l").eqNullSafe(F.col("customer_id_r")), F.lit(0)).otherwise(F.coalesce(F.col("n_r"), F.lit(1)))
    t = min(max(clustering.threshold, 1e-12), 1 - 1e-12)
    threshold_weight = math.log2(t / (1 - t))
    closeness = F.coalesce(1 / (1 + F.abs(F.col("match_weight").cast("double") - F.lit(threshold_weight))), F.lit(0.0))
    weight = F.aggregate(F.col("reasons"), F.lit(0.0),
                         lambda acc, r: acc + F.element_at(_weights_map(), r))
    priority = (weight * (1 + closeness) * F.log2(1 + records)
                * F.when(F.col("_unsure"), F.lit(UNSURE_FACTOR)).otherwise(F.lit(1.0)))
    pair_id = F.concat_ws("|", "record_key_l", "record_key_r")
    kept = (scored.select("record_key_l", "record_key_r", "reasons", priority.alias("priority"), pair_id.alias("_id"))
            .orderBy(F.desc("priority"), "_id").limit(config.max_pairs).drop("_id").localCheckpoint())
    rows = review_rows(kept, inputs.records, inputs.crosswalk, inputs.pairs, model_json)
    ranked = rows.orderBy(F.desc("priority"), "pair_id")
    out = ranked.select(*(
        F.lit(queued_at).cast("timestamp").alias(f.name) if f.name == "queued_at" else F.col(f.name).cast(f.dataType).alias(f.name)
        for f in REVIEW_QUEUE.fields
    ))
    return out


def _weights_map() -> Column:
    return F.create_map(*(x for r, w in REASON_WEIGHTS.items() for x in (F.lit(r), F.lit(w))))


__all__ = [
    "COMPARISON_FIELDS", "DISPLAY_COLUMNS", "REASONS", "REASON_WEIGHTS", "ReviewConfig", "ReviewInputs",
    "STEWARD_RULE", "comparison_levels", "load_review_config", "long_chains", "newly_generic_pairs",
    "protection_splits", "review_candidates", "review_queue", "review_rows",
]
