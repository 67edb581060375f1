"""Configuration of the probabilistic model: the ``probabilistic:`` and ``blocking:`` sections of ``conf/matching.yaml``.

Every section is a frozen dataclass, filled strictly: an unknown or missing key, or a value of the wrong
type, raises :class:`~spark_lib.config.ConfigError` naming the key and the file. The thresholds of the
comparisons live here; the comparison levels themselves are fixed in code
(:mod:`~spark_lib.matching.probabilistic.comparisons`), so that a config cannot describe a model the code
cannot score.

Example::

    config = load_matching_config()                     # conf/matching.yaml
    config.probabilistic.training.backend               # 'duckdb'
    [rule.name for rule in config.blocking.rules]       # ['email', 'mobile', ...]
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any

from spark_lib.config import DEFAULT_CONF_DIR, ConfigError, read_section, read_yaml
from spark_lib.matching.blocking import BlockingConfig, BlockingRuleSpec, parse_blocking, parse_rules

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
    "country",
)
#: Splink's unique id column: every record of every source, compared by ``dedupe_only``.
UNIQUE_ID = "record_key"
#: ``probabilistic.training.backend``: where the parameters are estimated (scoring is always on Spark).
BACKENDS = ("duckdb", "spark")
#: ``probabilistic.spark_break_lineage``: how Splink materialises its intermediate tables on Spark.
BREAK_LINEAGE_METHODS = ("persist", "checkpoint", "parquet", "delta_lake_table")


@dataclass(frozen=True)
class ComparisonSettings:
    """Thresholds of the comparisons; their levels are fixed in code (see :func:`.comparisons.build_settings`)."""

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
    #: EM rules run only when ``em_blocking_rules`` leave a comparison without an estimate (a rule that
    #: finds no pair, as a pivot rule does on data without pivots), in order, until every comparison has
    #: one. EM cannot estimate a comparison that reads a column of its rule, and the household gates read
    #: first names and birth dates: these rules block on address and last-name columns only.
    em_fallback_rules: tuple[BlockingRuleSpec, ...] = (
        BlockingRuleSpec("address", ("postcode", "house_number", "street_std")),
        BlockingRuleSpec("last_name_city", ("last_name_std", "city_std")),
        BlockingRuleSpec("last_name_street", ("last_name_std", "street_std")),
    )
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
    #: pairs at or above this probability are returned by :func:`.scoring.predict_pairs`
    threshold_match_probability: float = 0.5
    #: how Splink materialises intermediate tables on Spark (persist suits local runs; parquet or
    #: delta_lake_table suit clusters, with a checkpoint dir)
    spark_break_lineage: str = "persist"
    contact_records: ContactRecords = ContactRecords()
    #: a match run works from the changes since the last run (spark_lib.matching.incremental) unless more than
    #: this share of the records is new, changed or deleted: it then matches them all again
    incremental_max_share: float = 0.25


@dataclass(frozen=True)
class MatchingConfig:
    """The probabilistic part of ``conf/matching.yaml`` (other modules read their own sections)."""

    probabilistic: ProbabilisticConfig
    blocking: BlockingConfig
    file: str = ""


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
        parsed = read_section(
            TrainingSettings, value, where, file_,
            nested={"em_blocking_rules": parse_rules, "prior_rules": parse_rules, "em_fallback_rules": parse_rules},
        )
        if parsed.backend not in BACKENDS:
            raise ConfigError(f"{file_}: {where}.backend: {parsed.backend!r} is not one of {', '.join(BACKENDS)}")
        for key in ("deterministic_recall", "prior_rules_recall"):
            if not 0 < getattr(parsed, key) <= 1:
                raise ConfigError(f"{file_}: {where}.{key}: expected a share in (0, 1], got {getattr(parsed, key)}")
        return parsed

    parsed = read_section(
        ProbabilisticConfig, data, "probabilistic", file, nested={"training": training, "min_identity": _min_identity}
    )
    if parsed.spark_break_lineage not in BREAK_LINEAGE_METHODS:
        raise ConfigError(
            f"{file}: probabilistic.spark_break_lineage: {parsed.spark_break_lineage!r} is not one of "
            f"{', '.join(BREAK_LINEAGE_METHODS)}"
        )
    if not 0 <= parsed.threshold_match_probability <= 1:
        raise ConfigError(f"{file}: probabilistic.threshold_match_probability: expected a probability in [0, 1]")
    if not 0 <= parsed.incremental_max_share <= 1:
        raise ConfigError(f"{file}: probabilistic.incremental_max_share: expected a share in [0, 1] (0: every run "
                          f"matches every record), got {parsed.incremental_max_share}")
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
