"""Schemas of the lakehouse's tables: the contract between the steps that write and read them.

The table catalogue (:mod:`spark_lib.tables`) names each table with its schema and keys.

``silver.customer_records``: one row per source record that carries identity, keyed by
``record_key = source || ':' || source_record_id``. Display fields keep accents and case; ``*_std`` fields
are folded (lower case, no accents, punctuation to spaces) and are what matching compares.
"""

from pyspark.sql.types import (
    ArrayType,
    BooleanType,
    DateType,
    DoubleType,
    LongType,
    StringType,
    StructField,
    StructType,
    TimestampType,
)

CUSTOMER_RECORDS = StructType(
    [
        StructField("record_key", StringType(), False),        # "<source>:<source_record_id>"
        StructField("source", StringType(), False),
        StructField("source_record_id", StringType(), False),
        StructField("channel", StringType(), False),            # online | offline
        # names
        StructField("civility", StringType(), True),            # M | MME
        StructField("first_name", StringType(), True),          # display: "Jean-Pierre"
        StructField("last_name", StringType(), True),           # display: "LE GOFF"
        StructField("birth_name", StringType(), True),          # display maiden name
        StructField("first_name_std", StringType(), True),      # "jean pierre"
        StructField("first_name_canonical", StringType(), True),  # nickname resolved: "fred" -> "frederic"
        StructField("last_name_std", StringType(), True),       # "le goff"
        StructField("birth_name_std", StringType(), True),
        # birth date
        StructField("birth_date", DateType(), True),
        # email
        StructField("email", StringType(), True),               # as given, trimmed and lower-cased
        StructField("email_std", StringType(), True),           # matching key: typos fixed, gmail dots/+tags removed; null if invalid
        StructField("email_valid", BooleanType(), True),
        # phones (E.164)
        StructField("phone_mobile", StringType(), True),
        StructField("phone_landline", StringType(), True),
        # postal address
        StructField("house_number", StringType(), True),        # "12", "12 BIS"
        StructField("street", StringType(), True),              # display
        StructField("street_std", StringType(), True),          # "avenue foch"
        StructField("address_extra", StringType(), True),
        StructField("postcode", StringType(), True),            # 5 digits
        StructField("city", StringType(), True),                # display
        StructField("city_std", StringType(), True),            # "saint etienne"
        StructField("country", StringType(), True),             # ISO 3166 alpha-2
        # pivot identifiers
        StructField("loyalty_card", StringType(), True),
        StructField("account_id", StringType(), True),
        StructField("cookie_id", StringType(), True),
        StructField("customer_ref", StringType(), True),
        # consents
        StructField("consent_email", BooleanType(), True),
        StructField("consent_sms", BooleanType(), True),
        StructField("consent_postal", BooleanType(), True),
        StructField("consent_date", TimestampType(), True),
        # lineage and quality
        StructField("record_time", TimestampType(), True),      # when the source last saw/changed it
        StructField("quality_flags", ArrayType(StringType()), False),  # e.g. ["birth_date:impossible"]
        StructField("ingested_at", TimestampType(), False),
        StructField("source_file", StringType(), False),
    ]
)

INTERACTIONS = StructType(
    [
        StructField("interaction_key", StringType(), False),    # "<source>:<event_id>"
        StructField("source", StringType(), False),
        StructField("event_id", StringType(), False),
        StructField("record_key", StringType(), True),          # the identity record it belongs to (null: anonymous)
        StructField("channel", StringType(), False),
        StructField("event_time", TimestampType(), True),
        StructField("event_type", StringType(), True),
        StructField("amount", DoubleType(), True),
        StructField("quantity", LongType(), True),
        StructField("order_id", StringType(), True),
        StructField("store_id", StringType(), True),
        StructField("campaign_id", StringType(), True),
        StructField("page", StringType(), True),
        StructField("product", StringType(), True),
        StructField("channel_detail", StringType(), True),
        StructField("ingested_at", TimestampType(), False),
    ]
)

INGESTION_LOG = StructType(
    [
        StructField("source", StringType(), True),
        StructField("file_path", StringType(), True),
        StructField("file_hash", StringType(), True),
        StructField("rows_read", LongType(), True),
        StructField("rows_bronze", LongType(), True),
        StructField("rows_quarantined", LongType(), True),
        StructField("batch_id", StringType(), True),
        StructField("status", StringType(), True),           # landed | file_quarantined | rewritten (by an erasure; null: logged before)
    ]
)

FILE_QUARANTINE = StructType(
    [
        StructField("source", StringType(), False),
        StructField("file_path", StringType(), False),
        StructField("file_hash", StringType(), False),       # a fixed file is a new hash: it lands when re-delivered
        StructField("file_size", LongType(), False),
        StructField("reason", StringType(), False),          # spark_lib.sources.files: empty, header only, ...
        StructField("detail", StringType(), False),          # what was seen
        StructField("action", StringType(), False),          # what to do
        StructField("batch_id", StringType(), False),
        StructField("quarantined_at", TimestampType(), False),
        StructField("resolved_at", TimestampType(), True),    # when a file of the same name landed after it
        StructField("resolved_by", StringType(), True),       # that file's path
    ]
)

DETERMINISTIC_EDGES = StructType(
    [
        StructField("record_key_l", StringType(), False),
        StructField("record_key_r", StringType(), False),
        StructField("rule", StringType(), False),       # the pivot column: email_std, account_id, ...
        StructField("value", StringType(), False),      # the shared value
    ]
)

GENERIC_VALUES = StructType(
    [
        StructField("pivot", StringType(), False),
        StructField("value", StringType(), False),
        StructField("records", LongType(), False),               # distinct records carrying the value
        StructField("distinct_first_names", LongType(), False),  # first names that count as different people
        StructField("reason", StringType(), False),
    ]
)

CLUSTER_SPLITS = StructType(
    [
        StructField("component_id", StringType(), False),       # smallest record_key of the split component
        StructField("size_before", LongType(), False),
        StructField("sizes_after", ArrayType(LongType(), False), False),  # largest first
        StructField("threshold", DoubleType(), True),           # null: size-capped / cannot-link re-forming
        StructField("reason", StringType(), False),             # oversized | size_capped | cannot_link
    ]
)

ID_REGISTRY = StructType(
    [
        StructField("record_key", StringType(), False),
        StructField("customer_id", StringType(), False),
        StructField("created_at", TimestampType(), False),   # when the customer id was first issued
        StructField("assigned_at", TimestampType(), False),  # when this record got this customer id
    ]
)

ID_EVENTS = StructType(
    [
        StructField("event_time", TimestampType(), False),
        StructField("event_type", StringType(), False),      # merge | split | new
        StructField("customer_id", StringType(), False),     # merge: survivor; split: the split id; new: the new id
        StructField("other_ids", ArrayType(StringType(), False), False),  # merged / split-off / former ids
        StructField("records_affected", LongType(), False),  # records whose customer id changed (new: all)
        StructField("reason", StringType(), False),
    ]
)

CROSSWALK = StructType(
    [
        StructField("source", StringType(), False),
        StructField("source_record_id", StringType(), False),
        StructField("record_key", StringType(), False),
        StructField("channel", StringType(), False),
        StructField("customer_id", StringType(), False),
        StructField("match_rule", StringType(), False),      # deterministic:<pivot> | probabilistic | singleton | anonymous
        StructField("match_probability", DoubleType(), True),
        StructField("matched_at", TimestampType(), True),
    ]
)

KPI_SNAPSHOTS = StructType(
    [
        StructField("run_date", DateType(), False),
        StructField("kpi", StringType(), False),
        StructField("dimension", StringType(), False),
        StructField("value", DoubleType(), True),
    ]
)
