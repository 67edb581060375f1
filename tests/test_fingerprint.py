"""A model belongs to its data: its fingerprint says what it was trained on, and a misfit is named."""

from __future__ import annotations

import dataclasses

import pytest

from spark_lib.matching.probabilistic import ModelMismatchError, check_fingerprint, fingerprint_differences, load_matching_config
from spark_lib.matching.probabilistic.fingerprint import comparisons_hash

TRAINED = {"comparisons": "abc", "sources": ["crm", "eshop"], "columns": ["birth_date", "email_std", "first_name_std"]}


def test_the_same_data_fits_and_other_data_is_described():
    assert fingerprint_differences(TRAINED, dict(TRAINED)) == []
    other = {"comparisons": "abc", "sources": ["crm", "store_crm"], "columns": ["birth_date", "first_name_std"]}
    assert fingerprint_differences(TRAINED, other) == [
        "sources: trained on crm, eshop; the data has crm, store_crm (new store_crm; absent eshop)",
        "columns with values: trained on birth_date, email_std, first_name_std; the data has birth_date, "
        "first_name_std (absent email_std)",
    ]
    assert fingerprint_differences(TRAINED, {**TRAINED, "comparisons": "xyz"}) == [
        "its comparisons are not those of conf/matching.yaml"]
    assert "registered without a fingerprint" in fingerprint_differences({}, TRAINED)[0]


def test_a_misfit_stops_with_the_model_the_differences_and_the_way_out():
    with pytest.raises(ModelMismatchError, match=r"^rcu-matching version 3 does not fit .*absent eshop.*--retrain.*--accept-champion"):
        check_fingerprint(TRAINED, {**TRAINED, "sources": ["crm"]}, "rcu-matching version 3")
    check_fingerprint(TRAINED, dict(TRAINED), "rcu-matching version 3")  # fits: nothing raised


def test_the_comparisons_hash_follows_the_configured_comparisons():
    config = load_matching_config()
    comparisons = dataclasses.replace(config.probabilistic.comparisons, street_jaro_winkler=0.9)
    changed = dataclasses.replace(config, probabilistic=dataclasses.replace(config.probabilistic, comparisons=comparisons))
    assert comparisons_hash(config) == comparisons_hash(load_matching_config())
    assert comparisons_hash(changed) != comparisons_hash(config)
