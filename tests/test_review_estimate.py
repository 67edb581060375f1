"""The precision estimate of the steward's loop: strata counted right, samples drawn right, the stratified
estimate and its interval checked by hand and by simulation."""

from __future__ import annotations

import datetime as dt
import random

import pytest

from spark_lib import schemas
from spark_lib.config import ConfigError
from spark_lib.review import estimate as est
from spark_lib.review.estimate import (
    DETERMINISTIC,
    TRANSITIVE,
    SampleConfig,
    StratumEstimate,
    allocate,
    classify_pairs,
    draw_sample,
    estimate_precision,
    pair_population,
    precision_from_truth,
    reviewed_precision,
    stratified_estimate,
    stratum_counts,
    wilson_interval,
)

TOP, HIGH, MID, LOW = SampleConfig().band_names()   # 0.999999-1, 0.9999-0.999999, 0.999-0.9999, 0-0.999


# ---------------------------------------------------------------------------------------------------
# Pure math
# ---------------------------------------------------------------------------------------------------


def test_wilson_interval_gives_newcombes_published_values():
    # Newcombe (1998), Table I: method 3 (score) and method 4 (score with continuity correction)
    assert [round(v, 4) for v in wilson_interval(81 / 263, 263, continuity=False)] == [0.2553, 0.3662]
    assert [round(v, 4) for v in wilson_interval(81 / 263, 263)] == [0.2535, 0.3682]
    assert [round(v, 4) for v in wilson_interval(0 / 20, 20)] == [0.0, 0.2005]
    assert [round(v, 4) for v in wilson_interval(1 / 29, 29)] == [0.0018, 0.1963]


def test_stratified_estimate_on_two_strata_by_hand():
    # W = 0.9, 0.1; p_h = 10/10, 5/10 -> p = 0.9 * 1 + 0.1 * 0.5 = 0.95
    # smoothed p~_h = 10.5/11, 5.5/11; V = 0.81 (1 - 10/900) (10.5/11)(0.5/11)/10 + 0.01 (1 - 10/100) 0.25/10
    #   = 0.0034755 + 0.000225 = 0.0037005; p~ = 0.909091; n* = p~(1 - p~)/V = 0.0826446/0.0037005 = 22.334
    strata = [StratumEstimate("a", pairs=900, drawn=10, same=10), StratumEstimate("b", pairs=100, drawn=10, same=5, different=5)]
    point, low, high, effective, unknown = stratified_estimate(strata)
    assert point == pytest.approx(0.95)
    assert effective == pytest.approx(22.334, abs=1e-3)
    assert (low, high) == pytest.approx(wilson_interval(0.95, 22.334), abs=1e-4)
    assert (round(low, 3), round(high, 3)) == (0.747, 0.997)
    assert unknown == 0.0


def test_a_stratum_without_error_still_gives_an_interval_below_one():
    point, low, high, effective, _ = stratified_estimate([StratumEstimate("a", pairs=10_000, drawn=30, same=30)])
    assert point == 1.0 and high == 1.0
    # one stratum: the continuity-corrected Wilson interval of 30/30 at n* = n (p~ = 30.5/31)
    assert effective == pytest.approx(30 / (1 - 30 / 10_000), rel=1e-9)
    assert 0.85 < low < 0.9


def test_a_stratum_reviewed_in_full_has_no_sampling_error():
    point, low, high, _, _ = stratified_estimate([StratumEstimate("a", pairs=4, drawn=4, same=3, different=1)])
    assert point == low == high == 0.75


def test_a_stratum_without_decision_widens_the_interval_by_its_weight():
    strata = [StratumEstimate("a", pairs=800, drawn=20, same=20), StratumEstimate("b", pairs=200, drawn=5, unsure=2)]
    point, low, high, _, unknown = stratified_estimate(strata)
    known_low, known_high = stratified_estimate(strata[:1])[1:3]
    assert unknown == pytest.approx(0.2)
    assert point == 1.0
    assert low == pytest.approx(0.8 * known_low) and high == pytest.approx(0.8 * known_high + 0.2)


def test_allocation_gives_the_floor_then_shares_by_neyman():
    # floor 10 each; the 30 left shared by N_h sqrt(e(1-e)): 1000 x 0.0995 = 99.5 and 100 x 0.4 = 40
    # -> 21.47 and 8.53 -> 21 + 8, the last pair to the larger remainder (b)
    assert allocate({"a": 1000, "b": 100}, 50, {"a": 0.01, "b": 0.2}, floor=10) == {"a": 31, "b": 19}
    # a stratum the share would exhaust is taken whole; empty strata get nothing
    assert allocate({"a": 1000, "b": 12, "c": 0}, 50, {"a": 0.01, "b": 0.5, "c": 0.5}, floor=10) == {"a": 38, "b": 12}
    assert allocate({"a": 3, "b": 2}, 300, {"a": 0.1, "b": 0.1}, floor=10) == {"a": 3, "b": 2}
    with pytest.raises(ValueError, match="cannot represent the 3 non-empty strata"):
        allocate({"a": 10, "b": 10, "c": 10}, 2, {"a": 0.1, "b": 0.1, "c": 0.1}, floor=1)


def test_pair_index_decodes_every_pair_of_a_group_once():
    decoded = [est._decode(k) for k in range(45)]
    assert decoded == [(i, j) for j in range(1, 10) for i in range(j)]   # (0,1), (0,2), (1,2), (0,3), ...
    # exact for large groups: 1414214 * 1414213 / 2 = 999,999,911,791 pairs come before (0, 1414214)
    assert est._decode(10**12) == (88_209, 1_414_214)


def _population_rates(strata):
    return sum(n * p for n, p in strata) / sum(n for n, _ in strata)


def test_interval_covers_the_true_precision_in_200_simulated_samples():
    # a population shaped like the demo's: many deterministic pairs that rarely err, fewer transitive and
    # low-band pairs that err more; 300 pairs allocated as draw_sample allocates them
    population = {DETERMINISTIC: (220_000, 0.9985), TOP: (2_800, 0.993), HIGH: (700, 0.93), MID: (190, 0.92),
                  LOW: (180, 0.69), TRANSITIVE: (14_700, 0.96)}
    config = SampleConfig()
    allocation = allocate({h: n for h, (n, _) in population.items()}, 300, config.prior_errors(), config.min_per_stratum)
    truth = _population_rates(population.values())
    rng = random.Random(20261206)
    covered = 0
    for _ in range(200):
        strata = []
        for h, (n_pairs, p) in population.items():
            good = round(n_pairs * p)
            # a simple random sample without replacement: hypergeometric count of true pairs
            drawn = rng.sample(range(n_pairs), allocation[h])
            same = sum(1 for i in drawn if i < good)
            strata.append(StratumEstimate(h, n_pairs, allocation[h], same, allocation[h] - same))
        _, low, high, _, _ = stratified_estimate(strata)
        covered += low <= truth <= high
    assert covered / 200 >= 0.93


def test_sample_config_is_read_strictly(tmp_path):
    path = tmp_path / "review_sample.yaml"
    path.write_text("probability_bands: [0.99]\nprior_error_bands: [0.01, 0.2]\nmin_per_stratum: 5\n")
    config = est.load_sample_config(path)
    assert config.strata() == [DETERMINISTIC, "probabilistic:0.99-1", "probabilistic:0-0.99", TRANSITIVE]
    path.write_text("probability_band: [0.99]\n")
    with pytest.raises(ConfigError, match="unknown key 'probability_band'"):
        est.load_sample_config(path)
    path.write_text("probability_bands: [0.99, 0.999]\n")
    with pytest.raises(ConfigError, match="strictly decreasing"):
        est.load_sample_config(path)
    assert est.load_sample_config() == SampleConfig()   # conf/review_sample.yaml holds the defaults


# ---------------------------------------------------------------------------------------------------
# The population on Spark
# ---------------------------------------------------------------------------------------------------

# C1: core K1 = a, b, c (3 deterministic pairs); d its own core, scored with a at 0.9995 (band 0.999-0.9999);
#     b-d and c-d held only through a: transitive. a-b is scored too (within a core: stays deterministic).
# C2: e, f, each its own core, scored 0.9999995 (top band).
# C3: g anonymous and i identified: no pair (anonymous records never count).
# C4: cores P = p, q, r and S = s, t: 3 + 1 deterministic pairs, 6 transitive.
# x (C5, alone) scored with e (other customer): not a match the run declares.
CROSSWALK = [("a", "C1", "deterministic:email_std"), ("b", "C1", "deterministic:email_std"),
             ("c", "C1", "deterministic:email_std"), ("d", "C1", "probabilistic"), ("e", "C2", "probabilistic"),
             ("f", "C2", "probabilistic"), ("g", "C3", "anonymous"), ("i", "C3", "singleton"),
             ("p", "C4", "deterministic:account_id"), ("q", "C4", "deterministic:account_id"),
             ("r", "C4", "deterministic:account_id"), ("s", "C4", "deterministic:loyalty_card"),
             ("t", "C4", "deterministic:loyalty_card"), ("x", "C5", "singleton")]
CORES = {"a": "a", "b": "a", "c": "a", "p": "p", "q": "p", "r": "p", "s": "s", "t": "s", "g": "g"}
SCORED = [("a", "d", 0.9995), ("a", "b", 0.7), ("e", "f", 0.9999995), ("e", "x", 0.95)]
EXPECTED = {
    DETERMINISTIC: {("a", "b"), ("a", "c"), ("b", "c"), ("p", "q"), ("p", "r"), ("q", "r"), ("s", "t")},
    MID: {("a", "d")},
    TOP: {("e", "f")},
    TRANSITIVE: {("b", "d"), ("c", "d"), ("p", "s"), ("p", "t"), ("q", "s"), ("q", "t"), ("r", "s"), ("r", "t")},
}


@pytest.fixture(scope="module")
def population(spark):
    crosswalk = spark.createDataFrame(CROSSWALK, "record_key string, customer_id string, match_rule string")
    matched = spark.createDataFrame([(k, CORES.get(k)) for k, _, _ in CROSSWALK], "record_key string, core_id string")
    pairs = spark.createDataFrame(SCORED, "record_key_l string, record_key_r string, match_probability double")
    return pair_population(crosswalk, matched, pairs)


def test_stratum_counts_are_the_pairs_of_each_stratum(population):
    counts = stratum_counts(population)
    assert counts == {DETERMINISTIC: 7, TOP: 1, HIGH: 0, MID: 1, LOW: 0, TRANSITIVE: 8}


def test_classify_pairs_puts_each_pair_in_its_stratum_and_others_nowhere(spark, population):
    every = [(l, r) for pairs in EXPECTED.values() for l, r in pairs]
    outside = [("e", "x"), ("g", "i"), ("a", "e")]
    # one pair given right-to-left: classified as its ordered self
    rows = spark.createDataFrame([*every[1:], every[0][::-1], *outside], "record_key_l string, record_key_r string")
    got = {(r.record_key_l, r.record_key_r): r.stratum for r in classify_pairs(rows, population).collect()}
    expected = {pair: h for h, pairs in EXPECTED.items() for pair in pairs}
    expected.update({("e", "x"): None, ("g", "i"): None, ("a", "e"): None})
    assert got == expected


def test_a_sample_larger_than_the_population_takes_every_pair(population):
    sample = draw_sample(population, 100, seed=1, config=SampleConfig(min_per_stratum=1)).collect()
    by_stratum: dict[str, set] = {}
    for row in sample:
        by_stratum.setdefault(row.stratum, set()).add((row.record_key_l, row.record_key_r))
        assert row.pair_id == f"{row.record_key_l}|{row.record_key_r}"
        assert row.stratum_pairs == row.stratum_drawn == len(EXPECTED[row.stratum])
    assert by_stratum == EXPECTED


def test_a_sample_draws_the_size_asked_with_its_counts_per_stratum(population):
    config = SampleConfig(min_per_stratum=1)
    sample = draw_sample(population, 8, seed=3, config=config, sample_id="s1",
                         drawn_at=dt.datetime(2026, 12, 1, 8, 0))
    rows = sample.collect()
    assert sample.schema == schemas.REVIEW_SAMPLE
    assert len(rows) == 8 and len({r.pair_id for r in rows}) == 8
    drawn: dict[str, int] = {}
    for row in rows:
        drawn[row.stratum] = drawn.get(row.stratum, 0) + 1
        assert (row.record_key_l, row.record_key_r) in EXPECTED[row.stratum]
        assert "g" not in (row.record_key_l, row.record_key_r)   # never an anonymous record
        assert (row.sample_id, row.seed, row.stratum_pairs) == ("s1", 3, len(EXPECTED[row.stratum]))
    assert {r.stratum: r.stratum_drawn for r in rows} == drawn
    # floors of 1, then Neyman on N_h sqrt(e_h(1-e_h)): the transitive stratum gets the most of the rest
    assert drawn == allocate(stratum_counts(population, config), 8, config.prior_errors(), 1)
    again = draw_sample(population, 8, seed=3, config=config).collect()
    assert {r.pair_id for r in again} == {r.pair_id for r in rows}   # same seed, same pairs


def test_group_draws_map_indices_one_to_one_onto_the_pairs(spark):
    # one group of 6 records (15 pairs), another of 2 (1 pair): drawing all 16 indices gives every pair once,
    # so indices drawn uniformly without replacement are pairs drawn uniformly without replacement
    members = spark.createDataFrame([(k, "g1") for k in "abcdef"] + [(k, "g2") for k in "yz"], "record_key string, grp string")
    drawn = est._draw_in_groups(members, "grp", 16, random.Random(5))
    pairs = [(l, r) for l, r, _ in drawn]
    assert sorted(pairs) == sorted([(l, r) for i, l in enumerate("abcdef") for r in "abcdef"[i + 1:]] + [("y", "z")])
    assert [order for _, _, order in drawn] == list(range(16))   # in draw order
    assert len(est._draw_in_groups(members, "grp", 40, random.Random(5))) == 16   # never more than there are


# ---------------------------------------------------------------------------------------------------
# The estimate from decisions
# ---------------------------------------------------------------------------------------------------


def _decisions(spark, rows):
    """rows: (pair_id, decision, minute) -> ops.review_decisions rows."""
    data = []
    for n, (pair_id, decision, minute) in enumerate(rows):
        l, r = pair_id.split("|")
        data.append((f"d{n:03d}", pair_id, l, r, decision, "steward", None, dt.datetime(2026, 12, 1, 9, minute), 1, 2, "page"))
    return spark.createDataFrame(data, schemas.REVIEW_DECISIONS)


def _sample(spark, rows, sample_id="s1", drawn_at=dt.datetime(2026, 12, 1, 8, 0)):
    """rows: (pair_id, stratum, N_h, n_h)."""
    data = [(sample_id, p, *p.split("|"), h, big_n, n, 7, drawn_at) for p, h, big_n, n in rows]
    return spark.createDataFrame(data, schemas.REVIEW_SAMPLE)


def test_estimate_counts_the_latest_decision_and_reports_unsure_and_undecided(spark):
    sample = _sample(spark, [("a|b", "deterministic", 900, 3), ("a|c", "deterministic", 900, 3),
                             ("b|c", "deterministic", 900, 3), ("b|d", "transitive", 100, 2), ("c|d", "transitive", 100, 2)])
    older = _sample(spark, [("x|y", "deterministic", 5, 1)], sample_id="s0", drawn_at=dt.datetime(2026, 11, 1))
    decisions = _decisions(spark, [
        ("a|b", "different", 1), ("a|b", "same", 2),      # the latest holds: same
        ("a|c", "same", 1), ("b|c", "unsure", 3),          # unsure: not labelled
        ("b|d", "same", 1), ("b|d", "different", 5),       # different
        ("x|y", "same", 1),                                # another sample's pair
    ])
    estimate = estimate_precision(sample.unionByName(older), decisions)
    assert estimate.sample_id == "s1"   # the latest sample
    assert (estimate.labelled_pairs, estimate.unsure_pairs, estimate.undecided_pairs) == (3, 1, 1)
    assert estimate.population_pairs == 1000
    by_stratum = {s.stratum: (s.pairs, s.drawn, s.same, s.different, s.unsure) for s in estimate.strata}
    assert by_stratum == {"deterministic": (900, 3, 2, 0, 1), "transitive": (100, 2, 0, 1, 0)}
    # p = 0.9 * 2/2 + 0.1 * 0/1
    assert estimate.precision == pytest.approx(0.9)
    assert estimate.ci_low < 0.9 < estimate.ci_high
    assert estimate.metrics()["labelled_pairs"] == 3.0
    assert estimate_precision(sample.unionByName(older), decisions, "s0").precision == 1.0


def test_estimate_without_decisions_says_so(spark):
    estimate = estimate_precision(_sample(spark, [("a|b", "deterministic", 10, 1)]), None)
    assert estimate.precision is None and (estimate.ci_low, estimate.ci_high) == (0.0, 1.0)
    assert estimate.undecided_pairs == 1 and "no decided pair" in estimate.text()


def test_reviewed_precision_counts_only_the_runs_matches(spark, population):
    decisions = _decisions(spark, [("a|b", "same", 1), ("b|d", "different", 1), ("e|x", "different", 1),
                                   ("c|d", "unsure", 1), ("e|f", "different", 1), ("e|f", "same", 2)])
    reviewed = reviewed_precision(population, decisions)
    # a|b same, b|d different, e|f same (latest); e|x is no match of the run; c|d unsure
    assert (reviewed.labelled_pairs, reviewed.same) == (3, 2)
    assert reviewed.precision == pytest.approx(2 / 3) and "biased" in reviewed.label


def test_precision_from_truth_is_the_identified_pairwise_precision(spark):
    crosswalk = spark.createDataFrame(
        [("s:1", "C1", "deterministic:email_std"), ("s:2", "C1", "deterministic:email_std"), ("s:3", "C1", "probabilistic"),
         ("s:4", "C1", "anonymous"), ("s:5", "C2", "singleton")],
        "record_key string, customer_id string, match_rule string")
    truth = spark.createDataFrame([("s", "1", "P1"), ("s", "2", "P1"), ("s", "3", "P2"), ("s", "4", "P1"), ("s", "5", "P2")],
                                  "source string, source_record_id string, person_id string")
    # pairs of identified records of one customer: 1-2 (true), 1-3, 2-3 (false); the anonymous s:4 left out
    assert precision_from_truth(crosswalk, truth) == pytest.approx(1 / 3)
