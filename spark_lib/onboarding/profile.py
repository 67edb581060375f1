"""How well a configured source fills and standardises each canonical field, with the pipeline's own code.

The raw rows are read by :func:`spark_lib.sources.readers.read_raw`, each mapped column resolved by
:func:`~spark_lib.sources.readers.column_for` (an absent column is a :class:`SourceFileError` naming the
source, field, column and file), standardised by :func:`spark_lib.standardise.standardise_identity`, and
measured in one aggregation per source (one Spark job, plus JSON schema inference).

Example::

    from spark_lib.onboarding.profile import profile_source, source_warnings
    profile = profile_source(read_raw(spark, spec, files), spec, sample=100_000)
    profile.fields["birth_date"]         # FieldProfile(column='Date de naissance', filled=52, standardised=51, flagged=1)
    source_warnings(spec, profile)       # ['birth_date: 84.0 % of the filled values parse as dates (under 90 %)']
"""

from __future__ import annotations

from dataclasses import dataclass, field

from pyspark.sql import Column, DataFrame
from pyspark.sql import functions as F

from spark_lib.config import SourceSpec
from spark_lib.onboarding.mapping import PIVOT_FIELDS
from spark_lib.sources.readers import CORRUPT, column_for
from spark_lib.standardise import standardise_identity
from spark_lib.standardise.dates import parse_timestamp
from spark_lib.standardise.phones import parse_phone_column
from spark_lib.standardise.text import QUALITY_FLAGS

#: date fields whose parse rate is checked
DATE_FIELDS = ("birth_date", "consent_date", "updated_at")
MIN_DATE_PARSE = 0.90
MIN_FILL = 0.05
_RAW = "_check_raw_"


@dataclass(frozen=True)
class FieldProfile:
    column: str
    filled: int
    #: filled values that give a standardised value (a valid email, an E.164 phone, a real date ...)
    standardised: int
    #: filled values that standardisation flagged (corrected or nulled: see ``quality_flags``)
    flagged: int


@dataclass(frozen=True)
class SourceProfile:
    rows: int
    fields: dict[str, FieldProfile] = field(default_factory=dict)
    record_ids: int = 0
    distinct_record_ids: int = 0
    malformed_rows: int = 0


def _text(column: Column) -> Column:
    """Trimmed text, null when blank: how silver reads every raw value."""
    value = F.trim(column.cast("string"))
    return F.when(value != "", value)


def _standardised(canonical: str) -> Column:
    """The output of standardisation that shows a value of ``canonical`` went through."""
    raw = F.col(f"{_RAW}{canonical}")
    outputs = {
        "first_name": F.col("first_name_std"), "last_name": F.col("last_name_std"),
        "birth_name": F.col("birth_name_std"), "street": F.col("street_std"), "city": F.col("city_std"),
        "email": F.col("email_std"),
        "full_name": F.coalesce(F.col("last_name_std"), F.col("first_name_std")),
        "phone": F.col(f"{_RAW}phone_parsed.e164"), "phone_2": F.col(f"{_RAW}phone_2_parsed.e164"),
        "updated_at": parse_timestamp(raw),
    }
    return outputs.get(canonical, F.col(canonical))


def _flag_prefix(canonical: str) -> str:
    return "phone:" if canonical in ("phone", "phone_2") else f"{canonical}:"


def profile_source(raw: DataFrame, spec: SourceSpec, default_region: str = "FR", sample: int | None = None,
                   path_hint: str | None = None) -> SourceProfile:
    """Fill and standardisation counts of each mapped field of ``spec`` over the rows of ``raw`` (the first
    ``sample`` rows when given), and the record id's uniqueness, in one aggregation."""
    hint = path_hint or spec.path
    rows = raw.limit(sample) if sample else raw
    record_id = _text(column_for(rows, spec, "record_id", spec.record_id, hint))
    mapped = {canonical: _text(column_for(rows, spec, f"identity.{canonical}", column, hint))
              for canonical, column in spec.identity.items()}
    corrupt = F.col(CORRUPT).isNotNull() if CORRUPT in rows.columns else F.lit(False)
    frame = rows.select(
        record_id.alias(f"{_RAW}record_id"),
        corrupt.alias(f"{_RAW}corrupt"),
        *[value.alias(canonical) for canonical, value in mapped.items()],
        *[value.alias(f"{_RAW}{canonical}") for canonical, value in mapped.items()],
    )
    for phone in ("phone", "phone_2"):
        if phone in mapped:
            frame = frame.withColumn(f"{_RAW}{phone}_parsed", parse_phone_column(F.col(f"{_RAW}{phone}"), default_region))
    standard = standardise_identity(frame, birth_date_format=spec.birth_date_format, default_region=default_region)
    measures = [F.count(F.lit(1)).alias("rows"), F.count(f"{_RAW}record_id").alias("record_ids"),
                F.count_distinct(f"{_RAW}record_id").alias("distinct_record_ids"),
                F.count(F.when(F.col(f"{_RAW}corrupt"), 1)).alias("malformed_rows")]
    for canonical in mapped:
        filled = F.col(f"{_RAW}{canonical}").isNotNull()
        prefix = _flag_prefix(canonical)
        flagged = F.exists(F.col(QUALITY_FLAGS), lambda flag: flag.startswith(prefix))
        measures += [
            F.count(F.when(filled, 1)).alias(f"{canonical}__filled"),
            F.count(F.when(filled & _standardised(canonical).isNotNull(), 1)).alias(f"{canonical}__standardised"),
            F.count(F.when(filled & flagged, 1)).alias(f"{canonical}__flagged"),
        ]
    result = standard.agg(*measures).first().asDict()
    fields = {
        canonical: FieldProfile(spec.identity[canonical], result[f"{canonical}__filled"],
                                result[f"{canonical}__standardised"], result[f"{canonical}__flagged"])
        for canonical in mapped
    }
    return SourceProfile(result["rows"], fields, result["record_ids"], result["distinct_record_ids"],
                         result["malformed_rows"])


def matchable(fields) -> bool:
    """Whether records with these canonical fields can be matched: a pivot, or last name + first name + a
    birth date or a place (postcode or city). A full name counts for both names."""
    names = {"last_name", "first_name"} <= set(fields) or "full_name" in fields
    return any(f in fields for f in PIVOT_FIELDS) or (
        names and any(f in fields for f in ("birth_date", "postcode", "city")))


def source_warnings(spec: SourceSpec, profile: SourceProfile | None) -> list[str]:
    """What ``rcu check`` warns about: nothing to match on, dates that do not parse, nearly empty columns,
    a record id that repeats although ``records_repeat`` is false, malformed rows."""
    warnings = []
    if not matchable(spec.identity):
        warnings.append("nothing to match on: no pivot (email, phone, loyalty_card, account_id, customer_ref, "
                        "cookie_id) and not last_name + first_name + (birth_date or postcode/city)")
    if profile is None:
        return warnings
    if profile.rows == 0:
        warnings.append("no rows read")
        return warnings
    for canonical, stats in profile.fields.items():
        fill = stats.filled / profile.rows
        if fill < MIN_FILL:
            warnings.append(f"{canonical}: column {stats.column!r} is filled on {fill:.1%} of the rows (under {MIN_FILL:.0%})")
        if canonical in DATE_FIELDS and stats.filled and stats.standardised / stats.filled < MIN_DATE_PARSE:
            hint = " (set birth_date_format?)" if canonical == "birth_date" else ""
            warnings.append(f"{canonical}: {stats.standardised / stats.filled:.1%} of the filled values of "
                            f"{stats.column!r} parse as dates (under {MIN_DATE_PARSE:.0%}){hint}")
    if not spec.records_repeat and profile.distinct_record_ids < profile.record_ids:
        repeats = profile.record_ids - profile.distinct_record_ids
        warnings.append(f"record_id: {repeats:,} repeated value(s) of {spec.record_id!r} although records_repeat is "
                        "false (only the latest delivery of each id is kept)")
    if profile.record_ids < profile.rows:
        warnings.append(f"record_id: {profile.rows - profile.record_ids:,} row(s) without {spec.record_id!r} "
                        "(bronze quarantines them)")
    if profile.malformed_rows:
        warnings.append(f"{profile.malformed_rows:,} malformed row(s) (bronze quarantines them)")
    return warnings
