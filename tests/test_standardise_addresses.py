"""Postal address standardisation (spark_lib.standardise.addresses)."""

from __future__ import annotations

import pytest
from chispa import assert_df_equality
from pyspark.sql import functions as F

from spark_lib.standardise import standardise_addresses

INPUTS = (
    "id string, house_number string, street string, address_extra string, postcode string, city string, "
    "country string"
)

# Every test's input rows, registered at import by _case() and standardised together by the module fixture:
# one Spark plan for the module instead of one per test (plan analysis, not data, is what costs here).
_CASES: dict[str, list[tuple]] = {}


def _case(name: str, rows: list[tuple]) -> list[tuple]:
    _CASES[name] = rows
    return rows


def _streets(values):
    return [(str(i), None, v, None, None, None, None) for i, v in enumerate(values)]


def _postcodes(values, country=None):
    return [(str(i), None, None, None, v, None, country) for i, v in enumerate(values)]


def _cities(values):
    return [(str(i), None, None, None, None, v, None) for i, v in enumerate(values)]


@pytest.fixture(scope="module")
def addresses_of(spark):
    """``addresses_of(case, *columns)``: the standardised rows of one registered case, with the ids it gave."""
    rows = [(f"{name}/{row[0]}", *row[1:]) for name, case_rows in _CASES.items() for row in case_rows]
    out = standardise_addresses(spark.createDataFrame(rows, INPUTS))
    out = spark.createDataFrame(out.collect(), out.schema)

    def of(name: str, *columns: str):
        mine = out.filter(F.col("id").startswith(name + "/")).withColumn("id", F.substring_index("id", "/", -1))
        return mine.select("id", *columns)

    return of


def _assert(actual, expected):
    # chispa compares without row order by sorting both sides, and a global sort first samples its input:
    # collecting the result once keeps a transform from running twice.
    actual = actual.sparkSession.createDataFrame(actual.collect(), actual.schema)
    assert_df_equality(actual, expected, ignore_row_order=True, ignore_nullable=True)


_case(
    "number_in_street",
    _streets(
        [
            "12 bis av. Foch",
            "12, rue X",
            "3B rue Y",
            "12-14 chemin du Lot",
            "12 avenue Foch",  # the "a" of avenue is not a suffix
            "7 ter, bd Voltaire",
            "Grande rue",
        ]
    ),
)


def test_house_number_is_extracted_from_street(spark, addresses_of):
    expected = spark.createDataFrame(
        [
            ("0", "12 BIS", "Avenue Foch", "avenue foch"),
            ("1", "12", "Rue X", "rue x"),
            ("2", "3 B", "Rue Y", "rue y"),
            ("3", "12-14", "Chemin du Lot", "chemin du lot"),
            ("4", "12", "Avenue Foch", "avenue foch"),
            ("5", "7 TER", "Boulevard Voltaire", "boulevard voltaire"),
            ("6", None, "Grande Rue", "grande rue"),
        ],
        "id string, house_number string, street string, street_std string",
    )
    _assert(addresses_of("number_in_street", "house_number", "street", "street_std"), expected)


_case(
    "given_number",
    [
        ("1", "12bis", "rue de la Paix", None, None, None, None),
        ("2", " 3 b ", "rue Y", None, None, None, None),
        ("3", "5", "2 rue des Lilas", None, None, None, None),  # a number is already given: street kept
    ],
)


def test_given_house_number_is_normalised_and_street_left_whole(spark, addresses_of):
    expected = spark.createDataFrame(
        [("1", "12 BIS", "Rue de la Paix"), ("2", "3 B", "Rue Y"), ("3", "5", "2 Rue des Lilas")],
        "id string, house_number string, street string",
    )
    _assert(addresses_of("given_number", "house_number", "street"), expected)


_case(
    "street_types",
    _streets(
        ["av. de la république", "bd st germain", "R. de l'église", "imp. des lilas", "all des roses", "rte de lyon",
         "fbg St-Honoré", "PL. DU MARCHÉ", "chem. des Allées", "Ste Anne"]
    ),
)


def test_street_types_are_expanded_in_display_and_matching_forms(spark, addresses_of):
    expected = spark.createDataFrame(
        [
            ("0", "Avenue de la République", "avenue de la republique"),
            ("1", "Boulevard Saint Germain", "boulevard saint germain"),
            ("2", "Rue de l'Église", "rue de l eglise"),
            ("3", "Impasse des Lilas", "impasse des lilas"),
            ("4", "Allée des Roses", "allee des roses"),
            ("5", "Route de Lyon", "route de lyon"),
            ("6", "Faubourg Saint-Honoré", "faubourg saint honore"),
            ("7", "Place du Marché", "place du marche"),
            ("8", "Chemin des Allées", "chemin des allees"),  # only the first word is a street type
            ("9", "Sainte Anne", "sainte anne"),
        ],
        "id string, street string, street_std string",
    )
    _assert(addresses_of("street_types", "street", "street_std"), expected)


_case("four_digits", [("1", None, None, None, "1000", None, None), ("2", None, None, None, "6000", None, "France")])


def test_four_digit_postcode_gets_leading_zero(spark, addresses_of):
    expected = spark.createDataFrame(
        [("1", "01000", "FR", []), ("2", "06000", "FR", [])],
        "id string, postcode string, country string, quality_flags array<string>",
    )
    _assert(addresses_of("four_digits", "postcode", "country", "quality_flags"), expected)


_case("compacted", _postcodes(["75 001", "F-13008", " 69.003 "]))


def test_postcode_with_spaces_or_country_prefix_is_compacted(spark, addresses_of):
    expected = spark.createDataFrame(
        [("0", "75001", []), ("1", "13008", []), ("2", "69003", [])],
        "id string, postcode string, quality_flags array<string>",
    )
    _assert(addresses_of("compacted", "postcode", "quality_flags"), expected)


INVALID_POSTCODES = _case("invalid_postcodes", _postcodes(["ABC", "750011", "00000", "99000", "123"], country="FR"))


def test_invalid_french_postcode_is_nulled_and_flagged(spark, addresses_of):
    expected = spark.createDataFrame(
        [(row[0], None, ["postcode:invalid"]) for row in INVALID_POSTCODES],
        "id string, postcode string, quality_flags array<string>",
    )
    _assert(addresses_of("invalid_postcodes", "postcode", "quality_flags"), expected)


_case(
    "foreign_postcodes",
    [("1", None, None, None, "1000", "Bruxelles", "Belgique"), ("2", None, None, None, "sw1a 1aa", "London", "UK")],
)


def test_foreign_postcode_is_kept_as_given(spark, addresses_of):
    expected = spark.createDataFrame(
        [("1", "1000", "BE", []), ("2", "SW1A 1AA", "GB", [])],
        "id string, postcode string, country string, quality_flags array<string>",
    )
    _assert(addresses_of("foreign_postcodes", "postcode", "country", "quality_flags"), expected)


_case("city_display", _cities(["Paris Cedex 15", "saint-étienne cedex 1", "Lyon", "  aix-en-provence  "]))


def test_city_display_drops_cedex_and_is_upper_case(spark, addresses_of):
    expected = spark.createDataFrame(
        [("0", "PARIS"), ("1", "SAINT-ÉTIENNE"), ("2", "LYON"), ("3", "AIX-EN-PROVENCE")], "id string, city string"
    )
    _assert(addresses_of("city_display", "city"), expected)


_case(
    "city_std",
    _cities(
        ["PARIS 15", "Lyon 3e", "MARSEILLE 08", "Paris 1er", "ST ETIENNE CEDEX 1", "Ste-Foy-lès-Lyon", "75015 PARIS",
         "Saint-Étienne"]
    ),
)


def test_city_std_drops_arrondissement_cedex_and_expands_saint(spark, addresses_of):
    expected = spark.createDataFrame(
        [
            ("0", "paris"),
            ("1", "lyon"),
            ("2", "marseille"),
            ("3", "paris"),
            ("4", "saint etienne"),
            ("5", "sainte foy les lyon"),
            ("6", "paris"),
            ("7", "saint etienne"),
        ],
        "id string, city_std string",
    )
    _assert(addresses_of("city_std", "city_std"), expected)


COUNTRIES = [
    ("France", None), ("FRANCE", None), ("fr", None), ("FRA", None), ("F", None), ("Belgique", None),
    ("Suisse", None), ("Luxembourg", None), ("Allemagne", None), ("Espagne", None), ("Italie", None),
    ("Narnia", None), (None, "75001"), ("  ", "69003"), (None, None),
]
_case("countries", [(str(i), None, None, None, p, None, c) for i, (c, p) in enumerate(COUNTRIES)])


def test_country_names_become_iso_codes(spark, addresses_of):
    codes = ["FR", "FR", "FR", "FR", "FR", "BE", "CH", "LU", "DE", "ES", "IT", "NARNIA", "FR", "FR", None]
    expected = spark.createDataFrame([(str(i), c) for i, c in enumerate(codes)], "id string, country string")
    _assert(addresses_of("countries", "country"), expected)


_case(
    "extra",
    [("1", None, None, "  Bât. A,   3e étage ", None, None, None), ("2", None, None, "   ", None, None, None)],
)


def test_address_extra_is_trimmed_and_blank_nulled(spark, addresses_of):
    expected = spark.createDataFrame([("1", "Bât. A, 3e étage"), ("2", None)], "id string, address_extra string")
    _assert(addresses_of("extra", "address_extra"), expected)


def test_absent_address_columns_read_as_null(spark):
    df = spark.createDataFrame([("1", "x")], "id string, other string")
    expected = spark.createDataFrame(
        [("1", "x", None, None, None, None, None, None, None, None, [])],
        "id string, other string, house_number string, street string, street_std string, address_extra string, "
        "postcode string, city string, city_std string, country string, quality_flags array<string>",
    )
    _assert(standardise_addresses(df).select(*expected.columns), expected)
