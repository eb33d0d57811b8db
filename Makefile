# Two commands for a fresh machine: `make demo` and `make test`.
PY ?= python3
VENV ?= .venv
BIN := $(VENV)/bin

.PHONY: demo test lint install clean

$(BIN)/vqmri: pyproject.toml
	$(PY) -m venv $(VENV)
	# CPU wheel from local disk here; on a GPU machine install a CUDA torch into .venv first (see README).
	$(BIN)/python -c "import torch" 2>/dev/null || $(BIN)/pip install -q torch==2.13.0
	$(BIN)/pip install -q -e '.[dev]'
	touch $(BIN)/vqmri

install: $(BIN)/vqmri

demo: install
	$(BIN)/vqmri demo --out runs/demo

test: install
	$(BIN)/python -m pytest tests -n 2  # two workers, one core and one OpenMP thread each (tests/conftest.py)

lint: install
	$(BIN)/ruff check src tests benchmarks tools

clean:
	rm -rf runs .pytest_cache
