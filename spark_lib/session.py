"""The one Spark session factory used by jobs, tests and notebooks.

- On a cluster (``spark-submit``) or in Databricks a session already exists: it is reused as it is,
  because the platform has already put Delta on the classpath.
- Locally it builds a ``local[*]`` session with the Delta extension and the jars that ``make setup``
  fetched into ``.jars/`` (never downloaded here): Delta Lake's, and Spark's Kafka connector from
  ``.jars/spark-kafka/`` (the ``kafka`` source and sink of Structured Streaming), plus Splink's
  similarity-function jar. The Kafka broker's own jars (``.jars/kafka/``) stay out of Spark's class path.

Example::

    from spark_lib.session import get_spark
    spark = get_spark(app_name="rcu-ingest")
"""

from __future__ import annotations

import contextlib
import glob
import os
import sys
from pathlib import Path
from typing import Iterator, Mapping

from pyspark.sql import SparkSession


def _project_root() -> Path:
    """The checkout holding conf/ and .jars/; when the library runs from a zip (--py-files), the CWD."""
    if os.environ.get("RCU_HOME"):
        return Path(os.environ["RCU_HOME"])
    package_parent = Path(__file__).resolve().parent.parent
    return package_parent if package_parent.is_dir() else Path.cwd()


PROJECT_ROOT = _project_root()
DEFAULT_JARS_DIR = PROJECT_ROOT / ".jars"


class DeltaJarsMissingError(RuntimeError):
    """The Delta Lake jars are not on disk: run ``make setup`` (it fetches them from Maven Central)."""


def delta_jars(jars_dir: str | os.PathLike | None = None) -> list[str]:
    """Paths of the Delta jars fetched by ``make setup`` (``RCU_JARS_DIR`` overrides the folder)."""
    folder = Path(jars_dir or os.environ.get("RCU_JARS_DIR") or DEFAULT_JARS_DIR)
    jars = sorted(glob.glob(str(folder / "*.jar")))
    if not any("delta-spark" in Path(j).name for j in jars):
        raise DeltaJarsMissingError(
            f"no delta-spark jar in {folder}: run `make setup` to fetch the Delta Lake jars from Maven Central"
        )
    return jars


def kafka_connector_jars() -> list[str]:
    """Paths of Spark's Kafka connector and the jars it needs that pyspark does not ship (``.jars/spark-kafka/``,
    fetched by ``make setup``; ``RCU_JARS_DIR`` overrides ``.jars``); none when the folder is absent: the batch
    steps do without them."""
    folder = Path(os.environ.get("RCU_JARS_DIR") or DEFAULT_JARS_DIR) / "spark-kafka"
    return sorted(glob.glob(str(folder / "*.jar")))


def splink_jar() -> str | None:
    """Splink's Scala UDF jar (Jaro-Winkler etc. on Spark), shipped inside the splink package."""
    try:
        from splink.backends.spark import similarity_jar_location
    except ImportError:  # splink is optional for the ingestion-only jobs
        return None
    return similarity_jar_location()


def get_spark(
    app_name: str = "rcu",
    master: str | None = None,
    shuffle_partitions: int | None = None,
    extra_conf: dict[str, str] | None = None,
) -> SparkSession:
    """Return the active session if there is one (cluster, Databricks, notebook), else a local Delta session."""
    active = SparkSession.getActiveSession()
    if active is not None:
        return active

    # Under spark-submit the JVM already runs (PySpark is handed its gateway port) with the master, jars
    # and Delta settings the launcher was given: keep them.
    submitted = "PYSPARK_GATEWAY_PORT" in os.environ
    builder = SparkSession.builder.appName(app_name)
    if not submitted:
        # Python workers must run the interpreter that has our packages (pandas UDFs, phonenumbers).
        os.environ.setdefault("PYSPARK_PYTHON", sys.executable)
        jars = delta_jars() + kafka_connector_jars()
        udf_jar = splink_jar()
        if udf_jar:
            jars.append(udf_jar)
        builder = (
            builder.master(master or os.environ.get("RCU_SPARK_MASTER", "local[*]"))
            .config("spark.jars", ",".join(jars))
            .config("spark.sql.extensions", "io.delta.sql.DeltaSparkSessionExtension")
            .config("spark.sql.catalog.spark_catalog", "org.apache.spark.sql.delta.catalog.DeltaCatalog")
            # Local mode needs no network: bind the driver to loopback rather than the first interface.
            .config("spark.driver.host", "127.0.0.1")
            .config("spark.driver.bindAddress", "127.0.0.1")
            # Local mode runs the driver and executors in one JVM: give it most of the machine's memory.
            .config("spark.driver.memory", os.environ.get("RCU_DRIVER_MEMORY", "8g"))
        )
    cores = os.cpu_count() or 2
    builder = (
        builder
        # The default of 200 shuffle partitions costs seconds of task overhead on a 2-core machine;
        # a few per core keeps tasks busy without thousands of tiny files. AQE coalesces further. A base of
        # millions of persons needs more (RCU_SHUFFLE_PARTITIONS; the benchmarks use one per 12,500 persons).
        .config("spark.sql.shuffle.partitions",
                str(shuffle_partitions or os.environ.get("RCU_SHUFFLE_PARTITIONS") or max(4, cores * 2)))
        # Delta reads its transaction log with 50 partitions by default: far too many for small tables.
        .config("spark.databricks.delta.snapshotPartitions", "2")
        # The UI serves on a port per session; it is of no use in batch jobs and tests.
        .config("spark.ui.enabled", os.environ.get("RCU_SPARK_UI", "false"))
        .config("spark.ui.showConsoleProgress", "false")  # our own progress lines replace Spark's bars
        # Timestamps are written and read in UTC whatever the machine's zone, so runs are reproducible.
        .config("spark.sql.session.timeZone", "UTC")
    )
    warehouse = os.environ.get("RCU_WAREHOUSE_DIR")
    if warehouse:
        builder = builder.config("spark.sql.warehouse.dir", warehouse)
    for key, value in (extra_conf or {}).items():
        builder = builder.config(key, value)
    spark = builder.getOrCreate()
    spark.sparkContext.setLogLevel(os.environ.get("RCU_SPARK_LOG_LEVEL", "ERROR"))
    return spark


@contextlib.contextmanager
def job_description(spark: SparkSession, text: str) -> Iterator[None]:
    """Name the Spark jobs started inside the block (Spark UI, event log, ``benchmarks/spark_profile.py``).

    Nested blocks join their names: ``match: deterministic > overwrite silver.deterministic_edges``. The
    name is a local property of the calling thread, restored on exit.

    Example::

        with job_description(spark, "match: predict"):
            pairs.count()
    """
    context = spark.sparkContext
    previous = context.getLocalProperty("spark.job.description")
    context.setJobDescription(f"{previous} > {text}" if previous else text)
    try:
        yield
    finally:
        context.setLocalProperty("spark.job.description", previous)  # None removes it


@contextlib.contextmanager
def session_settings(spark: SparkSession, settings: Mapping[str, str]) -> Iterator[None]:
    """Set session configurations for the block, then put back the previous values (or unset them).

    Example::

        with session_settings(spark, {"spark.sql.shuffle.partitions": "2"}):
            small.groupBy("key").count().collect()
    """
    previous = {key: spark.conf.get(key, None) for key in settings}
    for key, value in settings.items():
        spark.conf.set(key, value)
    try:
        yield
    finally:
        for key, value in previous.items():
            if value is None:
                spark.conf.unset(key)
            else:
                spark.conf.set(key, value)
