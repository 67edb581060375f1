"""Stage bookkeeping in one place: each stage of a job names its Spark jobs, is timed, recorded and reported.

A job runs its work as named stages::

    stages = Stages(spark, "match", Progress("match"))
    with stages("predict") as stage:
        pairs = predict_pairs(...)
        stage.done(f"{pairs.count():,} scored pairs")
    stages.seconds        # {'predict': 18.2}

Inside a stage every Spark job is described ``match: predict`` (Spark UI, event log,
``benchmarks/spark_profile.py``); at its end the seconds go to ``stages.seconds`` and the progress line
``[step 4/7 match] predict: 42,226 scored pairs (12.3 s)`` is printed. Listeners (``on_stage(event, job,
stage)`` with event ``"start"`` or ``"end"``) follow the stages as they run: the benchmark opens a memory
window per stage this way instead of reading the progress lines.
"""

from __future__ import annotations

import sys
import time
from contextlib import contextmanager
from dataclasses import dataclass, field
from typing import Callable, Iterator, Sequence

from pyspark.sql import SparkSession

from spark_lib.session import job_description

#: ``listener(event, job, stage)``, event ``"start"`` or ``"end"``
StageListener = Callable[[str, str, str], None]


@dataclass
class Progress:
    """Prints ``[step 2/6 ingest] loyalty_members: 3/9 files, 45,210 rows (12.4 s)`` lines to stderr."""

    step: str
    index: int = 1
    total: int = 1
    started: float = field(default_factory=time.perf_counter)
    quiet: bool = False

    def __call__(self, message: str) -> None:
        if not self.quiet:
            elapsed = time.perf_counter() - self.started
            print(f"[step {self.index}/{self.total} {self.step}] {message} ({elapsed:,.1f} s)", file=sys.stderr, flush=True)

    @property
    def seconds(self) -> float:
        return time.perf_counter() - self.started


@dataclass
class Stage:
    """A running stage: :meth:`done` sets the line printed when it ends."""

    name: str
    started: float = field(default_factory=time.perf_counter)
    message: str | None = None

    def done(self, message: str) -> None:
        self.message = message


@dataclass
class Stages:
    """The stages of one job (see the module docstring). ``spark`` may be None for a job without Spark."""

    spark: SparkSession | None
    job: str
    progress: Progress
    listeners: Sequence[StageListener] = ()
    #: seconds per stage, in the order they ran
    seconds: dict[str, float] = field(default_factory=dict)

    @contextmanager
    def __call__(self, name: str) -> Iterator[Stage]:
        """Run the block as stage ``name``; an error ends the stage (listeners see it) and propagates."""
        if not name:
            raise ValueError("a stage needs a name")
        stage = Stage(name)
        self._notify("start", name)
        try:
            with self.named_jobs(name):
                yield stage
        finally:
            self.seconds[name] = round(time.perf_counter() - stage.started, 2)
            self._notify("end", name)
        if stage.message:
            self.progress(f"{name}: {stage.message}")

    @contextmanager
    def named_jobs(self, name: str) -> Iterator[None]:
        """Describe the Spark jobs started by this thread as ``<job>: <name>`` (a thread of its own, such as
        the match job's training, names its jobs with this)."""
        if self.spark is None:
            yield
            return
        with job_description(self.spark, f"{self.job}: {name}"):
            yield

    def _notify(self, event: str, name: str) -> None:
        for listener in self.listeners:
            listener(event, self.job, name)
