"""Reference lists the generator draws from: French first names by birth cohort, surnames, streets, cities.

The lists live in ``spark_lib/resources/generator_*.csv`` (UTF-8, ``;``-separated) so that the data does not
change with the installed Faker version. The surname list is Faker's fr_FR list (ordered by frequency) plus
names with particles and of foreign origin; a long tail of plausible surnames is derived from syllables with a
fixed seed, so that common names are common (Martin ~0.3 %) and rare names are rare, as in France.
``generator_foreign_*.csv`` hold, per neighbouring country (BE, CH, LU, DE, ES, GB), first names by sex,
surnames and streets (weights by rank) and real cities with their postcodes; :func:`extend_abroad` appends
them to the vocabulary for the profiles with customers living abroad.
"""

from __future__ import annotations

import csv
import dataclasses
import functools
import unicodedata
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pyarrow as pa

RESOURCES_DIR = Path(__file__).resolve().parent.parent / "resources"

#: Birth years are grouped in 5-year bins from this year for the first-name distributions.
FIRST_YEAR = 1920
YEAR_BIN = 5
N_YEAR_BINS = 19  # 1920 .. 2014
#: Share of the population carrying one of the listed (head) surnames; the rest gets the synthetic tail.
HEAD_SURNAME_SHARE = 0.2
TAIL_SURNAMES = 24_000

# Street types: full form, weight, and how clerks and users abbreviate them.
STREET_TYPES: tuple[tuple[str, float, tuple[str, ...]], ...] = (
    ("rue", 58.0, ("r", "r.", "rue")),
    ("avenue", 12.0, ("av", "av.", "ave", "avn")),
    ("boulevard", 5.0, ("bd", "boul.", "bld", "bvd")),
    ("place", 3.5, ("pl", "pl.")),
    ("chemin", 6.5, ("che", "ch.", "chem")),
    ("impasse", 5.0, ("imp", "imp.")),
    ("allée", 5.0, ("all", "all.", "allee")),
    ("route", 3.0, ("rte", "rte.")),
    ("faubourg", 0.6, ("fbg", "fg")),
    ("quai", 0.6, ("qu", "quai")),
    ("square", 0.4, ("sq", "sq.")),
    ("cours", 0.4, ("crs", "cours")),
)
#: The abbreviation La Poste's address norm (RNVP) uses, upper case, for routing files.
RNVP_TYPES = ("RUE", "AV", "BD", "PL", "CHE", "IMP", "ALL", "RTE", "FG", "QUAI", "SQ", "CRS")

RESIDENCES = (
    "Les Pins", "Le Parc", "Les Jardins de la Source", "Le Clos Fleuri", "Les Terrasses", "Beau Site",
    "Les Tilleuls", "Le Hameau", "Les Hauts du Lac", "Bellevue", "Les Châtaigniers", "Le Belvédère",
    "Les Érables", "Val Fleuri", "Les Cèdres", "Le Mistral",
)


def fold(text: str) -> str:
    """Lower case without accents: ``"Élodie"`` -> ``"elodie"``, ``"Œuvre"`` -> ``"oeuvre"``."""
    text = text.replace("œ", "oe").replace("Œ", "Oe").replace("æ", "ae").replace("Æ", "Ae")
    decomposed = unicodedata.normalize("NFD", text)
    return "".join(c for c in decomposed if unicodedata.category(c) != "Mn").lower()


def _read(name: str) -> list[dict[str, str]]:
    with (RESOURCES_DIR / name).open(encoding="utf-8", newline="") as handle:
        return list(csv.DictReader(handle, delimiter=";"))


@dataclass(frozen=True)
class Vocab:
    """Everything the generator samples names and places from (arrays are aligned by index)."""

    first: list[str]
    first_arr: pa.Array
    first_fold: list[str]               # "jean-pierre"
    #: cumulative probabilities [sex, year_bin, name]; nicknames and first parts have probability 0
    first_cdf: np.ndarray
    nick_idx: np.ndarray                # index of the nickname, -1 if none
    first_part_idx: np.ndarray          # "Jean-Pierre" -> index of "Jean", -1 if not compound
    last: list[str]
    last_arr: pa.Array
    last_fold: list[str]                # "le goff"
    last_cdf: np.ndarray
    streets: list[str]
    streets_arr: pa.Array
    street_cdf: np.ndarray
    street_type_cdf: np.ndarray
    cities: list[str]
    cities_arr: pa.Array
    postcodes: list[str]
    postcodes_arr: pa.Array
    departments: np.ndarray             # "75", "06", "20" as strings
    arrondissement: np.ndarray          # 1..20 for Paris/Lyon/Marseille, else 0
    city_cdf: np.ndarray
    #: index in COUNTRIES of each city's and street's country (0, France, unless extend_abroad added some)
    city_country: np.ndarray | None = None
    street_country: np.ndarray | None = None

    def foreign_cities(self, city: np.ndarray) -> np.ndarray | None:
        """Mask of the cities abroad among ``city`` (indices), or None when the vocabulary has none."""
        return None if self.city_country is None else self.city_country[city] > 0

    def foreign_streets(self, street: np.ndarray) -> np.ndarray | None:
        return None if self.street_country is None else self.street_country[street] > 0


def _synthetic_surnames(count: int, exclude: set[str]) -> list[str]:
    """Plausible French surnames from syllables, always the same list (fixed seed, sorted inputs)."""
    onsets = (
        "B", "Bl", "Br", "C", "Ch", "Cl", "Cr", "D", "Dr", "F", "Fl", "Fr", "G", "Gr", "Gu", "J", "L", "M", "N",
        "P", "Pl", "Pr", "R", "S", "T", "Tr", "V", "Vr", "Qu", "H",
    )
    vowels = ("a", "e", "i", "o", "ou", "au", "eu", "ai", "é", "u", "on", "an", "in")
    middles = ("", "", "r", "l", "n", "s", "t", "ss", "ll", "rn", "rd", "ch", "gn", "v", "m", "b", "c", "d")
    simple = ("r", "l", "n", "t", "s", "d", "v", "m")
    endings = (
        "ier", "ard", "eau", "ot", "in", "et", "on", "and", "ault", "oux", "az", "ac", "elle", "ou", "y", "é",
        "ès", "ière", "ain", "ent", "at", "aud", "ois", "el", "ert", "ange", "ette", "ay", "eix", "ieu",
        "illon", "aux", "ert", "iot", "ereau", "inet", "onnet", "elin", "ourt", "an",
    )
    rng = np.random.default_rng(20240611)
    names: list[str] = []
    seen = set(exclude)
    while len(names) < count:
        k = 4096
        o = rng.integers(0, len(onsets), k)
        v = rng.integers(0, len(vowels), k)
        m = rng.integers(0, len(middles), k)
        e = rng.integers(0, len(endings), k)
        two = rng.random(k) < 0.15
        v2 = rng.integers(0, len(vowels), k)
        m2 = rng.integers(0, len(simple), k)
        prefix = rng.random(k)
        for i in range(k):
            vowel, middle = vowels[v[i]], middles[m[i]]
            if vowel in ("on", "an", "in", "é", "eu", "ai") and len(middle) > 1:
                continue
            if onsets[o[i]] == "Qu" and vowel[0] in "uo":
                continue
            stem = onsets[o[i]] + vowel + middle
            if two[i]:
                if not middles[m[i]]:
                    continue
                stem += vowels[v2[i]] + simple[m2[i]]
            name = stem + endings[e[i]]
            if prefix[i] < 0.03:
                name = "Le " + name
            elif prefix[i] < 0.04:
                name = "Du " + name
            if name in seen or len(name) < 4:
                continue
            seen.add(name)
            names.append(name)
            if len(names) == count:
                break
    return names


def _cdf(weights: np.ndarray) -> np.ndarray:
    cdf = np.cumsum(weights, dtype=np.float64)
    return cdf / cdf[-1]


@functools.lru_cache(maxsize=1)
def load_vocab() -> Vocab:
    """Load (once per process) the reference lists."""
    # ---- first names, by sex and birth cohort
    rows = _read("generator_first_names.csv")
    first: list[str] = []
    index: dict[str, int] = {}
    for row in rows:
        if row["name"] not in index:
            index[row["name"]] = len(first)
            first.append(row["name"])
    nick_rows = _read("generator_nicknames.csv")
    for row in nick_rows:
        if row["nickname"] not in index:
            index[row["nickname"]] = len(first)
            first.append(row["nickname"])
    for name in list(first):
        if "-" in name and name.split("-")[0] not in index:
            part = name.split("-")[0]
            index[part] = len(first)
            first.append(part)
    weights = np.zeros((2, N_YEAR_BINS, len(first)))
    centers = FIRST_YEAR + YEAR_BIN * np.arange(N_YEAR_BINS) + YEAR_BIN / 2
    for row in rows:
        sex = 0 if row["sex"] == "M" else 1
        spread = 11.0
        bell = np.exp(-0.5 * ((centers - float(row["peak_year"])) / spread) ** 2)
        weights[sex, :, index[row["name"]]] += float(row["weight"]) * bell
    weights += 1e-9 * (weights.sum(axis=2, keepdims=True) == 0)
    first_cdf = np.cumsum(weights, axis=2)
    first_cdf /= first_cdf[:, :, -1:]
    nick_idx = np.full(len(first), -1, dtype=np.int32)
    for row in nick_rows:
        if row["name"] in index and row["nickname"] != row["name"]:
            nick_idx[index[row["name"]]] = index[row["nickname"]]
    part_idx = np.full(len(first), -1, dtype=np.int32)
    for name, i in index.items():
        if "-" in name:
            part_idx[i] = index[name.split("-")[0]]

    # ---- surnames: listed head + synthetic tail
    head = _read("generator_last_names.csv")
    last = [r["name"] for r in head]
    head_w = np.array([float(r["weight"]) for r in head])
    tail = _synthetic_surnames(TAIL_SURNAMES, set(last))
    tail_w = 1.0 / (np.arange(len(tail)) + 60.0) ** 0.55
    last_w = np.concatenate(
        [head_w / head_w.sum() * HEAD_SURNAME_SHARE, tail_w / tail_w.sum() * (1 - HEAD_SURNAME_SHARE)]
    )
    last = last + tail

    # ---- streets and cities
    streets_rows = _read("generator_streets.csv")
    streets = [r["name"] for r in streets_rows]
    street_w = np.array([float(r["weight"]) for r in streets_rows])
    city_rows = _read("generator_cities.csv")
    cities = [r["city"] for r in city_rows]
    postcodes = [r["postcode"] for r in city_rows]
    city_w = np.array([float(r["population"]) for r in city_rows])
    multi = {"Paris", "Lyon", "Marseille"}
    arrondissement = np.array(
        [int(pc[-2:]) if c in multi else 0 for c, pc in zip(cities, postcodes)], dtype=np.int16
    )
    return Vocab(
        first=first,
        first_arr=pa.array(first, pa.string()),
        first_fold=[fold(n) for n in first],
        first_cdf=first_cdf,
        nick_idx=nick_idx,
        first_part_idx=part_idx,
        last=last,
        last_arr=pa.array(last, pa.string()),
        last_fold=[fold(n) for n in last],
        last_cdf=_cdf(last_w),
        streets=streets,
        streets_arr=pa.array(streets, pa.string()),
        street_cdf=_cdf(street_w),
        street_type_cdf=_cdf(np.array([w for _, w, _ in STREET_TYPES])),
        cities=cities,
        cities_arr=pa.array(cities, pa.string()),
        postcodes=postcodes,
        postcodes_arr=pa.array(postcodes, pa.string()),
        departments=np.array([p[:2] for p in postcodes]),
        arrondissement=arrondissement,
        city_cdf=_cdf(city_w),
    )


#: Countries of residence: France (0) and the neighbours whose residents shop with a French retailer.
COUNTRIES = ("FR", "BE", "CH", "LU", "DE", "ES", "GB")


@dataclass(frozen=True)
class Abroad:
    """Where the names and places of customers living abroad sit in a vocabulary from :func:`extend_abroad`:
    per country, the indices of its names, cities and streets and their cumulative weights."""

    first: dict[tuple[int, int], tuple[np.ndarray, np.ndarray]]   # (country, sex) -> (indices, cdf)
    last: dict[int, tuple[np.ndarray, np.ndarray]]
    cities: dict[int, tuple[np.ndarray, np.ndarray]]
    streets: dict[int, tuple[np.ndarray, np.ndarray]]

    @staticmethod
    def draw(rng: np.random.Generator, table: tuple[np.ndarray, np.ndarray], size: int) -> np.ndarray:
        indices, cdf = table
        return indices[sample_cdf(rng, cdf, size)]


def email_fold(name: str) -> str:
    """``fold`` for an email's local part: "Weiß" -> "weiss", "Peña" -> "pena"."""
    return fold(name.replace("ß", "ss"))


@functools.lru_cache(maxsize=1)
def extend_abroad() -> tuple[Vocab, Abroad]:
    """The vocabulary of :func:`load_vocab` with the names, cities and streets of ``generator_foreign_*.csv``
    appended. Indices and cumulative weights of the French lists are unchanged: French draws stay the same."""
    base = load_vocab()
    code = {c: i for i, c in enumerate(COUNTRIES)}

    def grouped(rows, key):
        groups: dict = {}
        for row in rows:
            groups.setdefault(key(row), []).append(row)
        return groups

    first, first_fold = list(base.first), list(base.first_fold)
    index = {name: i for i, name in enumerate(first)}
    first_tables = {}
    for (country, sex), rows in grouped(_read("generator_foreign_first_names.csv"),
                                        lambda r: (code[r["country"]], 0 if r["sex"] == "M" else 1)).items():
        idx = []
        for row in rows:
            if row["name"] not in index:
                index[row["name"]] = len(first)
                first.append(row["name"])
                first_fold.append(email_fold(row["name"]))
            idx.append(index[row["name"]])
        first_tables[(country, sex)] = (np.array(idx), _cdf(np.array([float(r["weight"]) for r in rows])))
    n_new_first = len(first) - len(base.first)
    part_idx = np.concatenate([base.first_part_idx, [index.get(n.split("-")[0], -1) if "-" in n else -1
                                                     for n in first[len(base.first):]]]).astype(np.int32)

    def appended(old: list[str], rows, column: str):
        names = list(old)
        tables = {}
        for country, group in grouped(rows, lambda r: code[r["country"]]).items():
            start = len(names)
            names += [r[column] for r in group]
            weight = np.array([float(r.get("weight") or r.get("population")) for r in group])
            tables[country] = (np.arange(start, len(names)), _cdf(weight))
        return names, tables

    last, last_tables = appended(base.last, _read("generator_foreign_last_names.csv"), "name")
    streets, street_tables = appended(base.streets, _read("generator_foreign_streets.csv"), "name")
    city_rows = _read("generator_foreign_cities.csv")
    cities, city_tables = appended(base.cities, city_rows, "city")
    postcodes = base.postcodes + [r["postcode"] for r in city_rows]

    def countries(tables, total):
        out = np.zeros(total, dtype=np.int8)
        for country, (idx, _) in tables.items():
            out[idx] = country
        return out

    vocab = dataclasses.replace(
        base,
        first=first,
        first_arr=pa.array(first, pa.string()),
        first_fold=first_fold,
        nick_idx=np.concatenate([base.nick_idx, np.full(n_new_first, -1, dtype=np.int32)]),
        first_part_idx=part_idx,
        last=last,
        last_arr=pa.array(last, pa.string()),
        last_fold=base.last_fold + [email_fold(n) for n in last[len(base.last):]],
        streets=streets,
        streets_arr=pa.array(streets, pa.string()),
        cities=cities,
        cities_arr=pa.array(cities, pa.string()),
        postcodes=postcodes,
        postcodes_arr=pa.array(postcodes, pa.string()),
        departments=np.concatenate([base.departments, np.full(len(city_rows), "99")]),  # no store there
        arrondissement=np.concatenate([base.arrondissement, np.zeros(len(city_rows), dtype=np.int16)]),
        city_country=countries(city_tables, len(cities)),
        street_country=countries(street_tables, len(streets)),
    )
    return vocab, Abroad(first=first_tables, last=last_tables, cities=city_tables, streets=street_tables)


def sample_cdf(rng: np.random.Generator, cdf: np.ndarray, size: int) -> np.ndarray:
    """Draw ``size`` indices from a cumulative distribution."""
    return np.minimum(np.searchsorted(cdf, rng.random(size), side="right"), len(cdf) - 1).astype(np.int32)
