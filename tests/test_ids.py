"""Persistent customer ids: stable over re-runs, inherited by joining records, merges and splits logged."""

from __future__ import annotations

import datetime as dt
import hashlib

import pytest
from chispa import assert_df_equality
from pyspark.sql import functions as F

from spark_lib.matching.ids import EVENTS_SCHEMA, REGISTRY_SCHEMA, assign_customer_ids, load_ids_config

UTC = dt.timezone.utc
T0 = dt.datetime(2024, 1, 1, tzinfo=UTC)
T1 = dt.datetime(2024, 6, 1, tzinfo=UTC)
RUN = dt.datetime(2025, 1, 6, 3, 0, tzinfo=UTC)


def assignments(spark, clusters: dict[str, list[str]]):
    rows = [(key, cluster) for cluster, keys in clusters.items() for key in keys]
    return spark.createDataFrame(rows, "record_key string, cluster_id string")


def registry(spark, *rows):
    return spark.createDataFrame(list(rows), REGISTRY_SCHEMA)


def events(spark, *rows):
    return spark.createDataFrame([(RUN, *row) for row in rows], EVENTS_SCHEMA)


def new_id(smallest_key: str, run: dt.datetime = RUN) -> str:
    """The documented scheme: C + 20 hex of sha-256(smallest record_key '@' run time)."""
    return "C" + hashlib.sha256(f"{smallest_key}@{run.isoformat()}".encode()).hexdigest()[:20]


# Independent scenarios (disjoint records and ids) in two runs: a first run from no registry, then one run
# over the first run's registry plus hand-written registries; each test checks its own rows.
SAME = {"a": ["a", "b"], "c": ["c"]}
JOIN = {"j1": ["j1", "j2", "jn"]}
JOIN_REGISTRY = [("j1", "CJ", T0, T0), ("j2", "CJ", T0, T0)]
MERGE = {"m1": ["m1", "m2", "m3"]}
MERGE_REGISTRY = [("m1", "C1", T1, T1), ("m2", "C1", T1, T1), ("m3", "C9", T0, T0)]  # C9 is older
SPLIT = {"s1": ["s1"], "s2": ["s2", "s3", "s4"]}
SPLIT_REGISTRY = [(k, "CS", T0, T0) for k in ["s1", "s2", "s3", "s4"]]
TIE = {"t3": ["t3", "t4"], "t1": ["t1", "t2"]}
TIE_REGISTRY = [(k, "CT", T0, T0) for k in ["t1", "t2", "t3", "t4"]]


@pytest.fixture(scope="module")
def runs(spark):
    first, first_events = assign_customer_ids(assignments(spark, SAME), None, T0)
    first, first_events = first.cache(), first_events.cache()
    old = first.unionByName(registry(spark, *JOIN_REGISTRY, *MERGE_REGISTRY, *SPLIT_REGISTRY, *TIE_REGISTRY))
    second, second_events = assign_customer_ids(assignments(spark, {**SAME, **JOIN, **MERGE, **SPLIT, **TIE}), old, RUN)
    return first, first_events, second.cache(), second_events.cache()


def rows_of(df, clusters: dict[str, list[str]]):
    return df.filter(F.col("record_key").isin([k for keys in clusters.values() for k in keys]))


def events_of(df, *ids: str):
    return df.filter(F.col("customer_id").isin(*ids) | F.arrays_overlap("other_ids", F.array(*map(F.lit, ids))))


def test_same_input_twice_gives_the_same_ids_and_no_events(spark, runs):
    first, first_events, second, second_events = runs

    assert_df_equality(
        first,
        registry(spark, ("a", new_id("a", T0), T0, T0), ("b", new_id("a", T0), T0, T0), ("c", new_id("c", T0), T0, T0)),
        ignore_row_order=True,
        ignore_nullable=True,
    )
    assert sorted(r.event_type for r in first_events.collect()) == ["new", "new"]
    assert_df_equality(rows_of(second, SAME), first, ignore_row_order=True, ignore_nullable=True)
    assert events_of(second_events, new_id("a", T0), new_id("c", T0)).count() == 0


def test_a_new_record_joining_a_cluster_takes_its_id_without_event(spark, runs):
    *_, second, second_events = runs

    assert_df_equality(
        rows_of(second, JOIN),
        registry(spark, ("j1", "CJ", T0, T0), ("j2", "CJ", T0, T0), ("jn", "CJ", T0, RUN)),
        ignore_row_order=True,
        ignore_nullable=True,
    )
    assert events_of(second_events, "CJ").count() == 0


def test_a_merge_keeps_the_older_id_and_logs_an_event(spark, runs):
    *_, second, second_events = runs

    assert_df_equality(
        rows_of(second, MERGE),
        registry(spark, ("m1", "C9", T0, RUN), ("m2", "C9", T0, RUN), ("m3", "C9", T0, T0)),
        ignore_row_order=True,
        ignore_nullable=True,
    )
    assert_df_equality(
        events_of(second_events, "C9"),
        events(spark, ("merge", "C9", ["C1"], 2, "customers merged: the oldest id survives")),
        ignore_nullable=True,
    )


def test_a_split_keeps_the_id_on_the_largest_part_and_gives_the_rest_new_ids(spark, runs):
    *_, second, second_events = runs

    split_off = new_id("s1")
    assert_df_equality(
        rows_of(second, SPLIT),
        registry(spark, ("s1", split_off, RUN, RUN), ("s2", "CS", T0, T0), ("s3", "CS", T0, T0), ("s4", "CS", T0, T0)),
        ignore_row_order=True,
        ignore_nullable=True,
    )
    assert_df_equality(
        events_of(second_events, "CS"),
        events(
            spark,
            ("split", "CS", [split_off], 1, "customer split: the largest part keeps the id, the others get new ids"),
            ("new", split_off, ["CS"], 1, "split off existing customers"),
        ),
        ignore_row_order=True,
        ignore_nullable=True,
    )


def test_a_split_into_equal_parts_keeps_the_id_on_the_part_with_the_smallest_record(runs):
    *_, second, _ = runs

    ids = {r.record_key: r.customer_id for r in rows_of(second, TIE).collect()}
    assert ids["t1"] == ids["t2"] == "CT"
    assert ids["t3"] == ids["t4"] == new_id("t3")


def test_run_time_must_be_a_datetime(spark):
    with pytest.raises(TypeError, match="run_time"):
        assign_customer_ids(assignments(spark, {"a": ["a"]}), None, "2025-01-06")


def test_rules_file_gives_the_id_scheme():
    config = load_ids_config()
    assert (config.prefix, config.hash_length) == ("C", 20)
