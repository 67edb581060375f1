"""Where a pipeline run spends its time, read from Spark's own event log.

Spark writes every job, stage and task to its event log when ``spark.eventLog.enabled`` is set; a stage is
named after the call site that started it (``count at /work/main/jobs/match.py:103``). This script adds up,
per pipeline stage of a benchmark run (bronze, silver, deterministic, train...), and per call site:

- wall seconds the Spark stages ran (overlapping stages count once),
- task seconds (the sum of the tasks' run time: above the wall time when cores work in parallel),
- CPU seconds, garbage-collection seconds, shuffle written, spill to disk,

and the *driver gap*: the part of the pipeline stage's wall time when no Spark stage ran (Python code,
query planning, Delta commits, Splink's SQL generation, DuckDB training...).

    python benchmarks/spark_profile.py EVENT_LOG [--bench-result persons_100000.json] [--top 12] [--out profile.md]

``EVENT_LOG`` is a file or an ``eventlog_v2_*`` folder (plain, or ``.zstd`` when the ``zstd`` program is
installed). ``bench_pipeline.py --event-log`` writes one per size and this profile next to its results.
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
from collections import defaultdict
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Iterable, Iterator, Mapping


@dataclass
class SparkStage:
    stage_id: int
    name: str                 # call site: "<action> at <file>:<line>"
    submitted_ms: int
    completed_ms: int
    tasks: int
    task_ms: int = 0
    cpu_ms: float = 0.0
    gc_ms: int = 0
    shuffle_write_bytes: int = 0
    spill_bytes: int = 0

    @property
    def wall_ms(self) -> int:
        return max(0, self.completed_ms - self.submitted_ms)


@dataclass
class CallSite:
    name: str
    stages: int = 0
    tasks: int = 0
    intervals: list[tuple[int, int]] = field(default_factory=list)
    task_ms: int = 0
    cpu_ms: float = 0.0
    gc_ms: int = 0
    shuffle_write_bytes: int = 0
    spill_bytes: int = 0

    def add(self, stage: SparkStage) -> None:
        self.stages += 1
        self.tasks += stage.tasks
        self.intervals.append((stage.submitted_ms, stage.completed_ms))
        self.task_ms += stage.task_ms
        self.cpu_ms += stage.cpu_ms
        self.gc_ms += stage.gc_ms
        self.shuffle_write_bytes += stage.shuffle_write_bytes
        self.spill_bytes += stage.spill_bytes

    @property
    def wall_ms(self) -> int:
        return covered_ms(self.intervals)


def covered_ms(intervals: Iterable[tuple[int, int]]) -> int:
    """Milliseconds covered by the union of ``intervals`` (overlapping stages count once)."""
    total, end = 0, None
    for start, stop in sorted(intervals):
        if end is None or start > end:
            total += stop - start
            end = stop
        elif stop > end:
            total += stop - end
            end = stop
    return total


def _event_files(path: Path) -> list[Path]:
    if path.is_file():
        return [path]
    files = [p for p in path.iterdir() if p.name.startswith("events_")]
    if not files:
        raise FileNotFoundError(f"{path}: no Spark event log file (events_*) in this folder")
    return sorted(files, key=lambda p: int(p.name.split("_")[1]))  # events_<index>_<app id>


def read_events(path: str | Path) -> Iterator[dict[str, Any]]:
    """The events of a Spark event log file or ``eventlog_v2_*`` folder, in order."""
    for file in _event_files(Path(path)):
        if file.suffix == ".zstd":
            text = subprocess.run(["zstd", "-dc", str(file)], capture_output=True, check=False).stdout.decode()
        else:
            text = file.read_text(encoding="utf-8")
        for line in text.splitlines():
            if line.startswith("{"):
                try:
                    yield json.loads(line)
                except json.JSONDecodeError:  # the last line of a log still being written
                    continue


def _good_label(properties: Mapping[str, str]) -> str | None:
    """What started a job, when it says something: our description (a table write) or a Python call site."""
    description = properties.get("spark.job.description")
    if description and description.startswith("Delta:"):
        description = None  # Delta's own name for the jobs of an operation: the operation's name is better
    call_site = properties.get("callSite.short") or ""
    call_site = call_site if ".py:" in call_site else None
    if description and call_site:
        return f"{description} @ {call_site}"
    return description or call_site


def spark_stages(events: Iterable[Mapping[str, Any]]) -> list[SparkStage]:
    """Completed stages with their tasks' metrics added up, named after what started their job.

    A job's name is its description when our code set one (``match: deterministic > overwrite
    silver.deterministic_edges``, see ``spark_lib.session.job_description``) followed by its Python call
    site (``@ count at jobs/match.py:103``) when it has one; jobs Spark or Delta start on their own threads
    (broadcasts, Delta's file listing, a MERGE's inner jobs) take the name of a named job of the same SQL
    query, else their raw call site.
    """
    tasks: dict[int, dict[str, float]] = defaultdict(lambda: defaultdict(float))
    root_of: dict[int, int] = {}                    # SQL execution -> its root execution
    query_label: dict[int, str] = {}                # root execution -> first good job name
    stage_job: dict[int, tuple[str | None, int | None, str]] = {}  # stage -> (good name, root execution, raw name)
    completed: list[tuple[dict, dict]] = []
    for event in events:
        kind = event.get("Event")
        if kind.endswith("SQLExecutionStart"):
            root_of[event["executionId"]] = event.get("rootExecutionId", event["executionId"])
        elif kind == "SparkListenerJobStart":
            properties = event.get("Properties") or {}
            label = _good_label(properties)
            execution = properties.get("spark.sql.execution.id")
            root = root_of.get(int(execution), int(execution)) if execution is not None else None
            if label and root is not None:
                query_label.setdefault(root, label)
            raw = properties.get("spark.job.description") or properties.get("callSite.short")
            for stage_id in event.get("Stage IDs", []):
                stage_job.setdefault(stage_id, (label, root, raw))
        elif kind == "SparkListenerTaskEnd":
            metrics = event.get("Task Metrics") or {}
            totals = tasks[event["Stage ID"]]
            totals["task_ms"] += metrics.get("Executor Run Time", 0)
            totals["cpu_ms"] += metrics.get("Executor CPU Time", 0) / 1e6
            totals["gc_ms"] += metrics.get("JVM GC Time", 0)
            totals["shuffle_write_bytes"] += (metrics.get("Shuffle Write Metrics") or {}).get("Shuffle Bytes Written", 0)
            totals["spill_bytes"] += metrics.get("Disk Bytes Spilled", 0)
        elif kind == "SparkListenerStageCompleted":
            info = event["Stage Info"]
            if "Submission Time" not in info or "Completion Time" not in info:
                continue  # skipped stages (their shuffle output was reused) never ran
            completed.append((info, tasks.pop(info["Stage ID"], {})))
    stages = []
    for info, totals in completed:
        label, root, raw = stage_job.get(info["Stage ID"], (None, None, None))
        name = label or query_label.get(root) or raw or info.get("Stage Name", "?")
        stages.append(
            SparkStage(
                stage_id=info["Stage ID"],
                name=name,
                submitted_ms=info["Submission Time"],
                completed_ms=info["Completion Time"],
                tasks=info.get("Number of Tasks", 0),
                task_ms=int(totals.get("task_ms", 0)),
                cpu_ms=float(totals.get("cpu_ms", 0.0)),
                gc_ms=int(totals.get("gc_ms", 0)),
                shuffle_write_bytes=int(totals.get("shuffle_write_bytes", 0)),
                spill_bytes=int(totals.get("spill_bytes", 0)),
            )
        )
    return stages


def short_call_site(name: str, root: str | None = None) -> str:
    """``count at /work/main/jobs/match.py:103`` -> ``count at jobs/match.py:103``."""
    if root and root in name:
        return name.replace(root.rstrip("/") + "/", "")
    for marker in ("/site-packages/", "/jobs/", "/spark_lib/", "/benchmarks/"):
        at = name.find(marker)
        if at >= 0:
            head = name[: name.rfind(" ", 0, at) + 1] if " " in name[:at] else ""
            return head + name[at + 1 if marker == "/site-packages/" else at + 1:]
    return name


def pipeline_windows(bench_result: Mapping[str, Any]) -> list[tuple[str, int, int]]:
    """(stage, start ms, end ms) of a bench worker's stages that carry epoch times, in order."""
    windows = []
    for name, stage in (bench_result.get("stages") or {}).items():
        if "started_epoch" in stage and "ended_epoch" in stage:
            windows.append((name, int(stage["started_epoch"] * 1000), int(stage["ended_epoch"] * 1000)))
    return sorted(windows, key=lambda w: w[1])


def profile(stages: list[SparkStage], windows: list[tuple[str, int, int]], root: str | None = None) -> dict[str, Any]:
    """Per pipeline stage (or one ``all`` window): Spark wall, task and driver-gap seconds, and call sites."""
    if not windows and stages:
        windows = [("all", min(s.submitted_ms for s in stages), max(s.completed_ms for s in stages))]
    out: dict[str, Any] = {}
    for name, start, end in windows:
        inside = [s for s in stages if start <= s.submitted_ms < end]
        sites: dict[str, CallSite] = {}
        for stage in inside:
            site = short_call_site(stage.name, root)
            sites.setdefault(site, CallSite(site)).add(stage)
        spark_ms = covered_ms((max(s.submitted_ms, start), min(s.completed_ms, end)) for s in inside)
        out[name] = {
            "wall_s": (end - start) / 1000,
            "spark_wall_s": spark_ms / 1000,
            "driver_gap_s": max(0, end - start - spark_ms) / 1000,
            "spark_stages": len(inside),
            "tasks": sum(s.tasks for s in inside),
            "task_s": sum(s.task_ms for s in inside) / 1000,
            "cpu_s": sum(s.cpu_ms for s in inside) / 1000,
            "gc_s": sum(s.gc_ms for s in inside) / 1000,
            "spill_mib": sum(s.spill_bytes for s in inside) / 2**20,
            "call_sites": [
                {
                    "call_site": c.name,
                    "stages": c.stages,
                    "tasks": c.tasks,
                    "wall_s": c.wall_ms / 1000,
                    "task_s": c.task_ms / 1000,
                    "cpu_s": c.cpu_ms / 1000,
                    "gc_s": c.gc_ms / 1000,
                    "shuffle_write_mib": c.shuffle_write_bytes / 2**20,
                    "spill_mib": c.spill_bytes / 2**20,
                }
                for c in sorted(sites.values(), key=lambda c: c.wall_ms, reverse=True)
            ],
        }
    return out


def render(report: Mapping[str, Any], top: int = 12, title: str = "Spark profile") -> str:
    lines = [
        f"# {title}",
        "",
        "Per pipeline stage: its wall seconds; the seconds some Spark stage was running (overlaps count once); the "
        "driver gap (no Spark stage running: Python, planning, Delta commits, DuckDB); task, CPU and GC seconds summed "
        "over tasks (2 cores: task seconds can reach twice the Spark wall).",
        "",
        "| stage | wall s | Spark wall s | driver gap s | Spark stages | tasks | task s | CPU s | GC s | spill MiB |",
        "|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|",
    ]
    for name, r in report.items():
        lines.append(
            f"| {name} | {r['wall_s']:.1f} | {r['spark_wall_s']:.1f} | {r['driver_gap_s']:.1f} | {r['spark_stages']} | "
            f"{r['tasks']} | {r['task_s']:.1f} | {r['cpu_s']:.1f} | {r['gc_s']:.1f} | {r['spill_mib']:.0f} |"
        )
    for name, r in report.items():
        lines += [
            "",
            f"## {name}: the {min(top, len(r['call_sites']))} call sites with the most Spark wall time",
            "",
            "| call site | Spark stages | tasks | wall s | task s | CPU s | GC s | shuffle written MiB | spill MiB |",
            "|---|---:|---:|---:|---:|---:|---:|---:|---:|",
        ]
        for c in r["call_sites"][:top]:
            lines.append(
                f"| `{c['call_site']}` | {c['stages']} | {c['tasks']} | {c['wall_s']:.1f} | {c['task_s']:.1f} | "
                f"{c['cpu_s']:.1f} | {c['gc_s']:.1f} | {c['shuffle_write_mib']:.1f} | {c['spill_mib']:.0f} |"
            )
    return "\n".join(lines) + "\n"


def find_event_log(folder: Path) -> Path:
    """The one application log under a ``spark.eventLog.dir`` folder (the newest when there are several)."""
    candidates = [p for p in folder.iterdir() if p.name.startswith(("eventlog_v2_", "local-", "app-"))]
    if not candidates:
        raise FileNotFoundError(f"{folder}: no Spark event log (spark.eventLog.enabled was not set?)")
    return max(candidates, key=lambda p: p.stat().st_mtime)


def main(argv: list[str] | None = None) -> str:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0], epilog=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("event_log", type=Path, help="event log file, eventlog_v2_* folder, or spark.eventLog.dir")
    parser.add_argument("--bench-result", type=Path, help="a bench worker's JSON: split the profile by pipeline stage")
    parser.add_argument("--top", type=int, default=12, help="call sites listed per stage")
    parser.add_argument("--root", default=str(Path(__file__).resolve().parent.parent), help="path stripped from call sites")
    parser.add_argument("--out", type=Path, help="write the markdown here (default: print it)")
    args = parser.parse_args(argv)
    log = args.event_log
    if log.is_dir() and not any(p.name.startswith("events_") for p in log.iterdir()):
        log = find_event_log(log)
    windows = []
    if args.bench_result:
        windows = pipeline_windows(json.loads(args.bench_result.read_text(encoding="utf-8")))
    text = render(profile(spark_stages(read_events(log)), windows, args.root), args.top)
    if args.out:
        args.out.write_text(text, encoding="utf-8")
    else:
        sys.stdout.write(text)
    return text


if __name__ == "__main__":
    main()
