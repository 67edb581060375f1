"""Kill ``rcu run-all`` at chosen moments, run it again, and compare the lakehouse with an uninterrupted run.

A moment is ``<text>[+<seconds>]``: the run is killed (SIGKILL to its whole process group: the Python driver
and its JVM, as an out-of-memory kill or a lost node would end it) ``seconds`` after a progress line holding
``text`` appeared on its stderr. Each moment is one killed run on the same lakehouse, in order; then one run
to the end. The lakehouse must then hold exactly what an uninterrupted run gives: the same bronze and
quarantine counts, the same silver record keys, the same partition of records into customers, one golden
customer per identified customer of the crosswalk and no other, the same cluster splits logged once, the
same segment and audience counts. Customer ids embed the run time (``spark_lib.matching.ids``), so ids are
compared within the killed lakehouse (crosswalk, registry and gold.customer agree exactly), partitions across.

    .venv/bin/python benchmarks/kill_rerun.py --persons 1000 \\
        --moment "ingest] source 2/" --moment "standardise] table 1/+3" --moment "match] deterministic:+2" \\
        --moment "match] cluster:" --moment "gold] survivorship:+1" --moment "activate] audiences"

The default moments cover ingest, standardise, match (before and after the id registry is replaced) and gold.
``tests/test_kill_rerun.py`` runs one moment of match on a few hundred persons.

With ``--days D`` the base delivery is run to its end in both lakehouses first, then each day's files arrive:
the reference takes each day in one run, the other lakehouse's run of the last day is killed at the moments
(by default in its incremental match: while it links the day's values, scores, clusters and writes ids) and
run again. Matching must end with the customers the uninterrupted days give.

    .venv/bin/python benchmarks/kill_rerun.py --persons 1000 --days 2
"""

from __future__ import annotations

import argparse
import json
import os
import signal
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent

DEFAULT_MOMENTS = ("ingest] source 2/+1", "standardise] table 1/+3", "match] deterministic:+2", "match] cluster:",
                   "gold] survivorship:+1")
#: moments of an incremental day's run: in each stage of its match
DAILY_MOMENTS = ("match] changes:+1", "match] deterministic:+1", "match] predict:+1", "match] cluster:+1",
                 "gold] survivorship:+1")


def rcu_command(*args: str) -> list[str]:
    return [sys.executable, "-m", "jobs.cli", *args]


def run_killed(argv: list[str], moment: str, env: dict[str, str], timeout: float = 900) -> dict:
    """Run ``argv`` and SIGKILL its process group at ``moment`` (``text[+seconds]``); what happened."""
    text, _, delay = moment.partition("+")
    process = subprocess.Popen(argv, cwd=ROOT, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True,
                               start_new_session=True)
    started, seen, lines = time.monotonic(), None, []
    timer = threading.Timer(timeout, lambda: os.killpg(process.pid, signal.SIGKILL))
    timer.start()
    try:
        for line in process.stderr:
            lines.append(line.rstrip())
            if seen is None and text in line:
                seen = time.monotonic() - started
                if delay:
                    time.sleep(float(delay))
                os.killpg(process.pid, signal.SIGKILL)
                break
        process.wait()
    finally:
        timer.cancel()
        process.stderr.close()
    return {"moment": moment, "killed": seen is not None, "seen_after_s": round(seen or 0, 1),
            "returncode": process.returncode, "seconds": round(time.monotonic() - started, 1), "last_lines": lines[-3:]}


def run_to_end(argv: list[str], env: dict[str, str], timeout: float = 1800) -> subprocess.CompletedProcess:
    result = subprocess.run(argv, cwd=ROOT, env=env, capture_output=True, text=True, timeout=timeout)
    if result.returncode != 0:
        raise RuntimeError(f"{' '.join(argv)} failed ({result.returncode}):\n{result.stderr[-4000:]}")
    return result


def lakehouse_state(spark, root: str) -> dict:
    """What a run must leave, independent of when it ran (counts, keys, the partition into customers), and
    the consistency of its customer ids."""
    from pyspark.sql import functions as F

    from spark_lib import tables
    from spark_lib.storage import Lakehouse

    lake = Lakehouse(spark, root)
    state: dict = {"bronze": {t: lake.read(t).count() for t in lake.tables("bronze")}}
    state["quarantine"] = lake.read(tables.QUARANTINE).count() if lake.exists(tables.QUARANTINE) else 0
    state["ingestion_log_files"] = lake.read(tables.INGESTION_LOG).select("file_hash").distinct().count()
    state["silver"] = {t: lake.read(t).count() for t in lake.tables("silver")}
    records = lake.read(tables.CUSTOMER_RECORDS)
    state["record_keys"] = sorted(r.record_key for r in records.select("record_key").collect())
    crosswalk = lake.read(tables.CROSSWALK)
    groups = crosswalk.groupBy("customer_id").agg(F.sort_array(F.collect_list("record_key")).alias("keys"))
    state["customers"] = sorted(tuple(r["keys"]) for r in groups.collect())
    state["crosswalk_rows"] = crosswalk.count()
    splits = lake.read_or_none(tables.CLUSTER_SPLITS)
    state["cluster_splits"] = sorted(
        (r.component_id, r.size_before, tuple(r.sizes_after), r.threshold, r.reason) for r in splits.collect()
    ) if splits is not None else []
    identified = {r.customer_id for r in crosswalk.where(~F.col("match_rule").eqNullSafe("anonymous"))
                  .select("customer_id").distinct().collect()}
    golden = [r.customer_id for r in lake.read(tables.CUSTOMER).select("customer_id").collect()]
    registry = {r.customer_id for r in lake.read(tables.ID_REGISTRY).select("customer_id").distinct().collect()}
    state["ids_consistent"] = {
        "gold.customer holds each identified customer once": sorted(golden) == sorted(identified),
        "the crosswalk's ids are the registry's": {r.customer_id for r in crosswalk.select("customer_id").collect()}
        == registry,
    }
    state["golden_customers"] = len(golden)
    for table in (tables.SEGMENTS, tables.AUDIENCE_MEMBERS, tables.KPI_SNAPSHOTS, tables.CUSTOMER_360):
        state[str(table)] = lake.read(table).count() if lake.exists(table) else None
    return state


def differences(reference: dict, state: dict) -> list[str]:
    """What differs between two lakehouse states (empty: the same), and any inconsistent ids."""
    found = [f"{key}: {name} does not hold" for key in ("ids_consistent",) for name, ok in state[key].items() if not ok]
    for key, expected in reference.items():
        if key != "ids_consistent" and state.get(key) != expected:
            shown = (f"{len(expected)} vs {len(state.get(key) or [])} items" if isinstance(expected, list)
                     else f"{expected} vs {state.get(key)}")
            found.append(f"{key}: uninterrupted {shown}")
    return found


def _kill_the_first_run(work: Path, args, env: dict) -> tuple[list[dict], str]:
    raw, truth = work / "raw", work / "truth"
    common = ["--raw-dir", str(raw), "--truth-dir", str(work / "no-truth")]
    from jobs import generate
    from jobs.common import Progress

    generate.run(persons=args.persons, raw_dir=str(raw), truth_dir=str(truth), seed=args.seed,
                 reference_date="2026-10-31", progress=Progress("generate", quiet=True))
    started = time.monotonic()
    run_to_end(rcu_command("run-all", "--lakehouse", str(work / "reference"), "--retrain", *common), env)
    print(f"uninterrupted run: {time.monotonic() - started:,.0f} s", file=sys.stderr)
    killed_lake = str(work / "killed")
    kills = []
    for moment in args.moments or DEFAULT_MOMENTS:
        kills.append(run_killed(rcu_command("run-all", "--lakehouse", killed_lake, *common), moment, env))
        print(json.dumps(kills[-1]), file=sys.stderr)
    run_to_end(rcu_command("run-all", "--lakehouse", killed_lake, *common), env)
    return kills, killed_lake


def _kill_a_day(work: Path, args, env: dict) -> tuple[list[dict], str]:
    """Both lakehouses take the base and days 1..D-1 in uninterrupted runs; day D's run of one is killed."""
    import shutil

    generated = work / "generated"
    subprocess.run(rcu_command("generate", "--persons", str(args.persons), "--seed", str(args.seed), "--raw-dir",
                               str(generated / "raw"), "--truth-dir", str(generated / "truth"), "--days", str(args.days)),
                   cwd=ROOT, env=env, check=True, capture_output=True)
    manifest = json.loads((generated / "truth" / "deliveries.json").read_text(encoding="utf-8"))
    days = {d["day"]: d["files"] for d in manifest["days"]}
    daily = {name for names in days.values() for name in names}
    initial = [str(p.relative_to(generated / "raw")) for p in (generated / "raw").rglob("*") if p.is_file()
               and str(p.relative_to(generated / "raw")) not in daily]
    killed_lake = str(work / "killed")
    kills: list[dict] = []
    for lake in ("reference", "killed"):
        raw = work / f"raw_{lake}"
        common = ["--lakehouse", str(work / lake), "--raw-dir", str(raw), "--truth-dir", str(work / "no-truth")]
        for day in range(args.days + 1):
            for name in initial if day == 0 else days[day]:
                (raw / name).parent.mkdir(parents=True, exist_ok=True)
                shutil.copy2(generated / "raw" / name, raw / name)
            retrain = ["--retrain"] if day == 0 and lake == "reference" else []
            if lake == "killed" and day == args.days:
                for moment in args.moments or DAILY_MOMENTS:
                    kills.append(run_killed(rcu_command("run-all", *common), moment, env))
                    print(json.dumps(kills[-1]), file=sys.stderr)
            run_to_end(rcu_command("run-all", *common, *retrain), env)
    return kills, killed_lake


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="kill_rerun.py", description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--persons", type=int, default=1000)
    parser.add_argument("--seed", type=int, default=11)
    parser.add_argument("--moment", action="append", dest="moments", help="text[+seconds] (repeatable)")
    parser.add_argument("--days", type=int, default=0, help="kill the last of D daily runs instead of the first run")
    parser.add_argument("--work", help="working folder (default: a new temporary folder)")
    args = parser.parse_args(argv)
    work = Path(args.work or tempfile.mkdtemp(prefix="rcu-kill-"))
    env = dict(os.environ, MLFLOW_TRACKING_URI=f"sqlite:///{work / 'mlflow.db'}", PYTHONPATH=str(ROOT))
    if args.days:
        kills, killed_lake = _kill_a_day(work, args, env)
    else:
        kills, killed_lake = _kill_the_first_run(work, args, env)

    from spark_lib.session import get_spark

    spark = get_spark(app_name="rcu-kill-rerun")
    found = differences(lakehouse_state(spark, str(work / "reference")), lakehouse_state(spark, killed_lake))
    print(json.dumps({"persons": args.persons, "kills": kills, "differences": found}, indent=2))
    return 1 if found or not any(k["killed"] for k in kills) else 0


if __name__ == "__main__":
    sys.exit(main())
