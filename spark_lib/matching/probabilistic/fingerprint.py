"""A model belongs to its data: the fingerprint of what a model was trained on, checked before it scores.

A model's m and u probabilities say how often each comparison level occurs among true and false pairs of
*the data it was trained on*. Scored on other data (another retailer's sources, a source whose email column
is not mapped) they mean nothing, and nothing would say so. So each trained model carries a fingerprint:

- ``comparisons``: a hash of its comparisons as configured (levels, SQL, thresholds; not the trained values);
- ``sources``: the sources whose records the model scores;
- ``columns``: the model columns that hold a value in at least one of those records.

Before a registered champion scores, the fingerprint of the current data is computed (one Spark job over
the model input) and compared; a difference stops the run with a message naming both and the way out.
Only names of sources and columns are kept: no person's value.

Example::

    current = data_fingerprint(inputs, config)
    check_fingerprint(champion_fingerprint, current, "rcu-matching version 3")   # ModelMismatchError if they differ
"""

from __future__ import annotations

import hashlib
import json
from typing import Any, Mapping

from pyspark.sql import DataFrame
from pyspark.sql import functions as F

from spark_lib.matching.probabilistic.comparisons import build_settings
from spark_lib.matching.probabilistic.config import MODEL_COLUMNS, UNIQUE_ID, MatchingConfig

#: how to score anyway, named in the error
OVERRIDE_HINT = "`rcu match --retrain` trains a model on this data; `--accept-champion` scores with it anyway"


class ModelMismatchError(RuntimeError):
    """The registered model was trained on data unlike the data it is asked to score."""


def comparisons_hash(config: MatchingConfig) -> str:
    """A hash of the comparisons the configuration defines (their SQL and levels, untrained)."""
    comparisons = build_settings(config).create_settings_dict("spark")["comparisons"]
    untrained = [
        {**c, "comparison_levels": [{k: v for k, v in level.items() if k not in ("m_probability", "u_probability")}
                                    for level in c["comparison_levels"]]}
        for c in comparisons
    ]
    return hashlib.sha256(json.dumps(untrained, sort_keys=True).encode("utf-8")).hexdigest()[:16]


def data_fingerprint(inputs: DataFrame, config: MatchingConfig) -> dict[str, Any]:
    """The fingerprint of the model input ``inputs`` (:func:`.scoring.model_input`): one Spark job."""
    missing = [c for c in MODEL_COLUMNS if c not in inputs.columns]
    if missing:
        raise ValueError(f"data_fingerprint: 'inputs' lacks the model column(s) {', '.join(missing)}")
    row = inputs.agg(
        F.sort_array(F.collect_set(F.substring_index(F.col(UNIQUE_ID), ":", 1))).alias("sources"),
        *[F.max(F.col(c).isNotNull()).alias(c) for c in MODEL_COLUMNS if c != UNIQUE_ID],
    ).first()
    return {
        "comparisons": comparisons_hash(config),
        "sources": list(row["sources"] or []),
        "columns": sorted(c for c in MODEL_COLUMNS if c != UNIQUE_ID and row[c]),
    }


def fingerprint_differences(trained: Mapping[str, Any] | None, current: Mapping[str, Any]) -> list[str]:
    """What differs between the fingerprint a model was trained with and the current data's, in words."""
    if not trained:
        return ["the model was registered without a fingerprint (before fingerprints were recorded)"]
    differences = []
    if trained.get("comparisons") != current["comparisons"]:
        differences.append("its comparisons are not those of conf/matching.yaml")
    for key, what in (("sources", "sources"), ("columns", "columns with values")):
        before, now = set(trained.get(key) or ()), set(current[key])
        if before != now:
            parts = []
            if now - before:
                parts.append(f"new {', '.join(sorted(now - before))}")
            if before - now:
                parts.append(f"absent {', '.join(sorted(before - now))}")
            differences.append(f"{what}: trained on {', '.join(sorted(before)) or 'none'}; the data has "
                               f"{', '.join(sorted(now)) or 'none'} ({'; '.join(parts)})")
    return differences


def check_fingerprint(trained: Mapping[str, Any] | None, current: Mapping[str, Any], model: str) -> None:
    """Raise :class:`ModelMismatchError` naming ``model`` and the differences when the fingerprints differ."""
    differences = fingerprint_differences(trained, current)
    if differences:
        raise ModelMismatchError(
            f"{model} does not fit the data it would score: {'; '.join(differences)}. {OVERRIDE_HINT}."
        )
