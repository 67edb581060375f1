"""Birth dates and timestamps (spark_lib.standardise.dates)."""

from __future__ import annotations

import datetime as dt

import pytest
from chispa import assert_df_equality
from pyspark.sql import functions as F

from spark_lib.standardise import DateFormatError, parse_timestamp, standardise_birth_dates

TODAY = dt.date(2025, 6, 30)
OUT = "id string, birth_date date, quality_flags array<string>"

# Every test's birth-date strings, registered at import by _case() and standardised together by the module
# fixture (default formats, today = TODAY): one Spark plan for the module instead of one per test.
_CASES: dict[str, list[str | None]] = {}


def _case(name: str, values: list[str | None]) -> list[str | None]:
    _CASES[name] = values
    return values


@pytest.fixture(scope="module")
def birth_dates_of(spark):
    """``birth_dates_of(case)``: the standardised rows of one registered case, ids "0", "1", ... in input order."""
    rows = [(f"{name}/{i}", v) for name, values in _CASES.items() for i, v in enumerate(values)]
    out = standardise_birth_dates(spark.createDataFrame(rows, "id string, birth_date string"), today=TODAY)
    out = spark.createDataFrame(out.collect(), out.schema)

    def of(name: str):
        mine = out.filter(F.col("id").startswith(name + "/")).withColumn("id", F.substring_index("id", "/", -1))
        return mine.select("id", "birth_date", "quality_flags")

    return of


def _birth_dates(spark, values, **kwargs):
    df = spark.createDataFrame([(str(i), v) for i, v in enumerate(values)], "id string, birth_date string")
    return standardise_birth_dates(df, today=TODAY, **kwargs).select("id", "birth_date", "quality_flags")


def _expected(spark, rows):
    return spark.createDataFrame([(str(i), *row) for i, row in enumerate(rows)], OUT)


def _assert(actual, expected):
    # chispa compares without row order by sorting both sides, and a global sort first samples its input:
    # collecting the result once keeps a transform from running twice.
    actual = actual.sparkSession.createDataFrame(actual.collect(), actual.schema)
    assert_df_equality(actual, expected, ignore_row_order=True, ignore_nullable=True)


_case(
    "formats",
    ["1980-05-12", "12/05/1980", "19800512", "12-05-1980", "12.05.1980", "1980/05/12", "12051980", "2/5/1980"],
)


def test_common_birth_date_formats_are_parsed(spark, birth_dates_of):
    expected = _expected(spark, [(dt.date(1980, 5, 12), [])] * 7 + [(dt.date(1980, 5, 2), [])])
    _assert(birth_dates_of("formats"), expected)


_case("iso", ["1980-05-12T00:00:00+02:00", "1980-05-12T10:20:30.123Z", "1980-05-12 00:00:00"])


def test_iso_timestamp_keeps_the_day_as_written(spark, birth_dates_of):
    # UTC would make the first one 11 May: a birth date has no time zone.
    expected = _expected(spark, [(dt.date(1980, 5, 12), [])] * 3)
    _assert(birth_dates_of("iso"), expected)


_case("two_digit_years", ["12/05/80", "12/05/05"])


def test_two_digit_year_is_read_in_the_past(spark, birth_dates_of):
    expected = _expected(spark, [(dt.date(1980, 5, 12), []), (dt.date(2005, 5, 12), [])])
    _assert(birth_dates_of("two_digit_years"), expected)


_case("impossible_days", ["31/02/1980", "1980-02-30", "1980-13-45", "29/02/1981"])


def test_feb_31_is_nulled_and_flagged(spark, birth_dates_of):
    expected = _expected(spark, [(None, ["birth_date:impossible"])] * 4)
    _assert(birth_dates_of("impossible_days"), expected)


_case("out_of_range", ["1850-01-01", "2090-01-01", "2025-07-01", "1904-06-29", "1905-07-01", "2025-06-30"])


def test_dates_before_1900_in_the_future_or_over_120_years_are_impossible(spark, birth_dates_of):
    expected = _expected(
        spark,
        [(None, ["birth_date:impossible"])] * 4 + [(dt.date(1905, 7, 1), []), (dt.date(2025, 6, 30), [])],
    )
    _assert(birth_dates_of("out_of_range"), expected)


PLACEHOLDERS = _case(
    "placeholders", ["1900-01-01", "01/01/1900", "1901-01-01", "1111-11-11", "9999-12-31", "01/01/0001", "00/00/0000"]
)


def test_placeholder_birth_dates_are_nulled_and_flagged(spark, birth_dates_of):
    expected = _expected(spark, [(None, ["birth_date:placeholder"])] * len(PLACEHOLDERS))
    _assert(birth_dates_of("placeholders"), expected)


_case("unparseable", ["hello", "12 mai 1980", "1980", "", None])


def test_unparseable_birth_date_is_nulled_and_flagged(spark, birth_dates_of):
    expected = _expected(spark, [(None, ["birth_date:unparseable"])] * 3 + [(None, [])] * 2)
    _assert(birth_dates_of("unparseable"), expected)


def test_given_format_is_the_only_one_used(spark):
    values = ["05/12/1980", "1980-05-12", "02/31/1980"]
    expected = _expected(
        spark,
        [(dt.date(1980, 5, 12), []), (None, ["birth_date:unparseable"]), (None, ["birth_date:impossible"])],
    )
    _assert(_birth_dates(spark, values, fmt="MM/dd/yyyy"), expected)


def test_empty_format_raises(spark):
    df = spark.createDataFrame([("1", "1980-05-12")], "id string, birth_date string")
    with pytest.raises(DateFormatError):
        standardise_birth_dates(df, fmt=" ")


def test_parse_timestamp_reads_iso_french_and_epoch_forms(spark):
    values = [
        "2024-03-05T10:20:30.123+01:00",
        "2024-03-05T10:20:30Z",
        "2024-03-05 10:20:30",
        "2024-03-05",
        "05/03/2024 10:20:30",
        "05/03/2024 10:20",
        "05/03/2024",
        "1709634030123",
        "1709634030",
        "20240305",
        "5/3/2024 9:05",
        "2024/03/05 10:20:30",
        "garbage",
        None,
    ]
    df = spark.createDataFrame([(str(i), v) for i, v in enumerate(values)], "id string, t string")
    # Compared as text in the session time zone (UTC), so the test does not depend on the machine's zone.
    actual = df.select("id", F.date_format(parse_timestamp("t"), "yyyy-MM-dd HH:mm:ss.SSS").alias("t"))
    expected = spark.createDataFrame(
        [
            ("0", "2024-03-05 09:20:30.123"),
            ("1", "2024-03-05 10:20:30.000"),
            ("2", "2024-03-05 10:20:30.000"),
            ("3", "2024-03-05 00:00:00.000"),
            ("4", "2024-03-05 10:20:30.000"),
            ("5", "2024-03-05 10:20:00.000"),
            ("6", "2024-03-05 00:00:00.000"),
            ("7", "2024-03-05 10:20:30.123"),
            ("8", "2024-03-05 10:20:30.000"),
            ("9", "2024-03-05 00:00:00.000"),
            ("10", "2024-03-05 09:05:00.000"),
            ("11", "2024-03-05 10:20:30.000"),
            ("12", None),
            ("13", None),
        ],
        "id string, t string",
    )
    _assert(actual, expected)


def test_parse_timestamp_with_format_uses_only_that_format(spark):
    df = spark.createDataFrame([("1", "05-03-2024 10h20"), ("2", "2024-03-05 10:20:00")], "id string, t string")
    actual = df.select("id", F.date_format(parse_timestamp("t", "dd-MM-yyyy HH'h'mm"), "yyyy-MM-dd HH:mm").alias("t"))
    expected = spark.createDataFrame([("1", "2024-03-05 10:20"), ("2", None)], "id string, t string")
    _assert(actual, expected)
