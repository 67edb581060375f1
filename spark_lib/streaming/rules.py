"""The triggers of ``conf/triggers.yaml`` on one micro-batch, evaluated on the driver in pandas.

A micro-batch holds a few thousand events; the rules join them with a day or so of silver rows (a few tens of
thousands). Spark SQL costs about a second per query on such tiny data on a 2-core machine (planning, code
generation, task scheduling), and the rules and their filters are a dozen queries; pandas does them all in tens of
milliseconds. The rules are those of :mod:`spark_lib.streaming.triggers` (its module docstring says what each one
means), whose Spark functions stay the recomputation in batch on whole tables that the stream's firings are
checked against (``tests/test_stream.py``, ``benchmarks/bench_stream.py``).

Every frame holds naive UTC timestamps (``event_time``) and ``customer_id`` (None: not resolved).

Example::

    candidates = evaluate(config, inputs)                     # inputs: a RuleInputs
    fired = deliverable(candidates, config, channels, objecting, earlier_times, earlier_keys)
"""

from __future__ import annotations

import datetime as dt
import re
from dataclasses import dataclass

import pandas as pd

from spark_lib.streaming.triggers import CANDIDATE_COLUMNS, Trigger, TriggersConfig

#: the columns of a micro-batch's events as the rules read them
BATCH_COLUMNS = ("interaction_key", "table", "record_key", "account_key", "event_type", "event_time", "page",
                 "campaign_id", "customer_id")


@dataclass(frozen=True)
class RuleInputs:
    """What the rules read (as :class:`spark_lib.streaming.triggers.TriggerInputs`, in pandas).

    ``batch``: the micro-batch's on-time events (:data:`BATCH_COLUMNS`); ``navigation``, ``orders``: the silver
    rows of the look-back, this micro-batch's included; ``mailings``: silver.mailings (None: no such table);
    ``first_seen``: for each account key, the earliest time it was seen logged in (stream links and the batch's
    web records); ``watermark``: the stream's, after this micro-batch."""

    batch: pd.DataFrame
    navigation: pd.DataFrame
    orders: pd.DataFrame
    mailings: pd.DataFrame | None
    first_seen: dict[str, dt.datetime]
    watermark: dt.datetime


def minute(times: pd.Series) -> pd.Series:
    """``yyyy-MM-dd HH:mm``, as the Spark rules write times in a reason."""
    return times.dt.strftime("%Y-%m-%d %H:%M")


def _candidates(df: pd.DataFrame, trigger: Trigger, key: pd.Series, reason: pd.Series) -> pd.DataFrame:
    return pd.DataFrame({"trigger_key": f"{trigger.name}:" + key, "trigger": trigger.name,
                         "customer_id": df["customer_id"], "event_time": df["event_time"], "reason": reason},
                        index=df.index, columns=list(CANDIDATE_COLUMNS))


def _none() -> pd.DataFrame:
    return pd.DataFrame({c: pd.Series(dtype="object") for c in CANDIDATE_COLUMNS})


def cart_abandoned(trigger: Trigger, inputs: RuleInputs) -> pd.DataFrame:
    """Carts whose wait the watermark has passed, with no order of the customer within the wait."""
    wait = trigger.window
    nav = inputs.navigation
    carts = nav[nav["event_type"].isin(trigger.event_types) & nav["customer_id"].notna()
                & (nav["event_time"] <= inputs.watermark - wait)]
    if carts.empty:
        return _none()
    orders = inputs.orders[inputs.orders["event_type"].isin(trigger.cancel_event_types)
                           & inputs.orders["customer_id"].notna()]
    pairs = carts[["interaction_key", "customer_id", "event_time"]].merge(
        orders[["customer_id", "event_time"]].rename(columns={"event_time": "order_time"}), on="customer_id")
    ordered = pairs[(pairs["order_time"] >= pairs["event_time"]) & (pairs["order_time"] <= pairs["event_time"] + wait)]
    left = carts[~carts["interaction_key"].isin(ordered["interaction_key"])]
    reason = (left["event_type"] + " " + left["page"].fillna("") + " at " + minute(left["event_time"])
              + f"; no order within {trigger.within}")
    return _candidates(left, trigger, left["interaction_key"], reason)


def catalogue_visit(trigger: Trigger, inputs: RuleInputs) -> pd.DataFrame:
    """Visits of the micro-batch within the window after a catalogue sent to the same customer."""
    if inputs.mailings is None:
        return _none()
    batch = inputs.batch
    visits = batch[(batch["table"] == "navigation_events") & batch["event_type"].isin(trigger.event_types)
                   & batch["customer_id"].notna()]
    mailings = inputs.mailings[inputs.mailings["event_type"].isin(trigger.mailing_event_types)
                               & inputs.mailings["customer_id"].isin(visits["customer_id"])]
    mailings = mailings.rename(columns={"interaction_key": "mailing_key", "event_time": "sent_time",
                                        "campaign_id": "mailing_campaign"})
    pairs = visits.merge(mailings[["customer_id", "mailing_key", "sent_time", "mailing_campaign"]], on="customer_id")
    pairs = pairs[(pairs["event_time"] >= pairs["sent_time"]) & (pairs["event_time"] <= pairs["sent_time"] + trigger.window)]
    reason = ("catalogue " + pairs["mailing_campaign"].fillna("") + " sent " + minute(pairs["sent_time"]) + "; visit "
              + pairs["page"].fillna("") + " at " + minute(pairs["event_time"]))
    return _candidates(pairs, trigger, pairs["customer_id"] + ":" + pairs["mailing_key"], reason)


def first_login(trigger: Trigger, inputs: RuleInputs) -> pd.DataFrame:
    """Logins of the micro-batch by accounts not seen logging in before."""
    batch = inputs.batch
    logins = batch[(batch["table"] == "navigation_events") & batch["event_type"].isin(trigger.event_types)
                   & batch["account_key"].notna() & batch["customer_id"].notna()]
    seen = logins["account_key"].map(inputs.first_seen)
    first = logins[seen.isna() | ~(seen < logins["event_time"])]
    return _candidates(first, trigger, first["account_key"], "first login at " + minute(first["event_time"]))


def browse_intent(trigger: Trigger, inputs: RuleInputs) -> pd.DataFrame:
    """Events of the micro-batch that end a window holding ``min_count`` pages of one category by one cookie."""
    pattern = re.compile(trigger.page_pattern)

    def pages(df: pd.DataFrame) -> pd.DataFrame:
        found = df[df["event_type"].isin(trigger.event_types)]
        matches = [None if page is None or pd.isna(page) else pattern.search(page) for page in found["page"]]
        category = pd.Series([m.group(1) or "" if m else None for m in matches], index=found.index, dtype="object")
        return found[category.notna()].assign(category=category[category.notna()])

    batch = inputs.batch
    anchors = pages(batch[(batch["table"] == "navigation_events") & batch["customer_id"].notna()])
    if anchors.empty:
        return _none()
    nav = inputs.navigation
    seen = pages(nav[nav["record_key"].isin(anchors["record_key"])])[
        ["record_key", "category", "interaction_key", "event_time"]].rename(
        columns={"interaction_key": "seen_key", "event_time": "seen_time"})
    pairs = anchors[["interaction_key", "customer_id", "event_time", "category", "record_key"]].merge(
        seen, on=["record_key", "category"])
    pairs = pairs[(pairs["seen_time"] <= pairs["event_time"]) & (pairs["seen_time"] >= pairs["event_time"] - trigger.window)]
    counted = (pairs.groupby(["interaction_key", "customer_id", "event_time", "category"])["seen_key"].nunique()
               .reset_index(name="pages"))
    counted = counted[counted["pages"] >= trigger.min_count]
    reason = (counted["pages"].astype(str) + " pages of " + counted["category"]
              + f" within {trigger.within}, the last at " + minute(counted["event_time"]))
    return _candidates(counted, trigger, counted["interaction_key"], reason)


RULE_FUNCTIONS = {"cart_abandoned": cart_abandoned, "catalogue_visit": catalogue_visit, "first_login": first_login,
                  "browse_intent": browse_intent}


def evaluate(config: TriggersConfig, inputs: RuleInputs) -> pd.DataFrame:
    """Every trigger's candidates (:data:`~spark_lib.streaming.triggers.CANDIDATE_COLUMNS`), one frame."""
    found = [RULE_FUNCTIONS[t.rule](t, inputs) for t in config.triggers]
    found = [f for f in found if not f.empty]
    return pd.concat(found, ignore_index=True) if found else _none()


def epoch_seconds(times: pd.Series | dt.datetime) -> pd.Series | int:
    """Whole seconds since 1970 (``unix_timestamp``: the fraction dropped), of naive UTC times or of one."""
    return (times - pd.Timestamp("1970-01-01")) // pd.Timedelta(seconds=1)


def deliverable(candidates: pd.DataFrame, config: TriggersConfig, channels: dict[str, dict[str, str]],
                objecting: set[str], fired: dict[tuple[str, str], list[int]], fired_keys: set[str]) -> pd.DataFrame:
    """The candidates that may be sent, each with its channel: ``trigger_key, trigger, customer_id, channel,
    reason, event_time``.

    ``channels``: per trigger, the first of its channels each customer consented to and can be reached on (the
    audiences' rules on gold.customer); ``objecting``: the customers who objected to marketing; ``fired``: the
    event times (epoch seconds) of the firings already made, per (trigger, customer); ``fired_keys``: their
    ``trigger_key``, each of which fires once. In event-time order, a candidate is kept unless a firing of the
    same trigger to the same customer, made before or kept before it, is within ``frequency_cap_hours`` of it:
    a replay that puts two days of one customer's carts in one micro-batch fires one a day, as a live stream
    would."""
    columns = ["trigger_key", "trigger", "customer_id", "channel", "reason", "event_time"]
    if candidates.empty:
        return pd.DataFrame(columns=columns)
    channel = pd.Series(None, index=candidates.index, dtype="object")
    for trigger in config.triggers:
        mine = candidates["trigger"] == trigger.name
        channel[mine] = candidates.loc[mine, "customer_id"].map(channels.get(trigger.name, {}))
    reach = candidates.assign(channel=channel)
    reach = reach[reach["channel"].notna() & ~reach["customer_id"].isin(objecting) & ~reach["trigger_key"].isin(fired_keys)]
    reach = reach.sort_values(["event_time", "trigger_key"]).drop_duplicates("trigger_key")
    cap = int(config.stream.frequency_cap_hours * 3600)
    made: dict[tuple[str, str], list[int]] = {}   # the firings made and kept so far, per (trigger, customer) met
    kept = []
    for index, trigger, customer, second in zip(reach.index, reach["trigger"], reach["customer_id"],
                                                epoch_seconds(reach["event_time"])):
        earlier = made.setdefault((trigger, customer), list(fired.get((trigger, customer), ())))
        if all(abs(time - second) >= cap for time in earlier):
            earlier.append(int(second))
            kept.append(index)
    return reach.loc[kept, columns].reset_index(drop=True)
