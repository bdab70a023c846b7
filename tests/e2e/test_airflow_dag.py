"""The Airflow DAGs under real Apache Airflow 3 (its own virtualenv, `make airflow-venv`).

A DagBag loads infra/airflow/dags with AIRFLOW_HOME in a tmp folder (sqlite, no examples), once per
backend (the Variable ``lakesieve_backend`` given as AIRFLOW_VAR_LAKESIEVE_BACKEND, Airflow's own
environment secrets backend), and prints what it built as JSON. The expected DAGs, tasks and edges
below are the design's (DESIGN.md / issue 8), written out by hand, not read from the registry.
"""
from __future__ import annotations

import json
import os
import subprocess
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[2]
AIRFLOW_PY = REPO / ".venv-airflow" / "bin" / "python"

EXPECTED_UPSTREAM = {
    "lakesieve_weekly": {"containment": set()},
    "lakesieve_daily": {"minhash": set(), "embed": {"minhash"}, "cluster": {"embed"}, "tldr": {"cluster"},
                        "semdedup": {"cluster"}, "ct-reduce": set()},
    "lakesieve_on_demand": {"paser-score": set(), "paser": {"paser-score"}},
}
EXPECTED_SCHEDULE = {"lakesieve_weekly": "@weekly", "lakesieve_daily": "@daily", "lakesieve_on_demand": None}
MODULES = {"containment": "containment", "minhash": "minhash", "embed": "embed", "cluster": "cluster", "tldr": "tldr",
           "semdedup": "semdedup", "ct-reduce": "ct_reduce", "paser-score": "paser_score", "paser": "paser"}

INSPECT = r'''
import json, os, sys
from airflow.dag_processing.dagbag import DagBag

out = {}
for backend in sys.argv[1:]:
    os.environ["AIRFLOW_VAR_LAKESIEVE_BACKEND"] = backend
    bag = DagBag(dag_folder=os.environ["DAGS"])
    dags = {}
    for dag in bag.dags.values():
        tasks = {}
        for t in dag.tasks:
            info = {"type": type(t).__name__, "upstream": sorted(t.upstream_task_ids),
                    "downstream": sorted(t.downstream_task_ids)}
            for attr in ("application", "py_files", "conf", "application_args", "packages", "jars", "json"):
                if hasattr(t, attr):
                    info[attr] = getattr(t, attr)
            if hasattr(t, "tasks"):
                info["tasks"] = t.tasks
            tasks[t.task_id] = info
        dags[dag.dag_id] = {"schedule": dag.schedule, "tags": sorted(dag.tags), "tasks": tasks}
    out[backend] = {"errors": {k: str(v)[-600:] for k, v in bag.import_errors.items()}, "dags": dags}
print("DAGBAG_JSON " + json.dumps(out, default=str))
'''


@pytest.fixture(scope="module")
def dagbags(tmp_path_factory):
    assert AIRFLOW_PY.exists(), "the Airflow virtualenv is missing: run `make airflow-venv` (make test does)"
    home = tmp_path_factory.mktemp("airflow_home")
    env = {k: v for k, v in os.environ.items() if not k.startswith("AIRFLOW")}
    env.update(AIRFLOW_HOME=str(home), AIRFLOW__CORE__LOAD_EXAMPLES="False",
               AIRFLOW__DATABASE__SQL_ALCHEMY_CONN=f"sqlite:///{home}/airflow.db",
               AIRFLOW__CORE__UNIT_TEST_MODE="True", PYTHONPATH=str(REPO),
               AIRFLOW_VAR_LAKESIEVE_LAKEHOUSE="/lake/house", DAGS=str(REPO / "infra/airflow/dags"))
    proc = subprocess.run([str(AIRFLOW_PY), "-c", INSPECT, "spark", "databricks", "sqlite"], env=env,
                          capture_output=True, text=True, timeout=300, cwd=home)
    assert proc.returncode == 0, proc.stderr[-4000:]
    line = next(ln for ln in proc.stdout.splitlines() if ln.startswith("DAGBAG_JSON "))
    return json.loads(line[len("DAGBAG_JSON "):])


@pytest.mark.parametrize("backend", ["spark", "databricks"])
def test_dags_tasks_and_edges_are_the_registry_graph(dagbags, backend):
    bag = dagbags[backend]
    assert bag["errors"] == {}
    assert set(bag["dags"]) == set(EXPECTED_UPSTREAM)
    for dag_id, upstream in EXPECTED_UPSTREAM.items():
        dag = bag["dags"][dag_id]
        assert dag["schedule"] == EXPECTED_SCHEDULE[dag_id]
        assert dag["tags"] == sorted(["lakesieve", backend])
        assert set(dag["tasks"]) == set(upstream)
        for task_id, ups in upstream.items():
            downs = {t for t, u in upstream.items() if task_id in u}
            assert set(dag["tasks"][task_id]["upstream"]) == ups, (dag_id, task_id)
            assert set(dag["tasks"][task_id]["downstream"]) == downs, (dag_id, task_id)


def test_spark_backend_submits_each_job_with_the_zip_and_delta(dagbags):
    tasks = {t: info for dag in dagbags["spark"]["dags"].values() for t, info in dag["tasks"].items()}
    assert set(tasks) == set(MODULES)
    for stage, info in tasks.items():
        assert info["type"] == "SparkSubmitOperator"
        assert info["application"] == f"{REPO}/jobs/{MODULES[stage]}.py"
        assert info["py_files"] == f"{REPO}/dist/lakesieve.zip"
        assert info["packages"] == "io.delta:delta-spark_4.1_2.13:4.4.0" and info["jars"] is None
        assert info["conf"]["spark.sql.extensions"] == "io.delta.sql.DeltaSparkSessionExtension"
        assert info["conf"]["spark.sql.catalog.spark_catalog"] == "org.apache.spark.sql.delta.catalog.DeltaCatalog"
        assert info["application_args"] == ["--config", f"{REPO}/jobs/configs/{MODULES[stage]}.yaml",
                                            "--lakehouse", "/lake/house"]


def test_databricks_backend_runs_the_wheel_entry_point(dagbags):
    """The job cluster reads its configs from the workspace volume the bundle uses (the bundle's own
    default, read from databricks.yml), never from a path on the Airflow host."""
    import yaml

    bundle = yaml.safe_load((REPO / "infra/databricks/databricks.yml").read_text())
    config_dir = bundle["variables"]["config_dir"]["default"]
    assert config_dir.startswith("/Volumes/") and not config_dir.startswith(str(REPO))
    tasks = {t: info for dag in dagbags["databricks"]["dags"].values() for t, info in dag["tasks"].items()}
    assert set(tasks) == set(MODULES)
    for stage, info in tasks.items():
        assert info["type"] == "DatabricksSubmitRunOperator"
        (task,) = info["tasks"]
        assert task["task_key"] == stage
        assert task["python_wheel_task"] == {
            "package_name": "lakesieve", "entry_point": "lakesieve",
            "parameters": ["run", stage, "--config", f"{config_dir}/{MODULES[stage]}.yaml",
                           "--lakehouse", "/lake/house"]}
        assert task["libraries"][0]["whl"].endswith(".whl")
        assert "existing_cluster_id" not in task
        assert task["new_cluster"]["data_security_mode"] == bundle["variables"]["data_security_mode"]["default"]


def test_unknown_backend_is_an_import_error_naming_the_variable(dagbags):
    bag = dagbags["sqlite"]
    assert bag["dags"] == {}
    (error,) = bag["errors"].values()
    assert "lakesieve_backend" in error and "'sqlite'" in error
