"""Trigger audiences: the shipped conf/audiences.yaml evaluated on a hand-checked set of 19 customers.

Run date 2026-10-31. Every customer below is written for one branch of one audience; the expected
membership (channel, contact, reason) was worked out by hand from the events, not by the code under test.
"""

from __future__ import annotations

import datetime as dt
import textwrap

import pytest

from spark_lib.config import ConfigError, load_sources
from spark_lib.gold.audiences import (
    customer_events,
    evaluate_audiences,
    interaction_tables_of,
    load_audiences,
    summarise_audiences,
    usable_events,
)
from tests.gold_tables import crosswalk, customers, event, interactions

RUN_DATE = dt.date(2026, 10, 31)
CATALOGUE = dict(campaign_id="CAT-2026-RENTREE")


def email(n: int) -> dict:
    return {"consent_email": True, "email": f"c{n}@exemple.fr"}


POSTAL_LYON = {"consent_postal": True, "house_number": "12", "street": "rue des Lilas", "postcode": "69003", "city": "Lyon"}

# customer -> golden-record fields (consents and contact values only: the rest is irrelevant here)
CUSTOMERS = {
    "C01": email(1),
    "C02": email(2),
    "C03": email(3),
    # no email consent (but an email); consented to SMS with a mobile
    "C04": {"email": "c4@exemple.fr", "consent_email": False, "consent_sms": True, "phone_mobile": "+33612345678"},
    # consented to email and SMS but has neither value; consented to mail with a full address
    "C05": {"consent_email": True, "consent_sms": True, **POSTAL_LYON},
    # consented to email, has no email, nothing else: eligible but unreachable
    "C06": {"consent_email": True, "consent_postal": False, "street": "rue Haute", "postcode": "59000", "city": "Lille"},
    "C07": email(7),
    "C08": email(8),
    "C09": email(9),
    "C11": email(11),
    "C12": email(12),
    "C13": email(13),
    # abandoned cart, but only consented to postal mail, which that audience does not use
    "C14": {"email": "c14@exemple.fr", **POSTAL_LYON},
    "C15": {"consent_postal": True, "house_number": "3 bis", "street": "avenue Foch", "address_extra": "Bât. B",
            "postcode": "75016", "city": "Paris", **email(15)},
    "C16": {"consent_postal": True, **POSTAL_LYON},
    "C17": {"consent_postal": True, **POSTAL_LYON},
    "C18": email(18),
    "C19": email(19),
    "C20": email(20),
}

# Each customer's records: web cookie, e-shop orders, catalogue recipient, store receipts, email contact.
RECORDS = {
    f"{source}:{c.lower()}": c
    for c in CUSTOMERS
    for source in ("web_events", "eshop_orders", "catalogue_mailings", "pos_receipts", "email_events")
}


def web(c: str, when: str, event_type: str, page: str) -> dict:
    return event(f"web_events:{c.lower()}", when, event_type, page=page)


def order(c: str, when: str, status: str) -> dict:
    return event(f"eshop_orders:{c.lower()}", when, status, order_id=f"CMD-{c}-{when[:10]}")


def catalogue(c: str, when: str = "2026-08-12 06:00") -> dict:
    return event(f"catalogue_mailings:{c.lower()}", when, "catalogue_sent", **CATALOGUE)


def receipt(c: str, when: str) -> dict:
    return event(f"pos_receipts:{c.lower()}", when, "purchase", store_id="S012", amount=42.0)


def email_event(c: str, when: str, event_type: str, campaign: str) -> dict:
    return event(f"email_events:{c.lower()}", when, event_type, campaign_id=campaign)


EVENTS = [
    # --- catalogue_cart_no_order: catalogue (90 days), visit within 14 days after it, cart after the visit, no order
    # C01 member: catalogue, page view 8 days later, cart the same hour
    catalogue("C01"), web("C01", "2026-08-20 10:00", "page_view", "/"), web("C01", "2026-08-20 10:05", "add_to_cart", "/panier"),
    # C02 not: the same, then ordered the next day
    catalogue("C02"), web("C02", "2026-08-20 10:00", "page_view", "/"), web("C02", "2026-08-20 10:05", "add_to_cart", "/panier"),
    order("C02", "2026-08-21 09:00", "completed"),
    # C03 not: visited 15 days after the catalogue (window is 14 x 24 h from 2026-08-12 06:00)
    catalogue("C03"), web("C03", "2026-08-27 08:00", "page_view", "/"), web("C03", "2026-08-27 08:05", "add_to_cart", "/panier"),
    # C04 member by SMS: cart left as an e-shop order with status "cart"
    catalogue("C04"), web("C04", "2026-08-15 09:00", "product_view", "/categorie/maison"), order("C04", "2026-08-15 09:30", "cart"),
    # C05 member by post; C06 eligible the same way but unreachable
    catalogue("C05"), web("C05", "2026-08-13 18:00", "login", "/compte/connexion"),
    web("C05", "2026-08-13 18:10", "checkout_start", "/commande/livraison"),
    catalogue("C06"), web("C06", "2026-08-13 18:00", "login", "/compte/connexion"),
    web("C06", "2026-08-13 18:10", "checkout_start", "/commande/livraison"),
    # C07 not: the catalogue was received 215 days before the run date
    catalogue("C07", "2026-03-30 06:00"), web("C07", "2026-04-02 12:00", "page_view", "/"),
    web("C07", "2026-04-02 12:05", "add_to_cart", "/panier"),
    # C08 not: visited and carted without a catalogue
    web("C08", "2026-08-20 10:00", "page_view", "/"), web("C08", "2026-08-20 10:05", "add_to_cart", "/panier"),
    # C09 member: an order before the catalogue and a cancelled one after the cart do not count
    order("C09", "2026-08-10 12:00", "completed"), catalogue("C09"), web("C09", "2026-08-14 11:00", "page_view", "/promotions"),
    web("C09", "2026-08-14 11:20", "checkout_start", "/commande/livraison"), order("C09", "2026-08-15 08:00", "cancelled"),
    # anonymous page views and carts (no record key, or a record the crosswalk does not know) belong to nobody
    event(None, "2026-10-30 10:00", "add_to_cart", source="web_events", page="/panier"),
    event("web_events:unknown", "2026-10-30 10:00", "add_to_cart", page="/panier"),
    # C11 not: catalogue, then visit and cart after the run date
    catalogue("C11", "2026-10-25 06:00"), web("C11", "2026-11-02 10:00", "page_view", "/"),
    web("C11", "2026-11-02 10:05", "add_to_cart", "/panier"),
    # --- abandoned_cart: a cart in the 7 days before the run date (from 2026-10-24), no completed order since
    # C12 not: ordered the day after
    web("C12", "2026-10-29 20:00", "add_to_cart", "/panier"), order("C12", "2026-10-30 08:00", "completed"),
    # C13 member: an old cart (11 days) and an e-shop cart 3 days before the run date
    web("C13", "2026-10-20 20:00", "add_to_cart", "/panier"), order("C13", "2026-10-28 21:00", "cart"),
    # C14 eligible (an order before the cart does not count), but neither email nor SMS consent
    order("C14", "2026-10-25 10:00", "completed"), web("C14", "2026-10-26 10:00", "add_to_cart", "/panier"),
    # --- lapsed_store_regulars: >= 3 store purchases in 365 days (from 2025-10-31), no purchase in 90 (from 2026-08-02)
    receipt("C15", "2026-01-10 11:00"), receipt("C15", "2026-03-05 15:00"), receipt("C15", "2026-05-20 17:00"),
    # C16 not: bought online 46 days ago
    receipt("C16", "2026-01-10 11:00"), receipt("C16", "2026-03-05 15:00"), receipt("C16", "2026-05-20 17:00"),
    order("C16", "2026-09-15 19:00", "completed"),
    # C17 not: only 2 purchases within the year
    receipt("C17", "2025-09-01 11:00"), receipt("C17", "2026-03-05 15:00"), receipt("C17", "2026-05-20 17:00"),
    # --- newsletter_readers_never_bought: >= 2 opens/clicks of NL_* campaigns in 60 days (from 2026-09-01), never bought
    email_event("C18", "2026-10-07 08:00", "open", "NL_20261006_NOUVEAUTES"),
    email_event("C18", "2026-10-07 08:01", "click", "NL_20261006_NOUVEAUTES"),
    email_event("C18", "2026-10-07 07:00", "send", "NL_20261006_NOUVEAUTES"),
    # C19 not: the second open is of a campaign that is not a newsletter
    email_event("C19", "2026-10-07 08:00", "open", "NL_20261006_NOUVEAUTES"),
    email_event("C19", "2026-10-08 08:00", "open", "PROMO_20261008"),
    # C20 not: bought in store once, two years ago
    email_event("C20", "2026-10-07 08:00", "open", "NL_20261006_NOUVEAUTES"),
    email_event("C20", "2026-10-25 08:00", "open", "NL_20261024_VENTEPRIVEE"),
    receipt("C20", "2024-11-15 10:00"),
]

SEED = "catalogue: catalogue_sent CAT-2026-RENTREE on 2026-08-12; visit: {visit}; cart: {cart}; no order_completed since cart"
EXPECTED_MEMBERS = {
    ("catalogue_cart_no_order", "C01", "email", "c1@exemple.fr",
     SEED.format(visit="page_view / on 2026-08-20", cart="add_to_cart /panier on 2026-08-20")),
    ("catalogue_cart_no_order", "C04", "sms", "+33612345678",
     SEED.format(visit="product_view /categorie/maison on 2026-08-15", cart="cart on 2026-08-15")),
    ("catalogue_cart_no_order", "C05", "postal", "12 rue des Lilas, 69003 Lyon",
     SEED.format(visit="login /compte/connexion on 2026-08-13", cart="checkout_start /commande/livraison on 2026-08-13")),
    ("catalogue_cart_no_order", "C09", "email", "c9@exemple.fr",
     SEED.format(visit="page_view /promotions on 2026-08-14", cart="checkout_start /commande/livraison on 2026-08-14")),
    ("abandoned_cart", "C13", "email", "c13@exemple.fr", "cart: cart on 2026-10-28; no order_completed since cart"),
    ("lapsed_store_regulars", "C15", "postal", "3 bis avenue Foch, Bât. B, 75016 Paris",
     "regular: 3 x store_purchase, last purchase S012 on 2026-05-20; no purchase in the last 90 days"),
    ("newsletter_readers_never_bought", "C18", "email", "c18@exemple.fr",
     "engaged: 2 x newsletter_engagement, last click NL_20261006_NOUVEAUTES on 2026-10-07; no purchase ever"),
}


@pytest.fixture(scope="module")
def config():
    return load_audiences(interaction_tables=interaction_tables_of(load_sources()))


@pytest.fixture(scope="module")
def eligible(spark, config):
    # as rcu activate reads them: only the events an audience can count on the run date
    events = customer_events(interactions(spark, EVENTS), crosswalk(spark, RECORDS),
                             where=usable_events(config, RUN_DATE)).cache()
    golden = customers(spark, [{"customer_id": c, **fields} for c, fields in CUSTOMERS.items()])
    return evaluate_audiences(events, golden, config, RUN_DATE).cache()


def test_hand_checked_customers_get_exactly_the_expected_audience_channel_and_reason(eligible):
    members = {tuple(r) for r in eligible.where("channel IS NOT NULL").collect()}

    assert members == EXPECTED_MEMBERS


def test_eligible_customers_without_a_consented_reachable_channel_are_counted_not_kept(eligible):
    summary = summarise_audiences(eligible)

    assert summary["catalogue_cart_no_order"] == {
        "eligible": 5, "members": 4, "no_channel": 1, "by_channel": {"email": 2, "sms": 1, "postal": 1}
    }
    assert summary["abandoned_cart"] == {"eligible": 2, "members": 1, "no_channel": 1, "by_channel": {"email": 1}}
    unreachable = {(r.audience, r.customer_id) for r in eligible.where("channel IS NULL").collect()}
    assert unreachable == {("catalogue_cart_no_order", "C06"), ("abandoned_cart", "C14")}


def _day_events(df) -> set:
    return {(r.customer_id, r.event_type, r.event_time.date().isoformat()) for r in df.collect()}


def test_only_the_events_an_audience_can_count_are_read_and_the_members_stay_the_same(spark, config, eligible):
    events = customer_events(interactions(spark, EVENTS), crosswalk(spark, RECORDS))

    left_out = events.exceptAll(customer_events(interactions(spark, EVENTS), crosswalk(spark, RECORDS),
                                                where=usable_events(config, RUN_DATE)))

    # The furthest look-backs (2026-10-31): the catalogue 90 days (visits and carts follow it), newsletters 60
    # days; "never bought" keeps every completed order and receipt (C17's of 2025, C20's of 2024).
    assert _day_events(left_out) == {
        ("C07", "catalogue_sent", "2026-03-30"), ("C07", "page_view", "2026-04-02"), ("C07", "add_to_cart", "2026-04-02"),
        ("C09", "cancelled", "2026-08-15"),  # no audience counts a cancelled order
        ("C11", "page_view", "2026-11-02"), ("C11", "add_to_cart", "2026-11-02"),  # after the run date
        ("C18", "send", "2026-10-07"),  # a newsletter sent, not opened
        ("C19", "open", "2026-10-08"),  # a campaign that is not a newsletter
    }
    everything = evaluate_audiences(events, customers(spark, [{"customer_id": c, **f} for c, f in CUSTOMERS.items()]),
                                    config, RUN_DATE)
    assert sorted(map(tuple, everything.collect())) == sorted(map(tuple, eligible.collect()))


def test_the_events_read_for_one_audience_start_at_its_own_look_back(spark, config):
    kept = customer_events(interactions(spark, EVENTS), crosswalk(spark, RECORDS),
                           where=usable_events(config, RUN_DATE, ["abandoned_cart"]))

    # carts from 2026-10-24 (7 days) and the completed orders after them; C13's cart of 2026-10-20 is too old
    assert _day_events(kept) == {
        ("C12", "add_to_cart", "2026-10-29"), ("C12", "completed", "2026-10-30"), ("C13", "cart", "2026-10-28"),
        ("C14", "completed", "2026-10-25"), ("C14", "add_to_cart", "2026-10-26"),
    }


def test_every_shipped_audience_has_a_description_and_reads_only_fed_tables():
    sources = load_sources()
    config = load_audiences(interaction_tables=interaction_tables_of(sources))

    assert config.names == ["catalogue_cart_no_order", "abandoned_cart", "lapsed_store_regulars",
                            "newsletter_readers_never_bought"]
    assert set(config.tables()) <= set(interaction_tables_of(sources))
    seed = config.get("catalogue_cart_no_order")
    assert [(c.name, c.event, c.within_days, c.after, c.max_days_after) for c in seed.require] == [
        ("catalogue", "catalogue_received", 90, None, None),
        ("visit", "site_visit", None, "catalogue", 14),
        ("cart", "cart_started", None, "visit", None),
    ]


# --------------------------------------------------------------------------------------------------
# Strict loading: each mistake names the key and the file
# --------------------------------------------------------------------------------------------------

VALID = """
events:
  cart_started:
    - {table: navigation_events, event_types: [add_to_cart]}
  order_completed:
    - {table: orders, event_types: [completed]}
audiences:
  abandoned_cart:
    description: Cart without order
    require:
      cart: {event: cart_started, within_days: 7}
    exclude:
      ordered: {event: order_completed, after: cart}
    channels: [email]
"""


def write(tmp_path, text: str):
    path = tmp_path / "audiences.yaml"
    path.write_text(textwrap.dedent(text), encoding="utf-8")
    return path


@pytest.mark.parametrize(
    "old, new, message",
    [
        ("within_days: 7}", "within_dayz: 7}", "audiences.abandoned_cart.require.cart: unknown key 'within_dayz'"),
        ("    description: Cart without order\n", "", "audiences.abandoned_cart: missing required key 'description'"),
        ("event: order_completed,", "event: order_complete,", "exclude.ordered.event: unknown event kind 'order_complete'"),
        ("after: cart}", "after: carts}", "exclude.ordered.after: 'carts' is not an earlier require condition"),
        ("table: orders,", "table: order,", "events.order_completed[0].table: 'order' is not an interaction table"),
        ("channels: [email]", "channels: [email, fax]", "abandoned_cart.channels: 'fax' is not one of email, sms, postal"),
        ("within_days: 7}", "within_days: seven}", "require.cart.within_days: expected an integer, got str 'seven'"),
        ("event_types: [completed]", "event_types: completed", "events.order_completed[0].event_types: expected a list, got str 'completed'"),
        ("{event: cart_started, within_days: 7}", "{event: cart_started, max_days_after: 3}",
         "require.cart.max_days_after: needs 'after'"),
    ],
)
def test_a_mistake_in_the_audiences_file_names_the_key_and_the_file(tmp_path, old, new, message):
    assert old in VALID
    path = write(tmp_path, VALID.replace(old, new))

    with pytest.raises(ConfigError) as error:
        load_audiences(path)

    assert str(path) in str(error.value) and message in str(error.value)


def test_a_table_no_source_feeds_is_refused_at_load_time(tmp_path):
    path = write(tmp_path, VALID)

    with pytest.raises(ConfigError, match="'orders' is not an interaction table that a source feeds"):
        load_audiences(path, interaction_tables=["navigation_events", "receipts"])


def test_unknown_top_level_key_is_refused(tmp_path):
    path = write(tmp_path, VALID + "\nsegments: {}\n")

    with pytest.raises(ConfigError, match="top level: unknown key 'segments'"):
        load_audiences(path)
