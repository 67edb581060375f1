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


FOREIGN_VALID = [
    ("BE", "1000", "1000"), ("BE", "B-1000", "1000"), ("CH", "CH-8001", "8001"), ("LU", "L-1234", "1234"),
    ("LU", "1234", "1234"), ("AT", "A-1010", "1010"), ("DK", "DK-2100", "2100"), ("DE", "10115", "10115"),
    ("DE", "D-01067", "01067"), ("ES", "28001", "28001"), ("IT", "00184", "00184"), ("MC", "98000", "98000"),
    ("NL", "1234ab", "1234 AB"), ("NL", "NL-1234 AB", "1234 AB"), ("PT", "1234 567", "1234-567"),
    ("PT", "1234-567", "1234-567"), ("GB", "sw1a1aa", "SW1A 1AA"), ("GB", "m1 1ae", "M1 1AE"),
    ("GB", " EC1A 1BB ", "EC1A 1BB"), ("SE", "114 55", "114 55"),  # no known format: kept as given
]
_case("foreign_valid", [(str(i), None, None, None, p, None, c) for i, (c, p, _) in enumerate(FOREIGN_VALID)])


def test_foreign_postcode_is_standardised_in_its_country_format(spark, addresses_of):
    expected = spark.createDataFrame(
        [(str(i), c, out, []) for i, (c, _, out) in enumerate(FOREIGN_VALID)],
        "id string, country string, postcode string, quality_flags array<string>",
    )
    _assert(addresses_of("foreign_valid", "country", "postcode", "quality_flags"), expected)


FOREIGN_INVALID = [
    ("BE", "01000"), ("BE", "0999"), ("CH", "800"), ("LU", "12345"), ("DE", "1011"), ("ES", "53001"),
    ("IT", "0018"), ("MC", "75001"), ("NL", "0123 AB"), ("NL", "1234"), ("PT", "1234"), ("GB", "12345"),
    ("GB", "SW1A"),
]
_case("foreign_invalid", [(str(i), None, None, None, p, None, c) for i, (c, p) in enumerate(FOREIGN_INVALID)])


def test_postcode_invalid_for_its_country_is_nulled_and_flagged(spark, addresses_of):
    expected = spark.createDataFrame(
        [(str(i), c, None, ["postcode:invalid"]) for i, (c, _) in enumerate(FOREIGN_INVALID)],
        "id string, country string, postcode string, quality_flags array<string>",
    )
    _assert(addresses_of("foreign_invalid", "country", "postcode", "quality_flags"), expected)


_case(
    "country_flags",
    [
        ("1", None, None, None, "SW1A 1AA", "London", None),  # no country, not a French postcode
        ("2", None, None, None, "75001", "Paris", None),  # a valid French postcode says France
        ("3", None, "rue de la Paix", None, None, "Paris", None),  # no postcode to read: nothing flagged
        ("4", None, None, None, "1000", None, "Narnia"),
        ("5", None, None, None, "114 55", None, "SE"),  # an ISO code missing from the table is recognised
    ],
)


def test_unknown_and_unrecognised_countries_are_flagged(spark, addresses_of):
    expected = spark.createDataFrame(
        [
            ("1", None, None, ["postcode:invalid", "country:unknown"]),
            ("2", "FR", "75001", []),
            ("3", None, None, []),
            ("4", "NARNIA", "1000", ["country:unrecognised"]),
            ("5", "SE", "114 55", []),
        ],
        "id string, country string, postcode string, quality_flags array<string>",
    )
    _assert(addresses_of("country_flags", "country", "postcode", "quality_flags"), expected)


NUMBER_AFTER_STREET = [
    ("DE", "Hauptstraße 12", "12", "Hauptstraße", "hauptstrasse"),
    ("DE", "Hauptstrasse 12", "12", "Hauptstrasse", "hauptstrasse"),
    ("CH", "Bahnhofstrasse 12a", "12 A", "Bahnhofstrasse", "bahnhofstrasse"),
    ("ES", "Calle Mayor, 5", "5", "Calle Mayor", "calle mayor"),
    ("BE", "Rue de la Loi 16", "16", "Rue de la Loi", "rue de la loi"),
    ("BE", "16 rue de la Loi", "16", "Rue de la Loi", "rue de la loi"),  # at the start: read there first
    ("IT", "Via Roma n. 10", "10", "Via Roma", "via roma"),
    ("NL", "Kerkstraat 12-14", "12-14", "Kerkstraat", "kerkstraat"),
    ("DE", "Straße des 17. Juni 135", "135", "Straße des 17. Juni", "strasse des 17 juni"),
    ("DE", "Hauptstraße", None, "Hauptstraße", "hauptstrasse"),
    ("FR", "Route Nationale 7", None, "Route Nationale 7", "route nationale 7"),  # France: a road's number
    (None, "RN 7", None, "RN 7", "rn 7"),
    (None, "Chemin du Moulin 2", None, "Chemin du Moulin 2", "chemin du moulin 2"),
]
_case(
    "number_after_street",
    [(str(i), None, street, None, None, None, c) for i, (c, street, *_) in enumerate(NUMBER_AFTER_STREET)]
    + [("given", "5", "Hauptstraße 12", None, None, None, "DE")],  # a number is given: the street stays whole
)


def test_house_number_after_the_street_is_extracted_where_countries_write_it_there(spark, addresses_of):
    expected = spark.createDataFrame(
        [(str(i), *out) for i, (_, _, *out) in enumerate(NUMBER_AFTER_STREET)]
        + [("given", "5", "Hauptstraße 12", "hauptstrasse 12")],
        "id string, house_number string, street string, street_std string",
    )
    _assert(addresses_of("number_after_street", "house_number", "street", "street_std"), expected)


def test_default_country_reads_records_without_country(spark):
    rows = [
        ("1", None, "Rue de la Loi 16", None, "1000", "Bruxelles", None),  # not the French "01000"
        ("2", None, None, None, "B-4000", "Liège", None),
        ("3", None, None, None, "75001", "Paris", None),  # not a Belgian postcode
        ("4", None, "12 rue de Rivoli", None, "1000", "Paris", "France"),  # the record's own country wins
        ("5", None, None, None, None, None, None),  # no address: no country to give
    ]
    df = spark.createDataFrame(rows, INPUTS)
    columns = ("id", "house_number", "street", "postcode", "country", "quality_flags")
    expected = spark.createDataFrame(
        [
            ("1", "16", "Rue de la Loi", "1000", "BE", []),
            ("2", None, None, "4000", "BE", []),
            ("3", None, None, None, "BE", ["postcode:invalid"]),
            ("4", "12", "Rue de Rivoli", "01000", "FR", []),
            ("5", None, None, None, None, []),
        ],
        "id string, house_number string, street string, postcode string, country string, quality_flags array<string>",
    )
    _assert(standardise_addresses(df, default_country="BE").select(*columns), expected)


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
