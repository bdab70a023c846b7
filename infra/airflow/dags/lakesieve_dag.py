"""lakesieve's Airflow DAGs, built from the one stage registry (``jobs.registry.STAGES``).

One DAG per schedule in the registry: ``lakesieve_weekly`` (containment), ``lakesieve_daily``
(minhash -> embed -> cluster -> tldr / semdedup, and ct-reduce) and ``lakesieve_on_demand``
(paser-score -> paser, ``schedule=None``: trigger it by hand). Task ids are the stage names; each
task's upstream tasks are ``StageEntry.upstream`` (an upstream stage scheduled in another DAG is not
wired: that stage reads whatever its upstream last wrote). A stage added to the registry joins its
DAG with no change here.

Each task runs ``lakesieve run <stage>`` semantics: a rerun on the same input versions and config is
skipped by the run ledger, so Airflow retries and backfills are idempotent.

Backend, chosen at parse time by the Airflow Variable ``lakesieve_backend`` (default ``spark``):

- ``spark``: SparkSubmitOperator (connection ``lakesieve_spark_conn``, default ``spark_default``)
  submitting ``<lakesieve_home>/jobs/<module>.py`` with ``--py-files <lakesieve_home>/dist/lakesieve.zip``
  and the Delta jars by ``--jars`` (``lakesieve_spark_jars``) or else ``--packages``.
- ``databricks``: DatabricksSubmitRunOperator (connection ``lakesieve_databricks_conn``, default
  ``databricks_default``) with a ``python_wheel_task`` calling the ``lakesieve`` console script with
  ``run <stage> --config ... --lakehouse ...`` on the wheel ``lakesieve_databricks_wheel``, on the
  cluster ``lakesieve_databricks_cluster_id`` or else a new cluster from ``lakesieve_databricks_new_cluster``.

Other Variables (all optional): ``lakesieve_home`` (the checkout holding ``jobs/`` and ``dist/``;
default: three folders above this file), ``lakesieve_lakehouse`` and ``lakesieve_config_dir`` (defaults:
``<lakesieve_home>/lakehouse`` and ``<lakesieve_home>/jobs/configs`` for spark; for databricks the
workspace volumes the bundle uses, ``/Volumes/main/lakesieve/lakehouse`` and ``.../configs``). Any
Variable can also come from ``AIRFLOW_VAR_<NAME>``.

The DAG imports ``jobs.registry`` (pure Python, no Spark): put the lakesieve checkout, the wheel or
``dist/lakesieve.zip`` on the Airflow PYTHONPATH; when none is, ``lakesieve_home`` is added to sys.path.
"""
from __future__ import annotations

import json
import sys
from datetime import datetime, timedelta
from pathlib import Path

from airflow.sdk import DAG, Variable

DELTA_PACKAGE = "io.delta:delta-spark_4.1_2.13:4.4.0"
DELTA_CONF = {
    "spark.sql.extensions": "io.delta.sql.DeltaSparkSessionExtension",
    "spark.sql.catalog.spark_catalog": "org.apache.spark.sql.delta.catalog.DeltaCatalog",
}
# registry schedule -> (dag_id, Airflow schedule)
DAGS = {
    "weekly": ("lakesieve_weekly", "@weekly"),
    "daily": ("lakesieve_daily", "@daily"),
    "on_demand": ("lakesieve_on_demand", None),
}
BACKENDS = ("spark", "databricks")


def setting(key: str, default: str) -> str:
    """An Airflow Variable read at parse time, or ``default`` when it is unset.

    Variables come from Airflow's secrets backends in order: ``AIRFLOW_VAR_<KEY>`` first, then the
    metadata database.
    """
    return str(Variable.get(key, default=default))


LAKESIEVE_HOME = setting("lakesieve_home", str(Path(__file__).resolve().parents[3]))
try:
    from jobs import registry
except ImportError:
    sys.path.insert(0, LAKESIEVE_HOME)
    from jobs import registry

BACKEND = setting("lakesieve_backend", "spark").strip().lower()
if BACKEND not in BACKENDS:
    raise ValueError(f"Airflow Variable lakesieve_backend is '{BACKEND}'; allowed: {', '.join(BACKENDS)}")
# Where the tasks find the lakehouse and the stage configs: on the Airflow host's checkout for spark-submit;
# on the workspace for Databricks (the bundle's defaults, infra/databricks/databricks.yml: a path on the
# Airflow host means nothing to a job cluster)
WORKSPACE_LAKEHOUSE = "/Volumes/main/lakesieve/lakehouse"
WORKSPACE_CONFIG_DIR = "/Volumes/main/lakesieve/configs"
LAKEHOUSE = setting("lakesieve_lakehouse", WORKSPACE_LAKEHOUSE if BACKEND == "databricks"
                    else str(Path(LAKESIEVE_HOME) / "lakehouse"))
CONFIG_DIR = setting("lakesieve_config_dir", WORKSPACE_CONFIG_DIR if BACKEND == "databricks"
                     else str(Path(LAKESIEVE_HOME) / "jobs" / "configs"))


def stage_args(entry) -> list[str]:
    """The ``lakesieve run`` arguments every backend passes: config file and lakehouse root."""
    args = ["--lakehouse", LAKEHOUSE]
    if entry.demo_config:
        args = ["--config", f"{CONFIG_DIR}/{entry.demo_config}", *args]
    return args


def spark_task(entry, dag):
    from airflow.providers.apache.spark.operators.spark_submit import SparkSubmitOperator

    jars = setting("lakesieve_spark_jars", "")
    return SparkSubmitOperator(
        task_id=entry.name,
        dag=dag,
        conn_id=setting("lakesieve_spark_conn", "spark_default"),
        name=f"lakesieve-{entry.name}",
        application=f"{LAKESIEVE_HOME}/{entry.module.replace('.', '/')}.py",
        py_files=f"{LAKESIEVE_HOME}/dist/lakesieve.zip",
        jars=jars or None,
        packages=None if jars else DELTA_PACKAGE,
        conf=dict(DELTA_CONF),
        application_args=stage_args(entry),
        env_vars={"LAKESIEVE_PROGRESS": "false"},
    )


def databricks_task(entry, dag):
    from airflow.providers.databricks.operators.databricks import DatabricksSubmitRunOperator

    cluster_id = setting("lakesieve_databricks_cluster_id", "")
    task = {
        "task_key": entry.name,
        "python_wheel_task": {"package_name": "lakesieve", "entry_point": "lakesieve",
                              "parameters": ["run", entry.name, *stage_args(entry)]},
        "libraries": [{"whl": setting("lakesieve_databricks_wheel",
                                      "/Volumes/main/lakesieve/dist/lakesieve-0.1.0-py3-none-any.whl")}],
    }
    if cluster_id:
        task["existing_cluster_id"] = cluster_id
    else:
        task["new_cluster"] = json.loads(setting("lakesieve_databricks_new_cluster", json.dumps(
            {"spark_version": "17.3.x-scala2.13", "node_type_id": "i3.xlarge", "num_workers": 2,
             "data_security_mode": "USER_ISOLATION"})))
    return DatabricksSubmitRunOperator(
        task_id=entry.name,
        dag=dag,
        databricks_conn_id=setting("lakesieve_databricks_conn", "databricks_default"),
        run_name=f"lakesieve-{entry.name}",
        tasks=[task],
    )


def build_dags() -> dict[str, DAG]:
    """One DAG per registry schedule, tasks and edges from the registry."""
    make_task = spark_task if BACKEND == "spark" else databricks_task
    dags: dict[str, DAG] = {}
    tasks = {}
    for entry in registry.STAGES:
        dag_id, schedule = DAGS[entry.schedule]
        if dag_id not in dags:
            dags[dag_id] = DAG(
                dag_id=dag_id,
                schedule=schedule,
                start_date=datetime(2026, 1, 1),
                catchup=False,
                max_active_runs=1,
                tags=["lakesieve", BACKEND],
                default_args={"retries": 1, "retry_delay": timedelta(minutes=5)},
                doc_md=f"lakesieve stages scheduled `{entry.schedule}` (backend: {BACKEND}); built from jobs.registry.",
            )
        tasks[entry.name] = (dag_id, make_task(entry, dags[dag_id]))
    for entry in registry.STAGES:
        dag_id, task = tasks[entry.name]
        for upstream in entry.upstream:
            up_dag, up_task = tasks[upstream]
            if up_dag == dag_id:
                up_task >> task
    return dags


globals().update(build_dags())
