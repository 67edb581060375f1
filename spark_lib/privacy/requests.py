"""A person's requests (access, erasure, objection): read from the command line or a file, and resolved to the
customers they name.

A request names the person by an email, a phone or a customer id. A request file is a CSV (``,`` or ``;``)
with a header among ``request_id``, ``email``, ``phone``, ``customer_id``; a line naming nobody, or with an
email or phone that cannot be one, is reported with its line number and the other lines are processed.

Resolution compares keyed hashes (:mod:`spark_lib.privacy.identifiers`), so an email typed in capitals or a
phone in national form finds the records that hold it in any form.

Example::

    requests, problems = read_request_file("erasures.csv")
    found = resolve_requests(records, crosswalk, requests, key)   # request_id -> customer ids
"""

from __future__ import annotations

import csv
import datetime as dt
import io
import uuid
from dataclasses import dataclass
from pathlib import Path

from pyspark.sql import DataFrame
from pyspark.sql import functions as F

from spark_lib.privacy.footprint import silver_identifier_hashes
from spark_lib.privacy.identifiers import hash_column, identifier_hash, normal_form

REQUEST_COLUMNS = ("request_id", "email", "phone", "customer_id")


class RequestError(ValueError):
    """A request that names nobody, or a request file that cannot be read."""


@dataclass(frozen=True)
class Request:
    request_id: str
    email: str | None = None
    phone: str | None = None
    customer_id: str | None = None

    def identifiers(self) -> list[tuple[str, str]]:
        """(kind, value) of what the request gives."""
        given = [("email", self.email), ("phone", self.phone), ("id", self.customer_id)]
        return [(kind, value) for kind, value in given if value]

    def hashes(self, key: str) -> set[str]:
        return {h for kind, value in self.identifiers() if (h := identifier_hash(kind, value, key))}


def new_request_id(now: dt.datetime | None = None) -> str:
    """``R<yyyymmdd>-<8 hex>``: says when, never whom."""
    now = now or dt.datetime.now(dt.timezone.utc)
    return f"R{now:%Y%m%d}-{uuid.uuid4().hex[:8]}"


def make_request(email: str | None = None, phone: str | None = None, customer_id: str | None = None,
                 request_id: str | None = None) -> Request:
    """A request from the command line; :class:`RequestError` when it names nobody or a value is malformed."""
    problems = _problems(email, phone, customer_id)
    if problems:
        raise RequestError("; ".join(problems))
    return Request(request_id or new_request_id(), _blank(email), _blank(phone), _blank(customer_id))


def _blank(value: str | None) -> str | None:
    value = (value or "").strip()
    return value or None


def _problems(email: str | None, phone: str | None, customer_id: str | None) -> list[str]:
    email, phone, customer_id = _blank(email), _blank(phone), _blank(customer_id)
    problems = []
    if not (email or phone or customer_id):
        problems.append("no email, phone or customer id: the request names nobody")
    if email and normal_form("email", email) is None:
        problems.append("the email is not an address (name@domain.tld)")
    if phone and normal_form("phone", phone) is None:
        problems.append("the phone has fewer than 9 digits")
    if customer_id and normal_form("id", customer_id) is None:
        problems.append("the customer id is too short to be one")
    return problems


def read_request_file(path: str | Path) -> tuple[list[Request], list[str]]:
    """The valid requests of a CSV request file, and one message per line that is not one (with its number).

    Raises :class:`RequestError` when the file cannot be read or its header has none of the request columns."""
    try:
        text = Path(path).read_text(encoding="utf-8-sig")
    except (OSError, UnicodeDecodeError) as error:
        raise RequestError(f"{path}: cannot be read as UTF-8 text ({error})") from error
    first = text.splitlines()[0] if text.strip() else ""
    separator = ";" if first.count(";") > first.count(",") else ","
    reader = csv.DictReader(io.StringIO(text), delimiter=separator)
    header = [h.strip().lower() for h in (reader.fieldnames or [])]
    if not set(header) & set(REQUEST_COLUMNS[1:]):
        raise RequestError(f"{path}: the header must name at least one of email, phone, customer_id "
                           f"(found: {', '.join(header) or 'nothing'})")
    unknown = sorted(set(header) - set(REQUEST_COLUMNS))
    if unknown:
        raise RequestError(f"{path}: unknown column(s) {', '.join(unknown)} (allowed: {', '.join(REQUEST_COLUMNS)})")
    requests, problems, seen = [], [], set()
    for number, row in enumerate(reader, start=2):
        row = {(k or "").strip().lower(): v for k, v in row.items()}
        if None in row or "" in row:
            problems.append(f"line {number}: more fields than the header has")
            continue
        found = _problems(row.get("email"), row.get("phone"), row.get("customer_id"))
        request_id = _blank(row.get("request_id")) or new_request_id()
        if request_id in seen:
            found.append(f"request id {request_id} already used on an earlier line")
        if found:
            problems.append(f"line {number}: " + "; ".join(found))
            continue
        seen.add(request_id)
        requests.append(Request(request_id, _blank(row.get("email")), _blank(row.get("phone")),
                                _blank(row.get("customer_id"))))
    return requests, problems


def resolve_requests(records: DataFrame, crosswalk: DataFrame, requests: list[Request], key: str) -> dict[str, list[str]]:
    """request_id -> the customer ids it names (sorted; empty: nobody), in one Spark job: records holding the
    request's email or phone in any form, and the customer id itself when the crosswalk has it."""
    if not requests:
        return {}
    spark = records.sparkSession
    wanted = spark.createDataFrame(
        [(r.request_id, h) for r in requests for h in r.hashes(key)], "request_id string, hash string")
    by_identifier = (silver_identifier_hashes(records, key).join(F.broadcast(wanted), "hash")
                     .join(crosswalk.select("record_key", "customer_id"), "record_key").select("request_id", "customer_id"))
    by_customer = (crosswalk.select("customer_id").distinct()
                   .withColumn("hash", hash_column("id", F.col("customer_id"), key))
                   .join(F.broadcast(wanted), "hash").select("request_id", "customer_id"))
    found: dict[str, set[str]] = {r.request_id: set() for r in requests}
    for row in by_identifier.unionByName(by_customer).distinct().collect():
        found[row.request_id].add(row.customer_id)
    return {request_id: sorted(ids) for request_id, ids in found.items()}
