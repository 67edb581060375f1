"""Explain: why a customer is what it is. Its records, the links between them, and for a pair of records the
comparisons and weights that decided it (Splink's waterfall).

    rcu explain --customer C3f9a0c2e71d84b5a6c01          records, links, splits and id events of a customer
    rcu explain --record crm_customers:CLI00003105        the same, for the customer holding that record
    rcu explain --pair crm_customers:CLI00003105 eshop_orders:CMD0000002755 [--html waterfall.html]
    rcu explain --customer C3f9a0c2e71d84b5a6c01 --json   machine-readable output
    spark-submit --py-files rcu.zip jobs/explain.py --lakehouse /data/lakehouse --customer C3f9a0c2e71d84b5a6c01

A customer is shown as:

- its records: ``gold.customer_crosswalk`` joined to ``silver.customer_records`` (how each was matched,
  name, birth date, email, mobile, postcode and city, loyalty card, account, cookie);
- the links between them: deterministic edges (``silver.deterministic_edges``: the rule and the shared
  value) and probabilistic pairs (``silver.match_pairs``: probability, weight, blocking rule and the level of
  each comparison); clustering links a pair at the threshold of ``conf/matching_rules.yaml``;
- the links from its records to other customers' records (what merge protection cut, or a pair below the
  threshold);
- the splits of its linked component (``gold.cluster_splits``) and its id events (``gold.customer_id_events``).

A pair is scored again by the champion model of the MLflow registry (``rcu-matching@champion``): the prior,
then per comparison its level, the two values, m, u, the Bayes factor and the match weight; they add up to
the pair's match weight. A record the model does not score (a cookie without a name, an order placed from
an account) is reported as such, with the deterministic links that joined it instead.

The job only reads. An unknown customer or record, a missing table or model ends with a message and exit
code 2. The questions are answered by :mod:`spark_lib.explore`, which the notebooks use too::

    from spark_lib import explore, tables

    explore.customer_records(lake.read(tables.CUSTOMER_RECORDS), lake.read(tables.CROSSWALK), customer_id)
    explore.customer_links(lake, customer_id, threshold=0.9)["probabilistic"]
    explore.explain_records_pair(lake, key_l, key_r, config, tracking_uri=uri)["chart"]
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path
from typing import Any

from jobs.common import JobContext, add_common_arguments, build_context
from spark_lib import explore, tables
from spark_lib.explore import ExplainError, render
from spark_lib.matching import load_matching_config
from spark_lib.matching.clustering import load_clustering_config
from spark_lib.storage import TableNotFoundError


def build_parser(parser: argparse.ArgumentParser | None = None) -> argparse.ArgumentParser:
    parser = parser or argparse.ArgumentParser(prog="rcu explain", description=__doc__,
                                               formatter_class=argparse.RawDescriptionHelpFormatter)
    add_common_arguments(parser)
    what = parser.add_mutually_exclusive_group(required=True)
    what.add_argument("--customer", metavar="CUSTOMER_ID", help=f"a customer id of {tables.CROSSWALK}")
    what.add_argument("--record", metavar="RECORD_KEY", help="a record key ('<source>:<source record id>'): its customer")
    what.add_argument("--pair", nargs=2, metavar=("KEY_L", "KEY_R"),
                      help="two record keys: the model's comparisons and weights for them")
    parser.add_argument("--html", metavar="PATH", help="with --pair: write Splink's waterfall chart to this HTML file")
    parser.add_argument("--json", action="store_true", help="machine-readable output (JSON) on stdout")
    return parser


def run(ctx: JobContext, args: argparse.Namespace) -> dict[str, Any]:
    """What ``main`` prints, as a dict (JSON-ready except ``chart``): :func:`explore.explain_records_pair` for
    ``--pair`` (plus ``html``, the waterfall chart's path, with ``--html``), else
    :func:`explore.explain_customer`."""
    if args.pair:
        config = load_matching_config(ctx.conf_dir / "matching.yaml")
        pair = explore.explain_records_pair(ctx.lake, *args.pair, config, tracking_uri=ctx.pipeline.mlflow_tracking_uri,
                                            model_name=ctx.pipeline.model_name)
        if args.html and pair.get("chart") is not None:
            path = Path(args.html)
            path.parent.mkdir(parents=True, exist_ok=True)
            path.write_text(pair["chart"].to_html(inline=True), encoding="utf-8")  # opens without internet access
            pair["html"] = str(path)
        return pair
    customer_id = args.customer or explore.customer_of_record(ctx.lake, args.record)
    threshold = load_clustering_config(ctx.conf_dir / "matching_rules.yaml").threshold
    return explore.explain_customer(ctx.lake, customer_id, threshold, record=args.record)


def main(argv: list[str] | None = None) -> dict[str, Any]:
    parser = build_parser()
    args = parser.parse_args(argv)
    if args.html and not args.pair:
        parser.error("--html goes with --pair")
    ctx = build_context(args, "rcu-explain")
    try:
        result = run(ctx, args)
    except (ExplainError, TableNotFoundError) as error:
        print(f"rcu explain: error: {error}", file=sys.stderr)
        raise SystemExit(2) from error
    print(render(result, as_json=args.json))
    if args.html and not result.get("html"):
        print("No waterfall chart: the model does not score this pair.", file=sys.stderr)
    return result


if __name__ == "__main__":
    main()
