"""Onboarding a retailer's own files: propose a ``sources.yaml`` (``rcu init``) and check it (``rcu check``).

- :mod:`spark_lib.onboarding.files`: group files into sources, detect format, encoding, separator, header.
- :mod:`spark_lib.onboarding.mapping`: map columns onto canonical fields by header name and by content.
- :mod:`spark_lib.onboarding.proposal`: the proposed YAML, ``# uncertain: <why>`` on each doubtful line.
- :mod:`spark_lib.onboarding.profile`: fill and standardisation rates with the pipeline's own code (Spark).

Example::

    from spark_lib.onboarding import propose_sources, render_sources_yaml
    print(render_sources_yaml(propose_sources("data/retailer"), "rcu init --raw-dir data/retailer"))
"""

from spark_lib.onboarding.files import FoundSource, OnboardingError, find_sources
from spark_lib.onboarding.mapping import SourceMapping, propose_mapping
from spark_lib.onboarding.proposal import Proposal, check_loadable, propose_sources, render_sources_yaml

__all__ = [
    "FoundSource",
    "OnboardingError",
    "Proposal",
    "SourceMapping",
    "check_loadable",
    "find_sources",
    "propose_mapping",
    "propose_sources",
    "render_sources_yaml",
]
