"""Text helpers shared by every standardisation transform (Spark-native, no UDF).

- :func:`fold` makes the *matching* form of a text: ``"  Jean-Pierre D’Éon "`` -> ``"jean pierre d eon"``.
- :func:`blank_to_null` and :func:`clean_text` make the *display* form: trimmed, spaces collapsed, blank -> null.
- :func:`input_column` reads a canonical input column that a source may not have (absent -> all null).
- :func:`with_quality_flags` appends reasons to the ``quality_flags`` array so no change is silent.
- :func:`sanitise_fields` is the gate every identity text field goes through first: control and bidi
  characters removed, spreadsheet formula prefixes stripped, over-long values cut, each with its flag.

Example::

    from spark_lib.standardise.text import fold
    df.withColumn("city_std", fold("city"))
"""

from __future__ import annotations

import re
import unicodedata
from importlib import resources
from pathlib import Path
from typing import Iterable

from pyspark.sql import Column, DataFrame
from pyspark.sql import functions as F
from pyspark.sql.types import ArrayType, StringType

QUALITY_FLAGS = "quality_flags"

# Unicode white space, including the no-break spaces that spreadsheets and web forms leave behind
# (Spark's trim() only removes the ASCII space).
_SPACE = r"[\s\p{Z}]"
# Values that exports write for "no value": they carry no data, so they read as null (after trimming).
NULL_WORDS = ("", "null", "NULL", "Null", "none", "None", "NONE", "nan", "NaN", "NAN", "n/a", "N/A", "#N/A", "#n/a")

# Characters no customer datum carries: control characters (Cc: C0 with NUL, DEL, C1) and invisible format
# characters (Cf: zero-width space/joiners U+200B-U+200D, LRM/RLM, the bidi embeddings and overrides
# U+202A-U+202E such as the right-to-left override, the isolates U+2066-U+2069, the BOM U+FEFF inside a
# value, soft hyphen, tag characters). Tab, line feed, vertical tab, form feed and carriage return are left to
# the white-space pass, which turns them into a space ("DUPONT\tJean" is two words).
_INVISIBLE = r"[\p{Cc}\p{Cf}&&[^\t\n\x0B\f\r]]"
#: every control and invisible format character, white-space controls included (a Java regex class)
CONTROL_CHARS = r"[\p{Cc}\p{Cf}]"
# What a spreadsheet reads as the start of a formula (OWASP "CSV injection"): = + - @, and tab and carriage
# return, which clean_text has already turned into spaces and trimmed. Stripped with the spaces between them.
_FORMULA_PREFIX = r"^[=+\-@][=+\-@\s]*"
FORMULA_CHARS = ("=", "+", "-", "@")

#: Longest value kept per identity text field (characters, after cleaning). A longer value is cut and flagged
#: ``<field>:truncated``: no real name, street or city comes near, and a golden record must not carry a
#: 10,000-character "first name". E-mail: the 254 characters of RFC 5321's path (a longer one is invalid).
MAX_LENGTHS: dict[str, int] = {
    "civility": 30,
    "first_name": 100,
    "last_name": 100,
    "birth_name": 100,
    "full_name": 200,
    "email": 254,
    "house_number": 20,
    "street": 200,
    "address_extra": 200,
    "postcode": 20,
    "city": 100,
    "country": 60,
}

#: Fields where a leading = + - @ is never legitimate: it is stripped and flagged ``<field>:formula_prefix``
#: (a house number is "12-14", never "-12"). Not e-mails ("-x@y.fr" is an address: :mod:`.emails` flags it)
#: nor phones ("+33 6 ..."), whose standard forms are parsed values.
FORMULA_FIELDS = (
    "civility", "first_name", "last_name", "birth_name", "full_name",
    "house_number", "street", "address_extra", "postcode", "city", "country",
)


class ResourceMissingError(FileNotFoundError):
    """A reference table that ships in ``spark_lib/resources`` cannot be found (broken install)."""


def _accent_table() -> tuple[str, str]:
    """Source and target strings for ``translate``: every Latin letter with a diacritic -> its base letter.

    Built from Unicode decompositions over Latin-1 Supplement and Latin Extended-A/B, so it covers French
    accents and cedilla as well as the Portuguese, Spanish, German, Polish ... letters found in customer files.
    Letters that do not decompose (ø, ł, đ, ı) are added by hand; ligatures (œ, æ, ß, þ) become two letters
    and are handled by :func:`fold` before ``translate``.
    """
    src, dst = [], []
    for code in range(0x00C0, 0x0250):
        char = chr(code)
        base = unicodedata.normalize("NFKD", char)[0]
        if base != char and base.isascii() and base.isalpha():
            src.append(char)
            dst.append(base.lower())
    undecomposed = {"ø": "o", "Ø": "o", "ł": "l", "Ł": "l", "đ": "d", "Đ": "d", "ı": "i", "ð": "d", "Ð": "d"}
    for char, base in undecomposed.items():
        src.append(char)
        dst.append(base)
    # Combining marks (decomposed input, as macOS writes it: "e" + U+0301) have no counterpart: translate()
    # deletes them, which a separate regex pass would do at twice the cost.
    src.extend(chr(code) for code in range(0x0300, 0x0370))
    return "".join(src), "".join(dst)


_ACCENTED, _UNACCENTED = _accent_table()
_LIGATURES = {"œ": "oe", "æ": "ae", "ß": "ss", "þ": "th"}


def _as_column(col: Column | str) -> Column:
    return F.col(col) if isinstance(col, str) else col


def empty_to_null(col: Column | str) -> Column:
    """``col``, or null when it is the empty string.

    Evaluates ``col`` once: ``CASE WHEN col != '' THEN col END`` evaluates it twice, as Spark does not share
    a sub-expression between a condition and a branch, which doubles the cost of a long chain of regexes.
    """
    return F.try_element_at(F.array_remove(F.array(_as_column(col)), F.lit("")), F.lit(1))


def _null_words_to_null(col: Column) -> Column:
    # same single-evaluation trick as empty_to_null, with the whole list of null words
    return F.try_element_at(F.array_except(F.array(col), F.expr(sql_array(NULL_WORDS))), F.lit(1))


def blank_to_null(col: Column | str) -> Column:
    """The value unchanged, or null when it is empty, only white space, or a null word ("NULL", "N/A")."""
    col = _as_column(col)
    blank = F.trim(F.regexp_replace(col, _SPACE + "+", " "))
    return F.when(_null_words_to_null(blank).isNotNull(), col)


def remove_invisible(col: Column | str) -> Column:
    """``col`` without control characters (NUL, C0, DEL, C1) and invisible format characters (zero-width,
    bidi embeddings, overrides and isolates, BOM); tab, CR and LF are kept (white space, see :func:`clean_text`)."""
    return F.regexp_replace(_as_column(col), _INVISIBLE, "")


def clean_text(col: Column | str) -> Column:
    """Display form of free text: invisible characters removed (:func:`remove_invisible`), white space
    (tab, CR and LF included) trimmed and collapsed to single spaces; blank -> null.

    Typographic apostrophes (’ ‘ `) become the plain ``'`` so the same name is spelt one way. Null words
    ("NULL", "N/A", "nan", see :data:`NULL_WORDS`) become null too.
    """
    return _clean_visible(remove_invisible(col))


def _clean_visible(col: Column) -> Column:
    # clean_text but for the invisible characters, for a text known to have none
    text = F.translate(F.regexp_replace(col, _SPACE + "+", " "), "’‘`´", "'" * 4)
    return _null_words_to_null(F.trim(text))


def starts_with_formula(col: Column | str) -> Column:
    """``col`` starts with = + - or @ (a first-character test: no regex scan of a long value)."""
    return is_in(F.substring(_as_column(col), 1, 1), FORMULA_CHARS)


def strip_formula_prefix(col: Column | str) -> Column:
    """``col`` without the leading = + - @ (and spaces among them) a spreadsheet reads as a formula:
    ``"=HYPERLINK(...)"`` -> ``"HYPERLINK(...)"``, ``"@SUM(A1)"`` -> ``"SUM(A1)"``; nothing left -> null."""
    return empty_to_null(F.regexp_replace(_as_column(col), _FORMULA_PREFIX, ""))


_TMP = "_sanitise_"


def sanitise_fields(df: DataFrame, fields: Iterable[str]) -> DataFrame:
    """Each of ``fields`` that ``df`` has, cleaned for a golden record, with a flag for each change.

    - control and invisible characters removed (:func:`clean_text`): ``<field>:control_chars_removed``
      (tab, CR or LF inside the value count too: they become a space);
    - in :data:`FORMULA_FIELDS`, a leading = + - @ stripped (:func:`strip_formula_prefix`):
      ``<field>:formula_prefix`` ("=cmd" -> "cmd": what follows may still be the name, and the flag says
      what was done; a value of formula characters only becomes null);
    - cut to its :data:`MAX_LENGTHS` (trailing space trimmed): ``<field>:truncated``.

    The field keeps its name and holds the cleaned text (null words and blanks -> null); the standardisers
    run this first, so display and matching (``*_std``) forms both start from it. Idempotent.

    Example::

        df.transform(sanitise_fields, ["first_name", "city"])
    """
    fields = [f for f in fields if f in df.columns]
    if not fields:
        return df
    # Each regex runs only where it has work: one scan tells whether a value holds a control character, and
    # the first character whether it holds a formula prefix (the usual value pays two cheap tests).
    df = df.withColumns({f"{_TMP}{f}_control": input_column(df, f).rlike(CONTROL_CHARS) for f in fields})
    df = df.withColumns(
        {
            f"{_TMP}{f}_clean": _clean_visible(
                F.when(F.col(f"{_TMP}{f}_control"), remove_invisible(input_column(df, f))).otherwise(input_column(df, f))
            )
            for f in fields
        }
    )
    df = df.withColumns(
        {f"{_TMP}{f}_formula": starts_with_formula(f"{_TMP}{f}_clean") for f in fields if f in FORMULA_FIELDS}
    )
    neutral = {
        f: F.when(F.col(f"{_TMP}{f}_formula"), strip_formula_prefix(f"{_TMP}{f}_clean")).otherwise(F.col(f"{_TMP}{f}_clean"))
        if f in FORMULA_FIELDS
        else F.col(f"{_TMP}{f}_clean")
        for f in fields
    }
    df = df.withColumns({f"{_TMP}{f}_neutral": neutral[f] for f in fields})
    outputs, flags = {}, []
    for f in fields:
        value = F.col(f"{_TMP}{f}_neutral")
        limit = MAX_LENGTHS.get(f)
        outputs[f] = value if limit is None else F.when(
            F.length(value) > limit, F.rtrim(F.substring(value, 1, limit))
        ).otherwise(value)
        flags.append((F.col(f"{_TMP}{f}_control"), f"{f}:control_chars_removed"))
        if f in FORMULA_FIELDS:
            flags.append((F.col(f"{_TMP}{f}_formula"), f"{f}:formula_prefix"))
        if limit is not None:
            flags.append((F.length(value) > limit, f"{f}:truncated"))
    df = with_quality_flags(df, flags).withColumns(outputs)
    return df.drop(*[c for c in df.columns if c.startswith(_TMP)])


def neutralise_formulas(df: DataFrame, fields: Iterable[str]) -> DataFrame:
    """The last guard on display columns a standardiser derived by splitting a value ("M. =cmd" without its
    civility, "12 =cmd" without its house number): a leading = + - @ stripped, flagged ``<field>:formula_prefix``."""
    fields = [f for f in fields if f in df.columns]
    starts = {f: starts_with_formula(f) for f in fields}
    df = with_quality_flags(df, [(starts[f], f"{f}:formula_prefix") for f in fields])
    return df.withColumns({f: F.when(starts[f], strip_formula_prefix(f)).otherwise(F.col(f)) for f in fields})


def remove_control_chars(df: DataFrame, fields: Iterable[str]) -> DataFrame:
    """Each of ``fields`` that ``df`` has without any control or invisible format character (tab and line
    breaks included), flagged ``<field>:control_chars_removed``; nothing else changes (identifiers: a key is
    compared as it is)."""
    fields = [f for f in fields if f in df.columns]
    df = with_quality_flags(df, [(input_column(df, f).rlike(CONTROL_CHARS), f"{f}:control_chars_removed") for f in fields])
    return df.withColumns({f: empty_to_null(F.regexp_replace(input_column(df, f), CONTROL_CHARS, "")) for f in fields})


# initcap() starts words after spaces only. A mark put after a separator makes it start one there too; a mark
# put before a word makes initcap() see the mark, not the word's first letter, as the word start.
_WORD_START, _NOT_A_START = "\u0000 ", "\u0001"


def proper_case(col: Column | str, after: str = "-", keep_lower: str | None = None) -> Column:
    """Words capitalised, other letters lower case, accents kept; a word also starts after each character
    of ``after``: "jean-pierre" -> "Jean-Pierre", "ÉLODIE" -> "Élodie", ``after="-'"``: "l'église" -> "L'Église".

    ``keep_lower``: a regex of words left in lower case when they follow a space ("de", "la" in street names).
    """
    separators = "([" + re.escape(after) + "])"
    text = F.regexp_replace(F.lower(_as_column(col)), separators, "$1" + _WORD_START)
    if keep_lower:
        text = F.regexp_replace(text, f"(?<= )(?={keep_lower})", _NOT_A_START)
    return F.regexp_replace(F.initcap(text), f"{_WORD_START}|{_NOT_A_START}", "")


def fold(col: Column | str) -> Column:
    """Matching form of a text: lower case, no accents, punctuation -> space, spaces collapsed; empty -> null.

    ``"Éléonore-Marie D’Œuvre"`` -> ``"eleonore marie d oeuvre"``. Letters of other scripts are kept as they are.
    """
    text = F.translate(F.lower(_as_column(col)), _ACCENTED, _UNACCENTED)
    for ligature, letters in _LIGATURES.items():
        text = F.replace(text, F.lit(ligature), F.lit(letters))
    text = F.regexp_replace(text, r"[^\p{L}\p{N}]+", " ")
    return empty_to_null(F.trim(text))


def sql_string(text: str) -> str:
    """A Spark SQL string literal for ``text`` (quotes and backslashes escaped)."""
    return "'" + text.replace("\\", "\\\\").replace("'", "\\'") + "'"


def sql_array(values: Iterable[str]) -> str:
    """A Spark SQL ``array<string>`` literal."""
    return "array(" + ", ".join(sql_string(v) for v in values) + ")"


# ASCII record and unit separators: they never occur in the reference tables.
_PAIR_SEP, _KEY_SEP = "\x1e", "\x1f"


def sql_map(pairs: Iterable[tuple[str, str]]) -> str:
    """A Spark SQL ``map<string,string>`` literal, built by ``str_to_map`` from one string.

    A ``map(...)`` of a thousand literals (the e-mail typo table) costs a second of parsing and plan analysis
    per use; one string literal costs nothing, and Spark folds it into a constant map once per query.
    """
    items = dict(pairs)
    if not items:
        return "map()"
    for text in (*items, *items.values()):
        if _PAIR_SEP in text or _KEY_SEP in text:
            raise ValueError(f"sql_map: {text!r} contains a separator character")
    encoded = _PAIR_SEP.join(f"{k}{_KEY_SEP}{v}" for k, v in items.items())
    return f"str_to_map({sql_string(encoded)}, {sql_string(_PAIR_SEP)}, {sql_string(_KEY_SEP)})"


def input_column(df: DataFrame, name: str) -> Column:
    """Column ``name`` of ``df`` as a string, or a null string column when the source does not have it."""
    if name not in df.columns:
        return F.lit(None).cast("string")
    if isinstance(df.schema[name].dataType, StringType):
        return F.col(name)
    return F.col(name).cast("string")


def with_quality_flags(df: DataFrame, flags: Iterable[tuple[Column, str]]) -> DataFrame:
    """Append ``flag`` to ``quality_flags`` on the rows where its condition is true (null counts as false).

    ``quality_flags`` is created as an empty array when absent; a flag already present is not repeated.
    """
    existing = (
        F.coalesce(F.col(QUALITY_FLAGS), F.array().cast(ArrayType(StringType())))
        if QUALITY_FLAGS in df.columns
        else F.array().cast(ArrayType(StringType()))
    )
    new = [F.when(condition, F.lit(flag)) for condition, flag in flags]
    if not new:
        return df.withColumn(QUALITY_FLAGS, existing)
    combined = F.array_distinct(F.concat(existing, F.array_compact(F.array(*new))))
    return df.withColumn(QUALITY_FLAGS, combined)


def _resource_text(name: str) -> str:
    try:
        path = resources.files("spark_lib").joinpath("resources", name)
        if path.is_file():
            return path.read_text(encoding="utf-8")
    except (NotADirectoryError, ModuleNotFoundError):
        # An editable install can expose spark_lib as a namespace package, which importlib.resources
        # cannot read in Python 3.11: fall back to the file next to this module.
        pass
    path = Path(__file__).resolve().parent.parent / "resources" / name
    if not path.is_file():
        raise ResourceMissingError(f"spark_lib/resources/{name} is missing: reinstall the rcu package")
    return path.read_text(encoding="utf-8")


def read_resource_csv(name: str, columns: int) -> list[list[str]]:
    """Rows of ``spark_lib/resources/<name>`` (comma-separated, ``#`` comments and blank lines skipped).

    Read through :mod:`importlib.resources`, so it works from a wheel or a zip and never depends on the CWD.
    The first non-comment line is the header and is skipped. Each row is padded to ``columns`` fields.
    """
    rows: list[list[str]] = []
    header_seen = False
    for line in _resource_text(name).splitlines():
        line = line.strip()
        if not line or line.startswith("#"):
            continue
        if not header_seen:
            header_seen = True
            continue
        fields = [field.strip() for field in line.split(",")]
        rows.append((fields + [""] * columns)[:columns])
    return rows


def is_in(col: Column, values: Iterable[str]) -> Column:
    """``col`` is one of ``values`` (null for null), like ``Column.isin`` but built in one JVM call
    (``isin(*values)`` makes a literal, and several py4j round trips, per value)."""
    return F.array_contains(F.expr(sql_array(values)), col)


def literal_map(pairs: Iterable[tuple[str, str]]) -> Column:
    """A ``map<string,string>`` literal (see :func:`sql_map`); look keys up with ``F.try_element_at``."""
    items = dict(pairs)
    if not items:
        return F.create_map().cast("map<string,string>")
    return F.expr(sql_map(items.items()))
