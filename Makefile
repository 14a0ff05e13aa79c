# Streamdesk: `make run` starts everything on embedded servers; `make test` runs the suite.
PYTHON ?= $(shell command -v python3.11 || command -v python3)
VENV   := .venv
PY     := $(VENV)/bin/python
STAMP  := $(VENV)/.installed

.PHONY: run test test-kafka fuzz check lint typecheck format bench clean

$(PY):
	@command -v $(PYTHON) >/dev/null 2>&1 || { echo "Python 3.11 is needed ($(PYTHON) not found); set PYTHON=..."; exit 1; }
	$(PYTHON) -m venv $(VENV)

$(STAMP): $(PY) requirements.txt requirements-dev.txt
	$(PY) -m pip install --quiet --upgrade pip
	$(PY) -m pip install --quiet -r requirements-dev.txt
	@touch $(STAMP)

run: $(STAMP)
	$(PY) -m dev.devrun $(if $(KAFKA),--kafka $(KAFKA))

test: $(STAMP) lint typecheck
	$(PY) -m pytest -n auto --dist loadgroup $(PYTEST_ARGS)

# The Kafka tests again, on Apache Kafka (fetched with Maven on first use); they skip,
# saying why, where Java or Maven is missing.
test-kafka: $(STAMP)
	STREAMDESK_TEST_KAFKA=apache $(PY) -m pytest -n auto --dist loadgroup -m kafka $(PYTEST_ARGS)

check: $(STAMP) lint typecheck


# The API fuzzed against its OpenAPI description with a larger budget than make test's
# (FUZZ_EXAMPLES generated calls per operation); prints the statuses each operation met.
FUZZ_EXAMPLES ?= 200
fuzz: $(STAMP)
	STREAMDESK_FUZZ_EXAMPLES=$(FUZZ_EXAMPLES) $(PY) -m pytest -n 0 -s --timeout 0 tests/web/test_openapi.py $(PYTEST_ARGS)

lint: $(STAMP)
	$(VENV)/bin/ruff check .
	$(VENV)/bin/ruff format --check .
	$(VENV)/bin/lint-imports

format: $(STAMP)
	$(VENV)/bin/ruff format .
	$(VENV)/bin/ruff check --fix .

bench: $(STAMP)
	$(PY) -m bench

clean:
	rm -rf $(VENV) var .pytest_cache .mypy_cache .ruff_cache

typecheck: $(STAMP)
	$(VENV)/bin/mypy console streams dev tests
