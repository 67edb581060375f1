"""Files people open: an audience's members as CSV, every cell safe to open in a spreadsheet.

A cell that starts with ``=``, ``+``, ``-``, ``@``, a tab or a carriage return is read by Excel, LibreOffice
and Google Sheets as a formula, which can run commands or send data away (CSV injection). Standardisation
already strips such prefixes from names and addresses (``<field>:formula_prefix``); an export meant for a
spreadsheet guards every cell again, whatever its column, by putting a ``'`` before it (the spreadsheet shows
the text as it is). An E.164 phone number (``+33612345678``: a plus and digits) is a number to a
spreadsheet, not a formula, and is written as it is so that an SMS tool can take the file.

Files are written to a temporary name beside the target and renamed at the end: a killed export leaves no
half file under the target name.

Example::

    members = audience_export(lake, "abandoned_cart", dt.date(2026, 10, 31))
    rows = write_csv(members, "exports/abandoned_cart_2026-10-31.csv")
    spreadsheet_safe("=HYPERLINK(\\"http://x\\")")    # "'=HYPERLINK(\\"http://x\\")"
"""

from __future__ import annotations

import csv
import datetime as dt
import os
import re
from pathlib import Path

from pyspark.sql import DataFrame
from pyspark.sql import functions as F

from spark_lib.storage import Lakehouse
from spark_lib.tables import AUDIENCE_MEMBERS, CUSTOMER

FORMULA_START = re.compile(r"^[\s]*[=+\-@]|^[\t\r]")
E164 = re.compile(r"^\+[1-9][0-9]{5,14}$")
#: the columns of an audience export, in order
AUDIENCE_COLUMNS = ("run_date", "audience", "customer_id", "civility", "first_name", "last_name", "channel",
                    "contact", "reason")


def spreadsheet_safe(value):
    """``value`` as a spreadsheet shows it as text: a leading ``'`` when it would start a formula."""
    if isinstance(value, str) and FORMULA_START.match(value) and not E164.match(value):
        return "'" + value
    return value


class ExportError(ValueError):
    """What was asked for cannot be exported (an audience with no snapshot on that date, say)."""


def audience_export(lake: Lakehouse, audience: str, run_date: dt.date | None = None) -> DataFrame:
    """The members of ``audience`` on ``run_date`` (default: its latest snapshot) with the names to greet
    them by, in :data:`AUDIENCE_COLUMNS` order, sorted by customer id."""
    members = lake.read(AUDIENCE_MEMBERS).where(F.col("audience") == audience)
    if run_date is None:
        latest = members.agg(F.max("run_date")).first()[0]
        if latest is None:
            known = sorted(r.audience for r in lake.read(AUDIENCE_MEMBERS).select("audience").distinct().collect())
            raise ExportError(f"audience {audience!r} has no member in {AUDIENCE_MEMBERS} "
                              f"(audiences with members: {', '.join(known) or 'none'})")
        run_date = latest
    members = members.where(F.col("run_date") == F.lit(run_date).cast("date"))
    names = lake.read(CUSTOMER).select("customer_id", "civility", "first_name", "last_name")
    return members.join(names, "customer_id", "left").select(*AUDIENCE_COLUMNS).orderBy("customer_id")


def write_csv(df: DataFrame, path: str | os.PathLike, separator: str = ";", spreadsheet: bool = True) -> int:
    """Write ``df`` to one CSV file (UTF-8 with a byte-order mark, so that Excel reads accents right; RFC 4180
    quoting), each cell :func:`spreadsheet_safe` unless ``spreadsheet`` is False; the number of rows."""
    target = Path(path)
    target.parent.mkdir(parents=True, exist_ok=True)
    partial = target.with_name(f".{target.name}.partial")
    guard = spreadsheet_safe if spreadsheet else (lambda value: value)
    count = 0
    with open(partial, "w", encoding="utf-8-sig", newline="") as out:
        writer = csv.writer(out, delimiter=separator, quoting=csv.QUOTE_MINIMAL, lineterminator="\r\n")
        writer.writerow(df.columns)
        for row in df.toLocalIterator():
            writer.writerow([guard(value) for value in row])
            count += 1
    os.replace(partial, target)
    return count
