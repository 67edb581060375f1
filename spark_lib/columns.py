"""The one check that a DataFrame has the columns a transformation needs, and its error.

Example::

    require_columns(records, ["record_key", "email_std"], "records")
    # DataFrameMissingColumnError: records lacks column(s) email_std (has: record_key, first_name_std)
"""

from __future__ import annotations

from typing import Iterable

from pyspark.sql import DataFrame


class DataFrameMissingColumnError(ValueError):
    """An input DataFrame lacks a column the transformation needs; the message names it."""


def require_columns(df: DataFrame, columns: Iterable[str], what: str) -> None:
    """Raise :class:`DataFrameMissingColumnError` naming the missing columns of ``df`` (``what`` names ``df``)."""
    if df is None:
        raise ValueError(f"'{what}' cannot be None")
    present = set(df.columns)
    missing = [c for c in columns if c not in present]
    if missing:
        raise DataFrameMissingColumnError(f"{what} lacks column(s) {', '.join(missing)} (has: {', '.join(df.columns)})")
