"""The steward's review queue and decisions, read and written without Spark (``deltalake`` and pyarrow).

:class:`ReviewStore` is what the review page (:mod:`spark_lib.review.app`) and a script playing the steward
both call. It loads ``gold.review_queue`` into memory once (a few thousand pairs on a 100k-customer
lakehouse), with the customer ids of the queued records from ``gold.customer_crosswalk``, and loads them again
when either table's Delta version moves (checked at most every ``refresh_seconds``). Every action is then a
look-up in memory, and a decision one small Delta append: a few milliseconds, far under the page's 300 ms.

- **pending**: the queued pairs with no decision since the match run that queued them (``decided_at >=
  queued_at``), highest ``priority`` first. A pair re-queued as ``decision_stale`` is pending again, since
  its old decision predates it.
- **search**: accent-, case- and punctuation-insensitive (``Hélène Le Goff`` is found by ``helene legoff``);
  every word of the query must appear in the pair's record values, record keys or customer ids (the queue's
  and the crosswalk's).
- **decide**: validated (decision ``same | different | unsure``, a reviewer of 1 to 64 characters, a reason
  of at most 500, a pair of the queue), appended to ``ops.review_decisions`` with the record hashes of the
  queue row (the records as the steward saw them: a decision whose records changed since is re-raised, not
  applied), a uuid4 ``decision_id``, ``decided_at`` in UTC. The table is created with the exact contract
  schema (:data:`spark_lib.schemas.REVIEW_DECISIONS`) and per-file statistics for its key and time only, so
  no reviewer name or reason lands in the transaction log's ``minValues``/``maxValues``.
- **undo**: deletes the reviewer's latest decision (a Delta DELETE: the row stays in the table's history
  until a vacuum, like any erased row). A newer ``unsure`` would not do: ``unsure`` is an answer of its own
  and counts in the precision estimates. A decision is undone only while its pair is still queued by the
  run it answered (``decided_at >= queued_at``); once a match run has applied it, the way back is a new
  decision.

No lock is taken: appends to a Delta table commit side by side, and a match run reading the decisions reads
a snapshot (a decision made during the run is seen by the next one).

Example::

    store = ReviewStore("lakehouse")
    pair = store.pending(limit=1)[0]
    store.decide(pair.pair_id, "same", reviewer="Camille Martin", reason="même e-mail, même adresse")
    store.search("helene legoff")[0].pair_id
    store.undo("Camille Martin").decision        # 'same', and the pair is pending again
"""

from __future__ import annotations

import datetime as dt
import json
import re
import threading
import time
import unicodedata
import uuid
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Callable, Iterable, Mapping, Sequence

import pyarrow as pa
import pyarrow.compute as pc
from deltalake import DeltaTable, write_deltalake
from pyspark.sql.types import (ArrayType, DataType, DoubleType, LongType, StringType, StructType,
                               TimestampType)

from spark_lib import tables
from spark_lib.privacy.purge import STATS_COLUMNS, stats_columns, stats_columns_property

DECISIONS = ("same", "different", "unsure")
#: who wrote a decision from here: the page, or a script through the API (``file`` is rcu review-import's)
ORIGINS = ("page", "api")
MAX_REVIEWER = 64
MAX_REASON = 500
MAX_QUERY = 100
#: the shortest word a search looks for (one letter would match nearly every pair)
MIN_WORD = 2
#: what a search returns at most
SEARCH_LIMIT = 50

_CONTROL = re.compile(r"[\x00-\x08\x0b-\x1f\x7f-\x9f\u2028\u2029]")
_UUID = re.compile(r"^[0-9a-f]{8}-[0-9a-f]{4}-4[0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}$")
#: dropped when folding text for search: "N'Diaye", "Le-Goff" and "jean.dupont" match "ndiaye", "legoff", "jeandupont"
_JOINERS = re.compile(r"['’`´\-‐‑.]")
_LIGATURES = str.maketrans({"œ": "oe", "Œ": "oe", "æ": "ae", "Æ": "ae", "ß": "ss"})


class ReviewError(ValueError):
    """A request the store refuses as given: a bad decision, a missing reviewer, a reason too long."""


class UnknownPairError(LookupError):
    """The pair is not in ``gold.review_queue``."""


class ReviewConflictError(RuntimeError):
    """The action no longer fits the lakehouse: the records changed since shown, a decision already applied."""


class NothingToUndoError(LookupError):
    """The reviewer has no decision to undo."""


def fold(text: str) -> str:
    """``text`` for search: accents, case, ligatures and the joiners ' - . removed (``"Hélène N'Diaye-Lœb"``
    -> ``"helene ndiayeloeb"``)."""
    decomposed = unicodedata.normalize("NFKD", text.translate(_LIGATURES))
    plain = "".join(c for c in decomposed if not unicodedata.combining(c))
    return " ".join(_JOINERS.sub("", plain.casefold()).split())


def arrow_schema(schema: StructType) -> pa.Schema:
    """The Arrow schema delta-rs writes as ``schema`` (a Spark contract schema), nullability included:
    Spark's TimestampType is Delta's ``timestamp``, which Arrow holds as microseconds in UTC."""

    def arrow_type(data_type: DataType) -> pa.DataType:
        if isinstance(data_type, StringType):
            return pa.string()
        if isinstance(data_type, LongType):
            return pa.int64()
        if isinstance(data_type, DoubleType):
            return pa.float64()
        if isinstance(data_type, TimestampType):
            return pa.timestamp("us", tz="UTC")
        if isinstance(data_type, ArrayType):
            return pa.list_(pa.field("element", arrow_type(data_type.elementType), data_type.containsNull))
        raise TypeError(f"arrow_schema: no Arrow type for {data_type.simpleString()}")

    return pa.schema([pa.field(f.name, arrow_type(f.dataType), f.nullable) for f in schema.fields])


def _clean_text(value: Any, name: str, max_length: int, required: bool) -> str | None:
    if value is None or (isinstance(value, str) and not value.strip()):
        if required:
            raise ReviewError(f"'{name}' is required")
        return None
    if not isinstance(value, str):
        raise ReviewError(f"'{name}' must be text, got {type(value).__name__}")
    text = unicodedata.normalize("NFC", value.strip())
    if _CONTROL.search(text.replace("\n", " ").replace("\t", " ") if name == "reason" else text):
        raise ReviewError(f"'{name}' holds control characters")
    if len(text) > max_length:
        raise ReviewError(f"'{name}' is {len(text)} characters long; at most {max_length}")
    return text


def _utc(value: dt.datetime) -> dt.datetime:
    return value.replace(tzinfo=dt.timezone.utc) if value.tzinfo is None else value.astimezone(dt.timezone.utc)


def _text(value: Any) -> str | None:
    """A displayed value as text (None for a missing one): numbers, booleans and lists as JSON writes them."""
    if value is None:
        return None
    if isinstance(value, str):
        return value
    return json.dumps(value, ensure_ascii=False)


def _label(record: Mapping[str, Any], fallback: str) -> str:
    """A short name for a record in lists: its name, else its email, else its key."""
    name = " ".join(str(record[k]) for k in ("first_name", "last_name") if record.get(k))
    return name or str(record.get("name") or record.get("email") or record.get("email_std") or fallback)


@dataclass(frozen=True)
class Decision:
    """One row of ``ops.review_decisions``."""

    decision_id: str
    pair_id: str
    record_key_l: str
    record_key_r: str
    decision: str
    reviewer: str
    reason: str | None
    decided_at: dt.datetime
    record_hash_l: int
    record_hash_r: int
    origin: str

    def as_json(self) -> dict[str, Any]:
        """JSON-ready; the hashes as text (64-bit integers lose digits as JavaScript numbers)."""
        return {**self.__dict__, "decided_at": self.decided_at.isoformat().replace("+00:00", "Z"),
                "record_hash_l": str(self.record_hash_l), "record_hash_r": str(self.record_hash_r)}


@dataclass(frozen=True)
class QueuedPair:
    """One row of ``gold.review_queue``, its JSON columns parsed."""

    pair_id: str
    record_key_l: str
    record_key_r: str
    reasons: tuple[str, ...]
    priority: float
    match_probability: float | None
    match_weight: float | None
    customer_id_l: str | None
    customer_id_r: str | None
    record_l: dict[str, Any]
    record_r: dict[str, Any]
    comparisons: tuple[dict[str, Any], ...]
    record_hash_l: int
    record_hash_r: int
    queued_at: dt.datetime
    #: the folded text a search looks in (record values, keys, customer ids)
    search_text: str = field(default="", repr=False, compare=False)

    def fields(self) -> list[dict[str, Any]]:
        """The records side by side: per displayed field (record_l's order, then record_r's own), both values
        as text and ``status``: ``same``, ``differs`` (both given, different), ``missing`` (one side only) or
        ``empty`` (neither)."""
        names = list(dict.fromkeys([*self.record_l, *self.record_r]))
        rows = []
        for name in names:
            left, right = _text(self.record_l.get(name)), _text(self.record_r.get(name))
            left, right = (v if v is None or v.strip() else None for v in (left, right))
            if left is None and right is None:
                status = "empty"
            elif left is None or right is None:
                status = "missing"
            else:
                status = "same" if left.strip() == right.strip() else "differs"
            rows.append({"field": name, "left": left, "right": right, "status": status})
        return rows

    def summary(self) -> dict[str, Any]:
        return {
            "pair_id": self.pair_id, "record_key_l": self.record_key_l, "record_key_r": self.record_key_r,
            "label_l": _label(self.record_l, self.record_key_l), "label_r": _label(self.record_r, self.record_key_r),
            "reasons": list(self.reasons), "priority": self.priority, "match_probability": self.match_probability,
        }

    def as_json(self) -> dict[str, Any]:
        return {
            **self.summary(),
            "match_weight": self.match_weight, "customer_id_l": self.customer_id_l, "customer_id_r": self.customer_id_r,
            "fields": self.fields(), "comparisons": list(self.comparisons),
            "record_hash_l": str(self.record_hash_l), "record_hash_r": str(self.record_hash_r),
            "queued_at": self.queued_at.isoformat().replace("+00:00", "Z"),
        }


def _parse_json(text: str | None, what: str, pair_id: str, expected: type) -> Any:
    if text is None:
        return expected()
    try:
        value = json.loads(text)
    except json.JSONDecodeError as error:
        raise ValueError(f"{tables.REVIEW_QUEUE}: {what} of pair {pair_id!r} is not JSON ({error})") from error
    if not isinstance(value, expected):
        raise ValueError(f"{tables.REVIEW_QUEUE}: {what} of pair {pair_id!r} is not a JSON {expected.__name__}")
    return value


def queued_pairs(rows: Iterable[Mapping[str, Any]],
                 customers: Mapping[str, Sequence[str]] | None = None) -> list[QueuedPair]:
    """``gold.review_queue`` rows (as pyarrow's ``to_pylist`` gives them) as :class:`QueuedPair`, in review
    order (priority, highest first, then pair id); ``customers``: record key -> its customer ids in the
    crosswalk, searched too."""
    customers = customers or {}
    pairs = []
    for row in rows:
        pair_id = row["pair_id"]
        record_l = _parse_json(row["record_l"], "record_l", pair_id, dict)
        record_r = _parse_json(row["record_r"], "record_r", pair_id, dict)
        comparisons = _parse_json(row.get("comparisons"), "comparisons", pair_id, list)
        words = [pair_id, row["customer_id_l"] or "", row["customer_id_r"] or "",
                 *customers.get(row["record_key_l"], ()), *customers.get(row["record_key_r"], ()),
                 *(_text(v) or "" for v in (*record_l.values(), *record_r.values()))]
        pairs.append(QueuedPair(
            pair_id=pair_id, record_key_l=row["record_key_l"], record_key_r=row["record_key_r"],
            reasons=tuple(row["reasons"] or ()), priority=float(row["priority"]),
            match_probability=row["match_probability"], match_weight=row["match_weight"],
            customer_id_l=row["customer_id_l"], customer_id_r=row["customer_id_r"],
            record_l=record_l, record_r=record_r,
            comparisons=tuple(c for c in comparisons if isinstance(c, dict)),
            record_hash_l=int(row["record_hash_l"]), record_hash_r=int(row["record_hash_r"]),
            queued_at=_utc(row["queued_at"]),
            search_text="\x1f".join(fold(w) for w in words if w),
        ))
    pairs.sort(key=lambda p: (-p.priority, p.pair_id))
    return pairs


class ReviewStore:
    """The review queue in memory and the decisions table of one lakehouse (a local folder).

    ``refresh_seconds``: how often, at most, an action checks whether the queue, the crosswalk or the
    decisions table has a new Delta version (and loads it). ``clock``: the time decisions are stamped with
    (tests). Safe to share between the threads of a web server.
    """

    def __init__(self, lakehouse: str | Path, *, refresh_seconds: float = 2.0,
                 clock: Callable[[], dt.datetime] | None = None):
        if lakehouse is None or not str(lakehouse):
            raise ValueError("'lakehouse' in ReviewStore cannot be empty")
        root = str(lakehouse)
        if "://" in root and not root.startswith("file:"):
            raise ValueError(f"ReviewStore reads a local lakehouse folder, got {root}")
        self.root = Path(root.removeprefix("file://").removeprefix("file:"))
        self.refresh_seconds = refresh_seconds
        self._clock = clock or (lambda: dt.datetime.now(dt.timezone.utc))
        self._lock = threading.RLock()
        self._checked_at = 0.0
        self._versions: dict[str, int | None] = {}
        self._pairs: list[QueuedPair] = []
        self._by_id: dict[str, QueuedPair] = {}
        self._position: dict[str, int] = {}
        self._decisions: list[Decision] = []
        self._latest: dict[str, Decision] = {}
        self._open: dict[str, DeltaTable] = {}
        self.load()

    # loading -------------------------------------------------------------------------------------

    def path(self, table: str) -> Path:
        layer, entity = table.split(".")
        return self.root / layer / entity

    def _table(self, table: str) -> DeltaTable | None:
        """The table's Delta log at its latest version (None: not written yet), kept open between calls so a
        check reads only the commits since (a few ms, however long the log)."""
        path = self.path(table)
        if not (path / "_delta_log").is_dir():
            self._open.pop(table, None)
            return None
        opened = self._open.get(table)
        if opened is not None:
            try:
                opened.update_incremental()
                return opened
            except Exception:  # the table was replaced under us (its folder removed and written again)
                pass
        self._open[table] = DeltaTable(str(path))
        return self._open[table]

    def _version(self, table: str) -> int | None:
        opened = self._table(table)
        return None if opened is None else opened.version()

    @property
    def queue_exists(self) -> bool:
        return self._versions.get(tables.REVIEW_QUEUE) is not None

    def load(self) -> None:
        """Load the queue, the crosswalk's customer ids of its records, and the decisions, whatever their versions."""
        with self._lock:
            self._load_queue()
            self._load_decisions()
            self._checked_at = time.monotonic()

    def _load_queue(self) -> None:
        queue_version, crosswalk_version = self._version(tables.REVIEW_QUEUE), self._version(tables.CROSSWALK)
        pairs: list[QueuedPair] = []
        if queue_version is not None:
            queue = self._open[tables.REVIEW_QUEUE].to_pyarrow_table()
            customers: dict[str, list[str]] = {}
            if crosswalk_version is not None and queue.num_rows:
                # Only the queued records' rows: a 600k-row crosswalk is filtered by Arrow in a few ms, and the
                # index kept is a few thousand entries.
                keys = pa.concat_arrays([queue.column("record_key_l").combine_chunks(),
                                         queue.column("record_key_r").combine_chunks()]).unique()
                crosswalk = (self._open[tables.CROSSWALK].to_pyarrow_dataset()
                             .to_table(columns=["record_key", "customer_id"], filter=pc.field("record_key").isin(keys)))
                for key, customer in zip(crosswalk.column("record_key").to_pylist(),
                                         crosswalk.column("customer_id").to_pylist()):
                    customers.setdefault(key, []).append(customer)
            pairs = queued_pairs(queue.to_pylist(), customers)
        self._pairs = pairs
        self._by_id = {p.pair_id: p for p in pairs}
        self._position = {p.pair_id: i for i, p in enumerate(pairs)}
        self._versions[tables.REVIEW_QUEUE] = queue_version
        self._versions[tables.CROSSWALK] = crosswalk_version

    def _load_decisions(self) -> None:
        version = self._version(tables.REVIEW_DECISIONS)
        decisions: list[Decision] = []
        if version is not None:
            rows = self._open[tables.REVIEW_DECISIONS].to_pyarrow_table().to_pylist()
            names = tables.REVIEW_DECISIONS.schema.fieldNames()
            decisions = [Decision(**{n: r[n] for n in names}) for r in rows]
            decisions = [Decision(**{**d.__dict__, "decided_at": _utc(d.decided_at)}) for d in decisions]
            decisions.sort(key=lambda d: d.decided_at)
        self._decisions = decisions
        self._latest = {}
        for decision in decisions:
            self._latest[decision.pair_id] = decision
        self._versions[tables.REVIEW_DECISIONS] = version

    def refresh(self, force: bool = False) -> bool:
        """Load again what changed since (at most every ``refresh_seconds`` unless ``force``); True if anything did."""
        with self._lock:
            if not force and time.monotonic() - self._checked_at < self.refresh_seconds:
                return False
            self._checked_at = time.monotonic()
            changed = False
            if (self._version(tables.REVIEW_QUEUE) != self._versions.get(tables.REVIEW_QUEUE)
                    or self._version(tables.CROSSWALK) != self._versions.get(tables.CROSSWALK)):
                self._load_queue()
                changed = True
            if self._version(tables.REVIEW_DECISIONS) != self._versions.get(tables.REVIEW_DECISIONS):
                self._load_decisions()
                changed = True
            return changed

    # reading ------------------------------------------------------------------------------------

    def _decided(self, pair: QueuedPair) -> Decision | None:
        """The decision answering the pair as queued: the latest since the run that queued it."""
        latest = self._latest.get(pair.pair_id)
        return latest if latest is not None and latest.decided_at >= pair.queued_at else None

    def pair(self, pair_id: str) -> QueuedPair:
        """The queued pair; raises :class:`UnknownPairError`."""
        self.refresh()
        found = self._by_id.get(pair_id) if isinstance(pair_id, str) else None
        if found is None:
            raise UnknownPairError(f"pair {pair_id!r} is not in {tables.REVIEW_QUEUE}")
        return found

    def decision_of(self, pair_id: str) -> Decision | None:
        """The latest decision on the pair, whenever it was made (None: never decided)."""
        return self._latest.get(pair_id)

    def is_pending(self, pair_id: str) -> bool:
        pair = self._by_id.get(pair_id)
        return pair is not None and self._decided(pair) is None

    def pending(self, limit: int = 50, after: str | None = None) -> list[QueuedPair]:
        """The pending pairs in review order, at most ``limit``; with ``after`` (a queued pair id), those that
        come after it in that order (the next ones to look at)."""
        if not isinstance(limit, int) or limit < 0:
            raise ReviewError(f"'limit' must be a whole number >= 0, got {limit!r}")
        self.refresh()
        with self._lock:
            start = 0
            if after is not None:
                if after not in self._position:
                    raise UnknownPairError(f"pair {after!r} is not in {tables.REVIEW_QUEUE}")
                start = self._position[after] + 1
            found = []
            for pair in self._pairs[start:]:
                if len(found) >= limit:
                    break
                if self._decided(pair) is None:
                    found.append(pair)
            return found

    def progress(self) -> dict[str, int]:
        """How many pairs are queued, decided since queued, and pending."""
        self.refresh()
        with self._lock:
            decided = sum(1 for p in self._pairs if self._decided(p) is not None)
            return {"queued": len(self._pairs), "decided": decided, "pending": len(self._pairs) - decided}

    def search(self, query: str, limit: int = SEARCH_LIMIT) -> list[QueuedPair]:
        """The queued pairs whose record values, record keys or customer ids hold every word of ``query``
        (accents, case and the joiners ' - . ignored), pending first, each group in review order."""
        if not isinstance(query, str) or not query.strip():
            raise ReviewError("'q' is required: a name, an email or a customer id")
        if len(query) > MAX_QUERY:
            raise ReviewError(f"'q' is {len(query)} characters long; at most {MAX_QUERY}")
        words = [w for w in fold(query).split() if len(w) >= MIN_WORD]
        if not words:
            raise ReviewError(f"'q' needs a word of {MIN_WORD} characters or more")
        self.refresh()
        with self._lock:
            hits = [p for p in self._pairs if all(w in p.search_text for w in words)]
            hits.sort(key=lambda p: self._decided(p) is not None)  # stable: review order within each group
            return hits[:limit]

    def decisions(self, reviewer: str | None = None, pair_id: str | None = None, limit: int = 100) -> list[Decision]:
        """The decisions, newest first, optionally of one reviewer or one pair."""
        self.refresh()
        with self._lock:
            found = [d for d in reversed(self._decisions)
                     if (reviewer is None or d.reviewer == reviewer) and (pair_id is None or d.pair_id == pair_id)]
            return found[:limit]

    # writing ------------------------------------------------------------------------------------

    def decide(self, pair_id: str, decision: str, reviewer: str, reason: str | None = None, *,
               origin: str = "api", record_hash_l: int | str | None = None,
               record_hash_r: int | str | None = None) -> Decision:
        """Record a steward's decision on a queued pair and return it.

        ``record_hash_l``/``record_hash_r``: the hashes of the records as the caller showed them (the page
        sends them back); when the queue has changed them since, :class:`ReviewConflictError`. Raises
        :class:`ReviewError` for a bad argument, :class:`UnknownPairError` for a pair not queued.
        """
        if decision not in DECISIONS:
            raise ReviewError(f"'decision' must be one of {', '.join(DECISIONS)}, got {decision!r}")
        if origin not in ORIGINS:
            raise ReviewError(f"'origin' must be one of {', '.join(ORIGINS)}, got {origin!r}")
        reviewer = _clean_text(reviewer, "reviewer", MAX_REVIEWER, required=True)
        reason = _clean_text(reason, "reason", MAX_REASON, required=False)
        with self._lock:
            pair = self.pair(pair_id)
            for side, given, queued in (("l", record_hash_l, pair.record_hash_l), ("r", record_hash_r, pair.record_hash_r)):
                if given is not None and str(given) != str(queued):
                    raise ReviewConflictError(
                        f"the record {getattr(pair, f'record_key_{side}')} changed since it was shown (hash {given}, "
                        f"now {queued}): look at the pair again"
                    )
            made = Decision(
                decision_id=str(uuid.uuid4()), pair_id=pair.pair_id, record_key_l=pair.record_key_l,
                record_key_r=pair.record_key_r, decision=decision, reviewer=reviewer, reason=reason,
                decided_at=_utc(self._clock()), record_hash_l=pair.record_hash_l, record_hash_r=pair.record_hash_r,
                origin=origin,
            )
            self._append(made)
            return made

    def _append(self, decision: Decision) -> None:
        schema = arrow_schema(tables.REVIEW_DECISIONS.schema)
        row = pa.Table.from_pylist([{n: getattr(decision, n) for n in schema.names}], schema)
        path = str(self.path(tables.REVIEW_DECISIONS))
        before = self._versions.get(tables.REVIEW_DECISIONS)
        if before is None and self._version(tables.REVIEW_DECISIONS) is None:
            # The table's first write creates it: statistics for its key and time only (no names in the log).
            keep = stats_columns(tables.REVIEW_DECISIONS.schema, tables.REVIEW_DECISIONS.keys)
            try:
                write_deltalake(path, row, mode="append",
                                configuration={STATS_COLUMNS: stats_columns_property(keep)})
            except Exception:  # another writer created it meanwhile: append to theirs
                if self._version(tables.REVIEW_DECISIONS) is None:
                    raise
                write_deltalake(path, row, mode="append")
        else:
            write_deltalake(self._table(tables.REVIEW_DECISIONS), row, mode="append")
        after = self._version(tables.REVIEW_DECISIONS)
        if before is not None and after == before + 1:
            self._decisions.append(decision)
            self._latest[decision.pair_id] = decision
            self._versions[tables.REVIEW_DECISIONS] = after
        else:  # created, or another writer committed too: read the table again
            self._load_decisions()

    def undo(self, reviewer: str) -> Decision:
        """Delete ``reviewer``'s latest decision (its pair is pending again) and return it.

        Raises :class:`NothingToUndoError` when the reviewer has none, :class:`ReviewConflictError` when a
        match run has applied it already (the pair is no longer queued, or queued again since)."""
        reviewer = _clean_text(reviewer, "reviewer", MAX_REVIEWER, required=True)
        self.refresh()
        with self._lock:
            theirs = [d for d in self._decisions if d.reviewer == reviewer and d.origin in ORIGINS]
            if not theirs:
                raise NothingToUndoError(f"no decision of {reviewer!r} to undo")
            last = theirs[-1]
            pair = self._by_id.get(last.pair_id)
            if pair is None or last.decided_at < pair.queued_at:
                raise ReviewConflictError(
                    f"the decision {last.decision_id} on {last.pair_id} was applied by a match run since: "
                    "decide the pair again instead"
                )
            if not _UUID.match(last.decision_id):  # it goes into the predicate: only a uuid4 may
                raise ReviewConflictError(f"decision id {last.decision_id!r} is not a uuid4: it cannot be undone here")
            before = self._versions.get(tables.REVIEW_DECISIONS)
            self._table(tables.REVIEW_DECISIONS).delete(f"decision_id = '{last.decision_id}'")
            if self._version(tables.REVIEW_DECISIONS) == before + 1:   # ours alone: no need to read the table again
                self._decisions = [d for d in self._decisions if d.decision_id != last.decision_id]
                previous = [d for d in self._decisions if d.pair_id == last.pair_id]
                if previous:
                    self._latest[last.pair_id] = previous[-1]
                else:
                    self._latest.pop(last.pair_id, None)
                self._versions[tables.REVIEW_DECISIONS] = before + 1
            else:
                self._load_decisions()
            return last
