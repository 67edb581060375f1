"""``rcu privacy erase --raw``: landing files rewritten without the erased person's rows, the others kept as delivered."""

from __future__ import annotations

import json

from spark_lib.config import SourceSpec
from spark_lib.privacy.identifiers import hashes_of
from spark_lib.privacy.raw_files import rewrite_raw_file
from spark_lib.sources.readers import file_fingerprint

KEY = "test-key"
LOYALTY = SourceSpec(name="loyalty_members", path="fidelite/adherents*.csv", format="csv", channel="offline",
                     record_id="num_carte", separator=";", encoding="cp1252",
                     identity={"loyalty_card": "num_carte", "last_name": "nom", "email": "email", "phone": "tel"})
ORDERS = SourceSpec(name="eshop_orders", path="eshop/commandes*.jsonl", format="json", channel="online",
                    record_id="order_id", identity={"account_id": "account_id", "phone": "shipping.phone"})
#: the erased person: their card (as a record of the loyalty source), their email and mobile
ERASED = hashes_of([("id", "loyalty_members:2900001004107"), ("email", "aurelien.hegneix@gmail.com"),
                    ("phone", "0600834027"), ("id", "A000123")], KEY)


def test_a_csv_loses_the_person_s_rows_even_malformed_and_keeps_the_others_as_delivered(tmp_path):
    path = tmp_path / "adherents_part-0001.csv"
    lines = [
        "num_carte;nom;email;tel",
        "2900001004107;HEGNEIX;aurelien.hegneix@gmail.com;0600834027",          # theirs, by card
        "2900001009999;HÉGNEIX;AURELIEN.HEGNEIX@GMAIL.COM;",                      # theirs, by email in capitals
        "2900001008888;HEGNEIX;06 00 83 40 27",                                   # malformed (a field short), theirs by phone
        "2900001007777;MARTIN;\"marie;martin@orange.fr\";0611223344",             # another person, quoted separator
        "2900001006666;DUPONT;jean.dupont@gmail.com;0145678901",
    ]
    path.write_bytes(("\r\n".join(lines) + "\r\n").encode("cp1252"))
    logged = []
    done = rewrite_raw_file(path, LOYALTY, ERASED, KEY, before_replace=lambda h, kept: logged.append((h, kept)))
    assert (done.rows_removed, done.rows_kept) == (3, 2)
    kept = path.read_bytes().decode("cp1252").split("\r\n")
    assert kept == [lines[0], lines[4], lines[5], ""]
    assert logged == [(file_fingerprint(str(path)), 2)] and done.new_hash == logged[0][0]
    again = rewrite_raw_file(path, LOYALTY, ERASED, KEY)
    assert again.new_hash is None and again.rows_removed == 0 and path.read_bytes().decode("cp1252").split("\r\n") == kept


def test_json_lines_lose_the_person_s_orders_byte_for_byte_the_others_stay(tmp_path):
    path = tmp_path / "commandes_part-0001.jsonl"
    theirs = {"order_id": "CMD1", "account_id": "A000123", "shipping": {"phone": "+33 6 00 83 40 27"}}
    other = {"order_id": "CMD2", "account_id": "A000456", "shipping": {"phone": "0611223344"}, "note": "é"}
    by_phone = {"order_id": "CMD3", "account_id": "A000789", "shipping": {"phone": "06.00.83.40.27"}}
    text = "\n".join([json.dumps(theirs), json.dumps(other, ensure_ascii=False), "{not json", json.dumps(by_phone)]) + "\n"
    path.write_text(text, encoding="utf-8")
    done = rewrite_raw_file(path, ORDERS, ERASED, KEY)
    assert (done.rows_removed, done.rows_kept) == (2, 2)
    assert path.read_text(encoding="utf-8") == json.dumps(other, ensure_ascii=False) + "\n{not json\n"


def test_a_format_it_cannot_rewrite_is_left_as_it_is_and_said_so(tmp_path):
    path = tmp_path / "export.xlsx"
    path.write_bytes(b"PK\x03\x04 not really a workbook")
    spec = SourceSpec(name="store", path="*.xlsx", format="xlsx", channel="offline", record_id="id")
    done = rewrite_raw_file(path, spec, ERASED, KEY)
    assert done.new_hash is None and "not rewritten" in done.left_because
    assert path.read_bytes() == b"PK\x03\x04 not really a workbook"
