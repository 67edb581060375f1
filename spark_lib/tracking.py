"""MLflow tracking of the probabilistic matching model: one run per training, the registry for scoring.

Every MLflow call of the project lives here, as every Delta call lives in :mod:`spark_lib.storage`: no other
module imports mlflow, so an MLflow upgrade means reading this file. The functions talk to the
tracking server through an explicit ``MlflowClient(tracking_uri)`` rather than MLflow's global state, so a
test or a notebook can point at its own store without side effects on others.

A training run holds:

- params: the training settings, the blocking rules (``blocking.<name>``), EM and prior rules, comparisons;
- metrics: the prior, record counts, comparisons per blocking rule (``comparisons.<rule>``), seconds per
  stage (``seconds.<stage>``), m, u and match weight per comparison level (``m.<comparison>.<gamma>``),
  and the evaluation metrics when given;
- artifacts: ``model/splink_settings.json`` (Splink's model JSON, the registered artifact),
  ``model/fingerprint.json`` (what it was trained on: comparisons, sources, filled columns; names only),
  ``parameters/m_u_parameters.{csv,json}``, ``charts/*.html`` (Splink's charts), ``config/matching.yaml``.

The model is registered as a plain artifact (the settings JSON): scoring needs Spark and the whole record
table, not a pyfunc, and a plain version works with the embedded ``sqlite:///mlflow.db`` store.

Example::

    run_id = log_training_run(model, config, {"pairwise_f1": 0.97}, pipeline.mlflow_tracking_uri, alias="champion")
    model_json = load_champion_model(tracking_uri=pipeline.mlflow_tracking_uri)
    pairs = predict_pairs(spark, records, model_json, config)
"""

from __future__ import annotations

import csv
import io
import json
import math
import os
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Mapping

from spark_lib.matching.probabilistic import MatchingConfig, TrainedModel, m_u_table, model_charts

DEFAULT_MODEL_NAME = "rcu-matching"
DEFAULT_EXPERIMENT = "rcu-matching"
CHAMPION = "champion"
#: a registered version trained by ``rcu match --retrain`` that lost the gate (spark_lib.review.gating)
CHALLENGER = "challenger"
SETTINGS_ARTIFACT = "model/splink_settings.json"
#: what the model was trained on (spark_lib.matching.probabilistic.fingerprint), beside its settings
FINGERPRINT_ARTIFACT = "model/fingerprint.json"


def _client(tracking_uri: str | None):
    from mlflow import MlflowClient

    uri = tracking_uri or os.environ.get("MLFLOW_TRACKING_URI")
    if not uri:
        raise ValueError(
            "no MLflow tracking URI: pass tracking_uri (pipeline.yaml: mlflow_tracking_uri) or set MLFLOW_TRACKING_URI"
        )
    return MlflowClient(tracking_uri=uri, registry_uri=uri), uri


def _artifact_location(tracking_uri: str) -> str | None:
    """For the embedded sqlite store, artifacts go to ``mlruns/`` beside the database file (ignored by git),
    wherever the job runs from."""
    if tracking_uri.startswith("sqlite:///"):
        database = Path(tracking_uri[len("sqlite:///"):])
        return (database.resolve().parent / "mlruns").as_uri()
    return None


def _experiment_id(client, name: str, tracking_uri: str) -> str:
    experiment = client.get_experiment_by_name(name)
    if experiment is not None:
        return experiment.experiment_id
    return client.create_experiment(name, artifact_location=_artifact_location(tracking_uri))


def _params(model: TrainedModel, config: MatchingConfig) -> dict[str, str]:
    p = config.probabilistic
    t, c = p.training, p.comparisons
    params: dict[str, Any] = {
        "link_type": model.model_json.get("link_type"),
        "unique_id_column": model.model_json.get("unique_id_column_name"),
        "backend": model.backend,
        "prior_source": model.prior_source,
        "training.max_records": t.max_records,
        "training.seed": t.seed,
        "training.u_max_pairs": t.u_max_pairs,
        "training.em_max_iterations": t.em_max_iterations,
        "training.em_convergence": t.em_convergence,
        "training.em_without_term_frequencies": t.em_without_term_frequencies,
        "training.deterministic_recall": t.deterministic_recall,
        "training.prior_rules_recall": t.prior_rules_recall,
        "training.min_m_probability": t.min_m_probability,
        "threshold_match_probability": p.threshold_match_probability,
        "comparisons": ", ".join(comp["output_column_name"] for comp in model.model_json["comparisons"]),
        "comparisons.first_name_jaro_winkler": list(c.first_name_jaro_winkler),
        "comparisons.last_name_jaro_winkler": list(c.last_name_jaro_winkler),
        "comparisons.email_local_part_jaro_winkler": c.email_local_part_jaro_winkler,
        "comparisons.street_jaro_winkler": c.street_jaro_winkler,
        "comparisons.term_frequency_columns": list(c.term_frequency_columns),
        "comparisons.household_gate": c.household_gate,
        "comparisons.generation_gap_years": c.generation_gap_years,
        "min_identity": " | ".join(" + ".join(group) for group in p.min_identity),
        "blocking.max_comparisons_per_rule": config.blocking.max_comparisons_per_rule,
        "blocking.max_comparisons_total": config.blocking.max_comparisons_total,
    }
    for rule in config.blocking.rules:
        params[f"blocking.{rule.name}"] = ", ".join(rule.expressions)
    for rule in t.em_blocking_rules:
        params[f"em_rule.{rule.name}"] = ", ".join(rule.expressions)
    if model.prior_source == "prior_rules":
        for rule in t.prior_rules:
            params[f"prior_rule.{rule.name}"] = ", ".join(rule.expressions)
    return {k: str(v) for k, v in params.items()}


def _metrics(model: TrainedModel, metrics: Mapping[str, float] | None) -> dict[str, float]:
    values: dict[str, float] = {
        "probability_two_random_records_match": model.probability_two_random_records_match,
        "input_records": model.input_records,
        "training_records": model.training_records,
        "comparisons_total": sum(model.comparison_counts.values()),
        "seconds_total": model.training_seconds,   # seconds.wait_for_cores, if any, is no training
    }
    values.update({f"comparisons.{rule}": n for rule, n in model.comparison_counts.items()})
    values.update({f"seconds.{stage}": s for stage, s in model.timings.items()})
    for row in m_u_table(model.model_json):
        key = f"{row['comparison']}.{row['gamma']}"
        for name, column in (("m", "m_probability"), ("u", "u_probability"), ("match_weight", "match_weight")):
            if row[column] is not None:
                values[f"{name}.{key}"] = row[column]
    for name, value in (metrics or {}).items():
        values[name] = value
    return {k: float(v) for k, v in values.items() if v is not None and math.isfinite(float(v))}


def _m_u_csv(rows: list[dict[str, Any]]) -> str:
    buffer = io.StringIO()
    writer = csv.DictWriter(buffer, fieldnames=list(rows[0]) if rows else ["comparison"])
    writer.writeheader()
    writer.writerows(rows)
    return buffer.getvalue()


def log_training_run(
    model: TrainedModel,
    config: MatchingConfig,
    metrics: Mapping[str, float] | None = None,
    tracking_uri: str | None = None,
    *,
    model_name: str = DEFAULT_MODEL_NAME,
    alias: str | None = None,
    register: bool = True,
    experiment: str = DEFAULT_EXPERIMENT,
    charts: bool = True,
    tags: Mapping[str, str] | None = None,
    version_tags: Mapping[str, str] | None = None,
) -> str:
    """Log a trained model as an MLflow run, register its settings JSON, and return the run id.

    ``register`` adds a version of ``model_name`` in the model registry; ``alias`` (e.g. ``"champion"``)
    then points at that new version. ``metrics`` are evaluation figures (pairwise precision, recall, F1...).
    ``tags`` are set on the run, ``version_tags`` on the registered version (the gate's outcome, a forced
    promotion's reason).

    Example::

        run_id = log_training_run(model, config, {"pairwise_f1": 0.97}, "sqlite:///mlflow.db", alias="champion")
    """
    from mlflow.entities import Metric, Param

    if model is None or not model.model_json:
        raise ValueError("log_training_run: 'model' must be a TrainedModel with its model_json")
    if alias and not register:
        raise ValueError("log_training_run: an alias needs register=True (it names a registered version)")
    client, uri = _client(tracking_uri)
    import splink

    run = client.create_run(
        _experiment_id(client, experiment, uri),
        run_name=f"probabilistic-{model.backend}",
        tags={"rcu.component": "probabilistic_matching", "splink_version": splink.__version__, **(tags or {})},
    )
    run_id = run.info.run_id
    try:
        now = int(time.time() * 1000)
        params = [Param(k, v) for k, v in _params(model, config).items()]
        values = [Metric(k, v, now, 0) for k, v in _metrics(model, metrics).items()]
        for start in range(0, len(params), 100):  # MLflow takes at most 100 params per batch
            client.log_batch(run_id, params=params[start : start + 100])
        for start in range(0, len(values), 1000):
            client.log_batch(run_id, metrics=values[start : start + 1000])

        client.log_dict(run_id, model.model_json, SETTINGS_ARTIFACT)
        if model.fingerprint:
            client.log_dict(run_id, model.fingerprint, FINGERPRINT_ARTIFACT)
        rows = m_u_table(model.model_json)
        client.log_text(run_id, _m_u_csv(rows), "parameters/m_u_parameters.csv")
        client.log_dict(run_id, {"comparison_levels": rows, "comparison_counts": model.comparison_counts,
                                 "timings": model.timings}, "parameters/m_u_parameters.json")
        if charts and model.linker is not None:
            for name, html in model_charts(model.linker).items():
                client.log_text(run_id, html, f"charts/{name}.html")
        if config.file and Path(config.file).is_file():
            client.log_artifact(run_id, config.file, "config")

        if register:
            version = _register(client, model_name, run_id, model)
            client.set_tag(run_id, "rcu.registered_version", f"{model_name}/{version}")
            for key, value in (version_tags or {}).items():
                client.set_model_version_tag(model_name, version, key, value)
            if alias:
                client.set_registered_model_alias(model_name, alias, version)
    except BaseException:
        client.set_terminated(run_id, "FAILED")
        raise
    client.set_terminated(run_id, "FINISHED")
    return run_id


def _register(client, name: str, run_id: str, model: TrainedModel) -> str:
    from mlflow.exceptions import MlflowException

    try:
        client.get_registered_model(name)
    except MlflowException:
        client.create_registered_model(
            name, description="RCU probabilistic matching: Splink model JSON, scored on Spark by predict_pairs"
        )
    version = client.create_model_version(
        name,
        source=f"runs:/{run_id}/{Path(SETTINGS_ARTIFACT).parent}",
        run_id=run_id,
        tags={"backend": model.backend, "prior_source": model.prior_source},
        description=f"trained on {model.training_records:,} of {model.input_records:,} records ({model.backend})",
    )
    return version.version


def set_model_alias(version: str | int, alias: str = CHAMPION, name: str = DEFAULT_MODEL_NAME,
                    tracking_uri: str | None = None) -> None:
    """Point ``alias`` of the registered model at ``version`` (promote a challenger to champion)."""
    client, _ = _client(tracking_uri)
    client.set_registered_model_alias(name, alias, str(version))


def promote_version(version: str | int, reason: str, name: str = DEFAULT_MODEL_NAME,
                    tracking_uri: str | None = None) -> None:
    """Make ``version`` the champion by hand, the reason recorded in the version's tags
    (``rcu.promotion_reason``); the version the alias left keeps its number, and can be promoted back.

    Example::

        promote_version("7", "reviewed the challenger's splits with the steward", tracking_uri="sqlite:///mlflow.db")
    """
    if not reason or not reason.strip():
        raise ValueError("promote_version: a promotion needs a reason")
    client, _ = _client(tracking_uri)
    client.set_model_version_tag(name, str(version), "rcu.promotion_reason", reason.strip())
    client.set_registered_model_alias(name, CHAMPION, str(version))


def version_tags(version: str | int, name: str = DEFAULT_MODEL_NAME, tracking_uri: str | None = None) -> dict[str, str]:
    """The tags of a registered version (the gate's outcome, a promotion's reason)."""
    client, _ = _client(tracking_uri)
    return dict(client.get_model_version(name, str(version)).tags)


def alias_version(alias: str, name: str = DEFAULT_MODEL_NAME, tracking_uri: str | None = None) -> str | None:
    """The version ``name@alias`` points at, None when the alias is not set."""
    return champion_version(name, alias, tracking_uri)


@dataclass(frozen=True)
class RegisteredModel:
    """A registered model version: its Splink model JSON and the fingerprint of what it was trained on."""

    name: str
    version: str
    model_json: dict[str, Any]
    #: empty for a version registered before fingerprints were recorded
    fingerprint: dict[str, Any]

    def __str__(self) -> str:
        return f"the registered model {self.name} version {self.version}"


def load_champion(name: str = DEFAULT_MODEL_NAME, alias: str = CHAMPION, tracking_uri: str | None = None) -> RegisteredModel:
    """The version ``name@alias`` points at, with its model JSON and fingerprint; LookupError when none.

    Example::

        champion = load_champion("rcu-matching", tracking_uri="sqlite:///mlflow.db")
        champion.model_json["probability_two_random_records_match"], champion.fingerprint["sources"]
    """
    from mlflow.exceptions import MlflowException

    client, _ = _client(tracking_uri)
    try:
        version = client.get_model_version_by_alias(name, alias)
    except MlflowException as error:
        raise LookupError(f"no registered model version {name}@{alias}: train and log one with alias={alias!r}") from error
    with tempfile.TemporaryDirectory(prefix="rcu-model-") as folder:
        model_json = _read_json(client.download_artifacts(version.run_id, SETTINGS_ARTIFACT, folder))
        try:
            fingerprint = _read_json(client.download_artifacts(version.run_id, FINGERPRINT_ARTIFACT, folder))
        except (MlflowException, OSError):  # a version registered before fingerprints were recorded
            fingerprint = {}
    return RegisteredModel(name, str(version.version), model_json, fingerprint)


def champion_version(name: str = DEFAULT_MODEL_NAME, alias: str = CHAMPION, tracking_uri: str | None = None) -> str | None:
    """The version number ``name@alias`` points at (None: no champion yet), without downloading the model."""
    from mlflow.exceptions import MlflowException

    client, _ = _client(tracking_uri)
    try:
        return str(client.get_model_version_by_alias(name, alias).version)
    except MlflowException:
        return None


def _read_json(path: str) -> Any:
    with open(path, encoding="utf-8") as handle:
        return json.load(handle)


def load_champion_model(
    name: str = DEFAULT_MODEL_NAME, alias: str = CHAMPION, tracking_uri: str | None = None
) -> dict[str, Any]:
    """The Splink model JSON of the version ``name@alias`` points at, ready for ``predict_pairs``.

    Example::

        model_json = load_champion_model(tracking_uri="sqlite:///mlflow.db")   # models:/rcu-matching@champion
    """
    return load_champion(name, alias, tracking_uri).model_json


def run_metrics(run_id: str, tracking_uri: str | None = None) -> dict[str, float]:
    """The metrics of one run, by name (the benchmark reads a training's comparisons and seconds here).

    Example::

        run_metrics(report.model_run_id, "sqlite:///mlflow.db")["seconds.em"]
    """
    if not run_id:
        raise ValueError("run_metrics: 'run_id' cannot be empty")
    client, _ = _client(tracking_uri)
    return dict(client.get_run(run_id).data.metrics)


def log_match_run(
    model: TrainedModel | None,
    config: MatchingConfig,
    metrics: Mapping[str, float],
    timings: Mapping[str, float],
    tracking_uri: str | None = None,
    *,
    model_name: str = DEFAULT_MODEL_NAME,
    experiment: str = DEFAULT_EXPERIMENT,
    alias: str = CHAMPION,
    tags: Mapping[str, str] | None = None,
    version_tags: Mapping[str, str] | None = None,
) -> str:
    """Log one matching run: a training run registered under ``alias`` when ``model`` is new (``champion``,
    or ``challenger`` when it lost the gate of :mod:`spark_lib.review.gating`; ``tags`` and ``version_tags``
    say why), else a scoring run with the evaluation metrics and the seconds per stage of the match job.
    """
    stage_metrics = {f"match_seconds.{k}": float(v) for k, v in timings.items()}
    if model is not None:
        run_id = log_training_run(
            model, config, {**metrics, **stage_metrics}, tracking_uri, model_name=model_name, alias=alias,
            experiment=experiment, tags=tags, version_tags=version_tags,
        )
        return run_id
    from mlflow.entities import Metric

    client, uri = _client(tracking_uri)
    try:
        version = client.get_model_version_by_alias(model_name, CHAMPION).version
    except Exception:  # noqa: BLE001 - the run is still worth logging without the version tag
        version = "unknown"
    run = client.create_run(
        _experiment_id(client, experiment, uri),
        run_name="scoring",
        tags={"rcu.component": "match_scoring", "rcu.model_version": f"{model_name}/{version}"},
    )
    now = int(time.time() * 1000)
    values = [Metric(k, float(v), now, 0) for k, v in {**metrics, **stage_metrics}.items()
              if isinstance(v, (int, float)) and math.isfinite(float(v))]
    for start in range(0, len(values), 1000):
        client.log_batch(run.info.run_id, metrics=values[start : start + 1000])
    client.set_terminated(run.info.run_id, "FINISHED")
    return run.info.run_id
