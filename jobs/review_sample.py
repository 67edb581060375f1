"""Review sample: a stratified sample of the pairs the last match run declares matches, for the steward to
review, so that their answers estimate precision without ground truth (``rcu review-estimate``).

The pairs are all pairs of identified records in one customer; they are drawn by stratum (deterministic
core, bands of the pair's match probability, transitive) with a Neyman allocation and a floor per stratum
(``conf/review_sample.yaml``; the method is :mod:`spark_lib.review.estimate`'s). The sample is appended to
``gold.review_sample`` under a new ``sample_id``; the review queue shows its undecided pairs with reason
``sample``.

    rcu review-sample --size 300 --seed 7
    spark-submit --py-files rcu.zip jobs/review_sample.py --lakehouse /data/lakehouse --size 300 --seed 7
"""

from __future__ import annotations

import argparse
import json
import sys
from dataclasses import asdict, dataclass, field

from jobs.common import JobContext, add_common_arguments, add_lock_argument, writing_run
from spark_lib import tables
from spark_lib.review.estimate import draw_sample, load_sample_config, pair_population, stratum_counts


@dataclass
class SampleReport:
    sample_id: str = ""
    size: int = 0
    seed: int = 0
    #: stratum -> N_h, the pairs of the population in it
    stratum_pairs: dict = field(default_factory=dict)
    #: stratum -> n_h, the pairs drawn from it
    stratum_drawn: dict = field(default_factory=dict)


def run(ctx: JobContext, size: int, seed: int) -> SampleReport:
    """Draw and append one sample; the report names it and gives ``N_h`` and ``n_h`` per stratum."""
    config = load_sample_config(ctx.conf_dir / "review_sample.yaml")
    lake = ctx.lake
    population = pair_population(lake.read(tables.CROSSWALK), lake.read(tables.MATCHED_RECORDS),
                                 lake.read(tables.MATCH_PAIRS))
    counts = stratum_counts(population, config)
    sample = draw_sample(population, size, seed, config, counts=counts).localCheckpoint()
    lake.append(sample, tables.REVIEW_SAMPLE)
    drawn = {r["stratum"]: r["count"] for r in sample.groupBy("stratum").count().collect()}
    first = sample.select("sample_id").first()
    return SampleReport(first["sample_id"] if first else "", sum(drawn.values()), seed, counts,
                        {h: drawn.get(h, 0) for h in counts})


def strata_text(report: SampleReport) -> str:
    lines = [f"sample {report.sample_id}: {report.size} pairs drawn (seed {report.seed})",
             f"{'stratum':<34} {'N_h':>10} {'n_h':>6}"]
    lines += [f"{h:<34} {n:>10,} {report.stratum_drawn.get(h, 0):>6}" for h, n in report.stratum_pairs.items()]
    return "\n".join(lines)


def build_parser(parser: argparse.ArgumentParser | None = None) -> argparse.ArgumentParser:
    parser = parser or argparse.ArgumentParser(prog="rcu review-sample", description=__doc__,
                                               formatter_class=argparse.RawDescriptionHelpFormatter)
    add_common_arguments(parser)
    add_lock_argument(parser)
    parser.add_argument("--size", type=int, default=300, help="pairs to draw (default: 300)")
    parser.add_argument("--seed", type=int, required=True, help="the draw's seed: the same seed on the same run draws the same pairs")
    parser.add_argument("--json", action="store_true", help="machine-readable output (JSON) on stdout")
    return parser


def main(argv: list[str] | None = None) -> SampleReport:
    args = build_parser().parse_args(argv)
    if args.size < 1:
        print("rcu review-sample: error: --size must be at least 1", file=sys.stderr)
        raise SystemExit(2)
    with writing_run(args, "rcu-review-sample", "rcu review-sample", steps=[], check_files=False) as ctx:
        report = run(ctx, args.size, args.seed)
    print(json.dumps(asdict(report), indent=2) if args.json else strata_text(report))
    return report


if __name__ == "__main__":
    main()
