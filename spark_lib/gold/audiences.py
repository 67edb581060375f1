"""Trigger audiences: customers whose recent interactions match a scenario, with the channel to reach them.

An audience is declared in ``conf/audiences.yaml`` (no code): named *conditions*, each "an event of kind X
within N days before the run date", combined with AND (``require``) and AND NOT (``exclude``); a condition
may be tied to an earlier one (``after: catalogue, max_days_after: 14``: "site visited within 14 days after
the catalogue was received"). Event kinds name rows of the silver interaction tables (table, event types,
optional page and campaign patterns). A customer is *eligible* when some combination of their events
satisfies every ``require`` condition and no ``exclude`` condition; they become a *member* on the first
channel of the audience's preference list on which they consented and can be reached.

Output (``gold.audience_members``, one snapshot per run date): run_date, audience, customer_id, channel,
contact, reason — the reason names the events that matched and their dates, e.g.
``catalogue: catalogue_sent CAT-2026-RENTREE on 2026-08-12; visit: page_view / on 2026-08-20;
cart: add_to_cart /panier on 2026-08-20; no order_completed since cart``.

Example::

    config = load_audiences("conf/audiences.yaml", interaction_tables=["mailings", "navigation_events", ...])
    events = customer_events({"mailings": mailings, "navigation_events": navigation}, crosswalk)
    eligible = evaluate_audiences(events, customers, config, dt.date(2026, 10, 31))
    members = eligible.where("channel IS NOT NULL")
"""

from __future__ import annotations

import datetime as dt
import os
import re
import dataclasses
from dataclasses import dataclass
from functools import reduce
from pathlib import Path
from typing import Any, Iterable, Mapping

from pyspark.sql import Column, DataFrame, Window
from pyspark.sql import functions as F

from spark_lib.config import DEFAULT_CONF_DIR, INTERACTION_TABLES, ConfigError, read_section, read_yaml

#: Contact channels, the consent column that allows each, and what reaches the customer on it.
CHANNELS: tuple[str, ...] = ("email", "sms", "postal")
CONSENT_COLUMNS: dict[str, str] = {"email": "consent_email", "sms": "consent_sms", "postal": "consent_postal"}

#: A plausible address (the golden record's email is already validated; this guards against leftovers).
EMAIL_PATTERN = r"^[^@\s]+@[^@\s]+\.[^@\s]+$"

_NAME = re.compile(r"^[a-z][a-z0-9_]*$")

#: The columns of an event as the audiences see it (see :func:`customer_events`).
EVENT_COLUMNS: tuple[str, ...] = (
    "customer_id", "table", "event_type", "event_time", "campaign_id", "page", "store_id",
)


# --------------------------------------------------------------------------------------------------
# Configuration
# --------------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class EventSelector:
    """Rows of one interaction table that count as an event kind."""

    table: str
    event_types: tuple[str, ...]
    #: glob patterns (``*``, ``?``) on ``page``; empty: any page
    pages: tuple[str, ...] = ()
    #: glob patterns on ``campaign_id``; empty: any campaign
    campaigns: tuple[str, ...] = ()


@dataclass(frozen=True)
class EventKind:
    name: str
    selectors: tuple[EventSelector, ...]


@dataclass(frozen=True)
class Condition:
    """"At least ``min_count`` events of kind ``event`` within ``within_days`` days before the run date"."""

    name: str
    event: str
    within_days: int | None = None
    min_count: int = 1
    #: an earlier ``require`` condition: this event is at or after the event matched there...
    after: str | None = None
    #: ...and at most this many days (x 24 h) after it
    max_days_after: int | None = None

    def describe_absence(self) -> str:
        """How an ``exclude`` condition reads in a member's reason: ``no order_completed since cart``."""
        what = f"fewer than {self.min_count} {self.event}" if self.min_count > 1 else f"no {self.event}"
        if self.after and self.max_days_after is not None:
            text = f"{what} within {self.max_days_after} days after {self.after}"
        elif self.after:
            text = f"{what} since {self.after}"
        elif self.within_days is not None:
            text = f"{what} in the last {self.within_days} days"
        else:
            text = f"{what} ever"
        if self.after and self.within_days is not None:
            text += f" (last {self.within_days} days)"
        return text


@dataclass(frozen=True)
class Audience:
    name: str
    description: str
    require: tuple[Condition, ...]
    channels: tuple[str, ...]
    exclude: tuple[Condition, ...] = ()


@dataclass(frozen=True)
class AudiencesConfig:
    events: Mapping[str, EventKind]
    audiences: tuple[Audience, ...]
    file: str = ""

    @property
    def names(self) -> list[str]:
        return [a.name for a in self.audiences]

    def tables(self) -> list[str]:
        """The interaction tables the audiences read (the job reads only these)."""
        return sorted({s.table for kind in self.events.values() for s in kind.selectors})

    def get(self, name: str) -> Audience:
        for audience in self.audiences:
            if audience.name == name:
                return audience
        raise ConfigError(f"{self.file}: no audience named {name!r} (known: {', '.join(self.names)})")


def _strings(values: tuple[str, ...], where: str, file: str, *, non_empty: bool = True) -> tuple[str, ...]:
    if (non_empty and not values) or not all(values):
        what = "a non-empty list of strings" if non_empty else "a list of strings"
        raise ConfigError(f"{file}: {where}: expected {what}, got {list(values)!r}")
    return values


def _at_least(value: int | None, where: str, file: str, minimum: int) -> None:
    if value is not None and value < minimum:
        raise ConfigError(f"{file}: {where}: expected an integer >= {minimum}, got {value!r}")


def _name(name: Any, where: str, file: str) -> str:
    if not isinstance(name, str) or not _NAME.match(name):
        raise ConfigError(f"{file}: {where}: {name!r} is not a snake_case name (letters, digits, underscores)")
    return name


def _named(data: Any, where: str, file: str, what: str) -> dict:
    """A non-empty mapping of snake_case names to their settings."""
    if not isinstance(data, dict) or not data:
        raise ConfigError(f"{file}: {where}: expected a non-empty mapping of {what}")
    return {_name(name, where, file): value for name, value in data.items()}


def _parse_kind(name: str, data: Any, file: str, tables: tuple[str, ...]) -> EventKind:
    where = f"events.{name}"
    if not isinstance(data, list) or not data:
        raise ConfigError(f"{file}: {where}: expected a non-empty list of {{table, event_types}} entries")
    selectors = []
    for index, entry in enumerate(data):
        at = f"{where}[{index}]"
        selector = read_section(EventSelector, entry, at, file)
        if selector.table not in tables:
            raise ConfigError(
                f"{file}: {at}.table: {selector.table!r} is not an interaction table that a source feeds "
                f"(known: {', '.join(tables)})"
            )
        _strings(selector.event_types, f"{at}.event_types", file)
        _strings(selector.pages, f"{at}.pages", file, non_empty=False)
        _strings(selector.campaigns, f"{at}.campaigns", file, non_empty=False)
        selectors.append(selector)
    return EventKind(name=name, selectors=tuple(selectors))


def _parse_condition(name: str, data: Any, where: str, file: str, kinds: Mapping[str, EventKind],
                     earlier: list[str]) -> Condition:
    condition = read_section(Condition, data, where, file, preset={"name": name})
    if condition.event not in kinds:
        raise ConfigError(
            f"{file}: {where}.event: unknown event kind {condition.event!r} (declared in events: {', '.join(kinds)})"
        )
    if condition.after is not None and condition.after not in earlier:
        raise ConfigError(
            f"{file}: {where}.after: {condition.after!r} is not an earlier require condition "
            f"(earlier: {', '.join(earlier) or 'none'})"
        )
    if condition.max_days_after is not None and condition.after is None:
        raise ConfigError(f"{file}: {where}.max_days_after: needs 'after' (the condition it counts from)")
    _at_least(condition.within_days, f"{where}.within_days", file, 0)
    _at_least(condition.min_count, f"{where}.min_count", file, 1)
    _at_least(condition.max_days_after, f"{where}.max_days_after", file, 0)
    return condition


def _parse_audience(name: str, data: Any, file: str, kinds: Mapping[str, EventKind]) -> Audience:
    where = f"audiences.{name}"

    names: list[str] = []  # the require conditions, which exclude conditions may follow (``after``)

    def require(value: Any, at: str, file_: str) -> tuple[Condition, ...]:
        conditions = []
        for cname, cdata in _named(value, at, file_, "condition name to condition").items():
            conditions.append(_parse_condition(cname, cdata, f"{at}.{cname}", file_, kinds, list(names)))
            names.append(cname)
        return tuple(conditions)

    def exclude(value: Any, at: str, file_: str) -> tuple[Condition, ...]:
        if value is None:
            return ()
        if not isinstance(value, dict):
            raise ConfigError(f"{file_}: {at}: expected a mapping of condition name to condition")
        conditions = []
        for cname, cdata in value.items():
            cwhere = f"{at}.{_name(cname, at, file_)}"
            if cname in names:
                raise ConfigError(f"{file_}: {cwhere}: the name {cname!r} is already a require condition")
            conditions.append(_parse_condition(cname, cdata, cwhere, file_, kinds, names))
        return tuple(conditions)

    audience = read_section(Audience, data, where, file, preset={"name": name},
                            nested={"require": require, "exclude": exclude})
    if not audience.description.strip():
        raise ConfigError(f"{file}: {where}.description: expected a non-empty string")
    channels = _strings(audience.channels, f"{where}.channels", file)
    for channel in channels:
        if channel not in CHANNELS:
            raise ConfigError(f"{file}: {where}.channels: {channel!r} is not one of {', '.join(CHANNELS)}")
    if len(set(channels)) != len(channels):
        raise ConfigError(f"{file}: {where}.channels: a channel is listed twice: {list(channels)}")
    return dataclasses.replace(audience, description=audience.description.strip())


def load_audiences(
    path: str | os.PathLike | None = None, interaction_tables: Iterable[str] | None = None
) -> AudiencesConfig:
    """Load ``conf/audiences.yaml``; ``interaction_tables`` are the tables sources feed (default: all known).

    Pass the tables of the sources configuration, so that an audience on a table no source feeds is an
    error at load time rather than an empty audience::

        load_audiences(interaction_tables=interaction_tables_of(load_sources()))
    """
    file = Path(path or DEFAULT_CONF_DIR / "audiences.yaml")
    tables = tuple(sorted(interaction_tables if interaction_tables is not None else INTERACTION_TABLES))
    kinds: dict[str, EventKind] = {}

    def events(value: Any, where: str, file_: str) -> dict[str, EventKind]:
        for name, entry in _named(value, where, file_, "event kind to its table entries").items():
            kinds[name] = _parse_kind(name, entry, file_, tables)
        return kinds

    def audiences(value: Any, where: str, file_: str) -> tuple[Audience, ...]:
        named = _named(value, where, file_, "audience name to its definition")
        return tuple(_parse_audience(name, entry, file_, kinds) for name, entry in named.items())

    return read_section(AudiencesConfig, read_yaml(file), "", str(file), preset={"file": str(file)},
                        nested={"events": events, "audiences": audiences})


def interaction_tables_of(sources) -> list[str]:
    """The silver interaction tables that the sources of a :class:`~spark_lib.config.SourcesConfig` feed."""
    return sorted({s.interactions.table for s in sources.sources if s.interactions is not None})


# --------------------------------------------------------------------------------------------------
# Reachability (shared with the KPIs)
# --------------------------------------------------------------------------------------------------


def reachable(channel: str) -> Column:
    """True when the golden record holds a value to reach the customer on ``channel`` (consent aside)."""
    if channel == "email":
        return F.coalesce(F.col("email").rlike(EMAIL_PATTERN), F.lit(False))
    if channel == "sms":
        return F.col("phone_mobile").isNotNull() & (F.trim("phone_mobile") != "")
    if channel == "postal":
        return F.coalesce(
            (F.trim("street") != "") & (F.trim("postcode") != "") & (F.trim("city") != ""), F.lit(False)
        )
    raise ValueError(f"reachable: channel must be one of {', '.join(CHANNELS)}, got {channel!r}")


def contactable(channel: str) -> Column:
    """Consented (``consent_<channel>`` is true; null is no) and reachable on ``channel``."""
    return F.coalesce(F.col(CONSENT_COLUMNS[channel]), F.lit(False)) & reachable(channel)


def contact_value(channel: str) -> Column:
    """What a campaign tool needs: the email, the mobile number, or the postal address on one line."""
    if channel == "email":
        return F.col("email")
    if channel == "sms":
        return F.col("phone_mobile")
    if channel == "postal":
        return F.concat_ws(
            ", ",
            F.nullif(F.concat_ws(" ", "house_number", "street"), F.lit("")),
            "address_extra",
            F.concat_ws(" ", "postcode", "city"),
        )
    raise ValueError(f"contact_value: channel must be one of {', '.join(CHANNELS)}, got {channel!r}")


def choose_channel(customers: DataFrame, channels: Iterable[str]) -> DataFrame:
    """``customer_id, channel, contact``: the first of ``channels`` each customer can be contacted on (or nulls)."""
    channels = tuple(channels)
    if not channels:
        raise ValueError("choose_channel: 'channels' cannot be empty")
    return customers.select(
        "customer_id",
        F.coalesce(*[F.when(contactable(c), F.lit(c)) for c in channels]).alias("channel"),
        F.coalesce(*[F.when(contactable(c), contact_value(c)) for c in channels]).alias("contact"),
    )


# --------------------------------------------------------------------------------------------------
# Evaluation
# --------------------------------------------------------------------------------------------------


def customer_events(interactions: Mapping[str, DataFrame], crosswalk: DataFrame, where: Column | None = None) -> DataFrame:
    """The interaction rows of every table in ``interactions`` with their customer (``EVENT_COLUMNS``).

    An event belongs to the customer its ``record_key`` was matched to in the crosswalk; anonymous events
    (no record key, or a record not in the crosswalk) are dropped. ``where``: a filter on the events' columns
    (:func:`usable_events`), applied before they meet the crosswalk.
    """
    if not interactions:
        raise ValueError("customer_events: 'interactions' cannot be empty")
    frames = [
        df.select(
            "record_key",
            F.lit(table).alias("table"),
            "event_type",
            "event_time",
            "campaign_id",
            "page",
            "store_id",
        )
        for table, df in interactions.items()
    ]
    union = reduce(DataFrame.unionByName, frames).where(F.col("record_key").isNotNull())
    if where is not None:
        union = union.where(where)
    return union.join(crosswalk.select("record_key", "customer_id"), "record_key").select(*EVENT_COLUMNS)


def _earliest_day(condition: Condition, earlier: Mapping[str, Condition], run_date: dt.date) -> dt.date | None:
    """The earliest day an event can have to count for ``condition`` on ``run_date`` (None: any day).

    ``within_days`` bounds it, and so does ``after``: the event is at or after the one matched by the earlier
    condition, whose own earliest day bounds it in turn."""
    bounds = []
    if condition.within_days is not None:
        bounds.append(run_date - dt.timedelta(days=condition.within_days))
    if condition.after is not None:
        bounds.append(_earliest_day(earlier[condition.after], earlier, run_date))
    return max((b for b in bounds if b is not None), default=None)


def usable_events(config: AudiencesConfig, run_date: dt.date, audiences: Iterable[str] | None = None) -> Column:
    """A filter on :func:`customer_events`' rows that keeps every event one of ``audiences`` (default: all) can
    count on ``run_date``, and only those: the kinds their conditions name, dated from the earliest day one
    of those conditions looks back to (a kind an unbounded condition uses, "never bought", keeps all its
    history) up to the run date.

    Applied to the interaction rows before they meet the crosswalk, it leaves out the history no audience
    reads (months of navigation when the furthest look-back is 90 days), and changes no audience's members.
    """
    if config is None:
        raise ValueError("usable_events: 'config' cannot be None")
    earliest: dict[str, dt.date | None] = {}
    for name in (list(audiences) if audiences is not None else config.names):
        audience = config.get(name)
        earlier = {c.name: c for c in audience.require}
        for condition in (*audience.require, *audience.exclude):
            day = _earliest_day(condition, earlier, run_date)
            known = earliest.get(condition.event, day)
            earliest[condition.event] = None if day is None or known is None else min(day, known)
    day = F.to_date("event_time")
    predicates = [
        _kind_predicate(config.events[kind]) & (day >= F.lit(since) if since is not None else F.lit(True))
        for kind, since in sorted(earliest.items())
    ]
    return reduce(lambda a, b: a | b, predicates, F.lit(False)) & (day <= F.lit(run_date))


def _glob_like(pattern: str) -> str:
    escaped = pattern.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_")
    return escaped.replace("*", "%").replace("?", "_")


def _kind_predicate(kind: EventKind) -> Column:
    predicates = []
    for s in kind.selectors:
        predicate = (F.col("table") == s.table) & F.col("event_type").isin(*s.event_types)
        if s.pages:
            predicate &= reduce(lambda a, b: a | b, [F.col("page").like(_glob_like(p)) for p in s.pages])
        if s.campaigns:
            predicate &= reduce(lambda a, b: a | b, [F.col("campaign_id").like(_glob_like(p)) for p in s.campaigns])
        predicates.append(predicate)
    return F.coalesce(reduce(lambda a, b: a | b, predicates), F.lit(False))


def _candidates(events: DataFrame, condition: Condition, kind: EventKind, run_date: dt.date,
                latest_only: bool) -> DataFrame:
    """``customer_id, <name>__time, <name>__detail, <name>__count``: the events that can satisfy ``condition``."""
    name = condition.name
    day = F.to_date("event_time")
    predicate = _kind_predicate(kind) & (day <= F.lit(run_date))
    if condition.within_days is not None:
        predicate &= day >= F.date_sub(F.lit(run_date), condition.within_days)
    detail = F.concat_ws(" ", "event_type", "campaign_id", "page", "store_id")
    # One shuffle per condition: each customer's distinct events (the same catalogue sent to two of their
    # records is one event), counted, then either all of them or only the latest.
    grouped = (
        events.where(predicate)
        .groupBy("customer_id")
        .agg(F.array_distinct(F.collect_list(F.struct(F.col("event_time").alias("time"), detail.alias("detail"))))
             .alias("_events"))
        .withColumn(f"{name}__count", F.size("_events"))
    )
    if condition.min_count > 1:
        grouped = grouped.where(F.col(f"{name}__count") >= condition.min_count)
    # Nothing refers to this event's time when latest_only: the latest one stands for all of them.
    chosen = F.array_max("_events") if latest_only else F.explode("_events")
    return grouped.select("customer_id", f"{name}__count", chosen.alias("_event")).select(
        "customer_id",
        F.col("_event.time").alias(f"{name}__time"),
        F.col("_event.detail").alias(f"{name}__detail"),
        f"{name}__count",
    )


def _follows(condition: Condition) -> Column:
    """Join condition of ``tuples`` (alias t) with ``candidates`` (alias c) for ``condition``."""
    on = F.col("t.customer_id") == F.col("c.customer_id")
    if condition.after:
        this, ref = F.col(f"c.{condition.name}__time"), F.col(f"t.{condition.after}__time")
        on &= this >= ref
        if condition.max_days_after is not None:
            on &= this <= ref + F.expr(f"INTERVAL {condition.max_days_after} DAYS")
    return on


def eligible_customers(events: DataFrame, audience: Audience, kinds: Mapping[str, EventKind],
                       run_date: dt.date) -> DataFrame:
    """``customer_id, reason`` of the customers whose events satisfy ``audience`` on ``run_date``.

    Several combinations of events may qualify a customer; the reason shows the most recent one.
    """
    if run_date is None:
        raise ValueError("eligible_customers: 'run_date' cannot be None")
    referenced = {c.after for c in (*audience.require, *audience.exclude) if c.after}
    tuples: DataFrame | None = None
    for condition in audience.require:
        candidates = _candidates(
            events, condition, kinds[condition.event], run_date,
            latest_only=condition.after is None and condition.name not in referenced,
        )
        if tuples is None:
            tuples = candidates
            continue
        tuples = (
            tuples.alias("t")
            .join(candidates.alias("c"), _follows(condition))
            .select("t.*", *[F.col(f"c.{c}") for c in candidates.columns if c != "customer_id"])
        )
    for condition in audience.exclude:
        candidates = _candidates(events, condition, kinds[condition.event], run_date,
                                 latest_only=condition.after is None)
        if condition.after is None:  # one row per customer who has such events: none of them may qualify
            tuples = tuples.join(candidates.select("customer_id"), "customer_id", "left_anti")
        else:
            tuples = tuples.alias("t").join(candidates.alias("c"), _follows(condition), "left_anti")
    most_recent = Window.partitionBy("customer_id").orderBy(
        *[F.col(f"{c.name}__time").desc() for c in reversed(audience.require)],
        *[F.col(f"{c.name}__detail") for c in audience.require],
    )
    best = tuples.withColumn("_rank", F.row_number().over(most_recent)).where("_rank = 1")
    parts = []
    for c in audience.require:
        on_day = F.date_format(f"{c.name}__time", "yyyy-MM-dd")
        if c.min_count > 1:
            parts.append(F.concat(F.lit(f"{c.name}: "), F.col(f"{c.name}__count").cast("string"),
                                  F.lit(f" x {c.event}, last "), F.col(f"{c.name}__detail"), F.lit(" on "), on_day))
        else:
            parts.append(F.concat(F.lit(f"{c.name}: "), F.col(f"{c.name}__detail"), F.lit(" on "), on_day))
    parts += [F.lit(c.describe_absence()) for c in audience.exclude]
    return best.select("customer_id", F.concat_ws("; ", *parts).alias("reason"))


def evaluate_audiences(events: DataFrame, customers: DataFrame, config: AudiencesConfig,
                       run_date: dt.date, audiences: Iterable[str] | None = None) -> DataFrame:
    """``audience, customer_id, channel, contact, reason`` of every eligible customer of every audience.

    ``channel`` and ``contact`` are null for eligible customers that cannot be contacted on any of the
    audience's channels (no consent, or nothing to reach them with): count them, then keep the members with
    ``.where("channel IS NOT NULL")``. ``customers`` is ``gold.customer`` (customer_id, email, phone_mobile,
    house_number, street, address_extra, postcode, city, consent_email, consent_sms, consent_postal).

    Example::

        eligible = evaluate_audiences(events, lake.read(tables.CUSTOMER), load_audiences(), dt.date(2026, 10, 31))
    """
    if config is None:
        raise ValueError("evaluate_audiences: 'config' cannot be None")
    wanted = list(audiences) if audiences is not None else config.names
    frames = []
    for name in wanted:
        audience = config.get(name)
        eligible = eligible_customers(events, audience, config.events, run_date)
        reach = choose_channel(customers, audience.channels)
        frames.append(
            eligible.join(reach, "customer_id", "left").select(
                F.lit(audience.name).alias("audience"), "customer_id", "channel", "contact", "reason"
            )
        )
    return reduce(DataFrame.unionByName, frames)


def with_run_date(df: DataFrame, run_date: dt.date) -> DataFrame:
    """Prefix ``run_date`` (a date column) to a snapshot's rows."""
    return df.select(F.lit(run_date).cast("date").alias("run_date"), *df.columns)


def summarise_audiences(eligible: DataFrame) -> dict[str, dict[str, Any]]:
    """Per audience of :func:`evaluate_audiences`' output: eligible customers, members, those with no channel,
    and members by channel (one small aggregation, collected)."""
    summary: dict[str, dict[str, Any]] = {}
    for row in eligible.groupBy("audience", "channel").count().collect():
        entry = summary.setdefault(row.audience, {"eligible": 0, "members": 0, "no_channel": 0, "by_channel": {}})
        entry["eligible"] += row["count"]
        if row.channel is None:
            entry["no_channel"] += row["count"]
        else:
            entry["members"] += row["count"]
            entry["by_channel"][row.channel] = row["count"]
    return summary
