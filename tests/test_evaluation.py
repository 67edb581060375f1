"""Evaluation metrics on a hand-computed example."""

from __future__ import annotations

import pytest
from chispa import assert_df_equality

from spark_lib.matching.evaluation import cluster_size_distribution, evaluate_clusters, evaluate_matching


@pytest.fixture(scope="module")
def example(spark):
    """Truth {a,b,c},{d}; predicted {a,b},{c,d}; e only predicted, f only in the truth."""
    assignments = spark.createDataFrame(
        [("s:a", "k1"), ("s:b", "k1"), ("s:c", "k2"), ("s:d", "k2"), ("s:e", "k3")],
        "record_key string, cluster_id string",
    )
    truth = spark.createDataFrame(
        [("s", "a", "P1"), ("s", "b", "P1"), ("s", "c", "P1"), ("s", "d", "P2"), ("s", "f", "P3")],
        "source string, source_record_id string, person_id string",
    )
    return assignments, truth


def test_pairwise_and_bcubed_metrics_match_the_hand_computation(example):
    metrics = evaluate_clusters(*example)

    # Pairs. True: ab, ac, bc (3). Predicted: ab, cd (2). Both: ab (1).
    assert (metrics["true_pairs"], metrics["predicted_pairs"], metrics["true_positive_pairs"]) == (3, 2, 1)
    assert metrics["pairwise_precision"] == pytest.approx(1 / 2)
    assert metrics["pairwise_recall"] == pytest.approx(1 / 3)
    assert metrics["pairwise_f1"] == pytest.approx(2 * (1 / 2) * (1 / 3) / (1 / 2 + 1 / 3))  # 0.4
    # B-cubed per record, precision = |own cluster ∩ own person| / |own cluster|, recall: / |own person|
    #   a: 2/2, 2/3   b: 2/2, 2/3   c: 1/2, 1/3   d: 1/2, 1/1
    assert metrics["bcubed_precision"] == pytest.approx((1 + 1 + 0.5 + 0.5) / 4)          # 0.75
    assert metrics["bcubed_recall"] == pytest.approx((2 / 3 + 2 / 3 + 1 / 3 + 1) / 4)      # 2/3
    assert metrics["bcubed_f1"] == pytest.approx(12 / 17)
    # only records in both are scored; the others are counted
    assert (metrics["records_evaluated"], metrics["records_only_in_assignments"], metrics["records_only_in_truth"]) == (
        4, 1, 1)
    assert (metrics["clusters"], metrics["persons"]) == (2, 2)


def test_perfect_clustering_scores_one(spark):
    assignments = spark.createDataFrame([("s:a", "k1"), ("s:b", "k1"), ("s:c", "k2")], "record_key string, cluster_id string")
    truth = spark.createDataFrame([("s:a", 1), ("s:b", 1), ("s:c", 2)], "record_key string, person_id long")

    metrics = evaluate_clusters(assignments, truth)

    assert metrics["pairwise_f1"] == metrics["bcubed_f1"] == 1.0


def test_cluster_size_distribution_counts_clusters_and_records_per_size(spark, example):
    assignments, _ = example

    assert_df_equality(
        cluster_size_distribution(assignments),
        spark.createDataFrame([(1, 1, 1), (2, 2, 4)], "cluster_size long, clusters long, records long"),
        ignore_nullable=True,
    )


def test_a_matching_run_is_scored_on_all_and_on_identified_records(spark):
    """Truth {a,b,c},{d,x}: x is an anonymous cookie left alone; identified records are a, b, c, d."""
    crosswalk = spark.createDataFrame(
        [("s:a", "C1", "deterministic:email_std"), ("s:b", "C1", "probabilistic"), ("s:c", "C2", "singleton"),
         ("s:d", "C3", "singleton"), ("s:x", "C4", "anonymous")],
        "record_key string, customer_id string, match_rule string",
    )
    truth = spark.createDataFrame(
        [("s", k, p) for k, p in (("a", "P1"), ("b", "P1"), ("c", "P1"), ("d", "P2"), ("x", "P2"))],
        "source string, source_record_id string, person_id string",
    )
    anonymous = spark.createDataFrame([("s:x",)], "record_key string")

    metrics = evaluate_matching(crosswalk, truth, anonymous)

    # all records: true pairs ab, ac, bc, dx (4), found ab: recall 1/4; identified: ab, ac, bc (3): recall 1/3
    assert metrics["pairwise_recall"] == pytest.approx(1 / 4)
    assert metrics["identified_pairwise_recall"] == pytest.approx(1 / 3)
    assert metrics["identified_records_evaluated"] == 4
    # with x alone whatever the method, at most 3 of the 4 true pairs can be found
    assert metrics["recall_ceiling"] == pytest.approx(3 / 4)
    assert metrics["pairwise_precision"] == metrics["identified_pairwise_precision"] == 1.0
