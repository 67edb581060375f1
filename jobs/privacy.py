"""Privacy: a person's rights of access, erasure and objection (GDPR; CNIL, loi Informatique et Libertés).

    rcu privacy access --email E | --phone P | --customer C  --out DIR   everything held on the person: JSON + HTML (French)
    rcu privacy erase  --email E | --phone P | --customer C | --file F | --resume [--confirm] [--raw]
    rcu privacy object --email E | --phone P | --customer C [--withdraw]   out of every audience, data kept
    rcu privacy verify --request R                                       scan every file for the erased person
    rcu privacy purge                                                    drop what deleted rows left on disk

A request names the person by an email, a phone (any form) or a customer id. One that names nobody, or several
customers, changes nothing and says so (``--confirm`` acts on all the customers it names). A request file (CSV
with ``request_id``, ``email``, ``phone``, ``customer_id``) is processed line by line: malformed lines are
reported, the others done.

**Erasure** removes the person's records, interactions, identifiers and customers from every table of every
layer (one rewrite per table, whatever the number of requests), re-forms the clusters that held their records
(an incremental match: every other customer keeps its id; the erased ids are retired, never reused), adds
their hashed identifiers to the suppression list (a re-delivered file or a new event of theirs is quarantined
at ingest as ``erased``), and purges what Delta keeps of deleted rows once ``privacy_retention_hours``
(pipeline.yaml) has passed. The log (``ops.privacy_requests``) holds hashes, never the values. The raw landing
files that still hold the person are listed; ``--raw`` rewrites them without the person's rows.
"""

from __future__ import annotations

import argparse
import csv
import datetime as dt
import sys
import uuid
from functools import reduce
from dataclasses import dataclass, field
from pathlib import Path

import pyarrow.compute as pc
from pyspark.sql import DataFrame
from pyspark.sql import functions as F

from jobs.common import JobContext, Progress, add_common_arguments, add_lock_argument, writing_run
from spark_lib import tables
from spark_lib.config import INTERACTION_TABLES
from spark_lib.matching.probabilistic import load_matching_config, model_input
from spark_lib.privacy.erasure import erase_rows, raw_files_held
from spark_lib.privacy.footprint import Footprint, person_footprint
from spark_lib.privacy.identifiers import lakehouse_key
from spark_lib.privacy.requests import Request, RequestError, make_request, read_request_file, resolve_requests

REQUEST_SCHEMA = ("request_id string, action string, batch_id string, received_at timestamp, status string, "
                  "detail string, request_hashes array<string>, customer_hashes array<string>, "
                  "raw_files array<string>, records_erased long, finished_at timestamp")
#: the kinds of hash a batch leaves in the suppression list (all but ``frequency`` stop a returning row)
FOOTPRINT_KINDS = ("customer", "record", "identifier", "frequency")


@dataclass
class PrivacyReport:
    #: request_id -> status (erased, objected, withdrawn, no_match, ambiguous)
    statuses: dict = field(default_factory=dict)
    #: request_id -> what the user is told
    details: dict = field(default_factory=dict)
    problems: list = field(default_factory=list)
    removed: dict = field(default_factory=dict)
    raw_files: list = field(default_factory=list)
    batch_id: str | None = None
    seconds: dict = field(default_factory=dict)


# requests -----------------------------------------------------------------------------------------

def _requests(args) -> tuple[list[Request], list[str]]:
    if getattr(args, "resume", False):
        return [], []
    if getattr(args, "file", None):
        return read_request_file(args.file)
    return [make_request(args.email, args.phone, args.customer, getattr(args, "request_id", None))], []


def _decide(requests: list[Request], found: dict[str, list[str]], confirm: bool, report: PrivacyReport) -> dict[str, list[str]]:
    """request_id -> customers to act on; the others get their status and what to do."""
    chosen = {}
    for request in requests:
        customers = found.get(request.request_id, [])
        if not customers:
            report.statuses[request.request_id] = "no_match"
            report.details[request.request_id] = "no customer holds this identifier: nothing changed"
        elif len(customers) > 1 and not confirm:
            report.statuses[request.request_id] = "ambiguous"
            report.details[request.request_id] = (
                f"{len(customers)} customers hold this identifier ({', '.join(customers)}): nothing changed; "
                "name one with --customer, or add --confirm to act on all of them")
        else:
            chosen[request.request_id] = customers
    return chosen


def _log_requests(ctx: JobContext, rows: list[tuple]) -> None:
    if rows:
        df = ctx.spark.createDataFrame(rows, REQUEST_SCHEMA)
        ctx.lake.merge(df, tables.PRIVACY_REQUESTS, keys=tables.PRIVACY_REQUESTS.keys)


def _request_row(request: Request, action: str, batch_id: str | None, status: str, detail: str, key: str,
                 customer_hashes=(), raw_files=(), records=None, finished=None) -> tuple:
    now = dt.datetime.now(dt.timezone.utc).replace(tzinfo=None)
    return (request.request_id, action, batch_id, now, status, detail, sorted(request.hashes(key)),
            sorted(customer_hashes), list(raw_files), records, finished)


# erasure ------------------------------------------------------------------------------------------

def _footprint_rows(footprint: Footprint, batch_id: str) -> list[tuple]:
    return [(h, kind, batch_id) for kind, hashes in footprint.by_kind().items() for h in sorted(hashes)]


def batch_footprint(ctx: JobContext, batch_ids: list[str]) -> Footprint:
    """The footprint a batch (or several) left in the suppression list: what a resumed erasure deletes and
    what ``verify`` looks for."""
    if not batch_ids or not ctx.lake.exists(tables.SUPPRESSION_LIST):
        return Footprint()
    rows = ctx.lake.read(tables.SUPPRESSION_LIST).where(F.col("batch_id").isin(batch_ids)).collect()
    by_kind = {kind: frozenset(r.hash for r in rows if r.kind == kind) for kind in FOOTPRINT_KINDS}
    return Footprint(by_kind["customer"], by_kind["record"], by_kind["identifier"], by_kind["frequency"])


def _pending(ctx: JobContext) -> dict[str, str]:
    """request_id -> batch_id of the erasures a killed run left half done (status ``erasing``)."""
    if not ctx.lake.exists(tables.PRIVACY_REQUESTS):
        return {}
    rows = (ctx.lake.read(tables.PRIVACY_REQUESTS).where("action = 'erase' AND status = 'erasing'")
            .select("request_id", "batch_id").collect())
    return {r.request_id: r.batch_id for r in rows}


def erase(ctx: JobContext, requests: list[Request], confirm: bool = False, progress: Progress | None = None,
          problems: list[str] | None = None, raw: bool = False) -> PrivacyReport:
    """Erase the people the requests name (and finish the erasures a killed run left): see the module docstring."""
    from jobs import match
    from spark_lib.privacy.purge import purge_lakehouse

    progress = progress or Progress("privacy erase")
    stages = ctx.stages("privacy", progress)
    report = PrivacyReport(problems=list(problems or []), seconds=stages.seconds)
    lake, key = ctx.lake, lakehouse_key(ctx.lake.root)
    specs = {s.name: s for s in ctx.sources.sources}
    now = dt.datetime.now(dt.timezone.utc).replace(tzinfo=None)

    with stages("resolve") as stage:
        records, crosswalk = lake.read(tables.CUSTOMER_RECORDS), lake.read(tables.CROSSWALK)
        resumed = _pending(ctx)
        pending = sorted(set(resumed.values()))
        # a request a killed run left half done is finished with its batch, not resolved again (its records
        # may be gone already)
        requests = [r for r in requests if r.request_id not in resumed]
        found = resolve_requests(records, crosswalk, requests, key)
        chosen = _decide(requests, found, confirm, report)
        stage.done(f"{len(requests):,} request(s): {len(chosen):,} to erase, {len(requests) - len(chosen):,} not; "
                   f"{len(resumed):,} request(s) left unfinished by an earlier run, finished now")
    _log_requests(ctx, [_request_row(r, "erase", None, report.statuses[r.request_id], report.details[r.request_id], key,
                                     finished=now) for r in requests if r.request_id not in chosen])

    footprint = batch_footprint(ctx, pending)
    held_files: list[tuple[str, str]] = []
    if chosen:
        with stages("footprint") as stage:
            config = load_matching_config(ctx.conf_dir / "matching.yaml")
            customers = sorted({c for ids in chosen.values() for c in ids})
            new = person_footprint(records, crosswalk, customers, key, model_input(records, config),
                                   config.probabilistic.comparisons.term_frequency_columns, _orders(ctx))
            held_files = raw_files_held(lake, new, key, specs, ctx.raw_dir)
            report.raw_files = [path for _, path in held_files]
            report.batch_id = f"E{now:%Y%m%d%H%M%S}-{uuid.uuid4().hex[:8]}"
            # The suppression list first: it is the footprint a resumed run finishes with, and it stops the
            # person's rows at ingest from now on.
            rows = ctx.spark.createDataFrame(_footprint_rows(new, report.batch_id), "hash string, kind string, batch_id string")
            lake.append_new(rows.withColumn("added_at", F.current_timestamp()), tables.SUPPRESSION_LIST,
                            keys=tables.SUPPRESSION_LIST.keys)
            by_request = {r.request_id: r for r in requests}
            _log_requests(ctx, [
                _request_row(by_request[rid], "erase", report.batch_id, "erasing", f"{len(ids)} customer(s)", key,
                             customer_hashes=_customer_hashes(ids, key), raw_files=report.raw_files)
                for rid, ids in chosen.items()])
            footprint = footprint | new
            stage.done(f"{len(new.customers):,} customer(s), {len(new.records):,} record(s), {len(new.identifiers):,} "
                       f"identifier(s) no one else holds; {len(report.raw_files):,} raw file(s) hold them")
    if footprint.is_empty():
        progress("nothing to erase")
        return report

    with stages("erase") as stage:
        report.removed = erase_rows(lake, footprint, key, specs, progress)
        stage.done(f"{sum(report.removed.values()):,} row(s) erased from {len(report.removed):,} table(s)")
    if raw:
        with stages("raw_files") as stage:
            # the files quarantined as files never reached bronze: only their text can say they hold the person
            screened = [f for f in _quarantined_files(ctx) if f not in held_files]
            report.raw_files = _rewrite_raw_files(ctx, held_files + screened, footprint, key, progress)
            stage.done(f"{len(held_files) + len(screened) - len(report.raw_files):,} raw file(s) screened or "
                       "rewritten without the erased rows")
    # The clusters that held the records are formed again from what remains: an incremental match run.
    match.run(ctx, progress=progress, evaluate=False)
    with stages("purge") as stage:
        purged = purge_lakehouse(ctx.spark, lake, ctx.pipeline.privacy_retention_hours, workers=ctx.pipeline.concurrent_tables)
        stage.done(purged.summary())
    done = dt.datetime.now(dt.timezone.utc).replace(tzinfo=None)
    batches = [b for b in [*pending, report.batch_id] if b]
    erased = report.removed.get(tables.CUSTOMER_RECORDS, 0)
    finished = (lake.read(tables.PRIVACY_REQUESTS).where(F.col("batch_id").isin(batches) & (F.col("status") == "erasing"))
                .withColumn("status", F.lit("erased")).withColumn("finished_at", F.lit(done))
                .withColumn("records_erased", F.lit(erased).cast("long"))
                .withColumn("detail", F.concat(F.col("detail"), F.lit(f"; {erased:,} record(s) erased in the batch"))))
    lake.merge(finished.localCheckpoint(), tables.PRIVACY_REQUESTS, keys=tables.PRIVACY_REQUESTS.keys)
    for request_id in [*chosen, *resumed]:
        report.statuses[request_id] = "erased"
    return report


def _rewrite_raw_files(ctx: JobContext, held: list[tuple[str, str]], footprint: Footprint, key: str,
                       progress: Progress) -> list[str]:
    """Rewrite the landing files without the erased rows, each logged in ``bronze.ingestion_log`` under its new
    hash before it replaces the old one (the next ingest does not take it again); returns the files left as
    they were (a format not rewritten)."""
    from spark_lib.privacy.raw_files import NOTHING_HELD, RawRewrite, rewrite_raw_file
    from spark_lib.schemas import INGESTION_LOG

    left = []
    hashes = footprint.records | footprint.identifiers
    for source, path in held:
        spec = ctx.sources.get(source)

        def log(new_hash: str, kept: int, source=source, path=path) -> None:
            row = [(source, path, new_hash, kept, kept, 0, "erasure", "rewritten")]
            frame = ctx.spark.createDataFrame(row, INGESTION_LOG).withColumn("ingested_at", F.current_timestamp())
            ctx.lake.append(frame, tables.INGESTION_LOG)

        try:
            done = rewrite_raw_file(Path(path), spec, hashes, key, before_replace=log)
        except (OSError, ValueError, csv.Error) as error:   # a file quarantined as unreadable stays unreadable
            done = RawRewrite(path, 0, 0, None, f"cannot be read as a {spec.format} file of {source}: {error}")
        if done.left_because == NOTHING_HELD:
            continue
        if done.left_because:
            left.append(path)
            progress(f"{path}: left as it is ({done.left_because})")
        else:
            progress(f"{path}: {done.rows_removed:,} row(s) removed, {done.rows_kept:,} kept")
    return left


def _quarantined_files(ctx: JobContext) -> list[tuple[str, str]]:
    """(source, path) of the raw files quarantined as files (never landed) that are still in the raw folder."""
    if not ctx.lake.exists(tables.FILE_QUARANTINE):
        return []
    from spark_lib.sources.readers import file_fingerprint, list_files

    rows = ctx.lake.read(tables.FILE_QUARANTINE).select("source", "file_path", "file_hash").distinct().collect()
    found = []
    for source in sorted({r.source for r in rows} & set(ctx.sources.names)):
        wanted = {(Path(r.file_path).name, r.file_hash) for r in rows if r.source == source}
        # found in the current raw folder by name and content, as raw_files_held finds the landed ones
        found += [(source, p) for p in list_files(ctx.sources.get(source), ctx.raw_dir)
                  if (Path(p).name, file_fingerprint(p)) in wanted]
    return found


def _orders(ctx: JobContext):
    """record_key, order_id of every interaction that names an order (None: no interaction table)."""
    frames = [ctx.lake.read(t).where("order_id IS NOT NULL").select("record_key", "order_id")
              for name in INTERACTION_TABLES if ctx.lake.exists(t := tables.interactions(name))]
    return reduce(DataFrame.unionByName, frames) if frames else None


def _customer_hashes(customer_ids, key) -> list[str]:
    from spark_lib.privacy.identifiers import hashes_of
    return sorted(hashes_of((("id", c) for c in customer_ids), key))


# objection ----------------------------------------------------------------------------------------

def object_(ctx: JobContext, requests: list[Request], confirm: bool = False, withdraw: bool = False,
            progress: Progress | None = None) -> PrivacyReport:
    """Keep the people the requests name out of every audience from the next activation (``withdraw``: let
    them back in). Their data stays; ``ops.objections`` holds their hashed customer ids, record keys and
    identifiers, so a record they add later (a new account merged into their customer, or a customer of its
    own with the same email) is kept out too. Their rows of the latest audience snapshot are removed now."""
    progress = progress or Progress("privacy object")
    report = PrivacyReport()
    lake, key = ctx.lake, lakehouse_key(ctx.lake.root)
    records, crosswalk = lake.read(tables.CUSTOMER_RECORDS), lake.read(tables.CROSSWALK)
    chosen = _decide(requests, resolve_requests(records, crosswalk, requests, key), confirm, report)
    now = dt.datetime.now(dt.timezone.utc).replace(tzinfo=None)
    by_request = {r.request_id: r for r in requests}
    rows, logged = [], []
    for request_id, customers in chosen.items():
        footprint = person_footprint(records, crosswalk, customers, key)
        if withdraw:
            report.statuses[request_id] = "withdrawn"
        else:
            report.statuses[request_id] = "objected"
            rows += [(request_id, h, kind, now) for kind, hashes in footprint.by_kind().items() if kind != "frequency"
                     for h in sorted(hashes)]
        report.details[request_id] = f"{len(customers)} customer(s)"
        logged.append(_request_row(by_request[request_id], "withdraw" if withdraw else "object", None,
                                   report.statuses[request_id], report.details[request_id], key,
                                   customer_hashes=footprint.customers, finished=now))
    logged += [_request_row(r, "object", None, report.statuses[r.request_id], report.details[r.request_id], key,
                            finished=now) for r in requests if r.request_id not in chosen]
    if withdraw and chosen and lake.exists(tables.OBJECTIONS):
        hashes = sorted(_customer_hashes([c for ids in chosen.values() for c in ids], key))
        objections = lake.read(tables.OBJECTIONS)
        ended = objections.where((F.col("kind") == "customer") & F.col("hash").isin(hashes)).select("request_id")
        doomed = objections.join(ended, "request_id", "left_semi").localCheckpoint()
        removed = lake.delete_keys(doomed, tables.OBJECTIONS, ["request_id", "hash"])
        progress(f"objection withdrawn: {removed:,} hash(es) removed from {tables.OBJECTIONS}")
    if rows:
        df = ctx.spark.createDataFrame(rows, "request_id string, hash string, kind string, objected_at timestamp")
        lake.append_new(df, tables.OBJECTIONS, keys=tables.OBJECTIONS.keys)
        if lake.exists(tables.AUDIENCE_MEMBERS):
            members = lake.read(tables.AUDIENCE_MEMBERS)
            latest = members.agg(F.max("run_date")).first()[0]
            customers = sorted({c for ids in chosen.values() for c in ids})
            doomed = members.where((F.col("run_date") == latest) & F.col("customer_id").isin(customers)).localCheckpoint()
            if not doomed.isEmpty():
                removed = lake.delete_keys(doomed, tables.AUDIENCE_MEMBERS, list(tables.AUDIENCE_MEMBERS.keys))
                progress(f"{removed:,} row(s) of the {latest} audience snapshot removed")
    _log_requests(ctx, logged)
    return report


# verify and purge ---------------------------------------------------------------------------------

def scan_roots(ctx: JobContext, raw: bool = False) -> list[Path]:
    """What verify scans: the lakehouse, the reports beside it, the MLflow store and its artefacts (the
    embedded sqlite one), and with ``raw`` the raw landing folder."""
    lakehouse = Path(ctx.lake.root.removeprefix("file:"))
    roots = [lakehouse, lakehouse.resolve().parent / "reports"]
    uri = ctx.pipeline.mlflow_tracking_uri
    if uri.startswith("sqlite:///"):
        database = Path(uri[len("sqlite:///"):])
        database = database if database.is_absolute() else Path(ctx.pipeline.resolve(str(database)))
        roots += [database, database.parent / "mlruns"]
    elif uri.startswith("file:") or "://" not in uri:
        roots.append(Path(uri.removeprefix("file:")))
    if raw:
        roots.append(Path(ctx.raw_dir))
    return [r for r in roots if r.exists()]


def verify(ctx: JobContext, request_id: str, raw: bool = False):
    """Scan every file of the lakehouse, its reports and the MLflow store for the erased person's values
    (their hashes: the values themselves are gone); returns the scan report. No Spark: the request and the
    suppression list are read with the ``deltalake`` package."""
    from spark_lib.privacy.access import LakeReader
    from spark_lib.privacy.scan import scan

    lake = LakeReader(ctx.lake.root)
    requests = lake.rows(tables.PRIVACY_REQUESTS, pc.field("request_id") == request_id)
    if requests is None or not requests.num_rows:
        raise RequestError(f"no request {request_id!r} in {tables.PRIVACY_REQUESTS} of {ctx.lake.root}")
    row = requests.to_pylist()[0]
    if row["action"] != "erase" or not row["batch_id"]:
        raise RequestError(f"request {request_id} is a {row['action']} request with status {row['status']}: nothing "
                           "was erased, so there is nothing to verify")
    suppressed = lake.rows(tables.SUPPRESSION_LIST, pc.field("batch_id") == row["batch_id"]).to_pylist()
    labels = {"customer": "customer id", "record": "record id", "identifier": "identifier"}
    hashes = {r["hash"]: labels[r["kind"]] for r in suppressed if r["kind"] in labels}
    return scan(scan_roots(ctx, raw), hashes, lakehouse_key(ctx.lake.root))


def purge(ctx: JobContext, progress: Progress | None = None):
    from spark_lib.privacy.purge import purge_lakehouse
    progress = progress or Progress("privacy purge")
    result = purge_lakehouse(ctx.spark, ctx.lake, ctx.pipeline.privacy_retention_hours,
                             workers=ctx.pipeline.concurrent_tables)
    progress(result.summary())
    return result


# command line -------------------------------------------------------------------------------------

def _person_arguments(parser: argparse.ArgumentParser, with_file: bool = False, resumable: bool = False) -> None:
    who = parser.add_mutually_exclusive_group(required=True)
    who.add_argument("--email", help="the person's email, as they give it")
    who.add_argument("--phone", help="the person's phone, in any form (06 12 34 56 78, +33 6...)")
    who.add_argument("--customer", help="the customer id (gold.customer)")
    if with_file:
        who.add_argument("--file", help="a CSV of requests: request_id, email, phone, customer_id")
    if resumable:
        who.add_argument("--resume", action="store_true",
                         help="only finish the requests a killed run left half done (every run finishes them first)")
    parser.add_argument("--request-id", help="your reference for the request (default: R<date>-<random>)")
    parser.add_argument("--confirm", action="store_true",
                        help="act on every customer an identifier names when it names several")


def build_parser(parser: argparse.ArgumentParser | None = None) -> argparse.ArgumentParser:
    parser = parser or argparse.ArgumentParser(prog="rcu privacy", description=__doc__,
                                               formatter_class=argparse.RawDescriptionHelpFormatter)
    actions = parser.add_subparsers(dest="action", metavar="<action>", required=True)
    access = actions.add_parser("access", help="export everything held on a person (JSON + HTML in French)")
    _person_arguments(access)
    access.add_argument("--out", default="exports/privacy", help="folder of the export (default: exports/privacy)")
    erase_ = actions.add_parser("erase", help="erase people from every layer, re-form their clusters, purge")
    _person_arguments(erase_, with_file=True, resumable=True)
    erase_.add_argument("--raw", action="store_true", help="also rewrite the raw landing files without their rows")
    objection = actions.add_parser("object", help="keep a person out of every audience and trigger (data kept)")
    _person_arguments(objection, with_file=True)
    objection.add_argument("--withdraw", action="store_true", help="the person withdraws the objection")
    check = actions.add_parser("verify", help="scan every file for an erased person's values")
    check.add_argument("--request", required=True, help="the erasure's request id")
    check.add_argument("--raw", action="store_true", help="scan the raw landing folder too")
    actions.add_parser("purge", help="remove what deleted rows left on disk past privacy_retention_hours")
    for sub in (access, erase_, objection, check, actions.choices["purge"]):
        add_common_arguments(sub)
    for sub in (erase_, objection, actions.choices["purge"]):
        add_lock_argument(sub)
    return parser


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    command = f"rcu privacy {args.action}"
    try:
        if args.action == "access":
            return _access(args)
        if args.action == "verify":
            ctx = _reading_context(args)
            result = verify(ctx, args.request, args.raw)
            for hit in result.hits:
                print(f"  {hit.file}: {hit.location} ({hit.kind})")
            for path, why in result.skipped:
                print(f"  not read: {path}: {why}", file=sys.stderr)
            print(f"{command}: {result.files_scanned:,} file(s), {result.bytes_scanned / 1e6:,.1f} MB scanned: "
                  f"{len(result.hits):,} hit(s)", file=sys.stderr)
            return 0 if not result.hits else 4
        requests, problems = ([], []) if args.action == "purge" else _requests(args)
    except RequestError as error:
        print(f"{command}: error: {error}", file=sys.stderr)
        return 1
    for problem in problems:
        print(f"{command}: {problem}: skipped", file=sys.stderr)
    with writing_run(args, "rcu-privacy", command, steps=["match"] if args.action == "erase" else [],
                     check_files=False) as ctx:
        if args.action == "purge":
            purge(ctx)
            return 0
        if args.action == "erase":
            report = erase(ctx, requests, args.confirm, problems=problems, raw=args.raw)
        else:
            report = object_(ctx, requests, args.confirm, args.withdraw)
    for request_id, status in report.statuses.items():
        detail = report.details.get(request_id, "")
        print(f"{request_id}: {status}{': ' + detail if detail else ''}")
    if report.raw_files:
        print(f"raw landing files that still hold the erased rows ({len(report.raw_files)}): rewrite them without "
              "those rows or delete them (--raw)", file=sys.stderr)
        for path in report.raw_files:
            print(f"  {path}", file=sys.stderr)
    unresolved = [s for s in report.statuses.values() if s in ("no_match", "ambiguous")]
    return 3 if unresolved or problems else 0


def _reading_context(args) -> JobContext:
    """A context that reads the configuration only: verify reads the lakehouse without Spark."""
    from jobs.common import _configuration
    from spark_lib.config import load_sources
    from spark_lib.storage import Lakehouse

    conf_dir, pipeline, sources_file = _configuration(args)
    return JobContext(None, pipeline, load_sources(sources_file), Lakehouse(None, pipeline.resolve(pipeline.lakehouse_dir)))


def _access(args) -> int:
    from spark_lib.config import load_sources
    from jobs.common import _configuration
    from spark_lib.privacy.access import access_export, write_export

    _, pipeline, sources_file = _configuration(args)
    request = make_request(args.email, args.phone, args.customer, args.request_id)
    lakehouse = pipeline.resolve(pipeline.lakehouse_dir)
    export = access_export(lakehouse, list(load_sources(sources_file).sources), request, lakehouse_key(lakehouse),
                           args.confirm)
    json_path, html_path = write_export(export, Path(args.out))
    rows = sum(len(rows) for rows in export.sections.values())
    message = {"found": f"{rows:,} row(s) held on customer {', '.join(export.customers)}",
               "no_match": "no customer holds this identifier",
               "ambiguous": f"{len(export.customers)} customers hold this identifier ({', '.join(export.customers)}): "
                            "name one with --customer, or add --confirm"}[export.status]
    print(f"rcu privacy access: {request.request_id}: {message}; written to {json_path} and {html_path}", file=sys.stderr)
    return 0 if export.status == "found" else 3


if __name__ == "__main__":
    sys.exit(main())
