# One place for the commands the README documents.
PYTHON ?= python3.11
VENV   := .venv
BIN    := $(VENV)/bin
JARS   := .jars
PERSONS ?= 10000
SIZES   ?= 10000,100000

.PHONY: setup jars browser test test-slow test-fast demo bench bench-generate bench-stream clean

## setup: create .venv, install the pinned packages, fetch the jars from Maven Central (Delta Lake, Spark's Kafka
## connector, the Kafka broker) into .jars/
setup: $(BIN)/rcu jars browser

SUDO := $(if $(filter 0,$(shell id -u)),,sudo)
## browser: Debian's Chromium for the dashboard test (Playwright drives it; no browser is downloaded)
browser:
	@command -v chromium >/dev/null || ($(SUDO) apt-get update -qq && DEBIAN_FRONTEND=noninteractive $(SUDO) apt-get install -y -qq chromium)

$(BIN)/rcu: pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(BIN)/pip install --quiet --upgrade pip
	$(BIN)/pip install --quiet -e '.[dev]'
	touch $@

## jars: Delta Lake's jars (and the few they need that pyspark does not ship); Spark's own jars are not copied.
## Spark's Kafka connector into .jars/spark-kafka/ (put on Spark's class path, less what pyspark ships) and the
## Kafka broker into .jars/kafka/ (run in its own JVM by `rcu kafka start`). Each folder is fetched once; a
## changed pom fetches its folder again (the connector's and the broker's are emptied first: no stale version).
jars: $(JARS)/.done $(JARS)/spark-kafka/.done $(JARS)/kafka/.done
$(JARS)/.done: scripts/pom.xml
	mvn --batch-mode --quiet -f scripts/pom.xml dependency:copy-dependencies \
	    -DoutputDirectory=$(abspath $(JARS)) \
	    -DincludeGroupIds=io.delta,io.unitycatalog,com.fasterxml.jackson.datatype
	touch $@

# where pyspark's jars are, read once the venv exists; an artifact id is a jar's name before its version, the last
# -<digits>.<digits>: spark-core_2.13-4.2.0.jar -> spark-core_2.13, log4j-1.2-api-2.25.4.jar -> log4j-1.2-api
PYSPARK_JARS = $(shell $(BIN)/python -c 'import os, pyspark; print(os.path.join(os.path.dirname(pyspark.__file__), "jars"))' 2>/dev/null)
$(JARS)/spark-kafka/.done: scripts/spark-kafka-pom.xml
	@test -d "$(PYSPARK_JARS)" || { echo "no pyspark in $(VENV): run make setup (the connector leaves out the jars pyspark ships)"; exit 1; }
	rm -rf $(JARS)/spark-kafka
	mvn --batch-mode --quiet -f scripts/spark-kafka-pom.xml dependency:copy-dependencies \
	    -DoutputDirectory=$(abspath $(JARS))/spark-kafka \
	    -DexcludeArtifactIds=$$(ls "$(PYSPARK_JARS)" | sed -E -n 's/^(.*)-[0-9]+(\.[0-9]+)+.*\.jar$$/\1/p' | sort -u | paste -sd, -)
	touch $@

$(JARS)/kafka/.done: scripts/kafka-pom.xml
	rm -rf $(JARS)/kafka
	mvn --batch-mode --quiet -f scripts/kafka-pom.xml dependency:copy-dependencies \
	    -DoutputDirectory=$(abspath $(JARS))/kafka
	touch $@

## test: the whole suite, end-to-end runs included (what CI runs); two workers, each file on one of them
test:
	$(BIN)/pytest -q -m "not slow" -n 2 --dist loadfile

## test-slow: the kill-and-re-run scenarios, the standalone cluster, training on Spark, erasure end to end, the stream's micro-batches (minutes each)
test-slow:
	$(BIN)/pytest -q -m slow

## test-fast: everything but the end-to-end and cluster tests
test-fast:
	$(BIN)/pytest -q -m "not e2e and not cluster"

## demo: generate $(PERSONS) persons and run every step into ./lakehouse
demo:
	$(BIN)/rcu run-all --persons $(PERSONS)

## bench: every pipeline stage at $(SIZES) persons (wall time, peak memory, compared pairs, F1) against Splink's documented set-ups
bench:
	$(BIN)/python benchmarks/bench_pipeline.py --sizes $(SIZES)

## bench-daily: a base of $(PERSONS) persons, then 3 days of the default daily delta, each a run-all; a run with no new file; a --full rebuild
bench-daily:
	$(BIN)/python benchmarks/bench_daily.py --persons $(PERSONS) --days 3

## bench-stream: the stream at RATE messages/s for MINUTES (a broker started on 127.0.0.1, a base of STREAM_PERSONS built by
## run-all, the generator's events replayed): latency publish -> trigger row, lag over time, a check of the firings
RATE ?= 500
MINUTES ?= 10
STREAM_PERSONS ?= 20000
bench-stream:
	$(BIN)/python benchmarks/bench_stream.py --persons $(STREAM_PERSONS) --rate $(RATE) --minutes $(MINUTES)

## bench-generate: time and peak memory of generating 1M persons' raw files
bench-generate:
	$(BIN)/python benchmarks/bench_generate.py --persons 1000000

clean:
	rm -rf lakehouse data mlruns mlflow.db spark-warehouse
