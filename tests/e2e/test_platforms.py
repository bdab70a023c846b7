"""Stages where lakes live: on a Spark standalone cluster (a master, two workers, executors in their own
JVMs) from a classic driver, through a Spark Connect server (running on that cluster), and on Spark 4.0
(Databricks Runtime 17.3 LTS's Spark; pyspark 4.0 with Delta's build for it, ``make spark40``), each
through the real ``lakesieve`` command, with outputs equal to the ``local[*]`` run's on Spark 4.1.

The executors' Python is a bare interpreter without lakesieve (tests/platforms.py), so the UDF code
reaches them only as the session ships it: ``addPyFile`` from a classic driver, ``addArtifacts`` from a
Connect client. make test runs minhash (pandas UDF kernels, several commits, the ledger) through Connect
and on Spark 4.0; every other (stage, mode) is marked ``platforms_all`` (make test-platforms).
"""
from __future__ import annotations

import json
import os
import subprocess
from pathlib import Path

import pytest

from jobs import demo, registry, runner
from pipelines.core import lakehouse as lh
from pipelines.core import ledger
from pipelines.core.session import find_jars_dir
from tests.demo_runs import NO_QUALITY, demo_datasets, prepare, upstream_chain
from tests.platforms import LocalCluster, bare_python, free_port
from tests.run_cli import cli
from tests.tables_equal import assert_tables_equal

pytestmark = [pytest.mark.spark, pytest.mark.slow]

MODES = ("cluster", "connect", "spark40")
# make test's representative cases: minhash through Spark Connect, whose server runs on the two-worker
# cluster (Connect, executors in their own JVMs and code shipped with addArtifacts, in about three minutes
# on two cores), and minhash on Spark 4.0; every other (stage, mode) is marked platforms_all (make test-platforms)
REPRESENTATIVE = {("minhash", "connect"), ("minhash", "spark40")}
REPO = Path(__file__).resolve().parents[2]
SPARK40_VENV, SPARK40_JARS = REPO / ".venv-spark40", REPO / ".jars-spark40"


def _cases():
    for e in registry.STAGES:
        for mode in MODES:
            marks = () if (e.name, mode) in REPRESENTATIVE else (pytest.mark.platforms_all,)
            yield pytest.param(e.name, mode, marks=marks, id=f"{e.name}-{mode}")


@pytest.fixture(scope="module")
def bare(tmp_path_factory):
    python = bare_python(tmp_path_factory.mktemp("bare") / "venv")
    proc = subprocess.run([str(python), "-c", "import numpy, pyarrow, pyspark; import pipelines"],
                          capture_output=True, text=True, cwd="/")
    assert proc.returncode == 1 and "No module named 'pipelines'" in proc.stderr, proc.stderr
    return python


@pytest.fixture(scope="module")
def cluster(bare, tmp_path_factory):
    work = tmp_path_factory.mktemp("cluster")
    c = LocalCluster(work, bare, workers=2, cores=2, memory="2g")
    jars = ",".join(str(p) for p in sorted(find_jars_dir().glob("*.jar")))
    c.start_connect_server(jars, cores_max=2)
    conf = work / "conf"
    conf.mkdir()
    # the classic driver's application: half of the cluster's cores (the Connect server holds the rest)
    (conf / "spark-defaults.conf").write_text("spark.cores.max 2\nspark.executor.memory 1g\n")
    c.conf_dir = conf
    yield c
    c.stop()


@pytest.fixture(scope="module")
def spark40() -> Path:
    """The Spark 4.0 installation ``make spark40`` builds: its ``lakesieve`` command (this checkout, editable)."""
    python = SPARK40_VENV / "bin" / "python"
    if not python.exists() or not any(SPARK40_JARS.glob("delta-spark_4.0_*.jar")):
        pytest.fail("the Spark 4.0 environment is missing (.venv-spark40, .jars-spark40): run `make spark40`")
    version = subprocess.run([str(python), "-c", "import pyspark; print(pyspark.__version__)"],
                             capture_output=True, text=True, check=True).stdout.strip()
    assert version.startswith("4.0."), version
    return SPARK40_VENV / "bin" / "lakesieve"


def _env(mode: str, target) -> dict:
    if mode == "spark40":
        # only Spark 4.0's Delta build on its classpath (the 4.1 jars' classes do not load on Spark 4.0); every
        # output committed by Spark 4.0's Delta writer (small local outputs are otherwise committed by delta-rs)
        return {"LAKESIEVE_JARS": str(SPARK40_JARS), "LAKESIEVE_OUTPUT_DRIVER_MAX_BYTES": "0"}
    env = {"PYSPARK_PYTHON": str(target.python)}
    if mode == "cluster":
        env.update(LAKESIEVE_MASTER=target.master_url, SPARK_CONF_DIR=str(target.conf_dir))
    return env


def _run(mode: str, target, stage: str, root: str) -> subprocess.CompletedProcess:
    """``target``: the LocalCluster (cluster, connect) or the Spark 4.0 ``lakesieve`` command (spark40)."""
    entry = registry.entry(stage)
    args = ["run", stage, "--config", str(registry.config_path(entry)), "--lakehouse", root, "--set", NO_QUALITY]
    if mode == "connect":
        args = ["--remote", target.remote_url, *args]
    exe = {"exe": str(target)} if mode == "spark40" else {}
    return cli(*args, env=_env(mode, target), timeout=1200, **exe)


def _engines(table_path: str) -> set[str]:
    """The ``engineInfo`` of every commit of a local Delta table (``Apache-Spark/4.0.5 Delta-Lake/4.4.0``)."""
    logs = sorted(Path(table_path, "_delta_log").glob("*.json"))
    return {json.loads(f.open().readline())["commitInfo"].get("engineInfo", "") for f in logs}


@pytest.mark.parametrize(("stage", "mode"), list(_cases()))
def test_stage_equals_local(spark, demo_lake, request, tmp_path_factory, mode, stage):
    """``stage`` run in ``mode`` (cluster, connect, spark40) writes the tables its local[*] Spark 4.1 run writes."""
    entry = registry.entry(stage)
    target = request.getfixturevalue("spark40" if mode == "spark40" else "cluster")
    prepare(spark, demo_lake, entry, including_itself=True)  # the local[*] run (a no-op when it already ran)
    root = str(tmp_path_factory.getbasetemp() / f"platform-{mode}" / "lakehouse")
    for e in [*upstream_chain(entry), entry]:
        for dataset in demo_datasets(registry.load_stage(e.name), e):
            demo.write_dataset(spark, root, dataset)
        if e is entry or not any(r["stage"] == e.name and r["status"] == "success"
                                 for r in (ledger.latest_states_local(root) or [])):
            proc = _run(mode, target, e.name, root)
            logs = target.executor_logs()[-3000:] if mode != "spark40" else ""
            assert proc.returncode == 0, f"{mode} {e.name} failed:\n{proc.stdout[-3000:]}\n{proc.stderr[-4000:]}\n{logs}"
            assert f"{e.name}: success" in proc.stdout or f"{e.name}: skipped" in proc.stdout, proc.stdout
    st, config = registry.load_stage(stage), registry.config_path(entry)
    want = runner.build_spec(st, config, overrides=[NO_QUALITY], lakehouse_root=demo_lake).outputs
    got = runner.build_spec(st, config, overrides=[NO_QUALITY], lakehouse_root=root).outputs
    for name in want:
        assert_tables_equal(lh.read_table(spark, got[name]), lh.read_table(spark, want[name]),
                            what=f"{mode} {stage}.{name}", roots=(os.path.abspath(root), os.path.abspath(demo_lake)))
        if mode == "spark40":
            engines = _engines(got[name].path)
            assert engines and all(e.startswith("Apache-Spark/4.0.") for e in engines), (name, engines)
    (run,) = [r for r in (ledger.latest_states_local(root) or []) if r["stage"] == stage and r["status"] == "success"][:1]
    assert set(json.loads(run["output_versions"])) == {o.name for o in registry.load_stage(stage).outputs}


def test_the_cluster_ran_executors_on_both_workers(cluster):
    """The Connect server's application (and the classic driver's, when it ran) had an executor on each worker."""
    for worker in ("worker0", "worker1"):
        apps = list((cluster.work / worker).glob("app-*/*/stderr"))
        assert len(apps) >= 1, f"{worker} ran no executor"


def test_an_unreachable_connect_server_is_one_line_and_exit_2(tmp_path):
    url = f"sc://127.0.0.1:{free_port()}"
    proc = cli("--remote", url, "run", "minhash", "--lakehouse", str(tmp_path / "lh"),
               env={"LAKESIEVE_CONNECT_PROBE_RETRIES": "2"}, timeout=300)
    assert proc.returncode == 2, proc.stderr
    assert f"cannot reach the Spark Connect server at {url}" in proc.stderr and "Traceback" not in proc.stderr
    assert not (tmp_path / "lh").exists()


def test_a_remote_that_is_not_a_connect_url_is_refused(tmp_path):
    proc = cli("--remote", "http://127.0.0.1:15002", "run", "minhash", "--lakehouse", str(tmp_path / "lh"))
    assert proc.returncode == 2 and "must be a Spark Connect URL sc://host:port" in proc.stderr, proc.stderr
