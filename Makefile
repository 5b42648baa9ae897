# Two commands: `make run` (install, seed the sandbox if empty, serve API + worker on :8000) and `make test`.
PYTHON ?= python3
VENV ?= .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed
HOST ?= 127.0.0.1
PORT ?= 8000

.PHONY: install run test test-unit test-integration lint evals bench clean

$(STAMP): pyproject.toml
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/pip install --quiet --upgrade pip
	# torch first from the CPU build; a bare `torch` requirement would pull a multi-GB CUDA build.
	$(BIN)/pip install --quiet "torch==2.13.0"
	$(BIN)/pip install --quiet -e '.[dev]'
	touch $(STAMP)

install: $(STAMP)

run: install
	$(BIN)/loyalty-agent seed
	$(BIN)/loyalty-agent serve --host $(HOST) --port $(PORT)

test: install
	$(BIN)/pytest -q tests

test-unit: install
	$(BIN)/pytest -q tests/unit

test-integration: install
	$(BIN)/pytest -q tests/integration

lint: install
	$(BIN)/ruff check .
	$(BIN)/mypy .

evals: install
	$(BIN)/python -m evals

bench: install
	$(BIN)/python -m benchmarks.webhook_ack
	$(BIN)/python -m benchmarks.decision
	$(BIN)/python -m benchmarks.ask
	$(BIN)/python -m benchmarks.guardrails
	$(BIN)/python -m benchmarks.vectors
	$(BIN)/python -m benchmarks.cdnow
	# PostgreSQL parts run where BENCH_DATABASE_URL or TEST_DATABASE_URL reaches a server (else they say skipped).
	$(BIN)/python -m benchmarks.decision --postgres --model-events 0
	$(BIN)/python -m benchmarks.load
	$(BIN)/python -m benchmarks.faults

clean:
	rm -rf $(VENV) data .mypy_cache .ruff_cache .pytest_cache
