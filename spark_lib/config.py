"""Typed configuration loaded from ``conf/*.yaml``.

Every section is a frozen dataclass. Loading is strict: an unknown key, a missing required key or a value
of the wrong type raises :class:`ConfigError` naming the key and the file, e.g.::

    ConfigError: conf/sources.yaml: sources.loyalty_members: unknown key 'sepparator'
                 (allowed: channel, description, ...)
"""

from __future__ import annotations

import collections.abc
import dataclasses
import os
import re
import types
import typing
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Callable, Collection, Mapping

import yaml

from spark_lib.session import PROJECT_ROOT

DEFAULT_CONF_DIR = PROJECT_ROOT / "conf"

#: Canonical identity fields a source may map its columns onto (see README, "Bring your own source").
IDENTITY_FIELDS: tuple[str, ...] = (
    "civility",
    "first_name",
    "last_name",
    "birth_name",       # maiden name, when the source keeps it apart
    "full_name",        # "DUPONT Jean" in one column, split during standardisation
    "birth_date",
    "email",
    "phone",
    "phone_2",          # a second number (landline + mobile forms)
    "house_number",
    "street",           # may also carry the number: "12 bis av. Foch"
    "address_extra",    # building, floor, "chez", lieu-dit
    "postcode",
    "city",
    "country",
    "loyalty_card",
    "account_id",
    "cookie_id",
    "customer_ref",     # the id the CRM gives its customers
    "consent_email",
    "consent_sms",
    "consent_postal",
    "consent_date",
    "updated_at",       # when the source last saw or changed the record
)

#: Canonical interaction fields (silver interaction tables share this schema).
INTERACTION_FIELDS: tuple[str, ...] = (
    "event_id",
    "event_time",
    "event_type",
    "amount",
    "quantity",
    "order_id",
    "store_id",
    "campaign_id",
    "page",
    "product",
    "channel_detail",
)

#: Silver interaction tables a source can feed.
INTERACTION_TABLES: tuple[str, ...] = (
    "navigation_events",
    "orders",
    "receipts",
    "campaign_events",
    "mailings",
    "contacts",
)

#: a source's trust for an attribute of the golden record when ``sources.yaml`` declares none
DEFAULT_TRUST = 50

FORMATS = ("csv", "json", "parquet")
CHANNELS = ("online", "offline")


class ConfigError(ValueError):
    """A configuration file is wrong; the message names the file and the key."""


# --------------------------------------------------------------------------------------------------
# Specs
# --------------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class InteractionSpec:
    """How a source's rows become interaction rows (orders, receipts, page views, ...)."""

    table: str
    fields: Mapping[str, str]
    #: used when no column gives the event type (e.g. every row of a mailing file is a "catalogue_sent")
    event_type: str | None = None
    #: Spark datetime pattern of ``event_time``; ISO-8601 and common French forms are tried when unset
    time_format: str | None = None


@dataclass(frozen=True)
class DeletionSpec:
    """A source's deletion lists (``deletions:``): CSV files naming the records the source deleted (a closed
    account, an erasure request), one per line."""

    #: glob of the files, relative to the raw-data folder (the source's own ``path`` must not match them)
    path: str
    #: the column holding the deleted record's id (the source's ``record_id``)
    record_id: str
    separator: str = ";"
    encoding: str = "utf-8"
    #: the column of the deletion date (yyyy-MM-dd or dd/MM/yyyy): a record changed after it is kept
    deleted_at: str | None = None
    #: the column of the reason (closed account, erasure...), kept in ``silver.deleted_records``
    reason: str | None = None


#: ``delivery``: each file adds and changes records (``increment``), or holds every record the source has
#: (``snapshot``: a record missing from the latest delivery was deleted at the source)
DELIVERIES = ("increment", "snapshot")


def row_value(row: dict, column: str):
    """A configured column's value in a delivered row (a CSV line or a JSON object as a dict): a dotted path
    reaches into nested objects (``shipping.city``), unless the dotted name is a column as a whole
    (``Tél. portable``); None where the path leads nowhere."""
    if column in row:
        return row[column]
    value = row
    for part in column.split("."):
        if not isinstance(value, dict):
            return None
        value = value.get(part)
    return value


@dataclass(frozen=True)
class SourceSpec:
    """One raw source as a retailer hands it over, and how it maps onto canonical fields."""

    name: str
    path: str
    format: str
    channel: str
    record_id: str
    identity: Mapping[str, str] = field(default_factory=dict)
    interactions: InteractionSpec | None = None
    description: str = ""
    separator: str = ","
    encoding: str = "utf-8"
    header: bool = True
    quote: str = '"'
    birth_date_format: str | None = None
    #: a record id that repeats (a cookie on every page view) is folded into one identity record
    records_repeat: bool = False
    #: how far the golden record trusts this source (0-100, 50 when not given), for survivorship's
    #: ``source_trust`` rule: one number, or per golden attribute ``{default: 50, email: 90, phone_mobile: 0}``
    #: (0: never used for that attribute)
    trust: int | Mapping[str, int] = DEFAULT_TRUST
    #: the country (ISO 3166 alpha-2, "BE") of the source's records that give none: their phones and postcodes
    #: are read in it; unset, such records are read as French (phones: pipeline.yaml's ``default_region``)
    default_country: str | None = None
    #: increment | snapshot (see :data:`DELIVERIES`)
    delivery: str = "increment"
    deletions: DeletionSpec | None = None

    def trust_for(self, attribute: str) -> int:
        """This source's trust for ``attribute`` of the golden record."""
        return trust_level(self.trust, attribute)

    def glob(self, raw_dir: str | os.PathLike) -> str:
        """The source's path pattern, resolved against the raw-data folder when relative."""
        path = Path(self.path)
        return str(path if path.is_absolute() else Path(raw_dir) / path)


def trust_level(trust: int | Mapping[str, int], attribute: str) -> int:
    """A declared ``trust`` (one level, or per attribute with a ``default``) for ``attribute``."""
    if isinstance(trust, int):
        return trust
    return trust.get(attribute, trust.get("default", DEFAULT_TRUST))


@dataclass(frozen=True)
class SourcesConfig:
    sources: tuple[SourceSpec, ...]
    file: str = ""

    def get(self, name: str) -> SourceSpec:
        for source in self.sources:
            if source.name == name:
                return source
        raise ConfigError(f"{self.file}: no source named {name!r} (known: {', '.join(self.names)})")

    @property
    def names(self) -> list[str]:
        return [s.name for s in self.sources]

    def trust(self) -> dict[str, dict[str, int]]:
        """source -> attribute (or ``"default"``) -> trust: what survivorship's ``source_trust`` rule reads."""
        return {s.name: ({"default": s.trust} if isinstance(s.trust, int) else dict(s.trust)) for s in self.sources}


#: the kinds of online event the replay publishes (``rcu replay``) and the silver interaction table each comes from
EVENT_KINDS: dict[str, str] = {"navigation": "navigation_events", "orders": "orders", "campaign_events": "campaign_events"}

#: what Kafka accepts as a topic name (its ``Topic.validate``): 1 to 249 of these characters, not "." or ".."
_TOPIC_NAME = re.compile(r"[a-zA-Z0-9._-]{1,249}")


@dataclass(frozen=True)
class TopicsConfig:
    """The topic of each kind of online event (:data:`EVENT_KINDS`): one topic per kind."""

    navigation: str = "rcu.navigation"
    orders: str = "rcu.orders"
    campaign_events: str = "rcu.campaign_events"

    def __post_init__(self) -> None:
        for kind in EVENT_KINDS:
            check_topic_name(getattr(self, kind), kind)

    def of(self, kind: str) -> str:
        """The topic of ``kind`` (a key of :data:`EVENT_KINDS`)."""
        return getattr(self, kind)

    @classmethod
    def with_prefix(cls, prefix: str) -> TopicsConfig:
        """Topics named ``<prefix><kind>`` (``rcu.`` gives the defaults), e.g. one set per test or per demo."""
        return cls(**{kind: f"{prefix}{kind}" for kind in EVENT_KINDS})


def check_topic_name(name: str, key: str) -> None:
    """Raise :class:`ConfigError` naming ``key`` unless ``name`` is a name Kafka accepts for a topic."""
    if not _TOPIC_NAME.fullmatch(name) or name in (".", ".."):
        raise ConfigError(f"{key}: {name!r} is not a Kafka topic name (1 to 249 letters, digits, '.', '_' or '-')")


@dataclass(frozen=True)
class KafkaConfig:
    """Where the online events go (``kafka:`` in ``conf/pipeline.yaml``): the brokers, the topics, and the
    folder of the project's own broker (``rcu kafka start``)."""

    #: ``host:port[,host:port...]`` of the brokers ``rcu replay`` (and the stream job) talk to; the default is
    #: the project broker, which ``rcu kafka start`` runs on this port of 127.0.0.1
    bootstrap_servers: str = "127.0.0.1:9092"
    topics: TopicsConfig = field(default_factory=TopicsConfig)
    #: partitions of a topic ``rcu replay`` creates (one person's events always go to one partition)
    partitions: int = 3
    #: the project broker's data, log and pid file (relative paths are taken from the project root)
    broker_dir: str = "kafka-broker"

    def __post_init__(self) -> None:
        addresses = [a.strip() for a in self.bootstrap_servers.split(",")]
        for address in addresses:
            host, _, port = address.rpartition(":")
            if not host or not port.isdigit() or not 0 < int(port) < 65536:
                raise ConfigError(f"bootstrap_servers: expected host:port[,host:port...], got {self.bootstrap_servers!r}")
        if self.partitions < 1:
            raise ConfigError(f"partitions: expected at least 1, got {self.partitions}")
        if not self.broker_dir:
            raise ConfigError("broker_dir: expected a folder, got ''")


#: the longest a deleted person's data may stay on disk: with a daily purge a value is gone within the
#: retention plus two days, inside the GDPR's one month to answer an erasure
MAX_RETENTION_HOURS = 672


@dataclass(frozen=True)
class PipelineConfig:
    """Where things live and how the pipeline runs (``conf/pipeline.yaml``)."""

    lakehouse_dir: str = "lakehouse"
    raw_dir: str = "data/raw"
    truth_dir: str = "data/truth"
    mlflow_tracking_uri: str = "sqlite:///mlflow.db"
    #: the registered model matching trains and scores with: one name per lakehouse keeps each data set's
    #: champion apart when several lakehouses share a tracking server
    model_name: str = "rcu-matching"
    default_persons: int = 10000
    seed: int = 42
    #: ISO country code phone numbers are read in when the record gives no country and its source declares
    #: no ``default_country`` (sources.yaml); addresses without any country are read as French
    default_region: str = "FR"
    #: tables a step writes at the same time (one Spark job each, from driver threads): Delta commits and
    #: Python-side planning of one table overlap the other's tasks; 1 writes them one after the other
    concurrent_tables: int = 2
    #: how long what a deletion leaves on disk (old data files, change data, the transaction log) is kept
    #: before ``rcu privacy purge`` (and every erasure) removes it; at most 672 h (28 days): purged daily, a
    #: value is gone within the retention plus two days, inside the GDPR's one-month deadline
    privacy_retention_hours: int = 168
    #: the online events' brokers and topics (``rcu kafka``, ``rcu replay``)
    kafka: KafkaConfig = field(default_factory=KafkaConfig)
    file: str = ""

    def __post_init__(self) -> None:
        if not 0 <= self.privacy_retention_hours <= MAX_RETENTION_HOURS:
            raise ConfigError(f"privacy_retention_hours: {self.privacy_retention_hours} is not between 0 and "
                              f"{MAX_RETENTION_HOURS} (28 days: purged daily, an erasure leaves no trace within a month)")

    def resolve(self, path: str) -> str:
        """Relative paths are taken from the project root, so jobs work from any working directory."""
        p = Path(path)
        return str(p if p.is_absolute() else PROJECT_ROOT / p)


# --------------------------------------------------------------------------------------------------
# Strict loading
# --------------------------------------------------------------------------------------------------


def strict_fields(
    cls: type,
    data: Any,
    where: str,
    convert: Callable[[str, Any, Any, str], Any],
    file: str = "",
    preset: Mapping[str, Any] | None = None,
    internal: Collection[str] = (),
) -> dict[str, Any]:
    """The keyword arguments of dataclass ``cls`` read strictly from the mapping ``data``.

    An unknown key, a missing required key, or a value ``convert`` refuses raises :class:`ConfigError` naming
    the file and the key path. ``where`` is the key path of ``data`` in the file (``''`` at the top level);
    ``convert(name, value, annotation, key_path)`` returns a field's value or raises. ``preset`` fields are
    set by the caller, and ``internal`` ones are never read from the file (a source's name, the file it came
    from). Every config module of the project builds its dataclasses with it, each with its own ``convert``.

    Example::

        PipelineConfig(**strict_fields(PipelineConfig, data, "pipeline", convert, file="conf/pipeline.yaml"))
    """
    prefix = f"{file}: " if file else ""
    at = where or "top level"
    if not isinstance(data, Mapping):
        raise ConfigError(f"{prefix}{at}: expected a mapping, got {type(data).__name__} {data!r}")
    values: dict[str, Any] = dict(preset or {})
    hints = typing.get_type_hints(cls)
    fields = {f.name: f for f in dataclasses.fields(cls) if f.name not in values and f.name not in internal}
    unknown = sorted(set(data) - set(fields))
    if unknown:
        raise ConfigError(f"{prefix}{at}: unknown key {unknown[0]!r} (allowed: {', '.join(sorted(fields))})")
    for name, f in fields.items():
        if name not in data:
            if f.default is dataclasses.MISSING and f.default_factory is dataclasses.MISSING:
                raise ConfigError(f"{prefix}{at}: missing required key {name!r}")
            continue
        values[name] = convert(name, data[name], hints[name], f"{where}.{name}" if where else name)
    return values


def read_section(
    cls: type,
    data: Any,
    where: str,
    file: str = "",
    *,
    nested: Mapping[str, Callable[[Any, str, str], Any]] | None = None,
    preset: Mapping[str, Any] | None = None,
    internal: Collection[str] = ("file", "name"),
) -> Any:
    """Fill the frozen dataclass ``cls`` from the mapping ``data``: the one reader of every config section.

    Strict: an unknown key, a missing required key or a value of the wrong type raises :class:`ConfigError`
    naming the file and the key path (``where`` is the path of ``data`` in the file, ``''`` at the top). Field
    types: str, int, float, bool, ``X | None``, ``tuple[X, ...]`` (from a YAML list),
    ``Mapping[str, X]``, nested dataclasses, ``Any``, and named items: a ``tuple`` of dataclasses whose first
    field is ``name`` reads from a mapping of name -> settings, in order (``web: [web_visit]`` standing for
    the one other required field). ``nested`` gives a parser ``parser(value, key_path, file)`` for a field
    that needs more (a list of blocking rules); ``preset`` fields are set by the caller and ``internal`` ones
    are never read from the file. A ``None`` section (an empty YAML key) takes every default.

    Checks in ``cls.__post_init__`` raise :class:`ConfigError` naming the key *within* the section
    (``threshold: 1.5 is not a probability``); the reader adds the file and the section's path.

    Example::

        read_section(ClusteringConfig, {"treshold": 0.99}, "clustering", "conf/matching_rules.yaml")
        # ConfigError: conf/matching_rules.yaml: clustering: unknown key 'treshold' (allowed: ...)
    """
    parsers = nested or {}

    def convert(name: str, value: Any, annotation: Any, key: str) -> Any:
        if name in parsers:
            return parsers[name](value, key, file)
        return _convert(value, annotation, key, file)

    values = strict_fields(cls, {} if data is None else data, where, convert, file, preset=preset, internal=internal)
    try:
        return cls(**values)
    except ConfigError as error:
        located = f"{where}.{error}" if where else str(error)
        raise ConfigError(f"{file}: {located}" if file else located) from None


def _named_items(cls: type) -> bool:
    """A dataclass whose first field is ``name``: YAML gives a mapping of name -> settings."""
    fields = dataclasses.fields(cls)
    return bool(fields) and fields[0].name == "name"


def _read_named_item(cls: type, name: str, value: Any, where: str, file: str) -> Any:
    if not isinstance(value, Mapping):
        # ``web: [web_visit]``: the value of the one other required field
        required = [f for f in dataclasses.fields(cls) if f.name not in ("name", "file")
                    and f.default is dataclasses.MISSING and f.default_factory is dataclasses.MISSING]
        if len(required) == 1:
            value = {required[0].name: value}
    return read_section(cls, value, where, file, preset={"name": name})


def _convert(value: Any, annotation: Any, where: str, file: str) -> Any:
    """``value`` checked (and converted: a YAML list to a tuple, an int to a float) against ``annotation``."""
    prefix = f"{file}: " if file else ""
    origin = typing.get_origin(annotation)
    args = typing.get_args(annotation)

    def wrong(expected: str) -> ConfigError:
        return ConfigError(f"{prefix}{where}: expected {expected}, got {type(value).__name__} {value!r}")

    if annotation is Any:
        return value
    if dataclasses.is_dataclass(annotation):
        return read_section(annotation, value, where, file)
    if origin in (typing.Union, types.UnionType):
        options = [a for a in args if a is not type(None)]
        if value is None and len(options) < len(args):
            return None
        if len(options) == 1:
            return _convert(value, options[0], where, file)
        for option in options:
            try:
                return _convert(value, option, where, file)
            except ConfigError:
                continue
        raise wrong(" or ".join(_type_name(o) for o in options))
    if origin in (Mapping, dict, collections.abc.Mapping) or annotation in (dict, Mapping):
        if not isinstance(value, Mapping):
            raise wrong("a mapping")
        item = args[1] if len(args) == 2 else Any
        return {str(k): _convert(v, item, f"{where}.{k}", file) for k, v in value.items()}
    if origin is tuple and dataclasses.is_dataclass(args[0]) and _named_items(args[0]):
        if not isinstance(value, Mapping) or not value:
            raise ConfigError(f"{prefix}{where}: expected a non-empty mapping of name to settings, got {value!r}")
        return tuple(_read_named_item(args[0], str(k), v, f"{where}.{k}", file) for k, v in value.items())
    if origin is tuple:
        if not isinstance(value, (list, tuple)):
            raise wrong("a list")
        return tuple(_convert(v, args[0], f"{where}[{i}]", file) for i, v in enumerate(value))
    if annotation is bool:
        if not isinstance(value, bool):
            raise wrong("true or false")
        return value
    if annotation is int:
        if isinstance(value, bool) or not isinstance(value, int):
            raise wrong("an integer")
        return value
    if annotation is float:
        if isinstance(value, bool) or not isinstance(value, (int, float)):
            raise wrong("a number")
        return float(value)
    if annotation is str:
        if not isinstance(value, str):
            raise wrong("a string")
        return value
    return value


def _type_name(annotation: Any) -> str:
    names = {str: "a string", bool: "true or false", int: "an integer", float: "a number"}
    return names.get(annotation, str(annotation).replace("typing.", ""))


def _choice(value: str, allowed: tuple[str, ...], where: str, file: str) -> None:
    if value not in allowed:
        raise ConfigError(f"{file}: {where}: {value!r} is not one of {', '.join(allowed)}")


def _country_code(value: str, where: str, file: str) -> str:
    """``value`` as an ISO 3166 alpha-2 code in upper case ("be" -> "BE"), when the phone library knows it."""
    import phonenumbers

    code = value.strip().upper()
    if code not in phonenumbers.SUPPORTED_REGIONS:
        raise ConfigError(f"{file}: {where}: expected an ISO 3166 alpha-2 country code (FR, BE...), got {value!r}")
    return code


def read_yaml(path: Path) -> Any:
    """The YAML file at ``path`` ({} when empty); a missing file or bad YAML is a ConfigError naming the file."""
    if not path.exists():
        raise ConfigError(f"{path}: file not found")
    with path.open(encoding="utf-8") as handle:
        try:
            return yaml.safe_load(handle) or {}
        except yaml.YAMLError as error:
            raise ConfigError(f"{path}: not valid YAML: {error}") from error


def parse_source(name: str, data: Any, file: str) -> SourceSpec:
    """One ``sources.<name>`` entry, validated."""
    where = f"sources.{name}"
    interactions = deletions = None
    if isinstance(data, dict) and {"interactions", "deletions"} & data.keys():
        data = dict(data)
        interactions, deletions = data.pop("interactions", None), data.pop("deletions", None)
    spec = read_section(SourceSpec, data, where, file, preset={"name": name}, internal=("file", "name"))
    _choice(spec.format, FORMATS, f"{where}.format", file)
    _choice(spec.delivery, DELIVERIES, f"{where}.delivery", file)
    if deletions is not None:
        listed = read_section(DeletionSpec, deletions, f"{where}.deletions", file)
        if len(listed.separator) != 1:
            raise ConfigError(f"{file}: {where}.deletions.separator: expected one character, got {listed.separator!r}")
        spec = dataclasses.replace(spec, deletions=listed)
    _choice(spec.channel, CHANNELS, f"{where}.channel", file)
    for canonical in spec.identity:
        if canonical not in IDENTITY_FIELDS:
            raise ConfigError(
                f"{file}: {where}.identity: unknown canonical field {canonical!r} "
                f"(allowed: {', '.join(IDENTITY_FIELDS)})"
            )
    levels = spec.trust.values() if isinstance(spec.trust, Mapping) else [spec.trust]
    if any(not 0 <= level <= 100 for level in levels):
        raise ConfigError(f"{file}: {where}.trust: expected trust levels from 0 (never used) to 100, got {spec.trust!r}")
    if spec.default_country is not None:
        country = _country_code(spec.default_country, f"{where}.default_country", file)
        spec = dataclasses.replace(spec, default_country=country)
    if len(spec.encoding) == 0 or len(spec.separator) != 1:
        raise ConfigError(f"{file}: {where}.separator: expected one character, got {spec.separator!r}")
    parsed_interactions = None
    if interactions is not None:
        iwhere = f"{where}.interactions"
        parsed_interactions = read_section(InteractionSpec, interactions, iwhere, file)
        _choice(parsed_interactions.table, INTERACTION_TABLES, f"{iwhere}.table", file)
        for canonical in parsed_interactions.fields:
            if canonical not in INTERACTION_FIELDS:
                raise ConfigError(
                    f"{file}: {iwhere}.fields: unknown canonical field {canonical!r} "
                    f"(allowed: {', '.join(INTERACTION_FIELDS)})"
                )
        if "event_time" not in parsed_interactions.fields:
            raise ConfigError(f"{file}: {iwhere}.fields: missing required key 'event_time'")
        if "event_type" not in parsed_interactions.fields and not parsed_interactions.event_type:
            raise ConfigError(f"{file}: {iwhere}: give either fields.event_type (a column) or event_type (a constant)")
    if not spec.identity and parsed_interactions is None:
        raise ConfigError(f"{file}: {where}: maps neither identity fields nor interactions")
    return dataclasses.replace(spec, interactions=parsed_interactions)


def load_sources(path: str | os.PathLike | None = None) -> SourcesConfig:
    """Load ``conf/sources.yaml`` (or another file with the same layout)."""
    file = Path(path or DEFAULT_CONF_DIR / "sources.yaml")
    data = read_yaml(file)
    if not isinstance(data, dict) or set(data) != {"sources"}:
        keys = ", ".join(sorted(data)) if isinstance(data, dict) else type(data).__name__
        raise ConfigError(f"{file}: expected one top-level key 'sources', got {keys}")
    entries = data["sources"]
    if not isinstance(entries, dict) or not entries:
        raise ConfigError(f"{file}: sources: expected a non-empty mapping of source name to its settings")
    specs = tuple(parse_source(name, entry, str(file)) for name, entry in entries.items())
    return SourcesConfig(sources=specs, file=str(file))


def load_pipeline(path: str | os.PathLike | None = None) -> PipelineConfig:
    """Load ``conf/pipeline.yaml``; ``RCU_LAKEHOUSE_DIR``/``RCU_RAW_DIR`` override its folders."""
    file = Path(path or DEFAULT_CONF_DIR / "pipeline.yaml")
    config = read_section(PipelineConfig, read_yaml(file), "pipeline", str(file), preset={"file": str(file)})
    overrides = {
        "lakehouse_dir": os.environ.get("RCU_LAKEHOUSE_DIR"),
        "raw_dir": os.environ.get("RCU_RAW_DIR"),
        "truth_dir": os.environ.get("RCU_TRUTH_DIR"),
        "mlflow_tracking_uri": os.environ.get("MLFLOW_TRACKING_URI"),
    }
    return dataclasses.replace(config, **{k: v for k, v in overrides.items() if v})
