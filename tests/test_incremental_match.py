"""Incremental matching: a day of changes re-forms only the customers it touches, as a full rebuild would.

The base is the small town of ``tests/test_probabilistic.py`` (its trained model registered as champion),
plus a few people written for the day's stories. The day then brings, at once:

* a new e-shop account bearing a known email: it joins that customer;
* a loyalty card re-issued to someone else (its names, birth date, mobile and address changed): it leaves
  its customer, which keeps its id;
* an e-shop account whose holder adds the email of her CRM record: her two customers merge, the older id
  survives;
* a customer's records deleted at the source: it is retired, its id never given again; another customer
  loses one of its three records and keeps its id;
* three people typing the mobile that linked a receipt to Anne: with four first names the mobile becomes
  generic, and the receipt, held to Anne by that value alone, leaves her;

then the same records matched from scratch (``full=True``) in another lakehouse give the same customers.
"""

from __future__ import annotations


import pytest
from pyspark.sql import functions as F

from jobs import match
from jobs.common import JobContext
from spark_lib import tables
from spark_lib.config import PipelineConfig, SourcesConfig
from spark_lib.matching.incremental import record_changes, record_hash
from spark_lib.storage import Lakehouse
from spark_lib.tracking import log_training_run
from tests.records import silver_records
from tests.test_probabilistic import record, town, trained_town

GENERIC_MOBILE = "+33655500001"


def base_records() -> list[dict]:
    rows = [r for r in town()]
    rows += [
        # Sylvie, twice: her CRM record and her e-shop account share nothing yet
        record("crm:S001", "sylvie", "roche", "1980-02-02", email_std="sylvie.roche@free.fr",
               phone_mobile="+33677700001", house_number="9", street_std="rue basse", postcode="21000",
               city_std="dijon"),
        record("eshop:S002", "sylvie", None, None, phone_mobile="+33677700002", account_id="ACC-S002"),
        # Anne, and a receipt bearing only her mobile: linked by that value alone
        record("crm:G001", "anne", "gauthier", "1979-05-05", phone_mobile=GENERIC_MOBILE, house_number="2",
               street_std="rue haute", postcode="25000", city_std="besancon"),
        record("pos:G002", None, None, None, phone_mobile=GENERIC_MOBILE),
        # Claire, twice, on her family's email
        record("crm:F100", "claire", "martin", "1985-03-03", email_std="famille.martin@free.fr",
               phone_mobile="+33688800100", house_number="4", street_std="rue des lilas", postcode="54000",
               city_std="nancy"),
        record("loyalty:F101", "claire", "martin", "1985-03-03", email_std="famille.martin@free.fr"),
    ]
    return rows


def day_one(rows: list[dict]) -> list[dict]:
    by_key = {r["record_key"]: dict(r) for r in rows}
    by_key["eshop:N001"] = record("eshop:N001", "julien", "laurent", None, email_std="julien.laurent6@orange.fr")
    by_key["loyalty:L010"] = record("loyalty:L010", "xavier", "petitjean", "1999-01-01", phone_mobile="+33699999010",
                                    house_number="77", street_std="quai des brumes", postcode="76600",
                                    city_std="le havre")
    by_key["eshop:S002"]["email_std"] = "sylvie.roche@free.fr"
    # her son's new account on the family email, at the family's address: another birth date, another first name
    by_key["eshop:F102"] = record("eshop:F102", "hugo", "martin", "2010-07-07", email_std="famille.martin@free.fr",
                                  house_number="4", street_std="rue des lilas", postcode="54000", city_std="nancy")
    for key in ("crm:C025", "loyalty:L025", "eshop:A024"):
        del by_key[key]
    for i, (first, last) in enumerate((("paul", "arnaud"), ("marc", "colin"), ("luc", "perrin"))):
        by_key[f"pos:H00{i}"] = record(f"pos:H00{i}", first, last, None, phone_mobile=GENERIC_MOBILE)
    return list(by_key.values())


def context(spark, root, tracking_uri: str) -> JobContext:
    pipeline = PipelineConfig(mlflow_tracking_uri=tracking_uri, model_name="rcu-incremental-test")
    return JobContext(spark, pipeline, SourcesConfig(()), Lakehouse(spark, str(root)))


def matched(ctx: JobContext, rows: list[dict], **options) -> match.MatchReport:
    ctx.lake.overwrite(silver_records(ctx.spark, *rows), tables.CUSTOMER_RECORDS)
    return match.run(ctx, evaluate=False, accept_champion=True, **options)


def customers(ctx: JobContext) -> dict[str, frozenset]:
    """customer_id -> its record keys, from the crosswalk."""
    groups = ctx.lake.read(tables.CROSSWALK).groupBy("customer_id").agg(F.collect_set("record_key").alias("keys"))
    return {r.customer_id: frozenset(r.keys) for r in groups.collect()}


def owner(found: dict[str, frozenset], key: str) -> str:
    return next(cid for cid, keys in found.items() if key in keys)


@pytest.fixture(scope="module")
def days(spark, tmp_path_factory):
    """The base matched in full, then day one matched from its changes; and day one matched in full elsewhere."""
    root = tmp_path_factory.mktemp("incremental")
    tracking_uri = f"sqlite:///{root / 'mlflow.db'}"
    _, config, model = trained_town(spark)
    log_training_run(model, config, None, tracking_uri, model_name="rcu-incremental-test", alias="champion",
                     charts=False)
    ctx = context(spark, root / "lakehouse", tracking_uri)
    base = base_records()
    first = matched(ctx, base)
    before = customers(ctx)
    registry_before = {r.record_key: r for r in ctx.lake.read(tables.ID_REGISTRY).collect()}
    crosswalk_before = {r.record_key: r for r in ctx.lake.read(tables.CROSSWALK).collect()}
    second = matched(ctx, day_one(base))
    after = customers(ctx)
    rebuild_ctx = context(spark, root / "rebuild", tracking_uri)
    rebuild = matched(rebuild_ctx, day_one(base), full=True)
    return dict(ctx=ctx, first=first, second=second, before=before, after=after, registry_before=registry_before,
                crosswalk_before=crosswalk_before, rebuilt=customers(rebuild_ctx), rebuild=rebuild)


def test_the_day_is_matched_from_its_changes_and_gives_the_customers_of_a_full_rebuild(days):
    assert days["first"].mode == "full" and days["second"].mode == "incremental" and days["rebuild"].mode == "full"
    records = days["second"].records
    assert 0 < days["second"].reformed_records < records / 3
    assert set(days["after"].values()) == set(days["rebuilt"].values())


def test_a_new_record_bearing_a_known_email_joins_its_customer(days):
    before, after = days["before"], days["after"]
    assert owner(after, "eshop:N001") == owner(after, "crm:C006") == owner(before, "crm:C006")


def test_a_record_whose_values_changed_leaves_its_customer_which_keeps_its_id(days):
    before, after = days["before"], days["after"]
    kept = owner(before, "crm:C010")
    assert owner(before, "loyalty:L010") == kept
    assert owner(after, "crm:C010") == kept and after[kept] == frozenset({"crm:C010"})
    assert after[owner(after, "loyalty:L010")] == frozenset({"loyalty:L010"})
    assert owner(after, "loyalty:L010") not in before


def test_a_record_linking_two_customers_merges_them_and_the_older_id_survives(days):
    before, after = days["before"], days["after"]
    old = {owner(before, "crm:S001"), owner(before, "eshop:S002")}
    assert len(old) == 2
    survivor = owner(after, "crm:S001")
    assert survivor == owner(after, "eshop:S002") and survivor == min(old)   # same created_at: the smaller id
    events = days["ctx"].lake.read(tables.ID_EVENTS).where(F.col("event_type") == "merge").collect()
    assert [(e.customer_id, e.other_ids) for e in events] == [(survivor, sorted(old - {survivor}))]


def test_merge_protection_holds_between_a_new_record_and_the_base(days):
    """The different-birth-date-and-first-name rule and the birth-date split of a shared email hold across days:
    the son's new account on his mother's email, at her address, does not join her customer."""
    before, after = days["before"], days["after"]
    mother = owner(before, "crm:F100")
    assert owner(before, "loyalty:F101") == mother
    assert after[mother] == frozenset({"crm:F100", "loyalty:F101"})
    assert after[owner(after, "eshop:F102")] == frozenset({"eshop:F102"})


def test_a_customer_whose_records_are_all_deleted_is_retired_and_its_id_never_comes_back(days):
    before, after = days["before"], days["after"]
    retired = owner(before, "crm:C025")
    assert retired not in after
    lake = days["ctx"].lake
    assert not lake.read(tables.ID_REGISTRY).where(F.col("customer_id") == retired).count()
    assert not lake.read(tables.CROSSWALK).where(F.col("record_key").isin("crm:C025", "eshop:A024")).count()
    shrunk = owner(before, "crm:C024")
    assert after[shrunk] == before[shrunk] - {"eshop:A024"}


def test_a_value_turned_generic_stops_linking_and_its_customer_splits(days):
    before, after = days["before"], days["after"]
    assert owner(before, "pos:G002") == owner(before, "crm:G001")
    assert owner(after, "crm:G001") == owner(before, "crm:G001") and owner(after, "pos:G002") != owner(after, "crm:G001")
    generic = days["ctx"].lake.read(tables.GENERIC_VALUES).where(F.col("value") == GENERIC_MOBILE).collect()
    assert [g.reason for g in generic] == ["too_many_first_names"]


def test_customers_the_day_did_not_touch_keep_their_rows_unwritten(days):
    lake = days["ctx"].lake
    touched = {"crm:C006", "crm:C010", "crm:S001", "eshop:S002", "crm:C024", "crm:C025", "crm:G001", "pos:G002"}
    untouched = {k for keys in days["before"].values() if not keys & touched for k in keys}
    assert len(untouched) > 50
    registry = {r.record_key: r for r in lake.read(tables.ID_REGISTRY).collect()}
    crosswalk = {r.record_key: r for r in lake.read(tables.CROSSWALK).collect()}
    assert all(registry[k] == days["registry_before"][k] for k in untouched)
    # matched_at is the run's time: an unchanged crosswalk row was not rewritten
    assert [crosswalk[k] for k in untouched if crosswalk[k] != days["crosswalk_before"][k]] == []


def test_a_run_with_nothing_changed_changes_nothing(days):
    ctx = days["ctx"]
    versions = {t: ctx.lake.version(t) for t in (tables.CROSSWALK, tables.ID_REGISTRY)}
    report = match.run(ctx, evaluate=False, accept_champion=True)
    assert report.mode == "unchanged" and report.customers == len(days["after"])
    assert {t: ctx.lake.version(t) for t in versions} == versions


def test_the_changes_read_from_silver_s_change_feed_are_those_of_the_whole_comparison(spark, tmp_path):
    """A day of MERGEs (an email changed, a consent alone changed, a record deleted, one new, one new then
    deleted before the run, one changed twice), then a whole overwrite that changes one more: the feed names
    the records to compare, and the answer is the one every record's hash gives."""
    lake = Lakehouse(spark, str(tmp_path / "lakehouse"))
    people = {key: record(key, first, last, None, email=f"{first.lower()}@mail.fr")
              for key, first, last in (("crm:A", "Anne", "Roy"), ("crm:B", "Paul", "Gros"), ("crm:C", "Lea", "Nu"),
                                       ("crm:F", "Yves", "Vidal"))}
    lake.overwrite(silver_records(spark, *people.values()), tables.CUSTOMER_RECORDS)
    matched_version = lake.version(tables.CUSTOMER_RECORDS)
    before = lake.read(tables.CUSTOMER_RECORDS)
    previous = before.select("record_key", record_hash(before).alias("record_hash")).localCheckpoint()

    def day(*rows: dict, deleted: tuple[str, ...] = ()) -> None:
        gone = [{**people[k], "record_key": k} for k in deleted]
        changes = silver_records(spark, *rows, *gone).withColumn(
            "_deleted", F.col("record_key").isin(*deleted) if deleted else F.lit(False))
        lake.apply_changes(changes, tables.CUSTOMER_RECORDS, ["record_key"], deleted="_deleted",
                           unchanged_when="false")

    people["crm:A"] = {**people["crm:A"], "email": "anne.roy@mail.fr", "email_std": "anne.roy@mail.fr"}
    people["crm:B"] = {**people["crm:B"], "consent_email": True}   # not a matching column
    people["crm:D"] = record("crm:D", "Marc", "Blanc", None)
    day(people["crm:A"], people["crm:B"], people["crm:D"], deleted=("crm:C",))
    people["crm:E"] = record("crm:E", "Inès", "Petit", None)
    day(people["crm:E"])
    day(deleted=("crm:E",))
    people["crm:D"] = {**people["crm:D"], "last_name": "Blanc-Roy"}
    day(people["crm:D"])

    def compared() -> dict:
        records = lake.read(tables.CUSTOMER_RECORDS)
        feed = lake.changes(tables.CUSTOMER_RECORDS, matched_version, [*records.columns, "_commit_version"])
        assert feed is not None
        found = {}
        for name, changes in (("feed", record_changes(records, previous, feed)), ("all", record_changes(records, previous))):
            found[name] = ({r.record_key for r in changes.changed.collect()},
                           {r.record_key for r in changes.deleted.collect()}, changes.records)
        return found

    after_merges = compared()
    assert after_merges["feed"] == after_merges["all"] == ({"crm:A", "crm:D"}, {"crm:C"}, 4)
    del people["crm:C"], people["crm:E"]
    people["crm:F"] = {**people["crm:F"], "last_name_std": "VIDAL MARTIN"}
    lake.overwrite(silver_records(spark, *people.values()), tables.CUSTOMER_RECORDS)
    after_overwrite = compared()
    assert after_overwrite["feed"] == after_overwrite["all"] == ({"crm:A", "crm:D", "crm:F"}, {"crm:C"}, 4)
