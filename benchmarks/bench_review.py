"""Does a steward's review raise matching quality, and do the decisions hold? Measured against the truth.

On a copy of a demo lakehouse with ground truth (built by ``rcu run-all``; the original is never written):

1. ``rcu match`` fills ``gold.review_queue`` (and is scored against the truth: F1 before review);
2. a script plays the steward through the review page's own HTTP API (``rcu review``'s server, started on
   127.0.0.1 with a free port): it takes the ``--pairs`` pending pairs of highest priority and answers each
   from the truth (``same`` iff both records belong to one true person, ``unsure`` when the truth does not
   know a record), as ``POST /api/pairs/{id}/decision`` with the hashes the page showed;
3. ``rcu match`` again: the decisions act as must- and cannot-links (F1 after review);
4. ``rcu match`` once more, with nothing new: every decision still applied, the same customers.

    .venv/bin/python benchmarks/bench_review.py --lakehouse /work/prof/snap/lakehouse \\
        --mlflow-db /work/prof/snap/mlflow.db --truth-dir /work/prof/generated/truth --work /work/scratch-review

prints the figures and writes ``review_steward.json`` and ``review_steward.md`` to ``--out``. Identified
pairwise and B-cubed F1 are those of ``rcu match``'s evaluation (anonymous records apart).
"""

from __future__ import annotations

import argparse
import http.client
import json
import os
import shutil
import sys
import time
from collections import Counter
from pathlib import Path
from urllib.parse import quote, urlsplit

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))  # run as a script from anywhere: the repository's packages first


def parse_args(argv=None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--lakehouse", required=True, help="a demo lakehouse after rcu run-all (copied, never written)")
    parser.add_argument("--mlflow-db", required=True, help="its MLflow sqlite file, holding the champion (copied)")
    parser.add_argument("--truth-dir", required=True, help="the generator's truth folder (truth.parquet)")
    parser.add_argument("--work", required=True, help="scratch folder: the copies go there (replaced)")
    parser.add_argument("--pairs", type=int, default=200, help="pairs the steward reviews (default: 200)")
    parser.add_argument("--out", default=str(ROOT / "benchmarks" / "results"), help="folder of the result files")
    return parser.parse_args(argv)


class PageClient:
    """The review page's JSON API, as its JavaScript calls it."""

    def __init__(self, url: str):
        parts = urlsplit(url)
        self.connection = http.client.HTTPConnection(parts.hostname, parts.port, timeout=30)
        self.host = parts.netloc

    def call(self, method: str, path: str, body: dict | None = None) -> dict:
        headers = {"Host": self.host, "Accept": "application/json"}
        data = None
        if body is not None:
            data = json.dumps(body).encode("utf-8")
            headers["Content-Type"] = "application/json"
        self.connection.request(method, path, body=data, headers=headers)
        response = self.connection.getresponse()
        payload = json.loads(response.read() or b"{}")
        if response.status >= 400:
            raise RuntimeError(f"{method} {path}: {response.status} {payload}")
        return payload


def figures(report) -> dict:
    m = report.metrics
    return {"mode": report.mode, "customers": report.customers,
            "pairwise_f1": m.get("identified_pairwise_f1"), "pairwise_precision": m.get("identified_pairwise_precision"),
            "pairwise_recall": m.get("identified_pairwise_recall"), "bcubed_f1": m.get("identified_bcubed_f1"),
            "decisions_applied": report.decisions_applied, "decisions_stale": report.decisions_stale,
            "review_queue": report.review_queue, "review_reasons": dict(report.review_reasons)}


def main(argv=None) -> int:
    args = parse_args(argv)
    work = Path(args.work)
    if work.exists():
        shutil.rmtree(work)
    work.mkdir(parents=True)
    lakehouse = work / "lakehouse"
    shutil.copytree(args.lakehouse, lakehouse, ignore=shutil.ignore_patterns("_rcu.lock"))
    shutil.copy(args.mlflow_db, work / "mlflow.db")
    os.environ["MLFLOW_TRACKING_URI"] = f"sqlite:///{work / 'mlflow.db'}"

    import pyarrow.parquet as pq

    from jobs import match
    from jobs.common import Progress, build_context
    from spark_lib.review import ReviewStore
    from spark_lib.review.app import ReviewServer, allowed_hosts, bind_socket, create_app
    from spark_lib.session import get_spark

    spark = get_spark(app_name="rcu-bench-review")
    namespace = argparse.Namespace(conf_dir=None, lakehouse=str(lakehouse), raw_dir=None, sources=None,
                                   truth_dir=args.truth_dir)
    ctx = build_context(namespace, "rcu-bench-review", spark=spark)
    progress = Progress("bench-review")
    truth = pq.read_table(Path(args.truth_dir) / "truth.parquet", columns=["source", "source_record_id", "person_id"])
    person = {f"{s}:{r}": str(p) for s, r, p in zip(*(truth.column(c).to_pylist() for c in truth.column_names))}

    runs = {}
    started = time.monotonic()
    runs["before review"] = figures(match.run(ctx, progress=progress, accept_champion=True))
    seconds = {"match before": round(time.monotonic() - started, 1)}

    answers: Counter = Counter()
    reasons: Counter = Counter()
    latencies = []
    sock = bind_socket("127.0.0.1", 0)
    with ReviewServer(create_app(ReviewStore(lakehouse), allowed_hosts(sock)), sock) as server:
        page = PageClient(server.url)
        queue = page.call("GET", f"/api/queue?limit={args.pairs}")
        for item in queue["pairs"][: args.pairs]:
            path = f"/api/pairs/{quote(item['pair_id'], safe='')}"
            pair = page.call("GET", path)
            left, right = person.get(pair["record_key_l"]), person.get(pair["record_key_r"])
            decision = "unsure" if left is None or right is None else "same" if left == right else "different"
            tick = time.monotonic()
            page.call("POST", f"{path}/decision",
                      {"decision": decision, "reviewer": "bench-truth", "reason": "ground truth", "origin": "api",
                       "record_hash_l": pair["record_hash_l"], "record_hash_r": pair["record_hash_r"]})
            latencies.append(time.monotonic() - tick)
            answers[decision] += 1
            reasons.update(pair["reasons"])
    reviewed = sum(answers.values())

    started = time.monotonic()
    runs["after review"] = figures(match.run(ctx, progress=progress, accept_champion=True))
    seconds["match after"] = round(time.monotonic() - started, 1)
    started = time.monotonic()
    runs["rerun"] = figures(match.run(ctx, progress=progress, accept_champion=True))
    seconds["match rerun"] = round(time.monotonic() - started, 1)

    before, after, rerun = runs["before review"], runs["after review"], runs["rerun"]
    lines = ["| run | mode | customers | identified pairwise F1 | precision | recall | B-cubed F1 | decisions applied | stale | queued |",
             "|---|---|---:|---:|---:|---:|---:|---:|---:|---:|"]
    for name, r in runs.items():
        queued = "kept" if r["mode"] == "unchanged" else r["review_queue"]   # an unchanged run leaves the queue
        f1 = "n/a" if r["pairwise_f1"] is None else f"{r['pairwise_f1']:.4f}"
        lines.append(f"| {name} | {r['mode']} | {r['customers']:,} | {f1} | "
                     + " | ".join("n/a" if r[k] is None else f"{r[k]:.4f}" for k in ("pairwise_precision", "pairwise_recall", "bcubed_f1"))
                     + f" | {r['decisions_applied']} | {r['decisions_stale']} | {queued} |")
    gain = None if after["pairwise_f1"] is None or before["pairwise_f1"] is None else after["pairwise_f1"] - before["pairwise_f1"]
    latencies.sort()
    summary = (f"{reviewed} pairs reviewed through the page's API ({dict(answers)}; queued for {dict(reasons)}); "
               f"decision POST p50 {1000 * latencies[len(latencies) // 2]:.0f} ms" if latencies else "no pair reviewed")
    lines += ["", summary, f"identified pairwise F1 gain: {gain:+.4f}" if gain is not None else "no truth",
              f"seconds: {seconds}"]
    table = "\n".join(lines)
    print(table)
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    (out / "review_steward.json").write_text(json.dumps({"pairs": args.pairs, "answers": answers, "reasons": reasons,
                                                        "runs": runs, "seconds": seconds}, indent=2, default=str))
    (out / "review_steward.md").write_text(f"# A steward reviews {args.pairs} queued pairs (answers from the truth)\n\n"
                                           f"    {' '.join(['.venv/bin/python', *sys.argv])}\n\n{table}\n")
    held = (rerun["pairwise_f1"] == after["pairwise_f1"] and rerun["decisions_applied"] >= after["decisions_applied"]
            and rerun["customers"] == after["customers"])
    return 0 if reviewed and held else 1


if __name__ == "__main__":
    sys.exit(main())
