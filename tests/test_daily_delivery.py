"""A day whose delivery is partly bad goes through: ``rcu run-all`` on a lakehouse that holds the base, with the
day's files of every source, one of them exported with a renamed column.

The loyalty export of the day calls ``nom`` ``nom_famille``: that file is refused (quarantined as a file, with
its column and source named in the run's report and in ``bronze.file_quarantine``); every other source's day
lands, is standardised and matched (an incremental match run), and the loyalty file, fixed and delivered again
under its name, lands at the next run.
"""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import pytest
from pyspark.sql import functions as F

from jobs import generate, run_all
from jobs.common import Progress
from spark_lib import tables
from spark_lib.storage import Lakehouse

# two to three run-alls on 2 cores: `make test-slow`
pytestmark = [pytest.mark.e2e, pytest.mark.slow]

LOYALTY_DAY = "fidelite/adherents_20261101.csv"


def copy(source: Path, target: Path, names) -> None:
    for name in names:
        (target / name).parent.mkdir(parents=True, exist_ok=True)
        shutil.copy2(source / name, target / name)


def test_a_day_with_a_renamed_column_refuses_that_file_and_the_other_sources_day_goes_through(
        spark, tmp_path, monkeypatch, capsys):
    generated, raw, lake_dir = tmp_path / "generated", tmp_path / "raw", tmp_path / "lakehouse"
    generate.run(persons=300, raw_dir=str(generated / "raw"), truth_dir=str(generated / "truth"), seed=5,
                 reference_date="2026-10-31", progress=Progress("generate", quiet=True), days=1)
    day = json.loads((generated / "truth" / "deliveries.json").read_text())["days"][0]["files"]
    everything = [str(p.relative_to(generated / "raw")) for p in (generated / "raw").rglob("*") if p.is_file()]
    copy(generated / "raw", raw, [name for name in everything if name not in day])
    monkeypatch.setenv("MLFLOW_TRACKING_URI", f"sqlite:///{tmp_path / 'mlflow.db'}")
    common = ["--lakehouse", str(lake_dir), "--raw-dir", str(raw), "--truth-dir", str(tmp_path / "no-truth")]
    run_all.main([*common, "--retrain"])
    lake = Lakehouse(spark, str(lake_dir))
    records_before = lake.read(tables.CUSTOMER_RECORDS).count()

    # the day: every source's files, the loyalty export with its surname column renamed
    copy(generated / "raw", raw, day)
    good_loyalty = (raw / LOYALTY_DAY).read_text(encoding="utf-8")
    header, rest = good_loyalty.split("\n", 1)
    assert ";nom;" in header
    (raw / LOYALTY_DAY).write_text(header.replace(";nom;", ";nom_famille;") + "\n" + rest, encoding="utf-8")
    capsys.readouterr()
    summary = run_all.main(common)
    printed = capsys.readouterr().err

    ingest = {report.source: report for report in summary["ingest"]}
    assert ingest["loyalty_members"].files_quarantined == 1 and ingest["loyalty_members"].files_ingested == 0
    refused = lake.read(tables.FILE_QUARANTINE).where(F.col("file_path").endswith(LOYALTY_DAY)).collect()
    assert len(refused) == 1 and "'nom'" in refused[0].detail and "last_name" in refused[0].detail
    assert "loyalty_members" in printed and LOYALTY_DAY.split("/")[1] in printed and "'nom'" in printed
    # every other source's day went through: landed, standardised, matched from its changes
    log = lake.read(tables.INGESTION_LOG).where(F.col("file_path").contains("20261101") & (F.col("status") == "landed"))
    landed = {r.source for r in log.collect()}
    assert {"eshop_accounts", "crm_customers", "web_events"} <= landed and "loyalty_members" not in landed
    assert summary["match"].mode == "incremental"
    records = lake.read(tables.CUSTOMER_RECORDS)
    day_accounts = records.join(lake.read(tables.bronze("eshop_accounts")).where(
        F.col("_source_file").contains("20261101")).select(F.concat(F.lit("eshop_accounts:"), "id_compte")
                                                           .alias("record_key")), "record_key", "left_semi")
    assert day_accounts.count() > 0
    crosswalk = lake.read(tables.CROSSWALK)
    assert crosswalk.join(day_accounts, "record_key", "left_semi").count() == day_accounts.count()
    assert records.count() > records_before

    # the export fixed and sent again under its name lands at the next run, and the refusal is resolved
    (raw / LOYALTY_DAY).write_text(good_loyalty, encoding="utf-8")
    summary = run_all.main(common)
    ingest = {report.source: report for report in summary["ingest"]}
    assert ingest["loyalty_members"].files_ingested == 1 and ingest["loyalty_members"].files_quarantined == 0
    resolved = lake.read(tables.FILE_QUARANTINE).where(F.col("file_path").endswith(LOYALTY_DAY)).first()
    assert resolved.resolved_at is not None
