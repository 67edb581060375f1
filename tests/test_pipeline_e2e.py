"""End to end on generated data: generate -> ingest -> standardise -> match, twice.

The delivery is a bad day's (``spark_lib.generator.faults``): 20 bad files of 12 kinds next to the good ones,
and records carrying 14 kinds of hostile value; ``benchmarks/fault_injection.py`` checks the outcome here and
at 100k persons. The run also carries a source brought by configuration alone: the README's "franchise_members" example,
written from the generator's persons, declared in a copy of conf/sources.yaml, with its records in the
ground truth. Matching must place them with their persons' other records, with no code of its own.
"""

from __future__ import annotations

import argparse
import csv
import dataclasses
import shutil
import threading
from pathlib import Path

import pyarrow as pa
import pyarrow.parquet as pq
import pytest
import yaml
from pyspark.sql import functions as F

from spark_lib import tables, tracking
from spark_lib.config import DEFAULT_CONF_DIR, load_sources
from spark_lib.generator.faults import inject_faults
from spark_lib.matching.deterministic import DataFrameMissingColumnError
from spark_lib.matching.probabilistic import ModelMismatchError
from spark_lib.storage import Lakehouse

from jobs import activate, dashboard, export, generate, gold, ingest, match, standardise
from jobs.common import Progress, build_context

pytestmark = pytest.mark.e2e

#: (event, job, stage) of every stage the pipeline fixture ran, as a stage listener saw them
STAGE_EVENTS: list[tuple[str, str, str]] = []
#: what the pipeline fixture's delivery holds beyond the generator's files ("faults": InjectedFaults)
DELIVERY: dict = {}
FRANCHISE_MEMBERS = 80
ROOT = Path(__file__).resolve().parent.parent


FRANCHISE = {  # the README's worked example, word for word
    "description": "Members of the franchised stores (monthly export)",
    "path": "franchise/membres_*.csv",
    "format": "csv",
    "separator": "|",
    "encoding": "iso-8859-1",
    "channel": "offline",
    "record_id": "Code adhérent",
    "birth_date_format": "dd/MM/yy",
    "identity": {"last_name": "Nom", "first_name": "Prénom", "birth_date": "Né le", "email": "Mail", "phone": "GSM",
                 "postcode": "CP", "city": "Ville"},
}


def add_franchise_source(root: Path, raw_dir: str, truth_dir: str, every: int = 5) -> str:
    """Write franchise members for every ``every``-th person (upper-case names, national phone format, no
    email for one in three) and their truth rows; return a sources file declaring the source."""
    persons = pq.read_table(Path(truth_dir) / "persons.parquet").to_pylist()[::every]
    folder = Path(raw_dir) / "franchise"
    folder.mkdir(parents=True)
    truth_rows = []
    with open(folder / "membres_2026-11.csv", "w", encoding="iso-8859-1", errors="replace", newline="") as out:
        writer = csv.writer(out, delimiter="|")
        writer.writerow(["Code adhérent", "Nom", "Prénom", "Né le", "Mail", "GSM", "CP", "Ville"])
        for i, p in enumerate(persons):
            code = f"FR{i:05d}"
            mobile = p["mobile_phone"] or ""
            writer.writerow([
                code, p["last_name"].upper(), p["first_name"], p["birth_date"].strftime("%d/%m/%y"),
                "" if i % 3 == 0 else (p["email"] or ""),
                "0" + mobile[3:] if mobile.startswith("+33") else mobile,
                p["postcode"], p["city"],
            ])
            truth_rows.append({"source": "franchise_members", "source_record_id": code, "person_id": p["person_id"]})
    truth_file = Path(truth_dir) / "truth.parquet"
    truth = pq.read_table(truth_file)
    pq.write_table(pa.concat_tables([truth, pa.Table.from_pylist(truth_rows, schema=truth.schema)]), truth_file)
    sources = yaml.safe_load((DEFAULT_CONF_DIR / "sources.yaml").read_text(encoding="utf-8"))
    sources["sources"]["franchise_members"] = FRANCHISE
    sources_file = root / "sources.yaml"
    sources_file.write_text(yaml.safe_dump(sources, allow_unicode=True), encoding="utf-8")
    return str(sources_file)


@pytest.fixture(scope="module")
def pipeline(spark, tmp_path_factory):
    root = tmp_path_factory.mktemp("e2e")
    raw_dir, truth_dir = str(root / "raw"), str(root / "truth")
    quiet = Progress("e2e", quiet=True)
    summary = generate.run(persons=400, raw_dir=raw_dir, truth_dir=truth_dir, seed=7,
                           reference_date="2026-10-31", progress=quiet)
    sources = add_franchise_source(root, raw_dir, truth_dir)
    DELIVERY["faults"] = inject_faults(raw_dir, truth_dir, load_sources(sources))
    args = argparse.Namespace(
        conf_dir=None, lakehouse=str(root / "lake"), raw_dir=raw_dir, sources=sources, truth_dir=truth_dir
    )
    ctx = dataclasses.replace(build_context(args, "test", spark=spark), stage_listeners=(
        lambda *event: STAGE_EVENTS.append(event),))
    reports = ingest.run(ctx, progress=quiet)
    standardise.run(ctx, progress=quiet)
    first = match.run(ctx, retrain=True, progress=quiet)
    return ctx, summary, reports, first


def test_nothing_read_is_lost_between_raw_files_and_bronze(pipeline):
    ctx, summary, reports, _ = pipeline
    for report in reports:
        if report.source == "franchise_members":
            assert report.rows_read == report.rows_bronze == FRANCHISE_MEMBERS and report.rows_quarantined == 0
            continue
        # a source the standard profile does not write (store_customers) finds no file and reads nothing
        added = DELIVERY["faults"].good_rows.get(report.source, 0)
        assert report.rows_read == summary.rows_per_source.get(report.source, 0) + added, report.source
        assert report.rows_quarantined == summary.malformed_per_source.get(report.source, 0), report.source
        assert report.rows_bronze + report.rows_quarantined == report.rows_read


@pytest.fixture(scope="module")
def fault_checks():
    """``benchmarks/`` holds scripts, not a package: import the benchmark's checks as it does."""
    import sys

    sys.path.insert(0, str(ROOT / "benchmarks"))
    import fault_injection

    return fault_injection


def test_a_bad_day_s_files_are_quarantined_as_files_and_every_good_row_is_read_once(pipeline, fault_checks):
    ctx, summary, reports, _ = pipeline
    faults = DELIVERY["faults"]
    assert len(faults.bad_files) >= 20 and len(set(faults.bad_files.values())) >= 12
    delivered = {**summary.rows_per_source, "franchise_members": FRANCHISE_MEMBERS}
    assert fault_checks.delivery_failures(ctx.spark, ctx.lake.root, ctx.raw_dir, ctx.sources, faults, delivered) == []
    assert sum(r.files_quarantined for r in reports) == len(faults.bad_files)


def test_every_identity_record_gets_exactly_one_customer(pipeline):
    ctx, _, _, first = pipeline
    records = ctx.lake.read(tables.CUSTOMER_RECORDS).select("record_key")
    crosswalk = ctx.lake.read(tables.CROSSWALK)
    assert crosswalk.count() == records.count() == first.records
    assert crosswalk.select("record_key").distinct().count() == first.records
    assert records.join(crosswalk, "record_key", "left_anti").count() == 0
    rules = {r.match_rule.split(":")[0] for r in crosswalk.select("match_rule").distinct().collect()}
    assert rules <= {"deterministic", "probabilistic", "singleton", "anonymous"} and "deterministic" in rules


def test_the_match_job_reports_its_stages_to_listeners_and_in_its_report(pipeline):
    _, _, _, first = pipeline
    match_events = [(event, stage) for event, job, stage in STAGE_EVENTS if job == "match"]
    first_run = match_events[: match_events.index(("end", "log")) + 1]
    stages = ["deterministic", "train", "predict", "cluster", "ids", "review", "evaluate", "log"]
    assert first_run == [(event, stage) for stage in stages for event in ("start", "end")]
    assert set(stages) <= set(first.seconds) and "train_total" in first.seconds


def test_the_tables_written_have_the_catalogue_s_schemas(pipeline):
    ctx, *_ = pipeline
    written = [t for t in tables.CATALOGUE if t.schema is not None and ctx.lake.exists(t)]
    assert {tables.CUSTOMER_RECORDS, tables.CROSSWALK, tables.ID_REGISTRY, tables.DETERMINISTIC_EDGES} <= set(written)
    for table in written:
        columns = ctx.lake.read(table).columns
        # an append-only log may carry the run's time after the step's own columns
        assert columns[: len(table.schema.fieldNames())] == table.schema.fieldNames(), table


def test_matching_quality_is_measured_against_ground_truth(pipeline):
    _, _, _, first = pipeline
    # A floor well below the target (issue 3: 0.97), so that a regression in any stage fails loudly.
    assert first.metrics["pairwise_precision"] >= 0.9
    assert first.metrics["pairwise_f1"] >= 0.8
    assert first.metrics["bcubed_f1"] >= 0.8
    assert first.model_run_id


@pytest.mark.slow   # make test: tests/test_incremental_match.py and test_onboarding_e2e.py run the same case
def test_second_run_on_unchanged_input_keeps_every_customer_id(pipeline):
    ctx, _, _, first = pipeline
    before = {r.record_key: r.customer_id for r in ctx.lake.read(tables.CROSSWALK).collect()}
    second = match.run(ctx, retrain=False, progress=Progress("e2e", quiet=True))
    after = {r.record_key: r.customer_id for r in ctx.lake.read(tables.CROSSWALK).collect()}
    assert not second.retrained
    assert after == before
    assert second.id_events == {}


def test_a_source_brought_by_configuration_alone_is_matched_with_its_persons(pipeline):
    ctx, *_ = pipeline
    truth = ctx.spark.read.parquet(str(Path(ctx.truth_dir) / "truth.parquet")).select(
        F.concat_ws(":", "source", "source_record_id").alias("record_key"), "person_id"
    )
    crosswalk = ctx.lake.read(tables.CROSSWALK).join(truth, "record_key")
    records = ctx.lake.read(tables.CUSTOMER_RECORDS)
    members = crosswalk.where(F.col("source") == "franchise_members").select(
        F.col("record_key").alias("member"), "customer_id", F.col("person_id").alias("member_person")
    )
    # Members whose email or mobile is also on another record of their person: a pivot reaches them.
    member_ids = records.where(F.col("source") == "franchise_members").select(
        F.col("record_key").alias("member"), F.col("email_std").alias("e"), F.col("phone_mobile").alias("m")
    )
    others = records.where(F.col("source") != "franchise_members").join(truth, "record_key")
    reachable = {
        r.member
        for r in member_ids.join(members, "member")
        .join(others, (F.col("member_person") == F.col("person_id"))
              & ((F.col("e") == F.col("email_std")) | (F.col("m") == F.col("phone_mobile"))))
        .select("member").distinct().collect()
    }
    company = members.join(crosswalk.where(F.col("source") != "franchise_members"), "customer_id", "left")
    rows = company.groupBy("member").agg(
        F.count(F.when(F.col("person_id") == F.col("member_person"), 1)).alias("own"),
        F.count(F.when(F.col("person_id") != F.col("member_person"), 1)).alias("strangers"),
    ).collect()

    assert len(rows) == 80 and len(reachable) >= 40
    # Rarely with anybody else's records (the whole run's pairwise precision is about 0.99): at most 2 of 80.
    assert len([r.member for r in rows if r.strangers]) <= 2
    assert sorted(r.member for r in rows if r.member in reachable and not r.own) == []   # every reachable one joined


@pytest.fixture(scope="module")
def published(pipeline):
    """gold, activate and dashboard on the matched lakehouse."""
    ctx, *_ = pipeline
    quiet = Progress("e2e", quiet=True)
    return ctx, gold.run(ctx, progress=quiet), activate.run(ctx, progress=quiet), dashboard.run(ctx, progress=quiet)


def test_every_golden_value_has_its_provenance_and_anonymous_records_are_no_customer(published):
    ctx, report, *_ = published
    customer = ctx.lake.read(tables.CUSTOMER)
    provenance = ctx.lake.read(tables.PROVENANCE)
    attributes = [r.attribute for r in provenance.select("attribute").distinct().collect()]
    assert {"first_name", "last_name", "email", "phone_mobile", "street", "consent_email"} <= set(attributes)
    non_null = None
    for attribute in attributes:
        part = customer.where(F.col(attribute).isNotNull()).select("customer_id", F.lit(attribute).alias("attribute"))
        non_null = part if non_null is None else non_null.unionByName(part)
    documented = provenance.select("customer_id", "attribute")
    assert non_null.exceptAll(documented).count() == 0      # every non-null value has a provenance row
    assert documented.exceptAll(non_null).count() == 0      # and exactly one, of a value that exists

    crosswalk = ctx.lake.read(tables.CROSSWALK)
    known = crosswalk.where(F.col("match_rule") != "anonymous").select("customer_id").distinct()
    assert customer.count() == report.customers == known.count()
    assert customer.join(known, "customer_id", "left_anti").count() == 0


def test_hostile_values_are_flagged_in_silver_and_no_gold_table_carries_them(published, fault_checks):
    ctx, *_ = published
    assert len({case.kind for case in DELIVERY["faults"].hostile.values()}) >= 10
    assert fault_checks.hostile_failures(ctx.spark, ctx.lake.root, DELIVERY["faults"]) == []
    assert fault_checks.gold_violations(ctx.spark, ctx.lake.root) == []


def test_audiences_kpis_and_dashboard_are_published(published):
    ctx, _, activated, board = published
    members = ctx.lake.read(tables.AUDIENCE_MEMBERS)
    consented = ctx.lake.read(tables.CUSTOMER).select(
        "customer_id", "consent_email", "consent_sms", "consent_postal"
    )
    channels = members.join(consented, "customer_id").select(
        "channel", "consent_email", "consent_sms", "consent_postal"
    ).collect()
    # Only consented channels are ever used.
    assert all(
        {"email": r.consent_email, "sms": r.consent_sms, "postal": r.consent_postal}[r.channel] for r in channels
    )
    kpis = {r.kpi for r in ctx.lake.read(tables.KPI_SNAPSHOTS).select("kpi").distinct().collect()}
    assert {"duplicate_rate", "reconciliation_rate"} <= kpis
    assert board.charts > 0 and Path(board.path).stat().st_size > 0 and not board.missing_tables


def test_a_failing_deterministic_step_stops_the_training_beside_it(pipeline, tmp_path):
    """Training runs in a thread beside the deterministic step: when that step fails (here a rules file naming a
    pivot column the records lack), the job raises its error and leaves no training thread behind."""
    ctx, *_ = pipeline
    conf = tmp_path / "conf"
    shutil.copytree(ctx.conf_dir, conf)
    rules = yaml.safe_load((conf / "matching_rules.yaml").read_text(encoding="utf-8"))
    rules["deterministic"]["pivots"]["fidelity_number"] = {"max_records": 50}
    (conf / "matching_rules.yaml").write_text(yaml.safe_dump(rules, allow_unicode=True), encoding="utf-8")
    crosswalk_rows = ctx.lake.read(tables.CROSSWALK).count()

    with pytest.raises(DataFrameMissingColumnError, match="fidelity_number"):
        match.run(dataclasses.replace(ctx, conf_dir=conf), retrain=True, progress=Progress("e2e", quiet=True))

    assert not [t for t in threading.enumerate() if t.name.startswith("match-train")]
    assert ctx.lake.read(tables.CROSSWALK).count() == crosswalk_rows


def test_a_champion_trained_on_other_data_does_not_score_it_unasked(pipeline, tmp_path):
    """The champion remembers what it was trained on; the same lakehouse without the franchise source is other
    data: the run stops before any table changes, naming the model, the difference and the flag."""
    ctx, *_ = pipeline
    champion = tracking.load_champion(ctx.pipeline.model_name, tracking_uri=ctx.pipeline.mlflow_tracking_uri)
    assert "franchise_members" in champion.fingerprint["sources"]
    assert {"first_name_std", "birth_date", "email_std"} <= set(champion.fingerprint["columns"])

    other = dataclasses.replace(ctx, lake=Lakehouse(ctx.spark, str(tmp_path / "lake")))
    records = ctx.lake.read(tables.CUSTOMER_RECORDS).where(F.col("source") != "franchise_members")
    other.lake.overwrite(records, tables.CUSTOMER_RECORDS)

    with pytest.raises(ModelMismatchError, match=r"version \d+ does not fit .*absent franchise_members.*--accept-champion"):
        match.run(other, progress=Progress("e2e", quiet=True))
    assert not other.lake.exists(tables.CROSSWALK)


def test_an_audience_is_exported_as_a_csv_of_its_members_with_their_names(published, tmp_path, capsys):
    ctx, *_ = published
    members = ctx.lake.read(tables.AUDIENCE_MEMBERS)
    audience, count = max(((r.audience, r["count"]) for r in members.groupBy("audience").count().collect()),
                          key=lambda item: item[1])
    out = tmp_path / "audience.csv"
    args = ["--lakehouse", ctx.lake.root, "--audience", audience, "--out", str(out)]
    assert export.main(args) == 0
    rows = list(csv.DictReader(out.read_text(encoding="utf-8-sig").splitlines(keepends=True), delimiter=";"))
    assert len(rows) == count and {r["audience"] for r in rows} == {audience}
    expected = {r.customer_id: r.contact for r in members.where(F.col("audience") == audience).collect()}
    assert {r["customer_id"]: r["contact"] for r in rows} == expected
    names = {r.customer_id: r.last_name or "" for r in ctx.lake.read(tables.CUSTOMER).collect()}
    assert all(r["last_name"] == names[r["customer_id"]] for r in rows) and any(r["last_name"] for r in rows)
    assert export.main([*args[:2], "--audience", "no_such_audience", "--out", str(tmp_path / "x.csv")]) == 1
    assert "no_such_audience" in capsys.readouterr().err and not (tmp_path / "x.csv").exists()


# privacy: the person's rights, on a copy of the published lakehouse --------------------------------------
# The erasure tests (an erasure, a re-match and a purge of every table: four minutes with the suite beside it)
# run with `make test-slow`; `benchmarks/bench_privacy.py` runs the same at 100,000 persons.


@pytest.fixture(scope="module")
def erased(published, tmp_path_factory):
    """A copy of the published lakehouse (and its raw files), privacy retention 0; one customer with an email, a
    mobile and several records erased by email (``--raw``), after scanning for them once. Returns what the tests
    compare: the context, the request, the erased customer, the scans before and after, the registry before."""
    from jobs import privacy
    from spark_lib.privacy.erasure import raw_files_held
    from spark_lib.privacy.footprint import person_footprint
    from spark_lib.privacy.identifiers import lakehouse_key
    from spark_lib.privacy.requests import make_request
    from spark_lib.privacy.scan import scan

    ctx, *_ = published
    root = tmp_path_factory.mktemp("privacy")
    shutil.copytree(ctx.lake.root, root / "lake")
    shutil.copytree(ctx.raw_dir, root / "raw")
    pipeline = dataclasses.replace(ctx.pipeline, lakehouse_dir=str(root / "lake"), raw_dir=str(root / "raw"),
                                   privacy_retention_hours=0)
    copy = dataclasses.replace(ctx, pipeline=pipeline, lake=Lakehouse(ctx.spark, str(root / "lake")))
    customers = copy.lake.read(tables.CUSTOMER).where("email IS NOT NULL AND phone_mobile IS NOT NULL")
    sizes = copy.lake.read(tables.CROSSWALK).groupBy("customer_id").count()
    person = customers.join(sizes.where("count >= 3"), "customer_id").orderBy("customer_id").first()
    request = make_request(email=person.email.upper(), request_id="R-test-erasure")
    key = lakehouse_key(copy.lake.root)
    footprint = person_footprint(copy.lake.read(tables.CUSTOMER_RECORDS), copy.lake.read(tables.CROSSWALK),
                                 [person.customer_id], key)
    hashes = {h: "person" for h in footprint.all_hashes}
    before = scan([root / "lake", root / "raw"], hashes, key)
    registry = {r.record_key: r.customer_id for r in copy.lake.read(tables.ID_REGISTRY).collect()}
    held = [(s, Path(p)) for s, p in raw_files_held(copy.lake, footprint, key, {s.name: s for s in copy.sources.sources},
                                                    copy.raw_dir) if copy.sources.get(s).format == "csv"]
    assert all(str(p).startswith(str(root / "raw")) for _, p in held)   # the copy's files, not the originals
    resend = (held[0][0], Path(shutil.copy(held[0][1], root / held[0][1].name)))   # kept aside before --raw
    report = privacy.erase(copy, [request], raw=True, progress=Progress("e2e", quiet=True))
    after = privacy.verify(copy, request.request_id, raw=True)
    return {"ctx": copy, "root": root, "request": request, "person": person, "before": before, "after": after,
            "registry": registry, "report": report, "key": key, "resend": resend,
            "hashes": footprint.records | footprint.identifiers}


@pytest.mark.slow
def test_erasure_leaves_no_file_holding_the_person_where_a_scan_found_them_before(erased):
    before, after = erased["before"], erased["after"]
    where = {hit.file.split("/")[1] for hit in before.hits}   # the layers and raw folders that held them
    assert {"bronze", "silver", "gold"} <= where and len(before.hits) > 10
    assert after.hits == () and after.files_scanned > 100
    # the delivery's truncated Parquet file cannot be decoded: its bytes are scanned as text all the same
    assert all("scanned as text" in why for _, why in after.skipped)
    assert erased["report"].statuses == {"R-test-erasure": "erased"}
    # what --raw leaves: only files quarantined as files that cannot be read as their source's format
    quarantined = {Path(r.file_path).name for r in erased["ctx"].lake.read(tables.FILE_QUARANTINE).collect()}
    assert {Path(p).name for p in erased["report"].raw_files} <= quarantined


@pytest.mark.slow
def test_erasure_moves_only_the_person_and_retires_their_id(erased):
    lake, person = erased["ctx"].lake, erased["person"]
    registry = {r.record_key: r.customer_id for r in lake.read(tables.ID_REGISTRY).collect()}
    before = erased["registry"]
    theirs = {k for k, c in before.items() if c == person.customer_id}
    gone = set(before) - set(registry)
    assert theirs and theirs <= gone
    # beyond their customer's records, only single-record customers referring to their orders (a call about one)
    others = {before[k] for k in gone - theirs}
    assert all(sum(1 for c in before.values() if c == other) == 1 for other in others)
    assert all(before[k] == c for k, c in registry.items())   # every other record keeps its customer id
    assert person.customer_id not in {r.customer_id for r in lake.read(tables.CROSSWALK).collect()}
    log = lake.read(tables.PRIVACY_REQUESTS).where("request_id = 'R-test-erasure'").first()
    assert log.status == "erased" and log.records_erased == len(gone)
    assert erased["request"].email not in str(log.asDict()) and person.customer_id not in str(log.asDict())


@pytest.mark.slow
def test_an_erased_person_s_rows_delivered_again_are_quarantined_as_erased(erased):
    from spark_lib.privacy.footprint import ERASED_REASON
    from spark_lib.privacy.raw_files import row_is_held

    ctx, (source, original) = erased["ctx"], erased["resend"]
    spec = ctx.sources.get(source)
    with open(original, encoding=spec.encoding, newline="") as handle:
        header, *body = list(csv.reader(handle, delimiter=spec.separator))
    theirs = [r for r in body if row_is_held(dict(zip(header, r)), spec, erased["hashes"], erased["key"])]
    others = [r for r in body if r not in theirs][:3]
    assert theirs and others
    # an old delivery sent again, with a few other customers' rows
    resent = Path(ctx.raw_dir) / Path(spec.path).parent / f"{original.stem}_renvoi{original.suffix}"
    with open(resent, "w", encoding=spec.encoding, newline="") as handle:
        csv.writer(handle, delimiter=spec.separator).writerows([header, *theirs, *others])
    [report] = ingest.run(ctx, only=[source], progress=Progress("e2e", quiet=True))
    assert report.rows_read == len(theirs) + len(others) and report.rows_bronze == len(others)
    quarantined = ctx.lake.read(tables.QUARANTINE).where(F.col("source_file").endswith(resent.name)).collect()
    assert len(quarantined) == len(theirs)
    assert {r.reason for r in quarantined} == {ERASED_REASON} and {r.raw_record for r in quarantined} == {None}


def test_access_exports_everything_held_on_a_person_named_by_phone_in_french(published, tmp_path):
    from spark_lib.privacy.access import access_export, write_export
    from spark_lib.privacy.identifiers import lakehouse_key
    from spark_lib.privacy.requests import make_request

    ctx, *_ = published
    members = ctx.lake.read(tables.AUDIENCE_MEMBERS).select("customer_id").distinct()
    holders = (ctx.lake.read(tables.CUSTOMER_RECORDS).join(ctx.lake.read(tables.CROSSWALK), "record_key")
               .groupBy(F.col("phone_mobile")).agg(F.countDistinct("customer_id").alias("holders")))
    franchise = (ctx.lake.read(tables.CROSSWALK).where(F.col("record_key").startswith("franchise_members:"))
                 .groupBy("customer_id").agg(F.min("record_key").alias("franchise_key")))
    person = (ctx.lake.read(tables.CUSTOMER).join(members, "customer_id").join(franchise, "customer_id")
              .where("phone_mobile LIKE '+33%'").join(holders.where("holders = 1"), "phone_mobile")
              .orderBy("franchise_key").first())
    national = "0" + person.phone_mobile[3:]
    request = make_request(phone=" ".join(national[i:i + 2] for i in range(0, 10, 2)), request_id="R-test-access")
    export_ = access_export(ctx.lake.root, list(ctx.sources.sources), request, lakehouse_key(ctx.lake.root))
    assert export_.status == "found" and export_.customers == [person.customer_id]
    sections = export_.sections
    records = {r.record_key for r in ctx.lake.read(tables.CROSSWALK).where(F.col("customer_id") == person.customer_id).collect()}
    assert {r["record_key"] for r in sections["source_records"]} == records
    assert len(sections["delivered_rows"]) >= len(records) and sections["golden_record"][0]["email"] == person.email
    franchise_rows = [r for r in sections["delivered_rows"] if r["source"] == "franchise_members"]
    assert {r["Code_adhérent"] for r in franchise_rows} == {
        k.split(":", 1)[1] for k in records if k.startswith("franchise_members:")} != set()
    assert sections["audiences"] and sections["provenance"] and sections["segments"] and sections["id_events"]
    assert all(r["record_key"] in records for r in sections["interactions"])
    json_path, html_path = write_export(export_, tmp_path / "export")
    page = html_path.read_text(encoding="utf-8")
    assert "Vos données personnelles" in page and "Vos consentements et leur historique" in page
    assert person.email in page and person.customer_id in json_path.read_text(encoding="utf-8")
    nobody = access_export(ctx.lake.root, list(ctx.sources.sources), make_request(email="personne@nulle-part.fr"),
                           lakehouse_key(ctx.lake.root))
    assert nobody.status == "no_match" and not any(nobody.sections.values())


@pytest.mark.slow
def test_a_request_naming_nobody_or_several_customers_changes_nothing(erased):
    from jobs import privacy
    from spark_lib.privacy.requests import make_request

    ctx = erased["ctx"]
    records = ctx.lake.read(tables.CUSTOMER_RECORDS)
    shared = (records.where("phone_landline IS NOT NULL").join(ctx.lake.read(tables.CROSSWALK), "record_key")
              .groupBy("phone_landline").agg(F.countDistinct("customer_id").alias("n")).where("n > 1").first())
    versions = {t: ctx.lake.version(t) for t in (tables.CUSTOMER_RECORDS, tables.CROSSWALK, tables.CUSTOMER)}
    requests = [make_request(email="personne@nulle-part.fr", request_id="R-nobody"),
                make_request(phone=shared.phone_landline, request_id="R-several")]
    report = privacy.erase(ctx, requests, progress=Progress("e2e", quiet=True))
    assert report.statuses == {"R-nobody": "no_match", "R-several": "ambiguous"}
    assert "--confirm" in report.details["R-several"]
    assert {t: ctx.lake.version(t) for t in versions} == versions


@pytest.mark.slow
def test_an_objection_keeps_the_person_out_of_every_audience_until_withdrawn(erased):
    from jobs import privacy
    from spark_lib.privacy.requests import make_request

    ctx = erased["ctx"]
    members = ctx.lake.read(tables.AUDIENCE_MEMBERS)
    latest = members.agg(F.max("run_date")).first()[0]
    person = members.where(F.col("run_date") == latest).orderBy("customer_id").first()
    quiet = Progress("e2e", quiet=True)
    report = privacy.object_(ctx, [make_request(customer_id=person.customer_id, request_id="R-object")], progress=quiet)
    assert report.statuses == {"R-object": "objected"}
    activate.run(ctx, run_date=latest, progress=quiet)
    now = ctx.lake.read(tables.AUDIENCE_MEMBERS).where(F.col("run_date") == latest)
    assert now.where(F.col("customer_id") == person.customer_id).isEmpty() and not now.isEmpty()
    assert ctx.lake.exists(tables.CUSTOMER) and not ctx.lake.read(tables.CUSTOMER).where(
        F.col("customer_id") == person.customer_id).isEmpty()   # objection keeps the data
    privacy.object_(ctx, [make_request(customer_id=person.customer_id, request_id="R-withdraw")], withdraw=True,
                    progress=quiet)
    assert ctx.lake.read(tables.OBJECTIONS).isEmpty()
