"""Silver: conform bronze rows of any configured source into customer records and interactions.

Nothing here knows a particular source: the mapping in ``conf/sources.yaml`` says which column is which
canonical field, and these transformations do the rest.

- :func:`customer_records` -> ``silver.customer_records`` (schema :data:`spark_lib.schemas.CUSTOMER_RECORDS`):
  one row per source record that carries identity, standardised.
- :func:`interactions` -> ``silver.<table>`` (schema :data:`spark_lib.schemas.INTERACTIONS`): one row per
  event, keyed to the source record it belongs to.
"""

from __future__ import annotations

from functools import reduce
from typing import Sequence

from pyspark.sql import Column, DataFrame
from pyspark.sql import functions as F
from pyspark.sql.window import Window

from spark_lib.config import IDENTITY_FIELDS, INTERACTION_FIELDS, SourceSpec
from spark_lib.schemas import CUSTOMER_RECORDS, INTERACTIONS
from spark_lib.sources.readers import column_for
from spark_lib.standardise import standardise_identity
from spark_lib.standardise.dates import parse_timestamp
from spark_lib.standardise.text import CONTROL_CHARS

#: Canonical fields that identify a person. A record with none of them (an anonymous receipt, a cookie
#: that never logged in is still kept: its cookie id is an identifier) does not enter customer records.
IDENTIFYING_FIELDS = tuple(
    f for f in IDENTITY_FIELDS if f not in ("consent_email", "consent_sms", "consent_postal", "consent_date", "updated_at", "country", "civility")
)


def record_key(source: str, record_id: Column) -> Column:
    return F.concat(F.lit(f"{source}:"), record_id)


def _string(column: Column) -> Column:
    """A trimmed string, ``null`` for blanks: every raw value enters silver through this."""
    text = F.trim(column.cast("string"))
    return F.when(text != "", text)


def canonical_identity(bronze: DataFrame, spec: SourceSpec) -> DataFrame:
    """Bronze rows -> one row per source record with the canonical identity fields as raw strings.

    When the record id repeats (``records_repeat``: a cookie on each page view), rows are folded into one
    record keeping, for each field, its most recent non-null value.
    """
    record_id = _string(column_for(bronze, spec, "record_id", spec.record_id, spec.path))
    fields = {
        canonical: _string(column_for(bronze, spec, f"identity.{canonical}", column, spec.path))
        for canonical, column in spec.identity.items()
    }
    rows = bronze.select(
        record_id.alias("source_record_id"),
        *[value.alias(name) for name, value in fields.items()],
        F.coalesce(parse_timestamp(fields["updated_at"]), F.col("_ingested_at")).alias("record_time")
        if "updated_at" in fields
        else F.col("_ingested_at").alias("record_time"),
        F.col("_ingested_at").alias("ingested_at"),
        F.col("_source_file").alias("source_file"),
    )
    names = list(fields)
    if spec.records_repeat:
        order = F.struct("record_time", "ingested_at")
        rows = rows.groupBy("source_record_id").agg(
            *[F.max_by(name, F.when(F.col(name).isNotNull(), order)).alias(name) for name in names],
            F.max("record_time").alias("record_time"),
            F.max("ingested_at").alias("ingested_at"),
            F.max_by("source_file", "ingested_at").alias("source_file"),
        )
    else:
        # A record delivered again (a new CRM extract) replaces the older delivery: latest ingestion wins.
        latest = Window.partitionBy("source_record_id").orderBy(F.col("ingested_at").desc(), F.col("record_time").desc())
        rows = rows.withColumn("_rank", F.row_number().over(latest)).where("_rank = 1").drop("_rank")
    present = [n for n in names if n in IDENTIFYING_FIELDS]
    carries_identity = F.lit(False)
    for name in present:
        carries_identity = carries_identity | F.col(name).isNotNull()
    return rows.where(carries_identity).select(
        "source_record_id",
        *[F.col(n) if n in names else F.lit(None).cast("string").alias(n) for n in IDENTITY_FIELDS if n != "updated_at"],
        "record_time",
        "ingested_at",
        "source_file",
    )


def changed_since_delivery(delivered: DataFrame, before: DataFrame, held: DataFrame, spec: SourceSpec) -> DataFrame:
    """The bronze rows of ``delivered`` (a ``snapshot`` source's new delivery) that standardisation must see:
    all but those of the records delivered exactly as in ``before`` (the delivery before it).

    A record is skipped when silver holds it (``held``: the source's ``source_record_id`` in silver), it has one
    row in each delivery, with the same value in every field the source maps, and a record time read from the
    data (``updated_at``): its silver row would come out the same
    (:func:`canonical_identity`; the ingestion lineage is not compared), so the daily full extract of a CRM
    costs the records that changed in it, not the whole extract. Without ``updated_at`` the record time is the
    delivery's: every row is taken."""
    if "updated_at" not in spec.identity:
        return delivered

    def record_id(rows: DataFrame) -> Column:
        return _string(column_for(rows, spec, "record_id", spec.record_id, spec.path))

    def signed(rows: DataFrame) -> DataFrame:
        fields = {name: _string(column_for(rows, spec, f"identity.{name}", column, spec.path))
                  for name, column in sorted(spec.identity.items())}
        dated = parse_timestamp(fields["updated_at"]).isNotNull()
        signature = F.when(dated, F.to_json(F.struct(*[value.alias(name) for name, value in fields.items()])))
        return rows.select(record_id(rows).alias("_id"), signature.alias("_sig")).groupBy("_id").agg(
            F.count(F.lit(1)).alias("_n"), F.first("_sig").alias("_sig"))

    unchanged = (signed(delivered).join(signed(before), ["_id", "_n", "_sig"])
                 .where((F.col("_n") == 1) & F.col("_sig").isNotNull())
                 .join(held.select(F.col("source_record_id").alias("_id")), "_id", "left_semi")
                 .select(F.col("_id").alias("_unchanged")))
    return (delivered.withColumn("_id", record_id(delivered))
            .join(unchanged, F.col("_id").eqNullSafe(F.col("_unchanged")), "left_anti").drop("_id"))


def customer_records(bronze: DataFrame, spec: SourceSpec, default_region: str = "FR") -> DataFrame:
    """Bronze rows of one source -> standardised ``silver.customer_records`` rows.

    ``default_region``: the pipeline's country for phone numbers of records with no country, when the source
    declares no ``default_country``.
    """
    return sources_customer_records([(bronze, spec)], default_region)


def sources_customer_records(deliveries: list[tuple[DataFrame, SourceSpec]], default_region: str = "FR") -> DataFrame:
    """:func:`customer_records` of several sources' bronze rows, as one DataFrame.

    The standardisation is row by row and its expressions run to thousands of nodes: sources read with the
    same settings (birth-date format, default country) are standardised together, so that its plan is built
    and analysed once per setting rather than once per source (seconds each on a small day's delivery).
    """
    by_setting: dict[tuple, list[DataFrame]] = {}
    for bronze, spec in deliveries:
        canonical = canonical_identity(bronze, spec).select(
            F.lit(spec.name).alias("source"), F.lit(spec.channel).alias("channel"), "*")
        by_setting.setdefault((spec.birth_date_format, spec.default_country), []).append(canonical)
    standardised = [
        reduce(DataFrame.unionByName, frames)
        .withColumn("quality_flags", F.array().cast("array<string>"))
        .transform(standardise_identity, birth_date_format=birth_date_format, default_region=default_region,
                   default_country=default_country)
        for (birth_date_format, default_country), frames in by_setting.items()
    ]
    rows = reduce(DataFrame.unionByName, standardised)
    conformed = rows.select(
        F.concat(F.col("source"), F.lit(":"), F.col("source_record_id")).alias("record_key"),
        *[c for c in CUSTOMER_RECORDS.fieldNames() if c != "record_key"],
    )
    return conformed.select(*[F.col(f.name).cast(f.dataType).alias(f.name) for f in CUSTOMER_RECORDS.fields])


def _event_text(column: Column) -> Column:
    """An event's field as :func:`_string`, without control or invisible characters (a page or product name
    reaches audience reasons and the customer timeline; interactions carry no ``quality_flags`` to flag it)."""
    return _string(F.regexp_replace(column.cast("string"), CONTROL_CHARS, ""))


def parse_amount(column: Column) -> Column:
    """``"12,50"``, ``"1 234,50 €"``, ``"12.5"`` -> 12.5; anything else -> null."""
    text = F.regexp_replace(F.regexp_replace(column.cast("string"), r"[\s\u00a0€]", ""), ",", ".")
    return text.try_cast("double")


def interactions(bronze: DataFrame, spec: SourceSpec) -> DataFrame:
    """Bronze rows of one source -> ``silver.<interactions.table>`` rows keyed to their source record."""
    rows = interaction_rows(bronze, spec)
    latest = Window.partitionBy("interaction_key").orderBy(F.col("ingested_at").desc())
    return rows.where(F.col("event_id").isNotNull()).withColumn("_rank", F.row_number().over(latest)).where(
        "_rank = 1"
    ).drop("_rank")


def interaction_rows(bronze: DataFrame, spec: SourceSpec, keep: Sequence[str] = ()) -> DataFrame:
    """The columns of :func:`interactions` row by row, every row kept (no event id, a repeated one), and the
    bronze columns ``keep`` after them: a projection only, which a streaming query holds too (``rcu stream``
    builds it once, :func:`spark_lib.streaming.stream.prepare`)."""
    if spec.interactions is None:
        raise ValueError(f"source {spec.name!r} has no 'interactions' section in its configuration")
    mapping = spec.interactions
    record_id = _string(column_for(bronze, spec, "record_id", spec.record_id, spec.path))
    value = {
        canonical: _event_text(column_for(bronze, spec, f"interactions.fields.{canonical}", column, spec.path))
        for canonical, column in mapping.fields.items()
    }
    if "event_id" in value:
        event_id = value["event_id"]
    elif not spec.records_repeat:
        event_id = record_id  # one event per record (a receipt): the record id identifies it
    else:
        # Several events per record and no event id: the row's content identifies it (a re-delivered
        # row is the same event).
        payload = F.struct(*[F.col(f"`{c}`") for c in bronze.columns if not c.startswith("_")])
        event_id = F.sha2(F.to_json(payload), 256)
    event_type = F.coalesce(value.get("event_type", F.lit(None)), F.lit(mapping.event_type))
    columns = {
        "interaction_key": F.concat(F.lit(f"{spec.name}:"), event_id),
        "source": F.lit(spec.name),
        "event_id": event_id,
        "record_key": record_key(spec.name, record_id),
        "channel": F.lit(spec.channel),
        "event_time": parse_timestamp(value["event_time"], mapping.time_format),
        "event_type": F.lower(event_type),
        "amount": parse_amount(value["amount"]) if "amount" in value else F.lit(None),
        "quantity": value["quantity"].try_cast("bigint") if "quantity" in value else F.lit(None),
        "ingested_at": F.col("_ingested_at"),
    }
    for name in INTERACTION_FIELDS:
        columns.setdefault(name, value.get(name, F.lit(None)))
    return bronze.select(*[columns[f.name].cast(f.dataType).alias(f.name) for f in INTERACTIONS.fields], *keep)
