"""What every job shares: configuration, the session, the lakehouse, and progress lines."""

from __future__ import annotations

import argparse
import dataclasses
import datetime as dt
from concurrent.futures import ThreadPoolExecutor
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Callable, Collection, Iterator, Sequence, TypeVar

from pyspark.sql import SparkSession

from spark_lib.config import DEFAULT_CONF_DIR, ConfigError, PipelineConfig, SourcesConfig, load_pipeline, load_sources
from spark_lib.config_check import RUN_STEPS, configuration_errors, raw_file_errors
from spark_lib import tracking
from spark_lib.lock import LakehouseBusyError, LakehouseLock, concurrent_write_error
from spark_lib.run_state import code_files, fingerprint
from spark_lib.session import get_spark
from spark_lib.gold.audiences import interaction_tables_of
from spark_lib.stages import Progress, StageListener, Stages
from spark_lib.storage import Lakehouse
from spark_lib.tables import interactions

__all__ = ["ConfigurationError", "JobContext", "LakehouseBusyError", "Progress", "RUN_STEPS", "Stages",
           "add_common_arguments", "add_lock_argument", "build_context", "latest_event_date", "parse_date",
           "run_concurrently", "validate_configuration", "writing_run"]


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
    #: the sources file the configuration was read from
    sources_file: Path | None = None

    def stages(self, job: str, progress: Progress | None = None) -> Stages:
        """The stage bookkeeping of ``job`` (see :mod:`spark_lib.stages`): ``with stages("predict") as stage:``."""
        return Stages(self.spark, job, progress or Progress(job), self.stage_listeners)

    @property
    def raw_dir(self) -> str:
        return self.pipeline.resolve(self.pipeline.raw_dir)

    @property
    def truth_dir(self) -> str:
        return self.pipeline.resolve(self.pipeline.truth_dir)


def latest_event_date(ctx: JobContext) -> dt.date | None:
    """The date of the latest event over every interaction table the sources feed and that exists (None when
    there is none): the default run date of ``rcu gold`` and ``rcu activate``, so that their snapshots line
    up and a demo on generated data targets the data's own "today". Read from the tables' statistics where
    they have them (:meth:`~spark_lib.storage.Lakehouse.latest_day`)."""
    days = [ctx.lake.latest_day(interactions(name), "event_time") for name in interaction_tables_of(ctx.sources)]
    return max((d for d in days if d is not None), default=None)


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


def add_kafka_arguments(parser: argparse.ArgumentParser, verb: str) -> None:
    """``--bootstrap-servers`` and ``--topic-prefix``, for the commands that talk to the broker (``verb``: what
    they do with the topics, e.g. 'publish to' or 'read')."""
    parser.add_argument("--bootstrap-servers", help="host:port of the brokers (default: pipeline.yaml kafka.bootstrap_servers)")
    parser.add_argument("--topic-prefix", help=f"{verb} <prefix>navigation, <prefix>orders, <prefix>campaign_events "
                                               "(default: pipeline.yaml kafka.topics)")


def add_lock_argument(parser: argparse.ArgumentParser) -> None:
    """``--wait-lock SECONDS``, for the commands that write tables (see :mod:`spark_lib.lock`)."""
    parser.add_argument("--wait-lock", type=float, default=0, metavar="SECONDS",
                        help="when another run holds the lakehouse, wait up to this long for it (default: 0, stop at once)")


class ConfigurationError(ConfigError):
    """Some configuration files are wrong: every error found, each naming its file and key."""

    def __init__(self, command: str, errors: Sequence[str]):
        self.errors = list(errors)
        listed = "\n".join(f"  - {error}" for error in self.errors)
        super().__init__(f"{command}: {len(self.errors)} configuration error(s), nothing was written:\n{listed}")


def _configuration(args: argparse.Namespace) -> tuple[Path | None, PipelineConfig, str | Path | None]:
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
        pipeline = dataclasses.replace(pipeline, **overrides)
    sources_file = getattr(args, "sources", None) or (conf_dir / "sources.yaml" if conf_dir else None)
    return conf_dir, pipeline, sources_file


def validate_configuration(args: argparse.Namespace, command: str, steps: Collection[str] = RUN_STEPS,
                           check_files: bool = True, audiences_file: str | None = None,
                           audience_names: Sequence[str] = ()) -> None:
    """Check every configuration file ``steps`` read, the mapped columns against the raw files present
    included (``check_files``), before any table changes: raises :class:`ConfigurationError` listing them all.

    No Spark starts; it takes a few milliseconds (see :mod:`spark_lib.config_check`)."""
    errors: list[str] = []
    pipeline = sources = None
    conf_dir = Path(args.conf_dir) if getattr(args, "conf_dir", None) else None
    sources_file = getattr(args, "sources", None) or (conf_dir / "sources.yaml" if conf_dir else None)
    try:
        _, pipeline, _ = _configuration(args)
    except ConfigError as error:
        errors.append(str(error))  # pipeline.yaml: the other files are still checked
    try:
        sources = load_sources(sources_file)
    except ConfigError as error:
        errors.append(str(error))
    raw_dir = pipeline.resolve(pipeline.raw_dir) if pipeline is not None and check_files else None
    errors += configuration_errors(conf_dir or DEFAULT_CONF_DIR, sources, raw_dir, steps,
                                   audiences_file=audiences_file, audience_names=audience_names)
    if errors:
        raise ConfigurationError(command, errors)


def check_raw_files(ctx: JobContext, command: str) -> None:
    """The mapped columns against the raw files present (run-all, once the generator has written them)."""
    errors = raw_file_errors(ctx.sources, ctx.raw_dir)
    if errors:
        raise ConfigurationError(command, errors)


def build_context(args: argparse.Namespace, app_name: str, spark: SparkSession | None = None) -> JobContext:
    conf_dir, pipeline, sources_file = _configuration(args)
    sources = load_sources(sources_file)
    spark = spark or get_spark(app_name=app_name)
    lake = Lakehouse(spark, pipeline.resolve(pipeline.lakehouse_dir))
    return JobContext(spark, pipeline, sources, lake, conf_dir or DEFAULT_CONF_DIR,
                      sources_file=Path(sources_file) if sources_file else None)


@contextmanager
def writing_run(args: argparse.Namespace, app_name: str, command: str, steps: Collection[str],
                check_files: bool = True, audiences_file: str | None = None,
                audience_names: Sequence[str] = ()) -> Iterator[JobContext]:
    """The context of a command that writes tables: its configuration validated, then the lakehouse lock
    held (``args.wait_lock`` seconds of waiting for it) until the block ends.

    Every error is raised before Spark starts: :class:`ConfigurationError`, or :class:`LakehouseBusyError`
    when another run holds the lakehouse. A conflicting Delta commit of another writer (where no lock
    holds: an object store) is raised as a :class:`LakehouseBusyError` too. Example::

        with writing_run(args, "rcu-match", "rcu match", steps=["match"]) as ctx:
            report = run(ctx)
    """
    validate_configuration(args, command, steps, check_files, audiences_file, audience_names)
    _, pipeline, _ = _configuration(args)
    with LakehouseLock(pipeline.resolve(pipeline.lakehouse_dir), command, getattr(args, "wait_lock", 0) or 0):
        ctx = build_context(args, app_name)
        try:
            yield ctx
        except Exception as error:
            busy = concurrent_write_error(error)
            if busy is None:
                raise
            raise busy from error


def step_fingerprint(ctx: JobContext, step: str) -> str:
    """What besides its input tables decides a step's output: the configuration files and the code, and for
    matching the champion model."""
    files = [*Path(ctx.conf_dir).glob("*.yaml"), *([ctx.sources_file] if ctx.sources_file else []), *code_files()]
    extra = [step]
    if step == "match":
        extra.append(tracking.champion_version(ctx.pipeline.model_name,
                                               tracking_uri=ctx.pipeline.mlflow_tracking_uri) or "no champion")
    return fingerprint(files, *extra)
