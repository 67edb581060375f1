"""Records deleted at their source leave silver: named by a deletion list, or missing from a full snapshot.

Two sources of a small retailer: loyalty members sent as daily increments with a daily deletion list, and a
CRM sending its whole extract every day. Day 2 deletes a member (closed card), names a card nobody has,
re-opens a member deleted the day before she changed, drops a customer from the CRM extract and changes
another's name in it (the others it delivers as the day before are not standardised again). Day 3's CRM
extract holds one customer of four: a truncated file, which deletes nobody.
"""

from __future__ import annotations

import argparse

import pytest
from pyspark.sql import functions as F

from jobs import ingest, standardise
from jobs.common import Progress, build_context
from spark_lib import silver, tables

SOURCES = """
sources:
  members:
    path: fid/adherents*.csv
    format: csv
    separator: ";"
    channel: offline
    record_id: num_carte
    identity: {loyalty_card: num_carte, first_name: prenom, last_name: nom, updated_at: date_maj}
    deletions:
      path: fid/suppressions*.csv
      record_id: num_carte
      deleted_at: date_suppression
      reason: motif
  crm:
    path: crm/extraction*.csv
    format: csv
    separator: ";"
    channel: offline
    record_id: code
    delivery: snapshot
    identity: {customer_ref: code, first_name: prenom, last_name: nom, updated_at: date_maj}
"""


def deliver(raw, name: str, text: str) -> None:
    path = raw / name
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(text, encoding="utf-8")


def day(ctx, capsys) -> str:
    ingest.run(ctx, progress=Progress("ingest", quiet=True))
    capsys.readouterr()
    standardise.run(ctx, progress=Progress("standardise"))
    return capsys.readouterr().err


def keys(ctx) -> set[str]:
    return {r.record_key for r in ctx.lake.read(tables.CUSTOMER_RECORDS).select("record_key").collect()}


@pytest.fixture(scope="module")
def days(spark, tmp_path_factory):
    root = tmp_path_factory.mktemp("deletions")
    raw = root / "raw"
    (root / "sources.yaml").write_text(SOURCES, encoding="utf-8")
    ctx = build_context(argparse.Namespace(conf_dir=None, lakehouse=str(root / "lake"), raw_dir=str(raw),
                                           sources=str(root / "sources.yaml"), truth_dir=None), "test", spark=spark)
    return ctx, raw


def test_listed_and_snapshot_deletions_leave_silver_and_are_logged_with_their_reason(days, capsys):
    ctx, raw = days
    deliver(raw, "fid/adherents_1.csv", "num_carte;prenom;nom;date_maj\nM1;Anne;Roy;2026-11-01\n"
                                        "M2;Paul;Roy;2026-11-01\nM3;Lea;Petit;2026-11-01\n")
    # C5 has no update time: its record time is its delivery's
    crm = ["C1;Anne;Roy;2026-10-01", "C2;Marc;Colin;2026-10-01", "C3;Ines;Blanc;2026-10-01",
           "C4;Luc;Perrin;2026-10-01", "C5;Zoe;Garnier;"]
    deliver(raw, "crm/extraction_1.csv", "code;prenom;nom;date_maj\n" + "\n".join(crm) + "\n")
    day(ctx, capsys)
    kept_crm = {"crm:C1", "crm:C3", "crm:C4", "crm:C5"}
    assert keys(ctx) == {"members:M1", "members:M2", "members:M3", "crm:C2", *kept_crm}
    before = {r.record_key: r for r in ctx.lake.read(tables.CUSTOMER_RECORDS).collect()}

    # day 2: M2 closed; M3 closed on the 2nd but changed on the 3rd (re-opened); M9 unknown; C2 gone from the CRM,
    # C3 married
    deliver(raw, "fid/suppressions_2.csv", "num_carte;date_suppression;motif\nM2;2026-11-02;fermeture\n"
                                           "M3;2026-11-02;inactivite\nM9;2026-11-02;rgpd\n")
    deliver(raw, "fid/adherents_2.csv", "num_carte;prenom;nom;date_maj\nM3;Lea;Petit-Martin;2026-11-03\n")
    crm[2] = "C3;Ines;Blanc-Morel;2026-11-02"
    deliver(raw, "crm/extraction_2.csv", "code;prenom;nom;date_maj\n" + "\n".join(c for c in crm if c[:2] != "C2") + "\n")
    ingest.run(ctx, progress=Progress("ingest", quiet=True))
    bronze = ctx.lake.read(tables.bronze("crm"))
    first, second = (bronze.where(F.col("_source_file").endswith(f"extraction_{n}.csv")) for n in (1, 2))
    spec, held = ctx.sources.get("crm"), ctx.lake.read(tables.CUSTOMER_RECORDS).select("source_record_id")
    # standardised again: the changed and the undated; a record silver no longer holds is taken however delivered
    assert sorted(r.code for r in silver.changed_since_delivery(second, first, held, spec).collect()) == ["C3", "C5"]
    assert "C1" in {r.code for r in silver.changed_since_delivery(
        second, first, held.where("source_record_id != 'C1'"), spec).collect()}
    said = day(ctx, capsys)
    assert keys(ctx) == {"members:M1", "members:M3", *kept_crm}
    after = {r.record_key: r for r in ctx.lake.read(tables.CUSTOMER_RECORDS).collect()}
    assert after["crm:C3"].last_name == "BLANC-MOREL"
    assert after["crm:C1"] == before["crm:C1"] and after["crm:C4"] == before["crm:C4"]
    assert after["crm:C5"].record_time > before["crm:C5"].record_time   # as a full run would have it
    assert "2 record(s) deleted at their source removed (1 by deletion list, 1 by snapshot" in said
    log = {r.record_key: r for r in ctx.lake.read(tables.DELETED_RECORDS).collect()}
    assert set(log) == {"members:M2", "crm:C2"}
    assert (log["members:M2"].how, log["members:M2"].reason, str(log["members:M2"].deleted_at)) == (
        "deletion_list", "fermeture", "2026-11-02")
    assert log["members:M2"].file.endswith("fid/suppressions_2.csv")
    assert log["crm:C2"].how == "snapshot" and log["crm:C2"].file.endswith("crm/extraction_2.csv")
    # the deletion list's lines are in bronze, once, even when ingest runs again
    ingest.run(ctx, progress=Progress("ingest", quiet=True))
    assert ctx.lake.read(tables.DELETIONS).count() == 3

    # day 3: a truncated CRM extract (1 of 4 customers) deletes nobody, and says why
    deliver(raw, "crm/extraction_3.csv", "code;prenom;nom;date_maj\nC1;Anne;Roy;2026-10-01\n")
    said = day(ctx, capsys)
    assert keys(ctx) == {"members:M1", "members:M3", *kept_crm}
    assert "taken for a truncated extract, nothing deleted" in said
    assert ctx.lake.read(tables.DELETED_RECORDS).where(F.col("record_key") == "crm:C3").count() == 0


def test_a_deletion_list_without_the_record_id_column_fails_its_source_with_the_column_named(days):
    ctx, raw = days
    deliver(raw, "fid/suppressions_9.csv", "carte;date_suppression;motif\nM1;2026-11-09;rgpd\n")
    with pytest.raises(ingest.IngestError, match="column 'num_carte'"):
        ingest.run(ctx, progress=Progress("ingest", quiet=True))
    (raw / "fid" / "suppressions_9.csv").unlink()
    assert "members:M1" in keys(ctx)
