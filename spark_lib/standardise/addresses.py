"""Postal address: house number, street (display and folded), postcode, city, country, French or foreign.

Example::

    from spark_lib.standardise import standardise_addresses
    silver = raw.transform(standardise_addresses)
    silver = raw.transform(standardise_addresses, default_country="BE")   # a Belgian source's records

Inputs (strings, each may be absent): ``house_number``, ``street``, ``address_extra``, ``postcode``, ``city``,
``country``. Outputs (same names replaced, plus ``street_std`` and ``city_std``):

- ``country``: ISO 3166 alpha-2 from ``resources/country_names.csv`` ("France", "FRA", "F" -> "FR",
  "Belgique", "België" -> "BE"); other text kept as given, upper case. When blank: the source's
  ``default_country`` (records with an address), else "FR" when the postcode is a valid French one.
- ``house_number``: "12", "12 BIS", "3 B", "12-14"; taken from the start of ``street`` when null
  ("12 bis av. Foch", "12, rue X", "3B rue Y"), or, in countries that write it after the street (DE, AT, CH,
  BE, LU, NL, ES, IT, PT, DK), from its end ("Hauptstraße 12", "Calle Mayor, 5", "Bahnhofstrasse 12a" ->
  "12 A"). French streets keep a trailing number ("Route Nationale 7").
- ``street``: display, street type expanded ("av. de la république" -> "Avenue de la République");
  ``street_std``: folded, type expanded, st/ste -> saint/sainte ("avenue de la republique"; "Hauptstraße" and
  "Hauptstrasse" both -> "hauptstrasse").
- ``address_extra``: trimmed display.
- ``postcode``: validated in the format of the record's country (given, else the source's default; no
  country at all: French). France and the territories using French postcodes: five digits ("1000" ->
  "01000", "75 001" -> "75001", "F-75001" -> "75001"). Other known formats (:data:`POSTCODE_FORMATS`): BE, CH,
  AT four digits ("B-1000", "CH-8001" -> "8001"), LU, DK four digits ("L-1234" -> "1234"), DE, IT five
  digits, ES five digits from province 01-52, MC 980xx, NL "1234 AB", PT "1234-567", GB "SW1A 1AA"
  ("sw1a1aa" -> "SW1A 1AA"). Other countries' postcodes are kept as given (trimmed, upper case).
- ``city``: upper case without "CEDEX nn"; ``city_std``: folded, saint/sainte expanded, CEDEX, arrondissement
  and leading postcode removed ("PARIS 15" -> "paris", "Lyon 3e" -> "lyon", "ST ETIENNE CEDEX 1" -> "saint etienne").

Flags:

- ``postcode:invalid``: a postcode not in its country's format (nulled);
- ``country:unknown``: no country given, no ``default_country`` for the source, and a postcode that is not a
  valid French one (read as French, so nulled and flagged invalid as well): declare the source's
  ``default_country`` or map its country column;
- ``country:unrecognised``: a country text that is neither in the table nor an ISO alpha-2 code (kept as
  given, upper case);
- those of :func:`~spark_lib.standardise.text.sanitise_fields`, which every input goes through first:
  ``<field>:control_chars_removed``, ``<field>:formula_prefix`` ("@SUM(A1)" -> "SUM(A1)"),
  ``<field>:truncated`` (street and address_extra over 200 characters, city over 100, see ``MAX_LENGTHS``).
"""

from __future__ import annotations

from functools import lru_cache

from pyspark.sql import Column, DataFrame
from pyspark.sql import functions as F

from spark_lib.standardise.phones import check_region, supported_regions
from spark_lib.standardise.text import (
    clean_text,
    empty_to_null,
    fold,
    input_column,
    is_in,
    literal_map,
    neutralise_formulas,
    proper_case,
    read_resource_csv,
    sanitise_fields,
    with_quality_flags,
)

#: the input fields of an address, sanitised before anything else
ADDRESS_FIELDS = ("house_number", "street", "address_extra", "postcode", "city", "country")

STREET_TYPES_FILE = "street_types.csv"
COUNTRIES_FILE = "country_names.csv"

#: countries whose postcodes follow the French five-digit scheme (overseas departments and collectivities)
FRENCH_POSTCODE_COUNTRIES = ("FR", "GP", "MQ", "GF", "RE", "YT", "PM", "BL", "MF", "NC", "PF", "WF")
FRENCH_POSTCODE = r"^(0[1-9]|[1-8][0-9]|9[0-8])[0-9]{3}$"

# A country prefix before a numeric postcode: "B-1000", "CH-8001", "L1234", "D-10115".
_PREFIX = r"^(?:[A-Z]{1,3}-?)?"

#: Postcode formats of other countries: (countries, regex on the postcode in upper case without spaces or
#: dots, replacement giving its standard form). A postcode that does not match is invalid for its country.
POSTCODE_FORMATS: tuple[tuple[tuple[str, ...], str, str], ...] = (
    (("BE", "CH", "AT"), _PREFIX + r"([1-9]\d{3})$", "$1"),
    (("LU", "DK"), _PREFIX + r"(\d{4})$", "$1"),
    (("DE", "IT"), _PREFIX + r"(\d{5})$", "$1"),
    (("ES",), _PREFIX + r"((?:0[1-9]|[1-4]\d|5[0-2])\d{3})$", "$1"),  # the first two digits: a province
    (("MC",), _PREFIX + r"(980\d{2})$", "$1"),
    (("NL",), _PREFIX + r"([1-9]\d{3})([A-Z]{2})$", "$1 $2"),
    (("PT",), _PREFIX + r"([1-9]\d{3})-?(\d{3})$", "$1-$2"),
    (("GB",), r"^([A-Z]{1,2}\d[A-Z\d]?)(\d[A-Z]{2})$", "$1 $2"),  # outward code, space, inward code
)

#: countries that write the house number after the street name ("Hauptstraße 12", "Rue de la Loi 16")
NUMBER_AFTER_STREET_COUNTRIES = ("DE", "AT", "CH", "BE", "LU", "NL", "ES", "IT", "PT", "DK")

# House number at the start of a street line: "12", "12-14", then an optional suffix (bis, ter, ... or one
# letter A-D/T not followed by another letter, so "12 avenue" keeps its "a"), an optional comma, the street.
_NUMBER_IN_STREET = (
    r"(?i)^(\d{1,5}(?:\s*-\s*\d{1,5})?\s*(?:bis|ter|quater|quinquies|[a-dt])?)(?![\p{L}\d])\s*,?\s*(\S.*)$"
)

# House number at the end of a street line, in the countries that write it there: the street (with a letter),
# an optional comma and "n°"/"nº"/"n.", "12", "12-14", an optional letter ("Hauptstraße 12a", "Calle Mayor, 5").
_NUMBER_AFTER_STREET = r"(?i)^(.*?\p{L}.*?)\s*,?\s+(?:n[º°.]\s*)?(\d{1,5}(?:\s*-\s*\d{1,5})?(?:\s?[a-z])?)$"

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


def _known_country(cleaned: Column) -> Column:
    """ISO alpha-2 of a cleaned country name or code from the resource table; null when not there."""
    return F.try_element_at(literal_map(load_countries().items()), fold(cleaned))


def country_code(col: Column) -> Column:
    """ISO alpha-2 for a country name or code ("Belgique" -> "BE"); unknown -> as given, upper case."""
    cleaned = clean_text(col)
    return F.coalesce(_known_country(cleaned), F.upper(cleaned))


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


def _foreign_postcode(compact: Column, country: Column) -> Column:
    """The standard form of ``compact`` (a postcode in upper case without spaces or dots) in the format of
    ``country`` (:data:`POSTCODE_FORMATS`): "" when it is not in that format, null for a country without one."""
    standard = None
    for countries, pattern, replacement in POSTCODE_FORMATS:
        valid = F.regexp_replace(F.regexp_extract(compact, pattern, 0), pattern, replacement)
        standard = (F.when if standard is None else standard.when)(is_in(country, countries), valid)
    return standard


def standardise_addresses(df: DataFrame, default_country: str | None = None) -> DataFrame:
    """House number, street, postcode, city and country in display and matching forms (see module doc).

    ``default_country``: the source's country (ISO alpha-2) for records that give none: their postcode is
    read in its format, their house number found where it writes it, and their ``country`` set to it.
    """
    default = F.lit(check_region(default_country, "default_country") if default_country else None).cast("string")
    df = df.transform(sanitise_fields, ADDRESS_FIELDS)
    country_in = input_column(df, "country")  # cleaned by sanitise_fields
    df = df.withColumns(
        {
            f"{_TMP}street_in": input_column(df, "street"),
            f"{_TMP}number_in": normalise_house_number(input_column(df, "house_number")),
            f"{_TMP}postcode_in": input_column(df, "postcode"),
            f"{_TMP}country_in": country_in,
            f"{_TMP}country_known": _known_country(country_in),
        }
    )
    country_in, known = F.col(f"{_TMP}country_in"), F.col(f"{_TMP}country_known")
    # the record carries some part of a postal address (the cleaned parts, and city and extra as they come)
    parts = ("street_in", "number_in", "postcode_in")
    address = [F.col(f"{_TMP}{part}") for part in parts] + [input_column(df, "address_extra"), input_column(df, "city")]
    df = df.withColumns(
        {
            f"{_TMP}has_address": F.coalesce(*address).isNotNull(),
            f"{_TMP}country_given": F.coalesce(known, F.upper(country_in)),
            # the country the address is read in: the record's, else the source's (null: French rules)
            f"{_TMP}country_read": F.coalesce(known, F.upper(country_in), default),
        }
    )
    given, country_read = F.col(f"{_TMP}country_given"), F.col(f"{_TMP}country_read")

    street_in = F.col(f"{_TMP}street_in")
    # where the street line holds the house number, when none is given: at its start, or (in the countries
    # that write it there) at its end
    at_end = is_in(country_read, NUMBER_AFTER_STREET_COUNTRIES) & street_in.rlike(_NUMBER_AFTER_STREET)
    number_at = F.when(
        F.col(f"{_TMP}number_in").isNull(),
        F.when(street_in.rlike(_NUMBER_IN_STREET), F.lit("start")).when(at_end, F.lit("end")),
    )
    df = df.withColumn(f"{_TMP}number_at", number_at)
    leading, trailing = F.col(f"{_TMP}number_at") == "start", F.col(f"{_TMP}number_at") == "end"
    df = df.withColumns(
        {
            f"{_TMP}house_number": F.when(
                leading, normalise_house_number(F.regexp_extract(street_in, _NUMBER_IN_STREET, 1))
            )
            .when(trailing, normalise_house_number(F.regexp_extract(street_in, _NUMBER_AFTER_STREET, 2)))
            .otherwise(F.col(f"{_TMP}number_in")),
            f"{_TMP}street": F.when(leading, F.regexp_extract(street_in, _NUMBER_IN_STREET, 2))
            .when(trailing, F.regexp_extract(street_in, _NUMBER_AFTER_STREET, 1))
            .otherwise(street_in),
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
    compact = F.regexp_replace(F.upper(postcode_in), r"[\s.]", "")
    fr_compact = F.regexp_replace(compact, r"^FR?-?(?=\d{4,5}$)", "")  # "F-75001", "FR75001"
    # "1000" -> "01000"; then anything but five digits in 01000-98999 is not a French postcode
    fr_code = F.regexp_replace(fr_compact, r"^(\d{4})$", "0$1")
    df = df.withColumns(
        {
            f"{_TMP}fr_postcode": empty_to_null(F.regexp_extract(fr_code, FRENCH_POSTCODE, 0)),
            f"{_TMP}foreign_postcode": _foreign_postcode(compact, country_read),
        }
    )
    french = country_read.isNull() | is_in(country_read, FRENCH_POSTCODE_COUNTRIES)
    fr_postcode, foreign_postcode = F.col(f"{_TMP}fr_postcode"), F.col(f"{_TMP}foreign_postcode")
    has_address = F.col(f"{_TMP}has_address")
    df = df.withColumns(
        {
            "house_number": F.col(f"{_TMP}house_number"),
            "street": F.when(F.col(f"{_TMP}street_std").isNotNull(), _display_street(F.col(f"{_TMP}street_proper"))),
            "street_std": F.col(f"{_TMP}street_std"),
            "address_extra": input_column(df, "address_extra"),
            "postcode": F.when(french, fr_postcode)
            .when(foreign_postcode.isNotNull(), empty_to_null(foreign_postcode))
            .otherwise(F.upper(postcode_in)),
            "city": _display_city(input_column(df, "city")),
            "city_std": _std_city(input_column(df, "city")),
            "country": F.coalesce(
                given, F.when(has_address, default), F.when(default.isNull() & fr_postcode.isNotNull(), F.lit("FR"))
            ),
            f"{_TMP}bad_postcode": postcode_in.isNotNull()
            & F.when(french, fr_postcode.isNull()).otherwise(foreign_postcode == ""),
            f"{_TMP}unknown_country": country_read.isNull() & postcode_in.isNotNull() & fr_postcode.isNull(),
            f"{_TMP}unrecognised_country": country_in.isNotNull()
            & known.isNull()
            & ~is_in(F.upper(country_in), supported_regions()),
        }
    )
    df = with_quality_flags(
        df,
        [
            (F.col(f"{_TMP}bad_postcode"), "postcode:invalid"),
            (F.col(f"{_TMP}unknown_country"), "country:unknown"),
            (F.col(f"{_TMP}unrecognised_country"), "country:unrecognised"),
        ],
    )
    # a house number taken off the front of the street may leave one ("12 =cmd")
    df = neutralise_formulas(df, ADDRESS_FIELDS)
    return df.drop(*[c for c in df.columns if c.startswith(_TMP)])
