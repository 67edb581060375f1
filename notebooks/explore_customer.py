# Databricks notebook source
# MAGIC %md
# MAGIC # Explore the customer reference (RCU)
# MAGIC
# MAGIC One customer seen from every side: the golden record, the source records behind it and how each was
# MAGIC matched, where each golden value comes from, every interaction, the segments over run dates and the
# MAGIC trigger audiences it belongs to.
# MAGIC
# MAGIC Parameters: `lakehouse` (the Delta lakehouse folder), `customer_id` (empty: the customer gathering the
# MAGIC most source records). Locally: `python notebooks/_runner.py notebooks/explore_customer.py --param lakehouse=lakehouse`.

# COMMAND ----------

from pyspark.sql import functions as F

from spark_lib import explore, tables
from spark_lib.config import load_sources
from spark_lib.gold.audiences import interaction_tables_of
from spark_lib.session import get_spark
from spark_lib.storage import Lakehouse

spark = get_spark(app_name="rcu-notebook-explore")
try:
    dbutils  # Databricks, or notebooks/_runner.py
except NameError:  # a plain Python session: local widgets (their defaults) and display
    from notebooks._runner import local_globals

    globals().update(local_globals(spark))

dbutils.widgets.text("lakehouse", "lakehouse", "Lakehouse folder")
dbutils.widgets.text("customer_id", "", "Customer id (empty: the one with the most records)")
LAKEHOUSE = dbutils.widgets.get("lakehouse")
CUSTOMER_ID = dbutils.widgets.get("customer_id")

lake = Lakehouse(spark, LAKEHOUSE)

# COMMAND ----------

# MAGIC %md
# MAGIC ## The lakehouse: which tables exist
# MAGIC (Row counts are left out on purpose: counting every table of a large lakehouse takes minutes.)

# COMMAND ----------

existing = lake.tables("silver") + lake.tables("gold")
display(spark.createDataFrame([(t.split(".")[0], t) for t in existing], "layer string, table string"))

# COMMAND ----------

# MAGIC %md
# MAGIC ## The golden record

# COMMAND ----------

crosswalk = lake.read(tables.CROSSWALK)
customer_id = CUSTOMER_ID or explore.largest_customer(crosswalk)
print(f"customer {customer_id}")
golden = lake.read_or_none(tables.CUSTOMER)
if golden is None:
    print(f"{tables.CUSTOMER} is missing: run `rcu gold`")
else:
    display(golden.where(F.col("customer_id") == customer_id))

# COMMAND ----------

# MAGIC %md
# MAGIC ## Its source records, and how each was matched
# MAGIC `match_rule`: `deterministic:<pivot>` (a shared identifier), `probabilistic` (Splink, with its probability), `singleton`.

# COMMAND ----------

records = lake.read(tables.CUSTOMER_RECORDS)
display(explore.customer_records(records, crosswalk, customer_id, extra=explore.RECORD_DETAIL_COLUMNS))

# COMMAND ----------

# MAGIC %md
# MAGIC ## Where each golden value comes from (provenance)

# COMMAND ----------

provenance = lake.read_or_none(tables.PROVENANCE)
if provenance is None:
    print(f"{tables.PROVENANCE} is missing: run `rcu gold`")
else:
    display(provenance.where(F.col("customer_id") == customer_id).orderBy("attribute"))

# COMMAND ----------

# MAGIC %md
# MAGIC ## Every interaction, latest first

# COMMAND ----------

interactions = {
    name: lake.read(tables.interactions(name))
    for name in interaction_tables_of(load_sources())
    if lake.exists(tables.interactions(name))
}
display(explore.customer_timeline(interactions, crosswalk, customer_id))

# COMMAND ----------

# MAGIC %md
# MAGIC ## Customer 360, segments over run dates, trigger audiences

# COMMAND ----------

for table in (tables.CUSTOMER_360, tables.SEGMENTS, tables.AUDIENCE_MEMBERS):
    df = lake.read_or_none(table)
    if df is None:
        print(f"{table} is missing")
        continue
    rows = df.where(F.col("customer_id") == customer_id)
    display(rows.orderBy("run_date") if "run_date" in df.columns else rows)
