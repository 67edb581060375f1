"""Init: look at a folder of raw files and propose a ``sources.yaml`` for them (no Spark).

    rcu init --raw-dir data/retailer --out conf/retailer_sources.yaml [--force]

Files are grouped into sources (names differing only by a date or a number make one glob,
``clients_2026-11-01.csv`` + ``clients_2026-11-02.csv`` -> ``clients_*.csv``; a folder whose files read
alike is one source), their format recognised (csv/tsv/txt, JSON lines, Parquet) and, for text files, the
encoding (BOM, UTF-8, else Windows-1252 or Latin-1), separator (``, ; tab |``), quote and header line.

Columns are mapped onto the canonical fields by their header, French or English, with or without accents
("Prénom", "first name", "Tél. portable", "Courriel", "CP", "N° client", "adresse.ville" in JSON), and by
their values (emails, phones, dates and their day/month order, postcodes, consents, first names). Each
choice the header and the values do not both confirm, and each ambiguity (two candidate columns, a date
format no value decides, the channel, a guessed record id) carries ``# uncertain: <why>`` on its line;
columns left unmapped are listed per source. The file is loaded with the pipeline's strict loader before it
is written. Review the uncertain lines, then::

    rcu check --sources conf/retailer_sources.yaml --raw-dir data/retailer
    rcu run-all --sources conf/retailer_sources.yaml --raw-dir data/retailer --lakehouse lakehouse_retailer

An existing file is never overwritten without ``--force``. Exit code 1 when nothing could be proposed.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from spark_lib.config import ConfigError, load_pipeline
from spark_lib.onboarding.files import OnboardingError
from spark_lib.onboarding.proposal import Proposal, check_loadable, propose_sources, render_sources_yaml


def build_parser(parser: argparse.ArgumentParser | None = None) -> argparse.ArgumentParser:
    parser = parser or argparse.ArgumentParser(prog="rcu init", description=__doc__)
    parser.add_argument("--raw-dir", required=True, help="folder of the retailer's raw files (searched recursively)")
    parser.add_argument("--out", default="sources.yaml", help="sources file to write (default: ./sources.yaml)")
    parser.add_argument("--force", action="store_true", help="overwrite --out when it exists")
    parser.add_argument("--region", help="country of phone numbers without a prefix (default: pipeline.yaml default_region)")
    return parser


def summary_lines(proposals: list[Proposal]) -> list[str]:
    """One line per found source: its glob, files, mapped fields and how many choices are uncertain."""
    lines = []
    for proposal in proposals:
        found, mapping = proposal.found, proposal.mapping
        if mapping is None:
            lines.append(f"  {found.pattern}: not proposed (no column recognised as an identity field)")
            continue
        choices = [*mapping.fields.values(), mapping.record_id, mapping.channel, mapping.birth_date_format]
        uncertain = sum(1 for c in choices if c is not None and c.doubt)
        lines.append(
            f"  {found.name}: {found.pattern} ({len(found.files)} file(s), {found.format}) -> "
            f"{len(mapping.fields)} field(s) mapped, {uncertain} uncertain, {len(mapping.unmapped)} column(s) unmapped"
        )
    return lines


def run(raw_dir: str, out: str, force: bool = False, region: str = "FR", command: str | None = None) -> str:
    """Propose, verify with the strict loader, write ``out``; return the text. Raises FileExistsError when
    ``out`` exists and not ``force``, OnboardingError when ``raw_dir`` holds no source to propose."""
    target = Path(out)
    if target.exists() and not force:
        raise FileExistsError(f"{out} exists: pass --force to overwrite it")
    proposals = propose_sources(raw_dir, region=region)
    if not any(p.mapping for p in proposals):
        raise OnboardingError(f"{raw_dir}: no file has a column recognised as an identity field")
    text = render_sources_yaml(proposals, command or f"rcu init --raw-dir {raw_dir}")
    check_loadable(text)
    target.parent.mkdir(parents=True, exist_ok=True)
    target.write_text(text, encoding="utf-8")
    print(f"rcu init: {out} proposed for {raw_dir}:", file=sys.stderr)
    print("\n".join(summary_lines(proposals)), file=sys.stderr)
    print(f"next: review the `# uncertain:` lines, then rcu check --sources {out} --raw-dir {raw_dir}", file=sys.stderr)
    return text


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    region = args.region or load_pipeline().default_region
    try:
        run(args.raw_dir, args.out, force=args.force, region=region,
            command=f"rcu init --raw-dir {args.raw_dir}")
    except (FileExistsError, OnboardingError, ConfigError) as error:
        print(f"rcu init: error: {error}", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
