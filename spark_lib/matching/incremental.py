"""Incremental matching: a day's new, changed and deleted records re-form only the customers they touch.

A match run leaves, per record, what it saw and where it put it (``silver.matched_records``: a hash of the
record's matching columns, its deterministic core, its connected component before merge protection, its
cluster). The next run compares silver with it (:func:`record_changes`) and, when the model and the
configuration are the same, works from the changes:

1. the deterministic step classifies and links again the pivot values the changed and deleted records hold
   or held, from all their holders (:func:`~spark_lib.matching.links.link_changes`); the records that gain
   or lose an edge (:func:`edge_changes`) or change core are *touched*;
2. the records that changed or whose core changed are scored against all the others and among themselves
   (:func:`~spark_lib.matching.probabilistic.predict_changed_pairs`, term frequencies frozen with the model);
   their old pairs leave, the new ones join the stored pairs;
3. every record of a component that holds a touched record (or held a deleted one), plus the touched records
   themselves and the partners of their new pairs, is clustered again (:func:`records_to_reform`). A
   component is closed under the links: an unchanged link never leaves it, and a changed link has both ends
   touched, so clustering these records alone gives the clusters a full run gives them;
4. ids are assigned on these clusters from the registry rows of the ids they held: every other customer keeps
   its id and its registry rows, and its crosswalk rows untouched.

Scores do not drift: a pair between two unchanged records keeps the score it had (same model, same frozen
term frequencies), which is what a full rebuild under the same model computes too.

Example::

    changes = record_changes(records, lake.read(tables.MATCHED_RECORDS))
    changes.changed.count(), changes.deleted.count()
"""

from __future__ import annotations

from dataclasses import dataclass

from pyspark.sql import Column, DataFrame
from pyspark.sql import functions as F

from spark_lib.columns import require_columns

#: columns of ``silver.customer_records`` that take no part in matching: a change of these alone (a consent,
#: a later delivery time) leaves a record's links as they are
NOT_MATCHED_COLUMNS = (
    "consent_email", "consent_sms", "consent_postal", "consent_date", "record_time", "ingested_at", "source_file",
)


def record_hash(records: DataFrame) -> Column:
    """A 64-bit hash of a record's matching columns (every column but :data:`NOT_MATCHED_COLUMNS`); column
    names are part of what is hashed, so a value moved to another column changes it."""
    columns = sorted(c for c in records.columns if c not in NOT_MATCHED_COLUMNS)
    return F.xxhash64(F.to_json(F.struct(*columns)))


def matched_state(records: DataFrame, assignments: DataFrame, pivots: Column) -> DataFrame:
    """``silver.matched_records`` rows for ``assignments`` (record_key, core_id, component_id, cluster_id):
    record_key, record_hash, pivots (the record's pivot values: the column
    :func:`~spark_lib.matching.deterministic.record_pivots` gives), core_id, component_id, cluster_id."""
    require_columns(assignments, ["record_key", "core_id", "component_id", "cluster_id"], "assignments")
    hashed = records.select("record_key", record_hash(records).alias("record_hash"), pivots.alias("pivots"))
    return hashed.join(assignments.select("record_key", "core_id", "component_id", "cluster_id"), "record_key")


@dataclass(frozen=True)
class RecordChanges:
    """What changed in silver since the last match run."""

    #: record_key of the records that are new or whose matching columns changed (materialised)
    changed: DataFrame
    #: record_key of the records the last run matched that silver no longer holds (materialised)
    deleted: DataFrame
    changed_count: int
    deleted_count: int
    #: records in silver now
    records: int


def record_changes(records: DataFrame, previous: DataFrame, feed: DataFrame | None = None) -> RecordChanges:
    """Compare ``records`` (silver) with ``previous`` (``silver.matched_records`` of the last run), in one
    join.

    ``feed``: silver's Change Data Feed since the version the last run matched (every column of ``records``,
    ``_change_type`` and ``_commit_version``; :meth:`~spark_lib.storage.Lakehouse.changes`). With it only the
    records the feed names are compared, each as the latest commit naming it left it (its insert or update
    post-image; deleted when that commit holds neither), instead of hashing every record: a day's few
    thousand rather than the whole base. The answer is the same: a record the feed does not name is as the
    last run saw it.
    """
    require_columns(previous, ["record_key", "record_hash"], "previous")
    if feed is None:
        now = records.select("record_key", record_hash(records).alias("now"))
        before = previous.select("record_key", F.col("record_hash").alias("before"))
    else:
        require_columns(feed, ["record_key", "_change_type", "_commit_version", *records.columns], "feed")
        last = feed.groupBy("record_key").agg(F.max("_commit_version").alias("_last"))
        images = (feed.join(last, "record_key").where(F.col("_commit_version") == F.col("_last"))
                  .where(F.col("_change_type").isin("insert", "update_postimage")).select(*records.columns))
        now = images.select("record_key", record_hash(images).alias("now"))
        named = feed.select("record_key").distinct()
        before = previous.join(named, "record_key", "left_semi").select("record_key", F.col("record_hash").alias("before"))
    compared = now.join(before, "record_key", "full_outer").where(
        ~F.col("now").eqNullSafe(F.col("before"))
    ).localCheckpoint()
    changed = compared.where(F.col("now").isNotNull()).select("record_key").distinct().localCheckpoint()
    deleted = compared.where(F.col("now").isNull()).select("record_key").localCheckpoint()
    return RecordChanges(changed, deleted, changed.count(), deleted.count(), records.count())


def edge_changes(before: DataFrame, after: DataFrame) -> DataFrame:
    """record_key of the ends of the deterministic edges in one of ``before`` and ``after`` but not the other."""
    keys = ["record_key_l", "record_key_r", "rule"]
    old, new = before.select(*keys).distinct(), after.select(*keys).distinct()
    differing = old.join(new, keys, "left_anti").unionByName(new.join(old, keys, "left_anti"))
    return _ends(differing)


def records_to_reform(previous: DataFrame, touched: DataFrame, deleted: DataFrame) -> DataFrame:
    """record_key of the records to cluster again: the ``touched`` ones and every record of a component (as
    the last run formed it) that holds a touched or a ``deleted`` record. Deleted records themselves are
    among them; the caller keeps only the records silver holds."""
    require_columns(previous, ["record_key", "component_id"], "previous")
    seeds = touched.select("record_key").unionByName(deleted.select("record_key"))
    components = previous.join(seeds, "record_key", "left_semi").select("component_id").distinct()
    members = previous.join(F.broadcast(components), "component_id", "left_semi").select("record_key")
    return members.unionByName(seeds).distinct()


def pair_ends(pairs: DataFrame) -> DataFrame:
    """record_key of the records of ``pairs`` (record_key_l, record_key_r)."""
    return _ends(pairs)


def _ends(pairs: DataFrame) -> DataFrame:
    return (
        pairs.select(F.col("record_key_l").alias("record_key"))
        .unionByName(pairs.select(F.col("record_key_r").alias("record_key")))
        .distinct()
    )


def without_records(pairs: DataFrame, keys: DataFrame) -> DataFrame:
    """``pairs`` (record_key_l, record_key_r, ...) that hold none of ``keys`` (record_key)."""
    k = keys.select("record_key").distinct()
    return pairs.join(k.withColumnRenamed("record_key", "record_key_l"), "record_key_l", "left_anti").join(
        k.withColumnRenamed("record_key", "record_key_r"), "record_key_r", "left_anti"
    )
