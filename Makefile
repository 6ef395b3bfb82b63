# The two commands a newcomer needs: `make run` and `make test`. Each sets up what it needs:
# uv (installed from PyPI into .tools/ when missing), then the locked environment in .venv/.

SHELL := /bin/bash
PYTHON ?= python3
UV := $(shell command -v uv 2>/dev/null || echo .tools/bin/uv)
# The PostgreSQL that `make test-db` (and CI) also runs the database tests against.
SECOND_DATABASE_URL ?= postgresql://postgres@127.0.0.1:5432/postgres
# What `make dinsos` passes to the command line.
ARGS ?= --help

.PHONY: run dinsos test test-db fuzz lint contracts bench sync

.tools/bin/uv:
	$(PYTHON) -m venv .tools
	.tools/bin/pip install --quiet --disable-pip-version-check uv==0.13.9

# Bytecode compiled at install: the command line starts in a fraction of the time when Python
# cannot write its caches (PYTHONDONTWRITEBYTECODE, read-only installs). Later syncs are quick.
sync: $(UV)
	$(UV) sync --frozen --compile-bytecode
	@# The project's own modules too: with PYTHONDONTWRITEBYTECODE set, nothing would cache
	@# them and every `dinsos` command would compile them again before it starts.
	.venv/bin/python -m compileall -q cli service schemas api

## Set up and start the service on http://127.0.0.1:8000 (embedded PostgreSQL without DATABASE_URL).
run: sync
	$(UV) run dinsos serve

## The operator's command line, e.g. `make dinsos ARGS="clients list"` (or `.venv/bin/dinsos ...`).
dinsos: $(UV)
	@$(UV) sync --frozen --compile-bytecode --quiet
	@.venv/bin/dinsos $(ARGS)

## Set up and run every check: lint, types, Dockerfile lint, migrations check, all tests.
test: sync lint
	$(UV) run pytest

## The database tests again, against a second PostgreSQL server.
test-db: sync
	TEST_DATABASE_URL=$(SECOND_DATABASE_URL) $(UV) run pytest -m db

## Schemathesis with a large budget (tests/fuzz): every phase, FUZZ_EXAMPLES cases per operation
## and phase, a new seed each run; `make test` runs the same small. `make fuzz FUZZ_EXAMPLES=1000`.
FUZZ_EXAMPLES ?= 200
fuzz: sync
	DINSOS_FUZZ_MAX_EXAMPLES=$(FUZZ_EXAMPLES) DINSOS_FUZZ_PHASES=examples,coverage,fuzzing,stateful \
	DINSOS_FUZZ_SEED=random $(UV) run pytest tests/fuzz

lint: sync
	$(UV) run ruff check .
	$(UV) run ruff format --check .
	$(UV) run mypy

## Regenerate openapi/openapi.json and openapi/schema.graphql from the code.
contracts: sync
	$(UV) run python -m api.contracts

## Side-by-side benchmarks (see bench/README.md): `make bench`, `make bench ONLY=regions,kpm`,
## `make bench ONLY=import,export FAMILIES=20000`, `make bench BENCH_ARGS="--all --rounds 3"`.
bench: sync
	$(UV) run python -m bench.run $(if $(ONLY),--only $(ONLY)) $(if $(FAMILIES),--families $(FAMILIES)) $(BENCH_ARGS)
