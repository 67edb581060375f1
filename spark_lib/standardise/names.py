"""Civility and names: display forms, folded matching forms, nickname resolution, ``full_name`` split.

Example::

    from spark_lib.standardise import standardise_names
    silver = raw.transform(standardise_names)

Inputs (strings, each may be absent): ``civility``, ``first_name``, ``last_name``, ``birth_name``, ``full_name``.
Outputs: ``civility`` (M | MME | null), ``first_name`` ("Jean-Pierre"), ``last_name`` ("LE GOFF"),
``birth_name``, ``first_name_std`` ("jean pierre"), ``first_name_canonical`` ("fred" -> "frederic"),
``last_name_std`` ("le goff"), ``birth_name_std``; ``full_name`` is left as it was.

Flags: ``civility:unrecognised`` (a civility we cannot read, e.g. "Dr", "M et Mme"),
``first_name:placeholder`` / ``last_name:placeholder`` ("INCONNU", "XXX", "TEST": nulled),
``full_name:order_assumed`` (the split could not tell the last name by its case and took "NOM Prénom");
and those of :func:`~spark_lib.standardise.text.sanitise_fields`, which every input goes through first:
``<field>:control_chars_removed``, ``<field>:formula_prefix`` ("=HYPERLINK(...)" -> "HYPERLINK(...)"),
``<field>:truncated`` (over 100 characters).
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
    neutralise_formulas,
    proper_case,
    read_resource_csv,
    sanitise_fields,
    with_quality_flags,
)

NICKNAMES_FILE = "french_nicknames.csv"

#: the input fields of names, sanitised before anything else
NAME_FIELDS = ("civility", "first_name", "last_name", "birth_name", "full_name")

#: folded civility (spaces removed) -> M | MME
CIVILITIES = {
    "m": "M",
    "mr": "M",
    "monsieur": "M",
    "msieur": "M",
    "mister": "M",
    "mme": "MME",
    "madame": "MME",
    "mlle": "MME",
    "melle": "MME",
    "mle": "MME",
    "mademoiselle": "MME",
    "mmes": "MME",
    "mrs": "MME",
    "ms": "MME",
    "miss": "MME",
}

# A civility written at the start of a name: "Mme Marie", "M. DUPONT Jean", "Mlle.Durand".
_CIVILITY_PREFIX = r"(?i)^(monsieur|madame|mademoiselle|mlle|melle|mmes|mme|mrs|mr|m)(?:\.\s*|\s+)(?=\S)"

#: lower-case particles that belong to the last name ("de la FONTAINE", "van DAMME")
PARTICLES = (
    "de", "du", "des", "la", "le", "les", "d'", "l'", "van", "von", "der", "den", "da", "di", "del", "della",
    "dos", "das", "do", "ten", "ter",
)

#: folded names that are not names: nulled and flagged
PLACEHOLDER_NAMES = (
    "inconnu", "inconnue", "x", "xx", "xxx", "xxxx", "test", "nc", "nr", "non renseigne", "non communique",
    "na", "n a", "aucun", "anonyme", "client", "madame", "monsieur", "mme", "mr",
)

# "MARTIN née DUPONT" / "DUPONT épouse MARTIN" in a last-name field: the birth name is the one after "née",
# the one before "épouse".
_NEE = r"(?i)^(.+?)\s+n[ée]e\s+(.+)$"
_EPOUSE = r"(?i)^(.+?)\s+(?:[ée]pouse|[ée]p\.?)\s+(.+)$"
_MARRIED = r"(?i)\s(?:n[ée]e|[ée]pouse|[ée]p\.?)\s"

_TMP = "_std_names_"


@lru_cache(maxsize=1)
def load_nicknames() -> tuple[dict[str, str], dict[str, str]]:
    """(nickname -> formal for any civility, "CIVILITY|nickname" -> formal) from the resource table."""
    any_civility: dict[str, str] = {}
    by_civility: dict[str, str] = {}
    for nickname, formal, civility in read_resource_csv(NICKNAMES_FILE, 3):
        if civility:
            by_civility[f"{civility.upper()}|{nickname}"] = formal
        else:
            any_civility[nickname] = formal
    return any_civility, by_civility


def civility_code(col: Column) -> Column:
    """``M`` / ``MME`` from any common spelling ("Mr.", "Madame", "Mlle", "MMES"); null otherwise."""
    # No civility carries an accent: dropping everything but a-z is enough (and cheaper than fold()).
    key = F.regexp_replace(F.lower(col), "[^a-z]", "")
    return F.try_element_at(literal_map(CIVILITIES.items()), key)


def _civility_prefix(col: Column) -> Column:
    # no prefix: the key is "" and the lookup gives null
    return civility_code(F.regexp_extract(col, _CIVILITY_PREFIX, 1))


def _strip_civility_prefix(col: Column) -> Column:
    return F.regexp_replace(col, _CIVILITY_PREFIX, "")


def _upper_case(col: Column) -> Column:
    """ "le goff" -> "LE GOFF"; "d'almeida" -> "D'ALMEIDA" (accents kept)."""
    return F.upper(F.regexp_replace(col, r"\s*-\s*", "-"))


# The split is done with regular expressions over the whole name: Spark compiles them into generated code,
# where higher-order functions over the tokens (transform/filter lambdas) run interpreted, several times slower.
_PARTICLE = "(?i:" + "|".join(PARTICLES) + ")"
# a token without lower-case letters and with at least two letters ("DUPONT", "D'ALMEIDA"; not the initial "J.")
_UPPER_TOKEN = r"(?=[^\s\p{L}]*\p{L}[^\s\p{L}]*\p{L})[^\s\p{Ll}]+(?!\S)"
_HAS_UPPER_TOKEN = r"(?<!\S)" + _UPPER_TOKEN
# a token that is neither a particle nor an upper-case token, and has a letter ("Jean", "Marie-Claire", "J.")
_HAS_OTHER_TOKEN = r"(?<!\S)(?!" + _PARTICLE + r"(?!\S))(?!" + _UPPER_TOKEN + r")\S*\p{L}"
# "Jean de LA FONTAINE": what comes before, the last name (lower-case particles + upper-case tokens), what follows
_BY_CASE = (
    r"^(.*?)\s*(?<!\S)((?:" + _PARTICLE + r"\s+)*" + _UPPER_TOKEN + r"(?:\s+" + _UPPER_TOKEN + r")*)\s*(.*)$"
)
# "dupont jean", "DE LA FONTAINE MARIE": leading particles and the next token, then the rest
_BY_ORDER = r"^((?:" + _PARTICLE + r"\s+)*\S+)(?:\s+(.*))?$"


def _split_full_name(df: DataFrame, full: str) -> DataFrame:
    """Add ``{_TMP}split_last``/``split_first``/``order_assumed`` from the cleaned full name in column ``full``.

    Upper-case tokens are the last name ("Jean DUPONT", "DUPONT Jean"), with a lower-case particle that comes
    before them ("Jean de LA FONTAINE"). When case does not tell (all upper or none), the CRM convention
    "NOM Prénom" is assumed: leading particles and the next token are the last name.
    """
    name = F.col(full)
    df = df.withColumn(f"{_TMP}mixed", name.rlike(_HAS_UPPER_TOKEN) & name.rlike(_HAS_OTHER_TOKEN))
    mixed = F.col(f"{_TMP}mixed")
    by_case_first = F.trim(
        F.concat_ws(" ", F.regexp_extract(name, _BY_CASE, 1), F.regexp_extract(name, _BY_CASE, 3))
    )
    return df.withColumns(
        {
            f"{_TMP}split_last": F.when(mixed, F.regexp_extract(name, _BY_CASE, 2)).otherwise(
                F.regexp_extract(name, _BY_ORDER, 1)
            ),
            f"{_TMP}split_first": F.when(mixed, empty_to_null(by_case_first)).otherwise(
                empty_to_null(F.regexp_extract(name, _BY_ORDER, 2))
            ),
            f"{_TMP}order_assumed": name.isNotNull() & ~mixed & name.contains(" "),
        }
    )


def standardise_names(df: DataFrame) -> DataFrame:
    """Civility, first/last/birth names in display and folded forms, and the nickname-resolved first name.

    ``first_name``/``last_name`` that are null are taken from ``full_name`` ("DUPONT Jean", "Jean DUPONT",
    "Mme DUPONT Jeanne"); a civility found as a prefix of a name fills a null ``civility``.
    """

    def tmp(name: str) -> Column:
        return F.col(f"{_TMP}{name}")

    # Each step materialises what the next one reads several times: Spark does not share a sub-expression
    # between a condition and its branches, so an inlined regex chain would run once per use.
    # sanitise_fields leaves the inputs cleaned (clean_text), so they are read as they are.
    df = df.transform(sanitise_fields, NAME_FIELDS)
    df = df.withColumns(
        {
            f"{_TMP}civility_in": input_column(df, "civility"),
            f"{_TMP}first_in": input_column(df, "first_name"),
            f"{_TMP}last_in": input_column(df, "last_name"),
            f"{_TMP}birth_in": input_column(df, "birth_name"),
            # "DUPONT, Jean": the comma only separates the two names.
            f"{_TMP}full_in": clean_text(F.regexp_replace(input_column(df, "full_name"), r"[,;]", " ")),
        }
    )
    df = df.withColumns(
        {
            f"{_TMP}civility_given": civility_code(tmp("civility_in")),
            f"{_TMP}civility_prefix": F.coalesce(
                _civility_prefix(tmp("first_in")), _civility_prefix(tmp("full_in")), _civility_prefix(tmp("last_in"))
            ),
            f"{_TMP}first": empty_to_null(_strip_civility_prefix(tmp("first_in"))),
            f"{_TMP}last_raw": empty_to_null(_strip_civility_prefix(tmp("last_in"))),
            f"{_TMP}birth": empty_to_null(F.regexp_replace(tmp("birth_in"), r"(?i)^n[ée]e\s+", "")),
            f"{_TMP}full": empty_to_null(_strip_civility_prefix(tmp("full_in"))),
        }
    )
    df = df.withColumn(f"{_TMP}married", tmp("last_raw").rlike(_MARRIED))
    last_raw, married = tmp("last_raw"), tmp("married")
    nee, epouse = married & last_raw.rlike(_NEE), married & last_raw.rlike(_EPOUSE)
    df = df.withColumns(
        {
            f"{_TMP}last": F.when(~married, last_raw)
            .when(nee, F.regexp_extract(last_raw, _NEE, 1))
            .when(epouse, F.regexp_extract(last_raw, _EPOUSE, 2))
            .otherwise(last_raw),
            f"{_TMP}birth": F.coalesce(
                tmp("birth"),
                F.when(nee, F.regexp_extract(last_raw, _NEE, 2)).when(epouse, F.regexp_extract(last_raw, _EPOUSE, 1)),
            ),
        }
    )
    df = _split_full_name(df, f"{_TMP}full")
    use_full = tmp("first").isNull() | tmp("last").isNull()
    df = df.withColumns(
        {
            f"{_TMP}first_display": proper_case(
                F.regexp_replace(F.coalesce(tmp("first"), F.when(use_full, tmp("split_first"))), r"\s*-\s*", "-")
            ),
            f"{_TMP}last_display": _upper_case(F.coalesce(tmp("last"), F.when(use_full, tmp("split_last")))),
            f"{_TMP}birth_display": _upper_case(tmp("birth")),
            f"{_TMP}full_used": use_full & tmp("full").isNotNull(),
        }
    )
    df = df.withColumns(
        {
            f"{_TMP}first_fold": fold(tmp("first_display")),
            f"{_TMP}last_fold": fold(tmp("last_display")),
            f"{_TMP}birth_fold": fold(tmp("birth_display")),
        }
    )
    placeholder = list(PLACEHOLDER_NAMES)
    first_fold, last_fold, birth_fold = tmp("first_fold"), tmp("last_fold"), tmp("birth_fold")
    df = df.withColumns(
        {
            f"{_TMP}first_std": F.when(~is_in(first_fold, placeholder), first_fold),
            f"{_TMP}last_std": F.when(~is_in(last_fold, placeholder), last_fold),
            f"{_TMP}birth_std": F.when(~is_in(birth_fold, placeholder), birth_fold),
            f"{_TMP}first_placeholder": is_in(first_fold, placeholder),
            f"{_TMP}last_placeholder": is_in(last_fold, placeholder),
            f"{_TMP}civility": F.coalesce(tmp("civility_given"), tmp("civility_prefix")),
        }
    )

    any_civility, by_civility = load_nicknames()
    first_std, civility = tmp("first_std"), tmp("civility")
    canonical = F.coalesce(
        F.try_element_at(literal_map(by_civility.items()), F.concat_ws("|", civility, first_std)),
        F.try_element_at(literal_map(any_civility.items()), first_std),
        first_std,
    )
    df = df.withColumns(
        {
            "civility": civility,
            "first_name": F.when(first_std.isNotNull(), tmp("first_display")),
            "last_name": F.when(tmp("last_std").isNotNull(), tmp("last_display")),
            "birth_name": F.when(tmp("birth_std").isNotNull(), tmp("birth_display")),
            "first_name_std": first_std,
            "first_name_canonical": canonical,
            "last_name_std": tmp("last_std"),
            "birth_name_std": tmp("birth_std"),
        }
    )
    df = with_quality_flags(
        df,
        [
            (tmp("civility_in").isNotNull() & tmp("civility_given").isNull(), "civility:unrecognised"),
            (tmp("first_placeholder"), "first_name:placeholder"),
            (tmp("last_placeholder"), "last_name:placeholder"),
            (tmp("full_used") & tmp("order_assumed"), "full_name:order_assumed"),
        ],
    )
    # a civility or a split taken off the front may leave one ("M. =cmd"); the matching forms are folded
    # (punctuation -> space) and never hold one
    df = neutralise_formulas(df, ("first_name", "last_name", "birth_name"))
    return df.drop(*[c for c in df.columns if c.startswith(_TMP)])
