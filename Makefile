# slaflow: `make demo` on a fresh machine, `make test` for the whole suite.
PY ?= python3
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed

.PHONY: demo test lint install migrate cluster bench docs clean

$(STAMP): pyproject.toml
	test -x $(BIN)/python || $(PY) -m venv $(VENV)
	$(BIN)/pip install -q --disable-pip-version-check -e ".[dev]"
	touch $(STAMP)

install: $(STAMP)

migrate: install
	$(BIN)/python manage.py migrate --noinput -v 0

# Runs a few library workflows on a local cluster it starts and stops itself.
demo: migrate
	PY=$(BIN)/python scripts/system-deps redis
	$(BIN)/slaflow demo $(DEMO_ARGS)

# The browser tests need Debian's chromium, the sandbox tests Debian's bubblewrap, the manifest tests kubectl,
# the simulated hosts' tests iproute2, util-linux and socat:
# found, or installed with apt where that is possible.
test: lint
	PY=$(BIN)/python scripts/system-deps redis
	scripts/system-deps chromium
	scripts/system-deps bubblewrap
	scripts/system-deps kubectl
	scripts/system-deps hosts
	$(BIN)/python -m pytest $(PYTEST_ARGS)

# Lint (ruff: the source packages and tests) and types (mypy: the core layers); [tool.ruff] and [tool.mypy] in
# pyproject.toml say what. A finding fails the target, and so `make test` and CI before the suite starts.
LINTED := slaflow orchestrator store workers localcluster reports webui experiments tests
lint: install
	$(BIN)/ruff check $(LINTED)
	$(BIN)/ruff format --check $(LINTED)
	$(BIN)/mypy

# Workers for every resource configuration, plus the web UI and Flower, until Ctrl-C.
cluster: migrate
	PY=$(BIN)/python scripts/system-deps redis
	$(BIN)/slaflow cluster --web --flower

# slaflow beside Dask on identical graphs (see README "Benchmarks"); BENCH_ARGS="--repeat 5 --breakdown".
bench: migrate
	PY=$(BIN)/python scripts/system-deps redis
	$(BIN)/slaflow bench runtime $(BENCH_ARGS)

# The documentation site (docs/, mkdocs.yml) into var/site, warnings as errors (the test suite builds it too).
docs: install
	NO_MKDOCS_2_WARNING=1 $(BIN)/mkdocs build --strict

clean:
	rm -rf var test-artifacts .pytest_cache .mypy_cache .ruff_cache
