"""ReviewStore: the review queue in memory and the steward's decisions in ops.review_decisions, without Spark.

The queue is written by Spark (as the match run writes it); the store reads it with delta-rs, and the
decisions it appends must read back in Spark with the exact contract schema, beside Spark readers and writers.
"""

from __future__ import annotations

import dataclasses
import datetime as dt
import json
import shutil
import threading
from pathlib import Path

import pytest
from deltalake import DeltaTable

from spark_lib import schemas, tables
from spark_lib.review import (NothingToUndoError, ReviewConflictError, ReviewError, ReviewStore,
                              UnknownPairError)
from spark_lib.review.store import fold
from spark_lib.storage import Lakehouse
from tests.records import frame
from tests.review_pairs import (CHLOE, FRANCOIS, HELENE, INJECTED, LAST, QUEUE, QUEUED_AT, SAMPLE, review_queue,
                                write_review_lakehouse)

UTC = dt.timezone.utc


class Clock:
    """Decision times the test chooses: each call one second after the previous."""

    def __init__(self, start: dt.datetime):
        self.now = start

    def __call__(self) -> dt.datetime:
        self.now += dt.timedelta(seconds=1)
        return self.now


@pytest.fixture(scope="module")
def written(spark, tmp_path_factory) -> Path:
    """The queue and the crosswalk, written by Spark once for the module."""
    root = tmp_path_factory.mktemp("review-store") / "lake"
    write_review_lakehouse(spark, str(root))
    return root


@pytest.fixture()
def lake(spark, written, tmp_path):
    """A copy of the written lakehouse for one test (a Delta table's paths are relative to its folder)."""
    shutil.copytree(written, tmp_path / "lake")
    return Lakehouse(spark, str(tmp_path / "lake"))


@pytest.fixture()
def store(lake):
    return ReviewStore(lake.root, refresh_seconds=0, clock=Clock(QUEUED_AT.replace(tzinfo=UTC) + dt.timedelta(hours=1)))


def pending_ids(store: ReviewStore) -> list[str]:
    return [p.pair_id for p in store.pending()]


def test_pending_pairs_come_by_priority_and_leave_once_decided(store):
    assert pending_ids(store) == [r["pair_id"] for r in QUEUE]

    store.decide(FRANCOIS["pair_id"], "different", reviewer="Camille Martin")

    assert pending_ids(store) == [r["pair_id"] for r in QUEUE if r is not FRANCOIS]
    assert [p.pair_id for p in store.pending(limit=2, after=HELENE["pair_id"])] == [INJECTED["pair_id"], SAMPLE["pair_id"]]
    assert store.progress() == {"queued": 6, "decided": 1, "pending": 5}


def test_a_pair_shows_its_fields_side_by_side_with_what_differs(store):
    fields = {f["field"]: f for f in store.pair(HELENE["pair_id"]).fields()}
    sample = {f["field"]: f for f in store.pair(SAMPLE["pair_id"]).fields()}

    assert fields["first_name"] == {"field": "first_name", "left": "Hélène", "right": "Helene", "status": "differs"}
    assert fields["phone_mobile"]["status"] == "differs"
    assert {n for n, f in fields.items() if f["status"] == "same"} == {
        "civility", "last_name", "birth_date", "email", "postcode", "city"}
    assert sample["email"] == {"field": "email", "left": "jp.dupont@exemple.fr", "right": None, "status": "missing"}
    assert store.pair(SAMPLE["pair_id"]).comparisons == ()


def test_decisions_written_by_the_store_read_back_in_spark_with_the_contract_schema(spark, lake, store):
    first = store.decide(HELENE["pair_id"], "same", reviewer="  Camille Martin ", reason="même e-mail, même date de naissance",
                         origin="page")
    second = store.decide(INJECTED["pair_id"], "unsure", reviewer="Yannick Le Bihan")

    read = lake.read(tables.REVIEW_DECISIONS)
    assert read.schema == schemas.REVIEW_DECISIONS
    assert sorted((r.asDict() for r in read.collect()), key=lambda r: r["decided_at"]) == [
        {**dataclasses.asdict(d), "decided_at": d.decided_at.replace(tzinfo=None)} for d in (first, second)
    ]
    assert (first.reviewer, first.record_hash_l, first.record_hash_r) == (
        "Camille Martin", HELENE["record_hash_l"], HELENE["record_hash_r"])
    assert DeltaTable(lake.path(tables.REVIEW_DECISIONS)).to_pyarrow_table().num_rows == 2


def test_the_transaction_log_keeps_statistics_of_the_key_and_time_only(lake, store):
    store.decide(HELENE["pair_id"], "same", reviewer="Camille Martin", reason="Hélène, même e-mail")

    log = Path(lake.path(tables.REVIEW_DECISIONS)) / "_delta_log"
    text = "".join(p.read_text(encoding="utf-8") for p in sorted(log.glob("*.json")))
    stats = [json.loads(json.loads(line)["add"]["stats"]) for line in text.splitlines() if '"add"' in line]
    assert stats and all(set(s["minValues"]) == {"decision_id", "decided_at"} for s in stats)
    assert "Camille" not in text and "Hélène" not in text


def test_spark_appends_to_the_table_the_store_created_and_the_store_sees_them(spark, lake, store):
    store.decide(HELENE["pair_id"], "same", reviewer="Camille Martin")
    imported = {"decision_id": "file-1", "pair_id": CHLOE["pair_id"], "record_key_l": CHLOE["record_key_l"],
                "record_key_r": CHLOE["record_key_r"], "decision": "different", "reviewer": "Import",
                "reason": None, "decided_at": dt.datetime.now(UTC).replace(tzinfo=None), "record_hash_l": 505,
                "record_hash_r": 506, "origin": "file"}
    lake.append(frame(spark, schemas.REVIEW_DECISIONS, [imported]), tables.REVIEW_DECISIONS)

    assert store.refresh(force=True)
    assert not store.is_pending(CHLOE["pair_id"])
    assert store.decision_of(CHLOE["pair_id"]).origin == "file"
    store.decide(SAMPLE["pair_id"], "unsure", reviewer="Camille Martin")
    assert lake.read(tables.REVIEW_DECISIONS).count() == 3


def test_the_store_appends_to_a_table_spark_created(spark, lake, tmp_path):
    lake.overwrite(frame(spark, schemas.REVIEW_DECISIONS, []), tables.REVIEW_DECISIONS)
    store = ReviewStore(lake.root)

    store.decide(HELENE["pair_id"], "different", reviewer="Camille Martin")

    assert [r.decision for r in lake.read(tables.REVIEW_DECISIONS).collect()] == ["different"]


def test_spark_readers_see_whole_commits_while_the_store_appends(spark, lake, store):
    store.decide(LAST["pair_id"], "same", reviewer="Camille Martin")   # the table exists before the readers start
    pairs = [HELENE, FRANCOIS, INJECTED, SAMPLE, CHLOE] * 2
    writer = threading.Thread(target=lambda: [store.decide(p["pair_id"], "unsure", reviewer="Camille Martin") for p in pairs])
    counts = []
    writer.start()
    while writer.is_alive():
        counts.append(lake.read(tables.REVIEW_DECISIONS).count())
    writer.join()

    assert counts == sorted(counts) and all(1 <= c <= 11 for c in counts)
    assert lake.read(tables.REVIEW_DECISIONS).count() == 11


@pytest.mark.parametrize("change, message", [
    ({"decision": "maybe"}, "'decision' must be one of same, different, unsure"),
    ({"reviewer": ""}, "'reviewer' is required"),
    ({"reviewer": None}, "'reviewer' is required"),
    ({"reviewer": "x" * 65}, "'reviewer' is 65 characters long; at most 64"),
    ({"reviewer": "Camille\x00"}, "'reviewer' holds control characters"),
    ({"reason": "r" * 501}, "'reason' is 501 characters long; at most 500"),
    ({"origin": "file"}, "'origin' must be one of page, api"),
])
def test_a_bad_decision_is_refused_and_nothing_is_written(lake, store, change, message):
    given = {"pair_id": HELENE["pair_id"], "decision": "same", "reviewer": "Camille Martin", "reason": None, **change}
    pair_id, decision = given.pop("pair_id"), given.pop("decision")

    with pytest.raises(ReviewError, match=message.replace("(", r"\(")):
        store.decide(pair_id, decision, **given)
    assert not (Path(lake.path(tables.REVIEW_DECISIONS)) / "_delta_log").exists()


def test_an_unknown_pair_or_records_changed_since_shown_are_refused(store):
    with pytest.raises(UnknownPairError):
        store.decide("crm_customers:NOPE|crm_customers:NOPE2", "same", reviewer="Camille Martin")
    with pytest.raises(ReviewConflictError, match="changed since it was shown"):
        store.decide(HELENE["pair_id"], "same", reviewer="Camille Martin",
                     record_hash_l=str(HELENE["record_hash_l"]), record_hash_r="1")
    made = store.decide(HELENE["pair_id"], "same", reviewer="Camille Martin",
                        record_hash_l=str(HELENE["record_hash_l"]), record_hash_r=str(HELENE["record_hash_r"]))
    assert made.record_hash_r == 9_007_199_254_740_993


@pytest.mark.parametrize("query, expected", [
    ("helene le goff", [HELENE]),                       # accents, case, words in two fields
    ("HÉLÈNE.LEGOFF@exemple.fr", [HELENE]),             # an email, dots ignored
    ("francois ndiaye", [FRANCOIS]),                    # N'DIAYE without its apostrophe
    ("saint etienne", [FRANCOIS]),
    ("jean pierre", [SAMPLE]),                          # Jean-Pierre and Jean Pierre
    ("c00000000999", [INJECTED]),                       # a customer id only the crosswalk knows
    ("C00000000201", [FRANCOIS]),                       # a customer id of the queue
    ("loyalty_members:FID00000505", [CHLOE]),          # a record key
    ("lefevre", [CHLOE]),
    ("C00000000909", []),                               # a customer with no queued pair
    ("mül", [INJECTED]),
])
def test_search_ignores_accents_case_and_joiners(store, query, expected):
    assert [p.pair_id for p in store.search(query)] == [r["pair_id"] for r in expected]


def test_search_lists_pending_pairs_before_decided_ones_and_refuses_empty_queries(store):
    store.decide(HELENE["pair_id"], "same", reviewer="Camille Martin")

    assert [p.pair_id for p in store.search("exemple.fr")] == [INJECTED["pair_id"], SAMPLE["pair_id"], HELENE["pair_id"]]
    for query in ("", "  ", "a", "x" * 101):
        with pytest.raises(ReviewError):
            store.search(query)
    assert fold("Œuvre d'Hélène-Lœb") == "oeuvre dheleneloeb"


def test_undo_deletes_the_reviewers_latest_decision_and_the_pair_is_pending_again(lake, store):
    store.decide(HELENE["pair_id"], "same", reviewer="Camille Martin")
    store.decide(FRANCOIS["pair_id"], "different", reviewer="Yannick Le Bihan")
    last = store.decide(INJECTED["pair_id"], "unsure", reviewer="Camille Martin")

    undone = store.undo("Camille Martin")

    assert undone == last
    assert store.is_pending(INJECTED["pair_id"])
    assert sorted(r.pair_id for r in lake.read(tables.REVIEW_DECISIONS).collect()) == sorted(
        [HELENE["pair_id"], FRANCOIS["pair_id"]])
    assert store.undo("Camille Martin").pair_id == HELENE["pair_id"]
    with pytest.raises(NothingToUndoError):
        store.undo("Camille Martin")


def test_a_new_queue_is_loaded_and_an_older_decision_leaves_its_requeued_pair_pending(spark, lake, store):
    store.decide(HELENE["pair_id"], "same", reviewer="Camille Martin")
    store.decide(FRANCOIS["pair_id"], "same", reviewer="Camille Martin")
    # the next match run: Hélène's record changed (decision_stale), François's pair is no longer queued
    requeued = {**HELENE, "reasons": ["decision_stale"], "record_hash_r": 42,
                "queued_at": store._clock().replace(tzinfo=None) + dt.timedelta(minutes=5)}
    lake.overwrite(review_queue(spark, [requeued, CHLOE]), tables.REVIEW_QUEUE)

    assert pending_ids(store) == [HELENE["pair_id"], CHLOE["pair_id"]]
    assert store.pair(HELENE["pair_id"]).record_hash_r == 42
    with pytest.raises(ReviewConflictError, match="applied by a match run"):
        store.undo("Camille Martin")
    with pytest.raises(UnknownPairError):
        store.pair(FRANCOIS["pair_id"])


def test_a_lakehouse_without_a_queue_has_nothing_pending(tmp_path):
    store = ReviewStore(tmp_path / "empty")

    assert not store.queue_exists
    assert store.pending() == [] and store.progress() == {"queued": 0, "decided": 0, "pending": 0}
