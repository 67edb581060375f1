"""The jobs run with spark-submit against a standalone master and worker, the library shipped as a zip.

Standardise is the job submitted: its Python functions run on the executors, which must import the library
from the zip. Ingest (driver-side Python only) lands the bronze tables in the tests' session first: a second
submitted application would add half a minute for nothing the first does not prove.
"""

from __future__ import annotations

import json
import os
import socket
import subprocess
import sys
import time
import urllib.request
from pathlib import Path

import pytest

from jobs import ingest
from jobs.common import Progress, build_context
from tests.deliveries import write_delivery

ROOT = Path(__file__).resolve().parent.parent

# A standalone master and worker plus a spark-submit: a minute on 2 cores, so `make test-slow` runs it.
pytestmark = [pytest.mark.cluster, pytest.mark.slow]


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _workers_alive(ui_port: int) -> int:
    try:
        with urllib.request.urlopen(f"http://127.0.0.1:{ui_port}/json/", timeout=2) as response:
            return int(json.load(response).get("aliveworkers", 0))
    except OSError:
        return 0


@pytest.fixture(scope="module")
def standalone_cluster(tmp_path_factory):
    """A Spark standalone master and one worker on 127.0.0.1, from the installed pyspark."""
    logs = tmp_path_factory.mktemp("cluster")
    port, ui_port, worker_ui = _free_port(), _free_port(), _free_port()
    import pyspark

    spark_home = Path(pyspark.__file__).parent
    env = dict(os.environ, SPARK_HOME=str(spark_home), SPARK_LOCAL_IP="127.0.0.1", SPARK_WORKER_DIR=str(logs / "work"))
    spark_class = str(spark_home / "bin" / "spark-class")
    master = subprocess.Popen(
        [spark_class, "org.apache.spark.deploy.master.Master", "--host", "127.0.0.1", "--port", str(port),
         "--webui-port", str(ui_port)],
        stdout=open(logs / "master.log", "w"), stderr=subprocess.STDOUT, env=env,
    )
    url = f"spark://127.0.0.1:{port}"
    worker = subprocess.Popen(
        [spark_class, "org.apache.spark.deploy.worker.Worker", url, "--host", "127.0.0.1", "--cores", "1",
         "--memory", "2g", "--webui-port", str(worker_ui)],
        stdout=open(logs / "worker.log", "w"), stderr=subprocess.STDOUT, env=env,
    )
    try:
        deadline = time.monotonic() + 90
        while _workers_alive(ui_port) < 1:
            if time.monotonic() > deadline or master.poll() is not None or worker.poll() is not None:
                raise RuntimeError(
                    "standalone cluster did not start:\n" + (logs / "master.log").read_text()[-2000:]
                    + (logs / "worker.log").read_text()[-2000:]
                )
            time.sleep(1)
        yield url, logs
    finally:
        for process in (worker, master):
            process.terminate()
        for process in (worker, master):
            try:
                process.wait(timeout=20)
            except subprocess.TimeoutExpired:
                process.kill()


def _submit(cluster_url: str, job: str, *args: str) -> subprocess.CompletedProcess:
    env = dict(
        os.environ,
        RCU_SPARK_MASTER=cluster_url,
        PYSPARK_PYTHON=sys.executable,
        SPARK_LOCAL_IP="127.0.0.1",
        # The submitting test already holds a local session; the driver of the submitted job is separate.
        RCU_SUBMIT_ARGS="--driver-memory 1g --executor-memory 1g --conf spark.sql.shuffle.partitions=2",
    )
    env.pop("PYSPARK_GATEWAY_PORT", None)
    return subprocess.run(
        [str(ROOT / "scripts" / "submit.sh"), job, *args], env=env, capture_output=True, text=True, timeout=600
    )


def test_the_standardise_job_runs_on_a_standalone_cluster(spark, standalone_cluster, tmp_path):
    cluster_url, logs = standalone_cluster
    delivery = write_delivery(tmp_path)
    args = ["--conf-dir", str(ROOT / "conf"), "--sources", delivery.sources, "--lakehouse", delivery.lakehouse,
            "--raw-dir", delivery.raw_dir]
    ingest.run(build_context(delivery, "test", spark=spark), progress=Progress("ingest", quiet=True))

    result = _submit(cluster_url, "standardise", *args)
    assert result.returncode == 0, result.stderr[-4000:]

    lake = Path(delivery.lakehouse)
    bronze = spark.read.format("delta").load(str(lake / "bronze" / "loyalty"))
    assert sorted(r.num_carte for r in bronze.select("num_carte").collect()) == ["C001", "C002", "C006"]
    records = spark.read.format("delta").load(str(lake / "silver" / "customer_records"))
    assert sorted(r.record_key for r in records.select("record_key").collect()) == [
        "loyalty:C001", "loyalty:C002", "loyalty:C006", "orders:O1", "orders:O3", "receipts:T1",
    ]
    # The job really ran on the cluster: the master registered its application.
    assert "Registered app rcu-standardise" in (logs / "master.log").read_text()
