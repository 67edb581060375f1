"""Everything the project asks of Kafka from Python, through ``kafka-python`` (pure Python, no compiler): the one
module that imports it, so an upgrade or a change of client means reading this file only.

Example::

    create_topics("127.0.0.1:9092", ["rcu.navigation"], partitions=3)
    with EventProducer("127.0.0.1:9092") as producer:
        producer.send("rcu.navigation", key="cookie-1", value=b'{"event_id": "ev-1"}')
    messages = read_topic("127.0.0.1:9092", "rcu.navigation")   # every message, partition by partition
"""

from __future__ import annotations

import time
from dataclasses import dataclass
from typing import Iterable

from kafka import KafkaAdminClient, KafkaConsumer, KafkaProducer, TopicPartition
from kafka.errors import KafkaError

__all__ = ["ConsumedMessage", "EventProducer", "KafkaError", "broker_answers", "create_topics", "end_offsets", "read_topic"]

#: the broker's error code for a topic that exists already (CreateTopics)
TOPIC_ALREADY_EXISTS = 36


def broker_answers(bootstrap_servers: str, timeout: float = 2.0) -> bool:
    """Whether a broker at ``bootstrap_servers`` answers a metadata request within about ``timeout`` seconds."""
    millis = int(timeout * 1000)
    try:
        with KafkaAdminClient(bootstrap_servers=bootstrap_servers, client_id="rcu-probe",
                              bootstrap_timeout_ms=millis, request_timeout_ms=millis) as admin:
            return bool(admin.describe_cluster()["brokers"])
    except (KafkaError, OSError):
        return False


def create_topics(bootstrap_servers: str, topics: Iterable[str], partitions: int) -> list[str]:
    """Create those of ``topics`` that do not exist (``partitions`` each, one replica per partition on a
    single broker, at most three elsewhere); returns the ones created."""
    names = sorted(set(topics))
    with KafkaAdminClient(bootstrap_servers=bootstrap_servers, client_id="rcu-admin",
                          bootstrap_timeout_ms=10_000) as admin:
        replicas = min(3, len(admin.describe_cluster()["brokers"]))
        result = admin.create_topics({name: {"num_partitions": partitions, "replication_factor": replicas}
                                      for name in names}, raise_errors=False, wait_for_metadata=True)
    created = []
    for topic in result["topics"]:
        if topic["error_code"] == 0:
            created.append(topic["name"])
        elif topic["error_code"] != TOPIC_ALREADY_EXISTS:
            raise KafkaError(f"creating topic {topic['name']!r} failed: {topic['error_message']} "
                             f"(error code {topic['error_code']})")
    return created


class EventProducer:
    """Sends keyed messages; every message is acknowledged by all in-sync replicas, at most once per send
    (idempotent producer), in the order sent within a partition. :meth:`flush` raises when a send failed."""

    def __init__(self, bootstrap_servers: str):
        self._producer = KafkaProducer(
            bootstrap_servers=bootstrap_servers, client_id="rcu-replay", acks="all", enable_idempotence=True,
            linger_ms=5,   # a few milliseconds of batching: thousands of small messages per second
        )
        self._failures: list[BaseException] = []

    def send(self, topic: str, key: str | None, value: bytes) -> None:
        """Queue one message (sent in the background); a failure is raised by the next :meth:`flush`."""
        future = self._producer.send(topic, key=None if key is None else key.encode("utf-8"), value=value)
        future.add_errback(self._failures.append)

    def flush(self) -> None:
        """Wait until every queued message is acknowledged; raise if any could not be sent."""
        self._producer.flush()
        if self._failures:
            raise KafkaError(f"{len(self._failures)} message(s) could not be sent: {self._failures[0]!r}")

    def close(self) -> None:
        self._producer.close()

    def __enter__(self) -> EventProducer:
        return self

    def __exit__(self, *exc) -> None:
        self.close()


@dataclass(frozen=True)
class ConsumedMessage:
    """One message as stored by the broker."""

    topic: str
    partition: int
    offset: int
    key: str | None
    value: bytes
    #: when it was sent (the producer's clock, milliseconds since the epoch)
    timestamp_ms: int


def read_topic(bootstrap_servers: str, topic: str, timeout: float = 30.0) -> list[ConsumedMessage]:
    """Every message ``topic`` holds now, partition by partition in offset order (no consumer group: nothing is
    committed). Raises :class:`KafkaError` when the topic is unknown or not read within ``timeout`` seconds."""
    consumer = KafkaConsumer(bootstrap_servers=bootstrap_servers, client_id="rcu-reader", group_id=None,
                             enable_auto_commit=False)
    try:
        deadline = time.monotonic() + timeout
        partitions = consumer.partitions_for_topic(topic)
        if not partitions:
            raise KafkaError(f"no topic {topic!r} on {bootstrap_servers}")
        assigned = [TopicPartition(topic, p) for p in sorted(partitions)]
        consumer.assign(assigned)
        consumer.seek_to_beginning()
        ends = consumer.end_offsets(assigned)
        messages: list[ConsumedMessage] = []
        while any(consumer.position(tp) < ends[tp] for tp in assigned):
            if time.monotonic() > deadline:
                raise KafkaError(f"reading topic {topic!r} took longer than {timeout:.0f} s")
            for records in consumer.poll(timeout_ms=500).values():
                messages += [ConsumedMessage(r.topic, r.partition, r.offset,
                                             None if r.key is None else r.key.decode("utf-8"), r.value, r.timestamp)
                             for r in records]
        return sorted(messages, key=lambda m: (m.partition, m.offset))
    finally:
        consumer.close()


def end_offsets(bootstrap_servers: str, topics: Iterable[str]) -> dict[str, dict[int, int]]:
    """topic -> partition -> the offset the next message will get (a topic the broker does not know: absent)."""
    consumer = KafkaConsumer(bootstrap_servers=bootstrap_servers, client_id="rcu-status", group_id=None,
                             enable_auto_commit=False)
    try:
        assigned = [TopicPartition(topic, p) for topic in topics for p in sorted(consumer.partitions_for_topic(topic) or ())]
        found: dict[str, dict[int, int]] = {}
        for tp, offset in consumer.end_offsets(assigned).items():
            found.setdefault(tp.topic, {})[tp.partition] = offset
        return found
    finally:
        consumer.close()
