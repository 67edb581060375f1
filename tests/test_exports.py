"""Exports people open in a spreadsheet: no cell may start a formula; values otherwise as they are."""

from __future__ import annotations

import csv

import pytest

from spark_lib.gold.exports import spreadsheet_safe, write_csv


@pytest.mark.parametrize("value, shown", [
    ('=HYPERLINK("http://evil.example","clic")', '\'=HYPERLINK("http://evil.example","clic")'),
    ("+cmd|' /C calc'!A0", "'+cmd|' /C calc'!A0"),
    ("-2+3", "'-2+3"),
    ("@SUM(1+1)", "'@SUM(1+1)"),
    ("  =1+1", "'  =1+1"),
    ("\t=1+1", "'\t=1+1"),
    ("\rdata", "'\rdata"),
    ("+33612345678", "+33612345678"),           # an E.164 mobile: a number, kept for the SMS tool
    ("+33 6 12 34 56 78", "'+33 6 12 34 56 78"),
    ("Jean-Pierre", "Jean-Pierre"),
    ("jean.dupont+promo@gmail.com", "jean.dupont+promo@gmail.com"),
    ("12 rue de la Paix, 75002 Paris", "12 rue de la Paix, 75002 Paris"),
    (None, None),
])
def test_a_cell_that_would_start_a_formula_is_shown_as_text(value, shown):
    assert spreadsheet_safe(value) == shown


def test_the_csv_is_guarded_quoted_and_readable_back_and_never_left_half_written(spark, tmp_path):
    rows = [("C1", "=cmd", "Saint-Étienne", "+33612345678", 'dit "Jo"; le grand'),
            ("C2", "Zoé", "@lyon", None, "ligne\nsuivante")]
    df = spark.createDataFrame(rows, "customer_id string, first_name string, city string, contact string, reason string")
    out = tmp_path / "exports" / "audience.csv"
    assert write_csv(df, out) == 2
    raw = out.read_bytes()
    assert raw.startswith(b"\xef\xbb\xbf")                 # Excel reads the accents as UTF-8
    read = list(csv.reader(raw.decode("utf-8-sig").splitlines(keepends=True), delimiter=";"))
    assert read == [
        ["customer_id", "first_name", "city", "contact", "reason"],
        ["C1", "'=cmd", "Saint-Étienne", "+33612345678", 'dit "Jo"; le grand'],
        ["C2", "Zoé", "'@lyon", "", "ligne\nsuivante"],
    ]
    assert [p.name for p in out.parent.iterdir()] == ["audience.csv"]

    write_csv(df, out, separator=",", spreadsheet=False)   # for a tool that imports CSV itself
    assert "=cmd,Saint-Étienne" in out.read_text(encoding="utf-8-sig")
