"""Sources that hold customer records: e-shop accounts, loyalty members, CRM customers, newsletter sign-ups.

Each builder picks who is in the source (with duplicates inside the source: a second e-shop account with
another email, a second loyalty card, a CRM customer created twice), dates the records, takes the address the
person had at that date (movers: old address in old records) and renders every field in the source's habits.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

from spark_lib.generator import render as r
from spark_lib.generator.foreign import country_names
from spark_lib.generator.population import Population
from spark_lib.generator.render import AddressStyle, DateStyle, EmailStyle, TextStyle
from spark_lib.generator.serialize import Part
from spark_lib.generator.state import RunState, from_days

DAY = 86_400


@dataclass
class Chunk:
    """What the builders of one chunk share."""

    state: RunState
    index: int
    pop: Population
    n_chunks: int
    #: the day the records are written as of: the reference date (None) or a day of the daily deliveries
    as_of: int | None = None

    def rng(self, purpose: str) -> np.random.Generator:
        return self.state.rng(self.index, purpose)

    @property
    def ref(self) -> int:
        return self.state.reference_day if self.as_of is None else self.as_of

    @property
    def first(self) -> bool:
        return self.index == 0


def day_seconds(rng: np.random.Generator, days: np.ndarray, hours: tuple[float, float] = (8, 22)) -> np.ndarray:
    """A time of day within ``hours`` for each day, as seconds since epoch."""
    days = np.asarray(days, dtype=np.int64)
    lo, hi = hours
    return days * DAY + (rng.uniform(lo, hi, len(days)) * 3600).astype(np.int64)


def days_back(rng: np.random.Generator, ref: int, n: int, max_years: float, a: float = 1.1, b: float = 1.8,
              min_days: int = 1) -> np.ndarray:
    """Dates in the past, more of them recent (beta-distributed age)."""
    return (ref - min_days - rng.beta(a, b, n) * max_years * 365).astype(np.int32)


def pick_last_name(rng, pop: Population, p: np.ndarray, birth_name_share: float) -> np.ndarray:
    """The name in use, or for a share of married women their birth name."""
    use_birth = (pop.last[p] != pop.birth_last[p]) & (rng.random(len(p)) < birth_name_share)
    return np.where(use_birth, pop.birth_last[p], pop.last[p])


def young_unmarried(pop: Population, p: np.ndarray) -> np.ndarray:
    return (pop.sex[p] == 1) & (pop.age[p] < 30) & (pop.last[p] == pop.birth_last[p])


def contact_phone(rng, pop: Population, p: np.ndarray, landline_share: float) -> np.ndarray:
    """The number a person gives: the mobile, or the home landline (sometimes, or when no mobile)."""
    mobile, land = pop.mobile[p], pop.landline[p]
    use_land = (land > 0) & ((mobile == 0) | (rng.random(len(p)) < landline_share))
    return np.where(use_land, land, mobile)


def select(values: pa.Array, rows: np.ndarray) -> pa.Array:
    return pc.take(values, rows)


def one_of(rng, n: int, options: tuple[str, ...], weights: tuple[float, ...]) -> pa.Array:
    return r.take(r.strings(list(options)), r.choose(rng, n, weights).astype(np.int64))


def shuffled(rng, n: int) -> np.ndarray:
    return rng.permutation(n)


def id_rank(rng, dates: np.ndarray) -> np.ndarray:
    """Ids follow creation order: the rank of each record by date (ties broken at random)."""
    order = np.lexsort((rng.random(len(dates)), dates))
    rank = np.empty(len(dates), dtype=np.int64)
    rank[order] = np.arange(len(dates))
    return rank


# --------------------------------------------------------------------------------------------------
# E-shop accounts
# --------------------------------------------------------------------------------------------------

ESHOP_TEXT = TextStyle(upper=0.06, lower=0.05, no_accents=0.12, typo=0.012)
ESHOP_ADDRESS = AddressStyle(text=TextStyle(upper=0.06, lower=0.08, no_accents=0.15, typo=0.008),
                             abbreviate_type=0.3, saint_abbrev=0.2, extra_missing=0.25)
WEB_PHONE_FORMATS = (0.40, 0.28, 0.09, 0.07, 0.02, 0.08, 0.03, 0.0, 0.0, 0.03)
ESHOP_EMAIL = EmailStyle(case=0.04, domain_typo=0.004, local_typo=0.002, gmail_dots=0.01)


@dataclass
class Accounts:
    p: np.ndarray              # person (chunk position)
    account_id: pa.Array
    created: np.ndarray        # day
    second: np.ndarray         # the person's second account
    optin_email: np.ndarray
    email: pa.Array            # as typed in the account


def eshop_accounts(chunk: Chunk) -> tuple[Part, Accounts]:
    rng = chunk.rng("eshop_accounts")
    pop, ref = chunk.pop, chunk.ref
    p1 = np.flatnonzero(pop.eshop)
    has_alt = ~pc.is_null(pop.email_alt).to_numpy(zero_copy_only=False)
    p1 = p1[has_alt[p1] | ~pop.family_email[p1] | (pop.role[p1] == 0)]
    p2 = p1[(rng.random(len(p1)) < 0.045) & has_alt[p1]]
    p = np.concatenate([p1, p2])
    second = np.r_[np.zeros(len(p1), bool), np.ones(len(p2), bool)]
    n = len(p)
    created = days_back(rng, ref, n, 8, 1.2, 2.2, min_days=3)
    updated = created + ((ref - created) * np.where(rng.random(n) < 0.45, 0, rng.random(n))).astype(np.int32)
    rank = id_rank(rng, created)
    ids = r.int_str(1_000_000 + chunk.state.next_ids("eshop_accounts", n)[rank])
    columns, optin_email, email = account_columns(chunk, rng, p, second, created, updated, ids)
    part = Part(
        "eshop_accounts", columns, "id_compte",
        fresh_ids=lambda k: r.int_str(1_000_000 + chunk.state.next_ids("eshop_accounts", k)),
        order=shuffled(rng, n), first_part=chunk.first, min_malformed=1,
    )
    part.extra["truth"] = (ids, p)
    return part, Accounts(p=p, account_id=ids, created=created, second=second, optin_email=optin_email, email=email)


def account_columns(chunk: Chunk, rng: np.random.Generator, p: np.ndarray, second: np.ndarray, created: np.ndarray,
                    updated: np.ndarray, ids: pa.Array) -> tuple[dict[str, pa.Array], np.ndarray, pa.Array]:
    """The columns of the e-shop accounts ``ids`` of persons ``p``; also the e-mail opt-ins and e-mails typed."""
    pop, vocab, ref = chunk.pop, chunk.state.vocab, chunk.ref
    n = len(p)
    # one account per address: the second user of a family email signs up with their own address
    own_address = second | (pop.family_email[p] & (pop.role[p] != 0))
    true_email = r.where(own_address, select(pop.email_alt, p), select(pop.email, p))
    email = r.emails(rng, true_email, ESHOP_EMAIL)
    first = r.first_names(rng, vocab, pop.first[p], ESHOP_TEXT, nickname=0.04, first_part=0.03, hyphen_space=0.1)
    last = r.last_names(rng, vocab, pick_last_name(rng, pop, p, 0.12), ESHOP_TEXT, collapse_particles=0.15)
    first, last = r.swap(rng, first, last, 0.01)
    addr = pop.address_at(p, updated)
    optin_email = rng.random(n) < np.array([0.35, 0.5, 0.6, 0.7, 0.75])[pop.profile[p]]
    optin_sms = rng.random(n) < 0.3
    created_s = day_seconds(rng, created)
    optin_s = np.where(rng.random(n) < 0.8, created_s, np.maximum(created_s, day_seconds(rng, updated)))
    updated_s = np.maximum(created_s, day_seconds(rng, updated))
    last_login = np.minimum(ref, updated + (rng.random(n) * (ref - updated)).astype(np.int32))
    columns = {
        "id_compte": ids,
        "civilite": r.civilities(rng, pop.sex[p], young_unmarried(pop, p), "web"),
        "prenom": first,
        "nom": last,
        "date_naissance": r.birth_dates(
            rng, pop.birth[p], DateStyle(("dd/MM/yyyy", "yyyy-MM-dd", "yyyyMMdd"), (0.72, 0.22, 0.06),
                                         missing=0.42), from_days(ref).year),
        "email": email,
        "telephone": r.phones(rng, contact_phone(rng, pop, p, 0.15), WEB_PHONE_FORMATS, placeholder=0.004,
                              missing=0.18),
        "adresse": r.street_lines(rng, vocab, addr, ESHOP_ADDRESS),
        "complement_adresse": r.address_extras(rng, addr, ESHOP_ADDRESS),
        "code_postal": r.postcodes(rng, vocab, addr, ESHOP_ADDRESS),
        "ville": r.cities(rng, vocab, addr, ESHOP_ADDRESS),
        "pays": r.blank(rng, country_names(rng, pop.country_of(p), one_of(rng, n, ("France", "FR", "FRANCE", "france"),
                                                                           (0.7, 0.15, 0.12, 0.03))), 0.05),
        "optin_email": r.consents(rng, optin_email, "1/0"),
        "optin_sms": r.consents(rng, optin_sms, "1/0"),
        "date_optin": r.null_where(~(optin_email | optin_sms),
                                   r.format_timestamps(optin_s, "yyyy-MM-dd HH:mm:ss")),
        "date_creation": r.format_timestamps(created_s, "yyyy-MM-dd HH:mm:ss"),
        "date_maj": r.format_timestamps(updated_s, "yyyy-MM-dd HH:mm:ss"),
        "derniere_connexion": r.format_timestamps(np.maximum(updated_s, day_seconds(rng, last_login)),
                                                  "yyyy-MM-dd HH:mm:ss"),
    }
    return columns, optin_email, email


# --------------------------------------------------------------------------------------------------
# Loyalty members (store back office, Windows-1252)
# --------------------------------------------------------------------------------------------------

LOYALTY_LAST = TextStyle(upper=0.78, lower=0.0, no_accents=0.2, upper_no_accents=0.75, typo=0.02)
LOYALTY_FIRST = TextStyle(upper=0.4, lower=0.02, no_accents=0.2, upper_no_accents=0.75, typo=0.02)
LOYALTY_ADDRESS = AddressStyle(text=TextStyle(upper=0.65, lower=0.02, no_accents=0.3, typo=0.012),
                               abbreviate_type=0.55, saint_abbrev=0.35, postcode_drop_zero=0.45,
                               city_hyphen_space=0.4, city_arrondissement=0.4, extra_missing=0.3, cedex=0.002)
LOYALTY_PHONE_FORMATS = (0.58, 0.2, 0.0, 0.0, 0.0, 0.1, 0.02, 0.0, 0.1, 0.0)
LOYALTY_EMAIL = EmailStyle(case=0.06, domain_typo=0.025, local_typo=0.02, gmail_dots=0.01, spaces=0.005,
                           placeholder=0.05, missing=0.3)


@dataclass
class Cards:
    p: np.ndarray
    card: pa.Array
    joined: np.ndarray          # day the card was issued


def _ean13(serial: np.ndarray) -> pa.Array:
    """Card numbers "290" + 9-digit serial + EAN-13 check digit."""
    body = 290_000_000_000 + serial
    digits = np.stack([(body // 10 ** k) % 10 for k in range(11, -1, -1)], axis=1)
    weights = np.tile([1, 3], 6)
    check = (10 - (digits * weights).sum(axis=1) % 10) % 10
    return r.int_str(body * 10 + check)


def loyalty_members(chunk: Chunk) -> tuple[Part, Cards]:
    rng = chunk.rng("loyalty_members")
    pop, ref = chunk.pop, chunk.ref
    p1 = np.flatnonzero(pop.loyalty)
    p2 = p1[rng.random(len(p1)) < 0.03]
    p = np.concatenate([p1, p2])
    n = len(p)
    joined1 = days_back(rng, ref, len(p1), 10, 1.1, 1.6, min_days=2)
    first_join = dict(zip(p1.tolist(), joined1.tolist()))
    base = np.array([first_join[x] for x in p2.tolist()], dtype=np.int32)
    joined2 = (base + (ref - base) * rng.uniform(0.2, 1.0, len(p2))).astype(np.int32)  # card lost, new card
    joined = np.concatenate([joined1, joined2])
    rank = id_rank(rng, joined)
    card = _ean13(chunk.state.next_ids("loyalty_members", n)[rank] + 100_000)
    part = Part(
        "loyalty_members", card_columns(chunk, rng, p, card, joined), "num_carte",
        fresh_ids=lambda k: _ean13(chunk.state.next_ids("loyalty_members", k) + 100_000),
        order=shuffled(rng, n), first_part=chunk.first, min_malformed=1,
    )
    part.extra["truth"] = (card, p)
    return part, Cards(p=p, card=card, joined=joined)


def card_columns(chunk: Chunk, rng: np.random.Generator, p: np.ndarray, card: pa.Array,
                 joined: np.ndarray) -> dict[str, pa.Array]:
    """The columns of the loyalty cards ``card`` of persons ``p``, issued on the days ``joined``."""
    pop, vocab, ref = chunk.pop, chunk.state.vocab, chunk.ref
    n = len(p)
    # the back office keeps the address given at sign-up, unless the member told a store about a move
    as_of = np.where(rng.random(n) < 0.35, ref, joined)
    addr = pop.address_at(p, as_of)
    married = pop.last[p] != pop.birth_last[p]
    last_idx = pop.last[p]
    nom = r.last_names(rng, vocab, last_idx, LOYALTY_LAST, collapse_particles=0.2)
    birth_name = r.last_names(rng, vocab, pop.birth_last[p], LOYALTY_LAST)
    nom_naissance = r.where(married & (rng.random(n) < 0.7), birth_name,
                            r.where(rng.random(n) < 0.15, nom, r.NULL))
    prenom = r.first_names(rng, vocab, pop.first[p], LOYALTY_FIRST, nickname=0.02, first_part=0.08,
                           hyphen_space=0.3)
    prenom, nom = r.swap(rng, prenom, nom, 0.008)
    land = pop.landline[p]
    mobile = pop.mobile[p]
    mobile_in_fixe = (land == 0) & (mobile > 0) & (rng.random(n) < 0.15)
    tel_fixe = r.phones(rng, np.where(mobile_in_fixe, mobile, land), LOYALTY_PHONE_FORMATS, placeholder=0.01,
                        missing=0.1)
    tel_portable = r.phones(rng, np.where(mobile_in_fixe, 0, mobile), LOYALTY_PHONE_FORMATS, placeholder=0.03,
                            missing=0.1)
    email = r.emails(rng, select(pop.email, p), LOYALTY_EMAIL)
    columns = {
        "num_carte": card,
        "civilite": r.civilities(rng, pop.sex[p], young_unmarried(pop, p), "backoffice"),
        "nom": nom,
        "nom_naissance": nom_naissance,
        "prenom": prenom,
        "date_naiss": r.birth_dates(rng, pop.birth[p], DateStyle(("yyyyMMdd",), (1.0,), impossible=0.003,
                                                                 placeholder=0.004, future=0.001, missing=0.06),
                                    from_days(ref).year),
        "adresse1": r.street_lines(rng, vocab, addr, LOYALTY_ADDRESS),
        "adresse2": r.address_extras(rng, addr, LOYALTY_ADDRESS),
        "cp": r.postcodes(rng, vocab, addr, LOYALTY_ADDRESS),
        "ville": r.cities(rng, vocab, addr, LOYALTY_ADDRESS),
        "tel_fixe": tel_fixe,
        "tel_portable": tel_portable,
        "email": email,
        "optin_sms": r.consents(rng, rng.random(n) < 0.4, "O/N", missing=0.03),
        "optin_courrier": r.consents(rng, rng.random(n) < 0.6, "O/N", missing=0.03),
        "date_adhesion": r.format_dates(joined, "dd/MM/yyyy"),
        "magasin_adhesion": r.take(r.strings(chunk.state.stores.code), pop.home_store[p]),
        "points": pa.array(rng.poisson(np.array([40, 150, 400, 900, 1800])[pop.profile[p]]).astype(np.int32)),
    }
    return columns


# --------------------------------------------------------------------------------------------------
# CRM extract (head office)
# --------------------------------------------------------------------------------------------------

CRM_ADDRESS = AddressStyle(text=TextStyle(upper=0.2, lower=0.03, no_accents=0.2, typo=0.008), abbreviate_type=0.5,
                           saint_abbrev=0.25, comma_after_number=0.05, city_arrondissement=0.3, extra_missing=0.2)
CRM_FIRST = TextStyle(upper=0.12, lower=0.0, no_accents=0.15, typo=0.01)
CRM_LAST = TextStyle(upper=0.0, lower=0.0, no_accents=0.25, typo=0.01)
CRM_LAST_UPPER = TextStyle(upper=1.0, upper_no_accents=0.8, typo=0.01)
CRM_PHONE_FORMATS = (0.3, 0.05, 0.62, 0.0, 0.0, 0.03)
CRM_EMAIL = EmailStyle(case=0.02, domain_typo=0.008, local_typo=0.004, placeholder=0.01, missing=0.3)
SEGMENTS = ("INACTIF", "OCCASIONNEL", "REGULIER", "FIDELE", "VIP")


@dataclass
class CrmRecords:
    p: np.ndarray
    code: pa.Array
    created: np.ndarray
    updated: np.ndarray
    postal_ok: np.ndarray     # accepts postal mailings


def crm_customers(chunk: Chunk) -> tuple[Part, CrmRecords]:
    rng = chunk.rng("crm_customers")
    pop, ref = chunk.pop, chunk.ref
    p1 = np.flatnonzero(pop.crm)
    p2 = p1[rng.random(len(p1)) < 0.03]
    p = np.concatenate([p1, p2])
    n = len(p)
    created = days_back(rng, ref, n, 12, 1.0, 1.5, min_days=5)
    updated = (created + (ref - created) * np.where(rng.random(n) < 0.35, 0, rng.random(n))).astype(np.int32)
    rank = id_rank(rng, created)
    code = r.concat("CLI", r.padded(chunk.state.next_ids("crm_customers", n)[rank] + 1, 8))
    columns, postal_ok = crm_columns(chunk, rng, p, code, created, updated)
    part = Part(
        "crm_customers", columns, "code_client",
        fresh_ids=lambda k: r.concat("CLI", r.padded(chunk.state.next_ids("crm_customers", k) + 1, 8)),
        order=np.argsort(rank), first_part=chunk.first, min_malformed=1,
    )
    part.extra["truth"] = (code, p)
    return part, CrmRecords(p=p, code=code, created=created, updated=updated, postal_ok=postal_ok)


def crm_columns(chunk: Chunk, rng: np.random.Generator, p: np.ndarray, code: pa.Array, created: np.ndarray,
                updated: np.ndarray) -> tuple[dict[str, pa.Array], np.ndarray]:
    """The columns of the CRM customers ``code`` of persons ``p``; also whether each accepts postal mail."""
    pop, vocab, ref = chunk.pop, chunk.state.vocab, chunk.ref
    n = len(p)
    addr = pop.address_at(p, updated)
    last_idx = pick_last_name(rng, pop, p, 0.1)
    last_up = r.last_names(rng, vocab, last_idx, CRM_LAST_UPPER, collapse_particles=0.1)
    first = r.first_names(rng, vocab, pop.first[p], CRM_FIRST, nickname=0.03, first_part=0.04, hyphen_space=0.15)
    last_mixed = r.last_names(rng, vocab, last_idx, CRM_LAST)
    form = rng.random(n)
    full = r.where(form < 0.72, r.concat(last_up, " ", first),
                   r.where(form < 0.82, r.concat(first, " ", last_up),
                           r.where(form < 0.92, r.concat(last_up, " ", r.upper(first)),
                                   r.concat(last_mixed, " ", first))))
    # "MARTIN née DUPONT Sophie": a few married women recorded with both names
    nee = (pop.last[p] != pop.birth_last[p]) & (rng.random(n) < 0.03)
    birth_up = r.last_names(rng, vocab, pop.birth_last[p], TextStyle(upper=1.0, upper_no_accents=0.8))
    full = r.where(nee, r.concat(r.last_names(rng, vocab, pop.last[p], TextStyle(upper=1.0, upper_no_accents=0.8)),
                                 " née ", birth_up, " ", first), full)
    street = r.street_lines(rng, vocab, addr, CRM_ADDRESS)
    extra = r.address_extras(rng, addr, CRM_ADDRESS)
    inline = ~pc.is_null(extra).to_numpy(zero_copy_only=False) & (rng.random(n) < 0.45)
    street = r.where(inline, r.concat(street, r.where(rng.random(n) < 0.5, " ", ", "), extra), street)
    postal_ok = rng.random(n) < 0.75
    created_s = day_seconds(rng, created)
    segment = np.clip(pop.profile[p] + rng.integers(-1, 2, n), 0, 4)
    columns = {
        "code_client": code,
        "titre": r.civilities(rng, pop.sex[p], young_unmarried(pop, p), "crm"),
        "nom_prenom": full,
        "date_naissance": r.birth_dates(rng, pop.birth[p], DateStyle(("yyyy-MM-dd",), (1.0,), impossible=0.002,
                                                                     placeholder=0.008, missing=0.25),
                                        from_days(ref).year),
        "adresse": street,
        "complement": r.null_where(inline, extra),
        "code_postal": r.postcodes(rng, vocab, addr, CRM_ADDRESS),
        "ville": r.cities(rng, vocab, addr, CRM_ADDRESS),
        "telephone": r.phones(rng, contact_phone(rng, pop, p, 0.25), CRM_PHONE_FORMATS, placeholder=0.005,
                              missing=0.15),
        "email": r.emails(rng, select(pop.email, p), CRM_EMAIL),
        "accepte_courrier": r.consents(rng, postal_ok, "true/false"),
        "segment": r.take(r.strings(list(SEGMENTS)), segment),
        "magasin_rattachement": r.blank(rng, r.take(r.strings(chunk.state.stores.code), pop.home_store[p]), 0.2),
        "date_creation": r.format_timestamps(created_s, "yyyy-MM-dd HH:mm:ss"),
        "date_maj": r.format_timestamps(np.maximum(created_s, day_seconds(rng, updated)), "yyyy-MM-dd HH:mm:ss"),
    }
    return columns, postal_ok


# --------------------------------------------------------------------------------------------------
# Newsletter sign-ups
# --------------------------------------------------------------------------------------------------

ORIGINS = ("popup", "footer", "jeu-concours", "magasin", "commande", "appli")


@dataclass
class Signups:
    p: np.ndarray
    email: pa.Array
    consent: np.ndarray
    day: np.ndarray


def newsletter_signups(chunk: Chunk) -> tuple[Part, Signups]:
    rng = chunk.rng("newsletter_signups")
    pop, ref = chunk.pop, chunk.ref
    p1 = np.flatnonzero(pop.newsletter)
    p2 = p1[rng.random(len(p1)) < 0.05]
    p = np.concatenate([p1, p2])
    n = len(p)
    second = np.r_[np.zeros(len(p1), bool), np.ones(len(p2), bool)]
    day = days_back(rng, ref, n, 5, 1.1, 1.4)
    columns, email, consent, seconds = signup_columns(chunk, rng, p, second, day)
    order = np.argsort(seconds, kind="stable")
    part = Part(
        "newsletter_signups", columns, "id_inscription",
        fresh_ids=lambda k: r.concat("NL", r.padded(chunk.state.next_ids("newsletter_signups", k) + 1, 9)),
        order=order, first_part=chunk.first, min_malformed=1,
    )
    part.extra["truth"] = (columns["id_inscription"], p)
    return part, Signups(p=p, email=email, consent=consent, day=day)


def signup_columns(chunk: Chunk, rng: np.random.Generator, p: np.ndarray, second: np.ndarray,
                   day: np.ndarray) -> tuple[dict[str, pa.Array], pa.Array, np.ndarray, np.ndarray]:
    """The columns of sign-ups of persons ``p`` on the days ``day`` (``second``: a person's second sign-up,
    often with another address); also the e-mails typed, the consents and the seconds of each sign-up."""
    pop, vocab = chunk.pop, chunk.state.vocab
    n = len(p)
    use_alt = (rng.random(n) < np.where(second, 0.6, 0.12)) & ~pc.is_null(select(pop.email_alt, p)).to_numpy(
        zero_copy_only=False)
    true_email = r.where(use_alt, select(pop.email_alt, p), select(pop.email, p))
    origin = r.choose(rng, n, [0.35, 0.25, 0.12, 0.15, 0.1, 0.03])
    contest = origin == 2
    email = r.emails(rng, true_email, EmailStyle(case=0.04, domain_typo=0.015, local_typo=0.006, gmail_dots=0.01,
                                                 spaces=0.004))
    placeholder = rng.random(n) < np.where(contest, 0.05, 0.002)
    email = r.where(placeholder, r.take(r.strings(["test@test.fr", "aaa@aaa.fr", "test@gmail.com"]),
                                        rng.integers(0, 3, n)), email)
    addr = pop.address_at(p, day)
    consent = rng.random(n) < 0.97
    seconds = day_seconds(rng, day, (7, 23.9))
    rank = id_rank(rng, seconds)
    columns = {
        "id_inscription": r.concat("NL", r.padded(chunk.state.next_ids("newsletter_signups", n)[rank] + 1, 9)),
        "email": email,
        "prenom": r.blank(rng, r.first_names(rng, vocab, pop.first[p], TextStyle(upper=0.05, lower=0.12,
                                                                                no_accents=0.15, typo=0.01),
                                             nickname=0.06), 0.4),
        "code_postal": r.blank(rng, r.postcodes(rng, vocab, addr, AddressStyle(postcode_typo=0.004)), 0.55),
        "consentement": r.consents(rng, consent, "oui/non"),
        "date_consentement": r.format_timestamps(seconds, "dd/MM/yyyy HH:mm"),
        "origine": r.take(r.strings(list(ORIGINS)), origin),
    }
    return columns, email, consent, seconds


# --------------------------------------------------------------------------------------------------
# Store customer file (profile store_crm_only: an old store CRM, no contact details)
# --------------------------------------------------------------------------------------------------

STORE_FILE_LAST = TextStyle(upper=0.85, lower=0.0, no_accents=0.3, upper_no_accents=0.8, typo=0.025)
STORE_FILE_FIRST = TextStyle(upper=0.5, lower=0.02, no_accents=0.25, upper_no_accents=0.8, typo=0.02)
STORE_FILE_ADDRESS = AddressStyle(text=TextStyle(upper=0.7, lower=0.01, no_accents=0.3, typo=0.015),
                                  abbreviate_type=0.6, saint_abbrev=0.4, postcode_drop_zero=0.3,
                                  postcode_typo=0.006, city_hyphen_space=0.4, city_arrondissement=0.3,
                                  extra_missing=0.35, no_number=0.01)


def store_customers(chunk: Chunk) -> tuple[Part, CrmRecords]:
    """Customer cards keyed in by store staff before the loyalty programme: name, birth date, postal address,
    nothing to contact the customer by. A customer is keyed in again at another store, after a move (the old
    card keeps the old address), under her birth name, or because nobody found the first card."""
    rng = chunk.rng("store_customers")
    pop, vocab, ref = chunk.pop, chunk.state.vocab, chunk.ref
    p1 = np.flatnonzero(pop.shopper | pop.loyalty | pop.crm)
    again = rng.poisson(np.where(pop.profile[p1] >= 2, 0.45, 0.25))
    p2 = np.repeat(p1, again)
    p = np.concatenate([p1, p2])
    n = len(p)
    first_day = days_back(rng, ref, len(p1), 15, 1.0, 1.4, min_days=30)
    first_of = dict(zip(p1.tolist(), first_day.tolist()))
    base = np.array([first_of[x] for x in p2.tolist()], dtype=np.int32)
    created = np.concatenate([first_day, (base + (ref - base) * rng.uniform(0.05, 1.0, len(p2))).astype(np.int32)])
    updated = (created + (ref - created) * np.where(rng.random(n) < 0.6, 0, rng.random(n))).astype(np.int32)
    rank = id_rank(rng, created)
    ids = r.concat("FIC", r.padded(chunk.state.next_ids("store_customers", n)[rank] + 1, 8))
    addr = pop.address_at(p, updated)
    married = pop.last[p] != pop.birth_last[p]
    nom = r.last_names(rng, vocab, pick_last_name(rng, pop, p, 0.25), STORE_FILE_LAST, collapse_particles=0.2)
    prenom = r.first_names(rng, vocab, pop.first[p], STORE_FILE_FIRST, nickname=0.04, first_part=0.08,
                           hyphen_space=0.3)
    prenom, nom = r.swap(rng, prenom, nom, 0.01)
    birth_name = r.null_where(~married | (rng.random(n) < 0.6),
                              r.last_names(rng, vocab, pop.birth_last[p], STORE_FILE_LAST))
    street = r.street_lines(rng, vocab, addr, STORE_FILE_ADDRESS)
    country = pop.country_of(p)
    pays = country_names(rng, country, one_of(rng, n, ("FRANCE", "France", "FR"), (0.6, 0.3, 0.1)))
    abroad = np.zeros(n, dtype=bool) if country is None else country > 0
    columns = {
        "id_fiche": ids,
        "magasin": r.take(r.strings(chunk.state.stores.code), pop.home_store[p]),
        "civilite": r.civilities(rng, pop.sex[p], young_unmarried(pop, p), "backoffice"),
        "nom": nom,
        "nom_jeune_fille": birth_name,
        "prenom": prenom,
        "date_naissance": r.birth_dates(rng, pop.birth[p], DateStyle(("dd/MM/yyyy",), (1.0,), impossible=0.004,
                                                                     placeholder=0.01, day_month_swap=0.008,
                                                                     missing=0.12), from_days(ref).year),
        "adresse": street,
        "complement": r.address_extras(rng, addr, STORE_FILE_ADDRESS),
        "code_postal": r.postcodes(rng, vocab, addr, STORE_FILE_ADDRESS),
        "ville": r.cities(rng, vocab, addr, STORE_FILE_ADDRESS),
        "pays": r.where(abroad, r.blank(rng, pays, 0.1), r.blank(rng, pays, 0.85)),
        "date_creation": r.format_dates(created, "dd/MM/yyyy"),
        "date_modif": r.format_dates(updated, "dd/MM/yyyy"),
    }
    part = Part(
        "store_customers", columns, "id_fiche",
        fresh_ids=lambda k: r.concat("FIC", r.padded(chunk.state.next_ids("store_customers", k) + 1, 8)),
        order=np.argsort(rank), first_part=chunk.first, min_malformed=1,
    )
    part.extra["truth"] = (ids, p)
    return part, CrmRecords(p=p, code=pa.nulls(n, r.STRING), created=created, updated=updated,
                            postal_ok=rng.random(n) < 0.8)
