"""Export: an audience's members as one CSV file for a campaign tool or a spreadsheet.

The file holds, for each member of the audience on its run date (default: its latest snapshot), the
customer's id, civility and names, the channel chosen and its contact (email, E.164 mobile or postal address:
only consented channels are in ``gold.audience_members``) and the reason they qualified. It carries personal
data: it is written only where ``--out`` says, never logged.

Every cell is made safe to open in a spreadsheet: a value that would start a formula (``=``, ``+``, ``-``,
``@``, tab) gets a leading ``'`` (``spark_lib.gold.exports``); ``--no-spreadsheet-guard`` writes values as
they are, for a tool that imports CSV without a spreadsheet in between.

    rcu export --audience abandoned_cart --out exports/panier.csv [--run-date 2026-10-31] [--separator ,]
"""

from __future__ import annotations

import argparse
import sys

from jobs.common import add_common_arguments, build_context, parse_date
from spark_lib.gold.exports import ExportError, audience_export, write_csv
from spark_lib.storage import TableNotFoundError


def build_parser(parser: argparse.ArgumentParser | None = None) -> argparse.ArgumentParser:
    parser = parser or argparse.ArgumentParser(prog="rcu export", description=__doc__,
                                               formatter_class=argparse.RawDescriptionHelpFormatter)
    add_common_arguments(parser)
    parser.add_argument("--audience", required=True, help="the audience's name (conf/audiences.yaml)")
    parser.add_argument("--out", required=True, help="the CSV file to write (replaced if it exists)")
    parser.add_argument("--run-date", type=parse_date, help="the snapshot to export (default: the latest)")
    parser.add_argument("--separator", default=";", help="field separator (default ';', as French Excel reads)")
    parser.add_argument("--no-spreadsheet-guard", dest="spreadsheet", action="store_false",
                        help="write values as they are (no leading ' before formula-like cells)")
    return parser


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    ctx = build_context(args, "rcu-export")
    try:
        rows = write_csv(audience_export(ctx.lake, args.audience, args.run_date), args.out, args.separator,
                         spreadsheet=args.spreadsheet)
    except (ExportError, TableNotFoundError) as error:
        print(f"rcu export: error: {error}", file=sys.stderr)
        return 1
    print(f"rcu export: {rows:,} member(s) of {args.audience!r} written to {args.out}", file=sys.stderr)
    return 0


if __name__ == "__main__":
    sys.exit(main())
