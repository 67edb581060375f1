"""Does the precision estimated from a 300-pair review sample hold its 95 % interval? Checked against the truth.

On a copy of a demo lakehouse with ground truth (built by ``rcu run-all``; the original is never written),
for each seed: ``rcu review-sample`` draws a stratified sample of the pairs the run declares matches
(:mod:`spark_lib.review.estimate`), a steward "answers" every pair from the truth (``same`` iff both records
belong to one true person; ``unsure`` when the truth does not know a record) and the answers are written to
``ops.review_decisions`` (origin ``api``), as the review page's API would; then the estimate and its
interval are compared with the precision measured against the truth
(:func:`~spark_lib.review.estimate.precision_from_truth`: ``identified_pairwise_precision``).

    .venv/bin/python benchmarks/bench_precision_estimate.py --lakehouse /work/prof/snap/lakehouse \\
        --truth /work/prof/generated/truth/truth.parquet --work /work/scratch-labels/bench --seeds 1 2 3 4 5

prints one line per seed (estimate, interval, truth, inside or not) and writes
``precision_estimate.json`` and ``precision_estimate.md`` to ``--out``.
"""

from __future__ import annotations

import argparse
import datetime as dt
import json
import shutil
import sys
import time
import uuid
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))  # run as a script from anywhere: the repository's packages first


def parse_args(argv=None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--lakehouse", required=True, help="a demo lakehouse after rcu run-all (copied, never written)")
    parser.add_argument("--truth", required=True, help="the generator's truth.parquet")
    parser.add_argument("--work", required=True, help="scratch folder: the lakehouse copy goes there (replaced)")
    parser.add_argument("--seeds", type=int, nargs="+", default=[1, 2, 3, 4, 5])
    parser.add_argument("--size", type=int, default=300)
    parser.add_argument("--out", default=str(ROOT / "benchmarks" / "results"), help="folder of the result files")
    return parser.parse_args(argv)


def truth_decisions(spark, sample, truth, matched_records, seed: int):
    """``ops.review_decisions`` rows answering each sampled pair from the truth (origin ``api``)."""
    from pyspark.sql import functions as F

    from spark_lib import schemas

    person = {s: truth.select(F.col("record_key").alias(f"record_key_{s}"), F.col("person_id").alias(f"person_{s}"))
              for s in ("l", "r")}
    hashes = {s: matched_records.select(F.col("record_key").alias(f"record_key_{s}"),
                                        F.col("record_hash").alias(f"record_hash_{s}")) for s in ("l", "r")}
    answered = sample.join(person["l"], "record_key_l", "left").join(person["r"], "record_key_r", "left")
    answered = answered.join(hashes["l"], "record_key_l", "left").join(hashes["r"], "record_key_r", "left")
    decision = (F.when(F.col("person_l").isNull() | F.col("person_r").isNull(), "unsure")
                .when(F.col("person_l") == F.col("person_r"), "same").otherwise("different"))
    now = dt.datetime.now(dt.timezone.utc).replace(tzinfo=None, microsecond=0)
    rows = [(str(uuid.uuid4()), r["pair_id"], r["record_key_l"], r["record_key_r"], r["decision"], "bench-truth",
             f"ground truth, seed {seed}", now, int(r["record_hash_l"] or 0), int(r["record_hash_r"] or 0), "api")
            for r in answered.select("pair_id", "record_key_l", "record_key_r", decision.alias("decision"),
                                     "record_hash_l", "record_hash_r").collect()]
    return spark.createDataFrame(rows, schemas.REVIEW_DECISIONS)


def main(argv=None) -> int:
    args = parse_args(argv)
    from pyspark.sql import functions as F

    from jobs import review_sample
    from jobs.common import build_context
    from spark_lib import tables
    from spark_lib.review.estimate import estimate_precision, pair_population, precision_from_truth, reviewed_precision
    from spark_lib.session import get_spark

    work = Path(args.work)
    lakehouse = work / "lakehouse"
    if lakehouse.exists():
        shutil.rmtree(lakehouse)
    work.mkdir(parents=True, exist_ok=True)
    shutil.copytree(args.lakehouse, lakehouse, ignore=shutil.ignore_patterns("_rcu.lock"))
    spark = get_spark(app_name="rcu-bench-precision", shuffle_partitions=4)
    namespace = argparse.Namespace(conf_dir=None, lakehouse=str(lakehouse), raw_dir=None, sources=None, truth_dir=None)
    ctx = build_context(namespace, "rcu-bench-precision", spark=spark)
    lake = ctx.lake
    truth_df = spark.read.parquet(args.truth)
    truth = truth_df.select(F.concat_ws(":", "source", F.col("source_record_id").cast("string")).alias("record_key"),
                            F.col("person_id").cast("string").alias("person_id"))
    started = time.monotonic()
    truth_precision = precision_from_truth(lake.read(tables.CROSSWALK), truth_df)
    truth_seconds = time.monotonic() - started
    rows = []
    for seed in args.seeds:
        started = time.monotonic()
        report = review_sample.run(ctx, args.size, seed)
        sample_seconds = time.monotonic() - started
        sample = lake.read(tables.REVIEW_SAMPLE).where(F.col("sample_id") == report.sample_id)
        lake.append(truth_decisions(spark, sample, truth, lake.read(tables.MATCHED_RECORDS), seed), tables.REVIEW_DECISIONS)
        estimate = estimate_precision(lake.read(tables.REVIEW_SAMPLE), lake.read(tables.REVIEW_DECISIONS), report.sample_id)
        inside = estimate.ci_low <= truth_precision <= estimate.ci_high
        rows.append({"seed": seed, "sample_id": report.sample_id, "labelled": estimate.labelled_pairs,
                     "unsure": estimate.unsure_pairs, "estimate": estimate.precision, "ci_low": estimate.ci_low,
                     "ci_high": estimate.ci_high, "effective_n": estimate.effective_n, "truth": truth_precision,
                     "inside": inside, "sample_seconds": round(sample_seconds, 1),
                     "strata": [{"stratum": s.stratum, "N_h": s.pairs, "n_h": s.drawn, "same": s.same,
                                 "different": s.different, "unsure": s.unsure} for s in estimate.strata]})
        print(f"seed {seed}: {estimate.text()}; truth {truth_precision:.4f} -> {'inside' if inside else 'OUTSIDE'}",
              flush=True)
    population = pair_population(lake.read(tables.CROSSWALK), lake.read(tables.MATCHED_RECORDS), lake.read(tables.MATCH_PAIRS))
    biased = reviewed_precision(population, lake.read(tables.REVIEW_DECISIONS))

    lines = ["| seed | labelled | unsure | estimate | 95 % interval | width | truth | inside |", "|---|---|---|---|---|---|---|---|"]
    for r in rows:
        lines.append(f"| {r['seed']} | {r['labelled']} | {r['unsure']} | {r['estimate']:.4f} | "
                     f"[{r['ci_low']:.4f}, {r['ci_high']:.4f}] | {r['ci_high'] - r['ci_low']:.4f} | {r['truth']:.4f} | "
                     f"{'yes' if r['inside'] else 'NO'} |")
    covered = sum(r["inside"] for r in rows)
    lines.append("")
    lines.append(f"{covered} of {len(rows)} seeds inside; truth measured in {truth_seconds:.1f} s; all reviewed pairs "
                 f"(union of the samples, {biased.labelled_pairs} pairs): {biased.precision:.4f} ({biased.label})")
    lines.append("")
    lines.append("Strata of the first seed: " + ", ".join(f"{s['stratum']} N={s['N_h']:,} n={s['n_h']} "
                                                          f"different={s['different']}" for s in rows[0]["strata"]))
    table = "\n".join(lines)
    print(table)
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    (out / "precision_estimate.json").write_text(json.dumps({"size": args.size, "lakehouse": args.lakehouse,
                                                             "truth_precision": truth_precision, "seeds": rows,
                                                             "reviewed_precision_biased": biased.precision}, indent=2))
    (out / "precision_estimate.md").write_text(f"# Precision estimate from a {args.size}-pair review sample\n\n"
                                               f"    {' '.join(['.venv/bin/python', *sys.argv])}\n\n{table}\n")
    return 0 if covered == len(rows) else 1


if __name__ == "__main__":
    sys.exit(main())
