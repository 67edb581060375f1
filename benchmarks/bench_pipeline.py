"""Wall time, peak memory and matching quality of the whole pipeline at several sizes, against Splink's documented set-ups.

    .venv/bin/python benchmarks/bench_pipeline.py --sizes 10000,100000 [--out benchmarks/results]
        [--work-dir /tmp/rcu-bench] [--keep] [--seed 42] [--no-baselines] [--baselines-max-size 1000000]
        [--baseline-timeout SECONDS] [--size-timeout SECONDS] [--driver-memory 16g] [--shuffle-partitions N]
        [--profile standard|foreign|store_crm_only] [--foreign-share X]

For each size, in a fresh worker process (so that the Spark JVM gets a driver memory suited to the size)
with a fresh lakehouse and a fresh MLflow sqlite store under ``--work-dir``:

1. ``generate`` (synthetic raw files + ground truth, before Spark starts), ``bronze`` (``jobs.ingest.run``),
   ``silver`` (``jobs.standardise.run``), the match job (``jobs.match.run(retrain=True)``: deterministic,
   train, predict, cluster, ids, then evaluation and MLflow logging) and ``gold`` (``jobs.gold.run``), all in
   one Spark session, as ``rcu run-all`` runs them;
2. on the same ``silver.customer_records``, the two references of ``benchmarks/baselines.py``: Splink on
   Spark and on DuckDB, set up as Splink's documentation shows, with the same comparisons and blocking rules.

Each stage gets its wall seconds and the peak memory of the worker's whole process tree (Python driver,
Spark JVM, Python workers), sampled with psutil in a background thread and reset at every stage.

Results: ``<out>/pipeline_<sizes>.json`` (everything), ``<out>/pipeline_<sizes>.md`` (tables) and a copy
of the tables as ``<out>/latest.md``; another generator profile than ``standard`` (``--profile``, see
``jobs/generate.py``) is named in the file names, e.g. ``pipeline_10000_store_crm_only.json``. They are
rewritten after every size, so an interrupted run keeps the sizes it finished.
"""

from __future__ import annotations

import argparse
import contextlib
import dataclasses
import datetime as dt
import hashlib
import importlib.metadata
import json
import math
import os
import platform
import shutil
import subprocess
import sys
import tempfile
import threading
import time
import traceback
from pathlib import Path
from typing import Any, Iterator

import psutil

from spark_lib import tables

ROOT = Path(__file__).resolve().parent.parent
DEFAULT_RESULTS = ROOT / "benchmarks" / "results"
DEFAULT_WORK = Path(tempfile.gettempdir()) / "rcu-bench"
GIB = 2**30

#: stage order in the results; the match job's five stages make up "our matching" in the comparison
PIPELINE_STAGES = ("generate", "spark_start", "bronze", "silver", "deterministic", "train", "predict", "cluster",
                   "ids", "evaluate", "gold")
MATCHING_STAGES = ("deterministic", "train", "predict", "cluster", "ids")
STAGE_LABELS = {
    "generate": "generate", "spark_start": "Spark start", "bronze": "bronze", "silver": "silver",
    "deterministic": "deterministic", "train": "train", "predict": "predict", "cluster": "cluster", "ids": "ids",
    "evaluate": "evaluate + MLflow", "gold": "gold",
}
QUALITY_KEYS = ("pairwise_precision", "pairwise_recall", "pairwise_f1", "bcubed_precision", "bcubed_recall",
                "bcubed_f1", "records_evaluated", "records_only_in_truth", "records_only_in_assignments",
                "predicted_pairs", "true_pairs", "true_positive_pairs", "clusters", "persons")
#: the recorder's window for each stage of the match job (spark_lib.stages): MLflow logging joins evaluation
MATCH_WINDOWS = {"deterministic": "deterministic", "train": "train", "predict": "predict", "cluster": "cluster",
                 "ids": "ids", "evaluate": "evaluate", "log": "evaluate"}


# --------------------------------------------------------------------------------------------------
# Memory: the whole process tree, sampled in a background thread
# --------------------------------------------------------------------------------------------------


def process_tree_rss(root: psutil.Process) -> dict[str, int]:
    """Resident bytes of ``root`` and all its descendants (the Spark JVM is a child of the Python driver),
    in total and by kind: ``driver`` (``root``), ``jvm``, ``python_workers`` (with ``python_worker_count``)."""
    usage = {"total": 0, "driver": 0, "jvm": 0, "python_workers": 0, "python_worker_count": 0}
    try:
        processes = [root, *root.children(recursive=True)]
    except psutil.Error:
        return usage
    seen: dict[int, tuple[str, int, int]] = {}  # pid -> name, parent pid, rss
    for process in processes:
        try:
            seen[process.pid] = (process.name(), process.ppid(), process.memory_info().rss)
        except psutil.Error:  # a Python worker that ended between the listing and the read
            continue
    for pid, (name, parent, rss) in seen.items():
        if pid != root.pid and parent in seen and seen[parent][0] == "java" and abs(rss - seen[parent][2]) <= 0.02 * rss:
            # A child the JVM is spawning (to start a Python worker) shares the JVM's pages until its exec and
            # shows the JVM's RSS (read a moment apart, hence the 2 %): counting it would count the JVM twice.
            continue
        kind = "driver" if pid == root.pid else "jvm" if name == "java" else "python_workers"
        usage["total"] += rss
        usage[kind] += rss
        usage["python_worker_count"] += kind == "python_workers"
    return usage


class MemorySampler:
    """Samples the process tree's RSS every ``interval`` seconds; :meth:`reset` starts a new peak window.

    RSS (``memory_info``) rather than PSS: reading PSS costs tens of milliseconds per sample on a JVM, which
    the sampler would steal from the run it measures.
    """

    def __init__(self, pid: int | None = None, interval: float = 0.1):
        self._root = psutil.Process(pid or os.getpid())
        self._interval = interval
        self._lock = threading.Lock()
        self._peak: dict[str, int] = {"total": 0}
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None

    def sample(self) -> int:
        usage = process_tree_rss(self._root)
        with self._lock:
            if usage["total"] > self._peak["total"]:
                self._peak = usage
        return usage["total"]

    def reset(self) -> int:
        """Start a new window at the current RSS, which is returned."""
        usage = process_tree_rss(self._root)
        with self._lock:
            self._peak = usage
        return usage["total"]

    def peak(self) -> int:
        """The window's peak so far (one more sample first, so that short stages have one too)."""
        return self.peak_usage()["total"]

    def peak_usage(self) -> dict[str, int]:
        """The window's peak sample, by kind of process (see :func:`process_tree_rss`)."""
        self.sample()
        with self._lock:
            return dict(self._peak)

    def _run(self) -> None:
        while not self._stop.wait(self._interval):
            self.sample()

    def __enter__(self) -> "MemorySampler":
        self._thread = threading.Thread(target=self._run, name="rss-sampler", daemon=True)
        self._thread.start()
        return self

    def __exit__(self, *exc) -> None:
        self._stop.set()
        if self._thread is not None:
            self._thread.join(timeout=2)


class StageRecorder:
    """Wall seconds and peak memory per named stage; one stage open at a time.

    ``on_change`` is called after every stage ends (the worker saves its partial results there).
    """

    def __init__(self, sampler: MemorySampler, on_change=None):
        self.sampler = sampler
        self.stages: dict[str, dict[str, Any]] = {}
        self._open: tuple[str, float, int, float] | None = None
        self._on_change = on_change

    @property
    def current(self) -> str | None:
        """The open stage's name."""
        return self._open[0] if self._open else None

    def begin(self, name: str) -> None:
        self.end()
        self._open = (name, time.perf_counter(), self.sampler.reset(), time.time())

    def follow_match(self, event: str, job: str, stage: str) -> None:
        """A stage listener (spark_lib.stages): each stage of the match job opens its memory window."""
        window = MATCH_WINDOWS.get(stage) if job == "match" and event == "start" else None
        if window and window != self.current:
            self.begin(window)

    def end(self, error: BaseException | None = None) -> None:
        if self._open is None:
            return
        name, started, start_rss, started_epoch = self._open
        self._open = None
        peak = self.sampler.peak_usage()
        record = {
            "status": "ok" if error is None else "error",
            "seconds": round(time.perf_counter() - started, 2),
            # wall-clock bounds, to place Spark's event log in the stages (benchmarks/spark_profile.py)
            "started_epoch": round(started_epoch, 3),
            "ended_epoch": round(time.time(), 3),
            "start_rss_bytes": start_rss,
            "peak_rss_bytes": peak.pop("total"),
            "peak_rss_by_process": peak,
        }
        if error is not None:
            record["error"] = error_text(error)
        self.stages[name] = record
        if self._on_change:
            self._on_change()

    @contextlib.contextmanager
    def stage(self, name: str) -> Iterator[None]:
        self.begin(name)
        try:
            yield
        except BaseException as error:
            if self._open and self._open[0] == name:
                self.end(error)
            raise
        if self._open and self._open[0] == name:
            self.end()


def error_text(error: BaseException, limit: int = 400) -> str:
    lines = str(error).strip().splitlines()
    text = f"{type(error).__name__}: {lines[0] if lines else ''}".rstrip(": ")
    return text if len(text) <= limit else text[: limit - 1] + "…"


# --------------------------------------------------------------------------------------------------
# Machine, session
# --------------------------------------------------------------------------------------------------


def cpu_model() -> str:
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or platform.machine()


def load_average() -> list[float] | None:
    try:
        return [round(x, 2) for x in os.getloadavg()]
    except OSError:
        return None


def _version(package: str) -> str | None:
    try:
        return importlib.metadata.version(package)
    except importlib.metadata.PackageNotFoundError:
        return None


def git_commit() -> str | None:
    try:
        commit = subprocess.run(["git", "rev-parse", "--short", "HEAD"], cwd=ROOT, capture_output=True, text=True,
                                check=True).stdout.strip()
        dirty = subprocess.run(["git", "status", "--porcelain", "--untracked-files=no"], cwd=ROOT,
                               capture_output=True, text=True, check=True).stdout.strip()
        return f"{commit}{' (uncommitted changes)' if dirty else ''}"
    except (OSError, subprocess.CalledProcessError):
        return None


def machine_description() -> dict[str, Any]:
    memory = psutil.virtual_memory()
    return {
        "cpu_model": cpu_model(),
        "logical_cores": psutil.cpu_count(logical=True),
        "physical_cores": psutil.cpu_count(logical=False),
        "ram_bytes": memory.total,
        "ram_available_bytes_at_start": memory.available,
        "python": platform.python_version(),
        "platform": platform.platform(),
        "java": _java_version(),
        "packages": {p: _version(p) for p in ("pyspark", "delta-spark", "splink", "duckdb", "mlflow", "psutil")},
        "commit": git_commit(),
    }


def _java_version() -> str | None:
    try:
        out = subprocess.run(["java", "-version"], capture_output=True, text=True, timeout=20)
        return (out.stderr or out.stdout).strip().splitlines()[0]
    except (OSError, subprocess.SubprocessError, IndexError):
        return None


def session_settings(persons: int, cores: int | None = None, ram_bytes: int | None = None) -> dict[str, Any]:
    """Driver memory and shuffle partitions for ``persons``.

    - driver memory (the whole local-mode JVM): 2 GiB plus 14 GiB per million persons, so ~16 GiB at 1M
      persons, at least 3 GiB and at most 70 % of the machine's RAM;
    - shuffle partitions: two per core for small data, then one per 12,500 persons (80 at 1M persons, about
      30k silver records each), at most 400; adaptive execution coalesces the small ones.
    """
    cores = cores or os.cpu_count() or 2
    ram_bytes = ram_bytes or psutil.virtual_memory().total
    ceiling = max(3, int(ram_bytes * 0.7 / GIB))
    driver_gib = min(max(3, math.ceil(2 + 14 * persons / 1_000_000)), ceiling)
    partitions = max(2 * cores, min(400, math.ceil(persons / 12_500)))
    return {"driver_memory": f"{driver_gib}g", "shuffle_partitions": partitions}


# --------------------------------------------------------------------------------------------------
# One size, in a worker process
# --------------------------------------------------------------------------------------------------


def _write_json(path: Path, data: Any) -> None:
    tmp = path.with_suffix(path.suffix + ".tmp")
    tmp.write_text(json.dumps(data, indent=2, default=str) + "\n", encoding="utf-8")
    tmp.replace(path)


def _training_metrics(tracking_uri: str, run_id: str | None) -> dict[str, float]:
    """The metrics of the match job's MLflow training run (comparisons per rule, training seconds)."""
    from spark_lib import tracking

    return tracking.run_metrics(run_id, tracking_uri) if run_id else {}


def run_size(args: argparse.Namespace) -> dict[str, Any]:
    """Run the pipeline and the references for ``args.size`` persons; results saved to ``args.result_file``."""
    persons = args.size
    work = Path(args.work_dir)
    if work.exists():
        shutil.rmtree(work)
    work.mkdir(parents=True)
    result_file = Path(args.result_file)
    settings = session_settings(persons)
    settings["driver_memory"] = args.driver_memory or settings["driver_memory"]
    settings["shuffle_partitions"] = args.shuffle_partitions or settings["shuffle_partitions"]
    result: dict[str, Any] = {
        "persons": persons,
        "status": "running",
        "error": None,
        "work_dir": str(work),
        "started_at": dt.datetime.now(dt.timezone.utc).isoformat(timespec="seconds"),
        "load_average": {"start": load_average(), "end": None},
        "spark": {"master": os.environ.get("RCU_SPARK_MASTER", "local[*]"), **settings},
        "stages": {},
        "rows": {},
        "baselines": {},
    }
    began = time.perf_counter()

    def save() -> None:
        result["wall_seconds"] = round(time.perf_counter() - began, 1)
        result["load_average"]["end"] = load_average()
        _write_json(result_file, result)

    # Side effects of Spark and MLflow stay under the size's work dir.
    tracking_uri = f"sqlite:///{work / 'mlflow.db'}"
    os.environ["MLFLOW_TRACKING_URI"] = tracking_uri
    os.environ["RCU_WAREHOUSE_DIR"] = str(work / "spark-warehouse")
    os.environ["RCU_DRIVER_MEMORY"] = settings["driver_memory"]

    with MemorySampler(interval=args.sample_interval) as sampler:
        recorder = StageRecorder(sampler, on_change=lambda: (result.__setitem__("stages", recorder.stages), save()))
        spark = ctx = None
        try:
            spark, ctx = _run_pipeline(args, persons, work, tracking_uri, settings, recorder, result)
        except Exception as error:  # noqa: BLE001 - keep what was measured, say what failed
            result["status"] = "error"
            result["error"] = error_text(error)
            traceback.print_exc()
        finally:
            save()
        if ctx is not None and "quality" in result:
            try:
                _quality_on_model_input(ctx, result)
            except Exception as error:  # noqa: BLE001
                traceback.print_exc()
                result["quality_model_input_error"] = error_text(error)
            save()
        if ctx is not None:
            try:
                _run_baselines(args, persons, work, spark, ctx, recorder, result, save)
            except Exception as error:  # noqa: BLE001 - the pipeline's results stand
                traceback.print_exc()
                result["baselines_error"] = error_text(error)
        if result["status"] == "running":
            result["status"] = "ok"
        result["stages"] = recorder.stages
        save()
        if spark is not None:
            with contextlib.suppress(Exception):  # a JVM that died (out of memory) cannot be stopped
                spark.stop()
    return result


def _run_pipeline(args, persons, work, tracking_uri, settings, recorder, result):
    from jobs import generate, gold, ingest, match, standardise
    from jobs.common import Progress, build_context
    from spark_lib.session import get_spark

    quiet = args.quiet
    namespace = argparse.Namespace(
        conf_dir=args.conf_dir, lakehouse=str(work / "lakehouse"), raw_dir=str(work / "raw"), sources=None,
        truth_dir=str(work / "truth"),
    )
    with recorder.stage("generate"):
        summary = generate.run(
            persons=persons, raw_dir=namespace.raw_dir, truth_dir=namespace.truth_dir, seed=args.seed,
            reference_date=args.reference_date, progress=Progress("generate", 1, 6, quiet=quiet),
            profile=args.profile, foreign_share=args.foreign_share,
        )
    result["generator"] = {"profile": summary.profile, "foreign_share": summary.foreign_share}
    result["rows"]["raw"] = sum(summary.rows_per_source.values())

    with recorder.stage("spark_start"):
        spark = get_spark(
            app_name=f"rcu-bench-{persons}",
            shuffle_partitions=settings["shuffle_partitions"],
            extra_conf={"spark.driver.memory": settings["driver_memory"], **_event_log_conf(args, work)},
        )
        spark.range(1).count()  # the first job pays for the JVM's class loading, not the first stage
    ctx = build_context(namespace, "rcu-bench", spark=spark)
    # A fresh MLflow store per size, so the match job trains a new model (and train time is measured); the
    # memory windows follow the match job's stages.
    ctx = dataclasses.replace(ctx, pipeline=dataclasses.replace(ctx.pipeline, mlflow_tracking_uri=tracking_uri),
                              stage_listeners=(recorder.follow_match,))

    with recorder.stage("bronze"):
        reports = ingest.run(ctx, progress=Progress("ingest", 2, 6, quiet=quiet))
    result["rows"]["bronze"] = sum(r.rows_bronze for r in reports)
    result["rows"]["quarantined"] = sum(r.rows_quarantined for r in reports)

    with recorder.stage("silver"):
        silver = standardise.run(ctx, progress=Progress("standardise", 3, 6, quiet=quiet))
    result["rows"]["silver_records"] = next((r.rows for r in silver if r.table == tables.CUSTOMER_RECORDS), None)

    try:
        report = match.run(ctx, retrain=True, progress=Progress("match", 5, 6, quiet=quiet))
    except BaseException as error:
        recorder.end(error)
        raise
    recorder.end()
    _record_match(result, recorder, report, tracking_uri)

    try:
        with recorder.stage("gold"):
            gold.run(ctx, progress=Progress("gold", 6, 6, quiet=quiet))
    except Exception:  # noqa: BLE001 - the error is in the stage record; matching results stand
        traceback.print_exc()
    return spark, ctx


def _event_log_conf(args: argparse.Namespace, work: Path) -> dict[str, str]:
    """Spark settings that write the event log of the size's session under ``<work>/spark-events``."""
    if not args.event_log:
        return {}
    folder = work / "spark-events"
    folder.mkdir(parents=True, exist_ok=True)
    return {"spark.eventLog.enabled": "true", "spark.eventLog.dir": folder.resolve().as_uri(),
            "spark.eventLog.compress": "false"}


def write_profile(run: dict[str, Any], work: Path, out_dir: Path) -> Path | None:
    """``<out>/profile_<persons>.md``: the size's Spark event log summed per stage and call site."""
    import spark_profile

    events = work / "spark-events"
    if not events.is_dir():
        return None
    stages = spark_profile.spark_stages(spark_profile.read_events(spark_profile.find_event_log(events)))
    report = spark_profile.profile(stages, spark_profile.pipeline_windows(run), str(ROOT))
    profile = (run.get("generator") or {}).get("profile", "standard")
    path = out_dir / f"profile_{run['persons']}{'' if profile == 'standard' else '_' + profile}.md"
    path.write_text(spark_profile.render(report, title=f"Spark profile: {run['persons']:,} persons"), encoding="utf-8")
    return path


def _record_match(result, recorder, report, tracking_uri) -> None:
    """The match job's own stage seconds replace the recorder's windows (which hold the memory)."""
    for name in MATCHING_STAGES:
        stage = recorder.stages.get(name)
        if stage is not None and name in report.seconds:
            stage["window_seconds"] = stage["seconds"]
            stage["seconds"] = report.seconds[name]
    if "train" in recorder.stages and "train_total" in report.seconds:
        # Training runs beside the deterministic step: train is the wait after that step, own_seconds the
        # training's whole duration.
        recorder.stages["train"]["own_seconds"] = report.seconds["train_total"]
    if "evaluate" in recorder.stages:  # the window: evaluation, then MLflow logging (the job times the former only)
        recorder.stages["evaluate"]["evaluation_seconds"] = report.seconds.get("evaluate")
        recorder.stages["evaluate"]["note"] = "evaluation against the truth and MLflow logging (model, charts)"
    metrics = _training_metrics(tracking_uri, report.model_run_id)
    result["comparisons"] = dict(report.comparisons)
    result["comparisons_total"] = sum(report.comparisons.values())
    result["model_input_records"] = report.model_input_records
    result["match"] = {
        "seconds": report.seconds,
        "training_seconds": {k.split(".", 1)[1]: v for k, v in metrics.items() if k.startswith("seconds.")},
        "training_records": int(metrics["training_records"]) if "training_records" in metrics else None,
        "model_run_id": report.model_run_id,
        "records": report.records,
        "customers": report.customers,
        "largest_cluster": report.largest_cluster,
        "deterministic_edges": report.deterministic_edges,
        "scored_pairs": report.probabilistic_pairs,
        "splits": report.splits,
    }
    # Every figure the match job reports (all records; the job may add others, e.g. without anonymous records).
    result["quality"] = {k: v for k, v in report.metrics.items() if isinstance(v, (int, float))}
    missing = [s for s in MATCHING_STAGES if s not in report.seconds]
    result["matching_seconds"] = None if missing else round(sum(report.seconds[s] for s in MATCHING_STAGES), 2)


def _model_input_keys(ctx):
    from spark_lib.matching import load_matching_config
    from spark_lib.matching.probabilistic import model_input

    config = load_matching_config(ctx.conf_dir / "matching.yaml")
    return model_input(ctx.lake.read(tables.CUSTOMER_RECORDS), config).select("record_key")


def _quality_on_model_input(ctx, result) -> None:
    """Our F1 on the records the probabilistic model sees: the subset on which the references compete."""
    from pyspark.sql import functions as F

    from jobs.match import load_truth
    from spark_lib.matching.evaluation import evaluate_clusters

    truth = load_truth(ctx)
    if truth is None:
        return
    ours = ctx.lake.read(tables.CROSSWALK).select("record_key", F.col("customer_id").alias("cluster_id"))
    metrics = evaluate_clusters(ours.join(_model_input_keys(ctx), "record_key", "left_semi"), truth)
    result["quality_model_input"] = {k: metrics[k] for k in QUALITY_KEYS if k in metrics}


def _run_baselines(args, persons, work, spark, ctx, recorder, result, save) -> None:
    import baselines
    from jobs.match import load_truth
    from spark_lib.matching import load_matching_config
    from spark_lib.matching.evaluation import evaluate_clusters

    engines = [] if args.no_baselines else [e.strip() for e in args.baselines.split(",") if e.strip()]
    if not engines:
        return
    if not ctx.lake.exists(tables.CUSTOMER_RECORDS):
        for engine in engines:
            result["baselines"][engine] = {"status": "skipped", "error": "no silver.customer_records"}
        return
    if persons > args.baselines_max_size:
        for engine in engines:
            result["baselines"][engine] = {
                "status": "skipped", "error": f"{persons:,} persons > --baselines-max-size {args.baselines_max_size:,}"}
        return
    if "ComparisonLimitExceededError" in (result.get("error") or ""):
        for engine in engines:
            result["baselines"][engine] = {"status": "skipped", "error": "the pre-flight refused the blocking rules"}
        return
    config = load_matching_config(ctx.conf_dir / "matching.yaml")
    threshold = args.baseline_threshold or baselines.clustering_threshold(ctx.conf_dir / "matching_rules.yaml")
    records = ctx.lake.read(tables.CUSTOMER_RECORDS)
    truth = load_truth(ctx)
    input_keys = _model_input_keys(ctx)
    for engine in engines:
        print(f"[bench {persons:,}] reference {engine}: {baselines.ENGINE_LABELS[engine]}", file=sys.stderr, flush=True)
        try:
            outcome, clusters = baselines.run_baseline(
                engine, spark, records, config, threshold,
                stage=lambda name, engine=engine: recorder.stage(f"{engine}.{name}"),
                timeout_seconds=args.baseline_timeout,
                checkpoint_dir=work / "splink-checkpoints",
            )
        except Exception as error:  # noqa: BLE001 - run_baseline records its own errors; this is a harness bug
            traceback.print_exc()
            outcome, clusters = baselines.BaselineResult(engine, "error", error_text(error)), None
        entry = {
            "label": baselines.ENGINE_LABELS[engine],
            **dataclasses.asdict(outcome),
            "matching_seconds": outcome.matching_seconds,
            "predict_threshold": config.probabilistic.threshold_match_probability,
            "cluster_threshold": threshold,
            "peak_rss_bytes": {
                name.split(".", 1)[1]: stage.get("peak_rss_bytes")
                for name, stage in recorder.stages.items() if name.startswith(f"{engine}.")
            },
        }
        if outcome.status == "ok" and truth is not None:
            try:
                assignments = baselines.with_singletons(records, clusters).localCheckpoint()
                metrics = evaluate_clusters(assignments, truth)
                entry["quality"] = {k: metrics[k] for k in QUALITY_KEYS if k in metrics}
                metrics = evaluate_clusters(assignments.join(input_keys, "record_key", "left_semi"), truth)
                entry["quality_model_input"] = {k: metrics[k] for k in QUALITY_KEYS if k in metrics}
            except Exception as error:  # noqa: BLE001
                entry["status"], entry["error"] = "error", f"evaluation failed: {error_text(error)}"
        result["baselines"][engine] = entry
        save()


def worker_main(args: argparse.Namespace) -> int:
    result = run_size(args)
    return 0 if result["status"] == "ok" else 1


# --------------------------------------------------------------------------------------------------
# Results: JSON and Markdown
# --------------------------------------------------------------------------------------------------


def _num(value: Any, digits: int = 1) -> str:
    if value is None or (isinstance(value, float) and not math.isfinite(value)):
        return "—"
    if isinstance(value, int) and not isinstance(value, bool):
        return f"{value:,}"
    return f"{value:,.{digits}f}"


def _gib(value: Any) -> str:
    return "—" if not value else f"{value / GIB:.2f}"


def _cell(text: Any) -> str:
    return str(text).replace("|", "\\|").replace("\n", " ")


def _table(header: list[str], rows: list[list[Any]], align: str | None = None) -> list[str]:
    align = align or "-" + "r" * (len(header) - 1)
    marks = ["---:" if a == "r" else "---" for a in align]
    lines = ["| " + " | ".join(header) + " |", "|" + "|".join(marks) + "|"]
    lines += ["| " + " | ".join(_cell(c) for c in row) + " |" for row in rows]
    return lines


def _stage_seconds(run: dict, name: str) -> str:
    stage = run.get("stages", {}).get(name)
    if stage is None:
        return "—"
    if stage.get("status") == "error":
        return "error"
    if stage.get("own_seconds") is not None:
        return f"{_num(stage.get('seconds'))} (own {_num(stage['own_seconds'])})"
    return _num(stage.get("seconds"))


def _per_million(seconds: Any, comparisons: Any) -> str:
    if not seconds or not comparisons:
        return "—"
    return _num(seconds / (comparisons / 1e6), 2)


def _model_stage_seconds(stages: dict[str, Any]) -> float | None:
    """train + predict + cluster: the stages a reference has too (it has no deterministic step, no ids); the
    training's own duration when it ran beside the deterministic step."""
    values = [(stages.get(name) or {}).get("own_seconds", (stages.get(name) or {}).get("seconds"))
              for name in ("train", "predict", "cluster")]
    return round(sum(values), 2) if all(isinstance(v, (int, float)) for v in values) else None


def render_markdown(results: dict[str, Any]) -> str:
    """The results as Markdown tables (stages, memory, matching, references), with the notes to read them."""
    machine = results.get("machine", {})
    packages = machine.get("packages", {})
    runs = results.get("runs", [])
    sizes = ", ".join(f"{r['persons']:,}" for r in runs) or "no size"
    load = results.get("load_average", {})
    options = results.get("options", {})
    profile = options.get("profile") or "standard"
    share = options.get("foreign_share")
    on_profile = "" if profile == "standard" and share is None else (
        f", generator profile {profile}" + ("" if share is None else f" (foreign share {share:g})"))
    lines = [
        f"# Pipeline benchmark: {sizes} persons{on_profile}",
        "",
        f"Run {results.get('created_at', '?')} with `{results.get('command', '')}`; total wall time "
        f"{_num(results.get('wall_seconds'))} s.",
        "",
        f"Machine: {machine.get('logical_cores', '?')} logical cores ({machine.get('cpu_model', '?')}), "
        f"{_gib(machine.get('ram_bytes'))} GiB RAM, load average {load.get('start')} at start, "
        f"{load.get('end')} at end (1, 5, 15 min; other workloads may share the machine). "
        f"Python {machine.get('python', '?')}, {machine.get('java') or 'Java ?'}; PySpark {packages.get('pyspark')}, "
        f"Delta {packages.get('delta-spark')}, Splink {packages.get('splink')}, DuckDB {packages.get('duckdb')}. "
        f"Commit {machine.get('commit') or '?'}.",
        "",
        "## Wall seconds per stage",
        "",
    ]
    header = ["persons", *[STAGE_LABELS[s] for s in PIPELINE_STAGES], "size total", "status"]
    rows = []
    for run in runs:
        status = run.get("status", "?") if not run.get("error") else f"{run.get('status')}: {run['error']}"
        rows.append([_num(run["persons"]), *[_stage_seconds(run, s) for s in PIPELINE_STAGES],
                     _num(run.get("wall_seconds")), status])
    lines += _table(header, rows, "-" + "r" * (len(header) - 2) + "-")
    lines += ["", "## Peak memory per stage (GiB, whole process tree)", ""]
    header = ["persons", *[STAGE_LABELS[s] for s in PIPELINE_STAGES], "Spark driver memory", "shuffle partitions"]
    rows = []
    for run in runs:
        stages = run.get("stages", {})
        rows.append([_num(run["persons"]), *[_gib(stages.get(s, {}).get("peak_rss_bytes")) for s in PIPELINE_STAGES],
                     run.get("spark", {}).get("driver_memory", "—"),
                     _num(run.get("spark", {}).get("shuffle_partitions"))])
    lines += _table(header, rows)

    lines += ["", "## Matching: volume, speed, quality", ""]
    header = ["persons", "raw rows", "silver records", "model input records", "compared pairs (pre-flight)",
              "pairs ≥ threshold", "matching s", "predict s / M comparisons", "pairwise P", "pairwise R",
              "pairwise F1", "B-cubed F1", "best reachable recall", "customers"]
    rows = []
    for run in runs:
        quality, match = run.get("quality", {}), run.get("match", {})
        rows.append([
            _num(run["persons"]), _num(run.get("rows", {}).get("raw")), _num(run.get("rows", {}).get("silver_records")),
            _num(run.get("model_input_records")), _num(run.get("comparisons_total")), _num(match.get("scored_pairs")),
            _num(run.get("matching_seconds")),
            _per_million(run.get("stages", {}).get("predict", {}).get("seconds"), run.get("comparisons_total")),
            *[_num(quality.get(k), 4) for k in ("pairwise_precision", "pairwise_recall", "pairwise_f1", "bcubed_f1",
                                                "recall_ceiling")],
            _num(match.get("customers")),
        ])
    lines += _table(header, rows)
    rules = list(dict.fromkeys(rule for run in runs for rule in run.get("comparisons", {})))
    if rules:
        lines += ["", "Compared pairs per blocking rule (pre-flight):", ""]
        lines += _table(["persons", *rules], [[_num(run["persons"]), *[_num(run.get("comparisons", {}).get(r)) for r in rules]]
                                              for run in runs])

    lines += ["", "## Against Splink's documented set-ups (same silver records, comparisons and blocking rules)", ""]
    header = ["persons", "run", "to Arrow s", "train s", "predict s", "cluster s", "matching s", "RCU ÷ this",
              "train + predict + cluster s", "RCU ÷ this, same stages",
              "predict s / M comparisons", "pairwise P", "pairwise R", "pairwise F1", "B-cubed F1",
              "pairwise F1, model input", "B-cubed F1, model input", "peak GiB", "status"]
    scores = ("pairwise_precision", "pairwise_recall", "pairwise_f1", "bcubed_f1")
    rows = []
    for run in runs:
        stages, quality, subset = run.get("stages", {}), run.get("quality", {}), run.get("quality_model_input", {})
        ours = run.get("matching_seconds")
        ours_model = _model_stage_seconds(stages)
        peak = max((stages.get(s, {}).get("peak_rss_bytes") or 0 for s in MATCHING_STAGES), default=0)
        rows.append([
            _num(run["persons"]), "RCU pipeline (deterministic + train + predict + cluster + ids)", "—",
            *[_stage_seconds(run, s) for s in ("train", "predict", "cluster")], _num(ours), "1.00",
            _num(ours_model), "1.00",
            _per_million(stages.get("predict", {}).get("seconds"), run.get("comparisons_total")),
            *[_num(quality.get(k), 4) for k in scores],
            _num(subset.get("pairwise_f1"), 4), _num(subset.get("bcubed_f1"), 4),
            _gib(peak), run.get("status", "?"),
        ])
        for engine, base in run.get("baselines", {}).items():
            seconds, bq, bs = base.get("seconds", {}), base.get("quality", {}), base.get("quality_model_input", {})
            theirs = base.get("matching_seconds")
            theirs_model = _model_stage_seconds({k: {"seconds": v} for k, v in seconds.items()})
            status = base.get("status", "?") if not base.get("error") else f"{base['status']}: {base['error']}"
            peaks = [v for v in (base.get("peak_rss_bytes") or {}).values() if v]
            rows.append([
                _num(run["persons"]), base.get("label", engine), _num(seconds.get("load")),
                *[_num(seconds.get(s)) for s in ("train", "predict", "cluster")], _num(theirs),
                _num(ours / theirs, 2) if ours and theirs else "—",
                _num(theirs_model), _num(ours_model / theirs_model, 2) if ours_model and theirs_model else "—",
                _per_million(seconds.get("predict"), run.get("comparisons_total")),
                *[_num(bq.get(k), 4) for k in scores],
                _num(bs.get("pairwise_f1"), 4), _num(bs.get("bcubed_f1"), 4),
                _gib(max(peaks) if peaks else None), status,
            ])
    lines += _table(header, rows, "--" + "r" * (len(header) - 3) + "-")
    lines += ["", "## Notes", "", *[f"- {note}" for note in NOTES], ""]
    return "\n".join(lines)


NOTES = (
    "Each size runs in its own worker process (a Spark JVM with the driver memory shown), on a fresh lakehouse "
    "and a fresh MLflow sqlite store: the match job trains a new model every time (`match.run(retrain=True)`).",
    "Peak memory: the largest sum of resident memory of the worker's process tree (Python driver, Spark JVM, "
    "Python workers) sampled every 0.1 s with psutil, the window reset at the start of each stage. Pages shared "
    "between processes count once per process. A JVM rarely gives heap back to the system, so a Spark stage's "
    "peak also holds what earlier stages left in the heap.",
    "generate runs before Spark starts (Python only). Spark start is the session's start and its first job. "
    "deterministic, train, predict, cluster and ids are the match job's own timings (`MatchReport.seconds`); "
    "training runs in a thread beside the deterministic step (only its prior waits for the deterministic cores): "
    "train is the wait for the model after that step, \"own\" the training's whole duration, slowed by sharing "
    "the cores with the deterministic step; "
    "evaluate + MLflow is what the match job does after them (evaluation against the truth, model and charts "
    "logged). gold is `jobs.gold.run(ctx)`.",
    "Our train step trains on a uniform sample of at most `probabilistic.training.max_records` records with "
    "Splink's DuckDB backend and scores on Spark (conf/matching.yaml).",
    "Compared pairs: the pre-flight count, over all prediction blocking rules, of the pairs each rule generates "
    "alone (a pair two rules find counts twice, so it bounds what predict scores). predict s / M comparisons "
    "divides predict seconds by it; pairs ≥ threshold are the scored pairs the pipeline keeps.",
    "Matching s: for RCU deterministic + train + predict + cluster + ids; for a reference train + predict + "
    "cluster. RCU ÷ this below 1 means our matching took less time than that reference. The same-stages ratio "
    "compares train (its own duration) + predict + cluster only: our cluster step also clusters the deterministic links and the "
    "records outside the model (all silver records), the references' only the model's records.",
    "References (benchmarks/baselines.py): `build_settings(config)` on `model_input(records, config)`, trained as "
    "Splink's example notebooks do (prior from `training.prior_rules`, u by random sampling with "
    "`training.u_max_pairs`, EM on each `training.em_blocking_rules`), predicted at "
    "`probabilistic.threshold_match_probability` and clustered at `clustering.threshold` (conf/matching_rules.yaml). "
    "Spark: `SparkAPI(spark_session=spark)` with its defaults (lineage broken by parquet under the checkpoint dir). "
    "DuckDB: `DuckDBAPI()`; its input is handed over as Arrow (to Arrow s, not in its matching s).",
    "Best reachable recall: the match job's `recall_ceiling` when it reports one (the best pairwise recall any "
    "method reaches while records with nothing to match on stay alone).",
    "The references have no deterministic step: records outside `model_input` (cookies, campaign contacts, "
    "receipts without enough identity) are singletons in their F1, whereas our F1 includes what the "
    "deterministic step links. All F1 figures are against the generator's ground truth, over the silver records; "
    "the model-input columns score only the records of `model_input` (those the references cluster), our "
    "clusters included.",
)


def result_paths(out_dir: Path, sizes: list[int], profile: str = "standard") -> tuple[Path, Path, Path]:
    """``pipeline_<sizes>[_<profile>]``: the standard profile keeps the names it always had."""
    stem = "pipeline_" + "-".join(str(s) for s in sizes) + ("" if profile == "standard" else f"_{profile}")
    return out_dir / f"{stem}.json", out_dir / f"{stem}.md", out_dir / "latest.md"


def write_results(results: dict[str, Any], out_dir: Path, sizes: list[int]) -> tuple[Path, Path, Path]:
    """Write ``pipeline_<sizes>[_<profile>].json`` and ``.md``, and ``latest.md``, into ``out_dir``."""
    if not sizes:
        raise ValueError("write_results: 'sizes' cannot be empty")
    out_dir.mkdir(parents=True, exist_ok=True)
    json_path, md_path, latest = result_paths(out_dir, sizes, results.get("options", {}).get("profile") or "standard")
    _write_json(json_path, results)
    markdown = render_markdown(results)
    md_path.write_text(markdown, encoding="utf-8")
    latest.write_text(markdown, encoding="utf-8")
    return json_path, md_path, latest


# --------------------------------------------------------------------------------------------------
# Command line
# --------------------------------------------------------------------------------------------------


def parse_sizes(text: str) -> list[int]:
    try:
        sizes = [int(part.replace("_", "")) for part in text.split(",") if part.strip()]
    except ValueError as error:
        raise argparse.ArgumentTypeError(f"--sizes: expected comma-separated integers, got {text!r}") from error
    if not sizes or any(s < 10 for s in sizes):
        raise argparse.ArgumentTypeError(f"--sizes: expected sizes of at least 10 persons, got {text!r}")
    return sizes


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0],
                                     formatter_class=argparse.RawDescriptionHelpFormatter, epilog=__doc__)
    parser.add_argument("--sizes", type=parse_sizes, default=[10_000, 100_000], help="persons per run, e.g. 10000,100000")
    parser.add_argument("--out", type=Path, default=DEFAULT_RESULTS, help="results folder (default: benchmarks/results)")
    parser.add_argument("--work-dir", type=Path, default=DEFAULT_WORK,
                        help=f"where each size's raw files, lakehouse and MLflow store go (default: {DEFAULT_WORK})")
    parser.add_argument("--keep", action="store_true", help="keep each size's work folder")
    parser.add_argument("--seed", type=int, default=42)
    parser.add_argument("--reference-date", default="2026-10-31")
    parser.add_argument("--conf-dir", default=None, help="configuration folder (default: conf/)")
    parser.add_argument("--no-baselines", action="store_true", help="skip the Splink reference runs")
    parser.add_argument("--baselines", default=",".join(("spark_defaults", "duckdb")),
                        help="which references, in order (spark_defaults, duckdb)")
    parser.add_argument("--baselines-max-size", type=int, default=1_000_000,
                        help="run the references only up to this many persons (default 1,000,000)")
    parser.add_argument("--baseline-timeout", type=float, default=None,
                        help="stop a reference after this many seconds and record it as timed out")
    parser.add_argument("--baseline-threshold", type=float, default=None,
                        help="the references' clustering threshold (default: clustering.threshold of matching_rules.yaml)")
    parser.add_argument("--size-timeout", type=float, default=None, help="kill a size's worker after this many seconds")
    parser.add_argument("--driver-memory", default=None, help="override the Spark driver memory chosen for each size")
    parser.add_argument("--shuffle-partitions", type=int, default=None, help="override the shuffle partitions per size")
    parser.add_argument("--sample-interval", type=float, default=0.1, help="seconds between memory samples")
    parser.add_argument("--quiet", action="store_true", help="no progress lines from the jobs")
    parser.add_argument("--event-log", action="store_true",
                        help="write Spark's event log and summarise it per stage and call site in profile_<persons>.md")
    parser.add_argument("--profile", default="standard",
                        help="generator profile: standard, foreign, store_crm_only (jobs/generate.py; default standard)")
    parser.add_argument("--foreign-share", type=float, default=None,
                        help="share of persons living abroad, 0 to 1 (default: the profile's)")
    # Internal: one size in a worker process (started by the main process).
    parser.add_argument("--worker", action="store_true", help=argparse.SUPPRESS)
    parser.add_argument("--size", type=int, help=argparse.SUPPRESS)
    parser.add_argument("--result-file", help=argparse.SUPPRESS)
    return parser


def _worker_command(args: argparse.Namespace, persons: int, work: Path, result_file: Path) -> list[str]:
    command = [sys.executable, str(Path(__file__).resolve()), "--worker", "--size", str(persons),
               "--work-dir", str(work), "--result-file", str(result_file), "--seed", str(args.seed),
               "--reference-date", args.reference_date, "--baselines", args.baselines,
               "--baselines-max-size", str(args.baselines_max_size), "--sample-interval", str(args.sample_interval),
               "--profile", args.profile]
    for flag, value in (("--conf-dir", args.conf_dir), ("--baseline-timeout", args.baseline_timeout),
                        ("--baseline-threshold", args.baseline_threshold), ("--driver-memory", args.driver_memory),
                        ("--shuffle-partitions", args.shuffle_partitions), ("--foreign-share", args.foreign_share)):
        if value is not None:
            command += [flag, str(value)]
    command += [flag for flag, on in (("--no-baselines", args.no_baselines), ("--quiet", args.quiet),
                                      ("--event-log", args.event_log)) if on]
    return command


def main(argv: list[str] | None = None) -> dict[str, Any]:
    parser = build_parser()
    args = parser.parse_args(argv)
    import baselines

    unknown = [e for e in args.baselines.split(",") if e.strip() and e.strip() not in baselines.ENGINES]
    if unknown:
        parser.error(f"--baselines: unknown reference {unknown[0]!r} (known: {', '.join(baselines.ENGINES)})")
    from spark_lib.generator import get_profile

    try:
        get_profile(args.profile, args.foreign_share)
    except ValueError as error:
        parser.error(str(error))
    if args.worker:
        sys.exit(worker_main(args))
    began = time.perf_counter()
    stamp = dt.datetime.now().strftime("%Y%m%d-%H%M%S")
    results: dict[str, Any] = {
        "benchmark": "pipeline",
        "created_at": dt.datetime.now(dt.timezone.utc).isoformat(timespec="seconds"),
        "command": " ".join([Path(sys.executable).name, *[a if " " not in a else repr(a) for a in sys.argv]]),
        "sizes": args.sizes,
        "machine": machine_description(),
        "load_average": {"start": load_average(), "end": None},
        "options": {k: (str(v) if isinstance(v, Path) else v) for k, v in vars(args).items()
                    if k not in ("worker", "size", "result_file")},
        "runs": [],
    }
    # Every size reads one copy of the configuration, taken now: conf/ may change while a long run goes on.
    args.work_dir.mkdir(parents=True, exist_ok=True)
    conf_source = Path(args.conf_dir) if args.conf_dir else ROOT / "conf"
    snapshot = args.work_dir / f"conf_{stamp}"
    shutil.copytree(conf_source, snapshot)
    results["conf"] = conf_description(conf_source, snapshot)
    args.conf_dir = str(snapshot)
    for persons in args.sizes:
        work = args.work_dir / f"persons_{persons}_{stamp}"
        result_file = args.work_dir / f"persons_{persons}_{stamp}.json"
        print(f"[bench] {persons:,} persons in {work}", file=sys.stderr, flush=True)
        error = None
        try:
            completed = subprocess.run(_worker_command(args, persons, work, result_file), cwd=args.work_dir,
                                       timeout=args.size_timeout)
            returncode = completed.returncode
        except subprocess.TimeoutExpired:
            returncode, error = None, f"worker killed after --size-timeout {args.size_timeout:g} s"
        run = json.loads(result_file.read_text(encoding="utf-8")) if result_file.exists() else {"persons": persons}
        if returncode not in (0, None) and run.get("status") != "error":  # it did not record its own error
            error = f"worker exited with code {returncode}"
        if error:
            run["status"], run["error"] = "error", "; ".join(e for e in (run.get("error"), error) if e)
        results["runs"].append(run)
        results["load_average"]["end"] = load_average()
        results["wall_seconds"] = round(time.perf_counter() - began, 1)
        paths = write_results(results, args.out, args.sizes)
        if args.event_log:
            try:
                print(f"[bench] Spark profile in {write_profile(run, work, args.out)}", file=sys.stderr, flush=True)
            except Exception:  # noqa: BLE001 - the timings stand without their profile
                traceback.print_exc()
        if not args.keep:
            shutil.rmtree(work, ignore_errors=True)
            result_file.unlink(missing_ok=True)
        status = run.get("status")
        print(f"[bench] {persons:,} persons: {status}, {_num(run.get('wall_seconds'))} s; "
              f"results in {paths[0]} and {paths[1]}", file=sys.stderr, flush=True)
    if not args.keep:
        shutil.rmtree(snapshot, ignore_errors=True)
    print(render_markdown(results))
    return results


def conf_description(source: Path, snapshot: Path) -> dict[str, Any]:
    """Where the configuration came from, a digest of each file, and the matching files' text."""
    files = sorted(p for p in snapshot.rglob("*") if p.is_file())
    return {
        "source": str(source),
        "sha256": {str(p.relative_to(snapshot)): hashlib.sha256(p.read_bytes()).hexdigest()[:16] for p in files},
        "matching_files": {p.name: p.read_text(encoding="utf-8") for p in files
                           if p.name in ("matching.yaml", "matching_rules.yaml")},
    }


if __name__ == "__main__":
    main()
