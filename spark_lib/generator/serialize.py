"""Write one part file of a source: CSV, JSON lines or Parquet, with a few malformed rows mixed in.

Lines are built column-wise with pyarrow compute and written straight from the Arrow buffer. Malformed rows
(for the quarantine tests) are extra rows: a CSV line with one field too many or too few, a JSON line cut short
or written with single quotes, or a row whose record id is empty. They carry ids no valid row has, so the
ground truth (valid rows only) is unaffected. No field ever holds a newline: one physical line per row.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import Callable

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.parquet as pq

from spark_lib.generator import render as r

MALFORMED_RATE = 0.001


@dataclass
class Part:
    """The rows of one source for one chunk, ready to be written."""

    source: str
    columns: dict[str, pa.Array]             # name -> values; "a.b" names become nested JSON objects
    record_id: str                            # column that identifies a record
    fresh_ids: Callable[[int], pa.Array]      # ids for malformed rows, never used by a valid row
    order: np.ndarray | None = None           # row order in the file (e.g. by time); None: as given
    first_part: bool = False
    malformed_rate: float = MALFORMED_RATE
    min_malformed: int = 0
    extra: dict = field(default_factory=dict)

    @property
    def n(self) -> int:
        return len(next(iter(self.columns.values())))


@dataclass(frozen=True)
class CsvFormat:
    separator: str
    encoding: str = "utf-8"
    quote_strings: bool = False


#: Where each source is written, relative to raw_dir (matches the globs of conf/sources.yaml),
#: and how: "csv" sources carry their CSV dialect.
SOURCE_FILES: dict[str, tuple[str, str, CsvFormat | None]] = {
    "eshop_accounts": ("eshop/comptes_clients", "csv", CsvFormat(";", "utf-8", quote_strings=True)),
    "eshop_orders": ("eshop/commandes", "jsonl", None),
    "web_events": ("web/navigation", "jsonl", None),
    "email_events": ("emailing/evenements_campagnes", "csv", CsvFormat(",", "utf-8")),
    "newsletter_signups": ("newsletter/inscriptions", "csv", CsvFormat(";", "utf-8")),
    "loyalty_members": ("fidelite/adherents", "csv", CsvFormat(";", "cp1252")),
    "pos_receipts": ("magasins/tickets", "parquet", None),
    "crm_customers": ("crm/extraction_clients", "csv", CsvFormat(";", "utf-8", quote_strings=True)),
    "call_centre": ("service_client/appels", "csv", CsvFormat(";", "utf-8")),
    "catalogue_mailings": ("courrier/envois_catalogue", "parquet", None),
    "store_customers": ("magasins/fichier_clients", "csv", CsvFormat(";", "cp1252")),
}


def write_part(rng: np.random.Generator, part: Part, path: Path) -> tuple[int, int]:
    """Write ``part`` to ``path`` in its source's format (:data:`SOURCE_FILES`); returns (rows, malformed rows)."""
    _, ext, csv_format = SOURCE_FILES[part.source]
    if ext == "csv":
        return write_csv(rng, part, path, csv_format)
    if ext == "jsonl":
        return write_jsonl(rng, part, path)
    return write_parquet(rng, part, path)


def _malformed_count(rng: np.random.Generator, part: Part) -> int:
    k = int(rng.binomial(part.n, part.malformed_rate)) if part.n else 0
    # the guaranteed malformed row goes in the first part of a source big enough to hide it (>= 50 rows)
    return max(k, part.min_malformed if part.first_part and part.n >= 50 else 0)


def skip_part(rng: np.random.Generator, part: Part, ext: str) -> tuple[int, int]:
    """What writing ``part`` as ``ext`` (csv, jsonl, parquet) would return, without writing it: (rows, malformed
    rows). It takes the same fresh ids for the malformed rows, so the run's id counters end where a run that
    writes the files leaves them."""
    k = _malformed_count(rng, part) if part.n else 0
    if k and ext != "parquet":
        part.fresh_ids(k)
    return part.n + k, k


def _sample_lines(rng: np.random.Generator, lines: pa.Array, k: int) -> list[str]:
    """``k`` random lines, without their newline."""
    return [line[:-1] for line in lines.take(pa.array(rng.integers(0, len(lines), k))).to_pylist()]


def _write_lines(rng: np.random.Generator, path: Path, header: str | None, lines: pa.Array, bad: list[str],
                 encoding: str = "utf-8") -> int:
    """Write ``lines`` (each ending with a newline) straight from the Arrow buffer, with ``bad`` lines inserted
    at random places; returns the number of lines written (header excluded)."""
    if isinstance(lines, pa.ChunkedArray):
        lines = lines.combine_chunks()
    n = len(lines)
    pieces: list = [] if header is None else [(header + "\n").encode("utf-8")]
    if n:
        offsets = np.frombuffer(lines.buffers()[1], dtype=np.int32)[lines.offset : lines.offset + n + 1]
        view = memoryview(lines.buffers()[2])
        prev = 0
        for at, line in zip(np.sort(rng.integers(0, n + 1, len(bad))), bad):
            pieces.append(view[int(offsets[prev]) : int(offsets[at])])
            pieces.append((line + "\n").encode("utf-8"))
            prev = at
        pieces.append(view[int(offsets[prev]) : int(offsets[n])])
    else:
        pieces += [(line + "\n").encode("utf-8") for line in bad]
    path.parent.mkdir(parents=True, exist_ok=True)
    with path.open("wb") as handle:
        if encoding.lower().replace("-", "").replace("_", "") in ("utf8",):
            for piece in pieces:
                handle.write(piece)
        else:
            handle.write(b"".join(pieces).decode("utf-8").encode(encoding, errors="replace"))
    return n + len(bad)


def _needs_escape(values: pa.Array, chars: str) -> bool:
    pattern = "[" + "".join("\\" + c if c in "\\]^-" else c for c in chars) + "]"
    return bool(pc.any(pc.match_substring_regex(values, pattern)).as_py())


# --------------------------------------------------------------------------------------------------
# CSV
# --------------------------------------------------------------------------------------------------


def _csv_field(values: pa.Array, fmt: CsvFormat) -> pa.Array:
    if pa.types.is_floating(values.type):
        text = pc.cast(pc.round(values, 2), r.STRING)
    elif not pa.types.is_string(values.type):
        text = pc.cast(values, r.STRING)
    else:
        text = values
        if _needs_escape(text, fmt.separator + '"\n\r'):
            text = pc.replace_substring_regex(text, r"[\r\n]", " ")
            text = pc.replace_substring(text, fmt.separator, " ")
            if not fmt.quote_strings:
                text = pc.replace_substring(text, '"', "'")
        if fmt.quote_strings:
            text = r.concat('"', pc.replace_substring(text, '"', '""'), '"')
    return pc.fill_null(text, "") if text.null_count else text


def write_csv(rng: np.random.Generator, part: Part, path: Path, fmt: CsvFormat) -> tuple[int, int]:
    """Write ``part`` as CSV; returns (rows written, malformed rows)."""
    names = list(part.columns)
    id_pos = names.index(part.record_id)
    columns = part.columns
    if part.order is not None:
        columns = {k: pc.take(v, part.order) for k, v in columns.items()}
    cols = [_csv_field(columns[c], fmt) for c in names]
    cols[-1] = r.concat(cols[-1], "\n")
    lines = pc.binary_join_element_wise(*cols, fmt.separator)
    k = _malformed_count(rng, part)
    bad: list[str] = []
    if k and len(lines):
        sample = _sample_lines(rng, lines, k)
        fresh = part.fresh_ids(k).to_pylist()
        kinds = rng.integers(0, 3, k)
        cut = rng.random(k)
        for line, new_id, kind, c in zip(sample, fresh, kinds, cut):
            fields = line.split(fmt.separator)
            quoted = f'"{new_id}"' if fmt.quote_strings else new_id
            if kind == 2:                       # the record id is missing
                fields[id_pos] = '""' if fmt.quote_strings else ""
                bad.append(fmt.separator.join(fields))
                continue
            fields[id_pos] = quoted
            if kind == 0 and fmt.quote_strings:  # a stray field (a column added by hand): one field too many
                j = int(c * len(fields))
                fields.insert(j, fields[j])
                bad.append(fmt.separator.join(fields))
            elif kind == 0:                     # an unescaped separator inside a text field: one field too many
                j = max(range(len(fields)), key=lambda i: len(fields[i]))
                text = fields[j]
                middle = max(1, len(text) // 2)
                fields[j] = text[:middle] + fmt.separator + text[middle:]
                bad.append(fmt.separator.join(fields))
            else:                               # the export stopped mid-line: fields missing
                keep = max(id_pos + 1, int(len(fields) * (0.3 + 0.5 * c)))
                keep = min(keep, len(fields) - 1)
                bad.append(fmt.separator.join(fields[:keep]))
    header = fmt.separator.join(f'"{c}"' if fmt.quote_strings else c for c in names)
    written = _write_lines(rng, path, header, lines, bad, fmt.encoding)
    return written, len(bad)


# --------------------------------------------------------------------------------------------------
# JSON lines
# --------------------------------------------------------------------------------------------------


def _json_value(values: pa.Array) -> pa.Array:
    if pa.types.is_string(values.type):
        text = values
        if _needs_escape(text, '"\\\n\r\t'):
            text = pc.replace_substring(text, "\\", "\\\\")
            text = pc.replace_substring(text, '"', '\\"')
            text = pc.replace_substring_regex(text, r"[\r\n\t]", " ")
        text = r.concat('"', text, '"')
    elif pa.types.is_floating(values.type):
        text = pc.cast(pc.round(values, 2), r.STRING)
    elif pa.types.is_boolean(values.type):
        text = pc.if_else(values, "true", "false")
    else:
        text = pc.cast(values, r.STRING)
    return pc.fill_null(text, "null") if text.null_count else text


def json_lines(columns: dict[str, pa.Array]) -> pa.Array:
    """One JSON object per row, newline included; ``"a.b"`` names are nested as ``{"a": {"b": ...}}``."""
    parts: list = []
    opened: str | None = None
    first = True
    for name, values in columns.items():
        group, _, key = name.partition(".")
        if key:
            if opened != group:
                if opened is not None:
                    parts.append("}")
                parts.append(("" if first else ",") + f'"{group}":{{')
                opened, inner_first = group, True
            parts.append(("" if inner_first else ",") + f'"{key}":')
            inner_first = False
        else:
            if opened is not None:
                parts.append("}")
                opened = None
            parts.append(("" if first else ",") + f'"{name}":')
        parts.append(_json_value(values))
        first = False
    if opened is not None:
        parts.append("}")
    parts.append("}\n")
    parts[0] = "{" + parts[0]
    # binary_join_element_wise needs at least one array; merge adjacent literals first
    merged: list = []
    for p in parts:
        if isinstance(p, str) and merged and isinstance(merged[-1], str):
            merged[-1] += p
        else:
            merged.append(p)
    return r.concat(*merged)


def write_jsonl(rng: np.random.Generator, part: Part, path: Path) -> tuple[int, int]:
    """Write ``part`` as JSON lines; returns (rows written, malformed rows)."""
    columns = part.columns
    if part.order is not None:
        columns = {k: pc.take(v, part.order) for k, v in columns.items()}
    lines = json_lines(columns)
    k = _malformed_count(rng, part)
    bad: list[str] = []
    if k and len(lines):
        sample = _sample_lines(rng, lines, k)
        fresh = part.fresh_ids(k).to_pylist()
        kinds = rng.integers(0, 3, k)
        cut = rng.random(k)
        key = part.record_id.split(".")[-1]
        pattern = re.compile(rf'"{re.escape(key)}":("[^"]*"|null)')
        for line, new_id, kind, c in zip(sample, fresh, kinds, cut):
            if kind == 2:                      # empty record id
                bad.append(pattern.sub(f'"{key}":""', line, count=1))
                continue
            line = pattern.sub(f'"{key}":"{new_id}"', line, count=1)
            if kind == 0:                      # cut short (the export was interrupted)
                bad.append(line[: max(10, int(len(line) * (0.3 + 0.5 * c)))])
            else:                              # a Python dict written instead of JSON
                bad.append(line.replace('"', "'").replace(":null", ":None"))
    written = _write_lines(rng, path, None, lines, bad)
    return written, len(bad)


# --------------------------------------------------------------------------------------------------
# Parquet
# --------------------------------------------------------------------------------------------------


def write_parquet(rng: np.random.Generator, part: Part, path: Path) -> tuple[int, int]:
    """Write ``part`` as Parquet; malformed rows are rows with a null record id."""
    table = pa.table(part.columns)
    if part.order is not None:
        table = table.take(pa.array(part.order))
    k = _malformed_count(rng, part)
    if k and table.num_rows:
        bad = table.take(pa.array(rng.integers(0, table.num_rows, k)))
        bad = bad.set_column(bad.schema.get_field_index(part.record_id), part.record_id,
                             pa.nulls(k, table.schema.field(part.record_id).type))
        at = np.sort(rng.integers(0, table.num_rows + 1, k))
        index = np.insert(np.arange(table.num_rows), at, np.arange(table.num_rows, table.num_rows + k))
        table = pa.concat_tables([table, bad]).take(pa.array(index))
    path.parent.mkdir(parents=True, exist_ok=True)
    pq.write_table(table, path, compression="snappy")
    return table.num_rows, k
