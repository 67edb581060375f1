"""Review import: a data steward's decisions from a file into ``ops.review_decisions``.

    rcu review-import FILE --reviewer NAME
    spark-submit --py-files rcu.zip jobs/review_import.py decisions.csv --reviewer m.durand --lakehouse /data/lakehouse

``FILE`` is CSV (header ``record_key_l,record_key_r,decision,reason`` for pairs, or
``record_key,customer_id,reason`` for record-to-customer assignments) or YAML (a list of such mappings).
Every line is checked first (known records and customers, a decision among same | different | unsure, no
duplicate, no record paired with itself); one error refuses the whole file, each error naming its line
(exit code 1). The decisions are appended with origin ``file`` and the records' current hashes; importing the
same file twice adds nothing. The next ``rcu match`` applies them (``spark_lib.matching.overrides``); how an
assignment becomes decisions is in ``spark_lib.matching.review_file``.
"""

from __future__ import annotations

import argparse
import datetime as dt
import json
import sys
from dataclasses import dataclass
from pathlib import Path

from jobs.common import JobContext, add_common_arguments, add_lock_argument, writing_run
from spark_lib import tables
from spark_lib.matching.review_file import DecisionFileError, decision_rows, read_decision_file


@dataclass
class ImportReport:
    file: str
    lines: int = 0
    #: decisions the file gives (assignments expanded), and those not logged before
    decisions: int = 0
    added: int = 0


def run(ctx: JobContext, path: Path, reviewer: str, now: dt.datetime | None = None) -> ImportReport:
    """Check ``path`` whole and append its decisions (raises DecisionFileError listing the lines at fault)."""
    entries, digest = read_decision_file(path)
    lake = ctx.lake
    now = now or dt.datetime.now(dt.timezone.utc).replace(microsecond=0)
    rows = decision_rows(entries, digest, lake.read(tables.CUSTOMER_RECORDS), lake.read_or_none(tables.CROSSWALK), reviewer,
                         now, str(path)).localCheckpoint()
    report = ImportReport(str(path), lines=len(entries), decisions=rows.count())
    report.added = lake.append_new(rows, tables.REVIEW_DECISIONS, keys=["decision_id"]) if report.decisions else 0
    return report


def build_parser(parser: argparse.ArgumentParser | None = None) -> argparse.ArgumentParser:
    parser = parser or argparse.ArgumentParser(prog="rcu review-import", description=__doc__)
    parser.add_argument("file", help="CSV or YAML file of pair decisions or record-to-customer assignments")
    parser.add_argument("--reviewer", required=True, help="who decided (logged with each decision)")
    add_common_arguments(parser)
    add_lock_argument(parser)
    return parser


def main(argv: list[str] | None = None) -> ImportReport | int:
    args = build_parser().parse_args(argv)
    with writing_run(args, "rcu-review-import", "rcu review-import", steps=[], check_files=False) as ctx:
        try:
            report = run(ctx, Path(args.file), args.reviewer)
        except (DecisionFileError, OSError) as error:
            print(f"rcu review-import: error: {error}", file=sys.stderr)
            return 1
    print(json.dumps(report.__dict__, indent=2))
    return report


if __name__ == "__main__":
    result = main()
    sys.exit(result if isinstance(result, int) else 0)
