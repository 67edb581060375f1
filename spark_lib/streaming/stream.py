"""The stream: online events from Kafka (or a landing folder) to bronze, silver, identity links and triggers.

Each micro-batch of messages goes through :meth:`MicroBatch.process`, in this order:

1. every message -> ``bronze.stream_events`` (topic, partition, offset, Kafka timestamp, key, value);
2. those that cannot be used -> ``bronze.quarantine`` with their reason: ``bad_json``, ``no_event_id``,
   ``bad_event_time``, ``unknown_source`` (a source sources.yaml does not give as online events), ``no_record_id``;
3. events older than the watermark (the latest event time of the earlier micro-batches less ``watermark_minutes``)
   -> ``silver.late_events`` with how late they are, and nowhere else;
4. the others -> the silver interaction tables (``navigation_events``, ``orders``, ``campaign_events``) through
   the batch's own standardisation (:func:`spark_lib.silver.interaction_rows`, duplicates dropped as
   :func:`spark_lib.silver.interactions` does), so both give the same ``interaction_key`` and columns; an event
   already there (a duplicate) is not inserted again;
5. an event carrying an account id (a login, an order) -> ``silver.stream_identity_links``: its record (the
   cookie, the order) belongs to the account's record (``eshop_accounts:<account id>``), whose customer the
   crosswalk gives;
6. the triggers of ``conf/triggers.yaml`` (:mod:`spark_lib.streaming.rules`) on the events resolved to
   customers (the record's own customer in ``gold.customer_crosswalk``, else its account's) ->
   ``gold.trigger_events`` and the outbound topic (or folder);
7. one row per micro-batch -> ``ops.stream_batches`` (counts, the new watermark, timing): ``rcu stream --status``.

**One Spark query a micro-batch.** A micro-batch is a few thousand messages; a Spark query on so little data costs
about a second on a 2-core machine, building its plan another, and a Delta commit through Spark another. So Spark
does what only it must, in one query planned once on the streaming DataFrame (:func:`prepare`): read the messages
through its Kafka connector, parse them (:func:`parse_messages`) and standardise the events with the batch's own
projection (:func:`~spark_lib.silver.interaction_rows`); the result comes to the driver through Arrow. The rest is
pandas on the driver (duplicates and late events left out as :func:`~spark_lib.silver.interactions` and the
watermark do; the rules, :mod:`spark_lib.streaming.rules`) and small Delta commits through delta-rs
(:mod:`spark_lib.streaming.commits`), to the same tables Spark reads.

**Exactly once.** Spark's checkpoint replays a micro-batch that a kill interrupted with the same id and the same
messages. Appends (bronze, quarantine, late events, batches) use Delta's idempotent writes keyed by the query id
and the micro-batch id (:func:`~spark_lib.streaming.commits.append_once`, Delta's ``txn`` action as Spark's
``txnAppId``/``txnVersion`` write it); silver, links and triggers are insert-only MERGEs on their keys
(:func:`~spark_lib.streaming.commits.insert_new`). Everything a micro-batch decides depends on the messages and
on tables as the earlier micro-batches left them (the watermark comes from ``ops.stream_batches`` rows of earlier
ids), so a replay decides the same and writes nothing twice. A firing already in ``gold.trigger_events`` is
published again when its micro-batch is replayed (the outbound topic is at least once; its key is
``trigger_key``).

**State in Delta, held in memory.** Open carts, sessions and accounts seen are the silver tables themselves, not
Spark's stateful operators: they survive a restart, a new checkpoint and a change of the triggers file, and the
batch sees them. :class:`~spark_lib.streaming.state.StreamState` holds what the rules read of them (a look-back
of a day behind the watermark, the links, the firings, the crosswalk, the consents) between micro-batches: built
from Delta when the stream starts, updated by the stream's own writes, read again when a table's Delta version
moves under it.

Example::

    batch = MicroBatch(lake, sources, load_triggers(), query_id="...", outbound=FolderOutbound("out"))
    report = batch.process(messages_df, batch_id=0)      # what foreachBatch calls
"""

from __future__ import annotations

import datetime as dt
import json
import time
from dataclasses import asdict, dataclass
from functools import reduce
from pathlib import Path
from typing import Callable

import pandas as pd
import pyarrow as pa
import pyarrow.compute as pc
from pyspark.sql import DataFrame, SparkSession
from pyspark.sql.streaming import StreamingQuery
from pyspark.sql import functions as F
from pyspark.sql.pandas.types import to_arrow_schema
from pyspark.sql.types import StringType, StructField, StructType
from pyspark.sql.window import Window

from spark_lib import tables
from spark_lib.config import SourceSpec, SourcesConfig
from spark_lib.lock import STREAM_COMMAND, LakehouseBusyError, LakehouseLock
from spark_lib.schemas import INTERACTIONS
from spark_lib.silver import interaction_rows
from spark_lib.storage import Lakehouse
from spark_lib.streaming.commits import append_once, insert_new
from spark_lib.streaming.events import event_sources
from spark_lib.streaming.rules import RuleInputs, deliverable, epoch_seconds, evaluate
from spark_lib.streaming.state import StreamState, to_frame
from spark_lib.streaming.triggers import FIRED_COLUMNS, TriggersConfig

#: the columns of a message, from Kafka or from a landing folder (see :func:`kafka_messages`, :func:`folder_messages`)
MESSAGE_COLUMNS = ("topic", "partition", "offset", "timestamp", "key", "value")
#: what identifies a message
MESSAGE_KEY = ("topic", "partition", "offset")
#: a standardised event in a row of :func:`prepare` (null in a message's row: every field nullable)
SILVER_STRUCT = StructType([StructField(f.name, f.dataType, True) for f in INTERACTIONS.fields])
#: the silver interaction rows as written (the batch's schema, its non-null fields included)
SILVER_ARROW = to_arrow_schema(INTERACTIONS, timezone="UTC")
#: the top-level fields of a message's value (``data`` kept as JSON text)
VALUE_SCHEMA = StructType([StructField(name, StringType()) for name in
                           ("event_id", "event_time", "event_type", "kind", "source", "record_id", "data")])


def kafka_messages(spark: SparkSession, bootstrap_servers: str, topics: list[str],
                   max_offsets_per_trigger: int | None = None) -> DataFrame:
    """The streaming DataFrame of ``topics``' messages from the earliest offset (:data:`MESSAGE_COLUMNS`)."""
    reader = (spark.readStream.format("kafka").option("kafka.bootstrap.servers", bootstrap_servers)
              .option("subscribe", ",".join(topics)).option("startingOffsets", "earliest"))
    if max_offsets_per_trigger:
        reader = reader.option("maxOffsetsPerTrigger", max_offsets_per_trigger)
    return reader.load().select(*MESSAGE_COLUMNS)


def folder_messages(spark: SparkSession, folder: str) -> DataFrame:
    """The streaming DataFrame of the messages of a landing folder: one JSON message per line of its
    ``*.json``/``*.jsonl`` files. ``topic`` is the file's name and ``offset`` the line's number, so a message
    keeps the same bronze key however often it is read."""
    files = (spark.readStream.format("text").option("wholetext", "true").option("pathGlobFilter", "*.json*")
             .load(folder).select("value", F.col("_metadata.file_name").alias("topic"),
                                  F.col("_metadata.file_modification_time").alias("timestamp")))
    lines = files.select("topic", "timestamp", F.posexplode(F.split("value", "\n")).alias("offset", "line"))
    return lines.where(F.trim("line") != "").select(
        "topic", F.lit(0).alias("partition"), F.col("offset").cast("long"), "timestamp",
        F.lit(None).cast("binary").alias("key"), F.encode("line", "UTF-8").alias("value"))


def parse_messages(messages: DataFrame, known_sources: list[str]) -> DataFrame:
    """The messages with their fields read (``event_time`` a UTC timestamp) and ``reason``: null for an event
    that can be used, else why not (see the module docstring)."""
    text = F.col("value").cast("string")
    body = F.from_json(text, VALUE_SCHEMA)
    parsed = messages.select(*MESSAGE_COLUMNS, text.alias("value_text"), body.alias("m"))
    event_time = F.col("m.event_time").try_cast("timestamp")
    reason = (F.when(F.try_parse_json("value_text").isNull(), "bad_json")
              .when(F.coalesce(F.trim("m.event_id"), F.lit("")) == "", "no_event_id")
              .when(event_time.isNull(), "bad_event_time")
              .when(~F.coalesce(F.col("m.source").isin(*known_sources), F.lit(False)), "unknown_source")
              .when(F.coalesce(F.trim("m.record_id"), F.lit("")) == "", "no_record_id"))
    return parsed.select(*MESSAGE_COLUMNS, "value_text", "m.event_id", event_time.alias("event_time"),
                         "m.event_type", "m.kind", "m.source", "m.record_id", "m.data", reason.alias("reason"))


def data_schema(spec: SourceSpec) -> StructType:
    """The schema that reads a message's ``data`` as the source's rows: every column the source maps (record
    id, identity, interaction fields) as text; a dotted path becomes a nested object."""
    paths = {spec.record_id, *spec.identity.values(), *spec.interactions.fields.values()}
    tree: dict = {}
    for path in paths:
        node = tree
        *parents, leaf = path.split(".")
        for part in parents:
            node = node.setdefault(part, {})
        node.setdefault(leaf, None)

    def struct(node: dict) -> StructType:
        return StructType([StructField(name, StringType() if child is None else struct(child))
                           for name, child in sorted(node.items())])

    return struct(tree)


def prepare(messages: DataFrame, specs: list[SourceSpec]) -> DataFrame:
    """One query for a micro-batch's Spark work: the messages parsed (:func:`parse_messages`; ``table`` and
    ``silver`` null), then one row per usable event standardised by the batch's own
    :func:`~spark_lib.silver.interaction_rows` (``table``: its silver table, ``silver``: the row, ``topic``,
    ``partition``, ``offset``: its message; the parsed columns null). Built once on the streaming DataFrame, so a
    micro-batch builds no plan of its own (building the standardisation's costs a second each time); the
    duplicates and the late events are left out on the driver (:meth:`MicroBatch.silver_rows`)."""
    parsed = parse_messages(messages, [s.name for s in specs])
    branches = [parsed.select(*parsed.columns, F.lit(None).cast("string").alias("table"),
                              F.lit(None).cast(SILVER_STRUCT).alias("silver"))]
    for spec in specs:
        bronze = (parsed.where(F.col("reason").isNull() & (F.col("source") == spec.name))
                  .select(F.from_json("data", data_schema(spec)).alias("_d"),
                          F.lit(None).cast("timestamp").alias("_ingested_at"),   # set on the driver
                          *[F.col(c).alias(f"_{c}") for c in MESSAGE_KEY])
                  .select("_d.*", "_ingested_at", *[f"_{c}" for c in MESSAGE_KEY]))
        rows = interaction_rows(bronze, spec, keep=[f"_{c}" for c in MESSAGE_KEY])
        branches.append(rows.select(
            *[F.col(f"_{c}").alias(c) if c in MESSAGE_KEY else F.lit(None).cast(parsed.schema[c].dataType).alias(c)
              for c in parsed.columns],
            F.lit(spec.interactions.table).alias("table"),
            F.struct(*[F.col(f.name) for f in INTERACTIONS.fields]).cast(SILVER_STRUCT).alias("silver")))
    return reduce(DataFrame.unionByName, branches)


def resolve_customers(events: DataFrame, crosswalk: DataFrame | None, links: DataFrame | None) -> DataFrame:
    """``events`` (with ``record_key``) plus ``customer_id``: the record's customer in the crosswalk, else the
    customer of the account the record was last tied to (``silver.stream_identity_links``), else null. In Spark,
    on whole tables (the recomputation of :mod:`spark_lib.streaming.check`); a micro-batch resolves in memory
    by the same rule (:meth:`~spark_lib.streaming.state.StreamState.resolve`)."""
    if crosswalk is None:
        return events.withColumn("customer_id", F.lit(None).cast("string"))
    own = crosswalk.select("record_key", F.col("customer_id").alias("_own"))
    resolved = events.join(own, "record_key", "left")
    if links is not None:
        by_account = (links.select("record_key", "account_record_key", "event_time")
                      .join(crosswalk.select(F.col("record_key").alias("account_record_key"), "customer_id"),
                                 "account_record_key")
                      .withColumn("_rank", F.row_number().over(
                          Window.partitionBy("record_key").orderBy(F.col("event_time").desc(), "account_record_key")))
                      .where("_rank = 1").select("record_key", F.col("customer_id").alias("_linked")))
        resolved = resolved.join(by_account, "record_key", "left")
    else:
        resolved = resolved.withColumn("_linked", F.lit(None).cast("string"))
    return resolved.withColumn("customer_id", F.coalesce("_own", "_linked")).drop("_own", "_linked")


def warm_up(spark: SparkSession, specs: list[SourceSpec]) -> None:
    """Run a micro-batch's Spark query once on a message that writes nothing: a JVM's first queries are slow
    (class loading, just-in-time compilation), and the first micro-batch would wait for them."""
    message = spark.createDataFrame([("warm-up", 0, 0, utc_now(), None, b"{}")],
                                    "topic string, partition int, offset long, timestamp timestamp, key binary, value binary")
    prepare(message, specs).toArrow()


def utc_now() -> dt.datetime:
    """Now in UTC, without a time zone (as the session's timestamps are read)."""
    return dt.datetime.now(dt.timezone.utc).replace(tzinfo=None)


def json_text(value) -> str | None:
    """A JSON value as ``get_json_object`` gives it: a string as it is, anything else as JSON text."""
    if value is None or isinstance(value, str):
        return value
    return json.dumps(value, ensure_ascii=False, separators=(",", ":"))


def json_field(data: str | None, path: str) -> str | None:
    """The text at ``path`` (dotted: ``shipping.city``) of the JSON object ``data``; None when absent."""
    try:
        node = json.loads(data) if data else None
    except ValueError:
        return None
    for part in path.split("."):
        if not isinstance(node, dict):
            return None
        node = node.get(part)
    return json_text(node)


def spark_trim(text: str | None) -> str | None:
    """Spark's ``trim``: spaces only."""
    return None if text is None else text.strip(" ")


def spark_json_time(value) -> str:
    """A timestamp as Spark's ``to_json`` writes it in UTC: ``2026-10-31T10:02:00.000Z``."""
    return f"{value:%Y-%m-%dT%H:%M:%S}.{value.microsecond // 1000:03d}Z"


def firing_json(row: dict) -> str:
    """A firing as the outbound topic carries it: :data:`FIRED_COLUMNS`, times in UTC."""
    return json.dumps({c: spark_json_time(row[c]) if c in ("event_time", "fired_at") else
                       int(row[c]) if c == "batch_id" else row[c] for c in FIRED_COLUMNS}, ensure_ascii=False)


class KafkaOutbound:
    """Publishes firings to a Kafka topic: key ``trigger_key``, value the row as JSON (:func:`firing_json`). A
    producer of the project's Kafka client, kept open across micro-batches (Spark's Kafka sink would cost a job
    per micro-batch)."""

    def __init__(self, bootstrap_servers: str, topic: str):
        self.bootstrap_servers, self.topic = bootstrap_servers, topic
        self._producer = None

    def publish(self, fired: list[dict], batch_id: int) -> None:
        from spark_lib.streaming.kafka_client import EventProducer

        if self._producer is None:
            self._producer = EventProducer(self.bootstrap_servers)
        for row in fired:
            self._producer.send(self.topic, row["trigger_key"], firing_json(row).encode("utf-8"))
        self._producer.flush()


class FolderOutbound:
    """Writes each micro-batch's firings to ``<folder>/triggers-<batch id>.jsonl`` (a replay rewrites the same
    file), one JSON object per line in ``trigger_key`` order."""

    def __init__(self, folder: str | Path):
        self.folder = Path(folder)

    def publish(self, fired: list[dict], batch_id: int) -> None:
        self.folder.mkdir(parents=True, exist_ok=True)
        target = self.folder / f"triggers-{batch_id:010d}.jsonl"
        partial = target.with_suffix(".tmp")
        rows = sorted(fired, key=lambda row: row["trigger_key"])
        partial.write_text("".join(f"{firing_json(row)}\n" for row in rows), encoding="utf-8")
        partial.replace(target)


@dataclass(frozen=True)
class BatchReport:
    """What one micro-batch did: counts and times only."""

    batch_id: int
    messages: int
    quarantined: int
    late: int
    inserted: int
    links: int
    fired: int
    max_event_time: dt.datetime | None
    watermark: dt.datetime | None
    seconds: float


_TIME = pa.timestamp("us", tz="UTC")
#: the Arrow schemas of the stream's own tables (as Spark typed them when it wrote them)
BRONZE_SCHEMA = pa.schema([("topic", pa.string()), ("partition", pa.int32()), ("offset", pa.int64()),
                           ("kafka_timestamp", _TIME), ("key", pa.string()), ("value", pa.string()),
                           ("batch_id", pa.int64()), ("ingested_at", _TIME)])
QUARANTINE_SCHEMA = pa.schema([("source", pa.string()), ("source_file", pa.string()), ("file_hash", pa.string()),
                               ("reason", pa.string()), ("raw_record", pa.string()), ("raw_bytes", pa.binary()),
                               ("batch_id", pa.string()), ("ingested_at", _TIME)])
LATE_SCHEMA = pa.schema([("topic", pa.string()), ("partition", pa.int32()), ("offset", pa.int64()),
                         ("event_id", pa.string()), ("source", pa.string()), ("kind", pa.string()),
                         ("event_type", pa.string()), ("event_time", _TIME), ("record_key", pa.string()),
                         ("watermark", _TIME), ("seconds_late", pa.int64()), ("ingested_at", _TIME)])
LINKS_SCHEMA = pa.schema([("record_key", pa.string()), ("account_record_key", pa.string()),
                          ("customer_id", pa.string()), ("source", pa.string()), ("event_type", pa.string()),
                          ("event_time", _TIME), ("ingested_at", _TIME)])
FIRED_SCHEMA = pa.schema([("trigger_key", pa.string()), ("trigger", pa.string()), ("customer_id", pa.string()),
                          ("channel", pa.string()), ("reason", pa.string()), ("event_time", _TIME),
                          ("fired_at", _TIME), ("batch_id", pa.int64())])
#: ops.stream_batches: one row per micro-batch (:class:`BatchReport` and the query it belongs to)
STREAM_BATCH_SCHEMA = pa.schema([("query_id", pa.string()), ("batch_id", pa.int64()), ("messages", pa.int64()),
                                 ("quarantined", pa.int64()), ("late", pa.int64()), ("inserted", pa.int64()),
                                 ("links", pa.int64()), ("fired", pa.int64()), ("max_event_time", _TIME),
                                 ("watermark", _TIME), ("seconds", pa.float64()), ("processed_at", _TIME)])


def arrow_rows(frame: pd.DataFrame, schema: pa.Schema) -> pa.Table:
    """``frame``'s columns of ``schema`` as an Arrow table of that schema (naive times are UTC)."""
    return pa.Table.from_pandas(frame[schema.names], schema=schema, preserve_index=False)


class MicroBatch:
    """One micro-batch's work (see the module docstring); :meth:`process` is what ``foreachBatch`` calls.

    ``query_id``: the streaming query's id (kept in its checkpoint): with the micro-batch id, it makes the
    appends idempotent. ``outbound``: where firings are published (None: gold.trigger_events only).
    ``progress``: told one line per micro-batch (counts and times only). ``state``: the memory of the earlier
    micro-batches (default: a new one, built from Delta at the first micro-batch)."""

    def __init__(self, lake: Lakehouse, sources: SourcesConfig, config: TriggersConfig, query_id: str,
                 outbound: KafkaOutbound | FolderOutbound | None = None,
                 progress: Callable[[str], None] | None = None, state: StreamState | None = None):
        if not query_id:
            raise ValueError("'query_id' of a MicroBatch cannot be empty")
        self.lake, self.sources, self.config, self.query_id, self.outbound = lake, sources, config, query_id, outbound
        self.progress = progress
        self.specs = [spec for _, spec in event_sources(sources)]
        self.state = state or StreamState(lake, sources, config)
        self.reports: list[BatchReport] = []

    def process(self, messages: DataFrame, batch_id: int) -> BatchReport:
        """Write what the messages (:data:`MESSAGE_COLUMNS`) of micro-batch ``batch_id`` give; a replay of the
        same id writes nothing twice."""
        return self.process_prepared(prepare(messages, self.specs), batch_id)

    def process_prepared(self, prepared: DataFrame, batch_id: int) -> BatchReport:
        """:meth:`process` of messages already through :func:`prepare` (what the stream's foreachBatch gets)."""
        started, ingested_at = time.perf_counter(), utc_now()
        rows = prepared.toArrow()
        is_message = pc.is_null(rows["table"])
        parsed = to_frame(rows.filter(is_message).drop_columns(["table", "silver"]))
        events = rows.filter(pc.invert(is_message))
        struct = events["silver"].combine_chunks()
        silver = pa.Table.from_arrays([*struct.flatten(), *[events[c] for c in ("table", *MESSAGE_KEY)]],
                                      names=[*[f.name for f in struct.type], "table", *MESSAGE_KEY])
        lock = self._lakehouse_lock()
        try:
            report = self._process(parsed, silver, batch_id, ingested_at, started)
        finally:
            lock.release()
        self.reports.append(report)
        if self.progress is not None:
            self.progress(f"micro-batch {batch_id}: {report.messages:,} messages, {report.quarantined:,} quarantined, "
                          f"{report.late:,} late, {report.inserted:,} new events, {report.links:,} links, "
                          f"{report.fired:,} fired in {report.seconds:.1f} s")
        return report

    def _lakehouse_lock(self) -> LakehouseLock:
        """The lakehouse lock (:mod:`spark_lib.lock`) for this micro-batch's commits, waited for as long as a batch run
        holds it: the batch's MERGE into a silver table and the stream's inserts never race (the stream lags
        meanwhile, then catches up); a batch run waits for a micro-batch's commits in turn."""
        lock = LakehouseLock(self.lake.root, STREAM_COMMAND, wait_seconds=0, log=self.progress or print)
        try:
            return lock.acquire()
        except LakehouseBusyError as busy:
            if self.progress is not None:
                self.progress(f"waiting for the lakehouse: {busy}")
            return LakehouseLock(self.lake.root, STREAM_COMMAND, wait_seconds=float("inf"),
                                 log=self.progress or print).acquire()

    def _path(self, table: str) -> str:
        return self.lake.path(table)

    def _process(self, parsed: pd.DataFrame, standardised: pa.Table, batch_id: int, ingested_at: dt.datetime,
                 started: float) -> BatchReport:
        qid, state = self.query_id, self.state
        if parsed.empty:
            return BatchReport(batch_id, 0, 0, 0, 0, 0, 0, None, None, time.perf_counter() - started)
        state.refresh()
        append_once(self._path(tables.STREAM_EVENTS), self.bronze_rows(parsed, batch_id, ingested_at),
                    tables.STREAM_EVENTS.keys, qid, batch_id)
        bad = parsed[parsed["reason"].notna()]
        if not bad.empty:
            append_once(self._path(tables.QUARANTINE), self.quarantine_rows(bad, batch_id, ingested_at), (), qid, batch_id)
        valid = parsed[parsed["reason"].isna()]
        previous = state.previous_max_event_time(qid, batch_id)
        delay = self.config.stream.watermark
        late = 0
        if previous is not None:
            behind = valid["event_time"] < previous - delay
            late = int(behind.sum())
            if late:
                append_once(self._path(tables.LATE_EVENTS), self.late_rows(valid[behind], previous - delay, ingested_at),
                            tables.LATE_EVENTS.keys, qid, batch_id)
            valid = valid[~behind]
        silver, inserted = self.write_silver(self.silver_rows(standardised, valid, ingested_at))
        accounts = self.account_events(valid)
        links = self.write_links(accounts, ingested_at)
        newest = valid["event_time"].max() if not valid.empty else None
        times = [t for t in (previous, None if newest is None or pd.isna(newest) else newest.to_pydatetime()) if t is not None]
        max_time = max(times) if times else None
        watermark = max_time - delay if max_time else None
        fired = 0
        if watermark:
            # the look-back reaches the oldest event this micro-batch may decide: behind the watermark before it,
            # or, for the very first, its own earliest event (a stream started on a backlog reads weeks at once)
            floor = previous - delay if previous is not None else valid["event_time"].min().to_pydatetime()
            since = min(watermark, floor) - state.reach
            fired = self.fire_triggers(silver, accounts, watermark, since, batch_id, ingested_at)
        report = BatchReport(batch_id, len(parsed), len(bad), late, inserted, links, fired, max_time, watermark,
                             time.perf_counter() - started)
        row = pd.DataFrame([{"query_id": qid, **asdict(report), "processed_at": utc_now()}])
        if append_once(self._path(tables.STREAM_BATCHES), arrow_rows(row, STREAM_BATCH_SCHEMA), ("batch_id",), qid, batch_id):
            state.add_batch(qid, batch_id, max_time)
        state.wrote(tables.STREAM_BATCHES)
        return report

    @staticmethod
    def bronze_rows(parsed: pd.DataFrame, batch_id: int, ingested_at: dt.datetime) -> pa.Table:
        """``bronze.stream_events`` rows: every message as delivered."""
        rows = parsed.assign(kafka_timestamp=parsed["timestamp"], value=parsed["value_text"], batch_id=batch_id,
                             ingested_at=ingested_at,
                             key=[None if k is None else bytes(k).decode("utf-8", "replace") for k in parsed["key"]])
        return arrow_rows(rows, BRONZE_SCHEMA)

    @staticmethod
    def quarantine_rows(bad: pd.DataFrame, batch_id: int, ingested_at: dt.datetime) -> pa.Table:
        """``bronze.quarantine`` rows (the ingest's columns) of the messages that cannot be used: ``source_file``
        is ``stream:<topic>/<partition>/<offset>``."""
        where = ["stream:" + f"{t}/{p}/{o}" for t, p, o in zip(bad["topic"], bad["partition"], bad["offset"])]
        rows = bad.assign(source=bad["source"].fillna(bad["topic"]), source_file=where, file_hash=None,
                          raw_record=bad["value_text"], raw_bytes=bad["value"], batch_id=f"stream-{batch_id}",
                          ingested_at=ingested_at)
        return arrow_rows(rows, QUARANTINE_SCHEMA)

    @staticmethod
    def late_rows(late: pd.DataFrame, watermark: dt.datetime, ingested_at: dt.datetime) -> pa.Table:
        """``silver.late_events`` rows: the events before ``watermark``, with ``seconds_late`` behind it."""
        rows = late.assign(record_key=late["source"] + ":" + late["record_id"].map(spark_trim),  # whose it is (erasure)
                           watermark=watermark, ingested_at=ingested_at,
                           seconds_late=epoch_seconds(watermark) - epoch_seconds(late["event_time"]))
        return arrow_rows(rows, LATE_SCHEMA)

    @staticmethod
    def silver_rows(standardised: pa.Table, valid: pd.DataFrame, ingested_at: dt.datetime) -> pa.Table:
        """The standardised rows of the on-time ``valid`` messages, as :func:`~spark_lib.silver.interactions`
        keeps them: an event id, once per interaction key (they share ``ingested_at``: any one of them)."""
        on_time = pa.table({c: pa.array(valid[c].tolist(), standardised.schema.field(c).type) for c in MESSAGE_KEY})
        rows = standardised.join(on_time, list(MESSAGE_KEY), join_type="inner").drop_columns(list(MESSAGE_KEY))
        rows = rows.filter(pc.is_valid(rows["event_id"]))
        rows = rows.filter(pa.array(~rows["interaction_key"].to_pandas().duplicated().to_numpy()))
        at = rows.schema.get_field_index("ingested_at")
        rows = rows.set_column(at, rows.schema.field(at), pa.array([ingested_at] * rows.num_rows, rows.schema.field(at).type))
        return rows.select([*SILVER_ARROW.names, "table"]).cast(pa.schema([*SILVER_ARROW, pa.field("table", pa.string())]))

    def write_silver(self, rows: pa.Table) -> tuple[pd.DataFrame, int]:
        """Insert the events not yet in their silver interaction table; returns the rows as pandas (``table``
        added: they are the micro-batch's events for the triggers) and how many were inserted."""
        inserted = 0
        for name in dict.fromkeys(rows["table"].to_pylist()):
            table = tables.interactions(name)
            mine = rows.filter(pc.equal(rows["table"], name)).drop_columns(["table"])
            inserted += insert_new(self._path(table), mine, table.keys, change_feed=table.change_feed)
            self.state.add_silver(name, to_frame(mine))
            if name in self.state.silver:
                self.state.wrote(table)
        return to_frame(rows), inserted

    def account_events(self, valid: pd.DataFrame) -> pd.DataFrame:
        """The events whose data names an account: ``interaction_key, record_key, account_record_key, source,
        event_type, event_time`` (a cookie that logs in, an order placed on an account)."""
        accounts, found = self.state.accounts, []
        for spec in self.specs:
            if not accounts or "account_id" not in spec.identity:
                continue
            mine = valid[valid["source"] == spec.name]
            account = mine["data"].map(lambda data: spark_trim(json_field(data, spec.identity["account_id"])))
            mine = mine.assign(account=account)[account.fillna("") != ""]
            found.append(pd.DataFrame({
                "interaction_key": f"{spec.name}:" + mine["event_id"].map(spark_trim),
                "record_key": f"{spec.name}:" + mine["record_id"].map(spark_trim),
                "account_record_key": f"{accounts}:" + mine["account"], "source": spec.name,
                "event_type": mine["event_type"], "event_time": mine["event_time"]}))
        columns = ["interaction_key", "record_key", "account_record_key", "source", "event_type", "event_time"]
        return pd.concat(found, ignore_index=True)[columns] if found else pd.DataFrame(columns=columns)

    def write_links(self, accounts: pd.DataFrame, ingested_at: dt.datetime) -> int:
        """Insert the records tied to an account by this micro-batch's events into silver.stream_identity_links (at
        their first such event), with the account's customer in the crosswalk now (None: an account the batch has
        not matched yet)."""
        if accounts.empty:
            return 0
        links = (accounts.sort_values("event_time", kind="stable")
                 .drop_duplicates(["record_key", "account_record_key"], keep="first"))
        links = links.assign(customer_id=links["account_record_key"].map(self.state.crosswalk).astype("object"),
                             ingested_at=ingested_at)
        inserted = insert_new(self._path(tables.STREAM_IDENTITY_LINKS), arrow_rows(links, LINKS_SCHEMA),
                              tables.STREAM_IDENTITY_LINKS.keys)
        self.state.add_links(links)
        self.state.wrote(tables.STREAM_IDENTITY_LINKS)
        return inserted

    def fire_triggers(self, silver: pd.DataFrame, accounts: pd.DataFrame, watermark: dt.datetime, since: dt.datetime,
                      batch_id: int, fired_at: dt.datetime) -> int:
        """Evaluate the triggers (:mod:`spark_lib.streaming.rules`) on this micro-batch's events and the silver rows
        since ``since``, insert the firings that may be sent into gold.trigger_events and publish this
        micro-batch's firings; returns how many were inserted.

        ``since`` is the look-back behind the watermark *before* this micro-batch (the rules' windows and a day):
        a cart whose wait the watermark passes in this micro-batch is read however far the watermark jumps (a
        replay runs through days of event time in seconds)."""
        state = self.state
        if state.loaded.get(tables.CUSTOMER) is None or state.loaded.get(tables.CROSSWALK) is None or silver.empty:
            return 0
        state.forget_before(since)

        def recent(name: str) -> pd.DataFrame:
            rows = state.silver[name]
            rows = rows[rows["event_time"] >= since]
            return rows.assign(customer_id=state.resolve(rows["record_key"]))

        account_of = dict(zip(accounts["interaction_key"], accounts["account_record_key"]))
        batch = silver.assign(account_key=silver["interaction_key"].map(account_of).astype("object"),
                              customer_id=state.resolve(silver["record_key"]))
        mailings = state.resolved_mailings()
        inputs = RuleInputs(batch=batch, navigation=recent("navigation_events"), orders=recent("orders"),
                            mailings=mailings, first_seen=state.first_seen(), watermark=watermark)
        new = deliverable(evaluate(self.config, inputs), self.config, state.channels, state.objecting, state.fired_times,
                          state.fired_keys)
        new = new.assign(fired_at=fired_at, batch_id=batch_id)
        inserted = insert_new(self._path(tables.TRIGGER_EVENTS), arrow_rows(new, FIRED_SCHEMA), tables.TRIGGER_EVENTS.keys)
        state.add_firings(new)
        state.wrote(tables.TRIGGER_EVENTS)
        ours = state.fired_rows.get(batch_id)
        if self.outbound is not None and ours:
            self.outbound.publish(ours, batch_id)
        return inserted


#: Spark settings for the stream's query: one per micro-batch, on a few thousand rows, where compiling
#: generated code (Janino) costs more than it saves. Session settings, set for the stream's run only.
SMALL_QUERY_SETTINGS = {"spark.sql.codegen.wholeStage": "false", "spark.sql.codegen.factoryMode": "NO_CODEGEN"}


def query_id(checkpoint: str | Path) -> str | None:
    """The id of the streaming query whose checkpoint is ``checkpoint`` (None: not started yet)."""
    metadata = Path(checkpoint) / "metadata"
    if not metadata.exists():
        return None
    return json.loads(metadata.read_text().splitlines()[0])["id"]


def start_stream(messages: DataFrame, checkpoint: str | Path, make_batch: Callable[[str], MicroBatch],
                 specs: list[SourceSpec], *, once: bool, trigger_seconds: int = 5) -> StreamingQuery:
    """Start the query that hands each micro-batch of ``messages`` (through :func:`prepare`: the plan is built
    once) to a :class:`MicroBatch`: available-now with
    ``once`` (what is there now, then stop), else one micro-batch every ``trigger_seconds``.
    ``make_batch(query_id)`` builds it at the first micro-batch, when the checkpoint names the query."""
    made: list[MicroBatch] = []

    def each(df: DataFrame, batch_id: int) -> None:
        if not made:
            made.append(make_batch(query_id(checkpoint)))
        made[0].process_prepared(df, batch_id)

    writer = prepare(messages, specs).writeStream.foreachBatch(each).option("checkpointLocation", str(checkpoint))
    writer = writer.trigger(availableNow=True) if once else writer.trigger(processingTime=f"{trigger_seconds} seconds")
    return writer.start()
