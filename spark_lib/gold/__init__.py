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
    survivors = survive(with_customer_id(records, crosswalk), config.survivorship, load_sources().trust())
"""

from __future__ import annotations

import dataclasses
import os
from dataclasses import dataclass
from pathlib import Path
from typing import Iterable, Mapping


from spark_lib.config import DEFAULT_CONF_DIR, ConfigError, read_section, read_yaml
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
    recount_periods,
    refresh_customer_360,
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

    def check_trust(self, trust: Mapping[str, Mapping[str, int]], file: str = "sources.yaml") -> None:
        """Refuse a trust level in ``sources.yaml`` for an attribute the golden record does not have (a typo)."""
        attributes = [rule.name for rule in self.survivorship]
        for source, levels in trust.items():
            for attribute in levels:
                if attribute != "default" and attribute not in attributes:
                    raise ConfigError(
                        f"{file}: sources.{source}.trust: unknown attribute {attribute!r} "
                        f"(default, or one of gold.yaml's: {', '.join(attributes)})"
                    )


def load_gold_config(path: str | os.PathLike | None = None) -> GoldConfig:
    """Load ``conf/gold.yaml`` (or ``path``): survivorship rules, 360 measures, RFM segments, temperature.

    Example::

        config = load_gold_config("conf/gold.yaml")
        [rule.name for rule in config.survivorship]   # ['civility', 'first_name', ..., 'address']
    """
    file = Path(path or DEFAULT_GOLD_FILE)
    data = read_yaml(file)
    config = read_section(GoldConfig, data, "", str(file))
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
    "golden_columns",
    "golden_records",
    "load_gold_config",
    "recount_periods",
    "refresh_customer_360",
    "rfm_scores",
    "segment_movements",
    "survive",
    "union_interactions",
    "with_customer_id",
]
