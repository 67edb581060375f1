"""Birth dates and event timestamps from the many ways files write them, without raising under ANSI mode.

Example::

    from spark_lib.standardise import standardise_birth_dates, parse_timestamp
    silver = raw.transform(standardise_birth_dates)                       # common formats recognised
    silver = raw.transform(standardise_birth_dates, fmt="dd/MM/yyyy")     # the source's known format
    events = raw.withColumn("event_time", parse_timestamp("event_time"))

Nothing here raises on a bad value: parsing goes through ``try_to_date`` / ``try_to_timestamp`` /
``try_cast``, as a plain cast of a bad value fails the whole job with ANSI mode on (Spark 4's default).

Without a format, the value's *shape* is recognised by regular expressions and rewritten to ISO
(``12/05/1980`` -> ``1980-05-12``) before a single parse. Trying formats one after the other with
``coalesce(try_to_date(v, f1), try_to_date(v, f2), ...)`` gives the same dates, but every failed attempt costs
Spark a thrown and caught exception: ten times slower on a million rows.
"""

from __future__ import annotations

import datetime as dt

from pyspark.sql import Column, DataFrame
from pyspark.sql import functions as F

from spark_lib.standardise.text import clean_text, input_column, with_quality_flags

#: shapes recognised when the source gives no format: (pattern, ISO rewrite), applied in turn
DATE_SHAPES = (
    # dd/MM/yyyy, d/M/yyyy, dd-MM-yyyy, dd.MM.yyyy (French day-first)
    (r"^(\d{1,2})[/.-](\d{1,2})[/.-](\d{4})$", "$3-$2-$1"),
    # yyyy/MM/dd, yyyy.MM.dd (yyyy-MM-dd is already ISO)
    (r"^(\d{4})[/.](\d{1,2})[/.](\d{1,2})$", "$1-$2-$3"),
    # ISO timestamp "1980-05-12T00:00:00+02:00": the day as written, whatever the zone
    (r"^(\d{4}-\d{1,2}-\d{1,2})[T ]\d{1,2}:\d{2}(?::\d{2}(?:\.\d+)?)?(?:Z|[+-]\d{2}:?\d{2})?$", "$1"),
    # yyyyMMdd when it reads as a year then a month, else ddMMyyyy ("12051980")
    (r"^(1[89]\d{2}|20\d{2})(0[1-9]|1[0-2])(\d{2})$", "$1-$2-$3"),
    (r"^(\d{2})(\d{2})(\d{4})$", "$3-$2-$1"),
)
_ISO_DATE = r"^\d{4}-\d{1,2}-\d{1,2}$"
# dd/MM/yy: the century is the one that does not put the date in the future
_SHORT_YEAR = r"^(\d{1,2})/(\d{1,2})/(\d{2})$"

#: dates that systems write for "unknown"
PLACEHOLDER_BIRTH_DATES = (
    "1900-01-01", "1901-01-01", "1899-12-30", "1899-12-31", "1111-11-11", "9999-12-31", "0001-01-01",
)
PLACEHOLDER_BIRTH_TEXTS = ("00/00/0000", "0000-00-00", "00000000")
MAX_AGE_YEARS = 120
MIN_YEAR = 1900

_TMP = "_std_date_"


class DateFormatError(ValueError):
    """A date format given in configuration is empty or not a string."""


def _today(today: dt.date | str | Column | None) -> Column:
    if today is None:
        return F.current_date()
    if isinstance(today, Column):
        return today
    if isinstance(today, dt.datetime):
        today = today.date()
    if isinstance(today, str):
        today = dt.date.fromisoformat(today)
    return F.lit(today)


def _check_format(fmt: str | None) -> None:
    if fmt is not None and (not isinstance(fmt, str) or not fmt.strip()):
        raise DateFormatError(f"a date format must be a non-empty Spark datetime pattern, got {fmt!r}")


def _as_column(col: Column | str) -> Column:
    return F.col(col) if isinstance(col, str) else col


def iso_date_text(col: Column | str) -> Column:
    """The value rewritten as ``yyyy-M-d`` when it has one of the :data:`DATE_SHAPES`, else as given."""
    text = _as_column(col)
    # Two-digit years compared as text with this year's ("80" > "25": 1980). No cast: a failed cast to int
    # costs an exception per value, several seconds on a million rows.
    short_year = F.regexp_extract(text, _SHORT_YEAR, 3)
    iso = (
        F.when(short_year == "", text)
        .when(short_year > F.date_format(F.current_date(), "yy"), F.regexp_replace(text, _SHORT_YEAR, "19$3-$2-$1"))
        .otherwise(F.regexp_replace(text, _SHORT_YEAR, "20$3-$2-$1"))
    )
    for pattern, replacement in DATE_SHAPES:
        iso = F.regexp_replace(iso, pattern, replacement)
    return iso


def parse_date(col: Column | str, fmt: str | None = None) -> Column:
    """A ``DateType`` column from strings in ``fmt`` or, when it is None, in any of the :data:`DATE_SHAPES`
    (``yyyy-MM-dd``, ``dd/MM/yyyy``, ``yyyyMMdd``, ``dd-MM-yyyy``, ``dd.MM.yyyy``, ``d/M/yyyy``,
    ``yyyy/MM/dd``, ``ddMMyyyy``, ISO timestamps, ``dd/MM/yy``). Null when it is none of them or not a real day.

    Pass a column reference: the value is read several times.
    """
    _check_format(fmt)
    if fmt is not None:
        return F.try_to_date(_as_column(col), fmt)
    return F.try_to_date(iso_date_text(col), "yyyy-M-d")


def standardise_birth_dates(
    df: DataFrame, fmt: str | None = None, today: dt.date | str | Column | None = None
) -> DataFrame:
    """Parse ``birth_date`` (string) into a ``DateType`` column; impossible or placeholder dates become null.

    ``fmt``: the source's Spark datetime pattern ("dd/MM/yyyy"); None recognises the common formats.
    ``today``: the reference day for "in the future" and "older than 120" (default: ``current_date()``);
    tests pass a fixed day.

    Flags: ``birth_date:impossible`` (31/02/1980, before 1900, in the future, older than 120),
    ``birth_date:placeholder`` (1900-01-01, 1111-11-11, 9999-12-31, 01/01/0001 ...),
    ``birth_date:unparseable`` (anything else that is not a date).
    """
    _check_format(fmt)
    df = df.withColumn(f"{_TMP}raw", clean_text(input_column(df, "birth_date")))
    raw = F.col(f"{_TMP}raw")
    df = df.withColumn(f"{_TMP}iso", iso_date_text(raw))
    iso = F.col(f"{_TMP}iso")
    parsed = F.try_to_date(raw, fmt) if fmt is not None else F.try_to_date(iso, "yyyy-M-d")
    df = df.withColumn(f"{_TMP}parsed", parsed)
    parsed = F.col(f"{_TMP}parsed")
    today_col = _today(today)

    # A date-shaped value that did not parse is impossible when its numbers make no calendar day (31/02/1980,
    # 1980-13-45); when they do, the source's format said otherwise and it is unparseable.
    not_a_real_day = parsed.isNull() & iso.rlike(_ISO_DATE) & F.try_to_date(iso, "yyyy-M-d").isNull()
    placeholder = parsed.isin(*[F.lit(d).cast("date") for d in PLACEHOLDER_BIRTH_DATES]) | (
        parsed.isNull() & raw.isin(*PLACEHOLDER_BIRTH_TEXTS)
    )
    out_of_range = (
        (F.year(parsed) < MIN_YEAR) | (parsed > today_col) | (parsed < F.add_months(today_col, -12 * MAX_AGE_YEARS))
    )
    df = df.withColumns(
        {
            f"{_TMP}placeholder": F.coalesce(placeholder, F.lit(False)),
            f"{_TMP}impossible": F.coalesce(not_a_real_day | out_of_range, F.lit(False)),
        }
    )
    is_placeholder, impossible = F.col(f"{_TMP}placeholder"), F.col(f"{_TMP}impossible")
    df = df.withColumn("birth_date", F.when(~is_placeholder & ~impossible, parsed))
    df = with_quality_flags(
        df,
        [
            (is_placeholder, "birth_date:placeholder"),
            (~is_placeholder & impossible, "birth_date:impossible"),
            (raw.isNotNull() & parsed.isNull() & ~is_placeholder & ~impossible, "birth_date:unparseable"),
        ],
    )
    return df.drop(*[c for c in df.columns if c.startswith(_TMP)])


#: timestamp shapes rewritten to ISO before one ``try_cast`` (which reads every ISO 8601 form, with or
#: without ``T``, fraction and zone): day-first French forms and compact digits
TIMESTAMP_SHAPES = (
    # dd/MM/yyyy[ HH:mm[:ss]], d/M/yyyy, dd-MM-yyyy, dd.MM.yyyy
    (r"^(\d{1,2})[/.-](\d{1,2})[/.-](\d{4})(?=$|[ T])", "$3-$2-$1"),
    # yyyy/MM/dd[ HH:mm[:ss]]
    (r"^(\d{4})[/.](\d{1,2})[/.](\d{1,2})(?=$|[ T])", "$1-$2-$3"),
    # yyyyMMdd, yyyyMMddHHmmss
    (r"^(\d{4})(\d{2})(\d{2})$", "$1-$2-$3"),
    (r"^(\d{4})(\d{2})(\d{2})(\d{2})(\d{2})(\d{2})$", "$1-$2-$3 $4:$5:$6"),
    # one-digit hour "5/3/2024 9:05"
    (r"(?<=^\d{4}-\d{1,2}-\d{1,2}[ T])(?=\d:)", "0"),
)


def parse_timestamp(col: Column | str, fmt: str | None = None) -> Column:
    """A ``TimestampType`` column from event/update times; null when the value is not a time (never raises).

    With ``fmt`` only that Spark pattern is used. Otherwise: epoch milliseconds (13 digits) or seconds
    (10 digits), ``yyyyMMdd``/``yyyyMMddHHmmss``, ISO 8601 with or without ``T``, zone and fraction
    ("2024-03-05T10:20:30.123+01:00", "2024-03-05 10:20:30", "2024-03-05"), the day-first forms
    ("05/03/2024 10:20:30", "05/03/2024") and ``yyyy/MM/dd``. A time without a zone is read in the session
    time zone.
    """
    _check_format(fmt)
    text = F.trim(_as_column(col))
    if fmt is not None:
        return F.try_to_timestamp(text, F.lit(fmt))
    iso = text
    for pattern, replacement in TIMESTAMP_SHAPES:
        iso = F.regexp_replace(iso, pattern, replacement)
    digits = F.when(text.rlike(r"^\d{10}(\d{3})?$"), text).try_cast("long")
    epoch = F.when(F.length(text) == 13, F.timestamp_millis(digits)).otherwise(F.timestamp_seconds(digits))
    return F.when(digits.isNotNull(), epoch).otherwise(iso.try_cast("timestamp"))
