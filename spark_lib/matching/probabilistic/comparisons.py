"""The comparisons of the Splink model and the settings built from them, rendered for any backend.

Seven comparisons (first name, last name, birth date, email, phone, address, postcode and city), each a
ladder of levels from exact agreement down to "else"; their thresholds come from
``probabilistic.comparisons`` (:class:`~.config.ComparisonSettings`), their levels are fixed here. The
settings are backend-free: Splink renders their SQL for DuckDB (training) or Spark (scoring) when a linker
is built, and :func:`settings_for_dialect` carries trained parameters from one rendering to the other.

Household gates (``probabilistic.comparisons.household_gate``). A family shares an email, a landline, an
address; added up as independent evidence they make parent and child one person. So:

- email and phones weigh nothing (null level, weight 0) between *visibly different people*: first names
  both known and incompatible while birth dates do not agree, or birth years a generation apart;
- address, postcode and a landline alone weigh something only once the first name agrees (or, when a first
  name is missing, the birth date): they say "same home", not "same person".

Twins, homonyms at one address and a parent and child of the same first name remain hard cases.

Example::

    config = load_matching_config()
    spark_settings = build_settings(config).create_settings_dict("spark")
    duckdb_settings = settings_for_dialect(spark_settings, config, "duckdb")   # same levels, DuckDB SQL
"""

from __future__ import annotations

from typing import Any, Callable, Mapping

from spark_lib.matching.probabilistic.config import UNIQUE_ID, ComparisonSettings, MatchingConfig
from spark_lib.matching.probabilistic.splink_internals import dialect_level

#: postcodes are compared within one country: Brussels' "1000" is not in the Aube (10), Berlin's "10115" is
#: not Troyes' "10000" (a record without a country is French when its postcode is: see standardise.addresses)
SAME_COUNTRY = "coalesce(country_l, '') = coalesce(country_r, '')"


def names_swapped_sql(dialect, threshold: float) -> str:
    """First and last names typed the wrong way round, typos included: "fesy manon" / "manon fesy", "marine
    quidert" / "quidert marind". Each name is compared with the other side's other name (Jaro-Winkler at
    least ``threshold``, exact swaps included); "anne anne" against itself is the exact level, not this one."""
    jw = dialect.jaro_winkler_function_name
    return (
        f"({jw}(first_name_std_l, last_name_std_r) >= {threshold} "
        f"AND {jw}(last_name_std_l, first_name_std_r) >= {threshold})"
    )


def _level(sql: Callable[[Any], str], label: str):
    """A comparison level whose SQL depends on the backend (function names differ between Spark and DuckDB).

    ``sql`` maps Splink's dialect to the level's condition (a constant for most levels); ``label`` names
    the level in charts and explanations.
    """
    return dialect_level(sql, label)


def _person_sql(dialect, c: ComparisonSettings) -> dict[str, str]:
    """SQL conditions on a pair's personal identity (first name, birth date), shared by the gated levels.

    - ``support``: the first names are compatible (equal, same formal name, similar), or, when a first name
      is missing, the birth dates agree (equal, one character apart, same year and month, day and month
      swapped);
    - ``generation``: birth years at least ``generation_gap_years`` apart (parent and child);
    - ``conflict``: visibly different people: both first names known and incompatible, birth dates not
      agreeing (different or unknown); or a generation apart.
    """
    jw, lev = dialect.jaro_winkler_function_name, dialect.levenshtein_function_name
    fn_l, fn_r = "first_name_std_l", "first_name_std_r"
    formal_l = "coalesce(first_name_canonical_l, first_name_std_l)"
    formal_r = "coalesce(first_name_canonical_r, first_name_std_r)"
    both_names = f"{fn_l} IS NOT NULL AND {fn_r} IS NOT NULL"
    # (swapped first and last names are not read here: the gates would then read last_name_std too, and the
    # email_last_name EM rule could no longer estimate the gated comparisons; swapped names weigh enough alone)
    names_agree = f"({formal_l} = {formal_r} OR {jw}({fn_l}, {fn_r}) >= {min(c.first_name_jaro_winkler)})"
    bd_l, bd_r = "birth_date_l", "birth_date_r"
    one_char = f"{lev}(CAST({bd_l} AS STRING), CAST({bd_r} AS STRING)) <= 1"
    close = (
        f"({one_char} OR (year({bd_l}) = year({bd_r}) AND (month({bd_l}) = month({bd_r}) "
        f"OR (month({bd_l}) = day({bd_r}) AND day({bd_l}) = month({bd_r})))))"
    )
    both_dates = f"{bd_l} IS NOT NULL AND {bd_r} IS NOT NULL"
    dates_agree = f"({both_dates} AND {close})"
    generation = f"({both_dates} AND abs(year({bd_l}) - year({bd_r})) >= {c.generation_gap_years} AND NOT {one_char})"
    return {
        # a first name known on both sides decides alone: twins share a birth date, not a first name
        "support": f"(({both_names} AND {names_agree}) OR (NOT ({both_names}) AND {dates_agree}))",
        "generation": generation,
        "conflict": f"(({both_names} AND NOT {names_agree} AND NOT {dates_agree}) OR {generation})",
    }


def _gated_null_level(null_sql: str, what: str, c: ComparisonSettings, gate: str):
    """Splink's null level (weight 0), widened by the household gate when configured.

    ``gate`` is ``"person"`` for attributes a family may share but that are personal evidence otherwise
    (email, phones): they weigh nothing between visibly different people. It is ``"household"`` for
    attributes of the home (address, postcode): they weigh something only once the first name or the
    birth date agrees, since on their own they cannot tell household members apart.
    """
    if not c.household_gate:
        return _level(lambda d: null_sql, f"{what} missing").configure(is_null_level=True)

    def sql(dialect) -> str:
        person = _person_sql(dialect, c)
        if gate == "person":
            return f"({null_sql}) OR {person['conflict']}"
        return f"({null_sql}) OR NOT {person['support']} OR {person['generation']}"

    label = (
        f"{what} missing, or shared by visibly different people"
        if gate == "person"
        else f"{what} missing, or no first name or birth date agreeing (household)"
    )
    return _level(sql, label).configure(is_null_level=True)


def _phone_null_level(c: ComparisonSettings):
    """Phones: a mobile is personal, a landline belongs to the home; a shared landline alone weighs nothing
    until the first name or the birth date agrees."""
    no_phone = (
        "(phone_mobile_l IS NULL OR phone_mobile_r IS NULL) AND (phone_landline_l IS NULL OR phone_landline_r IS NULL)"
    )
    if not c.household_gate:
        return _level(lambda d: no_phone, "Phones missing").configure(is_null_level=True)

    def sql(dialect) -> str:
        person = _person_sql(dialect, c)
        landline_only = (
            "(phone_landline_l = phone_landline_r AND NOT coalesce(phone_mobile_l = phone_mobile_r, FALSE) "
            f"AND NOT {person['support']})"
        )
        return f"({no_phone}) OR {person['conflict']} OR {landline_only}"

    return _level(sql, "Phones missing, shared by visibly different people, or landline alone (household)").configure(
        is_null_level=True
    )


def _comparisons(c: ComparisonSettings) -> list:
    import splink.comparison_level_library as cll
    import splink.comparison_library as cl
    from splink import ColumnExpression

    tf = set(c.term_frequency_columns)
    # a swapped pair is two name comparisons at once: the stricter of the first-name thresholds
    swap_threshold = max(c.first_name_jaro_winkler)

    def jaro_winkler_levels(column: str, thresholds) -> list:
        return [cll.JaroWinklerLevel(column, t) for t in thresholds]

    first_name = cl.CustomComparison(
        output_column_name="first_name",
        comparison_description="first_name_std: exact, same formal name (nickname), names swapped, Jaro-Winkler",
        comparison_levels=[
            cll.NullLevel("first_name_std"),
            cll.ExactMatchLevel("first_name_std", term_frequency_adjustments="first_name_std" in tf),
            _level(
                lambda d: (
                    "coalesce(first_name_canonical_l, first_name_std_l) = "
                    "coalesce(first_name_canonical_r, first_name_std_r)"
                ),
                "Same formal first name (nickname resolved)",
            ),
            _level(lambda d: names_swapped_sql(d, swap_threshold), "First and last names swapped (typos allowed)"),
            *jaro_winkler_levels("first_name_std", c.first_name_jaro_winkler),
            cll.ElseLevel(),
        ],
    )
    last_name = cl.CustomComparison(
        output_column_name="last_name",
        comparison_description="last_name_std: exact, married name (against birth_name_std), names swapped, Jaro-Winkler",
        comparison_levels=[
            cll.NullLevel("last_name_std"),
            cll.ExactMatchLevel("last_name_std", term_frequency_adjustments="last_name_std" in tf),
            _level(
                lambda d: (
                    "last_name_std_l = birth_name_std_r OR birth_name_std_l = last_name_std_r "
                    "OR birth_name_std_l = birth_name_std_r"
                ),
                "Birth name matches (married name)",
            ),
            _level(lambda d: names_swapped_sql(d, swap_threshold), "First and last names swapped (typos allowed)"),
            *jaro_winkler_levels("last_name_std", c.last_name_jaro_winkler),
            cll.ElseLevel(),
        ],
    )
    birth_date = cl.CustomComparison(
        output_column_name="birth_date",
        comparison_description="birth_date: exact, one character, same year and month or day/month swapped",
        comparison_levels=[
            cll.NullLevel("birth_date"),
            cll.ExactMatchLevel("birth_date"),
            cll.LevenshteinLevel(ColumnExpression("birth_date").cast_to_string(), 1).configure(
                label_for_charts="One character apart (typo)"
            ),
            _level(
                lambda d: (
                    "year(birth_date_l) = year(birth_date_r) AND (month(birth_date_l) = month(birth_date_r) "
                    "OR (month(birth_date_l) = day(birth_date_r) AND day(birth_date_l) = month(birth_date_r)))"
                ),
                "Same year and month, or day and month swapped",
            ),
            cll.ElseLevel(),
        ],
    )
    local_part = ColumnExpression("email_std").regex_extract("^[^@]+")
    email = cl.CustomComparison(
        output_column_name="email",
        comparison_description="email_std: exact, same local part, similar local part",
        comparison_levels=[
            _gated_null_level("email_std_l IS NULL OR email_std_r IS NULL", "Email", c, "person"),
            cll.ExactMatchLevel("email_std", term_frequency_adjustments="email_std" in tf),
            cll.ExactMatchLevel(local_part).configure(label_for_charts="Same local part (before @)"),
            cll.JaroWinklerLevel(local_part, c.email_local_part_jaro_winkler).configure(
                label_for_charts=f"Local part Jaro-Winkler >= {c.email_local_part_jaro_winkler}"
            ),
            cll.ElseLevel(),
        ],
    )
    phone = cl.CustomComparison(
        output_column_name="phone",
        comparison_description="phone_mobile exact, phone_landline exact",
        comparison_levels=[
            _phone_null_level(c),
            cll.ExactMatchLevel("phone_mobile").configure(label_for_charts="Same mobile"),
            cll.ExactMatchLevel("phone_landline").configure(label_for_charts="Same landline"),
            cll.ElseLevel(),
        ],
    )
    address = cl.CustomComparison(
        output_column_name="address",
        comparison_description="house_number + street_std exact, same street, similar street",
        comparison_levels=[
            _gated_null_level("street_std_l IS NULL OR street_std_r IS NULL", "Street", c, "household"),
            _level(
                lambda d: (
                    "street_std_l = street_std_r AND coalesce(house_number_l, '') = coalesce(house_number_r, '')"
                ),
                "Same house number and street",
            ),
            cll.ExactMatchLevel("street_std").configure(label_for_charts="Same street, other number"),
            cll.JaroWinklerLevel("street_std", c.street_jaro_winkler).configure(
                label_for_charts=f"Street Jaro-Winkler >= {c.street_jaro_winkler}"
            ),
            cll.ElseLevel(),
        ],
    )
    postcode_city = cl.CustomComparison(
        output_column_name="postcode_city",
        comparison_description="postcode and city_std: both, postcode, city, département",
        comparison_levels=[
            _gated_null_level(
                "(postcode_l IS NULL OR postcode_r IS NULL) AND (city_std_l IS NULL OR city_std_r IS NULL)",
                "Postcode and city",
                c,
                "household",
            ),
            _level(
                lambda d: f"postcode_l = postcode_r AND city_std_l = city_std_r AND {SAME_COUNTRY}",
                "Same postcode and city",
            ),
            _level(lambda d: f"postcode_l = postcode_r AND {SAME_COUNTRY}", "Same postcode"),
            cll.ExactMatchLevel("city_std").configure(label_for_charts="Same city, other postcode"),
            _level(
                lambda d: f"substr(postcode_l, 1, 2) = substr(postcode_r, 1, 2) AND {SAME_COUNTRY}",
                "Same département (first two digits, same country)",
            ),
            cll.ElseLevel(),
        ],
    )
    return [first_name, last_name, birth_date, email, phone, address, postcode_city]


def build_settings(config: MatchingConfig):
    """The Splink model specification (comparisons, blocking rules, EM settings) as a ``SettingsCreator``.

    It is backend-free: Splink renders its SQL for DuckDB or Spark when a linker is built. Its m and u
    probabilities are untrained; :func:`.training.train_model` estimates them.

    Example::

        settings = build_settings(load_matching_config())
        settings.create_settings_dict("spark")["comparisons"][0]["output_column_name"]   # 'first_name'
    """
    from splink import SettingsCreator

    if config is None:
        raise ValueError("build_settings: 'config' cannot be None (use load_matching_config())")
    p = config.probabilistic
    return SettingsCreator(
        link_type="dedupe_only",
        unique_id_column_name=UNIQUE_ID,
        comparisons=_comparisons(p.comparisons),
        blocking_rules_to_generate_predictions=[r.splink_rule() for r in config.blocking.rules],
        em_convergence=p.training.em_convergence,
        max_iterations=p.training.em_max_iterations,
        retain_matching_columns=False,
        retain_intermediate_calculation_columns=False,
    )


def settings_for_dialect(trained: Mapping[str, Any], config: MatchingConfig, dialect: str) -> dict[str, Any]:
    """The trained parameters of ``trained`` (a model JSON of any backend) in settings rendered for ``dialect``.

    Splink's JSON stores SQL already rendered for the backend that trained it (DuckDB's
    ``jaro_winkler_similarity`` is Spark's ``jaro_winkler``); the levels are rebuilt from the config and
    the m, u and prior copied across, level by level.
    """
    target = build_settings(config).create_settings_dict(dialect)
    source_comparisons = {c["output_column_name"]: c for c in trained["comparisons"]}
    for comparison in target["comparisons"]:
        name = comparison["output_column_name"]
        if name not in source_comparisons:
            raise ValueError(f"settings_for_dialect: the trained model has no comparison {name!r}")
        source_levels = source_comparisons[name]["comparison_levels"]
        if len(source_levels) != len(comparison["comparison_levels"]):
            raise ValueError(
                f"settings_for_dialect: comparison {name!r} has {len(source_levels)} levels in the trained model "
                f"and {len(comparison['comparison_levels'])} in the config: retrain the model"
            )
        for level, source in zip(comparison["comparison_levels"], source_levels):
            for key in ("m_probability", "u_probability"):
                if source.get(key) is not None:
                    level[key] = source[key]
    target["probability_two_random_records_match"] = trained["probability_two_random_records_match"]
    target["sql_dialect"] = dialect
    return target
