# Every developer action. `make build` and `make test` set up .venv themselves on a fresh machine.
PYTHON ?= python3.11
VENV := .venv
BIN := $(VENV)/bin
BUILD_STAMP := $(VENV)/.build-stamp
TEST_STAMP := $(VENV)/.test-stamp
# The compute stack's pins, read from pyproject.toml (one place for them).
TORCH_PINS := $(shell grep -oE '"torch(vision)?==[0-9.]+"' pyproject.toml | tr -d '"')
CPU_INDEX := https://download.pytorch.org/whl/cpu

.PHONY: build test typecheck lint bench setup check mutate time-facts

setup: $(TEST_STAMP)

$(BIN)/python:
	$(PYTHON) -m venv $(VENV)

# What a build needs: the compute and publish extras. Where PyTorch's CPU wheel index answers (a machine
# with internet), torch and torchvision come from it first, CPU-only (PyPI's torch pulls GBs of CUDA);
# elsewhere pip takes the pins from whatever index this machine has (here: a local wheelhouse).
$(BUILD_STAMP): pyproject.toml | $(BIN)/python
	@if $(BIN)/python -c "import urllib.request; urllib.request.urlopen('$(CPU_INDEX)/torch/', timeout=10)" 2>/dev/null; then \
		echo "installing CPU-only $(TORCH_PINS) from $(CPU_INDEX)"; \
		$(BIN)/python -m pip install --quiet --disable-pip-version-check --extra-index-url $(CPU_INDEX) $(TORCH_PINS); \
	fi
	$(BIN)/python -m pip install --quiet --disable-pip-version-check -e '.[compute,publish]'
	touch $@

# What the tests add: the dev extra, and cffconvert in a venv of its own beside this one (it needs
# jsonschema<4, check-jsonschema needs >=4).
$(TEST_STAMP): $(BUILD_STAMP)
	$(BIN)/python -m pip install --quiet --disable-pip-version-check -e '.[compute,publish,dev]'
	$(BIN)/python -m venv $(VENV)/cffconvert
	$(VENV)/cffconvert/bin/python -m pip install --quiet --disable-pip-version-check 'cffconvert==2.0.0'
	touch $@

## Validate every entry, re-estimate compute, rebuild tables, charts, exports, schemas and docs.
build: $(BUILD_STAMP)
	$(BIN)/aieff validate
	$(BIN)/aieff estimate --all --jobs 0 --record exports/verification.json
	$(BIN)/aieff build

## Read every timed entry's time to the level and accelerators from its logs and sources into its
## time_to_level block (MIRRORS: the folder of repository snapshots, owner+repo/repo); `make time-facts
## CHECK=--check` writes nothing and fails when a block differs from what the records say.
MIRRORS ?= /work/.mirror
time-facts: $(BUILD_STAMP)
	$(BIN)/python -m aieff.verify.timefacts --mirrors $(MIRRORS) $(CHECK)

## The type check, then the whole test suite.
test: $(TEST_STAMP) typecheck
	$(BIN)/python -m pytest

## Type-check the package with mypy (the dev extra pins it; settings: [tool.mypy] in pyproject.toml).
typecheck: $(TEST_STAMP)
	$(BIN)/mypy

## Check that committed generated files are up to date.
check: $(BUILD_STAMP)
	$(BIN)/aieff build --check

lint: $(TEST_STAMP)
	$(BIN)/ruff check tools tests benchmarks
	$(BIN)/ruff format --check tools tests benchmarks

bench: $(TEST_STAMP)
	$(BIN)/python benchmarks/validate_scale.py
	$(BIN)/python benchmarks/build_scale.py
	$(BIN)/python benchmarks/estimate.py
	$(BIN)/python benchmarks/hostile.py
	$(BIN)/python benchmarks/scale.py

## Apply each documented mutant (tests/mutants.py) to the code, run the tests meant to catch it, restore; print the score.
mutate: $(TEST_STAMP)
	$(BIN)/python tests/mutants.py
