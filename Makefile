# The README's commands. Everything installs into .venv from the pinned constraints file.
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
export DAGSTER_HOME := $(CURDIR)/.costlake/dagster
# The demo's folders, named to the command: costlake itself never reads or writes the working
# folder (without them it uses its home, see docs/operations.md).
DEMO_DATA := $(CURDIR)/demo-data
DEMO_LAKE := $(CURDIR)/lake

.PHONY: demo test test-quick ui lint bench validator-env bqemulator-env postgres-server chromium report-screenshot

$(BIN)/python:
	$(PYTHON) -m venv $(VENV)
	$(BIN)/pip install -q --upgrade pip

$(VENV)/.runtime: $(BIN)/python pyproject.toml requirements/constraints.txt
	$(BIN)/pip install -q -c requirements/constraints.txt -e .
	touch $@

$(VENV)/.test: $(VENV)/.runtime
	$(BIN)/pip install -q -c requirements/constraints.txt -e '.[test]'
	# dagster-postgres has no 0.29.28 on the index: 0.29.27 (it names core 1.13.27) works with
	# core 1.13.28, so it goes in without its pins (see requirements/constraints.txt).
	$(BIN)/pip install -q -c requirements/constraints.txt psycopg2-binary
	$(BIN)/pip install -q -c requirements/constraints.txt --no-deps dagster-postgres
	touch $@

$(DAGSTER_HOME)/dagster.yaml: dagster.yaml
	mkdir -p $(DAGSTER_HOME)
	cp dagster.yaml $@

## demo: install, generate the demo bills and run the whole nightly pipeline into ./lake
demo: $(VENV)/.runtime $(DAGSTER_HOME)/dagster.yaml
	$(BIN)/costlake demo --data $(DEMO_DATA) --lake $(DEMO_LAKE)

## test: install test dependencies (and the FOCUS validator's and bqemulator's own venvs) and run every test
test: $(VENV)/.test validator-env bqemulator-env chromium node_modules/.package-lock.json postgres-server
	$(BIN)/python -m pytest

## test-quick: the unit tests alone (pure logic on small frames, no FOCUS validator runs), under a minute, before each commit
test-quick: $(VENV)/.test
	$(BIN)/python -m pytest tests/unit -q -m 'not validator'

# Azurite, the Azure Blob stand-in the tests start on loopback (pinned in package-lock.json).
node_modules/.package-lock.json: package.json package-lock.json
	npm ci --no-audit --no-fund

# Debian's PostgreSQL server, which tests/services starts in a temporary folder on loopback.
SUDO := $(shell [ "$$(id -u)" = 0 ] || echo sudo)
postgres-server:
	@command -v pg_ctl >/dev/null || ls /usr/lib/postgresql/*/bin/pg_ctl >/dev/null 2>&1 \
		|| ($(SUDO) apt-get update && $(SUDO) apt-get install -y postgresql)

# Debian's Chromium, which the report tests drive headless through Playwright (never a
# browser download of Playwright's own).
chromium:
	@command -v chromium >/dev/null || ($(SUDO) apt-get update && $(SUDO) apt-get install -y chromium)

## report-screenshot: render the demo's report and screenshot it into docs/ (the README's picture)
report-screenshot: $(VENV)/.test chromium
	$(BIN)/python scripts/report_screenshot.py

validator-env:
	bash scripts/setup_validator_env.sh

# bqemulator, the BigQuery stand-in, in its own venv: it pins DuckDB 1.5.5, the project uses 2.x.
bqemulator-env:
	bash scripts/setup_bqemulator_env.sh

## ui: the Dagster UI on http://127.0.0.1:3000 (lineage, runs, checks), on $COSTLAKE_CONFIG or the demo's settings
ui: $(VENV)/.runtime $(DAGSTER_HOME)/dagster.yaml
	COSTLAKE_CONFIG="$${COSTLAKE_CONFIG:-$(wildcard $(DEMO_DATA)/costlake.yaml)}" \
		$(BIN)/dagster dev -h 127.0.0.1 -p 3000

lint: $(VENV)/.test
	$(BIN)/ruff format --check . && $(BIN)/ruff check .

## bench: every provider's export form and format at 1M and 5M rows, costlake against a bare polars convert
bench: $(VENV)/.runtime
	$(BIN)/python bench/bench_ingest.py --rows 1000000 5000000
