"""Reference runs for the pipeline benchmark: Splink set up the way its documentation shows, nothing tuned.

Two engines, the same model and the same records as the pipeline's probabilistic step:

- ``spark_defaults``: Splink on our Spark session with ``SparkAPI(spark_session=spark)`` and its defaults
  (no ``break_lineage_method``, ``repartition_after_blocking`` or ``num_partitions_on_repartition``; on a
  non-Databricks machine Splink then breaks lineage by writing parquet under the Spark checkpoint dir);
- ``duckdb``: Splink in process with ``DuckDBAPI()``, the records handed over as an Arrow table.

Both use ``build_settings(config)`` (the pipeline's comparisons and prediction blocking rules) on
``model_input(records, config)`` (the records the pipeline's model sees), and train the documented way:

1. ``estimate_probability_two_random_records_match`` with the config's deterministic-style
   ``training.prior_rules`` and ``training.prior_rules_recall``;
2. ``estimate_u_using_random_sampling(max_pairs=training.u_max_pairs)``, Splink's other defaults;
3. ``estimate_parameters_using_expectation_maximisation`` on each ``training.em_blocking_rules``
   (``estimate_without_term_frequencies`` as the config says, as the DuckDB example page does); a rule
   Splink refuses because it finds no pair on the data (``EMTrainingException``: no email or phone at all,
   as in the generator's store_crm_only profile) is skipped, and ``training.em_fallback_rules`` run, in
   order, while a comparison has no m: what a user does when a documented rule does not fit the data;

then ``linker.inference.predict(threshold_match_probability=probabilistic.threshold_match_probability)``
and ``linker.clustering.cluster_pairwise_predictions_at_threshold(predictions, clustering.threshold)``.
They have no deterministic step, no household-aware u estimate, no m floor, no merge protection: records
outside ``model_input`` are singletons. That is the point of a reference.

Documentation followed (Splink's own example notebooks, as rendered on its documentation site):

- Spark: "Linking in Spark", docs/demos/examples/spark/deduplicate_1k_synthetic
  (https://moj-analytical-services.github.io/splink/demos/examples/spark/deduplicate_1k_synthetic.html)::

      spark.sparkContext.setCheckpointDir("./tmp_checkpoints")
      db_api = SparkAPI(spark_session=spark)
      df_sdf = db_api.register(df)
      linker = Linker(df_sdf, settings)
      linker.training.estimate_probability_two_random_records_match(deterministic_rules, recall=0.6)
      linker.training.estimate_u_using_random_sampling(max_pairs=5e5)
      linker.training.estimate_parameters_using_expectation_maximisation(training_blocking_rule)
      results = linker.inference.predict(threshold_match_probability=0.9)

- DuckDB: "Linking a dataset of real historical persons", docs/demos/examples/duckdb/deduplicate_50k_synthetic
  (https://moj-analytical-services.github.io/splink/demos/examples/duckdb/deduplicate_50k_synthetic.html)::

      db_api = DuckDBAPI()
      df_sdf = db_api.register(df)
      linker = Linker(df_sdf, settings)
      linker.training.estimate_probability_two_random_records_match([...], recall=0.6)
      linker.training.estimate_u_using_random_sampling(max_pairs=1e7)
      linker.training.estimate_parameters_using_expectation_maximisation(
          training_blocking_rule, estimate_without_term_frequencies=True)
      df_predict = linker.inference.predict()
      clusters = linker.clustering.cluster_pairwise_predictions_at_threshold(
          df_predict, threshold_match_probability=0.95)

Example::

    result, clusters = run_baseline("duckdb", spark, records, config, cluster_threshold=0.9)
    metrics = evaluate_clusters(with_singletons(records, clusters), truth)
"""

from __future__ import annotations

import contextlib
import gc
import logging
import threading
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Callable, ContextManager, Iterator

import yaml
from pyspark.sql import DataFrame, SparkSession
from pyspark.sql import functions as F

from spark_lib.matching import MatchingConfig, build_settings
from spark_lib.matching.probabilistic import UNIQUE_ID, model_input

ENGINES = ("spark_defaults", "duckdb")
#: what each engine is called in the results
ENGINE_LABELS = {
    "spark_defaults": "Splink on Spark, documented defaults",
    "duckdb": "Splink on DuckDB, documented defaults",
}

StageFactory = Callable[[str], ContextManager[Any]]


@dataclass(frozen=True)
class TrainingPlan:
    """What the documented training of the references reads from the configuration (no other setting)."""

    prior_rules: tuple[Any, ...]
    prior_recall: float
    u_max_pairs: int
    em_rules: tuple[Any, ...]
    em_without_term_frequencies: bool
    predict_threshold: float
    cluster_threshold: float
    em_rule_names: tuple[str, ...] = ()
    #: (name, Splink rule) run, in order, only while a comparison has no m (data without emails or phones)
    em_fallback_rules: tuple[tuple[str, Any], ...] = ()


def clustering_threshold(rules_file: str | Path) -> float:
    """``clustering.threshold`` of ``conf/matching_rules.yaml``: the probability at which the pipeline links."""
    data = yaml.safe_load(Path(rules_file).read_text(encoding="utf-8")) or {}
    try:
        value = data["clustering"]["threshold"]
    except (KeyError, TypeError) as error:
        raise ValueError(f"{rules_file}: no clustering.threshold") from error
    if not isinstance(value, (int, float)) or not 0 <= value <= 1:
        raise ValueError(f"{rules_file}: clustering.threshold: expected a probability, got {value!r}")
    return float(value)


def training_plan(config: MatchingConfig, cluster_threshold: float) -> TrainingPlan:
    """The rules and figures the references train and predict with, all from ``config``."""
    if config is None:
        raise ValueError("training_plan: 'config' cannot be None (use load_matching_config())")
    training = config.probabilistic.training
    return TrainingPlan(
        prior_rules=tuple(rule.splink_rule() for rule in training.prior_rules),
        prior_recall=training.prior_rules_recall,
        u_max_pairs=training.u_max_pairs,
        em_rules=tuple(rule.splink_rule() for rule in training.em_blocking_rules),
        em_without_term_frequencies=training.em_without_term_frequencies,
        predict_threshold=config.probabilistic.threshold_match_probability,
        cluster_threshold=cluster_threshold,
        em_rule_names=tuple(rule.name for rule in training.em_blocking_rules),
        em_fallback_rules=tuple((rule.name, rule.splink_rule()) for rule in training.em_fallback_rules),
    )


def baseline_settings(config: MatchingConfig):
    """The references' Splink settings: the pipeline's own ``build_settings(config)``, untouched."""
    return build_settings(config)


@dataclass
class BaselineResult:
    """One reference run: seconds per stage, what it produced, and its error if it failed."""

    engine: str
    status: str = "ok"  # ok | error | skipped
    error: str | None = None
    seconds: dict[str, float] = field(default_factory=dict)
    model_input_records: int | None = None
    scored_pairs: int | None = None
    clusters: int | None = None
    #: EM rules that ran, and those Splink refused for finding no pair on the data
    em_rules_run: list[str] = field(default_factory=list)
    em_rules_skipped: list[str] = field(default_factory=list)

    @property
    def matching_seconds(self) -> float | None:
        """train + predict + cluster (the Arrow hand-over of the DuckDB reference is ``seconds['load']``)."""
        if not all(stage in self.seconds for stage in ("train", "predict", "cluster")):
            return None
        return round(sum(self.seconds[s] for s in ("train", "predict", "cluster")), 2)


@contextlib.contextmanager
def deadline(seconds: float | None, cancel: Callable[[], None]) -> Iterator[threading.Event]:
    """Call ``cancel`` every second once ``seconds`` have passed, until the block ends; yields the 'fired' flag.

    Spark's ``cancelAllJobs`` and DuckDB's ``interrupt`` only stop the query running at that moment, and
    Splink runs many: cancelling again until the block ends makes sure the run stops.
    """
    fired = threading.Event()
    done = threading.Event()
    if not seconds:
        yield fired
        return

    def watch() -> None:
        if done.wait(seconds):
            return
        fired.set()
        while not done.is_set():
            try:
                cancel()
            except Exception:  # noqa: BLE001 - cancelling is best effort
                pass
            done.wait(1.0)

    watcher = threading.Thread(target=watch, name="baseline-deadline", daemon=True)
    watcher.start()
    try:
        yield fired
    finally:
        done.set()
        watcher.join(timeout=5)


def _timed(result: BaselineResult, stage: StageFactory, name: str):
    """``stage(name)`` (the harness's memory window) plus this result's own clock for ``name``."""

    @contextlib.contextmanager
    def block():
        started = time.perf_counter()
        with stage(name):
            yield
        result.seconds[name] = round(time.perf_counter() - started, 2)

    return block()


def _train(linker, plan: TrainingPlan, result: BaselineResult) -> None:
    from splink.internals.exceptions import EMTrainingException

    from spark_lib.matching.probabilistic.splink_internals import comparisons_without_trained_m

    linker.training.estimate_probability_two_random_records_match(list(plan.prior_rules), recall=plan.prior_recall)
    linker.training.estimate_u_using_random_sampling(max_pairs=plan.u_max_pairs)

    def session(name: str, rule) -> None:
        try:
            linker.training.estimate_parameters_using_expectation_maximisation(
                rule, estimate_without_term_frequencies=plan.em_without_term_frequencies
            )
        except EMTrainingException as error:
            if "resulted in no record pairs" not in str(error):
                raise
            result.em_rules_skipped.append(name)
            return
        result.em_rules_run.append(name)

    names = plan.em_rule_names or tuple(str(i) for i in range(len(plan.em_rules)))
    for name, rule in zip(names, plan.em_rules):
        session(name, rule)
    for name, rule in plan.em_fallback_rules:
        if not comparisons_without_trained_m(linker):
            break
        session(name, rule)


def run_baseline(
    engine: str,
    spark: SparkSession,
    records_df: DataFrame,
    config: MatchingConfig,
    cluster_threshold: float,
    *,
    stage: StageFactory | None = None,
    timeout_seconds: float | None = None,
    checkpoint_dir: str | Path | None = None,
) -> tuple[BaselineResult, DataFrame | None]:
    """Train, predict and cluster ``records_df`` (``silver.customer_records`` rows) with a documented set-up.

    Returns the result and a Spark DataFrame ``record_key, cluster_id`` of the records Splink clustered
    (``None`` when the run failed; the error is in ``result.error``, never raised). ``stage(name)`` is a
    context manager the harness uses to measure each stage's memory; ``timeout_seconds`` stops the run.
    ``checkpoint_dir`` is where Splink's default Spark lineage breaking writes its parquet (the
    documentation sets one the same way).

    Example::

        result, clusters = run_baseline("spark_defaults", spark, records, config, 0.9, checkpoint_dir="/tmp/ck")
    """
    if engine not in ENGINES:
        raise ValueError(f"run_baseline: engine must be one of {', '.join(ENGINES)}, got {engine!r}")
    if records_df is None:
        raise ValueError("run_baseline: 'records_df' cannot be None")
    stage = stage or (lambda name: contextlib.nullcontext())
    plan = training_plan(config, cluster_threshold)
    result = BaselineResult(engine=engine)
    holder: dict[str, Any] = {}

    def cancel() -> None:
        if engine == "spark_defaults":
            spark.sparkContext.cancelAllJobs()
        elif "db_api" in holder:
            holder["db_api"].duckdb_con.interrupt()

    try:
        with deadline(timeout_seconds, cancel) as fired:
            try:
                clusters = _run(engine, spark, records_df, config, plan, result, stage, holder, checkpoint_dir)
            except Exception as error:  # noqa: BLE001 - a failed reference is a result, not a crash
                result.status = "error"
                reason = f"timed out after {timeout_seconds:g} s" if fired.is_set() else type(error).__name__
                result.error = f"{reason}: {_first_line(error)}"
                return result, None
        return result, clusters
    finally:
        _close(holder)


def _run(engine, spark, records_df, config, plan, result, stage, holder, checkpoint_dir) -> DataFrame:
    from splink import DuckDBAPI, Linker, SparkAPI

    records = model_input(records_df, config)
    if engine == "spark_defaults":
        if checkpoint_dir is not None:
            # The documented set-up: Splink's default lineage breaking writes parquet under the checkpoint dir.
            spark.sparkContext.setCheckpointDir(str(checkpoint_dir))
        db_api = SparkAPI(spark_session=spark)
        table = records
    else:
        with _timed(result, stage, "load"):
            table = records.toArrow()
        db_api = DuckDBAPI()
    holder["db_api"] = db_api
    # Only the log verbosity differs from the documentation (INFO prints every EM iteration).
    linker = Linker(db_api.register(table), baseline_settings(config), log_level=logging.WARNING)
    holder["linker"] = linker

    with _timed(result, stage, "train"):
        _train(linker, plan, result)
    with _timed(result, stage, "predict"):
        predictions = linker.inference.predict(threshold_match_probability=plan.predict_threshold)
        result.scored_pairs = _count(engine, predictions)
    with _timed(result, stage, "cluster"):
        clustered = linker.clustering.cluster_pairwise_predictions_at_threshold(
            predictions, threshold_match_probability=plan.cluster_threshold
        )
        if engine == "spark_defaults":
            clusters = clustered.as_spark_dataframe().select(UNIQUE_ID, F.col("cluster_id").cast("string"))
            counts = clusters.agg(F.count("*").alias("records"), F.countDistinct("cluster_id").alias("clusters")).first()
            result.model_input_records, result.clusters = int(counts["records"]), int(counts["clusters"])
        else:
            arrow = clustered.as_pyarrow_table().select([UNIQUE_ID, "cluster_id"])
            result.model_input_records = arrow.num_rows
            result.clusters = len(set(arrow.column("cluster_id").to_pylist()))
    if engine == "duckdb":
        # Back into Spark for the same evaluation as the pipeline's (outside the timed stages).
        clusters = spark.createDataFrame(arrow).select(UNIQUE_ID, F.col("cluster_id").cast("string"))
    return clusters


def _count(engine: str, predictions) -> int:
    if engine == "spark_defaults":
        return int(predictions.as_spark_dataframe().count())
    return int(predictions.as_duckdbpyrelation().aggregate("count(*)").fetchall()[0][0])


def _close(holder: dict[str, Any]) -> None:
    db_api = holder.pop("db_api", None)
    holder.pop("linker", None)
    if db_api is not None and hasattr(db_api, "duckdb_con"):
        with contextlib.suppress(Exception):
            db_api.duckdb_con.close()
    gc.collect()


def _first_line(error: BaseException, limit: int = 400) -> str:
    text = str(error).strip().splitlines()
    message = text[0] if text else repr(error)
    return message if len(message) <= limit else message[: limit - 1] + "…"


def with_singletons(records_df: DataFrame, clusters: DataFrame | None) -> DataFrame:
    """Every record of ``records_df`` with its reference cluster; records Splink never saw are singletons.

    Columns ``record_key, cluster_id``, ready for ``evaluate_clusters``.
    """
    keys = records_df.select(UNIQUE_ID)
    if clusters is None:
        return keys.withColumn("cluster_id", F.concat(F.lit("singleton:"), F.col(UNIQUE_ID)))
    return keys.join(clusters, UNIQUE_ID, "left").select(
        UNIQUE_ID, F.coalesce("cluster_id", F.concat(F.lit("singleton:"), F.col(UNIQUE_ID))).alias("cluster_id")
    )
