"""What each step of ``rcu run-all`` last consumed, so that a step whose inputs have not changed is not re-run.

When a step ends, ``ops.run_state`` receives one row per input table: the step, the table, the Delta version
it read, and the fingerprint of what else decides its output (the configuration files, the code, the
matching champion). Before the step runs again, it is *up to date* when the fingerprint is the same and no
commit after the recorded version changed a row of any input (Delta's operation metrics tell a MERGE that
changed nothing from one that did; an OPTIMIZE or a VACUUM changes nothing). A step killed before its end
recorded nothing and runs again; a step downstream of it runs again only if its own inputs changed.

Example::

    state = RunState(lake)
    if not state.up_to_date("match", [tables.CUSTOMER_RECORDS], fingerprint):
        versions = state.versions([tables.CUSTOMER_RECORDS])     # read before the step runs
        match.run(ctx)
        state.record("match", versions, fingerprint)
"""

from __future__ import annotations

import hashlib
from pathlib import Path
from typing import Iterable, Mapping

from pyspark.sql import functions as F

from spark_lib.storage import Lakehouse

RUN_STATE = "ops.run_state"

#: Delta operation metrics that count changed rows, by operation (any other operation changes no row)
_ROW_CHANGES = {
    # Spark's metric names, then delta-rs's (the review page and the stream write with the deltalake package)
    "MERGE": ("numTargetRowsInserted", "numTargetRowsUpdated", "numTargetRowsDeleted",
              "num_target_rows_inserted", "num_target_rows_updated", "num_target_rows_deleted"),
    "WRITE": ("numOutputRows", "numRemovedFiles", "num_added_rows", "num_removed_files"),
    "CREATE TABLE AS SELECT": ("numOutputRows",),
    "REPLACE TABLE AS SELECT": ("numOutputRows", "numRemovedFiles"),
    "CREATE OR REPLACE TABLE AS SELECT": ("numOutputRows", "numRemovedFiles"),
    "DELETE": ("numDeletedRows", "numRemovedFiles", "num_deleted_rows", "num_removed_files"),
    "UPDATE": ("numUpdatedRows", "num_updated_rows"),
    "STREAMING UPDATE": ("numOutputRows", "numRemovedFiles"),
    "RESTORE": ("numRemovedFiles", "numRestoredFiles"),
    "TRUNCATE": ("numRemovedFiles",),
}


#: the columns of ops.run_state a step's up-to-date check reads
_RECORDED = ["step", "run_id", "input_table", "input_version", "fingerprint"]


class RunState:
    """``ops.run_state`` of one lakehouse (see the module docstring)."""

    def __init__(self, lake: Lakehouse):
        self.lake = lake

    def versions(self, inputs: Iterable[str]) -> dict[str, int | None]:
        """The current Delta version of each input table (None: the table does not exist)."""
        return {table: self.lake.version(table) for table in inputs}

    def up_to_date(self, step: str, inputs: Iterable[str], fingerprint: str) -> bool:
        """True when ``step`` last ended with this ``fingerprint`` and none of ``inputs`` changed since."""
        recorded = self._recorded(step)
        inputs = list(inputs)
        if not recorded or set(recorded) != set(inputs):
            return False
        if {fp for _, fp in recorded.values()} != {fingerprint}:
            return False
        return not any(self.changed_since(table, version) for table, (version, _) in recorded.items())

    def consumed(self, step: str, fingerprint: str) -> dict[str, int | None] | None:
        """The input versions ``step`` last read to its end under ``fingerprint`` (None: it never did, or under
        another fingerprint): what an incremental step takes the changes after."""
        recorded = self._recorded(step)
        if not recorded or {fp for _, fp in recorded.values()} != {fingerprint}:
            return None
        return {table: version for table, (version, _) in recorded.items()}

    def _recorded(self, step: str) -> dict[str, tuple[int | None, str]]:
        rows = [r for r in self.lake.small_table_rows(RUN_STATE, _RECORDED) or () if r["step"] == step]
        latest = max((r["run_id"] for r in rows), default=None)
        return {r["input_table"]: (r["input_version"], r["fingerprint"]) for r in rows if r["run_id"] == latest}

    def changed_since(self, table: str, version: int | None) -> bool:
        """Whether a commit after ``version`` of ``table`` changed a row (a table that appeared or vanished
        since counts as changed)."""
        current = self.lake.version(table)
        if version is None or current is None:
            return version != current
        if current == version:
            return False
        later = self.lake.delta_table(table).history().where(F.col("version") > version)
        for commit in later.select("operation", "operationMetrics").collect():
            metrics = commit.operationMetrics or {}
            counted = _ROW_CHANGES.get(commit.operation)
            if counted is None and commit.operation not in _NO_ROW_CHANGE:
                return True          # an operation not known here: assume it changed rows
            if any(int(metrics.get(name, "0") or 0) > 0 for name in counted or ()):
                return True
        return False

    def record(self, step: str, versions: Mapping[str, int | None], fingerprint: str) -> None:
        """``step`` ended having read ``versions`` (taken before it ran) under ``fingerprint``."""
        spark = self.lake.spark
        state = self.lake.read_or_none(RUN_STATE)
        run_id = (state.agg(F.max("run_id")).first()[0] or 0) + 1 if state is not None else 1
        rows = [(step, run_id, table, version, fingerprint) for table, version in versions.items()]
        df = spark.createDataFrame(
            rows, "step string, run_id long, input_table string, input_version long, fingerprint string"
        ).withColumn("finished_at", F.current_timestamp())
        self.lake.append(df, RUN_STATE)


#: operations that change no row of a table
_NO_ROW_CHANGE = {"OPTIMIZE", "VACUUM START", "VACUUM END", "SET TBLPROPERTIES", "UNSET TBLPROPERTIES",
                  "ADD COLUMNS", "CHANGE COLUMN", "ADD CONSTRAINT", "DROP CONSTRAINT", "FSCK",
                  "UPGRADE PROTOCOL", "CREATE TABLE", "CLONE", "ANALYZE STATS"}


def fingerprint(files: Iterable[str | Path], *extra: str) -> str:
    """A digest of the files' bytes (a missing file counts as absent) and of ``extra`` values."""
    digest = hashlib.sha256()
    for path in sorted(str(p) for p in files):
        digest.update(path.encode())
        file = Path(path)
        digest.update(file.read_bytes() if file.is_file() else b"<absent>")
    for value in extra:
        digest.update(b"\0" + value.encode())
    return digest.hexdigest()


def code_files() -> list[Path]:
    """The product's own code and resources: a change to any of them makes every step run again."""
    root = Path(__file__).resolve().parent.parent
    return sorted(p for folder in ("spark_lib", "jobs") for p in (root / folder).rglob("*")
                  if p.suffix in (".py", ".csv", ".yaml", ".json") and "__pycache__" not in p.parts)
