"""rcu explain: a customer's records and links, and a pair's comparisons and weights, on a hand-made lakehouse.

The lakehouse holds the town of tests/test_probabilistic.py plus Frédéric Lefebvre's e-shop account and a
cookie that logged in to it. Customer CFRED has four records: crm:F001, loyalty:F001 (a scored pair),
eshop_accounts:F001 and web:K900 (the cookie, which the model does not score: it is linked on the account).
His loyalty card shares a landline with Marie Martin's CRM record, whose card shares one with crm:C007: the
component {CFRED, CMARIE, crm:C007} was split (logged under its smallest record key, crm:C007, two hops away).
The model has the shipped comparisons with m and u set by hand (training one takes longer than this whole
module), registered as champion in a temporary MLflow store as ``rcu match`` registers a trained one.
"""

from __future__ import annotations

import argparse
import dataclasses
import datetime as dt
import json
import math
from concurrent.futures import ThreadPoolExecutor

import pytest

from jobs import explain
from jobs.common import build_context
from spark_lib import tables
from spark_lib.tracking import log_training_run
from spark_lib.matching import TrainedModel, build_settings, load_matching_config
from spark_lib.matching.probabilistic import m_u_table
from spark_lib.storage import Lakehouse
from tests.records import silver_records
from tests.test_probabilistic import record, town

RUN_1, RUN_2 = dt.datetime(2026, 10, 1, 2, 0), dt.datetime(2026, 11, 1, 2, 0)
FRED = ["crm:F001", "eshop_accounts:F001", "loyalty:F001", "web:K900"]

CROSSWALK = [
    # record_key, customer_id, match_rule, match_probability
    ("crm:F001", "CFRED", "deterministic:email_std", 1.0),
    ("loyalty:F001", "CFRED", "deterministic:phone_mobile", 1.0),
    ("eshop_accounts:F001", "CFRED", "deterministic:email_std", 1.0),
    ("web:K900", "CFRED", "deterministic:account_id", 1.0),
    ("crm:M001", "CMARIE", "deterministic:phone_mobile", 1.0),
    ("loyalty:M001", "CMARIE", "deterministic:phone_mobile", 1.0),
    ("crm:C007", "CTOWN7", "singleton", None),
    ("crm:M002", "CMARIE2", "probabilistic", 0.99),
]
EDGES = [
    ("crm:F001", "loyalty:F001", "phone_mobile", "+33698765001"),
    ("crm:F001", "eshop_accounts:F001", "email_std", "frederic.lefebvre@free.fr"),
    ("eshop_accounts:F001", "web:K900", "account_id", "F001"),
    ("crm:M001", "loyalty:M001", "phone_mobile", "+33698765101"),
    ("crm:M001", "loyalty:F001", "phone_landline", "+33478000001"),   # cut by merge protection
    ("crm:C007", "loyalty:M001", "phone_landline", "+33478000002"),
]
PAIRS = [
    # record_key_l, record_key_r, match_probability, match_weight, blocking_rule, gamma_first_name, gamma_last_name
    ("crm:F001", "loyalty:F001", 0.9999, 13.3, "last_name_birth_date", 3, 2),
    ("eshop_accounts:F001", "loyalty:F001", 0.62, 0.7, "names", 3, 2),      # below the clustering threshold
    ("crm:F001", "crm:M001", 0.9995, 11.0, "names", 0, 0),                  # another customer's record, above the threshold
    ("crm:M001", "crm:M002", 0.55, 0.3, "names", 5, 5),                     # not his records at all
]
SPLITS = [
    ("crm:C007", 7, [4, 2, 1], None, "cannot_link", RUN_1),
    ("crm:C005", 9, [5, 4], 0.97, "oversized", RUN_1),                      # another component
]
EVENTS = [
    (RUN_1, "new", "CFRED", [], 7, "new customer"),
    (RUN_1, "new", "CMARIE", ["CFRED"], 2, "split off"),
    (RUN_2, "merge", "CFRED", ["COLD"], 1, "merged"),
    (RUN_1, "new", "CMARIE2", [], 2, "new customer"),
]


@pytest.fixture(scope="module")
def lakehouse(spark, tmp_root) -> str:
    root = str(tmp_root / "explain-lakehouse")
    lake = Lakehouse(spark, root)
    rows = town() + [
        record("eshop_accounts:F001", "frederic", "lefebvre", None, email_std="frederic.lefebvre@free.fr",
               account_id="F001", channel="online"),
        record("web:K900", None, None, None, cookie_id="K900", account_id="F001", channel="online"),
    ]
    by_key = {r["record_key"]: r for r in rows}
    crosswalk = [(by_key[key]["source"], by_key[key]["source_record_id"], key, by_key[key]["channel"], customer, rule, p,
                  RUN_2) for key, customer, rule, p in CROSSWALK]
    frames = {
        tables.CUSTOMER_RECORDS: silver_records(spark, *rows),
        tables.CROSSWALK: spark.createDataFrame(
            crosswalk, "source string, source_record_id string, record_key string, channel string, customer_id string, "
                       "match_rule string, match_probability double, matched_at timestamp"),
        tables.DETERMINISTIC_EDGES: spark.createDataFrame(
            EDGES, "record_key_l string, record_key_r string, rule string, value string"),
        tables.MATCH_PAIRS: spark.createDataFrame(
            PAIRS, "record_key_l string, record_key_r string, match_probability double, match_weight double, "
                   "blocking_rule string, gamma_first_name int, gamma_last_name int"),
        tables.CLUSTER_SPLITS: spark.createDataFrame(
            SPLITS, "component_id string, size_before long, sizes_after array<long>, threshold double, reason string, "
                    "run_time timestamp"),
        tables.ID_EVENTS: spark.createDataFrame(
            EVENTS, "event_time timestamp, event_type string, customer_id string, other_ids array<string>, "
                    "records_affected long, reason string"),
    }
    # Six one-file tables: most of a write is the driver's Delta commit; side by side they take about half the time.
    with ThreadPoolExecutor(max_workers=3) as pool:
        list(pool.map(lambda item: lake.overwrite(item[1], item[0]), frames.items()))
    return root


PRIOR = 0.001


def hand_made_model() -> dict:
    """The shipped comparisons rendered for Spark; of n levels, the best is the likeliest among matches and
    the rarest among other pairs: m falls as n, n-1, ..., 1 and u grows as 1, 4, 16, ... (each normalised)."""
    settings = build_settings(load_matching_config()).create_settings_dict("spark")
    for comparison in settings["comparisons"]:
        levels = [level for level in comparison["comparison_levels"] if not level.get("is_null_level")]
        n = len(levels)
        for i, level in enumerate(levels):
            level["m_probability"] = (n - i) / (n * (n + 1) / 2)
            level["u_probability"] = 4**i / sum(4**j for j in range(n))
    settings["probability_two_random_records_match"] = PRIOR
    return settings


@pytest.fixture(scope="module")
def tracking_uri(tmp_root) -> str:
    """A champion registered in a store of this module's own (test_tracking moves the aliases of the shared one)."""
    uri = f"sqlite:///{tmp_root / 'explain-mlflow.db'}"
    model = TrainedModel(hand_made_model(), timings={}, comparison_counts={}, backend="spark", input_records=0,
                         training_records=0, prior_source="prior_rules")
    log_training_run(model, load_matching_config(), None, uri, alias="champion", charts=False)
    return uri


@pytest.fixture(scope="module")
def ctx(spark, lakehouse, tracking_uri):
    context = build_context(argparse.Namespace(lakehouse=lakehouse), "rcu-tests", spark)
    return dataclasses.replace(context, pipeline=dataclasses.replace(context.pipeline, mlflow_tracking_uri=tracking_uri))


@pytest.fixture()
def cli(lakehouse, tracking_uri, monkeypatch):
    """``rcu explain <args>`` on the test lakehouse and model store."""
    monkeypatch.setenv("MLFLOW_TRACKING_URI", tracking_uri)
    return lambda *args: explain.main(["--lakehouse", lakehouse, *args])


@pytest.fixture(scope="module")
def fred(ctx) -> dict:
    """What ``rcu explain --record web:K900`` finds (customer_records and customer_links, collected), once."""
    return explain.run(ctx, explain.build_parser().parse_args(["--record", "web:K900"]))


def test_customer_records_are_its_crosswalk_rows_with_who_they_say_they_are(fred):
    columns = ("record_key", "source", "match_rule", "name", "birth_date", "email", "phone_mobile", "city",
               "account_id", "cookie_id")

    assert fred["customer_id"] == "CFRED"
    assert [tuple(r[c] for c in columns) for r in fred["records"]] == [
        ("crm:F001", "crm", "deterministic:email_std", "frederic lefebvre", dt.date(1971, 6, 14),
         "frederic.lefebvre@free.fr", "+33698765001", "lyon", None, None),
        ("eshop_accounts:F001", "eshop_accounts", "deterministic:email_std", "frederic lefebvre", None,
         "frederic.lefebvre@free.fr", None, None, "F001", None),
        ("loyalty:F001", "loyalty", "deterministic:phone_mobile", "fred lefebre", dt.date(1971, 6, 14), None,
         "+33698765001", "lyon", None, None),
        ("web:K900", "web", "deterministic:account_id", None, None, None, None, None, "F001", "K900"),
    ]


def test_links_are_those_between_its_own_records_plus_what_ties_it_to_others(fred):
    rows = lambda name, *columns: sorted(tuple(r[c] for c in columns) for r in fred["links"][name])  # noqa: E731

    assert rows("deterministic", "record_key_l", "record_key_r", "rule", "value") == sorted(EDGES[:3])
    assert rows("probabilistic", "record_key_l", "record_key_r", "match_probability", "blocking_rule",
                "gamma_first_name", "above_threshold") == [
        ("crm:F001", "loyalty:F001", 0.9999, "last_name_birth_date", 3, True),
        ("eshop_accounts:F001", "loyalty:F001", 0.62, "names", 3, False),
    ]
    assert rows("to_other_customers", "record_key", "other_record_key", "other_customer_id", "link", "value") == [
        ("crm:F001", "crm:M001", "CMARIE", "probabilistic", None),
        ("loyalty:F001", "crm:M001", "CMARIE", "deterministic:phone_landline", "+33478000001"),
    ]
    # the split component is logged under crm:C007, reached through Marie's records
    assert rows("splits", "component_id", "sizes_after", "reason") == [("crm:C007", [4, 2, 1], "cannot_link")]
    assert [(r["event_type"], r["customer_id"]) for r in fred["links"]["id_events"]] == [
        ("new", "CFRED"), ("new", "CMARIE"), ("merge", "CFRED"),
    ]


def test_customer_prints_as_text_tables_and_as_json(fred):
    text = explain.render(fred)
    printed = json.loads(explain.render(fred, as_json=True))

    assert text.startswith("Customer CFRED: 4 record(s) from 4 source(s)")
    lines = [line.split() for line in text.splitlines()]
    assert ["*", "web:K900", "deterministic:account_id", "1.0000", "F001", "K900"] in lines   # the record asked for
    assert ["eshop_accounts:F001", "web:K900", "account_id", "F001"] in lines
    assert "Splits of its linked component (gold.cluster_splits): 1" in text
    assert [r["record_key"] for r in printed["records"]] == FRED
    assert printed["records"][0]["birth_date"] == "1971-06-14"
    assert len(printed["links"]["deterministic"]) == 3 and len(printed["links"]["id_events"]) == 3


def test_pair_weights_add_up_to_its_match_weight_and_the_waterfall_is_written(cli, capsys, tmp_path):
    chart = tmp_path / "waterfall.html"
    pair = cli("--pair", "crm:F001", "loyalty:F001", "--html", str(chart))
    text = capsys.readouterr().out
    steps = {s["comparison"]: s for s in pair["steps"]}

    assert pair["scored"] and pair["same_customer"] and pair["match_probability"] > 0.99
    assert sum(s["match_weight"] for s in pair["steps"]) == pytest.approx(pair["match_weight"])
    assert pair["prior"]["probability"] == PRIOR
    assert steps["Prior"]["match_weight"] == pytest.approx(math.log2(PRIOR / (1 - PRIOR)))
    assert {"first_name", "last_name", "birth_date", "phone"} <= set(steps)
    assert steps["birth_date"]["match_weight"] > 0 and "1971-06-14" in steps["birth_date"]["value_l"]
    # each step carries the m and u of the registered model's level
    levels = {(row["comparison"], row["gamma"]): row for row in m_u_table(hand_made_model())}
    assert steps["phone"]["m_probability"] == levels[("phone", steps["phone"]["gamma"])]["m_probability"]
    assert [link["rule"] for link in pair["direct_links"]] == ["phone_mobile"]
    assert f"Final: match weight {pair['match_weight']:.2f}" in text
    assert "vega" in chart.read_text(encoding="utf-8")


def test_a_record_the_model_does_not_score_is_explained_by_its_deterministic_links(cli, capsys):
    pair = cli("--pair", "eshop_accounts:F001", "web:K900")
    text = capsys.readouterr().out

    assert pair["scored"] is False and list(pair["not_scored"]) == ["web:K900"]
    assert pair["linked_by"] == [{"record_key_l": "eshop_accounts:F001", "record_key_r": "web:K900", "rule": "account_id",
                                  "value": "F001", "customer_id_l": "CFRED", "customer_id_r": "CFRED"}]
    assert "web:K900 is not scored by the model: not enough identity for the model" in text
    assert "it has account_id, cookie_id" in text
    assert "deterministic links between them: account_id = F001" in text


@pytest.mark.parametrize(
    "args, message",
    [
        (["--customer", "C_NOBODY"], "unknown customer 'C_NOBODY': not in gold.customer_crosswalk"),
        (["--customer", "COLD"], "(merged into CFRED on 2026-11-01"),
        (["--record", "crm:NOBODY"], "unknown record 'crm:NOBODY': not in silver.customer_records"),
        (["--pair", "crm:F001", "crm:NOBODY"], "unknown record 'crm:NOBODY'"),
    ],
)
def test_unknown_customer_or_record_is_a_clear_error_with_exit_code_2(cli, capsys, args, message):
    with pytest.raises(SystemExit) as exit_:
        cli(*args)

    assert exit_.value.code == 2
    assert message in capsys.readouterr().err
