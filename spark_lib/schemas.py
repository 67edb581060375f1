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
        StructField("reason", StringType(), False),             # oversized | size_capped | cannot_link | steward_cannot_link
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
        StructField("match_rule", StringType(), False),      # deterministic:<pivot> | steward | stream_login | probabilistic | singleton | anonymous
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


# The data steward's loop (issue 18): what the match run asks a person to look at, and what they answered.

REVIEW_QUEUE = StructType(
    [
        StructField("pair_id", StringType(), False),            # record_key_l + '|' + record_key_r, l < r
        StructField("record_key_l", StringType(), False),
        StructField("record_key_r", StringType(), False),
        # why it is queued, one or more of: score_band | protection_split | long_chain | generic_value |
        # decision_stale (a decision whose records changed since) | sample (drawn to estimate precision)
        StructField("reasons", ArrayType(StringType(), False), False),
        StructField("priority", DoubleType(), False),           # higher first
        StructField("match_probability", DoubleType(), True),   # null: the model does not score the pair
        StructField("match_weight", DoubleType(), True),
        StructField("customer_id_l", StringType(), True),       # the records' customers after the run
        StructField("customer_id_r", StringType(), True),
        StructField("record_l", StringType(), False),           # JSON object: the record's displayed values
        StructField("record_r", StringType(), False),
        # JSON list of {comparison, level, match_weight, value_l, value_r}, as rcu explain --pair lists them
        StructField("comparisons", StringType(), True),
        StructField("record_hash_l", LongType(), False),        # spark_lib.matching.incremental.record_hash
        StructField("record_hash_r", LongType(), False),
        StructField("queued_at", TimestampType(), False),       # the match run that queued it
    ]
)

REVIEW_DECISIONS = StructType(
    [
        StructField("decision_id", StringType(), False),        # a uuid4
        StructField("pair_id", StringType(), False),
        StructField("record_key_l", StringType(), False),
        StructField("record_key_r", StringType(), False),
        StructField("decision", StringType(), False),           # same | different | unsure
        StructField("reviewer", StringType(), False),
        StructField("reason", StringType(), True),              # free text the reviewer gave
        StructField("decided_at", TimestampType(), False),
        # the records' hashes when decided: a decision whose record changed since is re-raised, not applied
        StructField("record_hash_l", LongType(), False),
        StructField("record_hash_r", LongType(), False),
        StructField("origin", StringType(), False),             # page | file | api
    ]
)

REVIEW_SAMPLE = StructType(
    [
        StructField("sample_id", StringType(), False),          # one id per draw (rcu review sample)
        StructField("pair_id", StringType(), False),
        StructField("record_key_l", StringType(), False),
        StructField("record_key_r", StringType(), False),
        StructField("stratum", StringType(), False),            # the score band the pair was drawn from
        StructField("stratum_pairs", LongType(), False),        # N_h: pairs of the population in the stratum
        StructField("stratum_drawn", LongType(), False),        # n_h: pairs drawn from it
        StructField("seed", LongType(), False),
        StructField("drawn_at", TimestampType(), False),
    ]
)
