# taskapi — developer commands. `make run` and `make test` work on a fresh machine.
PYTHON ?= python3
VENV ?= .venv
BIN := $(VENV)/bin
export FLASK_APP := taskapi

.PHONY: install run test lint typecheck check openapi stack load clean

$(BIN)/.installed: requirements.txt requirements-dev.txt
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --disable-pip-version-check -r requirements-dev.txt
	touch $@

install: $(BIN)/.installed  ## create .venv and install the pinned dependencies

run: install  ## migrate the database (embedded SQLite unless DATABASE_URL is set) and serve on :8000
	$(BIN)/flask db upgrade
	$(BIN)/flask serve

test: install  ## the whole suite, on SQLite and PostgreSQL
	$(BIN)/pytest $(PYTEST_ARGS)

lint: install
	$(BIN)/ruff check .
	$(BIN)/ruff format --check taskapi tests bench

typecheck: install
	$(BIN)/mypy taskapi

check: lint typecheck test  ## everything CI runs

openapi: install  ## write the OpenAPI document to openapi.json
	$(BIN)/flask openapi write --format=json openapi.json

stack: install  ## the docker-compose topology on loopback: migration, two replicas, nginx on :8080
	deploy/local-stack.sh up

load: install  ## load test with wrk (spawns flask serve on PostgreSQL); LOAD_ARGS="--workers 1,2"
	$(BIN)/python bench/load/run.py $(LOAD_ARGS)

clean:
	rm -rf $(VENV) .pytest_cache .mypy_cache .ruff_cache
