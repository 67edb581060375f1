"""The deterministic step as one call: pivot values, generic values, links, anonymous records and cores.

:func:`link_deterministic` chains the functions of :mod:`spark_lib.matching.deterministic` and
:func:`~spark_lib.matching.clustering.deterministic_cores` so that every value's verdict is computed once:
the records unfold into their pivot values once, the generic values are listed, the others make the edges,
and the connected components of the edges (the *cores*) serve both the model's prior and clustering.

It works on the records it is given: a full run passes every silver record, a later run a subset.

Example::

    links = link_deterministic(records, rules.deterministic, rules.clustering)
    links.edges.count(), links.anonymous.count()
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Callable

from pyspark.sql import DataFrame
from pyspark.sql import functions as F

from spark_lib import tables
from spark_lib.matching.clustering import ClusteringConfig, DeterministicCores, deterministic_cores
from spark_lib.matching.incremental import edge_changes, records_to_reform
from spark_lib.matching.deterministic import (
    DeterministicConfig,
    anonymous_records,
    classify_values,
    deterministic_edges,
    generic_values,
    pivot_values,
    placeholder_values,
)

#: ``materialise(df, table) -> DataFrame``: compute ``df`` once and return a DataFrame over the result. A job
#: writes it as ``table`` and reads it back; the default keeps it in the session (a local checkpoint).
Materialise = Callable[[DataFrame, tables.Table], DataFrame]


def checkpoint(df: DataFrame, table: tables.Table) -> DataFrame:
    """The default :data:`Materialise`: a local checkpoint, nothing written."""
    return df.localCheckpoint()


@dataclass(frozen=True)
class DeterministicLinks:
    """What the deterministic step found among the records."""

    #: ``silver.generic_values`` rows: pivot values too common to link anyone, and placeholders
    generic_values: DataFrame
    #: ``silver.deterministic_edges`` rows: record_key_l, record_key_r, rule (the pivot), value
    edges: DataFrame
    #: record_key of the records with nothing to match on (no name, no address, no usable identifier)
    anonymous: DataFrame
    #: the connected components of the edges, numbered for clustering
    cores: DeterministicCores
    #: record_key, core_id: each record's core (its smallest record_key)
    core_of: DataFrame


def link_deterministic(
    records: DataFrame,
    config: DeterministicConfig,
    clustering: ClusteringConfig,
    materialise: Materialise = checkpoint,
) -> DeterministicLinks:
    """Link ``records`` on their pivot identifiers (see the module docstring).

    ``materialise`` is called for the generic values and the edges, the two outputs that are tables of the
    lakehouse (:data:`tables.GENERIC_VALUES`, :data:`tables.DETERMINISTIC_EDGES`).
    """
    if records is None:
        raise ValueError("link_deterministic: 'records' cannot be None")
    values = pivot_values(records, config).localCheckpoint()
    classified = classify_values(records, config, values=values).localCheckpoint()
    listed = generic_values(records, classified=classified).unionByName(placeholder_values(records))
    generic = materialise(listed, tables.GENERIC_VALUES)
    edges = materialise(deterministic_edges(records, config, classified, values=values), tables.DETERMINISTIC_EDGES)
    anonymous = anonymous_records(records, edges).localCheckpoint()
    cores = deterministic_cores(records, edges, clustering)
    return DeterministicLinks(generic, edges, anonymous, cores, cores.by_record().localCheckpoint())


@dataclass(frozen=True)
class LinkChanges:
    """What the deterministic step of an incremental run found: the links of every record (``links``; its
    ``cores`` cover only the records of ``reach``) and the records whose links changed."""

    links: DeterministicLinks
    #: record_key of the records that gained or lost a deterministic edge, or changed core
    moved: DataFrame
    #: the pivot values whose holders changed (pivot, value): their verdicts and edges were computed again
    values: DataFrame


def link_changes(
    records: DataFrame,
    config: DeterministicConfig,
    clustering: ClusteringConfig,
    previous: DataFrame,
    before: tuple[DataFrame, DataFrame],
    changed: DataFrame,
    deleted: DataFrame,
    materialise: Materialise = checkpoint,
) -> LinkChanges:
    """The deterministic step of an incremental run: :func:`link_deterministic`'s output, computed from what
    changed (see :mod:`spark_lib.matching.incremental`).

    ``previous``: ``silver.matched_records`` of the last run (record_key, pivots, core_id, component_id);
    ``before``: its generic values and edges; ``changed`` and ``deleted``: record_key of the records new or
    changed, and gone, since. A value's verdict and edges depend only on the records holding it, and on the
    hints of the other values of its records without a first name: the values the changed and deleted
    records hold or held are classified and linked again from all their holders (with, for the unnamed ones
    among these, every value they hold), and every other value keeps its verdict and edges.
    """
    old_generic, old_edges = before
    # every record's pivot values: read by the five lookups below (kept for the call, not unfolded five times)
    all_values = pivot_values(records, config).persist()
    try:
        return _link_changes(records, config, clustering, previous, old_generic, old_edges, changed, deleted,
                             materialise, all_values)
    finally:
        all_values.unpersist()


def _link_changes(records, config, clustering, previous, old_generic, old_edges, changed, deleted, materialise,
                  all_values) -> LinkChanges:
    keys = ["pivot", "value"]

    def holders(values: DataFrame) -> DataFrame:
        return all_values.join(F.broadcast(values.distinct()), keys, "left_semi")

    def values_of_unnamed(rows: DataFrame) -> DataFrame:
        unnamed = rows.where(F.col("first_name").isNull()).select("record_key").distinct()
        return all_values.join(F.broadcast(unnamed), "record_key", "left_semi").select(*keys)

    held = previous.join(changed.unionByName(deleted), "record_key", "left_semi").select(F.inline("pivots"))
    now = all_values.join(changed, "record_key", "left_semi").select(*keys)
    touched_values = held.unionByName(now).distinct().localCheckpoint()
    # the unnamed holders' trusted hint reads all their values: one hop to the values whose edges may move,
    # a second to the values whose hints those records read
    first = holders(touched_values).localCheckpoint()
    relinked = touched_values.unionByName(values_of_unnamed(first)).distinct().localCheckpoint()
    members = holders(relinked).localCheckpoint()
    hinted = relinked.unionByName(values_of_unnamed(members)).distinct().localCheckpoint()
    rows = holders(hinted).localCheckpoint()
    classified = classify_values(records, config, values=rows).localCheckpoint()
    unnamed_rows = rows.join(members.where(F.col("first_name").isNull()).select("record_key").distinct(),
                             "record_key", "left_semi")
    long = members.unionByName(unnamed_rows).distinct()
    fresh = deterministic_edges(records, config, classified, values=long).join(
        F.broadcast(relinked.withColumnRenamed("pivot", "rule")), ["rule", "value"], "left_semi"
    ).localCheckpoint()

    kept_edges = old_edges.join(F.broadcast(relinked.withColumnRenamed("pivot", "rule")), ["rule", "value"], "left_anti")
    edges = materialise(kept_edges.unionByName(fresh.select(*old_edges.columns)), tables.DETERMINISTIC_EDGES)
    listed = (
        old_generic.where(F.col("reason") != "placeholder").join(F.broadcast(hinted.distinct()), keys, "left_anti")
        .unionByName(generic_values(records, classified=classified))
        .unionByName(placeholder_values(records))
    )
    generic = materialise(listed, tables.GENERIC_VALUES)

    # Records whose edges changed; the components they (and the changed and deleted records) were in hold
    # every record whose core may have changed: their cores are computed again, the others' kept.
    old_relinked = old_edges.join(F.broadcast(relinked.withColumnRenamed("pivot", "rule")), ["rule", "value"], "left_semi")
    ends = edge_changes(old_relinked, fresh)
    # Every record the last run matched is in silver unless deleted since, and the changed ones are: taking the
    # deleted out keeps silver's records without a join on all of them.
    gone = deleted.select("record_key")
    reach = records_to_reform(previous, ends.unionByName(changed), deleted).join(
        gone, "record_key", "left_anti").localCheckpoint()
    cores = deterministic_cores(records.join(reach, "record_key", "left_semi"), edges, clustering)
    near = cores.by_record()
    core_of = previous.select("record_key", "core_id").join(reach, "record_key", "left_anti").join(
        gone, "record_key", "left_anti").unionByName(near).localCheckpoint()
    moved_core = near.join(previous.select("record_key", F.col("core_id").alias("before")), "record_key", "left").where(
        ~F.col("core_id").eqNullSafe(F.col("before"))).select("record_key")
    moved = ends.unionByName(moved_core).distinct().localCheckpoint()
    anonymous = anonymous_records(records, edges).localCheckpoint()
    return LinkChanges(DeterministicLinks(generic, edges, anonymous, cores, core_of), moved, relinked)
