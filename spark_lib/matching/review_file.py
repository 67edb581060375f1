"""Steward decisions from a file (``rcu review-import FILE --reviewer NAME``): checked whole, then logged.

A file is CSV (a header line) or YAML (a list of mappings). Each line (each item) is one of:

- a **pair decision**: ``record_key_l``, ``record_key_r``, ``decision`` (``same`` | ``different`` |
  ``unsure``), optional ``reason``. The two keys may come in either order;
- a **record-to-customer assignment**: ``record_key``, ``customer_id``, optional ``reason``: "this record is
  that customer's". With the crosswalk as it is when the file is imported, it becomes:

  * a *same* decision between the record and the customer's smallest record_key (its anchor: one must-link
    suffices, the customer's own links hold the rest), and
  * a *different* decision between the record and every other record of its current customer, so that no
    link keeps it there (a customer of one record gives none);
  * a record already in that customer gives the must-link alone (what an import of the same file after a
    match run finds: the same decision, hence nothing new); a customer whose only record is the record
    itself gives nothing.

Everything is checked before anything is written, and a file with one error is refused whole, each error
naming its line: a missing or unknown column, an unknown decision, a pair of a record with itself, a
record silver does not hold, a customer the crosswalk does not know, the same pair (or the same record
assigned) twice. The decisions are appended to ``ops.review_decisions`` with origin ``file``, the reviewer
given, the current record hashes, and a ``decision_id`` derived from the file's content, the line and the
pair (a uuid5): importing the same file again adds nothing.

Example::

    entries, digest = read_decision_file(Path("decisions.csv"))
    rows = decision_rows(entries, digest, records, crosswalk, reviewer="m.durand", decided_at=now)
    lake.append_new(rows, tables.REVIEW_DECISIONS, keys=["decision_id"])
"""

from __future__ import annotations

import csv
import datetime as dt
import hashlib
import io
import uuid
from dataclasses import dataclass
from pathlib import Path

import yaml
from pyspark.sql import DataFrame
from pyspark.sql import functions as F

from spark_lib.matching.incremental import record_hash
from spark_lib.matching.overrides import DECISIONS
from spark_lib.schemas import REVIEW_DECISIONS

PAIR_FIELDS = ("record_key_l", "record_key_r", "decision")
ASSIGNMENT_FIELDS = ("record_key", "customer_id")
ALLOWED_FIELDS = (*PAIR_FIELDS, *ASSIGNMENT_FIELDS, "reason")
ORIGIN = "file"
#: the namespace of the decision ids of files (uuid5)
NAMESPACE = uuid.uuid5(uuid.NAMESPACE_URL, "rcu:review-decisions:file")


class DecisionFileError(ValueError):
    """The file is refused: every error found, each naming its line."""

    def __init__(self, path: str, errors: list[str]):
        self.errors = sorted(errors, key=_line_of)
        listed = "\n".join(f"  - {error}" for error in self.errors)
        super().__init__(f"{path}: {len(self.errors)} error(s), nothing was imported:\n{listed}")


def _line_of(error: str) -> int:
    head = error.split(":", 1)[0].removeprefix("line ")
    return int(head) if head.isdigit() else 0


@dataclass(frozen=True)
class FileEntry:
    """One line of a decision file: a pair decision or an assignment (the other fields None)."""

    line: int
    record_key_l: str | None = None
    record_key_r: str | None = None
    decision: str | None = None
    record_key: str | None = None
    customer_id: str | None = None
    reason: str | None = None

    @property
    def is_assignment(self) -> bool:
        return self.customer_id is not None or self.record_key is not None


def _text(value) -> str | None:
    if value is None:
        return None
    text = str(value).strip()
    return text or None


def read_decision_file(path: Path) -> tuple[list[FileEntry], str]:
    """The entries of a CSV or YAML decision file (by its suffix: .yaml/.yml, else CSV) and the sha-256 of
    its bytes; raises :class:`DecisionFileError` for lines that are not a pair decision nor an assignment."""
    data = Path(path).read_bytes()
    digest = hashlib.sha256(data).hexdigest()
    text = data.decode("utf-8-sig")
    raw = _yaml_items(text, str(path)) if Path(path).suffix.lower() in (".yaml", ".yml") else _csv_items(text, str(path))
    errors: list[str] = []
    entries = []
    for line, item in raw:
        unknown = sorted(set(item) - set(ALLOWED_FIELDS))
        if unknown:
            errors.append(f"line {line}: unknown column(s) {', '.join(unknown)} (allowed: {', '.join(ALLOWED_FIELDS)})")
            continue
        values = {k: _text(v) for k, v in item.items()}
        pair = any(values.get(f) for f in PAIR_FIELDS)
        assignment = any(values.get(f) for f in ASSIGNMENT_FIELDS)
        if pair == assignment:
            errors.append(f"line {line}: give either record_key_l, record_key_r and decision (a pair) or record_key "
                          "and customer_id (an assignment)")
            continue
        wanted = PAIR_FIELDS if pair else ASSIGNMENT_FIELDS
        missing = [f for f in wanted if not values.get(f)]
        if missing:
            errors.append(f"line {line}: missing {', '.join(missing)}")
            continue
        entry = FileEntry(line=line, **{k: v for k, v in values.items() if k in ALLOWED_FIELDS})
        if pair and entry.decision not in DECISIONS:
            errors.append(f"line {line}: decision {entry.decision!r} is not one of {', '.join(DECISIONS)}")
            continue
        if pair and entry.record_key_l == entry.record_key_r:
            errors.append(f"line {line}: a pair of record {entry.record_key_l!r} with itself")
            continue
        entries.append(entry)
    errors += _duplicates(entries)
    if errors:
        raise DecisionFileError(str(path), errors)
    return entries, digest


def _csv_items(text: str, path: str) -> list[tuple[int, dict]]:
    reader = csv.DictReader(io.StringIO(text))
    if not reader.fieldnames:
        raise DecisionFileError(path, ["line 1: no header (record_key_l,record_key_r,decision,reason or "
                                       "record_key,customer_id,reason)"])
    items = []
    for row in reader:
        if None in row:   # more cells than the header names
            items.append((reader.line_num, {**{k: v for k, v in row.items() if k is not None}, "(extra cells)": "x"}))
        elif any(_text(v) for v in row.values()):
            items.append((reader.line_num, row))
    return items


def _yaml_items(text: str, path: str) -> list[tuple[int, dict]]:
    try:
        node = yaml.compose(text, Loader=yaml.SafeLoader)
    except yaml.YAMLError as error:
        mark = getattr(error, "problem_mark", None)
        raise DecisionFileError(path, [f"line {mark.line + 1 if mark else '?'}: not YAML: {error}"]) from error
    if node is None:
        return []
    if not isinstance(node, yaml.SequenceNode):
        raise DecisionFileError(path, [f"line {node.start_mark.line + 1}: expected a list of decisions"])
    items = []
    for item in node.value:
        line = item.start_mark.line + 1
        value = yaml.SafeLoader(io.StringIO("")).construct_document(item)
        if not isinstance(value, dict):
            items.append((line, {"(not a mapping)": value}))
        else:
            items.append((line, {str(k): v for k, v in value.items()}))
    return items


def _duplicates(entries: list[FileEntry]) -> list[str]:
    errors, seen_pairs, seen_records = [], {}, {}
    for entry in entries:
        if entry.is_assignment:
            first = seen_records.setdefault(entry.record_key, entry.line)
            if first != entry.line:
                errors.append(f"line {entry.line}: record {entry.record_key!r} already assigned on line {first}")
        else:
            pair = tuple(sorted((entry.record_key_l, entry.record_key_r)))
            first = seen_pairs.setdefault(pair, entry.line)
            if first != entry.line:
                errors.append(f"line {entry.line}: pair {'|'.join(pair)} already decided on line {first}")
    return errors


def decision_rows(entries: list[FileEntry], digest: str, records: DataFrame, crosswalk: DataFrame | None, reviewer: str,
                  decided_at: dt.datetime, path: str = "file") -> DataFrame:
    """The ``ops.review_decisions`` rows (:data:`~spark_lib.schemas.REVIEW_DECISIONS`) of a file's entries,
    assignments expanded (module docstring); raises :class:`DecisionFileError` naming the lines of unknown
    records and customers, and of pairs an assignment makes that another line decides. A few small Spark
    jobs (the keys named, the customers named and their records). ``crosswalk`` None (no match run yet):
    every customer is unknown."""
    if not reviewer or not reviewer.strip():
        raise ValueError("decision_rows: 'reviewer' cannot be empty")
    spark = records.sparkSession
    named = sorted({k for e in entries for k in (e.record_key_l, e.record_key_r, e.record_key) if k})
    known = {r.record_key for r in records.where(F.col("record_key").isin(named)).select("record_key").collect()}
    targets = sorted({e.customer_id for e in entries if e.customer_id})
    assigned = sorted({e.record_key for e in entries if e.record_key})
    if crosswalk is None:   # before the first match run: pair decisions only
        crosswalk = spark.createDataFrame([], "record_key string, customer_id string")
    rows = crosswalk.where(F.col("customer_id").isin(targets) | F.col("record_key").isin(assigned)).select(
        "record_key", "customer_id").collect()
    current = {r.record_key: r.customer_id for r in rows if r.record_key in assigned}
    wanted = sorted(set(targets) | set(current.values()))
    members: dict[str, list[str]] = {}
    for r in crosswalk.where(F.col("customer_id").isin(wanted)).select("record_key", "customer_id").collect():
        members.setdefault(r.customer_id, []).append(r.record_key)
    errors = []
    for entry in entries:
        for key in (entry.record_key_l, entry.record_key_r, entry.record_key):
            if key and key not in known:
                errors.append(f"line {entry.line}: unknown record {key!r} (not in silver.customer_records)")
        if entry.customer_id and entry.customer_id not in members:
            errors.append(f"line {entry.line}: unknown customer {entry.customer_id!r} (not in gold.customer_crosswalk)")
    if errors:
        raise DecisionFileError(path, errors)

    decided: list[tuple[int, str, str, str, str | None]] = []   # line, l, r, decision, reason
    for entry in entries:
        if not entry.is_assignment:
            low, high = sorted((entry.record_key_l, entry.record_key_r))
            decided.append((entry.line, low, high, entry.decision, entry.reason))
            continue
        record, target = entry.record_key, entry.customer_id
        others = sorted(k for k in members[target] if k != record)
        if not others:
            continue
        why = entry.reason or f"assigned to customer {target}"
        decided.append((entry.line, *sorted((record, others[0])), "same", why))
        if current.get(record) != target:
            for other in sorted(k for k in members.get(current.get(record), []) if k != record):
                decided.append((entry.line, *sorted((record, other)), "different",
                                entry.reason or f"assigned to customer {target}, out of {current[record]}"))
    first: dict[tuple[str, str], int] = {}
    for line, low, high, _, _ in decided:
        seen = first.setdefault((low, high), line)
        if seen != line:
            errors.append(f"line {line}: pair {low}|{high} also decided on line {seen}")
    if errors:
        raise DecisionFileError(path, errors)

    keys = sorted({k for _, low, high, _, _ in decided for k in (low, high)})
    hashed = records.where(F.col("record_key").isin(keys))
    hashes = {r.record_key: r.h for r in hashed.select("record_key", record_hash(hashed).alias("h")).collect()}
    at = decided_at.replace(tzinfo=None) if decided_at.tzinfo is None else \
        decided_at.astimezone(dt.timezone.utc).replace(tzinfo=None)
    out = [
        (str(uuid.uuid5(NAMESPACE, f"{digest}:{line}:{low}|{high}")), f"{low}|{high}", low, high, decision,
         reviewer.strip(), reason, at, hashes[low], hashes[high], ORIGIN)
        for line, low, high, decision, reason in decided
    ]
    return spark.createDataFrame(out, REVIEW_DECISIONS)
