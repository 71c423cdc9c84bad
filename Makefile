# Pilot Monitor — the README's two commands are `make demo` and `make test`.
# Both work on a machine with only Python 3 and make: they create .venv and install into it.

PYTHON ?= python3
VENV   := .venv
BIN    := $(VENV)/bin
STAMP  := $(VENV)/.installed-stamp
# `make demo` keeps its database and photos inside the checkout (ignored by git).
DEMO_DATA_DIR ?= $(CURDIR)/var

.PHONY: install demo test lint bench field migration clean

$(STAMP): pyproject.toml
	@test -x $(BIN)/python || $(PYTHON) -m venv $(VENV) || { \
	  echo "could not create a virtual environment: install python3-venv" >&2; exit 1; }
	$(BIN)/python -m pip install --quiet --upgrade pip
	$(BIN)/python -m pip install --quiet -e '.[test,field,bench]'
	@touch $(STAMP)

install: $(STAMP)

demo: install
	PILOTMON_DATA_DIR=$(DEMO_DATA_DIR) $(BIN)/pilotmon init-db
	PILOTMON_DATA_DIR=$(DEMO_DATA_DIR) $(BIN)/pilotmon demo --size small
	@echo "Pilot Monitor is starting on http://127.0.0.1:8000 (Ctrl-C stops it)"
	PILOTMON_DATA_DIR=$(DEMO_DATA_DIR) $(BIN)/pilotmon serve --host 127.0.0.1 --port 8000

test: install
	$(BIN)/ruff check .
	$(BIN)/mypy .
	$(BIN)/pytest

lint: install
	$(BIN)/ruff check .
	$(BIN)/ruff format --check . || true
	$(BIN)/mypy .
	$(BIN)/python tools/audit_dependencies.py

bench: install
	@for b in bench/*_bench.py; do echo "== $$b"; $(BIN)/python $$b || exit 1; done

field: install
	$(BIN)/pilotmon field

# Developers: regenerate the schema migration after changing models (see README).
migration: install
	$(BIN)/python tools/regen_migration.py

clean:
	rm -rf $(VENV) var artifacts .pytest_cache .mypy_cache .ruff_cache
