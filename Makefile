# Pilot Monitor — the README's two commands are `make demo` and `make test`.
# Both work on a machine with only Python 3 and make: they create .venv and install into it.

PYTHON ?= python3
VENV   := .venv
BIN    := $(VENV)/bin
STAMP  := $(VENV)/.installed-stamp
# `make demo` keeps its database and photos inside the checkout (ignored by git).
DEMO_DATA_DIR ?= $(CURDIR)/var
# The server `make field` offers on the tablet app's enrolment screen: `make demo`'s.
FIELD_SERVER ?= http://127.0.0.1:8000

# Every install comes from requirements.lock: exact versions with their hashes, so a fresh clone
# installs today what it installed on the day the lock was written. pyproject.toml keeps the
# compatible ranges; `make lock` re-solves them after an edit, `make upgrade` moves to the newest.
LOCK_EXTRAS := --extra test --extra field --extra bench --extra dev
LOCK_FLAGS  := --universal --python-version 3.11 --generate-hashes $(LOCK_EXTRAS) \
               --custom-compile-command "make lock" -o requirements.lock pyproject.toml

.PHONY: install demo test test-days screenshots lint format lock upgrade bench field migration clean

$(STAMP): requirements.lock pyproject.toml
	@test -x $(BIN)/python || $(PYTHON) -m venv $(VENV) || { \
	  echo "could not create a virtual environment: install python3-venv" >&2; exit 1; }
	$(BIN)/python -m pip install --quiet --require-hashes --no-deps -r requirements.lock
	$(BIN)/python -m pip install --quiet --no-deps -e .
	$(BIN)/python -m pip check
	@touch $(STAMP)

install: $(STAMP)

demo: install
	PILOTMON_DATA_DIR=$(DEMO_DATA_DIR) $(BIN)/pilotmon init-db
	PILOTMON_DATA_DIR=$(DEMO_DATA_DIR) $(BIN)/pilotmon demo --size small
	@echo "Pilot Monitor is starting on http://127.0.0.1:8000 (Ctrl-C stops it)"
	PILOTMON_DATA_DIR=$(DEMO_DATA_DIR) $(BIN)/pilotmon serve --host 127.0.0.1 --port 8000

# Every test, slow ones included, on every core. --dist worksteal: a worker that runs out takes
# tests queued for the other, so the long end-to-end tests do not leave one core idle at the end.
test: install
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .
	$(BIN)/mypy .
	$(BIN)/lint-imports
	$(BIN)/pytest -n auto --dist worksteal

# The suite again on a faked clock: 400 days ahead (a different day with each run) and on a leap
# day. "Green on any day" is checked before the day comes. libfaketime fakes this process's clock
# only (Debian's `faketime`; `.ci/run` installs it and runs this target): SQLite, and neither the
# slow tests nor those marked real_clock, which wait on threads' timers that never expire under it.
DAYS_PYTEST := $(BIN)/pytest -q -rfE -n auto -p no:cacheprovider -m "not slow and not real_clock"

test-days: install
	@if ! command -v faketime >/dev/null; then \
	  echo "test-days skipped: it needs libfaketime (apt-get install faketime)"; \
	else \
	  echo "== the suite 400 days ahead" && \
	  env -u PILOTMON_TEST_DATABASE_URL faketime -f +400d $(DAYS_PYTEST) && \
	  echo "== the suite on a leap day" && \
	  env -u PILOTMON_TEST_DATABASE_URL faketime "2028-02-29 09:00:00" $(DAYS_PYTEST); \
	fi

# The tablet's screens and the dashboard's pages as the UI tests leave them, saved under
# artifacts/screenshots/ for a person to look at (`make test` takes only those it asserts on).
screenshots: install
	PILOTMON_SCREENSHOTS=1 $(BIN)/pytest -q -n auto -m "kivy or browser" tests/field_app tests/server/dashboard

lint: install
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .
	$(BIN)/mypy .
	$(BIN)/lint-imports
	$(BIN)/python tools/audit_dependencies.py

format: install
	$(BIN)/ruff format .
	$(BIN)/ruff check --fix .

# uv alone, at the lock's version, so that re-locking works while the lock lags pyproject.toml.
$(BIN)/uv:
	@test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	awk '/^uv==/{p=1; print; next} p && /^ /{print; next} {p=0}' requirements.lock > $(VENV)/uv.txt
	$(BIN)/python -m pip install --quiet --require-hashes --no-deps -r $(VENV)/uv.txt

# After changing a dependency range in pyproject.toml: re-solve the lock, keeping other pins.
lock: $(BIN)/uv
	$(BIN)/uv pip compile $(LOCK_FLAGS)

# Once a month, or for a security fix: move every pin to the newest allowed release, then
# run `make test` and commit requirements.lock on its own.
upgrade: $(BIN)/uv
	$(BIN)/uv pip compile --upgrade $(LOCK_FLAGS)

bench: install
	@for b in bench/*_bench.py; do echo "== $$b"; $(BIN)/python $$b || exit 1; done

field: install
	$(BIN)/pilotmon field --server $(FIELD_SERVER)

# Developers: the next schema migration after changing models, e.g. make migration NAME="site
# altitude" (see README).
migration: install
	$(BIN)/python tools/new_migration.py "$(NAME)"

clean:
	rm -rf $(VENV) var artifacts .pytest_cache .mypy_cache .ruff_cache
