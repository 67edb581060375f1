"""Erasure: delete a batch of people's rows from every table of the lakehouse, one rewrite per table.

Each table's rows are chosen by :func:`spark_lib.privacy.footprint.held_rows` and deleted by a MERGE on the
table's own keys (record keys, customer ids, file hashes): the transaction log records a join on columns,
never a person's value in a predicate. Id events that name an erased customer among the ids they merged or
split lose that id. What stays on disk afterwards (old files, change data, the log) is
:mod:`spark_lib.privacy.purge`'s business.

Example::

    removed = erase_rows(lake, footprint, key, specs)     # {"silver.customer_records": 12, ...}
"""

from __future__ import annotations

from typing import Mapping

from pyspark.sql import DataFrame
from pyspark.sql import functions as F

from spark_lib import tables
from spark_lib.config import SourceSpec
from spark_lib.privacy.footprint import OPS_PERSON_TABLES, Footprint, held_rows, quarantined_rows_held
from spark_lib.privacy.identifiers import hash_column
from spark_lib.sources.readers import column_path
from spark_lib.storage import Lakehouse

#: the layers whose tables hold people's rows (ops holds runs and the privacy log: hashes only; and the
#: steward's decisions, :data:`~spark_lib.privacy.footprint.OPS_PERSON_TABLES`, which name records)
ERASED_LAYERS = ("bronze", "silver", "gold")


def merge_keys(table: str, df: DataFrame, specs: Mapping[str, SourceSpec]) -> list[str]:
    """The columns a MERGE deletes ``table``'s chosen rows by (backquoted paths): the catalogue's keys, a
    source's file hash and record id for its bronze rows, a rejected line's file hash and text."""
    layer, _, entity = table.partition(".")
    if table == tables.QUARANTINE:
        return ["`file_hash`", "`raw_record`"]
    if layer == "bronze" and entity in specs:
        spec = specs[entity]
        record_id = ".".join(f"`{p}`" for p in column_path(df.schema, spec, "record_id", spec.record_id, spec.path))
        return ["`_file_hash`", record_id]
    keys = tables.named(table).keys
    if not keys:
        raise ValueError(f"{table}: no key to delete a person's rows by (add its keys to spark_lib.tables)")
    return [f"`{k}`" for k in keys]


def erase_rows(lake: Lakehouse, footprint: Footprint, key: str, specs: Mapping[str, SourceSpec],
               progress=print) -> dict[str, int]:
    """Delete the footprint's rows from every bronze, silver and gold table and from the steward's decisions
    (``ops.review_decisions``); table -> rows deleted (tables
    with none are not rewritten and get no new version). Idempotent: a second call deletes nothing."""
    removed: dict[str, int] = {}
    ops = [t for t in lake.tables("ops") if t in OPS_PERSON_TABLES]
    for table in [t for layer in ERASED_LAYERS for t in lake.tables(layer)] + ops:
        df = lake.read(table)
        if table == tables.QUARANTINE:
            doomed = quarantined_rows_held(df, footprint, key)
        else:
            held = held_rows(df, table, footprint, key, specs)
            if held is None:
                continue
            doomed = df.where(held).localCheckpoint()
        if doomed.isEmpty():
            continue
        removed[table] = lake.delete_keys(doomed, table, merge_keys(table, df, specs))
        progress(f"{table}: {removed[table]:,} row(s) erased")
    if lake.exists(tables.ID_EVENTS):
        mentions = forget_merged_ids(lake, footprint, key)
        if mentions:
            progress(f"{tables.ID_EVENTS}: erased customers taken out of {mentions:,} other customers' events")
    return removed


def forget_merged_ids(lake: Lakehouse, footprint: Footprint, key: str) -> int:
    """Take the erased customers' ids out of ``other_ids`` of the id events that remain (a merge or split of
    a customer who stays named them); returns the events rewritten."""
    events = lake.read(tables.ID_EVENTS)
    erased = sorted(footprint.customers)
    if not erased:
        return 0
    is_erased = lambda c: hash_column("id", c, key).isin(erased)  # noqa: E731
    touched = events.where(F.exists("other_ids", is_erased)).withColumn(
        "other_ids", F.filter("other_ids", lambda c: ~is_erased(c))).localCheckpoint()
    count = touched.count()
    if count:
        on = " AND ".join(f"t.{k} <=> s.{k}" for k in tables.ID_EVENTS.keys)
        (lake.delta_table(tables.ID_EVENTS).alias("t").merge(touched.alias("s"), on)
         .whenMatchedUpdate(set={"other_ids": "s.other_ids"}).execute())
    return count


def raw_files_held(lake: Lakehouse, footprint: Footprint, key: str, specs: Mapping[str, SourceSpec],
                   raw_dir: str) -> list[tuple[str, str]]:
    """(source, path) of the raw landing files whose rows (still in bronze) are the person's: listed for the
    user, who may have them rewritten (``rcu privacy erase --raw``). A file is found in the source's folder
    under ``raw_dir`` by its name and content hash (bronze's ``_file_hash``), so a raw folder moved since the
    files landed is still the one listed; a file no longer there is listed where it landed."""
    from spark_lib.sources.readers import file_fingerprint, list_files

    files: list[tuple[str, str]] = []
    for name, spec in specs.items():
        table = tables.bronze(name)
        if not lake.exists(table):
            continue
        df = lake.read(table)
        held = held_rows(df, table, footprint, key, specs)
        if held is None:
            continue
        landed = {(r._file_hash, r._source_file.removeprefix("file://").removeprefix("file:"))
                  for r in df.where(held).select("_file_hash", "_source_file").distinct().collect()}
        present = {}
        for path in list_files(spec, raw_dir) if landed else []:
            present.setdefault(path.rsplit("/", 1)[-1], []).append(path)
        for file_hash, path in sorted(landed):
            here = [p for p in present.get(path.rsplit("/", 1)[-1], []) if file_fingerprint(p) == file_hash]
            files.append((name, here[0] if here else path))
    return sorted(files)
