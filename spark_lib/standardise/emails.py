"""E-mail: display form, syntax check and the matching key (typos fixed, gmail dots and +tags removed).

Example::

    from spark_lib.standardise import standardise_emails
    silver = raw.transform(standardise_emails)

Input: ``email`` (string, may be absent). Outputs:

- ``email``: as given, trimmed and lower-cased, a known domain typo corrected ("a.b@gmial.com" ->
  "a.b@gmail.com"); null when blank.
- ``email_valid``: syntax check (null when there is no e-mail).
- ``email_std``: the matching key. Domain typos corrected from ``resources/email_domain_typos.csv``
  ("gmial.com" -> "gmail.com"), ``googlemail.com`` -> ``gmail.com``, ``+tags`` removed for every domain and
  dots removed for gmail (Gmail ignores both). Null when the address is invalid or a placeholder.

Flags: ``email:invalid``, ``email:placeholder`` ("test@test.fr", "nomail@orange.fr", "noreply@..."),
``email:domain_corrected``; ``email:control_chars_removed`` and ``email:truncated`` (over 254 characters:
invalid) from :func:`~spark_lib.standardise.text.sanitise_fields`; ``email:formula_prefix``: an address that
passes the syntax but starts with = + - (RFC-valid, yet nobody's mailbox, and what a spreadsheet runs as a
formula) is invalid too, so it is never a matching key nor a golden e-mail.
"""

from __future__ import annotations

from functools import lru_cache

from pyspark.sql import Column, DataFrame
from pyspark.sql import functions as F

from spark_lib.standardise.text import (
    QUALITY_FLAGS,
    input_column,
    is_in,
    literal_map,
    read_resource_csv,
    sanitise_fields,
    starts_with_formula,
    with_quality_flags,
)

TYPOS_FILE = "email_domain_typos.csv"

# Local part: RFC 5322 "atoms" separated by single dots. Domain: labels of letters/digits/hyphens, then a
# TLD of two letters or more. No spaces, exactly one "@".
_LOCAL_ATOM = r"[a-z0-9!#$%&'*+/=?^_`{|}~-]+"
EMAIL_PATTERN = rf"^{_LOCAL_ATOM}(\.{_LOCAL_ATOM})*@([a-z0-9]([a-z0-9-]*[a-z0-9])?\.)+[a-z]{{2,}}$"

#: domains that are other names of gmail.com (not typos: not flagged)
GMAIL_ALIASES = ("googlemail.com",)

#: local parts meaning "no e-mail", whatever the domain
PLACEHOLDER_LOCALS = (
    "nomail", "no-mail", "no.mail", "noemail", "no-email", "pasdemail", "pas-de-mail", "pas.de.mail", "pasdemel",
    "sansmail", "sansemail", "sans-mail", "aucunmail", "aucun-mail", "aucun.mail", "pasdadresse", "pas-d-adresse",
    "noreply", "no-reply", "no.reply", "donotreply", "do-not-reply", "ne-pas-repondre", "nepasrepondre",
    "ne.pas.repondre",
    # words a clerk types to get past a mandatory field; a key shared by many strangers would merge them
    "inconnu", "aucun", "test", "none", "null", "xxx",
)
#: domains no customer has a mailbox at
PLACEHOLDER_DOMAINS = (
    "example.com", "example.fr", "example.org", "example.net", "exemple.com", "exemple.fr",
    "test.com", "test.fr", "aucun.fr", "aucun.com", "inconnu.fr", "inconnu.com", "xxx.xx", "xxx.fr", "xxx.com",
    "nomail.com", "nomail.fr", "pasdemail.fr", "pasdemail.com", "no.com", "a.fr", "a.com",
)
# The placeholders above as one pattern over "local@domain" (after +tags are removed):
# - a local part of x's only ("x@", "xxxx@");
# - the same word on both sides of the "@" ("a@a.fr", "no@no.com", "test@test.fr", "xxx@xxx.xx").
_SELF_SIMILAR = r"^([^@]+)@\1\.[a-z]+$"
_ALL_X = r"^x+@"

_TMP = "_std_email_"


@lru_cache(maxsize=1)
def load_domain_typos() -> dict[str, str]:
    """Mistyped domain -> real domain, from the resource table."""
    return {typo: domain for typo, domain in read_resource_csv(TYPOS_FILE, 2)}


def email_is_valid(col: Column) -> Column:
    """True when a lower-cased, trimmed address passes the syntax check; null for null."""
    return col.rlike(EMAIL_PATTERN)


def standardise_emails(df: DataFrame) -> DataFrame:
    """Trim and lower-case ``email``, check it, and add its matching key ``email_std`` (see module doc)."""
    df = df.transform(sanitise_fields, ["email"])
    # truncated: the cut address is not the one given
    truncated = F.array_contains(F.col(QUALITY_FLAGS), "email:truncated") if "email" in df.columns else F.lit(False)
    df = df.withColumns({f"{_TMP}email": F.lower(input_column(df, "email")), f"{_TMP}truncated": truncated})
    email = F.col(f"{_TMP}email")
    formula = starts_with_formula(email)
    domain = F.substring_index(email, "@", -1)
    corrected = F.try_element_at(literal_map(load_domain_typos().items()), domain)
    df = df.withColumns(
        {
            f"{_TMP}local": F.regexp_replace(F.substring_index(email, "@", 1), r"\+.*$", ""),
            f"{_TMP}corrected": corrected.isNotNull(),
            f"{_TMP}domain": F.coalesce(corrected, F.when(domain.isin(*GMAIL_ALIASES), F.lit("gmail.com")), domain),
        }
    )
    local, domain = F.col(f"{_TMP}local"), F.col(f"{_TMP}domain")
    # "+promo@gmail.com" passes the syntax but has no mailbox name once the tag is gone.
    # a formula prefix invalidates an address that passes the syntax ("=1+2@x.fr"; "@x.fr" fails it already)
    df = df.withColumn(f"{_TMP}syntax", email_is_valid(email) & (local != ""))
    df = df.withColumn(f"{_TMP}valid", F.col(f"{_TMP}syntax") & ~formula & ~F.col(f"{_TMP}truncated"))
    key = F.concat(local, F.lit("@"), domain)
    placeholder = (
        is_in(local, PLACEHOLDER_LOCALS)
        | is_in(domain, PLACEHOLDER_DOMAINS)
        | key.rlike(_SELF_SIMILAR)
        | key.rlike(_ALL_X)
    )
    df = df.withColumn(f"{_TMP}placeholder", F.col(f"{_TMP}valid") & placeholder)
    matching_local = F.when(domain == "gmail.com", F.regexp_replace(local, r"\.", "")).otherwise(local)
    valid, is_placeholder = F.col(f"{_TMP}valid"), F.col(f"{_TMP}placeholder")
    # the display keeps what was typed (case folded, +tag and dots kept) but a known domain typo of a valid
    # address: "gmial.com" is nobody's mailbox, so the golden record may hold the corrected one (flagged)
    corrected = F.col(f"{_TMP}corrected") & valid & ~is_placeholder
    display = F.when(corrected, F.concat(F.substring_index(email, "@", 1), F.lit("@"), domain)).otherwise(email)
    df = df.withColumns(
        {
            "email": display,
            "email_valid": valid,
            "email_std": F.when(valid & ~is_placeholder, F.concat(matching_local, F.lit("@"), domain)),
        }
    )
    df = with_quality_flags(
        df,
        [
            (~valid, "email:invalid"),
            (is_placeholder, "email:placeholder"),
            (valid & ~is_placeholder & F.col(f"{_TMP}corrected"), "email:domain_corrected"),
            (F.col(f"{_TMP}syntax") & formula, "email:formula_prefix"),
        ],
    )
    return df.drop(*[c for c in df.columns if c.startswith(_TMP)])
