"""The table catalogue: one name, schema and keys per table, usable wherever a table name is."""

from __future__ import annotations

import pytest

from spark_lib import schemas, tables


def test_a_table_is_its_name_and_carries_its_keys_and_schema():
    assert tables.CROSSWALK == "gold.customer_crosswalk"
    assert {tables.CROSSWALK: 1}["gold.customer_crosswalk"] == 1
    assert f"{tables.CUSTOMER_RECORDS}" == "silver.customer_records"
    assert tables.CUSTOMER_RECORDS.keys == ("record_key",)
    assert tables.CUSTOMER_RECORDS.schema is schemas.CUSTOMER_RECORDS
    assert (tables.CROSSWALK.layer, tables.CROSSWALK.entity) == ("gold", "customer_crosswalk")


def test_the_catalogue_names_each_table_once_and_keys_are_columns_of_its_schema():
    names = [str(t) for t in tables.CATALOGUE]
    assert len(names) == len(set(names))
    for table in tables.CATALOGUE:
        if table.schema is not None:
            assert set(table.keys) <= set(table.schema.fieldNames()), table


def test_tables_named_by_functions_check_their_names():
    assert tables.bronze("loyalty_members") == "bronze.loyalty_members"
    assert tables.interactions("orders").keys == ("interaction_key",)
    with pytest.raises(ValueError, match="not an interaction table"):
        tables.interactions("order")
    with pytest.raises(ValueError, match="is not '<bronze"):
        tables.Table("customer")
