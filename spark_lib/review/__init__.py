"""The data steward's loop (issue 18): what a person reviews, what they answered, and what their answers measure.

- :mod:`.store`: reads the queue and writes decisions without Spark (``ReviewStore``, re-exported here);
- :mod:`.app`: the review page and its JSON API (``rcu review``);
- :mod:`.estimate`: precision without ground truth, from a stratified sample of the pairs a run declares
  matches (``gold.review_sample``) and the steward's decisions (``ops.review_decisions``);
- :mod:`.gating`: a new model's figures on the labelled pairs against the champion's, and whether it is promoted.
"""

from spark_lib.review.store import (
    DECISIONS,
    Decision,
    NothingToUndoError,
    QueuedPair,
    ReviewConflictError,
    ReviewError,
    ReviewStore,
    UnknownPairError,
)

__all__ = [
    "DECISIONS",
    "Decision",
    "NothingToUndoError",
    "QueuedPair",
    "ReviewConflictError",
    "ReviewError",
    "ReviewStore",
    "UnknownPairError",
]
