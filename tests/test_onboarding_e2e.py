"""A retailer's own two files to a first golden customer table in three commands, no file edited by hand:
``rcu init``, ``rcu check``, ``rcu run-all``, through the CLI entry in-process (the tests' Spark session is
the active one, which every job reuses). The files (``tests/onboarding_files.py``) have French headers unlike
the generator's; the expected customers are the test's own 50 persons.
"""

from __future__ import annotations

import contextlib
import io

import pytest
import yaml
from pyspark.sql import functions as F

from jobs import cli
from spark_lib import tables
from spark_lib.config import load_sources
from spark_lib.storage import Lakehouse
from tests.onboarding_files import CRM_PERSONS, CRM_REPEATS, HOUSEHOLD, PERSONS, WEB_PERSONS, write_retailer_files

pytestmark = pytest.mark.e2e


def person_of_record() -> dict[str, int]:
    """record_key -> the test's person, as written by ``onboarding_files``."""
    persons = {f"export_magasin:C{1000 + n}": i for n, i in enumerate(CRM_PERSONS)}
    persons |= {f"export_magasin:C{2000 + n}": i for n, i in enumerate(CRM_REPEATS)}
    persons |= {f"clients_eshop:W{5000 + n}": i for n, i in enumerate([*WEB_PERSONS, 45])}
    return persons


@pytest.fixture(scope="module")
def onboarded(spark, tmp_path_factory):
    root = tmp_path_factory.mktemp("onboarding")
    raw, sources, lake = root / "raw", root / "sources.yaml", root / "lake"
    write_retailer_files(raw)
    with pytest.MonkeyPatch.context() as patch:
        # a registry of its own: the other e2e tests' champion was trained on other data
        patch.setenv("MLFLOW_TRACKING_URI", f"sqlite:///{root / 'mlflow.db'}")
        init_code = cli.main(["init", "--raw-dir", str(raw), "--out", str(sources)])
        printed = io.StringIO()
        with contextlib.redirect_stdout(printed):
            check_code = cli.main(["check", "--sources", str(sources), "--raw-dir", str(raw)])
        run_code = cli.main(["run-all", "--sources", str(sources), "--raw-dir", str(raw), "--lakehouse", str(lake),
                             "--truth-dir", str(root / "no-truth")])
    return {"sources": sources, "check": printed.getvalue(), "codes": (init_code, check_code, run_code),
            "lake": Lakehouse(spark, str(lake))}


def test_three_commands_succeed(onboarded):
    assert onboarded["codes"] == (0, 0, 0)


def test_init_maps_the_french_headers_and_the_json_keys(onboarded):
    text = onboarded["sources"].read_text(encoding="utf-8")
    config = load_sources(onboarded["sources"])
    crm, web = config.get("export_magasin"), config.get("clients_eshop")
    assert (crm.path, crm.format, crm.separator, crm.encoding, crm.channel, crm.record_id) == (
        "crm/export_magasin_*.csv", "csv", ";", "cp1252", "offline", "N° client")
    assert crm.identity == {
        "civility": "Civilité", "first_name": "Prénom", "last_name": "Nom de famille",
        "birth_date": "Date de naissance", "email": "Courriel", "phone": "Tél. portable", "street": "Adresse postale",
        "postcode": "CP", "city": "Ville", "customer_ref": "N° client",
    }
    assert crm.birth_date_format is None          # dd/MM/yyyy, which the pipeline reads unaided
    assert (web.path, web.format, web.channel, web.record_id) == ("web/clients_eshop.jsonl", "json", "online",
                                                                  "identifiant")
    assert web.identity == {
        "first_name": "prenom", "last_name": "nom", "email": "mail", "phone": "mobile", "street": "adresse.rue",
        "postcode": "adresse.code_postal", "city": "adresse.ville", "updated_at": "date_inscription",
    }
    uncertain = [line.split(":")[0].strip() for line in text.splitlines()
                 if "# uncertain:" in line and not line.startswith("#")]
    assert uncertain == ["channel", "channel"]     # a guess on both; every mapping confirmed by its values
    assert yaml.safe_load(text)["sources"].keys() == {"export_magasin", "clients_eshop"}


def test_check_reports_fill_and_standardisation_without_error(onboarded):
    report = onboarded["check"]
    assert "0 error(s), 0 warning(s)" in report
    assert "export_magasin (offline, csv): 1 file(s), 43 rows checked" in report
    assert "clients_eshop (online, json): 1 file(s), 26 rows checked" in report
    fields = {tuple(line.split()[:2]): line.split()[2:] for line in report.splitlines() if line.startswith("  ")}
    assert fields[("email", "Courriel")] == ["100.0", "%", "100.0", "%", "0"]
    assert fields[("email", "mail")] == ["80.8", "%", "100.0", "%", "0"]       # 5 of 26 accounts without email
    assert fields[("birth_date", "Date")] == ["de", "naissance", "100.0", "%", "100.0", "%", "0"]
    assert fields[("civility", "Civilité")] == ["93.0", "%", "100.0", "%", "0"]  # the 3 repeats left it blank


def test_run_all_gives_one_golden_customer_per_person(onboarded):
    lake = onboarded["lake"]
    assert lake.read(tables.CUSTOMER).count() == PERSONS
    persons = person_of_record()
    crosswalk = {r.record_key: r.customer_id for r in lake.read(tables.CROSSWALK).select("record_key", "customer_id").collect()}
    assert crosswalk.keys() == persons.keys()
    customers_of_person: dict[int, set[str]] = {}
    for key, customer in crosswalk.items():
        customers_of_person.setdefault(persons[key], set()).add(customer)
    # every person's records together (same email; or same mobile written otherwise, same first name) ...
    assert all(len(customers) == 1 for customers in customers_of_person.values())
    # ... and no two persons together: the household sharing a mobile stays two customers
    assert len({c for customers in customers_of_person.values() for c in customers}) == PERSONS
    household = [customers_of_person[i] for i in HOUSEHOLD]
    assert household[0] != household[1]


def test_golden_records_keep_the_accents_a_duplicate_dropped(onboarded):
    customers = onboarded["lake"].read(tables.CUSTOMER)
    names = {(r.first_name, r.last_name) for r in customers.select("first_name", "last_name").collect()}
    # person 1 entered again as "Helene Lefevre", person 21 as "Elodie Brunet" on the e-shop
    assert {("Hélène", "LEFÈVRE"), ("Élodie", "BRUNET")} <= names
    assert customers.where(F.col("email").isNull()).count() == 0   # the e-shop's missing emails come from the CRM


def test_a_second_run_with_no_new_file_has_nothing_to_do_and_changes_no_table(onboarded, capsys):
    lake, root = onboarded["lake"], onboarded["sources"].parent
    watched = [str(t) for layer in ("silver", "gold") for t in lake.tables(layer)]
    before = {t: lake.delta_table(t).history(1).first().version for t in watched}
    capsys.readouterr()
    with pytest.MonkeyPatch.context() as patch:
        patch.setenv("MLFLOW_TRACKING_URI", f"sqlite:///{root / 'mlflow.db'}")
        code = cli.main(["run-all", "--sources", str(onboarded["sources"]), "--raw-dir", str(root / "raw"),
                         "--lakehouse", lake.root, "--truth-dir", str(root / "no-truth")])
    err = capsys.readouterr().err
    assert code == 0 and "nothing to do: no new file, and every step is up to date" in err
    for step in ("standardise", "match", "gold", "activate", "dashboard"):
        assert f"{step}] up to date" in err and f"{step}] starting" not in err, step
    assert {t: lake.delta_table(t).history(1).first().version for t in watched} == before
