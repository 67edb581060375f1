"""Daily runs: a base delivery, then D days of the default daily delta, each taken by ``rcu run-all``; then a
run with no new file, and a full rebuild of the final data to compare with.

Every run is the command a retailer schedules (``python -m jobs.cli run-all``, its own Spark session, no
ground truth: the match step evaluates nothing, the benchmark evaluates the final lakehouses), timed
from its progress lines: the seconds of each step (ingest ... dashboard) and of the match job's stages. The
base run trains the model; the days and the rebuild score with it. The rebuild (``run-all --full`` on a copy of
the lakehouse: the same bronze, every later step run again) gives the reference partition: the share of records
whose customer holds the same records in both, and both F1 figures against the generator's truth.

    .venv/bin/python benchmarks/bench_daily.py --persons 100000 --days 3 --out benchmarks/results

writes ``daily_<persons>.json`` and ``daily_<persons>.md``.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import re
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))  # run as a script from anywhere: the repository's packages first
STEP_DONE = re.compile(r"\[step \d+/\d+ (?P<step>[a-z]+)\] done in (?P<seconds>[\d,.]+) s")
STAGE_LINE = re.compile(r"\[step \d+/\d+ (?P<step>match|gold)\] (?P<stage>[a-z_0-9]+): .*\((?P<at>[\d,.]+) s\)$")
NOTHING_TO_DO = "nothing to do"


def run_all(lakehouse: Path, raw: Path, env: dict, *extra: str) -> dict:
    """One ``rcu run-all``: wall seconds, seconds per step, the match stages' end times and the lines.

    The run is a retailer's: it has no ground truth (``--truth-dir`` names a folder that does not exist), so
    the match step evaluates nothing; the benchmark evaluates the final lakehouses itself (:func:`evaluate`)."""
    no_truth = lakehouse.parent / "no-truth"
    argv = [sys.executable, "-m", "jobs.cli", "run-all", "--lakehouse", str(lakehouse), "--raw-dir", str(raw),
            "--truth-dir", str(no_truth), *extra]
    started = time.monotonic()
    result = subprocess.run(argv, cwd=ROOT, env=env, capture_output=True, text=True)
    wall = time.monotonic() - started
    if result.returncode != 0:
        raise RuntimeError(f"{' '.join(argv)} failed ({result.returncode}):\n{result.stderr[-4000:]}")
    lines = result.stderr.splitlines()
    steps = {m["step"]: float(m["seconds"].replace(",", "")) for m in map(STEP_DONE.search, lines) if m}
    stages: dict[str, dict[str, float]] = {"match": {}, "gold": {}}
    previous = {"match": 0.0, "gold": 0.0}
    for match in filter(None, map(STAGE_LINE.search, lines)):
        at = float(match["at"].replace(",", ""))
        stages[match["step"]][match["stage"]] = round(at - previous[match["step"]], 1)
        previous[match["step"]] = at
    return {"wall_s": round(wall, 1), "steps": steps, "match_stages": stages["match"], "gold_stages": stages["gold"],
            "gold_lines": [line for line in lines if "gold]" in line][-6:],
            "nothing_to_do": any(NOTHING_TO_DO in line for line in lines),
            "match_lines": [line for line in lines if "match]" in line][-12:]}


def lakehouse_figures(spark, root: Path) -> dict:
    """The partition of records into customers, and the last match run's mode and F1 (from silver.match_runs and
    MLflow are not needed: the crosswalk is compared directly)."""
    from pyspark.sql import functions as F

    from spark_lib import tables
    from spark_lib.storage import Lakehouse

    lake = Lakehouse(spark, str(root))
    crosswalk = lake.read(tables.CROSSWALK)
    groups = crosswalk.groupBy("customer_id").agg(F.sort_array(F.collect_list("record_key")).alias("keys"))
    runs = lake.read(tables.MATCH_RUNS).orderBy("run_time").select("mode", "records", "reformed_records").collect()
    return {"partition": groups.select("keys"), "runs": [r.asDict() for r in runs]}


def same_partition_share(left, right) -> tuple[float, int]:
    """The share of records whose customer holds exactly the same records in both partitions; records."""
    from pyspark.sql import functions as F

    def by_record(groups):
        return groups.select(F.explode("keys").alias("record_key"), F.xxhash64(F.to_json("keys")).alias("sig"))

    joined = by_record(left).join(by_record(right).withColumnRenamed("sig", "other"), "record_key", "full_outer")
    row = joined.agg(F.count("*").alias("n"), F.sum((F.col("sig") == F.col("other")).cast("int")).alias("same")).first()
    return (row.same or 0) / max(row.n, 1), row.n


def evaluate(spark, root: Path, truth: Path) -> dict:
    from pyspark.sql import functions as F

    from spark_lib import tables
    from spark_lib.matching import evaluate_matching
    from spark_lib.storage import Lakehouse

    lake = Lakehouse(spark, str(root))
    crosswalk = lake.read(tables.CROSSWALK)
    anonymous = crosswalk.where(F.col("match_rule") == "anonymous").select("record_key")
    metrics = evaluate_matching(crosswalk, spark.read.parquet(str(truth / "truth.parquet")), anonymous)
    return {k: round(v, 4) for k, v in metrics.items() if k in (
        "identified_pairwise_f1", "identified_bcubed_f1", "pairwise_f1", "bcubed_f1")}


def same_gold_share(spark, left: Path, right: Path) -> dict:
    """Per gold table, the share of its rows (by key, over both lakehouses) that are the same in both:
    ``gold.customer`` but the time it last changed, ``gold.customer_provenance``, ``gold.customer_360``, and the
    segments of the latest run date."""
    from pyspark.sql import functions as F

    from spark_lib import tables
    from spark_lib.storage import Lakehouse

    def signed(root: Path, table, drop=()):
        frame = Lakehouse(spark, str(root)).read(table).drop(*drop)
        if table == tables.SEGMENTS:
            frame = frame.where(F.col("run_date") == frame.agg(F.max("run_date")).first()[0])
        return frame.select(*table.keys, F.xxhash64(*[c for c in frame.columns if c not in table.keys]).alias("sig"))

    shares = {}
    for table, drop in ((tables.CUSTOMER, ("updated_at",)), (tables.PROVENANCE, ()), (tables.CUSTOMER_360, ()),
                        (tables.SEGMENTS, ())):
        joined = signed(left, table, drop).join(signed(right, table, drop).withColumnRenamed("sig", "other"),
                                                list(table.keys), "full_outer")
        row = joined.agg(F.count("*").alias("n"), F.sum((F.col("sig") == F.col("other")).cast("int")).alias("same")).first()
        shares[str(table)] = {"same_share": round((row.same or 0) / max(row.n, 1), 6), "rows": row.n}
    return shares


def day_files(truth: Path) -> dict[int, list[str]]:
    manifest = json.loads((truth / "deliveries.json").read_text(encoding="utf-8"))
    return {d["day"]: d["files"] for d in manifest["days"]}


def copy_files(source: Path, target: Path, names) -> None:
    for name in names:
        (target / name).parent.mkdir(parents=True, exist_ok=True)
        shutil.copy2(source / name, target / name)


def markdown(result: dict) -> str:
    runs = result["runs"]
    steps = ["ingest", "standardise", "match", "gold", "activate", "dashboard"]
    lines = [f"# Daily runs: {result['persons']:,} persons, {result['days']} days", "",
             f"Run {result['started']} with `{result['command']}`; machine: {result['machine']}.", "",
             "## Seconds per step (each run is `rcu run-all` in its own process)", "",
             "| run | wall s | " + " | ".join(steps) + " | match mode | records matched again | ÷ base |",
             "|---|---:|" + "---:|" * len(steps) + "---|---:|---:|"]
    base = runs[0]["wall_s"]
    for run in runs:
        cells = [f"{run['steps'].get(s, 0):,.1f}" if s in run["steps"] else "skipped" for s in steps]
        lines.append(f"| {run['name']} | {run['wall_s']:,.1f} | " + " | ".join(cells)
                     + f" | {run.get('mode', '')} | {run.get('reformed', '')} | {run['wall_s'] / base:.2f} |")
    for step, names in (("match", result["stage_names"]), ("gold", result.get("gold_stage_names", []))):
        lines += ["", f"## {step.capitalize()} stages (seconds)", "", "| run | " + " | ".join(names) + " |",
                  "|---|" + "---:|" * len(names)]
        for run in runs:
            stages = run.get(f"{step}_stages", {})
            lines.append(f"| {run['name']} | " + " | ".join(
                f"{stages.get(s, 0):,.1f}" if s in stages else "" for s in names) + " |")
    comparison = result["comparison"]
    if "rebuild" not in comparison:
        lines += ["", "## After the last day (no rebuild run)", "",
                  f"- incremental: {json.dumps(comparison['incremental'])}"]
        return "\n".join(lines) + "\n"
    lines += ["", "## After the last day: incremental runs versus a full rebuild of the same files", "",
              f"- records in the same customer partition: {comparison['same_partition_share']:.4%} of "
              f"{comparison['records']:,}",
              f"- incremental: {json.dumps(comparison['incremental'])}",
              f"- rebuild: {json.dumps(comparison['rebuild'])}"]
    for table, figures in comparison.get("gold", {}).items():
        lines.append(f"- {table}: {figures['same_share']:.4%} of {figures['rows']:,} rows the same in both")
    return "\n".join(lines) + "\n"


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="bench_daily.py", description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--persons", type=int, default=10000)
    parser.add_argument("--days", type=int, default=3)
    parser.add_argument("--daily-changes", type=int, help="records new or changed per day (default: 1 %% of the base)")
    parser.add_argument("--seed", type=int, default=42)
    parser.add_argument("--work", help="working folder (default: a new temporary folder)")
    parser.add_argument("--out", default=str(ROOT / "benchmarks" / "results"))
    parser.add_argument("--no-rebuild", action="store_true",
                        help="skip the full rebuild and the comparison with it (the days' timings only)")
    args = parser.parse_args(argv)
    work = Path(args.work or tempfile.mkdtemp(prefix="rcu-daily-"))
    generated, raw, lakehouse, rebuild = work / "generated", work / "raw", work / "lakehouse", work / "rebuild"
    truth = generated / "truth"
    # the Spark memory and shuffle partitions of the pipeline benchmark for this size, unless set already
    sys.path.insert(0, str(ROOT / "benchmarks"))
    from bench_pipeline import session_settings

    settings = session_settings(args.persons)
    env = dict(os.environ, MLFLOW_TRACKING_URI=f"sqlite:///{work / 'mlflow.db'}", PYTHONPATH=str(ROOT))
    env.setdefault("RCU_DRIVER_MEMORY", settings["driver_memory"])
    env.setdefault("RCU_SHUFFLE_PARTITIONS", str(settings["shuffle_partitions"]))
    started = time.strftime("%Y-%m-%dT%H:%M:%S%z")

    generate = [sys.executable, "-m", "jobs.cli", "generate", "--persons", str(args.persons), "--seed", str(args.seed),
                "--raw-dir", str(generated / "raw"), "--truth-dir", str(truth), "--days", str(args.days)]
    if args.daily_changes:
        generate += ["--daily-changes", str(args.daily_changes)]
    subprocess.run(generate, cwd=ROOT, env=env, check=True, capture_output=True)
    days = day_files(truth)
    daily = {name for names in days.values() for name in names}
    initial = [str(p.relative_to(generated / "raw")) for p in (generated / "raw").rglob("*") if p.is_file()]
    copy_files(generated / "raw", raw, [name for name in initial if name not in daily])

    runs = [{"name": "base (full, trains the model)", **run_all(lakehouse, raw, env, "--retrain")}]
    print(json.dumps(runs[-1]["steps"]), file=sys.stderr)
    for day in range(1, args.days + 1):
        copy_files(generated / "raw", raw, days[day])
        runs.append({"name": f"day {day}", **run_all(lakehouse, raw, env)})
        print(json.dumps(runs[-1]["steps"]), file=sys.stderr)
    runs.append({"name": "no new file", **run_all(lakehouse, raw, env)})
    if not args.no_rebuild:
        # The rebuild starts from the same bronze (each day's files in their own ingest batch, as a snapshot
        # source needs to tell its deliveries apart): a copy of the lakehouse, every step run again from bronze.
        shutil.copytree(lakehouse, rebuild)
        runs.append({"name": "full rebuild (--full, same bronze)", **run_all(rebuild, raw, env, "--full")})

    from spark_lib.session import get_spark

    spark = get_spark(app_name="rcu-bench-daily")
    incremental = lakehouse_figures(spark, lakehouse)
    matched = [r for r in runs if "match" in r["steps"] and not r["name"].startswith("full rebuild")]
    for run, recorded in zip(matched, incremental["runs"]):
        run["mode"], run["reformed"] = recorded["mode"], f"{recorded['reformed_records']:,} of {recorded['records']:,}"
    comparison = {"incremental": evaluate(spark, lakehouse, truth)}
    if not args.no_rebuild:
        share, records = same_partition_share(incremental["partition"], lakehouse_figures(spark, rebuild)["partition"])
        comparison.update(same_partition_share=share, records=records, rebuild=evaluate(spark, rebuild, truth),
                          gold=same_gold_share(spark, lakehouse, rebuild))
    stage_names = list(dict.fromkeys(s for run in runs for s in run["match_stages"]))
    gold_stage_names = list(dict.fromkeys(s for run in runs for s in run["gold_stages"]))
    machine = f"{os.cpu_count()} cores, {platform.platform()}, load average {os.getloadavg()}"
    machine += f"; Spark driver memory {env['RCU_DRIVER_MEMORY']}, {env['RCU_SHUFFLE_PARTITIONS']} shuffle partitions"
    result = {"persons": args.persons, "days": args.days, "started": started, "machine": machine,
              "command": "python benchmarks/bench_daily.py " + " ".join(argv if argv is not None else sys.argv[1:]),
              "runs": runs, "stage_names": stage_names, "gold_stage_names": gold_stage_names, "comparison": comparison}
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    (out / f"daily_{args.persons}.json").write_text(json.dumps(result, indent=1), encoding="utf-8")
    (out / f"daily_{args.persons}.md").write_text(markdown(result), encoding="utf-8")
    print(markdown(result))
    return 0


if __name__ == "__main__":
    sys.exit(main())
