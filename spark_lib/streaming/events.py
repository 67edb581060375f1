"""The online events of a raw folder, as messages: what ``rcu replay`` publishes.

The events are read from the files the batch reads (``rcu generate`` writes them; paths, formats and columns come
from ``conf/sources.yaml``), so the stream sees the same people as the batch: every online source whose
``interactions`` feed one of :data:`~spark_lib.config.EVENT_KINDS`'s tables (``web_events`` -> navigation,
``eshop_orders`` -> orders, ``email_events`` -> campaign_events).

A message's key is the person's identifier in the source (the first of :data:`KEY_FIELDS` the row fills, else
its record id: the cookie of a page view, the account of an order, the contact of an email event), so one
person's events stay in order in one partition. Its value is a JSON object::

    {"event_id": "ev-1000000002", "event_time": "2024-10-31T17:10:37Z", "event_type": "login",
     "kind": "navigation", "source": "web_events", "record_id": "6af6b014-...",
     "data": {"event_id": "ev-1000000002", "cookie_id": "6af6b014-...", "account_id": "1000010",
              "ts": "2024-10-31T17:10:37", "event_type": "login", "page": "/compte/connexion", ...}}

``event_time`` is UTC (the batch reads the sources' times as UTC too); ``source`` and ``record_id`` find the
record's customer in ``gold.customer_crosswalk``. ``data`` is the source row as delivered, less the personal
values it maps (:data:`PERSONAL_FIELDS`: names, email, phone, postal address, birth date): the identifiers
link an event to its customer, and the topics hold no contact details to erase.

A row that cannot be read (bad JSON or CSV, no event id, no record id, a time that does not parse) is skipped
and counted, and so is a row whose event id was read before (a file sent twice).

Example::

    events = read_online_events(load_sources(), "data/raw")
    events.events[0].kind, events.events[0].key, events.skipped, events.repeated
"""

from __future__ import annotations

import csv
import datetime as dt
import glob
import itertools
import json
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Iterator

from spark_lib.config import EVENT_KINDS, SourceSpec, SourcesConfig, row_value

#: the identity fields that identify a person in a source, in the order a message key is taken from them
KEY_FIELDS = ("cookie_id", "account_id", "customer_ref", "loyalty_card")

#: the identity fields whose values never go into a message (contact details and civil identity)
PERSONAL_FIELDS = ("civility", "first_name", "last_name", "birth_name", "full_name", "birth_date", "email", "phone",
                   "phone_2", "house_number", "street", "address_extra", "postcode", "city")


@dataclass(frozen=True)
class OnlineEvent:
    """One event, ready to be sent: ``value`` is the message's JSON text (see the module docstring)."""

    kind: str
    key: str
    event_id: str
    #: UTC, without a time zone
    event_time: dt.datetime
    value: str


@dataclass(frozen=True)
class OnlineEvents:
    """The events of a raw folder in event-time order, and what was left out, per source."""

    events: list[OnlineEvent]
    #: rows that could not be read (malformed line, no event id, no record id, a time that does not parse)
    skipped: dict[str, int] = field(default_factory=dict)
    #: rows whose event id was read before (a file delivered twice)
    repeated: dict[str, int] = field(default_factory=dict)


def event_sources(sources: SourcesConfig) -> list[tuple[str, SourceSpec]]:
    """The online sources that feed an event kind, each with its kind (``navigation``, ``orders``...)."""
    kind_of = {table: kind for kind, table in EVENT_KINDS.items()}
    return [(kind_of[s.interactions.table], s) for s in sources.sources
            if s.channel == "online" and s.interactions is not None and s.interactions.table in kind_of]


def read_online_events(sources: SourcesConfig, raw_dir: str | Path) -> OnlineEvents:
    """Every online event of the files under ``raw_dir``, sorted by event time (rows of the same second keep
    their order in the files, sources in the order of ``sources.yaml``)."""
    events: list[OnlineEvent] = []
    skipped: dict[str, int] = {}
    repeated: dict[str, int] = {}
    for kind, spec in event_sources(sources):
        seen: set[str] = set()
        skipped[spec.name] = repeated[spec.name] = 0
        for row in source_rows(spec, raw_dir):
            event = to_event(kind, spec, row)
            if event is None:
                skipped[spec.name] += 1
            elif event.event_id in seen:
                repeated[spec.name] += 1
            else:
                seen.add(event.event_id)
                events.append(event)
    events.sort(key=lambda e: e.event_time)   # stable: ties keep the files' order
    return OnlineEvents(events, skipped, repeated)


def source_rows(spec: SourceSpec, raw_dir: str | Path) -> Iterator[dict[str, Any] | None]:
    """The rows of every file of ``spec`` under ``raw_dir``, files in name order; None for a line that is not a
    row (bad JSON, a CSV line with too many or too few fields)."""
    for path in sorted(glob.glob(spec.glob(raw_dir))):
        if spec.format == "json":
            yield from _json_rows(path)
        elif spec.format == "csv":
            yield from _csv_rows(path, spec)
        else:
            import pyarrow.parquet as pq

            yield from pq.read_table(path).to_pylist()


def _json_rows(path: str) -> Iterator[dict[str, Any] | None]:
    with open(path, encoding="utf-8", errors="replace") as handle:
        for line in handle:
            if line.strip():
                try:
                    row = json.loads(line)
                except ValueError:
                    row = None
                yield row if isinstance(row, dict) else None


def _csv_rows(path: str, spec: SourceSpec) -> Iterator[dict[str, Any] | None]:
    with open(path, encoding=spec.encoding, errors="replace", newline="") as handle:
        reader = csv.reader(handle, delimiter=spec.separator, quotechar=spec.quote)
        first = next(reader, None)
        if first is None:
            return
        # Spark names the columns of a file without a header _c0, _c1...
        columns = first if spec.header else [f"_c{i}" for i in range(len(first))]
        for values in reader if spec.header else itertools.chain([first], reader):
            if values:
                yield dict(zip(columns, values)) if len(values) == len(columns) else None


def parse_time(value: Any) -> dt.datetime | None:
    """An ISO-8601 time (``2024-10-31T17:09:47``, ``2024-10-31 17:09:47``, with or without a zone) as naive UTC;
    None when it does not parse. A time without a zone is taken as UTC, as the batch reads it."""
    if isinstance(value, dt.datetime):
        moment = value
    else:
        try:
            moment = dt.datetime.fromisoformat(str(value).strip())
        except ValueError:
            return None
    return moment.astimezone(dt.timezone.utc).replace(tzinfo=None) if moment.tzinfo else moment


def format_time(moment: dt.datetime) -> str:
    """``2024-10-31T17:09:47Z``: ISO-8601 in UTC."""
    return f"{moment.isoformat()}Z"


def to_event(kind: str, spec: SourceSpec, row: dict[str, Any] | None) -> OnlineEvent | None:
    """The event of one row of ``spec``, or None when the row lacks an event id, a record id or a readable time."""
    if row is None:
        return None
    fields = spec.interactions.fields
    event_id = _text(row_value(row, fields["event_id"])) if "event_id" in fields else None
    record_id = _text(row_value(row, spec.record_id))
    event_time = parse_time(row_value(row, fields["event_time"]))
    if not event_id or not record_id or event_time is None:
        return None
    event_type = row_value(row, fields["event_type"]) if "event_type" in fields else spec.interactions.event_type
    key = next((_text(row_value(row, spec.identity[f])) for f in KEY_FIELDS
                if f in spec.identity and _text(row_value(row, spec.identity[f]))), record_id)
    value = {"event_id": event_id, "event_time": format_time(event_time), "event_type": event_type, "kind": kind,
             "source": spec.name, "record_id": record_id, "data": without_personal_values(row, spec)}
    return OnlineEvent(kind, key, event_id, event_time, json.dumps(value, ensure_ascii=False, default=str))


def without_personal_values(row: dict[str, Any], spec: SourceSpec) -> dict[str, Any]:
    """A copy of ``row`` without the columns ``spec`` maps to :data:`PERSONAL_FIELDS` (nested ones included)."""
    drop = {spec.identity[f] for f in PERSONAL_FIELDS if f in spec.identity}

    def keep(value: dict[str, Any], prefix: str) -> dict[str, Any]:
        return {name: keep(item, f"{prefix}{name}.") if isinstance(item, dict) else item
                for name, item in value.items() if f"{prefix}{name}" not in drop}

    return keep(row, "")


def _text(value: Any) -> str | None:
    """A value as a non-empty string, or None."""
    text = "" if value is None else str(value).strip()
    return text or None
