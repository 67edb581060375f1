"""What every job shares: configuration, the session, the lakehouse, and progress lines."""

from __future__ import annotations

import argparse
import datetime as dt
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path
from typing import Callable, Sequence, TypeVar

from pyspark.sql import SparkSession

from spark_lib.config import DEFAULT_CONF_DIR, PipelineConfig, SourcesConfig, load_pipeline, load_sources
from spark_lib.session import get_spark
from spark_lib.stages import Progress, StageListener, Stages
from spark_lib.storage import Lakehouse

__all__ = ["JobContext", "Progress", "Stages", "add_common_arguments", "build_context", "parse_date", "run_concurrently"]


T = TypeVar("T")


def run_concurrently(tasks: Sequence[Callable[[], T]], workers: int) -> list[T]:
    """Run ``tasks`` on ``workers`` driver threads; results in the tasks' order, the first error re-raised.

    Spark schedules jobs from several threads of one session side by side: while one table's Delta commit
    or query planning runs on the driver, the other table's tasks keep the executors busy. Each task must
    write its own tables (two concurrent writers of one Delta table would conflict).
    """
    if workers <= 1 or len(tasks) <= 1:
        return [task() for task in tasks]
    with ThreadPoolExecutor(max_workers=workers, thread_name_prefix="rcu-table") as pool:
        futures = [pool.submit(task) for task in tasks]
        return [future.result() for future in futures]


@dataclass(frozen=True)
class JobContext:
    spark: SparkSession
    pipeline: PipelineConfig
    sources: SourcesConfig
    lake: Lakehouse
    conf_dir: Path = DEFAULT_CONF_DIR
    #: follow every job's stages as they start and end (the benchmark's memory windows)
    stage_listeners: tuple[StageListener, ...] = ()

    def stages(self, job: str, progress: Progress | None = None) -> Stages:
        """The stage bookkeeping of ``job`` (see :mod:`spark_lib.stages`): ``with stages("predict") as stage:``."""
        return Stages(self.spark, job, progress or Progress(job), self.stage_listeners)

    @property
    def raw_dir(self) -> str:
        return self.pipeline.resolve(self.pipeline.raw_dir)

    @property
    def truth_dir(self) -> str:
        return self.pipeline.resolve(self.pipeline.truth_dir)


def parse_date(text: str) -> dt.date:
    """An argparse type: a ``YYYY-MM-DD`` date, or a usage error saying so."""
    try:
        return dt.date.fromisoformat(text)
    except ValueError as error:
        raise argparse.ArgumentTypeError(f"expected a date as YYYY-MM-DD, got {text!r}") from error


def add_common_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--conf-dir", help="folder holding pipeline.yaml and sources.yaml (default: conf/)")
    parser.add_argument("--lakehouse", help="Delta lakehouse folder (default: pipeline.yaml lakehouse_dir)")
    parser.add_argument("--raw-dir", help="folder of the raw source files (default: pipeline.yaml raw_dir)")
    parser.add_argument("--sources", help="sources YAML file (default: <conf-dir>/sources.yaml)")


def build_context(args: argparse.Namespace, app_name: str, spark: SparkSession | None = None) -> JobContext:
    conf_dir = Path(args.conf_dir) if getattr(args, "conf_dir", None) else None
    pipeline = load_pipeline(conf_dir / "pipeline.yaml" if conf_dir else None)
    overrides = {}
    if getattr(args, "lakehouse", None):
        overrides["lakehouse_dir"] = args.lakehouse
    if getattr(args, "raw_dir", None):
        overrides["raw_dir"] = args.raw_dir
    if getattr(args, "truth_dir", None):
        overrides["truth_dir"] = args.truth_dir
    if overrides:
        import dataclasses

        pipeline = dataclasses.replace(pipeline, **overrides)
    sources_file = getattr(args, "sources", None) or (conf_dir / "sources.yaml" if conf_dir else None)
    sources = load_sources(sources_file)
    spark = spark or get_spark(app_name=app_name)
    lake = Lakehouse(spark, pipeline.resolve(pipeline.lakehouse_dir))
    return JobContext(spark, pipeline, sources, lake, conf_dir or DEFAULT_CONF_DIR)
