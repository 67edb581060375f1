"""Deterministic matching: records that share a pivot identifier are the same person.

Pivots (``conf/matching_rules.yaml``, section ``deterministic.pivots``, in priority order) are columns of
``silver.customer_records``: ``customer_ref``, ``account_id``, ``loyalty_card``, ``email_std``,
``phone_mobile``. ``account_id`` also carries the cookie -> account link: a web cookie record keeps the
``account_id`` its visitor logged in with, so it shares that value with the e-shop account record (and with
the account's orders).

Generic values
--------------
A value is *generic* (never used as a link, listed by :func:`generic_values` with the reason) when:

``pattern``
    it matches one of the pivot's configured regular expressions (``noreply@``, ``+33600000000``...);
``too_many_records``
    more than ``max_records`` records carry it (a store's phone typed on hundreds of receipts);
``too_many_other_identifiers``
    its records carry more than ``max_other_values`` distinct values of one other pivot (a store's phone on
    receipts bearing 40 different loyalty cards: receipts have no names, so this is what gives it away);
``too_many_first_names``
    its records show more than ``max_first_names`` *different* first names (a store's phone typed with the
    customers' names, a shared test address);
``shared_by_different_first_names``
    only with ``shared_value_policy: exclude``: its records show two or more different first names.

Two first names are the *same* when their ``first_name_canonical`` (nicknames already resolved by
standardisation: "fred" -> "frederic") are equal or a small typo apart (Levenshtein distance at most
``max_edits``, ``long_name_max_edits`` for names of ``long_name_length`` characters or more; shorter than
``min_length_for_edits`` must be equal), except when they differ only by a gendered suffix
(``distinct_suffixes``: Louis/Louise, Michel/Michelle, Jean/Jeanne are two people). The grouping of the
names of one value is one hop: each name joins the smallest name it is similar to.

Shared values: split rather than exclude
----------------------------------------
A family email shared by Marie and Paul must not link Marie to Paul. Per pivot (``shared_value_policy``):

* ``exclude``: drop the value altogether. No false link, but Marie's own records lose that link too.
* ``split`` (default): keep the edges only between records whose first names are the same (as above).
  Records without a first name (a cookie, an email-campaign contact) join the name group that holds a strict
  majority of the value's named records (``unnamed_records: majority``), or none (``unnamed_records: none``);
  with a tie they join nothing, so they can never bridge Marie and Paul.

``split`` keeps every link ``exclude`` keeps and adds the links within each first-name group, and it
creates no edge between different first names; its only extra risk is an unnamed record joining the wrong
name group. That risk is bounded where it costs most: an unnamed record whose values point to different
people (a receipt bearing Paul's loyalty card and the family email Marie mostly uses) would merge them, so it
keeps only the values whose main holder (the name group holding a strict majority of the value's named
records) agrees with that of its highest-priority pivot.

A third policy, ``link_all``, links every record bearing the value whatever the names: it is meant for ids
issued by a system, whose holder owns every record that bears them (an e-shop account and the orders placed
from it, even an order shipped to someone else as a gift). ``ignore_sources`` drops one
source's values of a pivot: an order's phone is its shipping contact's, so a gift order would otherwise
link the buyer's household to the recipient.

``split`` finds more true links than ``exclude`` for little precision; ``exclude`` remains available for
sources whose first names are unreliable. The measured comparison of the policies is in
``benchmarks/README.md`` ("Deterministic policies").

Birth dates: a pivot link does not hold on its own between clearly different dates
-----------------------------------------------------------------------------------
A mother and her daughter may share a first name and the family email. With ``birth_dates: split``
(default), the records of one value and first-name group whose birth dates are both known and *clearly
differ* are linked apart: two birth dates are the same person's when :func:`birth_dates_close` says so
(equal, one character apart, same year and month, day and month swapped), and each date joins the
earliest date it is close to, or that date's own group (two hops). Records without a birth date join the date group
holding the most records. Such records may still be linked by other pivots or by the probabilistic model,
which weighs every field; the deterministic step only stops asserting it. ``link_all`` pivots (ids issued
by a system) are never split.

Edges
-----
Within a group (pivot, value, first-name group, birth-date group) every record is linked to the group's smallest
``record_key`` (a star): n - 1 edges that give the same connected components as all n(n-1)/2 pairs.

Example::

    config = load_deterministic_config()           # conf/matching_rules.yaml
    edges = deterministic_edges(records, config)   # record_key_l, record_key_r, rule, value
    generic = generic_values(records, config)      # pivot, value, records, distinct_first_names, reason
"""

from __future__ import annotations

import os
import typing
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Mapping

from pyspark.sql import Column, DataFrame, Window
from pyspark.sql import functions as F
from pyspark.sql.types import StructType

from spark_lib import schemas
from spark_lib.columns import DataFrameMissingColumnError, require_columns  # noqa: F401 - re-exported
from spark_lib.config import DEFAULT_CONF_DIR, ConfigError, read_section, read_yaml

DEFAULT_RULES_FILE = DEFAULT_CONF_DIR / "matching_rules.yaml"
RULES_SECTIONS = ("deterministic", "clustering", "ids", "review")

EDGES_SCHEMA = schemas.DETERMINISTIC_EDGES
GENERIC_VALUES_SCHEMA = schemas.GENERIC_VALUES

SHARED_VALUE_POLICIES = ("split", "exclude", "link_all")
UNNAMED_POLICIES = ("majority", "none", "never")
BIRTH_DATE_POLICIES = ("split", "link")


# --------------------------------------------------------------------------------------------------
# Configuration
# --------------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class PivotRule:
    """When a value of one pivot column is generic, and how values shared by several first names are used."""

    #: more records than this carry the value: generic (a store's phone on hundreds of receipts)
    max_records: int = 50
    #: more different first names than this among its records: generic
    max_first_names: int = 3
    #: more distinct values of one other pivot on its records than this: generic (a store's phone typed on
    #: receipts that carry many different loyalty cards); 0 = not checked
    max_other_values: int = 0
    #: split: link only records whose first names agree; exclude: a value with 2+ first names is generic;
    #: link_all: link every record carrying the value whatever the names (an id issued by a system, whose
    #: holder owns every record bearing it: an e-shop account and the orders placed from it)
    shared_value_policy: str = "split"
    #: sources whose value of this pivot is not used (an order's phone is the shipping contact's: a gift's
    #: recipient, not the buyer)
    ignore_sources: tuple[str, ...] = ()
    #: Java regular expressions (``rlike``) of known placeholder values
    patterns: tuple[str, ...] = ()
    #: overrides ``deterministic.unnamed_records`` for this pivot; ``never``: records without a first name
    #: are never linked by it (a landline is a household's: without a name it cannot say who)
    unnamed_records: str | None = None


@dataclass(frozen=True)
class FirstNameSimilarity:
    """When two first names are the same person's (see the module docstring)."""

    column: str = "first_name_canonical"
    max_edits: int = 1
    long_name_length: int = 8
    long_name_max_edits: int = 2
    min_length_for_edits: int = 4
    #: names that differ only by one of these endings are two people: louis/louise, jean/jeanne
    distinct_suffixes: tuple[str, ...] = ("e", "le", "ne")


@dataclass(frozen=True)
class DeterministicConfig:
    """Section ``deterministic`` of ``conf/matching_rules.yaml``."""

    #: pivot column -> rule, in priority order (the first one names a record's match rule)
    pivots: Mapping[str, PivotRule] = field(
        default_factory=lambda: {  # the thresholds of conf/matching_rules.yaml, without its patterns
            "customer_ref": PivotRule(max_records=200, max_first_names=3),
            "account_id": PivotRule(max_records=5000, max_first_names=20, shared_value_policy="link_all"),
            "loyalty_card": PivotRule(max_records=5000, max_first_names=4, max_other_values=8),
            "email_std": PivotRule(max_records=300, max_first_names=3, max_other_values=6),
            "phone_mobile": PivotRule(
                max_records=300, max_first_names=3, max_other_values=4, ignore_sources=("eshop_orders",)
            ),
        }
    )
    first_names: FirstNameSimilarity = field(default_factory=FirstNameSimilarity)
    #: majority | none: how records without a first name use a value shared by several first names
    unnamed_records: str = "majority"
    #: split: a value shared by records whose known birth dates clearly differ links each birth date's
    #: records apart (a mother and her daughter of the same first name on one family email); link: ignore
    #: birth dates. Never applied to ``link_all`` pivots.
    birth_dates: str = "split"
    birth_date_column: str = "birth_date"

    def __post_init__(self) -> None:
        if self.birth_dates not in BIRTH_DATE_POLICIES:
            raise ConfigError(f"birth_dates: {self.birth_dates!r} is not one of {', '.join(BIRTH_DATE_POLICIES)}")
        for pivot, rule in self.pivots.items():
            if rule.shared_value_policy not in SHARED_VALUE_POLICIES:
                raise ConfigError(
                    f"pivots.{pivot}.shared_value_policy: {rule.shared_value_policy!r} "
                    f"is not one of {', '.join(SHARED_VALUE_POLICIES)}"
                )
            if rule.unnamed_records is not None and rule.unnamed_records not in UNNAMED_POLICIES:
                raise ConfigError(
                    f"pivots.{pivot}.unnamed_records: {rule.unnamed_records!r} "
                    f"is not one of {', '.join(UNNAMED_POLICIES)}"
                )
            if rule.max_records < 1 or rule.max_first_names < 1 or rule.max_other_values < 0:
                raise ConfigError(f"pivots.{pivot}: max_records and max_first_names must be >= 1")
        if self.unnamed_records not in UNNAMED_POLICIES:
            raise ConfigError(
                f"unnamed_records: {self.unnamed_records!r} is not one of {', '.join(UNNAMED_POLICIES)}"
            )
        if not self.pivots:
            raise ConfigError("pivots: give at least one pivot column")


def read_rules_file(path: str | os.PathLike | None = None) -> dict:
    """The sections of ``conf/matching_rules.yaml`` (or of ``path``), its top-level keys checked."""
    file = Path(path or DEFAULT_RULES_FILE)
    data = read_yaml(file)
    if not isinstance(data, dict):
        raise ConfigError(f"{file}: expected a mapping of sections ({', '.join(RULES_SECTIONS)})")
    unknown = sorted(set(data) - set(RULES_SECTIONS))
    if unknown:
        raise ConfigError(f"{file}: unknown section {unknown[0]!r} (allowed: {', '.join(RULES_SECTIONS)})")
    return data


def read_rules_section(section: str, path: str | os.PathLike | None = None) -> Any:
    """The raw mapping of one section of ``conf/matching_rules.yaml`` ({} when absent)."""
    return read_rules_file(path).get(section) or {}


def load_deterministic_config(path: str | os.PathLike | None = None) -> DeterministicConfig:
    """Section ``deterministic`` of ``conf/matching_rules.yaml`` (or of ``path``)."""
    file = str(path or DEFAULT_RULES_FILE)
    return read_section(DeterministicConfig, read_rules_section("deterministic", path), "deterministic", file)


def _as_config(config: DeterministicConfig | Mapping | None) -> DeterministicConfig:
    if config is None:
        return DeterministicConfig()
    if isinstance(config, DeterministicConfig):
        return config
    return read_section(DeterministicConfig, config, "deterministic")


# --------------------------------------------------------------------------------------------------
# First names
# --------------------------------------------------------------------------------------------------


def first_names_similar(a: Column, b: Column, rule: FirstNameSimilarity | None = None) -> Column:
    """True when first names ``a`` and ``b`` count as the same person's (null when either is null).

    Example::

        df.filter(first_names_similar(F.col("fn_l"), F.col("fn_r")))
    """
    rule = rule or FirstNameSimilarity()
    shortest = F.least(F.length(a), F.length(b))
    allowed = (
        F.when(shortest >= rule.long_name_length, F.lit(rule.long_name_max_edits))
        .when(shortest >= rule.min_length_for_edits, F.lit(rule.max_edits))
        .otherwise(F.lit(0))
    )
    gendered = F.lit(False)
    for suffix in rule.distinct_suffixes:
        gendered = gendered | (F.concat(a, F.lit(suffix)) == b) | (F.concat(b, F.lit(suffix)) == a)
    return (a == b) | ((F.levenshtein(a, b) <= allowed) & ~gendered)


def first_names_similar_py(a: str, b: str, rule: FirstNameSimilarity | None = None) -> bool:
    """The same test as :func:`first_names_similar` in plain Python (used inside pandas UDFs)."""
    rule = rule or FirstNameSimilarity()
    if a == b:
        return True
    shortest = min(len(a), len(b))
    if shortest >= rule.long_name_length:
        allowed = rule.long_name_max_edits
    elif shortest >= rule.min_length_for_edits:
        allowed = rule.max_edits
    else:
        allowed = 0
    if any(a + s == b or b + s == a for s in rule.distinct_suffixes):
        return False
    return _levenshtein(a, b) <= allowed


def _levenshtein(a: str, b: str) -> int:
    previous = list(range(len(b) + 1))
    for i, ca in enumerate(a, 1):
        current = [i]
        for j, cb in enumerate(b, 1):
            current.append(min(previous[j] + 1, current[j - 1] + 1, previous[j - 1] + (ca != cb)))
        previous = current
    return previous[-1]


# --------------------------------------------------------------------------------------------------
# Values and their classification
# --------------------------------------------------------------------------------------------------


def _per_pivot(config: DeterministicConfig, pick: typing.Callable[[PivotRule], Any]) -> Column:
    """A CASE over the ``pivot`` column giving each pivot's setting."""
    expr = None
    for pivot, rule in config.pivots.items():
        value = pick(rule)
        cond = F.col("pivot") == F.lit(pivot)
        expr = F.when(cond, value if isinstance(value, Column) else F.lit(value)) if expr is None else expr.when(
            cond, value if isinstance(value, Column) else F.lit(value)
        )
    return expr


def _pattern_match(config: DeterministicConfig) -> Column:
    def matches(rule: PivotRule) -> Column:
        col = F.lit(False)
        for pattern in rule.patterns:
            col = col | F.col("value").rlike(pattern)
        return col

    return _per_pivot(config, matches)


#: Names of one value are grouped pairwise (quadratic) only up to this many distinct names; a value with
#: more is generic anyway (``max_first_names`` is far lower) and reports its exact count of names.
_FUZZY_NAMES_CAP = 200


def pivot_values(records_df: DataFrame, config: DeterministicConfig | Mapping | None = None) -> DataFrame:
    """One row per (pivot, value, record): pivot, value, record_key, first_name, birth_date (null unless
    ``birth_dates: split``) and ``o_<pivot>``: the record's value of every pivot (to count the other identifiers a value travels with).

    :func:`classify_values`, :func:`deterministic_edges` and :func:`anonymous_records` all start from these
    rows: a job that calls them all unfolds the records once and hands the rows over, materialised
    (``values=``).
    """
    config = _as_config(config)
    name_col = config.first_names.column
    dates = [config.birth_date_column] if config.birth_dates == "split" else []
    require_columns(records_df, ["record_key", name_col, *dates, *_pivot_inputs(config)], "records_df")
    name = F.trim(F.col(name_col))
    name = F.when(name != "", name)
    others = [f"o_{q}" for q in config.pivots]
    birth_date = F.col(config.birth_date_column) if dates else F.lit(None).cast("date")
    base = records_df.select(
        "record_key", name.alias("first_name"), birth_date.alias("birth_date"),
        *(_clean_pivot(config, q).alias(f"o_{q}") for q in config.pivots),
    )
    # One scan of the records: each row unfolds into its present pivot values (a union of one select per
    # pivot would read the table once per pivot).
    values = F.array(*(F.struct(F.lit(p).alias("pivot"), F.col(f"o_{p}").alias("value")) for p in config.pivots))
    present = F.filter(values, lambda v: v["value"].isNotNull())
    return base.select(F.inline(present), "record_key", "first_name", "birth_date", *others)


def record_pivots(config: DeterministicConfig | Mapping | None = None) -> Column:
    """A record's pivot values as :func:`pivot_values` unfolds them: an array of (pivot, value) structs, on a
    DataFrame of silver records. An incremental match keeps it per record, to know which values a record
    held once it has changed or gone."""
    config = _as_config(config)
    values = F.array(*(F.struct(F.lit(p).alias("pivot"), _clean_pivot(config, p).alias("value")) for p in config.pivots))
    return F.filter(values, lambda v: v["value"].isNotNull())


def _pivot_inputs(config: DeterministicConfig) -> list[str]:
    needs_source = any(rule.ignore_sources for rule in config.pivots.values())
    return [*config.pivots, *(["source"] if needs_source else [])]


def _clean_pivot(config: DeterministicConfig, column: str) -> Column:
    """A pivot column's usable value: trimmed, not empty, not from a source the pivot ignores."""
    value = F.trim(F.col(column).cast("string"))
    usable = value != ""
    ignored = config.pivots[column].ignore_sources
    if ignored:
        usable = usable & ~F.coalesce(F.col("source").isin(*ignored), F.lit(False))
    return F.when(usable, value)


def _smallest_similar(values: Column, value: Column, similar) -> Column:
    """The smallest of ``values`` (an array) that ``similar(value, v)`` says is the same as ``value``: the group
    ``value`` joins (itself when nothing smaller is similar). One hop: names and birth dates group this way."""
    return F.array_min(F.filter(values, lambda v: (v <= value) & similar(value, v)))


def _records_of_group(tagged: Column, group: Column) -> Column:
    """The records of one group: the sum of ``n`` over the ``tagged`` entries (structs with ``grp`` and ``n``)
    that joined ``group``."""
    return F.aggregate(F.filter(tagged, lambda x: x["grp"] == group), F.lit(0).cast("long"), lambda acc, x: acc + x["n"])


def _classify(long: DataFrame, config: DeterministicConfig) -> DataFrame:
    """One row per (pivot, value): records, distinct_first_names, reason (null: usable as a link), and for
    usable values ``name_map`` (first name -> its name group), ``unnamed_group`` (the group records
    without a first name join; null: none) and ``majority_name`` (the name group holding a strict majority of
    the value's named records, whatever the pivot's policy; null: none).

    Two aggregations and array functions: no self-join, so the plan stays small (a value's names are few);
    the distinct counts of other pivots' values run only on values with enough records to exceed the limit.
    """
    keys = ["pivot", "value"]
    pivots = list(config.pivots)
    # record_key is unique in silver.customer_records, and a record carries one value per pivot: rows count records.
    per_name = long.groupBy(*keys, "first_name").agg(F.count(F.lit(1)).alias("n"))
    per_value = per_name.groupBy(*keys).agg(
        F.sum("n").alias("records"),
        # sort_array on structs sorts by their first field: the names in order
        F.sort_array(
            F.collect_list(F.when(F.col("first_name").isNotNull(), F.struct(F.col("first_name").alias("name"), "n")))
        ).alias("named"),
    )
    # The most distinct values of any one other pivot on the value's records. A value can only exceed its
    # pivot's max_other_values with more records than that: the distinct counts (a costly aggregation) run on
    # those few values alone, not on every value of every record.
    max_other = _per_pivot(config, lambda r: r.max_other_values)
    suspects = per_value.where((max_other > 0) & (F.col("records") > max_other)).select(*keys)
    other_counts = long.join(suspects, keys, "left_semi").groupBy(*keys).agg(
        *(F.count_distinct(f"o_{q}").alias(f"c_{q}") for q in pivots)
    )
    other_values = F.lit(0)
    for q in pivots:
        other_values = F.greatest(other_values, F.when(F.col("pivot") != q, F.col(f"c_{q}")).otherwise(0))
    per_value = (
        per_value.join(other_counts.select(*keys, other_values.alias("others")), keys, "left")
        .withColumn("other_values", F.coalesce(F.col("others"), F.lit(0)))
        .drop("others")
    )

    rule = config.first_names
    names = F.transform(F.col("named"), lambda x: x["name"])
    max_records = _per_pivot(config, lambda r: r.max_records)
    big = F.col("records") > max_records
    fuzzy = ~big & (F.size(names) >= 2) & (F.size(names) <= _FUZZY_NAMES_CAP)
    # Each name joins the smallest name it is similar to (itself when none): one hop.
    tagged = F.when(
        fuzzy,
        F.transform(
            F.col("named"),
            lambda x: F.struct(
                x["name"].alias("name"),
                x["n"].alias("n"),
                _smallest_similar(names, x["name"], lambda a, b: first_names_similar(a, b, rule)).alias("grp"),
            ),
        ),
    ).otherwise(
        F.transform(F.col("named"), lambda x: F.struct(x["name"].alias("name"), x["n"].alias("n"), x["name"].alias("grp")))
    )
    staged = per_value.select(*keys, "records", "other_values", big.alias("big"), tagged.alias("tagged"))
    groups = F.array_distinct(F.transform(F.col("tagged"), lambda x: x["grp"]))
    group_sizes = F.transform(
        groups,
        lambda g: F.struct(
            _records_of_group(F.col("tagged"), g).alias("n"),
            g.alias("grp"),
        ),
    )
    staged = staged.select(
        "*",
        F.size(groups).cast("long").alias("name_groups"),
        F.array_max(group_sizes).alias("largest"),
        F.aggregate(F.col("tagged"), F.lit(0).cast("long"), lambda acc, x: acc + x["n"]).alias("named_records"),
    )
    n_groups = F.col("name_groups")
    reason = (
        F.when(_pattern_match(config), F.lit("pattern"))
        .when(F.col("big"), F.lit("too_many_records"))
        .when((max_other > 0) & (F.col("other_values") > max_other), F.lit("too_many_other_identifiers"))
        .when(n_groups > _per_pivot(config, lambda r: r.max_first_names), F.lit("too_many_first_names"))
        .when(
            (_per_pivot(config, lambda r: r.shared_value_policy) == "exclude") & (n_groups >= 2),
            F.lit("shared_by_different_first_names"),
        )
    )
    majority = F.when(F.col("largest")["n"] * 2 > F.col("named_records"), F.col("largest")["grp"])
    unnamed_policy = _per_pivot(config, lambda r: r.unnamed_records or config.unnamed_records)
    majority = F.when(unnamed_policy == "majority", majority).when(unnamed_policy == "none", F.when(n_groups == 1, majority))
    link_all = _per_pivot(config, lambda r: r.shared_value_policy) == "link_all"
    unnamed_group = (
        F.when(link_all, F.lit(""))
        .when(unnamed_policy == "never", F.lit(None).cast("string"))
        .when(n_groups == 0, F.lit(""))
        .otherwise(majority)
    )
    name_group = lambda x: F.when(link_all, F.lit("")).otherwise(x["grp"])  # noqa: E731
    return staged.select(
        *keys,
        F.col("records").cast("long").alias("records"),
        n_groups.alias("distinct_first_names"),
        reason.alias("reason"),
        F.map_from_entries(F.transform(F.col("tagged"), lambda x: F.struct(x["name"], name_group(x)))).alias(
            "name_map"
        ),
        unnamed_group.alias("unnamed_group"),
        F.when(F.col("largest")["n"] * 2 > F.col("named_records"), F.col("largest")["grp"]).alias("majority_name"),
    )


# --------------------------------------------------------------------------------------------------
# Public API
# --------------------------------------------------------------------------------------------------


def _values_of(records_df: DataFrame, cfg: DeterministicConfig, values: DataFrame | None) -> DataFrame:
    """The caller's :func:`pivot_values` when it has them, else those of ``records_df``."""
    if values is None:
        return pivot_values(records_df, cfg)
    require_columns(
        values, ["pivot", "value", "record_key", "first_name", "birth_date", *(f"o_{p}" for p in cfg.pivots)], "values"
    )
    return values


def classify_values(
    records_df: DataFrame, config: DeterministicConfig | Mapping | None = None, values: DataFrame | None = None
) -> DataFrame:
    """Every pivot value with its verdict: pivot, value, records, distinct_first_names, reason (null: usable
    as a link), name_map (first name -> its name group), unnamed_group and majority_name.

    :func:`generic_values` and :func:`deterministic_edges` both start from it: a job that needs both computes
    it once and hands it to them (``classified=``), materialised. ``values``: :func:`pivot_values` of the
    same records and config, when the caller already has them.
    """
    cfg = _as_config(config)
    return _classify(_values_of(records_df, cfg, values), cfg)


def generic_values(
    records_df: DataFrame, config: DeterministicConfig | Mapping | None = None, classified: DataFrame | None = None
) -> DataFrame:
    """The pivot values never used as links, with their counts and the reason (see the module docstring).

    Output: pivot, value, records, distinct_first_names (first names that count as different people),
    reason (:data:`GENERIC_VALUES_SCHEMA`). ``classified``: :func:`classify_values` of the same records and
    config, when the caller already has it.

    Example::

        generic_values(records, config).orderBy(F.desc("records")).show()
    """
    values = classified if classified is not None else classify_values(records_df, config)
    return _with_schema(values.filter(F.col("reason").isNotNull()), GENERIC_VALUES_SCHEMA)


def deterministic_edges(
    records_df: DataFrame,
    config: DeterministicConfig | Mapping | None = None,
    classified: DataFrame | None = None,
    values: DataFrame | None = None,
) -> DataFrame:
    """Edges between records sharing a non-generic pivot value: one star per (pivot, value, name group).

    Output: record_key_l < record_key_r, rule (the pivot column), value (:data:`EDGES_SCHEMA`).
    ``classified``: :func:`classify_values` of the same records and config, and ``values``: their
    :func:`pivot_values`, when the caller already has them. ``record_key`` must be unique in ``records_df``
    (it is in silver.customer_records).

    Example::

        edges = deterministic_edges(spark.read.format("delta").load(path), load_deterministic_config())
    """
    cfg = _as_config(config)
    long = _values_of(records_df, cfg, values)
    keys = ["pivot", "value"]
    verdicts = classified if classified is not None else _classify(long, cfg)
    usable = verdicts.filter(F.col("reason").isNull()).select(*keys, "name_map", "unnamed_group", "majority_name")
    named = F.col("first_name").isNotNull()
    group = F.when(named, F.element_at("name_map", F.col("first_name"))).otherwise(F.col("unnamed_group"))
    members = (
        long.select(*keys, "record_key", "first_name", "birth_date")
        .join(usable, keys)
        .select(*keys, "record_key", "birth_date", named.alias("named"), group.alias("grp"),
                F.when(~named, F.col("majority_name")).alias("hint"))
        .filter(F.col("grp").isNotNull())
    )
    # A record without a first name takes, through each value, the name of the value's main holder (its hint).
    # When its values name different people (a receipt bearing Paul's loyalty card and the family email that
    # Marie mostly uses), it would bridge them: it keeps only the values that agree with its most trusted
    # pivot's hint (pivots in priority order). Only those records go through the window.
    rank = F.array_position(F.array(*(F.lit(p) for p in cfg.pivots)), F.col("pivot"))
    trusted = F.min(F.when(F.col("hint").isNotNull(), F.struct(rank.alias("rank"), F.col("hint").alias("hint"))))
    trusted_hint = trusted.over(Window.partitionBy("record_key"))["hint"]
    unnamed = (
        members.filter(~F.col("named"))
        .select("*", trusted_hint.alias("trusted_hint"))
        .filter(F.col("hint").isNull() | first_names_similar(F.col("hint"), F.col("trusted_hint"), cfg.first_names))
        .drop("trusted_hint")
    )
    members = members.filter(F.col("named")).unionByName(unnamed)
    if cfg.birth_dates == "split":
        members = _with_birth_date_groups(members, cfg)
    else:
        members = members.withColumn("date_grp", F.lit(None).cast("date"))
    # A record holds one value per pivot and belongs to one group of it: one edge per (record, pivot), no
    # duplicates to drop.
    centre = F.min("record_key").over(Window.partitionBy(*keys, "grp", "date_grp"))
    edges = (
        members.select("*", centre.alias("centre"))
        .filter(F.col("record_key") != F.col("centre"))
        .select(
            F.col("centre").alias("record_key_l"),
            F.col("record_key").alias("record_key_r"),
            F.col("pivot").alias("rule"),
            F.col("value"),
        )
    )
    return _with_schema(edges, EDGES_SCHEMA)


def birth_dates_close(a: Column, b: Column) -> Column:
    """True when birth dates ``a`` and ``b`` can be one person's despite a typo: equal, one character apart,
    same year and month, or day and month swapped (null when either is null). The probabilistic model's
    birth-date levels and household gates read the same test."""
    return (
        (F.levenshtein(a.cast("string"), b.cast("string")) <= 1)
        | ((F.year(a) == F.year(b)) & (F.month(a) == F.month(b)))
        | ((F.year(a) == F.year(b)) & (F.month(a) == F.dayofmonth(b)) & (F.dayofmonth(a) == F.month(b)))
    )


def _with_birth_date_groups(members: DataFrame, cfg: DeterministicConfig) -> DataFrame:
    """``members`` (pivot, value, grp, record_key, birth_date, ...) with ``date_grp``: the birth-date group a
    record joins within its (pivot, value, name group); null where the group's known dates are all one.

    Each distinct date joins the earliest date of the group it is close to (two hops); a record without a
    birth date joins the group holding the most records. Only groups with two distinct dates or more are
    looked at: an aggregation over the dated members and a join of the few groups that have them.
    """
    keys = ["pivot", "value", "grp"]
    splittable = _per_pivot(cfg, lambda r: r.shared_value_policy != "link_all")
    per_date = (
        members.where(F.col("birth_date").isNotNull() & splittable)
        .groupBy(*keys, "birth_date")
        .agg(F.count(F.lit(1)).alias("n"))
    )
    dates = per_date.groupBy(*keys).agg(
        F.sort_array(F.collect_list(F.struct(F.col("birth_date").alias("d"), "n"))).alias("dates")
    ).where(F.size("dates") >= 2)
    days = F.transform(F.col("dates"), lambda x: x["d"])
    tagged = F.transform(
        F.col("dates"),
        lambda x: F.struct(
            x["d"].alias("d"),
            x["n"].alias("n"),
            _smallest_similar(days, x["d"], birth_dates_close).alias("grp"),
        ),
    )
    # a second hop: 1989-07-12 joined 1989-07-02 (same month), which joined 1989-02-07 (day and month swapped)
    second_hop = F.transform(
        F.col("tagged"),
        lambda x: x.withField("grp", F.array_min(F.transform(
            F.filter(F.col("tagged"), lambda y: y["d"] == x["grp"]), lambda y: y["grp"]))),
    )
    dates = dates.select(*keys, tagged.alias("tagged")).select(*keys, second_hop.alias("tagged"))
    groups = F.array_distinct(F.transform(F.col("tagged"), lambda x: x["grp"]))
    sizes = F.transform(
        groups,
        lambda g: F.struct(
            _records_of_group(F.col("tagged"), g).alias("n"),
            # the earliest date wins a tie: array_max on (n, -days) picks the most records, then the earliest
            (-F.datediff(g, F.lit("1900-01-01"))).alias("order"),
            g.alias("grp"),
        ),
    )
    split = dates.where(F.size(groups) >= 2).select(
        *keys,
        F.map_from_entries(F.transform(F.col("tagged"), lambda x: F.struct(x["d"], x["grp"]))).alias("date_map"),
        F.array_max(sizes)["grp"].alias("undated_grp"),
    )
    date_grp = F.when(F.col("birth_date").isNotNull(), F.element_at("date_map", F.col("birth_date"))).otherwise(
        F.col("undated_grp")
    )
    return (
        members.join(split, keys, "left")
        .withColumn("date_grp", F.when(F.col("date_map").isNotNull(), date_grp))
        .drop("date_map", "undated_grp")
    )


def _with_schema(df: DataFrame, schema: StructType) -> DataFrame:
    """Cast and order ``df``'s columns as ``schema`` (nullability is documented by the schema constant)."""
    return df.select(*(F.col(f.name).cast(f.dataType).alias(f.name) for f in schema.fields))


#: Columns that make a record someone, even without an identifier: a name or a postal address.
IDENTITY_COLUMNS = ("first_name_std", "last_name_std", "street_std")


def anonymous_records(
    records_df: DataFrame,
    edges_df: DataFrame,
    identity_columns: typing.Sequence[str] = IDENTITY_COLUMNS,
) -> DataFrame:
    """Records that carry nothing to match on: no name, no address, and no deterministic edge.

    Without a name or an address, only a pivot value shared with another record can say whose a record is.
    A web cookie that never logged in, a receipt bearing only the store's phone (a generic value), a
    household landline (``unnamed_records: never``), a receipt whose card no other record bears (a typo at
    the till): no method can say whose they are, and a golden customer made of one would hold no value.
    They are reported apart from customers. Output: record_key.

    Example::

        anonymous_records(records, deterministic_edges(records, config)).count()
    """
    require_columns(edges_df, ["record_key_l", "record_key_r"], "edges_df")
    require_columns(records_df, ["record_key", *identity_columns], "records_df")
    linked = edges_df.select(F.col("record_key_l").alias("record_key")).unionByName(
        edges_df.select(F.col("record_key_r").alias("record_key"))
    )
    named = F.lit(False)
    for column in identity_columns:
        named = named | (F.trim(F.col(column)) != F.lit(""))
    return (
        records_df.where(~F.coalesce(named, F.lit(False)))
        .select("record_key")
        .join(linked, "record_key", "left_anti")
        .distinct()
    )


def placeholder_values(records_df: DataFrame, name_column: str = "first_name_canonical") -> DataFrame:
    """Email addresses that standardisation recognised as placeholders and nulled ("nc@nc.fr", "noreply@..."),
    as rows of :data:`GENERIC_VALUES_SCHEMA` (pivot ``email_std``, reason ``placeholder``).

    They never reach matching (their ``email_std`` is null); listing them beside the generic values shows
    what was excluded and how often, where a retailer can see which forms collect junk addresses.
    """
    require_columns(records_df, ["record_key", "email", "quality_flags", name_column], "records_df")
    flagged = records_df.where(F.array_contains("quality_flags", "email:placeholder") & F.col("email").isNotNull())
    values = flagged.groupBy(F.col("email").alias("value")).agg(
        F.countDistinct("record_key").alias("records"), F.countDistinct(name_column).alias("distinct_first_names")
    )
    return _with_schema(
        values.select(F.lit("email_std").alias("pivot"), "value", "records", "distinct_first_names",
                      F.lit("placeholder").alias("reason")),
        GENERIC_VALUES_SCHEMA,
    )
