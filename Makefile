# lakeloader — run `make` (or `make help`) for the list of targets.
SHELL := /bin/bash
.DEFAULT_GOAL := help

PYTHON     ?= python3
# The oldest Python the pins of constraints.txt install on; setup.py's python_requires says the same.
PYTHON_MIN := 3.11
# Checked when the venv is (re)built, in make's own one-line error: the venv's interpreter, else $(PYTHON).
PY_FOR_VENV = $(if $(wildcard $(BIN)/python),$(BIN)/python,$(PYTHON))
PY_VERSION = $(shell $(PY_FOR_VENV) -c 'import platform; print(platform.python_version())' 2>/dev/null)
PY_OK = $(shell $(PY_FOR_VENV) -c 'import sys; print(int(sys.version_info >= tuple(map(int, "$(PYTHON_MIN)".split(".")))))' 2>/dev/null)
VENV       := .venv
BIN        := $(VENV)/bin
CACHE      ?= $(HOME)/.cache/lakeloader
STAMP      := $(VENV)/.installed
CONFIG     ?= conf/local.yaml
ENV        ?= dev
TABLE      ?= events
DEMO_DIR   := .lakeloader/demo
DEMO_ROWS  ?= 200000
BENCH_ROWS ?= 5000000
BENCH_SCALING ?= 1,2,5,10
BENCH_PARTITIONS ?= 60,600,3000,6000
BENCH_PARTITION_ROWS ?= 2000000
BENCH_INPUT_FILES ?= 1000,10000,50000,200000
BENCH_PAST_RUNS ?= 1,100,1000,5000
BENCH_OUTPUT_FILES ?= 1000,5000,20000
BENCH_WRANGLER_VENV ?= $(CACHE)/bench-venv-awswrangler
PYTEST_ARGS ?=

# The pinned JVM jars of jvm/pom.xml (s3a, the S3A committers, Delta), resolved by Maven into the cache
# (Maven's repository layout); lib/lakeloader/jvm.py finds them there. Maven's own plugins go there too.
JARS_DIR   := $(CACHE)/jars
MVN        ?= mvn
# Maven 3.8 with -q still writes two colour-reset codes to stdout and stderr, so both are dropped; on a
# failure the one-line error gives the command that shows Maven's own output.
MVN_FLAGS  := -q -B -Dstyle.color=never -f jvm/pom.xml -Dmaven.repo.local=$(JARS_DIR)
JVM_PROFILES := spark hdfs

export PIP_CACHE_DIR := $(CACHE)/pip
export PIP_DISABLE_PIP_VERSION_CHECK := 1
export LAKELOADER_JARS_DIR := $(JARS_DIR)

# deploy-step: CLUSTER_ID=j-... submits to that cluster; without it a cluster is created from the emr: section.
CLUSTER_ID ?=
DRY_RUN    ?=
WAIT       ?= 1
RUN_DATE   ?=

.PHONY: help install demo demo-hdfs hdfs test test-fast lint bench deploy-step clean

help: ## list the targets
	@grep -hE '^[a-zA-Z_-]+:.*?## ' $(MAKEFILE_LIST) | \
	  awk 'BEGIN {FS = ":.*?## "}; {printf "  make %-12s %s\n", $$1, $$2}'

$(STAMP): setup.py constraints.txt
	$(if $(filter 1,$(PY_OK)),,$(error make install: $(PY_FOR_VENV) is Python $(or $(PY_VERSION),(not found)); lakeloader needs $(PYTHON_MIN)+: make clean; make install PYTHON=python$(PYTHON_MIN)))
	@test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/pip install --quiet -c constraints.txt -e '.[test]'
	@touch $@

# lakeloader's one JVM class (jvm/src: Hadoop's local file system through java.nio, not a `chmod` or `ls -ld`
# process per call), compiled against pyspark's own Hadoop client. Optional: without a JDK's javac, Spark
# uses Hadoop's class (the same results, slower local staging for s3a writes).
LOCALFS_SRC := $(wildcard jvm/src/io/lakeloader/hadoop/*.java)
LOCALFS_JAR := build/jvm/lakeloader-localfs.jar

$(LOCALFS_JAR): $(LOCALFS_SRC) | $(STAMP)
	@if ! command -v javac >/dev/null || ! command -v jar >/dev/null; then \
	  echo "make install: no javac/jar (a JDK) on the PATH: $@ left out; Spark keeps Hadoop's slower local file system"; \
	  exit 0; fi; \
	rm -rf build/jvm/classes && mkdir -p build/jvm/classes && \
	jars="$$($(BIN)/python -c 'import os, pyspark; print(os.path.join(os.path.dirname(pyspark.__file__), "jars"))')" && \
	javac -source 8 -target 8 -Xlint:-options -nowarn -cp "$$jars/*" -d build/jvm/classes $(LOCALFS_SRC) && \
	jar cf $@ -C build/jvm/classes . && echo "built $@"

install: $(STAMP) $(LOCALFS_JAR) ## build .venv/ (lakeloader editable, pinned deps) and fetch the pinned jars; seconds on a rerun
	@for p in $(JVM_PROFILES); do \
	  $(BIN)/python -m lakeloader.jvm check $$p 2>/dev/null && continue; \
	  command -v $(MVN) >/dev/null || { echo "make install: Maven (mvn) is needed once to fetch the jars of jvm/pom.xml (apt-get install maven, brew install maven)" >&2; exit 2; }; \
	  echo "fetching the '$$p' jars of jvm/pom.xml into $(JARS_DIR)"; \
	  $(MVN) $(MVN_FLAGS) -P $$p dependency:resolve >/dev/null 2>&1 || { echo "make install: mvn could not resolve jvm/pom.xml (-P $$p); run: $(MVN) -B -f jvm/pom.xml -P $$p -Dmaven.repo.local=$(JARS_DIR) dependency:resolve" >&2; exit 2; }; \
	  $(BIN)/python -m lakeloader.jvm check $$p; \
	done

demo: install ## run the whole pipeline locally on generated sample data (no AWS account needed)
	@rm -rf $(DEMO_DIR) .lakeloader/warehouse .lakeloader/catalog.sqlite
	$(BIN)/lakeloader sample --out $(DEMO_DIR)/input --rows $(DEMO_ROWS)
	$(BIN)/lakeloader run --config $(CONFIG) --table events --input $(DEMO_DIR)/input
	$(BIN)/lakeloader validate --config $(CONFIG) --table events
	$(BIN)/lakeloader query --config $(CONFIG) \
	  "SELECT dt, count(*) AS events, count(DISTINCT user_id) AS users FROM demo.events GROUP BY dt ORDER BY dt"
	$(BIN)/lakeloader export --config $(CONFIG) --table events --to $(DEMO_DIR)/training --overwrite \
	  --label amount --split train=0.8,validation=0.1,test=0.1 --split-by user_id

demo-hdfs: install ## `make demo` with its input on a local HDFS (started for the run, stopped after)
	@rm -rf $(DEMO_DIR) .lakeloader/warehouse .lakeloader/catalog.sqlite
	$(BIN)/lakeloader sample --out $(DEMO_DIR)/input --rows $(DEMO_ROWS)
	$(BIN)/python -m lakeloader.hdfs_local --put $(DEMO_DIR)/input:/landing/events -- \
	  $(BIN)/lakeloader run --config $(CONFIG) --table events --input {hdfs}/landing/events
	$(BIN)/lakeloader validate --config $(CONFIG) --table events
	$(BIN)/lakeloader query --config $(CONFIG) \
	  "SELECT dt, count(*) AS events, count(DISTINCT user_id) AS users FROM demo.events GROUP BY dt ORDER BY dt"

hdfs: install ## start a local single-node HDFS (own JVM, loopback), print its hdfs:// URI; Ctrl-C stops it
	$(BIN)/python -m lakeloader.hdfs_local

test: install ## run every test (unit, Spark, AWS on moto, end-to-end); "no tests ran" (exit 5) fails too
	$(BIN)/pytest $(PYTEST_ARGS)

test-fast: install ## only the tests that need neither Spark nor a server (seconds)
	$(BIN)/pytest -m "not spark and not aws and not e2e and not slow" $(PYTEST_ARGS)

bench: install ## benchmarks (write: plain vs repartition vs DuckDB vs awswrangler vs lakeloader; scaling by rows and by partitions; Glue registration; driver time vs input files, past runs, output files); appends to bench/RESULTS.md, draws bench/results.png
	$(BIN)/pip install --quiet -c constraints.txt -e '.[test,bench]'
	$(BIN)/python bench/write_bench.py --rows $(BENCH_ROWS) --awswrangler-venv $(BENCH_WRANGLER_VENV)
	$(BIN)/python bench/write_bench.py --scaling $(BENCH_SCALING)
	$(BIN)/python bench/write_bench.py --partition-scaling $(BENCH_PARTITIONS) --partition-rows $(BENCH_PARTITION_ROWS)
	$(BIN)/python bench/glue_register.py --partitions 10000 --latency-ms 100
	$(BIN)/python bench/glue_register.py --partitions 100000 --latency-ms 100 --no-baseline
	$(BIN)/python bench/scale_bench.py --input-files $(BENCH_INPUT_FILES) --past-runs $(BENCH_PAST_RUNS) \
	  --output-files $(BENCH_OUTPUT_FILES)

deploy-step: install ## build, upload and run TABLE on EMR (ENV=dev|prod [CLUSTER_ID=j-...] [DRY_RUN=1] [WAIT=0] [RUN_DATE=YYYY-MM-DD])
	$(BIN)/lakeloader deploy-step --config conf/$(ENV).yaml --table $(TABLE) \
	  $(if $(CLUSTER_ID),--cluster-id $(CLUSTER_ID),--create-cluster) \
	  $(if $(filter 1,$(DRY_RUN)),--dry-run,$(if $(filter 1,$(WAIT)),--wait)) \
	  $(if $(RUN_DATE),--run-date $(RUN_DATE))

lint: install ## ruff over the code and tests (checks and formatting)
	$(BIN)/ruff check lib jobs tests bench setup.py
	$(BIN)/ruff format --check lib jobs tests bench setup.py

clean: ## remove the venv, build outputs and local demo state
	rm -rf $(VENV) dist build .lakeloader lib/*.egg-info .pytest_cache .ruff_cache
