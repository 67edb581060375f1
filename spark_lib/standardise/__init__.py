"""Standardisation of French customer identity fields: ``DataFrame -> DataFrame`` transforms, Spark-native
except phone parsing (``phonenumbers`` in a pandas UDF).

Every transform reads canonical input columns (strings; an absent column counts as all null), adds or replaces
its output columns (see :mod:`spark_lib.schemas`, ``CUSTOMER_RECORDS``), leaves other columns as they are and
appends reasons to ``quality_flags`` (``array<string>``, created when absent) whenever it nulls or corrects a value.

Example::

    from spark_lib.standardise import standardise_identity
    silver = raw.transform(standardise_identity, birth_date_format=spec.birth_date_format)

or step by step::

    silver = (
        raw.transform(standardise_names)
        .transform(standardise_emails)
        .transform(standardise_phones, default_region="FR")
        .transform(standardise_addresses)
        .transform(standardise_birth_dates, fmt="dd/MM/yyyy")
        .transform(standardise_consents)
    )
"""

from __future__ import annotations

from pyspark.sql import DataFrame

from spark_lib.standardise.addresses import country_code, normalise_house_number, standardise_addresses
from spark_lib.standardise.consents import parse_consent, standardise_consents
from spark_lib.standardise.dates import DateFormatError, parse_date, parse_timestamp, standardise_birth_dates
from spark_lib.standardise.emails import standardise_emails
from spark_lib.standardise.names import civility_code, standardise_names
from spark_lib.standardise.phones import UnknownRegionError, parse_phone, parse_phone_column, standardise_phones
from spark_lib.standardise.text import (
    QUALITY_FLAGS,
    ResourceMissingError,
    blank_to_null,
    clean_text,
    fold,
    with_quality_flags,
)

__all__ = [
    "QUALITY_FLAGS",
    "DateFormatError",
    "ResourceMissingError",
    "UnknownRegionError",
    "blank_to_null",
    "civility_code",
    "clean_text",
    "country_code",
    "fold",
    "normalise_house_number",
    "parse_consent",
    "parse_date",
    "parse_phone",
    "parse_phone_column",
    "parse_timestamp",
    "standardise_addresses",
    "standardise_birth_dates",
    "standardise_consents",
    "standardise_emails",
    "standardise_identity",
    "standardise_names",
    "standardise_phones",
    "with_quality_flags",
]


def standardise_identity(
    df: DataFrame,
    birth_date_format: str | None = None,
    default_region: str = "FR",
    today=None,
) -> DataFrame:
    """All identity standardisations in one call: names, e-mails, phones, addresses, birth dates, consents.

    ``birth_date_format``: the source's Spark pattern for ``birth_date`` (None: common formats tried in turn).
    ``default_region``: the country of phone numbers written without an international prefix.
    ``today``: reference day for birth-date checks (default ``current_date()``).
    """
    return (
        df.transform(standardise_names)
        .transform(standardise_emails)
        .transform(standardise_phones, default_region=default_region)
        .transform(standardise_addresses)
        .transform(standardise_birth_dates, fmt=birth_date_format, today=today)
        .transform(standardise_consents)
    )
