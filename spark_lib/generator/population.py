"""The true population of one chunk: households, people, their names, contacts, addresses and habits.

Households are singles, couples, families with adult children and single parents. Couples share the
address and often a landline; married women usually carry their husband's name (birth name kept apart);
about 5 % of households share one family email between two members; twins share birth date, address and
last name; about 1 % of people are exact homonyms (same first and last name) of someone else, some in the
same city. Every person also gets an engagement profile and the channels they use, which drive the sources.
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

from spark_lib.generator import render as r
from spark_lib.generator.render import Address
from spark_lib.generator.resources import (
    FIRST_YEAR,
    N_YEAR_BINS,
    RESIDENCES,
    YEAR_BIN,
    sample_cdf,
)
from spark_lib.generator.state import RunState, region_digit

HOUSEHOLD_TYPES = ("single", "couple", "family", "single_parent")
ROLES = ("head", "partner", "child")
PROFILES = ("dormant", "cold", "warm", "hot", "very_hot")
PROFILE_SHARES = (0.30, 0.25, 0.25, 0.13, 0.07)
_MOBILE_06_BLOCKS = np.array([b for b in range(90) if b != 39])
NEVER = -10_000_000  # move day of people who did not move

_YOUNG_DOMAINS = (
    ("gmail.com", 0.50), ("hotmail.fr", 0.10), ("outlook.fr", 0.06), ("icloud.com", 0.07), ("yahoo.fr", 0.04),
    ("hotmail.com", 0.04), ("live.fr", 0.04), ("orange.fr", 0.05), ("free.fr", 0.04), ("sfr.fr", 0.02),
    ("laposte.net", 0.02), ("outlook.com", 0.02),
)
_OLDER_DOMAINS = (
    ("gmail.com", 0.26), ("orange.fr", 0.19), ("wanadoo.fr", 0.11), ("free.fr", 0.10), ("hotmail.fr", 0.08),
    ("laposte.net", 0.07), ("sfr.fr", 0.06), ("yahoo.fr", 0.06), ("neuf.fr", 0.02), ("bbox.fr", 0.02),
    ("aol.com", 0.01), ("club-internet.fr", 0.01), ("numericable.fr", 0.01),
)
_ALT_DOMAINS = (
    ("gmail.com", 0.25), ("orange.fr", 0.15), ("hotmail.fr", 0.15), ("yahoo.fr", 0.1), ("free.fr", 0.1),
    ("laposte.net", 0.1), ("outlook.fr", 0.08), ("sfr.fr", 0.07),
)


@dataclass
class Population:
    """One chunk of people; arrays are aligned by the person's position in the chunk."""

    start: int
    person_id: pa.Array
    household_id: pa.Array
    hh: np.ndarray            # household position in the chunk
    htype: np.ndarray
    role: np.ndarray
    sex: np.ndarray           # 0 man, 1 woman
    birth: np.ndarray         # days since 1970-01-01
    age: np.ndarray           # whole years at the reference date
    first: np.ndarray         # vocab.first index
    last: np.ndarray          # vocab.last index (name in use)
    birth_last: np.ndarray    # vocab.last index (birth name)
    email: pa.Array           # lower case, null if none
    email_alt: pa.Array       # a second address (older ISP box, second account)
    family_email: np.ndarray  # email shared with another member of the household
    mobile: np.ndarray        # national significant number, 0 if none
    landline: np.ndarray
    addr: Address             # current address
    old_addr: Address         # address before the move (same as addr if no move)
    move_day: np.ndarray
    profile: np.ndarray
    twin: np.ndarray
    homonym_of: np.ndarray    # position of the person whose name was copied, -1 if none
    home_store: np.ndarray
    eshop: np.ndarray
    web: np.ndarray
    loyalty: np.ndarray
    shopper: np.ndarray
    crm: np.ndarray
    newsletter: np.ndarray
    caller: np.ndarray
    prospect: np.ndarray
    #: index in resources.COUNTRIES of the country of residence (0 France); None: everybody lives in France
    country: np.ndarray | None = None

    @property
    def n(self) -> int:
        return len(self.sex)

    def country_of(self, persons: np.ndarray) -> np.ndarray | None:
        return None if self.country is None else self.country[np.asarray(persons)]

    def married_name(self) -> np.ndarray:
        return self.last != self.birth_last

    def move(self, persons: np.ndarray, addr: Address, day: int) -> None:
        """``persons`` (distinct) move to ``addr`` (one address each) on ``day``; their address becomes the
        previous one (a person who had moved before keeps only their latest move)."""
        self.old_addr = self.old_addr.with_rows(persons, self.addr.take(persons))
        self.addr = self.addr.with_rows(persons, addr)
        self.move_day[persons] = day

    def address_at(self, persons: np.ndarray, days: np.ndarray) -> Address:
        """The address each person had on each day (the old one before their move)."""
        persons = np.asarray(persons)
        old = np.asarray(days) < self.move_day[persons]
        a, b = self.addr, self.old_addr

        def pick(x, y):
            return np.where(old, y[persons], x[persons])

        extra = r.where(old, r.take(b.extra, persons), r.take(a.extra, persons))
        return Address(
            number=pick(a.number, b.number),
            suffix=pick(a.suffix, b.suffix),
            stype=pick(a.stype, b.stype),
            street=pick(a.street, b.street),
            extra=extra,
            city=pick(a.city, b.city),
        )


def household_addresses(state: RunState, rng: np.random.Generator, n: int, city: np.ndarray | None = None):
    vocab = state.vocab
    if city is None:
        city = sample_cdf(rng, vocab.city_cdf, n)
    street, stype = state.draw_streets(rng, n)
    number = np.minimum(rng.geometric(0.04, n), 240).astype(np.int32)
    suffix = r.choose(rng, n, [0.965, 0.03, 0.005])
    has_extra = rng.random(n) < 0.16
    kinds = r.choose(rng, n, [0.32, 0.2, 0.12, 0.14, 0.1, 0.12])
    num = rng.integers(1, 60, n)
    letters = "ABCDEFGH"
    letter = rng.integers(0, len(letters), n)
    res = rng.integers(0, len(RESIDENCES), n)
    variant = rng.random(n)
    extras: list[str | None] = [None] * n
    for i in np.flatnonzero(has_extra):
        k, v = kinds[i], variant[i]
        if k == 0:
            extras[i] = ("Appt ", "Apt ", "Appartement ")[int(v * 3)] + str(num[i])
        elif k == 1:
            extras[i] = ("Bât ", "Bâtiment ", "Bat. ")[int(v * 3)] + letters[letter[i]]
        elif k == 2:
            extras[i] = f"Bât {letters[letter[i]]} Appt {num[i]}"
        elif k == 3:
            extras[i] = ("Résidence ", "Rés. ", "Résidence ")[int(v * 3)] + RESIDENCES[res[i]]
        elif k == 4:
            extras[i] = ("Esc ", "Escalier ")[int(v * 2)] + str(1 + num[i] % 9)
        else:
            extras[i] = f"{1 + num[i] % 12}e étage"
    return Address(number=number, suffix=suffix, stype=stype, street=street, extra=r.strings(extras), city=city)


def _weighted_domains(rng, n, table) -> pa.Array:
    names = r.strings([d for d, _ in table])
    return r.take(names, r.choose(rng, n, [w for _, w in table]).astype(np.int64))


def _unique(state: RunState, rng: np.random.Generator, values: list[str | None]) -> list[str | None]:
    """Make emails unique in the run: a taken address gets digits, as mailbox providers force people to."""
    seen = state.emails
    out = list(values)
    extra = rng.integers(1, 999, len(values))
    for i, v in enumerate(out):
        if v is None:
            continue
        tries = 0
        while v in seen:
            local, _, domain = values[i].partition("@")
            v = f"{local}{int(extra[i]) + tries * 7}@{domain}"
            tries += 1
        seen.add(v)
        out[i] = v
    return out


def _email_locals(rng, first_fold: pa.Array, last_fold: pa.Array, birth_year: np.ndarray) -> pa.Array:
    n = len(first_fold)
    f = pc.replace_substring_regex(first_fold, pattern=r"[ ']", replacement="")
    f_nohyph = pc.replace_substring(f, "-", "")
    last = pc.replace_substring_regex(last_fold, pattern=r"[ '\-]", replacement="")
    initial = pc.utf8_slice_codeunits(f, 0, 1)
    digits = r.int_str(rng.integers(1, 99, n))
    year = r.int_str(birth_year)
    year2 = pc.utf8_slice_codeunits(year, 2, 4)
    codes = r.choose(rng, n, [0.38, 0.12, 0.05, 0.09, 0.08, 0.1, 0.07, 0.06, 0.05])
    builders = [
        lambda rows: r.concat(f.take(rows), ".", last.take(rows)),
        lambda rows: r.concat(f_nohyph.take(rows), last.take(rows)),
        lambda rows: r.concat(f.take(rows), "_", last.take(rows)),
        lambda rows: r.concat(initial.take(rows), ".", last.take(rows)),
        lambda rows: r.concat(initial.take(rows), last.take(rows)),
        lambda rows: r.concat(f.take(rows), ".", last.take(rows), digits.take(rows)),
        lambda rows: r.concat(f_nohyph.take(rows), last.take(rows), year.take(rows)),
        lambda rows: r.concat(last.take(rows), ".", f.take(rows)),
        lambda rows: r.concat(f_nohyph.take(rows), year2.take(rows)),
    ]
    return r.by_code(codes, builders)


def build_population(state: RunState, chunk: int, start: int, n: int) -> Population:
    """Draw ``n`` people (whole households) for one chunk; ``start`` is the global index of the first."""
    rng = state.rng(chunk, "population")
    vocab = state.vocab
    ref = state.reference_day

    # ---- households
    htype = r.choose(rng, n, [0.36, 0.34, 0.22, 0.08])
    kids = np.where(htype == 2, 1 + r.choose(rng, n, [0.55, 0.35, 0.10]),
                    np.where(htype == 3, 1 + r.choose(rng, n, [0.7, 0.3]), 0))
    adults = np.where((htype == 1) | (htype == 2), 2, 1)
    size = (adults + kids).astype(np.int64)
    n_h = int(np.searchsorted(np.cumsum(size), n)) + 1
    htype, kids, adults, size = htype[:n_h], kids[:n_h], adults[:n_h], size[:n_h].copy()
    size[-1] -= int(size.sum()) - n
    adults = np.minimum(adults, size)
    kids = size - adults
    first_member = np.concatenate([[0], np.cumsum(size)[:-1]])
    hh = np.repeat(np.arange(n_h), size)
    rank = np.arange(n) - first_member[hh]
    role = np.where(rank == 0, 0, np.where((rank == 1) & (adults[hh] == 2), 1, 2)).astype(np.int8)
    hh_number = state.next_ids("household", n_h)

    # ---- ages and birth dates
    u = rng.random(n_h)
    single_age = np.where(u < 0.35, rng.uniform(18, 35, n_h), np.where(u < 0.7, rng.uniform(35, 65, n_h),
                                                                      rng.uniform(65, 93, n_h)))
    couple_age = np.where(rng.random(n_h) < 0.3, rng.uniform(22, 40, n_h), rng.uniform(40, 89, n_h))
    head_age = np.choose(htype, [single_age, couple_age, rng.uniform(42, 72, n_h), rng.uniform(40, 68, n_h)])
    partner_age = head_age + rng.normal(-2, 3.5, n_h)
    partner_age = np.where(partner_age < 18, 18 + rng.uniform(0, 4, n_h), partner_age)
    partner_age = np.where((htype == 2) & (partner_age < 40), 40 + rng.uniform(0, 8, n_h), partner_age)
    youngest_parent = np.where(adults == 2, np.minimum(head_age, partner_age), head_age)
    child_age = youngest_parent[hh] - rng.uniform(22, 38, n)
    child_age = np.where(child_age < 18, 18 + rng.uniform(0, 5, n), child_age)
    child_age = np.where(child_age > 34, 24 + rng.uniform(0, 10, n), child_age)
    age_f = np.where(role == 0, head_age[hh], np.where(role == 1, partner_age[hh], child_age))
    birth = (ref - np.floor(age_f * 365.25)).astype(np.int32)

    # twins: two children of one family born the same day (about 0.2 % of people)
    twin = np.zeros(n, dtype=bool)
    candidates = np.flatnonzero(kids >= 2)
    n_pairs = min(len(candidates), max(1, round(0.001 * n))) if n >= 200 else 0
    if n_pairs:
        fams = rng.choice(candidates, n_pairs, replace=False)
        a = first_member[fams] + adults[fams]
        birth[a + 1] = birth[a]
        twin[a] = twin[a + 1] = True
    age = ((ref - birth) / 365.25).astype(np.int16)

    # ---- sex
    head_sex = np.where(htype == 0, rng.random(n_h) < 0.5,
                        np.where(htype == 3, rng.random(n_h) < 0.82, rng.random(n_h) < 0.05)).astype(np.int8)
    same_sex = (rng.random(n_h) < 0.04) & (adults == 2)
    partner_sex = np.where(same_sex, head_sex, 1 - head_sex)
    sex = np.where(role == 0, head_sex[hh], np.where(role == 1, partner_sex[hh], rng.random(n) < 0.5))
    sex = sex.astype(np.int8)

    # ---- first names by sex and birth cohort; members of a household never share one
    year = 1970 + birth / 365.25
    year_bin = np.clip(((year - FIRST_YEAR) // YEAR_BIN).astype(int), 0, N_YEAR_BINS - 1)
    first = _draw_first_names(rng, vocab, sex, year_bin)
    for _ in range(8):
        key = hh.astype(np.int64) * 100_000 + first
        order = np.argsort(key, kind="stable")
        later = np.zeros(n, dtype=bool)
        later[order[1:]] = key[order[1:]] == key[order[:-1]]
        if not later.any():
            break
        first[later] = _draw_first_names(rng, vocab, sex[later], year_bin[later])

    # ---- last names: birth names, married names
    head_birth = sample_cdf(rng, vocab.last_cdf, n_h)
    partner_birth = sample_cdf(rng, vocab.last_cdf, n_h)
    ex_name = sample_cdf(rng, vocab.last_cdf, n_h)
    married = rng.random(n_h) < np.where(htype == 2, 0.8, 0.62)
    mixed = (adults == 2) & ~same_sex
    husband = np.where(head_sex == 0, head_birth, partner_birth)
    wife_birth = np.where(head_sex == 0, partner_birth, head_birth)
    kids_name = np.where(mixed, np.where(married | (rng.random(n_h) < 0.85), husband, wife_birth), head_birth)
    # single mothers and divorced or widowed women often keep their (ex-)husband's name
    keeps_ex = (adults == 1) & (head_sex == 1) & (head_age > 40) & (rng.random(n_h) < 0.4)
    kids_name = np.where((htype == 3) & (head_sex == 1) & (keeps_ex | (rng.random(n_h) < 0.6)), ex_name, kids_name)
    birth_last = np.where(role == 0, head_birth[hh], np.where(role == 1, partner_birth[hh], kids_name[hh]))
    wife_takes = mixed & married
    last = birth_last.copy()
    is_wife = (sex == 1) & (role < 2)
    last = np.where(is_wife & wife_takes[hh], husband[hh], last)
    last = np.where((role == 0) & keeps_ex[hh], ex_name[hh], last)
    last = last.astype(np.int32)
    birth_last = birth_last.astype(np.int32)

    # ---- addresses (per household), with a move for some
    cur = household_addresses(state, rng, n_h)
    moved = rng.random(n_h) < 0.12
    move_day_h = np.where(moved, ref - rng.integers(20, 3 * 365, n_h), NEVER).astype(np.int32)
    same_city = rng.random(n_h) < 0.5
    old = household_addresses(state, rng, n_h)
    old.city = np.where(same_city, cur.city, old.city)
    old = Address(
        number=np.where(moved, old.number, cur.number), suffix=np.where(moved, old.suffix, cur.suffix),
        stype=np.where(moved, old.stype, cur.stype), street=np.where(moved, old.street, cur.street),
        extra=r.where(moved, old.extra, cur.extra), city=np.where(moved, old.city, cur.city),
    )

    # ---- homonyms: about 1 % of people (living alone) carry exactly the name of someone else
    homonym_of = np.full(n, -1, dtype=np.int64)
    alone = np.flatnonzero((htype[hh] == 0))
    n_hom = min(len(alone) // 2, max(2, round(0.01 * n)))
    if n_hom:
        targets = rng.choice(alone, n_hom, replace=False)
        for t in targets:
            same = np.flatnonzero(sex == sex[t])
            o = int(same[rng.integers(0, len(same))])
            if hh[o] == hh[t] or homonym_of[o] >= 0:
                continue
            homonym_of[t] = o
            first[t], last[t], birth_last[t] = first[o], last[o], last[o]
        placed = np.flatnonzero(homonym_of >= 0)
        in_city = placed[rng.random(len(placed)) < 0.35]
        cur.city[hh[in_city]] = cur.city[hh[homonym_of[in_city]]]
        old.city[hh[in_city]] = np.where(moved[hh[in_city]], old.city[hh[in_city]], cur.city[hh[in_city]])

    # ---- emails
    first_fold = r.take(r.strings(vocab.first_fold), first)
    last_fold = r.take(r.strings(vocab.last_fold), last)
    birth_year = (year).astype(np.int32)
    p_email = np.interp(age, [18, 30, 60, 75, 95], [0.96, 0.95, 0.92, 0.8, 0.5])
    has_email = rng.random(n) < p_email
    locals_ = _email_locals(rng, first_fold, last_fold, birth_year)
    young = age < 45
    domains = r.where(young, _weighted_domains(rng, n, _YOUNG_DOMAINS), _weighted_domains(rng, n, _OLDER_DOMAINS))
    emails = r.null_where(~has_email, r.concat(locals_, "@", domains)).to_pylist()

    # family emails: one address used by two members of ~5 % of the households of two or more
    family_email = np.zeros(n, dtype=bool)
    shared = np.flatnonzero((size >= 2) & (rng.random(n_h) < 0.05))
    fam_domain = _weighted_domains(rng, len(shared), _OLDER_DOMAINS).to_pylist()
    fam_form = rng.random(len(shared))
    last_fold_list = vocab.last_fold
    for j, h in enumerate(shared):
        a_, b_ = first_member[h], first_member[h] + 1
        ln = last_fold_list[last[a_]].replace(" ", "").replace("'", "")
        fa = vocab.first_fold[first[a_]].replace(" ", "")
        fb = vocab.first_fold[first[b_]].replace(" ", "")
        if fam_form[j] < 0.4:
            local = f"famille.{ln}"
        elif fam_form[j] < 0.7:
            local = f"{fa}.{fb}.{ln}"
        else:
            local = f"{fa}et{fb}{ln}"
        emails[a_] = emails[b_] = f"{local}@{fam_domain[j]}"
        family_email[a_] = family_email[b_] = True
    # uniqueness (a family address is one address for both)
    unique_list = _unique(state, rng, [e if not family_email[i] or i == first_member[hh[i]] else None
                                       for i, e in enumerate(emails)])
    for i in np.flatnonzero(family_email):
        if i != first_member[hh[i]]:
            unique_list[i] = unique_list[first_member[hh[i]]]
    email = r.strings(unique_list)

    alt_locals = _email_locals(rng, first_fold, last_fold, birth_year)
    alt = r.concat(alt_locals, "@", _weighted_domains(rng, n, _ALT_DOMAINS))
    alt = r.null_where(~has_email, alt).to_pylist()
    email_alt = r.strings(_unique(state, rng, alt))

    # ---- phones
    p_mobile = np.interp(age, [18, 60, 75, 95], [0.97, 0.95, 0.85, 0.55])
    has_mobile = rng.random(n) < p_mobile
    mobile = _unique_numbers(state, rng, np.where(has_mobile, draw_mobiles(rng, age), 0))
    dep = vocab.departments[cur.city]
    p_land = np.interp(head_age, [18, 40, 65, 95], [0.2, 0.4, 0.65, 0.8])
    has_land = rng.random(n_h) < p_land
    box = rng.random(n_h) < 0.15
    land = np.where(box, 9, region_digit(dep)) * 100_000_000 + rng.integers(10_000_000, 99_999_999, n_h)
    land_h = _unique_numbers(state, rng, np.where(has_land, land, 0))
    landline = land_h[hh]

    # ---- engagement and channels
    profile = r.choose(rng, n, PROFILE_SHARES)
    lift = np.array([0.75, 0.95, 1.05, 1.2, 1.3])[profile]
    online = np.interp(age, [18, 35, 50, 65, 75, 95], [0.92, 0.88, 0.76, 0.6, 0.4, 0.18])
    with_email = ~pc.is_null(email).to_numpy(zero_copy_only=False)
    eshop = with_email & (rng.random(n) < np.clip(online * 0.84 * lift, 0, 0.97))
    web = eshop | (rng.random(n) < online * 0.5)
    home_store, near_store = _home_stores(state, rng, cur.city[hh])
    by_age = np.interp(age, [18, 30, 50, 95], [0.7, 1.0, 1.15, 1.1])
    loyalty = rng.random(n) < np.where(near_store, 0.5, 0.2) * by_age * lift
    shopper = loyalty | (rng.random(n) < np.where(near_store, 0.82, 0.45))
    crm = rng.random(n) < np.where(loyalty, 0.88, np.where(eshop, 0.45, 0.27))
    newsletter = with_email & (rng.random(n) < np.where(eshop, 0.48, 0.22))
    caller = (eshop | loyalty) & (rng.random(n) < 0.12)
    prospect = ~crm & (rng.random(n) < 0.12)

    global_index = start + np.arange(n)
    return Population(
        start=start,
        person_id=r.concat("P", r.padded(global_index + 1, 8)),
        household_id=r.take(r.concat("H", r.padded(hh_number + 1, 8)), hh),
        hh=hh,
        htype=htype[hh],
        role=role,
        sex=sex,
        birth=birth,
        age=age,
        first=first.astype(np.int32),
        last=last,
        birth_last=birth_last,
        email=email,
        email_alt=email_alt,
        family_email=family_email,
        mobile=mobile,
        landline=landline,
        addr=_per_person(cur, hh),
        old_addr=_per_person(old, hh),
        move_day=move_day_h[hh],
        profile=profile,
        twin=twin,
        homonym_of=np.where(homonym_of >= 0, homonym_of + start, -1),
        home_store=home_store,
        eshop=eshop,
        web=web,
        loyalty=loyalty,
        shopper=shopper,
        crm=crm,
        newsletter=newsletter,
        caller=caller,
        prospect=prospect,
    )


def join_populations(parts: list[Population]) -> Population:
    """One population of ``parts`` (chunks of consecutive persons), households numbered across them.

    Example::

        everybody = join_populations([build_population(state, c, c * size, size) for c in range(3)])
    """
    if not parts:
        raise ValueError("'parts' cannot be empty")
    offsets = np.cumsum([0] + [int(part.hh.max()) + 1 if part.n else 0 for part in parts[:-1]])
    values = {}
    for name in (f.name for f in dataclasses.fields(Population)):
        column = [getattr(part, name) for part in parts]
        if name == "start":
            values[name] = parts[0].start
        elif name == "hh":
            values[name] = np.concatenate([hh + offset for hh, offset in zip(column, offsets)])
        elif name == "country":
            values[name] = None if all(c is None for c in column) else np.concatenate(
                [np.zeros(part.n, np.int8) if c is None else c for c, part in zip(column, parts)])
        elif isinstance(column[0], Address):
            values[name] = Address(**{f.name: _join([getattr(a, f.name) for a in column])
                                      for f in dataclasses.fields(Address)})
        else:
            values[name] = _join(column)
    return Population(**values)


def _join(arrays: list) -> np.ndarray | pa.Array:
    if isinstance(arrays[0], np.ndarray):
        return np.concatenate(arrays)
    return pa.concat_arrays([a.cast(arrays[0].type) for a in arrays])


def _per_person(addr: Address, hh: np.ndarray) -> Address:
    return Address(
        number=addr.number[hh], suffix=addr.suffix[hh], stype=addr.stype[hh], street=addr.street[hh],
        extra=r.take(addr.extra, hh), city=addr.city[hh],
    )


def draw_mobiles(rng: np.random.Generator, age: np.ndarray) -> np.ndarray:
    """Mobile numbers (national significant numbers) for people of ``age``: 07 more often for the young.
    Metropolitan blocks only (06 00-38, 06 40-89, 07 30-99): 0639 and 069x belong to the overseas departments'
    numbering plans, 0700-0729 are unallocated. Not yet unique in the run (see ``_unique_numbers``)."""
    n = len(age)
    is_07 = rng.random(n) < np.where(age < 30, 0.25, 0.06)
    block = np.where(is_07, rng.integers(30, 100, n), _MOBILE_06_BLOCKS[rng.integers(0, len(_MOBILE_06_BLOCKS), n)])
    return np.where(is_07, 7, 6) * 100_000_000 + block * 1_000_000 + rng.integers(0, 1_000_000, n)


def _draw_first_names(rng, vocab, sex: np.ndarray, year_bin: np.ndarray) -> np.ndarray:
    out = np.empty(len(sex), dtype=np.int64)
    u = rng.random(len(sex))
    key = sex.astype(np.int64) * N_YEAR_BINS + year_bin
    for k in np.unique(key):
        rows = np.flatnonzero(key == k)
        cdf = vocab.first_cdf[k // N_YEAR_BINS, k % N_YEAR_BINS]
        out[rows] = np.minimum(np.searchsorted(cdf, u[rows], side="right"), len(cdf) - 1)
    return out


def _unique_numbers(state: RunState, rng: np.random.Generator, numbers: np.ndarray) -> np.ndarray:
    """Phone numbers unique in the run (0 = none), avoiding the placeholder-looking ones."""
    numbers = numbers.astype(np.int64).copy()
    seen = state.phones
    for i in np.flatnonzero(numbers):
        v = int(numbers[i])
        while v in seen or v % 1_000_000 == 0:
            v = (v // 100_000_000) * 100_000_000 + int(rng.integers(1_000_000, 99_999_999))
        seen.add(v)
        numbers[i] = v
    return numbers


def _home_stores(state: RunState, rng: np.random.Generator, city: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Each person's usual store: one in their department when there is one, else any (weighted)."""
    stores = state.stores
    dep = state.vocab.departments[city]
    n = len(city)
    fallback = np.minimum(np.searchsorted(np.cumsum(stores.weight), rng.random(n), side="right"),
                          len(stores.code) - 1)
    out = fallback.copy()
    near = np.zeros(n, dtype=bool)
    u = rng.random(n)
    for d in np.unique(dep):
        local = np.flatnonzero(stores.department == d)
        if len(local) == 0:
            continue
        rows = np.flatnonzero(dep == d)
        out[rows] = local[(u[rows] * len(local)).astype(int)]
        near[rows] = True
    return out, near
