"""Customers living abroad: Belgians, Swiss, Luxembourgers, Germans, Spaniards and Britons of a French retailer.

:func:`move_abroad` turns a share of a chunk's households (drawn from their own random stream, so the French
population is the one the standard profile draws) into households of a neighbouring country: names typical of
the country (accents, ß and ñ kept), a real city and postcode, a street of the country, phones valid in its
numbering plan (``phonenumbers``: the subscriber digits of the plan's example number, randomised and checked),
emails on the country's providers. They mostly shop online; border countries' residents visit stores too. The
sources then render them with the same noise as everyone else (see ``render``: street lines in the local order,
"L-" postcodes, national or international phone formats).
"""

from __future__ import annotations

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

from spark_lib.generator import render as r
from spark_lib.generator.population import NEVER, Population, _email_locals, _unique
from spark_lib.generator.render import Address
from spark_lib.generator.resources import COUNTRIES, Abroad
from spark_lib.generator.state import RunState

#: Share of each country among customers living abroad (the cross-border neighbours first).
COUNTRY_SHARES = {"BE": 0.32, "CH": 0.25, "LU": 0.08, "DE": 0.13, "ES": 0.12, "GB": 0.10}
_ABROAD = [COUNTRIES.index(c) for c in COUNTRY_SHARES]
_BORDER = [COUNTRIES.index(c) for c in ("BE", "CH", "LU", "DE")]

#: How a form's country field gets filled in (the first one most often).
COUNTRY_NAMES = {
    "BE": ("Belgique", "BE", "Belgium", "BELGIQUE", "België", "belgique"),
    "CH": ("Suisse", "CH", "Switzerland", "SUISSE", "Schweiz", "suisse"),
    "LU": ("Luxembourg", "LU", "LUXEMBOURG", "Lux", "Luxemburg", "luxembourg"),
    "DE": ("Allemagne", "DE", "Deutschland", "ALLEMAGNE", "Germany", "allemagne"),
    "ES": ("Espagne", "ES", "España", "ESPAGNE", "Spain", "espagne"),
    "GB": ("Royaume-Uni", "UK", "GB", "United Kingdom", "ROYAUME-UNI", "Angleterre"),
}
_NAME_WEIGHTS = (0.45, 0.2, 0.12, 0.1, 0.08, 0.05)

EMAIL_DOMAINS = {
    "BE": (("gmail.com", 0.35), ("skynet.be", 0.2), ("hotmail.com", 0.15), ("telenet.be", 0.15), ("outlook.be", 0.08),
           ("proximus.be", 0.07)),
    "CH": (("gmail.com", 0.35), ("bluewin.ch", 0.35), ("gmx.ch", 0.12), ("hotmail.ch", 0.1), ("sunrise.ch", 0.08)),
    "LU": (("gmail.com", 0.4), ("pt.lu", 0.3), ("hotmail.com", 0.15), ("internet.lu", 0.15)),
    "DE": (("gmx.de", 0.3), ("web.de", 0.25), ("gmail.com", 0.25), ("t-online.de", 0.15), ("yahoo.de", 0.05)),
    "ES": (("gmail.com", 0.45), ("telefonica.net", 0.2), ("hotmail.es", 0.2), ("yahoo.es", 0.15)),
    "GB": (("gmail.com", 0.35), ("btinternet.com", 0.25), ("hotmail.co.uk", 0.2), ("yahoo.co.uk", 0.12),
           ("sky.com", 0.08)),
}
FOREIGN_DOMAINS = frozenset(d for table in EMAIL_DOMAINS.values() for d, _ in table)


def country_names(rng: np.random.Generator, country: np.ndarray | None, france: pa.Array) -> pa.Array:
    """The country field: ``france`` (the source's own ways of writing France) for people living in France,
    one of :data:`COUNTRY_NAMES` for the others. No draw at all when nobody lives abroad."""
    if country is None or not (country > 0).any():
        return france
    rows = np.flatnonzero(country > 0)
    codes = r.choose(rng, len(rows), _NAME_WEIGHTS)
    names = [COUNTRY_NAMES[COUNTRIES[country[i]]][codes[k]] for k, i in enumerate(rows)]
    return r.replace_rows(france, rows, names)


def move_abroad(state: RunState, abroad: Abroad, chunk: int, pop: Population, share: float) -> Population:
    """Turn about ``share`` of the chunk's households into households living abroad (in place; returns ``pop``)."""
    rng = state.rng(chunk, "population:abroad")
    n_h = int(pop.hh.max()) + 1 if pop.n else 0
    country_h = np.where(rng.random(n_h) < share,
                         np.array(_ABROAD)[r.choose(rng, n_h, list(COUNTRY_SHARES.values()))], 0).astype(np.int8)
    country = country_h[pop.hh]
    pop.country = country
    f = np.flatnonzero(country > 0)
    if len(f) == 0:
        return pop
    vocab = state.vocab
    hh_f = pop.hh[f]

    # ---- first names by country and sex; members of a household never share one
    def draw_first(rows: np.ndarray) -> None:
        for key in np.unique(country[rows].astype(np.int64) * 2 + pop.sex[rows]):
            sub = rows[country[rows].astype(np.int64) * 2 + pop.sex[rows] == key]
            pop.first[sub] = abroad.draw(rng, abroad.first[(int(key // 2), int(key % 2))], len(sub))

    draw_first(f)
    for _ in range(8):
        key = pop.hh[f].astype(np.int64) * 100_000 + pop.first[f]
        order = np.argsort(key, kind="stable")
        later = np.zeros(len(f), dtype=bool)
        later[order[1:]] = key[order[1:]] == key[order[:-1]]
        if not later.any():
            break
        draw_first(f[later])

    # ---- last names: each surname of the household (birth and married) becomes one of the country's,
    # so a wife still carries her husband's name and the children their father's; Spanish women keep theirs
    k = len(vocab.last)
    keys = np.concatenate([hh_f.astype(np.int64) * k + pop.last[f], hh_f.astype(np.int64) * k + pop.birth_last[f]])
    unique, inverse = np.unique(keys, return_inverse=True)
    unique_country = country_h[unique // k]
    new = np.zeros(len(unique), dtype=np.int32)
    for c in np.unique(unique_country):
        rows = np.flatnonzero(unique_country == c)
        new[rows] = abroad.draw(rng, abroad.last[int(c)], len(rows))
    pop.last[f] = new[inverse[: len(f)]]
    pop.birth_last[f] = new[inverse[len(f):]]
    spanish = f[country[f] == COUNTRIES.index("ES")]
    pop.last[spanish] = pop.birth_last[spanish]
    homonym = pop.homonym_of - pop.start
    in_chunk = (homonym >= 0) & (homonym < pop.n)
    lost = (country > 0) | (in_chunk & (country[np.clip(homonym, 0, max(pop.n - 1, 0))] > 0))
    pop.homonym_of = np.where(lost, -1, pop.homonym_of)

    # ---- addresses: one per household, a mover's previous one in the same country
    h_f = np.flatnonzero(country_h > 0)
    moved_h = np.zeros(n_h, dtype=bool)
    moved_h[pop.hh[pop.move_day > NEVER]] = True
    cur = _addresses(rng, abroad, country_h, h_f)
    old = _addresses(rng, abroad, country_h, h_f)
    same_city = rng.random(len(h_f)) < 0.5
    old.city = np.where(same_city, cur.city, old.city)
    pos = np.full(n_h, -1, dtype=np.int64)
    pos[h_f] = np.arange(len(h_f))
    src = pos[hh_f]
    cur_extra = np.asarray(cur.extra.to_pylist(), dtype=object)[src]
    old_extra = np.asarray(old.extra.to_pylist(), dtype=object)[src]
    for target, use_old in ((pop.addr, np.zeros(len(f), dtype=bool)), (pop.old_addr, moved_h[hh_f])):
        for name in ("number", "street", "city"):
            getattr(target, name)[f] = np.where(use_old, getattr(old, name)[src], getattr(cur, name)[src])
        target.suffix[f] = 0
        extra = np.asarray(target.extra.to_pylist(), dtype=object)
        extra[f] = np.where(use_old, old_extra, cur_extra)
        target.extra = r.strings(extra.tolist())

    # ---- phones: the person's mobile and the household's landline, valid in the country's plan
    seen = state.phones
    has_mobile = f[pop.mobile[f] > 0]
    pop.mobile[has_mobile] = _numbers(rng, seen, country[has_mobile], "MOBILE")
    land_rows = f[pop.landline[f] > 0]
    if len(land_rows):
        land_h = np.unique(pop.hh[land_rows])
        numbers = np.zeros(n_h, dtype=np.int64)
        numbers[land_h] = _numbers(rng, seen, country_h[land_h], "FIXED_LINE")
        pop.landline[land_rows] = numbers[pop.hh[land_rows]]

    # ---- emails on the country's providers (no family address: one per person)
    has_email = f[~pc.is_null(pc.take(pop.email, f)).to_numpy(zero_copy_only=False)]
    pop.family_email[f] = False
    birth_year = (1970 + pop.birth[has_email] / 365.25).astype(np.int32)
    first_fold = r.take(r.strings(vocab.first_fold), pop.first[has_email])
    last_fold = r.take(r.strings(vocab.last_fold), pop.last[has_email])
    domains = _domains(rng, country[has_email])
    emails = _unique(state, rng, r.concat(_email_locals(rng, first_fold, last_fold, birth_year), "@", domains)
                     .to_pylist())
    alts = _unique(state, rng, r.concat(_email_locals(rng, first_fold, last_fold, birth_year), "@",
                                        _domains(rng, country[has_email])).to_pylist())
    pop.email = r.replace_rows(pop.email, has_email, emails)
    pop.email_alt = r.replace_rows(pop.email_alt, has_email, alts)

    # ---- channels: mostly online; residents of border countries come to stores too
    n = len(f)
    with_email = np.zeros(n, dtype=bool)
    with_email[np.searchsorted(f, has_email)] = True
    online = np.interp(pop.age[f], [18, 50, 75, 95], [0.95, 0.85, 0.6, 0.3])
    lift = np.array([0.75, 0.95, 1.05, 1.2, 1.3])[pop.profile[f]]
    border = np.isin(country[f], _BORDER)
    pop.eshop[f] = with_email & (rng.random(n) < np.clip(online * 0.9 * lift, 0, 0.97))
    pop.web[f] = pop.eshop[f] | (rng.random(n) < online * 0.5)
    pop.shopper[f] = rng.random(n) < np.where(border, 0.3, 0.08)
    pop.loyalty[f] = pop.shopper[f] & (rng.random(n) < 0.35 * lift)
    pop.crm[f] = rng.random(n) < np.where(pop.loyalty[f], 0.85, np.where(pop.eshop[f], 0.4, 0.15))
    pop.newsletter[f] = with_email & (rng.random(n) < np.where(pop.eshop[f], 0.48, 0.22))
    pop.caller[f] = (pop.eshop[f] | pop.loyalty[f]) & (rng.random(n) < 0.12)
    pop.prospect[f] = ~pop.crm[f] & (rng.random(n) < 0.03)
    return pop


def _addresses(rng: np.random.Generator, abroad: Abroad, country_h: np.ndarray, households: np.ndarray) -> Address:
    """Addresses of ``households`` in their country; ``extra``: a Belgian box, a British flat, a Spanish floor."""
    m = len(households)
    city = np.zeros(m, dtype=np.int64)
    street = np.zeros(m, dtype=np.int64)
    for c in np.unique(country_h[households]):
        rows = np.flatnonzero(country_h[households] == c)
        city[rows] = abroad.draw(rng, abroad.cities[int(c)], len(rows))
        street[rows] = abroad.draw(rng, abroad.streets[int(c)], len(rows))
    number = np.minimum(rng.geometric(0.05, m), 220).astype(np.int32)
    u = rng.random(m)
    a = rng.integers(1, 9, m)
    extras: list[str | None] = [None] * m
    for i, h in enumerate(households):
        code = COUNTRIES[country_h[h]]
        if code == "BE" and u[i] < 0.12:
            extras[i] = ("bte ", "boîte ", "bus ")[a[i] % 3] + str(a[i])
        elif code == "GB" and u[i] < 0.15:
            extras[i] = f"Flat {a[i]}"
        elif code == "ES" and u[i] < 0.45:
            extras[i] = f"{a[i]}º {'ABCD'[a[i] % 4]}" if u[i] < 0.3 else f"{a[i]}º {('izda', 'dcha')[a[i] % 2]}"
    return Address(number=number, suffix=np.zeros(m, dtype=np.int8), stype=np.zeros(m, dtype=np.int8),
                   street=street, extra=r.strings(extras), city=city)


def _domains(rng: np.random.Generator, country: np.ndarray) -> pa.Array:
    out = np.empty(len(country), dtype=object)
    for c in np.unique(country):
        rows = np.flatnonzero(country == c)
        table = EMAIL_DOMAINS[COUNTRIES[c]]
        out[rows] = np.array([d for d, _ in table], dtype=object)[r.choose(rng, len(rows), [w for _, w in table])]
    return r.strings(out.tolist())


def _numbers(rng: np.random.Generator, seen: set[int], country: np.ndarray, kind: str) -> np.ndarray:
    """Numbers valid in each country's plan, unique in the run: the plan's example number for ``kind`` with all
    but its first two digits drawn at random until ``phonenumbers`` accepts it."""
    import phonenumbers

    out = np.zeros(len(country), dtype=np.int64)
    number_type = getattr(phonenumbers.PhoneNumberType, kind)
    for c in np.unique(country):
        rows = np.flatnonzero(country == c)
        region = COUNTRIES[c]
        example = str(phonenumbers.example_number_for_type(region, number_type).national_number)
        code = phonenumbers.country_code_for_region(region)
        for row in rows:
            for _ in range(1000):
                digits = rng.integers(0, 10, len(example) - 2)
                national = int(example[:2] + "".join(map(str, digits)))
                value = r.phone_abroad(int(c), national)
                if value in seen or national % 10_000 == 0:
                    continue
                if phonenumbers.is_valid_number(phonenumbers.PhoneNumber(country_code=code, national_number=national)):
                    break
            else:  # pragma: no cover - every plan used here accepts most draws
                raise RuntimeError(f"no valid {kind} number drawn for {region}")
            seen.add(value)
            out[row] = value
    return out
