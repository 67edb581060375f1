"""The pipeline benchmark's harness: result files, memory windows, and the references' model (no Spark, no timings)."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from spark_lib.matching import build_settings, load_matching_config
from spark_lib.matching.probabilistic import settings_for_dialect

BENCHMARKS = Path(__file__).resolve().parent.parent / "benchmarks"
GIB = 2**30


@pytest.fixture()
def harness(monkeypatch):
    """``benchmarks/`` holds scripts, not a package: import them as the scripts import each other."""
    monkeypatch.syspath_prepend(str(BENCHMARKS))
    import baselines
    import bench_pipeline

    return bench_pipeline, baselines


def _stage(seconds: float, peak_gib: float) -> dict:
    return {"status": "ok", "seconds": seconds, "start_rss_bytes": GIB // 2, "peak_rss_bytes": int(peak_gib * GIB)}


def _results() -> dict:
    run = {
        "persons": 2000,
        "status": "ok",
        "error": None,
        "wall_seconds": 400.0,
        "spark": {"driver_memory": "3g", "shuffle_partitions": 4},
        "stages": {
            "generate": _stage(1.2, 0.2),
            "bronze": _stage(60.0, 2.5),
            "silver": _stage(40.0, 2.6),
            "deterministic": _stage(10.0, 2.6),
            "train": _stage(20.0, 3.0),
            "predict": _stage(30.0, 3.1),
            "cluster": _stage(25.0, 3.2),
            "ids": _stage(15.0, 3.2),
            "gold": {"status": "error", "error": "ValueError: conf/gold.yaml: survivorship: ..."},
        },
        "rows": {"raw": 43_000, "silver_records": 12_800},
        "model_input_records": 6_400,
        "comparisons": {"email": 2_000_000, "names": 1_000_000},
        "comparisons_total": 3_000_000,
        "matching_seconds": 100.0,
        "match": {"scored_pairs": 11_000, "customers": 3_100},
        "quality": {"pairwise_precision": 0.97, "pairwise_recall": 0.85, "pairwise_f1": 0.906, "bcubed_f1": 0.9},
        "quality_model_input": {"pairwise_f1": 0.93, "bcubed_f1": 0.95},
        "baselines": {
            "duckdb": {
                "label": "Splink on DuckDB, documented defaults",
                "status": "ok",
                "seconds": {"load": 1.0, "train": 30.0, "predict": 15.0, "cluster": 5.0},
                "matching_seconds": 50.0,
                "quality": {"pairwise_f1": 0.17, "bcubed_f1": 0.4},
                "peak_rss_bytes": {"train": 2 * GIB},
            },
            "spark_defaults": {
                "label": "Splink on Spark, documented defaults",
                "status": "error",
                "error": "timed out after 5 s: Job 12 cancelled | part of a job group",
                "seconds": {"train": 5.0},
                "matching_seconds": None,
                "peak_rss_bytes": {},
            },
        },
    }
    return {"created_at": "2026-11-23T00:00:00+00:00", "command": "python benchmarks/bench_pipeline.py --sizes 2000",
            "machine": {"logical_cores": 2, "cpu_model": "Test CPU", "ram_bytes": 8 * GIB, "packages": {}},
            "load_average": {"start": [1.0, 1.0, 1.0], "end": [2.0, 1.5, 1.0]}, "wall_seconds": 401.0, "runs": [run]}


def test_results_are_written_as_json_markdown_and_a_stable_latest_copy(harness, tmp_path):
    bench_pipeline, _ = harness
    results = _results()

    json_path, md_path, latest = bench_pipeline.write_results(results, tmp_path / "results", [2000, 10000])

    assert (json_path.name, md_path.name, latest.name) == ("pipeline_2000-10000.json", "pipeline_2000-10000.md", "latest.md")
    assert json.loads(json_path.read_text(encoding="utf-8")) == results
    markdown = md_path.read_text(encoding="utf-8")
    assert latest.read_text(encoding="utf-8") == markdown
    lines = markdown.splitlines()
    stage_row = next(line for line in lines if line.startswith("| 2,000 | 1.2 |"))
    assert stage_row.split(" | ")[-3:] == ["error", "400.0", "ok |"]  # gold failed, size total, status
    ours = next(line for line in lines if "| RCU pipeline" in line)
    duckdb = next(line for line in lines if "| Splink on DuckDB" in line)
    spark = next(line for line in lines if "| Splink on Spark" in line)
    # matching 100 s in all; train + predict + cluster 20 + 30 + 25 = 75 s
    assert "| 100.0 | 1.00 | 75.0 | 1.00 | 10.00 | 0.9700 | 0.8500 | 0.9060 | 0.9000 | 0.9300 | 0.9500 |" in ours
    # RCU ÷ DuckDB = 100 / 50 for the whole matching, 75 / 50 for the stages DuckDB has too
    assert "| 1.0 | 30.0 | 15.0 | 5.0 | 50.0 | 2.00 | 50.0 | 1.50 | 5.00 |" in duckdb
    assert "error: timed out after 5 s: Job 12 cancelled \\| part of a job group" in spark  # a pipe cannot split the row
    assert "| 2,000 | 2,000,000 | 1,000,000 |" in markdown  # compared pairs per blocking rule


def test_every_stage_gets_its_seconds_and_a_peak_not_below_its_start(harness):
    bench_pipeline, _ = harness
    with bench_pipeline.MemorySampler(interval=0.01) as sampler:
        recorder = bench_pipeline.StageRecorder(sampler)
        with recorder.stage("allocate"):
            block = bytearray(64 * 2**20)
            block[::4096] = b"x" * len(block[::4096])  # touch every page so that it is resident
        with pytest.raises(RuntimeError), recorder.stage("fails"):
            raise RuntimeError("disk full")
    allocate, fails = recorder.stages["allocate"], recorder.stages["fails"]
    assert allocate["status"] == "ok" and allocate["peak_rss_bytes"] >= allocate["start_rss_bytes"] > 0
    assert allocate["peak_rss_by_process"]["driver"] > 0
    assert (fails["status"], fails["error"]) == ("error", "RuntimeError: disk full")
    assert {"seconds", "start_rss_bytes", "peak_rss_bytes"} <= set(fails)


def test_memory_windows_follow_the_match_job_s_stages_as_a_listener_sees_them(harness):
    """The match job tells its stages to listeners; MLflow logging shares evaluation's window, other jobs'
    stages open none."""
    bench_pipeline, _ = harness
    with bench_pipeline.MemorySampler(interval=0.01) as sampler:
        recorder = bench_pipeline.StageRecorder(sampler)
        for stage in ("deterministic", "train", "predict", "cluster", "ids", "evaluate", "log"):
            recorder.follow_match("start", "match", stage)
            recorder.follow_match("end", "match", stage)
        recorder.follow_match("start", "gold", "read")
        assert recorder.current == "evaluate"
        recorder.end()
    assert list(recorder.stages) == ["deterministic", "train", "predict", "cluster", "ids", "evaluate"]


def test_session_is_sized_for_the_persons(harness):
    bench_pipeline, _ = harness
    assert bench_pipeline.session_settings(1_000_000, cores=2, ram_bytes=64 * GIB) == {
        "driver_memory": "16g", "shuffle_partitions": 80}
    assert bench_pipeline.session_settings(2_000, cores=2, ram_bytes=64 * GIB) == {
        "driver_memory": "3g", "shuffle_partitions": 4}
    # never more than 70 % of a small machine
    assert bench_pipeline.session_settings(1_000_000, cores=2, ram_bytes=8 * GIB)["driver_memory"] == "5g"


def _without_uid(settings: dict) -> dict:
    return {k: v for k, v in settings.items() if k != "linker_uid"}


def _levels(settings: dict) -> list:
    """Comparisons as (name, [level SQL]) without the trained m and u."""
    return [
        (c["output_column_name"], [level["sql_condition"] for level in c["comparison_levels"]])
        for c in settings["comparisons"]
    ]


@pytest.mark.parametrize("dialect", ["spark", "duckdb"])
def test_references_use_the_pipelines_comparisons_and_blocking_rules(harness, dialect):
    _, baselines = harness
    config = load_matching_config()

    reference = baselines.baseline_settings(config).create_settings_dict(dialect)

    assert _without_uid(reference) == _without_uid(build_settings(config).create_settings_dict(dialect))
    rules = [r["blocking_rule"] for r in reference["blocking_rules_to_generate_predictions"]]
    assert len(rules) == len(config.blocking.rules)
    for rendered, rule in zip(rules, config.blocking.rules):
        assert rendered == rule.splink_rule().get_blocking_rule(dialect).blocking_rule_sql
    # What the pipeline scores with: a model trained on DuckDB, rendered for Spark by settings_for_dialect.
    trained = build_settings(config).create_settings_dict("duckdb")
    scored = settings_for_dialect(trained, config, "spark")
    assert _levels(scored) == _levels(baselines.baseline_settings(config).create_settings_dict("spark"))


def test_references_train_with_the_configured_rules_and_thresholds(harness, tmp_path):
    _, baselines = harness
    config = load_matching_config()
    training = config.probabilistic.training

    plan = baselines.training_plan(config, cluster_threshold=0.9)

    assert len(plan.prior_rules) == len(training.prior_rules) and plan.prior_recall == training.prior_rules_recall
    assert len(plan.em_rules) == len(training.em_blocking_rules)
    assert plan.em_without_term_frequencies == training.em_without_term_frequencies
    assert (plan.u_max_pairs, plan.predict_threshold, plan.cluster_threshold) == (
        training.u_max_pairs, config.probabilistic.threshold_match_probability, 0.9)
    rules_file = tmp_path / "matching_rules.yaml"
    rules_file.write_text("clustering:\n  threshold: 0.95\n", encoding="utf-8")
    assert baselines.clustering_threshold(rules_file) == 0.95
    rules_file.write_text("clustering:\n  max_cluster_size: 20\n", encoding="utf-8")
    with pytest.raises(ValueError, match="clustering.threshold"):
        baselines.clustering_threshold(rules_file)
