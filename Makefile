# lakesieve: `make demo` runs every finished stage on the demo data; `make test` runs the tests.
# `make setup` (run by both) is idempotent: a second run does nothing slow.
PY      ?= python3
VENV    := .venv
BIN     := $(VENV)/bin
JARS    := .jars
export UV_LINK_MODE := copy

.PHONY: setup demo test test-fast bench dist clean airflow-venv chromium

setup: $(VENV)/.installed $(JARS)/.complete

$(VENV)/.installed: pyproject.toml
	test -x $(BIN)/python || $(PY) -m venv $(VENV)
	$(BIN)/python -m pip install -q --upgrade uv
	VIRTUAL_ENV=$(CURDIR)/$(VENV) $(BIN)/uv pip install -q -e ".[all,dev]"
	touch $@

$(JARS)/.complete: infra/maven/pom.xml $(VENV)/.installed
	rm -rf $(JARS)
	infra/maven/install_jars.sh $(JARS) $(BIN)/python

demo: setup
	$(BIN)/lakesieve demo

test: setup
	$(BIN)/python -m pytest -q -p no:cacheprovider

test-fast: setup
	$(BIN)/python -m pytest -q -p no:cacheprovider -m "not slow"

# `make dist`: the wheel (Databricks, pip) and dist/lakesieve.zip for `spark-submit --py-files` (docs/running.md).
dist: $(VENV)/.installed
	rm -f dist/lakesieve-*.whl dist/lakesieve.zip
	$(BIN)/python -m pip wheel -q --no-deps --no-build-isolation -w dist .
	$(BIN)/python infra/spark/build_pyfiles_zip.py dist/lakesieve.zip

clean:
	rm -rf lakehouse spark-warehouse dist build *.egg-info
