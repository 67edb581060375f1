"""Birth dates and event timestamps from the many ways files write them, without raising under ANSI mode.

Example::

    from spark_lib.standardise import standardise_birth_dates, parse_timestamp
    silver = raw.transform(standardise_birth_dates)                       # formats tried in turn
    silver = raw.transform(standardise_birth_dates, fmt="dd/MM/yyyy")     # the source's known format
    events = raw.withColumn("event_time", parse_timestamp("event_time"))

Every parse uses ``try_to_date`` / ``try_to_timestamp`` / ``try_cast``: with ANSI mode on (Spark 4's default)
a plain cast of a bad value would fail the whole job.
"""

from __future__ import annotations

import datetime as dt

from pyspark.sql import Column, DataFrame
from pyspark.sql import functions as F

from spark_lib.standardise.text import clean_text, input_column, with_quality_flags

#: formats tried in turn when the source does not say which one it uses (first success wins)
BIRTH_DATE_FORMATS = (
    "yyyy-MM-dd",
    "dd/MM/yyyy",
    "yyyyMMdd",
    "dd-MM-yyyy",
    "dd.MM.yyyy",
    "d/M/yyyy",
    "yyyy/MM/dd",
    "ddMMyyyy",  # "12051980": tried after yyyyMMdd, which cannot read it (month 19)
    "d-M-yyyy",
    "d.M.yyyy",
)

#: dates that systems write for "unknown"
PLACEHOLDER_BIRTH_DATES = ("1900-01-01", "1901-01-01", "1899-12-30", "1899-12-31", "1111-11-11", "9999-12-31", "0001-01-01")
MAX_AGE_YEARS = 120
MIN_YEAR = 1900

# Shapes of a date written with numbers: day, month, year in some order. A value of one of these shapes that
# does not parse is an impossible date (31/02/1980, 1980-13-45), not an unreadable one.
_DMY = r"^(\d{1,2})[/.-](\d{1,2})[/.-](\d{4})$"
_YMD = r"^(\d{4})[/.-](\d{1,2})[/.-](\d{1,2})$"
_YMD_COMPACT = r"^(\d{4})(\d{2})(\d{2})$"
_DMY_COMPACT = r"^(\d{2})(\d{2})(\d{4})$"
_DMY_SHORT = r"^(\d{1,2})/(\d{1,2})/(\d{2})$"
# ISO timestamps ("1980-05-12T00:00:00+02:00"): the date part is the birth date as written, whatever the zone.
_ISO_TIMESTAMP = r"^(\d{4}-\d{2}-\d{2})[T ]\d{2}:\d{2}(:\d{2}(\.\d+)?)?(Z|[+-]\d{2}:?\d{2})?$"

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


def _date_from_parts(year: Column, month: Column, day: Column) -> Column:
    """The date, or null when the parts do not make one (no exception under ANSI mode)."""
    text = F.concat_ws("-", F.lpad(year, 4, "0"), F.lpad(month, 2, "0"), F.lpad(day, 2, "0"))
    return F.try_to_date(text, "yyyy-MM-dd")


def _looks_like_a_date(col: Column) -> Column:
    return col.rlike(_DMY) | col.rlike(_YMD) | col.rlike(_YMD_COMPACT) | col.rlike(_DMY_COMPACT) | col.rlike(_DMY_SHORT)


def parse_date(col: Column | str, fmt: str | None = None) -> Column:
    """A ``DateType`` column from strings in ``fmt`` or, when it is None, in any of :data:`BIRTH_DATE_FORMATS`,
    an ISO timestamp, or ``dd/MM/yy`` (century taken so that the date is not in the future). Null when none fits.
    """
    _check_format(fmt)
    col = clean_text(F.col(col) if isinstance(col, str) else col)
    if fmt is not None:
        return F.try_to_date(col, fmt)
    iso = F.regexp_extract(col, _ISO_TIMESTAMP, 1)
    two_digit = F.try_to_date(col, "d/M/yy")  # Spark reads "yy" as 20yy
    short = F.when(
        col.rlike(_DMY_SHORT), F.when(two_digit > F.current_date(), F.add_months(two_digit, -1200)).otherwise(two_digit)
    )
    return F.coalesce(
        *[F.try_to_date(col, f) for f in BIRTH_DATE_FORMATS],
        F.when(iso != "", F.try_to_date(iso, "yyyy-MM-dd")),
        short,
    )


def standardise_birth_dates(
    df: DataFrame, fmt: str | None = None, today: dt.date | str | Column | None = None
) -> DataFrame:
    """Parse ``birth_date`` (string) into a ``DateType`` column; impossible or placeholder dates become null.

    ``fmt``: the source's Spark datetime pattern ("dd/MM/yyyy"); None tries the common formats in turn.
    ``today``: the reference day for "in the future" and "older than 120" (default: ``current_date()``);
    tests pass a fixed day.

    Flags: ``birth_date:impossible`` (31/02/1980, before 1900, in the future, older than 120),
    ``birth_date:placeholder`` (1900-01-01, 1111-11-11, 9999-12-31, 01/01/0001 ...),
    ``birth_date:unparseable`` (anything else that is not a date).
    """
    _check_format(fmt)
    raw = clean_text(input_column(df, "birth_date"))
    df = df.withColumns({f"{_TMP}raw": raw, f"{_TMP}parsed": parse_date(raw, fmt)})
    raw, parsed = F.col(f"{_TMP}raw"), F.col(f"{_TMP}parsed")
    today_col = _today(today)

    # A number-shaped value that did not parse: impossible if its parts are not a real calendar date
    # (31/02), unparseable if they are (the source's format said otherwise).
    parts_date = F.coalesce(
        _date_from_parts(F.regexp_extract(raw, _DMY, 3), F.regexp_extract(raw, _DMY, 2), F.regexp_extract(raw, _DMY, 1)),
        _date_from_parts(F.regexp_extract(raw, _YMD, 1), F.regexp_extract(raw, _YMD, 2), F.regexp_extract(raw, _YMD, 3)),
        _date_from_parts(
            F.regexp_extract(raw, _YMD_COMPACT, 1), F.regexp_extract(raw, _YMD_COMPACT, 2), F.regexp_extract(raw, _YMD_COMPACT, 3)
        ),
        _date_from_parts(
            F.regexp_extract(raw, _DMY_COMPACT, 3), F.regexp_extract(raw, _DMY_COMPACT, 2), F.regexp_extract(raw, _DMY_COMPACT, 1)
        ),
    )
    not_a_real_day = parsed.isNull() & _looks_like_a_date(raw) & parts_date.isNull()
    placeholder = parsed.isin(*[F.lit(d).cast("date") for d in PLACEHOLDER_BIRTH_DATES]) | (
        parsed.isNull() & raw.isin("00/00/0000", "0000-00-00", "00000000", "01/01/0001")
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


# Timestamps: ISO 8601 in all its forms goes through a cast; the French day-first forms and compact forms
# through explicit patterns.
TIMESTAMP_FORMATS = (
    "dd/MM/yyyy HH:mm:ss",
    "dd/MM/yyyy HH:mm",
    "dd/MM/yyyy",
    "d/M/yyyy H:mm:ss",
    "d/M/yyyy H:mm",
    "d/M/yyyy",
    "dd-MM-yyyy HH:mm:ss",
    "dd-MM-yyyy",
    "yyyy/MM/dd HH:mm:ss",
    "yyyy/MM/dd",
)


def parse_timestamp(col: Column | str, fmt: str | None = None) -> Column:
    """A ``TimestampType`` column from event/update times; null when the value is not a time (never raises).

    With ``fmt`` only that Spark pattern is used. Otherwise: epoch milliseconds (13 digits) or seconds
    (10 digits), ``yyyyMMdd``/``yyyyMMddHHmmss``, ISO 8601 with or without ``T``, zone and fraction
    ("2024-03-05T10:20:30.123+01:00", "2024-03-05 10:20:30", "2024-03-05"), then the day-first forms
    ("05/03/2024 10:20:30", "05/03/2024"). A time without a zone is read in the session time zone.
    """
    _check_format(fmt)
    col = clean_text(F.col(col) if isinstance(col, str) else col)
    if fmt is not None:
        return F.try_to_timestamp(col, F.lit(fmt))
    digits = F.when(col.rlike(r"^\d+$"), col)
    return (
        F.when(col.rlike(r"^\d{13}$"), F.timestamp_millis(digits.try_cast("long")))
        .when(col.rlike(r"^\d{10}$"), F.timestamp_seconds(digits.try_cast("long")))
        .when(col.rlike(r"^\d{8}$"), F.try_to_timestamp(col, F.lit("yyyyMMdd")))
        .when(col.rlike(r"^\d{14}$"), F.try_to_timestamp(col, F.lit("yyyyMMddHHmmss")))
        .otherwise(
            F.coalesce(
                col.try_cast("timestamp"),
                *[F.try_to_timestamp(col, F.lit(f)) for f in TIMESTAMP_FORMATS],
            )
        )
    )
