# Every developer action. `make build` and `make test` set up .venv themselves on a fresh machine.
PYTHON ?= python3.11
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed-stamp

.PHONY: build test lint bench setup check mutate

setup: $(STAMP)

$(BIN)/python:
	$(PYTHON) -m venv $(VENV)

CFF := $(VENV)/cffconvert/bin/cffconvert

# torch/torchvision are pinned in pyproject.toml: pip takes them from this machine's disk.
# cffconvert gets a venv of its own: it needs jsonschema<4, check-jsonschema needs >=4.
$(STAMP): pyproject.toml | $(BIN)/python
	$(BIN)/python -m pip install --quiet --disable-pip-version-check -e '.[compute,publish,dev]'
	$(BIN)/python -m venv $(VENV)/cffconvert
	$(VENV)/cffconvert/bin/python -m pip install --quiet --disable-pip-version-check 'cffconvert==2.0.0'
	touch $(STAMP)

## Validate every entry, re-estimate compute, rebuild tables, charts, exports, schemas and docs.
build: $(STAMP)
	$(BIN)/aieff validate
	$(BIN)/aieff estimate --all --record exports/verification.json
	$(BIN)/aieff build

## The whole test suite.
test: $(STAMP)
	$(BIN)/python -m pytest

## Check that committed generated files are up to date.
check: $(STAMP)
	$(BIN)/aieff build --check

lint: $(STAMP)
	$(BIN)/ruff check tools tests benchmarks
	$(BIN)/ruff format --check tools tests benchmarks

bench: $(STAMP)
	$(BIN)/python benchmarks/validate_scale.py
	$(BIN)/python benchmarks/build_scale.py
	$(BIN)/python benchmarks/estimate.py
	$(BIN)/python benchmarks/hostile.py

## Apply each documented mutant (tests/mutants.py) to the code, run the tests meant to catch it, restore; print the score.
mutate: $(STAMP)
	$(BIN)/python tests/mutants.py
