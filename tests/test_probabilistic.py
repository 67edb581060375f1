"""Probabilistic matching: a Splink model trained on a small town of customers ranks pairs as a person would.

The records are built here from explicit people: each appears in two or three sources with the defects
real sources have (nicknames, typos, swapped day and month, a move, missing fields), next to a family that
shares an email, a landline and an address, and two unrelated women both called Marie Martin.
"""

from __future__ import annotations

import dataclasses
import datetime as dt
import functools

import pytest
from pyspark.sql import functions as F

from spark_lib.config import ConfigError
from spark_lib.matching import (
    ComparisonLimitExceededError,
    build_settings,
    explain_pair,
    load_matching_config,
    predict_pairs,
    preflight,
    train_model,
)
from spark_lib.matching.blocking import BlockingRuleSpec
from spark_lib.matching.clustering import ClusteringConfig, deterministic_cores
from spark_lib.matching.probabilistic import (
    WAIT_FOR_CORES,
    ContactRecords,
    count_core_pairs,
    count_linked_pairs,
    m_u_table,
    model_input,
    parse_probabilistic,
)
from tests.records import silver_record, silver_records

# (first name, last name, birth date, street) of the town's people; everything else derives from the index.
PEOPLE = [
    ("nicolas", "bernard", "1968-02-11", "rue de la republique"),
    ("isabelle", "petit", "1972-07-23", "avenue jean jaures"),
    ("christophe", "durand", "1980-12-05", "rue pasteur"),
    ("nathalie", "leroy", "1965-04-30", "boulevard gambetta"),
    ("stephane", "moreau", "1977-09-14", "rue des ecoles"),
    ("catherine", "simon", "1959-01-19", "place de la gare"),
    ("julien", "laurent", "1990-06-08", "rue du moulin"),
    ("sophie", "michel", "1985-10-27", "allee des tilleuls"),
    ("philippe", "garcia", "1955-03-03", "rue carnot"),
    ("valerie", "david", "1970-08-16", "avenue foch"),
    ("sebastien", "bertrand", "1983-11-21", "rue voltaire"),
    ("celine", "roux", "1988-05-09", "chemin des acacias"),
    ("alexandre", "vincent", "1975-02-28", "rue emile zola"),
    ("sandrine", "fournier", "1969-12-12", "impasse des roses"),
    ("emmanuel", "morel", "1962-07-04", "rue de verdun"),
    ("veronique", "girard", "1958-09-25", "avenue lamartine"),
    ("maxime", "andre", "1993-04-17", "rue jules ferry"),
    ("aurelie", "lefevre", "1987-01-06", "rue des peupliers"),
    ("olivier", "mercier", "1966-10-10", "boulevard carnot"),
    ("florence", "lambert", "1974-06-22", "rue saint martin"),
    ("gregory", "bonnet", "1981-08-29", "rue de la liberte"),
    ("martine", "francois", "1952-11-02", "place du marche"),
    ("thierry", "legrand", "1964-05-13", "rue nationale"),
    ("pauline", "garnier", "1995-03-24", "allee des lilas"),
    ("benjamin", "faure", "1986-09-01", "rue du chateau"),
    ("chantal", "rousseau", "1950-02-07", "avenue de paris"),
    ("pascal", "blanc", "1963-12-30", "rue des acacias"),
    ("brigitte", "guerin", "1957-07-18", "rue de l eglise"),
    ("antoine", "muller", "1991-01-25", "rue du stade"),
    ("camille", "henry", "1996-08-11", "boulevard victor hugo"),
]
NICKNAMES = {"frederic": "fred", "nicolas": "nico", "christophe": "chris", "stephane": "steph", "catherine": "cathy",
             "sebastien": "seb", "alexandre": "alex", "emmanuel": "manu", "maxime": "max", "gregory": "greg",
             "benjamin": "ben", "florence": "flo", "valerie": "val", "isabelle": "isa"}
CITIES = [("69003", "lyon"), ("59000", "lille"), ("33000", "bordeaux"), ("31000", "toulouse"),
          ("67000", "strasbourg"), ("35000", "rennes"), ("06000", "nice"), ("44000", "nantes")]


def record(key: str, first: str | None, last: str | None, birth: str | None, **fields) -> dict:
    """A silver.customer_records row (tests.records.silver_record) of an offline source unless given: the folded
    names, the canonical first name and the birth date from the arguments, other matching columns as given."""
    canonical = {v: k for k, v in NICKNAMES.items()}.get(first, first) if first else None
    return silver_record(key, **{
        "channel": "offline", "first_name_std": first, "first_name_canonical": canonical, "last_name_std": last,
        "birth_date": dt.date.fromisoformat(birth) if birth else None, **fields,
    })


def typo(word: str) -> str:
    """Swap two letters in the middle: "bernard" -> "bernrad"."""
    i = len(word) // 2
    return word[: i - 1] + word[i] + word[i - 1] + word[i + 1 :]


def town() -> list[dict]:
    rows = []
    for i, (first, last, birth, street) in enumerate(PEOPLE):
        postcode, city = CITIES[i % len(CITIES)]
        home = dict(house_number=str(3 + i), street_std=street, postcode=postcode, city_std=city)
        email = f"{first}.{last}{i}@orange.fr"
        mobile = f"+3361234{i:04d}"
        rows.append(record(f"crm:C{i:03d}", first, last, birth, email_std=email, phone_mobile=mobile, **home))
        # the loyalty card, typed at the till: one defect per person, in turn
        l_first, l_last, l_birth, l_home = first, last, birth, dict(home)
        defect = i % 5
        if defect == 0 and first in NICKNAMES:
            l_first = NICKNAMES[first]
        elif defect == 1:
            l_first = typo(first)
        elif defect == 2:
            l_last = typo(last)
        elif defect == 3:
            year, month, day = birth.split("-")
            l_birth = f"{year}-{day}-{month}" if int(day) <= 12 else f"{year}-{month}-{int(day) - 1:02d}"
        else:
            l_home.update(house_number=str(40 + i), street_std="rue des ormes")  # moved within the town
        rows.append(record(f"loyalty:L{i:03d}", l_first, l_last, l_birth, phone_mobile=mobile, **l_home))
        if i in (7, 12, 17):  # a call-centre note: first and last names typed the wrong way round, one misspelt
            contact = {"phone_mobile": mobile} if i != 12 else {}   # the caller gave a mobile, or nothing
            rows.append(record(f"call:C{i:03d}", typo(last), first, birth, **contact, **home))
        if i % 3 == 0:  # an e-shop account: no birth date, the email and the mobile
            rows.append(record(f"eshop:A{i:03d}", first, last, None, email_std=email, phone_mobile=mobile,
                               **home))
    family = dict(email_std="famille.dupont@orange.fr", phone_landline="+33240000001", house_number="5",
                  street_std="rue des lilas", postcode="44000", city_std="nantes")
    rows += [
        # Frédéric Lefebvre: "fred lefebre" on his loyalty card, same birth date and mobile
        record("crm:F001", "frederic", "lefebvre", "1971-06-14", email_std="frederic.lefebvre@free.fr",
               phone_mobile="+33698765001", house_number="12", street_std="rue victor hugo", postcode="69003",
               city_std="lyon"),
        record("loyalty:F001", "fred", "lefebre", "1971-06-14", phone_mobile="+33698765001", house_number="12",
               street_std="rue victor hugo", postcode="69003", city_std="lyon"),
        # two different women called Marie Martin
        record("crm:M001", "marie", "martin", "1975-03-02", email_std="marie.martin75@gmail.com",
               phone_mobile="+33698765101", house_number="8", street_std="rue pasteur", postcode="59000",
               city_std="lille"),
        record("loyalty:M001", "marie", "martin", "1975-03-02", phone_mobile="+33698765101", house_number="8",
               street_std="rue pasteur", postcode="59000", city_std="lille"),
        record("crm:M002", "marie", "martin", "1988-11-20", email_std="mmartin88@laposte.net",
               phone_mobile="+33698765202", house_number="3", street_std="avenue foch", postcode="13008",
               city_std="marseille"),
        record("eshop:M002", "marie", "martin", None, email_std="mmartin88@laposte.net",
               phone_mobile="+33698765202", house_number="3", street_std="avenue foch", postcode="13008",
               city_std="marseille"),
        # the Dupont family: one email, one landline, one address
        record("crm:D001", "jean", "dupont", "1960-04-12", phone_mobile="+33698765301", **family),
        record("crm:D002", "sophie", "dupont", "1962-09-30", birth_name_std="moreau", **family),
        record("loyalty:D002", "sophie", "moreau", "1962-09-30", phone_mobile="+33698765302",
               house_number="5", street_std="rue des lilas", postcode="44000", city_std="nantes"),
        record("eshop:D003", "lucas", "dupont", "1992-01-05", **family),
        # a cookie-only web record: nothing Splink could compare
        record("web:K001", None, None, None, cookie_id="K001", channel="online"),
    ]
    return rows


def fast(config):
    """The shipped configuration, with training cut down for a hundred records."""
    p = config.probabilistic
    training = dataclasses.replace(p.training, u_max_pairs=100_000, em_max_iterations=10, max_records=0)
    return dataclasses.replace(config, probabilistic=dataclasses.replace(p, training=training))


@functools.cache
@functools.cache
def trained_town(spark) -> tuple:
    """The town's records, the fast config and the model trained on them, trained once per session; shared
    with test_tracking and test_incremental_match."""
    config = fast(load_matching_config())
    records = silver_records(spark, *town()).cache()
    return records, config, train_model(spark, records, config)


@pytest.fixture(scope="module")
def config(spark):
    return trained_town(spark)[1]


@pytest.fixture(scope="module")
def records(spark):
    return trained_town(spark)[0]


@pytest.fixture(scope="module")
def model(spark):
    return trained_town(spark)[2]


def test_true_duplicate_with_typos_scores_higher_than_homonyms(spark, records, model, config):
    duplicate = explain_pair(spark, records, model.model_json, "crm:F001", "loyalty:F001", config)
    homonyms = explain_pair(spark, records, model.model_json, "crm:M001", "crm:M002", config)

    assert duplicate.match_probability > 0.99
    assert homonyms.match_probability < 0.05
    assert duplicate.match_weight > homonyms.match_weight + 10


def test_family_members_sharing_an_email_get_a_low_probability(spark, records, model, config):
    pairs = predict_pairs(spark, records, model.model_json, config, threshold=0.0)
    scored = {(r.record_key_l, r.record_key_r): r.match_probability for r in pairs.collect()}

    # found by the email rule, and scored low: other first names, other birth dates
    assert scored[("crm:D002", "eshop:D003")] < 0.01
    assert scored[("crm:D001", "crm:D002")] < 0.01
    # while the mother's own records (married and birth names) are one person
    assert scored[("crm:D002", "loyalty:D002")] > 0.9


def test_shared_email_weighs_nothing_between_visibly_different_people(spark, records, model, config):
    explanation = explain_pair(spark, records, model.model_json, "crm:D002", "eshop:D003", config)
    steps = {s["comparison"]: s for s in explanation.steps}

    assert steps["email"]["gamma"] == -1 and steps["email"]["match_weight"] == 0
    assert steps["first_name"]["match_weight"] < 0
    # the waterfall adds up: prior + every comparison = the pair's match weight
    assert sum(s["match_weight"] for s in explanation.steps) == pytest.approx(explanation.match_weight)


def test_swapped_names_with_a_typo_compare_as_names(spark, records, model, config):
    # "vinecnt alexandre" at Alexandre Vincent's address on his birth date: no identifier in common
    explanation = explain_pair(spark, records, model.model_json, "call:C012", "crm:C012", config)
    steps = {s["comparison"]: s for s in explanation.steps}

    assert steps["first_name"]["level"].startswith("First and last names swapped")
    assert steps["last_name"]["level"].startswith("First and last names swapped")
    assert explanation.match_probability > 0.99


def person_of(key: str) -> str:
    """Who a record is: the town's people by index, the named cases by their key."""
    record_id = key.split(":")[1]
    return f"town{record_id[1:]}" if record_id[0] in "CLA" else record_id


def test_defective_copies_of_each_person_are_found_and_nobody_else(spark, records, model, config):
    pairs = predict_pairs(spark, records, model.model_json, config, threshold=0.9)
    found = {(r.record_key_l, r.record_key_r) for r in pairs.select("record_key_l", "record_key_r").collect()}
    card_and_crm = {(f"crm:C{i:03d}", f"loyalty:L{i:03d}") for i in range(len(PEOPLE))}

    assert len(card_and_crm & found) >= len(PEOPLE) - 2  # nickname, typo, swapped date, move: nearly all
    assert [pair for pair in found if person_of(pair[0]) != person_of(pair[1])] == []


def test_scored_pairs_carry_keys_in_order_rule_and_levels(spark, records, model, config):
    pairs = predict_pairs(spark, records, model.model_json, config, threshold=0.5)

    assert pairs.columns == [
        "record_key_l", "record_key_r", "match_probability", "match_weight", "blocking_rule",
        "gamma_first_name", "gamma_last_name", "gamma_birth_date", "gamma_email", "gamma_phone",
        "gamma_address", "gamma_postcode_city",
    ]
    rows = pairs.collect()
    assert rows and all(r.record_key_l < r.record_key_r and r.match_probability >= 0.5 for r in rows)
    assert {r.blocking_rule for r in rows} <= set(config.blocking.names)


def test_pairs_already_linked_by_a_pivot_are_not_scored(spark, records, model, config):
    # Each crm record shares its mobile with the loyalty card typed at the till: one deterministic core.
    cores = [(f"crm:C{i:03d}", f"crm:C{i:03d}") for i in range(len(PEOPLE))]
    cores += [(f"loyalty:L{i:03d}", f"crm:C{i:03d}") for i in range(len(PEOPLE))]
    linked = spark.createDataFrame(cores, "record_key string, core_id string")

    everything = predict_pairs(spark, records, model.model_json, config, threshold=0.5)
    unlinked = predict_pairs(spark, records, model.model_json, config, threshold=0.5, linked=linked)

    keys = lambda df: {(r.record_key_l, r.record_key_r) for r in df.select("record_key_l", "record_key_r").collect()}  # noqa: E731
    within_cores = {(f"crm:C{i:03d}", f"loyalty:L{i:03d}") for i in range(len(PEOPLE))}
    assert within_cores & keys(everything)                  # scored without the cores ...
    assert keys(unlinked) == keys(everything) - within_cores  # ... and only they are left out with them
    assert unlinked.columns == everything.columns


def test_model_is_trained_from_the_data(model):
    levels = {c["output_column_name"]: c["comparison_levels"] for c in model.model_json["comparisons"]}
    exact_first_name = levels["first_name"][1]

    assert model.model_json["sql_dialect"] == "spark"
    assert exact_first_name["m_probability"] > 10 * exact_first_name["u_probability"]
    assert 0 < model.probability_two_random_records_match < 0.1
    assert model.prior_source == "prior_rules"
    assert set(model.timings) == {"preflight", "sample", "prior", "u", "em", "export"}
    assert model.input_records == len(town()) - 1  # the cookie is left out


def test_deterministic_links_set_the_prior(spark, records, config):
    links = spark.createDataFrame(
        [
            ("crm:C000", "loyalty:L000"),
            ("loyalty:L001", "crm:C001"), ("crm:C001", "loyalty:L001"),  # the same link twice
            ("crm:C003", "loyalty:L003"), ("crm:C003", "eshop:A003"),    # a star: three records, three pairs
            ("web:K001", "crm:C002"),                                    # the cookie is not in the model
        ],
        "record_key_l string, record_key_r string",
    )
    small = dataclasses.replace(config.probabilistic.training, em_blocking_rules=config.probabilistic.training.em_blocking_rules[:1])
    config = dataclasses.replace(config, probabilistic=dataclasses.replace(config.probabilistic, training=small))

    model = train_model(spark, records, config, deterministic_pairs=links)

    n = model.input_records
    recall = config.probabilistic.training.deterministic_recall
    assert model.probability_two_random_records_match == pytest.approx(5 / recall / (n * (n - 1) / 2))
    assert model.prior_source == "deterministic_links"


def test_without_a_deterministic_link_the_prior_comes_from_the_prior_rules(spark, records, config):
    """A customer file of names, addresses and birth dates only: every record is its own core. Training does not
    stop; the prior is Splink's estimate on training.prior_rules (names and birth date agreeing)."""
    small = dataclasses.replace(config.probabilistic.training, em_blocking_rules=config.probabilistic.training.em_blocking_rules[:1])
    config = dataclasses.replace(config, probabilistic=dataclasses.replace(config.probabilistic, training=small))
    alone = model_input(records, config).select("record_key", F.col("record_key").alias("core_id"))

    model = train_model(spark, records, config, deterministic_cores=alone)

    assert model.prior_source == "prior_rules"
    n = model.input_records
    assert 1 / (n * (n - 1) / 2) <= model.probability_two_random_records_match <= 0.5


def test_names_addresses_and_birth_dates_alone_train_a_model(spark, records, config):
    """An old store CRM: no email, phone, card, account. The pivot EM rules find no pair and are skipped; the
    fallback rules (address, last name with city, last name with street) estimate every comparison."""
    pivots = ("email", "email_std", "phone_mobile", "phone_landline", "loyalty_card", "account_id", "customer_ref")
    crm = records.select(*[F.lit(None).cast(f.dataType).alias(f.name) if f.name in pivots else F.col(f.name)
                           for f in records.schema.fields])
    alone = model_input(crm, config).select("record_key", F.col("record_key").alias("core_id"))

    model = train_model(spark, crm, config, deterministic_cores=alone)

    assert model.prior_source == "prior_rules"
    assert model.em_rules == ("address", "last_name_city", "last_name_street")
    weights = {(r["comparison"], r["gamma"]): r["match_weight"] for r in m_u_table(model.model_json)}
    assert weights[("first_name", 5)] > 0 and weights[("birth_date", 3)] > 0 and weights[("address", 3)] > 0


def test_deterministic_cores_count_every_linked_pair_of_the_model_records(spark, records, config):
    """The match job's prior: pairs of model records sharing a core, however long the chain of links."""
    chain = [("crm:C010", "loyalty:L010"), ("loyalty:L010", "web:K001"), ("web:K001", "crm:C011"),
             ("crm:C011", "loyalty:L011"), ("loyalty:L011", "crm:C012")]  # the cookie web:K001 is not a model record
    star = [("crm:C003", "loyalty:L003"), ("crm:C003", "eshop:A003")]
    links = spark.createDataFrame([(a, b, "email_std") for a, b in chain + star], "record_key_l string, record_key_r string, rule string")
    model_records = model_input(records, config)
    present = {r.record_key for r in model_records.select("record_key").collect()}
    k = len({key for pair in chain for key in pair} & present)

    cores = deterministic_cores(records, links, ClusteringConfig()).by_record()

    assert count_core_pairs(model_records, cores) == k * (k - 1) // 2 + 3
    # following three hops from each record's smallest neighbour misses part of the chain's pairs
    assert count_linked_pairs(model_records, links) < count_core_pairs(model_records, cores)


def test_training_can_take_the_cores_when_they_are_ready(spark, records, config):
    """The match job trains while its deterministic step runs: the cores come through a function, called once
    for the prior (after u), and give the prior their pairs."""
    links = spark.createDataFrame([("crm:C003", "loyalty:L003"), ("crm:C003", "eshop:A003")],
                                  "record_key_l string, record_key_r string")
    cores = deterministic_cores(records, links.withColumn("rule", F.lit("email_std")), ClusteringConfig()).by_record()
    small = dataclasses.replace(config.probabilistic.training, em_blocking_rules=config.probabilistic.training.em_blocking_rules[:1])
    config = dataclasses.replace(config, probabilistic=dataclasses.replace(config.probabilistic, training=small))
    calls = []

    def when_ready():
        calls.append(1)
        return cores

    model = train_model(spark, records, config, deterministic_cores=when_ready)

    n = model.input_records
    pairs = count_core_pairs(model_input(records, config), cores)
    assert calls == [1] and pairs == 3
    # the wait is timed apart, and is not training
    assert WAIT_FOR_CORES in model.timings
    assert model.training_seconds == pytest.approx(sum(model.timings.values()) - model.timings[WAIT_FOR_CORES], abs=0.01)
    assert model.probability_two_random_records_match == pytest.approx(
        pairs / config.probabilistic.training.deterministic_recall / (n * (n - 1) / 2)
    )
    assert model.prior_source == "deterministic_links"


@pytest.fixture()
def tiny(spark):
    rows = [
        record("a:1", "anne", "petit", None, email_std="anne@x.fr", postcode="75011"),
        record("a:2", "anne", "petit", None, email_std="anne@x.fr", postcode="75011"),
        record("a:3", "paul", "petit", None, postcode="75011"),
        record("a:4", "lea", "roux", None, postcode="75011"),
        record("a:5", "luc", "roux", None, postcode="13008"),
        record("web:1", None, None, None, postcode="75011", cookie_id="K1"),  # no identity: left out
    ]
    return silver_records(spark, *rows)


def tiny_config(config, limit: int):
    blocking = dataclasses.replace(
        config.blocking,
        rules=(BlockingRuleSpec("email", ("email_std",)), BlockingRuleSpec("postcode", ("postcode",))),
        max_comparisons_per_rule=limit,
    )
    return dataclasses.replace(config, blocking=blocking)


def test_preflight_counts_the_pairs_of_each_rule(spark, tiny, config):
    assert preflight(spark, tiny, tiny_config(config, limit=100)) == {"email": 1, "postcode": 6}


def test_preflight_refuses_a_rule_above_the_limit_and_names_it(spark, tiny, config):
    with pytest.raises(ComparisonLimitExceededError, match=r"'postcode' \(postcode\) would generate 6") as error:
        preflight(spark, tiny, tiny_config(config, limit=5))
    assert error.value.rule == "postcode" and error.value.limit == 5


def test_records_without_identity_are_left_out(tiny, config):
    assert sorted(r.record_key for r in model_input(tiny, config).collect()) == ["a:1", "a:2", "a:3", "a:4", "a:5"]


def test_settings_render_for_spark_and_duckdb(config):
    settings = build_settings(config)
    spark_sql = str(settings.create_settings_dict("spark")["comparisons"])
    duckdb_sql = str(settings.create_settings_dict("duckdb")["comparisons"])

    assert "jaro_winkler(" in spark_sql and "jaro_winkler_similarity(" in duckdb_sql


def test_config_errors_name_the_key_and_the_file(tmp_path):
    file = str(tmp_path / "matching.yaml")
    good = {"min_identity": [["email_std"]], "comparisons": {},
            "training": {"em_blocking_rules": {"mobile": ["phone_mobile"]}, "prior_rules": {"email": ["email_std"]}}}

    with pytest.raises(ConfigError, match=r"matching.yaml: probabilistic.training: unknown key 'em_iterations'"):
        parse_probabilistic({**good, "training": {**good["training"], "em_iterations": 3}}, file)
    with pytest.raises(ConfigError, match=r"probabilistic.min_identity: unknown column 'mail'"):
        parse_probabilistic({**good, "min_identity": [["mail"]]}, file)
    assert parse_probabilistic(good, file).training.backend == "duckdb"


@pytest.mark.e2e
@pytest.mark.slow   # a second training on Spark: half a minute; `make test-slow`
def test_spark_backend_trains_a_model_that_decides_like_duckdb(spark, records, model, config):
    # every EM iteration and u chunk is a Spark job: keep them few
    training = dataclasses.replace(config.probabilistic.training, backend="spark", em_max_iterations=4)
    on_spark = dataclasses.replace(config, probabilistic=dataclasses.replace(config.probabilistic, training=training))

    spark_model = train_model(spark, records, on_spark)

    assert spark_model.backend == "spark" and spark_model.model_json["sql_dialect"] == "spark"
    decisions = {}
    for name, model_json in (("duckdb", model.model_json), ("spark", spark_model.model_json)):
        pairs = predict_pairs(spark, records, model_json, config, threshold=0.0).collect()
        decisions[name] = {(r.record_key_l, r.record_key_r) for r in pairs if r.match_probability >= 0.5}
    assert len(decisions["spark"] ^ decisions["duckdb"]) <= 2


def test_orders_placed_from_an_account_stay_out_of_the_model_and_guest_orders_enter_it(spark, config):
    # A gift: Nathalie's order ships to Bernard. The account links the order to her; scoring its shipping name
    # would link her household's records to his.
    contact = ContactRecords(sources=("eshop_orders",), owner_columns=("account_id",))
    config = dataclasses.replace(config, probabilistic=dataclasses.replace(config.probabilistic, contact_records=contact))
    rows = [
        record("eshop_orders:O1", "bernard", "dupont", None, account_id="A1", postcode="75011"),
        record("eshop_orders:O2", "lea", "roux", None, postcode="13008"),          # guest check-out
        record("crm_customers:C1", "bernard", "dupont", None, postcode="75011", account_id="A9"),
    ]
    kept = model_input(silver_records(spark, *rows), config)

    assert sorted(r.record_key for r in kept.collect()) == ["crm_customers:C1", "eshop_orders:O2"]
