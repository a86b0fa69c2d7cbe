# Two entry points: `make demo` and `make test`. Each builds .venv on first use.
# For maintainers: `make lint`, `make docs`, `make docs-check`, `make bench` (CONTRIBUTING.md).
PYTHON ?= python3
VENV ?= .venv
CONSTRAINTS ?= constraints.txt
BIN := $(VENV)/bin
HASH := $(shell cat pyproject.toml $(CONSTRAINTS) | cksum | cut -d' ' -f1)
STAMP := $(VENV)/.installed-$(HASH)
PYTEST_ARGS ?=

.PHONY: demo test bench venv lint docs docs-check clean

$(STAMP):
	$(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install -q --upgrade pip
	$(BIN)/python -m pip install -q -c $(CONSTRAINTS) torch
	$(BIN)/python -m pip install -q -c $(CONSTRAINTS) -e ".[test,zoo,plot,text]"
	rm -f $(VENV)/.installed-* $(VENV)/.extra-*
	touch $(STAMP)

# one stamp per extra, renewed when pyproject.toml or the constraints change
$(VENV)/.extra-%-$(HASH): $(STAMP)
	$(BIN)/python -m pip install -q -c $(CONSTRAINTS) -e ".[$*]"
	touch $@

venv: $(STAMP)

demo: $(STAMP)
	$(BIN)/idgrad demo $(DEMO_ARGS)

test: $(STAMP)
	$(BIN)/python -m pytest $(PYTEST_ARGS)

lint: $(VENV)/.extra-lint-$(HASH)
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .
	$(BIN)/mypy idgrad benchmarks

# the API reference and tutorials, built offline into site/ (strict: broken links fail)
# (NO_MKDOCS_2_WARNING: the theme's end-of-life banner; CONTRIBUTING.md records the plan)
docs: $(VENV)/.extra-docs-$(HASH)
	NO_MKDOCS_2_WARNING=1 $(BIN)/mkdocs build --strict

# every page of site/ and the demo's report.html in headless chromium; screenshots in
# build/docs-check/
docs-check: docs
	$(BIN)/python scripts/docs_check.py $(DOCS_CHECK_ARGS)

bench: $(VENV)/.extra-bench-$(HASH)
	$(BIN)/python -m benchmarks.run $(BENCH_ARGS)

clean:
	rm -rf $(VENV) build site *.egg-info
