# The lab's commands. `make verify` and `make test` set up .venv themselves.
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed
PROFILE ?= ci

.PHONY: verify test lint bench plots clean

# (Re)create the venv when it is missing or older than pyproject.toml.
$(STAMP): pyproject.toml
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip
	$(BIN)/python -m pip install --quiet -e '.[dev]'
	touch $(STAMP)

verify: $(STAMP)
	$(BIN)/lab verify --profile $(PROFILE)

test: $(STAMP)
	HYPOTHESIS_PROFILE=$(PROFILE) $(BIN)/python -m pytest

bench: $(STAMP)
	$(BIN)/python -m lab.bench

plots: $(STAMP)
	$(BIN)/python -m lab.plots plots

lint: $(STAMP)
	$(BIN)/ruff check lab tests
	$(BIN)/ruff format --check lab tests

clean:
	rm -rf $(VENV) .pytest_cache .ruff_cache .mypy_cache .hypothesis build *.egg-info plots
	find . -name __pycache__ -type d -prune -exec rm -rf {} +
