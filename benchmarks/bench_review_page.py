"""The review page's latency, measured in the browser: each action's fetch and render, in headless Chromium.

The page (``rcu review``'s app, :mod:`spark_lib.review.app`) is served in-process on 127.0.0.1 and opened in
Debian's Chromium through Playwright (no browser download; ``RCU_CHROMIUM`` points at another binary). The
script plays a steward: per round it searches a name, loads a pair found (``load``), decides the pair shown
(``decide``: same, different, unsure in turn; the answer carries the next pair, which the page shows), and
skips to the next pair (``next``). ``open`` is the page's first pair when it opens (the queue, then the pair).
The page's own script times each action with ``performance.now()`` from the key press or click to the end of
the render (``window.rcuReview.timings``); the benchmark reads those, so the figures include the HTTP round
trips, the Delta append of a decision, JSON parsing and DOM rendering, not Playwright's overhead.

    .venv/bin/python benchmarks/bench_review_page.py --lakehouse /data/lakehouse --actions 200
    .venv/bin/python benchmarks/bench_review_page.py --synthetic 5000 --crosswalk-rows 600000 --actions 200

``--lakehouse`` reviews the lakehouse's own ``gold.review_queue`` (decisions are written to its
``ops.review_decisions`` under the reviewer ``bench-review-page``: give a copy). ``--synthetic N`` writes, in
a temporary folder (``--work-dir``), a queue of N synthetic pairs (French names and addresses, 4 to 7
comparisons each) and a crosswalk of ``--crosswalk-rows`` rows, sized like a 100k-person lakehouse (a few
thousand queued pairs, ~600,000 crosswalk rows); it says so in its output. Prints p50/p95/max per action
and, with ``--out``, writes them as JSON.
"""

from __future__ import annotations

import argparse
import csv
import datetime as dt
import json
import os
import random
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

import pyarrow as pa  # noqa: E402
from deltalake import write_deltalake  # noqa: E402

from spark_lib import tables  # noqa: E402
from spark_lib.review.app import ReviewServer, allowed_hosts, bind_socket, create_app  # noqa: E402
from spark_lib.review.store import ReviewStore, arrow_schema  # noqa: E402
from tests.browser import chromium_path, launch  # noqa: E402

REVIEWER = "bench-review-page"
RESOURCES = ROOT / "spark_lib" / "resources"
COMPARISONS = [
    ("first_name", [(3, 4.1), (2, 2.3), (1, 0.9), (0, -3.2)]),
    ("last_name", [(3, 5.2), (2, 2.8), (1, 1.1), (0, -4.0)]),
    ("birth_date", [(2, 6.3), (1, 1.7), (0, -5.1)]),
    ("email", [(2, 7.9), (1, 3.0), (0, -2.2)]),
    ("phone_mobile", [(1, 6.8), (0, -1.9)]),
    ("postcode", [(2, 3.2), (1, 1.0), (0, -1.4)]),
    ("city", [(1, 1.8), (0, -0.9)]),
]


def _names(file: str, column: str) -> list[str]:
    with open(RESOURCES / file, encoding="utf-8") as handle:
        return [row[column] for row in csv.DictReader(handle, delimiter=";")]


def synthetic_lakehouse(root: Path, pairs: int, crosswalk_rows: int, seed: int = 18) -> None:
    """Write ``gold.review_queue`` (``pairs`` rows) and ``gold.customer_crosswalk`` (``crosswalk_rows`` rows)
    under ``root`` with delta-rs: synthetic values, shaped as the match run writes them."""
    rng = random.Random(seed)
    firsts, lasts = _names("generator_first_names.csv", "name"), _names("generator_last_names.csv", "name")
    with open(RESOURCES / "generator_cities.csv", encoding="utf-8") as handle:
        cities = [(r["city"], r["postcode"]) for r in csv.DictReader(handle, delimiter=";")]
    sources = ["crm_customers", "eshop_accounts", "loyalty_members", "store_receipts", "newsletter_signups"]
    queued_at = dt.datetime(2026, 12, 6, 2, 0, tzinfo=dt.timezone.utc)

    def record(n: int) -> dict:
        first, last = rng.choice(firsts), rng.choice(lasts)
        city, postcode = rng.choice(cities)
        return {"source": rng.choice(sources), "first_name": first, "last_name": last.upper(),
                "birth_date": f"{rng.randint(1940, 2005)}-{rng.randint(1, 12):02d}-{rng.randint(1, 28):02d}",
                "email": f"{first}.{last}{n % 97}@exemple.fr".lower().replace(" ", ""),
                "phone_mobile": f"+336{rng.randint(10_000_000, 99_999_999)}",
                "postcode": postcode, "city": city}

    def variant(base: dict) -> dict:
        other = dict(base)
        for name in rng.sample(["first_name", "email", "phone_mobile", "postcode", "city", "birth_date"], rng.randint(1, 3)):
            other[name] = record(rng.randint(0, 10**6))[name] if rng.random() < 0.5 else None
        return other

    rows = []
    customers: dict[str, str] = {}
    for n in range(pairs):
        key_l, key_r = sorted([f"{rng.choice(sources)}:S{n:07d}L", f"{rng.choice(sources)}:S{n:07d}R"])
        left = {**record(n), "source": key_l.split(":")[0]}
        right = {**variant(left), "source": key_r.split(":")[0]}
        steps = [{"comparison": "Prior", "level": None, "match_weight": -13.2, "value_l": None, "value_r": None}]
        for name, levels in rng.sample(COMPARISONS, rng.randint(4, 7)):
            level, weight = rng.choice(levels)
            steps.append({"comparison": name, "level": level, "match_weight": weight,
                          "value_l": left.get(name), "value_r": right.get(name)})
        weight = sum(s["match_weight"] for s in steps)
        customers[key_l], customers[key_r] = f"C{n:09d}A", f"C{n:09d}{'A' if rng.random() < 0.6 else 'B'}"
        rows.append({
            "pair_id": f"{key_l}|{key_r}", "record_key_l": key_l, "record_key_r": key_r,
            "reasons": rng.sample(["score_band", "protection_split", "long_chain", "generic_value", "sample"], rng.randint(1, 2)),
            "priority": round(rng.random() * 10, 4), "match_probability": 1 / (1 + 2 ** -weight), "match_weight": weight,
            "customer_id_l": customers[key_l], "customer_id_r": customers[key_r],
            "record_l": json.dumps(left, ensure_ascii=False), "record_r": json.dumps(right, ensure_ascii=False),
            "comparisons": json.dumps(steps, ensure_ascii=False),
            "record_hash_l": rng.getrandbits(63), "record_hash_r": -rng.getrandbits(63), "queued_at": queued_at,
        })
    write_deltalake(str(root / "gold" / "review_queue"), pa.Table.from_pylist(rows, arrow_schema(tables.REVIEW_QUEUE.schema)))

    crosswalk_schema = arrow_schema(tables.CROSSWALK.schema)
    keys = list(customers)
    columns = {
        "source": [], "source_record_id": [], "record_key": [], "channel": [], "customer_id": [],
        "match_rule": [], "match_probability": [], "matched_at": [],
    }
    for n in range(crosswalk_rows):
        key = keys[n] if n < len(keys) else f"{sources[n % 5]}:X{n:08d}"
        source, record_id = key.split(":", 1)
        columns["source"].append(source)
        columns["source_record_id"].append(record_id)
        columns["record_key"].append(key)
        columns["channel"].append("offline")
        columns["customer_id"].append(customers.get(key, f"C{n // 6:09d}X"))
        columns["match_rule"].append("probabilistic")
        columns["match_probability"].append(0.95)
        columns["matched_at"].append(queued_at)
    write_deltalake(str(root / "gold" / "customer_crosswalk"), pa.Table.from_pydict(columns, crosswalk_schema))


def percentiles(values: list[float]) -> dict[str, float]:
    ordered = sorted(values)
    pick = lambda q: ordered[min(len(ordered) - 1, int(round(q * (len(ordered) - 1))))]  # noqa: E731
    return {"n": len(ordered), "p50": round(statistics.median(ordered), 1), "p95": round(pick(0.95), 1),
            "max": round(ordered[-1], 1)}


def run(lakehouse: Path, actions: int) -> dict:
    from playwright.sync_api import sync_playwright

    started = time.perf_counter()
    store = ReviewStore(lakehouse)
    load_seconds = time.perf_counter() - started
    pairs = store.pending(limit=10_000)
    if not pairs:
        raise SystemExit(f"{tables.REVIEW_QUEUE} of {lakehouse} has no pending pair")
    words = [p.summary()["label_l"] for p in pairs[:: max(1, len(pairs) // 50)]]
    sock = bind_socket("127.0.0.1", 0)
    with ReviewServer(create_app(store, allowed_hosts(sock)), sock) as server, sync_playwright() as playwright:
        browser = launch(playwright)
        # bypass_csp: the page's policy forbids eval, which Playwright's wait_for_function needs
        page = browser.new_page(viewport={"width": 1400, "height": 1000}, bypass_csp=True)
        errors: list[str] = []
        page.on("pageerror", lambda error: errors.append(str(error)))
        page.add_init_script(f"localStorage.setItem('rcu.review.reviewer', {json.dumps(REVIEWER)})")
        page.goto(server.url)
        page.wait_for_selector("#pair:not([hidden])")
        renders = lambda: int(page.evaluate("document.body.dataset.renders || '0'"))  # noqa: E731

        def act(do) -> None:
            before = renders()
            do()
            page.wait_for_function(f"Number(document.body.dataset.renders || 0) > {before} && document.body.dataset.state === 'ready'")

        done = 0
        decisions = ["s", "d", "u"]
        while done < actions:
            word = words[done % len(words)]
            act(lambda: (page.fill("#search-input", word), page.press("#search-input", "Enter")))
            act(lambda: page.click("#search-results li button"))
            act(lambda: page.keyboard.press(decisions[done % 3]))
            act(lambda: page.keyboard.press("n"))
            done += 4
        timings = page.evaluate("window.rcuReview.timings")
        browser.close()
    by_action: dict[str, list[float]] = {}
    for t in timings:
        by_action.setdefault(t["action"], []).append(t["ms"])
    return {"load_seconds": round(load_seconds, 2), "queued": store.progress()["queued"], "errors": errors, "actions": {a: percentiles(v) for a, v in sorted(by_action.items())},
            "all": percentiles([t["ms"] for t in timings])}


def main(argv: list[str] | None = None) -> dict:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    where = parser.add_mutually_exclusive_group(required=True)
    where.add_argument("--lakehouse", help="a lakehouse holding gold.review_queue (decisions are written to it)")
    where.add_argument("--synthetic", type=int, metavar="PAIRS", help="write a synthetic queue of PAIRS pairs and use it")
    parser.add_argument("--crosswalk-rows", type=int, default=600_000, help="with --synthetic: crosswalk rows (default 600,000)")
    parser.add_argument("--actions", type=int, default=200, help="actions to time (default 200)")
    parser.add_argument("--work-dir", help="with --synthetic: where to write it (default: a temporary folder, removed)")
    parser.add_argument("--out", help="write the figures as JSON to this file")
    args = parser.parse_args(argv)
    work = None
    if args.synthetic:
        work = Path(args.work_dir or tempfile.mkdtemp(prefix="rcu-bench-review-"))
        started = time.perf_counter()
        synthetic_lakehouse(work / "lakehouse", args.synthetic, args.crosswalk_rows)
        print(f"synthetic lakehouse: {args.synthetic} queued pairs, {args.crosswalk_rows} crosswalk rows "
              f"({time.perf_counter() - started:.1f} s) in {work}")
        lakehouse = work / "lakehouse"
    else:
        lakehouse = Path(args.lakehouse)
    try:
        result = run(lakehouse, args.actions)
    finally:
        if work is not None and not args.work_dir:
            shutil.rmtree(work, ignore_errors=True)
    commit = subprocess.run(["git", "rev-parse", "--short", "HEAD"], cwd=ROOT, capture_output=True, text=True).stdout.strip()
    result.update(synthetic=bool(args.synthetic), pairs=args.synthetic,
                  crosswalk_rows=args.crosswalk_rows if args.synthetic else None, actions_asked=args.actions,
                  commit=commit or None, cpus=os.cpu_count(), load_average=[round(x, 1) for x in os.getloadavg()],
                  chromium=chromium_path())
    print(f"{result['queued']} queued pairs; store load: {result['load_seconds']} s; browser errors: {len(result['errors'])}")
    print(f"{'action':<10}{'n':>6}{'p50 ms':>10}{'p95 ms':>10}{'max ms':>10}")
    for action, figures in [*result["actions"].items(), ("all", result["all"])]:
        print(f"{action:<10}{figures['n']:>6}{figures['p50']:>10}{figures['p95']:>10}{figures['max']:>10}")
    if args.out:
        Path(args.out).write_text(json.dumps(result, indent=2), encoding="utf-8")
    return result


if __name__ == "__main__":
    main()
