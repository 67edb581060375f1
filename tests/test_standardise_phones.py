"""Phone standardisation (spark_lib.standardise.phones): phonenumbers in a pandas UDF."""

from __future__ import annotations

import pytest
from chispa import assert_df_equality
from pyspark.sql import functions as F

from spark_lib.standardise import UnknownRegionError, standardise_addresses, standardise_phones

OUT = "id string, phone string, phone_2 string, phone_mobile string, phone_landline string, quality_flags array<string>"

# Every test's (phone, phone_2) pairs, registered at import by _case() and standardised together by the module
# fixture: one Spark plan (and one round of Python workers) for the module instead of one per test.
_CASES: dict[str, list[tuple[str | None, str | None]]] = {}


def _case(name: str, pairs: list[tuple[str | None, str | None]]) -> list[tuple[str | None, str | None]]:
    _CASES[name] = pairs
    return pairs


@pytest.fixture(scope="module")
def phones_of(spark):
    """``phones_of(case)``: the standardised rows of one registered case, ids "0", "1", ... in input order."""
    rows = [(f"{name}/{i}", a, b) for name, pairs in _CASES.items() for i, (a, b) in enumerate(pairs)]
    out = standardise_phones(spark.createDataFrame(rows, "id string, phone string, phone_2 string"))
    out = spark.createDataFrame(out.collect(), out.schema)

    def of(name: str):
        mine = out.filter(F.col("id").startswith(name + "/")).withColumn("id", F.substring_index("id", "/", -1))
        return mine.select("id", "phone", "phone_2", "phone_mobile", "phone_landline", "quality_flags")

    return of


def _phones(spark, pairs, **kwargs):
    rows = [(str(i), a, b) for i, (a, b) in enumerate(pairs)]
    df = spark.createDataFrame(rows, "id string, phone string, phone_2 string")
    columns = ("id", "phone", "phone_2", "phone_mobile", "phone_landline", "quality_flags")
    return standardise_phones(df, **kwargs).select(*columns)


def _expected(spark, pairs, outputs):
    return spark.createDataFrame([(str(i), a, b, *out) for i, ((a, b), out) in enumerate(zip(pairs, outputs))], OUT)


def _assert(actual, expected):
    # chispa compares without row order by sorting both sides, and a global sort first samples its input:
    # collecting the result once keeps a transform from running twice.
    actual = actual.sparkSession.createDataFrame(actual.collect(), actual.schema)
    assert_df_equality(actual, expected, ignore_row_order=True, ignore_nullable=True)


NATIONAL = _case(
    "national", [("06 71 23 45 89", None), ("06.71.23.45.89", None), ("0671234589", None), ("06-71-23-45-89", None)]
)


def test_phone_in_national_format_becomes_e164(spark, phones_of):
    expected = _expected(spark, NATIONAL, [("+33671234589", None, [])] * 4)
    _assert(phones_of("national"), expected)


INTERNATIONAL = _case(
    "international",
    [
        ("+33671234589", None),
        ("+33 6 71 23 45 89", None),
        ("0033 6 71 23 45 89", None),
        ("+33 (0)6 71 23 45 89", None),
        ("33671234589", None),  # the "+" lost in a spreadsheet
    ],
)


def test_international_forms_become_e164(spark, phones_of):
    expected = _expected(spark, INTERNATIONAL, [("+33671234589", None, [])] * 5)
    _assert(phones_of("international"), expected)


NINE_DIGITS = _case("nine_digits", [("671234589", None), ("145454545", None)])


def test_nine_digits_without_leading_zero_get_it_back(spark, phones_of):
    expected = _expected(spark, NINE_DIGITS, [("+33671234589", None, []), (None, "+33145454545", [])])
    _assert(phones_of("nine_digits"), expected)


SORTED = _case(
    "sorted",
    [
        ("01 45 45 45 45", "06 71 23 45 89"),
        ("07 81 23 45 67", "09 51 23 45 67"),  # 09: VOIP, counted as a landline
        (None, "01 45 45 45 45"),
    ],
)


def test_mobiles_and_landlines_are_sorted_whatever_the_input_column(spark, phones_of):
    expected = _expected(
        spark,
        SORTED,
        [("+33671234589", "+33145454545", []), ("+33781234567", "+33951234567", []), (None, "+33145454545", [])],
    )
    _assert(phones_of("sorted"), expected)


BELGIAN_SWISS = _case(
    "belgian_swiss", [("+32 470 12 34 56", "+32 2 555 12 34"), ("+41 79 123 45 67", "0041 22 345 67 89")]
)


def test_belgian_and_swiss_numbers_stay_valid(spark, phones_of):
    expected = _expected(
        spark, BELGIAN_SWISS, [("+32470123456", "+3225551234", []), ("+41791234567", "+41223456789", [])]
    )
    _assert(phones_of("belgian_swiss"), expected)


SECOND_MOBILE = _case(
    "second_mobile",
    [("06 71 23 45 89", "07 81 23 45 67"), ("06 71 23 45 89", "+33671234589")],  # the same twice: no flag
)


def test_second_mobile_is_dropped_and_flagged(spark, phones_of):
    expected = _expected(
        spark, SECOND_MOBILE, [("+33671234589", None, ["phone:second_mobile_dropped"]), ("+33671234589", None, [])]
    )
    _assert(phones_of("second_mobile"), expected)


PLACEHOLDERS = _case(
    "placeholders",
    [("0000000000", None), ("0600000000", None), ("0123456789", None), ("1111111111", None), ("0612345678", None),
     ("07 00 00 00 00", "06 71 23 45 89")],
)


def test_placeholder_numbers_are_nulled_and_flagged(spark, phones_of):
    expected = _expected(
        spark, PLACEHOLDERS, [(None, None, ["phone:placeholder"])] * 5 + [("+33671234589", None, ["phone:placeholder"])]
    )
    _assert(phones_of("placeholders"), expected)


INVALID = _case("invalid", [("12345", None), ("abc", None), ("06 12 34", None), ("+33 1 23", "01 45 45 45 45")])


def test_invalid_numbers_are_nulled_and_flagged(spark, phones_of):
    expected = _expected(
        spark, INVALID, [(None, None, ["phone:invalid"])] * 3 + [(None, "+33145454545", ["phone:invalid"])]
    )
    _assert(phones_of("invalid"), expected)


WORDS = _case("words", [("06 71 23 45 89 (portable)", None), ("01 45 45 45 45 / 06 71 23 45 89", None)])


def test_words_and_second_numbers_in_a_field_are_ignored(spark, phones_of):
    expected = _expected(spark, WORDS, [("+33671234589", None, []), (None, "+33145454545", [])])
    _assert(phones_of("words"), expected)


BLANK = _case("blank", [(None, None), ("", "  ")])


def test_blank_phones_are_null_without_flag(spark, phones_of):
    expected = _expected(spark, BLANK, [(None, None, [])] * 2)
    _assert(phones_of("blank"), expected)


def test_default_region_reads_numbers_without_prefix_in_that_country(spark):
    pairs = [("0470 12 34 56", None)]
    expected = _expected(spark, pairs, [("+32470123456", None, [])])
    _assert(_phones(spark, pairs, default_region="BE"), expected)


def test_unknown_default_region_raises(spark):
    df = spark.createDataFrame([("1", "0671234589")], "id string, phone string")
    with pytest.raises(UnknownRegionError, match="XX"):
        standardise_phones(df, default_region="XX")


def _phones_in_countries(spark, rows, **kwargs):
    """``rows``: (phone, country) pairs; ``country`` as a record writes it, standardised by the address step."""
    df = spark.createDataFrame([(str(i), p, c) for i, (p, c) in enumerate(rows)], "id string, phone string, country string")
    out = df.transform(standardise_addresses, **kwargs).transform(standardise_phones, **kwargs)
    return out.select("id", "phone", "country", "phone_mobile", "phone_landline", "quality_flags")


def _expected_in_countries(spark, rows, outputs):
    schema = (
        "id string, phone string, country string, phone_mobile string, phone_landline string, "
        "quality_flags array<string>"
    )
    return spark.createDataFrame([(str(i), p, *out) for i, ((p, _), out) in enumerate(zip(rows, outputs))], schema)


def test_phone_is_read_in_the_record_country(spark):
    rows = [
        ("0470 12 34 56", "Belgique"),
        ("079 123 45 67", "CH"),
        ("022 345 67 89", "Suisse"),
        ("07911 123456", "Royaume-Uni"),
        ("07700 900123", "Royaume-Uni"),  # Ofcom's range for fiction: not a real number
        ("06 71 23 45 89", "FR"),
        ("06 71 23 45 89", None),  # no country: French, as before
        ("06 71 23 45 89", "Narnia"),  # a country phonenumbers does not know: French too
        ("0032 470 12 34 56", "États-Unis"),  # written internationally: read as written whatever the region
        ("+33 6 71 23 45 89", "Belgique"),
        ("671234589", "Belgique"),  # the French repair of a dropped zero applies in France only
    ]
    expected = _expected_in_countries(
        spark,
        rows,
        [
            ("BE", "+32470123456", None, []),
            ("CH", "+41791234567", None, []),
            ("CH", None, "+41223456789", []),
            ("GB", "+447911123456", None, []),
            ("GB", None, None, ["phone:invalid"]),
            ("FR", "+33671234589", None, []),
            (None, "+33671234589", None, []),
            ("NARNIA", "+33671234589", None, ["country:unrecognised"]),
            ("US", "+32470123456", None, []),
            ("BE", "+33671234589", None, []),
            ("BE", None, None, ["phone:invalid"]),
        ],
    )
    _assert(_phones_in_countries(spark, rows), expected)


def test_default_country_reads_the_numbers_of_records_without_country(spark):
    rows = [("0470 12 34 56", None), ("06 71 23 45 89", "France"), ("+41 79 123 45 67", None)]
    expected = _expected_in_countries(
        spark,
        rows,
        # records without an address keep a null country: the default reads their phones all the same
        [(None, "+32470123456", None, []), ("FR", "+33671234589", None, []), (None, "+41791234567", None, [])],
    )
    _assert(_phones_in_countries(spark, rows, default_country="BE"), expected)


def test_unknown_default_country_raises(spark):
    df = spark.createDataFrame([("1", "0470123456")], "id string, phone string")
    with pytest.raises(UnknownRegionError, match="default_country 'XX'"):
        standardise_phones(df, default_country="XX")
