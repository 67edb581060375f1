"""The project's Kafka broker and the replay of online events: one real broker for the module (127.0.0.1, a free
port), a raw folder of 300 generated persons, every message read back from the topics."""

from __future__ import annotations

import datetime as dt
import json
import re
from collections import Counter, defaultdict
from pathlib import Path

import psutil
import pytest

from jobs import kafka_broker, replay as replay_job
from spark_lib.config import EVENT_KINDS, TopicsConfig, load_sources
from spark_lib.session import DEFAULT_JARS_DIR, delta_jars, kafka_connector_jars
from spark_lib.streaming import Disorder, KafkaBroker, plan_replay, publish, read_online_events
from spark_lib.streaming.broker import port_open
from spark_lib.streaming.kafka_client import read_topic
from spark_lib.streaming.replay import FLAWS

#: the first events of the raw folder replayed by the module's main test
LIMIT = 1500
RATE = 1000.0


@pytest.fixture(scope="module")
def broker(tmp_path_factory):
    """One broker for the module: starting one costs seconds."""
    with KafkaBroker(tmp_path_factory.mktemp("kafka"), port=0) as running:
        yield running


@pytest.fixture(scope="module")
def raw_dir(tmp_path_factory) -> Path:
    """300 persons and two daily deliveries (day 2 re-sends a file of day 1: events repeated in the raw folder)."""
    from spark_lib.generator import generate

    root = tmp_path_factory.mktemp("replay")
    generate(persons=300, raw_dir=root / "raw", truth_dir=root / "truth", seed=11, days=2)
    return root / "raw"


@pytest.fixture(scope="module")
def events(raw_dir):
    return read_online_events(load_sources(), raw_dir)


@pytest.fixture(scope="module")
def replayed(broker, events):
    """The first LIMIT events replayed at RATE to topics ``t1.*``: the plan, the report, every message read back."""
    topics = TopicsConfig.with_prefix("t1.")
    plan = plan_replay(events.events[:LIMIT], Disorder(late_share=0.05, duplicate_share=0.02, malformed_share=0.01,
                                                       seed=3))
    report = publish(plan, broker.bootstrap_servers, topics, partitions=3, rate=RATE)
    messages = {kind: read_topic(broker.bootstrap_servers, topics.of(kind)) for kind in EVENT_KINDS}
    return plan, report, messages


def parsed(value: bytes) -> dict | None:
    """A message's value as the stream job would read it: None unless JSON with an event id and a readable time."""
    try:
        body = json.loads(value)
        dt.datetime.fromisoformat(body["event_time"])
        return body if body.get("event_id") else None
    except (ValueError, KeyError):
        return None


def test_the_raw_folder_gives_events_of_every_kind_in_event_time_order(events):
    kinds = Counter(e.kind for e in events.events)
    assert set(kinds) == set(EVENT_KINDS) and min(kinds.values()) > 10
    times = [e.event_time for e in events.events]
    assert times == sorted(times)
    # the generator's malformed rows are skipped, and so are the events of the order file re-sent on day 2
    assert sum(events.skipped.values()) >= 3 and events.repeated["eshop_orders"] > 0
    assert len({(e.kind, e.event_id) for e in events.events}) == len(events.events)


def test_a_message_is_keyed_by_the_person_and_holds_no_contact_details(events):
    first = {kind: next(json.loads(e.value) | {"key": e.key} for e in events.events if e.kind == kind)
             for kind in EVENT_KINDS}
    assert first["navigation"]["key"] == first["navigation"]["data"]["cookie_id"]
    assert first["orders"]["key"] in (first["orders"]["data"]["account_id"], first["orders"]["data"]["order_id"])
    assert first["campaign_events"]["key"] == first["campaign_events"]["data"]["id_contact"]
    assert set(first["navigation"]) - {"key"} == {"event_id", "event_time", "event_type", "kind", "source",
                                                  "record_id", "data"}
    assert re.fullmatch(r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\dZ", first["orders"]["event_time"])
    # names, emails, phones and addresses stay out of the topics
    assert not any("@" in e.value or '"first_name"' in e.value or '"phone"' in e.value for e in events.events)
    assert set(first["orders"]["data"]["shipping"] or {}) <= {"country"}


def test_the_plan_is_seeded_and_counts_whole_shares(events):
    sample = events.events[:1000]
    plan = plan_replay(sample, Disorder(late_share=0.1, duplicate_share=0.05, malformed_share=0.03, seed=5))
    assert plan == plan_replay(sample, Disorder(late_share=0.1, duplicate_share=0.05, malformed_share=0.03, seed=5))
    assert plan.messages != plan_replay(sample, Disorder(late_share=0.1, seed=6)).messages
    assert (len(plan.late), len(plan.duplicated), plan.malformed) == (100, 50, {flaw: 10 for flaw in FLAWS})
    assert len(plan.messages) == 1000 + 50 + 30
    clean = plan_replay(sample, Disorder(late_share=0, duplicate_share=0, malformed_share=0))
    assert [m.event_id for m in clean.messages] == [e.event_id for e in sample]


@pytest.mark.parametrize("settings, message", [
    ({"late_share": 1.5}, "'late_share' must be a share between 0 and 1, got 1.5"),
    ({"malformed_share": -0.1}, "'malformed_share' must be a share between 0 and 1"),
    ({"late_seconds": 0}, "'late_seconds' must be a whole number of seconds, at least 1"),
])
def test_a_disorder_out_of_range_is_refused(settings, message):
    with pytest.raises(ValueError, match=re.escape(message)):
        Disorder(**settings)


def test_spark_gets_the_kafka_connector_but_not_the_broker_nor_a_second_copy_of_its_own_jars():
    import pyspark

    def artifact(jar: str) -> str:   # the Makefile's reading: the name before the last -<digits>.<digits>
        return re.fullmatch(r"(.*)-\d+(\.\d+)+.*\.jar", Path(jar).name).group(1)

    connector = kafka_connector_jars()
    assert {artifact(j) for j in connector} >= {"spark-sql-kafka-0-10_2.13", "kafka-clients", "commons-pool2"}
    shipped = {artifact(j) for j in (Path(pyspark.__file__).parent / "jars").glob("*.jar")}
    assert not {artifact(j) for j in delta_jars() + connector} & shipped
    assert not any(Path(j).parent.name == "kafka" for j in delta_jars() + connector)
    assert list((DEFAULT_JARS_DIR / "kafka").glob("kafka_2.13-4.1.*.jar"))


@pytest.mark.e2e
def test_the_broker_listens_on_the_loopback_only(broker):
    status = broker.status()
    assert status.running and status.bootstrap_servers == broker.bootstrap_servers
    host, port = broker.bootstrap_servers.rsplit(":", 1)
    assert host == "127.0.0.1" and port_open(int(port))
    listening = [c.laddr for c in psutil.Process(status.pid).net_connections("inet") if c.status == psutil.CONN_LISTEN]
    assert len(listening) == 2 and {address.ip for address in listening} <= {"127.0.0.1", "::ffff:127.0.0.1"}


@pytest.mark.e2e
def test_the_replay_sends_every_event_and_the_late_duplicate_and_malformed_messages(replayed):
    plan, report, messages = replayed
    every = [m for kind in EVENT_KINDS for m in messages[kind]]
    assert len(every) == report.sent == LIMIT + len(plan.duplicated) + sum(plan.malformed.values())
    assert (report.events, report.late, report.duplicated) == (LIMIT, round(0.05 * LIMIT), round(0.02 * LIMIT))
    assert report.per_topic == {f"t1.{kind}": len(messages[kind]) for kind in EVENT_KINDS}
    bodies = [(m, parsed(m.value)) for m in every]
    valid = [(m, body) for m, body in bodies if body is not None]
    assert len(valid) == LIMIT + len(plan.duplicated)
    ids = Counter((body["kind"], body["event_id"]) for _, body in valid)
    assert len(ids) == LIMIT and {i for i, n in ids.items() if n == 2} == plan.duplicated
    flawed = Counter(_flaw(m.value) for m, body in bodies if body is None)
    assert flawed == Counter(plan.malformed)
    # each message sits in its topic under its person's key
    for m, body in valid:
        assert m.topic == f"t1.{body['kind']}" and m.key and m.key in (body["record_id"], *body["data"].values())


@pytest.mark.e2e
def test_a_person_s_events_stay_in_one_partition_in_time_order_but_for_the_late_ones(replayed):
    plan, _, messages = replayed
    out_of_order = set()
    for kind in EVENT_KINDS:
        partitions, latest, seen = defaultdict(set), {}, set()
        for m in messages[kind]:   # partition by partition, in offset order
            partitions[m.key].add(m.partition)
            body = parsed(m.value)
            if body is None or (kind, body["event_id"]) in seen:
                continue   # a malformed message or a duplicate's second copy
            seen.add((kind, body["event_id"]))
            time = dt.datetime.fromisoformat(body["event_time"])
            if m.key in latest and time < latest[m.key]:
                out_of_order.add((kind, body["event_id"]))
            latest[m.key] = max(time, latest.get(m.key, time))
        assert all(len(p) == 1 for p in partitions.values())
    assert out_of_order and out_of_order <= plan.late


@pytest.mark.e2e
def test_the_replay_holds_the_rate_asked(replayed):
    _, report, _ = replayed
    assert report.target_rate == RATE
    assert report.seconds >= (report.sent - 1) / RATE
    assert 0.5 * RATE <= report.rate <= RATE * 1.01


@pytest.mark.e2e
def test_rcu_kafka_status_and_rcu_replay_print_the_address_and_the_counts(broker, raw_dir, capsys):
    assert kafka_broker.main(["status", "--dir", str(broker.directory)]) == 0
    assert capsys.readouterr().out.strip() == broker.bootstrap_servers
    report = replay_job.main(["--raw-dir", str(raw_dir), "--bootstrap-servers", broker.bootstrap_servers,
                              "--topic-prefix", "cli.", "--rate", "0", "--limit", "200", "--seed", "1"])
    out = capsys.readouterr().out
    assert f"sent {report.sent:,} messages for 200 events" in out
    assert "late 10, duplicated 4, malformed 2 (bad_json 1, no_event_id 1, bad_time 0)" in out
    assert sum(len(read_topic(broker.bootstrap_servers, f"cli.{kind}")) for kind in EVENT_KINDS) == report.sent


@pytest.mark.e2e
def test_a_broker_stopped_and_started_again_keeps_its_messages(broker, replayed):
    _, _, before = replayed
    port = broker.client_port
    assert broker.stop() is True
    assert not broker.status().running and not port_open(port) and not broker.pid_file.exists()
    assert broker.stop() is False   # nothing left to stop
    broker.port = None   # the same folder, on the port of the previous start
    broker.start()
    assert broker.bootstrap_servers == f"127.0.0.1:{port}"
    after = {kind: read_topic(broker.bootstrap_servers, f"t1.{kind}") for kind in EVENT_KINDS}
    assert after == before


def _flaw(value: bytes) -> str:
    """Which flaw of :data:`FLAWS` a malformed message shows."""
    try:
        body = json.loads(value)
    except ValueError:
        return "bad_json"
    return "no_event_id" if "event_id" not in body else "bad_time"
