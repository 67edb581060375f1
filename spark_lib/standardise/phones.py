"""Phone numbers: parsed with ``phonenumbers`` in a vectorised pandas UDF, sorted into mobile and landline (E.164).

Example::

    from spark_lib.standardise import standardise_phones
    silver = raw.transform(standardise_phones)                      # French numbers by default
    silver = raw.transform(standardise_phones, default_region="BE")
    # a Belgian source: each record's standardised country first, then Belgium, then the pipeline's region
    addresses = raw.transform(standardise_addresses, default_country="BE")
    silver = addresses.transform(standardise_phones, default_country="BE")

Inputs: ``phone``, ``phone_2`` (strings, may be absent; left untouched) and ``country`` (ISO alpha-2, as
:func:`~spark_lib.standardise.addresses.standardise_addresses` writes it; may be absent). Outputs, in E.164
(``+33612345678``):

- ``phone_mobile``: the first input that is a mobile (number type MOBILE, or FIXED_LINE_OR_MOBILE with a
  French 06/07 prefix).
- ``phone_landline``: the first input that is valid and not a mobile (FIXED_LINE, VOIP 09, toll-free ...).

Flags: ``phone:invalid``, ``phone:placeholder`` (0000000000, 0600000000, 0123456789, 0612345678, ...),
``phone:second_mobile_dropped`` / ``phone:second_landline_dropped`` (two different numbers of one kind: the
first is kept).

Region. A number written without an international prefix is read in the record's own ``country`` when
``phonenumbers`` knows it ("0470 12 34 56" with country "BE" -> ``+32470123456``), else in the source's
``default_country``, else in the pipeline's ``default_region``. Numbers written internationally ("+32 ...",
"0032 ...") are read as written whatever the region. The French repairs (a dropped leading zero "612345678",
a lost "+" in "33612345678") apply only where the region is FR.

Parsing is the only non-native step of the standardisation: Spark has no phone-number library. The UDF parses
each distinct (value, region) pair of an Arrow batch once, and keeps a per-worker cache across batches.
"""

from __future__ import annotations

import re
from functools import lru_cache

import pandas as pd
from pyspark.sql import Column, DataFrame
from pyspark.sql import functions as F
from pyspark.sql.types import StringType, StructField, StructType

from spark_lib.standardise.text import input_column, is_in, with_quality_flags

MOBILE = "mobile"
LANDLINE = "landline"
INVALID = "invalid"
PLACEHOLDER = "placeholder"

PARSED_PHONE = StructType([StructField("e164", StringType()), StructField("kind", StringType())])

#: national significant numbers (no trunk 0) typed to get past a mandatory field
PLACEHOLDER_NUMBERS = frozenset(
    {"123456789", "612345678", "712345678", "987654321", "102030405", "601020304", "606060606", "707070707"}
)

_CACHE_SIZE = 200_000
_SEPARATORS = re.compile(r"[/;|,]| ou | or ")
_NOT_PHONE = re.compile(r"[^0-9+()]")


class UnknownRegionError(ValueError):
    """A default region or country is not one that ``phonenumbers`` knows (expects ISO 3166 alpha-2, e.g. "FR")."""


@lru_cache(maxsize=1)
def supported_regions() -> tuple[str, ...]:
    """The ISO 3166 alpha-2 codes ``phonenumbers`` can read national numbers of ("FR", "BE", ...), sorted."""
    import phonenumbers

    return tuple(sorted(phonenumbers.SUPPORTED_REGIONS))


def _is_placeholder_digits(nsn: str) -> bool:
    """All digits alike ("000000000"), alike after the first ("600000000"), or a known fake sequence."""
    if not nsn:
        return False
    return len(set(nsn)) == 1 or (len(nsn) > 2 and len(set(nsn[1:])) == 1) or nsn in PLACEHOLDER_NUMBERS


@lru_cache(maxsize=_CACHE_SIZE)
def parse_phone(raw: str | None, region: str = "FR") -> tuple[str | None, str | None]:
    """(E.164 or None, kind) for one raw value; kind is mobile | landline | invalid | placeholder | None (blank).

    >>> parse_phone("06 71 23 45 89")
    ('+33671234589', 'mobile')
    >>> parse_phone("0470 12 34 56", "BE")
    ('+32470123456', 'mobile')
    """
    import phonenumbers
    from phonenumbers import PhoneNumberType

    if raw is None:
        return None, None
    # "06 12 34 56 78 / 01 45 ..." -> the first number; words ("domicile", "portable") are dropped, else
    # phonenumbers would read their letters as keypad digits.
    text = _SEPARATORS.split(raw.strip(), maxsplit=1)[0]
    text = _NOT_PHONE.sub("", text).replace("(0)", "")
    if not re.search(r"\d", text):
        return (None, None) if not raw.strip() else (None, INVALID)
    digits = re.sub(r"\D", "", text)
    if not text.startswith("+"):
        if len(set(digits)) == 1:
            return None, PLACEHOLDER
        if digits.startswith("00"):
            # "0032 ...": read as "+32 ..." in any region (00 is not every country's international prefix)
            text = "+" + digits[2:]
        elif region == "FR" and len(digits) == 9 and digits[0] != "0":
            text = "0" + digits  # a spreadsheet dropped the leading zero: "612345678"
        elif region == "FR" and len(digits) == 11 and digits.startswith("33"):
            text = "+" + digits  # "33612345678": the "+" was lost
    try:
        number = phonenumbers.parse(text, region)
    except phonenumbers.NumberParseException:
        return None, INVALID
    nsn = phonenumbers.national_significant_number(number)
    if _is_placeholder_digits(nsn) and (number.country_code == 33 or len(set(nsn)) == 1):
        return None, PLACEHOLDER
    # number_type() is UNKNOWN exactly when is_valid_number() is false; calling both would match the number
    # against its country's patterns twice (a fifth of the parsing time).
    number_type = phonenumbers.number_type(number)
    if number_type == PhoneNumberType.UNKNOWN:
        return None, INVALID
    e164 = phonenumbers.format_number(number, phonenumbers.PhoneNumberFormat.E164)
    mobile = number_type == PhoneNumberType.MOBILE or (
        number_type == PhoneNumberType.FIXED_LINE_OR_MOBILE and number.country_code == 33 and nsn[:1] in ("6", "7")
    )
    return e164, MOBILE if mobile else LANDLINE


def _parse_pair(pair: tuple[object, str]) -> tuple[str | None, str | None]:
    value, region = pair
    return parse_phone(value, region) if isinstance(value, str) else (None, None)


@F.pandas_udf(PARSED_PHONE)
def _parse_phones(values: pd.Series, regions: pd.Series) -> pd.DataFrame:
    # Customer files repeat numbers (households, duplicates): parse each distinct (value, region) pair of the
    # batch once (a dict lookup per row costs less than pandas' drop_duplicates on two columns).
    parsed: dict[tuple[object, str], tuple[str | None, str | None]] = {}
    results = [
        parsed[pair] if pair in parsed else parsed.setdefault(pair, _parse_pair(pair)) for pair in zip(values, regions)
    ]
    e164 = pd.Series([result[0] for result in results], dtype=object)
    kind = pd.Series([result[1] for result in results], dtype=object)
    return pd.DataFrame({"e164": e164, "kind": kind})


def parse_phone_column(col: Column, region: Column | str = "FR") -> Column:
    """``struct<e164: string, kind: string>`` for a column of raw phone numbers (see :func:`parse_phone`).

    ``region``: one region for every row ("BE"), or a column of regions that must all be known
    (see :func:`phone_region`).
    """
    if isinstance(region, str):
        region = F.lit(check_region(region))
    return _parse_phones(col, region)


def check_region(region: str | None, key: str = "default_region") -> str:
    """``region`` in upper case, when ``phonenumbers`` knows it ("be" -> "BE"); else :class:`UnknownRegionError`
    naming ``key``."""
    if region is None or region.upper() not in supported_regions():
        raise UnknownRegionError(f"{key} {region!r} is not a region phonenumbers knows (e.g. 'FR', 'BE')")
    return region.upper()


def phone_region(country: Column, default_country: str | None = None, default_region: str = "FR") -> Column:
    """The region a row's numbers are read in: ``country`` when ``phonenumbers`` knows it, else
    ``default_country`` (the source's), else ``default_region`` (the pipeline's)."""
    fallback = check_region(default_region)
    if default_country is not None:
        fallback = check_region(default_country, "default_country")
    code = F.upper(F.trim(country))
    return F.coalesce(F.when(is_in(code, supported_regions()), code), F.lit(fallback))


_TMP = "_std_phone_"


def standardise_phones(df: DataFrame, default_region: str = "FR", default_country: str | None = None) -> DataFrame:
    """Add ``phone_mobile`` and ``phone_landline`` (E.164) from ``phone`` and ``phone_2`` (see module doc).

    Each row's numbers are read in its ``country`` (ISO alpha-2) when ``phonenumbers`` knows it, else in
    ``default_country`` (the source's, optional), else in ``default_region``; an unknown default raises
    :class:`UnknownRegionError`.
    """
    region = phone_region(input_column(df, "country"), default_country, default_region)
    df = df.withColumn(f"{_TMP}region", region)
    region = F.col(f"{_TMP}region")
    df = df.withColumns(
        {
            f"{_TMP}1": _parse_phones(input_column(df, "phone"), region),
            f"{_TMP}2": _parse_phones(input_column(df, "phone_2"), region),
        }
    )
    one, two = F.col(f"{_TMP}1"), F.col(f"{_TMP}2")

    def of_kind(parsed: Column, kind: str) -> Column:
        return F.when(parsed["kind"] == kind, parsed["e164"])

    def both_differ(kind: str) -> Column:
        return (one["kind"] == kind) & (two["kind"] == kind) & (one["e164"] != two["e164"])

    df = df.withColumns(
        {
            "phone_mobile": F.coalesce(of_kind(one, MOBILE), of_kind(two, MOBILE)),
            "phone_landline": F.coalesce(of_kind(one, LANDLINE), of_kind(two, LANDLINE)),
        }
    )
    df = with_quality_flags(
        df,
        [
            ((one["kind"] == INVALID) | (two["kind"] == INVALID), "phone:invalid"),
            ((one["kind"] == PLACEHOLDER) | (two["kind"] == PLACEHOLDER), "phone:placeholder"),
            (both_differ(MOBILE), "phone:second_mobile_dropped"),
            (both_differ(LANDLINE), "phone:second_landline_dropped"),
        ],
    )
    return df.drop(f"{_TMP}region", f"{_TMP}1", f"{_TMP}2")
