"""Blocking for probabilistic matching: which record pairs Splink scores, and a guard on how many.

A blocking rule is a list of Spark SQL expressions that must be equal (and not null) on both records of a
pair, e.g. ``[last_name_std, birth_date]``. Rules are named in ``conf/matching.yaml`` (``blocking.rules``) so
that an error can say which one is at fault.

:func:`count_comparisons` is the pre-flight: for every rule it counts the pairs the rule generates on its
own, ``sum(n * (n - 1) / 2)`` over its blocks, in one Spark job for all rules, without building a pair.
:func:`check_comparison_limits` refuses a run whose rules would generate more pairs than configured::

    counts = count_comparisons(records, config.blocking.rules)
    check_comparison_limits(counts, config.blocking)   # ComparisonLimitExceededError naming the rule

The count is Splink's *pre-filter* count for ``dedupe_only`` (a pair found by two rules is counted twice;
Splink scores it once), so the total is an upper bound of what ``predict`` will score.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Mapping, Sequence

from pyspark.sql import DataFrame
from pyspark.sql import functions as F

from spark_lib.config import ConfigError, read_section


class ComparisonLimitExceededError(RuntimeError):
    """A blocking rule (or all of them together) would generate more comparisons than the configured limit."""

    def __init__(self, message: str, rule: str, comparisons: int, limit: int):
        super().__init__(message)
        self.rule = rule
        self.comparisons = comparisons
        self.limit = limit


@dataclass(frozen=True)
class BlockingRuleSpec:
    """One named blocking rule: records pair up when every expression is equal and not null on both."""

    name: str
    expressions: tuple[str, ...]

    def splink_rule(self, unless_equal: str | None = None, sql_dialect: str = "spark"):
        """The rule as a Splink ``block_on`` creator (dialect-free; Splink renders it per backend).

        ``unless_equal``: a column; pairs whose two records hold the same value of it are not generated
        (records already linked another way). The rule is then SQL rendered for ``sql_dialect``.
        """
        from splink import block_on

        rule = block_on(*self.expressions)
        if unless_equal is None:
            return rule
        from splink.blocking_rule_library import CustomRule

        sql = rule.get_blocking_rule(sql_dialect).blocking_rule_sql
        return CustomRule(f"({sql}) AND l.{unless_equal} <> r.{unless_equal}", sql_dialect)


@dataclass(frozen=True)
class BlockingConfig:
    """The ``blocking:`` section of ``conf/matching.yaml``."""

    rules: tuple[BlockingRuleSpec, ...]
    #: a run is refused when one rule alone would generate more pairs than this
    max_comparisons_per_rule: int = 20_000_000
    #: ... or when all rules together would (sum of the per-rule counts: an upper bound)
    max_comparisons_total: int = 50_000_000
    file: str = ""

    def rule(self, name: str) -> BlockingRuleSpec:
        for rule in self.rules:
            if rule.name == name:
                return rule
        raise ConfigError(f"{self.file}: blocking.rules: no rule named {name!r} (known: {', '.join(self.names)})")

    @property
    def names(self) -> list[str]:
        return [r.name for r in self.rules]


def parse_rules(data: Any, where: str, file: str) -> tuple[BlockingRuleSpec, ...]:
    """``{name: [expression, ...]}`` -> rule specs, refusing empty rules and non-string expressions."""
    if not isinstance(data, dict) or not data:
        raise ConfigError(f"{file}: {where}: expected a non-empty mapping of rule name to a list of expressions")
    rules = []
    for name, expressions in data.items():
        if isinstance(expressions, str):
            expressions = [expressions]
        if (
            not isinstance(expressions, list)
            or not expressions
            or not all(isinstance(e, str) and e.strip() for e in expressions)
        ):
            raise ConfigError(
                f"{file}: {where}.{name}: expected a non-empty list of SQL expressions, got {expressions!r}"
            )
        rules.append(BlockingRuleSpec(name=str(name), expressions=tuple(e.strip() for e in expressions)))
    return tuple(rules)


def parse_blocking(data: Any, file: str) -> BlockingConfig:
    """The ``blocking:`` mapping, validated (unknown keys and wrong types name the key and the file)."""
    config = read_section(BlockingConfig, data, "blocking", file, nested={"rules": parse_rules}, preset={"file": file})
    for key in ("max_comparisons_per_rule", "max_comparisons_total"):
        if getattr(config, key) <= 0:
            raise ConfigError(f"{file}: blocking.{key}: expected a positive integer, got {getattr(config, key)!r}")
    return config


@dataclass(frozen=True)
class ComparisonCounts:
    """What :func:`count_comparisons` found: pairs per rule, the largest block per rule, the record count."""

    comparisons: Mapping[str, int]
    largest_block: Mapping[str, int]
    records: int

    @property
    def total(self) -> int:
        return sum(self.comparisons.values())

    def as_dict(self) -> dict[str, int]:
        return dict(self.comparisons)


def count_comparisons(records: DataFrame, rules: Sequence[BlockingRuleSpec]) -> ComparisonCounts:
    """Count, in one Spark job, the pairs each rule generates on ``records`` (one row per record).

    Every record contributes one row per rule whose expressions are all non-null; rows are grouped by
    (rule, hash of the key values), and a block of ``n`` records gives ``n * (n - 1) / 2`` pairs. A 64-bit
    hash stands for the key so that the shuffle moves 16 bytes a row; a collision would only merge two
    blocks in the count, with odds of about 1e-8 for a million keys.
    """
    if not rules:
        raise ValueError("count_comparisons needs at least one blocking rule")
    entries = [
        F.struct(F.lit(-1).alias("rule"), F.lit(0).cast("long").alias("key"))  # rule -1 counts the records
    ]
    for index, rule in enumerate(rules):
        columns = [F.expr(e) for e in rule.expressions]
        present = columns[0].isNotNull()
        for column in columns[1:]:
            present = present & column.isNotNull()
        entries.append(
            F.when(present, F.struct(F.lit(index).alias("rule"), F.xxhash64(*columns).alias("key")))
        )
    blocks = (
        records.select(F.explode(F.array(*entries)).alias("b"))
        .where(F.col("b").isNotNull())
        .groupBy("b.rule", "b.key")
        .agg(F.count(F.lit(1)).alias("n"))
    )
    per_rule = blocks.groupBy("rule").agg(
        F.sum(F.col("n") * (F.col("n") - 1) / 2).cast("long").alias("comparisons"),
        F.max("n").alias("largest_block"),
        F.sum("n").alias("records"),
    )
    found = {row["rule"]: row for row in per_rule.collect()}
    n_records = int(found[-1]["records"]) if -1 in found else 0
    comparisons = {r.name: int(found[i]["comparisons"]) if i in found else 0 for i, r in enumerate(rules)}
    largest = {r.name: int(found[i]["largest_block"]) if i in found else 0 for i, r in enumerate(rules)}
    return ComparisonCounts(comparisons=comparisons, largest_block=largest, records=n_records)


def check_comparison_limits(counts: ComparisonCounts, config: BlockingConfig) -> None:
    """Raise :class:`ComparisonLimitExceededError` naming the rule when a limit is exceeded."""
    where = f"{config.file or 'conf/matching.yaml'}: blocking"
    by_name = {r.name: r for r in config.rules}
    for name, comparisons in counts.comparisons.items():
        if comparisons > config.max_comparisons_per_rule:
            rule = by_name.get(name)
            shown = ", ".join(rule.expressions) if rule else name
            raise ComparisonLimitExceededError(
                f"blocking rule {name!r} ({shown}) would generate {comparisons:,} comparisons, above the limit "
                f"of {config.max_comparisons_per_rule:,} ({where}.max_comparisons_per_rule); its largest block "
                f"holds {counts.largest_block.get(name, 0):,} records: make the rule more selective",
                rule=name,
                comparisons=comparisons,
                limit=config.max_comparisons_per_rule,
            )
    if counts.total > config.max_comparisons_total:
        worst = max(counts.comparisons, key=counts.comparisons.get)
        raise ComparisonLimitExceededError(
            f"the blocking rules together would generate {counts.total:,} comparisons, above the limit of "
            f"{config.max_comparisons_total:,} ({where}.max_comparisons_total); the largest contributor is rule "
            f"{worst!r} with {counts.comparisons[worst]:,}",
            rule=worst,
            comparisons=counts.total,
            limit=config.max_comparisons_total,
        )
