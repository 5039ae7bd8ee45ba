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

.PHONY: install serve test lint browser clean

$(BIN)/python:
	$(PYTHON) -m venv $(VENV)
	$(BIN)/pip install --quiet --upgrade pip

$(STAMP): pyproject.toml | $(BIN)/python
	$(BIN)/pip install --quiet -e '.[test,ray]'
	touch $(STAMP)

install: $(STAMP)

serve: $(STAMP)
	$(BIN)/cosmos-reason serve --model $(MODEL) --port $(PORT) $(if $(HOST),--host $(HOST))

test: lint browser
	$(BIN)/python -m pytest $(PYTEST_ARGS)

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
	rm -rf $(VENV) build *.egg-info
