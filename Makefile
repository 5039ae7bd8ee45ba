# Two commands: `make serve` and `make test`. Everything else is set up by them.
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed
PORT ?= 8000
MODEL ?= demo
HOST ?=
PYTEST_ARGS ?=
CHROMIUM := /usr/bin/chromium

# The reference stack of the fidelity tests (tests/fidelity): transformers 4.57 + qwen-vl-utils, apart.
REF_VENV := .venv-ref
REF_STAMP := $(REF_VENV)/.installed
REF_REQUIREMENTS := tests/fidelity/requirements-ref.txt

.PHONY: install serve test lint browser reference goldens clean

$(BIN)/python:
	$(PYTHON) -m venv $(VENV)
	$(BIN)/pip install --quiet --upgrade pip

$(STAMP): pyproject.toml | $(BIN)/python
	$(BIN)/pip install --quiet -e '.[test,ray]'
	touch $(STAMP)

install: $(STAMP)

serve: $(STAMP)
	$(BIN)/cosmos-reason serve --model $(MODEL) --port $(PORT) $(if $(HOST),--host $(HOST))

test: lint browser reference
	$(BIN)/python -m pytest $(PYTEST_ARGS)

$(REF_STAMP): $(REF_REQUIREMENTS)
	$(PYTHON) -m venv $(REF_VENV)
	$(REF_VENV)/bin/pip install --quiet --upgrade pip
	$(REF_VENV)/bin/pip install --quiet -r $(REF_REQUIREMENTS)
	touch $(REF_STAMP)

# A second virtualenv with the Reason2 repo's own preprocessing stack (tests/fidelity/requirements-ref.txt).
reference: $(REF_STAMP)

# Rewrite tests/fidelity/golden/ with the reference (after changing the cases or the reference's pins).
goldens: $(STAMP) $(REF_STAMP)
	$(BIN)/cosmos-reason make-demo-model build/demo-reason2 --family reason2
	rm -rf tests/fidelity/golden/reason2
	$(REF_VENV)/bin/python tests/fidelity/reference_reason2.py --checkpoint build/demo-reason2 --out tests/fidelity/golden/reason2

# ruff (lint, import order, format) and mypy on the packages pyproject.toml's [tool.mypy] lists.
lint: $(STAMP)
	$(BIN)/ruff check src tests benchmarks
	$(BIN)/ruff format --check src tests benchmarks
	$(BIN)/mypy

# The playground's end-to-end test drives Debian's chromium (never `playwright install`).
# Installed when missing and running as root; otherwise that test fails and says why.
browser:
	@test -x $(CHROMIUM) || { \
	  if [ "$$(id -u)" = 0 ]; then apt-get update -qq && apt-get install -y -qq chromium; \
	  else echo "warning: $(CHROMIUM) is missing and this is not root: install Debian's chromium (the playground test will fail)"; fi; }

clean:
	rm -rf $(VENV) $(REF_VENV) build *.egg-info
