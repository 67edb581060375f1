"""The synthetic data generator: files where conf/sources.yaml says, reproducible, truthful, and noisy.

One generation of 2,000 people (seed 42) is shared by the module; two more runs check reproducibility.
No Spark here: the files are read with the standard library, pyarrow and pandas.
"""

from __future__ import annotations

import csv
import glob
import hashlib
import io
import json
import re
from collections import defaultdict
from pathlib import Path

import pandas as pd
import pyarrow.parquet as pq
import pytest
import yaml

from spark_lib.generator import GenerationSummary, generate

CONF = Path(__file__).resolve().parent.parent / "conf" / "sources.yaml"
PERSONS = 2000
SOURCES = yaml.safe_load(CONF.read_text(encoding="utf-8"))["sources"]


@pytest.fixture(scope="module")
def run(tmp_path_factory):
    root = tmp_path_factory.mktemp("generated")
    summary = generate(persons=PERSONS, raw_dir=root / "raw", truth_dir=root / "truth", seed=42,
                       reference_date="2026-10-31")
    return root, summary


@pytest.fixture(scope="module")
def truth(run) -> pd.DataFrame:
    root, _ = run
    return pq.read_table(root / "truth" / "truth.parquet").to_pandas()


@pytest.fixture(scope="module")
def persons(run) -> pd.DataFrame:
    root, _ = run
    return pq.read_table(root / "truth" / "persons.parquet").to_pandas()


def files_of(root: Path, source: str) -> list[str]:
    return sorted(glob.glob(str(root / "raw" / SOURCES[source]["path"])))


def read_source(root: Path, source: str) -> tuple[list[dict], int]:
    """The well-formed rows of a source (as dicts, JSON nested) and the number of malformed rows seen."""
    spec = SOURCES[source]
    rows, bad = [], 0
    record_id = spec["record_id"]
    for path in files_of(root, source):
        if spec["format"] == "csv":
            text = Path(path).read_bytes().decode(spec.get("encoding", "utf-8"))
            reader = csv.reader(io.StringIO(text), delimiter=spec.get("separator", ","))
            header = next(reader)
            for fields in reader:
                if len(fields) != len(header) or not fields[header.index(record_id)]:
                    bad += 1
                    continue
                rows.append(dict(zip(header, fields)))
        elif spec["format"] == "json":
            for line in Path(path).read_text(encoding="utf-8").splitlines():
                try:
                    row = json.loads(line)
                except json.JSONDecodeError:
                    bad += 1
                    continue
                if not dig(row, record_id):
                    bad += 1
                    continue
                rows.append(row)
        else:
            for row in pq.read_table(path).to_pylist():
                if row[record_id] is None or row[record_id] == "":
                    bad += 1
                    continue
                rows.append(row)
    return rows, bad


def dig(row: dict, dotted: str):
    value = row
    for key in dotted.split("."):
        if not isinstance(value, dict) or key not in value:
            return None
        value = value[key]
    return value


def columns_of(root: Path, source: str) -> set[str]:
    """Column names of the first file; JSON: keys of the objects, nested keys as "a.b"."""
    spec = SOURCES[source]
    path = files_of(root, source)[0]
    if spec["format"] == "csv":
        with open(path, encoding=spec.get("encoding", "utf-8"), newline="") as handle:
            return set(next(csv.reader(handle, delimiter=spec.get("separator", ","))))
    if spec["format"] == "parquet":
        return set(pq.read_schema(path).names)
    names: set[str] = set()
    for line in Path(path).read_text(encoding="utf-8").splitlines()[:200]:
        try:
            row = json.loads(line)
        except json.JSONDecodeError:
            continue
        for key, value in row.items():
            names.add(key)
            if isinstance(value, dict):
                names.update(f"{key}.{k}" for k in value)
    return names


def sha(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


def all_hashes(root: Path) -> dict[str, str]:
    return {str(p.relative_to(root)): sha(p) for p in sorted(root.rglob("*")) if p.is_file()}


# --------------------------------------------------------------------------------------------------


def test_summary_describes_what_was_written(run):
    root, summary = run
    assert isinstance(summary, GenerationSummary)
    assert summary.persons == PERSONS
    assert set(summary.rows_per_source) == set(SOURCES)
    assert all(Path(f).exists() for f in summary.files)
    assert str(root / "truth" / "truth.parquet") in summary.files
    assert 10 * PERSONS < sum(summary.rows_per_source.values()) < 30 * PERSONS
    assert summary.seconds > 0


@pytest.mark.parametrize("source", sorted(SOURCES))
def test_source_files_sit_at_the_yaml_glob_with_every_mapped_column(run, source):
    root, summary = run
    spec = SOURCES[source]
    assert files_of(root, source), f"no file matches {spec['path']}"
    wanted = {spec["record_id"], *spec.get("identity", {}).values()}
    wanted |= set((spec.get("interactions") or {}).get("fields", {}).values())
    missing = wanted - columns_of(root, source)
    assert not missing, f"{source}: columns missing {sorted(missing)}"


def test_orders_carry_a_nested_shipping_object(run):
    root, _ = run
    rows, _ = read_source(root, "eshop_orders")
    shipped = [r for r in rows if r["shipping"]["last_name"]]
    assert shipped
    assert set(shipped[0]["shipping"]) >= {"first_name", "last_name", "address", "postcode", "city", "phone"}
    assert {r["status"] for r in rows} >= {"cart", "completed", "cancelled"}


def test_same_seed_gives_identical_files_and_another_seed_different_ones(run, tmp_path):
    root, _ = run
    generate(persons=PERSONS, raw_dir=tmp_path / "same" / "raw", truth_dir=tmp_path / "same" / "truth", seed=42)
    generate(persons=PERSONS, raw_dir=tmp_path / "other" / "raw", truth_dir=tmp_path / "other" / "truth", seed=7)
    reference = {k: v for k, v in all_hashes(root).items()}
    assert all_hashes(tmp_path / "same") == reference
    other = all_hashes(tmp_path / "other")
    assert other.keys() == reference.keys()
    assert all(other[k] != reference[k] for k in reference)


@pytest.mark.parametrize("source", sorted(SOURCES))
def test_truth_has_exactly_one_row_per_record_id_found_in_the_files(run, truth, source):
    root, _ = run
    rows, _ = read_source(root, source)
    ids = {str(dig(r, SOURCES[source]["record_id"])) for r in rows}
    mine = truth[truth["source"] == source]
    assert not mine["source_record_id"].duplicated().any()
    assert set(mine["source_record_id"]) == ids
    assert mine["person_id"].str.match(r"^P\d{8}$").all()


@pytest.mark.parametrize("source", sorted(SOURCES))
def test_malformed_rows_counted_in_the_summary_are_those_in_the_files(run, source):
    root, summary = run
    rows, bad = read_source(root, source)
    assert bad == summary.malformed_per_source[source]
    assert len(rows) + bad == summary.rows_per_source[source]
    if SOURCES[source]["format"] in ("csv", "json"):
        assert bad >= 1
        lines = sum(len(Path(p).read_bytes().splitlines()) for p in files_of(root, source))
        header = len(files_of(root, source)) if SOURCES[source]["format"] == "csv" else 0
        assert lines - header == summary.rows_per_source[source]   # one physical line per row


def test_loyalty_file_is_windows_1252(run):
    root, _ = run
    data = b"".join(Path(p).read_bytes() for p in files_of(root, "loyalty_members"))
    with pytest.raises(UnicodeDecodeError):
        data.decode("utf-8")
    text = data.decode("cp1252")
    assert re.search("[éèÉÈêëïçô]", text)


def test_phones_come_in_national_and_international_forms(run):
    root, _ = run
    phones = [r["telephone"] for r in read_source(root, "eshop_accounts")[0] if r["telephone"]]
    phones += [r["tel_portable"] for r in read_source(root, "loyalty_members")[0] if r["tel_portable"]]
    assert any(p.startswith("+33") for p in phones)
    assert any(re.fullmatch(r"0[1-9]\d{8}", p) for p in phones)
    assert any(re.fullmatch(r"0[1-9]( \d\d){4}", p) for p in phones)
    assert any(p in ("0000000000", "0600000000") for p in phones)


def test_emails_carry_case_typos_and_placeholders(run):
    root, _ = run
    emails = []
    for source in ("eshop_accounts", "loyalty_members", "crm_customers", "newsletter_signups"):
        emails += [r["email"] for r in read_source(root, source)[0] if r["email"]]
    assert any(e != e.lower() for e in emails)
    assert any(e.lower().endswith(("@gmial.com", "@gmal.com")) for e in emails)
    assert any(e in ("test@test.fr", "aucun@aucun.fr") for e in emails)


def test_one_store_number_is_typed_on_receipts_of_many_people(run, truth):
    root, _ = run
    receipts = pd.DataFrame(read_source(root, "pos_receipts")[0])
    who = truth[truth["source"] == "pos_receipts"].set_index("source_record_id")["person_id"]
    receipts["person_id"] = receipts["ticket_id"].map(who)
    people_per_phone = receipts.dropna(subset=["telephone"]).groupby("telephone")["person_id"].nunique()
    assert people_per_phone.max() >= 10
    assert receipts["carte_fidelite"].notna().any() and receipts["email_ticket"].notna().any()
    assert receipts[["carte_fidelite", "email_ticket", "telephone"]].isna().all(axis=1).mean() > 0.3


def test_family_emails_are_shared_by_people_with_different_first_names(persons):
    shared = persons[persons["family_email"]].groupby("email")["first_name"].agg(["nunique", "size"])
    assert len(shared) >= 5
    assert (shared["nunique"] == 2).all() and (shared["size"] == 2).all()


def test_homonyms_and_twins_exist(persons):
    names = persons.groupby(["first_name", "last_name"])["person_id"].nunique()
    assert (names >= 2).sum() >= 0.005 * PERSONS
    assert persons["homonym_of"].notna().sum() >= 0.005 * PERSONS
    twins = persons[persons["is_twin"]]
    assert len(twins) >= 2
    for _, pair in twins.groupby("household_id"):
        assert len(pair) == 2
        assert pair["birth_date"].nunique() == 1 and pair["last_name"].nunique() == 1
        assert pair["first_name"].nunique() == 2


def test_married_women_have_their_birth_name_in_the_loyalty_file(run):
    root, _ = run
    members = read_source(root, "loyalty_members")[0]
    assert any(m["nom_naissance"] and m["nom_naissance"] != m["nom"] for m in members)


def test_some_people_have_two_records_in_one_source(truth):
    per_person = truth.groupby(["source", "person_id"]).size()
    for source in ("eshop_accounts", "loyalty_members", "crm_customers"):
        assert (per_person[source] >= 2).any(), source


def test_movers_have_their_old_postcode_in_older_records(run, truth, persons):
    root, _ = run
    crm = pd.DataFrame(read_source(root, "crm_customers")[0])
    who = truth[truth["source"] == "crm_customers"].set_index("source_record_id")["person_id"]
    crm["person_id"] = crm["code_client"].map(who)
    movers = persons[persons["moved"]].set_index("person_id")
    crm = crm[crm["person_id"].isin(movers.index)]
    old = crm["code_postal"] == crm["person_id"].map(movers["previous_postcode"])
    new = crm["code_postal"] == crm["person_id"].map(movers["postcode"])
    assert (old & ~new).any() and (new & ~old).any()


def test_web_logins_carry_the_account_and_other_events_do_not(run, truth):
    root, _ = run
    events = pd.DataFrame(read_source(root, "web_events")[0])
    login = events["event_type"] == "login"
    assert events.loc[login, "account_id"].notna().all()
    assert events.loc[~login, "account_id"].isna().all()
    assert set(events["event_type"]) == {"page_view", "product_view", "add_to_cart", "checkout_start", "login"}
    # some cookies never log in: anonymous, but still in the truth
    logged = set(events.loc[login, "cookie_id"])
    assert set(events["cookie_id"]) - logged


def test_events_fall_in_the_24_months_before_the_reference_date(run):
    root, _ = run
    events = pd.DataFrame(read_source(root, "web_events")[0])
    ts = pd.to_datetime(events["ts"])
    assert ts.min() >= pd.Timestamp("2024-10-31") and ts.max() < pd.Timestamp("2026-11-01")
    receipts = pd.DataFrame(read_source(root, "pos_receipts")[0])
    assert receipts["date_ticket"].max() < pd.Timestamp("2026-11-01")


def test_catalogue_recipients_visit_and_leave_a_cart_without_ordering(run, truth):
    """The trigger audience: catalogue received, site visited within 14 days, cart started, no order."""
    root, _ = run
    t = truth.set_index(["source", "source_record_id"])["person_id"]
    mailings = pd.DataFrame(read_source(root, "catalogue_mailings")[0])
    mailings["person_id"] = [t[("catalogue_mailings", i)] for i in mailings["id_destinataire"]]
    events = pd.DataFrame(read_source(root, "web_events")[0])
    events["person_id"] = [t[("web_events", c)] for c in events["cookie_id"]]
    events["ts"] = pd.to_datetime(events["ts"])
    orders = pd.DataFrame(read_source(root, "eshop_orders")[0])
    orders["person_id"] = [t[("eshop_orders", o)] for o in orders["order_id"]]
    orders["created_at"] = pd.to_datetime(orders["created_at"])
    mailings = mailings[["person_id", "date_envoi"]].drop_duplicates()
    mailings["end"] = mailings["date_envoi"] + pd.Timedelta(days=14)
    visits = mailings.merge(events[["person_id", "ts"]], on="person_id")
    visited = visits[(visits.ts > visits.date_envoi) & (visits.ts <= visits.end)][["person_id", "date_envoi"]]
    placed = mailings.merge(orders[["person_id", "created_at", "status"]], on="person_id")
    placed = placed[(placed.created_at > placed.date_envoi) & (placed.created_at <= placed.end)]
    carts = placed[placed.status == "cart"][["person_id", "date_envoi"]]
    bought = placed[placed.status == "completed"][["person_id", "date_envoi"]].assign(bought=True)
    candidates = visited.drop_duplicates().merge(carts.drop_duplicates(), on=["person_id", "date_envoi"])
    candidates = candidates.merge(bought.drop_duplicates(), on=["person_id", "date_envoi"], how="left")
    audience = set(candidates[candidates["bought"].isna()]["person_id"])
    assert len(audience) >= 3


def test_some_people_look_at_products_online_before_buying_in_store(run, truth):
    root, _ = run
    t = truth.set_index(["source", "source_record_id"])["person_id"]
    events = pd.DataFrame(read_source(root, "web_events")[0])
    views = events[events["event_type"] == "product_view"].copy()
    views["person_id"] = [t[("web_events", c)] for c in views["cookie_id"]]
    views["ts"] = pd.to_datetime(views["ts"])
    receipts = pd.DataFrame(read_source(root, "pos_receipts")[0])
    receipts["person_id"] = [t[("pos_receipts", i)] for i in receipts["ticket_id"]]
    both = receipts.merge(views, on="person_id")
    before = both[(both["ts"] < both["date_ticket"]) & (both["ts"] > both["date_ticket"] - pd.Timedelta(days=7))]
    assert before["ticket_id"].nunique() >= 50


def test_consents_are_written_the_way_each_source_writes_them(run):
    root, _ = run
    assert {r["optin_email"] for r in read_source(root, "eshop_accounts")[0]} <= {"1", "0", ""}
    assert {r["optin_sms"].upper() for r in read_source(root, "loyalty_members")[0]} <= {"O", "N", ""}
    assert {r["consentement"].lower() for r in read_source(root, "newsletter_signups")[0]} <= {"oui", "non", ""}
    assert {r["accepte_courrier"].lower() for r in read_source(root, "crm_customers")[0]} <= {"true", "false", ""}


def test_crm_names_are_written_last_name_first_in_capitals(run):
    root, _ = run
    names = [r["nom_prenom"] for r in read_source(root, "crm_customers")[0]]
    upper_first = [n for n in names if re.match(r"^[A-ZÀ-Ý' -]{2,}\s+[A-ZÀ-Ý][a-zà-ÿ]", n)]
    assert len(upper_first) > 0.5 * len(names)


def test_bad_arguments_are_refused_with_a_clear_message(tmp_path):
    with pytest.raises(ValueError, match="persons"):
        generate(persons=0, raw_dir=tmp_path / "raw", truth_dir=tmp_path / "truth")
    with pytest.raises(ValueError, match="reference_date"):
        generate(persons=10, raw_dir=tmp_path / "raw", truth_dir=tmp_path / "truth", reference_date="31/10/2026")
    with pytest.raises(TypeError, match="persons"):
        generate(persons="10", raw_dir=tmp_path / "raw", truth_dir=tmp_path / "truth")


def test_a_rerun_with_fewer_people_leaves_no_stale_part_files(tmp_path):
    generate(persons=150, raw_dir=tmp_path / "raw", truth_dir=tmp_path / "truth", seed=1)
    stale = tmp_path / "raw" / "eshop" / "comptes_clients_part-0002.csv"
    stale.write_text("old")
    summary = generate(persons=120, raw_dir=tmp_path / "raw", truth_dir=tmp_path / "truth", seed=1)
    assert not stale.exists()
    assert summary.persons == 120
    per_person = defaultdict(int)
    for row in pq.read_table(tmp_path / "truth" / "persons.parquet").to_pylist():
        per_person[row["person_id"]] += 1
    assert len(per_person) == 120 and set(per_person.values()) == {1}
