"""Replay: publish the online events of the raw folder to Kafka at a chosen rate, as real traffic would come.

    rcu kafka start && rcu replay --rate 200                  every event, 200 messages per second
    rcu replay --limit 5000 --rate 1000 --late-share 0.1      the first 5,000 events, 10 % of them late
    rcu replay --bootstrap-servers 127.0.0.1:40613 --topic-prefix demo. --rate 0    as fast as the broker takes them

The events are those of the files the batch reads (``rcu generate`` writes them; conf/sources.yaml says where):
page views, product views, add-to-cart, check-outs and logins (web/navigation*), orders and carts
(eshop/commandes*), email sends, opens, clicks and bounces (emailing/evenements_campagnes*). One topic per kind
(pipeline.yaml ``kafka.topics``, or ``<prefix>navigation``, ``<prefix>orders``, ``<prefix>campaign_events``),
created with ``kafka.partitions`` partitions when missing. Each message is JSON: ``event_id``, ``event_time``
(UTC), ``event_type``, ``kind``, ``source``, ``record_id`` and ``data``, the source row less names, email, phone,
address and birth date; its key is the cookie, account or email contact, so one person's events stay in order in
one partition (spark_lib/streaming/events.py).

They leave in event-time order with the disorder of real traffic, drawn from ``--seed``: ``--late-share`` of the
events arrive up to ``--late-seconds`` late, ``--duplicate-share`` are sent twice (same message), and
``--malformed-share`` extra messages are broken (cut JSON, no event id, an unreadable time). ``--rate`` is held
from the first message to the last (the rate achieved is printed); the summary gives counts, never a value.
"""

from __future__ import annotations

import argparse

from jobs.common import Progress, add_kafka_arguments
from spark_lib.config import TopicsConfig, load_pipeline, load_sources


def build_parser(parser: argparse.ArgumentParser | None = None) -> argparse.ArgumentParser:
    from spark_lib.streaming.replay import Disorder

    defaults = Disorder()
    parser = parser or argparse.ArgumentParser(prog="rcu replay", description=__doc__,
                                               formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--conf-dir", help="folder holding pipeline.yaml and sources.yaml (default: conf/)")
    parser.add_argument("--raw-dir", help="folder of the raw source files (default: pipeline.yaml raw_dir)")
    parser.add_argument("--sources", help="sources YAML file (default: <conf-dir>/sources.yaml)")
    add_kafka_arguments(parser, "publish to")
    parser.add_argument("--rate", type=float, default=200.0,
                        help="messages per second; 0 sends as fast as the broker takes them (default: 200)")
    parser.add_argument("--limit", type=int, help="replay only the first N events in event-time order (default: all)")
    parser.add_argument("--late-share", type=float, default=defaults.late_share,
                        help=f"share of the events delivered late (default: {defaults.late_share:g})")
    parser.add_argument("--late-seconds", type=int, default=defaults.late_seconds,
                        help=f"a late event arrives 1 s to this many seconds after its time (default: {defaults.late_seconds})")
    parser.add_argument("--duplicate-share", type=float, default=defaults.duplicate_share,
                        help=f"share of the events sent twice (default: {defaults.duplicate_share:g})")
    parser.add_argument("--malformed-share", type=float, default=defaults.malformed_share,
                        help=f"extra broken messages, as a share of the events (default: {defaults.malformed_share:g})")
    parser.add_argument("--seed", type=int, help="seed of the disorder (default: pipeline.yaml seed)")
    return parser


def main(argv: list[str] | None = None):
    from spark_lib.streaming.events import read_online_events
    from spark_lib.streaming.kafka_client import KafkaError
    from spark_lib.streaming.replay import plan_replay, publish

    parser = build_parser()
    args = parser.parse_args(argv)
    pipeline, sources, disorder, topics = settings(parser, args)
    raw_dir = pipeline.resolve(args.raw_dir or pipeline.raw_dir)
    bootstrap = args.bootstrap_servers or pipeline.kafka.bootstrap_servers
    progress = Progress("replay")

    read = read_online_events(sources, raw_dir)
    events = read.events[: args.limit]
    if not events:
        parser.exit(1, f"rcu replay: error: no online event under {raw_dir} (rcu generate writes some)\n")
    progress(f"{len(read.events):,} events read from {raw_dir}; {sum(read.skipped.values()):,} unreadable rows and "
             f"{sum(read.repeated.values()):,} repeated ones skipped; replaying {len(events):,} to {bootstrap}")
    try:
        report = publish(plan_replay(events, disorder), bootstrap, topics, pipeline.kafka.partitions,
                         rate=args.rate or None, progress=progress)
    except KafkaError as error:
        parser.exit(1, f"rcu replay: error: Kafka at {bootstrap}: {error!r} (is a broker running? rcu kafka start)\n")
    print(summary(report))
    return report


def settings(parser: argparse.ArgumentParser, args: argparse.Namespace):
    """The configuration and the replay's options: (pipeline, sources, disorder, topics); a usage error when an
    option is out of range."""
    from spark_lib.streaming.replay import Disorder

    if args.rate < 0 or (args.limit is not None and args.limit < 1):
        parser.error("--rate must be 0 or more, --limit at least 1")
    conf_dir = args.conf_dir
    pipeline = load_pipeline(f"{conf_dir}/pipeline.yaml" if conf_dir else None)
    sources = load_sources(args.sources or (f"{conf_dir}/sources.yaml" if conf_dir else None))
    try:
        disorder = Disorder(late_share=args.late_share, late_seconds=args.late_seconds,
                            duplicate_share=args.duplicate_share, malformed_share=args.malformed_share,
                            seed=pipeline.seed if args.seed is None else args.seed)
        topics = pipeline.kafka.topics if args.topic_prefix is None else TopicsConfig.with_prefix(args.topic_prefix)
    except ValueError as error:   # a share out of range, a prefix Kafka refuses
        parser.error(str(error))
    return pipeline, sources, disorder, topics


def summary(report) -> str:
    """The lines printed at the end of a replay: counts and rates only."""
    asked = f"{report.target_rate:,.0f}/s asked" if report.target_rate else "unpaced"
    flaws = ", ".join(f"{flaw} {count:,}" for flaw, count in report.malformed.items())
    topics = ", ".join(f"{topic} {count:,}" for topic, count in report.per_topic.items())
    return (f"sent {report.sent:,} messages for {report.events:,} events in {report.seconds:,.1f} s: "
            f"{report.rate:,.0f}/s achieved ({asked})\n"
            f"  late {report.late:,}, duplicated {report.duplicated:,}, "
            f"malformed {sum(report.malformed.values()):,} ({flaws})\n"
            f"  per topic: {topics}")


if __name__ == "__main__":
    main()
