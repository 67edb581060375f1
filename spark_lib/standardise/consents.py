"""Marketing consents (opt-ins) as booleans, and the date they were given.

Example::

    from spark_lib.standardise import standardise_consents
    silver = raw.transform(standardise_consents)

Inputs (may be absent): ``consent_email``, ``consent_sms``, ``consent_postal`` (strings such as "oui", "N",
"1", "true", "X") and ``consent_date``. Outputs: the same columns as ``boolean`` and ``timestamp``.

A value that is neither yes nor no becomes null (consent unknown: never read as a yes) and is flagged
``<column>:unrecognised``; a ``consent_date`` that is not a time is flagged ``consent_date:unparseable``.
"""

from __future__ import annotations

from pyspark.sql import Column, DataFrame
from pyspark.sql import functions as F

from spark_lib.standardise.dates import parse_timestamp
from spark_lib.standardise.text import fold, input_column, is_in, with_quality_flags

CONSENT_COLUMNS = ("consent_email", "consent_sms", "consent_postal")

#: folded values read as yes ("x": a ticked box exported as a cross)
YES = ("oui", "o", "yes", "y", "1", "1 0", "true", "vrai", "x", "ok", "opt in", "optin", "accepte")
#: folded values read as no
NO = ("non", "n", "no", "0", "0 0", "false", "faux", "opt out", "optout", "refuse")


def parse_consent(col: Column | str) -> Column:
    """``true`` for oui/o/yes/y/1/true/vrai/x, ``false`` for non/n/no/0/false/faux (any case), else null."""
    col = F.col(col) if isinstance(col, str) else col
    return _consent_from_folded(fold(col.cast("string")))


def _consent_from_folded(key: Column) -> Column:
    unknown = F.lit(None).cast("boolean")
    return F.when(is_in(key, YES), F.lit(True)).when(is_in(key, NO), F.lit(False)).otherwise(unknown)


def standardise_consents(df: DataFrame, date_format: str | None = None) -> DataFrame:
    """Consent flags to booleans and ``consent_date`` to a timestamp (``date_format``: its Spark pattern, if known)."""
    tmp = "_std_consent_"
    df = df.withColumns(
        {
            **{f"{tmp}{name}": fold(input_column(df, name)) for name in CONSENT_COLUMNS},
            f"{tmp}date_given": fold(input_column(df, "consent_date")).isNotNull(),
            "consent_date": parse_timestamp(input_column(df, "consent_date"), date_format),
        }
    )
    df = df.withColumns({name: _consent_from_folded(F.col(f"{tmp}{name}")) for name in CONSENT_COLUMNS})
    flags = [
        (F.col(f"{tmp}{name}").isNotNull() & F.col(name).isNull(), f"{name}:unrecognised") for name in CONSENT_COLUMNS
    ]
    flags.append((F.col(f"{tmp}date_given") & F.col("consent_date").isNull(), "consent_date:unparseable"))
    df = with_quality_flags(df, flags)
    return df.drop(*[c for c in df.columns if c.startswith(tmp)])
