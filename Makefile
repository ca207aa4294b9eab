# Two commands for a newcomer: `make run` and `make test`. Both install through `make install`.
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed
BENCH_STAMP := $(VENV)/.bench-installed
HOST ?= 127.0.0.1
PORT ?= 8000

.PHONY: install run test lint bench load clean

$(BIN)/python:
	$(PYTHON) -m venv $(VENV)

# Reinstalls only when the dependencies change. The official Node client, for its end-to-end
# test, comes along where npm exists; that test says so if it is missing.
$(STAMP): pyproject.toml tests/node/package-lock.json | $(BIN)/python
	$(BIN)/python -m pip install --quiet --upgrade pip
	$(BIN)/python -m pip install --quiet --editable '.[dev]'
	if command -v npm >/dev/null; then npm ci --prefix tests/node --no-audit --no-fund; fi
	touch $@

install: $(STAMP)

run: install
	$(BIN)/vary serve --host $(HOST) --port $(PORT)

lint: install
	$(BIN)/ruff check src tests scripts benchmarks
	$(BIN)/ruff format --check src tests scripts benchmarks
	$(BIN)/mypy

test: lint
	$(BIN)/pytest

# Performance, as ratios against baselines timed in the same run: benchmarks/results/latest.md.
$(BENCH_STAMP): pyproject.toml | $(STAMP)
	$(BIN)/python -m pip install --quiet --editable '.[dev,bench]'
	touch $@

bench: $(BENCH_STAMP)
	$(BIN)/python -m benchmarks

# A burst well above capacity against a real server: benchmarks/results/load.md.
load: install
	$(BIN)/python -m benchmarks.load

clean:
	rm -rf $(VENV) .pytest_cache .mypy_cache .ruff_cache
