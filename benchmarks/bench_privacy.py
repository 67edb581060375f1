"""Erasure at scale: a batch of requests on a demo lakehouse, done, purged and verified.

A lakehouse of N persons is built with ``rcu run-all`` (or an existing one copied, ``--from``); R customers
holding an email are drawn (seeded) and written to a request file (one line in three names the person by phone,
in national form); then ``rcu privacy erase --file`` runs with ``privacy_retention_hours: 0`` (so the purge
removes every older file at once), then ``rcu privacy verify``. Measured: the erasure's wall seconds and its
stages, the verify scan's hits and seconds, and the customer ids of every customer not named (they must not
change).

    .venv/bin/python benchmarks/bench_privacy.py --persons 100000 --requests 100 --out benchmarks/results

writes ``privacy_<persons>.json`` and ``privacy_<persons>.md``.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import random
import re
import shutil
import subprocess
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
STAGE = re.compile(r"\[step \d+/\d+ privacy erase\] (?P<stage>[a-z_]+): .*\((?P<at>[\d,.]+) s\)$")


def rcu(env: dict, *argv: str) -> tuple[float, subprocess.CompletedProcess]:
    started = time.monotonic()
    result = subprocess.run([sys.executable, "-m", "jobs.cli", *argv], cwd=ROOT, env=env, capture_output=True, text=True)
    return time.monotonic() - started, result


def customers_with_ids(lakehouse: Path) -> dict[str, tuple[str, ...]]:
    """customer_id -> its record keys (the crosswalk, read without Spark)."""
    from deltalake import DeltaTable

    crosswalk = DeltaTable(str(lakehouse / "gold" / "customer_crosswalk")).to_pyarrow_table(
        columns=["customer_id", "record_key"]).to_pylist()
    found: dict[str, list[str]] = {}
    for row in crosswalk:
        found.setdefault(row["customer_id"], []).append(row["record_key"])
    return {c: tuple(sorted(keys)) for c, keys in found.items()}


def pick_requests(lakehouse: Path, count: int, seed: int) -> list[dict]:
    from deltalake import DeltaTable

    golden = DeltaTable(str(lakehouse / "gold" / "customer")).to_pyarrow_table(
        columns=["customer_id", "email", "phone_mobile"]).to_pylist()
    eligible = sorted((r for r in golden if r["email"]), key=lambda r: r["customer_id"])
    chosen = random.Random(seed).sample(eligible, count)
    requests = []
    for n, row in enumerate(chosen):
        if n % 3 == 2 and row["phone_mobile"] and row["phone_mobile"].startswith("+33"):
            national = "0" + row["phone_mobile"][3:]
            requests.append({"request_id": f"B{n:04d}", "phone": " ".join(national[i:i + 2] for i in range(0, 10, 2)),
                             "customer_id": row["customer_id"]})
        else:
            requests.append({"request_id": f"B{n:04d}", "email": row["email"].upper(), "customer_id": row["customer_id"]})
    return requests


def markdown(result: dict) -> str:
    e = result["erase"]
    lines = [
        f"# Erasure: {result['requests']} requests on a {result['persons']:,}-person lakehouse",
        "",
        f"Run {result['started']} with `{result['command']}`; machine: {result['machine']}.",
        "",
        "| figure | value |",
        "|---|---:|",
        f"| requests erased / asked | {e['erased']} / {result['requests']} |",
        f"| erase wall seconds (resolve, erase, re-match, purge at retention 0) | {e['wall_s']:.1f} |",
        *[f"| stage {stage} (s) | {seconds:.1f} |" for stage, seconds in e["stages"].items()],
        f"| records erased | {e['records_erased']:,} |",
        f"| customers not named whose records changed customer id | {result['id_changes']} |",
        f"| verify: files / MB scanned | {result['verify']['files']:,} / {result['verify']['mb']:.1f} |",
        f"| verify: hits | {result['verify']['hits']} |",
        f"| verify seconds | {result['verify']['wall_s']:.1f} |",
        "",
    ]
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--persons", type=int, default=100_000)
    parser.add_argument("--requests", type=int, default=100)
    parser.add_argument("--seed", type=int, default=7)
    parser.add_argument("--work", type=Path, default=Path("/tmp/bench_privacy"))
    parser.add_argument("--from", dest="source", type=Path, help="a work folder of an earlier run to copy (lakehouse, raw, truth, mlflow.db)")
    parser.add_argument("--out", type=Path, default=ROOT / "benchmarks" / "results")
    args = parser.parse_args(argv)

    work = args.work
    env = {**os.environ, "MLFLOW_TRACKING_URI": f"sqlite:///{work / 'mlflow.db'}"}
    lakehouse, raw, truth, conf = work / "lakehouse", work / "raw", work / "truth", work / "conf"
    started = time.strftime("%Y-%m-%dT%H:%M:%S%z")
    if args.source:
        shutil.rmtree(work, ignore_errors=True)
        shutil.copytree(args.source, work, symlinks=True)
    elif not (lakehouse / "gold").exists():
        work.mkdir(parents=True, exist_ok=True)
        seconds, result = rcu(env, "run-all", "--persons", str(args.persons), "--lakehouse", str(lakehouse),
                              "--raw-dir", str(raw), "--truth-dir", str(truth))
        if result.returncode:
            raise RuntimeError(result.stderr[-4000:])
        print(f"run-all {args.persons:,} persons: {seconds:.0f} s", flush=True)
    shutil.copytree(ROOT / "conf", conf, dirs_exist_ok=True)
    pipeline = (conf / "pipeline.yaml").read_text()
    (conf / "pipeline.yaml").write_text(re.sub(r"(?m)^privacy_retention_hours:.*$", "privacy_retention_hours: 0", pipeline))

    before = customers_with_ids(lakehouse)
    requests = pick_requests(lakehouse, args.requests, args.seed)
    named = {r["customer_id"] for r in requests}
    request_file = work / "erasures.csv"
    request_file.write_text("request_id;email;phone\n" + "".join(
        f"{r['request_id']};{r.get('email', '')};{r.get('phone', '')}\n" for r in requests), encoding="utf-8")

    common = ["--lakehouse", str(lakehouse), "--raw-dir", str(raw), "--conf-dir", str(conf)]
    seconds, result = rcu(env, "privacy", "erase", "--file", str(request_file), *common)
    if result.returncode not in (0, 3):
        raise RuntimeError(result.stderr[-4000:])
    lines = result.stderr.splitlines() + result.stdout.splitlines()
    stages, previous = {}, 0.0
    for match in filter(None, map(STAGE.search, lines)):
        at = float(match["at"].replace(",", ""))
        stages[match["stage"]] = round(at - previous, 1)
        previous = at
    erased = sum(1 for line in result.stdout.splitlines() if re.match(r"^B\d+: erased", line))
    after = customers_with_ids(lakehouse)
    # a customer not named keeps its id: every one of its records is under the same id as before
    record_owner = {key: c for c, keys in after.items() for key in keys}
    changes = sum(1 for c, keys in before.items() if c not in named
                  for key in keys if key in record_owner and record_owner[key] != c)
    records_before = sum(len(k) for k in before.values())
    records_after = sum(len(k) for k in after.values())

    verify_id = "B0000"
    v_seconds, verified = rcu(env, "privacy", "verify", "--request", verify_id, *common)
    summary = re.search(r"([\d,]+) file\(s\), ([\d,.]+) MB scanned: ([\d,]+) hit", verified.stderr)
    result_json = {
        "persons": args.persons, "requests": args.requests, "started": started,
        "command": " ".join(["python benchmarks/bench_privacy.py", *(argv if argv is not None else sys.argv[1:])]),
        "machine": f"{os.cpu_count()} cores, {platform.platform()}, load average {os.getloadavg()}",
        "erase": {"wall_s": round(seconds, 1), "stages": stages, "erased": erased,
                  "records_erased": records_before - records_after, "stdout": result.stdout[-3000:]},
        "id_changes": changes,
        "verify": {"wall_s": round(v_seconds, 1), "files": int(summary[1].replace(",", "")) if summary else -1,
                   "mb": float(summary[2].replace(",", "")) if summary else -1,
                   "hits": int(summary[3].replace(",", "")) if summary else -1, "returncode": verified.returncode,
                   "lines": verified.stdout[-2000:]},
    }
    # the scan of the one request covers its batch: every request of the file is in it
    args.out.mkdir(parents=True, exist_ok=True)
    (args.out / f"privacy_{args.persons}.json").write_text(json.dumps(result_json, indent=2))
    (args.out / f"privacy_{args.persons}.md").write_text(markdown(result_json))
    print(markdown(result_json))
    return 0


if __name__ == "__main__":
    sys.exit(main())
