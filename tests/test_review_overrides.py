"""The data steward's loop, matching side: the review queue, decisions that hold, decisions from a file, erasure.

One lakehouse for the module: the small town of ``tests/test_incremental_match.py`` (its model registered as
champion), then

* before the first run, a file of decisions: Sylvie's CRM record and her e-shop account (which share nothing)
  are the *same*; Vincent's call-centre note is *different* from his CRM record (the note is held to his
  customer by probabilistic links to his CRM record and to his loyalty card: a chain through his core);
  Claire's loyalty card is *different* from her CRM record (the family email links them deterministically);
  Xavier's loyalty card is the *same* as his CRM record (it is: until the card is re-issued); a pair of
  Vincent's (another Vincent) is drawn in a sample and its decision is *unsure*;
* a full run; then a decision that the two Marie Martins are the *same* (as a steward could say);
* a day: Xavier's card re-issued to someone else, three people typing Anne's mobile (it turns generic), and
  a new record of Claire's, at her address: an incremental run.

Beside the steward, the stream (``silver.stream_identity_links``, as ``rcu stream`` writes it): cookie K1 logged
in to Sylvie's e-shop account before the first run, cookie K2 to Alain's account (crm:C017's customer) between
the runs; cookie K9's account is one silver does not hold; cookie K3, a shared tablet, logged in to Julien's
account (crm:C006's) before the first run and to Sylvie's between the runs. The cookies carry nothing to match on.
"""

from __future__ import annotations

import datetime as dt
import json

import pytest
from pyspark.sql import functions as F

from jobs import match, review_import
from spark_lib import tables
from spark_lib.matching.clustering import cluster_records, load_clustering_config
from spark_lib.matching.overrides import CURRENT_DDL, Decisions, steward_links
from spark_lib.matching.review import DISPLAY_COLUMNS, ReviewConfig, long_chains, protection_splits
from spark_lib.matching.review_file import DecisionFileError, decision_rows, read_decision_file
from spark_lib.privacy import access
from spark_lib.privacy.erasure import erase_rows
from spark_lib.privacy.footprint import Footprint
from spark_lib.privacy.identifiers import hash_column, lakehouse_key
from spark_lib.tracking import log_training_run
from tests.records import silver_records
from tests.test_incremental_match import GENERIC_MOBILE, base_records, context, customers, owner
from tests.test_probabilistic import record, trained_town

MODEL = "rcu-incremental-test"   # the model name tests.test_incremental_match.context gives
FIRST_DECISIONS = """record_key_l,record_key_r,decision,reason
crm:S001,eshop:S002,same,her account: same mobile on the phone
call:C012,crm:C012,different,a namesake called
loyalty:F101,crm:F100,different,the daughter's card
crm:C010,loyalty:L010,same,
call:C007,crm:C007,unsure,
"""
LATER_DECISIONS = "record_key_l,record_key_r,decision,reason\ncrm:M001,crm:M002,same,one person after all\n"


def the_day(rows: list[dict]) -> list[dict]:
    by_key = {r["record_key"]: dict(r) for r in rows}
    by_key["loyalty:L010"] = record("loyalty:L010", "xavier", "petitjean", "1999-01-01", phone_mobile="+33699999010",
                                    house_number="77", street_std="quai des brumes", postcode="76600",
                                    city_std="le havre")
    for i, (first, last) in enumerate((("paul", "arnaud"), ("marc", "colin"), ("luc", "perrin"))):
        by_key[f"pos:H00{i}"] = record(f"pos:H00{i}", first, last, None, phone_mobile=GENERIC_MOBILE)
    by_key["eshop:F103"] = record("eshop:F103", "claire", "martin", "1985-03-03", house_number="4",
                                  street_std="rue des lilas", postcode="54000", city_std="nancy")
    return list(by_key.values())


COOKIES = ("web:K1", "web:K2", "web:K3", "web:K9")


def stream_links(spark, *links: tuple[str, str, dt.datetime]):
    """silver.stream_identity_links rows (record, account record, stored at) as the stream writes them."""
    return spark.createDataFrame(
        [(record_key, account, None, "web_events", "login", at, at) for record_key, account, at in links],
        "record_key string, account_record_key string, customer_id string, source string, event_type string, "
        "event_time timestamp, ingested_at timestamp")


def queue_of(ctx) -> dict[str, object]:
    return {r.pair_id: r for r in ctx.lake.read(tables.REVIEW_QUEUE).collect()}


@pytest.fixture(scope="module")
def loop(spark, tmp_path_factory):
    root = tmp_path_factory.mktemp("review")
    tracking_uri = f"sqlite:///{root / 'mlflow.db'}"
    _, config, model = trained_town(spark)
    log_training_run(model, config, None, tracking_uri, model_name=MODEL, alias="champion", charts=False)
    ctx = context(spark, root / "lakehouse", tracking_uri)
    base = base_records() + [record(key, None, None, None) for key in COOKIES]
    ctx.lake.overwrite(silver_records(spark, *base), tables.CUSTOMER_RECORDS)
    before = dt.datetime.now() - dt.timedelta(hours=1)
    ctx.lake.overwrite(stream_links(spark, ("web:K1", "eshop:S002", before), ("web:K9", "eshop_accounts:Z9", before),
                                    ("web:K3", "crm:C006", before)),
                       tables.STREAM_IDENTITY_LINKS)
    first_file = root / "decisions.csv"
    first_file.write_text(FIRST_DECISIONS)
    imported = review_import.run(ctx, first_file, "m.durand")
    sample = spark.createDataFrame(
        [("S1", "call:C007|crm:C007", "call:C007", "crm:C007", "0.999-0.9999", 3, 1, 7, dt.datetime(2026, 12, 1))],
        tables.REVIEW_SAMPLE.schema)
    ctx.lake.overwrite(sample, tables.REVIEW_SAMPLE)
    first = match.run(ctx, evaluate=False, accept_champion=True)
    after_first, queue_first = customers(ctx), queue_of(ctx)
    crosswalk_first = {r.record_key: r for r in ctx.lake.read(tables.CROSSWALK).collect()}
    later_file = root / "later.csv"
    later_file.write_text(LATER_DECISIONS)
    review_import.run(ctx, later_file, "m.durand")
    ctx.lake.append(stream_links(spark, ("web:K2", "crm:C017", dt.datetime.now()),
                                 ("web:K3", "crm:S001", dt.datetime.now())), tables.STREAM_IDENTITY_LINKS)
    ctx.lake.overwrite(silver_records(spark, *the_day(base)), tables.CUSTOMER_RECORDS)
    second = match.run(ctx, evaluate=False, accept_champion=True)
    return dict(ctx=ctx, root=root, imported=imported, first=first, second=second, after_first=after_first,
                after_second=customers(ctx), queue_first=queue_first, queue_second=queue_of(ctx),
                crosswalk_first=crosswalk_first, first_file=first_file)


def test_the_first_run_is_full_and_the_second_incremental_and_both_apply_the_decisions(loop):
    assert loop["imported"].added == 5
    assert (loop["first"].mode, loop["second"].mode) == ("full", "incremental")
    assert (loop["first"].decisions_applied, loop["first"].decisions_stale) == (4, 0)
    # the second run: the Marie Martins added, Xavier's decision stale
    assert (loop["second"].decisions_applied, loop["second"].decisions_stale) == (4, 1)


def test_the_queue_shows_the_pairs_scored_near_the_threshold_with_both_records(loop):
    queue = loop["queue_first"]
    row = queue["call:C017|crm:C017"]
    assert "score_band" in row.reasons and 0.99 <= row.match_probability <= 0.99999
    shown = json.loads(row.record_r)
    assert set(shown) == set(DISPLAY_COLUMNS) and shown["source"] == "crm" and shown["email"].endswith("@orange.fr")
    assert json.loads(row.record_l)["source"] == "call" and json.loads(row.record_l)["email"] is None
    steps = json.loads(row.comparisons)
    comparisons = {c["comparison"]: c for c in steps}
    # the waterfall starts at the prior (a pair of random records rarely matches: a negative weight)
    assert steps[0]["comparison"] == "prior" and steps[0]["match_weight"] < 0
    assert comparisons["birth_date"]["value_l"] == comparisons["birth_date"]["value_r"]
    assert comparisons["birth_date"]["match_weight"] > 0 and comparisons["birth_date"]["level"]
    assert row.customer_id_l == row.customer_id_r == owner(loop["after_first"], "crm:C017")
    assert row.record_hash_l is not None and row.priority > 0 and row.queued_at is not None


def test_a_same_decision_merges_two_customers_and_keeps_them_merged(loop):
    for found in (loop["after_first"], loop["after_second"]):
        assert owner(found, "crm:S001") == owner(found, "eshop:S002")
    rules = {loop["crosswalk_first"][k].match_rule for k in ("crm:S001", "eshop:S002")}
    assert "steward" in rules
    assert "crm:S001|eshop:S002" not in loop["queue_first"]   # decided: out of the queue


def test_the_stream_s_logins_are_must_links_of_the_full_and_the_incremental_run(loop):
    # K9's account is not in silver; K3 is tied to two accounts on the second run
    assert (loop["first"].login_links, loop["second"].login_links) == (2, 2)
    first, second = loop["after_first"], loop["after_second"]
    assert owner(first, "web:K1") == owner(first, "crm:S001") == owner(second, "web:K1")
    assert loop["crosswalk_first"]["web:K1"].match_rule == "stream_login"
    # K2's login came after the first run: the incremental run re-forms both components and joins them; both
    # ids are as old (the first run's), so the smaller survives (spark_lib.matching.ids)
    assert owner(first, "web:K2") != owner(first, "crm:C017")
    assert owner(second, "web:K2") == owner(second, "crm:C017") == min(owner(first, "web:K2"), owner(first, "crm:C017"))
    assert loop["crosswalk_first"]["web:K9"].match_rule == "anonymous"


def test_a_device_that_logged_in_to_two_accounts_joins_neither_and_merges_nothing(loop):
    first, second = loop["after_first"], loop["after_second"]
    assert owner(first, "web:K3") == owner(first, "crm:C006") != owner(first, "crm:S001")
    # the second account takes the tablet's must-link away: it leaves Julien, and Julien and Sylvie stay apart
    assert owner(second, "crm:C006") != owner(second, "crm:S001")
    assert owner(second, "web:K3") not in (owner(second, "crm:C006"), owner(second, "crm:S001"))
    assert owner(second, "crm:C006") == owner(first, "crm:C006")


def test_a_same_decision_taken_after_a_run_merges_on_the_incremental_run(loop):
    assert owner(loop["after_first"], "crm:M001") != owner(loop["after_first"], "crm:M002")
    assert owner(loop["after_second"], "crm:M001") == owner(loop["after_second"], "crm:M002")
    events = loop["ctx"].lake.read(tables.ID_EVENTS).where(F.col("event_type") == "merge").collect()
    assert any({owner(loop["after_first"], "crm:M001"), owner(loop["after_first"], "crm:M002")}
               == {e.customer_id, *e.other_ids} for e in events)


def test_a_different_decision_splits_a_cluster_held_by_a_probabilistic_chain(loop):
    for found in (loop["after_first"], loop["after_second"]):
        # the note stays away from his CRM record, though it scores above the threshold with his loyalty card
        assert owner(found, "call:C012") != owner(found, "crm:C012")
        assert owner(found, "crm:C012") == owner(found, "loyalty:L012")
    cut = loop["queue_first"]["call:C012|loyalty:L012"]
    assert cut.reasons[0] == "protection_split"
    reasons = {r.reason for r in loop["ctx"].lake.read(tables.CLUSTER_SPLITS).collect()}
    assert "steward_cannot_link" in reasons


def test_a_different_decision_splits_a_core_held_by_a_shared_value_and_no_chain_reunites_them(loop):
    for found in (loop["after_first"], loop["after_second"]):
        assert owner(found, "crm:F100") != owner(found, "loyalty:F101")
    splits = loop["ctx"].lake.read(tables.CLUSTER_SPLITS).where(F.col("reason") == "steward_cannot_link").collect()
    assert any(s.component_id == "crm:F100" and s.threshold is None for s in splits)


def test_a_changed_record_re_raises_its_decision_instead_of_applying_it(loop):
    assert owner(loop["after_first"], "loyalty:L010") == owner(loop["after_first"], "crm:C010")
    after = loop["after_second"]
    assert owner(after, "loyalty:L010") != owner(after, "crm:C010")
    stale = loop["queue_second"]["crm:C010|loyalty:L010"]
    assert stale.reasons[0] == "decision_stale"


def test_a_value_newly_generic_queues_the_pairs_it_linked(loop):
    row = loop["queue_second"]["crm:G001|pos:G002"]
    assert "generic_value" in row.reasons and row.customer_id_l != row.customer_id_r
    assert not any("generic_value" in r.reasons for r in loop["queue_first"].values())


def test_a_sample_pair_decided_unsure_stays_queued_at_half_its_priority(loop):
    queue = loop["queue_first"]
    unsure, alike = queue["call:C007|crm:C007"], queue["call:C017|crm:C017"]   # same scores, customers of 3
    assert unsure.reasons == ["sample", "score_band"] and alike.reasons == ["score_band"]
    assert unsure.priority == pytest.approx(alike.priority * (2 + 1) / 1 * 0.5)


def test_long_chain_ends_and_protection_cuts_are_found_from_the_links(spark):
    state = spark.createDataFrame([
        ("a", "a", "a", "a"), ("b", "b", "a", "a"), ("c", "c", "a", "a"), ("d", "d", "a", "a"), ("d2", "d", "a", "a"),
        ("x", "x", "x", "x"), ("y", "y", "x", "y"),
    ], "record_key string, core_id string, component_id string, cluster_id string")
    links = spark.createDataFrame([("a", "b", 0.9991), ("b", "c", 0.9995), ("c", "d2", 0.9999), ("x", "y", 0.9993)],
                                  "record_key_l string, record_key_r string, p double")
    chains = long_chains(links, state, ReviewConfig(long_chain_min_cores=4, long_chain_min_hops=3)).collect()
    assert [(r.record_key_l, r.record_key_r, r.hops) for r in chains] == [("a", "d", 3)]
    assert long_chains(links, state, ReviewConfig(long_chain_min_cores=4, long_chain_min_hops=4)).count() == 0
    cuts = protection_splits(links, state).collect()
    assert [(r.record_key_l, r.record_key_r) for r in cuts] == [("x", "y")]


def test_a_core_holding_a_different_pair_is_re_formed_strongest_rule_first_and_no_chain_joins_them(spark):
    """a, b, c share an email (a star on a), c and d a mobile; a steward says a and c differ: the email links a-b
    (first in rule_priority) then refuses a-c, the mobile keeps c-d. A strong probabilistic chain b-d then
    holds a and c in one cluster: it is re-formed."""
    records = silver_records(spark, *(record(k, "anne", "roux", "1980-01-01") for k in ("a:1", "a:2", "a:3", "a:4")))
    edges = spark.createDataFrame([("a:1", "a:2", "email_std", "e"), ("a:1", "a:3", "email_std", "e"),
                                   ("a:3", "a:4", "phone_mobile", "m")],
                                  "record_key_l string, record_key_r string, rule string, value string")
    current = spark.createDataFrame([("a:1|a:3", "a:1", "a:3", "different", dt.datetime(2026, 12, 1), "x", False)],
                                    CURRENT_DDL)
    config = load_clustering_config()
    links = steward_links(records, edges, Decisions(current, applied=1), config)
    assert sorted((r.record_key_l, r.record_key_r, r.rule) for r in links.edges.collect()) == [
        ("a:1", "a:2", "email_std"), ("a:3", "a:4", "phone_mobile")]
    assert [(s.component_id, s.size_before, s.sizes_after, s.reason) for s in links.splits.collect()] == [
        ("a:1", 4, [2, 2], "steward_cannot_link")]
    chain = spark.createDataFrame([("a:2", "a:4", 0.99999)], "record_key_l string, record_key_r string, match_probability double")
    assignments, splits = cluster_records(records, links.edges, chain, config, apart=links.apart)
    cluster = {r.record_key: r.cluster_id for r in assignments.collect()}
    assert cluster["a:1"] == cluster["a:2"] != cluster["a:3"] == cluster["a:4"]
    assert [s.reason for s in splits.collect()] == ["steward_cannot_link"]
    alone, _ = cluster_records(records, links.edges, chain, config)   # without the decision, the chain holds them
    assert len({r.cluster_id for r in alone.collect()}) == 1


def test_a_decision_file_with_errors_is_refused_whole_naming_its_lines(loop, tmp_path):
    bad = tmp_path / "bad.csv"
    bad.write_text("record_key_l,record_key_r,decision,reason\n"
                   "crm:C001,loyalty:L001,same,\n"
                   "crm:C002,crm:C002,same,\n"
                   "crm:C003,loyalty:L003,maybe,\n"
                   "loyalty:L001,crm:C001,different,\n")
    with pytest.raises(DecisionFileError) as refused:
        read_decision_file(bad)
    assert [e.split(":")[0] for e in refused.value.errors] == ["line 3", "line 4", "line 5"]
    unknown = tmp_path / "unknown.yaml"
    unknown.write_text("- record_key_l: crm:C001\n  record_key_r: crm:NOPE\n  decision: same\n"
                       "- record_key: crm:C002\n  customer_id: C-NOBODY\n")
    entries, digest = read_decision_file(unknown)
    lake = loop["ctx"].lake
    with pytest.raises(DecisionFileError) as refused:
        decision_rows(entries, digest, lake.read(tables.CUSTOMER_RECORDS), lake.read(tables.CROSSWALK), "m.durand",
                      dt.datetime(2026, 12, 6))
    assert refused.value.errors == ["line 1: unknown record 'crm:NOPE' (not in silver.customer_records)",
                                    "line 4: unknown customer 'C-NOBODY' (not in gold.customer_crosswalk)"]
    before = lake.version(tables.REVIEW_DECISIONS)
    assert review_import.main([str(bad), "--reviewer", "x", "--lakehouse", lake.root]) == 1
    assert lake.version(tables.REVIEW_DECISIONS) == before


def test_importing_the_same_file_twice_adds_nothing(loop):
    again = review_import.run(loop["ctx"], loop["first_file"], "m.durand")
    assert (again.decisions, again.added) == (5, 0)


def test_an_assignment_is_a_must_link_to_the_customer_and_cannot_links_from_its_own(loop, tmp_path):
    lake, found = loop["ctx"].lake, loop["after_second"]
    target = owner(found, "crm:C013")
    moved = tmp_path / "assign.csv"
    moved.write_text(f"record_key,customer_id,reason\nloyalty:L012,{target},\n")
    entries, digest = read_decision_file(moved)
    rows = decision_rows(entries, digest, lake.read(tables.CUSTOMER_RECORDS), lake.read(tables.CROSSWALK), "m.durand",
                         dt.datetime(2026, 12, 6)).collect()
    same = [(r.record_key_l, r.record_key_r) for r in rows if r.decision == "same"]
    different = sorted(r.pair_id for r in rows if r.decision == "different")
    assert same == [tuple(sorted(("loyalty:L012", min(found[target]))))]
    own = found[owner(found, "loyalty:L012")] - {"loyalty:L012"}
    assert different == sorted("|".join(sorted(("loyalty:L012", k))) for k in own) and own
    assert {r.origin for r in rows} == {"file"}


def test_erasure_removes_the_person_s_review_rows_which_the_access_export_lists(loop):
    lake = loop["ctx"].lake
    key = lakehouse_key(lake.root)
    footprint = Footprint(records=frozenset({r.h for r in lake.spark.createDataFrame([("crm:C007",)], "k string")
                                             .select(hash_column("id", F.col("k"), key).alias("h")).collect()}))
    named = F.col("record_key_l").isin("crm:C007") | F.col("record_key_r").isin("crm:C007")
    assert lake.read(tables.REVIEW_QUEUE).where(named).count() and lake.read(tables.REVIEW_SAMPLE).where(named).count()
    listed = access._review(access.LakeReader(lake.root), ["crm:C007"])   # what the access export shows
    assert {r["table"] for r in listed} == {str(t) for t in tables.REVIEW_TABLES}
    assert all("record_r" not in r and "record_l" not in r for r in listed)
    removed = erase_rows(lake, footprint, key, {}, progress=lambda _: None)
    assert tables.REVIEW_QUEUE in removed and tables.REVIEW_SAMPLE in removed
    for table in (tables.REVIEW_QUEUE, tables.REVIEW_SAMPLE, tables.REVIEW_DECISIONS):
        assert not lake.read(table).where(named).count()
