"""The raw landing files of erased people, rewritten without their rows (``rcu privacy erase --raw``).

A row is the person's when its record id (as ``<source>:<id>``) or one of its mapped identifiers (email, phone,
card, account, cookie, customer ref) hashes to one of the erasure's hashes: the same rule as bronze and the
suppression list (:func:`spark_lib.privacy.footprint.source_rows_held`). The other rows are written back as they
were: CSV with the source's separator, quote and encoding (RFC 4180, as every reader of the project), JSON lines
byte for byte, Parquet with its schema. Other formats (a spreadsheet export) are not rewritten: they are reported
for the user to handle.

Ingest takes a file by its name and content hash: the rewritten file's new hash is logged in
``bronze.ingestion_log`` (status ``rewritten``) *before* the file is replaced, so the next ingest does not take
it as a new delivery. Killed between the two, the old file stays; the next ``--raw`` rewrites it again.

Example::

    rewritten = rewrite_raw_file(Path("raw/crm/extraction_clients_part-0001.csv"), spec, hashes, key)
"""

from __future__ import annotations

import csv
import io
import json
import os
import tempfile
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Collection

from spark_lib.config import SourceSpec, row_value
from spark_lib.privacy.footprint import SOURCE_IDENTIFIERS
from spark_lib.privacy.identifiers import candidate_hashes, identifier_hash
from spark_lib.sources.readers import file_fingerprint

#: why a file was left as it was when none of its rows is the person's
NOTHING_HELD = "no row of the erased people in it"
#: formats this module rewrites
REWRITABLE = ("csv", "json", "parquet")


@dataclass(frozen=True)
class RawRewrite:
    path: str
    rows_kept: int
    rows_removed: int
    #: the rewritten file's content hash (None: not rewritten)
    new_hash: str | None
    #: why the file was left as it was (None: rewritten)
    left_because: str | None = None


def row_is_held(row: dict[str, Any], spec: SourceSpec, hashes: Collection[str], key: str, text: str | None = None) -> bool:
    """The row is the person's: its record id or a mapped identifier hashes into ``hashes``, or (``text``: the
    row as delivered) its text holds one of their identifiers wherever it is, as the verify scan reads it (a
    malformed row whose fields are shifted, an order number quoted in a call)."""
    if text is not None and not set(hashes).isdisjoint(candidate_hashes(text, key)):
        return True
    record_id = row_value(row, spec.record_id)
    candidates = [("id", f"{spec.name}:{str(record_id).strip()}")] if record_id not in (None, "") else []
    for canonical, column in spec.identity.items():
        kind = SOURCE_IDENTIFIERS.get(canonical)
        if kind is not None:
            candidates.append((kind, row_value(row, column)))
    return any(h in hashes for kind, value in candidates if (h := identifier_hash(kind, value, key)))


def rewrite_raw_file(path: Path, spec: SourceSpec, hashes: Collection[str], key: str, before_replace=None) -> RawRewrite:
    """Rewrite ``path`` (a file of ``spec``) without the rows held by ``hashes``. ``before_replace(new_hash,
    rows_kept)`` runs once the new content is written aside and before it replaces the file (ingest's log)."""
    if spec.format not in REWRITABLE:
        return RawRewrite(str(path), 0, 0, None, f"{spec.format} files are not rewritten: remove the rows by hand")
    rewrite = {"csv": _csv, "json": _json_lines, "parquet": _parquet}[spec.format]
    handle, temporary = tempfile.mkstemp(prefix=f".{path.name}.", dir=path.parent)
    os.close(handle)
    try:
        kept, removed = rewrite(path, Path(temporary), spec, hashes, key)
        if not removed:
            return RawRewrite(str(path), kept, 0, None, NOTHING_HELD)
        new_hash = file_fingerprint(temporary)
        if before_replace is not None:
            before_replace(new_hash, kept)
        os.replace(temporary, path)
        return RawRewrite(str(path), kept, removed, new_hash)
    finally:
        if os.path.exists(temporary):
            os.unlink(temporary)


def _csv(source: Path, target: Path, spec: SourceSpec, hashes, key) -> tuple[int, int]:
    text = source.read_bytes().decode(spec.encoding)
    newline = "\r\n" if "\r\n" in text[:65536] else "\n"
    reader = csv.reader(io.StringIO(text, newline=""), delimiter=spec.separator, quotechar=spec.quote)
    out = io.StringIO(newline="")
    writer = csv.writer(out, delimiter=spec.separator, quotechar=spec.quote, lineterminator=newline)
    header = next(reader, None) if spec.header else None
    if header is not None:
        writer.writerow(header)
    names = header or [f"_c{i}" for i in range(10_000)]
    kept = removed = 0
    for fields in reader:
        if row_is_held(dict(zip(names, fields)), spec, hashes, key, text=spec.separator.join(fields)):
            removed += 1
            continue
        writer.writerow(fields)
        kept += 1
    target.write_bytes(out.getvalue().encode(spec.encoding))
    return kept, removed


def _json_lines(source: Path, target: Path, spec: SourceSpec, hashes, key) -> tuple[int, int]:
    kept = removed = 0
    with open(source, "rb") as lines, open(target, "wb") as out:
        for line in lines:
            try:
                row = json.loads(line)
            except ValueError:
                row = None   # a line that is not JSON: only its text says whose it is
            text = line.decode("utf-8", "replace")
            if row_is_held(row if isinstance(row, dict) else {}, spec, hashes, key, text=text):
                removed += 1
                continue
            out.write(line)
            kept += 1
    return kept, removed


def _parquet(source: Path, target: Path, spec: SourceSpec, hashes, key) -> tuple[int, int]:
    import pyarrow as pa
    import pyarrow.parquet as pq

    table = pq.read_table(source)
    keep = [not row_is_held(row, spec, hashes, key, text=" ".join(map(str, row.values()))) for row in table.to_pylist()]
    pq.write_table(table.filter(pa.array(keep)), target)
    return sum(keep), len(keep) - sum(keep)
