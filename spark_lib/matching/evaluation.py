"""Evaluation of clusters against the generator's ground truth: pairwise and B-cubed precision/recall/F1.

Both are computed from the counts ``n[c, p]`` of records in each (predicted cluster c, true person p) cell,
never by enumerating pairs: with ``a[c] = sum_p n[c, p]`` and ``b[p] = sum_c n[c, p]``,

* pairs found in both:   ``TP = sum n(n-1)/2``
* predicted pairs:       ``sum_c a(a-1)/2 = sum n (a[c]-1)/2``;  true pairs: ``sum n (b[p]-1)/2``
* B-cubed precision:     ``(1/N) sum n^2 / a[c]``;  B-cubed recall: ``(1/N) sum n^2 / b[p]``

Only records present in both the assignments and the truth are scored; the others are counted. A
precision or recall whose denominator is zero (no predicted pair, no true pair) is 1.0: nothing was claimed
wrongly, nothing was missed.

A matching run is scored twice (:func:`evaluate_matching`): on all records, and on the *identified* ones,
leaving out the anonymous records (a cookie that never logged in: no method can say whose it is). The best
pairwise recall any method can reach on all records while anonymous records stay alone is reported as
``recall_ceiling``.

Example::

    metrics = evaluate_clusters(assignments, spark.read.parquet("data/truth/truth.parquet"))
    metrics["pairwise_f1"], metrics["bcubed_f1"]
"""

from __future__ import annotations

from pyspark.sql import DataFrame, Window
from pyspark.sql import functions as F

from spark_lib.matching.deterministic import require_columns


def _truth_keys(truth_df: DataFrame) -> DataFrame:
    """record_key, person_id from the truth (record_key = source || ':' || source_record_id)."""
    if truth_df is not None and "record_key" in truth_df.columns:
        require_columns(truth_df, ["record_key", "person_id"], "truth_df")
        return truth_df.select("record_key", F.col("person_id").cast("string").alias("person_id"))
    require_columns(truth_df, ["source", "source_record_id", "person_id"], "truth_df")
    return truth_df.select(
        F.concat_ws(":", "source", F.col("source_record_id").cast("string")).alias("record_key"),
        F.col("person_id").cast("string").alias("person_id"),
    )


def _ratio(numerator: float, denominator: float) -> float:
    return 1.0 if denominator == 0 else numerator / denominator


def _f1(precision: float, recall: float) -> float:
    return 0.0 if precision + recall == 0 else 2 * precision * recall / (precision + recall)


def evaluate_clusters(assignments_df: DataFrame, truth_df: DataFrame) -> dict:
    """Pairwise and B-cubed precision, recall and F1 of ``assignments_df`` (record_key, cluster_id).

    ``truth_df``: source, source_record_id, person_id (or record_key, person_id). Returns a dict of floats
    and counts: records_evaluated, records_only_in_assignments, records_only_in_truth, clusters, persons,
    true_positive_pairs, predicted_pairs, true_pairs, pairwise_precision, pairwise_recall, pairwise_f1,
    bcubed_precision, bcubed_recall, bcubed_f1. Runs two Spark jobs.

    Example::

        evaluate_clusters(assignments, truth)["pairwise_precision"]
    """
    require_columns(assignments_df, ["record_key", "cluster_id"], "assignments_df")
    predicted = assignments_df.select("record_key", F.col("cluster_id").cast("string").alias("cluster_id"))
    joined = predicted.join(_truth_keys(truth_df), "record_key", "full_outer")
    coverage = joined.agg(
        F.count(F.when(F.col("cluster_id").isNotNull() & F.col("person_id").isNotNull(), 1)).alias("both"),
        F.count(F.when(F.col("person_id").isNull(), 1)).alias("only_assignments"),
        F.count(F.when(F.col("cluster_id").isNull(), 1)).alias("only_truth"),
    ).first()

    cells = (
        joined.filter(F.col("cluster_id").isNotNull() & F.col("person_id").isNotNull())
        .groupBy("cluster_id", "person_id")
        .agg(F.count("*").alias("n"))
    )
    a = F.sum("n").over(Window.partitionBy("cluster_id"))
    b = F.sum("n").over(Window.partitionBy("person_id"))
    sized = cells.select("cluster_id", "person_id", "n", a.alias("a"), b.alias("b"))
    n = F.col("n")
    totals = sized.agg(
        F.sum(n).alias("records"),
        F.countDistinct("cluster_id").alias("clusters"),
        F.countDistinct("person_id").alias("persons"),
        F.sum(n * (n - 1)).alias("tp2"),
        F.sum(n * (F.col("a") - 1)).alias("predicted2"),
        F.sum(n * (F.col("b") - 1)).alias("true2"),
        F.sum(n * n / F.col("a")).alias("b3p"),
        F.sum(n * n / F.col("b")).alias("b3r"),
    ).first()

    records = int(totals["records"] or 0)
    tp, predicted_pairs, true_pairs = ((int(totals[k] or 0)) // 2 for k in ("tp2", "predicted2", "true2"))
    precision, recall = _ratio(tp, predicted_pairs), _ratio(tp, true_pairs)
    b3_precision = _ratio(float(totals["b3p"] or 0.0), records)
    b3_recall = _ratio(float(totals["b3r"] or 0.0), records)
    return {
        "records_evaluated": records,
        "records_only_in_assignments": int(coverage["only_assignments"]),
        "records_only_in_truth": int(coverage["only_truth"]),
        "clusters": int(totals["clusters"] or 0),
        "persons": int(totals["persons"] or 0),
        "true_positive_pairs": tp,
        "predicted_pairs": predicted_pairs,
        "true_pairs": true_pairs,
        "pairwise_precision": precision,
        "pairwise_recall": recall,
        "pairwise_f1": _f1(precision, recall),
        "bcubed_precision": b3_precision,
        "bcubed_recall": b3_recall,
        "bcubed_f1": _f1(b3_precision, b3_recall),
    }


def evaluate_matching(crosswalk: DataFrame, truth_df: DataFrame, anonymous: DataFrame) -> dict[str, float]:
    """The figures of a matching run against the truth: every metric of :func:`evaluate_clusters` on all
    records (``pairwise_f1``...), the same on the identified records (``identified_pairwise_f1``...), and
    ``recall_ceiling``.

    ``crosswalk``: record_key, customer_id, match_rule (``anonymous`` for the anonymous records);
    ``anonymous``: record_key of the anonymous records, left out of the truth for the identified figures.

    Example::

        metrics = evaluate_matching(lake.read(tables.CROSSWALK), truth, links.anonymous)
        metrics["identified_pairwise_f1"], metrics["recall_ceiling"]
    """
    require_columns(crosswalk, ["record_key", "customer_id", "match_rule"], "crosswalk")
    require_columns(anonymous, ["record_key"], "anonymous")
    clusters = crosswalk.select("record_key", F.col("customer_id").alias("cluster_id"), "match_rule")
    every = evaluate_clusters(clusters, truth_df)
    identified = evaluate_clusters(
        clusters.where(F.col("match_rule") != "anonymous"),
        _truth_keys(truth_df).join(anonymous.select("record_key"), "record_key", "left_anti"),
    )
    metrics = {k: v for k, v in every.items() if isinstance(v, (int, float))}
    metrics.update({f"identified_{k}": v for k, v in identified.items() if isinstance(v, (int, float))})
    metrics["recall_ceiling"] = _ratio(identified["true_pairs"], every["true_pairs"])
    return metrics


def cluster_size_distribution(assignments_df: DataFrame) -> DataFrame:
    """How many clusters have each size: cluster_size, clusters, records (ordered by size).

    Example::

        cluster_size_distribution(assignments).show()
    """
    require_columns(assignments_df, ["record_key", "cluster_id"], "assignments_df")
    sizes = assignments_df.groupBy("cluster_id").agg(F.count("*").alias("cluster_size"))
    return (
        sizes.groupBy("cluster_size")
        .agg(F.count("*").alias("clusters"), F.sum("cluster_size").alias("records"))
        .select(
            F.col("cluster_size").cast("long"), F.col("clusters").cast("long"), F.col("records").cast("long")
        )
        .orderBy("cluster_size")
    )
