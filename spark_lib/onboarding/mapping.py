"""Which column is which canonical field: from its header (French and English, accents or not) and its values.

Each column gets a field from its *name* (a synonym table, ``resources/onboarding_synonyms.csv``) and a kind
from its *content* (a sample of values: emails, phones, dates and their format, postcodes, consents, ...).
Content confirms the name, or overrides it when it clearly says something else (a ``contact`` column of
emails), or maps a column whose name says nothing. Every choice that both do not confirm, and every
ambiguity, carries a reason (``Choice.doubt``) that ``rcu init`` writes as ``# uncertain: <why>``.

Example::

    from spark_lib.onboarding.mapping import propose_mapping
    mapping = propose_mapping(["Courriel", "Tél. portable", "DDN"], samples)
    mapping.fields["email"]          # Choice(column='Courriel', doubt=None)
    mapping.birth_date_format        # 'dd/MM/yyyy' (decided by a value whose day is above 12) or None
"""

from __future__ import annotations

import csv
import datetime as dt
import functools
import re
import unicodedata
from dataclasses import dataclass, field
from importlib import resources

from spark_lib.config import IDENTITY_FIELDS

#: canonical fields that link records on their own (deterministic pivots)
PIVOT_FIELDS = ("email", "phone", "phone_2", "loyalty_card", "account_id", "customer_ref", "cookie_id")
_STOPWORDS = {"de", "du", "des", "d", "l", "le", "la", "les", "of", "the", "a"}
#: share of a sample's values a content kind must reach
STRONG = 0.8

_EMAIL = re.compile(r"^[^@\s]+@[^@\s]+\.[A-Za-z]{2,}$")
_PHONE_SHAPE = re.compile(r"^(\+|00|0)[\d\s.\-()/]{8,}$")
_POSTCODE = re.compile(r"^\d{5}$")
_DMY = re.compile(r"^(\d{1,2})[/.-](\d{1,2})[/.-](\d{4})$")
_DMY_SHORT = re.compile(r"^(\d{1,2})/(\d{1,2})/(\d{2})$")
_YMD = re.compile(r"^(\d{4})[-/.](\d{1,2})[-/.](\d{1,2})$")
_COMPACT = re.compile(r"^(\d{4})(\d{2})(\d{2})$")
_TIMESTAMP = re.compile(r"^(\d{4})-(\d{2})-(\d{2})[T ]\d{1,2}:\d{2}|^(\d{1,2})/(\d{1,2})/(\d{4}) \d{1,2}:\d{2}|^\d{10}(\d{3})?$")
_NAME = re.compile(r"^[^\W\d_]+(?:[ '\-.][^\W\d_]+)*\.?$")
_CONSENT_WORDS = {"oui", "non", "o", "n", "yes", "no", "y", "true", "false", "vrai", "faux", "0", "1", "t", "f", "x"}
_CIVILITY_WORDS = {"m", "mr", "mme", "mlle", "mrs", "ms", "miss", "monsieur", "madame", "mademoiselle", "melle", "dr"}
_STORE_HINTS = ("magasin", "store", "boutique", "caisse", "ticket", "receipt", "pos", "agence", "fidelite",
                "loyalty", "crm", "catalogue", "guichet", "comptoir", "appel", "call")


def fold_header(text: str, keep_stopwords: bool = False) -> str:
    """A header as compared with synonyms: accents folded, lower case, punctuation to spaces, French and
    English small words dropped: ``"Complément d'adresse"`` -> ``"complement adresse"``, ``"N° client"`` ->
    ``"n client"``, ``"firstName"`` -> ``"first name"``."""
    text = re.sub(r"([a-z])([A-Z])", r"\1 \2", text)   # camelCase
    text = unicodedata.normalize("NFKD", text.replace("œ", "oe").replace("æ", "ae"))
    text = "".join(c for c in text if not unicodedata.combining(c)).lower()
    words = re.sub(r"[^a-z0-9]+", " ", text).split()
    return " ".join(w for w in words if keep_stopwords or w not in _STOPWORDS)


@functools.lru_cache(maxsize=1)
def synonyms() -> dict[str, str]:
    """Folded synonym -> canonical field (or ``_record_id``), from ``resources/onboarding_synonyms.csv``."""
    text = resources.files("spark_lib").joinpath("resources", "onboarding_synonyms.csv").read_text(encoding="utf-8")
    rows = csv.DictReader(line for line in text.splitlines() if line and not line.startswith("#"))
    table = {}
    for row in rows:
        if row["field"] not in IDENTITY_FIELDS and row["field"] != "_record_id":
            raise ValueError(f"onboarding_synonyms.csv: unknown canonical field {row['field']!r}")
        table[fold_header(row["synonym"])] = row["field"]
    return table


@functools.lru_cache(maxsize=1)
def known_first_names() -> frozenset[str]:
    """Folded first names (the generator's list and the nickname table): content evidence for first names."""
    names = set()
    for resource, column in (("generator_first_names.csv", 0), ("french_nicknames.csv", 0), ("french_nicknames.csv", 1)):
        text = resources.files("spark_lib").joinpath("resources", resource).read_text(encoding="utf-8")
        for row in csv.reader(line for line in text.splitlines()[1:] if line and not line.startswith("#")):
            if len(row) > column:
                names.add(fold_header(row[column].split(";")[0]))
    return frozenset(n for n in names if n)


@dataclass(frozen=True)
class NameMatch:
    field: str
    synonym: str
    exact: bool

    @property
    def strength(self) -> tuple[int, int, int]:
        """Longer synonyms first, then exact matches, then synonyms listed earlier in the table (``date maj``
        before ``date creation`` for ``updated_at``)."""
        return (len(self.synonym.split()), int(self.exact), -list(synonyms()).index(self.synonym))


def field_from_name(column: str) -> NameMatch | None:
    """The canonical field a header names: equal to a synonym, or holding one as whole words (the longest
    wins); a dotted JSON path is read from its last part first (``adresse.ville`` is a city)."""
    parts = column.split(".")
    for candidate in ([parts[-1], column] if len(parts) > 1 else [column]):
        match = _match_synonym(fold_header(candidate.replace(".", " ")))
        if match:
            return match
    return None


def _match_synonym(folded: str) -> NameMatch | None:
    table = synonyms()
    if not folded:
        return None
    if folded in table:
        return NameMatch(table[folded], folded, True)
    squeezed = folded.replace(" ", "")
    for synonym, canonical in table.items():
        if synonym.replace(" ", "") == squeezed:
            return NameMatch(canonical, synonym, True)
    padded = f" {folded} "
    found = [NameMatch(c, s, False) for s, c in table.items() if f" {s} " in padded]
    return max(found, key=lambda m: (m.strength, padded.rindex(f" {m.synonym} ")), default=None)


# --------------------------------------------------------------------------------------------------
# Content
# --------------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Content:
    """What a column's sampled values look like."""

    filled: int
    kinds: dict[str, float]
    unique: bool
    #: for date columns: the Spark pattern the values follow, or None when undecidable
    date_format: str | None = None
    date_doubt: str | None = None
    #: the dates look like birth dates (no time, years mostly 15+ years ago)
    birth_like: bool = False

    def share(self, kind: str) -> float:
        return self.kinds.get(kind, 0.0)

    @property
    def main_kind(self) -> str | None:
        strong = [k for k in ("email", "phone", "date", "timestamp", "postcode", "civility", "consent")
                  if self.share(k) >= STRONG]
        return strong[0] if strong else None


def analyse_values(values: list[str | None], region: str = "FR") -> Content:
    """The content kinds of a column's sample: the share of its filled values that are emails, phones
    (``phonenumbers`` through :func:`spark_lib.standardise.phones.parse_phone`), dates, timestamps, postcodes,
    civilities, consents, known first names, names, and whether its values are unique."""
    filled = [v.strip() for v in values if v is not None and v.strip()]
    if not filled:
        return Content(0, {}, False)
    distinct = list(dict.fromkeys(filled))[:300]
    folded = [fold_header(v, keep_stopwords=True) for v in filled[:300]]
    kinds = {
        "email": _share(distinct, lambda v: bool(_EMAIL.match(v))),
        "phone": _share(distinct, lambda v: _is_phone(v, region)),
        "postcode": _share(distinct, lambda v: bool(_POSTCODE.match(v)) and 1000 <= int(v) < 99000),
        "civility": _share(distinct, lambda v: fold_header(v, keep_stopwords=True) in _CIVILITY_WORDS),
        "consent": _share(folded, lambda v: v in _CONSENT_WORDS) if len(set(folded)) <= 6 else 0.0,
        "first_name": _share(distinct, lambda v: fold_header(v) in known_first_names()),
        "name": _share(distinct, lambda v: bool(_NAME.match(v))),
        "timestamp": _share(distinct, lambda v: bool(_TIMESTAMP.match(v))),
        "address": _share(distinct, lambda v: bool(re.search(r"\d", v)) and bool(re.search(r"[^\W\d_]{3}", v))),
        "identifier": _share(distinct, lambda v: " " not in v and bool(re.search(r"\d", v)) and "@" not in v),
    }
    date_format, doubt, date_share, years = date_format_of(distinct)
    kinds["date"] = date_share
    this_year = dt.date.today().year
    birth_like = bool(years) and kinds["timestamp"] < 0.5 and sorted(years)[len(years) // 2] <= this_year - 15
    return Content(len(filled), kinds, len(set(filled)) == len(filled), date_format, doubt, birth_like)


def _share(values: list[str], test) -> float:
    return sum(1 for v in values if test(v)) / len(values) if values else 0.0


def _is_phone(value: str, region: str) -> bool:
    from spark_lib.standardise.phones import parse_phone

    if not _PHONE_SHAPE.match(value):
        return False
    e164, _ = parse_phone(value, region)
    return e164 is not None


def date_format_of(values: list[str]) -> tuple[str | None, str | None, float, list[int]]:
    """(Spark pattern, doubt, share of values that are dates, their years) of a sample of date strings.

    Day-first and month-first are told apart by a value whose first or second number is above 12: with
    none, the French ``dd/MM/yyyy`` is assumed and the doubt says so.

    Example::

        date_format_of(["03/04/1980", "25/12/1975"])   # ('dd/MM/yyyy', None, 1.0, [1980, 1975])
    """
    shapes: dict[str, int] = {}
    firsts, seconds, years = [], [], []
    separators = set()
    for value in values:
        date_part = value.split("T")[0].split(" ")[0]
        if m := _DMY.match(date_part):
            shapes["dmy"] = shapes.get("dmy", 0) + 1
            firsts.append(int(m[1]))
            seconds.append(int(m[2]))
            years.append(int(m[3]))
            separators.add(date_part[len(m[1])])
        elif m := _YMD.match(date_part):
            shapes["ymd"] = shapes.get("ymd", 0) + 1
            years.append(int(m[1]))
            separators.add(date_part[4])
        elif (m := _COMPACT.match(date_part)) and 1 <= int(m[2]) <= 12 and 1800 < int(m[1]) < 2100:
            shapes["compact"] = shapes.get("compact", 0) + 1
            years.append(int(m[1]))
        elif m := _DMY_SHORT.match(date_part):
            shapes["short"] = shapes.get("short", 0) + 1
            firsts.append(int(m[1]))
            seconds.append(int(m[2]))
    total = sum(shapes.values())
    if not total:
        return None, None, 0.0, []
    share = total / len(values)
    shape = max(shapes, key=shapes.get)
    doubt = f"several date layouts in the sample ({', '.join(sorted(shapes))})" if len(shapes) > 1 else None
    if shape == "ymd":
        sep = separators.pop() if len(separators) == 1 else "-"
        return f"yyyy{sep}MM{sep}dd", doubt, share, years
    if shape == "compact":
        return "yyyyMMdd", doubt, share, years
    sep = (separators.pop() if len(separators) == 1 else "/") if shape == "dmy" else "/"
    year = "yyyy" if shape == "dmy" else "yy"
    day_first, month_first = any(f > 12 for f in firsts), any(s > 12 for s in seconds)
    if day_first and month_first:
        return None, "some values read day first, others month first", share, years
    if month_first:
        return f"MM{sep}dd{sep}{year}", doubt, share, years
    if not day_first:
        doubt = doubt or "no day above 12 in the sample: day first (dd/MM) assumed, month first not excluded"
    return f"dd{sep}MM{sep}{year}", doubt, share, years


#: formats :func:`spark_lib.standardise.dates.parse_date` reads without being told (its DATE_SHAPES)
UNAIDED_DATE_FORMATS = {"dd/MM/yyyy", "dd-MM-yyyy", "dd.MM.yyyy", "yyyy-MM-dd", "yyyy/MM/dd", "yyyy.MM.dd",
                        "yyyyMMdd", "dd/MM/yy"}

# field -> content kinds that confirm it
_CONFIRMING = {
    "civility": ("civility",), "first_name": ("first_name",), "last_name": ("name",), "birth_name": ("name",),
    "full_name": ("name",), "birth_date": ("date",), "email": ("email",), "phone": ("phone",),
    "phone_2": ("phone",), "street": ("address",), "postcode": ("postcode",), "city": ("name",),
    "country": ("name",), "consent_email": ("consent",), "consent_sms": ("consent",),
    "consent_postal": ("consent",), "consent_date": ("date", "timestamp"), "updated_at": ("date", "timestamp"),
    "loyalty_card": ("identifier",), "account_id": ("identifier",), "customer_ref": ("identifier",),
    "cookie_id": ("identifier",), "house_number": ("identifier",),
}
# content kinds strong enough to map a column whose name says nothing, or contradicts them
_CONTENT_FIELDS = {"email": "email", "phone": "phone", "postcode": "postcode", "civility": "civility"}


def confirmed(canonical: str, content: Content) -> bool:
    """Whether the values agree with ``canonical`` (half of them at least of a confirming kind)."""
    if canonical == "birth_date":
        return content.share("date") >= STRONG and content.birth_like
    if canonical == "first_name":
        return content.share("first_name") >= 0.3 or (content.share("name") >= STRONG and content.share("first_name") > 0)
    kinds = _CONFIRMING.get(canonical, ())
    return any(content.share(k) >= (STRONG if k in ("email", "phone", "date", "postcode") else 0.5) for k in kinds)


def field_from_content(content: Content, name_field: str | None) -> str | None:
    """The field the values alone point to, when they are clear: emails, phones, postcodes, civilities,
    birth dates, known first names."""
    kind = content.main_kind
    if kind in _CONTENT_FIELDS:
        return _CONTENT_FIELDS[kind]
    if kind == "date" and content.birth_like:
        return "birth_date"
    if content.share("first_name") >= 0.6 and name_field is None:
        return "first_name"
    return None


# --------------------------------------------------------------------------------------------------
# Proposal
# --------------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Choice:
    column: str
    doubt: str | None = None


@dataclass
class SourceMapping:
    """A source's proposed mapping: canonical field -> column, and the rest of its ``sources.yaml`` entry."""

    fields: dict[str, Choice] = field(default_factory=dict)
    record_id: Choice | None = None
    records_repeat: bool = False
    channel: Choice = Choice("offline", "guessed")
    birth_date_format: Choice | None = None
    unmapped: list[str] = field(default_factory=list)


@dataclass(frozen=True)
class _Candidate:
    field: str
    column: str
    rank: tuple
    doubt: str | None


def _candidate(column: str, content: Content) -> _Candidate | None:
    name = field_from_name(column)
    by_name = name.field if name and name.field != "_record_id" else None
    by_content = field_from_content(content, by_name)
    if content.filled == 0:
        return _Candidate(by_name, column, (0, 0), "the sample holds no value: the header alone chose") if by_name else None
    if by_name and confirmed(by_name, content):
        return _Candidate(by_name, column, (3, name.strength), None)
    if by_name and by_content and by_content != by_name and not _compatible(by_name, by_content):
        return _Candidate(by_content, column, (2, 0),
                          f"the header says {by_name} but the values look like {by_content} ({_share_text(content, by_content)})")
    if by_name:
        if by_name in _CONTENT_LESS:
            return _Candidate(by_name, column, (3, name.strength), None)
        return _Candidate(by_name, column, (2, name.strength), f"the values do not confirm {by_name}")
    if by_content:
        return _Candidate(by_content, column, (1, 0),
                          f"the header says nothing known; the values look like {by_content} ({_share_text(content, by_content)})")
    return None


# fields whose values are free text: a header naming them is enough when the values do not contradict it
_CONTENT_LESS = {"address_extra", "house_number", "country", "city", "last_name", "birth_name", "full_name"}


def _compatible(by_name: str, by_content: str) -> bool:
    return {by_name, by_content} <= {"phone", "phone_2"} or (by_name, by_content) in {
        ("updated_at", "birth_date"), ("consent_date", "birth_date"), ("first_name", "civility")}


def _share_text(content: Content, canonical: str) -> str:
    kind = {"birth_date": "date", "first_name": "first_name"}.get(canonical, canonical)
    return f"{content.share(kind):.0%} of the sampled values"


def propose_mapping(columns: list[str], samples: dict[str, list[str | None]], hints: str = "",
                    region: str = "FR") -> SourceMapping:
    """The canonical fields of a source's ``columns`` from their names and ``samples``, its record id,
    channel and birth-date format, each with its doubt. ``hints``: the file path, which may say "magasin"."""
    contents = {c: analyse_values(samples.get(c, []), region) for c in columns}
    candidates = [c for c in (_candidate(column, contents[column]) for column in columns) if c]
    mapping = SourceMapping()
    by_field: dict[str, list[_Candidate]] = {}
    for candidate in candidates:
        by_field.setdefault(candidate.field, []).append(candidate)
    for canonical, found in by_field.items():
        found.sort(key=lambda c: c.rank, reverse=True)
        best, others = found[0], found[1:]
        if canonical == "phone" and others and "phone_2" not in by_field:
            second = others.pop(0)
            mapping.fields["phone_2"] = Choice(second.column, second.doubt)
        doubt = best.doubt
        if others:
            doubt = "; ".join(filter(None, [doubt, f"other candidate column(s): {', '.join(o.column for o in others)}"]))
        mapping.fields[canonical] = Choice(best.column, doubt)
    if "phone_2" in mapping.fields and "phone" not in mapping.fields:
        mapping.fields["phone"] = mapping.fields.pop("phone_2")
    if {"full_name", "last_name"} <= set(mapping.fields) or {"full_name", "first_name"} <= set(mapping.fields):
        mapping.fields.pop("full_name")
    _choose_birth_date_format(mapping, contents)
    _choose_record_id(mapping, columns, contents)
    mapping.channel = _guess_channel(mapping, columns, hints)
    used = {choice.column for choice in mapping.fields.values()} | {mapping.record_id.column if mapping.record_id else None}
    mapping.unmapped = [c for c in columns if c not in used]
    mapping.fields = {f: mapping.fields[f] for f in IDENTITY_FIELDS if f in mapping.fields}
    return mapping


def _choose_birth_date_format(mapping: SourceMapping, contents: dict[str, Content]) -> None:
    choice = mapping.fields.get("birth_date")
    if choice is None:
        return
    content = contents[choice.column]
    fmt, doubt = content.date_format, content.date_doubt
    if fmt is None and doubt:
        mapping.fields["birth_date"] = Choice(choice.column, "; ".join(filter(None, [choice.doubt, doubt])))
    elif fmt not in UNAIDED_DATE_FORMATS:
        mapping.birth_date_format = Choice(fmt, doubt)
    elif doubt:
        mapping.fields["birth_date"] = Choice(choice.column, "; ".join(filter(None, [choice.doubt, doubt])))


def _choose_record_id(mapping: SourceMapping, columns: list[str], contents: dict[str, Content]) -> None:
    """A column unique in the sample, preferring id-like names and the source's own identifiers."""
    def id_like(column: str) -> int:
        name = field_from_name(column)
        if name and name.field in ("customer_ref", "account_id", "loyalty_card"):
            return 3
        if name and name.field == "_record_id":
            return 2
        return 1 if re.search(r"(^|[^a-z])(id|code|num|ref|key|uuid)", fold_header(column, True)) else 0

    filled_rows = max((c.filled for c in contents.values()), default=0)
    unique = [c for c in columns if contents[c].unique and contents[c].filled == filled_rows and filled_rows]
    ranked = sorted(unique, key=lambda c: (id_like(c), contents[c].share("identifier")), reverse=True)
    if ranked and id_like(ranked[0]):
        mapping.record_id = Choice(ranked[0])
        return
    if ranked:
        reason = "guessed: no id-like column name; this column's values are unique in the sample"
        mapping.record_id = Choice(ranked[0], reason)
        return
    id_columns = sorted(columns, key=id_like, reverse=True)
    if id_columns and id_like(id_columns[0]):
        mapping.record_id = Choice(id_columns[0], "guessed: its values repeat in the sample, read as one record "
                                                  "per id (records_repeat: true)")
        mapping.records_repeat = True
        return
    fallback = mapping.fields.get("email") or (Choice(columns[0]) if columns else None)
    if fallback:
        mapping.record_id = Choice(fallback.column, "guessed: no column identifies the records; give one")


def _guess_channel(mapping: SourceMapping, columns: list[str], hints: str) -> Choice:
    text = fold_header(" ".join([hints, *columns]), keep_stopwords=True)
    store = sorted({h for h in _STORE_HINTS if re.search(rf"\b{h}s?\b", text)})
    online = [f for f in ("email", "account_id", "cookie_id") if f in mapping.fields]
    if online and not store:
        return Choice("online", f"guessed: {', '.join(online)} and no store or receipt hint")
    if store:
        return Choice("offline", f"guessed: store hints ({', '.join(store)})")
    return Choice("offline", "guessed: no email, account or cookie")
