# The two commands of the README: `make run` (the demo stack) and `make test` (everything).
VENV ?= .venv
PYTHON ?= python3
BIN := $(VENV)/bin

.PHONY: run test bench clean

$(BIN)/elasticjobs: pyproject.toml examples/pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip
	$(BIN)/python -m pip install --quiet -e '.[dev]'
	# The demo is a repository example, installed beside the library, never inside it.
	$(BIN)/python -m pip install --quiet --no-deps -e examples
	touch $@

run: $(BIN)/elasticjobs
	$(BIN)/elasticjobs dev development.ini

test: $(BIN)/elasticjobs
	$(BIN)/python -m pytest

bench: $(BIN)/elasticjobs
	$(BIN)/python -m bench

clean:
	rm -rf $(VENV) build *.egg-info .mypy_cache .pytest_cache .ruff_cache
