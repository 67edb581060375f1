"""Bronze ingestion: rows land as delivered, malformed ones are quarantined with a reason, re-runs add nothing."""

from __future__ import annotations

import argparse
import shutil
from pathlib import Path

import pytest

from jobs import ingest
from jobs.common import build_context
from spark_lib import tables
from spark_lib.config import SourceSpec
from spark_lib.sources.files import inspect_file
from deltalake import DeltaTable

from tests.deliveries import (
    BAD_FILES,
    GARBAGE_LINE,
    GOOD_IDS,
    LONG_COMMENT,
    LOYALTY_CSV,
    fix_bad_separator,
    write_delivery,
    write_mixed_delivery,
)

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


def test_a_column_no_file_has_is_a_mapping_error_naming_key_and_file_and_other_sources_still_land(spark, delivery):
    sources = Path(delivery.sources)
    sources.write_text(sources.read_text().replace("first_name: prenom", "first_name: prénom_client"))
    ctx = build_context(delivery, "test", spark=spark)
    with pytest.raises(ingest.IngestError) as error:
        ingest.run(ctx, progress=_quiet())
    message = str(error.value)
    assert "sources.loyalty.identity.first_name" in message
    assert "prénom_client" in message and "adherents.csv" in message
    # the misspelt mapping is not the files' fault: nothing of loyalty is logged, so fixing it lands them
    assert not ctx.lake.exists(tables.bronze("loyalty"))
    assert {r.source for r in ctx.lake.read(tables.INGESTION_LOG).collect()} == {"orders", "receipts"}
    assert {r.source for r in ctx.lake.read(tables.QUARANTINE).collect()} == {"orders", "receipts"}


# A day's delivery mixing good and bad files -----------------------------------------------------------------

RECORD_ID = {"loyalty": "num_carte", "orders": "order_id", "receipts": "ticket_id"}


@pytest.fixture()
def mixed(tmp_path) -> argparse.Namespace:
    return write_mixed_delivery(tmp_path)


def _relative(path: str, raw_dir: str) -> str:
    return str(Path(path).relative_to(Path(raw_dir).resolve()))


def _log(ctx):
    return ctx.lake.read(tables.INGESTION_LOG)


def test_a_mixed_delivery_lands_every_good_file_and_quarantines_each_bad_file_with_its_reason(spark, mixed, capsys):
    argv = ["--lakehouse", mixed.lakehouse, "--raw-dir", mixed.raw_dir, "--sources", mixed.sources]
    assert ingest.main(argv) == ingest.EXIT_FILES_QUARANTINED
    ctx = build_context(mixed, "test", spark=spark)

    # every good row of every good file landed, once
    for source, ids in GOOD_IDS.items():
        landed = [r[0] for r in ctx.lake.read(tables.bronze(source)).select(RECORD_ID[source]).collect()]
        assert sorted(landed) == sorted(ids), source

    # each bad file quarantined as a file, with its reason and what to do; the summary lists them
    files = ctx.lake.read(tables.FILE_QUARANTINE).collect()
    assert {_relative(f.file_path, mixed.raw_dir): f.reason for f in files} == BAD_FILES
    assert all(f.detail and f.action and f.file_size >= 0 and len(f.file_hash) == 64 for f in files)
    wrong_separator = next(f for f in files if f.reason == "wrong separator")
    assert "','" in wrong_separator.detail and "';'" in wrong_separator.detail
    assert "amount: string -> double" in next(f for f in files if f.reason == "retyped column").detail
    printed = capsys.readouterr()
    summary = printed.err[printed.err.index(f"{len(BAD_FILES)} file(s) quarantined"):]
    assert all(name in summary for name in BAD_FILES)
    assert f"WARNING: done, {len(BAD_FILES)} file(s) quarantined" in summary

    # the log reconciles every file of the delivery: rows read = bronze + quarantine, per file
    log = {_relative(r.file_path, mixed.raw_dir): r for r in _log(ctx).collect()}
    delivered = {str(p.relative_to(mixed.raw_dir)) for p in Path(mixed.raw_dir).rglob("*") if p.is_file()}
    assert set(log) == delivered
    bronze_rows = {}
    for source in GOOD_IDS:
        for r in ctx.lake.read(tables.bronze(source)).groupBy("_file_hash").count().collect():
            bronze_rows[r["_file_hash"]] = r["count"]
    quarantined_rows = {r["file_hash"]: r["count"] for r in ctx.lake.read(tables.QUARANTINE).groupBy("file_hash").count().collect()}
    for name, row in log.items():
        assert row.status == ("file_quarantined" if name in BAD_FILES else "landed"), name
        assert row.rows_read == row.rows_bronze + row.rows_quarantined, name
        # a duplicate shares its hash with the first copy: only that copy's rows carry it
        expected = (0, 0) if name in BAD_FILES else (bronze_rows.get(row.file_hash, 0), quarantined_rows.get(row.file_hash, 0))
        assert (row.rows_bronze, row.rows_quarantined) == expected, name
    assert (log["fid/guillemets.csv"].rows_bronze, log["fid/guillemets.csv"].rows_quarantined) == (2, 1)
    assert (log["web/orders_bruit.jsonl"].rows_read, log["web/orders_bruit.jsonl"].rows_quarantined) == (3, 1)


@pytest.mark.parametrize("content, reason", [
    ("num_carte;nom\nC1;Hélène\n".encode("utf-8"), "wrong encoding"),      # would land as "HÃ©lÃ¨ne"
    ("num_carte;nom\nC1;Hélène\n".encode("cp1252"), None),
    (b"\r\n\r\n", "empty"),
    ("num_carte\tnom\nC1\tHélène\n".encode("cp1252"), "wrong separator"),
])
def test_file_checks_read_only_a_few_bytes_and_name_the_problem(tmp_path, content, reason):
    spec = SourceSpec(name="loyalty", path="*.csv", format="csv", channel="offline", record_id="num_carte",
                      separator=";", encoding="cp1252")
    path = tmp_path / "export.csv"
    path.write_bytes(content)
    problem = inspect_file(spec, str(path))
    assert (problem.reason if problem else None) == reason


def test_standard_csv_quoting_is_read_as_written(spark, mixed):
    ctx = build_context(mixed, "test", spark=spark)
    ingest.run(ctx, only=["loyalty"], progress=_quiet())
    rows = {r.num_carte: r for r in ctx.lake.read(tables.bronze("loyalty")).collect()}
    assert rows["C010"].nom == 'LE "GRAND" DUPONT'
    assert rows["C010"].prenom == "Jean;Marc" and rows["C010"].ville == "Saint-Malo\nIntra-muros"
    assert (rows["C011"].nom, rows["C011"].ville) == ("D'ARC", "Domrémy")
    reasons = [r.reason for r in ctx.lake.read(tables.QUARANTINE).where("source_file LIKE '%guillemets.csv'").collect()]
    assert reasons == ["missing record id (column 'num_carte')"]


def test_a_line_of_garbage_is_one_quarantined_row_kept_byte_for_byte_and_a_long_line_lands(spark, mixed):
    ctx = build_context(mixed, "test", spark=spark)
    ingest.run(ctx, only=["orders"], progress=_quiet())
    garbage = ctx.lake.read(tables.QUARANTINE).where("source_file LIKE '%orders_bruit.jsonl'").collect()
    assert len(garbage) == 1
    assert garbage[0].raw_bytes == GARBAGE_LINE
    assert garbage[0].reason == "line is not utf-8 text (binary data or another encoding)"
    assert "not json" in garbage[0].raw_record
    long_line = ctx.lake.read(tables.bronze("orders")).where("order_id = 'O11'").first()
    assert long_line.comment == LONG_COMMENT


def test_every_bronze_table_and_both_quarantines_read_with_delta_rs(spark, mixed):
    ctx = build_context(mixed, "test", spark=spark)
    ingest.run(ctx, progress=_quiet())
    for table in (*(tables.bronze(s) for s in GOOD_IDS), tables.QUARANTINE, tables.FILE_QUARANTINE, tables.INGESTION_LOG):
        read = DeltaTable(ctx.lake.path(table)).to_pyarrow_table()
        assert read.num_rows == ctx.lake.read(table).count(), table
    quarantine = DeltaTable(ctx.lake.path(tables.QUARANTINE)).to_pyarrow_table().to_pylist()
    assert GARBAGE_LINE in {r["raw_bytes"] for r in quarantine}


def test_a_rerun_changes_nothing_and_a_fixed_redelivery_lands(spark, mixed):
    ctx = build_context(mixed, "test", spark=spark)
    ingest.run(ctx, progress=_quiet())
    watched = (*(tables.bronze(s) for s in GOOD_IDS), tables.QUARANTINE, tables.FILE_QUARANTINE, tables.INGESTION_LOG)
    before = {t: ctx.lake.read(t).count() for t in watched}

    again = ingest.run(ctx, progress=_quiet())
    assert all((r.files_ingested, r.files_quarantined) == (0, 0) for r in again)   # header-only file included
    assert ingest.exit_status(again) == 0
    assert {t: ctx.lake.read(t).count() for t in watched} == before

    assert ctx.lake.read(tables.FILE_QUARANTINE).where("resolved_at IS NOT NULL").count() == 0
    fix_bad_separator(mixed)
    fixed = {r.source: r for r in ingest.run(ctx, progress=_quiet())}
    assert (fixed["loyalty"].files_ingested, fixed["loyalty"].rows_bronze) == (1, 1)
    assert ctx.lake.read(tables.bronze("loyalty")).where("num_carte = 'C020'").count() == 1
    resolved = ctx.lake.read(tables.FILE_QUARANTINE).where("resolved_at IS NOT NULL").collect()
    assert [(Path(r.file_path).name, r.reason, Path(r.resolved_by).name) for r in resolved] == [
        ("virgules.csv", "wrong separator", "virgules.csv")]


def test_an_old_file_re_sent_under_a_new_name_is_a_duplicate_and_a_moved_raw_folder_is_not(spark, mixed, tmp_path):
    ctx = build_context(mixed, "test", spark=spark)
    ingest.run(ctx, only=["loyalty"], progress=_quiet())
    loyalty_rows = ctx.lake.read(tables.bronze("loyalty")).count()
    fid = Path(mixed.raw_dir) / "fid"
    shutil.copy(fid / "adherents.csv", fid / "adherents_2026-12-06.csv")   # yesterday's export sent again
    shutil.copy(fid / "vide.csv", fid / "vide_2026-12-06.csv")             # a second empty file: the same hash

    reports = ingest.run(ctx, only=["loyalty"], progress=_quiet())
    assert (reports[0].files_ingested, reports[0].files_quarantined) == (0, 2)
    assert ctx.lake.read(tables.bronze("loyalty")).count() == loyalty_rows
    files = {Path(r.file_path).name: r for r in ctx.lake.read(tables.FILE_QUARANTINE).collect()}
    resent = files["adherents_2026-12-06.csv"]
    assert resent.reason == "duplicate file" and str(fid / "adherents.csv") in resent.detail
    assert "already landed" in resent.detail and "new export" in resent.action
    assert (files["vide.csv"].reason, files["vide_2026-12-06.csv"].reason) == ("empty", "empty")

    moved = argparse.Namespace(**{**vars(mixed), "raw_dir": str(tmp_path / "elsewhere")})
    shutil.copytree(mixed.raw_dir, moved.raw_dir)
    again = ingest.run(build_context(moved, "test", spark=spark), only=["loyalty"], progress=_quiet())
    assert (again[0].files_ingested, again[0].files_quarantined) == (0, 0)


def test_a_misspelt_mapping_fails_at_ingest_even_when_no_file_is_new(spark, delivery):
    ctx = build_context(delivery, "test", spark=spark)
    ingest.run(ctx, only=["loyalty"], progress=_quiet())
    sources = Path(delivery.sources)
    sources.write_text(sources.read_text().replace("city: ville", "city: vile"))
    ctx = build_context(delivery, "test", spark=spark)
    with pytest.raises(ingest.IngestError, match=r"sources\.loyalty\.identity\.city: column 'vile' not found in bronze\.loyalty"):
        ingest.run(ctx, only=["loyalty"], progress=_quiet())
