"""The stream: online events from Kafka (or a landing folder) to bronze, silver, identity links and triggers.

Each micro-batch of messages goes through :meth:`MicroBatch.process`, in this order:

1. every message -> ``bronze.stream_events`` (topic, partition, offset, Kafka timestamp, key, value);
2. those that cannot be used -> ``bronze.quarantine`` with their reason: ``bad_json``, ``no_event_id``,
   ``bad_event_time``, ``unknown_source`` (a source sources.yaml does not give as online events), ``no_record_id``;
3. events older than the watermark (the latest event time of the earlier micro-batches less ``watermark_minutes``)
   -> ``silver.late_events`` with how late they are, and nowhere else;
4. the others -> the silver interaction tables (``navigation_events``, ``orders``, ``campaign_events``) through
   :func:`spark_lib.silver.interactions`, the batch's own standardisation, so both give the same
   ``interaction_key`` and columns; an event already there (a duplicate) is not inserted again;
5. an event carrying an account id (a login, an order) -> ``silver.stream_identity_links``: its record (the
   cookie, the order) belongs to the account's record (``eshop_accounts:<account id>``), whose customer the
   crosswalk gives;
6. the triggers of ``conf/triggers.yaml`` (:mod:`spark_lib.streaming.triggers`) on the events resolved to
   customers (:func:`resolve_customers`: the record's own customer in ``gold.customer_crosswalk``, else its
   account's) -> ``gold.trigger_events`` and the outbound topic (or folder);
7. one row per micro-batch -> ``ops.stream_batches`` (counts, the new watermark, timing): ``rcu stream --status``.

**Exactly once.** Spark's checkpoint replays a micro-batch that a kill interrupted with the same id and the same
messages. Appends (bronze, quarantine, late events, batches) use Delta's idempotent writes keyed by the query id
and the micro-batch id (:meth:`~spark_lib.storage.Lakehouse.append_once`); silver, links and triggers are
insert-only MERGEs on their keys. Everything a micro-batch decides depends on the messages and on tables as the
earlier micro-batches left them (the watermark comes from ``ops.stream_batches`` rows of earlier ids), so a
replay decides the same and writes nothing twice. A firing already in ``gold.trigger_events`` is published
again when its micro-batch is replayed (the outbound topic is at least once; its key is ``trigger_key``).

**State in Delta, not in Spark's stateful operators.** Open carts, sessions and accounts seen are the silver
tables themselves, read back by each micro-batch over a bounded look-back: they survive a restart, a new
checkpoint and a change of the triggers file, the batch sees them, and one micro-batch's work is plain
DataFrame code that tests call directly.

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

from pyspark.sql import DataFrame, SparkSession
from pyspark.sql.streaming import StreamingQuery
from pyspark.sql import functions as F
from pyspark.sql.types import DoubleType, LongType, StringType, StructField, StructType, TimestampType
from pyspark.sql.window import Window

from spark_lib import tables
from spark_lib.config import SourceSpec, SourcesConfig
from spark_lib.privacy.footprint import objecting_customers
from spark_lib.privacy.identifiers import lakehouse_key
from spark_lib.silver import interactions
from spark_lib.storage import Lakehouse
from spark_lib.streaming.events import event_sources
from spark_lib.streaming.triggers import FIRED_COLUMNS, TriggerInputs, TriggersConfig, deliverable, evaluate, with_firing

#: the columns of a message, from Kafka or from a landing folder (see :func:`kafka_messages`, :func:`folder_messages`)
MESSAGE_COLUMNS = ("topic", "partition", "offset", "timestamp", "key", "value")
#: the top-level fields of a message's value (``data`` kept as JSON text)
VALUE_SCHEMA = StructType([StructField(name, StringType()) for name in
                           ("event_id", "event_time", "event_type", "kind", "source", "record_id", "data")])
#: how far back the rules read the silver tables, beyond their own windows
LOOKBACK = dt.timedelta(days=1)


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


def bronze_rows(parsed: DataFrame, batch_id: int, ingested_at: dt.datetime) -> DataFrame:
    """``bronze.stream_events`` rows: every message as delivered."""
    return parsed.select("topic", "partition", "offset", F.col("timestamp").alias("kafka_timestamp"),
                         F.col("key").cast("string").alias("key"), F.col("value_text").alias("value"),
                         F.lit(batch_id).cast("long").alias("batch_id"),
                         F.lit(ingested_at).cast("timestamp").alias("ingested_at"))


def quarantine_rows(parsed: DataFrame, batch_id: int, ingested_at: dt.datetime) -> DataFrame:
    """``bronze.quarantine`` rows (the ingest's columns) of the messages that cannot be used: ``source_file`` is
    ``stream:<topic>/<partition>/<offset>``."""
    where = F.concat(F.lit("stream:"), "topic", F.lit("/"), F.col("partition").cast("string"), F.lit("/"),
                     F.col("offset").cast("string"))
    return parsed.where(F.col("reason").isNotNull()).select(
        F.coalesce("source", "topic").alias("source"), where.alias("source_file"),
        F.lit(None).cast("string").alias("file_hash"), "reason", F.col("value_text").alias("raw_record"),
        F.col("value").alias("raw_bytes"), F.lit(f"stream-{batch_id}").alias("batch_id"),
        F.lit(ingested_at).cast("timestamp").alias("ingested_at"))


def late_rows(valid: DataFrame, watermark: dt.datetime, ingested_at: dt.datetime) -> DataFrame:
    """``silver.late_events`` rows: the events before ``watermark``, with ``seconds_late`` behind it."""
    return valid.where(F.col("event_time") < F.lit(watermark)).select(
        "topic", "partition", "offset", "event_id", "source", "kind", "event_type", "event_time",
        F.concat("source", F.lit(":"), F.trim("record_id")).alias("record_key"),   # whose it is (erasure)
        F.lit(watermark).cast("timestamp").alias("watermark"),
        (F.unix_timestamp(F.lit(watermark).cast("timestamp")) - F.unix_timestamp("event_time")).alias("seconds_late"),
        F.lit(ingested_at).cast("timestamp").alias("ingested_at"))


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


def source_rows(valid: DataFrame, spec: SourceSpec, ingested_at: dt.datetime) -> DataFrame:
    """The events of ``spec`` as the source's own rows (its columns, ``_ingested_at``): what the batch's bronze
    holds, so that :func:`spark_lib.silver.interactions` standardises them as it does the batch's."""
    rows = valid.where(F.col("source") == spec.name).select(
        F.from_json("data", data_schema(spec)).alias("d"), F.lit(ingested_at).cast("timestamp").alias("_ingested_at"))
    return rows.select("d.*", "_ingested_at")


def account_source(sources: SourcesConfig) -> str | None:
    """The source whose records are the accounts: its record id is its ``account_id`` (``eshop_accounts``)."""
    found = [s.name for s in sources.sources if s.identity.get("account_id") == s.record_id]
    return found[0] if found else None


def account_links(valid: DataFrame, specs: list[SourceSpec], accounts: str, ingested_at: dt.datetime) -> DataFrame | None:
    """``silver.stream_identity_links`` rows (without their customer): each event's record tied to the account its
    ``data`` names (a cookie that logged in, an order placed on an account), at its first such event of the
    micro-batch; None when no source of ``specs`` maps an account id."""
    frames = [
        valid.where(F.col("source") == spec.name).select(
            F.concat(F.lit(f"{spec.name}:"), F.trim("record_id")).alias("record_key"),
            F.trim(F.get_json_object("data", f"$.{spec.identity['account_id']}")).alias("account_id"),
            "source", "event_type", "event_time")
        for spec in specs if "account_id" in spec.identity
    ]
    if not frames:
        return None
    links = reduce(DataFrame.unionByName, frames).where(F.coalesce("account_id", F.lit("")) != "")
    first = Window.partitionBy("record_key", "account_record_key").orderBy("event_time")
    return (links.withColumn("account_record_key", F.concat(F.lit(f"{accounts}:"), "account_id"))
            .withColumn("_rank", F.row_number().over(first)).where("_rank = 1")
            .select("record_key", "account_record_key", "source", "event_type", "event_time",
                    F.lit(ingested_at).cast("timestamp").alias("ingested_at")))


def resolve_customers(events: DataFrame, crosswalk: DataFrame | None, links: DataFrame | None) -> DataFrame:
    """``events`` (with ``record_key``) plus ``customer_id``: the record's customer in the crosswalk, else the
    customer of the account the record was last tied to (``silver.stream_identity_links``), else null."""
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


def utc_now() -> dt.datetime:
    """Now in UTC, without a time zone (as the session's timestamps are read)."""
    return dt.datetime.now(dt.timezone.utc).replace(tzinfo=None)


class KafkaOutbound:
    """Publishes firings to a Kafka topic through Spark's Kafka sink: key ``trigger_key``, value the row as JSON."""

    def __init__(self, bootstrap_servers: str, topic: str):
        self.bootstrap_servers, self.topic = bootstrap_servers, topic

    def publish(self, fired: DataFrame, batch_id: int) -> None:
        (fired.select(F.col("trigger_key").alias("key"), F.to_json(F.struct(*FIRED_COLUMNS)).alias("value"))
         .write.format("kafka").option("kafka.bootstrap.servers", self.bootstrap_servers)
         .option("topic", self.topic).save())


class FolderOutbound:
    """Writes each micro-batch's firings to ``<folder>/triggers-<batch id>.jsonl`` (a replay rewrites the same
    file), one JSON object per line in ``trigger_key`` order."""

    def __init__(self, folder: str | Path):
        self.folder = Path(folder)

    def publish(self, fired: DataFrame, batch_id: int) -> None:
        rows = fired.select(F.to_json(F.struct(*FIRED_COLUMNS)).alias("json"), "trigger_key").orderBy("trigger_key").collect()
        self.folder.mkdir(parents=True, exist_ok=True)
        target = self.folder / f"triggers-{batch_id:010d}.jsonl"
        partial = target.with_suffix(".tmp")
        partial.write_text("".join(f"{row.json}\n" for row in rows), encoding="utf-8")
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


class MicroBatch:
    """One micro-batch's work (see the module docstring); :meth:`process` is what ``foreachBatch`` calls.

    ``query_id``: the streaming query's id (kept in its checkpoint): with the micro-batch id, it makes the
    appends idempotent. ``outbound``: where firings are published (None: gold.trigger_events only).
    ``progress``: told one line per micro-batch (counts and times only)."""

    def __init__(self, lake: Lakehouse, sources: SourcesConfig, config: TriggersConfig, query_id: str,
                 outbound: KafkaOutbound | FolderOutbound | None = None,
                 progress: Callable[[str], None] | None = None):
        if not query_id:
            raise ValueError("'query_id' of a MicroBatch cannot be empty")
        self.lake, self.sources, self.config, self.query_id, self.outbound = lake, sources, config, query_id, outbound
        self.progress = progress
        self.specs = [spec for _, spec in event_sources(sources)]
        self.accounts = account_source(sources)
        self.reports: list[BatchReport] = []

    def process(self, messages: DataFrame, batch_id: int) -> BatchReport:
        """Write what the messages of micro-batch ``batch_id`` give; a replay of the same id writes nothing twice."""
        started, ingested_at = time.perf_counter(), utc_now()
        parsed = parse_messages(messages, [s.name for s in self.specs]).persist()
        try:
            report = self._process(parsed, batch_id, ingested_at, started)
        finally:
            parsed.unpersist()
        self.reports.append(report)
        if self.progress is not None:
            self.progress(f"micro-batch {batch_id}: {report.messages:,} messages, {report.quarantined:,} quarantined, "
                          f"{report.late:,} late, {report.inserted:,} new events, {report.links:,} links, "
                          f"{report.fired:,} fired in {report.seconds:.1f} s")
        return report

    def _process(self, parsed: DataFrame, batch_id: int, ingested_at: dt.datetime, started: float) -> BatchReport:
        lake, qid = self.lake, self.query_id
        counts = parsed.agg(F.count(F.lit(1)).alias("messages"), F.count("reason").alias("quarantined"),
                            F.max(F.when(F.col("reason").isNull(), F.col("event_time"))).alias("max_time")).first()
        if not counts.messages:
            return BatchReport(batch_id, 0, 0, 0, 0, 0, 0, None, None, time.perf_counter() - started)
        lake.append_once(bronze_rows(parsed, batch_id, ingested_at), tables.STREAM_EVENTS, qid, batch_id)
        if counts.quarantined:
            lake.append_once(quarantine_rows(parsed, batch_id, ingested_at), tables.QUARANTINE, qid, batch_id)
        valid = parsed.where(F.col("reason").isNull())
        previous = self.previous_max_event_time(batch_id)
        delay = self.config.stream.watermark
        late = 0
        if previous is not None:
            late_df = late_rows(valid, previous - delay, ingested_at).localCheckpoint()
            late = late_df.count()
            if late:
                lake.append_once(late_df, tables.LATE_EVENTS, qid, batch_id)
            valid = valid.where(F.col("event_time") >= F.lit(previous - delay))
        silver = self.write_silver(valid, ingested_at)
        links = self.write_links(valid, ingested_at)
        max_time = max(t for t in (previous, counts.max_time) if t is not None) if counts.max_time or previous else None
        watermark = max_time - delay if max_time else None
        fired = self.fire_triggers(valid, silver, watermark, batch_id, ingested_at) if watermark else 0
        report = BatchReport(batch_id, counts.messages, counts.quarantined, late, sum(n for _, _, n in silver), links,
                             fired, max_time, watermark, time.perf_counter() - started)
        row = {"query_id": qid, **asdict(report), "processed_at": utc_now()}
        lake.append_once(lake.spark.createDataFrame([row], STREAM_BATCH_SCHEMA), tables.STREAM_BATCHES, qid, batch_id)
        for _, frame, _ in silver:
            frame.unpersist()
        return report

    def previous_max_event_time(self, batch_id: int) -> dt.datetime | None:
        """The latest event time of every micro-batch before this one (other queries' included)."""
        done = self.lake.read_or_none(tables.STREAM_BATCHES)
        if done is None:
            return None
        earlier = done.where((F.col("query_id") != self.query_id) | (F.col("batch_id") < batch_id))
        return earlier.agg(F.max("max_event_time")).first()[0]

    def write_silver(self, valid: DataFrame, ingested_at: dt.datetime) -> list[tuple[str, DataFrame, int]]:
        """Insert the events not yet in their silver interaction table; (table, rows, inserted) per source
        present, the rows kept in memory for the triggers."""
        present = {row.source for row in valid.select("source").distinct().collect()}
        written = []
        for spec in self.specs:
            if spec.name not in present:
                continue
            table = spec.interactions.table
            rows = interactions(source_rows(valid, spec, ingested_at), spec).persist()
            inserted = self.lake.insert_new(rows, tables.interactions(table), keys=("interaction_key",))
            written.append((table, rows, inserted))
        return written

    def write_links(self, valid: DataFrame, ingested_at: dt.datetime) -> int:
        """Insert the records tied to an account by this micro-batch's events into silver.stream_identity_links,
        with the account's customer in the crosswalk now (null: an account the batch has not matched yet)."""
        if self.accounts is None:
            return 0
        links = account_links(valid, self.specs, self.accounts, ingested_at)
        if links is None:
            return 0
        crosswalk = self.lake.read_or_none(tables.CROSSWALK)
        if crosswalk is None:
            links = links.withColumn("customer_id", F.lit(None).cast("string"))
        else:
            links = links.join(crosswalk.select(F.col("record_key").alias("account_record_key"), "customer_id"),
                               "account_record_key", "left")
        links = links.select("record_key", "account_record_key", "customer_id", "source", "event_type", "event_time",
                             "ingested_at").localCheckpoint()
        if links.isEmpty():
            return 0
        return self.lake.insert_new(links, tables.STREAM_IDENTITY_LINKS, keys=tables.STREAM_IDENTITY_LINKS.keys)

    def fire_triggers(self, valid: DataFrame, silver: list[tuple[str, DataFrame, int]], watermark: dt.datetime,
                      batch_id: int, fired_at: dt.datetime) -> int:
        """Evaluate the triggers on this micro-batch's events, insert the firings that may be sent into
        gold.trigger_events and publish this micro-batch's firings; returns how many were inserted."""
        lake = self.lake
        customers = lake.read_or_none(tables.CUSTOMER)
        crosswalk = lake.read_or_none(tables.CROSSWALK)
        if customers is None or crosswalk is None or not silver:
            return 0
        links = lake.read_or_none(tables.STREAM_IDENTITY_LINKS)
        candidates = evaluate(self.config, self.trigger_inputs(valid, silver, watermark, crosswalk, links))
        objecting = None
        if lake.exists(tables.OBJECTIONS):
            objecting = objecting_customers(crosswalk, customers, lake.read(tables.OBJECTIONS), lakehouse_key(lake.root))
        fired = lake.read_or_none(tables.TRIGGER_EVENTS)
        new = with_firing(deliverable(candidates, self.config, customers, objecting, fired), fired_at, batch_id)
        new = new.localCheckpoint()
        inserted = lake.insert_new(new, tables.TRIGGER_EVENTS, keys=tables.TRIGGER_EVENTS.keys) if not new.isEmpty() else 0
        if self.outbound is not None and lake.exists(tables.TRIGGER_EVENTS):
            ours = lake.read(tables.TRIGGER_EVENTS).where(F.col("batch_id") == batch_id).localCheckpoint()
            if not ours.isEmpty():
                self.outbound.publish(ours, batch_id)
        return inserted

    def trigger_inputs(self, valid: DataFrame, silver: list[tuple[str, DataFrame, int]], watermark: dt.datetime,
                       crosswalk: DataFrame, links: DataFrame | None) -> TriggerInputs:
        """The resolved events the rules read (see :class:`~spark_lib.streaming.triggers.TriggerInputs`): the
        micro-batch's, and the silver rows of the look-back, resolved together once and kept in memory (the
        rules read them several times)."""
        lake = self.lake
        windows = [t.window for t in self.config.triggers if t.within and t.rule != "catalogue_visit"]
        since = watermark - LOOKBACK - max(windows, default=dt.timedelta(0))
        columns = ("interaction_key", "table", "record_key", "event_type", "event_time", "page", "campaign_id")
        batch = reduce(DataFrame.unionByName, [rows.select(F.lit(table).alias("table"), "*") for table, rows, _ in silver])
        frames = [batch.select(F.lit("batch").alias("role"), *columns)
                  .join(self.account_keys(valid), "interaction_key", "left")]
        for table in ("navigation_events", "orders", "mailings"):
            rows = lake.read_or_none(tables.interactions(table))
            if rows is not None:
                recent = rows if table == "mailings" else rows.where(F.col("event_time") >= F.lit(since))
                frames.append(recent.select(F.lit(table).alias("role"), F.lit(table).alias("table"), *columns[2:],
                                            F.lit(None).cast("string").alias("account_key"), "interaction_key"))
        events = resolve_customers(reduce(DataFrame.unionByName, frames), crosswalk, links).localCheckpoint()

        def role(name: str) -> DataFrame:
            return events.where(F.col("role") == name).drop("role")

        return TriggerInputs(
            batch=role("batch"), navigation=role("navigation_events"), orders=role("orders"),
            mailings=role("mailings") if lake.exists(tables.interactions("mailings")) else None,
            seen_logins=self.seen_logins(links).localCheckpoint(), watermark=watermark)

    def account_keys(self, valid: DataFrame) -> DataFrame:
        """``interaction_key, account_key`` of the events whose data names an account."""
        frames = [valid.where(F.col("source") == spec.name).select(
            F.concat(F.lit(f"{spec.name}:"), F.trim("event_id")).alias("interaction_key"),
            F.concat(F.lit(f"{self.accounts}:"),
                     F.trim(F.get_json_object("data", f"$.{spec.identity['account_id']}"))).alias("account_key"))
            for spec in self.specs if self.accounts and "account_id" in spec.identity]
        if not frames:
            return valid.sparkSession.createDataFrame([], "interaction_key string, account_key string")
        return reduce(DataFrame.unionByName, frames).where(F.col("account_key").isNotNull())

    def seen_logins(self, links: DataFrame | None) -> DataFrame:
        """``account_key, seen_time``: when each account was seen logged in on the site, by the stream (its
        links from navigation events) and by the batch (web records that carry the account, at their time)."""
        navigation = [s.name for s in self.specs if s.interactions.table == "navigation_events"]
        frames = []
        if links is not None:
            frames.append(links.where(F.col("source").isin(*navigation)).select(
                F.col("account_record_key").alias("account_key"), F.col("event_time").alias("seen_time")))
        records = self.lake.read_or_none(tables.CUSTOMER_RECORDS)
        if records is not None and self.accounts:
            frames.append(records.where(F.col("source").isin(*navigation) & F.col("account_id").isNotNull()).select(
                F.concat(F.lit(f"{self.accounts}:"), "account_id").alias("account_key"),
                F.col("record_time").alias("seen_time")))
        if not frames:
            return self.lake.spark.createDataFrame([], "account_key string, seen_time timestamp")
        return reduce(DataFrame.unionByName, frames)


#: ops.stream_batches: one row per micro-batch (:class:`BatchReport` and the query it belongs to)
STREAM_BATCH_SCHEMA = StructType([
    StructField("query_id", StringType()), StructField("batch_id", LongType()), StructField("messages", LongType()),
    StructField("quarantined", LongType()), StructField("late", LongType()), StructField("inserted", LongType()),
    StructField("links", LongType()), StructField("fired", LongType()),
    StructField("max_event_time", TimestampType()), StructField("watermark", TimestampType()),
    StructField("seconds", DoubleType()), StructField("processed_at", TimestampType()),
])


def query_id(checkpoint: str | Path) -> str | None:
    """The id of the streaming query whose checkpoint is ``checkpoint`` (None: not started yet)."""
    metadata = Path(checkpoint) / "metadata"
    if not metadata.exists():
        return None
    return json.loads(metadata.read_text().splitlines()[0])["id"]


def start_stream(messages: DataFrame, checkpoint: str | Path, make_batch: Callable[[str], MicroBatch], *,
                 once: bool, trigger_seconds: int = 5) -> StreamingQuery:
    """Start the query that hands each micro-batch of ``messages`` to a :class:`MicroBatch`: available-now with
    ``once`` (what is there now, then stop), else one micro-batch every ``trigger_seconds``.
    ``make_batch(query_id)`` builds it at the first micro-batch, when the checkpoint names the query."""
    made: list[MicroBatch] = []

    def each(df: DataFrame, batch_id: int) -> None:
        if not made:
            made.append(make_batch(query_id(checkpoint)))
        made[0].process(df, batch_id)

    writer = messages.writeStream.foreachBatch(each).option("checkpointLocation", str(checkpoint))
    writer = writer.trigger(availableNow=True) if once else writer.trigger(processingTime=f"{trigger_seconds} seconds")
    return writer.start()
