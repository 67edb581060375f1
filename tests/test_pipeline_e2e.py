"""End to end on generated data: generate -> ingest -> standardise -> match, twice."""

from __future__ import annotations

import argparse

import pytest
from pyspark.sql import functions as F

from jobs import generate, ingest, match, standardise
from jobs.common import Progress, build_context

pytestmark = pytest.mark.e2e


@pytest.fixture(scope="module")
def pipeline(spark, tmp_path_factory):
    root = tmp_path_factory.mktemp("e2e")
    args = argparse.Namespace(
        conf_dir=None, lakehouse=str(root / "lake"), raw_dir=str(root / "raw"), sources=None, truth_dir=str(root / "truth")
    )
    ctx = build_context(args, "test", spark=spark)
    quiet = Progress("e2e", quiet=True)
    summary = generate.run(persons=400, raw_dir=ctx.raw_dir, truth_dir=ctx.truth_dir, seed=7,
                           reference_date="2026-10-31", progress=quiet)
    reports = ingest.run(ctx, progress=quiet)
    standardise.run(ctx, progress=quiet)
    first = match.run(ctx, retrain=True, progress=quiet)
    return ctx, summary, reports, first


def test_nothing_read_is_lost_between_raw_files_and_bronze(pipeline):
    ctx, summary, reports, _ = pipeline
    for report in reports:
        assert report.rows_read == summary.rows_per_source[report.source], report.source
        assert report.rows_quarantined == summary.malformed_per_source[report.source], report.source
        assert report.rows_bronze + report.rows_quarantined == report.rows_read


def test_every_identity_record_gets_exactly_one_customer(pipeline):
    ctx, _, _, first = pipeline
    records = ctx.lake.read("silver.customer_records").select("record_key")
    crosswalk = ctx.lake.read("gold.customer_crosswalk")
    assert crosswalk.count() == records.count() == first.records
    assert crosswalk.select("record_key").distinct().count() == first.records
    assert records.join(crosswalk, "record_key", "left_anti").count() == 0
    rules = {r.match_rule.split(":")[0] for r in crosswalk.select("match_rule").distinct().collect()}
    assert rules <= {"deterministic", "probabilistic", "singleton", "anonymous"} and "deterministic" in rules


def test_matching_quality_is_measured_against_ground_truth(pipeline):
    _, _, _, first = pipeline
    # A floor well below the target (issue 3: 0.97), so that a regression in any stage fails loudly.
    assert first.metrics["pairwise_precision"] >= 0.9
    assert first.metrics["pairwise_f1"] >= 0.8
    assert first.metrics["bcubed_f1"] >= 0.8
    assert first.model_run_id


def test_second_run_on_unchanged_input_keeps_every_customer_id(pipeline):
    ctx, _, _, first = pipeline
    before = {r.record_key: r.customer_id for r in ctx.lake.read("gold.customer_crosswalk").collect()}
    second = match.run(ctx, retrain=False, progress=Progress("e2e", quiet=True))
    after = {r.record_key: r.customer_id for r in ctx.lake.read("gold.customer_crosswalk").collect()}
    assert not second.retrained
    assert after == before
    assert second.id_events == {}
