"""Match: decide which silver records are the same person, and give each person a persistent customer id.

1. deterministic links on pivot identifiers (generic values excluded and listed in ``silver.generic_values``);
2. probabilistic links scored by the Splink model registered in MLflow under the ``champion`` alias
   (trained, logged and registered first when there is none or ``--retrain`` is given; training runs in a
   thread beside step 1, since only its prior needs the deterministic cores);
3. clustering with merge protection (splits logged in ``gold.cluster_splits``);
4. persistent ids (``gold.customer_id_registry``, merge/split events in ``gold.customer_id_events``);
5. the crosswalk ``gold.customer_crosswalk`` (source, source record id, customer id, how it was matched:
   ``deterministic:<pivot>``, ``probabilistic``, ``singleton``, or ``anonymous`` for a record with nothing to
   match on: no name, no address, no usable identifier, such as a cookie that never logged in);
6. evaluation against the generator's ground truth when there is one (pairwise and B-cubed F1), logged to
   MLflow: on all records (``pairwise_f1``...) and on the records that are not anonymous
   (``identified_pairwise_f1``...), with ``recall_ceiling``: the best pairwise recall any method can reach on
   all records while anonymous records stay alone.

    rcu match [--retrain]
    spark-submit --py-files rcu.zip jobs/match.py --lakehouse /data/lakehouse --conf-dir conf
"""

from __future__ import annotations

import argparse
import datetime as dt
import json
import sys
import time
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path

from pyspark.sql import DataFrame
from pyspark.sql import functions as F

from jobs import tracking
from jobs.common import JobContext, Progress, add_common_arguments, build_context, record_seconds
from spark_lib.matching import MatchingConfig, load_matching_config, predict_pairs, preflight, train_model
from spark_lib.matching.probabilistic import TrainedModel, model_input
from spark_lib.matching.clustering import ClusteringConfig, cluster_records, deterministic_cores, load_clustering_config
from spark_lib.matching.deterministic import (
    anonymous_records,
    classify_values,
    deterministic_edges,
    generic_values,
    load_deterministic_config,
    pivot_values,
    placeholder_values,
)
from spark_lib.matching.evaluation import evaluate_clusters
from spark_lib.matching.ids import assign_customer_ids, load_ids_config
from spark_lib.session import job_description

RECORDS = "silver.customer_records"
GENERIC_VALUES = "silver.generic_values"
DETERMINISTIC_EDGES = "silver.deterministic_edges"
MATCH_PAIRS = "silver.match_pairs"
SPLITS = "gold.cluster_splits"
REGISTRY = "gold.customer_id_registry"
ID_EVENTS = "gold.customer_id_events"
CROSSWALK = "gold.customer_crosswalk"


@dataclass
class MatchReport:
    records: int = 0
    anonymous_records: int = 0
    customers: int = 0
    largest_cluster: int = 0
    #: records of the largest cluster beyond its deterministic core, the core counting as one record: what
    #: merge protection bounds by clustering.max_cluster_size
    largest_guarded_cluster: int = 0
    deterministic_edges: int = 0
    probabilistic_pairs: int = 0
    generic_values: int = 0
    #: records the probabilistic model scores, and the pairs each blocking rule compares (pre-flight)
    model_input_records: int = 0
    comparisons: dict = field(default_factory=dict)
    splits: int = 0
    id_events: dict = field(default_factory=dict)
    model_run_id: str | None = None
    retrained: bool = False
    metrics: dict = field(default_factory=dict)
    seconds: dict = field(default_factory=dict)


def _materialise(ctx: JobContext, df: DataFrame, table: str) -> DataFrame:
    """Write ``df`` as ``table`` (replacing it) and return the table, so later steps read it once."""
    ctx.lake.overwrite(df, table)
    return ctx.lake.read(table)


def _deterministic(
    ctx: JobContext, records: DataFrame, clustering_config: ClusteringConfig, report: MatchReport, progress: Progress
):
    """Links on pivot identifiers: ``(core_of, anonymous, edges, cores)``; writes the generic values and edges."""
    started = time.perf_counter()
    _step(ctx, "deterministic")
    deterministic_config = load_deterministic_config(ctx.conf_dir / "matching_rules.yaml")
    # The records unfold into their pivot values once; every value's verdict is computed once: the generic
    # ones are listed, the others make the edges.
    values = pivot_values(records, deterministic_config).localCheckpoint()
    classified = classify_values(records, deterministic_config, values=values).localCheckpoint()
    listed = generic_values(records, classified=classified).unionByName(placeholder_values(records))
    generic = _materialise(ctx, listed, GENERIC_VALUES)
    edges = _materialise(ctx, deterministic_edges(records, deterministic_config, classified, values=values),
                         DETERMINISTIC_EDGES)
    anonymous = anonymous_records(records, generic, deterministic_config, values=values).localCheckpoint()
    # The deterministic cores (connected components of the links) serve the model's prior and clustering.
    cores = deterministic_cores(records, edges, clustering_config)
    core_of = cores.by_record().localCheckpoint()  # record_key, core_id
    report.generic_values, report.deterministic_edges = generic.count(), edges.count()
    report.anonymous_records = anonymous.count()
    record_seconds(report.seconds, "deterministic", started)
    progress(
        f"deterministic: {report.deterministic_edges:,} links, {report.generic_values:,} generic values excluded, "
        f"{report.anonymous_records:,} anonymous records (nothing to match on)"
    )
    return core_of, anonymous, edges, cores


def _train(
    ctx: JobContext, records: DataFrame, config: MatchingConfig, inputs: DataFrame, cores_ready: Future
) -> TrainedModel:
    """:func:`train_model` in the training thread, its Spark jobs named ``match: train``."""
    _step(ctx, "train")
    return train_model(ctx.spark, records, config, deterministic_cores=cores_ready.result, inputs=inputs)


def load_truth(ctx: JobContext) -> DataFrame | None:
    """The generator's ground truth, if there is one: read by evaluation only, never by matching."""
    path = Path(ctx.truth_dir) / "truth.parquet"
    return ctx.spark.read.parquet(str(path)) if path.exists() else None


def _step(ctx: JobContext, name: str) -> None:
    """Name the Spark jobs of the step that starts (Spark UI, event log, benchmarks/spark_profile.py)."""
    ctx.spark.sparkContext.setJobDescription(f"match: {name}")


def run(ctx: JobContext, retrain: bool = False, progress: Progress | None = None, evaluate: bool = True) -> MatchReport:
    # Each step renames the jobs (_step); the caller's job description comes back when the job ends.
    with job_description(ctx.spark, "match"):
        return _run(ctx, retrain, progress, evaluate)


def _run(ctx: JobContext, retrain: bool, progress: Progress | None, evaluate: bool) -> MatchReport:
    progress = progress or Progress("match")
    spark, lake, conf = ctx.spark, ctx.lake, ctx.conf_dir
    rules_file = conf / "matching_rules.yaml"
    matching_config = load_matching_config(conf / "matching.yaml")
    clustering_config = load_clustering_config(rules_file)
    report = MatchReport()
    run_time = dt.datetime.now(dt.timezone.utc).replace(microsecond=0)
    records = lake.read(RECORDS)

    # The records the model scores: training, the pre-flight and Splink's scoring read them many times.
    inputs = model_input(records, matching_config).persist()
    model_json = None
    if not retrain:
        try:
            model_json = tracking.load_champion_model(tracking_uri=ctx.pipeline.mlflow_tracking_uri)
            progress("model: scoring with the registered champion")
        except LookupError:
            progress("model: no registered champion yet, training one")

    with ThreadPoolExecutor(max_workers=1, thread_name_prefix="match-train") as pool:
        # Training does not wait for the deterministic step: only its prior reads the cores, after u is
        # estimated. The driver trains (DuckDB, in process) while the executors link the pivots.
        cores_ready: Future = Future()
        training = None
        if model_json is None:
            training = pool.submit(_train, ctx, records, matching_config, inputs, cores_ready)
        try:
            core_of, anonymous, edges, cores = _deterministic(ctx, records, clustering_config, report, progress)
        except BaseException as error:
            cores_ready.set_exception(error)
            raise
        cores_ready.set_result(core_of)

        started = time.perf_counter()
        _step(ctx, "train")
        model = None
        if training is not None:
            model = training.result()
            model_json = model.model_json
            report.retrained = True
            report.comparisons, report.model_input_records = model.comparison_counts, model.input_records
            # train: how long the job waited for the model after the deterministic step; train_total: the
            # whole training, most of it alongside that step.
            record_seconds(report.seconds, "train", started)
            report.seconds["train_total"] = round(model.training_seconds, 2)
            progress(f"model: trained on {model.training_records:,} records ({model.backend})")
        else:
            report.comparisons = preflight(spark, records, matching_config, inputs=inputs)
            report.model_input_records = inputs.count()
            progress(f"pre-flight: {sum(report.comparisons.values()):,} comparisons over {len(report.comparisons)} blocking rules")

    started = time.perf_counter()
    _step(ctx, "predict")
    # The limits were checked above (training or pre-flight): no second count of every rule's pairs. Pairs
    # within a deterministic core are linked whatever their score: they are not scored.
    scored = predict_pairs(spark, records, model_json, matching_config, check_limits=False, inputs=inputs, linked=core_of)
    pairs = _materialise(ctx, scored, MATCH_PAIRS)
    inputs.unpersist()
    report.probabilistic_pairs = pairs.count()
    record_seconds(report.seconds, "predict", started)
    progress(f"probabilistic: {report.probabilistic_pairs:,} scored pairs above the threshold, between different cores")

    started = time.perf_counter()
    _step(ctx, "cluster")
    assignments, splits = cluster_records(records, edges, pairs, clustering_config, cores=cores)
    assignments = (
        assignments.join(anonymous.withColumn("anonymous", F.lit(True)), "record_key", "left")
        .withColumn("match_rule", F.when(F.col("anonymous").isNotNull() & (F.col("match_rule") == "singleton"),
                                         F.lit("anonymous")).otherwise(F.col("match_rule")))
        .drop("anonymous")
    )
    assignments = assignments.localCheckpoint()
    splits = splits.localCheckpoint()
    core_sizes = assignments.groupBy("cluster_id", "core_id").count()
    report.largest_guarded_cluster = (
        core_sizes.groupBy("cluster_id").agg((F.sum("count") - F.max("count") + 1).alias("guarded")).agg(F.max("guarded")).first()[0]
        or 0
    )
    report.splits = splits.count()
    if report.splits:
        lake.append(splits.withColumn("run_time", F.lit(run_time)), SPLITS)
    record_seconds(report.seconds, "cluster", started)
    progress(
        f"clustering: {report.splits:,} oversized clusters split; largest cluster beyond its deterministic core: "
        f"{report.largest_guarded_cluster} records"
    )

    started = time.perf_counter()
    _step(ctx, "ids")
    previous = lake.read_or_none(REGISTRY)
    registry, events = assign_customer_ids(assignments, previous, run_time.replace(tzinfo=None), load_ids_config(rules_file))
    # The new registry is computed from the old one: materialise it before replacing the table.
    registry = registry.localCheckpoint()
    events = events.localCheckpoint()
    lake.overwrite(registry, REGISTRY)
    report.id_events = {r.event_type: r["count"] for r in events.groupBy("event_type").count().collect()}
    if report.id_events:
        lake.append(events, ID_EVENTS)
    crosswalk = build_crosswalk(records, assignments, registry, run_time)
    # Unchanged rows are not rewritten; rows of records gone from silver (erased) leave the crosswalk.
    lake.merge(crosswalk, CROSSWALK, keys=["record_key"], compare_columns=["customer_id", "match_rule", "match_probability"],
               delete_missing_condition="true")
    record_seconds(report.seconds, "ids", started)

    sizes = lake.read(CROSSWALK).groupBy("customer_id").count()
    summary = sizes.agg(F.count("*").alias("customers"), F.sum("count").alias("records"), F.max("count").alias("largest")).first()
    report.customers, report.records, report.largest_cluster = summary.customers, summary.records, summary.largest
    progress(f"ids: {report.records:,} records -> {report.customers:,} customers (largest {report.largest_cluster}); events {report.id_events}")

    truth = load_truth(ctx) if evaluate else None
    if truth is not None:
        started = time.perf_counter()
        _step(ctx, "evaluate")
        clusters = lake.read(CROSSWALK).select("record_key", F.col("customer_id").alias("cluster_id"), "match_rule")
        every = evaluate_clusters(clusters, truth)
        truth_keys = truth.select(F.concat_ws(":", "source", "source_record_id").alias("record_key"), "person_id")
        identified = evaluate_clusters(
            clusters.where(F.col("match_rule") != "anonymous"), truth_keys.join(anonymous, "record_key", "left_anti")
        )
        report.metrics = {k: v for k, v in every.items() if isinstance(v, (int, float))}
        report.metrics.update({f"identified_{k}": v for k, v in identified.items() if isinstance(v, (int, float))})
        report.metrics["recall_ceiling"] = (identified["true_pairs"] / every["true_pairs"]) if every["true_pairs"] else 1.0
        record_seconds(report.seconds, "evaluate", started)
    report.metrics.update({"largest_cluster": report.largest_cluster, "customers": report.customers,
                           "largest_guarded_cluster": report.largest_guarded_cluster})
    started = time.perf_counter()
    _step(ctx, "log")
    report.model_run_id = tracking.log_match_run(
        model=model,
        config=matching_config,
        metrics=report.metrics,
        timings=report.seconds,
        tracking_uri=ctx.pipeline.mlflow_tracking_uri,
    )
    record_seconds(report.seconds, "log", started)
    if report.metrics.get("pairwise_f1") is not None:
        progress(
            "evaluation: pairwise P {pairwise_precision:.4f} R {pairwise_recall:.4f} F1 {pairwise_f1:.4f}; "
            "B-cubed P {bcubed_precision:.4f} R {bcubed_recall:.4f} F1 {bcubed_f1:.4f} (all records; best reachable "
            "recall {recall_ceiling:.4f})".format(**report.metrics)
        )
        progress(
            "evaluation without the {anonymous} anonymous records: pairwise P {identified_pairwise_precision:.4f} "
            "R {identified_pairwise_recall:.4f} F1 {identified_pairwise_f1:.4f}; B-cubed F1 {identified_bcubed_f1:.4f}".format(
                anonymous=report.anonymous_records, **report.metrics
            )
        )
    return report


def build_crosswalk(records: DataFrame, assignments: DataFrame, registry: DataFrame, run_time: dt.datetime) -> DataFrame:
    """``gold.customer_crosswalk``: one row per source record with its customer and how it was matched."""
    return (
        records.select("record_key", "source", "source_record_id", "channel")
        .join(assignments.select("record_key", "match_rule", "match_probability"), "record_key")
        .join(registry.select("record_key", "customer_id"), "record_key")
        .select(
            "source",
            "source_record_id",
            "record_key",
            "channel",
            "customer_id",
            "match_rule",
            "match_probability",
            F.lit(run_time.replace(tzinfo=None)).cast("timestamp").alias("matched_at"),
        )
    )


def build_parser(parser: argparse.ArgumentParser | None = None) -> argparse.ArgumentParser:
    parser = parser or argparse.ArgumentParser(prog="rcu match", description=__doc__)
    add_common_arguments(parser)
    parser.add_argument("--retrain", action="store_true", help="train a new model and make it the champion")
    parser.add_argument("--truth-dir", help="ground truth folder for evaluation (default: pipeline.yaml truth_dir)")
    return parser


def main(argv: list[str] | None = None) -> MatchReport:
    args = build_parser().parse_args(argv)
    ctx = build_context(args, "rcu-match")
    report = run(ctx, retrain=args.retrain)
    print(json.dumps(report.__dict__, indent=2, default=str), file=sys.stdout)
    return report


if __name__ == "__main__":
    main()
