"""Clustering: records linked by deterministic and probabilistic edges become one cluster per person.

Steps of :func:`cluster_records`
--------------------------------
1. **Cannot-link.** A probabilistic edge between two records whose birth dates are both known and differ
   AND whose first names (``first_name_canonical``) are both known and are not the same person's name (the
   test of :func:`spark_lib.matching.deterministic.first_names_similar`: equal, or a small typo apart) is
   dropped, whatever its probability. A twin (same birth date) or a woman who changed her first name
   spelling is kept; Marie 1980-01-02 and Paul 1978-05-06 are never linked directly. The constraint is also
   enforced transitively (step 5): a cluster that holds two such records is re-formed.
2. **Deterministic cores (units).** Connected components over the deterministic edges alone. Those edges
   only exist for non-generic pivot values split by first name (see ``deterministic.py``): a core is
   *explained by strong identifiers* and is never split. :func:`deterministic_cores` computes them alone:
   the match job does so once, for the model's prior and for this function.
3. **Clusters.** Connected components of the cores over the probabilistic edges with
   ``match_probability >= threshold``.
4. **Merge protection.** A cluster may be larger than ``max_cluster_size`` only through its largest core:
   its *guarded size* is ``records - largest_core + 1`` (the core counts as one record). A cluster whose
   guarded size exceeds the limit (a chain A-B-C-...-Z of weak links) is re-clustered with only its
   probabilistic edges at or above each of ``split_thresholds`` in turn (0.9999, 0.99999 in
   conf/matching_rules.yaml); a part that is small enough is kept, a part still too big goes on to the next
   threshold.
5. **Size-capped, constraint-respecting re-forming.** A part still too big after the last threshold, or a
   cluster holding two records that cannot link, is re-formed by adding its edges strongest first (Kruskal,
   a maximum spanning forest) and skipping any edge that would make the guarded size exceed
   ``max_cluster_size`` or join two records that cannot link.

6. **Steward cannot-links.** ``apart`` pairs (a data steward said *different*:
   :mod:`spark_lib.matching.overrides`) lose their direct probabilistic edge, and a cluster holding both
   records of one is re-formed as in step 5 (reason ``steward_cannot_link``), whatever ``cannot_link`` says:
   no chain gets around a person's decision. Both records must lie in different cores; the caller splits a
   core that holds both first (:func:`~spark_lib.matching.overrides.steward_links`). Must-links (*same*) are
   deterministic edges of rule :data:`STEWARD_RULE`.

Steps 4 to 6 run only on the clusters that need them (found with Spark aggregations and a join bounded by
the cluster size), each cluster in one call of a grouped pandas function (``cogroup().applyInPandas``):
distributed over the executors, never all edges on the driver. One flagged cluster is held in memory by
one Python worker: fine for the chains merge protection is about (up to hundreds of thousands of records);
a pathological component of many millions would need a bigger worker.

Every split is a row of the splits DataFrame: the component's id (its smallest record_key), size before,
sizes after, the threshold used (null for step 5) and the reason (``oversized``, ``size_capped``,
``cannot_link``, ``steward_cannot_link``).

Connected components
--------------------
:func:`connected_components` is the alternating large-star / small-star algorithm (Kiveris et al., 2014,
"Connected Components in MapReduce and Beyond"): O(log^2 n) rounds, each a few joins and aggregations,
checkpointed each round so plans do not grow, stopping when the edges form stars (every node points to its
component's smallest node). Nodes are numbered in ``record_key`` order (a global sort then
``monotonically_increasing_id``), so the smallest node is the smallest record_key and ``cluster_id`` is the
cluster's smallest record_key.

A graph of at most ``driver_components_max_edges`` edges (20 million by default: 320 MB of node pairs) is
instead collected once and solved on the driver by SciPy's ``connected_components``, with the same labels:
each distributed round is several Spark jobs, and below that size their fixed costs outweigh collecting
the edges once, so the driver path is the faster one and gives identical clusters.

Why not Splink's ``cluster_pairwise_predictions_at_threshold``: on the same graph, with the same answers,
Splink's function with ``break_lineage_method="checkpoint"`` was markedly slower than this implementation
(even run directly on string keys; on long node ids, hence the numbering, this one is faster still), and
with Splink's ``persist`` the plans grew until the driver ran out of memory. Our loop also keeps
checkpointing under the caller's control (``checkpoint``).

Example::

    assignments, splits = cluster_records(records, det_edges, predictions, load_clustering_config())
"""

from __future__ import annotations

import functools
import os
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Callable, Mapping

import numpy as np
import pandas as pd
import pyarrow as pa
from pyspark.sql import DataFrame, Window
from pyspark.sql import functions as F
from pyspark.sql.types import DoubleType, StringType, StructField, StructType

from spark_lib import schemas
from spark_lib.columns import require_columns
from spark_lib.config import ConfigError, read_section
from spark_lib.matching.deterministic import (
    DEFAULT_RULES_FILE,
    FirstNameSimilarity,
    first_names_similar,
    first_names_similar_py,
    read_rules_section,
)
from spark_lib.session import job_description

if TYPE_CHECKING:
    from spark_lib.matching.links import DeterministicLinks
    from spark_lib.matching.overrides import StewardLinks

ASSIGNMENTS_SCHEMA = StructType(
    [
        StructField("record_key", StringType(), False),
        StructField("cluster_id", StringType(), False),        # the cluster's smallest record_key (this run only)
        StructField("match_rule", StringType(), False),        # deterministic:<pivot> | steward | probabilistic | singleton
        StructField("match_probability", DoubleType(), True),  # best edge to its cluster; 1.0 deterministic
        StructField("core_id", StringType(), False),           # its deterministic core's smallest record_key
        # the smallest record_key of its connected component before merge protection re-formed it (the
        # cluster itself when nothing was re-formed): an incremental run re-forms whole components
        StructField("component_id", StringType(), False),
    ]
)

#: the clusters merge protection re-formed (gold.cluster_splits, without its run_time)
SPLITS_SCHEMA = schemas.CLUSTER_SPLITS

CHECKPOINT_MODES = ("local", "reliable", "none")

#: the rule of a must-link a data steward decided (a *same* decision): a deterministic edge, and a record's
#: match_rule where it is what attaches the record
STEWARD_RULE = "steward"
#: the rule of a must-link the stream saw (``silver.stream_identity_links``: a cookie that logged in to an
#: account, an order placed on it): a deterministic edge, and a record's match_rule as :data:`STEWARD_RULE` is
LOGIN_RULE = "stream_login"


class ConnectedComponentsDidNotConvergeError(RuntimeError):
    """Large-star/small-star did not reach stars within ``max_iterations`` rounds."""


@dataclass(frozen=True)
class ClusteringConfig:
    """Section ``clustering`` of ``conf/matching_rules.yaml``."""

    threshold: float = 0.9
    max_cluster_size: int = 20
    split_thresholds: tuple[float, ...] = (0.99, 0.999, 0.9999)
    cannot_link: bool = True
    birth_date_column: str = "birth_date"
    first_names: FirstNameSimilarity = field(default_factory=FirstNameSimilarity)
    rule_priority: tuple[str, ...] = ("customer_ref", "account_id", "loyalty_card", "email_std", "phone_mobile")
    max_iterations: int = 60
    checkpoint: str = "local"
    #: a graph of at most this many edges has its connected components found on the driver (0: never)
    driver_components_max_edges: int = 20_000_000

    def __post_init__(self) -> None:
        if not 0.0 <= self.threshold <= 1.0:
            raise ConfigError(f"threshold: {self.threshold} is not a probability")
        previous = self.threshold
        for t in self.split_thresholds:
            if not previous < t <= 1.0:
                raise ConfigError(
                    f"split_thresholds: {list(self.split_thresholds)} must increase from above "
                    f"threshold ({self.threshold}) up to 1"
                )
            previous = t
        if self.max_cluster_size < 1:
            raise ConfigError("max_cluster_size: must be at least 1")
        if self.max_iterations < 1:
            raise ConfigError("max_iterations: must be at least 1")
        if self.driver_components_max_edges < 0:
            raise ConfigError("driver_components_max_edges: must be 0 (never) or more")
        if self.checkpoint not in CHECKPOINT_MODES:
            raise ConfigError(
                f"checkpoint: {self.checkpoint!r} is not one of {', '.join(CHECKPOINT_MODES)}"
            )


def load_clustering_config(path: str | os.PathLike | None = None) -> ClusteringConfig:
    """Section ``clustering`` of ``conf/matching_rules.yaml`` (or of ``path``)."""
    file = str(path or DEFAULT_RULES_FILE)
    return read_section(ClusteringConfig, read_rules_section("clustering", path), "clustering", file)


def _as_config(config: ClusteringConfig | Mapping | None) -> ClusteringConfig:
    if config is None:
        return ClusteringConfig()
    if isinstance(config, ClusteringConfig):
        return config
    return read_section(ClusteringConfig, config, "clustering")


# --------------------------------------------------------------------------------------------------
# Connected components
# --------------------------------------------------------------------------------------------------


def _materialize(df: DataFrame, mode: str, what: str) -> DataFrame:
    """Cut ``df``'s lineage so that iterative plans stay small; its Spark jobs are named ``what``."""
    with job_description(df.sparkSession, what):
        if mode == "local":
            return df.localCheckpoint(eager=True)
        if mode == "reliable":
            return df.checkpoint(eager=True)
    return df


def connected_components(
    edges: DataFrame, max_iterations: int = 60, checkpoint: str = "local", driver_max_edges: int = 0
) -> DataFrame:
    """Label every node of ``edges`` (columns ``src``, ``dst``, longs) with the smallest node of its component.

    Output: node, component. Nodes without an edge are absent (they are their own component).

    A graph of at most ``driver_max_edges`` edges is collected and solved on the driver in one pass
    (:func:`_components_on_driver`): a few seconds for tens of millions of edges, where every distributed
    round costs several Spark jobs. Larger graphs (or ``driver_max_edges=0``) run large-star / small-star
    rounds until the edges are stars; that raises :class:`ConnectedComponentsDidNotConvergeError` after
    ``max_iterations`` rounds. Both give the same labels.

    Example::

        connected_components(spark.createDataFrame([(1, 2), (2, 3), (7, 8)], "src long, dst long"))
        # node 1,2,3 -> 1; 7,8 -> 7
    """
    require_columns(edges, ["src", "dst"], "edges")
    if checkpoint not in CHECKPOINT_MODES:
        raise ValueError(f"checkpoint {checkpoint!r} is not one of {', '.join(CHECKPOINT_MODES)}")
    if driver_max_edges > 0:
        # One row past the limit tells a graph too big for the driver without counting it first.
        table = edges.select(F.col("src").cast("long"), F.col("dst").cast("long")).limit(driver_max_edges + 1).toArrow()
        if table.num_rows <= driver_max_edges:
            return _components_on_driver(edges.sparkSession, table)
    return _components_distributed(edges, max_iterations, checkpoint)


def _components_distributed(edges: DataFrame, max_iterations: int, checkpoint: str) -> DataFrame:
    """:func:`connected_components` by large-star / small-star rounds, each checkpointed, until stars."""
    e = (
        edges.select(F.greatest("src", "dst").alias("hi"), F.least("src", "dst").alias("lo"))
        .filter(F.col("hi") != F.col("lo"))
        .distinct()
    )
    for round_ in range(1, max_iterations + 1):
        e = _materialize(_star_round(e), checkpoint, f"connected components: round {round_}")
        with job_description(e.sparkSession, f"connected components: round {round_} converged?"):
            converged = _are_stars(e)
        if converged:
            return e.select(F.col("hi").alias("node"), F.col("lo").alias("component")).unionByName(
                e.select(F.col("lo").alias("node"), F.col("lo").alias("component")).distinct()
            )
    raise ConnectedComponentsDidNotConvergeError(
        f"connected components did not converge in {max_iterations} rounds (clustering.max_iterations)"
    )


def _star_round(e: DataFrame) -> DataFrame:
    """One large-star then small-star round over the edges ``e`` (hi > lo): the next round's edges."""
    both = e.select(F.col("hi").alias("n"), F.col("lo").alias("m")).unionByName(
        e.select(F.col("lo").alias("n"), F.col("hi").alias("m"))
    )
    # Large-star: each neighbour m larger than n points to the smallest of n and its neighbours.
    large = (
        both.select("n", "m", F.min("m").over(Window.partitionBy("n")).alias("mn"))
        .filter(F.col("m") > F.col("n"))
        .select(F.col("m").alias("hi"), F.least("n", "mn").alias("lo"))
    )
    # Small-star: hi and its smaller neighbours point to the smallest of those neighbours.
    small = large.select("hi", "lo", F.min("lo").over(Window.partitionBy("hi")).alias("m"))
    return (
        small.select(F.col("lo").alias("hi"), F.col("m").alias("lo"))
        .unionByName(small.select("hi", F.col("m").alias("lo")))
        .filter(F.col("hi") != F.col("lo"))
        .distinct()
    )


def _are_stars(e: DataFrame) -> bool:
    """Whether no node has both a smaller and a larger neighbour, nor two smaller neighbours (a Spark job)."""
    check = e.select(F.col("hi").alias("n"), F.lit(1).alias("smaller"), F.lit(0).alias("larger")).unionByName(
        e.select(F.col("lo").alias("n"), F.lit(0).alias("smaller"), F.lit(1).alias("larger"))
    )
    not_star = check.groupBy("n").agg(F.sum("smaller").alias("s"), F.max("larger").alias("l")).filter(
        (F.col("s") > 1) | ((F.col("s") > 0) & (F.col("l") > 0))
    )
    return not_star.isEmpty()


def _components_on_driver(spark, table: pa.Table) -> DataFrame:
    """:func:`connected_components` of the edges ``table`` (src, dst), solved in memory by SciPy."""
    from scipy.sparse import coo_matrix
    from scipy.sparse.csgraph import connected_components as scipy_components

    src = table.column("src").to_numpy(zero_copy_only=False)
    dst = table.column("dst").to_numpy(zero_copy_only=False)
    keep = src != dst
    src, dst = src[keep], dst[keep]
    # Nodes sorted ascending: the first node of each component in this order is its smallest.
    nodes, index = np.unique(np.concatenate([src, dst]), return_inverse=True)
    graph = coo_matrix((np.ones(len(src), dtype=np.int8), (index[: len(src)], index[len(src):])), shape=(len(nodes),) * 2)
    _, labels = scipy_components(graph, directed=False)
    _, first = np.unique(labels, return_index=True)
    components = pa.table({"node": pa.array(nodes, pa.int64()), "component": pa.array(nodes[first][labels], pa.int64())})
    return spark.createDataFrame(components)


def _labels(nodes: DataFrame, edges: DataFrame, node: str, label: str, cfg: ClusteringConfig, what: str) -> DataFrame:
    """``nodes`` (column ``node``) with ``label``: its component's smallest node (itself when isolated)."""
    with job_description(edges.sparkSession, what):
        comp = connected_components(edges, cfg.max_iterations, cfg.checkpoint, cfg.driver_components_max_edges)
    return (
        nodes.select(node)
        .join(comp, nodes[node] == comp["node"], "left")
        .select(nodes[node].alias(node), F.coalesce(comp["component"], nodes[node]).alias(label))
    )


# --------------------------------------------------------------------------------------------------
# Cannot-link
# --------------------------------------------------------------------------------------------------


def _cannot_link(bd_l, bd_r, fn_l, fn_r, cfg: ClusteringConfig):
    """Column: both birth dates known and different AND both first names known and not the same name."""
    return (
        bd_l.isNotNull()
        & bd_r.isNotNull()
        & (bd_l != bd_r)
        & fn_l.isNotNull()
        & fn_r.isNotNull()
        & ~first_names_similar(fn_l, fn_r, cfg.first_names)
    )


def drop_cannot_link_edges(
    prob_edges: DataFrame, records_df: DataFrame, config: ClusteringConfig | Mapping | None = None
) -> DataFrame:
    """``prob_edges`` without the edges between records that cannot link (see the module docstring).

    Example::

        kept = drop_cannot_link_edges(predictions, records, config)
    """
    cfg = _as_config(config)
    bd, fn = cfg.birth_date_column, cfg.first_names.column
    require_columns(prob_edges, ["record_key_l", "record_key_r"], "prob_edges")
    require_columns(records_df, ["record_key", bd, fn], "records_df")
    attrs = records_df.select("record_key", F.col(bd).alias("bd"), F.col(fn).alias("fn"))
    left = attrs.select(F.col("record_key").alias("record_key_l"), F.col("bd").alias("bd_l"), F.col("fn").alias("fn_l"))
    right = attrs.select(F.col("record_key").alias("record_key_r"), F.col("bd").alias("bd_r"), F.col("fn").alias("fn_r"))
    joined = prob_edges.join(left, "record_key_l", "left").join(right, "record_key_r", "left")
    keep = ~F.coalesce(_cannot_link(F.col("bd_l"), F.col("bd_r"), F.col("fn_l"), F.col("fn_r"), cfg), F.lit(False))
    return joined.filter(keep).select(*prob_edges.columns)


# --------------------------------------------------------------------------------------------------
# Size-capped re-forming (steps 4 and 5: one cluster per pandas call)
# --------------------------------------------------------------------------------------------------

_REFORM_SCHEMA = (
    "unit long, new_part long, "  # an assignment row: the unit's new part
    "event_part long, size_before long, sizes_after array<long>, threshold double, reason string"  # an event row
)

#: an edge between two units of a cluster: (ua, ub, p)
_Edge = tuple[int, int, float]
#: ``accept(root_a, root_b, members, p)``: whether :func:`_kruskal` may merge the trees of two roots
_Accept = Callable[[int, int, dict[int, list[int]], float], bool]


class _Forest:
    """Union-find over units; a merged tree keeps its smallest root and the list of its members."""

    def __init__(self, units: list[int]) -> None:
        self.parent = {u: u for u in units}
        self.members = {u: [u] for u in units}

    def find(self, u: int) -> int:
        parent = self.parent
        while parent[u] != u:
            parent[u] = parent[parent[u]]
            u = parent[u]
        return u

    def union(self, ra: int, rb: int) -> None:
        keep, gone = min(ra, rb), max(ra, rb)
        self.parent[gone] = keep
        self.members[keep] += self.members.pop(gone)

    def parts(self) -> list[list[int]]:
        return [sorted(m) for m in self.members.values()]


def _kruskal(units: list[int], part_edges: list[_Edge], accept: _Accept) -> list[list[int]]:
    """The parts of ``units`` after adding ``part_edges`` strongest first, each merge only if ``accept`` allows it."""
    forest = _Forest(units)
    for a, b, p in part_edges:
        ra, rb = forest.find(a), forest.find(b)
        if ra == rb or not accept(ra, rb, forest.members, p):
            continue
        forest.union(ra, rb)
    return forest.parts()


def _at_threshold(units: list[int], part_edges: list[_Edge], t: float) -> list[list[int]]:
    """The parts of ``units`` linked by the edges of probability at least ``t``."""
    return _kruskal(units, part_edges, lambda ra, rb, members, p: p >= t)


@dataclass
class _Reformer:
    """Steps 4 and 5 on one cluster held in memory: its cores (units), their records and the edges between them.

    :meth:`reform` returns the cluster's final parts; every split it made is in :attr:`events`.
    """

    cfg: ClusteringConfig
    #: unit -> its number of records
    size: dict[int, int]
    #: unit -> (birth date, first name) of each of its records where both are known
    people: dict[int, list[tuple[str, str]]]
    #: the cluster's edges between units, strongest first (ties by ua, then ub)
    strongest_first: list[_Edge]
    #: unit -> the units a steward's *different* keeps it apart from (step 6)
    apart: dict[int, set[int]] = field(default_factory=dict)
    #: the splits: (smallest unit of the split part, size before, sizes after, threshold, reason)
    events: list[tuple] = field(default_factory=list)

    @classmethod
    def of(cls, cfg: ClusteringConfig, records: pd.DataFrame, edges: pd.DataFrame) -> _Reformer:
        """From one cluster's ``records`` (part, unit, bd, fn, apart) and ``edges`` (part, ua, ub, p)."""
        size = {int(u): int(n) for u, n in records.groupby("unit").size().items()}
        people: dict[int, list[tuple[str, str]]] = {u: [] for u in size}
        known = records.dropna(subset=["bd", "fn"])
        for unit, bd, fn in zip(known["unit"], known["bd"], known["fn"]):
            people[int(unit)].append((bd, fn))
        ordered = edges.sort_values(["p", "ua", "ub"], ascending=[False, True, True])
        strongest_first = [(int(a), int(b), float(p)) for a, b, p in zip(ordered["ua"], ordered["ub"], ordered["p"])]
        apart: dict[int, set[int]] = {}
        if "apart" in records.columns:
            for unit, others in zip(records["unit"], records["apart"]):
                if others is not None and len(others):
                    apart.setdefault(int(unit), set()).update(int(o) for o in others)
        return cls(cfg, size, people, strongest_first, apart)

    def reform(self) -> list[list[int]]:
        """The cluster's final parts (sorted lists of units): step 4 when it is too big, then step 5."""
        whole = sorted(self.size)
        kept = self._split_oversized(whole) if self._guarded(whole) > self.cfg.max_cluster_size else [whole]
        return self._separate_conflicts(kept)

    def _split_oversized(self, whole: list[int]) -> list[list[int]]:
        """Step 4 (re-cluster at each split threshold), then size-capped re-forming of what is still too big."""
        kept: list[list[int]] = []
        pending = [whole]
        for t in self.cfg.split_thresholds:
            still = []
            for part, part_edges in zip(pending, self._edges_within(pending)):
                parts = _at_threshold(part, part_edges, t)
                self._log(part, parts, t, "oversized")
                for sub in parts:
                    (still if self._guarded(sub) > self.cfg.max_cluster_size else kept).append(sub)
            pending = still
            if not pending:
                break
        for part, part_edges in zip(pending, self._edges_within(pending)):
            parts = self._capped(part, part_edges)
            self._log(part, parts, None, "size_capped")
            kept.extend(parts)
        return kept

    def _separate_conflicts(self, kept: list[list[int]]) -> list[list[int]]:
        """Steps 5 and 6 for cannot-link: a part holding two records that cannot link, or the two records of a
        steward's *different*, is re-formed."""
        final = []
        for part, part_edges in zip(kept, self._edges_within(kept)):
            steward = len(part) > 1 and self._steward_conflict(part, part)
            if steward or (self.cfg.cannot_link and len(part) > 1 and self._has_conflict(part)):
                parts = self._capped(part, part_edges)
                self._log(part, parts, None, "steward_cannot_link" if steward else "cannot_link")
                final.extend(parts)
            else:
                final.append(part)
        return final

    def _capped(self, units: list[int], part_edges: list[_Edge]) -> list[list[int]]:
        """Kruskal refusing merges beyond the size limit or between records that cannot link."""
        people_of_root: dict[int, list[tuple[str, str]]] = {}  # filled as trees are merged
        return _kruskal(
            units, part_edges, lambda ra, rb, members, p: self._may_merge(ra, rb, members, people_of_root)
        )

    def _may_merge(
        self, ra: int, rb: int, members: dict[int, list[int]], people_of_root: dict[int, list[tuple[str, str]]]
    ) -> bool:
        """Whether the trees of roots ``ra`` and ``rb`` may merge; if so ``people_of_root`` is updated."""
        if self._guarded(members[ra] + members[rb]) > self.cfg.max_cluster_size:
            return False
        if self.apart and self._steward_conflict(members[ra], members[rb]):
            return False
        if self.cfg.cannot_link:
            xs = people_of_root.setdefault(ra, [x for u in members[ra] for x in self.people[u]])
            ys = people_of_root.setdefault(rb, [y for u in members[rb] for y in self.people[u]])
            if self._clash(xs, ys):
                return False
            people_of_root[min(ra, rb)] = xs + ys
            people_of_root.pop(max(ra, rb), None)
        return True

    def _steward_conflict(self, xs: list[int], ys: list[int]) -> bool:
        """Whether a unit of ``xs`` and one of ``ys`` are kept apart by a steward's *different*."""
        if not self.apart:
            return False
        wanted = set(ys)
        return any(not wanted.isdisjoint(self.apart.get(u, ())) for u in xs)

    def _guarded(self, units: list[int]) -> int:
        return sum(self.size[u] for u in units) - max(self.size[u] for u in units) + 1

    def _clash(self, xs: list[tuple[str, str]], ys: list[tuple[str, str]]) -> bool:
        rule = self.cfg.first_names
        return any(bx != by and not first_names_similar_py(fx, fy, rule) for bx, fx in xs for by, fy in ys)

    def _has_conflict(self, units: list[int]) -> bool:
        units = sorted(units)
        return any(self._clash(self.people[u], self.people[v]) for i, u in enumerate(units) for v in units[i + 1:])

    def _edges_within(self, parts: list[list[int]]) -> list[list[_Edge]]:
        """The edges inside each of ``parts`` (strongest first), in one pass over the cluster's edges."""
        owner = {u: i for i, part in enumerate(parts) for u in part}
        buckets: list[list[_Edge]] = [[] for _ in parts]
        for edge in self.strongest_first:
            i = owner.get(edge[0])
            if i is not None and owner.get(edge[1]) == i:
                buckets[i].append(edge)
        return buckets

    def _log(self, before: list[int], after: list[list[int]], threshold: float | None, reason: str) -> None:
        if len(after) > 1:
            sizes = sorted((sum(self.size[u] for u in part) for part in after), reverse=True)
            self.events.append((min(before), sum(sizes), sizes, threshold, reason))


def _reform_cluster(cfg: ClusteringConfig, records: pd.DataFrame, edges: pd.DataFrame) -> pd.DataFrame:
    """The grouped pandas function of steps 4 and 5 (bind ``cfg`` with :func:`functools.partial`).

    ``records``: part, unit, bd, fn (one row per record of one cluster); ``edges``: part, ua, ub, p (between
    its units). Output (:data:`_REFORM_SCHEMA`): a row (unit, new_part) per unit, its new part's smallest
    unit, and a row (event_part, size_before, sizes_after, threshold, reason) per split.
    """
    reformer = _Reformer.of(cfg, records, edges)
    final = reformer.reform()
    rows = [(u, min(part), None, None, None, None, None) for part in final for u in part]
    rows += [(None, None, *event) for event in reformer.events]
    out = pd.DataFrame(
        rows, columns=["unit", "new_part", "event_part", "size_before", "sizes_after", "threshold", "reason"]
    )
    for column in ("unit", "new_part", "event_part", "size_before"):
        out[column] = out[column].astype("Int64")
    out["threshold"] = out["threshold"].astype("float64")
    return out


# --------------------------------------------------------------------------------------------------
# Public API
# --------------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class DeterministicCores:
    """Records numbered in record_key order and their deterministic cores (step 2 of :func:`cluster_records`).

    The match job computes them once, in its deterministic step: the model's prior counts the record pairs
    they hold (:meth:`by_record`), and :func:`cluster_records` starts from them.
    """

    #: nid (long, in record_key order), record_key, bd, fn (the cannot-link columns, null when off)
    nodes: DataFrame
    #: a < b (nids), rule: the deterministic edges between numbered records
    edges: DataFrame
    #: nid, unit: the smallest nid of the record's core
    units: DataFrame

    def by_record(self) -> DataFrame:
        """record_key, core_id (the core's smallest record_key), one row per record."""
        keys = self.nodes.select("nid", "record_key")
        return self.units.join(keys, "nid").join(
            keys.select(F.col("nid").alias("unit"), F.col("record_key").alias("core_id")), "unit"
        ).select("record_key", "core_id")


def deterministic_cores(
    records_df: DataFrame, det_edges: DataFrame, config: ClusteringConfig | Mapping | None = None
) -> DeterministicCores:
    """Connected components of the deterministic edges over ``records_df`` (step 2 of the module docstring).

    Example::

        cores = deterministic_cores(records, deterministic_edges(records, det_cfg), cfg)
        cores.by_record().groupBy("core_id").count()
    """
    cfg = _as_config(config)
    bd, fn = cfg.birth_date_column, cfg.first_names.column
    require_columns(records_df, ["record_key", *((bd, fn) if cfg.cannot_link else ())], "records_df")
    require_columns(det_edges, ["record_key_l", "record_key_r", "rule"], "det_edges")
    mode = cfg.checkpoint
    # Node ids in record_key order: the smallest id of a component is its smallest record_key.
    nodes = _materialize(
        records_df.select(
            "record_key",
            (F.col(bd).cast("string") if cfg.cannot_link else F.lit(None).cast("string")).alias("bd"),
            (F.col(fn) if cfg.cannot_link else F.lit(None).cast("string")).alias("fn"),
        )
        .dropDuplicates(["record_key"])
        .orderBy("record_key")
        .withColumn("nid", F.monotonically_increasing_id()),
        mode,
        "number the records",
    )
    det = _numbered(nodes, det_edges.select("record_key_l", "record_key_r", "rule"), "rule").distinct()
    units = _materialize(
        _labels(nodes.select(F.col("nid").alias("node")), det.select(F.col("a").alias("src"), F.col("b").alias("dst")),
                "node", "unit", cfg, "deterministic cores").withColumnRenamed("node", "nid"),
        mode,
        "deterministic cores",
    )
    return DeterministicCores(nodes=nodes, edges=det, units=units)


def _numbered(nodes: DataFrame, edges: DataFrame, *extra) -> DataFrame:
    """``edges`` (record_key_l, record_key_r, ...) as a < b over the nodes' numbers; edges to unknown records drop."""
    keys = nodes.select("nid", "record_key")
    left = keys.select(F.col("record_key").alias("record_key_l"), F.col("nid").alias("a"))
    right = keys.select(F.col("record_key").alias("record_key_r"), F.col("nid").alias("b"))
    return (
        edges.join(left, "record_key_l")
        .join(right, "record_key_r")
        .select(F.least("a", "b").alias("a"), F.greatest("a", "b").alias("b"), *extra)
        .filter(F.col("a") != F.col("b"))
    )


def cluster_records(
    records_df: DataFrame,
    det_edges: DataFrame,
    prob_edges: DataFrame | None,
    config: ClusteringConfig | Mapping | None = None,
    cores: DeterministicCores | None = None,
    apart: DataFrame | None = None,
) -> tuple[DataFrame, DataFrame]:
    """Cluster the records (see the module docstring): returns ``(assignments, splits)``.

    - ``records_df``: silver customer records (record_key; birth date and first-name columns for cannot-link).
    - ``det_edges``: record_key_l, record_key_r, rule (from :func:`deterministic_edges`).
    - ``prob_edges``: record_key_l, record_key_r, match_probability (Splink's predictions), or None.
    - ``cores``: :func:`deterministic_cores` of the same records and edges, when the caller already has them.
    - ``apart``: record_key_l, record_key_r: pairs that must end in different clusters (step 6); a pair
      within one core, or with a record absent from ``records_df``, is ignored.

    Output: assignments (:data:`ASSIGNMENTS_SCHEMA`: record_key, cluster_id, match_rule, match_probability,
    core_id, component_id),
    one row per record of ``records_df``; splits (:data:`SPLITS_SCHEMA`). Edges to records absent from
    ``records_df`` are ignored. Runs Spark jobs (the iterations are checkpointed); the returned DataFrames
    are lazy views over checkpointed data.

    Example::

        assignments, splits = cluster_records(records, deterministic_edges(records, det_cfg), predictions, cfg)
    """
    cfg = _as_config(config)
    if prob_edges is None:
        prob_edges = records_df.sparkSession.createDataFrame(
            [], "record_key_l string, record_key_r string, match_probability double"
        )
    require_columns(prob_edges, ["record_key_l", "record_key_r", "match_probability"], "prob_edges")
    mode = cfg.checkpoint
    # 2. deterministic cores (units), first: every later step works on the numbered records
    cores = cores or deterministic_cores(records_df, det_edges, cfg)
    nodes, units = cores.nodes, cores.units
    keys = nodes.select("nid", "record_key")
    separated = _apart_units(nodes, units, apart, mode) if apart is not None else None
    prob = _probabilistic_edges(nodes, prob_edges, cfg)                                        # 1.
    if separated is not None:                                                                  # 6.
        prob = prob.join(separated.select("a", "b"), ["a", "b"], "left_anti")
    uedges = _edges_between_cores(prob, units, mode)
    parts = _clusters_of_cores(units, uedges, cfg)                                             # 3.
    flagged = _clusters_to_reform(parts, nodes, units, cfg, separated)                         # 4-6.
    components = parts.select("unit", F.col("part").alias("component"))
    parts, splits = _reform(parts, flagged, nodes, units, uedges, keys, cfg, separated)
    cluster = _final_clusters(units, parts, components, keys, mode)
    return _assignments(cluster, cores.edges, prob, cfg), splits


# --------------------------------------------------------------------------------------------------
# The steps of cluster_records
# --------------------------------------------------------------------------------------------------


def _probabilistic_edges(nodes: DataFrame, prob_edges: DataFrame, cfg: ClusteringConfig) -> DataFrame:
    """Step 1: a, b (nids, a < b), p: the strongest edge per pair at or above the threshold that may link.

    The cannot-link test is that of :func:`drop_cannot_link_edges`, on the numbered nodes.
    """
    prob = _numbered(
        nodes, prob_edges.filter(F.col("match_probability") >= F.lit(cfg.threshold)), F.col("match_probability").alias("p")
    )
    if cfg.cannot_link:
        na = nodes.select(F.col("nid").alias("a"), F.col("bd").alias("bd_a"), F.col("fn").alias("fn_a"))
        nb = nodes.select(F.col("nid").alias("b"), F.col("bd").alias("bd_b"), F.col("fn").alias("fn_b"))
        prob = prob.join(na, "a").join(nb, "b").filter(
            ~_cannot_link(F.col("bd_a"), F.col("bd_b"), F.col("fn_a"), F.col("fn_b"), cfg)
        )
    return prob.groupBy("a", "b").agg(F.max("p").alias("p"))


def _apart_units(nodes: DataFrame, units: DataFrame, apart: DataFrame, mode: str) -> DataFrame:
    """Step 6: a, b (nids, a < b) of the ``apart`` pairs, with ua, ub: their cores, when these differ
    (materialised: a steward's decisions are few)."""
    require_columns(apart, ["record_key_l", "record_key_r"], "apart")
    numbered = _numbered(nodes, apart.select("record_key_l", "record_key_r"))
    ua = units.select(F.col("nid").alias("a"), F.col("unit").alias("ua"))
    ub = units.select(F.col("nid").alias("b"), F.col("unit").alias("ub"))
    return _materialize(
        numbered.join(ua, "a").join(ub, "b").filter(F.col("ua") != F.col("ub")).select("a", "b", "ua", "ub").distinct(),
        mode,
        "steward cannot-links",
    )


def _edges_between_cores(prob: DataFrame, units: DataFrame, mode: str) -> DataFrame:
    """ua < ub (units), p: the strongest probabilistic edge per pair of cores (materialised)."""
    ua = units.select(F.col("nid").alias("a"), F.col("unit").alias("ua"))
    ub = units.select(F.col("nid").alias("b"), F.col("unit").alias("ub"))
    return _materialize(
        prob.join(ua, "a")
        .join(ub, "b")
        .select(F.least("ua", "ub").alias("ua"), F.greatest("ua", "ub").alias("ub"), "p")
        .filter(F.col("ua") != F.col("ub"))
        .groupBy("ua", "ub")
        .agg(F.max("p").alias("p")),
        mode,
        "links between cores",
    )


def _clusters_of_cores(units: DataFrame, uedges: DataFrame, cfg: ClusteringConfig) -> DataFrame:
    """Step 3: unit, part (the cluster's smallest unit), size (the unit's records), materialised."""
    unit_sizes = units.groupBy("unit").agg(F.count("*").alias("size"))
    parts = _labels(
        unit_sizes.select(F.col("unit").alias("node")),
        uedges.select(F.col("ua").alias("src"), F.col("ub").alias("dst")),
        "node", "part", cfg, "clusters",
    ).withColumnRenamed("node", "unit").join(unit_sizes, "unit")
    return _materialize(parts, cfg.checkpoint, "clusters")


def _clusters_to_reform(
    parts: DataFrame, nodes: DataFrame, units: DataFrame, cfg: ClusteringConfig, separated: DataFrame | None = None
) -> DataFrame:
    """part: the clusters steps 4-6 must re-form (oversized, holding two records that cannot link, or the two
    records of a steward's *different*), materialised.

    Every other cluster is kept as it is.
    """
    stats = parts.groupBy("part").agg(
        (F.sum("size") - F.max("size") + 1).alias("guarded"),
        F.count("*").alias("units"),
        F.max(F.struct("size", "unit"))["unit"].alias("core"),
    )
    flagged = stats.filter(F.col("guarded") > cfg.max_cluster_size).select("part")
    if cfg.cannot_link:
        flagged = flagged.unionByName(_clusters_with_conflicts(parts, stats, nodes, units, cfg))
    if separated is not None:
        pa_ = parts.select(F.col("unit").alias("ua"), F.col("part"))
        pb_ = parts.select(F.col("unit").alias("ub"), F.col("part").alias("part_b"))
        held = separated.join(pa_, "ua").join(pb_, "ub").filter(F.col("part") == F.col("part_b")).select("part")
        flagged = flagged.unionByName(held)
    return _materialize(flagged.distinct(), cfg.checkpoint, "merge protection: clusters to re-form")


def _clusters_with_conflicts(
    parts: DataFrame, stats: DataFrame, nodes: DataFrame, units: DataFrame, cfg: ClusteringConfig
) -> DataFrame:
    """part (with repeats): the small enough clusters of several cores that hold two records that cannot link.

    Pairs records of different cores of a part, the left one outside the part's largest core: a part of a
    big core and a few records costs (records outside the core) x (records), not records^2.
    """
    member = (
        nodes.join(units, "nid")
        .join(parts.select("unit", "part"), "unit")
        .join(stats.filter((F.col("units") > 1) & (F.col("guarded") <= cfg.max_cluster_size)), "part")
        .filter(F.col("bd").isNotNull() & F.col("fn").isNotNull())
        .select("nid", "unit", "part", "bd", "fn", "core")
    )
    x, y = member.filter(F.col("unit") != F.col("core")).alias("x"), member.alias("y")
    return (
        x.join(y, (F.col("x.part") == F.col("y.part")) & (F.col("x.unit") != F.col("y.unit")))
        .filter(_cannot_link(F.col("x.bd"), F.col("y.bd"), F.col("x.fn"), F.col("y.fn"), cfg))
        .select(F.col("x.part").alias("part"))
    )


def _reform(
    parts: DataFrame,
    flagged: DataFrame,
    nodes: DataFrame,
    units: DataFrame,
    uedges: DataFrame,
    keys: DataFrame,
    cfg: ClusteringConfig,
    separated: DataFrame | None = None,
) -> tuple[DataFrame, DataFrame]:
    """Steps 4-6 on the ``flagged`` clusters, one grouped pandas call each: ``(parts, splits)``.

    ``parts`` (unit, part) has the flagged clusters replaced by their re-formed parts; ``splits`` follows
    :data:`SPLITS_SCHEMA`. With nothing flagged, ``parts`` is returned as it came.
    """
    splits = nodes.sparkSession.createDataFrame([], SPLITS_SCHEMA)
    if flagged.isEmpty():
        return parts, splits
    todo = parts.join(flagged, "part", "left_semi")
    records = nodes.join(units, "nid").join(todo.select("unit", "part"), "unit").select("part", "unit", "bd", "fn")
    if separated is None:
        records = records.withColumn("apart", F.lit(None).cast("array<long>"))
    else:
        # each unit with the units a steward's decision keeps it apart from (on one of its rows: enough)
        others = separated.select(F.col("ua").alias("unit"), F.col("ub").alias("other")).unionByName(
            separated.select(F.col("ub").alias("unit"), F.col("ua").alias("other"))
        ).groupBy("unit").agg(F.collect_set("other").alias("apart"))
        records = records.join(others, "unit", "left")
    redges = (
        uedges.join(todo.select(F.col("unit").alias("ua"), F.col("part").alias("pa")), "ua")
        .join(todo.select(F.col("unit").alias("ub"), F.col("part").alias("pb")), "ub")
        .filter(F.col("pa") == F.col("pb"))
        .select(F.col("pa").alias("part"), "ua", "ub", "p")
    )
    out = _materialize(
        records.groupBy("part")
        .cogroup(redges.groupBy("part"))
        .applyInPandas(functools.partial(_reform_cluster, cfg), _REFORM_SCHEMA),
        cfg.checkpoint,
        "merge protection: re-form",
    )
    reformed = out.filter(F.col("unit").isNotNull()).select("unit", F.col("new_part").alias("part"))
    parts = parts.select("unit", "part").join(flagged, "part", "left_anti").unionByName(reformed)
    events = out.filter(F.col("unit").isNull())
    splits = events.join(keys, events["event_part"] == keys["nid"]).select(
        F.col("record_key").alias("component_id"), "size_before", "sizes_after", "threshold", "reason"
    )
    return parts, splits


def _final_clusters(units: DataFrame, parts: DataFrame, components: DataFrame, keys: DataFrame, mode: str) -> DataFrame:
    """nid, part, record_key, n (the cluster's records), cluster_id, core_id, component_id of every record,
    materialised.

    Nodes are numbered in record_key order, so the smallest record_key of a part (of a unit) is its id:
    windows over one shuffle by component (parts and units lie within components) instead of joins back to
    the keys.
    """
    by_component = Window.partitionBy("component")
    by_part, by_unit = Window.partitionBy("component", "part"), Window.partitionBy("component", "part", "unit")
    return _materialize(
        units.join(parts.select("unit", "part"), "unit").join(components, "unit").join(keys, "nid").select(
            "nid",
            "part",
            "record_key",
            F.count(F.lit(1)).over(by_part).alias("n"),
            F.min("record_key").over(by_part).alias("cluster_id"),
            F.min("record_key").over(by_unit).alias("core_id"),
            F.min("record_key").over(by_component).alias("component_id"),
        ),
        mode,
        "final clusters",
    )


def _assignments(cluster: DataFrame, det: DataFrame, prob: DataFrame, cfg: ClusteringConfig) -> DataFrame:
    """:data:`ASSIGNMENTS_SCHEMA` rows: how each record of ``cluster`` (:func:`_final_clusters`) is attached.

    A record alone is a singleton; one with a deterministic edge gets its best rule (``rule_priority``) and
    probability 1 (``steward`` or ``stream_login`` when such a must-link is its only one); any other gets its strongest
    probabilistic edge within its cluster.
    """
    out = cluster.join(_best_rule(det, cfg), "nid", "left").join(_best_probability(prob, cluster), "nid", "left")
    match_rule = (
        F.when(F.col("n") == 1, F.lit("singleton"))
        .when(F.col("rule").isin(STEWARD_RULE, LOGIN_RULE), F.col("rule"))
        .when(F.col("rule").isNotNull(), F.concat(F.lit("deterministic:"), F.col("rule")))
        .otherwise(F.lit("probabilistic"))
    )
    probability = (
        F.when(F.col("n") == 1, F.lit(None).cast("double"))
        .when(F.col("rule").isNotNull(), F.lit(1.0))
        .otherwise(F.col("p"))
    )
    return out.select(
        "record_key", "cluster_id", match_rule.alias("match_rule"), probability.cast("double").alias("match_probability"),
        "core_id", "component_id",
    )


def _best_rule(det: DataFrame, cfg: ClusteringConfig) -> DataFrame:
    """nid, rule: the first rule of ``rule_priority`` among a record's deterministic edges (others after)."""
    priority = {rule: i for i, rule in enumerate(cfg.rule_priority)}
    rank = F.lit(len(priority))
    for rule, i in priority.items():
        rank = F.when(F.col("rule") == rule, F.lit(i)).otherwise(rank)
    det_ends = det.select(F.col("a").alias("nid"), "rule").unionByName(det.select(F.col("b").alias("nid"), "rule"))
    return det_ends.groupBy("nid").agg(F.min(F.struct(rank.alias("rank"), F.col("rule")))["rule"].alias("rule"))


def _best_probability(prob: DataFrame, cluster: DataFrame) -> DataFrame:
    """nid, p: a record's strongest probabilistic edge to its own cluster."""
    ca = cluster.select(F.col("nid").alias("a"), F.col("part").alias("pa"))
    cb = cluster.select(F.col("nid").alias("b"), F.col("part").alias("pb"))
    inside = prob.join(ca, "a").join(cb, "b").filter(F.col("pa") == F.col("pb"))
    return (
        inside.select(F.col("a").alias("nid"), "p")
        .unionByName(inside.select(F.col("b").alias("nid"), "p"))
        .groupBy("nid")
        .agg(F.max("p").alias("p"))
    )


# --------------------------------------------------------------------------------------------------
# The clustering step of a match run
# --------------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Clusters:
    """What the clustering step hands to the id assignment (both materialised)."""

    #: :data:`ASSIGNMENTS_SCHEMA`; an anonymous record alone in its cluster has match_rule ``anonymous``
    assignments: DataFrame
    #: :data:`SPLITS_SCHEMA`: the clusters merge protection re-formed
    splits: DataFrame


def cluster_customers(
    records: DataFrame, links: DeterministicLinks, pairs: DataFrame | None, config: ClusteringConfig,
    steward: StewardLinks | None = None,
) -> Clusters:
    """Cluster ``records`` from their deterministic links and scored pairs (:func:`cluster_records`), and
    label the anonymous records left alone (:func:`label_anonymous`).

    ``links``: :class:`~spark_lib.matching.links.DeterministicLinks` of the same records (its cores are
    reused unless a steward's decisions changed the edges). ``steward``: the data steward's decisions
    (:func:`~spark_lib.matching.overrides.steward_links`); the cores they split are among the splits.
    """
    if steward is None or steward.apart is None and not steward.has_must_links:
        assignments, splits = cluster_records(records, links.edges, pairs, config, cores=links.cores)
    else:
        assignments, splits = cluster_records(records, steward.edges, pairs, config, apart=steward.apart)
        splits = steward.splits.unionByName(splits)
    return Clusters(label_anonymous(assignments, links.anonymous).localCheckpoint(), splits.localCheckpoint())


def label_anonymous(assignments: DataFrame, anonymous: DataFrame) -> DataFrame:
    """``match_rule = 'anonymous'`` for the singletons among ``anonymous`` (record_key): records with nothing
    to match on. An anonymous record that a pivot did link keeps the rule that linked it."""
    require_columns(anonymous, ["record_key"], "anonymous")
    flagged = anonymous.select("record_key", F.lit(True).alias("anonymous"))
    return (
        assignments.join(flagged, "record_key", "left")
        .withColumn("match_rule", F.when(F.col("anonymous").isNotNull() & (F.col("match_rule") == "singleton"),
                                         F.lit("anonymous")).otherwise(F.col("match_rule")))
        .drop("anonymous")
    )


def largest_guarded_cluster(assignments: DataFrame) -> int:
    """The largest guarded size among the clusters of ``assignments`` (cluster_id, core_id): a cluster's
    records beyond its largest deterministic core, the core counting as one, which merge protection bounds
    by ``max_cluster_size``."""
    require_columns(assignments, ["cluster_id", "core_id"], "assignments")
    core_sizes = assignments.groupBy("cluster_id", "core_id").count()
    guarded = core_sizes.groupBy("cluster_id").agg((F.sum("count") - F.max("count") + 1).alias("guarded"))
    return int(guarded.agg(F.max("guarded")).first()[0] or 0)
