"""Record matching: which silver records are the same person.

``probabilistic`` scores record pairs with a Splink model (see its docstring); ``blocking`` chooses and
counts the pairs it scores.
"""

from spark_lib.matching.blocking import ComparisonLimitExceededError
from spark_lib.matching.probabilistic import (
    MatchingConfig,
    PairExplanation,
    TrainedModel,
    build_settings,
    explain_pair,
    load_matching_config,
    model_charts,
    predict_pairs,
    preflight,
    train_model,
)

__all__ = [
    "ComparisonLimitExceededError",
    "MatchingConfig",
    "PairExplanation",
    "TrainedModel",
    "build_settings",
    "explain_pair",
    "load_matching_config",
    "model_charts",
    "predict_pairs",
    "preflight",
    "train_model",
]
