"""The stream's firings checked against a recomputation in batch, with Spark, from the tables the stream left.

The stream decides micro-batch by micro-batch, in pandas on the driver (:mod:`spark_lib.streaming.rules`); the
recomputation runs the Spark rules of :mod:`spark_lib.streaming.triggers` once on whole tables: every silver
navigation and order row as the events, resolved through the crosswalk and ``silver.stream_identity_links``, the
account of each event read back from its message in ``bronze.stream_events``, and the stream's final watermark.

- **justified**: each firing of gold.trigger_events is one of the recomputed candidates (same key, trigger,
  customer) and its channel is one the customer can be reached on for that trigger now;
- **none missed**: each recomputed candidate that may be sent now (a channel, no objection) has a firing of the
  same trigger to the same customer within the frequency cap (itself, or the one that capped it), or of its key
  (a key fires once: a catalogue per customer and mailing, a welcome per account). Here an event
  is resolved only through the links known at its time (``stream_identity_links.event_time`` not after it): a
  stream cannot fire on a cart whose cookie is revealed by a login days later, which a recomputation with every
  link would count.

Example::

    result = check_firings(lake, load_sources(), load_triggers())
    result.unjustified, result.missed          # both 0 for a correct stream
"""

from __future__ import annotations

from dataclasses import dataclass
from functools import reduce

from pyspark.sql import DataFrame, Window
from pyspark.sql import functions as F

from spark_lib import tables
from spark_lib.config import SourcesConfig
from spark_lib.gold.audiences import contactable
from spark_lib.privacy.footprint import objecting_customers
from spark_lib.privacy.identifiers import lakehouse_key
from spark_lib.storage import Lakehouse
from spark_lib.streaming.events import event_sources
from spark_lib.streaming.state import account_source
from spark_lib.streaming.stream import VALUE_SCHEMA, resolve_customers
from spark_lib.streaming.triggers import TriggerInputs, TriggersConfig, evaluate

COLUMNS = ("interaction_key", "table", "record_key", "event_type", "event_time", "page", "campaign_id")


@dataclass(frozen=True)
class CheckResult:
    """Counts only (see the module docstring)."""

    fired: int
    unjustified: int
    candidates: int
    deliverable: int
    missed: int
    #: trigger -> candidates missed
    missed_per_trigger: dict[str, int]


def account_keys(lake: Lakehouse, sources: SourcesConfig) -> DataFrame:
    """``interaction_key, account_key`` of the messages in bronze.stream_events whose data names an account."""
    accounts = account_source(sources)
    messages = lake.read(tables.STREAM_EVENTS).select(F.from_json("value", VALUE_SCHEMA).alias("m")).select("m.*")
    frames = [messages.where(F.col("source") == spec.name).select(
        F.concat(F.lit(f"{spec.name}:"), F.trim("event_id")).alias("interaction_key"),
        F.trim(F.get_json_object("data", f"$.{spec.identity['account_id']}")).alias("account"))
        for _, spec in event_sources(sources) if accounts and "account_id" in spec.identity]
    if not frames:
        return lake.spark.createDataFrame([], "interaction_key string, account_key string")
    found = reduce(DataFrame.unionByName, frames).where(F.coalesce("account", F.lit("")) != "")
    return found.select("interaction_key", F.concat(F.lit(f"{accounts}:"), "account").alias("account_key")).distinct()


def resolve_as_known(events: DataFrame, crosswalk: DataFrame, links: DataFrame | None) -> DataFrame:
    """``events`` plus ``customer_id`` as :func:`~spark_lib.streaming.stream.resolve_customers` gives it, through
    the links whose time is not after the event's only."""
    resolved = events.join(crosswalk.select("record_key", F.col("customer_id").alias("_own")), "record_key", "left")
    if links is None:
        return resolved.withColumnRenamed("_own", "customer_id")
    known = (links.select(F.col("record_key").alias("_record"), "account_record_key", F.col("event_time").alias("_linked_at"))
             .join(crosswalk.select(F.col("record_key").alias("account_record_key"), F.col("customer_id").alias("_linked")),
                   "account_record_key"))
    pairs = resolved.join(known, (F.col("_record") == F.col("record_key")) & (F.col("_linked_at") <= F.col("event_time")),
                          "left")
    latest = Window.partitionBy("interaction_key").orderBy(F.col("_linked_at").desc_nulls_last(), "account_record_key")
    pairs = pairs.withColumn("_rank", F.row_number().over(latest)).where("_rank = 1")
    return (pairs.withColumn("customer_id", F.coalesce("_own", "_linked"))
            .drop("_own", "_linked", "_record", "_linked_at", "account_record_key", "_rank"))


def batch_candidates(lake: Lakehouse, sources: SourcesConfig, config: TriggersConfig, as_known: bool = False) -> DataFrame:
    """Every trigger's candidates recomputed in batch from the tables (see the module docstring); ``as_known``:
    each event resolved through the links known at its time only."""
    crosswalk, links = lake.read(tables.CROSSWALK), lake.read_or_none(tables.STREAM_IDENTITY_LINKS)
    watermark = lake.read(tables.STREAM_BATCHES).agg(F.max("watermark")).first()[0]
    rows = reduce(DataFrame.unionByName, [
        lake.read(tables.interactions(name)).select(F.lit(name).alias("table"), *COLUMNS[:1], *COLUMNS[2:])
        for name in ("navigation_events", "orders") if lake.exists(tables.interactions(name))])
    resolve = resolve_as_known if as_known else resolve_customers
    events = resolve(rows.join(account_keys(lake, sources), "interaction_key", "left"), crosswalk, links)
    events = events.localCheckpoint()
    mailings = None
    if lake.exists(tables.interactions("mailings")):
        mailings = resolve_customers(lake.read(tables.interactions("mailings")).select(
            F.lit("mailings").alias("table"), *COLUMNS[:1], *COLUMNS[2:], F.lit(None).cast("string").alias("account_key")),
            crosswalk, links)
    navigation = {s.name for _, s in event_sources(sources) if s.interactions.table == "navigation_events"}
    seen = []
    if links is not None:
        seen.append(links.where(F.col("source").isin(*navigation)).select(
            F.col("account_record_key").alias("account_key"), F.col("event_time").alias("seen_time")))
    accounts = account_source(sources)
    if lake.exists(tables.CUSTOMER_RECORDS) and accounts:
        seen.append(lake.read(tables.CUSTOMER_RECORDS).where(
            F.col("source").isin(*navigation) & F.col("account_id").isNotNull()).select(
            F.concat(F.lit(f"{accounts}:"), "account_id").alias("account_key"), F.col("record_time").alias("seen_time")))
    seen_logins = (reduce(DataFrame.unionByName, seen) if seen
                   else lake.spark.createDataFrame([], "account_key string, seen_time timestamp"))
    inputs = TriggerInputs(batch=events, navigation=events.where(F.col("table") == "navigation_events"),
                           orders=events.where(F.col("table") == "orders"), mailings=mailings,
                           seen_logins=seen_logins, watermark=watermark)
    return evaluate(config, inputs)


def check_firings(lake: Lakehouse, sources: SourcesConfig, config: TriggersConfig) -> CheckResult:
    """gold.trigger_events against :func:`batch_candidates` (see the module docstring)."""
    fired = lake.read(tables.TRIGGER_EVENTS).localCheckpoint()
    customers = lake.read(tables.CUSTOMER)
    channel = F.coalesce(*[F.when(F.col("trigger") == t.name, F.coalesce(*[F.when(contactable(c), F.lit(c))
                                                                           for c in t.channels]))
                           for t in config.triggers])

    def reachable(candidates: DataFrame) -> DataFrame:
        return candidates.join(customers, "customer_id").select(
            "trigger_key", "trigger", "customer_id", "event_time", channel.alias("channel")).where(F.col("channel").isNotNull())

    candidates = batch_candidates(lake, sources, config).localCheckpoint()
    justified = fired.join(reachable(candidates).select("trigger_key", "trigger", "customer_id", "channel").distinct(),
                           ["trigger_key", "trigger", "customer_id", "channel"], "left_semi")
    wanted = reachable(batch_candidates(lake, sources, config, as_known=True))
    if lake.exists(tables.OBJECTIONS):
        objecting = objecting_customers(lake.read(tables.CROSSWALK), customers, lake.read(tables.OBJECTIONS),
                                        lakehouse_key(lake.root))
        wanted = wanted.join(objecting, "customer_id", "left_anti")
    cap = int(config.stream.frequency_cap_hours * 3600)
    made = fired.select(F.col("trigger_key").alias("fired_key"), "trigger", "customer_id",
                        F.col("event_time").alias("fired_time")).alias("f")
    covered = ((F.col("f.trigger") == F.col("w.trigger")) & (F.col("f.customer_id") == F.col("w.customer_id"))
               & ((F.abs(F.unix_timestamp("f.fired_time") - F.unix_timestamp("w.event_time")) < cap)
                  | (F.col("fired_key") == F.col("w.trigger_key"))))
    wanted = wanted.localCheckpoint()
    missed = {row.trigger: row["count"] for row in wanted.alias("w").join(made, covered, "left_anti").groupBy("trigger").count().collect()}
    total = fired.count()
    return CheckResult(fired=total, unjustified=total - justified.count(), candidates=candidates.count(),
                       deliverable=wanted.count(), missed=sum(missed.values()), missed_per_trigger=missed)
