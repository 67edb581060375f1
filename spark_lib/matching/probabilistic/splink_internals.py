"""Every use of Splink's private API, in one place: a Splink upgrade means reading this file.

Written against Splink 5.0.0. The rest of the package uses Splink's public API only (``Linker``,
``SettingsCreator``, ``linker.training``, ``linker.inference``, ``linker.visualisations``, the comparison
libraries, the DuckDB and Spark APIs); what it cannot do with it goes through the functions below, each
named for what the model needs rather than for the attribute it touches:

- :func:`dialect_level`: a comparison level whose SQL is rendered per backend (subclass of
  ``splink.internals.comparison_level_creator.ComparisonLevelCreator``, overriding ``create_sql`` and
  ``create_label_for_charts``);
- :func:`set_prior`: the prior set from our own estimate (``linker._settings_obj
  ._probability_two_random_records_match``, the attribute Splink's own estimator writes);
- :func:`copy_u_probabilities`: u estimated on one linker, copied into another of the same levels
  (``Settings.comparisons``, ``Comparison._comparison_levels_excluding_null``,
  ``ComparisonLevel._trained_u_probabilities``, ``Linker._populate_m_u_from_trained_values()``);
- :func:`floor_m_probabilities`: m raised to a floor, reading the raw stored values
  (``ComparisonLevel._m_probability`` / ``_u_probability``: ``None`` when never estimated, the text
  ``splink.internals.constants.LEVEL_NOT_OBSERVED_TEXT`` when not observed) and writing the public
  ``m_probability`` / ``u_probability`` setters;
- :func:`comparisons_without_trained_m`: the comparisons EM has not estimated yet
  (``ComparisonLevel._trained_m_probabilities``);
- :func:`has_em_sessions`: whether EM ran (``Linker._em_training_sessions``).

On an upgrade, check that each of these names still exists with the same meaning (a grep of Splink's
``internals/linker.py``, ``settings.py``, ``comparison.py``, ``comparison_level.py`` and
``comparison_level_creator.py``), that unestimated m and u are still stored as ``None`` or as the
"level not observed" text, and that ``Linker._populate_m_u_from_trained_values`` still takes the median of
the trained values; then run ``tests/test_probabilistic.py``, whose model and scores depend on all of them.
Splink is imported inside the functions, so that importing the package stays cheap.
"""

from __future__ import annotations

from typing import Any, Callable


def dialect_level(sql: Callable[[Any], str], label: str):
    """A comparison level whose SQL depends on the backend (function names differ between Spark and DuckDB).

    ``sql`` receives Splink's dialect (``jaro_winkler_function_name``, ``levenshtein_function_name``, ...)
    and returns the level's condition; ``label`` is its name in charts. Splink's public level library has
    no level built from a function of the dialect, hence its internal base class.

    Example::

        dialect_level(lambda d: f"{d.jaro_winkler_function_name}(a_l, a_r) >= 0.9", "Similar a")
    """
    from splink.internals.comparison_level_creator import ComparisonLevelCreator

    if not callable(sql):
        raise ValueError(f"dialect_level: 'sql' must be a function of the dialect returning SQL, got {sql!r}")

    class _DialectLevel(ComparisonLevelCreator):
        def create_sql(self, sql_dialect) -> str:
            return sql(sql_dialect)

        def create_label_for_charts(self) -> str:
            return label

    return _DialectLevel()


def set_prior(linker, prior: float) -> None:
    """Set ``linker``'s ``probability_two_random_records_match`` to ``prior``.

    Splink's own estimator (``linker.training.estimate_probability_two_random_records_match``) sets this
    same attribute; the prior is not a trainable parameter, and Splink has no public setter for a prior
    estimated elsewhere (here, from the deterministic links).
    """
    if not 0 < prior <= 1:
        raise ValueError(f"set_prior: the prior must be a probability in (0, 1], got {prior}")
    linker._settings_obj._probability_two_random_records_match = prior


def copy_u_probabilities(target_linker, source_linker) -> None:
    """Copy the u estimates of ``source_linker`` into ``target_linker``, level by level, and apply them.

    Both linkers must have the same comparisons with the same non-null levels (their SQL may differ: the
    household gates only widen the null levels). The trained values are copied, not the u probabilities,
    so that ``target_linker`` applies them as Splink applies its own (median of the trained values).
    """
    targets, sources = target_linker._settings_obj.comparisons, source_linker._settings_obj.comparisons
    if len(targets) != len(sources):
        raise ValueError(
            f"copy_u_probabilities: the linkers have {len(targets)} and {len(sources)} comparisons; they must match"
        )
    for target, source in zip(targets, sources):
        target_levels = target._comparison_levels_excluding_null
        source_levels = source._comparison_levels_excluding_null
        if len(target_levels) != len(source_levels):
            raise ValueError(
                f"copy_u_probabilities: comparison {target.output_column_name!r} has {len(target_levels)} "
                f"and {len(source_levels)} non-null levels in the two linkers; they must match"
            )
        for level, source_level in zip(target_levels, source_levels):
            level._trained_u_probabilities = list(source_level._trained_u_probabilities)
    target_linker._populate_m_u_from_trained_values()


def floor_m_probabilities(linker, floor: float) -> None:
    """Raise the m probabilities of ``linker``'s non-null levels below ``floor`` to it.

    A level without any estimate, neither m nor u (Splink stores ``None`` when never estimated and a
    "level not observed" text when absent from the training pairs), gets m = u = ``floor``: weight 0.
    """
    if not 0 <= floor <= 1:
        raise ValueError(f"floor_m_probabilities: 'floor' must be a probability in [0, 1], got {floor}")

    def estimated(value: Any) -> bool:
        return isinstance(value, float)  # None: never estimated; a string: "level not observed"

    for comparison in linker._settings_obj.comparisons:
        for level in comparison._comparison_levels_excluding_null:
            m, u = level._m_probability, level._u_probability
            if not estimated(u) and not estimated(m):
                level.m_probability = level.u_probability = floor
            elif not estimated(m) or m < floor:
                level.m_probability = floor


def comparisons_without_trained_m(linker) -> list[str]:
    """The comparisons of ``linker`` none of whose non-null levels has an m estimated by EM yet (a comparison
    every EM session blocked on, or whose session found no pair)."""
    return [
        comparison.output_column_name
        for comparison in linker._settings_obj.comparisons
        if not any(level._trained_m_probabilities for level in comparison._comparison_levels_excluding_null)
    ]


def has_em_sessions(linker) -> bool:
    """Whether expectation-maximisation ran on ``linker`` (Splink's parameter-estimate chart needs it)."""
    return bool(linker._em_training_sessions)
