"""File-level checks: a delivered file that cannot be landed is quarantined as a file, with a reason and what to do.

A bad file (empty, header only, the wrong separator, encoding or format, compressed, a column named twice,
a mapped column missing or retyped, cut short, unreadable, or the same bytes as a file already landed) must
not stop the day: the other files land, and this one goes to ``bronze.file_quarantine``
with a reason that says what is wrong and what to do. The checks read a few bytes of each file in plain
Python (no Spark job), before any file is read by Spark; what Spark still cannot read is quarantined by the
ingest job as ``unreadable``.

Example::

    problem = inspect_file(spec, "/data/raw/fid/adherents_2026-11-02.csv")
    problem.reason    # 'wrong separator'
    problem.detail    # "the header splits into 6 columns on ',' but into 1 on the configured ';'"
    problem.action    # 'ask for the export with ...'

The mapping decides between a bad file and a bad configuration: a mapped column that one file lacks while
the source's bronze table or another file of the delivery has it makes that file bad
(:func:`missing_column_problems`); a column no file has is a configuration error (a misspelt mapping).
"""

from __future__ import annotations

import codecs
import json
import os
from dataclasses import dataclass

import pyarrow.parquet as pq
from pyspark.sql.types import StructField, StructType

from spark_lib.config import SourceSpec
from spark_lib.sources.csv_rules import csv_rows
from spark_lib.sources.readers import SourceFileError, column_path, has_column, mapped_columns

EMPTY = "empty"
HEADER_ONLY = "header only"
WRONG_SEPARATOR = "wrong separator"
WRONG_ENCODING = "wrong encoding"
MISSING_COLUMN = "missing column"
RETYPED_COLUMN = "retyped column"
TRUNCATED = "truncated"
UNREADABLE = "unreadable"
WRONG_FORMAT = "wrong format"
COMPRESSED = "compressed"
DUPLICATE_COLUMN = "duplicate column"
DUPLICATE = "duplicate file"

#: what to do about each kind of bad file (the quarantine's ``action`` column)
ACTIONS = {
    EMPTY: "ask the sender for the file again (the export or the transfer produced no data)",
    HEADER_ONLY: "nothing to land; if rows were expected, ask the sender for the export again",
    WRONG_SEPARATOR: "ask for the export with the configured separator, or fix 'separator' in sources.yaml",
    WRONG_ENCODING: "ask for the export in the configured encoding, or fix 'encoding' in sources.yaml",
    MISSING_COLUMN: "ask for the export with every column of the source (or change the mapping in sources.yaml)",
    RETYPED_COLUMN: "ask for the export with the column's former type (a changed type cannot join the bronze table)",
    TRUNCATED: "the file was cut short in transfer: ask the sender for the complete file",
    UNREADABLE: "check the file by hand; ask the sender for a new export",
    WRONG_FORMAT: "ask for the export in the source's format (see 'format' in sources.yaml), not another document",
    COMPRESSED: "deliver the file uncompressed (CSV, JSON lines and Parquet files are read as they are)",
    DUPLICATE_COLUMN: "ask for the export with each column named once (which of the two to map cannot be guessed)",
    DUPLICATE: "nothing to land (its rows were taken from the first copy); if a new export was expected, ask for it",
}
#: how much of a file the checks read, from its start and from its end
HEAD_BYTES = 1 << 16
OTHER_SEPARATORS = (",", ";", "\t", "|")


@dataclass(frozen=True)
class FileProblem:
    """Why a file cannot be landed: a ``reason`` from the list above, a ``detail`` naming what was seen."""

    reason: str
    detail: str

    @property
    def action(self) -> str:
        return ACTIONS[self.reason]


def inspect_file(spec: SourceSpec, path: str) -> FileProblem | None:
    """The problem that keeps ``path`` from being read as a file of ``spec`` (None: nothing seen).

    Only the file's first and last bytes are read; problems inside a file are row-level (bronze.quarantine).
    """
    size = os.path.getsize(path)
    if size == 0:
        return FileProblem(EMPTY, "the file has 0 bytes")
    with open(path, "rb") as handle:
        head = handle.read(HEAD_BYTES)
        handle.seek(max(0, size - HEAD_BYTES))
        tail = handle.read()
    whole = size <= HEAD_BYTES
    problem = _format_problem(spec, head)
    if problem or spec.format == "parquet":
        return problem or _parquet_problem(head, tail)
    if not head.strip():
        return FileProblem(EMPTY, f"the file holds only blank lines ({size} bytes)")
    problem = _encoding_problem(spec, head)
    if problem:
        return problem
    if spec.format == "csv":
        return _csv_problem(spec, head, tail, whole)
    return _json_problem(spec, head, tail)


#: leading bytes of the documents that are delivered in place of an export, and what they are
_COMPRESSED = {b"\x1f\x8b": "gzip", b"BZh": "bzip2", b"\xfd7zXZ\x00": "xz", b"7z\xbc\xaf\x27\x1c": "7-Zip",
               b"\x28\xb5\x2f\xfd": "zstd", b"Rar!": "RAR"}
_DOCUMENTS = {b"\xd0\xcf\x11\xe0": "an Excel 97-2003 workbook (.xls) or another Office document",
              b"%PDF": "a PDF document", b"PAR1": "a Parquet file"}


def _format_problem(spec: SourceSpec, head: bytes) -> FileProblem | None:
    """Another kind of document than the source's format: an archive, a workbook, a PDF, a web page, JSON for
    CSV, CSV for Parquet... (told by its first bytes)."""
    for magic, name in _COMPRESSED.items():
        if head.startswith(magic):
            return FileProblem(COMPRESSED, f"the file is {name}-compressed")
    if head.startswith(b"PK\x03\x04"):
        if b"[Content_Types].xml" in head or b"xl/" in head:
            return _wrong_format(spec, "an Excel workbook (.xlsx)")
        if b"word/" in head or b"ppt/" in head:
            return _wrong_format(spec, "an Office document (.docx/.pptx)")
        return FileProblem(COMPRESSED, "the file is a zip archive")
    if spec.format == "parquet" and head.startswith(b"PAR1"):
        return None
    for magic, name in _DOCUMENTS.items():
        if head.startswith(magic):
            return _wrong_format(spec, name)
    text = head.lstrip(b"\xef\xbb\xbf \t\r\n")[:256].lower()
    if text.startswith((b"<!doctype html", b"<html", b"<head", b"<body")):
        return _wrong_format(spec, "an HTML page (often a server's error page saved in place of the export)")
    if text.startswith(b"<?xml"):
        return _wrong_format(spec, "an XML document")
    first_line = _shown(head.split(b"\n", 1)[0][:60])
    if spec.format == "parquet" and head[:1].isascii():
        looks = "JSON" if text.startswith((b"{", b"[")) else "text (CSV?)"
        return _wrong_format(spec, f"{looks}: {first_line}")
    if spec.format == "csv" and text.startswith((b"{", b"[")):
        return _wrong_format(spec, f"JSON, not CSV: {first_line}")
    return None


def _wrong_format(spec: SourceSpec, what: str) -> FileProblem:
    return FileProblem(WRONG_FORMAT, f"the file is {what}; the source reads {spec.format}")


def _shown(data: bytes) -> str:
    return repr(data.decode("utf-8", errors="replace"))


def _encoding_problem(spec: SourceSpec, head: bytes) -> FileProblem | None:
    """UTF-16/32 text (a byte-order mark, NUL bytes) in a source of another encoding, or a first line that
    does not decode. Later lines are left to the row checks: one line of garbage is not a wrong encoding."""
    encoding = spec.encoding.lower().replace("_", "-")
    first_line = head.split(b"\n", 1)[0]
    if not encoding.startswith(("utf-16", "utf-32")):
        if head.startswith((codecs.BOM_UTF16_LE, codecs.BOM_UTF16_BE)):
            return FileProblem(WRONG_ENCODING, f"the file starts with a UTF-16 byte-order mark; the source is "
                                               f"configured as {spec.encoding!r}")
        if b"\x00" in first_line:
            return FileProblem(WRONG_ENCODING, f"the first line holds NUL bytes (UTF-16 or UTF-32 text, or a binary "
                                               f"file); the source is configured as {spec.encoding!r}")
    try:
        codecs.getincrementaldecoder(spec.encoding)().decode(first_line, final=False)
    except UnicodeDecodeError as error:
        return FileProblem(WRONG_ENCODING, f"the first line does not decode as {spec.encoding!r} "
                                           f"(byte {error.start}: {first_line[error.start:error.start + 4]!r})")
    if encoding in _SINGLE_BYTE and not head.isascii() and _is_utf8(head):
        # every byte decodes in Windows-1252, so a UTF-8 export would land silently as "Ã©" for "é"
        return FileProblem(WRONG_ENCODING, f"the file is UTF-8 text (its accents would read as 'Ã©' in "
                                           f"{spec.encoding!r}); the source is configured as {spec.encoding!r}")
    return None


_SINGLE_BYTE = {"cp1252", "windows-1252", "iso-8859-1", "latin-1", "latin1", "iso-8859-15", "latin-9"}


def _is_utf8(data: bytes) -> bool:
    try:
        codecs.getincrementaldecoder("utf-8")().decode(data, final=False)
        return True
    except UnicodeDecodeError:
        return False


def _text(spec: SourceSpec, data: bytes) -> str:
    return codecs.getincrementaldecoder(spec.encoding)(errors="replace").decode(data, final=False).lstrip("\ufeff")


def _csv_problem(spec: SourceSpec, head: bytes, tail: bytes, whole: bool) -> FileProblem | None:
    text = _text(spec, head)
    if not whole and "\n" in text:
        text = text[: text.rindex("\n") + 1]
    rows = [row for row in csv_rows(text, spec.separator, spec.quote) if any(v.strip() for v in row)]
    if not spec.header:
        return None
    header = rows[0]
    if len(header) == 1:
        splits = {sep: len(next(csv_rows(text, sep, spec.quote))) for sep in OTHER_SEPARATORS if sep != spec.separator}
        sep, width = max(splits.items(), key=lambda item: item[1])
        if width > 1:
            return FileProblem(WRONG_SEPARATOR, f"the header splits into {width} columns on {sep!r} but into 1 on the "
                                                f"configured {spec.separator!r}")
    named = [c.strip().lower() for c in header if c.strip()]
    twice = sorted({c for c in named if named.count(c) > 1})
    if twice:
        return FileProblem(DUPLICATE_COLUMN, f"the header names {', '.join(map(repr, twice))} more than once")
    if whole and len(rows) == 1:
        return FileProblem(HEADER_ONLY, f"the header line ({len(header)} columns) and no data row")
    return _csv_truncated(spec, tail, len(header))


def _csv_truncated(spec: SourceSpec, tail: bytes, width: int) -> FileProblem | None:
    """A last line with no line end that stops inside a quoted field or short of the header's columns: the
    export or the transfer was cut (a short row inside the file is a row problem)."""
    if tail.endswith((b"\n", b"\r")) or b"\n" not in tail:
        return None
    last = _text(spec, tail.rsplit(b"\n", 1)[-1])
    if not last.strip():
        return None
    fields = next(csv_rows(last, spec.separator, spec.quote), [])
    if last.count(spec.quote) % 2 or len(fields) < width:
        return FileProblem(TRUNCATED, f"the last line ({len(last)} characters, no line end) stops after "
                                      f"{len(fields)} of {width} columns: ...{last[-60:]!r}")
    return None


#: how many of a JSON-lines file's first lines must all fail to parse for the file to be "not JSON lines"
JSON_PROBE_LINES = 5


def _json_problem(spec: SourceSpec, head: bytes, tail: bytes) -> FileProblem | None:
    """A JSON document (an array, a pretty-printed object) or no JSON at all where JSON lines are expected;
    a JSON-lines file whose last line is not JSON and has no line end was cut short (an interrupted export
    or transfer). A bad line inside the file is a row problem."""
    lines = [line for line in _text(spec, head).split("\n")[:-1] if line.strip()][:JSON_PROBE_LINES]
    if lines and lines[0].strip() in ("[", "{"):
        return _wrong_format(spec, "one JSON document (an array or an object over several lines), not JSON lines")
    if lines and not any(_is_json_object(line) for line in lines):
        return _wrong_format(spec, f"not JSON lines: none of its first {len(lines)} line(s) is a JSON object "
                                   f"({lines[0][:60]!r})")
    if tail.endswith(b"\n") or b"\n" not in tail and len(tail) >= HEAD_BYTES:
        return None
    last = tail.rsplit(b"\n", 1)[-1]
    if not last.strip():
        return None
    try:
        json.loads(_text(spec, last))
    except ValueError:
        shown = _text(spec, last[-60:])
        return FileProblem(TRUNCATED, f"the last line ({len(last)} bytes, no line end) is not complete JSON: "
                                      f"...{shown!r}")
    return None


def _is_json_object(line: str) -> bool:
    try:
        return isinstance(json.loads(line), dict)
    except ValueError:
        return False


def _parquet_problem(head: bytes, tail: bytes) -> FileProblem | None:
    if not head.startswith(b"PAR1"):
        return FileProblem(UNREADABLE, f"not a Parquet file (it starts with {head[:8]!r}, not b'PAR1')")
    if not tail.endswith(b"PAR1"):
        return FileProblem(TRUNCATED, "the Parquet footer is missing (the file does not end with b'PAR1')")
    return None


def missing_column_problems(schemas: dict[str, StructType], spec: SourceSpec,
                            bronze: StructType | None) -> tuple[dict[str, FileProblem], list[str]]:
    """(file -> problem, configuration errors) for the mapped columns missing from the files' ``schemas``.

    A file that lacks a mapped column the bronze table or another file has is a bad file; a mapped column
    that no file and not the bronze table has is an error of the mapping (the message names the key and the
    files): quarantining every file for it would hide a typo in sources.yaml.
    """
    problems: dict[str, FileProblem] = {}
    errors: list[str] = []
    for key, column in mapped_columns(spec):
        lacking = [path for path, schema in schemas.items() if not has_column(schema, spec, key, column)]
        if not lacking:
            continue
        if len(lacking) == len(schemas) and not (bronze is not None and has_column(bronze, spec, key, column)):
            try:
                column_path(schemas[lacking[0]], spec, key, column, ", ".join(lacking))
            except SourceFileError as error:
                errors.append(str(error))
            continue
        for path in lacking:
            if path not in problems:
                shown = ", ".join(schemas[path].fieldNames())
                problems[path] = FileProblem(MISSING_COLUMN, f"column {column!r} (sources.{spec.name}.{key}) is "
                                                             f"missing; the file has: {shown}")
    return problems, errors


def prevailing_types(schemas: dict[str, StructType]) -> StructType:
    """Each column with the type most rows of these Parquet files have (row counts from their footers): the
    types a first delivery sets for its bronze table, whatever order its files are listed in."""
    rows: dict[str, dict[str, int]] = {}
    fields: dict[tuple[str, str], StructField] = {}
    for path, schema in schemas.items():
        count = pq.read_metadata(path).num_rows
        for f in schema.fields:
            kind = f.dataType.simpleString()
            rows.setdefault(f.name, {}).setdefault(kind, 0)
            rows[f.name][kind] += count
            fields.setdefault((f.name, kind), f)
    return StructType([fields[(name, max(kinds, key=kinds.get))] for name, kinds in rows.items()])


def retyped_columns(reference: StructType, schema: StructType) -> list[str]:
    """``"name: old -> new"`` for each column of ``schema`` whose type differs from the same column in
    ``reference`` (the bronze table, or :func:`prevailing_types`): Delta cannot merge such a column."""
    # simpleString: the types without their nullability, which Delta merges
    known = {f.name: f.dataType.simpleString() for f in reference.fields}
    return [
        f"{field.name}: {known[field.name]} -> {field.dataType.simpleString()}"
        for field in schema.fields
        if field.name in known and known[field.name] != field.dataType.simpleString()
    ]
