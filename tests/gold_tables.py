"""Tiny gold and silver tables for the tests of audiences, KPIs, the dashboard and the notebooks.

The schemas follow the gold table contract (``gold.customer``, ``gold.customer_360``,
``gold.customer_segments``, ``gold.customer_crosswalk``) and ``spark_lib.schemas.INTERACTIONS``; every
builder takes only the fields a test cares about and fills the rest with nulls.
"""

from __future__ import annotations

import datetime as dt
import itertools
from collections import defaultdict

from pyspark.sql import DataFrame, SparkSession
from pyspark.sql.types import (
    ArrayType,
    BooleanType,
    DateType,
    DoubleType,
    IntegerType,
    LongType,
    StringType,
    StructField,
    StructType,
    TimestampType,
)

from spark_lib import schemas, tables
from spark_lib.schemas import INTERACTIONS
from tests.records import frame, silver_record

CUSTOMER = StructType(
    [
        StructField("customer_id", StringType(), False),
        *[StructField(c, StringType()) for c in ("civility", "first_name", "last_name")],
        StructField("birth_date", DateType()),
        *[StructField(c, StringType()) for c in ("email", "phone_mobile", "house_number", "street", "address_extra",
                                                  "postcode", "city", "country")],
        *[
            field
            for channel in ("email", "sms", "postal")
            for field in (
                StructField(f"consent_{channel}", BooleanType()),
                StructField(f"consent_{channel}_date", TimestampType()),
                StructField(f"consent_{channel}_source", StringType()),
            )
        ],
        StructField("first_seen", TimestampType()),
        StructField("last_seen", TimestampType()),
        StructField("sources", ArrayType(StringType())),
        StructField("record_count", LongType()),
    ]
)

PROVENANCE = StructType(
    [
        StructField("customer_id", StringType(), False),
        StructField("attribute", StringType()),
        StructField("value", StringType()),
        StructField("source", StringType()),
        StructField("record_key", StringType()),
        StructField("rule", StringType()),
        StructField("observed_at", TimestampType()),
    ]
)

#: gold.customer_crosswalk, as the match job writes it
CROSSWALK = schemas.CROSSWALK

SEGMENTS = StructType(
    [
        StructField("run_date", DateType(), False),
        StructField("customer_id", StringType(), False),
        StructField("rfm_segment", StringType()),
        StructField("temperature", StringType()),
        StructField("r_score", IntegerType()),
        StructField("f_score", IntegerType()),
        StructField("m_score", IntegerType()),
    ]
)

CUSTOMER_360 = StructType(
    [
        StructField("customer_id", StringType(), False),
        StructField("revenue_online", DoubleType()),
        StructField("revenue_offline", DoubleType()),
        StructField("orders_online", LongType()),
        StructField("orders_offline", LongType()),
        StructField("carts_abandoned", LongType()),
        StructField("channels_used", ArrayType(StringType())),
        *[StructField(c, TimestampType()) for c in ("last_web_visit", "last_online_order", "last_store_purchase",
                                                     "last_email_open", "last_email_click", "last_catalogue_received")],
        StructField("emails_sent", LongType()),
        StructField("emails_opened", LongType()),
        StructField("emails_clicked", LongType()),
        StructField("ropo", BooleanType()),
        StructField("recency_days", IntegerType()),
        StructField("frequency", LongType()),
        StructField("monetary", DoubleType()),
        StructField("r_score", IntegerType()),
        StructField("f_score", IntegerType()),
        StructField("m_score", IntegerType()),
    ]
)

AUDIENCE_MEMBERS = StructType(
    [
        StructField("run_date", DateType(), False),
        StructField("audience", StringType(), False),
        StructField("customer_id", StringType(), False),
        StructField("channel", StringType()),
        StructField("contact", StringType()),
        StructField("reason", StringType()),
    ]
)

#: source -> (channel, interaction table it feeds), as in conf/sources.yaml
SOURCES = {
    "web_events": ("online", "navigation_events"),
    "eshop_orders": ("online", "orders"),
    "eshop_accounts": ("online", None),
    "email_events": ("online", "campaign_events"),
    "pos_receipts": ("offline", "receipts"),
    "catalogue_mailings": ("offline", "mailings"),
    "loyalty_members": ("offline", None),
    "crm_customers": ("offline", None),
}


_EVENT_IDS = itertools.count(1)


def ts(text: str) -> dt.datetime:
    """``"2026-08-12 06:00"`` -> a naive datetime (the test session runs in UTC)."""
    return dt.datetime.fromisoformat(text)


def customers(spark: SparkSession, records: list[dict]) -> DataFrame:
    return frame(spark, CUSTOMER, records)


def crosswalk(spark: SparkSession, record_to_customer: dict[str, str], rules: dict[str, str] | None = None) -> DataFrame:
    """One crosswalk row per ``"<source>:<id>" -> customer_id``; match rule ``deterministic:email_std`` unless given."""
    return frame(spark, CROSSWALK, crosswalk_rows(record_to_customer, rules))


def crosswalk_rows(record_to_customer: dict[str, str], rules: dict[str, str] | None = None) -> list[dict]:
    rows = []
    for key, customer_id in record_to_customer.items():
        source, record_id = key.split(":", 1)
        rule = (rules or {}).get(key, "deterministic:email_std")
        rows.append({
            "source": source, "source_record_id": record_id, "record_key": key, "channel": SOURCES[source][0],
            "customer_id": customer_id, "match_rule": rule,
            "match_probability": 0.97 if rule == "probabilistic" else None, "matched_at": ts("2026-10-31 02:00"),
        })
    return rows


def event(record_key: str | None, when: str, event_type: str, *, source: str | None = None, event_id: str | None = None,
          **fields) -> dict:
    """One interaction row; the source (and so the table) is that of the record key unless given."""
    source = source or record_key.split(":", 1)[0]
    event_id = event_id or f"E{next(_EVENT_IDS):06d}"
    return {
        "interaction_key": f"{source}:{event_id}", "source": source, "event_id": event_id, "record_key": record_key,
        "channel": SOURCES[source][0], "event_time": ts(when), "event_type": event_type,
        "ingested_at": ts("2026-10-31 01:00"), **fields,
    }


def interactions(spark: SparkSession, events: list[dict]) -> dict[str, DataFrame]:
    """``{table: DataFrame}`` of the events, each in the table its source feeds (every table present)."""
    return {table: frame(spark, INTERACTIONS, rows) for table, rows in interaction_rows(events).items()}


def interaction_rows(events: list[dict]) -> dict[str, list[dict]]:
    by_table: dict[str, list[dict]] = defaultdict(list)
    for e in events:
        by_table[SOURCES[e["source"]][1]].append(e)
    tables = sorted({t for _, t in SOURCES.values() if t} | {"contacts"})
    return {table: by_table.get(table, []) for table in tables}


# --------------------------------------------------------------------------------------------------
# A tiny lakehouse (the 19 customers of tests/test_audiences.py), built once per test run
# --------------------------------------------------------------------------------------------------

RUN_DATES = (dt.date(2026, 9, 30), dt.date(2026, 10, 31))
_BUILT: dict[str, str] = {}


def customer_record_rows(record_to_customer: dict[str, str], golden: dict[str, dict]) -> list[dict]:
    """``silver.customer_records`` rows: each record carries its customer's golden names and contacts."""
    rows = []
    for key, customer_id in record_to_customer.items():
        source = key.split(":", 1)[0]
        fields = golden.get(customer_id, {})
        rows.append(silver_record(
            key, channel=SOURCES[source][0], derive_std=("first_name", "last_name"),
            first_name=fields.get("first_name"), last_name=fields.get("last_name"),
            email=fields.get("email"), email_std=fields.get("email"), email_valid=bool(fields.get("email")),
            phone_mobile=fields.get("phone_mobile"), postcode=fields.get("postcode"), city=fields.get("city"),
            street=fields.get("street"), record_time=ts("2026-10-01 12:00"), ingested_at=ts("2026-10-31 01:00"),
        ))
    return rows


def arrow_schema(schema: StructType):
    """The Arrow schema of a Spark schema (the few types these tables use)."""
    import pyarrow as pa

    def arrow_type(spark_type):
        if isinstance(spark_type, ArrayType):
            return pa.list_(arrow_type(spark_type.elementType))
        return {
            StringType: pa.string(), DateType: pa.date32(), TimestampType: pa.timestamp("us", tz="UTC"),
            BooleanType: pa.bool_(), DoubleType: pa.float64(), LongType: pa.int64(), IntegerType: pa.int32(),
        }[type(spark_type)]

    return pa.schema([pa.field(f.name, arrow_type(f.dataType), f.nullable) for f in schema.fields])


def write_delta(path: str, schema: StructType, records: list[dict]) -> None:
    """Write rows as a Delta table with delta-rs: no Spark job, so a fixture of a dozen tables takes a second.
    (Spark reads them like its own: tests/test_delta_interop.py.) Naive datetimes are UTC."""
    import pyarrow as pa
    from deltalake import write_deltalake

    target = arrow_schema(schema)
    rows = [{name: record.get(name) for name in target.names} for record in records]
    write_deltalake(path, pa.Table.from_pylist(rows, target), mode="overwrite")


def tiny_lakehouse(spark: SparkSession, root) -> str:
    """A lakehouse at ``root/tiny_lakehouse`` with silver records and interactions, the crosswalk, gold.customer,
    provenance, customer_360 and two segment snapshots (built once per process; later calls return the path).

    Gold-layer tables written by ``rcu activate`` (audiences, KPI snapshots) are left to the tests.
    """
    path = str(root / "tiny_lakehouse")
    if path in _BUILT:
        return path
    from spark_lib.schemas import CUSTOMER_RECORDS, INTERACTIONS
    from spark_lib.storage import Lakehouse
    from tests.test_audiences import CUSTOMERS, EVENTS, RECORDS

    lake = Lakehouse(spark, path)
    names = {c: {"first_name": f"Prénom{c[1:]}", "last_name": f"NOM{c[1:]}", **fields} for c, fields in CUSTOMERS.items()}
    rules = {k: ("probabilistic" if k.startswith("catalogue_mailings") else
                 "singleton" if k.startswith("email_events") else "deterministic:account_id") for k in RECORDS}
    write_delta(lake.path(tables.CUSTOMER_RECORDS), CUSTOMER_RECORDS, customer_record_rows(RECORDS, names))
    write_delta(lake.path(tables.CROSSWALK), CROSSWALK, crosswalk_rows(RECORDS, rules))
    for table, rows in interaction_rows(EVENTS).items():
        if table != "contacts":  # no call-centre contact in these stories: a missing table must do
            write_delta(lake.path(tables.interactions(table)), INTERACTIONS, rows)
    write_delta(lake.path(tables.CUSTOMER), CUSTOMER,
                [{"customer_id": c, "record_count": 5, "sources": ["web_events"], **f} for c, f in names.items()])
    provenance = [
        {"customer_id": c, "attribute": attribute, "value": f[attribute], "source": "eshop_accounts",
         "record_key": f"eshop_orders:{c.lower()}", "rule": "most_recent", "observed_at": ts("2026-10-01 12:00")}
        for c, f in names.items() for attribute in ("first_name", "last_name", "email") if f.get(attribute)
    ]
    write_delta(lake.path(tables.PROVENANCE), PROVENANCE, provenance)
    temperatures = ("glacé", "froid", "tiède", "chaud", "brûlant")
    segments = ("champions", "loyal", "at_risk", "prospects")
    snapshots = [
        {"run_date": day, "customer_id": c, "rfm_segment": segments[(i + shift) % 4],
         "temperature": temperatures[(i + shift) % 5], "r_score": 3, "f_score": 3, "m_score": 3}
        for shift, day in enumerate(RUN_DATES) for i, c in enumerate(sorted(CUSTOMERS))
    ]
    write_delta(lake.path(tables.SEGMENTS), SEGMENTS, snapshots)
    write_delta(lake.path(tables.CUSTOMER_360), CUSTOMER_360,
                [{"customer_id": c, "monetary": 10.0 * i, "frequency": i, "recency_days": 30 * i}
                 for i, c in enumerate(sorted(CUSTOMERS))])
    _BUILT[path] = path
    return path


_ACTIVATED: dict[str, tuple] = {}

#: Written before ``rcu activate`` runs on October 31: a September snapshot (which the run must keep), a
#: stale October member of an audience the run evaluates (which it must replace), and the October member
#: of the one audience the run leaves out (which it must keep).
SEPTEMBER_KPIS = {
    ("source_records", "all"): 90.0, ("customers", "all"): 19.0, ("duplicate_rate", "all"): 0.7889,
    ("reconciliation_rate", "all"): 0.9474, ("customers_by_temperature", "glacé"): 4.0,
    ("customers_by_temperature", "froid"): 4.0, ("customers_by_temperature", "tiède"): 4.0,
    ("customers_by_temperature", "chaud"): 4.0, ("customers_by_temperature", "brûlant"): 3.0,
    ("audience_members", "catalogue_cart_no_order"): 4.0,
}
EARLIER_MEMBERS = [
    {"run_date": RUN_DATES[0], "audience": "catalogue_cart_no_order", "customer_id": "C01", "channel": "email",
     "contact": "c1@exemple.fr", "reason": "(September)"},
    {"run_date": RUN_DATES[1], "audience": "abandoned_cart", "customer_id": "C99", "channel": "email",
     "contact": "c99@exemple.fr", "reason": "(stale)"},
    {"run_date": RUN_DATES[1], "audience": "newsletter_readers_never_bought", "customer_id": "C18", "channel": "email",
     "contact": "c18@exemple.fr", "reason": "(evaluated separately)"},
]
ACTIVATED_AUDIENCES = ["catalogue_cart_no_order", "abandoned_cart", "lapsed_store_regulars"]


def activated_lakehouse(spark: SparkSession, root) -> tuple:
    """:func:`tiny_lakehouse` after ``rcu activate --run-date 2026-10-31`` for :data:`ACTIVATED_AUDIENCES`, on
    top of the rows of :data:`EARLIER_MEMBERS` and :data:`SEPTEMBER_KPIS` (once per process; each activation
    costs tens of Spark jobs): ``(job context, ActivateReport)``."""
    key = str(root)
    if key not in _ACTIVATED:
        import argparse

        from jobs import activate
        from jobs.common import Progress, build_context
        from spark_lib.gold.kpis import KPI_SNAPSHOTS

        path = tiny_lakehouse(spark, root)
        args = argparse.Namespace(conf_dir=None, lakehouse=path, raw_dir=str(root / "raw"), sources=None)
        ctx = build_context(args, "test", spark=spark)
        write_delta(ctx.lake.path(tables.AUDIENCE_MEMBERS), AUDIENCE_MEMBERS, EARLIER_MEMBERS)
        write_delta(ctx.lake.path(tables.KPI_SNAPSHOTS), KPI_SNAPSHOTS,
                    [{"run_date": RUN_DATES[0], "kpi": k, "dimension": d, "value": v} for (k, d), v in SEPTEMBER_KPIS.items()])
        report = activate.run(ctx, run_date=RUN_DATES[1], audiences=ACTIVATED_AUDIENCES,
                              progress=Progress("activate", quiet=True))
        _ACTIVATED[key] = (ctx, report)
    return _ACTIVATED[key]
