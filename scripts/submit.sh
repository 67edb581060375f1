#!/usr/bin/env bash
# Submit one pipeline job to a Spark cluster, the library shipped as a zip and Delta's jars passed along.
#
#   RCU_SPARK_MASTER=spark://127.0.0.1:7077 scripts/submit.sh ingest --lakehouse /data/lake --raw-dir /data/raw
#
# The Python packages the jobs import (pyyaml, phonenumbers, splink...) must be installed for the
# executors' Python too (PYSPARK_PYTHON, default: this project's .venv).
set -euo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
job=$1
shift
"$root/.venv/bin/python" "$root/scripts/build_zip.py" "$root/dist/rcu.zip" >/dev/null
# Delta's jars, and Spark's Kafka connector for `stream` (the connector's folder holds only what pyspark lacks)
jars=$(ls "$root"/.jars/*.jar "$root"/.jars/spark-kafka/*.jar 2>/dev/null | paste -sd, -)
splink_jar=$("$root/.venv/bin/python" -c "from splink.backends.spark import similarity_jar_location as j; print(j())")
export PYSPARK_PYTHON=${PYSPARK_PYTHON:-$root/.venv/bin/python}
exec "$root/.venv/bin/spark-submit" \
    --master "${RCU_SPARK_MASTER:-local[*]}" \
    --jars "$jars,$splink_jar" \
    --py-files "$root/dist/rcu.zip" \
    --conf spark.sql.extensions=io.delta.sql.DeltaSparkSessionExtension \
    --conf spark.sql.catalog.spark_catalog=org.apache.spark.sql.delta.catalog.DeltaCatalog \
    ${RCU_SUBMIT_ARGS:-} \
    "$root/jobs/$job.py" "$@"
