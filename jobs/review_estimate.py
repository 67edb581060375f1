"""Review estimate: the precision a review sample's decisions estimate, with its 95 % interval, how many pairs
are labelled, and apart, the biased share of ``same`` among every reviewed pair; against the ground truth
too when there is one.

Reads ``gold.review_sample`` (the latest sample, or ``--sample-id``), ``ops.review_decisions`` (the latest
decision per pair holds; ``unsure`` does not count) and, for the biased figure, the last match run's tables.
The method is :mod:`spark_lib.review.estimate`'s. The job only reads.

    rcu review-estimate [--sample-id ID] [--json]
    spark-submit --py-files rcu.zip jobs/review_estimate.py --lakehouse /data/lakehouse

The match run logs the same figures (``precision_estimate``, ``precision_ci_low``, ``precision_ci_high``,
``labelled_pairs``) through :func:`sample_metrics` once decisions exist.
"""

from __future__ import annotations

import argparse
import json
import sys
from dataclasses import asdict
from pathlib import Path

from jobs.common import JobContext, add_common_arguments, build_context
from spark_lib import tables
from spark_lib.review.estimate import (
    PrecisionEstimate,
    estimate_precision,
    pair_population,
    precision_from_truth,
    print_strata,
    reviewed_precision,
)


def sample_metrics(lake) -> dict[str, float]:
    """The latest sample's estimate as metrics for a match run's report and MLflow; {} while there is no
    sample or no decision. The sample is of the run it was drawn after: its pairs keep their stratum weights."""
    sample, decisions = lake.read_or_none(tables.REVIEW_SAMPLE), lake.read_or_none(tables.REVIEW_DECISIONS)
    if sample is None or decisions is None or not sample.limit(1).count():
        return {}
    estimate = estimate_precision(sample, decisions)
    return estimate.metrics() if estimate.labelled_pairs else {}


def run(ctx: JobContext, sample_id: str | None = None) -> dict:
    """The estimate (a dict: :class:`PrecisionEstimate`'s fields), the biased reviewed share and, with a
    truth, the truth's precision of the current run."""
    lake = ctx.lake
    sample = lake.read_or_none(tables.REVIEW_SAMPLE)
    if sample is None:
        raise LookupError(f"no {tables.REVIEW_SAMPLE} yet: draw a sample first (rcu review-sample --seed N)")
    decisions = lake.read_or_none(tables.REVIEW_DECISIONS)
    estimate = estimate_precision(sample, decisions, sample_id)
    result = {"estimate": estimate}
    if decisions is not None:
        population = pair_population(lake.read(tables.CROSSWALK), lake.read(tables.MATCHED_RECORDS),
                                     lake.read(tables.MATCH_PAIRS))
        result["reviewed"] = reviewed_precision(population, decisions)
    truth = Path(ctx.truth_dir) / "truth.parquet"
    if truth.exists():
        result["truth_precision"] = precision_from_truth(lake.read(tables.CROSSWALK), ctx.spark.read.parquet(str(truth)))
    return result


def text(result: dict) -> str:
    estimate: PrecisionEstimate = result["estimate"]
    lines = [estimate.text(), print_strata(estimate.strata)]
    reviewed = result.get("reviewed")
    if reviewed is not None and reviewed.precision is not None:
        lines.append(f"all {reviewed.labelled_pairs} reviewed pairs of the run's matches: {reviewed.precision:.4f} same "
                     f"({reviewed.label})")
    if "truth_precision" in result:
        lines.append(f"against the ground truth: precision {result['truth_precision']:.4f} (identified records)")
    return "\n".join(lines)


def build_parser(parser: argparse.ArgumentParser | None = None) -> argparse.ArgumentParser:
    parser = parser or argparse.ArgumentParser(prog="rcu review-estimate", description=__doc__,
                                               formatter_class=argparse.RawDescriptionHelpFormatter)
    add_common_arguments(parser)
    parser.add_argument("--sample-id", help=f"the sample of {tables.REVIEW_SAMPLE} (default: the latest drawn)")
    parser.add_argument("--truth-dir", help="ground truth folder (default: pipeline.yaml truth_dir)")
    parser.add_argument("--json", action="store_true", help="machine-readable output (JSON) on stdout")
    return parser


def main(argv: list[str] | None = None) -> dict:
    args = build_parser().parse_args(argv)
    try:
        result = run(build_context(args, "rcu-review-estimate"), args.sample_id)
    except LookupError as error:
        print(f"rcu review-estimate: error: {error}", file=sys.stderr)
        raise SystemExit(2) from error
    if args.json:
        print(json.dumps({k: asdict(v) if hasattr(v, "__dataclass_fields__") else v for k, v in result.items()},
                         indent=2, default=str))
    else:
        print(text(result))
    return result


if __name__ == "__main__":
    main()
