"""A small delivery of three sources in three formats, with the defects bronze must catch."""

from __future__ import annotations

import argparse
import gzip
import json
from pathlib import Path

import pandas as pd

from spark_lib.generator.faults import xlsx_bytes

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


# A day's delivery mixing good files and bad ones --------------------------------------------------------------

LOYALTY_HEADER = "num_carte;civilite;nom;prenom;date naiss;ville\n"

#: RFC 4180 as Excel writes it: doubled quotes, a separator and a line break inside quoted fields, a quoted id,
#: and an empty quoted id (as the generator writes a malformed row's): read right, only the last is quarantined
QUOTED_CSV = (
    LOYALTY_HEADER
    + 'C010;M.;"LE ""GRAND"" DUPONT";"Jean;Marc";19700101;"Saint-Malo\nIntra-muros"\n'
    + '"C011";Mme;"D\'ARC";Jeanne;19120106;Domrémy\n'
    + '"";Mme;"VIDE";Iris;19990101;Metz\n'
)

#: a line of bytes that are not text, carriage returns inside (Spark used to split it into three "rows")
GARBAGE_LINE = b"\xc3\x28\x8f\xff\rnot json\xfe\r\x81\x90"
#: a valid line of about 2 MB: length alone must not make a line "invalid"
LONG_COMMENT = "très long commentaire " * 100_000


def _orders_line(order_id: str, **extra) -> str:
    return json.dumps({"order_id": order_id, "account_id": f"A{order_id}", "created_at": "2026-10-03T09:00:00",
                       "status": "completed", "shipping": {"last_name": "Durand", "postcode": "33000"}, **extra},
                      ensure_ascii=False)


def _tickets(**columns) -> pd.DataFrame:
    base = {"ticket_id": ["T10", "T11"], "card": ["C010", "C011"], "amount": ["5.00", "7,20"],
            "sold_at": ["2026-10-03 10:00:00", "2026-10-03 11:00:00"]}
    return pd.DataFrame({**base, **columns})


#: file -> (reason in bronze.file_quarantine) of each bad file of :func:`write_mixed_delivery`
BAD_FILES = {
    "fid/vide.csv": "empty",
    "fid/entete_seule.csv": "header only",
    "fid/virgules.csv": "wrong separator",
    "fid/utf16.csv": "wrong encoding",
    "fid/sans_ville.csv": "missing column",
    "fid/coupe.csv": "truncated",
    "fid/classeur.csv": "wrong format",
    "fid/erreur_serveur.csv": "wrong format",
    "fid/compresse.csv": "compressed",
    "fid/nom_deux_fois.csv": "duplicate column",
    "fid/adherents_renvoi.csv": "duplicate file",
    "web/orders_coupe.jsonl": "truncated",
    "web/orders_document.jsonl": "wrong format",
    "pos/tickets_retype.parquet": "retyped column",
    "pos/tickets_coupe.parquet": "truncated",
    "pos/tickets_illisible.parquet": "unreadable",
    "pos/tickets_texte.parquet": "wrong format",
}



#: record ids of the good rows of the good files: each must land in bronze exactly once
GOOD_IDS = {
    "loyalty": {"C001", "C002", "C006", "C010", "C011"},
    "orders": {"O1", "O3", "O10", "O11"},
    "receipts": {"T1", "T3", "T10", "T11"},
}


def write_mixed_delivery(root: Path) -> argparse.Namespace:
    """The small delivery of :func:`write_delivery` plus good files that are hard to read right and the bad
    files of :data:`BAD_FILES`, all arriving on the same day."""
    args = write_delivery(root)
    raw = Path(args.raw_dir)
    (raw / "fid" / "guillemets.csv").write_bytes(QUOTED_CSV.encode("cp1252"))
    (raw / "fid" / "vide.csv").write_bytes(b"")
    (raw / "fid" / "entete_seule.csv").write_bytes(LOYALTY_HEADER.encode("cp1252"))
    (raw / "fid" / "virgules.csv").write_bytes(
        (LOYALTY_HEADER + "C020;M.;NOIR;Paul;19810101;Rennes\n").replace(";", ",").encode("cp1252"))
    (raw / "fid" / "utf16.csv").write_bytes((LOYALTY_HEADER + "C021;Mme;ÉLOI;Anaïs;19820202;Caen\n").encode("utf-16"))
    (raw / "fid" / "sans_ville.csv").write_bytes(
        "num_carte;civilite;nom;prenom;date naiss\nC022;M.;VERT;Marc;19830303\n".encode("cp1252"))
    (raw / "fid" / "coupe.csv").write_bytes(
        (LOYALTY_HEADER + "C023;M.;BLANC;Léo;19840404;Brest\nC024;Mme;GRIS;\"Lou").encode("cp1252"))
    (raw / "fid" / "classeur.csv").write_bytes(xlsx_bytes())
    (raw / "fid" / "erreur_serveur.csv").write_bytes(
        b"<!DOCTYPE html>\n<html><head><title>502 Bad Gateway</title></head><body>nginx</body></html>\n")
    (raw / "fid" / "compresse.csv").write_bytes(
        gzip.compress((LOYALTY_HEADER + "C025;M.;ROUX;Tom;19850505;Dijon\n").encode("cp1252"), mtime=0))
    (raw / "fid" / "nom_deux_fois.csv").write_bytes(
        "num_carte;civilite;nom;prenom;nom;date naiss;ville\nC026;M.;BRUN;Max;BRUN;19860606;Tours\n".encode("cp1252"))
    (raw / "fid" / "adherents_renvoi.csv").write_bytes((raw / "fid" / "adherents.csv").read_bytes())
    (raw / "web" / "orders_bruit.jsonl").write_bytes(
        (_orders_line("O10") + "\n").encode() + GARBAGE_LINE + b"\n"
        + (_orders_line("O11", comment=LONG_COMMENT) + "\n").encode())
    (raw / "web" / "orders_coupe.jsonl").write_text(_orders_line("O20") + "\n" + _orders_line("O21")[:40],
                                                      encoding="utf-8")
    (raw / "web" / "orders_document.jsonl").write_text(
        json.dumps([json.loads(_orders_line("O22"))], indent=2) + "\n", encoding="utf-8")
    _tickets().to_parquet(raw / "pos" / "tickets_jour2.parquet")
    _tickets(ticket_id=["T12", "T13"], amount=[5.0, 7.2]).to_parquet(raw / "pos" / "tickets_retype.parquet")
    whole = (raw / "pos" / "tickets_jour2.parquet").read_bytes()
    (raw / "pos" / "tickets_coupe.parquet").write_bytes(whole[: len(whole) // 2])
    (raw / "pos" / "tickets_illisible.parquet").write_bytes(b"PAR1" + b"\x00garbage, not a footer" * 4 + b"PAR1")
    (raw / "pos" / "tickets_texte.parquet").write_bytes(b"ticket_id;card;amount\nT14;C001;5.00\n")
    return args


def fix_bad_separator(args: argparse.Namespace) -> None:
    """The sender re-delivers ``virgules.csv`` with the right separator: new content under the same name."""
    (Path(args.raw_dir) / "fid" / "virgules.csv").write_bytes(
        (LOYALTY_HEADER + "C020;M.;NOIR;Paul;19810101;Rennes\n").encode("cp1252"))
