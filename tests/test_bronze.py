"""Bronze ingestion: rows land as delivered, malformed ones are quarantined with a reason, re-runs add nothing."""

from __future__ import annotations

import argparse
import shutil
from pathlib import Path

import pytest
from pyspark.sql import functions as F

from jobs import ingest
from jobs.common import build_context
from spark_lib import tables
from tests.deliveries import LOYALTY_CSV, write_delivery

@pytest.fixture()
def delivery(tmp_path) -> argparse.Namespace:
    return write_delivery(tmp_path)


def _quiet():
    return ingest.Progress("ingest", quiet=True)


def test_rows_read_equal_bronze_plus_quarantine_with_reasons(spark, delivery):
    ctx = build_context(delivery, "test", spark=spark)
    reports = {r.source: r for r in ingest.run(ctx, progress=_quiet())}

    data_lines = len(LOYALTY_CSV.splitlines()) - 1
    assert reports["loyalty"].rows_read == data_lines == 6
    assert (reports["loyalty"].rows_bronze, reports["loyalty"].rows_quarantined) == (3, 3)
    assert (reports["orders"].rows_bronze, reports["orders"].rows_quarantined) == (2, 1)
    assert (reports["receipts"].rows_bronze, reports["receipts"].rows_quarantined) == (2, 1)
    for name in ("loyalty", "orders", "receipts"):
        assert ctx.lake.read(tables.bronze(name)).count() == reports[name].rows_bronze

    quarantine = {
        (r.source, r.reason) for r in ctx.lake.read(tables.QUARANTINE).select("source", "reason").collect()
    }
    assert quarantine == {
        ("loyalty", "malformed csv row: 4 fields where the header has 6, or an unbalanced quote"),
        ("loyalty", "malformed csv row: 7 fields where the header has 6, or an unbalanced quote"),
        ("loyalty", "missing record id (column 'num_carte')"),
        ("orders", "invalid json line"),
        ("receipts", "missing record id (column 'ticket_id')"),
    }
    raw_lines = {r.raw_record for r in ctx.lake.read(tables.QUARANTINE).where("source = 'loyalty'").collect()}
    assert "C003;M.;MARTIN;Jérôme" in raw_lines


def test_bronze_keeps_values_as_delivered_with_ingestion_metadata(spark, delivery):
    ctx = build_context(delivery, "test", spark=spark)
    ingest.run(ctx, only=["loyalty"], progress=_quiet())
    bronze = ctx.lake.read(tables.bronze("loyalty"))
    # cp1252 accents decoded, the header "date naiss" made Delta-safe, values untouched strings.
    row = bronze.where("num_carte = 'C001'").first()
    assert (row["nom"], row["prenom"], row["date_naiss"], row["ville"]) == ("LEFÈVRE", "Hélène", "19800131", "Saint-Étienne")
    assert row["_source"] == "loyalty"
    assert row["_source_file"].endswith("fid/adherents.csv")
    assert len(row["_file_hash"]) == 64 and row["_batch_id"] and row["_ingested_at"] is not None


def test_ingesting_the_same_file_twice_adds_nothing(spark, delivery, tmp_path):
    ctx = build_context(delivery, "test", spark=spark)
    ingest.run(ctx, progress=_quiet())
    before = {t: ctx.lake.read(t).count() for t in (tables.bronze("loyalty"), tables.bronze("orders"), tables.QUARANTINE)}

    # The same delivery again, and a copy of one file under another name: nothing new.
    shutil.copy(Path(delivery.raw_dir) / "fid" / "adherents.csv", Path(delivery.raw_dir) / "fid" / "adherents_copie.csv")
    second = {r.source: r for r in ingest.run(ctx, progress=_quiet())}
    assert all(r.files_ingested == 0 for r in second.values())
    after = {t: ctx.lake.read(t).count() for t in before}
    assert after == before

    # A genuinely new file is appended.
    (Path(delivery.raw_dir) / "fid" / "adherents_2.csv").write_bytes(
        "num_carte;civilite;nom;prenom;date naiss;ville\nC009;M.;BLANC;Luc;19600101;Brest\n".encode("cp1252")
    )
    third = {r.source: r for r in ingest.run(ctx, only=["loyalty"], progress=_quiet())}
    assert third["loyalty"].files_ingested == 1
    assert ctx.lake.read(tables.bronze("loyalty")).count() == before[tables.bronze("loyalty")] + 1


def test_missing_mapped_column_is_an_error_naming_key_and_file(spark, delivery):
    sources = Path(delivery.sources)
    sources.write_text(sources.read_text().replace("first_name: prenom", "first_name: prénom_client"))
    ctx = build_context(delivery, "test", spark=spark)
    with pytest.raises(Exception) as error:
        ingest.run(ctx, only=["loyalty"], progress=_quiet())
    message = str(error.value)
    assert "sources.loyalty.identity.first_name" in message
    assert "prénom_client" in message and "adherents.csv" in message
