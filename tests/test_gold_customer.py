"""Golden records: survivorship rules and their ties, validated values, addresses from one record, consents,
provenance, and publishing to gold.customer with a MERGE that leaves unchanged customers alone."""

from __future__ import annotations

import dataclasses
import datetime as dt

import pytest
from chispa import assert_df_equality
from pyspark.sql import functions as F
from pyspark.sql.types import BooleanType, DateType, StringType, StructField, StructType, TimestampType

from jobs.common import JobContext
from jobs.gold import publish_customers
from spark_lib.tables import CUSTOMER
from spark_lib.config import ConfigError, PipelineConfig, SourcesConfig, load_sources
from spark_lib.gold import (
    AttributeRule,
    content_hash,
    customer_provenance,
    golden_records,
    load_gold_config,
    survive,
)
from spark_lib.storage import Lakehouse
from tests.records import silver_records

RUN_TIME = dt.datetime(2026, 11, 1, 6, 0)


def ts(day: int, month: int = 1, year: int = 2026) -> dt.datetime:
    return dt.datetime(year, month, day, 12, 0)


def records(spark, *rows: dict):
    """Customer records of customer_id C1 unless given; ``key`` is ``<source>:<id>``, other fields as given."""
    return silver_records(spark, *rows, extra=[StructField("customer_id", StringType(), False)], customer_id="C1",
                          channel="online", ingested_at=RUN_TIME, source_file="test")


def winners(spark, rows, *rules: AttributeRule, trust=None):
    """customer_id and the attributes' golden columns."""
    golden = golden_records(survive(records(spark, *rows), rules, trust), rules, RUN_TIME)
    return golden.select("customer_id", *[c for rule in rules for c in rule.columns])


def expected(spark, columns: list[tuple[str, object]], *rows: tuple):
    types = {str: StringType(), dt.date: DateType(), bool: BooleanType(), dt.datetime: TimestampType()}
    schema = StructType([StructField(name, types[kind]) for name, kind in columns])
    return spark.createDataFrame(list(rows), schema)


def test_source_priority_picks_the_first_listed_source_and_recency_breaks_its_ties(spark):
    rule = AttributeRule("last_name", rules=("source_priority", "most_recent"), sources=("crm", "loyalty"))
    rows = [
        {"key": "eshop:1", "last_name": "DUPOND", "record_time": ts(30)},      # unlisted: after every listed source
        {"key": "loyalty:1", "last_name": "DUPONT", "record_time": ts(20)},
        {"key": "crm:1", "last_name": "DUPONT-LAJOIE", "record_time": ts(1)},
        {"key": "crm:2", "last_name": "DUPONT LAJOIE", "record_time": ts(2)},   # same source, more recent
        {"key": "eshop:2", "last_name": "MARTIN", "record_time": ts(1), "customer_id": "C2"},
        {"key": "web:2", "last_name": "MARTINS", "record_time": ts(1), "customer_id": "C2"},  # level: smallest key
    ]
    assert_df_equality(
        winners(spark, rows, rule),
        expected(spark, [("customer_id", str), ("last_name", str)], ("C1", "DUPONT LAJOIE"), ("C2", "MARTIN")),
        ignore_row_order=True, ignore_nullable=True,
    )


def test_most_frequent_counts_values_on_group_by_and_the_next_rule_picks_the_display(spark):
    rule = AttributeRule("last_name", rules=("most_frequent", "most_recent"), group_by=("last_name_std",))
    rows = [
        {"key": "a:1", "last_name": "Le Goff", "last_name_std": "le goff", "record_time": ts(1)},
        {"key": "a:2", "last_name": "LE GOFF", "last_name_std": "le goff", "record_time": ts(3)},
        {"key": "a:3", "last_name": "Martin", "last_name_std": "martin", "record_time": ts(9)},  # newest, but alone
        # a tie between two values of one record each: the most recent wins
        {"key": "b:1", "last_name": "Durand", "last_name_std": "durand", "record_time": ts(5), "customer_id": "C2"},
        {"key": "b:2", "last_name": "Petit", "last_name_std": "petit", "record_time": ts(6), "customer_id": "C2"},
    ]
    assert_df_equality(
        winners(spark, rows, rule),
        expected(spark, [("customer_id", str), ("last_name", str)], ("C1", "LE GOFF"), ("C2", "Petit")),
        ignore_row_order=True, ignore_nullable=True,
    )


def test_invalid_placeholder_or_mistyped_email_never_wins_under_validated_only(spark):
    rule = AttributeRule("email", rules=("most_recent",), validated_only=True)
    rows = [
        {"key": "a:1", "email": "jean.dupont@orange.fr", "email_valid": True, "record_time": ts(1)},
        {"key": "a:2", "email": "jean.dupont@orange.f", "email_valid": False, "record_time": ts(5),
         "quality_flags": ["email:invalid"]},
        {"key": "a:3", "email": "test@test.fr", "email_valid": True, "record_time": ts(6),
         "quality_flags": ["email:placeholder"]},
        {"key": "a:4", "email": "jean.dupont@ornage.fr", "email_valid": True, "record_time": ts(7),
         "quality_flags": ["phone:invalid", "email:domain_corrected"]},
        # a flag on another field does not disqualify the email
        {"key": "b:1", "email": "marie@free.fr", "email_valid": True, "record_time": ts(2),
         "quality_flags": ["phone:invalid"], "customer_id": "C2"},
        # nothing valid: no email rather than a bad one
        {"key": "c:1", "email": "x@y.z", "email_valid": False, "record_time": ts(2), "customer_id": "C3"},
    ]
    assert_df_equality(
        winners(spark, rows, rule),
        expected(spark, [("customer_id", str), ("email", str)],
                 ("C1", "jean.dupont@orange.fr"), ("C2", "marie@free.fr"), ("C3", None)),
        ignore_row_order=True, ignore_nullable=True,
    )
    # accepting the correction of a known domain typo (conf/gold.yaml): the newest address wins
    accepting = dataclasses.replace(rule, accept_flags=("email:domain_corrected",))
    assert_df_equality(
        winners(spark, rows, accepting),
        expected(spark, [("customer_id", str), ("email", str)],
                 ("C1", "jean.dupont@ornage.fr"), ("C2", "marie@free.fr"), ("C3", None)),
        ignore_row_order=True, ignore_nullable=True,
    )


def test_address_fields_all_come_from_the_winning_record_never_mixed(spark):
    rule = AttributeRule(
        "address", rules=("most_recent", "most_complete"),
        columns=("house_number", "street", "address_extra", "postcode", "city", "country"),
        required=("street", "postcode"),
    )
    rows = [
        {"key": "crm:1", "house_number": "12", "street": "Rue de la Paix", "address_extra": "Bât. B",
         "postcode": "75002", "city": "PARIS", "country": "FR", "record_time": ts(1)},
        # newer, after a move, with no city and no extra: those stay null, not taken from the old address
        {"key": "eshop:1", "house_number": "3", "street": "Avenue Foch", "postcode": "69006",
         "record_time": ts(10)},
        # newest, but no street: not a candidate
        {"key": "signup:1", "postcode": "13001", "city": "MARSEILLE", "record_time": ts(20)},
    ]
    columns = [("customer_id", str)] + [(c, str) for c in rule.columns]
    assert_df_equality(
        winners(spark, rows, rule),
        expected(spark, columns, ("C1", "3", "Avenue Foch", None, "69006", None, None)),
        ignore_nullable=True,
    )


def test_most_complete_prefers_the_record_with_more_fields_when_equally_recent(spark):
    rule = AttributeRule("address", rules=("most_recent", "most_complete"), columns=("street", "address_extra", "city"))
    rows = [
        {"key": "a:1", "street": "Rue Haute", "city": "LYON", "record_time": ts(5)},
        {"key": "a:2", "street": "Rue Haute", "address_extra": "3e étage", "city": "LYON", "record_time": ts(5)},
    ]
    assert_df_equality(
        winners(spark, rows, rule),
        expected(spark, [("customer_id", str), ("street", str), ("address_extra", str), ("city", str)],
                 ("C1", "Rue Haute", "3e étage", "LYON")),
        ignore_nullable=True,
    )


def test_latest_consent_statement_wins_per_channel_and_opt_out_wins_a_tie(spark):
    rows = [
        # email: opted in in 2019, opted out in 2024 on a form -> out
        {"key": "eshop:1", "consent_email": True, "consent_sms": True, "consent_date": ts(1, 1, 2019),
         "record_time": ts(1, 1, 2025)},
        {"key": "newsletter:1", "consent_email": False, "consent_date": ts(1, 6, 2024), "record_time": ts(1, 6, 2024)},
        # sms: an opt-in and an opt-out stated at the same time -> out; postal: stated once
        {"key": "loyalty:1", "consent_sms": False, "consent_postal": True, "consent_date": ts(1, 1, 2019),
         "record_time": ts(3, 3, 2020)},
        # C2 opted out, then back in later: the later opt-in wins
        {"key": "eshop:2", "consent_email": False, "record_time": ts(1, 1, 2020), "customer_id": "C2"},
        {"key": "newsletter:2", "consent_email": True, "consent_date": ts(1, 1, 2023), "record_time": ts(1, 1, 2023),
         "customer_id": "C2"},
    ]
    golden = golden_records(survive(records(spark, *rows), ()), (), RUN_TIME)
    columns = [(f"consent_{ch}{suffix}", kind) for ch in ("email", "sms", "postal")
               for suffix, kind in (("", bool), ("_date", dt.datetime), ("_source", str))]
    assert_df_equality(
        golden.select("customer_id", *[c for c, _ in columns]),
        expected(
            spark, [("customer_id", str)] + columns,
            ("C1", False, ts(1, 6, 2024), "newsletter", False, ts(1, 1, 2019), "loyalty", True, ts(1, 1, 2019), "loyalty"),
            ("C2", True, ts(1, 1, 2023), "newsletter", None, None, None, None, None, None),
        ),
        ignore_row_order=True, ignore_nullable=True,
    )


def test_provenance_has_one_row_per_non_null_golden_value_with_its_record_and_rule(spark):
    rules = (
        AttributeRule("first_name", rules=("most_recent",)),
        AttributeRule("birth_date", rules=("most_frequent", "most_recent")),
        AttributeRule("email", rules=("most_recent",), validated_only=True),
    )
    rows = [
        {"key": "crm:1", "first_name": "Anne", "birth_date": dt.date(1980, 5, 17), "record_time": ts(1)},
        {"key": "loyalty:1", "first_name": "Anne-Marie", "birth_date": dt.date(1980, 5, 17),
         "consent_postal": True, "record_time": ts(2)},
        {"key": "eshop:1", "first_name": "Anne", "birth_date": dt.date(1980, 7, 15), "record_time": ts(3),
         "email": "bad@", "email_valid": False},
    ]
    survivors = survive(records(spark, *rows), rules)
    provenance = customer_provenance(survivors, rules)
    schema = StructType([StructField(c, t) for c, t in (
        ("customer_id", StringType()), ("attribute", StringType()), ("value", StringType()),
        ("source", StringType()), ("record_key", StringType()), ("rule", StringType()),
        ("observed_at", TimestampType()))])
    expected_rows = [
        ("C1", "first_name", "Anne", "eshop", "eshop:1", "most_recent", ts(3)),
        ("C1", "birth_date", "1980-05-17", "loyalty", "loyalty:1", "most_frequent>most_recent", ts(2)),
        ("C1", "consent_postal", "true", "loyalty", "loyalty:1", "latest_statement", ts(2)),
    ]  # no email (none valid), no consent_email/sms (never stated): no row
    assert_df_equality(provenance, spark.createDataFrame(expected_rows, schema),
                       ignore_row_order=True, ignore_nullable=True)
    golden = golden_records(survivors, rules, RUN_TIME).first()
    assert (golden.record_count, golden.sources, golden.first_seen, golden.last_seen) == (
        3, ["crm", "eshop", "loyalty"], ts(1), ts(3)
    )


def _context(spark, root) -> JobContext:
    return JobContext(spark, PipelineConfig(), SourcesConfig(()), Lakehouse(spark, str(root)))


def _history(ctx: JobContext):
    return ctx.lake.delta_table(CUSTOMER).history().orderBy("version").collect()


def test_publish_rewrites_only_changed_customers_and_feeds_the_change_data_feed(spark, tmp_path):
    ctx = _context(spark, tmp_path / "lakehouse")
    rows = [("C1", "un@free.fr"), ("C2", "deux@free.fr"), ("C3", "trois@free.fr")]

    def publish(rows, run_time):
        """Golden rows reduced to an email (publishing only looks at customer_id and content_hash)."""
        frame = spark.createDataFrame(rows, "customer_id string, email string")
        return publish_customers(ctx, frame.select(
            "*", content_hash(["email"]).alias("content_hash"), F.lit(run_time).alias("updated_at")))

    assert publish(rows, RUN_TIME)["num_target_rows_inserted"] == 3
    properties = ctx.lake.delta_table(CUSTOMER).detail().first()["properties"]
    assert properties.get("delta.enableChangeDataFeed") == "true"
    first_version = _history(ctx)[-1]["version"]

    # the same input, a day later: nothing updated, nothing copied, no new version
    assert publish(rows, RUN_TIME + dt.timedelta(days=1)) == {
        "num_target_rows_inserted": 0, "num_target_rows_updated": 0, "num_target_rows_deleted": 0}
    history = _history(ctx)
    assert history[-1]["version"] == first_version
    assert all(int(h["operationMetrics"].get("numTargetRowsUpdated", 0)) == 0 for h in history)
    assert all(int(h["operationMetrics"].get("numTargetRowsCopied", 0)) == 0 for h in history)

    # C1 changes email, C2 disappears, C4 arrives; C3 is untouched
    changed = [("C1", "one@free.fr"), rows[2], ("C4", "quatre@free.fr")]
    metrics = publish(changed, RUN_TIME + dt.timedelta(days=2))
    assert metrics == {"num_target_rows_inserted": 1, "num_target_rows_updated": 1, "num_target_rows_deleted": 1,
                       "num_output_rows": metrics["num_output_rows"]}
    assert int(_history(ctx)[-1]["operationMetrics"]["numTargetRowsCopied"]) <= 1  # C3, if it shared a file

    changes = (
        spark.read.format("delta").option("readChangeFeed", "true").option("startingVersion", first_version + 1)
        .load(ctx.lake.path(CUSTOMER)).select("customer_id", "email", "_change_type")
    )
    assert sorted(map(tuple, changes.collect())) == [
        ("C1", "one@free.fr", "update_postimage"), ("C1", "un@free.fr", "update_preimage"),
        ("C2", "deux@free.fr", "delete"), ("C4", "quatre@free.fr", "insert"),
    ]
    table = ctx.lake.read(CUSTOMER)
    # updated_at says when the content last changed: C3's is still the first run's
    assert {r.customer_id: r.updated_at for r in table.select("customer_id", "updated_at").collect()} == {
        "C1": RUN_TIME + dt.timedelta(days=2), "C3": RUN_TIME, "C4": RUN_TIME + dt.timedelta(days=2)}


def test_conf_gold_yaml_loads_with_every_attribute_of_the_golden_record():
    config = load_gold_config()
    columns = [c for rule in config.survivorship for c in rule.columns]
    assert columns == ["civility", "first_name", "last_name", "birth_date", "email", "phone_mobile",
                       "house_number", "street", "address_extra", "postcode", "city", "country"]
    assert [r.name for r in config.temperature.rules] + [config.temperature.default] == [
        "brûlant", "chaud", "tiède", "froid", "glacé"]


@pytest.mark.parametrize(
    ("change", "message"),
    [
        (("    rules: [most_recent, source_trust]\n", "    rulez: [most_recent]\n"),
         r"gold\.yaml: survivorship\.email: unknown key 'rulez'"),
        (("    validated_only: true                         # email_valid", "    validated_only: yes please #"),
         r"gold\.yaml: survivorship\.email\.validated_only: expected true or false"),
        (("  ropo_days: 7 ", "  ropo_dayz: 7 "), r"gold\.yaml: customer_360: unknown key 'ropo_dayz'"),
        (("    rules: [most_frequent, most_recent]\n    group_by", "    rules: [most_often]\n    group_by"),
         r"gold\.yaml: survivorship\.last_name\.rules: 'most_often' is not one of"),
        (("temperature:\n", "temperatur:\n"), r"gold\.yaml: top level: unknown key 'temperatur'"),
    ],
)
def test_a_mistake_in_gold_yaml_is_an_error_naming_the_key_and_the_file(tmp_path, change, message):
    from spark_lib.gold import DEFAULT_GOLD_FILE

    text = DEFAULT_GOLD_FILE.read_text(encoding="utf-8")
    assert change[0] in text
    path = tmp_path / "gold.yaml"
    path.write_text(text.replace(change[0], change[1], 1), encoding="utf-8")
    with pytest.raises(ConfigError, match=message):
        load_gold_config(path)


def test_a_source_unknown_to_sources_yaml_is_an_error_naming_it():
    config = load_gold_config()
    config.check_sources(["my_crm"])  # conf/gold.yaml names no source: any sources.yaml fits it
    ordered = AttributeRule("birth_date", rules=("source_priority",), sources=("loyalty_members", "my_crm"))
    config = dataclasses.replace(config, survivorship=(*config.survivorship[:3], ordered, *config.survivorship[4:]))
    with pytest.raises(ConfigError, match=r"survivorship\.birth_date\.sources: unknown source 'loyalty_members'"):
        config.check_sources(["my_crm", "eshop_accounts"])


def test_the_most_trusted_source_wins_and_a_trust_of_zero_keeps_a_source_out(spark):
    """Trust is declared with the sources (sources.yaml), per attribute or for all: no source named in gold.yaml."""
    email = AttributeRule("email", rules=("source_trust", "most_recent"))
    phone = AttributeRule("phone_mobile", rules=("most_recent",))
    trust = {"shop": {"default": 80}, "crm": {"default": 50, "email": 90}, "orders": {"phone_mobile": 0}}
    rows = [
        {"key": "shop:1", "email": "a@shop.fr", "phone_mobile": "+33611111111", "record_time": ts(20)},
        {"key": "crm:1", "email": "a@crm.fr", "record_time": ts(1)},          # trusted most for emails
        {"key": "web:1", "email": "a@web.fr", "record_time": ts(30)},         # undeclared: 50
        {"key": "orders:1", "phone_mobile": "+33622222222", "record_time": ts(30)},   # a gift's recipient
        {"key": "web:2", "email": "b@web.fr", "customer_id": "C2"},
        {"key": "shop:2", "email": "b@shop.fr", "customer_id": "C2", "record_time": ts(1)},
    ]
    actual = winners(spark, rows, email, phone, trust=trust)
    assert sorted(map(tuple, actual.collect())) == [("C1", "a@crm.fr", "+33611111111"), ("C2", "b@shop.fr", None)]


def test_sources_declare_their_trust_and_mistakes_in_it_are_named(tmp_path):
    config = load_gold_config()
    sources = load_sources()
    assert sources.get("eshop_orders").trust_for("phone_mobile") == 0
    assert sources.get("loyalty_members").trust_for("birth_date") > sources.get("eshop_accounts").trust_for("birth_date")
    assert sources.get("web_events").trust_for("email") == 50
    config.check_trust(sources.trust(), sources.file)
    with pytest.raises(ConfigError, match=r"sources\.crm\.trust: unknown attribute 'emial'"):
        config.check_trust({"crm": {"emial": 90}}, "sources.yaml")
    bad = tmp_path / "sources.yaml"
    bad.write_text("sources:\n  crm:\n    path: c.csv\n    format: csv\n    channel: offline\n    record_id: id\n"
                   "    identity: {email: mail}\n    trust: 140\n", encoding="utf-8")
    with pytest.raises(ConfigError, match=r"sources\.crm\.trust: expected trust levels from 0"):
        load_sources(bad)


def test_attribute_spread_over_two_rules_is_refused():
    from spark_lib.gold import check_attributes

    with pytest.raises(ConfigError, match=r"street\.columns: 'street' is already taken by attribute 'address'"):
        check_attributes((AttributeRule("address", rules=("most_recent",), columns=("street", "city")),
                          AttributeRule("street", rules=("most_recent",))))
