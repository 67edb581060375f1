"""Real-time triggers: the firings that the online events of a micro-batch justify, declared in ``conf/triggers.yaml``.

Four rules (the file's header says what each one means and which keys it reads):

- ``cart_abandoned``: a cart and no order by the same customer within ``within`` (30 minutes) of event time,
  fired once the stream's watermark has passed the cart's time plus ``within`` (a late order inside the
  watermark still cancels it);
- ``catalogue_visit``: a site visit within ``within`` (14 days) after a catalogue the batch's ``silver.mailings``
  says was sent to the customer;
- ``first_login``: a login by an account never seen logging in before;
- ``browse_intent``: ``min_count`` pages of one category by one cookie within ``within``.

Each rule gives *candidates* (``trigger_key, trigger, customer_id, event_time, reason``) from the micro-batch's
events and the silver tables; :func:`spark_lib.streaming.rules.deliverable` keeps those that may be sent: a customer who consented to and
can be reached on one of the trigger's channels (the audiences' rules, :func:`spark_lib.gold.audiences.contactable`),
who did not object to marketing, and not fired the same trigger within the frequency cap (event time, so that a
replayed micro-batch decides the same). ``trigger_key`` is made of the trigger and the event(s) that justify it:
the same events never fire twice.

The rules here are Spark's, on whole tables: the recomputation in batch that the stream's firings are checked
against (:mod:`spark_lib.streaming.check`). A micro-batch runs the same rules in pandas on the driver
(:mod:`spark_lib.streaming.rules`): on a few thousand rows, a dozen Spark queries would cost seconds.

Example::

    config = load_triggers("conf/triggers.yaml")
    candidates = evaluate(config, inputs)          # inputs: a TriggerInputs of resolved events
"""

from __future__ import annotations

import datetime as dt
import os
import re
from dataclasses import dataclass
from functools import reduce
from pathlib import Path
from typing import Any

from pyspark.sql import Column, DataFrame
from pyspark.sql import functions as F

from spark_lib.config import DEFAULT_CONF_DIR, ConfigError, check_topic_name, read_section, read_yaml
from spark_lib.gold.audiences import CHANNELS

RULES = ("cart_abandoned", "catalogue_visit", "first_login", "browse_intent")
_WITHIN = re.compile(r"^\s*(\d+)\s*(minute|hour|day)s?\s*$")
#: the columns of a candidate firing, then those :func:`spark_lib.streaming.rules.deliverable` adds
CANDIDATE_COLUMNS = ("trigger_key", "trigger", "customer_id", "event_time", "reason")
FIRED_COLUMNS = ("trigger_key", "trigger", "customer_id", "channel", "reason", "event_time", "fired_at", "batch_id")


@dataclass(frozen=True)
class StreamSettings:
    """``stream:`` of triggers.yaml: the pace of the micro-batches, the watermark, the cap, the outbound topic."""

    trigger_seconds: int = 5
    watermark_minutes: int = 30
    frequency_cap_hours: int = 24
    outbound_topic: str = "rcu.triggers"

    def __post_init__(self) -> None:
        for name in ("trigger_seconds", "watermark_minutes", "frequency_cap_hours"):
            if getattr(self, name) < 0:
                raise ConfigError(f"{name}: expected 0 or more, got {getattr(self, name)}")
        check_topic_name(self.outbound_topic, "outbound_topic")

    @property
    def watermark(self) -> dt.timedelta:
        return dt.timedelta(minutes=self.watermark_minutes)


@dataclass(frozen=True)
class Trigger:
    """One trigger of triggers.yaml (see the file's header for what each key means to each rule)."""

    name: str
    rule: str
    description: str
    channels: tuple[str, ...]
    event_types: tuple[str, ...]
    within: str | None = None
    cancel_event_types: tuple[str, ...] = ()
    mailing_event_types: tuple[str, ...] = ()
    page_pattern: str | None = None
    min_count: int = 1

    def __post_init__(self) -> None:
        if self.rule not in RULES:
            raise ConfigError(f"rule: {self.rule!r} is not one of {', '.join(RULES)}")
        if not self.description.strip() or not self.event_types:
            raise ConfigError("description and event_types: expected a text and a non-empty list")
        if not self.channels or any(c not in CHANNELS for c in self.channels):
            raise ConfigError(f"channels: expected some of {', '.join(CHANNELS)}, got {list(self.channels)}")
        needs = {"cart_abandoned": ("within", "cancel_event_types"), "catalogue_visit": ("within", "mailing_event_types"),
                 "browse_intent": ("within", "page_pattern"), "first_login": ()}[self.rule]
        for key in needs:
            if not getattr(self, key):
                raise ConfigError(f"{key}: the rule {self.rule} needs it")
        if self.within is not None:
            self.window   # checks the text
        if self.page_pattern is not None:
            try:
                if re.compile(self.page_pattern).groups < 1:
                    raise ConfigError(f"page_pattern: {self.page_pattern!r} needs a group: the category")
            except re.error as error:
                raise ConfigError(f"page_pattern: {self.page_pattern!r} is not a regular expression: {error}") from None
        if self.min_count < 1:
            raise ConfigError(f"min_count: expected at least 1, got {self.min_count}")

    @property
    def window(self) -> dt.timedelta:
        """``within`` as a duration (``30 minutes`` -> 0:30:00)."""
        found = _WITHIN.match(self.within or "")
        if not found:
            raise ConfigError(f"within: expected '<N> minutes|hours|days', got {self.within!r}")
        return dt.timedelta(**{f"{found[2]}s": int(found[1])})


@dataclass(frozen=True)
class TriggersConfig:
    stream: StreamSettings
    triggers: tuple[Trigger, ...]
    file: str = ""


def load_triggers(path: str | os.PathLike | None = None) -> TriggersConfig:
    """Load ``conf/triggers.yaml`` strictly: an unknown key, a rule that lacks a setting, a bad ``within``
    raise :class:`ConfigError` naming the file and the key."""
    file = Path(path or DEFAULT_CONF_DIR / "triggers.yaml")

    def triggers(value: Any, where: str, file_: str) -> tuple[Trigger, ...]:
        if not isinstance(value, dict) or not value:
            raise ConfigError(f"{file_}: {where}: expected a mapping of trigger name to its settings")
        return tuple(read_section(Trigger, entry, f"{where}.{name}", file_, preset={"name": name})
                     for name, entry in value.items())

    return read_section(TriggersConfig, read_yaml(file), "", str(file), preset={"file": str(file)},
                        nested={"triggers": triggers})


@dataclass(frozen=True)
class TriggerInputs:
    """What the rules read, every event with its ``customer_id`` (null: not resolved) — see
    :func:`spark_lib.streaming.stream.resolve_customers`:

    ``batch``: the micro-batch's on-time events (``interaction_key, table, record_key, account_key, event_type,
    event_time, page, campaign_id, customer_id``); ``navigation``, ``orders``: the silver rows of the last day or
    so (this micro-batch's included); ``mailings``: silver.mailings (None: no such table); ``seen_logins``:
    ``account_key, seen_time`` of the accounts known to have logged in; ``watermark``: the stream's, after
    this micro-batch."""

    batch: DataFrame
    navigation: DataFrame
    orders: DataFrame
    mailings: DataFrame | None
    seen_logins: DataFrame
    watermark: dt.datetime


def _when(column: str = "event_time") -> Column:
    return F.date_format(column, "yyyy-MM-dd HH:mm")


def _candidates(df: DataFrame, trigger: Trigger, key: Column, reason: Column) -> DataFrame:
    return df.select(F.concat(F.lit(f"{trigger.name}:"), key).alias("trigger_key"), F.lit(trigger.name).alias("trigger"),
                     "customer_id", "event_time", reason.alias("reason"))


def cart_abandoned(trigger: Trigger, inputs: TriggerInputs) -> DataFrame:
    """Carts whose wait the watermark has passed, with no order of the customer within the wait."""
    wait = trigger.window
    carts = inputs.navigation.where(
        F.col("event_type").isin(*trigger.event_types) & F.col("customer_id").isNotNull()
        & (F.col("event_time") <= F.lit(inputs.watermark - wait))
    ).alias("c")
    orders = inputs.orders.where(F.col("event_type").isin(*trigger.cancel_event_types)).alias("o")
    ordered = ((F.col("o.customer_id") == F.col("c.customer_id")) & (F.col("o.event_time") >= F.col("c.event_time"))
               & (F.col("o.event_time") <= F.col("c.event_time") + F.expr(f"INTERVAL {int(wait.total_seconds())} SECONDS")))
    left = carts.join(orders, ordered, "left_anti")
    reason = F.concat(F.col("event_type"), F.lit(" "), F.coalesce("page", F.lit("")), F.lit(" at "), _when(),
                      F.lit(f"; no order within {trigger.within}"))
    return _candidates(left, trigger, F.col("interaction_key"), reason)


def catalogue_visit(trigger: Trigger, inputs: TriggerInputs) -> DataFrame:
    """Visits of the micro-batch within the window after a catalogue sent to the same customer."""
    if inputs.mailings is None:
        return _candidates(inputs.batch.limit(0), trigger, F.lit(""), F.lit(""))
    visits = inputs.batch.where((F.col("table") == "navigation_events") & F.col("event_type").isin(*trigger.event_types)
                                & F.col("customer_id").isNotNull()).alias("v")
    mailings = inputs.mailings.where(F.col("event_type").isin(*trigger.mailing_event_types)).select(
        "customer_id", F.col("interaction_key").alias("mailing_key"), F.col("event_time").alias("sent_time"),
        F.col("campaign_id").alias("mailing_campaign")).alias("m")
    seconds = int(trigger.window.total_seconds())
    after = ((F.col("m.customer_id") == F.col("v.customer_id")) & (F.col("v.event_time") >= F.col("m.sent_time"))
             & (F.col("v.event_time") <= F.col("m.sent_time") + F.expr(f"INTERVAL {seconds} SECONDS")))
    pairs = visits.join(mailings, after).select("v.*", "mailing_key", "sent_time", "mailing_campaign")
    reason = F.concat(F.lit("catalogue "), F.coalesce("mailing_campaign", F.lit("")), F.lit(" sent "),
                      _when("sent_time"), F.lit("; visit "), F.coalesce("page", F.lit("")), F.lit(" at "), _when())
    key = F.concat(F.col("customer_id"), F.lit(":"), F.col("mailing_key"))
    return _candidates(pairs, trigger, key, reason)


def first_login(trigger: Trigger, inputs: TriggerInputs) -> DataFrame:
    """Logins of the micro-batch by accounts not seen logging in before (the earliest login of each)."""
    logins = inputs.batch.where((F.col("table") == "navigation_events") & F.col("event_type").isin(*trigger.event_types)
                                & F.col("account_key").isNotNull() & F.col("customer_id").isNotNull()).alias("l")
    seen = inputs.seen_logins.alias("s")
    earlier = (F.col("s.account_key") == F.col("l.account_key")) & (F.col("s.seen_time") < F.col("l.event_time"))
    first = logins.join(seen, earlier, "left_anti")
    reason = F.concat(F.lit("first login at "), _when())
    return _candidates(first, trigger, F.col("account_key"), reason)


def browse_intent(trigger: Trigger, inputs: TriggerInputs) -> DataFrame:
    """Events of the micro-batch that end a window holding ``min_count`` pages of one category by one cookie."""
    def pages(df: DataFrame) -> DataFrame:
        category = F.regexp_extract("page", trigger.page_pattern, 1)
        return (df.where(F.col("event_type").isin(*trigger.event_types) & F.col("page").rlike(trigger.page_pattern))
                .withColumn("category", category))

    anchors = pages(inputs.batch.where((F.col("table") == "navigation_events") & F.col("customer_id").isNotNull())).alias("a")
    seen = pages(inputs.navigation).select("record_key", "category", "interaction_key", "event_time").alias("h")
    seconds = int(trigger.window.total_seconds())
    within = ((F.col("h.record_key") == F.col("a.record_key")) & (F.col("h.category") == F.col("a.category"))
              & (F.col("h.event_time") <= F.col("a.event_time"))
              & (F.col("h.event_time") >= F.col("a.event_time") - F.expr(f"INTERVAL {seconds} SECONDS")))
    counted = (anchors.join(seen, within)
               .groupBy("a.interaction_key", "a.customer_id", "a.event_time", "a.category")
               .agg(F.countDistinct("h.interaction_key").alias("pages"))
               .where(F.col("pages") >= trigger.min_count))
    reason = F.concat(F.col("pages").cast("string"), F.lit(" pages of "), F.col("category"),
                      F.lit(f" within {trigger.within}, the last at "), _when())
    return _candidates(counted, trigger, F.col("interaction_key"), reason)


RULE_FUNCTIONS = {"cart_abandoned": cart_abandoned, "catalogue_visit": catalogue_visit, "first_login": first_login,
                  "browse_intent": browse_intent}


def evaluate(config: TriggersConfig, inputs: TriggerInputs) -> DataFrame:
    """Every trigger's candidates (:data:`CANDIDATE_COLUMNS`), one DataFrame."""
    return reduce(DataFrame.unionByName, [RULE_FUNCTIONS[t.rule](t, inputs) for t in config.triggers])


def with_firing(df: DataFrame, fired_at: dt.datetime, batch_id: int) -> DataFrame:
    """The rows of gold.trigger_events (:data:`FIRED_COLUMNS`): ``fired_at`` and the micro-batch that fired them."""
    return df.select("trigger_key", "trigger", "customer_id", "channel", "reason", "event_time",
                     F.lit(fired_at).cast("timestamp").alias("fired_at"), F.lit(batch_id).cast("long").alias("batch_id"))

