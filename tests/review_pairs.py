"""Hand-made ``gold.review_queue`` rows for the review page's tests: French records, accents, apostrophes,
and one value that is an HTML injection (it must show as text and never run)."""

from __future__ import annotations

import datetime as dt
import json

from pyspark.sql import DataFrame, SparkSession

from spark_lib import schemas, tables
from spark_lib.storage import Lakehouse
from tests.records import frame

XSS = '<script>alert(1)</script><img src=x onerror="alert(2)">'
#: queued a day before the tests run (naive UTC, as the test session writes timestamps)
QUEUED_AT = (dt.datetime.now(dt.timezone.utc) - dt.timedelta(days=1)).replace(tzinfo=None, microsecond=0)


def comparisons(*steps: tuple[str, int | None, float, str | None, str | None]) -> str:
    return json.dumps([{"comparison": c, "level": level, "match_weight": w, "value_l": vl, "value_r": vr}
                       for c, level, w, vl, vr in steps], ensure_ascii=False)


def queue_row(key_l: str, key_r: str, record_l: dict, record_r: dict, *, priority: float, reasons: list[str],
              hashes: tuple[int, int], customers: tuple[str, str], steps: str | None = None,
              probability: float | None = 0.5, weight: float | None = 0.0, queued_at: dt.datetime = QUEUED_AT) -> dict:
    return {
        "pair_id": f"{key_l}|{key_r}", "record_key_l": key_l, "record_key_r": key_r, "reasons": reasons,
        "priority": priority, "match_probability": probability, "match_weight": weight,
        "customer_id_l": customers[0], "customer_id_r": customers[1],
        "record_l": json.dumps(record_l, ensure_ascii=False), "record_r": json.dumps(record_r, ensure_ascii=False),
        "comparisons": steps, "record_hash_l": hashes[0], "record_hash_r": hashes[1], "queued_at": queued_at,
    }


# Hashes beyond 2**53: a JavaScript number would round them, so the API sends them as text.
HELENE = queue_row(
    "crm_customers:CLI00000101", "eshop_accounts:WEB00000101",
    {"civility": "MME", "first_name": "Hélène", "last_name": "LE GOFF", "birth_date": "1980-02-29",
     "email": "helene.legoff@exemple.fr", "phone_mobile": "+33612345678", "postcode": "29200", "city": "Brest"},
    {"civility": "MME", "first_name": "Helene", "last_name": "LE GOFF", "birth_date": "1980-02-29",
     "email": "helene.legoff@exemple.fr", "phone_mobile": "+33698765432", "postcode": "29200", "city": "Brest"},
    priority=9.5, reasons=["score_band"], hashes=(-8_734_112_993_402_117_365, 9_007_199_254_740_993),
    customers=("C00000000101", "C00000000102"), probability=0.62, weight=0.71,
    steps=comparisons(("Prior", None, -13.29, None, None), ("first_name", 3, 4.10, "Hélène", "Helene"),
                      ("last_name", 4, 7.52, "LE GOFF", "LE GOFF"), ("birth_date", 2, 6.31, "1980-02-29", "1980-02-29"),
                      ("email", 2, 0.0, "helene.legoff@exemple.fr", "helene.legoff@exemple.fr"),
                      ("phone_mobile", 0, -3.93, "+33612345678", "+33698765432")),
)
FRANCOIS = queue_row(
    "loyalty_members:FID00000202", "pos_receipts:TCK00000202",
    {"first_name": "François", "last_name": "N'DIAYE", "postcode": "42000", "city": "Saint-Étienne",
     "loyalty_card": "2900000202"},
    {"first_name": "Francois", "last_name": "NDIAYE", "postcode": "42100", "city": "Saint-Etienne",
     "loyalty_card": "2900000202"},
    priority=8.0, reasons=["protection_split", "long_chain"], hashes=(202, -202),
    customers=("C00000000201", "C00000000201"), probability=0.97, weight=5.1,
    steps=comparisons(("Prior", None, -13.29, None, None), ("first_name", 2, 3.3, "François", "Francois"),
                      ("last_name", 2, 4.0, "N'DIAYE", "NDIAYE"), ("postcode", 1, 1.1, "42000", "42100")),
)
INJECTED = queue_row(
    "crm_customers:CLI00000303", "email_events:NL00000303",
    {"first_name": "Zoé", "last_name": "MÜLLER", "email": "zoe.muller@exemple.fr", "address": "12 rue de l'Église"},
    {"first_name": "Zoé", "last_name": "MULLER", "email": "zoe.muller@exemple.fr", "address": XSS},
    priority=7.0, reasons=["generic_value"], hashes=(303, 304), customers=("C00000000301", "C00000000302"),
    steps=comparisons(("Prior", None, -13.29, None, None), ("email", 2, 9.8, "zoe.muller@exemple.fr", XSS)),
)
SAMPLE = queue_row(
    "eshop_accounts:WEB00000404", "eshop_orders:CMD00000404",
    {"first_name": "Jean-Pierre", "last_name": "DUPONT", "email": "jp.dupont@exemple.fr"},
    {"first_name": "Jean Pierre", "last_name": "DUPONT", "email": None},
    priority=6.0, reasons=["sample"], hashes=(404, 405), customers=("C00000000401", "C00000000401"),
    probability=None, weight=None, steps=None,
)
CHLOE = queue_row(
    "crm_customers:CLI00000505", "loyalty_members:FID00000505",
    {"first_name": "Chloé", "last_name": "LEFÈVRE", "birth_date": "1992-07-14"},
    {"first_name": "Chloe", "last_name": "LEFEVRE", "birth_date": "1992-07-14"},
    priority=5.0, reasons=["score_band"], hashes=(505, 506), customers=("C00000000501", "C00000000502"),
    steps=comparisons(("Prior", None, -13.29, None, None), ("last_name", 3, 5.2, "LEFÈVRE", "LEFEVRE")),
)
LAST = queue_row(
    "crm_customers:CLI00000606", "eshop_accounts:WEB00000606",
    {"first_name": "Maël", "last_name": "KERMARREC"}, {"first_name": "Mael", "last_name": "KERMAREC"},
    priority=1.0, reasons=["decision_stale"], hashes=(606, 607), customers=("C00000000601", "C00000000602"),
)
QUEUE = [HELENE, FRANCOIS, INJECTED, SAMPLE, CHLOE, LAST]
#: the crosswalk knows the newsletter record under another customer than the queue says (a later run)
CROSSWALK = {
    "crm_customers:CLI00000101": "C00000000101", "eshop_accounts:WEB00000101": "C00000000102",
    "loyalty_members:FID00000202": "C00000000201", "pos_receipts:TCK00000202": "C00000000201",
    "crm_customers:CLI00000303": "C00000000301", "email_events:NL00000303": "C00000000999",
    "crm_customers:CLI00000909": "C00000000909",
}


def review_queue(spark: SparkSession, rows: list[dict]) -> DataFrame:
    return frame(spark, schemas.REVIEW_QUEUE, rows)


def write_review_lakehouse(spark: SparkSession, root: str, rows: list[dict] = QUEUE) -> Lakehouse:
    """A lakehouse holding ``rows`` as gold.review_queue and :data:`CROSSWALK` as gold.customer_crosswalk."""
    from tests.gold_tables import crosswalk

    lake = Lakehouse(spark, root)
    lake.overwrite(review_queue(spark, rows), tables.REVIEW_QUEUE)
    lake.overwrite(crosswalk(spark, CROSSWALK), tables.CROSSWALK)
    return lake
