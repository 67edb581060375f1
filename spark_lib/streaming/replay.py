"""Replay the online events of a raw folder to Kafka at a chosen rate, with the disorder of real traffic.

Messages leave in event-time order, except for what :class:`Disorder` draws (seeded: the same events, shares and
seed give the same messages in the same order):

- **late** events: delivered 1 s to ``late_seconds`` after their time, i.e. after the events of the stream whose
  time falls in that delay (a phone that was offline, a batch of clicks the emailing platform sends later);
- **duplicates**: an event sent a second time, the very same message, up to a minute of event time after the
  first (a producer's retry, a re-sent export);
- **malformed** messages, one of three flaws in turn: ``bad_json`` (the JSON text cut short), ``no_event_id``
  (the ``event_id`` field missing), ``bad_time`` (an ``event_time`` like ``31/10/2024 17h09``). Each is an extra
  message made from an event that is also sent intact, under the same key.

Shares are of the events replayed (after ``limit``), rounded to whole messages. A message's key keeps one person's
events in one partition, in the order sent: per key, the intact messages arrive in event-time order but for the
late ones.

Example::

    events = read_online_events(load_sources(), "data/raw").events
    plan = plan_replay(events[:1000], Disorder(late_share=0.05, seed=42))
    report = publish(plan, "127.0.0.1:9092", TopicsConfig(), partitions=3, rate=500)
    report.rate, report.sent, report.late, report.duplicated, report.malformed
"""

from __future__ import annotations

import datetime as dt
import json
import random
import time
from collections import Counter
from dataclasses import dataclass
from typing import Callable, Sequence

from spark_lib.config import EVENT_KINDS, TopicsConfig
from spark_lib.streaming.events import OnlineEvent

#: how a malformed message is broken, drawn in turn
FLAWS = ("bad_json", "no_event_id", "bad_time")
#: a duplicate follows its first copy by up to this much event time
DUPLICATE_SECONDS = 60
#: seconds between two progress lines
PROGRESS_EVERY = 10.0


@dataclass(frozen=True)
class Disorder:
    """How far the replay strays from a clean stream in event-time order (shares of the events replayed)."""

    late_share: float = 0.05
    #: a late event arrives after 1 s to this many seconds of event time (15 minutes by default)
    late_seconds: int = 900
    duplicate_share: float = 0.02
    malformed_share: float = 0.01
    seed: int = 42

    def __post_init__(self) -> None:
        for name in ("late_share", "duplicate_share", "malformed_share"):
            share = getattr(self, name)
            if isinstance(share, bool) or not isinstance(share, (int, float)) or not 0 <= share <= 1:
                raise ValueError(f"'{name}' must be a share between 0 and 1, got {share!r}")
        if isinstance(self.late_seconds, bool) or not isinstance(self.late_seconds, int) or self.late_seconds < 1:
            raise ValueError(f"'late_seconds' must be a whole number of seconds, at least 1, got {self.late_seconds!r}")


@dataclass(frozen=True)
class Message:
    """One message to send: ``flaw`` is None for an intact event, else ``late``, ``duplicate`` or one of
    :data:`FLAWS`."""

    kind: str
    key: str
    #: the JSON text (an intact message shares its event's)
    value: str
    event_id: str
    flaw: str | None = None


@dataclass(frozen=True)
class ReplayPlan:
    """The messages in sending order, and the event ids (per kind) that were made late or duplicated."""

    messages: list[Message]
    events: int
    late: frozenset[tuple[str, str]]
    duplicated: frozenset[tuple[str, str]]

    @property
    def malformed(self) -> dict[str, int]:
        """Malformed messages per flaw."""
        counts = Counter(m.flaw for m in self.messages if m.flaw in FLAWS)
        return {flaw: counts[flaw] for flaw in FLAWS}


def plan_replay(events: Sequence[OnlineEvent], disorder: Disorder = Disorder()) -> ReplayPlan:
    """The messages that replay ``events`` (in event-time order) with ``disorder``, in sending order."""
    rng = random.Random(disorder.seed)
    n = len(events)
    late = set(rng.sample(range(n), round(disorder.late_share * n)))
    duplicated = rng.sample(range(n), round(disorder.duplicate_share * n))
    malformed = rng.sample(range(n), round(disorder.malformed_share * n))
    delivered = [e.event_time + dt.timedelta(seconds=rng.randint(1, disorder.late_seconds)) if i in late
                 else e.event_time for i, e in enumerate(events)]
    # (delivery time, event index, 0 intact / 1 duplicate / 2 malformed, message): ties keep the events' order
    queue = [(delivered[i], i, 0, Message(e.kind, e.key, e.value, e.event_id, "late" if i in late else None))
             for i, e in enumerate(events)]
    for i in duplicated:
        copy = delivered[i] + dt.timedelta(seconds=rng.randint(0, DUPLICATE_SECONDS))
        queue.append((copy, i, 1, Message(events[i].kind, events[i].key, events[i].value, events[i].event_id,
                                          "duplicate")))
    for turn, i in enumerate(sorted(malformed)):
        flaw = FLAWS[turn % len(FLAWS)]
        queue.append((delivered[i], i, 2, Message(events[i].kind, events[i].key, broken(events[i], flaw),
                                                  events[i].event_id, flaw)))
    queue.sort(key=lambda item: item[:3])
    return ReplayPlan(
        messages=[item[3] for item in queue],
        events=n,
        late=frozenset((events[i].kind, events[i].event_id) for i in late),
        duplicated=frozenset((events[i].kind, events[i].event_id) for i in duplicated),
    )


def broken(event: OnlineEvent, flaw: str) -> str:
    """The value of ``event`` broken by ``flaw`` (see :data:`FLAWS`)."""
    if flaw == "bad_json":
        return event.value[: len(event.value) // 2]
    value = json.loads(event.value)
    if flaw == "no_event_id":
        del value["event_id"]
    else:
        value["event_time"] = f"{event.event_time:%d/%m/%Y %Hh%M}"
    return json.dumps(value, ensure_ascii=False)


@dataclass(frozen=True)
class ReplayReport:
    """What :func:`publish` sent: counts only, never a value."""

    events: int
    sent: int
    late: int
    duplicated: int
    malformed: dict[str, int]
    per_topic: dict[str, int]
    seconds: float
    #: messages per second achieved, from the first send to the last acknowledgement
    rate: float
    #: the rate asked for (None: as fast as the broker takes them)
    target_rate: float | None
    topics_created: tuple[str, ...] = ()


def publish(plan: ReplayPlan, bootstrap_servers: str, topics: TopicsConfig, partitions: int,
            rate: float | None = None, progress: Callable[[str], None] | None = None) -> ReplayReport:
    """Send ``plan``'s messages to ``topics`` (created with ``partitions`` when missing) at ``rate`` messages
    per second (None: unpaced), waiting for every acknowledgement."""
    from spark_lib.streaming.kafka_client import EventProducer, create_topics

    if rate is not None and rate <= 0:
        raise ValueError(f"'rate' must be a positive number of messages per second, got {rate!r}")
    created = create_topics(bootstrap_servers, [topics.of(kind) for kind in EVENT_KINDS], partitions)
    per_topic: Counter[str] = Counter()
    with EventProducer(bootstrap_servers) as producer:
        started = time.perf_counter()
        next_progress = started + PROGRESS_EVERY
        for i, message in enumerate(plan.messages):
            if rate is not None:
                pause_until(started + i / rate)
            topic = topics.of(message.kind)
            producer.send(topic, message.key, message.value.encode())
            per_topic[topic] += 1
            if progress is not None and time.perf_counter() >= next_progress:
                elapsed = time.perf_counter() - started
                progress(f"{i + 1:,}/{len(plan.messages):,} messages sent ({(i + 1) / elapsed:,.0f}/s)")
                next_progress += PROGRESS_EVERY
        producer.flush()
        seconds = time.perf_counter() - started
    sent = len(plan.messages)
    return ReplayReport(
        events=plan.events, sent=sent, late=len(plan.late), duplicated=len(plan.duplicated),
        malformed=plan.malformed, per_topic=dict(per_topic), seconds=seconds,
        rate=sent / seconds if seconds > 0 else 0.0, target_rate=rate, topics_created=tuple(created),
    )


def pause_until(moment: float) -> None:
    """Sleep until ``time.perf_counter()`` reaches ``moment`` (at once when it has)."""
    wait = moment - time.perf_counter()
    if wait > 0:
        time.sleep(wait)
