"""Run-all: every pipeline step in order, in one Spark session, with a summary at the end.

generate (with --persons) -> ingest (bronze) -> standardise (silver) -> match (crosswalk, ids) -> gold
(golden records, 360, segments) -> activate (audiences, KPIs) -> dashboard (HTML report).

    rcu run-all --persons 10000            generate, then every step
    rcu run-all --persons 10000 --profile store_crm_only    the same on another generator profile
    rcu run-all                            the steps after generation, on the raw files already there
    rcu run-all --full                     every step, even those whose inputs have not changed

A step whose input tables have not changed since run-all last ran it to its end, under the same
configuration, code and matching champion, is skipped (``spark_lib.run_state``, ``ops.run_state``): a day
with no new file ends after ingest, saying there is nothing to do. ``--retrain`` always runs the match step.
"""

from __future__ import annotations

import argparse
import sys
import time

from jobs import activate, dashboard, generate, gold, ingest, match, standardise
from jobs.common import (
    RUN_STEPS,
    JobContext,
    Progress,
    add_common_arguments,
    add_lock_argument,
    check_raw_files,
    step_fingerprint,
    writing_run,
)
from spark_lib import tables
from spark_lib.run_state import RunState


def build_parser(parser: argparse.ArgumentParser | None = None) -> argparse.ArgumentParser:
    parser = parser or argparse.ArgumentParser(prog="rcu run-all", description=__doc__)
    add_common_arguments(parser)
    add_lock_argument(parser)
    parser.add_argument("--persons", type=int, help="generate synthetic data for this many persons first")
    parser.add_argument("--seed", type=int, default=None, help="generator seed (default: pipeline.yaml seed)")
    parser.add_argument("--truth-dir", help="where the generator writes the ground truth")
    generate.add_profile_arguments(parser)
    choice = parser.add_mutually_exclusive_group()
    choice.add_argument("--retrain", action="store_true", help="train a new matching model even if one is registered")
    choice.add_argument("--accept-champion", action="store_true",
                        help="score with the registered champion even when it was trained on other data")
    parser.add_argument("--full", action="store_true",
                        help="run every step, even those whose inputs have not changed since their last run")
    return parser


def main(argv: list[str] | None = None) -> dict:
    parser = build_parser()
    args = parser.parse_args(argv)
    if args.persons:
        from spark_lib.generator import get_profile

        try:
            get_profile(args.profile, args.foreign_share)
        except ValueError as error:
            parser.error(str(error))
    started = time.perf_counter()
    steps = (["generate"] if args.persons else []) + ["ingest", "standardise", "match", "gold", "activate", "dashboard"]
    total = len(steps)
    # Every configuration file of every step is checked first (the raw files' columns too, unless the
    # generator is about to write them: then right after it), and the lakehouse is locked once for all steps.
    with writing_run(args, "rcu-run-all", "rcu run-all", steps=RUN_STEPS, check_files=not args.persons) as ctx:
        summary = _run_steps(ctx, args, steps)
    elapsed = time.perf_counter() - started
    print(f"rcu run-all: {total} steps in {elapsed:,.1f} s ({elapsed / 60:,.1f} min); lakehouse at {ctx.lake.root}",
          file=sys.stderr)
    if "dashboard" in summary:
        print(f"dashboard: {summary['dashboard'].path}", file=sys.stderr)
    metrics = summary["match"].metrics if "match" in summary else {}
    if "pairwise_f1" in metrics:
        print(
            "matching quality vs ground truth, all records: pairwise precision {pairwise_precision:.4f} recall "
            "{pairwise_recall:.4f} F1 {pairwise_f1:.4f}; B-cubed F1 {bcubed_f1:.4f} (best reachable recall "
            "{recall_ceiling:.4f}: anonymous records carry nothing to match on)".format(**metrics),
            file=sys.stderr,
        )
        print(
            "matching quality vs ground truth, identified records ({anonymous:,} anonymous left out): pairwise "
            "precision {identified_pairwise_precision:.4f} recall {identified_pairwise_recall:.4f} F1 "
            "{identified_pairwise_f1:.4f}; B-cubed F1 {identified_bcubed_f1:.4f}; largest cluster "
            "{largest_cluster} records, {largest_guarded_cluster} beyond its deterministic core".format(anonymous=summary["match"].anonymous_records, **metrics),
            file=sys.stderr,
        )
    return summary


def _run_steps(ctx, args: argparse.Namespace, steps: list[str]) -> dict:
    """Each step in order, with its progress lines; their reports by step. A step that is up to date (see
    :func:`step_inputs`) is skipped, unless ``--full``."""
    total = len(steps)
    summary: dict = {}
    state = RunState(ctx.lake)
    for index, step in enumerate(steps, start=1):
        progress = Progress(step, index, total)
        inputs = step_inputs(ctx, step)
        if inputs is not None:
            forced = args.full or step == "match" and (args.retrain or args.accept_champion)
            if not forced and _outputs_exist(ctx, step) and state.up_to_date(step, inputs, step_fingerprint(ctx, step)):
                progress("up to date: its inputs have not changed since its last run (--full runs it anyway)")
                continue
            versions = state.versions(inputs)
            since = None if args.full else state.consumed(step, step_fingerprint(ctx, step))
        progress("starting")
        if step == "generate":
            summary[step] = generate.run(
                persons=args.persons,
                raw_dir=ctx.raw_dir,
                truth_dir=ctx.truth_dir,
                seed=args.seed if args.seed is not None else ctx.pipeline.seed,
                reference_date="2026-10-31",
                progress=progress,
                profile=args.profile,
                foreign_share=args.foreign_share,
            )
            check_raw_files(ctx, "rcu run-all")  # the mapped columns, now that the files are there
        elif step == "ingest":
            summary[step] = ingest.run(ctx, progress=progress)
        elif step == "standardise":
            summary[step] = standardise.run(ctx, progress=progress, since=since)
        elif step == "match":
            summary[step] = match.run(ctx, retrain=args.retrain, progress=progress,
                                      accept_champion=args.accept_champion, full=args.full)
        elif step == "gold":
            summary[step] = gold.run(ctx, progress=progress, since=since, until=versions)
        elif step == "activate":
            summary[step] = activate.run(ctx, progress=progress)
        elif step == "dashboard":
            summary[step] = dashboard.run(ctx, progress=progress)
        if inputs is not None:
            # taken after the step: the champion a first match trains is the one its output comes from
            state.record(step, versions, step_fingerprint(ctx, step))
        progress(f"done in {progress.seconds:,.1f} s")
    if not summary.keys() - {"generate", "ingest"}:
        print("rcu run-all: nothing to do: no new file, and every step is up to date", file=sys.stderr)
    return summary


def step_inputs(ctx: JobContext, step: str) -> list[str] | None:
    """The tables ``step`` reads (None: a step that always runs: generate, and ingest, which looks for new
    files itself). Named from the configuration and the catalogue, not listed: object stores list no tables."""
    silver = [tables.CUSTOMER_RECORDS, *sorted({tables.interactions(spec.interactions.table)
                                               for spec in ctx.sources.sources if spec.interactions})]
    published = [t for t in tables.CATALOGUE if t.layer == "gold" and t not in (tables.AUDIENCE_MEMBERS, tables.KPI_SNAPSHOTS)]
    inputs = {
        "standardise": [tables.bronze(spec.name) for spec in ctx.sources.sources]
                       + ([tables.DELETIONS] if any(spec.deletions for spec in ctx.sources.sources) else []),
        # a steward's decisions and the stream's login links change customers as new records do
        "match": [tables.CUSTOMER_RECORDS, tables.REVIEW_DECISIONS, tables.STREAM_IDENTITY_LINKS],
        "gold": [*silver, tables.CROSSWALK],
        "activate": [*silver, *published],
        "dashboard": [t for t in tables.CATALOGUE if t.layer == "gold"],
    }.get(step)
    return None if inputs is None else [str(t) for t in inputs]


#: the table (or the dashboard's file) a step writes: a step whose output is gone runs again
_OUTPUTS = {"standardise": tables.CUSTOMER_RECORDS, "match": tables.CROSSWALK, "gold": tables.CUSTOMER,
            "activate": tables.KPI_SNAPSHOTS}


def _outputs_exist(ctx: JobContext, step: str) -> bool:
    if step == "dashboard":
        return dashboard.default_output(ctx.lake.root).is_file()
    return ctx.lake.exists(str(_OUTPUTS[step]))
