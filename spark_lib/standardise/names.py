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
``full_name:order_assumed`` (the split could not tell the last name by its case and took "NOM Prénom").
"""

from __future__ import annotations

from functools import lru_cache

from pyspark.sql import Column, DataFrame
from pyspark.sql import functions as F

from spark_lib.standardise.text import (
    clean_text,
    fold,
    input_column,
    is_in,
    literal_map,
    read_resource_csv,
    sql_array,
    with_quality_flags,
)

NICKNAMES_FILE = "french_nicknames.csv"

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
PARTICLES = ("de", "du", "des", "la", "le", "les", "d'", "l'", "van", "von", "der", "den", "da", "di", "del", "della", "dos", "das", "do", "ten", "ter")

#: folded names that are not names: nulled and flagged
PLACEHOLDER_NAMES = (
    "inconnu", "inconnue", "x", "xx", "xxx", "xxxx", "test", "nc", "nr", "non renseigne", "non communique",
    "na", "n a", "aucun", "anonyme", "client", "madame", "monsieur", "mme", "mr",
)

# "MARTIN née DUPONT" / "DUPONT épouse MARTIN" in a last-name field: the birth name is the one after "née",
# the one before "épouse".
_NEE = r"(?i)^(.+?)\s+n[ée]e\s+(.+)$"
_EPOUSE = r"(?i)^(.+?)\s+(?:[ée]pouse|[ée]p\.?)\s+(.+)$"

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
    prefix = F.regexp_extract(col, _CIVILITY_PREFIX, 1)
    return F.when(prefix != "", civility_code(prefix))


def _strip_civility_prefix(col: Column) -> Column:
    return F.regexp_replace(col, _CIVILITY_PREFIX, "")


def _proper_case(col: Column) -> Column:
    """ "jean-pierre" / "JEAN - PIERRE" -> "Jean-Pierre"; "ÉLODIE" -> "Élodie"."""
    hyphens = F.regexp_replace(F.lower(col), r"\s*-\s*", "-")
    return F.array_join(F.transform(F.split(hyphens, "-"), lambda part: F.initcap(part)), "-")


def _upper_case(col: Column) -> Column:
    """ "le goff" -> "LE GOFF"; "d'almeida" -> "D'ALMEIDA" (accents kept)."""
    return F.upper(F.regexp_replace(col, r"\s*-\s*", "-"))


# The split is written in Spark SQL: its nested lambdas built through the Column API cost hundreds of py4j
# calls (a second per call of standardise_names on a busy machine); as SQL they are a few.
def _sql_is_upper(t: str) -> str:
    # at least two letters, so an initial ("J.") does not pass for a last name
    return f"(upper({t}) = {t} AND lower({t}) != {t} AND {t} RLIKE '\\\\p{{L}}.*\\\\p{{L}}')"


def _sql_is_particle(t: str) -> str:
    return f"array_contains({sql_array(PARTICLES)}, lower({t}))"


def _split_full_name(df: DataFrame, full: str) -> DataFrame:
    """Add ``{_TMP}split_last``/``split_first``/``order_assumed`` from the cleaned full name in column ``full``.

    Upper-case tokens are the last name ("Jean DUPONT", "DUPONT Jean"), with a lower-case particle that comes
    before them ("Jean de LA FONTAINE"). When case does not tell (all upper or none), the CRM convention
    "NOM Prénom" is assumed: leading particles and the next token are the last name.
    """
    tokens = f"split(`{full}`, ' ')"
    next_word = f"try_element_at(filter(slice({tokens}, i + 2, 1000), x -> NOT {_sql_is_particle('x')}), 1)"
    is_last = f"transform({tokens}, (t, i) -> {_sql_is_upper('t')} OR ({_sql_is_particle('t')} AND coalesce({_sql_is_upper(next_word)}, false)))"
    mixed = (
        f"exists({tokens}, t -> {_sql_is_upper('t')}) AND "
        f"exists({tokens}, t -> NOT {_sql_is_upper('t')} AND NOT {_sql_is_particle('t')} AND t RLIKE '\\\\p{{L}}')"
    )
    # 1-based position of the first token that is not a particle (0: all particles)
    first_word = f"array_position(transform({tokens}, t -> {_sql_is_particle('t')}), false)"
    df = df.withColumns(
        {
            f"{_TMP}is_last": F.expr(is_last),
            f"{_TMP}mixed": F.expr(mixed),
            f"{_TMP}first_word": F.expr(first_word),
        }
    )
    flags, k = f"`{_TMP}is_last`", f"`{_TMP}first_word`"
    split_last = f"""CASE WHEN `{_TMP}mixed`
        THEN array_join(filter({tokens}, (t, i) -> try_element_at({flags}, i + 1)), ' ')
        WHEN {k} > 0 THEN array_join(slice({tokens}, 1, {k}), ' ')
        ELSE array_join({tokens}, ' ') END"""
    split_first = f"""CASE WHEN `{_TMP}mixed`
        THEN array_join(filter({tokens}, (t, i) -> NOT try_element_at({flags}, i + 1)), ' ')
        WHEN {k} > 0 THEN array_join(slice({tokens}, {k} + 1, size({tokens}) - {k}), ' ') END"""
    order_assumed = f"`{full}` IS NOT NULL AND NOT `{_TMP}mixed` AND size({tokens}) > 1"
    return df.withColumns(
        {
            f"{_TMP}split_last": F.expr(split_last),
            f"{_TMP}split_first": F.expr(split_first),
            f"{_TMP}order_assumed": F.expr(order_assumed),
        }
    )


def _nonblank(col: Column) -> Column:
    return F.when(col != "", col)


def standardise_names(df: DataFrame) -> DataFrame:
    """Civility, first/last/birth names in display and folded forms, and the nickname-resolved first name.

    ``first_name``/``last_name`` that are null are taken from ``full_name`` ("DUPONT Jean", "Jean DUPONT",
    "Mme DUPONT Jeanne"); a civility found as a prefix of a name fills a null ``civility``.
    """
    civility_in = clean_text(input_column(df, "civility"))
    first_in = clean_text(input_column(df, "first_name"))
    last_in = clean_text(input_column(df, "last_name"))
    birth_in = clean_text(input_column(df, "birth_name"))
    # "DUPONT, Jean": the comma only separates the two names.
    full_in = clean_text(F.regexp_replace(input_column(df, "full_name"), r"[,;]", " "))

    df = df.withColumns(
        {
            f"{_TMP}civility_in": civility_in,
            f"{_TMP}civility": F.coalesce(
                civility_code(civility_in), _civility_prefix(first_in), _civility_prefix(full_in), _civility_prefix(last_in)
            ),
            f"{_TMP}first": _nonblank(_strip_civility_prefix(first_in)),
            f"{_TMP}last_raw": _nonblank(_strip_civility_prefix(last_in)),
            f"{_TMP}birth": _nonblank(F.regexp_replace(birth_in, r"(?i)^n[ée]e\s+", "")),
            f"{_TMP}full": _nonblank(_strip_civility_prefix(full_in)),
        }
    )
    last_raw = F.col(f"{_TMP}last_raw")
    nee = F.regexp_extract(last_raw, _NEE, 1) != ""
    epouse = F.regexp_extract(last_raw, _EPOUSE, 1) != ""
    df = df.withColumns(
        {
            f"{_TMP}last": F.when(nee, F.regexp_extract(last_raw, _NEE, 1))
            .when(epouse, F.regexp_extract(last_raw, _EPOUSE, 2))
            .otherwise(last_raw),
            f"{_TMP}birth": F.coalesce(
                F.col(f"{_TMP}birth"),
                F.when(nee, F.regexp_extract(last_raw, _NEE, 2)).when(epouse, F.regexp_extract(last_raw, _EPOUSE, 1)),
            ),
        }
    )
    df = _split_full_name(df, f"{_TMP}full")
    use_full = F.col(f"{_TMP}first").isNull() | F.col(f"{_TMP}last").isNull()
    first_src = F.coalesce(F.col(f"{_TMP}first"), F.when(use_full, F.col(f"{_TMP}split_first")))
    last_src = F.coalesce(F.col(f"{_TMP}last"), F.when(use_full, F.col(f"{_TMP}split_last")))
    df = df.withColumns(
        {
            f"{_TMP}first_display": _proper_case(first_src),
            f"{_TMP}last_display": _upper_case(last_src),
            f"{_TMP}birth_display": _upper_case(F.col(f"{_TMP}birth")),
            f"{_TMP}full_used": use_full & F.col(f"{_TMP}full").isNotNull(),
        }
    )
    df = df.withColumns(
        {
            f"{_TMP}first_fold": fold(F.col(f"{_TMP}first_display")),
            f"{_TMP}last_fold": fold(F.col(f"{_TMP}last_display")),
            f"{_TMP}birth_fold": fold(F.col(f"{_TMP}birth_display")),
        }
    )
    placeholder = list(PLACEHOLDER_NAMES)
    first_fold, last_fold, birth_fold = (F.col(f"{_TMP}{n}_fold") for n in ("first", "last", "birth"))
    df = df.withColumns(
        {
            f"{_TMP}first_std": F.when(~is_in(first_fold, placeholder), first_fold),
            f"{_TMP}last_std": F.when(~is_in(last_fold, placeholder), last_fold),
            f"{_TMP}birth_std": F.when(~is_in(birth_fold, placeholder), birth_fold),
            f"{_TMP}first_placeholder": is_in(first_fold, placeholder),
            f"{_TMP}last_placeholder": is_in(last_fold, placeholder),
        }
    )

    any_civility, by_civility = load_nicknames()
    first_std = F.col(f"{_TMP}first_std")
    civility = F.col(f"{_TMP}civility")
    canonical = F.coalesce(
        F.try_element_at(literal_map(by_civility.items()), F.concat_ws("|", civility, first_std)),
        F.try_element_at(literal_map(any_civility.items()), first_std),
        first_std,
    )
    df = df.withColumns(
        {
            "civility": civility,
            "first_name": F.when(first_std.isNotNull(), F.col(f"{_TMP}first_display")),
            "last_name": F.when(F.col(f"{_TMP}last_std").isNotNull(), F.col(f"{_TMP}last_display")),
            "birth_name": F.when(F.col(f"{_TMP}birth_std").isNotNull(), F.col(f"{_TMP}birth_display")),
            "first_name_std": first_std,
            "first_name_canonical": canonical,
            "last_name_std": F.col(f"{_TMP}last_std"),
            "birth_name_std": F.col(f"{_TMP}birth_std"),
        }
    )
    df = with_quality_flags(
        df,
        [
            (F.col(f"{_TMP}civility_in").isNotNull() & civility_code(F.col(f"{_TMP}civility_in")).isNull(), "civility:unrecognised"),
            (F.col(f"{_TMP}first_placeholder"), "first_name:placeholder"),
            (F.col(f"{_TMP}last_placeholder"), "last_name:placeholder"),
            (F.col(f"{_TMP}full_used") & F.col(f"{_TMP}order_assumed"), "full_name:order_assumed"),
        ],
    )
    return df.drop(*[c for c in df.columns if c.startswith(_TMP)])
