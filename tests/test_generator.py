"""The synthetic data generator: files where conf/sources.yaml says, reproducible, truthful, and noisy.

One generation of 2,000 people (seed 42, standard profile) is shared by the module; two more runs check
reproducibility, and runs of 1,000 people check the other profiles (store_crm_only, foreign).
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
import phonenumbers
import pyarrow.parquet as pq
import pytest
import yaml

from jobs import generate as generate_job
from spark_lib.generator import GENERATOR_PROFILES, GenerationSummary, generate
from spark_lib.generator.render import PLACEHOLDER_PHONES

CONF = Path(__file__).resolve().parent.parent / "conf" / "sources.yaml"
PERSONS = 2000
SOURCES = yaml.safe_load(CONF.read_text(encoding="utf-8"))["sources"]
#: the sources the standard profile writes (store_customers belongs to the store_crm_only profile)
STANDARD = GENERATOR_PROFILES["standard"].sources


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
    assert set(summary.rows_per_source) == set(STANDARD)
    assert all(Path(f).exists() for f in summary.files)
    assert str(root / "truth" / "truth.parquet") in summary.files
    assert 10 * PERSONS < sum(summary.rows_per_source.values()) < 30 * PERSONS
    assert summary.seconds > 0


@pytest.mark.parametrize("source", sorted(STANDARD))
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


@pytest.mark.parametrize("source", sorted(STANDARD))
def test_truth_has_exactly_one_row_per_record_id_found_in_the_files(run, truth, source):
    root, _ = run
    rows, _ = read_source(root, source)
    ids = {str(dig(r, SOURCES[source]["record_id"])) for r in rows}
    mine = truth[truth["source"] == source]
    assert not mine["source_record_id"].duplicated().any()
    assert set(mine["source_record_id"]) == ids
    assert mine["person_id"].str.match(r"^P\d{8}$").all()


@pytest.mark.parametrize("source", sorted(STANDARD))
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


# --------------------------------------------------------------------------------------------------
# Profiles
# --------------------------------------------------------------------------------------------------

PROFILE_PERSONS = 1000
#: canonical fields the store_crm_only profile must leave empty: every deterministic pivot and contact
CONTACT_AND_PIVOTS = ("email", "phone", "phone_2", "loyalty_card", "account_id", "customer_ref", "cookie_id")
POSTCODE_FORMATS = {
    "BE": r"\d{4}", "CH": r"\d{4}", "LU": r"(L-)?\d{4}", "DE": r"\d{5}", "ES": r"\d{5}",
    "GB": r"[A-Z]{1,2}\d[A-Z\d]? \d[A-Z]{2}",
}


def generate_profile(root: Path, profile: str, **kwargs) -> tuple[Path, GenerationSummary]:
    summary = generate(persons=PROFILE_PERSONS, raw_dir=root / "raw", truth_dir=root / "truth", seed=42,
                       reference_date="2026-10-31", profile=profile, **kwargs)
    return root, summary


@pytest.fixture(scope="module")
def store_run(tmp_path_factory):
    return generate_profile(tmp_path_factory.mktemp("store_crm_only"), "store_crm_only")


@pytest.fixture(scope="module")
def foreign_run(tmp_path_factory):
    return generate_profile(tmp_path_factory.mktemp("foreign"), "foreign")


def records_with_persons(root: Path, source: str) -> list[tuple[dict, dict]]:
    """Each well-formed record of ``source`` with its person's true attributes (through truth.parquet)."""
    truth = pq.read_table(root / "truth" / "truth.parquet").to_pandas()
    persons = {r["person_id"]: r for r in pq.read_table(root / "truth" / "persons.parquet").to_pylist()}
    owner = dict(zip(truth.loc[truth.source == source, "source_record_id"],
                     truth.loc[truth.source == source, "person_id"]))
    rows, _ = read_source(root, source)
    return [(row, persons[owner[str(dig(row, SOURCES[source]["record_id"]))]]) for row in rows]


def test_store_crm_only_writes_names_addresses_and_birth_dates_and_no_contact_or_pivot(store_run):
    root, summary = store_run
    profile = GENERATOR_PROFILES["store_crm_only"]
    assert set(summary.rows_per_source) == set(profile.sources)
    written = {s for s in SOURCES if files_of(root, s)}
    assert written == set(profile.sources)
    birth_dates = 0
    for source in profile.sources:
        identity = SOURCES[source]["identity"]
        rows, _ = read_source(root, source)
        assert len(rows) > PROFILE_PERSONS // 2
        for field in CONTACT_AND_PIVOTS:
            if field in identity:
                filled = [dig(r, identity[field]) for r in rows if dig(r, identity[field]) not in (None, "")]
                assert not filled, f"{source}.{identity[field]} ({field}) holds {filled[:3]}"
        for field in ("last_name", "first_name", "street", "postcode", "city"):
            present = sum(dig(r, identity[field]) not in (None, "") for r in rows)
            assert present > 0.95 * len(rows), f"{source}: {field} filled in {present}/{len(rows)} records"
        if "birth_date" in identity:
            birth_dates += sum(dig(r, identity["birth_date"]) not in (None, "") for r in rows)
    assert birth_dates > 0.8 * summary.rows_per_source["store_customers"]


def test_store_crm_only_people_appear_in_several_records_of_one_and_of_both_sources(store_run):
    root, _ = store_run
    truth = pq.read_table(root / "truth" / "truth.parquet").to_pandas()
    per_person = truth.groupby("person_id").size()
    assert (per_person >= 2).mean() > 0.5
    in_store_file = truth[truth.source == "store_customers"].groupby("person_id").size()
    assert (in_store_file >= 2).sum() > 0.15 * len(in_store_file)   # keyed in again: a move, a store, a marriage
    sources = truth.groupby("person_id")["source"].nunique()
    assert (sources == 2).sum() > 0.3 * len(sources)
    # a moved person's older card keeps the old postcode
    moved = [(row, person) for row, person in records_with_persons(root, "store_customers") if person["moved"]]
    assert any(row["code_postal"] == person["previous_postcode"] != person["postcode"] for row, person in moved)


def test_foreign_profile_puts_about_a_tenth_of_the_persons_abroad_in_several_countries(foreign_run):
    root, summary = foreign_run
    assert summary.profile == "foreign" and summary.foreign_share == 0.10
    country = pq.read_table(root / "truth" / "persons.parquet").column("country").to_pylist()
    counts = {c: country.count(c) for c in set(country)}
    abroad = len(country) - counts["FR"]
    assert 0.065 < abroad / len(country) < 0.135
    assert set(counts) == {"FR", "BE", "CH", "LU", "DE", "ES", "GB"}
    assert counts["BE"] + counts["CH"] > abroad / 3


def test_foreign_persons_carry_local_names_and_addresses(foreign_run):
    root, _ = foreign_run
    persons = pq.read_table(root / "truth" / "persons.parquet").to_pandas()
    abroad = persons[persons.country != "FR"]
    assert any(not name.isascii() for name in abroad.last_name)   # Müller, Peña, Gonçalves kept as written
    for row in abroad.itertuples():
        assert re.fullmatch(POSTCODE_FORMATS[row.country], row.postcode), (row.country, row.postcode)
    accounts = {r["id_compte"]: r for r in read_source(root, "eshop_accounts")[0]}
    lines = [row["adresse"] for row, person in records_with_persons(root, "eshop_accounts")
             if person["country"] == "GB" and row["adresse"]]
    assert lines and sum(bool(re.match(r"\d+[A-Za-z]? ", line)) for line in lines) > 0.9 * len(lines)
    lines = [row["adresse"] for row, person in records_with_persons(root, "eshop_accounts")
             if person["country"] in ("DE", "ES") and row["adresse"]]
    assert lines and sum(bool(re.search(r"\D \d+[A-Za-z]?$", line)) for line in lines) > 0.8 * len(lines)
    countries = {row["pays"] for row in accounts.values()}
    assert {"France", "Belgique", "Suisse"} <= countries
    emails = {row["email"].rpartition("@")[2].lower() for row in accounts.values() if row["email"]}
    assert {"skynet.be", "bluewin.ch", "gmx.de"} & emails


def foreign_phones(root: Path) -> list[tuple[str, str, str]]:
    """(source, phone as written, country) of every phone of a person living abroad (placeholders aside)."""
    out = []
    for source in STANDARD:
        identity = SOURCES[source]["identity"]
        fields = [identity[f] for f in ("phone", "phone_2") if f in identity]
        if not fields:
            continue
        for row, person in records_with_persons(root, source):
            for field in fields:
                value = dig(row, field)
                if person["country"] != "FR" and value and value not in PLACEHOLDER_PHONES:
                    out.append((source, value, person["country"]))
    return out


def test_foreign_phones_are_valid_for_their_country(foreign_run):
    root, _ = foreign_run
    phones = foreign_phones(root)
    assert {source for source, _, _ in phones} >= {"eshop_accounts", "loyalty_members", "crm_customers", "call_centre"}
    for source, value, country in phones:
        number = ("+" if value.startswith("+") else "") + re.sub(r"\D", "", value)
        if source == "pos_receipts" and phonenumbers.is_valid_number_for_region(phonenumbers.parse(number, "FR"), "FR"):
            continue   # the store's own number, typed by the cashier
        assert phonenumbers.is_valid_number_for_region(phonenumbers.parse(number, country), country), (source, value)


def test_foreign_phones_are_mostly_written_in_national_format(foreign_run):
    root, _ = foreign_run
    phones = foreign_phones(root)
    international = sum(value.startswith(("+", "00")) for _, value, _ in phones)
    assert 0.1 * len(phones) < international < 0.5 * len(phones)
    assert any(re.fullmatch(r"0\d{3} \d{2} \d{2} \d{2}", v) for _, v, c in phones if c == "BE")   # 0470 12 34 56
    assert any(re.fullmatch(r"\+(32|41|352|49|34|44) [\d ]+", v) for _, v, _ in phones)   # +32 470 12 34 56


@pytest.mark.parametrize("source", ["eshop_accounts", "loyalty_members", "crm_customers", "eshop_orders"])
def test_foreign_postcodes_keep_their_country_format(foreign_run, source):
    root, _ = foreign_run
    identity = SOURCES[source]["identity"]
    values = [(dig(row, identity["postcode"]), person["country"]) for row, person in records_with_persons(root, source)
              if person["country"] != "FR" and dig(row, identity["postcode"])]
    assert values
    ok = sum(bool(re.fullmatch(POSTCODE_FORMATS[c], v)) for v, c in values)
    assert ok > 0.9 * len(values)   # the rest: a typo, a zero a spreadsheet ate


def test_foreign_truth_covers_every_record(foreign_run):
    root, summary = foreign_run
    truth = pq.read_table(root / "truth" / "truth.parquet").to_pandas()
    for source in STANDARD:
        rows, _ = read_source(root, source)
        ids = {str(dig(r, SOURCES[source]["record_id"])) for r in rows}
        assert ids == set(truth.loc[truth.source == source, "source_record_id"]), source


def test_foreign_share_zero_on_the_foreign_profile_leaves_everybody_in_france(tmp_path):
    root, summary = generate_profile(tmp_path, "foreign", foreign_share=0)
    assert summary.foreign_share == 0
    persons = pq.read_table(root / "truth" / "persons.parquet")
    assert "country" not in persons.column_names or set(persons.column("country").to_pylist()) == {"FR"}
    countries = {row["pays"] for row in read_source(root, "eshop_accounts")[0] if row["pays"]}
    assert countries <= {"France", "FR", "FRANCE", "france"}


def test_an_unknown_profile_is_refused_with_the_list_of_profiles(tmp_path, capsys):
    listed = "unknown generator profile 'nope'; profiles: standard, foreign, store_crm_only"
    with pytest.raises(ValueError, match=listed):
        generate(persons=10, raw_dir=tmp_path / "raw", truth_dir=tmp_path / "truth", profile="nope")
    with pytest.raises(ValueError, match="foreign_share"):
        generate(persons=10, raw_dir=tmp_path / "raw", truth_dir=tmp_path / "truth", profile="foreign",
                 foreign_share=1.5)
    with pytest.raises(SystemExit):
        generate_job.main(["--persons", "10", "--raw-dir", str(tmp_path / "raw"), "--profile", "nope"])
    assert "profiles: standard, foreign, store_crm_only" in capsys.readouterr().err


def test_every_source_of_the_yaml_is_written_by_some_profile():
    written = {s for profile in GENERATOR_PROFILES.values() for s in profile.sources}
    assert written == set(SOURCES)
