# The two commands a newcomer needs: `make run` and `make test`.
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
INSTALLED := $(VENV)/.installed
SHIPPED := .venv-shipped

.PHONY: run test lint install bench bench-publish clean bench-digest bench-letter

$(INSTALLED): pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(BIN)/pip install --quiet --upgrade pip
	$(BIN)/pip install --quiet -e '.[dev]'
	touch $@

install: $(INSTALLED)

## run: migrate ./data/tribe.db and start the web app, worker and beat on the embedded default (Ctrl-C stops)
run: install
	$(BIN)/tribe db upgrade
	$(BIN)/tribe run

## lint: ruff, ruff format --check, mypy (strict on tribe/, workers/, config/; tests/ and
## bench/ checked non-strictly, see [tool.mypy] in pyproject.toml), the import contracts
lint: install
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .
	$(BIN)/mypy
	$(BIN)/lint-imports

## test: lint, type checks, then the suite on SQLite + embedded broker and, when they
## answer, on PostgreSQL + Redis, both at once (each line says which; the last say how each ended)
test: lint
	$(BIN)/python -m tests.both --durations=10

## bench: the polling benchmark (tribe vs reader vs a feedparser loop); tribe's processes
## run from $(SHIPPED), the install the Dockerfile makes (`pip install .`, no dev extras)
bench: install
	$(BIN)/pip install --quiet -e '.[dev,bench]'
	test -x $(SHIPPED)/bin/python || $(PYTHON) -m venv $(SHIPPED)
	$(SHIPPED)/bin/pip install --quiet .
	$(BIN)/python bench/poll.py --python $(SHIPPED)/bin/python

## bench-publish: 10,000 deliveries through worker + beat against the fake networks
bench-publish: install
	$(BIN)/python bench/publish.py
	@if $(BIN)/python -m tests.services; then $(BIN)/python bench/publish.py --backend postgres; fi

## bench-digest: 10,000 members' digests composed, queued and sent to an in-process SMTP server
bench-digest: install
	$(BIN)/python bench/digest.py --runs 3
	@if $(BIN)/python -m tests.services; then $(BIN)/python bench/digest.py --runs 3 --backend postgres; fi

## bench-letter: one edition of a tribe's letter to 10,000 readers, queued and sent to an in-process SMTP server
bench-letter: install
	$(BIN)/python bench/letter.py --runs 3
	@if $(BIN)/python -m tests.services; then $(BIN)/python bench/letter.py --runs 3 --backend postgres; fi

clean:
	rm -rf $(VENV) $(SHIPPED) .mypy_cache .ruff_cache .pytest_cache
