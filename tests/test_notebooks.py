"""The three notebooks run top to bottom, locally, against a lakehouse given by a fixture.

``notebook_lakehouse`` builds the tiny lakehouse of tests/gold_tables.py (19 customers, 95 records), a few
scored pairs and a hand-set Splink model registered as champion in a test MLflow store. Any lakehouse with
the same tables works: point the fixture at another (e.g. the end-to-end test's) to run them on real data.
"""

from __future__ import annotations

import textwrap
from dataclasses import dataclass
from pathlib import Path

import pytest
from pyspark.sql.types import DoubleType, StringType, StructField, StructType

from spark_lib import tables
from spark_lib.tracking import log_training_run
from notebooks._runner import NotebookCellError, run_notebook
from spark_lib.matching import build_settings, load_matching_config
from spark_lib.matching.probabilistic import TrainedModel, m_u_table
from spark_lib.storage import Lakehouse
from tests.gold_tables import tiny_lakehouse

NOTEBOOKS = Path(__file__).resolve().parent.parent / "notebooks"

PAIRS = StructType([
    StructField("record_key_l", StringType(), False),
    StructField("record_key_r", StringType(), False),
    StructField("match_probability", DoubleType()),
    StructField("match_weight", DoubleType()),
    StructField("blocking_rule", StringType()),
])


@dataclass(frozen=True)
class NotebookLakehouse:
    path: str
    tracking_uri: str


def hand_set_model(config) -> dict:
    """Splink settings with m falling and u rising level by level: a model that scores, with no training."""
    settings = build_settings(config).create_settings_dict("spark")
    for comparison in settings["comparisons"]:
        levels = [level for level in comparison["comparison_levels"] if not level.get("is_null_level")]
        for index, level in enumerate(levels):
            last = index == len(levels) - 1
            level["m_probability"] = 0.02 if last else 0.9 * 0.5 ** index
            level["u_probability"] = 0.9 if last else 0.001 * 4 ** index
    settings["probability_two_random_records_match"] = 0.001
    return settings


@pytest.fixture(scope="module")
def notebook_lakehouse(spark, tmp_root) -> NotebookLakehouse:
    path = tiny_lakehouse(spark, tmp_root)
    lake = Lakehouse(spark, path)
    pairs = [("eshop_orders:c01", "web_events:c01", 0.93, 3.7, "first_last_name"),
             ("catalogue_mailings:c04", "eshop_orders:c04", 0.999, 10.0, "first_last_name")]
    lake.overwrite(spark.createDataFrame(pairs, PAIRS), tables.MATCH_PAIRS)
    tracking_uri = f"sqlite:///{tmp_root / 'notebooks-mlflow.db'}"
    config = load_matching_config()
    model = TrainedModel(model_json=hand_set_model(config), timings={}, comparison_counts={}, backend="hand-set",
                         input_records=100, training_records=0, prior_source="hand-set")
    log_training_run(model, config, tracking_uri=tracking_uri, alias="champion", charts=False)
    return NotebookLakehouse(path, tracking_uri)


def test_explore_customer_shows_one_customer_from_every_side(spark, notebook_lakehouse, tmp_path):
    run = run_notebook(NOTEBOOKS / "explore_customer.py", spark, {"lakehouse": notebook_lakehouse.path}, tmp_path,
                       echo=False)

    assert run.namespace["customer_id"] == "C01"  # every customer has 5 records: the smallest id wins the tie
    inventory, golden, records, provenance, timeline, c360, segments, *rest = run.tables()
    assert inventory.columns == ["layer", "table"] and inventory.rows >= 12
    assert golden.rows == 1 and "consent_email" in golden.columns
    assert records.rows == 5 and {"match_rule", "match_probability", "first_name"} <= set(records.columns)
    assert provenance.rows == 3
    assert timeline.rows == 3  # catalogue, page view, cart
    assert c360.rows == 1 and segments.rows == 2


def test_matching_diagnostics_shows_the_champion_its_charts_and_an_explained_pair(spark, notebook_lakehouse, tmp_path):
    parameters = {"lakehouse": notebook_lakehouse.path, "tracking_uri": notebook_lakehouse.tracking_uri, "pairs": "5"}

    run = run_notebook(NOTEBOOKS / "matching_diagnostics.py", spark, parameters, tmp_path, echo=False)

    m_u, rules, sizes, borderline, steps = run.tables()
    assert m_u.rows == len(m_u_table(hand_set_model(load_matching_config())))
    assert rules.rows == 3 and sizes.rows == 1  # deterministic, probabilistic, singleton; every cluster has 5
    assert borderline.rows == 2
    assert steps.rows > 5 and "match_weight" in steps.columns
    pages = [Path(p.path).read_text(encoding="utf-8") for p in run.pages()]
    assert len(pages) == 3 and all("vega" in page for page in pages)  # match weights, m/u, the pair's waterfall
    assert run.namespace["first"].record_key_l == "eshop_orders:c01"  # the least sure pair


def test_segments_analysis_shows_distribution_and_movement_between_run_dates(spark, notebook_lakehouse, tmp_path):
    run = run_notebook(NOTEBOOKS / "segments_analysis.py", spark, {"lakehouse": notebook_lakehouse.path}, tmp_path,
                       echo=False)

    temperatures, rfm, matrix, moves, profile_t, profile_rfm = run.tables()
    assert temperatures.rows == 2 and temperatures.columns == ["run_date", "glacé", "froid", "tiède", "chaud", "brûlant"]
    assert rfm.rows == 2
    # the tiny lakehouse shifts every customer's temperature by one step between its two snapshots
    assert matrix.rows == 5 and matrix.columns == ["from", "glacé", "froid", "tiède", "chaud", "brûlant", "(gone)"]
    assert moves.rows == 5
    assert profile_t.rows == 5 and profile_rfm.rows == 4


def test_runner_names_the_failing_cell_and_refuses_unknown_parameters(spark, tmp_path):
    notebook = tmp_path / "broken.py"
    notebook.write_text(textwrap.dedent("""\
        # Databricks notebook source
        dbutils.widgets.text("n", "1")
        N = int(dbutils.widgets.get("n"))

        # COMMAND ----------

        # MAGIC %md
        # MAGIC A markdown cell

        # COMMAND ----------

        1 / (N - 1)
        """), encoding="utf-8")

    with pytest.raises(NotebookCellError, match=r"broken.py: cell 3 \('1 / \(N - 1\)'\) failed: ZeroDivisionError"):
        run_notebook(notebook, spark, output_dir=tmp_path / "out", echo=False)
    assert run_notebook(notebook, spark, {"n": "2"}, tmp_path / "out", echo=False).cells == 2
    with pytest.raises(ValueError, match="parameter\\(s\\) nn match no widget"):
        run_notebook(notebook, spark, {"n": "2", "nn": "3"}, tmp_path / "out", echo=False)
