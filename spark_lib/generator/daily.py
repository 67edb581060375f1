"""Daily changes after the initial delivery: what happens to a retailer's customers from one day to the next.

Day k (1, 2, ...) is the date ``reference_date + k``. :func:`simulate_day` applies its changes to the
:class:`World` (the persons and the records of the initial delivery, kept current day after day) and returns what
the sources deliver for it (:class:`~spark_lib.generator.deliveries.Delivery`; the files, their names and the
truth are :mod:`spark_lib.generator.deliveries`).

What a day holds (:class:`DailyChanges`: about ``rate`` x the initial delivery's records, or ``per_day``
records, new or changed; the shares are :data:`DAY_MIX`): new customers (new persons, with their account, card,
CRM record, sign-up, first order or receipt, cookie); receipts, orders and carts, calls and new cookies of
existing customers; moves (the household moves; the e-shop account, and some of the loyalty and CRM records,
get the new address), new e-mails and mobiles, married names, new loyalty cards, corrected names; consents given
and withdrawn; records deleted at the source. Navigation and campaign events come on top (they change no
record). Campaigns of the emailing platform follow their calendar (every 12 to 18 days); opens after midnight
come in the next day's file. Catalogue mailings are seasonal: no day sends one. Every draw of day k comes from
streams keyed by (seed, day k, purpose): a day depends only on the seed and the days before it.

Example::

    from spark_lib.generator import generate, DailyChanges
    summary = generate(persons=1000, raw_dir="data/raw", truth_dir="data/truth", days=3)
    summary.days[0].records          # {"new": 60, "updated": 15, "deleted": 3}
    generate(persons=1000, raw_dir="data/raw", truth_dir="data/truth", days=5, first_day=4)   # days 4 and 5
    generate(persons=1000, raw_dir="data/raw", truth_dir="data/truth", days=3,
             changes=DailyChanges(per_day=500, snapshot_sources=()))
"""

from __future__ import annotations

import dataclasses
from collections import defaultdict
from dataclasses import dataclass

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

from spark_lib.generator import render as r
from spark_lib.generator.activity import (
    BROWSE,
    CART,
    CHECKOUT,
    EMAIL_EVENT_TYPES,
    STORE_HOURS,
    VALID_DOMAINS,
    VISIT,
    WEB_HOURS,
    Contacts,
    Cookies,
    Orders,
    Sessions,
    Visits,
    call_columns,
    order_columns,
    receipt_columns,
    session_columns,
    times_in_day,
    uuids,
)
from spark_lib.generator.deliveries import DELETED_SCHEMA, TRUTH_DAY_SCHEMA, Delivery
from spark_lib.generator.foreign import move_abroad
from spark_lib.generator.identity import (
    CRM_ADDRESS,
    CRM_EMAIL,
    CRM_FIRST,
    CRM_LAST_UPPER,
    CRM_PHONE_FORMATS,
    DAY,
    ESHOP_ADDRESS,
    ESHOP_EMAIL,
    ESHOP_TEXT,
    LOYALTY_ADDRESS,
    LOYALTY_EMAIL,
    LOYALTY_FIRST,
    LOYALTY_LAST,
    LOYALTY_PHONE_FORMATS,
    WEB_PHONE_FORMATS,
    Cards,
    Chunk,
    _ean13,
    account_columns,
    card_columns,
    crm_columns,
    day_seconds,
    signup_columns,
    young_unmarried,
)
from spark_lib.generator.population import (
    _ALT_DOMAINS,
    _YOUNG_DOMAINS,
    Population,
    _email_locals,
    _unique,
    _unique_numbers,
    _weighted_domains,
    build_population,
    draw_mobiles,
    household_addresses,
    join_populations,
)
from spark_lib.generator.resources import sample_cdf
from spark_lib.generator.serialize import Part
from spark_lib.generator.state import RunState, from_days

#: The random streams of day k are those of chunk ``DAY_STREAMS + k`` (the initial delivery's are 0, 1, ...).
DAY_STREAMS = 1_000_000

#: The sources holding customer records, which the days change and delete.
CUSTOMER_SOURCES = ("eshop_accounts", "loyalty_members", "crm_customers", "newsletter_signups")

#: Share of a day's new or changed records by what happened.
DAY_MIX = {
    "receipt": 0.30, "order": 0.14, "call": 0.03, "cookie": 0.05,
    "new_customer": 0.20,
    "move": 0.06, "email": 0.03, "mobile": 0.02, "married_name": 0.01, "new_card": 0.02, "typo_fix": 0.02,
    "consent": 0.04, "opt_out": 0.04,
    "deleted": 0.04,
}
#: Records a new customer brings on their first day (measured on the standard profile), to size the new persons.
RECORDS_PER_NEW_PERSON = 3.4
#: Browsing sessions on existing cookies, and campaign sends on a campaign day, per record of the day's budget.
BROWSE_PER_RECORD = 0.8
SENDS_PER_RECORD = 3.0
#: How often each engagement profile (dormant .. very hot) shops in store, orders online, is sent a campaign.
RECEIPT_RATE = np.array([0.7, 1.8, 3.4, 5.8, 9.5])
ORDER_RATE = np.array([0.2, 0.7, 1.4, 2.8, 5.0])
SEND_RATE = np.array([0.08, 0.1, 0.14, 0.18, 0.22])
DELETION_MOTIVES = ("fermeture", "rgpd", "inactivite")
#: Share of the closed records by source (renormalised over the sources holding records).
DELETED_SOURCES = {"eshop_accounts": 0.35, "loyalty_members": 0.25, "crm_customers": 0.25, "newsletter_signups": 0.15}

#: Per customer source: its columns for an address, e-mail, mobile, update time, consents (column, forms),
#: consent date.
ADDRESS_COLUMNS = {
    "eshop_accounts": (("adresse", "complement_adresse", "code_postal", "ville"), ESHOP_ADDRESS),
    "loyalty_members": (("adresse1", "adresse2", "cp", "ville"), LOYALTY_ADDRESS),
    "crm_customers": (("adresse", "complement", "code_postal", "ville"), CRM_ADDRESS),
}
EMAIL_COLUMNS = {"eshop_accounts": ESHOP_EMAIL, "loyalty_members": LOYALTY_EMAIL, "crm_customers": CRM_EMAIL}
MOBILE_COLUMNS = {"eshop_accounts": ("telephone", WEB_PHONE_FORMATS),
                  "loyalty_members": ("tel_portable", LOYALTY_PHONE_FORMATS),
                  "crm_customers": ("telephone", CRM_PHONE_FORMATS)}
UPDATED_AT = {"eshop_accounts": "date_maj", "crm_customers": "date_maj"}
CONSENT_COLUMNS = {
    "eshop_accounts": (("optin_email", "1/0"), ("optin_sms", "1/0")),
    "loyalty_members": (("optin_sms", "O/N"), ("optin_courrier", "O/N")),
    "crm_customers": (("accepte_courrier", "true/false"),),
    "newsletter_signups": (("consentement", "oui/non"),),
}
CONSENT_DATE = {"eshop_accounts": ("date_optin", "yyyy-MM-dd HH:mm:ss"),
                "newsletter_signups": ("date_consentement", "dd/MM/yyyy HH:mm")}
_YES = ("1", "o", "oui", "true")


@dataclass(frozen=True)
class DailyChanges:
    """How much each day changes, and how the sources deliver.

    ``rate``: records new or changed per day as a share of the initial delivery's records (0.01: 1 %);
    ``per_day``: that many records instead, whatever the base (the same delta on a 100k and a 1M base);
    ``snapshot_sources``: the customer sources that send a full extract each day instead of an increment
    (``()``: every source sends increments and deletion lists; the delta no longer grows with the base).

    Example::

        DailyChanges(per_day=10_000, snapshot_sources=()).records_per_day(650_000)   # 10000
    """

    rate: float = 0.01
    per_day: int | None = None
    snapshot_sources: tuple[str, ...] = ("crm_customers",)

    def __post_init__(self):
        if isinstance(self.rate, bool) or not isinstance(self.rate, (int, float)) or not 0 <= self.rate <= 1:
            raise ValueError(f"'rate' must be a number between 0 and 1, got {self.rate!r}")
        if self.per_day is not None and (isinstance(self.per_day, bool) or not isinstance(self.per_day, int)
                                         or self.per_day < 0):
            raise ValueError(f"'per_day' must be a non-negative integer or None, got {self.per_day!r}")
        unknown = [s for s in self.snapshot_sources if s not in CUSTOMER_SOURCES]
        if unknown:
            raise ValueError(f"'snapshot_sources' can only name customer sources ({', '.join(CUSTOMER_SOURCES)}), "
                             f"got {', '.join(unknown)}")

    def records_per_day(self, initial_records: int) -> int:
        return self.per_day if self.per_day is not None else round(self.rate * initial_records)


# --------------------------------------------------------------------------------------------------
# The world after the initial delivery: persons, records, cookies, contacts, orders
# --------------------------------------------------------------------------------------------------


@dataclass
class Records:
    """One customer source's records as last delivered: their rendered columns, person, day created, whether
    the source still holds them, and whether each is the person's second (a second e-shop account)."""

    source: str
    record_id: str
    columns: dict[str, pa.Array]
    p: np.ndarray
    day: np.ndarray
    alive: np.ndarray
    second: np.ndarray

    @property
    def ids(self) -> pa.Array:
        return self.columns[self.record_id]

    def append(self, columns: dict[str, pa.Array], p: np.ndarray, day: int | np.ndarray,
               second: np.ndarray | None = None) -> np.ndarray:
        """Add records (created on ``day``, one or one per record); returns their rows."""
        start, n = len(self.p), len(p)
        self.columns = {k: pa.concat_arrays([v, columns[k].cast(v.type)]) for k, v in self.columns.items()}
        self.p = np.concatenate([self.p, p])
        self.day = np.concatenate([self.day, np.broadcast_to(np.asarray(day, np.int32), (n,))])
        self.alive = np.concatenate([self.alive, np.ones(n, bool)])
        self.second = np.concatenate([self.second, np.zeros(n, bool) if second is None else second])
        return np.arange(start, start + n)

    def update(self, rows: np.ndarray, values: dict[str, pa.Array]) -> None:
        """Replace the ``values`` (column -> one value per row) of distinct ``rows``."""
        if len(rows) == 0:
            return
        order = np.argsort(rows, kind="stable")
        mask = np.zeros(len(self.p), bool)
        mask[rows] = True
        for name, new in values.items():
            column = self.columns[name]
            new = new.take(pa.array(order)).cast(column.type)
            self.columns[name] = pc.replace_with_mask(column, pa.array(mask), new)

    def rows_of(self, persons: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """The live rows of ``persons``: (position in ``persons``, row) pairs, in the order of ``persons``."""
        live = np.flatnonzero(self.alive)
        by_person = live[np.argsort(self.p[live], kind="stable")]
        keys = self.p[by_person]
        lo, hi = np.searchsorted(keys, persons, "left"), np.searchsorted(keys, persons, "right")
        counts = hi - lo
        owner = np.repeat(np.arange(len(persons)), counts)
        offsets = np.arange(counts.sum()) - np.repeat(np.cumsum(counts) - counts, counts) + np.repeat(lo, counts)
        return owner, by_person[offsets.astype(np.int64)]


class World:
    """Everything a day needs to know of the initial delivery, kept current day after day."""

    def __init__(self, state: RunState, abroad=None, foreign_share: float = 0.0):
        self.state, self.abroad, self.foreign_share = state, abroad, foreign_share
        self.initial_records = 0
        self._pops: list[Population] = []
        self.pop: Population | None = None
        self.records: dict[str, Records] = {}
        self._orders: list[Orders] = []
        self._cookies: list[Cookies] = []
        self._contacts: list[Contacts] = []
        self.campaign_days = _campaign_calendar(state)
        self.pending_emails: dict[str, np.ndarray] = {}

    # ---- filled from the initial delivery, chunk by chunk

    def collect(self, part: Part, records, start: int) -> None:
        """Keep what the days need of one part of the initial delivery (``start``: its chunk's first person)."""
        self.initial_records += len(part.extra["truth"][0])
        if part.source in CUSTOMER_SOURCES:
            day = {"eshop_accounts": "created", "loyalty_members": "joined", "crm_customers": "created",
                   "newsletter_signups": "day"}[part.source]
            second = records.second if part.source == "eshop_accounts" else np.zeros(len(records.p), bool)
            self._add_records(part.source, part.record_id, dict(part.columns), start + records.p,
                              np.asarray(getattr(records, day), np.int32), second)
        elif isinstance(records, Orders):
            self._orders.append(dataclasses.replace(records, p=start + records.p))
        elif isinstance(records, Cookies):
            self._cookies.append(dataclasses.replace(records, p=start + records.p))
        elif isinstance(records, Contacts):
            self._contacts.append(dataclasses.replace(records, p=start + records.p))

    def _add_records(self, source, record_id, columns, p, day, second) -> None:
        if source not in self.records:
            self.records[source] = Records(source, record_id, columns, p, day, np.ones(len(p), bool), second)
        else:
            self.records[source].append(columns, p, day, second)

    def add_population(self, pop: Population) -> None:
        self._pops.append(pop)

    def close_initial_delivery(self) -> None:
        """Join the chunks' persons, orders, cookies and contacts."""
        self.pop = join_populations(self._pops)
        self._pops = []
        self.orders = _join_records(Orders, self._orders, Orders(np.zeros(0, np.int64), pa.array([], r.STRING),
                                                                 np.zeros(0, np.int64), np.zeros(0, np.int8)))
        self.cookies = _join_records(Cookies, self._cookies, Cookies(pa.array([], r.STRING), np.zeros(0, np.int64),
                                                                     np.zeros(0, np.int8), np.zeros(0, bool)))
        self.cookie_delivered = np.ones(len(self.cookies.p), bool)
        self.contacts = _join_records(Contacts, self._contacts, Contacts(
            pa.array([], r.STRING), pa.array([], r.STRING), np.zeros(0, np.int64), np.zeros(0, bool)))
        self.contact_keys = set(_email_keys(self.contacts.email).to_pylist())

    # ---- questions the days ask

    def has_customer_record(self) -> np.ndarray:
        held = np.zeros(self.pop.n, bool)
        for records in self.records.values():
            held[records.p[records.alive]] = True
        return held

    def in_france(self) -> np.ndarray:
        return np.ones(self.pop.n, bool) if self.pop.country is None else self.pop.country == 0

    def primary_accounts(self) -> np.ndarray:
        """Each person's e-shop account row (the first one, else the second), -1 for none."""
        accounts = self.records.get("eshop_accounts")
        primary = np.full(self.pop.n, -1, np.int64)
        if accounts is None:
            return primary
        for second in (True, False):   # the first account wins: written last
            rows = np.flatnonzero(accounts.alive & (accounts.second == second))
            primary[accounts.p[rows]] = rows
        return primary

    def cards(self) -> Cards:
        loyalty = self.records["loyalty_members"]
        rows = np.flatnonzero(loyalty.alive)
        return Cards(p=loyalty.p[rows], card=loyalty.ids.take(pa.array(rows)), joined=loyalty.day[rows])


def _join_records(kind, parts: list, empty):
    if not parts:
        return empty
    values = {}
    for name in (f.name for f in dataclasses.fields(kind)):
        column = [getattr(part, name) for part in parts]
        values[name] = np.concatenate(column) if isinstance(column[0], np.ndarray) else pa.concat_arrays(
            [c.cast(r.STRING) for c in column])
    return kind(**values)


def _email_keys(emails: pa.Array) -> pa.Array:
    return pc.utf8_lower(pc.utf8_trim_whitespace(emails))


def _campaign_calendar(state: RunState) -> dict[int, str]:
    """The emailing platform's campaigns after the reference date: day -> campaign id (every 12 to 18 days)."""
    rng = state.rng(-1, "email_campaigns:days")
    themes = ("NOUVEAUTES", "PROMO", "SOLDES", "FIDELITE", "BONSPLANS", "INSPIRATION", "VENTEPRIVEE", "LIVRAISON")
    day = (state.email_campaigns[-1].send_second // DAY) if state.email_campaigns else state.reference_day
    calendar = {}
    while day < state.reference_day + 3660:
        day += int(rng.integers(12, 19))
        calendar[day] = f"NL_{from_days(day):%Y%m%d}_{themes[int(rng.integers(0, len(themes)))]}"
    return calendar


# --------------------------------------------------------------------------------------------------
# One day
# --------------------------------------------------------------------------------------------------


class Day:
    """The changes of one day as they happen to the world, and the records they touch."""

    def __init__(self, world: World, k: int, budget: int):
        self.world, self.k, self.budget = world, k, budget
        self.number = world.state.reference_day + k
        self.stream = DAY_STREAMS + k
        self.visits = Visits()
        self.sessions: list[tuple[np.ndarray, np.ndarray, np.ndarray]] = []   # cookie, second, logs in
        self.new: dict[str, dict[int, str]] = defaultdict(dict)        # source -> row -> reason
        self.updated: dict[str, dict[int, str]] = defaultdict(dict)
        self.closed: dict[str, dict[int, str]] = defaultdict(dict)     # source -> row -> motif
        self.events: dict[str, list[tuple[dict, np.ndarray]]] = defaultdict(list)   # columns, seconds
        self.new_cookies: dict[int, str] = {}
        self.new_contacts: dict[int, str] = {}
        self.truth: list[tuple[str, pa.Array, np.ndarray, str, str]] = []
        self._rng_calls: dict[str, int] = {}

    @property
    def chunk(self) -> Chunk:
        return Chunk(self.world.state, self.stream, self.world.pop, 1, as_of=self.number)

    def rng(self, purpose: str) -> np.random.Generator:
        """A stream of its own for each call (a purpose asked for twice gets a second stream)."""
        calls = self._rng_calls[purpose] = self._rng_calls.get(purpose, 0) + 1
        return self.world.state.rng(self.stream, f"day:{purpose}:{calls}")

    def share(self, what: str) -> float:
        return self.budget * DAY_MIX[what]

    def seconds(self, rng: np.random.Generator, n: int, hours=WEB_HOURS) -> np.ndarray:
        return times_in_day(rng, np.full(n, self.number), hours)

    # ---- customer records

    def add(self, source: str, columns: dict, p: np.ndarray, reason: str) -> np.ndarray:
        rows = self.world.records[source].append(columns, p, self.number)
        self.new[source].update(dict.fromkeys(rows.tolist(), reason))
        return rows

    def update(self, source: str, rows: np.ndarray, values: dict[str, pa.Array], reason: str,
               rng: np.random.Generator) -> None:
        if len(rows) == 0:
            return
        if source in UPDATED_AT:
            seconds = day_seconds(rng, np.full(len(rows), self.number))
            values = {**values, UPDATED_AT[source]: r.format_timestamps(seconds, "yyyy-MM-dd HH:mm:ss")}
        self.world.records[source].update(rows, values)
        for row in rows.tolist():
            if row not in self.new[source]:
                self.updated[source].setdefault(row, reason)

    def touched(self, source: str) -> set[int]:
        return set(self.new[source]) | set(self.updated[source])

    def event_part(self, source: str, columns: dict, p: np.ndarray, seconds: np.ndarray, reason: str,
                   new_records: bool = True) -> None:
        """The day's rows of an interaction source (``p``: whose), in the order of ``seconds``. Each row is a new
        record (an order, a receipt, a call) unless ``new_records`` is False (events of cookies and contacts,
        whose new ones the caller adds to the truth)."""
        self.events[source].append((columns, seconds))
        if new_records:
            self.truth.append((source, columns[EVENT_RECORD_IDS[source]], p, "new", reason))


#: The record id column of the interaction sources' day files.
EVENT_RECORD_IDS = {"eshop_orders": "order_id", "pos_receipts": "ticket_id", "call_centre": "id_appel",
                    "email_events": "id_contact", "web_events": "cookie_id"}


def simulate_day(world: World, k: int, changes: DailyChanges) -> Delivery:
    """Day ``k``'s changes applied to ``world``, and what the sources deliver for it."""
    day = Day(world, k, changes.records_per_day(world.initial_records))
    _new_customers(day)
    _moves(day)
    _new_emails(day)
    _new_mobiles(day)
    _married_names(day)
    _new_cards(day)
    _typo_fixes(day)
    _consents(day, "consent")
    _consents(day, "opt_out")
    _deletions(day, changes.snapshot_sources)
    _orders(day)
    _receipts(day)
    _calls(day)
    _cookies(day)
    _email_events(day)
    _web_events(day)
    return _delivery(day, changes.snapshot_sources)


def _fit(counts: np.ndarray, budget: int) -> int:
    """How many of the first candidates (records each: ``counts``) fit in ``budget`` records."""
    return int(np.searchsorted(np.cumsum(counts), budget, side="right"))


def _round(rng: np.random.Generator, x: float) -> int:
    """``x`` rounded up with the probability of its fraction, so that small budgets are honoured on average."""
    whole = int(np.floor(x))
    return whole + int(rng.random() < x - whole)


def _draw_rows(rng: np.random.Generator, candidates: dict, n: int) -> dict:
    """``n`` rows drawn without replacement among ``candidates`` (key -> rows), grouped by key again (sorted)."""
    sizes = np.array([len(rows) for rows in candidates.values()], np.int64)
    n = min(n, int(sizes.sum()))
    if n == 0:
        return {}
    drawn = np.sort(rng.choice(int(sizes.sum()), n, replace=False))
    bounds = np.concatenate([[0], np.cumsum(sizes)])
    chosen = {}
    for (key, rows), lo, hi in zip(candidates.items(), bounds[:-1], bounds[1:]):
        picked = drawn[(drawn >= lo) & (drawn < hi)] - lo
        if len(picked):
            chosen[key] = np.sort(rows[picked])
    return chosen


def _weighted(rng: np.random.Generator, candidates: np.ndarray, n: int, weights: np.ndarray) -> np.ndarray:
    if n == 0 or len(candidates) == 0:
        return np.zeros(0, np.int64)
    return rng.choice(candidates, n, p=weights / weights.sum())


# ---- new customers


def _new_customers(day: Day) -> None:
    world, state, rng = day.world, day.world.state, day.rng("new_customers")
    n = _round(rng, day.share("new_customer") / RECORDS_PER_NEW_PERSON)
    if n == 0:
        return
    start = world.pop.n
    new = build_population(state, day.stream, start, n)
    if world.abroad is not None:
        move_abroad(state, world.abroad, day.stream, new, world.foreign_share)
    elif world.pop.country is not None:
        new.country = np.zeros(n, np.int8)
    world.pop = join_populations([world.pop, new])
    p = start + np.arange(n)
    accounts = _add_accounts(day, p[new.eshop], "new_customer")
    first_order = accounts[rng.random(len(accounts)) < 0.5]
    _place_orders(day, world.records["eshop_accounts"].p[first_order], first_order, "new_customer")
    _add_cookies(day, p[new.web & (rng.random(n) < 0.8)], "new_customer")
    _add_cards(day, p[new.loyalty], "new_customer")
    _ring_receipts(day, p[new.shopper & (rng.random(n) < np.where(new.loyalty, 0.7, 0.4))], "new_customer")
    _add_crm(day, p[new.crm & (new.eshop | new.loyalty | (rng.random(n) < 0.3))], "new_customer")
    _add_signups(day, p[new.newsletter & (rng.random(n) < 0.4)], "new_customer")


def _add_accounts(day: Day, p: np.ndarray, reason: str) -> np.ndarray:
    if len(p) == 0:
        return np.zeros(0, np.int64)
    state, n = day.world.state, len(p)
    ids = r.int_str(1_000_000 + state.next_ids("eshop_accounts", n))
    created = np.full(n, day.number, np.int32)
    columns, optin_email, email = account_columns(day.chunk, day.rng(f"eshop_accounts:{reason}"), p,
                                                  np.zeros(n, bool), created, created, ids)
    rows = day.add("eshop_accounts", columns, p, reason)
    _add_contacts(day, p[optin_email], email.filter(pa.array(optin_email)), reason)
    return rows


def _add_cards(day: Day, p: np.ndarray, reason: str) -> None:
    if len(p) == 0:
        return
    card = _ean13(day.world.state.next_ids("loyalty_members", len(p)) + 100_000)
    columns = card_columns(day.chunk, day.rng(f"loyalty_members:{reason}"), p, card,
                           np.full(len(p), day.number, np.int32))
    day.add("loyalty_members", columns, p, reason)


def _add_crm(day: Day, p: np.ndarray, reason: str) -> None:
    if len(p) == 0 or "crm_customers" not in day.world.records:
        return
    code = r.concat("CLI", r.padded(day.world.state.next_ids("crm_customers", len(p)) + 1, 8))
    created = np.full(len(p), day.number, np.int32)
    columns, _ = crm_columns(day.chunk, day.rng(f"crm_customers:{reason}"), p, code, created, created)
    day.add("crm_customers", columns, p, reason)


def _add_signups(day: Day, p: np.ndarray, reason: str) -> None:
    if len(p) == 0:
        return
    columns, email, consent, _ = signup_columns(day.chunk, day.rng(f"newsletter_signups:{reason}"), p,
                                                np.zeros(len(p), bool), np.full(len(p), day.number, np.int32))
    day.add("newsletter_signups", columns, p, reason)
    _add_contacts(day, p[consent], email.filter(pa.array(consent)), reason)


def _add_contacts(day: Day, p: np.ndarray, email: pa.Array, reason: str) -> None:
    """New contacts of the emailing platform (one per address; placeholders and no-reply addresses left out)."""
    world = day.world
    keep = []
    for i, key in enumerate(_email_keys(email).to_pylist()):
        if key and key not in world.contact_keys and key not in r.PLACEHOLDER_EMAILS and "@" in key \
                and not key.startswith(("noreply@", "test@", "aaa@")):
            world.contact_keys.add(key)
            keep.append(i)
    if not keep:
        return
    keep = np.array(keep)
    n = len(keep)
    contacts = world.contacts
    start = len(contacts.p)
    world.contacts = Contacts(
        contact_id=pa.concat_arrays([contacts.contact_id, r.concat(
            "CT", r.padded(world.state.next_ids("email_contacts", n) + 1, 9))]),
        email=pa.concat_arrays([contacts.email, email.take(pa.array(keep)).cast(r.STRING)]),
        p=np.concatenate([contacts.p, p[keep]]),
        delivered=np.concatenate([contacts.delivered, np.zeros(n, bool)]),
    )
    day.new_contacts.update(dict.fromkeys(range(start, start + n), reason))


def _add_cookies(day: Day, p: np.ndarray, reason: str) -> None:
    """New cookies (a new browser or phone), each with a first session today."""
    if len(p) == 0:
        return
    world, rng, n = day.world, day.rng(f"cookies:{reason}"), len(p)
    has_account = world.primary_accounts()[p] >= 0
    cookies = world.cookies
    start = len(cookies.p)
    world.cookies = Cookies(
        cookie_id=pa.concat_arrays([cookies.cookie_id, uuids(rng, n)]),
        p=np.concatenate([cookies.p, p]),
        device=np.concatenate([cookies.device, r.choose(rng, n, [0.4, 0.42, 0.08, 0.05, 0.05])]),
        logs_in=np.concatenate([cookies.logs_in, has_account & (rng.random(n) < 0.6)]),
    )
    world.cookie_delivered = np.concatenate([world.cookie_delivered, np.zeros(n, bool)])
    day.new_cookies.update(dict.fromkeys(range(start, start + n), reason))
    cookie = start + np.arange(n)
    day.sessions.append((cookie, day.seconds(rng, n), world.cookies.logs_in[cookie] & (rng.random(n) < 0.5)))


# ---- what changes in a customer's life


def _candidates_told(day: Day, rng, candidates: np.ndarray, told: dict[str, float], second_accounts: bool):
    """For each candidate, the records that learn of the change (each source's share of them; a second e-shop
    account only if ``second_accounts``): the number per candidate and, per source, (candidate position, row)."""
    counts = np.zeros(len(candidates), np.int64)
    pairs = {}
    for source, share in told.items():
        if source not in day.world.records:
            continue
        records = day.world.records[source]
        owner, rows = records.rows_of(candidates)
        keep = (rng.random(len(rows)) < share) & (second_accounts | ~records.second[rows])
        counts += np.bincount(owner[keep], minlength=len(candidates))
        pairs[source] = (owner[keep], rows[keep])
    return counts, pairs


def _change_people(day: Day, reason: str, eligible: np.ndarray, told: dict[str, float],
                   second_accounts: bool = False):
    """Candidates drawn among ``eligible`` persons until the records they touch fill the reason's share of the
    budget: (persons, per source (position in persons, row))."""
    rng = day.rng(reason)
    budget = _round(rng, day.share(reason))
    candidates = np.flatnonzero(eligible)
    if budget == 0 or len(candidates) == 0:
        return np.zeros(0, np.int64), {}
    candidates = rng.permutation(candidates)[: 4 * budget + 8]
    counts, pairs = _candidates_told(day, rng, candidates, told, second_accounts)
    n = max(1, _fit(counts, budget))
    return candidates[:n], {s: (o[o < n], rows[o < n]) for s, (o, rows) in pairs.items()}


def _moves(day: Day) -> None:
    """A household moves; the mover's e-shop accounts, and some of their loyalty and CRM records, are told."""
    world, state = day.world, day.world.state
    pop = world.pop
    movers, told = _change_people(day, "move", world.has_customer_record() & world.in_france(),
                                  {"eshop_accounts": 1.0, "loyalty_members": 0.5, "crm_customers": 0.6},
                                  second_accounts=True)
    if len(movers) == 0:
        return
    rng = day.rng("move:where")
    members = np.flatnonzero(np.isin(pop.hh, pop.hh[movers]))
    households, head = np.unique(pop.hh[members], return_index=True)
    new = household_addresses(state, rng, len(households))
    new.city = np.where(rng.random(len(households)) < 0.5, pop.addr.city[members[head]], new.city)
    pop.move(members, new.take(np.searchsorted(households, pop.hh[members])), day.number)
    for source, (owner, rows) in told.items():
        names, style = ADDRESS_COLUMNS[source]
        addr = pop.address_at(movers[owner], np.full(len(rows), day.number))
        values = [r.street_lines(rng, state.vocab, addr, style), r.address_extras(rng, addr, style),
                  r.postcodes(rng, state.vocab, addr, style), r.cities(rng, state.vocab, addr, style)]
        day.update(source, rows, dict(zip(names, values)), "move", rng)


def _new_emails(day: Day) -> None:
    """A new e-mail address (the old one becomes the alternative); the e-shop account's login changes, some
    loyalty and CRM records are told, some sign up again to the newsletter with it."""
    world, state = day.world, day.world.state
    pop = world.pop
    has_email = ~pc.is_null(pop.email).to_numpy(zero_copy_only=False)
    persons, told = _change_people(day, "email", has_email & world.has_customer_record() & world.in_france(),
                                   {"eshop_accounts": 1.0, "loyalty_members": 0.3, "crm_customers": 0.4})
    if len(persons) == 0:
        return
    rng = day.rng("email:new")
    vocab, n = state.vocab, len(persons)
    locals_ = _email_locals(rng, r.take(r.strings(vocab.first_fold), pop.first[persons]),
                            r.take(r.strings(vocab.last_fold), pop.last[persons]),
                            (1970 + pop.birth[persons] / 365.25).astype(np.int32))
    domains = r.where(pop.age[persons] < 45, _weighted_domains(rng, n, _YOUNG_DOMAINS),
                      _weighted_domains(rng, n, _ALT_DOMAINS))
    email = r.strings(_unique(state, rng, r.concat(locals_, "@", domains).to_pylist()))
    pop.email_alt = _set(pop.email_alt, persons, pop.email.take(pa.array(persons)))
    pop.email = _set(pop.email, persons, email)
    pop.family_email[persons] = False
    for source, (owner, rows) in told.items():
        style = dataclasses.replace(EMAIL_COLUMNS[source], placeholder=0.0, missing=0.0)
        day.update(source, rows, {"email": r.emails(rng, email.take(pa.array(owner)), style)}, "email", rng)
    _add_signups(day, persons[rng.random(n) < 0.2], "email")


def _new_mobiles(day: Day) -> None:
    """A new mobile number; the e-shop account, and some loyalty and CRM records, are told."""
    world, state = day.world, day.world.state
    pop = world.pop
    persons, told = _change_people(day, "mobile", (pop.mobile > 0) & world.has_customer_record() & world.in_france(),
                                   {"eshop_accounts": 1.0, "loyalty_members": 0.5, "crm_customers": 0.4})
    if len(persons) == 0:
        return
    rng = day.rng("mobile:new")
    pop.mobile[persons] = _unique_numbers(state, rng, draw_mobiles(rng, pop.age[persons]))
    for source, (owner, rows) in told.items():
        column, formats = MOBILE_COLUMNS[source]
        day.update(source, rows, {column: r.phones(rng, pop.mobile[persons[owner]], formats)}, "mobile", rng)


def _married_names(day: Day) -> None:
    """A woman marries and takes her husband's name (her birth name stays)."""
    world, state = day.world, day.world.state
    pop = world.pop
    eligible = ((pop.sex == 1) & (pop.age >= 22) & (pop.age <= 45) & (pop.last == pop.birth_last)
                & world.has_customer_record() & world.in_france())
    persons, told = _change_people(day, "married_name", eligible,
                                   {"eshop_accounts": 1.0, "loyalty_members": 0.6, "crm_customers": 0.6})
    if len(persons) == 0:
        return
    rng = day.rng("married_name:new")
    vocab = state.vocab
    pop.last[persons] = sample_cdf(rng, vocab.last_cdf, len(persons))
    for source, (owner, rows) in told.items():
        p = persons[owner]
        if source == "eshop_accounts":
            values = {"nom": r.last_names(rng, vocab, pop.last[p], ESHOP_TEXT),
                      "civilite": r.civilities(rng, pop.sex[p], young_unmarried(pop, p), "web")}
        elif source == "loyalty_members":
            values = {"nom": r.last_names(rng, vocab, pop.last[p], LOYALTY_LAST),
                      "nom_naissance": r.last_names(rng, vocab, pop.birth_last[p], LOYALTY_LAST),
                      "civilite": r.civilities(rng, pop.sex[p], young_unmarried(pop, p), "backoffice")}
        else:
            values = {"nom_prenom": r.concat(r.last_names(rng, vocab, pop.last[p], CRM_LAST_UPPER), " ",
                                             r.first_names(rng, vocab, pop.first[p], CRM_FIRST)),
                      "titre": r.civilities(rng, pop.sex[p], young_unmarried(pop, p), "crm")}
        day.update(source, rows, values, "married_name", rng)


def _new_cards(day: Day) -> None:
    """A new loyalty card: a member's lost card replaced (the old one stays on file), or a shopper joins."""
    world = day.world
    if "loyalty_members" not in world.records:
        return
    rng = day.rng("new_card")
    n = _round(rng, day.share("new_card"))
    loyalty = world.records["loyalty_members"]
    members = np.unique(loyalty.p[loyalty.alive])
    joining = np.setdiff1d(np.flatnonzero(world.pop.shopper), members)
    replaced = rng.random(n) < 0.5
    p = np.concatenate([rng.choice(members, int(replaced.sum())) if len(members) else np.zeros(0, np.int64),
                        rng.choice(joining, int((~replaced).sum())) if len(joining) else np.zeros(0, np.int64)])
    _add_cards(day, np.unique(p), "new_card")


def _typo_fixes(day: Day) -> None:
    """A name keyed wrong (a typo, a nickname, swapped fields) is corrected in the e-shop or loyalty record."""
    world = day.world
    rng = day.rng("typo_fix")
    vocab, pop = world.state.vocab, world.pop
    styles = {"eshop_accounts": (ESHOP_TEXT, ESHOP_TEXT), "loyalty_members": (LOYALTY_FIRST, LOYALTY_LAST)}
    wrong = {}
    for source in styles:
        records = world.records.get(source)
        if records is None:
            continue
        touched = np.array(sorted(day.touched(source)), np.int64)
        live = np.setdiff1d(np.flatnonzero(records.alive), touched)
        p = records.p[live]

        def folded(column: str) -> pa.Array:
            return pc.fill_null(r.strip_accents(pc.utf8_lower(records.columns[column].take(pa.array(live)))), "")

        def same(values: pa.Array, names: list[str], idx: np.ndarray) -> np.ndarray:
            return pc.equal(values, r.take(r.strings(names), idx)).to_numpy(zero_copy_only=False)

        last = folded("nom")
        right = (same(folded("prenom"), vocab.first_fold, pop.first[p])
                 & (same(last, vocab.last_fold, pop.last[p]) | same(last, vocab.last_fold, pop.birth_last[p])))
        wrong[source] = live[~right]
    for source, rows in _draw_rows(rng, wrong, _round(rng, day.share("typo_fix"))).items():
        p = world.records[source].p[rows]
        first_style, last_style = (dataclasses.replace(s, typo=0.0) for s in styles[source])
        day.update(source, rows, {"prenom": r.first_names(rng, vocab, pop.first[p], first_style),
                                  "nom": r.last_names(rng, vocab, pop.last[p], last_style)}, "typo_fix", rng)


def _consents(day: Day, reason: str) -> None:
    """Consents given (``consent``) or withdrawn (``opt_out``: an unsubscribe, an opt-out at the counter)."""
    world = day.world
    rng = day.rng(reason)
    give = reason == "consent"
    candidates = {}
    for source, columns in CONSENT_COLUMNS.items():
        records = world.records.get(source)
        if records is None:
            continue
        for column, forms in columns:
            yes = pc.is_in(pc.utf8_lower(records.columns[column]), value_set=pa.array(_YES)).to_numpy(
                zero_copy_only=False)
            candidates[(source, column, forms)] = np.flatnonzero(records.alive & (yes != give))
    for (source, column, forms), rows in _draw_rows(rng, candidates, _round(rng, day.share(reason))).items():
        values = {column: r.consents(rng, np.full(len(rows), give), forms)}
        if source in CONSENT_DATE:
            name, fmt = CONSENT_DATE[source]
            values[name] = r.format_timestamps(day_seconds(rng, np.full(len(rows), day.number)), fmt)
        day.update(source, rows, values, reason, rng)


def _deletions(day: Day, snapshot_sources: tuple[str, ...]) -> None:
    """Records deleted at the source: closed accounts and cards, erased sign-ups and CRM customers."""
    world = day.world
    rng = day.rng("deleted")
    n = _round(rng, day.share("deleted"))
    sources = [s for s in DELETED_SOURCES if s in world.records]
    if n == 0 or not sources:
        return
    weights = np.array([DELETED_SOURCES[s] for s in sources])
    per_source = rng.multinomial(n, weights / weights.sum())
    for source, k in zip(sources, per_source):
        records = world.records[source]
        free = np.setdiff1d(np.flatnonzero(records.alive), np.array(sorted(day.touched(source)), np.int64))
        rows = np.sort(rng.choice(free, min(int(k), len(free)), replace=False))
        records.alive[rows] = False
        motives = r.choose(rng, len(rows), [0.6, 0.25, 0.15])
        day.closed[source].update({int(row): DELETION_MOTIVES[m] for row, m in zip(rows, motives)})


# ---- activity of existing customers


def _orders(day: Day) -> None:
    world, rng = day.world, day.rng("order")
    n = _round(rng, day.share("order"))
    primary = world.primary_accounts()
    holders = np.flatnonzero(primary >= 0)
    guests = np.flatnonzero(world.pop.web & (primary < 0))
    is_guest = rng.random(n) < 0.1
    p = np.concatenate([_weighted(rng, holders, int((~is_guest).sum()), ORDER_RATE[world.pop.profile[holders]]),
                        rng.choice(guests, int(is_guest.sum())) if len(guests) else np.zeros(0, np.int64)])
    _place_orders(day, p, primary[p], "activity")


def _place_orders(day: Day, p: np.ndarray, account_rows: np.ndarray, reason: str) -> None:
    """Orders and carts placed today, each made in a web session logged in with its account (none: a guest)."""
    if len(p) == 0:
        return
    world, rng, n = day.world, day.rng(f"order:{reason}"), len(p)
    seconds = day.seconds(rng, n)
    status = r.choose(rng, n, [0.76, 0.05, 0.19]).astype(np.int8)
    account_id = r.take(world.records["eshop_accounts"].ids, account_rows)
    columns, order_id = order_columns(day.chunk, rng, p, account_id, seconds, status)
    day.event_part("eshop_orders", columns, p, seconds, reason)
    world.orders = Orders(p=np.concatenate([world.orders.p, p]),
                          order_id=pa.concat_arrays([world.orders.order_id, order_id]),
                          seconds=np.concatenate([world.orders.seconds, seconds]),
                          status=np.concatenate([world.orders.status, status]))
    day.visits.add(p, seconds - 20, np.where(status == 2, CART, CHECKOUT), anchored_end=True, account=account_id)


def _receipts(day: Day) -> None:
    world, rng = day.world, day.rng("receipt")
    shoppers = np.flatnonzero(world.pop.shopper)
    n = _round(rng, day.share("receipt"))
    _ring_receipts(day, _weighted(rng, shoppers, n, RECEIPT_RATE[world.pop.profile[shoppers]]), "activity")


def _ring_receipts(day: Day, p: np.ndarray, reason: str) -> None:
    """Receipts at the person's usual store (mostly), with their newest loyalty card if they show it."""
    if len(p) == 0 or "loyalty_members" not in day.world.records:
        return
    world, rng, n = day.world, day.rng(f"receipt:{reason}"), len(p)
    stores = world.state.stores
    other = np.minimum(np.searchsorted(np.cumsum(stores.weight), rng.random(n), side="right"), len(stores.code) - 1)
    store = np.where(rng.random(n) < 0.82, world.pop.home_store[p], other)
    seconds = day.seconds(rng, n, STORE_HOURS)
    columns = receipt_columns(day.chunk, rng, world.cards(), p, store, np.full(n, day.number), seconds, day.visits)
    day.event_part("pos_receipts", columns, p, seconds, reason)


def _calls(day: Day) -> None:
    """Calls to the customer service; about half of them about an order of the last three weeks."""
    world, rng = day.world, day.rng("call")
    n = _round(rng, day.share("call"))
    if n == 0:
        return
    orders = world.orders
    recent = np.flatnonzero((orders.status != 2) & (orders.seconds >= (day.number - 21) * DAY))
    about_order = (rng.random(n) < 0.55) & (len(recent) > 0)
    pick = np.where(about_order, recent[rng.integers(0, max(len(recent), 1), n)] if len(recent) else 0, 0)
    callers = np.flatnonzero(world.has_customer_record())
    p = np.where(about_order, orders.p[pick] if len(orders.p) else 0, callers[rng.integers(0, len(callers), n)])
    seconds = day.seconds(rng, n, STORE_HOURS)
    columns = call_columns(day.chunk, rng, p, seconds, about_order, pick, orders)
    day.event_part("call_centre", columns, p, seconds, "activity")


def _cookies(day: Day) -> None:
    world, rng = day.world, day.rng("cookie")
    web = np.flatnonzero(world.pop.web)
    _add_cookies(day, _weighted(rng, web, _round(rng, day.share("cookie")), 1.0 + world.pop.profile[web]), "activity")


def _email_events(day: Day) -> None:
    """The emailing platform's export: welcome e-mails to today's new contacts, the campaign when there is one,
    their opens and clicks (after midnight: in the next days' files), and the opens left over from earlier days."""
    world, rng = day.world, day.rng("email")
    contacts = world.contacts
    new = np.array(sorted(day.new_contacts), np.int64)
    send_contact = [new]
    send_second = [day.seconds(rng, len(new)) + 300]
    send_campaign = [np.full(len(new), "BIENVENUE", dtype=object)]
    campaign = world.campaign_days.get(day.number)
    if campaign is not None and len(contacts.p):
        n = _round(rng, day.budget * SENDS_PER_RECORD)
        sent = np.unique(_weighted(rng, np.arange(len(contacts.p)), n, SEND_RATE[world.pop.profile[contacts.p]]))
        send_contact.append(sent)
        send_second.append(day.number * DAY + 9 * 3600 + rng.integers(0, 3 * 3600, len(sent)))
        send_campaign.append(np.full(len(sent), campaign, dtype=object))
    contact = np.concatenate(send_contact)
    second = np.concatenate(send_second)
    camp = np.concatenate(send_campaign)
    profile = world.pop.profile[contacts.p[contact]]
    domains = [e.rpartition("@")[2].strip().lower() for e in contacts.email.take(pa.array(contact)).to_pylist()]
    bounced = np.array([d not in VALID_DOMAINS for d in domains], bool)
    opened = ~bounced & (rng.random(len(contact)) < np.array([0.03, 0.1, 0.22, 0.38, 0.55])[profile])
    open_second = second + 30 + rng.exponential(6 * 3600, len(contact)).astype(np.int64)
    clicked = opened & (rng.random(len(contact)) < np.array([0.05, 0.1, 0.2, 0.3, 0.4])[profile])
    click_second = open_second + 5 + rng.exponential(180, len(contact)).astype(np.int64)
    events = {
        "contact": np.concatenate([contact, contact[bounced], contact[opened], contact[clicked],
                                   world.pending_emails.get("contact", np.zeros(0, np.int64))]),
        "campaign": np.concatenate([camp, camp[bounced], camp[opened], camp[clicked],
                                    world.pending_emails.get("campaign", np.zeros(0, object))]),
        "second": np.concatenate([second, second[bounced] + rng.integers(5, 600, int(bounced.sum())),
                                  open_second[opened], click_second[clicked],
                                  world.pending_emails.get("second", np.zeros(0, np.int64))]),
        "type": np.concatenate([np.zeros(len(contact), np.int8), np.full(int(bounced.sum()), 3, np.int8),
                                np.ones(int(opened.sum()), np.int8), np.full(int(clicked.sum()), 2, np.int8),
                                world.pending_emails.get("type", np.zeros(0, np.int8))]),
    }
    lands = clicked & world.pop.web[contacts.p[contact]] & (rng.random(len(contact)) < 0.75)
    lands &= click_second < (day.number + 1) * DAY
    day.visits.add(contacts.p[contact[lands]], click_second[lands] + 2, VISIT, utm_source="email",
                   utm_campaign=pa.array(camp[lands].tolist(), r.STRING))
    today = events["second"] < (day.number + 1) * DAY
    world.pending_emails = {k: v[~today] for k, v in events.items()}
    order = np.argsort(events["second"][today], kind="stable")
    today_events = {k: v[today][order] for k, v in events.items()}
    n = len(order)
    if n == 0:
        return
    contact = today_events["contact"]
    columns = {
        "id_evenement": r.int_str(world.state.next_ids("email_events", n) + 10_000_001),
        "id_contact": contacts.contact_id.take(pa.array(contact)),
        "email": contacts.email.take(pa.array(contact)),
        "campagne": pa.array(today_events["campaign"].tolist(), r.STRING),
        "type_evenement": r.take(r.strings(list(EMAIL_EVENT_TYPES)), today_events["type"]),
        "horodatage": r.format_timestamps(today_events["second"], "yyyy-MM-dd HH:mm:ss"),
    }
    first_time = np.unique(contact[~contacts.delivered[contact]])
    contacts.delivered[first_time] = True
    day.event_part("email_events", columns, contacts.p[contact], today_events["second"], "activity",
                   new_records=False)
    if len(first_time):
        reasons = [day.new_contacts.get(int(c), "activity") for c in first_time]
        for reason in sorted(set(reasons)):
            rows = first_time[np.array(reasons) == reason]
            day.truth.append(("email_events", contacts.contact_id.take(pa.array(rows)), contacts.p[rows], "new",
                              reason))


def _web_events(day: Day) -> None:
    """The navigation log of the day: browsing on existing cookies, the sessions of orders and e-mail clicks
    (on one of the person's cookies, a new one when they have none), the first sessions of new cookies."""
    world, rng = day.world, day.rng("web")
    cookies = world.cookies
    with_cookie = np.unique(cookies.p)
    n_browse = _round(rng, day.budget * BROWSE_PER_RECORD)
    browsers = _weighted(rng, with_cookie, n_browse, 1.0 + world.pop.profile[with_cookie])
    visits = _visits_of_the_day(day)
    v_p = visits.p[0] if visits.p else np.zeros(0, np.int64)
    _add_cookies(day, np.setdiff1d(v_p, with_cookie), "activity")
    cookies = world.cookies
    by_person = np.argsort(cookies.p, kind="stable")
    keys = cookies.p[by_person]

    def cookie_of(p: np.ndarray) -> np.ndarray:
        lo, hi = np.searchsorted(keys, p, "left"), np.searchsorted(keys, p, "right")
        return by_person[lo + (rng.random(len(p)) * (hi - lo)).astype(np.int64)]

    primary = world.primary_accounts()
    b_cookie = cookie_of(browsers)
    b_login = cookies.logs_in[b_cookie] & (rng.random(len(b_cookie)) < 0.4) & (primary[browsers] >= 0)
    accounts = world.records["eshop_accounts"].ids
    plain = [(b_cookie, day.seconds(rng, len(b_cookie)), b_login)] + day.sessions   # browsing, new cookies
    s_cookie = np.concatenate([c for c, _, _ in plain])
    s_second = np.concatenate([s for _, s, _ in plain])
    s_login = np.concatenate([x for _, _, x in plain]) & (primary[cookies.p[s_cookie]] >= 0)
    s_account = r.where(s_login, r.take(accounts, primary[cookies.p[s_cookie]]), r.NULL)
    if visits.p:
        v_account = visits.account[0]
        sessions = Sessions(
            cookie=np.concatenate([s_cookie, cookie_of(v_p)]),
            seconds=np.concatenate([s_second, visits.seconds[0]]),
            kind=np.concatenate([np.full(len(s_cookie), BROWSE, np.int8), visits.kind[0]]),
            anchored_end=np.concatenate([np.zeros(len(s_cookie), bool), visits.anchored_end[0]]),
            login=np.concatenate([s_login, ~pc.is_null(v_account).to_numpy(zero_copy_only=False)]),
            account=pa.concat_arrays([s_account, v_account]),
            utm_source=pa.concat_arrays([pa.nulls(len(s_cookie), r.STRING), visits.utm_source[0]]),
            utm_campaign=pa.concat_arrays([pa.nulls(len(s_cookie), r.STRING), visits.utm_campaign[0]]),
        )
    else:
        sessions = Sessions(s_cookie, s_second, np.full(len(s_cookie), BROWSE, np.int8), np.zeros(len(s_cookie), bool),
                            s_login, s_account, pa.nulls(len(s_cookie), r.STRING), pa.nulls(len(s_cookie), r.STRING))
    if len(sessions.cookie) == 0:
        return
    columns, e_cookie = session_columns(rng, world.state, sessions, cookies.cookie_id, cookies.device,
                                        day.number * DAY, (day.number + 1) * DAY)
    if len(e_cookie) == 0:
        return
    day.event_part("web_events", columns, cookies.p[e_cookie], np.arange(len(e_cookie)), "activity",   # in time order
                   new_records=False)
    first_time = np.unique(e_cookie[~world.cookie_delivered[e_cookie]])
    world.cookie_delivered[first_time] = True
    reasons = np.array([day.new_cookies.get(int(c), "activity") for c in first_time], dtype=object)
    for reason in sorted(set(reasons.tolist())):
        rows = first_time[reasons == reason]
        day.truth.append(("web_events", cookies.cookie_id.take(pa.array(rows)), cookies.p[rows], "new", reason))


def _visits_of_the_day(day: Day) -> Visits:
    """The sessions asked for by orders, e-mail clicks and store visits that fall on the day (the web research
    before a store visit mostly falls on earlier days, already delivered), as one batch."""
    asked = day.visits
    if not asked.p:
        return Visits()
    seconds = np.concatenate(asked.seconds)
    today = (seconds >= day.number * DAY) & (seconds < (day.number + 1) * DAY)

    def strings(arrays: list[pa.Array]) -> list[pa.Array]:
        return [pa.concat_arrays([a.cast(r.STRING) for a in arrays]).filter(pa.array(today))]

    return Visits(p=[np.concatenate(asked.p)[today]], seconds=[seconds[today]],
                  kind=[np.concatenate(asked.kind)[today]], anchored_end=[np.concatenate(asked.anchored_end)[today]],
                  account=strings(asked.account), utm_source=strings(asked.utm_source),
                  utm_campaign=strings(asked.utm_campaign))


# ---- what the sources deliver


def _delivery(day: Day, snapshot_sources: tuple[str, ...]) -> Delivery:
    world = day.world
    delivery = Delivery(day.k, day.number, day.stream)
    truth = list(day.truth)
    deleted = []
    for source, records in world.records.items():
        new, updated = day.new[source], day.updated[source]
        for reason in sorted(set(new.values()) | set(updated.values())):
            for change, rows in (("new", new), ("updated", updated)):
                chosen = np.array(sorted(row for row, why in rows.items() if why == reason), np.int64)
                if len(chosen):
                    truth.append((source, records.ids.take(pa.array(chosen)), records.p[chosen], change, reason))
        closed = np.array(sorted(day.closed[source]), np.int64)
        snapshot = source in snapshot_sources
        if len(closed):
            deleted.append((source, records.ids.take(pa.array(closed)), records.p[closed],
                            "snapshot" if snapshot else "deletion_list"))
        rows = np.flatnonzero(records.alive) if snapshot else np.array(sorted(day.touched(source)), np.int64)
        if len(rows):
            columns = {k: v.take(pa.array(rows)) for k, v in records.columns.items()}
            order = pc.sort_indices(columns[records.record_id]).to_numpy()
            delivery.parts[source] = _part(source, records.record_id, columns, order)
        if len(closed) and not snapshot:
            motives = [day.closed[source][int(row)] for row in closed]
            delivery.deletions[source] = pa.table({
                records.record_id: records.ids.take(pa.array(closed)),
                "date_suppression": pa.array([f"{from_days(day.number):%Y-%m-%d}"] * len(closed), r.STRING),
                "motif": pa.array(motives, r.STRING),
            })
    for source, parts in day.events.items():
        first = parts[0][0]
        columns = {k: pa.concat_arrays([c[k].cast(first[k].type) for c, _ in parts]) for k in first}
        order = np.argsort(np.concatenate([seconds for _, seconds in parts]), kind="stable")
        delivery.parts[source] = _part(source, EVENT_RECORD_IDS[source], columns, order)
    person_id = world.pop.person_id
    delivery.truth = pa.Table.from_batches([], TRUTH_DAY_SCHEMA) if not (truth or deleted) else pa.concat_tables(
        [_truth_rows(source, ids, person_id.take(pa.array(p)), change, reason, None)
         for source, ids, p, change, reason in truth]
        + [_truth_rows(source, ids, person_id.take(pa.array(p)), "deleted", "deleted", by)
           for source, ids, p, by in deleted])
    delivery.deleted = pa.concat_tables([pa.table({
        "source": pa.array([source] * len(ids), r.STRING), "source_record_id": ids.cast(r.STRING),
        "person_id": person_id.take(pa.array(p)), "day": pa.array(np.full(len(ids), day.k, np.int32)),
        "deleted_on": pa.array(np.full(len(ids), day.number, np.int32), pa.date32()),
        "deleted_by": pa.array([by] * len(ids), r.STRING)}, schema=DELETED_SCHEMA) for source, ids, p, by in deleted]
    ) if deleted else DELETED_SCHEMA.empty_table()
    return delivery


def _part(source: str, record_id: str, columns: dict, order: np.ndarray) -> Part:
    return Part(source, columns, record_id, fresh_ids=lambda k: pa.nulls(k, r.STRING), order=order,
                malformed_rate=0.0)


def _truth_rows(source, ids, person_id, change, reason, deleted_by) -> pa.Table:
    n = len(ids)
    return pa.table({
        "source": pa.array([source] * n, r.STRING), "source_record_id": ids.cast(r.STRING), "person_id": person_id,
        "change": pa.array([change] * n, r.STRING), "reason": pa.array([reason] * n, r.STRING),
        "deleted_by": pa.array([deleted_by] * n, r.STRING),
    }, schema=TRUTH_DAY_SCHEMA)


def _set(values: pa.Array, rows: np.ndarray, new: pa.Array) -> pa.Array:
    """``values`` with ``values[rows]`` (distinct) replaced by ``new``."""
    order = np.argsort(rows, kind="stable")
    mask = np.zeros(len(values), bool)
    mask[rows] = True
    return pc.replace_with_mask(values, pa.array(mask), new.take(pa.array(order)).cast(values.type))


