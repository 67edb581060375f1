"""rcu check: strict loading, missing columns, fill and standardisation rates, warnings."""

from __future__ import annotations

import dataclasses

from jobs import check
from spark_lib.config import SourceSpec
from spark_lib.onboarding.profile import FieldProfile, SourceProfile, source_warnings

SPEC = SourceSpec(name="magasin", path="magasin/*.csv", format="csv", channel="offline", record_id="Code",
                  separator=";", identity={"last_name": "Nom", "first_name": "Prénom", "birth_date": "Né le",
                                           "phone": "Tél. portable"})


def write_source(tmp_path, sources: str, rows: list[str]):
    raw = tmp_path / "raw"
    (raw / "magasin").mkdir(parents=True)
    (raw / "magasin" / "clients.csv").write_text("\n".join(rows) + "\n", encoding="utf-8")
    conf = tmp_path / "sources.yaml"
    conf.write_text(sources, encoding="utf-8")
    return str(conf), str(raw)


SOURCES = """sources:
  magasin:
    path: magasin/*.csv
    format: csv
    separator: ";"
    channel: offline
    record_id: Code
    identity:
      last_name: Nom
      first_name: "Prénom"
      birth_date: "Né le"
      phone: "Tél. portable"
"""
ROWS = ["Code;Nom;Prénom;Né le;Tél. portable",
        "1;Dupont;Jean;25/12/1975;06 71 84 29 53",
        "2;Martin;Marie;31/02/1980;0671842954",
        "2;Durand;Paul;pas de date;+33 6 71 84 29 55",
        "4;Petit;Julie;;not a phone"]


def test_check_measures_fill_and_standardisation_with_the_pipeline_s_code(spark, tmp_path):
    sources, raw = write_source(tmp_path, SOURCES, ROWS)
    report = check.run(sources, raw, sample=1000, spark=spark)
    assert report.errors == []
    profile = report.profiles["magasin"]
    assert (profile.rows, profile.record_ids, profile.distinct_record_ids) == (4, 4, 3)
    assert profile.fields["birth_date"] == FieldProfile("Né le", filled=3, standardised=1, flagged=2)
    assert profile.fields["phone"] == FieldProfile("Tél. portable", filled=4, standardised=3, flagged=1)
    assert profile.fields["last_name"] == FieldProfile("Nom", filled=4, standardised=4, flagged=0)
    warnings = report.warnings["magasin"]
    assert any(w.startswith("birth_date: 33.3% of the filled values of 'Né le' parse as dates") for w in warnings)
    assert any(w.startswith("record_id: 1 repeated value(s) of 'Code'") for w in warnings)
    assert "0 error(s), 2 warning(s)" in check.format_report(report, sources)


def test_a_missing_column_is_an_error_naming_source_field_column_and_file(spark, tmp_path, capsys):
    sources, raw = write_source(tmp_path, SOURCES.replace("last_name: Nom", "last_name: Nom_famille"), ROWS)
    assert check.main(["--sources", sources, "--raw-dir", raw]) == 1
    out = capsys.readouterr().out
    assert "error: sources.magasin.identity.last_name: column 'Nom_famille' not found in magasin/clients.csv" in out


def test_a_configuration_error_names_file_and_key_and_starts_no_spark(tmp_path, capsys):
    sources, raw = write_source(tmp_path, SOURCES.replace("channel: offline", "chanel: offline"), ROWS)
    assert check.main(["--sources", sources, "--raw-dir", raw]) == 1
    assert f"error: {sources}: sources.magasin: unknown key 'chanel'" in capsys.readouterr().out


def test_a_source_matching_no_file_is_a_warning(tmp_path):
    sources, raw = write_source(tmp_path, SOURCES.replace("magasin/*.csv", "boutique/*.csv"), ROWS)
    report = check.run(sources, raw)
    assert report.ok and report.warnings["magasin"] == [f"no file matches 'boutique/*.csv' in {raw}"]


def test_warnings_say_when_there_is_nothing_to_match_on_or_a_column_is_nearly_empty():
    names_only = dataclasses.replace(SPEC, identity={"last_name": "Nom", "first_name": "Prénom"})
    assert source_warnings(names_only, None)[0].startswith("nothing to match on")
    assert source_warnings(dataclasses.replace(SPEC, identity={**names_only.identity, "city": "Ville"}), None) == []
    profile = SourceProfile(rows=100, fields={"phone": FieldProfile("Tél. portable", 4, 4, 0)}, record_ids=100,
                            distinct_record_ids=100)
    assert source_warnings(SPEC, profile) == [
        "phone: column 'Tél. portable' is filled on 4.0% of the rows (under 5%)"]
