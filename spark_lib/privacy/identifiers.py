"""A person's identifiers as keyed hashes: what the privacy log, the suppression list and the verify scan hold
instead of the values themselves.

Each identifier has a *kind* and a normal form, so that every way a value is written gives the same hash:

- ``email``: trimmed, lower-cased (``" Jean.Dupont@Gmail.com"`` -> ``"jean.dupont@gmail.com"``);
- ``phone``: the last 9 digits (``"06 12 34 56 78"``, ``"+33 6 12 34 56 78"`` and ``"0033612345678"`` all give
  ``"612345678"``): national and international forms agree without knowing the country, in Python and in
  Spark SQL alike; fewer than 9 digits is not a phone;
- ``id``: a record's or a customer's identifier (``record_key`` ``"eshop_accounts:A0001"``, the source's record
  id ``"A0001"``, a loyalty card, an account id, a cookie, a customer id), trimmed; shorter than
  :data:`MIN_ID_LENGTH` characters it is not hashed (``"12"`` is in too many columns to mean anyone).

The hash is ``sha256(key | kind | normal form)`` with a secret key per lakehouse (:func:`lakehouse_key`), so the
hashes mean nothing without the lakehouse's key and the same value hashes alike in Python
(:func:`identifier_hash`) and in Spark (:func:`hash_column`).

Example::

    key = lakehouse_key("lakehouse")
    identifier_hash("email", " Jean.Dupont@Gmail.com", key) == identifier_hash("email", "jean.dupont@gmail.com", key)
    candidate_hashes("Tél : 06 12 34 56 78", key)   # {hash of phone 612345678, ...}
"""

from __future__ import annotations

import hashlib
import os
import re
import secrets
from pathlib import Path
from typing import Iterable, Iterator

from pyspark.sql import Column
from pyspark.sql import functions as F

KINDS = ("email", "phone", "id")
#: identifiers shorter than this are not hashed: too many unrelated values look like them
MIN_ID_LENGTH = 5
#: digits a phone keeps: the subscriber part, the same in national and international form
PHONE_DIGITS = 9

#: environment variable that gives the key instead of the lakehouse's key file (a cluster's secret store)
KEY_ENV = "RCU_PRIVACY_KEY"
KEY_FILE = "ops/_privacy_key"

_EMAIL = re.compile(r"^[^@\s]+@[^@\s]+\.[^@\s]+$")
_PHONE_LIKE = re.compile(r"^\+?[\d\s().\-/]{9,}$")
# a token of free text (a raw line, a JSON string): what is left between separators that no email, phone,
# record key or card number contains
_TOKEN = re.compile(r"[^\s,;\"'{}\[\]()<>|=\\]+")
_PHONE_IN_TEXT = re.compile(r"\+?\d[\d\s.\-/]{7,}\d")


class PrivacyKeyError(RuntimeError):
    """The lakehouse's privacy key cannot be read or created."""


def lakehouse_key(lakehouse_dir: str | os.PathLike) -> str:
    """The secret that keys every hash of this lakehouse: ``$RCU_PRIVACY_KEY``, else the file
    ``<lakehouse>/ops/_privacy_key`` (created on first use, readable by its owner only)."""
    from_env = os.environ.get(KEY_ENV)
    if from_env:
        return from_env
    root = str(lakehouse_dir)
    if "://" in root and not root.startswith("file:"):
        raise PrivacyKeyError(f"the lakehouse {root} is not a local folder: give the privacy key in ${KEY_ENV}")
    path = Path(root.removeprefix("file:")) / KEY_FILE
    if not path.exists():
        path.parent.mkdir(parents=True, exist_ok=True)
        try:  # O_EXCL: two runs creating the key at once keep the first one's
            descriptor = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        except FileExistsError:
            pass
        else:
            with os.fdopen(descriptor, "w") as handle:
                handle.write(secrets.token_hex(32))
    key = path.read_text().strip()
    if not key:
        raise PrivacyKeyError(f"the privacy key file {path} is empty: restore it from a backup (hashes made with "
                              "the old key no longer match anything)")
    return key


def normal_form(kind: str, value: object) -> str | None:
    """``value`` in the normal form of ``kind``, or None when it is not such an identifier."""
    if value is None:
        return None
    text = str(value).strip()
    if kind == "email":
        text = text.lower()
        return text if _EMAIL.match(text) else None
    if kind == "phone":
        digits = re.sub(r"\D", "", text)
        return digits[-PHONE_DIGITS:] if len(digits) >= PHONE_DIGITS else None
    if kind == "id":
        return text if len(text) >= MIN_ID_LENGTH else None
    raise ValueError(f"identifier kind {kind!r} is not one of {', '.join(KINDS)}")


def identifier_hash(kind: str, value: object, key: str) -> str | None:
    """The keyed hash of ``value`` as an identifier of ``kind`` (None when it is not one)."""
    normal = normal_form(kind, value)
    return None if normal is None else _digest(kind, normal, key)


def _digest(kind: str, normal: str, key: str) -> str:
    return hashlib.sha256(f"{key}|{kind}|{normal}".encode("utf-8")).hexdigest()


def hash_column(kind: str, col: Column, key: str) -> Column:
    """:func:`identifier_hash` in Spark: the same hash for the same value, null when it is not an identifier."""
    text = F.trim(col.cast("string"))
    if kind == "email":
        normal = F.when(F.lower(text).rlike(_EMAIL.pattern), F.lower(text))
    elif kind == "phone":
        digits = F.regexp_replace(text, r"\D", "")
        normal = F.when(F.length(digits) >= PHONE_DIGITS, F.substring(digits, -PHONE_DIGITS, PHONE_DIGITS))
    elif kind == "id":
        normal = F.when(F.length(text) >= MIN_ID_LENGTH, text)
    else:
        raise ValueError(f"identifier kind {kind!r} is not one of {', '.join(KINDS)}")
    return F.when(normal.isNotNull(), F.sha2(F.concat(F.lit(f"{key}|{kind}|"), normal), 256))


def candidate_hashes(text: object, key: str) -> set[str]:
    """Every hash a stored value could stand for: the whole value and each token of it, read as an email, a
    phone and an id. What the verify scan compares with a request's hashes, for a column value, a JSON
    string of the transaction log or a line of a raw file alike."""
    if text is None:
        return set()
    value = str(text)
    found: set[str] = set()
    for candidate in _candidates(value):
        for kind, normal in candidate:
            found.add(_digest(kind, normal, key))
    return found


def _candidates(value: str) -> Iterator[list[tuple[str, str]]]:
    pieces = {value.strip()}
    if len(value) > MIN_ID_LENGTH:
        pieces.update(_TOKEN.findall(value))
        pieces.update(match.group(0) for match in _PHONE_IN_TEXT.finditer(value))
    for piece in pieces:
        readings = []
        piece = piece.strip().strip(".:")
        if "@" in piece:
            email = normal_form("email", piece)
            if email:
                readings.append(("email", email))
        if _PHONE_LIKE.match(piece):
            readings.append(("phone", normal_form("phone", piece)))
        identifier = normal_form("id", piece)
        if identifier:
            readings.append(("id", identifier))
        if readings:
            yield readings


def hashes_of(identifiers: Iterable[tuple[str, object]], key: str) -> set[str]:
    """The hashes of ``(kind, value)`` pairs, skipping values that are not identifiers of their kind."""
    return {h for kind, value in identifiers if (h := identifier_hash(kind, value, key)) is not None}
