# Quick start: `make demo` and `make test`. Both create .venv from pyproject.toml.
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin

.PHONY: demo test test-fast lint typecheck bench samples clean

$(BIN)/python:
	$(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip

$(VENV)/.installed: $(BIN)/python pyproject.toml
	$(BIN)/python -m pip install --quiet -e .
	touch $@

$(VENV)/.installed-dev: $(BIN)/python pyproject.toml
	$(BIN)/python -m pip install --quiet -e '.[dev,spark]'
	touch $@ $(VENV)/.installed

$(VENV)/.installed-bench: $(BIN)/python pyproject.toml
	$(BIN)/python -m pip install --quiet -e '.[dev,spark,bench]'
	touch $@ $(VENV)/.installed-dev $(VENV)/.installed

DEMO_LAKE := build/demo/lake
# The recorder coverage the simulator declared for the samples (data/samples/manifest.json).
HERE_COVERAGE := --coverage 2026-11-02T00:00:00Z/2026-11-05T03:38:56Z \
                 --coverage 2026-11-05T08:35:02Z/2026-11-09T00:00:00Z
EDRV_COVERAGE := --coverage 2026-11-02T00:00:00Z/2026-11-06T21:12:51Z \
                 --coverage 2026-11-06T23:41:04Z/2026-11-09T00:00:00Z

demo: $(VENV)/.installed
	rm -rf build/demo
	$(BIN)/evlog record stream data/samples/here --lake $(DEMO_LAKE) $(HERE_COVERAGE)
	$(BIN)/evlog record webhooks --from data/samples/edrv --lake $(DEMO_LAKE) $(EDRV_COVERAGE)
	$(BIN)/evlog lake info --lake $(DEMO_LAKE)
	$(BIN)/evlog report summary --lake $(DEMO_LAKE) --plot build/demo/summary.png
	$(BIN)/evlog report uptime --lake $(DEMO_LAKE) --by none
	$(BIN)/evlog report flaps --lake $(DEMO_LAKE) --by none --station 9f4b1f296311699ff1d766b1
	$(BIN)/evlog report uptime --lake $(DEMO_LAKE) --by day --format csv \
		--output build/demo/uptime-by-day.csv --plot build/demo/uptime-by-day.png

# The bundled samples (data/samples/README.md): same arguments, same bytes.
samples: $(VENV)/.installed
	$(BIN)/evlog simulate --out data/samples --stations 20 --days 7 --seed 1 --overwrite

lint: $(VENV)/.installed-dev
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .

typecheck: $(VENV)/.installed-dev
	$(BIN)/mypy

# One worker per core (pytest-xdist): tests are independent (own tmp dirs, ephemeral ports).
test: lint typecheck
	$(BIN)/python -m pytest -q -n auto --dist loadgroup

# The quick tier for the edit-run loop (tests/conftest.py says which tests are slow or Spark).
test-fast: $(VENV)/.installed-dev
	$(BIN)/ruff check .
	$(BIN)/python -m pytest -q -n auto -m "not slow and not spark"

# Replay benchmark (docs/benchmarks.md): BENCH_EVENTS=1M|10M|100M, BENCH_ARGS for more options.
BENCH_EVENTS ?= 10M
bench: $(VENV)/.installed-bench
	$(BIN)/python benchmarks/replay.py --events $(BENCH_EVENTS) $(BENCH_ARGS)

clean:
	rm -rf $(VENV) build
