"""Survivorship: which record gives each attribute of a customer's golden record.

Every attribute (one column, or several taken *together* from one record, such as the postal address) is
chosen among the customer's *candidate* records by an ordered list of rules; each rule breaks the ties of the
one before, and the smallest ``record_key`` breaks what is left, so the choice is deterministic.

Rules (``conf/gold.yaml``, section ``survivorship``)
---------------------------------------------------
``source_trust``
    the record of the most trusted source wins. Trust is declared with each source in ``sources.yaml``
    (``trust: 70``, or per attribute ``trust: {default: 50, email: 90, phone_mobile: 0}``; 50 when not
    declared), so a retailer's own sources need no edit of ``gold.yaml``. Sources of equal trust are level;
    a trust of 0 keeps the source out of the attribute altogether.
``source_priority``
    the record of the source that comes first in ``sources`` wins; sources not listed come after every
    listed one, level with each other (an explicit order, for when trust is not enough).
``most_recent``
    the record with the latest ``record_time`` (when the source last saw or changed it) wins.
``most_frequent``
    the value held by the most candidate records of the customer wins; values are compared on
    ``group_by`` (default: the attribute's columns), so ``"Le Goff"`` and ``"LE GOFF"`` count together when
    grouped on ``last_name_std``. Within the winning value, the next rules pick the record (its display form).
``most_complete``
    the record with the most non-null columns of the attribute wins (an address with its floor and
    building beats the same street without).

A record is a candidate for an attribute when its ``required`` columns (default: at least one of the
attribute's columns) are not null, its source is not in ``ignore_sources`` and does not have a trust of
0 for the attribute. With ``validated_only``
it must also be validated: every ``<column>_valid`` flag of the records (``email_valid``) is true, and its
``quality_flags`` name none of the attribute's ``flag_fields`` (default: its columns) but those in
``accept_flags``, so a placeholder (``email:placeholder``) or an invalid address never wins, while an
address whose known domain typo standardisation corrected (``email:domain_corrected``, accepted by
conf/gold.yaml) may. A customer with no candidate gets null.

Consents (not configurable, on purpose)
---------------------------------------
Each channel (``consent_email``, ``consent_sms``, ``consent_postal``) takes the *most recent statement*
among the records that state it (non-null): its time is ``consent_date`` when the source gives one, else
the record's ``record_time``. A later opt-out therefore beats an older opt-in, and a later opt-in beats an
older opt-out (the person changed their mind). Two statements at the same time: the opt-out wins (never
contact on a doubtful consent), then the smallest ``record_key``. The golden record keeps the
value, the statement's time (``consent_<channel>_date``) and its source (``consent_<channel>_source``).

Implementation: one shuffle by ``customer_id``; one window over each customer's records counts the values
of the ``most_frequent`` attributes; one ``groupBy(customer_id)`` whose aggregates are
``min(struct(sort keys..., payload))`` per attribute (sort keys made ascending). No Python UDF, nothing
collected to the driver.

Example::

    rule = AttributeRule("email", rules=("most_recent", "source_priority"),
                         sources=("eshop_accounts", "crm_customers"), validated_only=True)
    survivors = survive(records_with_customer_id, (rule,))
"""

from __future__ import annotations

from dataclasses import dataclass
from functools import reduce
from typing import Mapping, Sequence

from pyspark.sql import Column, DataFrame, Window
from pyspark.sql import functions as F

from spark_lib.columns import DataFrameMissingColumnError, require_columns  # noqa: F401 - re-exported
from spark_lib.config import DEFAULT_TRUST, ConfigError, trust_level
from spark_lib.schemas import CUSTOMER_RECORDS

RULES: tuple[str, ...] = ("source_trust", "source_priority", "most_recent", "most_frequent", "most_complete")
#: source -> attribute (or ``"default"``) -> trust, 0 to 100 (see :meth:`spark_lib.config.SourcesConfig.trust`)
SourceTrust = Mapping[str, Mapping[str, int]]

#: Consent channels: golden columns ``consent_<channel>``, ``consent_<channel>_date``, ``consent_<channel>_source``.
CONSENT_CHANNELS: tuple[str, ...] = ("email", "sms", "postal")
CONSENT_RULE = "latest_statement"

_RECORD_COLUMNS = tuple(f.name for f in CUSTOMER_RECORDS.fields)
#: Record columns an attribute may not take: keys, lineage, and the consents (their own rule, above).
_RESERVED = frozenset(
    {"record_key", "source", "source_record_id", "channel", "record_time", "quality_flags", "ingested_at",
     "source_file", "consent_date"}
    | {f"consent_{c}" for c in CONSENT_CHANNELS}
)
_MAX_LONG = (1 << 63) - 1


@dataclass(frozen=True)
class AttributeRule:
    """How one attribute of the golden record survives (one entry of ``survivorship`` in ``conf/gold.yaml``)."""

    name: str
    #: ordered: the first decides, the next ones break its ties (then the smallest record_key)
    rules: tuple[str, ...]
    #: record columns taken together from the winning record (default: the attribute's name)
    columns: tuple[str, ...] = ()
    #: source order for ``source_priority`` (first = preferred)
    sources: tuple[str, ...] = ()
    #: sources never used for this attribute (an order's phone is its shipping contact's)
    ignore_sources: tuple[str, ...] = ()
    #: only validated values are candidates (``<column>_valid`` true, no quality flag on ``flag_fields``)
    validated_only: bool = False
    #: quality-flag fields (the part before ':') that disqualify a value (default: the columns)
    flag_fields: tuple[str, ...] = ()
    #: quality flags that do not disqualify a value under ``validated_only`` (``email:domain_corrected``: the
    #: value holds the correction)
    accept_flags: tuple[str, ...] = ()
    #: columns a candidate must have (default: at least one of the columns)
    required: tuple[str, ...] = ()
    #: columns whose equal values count as one value for ``most_frequent`` (default: the columns)
    group_by: tuple[str, ...] = ()

    def __post_init__(self) -> None:
        # Messages are relative to the attribute ("rules: ..."); the loader prefixes file and section.
        if not self.columns:
            object.__setattr__(self, "columns", (self.name,))
        if not self.rules:
            raise ConfigError(f"rules: give at least one rule ({', '.join(RULES)})")
        for rule in self.rules:
            if rule not in RULES:
                raise ConfigError(f"rules: {rule!r} is not one of {', '.join(RULES)}")
        if len(set(self.rules)) != len(self.rules):
            raise ConfigError(f"rules: a rule is listed twice: {', '.join(self.rules)}")
        if "source_priority" in self.rules and not self.sources:
            raise ConfigError("sources: required by rule 'source_priority' (an ordered list of sources)")
        for key in ("columns", "required", "group_by"):
            for column in getattr(self, key):
                if column not in _RECORD_COLUMNS:
                    raise ConfigError(f"{key}: {column!r} is not a column of silver.customer_records")
        for column in self.columns:
            if column in _RESERVED:
                raise ConfigError(f"columns: {column!r} cannot be survived as an attribute")
        for column in self.required:
            if column not in self.columns:
                raise ConfigError(f"required: {column!r} is not one of the attribute's columns")

    @property
    def rule_label(self) -> str:
        """What ``gold.customer_provenance.rule`` says: ``most_recent>source_priority``, ``validated_only:...``."""
        label = ">".join(self.rules)
        return f"validated_only:{label}" if self.validated_only else label


def check_attributes(attributes: Sequence[AttributeRule]) -> None:
    """Refuse two attributes with the same name or sharing a column (the golden record has one of each)."""
    seen: dict[str, str] = {}
    names = set()
    for rule in attributes:
        if rule.name in names:
            raise ConfigError(f"{rule.name}: attribute listed twice")
        names.add(rule.name)
        for column in rule.columns:
            if column in seen:
                raise ConfigError(
                    f"{rule.name}.columns: {column!r} is already taken by attribute {seen[column]!r}"
                )
            seen[column] = rule.name


# --------------------------------------------------------------------------------------------------
# Rules as ascending sort keys
# --------------------------------------------------------------------------------------------------


def _descending_time(column: Column) -> Column:
    """Latest first as an ascending key; no time sorts last."""
    return F.coalesce(-F.unix_micros(column), F.lit(_MAX_LONG))


def _trust(attribute: str, trust: SourceTrust | None) -> Column:
    """The trust of each record's source for ``attribute`` (:data:`DEFAULT_TRUST` when undeclared)."""
    levels = {source: trust_level(declared, attribute) for source, declared in (trust or {}).items()}
    value = F.lit(DEFAULT_TRUST)
    for source, level in sorted(levels.items()):
        value = F.when(F.col("source") == source, F.lit(level)).otherwise(value)
    return value


def _source_rank(sources: Sequence[str]) -> Column:
    position = F.array_position(F.array(*[F.lit(s) for s in sources]), F.col("source"))
    return F.when(position == 0, F.lit(len(sources) + 1)).otherwise(position)


def _all(conditions: Sequence[Column]) -> Column:
    return reduce(lambda a, b: a & b, conditions)


def _any(conditions: Sequence[Column]) -> Column:
    return reduce(lambda a, b: a | b, conditions)


def _is_candidate(rule: AttributeRule, columns: set[str], trust: SourceTrust | None = None) -> Column:
    if rule.required:
        condition = _all([F.col(c).isNotNull() for c in rule.required])
    else:
        condition = _any([F.col(c).isNotNull() for c in rule.columns])
    if rule.ignore_sources:
        condition = condition & ~F.col("source").isin(*rule.ignore_sources)
    if trust:
        condition = condition & (_trust(rule.name, trust) > 0)
    if rule.validated_only:
        for column in rule.columns:
            if f"{column}_valid" in columns:
                condition = condition & F.coalesce(F.col(f"{column}_valid"), F.lit(False))
        fields = F.array(*[F.lit(f) for f in (rule.flag_fields or rule.columns)])
        flagged = F.exists(
            F.coalesce(F.col("quality_flags"), F.array().cast("array<string>")),
            lambda flag: F.array_contains(fields, F.substring_index(flag, ":", 1)) & ~_is_accepted(flag, rule),
        )
        condition = condition & ~flagged
    return condition


def _is_accepted(flag: Column, rule: AttributeRule) -> Column:
    """True for a quality flag the rule's ``accept_flags`` lets through."""
    return flag.isin(*rule.accept_flags) if rule.accept_flags else F.lit(False)


def _candidate_column(rule: AttributeRule) -> str:
    return f"_candidate_{rule.name}"


def _group_value(rule: AttributeRule) -> Column:
    """What most_frequent compares: the ``group_by`` column, or a struct of several."""
    columns = rule.group_by or rule.columns
    return F.col(columns[0]) if len(columns) == 1 else F.struct(*[F.col(c) for c in columns])


def _equal_to(value: Column):
    """A one-argument lambda for ``F.filter`` (a second argument would be taken as the element's index)."""
    return lambda element: element.eqNullSafe(value)


def _frequency_column(rule: AttributeRule) -> str:
    return f"_freq_{rule.name}"


def _sort_keys(rule: AttributeRule, trust: SourceTrust | None = None) -> list[Column]:
    keys = []
    for name in rule.rules:
        if name == "source_trust":
            keys.append(-_trust(rule.name, trust))
        elif name == "source_priority":
            keys.append(_source_rank(rule.sources))
        elif name == "most_recent":
            keys.append(_descending_time(F.col("record_time")))
        elif name == "most_frequent":
            keys.append(-F.col(_frequency_column(rule)))
        elif name == "most_complete":
            keys.append(-sum(F.col(c).isNotNull().cast("int") for c in rule.columns))
    return keys


def _winner(condition: Column, keys: Sequence[Column], payload: dict[str, Column]) -> Column:
    """``min`` over candidates of ``struct(keys..., record_key, payload...)``: the winning record's payload."""
    fields = [k.alias(f"_k{i}") for i, k in enumerate(keys)] + [F.col("record_key").alias("_key")]
    fields += [col.alias(name) for name, col in payload.items()]
    return F.min(F.when(condition, F.struct(*fields)))


# --------------------------------------------------------------------------------------------------
# The survivors
# --------------------------------------------------------------------------------------------------


def survive(records: DataFrame, attributes: Sequence[AttributeRule], trust: SourceTrust | None = None) -> DataFrame:
    """One row per ``customer_id``: the winning record of every attribute and consent, and the aggregates.

    ``records``: ``silver.customer_records`` rows with their ``customer_id`` (see :func:`with_customer_id`);
    ``trust``: each source's trust (``SourcesConfig.trust()``), for the ``source_trust`` rule.

    Columns of the result:

    - ``customer_id``;
    - ``attr_<name>`` per attribute: struct of its columns, ``source``, ``record_key``, ``observed_at``
      (the record's ``record_time``), null when no record is a candidate;
    - ``consent_<channel>`` per consent channel: struct ``value``, ``source``, ``record_key``, ``observed_at``
      (the statement's time);
    - ``first_seen``, ``last_seen`` (earliest and latest ``record_time``/``consent_date`` of the records),
      ``sources`` (sorted distinct sources), ``record_count``.

    Example::

        survivors = survive(with_customer_id(records, crosswalk), config.survivorship)
    """
    check_attributes(attributes)
    needed = {"customer_id", "record_key", "source", "record_time", "quality_flags", "consent_date"}
    needed |= {f"{c}_valid" for rule in attributes if rule.validated_only for c in rule.columns} & set(records.columns)
    needed |= {f"consent_{c}" for c in CONSENT_CHANNELS}
    for rule in attributes:
        needed |= set(rule.columns) | set(rule.group_by)
    require_columns(records, sorted(needed), "records")

    columns = set(records.columns)
    # One shuffle: every window below is partitioned by customer_id (and more), and so is the aggregation,
    # so hash-partitioning by customer_id once serves them all. Candidacy is computed once per attribute.
    frame = records.select(*sorted(needed)).repartition("customer_id")
    frame = frame.select("*", *[_is_candidate(rule, columns, trust).alias(_candidate_column(rule)) for rule in attributes])
    # most_frequent: a value's count among the customer's candidates. One window over the customer's rows
    # collects each attribute's candidate values once; every row then counts its own value in that list
    # (quadratic per customer, but customers have a handful of records and it saves a sort per attribute).
    customer = Window.partitionBy("customer_id")
    counts = []
    for rule in attributes:
        if "most_frequent" in rule.rules:
            value = _group_value(rule)
            values = F.collect_list(F.when(F.col(_candidate_column(rule)), value)).over(customer)
            counts.append(F.size(F.filter(values, _equal_to(value))).alias(_frequency_column(rule)))
    if counts:
        frame = frame.select("*", *counts)

    aggregates = []
    for rule in attributes:
        payload = {c: F.col(c) for c in rule.columns}
        payload.update(source=F.col("source"), record_key=F.col("record_key"), observed_at=F.col("record_time"))
        aggregates.append(_winner(F.col(_candidate_column(rule)), _sort_keys(rule, trust), payload).alias(f"attr_{rule.name}"))

    statement_time = F.coalesce(F.col("consent_date"), F.col("record_time"))
    for channel in CONSENT_CHANNELS:
        value = F.col(f"consent_{channel}")
        # latest statement first; at the same time the opt-out (false sorts before true)
        keys = [_descending_time(statement_time), value]
        payload = {"value": value, "source": F.col("source"), "record_key": F.col("record_key"),
                   "observed_at": statement_time}
        aggregates.append(_winner(value.isNotNull(), keys, payload).alias(f"consent_{channel}"))

    seen_first = F.least(F.col("record_time"), F.col("consent_date"))
    seen_last = F.greatest(F.col("record_time"), F.col("consent_date"))
    aggregates += [
        F.min(seen_first).alias("first_seen"),
        F.max(seen_last).alias("last_seen"),
        F.array_sort(F.collect_set("source")).alias("sources"),
        F.count(F.lit(1)).alias("record_count"),
    ]
    return frame.groupBy("customer_id").agg(*aggregates)


def with_customer_id(records: DataFrame, crosswalk: DataFrame) -> DataFrame:
    """Records with the ``customer_id`` the crosswalk gives them; records not (yet) matched are left out."""
    require_columns(crosswalk, ["record_key", "customer_id"], "crosswalk")
    require_columns(records, ["record_key"], "records")
    return records.join(crosswalk.select("record_key", "customer_id"), "record_key")
