"""Precision without ground truth: a stratified sample of the pairs a run declares matches, and the estimate
its reviews give, with a 95 % interval.

The population
--------------
The pairs a run *declares matches* are all pairs of identified records (crosswalk ``match_rule`` other than
``anonymous``) in one customer: exactly the pairs whose share of true pairs is
:func:`~spark_lib.matching.evaluation.evaluate_matching`'s ``identified_pairwise_precision`` (which further
keeps only records the truth knows). A customer of ``a`` identified records holds ``a(a-1)/2`` of them.

Strata (score bands)
--------------------
Every pair of the population falls in exactly one stratum, in this order:

``deterministic``
    both records in one deterministic core (``silver.matched_records.core_id``): linked on a shared
    identifier, directly or through the core's star edges, whatever any score;
``probabilistic:<low>-<high>``
    records of different cores that the model scored (``silver.match_pairs``, above the model threshold),
    by the pair's own match probability, in the bands of :class:`SampleConfig` (``probability_bands``);
``transitive``
    records of different cores that no score links directly: the customer holds them together through others.

Errors concentrate in the low bands and the transitive pairs, while most pairs are deterministic: the
strata separate them so that a few hundred reviews estimate precision far better than a simple random sample.

Counting and drawing without enumerating the pairs
--------------------------------------------------
``N_h`` is counted with Spark aggregates: ``sum a(a-1)/2`` per customer, ``sum m(m-1)/2`` per (customer, core)
cell, the scored pairs by band, and the transitive pairs as what remains. The scored pairs are a table
already (bounded by the blocking limits); they are drawn by a seeded hash order. Pairs within a group
(the deterministic cells; the customers of two cores or more for the transitive stratum) are drawn as
*indices*: ``k`` distinct integers below the group pairs' total (Python's ``random.sample`` on a ``range``,
O(k)), each mapped to its group by the running total of pairs per group (one Spark window over the
groups, one row per group: a single partition, a sort of a few million rows at most) and decoded into the
``(i, j)`` pair of the group's records ranked by key. The transitive stratum draws pairs of customers with
two cores or more and keeps those of different cores that the model did not score (rejection: the draw
order is random, so the first ``n_h`` kept are a simple random sample of the stratum). Nothing is
enumerated but the drawn pairs: a customer of 10,000 records costs one row.

Allocation
----------
Neyman-like: ``n_h`` proportional to ``N_h * S_h``, ``S_h = sqrt(e_h (1 - e_h))`` from a prior error rate per
stratum kind (:class:`SampleConfig`), after a floor of ``min_per_stratum`` per stratum (every stratum is
then represented, and its ``N_h`` is stored with its rows); no stratum gets more than its ``N_h``.

The estimate and its interval
-----------------------------
Only the latest decision per pair holds (``ops.review_decisions``); ``same`` and ``different`` count,
``unsure`` and undecided pairs do not (they reduce ``n_h`` and are reported). With ``W_h = N_h / N`` and
``p_h = same_h / n_h``, the estimate is ``p = sum W_h p_h`` (unbiased under the design). Its 95 % interval
is Wilson's score interval with continuity correction (Newcombe 1998, method 4) at the *effective* sample
size ``n* = p~ (1 - p~) / V`` (Kish), where ``V = sum W_h^2 (1 - n_h/N_h) p~_h (1 - p~_h) / n_h`` is the
stratified variance computed with Jeffreys-smoothed proportions ``p~_h = (same_h + 1/2) / (n_h + 1)`` and
``p~ = sum W_h p~_h``. Why:

* a stratum that shows no error (``p_h = 1``, common: the deterministic pairs err once in hundreds) still
  carries variance, so the interval does not collapse onto the point (a plug-in variance would be zero);
* Wilson's interval stays in [0, 1] and is asymmetric near 1, where precision lives; the continuity
  correction buys the coverage lost to the skewed, discrete distribution of a heavy stratum with rare
  errors (simulated: 0.91 coverage without it in such a case, >= 0.96 with it; see the tests);
* with one stratum it is the textbook continuity-corrected Wilson interval.

A stratum with no decided pair leaves its weight unknown: the point estimate assumes the others' mean, and
the interval widens to every value it could take (``low * (1 - W_u)``, ``high * (1 - W_u) + W_u``),
``unlabelled_weight`` saying how much.

The share of ``same`` among *all* reviewed pairs of the population (:func:`reviewed_precision`) is biased
(the queue sends the doubtful pairs first) and reported apart, labelled as such. With a ground truth,
:func:`precision_from_truth` measures the same population's precision.

Example::

    population = pair_population(lake.read(tables.CROSSWALK), lake.read(tables.MATCHED_RECORDS),
                                 lake.read(tables.MATCH_PAIRS))
    sample = draw_sample(population, size=300, seed=7, config=load_sample_config())
    lake.append(sample, tables.REVIEW_SAMPLE)
    estimate = estimate_precision(lake.read(tables.REVIEW_SAMPLE), lake.read(tables.REVIEW_DECISIONS))
    estimate.precision, estimate.ci_low, estimate.ci_high, estimate.labelled_pairs
"""

from __future__ import annotations

import datetime as dt
import math
import random
import uuid
from dataclasses import dataclass
from pathlib import Path
from typing import Iterable, Mapping, Sequence

from pyspark.sql import DataFrame, Window
from pyspark.sql import functions as F

from spark_lib import schemas
from spark_lib.config import ConfigError, read_section, read_yaml
from spark_lib.matching.deterministic import require_columns
from spark_lib.matching.overrides import latest_decisions

DETERMINISTIC = "deterministic"
TRANSITIVE = "transitive"
#: the decisions that count; ``unsure`` (and no decision) leave a pair unlabelled
SAME, DIFFERENT, UNSURE = "same", "different", "unsure"
#: two-sided 95 %
Z_95 = 1.959963984540054
DEFAULT_SAMPLE_FILE = Path(__file__).resolve().parents[2] / "conf" / "review_sample.yaml"


@dataclass(frozen=True)
class SampleConfig:
    """``conf/review_sample.yaml``: the strata and the allocation of a precision sample."""

    #: lower bounds of the bands of match probability, decreasing; a last band reaches down to 0
    probability_bands: tuple[float, ...] = (0.999999, 0.9999, 0.999)
    #: pairs drawn from every stratum before the Neyman allocation shares the rest
    min_per_stratum: int = 10
    #: prior error rates (1 - precision) that weigh the allocation: deterministic, transitive, and one per band
    prior_error_deterministic: float = 0.005
    prior_error_transitive: float = 0.05
    prior_error_bands: tuple[float, ...] = (0.01, 0.05, 0.1, 0.25)
    #: candidates drawn per transitive pair wanted, beyond the expected rejection rate (bounds a second draw)
    transitive_oversampling: float = 1.5

    def __post_init__(self) -> None:
        bands = list(self.probability_bands)
        if not bands or any(not 0 < b < 1 for b in bands) or bands != sorted(set(bands), reverse=True):
            raise ConfigError(f"probability_bands: {bands} must be probabilities in (0, 1), strictly decreasing")
        if len(self.prior_error_bands) != len(bands) + 1:
            raise ConfigError(f"prior_error_bands: {len(self.prior_error_bands)} rates for {len(bands) + 1} bands "
                              "(one per band of probability_bands, and one below the last)")
        for name in ("prior_error_deterministic", "prior_error_transitive"):
            if not 0 < getattr(self, name) < 1:
                raise ConfigError(f"{name}: {getattr(self, name)} is not a rate in (0, 1)")
        if any(not 0 < e < 1 for e in self.prior_error_bands):
            raise ConfigError(f"prior_error_bands: {list(self.prior_error_bands)} are not all rates in (0, 1)")
        if self.min_per_stratum < 1:
            raise ConfigError(f"min_per_stratum: {self.min_per_stratum} must be at least 1 (a stratum's N_h rides "
                              "with its drawn pairs)")
        if self.transitive_oversampling < 1:
            raise ConfigError(f"transitive_oversampling: {self.transitive_oversampling} must be at least 1")

    def band_names(self) -> list[str]:
        """The probabilistic strata, highest band first: ``probabilistic:0.999999-1`` ... ``probabilistic:0-0.999``."""
        uppers = (1.0, *self.probability_bands)
        lowers = (*self.probability_bands, 0.0)
        return [f"probabilistic:{_fmt(lo)}-{_fmt(hi)}" for lo, hi in zip(lowers, uppers)]

    def strata(self) -> list[str]:
        """Every stratum, in the order strata are reported."""
        return [DETERMINISTIC, *self.band_names(), TRANSITIVE]

    def prior_errors(self) -> dict[str, float]:
        return {DETERMINISTIC: self.prior_error_deterministic, TRANSITIVE: self.prior_error_transitive,
                **dict(zip(self.band_names(), self.prior_error_bands))}


def _fmt(value: float) -> str:
    return f"{value:.10f}".rstrip("0").rstrip(".")


def load_sample_config(path: str | Path | None = None) -> SampleConfig:
    """``conf/review_sample.yaml`` (or ``path``), read strictly: an unknown key is an error naming it.

    Example::

        load_sample_config().strata()   # ['deterministic', 'probabilistic:0.999999-1', ..., 'transitive']
    """
    file = Path(path or DEFAULT_SAMPLE_FILE)
    return read_section(SampleConfig, read_yaml(file), "", str(file))


# --------------------------------------------------------------------------------------------------
# The population and its strata
# --------------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class PairPopulation:
    """The pairs a run declares matches, described without enumerating them."""

    #: record_key, customer_id, core_id of the identified records (a record in no core: its own key)
    members: DataFrame
    #: record_key_l < record_key_r, match_probability: scored pairs of one customer, records of different cores
    scored: DataFrame


def pair_population(crosswalk: DataFrame, matched_records: DataFrame, match_pairs: DataFrame,
                    materialise: bool = True) -> PairPopulation:
    """The population of a run from its tables: ``gold.customer_crosswalk``, ``silver.matched_records``,
    ``silver.match_pairs``.

    ``materialise``: checkpoint both DataFrames (one row per identified record, one per scored pair within a
    customer), which counting and drawing read a dozen times.

    Example::

        population = pair_population(lake.read(tables.CROSSWALK), lake.read(tables.MATCHED_RECORDS),
                                     lake.read(tables.MATCH_PAIRS))
    """
    require_columns(crosswalk, ["record_key", "customer_id", "match_rule"], "crosswalk")
    require_columns(matched_records, ["record_key", "core_id"], "matched_records")
    require_columns(match_pairs, ["record_key_l", "record_key_r", "match_probability"], "match_pairs")
    members = (
        crosswalk.where(F.col("match_rule") != "anonymous")
        .select("record_key", "customer_id")
        .join(matched_records.select("record_key", "core_id"), "record_key", "left")
        .select("record_key", "customer_id", F.coalesce("core_id", "record_key").alias("core_id"))
    )
    if materialise:
        members = members.localCheckpoint()
    scored = _scored_within(members, match_pairs)
    return PairPopulation(members, scored.localCheckpoint() if materialise else scored)


def _ordered(df: DataFrame, left: str = "record_key_l", right: str = "record_key_r") -> DataFrame:
    """``df`` with its two record keys turned ``record_key_l < record_key_r``."""
    rest = [c for c in df.columns if c not in (left, right)]
    return df.select(F.least(left, right).alias("record_key_l"), F.greatest(left, right).alias("record_key_r"), *rest)


def _with_ends(pairs: DataFrame, members: DataFrame) -> DataFrame:
    """``pairs`` with customer_l/r and core_l/r of both records (inner: both identified)."""
    side = {s: members.select(F.col("record_key").alias(f"record_key_{s}"), F.col("customer_id").alias(f"customer_{s}"),
                              F.col("core_id").alias(f"core_{s}")) for s in ("l", "r")}
    return pairs.join(side["l"], "record_key_l").join(side["r"], "record_key_r")


def _scored_within(members: DataFrame, match_pairs: DataFrame) -> DataFrame:
    pairs = _ordered(match_pairs.select("record_key_l", "record_key_r", "match_probability"))
    ends = _with_ends(pairs, members)
    return ends.where((F.col("customer_l") == F.col("customer_r")) & (F.col("core_l") != F.col("core_r"))).select(
        "record_key_l", "record_key_r", "match_probability")


def _band(probability, config: SampleConfig):
    names = config.band_names()
    expression = F.lit(names[-1])
    for lower, name in reversed(list(zip(config.probability_bands, names))):
        expression = F.when(probability >= lower, F.lit(name)).otherwise(expression)
    return expression


def _pairs_of(count):
    return (count * (count - 1) / 2).cast("long")


def stratum_counts(population: PairPopulation, config: SampleConfig | None = None) -> dict[str, int]:
    """``N_h``, the pairs of the population in each stratum (all strata, zeros included), from aggregates.

    Example::

        stratum_counts(population)   # {'deterministic': 219313, 'probabilistic:0.999999-1': 2824, ..., 'transitive': 14677}
    """
    config = config or SampleConfig()
    members = population.members
    total = members.groupBy("customer_id").count().agg(F.sum(_pairs_of(F.col("count")))).first()[0] or 0
    within_cores = members.groupBy("customer_id", "core_id").count().agg(F.sum(_pairs_of(F.col("count")))).first()[0] or 0
    bands = {r["stratum"]: r["count"] for r in
             population.scored.groupBy(_band(F.col("match_probability"), config).alias("stratum")).count().collect()}
    counts = {DETERMINISTIC: int(within_cores)}
    counts.update({name: int(bands.get(name, 0)) for name in config.band_names()})
    counts[TRANSITIVE] = int(total) - sum(counts.values())
    if counts[TRANSITIVE] < 0:
        raise ValueError("stratum_counts: more scored and core pairs than pairs in the customers (inconsistent tables)")
    return counts


def classify_pairs(pairs: DataFrame, population: PairPopulation, config: SampleConfig | None = None) -> DataFrame:
    """``pairs`` (record_key_l, record_key_r, any order) with their ``stratum``: null for a pair the run does
    not declare a match (records of different customers, an anonymous record).

    Example::

        classify_pairs(decided_pairs, population).groupBy("stratum").count()
    """
    config = config or SampleConfig()
    require_columns(pairs, ["record_key_l", "record_key_r"], "pairs")
    ends = _with_ends(_ordered(pairs), population.members)
    scored = population.scored.select("record_key_l", "record_key_r", F.col("match_probability").alias("_probability"))
    ends = ends.join(scored, ["record_key_l", "record_key_r"], "left")
    stratum = (F.when(F.col("customer_l") != F.col("customer_r"), F.lit(None))
               .when(F.col("core_l") == F.col("core_r"), F.lit(DETERMINISTIC))
               .when(F.col("_probability").isNotNull(), _band(F.col("_probability"), config))
               .otherwise(F.lit(TRANSITIVE)))
    keep = [c for c in _ordered(pairs).columns]
    return _ordered(pairs).join(ends.select("record_key_l", "record_key_r", stratum.alias("stratum")),
                                ["record_key_l", "record_key_r"], "left").select(*keep, "stratum")


# --------------------------------------------------------------------------------------------------
# Allocation and drawing
# --------------------------------------------------------------------------------------------------


def allocate(counts: Mapping[str, int], size: int, prior_errors: Mapping[str, float], floor: int) -> dict[str, int]:
    """``n_h`` per non-empty stratum: ``min(floor, N_h)`` each, then the rest Neyman-like, proportional to
    ``N_h sqrt(e_h (1 - e_h))``, never beyond ``N_h``; largest remainders round. Pure Python.

    Example::

        allocate({"a": 1000, "b": 100}, 50, {"a": 0.01, "b": 0.2}, floor=10)   # {'a': 31, 'b': 19}
    """
    if size < 1:
        raise ValueError(f"allocate: size must be at least 1, got {size}")
    strata = {h: n for h, n in counts.items() if n > 0}
    if size >= sum(strata.values()):
        return dict(strata)
    if size < len(strata):
        raise ValueError(f"allocate: a sample of {size} pairs cannot represent the {len(strata)} non-empty strata "
                         f"({', '.join(strata)}): draw at least {len(strata)}")
    n = {h: min(floor, N) for h, N in strata.items()}
    if sum(n.values()) > size:
        n = {h: 1 for h in strata}
    while True:
        rest = size - sum(n.values())
        open_ = [h for h in strata if n[h] < strata[h]]
        if rest <= 0 or not open_:
            return n
        weight = {h: strata[h] * math.sqrt(prior_errors[h] * (1 - prior_errors[h])) for h in open_}
        total = sum(weight.values())
        share = {h: rest * weight[h] / total for h in open_}
        capped = [h for h in open_ if n[h] + share[h] >= strata[h]]
        if capped:  # fill the strata the share would exhaust, then share the rest again
            for h in capped:
                n[h] = strata[h]
            continue
        whole = {h: int(math.floor(share[h])) for h in open_}
        left = rest - sum(whole.values())
        for h in sorted(open_, key=lambda h: (share[h] - whole[h], weight[h]), reverse=True)[:left]:
            whole[h] += 1
        for h in open_:
            n[h] += whole[h]
        return n


def _decode(k: int) -> tuple[int, int]:
    """The ``k``-th pair ``(i, j)``, ``i < j``, in the order (0,1), (0,2), (1,2), (0,3), ... (exact integers)."""
    j = (1 + math.isqrt(1 + 8 * k)) // 2
    while j * (j - 1) // 2 > k:
        j -= 1
    while (j + 1) * j // 2 <= k:
        j += 1
    return k - j * (j - 1) // 2, j


def _draw_in_groups(members: DataFrame, group: str, k: int, rng: random.Random) -> list[tuple[str, str, int]]:
    """``k`` distinct pairs of records of one ``group`` each, uniformly among all such pairs, as
    (record_key_l, record_key_r, draw order); without enumerating them (see the module docstring)."""
    spark = members.sparkSession
    sizes = members.groupBy(group).agg(F.count("*").alias("a")).where(F.col("a") >= 2).select(
        F.col(group).cast("string").alias("group"), "a", _pairs_of(F.col("a")).alias("pairs"))
    # one row per group, ordered: the running total gives each group's first pair index
    running = Window.orderBy("group").rowsBetween(Window.unboundedPreceding, Window.currentRow)
    offsets = sizes.select("group", "a", (F.sum("pairs").over(running) - F.col("pairs")).alias("start"),
                           "pairs").localCheckpoint()
    total = offsets.agg(F.sum("pairs")).first()[0] or 0
    k = min(k, int(total))
    if k <= 0:
        return []
    drawn = rng.sample(range(int(total)), k)  # random order: the draw order of each index
    draws = spark.createDataFrame([(int(i), order) for order, i in enumerate(drawn)], "pos long, draw_order int")
    marks = offsets.select(F.col("start").alias("pos"), F.lit(0).alias("kind"), "group", "a", "start",
                           F.lit(None).cast("int").alias("draw_order"))
    points = draws.select("pos", F.lit(1).alias("kind"), F.lit(None).cast("string").alias("group"),
                          F.lit(None).cast("long").alias("a"), F.lit(None).cast("long").alias("start"), "draw_order")
    sweep = Window.orderBy("pos", "kind").rowsBetween(Window.unboundedPreceding, Window.currentRow)
    located = marks.unionByName(points).select(
        "pos", "kind", "draw_order", *(F.last(c, ignorenulls=True).over(sweep).alias(c) for c in ("group", "a", "start"))
    ).where(F.col("kind") == 1).collect()
    wanted = []
    for row in located:
        i, j = _decode(int(row["pos"] - row["start"]))
        if not j < row["a"]:
            raise AssertionError(f"pair index decoded beyond its group ({row})")
        wanted.append((row["group"], i, j, row["draw_order"]))
    ranked = members.select(F.col(group).cast("string").alias("group"), "record_key",
                            (F.row_number().over(Window.partitionBy(group).orderBy("record_key")) - 1).alias("rank"))
    needed = spark.createDataFrame([(g, r) for g, i, j, _ in wanted for r in (i, j)], "group string, rank int").distinct()
    keys = {(r["group"], r["rank"]): r["record_key"] for r in ranked.join(needed, ["group", "rank"]).collect()}
    pairs = []
    for g, i, j, order in wanted:
        a, b = keys[(g, i)], keys[(g, j)]
        pairs.append((min(a, b), max(a, b), order))
    return sorted(pairs, key=lambda p: p[2])


def _rng(seed: int, stratum: str) -> random.Random:
    return random.Random(f"rcu-review-sample:{seed}:{stratum}")


def draw_sample(
    population: PairPopulation,
    size: int,
    seed: int,
    config: SampleConfig | None = None,
    *,
    sample_id: str | None = None,
    drawn_at: dt.datetime | None = None,
    counts: Mapping[str, int] | None = None,
) -> DataFrame:
    """A stratified sample of ``size`` pairs of the population: ``gold.review_sample`` rows (sample_id,
    pair_id, record_key_l, record_key_r, stratum, stratum_pairs ``N_h``, stratum_drawn ``n_h``, seed, drawn_at).

    The same population, size and seed draw the same pairs. ``counts``: :func:`stratum_counts`, when the
    caller has them.

    Example::

        sample = draw_sample(population, size=300, seed=1)
        sample.groupBy("stratum", "stratum_pairs", "stratum_drawn").count().show()
    """
    if population is None:
        raise ValueError("draw_sample: 'population' cannot be None")
    config = config or SampleConfig()
    counts = dict(counts) if counts is not None else stratum_counts(population, config)
    allocation = allocate(counts, size, config.prior_errors(), config.min_per_stratum)
    spark = population.members.sparkSession
    rows: list[tuple[str, str, str]] = []   # record_key_l, record_key_r, stratum

    if allocation.get(DETERMINISTIC):
        cells = population.members.select("record_key", F.concat_ws("\u0001", "customer_id", "core_id").alias("cell"))
        rows += [(l, r, DETERMINISTIC) for l, r, _ in
                 _draw_in_groups(cells, "cell", allocation[DETERMINISTIC], _rng(seed, DETERMINISTIC))]

    bands = [h for h in config.band_names() if allocation.get(h)]
    if bands:
        scored = population.scored.select("record_key_l", "record_key_r",
                                          _band(F.col("match_probability"), config).alias("stratum"))
        order = Window.partitionBy("stratum").orderBy(F.xxhash64("record_key_l", "record_key_r", F.lit(seed)),
                                                      "record_key_l", "record_key_r")
        limits = F.create_map(*(x for h in bands for x in (F.lit(h), F.lit(allocation[h]))))
        picked = scored.where(F.col("stratum").isin(bands)).withColumn("_n", F.row_number().over(order)).where(
            F.col("_n") <= limits[F.col("stratum")])
        rows += [(r["record_key_l"], r["record_key_r"], r["stratum"]) for r in picked.collect()]

    if allocation.get(TRANSITIVE):
        rows += [(l, r, TRANSITIVE) for l, r in _draw_transitive(population, allocation[TRANSITIVE], counts, seed, config)]

    drawn = {h: sum(1 for row in rows if row[2] == h) for h in allocation}
    sample_id = sample_id or uuid.uuid4().hex
    drawn_at = (drawn_at or dt.datetime.now(dt.timezone.utc)).replace(tzinfo=None, microsecond=0)
    data = [(sample_id, f"{l}|{r}", l, r, h, counts[h], drawn[h], int(seed), drawn_at) for l, r, h in rows]
    return spark.createDataFrame(data, schemas.REVIEW_SAMPLE)


def _draw_transitive(population: PairPopulation, n: int, counts: Mapping[str, int], seed: int,
                     config: SampleConfig) -> list[tuple[str, str]]:
    """``n`` transitive pairs: pairs drawn in customers of two cores or more, kept when of different cores
    and not scored, in draw order (rejection sampling, see the module docstring)."""
    members = population.members
    several = members.groupBy("customer_id").agg(F.countDistinct("core_id").alias("cores")).where(F.col("cores") >= 2)
    candidates_from = members.join(several.select("customer_id"), "customer_id", "left_semi")
    in_reach = candidates_from.groupBy("customer_id").count().agg(F.sum(_pairs_of(F.col("count")))).first()[0] or 0
    rate = counts[TRANSITIVE] / in_reach if in_reach else 0.0
    if rate <= 0:
        return []
    wanted = min(int(in_reach), int(math.ceil(n / rate * config.transitive_oversampling)) + 20)
    drawn = _draw_in_groups(candidates_from, "customer_id", wanted, _rng(seed, TRANSITIVE))
    spark = members.sparkSession
    candidates = spark.createDataFrame(drawn, "record_key_l string, record_key_r string, draw_order int")
    kept = (classify_pairs(candidates, population, config).where(F.col("stratum") == TRANSITIVE)
            .orderBy("draw_order").limit(n).collect())
    if len(kept) < n and wanted < in_reach:  # rare: fewer kept than expected; draw everything in reach again
        return _draw_transitive(population, n, counts, seed,
                                SampleConfig(**{**config.__dict__, "transitive_oversampling": in_reach}))
    return [(r["record_key_l"], r["record_key_r"]) for r in kept]


# --------------------------------------------------------------------------------------------------
# The estimate
# --------------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class StratumEstimate:
    """One stratum of a sample: its pairs, those drawn, and the decisions on them."""

    stratum: str
    pairs: int
    drawn: int
    same: int = 0
    different: int = 0
    unsure: int = 0

    @property
    def decided(self) -> int:
        return self.same + self.different

    @property
    def undecided(self) -> int:
        return self.drawn - self.decided - self.unsure

    @property
    def precision(self) -> float | None:
        return self.same / self.decided if self.decided else None


@dataclass(frozen=True)
class PrecisionEstimate:
    """The precision a sample's reviews estimate, with its interval (``confidence``)."""

    sample_id: str | None
    #: None: no pair of the sample is decided yet
    precision: float | None
    ci_low: float
    ci_high: float
    #: pairs with a latest decision ``same`` or ``different``
    labelled_pairs: int
    unsure_pairs: int
    undecided_pairs: int
    population_pairs: int
    effective_n: float | None
    #: share of the population in strata without a decided pair (their precision unknown: the interval spans it)
    unlabelled_weight: float
    strata: tuple[StratumEstimate, ...] = ()
    confidence: float = 0.95

    def metrics(self) -> dict[str, float]:
        """The figures a match run logs (MLflow metrics, the report)."""
        values = {"labelled_pairs": float(self.labelled_pairs), "precision_ci_low": self.ci_low,
                  "precision_ci_high": self.ci_high, "precision_sample_unlabelled_weight": self.unlabelled_weight}
        if self.precision is not None:
            values["precision_estimate"] = self.precision
        return values

    def text(self) -> str:
        if self.precision is None:
            return f"no decided pair in sample {self.sample_id} yet ({self.undecided_pairs} to review)"
        unknown = f"; {self.unlabelled_weight:.1%} of the pairs in strata without a decision" if self.unlabelled_weight else ""
        return (f"precision {self.precision:.4f}, {self.confidence:.0%} interval [{self.ci_low:.4f}, {self.ci_high:.4f}] "
                f"from {self.labelled_pairs} labelled pairs of sample {self.sample_id} ({self.unsure_pairs} unsure, "
                f"{self.undecided_pairs} undecided){unknown}")


def wilson_interval(p: float, n: float, z: float = Z_95, continuity: bool = True) -> tuple[float, float]:
    """Wilson's score interval for a proportion ``p`` observed on ``n`` (may be fractional: an effective
    size), with Newcombe's continuity correction by default; ``p = 1`` gives an upper bound of 1.

    Example::

        wilson_interval(1.0, 30)    # (0.8575..., 1.0)
    """
    if n <= 0:
        return 0.0, 1.0
    z2 = z * z
    if not continuity:
        denominator = 1 + z2 / n
        centre = (p + z2 / (2 * n)) / denominator
        half = z / denominator * math.sqrt(p * (1 - p) / n + z2 / (4 * n * n))
        return max(0.0, centre - half), min(1.0, centre + half)
    q = 1 - p
    low = 0.0 if p <= 0 else (2 * n * p + z2 - 1 - z * math.sqrt(max(z2 - 2 - 1 / n + 4 * p * (n * q + 1), 0.0))) / (2 * (n + z2))
    high = 1.0 if p >= 1 else (2 * n * p + z2 + 1 + z * math.sqrt(max(z2 + 2 - 1 / n + 4 * p * (n * q - 1), 0.0))) / (2 * (n + z2))
    return max(0.0, low), min(1.0, high)


def stratified_estimate(strata: Sequence[StratumEstimate], z: float = Z_95) -> tuple[float | None, float, float, float | None, float]:
    """(precision, low, high, effective n, unlabelled weight) of stratified counts: see the module docstring.
    Pure Python.

    Example::

        stratified_estimate([StratumEstimate("a", pairs=900, drawn=10, same=10),
                             StratumEstimate("b", pairs=100, drawn=10, same=5, different=5)])
        # (0.95, ..., ..., ..., 0.0)
    """
    population = sum(s.pairs for s in strata)
    if population <= 0:
        return None, 0.0, 1.0, None, 0.0
    known = [s for s in strata if s.pairs > 0 and s.decided > 0]
    unknown_weight = sum(s.pairs for s in strata if s.pairs > 0 and s.decided == 0) / population
    if not known:
        return None, 0.0, 1.0, None, unknown_weight
    covered = sum(s.pairs for s in known)
    point = smoothed = variance = 0.0
    for s in known:
        w, n = s.pairs / covered, s.decided
        p_h, q_h = s.same / n, (s.same + 0.5) / (n + 1)
        point += w * p_h
        smoothed += w * q_h
        variance += w * w * max(0.0, 1 - n / s.pairs) * q_h * (1 - q_h) / n
    if variance <= 0:   # every stratum reviewed in full: no sampling error
        low = high = point
        effective = float(sum(s.decided for s in known))
    else:
        effective = smoothed * (1 - smoothed) / variance
        low, high = wilson_interval(point, effective, z)
        low, high = min(low, point), max(high, point)
    keep = 1 - unknown_weight
    return point, low * keep, high * keep + unknown_weight, effective, unknown_weight


def latest_sample_id(sample: DataFrame) -> str | None:
    """The sample drawn last (``drawn_at``, then the id), None when there is none."""
    row = sample.select("sample_id", "drawn_at").orderBy(F.desc("drawn_at"), F.desc("sample_id")).first()
    return row["sample_id"] if row else None


def sample_strata(sample: DataFrame, decisions: DataFrame | None, sample_id: str) -> list[StratumEstimate]:
    """The strata of one sample with the latest decisions on its pairs counted (one small Spark job)."""
    rows = sample.where(F.col("sample_id") == sample_id)
    if decisions is not None:
        rows = rows.join(latest_decisions(decisions).select("pair_id", "decision"), "pair_id", "left")
    else:
        rows = rows.withColumn("decision", F.lit(None).cast("string"))
    counted = rows.groupBy("stratum").agg(
        F.max("stratum_pairs").alias("pairs"), F.count("*").alias("drawn"),
        *(F.sum((F.col("decision") == d).cast("int")).alias(d) for d in (SAME, DIFFERENT, UNSURE)),
    ).collect()
    if not counted:
        raise LookupError(f"no sample {sample_id!r} in the review sample table")
    strata = [StratumEstimate(r["stratum"], int(r["pairs"]), int(r["drawn"]), int(r[SAME] or 0),
                              int(r[DIFFERENT] or 0), int(r[UNSURE] or 0)) for r in counted]
    order = {h: i for i, h in enumerate(SampleConfig().strata())}
    return sorted(strata, key=lambda s: (order.get(s.stratum, len(order)), s.stratum))


def estimate_precision(sample: DataFrame, decisions: DataFrame | None, sample_id: str | None = None) -> PrecisionEstimate:
    """The precision one sample's reviews estimate (the latest sample by default), with its 95 % interval.

    ``sample``: ``gold.review_sample`` rows; ``decisions``: ``ops.review_decisions`` rows (None: none yet).

    Example::

        estimate = estimate_precision(lake.read(tables.REVIEW_SAMPLE), lake.read_or_none(tables.REVIEW_DECISIONS))
        print(estimate.text())
    """
    if sample is None:
        raise ValueError("estimate_precision: 'sample' cannot be None")
    require_columns(sample, [f.name for f in schemas.REVIEW_SAMPLE.fields], "sample")
    sample_id = sample_id or latest_sample_id(sample)
    if sample_id is None:
        raise LookupError("estimate_precision: the review sample table holds no sample: draw one (rcu review-sample)")
    strata = sample_strata(sample, decisions, sample_id)
    point, low, high, effective, unknown = stratified_estimate(strata)
    return PrecisionEstimate(
        sample_id=sample_id, precision=point, ci_low=low, ci_high=high,
        labelled_pairs=sum(s.decided for s in strata), unsure_pairs=sum(s.unsure for s in strata),
        undecided_pairs=sum(s.undecided for s in strata), population_pairs=sum(s.pairs for s in strata),
        effective_n=effective, unlabelled_weight=unknown, strata=tuple(strata),
    )


@dataclass(frozen=True)
class ReviewedPrecision:
    """The share of ``same`` among every reviewed pair the run declares a match: BIASED (the queue sends
    doubtful pairs first), reported apart from the sample's estimate."""

    labelled_pairs: int
    same: int
    precision: float | None
    label: str = "biased: all reviewed pairs, not a random sample"


def reviewed_precision(population: PairPopulation, decisions: DataFrame) -> ReviewedPrecision:
    """The biased share of ``same`` among all latest ``same``/``different`` decisions on pairs of the population.

    Example::

        reviewed_precision(population, lake.read(tables.REVIEW_DECISIONS)).precision
    """
    latest = (latest_decisions(decisions).where(F.col("decision").isin(SAME, DIFFERENT))
              .select("pair_id", "record_key_l", "record_key_r", "decision"))
    inside = classify_pairs(latest, population).where(F.col("stratum").isNotNull())
    row = inside.agg(F.count("*").alias("n"), F.sum((F.col("decision") == SAME).cast("int")).alias("same")).first()
    n, same = int(row["n"] or 0), int(row["same"] or 0)
    return ReviewedPrecision(n, same, same / n if n else None)


def precision_from_truth(crosswalk: DataFrame, truth: DataFrame) -> float:
    """The population's precision against a ground truth: ``identified_pairwise_precision`` of
    :func:`~spark_lib.matching.evaluation.evaluate_matching` (pairs of identified records the truth knows).

    Example::

        precision_from_truth(lake.read(tables.CROSSWALK), spark.read.parquet("truth/truth.parquet"))
    """
    from spark_lib.matching.evaluation import evaluate_matching

    anonymous = crosswalk.where(F.col("match_rule") == "anonymous").select("record_key")
    return float(evaluate_matching(crosswalk, truth, anonymous)["identified_pairwise_precision"])


def print_strata(strata: Iterable[StratumEstimate]) -> str:
    """A small table of strata: N_h, n_h drawn, decisions and p_h (what the CLI prints)."""
    lines = [f"{'stratum':<34} {'N_h':>10} {'drawn':>6} {'same':>5} {'diff':>5} {'unsure':>6} {'p_h':>7}"]
    for s in strata:
        p = "" if s.precision is None else f"{s.precision:.4f}"
        lines.append(f"{s.stratum:<34} {s.pairs:>10,} {s.drawn:>6} {s.same:>5} {s.different:>5} {s.unsure:>6} {p:>7}")
    return "\n".join(lines)
