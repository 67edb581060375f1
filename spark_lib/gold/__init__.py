"""Gold layer: golden records, provenance, customer 360 and segments (issue 4).

The public surface is re-exported here; the modules hold the logic:

- :mod:`spark_lib.gold.survivorship`: which record gives each attribute (rules, consents);
- :mod:`spark_lib.gold.customer`: ``gold.customer`` and ``gold.customer_provenance`` rows;
- :mod:`spark_lib.gold.customer360`: ``gold.customer_360`` (revenue, orders, channels, ROPO, RFM scores);
- :mod:`spark_lib.gold.segments`: RFM segments, temperature, snapshot movements.

This module also holds the gold layer's typed spec, :class:`GoldConfig`, loaded strictly from
``conf/gold.yaml`` by :func:`load_gold_config`: an unknown key, a missing required one or a value of the
wrong type raises :class:`~spark_lib.config.ConfigError` naming the file and the key, e.g.::

    ConfigError: conf/gold.yaml: survivorship.email: unknown key 'rulez' (allowed: columns, flag_fields, ...)

Example::

    config = load_gold_config()                      # conf/gold.yaml
    survivors = survive(with_customer_id(records, crosswalk), config.survivorship)
"""

from __future__ import annotations

import dataclasses
import os
import types
import typing
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Iterable


from spark_lib.config import DEFAULT_CONF_DIR, ConfigError, read_yaml, strict_fields
from spark_lib.gold.customer import (
    content_hash,
    customer_changes,
    customer_provenance,
    golden_columns,
    golden_records,
)
from spark_lib.gold.customer360 import (
    CUSTOMER_360_COLUMNS,
    ChannelRule,
    Customer360Config,
    EventSelector,
    Measures,
    build_customer_360,
    customer_activity,
    default_run_date,
    rfm_scores,
    union_interactions,
)
from spark_lib.gold.segments import (
    SEGMENT_COLUMNS,
    RfmSegmentRule,
    RfmSegmentsConfig,
    TemperatureConfig,
    TemperatureRule,
    assign_segments,
    segment_movements,
)
from spark_lib.gold.survivorship import (
    CONSENT_CHANNELS,
    RULES,
    AttributeRule,
    DataFrameMissingColumnError,
    check_attributes,
    survive,
    with_customer_id,
)

DEFAULT_GOLD_FILE = DEFAULT_CONF_DIR / "gold.yaml"


@dataclass(frozen=True)
class GoldConfig:
    """``conf/gold.yaml``: the gold layer's spec."""

    survivorship: tuple[AttributeRule, ...]
    customer_360: Customer360Config
    rfm_segments: RfmSegmentsConfig
    temperature: TemperatureConfig
    file: str = ""

    def check_sources(self, known: Iterable[str]) -> None:
        """Refuse a source named in ``survivorship`` that ``conf/sources.yaml`` does not declare (a typo)."""
        known = set(known)
        for rule in self.survivorship:
            for key in ("sources", "ignore_sources"):
                for source in getattr(rule, key):
                    if source not in known:
                        raise ConfigError(
                            f"{self.file}: survivorship.{rule.name}.{key}: unknown source {source!r} "
                            f"(sources.yaml declares: {', '.join(sorted(known))})"
                        )


# --------------------------------------------------------------------------------------------------
# Strict loading
# --------------------------------------------------------------------------------------------------


def _named_items(cls: type) -> bool:
    """A dataclass whose first field is ``name``: YAML gives a mapping of name -> settings, in order."""
    fields = dataclasses.fields(cls)
    return bool(fields) and fields[0].name == "name"


def _join(where: str, key: str) -> str:
    return f"{where}.{key}" if where else key


def _build(cls: type, data: Any, where: str, file: str, name: str | None = None) -> Any:
    """Fill frozen dataclass ``cls`` from a mapping; ``where`` is the dotted key path ('' at the top)."""
    if name is not None and not isinstance(data, dict):
        # ``web: [web_visit]``: the value of the one other required field
        required = [f for f in dataclasses.fields(cls) if f.name not in ("name", "file")
                    and f.default is dataclasses.MISSING and f.default_factory is dataclasses.MISSING]
        if len(required) == 1:
            data = {required[0].name: data}
    convert = lambda key, value, annotation, path: _convert(value, annotation, path, file)  # noqa: E731
    values = strict_fields(cls, data, where, convert, file, preset=None if name is None else {"name": name},
                           internal=("name", "file"))
    try:
        return cls(**values)
    except ConfigError as error:
        raise ConfigError(f"{file}: {_join(where, str(error))}") from None


def _convert(value: Any, annotation: Any, where: str, file: str) -> Any:
    origin = typing.get_origin(annotation)
    args = typing.get_args(annotation)
    if origin in (typing.Union, types.UnionType):
        if value is None and type(None) in args:
            return None
        (inner,) = [a for a in args if a is not type(None)]
        return _convert(value, inner, where, file)
    if dataclasses.is_dataclass(annotation):
        return _build(annotation, value, where, file)
    if origin is tuple:
        item = args[0]
        if dataclasses.is_dataclass(item) and _named_items(item):
            if not isinstance(value, dict) or not value:
                raise ConfigError(f"{file}: {where}: expected a non-empty mapping of name to settings, got {value!r}")
            return tuple(_build(item, v, f"{where}.{k}", file, name=str(k)) for k, v in value.items())
        if not isinstance(value, list):
            raise ConfigError(f"{file}: {where}: expected a list, got {type(value).__name__} {value!r}")
        return tuple(_convert(v, item, f"{where}[{i}]", file) for i, v in enumerate(value))
    expected = {bool: "true or false", int: "an integer", float: "a number", str: "a string"}
    if annotation in expected:
        ok = isinstance(value, annotation) and not (annotation in (int, float) and isinstance(value, bool))
        if annotation is float and isinstance(value, int) and not isinstance(value, bool):
            return float(value)
        if not ok:
            raise ConfigError(f"{file}: {where}: expected {expected[annotation]}, got {type(value).__name__} {value!r}")
        return value
    raise TypeError(f"unsupported config type {annotation!r} at {where}")  # a programming error, not a config one


def load_gold_config(path: str | os.PathLike | None = None) -> GoldConfig:
    """Load ``conf/gold.yaml`` (or ``path``): survivorship rules, 360 measures, RFM segments, temperature.

    Example::

        config = load_gold_config("conf/gold.yaml")
        [rule.name for rule in config.survivorship]   # ['civility', 'first_name', ..., 'address']
    """
    file = Path(path or DEFAULT_GOLD_FILE)
    data = read_yaml(file)
    config = _build(GoldConfig, data, "", str(file))
    try:
        check_attributes(config.survivorship)
    except ConfigError as error:
        raise ConfigError(f"{file}: survivorship.{error}") from None
    return dataclasses.replace(config, file=str(file))


__all__ = [
    "CONSENT_CHANNELS",
    "CUSTOMER_360_COLUMNS",
    "RULES",
    "SEGMENT_COLUMNS",
    "AttributeRule",
    "ChannelRule",
    "Customer360Config",
    "DataFrameMissingColumnError",
    "EventSelector",
    "GoldConfig",
    "Measures",
    "RfmSegmentRule",
    "RfmSegmentsConfig",
    "TemperatureConfig",
    "TemperatureRule",
    "assign_segments",
    "build_customer_360",
    "check_attributes",
    "content_hash",
    "customer_changes",
    "customer_activity",
    "customer_provenance",
    "default_run_date",
    "golden_columns",
    "golden_records",
    "load_gold_config",
    "rfm_scores",
    "segment_movements",
    "survive",
    "union_interactions",
    "with_customer_id",
]
