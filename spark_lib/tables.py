"""The table catalogue: every table of the lakehouse with its name, schema and keys, in one place.

Jobs, the benchmark, notebooks and tests name tables through this module, never with string literals, so a
renamed table or a new key is one edit. A :class:`Table` *is* its name (a ``str``), so it goes wherever a
table name goes (``lake.read(tables.CROSSWALK)``, a dict key, an f-string) and carries its schema and keys.

Schemas live in :mod:`spark_lib.schemas`; a table whose columns follow its source (bronze) or a builder's
output (most gold tables) has ``schema=None`` and says which function shapes it.

Example::

    from spark_lib import tables

    lake.merge(crosswalk, tables.CROSSWALK, keys=tables.CROSSWALK.keys)
    tables.bronze("loyalty_members")          # 'bronze.loyalty_members'
    tables.interactions("orders").keys        # ('interaction_key',)
"""

from __future__ import annotations

from pyspark.sql.types import StructType

from spark_lib import schemas
from spark_lib.config import INTERACTION_TABLES

LAYERS = ("bronze", "silver", "gold", "ops")


class Table(str):
    """A lakehouse table: the string is its ``<layer>.<entity>`` name; ``schema``, ``keys`` and
    ``description`` say what it holds. ``keys`` is empty for an append-only log. ``change_feed``: the table
    keeps Delta's Change Data Feed on, so a later step reads what changed since the version it last read
    (:meth:`spark_lib.storage.Lakehouse.changes`) instead of the whole table."""

    schema: StructType | None
    keys: tuple[str, ...]
    description: str
    change_feed: bool

    def __new__(cls, name: str, *, keys: tuple[str, ...] = (), schema: StructType | None = None, description: str = "",
                change_feed: bool = False):
        layer, _, entity = name.partition(".")
        if layer not in LAYERS or not entity:
            raise ValueError(f"table name {name!r} is not '<{'|'.join(LAYERS)}>.<entity>'")
        table = super().__new__(cls, name)
        table.schema, table.keys, table.description, table.change_feed = schema, tuple(keys), description, change_feed
        return table

    @property
    def layer(self) -> str:
        return self.split(".", 1)[0]

    @property
    def entity(self) -> str:
        return self.split(".", 1)[1]


# bronze ------------------------------------------------------------------------------------------

QUARANTINE = Table(
    "bronze.quarantine",
    description="rows that could not be used, with their reason and raw text (spark_lib.sources.bronze.QUARANTINE_COLUMNS)",
)
FILE_QUARANTINE = Table(
    "bronze.file_quarantine", keys=("source", "file_path", "file_hash"), schema=schemas.FILE_QUARANTINE,
    description="files that could not be landed (empty, wrong separator or encoding, missing or retyped column, "
                "truncated, unreadable), with the reason and what to do",
)
INGESTION_LOG = Table(
    "bronze.ingestion_log", schema=schemas.INGESTION_LOG,
    description="one row per file taken (landed or quarantined as a file): rows read = rows in bronze + rows in quarantine",
)


DELETIONS = Table(
    "bronze.deletions", keys=("_file_hash", "source", "record_id"),
    description="the records each source's deletion lists name (sources.yaml: deletions), as delivered",
)


def bronze(source: str) -> Table:
    """``bronze.<source>``: a source's rows as delivered, with ``_source``, ``_source_file``, ``_file_hash``,
    ``_batch_id`` and ``_ingested_at``."""
    return Table(f"bronze.{source}", keys=("_file_hash",), description=f"rows of source {source} as delivered")


# silver ------------------------------------------------------------------------------------------

CUSTOMER_RECORDS = Table(
    "silver.customer_records", keys=("record_key",), schema=schemas.CUSTOMER_RECORDS,
    description="one standardised row per identity record of every source", change_feed=True,
)
GENERIC_VALUES = Table(
    "silver.generic_values", keys=("pivot", "value"), schema=schemas.GENERIC_VALUES,
    description="pivot values too common to link anyone (a store's phone, a placeholder email), with the reason",
)
DETERMINISTIC_EDGES = Table(
    "silver.deterministic_edges", keys=("record_key_l", "record_key_r", "rule"), schema=schemas.DETERMINISTIC_EDGES,
    description="links between records sharing a pivot value",
)
MATCH_PAIRS = Table(
    "silver.match_pairs", keys=("record_key_l", "record_key_r"),
    description="pairs scored by the probabilistic model above its threshold (spark_lib.matching.probabilistic.predict_pairs)",
)

DELETED_RECORDS = Table(
    "silver.deleted_records", keys=("record_key", "file"),
    description="the records standardisation removed from silver because their source deleted them: named by a "
                "deletion list, or missing from a snapshot source's latest delivery",
)
MATCHED_RECORDS = Table(
    "silver.matched_records", keys=("record_key",),
    description="each record as the last match run saw it (a hash of its matching columns) and where it put it "
                "(core, component, cluster): what the next run compares the records with to match only the changes",
)
TERM_FREQUENCIES = Table(
    "silver.term_frequencies", keys=("model_key", "column", "value"),
    description="the term frequencies frozen with each model (spark_lib.matching.probabilistic.term_frequencies)",
)
MATCH_RUNS = Table(
    "silver.match_runs", keys=("run_time",),
    description="one row per match run that ended: full or incremental, what it changed, and the versions of the "
                "tables it left, which the next incremental run reads back",
)


def interactions(name: str) -> Table:
    """``silver.<name>``: one of the interaction tables (orders, receipts, navigation events...)."""
    if name not in INTERACTION_TABLES:
        raise ValueError(f"{name!r} is not an interaction table (known: {', '.join(INTERACTION_TABLES)})")
    return Table(f"silver.{name}", keys=("interaction_key",), schema=schemas.INTERACTIONS,
                 description=f"standardised {name.replace('_', ' ')}", change_feed=True)


# the stream (rcu stream, spark_lib/streaming/stream.py) ------------------------------------------

STREAM_EVENTS = Table(
    "bronze.stream_events", keys=("topic", "partition", "offset"),
    description="every message the stream read (Kafka topic, partition, offset, or a landing file and line), "
                "as delivered",
)
STREAM_IDENTITY_LINKS = Table(
    "silver.stream_identity_links", keys=("record_key", "account_record_key"),
    description="records the stream saw tied to an account (a cookie that logged in, an order placed on an "
                "account), the account's customer then, and when",
)
LATE_EVENTS = Table(
    "silver.late_events", keys=("topic", "partition", "offset"),
    description="events that came later than the stream's watermark, with how late (seconds of event time)",
)
STREAM_BATCHES = Table(
    "ops.stream_batches", keys=("batch_id",),
    description="one row per micro-batch of the stream: counts, the watermark after it, when and how long",
)
TRIGGER_EVENTS = Table(
    "gold.trigger_events", keys=("trigger_key",),
    description="each real-time trigger fired (conf/triggers.yaml): customer, channel, reason, event time",
)

# gold: matching ----------------------------------------------------------------------------------

CROSSWALK = Table(
    "gold.customer_crosswalk", keys=("record_key",), schema=schemas.CROSSWALK,
    description="each source record's customer and how it was matched", change_feed=True,
)
ID_REGISTRY = Table(
    "gold.customer_id_registry", keys=("record_key",), schema=schemas.ID_REGISTRY,
    description="the persistent customer id of each record",
)
ID_EVENTS = Table(
    "gold.customer_id_events", schema=schemas.ID_EVENTS,
    # a log, keyed for idempotent appends (a re-run of a killed run logs its events once) and erasure
    keys=("event_time", "event_type", "customer_id"),
    description="log of new customers, merges and splits",
)
CLUSTER_SPLITS = Table(
    "gold.cluster_splits", schema=schemas.CLUSTER_SPLITS,
    # a split is logged once, at the run that first made it: a re-run on the same records adds no row
    keys=("component_id", "size_before", "sizes_after", "threshold", "reason"),
    description="log of the clusters merge protection re-formed (plus the run_time that first made each)",
)

# gold: customers and marketing -------------------------------------------------------------------

CUSTOMER = Table(
    "gold.customer", keys=("customer_id",), change_feed=True,
    description="one golden record per customer (spark_lib.gold.customer.golden_records)",
)
PROVENANCE = Table(
    "gold.customer_provenance", keys=("customer_id", "attribute"),
    description="for each golden value, the source record and the rule that won",
)
CUSTOMER_360 = Table(
    "gold.customer_360", keys=("customer_id",),
    description="revenue, orders, channels, engagement and RFM per customer (spark_lib.gold.customer360)",
)
SEGMENTS = Table(
    "gold.customer_segments", keys=("run_date", "customer_id"),
    description="RFM segment and temperature per customer and run date",
)
AUDIENCE_MEMBERS = Table(
    "gold.audience_members", keys=("run_date", "audience", "customer_id"),
    description="who to contact, on which channel and why (conf/audiences.yaml)",
)
KPI_SNAPSHOTS = Table(
    "gold.kpi_snapshots", keys=("run_date", "kpi", "dimension"), schema=schemas.KPI_SNAPSHOTS,
    description="KPIs per run date",
)

# ops: the privacy log (hashes only, never a person's values) --------------------------------------

PRIVACY_REQUESTS = Table(
    "ops.privacy_requests", keys=("request_id",),
    description="each access, erasure and objection request: when, what it named (hashed), what was done",
)
SUPPRESSION_LIST = Table(
    "ops.suppression_list", keys=("hash", "kind"),
    description="hashes of the erased people's customer ids, record keys and identifiers: a row that carries one "
                "is quarantined as erased at ingest, never landed",
)
OBJECTIONS = Table(
    "ops.objections", keys=("request_id", "hash"),
    description="people who objected to marketing (hashes of their customer ids, record keys and identifiers): "
                "kept out of every audience until withdrawn",
)

# the data steward's loop (rcu review) -------------------------------------------------------------

REVIEW_QUEUE = Table(
    "gold.review_queue", keys=("pair_id",), schema=schemas.REVIEW_QUEUE,
    description="the pairs worth a person's look after the last match run (between the review thresholds, split by "
                "merge protection, in a long chain, on a value newly generic, a decision whose records changed), "
                "both records side by side, with a priority",
)
REVIEW_DECISIONS = Table(
    "ops.review_decisions", keys=("decision_id",), schema=schemas.REVIEW_DECISIONS,
    description="each steward decision on a pair (same, different, unsure), who, when, why, and the records' hashes "
                "then; the latest per pair holds; the next match run applies them as must- and cannot-links",
)
REVIEW_SAMPLE = Table(
    "gold.review_sample", keys=("sample_id", "pair_id"), schema=schemas.REVIEW_SAMPLE,
    description="stratified samples of the linked pairs, drawn by score band, whose reviews estimate precision "
                "without ground truth",
)

#: The privacy log's tables (hashes only)
PRIVACY_TABLES: tuple[Table, ...] = (PRIVACY_REQUESTS, SUPPRESSION_LIST, OBJECTIONS)

#: The tables matching writes, in the order it writes them.
MATCHING_TABLES: tuple[Table, ...] = (
    GENERIC_VALUES, DETERMINISTIC_EDGES, TERM_FREQUENCIES, MATCH_PAIRS, CLUSTER_SPLITS, ID_REGISTRY, ID_EVENTS,
    CROSSWALK, MATCHED_RECORDS, MATCH_RUNS,
)
#: Every table of fixed name (bronze.<source> and the interaction tables are named by functions).
CATALOGUE: tuple[Table, ...] = (
    QUARANTINE, FILE_QUARANTINE, INGESTION_LOG, DELETIONS, CUSTOMER_RECORDS, DELETED_RECORDS, *MATCHING_TABLES, CUSTOMER, PROVENANCE, CUSTOMER_360, SEGMENTS, AUDIENCE_MEMBERS, KPI_SNAPSHOTS,
)
#: The tables the stream writes besides the silver interaction tables and the quarantine (not the batch's inputs
#: or outputs: a lakehouse without a stream has none of them)
STREAM_TABLES: tuple[Table, ...] = (STREAM_EVENTS, STREAM_IDENTITY_LINKS, LATE_EVENTS, STREAM_BATCHES, TRIGGER_EVENTS)
#: The steward's tables (rcu review): the queue the match run fills, the decisions, the precision samples
REVIEW_TABLES: tuple[Table, ...] = (REVIEW_QUEUE, REVIEW_DECISIONS, REVIEW_SAMPLE)


def named(name: str) -> Table:
    """The catalogue's table of that name, with its keys (``bronze.<source>`` and the interaction tables
    included); a table the catalogue does not know comes back with no keys."""
    known = {str(t): t for t in (*CATALOGUE, *PRIVACY_TABLES, *STREAM_TABLES, *REVIEW_TABLES)}
    if name in known:
        return known[name]
    layer, _, entity = name.partition(".")
    if layer == "bronze":
        return bronze(entity)
    if layer == "silver" and entity in INTERACTION_TABLES:
        return interactions(entity)
    return Table(name)
