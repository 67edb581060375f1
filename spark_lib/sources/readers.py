"""Reading raw source files as delivered (CSV, JSON lines, Parquet) without losing a row.

Every column is read as it is (CSV and JSON values as strings); a row Spark cannot parse is kept in
``_corrupt_record`` so that bronze can quarantine it with its reason instead of dropping it.

CSV is read as RFC 4180 everywhere in the project (Spark here, Python's ``csv`` in the header reader and the
onboarding sniffer): a field may be quoted, a quote inside a quoted field is doubled (as Excel and Python's
``csv`` write it), and a quoted field may hold the separator or a line break::

    id;name;note
    1;"Dupont ""Jo"" fils";"a;b
    on two lines"

reads as ``('1', 'Dupont "Jo" fils', 'a;b\non two lines')``. :func:`~spark_lib.sources.csv_rules.csv_rows` is
the Python side of that rule.
"""

from __future__ import annotations

import glob as globlib
import hashlib
import json
import re
from pathlib import Path

from pyspark.sql import DataFrame, SparkSession
from pyspark.sql import functions as F
from pyspark.sql.types import ArrayType, MapType, StringType, StructField, StructType

from spark_lib.config import SourceSpec
from spark_lib.sources.csv_rules import csv_rows

CORRUPT = "_corrupt_record"
_SPARK_STANDARD_CHARSETS = {"iso-8859-1", "us-ascii", "utf-16", "utf-16be", "utf-16le", "utf-32", "utf-8"}
# Delta's invalid characters without column mapping, and the dot, which Spark reads as a path into a struct
_INVALID_DELTA_CHARS = re.compile(r"[ ,;{}()\n\t=.]+")


class SourceFileError(ValueError):
    """A source's files do not match its configuration; the message names the key and the file."""


def delta_safe_name(column: str) -> str:
    """Column name Delta accepts without column mapping, and Spark without quoting a dot:
    ``"Date de naissance"`` -> ``"Date_de_naissance"``, ``"Tél. portable"`` -> ``"Tél_portable"``."""
    return _INVALID_DELTA_CHARS.sub("_", column.strip()).strip("_") or "_blank"


def list_files(spec: SourceSpec, raw_dir: str) -> list[str]:
    """Absolute paths of the source's files, sorted so batches are reproducible."""
    return sorted(str(Path(p).resolve()) for p in globlib.glob(spec.glob(raw_dir)) if Path(p).is_file())


def file_fingerprint(path: str, chunk: int = 1 << 22) -> str:
    """SHA-256 of the file's bytes: the same delivery under any name is recognised as already ingested."""
    digest = hashlib.sha256()
    with open(path, "rb") as handle:
        while block := handle.read(chunk):
            digest.update(block)
    return digest.hexdigest()


def csv_header(spec: SourceSpec, path: str) -> list[str]:
    """The header line of a CSV file, decoded with the source's encoding and split with its separator.

    An empty file, or one that does not decode, is a :class:`SourceFileError` naming the source and the file.
    """
    with open(path, "rb") as handle:
        first = handle.readline()
    try:
        text = first.decode(spec.encoding).lstrip("\ufeff")
    except (UnicodeDecodeError, LookupError) as error:
        raise SourceFileError(
            f"sources.{spec.name}.encoding: cannot decode the header of {path} as {spec.encoding!r}: {error}"
        ) from error
    header = next(csv_rows(text, spec.separator, spec.quote), None)
    if not header:
        raise SourceFileError(f"sources.{spec.name}: {path} is empty (no header line)")
    return header


def read_raw(spark: SparkSession, spec: SourceSpec, paths: list[str], json_sampling_ratio: float = 1.0) -> DataFrame:
    """Read ``paths`` of one source as they are, with ``_source_file`` and, for text formats, ``_corrupt_record``.

    Column names are made Delta-safe (spaces, dots and ``,;{}()=`` become ``_``); configuration keys are resolved
    through the same function, so a header ``Date de naissance`` is still mapped by its own name.
    """
    if not paths:
        raise ValueError(f"no files to read for source {spec.name!r}")
    if spec.format == "csv":
        df = _read_csv(spark, spec, paths)
    elif spec.format == "json":
        df = _read_json(spark, spec, paths, json_sampling_ratio)
    else:
        df = spark.read.parquet(*paths)
    df = df.select("*", F.col("_metadata.file_path").alias("_source_file"))
    return df.toDF(*[c if c in (CORRUPT, "_source_file") else delta_safe_name(c) for c in df.columns])


def file_schema(spark: SparkSession, spec: SourceSpec, path: str) -> StructType | None:
    """The columns of one file as :func:`read_raw` names them, read from its header (CSV) or footer (Parquet)
    without reading its rows; None for JSON lines, whose columns are only known by reading the lines."""
    if spec.format == "csv":
        if not spec.header:
            return None
        return StructType([StructField(delta_safe_name(c), StringType()) for c in csv_header(spec, path)])
    if spec.format == "parquet":
        schema = spark.read.parquet(path).schema
        return StructType([StructField(delta_safe_name(f.name), f.dataType, f.nullable) for f in schema.fields])
    return None


def _read_csv(spark: SparkSession, spec: SourceSpec, paths: list[str]) -> DataFrame:
    headers = {path: csv_header(spec, path) for path in paths}
    if spec.encoding.lower().replace("_", "-") not in _SPARK_STANDARD_CHARSETS:
        # Spark 4 accepts only a few charsets unless told to use the JVM's; French back offices still
        # export Windows-1252 / Latin-9. Session-level SQL setting, so it also works on an existing session.
        spark.conf.set("spark.sql.legacy.javaCharsets", "true")
    columns = next(iter(headers.values()))
    for path, header in headers.items():
        if header != columns:
            raise SourceFileError(
                f"sources.{spec.name}: {path} has columns {header}, but {paths[0]} has {columns}: "
                "files of one source must share their header"
            )
    # Every value as a string: bronze keeps what was delivered; typing happens in silver.
    schema = StructType([StructField(c, StringType()) for c in columns] + [StructField(CORRUPT, StringType())])
    return (
        spark.read.schema(schema)
        .option("header", spec.header)
        .option("sep", spec.separator)
        .option("quote", spec.quote)
        # RFC 4180: a quote inside a quoted field is doubled (Spark's default escape is a backslash, which
        # would keep the doubled quotes and the outer quotes), and a quoted field may hold a line break,
        # so records are read across lines (a file is then one task: not split, but never cut mid-record).
        .option("escape", spec.quote)
        .option("multiLine", "true")
        .option("encoding", spec.encoding)
        .option("mode", "PERMISSIVE")
        .option("columnNameOfCorruptRecord", CORRUPT)
        # Empty fields stay null rather than "" so "missing" has one spelling downstream.
        .option("nullValue", "")
        .csv(paths)
    )


#: JSON-lines options of both reads. Lines end at "\n" only: by default Spark also ends a line at a lone "\r",
#: which cuts a line of binary garbage into several "rows". Jackson refuses a string longer than 20 M characters
#: by default, which quarantined a valid (long) line as "invalid json line": the limit is lifted.
_JSON_OPTIONS = {"lineSep": "\n", "maxStringLen": str(2**31 - 1), "allowSingleQuotes": "false"}


def _read_json(spark: SparkSession, spec: SourceSpec, paths: list[str], sampling_ratio: float) -> DataFrame:
    # Infer the structure (nested objects included) with every leaf as a string, then read again with that
    # schema plus the corrupt-record column: lines that are not JSON are kept, not dropped.
    inferred = (
        spark.read.options(**_JSON_OPTIONS).option("primitivesAsString", "true")
        .option("samplingRatio", sampling_ratio)
        .option("allowSingleQuotes", "false")
        .option("encoding", spec.encoding)
        .option("mode", "DROPMALFORMED")
        .json(paths)
        .schema
    )
    fields = [f for f in inferred.fields if f.name != CORRUPT] + [StructField(CORRUPT, StringType())]
    return (
        spark.read.schema(StructType(fields))
        .options(**_JSON_OPTIONS)
        # Strict JSON: Spark's default also accepts 'single-quoted' Python-dict lines, which are not JSON.
        .option("allowSingleQuotes", "false")
        .option("encoding", spec.encoding)
        .option("mode", "PERMISSIVE")
        .option("columnNameOfCorruptRecord", CORRUPT)
        .json(paths)
    )


def column_for(df: DataFrame, spec: SourceSpec, key: str, column: str, path_hint: str):
    """The Column for a configured name (dotted paths reach into objects), checked to exist and be scalar.

    A name that is a column as a whole is that column, dots included (a CSV header ``Tél. portable``).
    """
    parts = column_path(df.schema, spec, key, column, path_hint)
    return F.col(".".join(f"`{p}`" for p in parts))


def column_path(schema: StructType, spec: SourceSpec, key: str, column: str, path_hint: str) -> list[str]:
    """The Delta-safe path of a configured column in ``schema``; a :class:`SourceFileError` naming the key
    and ``path_hint`` when it is absent or not a single value (see :func:`column_for`)."""
    whole = delta_safe_name(column)
    if "." in column and whole in schema.fieldNames():
        parts = [whole]
    else:
        parts = [delta_safe_name(p) for p in column.split(".")]
    data_type = schema
    for depth, part in enumerate(parts):
        names = [f.name for f in data_type.fields] if isinstance(data_type, StructType) else []
        if part not in names:
            shown = ", ".join(n for n in names if n not in (CORRUPT, "_source_file"))
            where = ".".join(parts[:depth]) or "the file"
            raise SourceFileError(
                f"sources.{spec.name}.{key}: column {column!r} not found in {path_hint} "
                f"(columns of {where}: {shown})"
            )
        data_type = data_type[part].dataType
    if isinstance(data_type, (StructType, ArrayType, MapType)):
        raise SourceFileError(
            f"sources.{spec.name}.{key}: column {column!r} in {path_hint} holds {data_type.simpleString()}, "
            "expected a single value (text, number or date)"
        )
    return parts


def mapped_columns(spec: SourceSpec) -> list[tuple[str, str]]:
    """(configuration key, column) of every column the source's mapping names: record id, identity, interactions."""
    mapped = [("record_id", spec.record_id)]
    mapped += [(f"identity.{canonical}", column) for canonical, column in spec.identity.items()]
    if spec.interactions:
        mapped += [(f"interactions.fields.{canonical}", column) for canonical, column in spec.interactions.fields.items()]
    return mapped


def mapping_errors(schema: StructType, spec: SourceSpec, path_hint: str) -> dict[str, str]:
    """Configuration key -> error message, for each mapped column ``schema`` lacks (empty: the mapping fits)."""
    errors = {}
    for key, column in mapped_columns(spec):
        try:
            column_path(schema, spec, key, column, path_hint)
        except SourceFileError as error:
            errors[key] = str(error)
    return errors


def file_columns(spec: SourceSpec, path: str, json_lines: int = 1000) -> StructType:
    """The columns of one raw file as :func:`read_raw` names them, read without Spark: the header line of a
    CSV file, the footer of a Parquet file, the keys of the first ``json_lines`` JSON lines (all of them when
    a mapped key is not among those). Leaf types are not read (strings): only names and nesting matter."""
    if spec.format == "csv":
        fields = [StructField(c, StringType()) for c in csv_header(spec, path)]
    elif spec.format == "parquet":
        import pyarrow.parquet as pq

        try:
            fields = [StructField(f.name, _arrow_type(f.type)) for f in pq.read_schema(path)]
        except Exception as error:  # noqa: BLE001 - pyarrow raises several kinds for a file that is not Parquet
            raise SourceFileError(f"sources.{spec.name}: cannot read the Parquet schema of {path}: {error}") from error
    else:
        fields = _json_fields(spec, path, json_lines)
        if not all(has_column(_renamed(fields), spec, key, column) for key, column in mapped_columns(spec)):
            fields = _json_fields(spec, path, None)
    return _renamed(fields)


def _renamed(fields: list[StructField]) -> StructType:
    return StructType([StructField(delta_safe_name(f.name), f.dataType) for f in fields])


def has_column(schema: StructType, spec: SourceSpec, key: str, column: str) -> bool:
    """True when ``schema`` holds the configured ``column`` of mapping key ``key`` (see :func:`column_path`)."""
    try:
        column_path(schema, spec, key, column, "")
    except SourceFileError:
        return False
    return True


def _arrow_type(arrow_type):
    import pyarrow as pa

    if pa.types.is_struct(arrow_type):
        return StructType([StructField(f.name, _arrow_type(f.type)) for f in arrow_type])
    if pa.types.is_map(arrow_type):
        return MapType(StringType(), StringType())
    if pa.types.is_list(arrow_type) or pa.types.is_large_list(arrow_type):
        return ArrayType(StringType())
    return StringType()


def _json_fields(spec: SourceSpec, path: str, lines: int | None) -> list[StructField]:
    """The merged keys of the JSON objects on the first ``lines`` lines (every line: None); bad lines skipped."""
    merged: dict = {}
    with open(path, encoding=spec.encoding, errors="replace") as handle:
        for number, line in enumerate(handle):
            if lines is not None and number >= lines:
                break
            try:
                value = json.loads(line)
            except ValueError:
                continue
            if isinstance(value, dict):
                _merge_keys(merged, value)
    return _struct_of(merged).fields


def _merge_keys(into: dict, value: dict) -> None:
    """Add the keys of one JSON object to ``into`` (key -> nested dict, "array", "scalar" or None for null)."""
    for key, item in value.items():
        known = into.get(key)
        if isinstance(item, dict) and (known is None or isinstance(known, dict)):
            if known is None:
                into[key] = {}
            _merge_keys(into[key], item)
        elif isinstance(known, dict) and item is not None:
            into[key] = "scalar"  # an object here, a value there: Spark reads the column as text
        elif known is None:
            into[key] = "array" if isinstance(item, list) else (None if item is None else "scalar")


def _struct_of(keys: dict) -> StructType:
    def of(value):
        if isinstance(value, dict):
            return _struct_of(value)
        return ArrayType(StringType()) if value == "array" else StringType()

    return StructType([StructField(k, of(v)) for k, v in keys.items()])
