"""``conf/matching_rules.yaml`` read once: its sections ``deterministic``, ``clustering``, ``ids`` and ``review``.

Each section's dataclass lives with the step that uses it (:mod:`~spark_lib.matching.deterministic`,
:mod:`~spark_lib.matching.clustering`, :mod:`~spark_lib.matching.ids`, :mod:`~spark_lib.matching.review`);
this module reads the file once and fills them all, so a match run parses it once and a mistake names the file and the key.

Example::

    rules = load_matching_rules("conf/matching_rules.yaml")
    rules.clustering.threshold, rules.ids.prefix, rules.review.max_pairs
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path

from spark_lib.config import read_section
from spark_lib.matching.clustering import ClusteringConfig
from spark_lib.matching.deterministic import DEFAULT_RULES_FILE, DeterministicConfig, read_rules_file
from spark_lib.matching.ids import IdsConfig
from spark_lib.matching.review import ReviewConfig

#: section name -> its dataclass
SECTIONS = {"deterministic": DeterministicConfig, "clustering": ClusteringConfig, "ids": IdsConfig,
            "review": ReviewConfig}


@dataclass(frozen=True)
class MatchingRules:
    """The sections of ``conf/matching_rules.yaml``; a missing section takes its defaults."""

    deterministic: DeterministicConfig
    clustering: ClusteringConfig
    ids: IdsConfig
    review: ReviewConfig = ReviewConfig()
    file: str = ""


def load_matching_rules(path: str | os.PathLike | None = None) -> MatchingRules:
    """Read the rules file once and validate its sections."""
    file = Path(path or DEFAULT_RULES_FILE)
    data = read_rules_file(file)
    sections = {name: read_section(cls, data.get(name) or {}, name, str(file)) for name, cls in SECTIONS.items()}
    return MatchingRules(**sections, file=str(file))
