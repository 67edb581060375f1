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

Daily deliveries (spark_lib/generator/daily.py), after the initial one:

    rcu generate --persons 10000 --days 3                      the initial delivery, then days 1 to 3
    rcu generate --persons 10000 --days 5 --first-day 4        add days 4 and 5 to a raw dir holding days 0-3
    rcu generate --persons 10000 --days 3 --first-day 1        add days 1-3 to an initial delivery alone
    rcu generate --persons 100000 --days 3 --daily-changes 65000 --snapshot-sources none

Day k is dated reference date + k; each source sends its day's file beside the initial delivery
(``eshop/comptes_clients_20261101.csv``, picked up by the source's glob): new and changed records (the CRM sends
a full extract instead), deletion lists (``eshop/suppressions_comptes_clients_20261101.csv``), and on days 2, 5,
8... a re-sent copy of a file of the day before (``..._renvoi_20261102.csv``). About ``--daily-change-rate`` of
the initial delivery's records are new or changed per day (1 %), or ``--daily-changes`` records whatever the
base. The truth of every day goes to the truth dir (truth.parquet after the last day, deleted.parquet,
days/<yyyymmdd>.parquet, deliveries.json). ``--days 0`` (the default) writes what a run without days writes.
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


def add_daily_arguments(parser: argparse.ArgumentParser) -> argparse.ArgumentParser:
    """``--days``, ``--first-day``, ``--daily-change-rate``, ``--daily-changes``, ``--snapshot-sources``."""
    from spark_lib.generator.daily import CUSTOMER_SOURCES, DailyChanges

    defaults = DailyChanges()
    parser.add_argument("--days", type=int, default=0,
                        help="daily deliveries to write after the initial one (default: 0, none)")
    parser.add_argument("--first-day", type=int, default=0,
                        help="first delivery to write: 0, the initial one (default), or a day k to add days k to "
                             "--days to a raw dir that holds the earlier ones (same --persons, --seed and settings)")
    changes = parser.add_mutually_exclusive_group()
    changes.add_argument("--daily-change-rate", type=float, default=defaults.rate,
                         help="records new or changed per day, as a share of the initial delivery's records "
                              f"(default: {defaults.rate:g})")
    changes.add_argument("--daily-changes", type=int, default=None,
                         help="records new or changed per day, whatever the base size (replaces the rate)")
    parser.add_argument("--snapshot-sources", default=",".join(defaults.snapshot_sources),
                        help="customer sources that send a full extract each day instead of new and changed "
                             f"records and a deletion list: comma-separated among {', '.join(CUSTOMER_SOURCES)}, "
                             f"or 'none' (default: {','.join(defaults.snapshot_sources)})")
    return parser


def daily_changes(args: argparse.Namespace):
    """The ``DailyChanges`` of parsed ``add_daily_arguments`` options (ValueError when they are wrong)."""
    from spark_lib.generator.daily import DailyChanges

    names = () if args.snapshot_sources.strip().lower() == "none" else tuple(
        n.strip() for n in args.snapshot_sources.split(",") if n.strip())
    return DailyChanges(rate=args.daily_change_rate, per_day=args.daily_changes, snapshot_sources=names)


def build_parser(parser: argparse.ArgumentParser | None = None) -> argparse.ArgumentParser:
    parser = parser or argparse.ArgumentParser(prog="rcu generate", description=__doc__,
                                               formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--persons", type=int, help="number of real persons (default: pipeline.yaml default_persons)")
    parser.add_argument("--seed", type=int, help="random seed; the same seed and size give identical files")
    parser.add_argument("--raw-dir", help="where the raw files go (default: pipeline.yaml raw_dir)")
    parser.add_argument("--truth-dir", help="where the ground truth goes (default: pipeline.yaml truth_dir)")
    parser.add_argument("--reference-date", default="2026-10-31",
                        help="last day of the simulated history (day 1 of the daily deliveries is the day after)")
    add_profile_arguments(parser)
    add_daily_arguments(parser)
    return parser


def run(persons: int, raw_dir: str, truth_dir: str, seed: int, reference_date: str, progress: Progress | None = None,
        profile: str = DEFAULT_PROFILE, foreign_share: float | None = None, days: int = 0, first_day: int = 0,
        changes=None):
    from spark_lib.generator import generate

    progress = progress or Progress("generate")
    summary = generate(
        persons=persons, raw_dir=raw_dir, truth_dir=truth_dir, seed=seed, reference_date=reference_date,
        progress=progress, profile=profile, foreign_share=foreign_share, days=days, first_day=first_day,
        changes=changes,
    )
    total = sum(summary.rows_per_source.values())
    profile_note = "" if summary.profile == DEFAULT_PROFILE and not summary.foreign_share else (
        f" (profile {summary.profile}, foreign share {summary.foreign_share:g})")
    what = f"{total:,} raw rows" if first_day == 0 else "the initial delivery replayed"
    days_note = f", days {summary.days[0].day}-{summary.days[-1].day}" if summary.days else ""
    progress(f"{summary.persons:,} persons -> {what}{days_note}, {len(summary.files)} files written "
             f"({summary.seconds:,.1f} s){profile_note}")
    return summary


def main(argv: list[str] | None = None):
    parser = build_parser()
    args = parser.parse_args(argv)
    from spark_lib.generator import get_profile

    try:
        get_profile(args.profile, args.foreign_share)
        changes = daily_changes(args)
    except ValueError as error:
        parser.error(str(error))
    if args.days < 0 or not 0 <= args.first_day <= args.days:
        parser.error(f"--first-day must be between 0 and --days ({args.days}), and --days at least 0")
    pipeline = load_pipeline()
    try:
        return run(
            persons=args.persons or pipeline.default_persons,
            raw_dir=pipeline.resolve(args.raw_dir or pipeline.raw_dir),
            truth_dir=pipeline.resolve(args.truth_dir or pipeline.truth_dir),
            seed=args.seed if args.seed is not None else pipeline.seed,
            reference_date=args.reference_date,
            profile=args.profile,
            foreign_share=args.foreign_share,
            days=args.days,
            first_day=args.first_day,
            changes=changes,
        )
    except ValueError as error:   # arguments that do not fit (a profile without days, days added to other settings)
        parser.error(str(error))


if __name__ == "__main__":
    main()
