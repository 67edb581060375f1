"""Delta Lake storage: the one module that reads and writes tables.

Tables are named ``<layer>.<entity>`` (``bronze.loyalty_members``, ``silver.customer_records``) and live at
``<lakehouse_dir>/<layer>/<entity>``. Jobs call these functions; transformations never do I/O.

Example::

    lake = Lakehouse(spark, "lakehouse")
    lake.merge(df, tables.CUSTOMER_RECORDS, keys=["record_key"])
    lake.read(tables.CUSTOMER_RECORDS).count()
"""

from __future__ import annotations

import datetime as dt
import re
from dataclasses import dataclass
from pathlib import Path
from typing import Iterable, Sequence
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

import pyarrow as pa
from delta.tables import DeltaTable
from deltalake import DeltaTable as RustDeltaTable
from py4j.protocol import Py4JJavaError
from pyspark.sql import DataFrame, SparkSession
from pyspark.errors import AnalysisException, IllegalArgumentException
from pyspark.sql import functions as F

from spark_lib.lock import concurrent_write_error, retried_on_conflict
from spark_lib.privacy.purge import STATS_COLUMNS, parse_stats_columns, stats_columns, stats_columns_property
from spark_lib.session import job_description
from spark_lib.tables import Table

_TABLE_NAME = re.compile(r"^(bronze|silver|gold|ops)\.[a-z_][a-z0-9_]*$")
#: the table property that turns Delta's Change Data Feed on
CHANGE_DATA_FEED = "delta.enableChangeDataFeed"
#: the Change Data Feed's own columns besides ``_change_type``, and their types
_FEED_COLUMNS = {"_commit_version": "long", "_commit_timestamp": "timestamp"}
#: Delta operations that add no row to a table (an erasure's MERGE deletes, a purge vacuums)
_OPERATIONS_ADDING_NO_ROWS = frozenset({
    "DELETE", "MERGE", "VACUUM START", "VACUUM END", "OPTIMIZE", "SET TBLPROPERTIES", "UNSET TBLPROPERTIES",
    "ADD COLUMNS", "CHANGE COLUMN", "REORG",
})


class TableNameError(ValueError):
    """A table name is not ``<layer>.<entity>`` with layer bronze, silver, gold or ops."""


class TableNotFoundError(LookupError):
    """The table has not been written yet (run the step that produces it first)."""


#: how often a MERGE is run again when another writer committed to its table meanwhile and Delta refused it (the
#: stream inserting the day's events into the silver table the standardisation merges): a MERGE on its keys
#: converges whatever was committed in between
MERGE_CONFLICT_RETRIES = 4


#: a path on the local file system (no scheme, or file:), and the path without its scheme
_LOCAL_PATH = re.compile(r"^(?:file:(?://)?)?(/.*|[^:]*)$")

#: the name of a commit file of a Delta log: its version (20 digits)
_COMMIT_FILE = re.compile(r"^(\d{20})\.json$")

#: the tables this process has seen keep their change feed (a property stays once set: looked up once)
_FEED_KEPT: set[str] = set()


#: :func:`_logged_maximum` of a table whose files hold no value of the column
_NO_VALUE = object()


def _logged_maximum(path: str, column: str):
    """The largest ``column`` value the Delta log's per-file statistics give (a timezone-aware datetime for a
    timestamp), :data:`_NO_VALUE` when every file's values are all null (or there is no file), None when a file
    holding values has no statistics for the column (the caller scans)."""
    actions = pa.table(RustDeltaTable(path).get_add_actions(flatten=True))
    if not actions.num_rows:
        return _NO_VALUE
    names = (f"max.{column}", f"null_count.{column}", "num_records")
    if not set(names) <= set(actions.column_names):
        return None
    latest = None
    for maximum, nulls, rows in zip(*(actions.column(n).to_pylist() for n in names)):
        if maximum is None and (rows is None or nulls != rows):
            return None  # values without a maximum: no statistics
        if maximum is not None and (latest is None or maximum > latest):
            latest = maximum
    return _NO_VALUE if latest is None else latest


def _zone(name: str) -> ZoneInfo | None:
    """The session time zone Spark names (a region such as ``Europe/Paris``, or ``UTC``); None for one Python
    does not know by that name (an offset such as ``+01:00``)."""
    try:
        return ZoneInfo(name)
    except (ZoneInfoNotFoundError, ValueError):
        return None


@dataclass(frozen=True)
class Lakehouse:
    """A folder (or bucket) of Delta tables, one sub-folder per layer."""

    spark: SparkSession
    root: str

    def path(self, table: str) -> str:
        if not _TABLE_NAME.match(table):
            raise TableNameError(f"table name {table!r} is not '<bronze|silver|gold|ops>.<entity>' in snake_case")
        layer, entity = table.split(".")
        return f"{self.root.rstrip('/')}/{layer}/{entity}"

    def exists(self, table: str) -> bool:
        return DeltaTable.isDeltaTable(self.spark, self.path(table))

    def read(self, table: str, version: int | None = None) -> DataFrame:
        """The table, or with ``version`` the table as that Delta version left it (time travel)."""
        if not self.exists(table):
            raise TableNotFoundError(f"{table} does not exist at {self.path(table)}: run the step that writes it first")
        reader = self.spark.read.format("delta")
        if version is not None:
            reader = reader.option("versionAsOf", version)
        return reader.load(self.path(table))

    def version(self, table: str) -> int | None:
        """The table's current Delta version (None: no such table): its log's newest commit file, listed through
        Hadoop's file system (local disk or object store alike). Delta never cleans up its newest commit file;
        reading the version from the table's history instead ran a Spark query per table, about 0.13 s each once
        Spark is warm (39 tables of a 100k lakehouse: 4.9 s, against 0.09 s listed): the steps' up-to-date checks
        look up dozens."""
        commits = self.spark._jvm.org.apache.hadoop.fs.Path(f"{self.path(table)}/_delta_log/*.json")
        files = commits.getFileSystem(self.spark._jsc.hadoopConfiguration()).globStatus(commits)
        versions = [int(m.group(1)) for m in (_COMMIT_FILE.search(f.getPath().getName()) for f in files or ()) if m]
        return max(versions) if versions else None

    def read_or_none(self, table: str) -> DataFrame | None:
        return self.read(table) if self.exists(table) else None

    def _local_log(self, table: str, files: bool = False) -> RustDeltaTable | None:
        """The table's Delta log read with delta-rs when the lakehouse is on local disk (without its file list
        unless ``files``); None elsewhere (an object store, DBFS: delta-rs would look for credentials of its own),
        where the callers ask Spark."""
        local = _LOCAL_PATH.match(self.path(table))
        return None if local is None else RustDeltaTable(local.group(1), without_files=not files)

    def small_table_rows(self, table: str, columns: Sequence[str]) -> list[dict] | None:
        """The rows (their ``columns``) of a small operational table, such as the ingestion log or the run state;
        None when it does not exist. A local lakehouse's are read with delta-rs (the ``deltalake`` package): a
        process's first Spark query costs seconds (8.9 s, against 0.04 s with delta-rs, for a 100k-person
        lakehouse's ingestion log), and a run with nothing to do runs no other. Elsewhere (an object store, DBFS:
        delta-rs would look for credentials of its own) through Spark."""
        if self.version(table) is None:
            return None
        log = self._local_log(table, files=True)
        if log is None:
            return [row.asDict() for row in self.read(table).select(*columns).collect()]
        return log.to_pyarrow_table(columns=list(columns)).to_pylist()

    def latest_day(self, table: str, column: str) -> dt.date | None:
        """The day (in the session's time zone) of the latest value of ``table``'s timestamp ``column``; None when
        the table is missing or holds no value. A local lakehouse's is read from the maxima the Delta log keeps
        per data file (delta-rs; no data file opened), when every file has one for the column; otherwise a Spark
        aggregate scans the column (at 1M persons, activate's run date took 21-25 s so, 1.7 s from the log)."""
        if self.version(table) is None:
            return None
        local, zone = _LOCAL_PATH.match(self.path(table)), _zone(self.spark.conf.get("spark.sql.session.timeZone"))
        latest = _logged_maximum(local.group(1), column) if local and zone else None
        if latest is None:
            return self.read(table).agg(F.max(F.to_date(column))).first()[0]
        if latest is _NO_VALUE:
            return None
        return (latest.astimezone(zone) if latest.tzinfo else latest).date()  # a timestamp without time zone: as is

    def delta_table(self, table: str) -> DeltaTable:
        if not self.exists(table):
            raise TableNotFoundError(f"{table} does not exist at {self.path(table)}")
        return DeltaTable.forPath(self.spark, self.path(table))

    def _described(self, action: str, table: str):
        """Name the Spark jobs of a write after the table (Spark UI, event log, benchmarks/spark_profile.py)."""
        return job_description(self.spark, f"{action} {table}")

    def overwrite(self, df: DataFrame, table: str, partition_by: Sequence[str] = (), change_data_feed: bool = False) -> None:
        """Replace the table's content (and schema) atomically; readers see the old or the new version.

        ``change_data_feed``: the table keeps Delta's Change Data Feed on (``table_changes`` shows each change),
        as does a catalogued table whose ``change_feed`` says so. A table this creates keeps per-file statistics
        for its keys and dates only (:meth:`stats_option`).
        """
        change_data_feed = change_data_feed or getattr(table, "change_feed", False)
        existed = self.exists(table)
        writer = df.write.format("delta").mode("overwrite").option("overwriteSchema", "true")
        # A "delta." option on the write that creates a table becomes its property; on an existing table it is
        # ignored, and the table keeps its properties.
        writer = writer.option(STATS_COLUMNS, self.stats_option(df, table, partition_by))
        if change_data_feed:
            writer = writer.option(CHANGE_DATA_FEED, "true")
        if partition_by:
            writer = writer.partitionBy(*partition_by)
        stats_after = self._fit_stats_columns(df, table, partition_by) if existed else None
        with self._described("overwrite", table):
            writer.save(self.path(table))
        if stats_after is not None:
            self._set_stats_columns(table, stats_after)
        if existed and change_data_feed:
            self.enable_change_data_feed(table)

    @staticmethod
    def stats_option(df: DataFrame, table: str, partition_by: Sequence[str] = ()) -> str:
        """``delta.dataSkippingStatsColumns`` for a table ``df`` creates: its keys (when ``table`` is a
        :class:`spark_lib.tables.Table`) and its date and timestamp columns, so the transaction log holds no
        names, emails or phones as ``minValues``/``maxValues`` (see :mod:`spark_lib.privacy.purge`). Partition
        columns are left out: Delta keeps no statistics for them and refuses them in the property."""
        keys = table.keys if isinstance(table, Table) else ()
        partitions = {c.lower() for c in partition_by}
        return stats_columns_property([c for c in stats_columns(df.schema, keys) if c.lower() not in partitions])

    def _fit_stats_columns(self, df: DataFrame, table: str, partition_by: Sequence[str]) -> str | None:
        """Before an overwrite of an existing table whose statistics columns ``df`` lacks or partitions by (Delta
        refuses the write): narrow the property to the columns still valid; returns the value to set after the
        write (None: nothing to do)."""
        properties = self.properties(table)
        if STATS_COLUMNS not in properties:
            return None
        current = parse_stats_columns(properties[STATS_COLUMNS])
        names = {c.lower() for c in df.columns} - {c.lower() for c in partition_by}
        kept = [c for c in current if c.lower() in names]
        if len(kept) == len(current):
            return None
        self._set_stats_columns(table, stats_columns_property(kept))
        return self.stats_option(df, table, partition_by) if isinstance(table, Table) else stats_columns_property(kept)

    def properties(self, table: str) -> dict[str, str]:
        """The table's properties (``delta.enableChangeDataFeed``...). A local lakehouse's are read from the Delta
        log with delta-rs: Spark's ``DESCRIBE DETAIL`` also adds up the size of every file, a Spark job per table
        (a 100k-person day's standardise: 16 s of its six tables' threads)."""
        log = self._local_log(table)
        if log is None:
            return self.delta_table(table).detail().select("properties").first()["properties"] or {}
        return dict(log.metadata().configuration)

    def _set_stats_columns(self, table: str, value: str) -> None:
        properties = self.properties(table)
        if properties.get(STATS_COLUMNS) != value:
            self.spark.sql(f"ALTER TABLE delta.`{self.path(table)}` SET TBLPROPERTIES ('{STATS_COLUMNS}' = '{value}')")

    def _keep_change_feed(self, table: str) -> None:
        """Turn the change feed on for a catalogued table that keeps one (``Table.change_feed``) and was written
        before it did: its changes are readable from the next commit on."""
        if getattr(table, "change_feed", False) and self.path(table) not in _FEED_KEPT:
            self.enable_change_data_feed(table)
            _FEED_KEPT.add(self.path(table))

    def enable_change_data_feed(self, table: str) -> None:
        """Turn Delta's Change Data Feed on for ``table`` (nothing to do when it is on)."""
        if self.properties(table).get(CHANGE_DATA_FEED) != "true":
            self.spark.sql(f"ALTER TABLE delta.`{self.path(table)}` SET TBLPROPERTIES ({CHANGE_DATA_FEED} = true)")

    def changes(self, table: str, after: int | None, columns: Sequence[str], until: int | None = None
                ) -> DataFrame | None:
        """The rows of ``table`` its commits after version ``after`` (None: every commit) and up to ``until``
        (None: the latest) inserted, updated or deleted, from Delta's Change Data Feed: ``columns`` (the table's,
        and the feed's ``_commit_version`` and ``_commit_timestamp`` if wanted) and ``_change_type`` (``insert``,
        ``update_preimage``, ``update_postimage``, ``delete``: a row changed shows before and after), materialised.

        None when the feed cannot tell: no such table, a feed turned on after ``after`` (a lakehouse written
        before the table kept it) or files a purge removed; the caller then reads the whole table.
        """
        latest = self.version(table) if until is None else until
        if latest is None or not self.exists(table):
            return None
        start = 0 if after is None else after + 1
        if start > latest:
            empty = [F.lit(None).cast(_FEED_COLUMNS[c]).alias(c) if c in _FEED_COLUMNS else c for c in columns]
            return self.read(table).select(*empty, F.lit("insert").alias("_change_type")).limit(0)
        reader = (self.spark.read.format("delta").option("readChangeFeed", "true")
                  .option("startingVersion", start).option("endingVersion", latest))
        try:
            with self._described("read the changes of", table):
                return reader.load(self.path(table)).select(*columns, "_change_type").localCheckpoint()
        except (AnalysisException, IllegalArgumentException, Py4JJavaError):
            return None

    def apply_changes(self, changes: DataFrame, table: str, keys: Sequence[str], *, deleted: str, unchanged_when: str) -> dict[str, int]:
        """MERGE a change set into ``table`` on ``keys`` and return Delta's operation metrics.

        ``changes`` holds only the rows that changed: those whose boolean column ``deleted`` is true are
        deleted, the others inserted or, unless ``unchanged_when`` (a SQL predicate on ``t`` and ``s``) holds,
        updated. The ``deleted`` column itself is not written. Delta rewrites every file holding a matched
        row, so a change set rather than the whole table keeps a small change cheap.
        """
        if not keys:
            raise ValueError("'keys' in apply_changes cannot be empty")
        if deleted not in changes.columns:
            raise ValueError(f"apply_changes: 'changes' lacks the deletion flag column {deleted!r}")
        self._keep_change_feed(table)
        with self._described("merge changes into", table):
            self._change_set_merge(changes, table, keys, deleted, unchanged_when).execute()
        return self.last_operation_metrics(table)

    def _change_set_merge(self, changes: DataFrame, table: str, keys: Sequence[str], deleted: str, unchanged_when: str):
        """The MERGE of :meth:`apply_changes`, not executed (:meth:`merge` adds clauses to it)."""
        on = " AND ".join(f"t.`{k}` <=> s.`{k}`" for k in keys)
        values = {c: f"s.`{c}`" for c in changes.columns if c != deleted}
        return (
            self.delta_table(table).alias("t").merge(changes.alias("s"), on)
            .whenMatchedDelete(condition=f"s.`{deleted}`")
            .whenMatchedUpdate(condition=f"NOT ({unchanged_when})", set=values)
            .whenNotMatchedInsert(condition=f"NOT s.`{deleted}`", values=values)
        )

    def append(self, df: DataFrame, table: str, note: str | None = None) -> None:
        """Append rows; new columns in ``df`` are added to the table's schema. ``note``: the commit's user
        metadata (ingest notes its batch id: :meth:`committed_notes`)."""
        with self._described("append", table):
            writer = (
                df.write.format("delta").mode("append").option("mergeSchema", "true")
                .option(STATS_COLUMNS, self.stats_option(df, table))  # a property only if this creates the table
            )
            if note is not None:
                writer = writer.option("userMetadata", note)
            writer.save(self.path(table))

    def committed_notes(self, table: str, since: int) -> set[str] | None:
        """The notes (user metadata) of the writes committed to ``table`` after version ``since``, read from its
        transaction log alone; None when the log cannot tell: a write without a note, an operation that may add
        rows other than a write (a RESTORE), or log entries already cleaned up."""
        commits = (self.delta_table(table).history().where(F.col("version") > since)
                   .select("version", "operation", "userMetadata").collect())
        if commits and min(c.version for c in commits) != since + 1:
            return None
        notes = set()
        for commit in commits:
            if commit.operation == "WRITE" and commit.userMetadata:
                notes.add(commit.userMetadata)
            elif commit.operation not in _OPERATIONS_ADDING_NO_ROWS:
                return None
        return notes

    def append_new(self, df: DataFrame, table: str, keys: Sequence[str]) -> int:
        """Append the rows of ``df`` whose ``keys`` (null-safe, arrays compared whole) are not in the table yet;
        returns how many. A re-run that finds the same rows appends nothing and commits no new version.

        Example: ``lake.append_new(splits, tables.CLUSTER_SPLITS, keys=tables.CLUSTER_SPLITS.keys)``.
        """
        if not keys:
            raise ValueError("'keys' in append_new cannot be empty")
        if self.exists(table):
            logged = self.read(table).select(*keys).distinct()
            same = [df[k].eqNullSafe(logged[k]) for k in keys]
            condition = same[0]
            for part in same[1:]:
                condition = condition & part
            df = df.join(logged, condition, "left_anti")
        new = df.localCheckpoint()  # computed once: counted, then written
        count = new.count()
        if count:
            self.append(new, table)
        return count

    def append_once(self, df: DataFrame, table: str, app_id: str, version: int) -> None:
        """Append ``df`` unless this table already holds the append of (``app_id``, ``version``): Delta's
        idempotent writes (``txnAppId``/``txnVersion``), so a stream's micro-batch replayed after a kill appends
        nothing twice. ``version`` must grow from one write of ``app_id`` to the next (a micro-batch id).

        Example: ``lake.append_once(rows, tables.STREAM_EVENTS, app_id=query_id, version=batch_id)``.
        """
        if not app_id:
            raise ValueError("'app_id' in append_once cannot be empty")
        with self._described("append once to", table):
            (
                df.write.format("delta").mode("append").option("mergeSchema", "true")
                .option("txnAppId", app_id).option("txnVersion", version)
                .option(STATS_COLUMNS, self.stats_option(df, table))  # a property only if this creates the table
                .save(self.path(table))
            )

    def insert_new(self, df: DataFrame, table: str, keys: Sequence[str]) -> int:
        """MERGE the rows of ``df`` whose ``keys`` are not in the table yet (insert only: a row already there is
        left as it is, whatever its other columns); returns how many were inserted. Atomic, unlike
        :meth:`append_new`: what a replayed micro-batch inserted before is found by the MERGE itself."""
        if not keys:
            raise ValueError("'keys' in insert_new cannot be empty")
        if not self.exists(table):
            self.overwrite(df, table)
            return self.last_operation_metrics(table).get("num_output_rows", 0)
        on = " AND ".join(f"t.`{k}` <=> s.`{k}`" for k in keys)
        with self._described("insert new rows into", table):
            self.delta_table(table).alias("t").merge(df.alias("s"), on).whenNotMatchedInsertAll().execute()
        return self.last_operation_metrics(table).get("num_target_rows_inserted", 0)

    def replace_where(self, df: DataFrame, table: str, condition: str, note: str | None = None) -> None:
        """Atomically replace the rows matching ``condition`` with ``df`` (idempotent re-loads); ``note`` as in
        :meth:`append`."""
        if not self.exists(table):
            self.append(df, table, note)
            return
        with self._described("replace rows of", table):
            writer = df.write.format("delta").mode("overwrite").option("replaceWhere", condition).option("mergeSchema", "true")
            if note is not None:
                writer = writer.option("userMetadata", note)
            writer.save(self.path(table))

    def merge(
        self,
        df: DataFrame,
        table: str,
        keys: Sequence[str],
        compare_columns: Iterable[str] | None = None,
        delete_missing_condition: str | None = None,
        delete: DataFrame | None = None,
    ) -> dict[str, int]:
        """Upsert ``df`` into ``table`` on ``keys``: re-runs converge to the same content.

        Rows whose ``compare_columns`` (default: every non-key column) are unchanged are not rewritten, so
        Delta's change feed only shows real changes. With ``delete_missing_condition`` (a SQL predicate on
        the target, alias ``t``), target rows matching it that are absent from ``df`` are deleted. ``delete``
        (rows holding ``keys``): the rows of those keys leave the table, and those of ``df`` are not written,
        in the same commit (Delta rewrites each file holding a changed row once, not once per operation).
        Returns Delta's operation metrics (rows inserted, updated, deleted).
        """
        if not keys:
            raise ValueError("'keys' in merge cannot be empty")
        gone = None
        if delete is not None:
            gone = delete.select(*keys).distinct()
            df = df.join(gone, list(keys), "left_anti")
        if not self.exists(table):
            self.overwrite(df, table)
            # The rows written, from the commit's metrics: counting df would compute it a second time.
            written = self.last_operation_metrics(table).get("num_output_rows", 0)
            return {"num_target_rows_inserted": written, "num_target_rows_updated": 0, "num_target_rows_deleted": 0}
        self._keep_change_feed(table)
        compare = [c for c in (compare_columns or df.columns) if c not in keys]
        on = " AND ".join(f"t.`{k}` <=> s.`{k}`" for k in keys)
        changed = " OR ".join(f"NOT (t.`{c}` <=> s.`{c}`)" for c in compare) or "false"

        def merge() -> None:
            if gone is None:
                builder = (
                    self.delta_table(table)
                    .alias("t")
                    .merge(df.alias("s"), on)
                    .whenMatchedUpdateAll(condition=changed)
                    .whenNotMatchedInsertAll()
                )
            else:
                builder = self._change_set_merge(with_deletion_flag(df, gone, "_delete"), table, keys, "_delete",
                                                 unchanged_when=f"NOT ({changed})")
            if delete_missing_condition:
                builder = builder.whenNotMatchedBySourceDelete(condition=delete_missing_condition)
            with self._described("merge into", table):
                builder.execute()

        # Delta's conflicts reach Python as Py4J errors, which concurrent_write_error recognises
        retried_on_conflict(merge, lambda error: concurrent_write_error(error) is not None, MERGE_CONFLICT_RETRIES, 1.0)
        return self.last_operation_metrics(table)

    def delete_keys(self, keys_df: DataFrame, table: str, keys: Sequence[str]) -> int:
        """Delete the rows of ``table`` whose ``keys`` (column paths, compared null-safe) are those of a row of
        ``keys_df`` (same column paths); returns how many. One MERGE: the transaction log records the join
        columns, not the values, so deleting a person's rows writes none of their values in the log."""
        if not keys:
            raise ValueError("'keys' in delete_keys cannot be empty")
        source = keys_df.select(*[F.col(k).alias(f"_k{i}") for i, k in enumerate(keys)]).distinct()
        on = " AND ".join(f"t.{k} <=> s._k{i}" for i, k in enumerate(keys))
        with self._described("delete rows of", table):
            self.delta_table(table).alias("t").merge(source.alias("s"), on).whenMatchedDelete().execute()
        return self.last_operation_metrics(table).get("num_target_rows_deleted", 0)

    def last_operation_metrics(self, table: str) -> dict[str, int]:
        """The metrics of the table's latest commit (rows inserted, updated, deleted, written). A local lakehouse's
        are read from the Delta log with delta-rs; Delta's history is a Spark query (every write reports its rows)."""
        log = self._local_log(table)
        if log is None:
            metrics = self.delta_table(table).history(1).select("operationMetrics").first()["operationMetrics"] or {}
        else:
            metrics = log.history(1)[0].get("operationMetrics") or {}
        wanted = {
            "numTargetRowsInserted": "num_target_rows_inserted",
            "numTargetRowsUpdated": "num_target_rows_updated",
            "numTargetRowsDeleted": "num_target_rows_deleted",
            "numOutputRows": "num_output_rows",
        }
        return {name: int(metrics[key]) for key, name in wanted.items() if key in metrics}

    def tables(self, layer: str) -> list[str]:
        """Names of the Delta tables of one layer (local lakehouses only; used by reports and tests)."""
        folder = Path(self.root) / layer
        if not folder.is_dir():
            return []
        return sorted(f"{layer}.{p.name}" for p in folder.iterdir() if (p / "_delta_log").is_dir())

    def register_catalog(self, layers: Iterable[str] = ("bronze", "silver", "gold")) -> None:
        """Expose the tables in the session catalog, so notebooks can ``spark.table('gold.customer')``."""
        for layer in layers:
            self.spark.sql(f"CREATE DATABASE IF NOT EXISTS {layer}")
            for table in self.tables(layer):
                self.spark.sql(
                    f"CREATE TABLE IF NOT EXISTS {table} USING DELTA LOCATION '{Path(self.path(table)).resolve()}'"
                )


def with_deletion_flag(rows: DataFrame, gone: DataFrame, flag: str) -> DataFrame:
    """``rows`` flagged ``flag = false``, and one row per key of ``gone`` (the key columns alone) flagged true,
    its other columns null: a MERGE source that upserts the first and deletes the second (:meth:`Lakehouse.merge`,
    :meth:`Lakehouse.apply_changes`)."""
    doomed = gone.select(*(F.col(f.name) if f.name in gone.columns else F.lit(None).cast(f.dataType).alias(f.name)
                           for f in rows.schema.fields), F.lit(True).alias(flag))
    return rows.withColumn(flag, F.lit(False)).unionByName(doomed)


def with_literal_columns(df: DataFrame, **values) -> DataFrame:
    """Add constant columns (metadata such as the batch id) in one projection."""
    return df.select("*", *[F.lit(v).alias(k) for k, v in values.items()])
