"""spark-submit end to end: the real ``spark-submit`` of the installed pyspark, with the code shipped
as ``--py-files lakesieve.zip`` and the Delta jars by ``--jars`` (no Delta ``--conf``: get_spark adds
Delta's extension and catalog under spark-submit when the submitter did not).

The toy stage runs today whatever stages exist; the minhash job runs once ``jobs/minhash.py`` exists
and must give the same tables as the same config run in-process.
"""
from __future__ import annotations

import json
import os
import subprocess
import sys
import textwrap
import zipfile
from pathlib import Path

import pytest

from jobs import registry
from pipelines import demo_data
from pipelines.core import lakehouse as lh
from pipelines.core import ledger
from pipelines.core.tables import TableRef

pytestmark = [pytest.mark.spark, pytest.mark.slow]

REPO = Path(__file__).resolve().parents[2]
SPARK_SUBMIT = Path(sys.executable).parent / "spark-submit"

TOY_APP = textwrap.dedent('''
    """A toy stage submitted with spark-submit: keeps rows whose value >= 3."""
    import json
    import sys
    from dataclasses import dataclass

    from pyspark.sql import functions as F

    import pipelines
    from jobs import runner
    from jobs.summary import print_summary
    from pipelines.core.config import param
    from pipelines.core.contract import Column
    from pipelines.core.lakehouse import write_table
    from pipelines.core.session import get_spark
    from pipelines.core.stage import InputSpec, Output, Stage
    from pipelines.core.tables import TableRef


    @dataclass(frozen=True)
    class ToyParams:
        min_value: int = param(3, doc="rows with value below this are dropped", minimum=0)


    def transform(inputs, params):
        df = inputs["rows"]
        return {"kept": df.where(F.col("value") >= params.min_value),
                "dropped": df.where(F.col("value") < params.min_value).withColumn("reason", F.lit("below_min"))}


    TOY = Stage(name="toy", params_cls=ToyParams, description="keeps rows at or above a threshold",
                inputs={"rows": InputSpec(columns=(Column("id", "id"), Column("value", "integer")), default="in/rows")},
                outputs=(Output("kept", (Column("id", "id"), Column("value", "integer"))),
                         Output("dropped", (Column("id", "id"), Column("value", "integer"), Column("reason", "string")))),
                transform=transform)

    root = sys.argv[sys.argv.index("--lakehouse") + 1]
    spark = get_spark("lakesieve-toy-submit")
    write_table(spark.createDataFrame([(i, i % 7) for i in range(50)], "id long, value int"),
                TableRef.parse("in/rows", root), "setup")
    result = runner.run(spark, TOY, {"quality": {"enabled": False}}, lakehouse_root=root)
    print_summary(result)
    print("APP_FACTS " + json.dumps({
        "pipelines_file": pipelines.__file__,
        "extensions": spark.conf.get("spark.sql.extensions"),
        "catalog": spark.conf.get("spark.sql.catalog.spark_catalog"),
        "run_id": result.run_id, "status": result.status}))
''')


@pytest.fixture(scope="module")
def pyfiles_zip(tmp_path_factory) -> Path:
    """dist/lakesieve.zip as `make dist` builds it, into a private folder (others share dist/)."""
    out = tmp_path_factory.mktemp("dist") / "lakesieve.zip"
    subprocess.run([sys.executable, str(REPO / "infra/spark/build_pyfiles_zip.py"), str(out)], check=True,
                   capture_output=True)
    return out


def _jars() -> str:
    from pipelines.core.session import find_jars_dir

    jars = find_jars_dir()
    assert jars is not None, "run `make setup` first: the Delta jars are missing"
    return ",".join(str(p) for p in sorted(jars.glob("*.jar")))


def spark_submit(app: Path, args: list[str], pyfiles: Path, cwd: Path) -> subprocess.CompletedProcess:
    """Run the installed pyspark's spark-submit the way docs/running.md tells users to."""
    env = {k: v for k, v in os.environ.items() if not k.startswith(("PYSPARK_", "SPARK_", "LAKESIEVE_JARS"))}
    env.update(PYSPARK_PYTHON=sys.executable, PYSPARK_DRIVER_PYTHON=sys.executable,
               LAKESIEVE_PROGRESS="false", PYTHONPATH="")
    cmd = [str(SPARK_SUBMIT), "--master", "local[2]", "--driver-memory", "1g",
           "--conf", "spark.ui.enabled=false", "--conf", "spark.sql.shuffle.partitions=4",
           "--py-files", str(pyfiles), "--jars", _jars(), str(app), *args]
    proc = subprocess.run(cmd, cwd=cwd, env=env, capture_output=True, text=True, timeout=1200)
    assert proc.returncode == 0, f"spark-submit failed ({proc.returncode}):\n{proc.stdout[-3000:]}\n{proc.stderr[-5000:]}"
    return proc


def test_zip_holds_the_packages_and_the_demo_configs(pyfiles_zip):
    names = set(zipfile.ZipFile(pyfiles_zip).namelist())
    for module in ("pipelines/core/session.py", "jobs/runner.py", "jobs/registry.py", "udfs/__init__.py"):
        assert module in names
    for e in registry.STAGES:
        assert f"{e.module.replace('.', '/')}.py" in names
        if e.demo_config and (REPO / "jobs/configs" / e.demo_config).exists():
            assert f"jobs/configs/{e.demo_config}" in names
    assert not any("__pycache__" in n or n.endswith(".pyc") for n in names)


def test_toy_stage_under_spark_submit_writes_delta_and_ledger(spark, pyfiles_zip, tmp_path):
    app = tmp_path / "toy_app.py"
    app.write_text(TOY_APP)
    root = tmp_path / "lake"
    proc = spark_submit(app, ["--lakehouse", str(root)], pyfiles_zip, cwd=tmp_path)
    facts = json.loads(next(ln for ln in proc.stdout.splitlines() if ln.startswith("APP_FACTS "))[len("APP_FACTS "):])
    # the code came from the --py-files zip, and get_spark gave the session Delta's extension and catalog
    assert facts["pipelines_file"].startswith(str(pyfiles_zip))
    assert "io.delta.sql.DeltaSparkSessionExtension" in facts["extensions"]
    assert facts["catalog"] == "org.apache.spark.sql.delta.catalog.DeltaCatalog"
    assert facts["status"] == "success" and "toy: success" in proc.stdout

    kept_ref, dropped_ref = (TableRef.parse(f"toy/{n}", str(root)) for n in ("kept", "dropped"))
    assert lh.table_version(spark, kept_ref) == 0 and lh.table_version(spark, dropped_ref) == 0
    kept_ids = sorted(r["id"] for r in lh.read_table(spark, kept_ref).collect())
    assert kept_ids == [i for i in range(50) if i % 7 >= 3]
    assert lh.read_table(spark, dropped_ref).where("reason = 'below_min'").count() == 50 - len(kept_ids)
    assert lh.history(spark, kept_ref, 1).collect()[0]["userMetadata"] == facts["run_id"]
    runs = {r["run_id"]: r for r in ledger.latest_states(spark, str(root)).collect()}
    row = runs[facts["run_id"]]
    assert row["stage"] == "toy" and row["status"] == "success"
    assert json.loads(row["output_versions"]) == {"kept": 0, "dropped": 0}


def test_minhash_job_under_spark_submit_matches_in_process_run(spark, pyfiles_zip, tmp_path):
    from jobs import demo, runner

    stage = registry.load_stage("minhash")
    config = registry.config_path(registry.entry("minhash"))
    overrides = ["quality.enabled=false"]
    roots = {}
    for name in ("submitted", "in_process"):
        roots[name] = tmp_path / name
        for dataset in _demo_datasets(stage):
            demo.write_dataset(spark, roots[name], dataset)
    proc = spark_submit(REPO / "jobs/minhash.py",
                        ["--config", str(config), "--lakehouse", str(roots["submitted"]), "--set", overrides[0]],
                        pyfiles_zip, cwd=tmp_path)
    assert "minhash: success" in proc.stdout
    expected = runner.run(spark, stage, config, overrides=overrides, lakehouse_root=str(roots["in_process"]))
    submitted = [r for r in ledger.latest_states(spark, str(roots["submitted"])).collect() if r["stage"] == "minhash"]
    assert len(submitted) == 1 and submitted[0]["status"] == "success"
    assert json.loads(submitted[0]["output_versions"]) == expected.output_versions
    for out in stage.outputs:
        got = lh.read_table(spark, TableRef.parse(f"minhash/{out.name}", str(roots["submitted"])))
        want = lh.read_table(spark, TableRef.parse(f"minhash/{out.name}", str(roots["in_process"])))
        assert got.count() == expected.metrics.get(f"rows.{out.name}", want.count())
        assert got.exceptAll(want).count() == 0 and want.exceptAll(got).count() == 0, out.name


def _demo_datasets(stage) -> list[str]:
    """The demo datasets a stage's default inputs live in (``demo/<dataset>/...``)."""
    found = []
    for spec in stage.inputs.values():
        parts = (spec.default or "").split("/")
        if len(parts) >= 2 and parts[0] == "demo" and parts[1] in demo_data.DATASETS and parts[1] not in found:
            found.append(parts[1])
    return found
