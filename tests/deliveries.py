"""A small delivery of three sources in three formats, with the defects bronze must catch."""

from __future__ import annotations

import argparse
import json
from pathlib import Path

import pandas as pd

LOYALTY_CSV = (
    "num_carte;civilite;nom;prenom;date naiss;ville\n"
    "C001;Mme;LEFÈVRE;Hélène;19800131;Saint-Étienne\n"
    "C002;M.;DUPONT;Noël;19751225;Paris\n"
    "C003;M.;MARTIN;Jérôme\n"                       # one field short
    ";Mme;PETIT;Zoé;19900101;Lyon\n"                 # no record id
    "C005;Mlle;GARÇON;Maëlle;20000229;Nîmes;extra\n"  # one field too many
    "C006;M;ROBERT;luc;19800231;NANTES\n"             # February 31st
)

ORDERS_JSONL = "\n".join(
    [
        json.dumps({"order_id": "O1", "account_id": "A1", "created_at": "2026-10-01T10:00:00",
                    "status": "completed", "shipping": {"last_name": "Dupont", "postcode": "75011"}}),
        "{\"order_id\": \"O2\", \"account_id\": ",   # truncated line
        json.dumps({"order_id": "O3", "account_id": "A2", "created_at": "2026-10-02T11:00:00",
                    "status": "cart", "shipping": {"last_name": "Martin", "postcode": "69003"}}),
    ]
) + "\n"

SOURCES_YAML = """
sources:
  loyalty:
    path: fid/*.csv
    format: csv
    separator: ";"
    encoding: cp1252
    channel: offline
    record_id: num_carte
    birth_date_format: yyyyMMdd
    identity:
      loyalty_card: num_carte
      civility: civilite
      first_name: prenom
      last_name: nom
      birth_date: date naiss
      city: ville
  orders:
    path: web/*.jsonl
    format: json
    channel: online
    record_id: order_id
    identity:
      account_id: account_id
      last_name: shipping.last_name
      postcode: shipping.postcode
      updated_at: created_at
    interactions:
      table: orders
      fields: {event_id: order_id, event_time: created_at, event_type: status}
  receipts:
    path: pos/*.parquet
    format: parquet
    channel: offline
    record_id: ticket_id
    identity: {loyalty_card: card}
    interactions:
      table: receipts
      fields: {event_time: sold_at, amount: amount}
      event_type: purchase
"""


def write_delivery(root: Path) -> argparse.Namespace:
    """Write the raw files and their sources.yaml under ``root``; return job arguments pointing at them."""
    raw = root / "raw"
    for folder in ("fid", "web", "pos"):
        (raw / folder).mkdir(parents=True, exist_ok=True)
    (raw / "fid" / "adherents.csv").write_bytes(LOYALTY_CSV.encode("cp1252"))
    (raw / "web" / "orders.jsonl").write_text(ORDERS_JSONL, encoding="utf-8")
    pd.DataFrame(
        {
            "ticket_id": ["T1", None, "T3"],
            "card": ["C001", "C002", None],
            "amount": ["12,50", "3.0", "8"],
            "sold_at": ["2026-09-30 18:02:11", "2026-10-01 09:15:00", "01/10/2026 10:00:00"],
        }
    ).to_parquet(raw / "pos" / "tickets.parquet")
    sources = root / "sources.yaml"
    sources.write_text(SOURCES_YAML, encoding="utf-8")
    return argparse.Namespace(
        conf_dir=None, lakehouse=str(root / "lake"), raw_dir=str(raw), sources=str(sources), truth_dir=None
    )
