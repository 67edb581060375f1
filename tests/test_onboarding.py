"""rcu init's detection, without Spark: file grouping, encodings, separators, header mapping, dates, comments."""

from __future__ import annotations

import json

import pytest
import yaml

from jobs import init
from spark_lib.config import load_sources
from spark_lib.onboarding.files import (
    detect_encoding,
    detect_separator,
    find_sources,
    generalise_name,
    group_files,
    sample_source,
)
from spark_lib.onboarding.mapping import date_format_of, field_from_name, fold_header, propose_mapping
from spark_lib.onboarding.proposal import propose_sources, render_sources_yaml


def write(path, text: str, encoding: str = "utf-8") -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(text.encode(encoding))


CLIENTS = "Prénom;Nom;Courriel;Né le\nHélène;Dupré;helene@exemple.fr;25/12/1975\nJean;Martin;jean@exemple.fr;03/04/1980\n"


# --- files ----------------------------------------------------------------------------------------


def test_files_differing_by_a_date_are_one_glob(tmp_path):
    for day in ("01", "02"):
        write(tmp_path / "crm" / f"clients_2026-11-{day}.csv", CLIENTS)
    write(tmp_path / "web" / "comptes.jsonl", '{"id": 1}\n')
    write(tmp_path / "notes.docx", "not a source")
    assert group_files(tmp_path) == [
        ("crm/clients_*.csv", ["crm/clients_2026-11-01.csv", "crm/clients_2026-11-02.csv"]),
        ("web/comptes.jsonl", ["web/comptes.jsonl"]),
    ]


def test_a_glob_that_would_catch_another_file_requires_the_digits(tmp_path):
    for name in ("clients_2026-11-01.csv", "clients_2026-11-02.csv", "clients_eshop.csv"):
        write(tmp_path / name, CLIENTS)
    assert generalise_name("clients_2026-11-01.csv") == "clients_*.csv"
    assert group_files(tmp_path) == [
        ("clients_[0-9]*.csv", ["clients_2026-11-01.csv", "clients_2026-11-02.csv"]),
        ("clients_eshop.csv", ["clients_eshop.csv"]),
    ]


def test_a_folder_whose_files_read_alike_is_one_source(tmp_path):
    write(tmp_path / "fidelite" / "export_nord.csv", CLIENTS)
    write(tmp_path / "fidelite" / "export_sud.csv", CLIENTS)
    [found] = find_sources(tmp_path)
    assert (found.name, found.pattern, len(found.files)) == ("fidelite", "fidelite/*.csv", 2)


@pytest.mark.parametrize("encoding, expected", [
    ("utf-8", "utf-8"), ("utf-8-sig", "utf-8"), ("cp1252", "cp1252"), ("utf-16", "utf-16"),
])
def test_the_encoding_is_detected_from_bom_and_bytes(encoding, expected):
    assert detect_encoding("Prénom;Nom;Œuvre\nHélène;Dupré;x\n".encode(encoding)) == expected


def test_latin1_bytes_that_windows_1252_leaves_undefined_read_as_iso_8859_1():
    assert detect_encoding(b"nom;ville\nDupr\xe9;\x81\n") == "iso-8859-1"


@pytest.mark.parametrize("separator", [",", ";", "\t", "|"])
def test_the_separator_is_the_one_that_splits_every_line_alike(separator):
    text = "\n".join(separator.join(row) for row in [
        ["id", "nom", "adresse"], ["1", "Dupont", "12, rue de la Paix"], ["2", "Martin", "3; allée des Pins"]])
    if separator == ",":
        text = text.replace("12, rue de la Paix", '"12, rue de la Paix"')
    assert detect_separator(text + "\n")[0] == separator


def test_a_cp1252_semicolon_csv_is_sampled_with_its_header(tmp_path):
    write(tmp_path / "crm" / "export.csv", CLIENTS, "cp1252")
    found = sample_source("crm/export.csv", ["crm/export.csv"], tmp_path)
    assert (found.format, found.encoding, found.separator, found.header) == ("csv", "cp1252", ";", True)
    assert found.columns == ("Prénom", "Nom", "Courriel", "Né le")
    assert found.samples["Prénom"] == ["Hélène", "Jean"]


def test_the_sniffer_reads_quoted_fields_as_rfc_4180_like_the_ingest(tmp_path):
    # Excel's quoting: doubled quotes, a separator and a line break inside quoted fields
    write(tmp_path / "export.csv", 'Nom;Prénom;Ville\n"LE ""GRAND""";"Jean;Marc";"Saint-Malo\nIntra-muros"\n'
                                   'MARTIN;Paul;Brest\n')
    found = sample_source("export.csv", ["export.csv"], tmp_path)
    assert (found.separator, found.quote, found.columns) == (";", '"', ("Nom", "Prénom", "Ville"))
    assert found.samples["Nom"] == ['LE "GRAND"', "MARTIN"]
    assert found.samples["Ville"] == ["Saint-Malo\nIntra-muros", "Brest"]


def test_a_file_without_header_line_is_said_so(tmp_path):
    write(tmp_path / "export.csv", "1;Dupont;jean@exemple.fr\n2;Martin;paul@exemple.fr\n")
    found = sample_source("export.csv", ["export.csv"], tmp_path)
    assert not found.header and any("no header line" in note for note in found.notes)


def test_json_lines_are_flattened_to_dotted_paths(tmp_path):
    write(tmp_path / "web.jsonl", json.dumps({"id": "W1", "adresse": {"rue": "1 rue X", "ville": "Lyon"},
                                              "paniers": [1, 2], "optin": True}) + "\n")
    found = sample_source("web.jsonl", ["web.jsonl"], tmp_path)
    assert found.columns == ("id", "adresse.rue", "adresse.ville", "optin")
    assert found.samples["optin"] == ["true"]


# --- header names -----------------------------------------------------------------------------------


@pytest.mark.parametrize("header, canonical", [
    ("Prénom", "first_name"), ("prenom", "first_name"), ("First Name", "first_name"), ("firstName", "first_name"),
    ("given name", "first_name"), ("Nom", "last_name"), ("Nom de famille", "last_name"), ("surname", "last_name"),
    ("Nom de naissance", "birth_name"), ("nom de jeune fille", "birth_name"), ("Civilité", "civility"),
    ("titre", "civility"), ("Date de naissance", "birth_date"), ("DDN", "birth_date"), ("Né le", "birth_date"),
    ("dob", "birth_date"), ("Courriel", "email"), ("E-mail", "email"), ("adresse électronique", "email"),
    ("Tél. portable", "phone"), ("GSM", "phone"), ("Téléphone", "phone"), ("Adresse", "street"),
    ("address line 1", "street"), ("Complément d'adresse", "address_extra"), ("CP", "postcode"),
    ("Code postal", "postcode"), ("zip", "postcode"), ("Ville", "city"), ("commune", "city"), ("Pays", "country"),
    ("N° carte", "loyalty_card"), ("Carte fidélité", "loyalty_card"), ("N° client", "customer_ref"),
    ("code client", "customer_ref"), ("customer id", "customer_ref"), ("Opt-in email", "consent_email"),
    ("optin_sms", "consent_sms"), ("date_maj", "updated_at"), ("adresse.ville", "city"),
    ("adresse.code_postal", "postcode"), ("shipping.first_name", "first_name"),
])
def test_headers_map_to_canonical_fields_in_french_and_english_with_or_without_accents(header, canonical):
    assert field_from_name(header).field == canonical


def test_headers_are_folded_before_comparison():
    assert fold_header("Complément d'adresse") == "complement adresse"
    assert fold_header("N° client") == "n client"


# --- content ---------------------------------------------------------------------------------------


def test_the_date_format_is_decided_by_a_number_above_12():
    assert date_format_of(["03/04/1980", "25/12/1975"])[:2] == ("dd/MM/yyyy", None)
    assert date_format_of(["04/03/1980", "12/25/1975"])[:2] == ("MM/dd/yyyy", None)
    assert date_format_of(["1980-04-03", "1975-12-25"])[:2] == ("yyyy-MM-dd", None)
    fmt, doubt, *_ = date_format_of(["03/04/1980", "05/06/1990"])
    assert fmt == "dd/MM/yyyy" and "no day above 12" in doubt


def mapping_of(rows: list[dict]) -> object:
    columns = list(rows[0])
    return propose_mapping(columns, {c: [r[c] for r in rows] for c in columns}, hints="export.csv")


PEOPLE = [
    {"id": f"A{k}", "prenom": first, "nom": last, "ddn": ddn, "contact": f"{first.lower()}@exemple.fr",
     "tel": f"06 12 34 56 {k:02d}", "cp": cp}
    for k, (first, last, ddn, cp) in enumerate([
        ("Jean", "Dupont", "12/25/1975", "75011"), ("Marie", "Martin", "04/03/1980", "69003"),
        ("Paul", "Durand", "01/30/1962", "13006"), ("Julie", "Petit", "07/04/1991", "33000"),
    ])
]


def test_content_maps_a_column_whose_header_says_nothing_and_marks_it_uncertain():
    mapping = mapping_of(PEOPLE)
    assert mapping.fields["email"].column == "contact"
    assert "values look like email" in mapping.fields["email"].doubt
    assert mapping.fields["phone"].column == "tel" and mapping.fields["phone"].doubt is None


def test_month_first_birth_dates_set_birth_date_format():
    mapping = mapping_of(PEOPLE)
    assert mapping.fields["birth_date"].column == "ddn"
    assert mapping.birth_date_format.column == "MM/dd/yyyy"


def test_two_candidate_columns_for_one_field_are_an_uncertain_choice():
    rows = [{**p, "mail": p["contact"], "email": p["contact"]} for p in PEOPLE]
    mapping = mapping_of(rows)
    assert mapping.fields["email"].column == "mail" or mapping.fields["email"].column == "email"
    assert "other candidate column(s)" in mapping.fields["email"].doubt


def test_the_record_id_is_a_unique_id_like_column_and_the_channel_a_guess():
    mapping = mapping_of(PEOPLE)
    assert mapping.record_id.column == "id" and mapping.record_id.doubt is None
    assert mapping.channel.column == "online" and mapping.channel.doubt.startswith("guessed")


# --- the proposed file -------------------------------------------------------------------------------


def test_the_proposal_loads_strictly_and_marks_uncertain_lines(tmp_path):
    lines = [",".join(PEOPLE[0])] + [",".join(p.values()) for p in PEOPLE]
    write(tmp_path / "raw" / "magasin" / "clients_2026-11.csv", "\n".join(lines) + "\n")
    text = render_sources_yaml(propose_sources(tmp_path / "raw"), "rcu init --raw-dir raw")
    out = tmp_path / "sources.yaml"
    out.write_text(text, encoding="utf-8")
    spec = load_sources(out).get("clients")
    assert spec.path == "magasin/clients_*.csv" and spec.channel == "offline"
    assert spec.identity == {"first_name": "prenom", "last_name": "nom", "birth_date": "ddn", "email": "contact",
                             "phone": "tel", "postcode": "cp"}
    lines = {line.split(":")[0].strip(): line for line in text.splitlines() if line.startswith("    ")}
    assert "# uncertain: guessed: store hints (magasin)" in lines["channel"]
    assert "# uncertain: the header says nothing known" in lines["email"]
    assert "# uncertain" not in lines["phone"]
    assert yaml.safe_load(text)["sources"]["clients"]["birth_date_format"] == "MM/dd/yyyy"
    assert text.startswith("# Proposed by `rcu init --raw-dir raw`")


def test_unmapped_columns_are_listed(tmp_path):
    write(tmp_path / "raw" / "clients.csv", "id;nom;prenom;couleur preferee\n1;Dupont;Jean;bleu\n2;Martin;Marie;vert\n")
    text = render_sources_yaml(propose_sources(tmp_path / "raw"), "rcu init")
    assert "    # unmapped columns: couleur preferee" in text


def test_init_refuses_to_overwrite_an_existing_file_without_force(tmp_path, capsys):
    write(tmp_path / "raw" / "clients.csv", CLIENTS)
    out = tmp_path / "sources.yaml"
    out.write_text("# mine\n", encoding="utf-8")
    assert init.main(["--raw-dir", str(tmp_path / "raw"), "--out", str(out)]) == 1
    assert "pass --force" in capsys.readouterr().err and out.read_text() == "# mine\n"
    assert init.main(["--raw-dir", str(tmp_path / "raw"), "--out", str(out), "--force"]) == 0
    assert load_sources(out).names == ["clients"]


def test_parquet_columns_are_sampled_with_nested_structs_as_dotted_paths(tmp_path):
    import datetime as dt

    import pyarrow as pa
    import pyarrow.parquet as pq

    (tmp_path / "magasins").mkdir()
    rows = [{"ticket_id": "T1", "date_ticket": dt.datetime(2026, 10, 3, 9, 30),
             "client": {"carte_fidelite": "2900001", "email": "jean@exemple.fr"}}]
    pq.write_table(pa.Table.from_pylist(rows), tmp_path / "magasins" / "tickets_2026-10.parquet")
    [found] = find_sources(tmp_path)
    assert (found.name, found.pattern, found.format) == ("tickets", "magasins/tickets_*.parquet", "parquet")
    assert found.columns == ("ticket_id", "date_ticket", "client.carte_fidelite", "client.email")
    assert found.samples["date_ticket"] == ["2026-10-03T09:30:00"]
    mapping = propose_mapping(list(found.columns), found.samples, hints=found.pattern)
    assert mapping.fields["loyalty_card"].column == "client.carte_fidelite"
    assert mapping.channel.column == "offline"
