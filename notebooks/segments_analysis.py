# Databricks notebook source
# MAGIC %md
# MAGIC # Analyse the segments
# MAGIC
# MAGIC RFM segments and engagement temperature (glacé, froid, tiède, chaud, brûlant) over the run dates of
# MAGIC `gold.customer_segments`, the customers' movement between two snapshots, and what each temperature's
# MAGIC customers look like (recency, frequency, spend from `gold.customer_360`).
# MAGIC
# MAGIC Parameters: `lakehouse`, `from_date` and `to_date` (empty: the two latest run dates).

# COMMAND ----------

import datetime as dt

from spark_lib import explore, tables
from spark_lib.gold.kpis import TEMPERATURES
from spark_lib.gold.segments import segment_movements
from spark_lib.session import get_spark
from spark_lib.storage import Lakehouse

spark = get_spark(app_name="rcu-notebook-segments")
try:
    dbutils  # Databricks, or notebooks/_runner.py
except NameError:  # a plain Python session: local widgets (their defaults) and display
    from notebooks._runner import local_globals

    globals().update(local_globals(spark))

dbutils.widgets.text("lakehouse", "lakehouse", "Lakehouse folder")
dbutils.widgets.text("from_date", "", "Earlier run date (YYYY-MM-DD; empty: the one before the latest)")
dbutils.widgets.text("to_date", "", "Later run date (YYYY-MM-DD; empty: the latest)")
LAKEHOUSE = dbutils.widgets.get("lakehouse")
FROM_DATE = dbutils.widgets.get("from_date")
TO_DATE = dbutils.widgets.get("to_date")

lake = Lakehouse(spark, LAKEHOUSE)
segments = lake.read(tables.SEGMENTS)
dates = explore.run_dates(segments)
to_date = dt.date.fromisoformat(TO_DATE) if TO_DATE else dates[-1]
from_date = dt.date.fromisoformat(FROM_DATE) if FROM_DATE else ([d for d in dates if d < to_date] or [to_date])[-1]
print(f"run dates: {', '.join(d.isoformat() for d in dates)}; comparing {from_date} -> {to_date}")

# COMMAND ----------

# MAGIC %md
# MAGIC ## Distribution over run dates

# COMMAND ----------

display(explore.segment_distribution(segments, "temperature", TEMPERATURES))
display(explore.segment_distribution(segments, "rfm_segment"))

# COMMAND ----------

# MAGIC %md
# MAGIC ## Movement between the two snapshots
# MAGIC Rows: temperature on the earlier date (`(new)`: not yet a customer); columns: on the later date.

# COMMAND ----------

movements = segment_movements(segments, from_date, to_date, "temperature")
display(explore.movement_matrix(movements, TEMPERATURES))
display(movements.where("from_segment IS NULL OR to_segment IS NULL OR from_segment != to_segment")
        .orderBy("customers", ascending=False))

# COMMAND ----------

# MAGIC %md
# MAGIC ## What each temperature's customers look like

# COMMAND ----------

customer_360 = lake.read_or_none(tables.CUSTOMER_360)
if customer_360 is None:
    print(f"{tables.CUSTOMER_360} is missing: run `rcu gold`")
else:
    display(explore.segment_profile(segments, customer_360, to_date, "temperature"))
    display(explore.segment_profile(segments, customer_360, to_date, "rfm_segment"))
