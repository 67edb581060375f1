"""Schemas of the conformed (silver) tables: the contract between standardisation, matching and gold.

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
