"""Speed of the privacy verify scan (:func:`spark_lib.privacy.scan.scan`) on existing folders, read only.

The identifiers sought are hashed with a throwaway key: the scan costs the same whether they are found or not.

    .venv/bin/python benchmarks/bench_privacy_scan.py /tmp/bd10k/work/lakehouse /tmp/bd10k/work/raw \\
        --email gerardmatay@laposte.net --phone +33791854892 --id P00000001

prints the files and bytes scanned, the Parquet rows they hold, wall and CPU time (the workers' included),
MB and rows per second, and the hits per file.
"""

from __future__ import annotations

import argparse
import collections
import resource
import time
from pathlib import Path

import pyarrow.parquet as pq

from spark_lib.privacy.identifiers import identifier_hash
from spark_lib.privacy.scan import scan

KEY = "bench-privacy-scan"


def parquet_rows(roots: list[str]) -> int:
    """Rows of the Parquet files under ``roots``, from their footers (corrupt files count none)."""
    rows = 0
    for root in map(Path, roots):
        for path in ([root] if root.is_file() else root.rglob("*.parquet")):
            try:
                rows += pq.ParquetFile(path).metadata.num_rows
            except Exception:  # noqa: BLE001 - not Parquet: no rows
                pass
    return rows


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("roots", nargs="+")
    parser.add_argument("--email", action="append", default=[])
    parser.add_argument("--phone", action="append", default=[])
    parser.add_argument("--id", action="append", default=[])
    parser.add_argument("--workers", type=int, default=1)
    args = parser.parse_args()
    wanted = [("email", v) for v in args.email] + [("phone", v) for v in args.phone] + [("id", v) for v in args.id]
    hashes = {identifier_hash(kind, value, KEY): kind for kind, value in wanted}

    start, cpu_start = time.perf_counter(), time.process_time()
    report = scan(args.roots, hashes, KEY, workers=args.workers)
    wall = time.perf_counter() - start
    children = resource.getrusage(resource.RUSAGE_CHILDREN)
    cpu = time.process_time() - cpu_start + children.ru_utime + children.ru_stime
    rows = parquet_rows(args.roots)

    megabytes = report.bytes_scanned / 1e6
    print(f"{report.files_scanned} files, {megabytes:.1f} MB, {rows:,} Parquet rows, {args.workers} worker(s)")
    print(f"wall {wall:.1f} s, CPU {cpu:.1f} s: {megabytes / wall:.1f} MB/s, {rows / wall:,.0f} rows/s "
          f"({megabytes / cpu:.1f} MB and {rows / cpu:,.0f} rows per CPU second)")
    print(f"{len(report.hits)} hits, {len(report.skipped)} files skipped")
    for (file, kind), count in sorted(collections.Counter((h.file, h.kind) for h in report.hits).items()):
        print(f"  {file}  {kind} x{count}")
    for file, why in report.skipped:
        print(f"  skipped {file}: {why}")


if __name__ == "__main__":
    main()
