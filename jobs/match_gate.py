"""The match job's gate for a newly trained model (``rcu match --retrain [--promote --reason TEXT]``): the
challenger and the champion scored on the labelled pairs (and the truth), and which one the run scores with.

Not an entry point: :mod:`jobs.match` calls :func:`gate_challenger` once the model is trained. It reads what
the decision needs (the registry's champion, ``ops.review_decisions``, the truth, the last run's
``silver.match_pairs``), scores the listed pairs with both models
(:func:`~spark_lib.matching.probabilistic.scoring.score_listed_pairs`: a few thousand pairs, never a full
matching) and hands the figures to :func:`spark_lib.review.gating.decide`; the figures and the decision are
logged to MLflow with the training run (:func:`spark_lib.tracking.log_match_run`).
"""

from __future__ import annotations

from dataclasses import dataclass

from pyspark.sql import DataFrame
from pyspark.sql import functions as F

from spark_lib import tables, tracking
from spark_lib.matching.probabilistic.scoring import model_key, score_listed_pairs, term_frequencies
from spark_lib.matching.overrides import latest_decisions
from spark_lib.review.estimate import DIFFERENT, SAME
from spark_lib.review.gating import GateDecision, PairFigures, decide, pair_figures

#: pairs of the last run's silver.match_pairs answered by the truth for the truth's figures (hash-sampled)
TRUTH_PAIRS = 5_000


@dataclass(frozen=True)
class GateOutcome:
    decision: GateDecision
    #: the model JSON the run scores with: the challenger's when promoted, else the champion's
    model_json: dict
    champion_version: str | None

    def alias(self) -> str:
        return tracking.CHAMPION if self.decision.promote else tracking.CHALLENGER

    def version_tags(self) -> dict[str, str]:
        tags = {"rcu.gate.outcome": self.decision.outcome}
        if self.decision.outcome == "forced":
            tags["rcu.promotion_reason"] = self.decision.reason
        return tags

    def report(self) -> dict:
        """What the match report shows and the log step reads (JSON-ready, no model)."""
        tags = self.decision.tags()
        if self.decision.outcome == "forced":
            tags["rcu.promotion_reason"] = self.decision.reason
        return {"outcome": self.decision.outcome, "promoted": self.decision.promote, "reason": self.decision.reason,
                "champion_version": self.champion_version, "alias": self.alias(), "metrics": self.decision.metrics(),
                "tags": tags, "version_tags": self.version_tags(), "text": self.decision.text()}


def labelled_pairs(lake) -> DataFrame | None:
    """pair_id, record_key_l, record_key_r, same: the latest same/different decision of each reviewed pair."""
    decisions = lake.read_or_none(tables.REVIEW_DECISIONS)
    if decisions is None:
        return None
    return latest_decisions(decisions).where(F.col("decision").isin(SAME, DIFFERENT)).select(
        "pair_id", "record_key_l", "record_key_r", (F.col("decision") == SAME).alias("same"))


def truth_pairs(lake, truth: DataFrame, labelled: DataFrame | None) -> DataFrame | None:
    """The labelled pairs and up to :data:`TRUTH_PAIRS` pairs of the last run's scored pairs, answered by the
    truth (pairs whose records the truth knows): pair_id, record_key_l, record_key_r, same."""
    if "record_key" in truth.columns:
        person = truth.select("record_key", F.col("person_id").cast("string").alias("person_id"))
    else:
        person = truth.select(F.concat_ws(":", "source", F.col("source_record_id").cast("string")).alias("record_key"),
                              F.col("person_id").cast("string").alias("person_id"))
    pairs = []
    scored = lake.read_or_none(tables.MATCH_PAIRS)
    if scored is not None:
        order = F.xxhash64("record_key_l", "record_key_r")
        pairs.append(scored.select("record_key_l", "record_key_r").orderBy(order).limit(TRUTH_PAIRS))
    if labelled is not None:
        pairs.append(labelled.select("record_key_l", "record_key_r"))
    if not pairs:
        return None
    listed = pairs[0]
    for more in pairs[1:]:
        listed = listed.unionByName(more)
    listed = listed.distinct()
    ends = {s: person.select(F.col("record_key").alias(f"record_key_{s}"), F.col("person_id").alias(f"person_{s}"))
            for s in ("l", "r")}
    return listed.join(ends["l"], "record_key_l").join(ends["r"], "record_key_r").select(
        F.concat_ws("|", "record_key_l", "record_key_r").alias("pair_id"), "record_key_l", "record_key_r",
        (F.col("person_l") == F.col("person_r")).alias("same"))


def _frequencies(lake, model_json: dict, inputs: DataFrame, config) -> DataFrame:
    """The term frequencies stored with a model, else computed on today's inputs (not stored: the match
    step stores those of the model it scores with)."""
    key = model_key(model_json)
    stored = lake.read_or_none(tables.TERM_FREQUENCIES)
    if stored is not None and stored.where(F.col("model_key") == key).limit(1).count():
        return stored.where(F.col("model_key") == key).drop("model_key")
    return term_frequencies(inputs, config).localCheckpoint()


def gate_challenger(ctx, records: DataFrame, inputs: DataFrame, challenger_json: dict, config, threshold: float,
                    truth: DataFrame | None, promote: bool = False, reason: str | None = None) -> GateOutcome:
    """Compare the new model with the registry's champion and decide which one the run scores with."""
    lake, pipeline = ctx.lake, ctx.pipeline
    try:
        champion = tracking.load_champion(pipeline.model_name, tracking_uri=pipeline.mlflow_tracking_uri)
    except LookupError:
        return GateOutcome(decide({}, None), challenger_json, None)
    labelled = labelled_pairs(lake)
    evidence = {"labels": labelled.localCheckpoint()} if labelled is not None else {}
    if truth is not None:
        answered = truth_pairs(lake, truth, labelled)
        if answered is not None:
            evidence["truth"] = answered.localCheckpoint()
    evidence = {name: answers for name, answers in evidence.items() if answers.limit(1).count()}
    figures: dict[str, dict[str, PairFigures]] = {"challenger": {}, "champion": {}}
    if evidence:
        listed = None
        for answers in evidence.values():
            pairs = answers.select("pair_id", "record_key_l", "record_key_r")
            listed = pairs if listed is None else listed.unionByName(pairs)
        listed = listed.distinct().localCheckpoint()
        for who, model_json in (("challenger", challenger_json), ("champion", champion.model_json)):
            scored = score_listed_pairs(ctx.spark, records, listed, model_json, config,
                                        _frequencies(lake, model_json, inputs, config), inputs=inputs).localCheckpoint()
            figures[who] = {name: pair_figures(scored, answers, threshold) for name, answers in evidence.items()}
    decision = decide(figures["challenger"], figures["champion"], force=promote, reason=reason)
    used = challenger_json if decision.promote else champion.model_json
    return GateOutcome(decision, used, champion.version)


