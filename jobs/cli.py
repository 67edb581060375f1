"""``rcu``: the command line of the customer reference pipeline, one subcommand per step.

    rcu init --raw-dir DIR           propose a sources.yaml for a retailer's own files (review its uncertain lines)
    rcu check --sources FILE         validate a sources.yaml against the files: fill and standardisation rates
    rcu generate --persons 10000     synthetic raw files + ground truth
    rcu ingest                       raw files -> bronze Delta tables (+ row and file quarantines; exit 3: files quarantined)
    rcu standardise                  bronze -> silver customer records and interactions
    rcu match [--retrain]            records -> customers: gold.customer_crosswalk, id registry, F1 vs truth
    rcu gold                         golden records, provenance, customer 360, segments
    rcu activate                     trigger audiences and KPI snapshots
    rcu dashboard                    HTML report (reports/dashboard.html beside the lakehouse)
    rcu export --audience NAME --out F.csv    an audience's members as CSV, every cell safe to open in a spreadsheet
    rcu explain --customer C… | --record KEY | --pair K1 K2    a customer's records and links; a pair's weights
    rcu review-sample --size 300 --seed N    a stratified sample of the matched pairs to review (gold.review_sample)
    rcu review-estimate [--sample-id ID]     precision estimated from the sample's reviews, with its 95 % interval
    rcu privacy access|erase|object|verify|purge    a person's rights of access, erasure and objection
    rcu review [--port 8765]         a local web page to review gold.review_queue's pairs; decisions to ops.review_decisions
    rcu review-import FILE --reviewer NAME    a data steward's decisions (pairs, record-to-customer) from CSV or YAML
    rcu run-all --persons 10000      every step, in order, in one Spark session
    rcu kafka start|stop|status      the project's Kafka broker on 127.0.0.1 (prints its address)
    rcu replay --rate 200            the online events of the raw folder to Kafka, with late, duplicate, malformed ones
    rcu stream [--once] [--status]   the online events from Kafka (or --from-folder) to bronze, silver and real-time triggers

Every writing step (and run-all, once) checks the configuration files it reads before any table changes,
then locks the lakehouse: a second run stops at once, or waits ``--wait-lock SECONDS``.

``rcu <step> --help`` explains each step's options.
"""

from __future__ import annotations

import argparse
import importlib
import sys

from spark_lib.config import ConfigError
from spark_lib.lock import LakehouseBusyError

# step name -> (module, one-line help). Modules are imported only when their step runs, so --help is quick.
STEPS: dict[str, tuple[str, str]] = {
    "init": ("jobs.init", "look at a folder of raw files and propose a sources.yaml, uncertain choices marked"),
    "check": ("jobs.check", "validate a sources.yaml against the raw files: columns, fill and standardisation rates"),
    "generate": ("jobs.generate", "write synthetic raw files for N persons and the ground truth (evaluation only)"),
    "ingest": ("jobs.ingest", "land new raw files in bronze Delta tables; bad rows go to bronze.quarantine, bad files to bronze.file_quarantine"),
    "standardise": ("jobs.standardise", "conform bronze into silver.customer_records and silver interaction tables"),
    "match": ("jobs.match", "link records into customers (deterministic + Splink), persistent ids, crosswalk, evaluation"),
    "gold": ("jobs.gold", "golden customers with provenance (MERGE, change feed), customer 360, RFM and temperature segments"),
    "activate": ("jobs.activate", "trigger audiences from conf/audiences.yaml (consented channels only) and KPI snapshots"),
    "dashboard": ("jobs.dashboard", "a self-contained HTML report of the gold tables"),
    "export": ("jobs.export", "an audience's members as one CSV file (cells that would start a formula are neutralised)"),
    "privacy": ("jobs.privacy", "a person's rights: access export, erasure from every layer, objection, verify, purge"),
    "review-import": ("jobs.review_import", "a data steward's decisions from a CSV or YAML file, checked whole, into ops.review_decisions"),
    "explain": ("jobs.explain", "why a customer is what it is: its records and links; a pair's comparisons and weights (Splink waterfall)"),
    "review-sample": ("jobs.review_sample", "draw a stratified sample of the pairs the last match run declares matches, for review"),
    "review-estimate": ("jobs.review_estimate", "precision estimated from a review sample's decisions, with its 95 %% interval"),
    "kafka": ("jobs.kafka_broker", "start, stop or look at the project's Kafka broker (127.0.0.1, KRaft, one node)"),
    "replay": ("jobs.replay", "publish the raw folder's online events to Kafka at a rate, some late, duplicated or malformed"),
    "stream": ("jobs.stream", "process the online events from Kafka (or a folder): bronze, silver, identity links, real-time triggers"),
    "review": ("jobs.review", "a local web page (127.0.0.1) to review queued pairs: same person, different, unsure"),
    "run-all": ("jobs.run_all", "run every step in order (generate when asked, ingest, standardise, ...)"),
}


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="rcu",
        description="Référentiel client unique: one golden record per real person, from every channel.",
        formatter_class=argparse.RawDescriptionHelpFormatter,
        epilog=__doc__,
    )
    commands = parser.add_subparsers(dest="command", metavar="<step>")
    for name, (module, help_text) in STEPS.items():
        job = importlib.import_module(module)
        sub = commands.add_parser(name, help=help_text, description=(job.__doc__ or help_text),
                                  formatter_class=argparse.RawDescriptionHelpFormatter)
        job.build_parser(sub)
    return parser


def main(argv: list[str] | None = None) -> int:
    argv = sys.argv[1:] if argv is None else argv
    parser = build_parser()
    args = parser.parse_args(argv)
    if not args.command:
        parser.print_help()
        return 2
    module = importlib.import_module(STEPS[args.command][0])
    try:
        result = module.main(argv[1:])
    except (ConfigError, LakehouseBusyError) as error:
        # a wrong configuration file or a busy lakehouse: what to fix, not a stack trace
        message = str(error)
        print(message if message.startswith("rcu ") else f"rcu {args.command}: error: {message}", file=sys.stderr)
        return 1
    # init, check and ingest return their exit code; the other steps return their report (success)
    return result if isinstance(result, int) and not isinstance(result, bool) else 0


if __name__ == "__main__":
    sys.exit(main())
