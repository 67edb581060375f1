"""Generate: write realistic synthetic raw files for N persons, plus the ground truth (evaluation only).

    rcu generate --persons 10000 --seed 42
    python jobs/generate.py --persons 1000000 --raw-dir /data/raw --truth-dir /data/truth
"""

from __future__ import annotations

import argparse

from jobs.common import Progress
from spark_lib.config import load_pipeline


def build_parser(parser: argparse.ArgumentParser | None = None) -> argparse.ArgumentParser:
    parser = parser or argparse.ArgumentParser(prog="rcu generate", description=__doc__)
    parser.add_argument("--persons", type=int, help="number of real persons (default: pipeline.yaml default_persons)")
    parser.add_argument("--seed", type=int, help="random seed; the same seed and size give identical files")
    parser.add_argument("--raw-dir", help="where the raw files go (default: pipeline.yaml raw_dir)")
    parser.add_argument("--truth-dir", help="where the ground truth goes (default: pipeline.yaml truth_dir)")
    parser.add_argument("--reference-date", default="2026-10-31", help="last day of the simulated history")
    return parser


def run(persons: int, raw_dir: str, truth_dir: str, seed: int, reference_date: str, progress: Progress | None = None):
    from spark_lib.generator import generate

    progress = progress or Progress("generate")
    summary = generate(
        persons=persons, raw_dir=raw_dir, truth_dir=truth_dir, seed=seed, reference_date=reference_date, progress=progress
    )
    total = sum(summary.rows_per_source.values())
    progress(f"{summary.persons:,} persons -> {total:,} raw rows in {len(summary.files)} files ({summary.seconds:,.1f} s)")
    return summary


def main(argv: list[str] | None = None):
    args = build_parser().parse_args(argv)
    pipeline = load_pipeline()
    return run(
        persons=args.persons or pipeline.default_persons,
        raw_dir=pipeline.resolve(args.raw_dir or pipeline.raw_dir),
        truth_dir=pipeline.resolve(args.truth_dir or pipeline.truth_dir),
        seed=args.seed if args.seed is not None else pipeline.seed,
        reference_date=args.reference_date,
    )


if __name__ == "__main__":
    main()
