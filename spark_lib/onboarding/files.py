"""What a folder of raw files holds: which files make one source, their format, encoding, separator and header.

Pure Python on a sample of each file (no Spark): ``rcu init`` proposes a ``sources.yaml`` from it, and the
options it finds are the ones :mod:`spark_lib.sources.readers` reads with.

Example::

    from spark_lib.onboarding.files import find_sources
    for found in find_sources("data/retailer"):
        print(found.pattern, found.format, found.encoding, found.separator, found.columns)
    # crm/export_magasin_*.csv csv cp1252 ; ['N° client', 'Civilité', ...]
    # web/clients_eshop.jsonl json utf-8 , ['identifiant', 'prenom', 'adresse.rue', ...]

Files whose names differ only by a date or a number (``clients_2026-11-01.csv``, ``clients_2026-11-02.csv``)
are one source read through a glob (``clients_*.csv``); so are the files of a folder that share a format and
a header (a folder per source).
"""

from __future__ import annotations

import codecs
import csv
import dataclasses
import fnmatch
import json
import re
from collections import defaultdict
from dataclasses import dataclass, field
from pathlib import Path
from typing import Callable

from spark_lib.sources.csv_rules import csv_rows

#: file name endings -> format of ``sources.yaml``
EXTENSIONS = {
    ".csv": "csv", ".tsv": "csv", ".txt": "csv",
    ".json": "json", ".jsonl": "json", ".ndjson": "json",
    ".parquet": "parquet", ".pq": "parquet",
}
SEPARATORS = (",", ";", "\t", "|")
#: bytes read from the start of a text file to detect its encoding and layout
SAMPLE_BYTES = 1 << 18
#: rows kept per source to recognise columns by their content
SAMPLE_ROWS = 1000

# A run of digits, possibly several joined by - _ . (a date 2026-11-01, a sequence 0001, a time 20261101_0930)
_NUMBER_PART = re.compile(r"\d+(?:[-_.]\d+)*")
# Bytes Windows-1252 leaves undefined: a file holding them is Latin-1 (ISO-8859-1), not Windows-1252.
_CP1252_UNDEFINED = {0x81, 0x8D, 0x8F, 0x90, 0x9D}


class OnboardingError(ValueError):
    """The raw folder cannot be read as sources (missing, empty); the message names the folder or file."""


@dataclass(frozen=True)
class FoundSource:
    """Files of one source and how to read them, with a sample of their columns."""

    name: str
    #: glob relative to the raw folder, as ``sources.yaml`` writes it
    pattern: str
    files: tuple[str, ...]
    format: str
    encoding: str = "utf-8"
    separator: str = ","
    quote: str = '"'
    header: bool = True
    #: column names as the pipeline sees them (JSON and Parquet: dotted paths to nested values)
    columns: tuple[str, ...] = ()
    #: column -> sampled values as text (None for a missing or empty value), one per sampled row
    samples: dict[str, list[str | None]] = field(default_factory=dict)
    #: things the detection could not decide or files it could not align (become YAML comments)
    notes: tuple[str, ...] = ()


# --------------------------------------------------------------------------------------------------
# Grouping files into sources
# --------------------------------------------------------------------------------------------------


def file_format(path: str | Path) -> str | None:
    """``csv``, ``json`` or ``parquet`` from the file name; None for a file the pipeline does not read."""
    suffixes = [s.lower() for s in Path(path).suffixes]
    for suffix in reversed(suffixes):
        if suffix in EXTENSIONS:
            return EXTENSIONS[suffix]
    return None


def generalise_name(name: str, wildcard: str = "*") -> str:
    """The file name with its date or number parts as a wildcard: ``clients_2026-11-01.csv`` -> ``clients_*.csv``."""
    stem, dot, ext = name.partition(".") if not name.startswith(".") else (name, "", "")
    return _NUMBER_PART.sub(wildcard, stem) + dot + ext


def group_files(raw_dir: str | Path) -> list[tuple[str, list[str]]]:
    """(glob relative to ``raw_dir``, sorted relative paths) of each group of readable files.

    Files of one folder whose names differ only by numbers form one group (``clients_*.csv``); when the
    wildcard would also catch another group's file, the digits are required (``clients_[0-9]*.csv``), and if
    that still catches one, each file is its own group. Files of unknown formats and hidden files are left out.
    """
    root = Path(raw_dir)
    if not root.is_dir():
        raise OnboardingError(f"{raw_dir}: not a folder")
    by_folder: dict[Path, list[Path]] = defaultdict(list)
    for path in sorted(root.rglob("*")):
        relative = path.relative_to(root)
        if path.is_file() and file_format(path) and not any(p.startswith((".", "_")) for p in relative.parts):
            by_folder[relative.parent].append(relative)
    groups: list[tuple[str, list[str]]] = []
    for folder, files in sorted(by_folder.items()):
        names = [f.name for f in files]
        for name_pattern, members in _group_names(names):
            pattern = (folder / name_pattern).as_posix()
            groups.append((pattern, [(folder / m).as_posix() for m in members]))
    return groups


def _group_names(names: list[str]) -> list[tuple[str, list[str]]]:
    groups: dict[str, list[str]] = defaultdict(list)
    for name in names:
        groups[generalise_name(name)].append(name)
    result = []
    for pattern, members in groups.items():
        if pattern == members[0] and len(members) == 1:
            result.append((pattern, members))
            continue
        for candidate in (pattern, generalise_name(members[0], "[0-9]*")):
            if all(fnmatch.fnmatchcase(n, candidate) == (n in members) for n in names):
                result.append((candidate, members))
                break
        else:
            result.extend((m, [m]) for m in members)
    return result


def merge_folder_groups(
    groups: list[tuple[str, list[str]]], same: Callable[[tuple, tuple], bool]
) -> list[tuple[str, list[str]]]:
    """Groups of one sub-folder merged into ``folder/*.ext`` when they are all of one extension and ``same``
    (a function of two groups) says they read alike (a folder per source, files named freely)."""
    by_folder: dict[str, list[tuple[str, list[str]]]] = defaultdict(list)
    for pattern, files in groups:
        by_folder[str(Path(pattern).parent)].append((pattern, files))
    merged = []
    for folder, members in by_folder.items():
        extensions = {Path(f).suffix.lower() for _, files in members for f in files}
        if folder != "." and len(members) > 1 and len(extensions) == 1 and all(same(members[0], m) for m in members[1:]):
            files = sorted(f for _, fs in members for f in fs)
            merged.append((f"{folder}/*{extensions.pop()}", files))
        else:
            merged.extend(members)
    return merged


def source_name(pattern: str, taken: set[str]) -> str:
    """A snake_case source name from a glob (``crm/export_magasin_*.csv`` -> ``export_magasin``), unique in ``taken``."""
    path = Path(pattern)
    stem = path.name.split(".")[0]
    words = _slug(stem.replace("[0-9]", " ").replace("*", " "))
    # "adherents_part-0001.csv": the word before the number says it is a part, not what the source is
    words = re.sub(r"(?:^|_)(?:part|partie|lot|batch|chunk|file|fichier|extract)$", "", words) or words
    folder = _slug(path.parent.name) if path.parent.name not in ("", ".") else ""
    name = words or folder or "source"
    if name in taken and folder and not name.startswith(folder):
        name = f"{folder}_{name}"
    base, number = name, 2
    while name in taken:
        name, number = f"{base}_{number}", number + 1
    taken.add(name)
    return name


def _slug(text: str) -> str:
    from spark_lib.onboarding.mapping import fold_header

    slug = "_".join(fold_header(text, keep_stopwords=True).split())
    return f"s_{slug}" if slug[:1].isdigit() else slug


# --------------------------------------------------------------------------------------------------
# Text files: encoding, separator, header
# --------------------------------------------------------------------------------------------------


def read_head(path: str | Path, size: int = SAMPLE_BYTES) -> bytes:
    with open(path, "rb") as handle:
        return handle.read(size)


def detect_encoding(data: bytes) -> str:
    """The encoding of a text sample: a BOM's, else ``utf-8`` when it decodes as such, else ``cp1252``
    (Windows exports), or ``iso-8859-1`` when the bytes include ones Windows-1252 leaves undefined.

    Example::

        detect_encoding("Prénom;Nom".encode("cp1252"))   # 'cp1252'
    """
    if data.startswith(codecs.BOM_UTF8):
        return "utf-8"
    if data.startswith((codecs.BOM_UTF16_LE, codecs.BOM_UTF16_BE)):
        return "utf-16"
    try:
        # final=False: a sample cut in the middle of a multi-byte character still decodes
        codecs.getincrementaldecoder("utf-8")().decode(data, final=False)
        return "utf-8"
    except UnicodeDecodeError:
        pass
    return "iso-8859-1" if _CP1252_UNDEFINED & set(data) else "cp1252"


def decode_sample(data: bytes, encoding: str) -> str:
    """The sample as text without its BOM, cut after its last complete line when it was truncated."""
    text = codecs.getincrementaldecoder(encoding)(errors="replace").decode(data, final=False).lstrip("\ufeff")
    if len(data) >= SAMPLE_BYTES and "\n" in text:
        text = text[: text.rindex("\n") + 1]
    return text


def detect_separator(text: str) -> tuple[str, str, str | None]:
    """(separator, quote, doubt) of CSV text: csv.Sniffer's guess when every line then has the header's
    number of fields, else the candidate of ``, ; tab |`` whose field counts are most consistent. ``doubt``
    says why the choice is uncertain (None when the lines agree).

    Example::

        detect_separator("a;b;c\\n1;2;3\\n")   # (';', '"', None)
    """
    lines = [line for line in text.splitlines() if line.strip()][:200]
    if not lines:
        return ",", '"', "empty file"
    sample = "\n".join(lines) + "\n"
    scores = {sep: _consistency(sample, sep) for sep in SEPARATORS}
    try:
        dialect = csv.Sniffer().sniff(sample, delimiters="".join(SEPARATORS))
        sniffed, quote = dialect.delimiter, dialect.quotechar or '"'
    except csv.Error:
        sniffed, quote = None, '"'
    if quote != '"' and f"{sniffed}{quote}" not in sample:
        quote = '"'
    best = max(SEPARATORS, key=lambda s: (scores[s][0], scores[s][1]))
    separator = sniffed if sniffed and scores[sniffed] >= scores[best] else best
    share, fields = scores[separator]
    if fields < 2:
        return separator, quote, "one column only: separator not found"
    if share < 1.0:
        return separator, quote, f"{1 - share:.0%} of the sampled lines do not have {fields} fields"
    return separator, quote, None


def _consistency(sample: str, separator: str) -> tuple[float, int]:
    """(share of rows with the header's number of fields, that number) when split on ``separator``."""
    rows = list(csv_rows(sample, separator))
    if not rows or len(rows[0]) < 2:
        return 0.0, len(rows[0]) if rows else 0
    width = len(rows[0])
    return sum(len(r) == width for r in rows) / len(rows), width


def read_csv_rows(text: str, separator: str, quote: str) -> list[list[str]]:
    return [row for row in csv_rows(text, separator, quote) if any(row)]


def looks_like_header(rows: list[list[str]]) -> bool:
    """Whether the first row names the columns: no value of it looks like data (a number, an email, a date)
    while the rows below hold such values, and its names are distinct."""
    if len(rows) < 2:
        return True
    first = rows[0]
    if len(set(first)) < len(first) or any(not v.strip() for v in first):
        return False
    data_like = re.compile(r"^[\d\s+().:/-]+$|@")
    if any(data_like.search(v.strip()) for v in first):
        return False
    return True


# --------------------------------------------------------------------------------------------------
# Samples
# --------------------------------------------------------------------------------------------------


def flatten(record: dict, prefix: str = "") -> dict[str, str | None]:
    """A JSON object as dotted paths to its scalar values (arrays left out: the pipeline maps scalars only)."""
    flat: dict[str, str | None] = {}
    for key, value in record.items():
        path = f"{prefix}{key}"
        if isinstance(value, dict):
            flat.update(flatten(value, f"{path}."))
        elif isinstance(value, list):
            continue
        elif value is None or value == "":
            flat[path] = None
        elif isinstance(value, bool):
            flat[path] = "true" if value else "false"
        else:
            flat[path] = str(value)
    return flat


def _columns_of(records: list[dict[str, str | None]]) -> tuple[tuple[str, ...], dict[str, list[str | None]]]:
    columns: dict[str, None] = {}
    for record in records:
        columns.update(dict.fromkeys(record))
    return tuple(columns), {c: [r.get(c) for r in records] for c in columns}


def sample_text_source(pattern: str, files: list[str], raw_dir: Path) -> FoundSource:
    """Detect encoding, separator, quote and header of a CSV source on its first file; sample its rows."""
    data = read_head(raw_dir / files[0])
    encoding = detect_encoding(data)
    text = decode_sample(data, encoding)
    separator, quote, doubt = detect_separator(text)
    rows = read_csv_rows(text, separator, quote)
    header = looks_like_header(rows)
    notes = [f"separator: {doubt}"] if doubt else []
    if not header:
        notes.append("no header line found: the pipeline names the columns after the first line's values; "
                     "add a header line to the files")
    names = rows[0] if rows else []
    body = rows[1:] if header else rows
    notes += _header_differences(files, raw_dir, encoding, separator, quote, names)
    body = body[:SAMPLE_ROWS]
    samples = {n: [(r[i].strip() or None) if i < len(r) else None for r in body] for i, n in enumerate(names)}
    return FoundSource(name="", pattern=pattern, files=tuple(files), format="csv", encoding=encoding,
                       separator=separator, quote=quote, header=header, columns=tuple(names), samples=samples,
                       notes=tuple(notes))


def _header_differences(files, raw_dir, encoding, separator, quote, names) -> list[str]:
    notes = []
    for other in files[1:]:
        line = decode_sample(read_head(raw_dir / other, 1 << 16), encoding).split("\n", 1)[0].rstrip("\r")
        header = next(csv_rows(line, separator, quote), [])
        if header != names:
            notes.append(f"{other} has another header than {files[0]}: files of one source must share it")
    return notes


def sample_json_source(pattern: str, files: list[str], raw_dir: Path) -> FoundSource:
    """Sample the objects of a JSON-lines source (first files), flattened to dotted paths."""
    records, bad, notes = [], 0, []
    for name in files:
        data = read_head(raw_dir / name)
        encoding = detect_encoding(data)
        text = decode_sample(data, encoding)
        if text.lstrip().startswith("["):
            notes.append(f"{name} is one JSON array, not JSON lines (one object per line): the pipeline cannot read it")
            continue
        for line in text.splitlines():
            if not line.strip():
                continue
            try:
                value = json.loads(line)
            except json.JSONDecodeError:
                bad += 1
                continue
            if isinstance(value, dict):
                records.append(flatten(value))
            if len(records) >= SAMPLE_ROWS:
                break
        if len(records) >= SAMPLE_ROWS:
            break
    if bad:
        notes.append(f"{bad} sampled lines are not JSON objects (bronze will quarantine them)")
    columns, samples = _columns_of(records)
    return FoundSource(name="", pattern=pattern, files=tuple(files), format="json", encoding="utf-8",
                       columns=columns, samples=samples, notes=tuple(notes))


def sample_parquet_source(pattern: str, files: list[str], raw_dir: Path) -> FoundSource:
    """Sample the first rows of a Parquet source, nested structs flattened to dotted paths."""
    import pyarrow.parquet as pq

    batch = next(pq.ParquetFile(raw_dir / files[0]).iter_batches(batch_size=SAMPLE_ROWS), None)
    rows = batch.to_pylist() if batch is not None else []
    records = [flatten({k: (v.isoformat() if hasattr(v, "isoformat") else v) for k, v in row.items()}) for row in rows]
    columns, samples = _columns_of(records)
    if not rows:
        schema = pq.read_schema(raw_dir / files[0])
        columns, samples = tuple(schema.names), {n: [] for n in schema.names}
    return FoundSource(name="", pattern=pattern, files=tuple(files), format="parquet", columns=columns,
                       samples=samples)


def sample_source(pattern: str, files: list[str], raw_dir: str | Path) -> FoundSource:
    """The reading options and a sample of the source whose files are ``files`` (relative to ``raw_dir``)."""
    readers = {"csv": sample_text_source, "json": sample_json_source, "parquet": sample_parquet_source}
    return readers[file_format(files[0])](pattern, files, Path(raw_dir))


def find_sources(raw_dir: str | Path) -> list[FoundSource]:
    """Every source of ``raw_dir``: files grouped (by name, then a folder whose files read alike), read
    options detected, columns sampled. Raises :class:`OnboardingError` when the folder holds no readable file."""
    groups = group_files(raw_dir)
    if not groups:
        raise OnboardingError(
            f"{raw_dir}: no csv, tsv, txt, json, jsonl or parquet file found (hidden files and _folders are skipped)"
        )
    sampled = {pattern: sample_source(pattern, files, raw_dir) for pattern, files in groups}

    def same(a: tuple[str, list[str]], b: tuple[str, list[str]]) -> bool:
        x, y = sampled[a[0]], sampled[b[0]]
        return (x.format, x.columns, x.separator, x.encoding) == (y.format, y.columns, y.separator, y.encoding)

    found, taken = [], set()
    for pattern, files in merge_folder_groups(groups, same):
        source = sampled.get(pattern) or sample_source(pattern, files, raw_dir)
        found.append(dataclasses.replace(source, name=source_name(pattern, taken)))
    return found
