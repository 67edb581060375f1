"""MLflow tracking: a training run keeps what explains the model, and the registry hands the champion back."""

from __future__ import annotations

import os

import pytest
from mlflow import MlflowClient

from spark_lib.tracking import DEFAULT_MODEL_NAME, load_champion_model, log_training_run, set_model_alias
from spark_lib.matching import predict_pairs
# The town's records, its fast config and the model trained on them, trained once for both modules.
from tests.test_probabilistic import config, model, records  # noqa: F401 - pytest fixtures


@pytest.fixture(scope="module")
def tracking_uri():
    return os.environ["MLFLOW_TRACKING_URI"]  # a temporary sqlite database, set by conftest


@pytest.fixture(scope="module")
def run_id(model, config, tracking_uri):
    metrics = {"pairwise_precision": 0.99, "pairwise_recall": 0.95, "pairwise_f1": 0.97}
    return log_training_run(model, config, metrics, tracking_uri, alias="champion")


def artifact_paths(client, run_id, path=None) -> set[str]:
    paths = set()
    for info in client.list_artifacts(run_id, path):
        paths |= artifact_paths(client, run_id, info.path) if info.is_dir else {info.path}
    return paths


def test_champion_round_trips_and_scores_the_same_pairs(spark, records, model, config, run_id, tracking_uri):
    loaded = load_champion_model(DEFAULT_MODEL_NAME, "champion", tracking_uri)

    assert loaded == model.model_json
    before = predict_pairs(spark, records, model.model_json, config, threshold=0.0)
    after = predict_pairs(spark, records, loaded, config, threshold=0.0)
    scores = lambda df: sorted((r.record_key_l, r.record_key_r, r.match_probability) for r in df.collect())  # noqa: E731
    assert scores(after) == scores(before) and len(scores(after)) > 50


def test_run_keeps_settings_parameters_charts_and_metrics(run_id, tracking_uri):
    client = MlflowClient(tracking_uri)
    run = client.get_run(run_id)

    assert {
        "model/splink_settings.json",
        "parameters/m_u_parameters.csv",
        "parameters/m_u_parameters.json",
        "charts/match_weights.html",
        "charts/m_u_parameters.html",
        "charts/parameter_estimate_comparisons.html",
        "config/matching.yaml",
    } <= artifact_paths(client, run_id)
    assert run.data.params["blocking.last_name_birth_date"] == "last_name_std, birth_date"
    assert run.data.params["em_rule.mobile"] == "phone_mobile"
    assert run.data.metrics["pairwise_f1"] == 0.97
    assert run.data.metrics["comparisons.email"] > 0 and run.data.metrics["seconds.em"] > 0
    assert 0 < run.data.metrics["m.first_name.4"] <= 1 and "u.email.3" in run.data.metrics
    chart = client.download_artifacts(run_id, "charts/match_weights.html")
    assert "vega" in open(chart, encoding="utf-8").read()


def test_registered_version_carries_the_alias_until_another_takes_it(model, config, run_id, tracking_uri):
    client = MlflowClient(tracking_uri)
    first = client.get_model_version_by_alias(DEFAULT_MODEL_NAME, "champion")
    assert first.run_id == run_id

    challenger = log_training_run(model, config, None, tracking_uri, alias="challenger", charts=False)
    assert client.get_model_version_by_alias(DEFAULT_MODEL_NAME, "champion").version == first.version

    version = client.get_model_version_by_alias(DEFAULT_MODEL_NAME, "challenger")
    set_model_alias(version.version, "champion", tracking_uri=tracking_uri)
    assert client.get_model_version_by_alias(DEFAULT_MODEL_NAME, "champion").run_id == challenger


def test_a_missing_alias_is_a_clear_error(tracking_uri):
    with pytest.raises(LookupError, match="no registered model version rcu-matching@nobody"):
        load_champion_model(alias="nobody", tracking_uri=tracking_uri)
