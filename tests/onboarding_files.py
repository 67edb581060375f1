"""A retailer's own two files, unlike the generator's: a store CRM export and an e-shop JSON-lines export.

50 persons; the expected golden customers are the persons (every duplicate shares an email, or a mobile
with the same first name, with its person's other record):

- ``crm/export_magasin_2026-11.csv``: Windows-1252, ``;``, French headers (``N° client``, ``Civilité``,
  ``Prénom``, ``Nom de famille``, ``Date de naissance`` as dd/MM/yyyy, ``Tél. portable``, ``Courriel``...),
  persons 0-34 and 40-44; persons 0-2 entered twice (a second customer number, the accent dropped, the
  phone written another way); persons 40 and 41 a household (same name, address and mobile, different first
  names and birth dates: two customers).
- ``web/clients_eshop.jsonl``: ``identifiant``, ``prenom``, ``nom``, ``mail``, ``mobile``, ``adresse`` {rue,
  code_postal, ville}, ``date_inscription``; persons 20-39 and 45-49; 20-29 share their email with the CRM
  (one with a last-name typo, one with accents dropped), 30-34 only their mobile in +33 form; person 45 has
  two accounts with the same email.
"""

from __future__ import annotations

import json
from pathlib import Path

FIRST_NAMES = [
    ("M", "Jean"), ("MME", "Hélène"), ("M", "François"), ("MME", "Amélie"), ("M", "Luc"), ("MME", "Sophie"),
    ("M", "Thierry"), ("MME", "Nathalie"), ("M", "Olivier"), ("MME", "Isabelle"), ("M", "Pascal"),
    ("MME", "Céline"), ("M", "Julien"), ("MME", "Aurélie"), ("M", "Nicolas"), ("MME", "Sandrine"), ("M", "Éric"),
    ("MME", "Valérie"), ("M", "Sébastien"), ("MME", "Stéphanie"), ("M", "Laurent"), ("MME", "Élodie"),
    ("M", "Mathieu"), ("MME", "Camille"), ("M", "Antoine"), ("MME", "Manon"), ("M", "Guillaume"),
    ("MME", "Chloé"), ("M", "Romain"), ("MME", "Pauline"), ("M", "Vincent"), ("MME", "Julie"), ("M", "Damien"),
    ("MME", "Émilie"), ("M", "Benoît"), ("MME", "Laure"), ("M", "Cédric"), ("MME", "Agnès"), ("M", "Hugo"),
    ("MME", "Océane"), ("M", "Rémi"), ("MME", "Inès"), ("M", "Gaël"), ("MME", "Noémie"), ("M", "Jérôme"),
    ("MME", "Margaux"), ("M", "Yannick"), ("MME", "Lucie"), ("M", "Arnaud"), ("MME", "Coralie"),
]
LAST_NAMES = [
    "Dupré", "Lefèvre", "Moreau", "Girard", "Bonnet", "Fontaine", "Chevalier", "Rousseau", "Blanchard", "Gauthier",
    "Perrin", "Morel", "Mercier", "Guérin", "Boyer", "Garnier", "Faure", "André", "Lemaire", "Renaud",
    "Caron", "Brunet", "Meunier", "Leclerc", "Barbier", "Arnaud", "Marchand", "Dumont", "Roussel", "Lacroix",
    "Picard", "Aubert", "Colin", "Vidal", "Lemoine", "Hubert", "Royer", "Deschamps", "Carpentier", "Renard",
    "Benoît", "Fleury", "Huet", "Gilbert", "Marechal", "Poirier", "Jacquet", "Collet", "Prévost", "Masson",
]
CITIES = [("75011", "Paris"), ("69003", "Lyon"), ("13006", "Marseille"), ("33000", "Bordeaux"), ("59000", "Lille"),
          ("44000", "Nantes"), ("31000", "Toulouse"), ("67000", "Strasbourg")]
STREETS = ["rue de la Paix", "avenue Jean Jaurès", "boulevard Voltaire", "rue des Lilas", "place de l'Église",
           "chemin du Moulin", "allée des Tilleuls", "rue Victor Hugo"]
PERSONS = 50
CRM_PERSONS = [*range(0, 35), *range(40, 45)]
WEB_PERSONS = [*range(20, 40), *range(45, 50)]
CRM_REPEATS = (0, 1, 2)
HOUSEHOLD = (40, 41)

CRM_HEADER = ["N° client", "Civilité", "Prénom", "Nom de famille", "Date de naissance", "Adresse postale", "CP",
              "Ville", "Tél. portable", "Courriel"]


def strip_accents(text: str) -> str:
    import unicodedata

    return "".join(c for c in unicodedata.normalize("NFKD", text) if not unicodedata.combining(c))


def person(i: int) -> dict:
    civility, first = FIRST_NAMES[i]
    last = LAST_NAMES[i]
    if i == HOUSEHOLD[1]:
        last = LAST_NAMES[HOUSEHOLD[0]]
    home = HOUSEHOLD[0] if i in HOUSEHOLD else i
    postcode, city = CITIES[home % len(CITIES)]
    mobile = f"06{12340000 + home * 1013:08d}"
    day, month, year = 1 + (i * 7) % 28, 1 + (i * 5) % 12, 1950 + (i * 3) % 50
    return {
        "civility": civility, "first": first, "last": last, "birth": f"{day:02d}/{month:02d}/{year}",
        "street": f"{3 + home} {STREETS[home % len(STREETS)]}", "postcode": postcode, "city": city,
        "mobile": mobile, "email": f"{strip_accents(first).lower()}.{strip_accents(last).lower().replace(' ', '')}{i}@exemple-mail.fr",
    }


def spaced(mobile: str) -> str:
    return " ".join(mobile[k:k + 2] for k in range(0, 10, 2))


def plus33(mobile: str) -> str:
    return "+33" + mobile[1:]


def write_crm(raw_dir: Path) -> Path:
    folder = raw_dir / "crm"
    folder.mkdir(parents=True, exist_ok=True)
    lines = [";".join(CRM_HEADER)]
    for n, i in enumerate(CRM_PERSONS):
        p = person(i)
        lines.append(";".join([f"C{1000 + n}", p["civility"], p["first"], p["last"].upper(), p["birth"], p["street"],
                               p["postcode"], p["city"], spaced(p["mobile"]), p["email"]]))
    for n, i in enumerate(CRM_REPEATS):
        p = person(i)   # entered again at another counter: accents dropped, phone with dots, email in capitals
        lines.append(";".join([f"C{2000 + n}", "", strip_accents(p["first"]), strip_accents(p["last"]), p["birth"],
                               p["street"], p["postcode"], p["city"], spaced(p["mobile"]).replace(" ", "."),
                               p["email"].upper()]))
    path = folder / "export_magasin_2026-11.csv"
    path.write_bytes(("\r\n".join(lines) + "\r\n").encode("cp1252"))
    return path


def write_eshop(raw_dir: Path) -> Path:
    folder = raw_dir / "web"
    folder.mkdir(parents=True, exist_ok=True)
    rows = []
    for n, i in enumerate([*WEB_PERSONS, 45]):
        p = person(i)
        first, last, email, mobile = p["first"], p["last"], p["email"], plus33(p["mobile"])
        if i == 21:
            first, last = strip_accents(first), strip_accents(last)
        if i == 22:
            last = last[:-1] + "e" + last[-1:]             # a typo in the last name, same email
        if 30 <= i <= 34:
            email = None                                    # only the mobile joins them to the CRM
        if n == len(WEB_PERSONS):
            mobile = spaced(p["mobile"])                    # person 45's second account
        rows.append({
            "identifiant": f"W{5000 + n}", "prenom": first, "nom": last, "mail": email, "mobile": mobile,
            "adresse": {"rue": p["street"], "code_postal": p["postcode"], "ville": p["city"]},
            "date_inscription": f"2025-{1 + n % 12:02d}-{1 + n % 27:02d}T10:{n % 60:02d}:00Z",
        })
    path = folder / "clients_eshop.jsonl"
    path.write_text("\n".join(json.dumps(r, ensure_ascii=False) for r in rows) + "\n", encoding="utf-8")
    return path


def write_retailer_files(raw_dir: Path) -> None:
    write_crm(raw_dir)
    write_eshop(raw_dir)
