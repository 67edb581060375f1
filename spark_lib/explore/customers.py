"""One customer: its records, the links between them, its linked component, its id history, its interactions.

A customer is its rows of ``gold.customer_crosswalk``. Its records are those rows joined to
``silver.customer_records``; the links between them are the deterministic edges (``silver.deterministic_edges``)
and the probabilistic pairs (``silver.match_pairs``) clustering accepted at the threshold of
``conf/matching_rules.yaml``. Links from its records to other customers' records are what merge protection
cut (or a pair below the threshold); ``gold.cluster_splits`` and ``gold.customer_id_events`` tell its history.

Functions answering from one or two tables take DataFrames; those that need several tables, some of which the
match step may not have written yet, take the :class:`~spark_lib.storage.Lakehouse`. None of them writes.

Example::

    keys = customer_record_keys(lake, "C3f9a0c2e71d84b5a6c01")
    customer_records(lake.read(tables.CUSTOMER_RECORDS), lake.read(tables.CROSSWALK), "C3f9a0c2e71d84b5a6c01", keys)
    customer_links(lake, "C3f9a0c2e71d84b5a6c01", threshold=0.9, record_keys=keys)["probabilistic"].show()
"""

from __future__ import annotations

from functools import reduce
from typing import Any, Iterable, Mapping, Sequence

from pyspark.sql import DataFrame
from pyspark.sql import functions as F

from spark_lib import tables
from spark_lib.storage import Lakehouse

#: a linked component is followed at most this many hops, or up to this many records (see linked_component)
MAX_COMPONENT_HOPS = 50
MAX_COMPONENT_RECORDS = 10_000

#: Who a source record says it is, as :func:`customer_records` shows it (after how it was matched).
IDENTITY_COLUMNS: tuple[str, ...] = (
    "name", "birth_date", "email", "phone_mobile", "postcode", "city", "loyalty_card", "account_id", "cookie_id",
    "customer_ref",
)
#: More columns of a source record worth showing next to its customer (``customer_records(extra=...)``).
RECORD_DETAIL_COLUMNS: tuple[str, ...] = (
    "civility", "first_name", "last_name", "phone_landline", "house_number", "street",
    "consent_email", "consent_sms", "consent_postal", "record_time", "quality_flags",
)


class ExplainError(LookupError):
    """What was asked cannot be explained: an unknown customer or record, no model (``rcu explain`` exits with 2)."""


class UnknownCustomerError(ExplainError):
    """The customer id is not in ``gold.customer_crosswalk``."""


class UnknownRecordError(ExplainError):
    """The record key is not in ``silver.customer_records`` or not matched yet."""


#: the columns these queries use of the tables ``rcu match`` writes, for a lakehouse where one is missing
#: (no split logged yet)
_EMPTY = {
    tables.DETERMINISTIC_EDGES: "record_key_l string, record_key_r string, rule string, value string",
    tables.MATCH_PAIRS: "record_key_l string, record_key_r string, match_probability double, match_weight double, "
                        "blocking_rule string",
    tables.CLUSTER_SPLITS: "component_id string, size_before long, sizes_after array<long>, threshold double, "
                           "reason string, run_time timestamp",
    tables.ID_EVENTS: "event_time timestamp, event_type string, customer_id string, other_ids array<string>, "
                      "records_affected long, reason string",
}


def optional_table(lake: Lakehouse, table: str) -> DataFrame:
    """``table`` (one the match step writes), or an empty DataFrame of its columns when it is not written yet."""
    df = lake.read_or_none(table)
    return df if df is not None else lake.spark.createDataFrame([], _EMPTY[table])


def collect_rows(df: DataFrame) -> list[dict[str, Any]]:
    """``df``'s rows as plain dicts (nested rows too), for printing or JSON."""
    return [r.asDict(recursive=True) for r in df.collect()]


def _text(display: str, std: str):
    """The display value, or the standardised one when the source gave none (both are strings)."""
    return F.coalesce(F.col(display), F.col(std))


def largest_customer(crosswalk: DataFrame) -> str | None:
    """The customer gathering the most source records (the smallest id among ties); None for an empty crosswalk."""
    row = crosswalk.groupBy("customer_id").count().orderBy(F.desc("count"), "customer_id").first()
    return row.customer_id if row else None


def customer_record_keys(lake: Lakehouse, customer_id: str) -> list[str]:
    """The record keys of ``customer_id`` in ``gold.customer_crosswalk``, sorted.

    Raises UnknownCustomerError, saying which customer it was merged into when a merge retired the id.

    Example::

        customer_record_keys(lake, "C3f9a0c2e71d84b5a6c01")   # ['crm_customers:CLI00003105', ...]
    """
    if not customer_id:
        raise ValueError("customer_record_keys: 'customer_id' cannot be empty")
    crosswalk = lake.read(tables.CROSSWALK)
    keys = sorted(r.record_key for r in crosswalk.where(F.col("customer_id") == customer_id).select("record_key").collect())
    if not keys:
        raise UnknownCustomerError(
            f"unknown customer {customer_id!r}: not in {tables.CROSSWALK}{_retired_hint(lake, customer_id)}"
        )
    return keys


def _retired_hint(lake: Lakehouse, customer_id: str) -> str:
    """``" (merged into C2 on ...)"`` when a merge retired the id, else ``""``."""
    events = lake.read_or_none(tables.ID_EVENTS)
    if events is None:
        return ""
    row = (
        events.where((F.col("event_type") == "merge") & F.array_contains("other_ids", customer_id))
        .orderBy(F.col("event_time").desc())
        .select("event_time", "customer_id")
        .first()
    )
    if row is None:
        return ""
    return f" (merged into {row.customer_id} on {row.event_time:%Y-%m-%d %H:%M}: rcu explain --customer {row.customer_id})"


def customer_of_record(lake: Lakehouse, record_key: str) -> str:
    """The customer id holding ``record_key``; raises UnknownRecordError (unknown, or not matched yet).

    Example::

        customer_of_record(lake, "crm_customers:CLI00003105")   # 'C3f9a0c2e71d84b5a6c01'
    """
    if not record_key:
        raise ValueError("customer_of_record: 'record_key' cannot be empty")
    row = lake.read(tables.CROSSWALK).where(F.col("record_key") == record_key).select("customer_id").first()
    if row is not None:
        return row.customer_id
    records = tables.CUSTOMER_RECORDS
    if lake.read(records).where(F.col("record_key") == record_key).limit(1).count():
        raise UnknownRecordError(f"record {record_key!r} is in {records} but not in {tables.CROSSWALK} yet: run `rcu match`")
    raise UnknownRecordError(f"unknown record {record_key!r}: not in {records} (a key is '<source>:<source record id>')")


def customer_records(
    records: DataFrame,
    crosswalk: DataFrame,
    customer_id: str,
    record_keys: Sequence[str] | None = None,
    extra: Sequence[str] = (),
) -> DataFrame:
    """The source records of a customer, one row each: how it was matched and who it says it is.

    Columns: record_key, source, source_record_id, channel, match_rule, match_probability, then
    :data:`IDENTITY_COLUMNS` (name, birth_date, email, phone_mobile, postcode, city, loyalty_card, account_id,
    cookie_id, customer_ref), then the ``extra`` columns of ``records`` it has (e.g. :data:`RECORD_DETAIL_COLUMNS`).
    Names, email and city are the source's display values, or the standardised ones when there are none. A
    crosswalk row whose silver record was erased still shows. An unknown customer gives no rows;
    ``record_keys`` (from :func:`customer_record_keys`) narrows the read of ``records``.

    Example::

        customer_records(lake.read(tables.CUSTOMER_RECORDS), crosswalk, "C3f9a0c2e71d84b5a6c01").show(truncate=False)
    """
    if not customer_id:
        raise ValueError("customer_records: 'customer_id' cannot be empty")
    if record_keys is not None:
        records = records.where(F.col("record_key").isin(list(record_keys)))
    name = F.concat_ws(" ", _text("first_name", "first_name_std"), _text("last_name", "last_name_std"))
    derived = {
        "name": F.when(name != "", name),
        "email": _text("email", "email_std"),
        "city": _text("city", "city_std"),
    }
    identity = [derived.get(c, F.col(c)).alias(c) for c in IDENTITY_COLUMNS]
    details = [c for c in extra if c in records.columns and c not in IDENTITY_COLUMNS and c != "record_key"]
    who = records.select("record_key", *identity, *details)
    return (
        crosswalk.where(F.col("customer_id") == customer_id)
        .select("record_key", "source", "source_record_id", "channel", "match_rule", "match_probability")
        .join(who, "record_key", "left")
        .orderBy("source", "record_key")
    )


def customer_links(
    lake: Lakehouse, customer_id: str, threshold: float, record_keys: Sequence[str] | None = None
) -> dict[str, DataFrame]:
    """The links of a customer's records, as DataFrames by name:

    - ``deterministic``: edges between two of its records (record_key_l, record_key_r, rule, value);
    - ``probabilistic``: scored pairs between two of its records (record_key_l, record_key_r,
      match_probability, match_weight, blocking_rule, gamma_*, and ``above_threshold``: whether clustering
      links the pair at ``threshold``, the ``clustering.threshold`` of ``conf/matching_rules.yaml``);
    - ``to_other_customers``: deterministic edges and pairs above the threshold from one of its records to
      another customer's (record_key, other_record_key, other_customer_id, link, value, match_probability):
      links that merge protection cut;
    - ``splits``: the ``gold.cluster_splits`` rows of its linked component (the records reached from its
      own through deterministic edges and pairs above the threshold, which holds the component that was
      split whatever merge protection later cut);
    - ``id_events``: ``gold.customer_id_events`` naming it, as the customer or among ``other_ids``.

    Tables the match step has not written (no split yet) give empty DataFrames. ``record_keys`` defaults to
    :func:`customer_record_keys` (which raises UnknownCustomerError).

    Example::

        links = customer_links(lake, "C3f9a0c2e71d84b5a6c01", threshold=0.9)
        links["deterministic"].show(); links["probabilistic"].show()
    """
    keys = list(record_keys) if record_keys is not None else customer_record_keys(lake, customer_id)
    edges, pairs = optional_table(lake, tables.DETERMINISTIC_EDGES), optional_table(lake, tables.MATCH_PAIRS)
    left_in, right_in = F.col("record_key_l").isin(keys), F.col("record_key_r").isin(keys)
    gammas = [c for c in pairs.columns if c.startswith("gamma_")]

    deterministic = (
        edges.where(left_in & right_in).select("record_key_l", "record_key_r", "rule", "value")
        .orderBy("record_key_l", "record_key_r", "rule")
    )
    probabilistic = (
        pairs.where(left_in & right_in)
        .select("record_key_l", "record_key_r", "match_probability", "match_weight", "blocking_rule", *gammas,
                (F.col("match_probability") >= F.lit(threshold)).alias("above_threshold"))
        .orderBy(F.col("match_probability").desc(), "record_key_l", "record_key_r")
    )

    def outward(df: DataFrame, link, value, probability) -> DataFrame:
        one_end = df.where(left_in != right_in)
        return one_end.select(
            F.when(left_in, F.col("record_key_l")).otherwise(F.col("record_key_r")).alias("record_key"),
            F.when(left_in, F.col("record_key_r")).otherwise(F.col("record_key_l")).alias("other_record_key"),
            link.alias("link"), value.alias("value"), probability.alias("match_probability"),
        )

    crosswalk = lake.read(tables.CROSSWALK).select(
        F.col("record_key").alias("other_record_key"), F.col("customer_id").alias("other_customer_id")
    )
    to_others = (
        outward(edges, F.concat(F.lit("deterministic:"), F.col("rule")), F.col("value"), F.lit(1.0))
        .unionByName(outward(pairs.where(F.col("match_probability") >= F.lit(threshold)), F.lit("probabilistic"),
                             F.lit(None).cast("string"), F.col("match_probability")))
        .join(crosswalk, "other_record_key", "left")
        .select("record_key", "other_record_key", "other_customer_id", "link", "value", "match_probability")
        .orderBy("record_key", "other_record_key", "link")
    )

    splits = optional_table(lake, tables.CLUSTER_SPLITS)
    split_ids = {r.component_id for r in splits.select("component_id").distinct().collect()}
    component = linked_component(edges, pairs, keys, threshold) if split_ids else []  # no split: no search
    splits = splits.where(F.col("component_id").isin(sorted(split_ids & set(component)))).orderBy("run_time", "component_id")

    events = (
        optional_table(lake, tables.ID_EVENTS)
        .where((F.col("customer_id") == customer_id) | F.array_contains("other_ids", customer_id))
        .select("event_time", "event_type", "customer_id", "other_ids", "records_affected", "reason")
        .orderBy("event_time", "event_type", "customer_id")
    )
    return {
        "deterministic": deterministic,
        "probabilistic": probabilistic,
        "to_other_customers": to_others,
        "splits": splits,
        "id_events": events,
    }


def linked_component(
    edges: DataFrame,
    pairs: DataFrame,
    record_keys: Iterable[str],
    threshold: float,
    *,
    max_hops: int = MAX_COMPONENT_HOPS,
    max_records: int = MAX_COMPONENT_RECORDS,
) -> list[str]:
    """The record keys reached from ``record_keys`` through deterministic ``edges`` and ``pairs`` at or above
    ``threshold`` (breadth first, one Spark job per hop), sorted; bounded by ``max_hops`` and ``max_records``.

    Example::

        linked_component(lake.read(tables.DETERMINISTIC_EDGES), lake.read(tables.MATCH_PAIRS), ["crm:C1"], 0.9)
    """
    links = edges.select("record_key_l", "record_key_r").unionByName(
        pairs.where(F.col("match_probability") >= F.lit(threshold)).select("record_key_l", "record_key_r")
    )
    seen = set(record_keys)
    frontier = set(seen)
    for _ in range(max_hops):
        if not frontier or len(seen) >= max_records:
            break
        wanted = sorted(frontier)
        rows = links.where(F.col("record_key_l").isin(wanted) | F.col("record_key_r").isin(wanted)).collect()
        frontier = {key for row in rows for key in row} - seen
        seen |= frontier
    return sorted(seen)


def explain_customer(lake: Lakehouse, customer_id: str, threshold: float, *, record: str | None = None) -> dict[str, Any]:
    """Everything ``rcu explain --customer`` shows, collected: ``customer_id``, ``record`` (the record asked
    for, marked in the text), ``clustering_threshold``, ``records`` (rows of :func:`customer_records`) and
    ``links`` (rows of each :func:`customer_links` DataFrame, by name). JSON-ready; raises UnknownCustomerError.

    Example::

        print(format_customer(explain_customer(lake, "C3f9a0c2e71d84b5a6c01", threshold=0.9)))
    """
    keys = customer_record_keys(lake, customer_id)
    records = customer_records(lake.read(tables.CUSTOMER_RECORDS), lake.read(tables.CROSSWALK), customer_id, keys)
    frames = {"records": records, **customer_links(lake, customer_id, threshold, keys)}
    rows = {name: collect_rows(df) for name, df in frames.items()}
    return {
        "customer_id": customer_id,
        "record": record,
        "clustering_threshold": threshold,
        "records": rows.pop("records"),
        "links": rows,
    }


def customer_timeline(interactions: Mapping[str, DataFrame], crosswalk: DataFrame, customer_id: str) -> DataFrame:
    """Every interaction of one customer, latest first (``interactions``: table name -> silver interaction table).

    Columns: ``event_time, table, event_type, detail, amount, record_key``.
    """
    if not interactions:
        raise ValueError("customer_timeline: 'interactions' cannot be empty")
    keys = crosswalk.where(F.col("customer_id") == customer_id).select("record_key")
    frames = [
        df.join(keys, "record_key").select(
            "event_time",
            F.lit(table).alias("table"),
            "event_type",
            F.concat_ws(" ", "campaign_id", "page", "product", "store_id", "order_id").alias("detail"),
            "amount",
            "record_key",
        )
        for table, df in interactions.items()
    ]
    return reduce(DataFrame.unionByName, frames).orderBy(F.desc("event_time"), "table")
