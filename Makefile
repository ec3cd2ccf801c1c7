# Two commands a newcomer needs (README): `make run` and `make test`.
# Everything else here is the set-up they share.
PY ?= python3
VENV := .venv
BIN := $(VENV)/bin

.PHONY: run test setup setup-test browser check-contract eval lint-intents bench clean

run: setup
	$(BIN)/python run.py

test: setup-test browser
	$(BIN)/python -m pytest -q

setup: $(VENV)/.installed node_modules/.installed

setup-test: setup $(VENV)/.installed-test

$(VENV)/.installed: pyproject.toml requirements.lock
	test -x $(BIN)/python || $(PY) -m venv $(VENV)
	$(BIN)/pip install -q --upgrade pip
	$(BIN)/pip install -q -r requirements.lock
	$(BIN)/pip install -q --no-deps -e .
	touch $@

$(VENV)/.installed-test: $(VENV)/.installed
	$(BIN)/pip install -q --no-deps -e '.[test]'
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
