"""The engine of ``rcu privacy verify``: scan every file under some folders for a person's identifiers.

An erasure is proved by looking at what is physically stored, not at what the tables say: every file under the
given roots (a Delta lakehouse with its old versions, change data and transaction log, an MLflow store, a
reports folder, raw landing files) is read and each value it holds is compared with the person's identifiers.
Those are never known in clear, only as keyed hashes (:mod:`spark_lib.privacy.identifiers`): a *hit* is a
stored value one of whose :func:`~spark_lib.privacy.identifiers.candidate_hashes` is in the request's hashes.

How each file is read (decided by its first bytes, then its name):

- Parquet (Delta data files, ``_change_data/``, checkpoints, sidecars): every column, nested struct, list and
  map fields included (location ``column shipping.phone``); the unique values of each string, binary and
  integer column; strings that are JSON (a checkpoint's ``add.stats``) parsed and walked (``column
  add.stats.minValues.email``); the footer's row group min/max statistics (``statistics of column email``)
  and key-value metadata;
- the Delta transaction log (every non-Parquet file under ``_delta_log/``: commits, ``.crc``,
  ``_last_checkpoint``, JSON checkpoints, staged commits, sidecars): JSON lines, every key and value walked,
  JSON strings parsed (``line 3: add.stats.minValues.email``);
- deletion vectors (``deletion_vector_*.bin``): row positions only, counted as scanned, no value to check;
- SQLite databases (MLflow's ``mlflow.db``): every column of every table (``table runs, column name``);
- gzip, bzip2, xz and zstd files: decompressed and read as text lines; zip files (``.xlsx``...): each
  member read as text lines (``member xl/sharedStrings.xml, line 2``);
- anything else (CSV, JSON lines, HTML, YAML, pickles...): text lines, decoded as UTF-8 and, for a line that
  is not valid UTF-8, also as cp1252 (``line 40``); UTF-16 text (a BOM) decoded as such. Files are streamed:
  a file of any size is read line by line, a very long line in overlapping pieces.

Values are checked once per column chunk (Parquet's unique values, SQLite's distinct ones) and each value's
result is remembered for the rest of the scan: a Delta table's versions repeat most values. Measured on the
10,000-person benchmark folder (146 MB, 1,320 files: a lakehouse whose Parquet files hold 2.3 million rows
over all table versions, raw files, MLflow, reports), one process scans about 6.5 MB or 100,000 Parquet rows
per CPU second (the lakehouse alone: 170,000 rows per second; text: 20,000 to 40,000 lines per second).
``workers=N`` spreads the files over N processes.

A file that cannot be read as its kind (a corrupt Parquet file, a truncated gzip) is listed in
:attr:`ScanReport.skipped` with the reason, never silently ignored; its raw bytes are still scanned as text
lines (``raw bytes, line 7``) so that values stored uncompressed are found anyway. Files that cannot be
opened, broken links, pipes and devices (never opened) are listed there too. Folders reached through symbolic
links are scanned, once. The lakehouse's privacy key file (``ops/_privacy_key``) is never read.

Not read: Parquet page indexes and bloom filters (pyarrow does not expose them; a page index only repeats,
truncated, values of the pages, which are read), and formats other than the above (ORC, Avro, a zip inside a
zip), whose bytes are scanned as text lines: only values they store uncompressed are found.

Example::

    key = lakehouse_key("lakehouse")
    hashes = {identifier_hash("email", "jean.dupont@gmail.com", key): "email",
              identifier_hash("phone", "06 12 34 56 78", key): "phone"}
    report = scan(["lakehouse", "mlruns", "reports"], hashes, key)
    for hit in report.hits:
        print(hit.file, hit.location, hit.kind)
    # lakehouse/silver/contacts/part-00000-....snappy.parquet  column email  email
    # lakehouse/silver/contacts/_delta_log/00000000000000000002.json  line 3: add.stats.minValues.email  email
"""

from __future__ import annotations

import bz2
import codecs
import fnmatch
import functools
import gzip
import io
import json
import lzma
import multiprocessing
import os
import sqlite3
import stat
import zipfile
from concurrent.futures import ProcessPoolExecutor
from dataclasses import dataclass
from pathlib import Path
from typing import BinaryIO, Callable, Iterable, Iterator, Mapping

import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.parquet as pq

from spark_lib.privacy.identifiers import KEY_FILE, MIN_ID_LENGTH, candidate_hashes

#: a text line longer than this is scanned in pieces (bounded memory for a file without line breaks)
LINE_PIECE_BYTES = 1 << 20
#: bytes a piece of a long line repeats from the previous one, so that no value is cut in two
LINE_OVERLAP_BYTES = 512
#: values whose candidate hashes are remembered (values repeat across files and table versions); beyond this
#: many the memory is emptied and filled again
CACHE_LIMIT = 1_000_000
#: longer values are not remembered (nor text lines): they rarely come back
CACHED_VALUE_CHARS = 256

_SQLITE_MAGIC = b"SQLite format 3\x00"
_PARQUET_MAGIC = b"PAR1"
_ZIP_MAGICS = (b"PK\x03\x04", b"PK\x05\x06")
_HEAD_BYTES = 16


@dataclass(frozen=True)
class Hit:
    """One place where a person's identifier is stored."""

    #: path relative to the scanned root's parent, e.g. ``lakehouse/silver/contacts/part-0000.parquet``
    file: str
    #: where in the file: ``column email``, ``line 12: add.stats.minValues.email``, ``table runs, column name``
    location: str
    #: the kind label of the matched hash (``email``, ``phone``, ``id``)
    kind: str


@dataclass(frozen=True)
class ScanReport:
    """What a scan read and found."""

    files_scanned: int
    #: size on disk of the files scanned (a gzip file counts its compressed size)
    bytes_scanned: int
    hits: tuple[Hit, ...]
    #: ``(file, why)`` for each file, or part of a file, that could not be read as its kind
    skipped: tuple[tuple[str, str], ...]


def scan(roots: Iterable[str | os.PathLike], hashes: Mapping[str, str], key: str, *,
         ignore: Iterable[str] = (), workers: int = 1) -> ScanReport:
    """Scan every file under ``roots`` for the values whose keyed hash (made with ``key``) is in ``hashes``
    (hash -> kind label).

    ``ignore``: paths or globs to skip, relative to a root (``ops/run_state``) or prefixed with its name
    (``lakehouse/ops/*``); a folder pattern skips all it holds. The privacy key file is always skipped.
    ``workers``: processes scanning files side by side. One process (the default) remembers every value it
    checked across all files; more processes use more CPUs but each checks again what another has seen.
    They are started with ``spawn``: a script calling this with ``workers > 1`` needs the
    ``if __name__ == "__main__":`` guard."""
    files, skipped = _list_files([Path(root) for root in roots], tuple(ignore))
    if workers <= 1 or len(files) < 2:
        scanner = _Scanner(hashes, key)
        results = [scanner.scan_one(path, name) for path, name, _ in files]
    else:
        results = _scan_in_processes(files, hashes, key, workers)
    return ScanReport(
        files_scanned=sum(result.scanned for result in results),
        bytes_scanned=sum(result.size for result in results if result.scanned),
        hits=tuple(hit for result in results for hit in result.hits),
        skipped=tuple(skipped) + tuple(entry for result in results for entry in result.skipped))


_File = tuple[Path, str, int]   # path, name in hits, size


def _list_files(roots: list[Path], ignore: tuple[str, ...]) -> tuple[list[_File], list[tuple[str, str]]]:
    """``(path, name, size)`` of every file to scan, in a stable order (the name is the path under the root's
    parent), and ``(name, why)`` of the roots and folders that cannot be listed."""
    files: list[_File] = []
    skipped: list[tuple[str, str]] = []

    def add(path: Path, name: str) -> None:
        try:
            status = path.stat()
        except OSError as error:   # a broken symbolic link, a file removed meanwhile
            skipped.append((name, f"not readable: {error.strerror or error}"))
            return
        if stat.S_ISREG(status.st_mode):
            files.append((path, name, status.st_size))
        else:   # a pipe or a device: reading could block or never end
            skipped.append((name, "not a regular file"))

    for root in roots:
        if root.is_file():
            if not root.resolve().as_posix().endswith("/" + KEY_FILE):
                add(root, root.name)
            continue
        if not root.is_dir():
            skipped.append((root.name or str(root), "root folder not found"))
            continue

        def unreadable(error: OSError, root: Path = root) -> None:
            inside = Path(error.filename).relative_to(root).as_posix()
            skipped.append((f"{root.name}/{inside}", f"folder not readable: {error.strerror}"))

        seen: set[str] = set()   # folders reached through symbolic links are scanned once
        for folder, subfolders, names in os.walk(root, onerror=unreadable, followlinks=True):
            real = os.path.realpath(folder)
            if real in seen:
                subfolders.clear()
                continue
            seen.add(real)
            subfolders.sort()
            subfolders[:] = [d for d in subfolders
                             if not _ignored(Path(folder, d).relative_to(root).as_posix(), root.name, ignore)]
            for file_name in sorted(names):
                path = Path(folder, file_name)
                inside = path.relative_to(root).as_posix()
                if not _ignored(inside, root.name, ignore):
                    add(path, f"{root.name}/{inside}")
    return files, skipped


def _ignored(inside: str, root_name: str, ignore: tuple[str, ...]) -> bool:
    """Whether the path ``inside`` the root named ``root_name`` is to be skipped."""
    named = f"{root_name}/{inside}"
    if any(path == KEY_FILE or path.endswith("/" + KEY_FILE) for path in (inside, named)):
        return True
    for pattern in ignore:
        pattern = pattern.rstrip("/")
        for path in (inside, named):
            if fnmatch.fnmatchcase(path, pattern) or path.startswith(pattern + "/"):
                return True
    return False


def _scan_in_processes(files: list[_File], hashes: Mapping[str, str], key: str,
                       workers: int) -> list[_FileScan]:
    """Scan the files in ``workers`` processes, largest first (so that no big file is left for the end), and
    give their results in the files' order. Each process keeps its own memory of values already checked."""
    results: list[_FileScan | None] = [None] * len(files)
    by_size = sorted(range(len(files)), key=lambda index: -files[index][2])
    context = multiprocessing.get_context("spawn")   # no fork of a process holding Arrow's threads
    with ProcessPoolExecutor(workers, mp_context=context, initializer=_start_worker,
                             initargs=(dict(hashes), key)) as pool:
        futures = {pool.submit(_scan_in_worker, files[index][0], files[index][1]): index for index in by_size}
        for future, index in futures.items():
            results[index] = future.result()
    return results


_WORKER: _Scanner | None = None


def _start_worker(hashes: dict[str, str], key: str) -> None:
    global _WORKER
    _WORKER = _Scanner(hashes, key)


def _scan_in_worker(path: Path, name: str) -> _FileScan:
    return _WORKER.scan_one(path, name)


@dataclass(frozen=True)
class _FileScan:
    """What the scan of one file gave."""

    scanned: bool
    size: int
    hits: tuple[Hit, ...]
    skipped: tuple[tuple[str, str], ...]


class _Scanner:
    """A scanning process's state: the hashes sought, the memory of values already checked, what the file
    being scanned gave."""

    def __init__(self, hashes: Mapping[str, str], key: str):
        self.hashes = dict(hashes)
        self.key = key
        self.kinds_of: dict[str, tuple[str, ...]] = {}
        self.hits: dict[Hit, None] = {}   # an ordered set: the same place found twice is one hit
        self.skipped: list[tuple[str, str]] = []

    def scan_one(self, path: Path, name: str) -> _FileScan:
        """Scan one file (named ``name`` in hits) with the reader of its kind. A file that reader fails on is
        listed as skipped and its raw bytes are scanned as text lines."""
        self.hits, self.skipped = {}, []
        scanned, size = False, 0
        try:
            size = path.stat().st_size
            with open(path, "rb") as handle:
                head = handle.read(_HEAD_BYTES)
        except OSError as error:
            self.skipped.append((name, f"not readable: {error.strerror or error}"))
        else:
            kind, reader = self._reader_for(path, head)
            try:
                reader(path, name)
                scanned = True
            except Exception as error:  # noqa: BLE001 - any failure of a reader is reported, the scan goes on
                self.skipped.append((name, f"not readable as {kind} ({type(error).__name__}: {error}); its raw "
                                           "bytes were scanned as text"))
                self._scan_raw_bytes(path, name)
        return _FileScan(scanned, size, tuple(self.hits), tuple(self.skipped))

    def _reader_for(self, path: Path, head: bytes) -> tuple[str, Callable[[Path, str], None]]:
        """The kind of a file and its reader: by its first bytes, then its name."""
        if path.name.startswith("deletion_vector_") and path.suffix == ".bin":
            return "a deletion vector", self._scan_deletion_vector
        if head.startswith(_SQLITE_MAGIC):
            return "SQLite", self._scan_sqlite
        if head.startswith(_PARQUET_MAGIC) or path.suffix == ".parquet":
            return "Parquet", self._scan_parquet
        for magic, (kind, opener) in _COMPRESSED.items():
            if head.startswith(magic):
                return kind, functools.partial(self._scan_compressed, opener)
        if head.startswith(_ZIP_MAGICS):
            return "zip", self._scan_zip
        if "_delta_log" in path.parts:
            return "Delta log JSON lines", self._scan_delta_log
        return "text", self._scan_text

    # -- matching values ------------------------------------------------------------------------------------

    def kinds_in(self, text: str, remember: bool = True) -> tuple[str, ...]:
        """The kinds of the request's hashes that ``text`` could stand for (usually none). A short value is
        remembered (``remember``): values repeat across columns, files and table versions."""
        known = self.kinds_of.get(text)
        if known is not None:
            return known
        kinds = tuple(sorted({self.hashes[h] for h in candidate_hashes(text, self.key) if h in self.hashes}))
        if remember and len(text) <= CACHED_VALUE_CHARS:
            if len(self.kinds_of) >= CACHE_LIMIT:
                self.kinds_of.clear()
            self.kinds_of[text] = kinds
        return kinds

    def check(self, name: str, location: str, text: str, remember: bool = True) -> None:
        """Record a hit for each kind of identifier ``text`` could stand for."""
        for kind in self.kinds_in(text, remember):
            self.hits[Hit(name, location, kind)] = None

    def check_values(self, name: str, location: str, values: Iterable[object], separator: str) -> None:
        """:meth:`check_value` for many values of one place; a value already seen is settled by one look-up."""
        known = self.kinds_of
        for value in values:
            kinds = known.get(value) if isinstance(value, str) else None
            if kinds is None:
                self.check_value(name, location, value, separator)
            else:
                for kind in kinds:
                    self.hits[Hit(name, location, kind)] = None

    def check_value(self, name: str, location: str, value: object, separator: str) -> None:
        """Check a stored value: a string that is JSON is walked (its paths appended to ``location`` after
        ``separator``), other strings, bytes and integers are checked as text."""
        if isinstance(value, bytes):
            value = value.decode("utf-8", errors="replace")
        elif isinstance(value, int) and not isinstance(value, bool):
            value = str(value)
        if not isinstance(value, str):
            return
        if len(value.strip()) < MIN_ID_LENGTH:   # shorter than any identifier (the shortest email, "a@b.c")
            self.kinds_of[value] = ()
            return
        document = _json_document(value)
        if document is None:
            self.check(name, location, value)
        else:
            for path, leaf in _json_leaves(document):
                where = f"{location}{separator}{path}" if path else location
                self.check_value(name, where, leaf, ".")

    # -- Parquet ----------------------------------------------------------------------------------------------

    def _scan_parquet(self, path: Path, name: str) -> None:
        """The unique values of every column that can hold an identifier, one row group and one top-level
        column at a time (memory bounded by a column chunk), then the footer."""
        parquet = pq.ParquetFile(path)
        names = [field.name for field in parquet.schema_arrow]
        wanted = [field.name for field in parquet.schema_arrow if _can_hold_identifiers(field.type)]
        # a file whose top-level names repeat (not readable by name) is read whole, row group by row group
        selections = [[column] for column in wanted] if len(set(names)) == len(names) else [None]
        for group in range(parquet.metadata.num_row_groups):
            for selection in selections:
                table = parquet.read_row_group(group, columns=selection)
                for field_name, column in zip(table.column_names, table.columns):
                    for chunk in column.chunks:
                        for column_path, leaf in _leaf_arrays(field_name, chunk):
                            self.check_values(name, f"column {column_path}", _unique_values(leaf), ".")
        self._scan_parquet_footer(parquet, name)

    def _scan_parquet_footer(self, parquet: pq.ParquetFile, name: str) -> None:
        """Row group min/max statistics (they keep values of a column read otherwise) and key-value metadata."""
        metadata = parquet.metadata
        for group in range(metadata.num_row_groups):
            row_group = metadata.row_group(group)
            for index in range(row_group.num_columns):
                chunk = row_group.column(index)
                statistics = chunk.statistics
                if statistics is None or not statistics.has_min_max:
                    continue
                if chunk.physical_type not in ("BYTE_ARRAY", "FIXED_LEN_BYTE_ARRAY", "INT32", "INT64"):
                    continue
                for value in (statistics.min_raw, statistics.max_raw):
                    self.check_value(name, f"statistics of column {chunk.path_in_schema}", value, ".")
        for meta_key, meta_value in (metadata.metadata or {}).items():
            if meta_key != b"ARROW:schema":   # Arrow's schema, base64: column names and types only
                self.check_value(name, f"footer metadata {meta_key.decode('utf-8', 'replace')}", meta_value, ": ")

    # -- the Delta log, text, compressed files ------------------------------------------------------------

    def _scan_delta_log(self, path: Path, name: str) -> None:
        """JSON lines: every key and value walked; a line that is not JSON is scanned as text."""
        with open(path, "rb") as handle:
            for number, raw in _numbered_lines(handle):
                text = raw.decode("utf-8", errors="replace")
                document = _json_document(text)
                if document is None:
                    self._check_line(name, f"line {number}", raw)
                    continue
                for json_path, leaf in _json_leaves(document):
                    self.check_value(name, f"line {number}: {json_path}", leaf, ".")

    def _scan_text(self, path: Path, name: str) -> None:
        with open(path, "rb") as handle:
            self._scan_lines(handle, name, "")

    def _scan_compressed(self, opener: Callable[[Path], BinaryIO], path: Path, name: str) -> None:
        with opener(path) as handle:
            self._scan_lines(handle, name, "")

    def _scan_zip(self, path: Path, name: str) -> None:
        with zipfile.ZipFile(path) as archive:
            for member in archive.infolist():
                if not member.is_dir():
                    with archive.open(member) as handle:
                        self._scan_lines(handle, name, f"member {member.filename}, ")

    def _scan_raw_bytes(self, path: Path, name: str) -> None:
        try:
            with open(path, "rb") as handle:
                self._scan_lines(handle, name, "raw bytes, ")
        except OSError as error:
            self.skipped.append((name, f"raw bytes not readable: {error.strerror or error}"))

    def _scan_lines(self, handle: BinaryIO, name: str, prefix: str) -> None:
        """Scan a stream line by line (location ``{prefix}line N``); UTF-16 when it starts with a BOM."""
        head = handle.peek(2)[:2] if hasattr(handle, "peek") else b""
        if head in (codecs.BOM_UTF16_LE, codecs.BOM_UTF16_BE):
            reader = codecs.getreader("utf-16")(handle, errors="replace")
            for number, line in enumerate(iter(lambda: reader.readline(LINE_PIECE_BYTES), ""), start=1):
                self.check(name, f"{prefix}line {number}", line.rstrip("\r\n"), remember=False)
            return
        for number, raw in _numbered_lines(handle):
            self._check_line(name, f"{prefix}line {number}", raw)

    def _check_line(self, name: str, location: str, raw: bytes) -> None:
        """Check a line of bytes as UTF-8 and, when it is not valid UTF-8, also as cp1252."""
        raw = raw.rstrip(b"\r\n")
        if len(raw) < MIN_ID_LENGTH:
            return
        text = raw.decode("utf-8", errors="replace")
        self.check(name, location, text, remember=False)   # a line rarely comes back: not remembered
        if "\ufffd" in text:
            self.check(name, location, raw.decode("cp1252", errors="replace"), remember=False)

    # -- SQLite, deletion vectors -----------------------------------------------------------------------------

    def _scan_sqlite(self, path: Path, name: str) -> None:
        """Every column of every table, its distinct values. Opened read-only and immutable: the scan never
        writes, locks or recovers the database (a ``-wal`` file beside it is scanned as raw bytes)."""
        connection = sqlite3.connect(f"{path.resolve().as_uri()}?mode=ro&immutable=1", uri=True)
        try:
            tables = [row[0] for row in connection.execute(
                "SELECT name FROM sqlite_master WHERE type = 'table' ORDER BY name")]
            for table in tables:
                try:
                    columns = [row[1] for row in connection.execute(f"PRAGMA table_info({_quoted(table)})")]
                    for column in columns:
                        rows = connection.execute(f"SELECT DISTINCT {_quoted(column)} FROM {_quoted(table)}")
                        self.check_values(name, f"table {table}, column {column}", (row[0] for row in rows), ": ")
                except sqlite3.Error as error:
                    self.skipped.append((name, f"table {table} not readable: {error}"))
        finally:
            connection.close()

    def _scan_deletion_vector(self, path: Path, name: str) -> None:
        """A deletion vector holds row positions (a bitmap), no value: nothing to check."""


def _open_zstd(path: Path) -> BinaryIO:
    return io.BufferedReader(pa.input_stream(str(path), compression="zstd"))


#: compressed files, by their first bytes: what they are, how to open them as a stream of their content
_COMPRESSED: dict[bytes, tuple[str, Callable[[Path], BinaryIO]]] = {
    b"\x1f\x8b": ("gzip", lambda path: gzip.open(path, "rb")),
    b"BZh": ("bzip2", lambda path: bz2.open(path, "rb")),
    b"\xfd7zXZ\x00": ("xz", lambda path: lzma.open(path, "rb")),
    b"\x28\xb5\x2f\xfd": ("zstd", _open_zstd),
}


def _numbered_lines(handle: BinaryIO) -> Iterator[tuple[int, bytes]]:
    """``(line number, bytes)`` of a stream; a line longer than :data:`LINE_PIECE_BYTES` comes in pieces
    (same number) that overlap by :data:`LINE_OVERLAP_BYTES`."""
    number, carry = 1, b""
    while piece := handle.readline(LINE_PIECE_BYTES):
        yield number, carry + piece
        if piece.endswith(b"\n"):
            number, carry = number + 1, b""
        else:
            carry = piece[-LINE_OVERLAP_BYTES:]


def _leaf_arrays(path: str, array: pa.Array) -> Iterator[tuple[str, pa.Array]]:
    """The leaf arrays of a (nested) column with their dotted paths: struct fields by name, list elements
    under the list's name, map keys and values as ``.key`` and ``.value``."""
    kind = array.type
    if pa.types.is_dictionary(kind):
        yield from _leaf_arrays(path, array.dictionary)   # every value the dictionary holds, used or not
    elif pa.types.is_struct(kind):
        for index in range(kind.num_fields):
            yield from _leaf_arrays(f"{path}.{kind.field(index).name}", array.field(index))
    elif pa.types.is_map(kind):
        yield from _leaf_arrays(f"{path}.key", array.keys)
        yield from _leaf_arrays(f"{path}.value", array.items)
    elif (pa.types.is_list(kind) or pa.types.is_large_list(kind) or pa.types.is_fixed_size_list(kind)
          or pa.types.is_list_view(kind) or pa.types.is_large_list_view(kind)):
        yield from _leaf_arrays(path, array.flatten())
    elif _holds_identifiers(kind):
        yield path, array


def _can_hold_identifiers(kind: pa.DataType) -> bool:
    """Whether a (nested) column has a leaf of a type that can hold an identifier."""
    if pa.types.is_dictionary(kind):
        return _can_hold_identifiers(kind.value_type)
    if pa.types.is_struct(kind):
        return any(_can_hold_identifiers(kind.field(index).type) for index in range(kind.num_fields))
    if pa.types.is_map(kind):
        return _can_hold_identifiers(kind.key_type) or _can_hold_identifiers(kind.item_type)
    if (pa.types.is_list(kind) or pa.types.is_large_list(kind) or pa.types.is_fixed_size_list(kind)
            or pa.types.is_list_view(kind) or pa.types.is_large_list_view(kind)):
        return _can_hold_identifiers(kind.value_type)
    return _holds_identifiers(kind)


def _holds_identifiers(kind: pa.DataType) -> bool:
    """Types whose values can be an identifier: text, bytes, integers (an id or a phone stored as a number)."""
    return (pa.types.is_string(kind) or pa.types.is_large_string(kind) or pa.types.is_string_view(kind)
            or pa.types.is_binary(kind) or pa.types.is_large_binary(kind) or pa.types.is_binary_view(kind)
            or pa.types.is_fixed_size_binary(kind) or pa.types.is_integer(kind))


def _unique_values(array: pa.Array) -> list:
    """The distinct non-null values of a leaf array, as Python values (integers too short to be an
    identifier left out before leaving Arrow)."""
    unique = pc.unique(array.drop_null())
    if pa.types.is_integer(unique.type):   # compared as floats: no overflow, and the floor is all that matters
        magnitude = pc.abs(pc.cast(unique, pa.float64(), safe=False))
        unique = unique.filter(pc.greater_equal(magnitude, 10 ** (MIN_ID_LENGTH - 1)))
    return unique.to_pylist()


def _json_document(text: str) -> object | None:
    """``text`` parsed when it is a JSON object or array, else None."""
    stripped = text.strip()
    if len(stripped) < 2 or (stripped[0], stripped[-1]) not in (("{", "}"), ("[", "]")):
        return None
    try:
        return json.loads(stripped)
    except ValueError:
        return None


def _json_leaves(document: object, path: str = "") -> Iterator[tuple[str, object]]:
    """``(dotted path, value)`` of every key and scalar of a JSON document; list items under the list's path."""
    if isinstance(document, dict):
        for key, value in document.items():
            child = f"{path}.{key}" if path else str(key)
            yield child, key
            yield from _json_leaves(value, child)
    elif isinstance(document, list):
        for value in document:
            yield from _json_leaves(value, path)
    elif document is not None:
        yield path, document


def _quoted(identifier: str) -> str:
    return '"' + identifier.replace('"', '""') + '"'
