# The commands a user and CI need; each one installs what it uses.
PYTHON ?= python3
VENV   ?= .venv
BIN    := $(VENV)/bin
STAMP  := $(VENV)/.installed
export ETL_STATE_DIR ?= $(CURDIR)/.etl

.PHONY: schema install test lint demo record test-live medusa-up medusa-stop medusa-env dummyjson bench bench-medusa clean

$(STAMP): pyproject.toml
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/pip install -q --upgrade pip
	$(BIN)/pip install -q -e '.[test]'
	touch $(STAMP)

install: $(STAMP)

lint: $(STAMP)
	$(BIN)/ruff check etl tests scripts

## the test suite: hermetic, replays recorded cassettes, no network beyond 127.0.0.1
test: $(STAMP) lint
	$(BIN)/pytest -q

## the nightly job, end to end, on this machine: a real Medusa, the DummyJSON catalogue, two runs
demo: $(STAMP)
	bash scripts/demo.sh

## a real Medusa on 127.0.0.1 (installed on first use)
medusa-up:
	bash scripts/medusa-dev.sh up

medusa-stop:
	bash scripts/medusa-dev.sh stop

medusa-env:
	@bash scripts/medusa-dev.sh env

## serve the DummyJSON catalogue on 127.0.0.1:8000
dummyjson: $(STAMP)
	$(BIN)/python scripts/dummyjson_server.py --port 8000

## re-record every cassette from the real servers (starts Medusa if needed)
record: $(STAMP)
	bash scripts/medusa-dev.sh up >/dev/null
	RECORD=1 $(BIN)/pytest -q -p no:cacheprovider tests/sinks/medusa

## end-to-end tests against a real Medusa started by scripts/medusa-dev.sh
test-live: $(STAMP)
	bash scripts/medusa-dev.sh up >/dev/null
	$(BIN)/pytest -q -m live

## the full JSON Schema for editors (yaml-language-server), kept in pipelines/
schema: $(STAMP)
	$(BIN)/etl schema > pipelines/pipeline.schema.json

clean:
	rm -rf $(VENV) .etl .pytest_cache .ruff_cache *.egg-info

$(VENV)/.installed-bench: pyproject.toml $(STAMP)
	$(BIN)/pip install -q -e '.[bench]'
	touch $@

## throughput and memory: etl against the floor and dlt on a local synthetic catalogue; prints the table
bench: $(VENV)/.installed-bench
	$(BIN)/python -m bench.run_bench $(BENCH_ARGS)

## Medusa sync cost against a floor that posts the same payloads (needs a live Medusa: make medusa-up)
bench-medusa: $(VENV)/.installed-bench
	$(BIN)/python -m bench.medusa_bench $(BENCH_ARGS)
