"""A data steward's decisions acting on matching: *same* is a must-link, *different* a cannot-link.

``ops.review_decisions`` (:data:`spark_lib.schemas.REVIEW_DECISIONS`) logs every decision on a pair of
records; the latest per ``pair_id`` (by ``decided_at``, then ``decision_id``) holds (:func:`current_decisions`).
A decision is *applied* by the next match run, full or incremental, only while both records are as they
were when it was taken: their :func:`~spark_lib.matching.incremental.record_hash` equals the hash stored with
it. Otherwise it is *stale*: not applied, and raised again in ``gold.review_queue`` (reason
``decision_stale``). A decision naming a record silver no longer holds is neither.

- ``same``: a deterministic edge of rule ``steward`` (:data:`~spark_lib.matching.clustering.STEWARD_RULE`):
  its two records join one core, and the crosswalk's ``match_rule`` of a record it alone attaches says
  ``steward``. Customer ids follow the usual rules (:mod:`spark_lib.matching.ids`: the older id survives).
- ``different``: the two records never end in one customer, whatever chain joins them:

  * **within one deterministic core** (a shared pivot value): the core is re-formed from its edges,
    strongest first: the steward's must-links, the stream's login links, then the pivots in
    ``clustering.rule_priority`` order, then any other rule (ties by record keys), Kruskal-style, skipping
    every edge that would join two records a *different* keeps apart. The edges skipped are dropped for this run; the trees left are the new cores
    (:func:`steward_links`), and the split is logged in ``gold.cluster_splits`` with reason
    ``steward_cannot_link`` (``component_id``: the core's smallest record_key). A record whose link to the
    core ran through one of the two goes with it: the shared value's star (every holder linked to its
    smallest record_key) is what the core keeps;
  * **across cores**: their direct probabilistic edge is dropped, and a cluster that still holds both
    (a chain A-B-C) is re-formed as merge protection re-forms a cluster (strongest edges first, skipping any
    merge that would join them; :func:`~spark_lib.matching.clustering.cluster_records`, step 6).
- ``unsure``: nothing; the pair stays in the queue at a lower priority.

The stream's logins join the steward's *same* (:func:`login_links`): a record ``rcu stream`` saw tied to an
account (``silver.stream_identity_links``: a cookie that logged in, an order placed on the account), and to
that account only, is a must-link of rule ``stream_login`` (:data:`~spark_lib.matching.clustering.LOGIN_RULE`) to the account's record,
once silver holds both records; so the batch keeps together what the stream resolved, even when no raw file
ever carried the login. A steward's *different* still wins over it (must-links are kept first, the steward's
before the stream's, but never one that would join a *different* pair).

An incremental run re-forms the components of the records of every decision taken, and of every login link
the stream stored, since the last run (and only those besides the day's changes); each run's report counts the
decisions applied and stale, and the login links applied.

Example::

    decisions = current_decisions(lake.read_or_none(tables.REVIEW_DECISIONS), records)
    links = steward_links(records, deterministic_edges, decisions, rules.clustering)
    assignments, splits = cluster_records(records, links.edges, pairs, rules.clustering, apart=links.apart)
"""

from __future__ import annotations

from dataclasses import dataclass

import pandas as pd
from pyspark.sql import DataFrame, Window
from pyspark.sql import functions as F

from spark_lib.columns import require_columns
from spark_lib.matching.clustering import (
    SPLITS_SCHEMA,
    LOGIN_RULE,
    STEWARD_RULE,
    ClusteringConfig,
    _Forest,
    _materialize,
    _numbered,
    deterministic_cores,
)
from spark_lib.matching.incremental import record_hash

DECISIONS = ("same", "different", "unsure")


@dataclass(frozen=True)
class Decisions:
    """The decisions in force for a run (see the module docstring)."""

    #: the latest decision per pair whose records silver holds: pair_id, record_key_l, record_key_r,
    #: decision, decided_at, reviewer, stale (a record changed since), materialised
    current: DataFrame
    #: decisions applied (same or different, not stale)
    applied: int = 0
    #: decisions not applied because a record changed since
    stale: int = 0

    def links(self, decision: str) -> DataFrame:
        """record_key_l, record_key_r of the applied decisions ``decision`` (same | different)."""
        return self.current.where((F.col("decision") == decision) & ~F.col("stale")).select("record_key_l", "record_key_r")

    def decided_since(self, moment) -> DataFrame:
        """record_key of the records of the decisions in force taken after ``moment`` (a timestamp)."""
        return _pair_records(self.current.where(F.col("decided_at") > F.lit(moment).cast("timestamp")))


def no_decisions(spark) -> Decisions:
    return Decisions(spark.createDataFrame([], CURRENT_DDL))


CURRENT_DDL = ("pair_id string, record_key_l string, record_key_r string, decision string, decided_at timestamp, "
               "reviewer string, stale boolean")


def latest_decisions(decisions: DataFrame) -> DataFrame:
    """Each pair's decision in force (``decisions``: ``ops.review_decisions``, every column kept): the latest
    per ``pair_id``, later ``decided_at`` first, then the larger ``decision_id``.

    Example::

        latest_decisions(lake.read(tables.REVIEW_DECISIONS)).where("decision = 'same'")
    """
    require_columns(decisions, ["pair_id", "decision", "decided_at", "decision_id"], "decisions")
    order = Window.partitionBy("pair_id").orderBy(F.desc("decided_at"), F.desc("decision_id"))
    return decisions.withColumn("_n", F.row_number().over(order)).where(F.col("_n") == 1).drop("_n")


def current_decisions(decisions: DataFrame | None, records: DataFrame) -> Decisions:
    """The latest decision per pair (``decisions``: ``ops.review_decisions``, or None when there is none yet),
    those whose records are in ``records`` (silver), each marked ``stale`` when a record's hash differs from
    the one stored with it; counted in one Spark job.

    Example::

        decisions = current_decisions(lake.read_or_none(tables.REVIEW_DECISIONS), records)
        decisions.applied, decisions.stale
    """
    if decisions is None:
        return no_decisions(records.sparkSession)
    require_columns(decisions, ["decision_id", "pair_id", "record_key_l", "record_key_r", "decision", "decided_at",
                                "record_hash_l", "record_hash_r"], "decisions")
    last = latest_decisions(decisions)
    hashes = records.select("record_key", record_hash(records).alias("h"))
    current = (
        last.join(hashes.select(F.col("record_key").alias("record_key_l"), F.col("h").alias("now_l")), "record_key_l")
        .join(hashes.select(F.col("record_key").alias("record_key_r"), F.col("h").alias("now_r")), "record_key_r")
        .select("pair_id", "record_key_l", "record_key_r", "decision", "decided_at", "reviewer",
                ((F.col("now_l") != F.col("record_hash_l")) | (F.col("now_r") != F.col("record_hash_r"))).alias("stale"))
        .localCheckpoint()
    )
    counts = {(r.decision, r.stale): r["count"] for r in current.groupBy("decision", "stale").count().collect()}
    applied = sum(n for (decision, stale), n in counts.items() if not stale and decision in ("same", "different"))
    stale = sum(n for (_, is_stale), n in counts.items() if is_stale)
    return Decisions(current, applied, stale)


def login_links(links: DataFrame | None, records: DataFrame) -> DataFrame | None:
    """record_key_l, record_key_r, linked_at: the stream's ties of a record to an account (``links``:
    ``silver.stream_identity_links``, or None before the stream ever ran) whose two records ``records``
    (silver) holds, each pair once (keys in order) at the first time the stream stored it. None when there
    is no such table. A record tied to more than one account (a shared computer, a family's tablet) gives
    none: it says who used the device, not that its accounts are one person.

    Example::

        logins = login_links(lake.read_or_none(tables.STREAM_IDENTITY_LINKS), records)
    """
    if links is None:
        return None
    require_columns(links, ["record_key", "account_record_key", "ingested_at"], "links")
    present = records.select("record_key")
    single = (links.groupBy("record_key").agg(F.countDistinct("account_record_key").alias("_accounts"))
              .where("_accounts = 1").select("record_key"))
    ends = links.where(F.col("record_key") != F.col("account_record_key")).join(single, "record_key", "left_semi").select(
        F.least("record_key", "account_record_key").alias("record_key_l"),
        F.greatest("record_key", "account_record_key").alias("record_key_r"), "ingested_at")
    return (ends.join(present.withColumnRenamed("record_key", "record_key_l"), "record_key_l", "left_semi")
            .join(present.withColumnRenamed("record_key", "record_key_r"), "record_key_r", "left_semi")
            .groupBy("record_key_l", "record_key_r").agg(F.min("ingested_at").alias("linked_at")))


def linked_since(links: DataFrame, moment) -> DataFrame:
    """record_key of both ends of the ties ``links`` (``silver.stream_identity_links``) the stream stored after
    ``moment``: a new login link, or a record's second account, which takes its must-link away (:func:`login_links`)."""
    recent = links.where(F.col("ingested_at") > F.lit(moment).cast("timestamp"))
    return _pair_records(recent.select(F.col("record_key").alias("record_key_l"),
                                       F.col("account_record_key").alias("record_key_r")))


def _pair_records(pairs: DataFrame) -> DataFrame:
    """record_key of either end of ``pairs`` (record_key_l, record_key_r), each once."""
    return pairs.select(F.col("record_key_l").alias("record_key")).unionByName(
        pairs.select(F.col("record_key_r").alias("record_key"))).distinct()


@dataclass(frozen=True)
class StewardLinks:
    """What the applied decisions make of the deterministic edges (see the module docstring)."""

    #: record_key_l, record_key_r, rule: the deterministic edges plus the must-links (rule ``steward``),
    #: without the edges a *different* refused within a core
    edges: DataFrame
    #: record_key_l, record_key_r: the *different* pairs (cluster_records' ``apart``), or None
    apart: DataFrame | None
    #: the cores split (:data:`~spark_lib.matching.clustering.SPLITS_SCHEMA`, reason steward_cannot_link)
    splits: DataFrame
    #: whether ``edges`` holds must-links (else, with no ``apart``, they are the deterministic edges as given)
    has_must_links: bool = False


def steward_links(records: DataFrame, det_edges: DataFrame, decisions: Decisions,
                  config: ClusteringConfig, logins: DataFrame | None = None) -> StewardLinks:
    """The edges clustering starts from once ``decisions`` apply to ``det_edges`` (record_key_l,
    record_key_r, rule) over ``records``: must-links added (the steward's *same*, and ``logins``, the stream's
    login links of :func:`login_links`, None for none), and each core holding both records of a *different*
    re-formed without the edges that joined them (module docstring). Without applied decisions and login
    links, the edges come back as they are and no Spark job runs.

    Example::

        links = steward_links(records, lake.read(tables.DETERMINISTIC_EDGES), decisions, rules.clustering)
    """
    spark = records.sparkSession
    edges = det_edges.select("record_key_l", "record_key_r", "rule")
    empty = spark.createDataFrame([], SPLITS_SCHEMA)
    if not decisions.applied and logins is None:
        return StewardLinks(edges, None, empty)
    must = decisions.links("same").select("record_key_l", "record_key_r", F.lit(STEWARD_RULE).alias("rule"))
    if logins is not None:
        must = must.unionByName(logins.select("record_key_l", "record_key_r", F.lit(LOGIN_RULE).alias("rule")))
    apart = decisions.links("different").localCheckpoint()
    edges = edges.unionByName(must)
    cores = deterministic_cores(records, edges, config)
    numbered_apart = _numbered(cores.nodes, apart)
    unit_a = cores.units.select(F.col("nid").alias("a"), F.col("unit"))
    unit_b = cores.units.select(F.col("nid").alias("b"), F.col("unit").alias("unit_b"))
    # (a checkpoint keeps its columns' ids: the cores' columns are renamed before they meet again)
    inside = (numbered_apart.join(unit_a, "a").join(unit_b, "b").where(F.col("unit") == F.col("unit_b"))
              .select(F.col("unit").alias("core"), F.col("a").alias("x"), F.col("b").alias("y")))
    inside = _materialize(inside, config.checkpoint, "steward: cores holding a different pair")
    if inside.isEmpty():
        return StewardLinks(edges, apart, empty, True)
    split = inside.select(F.col("core").alias("unit"), F.col("x").alias("a"), F.col("y").alias("b"))
    core_edges = cores.edges.join(unit_a, "a").join(inside.select(F.col("core").alias("unit")).distinct(), "unit")
    out = _materialize(
        core_edges.select("unit", "a", "b", "rule").groupBy("unit").cogroup(split.groupBy("unit"))
        .applyInPandas(_core_splitter(tuple(config.rule_priority)), _SPLIT_SCHEMA),
        config.checkpoint,
        "steward: split cores",
    )
    keys = cores.nodes.select("nid", "record_key")
    refused = out.where(F.col("a").isNotNull())
    refused = (refused.join(keys.select(F.col("nid").alias("a"), F.col("record_key").alias("record_key_l")), "a")
               .join(keys.select(F.col("nid").alias("b"), F.col("record_key").alias("record_key_r")), "b")
               .select("record_key_l", "record_key_r", "rule"))
    kept = edges.join(refused, ["record_key_l", "record_key_r", "rule"], "left_anti")
    events = out.where(F.col("a").isNull())
    splits = events.join(keys.withColumnRenamed("nid", "unit"), "unit").select(
        F.col("record_key").alias("component_id"), "size_before", "sizes_after",
        F.lit(None).cast("double").alias("threshold"), F.lit("steward_cannot_link").alias("reason"))
    return StewardLinks(kept, apart, splits, True)


def _core_splitter(priority: tuple[str, ...]):
    def split(edges, apart):   # a plain function: Spark reads no type hints from a functools.partial
        return _split_core(priority, edges, apart)
    return split


_SPLIT_SCHEMA = "unit long, a long, b long, rule string, size_before long, sizes_after array<long>"


def _split_core(priority: tuple[str, ...], edges: pd.DataFrame, apart: pd.DataFrame) -> pd.DataFrame:
    """One core's edges (unit, a, b, rule) re-formed strongest first without joining an ``apart`` pair (unit,
    a, b): a row per edge refused (a, b, rule), then a row for the split (size_before, sizes_after)."""
    unit = int(edges["unit"].iloc[0]) if len(edges) else int(apart["unit"].iloc[0])
    rank = {STEWARD_RULE: -2, LOGIN_RULE: -1, **{rule: i for i, rule in enumerate(priority)}}
    ordered = sorted(((rank.get(r, len(priority)), r, int(a), int(b)) for a, b, r in
                      zip(edges["a"], edges["b"], edges["rule"])), key=lambda e: (e[0], e[1], e[2], e[3]))
    nodes = sorted({n for _, _, a, b in ordered for n in (a, b)})
    forest = _Forest(nodes)
    kept_apart: dict[int, set[int]] = {}
    for a, b in zip(apart["a"], apart["b"]):
        kept_apart.setdefault(int(a), set()).add(int(b))
        kept_apart.setdefault(int(b), set()).add(int(a))
    rows = []
    for _, rule, a, b in ordered:
        ra, rb = forest.find(a), forest.find(b)
        if ra == rb:
            continue
        members_b = set(forest.members[rb])
        if any(not members_b.isdisjoint(kept_apart.get(n, ())) for n in forest.members[ra]):
            rows.append((unit, a, b, rule, None, None))
            continue
        forest.union(ra, rb)
    parts = forest.parts()
    if len(parts) > 1:
        rows.append((unit, None, None, None, len(nodes), sorted((len(p) for p in parts), reverse=True)))
    out = pd.DataFrame(rows, columns=["unit", "a", "b", "rule", "size_before", "sizes_after"])
    for column in ("unit", "a", "b", "size_before"):
        out[column] = out[column].astype("Int64")
    return out
