"""Turn true values into strings as a retailer's export delivers them, with the noise of each source.

Everything works on whole columns (numpy index arrays in, pyarrow string arrays out). Noise that needs
character-level work (typos, ``Jean.Dupont@Gmail.com``) touches a few percent of the rows and is done in
Python on that subset only, with random numbers drawn up front so that the result depends on the seed alone.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Callable, Sequence

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

from spark_lib.generator.resources import COUNTRIES, RNVP_TYPES, STREET_TYPES, Vocab

STRING = pa.string()
NULL = pa.scalar(None, STRING)
_TWO = pa.array([f"{i:02d}" for i in range(100)], STRING)
_ONE = pa.array([str(i) for i in range(10)], STRING)
SECONDS_PER_DAY = 86_400

# --------------------------------------------------------------------------------------------------
# Column helpers
# --------------------------------------------------------------------------------------------------


def strings(values: Sequence[str | None]) -> pa.Array:
    return pa.array(values, STRING)


def take(values: pa.Array, idx: np.ndarray) -> pa.Array:
    """``values[idx]``; negative indices give null."""
    idx = np.asarray(idx)
    if idx.size and idx.min() < 0:
        return pc.take(values, pa.array(idx, mask=idx < 0))
    return pc.take(values, idx)


def where(mask: np.ndarray, a, b) -> pa.Array:
    return pc.if_else(pa.array(np.asarray(mask, dtype=bool)), a, b)


def concat(*parts) -> pa.Array:
    """Element-wise concatenation; a null part makes the result null."""
    return pc.binary_join_element_wise(*parts, "")


def concat_skip(*parts) -> pa.Array:
    """Element-wise concatenation; null parts count as empty."""
    return pc.binary_join_element_wise(*parts, "", null_handling="replace", null_replacement="")


def blank(rng: np.random.Generator, values: pa.Array, p: float) -> pa.Array:
    """Set a share ``p`` of the values to null (a field left empty)."""
    if p <= 0:
        return values
    return where(rng.random(len(values)) < p, NULL, values)


def null_where(mask: np.ndarray, values: pa.Array) -> pa.Array:
    return where(mask, NULL, values)


def int_str(values: np.ndarray) -> pa.Array:
    return pc.cast(pa.array(np.asarray(values, dtype=np.int64)), STRING)


def padded(values: np.ndarray, width: int) -> pa.Array:
    return pc.utf8_lpad(int_str(values), width=width, padding="0")


def strip_accents(values: pa.Array) -> pa.Array:
    out = pc.utf8_normalize(values, form="NFD")
    out = pc.replace_substring_regex(out, pattern=r"\p{Mn}", replacement="")
    for src, dst in (("œ", "oe"), ("Œ", "OE"), ("æ", "ae"), ("Æ", "AE")):
        out = pc.replace_substring(out, pattern=src, replacement=dst)
    return out


def upper(values: pa.Array) -> pa.Array:
    """Upper case as a back office writes it: "Straße" -> "STRASSE" (not the capital ẞ, which cp1252 lacks)."""
    return pc.replace_substring(pc.utf8_upper(values), "ẞ", "SS")


def choose(rng: np.random.Generator, n: int, probs: Sequence[float]) -> np.ndarray:
    probs = np.asarray(probs, dtype=np.float64)
    cdf = np.cumsum(probs / probs.sum())
    return np.minimum(np.searchsorted(cdf, rng.random(n), side="right"), len(probs) - 1).astype(np.int8)


def by_code(codes: np.ndarray, builders: Sequence[Callable[[np.ndarray], pa.Array]]) -> pa.Array:
    """Build each row with ``builders[codes[row]]`` (each builder gets the row numbers it must render)."""
    codes = np.asarray(codes)
    order = np.argsort(codes, kind="stable")
    chunks = []
    sorted_codes = codes[order]
    bounds = np.searchsorted(sorted_codes, np.arange(len(builders) + 1))
    for code, builder in enumerate(builders):
        rows = order[bounds[code] : bounds[code + 1]]
        if len(rows):
            chunks.append(builder(rows).cast(STRING))
    if not chunks:
        return pa.array([], STRING)
    joined = pa.concat_arrays(chunks)
    inverse = np.empty(len(codes), dtype=np.int64)
    inverse[order] = np.arange(len(codes))
    return pc.take(joined, inverse)


def replace_rows(values: pa.Array, rows: np.ndarray, new_values: Sequence[str | None]) -> pa.Array:
    """Replace ``values[rows]`` (sorted, distinct) by ``new_values``."""
    if len(rows) == 0:
        return values
    mask = np.zeros(len(values), dtype=bool)
    mask[rows] = True
    order = np.argsort(rows, kind="stable")
    ordered = [new_values[i] for i in order]
    return pc.replace_with_mask(values, pa.array(mask), pa.array(ordered, STRING))


def map_rows(rng: np.random.Generator, values: pa.Array, p: float, fn: Callable[[str, np.ndarray], str]) -> pa.Array:
    """Apply ``fn(value, randoms)`` to a random share ``p`` of the non-null values (randoms: 4 uniforms)."""
    if p <= 0 or len(values) == 0:
        return values
    rows = np.flatnonzero(rng.random(len(values)) < p)
    if len(rows) == 0:
        return values
    draws = rng.random((len(rows), 4))
    old = values.take(pa.array(rows)).to_pylist()
    new = [fn(v, draws[i]) if v else v for i, v in enumerate(old)]
    return replace_rows(values, rows, new)


# --------------------------------------------------------------------------------------------------
# Typos and case
# --------------------------------------------------------------------------------------------------

_AZERTY = {
    "a": "zqs", "z": "aes", "e": "zrd", "r": "etf", "t": "ryg", "y": "tuh", "u": "yij", "i": "uok", "o": "ipl",
    "p": "om", "q": "asw", "s": "qdz", "d": "sfe", "f": "dgr", "g": "fht", "h": "gjy", "j": "hku", "k": "jli",
    "l": "kmo", "m": "lp", "w": "xq", "x": "wc", "c": "xv", "v": "cb", "b": "vn", "n": "b",
}


def typo(value: str, r: np.ndarray) -> str:
    """One keyboard slip: substitution by an AZERTY neighbour, transposition, deletion or doubled letter."""
    letters = [i for i, c in enumerate(value) if c.isalpha()]
    if len(letters) < 3:
        return value
    i = letters[1 + int(r[1] * (len(letters) - 1)) if len(letters) > 1 else 0]
    i = min(i, len(value) - 1)
    op = int(r[0] * 4)
    if op == 0:
        c = value[i]
        near = _AZERTY.get(c.lower())
        if not near:
            return value[:i] + value[i + 1 :]
        n = near[int(r[2] * len(near))]
        return value[:i] + (n.upper() if c.isupper() else n) + value[i + 1 :]
    if op == 1 and i + 1 < len(value) and value[i + 1].isalpha() and value[i + 1] != value[i]:
        return value[:i] + value[i + 1] + value[i] + value[i + 2 :]
    if op == 3:
        return value[: i + 1] + value[i] + value[i + 1 :]
    return value[:i] + value[i + 1 :]


def typos(rng: np.random.Generator, values: pa.Array, p: float) -> pa.Array:
    return map_rows(rng, values, p, typo)


@dataclass(frozen=True)
class TextStyle:
    """How a source writes free text: case, accents, and how often it slips."""

    upper: float = 0.05          # ÉLODIE / ELODIE
    lower: float = 0.03          # élodie
    no_accents: float = 0.10     # share of mixed-case values typed without accents
    upper_no_accents: float = 0.7  # share of upper-case values without accents (most back offices)
    typo: float = 0.01
    missing: float = 0.0


def styled(rng: np.random.Generator, values: pa.Array, style: TextStyle, case_codes: np.ndarray | None = None):
    """Apply case and accent habits; returns (values, case_codes) so related fields can share the case."""
    n = len(values)
    if case_codes is None:
        case_codes = choose(rng, n, [1 - style.upper - style.lower, style.upper, style.lower])
    out = values
    if style.upper > 0:
        out = where(case_codes == 1, upper(values), out)
    if style.lower > 0:
        out = where(case_codes == 2, pc.utf8_lower(values), out)
    drop = np.where(case_codes == 1, rng.random(n) < style.upper_no_accents, rng.random(n) < style.no_accents)
    if drop.any():
        out = where(drop, strip_accents(out), out)
    if style.typo > 0:
        out = typos(rng, out, style.typo)
    if style.missing > 0:
        out = blank(rng, out, style.missing)
    return out, case_codes


# --------------------------------------------------------------------------------------------------
# Names
# --------------------------------------------------------------------------------------------------


def first_names(
    rng: np.random.Generator,
    vocab: Vocab,
    idx: np.ndarray,
    style: TextStyle,
    nickname: float = 0.0,
    first_part: float = 0.0,
    hyphen_space: float = 0.0,
    case_codes: np.ndarray | None = None,
) -> pa.Array:
    """First names: nicknames (Fred), first part only of compound names (Jean), "Jean Pierre" without hyphen."""
    idx = np.asarray(idx, dtype=np.int32).copy()
    n = len(idx)
    if nickname > 0:
        nick = vocab.nick_idx[idx]
        m = (rng.random(n) < nickname) & (nick >= 0)
        idx[m] = nick[m]
    if first_part > 0:
        part = vocab.first_part_idx[idx]
        m = (rng.random(n) < first_part) & (part >= 0)
        idx[m] = part[m]
    values = take(vocab.first_arr, idx)
    if hyphen_space > 0:
        values = where(rng.random(n) < hyphen_space, pc.replace_substring(values, "-", " "), values)
    out, _ = styled(rng, values, style, case_codes)
    return out


def last_names(
    rng: np.random.Generator,
    vocab: Vocab,
    idx: np.ndarray,
    style: TextStyle,
    collapse_particles: float = 0.0,
    case_codes: np.ndarray | None = None,
) -> pa.Array:
    """Last names; ``collapse_particles``: "Le Goff" -> "Legoff", "D'Almeida" -> "Dalmeida" or "D Almeida"."""
    values = take(vocab.last_arr, idx)
    if collapse_particles > 0:
        n = len(values)
        code = np.where(rng.random(n) < collapse_particles, 1 + (rng.random(n) < 0.3), 0)
        joined = pc.replace_substring_regex(values, pattern=r"[ '’]", replacement="")
        joined = pc.utf8_capitalize(joined)
        spaced = pc.replace_substring(values, pattern="'", replacement=" ")
        values = where(code == 1, joined, where(code == 2, spaced, values))
    out, _ = styled(rng, values, style, case_codes)
    return out


def swap(rng: np.random.Generator, first: pa.Array, last: pa.Array, p: float) -> tuple[pa.Array, pa.Array]:
    """First and last name typed in each other's field."""
    if p <= 0:
        return first, last
    m = rng.random(len(first)) < p
    return where(m, last, first), where(m, first, last)


_CIVILITY_FORMS = {
    # source style -> (forms for men, weights), (forms for women, weights), (forms for young unmarried women)
    "web": ((("M.", "Mr", "Monsieur", "M", None), (0.68, 0.10, 0.09, 0.03, 0.10)),
            (("Mme", "Madame", "Mme.", "MME", None), (0.70, 0.12, 0.04, 0.04, 0.10)),
            (("Mlle", "Mme", "Mademoiselle"), (0.45, 0.45, 0.10))),
    "backoffice": ((("M", "MR", "M.", "MONSIEUR", None), (0.70, 0.10, 0.08, 0.05, 0.07)),
                   (("MME", "MADAME", "Mme", "MLLE", None), (0.75, 0.08, 0.05, 0.05, 0.07)),
                   (("MLLE", "MME"), (0.6, 0.4))),
    "crm": ((("M.", "Monsieur", "M", "Mr", None), (0.55, 0.25, 0.08, 0.04, 0.08)),
            (("MME", "Madame", "Mme", "Mlle", None), (0.45, 0.25, 0.17, 0.05, 0.08)),
            (("Mlle", "Mme", "MLLE"), (0.5, 0.35, 0.15))),
    "rnvp": ((("M",), (1.0,)), (("MME",), (1.0,)), (("MME", "MLLE"), (0.8, 0.2))),
}


def civilities(
    rng: np.random.Generator, sex: np.ndarray, young_unmarried: np.ndarray, style: str, wrong: float = 0.005
) -> pa.Array:
    """Civility as the source writes it (M., Mr, Monsieur, Mme, Madame, Mlle, MME, blank)."""
    men, women, misses = _CIVILITY_FORMS[style]
    n = len(sex)
    sex = np.where(rng.random(n) < wrong, 1 - sex, sex)
    group = np.where(sex == 0, 0, np.where(young_unmarried, 2, 1))

    def build(forms, weights):
        table = strings(list(forms))
        return lambda rows: take(table, choose(rng, len(rows), weights).astype(np.int64))

    return by_code(group, [build(*men), build(*women), build(*misses)])


# --------------------------------------------------------------------------------------------------
# Phones
# --------------------------------------------------------------------------------------------------

#: National significant numbers are stored as int64 with 9 digits (612345678 for 06 12 34 56 78).
PHONE_FORMATS = (
    "0612345678", "06 12 34 56 78", "+33612345678", "+33 6 12 34 56 78", "0033 6 12 34 56 78",
    "06.12.34.56.78", "06-12-34-56-78", "33612345678", "612345678", "0033612345678",
)
PLACEHOLDER_PHONES = ("0000000000", "0600000000", "0123456789", "0606060606", "0000000001")


def _phone_parts(nsn: np.ndarray):
    nsn = np.asarray(nsn, dtype=np.int64)
    a = take(_ONE, nsn // 100_000_000 % 10)
    pairs = [take(_TWO, (nsn // 10 ** k) % 100) for k in (6, 4, 2, 0)]
    return a, pairs


def _phone_builder(fmt: int, nsn: np.ndarray):
    def build(rows: np.ndarray) -> pa.Array:
        a, (p1, p2, p3, p4) = _phone_parts(nsn[rows])
        if fmt == 0:
            return concat("0", a, p1, p2, p3, p4)
        if fmt == 1:
            return pc.binary_join_element_wise(concat("0", a), p1, p2, p3, p4, " ")
        if fmt == 2:
            return concat("+33", a, p1, p2, p3, p4)
        if fmt == 3:
            return pc.binary_join_element_wise(concat("+33 ", a), p1, p2, p3, p4, " ")
        if fmt == 4:
            return pc.binary_join_element_wise(concat("0033 ", a), p1, p2, p3, p4, " ")
        if fmt == 5:
            return pc.binary_join_element_wise(concat("0", a), p1, p2, p3, p4, ".")
        if fmt == 6:
            return pc.binary_join_element_wise(concat("0", a), p1, p2, p3, p4, "-")
        if fmt == 7:
            return concat("33", a, p1, p2, p3, p4)
        if fmt == 8:
            return concat(a, p1, p2, p3, p4)
        return concat("0033", a, p1, p2, p3, p4)

    return build


def phones(
    rng: np.random.Generator,
    nsn: np.ndarray,
    formats: Sequence[float],
    placeholder: float = 0.0,
    missing: float = 0.0,
) -> pa.Array:
    """Render phone numbers (0 = none -> null) in a mix of the formats of :data:`PHONE_FORMATS`."""
    nsn = np.asarray(nsn, dtype=np.int64)
    n = len(nsn)
    weights = list(formats) + [0.0] * (len(PHONE_FORMATS) - len(formats))
    codes = choose(rng, n, weights)
    out = by_code(codes, [_phone_builder(f, nsn) for f in range(len(PHONE_FORMATS))])
    abroad = nsn >= ABROAD_PHONE
    if abroad.any():
        rows = np.flatnonzero(abroad)
        out = replace_rows(out, rows, [foreign_phone(int(nsn[i]), int(codes[i])) for i in rows])
    out = null_where(nsn <= 0, out)
    if placeholder > 0:
        m = rng.random(n) < placeholder
        out = where(m, take(strings(PLACEHOLDER_PHONES), rng.integers(0, len(PLACEHOLDER_PHONES), n)), out)
    return blank(rng, out, missing)


def e164(nsn: np.ndarray) -> pa.Array:
    nsn = np.asarray(nsn, dtype=np.int64)
    out = null_where(nsn <= 0, concat("+33", int_str(nsn)))
    abroad = np.flatnonzero(nsn >= ABROAD_PHONE)
    return replace_rows(out, abroad, [foreign_phone(int(nsn[i]), 2) for i in abroad])


#: Numbers abroad are stored as ``country * ABROAD_PHONE + national significant number`` (country: index in
#: COUNTRIES), e.g. 1_000_470_123_456 for +32 470 12 34 56; French numbers stay below it.
ABROAD_PHONE = 10 ** 12


def phone_abroad(country: int, national_number: int) -> int:
    return country * ABROAD_PHONE + national_number


def foreign_phone(value: int, fmt: int) -> str:
    """A number abroad written the way :data:`PHONE_FORMATS`[fmt] writes a French one: national ("0470 12 34 56",
    "0470123456", "0470.12.34.56") or international ("+32 470 12 34 56", "+32470123456", "0032 470 12 34 56")."""
    import phonenumbers

    region = COUNTRIES[value // ABROAD_PHONE]
    number = phonenumbers.PhoneNumber(country_code=phonenumbers.country_code_for_region(region),
                                      national_number=value % ABROAD_PHONE)
    national = phonenumbers.format_number(number, phonenumbers.PhoneNumberFormat.NATIONAL)
    if fmt in (2, 7):
        return phonenumbers.format_number(number, phonenumbers.PhoneNumberFormat.E164)
    if fmt == 3:
        return phonenumbers.format_number(number, phonenumbers.PhoneNumberFormat.INTERNATIONAL)
    if fmt == 4:
        return "00" + phonenumbers.format_number(number, phonenumbers.PhoneNumberFormat.INTERNATIONAL)[1:]
    if fmt == 9:
        return "00" + phonenumbers.format_number(number, phonenumbers.PhoneNumberFormat.E164)[1:]
    if fmt == 0:
        return national.replace(" ", "")
    if fmt == 5:
        return national.replace(" ", ".")
    if fmt == 6:
        return national.replace(" ", "-")
    return national


# --------------------------------------------------------------------------------------------------
# Emails
# --------------------------------------------------------------------------------------------------

DOMAIN_TYPOS = {
    "gmail.com": ("gmial.com", "gmal.com", "gmail.fr", "gmail.con", "gmaill.com", "gmai.com"),
    "hotmail.fr": ("hotmial.fr", "hotmal.fr", "hotmail.fe", "homail.fr"),
    "hotmail.com": ("hotmial.com", "hotmal.com"),
    "yahoo.fr": ("yaho.fr", "yahou.fr", "yahoo.ff"),
    "wanadoo.fr": ("wanado.fr", "wanadoo.fe", "wannadoo.fr"),
    "orange.fr": ("orage.fr", "ornage.fr", "orange.fe"),
    "laposte.net": ("laposte.fr", "lapost.net"),
    "free.fr": ("fre.fr", "free.fe"),
    "sfr.fr": ("sfr.fe", "srf.fr"),
    "outlook.fr": ("outlok.fr", "outloook.fr"),
    "icloud.com": ("iclou.com", "icloud.fr"),
    "live.fr": ("live.fe", "liv.fr"),
}
PLACEHOLDER_EMAILS = (
    "test@test.fr", "aucun@aucun.fr", "pasdemail@gmail.com", "nc@nc.fr", "x@x.fr", "aucun@gmail.com",
    "noreply@noreply.fr", "refus@refus.fr",
)


def _email_case(value: str, r: np.ndarray) -> str:
    local, _, domain = value.partition("@")
    if r[1] < 0.6:   # Jean.Dupont@Gmail.com
        local = ".".join(p[:1].upper() + p[1:] for p in local.split("."))
        return f"{local}@{domain[:1].upper()}{domain[1:]}" if r[2] < 0.6 else f"{local}@{domain}"
    if r[1] < 0.85:
        return value.upper()
    return value[:1].upper() + value[1:]


def _email_domain_typo(value: str, r: np.ndarray) -> str:
    local, _, domain = value.partition("@")
    options = DOMAIN_TYPOS.get(domain.lower())
    if not options:
        return typo(value, r)
    return f"{local}@{options[int(r[1] * len(options))]}"


def _email_dots(value: str, r: np.ndarray) -> str:
    local, _, domain = value.partition("@")
    if domain != "gmail.com":
        return value
    if "." in local:
        return local.replace(".", "") + "@" + domain
    return value


@dataclass(frozen=True)
class EmailStyle:
    case: float = 0.03            # Jean.Dupont@Gmail.com, JEAN.DUPONT@GMAIL.COM
    domain_typo: float = 0.01     # gmial.com, wanado.fr
    local_typo: float = 0.004     # jean.duont@...
    gmail_dots: float = 0.01      # jeandupont@gmail.com for jean.dupont@gmail.com
    spaces: float = 0.003         # " jean.dupont@gmail.com "
    placeholder: float = 0.0      # test@test.fr, aucun@aucun.fr
    missing: float = 0.0


def emails(rng: np.random.Generator, base: pa.Array, style: EmailStyle) -> pa.Array:
    """Render true emails (lower case, null = none) as typed into a source."""
    out = map_rows(rng, base, style.case, _email_case)
    out = map_rows(rng, out, style.domain_typo, _email_domain_typo)
    out = map_rows(rng, out, style.local_typo, typo)
    out = map_rows(rng, out, style.gmail_dots, _email_dots)
    out = map_rows(rng, out, style.spaces, lambda v, r: f" {v} " if r[1] < 0.5 else f"{v} ")
    n = len(out)
    if style.placeholder > 0:
        m = rng.random(n) < style.placeholder
        out = where(m, take(strings(PLACEHOLDER_EMAILS), rng.integers(0, len(PLACEHOLDER_EMAILS), n)), out)
    return blank(rng, out, style.missing)


# --------------------------------------------------------------------------------------------------
# Addresses
# --------------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class AddressStyle:
    """How a source writes a postal address."""

    text: TextStyle = TextStyle()
    abbreviate_type: float = 0.25     # av., bd, r, pl, che, imp, all, rte, fbg
    saint_abbrev: float = 0.2         # St-Martin / Ste-Anne
    comma_after_number: float = 0.03  # "12, rue de la Paix"
    no_number: float = 0.005
    postcode_drop_zero: float = 0.0   # "1000" for "01000" (a spreadsheet ate the zero)
    postcode_typo: float = 0.003
    city_hyphen_space: float = 0.15   # SAINT ETIENNE
    city_arrondissement: float = 0.25  # PARIS 15, Paris 15e
    cedex: float = 0.003
    extra_missing: float = 0.1
    rnvp: bool = False                 # La Poste norm: upper case, no accents, standard abbreviations


@dataclass
class Address:
    """True address fields for a set of records (numpy arrays aligned with the records)."""

    number: np.ndarray       # int
    suffix: np.ndarray       # 0 none, 1 bis, 2 ter
    stype: np.ndarray        # index in STREET_TYPES
    street: np.ndarray       # index in vocab.streets
    extra: pa.Array          # string or null
    city: np.ndarray         # index in vocab.cities

    def take(self, rows: np.ndarray) -> Address:
        return Address(number=self.number[rows], suffix=self.suffix[rows], stype=self.stype[rows],
                       street=self.street[rows], extra=take(self.extra, rows), city=self.city[rows])

    def with_rows(self, rows: np.ndarray, values: Address) -> Address:
        """A copy whose distinct ``rows`` hold ``values`` (one address per row)."""
        out = {}
        for name in ("number", "suffix", "stype", "street", "city"):
            column = getattr(self, name).copy()
            column[rows] = getattr(values, name)
            out[name] = column
        order = np.argsort(rows, kind="stable")
        mask = np.zeros(len(self.number), dtype=bool)
        mask[rows] = True
        extra = pc.replace_with_mask(self.extra, pa.array(mask), values.extra.take(pa.array(order)).cast(STRING))
        return Address(extra=extra, **out)


_TYPE_FULL = strings([t for t, _, _ in STREET_TYPES])
_TYPE_RNVP = strings(list(RNVP_TYPES))
_ABBREV_TABLE = [strings(list(forms)) for _, _, forms in STREET_TYPES]
_SUFFIX = strings(["", " bis", " ter"])
_SUFFIX_ALT = strings(["", "B", "T"])


def street_lines(rng: np.random.Generator, vocab: Vocab, addr: Address, style: AddressStyle) -> pa.Array:
    """One address line with the number: "12 bis av. de la République"."""
    n = len(addr.number)
    if style.rnvp:
        type_ = take(_TYPE_RNVP, addr.stype)
    else:
        abbrev = rng.random(n) < style.abbreviate_type
        pick = rng.random(n)

        def build_type(t: int):
            forms = _ABBREV_TABLE[t]
            return lambda rows: take(forms, (pick[rows] * len(forms)).astype(np.int64))

        abbreviated = by_code(addr.stype, [build_type(t) for t in range(len(STREET_TYPES))])
        type_ = where(abbrev, abbreviated, take(_TYPE_FULL, addr.stype))
    name = take(vocab.streets_arr, addr.street)
    saint = rng.random(n) < (1.0 if style.rnvp else style.saint_abbrev)
    name = where(
        saint,
        pc.replace_substring_regex(
            pc.replace_substring_regex(name, pattern=r"\bSainte-", replacement="Ste-"),
            pattern=r"\bSaint-",
            replacement="St-",
        ),
        name,
    )
    suffix = where(rng.random(n) < 0.3, take(_SUFFIX_ALT, addr.suffix), take(_SUFFIX, addr.suffix))
    number = concat(int_str(addr.number), suffix)
    if not style.rnvp:
        number = where(rng.random(n) < style.comma_after_number, concat(number, ","), number)
    line = pc.binary_join_element_wise(number, type_, name, " ")
    no_number = rng.random(n) < style.no_number
    line = where(no_number, pc.binary_join_element_wise(type_, name, " "), line)
    abroad = vocab.foreign_streets(addr.street)
    if abroad is not None and abroad.any():
        line = where(abroad, _foreign_street_lines(rng, vocab, addr, name, no_number), line)
    if style.rnvp:
        line = strip_accents(upper(pc.replace_substring(line, "-", " ")))
        line = pc.replace_substring(line, "'", " ")
        return line
    out, _ = styled(rng, line, style.text)
    return out


def _foreign_street_lines(rng, vocab: Vocab, addr: Address, name: pa.Array, no_number: np.ndarray) -> pa.Array:
    """Street lines abroad: the number after the street ("Hauptstraße 12", "Calle Mayor, 12"), before it in
    Great Britain ("221B Baker Street"); French clerks put it first for a few Belgians, Swiss and Luxembourgers."""
    n = len(addr.number)
    country = vocab.street_country[addr.street]
    gb = country == COUNTRIES.index("GB")
    letter = take(strings(["", "A", "B", "a", "b"]), np.where(rng.random(n) < 0.04, rng.integers(1, 5, n), 0))
    number = concat(int_str(addr.number), letter)
    french_order = np.isin(country, [COUNTRIES.index(c) for c in ("BE", "CH", "LU")]) & (rng.random(n) < 0.12)
    comma = (country == COUNTRIES.index("ES")) & (rng.random(n) < 0.6)
    after = concat(name, where(comma, ", ", " "), number)
    before = pc.binary_join_element_wise(number, name, " ")
    return where(no_number, name, where(gb | french_order, before, after))


def address_extras(rng: np.random.Generator, addr: Address, style: AddressStyle) -> pa.Array:
    extra = addr.extra
    if style.rnvp:
        return strip_accents(upper(extra))
    out, _ = styled(rng, extra, TextStyle(style.text.upper, style.text.lower, style.text.no_accents, 0.7, 0, 0))
    return blank(rng, out, style.extra_missing)


def postcodes(rng: np.random.Generator, vocab: Vocab, addr: Address, style: AddressStyle) -> pa.Array:
    out = take(vocab.postcodes_arr, addr.city)
    n = len(out)
    if style.postcode_drop_zero > 0:
        drop = (rng.random(n) < style.postcode_drop_zero) & pc.starts_with(out, "0").to_numpy(zero_copy_only=False)
        out = where(drop, pc.utf8_slice_codeunits(out, 1), out)
    abroad = vocab.foreign_cities(addr.city)
    if abroad is not None and abroad.any():
        lu = (vocab.city_country[addr.city] == COUNTRIES.index("LU")) & (rng.random(n) < 0.6)
        out = where(lu, concat("L-", out), out)
    if style.postcode_typo > 0:
        out = map_rows(rng, out, style.postcode_typo, digit_typo)
    return out


def digit_typo(value: str, r: np.ndarray) -> str:
    i = 2 + int(r[1] * (len(value) - 2))
    i = min(i, len(value) - 1)
    return value[:i] + str(int(r[2] * 10)) + value[i + 1 :]


def cities(rng: np.random.Generator, vocab: Vocab, addr: Address, style: AddressStyle) -> pa.Array:
    """City: "Saint-Étienne", "SAINT ETIENNE", "ST ETIENNE", "Paris 15e", "PARIS 15", "LYON CEDEX 03"."""
    n = len(addr.city)
    name = take(vocab.cities_arr, addr.city)
    arr = vocab.arrondissement[addr.city]
    arr_str = take(_TWO, arr)
    with_arr = (arr > 0) & (rng.random(n) < (1.0 if style.rnvp else style.city_arrondissement))
    form = rng.random(n)
    arr_text = where(form < 0.5, concat(name, " ", arr_str), where(form < 0.8, concat(name, " ", int_str(arr), "e"),
                     concat(name, " ", int_str(arr), "e Arrondissement")))
    if style.rnvp:
        arr_text = concat(name, " ", arr_str)
    out = where(with_arr, arr_text, name)
    if style.rnvp:
        out = pc.replace_substring_regex(out, pattern=r"\bSainte-", replacement="Ste-")
        out = pc.replace_substring_regex(out, pattern=r"\bSaint-", replacement="St-")
        out = strip_accents(upper(pc.replace_substring(pc.replace_substring(out, "-", " "), "'", " ")))
        return out
    hyphen = rng.random(n) < style.city_hyphen_space
    out = where(hyphen, pc.replace_substring(out, "-", " "), out)
    saint = rng.random(n) < style.saint_abbrev
    out = where(saint, pc.replace_substring_regex(
        pc.replace_substring_regex(out, pattern=r"\bSainte([- ])", replacement="Ste\\1"),
        pattern=r"\bSaint([- ])", replacement="St\\1"), out)
    cedex = rng.random(n) < style.cedex
    abroad = vocab.foreign_cities(addr.city)
    if abroad is not None:
        cedex &= ~abroad
    out = where(cedex, concat(out, " CEDEX"), out)
    out, _ = styled(rng, out, style.text)
    return out


# --------------------------------------------------------------------------------------------------
# Dates
# --------------------------------------------------------------------------------------------------

DATE_FORMATS = ("dd/MM/yyyy", "yyyy-MM-dd", "yyyyMMdd", "dd-MM-yyyy", "dd/MM/yy")


def _iso_dates(days: np.ndarray) -> pa.Array:
    return pc.cast(pa.array(np.asarray(days, dtype=np.int32), pa.date32()), STRING)


def format_dates(days: np.ndarray, fmt: str) -> pa.Array:
    """Days since 1970-01-01 -> strings in a Spark-style pattern."""
    iso = _iso_dates(days)
    y = pc.utf8_slice_codeunits(iso, 0, 4)
    m = pc.utf8_slice_codeunits(iso, 5, 7)
    d = pc.utf8_slice_codeunits(iso, 8, 10)
    if fmt == "yyyy-MM-dd":
        return iso
    if fmt == "dd/MM/yyyy":
        return concat(d, "/", m, "/", y)
    if fmt == "yyyyMMdd":
        return concat(y, m, d)
    if fmt == "dd-MM-yyyy":
        return concat(d, "-", m, "-", y)
    if fmt == "dd/MM/yy":
        return concat(d, "/", m, "/", pc.utf8_slice_codeunits(y, 2, 4))
    raise ValueError(f"unknown date format {fmt!r}")


def format_timestamps(seconds: np.ndarray, fmt: str) -> pa.Array:
    """Seconds since epoch (naive local time) -> strings."""
    iso = pc.cast(pa.array(np.asarray(seconds, dtype=np.int64), pa.timestamp("s")), STRING)  # 2025-03-14 10:23:45
    if fmt == "yyyy-MM-dd HH:mm:ss":
        return iso
    if fmt == "yyyy-MM-dd'T'HH:mm:ss":
        return pc.replace_substring(iso, " ", "T")
    date_part = pc.utf8_slice_codeunits(iso, 0, 10)
    y = pc.utf8_slice_codeunits(date_part, 0, 4)
    m = pc.utf8_slice_codeunits(date_part, 5, 7)
    d = pc.utf8_slice_codeunits(date_part, 8, 10)
    if fmt == "dd/MM/yyyy HH:mm":
        return concat(d, "/", m, "/", y, " ", pc.utf8_slice_codeunits(iso, 11, 16))
    if fmt == "dd/MM/yyyy HH:mm:ss":
        return concat(d, "/", m, "/", y, " ", pc.utf8_slice_codeunits(iso, 11, 19))
    if fmt == "dd/MM/yyyy":
        return concat(d, "/", m, "/", y)
    raise ValueError(f"unknown timestamp format {fmt!r}")


def _ymd(y: int, m: int, d: int, fmt: str) -> str:
    yy, mm, dd = f"{y:04d}", f"{m:02d}", f"{d:02d}"
    return {
        "dd/MM/yyyy": f"{dd}/{mm}/{yy}",
        "yyyy-MM-dd": f"{yy}-{mm}-{dd}",
        "yyyyMMdd": f"{yy}{mm}{dd}",
        "dd-MM-yyyy": f"{dd}-{mm}-{yy}",
        "dd/MM/yy": f"{dd}/{mm}/{yy[2:]}",
    }[fmt]


@dataclass(frozen=True)
class DateStyle:
    formats: tuple[str, ...] = ("dd/MM/yyyy",)
    weights: tuple[float, ...] = (1.0,)
    impossible: float = 0.002     # 31/02/1980
    placeholder: float = 0.002    # 01/01/1900
    future: float = 0.001         # a year typed 20xx instead of 19xx
    day_month_swap: float = 0.004
    missing: float = 0.0


def birth_dates(rng: np.random.Generator, days: np.ndarray, style: DateStyle, reference_year: int) -> pa.Array:
    """Birth dates in the source's format(s), with impossible, placeholder and future dates and blanks."""
    days = np.asarray(days, dtype=np.int32)
    n = len(days)
    codes = choose(rng, n, style.weights)
    out = by_code(codes, [lambda rows, f=f: format_dates(days[rows], f) for f in style.formats])
    bad = rng.random(n)
    p1 = style.impossible
    p2 = p1 + style.placeholder
    p3 = p2 + style.future
    p4 = p3 + style.day_month_swap
    rows = np.flatnonzero(bad < p4)
    if len(rows):
        dt = np.asarray(days[rows], dtype="datetime64[D]")
        years = dt.astype("datetime64[Y]").astype(int) + 1970
        months = (dt.astype("datetime64[M]").astype(int) % 12) + 1
        dom = (dt - dt.astype("datetime64[M]")).astype(int) + 1
        draws = rng.random((len(rows), 2))
        new = []
        for i, row in enumerate(rows):
            fmt = style.formats[codes[row]]
            y, m, d = int(years[i]), int(months[i]), int(dom[i])
            if bad[row] < p1:
                m2, d2 = [(2, 30), (2, 31), (4, 31), (6, 31), (9, 31), (11, 31), (2, 29)][int(draws[i, 0] * 7)]
                if m2 == 2 and d2 == 29 and y % 4 == 0:
                    d2 = 30
                new.append(_ymd(y, m2, d2, fmt))
            elif bad[row] < p2:
                new.append(_ymd(1900, 1, 1, fmt) if draws[i, 0] < 0.8 else _ymd(1901, 1, 1, fmt))
            elif bad[row] < p3:
                new.append(_ymd(reference_year + 1 + int(draws[i, 0] * 40), m, d, fmt))
            elif d <= 12 and d != m:
                new.append(_ymd(y, d, m, fmt))
            else:
                new.append(_ymd(y, m, d, fmt))
        out = replace_rows(out, rows, new)
    return blank(rng, out, style.missing)


# --------------------------------------------------------------------------------------------------
# Consents
# --------------------------------------------------------------------------------------------------

CONSENT_FORMS = {
    "1/0": (("1",), ("0",)),
    "oui/non": (("oui", "Oui", "OUI"), ("non", "Non", "NON")),
    "O/N": (("O", "o"), ("N", "n")),
    "true/false": (("true", "TRUE", "True"), ("false", "FALSE", "False")),
}


def consents(rng: np.random.Generator, given: np.ndarray, forms: str, missing: float = 0.0) -> pa.Array:
    """Yes/no as the source writes it: mostly its usual form ("oui"), sometimes another case ("OUI")."""
    yes, no = CONSENT_FORMS[forms]
    n = len(given)

    def pick(options: tuple[str, ...]) -> pa.Array:
        weights = [0.85] + [0.15 / (len(options) - 1)] * (len(options) - 1) if len(options) > 1 else [1.0]
        return take(strings(list(options)), choose(rng, n, weights).astype(np.int64))

    return blank(rng, where(np.asarray(given, dtype=bool), pick(yes), pick(no)), missing)
