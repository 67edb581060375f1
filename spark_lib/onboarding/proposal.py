"""A proposed ``sources.yaml`` for a folder of raw files, with a comment on every uncertain choice.

Example::

    from spark_lib.onboarding.proposal import propose_sources, render_sources_yaml
    proposals = propose_sources("data/retailer")
    text = render_sources_yaml(proposals, "rcu init --raw-dir data/retailer")
    # sources:
    #   export_magasin:
    #     path: crm/export_magasin_*.csv
    #     ...
    #     channel: offline   # uncertain: guessed: store hints (crm, magasin)
    #     identity:
    #       email: Courriel
    #       phone: "Tél. portable"

The text is YAML that :func:`spark_lib.config.load_sources` accepts (:func:`check_loadable` proves it).
"""

from __future__ import annotations

import datetime as dt
import json
import re
import tempfile
from dataclasses import dataclass
from pathlib import Path

from spark_lib.config import SourcesConfig, load_sources
from spark_lib.onboarding.files import FoundSource, find_sources
from spark_lib.onboarding.mapping import SourceMapping, propose_mapping

_PLAIN = re.compile(r"^[A-Za-z_][A-Za-z0-9_./*\-\[\]]*$")
_YAML_WORDS = {"y", "n", "yes", "no", "true", "false", "on", "off", "null", "none", "~"}


@dataclass(frozen=True)
class Proposal:
    """A found source and its proposed mapping (None when no column maps onto an identity field)."""

    found: FoundSource
    mapping: SourceMapping | None


def propose_sources(raw_dir: str | Path, region: str = "FR") -> list[Proposal]:
    """Every source of ``raw_dir`` (see :func:`spark_lib.onboarding.files.find_sources`) with its mapping."""
    proposals = []
    for found in find_sources(raw_dir):
        mapping = propose_mapping(list(found.columns), found.samples, hints=found.pattern, region=region)
        proposals.append(Proposal(found, mapping if mapping.fields and mapping.record_id else None))
    return proposals


def scalar(value) -> str:
    """A YAML scalar: plain when it reads back as the same string, else double-quoted (JSON's escapes are YAML's)."""
    if isinstance(value, bool):
        return "true" if value else "false"
    text = str(value)
    if _PLAIN.match(text) and text.lower() not in _YAML_WORDS and not text.startswith("["):
        return text
    return json.dumps(text, ensure_ascii=False)


def _line(indent: int, key: str, value, doubt: str | None = None) -> str:
    line = f"{' ' * indent}{key}: {scalar(value)}"
    return f"{line}   # uncertain: {_one_line(doubt)}" if doubt else line


def _one_line(text: str) -> str:
    return " ".join(text.split())


def _description(found: FoundSource) -> str:
    files = f"{len(found.files)} file{'s' if len(found.files) > 1 else ''}"
    layout = {"csv": f"CSV, {found.encoding}, separator {found.separator!r}", "json": "JSON lines", "parquet": "Parquet"}
    return f"{found.pattern} ({layout[found.format]}; {files} when proposed)"


def render_source(proposal: Proposal) -> list[str]:
    """The ``sources.yaml`` lines of one proposed source (two-space indent under ``sources:``)."""
    found, mapping = proposal.found, proposal.mapping
    lines = [f"  {found.name}:"]
    lines.append(_line(4, "description", _description(found)))
    lines.append(_line(4, "path", found.pattern))
    lines.append(_line(4, "format", found.format))
    if found.format == "csv":
        separator_doubt = next((n[len("separator: "):] for n in found.notes if n.startswith("separator: ")), None)
        lines.append(_line(4, "separator", found.separator, separator_doubt))
        if found.encoding != "utf-8":
            lines.append(_line(4, "encoding", found.encoding))
        if not found.header:
            lines.append(_line(4, "header", False, "no header line found"))
        if found.quote != '"':
            lines.append(_line(4, "quote", found.quote))
    for note in found.notes:
        if not note.startswith("separator: "):
            lines.append(f"    # note: {_one_line(note)}")
    lines.append(_line(4, "channel", mapping.channel.column, mapping.channel.doubt))
    lines.append(_line(4, "record_id", mapping.record_id.column, mapping.record_id.doubt))
    if mapping.records_repeat:
        lines.append(_line(4, "records_repeat", True, "the record id repeats in the sample"))
    if mapping.birth_date_format:
        lines.append(_line(4, "birth_date_format", mapping.birth_date_format.column, mapping.birth_date_format.doubt))
    lines.append("    identity:")
    for canonical, choice in mapping.fields.items():
        lines.append(_line(6, canonical, choice.column, choice.doubt))
    if mapping.unmapped:
        lines.append(f"    # unmapped columns: {', '.join(mapping.unmapped)}")
    return lines


def render_sources_yaml(proposals: list[Proposal], command: str, today: dt.date | None = None) -> str:
    """The whole proposed file: a header saying how it was made and what to review, then the sources;
    found files that map no identity field are listed in the header, not proposed."""
    mapped = [p for p in proposals if p.mapping]
    skipped = [p for p in proposals if not p.mapping]
    files = sum(len(p.found.files) for p in proposals)
    header = [
        f"# Proposed by `{command}` on {(today or dt.date.today()).isoformat()}: {len(mapped)} source(s) "
        f"from {files} file(s), mapped from the column headers and a sample of their values.",
        "# Review every line marked `# uncertain:` (fix it or delete the comment), then run",
        "#   rcu check --sources <this file> --raw-dir <raw folder>",
        "# Paths are relative to the raw folder. Every key is documented at the top of conf/sources.yaml;",
        "# `trust` (how far the golden record believes each source, default 50) and `interactions` are left to you.",
    ]
    for proposal in skipped:
        header.append(f"# not proposed: {proposal.found.pattern}: no column recognised as an identity field "
                      f"(columns: {', '.join(proposal.found.columns) or 'none'})")
    body = ["sources:"]
    for proposal in mapped:
        body.extend(render_source(proposal))
        body.append("")
    return "\n".join(header + [""] + body).rstrip() + "\n"


def check_loadable(text: str) -> SourcesConfig:
    """The proposed text loaded with the pipeline's strict loader (a ConfigError if it does not load)."""
    with tempfile.TemporaryDirectory(prefix="rcu-init-") as folder:
        path = Path(folder) / "sources.yaml"
        path.write_text(text, encoding="utf-8")
        return load_sources(path)
