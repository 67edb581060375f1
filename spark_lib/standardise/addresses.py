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
    fold,
    fold_sql,
    input_column,
    is_in,
    literal_map,
    read_resource_csv,
    sql_array,
    sql_map,
    sql_string,
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
    r"(?i)^(\d{1,5})(?:\s*-\s*(\d{1,5}))?\s*(bis|ter|quater|quinquies|[a-dt])?(?![\p{L}\d])\s*,?\s*(\S.*)$"
)
_HOUSE_NUMBER = r"(?i)^(\d{1,5})(?:\s*-\s*(\d{1,5}))?\s*(bis|ter|quater|quinquies|[a-z])?$"

#: words kept in lower case inside a street name ("Rue de la Paix", "Allée des Roses")
SMALL_WORDS = ("de", "du", "des", "la", "le", "les", "et", "en", "sur", "sous", "aux", "au", "à", "lès", "les")
#: tokens kept in upper case ("ZI des Hauts", "RN 7")
UPPER_WORDS = ("za", "zi", "zac", "zae", "rn", "rd", "bp", "cs", "hlm")
SAINTS = {"st": "saint", "ste": "sainte"}

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


def _house_number(number: Column, number_to: Column, suffix: Column) -> Column:
    number = F.regexp_replace(number, "^0+(?=\\d)", "")
    number_to = F.regexp_replace(number_to, "^0+(?=\\d)", "")
    rng = F.when(number_to != "", F.concat(number, F.lit("-"), number_to)).otherwise(number)
    return F.when(suffix != "", F.concat(rng, F.lit(" "), F.upper(suffix))).otherwise(rng)


def normalise_house_number(col: Column) -> Column:
    """ "12bis" -> "12 BIS", "3b" -> "3 B", "012" -> "12"; anything else trimmed, upper case."""
    cleaned = clean_text(col)
    parsed = _house_number(
        F.regexp_extract(cleaned, _HOUSE_NUMBER, 1),
        F.regexp_extract(cleaned, _HOUSE_NUMBER, 2),
        F.regexp_extract(cleaned, _HOUSE_NUMBER, 3),
    )
    return F.when(cleaned.rlike(_HOUSE_NUMBER), parsed).otherwise(F.upper(cleaned))


# "l'église": an elided article and the word it is glued to
_ELIDED = "^(d|l|qu)'."
_ELIDED_PREFIX = "^([^']*')"
_ELIDED_WORD = "^[^']*'(.*)$"


# The street forms are written in Spark SQL over the named column: nested lambdas built through the Column
# API cost hundreds of py4j round trips per call.
def _display_piece_sql(piece: str, first_word: str) -> str:
    """One hyphen-separated piece of a street word, in display case ("st" -> "Saint", "l'église" -> "l'Église")."""
    key = fold_sql(piece)
    elision = (
        f"concat(lower(regexp_extract({piece}, {sql_string(_ELIDED_PREFIX)}, 1)), "
        f"initcap(regexp_extract({piece}, {sql_string(_ELIDED_WORD)}, 1)))"
    )
    return f"""CASE
        WHEN {key} = 'st' THEN 'Saint'
        WHEN {key} = 'ste' THEN 'Sainte'
        WHEN array_contains({sql_array(UPPER_WORDS)}, {key}) THEN upper({piece})
        WHEN NOT ({first_word}) AND array_contains({sql_array(SMALL_WORDS)}, lower({piece})) THEN lower({piece})
        WHEN NOT ({first_word}) AND lower({piece}) RLIKE {sql_string(_ELIDED)} THEN {elision}
        ELSE initcap({piece}) END"""


def _display_street_sql(column: str) -> str:
    """ "av. de la république" -> "Avenue de la République": the first word's type expanded, words capitalised."""
    _, type_display = load_street_types()
    street_type = f"try_element_at({sql_map(type_display.items())}, {fold_sql('w')})"
    pieces = f"transform(split(w, '-'), (p, j) -> {_display_piece_sql('p', 'i = 0 AND j = 0')})"
    word = f"CASE WHEN i = 0 AND {street_type} IS NOT NULL THEN {street_type} ELSE array_join({pieces}, '-') END"
    return f"array_join(transform(split(`{column}`, ' '), (w, i) -> {word}), ' ')"


def _std_street_sql(column: str) -> str:
    """ "av. de la république" -> "avenue de la republique": folded, type expanded, st/ste -> saint/sainte."""
    type_std, _ = load_street_types()
    saints = sql_map(SAINTS.items())
    word = (
        f"coalesce(CASE WHEN i = 0 THEN try_element_at({sql_map(type_std.items())}, w) END, "
        f"try_element_at({saints}, w), w)"
    )
    return f"array_join(transform(split({fold_sql(f'`{column}`')}, ' '), (w, i) -> {word}), ' ')"


def _std_city(col: Column) -> Column:
    city = fold(col)
    city = F.regexp_replace(city, r"^\d{5} ", "")  # "75015 paris": postcode typed into the city
    city = F.regexp_replace(city, r"\bcedex\b( \d+)?", " ")
    # arrondissement: "paris 15", "lyon 3e", "paris 1er", "marseille 08 arrondissement"
    city = F.regexp_replace(city, r"( \d{1,2}( ?(e|er|eme|ieme))?)( arr(ondissement)?)?\s*$", "")
    city = F.regexp_replace(city, r"\bst\b", "saint")
    city = F.regexp_replace(city, r"\bste\b", "sainte")
    city = F.trim(F.regexp_replace(city, " +", " "))
    return F.when(city != "", city)


def _display_city(col: Column) -> Column:
    city = F.upper(clean_text(col))
    city = F.trim(F.regexp_replace(city, r"\s*\bCEDEX\b\s*\d*", " "))
    city = F.regexp_replace(city, " +", " ")
    return F.when(city != "", city)


def standardise_addresses(df: DataFrame) -> DataFrame:
    """House number, street, postcode, city and country in display and matching forms (see module doc)."""
    street_in = clean_text(input_column(df, "street"))
    number_in = normalise_house_number(input_column(df, "house_number"))
    postcode_in = clean_text(input_column(df, "postcode"))
    country_in = clean_text(input_column(df, "country"))
    df = df.withColumns(
        {
            f"{_TMP}street_in": street_in,
            f"{_TMP}number_in": number_in,
            f"{_TMP}postcode_in": postcode_in,
            f"{_TMP}country_given": country_code(country_in),
        }
    )
    street_in = F.col(f"{_TMP}street_in")
    extract = F.col(f"{_TMP}number_in").isNull() & street_in.rlike(_NUMBER_IN_STREET)
    df = df.withColumns(
        {
            f"{_TMP}house_number": F.when(
                extract,
                _house_number(
                    F.regexp_extract(street_in, _NUMBER_IN_STREET, 1),
                    F.regexp_extract(street_in, _NUMBER_IN_STREET, 2),
                    F.regexp_extract(street_in, _NUMBER_IN_STREET, 3),
                ),
            ).otherwise(F.col(f"{_TMP}number_in")),
            f"{_TMP}street": F.when(extract, F.regexp_extract(street_in, _NUMBER_IN_STREET, 4)).otherwise(street_in),
        }
    )

    postcode_in = F.col(f"{_TMP}postcode_in")
    compact = F.regexp_replace(postcode_in, r"[\s.]", "")
    compact = F.regexp_replace(compact, r"(?i)^fr?-?(?=\d{4,5}$)", "")  # "F-75001", "FR75001"
    fr_code = F.when(compact.rlike(r"^\d{5}$"), compact).when(compact.rlike(r"^\d{4}$"), F.lpad(compact, 5, "0"))
    df = df.withColumn(f"{_TMP}fr_postcode", F.when(fr_code.rlike(FRENCH_POSTCODE), fr_code))
    given = F.col(f"{_TMP}country_given")
    french = given.isNull() | is_in(given, FRENCH_POSTCODE_COUNTRIES)
    fr_postcode = F.col(f"{_TMP}fr_postcode")
    street = F.col(f"{_TMP}street")
    df = df.withColumns(
        {
            "house_number": F.col(f"{_TMP}house_number"),
            "street": F.when(fold(street).isNotNull(), F.expr(_display_street_sql(f"{_TMP}street"))),
            "street_std": F.expr(_std_street_sql(f"{_TMP}street")),
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
