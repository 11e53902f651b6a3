# Single entry point. `make test` works on a fresh machine: it creates the virtual
# environment when needed, installs the project with its test extras and runs everything.
PYTHON ?= python3
VENV ?= .venv
PY := $(VENV)/bin/python
PD22_VENV ?= .venv-pandas22
ARTIFACTS ?= artifacts

.PHONY: help venv test test-core test-pandas22 lint demo browser-test lab bench clean

help:
	@echo "make demo           run the whole job against the local emulator (no credentials)"
	@echo "make test           create .venv if needed, install, run the whole test suite"
	@echo "make test-pandas22  run the core tests again under pandas 2.2"
	@echo "make browser-test   JupyterLab in headless Chromium (installs chromium with apt-get)"
	@echo "make lab            JupyterLab on the notebooks (jupyter lab notebooks/)"
	@echo "make lint           ruff, mypy, the import layers and the structure rules, notebooks"
	@echo "make bench          benchmarks, written to benchmarks/results.md"

# Three installs, each on top of the one before: what `make demo` needs (the package
# alone), what `make test` needs (its test extras), everything (lint, browser, benchmarks).
CORE := $(VENV)/.installed-core
TESTS := $(VENV)/.installed-test
DEV := $(VENV)/.installed

$(CORE): pyproject.toml
	test -x $(PY) || $(PYTHON) -m venv $(VENV)
	$(PY) -m pip install --quiet --upgrade pip
	$(PY) -m pip install --quiet -e .
	touch $@

$(TESTS): $(CORE)
	$(PY) -m pip install --quiet -e '.[test]'
	touch $@

$(DEV): $(TESTS)
	$(PY) -m pip install --quiet -e '.[dev]'
	touch $@

venv: $(DEV)

test: $(TESTS)
	$(PY) -m pytest -m "not browser" $(PYTEST_ARGS)

lint: $(DEV)
	$(PY) -m ruff check moecohort tests benchmarks scripts
	$(PY) -m ruff format --check moecohort tests benchmarks scripts
	$(PY) -m mypy
	$(VENV)/bin/lint-imports
	$(PY) scripts/check_structure.py
	$(PY) scripts/check_notebooks.py
	cd benchmarks && for f in bench_*.py; do ../$(PY) -c "import $${f%.py}" || exit 1; done  # make bench can start

# The core (no notebooks, no widgets, no Spark: that venv installs .[test] only) under the
# pandas 2.2 line, which many notebooks still use.
$(PD22_VENV)/.installed: pyproject.toml
	test -x $(PD22_VENV)/bin/python || $(PYTHON) -m venv $(PD22_VENV)
	$(PD22_VENV)/bin/python -m pip install --quiet --upgrade pip
	$(PD22_VENV)/bin/python -m pip install --quiet -e '.[test]' 'pandas>=2.2,<2.3'
	touch $@

test-pandas22: $(PD22_VENV)/.installed
	$(PD22_VENV)/bin/python -c "import pandas; assert pandas.__version__.startswith('2.2'), pandas.__version__"
	$(PD22_VENV)/bin/python -m pytest -m "not browser and not notebook and not spark" $(PYTEST_ARGS)

demo: $(CORE)
	$(VENV)/bin/moecohort demo

browser-test: $(TESTS)
	bash scripts/install-chromium.sh
	mkdir -p $(ARTIFACTS)
	ARTIFACTS="$(abspath $(ARTIFACTS))" $(PY) -m pytest -m browser tests/browser $(PYTEST_ARGS)

lab: $(DEV)
	$(VENV)/bin/jupyter lab notebooks/

bench: $(DEV)
	$(PY) benchmarks/run_all.py

clean:
	rm -rf $(VENV) $(PD22_VENV) .pytest_cache .ruff_cache .hypothesis $(ARTIFACTS)
