"""File-level checks: a delivered file that cannot be landed is quarantined as a file, with a reason and what to do.

A bad file (empty, header only, the wrong separator or encoding, a mapped column missing or retyped, cut
short, unreadable) must not stop the day: the other files land, and this one goes to ``bronze.file_quarantine``
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

from pyspark.sql.types import StructType

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
    if spec.format == "parquet":
        return _parquet_problem(head, tail)
    if not head.strip():
        return FileProblem(EMPTY, f"the file holds only blank lines ({size} bytes)")
    problem = _encoding_problem(spec, head)
    if problem:
        return problem
    if spec.format == "csv":
        return _csv_problem(spec, head, whole)
    return _json_problem(spec, tail)


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


def _csv_problem(spec: SourceSpec, head: bytes, whole: bool) -> FileProblem | None:
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
    if whole and len(rows) == 1:
        return FileProblem(HEADER_ONLY, f"the header line ({len(header)} columns) and no data row")
    return None


def _json_problem(spec: SourceSpec, tail: bytes) -> FileProblem | None:
    """A JSON-lines file whose last line is not JSON and has no line end was cut short (an interrupted export
    or transfer); a bad line inside the file is a row problem."""
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


def retyped_columns(reference: StructType, schema: StructType) -> list[str]:
    """``"name: old -> new"`` for each column of ``schema`` whose type differs from the same column in
    ``reference`` (the bronze table, or the delivery's first file): Delta cannot merge such a column."""
    # simpleString: the types without their nullability, which Delta merges
    known = {f.name: f.dataType.simpleString() for f in reference.fields}
    return [
        f"{field.name}: {known[field.name]} -> {field.dataType.simpleString()}"
        for field in schema.fields
        if field.name in known and known[field.name] != field.dataType.simpleString()
    ]
