"""Sources of events: catalogue mailings, e-shop orders, store receipts, email campaigns, web navigation, calls.

The timeline covers the 24 months before the reference date. A person's engagement profile (dormant, cold,
warm, hot, very hot) drives how often they visit the site, open and click emails, order and shop in store.
Sources feed each other so that the stories hold together: an order has the web session that made it
(logged in with the ordering account), an email click lands on the site with ``utm_source=email``, some
catalogue recipients visit the site within 14 days and leave a cart without ordering, and some people
research products online a few days before buying in store (ROPO).
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

from spark_lib.generator import render as r
from spark_lib.generator.foreign import FOREIGN_DOMAINS, country_names
from spark_lib.generator.identity import (
    DAY,
    WEB_PHONE_FORMATS,
    Accounts,
    Cards,
    Chunk,
    CrmRecords,
    Signups,
    one_of,
    pick_last_name,
    select,
    young_unmarried,
)
from spark_lib.generator.population import _ALT_DOMAINS, _OLDER_DOMAINS, _YOUNG_DOMAINS
from spark_lib.generator.render import AddressStyle, EmailStyle, TextStyle
from spark_lib.generator.serialize import Part
from spark_lib.generator.state import RunState

# session kinds
BROWSE, CHECKOUT, CART, VISIT, RESEARCH, CATALOGUE_CART = range(6)
EVENT_TYPES = ("page_view", "product_view", "add_to_cart", "checkout_start", "login")
PAGE_VIEW, PRODUCT_VIEW, ADD_TO_CART, CHECKOUT_START, LOGIN = range(5)
PAGES = (
    "/", "/nouveautes", "/promotions", "/categorie/maison", "/categorie/cuisine", "/categorie/deco",
    "/categorie/jardin", "/categorie/mode-femme", "/categorie/mode-homme", "/categorie/enfant", "/recherche",
    "/magasins", "/fidelite", "/blog/idees-cadeaux",
)
PAGE_WEIGHTS = (0.3, 0.08, 0.12, 0.07, 0.06, 0.06, 0.04, 0.07, 0.05, 0.04, 0.06, 0.02, 0.02, 0.01)
DEVICES = ("desktop", "mobile", "tablet", "app_ios", "app_android")
N_PRODUCTS = 8000
_PRODUCT_CDF = np.cumsum(1.0 / (np.arange(N_PRODUCTS) + 15.0) ** 1.05)
_PRODUCT_CDF /= _PRODUCT_CDF[-1]
VALID_DOMAINS = {d for d, _ in _YOUNG_DOMAINS + _OLDER_DOMAINS + _ALT_DOMAINS} | FOREIGN_DOMAINS

# hours of activity (weights for 0h..23h)
WEB_HOURS = np.array([1, .6, .3, .2, .2, .3, .8, 2, 3, 3.5, 4, 4.5, 5.5, 5.5, 4.5, 4, 4, 4.5, 5.5, 7, 8, 8, 6, 3])
STORE_HOURS = np.array([0, 0, 0, 0, 0, 0, 0, 0, 0, 2, 4, 5, 5, 3.5, 3, 3.5, 4.5, 5.5, 6, 4.5, 1.5, 0, 0, 0])


def times_in_day(rng: np.random.Generator, days: np.ndarray, hours: np.ndarray) -> np.ndarray:
    cdf = np.cumsum(hours) / hours.sum()
    hour = np.minimum(np.searchsorted(cdf, rng.random(len(days)), side="right"), 23)
    return np.asarray(days, dtype=np.int64) * DAY + hour * 3600 + rng.integers(0, 3600, len(days))


def gather(values: np.ndarray, idx: np.ndarray, fill=0) -> np.ndarray:
    """``values[idx]``, ``fill`` where ``idx`` is negative (and when ``values`` is empty)."""
    idx = np.asarray(idx)
    if len(values) == 0:
        return np.full(len(idx), fill)
    return np.where(idx >= 0, values[np.maximum(idx, 0)], fill)


def end_of_window(chunk: Chunk) -> int:
    return (chunk.ref + 1) * DAY - 1


@dataclass
class Visits:
    """Web sessions asked for by other sources; :func:`web_events` puts them on the person's cookies."""

    p: list = field(default_factory=list)
    seconds: list = field(default_factory=list)
    kind: list = field(default_factory=list)
    anchored_end: list = field(default_factory=list)   # the session ends at ``seconds`` (an order)
    account: list = field(default_factory=list)        # account that logs in (null: none)
    utm_source: list = field(default_factory=list)
    utm_campaign: list = field(default_factory=list)

    def add(self, p, seconds, kind, anchored_end=False, account=None, utm_source=None, utm_campaign=None):
        n = len(p)
        if n == 0:
            return
        self.p.append(np.asarray(p, dtype=np.int64))
        self.seconds.append(np.asarray(seconds, dtype=np.int64))
        self.kind.append(np.broadcast_to(np.asarray(kind, dtype=np.int8), (n,)).copy())
        self.anchored_end.append(np.full(n, anchored_end, dtype=bool))
        self.account.append(account if account is not None else pa.nulls(n, r.STRING))
        self.utm_source.append(pa.array([utm_source] * n, r.STRING) if not isinstance(utm_source, pa.Array)
                               else utm_source)
        self.utm_campaign.append(utm_campaign if isinstance(utm_campaign, pa.Array)
                                 else pa.array([utm_campaign] * n, r.STRING))


# --------------------------------------------------------------------------------------------------
# Catalogue mailings (routing file for the printer)
# --------------------------------------------------------------------------------------------------


@dataclass
class Triggers:
    """Orders that catalogue recipients place (or leave as carts) within 14 days of the mailing."""

    p: np.ndarray
    seconds: np.ndarray
    status: np.ndarray     # 0 completed, 2 cart
    campaign: pa.Array


def catalogue_mailings(chunk: Chunk, crm: CrmRecords, has_account: np.ndarray, visits: Visits) -> tuple[Part, Triggers]:
    rng = chunk.rng("catalogue_mailings")
    pop, vocab, state = chunk.pop, chunk.state.vocab, chunk.state
    campaigns = state.catalogue_campaigns
    # recipients: CRM customers who accept mail, and prospects from rented lists
    crm_rows = np.flatnonzero(crm.postal_ok)
    prospects = np.flatnonzero(pop.prospect)
    n_dest = len(crm_rows) + len(prospects)
    dest_p = np.concatenate([crm.p[crm_rows], prospects])
    dest_crm = np.concatenate([crm_rows, np.full(len(prospects), -1)])
    dest_id = r.concat("D", r.padded(state.next_ids("catalogue_recipients", n_dest) + 1, 9))
    first_day = campaigns[0].send_second // DAY
    as_of = np.where(dest_crm >= 0, gather(crm.updated, dest_crm), first_day - 60)
    addr = pop.address_at(dest_p, as_of)
    style = AddressStyle(rnvp=True)
    rnvp = TextStyle(upper=1.0, upper_no_accents=1.0, typo=0.004)
    lift = np.array([0.15, 0.3, 0.45, 0.6, 0.7])[pop.profile[dest_p]]
    rows_dest, rows_camp = [], []
    for c, campaign in enumerate(campaigns):
        day = campaign.send_second // DAY
        eligible = np.where(dest_crm >= 0, gather(crm.created, dest_crm) <= day, True)
        chosen = eligible & (rng.random(n_dest) < np.where(dest_crm >= 0, lift, 0.45))
        idx = np.flatnonzero(chosen)
        rows_dest.append(idx)
        rows_camp.append(np.full(len(idx), c))
    rows_dest = np.concatenate(rows_dest) if rows_dest else np.zeros(0, np.int64)
    rows_camp = np.concatenate(rows_camp) if rows_camp else np.zeros(0, np.int64)
    n = len(rows_dest)
    camp_ids = r.strings([c.campaign_id for c in campaigns])
    camp_sec = np.array([c.send_second for c in campaigns], dtype=np.int64)
    send = camp_sec[rows_camp]
    identity = {
        "civilite": r.civilities(rng, pop.sex[dest_p], young_unmarried(pop, dest_p), "rnvp", wrong=0.002),
        "nom": r.last_names(rng, vocab, pick_last_name(rng, pop, dest_p, 0.05), rnvp),
        "prenom": r.first_names(rng, vocab, pop.first[dest_p], rnvp, first_part=0.05, hyphen_space=0.5),
        "adresse": r.street_lines(rng, vocab, addr, style),
        "complement": r.address_extras(rng, addr, style),
        "code_postal": r.postcodes(rng, vocab, addr, style),
        "ville": r.cities(rng, vocab, addr, style),
    }
    code = r.take(crm.code, dest_crm)
    columns = {
        "id_envoi": r.concat("ENV", r.padded(state.next_ids("catalogue_mailings", n) + 1, 10)),
        "id_destinataire": pc.take(dest_id, rows_dest),
        "code_client": pc.take(code, rows_dest),
        "campagne": r.take(camp_ids, rows_camp),
        "date_envoi": pa.array(send * 1_000_000, pa.timestamp("us")),
        **{k: pc.take(v, rows_dest) for k, v in identity.items()},
    }
    part = Part(
        "catalogue_mailings", columns, "id_destinataire",
        fresh_ids=lambda k: r.concat("D", r.padded(state.next_ids("catalogue_recipients", k) + 1, 9)),
        order=np.argsort(send, kind="stable"), first_part=chunk.first, malformed_rate=0.0005,
        min_malformed=1 if n >= 500 else 0,
    )
    used = np.unique(rows_dest)
    part.extra["truth"] = (dest_id.take(pa.array(used)), dest_p[used])

    # what recipients do afterwards: visit the site within 14 days, leave a cart, sometimes order
    person = dest_p[rows_dest]
    web = pop.web[person]
    account = has_account[person]
    u = rng.random(n)
    later = send + (rng.uniform(0.5, 14.0, n) * DAY).astype(np.int64)
    in_window = later < end_of_window(chunk)
    cart = web & account & (u < 0.07) & in_window
    order = web & account & (u >= 0.07) & (u < 0.10) & in_window
    anonymous = web & ~account & (u < 0.04) & in_window
    visits.add(person[anonymous], later[anonymous], VISIT, utm_source="catalogue",
               utm_campaign=r.take(camp_ids, rows_camp[anonymous]))
    chosen = cart | order
    triggers = Triggers(
        p=person[chosen], seconds=later[chosen], status=np.where(cart[chosen], 2, 0),
        campaign=r.take(camp_ids, rows_camp[chosen]),
    )
    return part, triggers


# --------------------------------------------------------------------------------------------------
# E-shop orders (JSON lines, shipping nested)
# --------------------------------------------------------------------------------------------------

ORDER_STATUS = ("completed", "cancelled", "cart")
SHIPPING_TEXT = TextStyle(upper=0.05, lower=0.05, no_accents=0.12, typo=0.01)
SHIPPING_ADDRESS = AddressStyle(text=TextStyle(upper=0.06, lower=0.07, no_accents=0.15, typo=0.008),
                                abbreviate_type=0.3, saint_abbrev=0.2)


@dataclass
class Orders:
    p: np.ndarray
    order_id: pa.Array
    seconds: np.ndarray
    status: np.ndarray


def eshop_orders(chunk: Chunk, accounts: Accounts, triggers: Triggers, visits: Visits) -> tuple[Part, Orders]:
    rng = chunk.rng("eshop_orders")
    pop, state = chunk.pop, chunk.state
    n_pop = pop.n
    # each account holder's accounts: the first one, and a second one for some
    primary = np.full(n_pop, -1, dtype=np.int64)
    secondary = np.full(n_pop, -1, dtype=np.int64)
    first_rows = np.flatnonzero(~accounts.second)
    primary[accounts.p[first_rows]] = first_rows
    second_rows = np.flatnonzero(accounts.second)
    secondary[accounts.p[second_rows]] = second_rows
    holders = accounts.p[first_rows]
    lam = np.array([0.2, 0.7, 1.4, 2.8, 5.0])[pop.profile[holders]]
    k = rng.poisson(lam)
    o_p = np.repeat(holders, k)
    use_second = (secondary[o_p] >= 0) & (rng.random(len(o_p)) < 0.35)
    o_acc = np.where(use_second, secondary[o_p], primary[o_p])
    lo = np.maximum(state.window_start, accounts.created[o_acc] + 1)
    o_day = lo + (rng.random(len(o_p)) * np.maximum(chunk.ref - lo, 0)).astype(np.int64)
    o_sec = times_in_day(rng, o_day, WEB_HOURS)
    status = r.choose(rng, len(o_p), [0.76, 0.05, 0.19])
    # guest check-outs: web visitors without an account
    guests = np.flatnonzero(pop.web & ~pop.eshop & (rng.random(n_pop) < 0.12))
    g_p = np.repeat(guests, 1 + rng.poisson(0.3, len(guests)))
    g_sec = times_in_day(rng, state.window_start + rng.integers(0, chunk.ref - state.window_start, len(g_p)),
                         WEB_HOURS)
    g_status = np.where(rng.random(len(g_p)) < 0.92, 0, 1)
    # catalogue follow-ups
    t_acc = primary[triggers.p]
    all_p = np.concatenate([o_p, g_p, triggers.p])
    all_acc = np.concatenate([o_acc, np.full(len(g_p), -1), t_acc])
    all_sec = np.concatenate([o_sec, g_sec, triggers.seconds])
    all_status = np.concatenate([status, g_status, triggers.status]).astype(np.int8)
    account_id = r.take(accounts.account_id, all_acc)
    is_trigger = np.r_[np.zeros(len(o_p) + len(g_p), bool), np.ones(len(triggers.p), bool)]

    # the web session that made each order: logged in with the order's account
    kinds = np.where(all_status == 2, CART, CHECKOUT)
    regular = ~is_trigger
    visits.add(all_p[regular], all_sec[regular] - 20, kinds[regular], anchored_end=True,
               account=account_id.filter(pa.array(regular)))
    visits.add(all_p[is_trigger], all_sec[is_trigger] - 20, np.where(all_status[is_trigger] == 2, CATALOGUE_CART,
                                                                     CHECKOUT),
               anchored_end=True, account=account_id.filter(pa.array(is_trigger)), utm_source="catalogue",
               utm_campaign=triggers.campaign)

    columns, order_id = order_columns(chunk, rng, all_p, account_id, all_sec, all_status)
    part = Part(
        "eshop_orders", columns, "order_id",
        fresh_ids=lambda k: r.concat("CMD", r.padded(state.next_ids("eshop_orders", k) + 1, 10)),
        order=np.argsort(all_sec, kind="stable"), first_part=chunk.first, min_malformed=1,
    )
    part.extra["truth"] = (order_id, all_p)
    return part, Orders(p=all_p, order_id=order_id, seconds=all_sec, status=all_status)


def order_columns(chunk: Chunk, rng: np.random.Generator, all_p: np.ndarray, account_id: pa.Array,
                  all_sec: np.ndarray, all_status: np.ndarray) -> tuple[dict[str, pa.Array], pa.Array]:
    """The columns of orders of persons ``all_p`` placed at ``all_sec`` (status: index in ORDER_STATUS); also
    their order ids (numbered in time order)."""
    pop, vocab, state = chunk.pop, chunk.state.vocab, chunk.state
    n_pop, n = pop.n, len(all_p)
    # shipping: usually the account holder, sometimes another adult of the household (a gift, a partner)
    ship_p = all_p.copy()
    nxt = np.minimum(all_p + 1, n_pop - 1)
    prv = np.maximum(all_p - 1, 0)
    other = np.where((pop.hh[nxt] == pop.hh[all_p]) & (nxt != all_p), nxt,
                     np.where((pop.hh[prv] == pop.hh[all_p]) & (prv != all_p), prv, all_p))
    gift = rng.random(n) < 0.03
    ship_p = np.where(gift, other, ship_p)
    day = all_sec // DAY
    addr = pop.address_at(ship_p, day)
    first = r.first_names(rng, vocab, pop.first[ship_p], SHIPPING_TEXT, nickname=0.03, hyphen_space=0.1)
    last = r.last_names(rng, vocab, pick_last_name(rng, pop, ship_p, 0.1), SHIPPING_TEXT, collapse_particles=0.1)
    first, last = r.swap(rng, first, last, 0.008)
    phone_nsn = np.where(pop.mobile[ship_p] > 0, pop.mobile[ship_p], pop.landline[ship_p])
    no_shipping = (all_status == 2) & (rng.random(n) < 0.5)   # a cart left before the delivery step

    def ship(values: pa.Array) -> pa.Array:
        return r.null_where(no_shipping, values)

    amount = np.round(np.exp(rng.normal(np.log(55), 0.7, n)), 2)
    items = (1 + rng.poisson(1.3, n)).astype(np.int32)
    rank = np.argsort(np.argsort(all_sec, kind="stable"), kind="stable")
    order_id = r.concat("CMD", r.padded(state.next_ids("eshop_orders", n)[rank] + 1, 10))
    columns = {
        "order_id": order_id,
        "account_id": account_id,
        "created_at": r.format_timestamps(all_sec, "yyyy-MM-dd'T'HH:mm:ss"),
        "status": r.take(r.strings(list(ORDER_STATUS)), all_status),
        "total_amount": pa.array(amount),
        "item_count": pa.array(items),
        "currency": r.take(r.strings(["EUR"]), np.zeros(n, dtype=np.int64)),
        "payment_method": r.null_where(all_status == 2, one_of(rng, n, ("CB", "PAYPAL", "APPLE_PAY", "CB_3X"),
                                                                (0.7, 0.18, 0.07, 0.05))),
        "channel": one_of(rng, n, ("web", "app"), (0.82, 0.18)),
        "shipping.first_name": ship(first),
        "shipping.last_name": ship(last),
        "shipping.address": ship(r.street_lines(rng, vocab, addr, SHIPPING_ADDRESS)),
        "shipping.postcode": ship(r.postcodes(rng, vocab, addr, SHIPPING_ADDRESS)),
        "shipping.city": ship(r.cities(rng, vocab, addr, SHIPPING_ADDRESS)),
        "shipping.phone": ship(r.phones(rng, phone_nsn, WEB_PHONE_FORMATS, placeholder=0.003, missing=0.03)),
        "shipping.country": ship(country_names(rng, pop.country_of(ship_p), one_of(rng, n, ("FR", "France"),
                                                                                   (0.8, 0.2)))),
    }
    return columns, order_id


# --------------------------------------------------------------------------------------------------
# Store receipts
# --------------------------------------------------------------------------------------------------

PAYMENTS = ("CB", "CB_SANS_CONTACT", "ESPECES", "CHEQUE", "CARTE_CADEAU")


def pos_receipts(chunk: Chunk, cards: Cards, visits: Visits) -> Part:
    rng = chunk.rng("pos_receipts")
    pop, state = chunk.pop, chunk.state
    stores = state.stores
    shoppers = np.flatnonzero(pop.shopper)
    lam = np.array([0.7, 1.8, 3.4, 5.8, 9.5])[pop.profile[shoppers]]
    t_p = np.repeat(shoppers, rng.poisson(lam))
    n = len(t_p)
    other_store = np.minimum(np.searchsorted(np.cumsum(stores.weight), rng.random(n), side="right"),
                             len(stores.code) - 1)
    store = np.where(rng.random(n) < 0.82, pop.home_store[t_p], other_store)
    day = state.window_start + rng.integers(0, chunk.ref - state.window_start + 1, n)
    sec = times_in_day(rng, day, STORE_HOURS)
    columns = receipt_columns(chunk, rng, cards, t_p, store, day, sec, visits)
    part = Part(
        "pos_receipts", columns, "ticket_id",
        fresh_ids=lambda k: r.concat("X", r.padded(state.next_ids("pos_receipts", k), 9)),
        order=np.argsort(sec, kind="stable"), first_part=chunk.first, malformed_rate=0.0003,
        min_malformed=1 if n >= 1000 else 0,
    )
    part.extra["truth"] = (columns["ticket_id"], t_p)
    return part


def receipt_columns(chunk: Chunk, rng: np.random.Generator, cards: Cards, t_p: np.ndarray, store: np.ndarray,
                    day: np.ndarray, sec: np.ndarray, visits: Visits) -> dict[str, pa.Array]:
    """The columns of receipts of persons ``t_p`` at ``store`` (index in the stores) at ``sec``: the newest
    loyalty card of ``cards`` the person had that day, an e-mail or phone for some; the web research some did
    before is added to ``visits``."""
    pop, state = chunk.pop, chunk.state
    stores = state.stores
    n = len(t_p)
    # the newest loyalty card the person had that day
    order = np.lexsort((cards.joined, cards.p))
    key_cards = cards.p[order].astype(np.int64) * 1_000_000 + cards.joined[order]
    pos = np.searchsorted(key_cards, t_p.astype(np.int64) * 1_000_000 + day, side="right") - 1
    valid = (pos >= 0) & (cards.p[order][np.maximum(pos, 0)] == t_p) if len(order) else np.zeros(n, bool)
    show = valid & (rng.random(n) < 0.78)
    card_rows = np.where(show, order[np.maximum(pos, 0)], -1) if len(order) else np.full(n, -1)
    card = r.take(cards.card, card_rows)
    card = r.map_rows(rng, card, 0.008, r.digit_typo)   # typed by hand, one digit wrong
    has_email = ~pc.is_null(select(pop.email, t_p)).to_numpy(zero_copy_only=False)
    e_receipt = has_email & (rng.random(n) < 0.1)
    email = r.emails(rng, select(pop.email, t_p), EmailStyle(case=0.05, domain_typo=0.02, local_typo=0.01,
                                                               placeholder=0.03))
    email = r.null_where(~e_receipt, email)
    noreply = e_receipt & (rng.random(n) < 0.015)
    email = r.where(noreply, r.concat("noreply@", r.take(r.strings(["magasin.fr", "enseigne.fr", "caisse.fr"]),
                                                             rng.integers(0, 3, n))), email)
    gives_phone = (pop.mobile[t_p] > 0) & (rng.random(n) < 0.04)
    phone = r.phones(rng, np.where(gives_phone, pop.mobile[t_p], 0), (0.8, 0.2))
    # cashiers of some stores type the store's own number when the customer gives none
    default = stores.default_phone_habit[store] & ~show & ~gives_phone & (rng.random(n) < 0.35)
    phone = r.where(default, r.phones(rng, stores.phone[store], (0.6, 0.4)), phone)
    placeholder = ~gives_phone & ~default & (rng.random(n) < 0.004)
    phone = r.where(placeholder, r.take(r.strings(list(r.PLACEHOLDER_PHONES)),
                                        rng.integers(0, len(r.PLACEHOLDER_PHONES), n)), phone)
    # research online, buy in store
    ropo = pop.web[t_p] & (rng.random(n) < 0.12)
    visits.add(t_p[ropo], sec[ropo] - (rng.uniform(0.2, 7, int(ropo.sum())) * DAY).astype(np.int64), RESEARCH)
    codes = r.strings(stores.code)
    yyyymmdd = pc.replace_substring(pc.cast(pa.array(day.astype(np.int32), pa.date32()), r.STRING), "-", "")
    ticket = r.concat(r.take(codes, store), "-", yyyymmdd, "-", r.padded(state.next_ids("pos_receipts", n) + 1, 9))
    amount = np.round(np.exp(rng.normal(np.log(38), 0.8, n)), 2)
    columns = {
        "ticket_id": ticket,
        "code_magasin": r.take(codes, store),
        "num_caisse": pa.array(rng.integers(1, 12, n).astype(np.int32)),
        "date_ticket": pa.array(sec * 1_000_000, pa.timestamp("us")),
        "montant_ttc": pa.array(amount),
        "nb_articles": pa.array((1 + rng.poisson(np.clip(amount / 15, 0.2, 12))).astype(np.int32)),
        "mode_paiement": one_of(rng, n, PAYMENTS, (0.5, 0.3, 0.12, 0.05, 0.03)),
        "carte_fidelite": card,
        "email_ticket": email,
        "telephone": phone,
    }
    return columns


# --------------------------------------------------------------------------------------------------
# Email campaigns (emailing platform export)
# --------------------------------------------------------------------------------------------------

EMAIL_EVENT_TYPES = ("send", "open", "click", "bounce")


@dataclass
class Contacts:
    """The emailing platform's contacts: id, e-mail as typed, person; ``delivered``: some event carries it."""

    contact_id: pa.Array
    email: pa.Array
    p: np.ndarray
    delivered: np.ndarray


def email_events(chunk: Chunk, accounts: Accounts, signups: Signups, visits: Visits) -> tuple[Part, Contacts]:
    rng = chunk.rng("email_events")
    pop, state = chunk.pop, chunk.state
    # the platform's contacts: opted-in account emails and newsletter sign-ups, one contact per address
    optin = np.flatnonzero(accounts.optin_email)
    consent = np.flatnonzero(signups.consent)
    c_p = np.concatenate([accounts.p[optin], signups.p[consent]])
    c_day = np.concatenate([accounts.created[optin], signups.day[consent]])
    c_email = pa.concat_arrays([accounts.email.take(pa.array(optin)), signups.email.take(pa.array(consent))])
    key = pc.utf8_lower(pc.utf8_trim_whitespace(c_email))
    keys = key.to_pylist()
    placeholders = set(r.PLACEHOLDER_EMAILS) | {"test@test.fr", "aaa@aaa.fr", "test@gmail.com"}
    order = np.argsort(c_day, kind="stable")
    seen: set[str] = set()
    keep = []
    for i in order:
        k = keys[i]
        if k is None or k in placeholders or k.startswith("noreply@") or k in seen:
            continue
        seen.add(k)
        keep.append(i)
    keep = np.array(sorted(keep), dtype=np.int64)
    p = c_p[keep]
    created = c_day[keep]
    email = c_email.take(pa.array(keep))
    n_c = len(keep)
    contact_id = r.concat("CT", r.padded(state.next_ids("email_contacts", n_c) + 1, 9))
    domains = [k.rpartition("@")[2] for k in key.take(pa.array(keep)).to_pylist()]
    bounces = np.array([d not in VALID_DOMAINS for d in domains], dtype=bool)

    campaigns = state.email_campaigns
    camp_sec = np.array([c.send_second for c in campaigns], dtype=np.int64)
    camp_ids = r.strings([c.campaign_id for c in campaigns])
    p_send = np.array([0.08, 0.1, 0.14, 0.18, 0.22])[pop.profile[p]]
    targeted = (camp_sec[None, :] // DAY > created[:, None]) & (rng.random((n_c, len(campaigns))) < p_send[:, None])
    s_contact, s_camp = np.nonzero(targeted)
    send = camp_sec[s_camp] + rng.integers(0, 3 * 3600, len(s_contact))
    profile = pop.profile[p[s_contact]]
    bounced = bounces[s_contact]
    opened = ~bounced & (rng.random(len(s_contact)) < np.array([0.03, 0.1, 0.22, 0.38, 0.55])[profile])
    open_sec = send + 30 + rng.exponential(6 * 3600, len(s_contact)).astype(np.int64)
    clicked = opened & (rng.random(len(s_contact)) < np.array([0.05, 0.1, 0.2, 0.3, 0.4])[profile])
    click_sec = open_sec + 5 + rng.exponential(180, len(s_contact)).astype(np.int64)
    limit = end_of_window(chunk)
    opened &= open_sec < limit
    clicked &= opened & (click_sec < limit)
    bounce_sec = send + rng.integers(5, 600, len(s_contact))

    ev_contact = np.concatenate([s_contact, s_contact[bounced], s_contact[opened], s_contact[clicked]])
    ev_camp = np.concatenate([s_camp, s_camp[bounced], s_camp[opened], s_camp[clicked]])
    ev_sec = np.concatenate([send, bounce_sec[bounced], open_sec[opened], click_sec[clicked]])
    ev_type = np.concatenate([np.zeros(len(send), np.int8), np.full(int(bounced.sum()), 3, np.int8),
                              np.ones(int(opened.sum()), np.int8), np.full(int(clicked.sum()), 2, np.int8)])
    # a click lands on the site
    lands = clicked & pop.web[p[s_contact]] & (rng.random(len(s_contact)) < 0.75)
    visits.add(p[s_contact[lands]], click_sec[lands] + 2, VISIT, utm_source="email",
               utm_campaign=r.take(camp_ids, s_camp[lands]))
    n = len(ev_sec)
    order = np.argsort(ev_sec, kind="stable")   # the export is in time order
    ev_contact, ev_camp, ev_sec, ev_type = ev_contact[order], ev_camp[order], ev_sec[order], ev_type[order]
    columns = {
        "id_evenement": r.int_str(state.next_ids("email_events", n) + 10_000_001),
        "id_contact": r.take(contact_id, ev_contact),
        "email": r.take(email, ev_contact),
        "campagne": r.take(camp_ids, ev_camp),
        "type_evenement": r.take(r.strings(list(EMAIL_EVENT_TYPES)), ev_type),
        "horodatage": r.format_timestamps(ev_sec, "yyyy-MM-dd HH:mm:ss"),
    }
    part = Part(
        "email_events", columns, "id_contact",
        fresh_ids=lambda k: r.concat("CT", r.padded(state.next_ids("email_contacts", k) + 1, 9)),
        first_part=chunk.first, min_malformed=1,
    )
    sent_to = np.unique(s_contact)
    part.extra["truth"] = (contact_id.take(pa.array(sent_to)), p[sent_to])
    delivered = np.zeros(n_c, dtype=bool)
    delivered[sent_to] = True
    return part, Contacts(contact_id=contact_id, email=email, p=p, delivered=delivered)


# --------------------------------------------------------------------------------------------------
# Web navigation
# --------------------------------------------------------------------------------------------------


def uuids(rng: np.random.Generator, n: int) -> pa.Array:
    """``n`` random ids shaped like UUIDs (``75e27552-6fb5-de39-235a-c8117f54b770``): cookie ids."""
    raw = np.frombuffer(rng.bytes(16 * n).hex().encode("ascii"), dtype="S32")
    hexes = pa.array(raw, pa.binary(32)).cast(r.STRING)
    s = pc.utf8_slice_codeunits
    return r.concat(s(hexes, 0, 8), "-", s(hexes, 8, 12), "-", s(hexes, 12, 16), "-", s(hexes, 16, 20), "-",
                    s(hexes, 20, 32))


def web_events(chunk: Chunk, accounts: Accounts, visits: Visits) -> tuple[Part, Cookies]:
    rng = chunk.rng("web_events")
    pop, state = chunk.pop, chunk.state
    n_pop = pop.n
    ref_start, limit = state.window_start, end_of_window(chunk)

    # cookies: 1 to 3 per web visitor (browsers, phones); the account a cookie logs in with, if any
    people = np.flatnonzero(pop.web)
    n_cookies = 1 + r.choose(rng, len(people), [0.55, 0.3, 0.15]).astype(np.int64)
    c_p = np.repeat(people, n_cookies)
    first_of = np.cumsum(n_cookies) - n_cookies
    c_rank = np.arange(len(c_p)) - np.repeat(first_of, n_cookies)
    cookie_start = np.full(n_pop, -1, dtype=np.int64)
    cookie_count = np.zeros(n_pop, dtype=np.int64)
    cookie_start[people] = first_of
    cookie_count[people] = n_cookies
    n_ck = len(c_p)
    primary = np.full(n_pop, -1, dtype=np.int64)
    first_rows = np.flatnonzero(~accounts.second)
    primary[accounts.p[first_rows]] = first_rows
    c_account = r.take(accounts.account_id, primary[c_p])
    c_logs = (primary[c_p] >= 0) & (rng.random(n_ck) < np.where(c_rank == 0, 0.8, 0.45))
    cookie_id = uuids(rng, n_ck)
    device = r.choose(rng, n_ck, [0.4, 0.42, 0.08, 0.05, 0.05])

    # browsing sessions over each cookie's life
    lam = np.array([0.1, 0.35, 0.9, 2.2, 4.5])[pop.profile[c_p]] * np.where(c_rank == 0, 1.0, 0.6)
    n_browse = 1 + rng.poisson(lam)
    life_start = ref_start + (rng.random(n_ck) * 700).astype(np.int64)
    life_end = np.minimum(chunk.ref, life_start + 20 + rng.exponential(280, n_ck).astype(np.int64))
    b_cookie = np.repeat(np.arange(n_ck), n_browse)
    b_day = life_start[b_cookie] + (rng.random(len(b_cookie)) * (life_end - life_start + 1)[b_cookie]).astype(np.int64)
    b_sec = times_in_day(rng, b_day, WEB_HOURS)
    b_login = c_logs[b_cookie] & (rng.random(len(b_cookie)) < 0.4)

    # sessions asked for by orders, emails, catalogues and store visits
    if visits.p:
        v_p = np.concatenate(visits.p)
        v_sec = np.concatenate(visits.seconds)
        v_kind = np.concatenate(visits.kind)
        v_anchor = np.concatenate(visits.anchored_end)
        v_account = pa.concat_arrays([a.cast(r.STRING) for a in visits.account])
        v_src = pa.concat_arrays(visits.utm_source)
        v_camp = pa.concat_arrays(visits.utm_campaign)
    else:
        v_p = v_sec = np.zeros(0, np.int64)
        v_kind = np.zeros(0, np.int8)
        v_anchor = np.zeros(0, bool)
        v_account = v_src = v_camp = pa.array([], r.STRING)
    ok = cookie_count[v_p] > 0
    v_cookie = cookie_start[v_p] + (rng.random(len(v_p)) * np.maximum(cookie_count[v_p], 1)).astype(np.int64)
    v_login = ~pc.is_null(v_account).to_numpy(zero_copy_only=False)

    s_cookie = np.concatenate([b_cookie, v_cookie[ok]])
    s_sec = np.concatenate([b_sec, v_sec[ok]])
    s_kind = np.concatenate([np.zeros(len(b_cookie), np.int8), v_kind[ok]])
    s_anchor = np.concatenate([np.zeros(len(b_cookie), bool), v_anchor[ok]])
    s_login = np.concatenate([b_login, v_login[ok]])
    okm = pa.array(ok)
    s_account = pa.concat_arrays([r.where(b_login, c_account.take(pa.array(b_cookie)), r.NULL),
                                  v_account.filter(okm)])
    sessions = Sessions(
        cookie=s_cookie, seconds=s_sec, kind=s_kind, anchored_end=s_anchor, login=s_login, account=s_account,
        utm_source=pa.concat_arrays([pa.nulls(len(b_cookie), r.STRING), v_src.filter(okm)]),
        utm_campaign=pa.concat_arrays([pa.nulls(len(b_cookie), r.STRING), v_camp.filter(okm)]),
    )
    columns, e_cookie = session_columns(rng, state, sessions, cookie_id, device, ref_start * DAY, limit)
    part = Part(
        "web_events", columns, "cookie_id",
        fresh_ids=lambda k: uuids(rng, k),
        first_part=chunk.first, malformed_rate=0.0002, min_malformed=1,
    )
    used = np.unique(e_cookie)
    part.extra["truth"] = (cookie_id.take(pa.array(used)), c_p[used])
    return part, Cookies(cookie_id=cookie_id.take(pa.array(used)), p=c_p[used], device=device[used],
                         logs_in=c_logs[used])


@dataclass
class Sessions:
    """Web sessions: the cookie (index in the cookie arrays), start (or end, ``anchored_end``) second, kind,
    whether it logs in and with which account, and the utm tags of its landing page."""

    cookie: np.ndarray
    seconds: np.ndarray
    kind: np.ndarray
    anchored_end: np.ndarray
    login: np.ndarray
    account: pa.Array
    utm_source: pa.Array
    utm_campaign: pa.Array


@dataclass
class Cookies:
    """The cookies a navigation log holds: id, person, device (index in DEVICES), whether it logs in."""

    cookie_id: pa.Array
    p: np.ndarray
    device: np.ndarray
    logs_in: np.ndarray


def session_columns(rng: np.random.Generator, state: RunState, sessions: Sessions, cookie_id: pa.Array,
                    device: np.ndarray, first_second: int, end_second: int) -> tuple[dict[str, pa.Array], np.ndarray]:
    """The navigation events of ``sessions`` that fall in [first_second, end_second), in time order; also the
    cookie (index in ``cookie_id``) of each event."""
    s_cookie, s_sec, s_kind, s_anchor = sessions.cookie, sessions.seconds, sessions.kind, sessions.anchored_end
    s_login, s_account, s_src, s_camp = sessions.login, sessions.account, sessions.utm_source, sessions.utm_campaign
    n_s = len(s_cookie)

    # events of each session: landing page, login, browsing, add to cart, checkout
    mid_lam = np.array([1.0, 0.8, 0.8, 1.3, 1.4, 1.0])[s_kind]
    n_mid = rng.poisson(mid_lam) + np.isin(s_kind, [CHECKOUT, CART, RESEARCH, CATALOGUE_CART]) + (s_kind == RESEARCH)
    has_cart = np.isin(s_kind, [CHECKOUT, CART, CATALOGUE_CART]) | ((s_kind == BROWSE) & (rng.random(n_s) < 0.07))
    has_checkout = (s_kind == CHECKOUT) | ((s_kind == CART) & (rng.random(n_s) < 0.35))
    login = s_login.astype(np.int64)
    n_ev = 1 + login + n_mid + has_cart + has_checkout
    e_s = np.repeat(np.arange(n_s), n_ev)
    first_ev = np.cumsum(n_ev) - n_ev
    pos = np.arange(len(e_s)) - first_ev[e_s]
    mid_start = 1 + login[e_s]
    mid_end = mid_start + n_mid[e_s]
    browse_type = np.where((rng.random(len(e_s)) < 0.72) | (s_kind[e_s] == RESEARCH), PRODUCT_VIEW, PAGE_VIEW)
    e_type = np.select(
        [pos == 0, (pos == 1) & (login[e_s] == 1), pos < mid_end, (pos == mid_end) & has_cart[e_s]],
        [PAGE_VIEW, LOGIN, browse_type, ADD_TO_CART],
        CHECKOUT_START,
    ).astype(np.int8)
    gaps = (4 + rng.exponential(50, len(e_s))).astype(np.int64)
    gaps[first_ev] = 0
    offset = np.cumsum(gaps)
    offset -= np.repeat(offset[first_ev], n_ev)
    duration = offset[np.cumsum(n_ev) - 1]
    start = np.where(s_anchor, s_sec - duration, s_sec)
    e_sec = start[e_s] + offset
    keep = np.flatnonzero((e_sec >= first_second) & (e_sec < end_second))
    keep = keep[np.argsort(e_sec[keep], kind="stable")]   # the log is in time order
    e_s, e_sec, e_type, pos = e_s[keep], e_sec[keep], e_type[keep], pos[keep]
    n = len(e_s)

    product = np.minimum(np.searchsorted(_PRODUCT_CDF, rng.random(n), side="right"), N_PRODUCTS - 1) + 100_000
    with_product = (e_type == PRODUCT_VIEW) | (e_type == ADD_TO_CART)
    product_id = r.null_where(~with_product, r.concat("SKU", r.int_str(product)))
    page_codes = r.choose(rng, n, PAGE_WEIGHTS)
    page = r.take(r.strings(list(PAGES)), page_codes)
    page = r.where(e_type == PRODUCT_VIEW, r.concat("/produit/", product_id), page)
    page = r.where(e_type == ADD_TO_CART, "/panier", page)
    page = r.where(e_type == CHECKOUT_START, "/commande/livraison", page)
    page = r.where(e_type == LOGIN, "/compte/connexion", page)
    first_event = pos == 0
    e_cookie = s_cookie[e_s]
    columns = {
        "event_id": r.concat("ev-", r.int_str(state.next_ids("web_events", n) + 1_000_000_001)),
        "cookie_id": pc.take(cookie_id, e_cookie),
        "account_id": r.null_where(e_type != LOGIN, pc.take(s_account, e_s)),
        "ts": r.format_timestamps(e_sec, "yyyy-MM-dd'T'HH:mm:ss"),
        "event_type": r.take(r.strings(list(EVENT_TYPES)), e_type),
        "page": page,
        "product_id": product_id,
        "device": r.take(r.strings(list(DEVICES)), device[e_cookie]),
        "utm_source": r.null_where(~first_event, pc.take(s_src, e_s)),
        "utm_campaign": r.null_where(~first_event, pc.take(s_camp, e_s)),
    }
    return columns, e_cookie


# --------------------------------------------------------------------------------------------------
# Call centre
# --------------------------------------------------------------------------------------------------

ORDER_MOTIVES = ("suivi de commande", "livraison en retard", "retour produit", "remboursement",
                 "produit défectueux", "annulation commande")
OTHER_MOTIVES = ("information produit", "carte de fidélité", "réclamation magasin", "modification coordonnées",
                 "désinscription", "question facture", "disponibilité en magasin")
CALL_TEXT = TextStyle(upper=0.45, lower=0.03, no_accents=0.3, upper_no_accents=0.8, typo=0.045)
CALL_PHONE_FORMATS = (0.38, 0.1, 0.45, 0.0, 0.0, 0.0, 0.0, 0.0, 0.0, 0.07)


def call_centre(chunk: Chunk, orders: Orders) -> Part:
    rng = chunk.rng("call_centre")
    pop, state = chunk.pop, chunk.state
    callers = np.flatnonzero(pop.caller)
    c_p = np.repeat(callers, 1 + rng.poisson(0.35, len(callers)))
    n = len(c_p)
    # calls about an order follow it by a few hours to three weeks
    placed = orders.status != 2
    o_rows = np.flatnonzero(placed)
    o_sorted = o_rows[np.argsort(orders.p[o_rows], kind="stable")]
    o_p = orders.p[o_sorted]
    lo = np.searchsorted(o_p, c_p, side="left")
    hi = np.searchsorted(o_p, c_p, side="right")
    has_order = hi > lo
    about_order = has_order & (rng.random(n) < 0.55)
    pick = o_sorted[np.minimum(lo + (rng.random(n) * (hi - lo)).astype(np.int64), len(o_sorted) - 1)] if len(
        o_sorted) else np.zeros(n, dtype=np.int64)
    base = np.where(about_order, orders.seconds[pick] if len(o_sorted) else 0, 0)
    sec = np.where(about_order, base + (rng.uniform(0.1, 21, n) * DAY).astype(np.int64),
                   times_in_day(rng, state.window_start + rng.integers(0, chunk.ref - state.window_start + 1, n),
                                STORE_HOURS))
    keep = sec < end_of_window(chunk)
    c_p, sec, about_order, pick = c_p[keep], sec[keep], about_order[keep], pick[keep]
    columns = call_columns(chunk, rng, c_p, sec, about_order, pick, orders)
    part = Part(
        "call_centre", columns, "id_appel",
        fresh_ids=lambda k: r.concat("APL", r.padded(state.next_ids("call_centre", k) + 1, 8)),
        order=np.argsort(sec, kind="stable"), first_part=chunk.first, min_malformed=1,
    )
    part.extra["truth"] = (columns["id_appel"], c_p)
    return part


def call_columns(chunk: Chunk, rng: np.random.Generator, c_p: np.ndarray, sec: np.ndarray, about_order: np.ndarray,
                 pick: np.ndarray, orders: Orders) -> dict[str, pa.Array]:
    """The columns of calls of persons ``c_p`` at ``sec``; a call ``about_order`` concerns ``orders`` row ``pick``."""
    pop, vocab, state = chunk.pop, chunk.state.vocab, chunk.state
    n = len(c_p)
    motive = r.where(about_order, r.take(r.strings(list(ORDER_MOTIVES)), rng.integers(0, len(ORDER_MOTIVES), n)),
                     r.take(r.strings(list(OTHER_MOTIVES)), rng.integers(0, len(OTHER_MOTIVES), n)))
    order_ref = r.null_where(~about_order | (rng.random(n) < 0.1), r.take(orders.order_id, pick)) if len(
        orders.order_id) else pa.nulls(n, r.STRING)
    addr = pop.address_at(c_p, sec // DAY)
    first = r.first_names(rng, vocab, pop.first[c_p], CALL_TEXT, nickname=0.05, first_part=0.05, hyphen_space=0.3)
    last = r.last_names(rng, vocab, pick_last_name(rng, pop, c_p, 0.1), CALL_TEXT, collapse_particles=0.25)
    first, last = r.swap(rng, first, last, 0.03)
    rank = np.argsort(np.argsort(sec, kind="stable"), kind="stable")
    call_id = r.concat("APL", r.padded(state.next_ids("call_centre", n)[rank] + 1, 8))
    columns = {
        "id_appel": call_id,
        "date_appel": r.format_timestamps(sec, "dd/MM/yyyy HH:mm"),
        "canal": one_of(rng, n, ("telephone", "chat", "email"), (0.78, 0.15, 0.07)),
        "motif": motive,
        "num_commande": order_ref,
        "nom": r.blank(rng, last, 0.03),
        "prenom": r.blank(rng, first, 0.08),
        "telephone": r.phones(rng, np.where(pop.mobile[c_p] > 0, pop.mobile[c_p], pop.landline[c_p]),
                              CALL_PHONE_FORMATS, missing=0.12),
        "email": r.emails(rng, select(pop.email, c_p), EmailStyle(case=0.05, domain_typo=0.03, local_typo=0.03,
                                                                   missing=0.6)),
        "code_postal": r.blank(rng, r.postcodes(rng, vocab, addr, AddressStyle(postcode_drop_zero=0.3,
                                                                                postcode_typo=0.01)), 0.45),
        "duree_sec": pa.array((30 + rng.exponential(240, n)).astype(np.int32)),
        "conseiller": r.concat("CONS", r.padded(rng.integers(1, 60, n), 3)),
    }
    return columns
