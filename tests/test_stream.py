"""The stream (``rcu stream``): hand-made online events of a few customers, as ``rcu replay`` sends them, through
one micro-batch at a time (``MicroBatch.process``, what foreachBatch calls) and through the job itself, from a
real Kafka broker (one for the module) and from a landing folder. Every firing expected is listed.

A micro-batch takes a few seconds, but the tests that run them start brokers, streams and processes (minutes in
all): they are ``slow`` (``make test-slow``); ``make test`` runs the configuration and status tests.

The customers (gold.customer_crosswalk and gold.customer written by hand, as the batch would):

- Alice: account A1 (eshop_accounts:A1); her cookie ck-alice is unknown to the batch until she logs in: her first
  login (welcome), a cart and no order (cart_abandoned); a second cart the next hour is capped;
- Bob: cookie ck-bob; a catalogue mailed 5 days before his visit (catalogue_visit); a cart, then an order on his
  account B1 within 10 minutes: no cart_abandoned;
- Carl (no consent) and Dora (objected to marketing) abandon carts: nothing fired;
- Eve: 3 pages of /categorie/jardin within 3 minutes (browse_intent);
- Fay: first login (welcome); she objects before micro-batch 2, whose browse of hers fires nothing;
- Gus: browses in micro-batch 2 (browse_intent).
"""

from __future__ import annotations

import datetime as dt
import json
import os
import re
import signal
import subprocess
import sys
import threading
import time
from pathlib import Path

import pandas as pd
import pytest
from pyspark.sql import functions as F

from spark_lib import tables
from spark_lib.config import EVENT_KINDS, TopicsConfig, load_sources
from spark_lib.lock import STREAM_COMMAND, LakehouseBusyError, LakehouseLock
from spark_lib.privacy.identifiers import identifier_hash, lakehouse_key
from spark_lib.storage import Lakehouse
from spark_lib.streaming import KafkaBroker
from jobs import stream as stream_job
from spark_lib.streaming.events import event_sources, to_event
from spark_lib.streaming.kafka_client import EventProducer, create_topics, read_topic
from spark_lib.streaming.check import check_firings
from spark_lib.streaming.rules import deliverable, epoch_seconds
from spark_lib.streaming.stream import MicroBatch, resolve_customers
from spark_lib.config import DEFAULT_CONF_DIR, ConfigError
from spark_lib.streaming.status import committed_offsets
from spark_lib.streaming.triggers import load_triggers

T0 = dt.datetime(2026, 10, 31, 10, 0, 0)
SOURCES = load_sources()
SPECS = {spec.name: (kind, spec) for kind, spec in event_sources(SOURCES)}
CUSTOMERS = {  # customer id: (records, consent_email)
    "C-ALICE-01": (["eshop_accounts:A1"], True),
    "C-BOB-0002": (["web_events:ck-bob", "eshop_accounts:B1", "catalogue_mailings:m-bob"], True),
    "C-CARL-003": (["web_events:ck-carl"], False),
    "C-DORA-004": (["web_events:ck-dora"], True),
    "C-EVE-0005": (["web_events:ck-eve"], True),
    "C-FAY-0006": (["eshop_accounts:F1"], True),
    "C-GUS-0007": (["web_events:ck-gus"], True),
}


def at(minutes: float) -> str:
    return (T0 + dt.timedelta(minutes=minutes)).isoformat()


def nav(event_id: str, cookie: str, minutes: float, event_type: str = "page_view", page: str = "/",
        account: str | None = None) -> tuple[str, str]:
    row = {"event_id": event_id, "cookie_id": cookie, "account_id": account, "ts": at(minutes),
           "event_type": event_type, "page": page, "product_id": None, "device": "mobile"}
    return message("web_events", row)


def order(order_id: str, account: str, minutes: float) -> tuple[str, str]:
    row = {"order_id": order_id, "account_id": account, "created_at": at(minutes), "status": "completed",
           "total_amount": "59,90", "item_count": "2", "shipping": {"first_name": "X", "city": "Y"}}
    return message("eshop_orders", row)


def message(source: str, row: dict) -> tuple[str, str]:
    """(kind, JSON value) of a source row, exactly as ``rcu replay`` sends it."""
    kind, spec = SPECS[source]
    event = to_event(kind, spec, row)
    return kind, event.value


def browse(prefix: str, cookie: str, start: float, category: str = "jardin") -> list[tuple[str, str]]:
    return [nav(f"{prefix}{i}", cookie, start + i, page=f"/categorie/{category}") for i in range(3)]


EMAIL_OPEN = message("email_events", {"id_evenement": "em-1", "horodatage": at(9), "type_evenement": "open",
                                      "campagne": "NL_OCT", "id_contact": "ct-1", "email": "x@example.org"})
BROKEN = [("navigation", '{"event_id": "ev-cut", "event_ti'),
          ("navigation", json.dumps({"event_time": "2026-10-31T10:00:00Z", "source": "web_events", "record_id": "ck"})),
          ("orders", json.dumps({"event_id": "ev-t", "event_time": "31/10/2026 10h00", "source": "eshop_orders",
                                 "record_id": "O-9"}))]
BATCH_1 = [
    nav("ev-a1", "ck-alice", 0), nav("ev-a2", "ck-alice", 1, "login", "/compte/connexion", account="A1"),
    nav("ev-a3", "ck-alice", 2, "add_to_cart", "/panier"),
    nav("ev-b1", "ck-bob", 3, page="/nouveautes"), nav("ev-b1", "ck-bob", 3, page="/nouveautes"),   # a duplicate
    nav("ev-b2", "ck-bob", 4, "add_to_cart", "/panier"), order("O-1", "B1", 10),
    nav("ev-c1", "ck-carl", 5, "add_to_cart", "/panier"), nav("ev-d1", "ck-dora", 5, "add_to_cart", "/panier"),
    *browse("ev-e", "ck-eve", 6), EMAIL_OPEN,
    nav("ev-fay", "ck-fay", 30, "login", "/compte/connexion", account="F1"),
    nav("ev-z1", "ck-zed", 120),   # an unknown visitor two hours on: the watermark passes the carts' 30 minutes
    *BROKEN,
]
BATCH_2 = [
    nav("ev-late", "ck-bob", 20),   # behind the watermark (02:00 - 30 min): 70 minutes late
    nav("ev-a4", "ck-alice", 130, "add_to_cart", "/panier"),   # capped: Alice's cart fired 2 hours ago
    nav("ev-a5", "ck-alice2", 135, "login", "/compte/connexion", account="A1"),   # not her first login
    *browse("ev-f", "ck-fay", 140), *browse("ev-g", "ck-gus", 140, "deco"),
    nav("ev-z2", "ck-zed", 240),
]
#: trigger, customer of every firing, per micro-batch
FIRED_1 = {("welcome", "C-ALICE-01"), ("cart_abandoned", "C-ALICE-01"), ("catalogue_visit", "C-BOB-0002"),
           ("browse_intent", "C-EVE-0005"), ("welcome", "C-FAY-0006")}
FIRED_2 = {("browse_intent", "C-GUS-0007")}


def messages_df(spark, batch: list[tuple[str, str]], offset: int = 0):
    """The messages as the Kafka source gives them (one partition per kind's topic)."""
    topics = TopicsConfig()
    rows = [(topics.of(kind), 0, offset + i, T0, None, value.encode()) for i, (kind, value) in enumerate(batch)]
    return spark.createDataFrame(rows, "topic string, partition int, offset long, timestamp timestamp, "
                                       "key binary, value binary")


def batch_tables(lake: Lakehouse) -> None:
    """What the batch left: the crosswalk, the golden records, Bob's catalogue, Dora's objection."""
    spark = lake.spark
    crosswalk = [(record, customer) for customer, (records, _) in CUSTOMERS.items() for record in records]
    lake.overwrite(spark.createDataFrame(crosswalk, "record_key string, customer_id string"), tables.CROSSWALK)
    golden = [(customer, f"{customer.lower()}@example.org", None, None, None, None, consent, False, False)
              for customer, (_, consent) in CUSTOMERS.items()]
    lake.overwrite(spark.createDataFrame(golden, "customer_id string, email string, phone_mobile string, "
                                                 "street string, postcode string, city string, consent_email boolean, "
                                                 "consent_sms boolean, consent_postal boolean"), tables.CUSTOMER)
    mailing = spark.createDataFrame(
        [("catalogue_mailings:m-1", "catalogue_mailings", "m-1", "catalogue_mailings:m-bob", "offline",
          T0 - dt.timedelta(days=5), "catalogue_sent", "CAT-AUTOMNE", T0)],
        "interaction_key string, source string, event_id string, record_key string, channel string, "
        "event_time timestamp, event_type string, campaign_id string, ingested_at timestamp")
    lake.overwrite(mailing.select(*[F.col(f.name).cast(f.dataType) if f.name in mailing.columns
                                    else F.lit(None).cast(f.dataType).alias(f.name)
                                    for f in tables.interactions("mailings").schema.fields]),
                   tables.interactions("mailings"))
    object_to_marketing(lake, "C-DORA-004")


def object_to_marketing(lake: Lakehouse, customer: str) -> None:
    key = lakehouse_key(lake.root)
    row = [(f"req-{customer}", identifier_hash("id", customer, key), "id")]
    lake.append(lake.spark.createDataFrame(row, "request_id string, hash string, kind string"), tables.OBJECTIONS)


def fired(lake: Lakehouse) -> set[tuple[str, str]]:
    return {(r.trigger, r.customer_id) for r in lake.read(tables.TRIGGER_EVENTS).collect()}


def snapshot(lake: Lakehouse) -> dict[str, list]:
    """Every stream table's keys (and the firings' ids), sorted: what a replay must leave unchanged."""
    found = {}
    for table in (*tables.STREAM_TABLES, tables.QUARANTINE, *[tables.interactions(t) for t in EVENT_KINDS.values()]):
        if lake.exists(table):
            keys = list(table.keys) or ["source_file", "reason"]
            found[table] = sorted(tuple(r) for r in lake.read(table).select(*keys).collect())
    return found


def test_the_triggers_file_declares_the_four_rules_and_the_stream_settings():
    config = load_triggers()
    assert {t.name: t.rule for t in config.triggers} == {"cart_abandoned": "cart_abandoned",
                                                         "catalogue_visit": "catalogue_visit",
                                                         "welcome": "first_login", "browse_intent": "browse_intent"}
    assert [t.window for t in config.triggers if t.within] == [dt.timedelta(minutes=30), dt.timedelta(days=14),
                                                              dt.timedelta(minutes=30)]
    assert (config.stream.watermark_minutes, config.stream.frequency_cap_hours) == (30, 24)


@pytest.mark.parametrize("change, message", [
    ({"cancel_event_types": []}, "triggers.cart_abandoned.cancel_event_types: the rule cart_abandoned needs it"),
    ({"within": "half an hour"}, "triggers.cart_abandoned.within: expected '<N> minutes|hours|days'"),
    ({"channels": ["fax"]}, "triggers.cart_abandoned.channels: expected some of email, sms, postal"),
    ({"wait": 3}, "triggers.cart_abandoned: unknown key 'wait'"),
])
def test_a_wrong_trigger_is_an_error_naming_the_file_and_the_key(tmp_path, change, message):
    import yaml

    data = yaml.safe_load((DEFAULT_CONF_DIR / "triggers.yaml").read_text())
    data["triggers"]["cart_abandoned"].update(change)
    path = tmp_path / "triggers.yaml"
    path.write_text(yaml.safe_dump(data))
    with pytest.raises(ConfigError, match=re.escape(f"{path}: {message}")):
        load_triggers(path)


def test_the_status_reads_the_offsets_of_the_last_finished_micro_batch(tmp_path):
    for batch, offsets in [(0, {"rcu.orders": {"0": 4}}), (1, {"rcu.orders": {"0": 9, "1": 2}})]:
        (tmp_path / "offsets").mkdir(exist_ok=True)
        (tmp_path / "offsets" / str(batch)).write_text(f'v1\n{{"batchWatermarkMs":0}}\n{json.dumps(offsets)}\n')
    (tmp_path / "commits").mkdir()
    (tmp_path / "commits" / "0").write_text("v1\n{}\n")
    assert committed_offsets(tmp_path) == (0, {"rcu.orders": {0: 4}})   # batch 1 started, not finished
    (tmp_path / "commits" / "1").write_text("v1\n{}\n")
    assert committed_offsets(tmp_path) == (1, {"rcu.orders": {0: 9, 1: 2}})


def test_the_frequency_cap_leaves_out_the_candidates_near_a_firing_and_keeps_the_next_one():
    """Bob's cart of 09:00 is 1 hour from the one that fired at 08:00 (capped); his cart of the next day fires.
    Carl cannot be reached on a consented channel; Alice's two carts 5 minutes apart give one firing, Eve's two
    carts a day apart in one micro-batch give two. Bob's catalogue m-1 fired days ago: a key fires once; his
    catalogue m-2 fires."""
    config = load_triggers()
    day, hour = dt.timedelta(days=1), dt.timedelta(hours=1)
    candidates = pd.DataFrame(
        [("cart_abandoned:b1", "cart_abandoned", "C-BOB-0002", T0 - hour, "r"),
         ("cart_abandoned:b2", "cart_abandoned", "C-BOB-0002", T0 + day + 2 * hour, "r"),
         ("cart_abandoned:c1", "cart_abandoned", "C-CARL-003", T0, "r"),
         ("cart_abandoned:a1", "cart_abandoned", "C-ALICE-01", T0 + dt.timedelta(minutes=5), "r"),
         ("cart_abandoned:a2", "cart_abandoned", "C-ALICE-01", T0, "r"),
         ("cart_abandoned:e1", "cart_abandoned", "C-EVE-0005", T0, "r"),
         ("cart_abandoned:e2", "cart_abandoned", "C-EVE-0005", T0 + day + hour, "r"),
         ("catalogue_visit:C-BOB-0002:m-1", "catalogue_visit", "C-BOB-0002", T0, "r"),
         ("catalogue_visit:C-BOB-0002:m-2", "catalogue_visit", "C-BOB-0002", T0, "r")],
        columns=["trigger_key", "trigger", "customer_id", "event_time", "reason"])
    channels = {t.name: {c: "email" for c, (_, consent) in CUSTOMERS.items() if consent} for t in config.triggers}
    fired = {("cart_abandoned", "C-BOB-0002"): [epoch_seconds(T0 - 2 * hour)],
             ("catalogue_visit", "C-BOB-0002"): [epoch_seconds(T0 - 3 * day)]}
    kept = deliverable(candidates, config, channels, set(), fired, {"catalogue_visit:C-BOB-0002:m-1"})
    assert sorted(zip(kept["trigger_key"], kept["channel"])) == [
        ("cart_abandoned:a2", "email"), ("cart_abandoned:b2", "email"), ("cart_abandoned:e1", "email"),
        ("cart_abandoned:e2", "email"), ("catalogue_visit:C-BOB-0002:m-2", "email")]
    assert fired[("cart_abandoned", "C-BOB-0002")] == [epoch_seconds(T0 - 2 * hour)]   # the caller's state untouched


@pytest.fixture(scope="module")
def direct(spark, tmp_path_factory):
    """Both micro-batches processed directly, each one twice (a replay after a kill): the lakehouse, the
    snapshots after each first and each replayed run, and the reports."""
    lake = Lakehouse(spark, str(tmp_path_factory.mktemp("stream-direct") / "lakehouse"))
    batch_tables(lake)
    batch = MicroBatch(lake, SOURCES, load_triggers(), query_id="query-1")
    shots = []
    for batch_id, (messages, offset) in enumerate([(BATCH_1, 0), (BATCH_2, 100)]):
        if batch_id == 1:
            object_to_marketing(lake, "C-FAY-0006")
        for _ in range(2):
            batch.process(messages_df(spark, messages, offset), batch_id)
            shots.append(snapshot(lake))
    return lake, shots, batch.reports


@pytest.mark.slow
def test_every_message_lands_once_in_bronze_and_each_event_once_in_silver(direct):
    lake, _, reports = direct
    assert lake.read(tables.STREAM_EVENTS).count() == len(BATCH_1) + len(BATCH_2)
    navigation = lake.read(tables.interactions("navigation_events"))
    assert navigation.where("event_id = 'ev-b1'").count() == 1          # sent twice
    assert navigation.count() == 12 + 9                                 # batch 2's late event is not in silver
    assert lake.read(tables.interactions("orders")).select("interaction_key", "amount").collect() == [("eshop_orders:O-1", 59.9)]
    assert lake.read(tables.interactions("campaign_events")).select("interaction_key").collect() == [("email_events:em-1",)]
    assert [(r.messages, r.quarantined, r.late) for r in reports] == [(18, 3, 0), (18, 3, 0), (10, 0, 1), (10, 0, 1)]


@pytest.mark.slow
def test_silver_rows_are_those_the_batch_standardisation_gives(direct, spark):
    from spark_lib.silver import interactions

    lake, _, _ = direct
    _, spec = SPECS["web_events"]
    data = [json.dumps(json.loads(value)["data"]) for _, value in BATCH_1[:3]]
    raw = spark.read.json(spark.sparkContext.parallelize(data)).withColumn("_ingested_at", F.lit(T0))
    batch_rows = interactions(raw, spec).drop("ingested_at")
    stream_rows = lake.read(tables.interactions("navigation_events")).where(F.col("event_id").isin("ev-a1", "ev-a2", "ev-a3"))
    assert sorted(batch_rows.collect()) == sorted(stream_rows.drop("ingested_at").collect())


@pytest.mark.slow
def test_malformed_messages_go_to_quarantine_with_their_reason(direct):
    lake, _, _ = direct
    rows = lake.read(tables.QUARANTINE).select("reason", "source_file").collect()
    assert sorted(r.reason for r in rows) == ["bad_event_time", "bad_json", "no_event_id"]
    assert all(r.source_file.startswith("stream:rcu.") for r in rows)


@pytest.mark.slow
def test_an_event_behind_the_watermark_goes_to_the_late_table_with_how_late(direct):
    lake, _, _ = direct
    late = lake.read(tables.LATE_EVENTS).select("event_id", "seconds_late", "watermark").collect()
    assert late == [("ev-late", 70 * 60, T0 + dt.timedelta(minutes=90))]


@pytest.mark.slow
def test_a_login_links_the_cookie_and_its_events_before_and_after_resolve_to_the_customer(direct):
    lake, _, _ = direct
    links = lake.read(tables.STREAM_IDENTITY_LINKS).select("record_key", "account_record_key", "customer_id")
    assert ("web_events:ck-alice", "eshop_accounts:A1", "C-ALICE-01") in links.collect()
    resolved = resolve_customers(lake.read(tables.interactions("navigation_events")), lake.read(tables.CROSSWALK),
                                 lake.read(tables.STREAM_IDENTITY_LINKS))
    alice = resolved.where(F.col("record_key").isin("web_events:ck-alice", "web_events:ck-alice2"))
    assert sorted((r.event_id, r.customer_id) for r in alice.collect()) == [
        ("ev-a1", "C-ALICE-01"), ("ev-a2", "C-ALICE-01"), ("ev-a3", "C-ALICE-01"), ("ev-a4", "C-ALICE-01"),
        ("ev-a5", "C-ALICE-01")]


@pytest.mark.slow
def test_each_trigger_fires_exactly_when_its_events_justify_it(direct):
    lake, _, _ = direct
    rows = lake.read(tables.TRIGGER_EVENTS).collect()
    assert {(r.trigger, r.customer_id) for r in rows} == FIRED_1 | FIRED_2
    assert {r.channel for r in rows} == {"email"}
    by_key = {r.trigger_key: r for r in rows}
    assert by_key["cart_abandoned:web_events:ev-a3"].event_time == T0 + dt.timedelta(minutes=2)
    assert by_key["welcome:eshop_accounts:A1"].batch_id == 0
    assert by_key["browse_intent:web_events:ev-g2"].reason.startswith("3 pages of deco within 30 minutes")
    assert "CAT-AUTOMNE" in by_key["catalogue_visit:C-BOB-0002:catalogue_mailings:m-1"].reason


def test_a_first_micro_batch_holding_weeks_of_a_backlog_decides_its_earliest_carts(spark, tmp_path):
    """A stream started on a backlog reads weeks of events in its first micro-batch: Alice's cart of the first
    minutes is decided with the rest, though the watermark ends three weeks later."""
    lake = Lakehouse(spark, str(tmp_path / "lakehouse"))
    batch_tables(lake)
    backlog = [nav("ev-a1", "ck-alice", 0), nav("ev-a2", "ck-alice", 1, "login", "/compte/connexion", account="A1"),
               nav("ev-a3", "ck-alice", 2, "add_to_cart", "/panier"), nav("ev-z1", "ck-zed", 21 * 24 * 60)]
    MicroBatch(lake, SOURCES, load_triggers(), query_id="query-backlog").process(messages_df(spark, backlog), 0)
    assert ("cart_abandoned", "C-ALICE-01") in fired(lake)


@pytest.mark.slow
def test_a_replayed_micro_batch_writes_nothing_twice(direct):
    _, shots, _ = direct
    assert shots[0] == shots[1] and shots[2] == shots[3]
    assert shots[0] != shots[2]


@pytest.mark.slow
def test_the_firings_are_those_a_recomputation_in_batch_from_silver_justifies(direct):
    """The stream's rules (pandas, micro-batch by micro-batch) against the Spark rules on the whole tables."""
    lake, _, _ = direct
    result = check_firings(lake, SOURCES, load_triggers())
    assert (result.fired, result.unjustified, result.missed) == (len(FIRED_1 | FIRED_2), 0, 0)


@pytest.mark.slow
def test_a_micro_batch_after_a_restart_decides_what_one_that_never_stopped_does(spark, direct, tmp_path):
    """Micro-batch 1 by a new MicroBatch, whose memory (links, silver look-back, firings, watermark) is rebuilt
    from Delta, writes the rows the direct run's did."""
    lake = Lakehouse(spark, str(tmp_path / "lakehouse"))
    batch_tables(lake)
    MicroBatch(lake, SOURCES, load_triggers(), query_id="query-1").process(messages_df(spark, BATCH_1), 0)
    object_to_marketing(lake, "C-FAY-0006")
    MicroBatch(lake, SOURCES, load_triggers(), query_id="query-1").process(messages_df(spark, BATCH_2, 100), 1)
    same_rows(lake, direct[0])


# the job itself: rcu stream --once from Kafka, then from a landing folder -------------------------------------------


@pytest.fixture(scope="module")
def broker(tmp_path_factory):
    """One broker for the module: starting one costs seconds."""
    with KafkaBroker(tmp_path_factory.mktemp("kafka"), port=0) as running:
        yield running


def run_twice(spark, root: Path, send, extra: list[str]) -> Lakehouse:
    """``rcu stream --once`` after each micro-batch's messages are sent (Fay's objection between them), then once
    more with nothing new: the lakehouse."""
    lake = Lakehouse(spark, str(root / "lakehouse"))
    batch_tables(lake)
    for number, messages in enumerate([BATCH_1, BATCH_2]):
        if number == 1:
            object_to_marketing(lake, "C-FAY-0006")
        send(number, messages)
        stream_job.main(["--lakehouse", lake.root, "--once", *extra])
    before = snapshot(lake)
    stream_job.main(["--lakehouse", lake.root, "--once", *extra])   # a restart over the same input
    assert snapshot(lake) == before
    return lake


def kafka_sender(servers: str, prefix: str):
    """A function that publishes messages (kind, JSON value) to the topics of ``prefix``, created here."""
    topics = TopicsConfig.with_prefix(prefix)
    create_topics(servers, [topics.of(kind) for kind in EVENT_KINDS], partitions=1)

    def send(messages: list[tuple[str, str]]) -> None:
        with EventProducer(servers) as producer:
            for kind, value in messages:
                producer.send(topics.of(kind), None, value.encode())
            producer.flush()

    return send


def stream_process(args: list[str], tmp_path: Path) -> subprocess.Popen:
    """``rcu stream`` with ``args`` in its own process group (a micro-batch a second), logging to stream.log."""
    env = {**os.environ, "RCU_DRIVER_MEMORY": "1g", "RCU_WAREHOUSE_DIR": str(tmp_path / "warehouse")}
    with open(tmp_path / "stream.log", "wb") as log:
        return subprocess.Popen([sys.executable, "-m", "jobs.cli", "stream", *args, "--trigger-seconds", "1"],
                                stdout=log, stderr=subprocess.STDOUT, env=env, start_new_session=True)


def same_rows(lake: Lakehouse, expected: Lakehouse) -> None:
    """The silver events, late events and firings of ``lake`` are those of ``expected``."""
    for table, columns in [(tables.interactions("navigation_events"), ["interaction_key", "record_key", "event_time"]),
                           (tables.interactions("orders"), ["interaction_key", "amount"]),
                           (tables.LATE_EVENTS, ["event_id", "seconds_late"]),
                           (tables.STREAM_IDENTITY_LINKS, ["record_key", "account_record_key", "customer_id"]),
                           (tables.TRIGGER_EVENTS, ["trigger_key", "customer_id", "channel", "reason", "batch_id"])]:
        assert sorted(lake.read(table).select(*columns).collect()) == sorted(expected.read(table).select(*columns).collect()), table


@pytest.mark.slow
def test_the_job_from_kafka_gives_the_rows_of_the_micro_batches_and_restarts_without_writing_twice(
        spark, broker, direct, tmp_path, capsys):
    servers = broker.bootstrap_servers
    send = kafka_sender(servers, "k1.")
    args = ["--bootstrap-servers", servers, "--topic-prefix", "k1."]
    lake = run_twice(spark, tmp_path, lambda _, messages: send(messages), args)
    same_rows(lake, direct[0])
    assert lake.read(tables.STREAM_EVENTS).count() == len(BATCH_1) + len(BATCH_2)
    published = read_topic(servers, "rcu.triggers")
    assert sorted(m.key for m in published) == sorted(r.trigger_key for r in lake.read(tables.TRIGGER_EVENTS).collect())
    capsys.readouterr()
    status = stream_job.main(["--lakehouse", lake.root, "--status", *args])
    assert status.committed_batch == 1 and set(status.lag.values()) == {0}
    assert status.rows[tables.TRIGGER_EVENTS] == len(FIRED_1 | FIRED_2)
    assert status.last_batch["batch_id"] == 1 and status.last_batch["messages"] == len(BATCH_2)
    assert "lag k1.navigation: 0 message(s)" in capsys.readouterr().out


@pytest.mark.slow
def test_the_job_from_a_folder_gives_the_rows_of_kafka(spark, direct, tmp_path):
    landing, out = tmp_path / "landing", tmp_path / "out"
    landing.mkdir()

    def send(number, messages):
        (landing / f"batch-{number}.jsonl").write_text("".join(f"{value}\n" for _, value in messages))

    lake = run_twice(spark, tmp_path, send, ["--from-folder", str(landing), "--out-dir", str(out)])
    same_rows(lake, direct[0])
    written = [json.loads(line) for path in sorted(out.glob("*.jsonl")) for line in path.read_text().splitlines()]
    assert sorted(w["trigger_key"] for w in written) == sorted(r.trigger_key for r in lake.read(tables.TRIGGER_EVENTS).collect())


@pytest.mark.slow
def test_a_stream_killed_in_a_micro_batch_and_restarted_writes_nothing_twice(spark, broker, direct, tmp_path):
    """``rcu stream`` in its own process, SIGKILLed once its first micro-batch has written bronze and some silver,
    then restarted (``--once``): the micro-batch replayed, then the next one, give the rows of the direct run."""
    servers = broker.bootstrap_servers
    send = kafka_sender(servers, "k2.")
    lake = Lakehouse(spark, str(tmp_path / "lakehouse"))
    batch_tables(lake)
    send(BATCH_1)
    args = ["--lakehouse", lake.root, "--bootstrap-servers", servers, "--topic-prefix", "k2."]
    job = stream_process(args, tmp_path)
    try:
        silver = Path(lake.path(tables.interactions("navigation_events"))) / "_delta_log"
        deadline = time.monotonic() + 300
        while not silver.is_dir() and job.poll() is None and time.monotonic() < deadline:
            time.sleep(0.2)
    finally:
        os.killpg(job.pid, signal.SIGKILL)   # the job's Python and its Spark JVM
        job.wait()
    assert silver.is_dir() and not lake.exists(tables.STREAM_BATCHES), "not killed inside its first micro-batch"
    stream_job.main([*args, "--once"])   # micro-batch 0 again
    object_to_marketing(lake, "C-FAY-0006")
    send(BATCH_2)
    stream_job.main([*args, "--once"])
    same_rows(lake, direct[0])
    assert lake.read(tables.STREAM_EVENTS).count() == len(BATCH_1) + len(BATCH_2)
    assert sorted(lake.read(tables.STREAM_BATCHES).select("batch_id").collect()) == [(0,), (1,)]


@pytest.mark.slow
def test_a_broker_restarted_under_a_running_stream_loses_nothing_and_fires_nothing_twice(spark, direct, tmp_path):
    """``rcu stream`` runs (a micro-batch a second) while its broker is stopped after the first delivery and
    started again before the second: the stream rides over the outage and ends with the rows of the direct run,
    each firing published."""
    kafka = KafkaBroker(tmp_path / "kafka", port=0)
    kafka.start()
    servers = kafka.bootstrap_servers
    send = kafka_sender(servers, "k3.")
    lake = Lakehouse(spark, str(tmp_path / "lakehouse"))
    batch_tables(lake)
    send(BATCH_1)
    args = ["--lakehouse", lake.root, "--bootstrap-servers", servers, "--topic-prefix", "k3."]

    def wait_for_batches(count: int) -> None:
        deadline = time.monotonic() + 300
        while job.poll() is None and time.monotonic() < deadline:
            if lake.exists(tables.STREAM_BATCHES) and lake.read(tables.STREAM_BATCHES).count() >= count:
                return
            time.sleep(1)
        raise AssertionError(f"no micro-batch {count} (exit code {job.poll()}): {(tmp_path / 'stream.log').read_text()[-3000:]}")

    job = stream_process(args, tmp_path)
    try:
        wait_for_batches(1)
        kafka.stop()
        time.sleep(10)   # the stream polls a broker that is not there
        KafkaBroker(tmp_path / "kafka").start()   # the same folder and port
        object_to_marketing(lake, "C-FAY-0006")
        send(BATCH_2)
        wait_for_batches(2)
        published = read_topic(servers, "rcu.triggers")
    finally:
        os.killpg(job.pid, signal.SIGKILL)
        job.wait()
        KafkaBroker(tmp_path / "kafka").stop()
    same_rows(lake, direct[0])
    assert lake.read(tables.STREAM_EVENTS).count() == len(BATCH_1) + len(BATCH_2)
    assert sorted(m.key for m in published) == sorted(r.trigger_key for r in lake.read(tables.TRIGGER_EVENTS).collect())


def test_a_micro_batch_commits_only_once_a_batch_run_has_released_the_lakehouse(spark, tmp_path):
    """``rcu run-all`` holds the lakehouse lock: the micro-batch waits for it (the stream lags), then writes
    everything; no commit of the stream races the batch's MERGE into the silver tables."""
    lake = Lakehouse(spark, str(tmp_path / "lakehouse"))
    batch_tables(lake)
    held, written_while_held = threading.Event(), []
    bronze_log = Path(lake.path(tables.STREAM_EVENTS)) / "_delta_log"

    def batch_run():
        with LakehouseLock(lake.root, "rcu run-all"):
            held.set()
            until = time.monotonic() + 10   # longer than the micro-batch's Spark query before its first commit
            while time.monotonic() < until:
                written_while_held.append(bronze_log.exists())
                time.sleep(0.2)

    batch = threading.Thread(target=batch_run)
    batch.start()
    held.wait()
    MicroBatch(lake, SOURCES, load_triggers(), query_id="query-lock").process(messages_df(spark, BATCH_1), 0)
    batch.join()
    assert written_while_held and not any(written_while_held)
    assert lake.read(tables.STREAM_EVENTS).count() == len(BATCH_1) and fired(lake) == FIRED_1


def test_a_batch_run_waits_for_the_stream_s_micro_batch_but_not_for_another_run(tmp_path):
    root = str(tmp_path / "lakehouse")

    def holding(command: str) -> threading.Thread:
        ready = threading.Event()

        def hold():
            with LakehouseLock(root, command):
                ready.set()
                time.sleep(1.5)

        thread = threading.Thread(target=hold)
        thread.start()
        ready.wait()
        return thread

    stream_holds = holding(STREAM_COMMAND)
    with LakehouseLock(root, "rcu match", wait_seconds=0):   # waits for the micro-batch's commits
        pass
    stream_holds.join()
    run_holds = holding("rcu run-all")
    with pytest.raises(LakehouseBusyError, match="rcu run-all"):
        LakehouseLock(root, "rcu match", wait_seconds=0).acquire()
    run_holds.join()
