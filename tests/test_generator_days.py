"""The generator's daily deliveries: dated files each source's glob picks up, deletion lists no glob picks up, a
full CRM extract, a re-sent copy, the truth of every day, and the initial delivery unchanged.

One run of 400 people with 3 days at 5 % of the records a day (so that each kind of change happens) is shared
by the module. No Spark: the files are read with the standard library, pyarrow and pandas.
"""

from __future__ import annotations

import csv
import glob
import hashlib
import json
from pathlib import Path

import pandas as pd
import pyarrow.parquet as pq
import pytest

from jobs import generate as generate_job
from spark_lib.generator import DailyChanges, generate, truth_as_of
from tests.test_generator import SOURCES, dig, read_source

PERSONS = 400
DAYS = 3
CHANGES = DailyChanges(rate=0.05)
RETAIL = [s for s in SOURCES if s != "store_customers"]

#: The initial delivery of 300 persons (seed 42) as the generator wrote it before daily deliveries existed
#: (commit 2d447f6): SHA-256 of the bytes, of the rows for Parquet (whose footer names the pyarrow version).
BEFORE_DAYS = {
    "raw/courrier/envois_catalogue_part-0001.parquet": "0eae939417c4a80b",
    "raw/crm/extraction_clients_part-0001.csv": "4cd5073a6433b4c1",
    "raw/emailing/evenements_campagnes_part-0001.csv": "093f292460eba56e",
    "raw/eshop/commandes_part-0001.jsonl": "1e08c4abbd6d64f9",
    "raw/eshop/comptes_clients_part-0001.csv": "96c1abdf7b87d31f",
    "raw/fidelite/adherents_part-0001.csv": "80d628a2fe3cb2a4",
    "raw/magasins/tickets_part-0001.parquet": "d78b286d39e48fa3",
    "raw/newsletter/inscriptions_part-0001.csv": "66bd45c87f50314f",
    "raw/service_client/appels_part-0001.csv": "c3f5eab175212199",
    "raw/web/navigation_part-0001.jsonl": "a85dddf705217db7",
    "truth/persons.parquet": "a051e3a481041b67",
    "truth/truth.parquet": "860f7a5c3046ce62",
}


def content_hash(path: Path) -> str:
    data = path.read_bytes()
    if path.suffix == ".parquet":
        data = json.dumps(pq.read_table(path).to_pylist(), default=str, ensure_ascii=False).encode()
    return hashlib.sha256(data).hexdigest()[:16]


def hashes(root: Path) -> dict[str, str]:
    return {str(f.relative_to(root)): content_hash(f) for f in sorted(root.rglob("*")) if f.is_file()}


@pytest.fixture(scope="module")
def run(tmp_path_factory):
    root = tmp_path_factory.mktemp("days")
    summary = generate(persons=PERSONS, raw_dir=root / "raw", truth_dir=root / "truth", seed=42, days=DAYS,
                       changes=CHANGES)
    return root, summary


@pytest.fixture(scope="module")
def day_truth(run):
    root, summary = run
    return {d.day: pq.read_table(root / "truth" / "days" / f"{d.date.replace('-', '')}.parquet").to_pandas()
            for d in summary.days}


def test_without_days_the_files_are_those_written_before_daily_deliveries_existed(tmp_path):
    generate(persons=300, raw_dir=tmp_path / "raw", truth_dir=tmp_path / "truth", seed=42)
    assert hashes(tmp_path) == BEFORE_DAYS


def test_the_initial_delivery_is_the_same_with_or_without_days(run, tmp_path):
    root, _ = run
    generate(persons=PERSONS, raw_dir=tmp_path / "raw", truth_dir=tmp_path / "truth", seed=42)
    without = {k: v for k, v in hashes(tmp_path).items() if k.startswith("raw/")}
    with_days = hashes(root)
    assert without and all(with_days[name] == value for name, value in without.items())


def test_every_day_file_is_picked_up_by_its_source_glob_and_deletion_lists_by_none(run):
    root, summary = run
    matched: dict[str, list[str]] = {}
    for name, spec in SOURCES.items():
        for path in glob.glob(str(root / "raw" / spec["path"])):
            matched.setdefault(str(Path(path).relative_to(root / "raw")), []).append(name)
    for day in summary.days:
        for name in day.files:
            if "/suppressions_" in name:
                assert name not in matched, name
            else:
                assert len(matched.get(name, [])) == 1, name
                assert f"_{day.date.replace('-', '')}" in name


def test_each_day_is_deterministic_and_days_added_later_are_the_same_files(run, tmp_path):
    root, _ = run
    generate(persons=PERSONS, raw_dir=tmp_path / "raw", truth_dir=tmp_path / "truth", seed=42, days=1,
             changes=CHANGES)
    added = generate(persons=PERSONS, raw_dir=tmp_path / "raw", truth_dir=tmp_path / "truth", seed=42, days=DAYS,
                     first_day=2, changes=CHANGES)
    assert [d.day for d in added.days] == [2, 3]
    assert not any("_part-" in f for f in added.files)   # the initial delivery is not written again
    assert hashes(tmp_path) == hashes(root)


def test_days_can_follow_an_initial_delivery_written_without_days(run, tmp_path):
    root, _ = run
    generate(persons=PERSONS, raw_dir=tmp_path / "raw", truth_dir=tmp_path / "truth", seed=42)
    generate(persons=PERSONS, raw_dir=tmp_path / "raw", truth_dir=tmp_path / "truth", seed=42, days=DAYS,
             first_day=1, changes=CHANGES)
    assert hashes(tmp_path) == hashes(root)
    other = tmp_path / "other"
    generate(persons=PERSONS, raw_dir=other / "raw", truth_dir=other / "truth", seed=7)
    with pytest.raises(ValueError, match="not the truth of an initial delivery with these persons"):
        generate(persons=PERSONS, raw_dir=other / "raw", truth_dir=other / "truth", seed=42, days=1, first_day=1)
    assert sorted(p.name for p in (other / "truth").iterdir()) == ["persons.parquet", "truth.parquet"]


def test_adding_days_to_other_settings_or_without_the_earlier_days_is_refused(run, tmp_path):
    root, _ = run
    with pytest.raises(ValueError, match="persons: 400 there, 500 here"):
        generate(persons=500, raw_dir=root / "raw", truth_dir=root / "truth", seed=42, days=4, first_day=4,
                 changes=CHANGES)
    with pytest.raises(ValueError, match="generate from day 0"):
        generate(persons=PERSONS, raw_dir=tmp_path / "raw", truth_dir=tmp_path / "truth", days=2, first_day=2)
    with pytest.raises(ValueError, match="store_crm_only"):
        generate(persons=PERSONS, raw_dir=tmp_path / "raw", truth_dir=tmp_path / "truth", days=1,
                 profile="store_crm_only")


def test_records_new_or_changed_per_day_follow_the_rate_or_the_absolute_number(run, tmp_path):
    root, summary = run
    day_records = [sum(d.records.values()) for d in summary.days]
    base = generate(persons=PERSONS, raw_dir=tmp_path / "base" / "raw", truth_dir=tmp_path / "base" / "truth")
    initial_records = pq.read_metadata(tmp_path / "base" / "truth" / "truth.parquet").num_rows
    assert base.days == []
    assert all(0.75 * CHANGES.rate * initial_records <= n <= 1.25 * CHANGES.rate * initial_records
               for n in day_records), (day_records, initial_records)
    for persons in (300, 900):   # the same delta whatever the base
        fixed = generate(persons=persons, raw_dir=tmp_path / str(persons) / "raw",
                         truth_dir=tmp_path / str(persons) / "truth", days=2,
                         changes=DailyChanges(per_day=150, snapshot_sources=()))
        assert all(110 <= sum(d.records.values()) <= 190 for d in fixed.days), fixed.days


def test_truth_maps_every_record_held_after_the_last_day_and_lists_the_deleted(run):
    root, _ = run
    truth = pq.read_table(root / "truth" / "truth.parquet").to_pandas()
    deleted = pq.read_table(root / "truth" / "deleted.parquet").to_pandas()
    assert list(truth.columns) == ["source", "source_record_id", "person_id"]
    assert not truth.duplicated(["source", "source_record_id"]).any()
    for source in RETAIL:
        rows, _ = read_source(root, source)
        delivered = {str(dig(row, SOURCES[source]["record_id"])) for row in rows}
        gone = set(deleted.loc[deleted.source == source, "source_record_id"])
        held = set(truth.loc[truth.source == source, "source_record_id"])
        assert held == delivered - gone, source
        assert gone <= delivered, source


def test_changed_records_keep_their_person_and_new_customers_are_new_persons(run, day_truth):
    root, _ = run
    truth = pq.read_table(root / "truth" / "truth.parquet").to_pandas()
    persons = pq.read_table(root / "truth" / "persons.parquet").to_pandas()
    deleted = pq.read_table(root / "truth" / "deleted.parquet").to_pandas()
    ever = pd.concat([truth, deleted[truth.columns]])
    person_of = dict(zip(ever.source + ":" + ever.source_record_id, ever.person_id))
    for frame in day_truth.values():
        updated = frame[frame.change == "updated"]
        assert len(updated)
        assert (updated.source + ":" + updated.source_record_id).map(person_of).tolist() == updated.person_id.tolist()
    newcomers = set().union(*(f.loc[f.reason == "new_customer", "person_id"] for f in day_truth.values()))
    assert newcomers and newcomers.isdisjoint(set(truth.person_id) - newcomers)
    assert len(persons) > PERSONS and newcomers <= set(persons.person_id)
    reasons = set().union(*(set(f.reason) for f in day_truth.values()))
    assert {"new_customer", "activity", "move", "email", "mobile", "married_name", "new_card", "typo_fix", "consent",
            "opt_out", "deleted"} <= reasons


def test_a_mover_s_account_comes_again_with_the_new_address(run, day_truth):
    root, summary = run
    last = summary.days[-1]   # persons.parquet holds each person's latest move
    persons = pq.read_table(root / "truth" / "persons.parquet").to_pandas().set_index("person_id")
    moved = day_truth[last.day].query("reason == 'move' and source == 'eshop_accounts'")
    assert len(moved)
    with open(root / "raw" / "eshop" / f"comptes_clients_{last.date.replace('-', '')}.csv",
              encoding="utf-8", newline="") as handle:
        rows = {row["id_compte"]: row for row in csv.DictReader(handle, delimiter=";")}
    for record, person in zip(moved.source_record_id, moved.person_id):
        assert str(persons.loc[person, "move_date"]) == last.date
        assert rows[record]["code_postal"].zfill(5)[:2] == persons.loc[person, "postcode"][:2]
        assert rows[record]["date_maj"].startswith(last.date)


def test_deletions_come_as_deletion_lists_and_as_records_missing_from_the_crm_extract(run):
    root, summary = run
    deleted = pq.read_table(root / "truth" / "deleted.parquet").to_pandas()
    assert set(deleted.deleted_by) == {"deletion_list", "snapshot"}
    listed = set()
    for path in sorted((root / "raw").rglob("suppressions_*.csv")):
        with open(path, encoding="utf-8", newline="") as handle:
            rows = list(csv.DictReader(handle, delimiter=";"))
        source = next(s for s in RETAIL if rows and SOURCES[s]["record_id"] in rows[0]
                      and path.parent.name == SOURCES[s]["path"].split("/")[0])
        assert list(rows[0]) == [SOURCES[source]["record_id"], "date_suppression", "motif"]
        listed |= {(source, row[SOURCES[source]["record_id"]]) for row in rows}
    by_list = deleted[deleted.deleted_by == "deletion_list"]
    assert listed == set(zip(by_list.source, by_list.source_record_id))

    def crm_codes(stamp: str) -> set[str]:
        with open(root / "raw" / "crm" / f"extraction_clients_{stamp}.csv", encoding="utf-8", newline="") as handle:
            return {row["code_client"] for row in csv.DictReader(handle, delimiter=";")}

    stamps = [d.date.replace("-", "") for d in summary.days]
    in_snapshot = deleted[deleted.deleted_by == "snapshot"]
    assert set(in_snapshot.source) == {"crm_customers"}
    for code, day in zip(in_snapshot.source_record_id, in_snapshot.day):
        assert code not in crm_codes(stamps[day - 1])
        assert day == 1 or code in crm_codes(stamps[day - 2])


def test_without_snapshots_the_crm_sends_changes_and_a_deletion_list(tmp_path):
    summary = generate(persons=PERSONS, raw_dir=tmp_path / "raw", truth_dir=tmp_path / "truth", days=2,
                       changes=DailyChanges(rate=0.05, snapshot_sources=()))
    crm_held = pq.read_table(tmp_path / "truth" / "truth.parquet").to_pandas().query("source == 'crm_customers'")
    assert all(d.rows_per_source["crm_customers"] < len(crm_held) / 5 for d in summary.days)
    assert glob.glob(str(tmp_path / "raw" / "crm" / "suppressions_extraction_clients_*.csv"))


def test_a_resent_file_is_a_byte_copy_of_a_file_of_the_day_before(run):
    root, summary = run
    day2 = summary.days[1]
    assert day2.resent and "_renvoi_" in day2.resent and day2.resent in day2.files
    original = day2.resent.split("_renvoi_")[0] + "." + day2.resent.rsplit(".", 1)[1]
    assert original in summary.days[0].files
    assert (root / "raw" / day2.resent).read_bytes() == (root / "raw" / original).read_bytes()
    assert summary.days[0].resent is None and summary.days[2].resent is None


def test_truth_as_of_a_day_gives_the_records_held_then(run, day_truth, tmp_path):
    root, _ = run
    generate(persons=PERSONS, raw_dir=tmp_path / "raw", truth_dir=tmp_path / "truth", seed=42)
    initial = pq.read_table(tmp_path / "truth" / "truth.parquet")

    def keys(table) -> set:
        return set(zip(*(table.column(c).to_pylist() for c in ("source", "source_record_id", "person_id"))))

    assert keys(truth_as_of(root / "truth", 0)) == keys(initial)
    assert keys(truth_as_of(root / "truth", DAYS)) == keys(pq.read_table(root / "truth" / "truth.parquet"))
    day1 = keys(truth_as_of(root / "truth", 1))
    new1 = day_truth[1].query("change == 'new'")
    gone1 = day_truth[1].query("change == 'deleted'")
    assert day1 == (keys(initial) | set(zip(new1.source, new1.source_record_id, new1.person_id))) - set(
        zip(gone1.source, gone1.source_record_id, gone1.person_id))


def test_the_command_line_takes_days_and_change_settings():
    args = generate_job.build_parser().parse_args(
        ["--persons", "100", "--days", "3", "--first-day", "2", "--daily-changes", "500", "--snapshot-sources", "none"])
    assert (args.days, args.first_day) == (3, 2)
    assert generate_job.daily_changes(args) == DailyChanges(per_day=500, snapshot_sources=())
    default = generate_job.build_parser().parse_args(["--persons", "100"])
    assert (default.days, generate_job.daily_changes(default)) == (0, DailyChanges())
    with pytest.raises(SystemExit):
        generate_job.build_parser().parse_args(["--daily-change-rate", "0.02", "--daily-changes", "10"])
