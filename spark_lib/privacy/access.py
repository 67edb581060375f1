"""Right of access: everything the lakehouse holds on one person, as JSON and as a page in French.

Read without Spark (the ``deltalake`` package and pyarrow), so an answer takes seconds: the person's
customers are found from the request (email, phone in any form, or customer id), then every table's rows that
are theirs: each source record as delivered (bronze) and as standardised (silver), the golden record and
where each value came from, consents and their history, interactions, segments, audience memberships, id
events, and quarantined rows whose raw text carries one of their identifiers.

Example::

    export = access_export("lakehouse", sources, make_request(email="jean.dupont@gmail.com"), key)
    write_export(export, Path("exports/R20261206-1a2b3c4d"))   # .json and .html
"""

from __future__ import annotations

import datetime as dt
import html
import json
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Mapping

import pyarrow as pa
import pyarrow.compute as pc
from deltalake import DeltaTable

from spark_lib import tables
from spark_lib.config import INTERACTION_TABLES, SourceSpec
from spark_lib.privacy.footprint import SILVER_IDENTIFIERS
from spark_lib.privacy.identifiers import candidate_hashes, hashes_of, normal_form
from spark_lib.privacy.requests import Request
from spark_lib.sources.readers import delta_safe_name

#: the sections of an export, in the order the page shows them, with their French titles
SECTIONS: Mapping[str, str] = {
    "golden_record": "Votre fiche client unifiée",
    "provenance": "D'où vient chaque information de votre fiche",
    "consents": "Vos consentements et leur historique",
    "source_records": "Vos fiches dans chacun de nos systèmes (telles que standardisées)",
    "delivered_rows": "Les lignes reçues de nos systèmes (telles que livrées)",
    "interactions": "Vos achats, commandes, visites et échanges",
    "customer_360": "Synthèse de votre activité",
    "segments": "Vos segments marketing",
    "audiences": "Les campagnes auxquelles vous avez été destiné(e)",
    "id_events": "L'historique de votre identifiant client",
    "quarantine": "Lignes mises de côté à la réception qui portent vos identifiants",
    "stream_events": "Vos événements reçus en temps réel (navigation, commandes, e-mails)",
    "triggers": "Les messages déclenchés en temps réel à votre intention",
    "review": "Les vérifications manuelles de vos fiches (paires de fiches examinées par nos équipes)",
}
CONSENT_COLUMNS = ("record_key", "source", "consent_email", "consent_sms", "consent_postal", "consent_date", "record_time")


@dataclass
class AccessExport:
    request: Request
    customers: list[str]
    generated_at: str
    sections: dict[str, list[dict[str, Any]]] = field(default_factory=dict)

    @property
    def status(self) -> str:
        return "found" if len(self.customers) == 1 else ("no_match" if not self.customers else "ambiguous")

    def as_json(self) -> dict[str, Any]:
        return {"request_id": self.request.request_id, "generated_at": self.generated_at, "status": self.status,
                "customers": self.customers, "sections": self.sections}


class LakeReader:
    """The lakehouse's Delta tables read with the ``deltalake`` package (no Spark)."""

    def __init__(self, root: str | Path):
        self.root = Path(str(root).removeprefix("file:"))

    def path(self, table: str) -> Path:
        layer, entity = table.split(".")
        return self.root / layer / entity

    def exists(self, table: str) -> bool:
        return (self.path(table) / "_delta_log").is_dir()

    def rows(self, table: str, where=None, columns=None) -> pa.Table | None:
        """The table's rows matching the pyarrow expression ``where`` (None: the table does not exist)."""
        if not self.exists(table):
            return None
        dataset = DeltaTable(str(self.path(table))).to_pyarrow_dataset()
        return dataset.to_table(filter=where, columns=columns)

    def column_names(self, table: str) -> list[str]:
        return DeltaTable(str(self.path(table))).schema().to_arrow().names


def _isin(column: str, values) -> Any:
    return pc.field(column).isin(pa.array(sorted(values), pa.string()))


def find_customers(lake: LakeReader, request: Request) -> list[str]:
    """The customer ids the request names: records holding its email or phone (any form), or its customer id."""
    found: set[str] = set()
    if request.customer_id and lake.exists(tables.CROSSWALK):
        hit = lake.rows(tables.CROSSWALK, pc.field("customer_id") == request.customer_id.strip(), ["customer_id"])
        found.update(hit.column("customer_id").to_pylist())
    conditions = []
    if request.email:
        email = normal_form("email", request.email)
        conditions += [pc.field("email") == email, pc.field("email_std") == email]
    if request.phone:
        digits = normal_form("phone", request.phone)
        conditions += [pc.ends_with(pc.field(c), digits) for c in ("phone_mobile", "phone_landline")]
    if conditions:
        where = conditions[0]
        for condition in conditions[1:]:
            where = where | condition
        keys = lake.rows(tables.CUSTOMER_RECORDS, where, ["record_key"]).column("record_key").to_pylist()
        if keys:
            hit = lake.rows(tables.CROSSWALK, _isin("record_key", keys), ["customer_id"])
            found.update(hit.column("customer_id").to_pylist())
    return sorted(found)


def access_export(lakehouse: str | Path, sources: list[SourceSpec], request: Request, key: str,
                  confirm: bool = False) -> AccessExport:
    """Everything held on the person the request names (every section empty when it names nobody, or
    several customers without ``confirm``)."""
    lake = LakeReader(lakehouse)
    now = dt.datetime.now(dt.timezone.utc).replace(microsecond=0).isoformat()
    customers = find_customers(lake, request)
    export = AccessExport(request, customers, now)
    if not customers or (len(customers) > 1 and not confirm):
        return export
    crosswalk = lake.rows(tables.CROSSWALK, _isin("customer_id", customers))
    record_keys = crosswalk.column("record_key").to_pylist()
    by_customer = _isin("customer_id", customers)
    records = lake.rows(tables.CUSTOMER_RECORDS, _isin("record_key", record_keys))
    sections = export.sections
    sections["golden_record"] = _listed(lake.rows(tables.CUSTOMER, by_customer))
    sections["provenance"] = _listed(lake.rows(tables.PROVENANCE, by_customer))
    sections["source_records"] = _listed(records)
    sections["consents"] = _listed(records.select([c for c in CONSENT_COLUMNS if c in records.column_names]))
    sections["delivered_rows"] = _delivered_rows(lake, sources, record_keys)
    sections["interactions"] = []
    for name in INTERACTION_TABLES:
        rows = lake.rows(tables.interactions(name), _isin("record_key", record_keys))
        sections["interactions"] += [{"table": name, **row} for row in _listed(rows)]
    sections["customer_360"] = _listed(lake.rows(tables.CUSTOMER_360, by_customer))
    sections["segments"] = _listed(lake.rows(tables.SEGMENTS, by_customer))
    sections["audiences"] = _listed(lake.rows(tables.AUDIENCE_MEMBERS, by_customer))
    events = lake.rows(tables.ID_EVENTS)
    if events is not None:
        wanted = pa.array(customers, pa.string())
        other_ids = events.column("other_ids")
        named = pc.list_parent_indices(other_ids).filter(pc.is_in(pc.list_flatten(other_ids), value_set=wanted))
        own = pc.indices_nonzero(pc.is_in(events.column("customer_id"), value_set=wanted))
        rows = sorted(set(named.to_pylist()) | set(own.to_pylist()))
        sections["id_events"] = _listed(events.take(pa.array(rows, pa.int64())))
    sections["quarantine"] = _quarantined(lake, records, record_keys, request, key)
    sections["stream_events"] = _stream_events(lake, record_keys)
    sections["triggers"] = _listed(lake.rows(tables.TRIGGER_EVENTS, by_customer))
    sections["review"] = _review(lake, record_keys)
    return export


def _listed(rows: pa.Table | None) -> list[dict[str, Any]]:
    return [] if rows is None else rows.to_pylist()


def _delivered_rows(lake: LakeReader, sources: list[SourceSpec], record_keys: list[str]) -> list[dict[str, Any]]:
    """Each bronze row of the person's records, as its source delivered it."""
    rows = []
    for spec in sources:
        ids = [k.split(":", 1)[1] for k in record_keys if k.startswith(f"{spec.name}:")]
        table = tables.bronze(spec.name)
        if not ids or not lake.exists(table):
            continue
        found = lake.rows(table, pc.field(*_bronze_path(spec.record_id, lake.column_names(table))).cast(pa.string()).isin(pa.array(ids)))
        rows += [{"source": spec.name, **row} for row in _listed(found)]
    return rows


def _stream_events(lake: LakeReader, record_keys: list[str]) -> list[dict[str, Any]]:
    """The stream's messages of the person's records (keyed by the record's id: a cookie, an account, an
    emailing contact), those that came too late, and the links it made from them (``rcu stream``)."""
    ids = sorted({k.split(":", 1)[1] for k in record_keys})
    rows = [{"table": str(tables.STREAM_EVENTS), **row} for row in _listed(lake.rows(tables.STREAM_EVENTS, _isin("key", ids)))]
    for table in (tables.LATE_EVENTS, tables.STREAM_IDENTITY_LINKS):
        rows += [{"table": str(table), **row} for row in _listed(lake.rows(table, _isin("record_key", record_keys)))]
    return rows


def _review(lake: LakeReader, record_keys: list[str]) -> list[dict[str, Any]]:
    """The steward's queue, decisions and samples that name one of the person's records. A pair's other
    record may be someone else's: only the person's own side is shown (its key, customer and values), the
    other's key alone."""
    rows = []
    theirs = set(record_keys)
    named = _isin("record_key_l", record_keys) | _isin("record_key_r", record_keys)
    for row in _listed(lake.rows(tables.REVIEW_QUEUE, named)):
        side = "l" if row["record_key_l"] in theirs else "r"
        other = "r" if side == "l" else "l"
        rows.append({"table": str(tables.REVIEW_QUEUE), "pair_id": row["pair_id"], "reasons": row["reasons"],
                     "record_key": row[f"record_key_{side}"], "customer_id": row[f"customer_id_{side}"],
                     "record": row[f"record_{side}"], "other_record_key": row[f"record_key_{other}"],
                     "queued_at": row["queued_at"]})
    for table in (tables.REVIEW_DECISIONS, tables.REVIEW_SAMPLE):
        rows += [{"table": str(table), **{k: v for k, v in row.items() if not k.startswith("record_hash")}}
                 for row in _listed(lake.rows(table, named))]
    return rows


def _bronze_path(column: str, names: list[str]) -> list[str]:
    """Where bronze keeps a configured column: its Delta-safe name (``Code adhérent`` -> ``Code_adhérent``),
    or a path into a struct (``customer.id``) unless the dotted name is a column as a whole."""
    whole = delta_safe_name(column)
    return [whole] if whole in names else [delta_safe_name(part) for part in column.split(".")]


def _quarantined(lake: LakeReader, records: pa.Table, record_keys: list[str], request: Request, key: str) -> list[dict]:
    """Quarantine rows whose raw text carries one of the person's identifiers (read as verify reads text)."""
    quarantine = lake.rows(tables.QUARANTINE, columns=["source", "source_file", "reason", "raw_record", "ingested_at"])
    if quarantine is None or not quarantine.num_rows:
        return []
    theirs = [(kind, value) for column, kind in SILVER_IDENTIFIERS.items() if column in records.column_names
              for value in records.column(column).to_pylist() if value]
    theirs += [("id", k) for k in record_keys] + [("id", k.split(":", 1)[1]) for k in record_keys]
    wanted = hashes_of(theirs, key) | request.hashes(key)
    return [row for row in quarantine.to_pylist() if not wanted.isdisjoint(candidate_hashes(row["raw_record"], key))]


def write_export(export: AccessExport, folder: Path) -> tuple[Path, Path]:
    """``<folder>/<request_id>.json`` and ``.html``; the folder is created with owner-only access."""
    folder.mkdir(parents=True, exist_ok=True, mode=0o700)
    stem = folder / export.request.request_id
    json_path, html_path = stem.with_suffix(".json"), stem.with_suffix(".html")
    json_path.write_text(json.dumps(export.as_json(), ensure_ascii=False, indent=2, default=_json_value), encoding="utf-8")
    html_path.write_text(render_html(export), encoding="utf-8")
    return json_path, html_path


def _json_value(value: Any) -> Any:
    if isinstance(value, (dt.date, dt.datetime)):
        return value.isoformat()
    if isinstance(value, bytes):
        return value.decode("utf-8", "replace")
    return str(value)


def render_html(export: AccessExport) -> str:
    """The export as a self-contained page in French (every value escaped)."""
    parts = [
        "<!DOCTYPE html><html lang='fr'><head><meta charset='utf-8'><title>Vos données personnelles</title>",
        "<style>body{font-family:sans-serif;margin:2em;max-width:70em}table{border-collapse:collapse;margin:.5em 0 1.5em}"
        "td,th{border:1px solid #ccc;padding:.2em .5em;text-align:left;vertical-align:top;font-size:.9em}"
        "th{background:#f3f3f3}</style></head><body>",
        "<h1>Vos données personnelles</h1>",
        f"<p>Demande d'accès {html.escape(export.request.request_id)}, réponse établie le "
        f"{html.escape(export.generated_at)}. Vous trouverez ci-dessous l'ensemble des informations que nous "
        "détenons vous concernant. Vous pouvez en demander la rectification ou l'effacement, ou vous opposer à "
        "leur usage pour la prospection, auprès de notre délégué à la protection des données.</p>",
    ]
    if export.status != "found":
        message = ("Aucune donnée ne correspond à l'identifiant fourni." if export.status == "no_match" else
                   f"L'identifiant fourni correspond à {len(export.customers)} fiches client : la demande doit être "
                   "précisée avant toute réponse.")
        parts.append(f"<p><strong>{html.escape(message)}</strong></p>")
    for name, title in SECTIONS.items():
        rows = export.sections.get(name)
        if rows is None:
            continue
        parts.append(f"<h2>{html.escape(title)} ({len(rows)})</h2>")
        parts.append(_html_table(rows) if rows else "<p>Aucune information.</p>")
    parts.append("</body></html>")
    return "\n".join(parts)


def _html_table(rows: list[dict[str, Any]]) -> str:
    columns = list(dict.fromkeys(c for row in rows for c in row))
    head = "".join(f"<th>{html.escape(c)}</th>" for c in columns)
    body = "".join(
        "<tr>" + "".join(f"<td>{html.escape(_cell(row.get(c)))}</td>" for c in columns) + "</tr>" for row in rows)
    return f"<table><tr>{head}</tr>{body}</table>"


def _cell(value: Any) -> str:
    if value is None:
        return ""
    if isinstance(value, (list, tuple)):
        return ", ".join(_cell(v) for v in value)
    if isinstance(value, dict):
        return "; ".join(f"{k}: {_cell(v)}" for k, v in value.items() if v is not None)
    if isinstance(value, (dt.date, dt.datetime)):
        return value.isoformat()
    if isinstance(value, bytes):
        return value.decode("utf-8", "replace")
    return str(value)
