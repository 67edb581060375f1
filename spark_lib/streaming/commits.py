"""The stream's small Delta commits, through delta-rs (the ``deltalake`` package) rather than Spark.

A micro-batch writes a few thousand rows to seven tables. Through Spark each such commit costs about a second on
a 2-core machine (a job, its planning and code generation, the log replay); delta-rs commits the same Arrow rows
in milliseconds, to the same Delta tables, which Spark (the batch, the tests, ``rcu stream --status``) reads as
before. The guarantees are Delta's own, as with Spark:

- :func:`append_once`: Delta's idempotent writes, the ``txn`` action of the protocol (``appId``, ``version``:
  Spark's ``txnAppId``/``txnVersion``; both engines read each other's): a replayed micro-batch appends nothing;
- :func:`insert_new`: an insert-only MERGE on the table's keys, atomic: a row already there is left alone.

Both are run again (:data:`CONFLICT_RETRIES` times) when another writer's commit conflicts with theirs (the batch's
standardisation merging the silver table the stream inserts into): each converges whatever was committed in between.

A table either function creates keeps per-file statistics for its keys and date columns only
(``delta.dataSkippingStatsColumns``, as :meth:`spark_lib.storage.Lakehouse.stats_option` does for Spark's):
no identifier in the transaction log's ``minValues``/``maxValues``.

Example::

    append_once(lake.path(tables.STREAM_EVENTS), rows, tables.STREAM_EVENTS, app_id=query_id, version=batch_id)
    inserted = insert_new(lake.path(tables.TRIGGER_EVENTS), fired, tables.TRIGGER_EVENTS.keys)
"""

from __future__ import annotations

from typing import Callable, Sequence, TypeVar

import pyarrow as pa
from deltalake import CommitProperties, DeltaTable, Transaction, write_deltalake
from deltalake.exceptions import CommitFailedError
from pyspark.sql.pandas.types import from_arrow_schema

from spark_lib.lock import retried_on_conflict
from spark_lib.privacy.purge import STATS_COLUMNS, stats_columns, stats_columns_property
from spark_lib.storage import CHANGE_DATA_FEED


class OpenTables:
    """Delta tables kept open between micro-batches: bringing one up to date reads only the commits since
    (opening it again replays its log from the last checkpoint: a tenth of a second once the stream has written a
    few dozen commits)."""

    def __init__(self):
        self._open: dict[str, DeltaTable] = {}

    def get(self, path: str) -> DeltaTable | None:
        """The Delta table at ``path`` at its latest version, None when there is none yet."""
        table = self._open.get(path)
        if table is not None:
            table.update_incremental()
            return table
        if not DeltaTable.is_deltatable(path):
            return None
        table = self._open[path] = DeltaTable(path)
        return table


#: the tables of this process (one stream per process)
OPEN_TABLES = OpenTables()


def _created(path: str, rows: pa.Table, keys: Sequence[str], commit: CommitProperties | None = None,
             change_feed: bool = False) -> None:
    """Create the table at ``path`` with ``rows``, statistics kept for ``keys`` and the date columns only, and
    with ``change_feed`` Delta's change data feed on."""
    configuration = {STATS_COLUMNS: stats_columns_property(stats_columns(from_arrow_schema(rows.schema), keys))}
    if change_feed:
        configuration[CHANGE_DATA_FEED] = "true"
    write_deltalake(path, rows, mode="append", configuration=configuration, commit_properties=commit)


#: how often a commit that another writer's conflicting commit made fail is tried again
CONFLICT_RETRIES = 5
T = TypeVar("T")


def retried(write: Callable[[], T]) -> T:
    """``write()``, called again after a pause when Delta refuses its commit for a conflicting concurrent one."""
    return retried_on_conflict(write, lambda error: isinstance(error, CommitFailedError), CONFLICT_RETRIES, 0.2)


def append_once(path: str, rows: pa.Table, keys: Sequence[str], app_id: str, version: int) -> bool:
    """Append ``rows`` unless the table already holds the append of (``app_id``, ``version``); True when
    appended. ``version`` grows from one write of ``app_id`` to the next (a micro-batch id). New columns are
    added to the table's schema. ``keys``: the statistics columns of a table this creates."""
    if not app_id:
        raise ValueError("'app_id' in append_once cannot be empty")
    commit = CommitProperties(app_transactions=[Transaction(app_id=app_id, version=version)])

    def append() -> bool:
        table = OPEN_TABLES.get(path)
        if table is None:
            _created(path, rows, keys, commit)
            return True
        done = table.transaction_version(app_id)
        if done is not None and done >= version:
            return False
        write_deltalake(table, rows, mode="append", schema_mode="merge", commit_properties=commit)
        return True

    return retried(append)


def insert_new(path: str, rows: pa.Table, keys: Sequence[str], change_feed: bool = False) -> int:
    """MERGE the rows whose ``keys`` are not in the table yet (insert only); returns how many were inserted.
    No commit when there are no rows. ``change_feed``: a table this creates keeps Delta's change data feed."""
    if not keys:
        raise ValueError("'keys' in insert_new cannot be empty")
    if rows.num_rows == 0:
        return 0
    on = " AND ".join(f"t.`{k}` = s.`{k}`" for k in keys)

    def insert() -> int:
        table = OPEN_TABLES.get(path)
        if table is None:
            _created(path, rows, keys, change_feed=change_feed)
            return rows.num_rows
        metrics = table.merge(rows, on, source_alias="s", target_alias="t").when_not_matched_insert_all().execute()
        return metrics["num_target_rows_inserted"]

    return retried(insert)
