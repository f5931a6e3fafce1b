# lakeloader — run `make` (or `make help`) for the list of targets.
SHELL := /bin/bash
.DEFAULT_GOAL := help

PYTHON     ?= python3
VENV       := .venv
BIN        := $(VENV)/bin
CACHE      ?= $(HOME)/.cache/lakeloader
STAMP      := $(VENV)/.installed
CONFIG     ?= conf/local.yaml
ENV        ?= dev
TABLE      ?= events
DEMO_DIR   := .lakeloader/demo
DEMO_ROWS  ?= 200000
PYTEST_ARGS ?=

export PIP_CACHE_DIR := $(CACHE)/pip
export PIP_DISABLE_PIP_VERSION_CHECK := 1

.PHONY: help install demo test test-fast lint clean

help: ## list the targets
	@grep -hE '^[a-zA-Z_-]+:.*?## ' $(MAKEFILE_LIST) | \
	  awk 'BEGIN {FS = ":.*?## "}; {printf "  make %-12s %s\n", $$1, $$2}'

$(STAMP): setup.py constraints.txt
	@test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/pip install --quiet -c constraints.txt -e '.[test]'
	@touch $@

install: $(STAMP) ## build .venv/ with lakeloader (editable) and its pinned deps; seconds on a rerun

demo: install ## run the whole pipeline locally on generated sample data (no AWS account needed)
	@rm -rf $(DEMO_DIR) .lakeloader/warehouse .lakeloader/catalog.sqlite
	$(BIN)/lakeloader sample --out $(DEMO_DIR)/input --rows $(DEMO_ROWS)
	$(BIN)/lakeloader run --config $(CONFIG) --table events --input $(DEMO_DIR)/input
	$(BIN)/lakeloader validate --config $(CONFIG) --table events
	$(BIN)/lakeloader query --config $(CONFIG) \
	  "SELECT dt, count(*) AS events, count(DISTINCT user_id) AS users FROM demo.events GROUP BY dt ORDER BY dt"

test: install ## run every test (unit, Spark, end-to-end); pytest's "no tests ran" (exit 5) fails too
	$(BIN)/pytest $(PYTEST_ARGS)

test-fast: install ## only the tests that need neither Spark nor a server (seconds)
	$(BIN)/pytest -m "not spark and not aws and not e2e and not slow" $(PYTEST_ARGS)

lint: install ## ruff over the code and tests
	$(BIN)/ruff check lib jobs tests bench setup.py

clean: ## remove the venv, build outputs and local demo state
	rm -rf $(VENV) dist build .lakeloader lib/*.egg-info .pytest_cache .ruff_cache
