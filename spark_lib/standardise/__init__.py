"""Standardisation of customer identity fields (a French retailer's customers, at home or abroad):
``DataFrame -> DataFrame`` transforms, Spark-native except phone parsing (``phonenumbers`` in a pandas UDF).

Every transform reads canonical input columns (strings; an absent column counts as all null), adds or replaces
its output columns (see :mod:`spark_lib.schemas`, ``CUSTOMER_RECORDS``), leaves other columns as they are and
appends reasons to ``quality_flags`` (``array<string>``, created when absent) whenever it nulls or corrects a value.

Example::

    from spark_lib.standardise import standardise_identity
    silver = raw.transform(
        standardise_identity, birth_date_format=spec.birth_date_format, default_country=spec.default_country
    )

or step by step (addresses before phones: a phone is read in the record's standardised ``country``)::

    silver = (
        raw.transform(standardise_names)
        .transform(standardise_emails)
        .transform(standardise_addresses, default_country="BE")
        .transform(standardise_phones, default_region="FR", default_country="BE")
        .transform(standardise_birth_dates, fmt="dd/MM/yyyy")
        .transform(standardise_consents)
        .transform(remove_control_chars, IDENTIFIER_FIELDS)
    )
"""

from __future__ import annotations

from pyspark.sql import DataFrame

from spark_lib.standardise.addresses import country_code, normalise_house_number, standardise_addresses
from spark_lib.standardise.consents import parse_consent, standardise_consents
from spark_lib.standardise.dates import DateFormatError, parse_date, parse_timestamp, standardise_birth_dates
from spark_lib.standardise.emails import standardise_emails
from spark_lib.standardise.names import civility_code, standardise_names
from spark_lib.standardise.phones import (
    UnknownRegionError,
    check_region,
    parse_phone,
    parse_phone_column,
    standardise_phones,
)
from spark_lib.standardise.text import (
    MAX_LENGTHS,
    QUALITY_FLAGS,
    ResourceMissingError,
    blank_to_null,
    clean_text,
    fold,
    neutralise_formulas,
    remove_control_chars,
    remove_invisible,
    sanitise_fields,
    strip_formula_prefix,
    with_quality_flags,
)

#: pivot identifiers: control characters removed (flagged), compared as they are otherwise
IDENTIFIER_FIELDS = ("loyalty_card", "account_id", "cookie_id", "customer_ref")

__all__ = [
    "IDENTIFIER_FIELDS",
    "MAX_LENGTHS",
    "QUALITY_FLAGS",
    "DateFormatError",
    "ResourceMissingError",
    "UnknownRegionError",
    "blank_to_null",
    "check_region",
    "civility_code",
    "clean_text",
    "country_code",
    "fold",
    "neutralise_formulas",
    "normalise_house_number",
    "parse_consent",
    "parse_date",
    "parse_phone",
    "parse_phone_column",
    "parse_timestamp",
    "remove_control_chars",
    "remove_invisible",
    "sanitise_fields",
    "standardise_addresses",
    "standardise_birth_dates",
    "standardise_consents",
    "standardise_emails",
    "standardise_identity",
    "standardise_names",
    "standardise_phones",
    "strip_formula_prefix",
    "with_quality_flags",
]


def standardise_identity(
    df: DataFrame,
    birth_date_format: str | None = None,
    default_region: str = "FR",
    today=None,
    default_country: str | None = None,
) -> DataFrame:
    """All identity standardisations in one call: names, e-mails, addresses, phones, birth dates, consents,
    and the pivot identifiers' control characters removed (:data:`IDENTIFIER_FIELDS`).

    Every identity text field goes through :func:`sanitise_fields` first (in its standardiser): control and
    bidi characters removed, spreadsheet formula prefixes stripped, over-long values cut, each flagged.

    ``birth_date_format``: the source's Spark pattern for ``birth_date`` (None: common formats tried in turn).
    ``default_region``: the pipeline's country of phone numbers written without an international prefix, for
    records with neither a country of their own nor a ``default_country``.
    ``today``: reference day for birth-date checks (default ``current_date()``).
    ``default_country``: the source's country (ISO alpha-2) for records that give none: it reads their
    postcodes, house numbers and phones (see :mod:`.addresses` and :mod:`.phones`).
    """
    return (
        df.transform(standardise_names)
        .transform(standardise_emails)
        .transform(standardise_addresses, default_country=default_country)
        .transform(standardise_phones, default_region=default_region, default_country=default_country)
        .transform(standardise_birth_dates, fmt=birth_date_format, today=today)
        .transform(standardise_consents)
        .transform(remove_control_chars, IDENTIFIER_FIELDS)
    )
