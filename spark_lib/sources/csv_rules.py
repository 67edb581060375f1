"""The CSV rules of the project, in plain Python (no Spark): RFC 4180, as Excel and Python's ``csv`` write it.

A field may be quoted; a quote inside a quoted field is doubled; a quoted field may hold the separator or a
line break. Spark reads CSV with the same rules (:func:`spark_lib.sources.readers.read_raw` sets ``escape`` to
the quote and ``multiLine``); the header reader, the file checks and the onboarding sniffer use :func:`csv_rows`.

Example::

    list(csv_rows('id;name;note\\n1;"Dupont ""Jo"" fils";"a;b\\nc"\\n', ";"))
    # [['id', 'name', 'note'], ['1', 'Dupont "Jo" fils', 'a;b\\nc']]
"""

from __future__ import annotations

import csv
import io
from typing import Iterable, Iterator


def csv_rows(text: str | Iterable[str], separator: str, quote: str = '"') -> Iterator[list[str]]:
    """Rows of CSV ``text`` (a string, or lines that keep their line ends) read as RFC 4180."""
    lines = io.StringIO(text, newline="") if isinstance(text, str) else text
    return csv.reader(lines, delimiter=separator, quotechar=quote, doublequote=True, escapechar=None,
                      skipinitialspace=False, strict=False)
