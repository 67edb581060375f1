"""Persistent customer ids: a registry keeps ``record_key -> customer_id`` from one run to the next.

Rules of :func:`assign_customer_ids`
------------------------------------
Each existing customer id claims one cluster of this run, its *home*: the cluster holding most of its
records (ties: the cluster holding its smallest record_key). Then, for each cluster:

* **same input**: every id claims the cluster it already had: ids, registry rows and ``created_at`` are
  unchanged, and there are no events;
* **new records joining** a cluster take the cluster's id (no event: growth is normal);
* **merge**: several ids claim the same cluster: the *oldest* (smallest ``created_at``, then smallest id)
  survives; one ``merge`` event names the survivor and the retired ids;
* **split**: an id's records now lie in several clusters: its home (the largest part; ties: the part with
  its smallest record_key) keeps the id, the other parts get new ids (unless they are another id's home);
  one ``split`` event per split id;
* **new**: a cluster no id claims gets a new id and a ``new`` event (its ``other_ids`` list the ids its
  records had, when it was split off).

Id scheme
---------
``<prefix><first hash_length hex characters of sha-256(smallest record_key of the cluster || '@' ||
run_time ISO-8601)>``, e.g. ``C3f9a0c...``. Deterministic (the same input, registry and run time give the
same ids) and collision-free in practice: two clusters of one run never share their smallest record_key,
and the run time separates runs, so the inputs of the hash never repeat; 80 bits of hash make an accidental
collision negligible (about 10^-5 after 10^10 ids). The run time is part of the hash on purpose: with the
smallest record_key alone, a record that starts a new cluster after a split would get back an id that
another cluster may still carry (cluster {w, y} gets C(w); it splits into {y, z, v}, which keeps C(w), and
{w}, which would get C(w) again). A sequence continuing the maximum would re-issue retired ids, which the
registry no longer holds. Ids are never reused.

Registry rows of records absent from this run's assignments (erased records) are dropped.

Example::

    registry, events = assign_customer_ids(assignments, lake.read_or_none(tables.ID_REGISTRY),
                                           datetime.now(timezone.utc))
"""

from __future__ import annotations

import datetime as dt
import os
from dataclasses import dataclass
from typing import Mapping

from pyspark.sql import DataFrame, Window
from pyspark.sql import functions as F

from spark_lib import schemas
from spark_lib.columns import require_columns
from spark_lib.config import ConfigError, read_section
from spark_lib.matching.deterministic import DEFAULT_RULES_FILE, read_rules_section

REGISTRY_SCHEMA = schemas.ID_REGISTRY
EVENTS_SCHEMA = schemas.ID_EVENTS


@dataclass(frozen=True)
class IdsConfig:
    """Section ``ids`` of ``conf/matching_rules.yaml``."""

    prefix: str = "C"
    hash_length: int = 20

    def __post_init__(self) -> None:
        if not 16 <= self.hash_length <= 64:
            raise ConfigError(f"hash_length: {self.hash_length} must be between 16 and 64 hex characters")


def load_ids_config(path: str | os.PathLike | None = None) -> IdsConfig:
    """Section ``ids`` of ``conf/matching_rules.yaml`` (or of ``path``)."""
    file = str(path or DEFAULT_RULES_FILE)
    return read_section(IdsConfig, read_rules_section("ids", path), "ids", file)


def _as_config(config: IdsConfig | Mapping | None) -> IdsConfig:
    if config is None:
        return IdsConfig()
    if isinstance(config, IdsConfig):
        return config
    return read_section(IdsConfig, config, "ids")


def assign_customer_ids(
    assignments_df: DataFrame,
    registry_df: DataFrame | None,
    run_time: dt.datetime,
    config: IdsConfig | Mapping | None = None,
) -> tuple[DataFrame, DataFrame]:
    """Give every cluster a persistent customer id (rules in the module docstring).

    - ``assignments_df``: record_key, cluster_id (from :func:`cluster_records`; cluster ids are per run).
    - ``registry_df``: the previous registry (:data:`REGISTRY_SCHEMA`), or None on the first run.
    - ``run_time``: the run's timestamp (naive values are taken as UTC, the session time zone).

    Returns ``(registry, events)``: the new registry (one row per record of ``assignments_df``) and the
    merge/split/new events (:data:`EVENTS_SCHEMA`). Lazy: nothing runs until they are written; their common
    part is kept by the first one written, for the other.

    Example::

        registry, events = assign_customer_ids(assignments, None, datetime(2025, 1, 6, tzinfo=timezone.utc))
    """
    if not isinstance(run_time, dt.datetime):
        raise TypeError(f"'run_time' must be a datetime, got {type(run_time).__name__}")
    cfg = _as_config(config)
    require_columns(assignments_df, ["record_key", "cluster_id"], "assignments_df")
    spark = assignments_df.sparkSession
    if registry_df is None:
        registry_df = spark.createDataFrame([], REGISTRY_SCHEMA)
    require_columns(registry_df, [f.name for f in REGISTRY_SCHEMA.fields], "registry_df")
    if run_time.tzinfo is None:
        run_time = run_time.replace(tzinfo=dt.timezone.utc)
    run_ts = F.lit(run_time).cast("timestamp")
    run_iso = run_time.astimezone(dt.timezone.utc).isoformat()

    records = assignments_df.select("record_key", "cluster_id")
    old = registry_df.select(
        "record_key", F.col("customer_id").alias("old_id"), F.col("assigned_at").alias("old_assigned_at")
    )
    joined = records.join(old, "record_key", "left")
    clusters = records.groupBy("cluster_id").agg(F.min("record_key").alias("min_key"), F.count("*").alias("size"))

    # Each old id's home: the cluster with most of its records, ties to its smallest record_key.
    overlap = (
        joined.filter(F.col("old_id").isNotNull())
        .groupBy("old_id", "cluster_id")
        .agg(F.count("*").alias("n"), F.min("record_key").alias("first_key"))
    )
    home_rank = F.row_number().over(Window.partitionBy("old_id").orderBy(F.desc("n"), F.asc("first_key")))
    homes = overlap.select("old_id", "cluster_id", home_rank.alias("rank")).filter("rank = 1").drop("rank")
    created = registry_df.groupBy(F.col("customer_id").alias("old_id")).agg(F.min("created_at").alias("created_at"))
    # Ids claiming the same cluster: the oldest survives.
    age_rank = F.row_number().over(Window.partitionBy("cluster_id").orderBy(F.asc("created_at"), F.asc("old_id")))
    claims = homes.join(created, "old_id").select("cluster_id", "old_id", "created_at", age_rank.alias("rank"))
    survivors = claims.filter("rank = 1").select(
        "cluster_id", F.col("old_id").alias("survivor"), F.col("created_at").alias("survivor_created_at")
    )
    merged = claims.filter("rank > 1").select("cluster_id", "old_id")

    new_id = F.concat(
        F.lit(cfg.prefix),
        F.substring(F.sha2(F.concat(F.col("min_key"), F.lit("@" + run_iso)), 256), 1, cfg.hash_length),
    )
    cluster_ids = clusters.join(survivors, "cluster_id", "left").select(
        "cluster_id",
        "size",
        F.coalesce("survivor", new_id).alias("customer_id"),
        F.coalesce("survivor_created_at", run_ts).alias("created_at"),
        F.col("survivor").isNull().alias("is_new"),
    )

    # The registry and the events both read it: checkpointed by the first of them to run, reused by the other.
    assigned = joined.join(cluster_ids, "cluster_id").localCheckpoint(eager=False)
    registry = assigned.select(
        "record_key",
        "customer_id",
        "created_at",
        F.when(F.col("old_id") == F.col("customer_id"), F.col("old_assigned_at")).otherwise(run_ts).alias("assigned_at"),
    )

    # Events
    merge_events = (
        assigned.join(merged, ["cluster_id", "old_id"])
        .groupBy("customer_id")
        .agg(F.sort_array(F.collect_set("old_id")).alias("other_ids"), F.count("*").alias("records_affected"))
        .select(
            F.lit("merge").alias("event_type"),
            "customer_id",
            "other_ids",
            "records_affected",
            F.lit("customers merged: the oldest id survives").alias("reason"),
        )
    )
    moved = assigned.filter(F.col("old_id").isNotNull()).join(
        homes.withColumnRenamed("cluster_id", "home"), "old_id"
    ).filter(F.col("cluster_id") != F.col("home"))
    split_events = moved.groupBy("old_id").agg(
        F.sort_array(F.collect_set("customer_id")).alias("other_ids"), F.count("*").alias("records_affected")
    ).select(
        F.lit("split").alias("event_type"),
        F.col("old_id").alias("customer_id"),
        "other_ids",
        "records_affected",
        F.lit("customer split: the largest part keeps the id, the others get new ids").alias("reason"),
    )
    former = assigned.filter(F.col("is_new")).groupBy("customer_id").agg(
        F.sort_array(F.collect_set("old_id")).alias("other_ids"), F.count("*").alias("records_affected")
    )
    new_events = former.select(
        F.lit("new").alias("event_type"),
        "customer_id",
        "other_ids",
        "records_affected",
        F.when(F.size("other_ids") == 0, F.lit("new customer"))
        .otherwise(F.lit("split off existing customers"))
        .alias("reason"),
    )
    events = merge_events.unionByName(split_events).unionByName(new_events).select(
        run_ts.alias("event_time"),
        "event_type",
        "customer_id",
        F.col("other_ids").cast("array<string>").alias("other_ids"),
        F.col("records_affected").cast("long").alias("records_affected"),
        "reason",
    )
    return registry, events
