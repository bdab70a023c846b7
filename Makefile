# lakesieve: `make demo` runs every finished stage on the demo data; `make test` runs the tests.
# `make setup` (run by both) is idempotent: a second run does nothing slow.
PY      ?= python3
VENV    := .venv
BIN     := $(VENV)/bin
JARS    := .jars
# uv hardlinks from its cache when both are on one filesystem (its default): the ~7 GB of torch + CUDA
# wheels then take no second copy of disk space. --compile-bytecode writes the .pyc files at install time:
# uv does not by default, and where PYTHONDONTWRITEBYTECODE is set (these machines) every process, each
# Spark Python worker included, would otherwise compile pandas, pyspark and Great Expectations from source
# (measured: importing great_expectations 20.2 s -> 5.8 s, pandas + pyspark + pyarrow + polars 4.0 -> 1.3 s).

.PHONY: setup demo lint test test-fast test-platforms test-reliability bench dist clean airflow-venv chromium spark40

setup: $(VENV)/.installed $(JARS)/.complete

$(VENV)/.installed: pyproject.toml
	test -x $(BIN)/python || $(PY) -m venv $(VENV)
	$(BIN)/python -m pip install -q --upgrade uv
	VIRTUAL_ENV=$(CURDIR)/$(VENV) $(BIN)/uv pip install -q --compile-bytecode -e ".[all,dev]"
	touch $@

$(JARS)/.complete: infra/maven/pom.xml | $(VENV)/.installed
	rm -rf $(JARS)
	infra/maven/install_jars.sh $(JARS) $(BIN)/python

demo: setup
	$(BIN)/lakesieve demo

# ruff (pyflakes, pycodestyle, bugbear, import order) and import-linter's layer contracts (pyproject.toml):
# pipelines never imports jobs, udfs never imports Spark or the stages, jobs has no import cycles.
lint: setup
	$(BIN)/ruff check .
	$(BIN)/lint-imports

# Everything after the lint, with a representative subset of the SIGKILL suite (the rest is marked
# `exhaustive`: make test-reliability); about 45 minutes on 2 cores (45.5 measured from a fresh clone on 2026-12-07, set-up included).
test: setup lint
	$(BIN)/python -m pytest -q -p no:cacheprovider -m "not exhaustive and not platforms_all"

# The SIGKILL / concurrent-run suite alone, every case: every stage killed and rerun on the full demo data,
# apply and restore killed before each of their steps (~35 min).
test-reliability: setup
	$(BIN)/python -m pytest -q -p no:cacheprovider -m kill tests/reliability

# Every stage on a local standalone cluster (a master, two workers) from a classic driver and through a
# Spark Connect server on that cluster, each compared with the local[*] run (make test runs minhash
# through Connect only); tests/e2e/test_platforms.py
test-platforms: setup
	$(BIN)/python -m pytest -q -p no:cacheprovider tests/e2e/test_platforms.py

test-fast: setup lint
	$(BIN)/python -m pytest -q -p no:cacheprovider -m "not slow and not kill and not platforms_all"

# `make dist`: the wheel (Databricks, pip) and dist/lakesieve.zip for `spark-submit --py-files` (docs/running.md).
dist: $(VENV)/.installed
	rm -f dist/lakesieve-*.whl dist/lakesieve.zip
	$(BIN)/python -m pip wheel -q --no-deps --no-build-isolation -w dist .
	$(BIN)/python infra/spark/build_pyfiles_zip.py dist/lakesieve.zip

# Apache Airflow 3 in its own virtualenv (its pins clash with the project's); tests/e2e/test_airflow_dag.py uses it.
AIRFLOW_VENV := .venv-airflow
airflow-venv: $(AIRFLOW_VENV)/.installed

$(AIRFLOW_VENV)/.installed: | $(VENV)/.installed
	test -x $(AIRFLOW_VENV)/bin/python || $(BIN)/uv venv -q $(AIRFLOW_VENV) --python 3.11
	VIRTUAL_ENV=$(CURDIR)/$(AIRFLOW_VENV) $(BIN)/uv pip install -q --compile-bytecode "apache-airflow==3.*" \
		apache-airflow-providers-apache-spark apache-airflow-providers-databricks
	touch $@

# Spark 4.0 (Databricks Runtime 17.3 LTS) beside the default 4.1: pyspark 4.0.x in .venv-spark40 (lakesieve
# installed editable from this checkout) and Delta's build for Spark 4.0 in .jars-spark40;
# tests/e2e/test_platforms.py runs stages with them (mode spark40) and compares with the 4.1 run.
SPARK40_VENV := .venv-spark40
spark40: $(SPARK40_VENV)/.installed .jars-spark40/.complete

$(SPARK40_VENV)/.installed: pyproject.toml | $(VENV)/.installed
	test -x $(SPARK40_VENV)/bin/python || $(BIN)/uv venv -q $(SPARK40_VENV) --python 3.11
	VIRTUAL_ENV=$(CURDIR)/$(SPARK40_VENV) $(BIN)/uv pip install -q --compile-bytecode -e ".[vision,imaging]" "pyspark[connect]>=4.0,<4.1"
	touch $@

.jars-spark40/.complete: infra/maven/spark40/pom.xml | $(SPARK40_VENV)/.installed
	rm -rf .jars-spark40
	infra/maven/install_jars.sh .jars-spark40 $(SPARK40_VENV)/bin/python infra/maven/spark40/pom.xml

# Headless Chromium renders the report in tests/e2e/test_report.py.
chromium:
	command -v chromium >/dev/null || (apt-get update && apt-get install -y chromium)

# The e2e tests need both; building them is idempotent.
test test-fast test-platforms: airflow-venv chromium
# make test runs minhash on Spark 4.0; make test-platforms every stage (test-fast skips both: they are slow)
test test-platforms: spark40

clean:
	rm -rf lakehouse spark-warehouse dist build *.egg-info
