"""The verify scan finds a person's identifiers, known only as keyed hashes, in every kind of stored file, and
nothing of another person's; unreadable files are reported, the privacy key file is never read. No Spark."""

from __future__ import annotations

import bz2
import gzip
import json
import lzma
import os
import sqlite3
import zipfile
from pathlib import Path

import pyarrow as pa
import pyarrow.parquet as pq
import pytest
from deltalake import DeltaTable, write_deltalake

from spark_lib.privacy import scan as scan_module
from spark_lib.privacy.identifiers import KEY_FILE, identifier_hash
from spark_lib.privacy.scan import Hit, ScanReport, scan

KEY = "test-key"
# the person whose erasure is verified, and another person stored in the same files
JEAN = {"email": "Jean.Dupont@Gmail.com", "phone": "06 12 34 56 78", "id": "CUST-40001"}
MARIE = {"email": "marie.curie@example.fr", "phone": "07 98 76 54 32", "id": "CUST-40002"}
HASHES = {identifier_hash(kind, value, KEY): kind for kind, value in JEAN.items()}


def hits_in(report: ScanReport, file: str) -> set[tuple[str, str]]:
    return {(hit.location, hit.kind) for hit in report.hits if hit.file == file}


def write_text(path: Path, text: str) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(text, encoding="utf-8")
    return path


@pytest.fixture()
def stores(tmp_path) -> Path:
    """A work folder with a lakehouse, an MLflow database, a reports folder and raw files, each holding Jean's
    and Marie's identifiers in its own way."""
    lakehouse = tmp_path / "lakehouse"
    records = lakehouse / "silver" / "customer_records"
    records.mkdir(parents=True)
    shipping = pa.array([{"email": JEAN["email"], "phone": JEAN["phone"]},
                         {"email": MARIE["email"], "phone": MARIE["phone"]}],
                        pa.struct([("email", pa.string()), ("phone", pa.string())]))
    attributes = pa.array([[("mail", JEAN["email"])], [("mail", MARIE["email"])]], pa.map_(pa.string(), pa.string()))
    pq.write_table(pa.table({"record_key": ["crm:A0001", "crm:A0002"], "shipping": shipping,
                             "aliases": [["x1"], [MARIE["id"]]], "attributes": attributes,
                             "phone_number": [612345678, 798765432], "amount": [12, 13]}),
                   records / "part-0000.parquet")
    stats = {"numRecords": 2, "minValues": {"email": JEAN["email"].lower(), "phone": "0612345678"},
             "maxValues": {"email": MARIE["email"]}}
    write_text(records / "_delta_log" / "00000000000000000001.json",
               json.dumps({"commitInfo": {"operation": "MERGE"}}) + "\n"
               + json.dumps({"add": {"path": "part-0000.parquet", "stats": json.dumps(stats)}}) + "\n")
    write_deltalake(lakehouse / "gold" / "customer",
                    pa.table({"customer_id": [JEAN["id"], MARIE["id"]], "email": [JEAN["email"], MARIE["email"]]}))
    (records / "part-bad.parquet").write_bytes(b"PAR1 this is not a parquet file PAR1")
    (records / "deletion_vector_0a1b.bin").write_bytes(b"\x00\x01\x02\x03")
    write_text(lakehouse / KEY_FILE, JEAN["email"])   # would be a hit if the key file were read

    mlruns = tmp_path / "mlruns"
    mlruns.mkdir()
    with sqlite3.connect(mlruns / "mlflow.db") as db:
        db.execute("CREATE TABLE runs (run_uuid TEXT, name TEXT, user_id TEXT)")
        db.executemany("INSERT INTO runs VALUES (?, ?, ?)",
                       [("r1", "match", JEAN["email"]), ("r2", "match", MARIE["email"])])
    db.close()

    write_text(tmp_path / "reports" / "dashboard.html",
               "<html><body>\n<table>\n"
               f"<tr><td>{JEAN['email']}</td></tr>\n<tr><td>{MARIE['email']}</td></tr>\n</table></body></html>\n")
    raw = tmp_path / "raw"
    (raw / "crm").mkdir(parents=True)
    with gzip.open(raw / "crm" / "extract.csv.gz", "wt", encoding="utf-8") as handle:
        handle.write(f"id;email;phone\nA0002;{MARIE['email']};{MARIE['phone']}\nA0001;{JEAN['email']};\n")
    write_text(raw / "loyalty" / "members.csv",
               "card;name;phone\n9001;DUPONT Jean;+33 6 12 34 56 78\n9002;CURIE Marie;+33 7 98 76 54 32\n")
    with zipfile.ZipFile(raw / "loyalty" / "export.xlsx", "w") as archive:
        archive.writestr("xl/sharedStrings.xml",
                         f"<sst><si><t>{MARIE['id']}</t></si><si><t>{JEAN['id']}</t></si></sst>")
    return tmp_path


def scan_all(stores: Path, **options) -> ScanReport:
    return scan([stores / name for name in ("lakehouse", "mlruns", "reports", "raw")], HASHES, KEY, **options)


def test_finds_each_identifier_with_its_file_location_and_kind(stores):
    report = scan_all(stores)

    parquet = "lakehouse/silver/customer_records/part-0000.parquet"
    assert hits_in(report, parquet) == {
        ("column shipping.email", "email"), ("column shipping.phone", "phone"),
        ("column attributes.value", "email"), ("column phone_number", "phone"),
        # the footer's min statistics hold Jean's values too ("J" < "m", "06" < "07", 612345678 < 798765432)
        ("statistics of column shipping.email", "email"), ("statistics of column shipping.phone", "phone"),
        ("statistics of column attributes.key_value.value", "email"), ("statistics of column phone_number", "phone")}
    assert hits_in(report, "lakehouse/silver/customer_records/_delta_log/00000000000000000001.json") == {
        ("line 2: add.stats.minValues.email", "email"), ("line 2: add.stats.minValues.phone", "phone")}
    assert hits_in(report, "mlruns/mlflow.db") == {("table runs, column user_id", "email")}
    assert hits_in(report, "reports/dashboard.html") == {("line 3", "email")}
    assert hits_in(report, "raw/crm/extract.csv.gz") == {("line 3", "email")}
    assert hits_in(report, "raw/loyalty/members.csv") == {("line 2", "phone")}
    assert hits_in(report, "raw/loyalty/export.xlsx") == {("member xl/sharedStrings.xml, line 1", "id")}


def test_a_delta_table_is_found_in_its_data_files_log_and_checkpoint(stores):
    table = stores / "lakehouse" / "gold" / "customer"
    DeltaTable(table).create_checkpoint()
    report = scan_all(stores)

    by_file = {}
    for hit in report.hits:
        if hit.file.startswith("lakehouse/gold/customer/"):
            by_file.setdefault(hit.file.removeprefix("lakehouse/gold/customer/"), set()).add((hit.location, hit.kind))
    data_files = [name for name in by_file if name.startswith("part-")]
    assert len(data_files) == 1
    assert {("column customer_id", "id"), ("column email", "email")} <= by_file[data_files[0]]
    assert {("line 4: add.stats.minValues.customer_id", "id"), ("line 4: add.stats.minValues.email", "email")} \
        == by_file["_delta_log/00000000000000000000.json"]
    assert {("column add.stats.minValues.customer_id", "id"), ("column add.stats.minValues.email", "email")} \
        <= by_file["_delta_log/00000000000000000000.checkpoint.parquet"]


def test_another_persons_values_give_no_hit(stores):
    marie = {identifier_hash(kind, value, KEY): kind for kind, value in MARIE.items()}
    nobody = {identifier_hash("email", "nobody@example.com", KEY): "email",
              identifier_hash("phone", "01 23 45 67 89", KEY): "phone",
              identifier_hash("id", "CUST-99999", KEY): "id"}
    roots = [stores / name for name in ("lakehouse", "mlruns", "reports", "raw")]

    # the places that hold only Marie's values are found with her hashes, never with Jean's
    marie_places = {(hit.file, hit.location) for hit in scan(roots, marie, KEY).hits}
    jean_places = {(hit.file, hit.location) for hit in scan_all(stores).hits}
    only_marie = {("lakehouse/silver/customer_records/part-0000.parquet", "column aliases"),
                  ("lakehouse/silver/customer_records/_delta_log/00000000000000000001.json",
                   "line 2: add.stats.maxValues.email"),
                  ("reports/dashboard.html", "line 4"), ("raw/crm/extract.csv.gz", "line 2"),
                  ("raw/loyalty/members.csv", "line 3")}
    assert only_marie <= marie_places
    assert not only_marie & jean_places
    assert scan(roots, nobody, KEY).hits == ()


def test_the_privacy_key_file_is_never_read(stores):
    report = scan_all(stores)
    assert not any(hit.file.endswith(KEY_FILE) for hit in report.hits)
    assert not any(file.endswith(KEY_FILE) for file, _ in report.skipped)
    for root in (stores / "lakehouse" / KEY_FILE, stores / "lakehouse" / "ops"):
        alone = scan([root], HASHES, KEY)
        assert (alone.files_scanned, alone.hits, alone.skipped) == (0, (), ())


def test_an_unreadable_file_is_reported_not_raised(stores):
    report = scan_all(stores)

    bad = "lakehouse/silver/customer_records/part-bad.parquet"
    assert [file for file, _ in report.skipped] == [bad]
    assert report.skipped[0][1].startswith("not readable as Parquet (")
    assert report.skipped[0][1].endswith("its raw bytes were scanned as text")
    everything = sum(1 for path in stores.rglob("*") if path.is_file())
    # every file is either scanned or skipped, except the key file
    assert report.files_scanned == everything - 1 - len(report.skipped)
    assert report.bytes_scanned > 0


def test_ignored_paths_are_not_scanned(stores):
    report = scan_all(stores, ignore=["reports", "lakehouse/silver/*/_delta_log", "*.csv.gz"])
    files = {hit.file for hit in report.hits}
    assert not any(file.startswith(("reports/", "lakehouse/silver/customer_records/_delta_log/"))
                   or file.endswith(".gz") for file in files)
    assert "lakehouse/gold/customer/_delta_log/00000000000000000000.json" in files
    assert "raw/loyalty/members.csv" in files


def test_a_long_line_is_scanned_in_overlapping_pieces(tmp_path, monkeypatch):
    monkeypatch.setattr(scan_module, "LINE_PIECE_BYTES", 1000)
    monkeypatch.setattr(scan_module, "LINE_OVERLAP_BYTES", 100)
    write_text(tmp_path / "dump" / "blob.txt", "x" * 990 + f" {JEAN['email']} " + "y" * 5000 + "\nend\n")
    report = scan([tmp_path / "dump"], HASHES, KEY)
    assert report.hits == (Hit("dump/blob.txt", "line 1", "email"),)


def test_text_in_cp1252_and_utf16_is_decoded(tmp_path):
    accented = "jérôme.dupont@free.fr"
    hashes = {**HASHES, identifier_hash("email", accented, KEY): "email"}
    folder = tmp_path / "raw"
    folder.mkdir()
    (folder / "legacy.csv").write_bytes(f"name;email\nJérôme;{accented}\n".encode("cp1252"))
    (folder / "excel.txt").write_bytes(f"name\tphone\nJean\t{JEAN['phone']}\n".encode("utf-16"))
    report = scan([folder], hashes, KEY)
    assert set(report.hits) == {Hit("raw/legacy.csv", "line 2", "email"), Hit("raw/excel.txt", "line 2", "phone")}


def test_several_processes_give_the_same_report(stores):
    assert scan_all(stores, workers=2) == scan_all(stores)


def test_compressed_files_are_decompressed_and_a_truncated_one_reported(tmp_path):
    folder = tmp_path / "landing"
    folder.mkdir()
    content = f"id;email\nA0002;{MARIE['email']}\nA0001;{JEAN['email']}\n".encode() * 50
    (folder / "a.csv.bz2").write_bytes(bz2.compress(content))
    (folder / "b.csv.xz").write_bytes(lzma.compress(content))
    with pa.output_stream(str(folder / "c.csv.zst"), compression="zstd") as stream:
        stream.write(content)
    (folder / "d.csv.gz").write_bytes(gzip.compress(content)[:60])   # cut: its end is missing

    report = scan([folder], HASHES, KEY)
    assert {hit.file for hit in report.hits} >= {"landing/a.csv.bz2", "landing/b.csv.xz", "landing/c.csv.zst"}
    assert Hit("landing/a.csv.bz2", "line 3", "email") in report.hits
    assert [(file, why.split(" (")[0]) for file, why in report.skipped] == [
        ("landing/d.csv.gz", "not readable as gzip")]


def test_linked_folders_are_followed_once_and_special_files_reported(tmp_path):
    landing = tmp_path / "elsewhere"
    write_text(landing / "members.csv", f"1;{JEAN['email']}\n")
    root = tmp_path / "raw"
    root.mkdir()
    (root / "landing").symlink_to(landing)
    (root / "loop").symlink_to(root)
    os.mkfifo(root / "pipe")

    report = scan([root], HASHES, KEY)
    assert report.hits == (Hit("raw/landing/members.csv", "line 1", "email"),)
    assert report.skipped == (("raw/pipe", "not a regular file"),)
