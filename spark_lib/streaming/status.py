"""What ``rcu stream --status`` shows, without starting Spark: the checkpoint's offsets against the broker's end
offsets (the lag per topic), the rows of the stream's tables, and its last micro-batch.

The checkpoint (``<lakehouse>/_checkpoints/stream``) is Spark's own: ``offsets/<batch id>`` holds the offsets a
micro-batch read up to, ``commits/<batch id>`` exists once it is done. The tables are read with the ``deltalake``
package (no JVM: an answer in well under a second).

Example::

    status = stream_status("lakehouse", "lakehouse/_checkpoints/stream", "127.0.0.1:9092", ["rcu.navigation"])
    print(format_status(status))
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from pathlib import Path

from spark_lib import tables


@dataclass(frozen=True)
class StreamStatus:
    """Counts and times only."""

    #: the last micro-batch the checkpoint says is done (None: none yet)
    committed_batch: int | None
    #: topic -> messages on the broker not yet read by a finished micro-batch (None: the broker did not answer)
    lag: dict[str, int] | None
    rows: dict[str, int] = field(default_factory=dict)
    #: the last micro-batch of ops.stream_batches: batch_id, messages, seconds, processed_at
    last_batch: dict | None = None


def committed_offsets(checkpoint: str | Path) -> tuple[int | None, dict[str, dict[int, int]]]:
    """(last finished micro-batch, topic -> partition -> next offset to read) from a checkpoint; Kafka sources only
    (a folder's checkpoint gives no offsets)."""
    commits = [int(p.name) for p in (Path(checkpoint) / "commits").glob("[0-9]*")]
    if not commits:
        return None, {}
    last = max(commits)
    lines = (Path(checkpoint) / "offsets" / str(last)).read_text().splitlines()
    offsets: dict[str, dict[int, int]] = {}
    for line in lines[2:]:   # after the version and the batch's metadata: one line per source
        try:
            source = json.loads(line)
        except ValueError:
            continue
        if isinstance(source, dict):
            for topic, partitions in source.items():
                if isinstance(partitions, dict):
                    offsets[topic] = {int(p): int(o) for p, o in partitions.items()}
    return last, offsets


def table_rows(lakehouse: str | Path, names) -> dict[str, int]:
    """Rows of each table that exists, from its Delta log's statistics (no data file read)."""
    import pyarrow as pa
    from deltalake import DeltaTable

    rows = {}
    for name in names:
        layer, entity = str(name).split(".")
        path = Path(lakehouse) / layer / entity
        if (path / "_delta_log").is_dir():
            actions = pa.table(DeltaTable(str(path)).get_add_actions(flatten=True)).to_pydict()
            rows[str(name)] = int(sum(n or 0 for n in actions.get("num_records", [])))
    return rows


def last_batch(lakehouse: str | Path) -> dict | None:
    """The last row of ops.stream_batches (None: no micro-batch yet)."""
    from deltalake import DeltaTable

    path = Path(lakehouse) / "ops" / "stream_batches"
    if not (path / "_delta_log").is_dir():
        return None
    rows = DeltaTable(str(path)).to_pyarrow_table(columns=["batch_id", "messages", "seconds", "processed_at"]).to_pylist()
    return max(rows, key=lambda r: r["processed_at"]) if rows else None


def stream_status(lakehouse: str | Path, checkpoint: str | Path, bootstrap_servers: str | None,
                  topics: list[str]) -> StreamStatus:
    """The stream's status; ``bootstrap_servers`` None (folder mode) gives no lag."""
    committed, offsets = committed_offsets(checkpoint)
    lag = None
    if bootstrap_servers:
        from spark_lib.streaming.kafka_client import KafkaError, end_offsets

        try:
            ends = end_offsets(bootstrap_servers, topics)
            lag = {topic: sum(end - offsets.get(topic, {}).get(p, 0) for p, end in ends.get(topic, {}).items())
                   for topic in topics}
        except KafkaError:
            lag = None
    names = [*tables.STREAM_TABLES, tables.QUARANTINE, *[tables.interactions(t) for t in
                                                         ("navigation_events", "orders", "campaign_events")]]
    return StreamStatus(committed, lag, table_rows(lakehouse, names), last_batch(lakehouse))


def format_status(status: StreamStatus) -> str:
    """The lines ``rcu stream --status`` prints."""
    lines = [f"last finished micro-batch: {status.committed_batch if status.committed_batch is not None else 'none'}"]
    if status.lag is None:
        lines.append("lag: unknown (folder mode, or the broker did not answer)")
    else:
        lines += [f"lag {topic}: {count:,} message(s)" for topic, count in status.lag.items()]
    if status.last_batch:
        b = status.last_batch
        rate = b["messages"] / b["seconds"] if b["seconds"] else 0.0
        lines.append(f"last micro-batch {b['batch_id']} at {b['processed_at']:%Y-%m-%d %H:%M:%S} UTC: "
                     f"{b['messages']:,} message(s) in {b['seconds']:.1f} s ({rate:,.1f}/s)")
    lines += [f"rows {name}: {count:,}" for name, count in status.rows.items()]
    return "\n".join(lines)
