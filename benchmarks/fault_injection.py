"""A bad day's delivery through the whole pipeline: every bad file quarantined, no good row lost, gold clean.

Generates ``--persons`` persons, adds the bad files and hostile records of
:mod:`spark_lib.generator.faults` (20 bad files of 12 kinds in three formats, 14 kinds of hostile value),
runs ``rcu run-all`` on them in this process and checks what a user relies on:

- every bad file is in ``bronze.file_quarantine`` with its reason, and no other file is;
- ``bronze.ingestion_log`` reconciles every delivered file (rows read = bronze + quarantined, 0 for a
  quarantined file) and every good row was read: per source, the generator's rows plus the hostile ones;
- no row landed twice (bronze holds exactly the rows the log says landed, from landed files only);
- each hostile record is in silver with its quality flag and has a customer;
- no string of any gold table carries a control, invisible or bidi character, an unneutralised spreadsheet
  formula prefix (an E.164 phone number, "+" and digits only, is a number to a spreadsheet, not a formula) or more than 254 characters (ids and hashes excepted);
- the ``deltalake`` package (delta-rs, not Spark) reads every bronze table and both quarantines.

Values are never printed: a failure names the table, column and count.

    .venv/bin/python benchmarks/fault_injection.py --persons 100000 [--seed 42] [--work /tmp/rcu-faults]

Writes ``benchmarks/results/fault_injection_<persons>.{json,md}``. ``tests/test_pipeline_e2e.py`` runs the
same checks on its 400-person lakehouse.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import subprocess
import sys
import tempfile
import time
from collections import Counter
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from spark_lib import tables  # noqa: E402

#: characters a golden record must not carry, listed independently of the standardisation's own pattern:
#: C0 and C1 controls, soft hyphen, zero-width characters, bidi marks, embeddings, overrides and isolates,
#: word joiner and invisible operators, byte-order mark
INVISIBLE = r"[\x{0}-\x{1f}\x{7f}-\x{9f}\x{ad}\x{200b}-\x{200f}\x{202a}-\x{202e}\x{2060}-\x{2069}\x{feff}]"
#: what makes a spreadsheet read a cell as a formula (after optional spaces)
FORMULA = r"^\s*[=+\-@]"
E164 = r"^\+[1-9][0-9]{5,14}$"
LONGEST = 254
#: string columns that are identifiers or digests, exempt from the length check
LONG_IDS = ("customer_id", "content_hash", "record_key", "record_keys")
#: string columns holding a JSON document of record values (gold.review_queue): the length check applies to
#: each value inside, not to the document
JSON_DOCUMENTS = {"record_l": "map<string,string>", "record_r": "map<string,string>",
                  "comparisons": "array<map<string,string>>"}


def delivery_failures(spark, lake_root: str, raw_dir: str, sources, faults, rows_per_source: dict[str, int]
                      ) -> list[str]:
    """What breaks the file-level promises (see the module docstring); empty when they all hold. ``sources``:
    the configuration the run used (its globs say which files were delivered)."""
    from spark_lib.sources.readers import list_files
    from spark_lib.storage import Lakehouse

    lake = Lakehouse(spark, lake_root)
    raw = Path(raw_dir).resolve()
    found: list[str] = []
    quarantined = {str(Path(r.file_path).relative_to(raw)): r.reason
                   for r in lake.read(tables.FILE_QUARANTINE).collect()}
    for name in sorted(set(quarantined) | set(faults.bad_files)):
        if quarantined.get(name) != faults.bad_files.get(name):
            found.append(f"file quarantine: {name}: {quarantined.get(name)!r}, expected {faults.bad_files.get(name)!r}")

    log = lake.read(tables.INGESTION_LOG).collect()
    delivered = {str(Path(p).relative_to(raw)) for spec in sources.sources for p in list_files(spec, raw_dir)}
    logged = Counter(str(Path(r.file_path).relative_to(raw)) for r in log)
    for name in sorted(delivered - set(logged)):
        found.append(f"ingestion log: {name} was never logged")
    for name, times in logged.items():
        if times > 1:
            found.append(f"ingestion log: {name} logged {times} times")
    landed_hashes: dict[str, int] = {}
    read_per_source: Counter = Counter()
    for row in log:
        name = str(Path(row.file_path).relative_to(raw))
        if row.rows_read != row.rows_bronze + row.rows_quarantined:
            found.append(f"ingestion log: {name}: {row.rows_read} read != {row.rows_bronze} bronze + "
                         f"{row.rows_quarantined} quarantined")
        if row.status == "file_quarantined":
            if row.rows_read:
                found.append(f"ingestion log: {name} was quarantined as a file but {row.rows_read} rows were read")
        else:
            landed_hashes[row.file_hash] = row.rows_bronze
            read_per_source[row.source] += row.rows_read
    expected_rows = Counter(rows_per_source) + Counter(faults.good_rows)
    for source in sorted(set(expected_rows) | set(read_per_source)):
        if read_per_source[source] != expected_rows[source]:
            found.append(f"rows read: {source}: {read_per_source[source]:,}, delivered {expected_rows[source]:,}")

    for table in lake.tables("bronze"):
        if table in (tables.QUARANTINE, tables.FILE_QUARANTINE, tables.INGESTION_LOG):
            continue
        per_file = {r["_file_hash"]: r["count"] for r in lake.read(table).groupBy("_file_hash").count().collect()}
        for digest, count in per_file.items():
            if landed_hashes.get(digest) != count:
                found.append(f"{table}: {count} rows of file {digest[:12]}, the log says "
                             f"{landed_hashes.get(digest)} landed")
    found += _delta_rs_failures(lake)
    return found


def _delta_rs_failures(lake) -> list[str]:
    from deltalake import DeltaTable

    found = []
    for table in lake.tables("bronze"):
        try:
            rows = DeltaTable(lake.path(table)).to_pyarrow_table().num_rows
        except Exception as error:  # noqa: BLE001 - any failure to read is the finding
            found.append(f"delta-rs cannot read {table}: {type(error).__name__}: {str(error)[:200]}")
            continue
        if rows != lake.read(table).count():
            found.append(f"delta-rs reads {rows} rows of {table}, Spark {lake.read(table).count()}")
    return found


def hostile_failures(spark, lake_root: str, faults) -> list[str]:
    """Each hostile record in silver with its flag, and with a customer in the crosswalk."""
    from pyspark.sql import functions as F

    from spark_lib.storage import Lakehouse

    lake = Lakehouse(spark, lake_root)
    keys = list(faults.hostile)
    records = {r.record_key: r.quality_flags for r in lake.read(tables.CUSTOMER_RECORDS)
               .where(F.col("record_key").isin(keys)).select("record_key", "quality_flags").collect()}
    crosswalk = {r.record_key for r in lake.read(tables.CROSSWALK).where(F.col("record_key").isin(keys))
                 .select("record_key").collect()}
    found = []
    for key, case in faults.hostile.items():
        if key not in records:
            found.append(f"hostile record {key} ({case.kind}) is not in silver")
        elif case.flag not in (records[key] or []):
            found.append(f"hostile record {key} ({case.kind}): flag {case.flag!r} missing")
        if key not in crosswalk:
            found.append(f"hostile record {key} ({case.kind}) has no customer")
    return found


def gold_violations(spark, lake_root: str) -> list[str]:
    """``table.column: N value(s) <problem>`` for every string (or array of strings) of every gold table."""
    from pyspark.sql import functions as F
    from pyspark.sql.types import ArrayType, StringType

    from spark_lib.storage import Lakehouse

    lake = Lakehouse(spark, lake_root)
    found = []
    for table in lake.tables("gold"):
        df = lake.read(table)
        checks = []
        for f in df.schema.fields:
            column = F.col(f"`{f.name}`")
            if isinstance(f.dataType, StringType):
                def test(predicate, column=column):
                    return predicate(column)
            elif isinstance(f.dataType, ArrayType) and isinstance(f.dataType.elementType, StringType):
                def test(predicate, column=column):
                    return F.exists(column, predicate)
            else:
                continue
            checks += [
                (f.name, "with a control, invisible or bidi character", test(lambda v: v.rlike(INVISIBLE))),
                (f.name, "starting like a spreadsheet formula",
                 test(lambda v: v.rlike(FORMULA) & ~v.rlike(E164))),   # "+33612345678" is a number, not a formula
            ]
            if f.name in JSON_DOCUMENTS:
                parsed = F.from_json(column, JSON_DOCUMENTS[f.name])
                if JSON_DOCUMENTS[f.name].startswith("array"):
                    values = F.flatten(F.transform(parsed, F.map_values))
                else:
                    values = F.map_values(parsed)
                checks.append((f.name, f"holding a value longer than {LONGEST} characters",
                               F.exists(values, lambda v: F.length(v) > LONGEST)))
            elif f.name not in LONG_IDS:
                checks.append((f.name, f"longer than {LONGEST} characters", test(lambda v: F.length(v) > LONGEST)))
        if not checks:
            continue
        counts = df.agg(*[F.count(F.when(test, 1)).alias(str(i)) for i, (_, _, test) in enumerate(checks)]).first()
        found += [f"{table}.{column}: {counts[i]} value(s) {problem}"
                  for i, (column, problem, _) in enumerate(checks) if counts[i]]
    return found


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="fault_injection.py", description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--persons", type=int, default=100_000)
    parser.add_argument("--seed", type=int, default=42)
    parser.add_argument("--work", help="working folder (default: a new temporary folder)")
    parser.add_argument("--out", default=str(ROOT / "benchmarks" / "results"))
    args = parser.parse_args(argv)
    work = Path(args.work or tempfile.mkdtemp(prefix="rcu-faults-"))
    raw, truth, lake = work / "raw", work / "truth", work / "lake"
    os.environ.setdefault("MLFLOW_TRACKING_URI", f"sqlite:///{work / 'mlflow.db'}")
    os.environ.setdefault("RCU_WAREHOUSE_DIR", str(work / "spark-warehouse"))
    sys.path.insert(0, str(ROOT / "benchmarks"))
    from bench_pipeline import session_settings

    settings = session_settings(args.persons)
    os.environ.setdefault("RCU_DRIVER_MEMORY", settings["driver_memory"])

    from jobs import generate, run_all
    from jobs.common import Progress
    from spark_lib.config import load_sources
    from spark_lib.generator.faults import inject_faults
    from spark_lib.session import get_spark

    started = time.monotonic()
    summary = generate.run(persons=args.persons, raw_dir=str(raw), truth_dir=str(truth), seed=args.seed,
                           reference_date="2026-10-31", progress=Progress("generate"))
    faults = inject_faults(raw, truth, load_sources())
    seconds = {"generate": round(time.monotonic() - started, 1)}
    spark = get_spark(app_name="rcu-fault-injection", shuffle_partitions=settings["shuffle_partitions"])
    started = time.monotonic()
    report = run_all.main(["--lakehouse", str(lake), "--raw-dir", str(raw), "--truth-dir", str(truth), "--retrain"])
    seconds["run_all"] = round(time.monotonic() - started, 1)
    started = time.monotonic()
    checks = {
        "delivery": delivery_failures(spark, str(lake), str(raw), load_sources(), faults, summary.rows_per_source),
        "hostile": hostile_failures(spark, str(lake), faults),
        "gold": gold_violations(spark, str(lake)),
    }
    seconds["checks"] = round(time.monotonic() - started, 1)
    metrics = report["match"].metrics
    result = {
        "persons": args.persons,
        "commit": subprocess.run(["git", "rev-parse", "--short", "HEAD"], cwd=ROOT, capture_output=True,
                                 text=True).stdout.strip(),
        "machine": f"{platform.system()} {os.cpu_count()} cores",
        "bad_files": len(faults.bad_files),
        "bad_file_reasons": dict(Counter(faults.bad_files.values())),
        "hostile_kinds": len(faults.hostile),
        "rows_delivered": sum(summary.rows_per_source.values()) + sum(faults.good_rows.values()),
        "files_quarantined": sum(r.files_quarantined for r in report["ingest"]),
        "rows_quarantined": sum(r.rows_quarantined for r in report["ingest"]),
        "golden_customers": report["gold"].customers,
        "identified_pairwise_f1": metrics.get("identified_pairwise_f1"),
        "identified_bcubed_f1": metrics.get("identified_bcubed_f1"),
        "seconds": seconds,
        "failures": checks,
    }
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    (out / f"fault_injection_{args.persons}.json").write_text(json.dumps(result, indent=2))
    (out / f"fault_injection_{args.persons}.md").write_text(_markdown(result))
    print(json.dumps(result, indent=2))
    return 1 if any(checks.values()) else 0


def _markdown(result: dict) -> str:
    failures = sum(len(v) for v in result["failures"].values())
    reasons = ", ".join(f"{reason} {n}" for reason, n in sorted(result["bad_file_reasons"].items()))
    lines = [
        f"# Fault injection, {result['persons']:,} persons (commit {result['commit']}, {result['machine']})",
        "",
        "`.venv/bin/python benchmarks/fault_injection.py --persons " + str(result["persons"]) + "`",
        "",
        "| figure | value |",
        "|---|---|",
        f"| bad files delivered / quarantined as files | {result['bad_files']} / {result['files_quarantined']} |",
        f"| their reasons | {reasons} |",
        f"| kinds of hostile value | {result['hostile_kinds']} |",
        f"| rows delivered in good files / rows quarantined | {result['rows_delivered']:,} / "
        f"{result['rows_quarantined']:,} |",
        f"| golden customers | {result['golden_customers']:,} |",
        f"| identified pairwise F1 / B-cubed F1 | {result['identified_pairwise_f1']:.4f} / "
        f"{result['identified_bcubed_f1']:.4f} |",
        f"| run-all seconds | {result['seconds']['run_all']:,.0f} |",
        f"| failed checks | {failures} |",
        "",
    ]
    lines += [f"- {kind}: {failure}" for kind, found in result["failures"].items() for failure in found]
    return "\n".join(lines) + "\n"


if __name__ == "__main__":
    sys.exit(main())
