"""Kafka: start, stop or look at the project's own Kafka broker (Apache Kafka 4.1, KRaft, one node).

    rcu kafka start                       on 127.0.0.1:9092 (the port of pipeline.yaml kafka.bootstrap_servers)
    rcu kafka start --port 0              on a free port; prints the address to give `rcu replay`
    rcu kafka start --dir /tmp/kafka --port 19092
    rcu kafka status                      the address when it runs (exit 0), else exit 1
    rcu kafka stop                        a clean shutdown (SIGTERM), the messages kept on disk

The broker listens on 127.0.0.1 only and keeps its data, its log (broker.log) and its pid file in one folder
(pipeline.yaml ``kafka.broker_dir``, or ``--dir``); a broker started again on the same folder has its topics
and messages back. Its jars come from ``make setup`` (.jars/kafka/). ``start`` prints the bootstrap address
alone on standard output, so a script can take it: ``BOOTSTRAP=$(rcu kafka start --port 0)``.
"""

from __future__ import annotations

import argparse
import sys
import time

from spark_lib.config import load_pipeline
from spark_lib.streaming.broker import BrokerError, KafkaBroker


def build_parser(parser: argparse.ArgumentParser | None = None) -> argparse.ArgumentParser:
    parser = parser or argparse.ArgumentParser(prog="rcu kafka", description=__doc__,
                                               formatter_class=argparse.RawDescriptionHelpFormatter)
    actions = parser.add_subparsers(dest="action", metavar="<action>", required=True)
    starting = actions.add_parser("start", help="start the broker (formatting its folder the first time), "
                                                "print its address")
    starting.add_argument("--port", type=int,
                          help="client port on 127.0.0.1; 0 picks a free one (default: the port of the previous "
                               "start, else that of pipeline.yaml kafka.bootstrap_servers)")
    actions.add_parser("stop", help="stop the broker cleanly")
    actions.add_parser("status", help="print the broker's address if it runs (exit 1 if not)")
    for sub in actions.choices.values():
        sub.add_argument("--dir", help="the broker's folder (default: pipeline.yaml kafka.broker_dir)")
        sub.add_argument("--conf-dir", help="folder holding pipeline.yaml (default: conf/)")
    return parser


def configured_port(bootstrap_servers: str) -> int | None:
    """The port of ``bootstrap_servers`` when it names one broker of this machine, else None."""
    host, _, port = bootstrap_servers.strip().rpartition(":")
    return int(port) if host in ("127.0.0.1", "localhost") and "," not in bootstrap_servers else None


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    actions = {"start": start, "stop": stop, "status": status}
    try:
        return actions[args.action](project_broker(args))
    except (BrokerError, ValueError) as error:   # ValueError: a port out of range
        print(f"rcu kafka {args.action}: error: {error}", file=sys.stderr)
        return 1


def project_broker(args: argparse.Namespace) -> KafkaBroker:
    """The broker of ``--dir`` (else pipeline.yaml ``kafka.broker_dir``); a first start takes the port of
    ``kafka.bootstrap_servers`` when that names this machine and ``--port`` is not given."""
    pipeline = load_pipeline(f"{args.conf_dir}/pipeline.yaml" if args.conf_dir else None)
    broker = KafkaBroker(args.dir or pipeline.resolve(pipeline.kafka.broker_dir), port=getattr(args, "port", None))
    if args.action == "start" and broker.port is None and not broker.properties_file.exists():
        broker.port = configured_port(pipeline.kafka.bootstrap_servers)
    return broker


def start(broker: KafkaBroker) -> int:
    """Start the broker; its address alone on standard output."""
    began = time.perf_counter()
    address = broker.start()
    print(f"rcu kafka: broker running on {address} (ready in {time.perf_counter() - began:.1f} s; "
          f"folder {broker.directory}, log {broker.log_file})", file=sys.stderr)
    print(address)
    return 0


def stop(broker: KafkaBroker) -> int:
    stopped = broker.stop()
    print(f"rcu kafka: broker of {broker.directory} {'stopped' if stopped else 'was not running'}", file=sys.stderr)
    return 0


def status(broker: KafkaBroker) -> int:
    """The broker's address and 0 when it runs, else 1."""
    current = broker.status()
    if not current.running:
        print(f"rcu kafka: no broker runs on {broker.directory}", file=sys.stderr)
        return 1
    print(current.bootstrap_servers)
    return 0


if __name__ == "__main__":
    sys.exit(main())
