"""Hostile values in a delivery: control and bidi characters, over-long values, spreadsheet formula prefixes
(spark_lib.standardise.text.sanitise_fields, through every standardiser, down to gold)."""

from __future__ import annotations

import datetime as dt
import re

import pytest
from pyspark.sql import functions as F

from spark_lib.config import InteractionSpec, SourceSpec
from spark_lib.gold import golden_records, load_gold_config, survive
from spark_lib.silver import customer_records, interactions
from spark_lib.standardise import standardise_identity

FIELDS = (
    "civility", "first_name", "last_name", "email", "phone", "house_number", "street", "address_extra", "postcode",
    "city", "loyalty_card",
)
INPUTS = "id string, " + ", ".join(f"{f} string" for f in FIELDS)
OUTPUTS = (
    "civility", "first_name", "first_name_std", "last_name", "last_name_std", "email", "email_std", "phone_mobile",
    "house_number", "street", "street_std", "address_extra", "postcode", "city", "city_std", "loyalty_card",
)

#: one row per kind of hostile value (id, then FIELDS; None where the case says nothing)
HOSTILE = {
    "nul_in_name": {"first_name": "Je\x00an", "last_name": "DUPONT\x00\x00"},
    "c0_controls": {"first_name": "Ma\x01r\x07ie", "city": "LY\x1bON"},
    "c1_controls": {"last_name": "MAR\x85TIN\x9b", "street": "rue\x90 de la Paix"},
    "right_to_left_override": {"last_name": "\u202eTNOPUD", "city": "Paris\u202e"},
    "bidi_isolates": {"first_name": "\u2066Luc\u2069", "address_extra": "\u2067Bât B\u2069"},
    "zero_width": {"first_name": "Ju\u200bles", "last_name": "MO\u200dREAU\u200c"},
    "bom_inside": {"city": "NAN\ufeffTES", "email": "l\ufeffea@orange.fr"},
    "tab_cr_lf_inside": {"first_name": "Jean\tPierre", "last_name": "LE\r\nGOFF"},
    "long_first_name": {"first_name": "a" * 10_000, "last_name": "LONG"},
    "long_street": {"street": "rue " + "x" * 300, "postcode": "75011"},
    "long_email": {"email": "a" * 300 + "@orange.fr"},
    "hyperlink_last_name": {"last_name": '=HYPERLINK("http://x","clic")'},
    "sum_city": {"city": "@SUM(A1)", "postcode": "42000"},
    "minus_first_name": {"first_name": "-1+1", "last_name": "SIMON"},
    "plus_street": {"street": "+cmd|' /C calc'!A0", "house_number": "-12"},
    "formula_after_civility": {"first_name": "M. =cmd", "last_name": "=+-@ROBERT"},
    "formula_after_house_number": {"street": "12 =IMPORTXML(A1)"},
    "formula_email": {"email": "=1+2@orange.fr"},
    "nul_in_loyalty_card": {"loyalty_card": "C\x00001"},
    # legitimate French values: untouched, unflagged
    "legit_names": {"civility": "M", "first_name": "Jean-Pierre", "last_name": "D'Artagnan"},
    "legit_address": {"street": "12-14 rue X", "city": "Saint-Étienne", "postcode": "42000"},
    "legit_email_tag": {"email": "jean.dupont+promo@gmail.com"},
    "legit_phone_plus": {"phone": "+33 6 71 23 45 89"},
}


@pytest.fixture(scope="module")
def hostile(spark):
    """``hostile(case)``: the standardised row of one case, as a dict of :data:`OUTPUTS` and ``quality_flags``."""
    rows = [(case, *[values.get(f) for f in FIELDS]) for case, values in HOSTILE.items()]
    out = spark.createDataFrame(rows, INPUTS).transform(standardise_identity)
    by_case = {r["id"]: r.asDict() for r in out.select("id", *OUTPUTS, "quality_flags").collect()}
    return by_case.__getitem__


def test_nul_and_other_c0_c1_controls_are_removed_and_flagged(hostile):
    row = hostile("nul_in_name")
    assert (row["first_name"], row["last_name"], row["last_name_std"]) == ("Jean", "DUPONT", "dupont")
    assert {"first_name:control_chars_removed", "last_name:control_chars_removed"} <= set(row["quality_flags"])
    row = hostile("c0_controls")
    assert (row["first_name"], row["city"], row["city_std"]) == ("Marie", "LYON", "lyon")
    assert {"first_name:control_chars_removed", "city:control_chars_removed"} <= set(row["quality_flags"])
    row = hostile("c1_controls")
    assert (row["last_name"], row["street"], row["street_std"]) == ("MARTIN", "Rue de la Paix", "rue de la paix")
    assert {"last_name:control_chars_removed", "street:control_chars_removed"} <= set(row["quality_flags"])


def test_bidi_overrides_isolates_zero_width_and_bom_are_removed_and_flagged(hostile):
    row = hostile("right_to_left_override")
    assert (row["last_name"], row["city"]) == ("TNOPUD", "PARIS")
    assert {"last_name:control_chars_removed", "city:control_chars_removed"} <= set(row["quality_flags"])
    row = hostile("bidi_isolates")
    assert (row["first_name"], row["address_extra"]) == ("Luc", "Bât B")
    assert "address_extra:control_chars_removed" in row["quality_flags"]
    row = hostile("zero_width")
    assert (row["first_name"], row["last_name"], row["last_name_std"]) == ("Jules", "MOREAU", "moreau")
    row = hostile("bom_inside")
    assert (row["city"], row["email"], row["email_std"]) == ("NANTES", "lea@orange.fr", "lea@orange.fr")
    assert {"city:control_chars_removed", "email:control_chars_removed"} <= set(row["quality_flags"])


def test_tab_and_line_breaks_inside_a_name_become_a_space_and_are_flagged(hostile):
    row = hostile("tab_cr_lf_inside")
    assert (row["first_name"], row["first_name_std"], row["last_name"]) == ("Jean Pierre", "jean pierre", "LE GOFF")
    assert {"first_name:control_chars_removed", "last_name:control_chars_removed"} <= set(row["quality_flags"])


def test_over_long_values_are_cut_to_their_field_limit_and_flagged(hostile):
    row = hostile("long_first_name")
    assert row["first_name"] == "A" + "a" * 99 and len(row["first_name_std"]) == 100
    assert "first_name:truncated" in row["quality_flags"]
    row = hostile("long_street")
    assert len(row["street"]) == 200 and row["street"].startswith("Rue Xxx")
    assert "street:truncated" in row["quality_flags"]
    row = hostile("long_email")  # a cut address is not the one given: invalid, never a matching key
    assert len(row["email"]) == 254 and row["email_std"] is None
    assert {"email:truncated", "email:invalid"} <= set(row["quality_flags"])


def test_formula_prefixes_are_stripped_from_names_and_addresses_and_flagged(hostile):
    row = hostile("hyperlink_last_name")
    assert (row["last_name"], row["last_name_std"]) == ('HYPERLINK("HTTP://X","CLIC")', "hyperlink http x clic")
    assert "last_name:formula_prefix" in row["quality_flags"]
    row = hostile("sum_city")
    assert (row["city"], row["city_std"]) == ("SUM(A1)", "sum a1")
    assert "city:formula_prefix" in row["quality_flags"]
    row = hostile("minus_first_name")
    assert (row["first_name"], row["first_name_std"]) == ("1+1", "1 1")
    assert "first_name:formula_prefix" in row["quality_flags"]
    row = hostile("plus_street")
    assert (row["street"], row["house_number"]) == ("Cmd|' /c Calc'!a0", "12")
    assert {"street:formula_prefix", "house_number:formula_prefix"} <= set(row["quality_flags"])


def test_a_formula_left_once_a_civility_or_house_number_is_taken_off_is_stripped_too(hostile):
    row = hostile("formula_after_civility")
    # the guard runs on the display form, after proper case saw "=cmd"
    assert (row["civility"], row["first_name"], row["last_name"]) == ("M", "cmd", "ROBERT")
    assert {"first_name:formula_prefix", "last_name:formula_prefix"} <= set(row["quality_flags"])
    row = hostile("formula_after_house_number")
    assert (row["house_number"], row["street"], row["street_std"]) == ("12", "importxml(a1)", "importxml a1")
    assert "street:formula_prefix" in row["quality_flags"]


def test_an_email_starting_with_a_formula_character_is_invalid_and_flagged(hostile):
    row = hostile("formula_email")
    assert row["email_std"] is None
    assert {"email:formula_prefix", "email:invalid"} <= set(row["quality_flags"])


def test_identifiers_lose_control_characters_only(hostile):
    row = hostile("nul_in_loyalty_card")
    assert row["loyalty_card"] == "C001" and "loyalty_card:control_chars_removed" in row["quality_flags"]


def test_legitimate_french_values_are_untouched_and_unflagged(hostile):
    row = hostile("legit_names")
    assert (row["civility"], row["first_name"], row["last_name"]) == ("M", "Jean-Pierre", "D'ARTAGNAN")
    assert row["quality_flags"] == []
    row = hostile("legit_address")
    assert (row["house_number"], row["street"], row["city"], row["city_std"]) == (
        "12-14", "Rue X", "SAINT-ÉTIENNE", "saint etienne")
    assert row["quality_flags"] == []
    row = hostile("legit_email_tag")
    assert (row["email"], row["email_std"]) == ("jean.dupont+promo@gmail.com", "jeandupont@gmail.com")
    assert row["quality_flags"] == []
    row = hostile("legit_phone_plus")
    assert row["phone_mobile"] == "+33671234589" and row["quality_flags"] == []


# Characters a golden record must not carry: controls and invisible format characters (bidi included).
_INVISIBLE = re.compile(r"[\x00-\x1f\x7f-\x9f\u00ad\u200b-\u200f\u202a-\u202e\u2060-\u2069\ufeff]")
_FORMULA = re.compile(r"^[=+\-@\t\r]")


def test_fault_injection_delivery_reaches_gold_without_controls_bidi_or_formula_prefixes(spark):
    """Every hostile case above as one source's delivery, through silver and survivorship to gold.customer."""
    columns = {f: f for f in FIELDS}
    spec = SourceSpec(name="crm", path="crm/*.csv", format="csv", channel="offline", record_id="id",
                      identity=columns)
    rows = [(case, *[values.get(f) for f in columns], dt.datetime(2026, 11, 1), "crm/d.csv")
            for case, values in HOSTILE.items()]
    schema = "id string, " + ", ".join(f"{f} string" for f in columns) + ", _ingested_at timestamp, _source_file string"
    silver = customer_records(spark.createDataFrame(rows, schema), spec)
    rules = load_gold_config().survivorship
    # one customer per record: each hostile value has its own golden record to win
    gold = golden_records(survive(silver.withColumn("customer_id", F.col("record_key")), rules), rules,
                          dt.datetime(2026, 11, 2))
    text_columns = [f.name for f in gold.schema.fields if f.dataType.simpleString() == "string"]
    values = [(c, v) for row in gold.select(*text_columns).collect() for c, v in zip(text_columns, row) if v]
    assert len({r["record_key"] for r in silver.select("record_key").collect()}) == len(HOSTILE)
    assert [(c, v) for c, v in values if _INVISIBLE.search(v)] == []
    # phones are E.164 ("+33..."): the only text allowed to start with "+"
    assert [(c, v) for c, v in values if _FORMULA.match(v) and not c.startswith("phone_")] == []
    assert [(c, v) for c, v in values if c not in ("customer_id", "content_hash") and len(v) > 254] == []


def test_event_text_fields_lose_control_and_bidi_characters(spark):
    spec = SourceSpec(name="web", path="web/*.json", format="json", channel="online", record_id="cookie",
                      interactions=InteractionSpec(table="navigation_events", event_type="page_view",
                                                   fields={"event_time": "ts", "page": "url", "product": "item"}))
    bronze = spark.createDataFrame(
        [("K1", "2026-10-01T10:00:00", "/panier\u202e\x00", "Pull\u200b bleu", dt.datetime(2026, 11, 1), "web/a.json")],
        "cookie string, ts string, url string, item string, _ingested_at timestamp, _source_file string",
    )
    row = interactions(bronze, spec).select("page", "product").first()
    assert (row["page"], row["product"]) == ("/panier", "Pull bleu")
