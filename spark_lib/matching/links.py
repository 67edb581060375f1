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

from spark_lib import tables
from spark_lib.matching.clustering import ClusteringConfig, DeterministicCores, deterministic_cores
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
