"""Generate: write realistic synthetic raw files for N persons, plus the ground truth (evaluation only).

    rcu generate --persons 10000 --seed 42
    rcu generate --persons 10000 --profile foreign --foreign-share 0.2
    python jobs/generate.py --persons 1000000 --raw-dir /data/raw --truth-dir /data/truth

Profiles (``--profile``, spark_lib/generator/core.py GENERATOR_PROFILES):

    standard          the retailer's ten sources, everybody living in France (the default; same files as
                      before profiles existed, for the same seed and size)
    foreign           the ten sources, 10 % of the persons living in Belgium, Switzerland, Luxembourg,
                      Germany, Spain or Great Britain (local names, addresses, phones, email providers)
    store_crm_only    an old store customer file (magasins/fichier_clients) and the catalogue mailings sent
                      from it: names, postal addresses, birth dates; no email, phone, card, account, CRM code

``--foreign-share X`` (0 to 1) replaces the profile's share of persons living abroad.
"""

from __future__ import annotations

import argparse

from jobs.common import Progress
from spark_lib.config import load_pipeline

DEFAULT_PROFILE = "standard"


def add_profile_arguments(parser: argparse.ArgumentParser) -> argparse.ArgumentParser:
    """``--profile`` and ``--foreign-share``, shared by the jobs and tools that generate data."""
    from spark_lib.generator import GENERATOR_PROFILES

    parser.add_argument("--profile", default=DEFAULT_PROFILE,
                        help=f"generator profile: {', '.join(GENERATOR_PROFILES)} (default: {DEFAULT_PROFILE})")
    parser.add_argument("--foreign-share", type=float, default=None,
                        help="share of persons living abroad, 0 to 1 (default: the profile's)")
    return parser


def build_parser(parser: argparse.ArgumentParser | None = None) -> argparse.ArgumentParser:
    parser = parser or argparse.ArgumentParser(prog="rcu generate", description=__doc__,
                                               formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--persons", type=int, help="number of real persons (default: pipeline.yaml default_persons)")
    parser.add_argument("--seed", type=int, help="random seed; the same seed and size give identical files")
    parser.add_argument("--raw-dir", help="where the raw files go (default: pipeline.yaml raw_dir)")
    parser.add_argument("--truth-dir", help="where the ground truth goes (default: pipeline.yaml truth_dir)")
    parser.add_argument("--reference-date", default="2026-10-31", help="last day of the simulated history")
    add_profile_arguments(parser)
    return parser


def run(persons: int, raw_dir: str, truth_dir: str, seed: int, reference_date: str, progress: Progress | None = None,
        profile: str = DEFAULT_PROFILE, foreign_share: float | None = None):
    from spark_lib.generator import generate

    progress = progress or Progress("generate")
    summary = generate(
        persons=persons, raw_dir=raw_dir, truth_dir=truth_dir, seed=seed, reference_date=reference_date,
        progress=progress, profile=profile, foreign_share=foreign_share,
    )
    total = sum(summary.rows_per_source.values())
    profile_note = "" if summary.profile == DEFAULT_PROFILE and not summary.foreign_share else (
        f" (profile {summary.profile}, foreign share {summary.foreign_share:g})")
    progress(f"{summary.persons:,} persons -> {total:,} raw rows in {len(summary.files)} files "
             f"({summary.seconds:,.1f} s){profile_note}")
    return summary


def main(argv: list[str] | None = None):
    parser = build_parser()
    args = parser.parse_args(argv)
    from spark_lib.generator import get_profile

    try:
        get_profile(args.profile, args.foreign_share)
    except ValueError as error:
        parser.error(str(error))
    pipeline = load_pipeline()
    return run(
        persons=args.persons or pipeline.default_persons,
        raw_dir=pipeline.resolve(args.raw_dir or pipeline.raw_dir),
        truth_dir=pipeline.resolve(args.truth_dir or pipeline.truth_dir),
        seed=args.seed if args.seed is not None else pipeline.seed,
        reference_date=args.reference_date,
        profile=args.profile,
        foreign_share=args.foreign_share,
    )


if __name__ == "__main__":
    main()
