# The two commands a newcomer needs: `make demo` and `make test`. Both create the venv themselves.
PYTHON ?= python3
VENV ?= .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed

.PHONY: demo dev test lint typecheck unit clean bench chaos

$(STAMP): pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(BIN)/pip install -q --upgrade pip
	$(BIN)/pip install -q -e '.[dev]'
	touch $(STAMP)

venv: $(STAMP)

## Start the local stack and run a demo of every flow; Ctrl-C stops it.
demo: $(STAMP)
	$(BIN)/billflow dev --demo

## Start the local stack without the demo.
dev: $(STAMP)
	$(BIN)/billflow dev

lint: $(STAMP)
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .

typecheck: $(STAMP)
	$(BIN)/mypy .

## The whole suite: lint, types, unit, workflow (time-skipping), integration (dev server, PostgreSQL).
test: lint typecheck
	$(BIN)/python -m pytest

clean:
	rm -rf $(VENV) .billflow .mypy_cache .ruff_cache .pytest_cache
