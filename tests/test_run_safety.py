"""Run safety: one writer per lakehouse, every configuration file checked before the first write, and the
cluster splits log idempotent."""

from __future__ import annotations

import json
import os
import shutil
import signal
import socket
import subprocess
import sys
import threading
import time
from pathlib import Path

import pytest

from jobs import check, cli, ingest
from jobs.common import ConfigurationError
from spark_lib import tables
from spark_lib.config import DEFAULT_CONF_DIR
from spark_lib.lock import LOCK_FILE, LakehouseBusyError, LakehouseLock, concurrent_write_error
from spark_lib.schemas import CLUSTER_SPLITS
from spark_lib.storage import Lakehouse
from tests.deliveries import write_delivery

ROOT = Path(__file__).resolve().parent.parent

HOLD_LOCK = """
import sys, time
from spark_lib.lock import LakehouseLock
lock = LakehouseLock(sys.argv[1], command="rcu match").acquire()
print("locked", flush=True)
time.sleep(600)
"""


# -- the lakehouse lock ------------------------------------------------------------------------------------


def test_a_second_run_stops_at_once_naming_the_run_that_holds_the_lakehouse(tmp_path):
    with LakehouseLock(str(tmp_path), command="rcu match"):
        started = time.monotonic()
        with pytest.raises(LakehouseBusyError) as raised:
            LakehouseLock(str(tmp_path), command="rcu gold").acquire()
        assert time.monotonic() - started < 1
    message = str(raised.value)
    assert message.startswith(f"another run (pid {os.getpid()} on host {socket.gethostname()}, `rcu match`) "
                              "holds this lakehouse since 20")
    assert " UTC; wait for it or, if that process is gone, run again (a lock whose process is dead is taken over)" \
        in message
    # released: the next run takes it, and the file records no holder any more
    with LakehouseLock(str(tmp_path), command="rcu gold"):
        pass
    assert (tmp_path / LOCK_FILE).read_text() == ""


def test_a_run_waits_for_the_lock_when_asked(tmp_path):
    holder = LakehouseLock(str(tmp_path), command="rcu ingest").acquire()
    threading.Timer(0.8, holder.release).start()
    started = time.monotonic()
    with LakehouseLock(str(tmp_path), command="rcu standardise", wait_seconds=10):
        waited = time.monotonic() - started
    assert 0.5 < waited < 5


def test_the_lock_of_a_killed_run_is_taken_over(tmp_path):
    env = dict(os.environ, PYTHONPATH=str(ROOT))
    process = subprocess.Popen([sys.executable, "-c", HOLD_LOCK, str(tmp_path)], stdout=subprocess.PIPE, text=True,
                               env=env)
    try:
        assert process.stdout.readline().strip() == "locked"
        with pytest.raises(LakehouseBusyError, match=rf"another run \(pid {process.pid} on host .*, `rcu match`\)"):
            LakehouseLock(str(tmp_path), command="rcu gold").acquire()
    finally:
        process.send_signal(signal.SIGKILL)
        process.wait(timeout=30)
    logged = []
    with LakehouseLock(str(tmp_path), command="rcu gold", log=logged.append):
        record = json.loads((tmp_path / LOCK_FILE).read_text())
    assert record["pid"] == os.getpid() and record["command"] == "rcu gold"
    assert len(logged) == 1 and f"pid {process.pid}" in logged[0] and "its process is gone): taken over" in logged[0]


def test_a_record_left_by_a_dead_process_does_not_hold_the_lakehouse(tmp_path):
    (tmp_path / LOCK_FILE).write_text(json.dumps(
        {"pid": 2 ** 22 + 17, "host": socket.gethostname(), "command": "rcu ingest", "started": "2026-12-06 09:12:03 UTC"}))
    logged = []
    with LakehouseLock(str(tmp_path), command="rcu ingest", log=logged.append):
        pass
    assert "that took this lakehouse at 2026-12-06 09:12:03 UTC ended without releasing it" in logged[0]


def test_a_step_on_a_busy_lakehouse_exits_1_with_the_message_before_starting_spark(tmp_path, capsys):
    delivery = write_delivery(tmp_path)
    with LakehouseLock(delivery.lakehouse, command="rcu run-all"):
        code = cli.main(["ingest", "--lakehouse", delivery.lakehouse, "--raw-dir", delivery.raw_dir,
                         "--sources", delivery.sources])
    assert code == 1
    err = capsys.readouterr().err
    assert "rcu ingest: error: another run (pid" in err and "`rcu run-all`) holds this lakehouse since" in err
    assert "Traceback" not in err and not (Path(delivery.lakehouse) / "bronze").exists()


def test_delta_s_conflict_between_two_writers_reads_as_a_busy_lakehouse():
    class ConcurrentAppendException(Exception):
        pass

    busy = concurrent_write_error(ConcurrentAppendException("[DELTA_CONCURRENT_APPEND] Files were added to the root"))
    assert isinstance(busy, LakehouseBusyError) and str(busy).startswith("another run wrote to this lakehouse")
    assert concurrent_write_error(ValueError("something else")) is None


# -- the configuration, checked before the first write -----------------------------------------------------


def _conf_copy(tmp_path: Path) -> Path:
    conf = tmp_path / "conf"
    shutil.copytree(DEFAULT_CONF_DIR, conf)
    return conf


def _replace(path: Path, old: str, new: str) -> None:
    text = path.read_text(encoding="utf-8")
    assert old in text, old
    path.write_text(text.replace(old, new, 1), encoding="utf-8")


def test_run_all_lists_every_configuration_error_and_writes_nothing(tmp_path, capsys):
    conf = _conf_copy(tmp_path)
    _replace(conf / "audiences.yaml", "channels: [email, sms, postal]", "channels: [emial, sms, postal]")
    _replace(conf / "matching_rules.yaml", "clustering:\n", "clustering:\n  treshold: 0.9\n")
    lake, raw = tmp_path / "lake", tmp_path / "raw"
    raw.mkdir()
    started = time.monotonic()
    code = cli.main(["run-all", "--conf-dir", str(conf), "--lakehouse", str(lake), "--raw-dir", str(raw)])
    assert time.monotonic() - started < 5  # no Spark started
    assert code == 1 and not lake.exists()
    err = capsys.readouterr().err
    assert "rcu run-all: 2 configuration error(s), nothing was written:" in err
    assert f"{conf / 'audiences.yaml'}: audiences.catalogue_cart_no_order.channels: 'emial' is not one of" in err
    assert f"{conf / 'matching_rules.yaml'}: clustering: unknown key 'treshold'" in err


def test_a_misspelt_mapping_stops_ingest_even_when_no_file_is_new(spark, tmp_path):
    delivery = write_delivery(tmp_path)
    args = ["--lakehouse", delivery.lakehouse, "--raw-dir", delivery.raw_dir, "--sources", delivery.sources]
    ingest.main(args)
    lake = Lakehouse(spark, delivery.lakehouse)
    versions = {t: lake.delta_table(t).history(1).first()["version"] for t in lake.tables("bronze")}
    _replace(Path(delivery.sources), "city: ville", "city: vile")
    _replace(Path(delivery.sources), "postcode: shipping.postcode", "postcode: shipping.postal_code")
    with pytest.raises(ConfigurationError) as raised:
        ingest.main(args)
    assert raised.value.errors == [
        "sources.loyalty.identity.city: column 'vile' not found in fid/adherents.csv "
        "(columns of the file: num_carte, civilite, nom, prenom, date_naiss, ville)",
        "sources.orders.identity.postcode: column 'shipping.postal_code' not found in web/orders.jsonl "
        "(columns of shipping: last_name, postcode)",
    ]
    assert {t: lake.delta_table(t).history(1).first()["version"] for t in lake.tables("bronze")} == versions


def test_rcu_check_runs_the_same_configuration_check(tmp_path):
    conf = _conf_copy(tmp_path)
    _replace(conf / "gold.yaml", "rules: [most_frequent, most_recent]", "rules: [most_frequent, most_recnt]")
    delivery = write_delivery(tmp_path)
    empty = tmp_path / "no-files"
    empty.mkdir()
    report = check.run(delivery.sources, str(empty), conf_dir=conf)  # no files: no Spark
    gold_error, audiences_error = report.errors
    assert gold_error.startswith(f"{conf / 'gold.yaml'}: survivorship.civility.rules: 'most_recnt'")
    # the delivery feeds orders and receipts only: the default audiences name tables no source feeds
    assert audiences_error == (f"{conf / 'audiences.yaml'}: events.catalogue_received[0].table: 'mailings' is not an "
                               "interaction table that a source feeds (known: orders, receipts)")


# -- the cluster splits log --------------------------------------------------------------------------------


def test_the_same_splits_are_logged_once_whatever_the_re_runs(spark, tmp_path):
    import datetime as dt

    from pyspark.sql import functions as F

    lake = Lakehouse(spark, str(tmp_path / "lake"))
    splits = spark.createDataFrame(
        [("r:1", 40, [20, 20], 0.99, "oversized"), ("r:7", 12, [8, 4], None, "size_capped")], CLUSTER_SPLITS)
    first, again = dt.datetime(2026, 12, 5, 9, 0), dt.datetime(2026, 12, 6, 9, 0)
    assert lake.append_new(splits.withColumn("run_time", F.lit(first)), tables.CLUSTER_SPLITS,
                           keys=tables.CLUSTER_SPLITS.keys) == 2
    version = lake.delta_table(tables.CLUSTER_SPLITS).history(1).first()["version"]
    assert lake.append_new(splits.withColumn("run_time", F.lit(again)), tables.CLUSTER_SPLITS,
                           keys=tables.CLUSTER_SPLITS.keys) == 0
    assert lake.delta_table(tables.CLUSTER_SPLITS).history(1).first()["version"] == version
    other = spark.createDataFrame([("r:1", 40, [30, 10], 0.995, "oversized")], CLUSTER_SPLITS)
    assert lake.append_new(other.withColumn("run_time", F.lit(again)), tables.CLUSTER_SPLITS,
                           keys=tables.CLUSTER_SPLITS.keys) == 1
    rows = sorted((r.component_id, tuple(r.sizes_after), r.run_time) for r in lake.read(tables.CLUSTER_SPLITS).collect())
    assert rows == [("r:1", (20, 20), first), ("r:1", (30, 10), again), ("r:7", (8, 4), first)]
