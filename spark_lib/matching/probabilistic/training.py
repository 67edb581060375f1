"""Training: the model's parameters estimated on a sample of ``silver.customer_records``.

:func:`train_model` runs these stages, each timed in :attr:`TrainedModel.timings`:

1. pre-flight: count the pairs each prediction blocking rule generates (``blocking.count_comparisons``,
   one Spark job) and refuse the run above the configured limits;
2. a bounded, uniform sample of records (hash of ``record_key``): every pair survives with the same
   probability, so the mix of agreement patterns among blocked pairs, and the prior, are those of the
   full data;
3. u by random sampling, on the model without the household gates (see :func:`_estimate_u`);
4. the prior (``probability_two_random_records_match``) from the deterministic links when given and when
   they link some of the model's records (pairs they group / assumed recall / all pairs), else from Splink's
   estimate on ``training.prior_rules`` (strict rules on names and birth dates, of assumed recall): data
   without pivot identifiers still gets a prior from the data;
5. m by expectation-maximisation over a few training blocking rules, then floored;
6. the trained parameters are written into settings rendered for Spark SQL: the model JSON scores on
   Spark whichever backend trained it.

``probabilistic.training.backend``: ``duckdb`` trains in-process on the sample, ``spark`` on the cluster.
DuckDB is the default: the sample is small enough for one process, and DuckDB runs Splink's many small
training queries without Spark's per-query scheduling cost, for the same model.

Example::

    config = load_matching_config()
    model = train_model(spark, records, config, deterministic_pairs=edges)
    pairs = predict_pairs(spark, records, model.model_json, config)
"""

from __future__ import annotations

import dataclasses
import logging
import time
from contextlib import contextmanager
from dataclasses import dataclass, field
from typing import Any, Callable, Iterator, Mapping

from pyspark.sql import DataFrame, SparkSession
from pyspark.sql import functions as F

from spark_lib.matching.blocking import BlockingRuleSpec, ComparisonCounts, check_comparison_limits, count_comparisons
from spark_lib.matching.probabilistic.comparisons import build_settings, settings_for_dialect
from spark_lib.matching.probabilistic.config import UNIQUE_ID, MatchingConfig, TrainingSettings
from spark_lib.matching.probabilistic.fingerprint import data_fingerprint
from spark_lib.matching.probabilistic.scoring import _model_records, _spark_api
from spark_lib.matching.probabilistic.splink_internals import (
    comparisons_without_trained_m,
    copy_u_probabilities,
    floor_m_probabilities,
    set_prior,
)

logger = logging.getLogger(__name__)

#: The entry of :attr:`TrainedModel.timings` that is no training: the wait for the deterministic cores.
WAIT_FOR_CORES = "wait_for_cores"


@dataclass
class TrainedModel:
    """A trained model and how it was made."""

    #: Splink's model JSON (settings with trained m, u and prior), SQL rendered for Spark
    model_json: dict[str, Any]
    #: seconds per stage: preflight, sample, prior, u, em, export
    timings: dict[str, float]
    #: pairs each prediction blocking rule generates on the model input (pre-flight)
    comparison_counts: dict[str, int]
    backend: str
    #: records in the model input, and in the training sample
    input_records: int
    training_records: int
    #: how the prior was set: "deterministic_links" or "prior_rules"
    prior_source: str
    #: the EM blocking rules that estimated m (a rule finding no pair is skipped; fallback rules may run)
    em_rules: tuple[str, ...] = ()
    #: what it was trained on (:mod:`.fingerprint`): comparisons, sources and filled columns
    fingerprint: dict[str, Any] = field(default_factory=dict)
    #: the training linker, for Splink's charts (see :func:`.explanation.model_charts`)
    linker: Any = field(default=None, repr=False, compare=False)

    @property
    def probability_two_random_records_match(self) -> float:
        """The trained prior: the probability that two records drawn at random are the same person."""
        return float(self.model_json["probability_two_random_records_match"])

    @property
    def training_seconds(self) -> float:
        """The training's own duration: its stages, without the wait for the deterministic cores."""
        return round(sum(t for stage, t in self.timings.items() if stage != WAIT_FOR_CORES), 3)


@contextmanager
def _stage(timings: dict[str, float], name: str) -> Iterator[None]:
    """Time the block into ``timings[name]`` (seconds) and log it: the match job reports each stage."""
    start = time.perf_counter()
    try:
        yield
    finally:
        timings[name] = round(time.perf_counter() - start, 3)
        logger.info("probabilistic matching: %s took %.1f s", name, timings[name])


def _sample(records: DataFrame, n_records: int, max_records: int, seed: int) -> DataFrame:
    """A uniform sample of about ``max_records`` records, stable across runs (hash of the key, not rand())."""
    if not max_records or n_records <= max_records:
        return records
    buckets = 1_000_000
    threshold = int(buckets * max_records / n_records)
    return records.where(F.pmod(F.xxhash64(F.col(UNIQUE_ID), F.lit(seed)), F.lit(buckets)) < threshold)


def count_linked_pairs(records: DataFrame, links: DataFrame, hops: int = 3) -> int:
    """Record pairs that ``links`` (record_key_l, record_key_r) put in the same group, among ``records``.

    Deterministic links are often stars (each record of a group linked to the group's first record: n - 1
    edges for n * (n - 1) / 2 pairs), so the links are grouped first: every record takes the smallest key
    within ``hops`` links (min-label propagation), and a group of ``k`` records holds ``k * (k - 1) / 2``
    pairs. Exact for stars and short chains; longer chains split into a few groups (fewer pairs counted).
    All of it is one Spark job.
    """
    for column in ("record_key_l", "record_key_r"):
        if column not in links.columns:
            raise ValueError(f"deterministic_pairs: missing column {column!r} (expected record_key_l, record_key_r)")
    keys = records.select(F.col(UNIQUE_ID).alias("node"))
    edges = links.select(F.col("record_key_l").alias("a"), F.col("record_key_r").alias("b")).where(F.col("a") != F.col("b"))
    edges = (
        edges.unionByName(edges.select(F.col("b").alias("a"), F.col("a").alias("b")))
        .join(keys.withColumnRenamed("node", "a"), "a", "left_semi")
        .join(keys.withColumnRenamed("node", "b"), "b", "left_semi")
        .distinct()
    )
    labels = edges.groupBy("a").agg(F.least(F.first("a"), F.min("b")).alias("label")).withColumnRenamed("a", "node")
    for _ in range(hops - 1):
        neighbour_labels = edges.join(labels.withColumnRenamed("node", "b"), "b").groupBy("a").agg(F.min("label").alias("n"))
        labels = (
            labels.join(neighbour_labels.withColumnRenamed("a", "node"), "node", "left")
            .select("node", F.least("label", F.coalesce("n", "label")).alias("label"))
        )
    sizes = labels.groupBy("label").agg(F.count(F.lit(1)).alias("k"))
    total = sizes.agg(F.sum(F.col("k") * (F.col("k") - 1) / 2).cast("long").alias("pairs")).collect()[0]["pairs"]
    return int(total or 0)


def count_core_pairs(records: DataFrame, cores: DataFrame) -> int:
    """Record pairs of ``records`` that share a deterministic core (``cores``: record_key, core_id).

    Exact where :func:`count_linked_pairs` follows a few hops: the cores are the connected components of
    every deterministic link, which the match job computes once for clustering anyway. A core holding ``k``
    of the records holds ``k * (k - 1) / 2`` of their pairs. One Spark job.
    """
    for column in ("record_key", "core_id"):
        if column not in cores.columns:
            raise ValueError(f"deterministic_cores: missing column {column!r} (expected record_key, core_id)")
    sizes = records.select(UNIQUE_ID).join(cores.select(F.col("record_key").alias(UNIQUE_ID), "core_id"), UNIQUE_ID)
    sizes = sizes.groupBy("core_id").agg(F.count(F.lit(1)).alias("k"))
    total = sizes.agg(F.sum(F.col("k") * (F.col("k") - 1) / 2).cast("long").alias("pairs")).collect()[0]["pairs"]
    return int(total or 0)


def prior_from_links(links: int, n_records: int, recall: float) -> float:
    """``probability_two_random_records_match`` from a count of linked pairs and their assumed recall."""
    total_pairs = n_records * (n_records - 1) / 2
    if total_pairs <= 0:
        raise ValueError("prior_from_links: fewer than two records")
    if links <= 0:
        raise ValueError("prior_from_links: no deterministic link among the model's records")
    return min(links / recall / total_pairs, 0.5)


def train_model(
    spark: SparkSession,
    records_df: DataFrame,
    config: MatchingConfig,
    deterministic_pairs: DataFrame | None = None,
    deterministic_cores: DataFrame | Callable[[], DataFrame] | None = None,
    inputs: DataFrame | None = None,
) -> TrainedModel:
    """Estimate the model's parameters on ``records_df`` (``silver.customer_records`` rows).

    ``deterministic_pairs`` (columns ``record_key_l``, ``record_key_r``), when given, sets the prior: the
    record pairs they group together (:func:`count_linked_pairs`), divided by
    ``training.deterministic_recall``, over all pairs of the model input. ``deterministic_cores`` (columns
    ``record_key``, ``core_id``: the connected components of those links), when given instead, gives the
    same count exactly and faster (:func:`count_core_pairs`); it may be a function returning them, called
    only once u is estimated: a caller that trains in a background thread while it computes the cores passes
    one that waits for them (``timings[WAIT_FOR_CORES]``: how long). ``inputs``: :func:`.scoring.model_input` of
    ``records_df``, when the caller already has it (persisted: training and scoring read it several times). Raises
    :class:`~spark_lib.matching.blocking.ComparisonLimitExceededError` before any training if a
    prediction blocking rule exceeds its limit.

    Example::

        model = train_model(spark, spark.read.format("delta").load(path), load_matching_config())
        model.model_json["probability_two_random_records_match"]
    """
    from splink import Linker

    if records_df is None:
        raise ValueError("train_model: 'records_df' cannot be None")
    if config is None:
        raise ValueError("train_model: 'config' cannot be None (use load_matching_config())")
    training = config.probabilistic.training
    timings: dict[str, float] = {}

    with _stage(timings, "preflight"):
        records = _model_records(records_df, config, inputs)
        counts, em_pairs = _count_pairs(records, config)
        check_comparison_limits(counts, config.blocking)
        fingerprint = data_fingerprint(records, config)
    if counts.records < 2:
        raise ValueError("train_model: fewer than two records carry enough identity to be matched")

    with _stage(timings, "sample"):
        sample = _sample(records, counts.records, training.max_records, training.seed)
        if training.backend == "duckdb":
            from splink import DuckDBAPI

            db_api = DuckDBAPI()
            table = sample.toArrow()
            training_records = table.num_rows
        else:
            db_api = _spark_api(spark, config)
            table = sample.persist()
            training_records = table.count()
        linker = Linker(db_api.register(table), build_settings(config), log_level=logging.WARNING)

    # u does not depend on the prior: it is estimated first, so the cores may still be on their way.
    with _stage(timings, "u"):
        _estimate_u(linker, db_api, table, config)

    if callable(deterministic_cores):
        with _stage(timings, WAIT_FOR_CORES):
            deterministic_cores = deterministic_cores()

    with _stage(timings, "prior"):
        links = 0
        if deterministic_cores is not None:
            links = count_core_pairs(records, deterministic_cores)
        elif deterministic_pairs is not None:
            links = count_linked_pairs(records, deterministic_pairs)
        if links:
            prior = prior_from_links(links, counts.records, training.deterministic_recall)
            set_prior(linker, prior)  # what Splink's own estimator does; the prior is not a trainable parameter
            prior_source = "deterministic_links"
        else:
            # No pivot links among the model's records (a CRM of names, addresses and birth dates only): the
            # prior comes from the data, by Splink's estimate from strict rules of assumed recall.
            if deterministic_cores is not None or deterministic_pairs is not None:
                logger.warning("probabilistic matching: no deterministic link among the model's records; "
                               "the prior comes from training.prior_rules (recall %s)", training.prior_rules_recall)
            linker.training.estimate_probability_two_random_records_match(
                [r.splink_rule() for r in training.prior_rules], recall=training.prior_rules_recall
            )
            prior_source = "prior_rules"

    with _stage(timings, "em"):
        em_rules = _expectation_maximisation(linker, training, em_pairs)

    with _stage(timings, "export"):
        _floor_m_probabilities(linker, training.min_m_probability)
        model_json = settings_for_dialect(linker.misc.save_model_to_json(), config, "spark")
    if training.backend == "spark":
        table.unpersist()

    return TrainedModel(
        model_json=model_json,
        timings=timings,
        comparison_counts=counts.as_dict(),
        backend=training.backend,
        input_records=counts.records,
        training_records=training_records,
        prior_source=prior_source,
        em_rules=tuple(em_rules),
        fingerprint=fingerprint,
        linker=linker,
    )


#: the prefix of the EM rules' names when they are counted with the prediction rules (names may repeat)
_EM = "em:"


def _count_pairs(records: DataFrame, config: MatchingConfig) -> tuple[ComparisonCounts, dict[str, int]]:
    """The pre-flight counts of the prediction rules and the pairs each EM rule finds, in one Spark job."""
    training = config.probabilistic.training
    em_rules = [dataclasses.replace(r, name=f"{_EM}{r.name}")
                for r in (*training.em_blocking_rules, *training.em_fallback_rules)]
    counts = count_comparisons(records, [*config.blocking.rules, *em_rules])
    names = set(config.blocking.names)
    blocking = ComparisonCounts(
        comparisons={k: v for k, v in counts.comparisons.items() if k in names},
        largest_block={k: v for k, v in counts.largest_block.items() if k in names},
        records=counts.records,
    )
    return blocking, {k[len(_EM):]: v for k, v in counts.comparisons.items() if k.startswith(_EM)}


def _expectation_maximisation(linker, training: TrainingSettings, pairs: Mapping[str, int]) -> list[str]:
    """m by EM over ``training.em_blocking_rules``, then over ``em_fallback_rules`` while a comparison has no
    estimate. A rule that finds no pair on this data (``pairs``: a pivot missing from every record) is
    skipped. Returns the names of the rules that ran; raises when none finds a pair.
    """
    ran: list[str] = []

    def session(rule: BlockingRuleSpec) -> None:
        if not pairs.get(rule.name):
            logger.warning("probabilistic matching: EM rule %r finds no pair of records on this data: skipped", rule.name)
            return
        linker.training.estimate_parameters_using_expectation_maximisation(
            rule.splink_rule(), estimate_without_term_frequencies=training.em_without_term_frequencies
        )
        ran.append(rule.name)

    for rule in training.em_blocking_rules:
        session(rule)
    for rule in training.em_fallback_rules:
        if not comparisons_without_trained_m(linker):
            break
        session(rule)
    if not ran:
        names = [r.name for r in (*training.em_blocking_rules, *training.em_fallback_rules)]
        raise ValueError(
            f"train_model: no EM blocking rule finds a pair of records ({', '.join(names)}): give "
            "probabilistic.training.em_blocking_rules on columns this data has"
        )
    missing = comparisons_without_trained_m(linker)
    if missing:
        logger.warning("probabilistic matching: no EM estimate of m for %s: floored", ", ".join(missing))
    return ran


def _estimate_u(linker, db_api, table, config: MatchingConfig) -> None:
    """u by random sampling, on the model *without* the household gates, copied into ``linker``.

    The gates turn most random pairs (different first names) into null levels, which would leave the u of
    email, phone and address to the few random pairs sharing a first name, on small data mostly true
    matches. Agreeing on an email is about as rare among all non-matching pairs as among those sharing a
    first name, so u is estimated on every pair and copied level by level (the levels are the same).
    """
    from splink import Linker

    training = config.probabilistic.training
    if not config.probabilistic.comparisons.household_gate:
        sampled = linker
    else:
        ungated = dataclasses.replace(
            config,
            probabilistic=dataclasses.replace(
                config.probabilistic,
                comparisons=dataclasses.replace(config.probabilistic.comparisons, household_gate=False),
            ),
        )
        sampled = Linker(db_api.register(table), build_settings(ungated), log_level=logging.WARNING)
    # One pass over u_max_pairs sampled pairs: no early stop (rare levels must be seen) and no chunks, since
    # every chunk is a query and, on Spark, each query costs seconds.
    sampled.training.estimate_u_using_random_sampling(
        max_pairs=training.u_max_pairs, seed=training.seed, min_count_per_level=None, num_chunks=1
    )
    if sampled is not linker:
        copy_u_probabilities(linker, sampled)


def _floor_m_probabilities(linker, floor: float) -> None:
    """Raise m probabilities below ``floor`` (``training.min_m_probability``) to it.

    A level EM never saw among the training block's matches (a birth date typed wrongly) is rare, not
    impossible, and must not veto a pair on its own. A level seen neither among the training matches nor
    among random pairs (``u`` unknown too) gets weight 0 (m = u = floor): no evidence either way.
    """
    floor_m_probabilities(linker, floor)
