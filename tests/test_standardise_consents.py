"""Consents (spark_lib.standardise.consents) and the chained standardise_identity."""

from __future__ import annotations

import datetime as dt

from chispa import assert_df_equality
from pyspark.sql import functions as F

from spark_lib.schemas import CUSTOMER_RECORDS
from spark_lib.standardise import parse_consent, standardise_consents, standardise_identity


def _assert(actual, expected):
    # chispa compares without row order by sorting both sides, and a global sort first samples its input:
    # collecting the result once keeps the transform (and its phone UDF) from running twice.
    actual = actual.sparkSession.createDataFrame(actual.collect(), actual.schema)
    assert_df_equality(actual, expected, ignore_row_order=True, ignore_nullable=True)


def test_parse_consent_reads_french_and_english_yes_and_no(spark):
    values = ["oui", "OUI", "o", "Yes", "y", "1", "true", "Vrai", "X", "non", "N", "no", "0", "FALSE", "faux",
              "peut-être", "", None]
    df = spark.createDataFrame([(str(i), v) for i, v in enumerate(values)], "id string, v string")
    answers = [True] * 9 + [False] * 6 + [None] * 3
    expected = spark.createDataFrame([(str(i), a) for i, a in enumerate(answers)], "id string, v boolean")
    _assert(df.select("id", parse_consent("v").alias("v")), expected)


def test_consents_become_booleans_and_unrecognised_values_are_flagged(spark):
    df = spark.createDataFrame(
        [("1", "oui", "N", "1"), ("2", "X", "faux", "peut-être"), ("3", None, " ", "TRUE")],
        "id string, consent_email string, consent_sms string, consent_postal string",
    )
    expected = spark.createDataFrame(
        [
            ("1", True, False, True, []),
            ("2", True, False, None, ["consent_postal:unrecognised"]),
            ("3", None, None, True, []),
        ],
        "id string, consent_email boolean, consent_sms boolean, consent_postal boolean, quality_flags array<string>",
    )
    actual = standardise_consents(df).select("id", "consent_email", "consent_sms", "consent_postal", "quality_flags")
    _assert(actual, expected)


def test_consent_date_is_parsed_and_a_bad_one_flagged(spark):
    df = spark.createDataFrame(
        [("1", "2024-03-05"), ("2", "05/03/2024 10:00"), ("3", "bientôt"), ("4", None)],
        "id string, consent_date string",
    )
    actual = standardise_consents(df).select(
        "id", F.date_format("consent_date", "yyyy-MM-dd HH:mm").alias("consent_date"), "quality_flags"
    )
    expected = spark.createDataFrame(
        [
            ("1", "2024-03-05 00:00", []),
            ("2", "2024-03-05 10:00", []),
            ("3", None, ["consent_date:unparseable"]),
            ("4", None, []),
        ],
        "id string, consent_date string, quality_flags array<string>",
    )
    _assert(actual, expected)


def test_standardise_identity_chains_every_step_into_silver_columns(spark):
    raw = spark.createDataFrame(
        [
            (
                "loyalty:1", "Mme", "élodie", "le goff", None, None, "12/05/1980", " Elodie.LeGoff+promo@Gmial.com ",
                "06 71 23 45 89", "01 45 45 45 45", None, "12 bis av. de la république", "Bât A", "75 011",
                "PARIS 11", "France", "oui", "non", "1", "2024-03-05",
            ),
            (
                "crm:2", None, None, None, None, "DUPONT Jean", "31/02/1980", "test@test.fr", "0000000000", None,
                None, "3B r. st michel", None, "1000", "st etienne cedex 1", None, None, "x", "bof", None,
            ),
        ],
        "record_key string, civility string, first_name string, last_name string, birth_name string, full_name string, "
        "birth_date string, email string, phone string, phone_2 string, house_number string, street string, "
        "address_extra string, postcode string, city string, country string, consent_email string, "
        "consent_sms string, consent_postal string, consent_date string",
    )
    actual = standardise_identity(raw, today=dt.date(2025, 6, 30))
    columns = [
        "record_key", "civility", "first_name", "last_name", "first_name_std", "first_name_canonical", "last_name_std",
        "birth_date", "email", "email_std", "email_valid", "phone_mobile", "phone_landline", "house_number", "street",
        "street_std", "address_extra", "postcode", "city", "city_std", "country", "consent_email", "consent_sms",
        "consent_postal", "quality_flags",
    ]
    expected = spark.createDataFrame(
        [
            (
                "loyalty:1", "MME", "Élodie", "LE GOFF", "elodie", "elodie", "le goff", dt.date(1980, 5, 12),
                "elodie.legoff+promo@gmail.com", "elodielegoff@gmail.com", True, "+33671234589", "+33145454545",
                "12 BIS", "Avenue de la République", "avenue de la republique", "Bât A", "75011", "PARIS 11", "paris",
                "FR", True, False, True, ["email:domain_corrected"],
            ),
            (
                "crm:2", None, "Jean", "DUPONT", "jean", "jean", "dupont", None, "test@test.fr", None, True, None, None,
                "3 B", "Rue Saint Michel", "rue saint michel", None, "01000", "ST ETIENNE", "saint etienne", "FR", None,
                True, None,
                ["email:placeholder", "phone:placeholder", "birth_date:impossible", "consent_postal:unrecognised"],
            ),
        ],
        "record_key string, civility string, first_name string, last_name string, first_name_std string, "
        "first_name_canonical string, last_name_std string, birth_date date, email string, email_std string, "
        "email_valid boolean, phone_mobile string, phone_landline string, house_number string, street string, "
        "street_std string, address_extra string, postcode string, city string, city_std string, country string, "
        "consent_email boolean, consent_sms boolean, consent_postal boolean, quality_flags array<string>",
    )
    _assert(actual.select(*columns), expected)


def test_standardise_identity_output_types_match_the_silver_schema(spark):
    raw = spark.createDataFrame([("k",)], "record_key string")
    actual = standardise_identity(raw)
    silver = {f.name: f.dataType for f in CUSTOMER_RECORDS.fields}
    produced = {f.name: f.dataType for f in actual.schema.fields if f.name in silver}
    expected_names = set(silver) - {
        "source", "source_record_id", "channel", "loyalty_card", "account_id", "cookie_id", "customer_ref",
        "record_time", "ingested_at", "source_file",
    }
    assert set(produced) == expected_names
    assert produced == {name: silver[name] for name in expected_names}
