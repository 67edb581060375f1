"""Deterministic links: shared pivots link records, generic values do not, family values split by first name."""

from __future__ import annotations

import datetime as dt

import pytest
from chispa import assert_df_equality
from pyspark.sql import functions as F

from spark_lib.config import ConfigError
from spark_lib.matching.deterministic import (
    EDGES_SCHEMA,
    GENERIC_VALUES_SCHEMA,
    DataFrameMissingColumnError,
    classify_values,
    DeterministicConfig,
    PivotRule,
    anonymous_records,
    deterministic_edges,
    first_names_similar,
    first_names_similar_py,
    generic_values,
    load_deterministic_config,
    placeholder_values,
)
from tests.records import silver_columns

# The silver columns the pivots read (tests.records.silver_columns: unspecified fields are null).
COLUMNS = ("record_key", "source", "first_name_canonical", "birth_date", "email_std", "phone_mobile", "loyalty_card",
           "account_id", "cookie_id", "customer_ref")


def edges(spark, *rows):
    return spark.createDataFrame(list(rows), EDGES_SCHEMA)


def generic(spark, *rows):
    return spark.createDataFrame(list(rows), GENERIC_VALUES_SCHEMA)


CONFIG = DeterministicConfig(
    pivots={
        "account_id": PivotRule(max_records=100, max_first_names=5),
        "loyalty_card": PivotRule(max_records=100),
        "email_std": PivotRule(max_records=10, max_first_names=3, patterns=(r"^no-?reply@",)),
        "phone_mobile": PivotRule(max_records=5, max_first_names=2, patterns=(r"^\+33[67](\d)\1{7}$",)),
    }
)

# Independent scenarios sharing one run (one Spark execution each for edges and generic values keeps the
# suite fast); each test checks the rows of its own scenario.
STORE_PHONE = [{"record_key": f"pos:{i}", "phone_mobile": "+33611223344", "loyalty_card": f"L{i}"} for i in range(7)]
OWN_PHONE = [
    {"record_key": "crm:1", "first_name_canonical": "anne", "phone_mobile": "+33698765432"},
    {"record_key": "pos:9", "phone_mobile": "+33698765432"},
]
MANY_NAMES = [
    {"record_key": f"call:{i}", "first_name_canonical": n, "phone_mobile": "+33612121299"}
    for i, n in enumerate(["anne", "bruno", "chloe"])
]
FAMILY = [
    # a family address: Marie (twice) and Paul; the unnamed contact goes with the majority, Marie
    {"record_key": "eshop:1", "first_name_canonical": "marie", "email_std": "famille.martin@free.fr"},
    {"record_key": "crm:7", "first_name_canonical": "marie", "email_std": "famille.martin@free.fr"},
    {"record_key": "loyalty:3", "first_name_canonical": "paul", "email_std": "famille.martin@free.fr"},
    {"record_key": "emailing:5", "email_std": "famille.martin@free.fr"},
    # Fred and Frédéric are one person (canonical "frederic"); "frederik" is a typo of it
    {"record_key": "eshop:2", "first_name_canonical": "frederic", "email_std": "fred.leroy@orange.fr"},
    {"record_key": "crm:8", "first_name_canonical": "frederic", "email_std": "fred.leroy@orange.fr"},
    {"record_key": "call:4", "first_name_canonical": "frederik", "email_std": "fred.leroy@orange.fr"},
    # Marie the mother (1961) and Marie the daughter (1989, once with day and month swapped, once a typo)
    # share the family email: two groups; the undated record joins the larger one, the daughter's
    {"record_key": "crm:20", "first_name_canonical": "marie", "birth_date": dt.date(1961, 3, 14),
     "email_std": "martin.famille@sfr.fr"},
    {"record_key": "eshop:20", "first_name_canonical": "marie", "birth_date": dt.date(1989, 7, 2),
     "email_std": "martin.famille@sfr.fr"},
    {"record_key": "loyalty:20", "first_name_canonical": "marie", "birth_date": dt.date(1989, 2, 7),
     "email_std": "martin.famille@sfr.fr"},
    {"record_key": "call:20", "first_name_canonical": "marie", "birth_date": dt.date(1989, 7, 12),
     "email_std": "martin.famille@sfr.fr"},
    {"record_key": "web:20", "first_name_canonical": "marie", "email_std": "martin.famille@sfr.fr"},
    # Louis and Louise are two people: no link; the unnamed contact ties between them: no link either
    {"record_key": "eshop:3", "first_name_canonical": "louis", "email_std": "durand@gmail.com"},
    {"record_key": "crm:9", "first_name_canonical": "louise", "email_std": "durand@gmail.com"},
    {"record_key": "emailing:6", "email_std": "durand@gmail.com"},
]
COOKIE = [
    {"record_key": "eshop_accounts:A1", "first_name_canonical": "marie", "account_id": "A1"},
    {"record_key": "eshop_orders:O1", "first_name_canonical": "marie", "account_id": "A1"},
    {"record_key": "web_events:c1", "cookie_id": "c1", "account_id": "A1"},
    {"record_key": "web_events:c2", "cookie_id": "c2"},  # never logged in
]
CARD = [{"record_key": f"pos:{i}", "loyalty_card": "4000123"} for i in range(20, 25)]
PLACEHOLDERS = [
    {"record_key": "web:1", "email_std": "noreply@shop.fr", "phone_mobile": "+33600000000"},
    {"record_key": "web:2", "email_std": "noreply@shop.fr", "phone_mobile": "+33600000000"},
]


@pytest.fixture(scope="module")
def linked(spark):
    df = silver_columns(spark, COLUMNS, *STORE_PHONE, *OWN_PHONE, *MANY_NAMES, *FAMILY, *COOKIE, *CARD, *PLACEHOLDERS)
    return deterministic_edges(df, CONFIG).cache(), generic_values(df, CONFIG).cache()


def test_one_classification_serves_the_edges_and_the_generic_list(spark, linked):
    """The match job classifies the values once and hands the result to both: same output as alone."""
    df = silver_columns(spark, COLUMNS, *STORE_PHONE, *OWN_PHONE, *MANY_NAMES, *FAMILY, *COOKIE, *CARD, *PLACEHOLDERS)
    classified = classify_values(df, CONFIG).cache()
    edges, generic = linked

    assert_df_equality(deterministic_edges(df, CONFIG, classified), edges, ignore_row_order=True)
    assert_df_equality(generic_values(df, classified=classified), generic, ignore_row_order=True)
    assert generic.count() > 0 and edges.count() > 0


def of(df, scenario: list[dict]):
    """The edges touching a record of the scenario."""
    keys = [r["record_key"] for r in scenario]
    return df.filter(F.col("record_key_l").isin(keys) | F.col("record_key_r").isin(keys))


def values_of(df, scenario: list[dict], pivot: str):
    return df.filter(F.col("value").isin({r[pivot] for r in scenario if r.get(pivot)}))


def test_store_phone_on_many_receipts_creates_no_edge_and_is_listed_with_its_count(spark, linked):
    edges_df, generic_df = linked

    assert_df_equality(
        of(edges_df, STORE_PHONE + OWN_PHONE),
        edges(spark, ("crm:1", "pos:9", "phone_mobile", "+33698765432")),
        ignore_nullable=True,
    )
    assert_df_equality(
        values_of(generic_df, STORE_PHONE + OWN_PHONE, "phone_mobile"),
        generic(spark, ("phone_mobile", "+33611223344", 7, 0, "too_many_records")),
        ignore_nullable=True,
    )


def test_value_typed_with_many_different_first_names_is_generic(spark, linked):
    edges_df, generic_df = linked

    assert of(edges_df, MANY_NAMES).count() == 0
    assert_df_equality(
        values_of(generic_df, MANY_NAMES, "phone_mobile"),
        generic(spark, ("phone_mobile", "+33612121299", 3, 3, "too_many_first_names")),
        ignore_nullable=True,
    )


def test_family_email_links_each_first_name_apart_and_nicknames_and_typos_together(spark, linked):
    edges_df, generic_df = linked

    assert_df_equality(
        of(edges_df, FAMILY),
        edges(
            spark,
            ("crm:7", "eshop:1", "email_std", "famille.martin@free.fr"),
            ("crm:7", "emailing:5", "email_std", "famille.martin@free.fr"),
            ("call:4", "crm:8", "email_std", "fred.leroy@orange.fr"),
            ("call:4", "eshop:2", "email_std", "fred.leroy@orange.fr"),
            ("call:20", "eshop:20", "email_std", "martin.famille@sfr.fr"),
            ("call:20", "loyalty:20", "email_std", "martin.famille@sfr.fr"),
            ("call:20", "web:20", "email_std", "martin.famille@sfr.fr"),
        ),
        ignore_row_order=True,
        ignore_nullable=True,
    )
    assert values_of(generic_df, FAMILY, "email_std").count() == 0


def test_cookie_links_to_the_account_it_logged_in_with(spark, linked):
    edges_df, _ = linked

    assert_df_equality(
        of(edges_df, COOKIE),
        edges(
            spark,
            ("eshop_accounts:A1", "eshop_orders:O1", "account_id", "A1"),
            ("eshop_accounts:A1", "web_events:c1", "account_id", "A1"),
        ),
        ignore_row_order=True,
        ignore_nullable=True,
    )


def test_a_big_group_is_a_star_on_its_smallest_record_not_all_pairs(spark, linked):
    edges_df, _ = linked

    assert_df_equality(
        of(edges_df, CARD),
        edges(spark, *(("pos:20", f"pos:{i}", "loyalty_card", "4000123") for i in range(21, 25))),
        ignore_row_order=True,
        ignore_nullable=True,
    )


def test_placeholder_values_match_patterns_and_are_generic(spark, linked):
    edges_df, generic_df = linked

    assert of(edges_df, PLACEHOLDERS).count() == 0
    assert_df_equality(
        values_of(generic_df, PLACEHOLDERS, "email_std").unionByName(
            values_of(generic_df, PLACEHOLDERS, "phone_mobile")
        ),
        generic(
            spark,
            ("email_std", "noreply@shop.fr", 2, 0, "pattern"),
            ("phone_mobile", "+33600000000", 2, 0, "pattern"),
        ),
        ignore_row_order=True,
        ignore_nullable=True,
    )


def test_exclude_policy_drops_a_value_shared_by_different_first_names(spark):
    config = DeterministicConfig(pivots={"email_std": PivotRule(shared_value_policy="exclude")})
    df = silver_columns(
        spark,
        COLUMNS,
        {"record_key": "a:1", "first_name_canonical": "marie", "email_std": "famille@free.fr"},
        {"record_key": "a:2", "first_name_canonical": "paul", "email_std": "famille@free.fr"},
        {"record_key": "a:3", "first_name_canonical": "marie", "email_std": "famille@free.fr"},
    )

    assert deterministic_edges(df, config).count() == 0
    assert_df_equality(
        generic_values(df, config),
        generic(spark, ("email_std", "famille@free.fr", 3, 2, "shared_by_different_first_names")),
        ignore_nullable=True,
    )


def test_an_account_links_all_its_orders_and_an_order_phone_can_be_ignored(spark):
    # Nathalie's account ships a gift to Bernard: the order is hers (she bought it) but carries his phone.
    config = DeterministicConfig(
        pivots={
            "account_id": PivotRule(shared_value_policy="link_all"),
            "phone_mobile": PivotRule(ignore_sources=("eshop_orders",)),
        }
    )
    df = silver_columns(
        spark,
        COLUMNS,
        {"record_key": "eshop_accounts:A1", "source": "eshop_accounts", "first_name_canonical": "nathalie",
         "account_id": "A1", "phone_mobile": "+33629300957"},
        {"record_key": "eshop_orders:O1", "source": "eshop_orders", "first_name_canonical": "bernard",
         "account_id": "A1", "phone_mobile": "+33668274641"},
        {"record_key": "eshop_accounts:B1", "source": "eshop_accounts", "first_name_canonical": "bernard",
         "account_id": "B1", "phone_mobile": "+33668274641"},
    )

    assert_df_equality(
        deterministic_edges(df, config),
        edges(spark, ("eshop_accounts:A1", "eshop_orders:O1", "account_id", "A1")),
        ignore_nullable=True,
    )


def test_a_nameless_record_whose_identifiers_name_different_people_follows_its_most_trusted_pivot(spark):
    # The Dupont family email is mostly Marie's. A receipt bears Paul's loyalty card and that email: by the
    # majority rule the email would join it to Marie while the card joins it to Paul, merging them. The card
    # (a higher-priority pivot) wins. A receipt bearing Marie's card and the email agrees with both: both link.
    email = "famille.dupont@free.fr"
    df = silver_columns(
        spark,
        COLUMNS,
        {"record_key": "loyalty:p1", "first_name_canonical": "paul", "loyalty_card": "L9", "email_std": email},
        {"record_key": "crm:m1", "first_name_canonical": "marie", "loyalty_card": "M1", "email_std": email},
        {"record_key": "eshop:m2", "first_name_canonical": "marie", "email_std": email},
        {"record_key": "pos:r1", "loyalty_card": "L9", "email_std": email},
        {"record_key": "pos:r2", "loyalty_card": "M1", "email_std": email},
    )

    assert_df_equality(
        deterministic_edges(df, CONFIG),
        edges(
            spark,
            ("crm:m1", "eshop:m2", "email_std", email),
            ("crm:m1", "pos:r2", "email_std", email),
            ("crm:m1", "pos:r2", "loyalty_card", "M1"),
            ("loyalty:p1", "pos:r1", "loyalty_card", "L9"),
        ),
        ignore_row_order=True,
        ignore_nullable=True,
    )


LANDLINE_COLUMNS = ("record_key", "source", "first_name_canonical", "birth_date", "first_name_std", "last_name_std", "street_std",
                    "phone_landline", "loyalty_card")


LANDLINE_CONFIG = DeterministicConfig(
    pivots={
        "loyalty_card": PivotRule(),
        "phone_landline": PivotRule(max_records=5, unnamed_records="never"),
    }
)
# The Martins' home line is known with both first names; two receipts carry only that line; a store's line
# is typed on five receipts; one receipt also bears a card.
HOUSEHOLD = [
    {"record_key": "crm:1", "first_name_canonical": "anne", "first_name_std": "anne", "last_name_std": "martin",
     "phone_landline": "+33145678901"},
    {"record_key": "loyalty:1", "first_name_canonical": "anne", "first_name_std": "anne", "last_name_std": "martin",
     "phone_landline": "+33145678901"},
    {"record_key": "call:1", "first_name_canonical": "paul", "first_name_std": "paul", "last_name_std": "martin",
     "phone_landline": "+33145678901"},
    {"record_key": "pos:1", "phone_landline": "+33145678901"},
    {"record_key": "pos:2", "phone_landline": "+33145678901"},
    *({"record_key": f"pos:s{i}", "phone_landline": "+33555998277"} for i in range(5)),
    {"record_key": "pos:card", "phone_landline": "+33555998277", "loyalty_card": "L7"},
    {"record_key": "loyalty:7", "first_name_canonical": "lea", "first_name_std": "lea", "loyalty_card": "L7"},
]


def test_a_landline_links_one_first_name_and_never_a_nameless_record(spark):
    df = silver_columns(spark, LANDLINE_COLUMNS, *HOUSEHOLD)

    assert_df_equality(
        deterministic_edges(df, LANDLINE_CONFIG),
        edges(
            spark,
            ("crm:1", "loyalty:1", "phone_landline", "+33145678901"),
            ("loyalty:7", "pos:card", "loyalty_card", "L7"),
        ),
        ignore_row_order=True,
        ignore_nullable=True,
    )
    store = generic_values(df, LANDLINE_CONFIG).collect()
    assert [(r.pivot, r.value, r.records, r.reason) for r in store] == [
        ("phone_landline", "+33555998277", 6, "too_many_records")
    ]


def test_records_with_no_name_address_or_usable_identifier_are_anonymous(spark):
    df = silver_columns(
        spark,
        LANDLINE_COLUMNS,
        *HOUSEHOLD,
        {"record_key": "web:cookie"},                                  # never logged in
        {"record_key": "newsletter:9", "street_std": "rue de la paix"},  # an address is someone
        {"record_key": "pos:typo", "loyalty_card": "L71"},             # a card no other record bears
    )

    anonymous = {r.record_key for r in anonymous_records(df, deterministic_edges(df, LANDLINE_CONFIG)).collect()}

    # pos:1 and pos:2 bear the household's line, which cannot say who; the store's line says nothing at all;
    # pos:card's card is Léa's; pos:typo's card links nobody.
    assert anonymous == {"pos:1", "pos:2", "web:cookie", "pos:typo", *(f"pos:s{i}" for i in range(5))}


def test_placeholder_emails_nulled_by_standardisation_are_listed_with_their_counts(spark):
    df = spark.createDataFrame(
        [("a:1", "nc@nc.fr", ["email:placeholder"], "anne"), ("a:2", "nc@nc.fr", ["email:placeholder"], "paul"),
         ("a:3", "anne@gmail.com", [], "anne")],
        "record_key string, email string, quality_flags array<string>, first_name_canonical string",
    )
    assert_df_equality(
        placeholder_values(df),
        generic(spark, ("email_std", "nc@nc.fr", 2, 2, "placeholder")),
        ignore_nullable=True,
    )


def test_spark_and_python_first_name_tests_agree(spark):
    pairs = [
        ("frederic", "frederik", True),    # a typo
        ("stephanie", "stefanie", True),  # long names tolerate two edits
        ("marie", "paul", False),
        ("louis", "louise", False),        # gendered ending: two people
        ("michel", "michelle", False),
        ("jean", "jeanne", False),
        ("leo", "lea", False),             # too short for a typo
        ("anne", "anne", True),
    ]
    df = spark.createDataFrame([(a, b) for a, b, _ in pairs], "a string, b string")
    spark_result = [r.same for r in df.select(first_names_similar(F.col("a"), F.col("b")).alias("same")).collect()]

    assert spark_result == [expected for _, _, expected in pairs]
    assert [first_names_similar_py(a, b) for a, b, _ in pairs] == [expected for _, _, expected in pairs]


def test_missing_pivot_column_is_named(spark):
    df = spark.createDataFrame([("a:1", "marie")], "record_key string, first_name_canonical string")
    with pytest.raises(DataFrameMissingColumnError, match="email_std"):
        deterministic_edges(df, CONFIG)


def test_project_rules_file_loads_and_unknown_keys_are_named(tmp_path):
    config = load_deterministic_config()
    assert list(config.pivots)[:2] == ["customer_ref", "account_id"]
    assert config.pivots["phone_mobile"].max_records > 1

    bad = tmp_path / "rules.yaml"
    bad.write_text("deterministic:\n  pivots:\n    email_std:\n      max_record: 3\n")
    with pytest.raises(ConfigError, match="max_record"):
        load_deterministic_config(bad)
    bad.write_text("deterministic:\n  unnamed_records: sometimes\n")
    with pytest.raises(ConfigError, match="unnamed_records"):
        load_deterministic_config(bad)
