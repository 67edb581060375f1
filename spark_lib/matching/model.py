"""Training beside the deterministic step: the model trains in a driver thread while the executors link.

Of the whole training (:func:`~spark_lib.matching.probabilistic.train_model`) only the prior needs the
deterministic cores, and it is set after u is estimated. So a run that trains starts the training first,
runs the deterministic step, then hands the cores over: the driver trains (DuckDB, in process) while the
executors link the pivots, and the model is the one a sequential run would train (same u, same prior, same
EM). If the deterministic step fails, the training is told so, ends, and its thread is gone when the block
exits; the step's own error is the one raised.

Example::

    with TrainingThread(lambda cores: train_model(spark, records, config, deterministic_cores=cores)) as training:
        links = link_deterministic(records, rules.deterministic, rules.clustering)
        training.give_cores(links.core_of)
        model = training.result()
"""

from __future__ import annotations

from concurrent.futures import Future, ThreadPoolExecutor
from typing import Callable, Generic, TypeVar

from pyspark.sql import DataFrame

T = TypeVar("T")

#: ``train(wait_for_cores) -> model``; ``wait_for_cores()`` blocks until the caller gives the cores
Train = Callable[[Callable[[], DataFrame]], T]


class CoresNotGivenError(RuntimeError):
    """The block ended (usually by an error in the deterministic step) before the cores were given."""


class TrainingThread(Generic[T]):
    """Runs ``train`` in a thread named ``match-train``; see the module docstring."""

    def __init__(self, train: Train):
        if train is None:
            raise ValueError("TrainingThread: 'train' cannot be None")
        self._cores: Future = Future()
        self._pool = ThreadPoolExecutor(max_workers=1, thread_name_prefix="match-train")
        self._training = self._pool.submit(train, self._cores.result)

    def give_cores(self, core_of: DataFrame) -> None:
        """Hand over the deterministic cores (record_key, core_id): the training goes on to its prior."""
        self._cores.set_result(core_of)

    def result(self) -> T:
        """The trained model (waits for the training to end; re-raises its error)."""
        return self._training.result()

    def __enter__(self) -> TrainingThread[T]:
        return self

    def __exit__(self, kind, error, traceback) -> None:
        if not self._cores.done():
            self._cores.set_exception(error or CoresNotGivenError("the deterministic cores were never given"))
        self._pool.shutdown(wait=True)
