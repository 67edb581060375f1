"""Civility, names and the shared text folding (spark_lib.standardise.names / .text)."""

from __future__ import annotations

import pytest
from chispa import assert_df_equality
from pyspark.sql import functions as F

from spark_lib.standardise import fold, standardise_names
from spark_lib.standardise.text import blank_to_null, clean_text

NAME_INPUTS = "id string, civility string, first_name string, last_name string, birth_name string, full_name string"

# Every test's input rows, registered at import by _case() and standardised together by the module fixture:
# one Spark plan for the module instead of one per test (plan analysis, not data, is what costs here).
_CASES: dict[str, list[tuple]] = {}


def _case(name: str, rows: list[tuple]) -> list[tuple]:
    _CASES[name] = rows
    return rows


@pytest.fixture(scope="module")
def names_of(spark):
    """``names_of(case)``: the standardised rows of one registered case, with the ids the test gave them."""
    rows = [(f"{name}/{row[0]}", *row[1:]) for name, case_rows in _CASES.items() for row in case_rows]
    out = standardise_names(spark.createDataFrame(rows, NAME_INPUTS))
    out = spark.createDataFrame(out.collect(), out.schema)

    def of(name: str):
        mine = out.filter(F.col("id").startswith(name + "/"))
        return mine.withColumn("id", F.substring_index("id", "/", -1))

    return of


def _assert(actual, expected):
    # chispa compares without row order by sorting both sides, and a global sort first samples its input:
    # collecting the result once keeps the transform from running twice.
    actual = actual.sparkSession.createDataFrame(actual.collect(), actual.schema)
    assert_df_equality(actual, expected, ignore_row_order=True, ignore_nullable=True)


# ------------------------------------------------------------------------------------------------
# text helpers
# ------------------------------------------------------------------------------------------------


def test_fold_removes_accents_ligatures_punctuation_and_extra_spaces(spark):
    df = spark.createDataFrame(
        [
            ("1", "  Éléonore-Marie   D’Œuvre "),
            ("2", "ÀÂÄÇÉÈÊËÎÏÔÖÙÛÜŸ"),
            ("3", "Straße Ærø"),
            ("4", "e\u0301le\u0300ve"),  # decomposed accents (macOS)
            ("5", "O'Neil_Smith.Jr"),
            ("6", " - . "),
            ("7", None),
            ("8", "Łódź Ñúñez"),
        ],
        "id string, text string",
    )
    expected = spark.createDataFrame(
        [
            ("1", "eleonore marie d oeuvre"),
            ("2", "aaaceeeeiioouuuy"),
            ("3", "strasse aero"),
            ("4", "eleve"),
            ("5", "o neil smith jr"),
            ("6", None),
            ("7", None),
            ("8", "lodz nunez"),
        ],
        "id string, text string",
    )
    _assert(df.select("id", fold("text").alias("text")), expected)


def test_blank_to_null_and_clean_text_null_blank_and_null_words(spark):
    df = spark.createDataFrame(
        [("1", "  "), ("2", "NULL"), ("3", "n/a"), ("4", "\u00a0 Jean \u00a0 Pierre "), ("5", "d’Estaing")],
        "id string, text string",
    )
    expected = spark.createDataFrame(
        [
            ("1", None, None),
            ("2", None, None),
            ("3", None, None),
            ("4", "\u00a0 Jean \u00a0 Pierre ", "Jean Pierre"),
            ("5", "d’Estaing", "d'Estaing"),
        ],
        "id string, blank string, clean string",
    )
    actual = df.select("id", blank_to_null("text").alias("blank"), clean_text("text").alias("clean"))
    _assert(actual, expected)


# ------------------------------------------------------------------------------------------------
# civility
# ------------------------------------------------------------------------------------------------


SPELLINGS = ["M", "M.", "Mr", "mr.", "MONSIEUR", "Mme", "Mme.", "madame", "Mlle", "Melle", "Mademoiselle", "MMES", None]

_case(
    "civility_spellings",
    [(str(i), c, None, None, None, None) for i, c in enumerate(SPELLINGS)],
)


def test_civility_spellings_become_m_or_mme(spark, names_of):
    actual = names_of("civility_spellings")
    expected = spark.createDataFrame(
        [(str(i), code) for i, code in enumerate(["M"] * 5 + ["MME"] * 7 + [None])], "id string, civility string"
    )
    _assert(actual.select("id", "civility"), expected)


_case(
    "unrecognised_civility",
    [("1", "Dr", "Paul", None, None, None), ("2", "M et Mme", "Anne", None, None, None)],
)


def test_unrecognised_civility_is_nulled_and_flagged(spark, names_of):
    actual = names_of("unrecognised_civility")
    expected = spark.createDataFrame(
        [("1", None, ["civility:unrecognised"]), ("2", None, ["civility:unrecognised"])],
        "id string, civility string, quality_flags array<string>",
    )
    _assert(actual.select("id", "civility", "quality_flags"), expected)


_case(
    "civility_in_first_name",
    [
        ("1", None, "Mme Marie", "CURIE", None, None),
        ("2", None, "M. Paul", "DURAND", None, None),
        ("3", "M", "Mlle Anne", "DUPONT", None, None),  # the civility column wins
        ("4", None, "Marc", "MARTIN", None, None),  # "M" followed by letters is not a civility
    ],
)


def test_civility_prefix_in_first_name_fills_civility_and_is_removed(spark, names_of):
    actual = names_of("civility_in_first_name")
    expected = spark.createDataFrame(
        [("1", "MME", "Marie"), ("2", "M", "Paul"), ("3", "M", "Anne"), ("4", None, "Marc")],
        "id string, civility string, first_name string",
    )
    _assert(actual.select("id", "civility", "first_name"), expected)


# ------------------------------------------------------------------------------------------------
# display and folded names
# ------------------------------------------------------------------------------------------------


_case(
    "first_names",
    [
        ("1", None, "jean-pierre", None, None, None),
        ("2", None, "ÉLODIE", None, None, None),
        ("3", None, "  marie   claire ", None, None, None),
        ("4", None, "JEAN - PIERRE", None, None, None),
        ("5", None, "françois", None, None, None),
    ],
)


def test_first_name_display_is_proper_case_with_accents_and_hyphens(spark, names_of):
    actual = names_of("first_names")
    expected = spark.createDataFrame(
        [
            ("1", "Jean-Pierre", "jean pierre"),
            ("2", "Élodie", "elodie"),
            ("3", "Marie Claire", "marie claire"),
            ("4", "Jean-Pierre", "jean pierre"),
            ("5", "François", "francois"),
        ],
        "id string, first_name string, first_name_std string",
    )
    _assert(actual.select("id", "first_name", "first_name_std"), expected)


_case(
    "last_names",
    [
        ("1", None, None, "le goff", None, None),
        ("2", None, None, "d'almeida", None, None),
        ("3", None, None, "Lefèvre", None, None),
        ("4", None, None, "de la Fontaine", None, None),
        ("5", None, None, "d’Estaing", None, None),
    ],
)


def test_last_name_display_is_upper_case_keeping_accents_and_particles(spark, names_of):
    actual = names_of("last_names")
    expected = spark.createDataFrame(
        [
            ("1", "LE GOFF", "le goff"),
            ("2", "D'ALMEIDA", "d almeida"),
            ("3", "LEFÈVRE", "lefevre"),
            ("4", "DE LA FONTAINE", "de la fontaine"),
            ("5", "D'ESTAING", "d estaing"),
        ],
        "id string, last_name string, last_name_std string",
    )
    _assert(actual.select("id", "last_name", "last_name_std"), expected)


_case(
    "nee_and_epouse",
    [
        ("1", None, None, "MARTIN née DUPONT", None, None),
        ("2", None, None, "Dupont épouse Martin", None, None),
        ("3", None, None, "MARTIN", "née Durand", None),
        ("4", None, None, "MARTIN", None, None),
    ],
)


def test_birth_name_is_taken_from_nee_and_epouse_forms(spark, names_of):
    actual = names_of("nee_and_epouse")
    expected = spark.createDataFrame(
        [
            ("1", "MARTIN", "DUPONT", "dupont"),
            ("2", "MARTIN", "DUPONT", "dupont"),
            ("3", "MARTIN", "DURAND", "durand"),
            ("4", "MARTIN", None, None),
        ],
        "id string, last_name string, birth_name string, birth_name_std string",
    )
    _assert(actual.select("id", "last_name", "birth_name", "birth_name_std"), expected)


_case(
    "placeholder_names",
    [("1", None, "xxx", "INCONNU", None, None), ("2", None, "Jean", "TEST", None, None)],
)


def test_placeholder_names_are_nulled_and_flagged(spark, names_of):
    actual = names_of("placeholder_names")
    expected = spark.createDataFrame(
        [
            ("1", None, None, None, ["first_name:placeholder", "last_name:placeholder"]),
            ("2", "Jean", None, None, ["last_name:placeholder"]),
        ],
        "id string, first_name string, last_name string, last_name_std string, quality_flags array<string>",
    )
    _assert(actual.select("id", "first_name", "last_name", "last_name_std", "quality_flags"), expected)


# ------------------------------------------------------------------------------------------------
# full_name split
# ------------------------------------------------------------------------------------------------

SPLIT = (
    "id string, civility string, first_name string, last_name string, last_name_std string, "
    "quality_flags array<string>"
)


_case(
    "full_names_by_case",
    [
        ("1", None, None, None, None, "DUPONT Jean"),
        ("2", None, None, None, None, "Jean DUPONT"),
        ("3", None, None, None, None, "DE LA FONTAINE Marie-Claire"),
        ("4", None, None, None, None, "Jean de LA FONTAINE"),
        ("5", None, None, None, None, "MARTIN, Gérard"),
        ("6", None, None, None, None, "J. DUPONT"),
    ],
)


def test_full_name_is_split_by_upper_case_last_name(spark, names_of):
    actual = names_of("full_names_by_case")
    expected = spark.createDataFrame(
        [
            ("1", None, "Jean", "DUPONT", "dupont", []),
            ("2", None, "Jean", "DUPONT", "dupont", []),
            ("3", None, "Marie-Claire", "DE LA FONTAINE", "de la fontaine", []),
            ("4", None, "Jean", "DE LA FONTAINE", "de la fontaine", []),
            ("5", None, "Gérard", "MARTIN", "martin", []),
            ("6", None, "J.", "DUPONT", "dupont", []),
        ],
        SPLIT,
    )
    _assert(actual.select("id", "civility", "first_name", "last_name", "last_name_std", "quality_flags"), expected)


_case(
    "full_names_with_civility",
    [("1", None, None, None, None, "Mme DUPONT Jeanne"), ("2", None, None, None, None, "M. Paul MARTIN")],
)


def test_full_name_civility_prefix_is_read_and_removed(spark, names_of):
    actual = names_of("full_names_with_civility")
    expected = spark.createDataFrame(
        [("1", "MME", "Jeanne", "DUPONT", "dupont", []), ("2", "M", "Paul", "MARTIN", "martin", [])], SPLIT
    )
    _assert(actual.select("id", "civility", "first_name", "last_name", "last_name_std", "quality_flags"), expected)


_case(
    "full_names_without_case_hint",
    [
        ("1", None, None, None, None, "dupont jean"),
        ("2", None, None, None, None, "DE LA FONTAINE MARIE"),
        ("3", None, None, None, None, "DUPONT"),
    ],
)


def test_full_name_without_case_hint_assumes_last_name_first_and_flags_it(spark, names_of):
    actual = names_of("full_names_without_case_hint")
    expected = spark.createDataFrame(
        [
            ("1", None, "Jean", "DUPONT", "dupont", ["full_name:order_assumed"]),
            ("2", None, "Marie", "DE LA FONTAINE", "de la fontaine", ["full_name:order_assumed"]),
            ("3", None, None, "DUPONT", "dupont", []),
        ],
        SPLIT,
    )
    _assert(actual.select("id", "civility", "first_name", "last_name", "last_name_std", "quality_flags"), expected)


_case(
    "full_names_and_given_names",
    [
        ("1", None, "Jean", "DUPONT", None, "MARTIN Paul"),  # both given: full_name ignored
        ("2", None, "Paul", None, None, "MARTIN Paul"),  # last name missing: taken from full_name
    ],
)


def test_full_name_only_fills_names_that_are_missing(spark, names_of):
    actual = names_of("full_names_and_given_names")
    expected = spark.createDataFrame(
        [("1", None, "Jean", "DUPONT", "dupont", []), ("2", None, "Paul", "MARTIN", "martin", [])], SPLIT
    )
    _assert(actual.select("id", "civility", "first_name", "last_name", "last_name_std", "quality_flags"), expected)


# ------------------------------------------------------------------------------------------------
# nicknames
# ------------------------------------------------------------------------------------------------


NICKNAMES = ["Fred", "Freddy", "Cathy", "Manu", "Gégé", "Béa", "Nico", "Seb", "Steph", "Jean", None]

_case(
    "nicknames",
    [(str(i), "M", n, None, None, None) for i, n in enumerate(NICKNAMES)],
)


def test_nicknames_resolve_to_the_formal_first_name(spark, names_of):
    actual = names_of("nicknames")
    expected = spark.createDataFrame(
        [
            ("0", "fred", "frederic"),
            ("1", "freddy", "frederic"),
            ("2", "cathy", "catherine"),
            ("3", "manu", "emmanuel"),
            ("4", "gege", "gerard"),
            ("5", "bea", "beatrice"),
            ("6", "nico", "nicolas"),
            ("7", "seb", "sebastien"),
            ("8", "steph", "stephane"),
            ("9", "jean", "jean"),
            ("10", None, None),
        ],
        "id string, first_name_std string, first_name_canonical string",
    )
    _assert(actual.select("id", "first_name_std", "first_name_canonical"), expected)


_case(
    "gendered_nicknames",
    [
        ("1", "M", "Alex", None, None, None),
        ("2", "Mme", "Alex", None, None, None),
        ("3", None, "Alex", None, None, None),
        ("4", "Mme", "Steph", None, None, None),
    ],
)


def test_gendered_nickname_follows_the_civility(spark, names_of):
    actual = names_of("gendered_nicknames")
    expected = spark.createDataFrame(
        [("1", "alexandre"), ("2", "alexandra"), ("3", "alexandre"), ("4", "stephanie")],
        "id string, first_name_canonical string",
    )
    _assert(actual.select("id", "first_name_canonical"), expected)


# ------------------------------------------------------------------------------------------------
# frame contract
# ------------------------------------------------------------------------------------------------


def test_absent_name_columns_read_as_null_and_other_columns_are_kept(spark):
    df = spark.createDataFrame(
        [("1", "keep me", ["source:late"])], "id string, other string, quality_flags array<string>"
    )
    actual = standardise_names(df)
    expected = spark.createDataFrame(
        [("1", "keep me", ["source:late"], None, None, None, None, None, None, None, None)],
        "id string, other string, quality_flags array<string>, civility string, first_name string, "
        "last_name string, birth_name string, first_name_std string, first_name_canonical string, "
        "last_name_std string, birth_name_std string",
    )
    _assert(actual.select(*expected.columns), expected)
    assert sorted(actual.columns) == sorted(expected.columns)


def test_flags_are_appended_to_existing_quality_flags(spark):
    df = spark.createDataFrame(
        [("1", "Dr", ["email:invalid"])], "id string, civility string, quality_flags array<string>"
    )
    expected = spark.createDataFrame(
        [("1", ["email:invalid", "civility:unrecognised"])], "id string, quality_flags array<string>"
    )
    _assert(standardise_names(df).select("id", "quality_flags"), expected)

