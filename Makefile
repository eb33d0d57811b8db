# Two commands for a fresh machine: `make demo` and `make test`.
PY ?= python3
VENV ?= .venv
BIN := $(VENV)/bin

.PHONY: demo test lint install clean lock

# torch's build is chosen here and nowhere else: the CPU build by default (from PyTorch's CPU index, or a local CPU
# wheel where pip's find-links has one); for a CUDA build: make install TORCH_INDEX=https://download.pytorch.org/whl/cu126
TORCH_VERSION := 2.13.0
TORCH_INDEX ?= https://download.pytorch.org/whl/cpu

# every other package at the exact version CI tests: requirements.lock, made by pip-tools (`make lock`), a plain
# requirements file that pip installs with its own settings (local wheels, caps) and no other tool on the machine
$(BIN)/vqmri: pyproject.toml requirements.lock
	$(PY) -m venv $(VENV)
	$(BIN)/pip install -q "torch==$(TORCH_VERSION)" --extra-index-url $(TORCH_INDEX)
	$(BIN)/pip install -q -r requirements.lock
	$(BIN)/pip install -q --no-deps -e .
	touch $(BIN)/vqmri

# after a change to pyproject.toml's dependencies: resolve them again (against the CPU torch) into requirements.lock
lock: $(BIN)/vqmri
	$(BIN)/pip install -q pip-tools
	$(BIN)/pip-compile --quiet --extra dev --unsafe-package torch --strip-extras --no-emit-find-links \
	  --no-emit-index-url -o requirements.lock pyproject.toml torch-cpu.in

install: $(BIN)/vqmri

demo: install
	$(BIN)/vqmri demo --out runs/demo

test: install
	$(BIN)/python -m pytest tests -n 2  # two workers, one core and one OpenMP thread each (tests/conftest.py)

lint: install
	$(BIN)/ruff check src tests benchmarks tools

clean:
	rm -rf runs .pytest_cache
