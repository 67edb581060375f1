"""Time and peak memory of generating the raw files of N persons (in this process, no subprocess).

    .venv/bin/python benchmarks/bench_generate.py --persons 1000000 [--out DIR] [--seed 42] [--keep]

Prints wall seconds, rows per second and peak RSS, and writes benchmarks/results/generate_<persons>.json.
The output folder is a temporary one (removed at the end) unless --out is given or --keep is set.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import resource
import shutil
import sys
import tempfile
import time
from pathlib import Path

from spark_lib.generator import generate

ROOT = Path(__file__).resolve().parent.parent


def peak_rss_bytes() -> int:
    """Peak resident set size of this process (ru_maxrss is KiB on Linux, bytes on macOS)."""
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    return peak if sys.platform == "darwin" else peak * 1024


def folder_bytes(path: Path) -> int:
    return sum(f.stat().st_size for f in path.rglob("*") if f.is_file())


def main(argv: list[str] | None = None) -> dict:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--persons", type=int, default=1_000_000)
    parser.add_argument("--out", type=Path, default=None, help="folder for raw/ and truth/ (default: a temp dir)")
    parser.add_argument("--seed", type=int, default=42)
    parser.add_argument("--reference-date", default="2026-10-31")
    parser.add_argument("--keep", action="store_true", help="keep the generated files")
    parser.add_argument("--results", type=Path, default=ROOT / "benchmarks" / "results")
    args = parser.parse_args(argv)

    out = args.out or Path(tempfile.mkdtemp(prefix="rcu-bench-generate-"))
    began = time.perf_counter()
    summary = generate(
        persons=args.persons,
        raw_dir=out / "raw",
        truth_dir=out / "truth",
        seed=args.seed,
        reference_date=args.reference_date,
        progress=lambda message: print(message, flush=True),
    )
    wall = time.perf_counter() - began
    rows = sum(summary.rows_per_source.values())
    result = {
        "persons": summary.persons,
        "seed": args.seed,
        "wall_seconds": round(wall, 1),
        "rows": rows,
        "rows_per_second": round(rows / wall),
        "peak_rss_mib": round(peak_rss_bytes() / 2**20),
        "raw_bytes": folder_bytes(out / "raw"),
        "rows_per_source": summary.rows_per_source,
        "malformed_per_source": summary.malformed_per_source,
        "files": len(summary.files),
        "machine": {"cpus": os.cpu_count(), "python": platform.python_version(), "platform": platform.platform()},
    }
    print(f"{summary.persons} persons: {wall:.1f} s, {rows:,} rows ({rows / wall:,.0f} rows/s), "
          f"peak RSS {result['peak_rss_mib']:,} MiB, raw files {result['raw_bytes'] / 2**30:.2f} GiB")
    for source, count in summary.rows_per_source.items():
        print(f"  {source:20s} {count:>12,}  malformed {summary.malformed_per_source[source]:>6,}")
    args.results.mkdir(parents=True, exist_ok=True)
    target = args.results / f"generate_{args.persons}.json"
    target.write_text(json.dumps(result, indent=2) + "\n", encoding="utf-8")
    print(f"written {target}")
    if args.out is None and not args.keep:
        shutil.rmtree(out, ignore_errors=True)
    return result


if __name__ == "__main__":
    main()
