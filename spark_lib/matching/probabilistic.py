"""Probabilistic matching of ``silver.customer_records`` with Splink (Fellegi-Sunter), scored on Spark.

One model links and de-duplicates every source at once: the records of all sources are one table and
Splink runs ``dedupe_only`` on it with ``record_key`` as the unique id, which compares records of the same
source (duplicates in the CRM) and of different sources (the loyalty member and the e-shop account) alike.

Training (:func:`train_model`)

1. pre-flight: count the pairs each prediction blocking rule generates (``blocking.count_comparisons``,
   one Spark job) and refuse the run above the configured limits;
2. a bounded, uniform sample of records (hash of ``record_key``): every pair survives with the same
   probability, so the mix of agreement patterns among blocked pairs, and the prior, are those of the
   full data;
3. the prior (``probability_two_random_records_match``) from the deterministic links when given (pairs
   they group / assumed recall / all pairs), else from Splink's deterministic-rule estimate;
4. u by random sampling, m by expectation-maximisation over a few training blocking rules, m floored;
5. the trained parameters are written into settings rendered for Spark SQL: the model JSON scores on
   Spark whichever backend trained it (``probabilistic.training.backend``: ``duckdb`` trains in-process
   on the sample, ``spark`` on the cluster; measured on 32,400 generated records, DuckDB trains about ten
   times faster with the same F1).

Scoring (:func:`predict_pairs`) always runs on Spark and returns a Spark DataFrame of scored pairs.

Household gates (``probabilistic.comparisons.household_gate``). A family shares an email, a landline, an
address; added up as independent evidence they make parent and child one person. So:

- email and phones weigh nothing (null level, weight 0) between *visibly different people*: first names
  both known and incompatible while birth dates do not agree, or birth years a generation apart;
- address, postcode and a landline alone weigh something only once the first name agrees (or, when a first
  name is missing, the birth date): they say "same home", not "same person".

Twins, homonyms at one address and a parent and child of the same first name remain hard cases.

Example::

    config = load_matching_config()
    model = train_model(spark, records, config, deterministic_pairs=edges)
    pairs = predict_pairs(spark, records, model.model_json, config)
"""

from __future__ import annotations

import dataclasses
import logging
import math
import time
import typing
import uuid
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Callable, Iterator, Mapping

from pyspark.sql import DataFrame, SparkSession
from pyspark.sql import functions as F

from spark_lib.config import DEFAULT_CONF_DIR, ConfigError, read_yaml, strict_fields
from spark_lib.matching.blocking import (
    BlockingConfig,
    BlockingRuleSpec,
    check_comparison_limits,
    count_comparisons,
    parse_blocking,
    parse_rules,
)
from spark_lib.matching.deterministic import require_columns

logger = logging.getLogger(__name__)

#: Columns of ``silver.customer_records`` the model reads; nothing else goes into Splink.
MODEL_COLUMNS: tuple[str, ...] = (
    "record_key",
    "first_name_std",
    "first_name_canonical",
    "last_name_std",
    "birth_name_std",
    "birth_date",
    "email_std",
    "phone_mobile",
    "phone_landline",
    "house_number",
    "street_std",
    "postcode",
    "city_std",
)
UNIQUE_ID = "record_key"
#: the deterministic core of a record in :func:`predict_pairs`' input, when it leaves linked pairs out
CORE_COLUMN = "rcu_core_id"
#: The entry of :attr:`TrainedModel.timings` that is no training: the wait for the deterministic cores.
WAIT_FOR_CORES = "wait_for_cores"
#: first and last name typed the wrong way round ("fesy manon" / "manon fesy")
NAMES_SWAPPED = "(first_name_std_l = last_name_std_r AND last_name_std_l = first_name_std_r)"
BACKENDS = ("duckdb", "spark")
BREAK_LINEAGE_METHODS = ("persist", "checkpoint", "parquet", "delta_lake_table")


# --------------------------------------------------------------------------------------------------
# Configuration (conf/matching.yaml, sections probabilistic: and blocking:)
# --------------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class ComparisonSettings:
    """Thresholds of the comparisons; their levels are fixed in code (see :func:`build_settings`)."""

    first_name_jaro_winkler: tuple[float, ...] = (0.92, 0.85)
    last_name_jaro_winkler: tuple[float, ...] = (0.92, 0.85)
    email_local_part_jaro_winkler: float = 0.88
    street_jaro_winkler: float = 0.88
    #: columns whose exact-match level is adjusted by the frequency of the value (a common name weighs less)
    term_frequency_columns: tuple[str, ...] = ("first_name_std", "last_name_std", "email_std")
    #: household attributes carry no weight when first names disagree and birth dates do not agree
    household_gate: bool = True
    #: ... or when the birth years are this far apart (parent and child of the same first name)
    generation_gap_years: int = 15


@dataclass(frozen=True)
class TrainingSettings:
    """How parameters are estimated (``probabilistic.training``)."""

    em_blocking_rules: tuple[BlockingRuleSpec, ...]
    prior_rules: tuple[BlockingRuleSpec, ...]
    backend: str = "duckdb"
    #: bound on the records trained on (uniform sample); 0 trains on all records
    max_records: int = 300_000
    seed: int = 42
    u_max_pairs: int = 5_000_000
    em_max_iterations: int = 20
    em_convergence: float = 0.001
    #: EM on agreement patterns only (much faster; term frequencies still apply when scoring)
    em_without_term_frequencies: bool = True
    #: share of all true links the deterministic links are assumed to find (prior estimate)
    deterministic_recall: float = 0.7
    #: share of all true links ``prior_rules`` are assumed to find (when no deterministic links are given)
    prior_rules_recall: float = 0.7
    #: floor of every estimated m probability: a level EM never saw among the training block's matches
    #: (a birth date typed wrongly) is rare, not impossible, and must not veto a pair on its own
    min_m_probability: float = 0.001


@dataclass(frozen=True)
class ContactRecords:
    """Records whose identity fields may name someone other than their owner (``probabilistic.contact_records``).

    An e-shop order's shipping name, address and phone are its recipient's: a gift to a partner would link
    the buyer's and the recipient's records through the model. Such records that carry one of
    ``owner_columns`` (the account that placed the order) are left to the deterministic link on that
    column and kept out of the model; without it (a guest check-out) they enter it like any record.
    """

    sources: tuple[str, ...] = ()
    owner_columns: tuple[str, ...] = ()


@dataclass(frozen=True)
class ProbabilisticConfig:
    """The ``probabilistic:`` section of ``conf/matching.yaml``."""

    comparisons: ComparisonSettings
    training: TrainingSettings
    #: a record enters the model when all columns of at least one group are present
    min_identity: tuple[tuple[str, ...], ...]
    #: pairs at or above this probability are returned by :func:`predict_pairs`
    threshold_match_probability: float = 0.5
    #: how Splink materialises intermediate tables on Spark (persist suits local runs; parquet or
    #: delta_lake_table suit clusters, with a checkpoint dir)
    spark_break_lineage: str = "persist"
    contact_records: ContactRecords = ContactRecords()


@dataclass(frozen=True)
class MatchingConfig:
    """The probabilistic part of ``conf/matching.yaml`` (other modules read their own sections)."""

    probabilistic: ProbabilisticConfig
    blocking: BlockingConfig
    file: str = ""


def _strict_fields(cls: type, data: Any, where: str, file: str, nested: Mapping[str, Callable] | None = None):
    """Fill dataclass ``cls`` from a mapping: unknown or missing keys and wrong types name the key and file.

    ``nested``: a parser per field whose value is not a plain one (``parser(value, key_path, file)``).
    """
    nested = nested or {}

    def convert(name: str, value: Any, annotation: Any, key: str) -> Any:
        if name in nested:
            return nested[name](value, key, file)
        return _coerce(value, annotation, key, file)

    return cls(**strict_fields(cls, data, where, convert, file, internal=("file",)))


def _coerce(value: Any, annotation: Any, where: str, file: str) -> Any:
    origin = typing.get_origin(annotation)
    if origin is tuple:
        (item_type, *_rest) = typing.get_args(annotation)
        items = value if isinstance(value, list) else [value]
        return tuple(_coerce(v, item_type, f"{where}[{i}]", file) for i, v in enumerate(items))
    if annotation is bool:
        ok = isinstance(value, bool)
    elif annotation is int:
        ok = isinstance(value, int) and not isinstance(value, bool)
    elif annotation is float:
        ok = isinstance(value, (int, float)) and not isinstance(value, bool)
        value = float(value) if ok else value
    elif annotation is str:
        ok = isinstance(value, str)
    else:
        ok = True
    if not ok:
        raise ConfigError(f"{file}: {where}: expected {getattr(annotation, '__name__', annotation)}, got {value!r}")
    return value


def _min_identity(value: Any, where: str, file: str) -> tuple[tuple[str, ...], ...]:
    groups = value if isinstance(value, list) else None
    if not groups or not all(isinstance(g, list) and g and all(isinstance(c, str) for c in g) for g in groups):
        raise ConfigError(f"{file}: {where}: expected a list of column lists, e.g. [[email_std], [last_name_std, birth_date]]")
    for group in groups:
        for column in group:
            if column not in MODEL_COLUMNS:
                raise ConfigError(f"{file}: {where}: unknown column {column!r} (allowed: {', '.join(MODEL_COLUMNS)})")
    return tuple(tuple(g) for g in groups)


def parse_probabilistic(data: Any, file: str) -> ProbabilisticConfig:
    """The ``probabilistic:`` mapping, validated."""

    def training(value: Any, where: str, file_: str) -> TrainingSettings:
        parsed = _strict_fields(
            TrainingSettings,
            value,
            where,
            file_,
            nested={
                "em_blocking_rules": lambda v, w, f: parse_rules(v, w, f),
                "prior_rules": lambda v, w, f: parse_rules(v, w, f),
            },
        )
        if parsed.backend not in BACKENDS:
            raise ConfigError(f"{file_}: {where}.backend: {parsed.backend!r} is not one of {', '.join(BACKENDS)}")
        for key in ("deterministic_recall", "prior_rules_recall"):
            if not 0 < getattr(parsed, key) <= 1:
                raise ConfigError(f"{file_}: {where}.{key}: expected a share in (0, 1], got {getattr(parsed, key)}")
        return parsed

    parsed = _strict_fields(
        ProbabilisticConfig,
        data,
        "probabilistic",
        file,
        nested={
            "comparisons": lambda v, w, f: _strict_fields(ComparisonSettings, v, w, f),
            "training": training,
            "min_identity": _min_identity,
            "contact_records": lambda v, w, f: _strict_fields(ContactRecords, v, w, f),
        },
    )
    if parsed.spark_break_lineage not in BREAK_LINEAGE_METHODS:
        raise ConfigError(
            f"{file}: probabilistic.spark_break_lineage: {parsed.spark_break_lineage!r} is not one of "
            f"{', '.join(BREAK_LINEAGE_METHODS)}"
        )
    if not 0 <= parsed.threshold_match_probability <= 1:
        raise ConfigError(f"{file}: probabilistic.threshold_match_probability: expected a probability in [0, 1]")
    for column in parsed.comparisons.term_frequency_columns:
        if column not in ("first_name_std", "last_name_std", "email_std"):
            raise ConfigError(
                f"{file}: probabilistic.comparisons.term_frequency_columns: {column!r} is not one of "
                "first_name_std, last_name_std, email_std"
            )
    return parsed


def load_matching_config(path: str | Path | None = None) -> MatchingConfig:
    """Load the ``probabilistic:`` and ``blocking:`` sections of ``conf/matching.yaml``.

    Other top-level sections (``deterministic:``, ``clustering:``) belong to other modules and are left to them.
    """
    file = Path(path or DEFAULT_CONF_DIR / "matching.yaml")
    data = read_yaml(file)
    if not isinstance(data, dict):
        raise ConfigError(f"{file}: expected a mapping at the top level")
    for key in ("probabilistic", "blocking"):
        if key not in data:
            raise ConfigError(f"{file}: missing required top-level key {key!r}")
    return MatchingConfig(
        probabilistic=parse_probabilistic(data["probabilistic"], str(file)),
        blocking=parse_blocking(data["blocking"], str(file)),
        file=str(file),
    )


# --------------------------------------------------------------------------------------------------
# Comparisons and settings
# --------------------------------------------------------------------------------------------------


def _level(sql: Callable[[Any], str], label: str):
    """A comparison level whose SQL depends on the backend (function names differ between Spark and DuckDB)."""
    from splink.internals.comparison_level_creator import ComparisonLevelCreator

    class _DialectLevel(ComparisonLevelCreator):
        def create_sql(self, sql_dialect) -> str:
            return sql(sql_dialect)

        def create_label_for_charts(self) -> str:
            return label

    return _DialectLevel()


def _person_sql(dialect, c: ComparisonSettings) -> dict[str, str]:
    """SQL conditions on a pair's personal identity (first name, birth date), shared by the gated levels.

    - ``support``: the first names are compatible (equal, same formal name, similar), or, when a first name
      is missing, the birth dates agree (equal, one character apart, same year and month, day and month
      swapped);
    - ``generation``: birth years at least ``generation_gap_years`` apart (parent and child);
    - ``conflict``: visibly different people: both first names known and incompatible, birth dates not
      agreeing (different or unknown); or a generation apart.
    """
    jw, lev = dialect.jaro_winkler_function_name, dialect.levenshtein_function_name
    fn_l, fn_r = "first_name_std_l", "first_name_std_r"
    formal_l = "coalesce(first_name_canonical_l, first_name_std_l)"
    formal_r = "coalesce(first_name_canonical_r, first_name_std_r)"
    both_names = f"{fn_l} IS NOT NULL AND {fn_r} IS NOT NULL"
    # (swapped first and last names are not read here: the gates would then read last_name_std too, and the
    # email_last_name EM rule could no longer estimate the gated comparisons; swapped names weigh enough alone)
    names_agree = f"({formal_l} = {formal_r} OR {jw}({fn_l}, {fn_r}) >= {min(c.first_name_jaro_winkler)})"
    bd_l, bd_r = "birth_date_l", "birth_date_r"
    one_char = f"{lev}(CAST({bd_l} AS STRING), CAST({bd_r} AS STRING)) <= 1"
    close = (
        f"({one_char} OR (year({bd_l}) = year({bd_r}) AND (month({bd_l}) = month({bd_r}) "
        f"OR (month({bd_l}) = day({bd_r}) AND day({bd_l}) = month({bd_r})))))"
    )
    both_dates = f"{bd_l} IS NOT NULL AND {bd_r} IS NOT NULL"
    dates_agree = f"({both_dates} AND {close})"
    generation = f"({both_dates} AND abs(year({bd_l}) - year({bd_r})) >= {c.generation_gap_years} AND NOT {one_char})"
    return {
        # a first name known on both sides decides alone: twins share a birth date, not a first name
        "support": f"(({both_names} AND {names_agree}) OR (NOT ({both_names}) AND {dates_agree}))",
        "generation": generation,
        "conflict": f"(({both_names} AND NOT {names_agree} AND NOT {dates_agree}) OR {generation})",
    }


def _gated_null_level(null_sql: str, what: str, c: ComparisonSettings, gate: str):
    """Splink's null level (weight 0), widened by the household gate when configured.

    ``gate`` is ``"person"`` for attributes a family may share but that are personal evidence otherwise
    (email, phones): they weigh nothing between visibly different people. It is ``"household"`` for
    attributes of the home (address, postcode): they weigh something only once the first name or the
    birth date agrees, since on their own they cannot tell household members apart.
    """
    if not c.household_gate:
        return _level(lambda d: null_sql, f"{what} missing").configure(is_null_level=True)

    def sql(dialect) -> str:
        person = _person_sql(dialect, c)
        if gate == "person":
            return f"({null_sql}) OR {person['conflict']}"
        return f"({null_sql}) OR NOT {person['support']} OR {person['generation']}"

    label = (
        f"{what} missing, or shared by visibly different people"
        if gate == "person"
        else f"{what} missing, or no first name or birth date agreeing (household)"
    )
    return _level(sql, label).configure(is_null_level=True)


def _phone_null_level(c: ComparisonSettings):
    """Phones: a mobile is personal, a landline belongs to the home; a shared landline alone weighs nothing
    until the first name or the birth date agrees."""
    no_phone = (
        "(phone_mobile_l IS NULL OR phone_mobile_r IS NULL) AND (phone_landline_l IS NULL OR phone_landline_r IS NULL)"
    )
    if not c.household_gate:
        return _level(lambda d: no_phone, "Phones missing").configure(is_null_level=True)

    def sql(dialect) -> str:
        person = _person_sql(dialect, c)
        landline_only = (
            "(phone_landline_l = phone_landline_r AND NOT coalesce(phone_mobile_l = phone_mobile_r, FALSE) "
            f"AND NOT {person['support']})"
        )
        return f"({no_phone}) OR {person['conflict']} OR {landline_only}"

    return _level(sql, "Phones missing, shared by visibly different people, or landline alone (household)").configure(
        is_null_level=True
    )


def _comparisons(c: ComparisonSettings) -> list:
    import splink.comparison_level_library as cll
    import splink.comparison_library as cl
    from splink import ColumnExpression

    tf = set(c.term_frequency_columns)

    def jaro_winkler_levels(column: str, thresholds) -> list:
        return [cll.JaroWinklerLevel(column, t) for t in thresholds]

    first_name = cl.CustomComparison(
        output_column_name="first_name",
        comparison_description="first_name_std: exact, same formal name (nickname), names swapped, Jaro-Winkler",
        comparison_levels=[
            cll.NullLevel("first_name_std"),
            cll.ExactMatchLevel("first_name_std", term_frequency_adjustments="first_name_std" in tf),
            _level(
                lambda d: (
                    "coalesce(first_name_canonical_l, first_name_std_l) = "
                    "coalesce(first_name_canonical_r, first_name_std_r)"
                ),
                "Same formal first name (nickname resolved)",
            ),
            _level(lambda d: NAMES_SWAPPED, "First and last names swapped"),
            *jaro_winkler_levels("first_name_std", c.first_name_jaro_winkler),
            cll.ElseLevel(),
        ],
    )
    last_name = cl.CustomComparison(
        output_column_name="last_name",
        comparison_description="last_name_std: exact, married name (against birth_name_std), names swapped, Jaro-Winkler",
        comparison_levels=[
            cll.NullLevel("last_name_std"),
            cll.ExactMatchLevel("last_name_std", term_frequency_adjustments="last_name_std" in tf),
            _level(
                lambda d: (
                    "last_name_std_l = birth_name_std_r OR birth_name_std_l = last_name_std_r "
                    "OR birth_name_std_l = birth_name_std_r"
                ),
                "Birth name matches (married name)",
            ),
            _level(lambda d: NAMES_SWAPPED, "First and last names swapped"),
            *jaro_winkler_levels("last_name_std", c.last_name_jaro_winkler),
            cll.ElseLevel(),
        ],
    )
    birth_date = cl.CustomComparison(
        output_column_name="birth_date",
        comparison_description="birth_date: exact, one character, same year and month or day/month swapped",
        comparison_levels=[
            cll.NullLevel("birth_date"),
            cll.ExactMatchLevel("birth_date"),
            cll.LevenshteinLevel(ColumnExpression("birth_date").cast_to_string(), 1).configure(
                label_for_charts="One character apart (typo)"
            ),
            _level(
                lambda d: (
                    "year(birth_date_l) = year(birth_date_r) AND (month(birth_date_l) = month(birth_date_r) "
                    "OR (month(birth_date_l) = day(birth_date_r) AND day(birth_date_l) = month(birth_date_r)))"
                ),
                "Same year and month, or day and month swapped",
            ),
            cll.ElseLevel(),
        ],
    )
    local_part = ColumnExpression("email_std").regex_extract("^[^@]+")
    email = cl.CustomComparison(
        output_column_name="email",
        comparison_description="email_std: exact, same local part, similar local part",
        comparison_levels=[
            _gated_null_level("email_std_l IS NULL OR email_std_r IS NULL", "Email", c, "person"),
            cll.ExactMatchLevel("email_std", term_frequency_adjustments="email_std" in tf),
            cll.ExactMatchLevel(local_part).configure(label_for_charts="Same local part (before @)"),
            cll.JaroWinklerLevel(local_part, c.email_local_part_jaro_winkler).configure(
                label_for_charts=f"Local part Jaro-Winkler >= {c.email_local_part_jaro_winkler}"
            ),
            cll.ElseLevel(),
        ],
    )
    phone = cl.CustomComparison(
        output_column_name="phone",
        comparison_description="phone_mobile exact, phone_landline exact",
        comparison_levels=[
            _phone_null_level(c),
            cll.ExactMatchLevel("phone_mobile").configure(label_for_charts="Same mobile"),
            cll.ExactMatchLevel("phone_landline").configure(label_for_charts="Same landline"),
            cll.ElseLevel(),
        ],
    )
    address = cl.CustomComparison(
        output_column_name="address",
        comparison_description="house_number + street_std exact, same street, similar street",
        comparison_levels=[
            _gated_null_level("street_std_l IS NULL OR street_std_r IS NULL", "Street", c, "household"),
            _level(
                lambda d: (
                    "street_std_l = street_std_r AND coalesce(house_number_l, '') = coalesce(house_number_r, '')"
                ),
                "Same house number and street",
            ),
            cll.ExactMatchLevel("street_std").configure(label_for_charts="Same street, other number"),
            cll.JaroWinklerLevel("street_std", c.street_jaro_winkler).configure(
                label_for_charts=f"Street Jaro-Winkler >= {c.street_jaro_winkler}"
            ),
            cll.ElseLevel(),
        ],
    )
    postcode_city = cl.CustomComparison(
        output_column_name="postcode_city",
        comparison_description="postcode and city_std: both, postcode, city, département",
        comparison_levels=[
            _gated_null_level(
                "(postcode_l IS NULL OR postcode_r IS NULL) AND (city_std_l IS NULL OR city_std_r IS NULL)",
                "Postcode and city",
                c,
                "household",
            ),
            _level(
                lambda d: "postcode_l = postcode_r AND city_std_l = city_std_r", "Same postcode and city"
            ),
            cll.ExactMatchLevel("postcode").configure(label_for_charts="Same postcode"),
            cll.ExactMatchLevel("city_std").configure(label_for_charts="Same city, other postcode"),
            cll.ExactMatchLevel(ColumnExpression("postcode").substr(1, 2)).configure(
                label_for_charts="Same département"
            ),
            cll.ElseLevel(),
        ],
    )
    return [first_name, last_name, birth_date, email, phone, address, postcode_city]


def build_settings(config: MatchingConfig):
    """The Splink model specification (comparisons, blocking rules, EM settings) as a ``SettingsCreator``.

    It is backend-free: Splink renders its SQL for DuckDB or Spark when a linker is built. Its m and u
    probabilities are untrained; :func:`train_model` estimates them.

    Example::

        settings = build_settings(load_matching_config())
        settings.create_settings_dict("spark")["comparisons"][0]["output_column_name"]   # 'first_name'
    """
    from splink import SettingsCreator

    if config is None:
        raise ValueError("build_settings: 'config' cannot be None (use load_matching_config())")
    p = config.probabilistic
    return SettingsCreator(
        link_type="dedupe_only",
        unique_id_column_name=UNIQUE_ID,
        comparisons=_comparisons(p.comparisons),
        blocking_rules_to_generate_predictions=[r.splink_rule() for r in config.blocking.rules],
        em_convergence=p.training.em_convergence,
        max_iterations=p.training.em_max_iterations,
        retain_matching_columns=False,
        retain_intermediate_calculation_columns=False,
    )


def model_input(records: DataFrame, config: MatchingConfig) -> DataFrame:
    """The records Splink sees: model columns only, and only records with enough identity to be matched.

    Cookie-only or email-event-only records carry no name, birth date or phone; the deterministic step
    links them on their identifiers, and here they would only inflate the pair counts. Records of
    ``contact_records.sources`` that carry an owner column are left out too (see :class:`ContactRecords`).
    """
    contact = config.probabilistic.contact_records
    needed = [*MODEL_COLUMNS, *((["source", *contact.owner_columns]) if contact.sources else [])]
    missing = [c for c in needed if c not in records.columns]
    if missing:
        raise ValueError(f"model_input: records lack column(s) {', '.join(missing)} (see spark_lib.schemas.CUSTOMER_RECORDS)")
    if contact.sources and contact.owner_columns:
        owned = F.lit(False)
        for column in contact.owner_columns:
            owned = owned | F.col(column).isNotNull()
        records = records.where(~(F.col("source").isin(*contact.sources) & owned))
    keep = None
    for group in config.probabilistic.min_identity:
        condition = None
        for column in group:
            present = F.col(column).isNotNull()
            condition = present if condition is None else condition & present
        keep = condition if keep is None else keep | condition
    return records.select(*MODEL_COLUMNS).where(keep)


def _model_records(records_df: DataFrame, config: MatchingConfig, inputs: DataFrame | None) -> DataFrame:
    """The caller's :func:`model_input` of ``records_df`` when it has one (persisted), else a fresh one."""
    return inputs if inputs is not None else model_input(records_df, config)


# --------------------------------------------------------------------------------------------------
# Training
# --------------------------------------------------------------------------------------------------


@dataclass
class TrainedModel:
    """A trained model and how it was made."""

    #: Splink's model JSON (settings with trained m, u and prior), SQL rendered for Spark
    model_json: dict[str, Any]
    #: seconds per stage: preflight, sample, prior, u, em, export
    timings: dict[str, float]
    #: pairs each prediction blocking rule generates on the model input (pre-flight)
    comparison_counts: dict[str, int]
    backend: str
    #: records in the model input, and in the training sample
    input_records: int
    training_records: int
    #: how the prior was set: "deterministic_links" or "prior_rules"
    prior_source: str
    #: the training linker, for Splink's charts (see :func:`model_charts`)
    linker: Any = field(default=None, repr=False, compare=False)

    @property
    def probability_two_random_records_match(self) -> float:
        return float(self.model_json["probability_two_random_records_match"])

    @property
    def training_seconds(self) -> float:
        """The training's own duration: its stages, without the wait for the deterministic cores."""
        return round(sum(t for stage, t in self.timings.items() if stage != WAIT_FOR_CORES), 3)


@contextmanager
def _stage(timings: dict[str, float], name: str) -> Iterator[None]:
    start = time.perf_counter()
    try:
        yield
    finally:
        timings[name] = round(time.perf_counter() - start, 3)
        logger.info("probabilistic matching: %s took %.1f s", name, timings[name])


def _spark_api(spark: SparkSession, config: MatchingConfig):
    from splink import SparkAPI

    # Splink persists its intermediate tables; "persist" keeps them in executor memory, which suits local
    # runs, while "parquet"/"delta_lake_table" (with a checkpoint dir) suit clusters: see the config.
    return SparkAPI(spark_session=spark, break_lineage_method=config.probabilistic.spark_break_lineage)


def _sample(records: DataFrame, n_records: int, max_records: int, seed: int) -> DataFrame:
    """A uniform sample of about ``max_records`` records, stable across runs (hash of the key, not rand())."""
    if not max_records or n_records <= max_records:
        return records
    buckets = 1_000_000
    threshold = int(buckets * max_records / n_records)
    return records.where(F.pmod(F.xxhash64(F.col(UNIQUE_ID), F.lit(seed)), F.lit(buckets)) < threshold)


def count_linked_pairs(records: DataFrame, links: DataFrame, hops: int = 3) -> int:
    """Record pairs that ``links`` (record_key_l, record_key_r) put in the same group, among ``records``.

    Deterministic links are often stars (each record of a group linked to the group's first record: n - 1
    edges for n * (n - 1) / 2 pairs), so the links are grouped first: every record takes the smallest key
    within ``hops`` links (min-label propagation), and a group of ``k`` records holds ``k * (k - 1) / 2``
    pairs. Exact for stars and short chains; longer chains split into a few groups (fewer pairs counted).
    All of it is one Spark job.
    """
    for column in ("record_key_l", "record_key_r"):
        if column not in links.columns:
            raise ValueError(f"deterministic_pairs: missing column {column!r} (expected record_key_l, record_key_r)")
    keys = records.select(F.col(UNIQUE_ID).alias("node"))
    edges = links.select(F.col("record_key_l").alias("a"), F.col("record_key_r").alias("b")).where(F.col("a") != F.col("b"))
    edges = (
        edges.unionByName(edges.select(F.col("b").alias("a"), F.col("a").alias("b")))
        .join(keys.withColumnRenamed("node", "a"), "a", "left_semi")
        .join(keys.withColumnRenamed("node", "b"), "b", "left_semi")
        .distinct()
    )
    labels = edges.groupBy("a").agg(F.least(F.first("a"), F.min("b")).alias("label")).withColumnRenamed("a", "node")
    for _ in range(hops - 1):
        neighbour_labels = edges.join(labels.withColumnRenamed("node", "b"), "b").groupBy("a").agg(F.min("label").alias("n"))
        labels = (
            labels.join(neighbour_labels.withColumnRenamed("a", "node"), "node", "left")
            .select("node", F.least("label", F.coalesce("n", "label")).alias("label"))
        )
    sizes = labels.groupBy("label").agg(F.count(F.lit(1)).alias("k"))
    total = sizes.agg(F.sum(F.col("k") * (F.col("k") - 1) / 2).cast("long").alias("pairs")).collect()[0]["pairs"]
    return int(total or 0)


def count_core_pairs(records: DataFrame, cores: DataFrame) -> int:
    """Record pairs of ``records`` that share a deterministic core (``cores``: record_key, core_id).

    Exact where :func:`count_linked_pairs` follows a few hops: the cores are the connected components of
    every deterministic link, which the match job computes once for clustering anyway. A core holding ``k``
    of the records holds ``k * (k - 1) / 2`` of their pairs. One Spark job.
    """
    for column in ("record_key", "core_id"):
        if column not in cores.columns:
            raise ValueError(f"deterministic_cores: missing column {column!r} (expected record_key, core_id)")
    sizes = records.select(UNIQUE_ID).join(cores.select(F.col("record_key").alias(UNIQUE_ID), "core_id"), UNIQUE_ID)
    sizes = sizes.groupBy("core_id").agg(F.count(F.lit(1)).alias("k"))
    total = sizes.agg(F.sum(F.col("k") * (F.col("k") - 1) / 2).cast("long").alias("pairs")).collect()[0]["pairs"]
    return int(total or 0)


def prior_from_links(links: int, n_records: int, recall: float) -> float:
    """``probability_two_random_records_match`` from a count of linked pairs and their assumed recall."""
    total_pairs = n_records * (n_records - 1) / 2
    if total_pairs <= 0:
        raise ValueError("prior_from_links: fewer than two records")
    if links <= 0:
        raise ValueError("prior_from_links: no deterministic link among the model's records")
    return min(links / recall / total_pairs, 0.5)


def train_model(
    spark: SparkSession,
    records_df: DataFrame,
    config: MatchingConfig,
    deterministic_pairs: DataFrame | None = None,
    deterministic_cores: DataFrame | Callable[[], DataFrame] | None = None,
    inputs: DataFrame | None = None,
) -> TrainedModel:
    """Estimate the model's parameters on ``records_df`` (``silver.customer_records`` rows).

    ``deterministic_pairs`` (columns ``record_key_l``, ``record_key_r``), when given, sets the prior: the
    record pairs they group together (:func:`count_linked_pairs`), divided by
    ``training.deterministic_recall``, over all pairs of the model input. ``deterministic_cores`` (columns
    ``record_key``, ``core_id``: the connected components of those links), when given instead, gives the
    same count exactly and faster (:func:`count_core_pairs`); it may be a function returning them, called
    only once u is estimated: a caller that trains in a background thread while it computes the cores passes
    one that waits for them (``timings[WAIT_FOR_CORES]``: how long). ``inputs``: :func:`model_input` of
    ``records_df``, when the caller already has it (persisted: training and scoring read it several times). Raises
    :class:`~spark_lib.matching.blocking.ComparisonLimitExceededError` before any training if a
    prediction blocking rule exceeds its limit.

    Example::

        model = train_model(spark, spark.read.format("delta").load(path), load_matching_config())
        model.model_json["probability_two_random_records_match"]
    """
    from splink import Linker

    if records_df is None:
        raise ValueError("train_model: 'records_df' cannot be None")
    training = config.probabilistic.training
    timings: dict[str, float] = {}

    with _stage(timings, "preflight"):
        records = _model_records(records_df, config, inputs)
        counts = count_comparisons(records, config.blocking.rules)
        check_comparison_limits(counts, config.blocking)
    if counts.records < 2:
        raise ValueError("train_model: fewer than two records carry enough identity to be matched")

    with _stage(timings, "sample"):
        sample = _sample(records, counts.records, training.max_records, training.seed)
        if training.backend == "duckdb":
            from splink import DuckDBAPI

            db_api = DuckDBAPI()
            table = sample.toArrow()
            training_records = table.num_rows
        else:
            db_api = _spark_api(spark, config)
            table = sample.persist()
            training_records = table.count()
        linker = Linker(db_api.register(table), build_settings(config), log_level=logging.WARNING)

    # u does not depend on the prior: it is estimated first, so the cores may still be on their way.
    with _stage(timings, "u"):
        _estimate_u(linker, db_api, table, config)

    if callable(deterministic_cores):
        with _stage(timings, WAIT_FOR_CORES):
            deterministic_cores = deterministic_cores()

    with _stage(timings, "prior"):
        if deterministic_cores is not None or deterministic_pairs is not None:
            if deterministic_cores is not None:
                links = count_core_pairs(records, deterministic_cores)
            else:
                links = count_linked_pairs(records, deterministic_pairs)
            prior = prior_from_links(links, counts.records, training.deterministic_recall)
            # Splink's own estimator sets this same attribute; the prior is not a trainable parameter.
            linker._settings_obj._probability_two_random_records_match = prior
            prior_source = "deterministic_links"
        else:
            linker.training.estimate_probability_two_random_records_match(
                [r.splink_rule() for r in training.prior_rules], recall=training.prior_rules_recall
            )
            prior_source = "prior_rules"

    with _stage(timings, "em"):
        for rule in training.em_blocking_rules:
            linker.training.estimate_parameters_using_expectation_maximisation(
                rule.splink_rule(), estimate_without_term_frequencies=training.em_without_term_frequencies
            )

    with _stage(timings, "export"):
        _floor_m_probabilities(linker, training.min_m_probability)
        model_json = settings_for_dialect(linker.misc.save_model_to_json(), config, "spark")
    if training.backend == "spark":
        table.unpersist()

    return TrainedModel(
        model_json=model_json,
        timings=timings,
        comparison_counts=counts.as_dict(),
        backend=training.backend,
        input_records=counts.records,
        training_records=training_records,
        prior_source=prior_source,
        linker=linker,
    )


def _estimate_u(linker, db_api, table, config: MatchingConfig) -> None:
    """u by random sampling, on the model *without* the household gates, copied into ``linker``.

    The gates turn most random pairs (different first names) into null levels, which would leave the u of
    email, phone and address to the few random pairs sharing a first name, on small data mostly true
    matches. Agreeing on an email is about as rare among all non-matching pairs as among those sharing a
    first name, so u is estimated on every pair and copied level by level (the levels are the same).
    """
    from splink import Linker

    training = config.probabilistic.training
    if not config.probabilistic.comparisons.household_gate:
        target = linker
    else:
        ungated = dataclasses.replace(
            config,
            probabilistic=dataclasses.replace(
                config.probabilistic,
                comparisons=dataclasses.replace(config.probabilistic.comparisons, household_gate=False),
            ),
        )
        target = Linker(db_api.register(table), build_settings(ungated), log_level=logging.WARNING)
    # One pass over u_max_pairs sampled pairs: no early stop (rare levels must be seen) and no chunks, since
    # every chunk is a query and, on Spark, each query costs seconds.
    target.training.estimate_u_using_random_sampling(
        max_pairs=training.u_max_pairs, seed=training.seed, min_count_per_level=None, num_chunks=1
    )
    if target is linker:
        return
    for gated, plain in zip(linker._settings_obj.comparisons, target._settings_obj.comparisons):
        for level, source in zip(gated._comparison_levels_excluding_null, plain._comparison_levels_excluding_null):
            level._trained_u_probabilities = list(source._trained_u_probabilities)
    linker._populate_m_u_from_trained_values()


def _floor_m_probabilities(linker, floor: float) -> None:
    """Raise m probabilities below ``floor`` to it. A level seen neither among the training matches nor among
    random pairs (``u`` unknown too) gets weight 0 (m = u = floor): no evidence either way."""

    def estimated(value: Any) -> bool:
        return isinstance(value, float)  # None: never estimated; a string: "level not observed"

    for comparison in linker._settings_obj.comparisons:
        for level in comparison._comparison_levels_excluding_null:
            m, u = level._m_probability, level._u_probability
            if not estimated(u) and not estimated(m):
                level.m_probability = level.u_probability = floor
            elif not estimated(m) or m < floor:
                level.m_probability = floor


def settings_for_dialect(trained: Mapping[str, Any], config: MatchingConfig, dialect: str) -> dict[str, Any]:
    """The trained parameters of ``trained`` (a model JSON of any backend) in settings rendered for ``dialect``.

    Splink's JSON stores SQL already rendered for the backend that trained it (DuckDB's
    ``jaro_winkler_similarity`` is Spark's ``jaro_winkler``); the levels are rebuilt from the config and
    the m, u and prior copied across, level by level.
    """
    target = build_settings(config).create_settings_dict(dialect)
    source_comparisons = {c["output_column_name"]: c for c in trained["comparisons"]}
    for comparison in target["comparisons"]:
        name = comparison["output_column_name"]
        if name not in source_comparisons:
            raise ValueError(f"settings_for_dialect: the trained model has no comparison {name!r}")
        source_levels = source_comparisons[name]["comparison_levels"]
        if len(source_levels) != len(comparison["comparison_levels"]):
            raise ValueError(
                f"settings_for_dialect: comparison {name!r} has {len(source_levels)} levels in the trained model "
                f"and {len(comparison['comparison_levels'])} in the config: retrain the model"
            )
        for level, source in zip(comparison["comparison_levels"], source_levels):
            for key in ("m_probability", "u_probability"):
                if source.get(key) is not None:
                    level[key] = source[key]
    target["probability_two_random_records_match"] = trained["probability_two_random_records_match"]
    target["sql_dialect"] = dialect
    return target


# --------------------------------------------------------------------------------------------------
# Scoring and explanation
# --------------------------------------------------------------------------------------------------


def _spark_linker(
    spark: SparkSession,
    records: DataFrame,
    model_json: Mapping[str, Any],
    config: MatchingConfig,
    db_api=None,
    blocking_rules: list | None = None,
    **overrides,
):
    from splink import Linker, SettingsCreator

    if not model_json or "comparisons" not in model_json:
        raise ValueError("model_json must be a Splink model (a dict with 'comparisons'), e.g. TrainedModel.model_json")
    if model_json.get("sql_dialect", "spark") != "spark":
        model_json = settings_for_dialect(model_json, config, "spark")
    settings = SettingsCreator.from_path_or_dict(dict(model_json))
    # Blocking is operational, not a model parameter: it always comes from the config the pre-flight checked.
    settings.blocking_rules_to_generate_predictions = blocking_rules or [r.splink_rule() for r in config.blocking.rules]
    for key, value in overrides.items():
        setattr(settings, key, value)
    db_api = db_api or _spark_api(spark, config)
    return Linker(db_api.register(records, table_name=_table_name("input")), settings, log_level=logging.WARNING)


def _table_name(what: str) -> str:
    """A fresh temp-view name: Spark's views are global to the session, Splink's registry to its db_api."""
    return f"rcu_match_{what}_{uuid.uuid4().hex[:8]}"


def preflight(
    spark: SparkSession, records_df: DataFrame, config: MatchingConfig, inputs: DataFrame | None = None
) -> dict[str, int]:
    """Pairs each prediction blocking rule would generate on ``records_df``; raises above the limits.

    ``inputs``: :func:`model_input` of ``records_df``, when the caller already has it.

    Example::

        preflight(spark, records, config)   # {'email': 1204, 'mobile': 388, ...}
        # ComparisonLimitExceededError: blocking rule 'postcode' (postcode) would generate 51,230,112 ...
    """
    counts = count_comparisons(_model_records(records_df, config, inputs), config.blocking.rules)
    check_comparison_limits(counts, config.blocking)
    return counts.as_dict()


def predict_pairs(
    spark: SparkSession,
    records_df: DataFrame,
    model_json: Mapping[str, Any],
    config: MatchingConfig,
    threshold: float | None = None,
    *,
    check_limits: bool = True,
    inputs: DataFrame | None = None,
    linked: DataFrame | None = None,
) -> DataFrame:
    """Score the blocked pairs of ``records_df`` with the model; a Spark DataFrame of pairs at or above ``threshold``.

    Columns: ``record_key_l < record_key_r``, ``match_probability``, ``match_weight``, ``blocking_rule``
    (the first rule that found the pair) and one ``gamma_<comparison>`` per comparison (the level index;
    -1 is the null level). ``threshold`` defaults to ``probabilistic.threshold_match_probability``.
    ``inputs``: :func:`model_input` of ``records_df``, when the caller already has it (persisted: Splink reads
    its input once per term-frequency table and per blocking rule). ``linked``: ``record_key, core_id``, the
    deterministic cores (:meth:`~spark_lib.matching.clustering.DeterministicCores.by_record`); a pair of
    records of one core is not scored, since the deterministic step links it whatever its score (on the
    100,000-person benchmark data, 37 % of the blocked pairs).

    Example::

        pairs = predict_pairs(spark, records, load_champion_model(), config, threshold=0.9)
    """
    if records_df is None:
        raise ValueError("predict_pairs: 'records_df' cannot be None")
    if threshold is None:
        threshold = config.probabilistic.threshold_match_probability
    if not 0 <= threshold <= 1:
        raise ValueError(f"predict_pairs: threshold must be a probability in [0, 1], got {threshold}")
    records = _model_records(records_df, config, inputs)
    if check_limits:
        check_comparison_limits(count_comparisons(records, config.blocking.rules), config.blocking)
    rules = None
    if linked is not None:
        require_columns(linked, ["record_key", "core_id"], "linked")
        core = F.coalesce(F.col("core_id"), F.col(UNIQUE_ID)).alias(CORE_COLUMN)  # a record in no core: its own
        records = records.join(linked.select(F.col("record_key").alias(UNIQUE_ID), "core_id"), UNIQUE_ID, "left")
        # Materialised: Splink reads its input once per term-frequency table and per blocking rule.
        records = records.select(*(c for c in records.columns if c != "core_id"), core).localCheckpoint()
        rules = [r.splink_rule(unless_equal=CORE_COLUMN) for r in config.blocking.rules]
    # Splink keeps the gamma columns only with the matching columns; the final select drops the latter.
    linker = _spark_linker(spark, records, model_json, config, blocking_rules=rules, retain_matching_columns=True)
    scored = linker.inference.predict(threshold_match_probability=threshold, warning_mode="never").as_spark_dataframe()
    gammas = [c for c in scored.columns if c.startswith("gamma_")]
    rule_names = F.array(*[F.lit(r.name) for r in config.blocking.rules])
    return scored.select(
        "record_key_l",
        "record_key_r",
        "match_probability",
        "match_weight",
        F.element_at(rule_names, F.col("match_key").cast("int") + 1).alias("blocking_rule"),
        *gammas,
    )


@dataclass
class PairExplanation:
    """Why a pair scores what it scores: the prior, then one step per comparison (and term-frequency step)."""

    record_key_l: str
    record_key_r: str
    match_weight: float
    match_probability: float
    #: dicts with comparison, level, gamma, value_l, value_r, m_probability, u_probability, bayes_factor, match_weight
    steps: list[dict[str, Any]]
    #: Splink's waterfall chart (``.to_html()``)
    chart: Any = field(default=None, repr=False)


def explain_pair(
    spark: SparkSession,
    records_df: DataFrame,
    model_json: Mapping[str, Any],
    key_l: str,
    key_r: str,
    config: MatchingConfig | None = None,
) -> PairExplanation:
    """Score one pair of records and break its match weight down by comparison (Splink's waterfall).

    Term frequencies are those of all of ``records_df``, as when scoring. The steps' match weights add up
    to the pair's match weight.

    Example::

        explanation = explain_pair(spark, records, model_json, "crm:C001", "eshop_accounts:A17")
        [(s["comparison"], s["level"], round(s["match_weight"], 1)) for s in explanation.steps]
    """
    if not key_l or not key_r:
        raise ValueError("explain_pair: 'key_l' and 'key_r' must be record keys")
    config = config or load_matching_config()
    records = model_input(records_df, config)
    found = {row[UNIQUE_ID] for row in records.where(F.col(UNIQUE_ID).isin(key_l, key_r)).select(UNIQUE_ID).collect()}
    for key in (key_l, key_r):
        if key not in found:
            raise ValueError(f"explain_pair: no record {key!r} among the records the model scores")
    db_api = _spark_api(spark, config)
    linker = _spark_linker(
        spark, records, model_json, config, db_api=db_api,
        retain_matching_columns=True, retain_intermediate_calculation_columns=True,
    )
    left, right = (
        db_api.register(records.where(F.col(UNIQUE_ID) == key), table_name=_table_name("record")) for key in (key_l, key_r)
    )
    scored = linker.inference.score_pair(left, right).as_record_list()
    chart = linker.visualisations.waterfall_chart(scored, filter_nulls=False)
    steps = [
        {
            "comparison": r["column_name"],
            "level": r["label_for_charts"],
            "gamma": r["comparison_vector_value"],
            "value_l": r["value_l"],
            "value_r": r["value_r"],
            "m_probability": r["m_probability"],
            "u_probability": r["u_probability"],
            "bayes_factor": r["bayes_factor"],
            "match_weight": r["log2_bayes_factor"],
        }
        for r in chart.raw_records
        if r["column_name"] != "Final score"
    ]
    record = scored[0]
    return PairExplanation(
        record_key_l=key_l,
        record_key_r=key_r,
        match_weight=float(record["match_weight"]),
        match_probability=float(record["match_probability"]),
        steps=steps,
        chart=chart,
    )


def model_charts(linker, *, inline: bool = True) -> dict[str, str]:
    """Splink's diagnostic charts of a trained linker as standalone HTML documents, by name.

    ``inline`` embeds the Vega libraries, so that the files open without internet access (about 1 MB each).
    """
    if linker is None:
        raise ValueError("model_charts: 'linker' cannot be None (use TrainedModel.linker)")
    charts = {
        "match_weights": linker.visualisations.match_weights_chart(),
        "m_u_parameters": linker.visualisations.m_u_parameters_chart(),
    }
    if linker._em_training_sessions:
        charts["parameter_estimate_comparisons"] = linker.visualisations.parameter_estimate_comparisons_chart()
    return {name: chart.to_html(inline=inline) for name, chart in charts.items()}


def m_u_table(model_json: Mapping[str, Any]) -> list[dict[str, Any]]:
    """One row per comparison level (null levels excluded): m, u, Bayes factor and match weight."""
    rows = []
    for comparison in model_json["comparisons"]:
        gamma = len([lv for lv in comparison["comparison_levels"] if not lv.get("is_null_level")]) - 1
        for level in comparison["comparison_levels"]:
            if level.get("is_null_level"):
                continue
            m, u = level.get("m_probability"), level.get("u_probability")
            bayes_factor = m / u if m is not None and u else None
            rows.append(
                {
                    "comparison": comparison["output_column_name"],
                    "gamma": gamma,
                    "level": level.get("label_for_charts", level["sql_condition"]),
                    "m_probability": m,
                    "u_probability": u,
                    "bayes_factor": bayes_factor,
                    "match_weight": math.log2(bayes_factor) if bayes_factor else None,
                }
            )
            gamma -= 1
    return rows
