"""Privacy requests and identifier hashes: what a request names, and that every form of a value hashes alike."""

from __future__ import annotations

import pytest
from pyspark.sql import functions as F

from spark_lib.privacy.identifiers import candidate_hashes, hash_column, identifier_hash, lakehouse_key
from spark_lib.privacy.requests import RequestError, make_request, read_request_file, resolve_requests

KEY = "test-key"


def test_an_email_or_phone_hashes_alike_in_every_form_it_is_written_and_apart_from_others():
    email = identifier_hash("email", "jean.dupont@gmail.com", KEY)
    assert identifier_hash("email", "  Jean.Dupont@GMAIL.com ", KEY) == email
    assert identifier_hash("email", "jean.dupond@gmail.com", KEY) != email
    phone = identifier_hash("phone", "06 12 34 56 78", KEY)
    assert {identifier_hash("phone", p, KEY) for p in ("+33 6 12 34 56 78", "0033612345678", "06.12.34.56.78")} == {phone}
    assert identifier_hash("phone", "06 12 34 56 79", KEY) != phone
    assert identifier_hash("phone", "12 34", KEY) is None          # too short to be a phone
    assert identifier_hash("email", "jean.dupont@gmail.com", "another-key") != email


def test_the_hashes_of_spark_and_python_agree(spark):
    rows = spark.createDataFrame([(" Jean.Dupont@Gmail.com", "+33 6 12 34 56 78", "eshop_accounts:A0001")],
                                 "email string, phone string, record_key string")
    got = rows.select(hash_column("email", F.col("email"), KEY).alias("e"), hash_column("phone", F.col("phone"), KEY).alias("p"),
                      hash_column("id", F.col("record_key"), KEY).alias("r")).first()
    assert got.e == identifier_hash("email", "jean.dupont@gmail.com", KEY)
    assert got.p == identifier_hash("phone", "0612345678", KEY)
    assert got.r == identifier_hash("id", "eshop_accounts:A0001", KEY)


def test_a_raw_line_or_a_log_string_yields_the_hashes_of_the_identifiers_inside_it():
    line = '{"id_compte": "A0001", "email": "Jean.Dupont@Gmail.com", "tel": "06 12 34 56 78", "ville": "Lyon"}'
    found = candidate_hashes(line, KEY)
    for kind, value in (("email", "jean.dupont@gmail.com"), ("phone", "0612345678"), ("id", "A0001")):
        assert identifier_hash(kind, value, KEY) in found
    assert identifier_hash("email", "marie.martin@gmail.com", KEY) not in found


def test_the_lakehouse_key_is_created_once_private_to_its_owner_and_reused(tmp_path, monkeypatch):
    monkeypatch.delenv("RCU_PRIVACY_KEY", raising=False)
    first = lakehouse_key(tmp_path)
    assert lakehouse_key(tmp_path) == first and len(first) == 64
    assert (tmp_path / "ops" / "_privacy_key").stat().st_mode & 0o077 == 0
    monkeypatch.setenv("RCU_PRIVACY_KEY", "from-the-secret-store")
    assert lakehouse_key(tmp_path) == "from-the-secret-store"


def test_a_request_naming_nobody_or_with_a_malformed_value_is_refused():
    with pytest.raises(RequestError, match="names nobody"):
        make_request()
    with pytest.raises(RequestError, match="not an address"):
        make_request(email="jean.dupont@")
    with pytest.raises(RequestError, match="fewer than 9 digits"):
        make_request(phone="06 12")
    assert make_request(email=" jean@x.fr ").email == "jean@x.fr"


def test_a_request_file_keeps_its_valid_lines_and_reports_the_others_by_line(tmp_path):
    path = tmp_path / "requests.csv"
    path.write_text("request_id;email;phone;customer_id\n"
                    "R1;jean.dupont@gmail.com;;\n"
                    "R2;;;\n"
                    "R3;pas-un-email;;\n"
                    "R4;;06 12 34 56 78;\n"
                    "R1;marie@x.fr;;\n"
                    "R5;;;C0123456789\n", encoding="utf-8")
    requests, problems = read_request_file(path)
    assert [r.request_id for r in requests] == ["R1", "R4", "R5"]
    assert [p.split(":")[0] for p in problems] == ["line 3", "line 4", "line 6"]
    assert "names nobody" in problems[0] and "not an address" in problems[1] and "already used" in problems[2]
    (tmp_path / "bad.csv").write_text("nom;prenom\nDupont;Jean\n", encoding="utf-8")
    with pytest.raises(RequestError, match="at least one of email, phone, customer_id"):
        read_request_file(tmp_path / "bad.csv")


def test_a_request_finds_the_customers_holding_its_identifier_in_any_form(spark):
    records = spark.createDataFrame([
        ("s:1", "s", "1", "jean.dupont@gmail.com", "jeandupont@gmail.com", "+33612345678", None),
        ("s:2", "s", "2", None, None, None, "+33145678901"),      # a landline the household shares
        ("s:3", "s", "3", "marie.dupont@gmail.com", "mariedupont@gmail.com", None, "+33145678901"),
    ], "record_key string, source string, source_record_id string, email string, email_std string, "
       "phone_mobile string, phone_landline string")
    crosswalk = spark.createDataFrame([("s:1", "C1"), ("s:2", "C1"), ("s:3", "C2")], "record_key string, customer_id string")
    requests = [make_request(email="Jean.Dupont@Gmail.com", request_id="by-email"),
                make_request(phone="06 12 34 56 78", request_id="by-mobile"),
                make_request(phone="01 45 67 89 01", request_id="by-landline"),
                make_request(customer_id="C2xxxx", request_id="nobody"),
                make_request(email="inconnu@nulle-part.fr", request_id="unknown")]
    found = resolve_requests(records, crosswalk, requests, KEY)
    assert found == {"by-email": ["C1"], "by-mobile": ["C1"], "by-landline": ["C1", "C2"], "nobody": [], "unknown": []}


def test_the_stream_s_messages_and_late_events_of_an_erased_person_are_theirs(spark):
    """Erasure reaches the stream's tables: a message is the person's by its record (source and record id in its
    JSON) or by its key, a late event by its record key, a trigger fired by its customer id."""
    from spark_lib import tables
    from spark_lib.privacy.footprint import Footprint, held_rows

    key = "k" * 64
    footprint = Footprint(customers=frozenset({identifier_hash("id", "C0000000000000000001", key)}),
                          records=frozenset({identifier_hash("id", "web_events:cookie-theirs", key)}),
                          identifiers=frozenset({identifier_hash("id", "ACC-77777", key)}))
    messages = spark.createDataFrame([
        ("cookie-theirs", '{"source": "web_events", "record_id": "cookie-theirs", "event_id": "e1"}'),
        ("ACC-77777", '{"source": "eshop_orders", "record_id": "O-1", "event_id": "e2"}'),
        ("cookie-other", '{"source": "web_events", "record_id": "cookie-other", "event_id": "e3"}'),
        (None, "{not json"),
    ], "key string, value string")
    held = messages.where(held_rows(messages, str(tables.STREAM_EVENTS), footprint, key))
    assert sorted(r.key for r in held.collect()) == ["ACC-77777", "cookie-theirs"]
    late = spark.createDataFrame([("web_events:cookie-theirs",), ("web_events:cookie-other",)], "record_key string")
    assert [r.record_key for r in late.where(held_rows(late, str(tables.LATE_EVENTS), footprint, key)).collect()] == [
        "web_events:cookie-theirs"]
    fired = spark.createDataFrame([("C0000000000000000001",), ("C0000000000000000002",)], "customer_id string")
    assert fired.where(held_rows(fired, str(tables.TRIGGER_EVENTS), footprint, key)).count() == 1


def test_the_access_export_lists_the_stream_s_messages_of_the_person_s_records(tmp_path):
    import pyarrow as pa
    from deltalake import write_deltalake

    from spark_lib.privacy.access import LakeReader, _stream_events

    lake = LakeReader(tmp_path)
    write_deltalake(str(lake.path("bronze.stream_events")), pa.table({
        "topic": ["rcu.navigation", "rcu.navigation", "rcu.orders"], "partition": [0, 1, 2], "offset": [7, 8, 9],
        "key": ["cookie-theirs", "cookie-other", "ACC-77777"], "value": ["{}", "{}", "{}"]}))
    write_deltalake(str(lake.path("silver.late_events")), pa.table({
        "event_id": ["e1", "e2"], "record_key": ["web_events:cookie-theirs", "web_events:cookie-other"]}))
    found = _stream_events(lake, ["web_events:cookie-theirs", "eshop_accounts:ACC-77777"])
    assert sorted((r["table"], r.get("key") or r["record_key"]) for r in found) == [
        ("bronze.stream_events", "ACC-77777"), ("bronze.stream_events", "cookie-theirs"),
        ("silver.late_events", "web_events:cookie-theirs")]
