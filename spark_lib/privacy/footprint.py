"""Where a person is in the lakehouse: the rows of every table that hold their records, customers or identifiers.

A person is named by keyed hashes (:mod:`spark_lib.privacy.identifiers`), kept in a :class:`Footprint`:

- ``customers``: hashes of their customer ids;
- ``records``: hashes of their record keys (``"<source>:<record id>"``);
- ``identifiers``: hashes of the emails, phones and pivot ids (loyalty card, account, cookie, customer ref)
  their records carry *and no other person's record does* (a household's landline stays: it is the
  spouse's too);
- ``frequencies``: hashes of the term-frequency values (``column|value``) only their records held.

:func:`held_rows` gives, for any table of the lakehouse, the Column that is true on the person's rows; it
decides from the table's columns, so a table added later is covered when it keys its rows by ``record_key``
or ``customer_id``. The same rule serves erasure (those rows are deleted), and the suppression list at
ingest (:func:`source_rows_held`: a re-delivered row of an erased person is quarantined).

Example::

    footprint = person_footprint(records, crosswalk, {"C3f9a0c..."}, key)
    lake.read(tables.CUSTOMER_360).where(held_rows(lake.read(tables.CUSTOMER_360), tables.CUSTOMER_360, footprint, key))
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Collection, Mapping

from pyspark.sql import Column, DataFrame
from pyspark.sql import functions as F

from spark_lib import tables
from spark_lib.config import SourceSpec
from spark_lib.privacy.identifiers import candidate_hashes, hash_column, hashes_of
from spark_lib.sources.readers import column_for

#: silver columns that identify a person, and their identifier kind
SILVER_IDENTIFIERS: Mapping[str, str] = {
    "email": "email", "email_std": "email", "phone_mobile": "phone", "phone_landline": "phone",
    "loyalty_card": "id", "account_id": "id", "cookie_id": "id", "customer_ref": "id",
}
#: canonical fields of sources.yaml (``identity:``) that identify a person, and their identifier kind
SOURCE_IDENTIFIERS: Mapping[str, str] = {
    "email": "email", "phone": "phone", "phone_2": "phone",
    "loyalty_card": "id", "account_id": "id", "cookie_id": "id", "customer_ref": "id",
}
#: the columns that name a record: its key, the ends of a pair, the smallest record of a component
RECORD_COLUMNS = ("record_key", "record_key_l", "record_key_r", "component_id")
#: the columns that name a customer: its id, the customers of a pair's records (gold.review_queue)
CUSTOMER_COLUMNS = ("customer_id", "customer_id_l", "customer_id_r")
#: tables of the ops layer that hold people's rows (the steward's decisions name their records): erased too
OPS_PERSON_TABLES = frozenset({tables.REVIEW_DECISIONS})
#: tables that hold no person's row: files, runs, aggregates, and the privacy log itself (hashes only)
PERSON_FREE = frozenset({
    tables.FILE_QUARANTINE, tables.INGESTION_LOG, tables.MATCH_RUNS, tables.KPI_SNAPSHOTS, tables.GENERIC_VALUES,
})


@dataclass(frozen=True)
class Footprint:
    """A person (or several: one erasure batch) as hashes; see the module docstring."""

    customers: frozenset[str] = frozenset()
    records: frozenset[str] = frozenset()
    identifiers: frozenset[str] = frozenset()
    frequencies: frozenset[str] = frozenset()
    #: the raw landing files holding their rows (paths are not personal data)
    raw_files: tuple[str, ...] = ()

    def __or__(self, other: "Footprint") -> "Footprint":
        return Footprint(self.customers | other.customers, self.records | other.records,
                         self.identifiers | other.identifiers, self.frequencies | other.frequencies,
                         tuple(sorted(set(self.raw_files) | set(other.raw_files))))

    def by_kind(self) -> dict[str, frozenset[str]]:
        """kind -> hashes, the kinds as the suppression list and the objections name them."""
        return {"customer": self.customers, "record": self.records, "identifier": self.identifiers,
                "frequency": self.frequencies}

    @property
    def all_hashes(self) -> frozenset[str]:
        """Every hash a stored value of the person gives: what the verify scan looks for."""
        return self.customers | self.records | self.identifiers

    def is_empty(self) -> bool:
        return not (self.customers or self.records or self.identifiers)


def _in(hashes: Collection[str], col: Column) -> Column:
    return col.isin(sorted(hashes)) if hashes else F.lit(False)


def silver_identifier_hashes(records: DataFrame, key: str) -> DataFrame:
    """record_key, hash: one row per identifier a silver record carries (its record key included)."""
    present = [c for c in SILVER_IDENTIFIERS if c in records.columns]
    hashed = [hash_column(SILVER_IDENTIFIERS[c], F.col(c), key) for c in present]
    hashed.append(hash_column("id", F.col("record_key"), key))
    if "source_record_id" in records.columns:
        hashed.append(hash_column("id", F.col("source_record_id"), key))
    return (records.select("record_key", F.explode(F.array(*hashed)).alias("hash"))
            .where(F.col("hash").isNotNull()).distinct())


def frequency_hash(column: Column, value: Column, key: str) -> Column:
    """The hash naming a term-frequency row (``column|value``): a first name alone is no identifier, but a
    rare one held by a single person is their data."""
    return F.sha2(F.concat(F.lit(f"{key}|tf|"), column, F.lit("|"), value), 256)


def referring_customers(crosswalk: DataFrame, customer_ids: Collection[str], orders: DataFrame) -> set[str]:
    """Customers of a single record that refers to one of the customers' orders (``orders``: record_key,
    order_id of the interactions): a call about the person's order whose record carries nothing else to match
    on (a last name alone) is the person's, though matching could not say so."""
    theirs = crosswalk.where(F.col("customer_id").isin(sorted(customer_ids))).select("record_key")
    their_orders = orders.join(theirs, "record_key", "left_semi").select("order_id").distinct()
    referring = orders.join(their_orders, "order_id", "left_semi").join(theirs, "record_key", "left_anti")
    alone = crosswalk.groupBy("customer_id").agg(F.count("*").alias("records"), F.first("record_key").alias("record_key"))
    found = alone.where("records = 1").join(referring, "record_key", "left_semi").select("customer_id")
    return {r.customer_id for r in found.collect()}


def person_footprint(records: DataFrame, crosswalk: DataFrame, customer_ids: Collection[str], key: str,
                     model_inputs: DataFrame | None = None, frequency_columns: Collection[str] = (),
                     orders: DataFrame | None = None) -> Footprint:
    """The footprint of the customers ``customer_ids`` (clear ids, as resolved): their records, the
    identifiers no one else holds, and (with ``model_inputs``, the records as the model sees them) the
    term-frequency values no one else holds. With ``orders`` (record_key, order_id of the interactions), the
    single-record customers referring to their orders (:func:`referring_customers`) are theirs too. A few
    Spark jobs over silver."""
    if not customer_ids:
        return Footprint()
    if orders is not None:
        customer_ids = sorted(set(customer_ids) | referring_customers(crosswalk, customer_ids, orders))
    theirs = crosswalk.where(F.col("customer_id").isin(sorted(customer_ids))).select("record_key").distinct()
    record_keys = [r.record_key for r in theirs.collect()]
    held = silver_identifier_hashes(records, key)
    mine = held.join(theirs, "record_key", "left_semi").select("hash").distinct()
    others = held.join(theirs, "record_key", "left_anti").select("hash")
    identifiers = {r.hash for r in mine.join(others, "hash", "left_anti").collect()}
    frequencies: set[str] = set()
    if model_inputs is not None and frequency_columns:
        unfolded = model_inputs.select("record_key", F.inline(F.array(*(
            F.struct(F.lit(c).alias("column"), F.col(c).cast("string").alias("value")) for c in frequency_columns
        )))).where(F.col("value").isNotNull())
        own = unfolded.join(theirs, "record_key", "left_semi").select("column", "value").distinct()
        rest = unfolded.join(theirs, "record_key", "left_anti").select("column", "value")
        frequencies = {r.h for r in own.join(rest, ["column", "value"], "left_anti")
                       .select(frequency_hash(F.col("column"), F.col("value"), key).alias("h")).collect()}
    return Footprint(
        customers=frozenset(hashes_of((("id", c) for c in customer_ids), key)),
        records=frozenset(hashes_of((("id", r) for r in record_keys), key)),
        identifiers=frozenset(identifiers),
        frequencies=frozenset(frequencies),
    )


def source_rows_held(df: DataFrame, spec: SourceSpec, hashes: Collection[str], key: str) -> Column:
    """True on a source's rows (bronze, or rows being ingested) whose record key or a mapped identifier
    (email, phone, card, account, cookie, customer ref) has a hash in ``hashes``."""
    record_id = F.trim(column_for(df, spec, "record_id", spec.record_id, spec.path).cast("string"))
    held = _in(hashes, hash_column("id", F.concat(F.lit(f"{spec.name}:"), record_id), key))
    for canonical, column in spec.identity.items():
        kind = SOURCE_IDENTIFIERS.get(canonical)
        if kind is not None:
            held = held | F.coalesce(_in(hashes, hash_column(kind, column_for(df, spec, f"identity.{canonical}",
                                                                              column, spec.path), key)), F.lit(False))
    return held


def held_rows(df: DataFrame, table: str, footprint: Footprint, key: str,
              specs: Mapping[str, SourceSpec] | None = None) -> Column | None:
    """The Column true on the rows of ``table`` (read as ``df``) that are the person's, or None when the table
    holds no person's row (:data:`PERSON_FREE`, ``ops.*`` but :data:`OPS_PERSON_TABLES`) or its columns say
    nothing of whose a row is."""
    columns = set(df.columns)
    layer, _, entity = table.partition(".")
    if table in PERSON_FREE or (layer == "ops" and table not in OPS_PERSON_TABLES):
        return None
    if table == tables.QUARANTINE:
        raise ValueError(f"{table}: its rows are the person's by their raw text: use quarantined_rows_held")
    if table == tables.DELETIONS:
        record = F.concat(F.col("source"), F.lit(":"), F.trim(F.col("record_id").cast("string")))
        return _in(footprint.records, hash_column("id", record, key))
    if table == tables.STREAM_EVENTS:   # a message is theirs by its record (source and record id) or its key
        record = F.concat(F.get_json_object("value", "$.source"), F.lit(":"),
                          F.trim(F.get_json_object("value", "$.record_id")))
        return (F.coalesce(_in(footprint.records, hash_column("id", record, key)), F.lit(False))
                | F.coalesce(_in(footprint.identifiers, hash_column("id", F.col("key"), key)), F.lit(False)))
    if layer == "bronze":
        spec = (specs or {}).get(entity)
        return None if spec is None else source_rows_held(df, spec, footprint.records | footprint.identifiers, key)
    if table == tables.TERM_FREQUENCIES:
        return _in(footprint.frequencies, frequency_hash(F.col("column"), F.col("value"), key))
    if not columns & {*RECORD_COLUMNS, *CUSTOMER_COLUMNS}:
        return None
    held = F.lit(False)
    for column in RECORD_COLUMNS:
        if column in columns:
            held = held | F.coalesce(_in(footprint.records, hash_column("id", F.col(column), key)), F.lit(False))
    for column in CUSTOMER_COLUMNS:
        if column in columns:
            held = held | F.coalesce(_in(footprint.customers, hash_column("id", F.col(column), key)), F.lit(False))
    return held


def quarantined_rows_held(quarantine: DataFrame, footprint: Footprint, key: str) -> DataFrame:
    """The quarantine rows (file_hash, raw_record) whose raw text holds one of the person's identifiers or
    record ids: the line was rejected, so only its text says whose it is, read as the verify scan reads any
    text. Filtered on the driver: the quarantine holds the few rows that could not be used."""
    wanted = footprint.records | footprint.identifiers
    rows = [] if not wanted else [
        (r.file_hash, r.raw_record) for r in quarantine.select("file_hash", "raw_record").collect()
        if r.raw_record and not wanted.isdisjoint(candidate_hashes(r.raw_record, key))
    ]
    return quarantine.sparkSession.createDataFrame(rows, "file_hash string, raw_record string")


#: the reason of a quarantine row that an erased person's row became at ingest
ERASED_REASON = "erased: the person asked for erasure (rcu privacy erase); the row is not kept"


@dataclass(frozen=True)
class Suppression:
    """The suppression list as ingest applies it: hashes of erased people's record keys and identifiers."""

    hashes: frozenset[str]
    key: str

    def split(self, rows: DataFrame, spec: SourceSpec, quarantine: DataFrame) -> tuple[DataFrame, DataFrame]:
        """``rows`` without the erased people's, and ``quarantine`` plus one row per row taken out, reason
        :data:`ERASED_REASON` and no raw text (the values are what must not come back)."""
        if not self.hashes:
            return rows, quarantine
        flagged = rows.withColumn("_erased", source_rows_held(rows, spec, self.hashes, self.key))
        erased = flagged.where("_erased").select(
            F.col("_source").alias("source"), F.col("_source_file").alias("source_file"),
            F.col("_file_hash").alias("file_hash"), F.lit(ERASED_REASON).alias("reason"),
            F.lit(None).cast("string").alias("raw_record"), F.lit(None).cast("binary").alias("raw_bytes"),
            F.col("_batch_id").alias("batch_id"), F.col("_ingested_at").alias("ingested_at"),
        )
        return flagged.where(~F.col("_erased")).drop("_erased"), quarantine.unionByName(erased)

    def screen_quarantine(self, quarantine: DataFrame) -> DataFrame:
        """A batch's quarantine rows, those whose raw text carries an erased person's identifier (a malformed
        line of theirs) turned into ``erased`` rows without their text. On the driver: a batch's rejected
        lines are few."""
        if not self.hashes:
            return quarantine
        rows = quarantine.collect()
        held = [not self.hashes.isdisjoint(candidate_hashes(r.raw_record, self.key)) if r.raw_record else False
                for r in rows]
        if not any(held):
            return quarantine
        screened = [r.asDict() | ({"reason": ERASED_REASON, "raw_record": None, "raw_bytes": None} if h else {})
                    for r, h in zip(rows, held)]
        return quarantine.sparkSession.createDataFrame(screened, quarantine.schema)


def read_suppression(lake, key: str) -> Suppression:
    """The lakehouse's suppression list (empty when nobody was erased): the hashes that stop a row at ingest."""
    if not lake.exists(tables.SUPPRESSION_LIST):
        return Suppression(frozenset(), key)
    rows = lake.read(tables.SUPPRESSION_LIST).where(F.col("kind").isin("record", "identifier")).select("hash")
    return Suppression(frozenset(r.hash for r in rows.collect()), key)


def objecting_customers(crosswalk: DataFrame, customers: DataFrame, objections: DataFrame, key: str) -> DataFrame:
    """customer_id of every customer an objection names (``ops.objections``): by its id, by one of its records,
    or by an identifier its golden record carries (a customer formed later with the objector's email)."""
    wanted = F.broadcast(objections.select("hash").distinct())
    by_record = crosswalk.select("customer_id", hash_column("id", F.col("record_key"), key).alias("hash"))
    by_id = customers.select("customer_id", hash_column("id", F.col("customer_id"), key).alias("hash"))
    held = [hash_column(kind, F.col(c), key) for c, kind in SILVER_IDENTIFIERS.items() if c in customers.columns]
    frames = [by_record, by_id]
    if held:
        frames.append(customers.select("customer_id", F.explode(F.array(*held)).alias("hash")))
    named = frames[0]
    for frame in frames[1:]:
        named = named.unionByName(frame)
    return named.join(wanted, "hash", "left_semi").select("customer_id").distinct()
