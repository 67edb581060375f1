"""Delta tables read into Arrow without Spark (the ``deltalake`` package), deletion vectors honoured.

The package's pyarrow dataset (``DeltaTable.to_pyarrow_dataset``) reads no deletion vectors: it refuses a table
that has them. The lakehouse keeps them on the tables a daily run merges a few rows into
(:attr:`spark_lib.tables.Table.deletion_vectors`), so the readers that run without Spark (the access export, the
stream's memory) go through :func:`dataset`: a table with deletion vectors is read by delta-rs's DataFusion engine,
which applies them, in one pass over its current files; any other table as a pyarrow dataset, whose scans skip
files by their statistics.

Example::

    rows = dataset(DeltaTable(path)).to_table(filter=pc.field("customer_id") == "C1", columns=["record_key"])
"""

from __future__ import annotations

from typing import Sequence

import pyarrow as pa
import pyarrow.dataset as ds
from deltalake import DeltaTable, QueryBuilder


def has_deletion_vectors(table: DeltaTable) -> bool:
    """Whether the table's protocol lets its files carry deletion vectors (rows marked deleted)."""
    return "deletionVectors" in (table.protocol().reader_features or [])


def dataset(table: DeltaTable, columns: Sequence[str] | None = None) -> ds.Dataset:
    """The table's current rows as a pyarrow dataset, the rows its deletion vectors mark deleted left out.

    ``columns``: the columns the caller reads, those it filters on included (None: all). A table with deletion
    vectors gives a one-shot dataset (scanned once), its strings typed as the table's schema says (DataFusion
    returns string views, which some pyarrow kernels, ``is_in`` among them, do not take).
    """
    if not has_deletion_vectors(table):
        return table.to_pyarrow_dataset()
    schema = pa.schema(table.schema().to_arrow())
    if columns is not None:
        schema = pa.schema([schema.field(name) for name in columns])
    select = ", ".join('"' + name.replace('"', '""') + '"' for name in schema.names)
    stream = QueryBuilder().register("t", table).execute(f"SELECT {select} FROM t")
    return ds.dataset(pa.RecordBatchReader.from_stream(stream).cast(schema))
