"""The stream at a sustained rate: latency from publish to the trigger row, consumer lag over time, events/s,
and the firings checked against a recomputation in batch (issue 16's figures).

1. A base lakehouse: ``rcu run-all --persons N`` (generator, then every batch step) in ``<work>/base``, kept and
   reused by the next runs (``--base DIR`` names another one). The online events the replay sends are taken out
   of the copy's silver interaction tables (the batch had read them from the same raw files): the stream
   meets them as new events, as it would a day the batch has not run yet.
2. A Kafka broker started here on 127.0.0.1 (a free port), in ``<work>/kafka``.
3. ``rcu stream`` in its own process on the copy, one micro-batch every ``--trigger-seconds``.
4. ``rcu replay``'s publishing (:func:`spark_lib.streaming.replay.publish`, the default disorder: late,
   duplicated and malformed messages) of the first ``rate x minutes x 60`` online events, in event-time order,
   at ``--rate`` messages per second; the lag (broker end offsets less the checkpoint's committed offsets) is
   sampled every 5 s meanwhile, and until the stream has caught up.
5. The figures, from the tables the stream wrote:

   - **latency** of a message: its micro-batch's end (``ops.stream_batches.processed_at``, written once its
     firings are in gold.trigger_events) less its Kafka timestamp (when ``publish`` sent it); of a **firing**:
     its micro-batch's end less the Kafka timestamp of the *earliest* message of that micro-batch (an upper
     bound of the wait of the message that completed it);
   - **lag** over time and its trend while publishing (least squares, messages per minute): bounded means no
     growth;
   - **correctness**: :func:`spark_lib.streaming.check.check_firings` (the Spark rules on the whole tables).

    .venv/bin/python benchmarks/bench_stream.py --persons 20000 --rate 500 --minutes 10    # make bench-stream
    .venv/bin/python benchmarks/bench_stream.py --persons 2000 --rate 200 --minutes 2      # a short run

writes ``stream_<rate>_<minutes>min.json`` and ``.md`` to ``--out`` (``benchmarks/results``).
"""

from __future__ import annotations

import argparse
import datetime as dt
import json
import os
import platform
import shutil
import signal
import statistics
import subprocess
import sys
import threading
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from spark_lib import tables  # noqa: E402
from spark_lib.config import EVENT_KINDS, TopicsConfig, load_sources  # noqa: E402
from spark_lib.streaming import Disorder, KafkaBroker, plan_replay, publish, read_online_events  # noqa: E402
from spark_lib.streaming.events import event_sources  # noqa: E402
from spark_lib.streaming.kafka_client import end_offsets  # noqa: E402
from spark_lib.streaming.status import committed_offsets  # noqa: E402

SAMPLE_SECONDS = 5.0


def build_base(base: Path, persons: int, env: dict) -> None:
    """``rcu run-all --persons N`` into ``base`` (raw, truth, lakehouse), unless it is there already."""
    if (base / "lakehouse" / "gold" / "customer_crosswalk" / "_delta_log").is_dir():
        return
    argv = [sys.executable, "-m", "jobs.cli", "run-all", "--persons", str(persons), "--raw-dir", str(base / "raw"),
            "--truth-dir", str(base / "truth"), "--lakehouse", str(base / "lakehouse")]
    print(f"building the base: {' '.join(argv[2:])}", flush=True)
    subprocess.run(argv, cwd=ROOT, env=env, check=True)


def fresh_lakehouse(base: Path, lakehouse: Path) -> None:
    """A copy of the base lakehouse without the online events in silver (see the module docstring)."""
    from deltalake import DeltaTable

    if lakehouse.exists():
        shutil.rmtree(lakehouse)
    shutil.copytree(base / "lakehouse", lakehouse)
    names = ", ".join(f"'{spec.name}'" for _, spec in event_sources(load_sources()))
    for table in {spec.interactions.table for _, spec in event_sources(load_sources())}:
        path = lakehouse / "silver" / table
        if (path / "_delta_log").is_dir():
            DeltaTable(str(path)).delete(f"source IN ({names})")


def total(offsets: dict[str, dict[int, int]]) -> int:
    return sum(sum(partitions.values()) for partitions in offsets.values())


def percentile(values: list[float], share: float) -> float | None:
    """The ``share`` quantile (nearest rank) of ``values``; None when empty."""
    if not values:
        return None
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, max(0, round(share * len(ordered)) - 1))]


def slope_per_minute(samples: list[tuple[float, int]]) -> float:
    """Least-squares slope of (seconds, lag) in messages per minute."""
    if len(samples) < 2:
        return 0.0
    xs, ys = [s for s, _ in samples], [lag for _, lag in samples]
    mx, my = statistics.fmean(xs), statistics.fmean(ys)
    var = sum((x - mx) ** 2 for x in xs)
    return 60 * sum((x - mx) * (y - my) for x, y in zip(xs, ys)) / var if var else 0.0


def figures(lakehouse: Path) -> dict:
    """Latencies, micro-batch times and counts from the tables the stream wrote (read with delta-rs)."""
    from deltalake import DeltaTable

    def frame(table: str, columns: list[str]):
        layer, entity = table.split(".")
        return DeltaTable(str(lakehouse / layer / entity)).to_pyarrow_table(columns=columns).to_pandas()

    batches = frame(tables.STREAM_BATCHES, ["batch_id", "messages", "seconds", "processed_at", "fired"]).set_index("batch_id")
    messages = frame(tables.STREAM_EVENTS, ["batch_id", "kafka_timestamp"])
    fired = frame(tables.TRIGGER_EVENTS, ["trigger", "batch_id"])
    done = messages["batch_id"].map(batches["processed_at"])
    latency = (done - messages["kafka_timestamp"]).dt.total_seconds().tolist()
    first_sent = messages.groupby("batch_id")["kafka_timestamp"].min()
    batch_wait = (batches["processed_at"] - first_sent.reindex(batches.index)).dt.total_seconds()
    firing_latency = fired["batch_id"].map(batch_wait).tolist()
    span = (batches["processed_at"].max() - messages["kafka_timestamp"].min()).total_seconds()
    seconds = batches["seconds"].tolist()
    return {
        "messages": len(messages), "micro_batches": len(batches), "fired": len(fired),
        "fired_per_trigger": fired["trigger"].value_counts().to_dict(),
        "events_per_s": round(len(messages) / span, 1) if span > 0 else None,
        "message_latency_s": {"p50": percentile(latency, 0.5), "p95": percentile(latency, 0.95), "max": max(latency, default=None)},
        "firing_latency_s": {"p50": percentile(firing_latency, 0.5), "p95": percentile(firing_latency, 0.95),
                             "max": max(firing_latency, default=None)},
        "micro_batch_s": {"p50": percentile(seconds, 0.5), "p95": percentile(seconds, 0.95), "max": max(seconds, default=None)},
        "messages_per_batch": {"p50": percentile(batches["messages"].tolist(), 0.5), "max": int(batches["messages"].max())},
    }


def correctness(lakehouse: Path) -> dict:
    """:func:`spark_lib.streaming.check.check_firings` in a Spark session of this process."""
    from dataclasses import asdict

    from spark_lib.session import get_spark
    from spark_lib.storage import Lakehouse
    from spark_lib.streaming.check import check_firings
    from spark_lib.streaming.triggers import load_triggers

    spark = get_spark(app_name="rcu-bench-stream-check")
    try:
        return asdict(check_firings(Lakehouse(spark, str(lakehouse)), load_sources(), load_triggers()))
    except Exception as error:   # the figures measured so far are kept
        return {"error": repr(error)[:2000]}
    finally:
        spark.stop()


def run(args: argparse.Namespace) -> dict:
    work = Path(args.work_dir).resolve()
    base = Path(args.base).resolve() if args.base else work / "base"
    env = {**os.environ, "PYTHONPATH": str(ROOT), "RCU_DRIVER_MEMORY": args.driver_memory}
    build_base(base, args.persons, env)
    lakehouse = work / "lakehouse"
    fresh_lakehouse(base, lakehouse)
    events = read_online_events(load_sources(), base / "raw").events
    wanted = int(args.rate * args.minutes * 60)
    if len(events) < wanted:
        print(f"only {len(events):,} online events for {wanted:,}: the run is shorter", flush=True)
    plan = plan_replay(events[:wanted], Disorder(seed=args.seed))
    del events
    topics = TopicsConfig()
    names = [topics.of(kind) for kind in EVENT_KINDS]
    checkpoint = lakehouse / "_checkpoints" / "stream"
    if (work / "kafka").exists():
        shutil.rmtree(work / "kafka")
    with KafkaBroker(work / "kafka", port=0) as broker:
        servers = broker.bootstrap_servers
        log = open(work / "stream.log", "wb")
        stream = subprocess.Popen(
            [sys.executable, "-m", "jobs.cli", "stream", "--lakehouse", str(lakehouse), "--bootstrap-servers", servers,
             "--trigger-seconds", str(args.trigger_seconds)],
            cwd=ROOT, env=env, stdout=log, stderr=subprocess.STDOUT, start_new_session=True)
        try:
            deadline = time.monotonic() + 300
            while b"started" not in (work / "stream.log").read_bytes():
                if stream.poll() is not None or time.monotonic() > deadline:
                    raise RuntimeError(f"rcu stream did not start: see {work / 'stream.log'}")
                time.sleep(0.5)
            report: dict = {}
            sender = threading.Thread(target=lambda: report.update(
                vars(publish(plan, servers, topics, partitions=3, rate=args.rate))), daemon=True)
            started = time.monotonic()
            sender.start()
            samples: list[tuple[float, int]] = []
            drain_deadline = None
            while True:
                time.sleep(SAMPLE_SECONDS)
                lag = total(end_offsets(servers, names)) - total(committed_offsets(checkpoint)[1])
                at = time.monotonic() - started
                samples.append((round(at, 1), lag))
                print(f"{at:7.1f} s  lag {lag:,}", flush=True)
                if stream.poll() is not None:
                    raise RuntimeError(f"rcu stream ended early: see {work / 'stream.log'}")
                if not sender.is_alive():
                    drain_deadline = drain_deadline or time.monotonic() + args.drain_seconds
                    if lag == 0 or time.monotonic() > drain_deadline:
                        break
            publishing = [(s, lag) for s, lag in samples if s <= report["seconds"]]
        finally:
            os.killpg(stream.pid, signal.SIGINT)   # rcu stream stops its query on Ctrl-C
            try:
                stream.wait(timeout=60)
            except subprocess.TimeoutExpired:
                os.killpg(stream.pid, signal.SIGKILL)
                stream.wait()
            log.close()
    load = os.getloadavg()
    result = {
        "when": dt.datetime.now(dt.timezone.utc).strftime("%Y-%m-%d %H:%M UTC"),
        "command": " ".join([Path(sys.executable).name, *sys.argv]),
        "machine": f"{os.cpu_count()} cores, {platform.machine()}, Python {platform.python_version()}",
        "load_average_at_end": [round(x, 2) for x in load],
        "persons": args.persons, "rate_asked": args.rate, "minutes": args.minutes, "trigger_seconds": args.trigger_seconds,
        "replay": {k: report.get(k) for k in ("events", "sent", "late", "duplicated", "malformed", "seconds", "rate")},
        "lag": {"samples": samples, "max": max((lag for _, lag in samples), default=0), "final": samples[-1][1] if samples else None,
                "trend_per_minute_while_publishing": round(slope_per_minute(publishing), 1)},
        **figures(lakehouse),
        "check": {} if args.no_check else correctness(lakehouse),
    }
    return result


def markdown(result: dict) -> str:
    m, f, b, lag, c = (result["message_latency_s"], result["firing_latency_s"], result["micro_batch_s"], result["lag"],
                       result["check"])
    return "\n".join([
        f"# Stream benchmark, {result['when']}", "",
        f"`{result['command']}` — {result['machine']}, load average at the end {result['load_average_at_end']}", "",
        "| rate asked | achieved | minutes | messages | micro-batches | events/s processed | latency p50 / p95 (message) "
        "| latency p50 / p95 (firing) | micro-batch p50 / p95 s | lag max / final | lag trend /min | fired | unjustified | missed |",
        "|---:|---:|---:|---:|---:|---:|---|---|---|---|---:|---:|---:|---:|",
        f"| {result['rate_asked']} | {result['replay']['rate']:.0f} | {result['minutes']} | {result['messages']:,} "
        f"| {result['micro_batches']} | {result['events_per_s']} | {m['p50']:.1f} / {m['p95']:.1f} s "
        f"| {f['p50']:.1f} / {f['p95']:.1f} s | {b['p50']:.1f} / {b['p95']:.1f} | {lag['max']:,} / {lag['final']:,} "
        f"| {lag['trend_per_minute_while_publishing']} | {c.get('fired', '?')} | {c.get('unjustified', '?')} "
        f"| {c.get('missed', '?')} {c.get('missed_per_trigger', '')} |", ""])


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--persons", type=int, default=20000, help="persons of the base (default 20,000)")
    parser.add_argument("--rate", type=float, default=500, help="messages per second (default 500)")
    parser.add_argument("--minutes", type=float, default=10, help="minutes of publishing (default 10)")
    parser.add_argument("--trigger-seconds", type=int, default=1, help="seconds between micro-batches (default 1)")
    parser.add_argument("--seed", type=int, default=42)
    parser.add_argument("--base", help="a base built earlier (raw/ and lakehouse/), reused as it is")
    parser.add_argument("--work-dir", default=str(ROOT / "benchmarks" / "work" / "stream"))
    parser.add_argument("--out", default=str(ROOT / "benchmarks" / "results"))
    parser.add_argument("--drain-seconds", type=float, default=180, help="how long to wait for the stream to catch up")
    parser.add_argument("--driver-memory", default="4g")
    parser.add_argument("--no-check", action="store_true", help="leave out the correctness check (a rate probe)")
    args = parser.parse_args()
    result = run(args)
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    stem = out / f"stream_{args.rate:g}_{args.minutes:g}min"
    stem.with_suffix(".json").write_text(json.dumps(result, indent=2, default=str))
    stem.with_suffix(".md").write_text(markdown(result))
    print(markdown(result))


if __name__ == "__main__":
    main()
