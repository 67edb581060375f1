"""Match: decide which silver records are the same person, and give each person a persistent customer id.

1. deterministic links on pivot identifiers (generic values excluded and listed in ``silver.generic_values``);
2. probabilistic links scored by the Splink model registered in MLflow under the ``champion`` alias
   (trained, logged and registered first when there is none or ``--retrain`` is given; training runs in a
   thread beside step 1, since only its prior needs the deterministic cores). A champion trained on other
   data (other sources, other filled columns, other comparisons: its fingerprint) stops the run unless
   ``--accept-champion`` is given;
3. clustering with merge protection (splits logged in ``gold.cluster_splits``);
4. persistent ids (``gold.customer_id_registry``, merge/split events in ``gold.customer_id_events``);
5. the crosswalk ``gold.customer_crosswalk`` (source, source record id, customer id, how it was matched);
6. evaluation against the generator's ground truth when there is one, logged to MLflow with the run.

The steps are library functions of ``spark_lib.matching``; this job reads, calls them and writes.

    rcu match [--retrain | --accept-champion]
    spark-submit --py-files rcu.zip jobs/match.py --lakehouse /data/lakehouse --conf-dir conf
"""

from __future__ import annotations

import argparse
import datetime as dt
import json
import sys
from contextlib import nullcontext
from dataclasses import dataclass, field
from pathlib import Path

from pyspark.sql import DataFrame
from pyspark.sql import functions as F

from jobs.common import JobContext, Progress, add_common_arguments, add_lock_argument, writing_run
from spark_lib import tables, tracking
from spark_lib.matching import (
    TrainingThread,
    assign_customer_ids,
    build_crosswalk,
    cluster_customers,
    evaluate_matching,
    largest_guarded_cluster,
    link_deterministic,
    load_matching_config,
    load_matching_rules,
    model_input,
    predict_pairs,
    preflight,
    summarise_crosswalk,
    train_model,
)
from spark_lib.matching.crosswalk import COMPARED_COLUMNS
from spark_lib.matching.probabilistic import (
    ModelMismatchError,
    check_fingerprint,
    data_fingerprint,
    fingerprint_differences,
)


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
    #: seconds per stage; ``train_total`` is the training's own duration, most of it beside the deterministic step
    seconds: dict = field(default_factory=dict)


def load_truth(ctx: JobContext) -> DataFrame | None:
    """The generator's ground truth, if there is one: read by evaluation only, never by matching."""
    path = Path(ctx.truth_dir) / "truth.parquet"
    return ctx.spark.read.parquet(str(path)) if path.exists() else None


def run(ctx: JobContext, retrain: bool = False, progress: Progress | None = None, evaluate: bool = True,
        accept_champion: bool = False) -> MatchReport:
    stages = ctx.stages("match", progress)
    config = load_matching_config(ctx.conf_dir / "matching.yaml")
    rules = load_matching_rules(ctx.conf_dir / "matching_rules.yaml")
    report = MatchReport(seconds=stages.seconds)
    run_time = dt.datetime.now(dt.timezone.utc).replace(microsecond=0)
    lake = ctx.lake
    records = lake.read(tables.CUSTOMER_RECORDS)

    def materialise(df: DataFrame, table: str) -> DataFrame:
        lake.overwrite(df, table)
        return lake.read(table)

    # The records the model scores: the champion's fingerprint check, training, the pre-flight and Splink's
    # scoring read them many times.
    inputs = model_input(records, config).persist()
    try:
        model_json = None if retrain else _champion(ctx, stages.progress, inputs, config, accept_champion)
    except BaseException:
        inputs.unpersist()
        raise

    def train(wait_for_cores):
        with stages.named_jobs("train"):
            return train_model(ctx.spark, records, config, deterministic_cores=wait_for_cores, inputs=inputs)

    with TrainingThread(train) if model_json is None else nullcontext() as training:
        with stages("deterministic") as stage:
            links = link_deterministic(records, rules.deterministic, rules.clustering, materialise)
            report.generic_values, report.deterministic_edges = links.generic_values.count(), links.edges.count()
            report.anonymous_records = links.anonymous.count()
            stage.done(f"{report.deterministic_edges:,} links, {report.generic_values:,} generic values excluded, "
                       f"{report.anonymous_records:,} anonymous records (nothing to match on)")
        if training is not None:
            training.give_cores(links.core_of)
        # train: how long the job waits for the model after the deterministic step (train_total: its whole
        # duration); with a champion, the pre-flight that checks the blocking rules' limits.
        with stages("train") as stage:
            model = training.result() if training is not None else None
            if model is not None:
                model_json = model.model_json
                report.retrained = True
                report.comparisons, report.model_input_records = model.comparison_counts, model.input_records
                stage.done(f"model trained on {model.training_records:,} records ({model.backend})")
            else:
                report.comparisons = preflight(ctx.spark, records, config, inputs=inputs)
                report.model_input_records = inputs.count()
                stage.done(f"pre-flight: {sum(report.comparisons.values()):,} comparisons over "
                           f"{len(report.comparisons)} blocking rules")
    if model is not None:
        report.seconds["train_total"] = round(model.training_seconds, 2)

    with stages("predict") as stage:
        # The limits were checked above; pairs within a deterministic core are linked whatever their score.
        scored = predict_pairs(ctx.spark, records, model_json, config, check_limits=False, inputs=inputs,
                               linked=links.core_of)
        pairs = materialise(scored, tables.MATCH_PAIRS)
        inputs.unpersist()
        report.probabilistic_pairs = pairs.count()
        stage.done(f"{report.probabilistic_pairs:,} scored pairs above the threshold, between different cores")

    with stages("cluster") as stage:
        clusters = cluster_customers(records, links, pairs, rules.clustering)
        report.largest_guarded_cluster = largest_guarded_cluster(clusters.assignments)
        report.splits = clusters.splits.count()
        logged = 0
        if report.splits:
            # Idempotent: a split already logged (a re-run, a run killed after this point) is not logged again.
            logged = lake.append_new(clusters.splits.withColumn("run_time", F.lit(run_time)), tables.CLUSTER_SPLITS,
                                     keys=tables.CLUSTER_SPLITS.keys)
        stage.done(f"{report.splits:,} oversized clusters split ({logged:,} not logged before); largest cluster "
                   f"beyond its deterministic core: {report.largest_guarded_cluster} records")

    with stages("ids") as stage:
        registry, events = assign_customer_ids(
            clusters.assignments, lake.read_or_none(tables.ID_REGISTRY), run_time.replace(tzinfo=None), rules.ids
        )
        # The new registry is computed from the old one: materialise it before replacing the table.
        registry, events = registry.localCheckpoint(), events.localCheckpoint()
        lake.overwrite(registry, tables.ID_REGISTRY)
        report.id_events = {r.event_type: r["count"] for r in events.groupBy("event_type").count().collect()}
        if report.id_events:
            lake.append(events, tables.ID_EVENTS)
        # Unchanged rows are not rewritten; rows of records gone from silver (erased) leave the crosswalk.
        lake.merge(build_crosswalk(records, clusters.assignments, registry, run_time), tables.CROSSWALK,
                   keys=tables.CROSSWALK.keys, compare_columns=COMPARED_COLUMNS, delete_missing_condition="true")
        summary = summarise_crosswalk(lake.read(tables.CROSSWALK))
        report.customers, report.records, report.largest_cluster = summary.customers, summary.records, summary.largest
        stage.done(f"{report.records:,} records -> {report.customers:,} customers (largest {report.largest_cluster}); "
                   f"events {report.id_events}")

    truth = load_truth(ctx) if evaluate else None
    if truth is not None:
        with stages("evaluate") as stage:
            report.metrics = evaluate_matching(lake.read(tables.CROSSWALK), truth, links.anonymous)
            stage.done(_evaluation_text(report))
    report.metrics.update({"largest_cluster": report.largest_cluster, "customers": report.customers,
                           "largest_guarded_cluster": report.largest_guarded_cluster})
    with stages("log"):
        report.model_run_id = tracking.log_match_run(
            model=model, config=config, metrics=report.metrics, timings=report.seconds,
            tracking_uri=ctx.pipeline.mlflow_tracking_uri, model_name=ctx.pipeline.model_name,
        )
    return report


def _champion(ctx: JobContext, progress: Progress, inputs: DataFrame, config, accept: bool) -> dict | None:
    """The registered champion's model JSON, or None when there is none yet (the job then trains one).

    A champion whose fingerprint does not fit the data raises ModelMismatchError, unless ``accept``."""
    try:
        champion = tracking.load_champion(ctx.pipeline.model_name, tracking_uri=ctx.pipeline.mlflow_tracking_uri)
    except LookupError:
        progress(f"model: no registered champion of {ctx.pipeline.model_name} yet, training one")
        return None
    current = data_fingerprint(inputs, config)
    differences = fingerprint_differences(champion.fingerprint, current)
    if differences and not accept:
        check_fingerprint(champion.fingerprint, current, str(champion))
    if differences:
        progress(f"model: scoring with {champion} although it does not fit the data (--accept-champion): "
                 f"{'; '.join(differences)}")
    else:
        progress(f"model: scoring with {champion}, the champion")
    return champion.model_json


def _evaluation_text(report: MatchReport) -> str:
    return (
        "pairwise P {pairwise_precision:.4f} R {pairwise_recall:.4f} F1 {pairwise_f1:.4f}; B-cubed F1 {bcubed_f1:.4f} "
        "(all records; best reachable recall {recall_ceiling:.4f}); without the {anonymous:,} anonymous records: "
        "pairwise P {identified_pairwise_precision:.4f} R {identified_pairwise_recall:.4f} F1 "
        "{identified_pairwise_f1:.4f}; B-cubed F1 {identified_bcubed_f1:.4f}"
    ).format(anonymous=report.anonymous_records, **report.metrics)


def build_parser(parser: argparse.ArgumentParser | None = None) -> argparse.ArgumentParser:
    parser = parser or argparse.ArgumentParser(prog="rcu match", description=__doc__)
    add_common_arguments(parser)
    add_lock_argument(parser)
    choice = parser.add_mutually_exclusive_group()
    choice.add_argument("--retrain", action="store_true", help="train a new model and make it the champion")
    choice.add_argument("--accept-champion", action="store_true",
                        help="score with the champion even when it was trained on other data (its fingerprint differs)")
    parser.add_argument("--truth-dir", help="ground truth folder for evaluation (default: pipeline.yaml truth_dir)")
    return parser


def main(argv: list[str] | None = None) -> MatchReport:
    args = build_parser().parse_args(argv)
    try:
        with writing_run(args, "rcu-match", "rcu match", steps=["match"]) as ctx:
            report = run(ctx, retrain=args.retrain, accept_champion=args.accept_champion)
    except ModelMismatchError as error:
        print(f"rcu match: error: {error}", file=sys.stderr)
        raise SystemExit(2) from error
    print(json.dumps(report.__dict__, indent=2, default=str), file=sys.stdout)
    return report


if __name__ == "__main__":
    main()
