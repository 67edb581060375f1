"""The crosswalk: each source record with its customer id and how it was matched (``gold.customer_crosswalk``).

``match_rule`` says how: ``deterministic:<pivot>``, ``probabilistic`` (with ``match_probability``),
``steward`` (a data steward's *same*), ``stream_login`` (a login the stream saw), ``singleton``, or ``anonymous``
for a record with nothing to match on.

Example::

    crosswalk = build_crosswalk(records, clusters.assignments, registry, run_time)
    summarise_crosswalk(lake.read(tables.CROSSWALK))   # CrosswalkSummary(records=..., customers=..., largest=...)
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass

from pyspark.sql import DataFrame
from pyspark.sql import functions as F

from spark_lib.columns import require_columns
from spark_lib.schemas import CROSSWALK

#: the crosswalk columns a MERGE compares: a row whose values are unchanged is not rewritten
COMPARED_COLUMNS = ("customer_id", "match_rule", "match_probability")


def build_crosswalk(records: DataFrame, assignments: DataFrame, registry: DataFrame, run_time: dt.datetime) -> DataFrame:
    """One row per record of ``records`` (:data:`spark_lib.schemas.CROSSWALK`).

    ``assignments``: record_key, match_rule, match_probability (from clustering); ``registry``: record_key,
    customer_id (from :func:`~spark_lib.matching.ids.assign_customer_ids`); ``run_time``: ``matched_at``.
    """
    require_columns(records, ["record_key", "source", "source_record_id", "channel"], "records")
    require_columns(assignments, ["record_key", "match_rule", "match_probability"], "assignments")
    require_columns(registry, ["record_key", "customer_id"], "registry")
    return (
        records.select("record_key", "source", "source_record_id", "channel")
        .join(assignments.select("record_key", "match_rule", "match_probability"), "record_key")
        .join(registry.select("record_key", "customer_id"), "record_key")
        .select(
            *CROSSWALK.fieldNames()[:-1],
            F.lit(run_time.replace(tzinfo=None)).cast("timestamp").alias("matched_at"),
        )
    )


@dataclass(frozen=True)
class CrosswalkSummary:
    records: int
    customers: int
    #: records of the largest customer
    largest: int


def summarise_crosswalk(crosswalk: DataFrame) -> CrosswalkSummary:
    """Records, customers and the largest customer's size, in one Spark job."""
    require_columns(crosswalk, ["customer_id"], "crosswalk")
    sizes = crosswalk.groupBy("customer_id").count()
    row = sizes.agg(F.count("*").alias("customers"), F.sum("count").alias("records"), F.max("count").alias("largest")).first()
    return CrosswalkSummary(records=int(row.records or 0), customers=int(row.customers or 0), largest=int(row.largest or 0))
