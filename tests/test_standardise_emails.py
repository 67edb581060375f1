"""E-mail standardisation (spark_lib.standardise.emails)."""

from __future__ import annotations

import pytest
from chispa import assert_df_equality
from pyspark.sql import functions as F

from spark_lib.standardise import standardise_emails

OUT = "id string, email string, email_valid boolean, email_std string, quality_flags array<string>"

# Every test's input e-mails, registered at import by _case() and standardised together by the module
# fixture: one Spark plan for the module instead of one per test (plan analysis is what costs on tiny data).
_CASES: dict[str, list[str | None]] = {}


def _case(name: str, emails: list[str | None]) -> list[str | None]:
    _CASES[name] = emails
    return emails


@pytest.fixture(scope="module")
def emails_of(spark):
    """``emails_of(case)``: the standardised rows of one registered case, ids "0", "1", ... in input order."""
    rows = [(f"{name}/{i}", e) for name, emails in _CASES.items() for i, e in enumerate(emails)]
    out = standardise_emails(spark.createDataFrame(rows, "id string, email string"))
    out = spark.createDataFrame(out.collect(), out.schema)

    def of(name: str):
        mine = out.filter(F.col("id").startswith(name + "/")).withColumn("id", F.substring_index("id", "/", -1))
        return mine.select("id", "email", "email_valid", "email_std", "quality_flags")

    return of


def _expected(spark, rows):
    return spark.createDataFrame([(str(i), *row) for i, row in enumerate(rows)], OUT)


def _assert(actual, expected):
    # chispa compares without row order by sorting both sides, and a global sort first samples its input:
    # collecting the result once keeps a transform from running twice.
    actual = actual.sparkSession.createDataFrame(actual.collect(), actual.schema)
    assert_df_equality(actual, expected, ignore_row_order=True, ignore_nullable=True)


_case("trimmed", ["  Jean.Martin@Orange.FR ", "\u00a0paul@free.fr"])


def test_email_is_trimmed_and_lower_cased(spark, emails_of):
    expected = _expected(
        spark,
        [
            ("jean.martin@orange.fr", True, "jean.martin@orange.fr", []),
            ("paul@free.fr", True, "paul@free.fr", []),
        ],
    )
    _assert(emails_of("trimmed"), expected)


_case("gmail", ["Jean.Dupont@gmail.com", "jean.dupont+promo@gmail.com", "j.e.a.n.dupont@googlemail.com"])


def test_gmail_dots_and_plus_tags_are_removed_from_matching_key(spark, emails_of):
    expected = _expected(
        spark,
        [
            ("jean.dupont@gmail.com", True, "jeandupont@gmail.com", []),
            ("jean.dupont+promo@gmail.com", True, "jeandupont@gmail.com", []),
            ("j.e.a.n.dupont@googlemail.com", True, "jeandupont@gmail.com", []),
        ],
    )
    _assert(emails_of("gmail"), expected)


_case("plus_tags", ["marie.curie+newsletter@orange.fr", "marie.curie@orange.fr"])


def test_plus_tags_are_removed_for_every_domain_but_dots_kept(spark, emails_of):
    expected = _expected(
        spark,
        [
            ("marie.curie+newsletter@orange.fr", True, "marie.curie@orange.fr", []),
            ("marie.curie@orange.fr", True, "marie.curie@orange.fr", []),
        ],
    )
    _assert(emails_of("plus_tags"), expected)


TYPOS = _case(
    "typos",
    ["a.b@gmial.com", "ab@gmail.fr", "ab@gmail.co", "ab@hotmial.fr", "ab@hotmail.con", "ab@yahooo.fr", "ab@wanado.fr",
     "ab@ornage.fr", "ab@laposte.ne", "ab@fre.fr"],
)


def test_domain_typos_are_corrected_in_matching_key_and_flagged(spark, emails_of):
    fixed = ["ab@gmail.com", "ab@gmail.com", "ab@gmail.com", "ab@hotmail.fr", "ab@hotmail.com", "ab@yahoo.fr",
             "ab@wanadoo.fr", "ab@orange.fr", "ab@laposte.net", "ab@free.fr"]
    # the display keeps the local part as typed, with the domain corrected
    shown = [t.split("@")[0] + "@" + f.split("@")[1] for t, f in zip(TYPOS, fixed)]
    expected = _expected(spark, [(d, True, f, ["email:domain_corrected"]) for d, f in zip(shown, fixed)])
    _assert(emails_of("typos"), expected)


SISTER_DOMAINS = _case("sister_domains", ["ab@hotmail.com", "ab@yahoo.com", "ab@orange.com", "ab@laposte.fr"])


def test_real_sister_domains_are_not_corrected(spark, emails_of):
    expected = _expected(spark, [(d, True, d, []) for d in SISTER_DOMAINS])
    _assert(emails_of("sister_domains"), expected)


INVALID = _case(
    "invalid",
    ["jean dupont@free.fr", "jean@hotmail", "jean@@free.fr", "jean..dupont@free.fr", "@free.fr", "+promo@gmail.com",
     "jean@free.f", "jean.free.fr"],
)


def test_invalid_syntax_is_flagged_and_has_no_matching_key(spark, emails_of):
    expected = _expected(spark, [(e, False, None, ["email:invalid"]) for e in INVALID])
    _assert(emails_of("invalid"), expected)


PLACEHOLDERS = _case(
    "placeholders",
    ["test@test.fr", "test@test.com", "aucun@aucun.fr", "no@no.com", "xxx@xxx.xx", "a@a.fr", "nomail@orange.fr",
     "pasdemail@free.fr", "noreply@sfr.fr", "no-reply@gmail.com", "ne-pas-repondre@laposte.net",
     "inconnu@example.com", "jean.dupont@example.com", "xxxx@orange.fr"],
)


def test_placeholder_addresses_are_nulled_and_flagged(spark, emails_of):
    expected = _expected(spark, [(e, True, None, ["email:placeholder"]) for e in PLACEHOLDERS])
    _assert(emails_of("placeholders"), expected)


_case("blank", ["", "   ", None])


def test_blank_email_is_null_without_flag(spark, emails_of):
    expected = _expected(spark, [(None, None, None, [])] * 3)
    _assert(emails_of("blank"), expected)


def test_absent_email_column_reads_as_null(spark):
    df = spark.createDataFrame([("1", "x")], "id string, other string")
    expected = spark.createDataFrame(
        [("1", "x", None, None, None, [])],
        "id string, other string, email string, email_valid boolean, email_std string, quality_flags array<string>",
    )
    _assert(standardise_emails(df).select(*expected.columns), expected)
