"""Every configuration file a run will use, checked before its first step: all the errors at once.

``rcu run-all`` and each writing step call it (through :func:`jobs.common.validate_configuration`) before
any table changes; ``rcu check`` runs it alone. What each step reads:

=============  ====================================================================================
ingest         sources.yaml, and each source's mapped columns against its latest raw file
standardise    the same (the mapping is applied to the bronze columns, which are the raw files')
match          matching.yaml, matching_rules.yaml
gold           gold.yaml, its sources and the trust levels of sources.yaml against its attributes
activate       audiences.yaml, with its tables fed by a source (skipped, as activate skips the
               audiences, when no source feeds an interaction table and no audience is named)
=============  ====================================================================================

pipeline.yaml and sources.yaml are loaded by every step. A file's loader stops at its first error, so each
file gives at most one error, but every file (and every source's columns) is checked. No Spark: raw files
are read by their header line, Parquet footer or first JSON lines (:func:`spark_lib.sources.readers.file_columns`).

Example::

    errors = configuration_errors(Path("conf"), load_sources(), "data/raw", steps=RUN_STEPS)
    # ['conf/audiences.yaml: audiences.winback.channels: \'emial\' is not one of email, sms, postal', ...]
"""

from __future__ import annotations

from pathlib import Path
from typing import Collection, Sequence

from pyspark.sql.types import StructType

from spark_lib.config import ConfigError, SourcesConfig
from spark_lib.sources.files import missing_column_problems
from spark_lib.sources.readers import SourceFileError, file_columns, has_column, list_files, mapped_columns

#: the writing steps, in run order
RUN_STEPS: tuple[str, ...] = ("ingest", "standardise", "match", "gold", "activate")


def configuration_errors(
    conf_dir: Path,
    sources: SourcesConfig | None,
    raw_dir: str | None,
    steps: Collection[str] = RUN_STEPS,
    audiences_file: str | None = None,
    audience_names: Sequence[str] = (),
) -> list[str]:
    """The errors of the configuration files ``steps`` read (``sources`` None: sources.yaml did not load, so
    the checks that need it are left out); ``raw_dir`` None leaves the raw files unchecked."""
    unknown = sorted(set(steps) - set(RUN_STEPS))
    if unknown:
        raise ValueError(f"unknown step(s) {unknown}: expected some of {', '.join(RUN_STEPS)}")
    errors: list[str] = []
    if {"ingest", "standardise"} & set(steps) and sources is not None and raw_dir is not None:
        errors += raw_file_errors(sources, raw_dir)
    if "match" in steps:
        from spark_lib.matching import load_matching_config, load_matching_rules

        errors += _errors_of(lambda: load_matching_config(conf_dir / "matching.yaml"))
        errors += _errors_of(lambda: load_matching_rules(conf_dir / "matching_rules.yaml"))
    if "gold" in steps:
        errors += _errors_of(lambda: _check_gold(conf_dir, sources))
    if "activate" in steps and sources is not None:
        errors += _errors_of(lambda: _check_audiences(conf_dir, sources, audiences_file, audience_names))
    return errors


def raw_file_errors(sources: SourcesConfig, raw_dir: str) -> list[str]:
    """An error per mapped column that no raw file of its source has: a typo in the mapping.

    The rule is ingest's (:func:`spark_lib.sources.files.missing_column_problems`): a column missing from
    *some* files only, or a file that cannot be read, is a bad delivery that ``rcu ingest`` quarantines while
    the other files land, not a bad configuration. Files are read newest first, and older ones only while a
    mapped column is still missing, so a day usually costs one header per source. A source with no file yet
    has nothing to check."""
    errors = []
    for spec in sources.sources:
        schemas: dict[str, StructType] = {}
        for path in reversed(list_files(spec, raw_dir)):
            try:
                schemas[_relative(path, raw_dir)] = schema = file_columns(spec, path)
            except (SourceFileError, OSError, UnicodeError, ValueError):
                continue  # an unreadable file: ingest quarantines it as a file
            if all(has_column(schema, spec, key, column) for key, column in mapped_columns(spec)):
                break
        if schemas:
            errors += missing_column_problems(schemas, spec, bronze=None)[1]
    return errors


def _check_gold(conf_dir: Path, sources: SourcesConfig | None) -> None:
    from spark_lib.gold import load_gold_config

    config = load_gold_config(conf_dir / "gold.yaml")
    if sources is not None:
        config.check_sources(sources.names)
        config.check_trust(sources.trust(), sources.file)


def _check_audiences(conf_dir: Path, sources: SourcesConfig, audiences_file: str | None,
                     names: Sequence[str]) -> None:
    from spark_lib.gold.audiences import interaction_tables_of, load_audiences

    fed = interaction_tables_of(sources)
    if not fed and not names:
        return  # activate skips the audiences: nothing triggers on customer files alone
    config = load_audiences(audiences_file or conf_dir / "audiences.yaml", fed)
    for name in names:
        config.get(name)


def _errors_of(check) -> list[str]:
    try:
        check()
    except (ConfigError, SourceFileError) as error:
        return [str(error)]
    return []


def _relative(path: str, raw_dir: str) -> str:
    root = Path(raw_dir).resolve()
    return str(Path(path).relative_to(root)) if Path(path).is_relative_to(root) else path
