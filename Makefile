# The lab's commands. `make verify` and `make test` set up .venv themselves.
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed
PROFILE ?= ci

.PHONY: verify test test-fast lint bench plots book clean clean-cache

# (Re)create the venv when it is missing or older than pyproject.toml.
$(STAMP): pyproject.toml
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip
	$(BIN)/python -m pip install --quiet -e '.[dev]'
	touch $(STAMP)

# The JSON report is what the book's verification cards show; the commit it ran on is kept beside it.
REPORT := .cache/verify.json
verify: $(STAMP)
	@mkdir -p $(dir $(REPORT))
	$(BIN)/lab verify --profile $(PROFILE) --json $(REPORT); rc=$$?; \
	git describe --always --dirty --abbrev=12 > $(REPORT).commit 2>/dev/null || rm -f $(REPORT).commit; exit $$rc

# The suite on both cores, the slowest tests named at the end; `make test-fast` leaves out the slow groups.
JOBS ?= 2
test: $(STAMP)
	HYPOTHESIS_PROFILE=$(PROFILE) $(BIN)/python -m pytest -n $(JOBS) --durations=15

test-fast: $(STAMP)
	HYPOTHESIS_PROFILE=$(PROFILE) $(BIN)/python -m pytest -n $(JOBS) -m "not slow" --durations=15

bench: $(STAMP)
	$(BIN)/python -m lab.bench

plots: $(STAMP)
	$(BIN)/python -m lab.plots plots

# The study book: KaTeX from npm at the version of lab/book/package-lock.json (`npm ci` when
# node_modules is missing or older than the lock), then `lab book`, which rebuilds only what changed.
NODE_DEPS := lab/book/node_modules/.package-lock.json
ifneq ($(filter book,$(MAKECMDGOALS)),)
ifeq ($(shell command -v node >/dev/null 2>&1 && command -v npm >/dev/null 2>&1 && echo yes),)
$(error make book needs node and npm, which apt-get install nodejs npm installs)
endif
endif

$(NODE_DEPS): lab/book/package-lock.json
	cd lab/book && npm ci --no-audit --no-fund --loglevel=error
	touch $@

book: $(STAMP) $(NODE_DEPS)
	$(BIN)/lab book

lint: $(STAMP)
	$(BIN)/ruff check lab tests
	$(BIN)/ruff format --check lab tests

clean:
	rm -rf $(VENV) .pytest_cache .ruff_cache .mypy_cache .hypothesis build *.egg-info plots book lab/book/node_modules
	find . -name __pycache__ -type d -prune -exec rm -rf {} +

# The verifier's compiled programs ($$LAB_JAX_CACHE, else ~/.cache/gradient-lab/jax); `lab cache info` shows them.
clean-cache: $(STAMP)
	$(BIN)/lab cache clear
