"""Ingest: land each source's new raw files in its bronze Delta table; bad rows and bad files go to quarantine.

Append-only and idempotent: a file already taken (the same name and SHA-256, landed or quarantined) is
skipped, and a batch replaces its own files' rows atomically, so a run interrupted half-way converges when re-run.

A bad file never stops the day. Each new file is checked first (empty, header only, wrong separator, encoding
or format, compressed, a column named twice, a mapped column missing or retyped, truncated, unreadable, the
same bytes as a file already landed under another name: :mod:`spark_lib.sources.files`); a bad file goes to
``bronze.file_quarantine`` with its reason and what to do, the other files land. Rows that cannot
be used go to ``bronze.quarantine``. ``bronze.ingestion_log`` has one row per file taken, quarantined files
included (so they are not retried; a fixed file is new content, a new hash, and lands when re-delivered).
A mapped column that no file has is a configuration error (a misspelt mapping), checked against the bronze
table even when no new file arrived.

Exit status: 0 every new file landed; 3 done, but some files were quarantined (listed at the end, and in
bronze.file_quarantine); 1 failed (a source could not be ingested: its error is printed; the other sources
are still landed and logged).

    spark-submit --py-files rcu.zip jobs/ingest.py --lakehouse /data/lakehouse --raw-dir /data/raw
    rcu ingest [--source loyalty_members ...]
"""

from __future__ import annotations

import argparse
import dataclasses
import os
import sys
import uuid
from dataclasses import asdict, dataclass, field
from functools import reduce

from pyspark import StorageLevel
from pyspark.sql import DataFrame
from pyspark.sql import functions as F
from pyspark.errors import AnalysisException
from pyspark.sql.types import StructType

from jobs.common import JobContext, Progress, add_common_arguments, add_lock_argument, run_concurrently, writing_run
from spark_lib import tables
from spark_lib.config import SourceSpec
from spark_lib.deletions import read_deletion_list
from spark_lib.privacy.footprint import Suppression, read_suppression
from spark_lib.privacy.identifiers import lakehouse_key
from spark_lib.schemas import FILE_QUARANTINE, INGESTION_LOG
from spark_lib.sources import files as checks
from spark_lib.sources.bronze import BronzeSplit, split_malformed, validate_mapping, with_ingestion_metadata
from spark_lib.sources.readers import (
    SourceFileError,
    csv_header,
    file_fingerprint,
    file_schema,
    list_files,
    mapping_errors,
    read_raw,
)

#: exit status of a run that landed what it could but quarantined some files
EXIT_FILES_QUARANTINED = 3
EXIT_FAILED = 1


class IngestError(RuntimeError):
    """Some sources could not be ingested (the others were); the message lists each source's error."""


@dataclass(frozen=True)
class IngestReport:
    source: str
    files_found: int
    files_ingested: int
    rows_read: int
    rows_bronze: int
    rows_quarantined: int
    files_quarantined: int = 0


@dataclass(frozen=True)
class QuarantinedFile:
    source: str
    path: str
    file_hash: str
    size: int
    problem: checks.FileProblem

    def line(self) -> str:
        return f"{self.source}: {self.path}: {self.problem.reason}: {self.problem.detail}; {self.problem.action}"


@dataclass
class TakenFiles:
    """One source's files already taken: (file name, hash) of each, and the path each landed content came from.

    A file is known by its name and content, not its folder: a raw folder moved or mounted elsewhere is not
    delivered again. The same content under another name is a duplicate (an old file re-sent in place of the
    day's export, say), quarantined as such and not landed twice."""

    names: set[tuple[str, str]] = field(default_factory=set)
    landed: dict[str, str] = field(default_factory=dict)

    def taken(self, path: str, digest: str) -> bool:
        return (os.path.basename(path), digest) in self.names


def taken_files(ctx: JobContext) -> dict[str, TakenFiles]:
    """The files already taken, by source (one read of the log)."""
    log = ctx.lake.small_table_rows(tables.INGESTION_LOG, ["source", "file_path", "file_hash", "status"])
    taken: dict[str, TakenFiles] = {}
    for row in log or ():
        files = taken.setdefault(row["source"], TakenFiles())
        files.names.add((os.path.basename(row["file_path"]), row["file_hash"]))
        if row["status"] != "file_quarantined":   # landed (or logged before statuses existed)
            files.landed.setdefault(row["file_hash"], row["file_path"])
    return taken


@dataclass
class _Landed:
    """One source's batch once its bronze rows are written: what remains to record in the shared tables."""

    report: IngestReport
    files: dict[str, str] = field(default_factory=dict)   # path -> hash of every file taken
    landed_hashes: tuple[str, ...] = ()
    quarantine: DataFrame | None = None      # checkpointed: small, and independent of the raw files
    log_rows: list = field(default_factory=list)
    bad_files: list[QuarantinedFile] = field(default_factory=list)
    error: str | None = None


def screen_files(ctx: JobContext, spec: SourceSpec, new: dict[str, str], bronze: StructType | None,
                 landed: dict[str, str]) -> dict[str, checks.FileProblem]:
    """The problem of each new file that cannot be landed (see :mod:`spark_lib.sources.files`); a mapped column
    that no file has raises :class:`SourceFileError` (the mapping is wrong, not the files). ``landed``: the
    path each content already in bronze came from."""
    problems = {path: p for path in new if (p := checks.inspect_file(spec, path))}
    first_copy = dict(landed)
    for path, digest in new.items():
        if path in problems:
            continue
        if digest in first_copy:
            when = "already landed" if digest in landed else "in this delivery"
            problems[path] = checks.FileProblem(checks.DUPLICATE, f"the same bytes as {first_copy[digest]} ({when})")
        else:
            first_copy[digest] = path
    schemas: dict[str, StructType] = {}
    for path in new:
        if path in problems:
            continue
        try:
            schema = file_schema(ctx.spark, spec, path)
        except Exception as error:  # noqa: BLE001 - whatever the reader says, the file is what is wrong
            problems[path] = checks.FileProblem(checks.UNREADABLE, _first_line(error))
            continue
        if schema is not None:
            schemas[path] = schema
    missing, errors = checks.missing_column_problems(schemas, spec, bronze)
    if errors:
        raise SourceFileError("; ".join(errors))
    problems.update(missing)
    if spec.format != "parquet":
        return problems
    candidates = {path: schema for path, schema in schemas.items() if path not in problems}
    # no bronze table yet: the types most of the delivery's rows have
    reference = bronze or checks.prevailing_types(candidates)
    for path, schema in candidates.items():
        retyped = checks.retyped_columns(reference, schema)
        if retyped:
            compared = "the bronze table" if bronze is not None else "most of the delivery's rows"
            problems[path] = checks.FileProblem(checks.RETYPED_COLUMN, f"{'; '.join(retyped)} (types of {compared})")
    return problems


def read_files(ctx: JobContext, spec: SourceSpec, paths: list[str]) -> DataFrame:
    """Read files of one source; CSV files are read per header (files whose columns differ all land, bronze
    takes the union of their columns)."""
    groups: dict[tuple, list[str]] = {}
    for path in paths:
        key = tuple(csv_header(spec, path)) if spec.format == "csv" and spec.header else ()
        groups.setdefault(key, []).append(path)
    frames = [read_raw(ctx.spark, spec, group) for group in groups.values()]
    return reduce(lambda a, b: a.unionByName(b, allowMissingColumns=True), frames)


def read_isolating_bad_files(ctx: JobContext, spec: SourceSpec, hashes: dict[str, str], batch_id: str,
                             problems: dict[str, checks.FileProblem]) -> DataFrame | None:
    """The files' rows with ingestion metadata, persisted; a file Spark fails to read is found by reading the
    files one by one, and added to ``problems`` as unreadable. None when no file is left."""
    def landed(paths: list[str]) -> DataFrame:
        rows = read_files(ctx, spec, paths)
        metadata = ctx.spark.createDataFrame([(p, hashes[p]) for p in paths], "path string, file_hash string")
        # Read once, written to bronze, counted and split: keep it rather than re-parse the files.
        df = with_ingestion_metadata(rows, spec.name, metadata, batch_id).persist(StorageLevel.MEMORY_AND_DISK)
        df.count()
        return df

    paths = [p for p in hashes if p not in problems]
    if not paths:
        return None
    try:
        return landed(paths)
    except SourceFileError:
        raise
    except Exception:  # noqa: BLE001 - find the file(s) at fault, land the others
        for path in paths:
            try:
                landed([path]).unpersist()
            except Exception as error:  # noqa: BLE001
                problems[path] = checks.FileProblem(checks.UNREADABLE, _first_line(error))
        paths = [p for p in paths if p not in problems]
        return landed(paths) if paths else None


def _first_line(error: BaseException) -> str:
    text = str(error).strip().splitlines()
    return f"{type(error).__name__}: {text[0] if text else ''}"[:500]


def check_mapping(ctx: JobContext, spec: SourceSpec) -> None:
    """Check the mapping against the bronze table when no file is new: a misspelt column fails here, at
    ingest, and not later at standardise."""
    table = tables.bronze(spec.name)
    if ctx.lake.exists(table):
        errors = mapping_errors(ctx.lake.read(table).schema, spec, f"{table} (no new file)")
        if errors:
            raise SourceFileError("; ".join(errors.values()))


def ingest_source(ctx: JobContext, spec: SourceSpec, batch_id: str, progress: Progress, taken: TakenFiles,
                  suppression: Suppression | None = None) -> _Landed:
    """Land one source's new files in ``bronze.<source>``; its quarantine and log rows are returned, not written
    (several sources land at the same time, and one writer per shared table avoids commit conflicts)."""
    files = list_files(spec, ctx.raw_dir)
    if not files:
        progress(f"{spec.name}: no file matches {spec.glob(ctx.raw_dir)}")
        check_mapping(ctx, spec)
        return _Landed(IngestReport(spec.name, 0, 0, 0, 0, 0))
    new = {path: digest for path in files if not taken.taken(path, digest := file_fingerprint(path))}
    if not new:
        progress(f"{spec.name}: {len(files)} file(s), all already taken")
        check_mapping(ctx, spec)
        return _Landed(IngestReport(spec.name, len(files), 0, 0, 0, 0))

    table = tables.bronze(spec.name)
    bronze_schema = ctx.lake.read(table).schema if ctx.lake.exists(table) else None
    problems = screen_files(ctx, spec, new, bronze_schema, taken.landed)
    landed = read_isolating_bad_files(ctx, spec, new, batch_id, problems)
    bad = [QuarantinedFile(spec.name, p, new[p], os.path.getsize(p), problem) for p, problem in problems.items()]
    counts: dict[str, tuple[int, int]] = {}
    quarantine = None
    if landed is not None:
        validate_mapping(landed, spec, path_hint=", ".join(p for p in new if p not in problems), known=bronze_schema)
        split = split_malformed(landed, spec)
        if suppression is not None:   # an erased person's row never lands: quarantined as erased, without its values
            split = BronzeSplit(*suppression.split(split.valid, spec, split.quarantine))
        in_batch = ", ".join(f"'{h}'" for p, h in new.items() if p not in problems)
        # the batch id noted in the commit: standardise finds the batches added since its last run in the log
        ctx.lake.replace_where(split.valid, table, f"_file_hash IN ({in_batch})", note=batch_id)
        quarantine = split.quarantine.localCheckpoint()
        if suppression is not None:
            quarantine = suppression.screen_quarantine(quarantine).localCheckpoint()
        read = {r.file_hash: r.n for r in landed.groupBy(F.col("_file_hash").alias("file_hash")).count()
                .withColumnRenamed("count", "n").collect()}
        rejected = {r.file_hash: r.n for r in quarantine.groupBy("file_hash").count()
                    .withColumnRenamed("count", "n").collect()}
        counts = {h: (read.get(h, 0), rejected.get(h, 0)) for h in read}
        landed.unpersist()
    log_rows = []
    for path, digest in new.items():
        # every file taken is logged, a file with no row (or quarantined as a file) too: it is not taken again
        status = "file_quarantined" if path in problems else "landed"
        rows_read, rows_quarantined = counts.get(digest, (0, 0)) if status == "landed" else (0, 0)
        log_rows.append((spec.name, path, digest, rows_read, rows_read - rows_quarantined, rows_quarantined,
                         batch_id, status))
    report = IngestReport(
        spec.name,
        len(files),
        len(new) - len(problems),
        sum(r[3] for r in log_rows),
        sum(r[4] for r in log_rows),
        sum(r[5] for r in log_rows),
        len(problems),
    )
    progress(
        f"{spec.name}: {report.files_ingested}/{report.files_found} new file(s) landed, "
        f"{report.files_quarantined} quarantined, {report.rows_read:,} rows read, "
        f"{report.rows_bronze:,} to bronze, {report.rows_quarantined:,} quarantined"
    )
    landed_hashes = tuple(h for p, h in new.items() if p not in problems)
    return _Landed(report, new, landed_hashes, quarantine, log_rows, bad)


def write_shared_tables(ctx: JobContext, batches: list[_Landed], batch_id: str) -> None:
    """Record the batches in the quarantines, then the log (last: a file is taken once its log row is written)."""
    batches = [b for b in batches if b.files]
    if not batches:
        return
    frames = [b.quarantine for b in batches if b.quarantine is not None]
    if frames:
        landed_filter = " OR ".join(
            f"(source = '{b.report.source}' AND file_hash IN ({', '.join(repr(h) for h in b.landed_hashes)}))"
            for b in batches if b.landed_hashes
        )
        ctx.lake.replace_where(reduce(DataFrame.unionByName, frames), tables.QUARANTINE, landed_filter)
    bad = [f for b in batches for f in b.bad_files]
    if bad or ctx.lake.exists(tables.FILE_QUARANTINE):
        # by path and hash: a duplicate shares its hash with the first copy, several empty files share theirs
        files_filter = " OR ".join(
            f"(source = '{b.report.source}' AND file_path = {_sql_string(path)} AND file_hash = '{digest}')"
            for b in batches for path, digest in b.files.items()
        )
        rows = [(f.source, f.path, f.file_hash, f.size, f.problem.reason, f.problem.detail, f.problem.action,
                 batch_id) for f in bad]
        schema = StructType(FILE_QUARANTINE.fields[:-3])   # then the commit's time, and not resolved yet
        files = ctx.spark.createDataFrame(rows, schema).withColumns({
            "quarantined_at": F.current_timestamp(),
            "resolved_at": F.lit(None).cast("timestamp"),
            "resolved_by": F.lit(None).cast("string"),
        })
        ctx.lake.replace_where(files, tables.FILE_QUARANTINE, files_filter)
        mark_resolved(ctx, batches, batch_id)
    rows = [row for b in batches for row in b.log_rows]
    log = ctx.spark.createDataFrame(rows, INGESTION_LOG).withColumn("ingested_at", F.current_timestamp())
    ctx.lake.append(log, tables.INGESTION_LOG)


def mark_resolved(ctx: JobContext, batches: list[_Landed], batch_id: str) -> None:
    """A quarantined file is resolved once a file of the same name and source lands after it (the sender's
    fixed re-delivery): its ``resolved_at`` and ``resolved_by`` are set, so the open problems are the rows
    not resolved. One MERGE for the batch."""
    quarantined = {f.path for b in batches for f in b.bad_files}
    landed = [(b.report.source, os.path.basename(path), path) for b in batches for path in b.files
              if path not in quarantined]
    if not landed:
        return
    fixes = ctx.spark.createDataFrame(landed, "source string, file_name string, path string")
    (
        ctx.lake.delta_table(tables.FILE_QUARANTINE).alias("q")
        .merge(fixes.alias("f"), "q.source = f.source AND q.resolved_at IS NULL AND q.batch_id != "
               f"'{batch_id}' AND element_at(split(q.file_path, '/'), -1) = f.file_name")
        .whenMatchedUpdate(set={"resolved_at": "current_timestamp()", "resolved_by": "f.path"})
        .execute()
    )


def _sql_string(value: str) -> str:
    return "'" + value.replace("\\", "\\\\").replace("'", "\\'") + "'"


def run(ctx: JobContext, only: list[str] | None = None, progress: Progress | None = None) -> list[IngestReport]:
    """Ingest every configured source (or ``only`` these), ``pipeline.concurrent_tables`` at a time.

    Each source's bronze rows are committed as soon as it is read; the batch's quarantine rows, quarantined
    files and log rows are committed once at the end, for every source that did not fail. A run interrupted
    before the end wrote no log row, so the next run takes the same files again and its ``replaceWhere`` on
    their hashes converges to one copy of each row. A source that fails does not stop the others: once they
    are recorded, :class:`IngestError` lists what failed.
    """
    progress = progress or Progress("ingest")
    specs = [ctx.sources.get(name) for name in only] if only else list(ctx.sources.sources)
    batch_id = uuid.uuid4().hex[:12]
    taken = taken_files(ctx)
    suppression = read_suppression(ctx.lake, lakehouse_key(ctx.lake.root)) if ctx.lake.exists(tables.SUPPRESSION_LIST) else None

    def task(number: int, spec: SourceSpec):
        def ingest() -> _Landed:
            progress(f"source {number}/{len(specs)}: {spec.name}")
            try:
                return ingest_source(ctx, spec, batch_id, progress, taken.get(spec.name, TakenFiles()), suppression)
            except Exception as error:  # noqa: BLE001 - one source's failure must not hide the others'
                message = str(error) if isinstance(error, SourceFileError) else f"{spec.name}: {_first_line(error)}"
                progress(f"{spec.name}: FAILED: {message}")
                return _Landed(IngestReport(spec.name, 0, 0, 0, 0, 0), error=message)

        return ingest

    landed = run_concurrently([task(n, spec) for n, spec in enumerate(specs, start=1)], ctx.pipeline.concurrent_tables)
    listed_errors = ingest_deletion_lists(ctx, specs, batch_id, progress)
    write_shared_tables(ctx, [b for b in landed if b.error is None], batch_id)
    bad = [f for b in landed for f in b.bad_files]
    if bad:
        progress(f"{len(bad)} file(s) quarantined (see {tables.FILE_QUARANTINE}):")
        for quarantined in bad:
            progress(f"  {quarantined.line()}")
    failed = [b.error for b in landed if b.error] + listed_errors
    if failed:
        raise IngestError(f"{len(failed)} source(s) failed (the others were ingested):\n" + "\n".join(failed))
    return [b.report for b in landed]


def ingest_deletion_lists(ctx: JobContext, specs: list[SourceSpec], batch_id: str, progress: Progress) -> list[str]:
    """Land the lines of the sources' new deletion lists (``deletions:`` in sources.yaml) in
    ``bronze.deletions``, in one commit; returns the errors (a list lacking a column named by the
    configuration fails its source's lists, and the others land). A list is known by its content's hash: a
    re-run, or the same list under another name, is not landed twice."""
    lake, errors, frames, hashes = ctx.lake, [], [], []
    known = {r["_file_hash"] for r in lake.small_table_rows(tables.DELETIONS, ["_file_hash"]) or ()}
    for spec in (s for s in specs if s.deletions is not None):
        listing = dataclasses.replace(spec, path=spec.deletions.path, format="csv", separator=spec.deletions.separator,
                                      encoding=spec.deletions.encoding)
        new = {}
        for path in list_files(listing, ctx.raw_dir):
            digest = file_fingerprint(path)
            if digest not in known and digest not in hashes:
                new[path] = digest
        if not new:
            continue
        try:
            mine = []
            for path, digest in new.items():
                rows = read_deletion_list(read_raw(ctx.spark, listing, [path]), spec)
                mine.append(rows.select("*", F.lit(path).alias("_source_file"), F.lit(digest).alias("_file_hash"),
                                          F.lit(batch_id).alias("_batch_id"),
                                          F.current_timestamp().alias("_ingested_at")))
        except (KeyError, AnalysisException) as error:
            errors.append(f"{spec.name}: deletion list {', '.join(new)}: {_first_line(error)}")
            progress(f"{spec.name}: FAILED: {errors[-1]}")
            continue
        frames.extend(mine)
        hashes.extend(new.values())
        progress(f"{spec.name}: {len(new)} deletion list(s)")
    if frames:
        in_batch = ", ".join(f"'{h}'" for h in hashes)
        lake.replace_where(reduce(DataFrame.unionByName, frames), tables.DELETIONS, f"_file_hash IN ({in_batch})")
    return errors


def exit_status(reports: list[IngestReport]) -> int:
    """0 when every new file landed, :data:`EXIT_FILES_QUARANTINED` when some were quarantined as files."""
    return EXIT_FILES_QUARANTINED if any(r.files_quarantined for r in reports) else 0


def build_parser(parser: argparse.ArgumentParser | None = None) -> argparse.ArgumentParser:
    parser = parser or argparse.ArgumentParser(prog="rcu ingest", description=__doc__,
                                               formatter_class=argparse.RawDescriptionHelpFormatter)
    add_common_arguments(parser)
    add_lock_argument(parser)
    parser.add_argument("--source", action="append", dest="only", help="ingest only this source (repeatable)")
    return parser


def main(argv: list[str] | None = None) -> int:
    """Run the job; returns its exit status (0 landed, 3 some files quarantined, 1 failed)."""
    args = build_parser().parse_args(argv)
    with writing_run(args, "rcu-ingest", "rcu ingest", steps=["ingest"]) as ctx:
        try:
            reports = run(ctx, args.only)
        except IngestError as error:
            print(f"FAILED: {error}", file=sys.stderr)
            return EXIT_FAILED
    for report in reports:
        print(asdict(report))
    status = exit_status(reports)
    if status == EXIT_FILES_QUARANTINED:
        count = sum(r.files_quarantined for r in reports)
        print(f"WARNING: done, {count} file(s) quarantined as files (bronze.file_quarantine); exit status {status}",
              file=sys.stderr)
    return status


if __name__ == "__main__":
    sys.exit(main())
