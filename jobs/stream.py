"""Stream: the online events from Kafka (or a landing folder) to bronze, silver, identity links and real-time triggers.

    rcu kafka start && rcu replay --rate 200 &      the events arrive...
    rcu stream                                      ...and are processed every few seconds until Ctrl-C
    rcu stream --once                               what the topics hold now, then stop (tests, batch-like use)
    rcu stream --from-folder landing/               JSON-lines files of the same messages, available-now
    rcu stream --status                             lag per topic, rows per table, the last micro-batch

Topics and brokers come from pipeline.yaml ``kafka`` (``--bootstrap-servers``, ``--topic-prefix`` override them);
the watermark, the pace, the frequency cap, the outbound topic and the triggers from ``conf/triggers.yaml``. Each
micro-batch writes bronze.stream_events, bronze.quarantine, silver.late_events, the silver interaction tables,
silver.stream_identity_links, gold.trigger_events and ops.stream_batches, and publishes its firings to the outbound
topic (folder mode: ``--out-dir``, default ``<lakehouse>/_outbound/triggers``); see spark_lib/streaming/stream.py.
Spark's checkpoint is ``<lakehouse>/_checkpoints/stream`` (folder mode: ``stream-folder``): a stream stopped or
killed starts again where it was, and a micro-batch it replays writes nothing twice.

The stream does not take the lakehouse lock (it runs for days; the batch would wait for ever): do not run
``rcu standardise`` while it writes the silver interaction tables (two writers of one Delta table conflict).
"""

from __future__ import annotations

import argparse
import dataclasses
from pathlib import Path

from jobs.common import Progress, add_kafka_arguments, build_context
from spark_lib.config import PipelineConfig, TopicsConfig
from spark_lib.streaming.triggers import TriggersConfig


def build_parser(parser: argparse.ArgumentParser | None = None) -> argparse.ArgumentParser:
    parser = parser or argparse.ArgumentParser(prog="rcu stream", description=__doc__,
                                               formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--conf-dir", help="folder holding pipeline.yaml, sources.yaml and triggers.yaml (default: conf/)")
    parser.add_argument("--lakehouse", help="Delta lakehouse folder (default: pipeline.yaml lakehouse_dir)")
    parser.add_argument("--sources", help="sources YAML file (default: <conf-dir>/sources.yaml)")
    parser.add_argument("--triggers", help="triggers YAML file (default: <conf-dir>/triggers.yaml)")
    add_kafka_arguments(parser, "read")
    parser.add_argument("--from-folder", metavar="DIR", help="read JSON-lines files of messages from DIR instead of Kafka "
                                                             "(available-now: what is there, then stop)")
    parser.add_argument("--out-dir", help="folder mode: where the firings go (default: <lakehouse>/_outbound/triggers)")
    parser.add_argument("--checkpoint", help="Spark's checkpoint (default: <lakehouse>/_checkpoints/stream[-folder])")
    parser.add_argument("--once", action="store_true", help="process what is there now, then stop")
    parser.add_argument("--trigger-seconds", type=int, help="seconds between micro-batches (default: triggers.yaml)")
    parser.add_argument("--watermark-minutes", type=int, help="later events go to silver.late_events (default: triggers.yaml)")
    parser.add_argument("--max-offsets-per-trigger", type=int, help="at most this many messages per micro-batch")
    parser.add_argument("--status", action="store_true", help="print lag, rows and the last micro-batch, then exit")
    return parser


def main(argv: list[str] | None = None):
    from spark_lib.config import ConfigError

    parser = build_parser()
    args = parser.parse_args(argv)
    try:
        settings = stream_settings(args)
    except (ConfigError, ValueError) as error:
        parser.exit(1, f"rcu stream: error: {error}\n")
    if args.status:
        return print_status(args, settings)
    return run(args, settings)


@dataclasses.dataclass(frozen=True)
class Settings:
    """The stream's configuration once the command line's options are applied."""

    pipeline: PipelineConfig
    config: TriggersConfig
    topics: TopicsConfig
    bootstrap_servers: str
    lakehouse: str
    checkpoint: str


def stream_settings(args: argparse.Namespace) -> Settings:
    """The configuration with the command line's overrides."""
    from spark_lib.config import load_pipeline
    from spark_lib.streaming.triggers import load_triggers

    conf_dir = Path(args.conf_dir) if args.conf_dir else None
    pipeline = load_pipeline(conf_dir / "pipeline.yaml" if conf_dir else None)
    config = load_triggers(args.triggers or (conf_dir / "triggers.yaml" if conf_dir else None))
    overrides = {key: value for key, value in (("trigger_seconds", args.trigger_seconds),
                                               ("watermark_minutes", args.watermark_minutes)) if value is not None}
    if overrides:
        config = dataclasses.replace(config, stream=dataclasses.replace(config.stream, **overrides))
    topics = pipeline.kafka.topics if args.topic_prefix is None else TopicsConfig.with_prefix(args.topic_prefix)
    lakehouse = pipeline.resolve(args.lakehouse or pipeline.lakehouse_dir)
    checkpoint = args.checkpoint or f"{lakehouse}/_checkpoints/{'stream-folder' if args.from_folder else 'stream'}"
    return Settings(pipeline, config, topics, args.bootstrap_servers or pipeline.kafka.bootstrap_servers, lakehouse,
                    checkpoint)


def print_status(args: argparse.Namespace, settings: Settings):
    from spark_lib.config import EVENT_KINDS
    from spark_lib.streaming.status import format_status, stream_status

    status = stream_status(settings.lakehouse, settings.checkpoint,
                           None if args.from_folder else settings.bootstrap_servers,
                           [settings.topics.of(kind) for kind in EVENT_KINDS])
    print(format_status(status))
    return status


def run(args: argparse.Namespace, settings: Settings):
    """Start the query and wait for it: until the topics' messages are processed with ``--once`` or a folder,
    else until Ctrl-C. Returns the micro-batches' reports."""
    from spark_lib.config import EVENT_KINDS
    from spark_lib.streaming.events import event_sources
    from spark_lib.streaming.state import StreamState
    from spark_lib.session import session_settings
    from spark_lib.streaming.stream import (SMALL_QUERY_SETTINGS, FolderOutbound, KafkaOutbound, MicroBatch,
                                            folder_messages, kafka_messages, start_stream, warm_up)

    ctx = build_context(argparse.Namespace(conf_dir=args.conf_dir, lakehouse=settings.lakehouse, sources=args.sources),
                        "rcu-stream")
    progress = Progress("stream")
    if args.from_folder:
        messages = folder_messages(ctx.spark, str(Path(args.from_folder).resolve()))
        outbound = FolderOutbound(args.out_dir or f"{settings.lakehouse}/_outbound/triggers")
    else:
        from spark_lib.streaming.kafka_client import create_topics

        topics = [settings.topics.of(kind) for kind in EVENT_KINDS]
        create_topics(settings.bootstrap_servers, [*topics, settings.config.stream.outbound_topic],
                      settings.pipeline.kafka.partitions)
        messages = kafka_messages(ctx.spark, settings.bootstrap_servers, topics, args.max_offsets_per_trigger)
        outbound = KafkaOutbound(settings.bootstrap_servers, settings.config.stream.outbound_topic)
    made: list[MicroBatch] = []
    specs = [spec for _, spec in event_sources(ctx.sources)]
    state = StreamState(ctx.lake, ctx.sources, settings.config)

    def make_batch(query_id: str) -> MicroBatch:
        made.append(MicroBatch(ctx.lake, ctx.sources, settings.config, query_id, outbound, progress, state))
        return made[0]

    once = args.once or bool(args.from_folder)
    with session_settings(ctx.spark, SMALL_QUERY_SETTINGS):
        # the memory and the JVM made ready before the first message is read: no first micro-batch waits for them
        state.refresh()
        warm_up(ctx.spark, specs)
        progress("memory of the earlier micro-batches rebuilt from Delta, queries warmed up")
        query = start_stream(messages, settings.checkpoint, make_batch, specs, once=once,
                             trigger_seconds=settings.config.stream.trigger_seconds)
        progress(f"query {query.id} started ({'available now' if once else f'every {settings.config.stream.trigger_seconds} s'}); "
                 f"checkpoint {settings.checkpoint}")
        try:
            query.awaitTermination()
        except KeyboardInterrupt:
            query.stop()
    reports = made[0].reports if made else []
    progress(f"{len(reports)} micro-batch(es): {sum(r.messages for r in reports):,} messages, "
             f"{sum(r.fired for r in reports):,} trigger(s) fired")
    return reports


if __name__ == "__main__":
    main()
