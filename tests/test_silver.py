"""Silver: any configured source becomes standardised customer records and interactions; re-runs converge."""

from __future__ import annotations

import argparse
import datetime as dt
import json
import shutil

import pytest
from chispa import assert_df_equality

from jobs import ingest, standardise
from jobs.common import Progress, build_context
from spark_lib import tables
from tests.deliveries import write_delivery


@pytest.fixture(scope="module")
def lake(spark, tmp_path_factory):
    delivery = write_delivery(tmp_path_factory.mktemp("silver"))
    ctx = build_context(delivery, "test", spark=spark)
    ingest.run(ctx, progress=Progress("ingest", quiet=True))
    first = standardise.run(ctx, progress=Progress("standardise", quiet=True))
    return ctx, first


def test_customer_records_are_conformed_from_every_format(spark, lake):
    ctx, _ = lake
    records = ctx.lake.read(tables.CUSTOMER_RECORDS)
    actual = records.select(
        "record_key", "source", "channel", "civility", "first_name", "last_name", "first_name_std", "last_name_std",
        "birth_date", "loyalty_card", "account_id", "postcode", "city_std",
    )
    expected = spark.createDataFrame(
        [
            ("loyalty:C001", "loyalty", "offline", "MME", "Hélène", "LEFÈVRE", "helene", "lefevre",
             dt.date(1980, 1, 31), "C001", None, None, "saint etienne"),
            ("loyalty:C002", "loyalty", "offline", "M", "Noël", "DUPONT", "noel", "dupont",
             dt.date(1975, 12, 25), "C002", None, None, "paris"),
            ("loyalty:C006", "loyalty", "offline", "M", "Luc", "ROBERT", "luc", "robert",
             None, "C006", None, None, "nantes"),
            ("orders:O1", "orders", "online", None, None, "DUPONT", None, "dupont", None, None, "A1", "75011", None),
            ("orders:O3", "orders", "online", None, None, "MARTIN", None, "martin", None, None, "A2", "69003", None),
            # A receipt carrying a loyalty card is an identity record; the anonymous one (T3) is not.
            ("receipts:T1", "receipts", "offline", None, None, None, None, None, None, "C001", None, None, None),
        ],
        actual.schema,
    )
    assert_df_equality(actual, expected, ignore_row_order=True, ignore_nullable=True)


def test_interactions_are_keyed_to_their_source_record(spark, lake):
    ctx, _ = lake
    receipts = ctx.lake.read(tables.interactions("receipts")).select("interaction_key", "record_key", "event_type", "amount", "event_time")
    expected = spark.createDataFrame(
        [
            # T3 is anonymous: it stays an interaction, keyed to a record that has no identity.
            ("receipts:T1", "receipts:T1", "purchase", 12.5, dt.datetime(2026, 9, 30, 18, 2, 11)),
            ("receipts:T3", "receipts:T3", "purchase", 8.0, dt.datetime(2026, 10, 1, 10, 0, 0)),
        ],
        receipts.schema,
    )
    assert_df_equality(receipts, expected, ignore_row_order=True, ignore_nullable=True)
    orders = {(r.record_key, r.event_type) for r in ctx.lake.read(tables.interactions("orders")).collect()}
    assert orders == {("orders:O1", "completed"), ("orders:O3", "cart")}


def test_rerun_on_unchanged_bronze_rewrites_nothing(lake):
    ctx, first = lake
    assert {r.table: r.inserted for r in first}[tables.CUSTOMER_RECORDS] == 6
    second = standardise.run(ctx, progress=Progress("standardise", quiet=True))
    assert [(r.table, r.inserted, r.updated) for r in second] == [(r.table, 0, 0) for r in first]
    assert ctx.lake.read(tables.CUSTOMER_RECORDS).count() == 6


def test_quality_flags_explain_what_was_nulled(lake):
    ctx, _ = lake
    flags = {
        r.record_key: sorted(r.quality_flags)
        for r in ctx.lake.read(tables.CUSTOMER_RECORDS).select("record_key", "quality_flags").collect()
    }
    assert flags["loyalty:C006"] == ["birth_date:impossible"]
    assert flags["loyalty:C001"] == []


def _tables_without_lineage(ctx):
    """Silver as a set of rows per table, without the columns that say when a row was ingested."""
    lineage = ("ingested_at", "source_file", "record_time")
    return {t: sorted(tuple(r) for r in ctx.lake.read(t).select(*[c for c in ctx.lake.read(t).columns if c not in lineage]).collect())
            for t in ctx.lake.tables("silver")}


def test_a_day_s_new_batches_are_standardised_alone_and_give_what_a_full_run_gives(spark, tmp_path, capsys):
    daily, full = tmp_path / "daily", tmp_path / "full"
    write_delivery(daily)
    sources = daily / "sources.yaml"
    # orders as a source whose record (the account) repeats across rows, folded into its latest values
    sources.write_text(sources.read_text().replace("    record_id: order_id\n",
                                                   "    record_id: account_id\n    records_repeat: true\n"))
    argv = lambda root: ["--lakehouse", str(root / "lake"), "--raw-dir", str(daily / "raw"), "--sources", str(sources)]
    assert ingest.main(argv(daily)) == 0
    standardise.main(argv(daily))

    # day 2: a moved member, a new one; a new order of account A1 with no postcode
    (daily / "raw" / "fid" / "adherents_j2.csv").write_bytes(
        ("num_carte;civilite;nom;prenom;date naiss;ville\n"
         "C002;M.;DUPONT;Noël;19751225;Lyon\nC007;Mme;BLANC;Inès;19910505;Metz\n").encode("cp1252"))
    (daily / "raw" / "web" / "orders_j2.jsonl").write_text(json.dumps(
        {"order_id": "O4", "account_id": "A1", "created_at": "2026-10-05T10:00:00", "status": "completed",
         "shipping": {"last_name": "Dupont-Durand"}}) + "\n", encoding="utf-8")
    assert ingest.main(argv(daily)) == 0
    # "full": the same bronze (both days' batches), silver built again from all of it
    shutil.copytree(daily / "lake", full / "lake", ignore=shutil.ignore_patterns("silver", "ops"))
    capsys.readouterr()
    standardise.main(argv(daily))
    assert "loyalty: 1 new batch(es)" in capsys.readouterr().err
    standardise.main([*argv(full), "--full"])

    daily_ctx = build_context(argparse.Namespace(conf_dir=None, lakehouse=str(daily / "lake"), raw_dir=None,
                                                 sources=str(daily / "sources.yaml"), truth_dir=None), "test", spark=spark)
    full_ctx = build_context(argparse.Namespace(conf_dir=None, lakehouse=str(full / "lake"), raw_dir=None,
                                                sources=str(sources), truth_dir=None), "test", spark=spark)
    assert _tables_without_lineage(daily_ctx) == _tables_without_lineage(full_ctx)
    account = daily_ctx.lake.read(tables.CUSTOMER_RECORDS).where("record_key = 'orders:A1'").first()
    assert (account.last_name, account.postcode) == ("DUPONT-DURAND", "75011")   # the fold saw day 1's rows
    moved = daily_ctx.lake.read(tables.CUSTOMER_RECORDS).where("record_key = 'loyalty:C002'").first()
    assert moved.city_std == "lyon"

