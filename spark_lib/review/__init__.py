"""The data steward's loop (issue 18): the review queue, the steward's decisions, the review page.

``spark_lib.review.store`` reads the queue and writes decisions without Spark; ``spark_lib.review.app`` is
the review page and its JSON API (``rcu review``).
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
