# icefb: the two commands a new user needs are `make demo` and `make test`.
PYTHON ?= python3.11
VENV   := .venv
BIN    := $(VENV)/bin
STAMP  := $(VENV)/.icefb-installed
EXTRAS := ml,spark,horovod,bench,dev
PYTEST_ARGS ?=

.PHONY: all venv demo test test-slow test-all horovod bench lint clean

all: test

$(STAMP): pyproject.toml
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip setuptools wheel
	$(BIN)/python -m pip install --quiet -e ".[$(EXTRAS)]"
	touch $(STAMP)

venv: $(STAMP)

## Horovod 0.28.1 patched for torch 2.13 (C++17), built once and cached.
horovod: $(STAMP)
	bash .ci/build_horovod.sh $(BIN)/python

demo: $(STAMP)
	$(BIN)/icefb demo --out demo-output

test: $(STAMP) horovod
	$(BIN)/python -m pytest -m "not slow" -p no:cacheprovider $(PYTEST_ARGS) tests icefb

test-slow: $(STAMP) horovod
	$(BIN)/python -m pytest -m slow -p no:cacheprovider $(PYTEST_ARGS) tests

test-all: $(STAMP) horovod
	$(BIN)/python -m pytest -p no:cacheprovider $(PYTEST_ARGS) tests icefb

bench: $(STAMP)
	cd benchmarks && ../$(BIN)/asv run --quick --python=same --show-stderr

lint: $(STAMP)
	$(BIN)/ruff check icefb tests benchmarks

clean:
	rm -rf $(VENV) demo-output .asv
