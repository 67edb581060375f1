"""Review: a local web page where a data steward works through gold.review_queue (issue 18).

    rcu review                                   http://127.0.0.1:8765/ (prints the address)
    rcu review --port 0                          a free port
    rcu review --lakehouse /data/lakehouse --port 9000
    rcu review --host 0.0.0.0 --allow-remote     serve the network: no login, personal data (warns)

The page shows each queued pair's two records side by side, the fields that differ highlighted, the waterfall
of the comparisons' weights, the reasons it was queued, and takes the steward's decision: same person (``s``),
different persons (``d``), unsure (``u``), with a reason. It searches the queue by name, email or customer id.
Each decision is appended to ``ops.review_decisions`` (pair, decision, reviewer, time, reason, the records'
hashes); the next ``rcu match`` applies them. The page and its JSON API are described in
:mod:`spark_lib.review.app`; a script can call the same API, or :class:`spark_lib.review.ReviewStore` directly.

No Spark starts: the queue is read with the ``deltalake`` package, in a second on a 100k-person lakehouse,
and read again when a match run rewrites it. The lakehouse lock is not taken (a decision is a Delta append,
which commits beside a running match; that run reads the decisions made before it started).
Stop with Ctrl+C.
"""

from __future__ import annotations

import argparse
import logging
import sys

from jobs.common import _configuration, add_common_arguments
from spark_lib.review.app import RemoteBindError, allowed_hosts, bind_socket, create_app, page_url, serve
from spark_lib.review.store import ReviewStore

DEFAULT_PORT = 8765


def build_parser(parser: argparse.ArgumentParser | None = None) -> argparse.ArgumentParser:
    parser = parser or argparse.ArgumentParser(prog="rcu review", description=__doc__,
                                               formatter_class=argparse.RawDescriptionHelpFormatter)
    add_common_arguments(parser)
    parser.add_argument("--host", default="127.0.0.1",
                        help="address to serve (default: 127.0.0.1; another than loopback needs --allow-remote)")
    parser.add_argument("--port", type=int, default=DEFAULT_PORT, help=f"port (default: {DEFAULT_PORT}; 0: a free one)")
    parser.add_argument("--allow-remote", action="store_true",
                        help="serve an address other than loopback: anyone who reaches it sees personal data, "
                             "with no login")
    parser.add_argument("--refresh-seconds", type=float, default=2.0,
                        help="how often, at most, the page checks for a new queue or decisions (default: 2)")
    return parser


def main(argv: list[str] | None = None) -> str:
    """Serve the review page until interrupted; returns its address."""
    parser = build_parser()
    args = parser.parse_args(argv)
    if not 0 <= args.port <= 65535:
        parser.error(f"--port must be 0 to 65535, got {args.port}")
    try:
        sock = bind_socket(args.host, args.port, allow_remote=args.allow_remote)
    except RemoteBindError as error:
        parser.error(str(error))
    except OSError as error:
        print(f"rcu review: error: cannot serve {args.host}:{args.port}: {error.strerror or error}", file=sys.stderr)
        raise SystemExit(2) from error
    _, pipeline, _ = _configuration(args)
    try:
        store = ReviewStore(pipeline.resolve(pipeline.lakehouse_dir), refresh_seconds=args.refresh_seconds)
    except ValueError as error:   # not a local folder, or a queue the page cannot read
        sock.close()
        print(f"rcu review: error: {error}", file=sys.stderr)
        raise SystemExit(2) from error
    url = page_url(sock)
    if args.allow_remote and not sock.getsockname()[0].startswith("127."):
        print(f"rcu review: warning: serving {args.host} beyond this machine, without a login: whoever reaches "
              f"{url} sees the queued customers' personal data and can record decisions", file=sys.stderr)
    logging.basicConfig(level=logging.WARNING, format="%(asctime)s %(name)s %(levelname)s %(message)s")
    logging.getLogger("rcu.review").setLevel(logging.INFO)   # one line per request: method, endpoint, status, ms
    progress = store.progress()
    print(f"rcu review: {progress['pending']} pending of {progress['queued']} queued pairs in {store.root}")
    print(f"rcu review: open {url}  (Ctrl+C stops)", flush=True)
    serve(create_app(store, allowed_hosts(sock)), sock)
    return url


if __name__ == "__main__":
    main()
