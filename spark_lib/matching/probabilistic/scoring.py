"""Scoring on Spark: which records the model sees, the pre-flight on their pairs, and the scored pairs.

Scoring (:func:`predict_pairs`) always runs on Spark and returns a Spark DataFrame of scored pairs,
whichever backend trained the model: a model JSON rendered for another dialect is re-rendered for Spark
(:func:`~.comparisons.settings_for_dialect`). The blocking rules are operational, not model parameters: they
always come from the config, whose limits :func:`preflight` enforces before any pair is scored.

The records Splink sees are :func:`model_input`: the model columns only, and only records with enough
identity to be matched (``probabilistic.min_identity``); records whose identity fields may name someone
else (``probabilistic.contact_records``) are left to the deterministic step.

Example::

    config = load_matching_config()
    inputs = model_input(records, config).persist()
    preflight(spark, records, config, inputs=inputs)              # {'email': 1204, 'mobile': 388, ...}
    pairs = predict_pairs(spark, records, model.model_json, config, inputs=inputs)

Term frequencies are frozen with the model: :func:`term_frequencies` computes them once on the records a
model first scores, the match job stores them beside the model's key (:func:`model_key`) in the lakehouse
and hands them back to every later scoring, so that a pair scored today and the same pair scored in a later
run get the same weight. :func:`predict_changed_pairs` scores only the pairs a day's new or changed records
make, with Splink's ``predict_between`` (changed against the others) and ``predict_within`` (changed among
themselves), which require the frozen tables.
"""

from __future__ import annotations

import hashlib
import json
import logging
import uuid
from typing import Any, Mapping

from pyspark.sql import DataFrame, SparkSession, Window
from pyspark.sql import functions as F

from spark_lib.matching.blocking import check_comparison_limits, count_comparisons
from spark_lib.matching.deterministic import require_columns
from spark_lib.matching.probabilistic.comparisons import settings_for_dialect
from spark_lib.matching.probabilistic.config import MODEL_COLUMNS, UNIQUE_ID, MatchingConfig

#: the deterministic core of a record in :func:`predict_pairs`' input, when it leaves linked pairs out
CORE_COLUMN = "rcu_core_id"


def model_input(records: DataFrame, config: MatchingConfig) -> DataFrame:
    """The records Splink sees: model columns only, and only records with enough identity to be matched.

    Cookie-only or email-event-only records carry no name, birth date or phone; the deterministic step
    links them on their identifiers, and here they would only inflate the pair counts. Records of
    ``contact_records.sources`` that carry an owner column are left out too (see :class:`ContactRecords`).
    """
    contact = config.probabilistic.contact_records
    needed = [*MODEL_COLUMNS, *((["source", *contact.owner_columns]) if contact.sources else [])]
    missing = [c for c in needed if c not in records.columns]
    if missing:
        raise ValueError(f"model_input: records lack column(s) {', '.join(missing)} (see spark_lib.schemas.CUSTOMER_RECORDS)")
    if contact.sources and contact.owner_columns:
        owned = F.lit(False)
        for column in contact.owner_columns:
            owned = owned | F.col(column).isNotNull()
        records = records.where(~(F.col("source").isin(*contact.sources) & owned))
    keep = None
    for group in config.probabilistic.min_identity:
        condition = None
        for column in group:
            present = F.col(column).isNotNull()
            condition = present if condition is None else condition & present
        keep = condition if keep is None else keep | condition
    return records.select(*MODEL_COLUMNS).where(keep)


def _model_records(records_df: DataFrame, config: MatchingConfig, inputs: DataFrame | None) -> DataFrame:
    """The caller's :func:`model_input` of ``records_df`` when it has one (persisted), else a fresh one."""
    return inputs if inputs is not None else model_input(records_df, config)


def _spark_api(spark: SparkSession, config: MatchingConfig):
    """Splink's Spark backend on ``spark``, materialising as ``probabilistic.spark_break_lineage`` says."""
    from splink import SparkAPI

    # Splink persists its intermediate tables; "persist" keeps them in executor memory, which suits local
    # runs, while "parquet"/"delta_lake_table" (with a checkpoint dir) suit clusters: see the config.
    return SparkAPI(spark_session=spark, break_lineage_method=config.probabilistic.spark_break_lineage)


def _spark_linker(
    spark: SparkSession,
    records: DataFrame,
    model_json: Mapping[str, Any],
    config: MatchingConfig,
    db_api=None,
    blocking_rules: list | None = None,
    frequencies: DataFrame | None = None,
    **overrides,
):
    """A Spark linker scoring ``records`` with the trained ``model_json`` (of any backend: re-rendered for Spark).

    ``db_api``: the Spark API to register on (a fresh one by default; pass one to register more tables on
    it). ``blocking_rules``: Splink rules, by default those of ``config.blocking``. ``frequencies``: frozen
    term frequencies (:func:`term_frequencies`), registered instead of computed. ``overrides``: settings
    set on the model (e.g. ``retain_matching_columns=True``).
    """
    from splink import Linker, SettingsCreator

    if not model_json or "comparisons" not in model_json:
        raise ValueError("model_json must be a Splink model (a dict with 'comparisons'), e.g. TrainedModel.model_json")
    if model_json.get("sql_dialect", "spark") != "spark":
        model_json = settings_for_dialect(model_json, config, "spark")
    settings = SettingsCreator.from_path_or_dict(dict(model_json))
    # Blocking is operational, not a model parameter: it always comes from the config the pre-flight checked.
    settings.blocking_rules_to_generate_predictions = blocking_rules or [r.splink_rule() for r in config.blocking.rules]
    for key, value in overrides.items():
        setattr(settings, key, value)
    db_api = db_api or _spark_api(spark, config)
    linker = Linker(db_api.register(records, table_name=_table_name("input")), settings, log_level=logging.WARNING)
    if frequencies is not None:
        _register_term_frequencies(linker, db_api, frequencies, config)
    return linker


def model_key(model_json: Mapping[str, Any]) -> str:
    """A short stable key of a model's parameters: the term frequencies frozen with it are stored under it."""
    return hashlib.sha256(json.dumps(model_json, sort_keys=True, default=str).encode()).hexdigest()[:16]


def term_frequencies(inputs: DataFrame, config: MatchingConfig) -> DataFrame:
    """column, value, tf: each value's share of the non-null values of its column, for every term-frequency
    column of the model (Splink's own formula), over ``inputs`` (:func:`model_input`), in one Spark job."""
    columns = list(config.probabilistic.comparisons.term_frequency_columns)
    if not columns:
        return inputs.sparkSession.createDataFrame([], TERM_FREQUENCIES_DDL)
    unfolded = inputs.select(F.inline(F.array(*(
        F.struct(F.lit(c).alias("column"), F.col(c).cast("string").alias("value")) for c in columns
    )))).where(F.col("value").isNotNull())
    counts = unfolded.groupBy("column", "value").count()
    totals = F.sum("count").over(Window.partitionBy("column"))
    return counts.select("column", "value", (F.col("count") / totals).cast("double").alias("tf"))


#: the long form of the term frequencies (:func:`term_frequencies`)
TERM_FREQUENCIES_DDL = "column string, value string, tf double"


def _register_term_frequencies(linker, db_api, frequencies: DataFrame, config: MatchingConfig) -> None:
    """Hand Splink the frozen term frequencies of every term-frequency column (it then computes none)."""
    for column in config.probabilistic.comparisons.term_frequency_columns:
        lookup = frequencies.where(F.col("column") == column).select(
            F.col("value").alias(column), F.col("tf").alias(f"tf_{column}")
        )
        registered = db_api.register(lookup, table_name=_table_name(f"tf_{column}"))
        linker.table_management.register_term_frequency_lookup(registered, column)


def _table_name(what: str) -> str:
    """A fresh temp-view name: Spark's views are global to the session, Splink's registry to its db_api."""
    return f"rcu_match_{what}_{uuid.uuid4().hex[:8]}"


def preflight(
    spark: SparkSession, records_df: DataFrame, config: MatchingConfig, inputs: DataFrame | None = None
) -> dict[str, int]:
    """Pairs each prediction blocking rule would generate on ``records_df``; raises above the limits.

    ``inputs``: :func:`model_input` of ``records_df``, when the caller already has it.

    Example::

        preflight(spark, records, config)   # {'email': 1204, 'mobile': 388, ...}
        # ComparisonLimitExceededError: blocking rule 'postcode' (postcode) would generate 51,230,112 ...
    """
    counts = count_comparisons(_model_records(records_df, config, inputs), config.blocking.rules)
    check_comparison_limits(counts, config.blocking)
    return counts.as_dict()


def predict_pairs(
    spark: SparkSession,
    records_df: DataFrame,
    model_json: Mapping[str, Any],
    config: MatchingConfig,
    threshold: float | None = None,
    *,
    check_limits: bool = True,
    inputs: DataFrame | None = None,
    linked: DataFrame | None = None,
    frequencies: DataFrame | None = None,
) -> DataFrame:
    """Score the blocked pairs of ``records_df`` with the model; a Spark DataFrame of pairs at or above ``threshold``.

    Columns: ``record_key_l < record_key_r``, ``match_probability``, ``match_weight``, ``blocking_rule``
    (the first rule that found the pair) and one ``gamma_<comparison>`` per comparison (the level index;
    -1 is the null level). ``threshold`` defaults to ``probabilistic.threshold_match_probability``.
    ``inputs``: :func:`model_input` of ``records_df``, when the caller already has it (persisted: Splink reads
    its input once per term-frequency table and per blocking rule). ``linked``: ``record_key, core_id``, the
    deterministic cores (:meth:`~spark_lib.matching.clustering.DeterministicCores.by_record`); a pair of
    records of one core is not scored, since the deterministic step links it whatever its score (a large
    share of the blocked pairs, on data where the deterministic links are many). ``frequencies``: the term
    frequencies frozen with the model (:func:`term_frequencies`); None: Splink computes them on the records.

    Example::

        pairs = predict_pairs(spark, records, load_champion_model(), config, threshold=0.9)
    """
    if records_df is None:
        raise ValueError("predict_pairs: 'records_df' cannot be None")
    threshold = _threshold(threshold, config)
    records = _model_records(records_df, config, inputs)
    if check_limits:
        check_comparison_limits(count_comparisons(records, config.blocking.rules), config.blocking)
    rules = None
    if linked is not None:
        records = _with_cores(records, linked)
        rules = [r.splink_rule(unless_equal=CORE_COLUMN) for r in config.blocking.rules]
    # Splink keeps the gamma columns only with the matching columns; the final select drops the latter.
    linker = _spark_linker(spark, records, model_json, config, blocking_rules=rules, frequencies=frequencies,
                           retain_matching_columns=True)
    scored = linker.inference.predict(threshold_match_probability=threshold, warning_mode="never").as_spark_dataframe()
    return _scored_pairs(scored, config)


def predict_changed_pairs(
    spark: SparkSession,
    changed: DataFrame,
    others: DataFrame,
    model_json: Mapping[str, Any],
    config: MatchingConfig,
    frequencies: DataFrame,
    linked: DataFrame,
    threshold: float | None = None,
) -> DataFrame:
    """The scored pairs (columns of :func:`predict_pairs`) that hold at least one of the ``changed`` records:
    ``changed`` against ``others`` and ``changed`` among themselves, through the same blocking rules and
    threshold as a full scoring, with the frozen term ``frequencies``. Both inputs are :func:`model_input`
    rows; ``linked`` (record_key, core_id) covers both, and pairs within one core are not scored.

    A full scoring of ``changed`` and ``others`` together returns these pairs plus those among ``others``.
    """
    threshold = _threshold(threshold, config)
    left, right = _with_cores(changed, linked), _with_cores(others, linked)
    rules = [r.splink_rule(unless_equal=CORE_COLUMN) for r in config.blocking.rules]
    db_api = _spark_api(spark, config)
    linker = _spark_linker(spark, left, model_json, config, db_api=db_api, blocking_rules=rules,
                           frequencies=frequencies, retain_matching_columns=True)
    left_table, right_table = (db_api.register(df, table_name=_table_name(what))
                               for df, what in ((left, "changed"), (right, "others")))
    within = linker.inference.predict_within(left_table, threshold_match_probability=threshold, warning_mode="never")
    between = linker.inference.predict_between(left_table, right_table, threshold_match_probability=threshold,
                                               warning_mode="never")
    pairs = _scored_pairs(within.as_spark_dataframe(), config).unionByName(
        _scored_pairs(between.as_spark_dataframe(), config))
    # predict_between keeps the changed record on the left: the pairs are turned record_key_l < record_key_r
    low, high = F.least("record_key_l", "record_key_r"), F.greatest("record_key_l", "record_key_r")
    return pairs.select(low.alias("record_key_l"), high.alias("record_key_r"),
                        *(c for c in pairs.columns if c not in ("record_key_l", "record_key_r")))


def _threshold(threshold: float | None, config: MatchingConfig) -> float:
    if threshold is None:
        threshold = config.probabilistic.threshold_match_probability
    if not 0 <= threshold <= 1:
        raise ValueError(f"predict_pairs: threshold must be a probability in [0, 1], got {threshold}")
    return threshold


def _with_cores(records: DataFrame, linked: DataFrame) -> DataFrame:
    """``records`` with :data:`CORE_COLUMN`, their deterministic core (a record in no core: its own key),
    materialised: Splink reads its input once per term-frequency table and per blocking rule."""
    require_columns(linked, ["record_key", "core_id"], "linked")
    core = F.coalesce(F.col("core_id"), F.col(UNIQUE_ID)).alias(CORE_COLUMN)
    records = records.join(linked.select(F.col("record_key").alias(UNIQUE_ID), "core_id"), UNIQUE_ID, "left")
    return records.select(*(c for c in records.columns if c != "core_id"), core).localCheckpoint()


def _scored_pairs(scored: DataFrame, config: MatchingConfig) -> DataFrame:
    """Splink's predictions as the columns :func:`predict_pairs` returns (the matching columns dropped)."""
    gammas = [c for c in scored.columns if c.startswith("gamma_")]
    rule_names = F.array(*[F.lit(r.name) for r in config.blocking.rules])
    return scored.select(
        "record_key_l",
        "record_key_r",
        "match_probability",
        "match_weight",
        F.element_at(rule_names, F.col("match_key").cast("int") + 1).alias("blocking_rule"),
        *gammas,
    )


#: joins a record key to the pair it is scored in (:func:`score_listed_pairs`); sorts below every character
_PAIR_TAG = "\u0001"


def score_listed_pairs(
    spark: SparkSession,
    records_df: DataFrame,
    pairs: DataFrame,
    model_json: Mapping[str, Any],
    config: MatchingConfig,
    frequencies: DataFrame,
    *,
    inputs: DataFrame | None = None,
) -> DataFrame:
    """The model's match probability of each listed pair, whatever the blocking rules: pair_id,
    record_key_l, record_key_r, match_probability (null when a record is not among those the model scores:
    :func:`model_input`).

    Each record is entered once per pair it is in, under an id tagged with the pair, and blocked on the
    pair: Splink compares exactly the listed pairs (a few thousand labelled pairs cost a few thousand
    comparisons, never a full scoring). ``frequencies``: the term frequencies frozen with the model
    (:func:`term_frequencies`), so that the scores are those a full scoring gives.

    Example::

        scored = score_listed_pairs(spark, records, labelled, champion_json, config, frequencies)
    """
    from splink import block_on

    require_columns(pairs, ["pair_id", "record_key_l", "record_key_r"], "pairs")
    if frequencies is None:
        raise ValueError("score_listed_pairs: 'frequencies' cannot be None (the scores would use the listed records' own)")
    records = _model_records(records_df, config, inputs)
    listed = pairs.select("pair_id", "record_key_l", "record_key_r").distinct()
    ends = listed.select("pair_id", F.col("record_key_l").alias(UNIQUE_ID)).unionByName(
        listed.select("pair_id", F.col("record_key_r").alias(UNIQUE_ID)))
    tagged = records.join(ends, UNIQUE_ID).select(
        F.concat(UNIQUE_ID, F.lit(_PAIR_TAG), "pair_id").alias(UNIQUE_ID), "pair_id",
        *(c for c in records.columns if c != UNIQUE_ID)).withColumnRenamed("pair_id", "rcu_pair").localCheckpoint()
    linker = _spark_linker(spark, tagged, model_json, config, blocking_rules=[block_on("rcu_pair")],
                           frequencies=frequencies)
    scored = linker.inference.predict(warning_mode="never").as_spark_dataframe()
    found = scored.select(F.element_at(F.split(F.col(f"{UNIQUE_ID}_l"), _PAIR_TAG), 2).alias("pair_id"),
                          F.col("match_probability").cast("double").alias("match_probability"))
    return listed.join(found, "pair_id", "left")
