"""The one reader of configuration sections: strict, and every error names the file and the key."""

from __future__ import annotations

from dataclasses import dataclass, field

import pytest

from spark_lib.config import ConfigError, KafkaConfig, load_pipeline, parse_source, read_section


@dataclass(frozen=True)
class Rule:
    name: str
    columns: tuple[str, ...]
    weight: float = 1.0


@dataclass(frozen=True)
class Section:
    threshold: float
    rules: tuple[Rule, ...] = ()
    labels: dict[str, str] = field(default_factory=dict)
    limit: int | None = None

    def __post_init__(self) -> None:
        if not 0 <= self.threshold <= 1:
            raise ConfigError(f"threshold: {self.threshold} is not a probability")


def test_a_section_is_read_with_its_types_nested_items_and_defaults():
    section = read_section(Section, {"threshold": 1, "rules": {"email": ["email_std"], "names": {"columns": ["a", "b"],
                                     "weight": 2}}, "labels": {"fr": "client"}}, "matching", "conf/x.yaml")
    assert section.threshold == 1.0 and isinstance(section.threshold, float)
    assert section.rules == (Rule("email", ("email_std",)), Rule("names", ("a", "b"), 2.0))
    assert section.labels == {"fr": "client"} and section.limit is None
    assert read_section(Section, {"threshold": 0.5, "limit": None}, "matching").limit is None


@pytest.mark.parametrize(
    "data, message",
    [
        ({"threshold": 0.5, "treshold": 1}, "conf/x.yaml: matching: unknown key 'treshold' (allowed: labels, limit, rules, threshold)"),
        ({}, "conf/x.yaml: matching: missing required key 'threshold'"),
        ({"threshold": "high"}, "conf/x.yaml: matching.threshold: expected a number, got str 'high'"),
        ({"threshold": True}, "conf/x.yaml: matching.threshold: expected a number, got bool True"),
        ({"threshold": 0.5, "limit": 2.5}, "conf/x.yaml: matching.limit: expected an integer, got float 2.5"),
        ({"threshold": 0.5, "rules": {"email": "email_std"}}, "conf/x.yaml: matching.rules.email.columns: expected a list"),
        ({"threshold": 0.5, "rules": {"email": {"column": ["x"]}}}, "conf/x.yaml: matching.rules.email: unknown key 'column'"),
        ({"threshold": 0.5, "labels": {"fr": 3}}, "conf/x.yaml: matching.labels.fr: expected a string, got int 3"),
        ({"threshold": 1.5}, "conf/x.yaml: matching.threshold: 1.5 is not a probability"),
        ([0.5], "conf/x.yaml: matching: expected a mapping, got list [0.5]"),
    ],
)
def test_every_mistake_names_the_file_and_the_key(data, message):
    with pytest.raises(ConfigError) as error:
        read_section(Section, data, "matching", "conf/x.yaml")
    assert str(error.value).startswith(message)


def _source(**settings):
    entry = {"path": "be/*.csv", "format": "csv", "channel": "online", "record_id": "id", "identity": {"email": "mail"}}
    return parse_source("shop_be", {**entry, **settings}, "conf/sources.yaml")


def test_a_source_default_country_is_an_iso_code_in_upper_case():
    assert _source().default_country is None
    assert _source(default_country="BE").default_country == "BE"
    assert _source(default_country="ch").default_country == "CH"


@pytest.mark.parametrize(
    "value, message",
    [
        ("XX", "conf/sources.yaml: sources.shop_be.default_country: expected an ISO 3166 alpha-2 country code"),
        ("Belgique", "conf/sources.yaml: sources.shop_be.default_country: expected an ISO 3166 alpha-2 country code"),
        (32, "conf/sources.yaml: sources.shop_be.default_country: expected a string, got int 32"),
    ],
)
def test_an_unknown_default_country_names_the_file_and_the_key(value, message):
    with pytest.raises(ConfigError) as error:
        _source(default_country=value)
    assert str(error.value).startswith(message)


def test_the_kafka_section_defaults_to_the_project_broker_and_one_topic_per_kind(tmp_path):
    file = tmp_path / "pipeline.yaml"
    file.write_text("kafka:\n  topics:\n    orders: shop.orders\n")
    kafka = load_pipeline(file).kafka
    assert kafka.bootstrap_servers == "127.0.0.1:9092" and kafka.partitions == 3
    assert (kafka.topics.of("navigation"), kafka.topics.of("orders")) == ("rcu.navigation", "shop.orders")
    assert load_pipeline().kafka == KafkaConfig()   # conf/pipeline.yaml spells out the defaults


@pytest.mark.parametrize(
    "section, message",
    [
        ("bootstrap_servers: localhost", "pipeline.kafka.bootstrap_servers: expected host:port[,host:port...], got 'localhost'"),
        ("bootstrap_servers: 'a:9092,b:x'", "pipeline.kafka.bootstrap_servers: expected host:port[,host:port...]"),
        ("partitions: 0", "pipeline.kafka.partitions: expected at least 1, got 0"),
        ("partitions: many", "pipeline.kafka.partitions: expected an integer, got str 'many'"),
        ("topics: {web: rcu.web}", "pipeline.kafka.topics: unknown key 'web' (allowed: campaign_events, navigation, orders)"),
        ("topics: {orders: 'rcu orders'}", "pipeline.kafka.topics.orders: 'rcu orders' is not a Kafka topic name"),
        ("brokers: 127.0.0.1:9092", "pipeline.kafka: unknown key 'brokers' (allowed: bootstrap_servers, broker_dir, "
                                    "partitions, topics)"),
    ],
)
def test_a_wrong_kafka_section_names_the_file_and_the_key(tmp_path, section, message):
    file = tmp_path / "pipeline.yaml"
    file.write_text("kafka:\n  " + section + "\n")
    with pytest.raises(ConfigError) as error:
        load_pipeline(file)
    assert str(error.value).startswith(f"{file}: {message}")
