"""Record matching: which silver records are the same person, as named steps a job calls in order.

Each step takes the records it works on and its configuration and returns DataFrames or a small result, so
the same steps serve a full rebuild and, later, a run on a subset of records:

1. :func:`link_deterministic` (:mod:`.links`): pivot values, generic values, deterministic edges, anonymous
   records and the deterministic cores (:mod:`.deterministic`, :func:`.clustering.deterministic_cores`);
2. :func:`train_model` (:mod:`.probabilistic`), beside step 1 in a :class:`TrainingThread` (:mod:`.model`),
   or the champion model from the registry (:mod:`spark_lib.tracking`);
3. :func:`predict_pairs` (:mod:`.probabilistic`): the blocked pairs scored by the model on Spark
   (:func:`preflight` checks the blocking rules' limits first; :mod:`.blocking`);
4. :func:`cluster_customers` (:mod:`.clustering`): connected components with merge protection;
5. :func:`assign_customer_ids` (:mod:`.ids`): persistent ids and their events;
6. :func:`build_crosswalk` (:mod:`.crosswalk`): each record's customer and how it was matched;
7. :func:`evaluate_matching` (:mod:`.evaluation`): pairwise and B-cubed figures against a ground truth;
8. :func:`explain_pair` (:mod:`.probabilistic`): one pair's weights, comparison by comparison;
9. the data steward's loop: decisions applied as must- and cannot-links (:mod:`.overrides`), the review
   queue and the display rows of any pairs (:mod:`.review`), decisions from a file (:mod:`.review_file`).

:func:`load_matching_config` reads ``conf/matching.yaml``; :func:`load_matching_rules` reads
``conf/matching_rules.yaml`` once (its deterministic, clustering and ids sections). ``jobs/match.py`` shows
the steps chained, with the tables each one writes.
"""

from spark_lib.matching.blocking import ComparisonLimitExceededError
from spark_lib.matching.clustering import Clusters, cluster_customers, largest_guarded_cluster
from spark_lib.matching.crosswalk import build_crosswalk, summarise_crosswalk
from spark_lib.matching.evaluation import evaluate_clusters, evaluate_matching
from spark_lib.matching.ids import assign_customer_ids
from spark_lib.matching.links import DeterministicLinks, link_deterministic
from spark_lib.matching.model import TrainingThread
from spark_lib.matching.probabilistic import (
    MatchingConfig,
    PairExplanation,
    TrainedModel,
    build_settings,
    explain_pair,
    load_matching_config,
    model_charts,
    model_input,
    predict_pairs,
    preflight,
    train_model,
)
from spark_lib.matching.rules import MatchingRules, load_matching_rules

__all__ = [
    "Clusters",
    "ComparisonLimitExceededError",
    "DeterministicLinks",
    "MatchingConfig",
    "MatchingRules",
    "PairExplanation",
    "TrainedModel",
    "TrainingThread",
    "assign_customer_ids",
    "build_crosswalk",
    "build_settings",
    "cluster_customers",
    "evaluate_clusters",
    "evaluate_matching",
    "explain_pair",
    "largest_guarded_cluster",
    "link_deterministic",
    "load_matching_config",
    "load_matching_rules",
    "model_charts",
    "model_input",
    "predict_pairs",
    "preflight",
    "summarise_crosswalk",
    "train_model",
]
