"""Clustering: connected components, merge protection against weak chains, cannot-link constraints."""

from __future__ import annotations

import datetime as dt
import random

import pytest
from pyspark.sql.types import StructType
from chispa import assert_df_equality

from spark_lib.config import ConfigError
from spark_lib.matching.clustering import (
    ASSIGNMENTS_SCHEMA,
    SPLITS_SCHEMA,
    ClusteringConfig,
    cluster_records,
    connected_components,
    load_clustering_config,
)

LETTERS = [chr(ord("a") + i) for i in range(26)]
D = dt.date


@pytest.fixture(scope="module", params=[20_000_000, 0], ids=["components-on-the-driver", "distributed-components"])
def clustered(spark, request):
    """One clustering run over several independent scenarios (one run per way of finding components)."""
    recs = [(f"chain:{x}", None, None) for x in LETTERS]                        # A-B-...-Z, weak link at m-n
    recs += [(f"big:{i:02d}", None, None) for i in range(30)]                   # 30 records, all strong links
    recs += [("y:1", "marie", D(1980, 1, 2)), ("y:2", "paul", D(1978, 5, 6))]   # direct cannot-link
    recs += [("x:1", "marie", D(1980, 1, 2)), ("x:2", "paul", D(1978, 5, 6)), ("x:3", "marie", None)]
    recs += [("d:1", "jean", None), ("d:2", "jean", None), ("d:3", None, None), ("s:1", "jean", None)]
    recs += [(f"core:{i:02d}", "luc", None) for i in range(25)] + [("core:zz", "luc", None)]
    recs += [("alone:1", "zoe", D(1990, 3, 4))]
    records = spark.createDataFrame(recs, "record_key string, first_name_canonical string, birth_date date")

    det = [("d:1", "d:2", "email_std", "e"), ("d:1", "d:3", "account_id", "A")]
    det += [("core:00", f"core:{i:02d}", "account_id", "A9") for i in range(1, 25)]  # an account and 24 orders
    det = spark.createDataFrame(det, "record_key_l string, record_key_r string, rule string, value string")

    prob = [(f"chain:{a}", f"chain:{b}", 0.95 if a == "m" else 0.995) for a, b in zip(LETTERS, LETTERS[1:])]
    prob += [(f"big:{i:02d}", f"big:{i + 1:02d}", 0.99999) for i in range(29)]
    prob += [("y:1", "y:2", 0.999)]
    prob += [("x:1", "x:2", 0.99), ("x:2", "x:3", 0.95), ("x:1", "x:3", 0.97)]
    prob += [("d:2", "s:1", 0.93), ("core:03", "core:zz", 0.92), ("alone:1", "s:1", 0.5)]
    prob = spark.createDataFrame(prob, "record_key_l string, record_key_r string, match_probability double")

    config = ClusteringConfig(
        threshold=0.9, max_cluster_size=20, split_thresholds=(0.99, 0.999), driver_components_max_edges=request.param
    )
    assignments, splits = cluster_records(records, det, prob, config)
    return assignments.cache(), splits.cache()


def test_every_record_gets_its_cluster_and_how_it_was_attached(spark, clustered):
    assignments, _ = clustered
    p, s = "probabilistic", "singleton"
    # (record_key, cluster_id, match_rule, match_probability, core_id): a record without a deterministic link
    # is its own core
    expected = [(f"chain:{x}", "chain:a" if x <= "m" else "chain:n", p, 0.995, f"chain:{x}") for x in LETTERS]
    expected += [(f"big:{i:02d}", "big:00" if i < 20 else "big:20", p, 0.99999, f"big:{i:02d}") for i in range(30)]
    expected += [("y:1", "y:1", s, None, "y:1"), ("y:2", "y:2", s, None, "y:2")]
    expected += [("x:1", "x:1", p, 0.97, "x:1"), ("x:3", "x:1", p, 0.97, "x:3"), ("x:2", "x:2", s, None, "x:2")]
    expected += [
        ("d:1", "d:1", "deterministic:account_id", 1.0, "d:1"),  # account_id ranks before email_std
        ("d:2", "d:1", "deterministic:email_std", 1.0, "d:1"),
        ("d:3", "d:1", "deterministic:account_id", 1.0, "d:1"),
        ("s:1", "d:1", p, 0.93, "s:1"),
    ]
    expected += [(f"core:{i:02d}", "core:00", "deterministic:account_id", 1.0, "core:00") for i in range(25)]
    expected += [("core:zz", "core:00", p, 0.92, "core:zz"), ("alone:1", "alone:1", s, None, "alone:1")]

    assert_df_equality(
        assignments.drop("component_id"),
        spark.createDataFrame(expected, StructType(ASSIGNMENTS_SCHEMA.fields[:-1])),
        ignore_row_order=True,
        ignore_nullable=True,
    )


def test_a_split_cluster_remembers_the_component_it_was_cut_from(clustered):
    """An incremental run re-forms whole components: each record keeps the component it was cut from."""
    assignments, _ = clustered
    rows = {r.record_key: (r.cluster_id, r.component_id) for r in assignments.collect()}
    assert {rows[f"chain:{x}"] for x in LETTERS} == {("chain:a", "chain:a"), ("chain:n", "chain:a")}
    assert {rows[f"big:{i:02d}"][1] for i in range(30)} == {"big:00"}
    assert rows["x:2"] == ("x:2", "x:1") and rows["y:2"] == ("y:2", "y:2")   # a cannot-link split; none to split
    assert rows["alone:1"] == ("alone:1", "alone:1")


def test_weak_chains_are_split_and_every_split_is_logged(spark, clustered):
    _, splits = clustered
    expected = [
        ("chain:a", 26, [13, 13], 0.99, "oversized"),    # re-clustered at 0.99: the 0.95 link goes
        ("big:00", 30, [20, 10], None, "size_capped"),   # links above every threshold: capped at 20
        ("x:1", 3, [2, 1], None, "cannot_link"),         # Marie 1980 ~ Marie ~ Paul 1978: Paul leaves
    ]
    assert_df_equality(
        splits, spark.createDataFrame(expected, SPLITS_SCHEMA), ignore_row_order=True, ignore_nullable=True
    )


def test_deterministic_core_larger_than_the_limit_is_kept_whole(clustered):
    assignments, _ = clustered
    sizes = {r.cluster_id: r["count"] for r in assignments.groupBy("cluster_id").count().collect()}
    assert sizes["core:00"] == 26  # 25 linked by one account + 1 probabilistic: guarded size 2
    assert max(n for cid, n in sizes.items() if cid != "core:00") <= 20


@pytest.mark.parametrize(
    "driver_max_edges",
    [0, 10, 10_000],
    ids=["distributed", "too-big-for-the-driver-falls-back", "on-the-driver"],
)
def test_connected_components_match_a_union_find(spark, driver_max_edges):
    rng = random.Random(7)
    edges = [(rng.randrange(120), rng.randrange(120)) for _ in range(90)] + [(i, i + 1) for i in range(200, 240)]
    parent = {}

    def find(x):
        parent.setdefault(x, x)
        while parent[x] != x:
            parent[x] = parent[parent[x]]
            x = parent[x]
        return x

    for a, b in edges:
        ra, rb = find(a), find(b)
        if ra != rb:
            parent[max(ra, rb)] = min(ra, rb)
    nodes = {x for a, b in edges if a != b for x in (a, b)}
    expected = {x: min(y for y in nodes if find(y) == find(x)) for x in nodes}

    result = connected_components(spark.createDataFrame(edges, "src long, dst long"), driver_max_edges=driver_max_edges)
    assert dict((r.node, r.component) for r in result.collect()) == expected
    assert result.schema.simpleString() == "struct<node:bigint,component:bigint>"


def test_rules_file_loads_and_thresholds_must_increase(tmp_path):
    config = load_clustering_config()
    assert config.max_cluster_size == 20 and config.split_thresholds[0] > config.threshold

    bad = tmp_path / "rules.yaml"
    bad.write_text("clustering:\n  threshold: 0.9\n  split_thresholds: [0.99, 0.95]\n")
    with pytest.raises(ConfigError, match="split_thresholds"):
        load_clustering_config(bad)
    bad.write_text("clustering:\n  max_cluster_sise: 5\n")
    with pytest.raises(ConfigError, match="max_cluster_sise"):
        load_clustering_config(bad)
