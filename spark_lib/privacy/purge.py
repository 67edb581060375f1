"""Purge: once the privacy retention has passed, nothing of an erased person stays in any file of a Delta table.

The erasing job deletes a person's rows by surrogate key (a MERGE ``whenMatchedDelete`` with a DataFrame of
``record_key``, so no personal value is written into a predicate). Delta keeps the deleted values on disk
after that commit; :func:`purge_table` removes them once they are older than the retention.

Where Delta 4.4 keeps a deleted value (measured on a 4-row table with change data feed on, written by
:class:`spark_lib.storage.Lakehouse`, one row deleted by a MERGE on ``record_key``, every file then decoded:
parquet with pyarrow, log lines as text):

=====================================  ======================================================  ====================
place                                  what Delta 4.4 does                                      what purge does
=====================================  ======================================================  ====================
old data files                         the MERGE rewrites the file holding the row; the old     VACUUM with the
                                       file stays, tombstoned                                   retention
deletion vectors                       *off* on our tables: no session default                  REORG ... APPLY
                                       (``spark.databricks.delta.properties.defaults.           (PURGE) when the
                                       enableDeletionVectors`` unset), no table property, the   table has the
                                       ``deletionVectors`` feature absent. When a table has     ``deletionVectors``
                                       them, the MERGE only marks the row: the row stays in     or ``columnMapping``
                                       the *live* file and the live ``add`` action keeps the    feature (a dropped
                                       file's old stats (the deleted email as ``maxValues``)    column's values stay
                                                                                                in files too), then
                                                                                                VACUUM
``_change_data/`` (change data feed)   the pre-image of every update and the deleted row        VACUUM deletes them
                                       (values, not just keys) in ``cdc-*.parquet``; only       with the retention
                                       referenced from ``cdc`` actions of commits               (measured)
``add.stats`` in JSON commits          ``minValues``/``maxValues`` of the first 32 columns      :func:`apply_privacy_
                                       (the email, names) of every file ever added              properties` limits
                                                                                                stats to keys and
                                                                                                dates; old commits
                                                                                                removed (below)
``remove`` actions and checkpoint      ``stats`` is ``{"numRecords": n}`` (MERGE) or null       nothing to do: no
tombstones                             (DELETE, overwrite); no min/max. A checkpoint keeps      rewrite of the
                                       tombstones younger than                                  checkpoint needed
                                       ``delta.deletedFileRetentionDuration`` only
``NNN.crc`` checksum files             written at every commit with ``allFiles``                removed with their
                                       (``spark.databricks.delta.allFilesInCrc.enabled`` is     commit (below)
                                       true; tables under 50 live files, ``allFilesInCrc.
                                       thresholdNumFiles``): every live file *with its stats*,
                                       so a crc before the delete holds the email
checkpoints                            ``add.stats`` (JSON, as written) and ``stats_parsed``    a new checkpoint at
                                       of live files only                                       the current version;
                                                                                                older ones removed
commitInfo                             operation parameters: the MERGE's join condition         removed with their
                                       (``record_key#1 = record_key#2``), no literal when the   commit
                                       keys come from a DataFrame
expired-log cleanup                    Delta deletes log files only below a checkpoint and      :func:`purge_table`
(``delta.logRetentionDuration``)       older than the retention *truncated to the day*          removes them itself
                                       (``MetadataCleanup.truncateDay``): with retention 0,     (below)
                                       today's commits stay (measured: nothing removed; the
                                       same files dated two days back were removed)
=====================================  ======================================================  ====================

VACUUM also writes ``_delta_log/_last_vacuum_info`` (``{}``) and, by default, two commits (VACUUM START/END);
purge turns that logging off for its own VACUUM, so a second purge commits nothing and changes no file.

What :func:`purge_table` does, each step leaving a valid table (killed and re-run, it goes on where it stopped):

1. ``REORG TABLE ... APPLY (PURGE)`` when the table has deletion vectors or column mapping (it rewrites only the
   files with deletion vectors or dropped columns: no commit when there are none);
2. ``VACUUM ... RETAIN <retention>``: old data files, deletion vector files and ``_change_data`` files older than
   the retention;
3. a checkpoint at the current version (``DeltaLog.checkpoint``), unless ``_last_checkpoint`` already names it;
4. removes the log files (JSON commits, ``.crc``, checkpoints, compacted logs) of versions below the newest
   checkpoint under which every log file is older than now - retention, never above ``_last_checkpoint``:
   the table stays readable by Spark and delta-rs (``deltalake``), time travel reaches back to that checkpoint.

Delay: a value is gone from data files at the first purge more than ``retention`` after its deletion, and from the
log at the first purge more than ``retention`` after the first checkpoint written after its deletion, so within
``retention`` + two purge intervals. Not handled: v2 checkpoints (``_sidecars``, table feature ``v2Checkpoint``:
:func:`purge_table` refuses them) and coordinated commits (``_staged_commits`` stays empty on our tables).

Example::

    privacy = PrivacyRetention.from_mapping(config["privacy"])          # {"retention_hours": 168}
    path = lake.path(tables.CUSTOMER)
    apply_privacy_properties(spark, path, privacy.retention, stats_columns(schema, tables.CUSTOMER.keys))
    result = purge_table(spark, path, privacy.retention)
"""

from __future__ import annotations

import datetime as dt
import json
import math
import re
import time
from dataclasses import dataclass
from typing import Iterable, Mapping, Sequence

from pyspark.sql import SparkSession

from spark_lib.config import MAX_RETENTION_HOURS
from spark_lib.session import session_settings
from pyspark.sql.types import ArrayType, DateType, MapType, StructType, TimestampNTZType, TimestampType

#: the product's default: deleted data stays on disk at most this long
DEFAULT_RETENTION = dt.timedelta(days=7)
#: the longest retention allowed: with a daily purge a value is gone within the retention plus two days, so an
#: erasure is complete within one month (GDPR Art. 12(3)); pipeline.yaml's privacy_retention_hours has the same bound
MAX_RETENTION = dt.timedelta(hours=MAX_RETENTION_HOURS)
#: Delta refuses a VACUUM retention below this unless its safety check is off
_DELTA_SAFE_RETENTION = dt.timedelta(hours=168)

LOG_RETENTION = "delta.logRetentionDuration"
DELETED_FILE_RETENTION = "delta.deletedFileRetentionDuration"
CHECKPOINT_RETENTION = "delta.checkpointRetentionDuration"
STATS_COLUMNS = "delta.dataSkippingStatsColumns"

_RETENTION_CHECK = "spark.databricks.delta.retentionDurationCheck.enabled"
_VACUUM_LOGGING = "spark.databricks.delta.vacuum.logging.enabled"
_LISTING_PARALLELISM = "spark.sql.sources.parallelPartitionDiscovery.parallelism"
#: table features under which deleted values stay inside live files until REORG ... APPLY (PURGE)
_SOFT_DELETE_FEATURES = frozenset({"deletionVectors", "columnMapping"})

_COMMIT = re.compile(r"^(\d{20})\.json$")
_CHECKSUM = re.compile(r"^(\d{20})\.crc$")
_CHECKPOINT = re.compile(r"^(\d{20})\.checkpoint(?:\.\d{10}\.\d{10})?\.parquet$")
_COMPACTED = re.compile(r"^\d{20}\.(\d{20})\.compacted\.json$")
_PLAIN_NAME = re.compile(r"^[A-Za-z_][A-Za-z0-9_]*$")
_STATS_NAME = re.compile(r"`((?:[^`]|``)+)`|([^,`]+)")


class PurgeError(RuntimeError):
    """A table cannot be purged safely (not a Delta table, or a log layout purge does not handle)."""


@dataclass(frozen=True)
class PrivacyRetention:
    """How long deleted data may stay on disk (``conf/pipeline.yaml`` section ``privacy:``)."""

    retention: dt.timedelta = DEFAULT_RETENTION

    #: the keys :meth:`from_mapping` accepts
    KEYS = ("retention_hours",)

    def __post_init__(self) -> None:
        if not isinstance(self.retention, dt.timedelta):
            raise ValueError(f"privacy retention must be a timedelta, not {type(self.retention).__name__}")
        if self.retention < dt.timedelta(0):
            raise ValueError(f"privacy retention cannot be negative: {_hours(self.retention):g} hours")
        if self.retention > MAX_RETENTION:
            raise ValueError(
                f"privacy retention {_hours(self.retention):g} hours is longer than {_hours(MAX_RETENTION):g} "
                f"hours ({MAX_RETENTION.days} days): an erasure must be complete within one month"
            )

    @classmethod
    def from_mapping(cls, mapping: Mapping[str, object] | None) -> "PrivacyRetention":
        """From the ``privacy:`` section: ``{"retention_hours": 168}``; absent or empty: the default (7 days)."""
        mapping = dict(mapping or {})
        unknown = sorted(set(mapping) - set(cls.KEYS))
        if unknown:
            raise ValueError(f"privacy: unknown key(s) {unknown}; allowed: {list(cls.KEYS)}")
        if "retention_hours" not in mapping:
            return cls()
        hours = mapping["retention_hours"]
        if isinstance(hours, bool) or not isinstance(hours, (int, float)) or not math.isfinite(hours):
            raise ValueError(f"privacy: retention_hours must be a number of hours, not {hours!r}")
        return cls(dt.timedelta(hours=hours))


@dataclass(frozen=True)
class PurgeResult:
    """What one :func:`purge_table` removed."""

    path: str
    #: the version of the checkpoint the table's log now starts from
    checkpoint_version: int
    #: live files REORG rewrote to drop rows hidden by deletion vectors (or dropped columns)
    rewritten_files: int = 0
    data_files: int = 0
    change_data_files: int = 0
    deletion_vector_files: int = 0
    #: JSON commits, .crc, checkpoints and compacted logs
    log_files: int = 0
    checkpoint_written: bool = False

    @property
    def changed(self) -> bool:
        return bool(self.rewritten_files or self.data_files or self.change_data_files or self.deletion_vector_files
                    or self.log_files or self.checkpoint_written)


def stats_columns(schema: StructType, keys: Iterable[str]) -> list[str]:
    """The columns a table keeps per-file statistics for: its key columns and its date and timestamp columns
    (top level, atomic types only), in schema order. No names, emails or phones in ``minValues``/``maxValues``."""
    keys = set(keys)
    wanted = []
    for field in schema.fields:
        is_date = isinstance(field.dataType, (DateType, TimestampType, TimestampNTZType))
        atomic = not isinstance(field.dataType, (ArrayType, MapType, StructType))
        is_key = field.name in keys and atomic
        if is_date or is_key:
            wanted.append(field.name)
    return wanted


def stats_columns_property(columns: Sequence[str]) -> str:
    """The value of ``delta.dataSkippingStatsColumns`` for ``columns`` (empty: no min/max at all)."""
    return ",".join(c if _PLAIN_NAME.match(c) else "`" + c.replace("`", "``") + "`" for c in columns)


def parse_stats_columns(value: str) -> list[str]:
    """The column names of a ``delta.dataSkippingStatsColumns`` value (backticks removed)."""
    return [a.replace("``", "`") if a else b.strip() for a, b in _STATS_NAME.findall(value) if a or b.strip()]


def retention_interval(retention: dt.timedelta) -> str:
    """A Delta interval property value: ``interval 168 hours`` (whole hours) or ``interval 5400 seconds``."""
    seconds = math.ceil(retention.total_seconds())
    return f"interval {seconds // 3600} hours" if seconds % 3600 == 0 else f"interval {seconds} seconds"


def privacy_properties(retention: dt.timedelta | PrivacyRetention, columns: Sequence[str]) -> dict[str, str]:
    """The table properties :func:`apply_privacy_properties` sets."""
    interval = retention_interval(_timedelta(retention))
    return {
        LOG_RETENTION: interval,
        DELETED_FILE_RETENTION: interval,
        CHECKPOINT_RETENTION: interval,
        STATS_COLUMNS: stats_columns_property(columns),
    }


def table_properties(spark: SparkSession, path: str) -> dict[str, str]:
    return dict(_detail(spark, path)["properties"] or {})


def apply_privacy_properties(
    spark: SparkSession, path: str, retention: dt.timedelta | PrivacyRetention, stats_columns: Sequence[str]
) -> dict[str, str]:
    """Set the retention and statistics properties of the Delta table at ``path`` in one commit, only those that
    differ (no commit when all are set already); returns the properties changed. Partition columns are left out
    of the statistics columns (Delta refuses them).

    The new statistics setting applies to files written from now on; files already written keep their stats
    until rewritten (the erasing MERGE rewrites every file holding an erased row).
    """
    detail = _detail(spark, path)
    current = dict(detail["properties"] or {})
    partitions = {c.lower() for c in detail["partitionColumns"] or []}  # Delta keeps no stats for them
    columns = [c for c in stats_columns if c.lower() not in partitions]
    changes = {k: v for k, v in privacy_properties(retention, columns).items() if current.get(k) != v}
    if changes:
        assignments = ", ".join(f"'{k}' = '{_sql_string(v)}'" for k, v in changes.items())
        spark.sql(f"ALTER TABLE delta.`{_sql_path(path)}` SET TBLPROPERTIES ({assignments})")
    return changes


def purge_table(spark: SparkSession, path: str, retention: dt.timedelta | PrivacyRetention) -> PurgeResult:
    """Remove from the Delta table at ``path`` every file holding data deleted more than ``retention`` ago
    (see the module's documentation for the steps). Idempotent; safe to kill and re-run."""
    retention = _timedelta(retention)
    PrivacyRetention(retention)  # the same bounds as the configuration
    detail = _detail(spark, path)
    features = set(detail["tableFeatures"] or [])
    if "v2Checkpoint" in features:
        raise PurgeError(f"{path}: v2 checkpoints (sidecar files) are not handled by purge")

    rewritten = 0
    if features & _SOFT_DELETE_FEATURES:
        rows = spark.sql(f"REORG TABLE delta.`{_sql_path(path)}` APPLY (PURGE)").collect()
        rewritten = sum(int(r["metrics"]["numFilesRemoved"] or 0) for r in rows if r["metrics"] is not None)

    vacuumed = _vacuum(spark, path, retention)
    checkpoint_version, written = _checkpoint(spark, path)
    log_files = _remove_expired_log_files(spark, path, retention)
    if log_files:
        jvm = spark._jvm
        # the cached snapshot may still name the deleted files: the next read starts from the checkpoint
        jvm.org.apache.spark.sql.delta.DeltaLog.invalidateCache(spark._jsparkSession, jvm.org.apache.hadoop.fs.Path(path))
    return PurgeResult(
        path=path, checkpoint_version=checkpoint_version, rewritten_files=rewritten, log_files=log_files,
        checkpoint_written=written, **vacuumed,
    )


# steps ----------------------------------------------------------------------------------------------------


def _vacuum(spark: SparkSession, path: str, retention: dt.timedelta) -> dict[str, int]:
    """VACUUM with the retention; counts of the files it deleted, by kind (from a dry run just before). Not run
    when only empty folders are left to delete: a second purge changes nothing."""
    settings = {_VACUUM_LOGGING: "false"}  # no VACUUM START/END commits: a second purge commits nothing
    if retention < _DELTA_SAFE_RETENTION:
        settings[_RETENTION_CHECK] = "false"
    if spark.conf.get(_LISTING_PARALLELISM, None) is None:
        # VACUUM lists the table in spark.sql.sources.parallelPartitionDiscovery.parallelism tasks, 10,000 by
        # default: minutes of empty tasks for a small table on a small machine
        settings[_LISTING_PARALLELISM] = str(max(2, spark.sparkContext.defaultParallelism * 4))
    vacuum = f"VACUUM delta.`{_sql_path(path)}` RETAIN {_hours_literal(retention)} HOURS"
    with session_settings(spark, settings):
        counts = spark.sql(f"{vacuum} DRY RUN").selectExpr(
            "count_if(instr(path, '/_change_data/') > 0 AND path LIKE '%.parquet') AS change_data_files",
            "count_if(path RLIKE '/deletion_vector_[^/]*[.]bin$') AS deletion_vector_files",
            "count_if(instr(path, '/_change_data/') = 0 AND path LIKE '%.parquet') AS data_files",
            # what else VACUUM would delete, but for the empty folders it leaves (_change_data, partitions)
            "count_if(NOT path LIKE '%.parquet' AND NOT path RLIKE '/deletion_vector_[^/]*[.]bin$'"
            " AND NOT path RLIKE '/(_change_data|[^/]*=[^/]*)$') AS other_files",
        ).first()
        if sum(counts):
            spark.sql(vacuum).collect()
    return {k: int(counts[k]) for k in ("data_files", "change_data_files", "deletion_vector_files")}


def _checkpoint(spark: SparkSession, path: str) -> tuple[int, bool]:
    """A checkpoint at the table's current version (written unless ``_last_checkpoint`` names it already)."""
    jvm = spark._jvm
    none = jvm.scala.Option.empty()
    delta_log = jvm.org.apache.spark.sql.delta.DeltaLog.forTable(spark._jsparkSession, path)
    snapshot = delta_log.update(False, none, none)
    version = int(snapshot.version())
    if _last_checkpoint_version(spark, path) == version:
        fs, log = _log_dir(spark, path)
        if any(_CHECKPOINT.match(s.getPath().getName()) and int(s.getPath().getName()[:20]) == version
               for s in fs.listStatus(log)):
            return version, False
    delta_log.checkpoint(snapshot, none)
    if _last_checkpoint_version(spark, path) != version:
        raise PurgeError(f"{path}: the checkpoint at version {version} was not written")
    return version, True


def _remove_expired_log_files(spark: SparkSession, path: str, retention: dt.timedelta) -> int:
    """Delete the log files of versions below the newest checkpoint under which every log file is older than
    now - retention (never above ``_last_checkpoint``), oldest first. Returns how many."""
    last = _last_checkpoint_version(spark, path)
    if last is None:
        return 0
    fs, log = _log_dir(spark, path)
    cutoff_ms = (time.time() - retention.total_seconds()) * 1000
    files = []  # (version, status)
    checkpoints = set()
    for status in fs.listStatus(log):
        name = status.getPath().getName()
        for pattern in (_COMMIT, _CHECKSUM, _CHECKPOINT, _COMPACTED):
            match = pattern.match(name)
            if match:
                files.append((int(match.group(1)), status))
                if pattern is _CHECKPOINT:
                    checkpoints.add(int(match.group(1)))
                break
    files.sort(key=lambda f: (f[0], f[1].getPath().getName()))
    boundary = None
    for candidate in sorted((v for v in checkpoints if v <= last), reverse=True):
        if all(status.getModificationTime() < cutoff_ms for version, status in files if version < candidate):
            boundary = candidate
            break
    if boundary is None:
        return 0
    removed = 0
    for version, status in files:
        if version < boundary:
            fs.delete(status.getPath(), False)
            removed += 1
    return removed


# helpers --------------------------------------------------------------------------------------------------


def _detail(spark: SparkSession, path: str):
    from delta.tables import DeltaTable

    if not DeltaTable.isDeltaTable(spark, path):
        raise PurgeError(f"{path} is not a Delta table")
    return spark.sql(f"DESCRIBE DETAIL delta.`{_sql_path(path)}`").first()


def _log_dir(spark: SparkSession, path: str):
    jvm = spark._jvm
    log = jvm.org.apache.hadoop.fs.Path(path.rstrip("/") + "/_delta_log")
    return log.getFileSystem(spark._jsparkSession.sessionState().newHadoopConf()), log


def _last_checkpoint_version(spark: SparkSession, path: str) -> int | None:
    fs, log = _log_dir(spark, path)
    target = spark._jvm.org.apache.hadoop.fs.Path(log, "_last_checkpoint")
    if not fs.exists(target):
        return None
    stream = fs.open(target)
    try:
        text = spark._jvm.org.apache.commons.io.IOUtils.toString(stream, "UTF-8")
    finally:
        stream.close()
    try:
        return int(json.loads(text)["version"])
    except (ValueError, KeyError, TypeError):
        return None  # a half-written hint: the next checkpoint rewrites it


def _timedelta(retention: dt.timedelta | PrivacyRetention) -> dt.timedelta:
    return retention.retention if isinstance(retention, PrivacyRetention) else retention


def _hours(retention: dt.timedelta) -> float:
    return retention.total_seconds() / 3600


def _hours_literal(retention: dt.timedelta) -> str:
    return format(_hours(retention), ".6f").rstrip("0").rstrip(".")


def _sql_path(path: str) -> str:
    return path.replace("`", "``")


def _sql_string(value: str) -> str:
    return value.replace("\\", "\\\\").replace("'", "\\'")


# the whole lakehouse --------------------------------------------------------------------------------------


@dataclass(frozen=True)
class LakehousePurge:
    """What :func:`purge_lakehouse` did, table by table."""

    retention: dt.timedelta
    results: tuple[PurgeResult, ...]

    def summary(self) -> str:
        changed = [r for r in self.results if r.changed]
        files = sum(r.data_files + r.change_data_files + r.deletion_vector_files + r.rewritten_files for r in changed)
        logs = sum(r.log_files for r in changed)
        return (f"{len(self.results)} table(s) purged of what is older than {_hours(self.retention):g} h: "
                f"{files:,} data, change-data and deletion-vector file(s) and {logs:,} log file(s) removed "
                f"from {len(changed)} table(s)")


def purge_lakehouse(spark: SparkSession, lake, retention_hours: float, only: Iterable[str] | None = None,
                    workers: int = 2) -> LakehousePurge:
    """Give every table of the lakehouse (or ``only`` these) the privacy properties (statistics for its keys and
    dates, the retention) and purge it (:func:`purge_table`): what ``rcu privacy purge`` and every erasure run.

    ``workers`` tables are purged at a time, from driver threads: a VACUUM is mostly listing and Delta log work
    on the driver, which another table's tasks overlap. The session settings each purge changes are set once
    around them all, so the threads never undo each other's."""
    from concurrent.futures import ThreadPoolExecutor

    from spark_lib import tables

    retention = dt.timedelta(hours=retention_hours)
    names = list(only) if only is not None else [t for layer in tables.LAYERS for t in lake.tables(layer)]

    def purge(name: str) -> PurgeResult:
        table = tables.named(name)
        path = lake.path(table)
        apply_privacy_properties(spark, path, retention, stats_columns(lake.read(table).schema, table.keys))
        return purge_table(spark, path, retention)

    settings = {_VACUUM_LOGGING: "false"}
    if retention < _DELTA_SAFE_RETENTION:
        settings[_RETENTION_CHECK] = "false"
    if spark.conf.get(_LISTING_PARALLELISM, None) is None:
        settings[_LISTING_PARALLELISM] = str(max(2, spark.sparkContext.defaultParallelism * 4))
    with session_settings(spark, settings), ThreadPoolExecutor(max_workers=max(1, workers)) as pool:
        results = list(pool.map(purge, names))
    return LakehousePurge(retention, tuple(results))
