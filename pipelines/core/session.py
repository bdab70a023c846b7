"""The one way to get a SparkSession.

On Databricks or under ``spark-submit`` the session (and its Delta set-up) is the platform's, used
as it is. Locally lakesieve builds ``local[*]`` with the Delta extension and catalog from the jars
that ``make setup`` put in ``.jars/`` (or ``$LAKESIEVE_JARS``), small shuffle partitions and quiet
logs. Only jobs call this; stage transformations receive DataFrames.
"""
from __future__ import annotations

import os
import shutil
import sys
from pathlib import Path

from pipelines.core import progress
from pipelines.core.errors import EnvironmentSetupError, cause_line

_DELTA_EXTENSION = "io.delta.sql.DeltaSparkSessionExtension"
_DELTA_CATALOG = "org.apache.spark.sql.delta.catalog.DeltaCatalog"


def find_jars_dir() -> Path | None:
    """``$LAKESIEVE_JARS``, else ``.jars`` in the working directory or beside the source tree."""
    candidates = []
    if os.environ.get("LAKESIEVE_JARS"):
        candidates.append(Path(os.environ["LAKESIEVE_JARS"]))
    candidates += [Path.cwd() / ".jars", Path(__file__).resolve().parents[2] / ".jars"]
    for cand in candidates:
        if cand.is_dir() and any(cand.glob("delta-spark*.jar")):
            return cand
    return None


def _on_platform() -> bool:
    """True on Databricks or when launched by spark-submit (the JVM gateway is already up)."""
    return bool(os.environ.get("DATABRICKS_RUNTIME_VERSION") or os.environ.get("PYSPARK_GATEWAY_PORT"))


def _with_delta_confs(builder):
    """Under spark-submit, add Delta's SQL extension and catalog unless the submitter set them.

    spark-submit passes ``--conf`` values as JVM system properties, which ``SparkConf()`` reads; the
    session does not exist yet, so these static confs still take effect. An extension list the user
    gave is kept and Delta's is appended to it.
    """
    from pyspark import SparkConf, SparkContext

    SparkContext._ensure_initialized()  # connect to spark-submit's JVM so SparkConf() sees its --conf values
    conf = SparkConf()
    extensions = conf.get("spark.sql.extensions", "") or ""
    if _DELTA_EXTENSION not in extensions.split(","):
        builder = builder.config("spark.sql.extensions", ",".join(filter(None, [extensions, _DELTA_EXTENSION])))
    if not conf.get("spark.sql.catalog.spark_catalog", None):
        builder = builder.config("spark.sql.catalog.spark_catalog", _DELTA_CATALOG)
    return builder


def remote_url() -> str | None:
    """The Spark Connect server to use: ``$SPARK_REMOTE`` (``sc://host:port``, as pyspark reads it), else None."""
    url = os.environ.get("SPARK_REMOTE", "").strip()
    return url or None


def _connect_session(url: str):
    """A Spark Connect session to ``url``. The server brings Delta (its SQL extension and catalog) and
    its own executors; the client needs only the ``pyspark[connect]`` extra."""
    from pyspark.sql import SparkSession

    if not url.startswith("sc://"):
        raise EnvironmentSetupError(f"SPARK_REMOTE must be a Spark Connect URL sc://host:port, got {url!r}")
    try:
        # no builder options: getOrCreate would send them with the default (ten-minute) retry policy
        spark = SparkSession.builder.remote(url).getOrCreate()
        _probe(spark)
    except Exception as exc:  # grpc's UNAVAILABLE and friends: name the server and the cause
        raise EnvironmentSetupError(f"cannot reach the Spark Connect server at {url}: {_grpc_cause(exc)}") from exc
    _ship_code(spark)
    return spark


def _grpc_cause(exc: BaseException) -> str:
    """grpc's own one-line reason (``details = "failed to connect to all addresses ..."``), else the first line."""
    import re

    m = re.search(r'details = "([^"]+)"', str(exc))
    return m.group(1)[:300] if m else cause_line(exc)


def _probe(spark) -> None:
    """The session's first call, with a short retry budget: pyspark's default policy keeps retrying an
    unreachable server for over ten minutes; a user who mistyped the port should hear in seconds
    (``LAKESIEVE_CONNECT_PROBE_RETRIES``, default 5: about 17 s of backoff). Later calls keep the default."""
    from pyspark.sql.connect.client.retries import DefaultPolicy

    policies = spark.client.get_retry_policies()
    spark.client.set_retry_policies([DefaultPolicy(max_retries=int(os.environ.get("LAKESIEVE_CONNECT_PROBE_RETRIES", 5)))])
    spark.conf.set("spark.sql.session.timeZone", "UTC")  # on failure the short policy stays: pyspark's exit
    spark.client.set_retry_policies(policies)            # hook calls the server once more, and must not hang


def _ship_code(spark) -> None:
    """Send this lakesieve's code to the Connect server (``addArtifacts`` as a Python zip), once per
    session: the server's Python workers import the UDF kernels from it, so a server without lakesieve
    installed (Databricks serverless, a plain Connect server) runs the same code as this client.
    ``LAKESIEVE_SHIP_CODE=0`` skips it where the server's environment installs the wheel."""
    if os.environ.get("LAKESIEVE_SHIP_CODE", "1").lower() in ("0", "false", "no"):
        return
    from pipelines.core import pyfiles

    key = spark.session_id
    if key not in _SHIPPED:
        spark.addArtifacts(str(pyfiles.session_zip()), pyfile=True)
        _SHIPPED.add(key)


_SHIPPED: set[str] = set()


def check_local_environment() -> Path:
    """What the local session needs before it starts, checked without starting it: a Java runtime and the Delta
    jars (their folder is returned). Raises :class:`EnvironmentSetupError` naming what is missing."""
    java_home = os.environ.get("JAVA_HOME")
    if java_home and not (Path(java_home) / "bin" / "java").is_file():
        raise EnvironmentSetupError(f"JAVA_HOME={java_home} has no bin/java (Spark needs Java 17): point it at a JDK or unset it")
    if not (java_home or shutil.which("java")):
        raise EnvironmentSetupError("no Java runtime found (Spark needs Java 17): install it, e.g. apt-get install openjdk-17-jre-headless")
    jars = find_jars_dir()
    if jars is None:
        raise EnvironmentSetupError("the Delta jars are missing (no .jars/delta-spark*.jar): run `make setup` once")
    return jars


def get_spark(app_name: str = "lakesieve", *, shuffle_partitions: int | None = None):
    """Return the active session, a Spark Connect session when ``$SPARK_REMOTE`` names a server, or
    build the local Delta-enabled one."""
    from pyspark.sql import SparkSession

    url = remote_url()
    if url is not None:
        return _connect_session(url)
    active = SparkSession.getActiveSession()
    if active is not None:
        return active
    if _on_platform():
        builder = SparkSession.builder.appName(app_name)
        if not os.environ.get("DATABRICKS_RUNTIME_VERSION"):
            builder = _with_delta_confs(builder)
        return builder.getOrCreate()
    jars = check_local_environment()
    # Python workers (pandas UDFs, mapInPandas) must run this interpreter, not whatever `python3` is on
    # PATH: pyspark's SparkContext reads PYSPARK_PYTHON (not spark.pyspark.python) in local mode.
    os.environ.setdefault("PYSPARK_PYTHON", sys.executable)
    jar_list = ",".join(str(p) for p in sorted(jars.glob("*.jar")))
    cores = os.cpu_count() or 2
    parts = shuffle_partitions or int(os.environ.get("LAKESIEVE_SHUFFLE_PARTITIONS", max(4, 2 * cores)))
    builder = (
        SparkSession.builder.appName(app_name)
        .master(os.environ.get("LAKESIEVE_MASTER", "local[*]"))
        .config("spark.jars", jar_list)
        .config("spark.sql.extensions", _DELTA_EXTENSION)
        .config("spark.sql.catalog.spark_catalog", _DELTA_CATALOG)
        .config("spark.sql.shuffle.partitions", str(parts))
        .config("spark.default.parallelism", str(parts))
        .config("spark.sql.adaptive.enabled", "true")
        # plans that union many tables' projections (containment's batched probes) make constraint
        # propagation grow without bound (driver OutOfMemoryError in getAllValidConstraints); no stage needs it
        .config("spark.sql.constraintPropagation.enabled", "false")
        .config("spark.sql.execution.arrow.pyspark.enabled", "true")
        .config("spark.ui.enabled", "false")
        .config("spark.ui.showConsoleProgress", "true" if progress.interactive(sys.stderr) else "false")
        .config("spark.driver.memory", os.environ.get("LAKESIEVE_DRIVER_MEMORY", "2g"))
        .config("spark.sql.session.timeZone", "UTC")
        .config("spark.databricks.delta.snapshotPartitions", "2")
        .config("spark.sql.warehouse.dir", os.environ.get("LAKESIEVE_WAREHOUSE", str(Path.cwd() / "spark-warehouse")))
        .config("spark.driver.extraJavaOptions", "-Dderby.system.home=" + os.environ.get("TMPDIR", "/tmp"))
    )
    try:
        spark = builder.getOrCreate()
    except Exception as exc:  # the JVM did not start (a broken JDK, too little memory): one line, not a trace
        if "JAVA_GATEWAY_EXITED" not in str(exc):
            raise
        raise EnvironmentSetupError(f"the JVM for Spark did not start ({cause_line(exc)}); "
                                    "check Java 17 (java -version) and LAKESIEVE_DRIVER_MEMORY") from exc
    spark.sparkContext.setLogLevel(os.environ.get("LAKESIEVE_LOG_LEVEL", "ERROR"))
    if not spark.sparkContext.master.startswith("local"):
        # a cluster (LAKESIEVE_MASTER=spark://..., yarn, k8s): the executors import the UDF kernels from
        # this lakesieve's code, shipped with the job, not from whatever their hosts have installed
        from pipelines.core import pyfiles

        spark.sparkContext.addPyFile(str(pyfiles.session_zip()))
    return spark


class DeferredSession:
    """The local session, started only when something first uses it (any attribute but :attr:`started`).

    The ``lakesieve`` command hands this to the runner, so a run whose inputs, transformation and outputs all stay
    in the driver (``Stage.deferred_inputs``: minhash's driver engine on a plain local table) never starts a JVM:
    its ledger rows, output commits and quality suite go through delta-rs and GX's pandas engine, and the 8-9 s a
    cold JVM and its first jobs cost a ``lakesieve run`` are not paid. Anything that does need Spark (a Spark
    engine, a rollback, a catalog table) starts it on first use, the same session :func:`get_spark` gives."""

    def __init__(self, app_name: str = "lakesieve") -> None:
        check_local_environment()  # a broken Java or missing jars fail the command now, not when Spark is first used
        self._app_name = app_name
        self._spark = None

    @property
    def started(self) -> bool:
        return self._spark is not None

    def get(self):
        """The real session (started now when it was not)."""
        if self._spark is None:
            self._spark = get_spark(self._app_name)
        return self._spark

    def __getattr__(self, name: str):
        if name.startswith("__"):
            raise AttributeError(name)
        return getattr(self.get(), name)


def deferred_session(app_name: str = "lakesieve"):
    """A :class:`DeferredSession` for a local run; the session itself where one is already active, or where the
    platform (Databricks, spark-submit) or ``$SPARK_REMOTE`` (Spark Connect) provides it."""
    from pyspark.sql import SparkSession

    if remote_url() is not None or _on_platform() or SparkSession.getActiveSession() is not None:
        return get_spark(app_name)
    return DeferredSession(app_name)


def not_started(spark) -> bool:
    """Whether ``spark`` is a :class:`DeferredSession` that has not started Spark (yet)."""
    return isinstance(spark, DeferredSession) and not spark.started
