# The two commands a newcomer needs: `make demo` and `make test`. Both create the venv themselves.
PYTHON ?= python3
VENV ?= .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed

.PHONY: demo dev test lint typecheck browser clean bench chaos

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

## Headless Chromium for the Temporal UI browser test (Debian's package; no browser download).
browser:
	@command -v chromium >/dev/null || { \
	  [ "$$(id -u)" = 0 ] || { echo "install Debian's chromium package (needs root)"; exit 1; }; \
	  DEBIAN_FRONTEND=noninteractive apt-get update -qq && \
	  DEBIAN_FRONTEND=noninteractive apt-get install -y -qq chromium >/dev/null; }

## The whole suite: lint, types, unit, workflow (time-skipping), integration (dev server, PostgreSQL).
test: lint typecheck browser
	$(BIN)/python -m pytest

## Every benchmark once, one table of figures (see bench/).
bench: $(STAMP)
	$(BIN)/python -m bench.all

## The long chaos run: 500 mixed flows under crashes and Stripe faults; non-zero exit on any violation.
chaos: $(STAMP)
	$(BIN)/python -m bench.chaos --flows 500 --seed 7

clean:
	rm -rf $(VENV) .billflow .mypy_cache .ruff_cache .pytest_cache
