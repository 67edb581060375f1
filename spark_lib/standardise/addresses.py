"""Postal address: house number, street (display and folded), postcode, city, country.

Example::

    from spark_lib.standardise import standardise_addresses
    silver = raw.transform(standardise_addresses)

Inputs (strings, each may be absent): ``house_number``, ``street``, ``address_extra``, ``postcode``, ``city``,
``country``. Outputs (same names replaced, plus ``street_std`` and ``city_std``):

- ``house_number``: "12", "12 BIS", "3 B", "12-14"; taken from the start of ``street`` when null
  ("12 bis av. Foch", "12, rue X", "3B rue Y").
- ``street``: display, street type expanded ("av. de la république" -> "Avenue de la République");
  ``street_std``: folded, type expanded, st/ste -> saint/sainte ("avenue de la republique").
- ``address_extra``: trimmed display.
- ``postcode``: five digits for France and the territories using French postcodes ("1000" -> "01000",
  "75 001" -> "75001"); other countries' postcodes are kept as given (upper case).
- ``city``: upper case without "CEDEX nn"; ``city_std``: folded, saint/sainte expanded, CEDEX, arrondissement
  and leading postcode removed ("PARIS 15" -> "paris", "Lyon 3e" -> "lyon", "ST ETIENNE CEDEX 1" -> "saint etienne").
- ``country``: ISO 3166 alpha-2 from ``resources/country_names.csv`` ("France", "FRA", "F" -> "FR");
  unknown names as given in upper case; blank with a valid French postcode -> "FR".

Flag: ``postcode:invalid`` (a French postcode that is not five digits in 01000-98999: nulled).
"""

from __future__ import annotations

from functools import lru_cache

from pyspark.sql import Column, DataFrame
from pyspark.sql import functions as F

from spark_lib.standardise.text import (
    clean_text,
    empty_to_null,
    fold,
    input_column,
    is_in,
    literal_map,
    proper_case,
    read_resource_csv,
    with_quality_flags,
)

STREET_TYPES_FILE = "street_types.csv"
COUNTRIES_FILE = "country_names.csv"

#: countries whose postcodes follow the French five-digit scheme (overseas departments and collectivities)
FRENCH_POSTCODE_COUNTRIES = ("FR", "MC", "GP", "MQ", "GF", "RE", "YT", "PM", "BL", "MF", "NC", "PF", "WF")
FRENCH_POSTCODE = r"^(0[1-9]|[1-8][0-9]|9[0-8])[0-9]{3}$"

# House number at the start of a street line: "12", "12-14", then an optional suffix (bis, ter, ... or one
# letter A-D/T not followed by another letter, so "12 avenue" keeps its "a"), an optional comma, the street.
_NUMBER_IN_STREET = (
    r"(?i)^(\d{1,5}(?:\s*-\s*\d{1,5})?\s*(?:bis|ter|quater|quinquies|[a-dt])?)(?![\p{L}\d])\s*,?\s*(\S.*)$"
)

#: tokens kept in upper case ("ZI des Hauts", "RN 7")
UPPER_WORDS = ("za", "zi", "zac", "zae", "rn", "rd", "bp", "cs", "hlm")

_TMP = "_std_addr_"


@lru_cache(maxsize=1)
def load_street_types() -> tuple[dict[str, str], dict[str, str]]:
    """(abbreviation -> folded type, abbreviation -> display type) from the resource table."""
    rows = read_resource_csv(STREET_TYPES_FILE, 3)
    return {a: t for a, t, _ in rows}, {a: d for a, _, d in rows}


@lru_cache(maxsize=1)
def load_countries() -> dict[str, str]:
    """Folded country name or code -> ISO alpha-2, from the resource table."""
    return {name: iso for name, iso in read_resource_csv(COUNTRIES_FILE, 2)}


def country_code(col: Column) -> Column:
    """ISO alpha-2 for a country name or code ("Belgique" -> "BE"); unknown -> as given, upper case."""
    cleaned = clean_text(col)
    return F.coalesce(F.try_element_at(literal_map(load_countries().items()), fold(cleaned)), F.upper(cleaned))


def normalise_house_number(col: Column) -> Column:
    """ "12bis" -> "12 BIS", "3b" -> "3 B", "012" -> "12", "12 - 14" -> "12-14"; anything else trimmed, upper case."""
    number = F.upper(clean_text(col))
    number = F.regexp_replace(number, r"^0*(\d{1,5})\s*-\s*0*(\d{1,5})", "$1-$2")
    number = F.regexp_replace(number, r"^0+(?=\d)", "")
    return F.regexp_replace(number, r"^([\d-]+)\s*(BIS|TER|QUATER|QUINQUIES|[A-Z])$", "$1 $2")


# Street forms are chains of string functions and regular expressions over the whole line, which Spark
# compiles into generated code; per-word higher-order functions (transform + lambdas) run interpreted and
# were ten times slower on a million rows.
# words kept in lower case after the first one ("Rue de la Paix", "Allée des Roses", "Rue de l'Église")
_SMALL_WORDS = r"(?:(?:de|du|des|la|le|les|et|en|sur|sous|aux|au|à|lès)(?: |$)|(?:d|l|qu)')"
# after proper case, the upper-case words read "Zi", "Rn": a cheap case-sensitive test before the replacements
_UPPER_WORDS = r"(?:^|[ -])(?:" + "|".join(w.capitalize() for w in UPPER_WORDS) + r")(?:[ -]|$)"


def _proper_street(col: Column) -> Column:
    """ "de la république" -> "De la République", "st-honoré" -> "Saint-Honoré", "l'église" -> "L'Église"."""
    saints = F.regexp_replace(F.lower(col), r"(?<!\p{L})st(e?)\.?(?!\p{L})", "saint$1")  # st -> saint, ste -> sainte
    return proper_case(saints, after="-'", keep_lower=_SMALL_WORDS)


def _upper_words(col: Column) -> Column:
    """ "Zi des Hauts" -> "ZI des Hauts", on a column already in proper case."""
    upper = col
    for word in UPPER_WORDS:
        upper = F.regexp_replace(upper, r"(?<!\p{L})" + word.capitalize() + r"(?!\p{L})", word.upper())
    return F.when(col.rlike(_UPPER_WORDS), upper).otherwise(col)


def _first_word(col: Column) -> Column:
    return F.substring_index(col, " ", 1)


def _after_first_word(col: Column) -> Column:
    rest = col.substr(F.length(_first_word(col)) + 2, F.lit(1 << 20))
    return F.when(rest != "", rest)


def _display_street(proper: Column) -> Column:
    """ "Av. de la République" -> "Avenue de la République": the first word's type expanded (``proper``: the
    street in proper case, see :func:`_proper_street`)."""
    _, type_display = load_street_types()
    street_type = F.try_element_at(literal_map(type_display.items()), fold(_first_word(proper)))
    rest = F.coalesce(F.concat(F.lit(" "), _after_first_word(proper)), F.lit(""))
    # concat() is null without a street type: the street as it is then
    return F.coalesce(F.concat(street_type, rest), proper)


def _std_street(folded: Column) -> Column:
    """ "avenue de la republique" from the folded street: first word's type expanded, st/ste -> saint/sainte."""
    type_std, _ = load_street_types()
    first = _first_word(folded)
    street_type = F.coalesce(F.try_element_at(literal_map(type_std.items()), first), first)
    text = F.concat_ws(" ", street_type, _after_first_word(folded))
    return F.when(folded.isNotNull(), F.regexp_replace(text, r"\bst(e?)\b", "saint$1"))


# What is not the town in a folded city: a postcode typed before it ("75015 paris"), "cedex" and its
# number, an arrondissement at the end ("paris 15", "lyon 3e", "paris 1er", "marseille 08 arrondissement").
_NOT_THE_TOWN = r"^\d{5} |\bcedex\b(?: \d+)?|(?: \d{1,2}(?: ?(?:e|er|eme|ieme))?)(?: arr(?:ondissement)?)?$"


def _std_city(col: Column) -> Column:
    city = F.regexp_replace(fold(col), _NOT_THE_TOWN, " ")
    city = F.regexp_replace(city, r"\bst(e?)\b", "saint$1")
    return empty_to_null(F.trim(F.regexp_replace(city, " {2,}", " ")))


def _display_city(col: Column) -> Column:
    """Upper case, without "CEDEX nn" (the city as written, spaces cleaned)."""
    return empty_to_null(F.trim(F.regexp_replace(F.upper(clean_text(col)), r" ?\bCEDEX\b(?: \d+)?", "")))


def standardise_addresses(df: DataFrame) -> DataFrame:
    """House number, street, postcode, city and country in display and matching forms (see module doc)."""
    street_in = clean_text(input_column(df, "street"))
    number_in = normalise_house_number(input_column(df, "house_number"))
    postcode_in = clean_text(input_column(df, "postcode"))
    df = df.withColumns(
        {
            f"{_TMP}street_in": street_in,
            f"{_TMP}number_in": number_in,
            f"{_TMP}postcode_in": postcode_in,
            f"{_TMP}country_given": country_code(input_column(df, "country")),
        }
    )
    street_in = F.col(f"{_TMP}street_in")
    extract = F.col(f"{_TMP}number_in").isNull() & street_in.rlike(_NUMBER_IN_STREET)
    df = df.withColumns(
        {
            f"{_TMP}house_number": F.when(
                extract, normalise_house_number(F.regexp_extract(street_in, _NUMBER_IN_STREET, 1))
            ).otherwise(F.col(f"{_TMP}number_in")),
            f"{_TMP}street": F.when(extract, F.regexp_extract(street_in, _NUMBER_IN_STREET, 2)).otherwise(street_in),
        }
    )
    df = df.withColumns(
        {
            f"{_TMP}street_fold": fold(F.col(f"{_TMP}street")),
            f"{_TMP}street_proper": _proper_street(F.col(f"{_TMP}street")),
        }
    )
    df = df.withColumns(
        {
            f"{_TMP}street_std": _std_street(F.col(f"{_TMP}street_fold")),
            f"{_TMP}street_proper": _upper_words(F.col(f"{_TMP}street_proper")),
        }
    )

    postcode_in = F.col(f"{_TMP}postcode_in")
    compact = F.regexp_replace(postcode_in, r"[\s.]", "")
    compact = F.regexp_replace(compact, r"(?i)^fr?-?(?=\d{4,5}$)", "")  # "F-75001", "FR75001"
    # "1000" -> "01000"; then anything but five digits in 01000-98999 is not a French postcode
    fr_code = F.regexp_replace(compact, r"^(\d{4})$", "0$1")
    df = df.withColumn(
        f"{_TMP}fr_postcode", empty_to_null(F.regexp_extract(fr_code, FRENCH_POSTCODE, 0))
    )
    given = F.col(f"{_TMP}country_given")
    french = given.isNull() | is_in(given, FRENCH_POSTCODE_COUNTRIES)
    fr_postcode = F.col(f"{_TMP}fr_postcode")
    df = df.withColumns(
        {
            "house_number": F.col(f"{_TMP}house_number"),
            "street": F.when(F.col(f"{_TMP}street_std").isNotNull(), _display_street(F.col(f"{_TMP}street_proper"))),
            "street_std": F.col(f"{_TMP}street_std"),
            "address_extra": clean_text(input_column(df, "address_extra")),
            "postcode": F.when(french, fr_postcode).otherwise(F.upper(postcode_in)),
            "city": _display_city(input_column(df, "city")),
            "city_std": _std_city(input_column(df, "city")),
            "country": F.coalesce(given, F.when(fr_postcode.isNotNull(), F.lit("FR"))),
            f"{_TMP}bad_postcode": postcode_in.isNotNull() & french & fr_postcode.isNull(),
        }
    )
    df = with_quality_flags(df, [(F.col(f"{_TMP}bad_postcode"), "postcode:invalid")])
    return df.drop(*[c for c in df.columns if c.startswith(_TMP)])
