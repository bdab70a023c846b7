"""A Spark standalone cluster (a master and workers) and a Spark Connect server on localhost, started
from the venv's pyspark with the commands docs/running.md gives, for the platform tests.

Their Python workers run a *bare* interpreter: the venv's packages without lakesieve (the editable
install's finder is not loaded), so a stage that works there got its code from the driver
(``addPyFile``) or the Connect client (``addArtifacts``), as on a real cluster or Databricks serverless.
"""
from __future__ import annotations

import os
import re
import socket
import subprocess
import sys
import sysconfig
import time
from pathlib import Path

import pyspark

SPARK_HOME = Path(pyspark.__file__).resolve().parent
SPARK_CLASS = SPARK_HOME / "bin" / "spark-class"
SPARK_SUBMIT = SPARK_HOME / "bin" / "spark-submit"
DELTA_CONFS = ("--conf", "spark.sql.extensions=io.delta.sql.DeltaSparkSessionExtension",
               "--conf", "spark.sql.catalog.spark_catalog=org.apache.spark.sql.delta.catalog.DeltaCatalog")


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def bare_python(where: Path) -> Path:
    """A virtualenv whose site-packages points at this venv's (numpy, pyarrow, pyspark ...) as a plain
    path: its ``.pth`` files, lakesieve's editable finder among them, are not processed, so
    ``import pipelines`` fails unless the code was shipped."""
    if not (where / "bin" / "python").exists():
        subprocess.run([sys.executable, "-m", "venv", "--without-pip", str(where)], check=True)
    site = next((where / "lib").glob("python3*/site-packages"))
    (site / "lakesieve_platform_test.pth").write_text(sysconfig.get_paths()["purelib"] + "\n")
    return where / "bin" / "python"


def _env(python: Path) -> dict:
    env = {k: v for k, v in os.environ.items() if not k.startswith(("PYSPARK_", "SPARK_", "PYTHONPATH"))}
    env.update(SPARK_HOME=str(SPARK_HOME), PYSPARK_PYTHON=str(python), SPARK_NO_DAEMONIZE="1")
    return env


def _wait_for(proc: subprocess.Popen, log: Path, pattern: str, timeout: float = 120) -> str:
    deadline = time.time() + timeout
    while time.time() < deadline:
        text = log.read_text(errors="replace") if log.exists() else ""
        m = re.search(pattern, text)
        if m:
            return m.group(0)
        if proc.poll() is not None:
            raise RuntimeError(f"{log.name} exited ({proc.returncode}):\n{text[-3000:]}")
        time.sleep(0.5)
    raise TimeoutError(f"{log.name}: no '{pattern}' in {timeout:.0f}s:\n{log.read_text(errors='replace')[-3000:]}")


def _start(cmd: list[str], log: Path, cwd: Path, python: Path) -> subprocess.Popen:
    return subprocess.Popen(cmd, stdout=log.open("w"), stderr=subprocess.STDOUT, cwd=cwd, env=_env(python),
                            start_new_session=True)


class LocalCluster:
    """A master and ``workers`` workers (``cores`` and ``memory`` each), plus an optional Connect server
    whose application runs on that cluster. ``stop()`` ends them all."""

    def __init__(self, work: Path, python: Path, *, workers: int = 2, cores: int = 2, memory: str = "2g"):
        self.work, self.python, self.procs = work, python, []
        work.mkdir(parents=True, exist_ok=True)
        port = free_port()
        self.master_url = f"spark://127.0.0.1:{port}"
        master = _start([str(SPARK_CLASS), "org.apache.spark.deploy.master.Master", "--host", "127.0.0.1",
                         "--port", str(port), "--webui-port", str(free_port())], work / "master.log", work, python)
        self.procs.append(master)
        _wait_for(master, work / "master.log", r"I have been elected leader")
        for i in range(workers):
            wdir = work / f"worker{i}"
            wdir.mkdir(exist_ok=True)
            worker = _start([str(SPARK_CLASS), "org.apache.spark.deploy.worker.Worker", self.master_url,
                             "--host", "127.0.0.1", "--cores", str(cores), "--memory", memory,
                             "--work-dir", str(wdir), "--webui-port", str(free_port())],
                            work / f"worker{i}.log", work, python)
            self.procs.append(worker)
            _wait_for(worker, work / f"worker{i}.log", r"Successfully registered with master")
        self.remote_url: str | None = None

    def start_connect_server(self, jars: str, *, cores_max: int = 2) -> str:
        """The Spark Connect server (Delta's SQL extension and catalog, the Delta jars) as an application
        of this cluster; returns its ``sc://`` URL."""
        port = free_port()
        log = self.work / "connect.log"
        proc = _start([str(SPARK_SUBMIT), "--class", "org.apache.spark.sql.connect.service.SparkConnectServer",
                       "--master", self.master_url, "--jars", jars, *DELTA_CONFS,
                       "--conf", f"spark.connect.grpc.binding.port={port}",
                       "--conf", f"spark.cores.max={cores_max}", "--conf", "spark.executor.memory=1g",
                       "--conf", "spark.ui.enabled=false", "--conf", "spark.sql.shuffle.partitions=4",
                       "--driver-memory", "1g"], log, self.work, self.python)
        self.procs.append(proc)
        _wait_for(proc, log, r"Spark Connect server started", timeout=180)
        self.remote_url = f"sc://127.0.0.1:{port}"
        return self.remote_url

    def executor_logs(self) -> str:
        """Every executor's stderr under the workers' work dirs (where a failing Python worker writes)."""
        return "\n".join(p.read_text(errors="replace") for p in sorted(self.work.glob("worker*/app-*/*/stderr")))

    def stop(self) -> None:
        for proc in reversed(self.procs):
            if proc.poll() is None:
                os.killpg(proc.pid, 15)
        for proc in self.procs:
            try:
                proc.wait(timeout=30)
            except subprocess.TimeoutExpired:
                os.killpg(proc.pid, 9)
