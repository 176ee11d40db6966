# The README's commands. Everything installs into .venv from pyproject.toml; nothing by hand.
PYTHON ?= python3
VENV   ?= .venv
BIN    := $(VENV)/bin
STAMP  := $(VENV)/.installed-stamp
# dbt and dagster are called by name (dagster-dbt's preparer, dbt subprocesses): the venv's come first.
export PATH := $(CURDIR)/$(BIN):$(PATH)

MANIFEST := dbt_project/target/manifest.json
DBT_SOURCES := $(shell find dbt_project/models dbt_project/macros dbt_project/seeds dbt_project/tests -type f 2>/dev/null) dbt_project/dbt_project.yml

.PHONY: install demo dev test test-fast bench lint clean

$(STAMP): pyproject.toml
	@$(PYTHON) -c 'import sys; sys.exit(0 if sys.version_info >= (3, 11) else "Python 3.11+ is required (set PYTHON=python3.11)")'
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip
	$(BIN)/python -m pip install --quiet -e '.[dev]'
	touch $(STAMP)

# @dbt_assets read the manifest when the code location loads: parse the dbt project after any model change.
$(MANIFEST): $(STAMP) $(DBT_SOURCES)
	$(BIN)/dagster-dbt project prepare-and-package --file hitcraft_assets/defs/dbt/project.py
	touch $(MANIFEST)

install: $(STAMP) $(MANIFEST)

demo: install            ## backfill the last 60 days of the sample Mixpanel, then keep the Dagster UI on :3000
	$(BIN)/hitcraft demo

dev: install             ## only the Dagster UI (and daemon) on the existing data
	$(BIN)/hitcraft dev

test: install            ## the whole suite against a real embedded PostgreSQL
	$(BIN)/python -m pytest -n 2 --dist loadfile --durations=15

test-fast: install       ## without the slow end-to-end tests
	$(BIN)/python -m pytest -n 2 --dist loadfile -m "not slow"

bench: install           ## benchmarks; results in benchmarks/results.json (quoted in the README)
	$(BIN)/python -m benchmarks.run

lint: install
	$(BIN)/ruff check hitcraft_assets tests benchmarks
	$(BIN)/ruff format --check hitcraft_assets tests benchmarks

clean:
	rm -rf $(VENV) .hitcraft .pytest_cache
