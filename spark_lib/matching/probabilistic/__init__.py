"""Probabilistic matching of ``silver.customer_records`` with Splink (Fellegi-Sunter), scored on Spark.

One model links and de-duplicates every source at once: the records of all sources are one table and
Splink runs ``dedupe_only`` on it with ``record_key`` as the unique id, which compares records of the same
source (duplicates in the CRM) and of different sources (the loyalty member and the e-shop account) alike.

Modules, each one responsibility; each imports only modules listed above it (no cycles):

- :mod:`.config`: ``conf/matching.yaml``'s ``probabilistic:`` and ``blocking:`` sections, parsed strictly;
- :mod:`.splink_internals`: every use of Splink's private API (read it first on a Splink upgrade);
- :mod:`.comparisons`: the comparison levels (household gates included) and the Splink settings;
- :mod:`.scoring`: the records the model sees, the pre-flight on their pairs, scoring on Spark;
- :mod:`.fingerprint`: what a model was trained on, checked before a registered model scores other data;
- :mod:`.training`: the parameters estimated on a sample (DuckDB or Spark), the prior from the links;
- :mod:`.explanation`: one pair's score broken down, the m/u table and Splink's charts.

Everything callers use is importable from the package itself.

Example::

    from spark_lib.matching.probabilistic import load_matching_config, predict_pairs, train_model

    config = load_matching_config()
    model = train_model(spark, records, config, deterministic_pairs=edges)
    pairs = predict_pairs(spark, records, model.model_json, config)
"""

from spark_lib.matching.probabilistic.comparisons import build_settings, names_swapped_sql, settings_for_dialect
from spark_lib.matching.probabilistic.config import (
    BACKENDS,
    BREAK_LINEAGE_METHODS,
    MODEL_COLUMNS,
    UNIQUE_ID,
    ComparisonSettings,
    ContactRecords,
    MatchingConfig,
    ProbabilisticConfig,
    TrainingSettings,
    load_matching_config,
    parse_probabilistic,
)
from spark_lib.matching.probabilistic.fingerprint import (
    ModelMismatchError,
    check_fingerprint,
    data_fingerprint,
    fingerprint_differences,
)
from spark_lib.matching.probabilistic.explanation import PairExplanation, explain_pair, m_u_table, model_charts
from spark_lib.matching.probabilistic.scoring import CORE_COLUMN, model_input, predict_pairs, preflight
from spark_lib.matching.probabilistic.training import (
    WAIT_FOR_CORES,
    TrainedModel,
    count_core_pairs,
    count_linked_pairs,
    prior_from_links,
    train_model,
)

__all__ = [
    "BACKENDS",
    "BREAK_LINEAGE_METHODS",
    "CORE_COLUMN",
    "MODEL_COLUMNS",
    "UNIQUE_ID",
    "WAIT_FOR_CORES",
    "ComparisonSettings",
    "ContactRecords",
    "MatchingConfig",
    "ModelMismatchError",
    "PairExplanation",
    "ProbabilisticConfig",
    "TrainedModel",
    "TrainingSettings",
    "build_settings",
    "check_fingerprint",
    "count_core_pairs",
    "count_linked_pairs",
    "data_fingerprint",
    "explain_pair",
    "fingerprint_differences",
    "load_matching_config",
    "m_u_table",
    "model_charts",
    "model_input",
    "names_swapped_sql",
    "parse_probabilistic",
    "predict_pairs",
    "preflight",
    "prior_from_links",
    "settings_for_dialect",
    "train_model",
]
