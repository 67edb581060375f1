# Databricks notebook source
# MAGIC %md
# MAGIC # Diagnose the matching model
# MAGIC
# MAGIC The Splink model registered in MLflow (`rcu-matching@champion` by default): its m and u probabilities and match
# MAGIC weights per comparison level (Splink's charts), how the crosswalk's records were matched, the size of
# MAGIC the customers' clusters, and the pairs the model was least sure of, each explained comparison by comparison.
# MAGIC
# MAGIC Parameters: `lakehouse`, `tracking_uri` and `model_name` (empty: `conf/pipeline.yaml`'s), `alias` (default `champion`),
# MAGIC `pairs` (how many borderline pairs to list).

# COMMAND ----------

import pandas as pd

from spark_lib import explore, tables, tracking
from spark_lib.config import load_pipeline
from spark_lib.matching import load_matching_config
from spark_lib.matching.probabilistic import m_u_table
from spark_lib.session import get_spark
from spark_lib.storage import Lakehouse

spark = get_spark(app_name="rcu-notebook-matching")
try:
    dbutils  # Databricks, or notebooks/_runner.py
except NameError:  # a plain Python session: local widgets (their defaults) and display
    from notebooks._runner import local_globals

    globals().update(local_globals(spark))

dbutils.widgets.text("lakehouse", "lakehouse", "Lakehouse folder")
dbutils.widgets.text("tracking_uri", "", "MLflow tracking URI (empty: conf/pipeline.yaml)")
dbutils.widgets.text("model_name", "", "Registered model (empty: conf/pipeline.yaml's model_name)")
dbutils.widgets.text("alias", tracking.CHAMPION, "Registered model alias")
dbutils.widgets.text("pairs", "10", "Borderline pairs to list")
LAKEHOUSE = dbutils.widgets.get("lakehouse")
TRACKING_URI = dbutils.widgets.get("tracking_uri") or load_pipeline().mlflow_tracking_uri
MODEL_NAME = dbutils.widgets.get("model_name") or load_pipeline().model_name
ALIAS = dbutils.widgets.get("alias")
PAIRS = int(dbutils.widgets.get("pairs"))

lake = Lakehouse(spark, LAKEHOUSE)
config = load_matching_config()

# COMMAND ----------

# MAGIC %md
# MAGIC ## The model: m, u and match weight per comparison level

# COMMAND ----------

model_json = tracking.load_champion_model(MODEL_NAME, alias=ALIAS, tracking_uri=TRACKING_URI)
print(f"{MODEL_NAME}@{ALIAS}: prior {model_json['probability_two_random_records_match']:.2e}, "
      f"{len(model_json['comparisons'])} comparisons")
display(pd.DataFrame(m_u_table(model_json)))

# COMMAND ----------

for name, html in explore.model_charts_html(model_json, config).items():
    print(name)
    displayHTML(html)

# COMMAND ----------

# MAGIC %md
# MAGIC ## How the crosswalk's records were matched, and the clusters they make

# COMMAND ----------

crosswalk = lake.read(tables.CROSSWALK)
display(explore.match_rule_breakdown(crosswalk))
display(explore.cluster_size_distribution(crosswalk))

# COMMAND ----------

# MAGIC %md
# MAGIC ## The pairs the model was least sure of, and why the first one scored what it scored

# COMMAND ----------

pairs = lake.read_or_none(tables.MATCH_PAIRS)
if pairs is None:
    print(f"{tables.MATCH_PAIRS} is missing: run `rcu match`")
else:
    borderline = explore.borderline_pairs(pairs, PAIRS)
    display(borderline)
    first = borderline.first()
    if first is not None:
        pair = explore.explain_records_pair(lake, first.record_key_l, first.record_key_r, config, model_json)
        print(explore.format_pair(pair))  # as `rcu explain --pair` prints it
        if pair["scored"]:
            display(pd.DataFrame(pair["steps"]))
            displayHTML(pair["chart"].to_html())
