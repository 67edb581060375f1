"""``gold.customer`` (one golden record per customer) and ``gold.customer_provenance`` (where each value came from).

Both are read off the survivors of :func:`spark_lib.gold.survivorship.survive`, so a value and its
provenance always come from the same record.

``gold.customer``
    ``customer_id``; the attributes' columns in configuration order (by default civility, first_name,
    last_name, birth_date, email, phone_mobile, phone_landline, house_number, street, address_extra,
    postcode, city, country); ``consent_<channel>``, ``consent_<channel>_date``, ``consent_<channel>_source``
    for email, sms, postal; ``first_seen``, ``last_seen``, ``sources`` (array), ``record_count``;
    ``content_hash`` (SHA-256 of every column above but the id) and ``updated_at`` (when the content last
    changed: the job's MERGE only rewrites a customer whose hash differs, so it keeps the old time otherwise).

``gold.customer_provenance``
    ``customer_id, attribute, value, source, record_key, rule, observed_at``: exactly one row per non-null
    survived column of each golden record (every attribute column and ``consent_<channel>``; the
    ``_date``/``_source`` of a consent are its provenance already, and the aggregates ``first_seen``,
    ``last_seen``, ``sources``, ``record_count`` come from all records, not one). ``value`` is the column cast
    to a string (dates ``yyyy-MM-dd``, booleans ``true``/``false``); ``observed_at`` is the winning record's
    ``record_time``, or the consent statement's time.

Example::

    survivors = survive(with_customer_id(records, crosswalk), config.survivorship, sources.trust()).localCheckpoint()
    customers = golden_records(survivors, config.survivorship, run_time)
    provenance = customer_provenance(survivors, config.survivorship)
"""

from __future__ import annotations

import datetime as dt
from typing import Sequence

from pyspark.sql import DataFrame
from pyspark.sql import functions as F

from spark_lib.gold.survivorship import (
    CONSENT_CHANNELS,
    CONSENT_RULE,
    AttributeRule,
    check_attributes,
    require_columns,
)

#: Columns of gold.customer after the survived attributes, in order.
TRAILING_COLUMNS: tuple[str, ...] = tuple(
    [c for ch in CONSENT_CHANNELS for c in (f"consent_{ch}", f"consent_{ch}_date", f"consent_{ch}_source")]
    + ["first_seen", "last_seen", "sources", "record_count", "content_hash", "updated_at"]
)


def golden_columns(attributes: Sequence[AttributeRule]) -> list[str]:
    """The columns of ``gold.customer`` for this configuration, in order."""
    return ["customer_id"] + [c for rule in attributes for c in rule.columns] + list(TRAILING_COLUMNS)


def content_hash(columns: Sequence[str]) -> F.Column:
    """SHA-256 of the JSON of ``columns``: equal content, equal hash (the MERGE compares only this)."""
    return F.sha2(F.to_json(F.struct(*[F.col(c) for c in columns])), 256)


def golden_records(survivors: DataFrame, attributes: Sequence[AttributeRule], run_time: dt.datetime) -> DataFrame:
    """``gold.customer`` rows from the survivors; ``updated_at`` is ``run_time`` (kept only for changed rows).

    Example::

        customers = golden_records(survivors, config.survivorship, datetime(2026, 11, 1))
    """
    if not isinstance(run_time, dt.datetime):
        raise TypeError(f"'run_time' must be a datetime, got {type(run_time).__name__}")
    check_attributes(attributes)
    require_columns(survivors, ["customer_id"] + [f"attr_{r.name}" for r in attributes], "survivors")
    values = [F.col(f"attr_{rule.name}.{c}").alias(c) for rule in attributes for c in rule.columns]
    consents = []
    for channel in CONSENT_CHANNELS:
        winner = f"consent_{channel}"
        consents += [
            F.col(f"{winner}.value").alias(f"consent_{channel}"),
            F.col(f"{winner}.observed_at").alias(f"consent_{channel}_date"),
            F.col(f"{winner}.source").alias(f"consent_{channel}_source"),
        ]
    frame = survivors.select(
        "customer_id", *values, *consents, "first_seen", "last_seen", "sources",
        F.col("record_count").cast("long").alias("record_count"),
    )
    hashed = [c for c in frame.columns if c != "customer_id"]
    # a naive run_time is UTC (the session time zone), whatever the machine's zone
    run_ts = F.lit(run_time if run_time.tzinfo else run_time.replace(tzinfo=dt.timezone.utc)).cast("timestamp")
    return frame.select("*", content_hash(hashed).alias("content_hash"), run_ts.alias("updated_at"))


def customer_provenance(survivors: DataFrame, attributes: Sequence[AttributeRule]) -> DataFrame:
    """``gold.customer_provenance``: one row per non-null survived column of each golden record.

    Example::

        customer_provenance(survivors, config.survivorship).where("attribute = 'email'")
    """
    check_attributes(attributes)
    require_columns(survivors, ["customer_id"] + [f"attr_{r.name}" for r in attributes], "survivors")
    entries = []
    for rule in attributes:
        winner = f"attr_{rule.name}"
        for column in rule.columns:
            entries.append(
                F.struct(
                    F.lit(column).alias("attribute"),
                    F.col(f"{winner}.{column}").cast("string").alias("value"),
                    F.col(f"{winner}.source").alias("source"),
                    F.col(f"{winner}.record_key").alias("record_key"),
                    F.lit(rule.rule_label).alias("rule"),
                    F.col(f"{winner}.observed_at").alias("observed_at"),
                )
            )
    for channel in CONSENT_CHANNELS:
        winner = f"consent_{channel}"
        entries.append(
            F.struct(
                F.lit(f"consent_{channel}").alias("attribute"),
                F.col(f"{winner}.value").cast("string").alias("value"),
                F.col(f"{winner}.source").alias("source"),
                F.col(f"{winner}.record_key").alias("record_key"),
                F.lit(CONSENT_RULE).alias("rule"),
                F.col(f"{winner}.observed_at").alias("observed_at"),
            )
        )
    return (
        survivors.select("customer_id", F.explode(F.array(*entries)).alias("p"))
        .where(F.col("p.value").isNotNull())
        .select("customer_id", "p.attribute", "p.value", "p.source", "p.record_key", "p.rule", "p.observed_at")
    )


def customer_changes(customers: DataFrame, current: DataFrame | None, scope: DataFrame | None = None) -> DataFrame:
    """What publishing ``customers`` over ``current`` (``gold.customer``, or None) changes.

    New and changed rows (``content_hash`` differs), and a delete marker per id of ``current`` that
    ``customers`` no longer has. Columns: those of ``customers`` and ``_delete`` (true: only ``customer_id``
    is meaningful). Unchanged customers are absent, so a MERGE of this frame touches no file that holds only
    them (Delta rewrites every file holding a *matched* row, even when no clause applies to it).

    ``scope`` (a frame of ``customer_id``): ``customers`` holds those customers only (a daily run's), and
    only the ids of ``current`` in it can be deleted; every other customer stays as it is.

    Example::

        changes = customer_changes(golden_records(...), lake.read_or_none(tables.CUSTOMER))
    """
    require_columns(customers, ["customer_id", "content_hash"], "customers")
    if current is None:
        return customers.withColumn("_delete", F.lit(False))
    if scope is not None:
        current = current.join(scope.select("customer_id"), "customer_id", "left_semi")
    current = current.select("customer_id", F.col("content_hash").alias("_current_hash"))
    upserts = (
        customers.join(current, "customer_id", "left")
        .where(F.col("_current_hash").isNull() | (F.col("_current_hash") != F.col("content_hash")))
        .drop("_current_hash")
        .withColumn("_delete", F.lit(False))
    )
    gone = current.join(customers.select("customer_id"), "customer_id", "left_anti").select("customer_id")
    deletes = gone.select(
        *[F.col("customer_id") if c == "customer_id" else F.lit(None).cast(t).alias(c)
          for c, t in ((f.name, f.dataType) for f in customers.schema.fields)],
        F.lit(True).alias("_delete"),
    )
    return upserts.unionByName(deletes)

