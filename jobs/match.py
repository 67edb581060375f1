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
6. the review queue ``gold.review_queue``: the pairs worth a data steward's look (``spark_lib.matching.review``);
7. evaluation against the generator's ground truth when there is one, logged to MLflow with the run.

A data steward's decisions (``ops.review_decisions``: ``rcu review-import``, the review page) hold from the
next run on: *same* is a must-link, *different* a cannot-link no chain gets around; a decision whose records
changed since is not applied but queued again (``spark_lib.matching.overrides``). The report counts both. The
logins ``rcu stream`` saw (``silver.stream_identity_links``) are must-links too, once silver holds both records.

After a first run, a run under the same champion, configuration and code matches only the records new,
changed or deleted since the last one (``spark_lib.matching.incremental``): their pivot values are linked
again, they are scored against the base and among themselves, and only the components they touch are
clustered again (with the components of the records of the decisions taken since); ``--full`` (or more than ``probabilistic.incremental_max_share`` of the records changed)
matches every record.

The steps are library functions of ``spark_lib.matching``; this job reads, calls them and writes.

A model trained by ``--retrain`` is registered as ``challenger`` and becomes champion only if it is at least
as good as the champion on the labelled pairs and the truth (:mod:`jobs.match_gate`); otherwise the run
scores with the champion. ``--promote --reason TEXT`` promotes it whatever the figures, the reason recorded.
The run's metrics carry the precision estimated from the latest review sample once it has decisions
(:func:`jobs.review_estimate.sample_metrics`).

    rcu match [--retrain [--promote --reason TEXT] | --accept-champion] [--full]
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

from jobs.common import JobContext, Progress, add_common_arguments, add_lock_argument, step_fingerprint, writing_run
from jobs.match_gate import gate_challenger
from jobs.review_estimate import sample_metrics
from spark_lib import tables, tracking
from spark_lib.matching import (
    Clusters,
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
from spark_lib.matching.clustering import cluster_records, label_anonymous
from spark_lib.matching.overrides import Decisions, current_decisions, linked_since, login_links, steward_links
from spark_lib.matching.review import ReviewInputs, review_queue
from spark_lib.matching.deterministic import record_pivots
from spark_lib.matching.links import link_changes
from spark_lib.matching.crosswalk import COMPARED_COLUMNS
from spark_lib.matching.incremental import (
    matched_state,
    pair_ends,
    record_changes,
    records_to_reform,
    without_records,
)
from spark_lib.matching.probabilistic import (
    ModelMismatchError,
    check_fingerprint,
    data_fingerprint,
    fingerprint_differences,
)
from spark_lib.matching.probabilistic.scoring import model_key, predict_changed_pairs, term_frequencies
from spark_lib.storage import with_deletion_flag


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
    #: ``full``: every record matched; ``incremental``: the changes since the last run
    mode: str = "full"
    #: records clustered again (every record in a full run)
    reformed_records: int = 0
    #: a retrained model's gate (jobs.match_gate): outcome, promoted, reason, both models' figures
    gate: dict = field(default_factory=dict)
    #: the steward's decisions in force: applied (same / different), or stale (a record changed since: queued)
    decisions_applied: int = 0
    decisions_stale: int = 0
    #: the stream's login links applied as must-links (both records in silver)
    login_links: int = 0
    #: pairs in gold.review_queue after the run, and how many per reason
    review_queue: int = 0
    review_reasons: dict = field(default_factory=dict)


def load_truth(ctx: JobContext) -> DataFrame | None:
    """The generator's ground truth, if there is one: read by evaluation only, never by matching."""
    path = Path(ctx.truth_dir) / "truth.parquet"
    return ctx.spark.read.parquet(str(path)) if path.exists() else None


def run(ctx: JobContext, retrain: bool = False, progress: Progress | None = None, evaluate: bool = True,
        accept_champion: bool = False, full: bool = False, promote: bool = False,
        reason: str | None = None) -> MatchReport:
    stages = ctx.stages("match", progress)
    config = load_matching_config(ctx.conf_dir / "matching.yaml")
    rules = load_matching_rules(ctx.conf_dir / "matching_rules.yaml")
    report = MatchReport(seconds=stages.seconds)
    run_time = dt.datetime.now(dt.timezone.utc).replace(microsecond=0)
    lake = ctx.lake
    # the version matched, recorded with the run: the next run reads silver's change feed from there
    records_version = lake.version(tables.CUSTOMER_RECORDS)
    records = lake.read(tables.CUSTOMER_RECORDS, records_version)
    decisions = current_decisions(lake.read_or_none(tables.REVIEW_DECISIONS), records)
    report.decisions_applied, report.decisions_stale = decisions.applied, decisions.stale
    stream_links = lake.read_or_none(tables.STREAM_IDENTITY_LINKS)
    logins = login_links(stream_links, records)
    if logins is not None:
        logins = logins.localCheckpoint()
        report.login_links = logins.count()
        logins = logins if report.login_links else None

    # The records the model scores: the champion's fingerprint check, training, the pre-flight and Splink's
    # scoring read them many times.
    inputs = model_input(records, config).persist()
    try:
        model_json = None if retrain else _champion(ctx, stages.progress, inputs, config, accept_champion)
        previous = None if full or model_json is None else _previous_run(ctx, model_json)
        changes, decided, new_decisions = None, None, 0
        if previous is not None:
            with stages("changes") as stage:
                changes = record_changes(records, lake.read(tables.MATCHED_RECORDS, previous["matched_records_version"]),
                                         _records_feed(lake, previous, records, records_version))
                share = (changes.changed_count + changes.deleted_count) / max(changes.records, 1)
                # the records of the decisions taken and of the logins seen since the last run: their components
                # are formed again
                decided = decisions.decided_since(previous["recorded_at"])
                if stream_links is not None:
                    decided = decided.unionByName(linked_since(stream_links, previous["recorded_at"])).distinct()
                decided = decided.localCheckpoint()
                new_decisions = decided.count()
                stage.done(f"{changes.changed_count:,} new or changed records, {changes.deleted_count:,} deleted, "
                           f"since the run of {previous['run_time']:%Y-%m-%d %H:%M} ({share:.1%} of {changes.records:,}); "
                           f"{new_decisions:,} records of decisions taken or logins seen since")
            if share > config.probabilistic.incremental_max_share:
                stages.progress(f"more than {config.probabilistic.incremental_max_share:.0%} of the records changed: "
                                "matching them all again")
                changes = None
        if changes is not None and not changes.changed_count + changes.deleted_count + new_decisions:
            report.mode, model = "unchanged", None
            stages.progress(f"nothing changed since the last run: every customer stays as it is; {_summary(lake, report)}")
        elif changes is not None:
            run_time = _incremental_run_time(lake, run_time)
            model = None
            _match_changes(ctx, stages, report, config, rules, records, inputs, model_json, previous, changes, run_time,
                           decisions, decided, logins)
        else:
            model, model_json = _match_all(ctx, stages, report, config, rules, records, inputs, model_json, run_time,
                                           decisions, logins, promote, reason)
    finally:
        inputs.unpersist()
    if model is not None:
        report.seconds["train_total"] = round(model.training_seconds, 2)

    truth = load_truth(ctx) if evaluate else None
    if truth is not None:
        with stages("evaluate") as stage:
            anonymous = lake.read(tables.CROSSWALK).where(F.col("match_rule") == "anonymous").select("record_key")
            report.metrics = evaluate_matching(lake.read(tables.CROSSWALK), truth, anonymous)
            stage.done(_evaluation_text(report))
    report.metrics.update({"largest_cluster": report.largest_cluster, "customers": report.customers,
                           "largest_guarded_cluster": report.largest_guarded_cluster})
    with stages("log"):
        report.metrics.update({**sample_metrics(lake), **report.gate.get("metrics", {})})
        report.model_run_id = tracking.log_match_run(
            model=model, config=config, metrics=report.metrics, timings=report.seconds,
            tracking_uri=ctx.pipeline.mlflow_tracking_uri, model_name=ctx.pipeline.model_name,
            alias=report.gate.get("alias", tracking.CHAMPION), tags=report.gate.get("tags"),
            version_tags=report.gate.get("version_tags"),
        )
        if report.mode != "unchanged":
            _record_run(ctx, report, run_time, model_json, records_version)
    return report


def _match_all(ctx: JobContext, stages, report: MatchReport, config, rules, records: DataFrame, inputs: DataFrame,
               model_json: dict | None, run_time: dt.datetime, decisions: Decisions, logins: DataFrame | None,
               promote: bool = False, reason: str | None = None):
    """Match every record (a first run, a new model or configuration, ``--full``); returns the model trained,
    if one was, and the model JSON the run scored with (a trained model that lost the gate: the champion's)."""
    lake = ctx.lake
    report.mode = "full"
    # the generic values and links the last run left, for the review queue (values newly generic)
    versions = [lake.version(t) for t in (tables.GENERIC_VALUES, tables.DETERMINISTIC_EDGES)]
    before = None if None in versions else (lake.read(tables.GENERIC_VALUES, versions[0]),
                                             lake.read(tables.DETERMINISTIC_EDGES, versions[1]))

    def train(wait_for_cores):
        with stages.named_jobs("train"):
            return train_model(ctx.spark, records, config, deterministic_cores=wait_for_cores, inputs=inputs)

    with TrainingThread(train) if model_json is None else nullcontext() as training:
        with stages("deterministic") as stage:
            links = link_deterministic(records, rules.deterministic, rules.clustering, _materialiser(lake))
            _report_links(report, links)
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
                # the gate: the new model against the champion on the labelled pairs and the truth
                gate = gate_challenger(ctx, records, inputs, model.model_json, config, rules.clustering.threshold,
                                       load_truth(ctx), promote, reason)
                model_json, report.gate = gate.model_json, gate.report()
                stage.done(f"model trained on {model.training_records:,} records ({model.backend}); {report.gate['text']}")
            else:
                report.comparisons = preflight(ctx.spark, records, config, inputs=inputs)
                report.model_input_records = inputs.count()
                stage.done(f"pre-flight: {sum(report.comparisons.values()):,} comparisons over "
                           f"{len(report.comparisons)} blocking rules")

    with stages("predict") as stage:
        # The limits were checked above; pairs within a deterministic core are linked whatever their score.
        frequencies = _frozen_frequencies(lake, model_json, inputs, config)
        scored = predict_pairs(ctx.spark, records, model_json, config, check_limits=False, inputs=inputs,
                               linked=links.core_of, frequencies=frequencies)
        pairs = _materialiser(lake)(scored, tables.MATCH_PAIRS)
        report.probabilistic_pairs = pairs.count()
        stage.done(f"{report.probabilistic_pairs:,} scored pairs above the threshold, between different cores")

    with stages("cluster") as stage:
        steward = steward_links(records, links.edges, decisions, rules.clustering, logins)
        clusters = cluster_customers(records, links, pairs, rules.clustering, steward)
        _log_splits(lake, report, clusters, run_time)
        stage.done(f"{report.splits:,} oversized clusters split; {_decisions_text(report)}")

    with stages("ids") as stage:
        registry, events = assign_customer_ids(
            clusters.assignments, lake.read_or_none(tables.ID_REGISTRY), run_time.replace(tzinfo=None), rules.ids
        )
        # The new registry is computed from the old one: materialise it before replacing the table.
        registry, events = registry.localCheckpoint(), events.localCheckpoint()
        lake.overwrite(registry, tables.ID_REGISTRY)
        _log_events(lake, report, events)
        # Unchanged rows are not rewritten; rows of records gone from silver (erased) leave the crosswalk.
        lake.merge(build_crosswalk(records, clusters.assignments, registry, run_time), tables.CROSSWALK,
                   keys=tables.CROSSWALK.keys, compare_columns=COMPARED_COLUMNS, delete_missing_condition="true")
        state = matched_state(records, clusters.assignments, record_pivots(rules.deterministic))
        lake.overwrite(state, tables.MATCHED_RECORDS)
        report.reformed_records = clusters.assignments.count()
        stage.done(_summary(lake, report))
    _write_review_queue(ctx, stages, report, rules, model_json, decisions, before, run_time)
    return model, model_json


def _match_changes(ctx: JobContext, stages, report: MatchReport, config, rules, records: DataFrame,
                   inputs: DataFrame, model_json: dict, previous: dict, changes, run_time: dt.datetime,
                   decisions: Decisions, decided: DataFrame, logins: DataFrame | None) -> None:
    """Match the day's changes against the base (:mod:`spark_lib.matching.incremental`): only the components
    they touch are clustered again, only their records get new registry and crosswalk rows.

    Every table the last run left is read as that run left it (its versions in ``silver.match_runs``), and
    every write replaces rows by key: a run killed half-way and started again computes and writes the same
    rows."""
    lake = ctx.lake
    report.mode = "incremental"
    state = lake.read(tables.MATCHED_RECORDS, previous["matched_records_version"])
    with stages("deterministic") as stage:
        before = (lake.read(tables.GENERIC_VALUES, previous["generic_values_version"]),
                  lake.read(tables.DETERMINISTIC_EDGES, previous["deterministic_edges_version"]))
        found = link_changes(records, rules.deterministic, rules.clustering, state, before, changes.changed,
                             changes.deleted, _materialiser(lake))
        links, moved = found.links, found.moved
        _report_links(report, links)
        stage.done(f"{found.values.count():,} pivot values linked again: {report.deterministic_edges:,} links, "
                   f"{report.generic_values:,} generic values excluded; {moved.count():,} records gained or lost a "
                   "link or changed core")

    with stages("predict") as stage:
        present = records.select("record_key")
        # changed and moved records are silver's but for the deleted ones among those that moved
        rescored = (changes.changed.unionByName(moved).distinct()
                    .join(changes.deleted, "record_key", "left_anti").localCheckpoint())
        changed_inputs = inputs.join(rescored, "record_key", "left_semi")
        other_inputs = inputs.join(rescored, "record_key", "left_anti")
        frequencies = _frozen_frequencies(lake, model_json, None, config)
        new_pairs = predict_changed_pairs(ctx.spark, changed_inputs, other_inputs, model_json, config, frequencies,
                                          links.core_of).localCheckpoint()
        old_pairs = lake.read(tables.MATCH_PAIRS, previous["match_pairs_version"])
        gone = rescored.unionByName(changes.deleted)
        kept = without_records(old_pairs, gone)
        pairs = _materialiser(lake)(kept.unionByName(new_pairs.select(*old_pairs.columns)), tables.MATCH_PAIRS)
        report.probabilistic_pairs = pairs.count()
        report.model_input_records = inputs.count()
        stage.done(f"{rescored.count():,} records scored against the others: {new_pairs.count():,} pairs above the "
                   f"threshold; {report.probabilistic_pairs:,} pairs in all")

    with stages("cluster") as stage:
        touched = rescored.unionByName(moved).unionByName(pair_ends(new_pairs)).unionByName(decided)
        reform = (records_to_reform(state, touched, changes.deleted).join(present, "record_key", "left_semi")
                  .localCheckpoint())
        subset = records.join(reform, "record_key", "left_semi").localCheckpoint()
        steward = steward_links(subset, links.edges, decisions, rules.clustering, logins)
        if steward.apart is None and not steward.has_must_links:
            assignments, splits = cluster_records(subset, links.edges, pairs, rules.clustering)
        else:
            assignments, splits = cluster_records(subset, steward.edges, pairs, rules.clustering, apart=steward.apart)
            splits = steward.splits.unionByName(splits)
        clusters = Clusters(label_anonymous(assignments, links.anonymous).localCheckpoint(), splits.localCheckpoint())
        _log_splits(lake, report, clusters, run_time)
        report.reformed_records = subset.count()
        stage.done(f"{report.reformed_records:,} records of the components the changes touch clustered again; "
                   f"{report.splits:,} oversized clusters split; {_decisions_text(report)}")

    with stages("ids") as stage:
        old_registry = lake.read(tables.ID_REGISTRY, previous["customer_id_registry_version"])
        held = old_registry.join(reform, "record_key", "left_semi").select("customer_id").distinct()
        registry, events = assign_customer_ids(
            clusters.assignments, old_registry.join(held, "customer_id", "left_semi"),
            run_time.replace(tzinfo=None), rules.ids,
        )
        registry, events = registry.localCheckpoint(), events.localCheckpoint()
        # The registry and the matched state are the last run's rows with those of the records clustered again
        # (or deleted) replaced: one overwrite each (a day's records are spread over every file of the table, so a
        # MERGE would rewrite them all too, after a join). The crosswalk is merged: its change feed says which
        # customers gold builds again.
        replaced = reform.unionByName(changes.deleted.select("record_key"))
        lake.overwrite(_replaced(old_registry, replaced, registry), tables.ID_REGISTRY)
        _log_events(lake, report, events)
        crosswalk = build_crosswalk(subset, clusters.assignments, registry, run_time)
        unchanged = " AND ".join(f"t.{c} <=> s.{c}" for c in COMPARED_COLUMNS)
        lake.apply_changes(with_deletion_flag(crosswalk, changes.deleted.select("record_key"), "_deleted"),
                           tables.CROSSWALK, ["record_key"], deleted="_deleted", unchanged_when=unchanged)
        matched = matched_state(subset, clusters.assignments, record_pivots(rules.deterministic))
        lake.overwrite(_replaced(state, replaced, matched), tables.MATCHED_RECORDS)
        stage.done(_summary(lake, report))
    _write_review_queue(ctx, stages, report, rules, model_json, decisions, before, run_time)


def _decisions_text(report: MatchReport) -> str:
    return (f"{report.decisions_applied:,} steward decisions applied, {report.decisions_stale:,} stale "
            f"(a record changed since: queued again); {report.login_links:,} login links of the stream")


def _write_review_queue(ctx: JobContext, stages, report: MatchReport, rules, model_json: dict | None,
                        decisions: Decisions, before: tuple[DataFrame, DataFrame] | None, run_time: dt.datetime) -> None:
    """Rewrite ``gold.review_queue`` from the tables the run left (:func:`spark_lib.matching.review.review_queue`):
    its candidates, then one write, then one count by reason."""
    lake = ctx.lake
    with stages("review") as stage:
        inputs = ReviewInputs(
            records=lake.read(tables.CUSTOMER_RECORDS), pairs=lake.read(tables.MATCH_PAIRS),
            state=lake.read(tables.MATCHED_RECORDS), crosswalk=lake.read(tables.CROSSWALK),
            decisions=decisions.current, generic_values=lake.read(tables.GENERIC_VALUES),
            generic_values_before=before[0] if before else None, edges_before=before[1] if before else None,
            sample=lake.read_or_none(tables.REVIEW_SAMPLE),
        )
        queue = review_queue(inputs, rules.review, rules.clustering, model_json, run_time.replace(tzinfo=None))
        lake.overwrite(queue, tables.REVIEW_QUEUE)
        counts = (lake.read(tables.REVIEW_QUEUE).select(F.explode("reasons").alias("reason"))
                  .groupBy("reason").count().collect())
        report.review_reasons = {r.reason: r["count"] for r in sorted(counts)}
        report.review_queue = lake.last_operation_metrics(tables.REVIEW_QUEUE).get("num_output_rows", 0)
        stage.done(f"{report.review_queue:,} pairs to review: {report.review_reasons}")


def _summary(lake, report: MatchReport) -> str:
    summary = summarise_crosswalk(lake.read(tables.CROSSWALK))
    report.customers, report.records, report.largest_cluster = summary.customers, summary.records, summary.largest
    report.largest_guarded_cluster = largest_guarded_cluster(lake.read(tables.MATCHED_RECORDS))
    return (f"{report.records:,} records -> {report.customers:,} customers (largest {report.largest_cluster}, "
            f"{report.largest_guarded_cluster} beyond its deterministic core); events {report.id_events}")


def _replaced(before: DataFrame, keys: DataFrame, rows: DataFrame) -> DataFrame:
    """``before`` (a table as the last run left it, keyed by record_key) with the rows of ``keys`` taken out and
    ``rows`` put in (in place of theirs too)."""
    out = keys.select("record_key").unionByName(rows.select("record_key"))
    return before.join(out, "record_key", "left_anti").unionByName(rows.select(*before.columns))


def _materialiser(lake):
    def materialise(df: DataFrame, table) -> DataFrame:
        lake.overwrite(df, table)
        return lake.read(table)
    return materialise


def _report_links(report: MatchReport, links) -> None:
    report.generic_values, report.deterministic_edges = links.generic_values.count(), links.edges.count()
    report.anonymous_records = links.anonymous.count()


def _log_splits(lake, report: MatchReport, clusters: Clusters, run_time: dt.datetime) -> None:
    report.splits = clusters.splits.count()
    if report.splits:
        # Idempotent: a split already logged (a re-run, a run killed after this point) is not logged again.
        lake.append_new(clusters.splits.withColumn("run_time", F.lit(run_time)), tables.CLUSTER_SPLITS,
                        keys=tables.CLUSTER_SPLITS.keys)


def _log_events(lake, report: MatchReport, events: DataFrame) -> None:
    report.id_events = {r.event_type: r["count"] for r in events.groupBy("event_type").count().collect()}
    if report.id_events:
        # A re-run of a killed incremental run finds the same events (same run time): logged once.
        lake.append_new(events, tables.ID_EVENTS, keys=tables.ID_EVENTS.keys)


def _frozen_frequencies(lake, model_json: dict, inputs: DataFrame | None, config) -> DataFrame:
    """The term frequencies frozen with ``model_json``: stored ones, or (``inputs`` given) computed on the
    records it first scores and stored."""
    key = model_key(model_json)
    stored = lake.read_or_none(tables.TERM_FREQUENCIES)
    if stored is not None and stored.where(F.col("model_key") == key).limit(1).count():
        return stored.where(F.col("model_key") == key).drop("model_key")
    if inputs is None:
        raise LookupError(f"no term frequencies stored for model {key} in {tables.TERM_FREQUENCIES}")
    computed = term_frequencies(inputs, config).select(F.lit(key).alias("model_key"), "*")
    lake.replace_where(computed, tables.TERM_FREQUENCIES, f"model_key = '{key}'")
    return lake.read(tables.TERM_FREQUENCIES).where(F.col("model_key") == key).drop("model_key")


#: the tables an incremental run reads as the last run left them (their versions are in silver.match_runs)
RUN_TABLES = (tables.MATCHED_RECORDS, tables.GENERIC_VALUES, tables.DETERMINISTIC_EDGES, tables.MATCH_PAIRS,
              tables.ID_REGISTRY)
#: the ``silver.match_runs`` column of the version of ``silver.customer_records`` a run matched
RECORDS_VERSION = "customer_records_version"


def _version_column(table: str) -> str:
    return f"{table.split('.')[1]}_version"


def _previous_run(ctx: JobContext, model_json: dict) -> dict | None:
    """The last match run, when the next one may match the changes only: same model, configuration and code,
    and its tables all there."""
    runs = ctx.lake.read_or_none(tables.MATCH_RUNS)
    if runs is None:
        return None
    last = runs.orderBy(F.desc("recorded_at")).first()
    if last is None or last.model_key != model_key(model_json) or last.fingerprint != step_fingerprint(ctx, "match"):
        return None
    previous = last.asDict()
    if any(previous.get(_version_column(t)) is None for t in RUN_TABLES):
        return None
    return previous


def _records_feed(lake, previous: dict, records: DataFrame, version: int) -> DataFrame | None:
    """Silver's change feed from the version of the records the last run matched up to ``version``; None when
    that run did not record it (a lakehouse matched before it did) or the feed cannot tell (turned on later,
    files purged since): every record is compared then."""
    after = previous.get(RECORDS_VERSION)
    if after is None:
        return None
    return lake.changes(tables.CUSTOMER_RECORDS, after, [*records.columns, "_commit_version"], until=version)


def _incremental_run_time(lake, now: dt.datetime) -> dt.datetime:
    """An incremental run's time: that of the silver commit it matches, so that a run killed and started again
    gives the same new ids and events (a full run rewrites everything and takes the clock's time)."""
    commit = lake.delta_table(tables.CUSTOMER_RECORDS).history(1).select("timestamp").first()[0]
    if commit is None:
        return now
    return commit.replace(tzinfo=dt.timezone.utc, microsecond=0)


def _record_run(ctx: JobContext, report: MatchReport, run_time: dt.datetime, model_json: dict | None,
                records_version: int) -> None:
    """Append the run's ``silver.match_runs`` row: the versions of the tables it left and of the records it
    matched, read back by the next incremental run. Written last: a run killed before it is, for the next run,
    a run that never ended."""
    lake = ctx.lake
    versions = {**{_version_column(t): lake.version(t) for t in RUN_TABLES}, RECORDS_VERSION: records_version}
    row = (run_time.replace(tzinfo=None), report.mode, model_key(model_json) if model_json else None,
           step_fingerprint(ctx, "match"), report.records, report.customers, report.reformed_records,
           *versions.values())
    schema = ("run_time timestamp, mode string, model_key string, fingerprint string, records long, customers long, "
              "reformed_records long, " + ", ".join(f"{name} long" for name in versions))
    # recorded_at orders the runs: an incremental run's run_time is its silver commit's, earlier than its end
    lake.append(ctx.spark.createDataFrame([row], schema).withColumn("recorded_at", F.current_timestamp()),
                tables.MATCH_RUNS)


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
    choice.add_argument("--retrain", action="store_true",
                        help="train a new model: champion if at least as good as the current one on the labels and truth")
    choice.add_argument("--accept-champion", action="store_true",
                        help="score with the champion even when it was trained on other data (its fingerprint differs)")
    parser.add_argument("--full", action="store_true",
                        help="match every record again, not only those new, changed or deleted since the last run")
    parser.add_argument("--truth-dir", help="ground truth folder for evaluation (default: pipeline.yaml truth_dir)")
    parser.add_argument("--promote", action="store_true",
                        help="with --retrain: make the new model champion whatever the comparison (needs --reason)")
    parser.add_argument("--reason", help="with --promote: why, recorded in MLflow and on the registered version")
    return parser


def main(argv: list[str] | None = None) -> MatchReport:
    parser = build_parser()
    args = parser.parse_args(argv)
    if args.promote and not (args.retrain and args.reason and args.reason.strip()):
        parser.error("--promote needs --retrain and --reason TEXT (why the new model is made champion)")
    try:
        with writing_run(args, "rcu-match", "rcu match", steps=["match"]) as ctx:
            report = run(ctx, retrain=args.retrain, accept_champion=args.accept_champion, full=args.full,
                         promote=args.promote, reason=args.reason)
    except ModelMismatchError as error:
        print(f"rcu match: error: {error}", file=sys.stderr)
        raise SystemExit(2) from error
    print(json.dumps(report.__dict__, indent=2, default=str), file=sys.stdout)
    return report


if __name__ == "__main__":
    main()
