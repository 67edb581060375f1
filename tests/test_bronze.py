"""Bronze ingestion: rows land as delivered, malformed ones are quarantined with a reason, re-runs add nothing."""

from __future__ import annotations

import argparse
import json
import shutil
from pathlib import Path

import pandas as pd
import pytest
from pyspark.sql import functions as F

from jobs import ingest
from jobs.common import build_context

LOYALTY_CSV = (
    "num_carte;civilite;nom;prenom;date naiss;ville\n"
    "C001;Mme;Hélène;LEFÈVRE;19800131;Saint-Étienne\n"
    "C002;M.;Noël;DUPONT;19751225;Paris\n"
    "C003;M.;Jérôme;MARTIN\n"                       # one field short
    ";Mme;Zoé;PETIT;19900101;Lyon\n"                 # no record id
    "C005;Mlle;Maëlle;GARÇON;20000229;Nîmes;extra\n"  # one field too many
)

ORDERS_JSONL = "\n".join(
    [
        json.dumps({"order_id": "O1", "account_id": "A1", "created_at": "2026-10-01T10:00:00",
                    "status": "completed", "shipping": {"last_name": "Dupont", "postcode": "75011"}}),
        "{\"order_id\": \"O2\", \"account_id\": ",   # truncated line
        json.dumps({"order_id": "O3", "account_id": "A2", "created_at": "2026-10-02T11:00:00",
                    "status": "cart", "shipping": {"last_name": "Martin", "postcode": "69003"}}),
    ]
) + "\n"

SOURCES_YAML = """
sources:
  loyalty:
    path: fid/*.csv
    format: csv
    separator: ";"
    encoding: cp1252
    channel: offline
    record_id: num_carte
    identity:
      loyalty_card: num_carte
      first_name: prenom
      last_name: nom
      birth_date: date naiss
      city: ville
  orders:
    path: web/*.jsonl
    format: json
    channel: online
    record_id: order_id
    identity:
      account_id: account_id
      last_name: shipping.last_name
      postcode: shipping.postcode
    interactions:
      table: orders
      fields: {event_id: order_id, event_time: created_at, event_type: status}
  receipts:
    path: pos/*.parquet
    format: parquet
    channel: offline
    record_id: ticket_id
    identity: {loyalty_card: card}
"""


@pytest.fixture()
def delivery(tmp_path) -> argparse.Namespace:
    raw = tmp_path / "raw"
    (raw / "fid").mkdir(parents=True)
    (raw / "web").mkdir()
    (raw / "pos").mkdir()
    (raw / "fid" / "adherents.csv").write_bytes(LOYALTY_CSV.encode("cp1252"))
    (raw / "web" / "orders.jsonl").write_text(ORDERS_JSONL, encoding="utf-8")
    pd.DataFrame({"ticket_id": ["T1", None, "T3"], "card": ["C001", "C002", None], "amount": [12.5, 3.0, 8.0]}).to_parquet(
        raw / "pos" / "tickets.parquet"
    )
    sources = tmp_path / "sources.yaml"
    sources.write_text(SOURCES_YAML, encoding="utf-8")
    return argparse.Namespace(
        conf_dir=None, lakehouse=str(tmp_path / "lake"), raw_dir=str(raw), sources=str(sources), truth_dir=None
    )


def _quiet():
    return ingest.Progress("ingest", quiet=True)


def test_rows_read_equal_bronze_plus_quarantine_with_reasons(spark, delivery):
    ctx = build_context(delivery, "test", spark=spark)
    reports = {r.source: r for r in ingest.run(ctx, progress=_quiet())}

    data_lines = len(LOYALTY_CSV.splitlines()) - 1
    assert reports["loyalty"].rows_read == data_lines == 5
    assert (reports["loyalty"].rows_bronze, reports["loyalty"].rows_quarantined) == (2, 3)
    assert (reports["orders"].rows_bronze, reports["orders"].rows_quarantined) == (2, 1)
    assert (reports["receipts"].rows_bronze, reports["receipts"].rows_quarantined) == (2, 1)
    for name in ("loyalty", "orders", "receipts"):
        assert ctx.lake.read(f"bronze.{name}").count() == reports[name].rows_bronze

    quarantine = {
        (r.source, r.reason) for r in ctx.lake.read("bronze.quarantine").select("source", "reason").collect()
    }
    assert quarantine == {
        ("loyalty", "malformed csv row: 4 fields where the header has 6, or an unbalanced quote"),
        ("loyalty", "malformed csv row: 7 fields where the header has 6, or an unbalanced quote"),
        ("loyalty", "missing record id (column 'num_carte')"),
        ("orders", "invalid json line"),
        ("receipts", "missing record id (column 'ticket_id')"),
    }
    raw_lines = {r.raw_record for r in ctx.lake.read("bronze.quarantine").where("source = 'loyalty'").collect()}
    assert "C003;M.;Jérôme;MARTIN" in raw_lines


def test_bronze_keeps_values_as_delivered_with_ingestion_metadata(spark, delivery):
    ctx = build_context(delivery, "test", spark=spark)
    ingest.run(ctx, only=["loyalty"], progress=_quiet())
    bronze = ctx.lake.read("bronze.loyalty")
    # cp1252 accents decoded, the header "date naiss" made Delta-safe, values untouched strings.
    row = bronze.where("num_carte = 'C001'").first()
    assert (row["nom"], row["prenom"], row["date_naiss"], row["ville"]) == ("Hélène", "LEFÈVRE", "19800131", "Saint-Étienne")
    assert row["_source"] == "loyalty"
    assert row["_source_file"].endswith("fid/adherents.csv")
    assert len(row["_file_hash"]) == 64 and row["_batch_id"] and row["_ingested_at"] is not None


def test_ingesting_the_same_file_twice_adds_nothing(spark, delivery, tmp_path):
    ctx = build_context(delivery, "test", spark=spark)
    ingest.run(ctx, progress=_quiet())
    before = {t: ctx.lake.read(t).count() for t in ("bronze.loyalty", "bronze.orders", "bronze.quarantine")}

    # The same delivery again, and a copy of one file under another name: nothing new.
    shutil.copy(Path(delivery.raw_dir) / "fid" / "adherents.csv", Path(delivery.raw_dir) / "fid" / "adherents_copie.csv")
    second = {r.source: r for r in ingest.run(ctx, progress=_quiet())}
    assert all(r.files_ingested == 0 for r in second.values())
    after = {t: ctx.lake.read(t).count() for t in before}
    assert after == before

    # A genuinely new file is appended.
    (Path(delivery.raw_dir) / "fid" / "adherents_2.csv").write_bytes(
        "num_carte;civilite;nom;prenom;date naiss;ville\nC009;M.;Luc;BLANC;19600101;Brest\n".encode("cp1252")
    )
    third = {r.source: r for r in ingest.run(ctx, only=["loyalty"], progress=_quiet())}
    assert third["loyalty"].files_ingested == 1
    assert ctx.lake.read("bronze.loyalty").count() == before["bronze.loyalty"] + 1


def test_missing_mapped_column_is_an_error_naming_key_and_file(spark, delivery):
    sources = Path(delivery.sources)
    sources.write_text(sources.read_text().replace("first_name: prenom", "first_name: prénom_client"))
    ctx = build_context(delivery, "test", spark=spark)
    with pytest.raises(Exception) as error:
        ingest.run(ctx, only=["loyalty"], progress=_quiet())
    message = str(error.value)
    assert "sources.loyalty.identity.first_name" in message
    assert "prénom_client" in message and "adherents.csv" in message
