"""Synthetic raw data for the RCU: seeded, reproducible, pure Python (numpy + pyarrow, no Spark).

Writes the files of every source of ``conf/sources.yaml`` as a French retailer would hand them over (CSV in
their dialects, JSON lines, Parquet), with realistic noise, duplicates, movers, homonyms, twins, shared family
emails and malformed rows, plus the ground truth that the evaluation (never the pipeline) reads.
Profiles (``GENERATOR_PROFILES``: standard, foreign, store_crm_only) choose the sources written and how many
customers live abroad (``foreign``: local names, addresses, phones and email providers).
After the initial delivery, ``days=D`` writes D daily deliveries (``daily``: what changes; ``deliveries``: the
dated files, deletion lists, full extracts, a re-sent file, and the truth of every day).

Example::

    from spark_lib.generator import generate
    summary = generate(persons=1000, raw_dir="data/raw", truth_dir="data/truth", seed=42,
                       reference_date="2026-10-31", progress=print)
    summary.rows_per_source["eshop_accounts"], summary.malformed_per_source, summary.seconds
    generate(persons=1000, raw_dir="data/raw", truth_dir="data/truth", profile="foreign", foreign_share=0.1)
    generate(persons=1000, raw_dir="data/raw", truth_dir="data/truth", days=3)     # then days 1 to 3
    truth_as_of("data/truth", 2)                                                  # the truth after day 2
"""

from spark_lib.generator.core import GENERATOR_PROFILES, SOURCE_FILES, GenerationSummary, Profile, generate, get_profile
from spark_lib.generator.daily import DailyChanges
from spark_lib.generator.deliveries import DaySummary, truth_as_of

__all__ = ["generate", "GenerationSummary", "SOURCE_FILES", "GENERATOR_PROFILES", "Profile", "get_profile",
           "DailyChanges", "DaySummary", "truth_as_of"]
