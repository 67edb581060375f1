"""Check: validate a sources configuration against the raw files before the first run.

    rcu check --sources conf/retailer_sources.yaml --raw-dir data/retailer [--sample 100000]

1. The configuration is loaded strictly (an unknown key or a bad value is an error naming file and key):
   sources.yaml, and the other files of ``--conf-dir`` a run reads (matching.yaml, matching_rules.yaml,
   gold.yaml against the sources, audiences.yaml against the interaction tables they feed). It is the check
   ``rcu run-all`` and every step make before they write (``spark_lib.config_check``).
2. Each source's glob is listed against the raw folder (a source matching no file is a warning).
3. Every mapped column must exist in the files (an error naming source, field, column and file): first in
   the latest file's header, without Spark, as the steps check it; then in every file, read by Spark.
4. Per source and canonical field, on the first ``--sample`` rows of each source, read and standardised by
   the pipeline's own code (``spark_lib.sources.readers``, ``standardise_identity``): the fill rate, the share
   of filled values that standardise (a valid email, an E.164 phone, a real date...) and how many were
   flagged (corrected or nulled), in one Spark aggregation per source.

Warnings: a source with nothing to match on (no pivot -- email, phone, loyalty_card, account_id,
customer_ref, cookie_id -- and not last_name + first_name + birth_date or postcode/city); a date column
parsing under 90 %; a mapped column filled under 5 %; a record id that repeats while ``records_repeat`` is
false; rows without a record id; malformed rows. Exit code 0 with warnings only, 1 on any error.

Example output::

    export_magasin (offline, csv): 1 file(s), 52 rows checked
      files: crm/export_magasin_2026-11.csv
      field          column               filled  standardised  flagged
      customer_ref   N° client            100.0 %      100.0 %        0
      birth_date     Date de naissance     96.2 %       98.0 %        1
      ...
      record_id      N° client            52 values, 52 distinct
"""

from __future__ import annotations

import argparse
import sys
from dataclasses import dataclass, field
from pathlib import Path

from spark_lib.config import DEFAULT_CONF_DIR, ConfigError, SourcesConfig, SourceSpec, load_pipeline, load_sources
from spark_lib.config_check import RUN_STEPS, configuration_errors, raw_file_errors
from spark_lib.onboarding.profile import SourceProfile, profile_source, source_warnings
from spark_lib.sources.readers import SourceFileError, column_for, list_files, read_raw

DEFAULT_SAMPLE = 100_000


@dataclass
class CheckReport:
    sources_file: str
    raw_dir: str = ""
    errors: list[str] = field(default_factory=list)
    #: source -> warnings ("" for the configuration as a whole)
    warnings: dict[str, list[str]] = field(default_factory=dict)
    files: dict[str, list[str]] = field(default_factory=dict)
    profiles: dict[str, SourceProfile] = field(default_factory=dict)

    @property
    def ok(self) -> bool:
        return not self.errors


def build_parser(parser: argparse.ArgumentParser | None = None) -> argparse.ArgumentParser:
    parser = parser or argparse.ArgumentParser(prog="rcu check", description=__doc__)
    parser.add_argument("--conf-dir", help="folder holding pipeline.yaml and sources.yaml (default: conf/)")
    parser.add_argument("--sources", help="sources YAML file (default: <conf-dir>/sources.yaml)")
    parser.add_argument("--raw-dir", help="folder of the raw source files (default: pipeline.yaml raw_dir)")
    parser.add_argument("--sample", type=int, default=DEFAULT_SAMPLE,
                        help=f"rows read per source (default: {DEFAULT_SAMPLE:,}; 0: every row)")
    return parser


def _relative(path: str, raw_dir: str) -> str:
    root = Path(raw_dir).resolve()
    return str(Path(path).relative_to(root)) if Path(path).is_relative_to(root) else path


def _path_hint(files: list[str], raw_dir: str) -> str:
    shown = _relative(files[0], raw_dir)
    return shown if len(files) == 1 else f"{shown} (and {len(files) - 1} more)"


def missing_columns(raw, spec: SourceSpec, hint: str) -> list[str]:
    """An error per mapped column absent from (or not a single value in) the files read as ``raw``."""
    keys = [("record_id", spec.record_id)] + [(f"identity.{k}", c) for k, c in spec.identity.items()]
    if spec.interactions:
        keys += [(f"interactions.fields.{k}", c) for k, c in spec.interactions.fields.items()]
    errors = []
    for key, column in keys:
        try:
            column_for(raw, spec, key, column, hint)
        except SourceFileError as error:
            errors.append(str(error))
    return errors


def check_source(spark, spec: SourceSpec, files: list[str], raw_dir: str, sample: int | None,
                 region: str) -> tuple[SourceProfile | None, list[str]]:
    """(profile, errors) of one source with files."""
    hint = _path_hint(files, raw_dir)
    try:
        raw = read_raw(spark, spec, files)
    except SourceFileError as error:
        return None, [str(error)]
    errors = missing_columns(raw, spec, hint)
    if errors:
        return None, errors
    try:
        return profile_source(raw, spec, default_region=region, sample=sample or None, path_hint=hint), []
    except SourceFileError as error:
        return None, [str(error)]


def run(sources_file: str | None, raw_dir: str, sample: int | None = DEFAULT_SAMPLE, region: str = "FR",
        spark=None, conf_dir: Path = DEFAULT_CONF_DIR) -> CheckReport:
    """Check ``sources_file`` against ``raw_dir`` and the other files of ``conf_dir``; Spark starts only when
    some source has files whose headers hold every mapped column."""
    report = CheckReport(str(sources_file or "conf/sources.yaml"), raw_dir)
    try:
        sources = load_sources(sources_file)
    except ConfigError as error:
        report.errors.append(str(error))
        return report
    report.errors += configuration_errors(Path(conf_dir), sources, raw_dir=None, steps=RUN_STEPS)
    for spec in sources.sources:
        report.files[spec.name] = list_files(spec, raw_dir)
        report.warnings[spec.name] = [] if report.files[spec.name] else [
            f"no file matches {spec.path!r} in {raw_dir}"]
    for spec in sources.sources:
        files = report.files[spec.name]
        if not files:
            report.warnings[spec.name] += source_warnings(spec, None)
            continue
        header_errors = raw_file_errors(SourcesConfig((spec,), sources.file), raw_dir)
        if header_errors:
            report.errors += header_errors  # the steps would stop on these: no profile to measure
            continue
        if spark is None:
            from spark_lib.session import get_spark

            spark = get_spark(app_name="rcu-check")
        profile, errors = check_source(spark, spec, files, raw_dir, sample, region)
        report.errors += errors
        if profile is not None:
            report.profiles[spec.name] = profile
        report.warnings[spec.name] += source_warnings(spec, profile)
    return report


def _percent(part: int, whole: int) -> str:
    return f"{100 * part / whole:5.1f} %" if whole else "    - "


def format_report(report: CheckReport, sources_file: str | None = None) -> str:
    """The readable table: per source its files, then per field fill, standardised share and flags."""
    lines = []
    try:
        specs = {s.name: s for s in load_sources(sources_file).sources} if report.files else {}
    except ConfigError:
        specs = {}
    for name, files in report.files.items():
        spec = specs.get(name)
        profile = report.profiles.get(name)
        head = f"{name} ({spec.channel}, {spec.format})" if spec else name
        rows = f", {profile.rows:,} rows checked" if profile else ""
        lines.append(f"{head}: {len(files)} file(s){rows}")
        if files:
            shown = [_relative(f, report.raw_dir) for f in files[:5]]
            lines.append(f"  files: {', '.join(shown)}" + (f" and {len(files) - 5} more" if len(files) > 5 else ""))
        if profile:
            width = max([len(f.column) for f in profile.fields.values()] + [len(spec.record_id), 6])
            lines.append(f"  {'field':<15}{'column':<{width + 2}}{'filled':>8}{'standardised':>14}{'flagged':>9}")
            for canonical, stats in profile.fields.items():
                lines.append(
                    f"  {canonical:<15}{stats.column:<{width + 2}}{_percent(stats.filled, profile.rows):>8}"
                    f"{_percent(stats.standardised, stats.filled):>14}{stats.flagged:>9,}"
                )
            lines.append(f"  {'record_id':<15}{spec.record_id:<{width + 2}}{profile.record_ids:,} values, "
                         f"{profile.distinct_record_ids:,} distinct")
        for warning in report.warnings.get(name, []):
            lines.append(f"  warning: {warning}")
        lines.append("")
    for error in report.errors:
        lines.append(f"error: {error}")
    warnings = sum(len(w) for w in report.warnings.values())
    lines.append(f"rcu check: {report.sources_file}: {len(report.errors)} error(s), {warnings} warning(s)")
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    sources_file = args.sources or (str(Path(args.conf_dir) / "sources.yaml") if args.conf_dir else None)
    try:
        pipeline = load_pipeline(Path(args.conf_dir) / "pipeline.yaml" if args.conf_dir else None)
    except ConfigError as error:
        print(f"error: {error}")
        return 1
    raw_dir = args.raw_dir or pipeline.resolve(pipeline.raw_dir)
    report = run(sources_file, raw_dir, sample=args.sample, region=pipeline.default_region,
                 conf_dir=Path(args.conf_dir) if args.conf_dir else DEFAULT_CONF_DIR)
    print(format_report(report, sources_file))
    return 0 if report.ok else 1


if __name__ == "__main__":
    sys.exit(main())
