# Alamara Retours — the two commands a newcomer needs: `make run` and `make test`.
SHELL := /bin/bash
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
CACHE ?= $(HOME)/.local/share/alamara-retours/cache.sqlite
DEMO_SALES ?= 20000
DEMO_RETURNS ?= 300

.PHONY: run test wheel-smoke venv test-venv i18n demo bench lint screenshots clean system-deps

## make run: install, compile translations, build the demo cache when missing or incomplete, open the till.
run: $(BIN)/.installed i18n
	@# builds the demo cache when it is missing or incomplete (an interrupted build), else says it is ready
	$(BIN)/pos-returns demo --ensure --sales $(DEMO_SALES) --returns $(DEMO_RETURNS) --seed 1 --db "$(CACHE)"
	$(BIN)/pos-returns run --db "$(CACHE)"

## make test: the same install with the test extras, the whole suite headless, then the
## wheel: built, installed in a fresh virtual environment outside the checkout, smoke-tested.
test: system-deps $(BIN)/.installed-test i18n
	QT_QPA_PLATFORM=offscreen $(BIN)/python -m pytest -q
	PYTHON=$(PYTHON) bash tools/wheel_smoke.sh

wheel-smoke: $(BIN)/.installed-test
	PYTHON=$(PYTHON) bash tools/wheel_smoke.sh

system-deps:
	@bash tools/system-deps.sh

$(BIN)/.installed: pyproject.toml setup.py
	@test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install -q --upgrade pip
	$(BIN)/python -m pip install -q -e .
	@touch $@

$(BIN)/.installed-test: pyproject.toml setup.py
	@test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install -q --upgrade pip
	$(BIN)/python -m pip install -q -e ".[test]"
	@touch $@ $(BIN)/.installed

## Compile the .po catalogues into .mo files (committed: .po; built: .mo).
i18n: $(BIN)/.installed
	@$(BIN)/python tools/i18n.py compile

## Re-extract the messages into locales/pos_returns.pot and merge them into the .po files.
extract: $(BIN)/.installed
	@$(BIN)/python tools/i18n.py extract

demo: $(BIN)/.installed i18n
	$(BIN)/pos-returns demo --sales $(DEMO_SALES) --returns $(DEMO_RETURNS) --seed 1 --db "$(CACHE)"

bench: $(BIN)/.installed-test
	QT_QPA_PLATFORM=offscreen bash bench/run_all.sh

lint: $(BIN)/.installed-test
	$(BIN)/ruff check .

screenshots: $(BIN)/.installed i18n
	QT_QPA_PLATFORM=offscreen $(BIN)/pos-returns screenshots --out docs/screenshots

clean:
	rm -rf $(VENV) build *.egg-info locales/*/LC_MESSAGES/*.mo
