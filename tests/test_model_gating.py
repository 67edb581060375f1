"""Labels that gate: a retrained model becomes champion only when it is at least as good as the champion on
the labelled pairs; it can be forced with a reason; the comparison is logged in MLflow."""

from __future__ import annotations

import dataclasses
import datetime as dt
from types import SimpleNamespace

import pytest
from mlflow import MlflowClient

from jobs.match_gate import gate_challenger
from spark_lib import schemas, tables, tracking
from spark_lib.matching import model_input
from spark_lib.review.gating import PairFigures, decide, pair_figures
from spark_lib.storage import Lakehouse
# The town's records, its fast config and the model trained on them, trained once per session.
from tests.test_probabilistic import config, model, records  # noqa: F401 - pytest fixtures

THRESHOLD = 0.999
#: the steward's answers on the town's pairs
LABELS = [("crm:F001", "loyalty:F001", "same"), ("crm:M001", "loyalty:M001", "same"),
          ("crm:D002", "loyalty:D002", "same"), ("crm:M001", "crm:M002", "different"),
          ("crm:D001", "crm:D002", "different"), ("crm:D001", "eshop:D003", "different")]


def figures(f1: float, pairs: int = 40) -> PairFigures:
    return PairFigures(pairs, f1, f1, f1, f1)


# ---------------------------------------------------------------------------------------------------
# The decision
# ---------------------------------------------------------------------------------------------------


def test_without_a_champion_the_first_model_becomes_champion():
    decision = decide({"labels": figures(0.5)}, None)
    assert (decision.promote, decision.outcome) == (True, "no_champion")


def test_a_challenger_at_least_as_good_on_every_evidence_is_promoted():
    assert decide({"labels": figures(0.9), "truth": figures(0.97)},
                  {"labels": figures(0.9), "truth": figures(0.95)}).outcome == "at_least_as_good"


def test_a_challenger_worse_on_one_evidence_stays_challenger():
    decision = decide({"labels": figures(0.95), "truth": figures(0.94)}, {"labels": figures(0.9), "truth": figures(0.95)})
    assert (decision.promote, decision.outcome) == (False, "worse") and "truth" in decision.reason
    assert "the run scores with the champion" in decision.text()
    assert decision.metrics()["gate.challenger.truth.f1"] == 0.94 and decision.metrics()["gate.promoted"] == 0.0


def test_promote_forces_with_its_reason_and_needs_one():
    decision = decide({"labels": figures(0.5)}, {"labels": figures(0.9)}, force=True, reason="  steward checked the splits ")
    assert (decision.promote, decision.outcome, decision.reason) == (True, "forced", "steward checked the splits")
    with pytest.raises(ValueError, match="needs a reason"):
        decide({}, {}, force=True, reason=" ")


def test_without_labels_or_truth_the_new_model_is_promoted_with_a_note():
    # documented choice: refusing every new model until someone reviews would freeze a fresh installation
    decision = decide({"labels": figures(1.0, pairs=0)}, {"labels": figures(1.0, pairs=0)})
    assert (decision.promote, decision.outcome) == (True, "no_evidence") and "no labelled pair" in decision.reason


def test_pair_figures_by_hand(spark):
    scored = spark.createDataFrame([("p1", 0.9999), ("p2", 0.5), ("p3", 0.9995), ("p4", None)],
                                   "pair_id string, match_probability double")
    answers = spark.createDataFrame([("p1", True), ("p2", True), ("p3", False), ("p4", False), ("p5", True)],
                                    "pair_id string, same boolean")
    # at 0.999: p1 TP, p2 FN, p3 FP, p4 TN (unscored: no match), p5 FN (not scored at all)
    f = pair_figures(scored, answers, 0.999)
    assert (f.pairs, f.accuracy, f.precision, f.recall) == (5, pytest.approx(2 / 5), 0.5, pytest.approx(1 / 3))
    assert f.f1 == pytest.approx(0.4)


# ---------------------------------------------------------------------------------------------------
# The gate on real scores, and MLflow
# ---------------------------------------------------------------------------------------------------


@pytest.fixture()
def setting(spark, tmp_path, records, config, model):  # noqa: F811 - fixtures imported above
    """A lakehouse holding the steward's decisions, a fresh MLflow store, and a context for the gate."""
    uri = f"sqlite:///{tmp_path / 'mlflow.db'}"
    lake = Lakehouse(spark, str(tmp_path / "lake"))
    at = dt.datetime(2026, 12, 1, 9, 0)
    rows = [(f"d{i}", f"{l}|{r}", l, r, d, "steward", None, at, 1, 2, "page") for i, (l, r, d) in enumerate(LABELS)]
    lake.overwrite(spark.createDataFrame(rows, schemas.REVIEW_DECISIONS), tables.REVIEW_DECISIONS)
    ctx = SimpleNamespace(spark=spark, lake=lake, pipeline=SimpleNamespace(model_name="rcu-test", mlflow_tracking_uri=uri))
    inputs = model_input(records, config).cache()
    return ctx, uri, inputs


def blind(model_json: dict) -> dict:
    """The same model with a prior so low that no pair reaches the threshold: every true pair missed."""
    return {**model_json, "probability_two_random_records_match": 1e-15}


def register(model, model_json, config, uri, alias):  # noqa: F811
    trained = dataclasses.replace(model, model_json=model_json)
    return tracking.log_training_run(trained, config, None, uri, model_name="rcu-test", alias=alias, charts=False)


def test_a_better_challenger_is_promoted_and_the_comparison_logged(setting, records, config, model):  # noqa: F811
    ctx, uri, inputs = setting
    register(model, blind(model.model_json), config, uri, tracking.CHAMPION)
    gate = gate_challenger(ctx, records, inputs, model.model_json, config, THRESHOLD, truth=None)
    decision = gate.decision
    assert decision.outcome == "at_least_as_good" and gate.model_json == model.model_json
    assert decision.challenger["labels"].pairs == len(LABELS)
    assert decision.challenger["labels"].f1 > decision.champion["labels"].f1
    assert decision.champion["labels"].recall == 0.0   # the blind champion links nobody

    report = gate.report()
    run_id = tracking.log_match_run(model, config, report["metrics"], {"train": 1.0}, uri, model_name="rcu-test",
                                    alias=report["alias"], tags=report["tags"], version_tags=report["version_tags"])
    client = MlflowClient(uri)
    run = client.get_run(run_id)
    assert run.data.tags["rcu.gate.outcome"] == "at_least_as_good"
    assert run.data.metrics["gate.promoted"] == 1.0
    assert run.data.metrics["gate.champion.labels.f1"] == pytest.approx(decision.champion["labels"].f1)
    champion = client.get_model_version_by_alias("rcu-test", "champion")
    assert champion.run_id == run_id and champion.tags["rcu.gate.outcome"] == "at_least_as_good"


def test_a_worse_challenger_stays_challenger_and_the_champion_scores(setting, records, config, model):  # noqa: F811
    ctx, uri, inputs = setting
    register(model, model.model_json, config, uri, tracking.CHAMPION)
    worse = blind(model.model_json)
    gate = gate_challenger(ctx, records, inputs, worse, config, THRESHOLD, truth=None)
    assert (gate.decision.promote, gate.decision.outcome, gate.alias()) == (False, "worse", "challenger")
    assert gate.model_json == model.model_json   # the run goes on with the champion

    before = tracking.champion_version("rcu-test", tracking_uri=uri)
    report = gate.report()
    tracking.log_match_run(dataclasses.replace(model, model_json=worse), config, report["metrics"], {}, uri,
                           model_name="rcu-test", alias=report["alias"], tags=report["tags"],
                           version_tags=report["version_tags"])
    assert tracking.champion_version("rcu-test", tracking_uri=uri) == before
    challenger = tracking.alias_version("challenger", "rcu-test", uri)
    assert challenger != before and tracking.version_tags(challenger, "rcu-test", uri)["rcu.gate.outcome"] == "worse"

    # the steward promotes it by hand later: the reason goes on the version
    tracking.promote_version(challenger, "reviewed: the homonyms were cousins sharing an account", "rcu-test", uri)
    assert tracking.champion_version("rcu-test", tracking_uri=uri) == challenger
    assert tracking.version_tags(challenger, "rcu-test", uri)["rcu.promotion_reason"].startswith("reviewed")


def test_promote_forces_a_worse_challenger_with_the_reason_recorded(setting, records, config, model):  # noqa: F811
    ctx, uri, inputs = setting
    register(model, model.model_json, config, uri, tracking.CHAMPION)
    worse = blind(model.model_json)
    gate = gate_challenger(ctx, records, inputs, worse, config, THRESHOLD, truth=None, promote=True,
                           reason="new sources onboarded")
    assert (gate.decision.outcome, gate.alias(), gate.model_json) == ("forced", "champion", worse)
    report = gate.report()
    run_id = tracking.log_match_run(dataclasses.replace(model, model_json=worse), config, report["metrics"], {}, uri,
                                    model_name="rcu-test", alias=report["alias"], tags=report["tags"],
                                    version_tags=report["version_tags"])
    client = MlflowClient(uri)
    assert client.get_run(run_id).data.tags["rcu.promotion_reason"] == "new sources onboarded"
    version = client.get_model_version_by_alias("rcu-test", "champion")
    assert version.run_id == run_id and version.tags["rcu.promotion_reason"] == "new sources onboarded"


def test_without_a_champion_the_gate_scores_nothing_and_promotes(setting, records, config, model):  # noqa: F811
    ctx, _, inputs = setting
    gate = gate_challenger(ctx, records, inputs, model.model_json, config, THRESHOLD, truth=None)
    assert (gate.decision.outcome, gate.alias(), gate.champion_version) == ("no_champion", "champion", None)
