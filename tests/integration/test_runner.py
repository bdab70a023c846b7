"""The stage runner on real Delta tables: versions, run ids, skip, force, rollback, errors."""
from __future__ import annotations

from dataclasses import dataclass

import pytest
from pyspark.sql import functions as F

from jobs import runner
from pipelines.core import lakehouse, ledger
from pipelines.core.config import param
from pipelines.core.contract import Column
from pipelines.core.errors import ConfigError, InputNotFoundError, SchemaContractError
from pipelines.core.quality import gx_expectations
from pipelines.core.stage import InputSpec, Output, Stage
from pipelines.core.tables import TableRef

pytestmark = pytest.mark.spark


@dataclass(frozen=True)
class ToyParams:
    min_value: int = param(0, doc="rows with value below this are dropped", minimum=0)
    explode_in_write: bool = param(False, doc="make the second output fail while it is written")
    break_contract: str = param("", doc="make 'kept' break its declaration: missing, mistyped or extra column")


def _toy_transform(inputs, params):
    df = inputs["rows"]
    kept = df.where(F.col("value") >= params.min_value)
    dropped = df.where(F.col("value") < params.min_value).withColumn("reason", F.lit("below_min"))
    if params.break_contract == "missing":
        kept = kept.drop("value")
    elif params.break_contract == "mistyped":
        kept = kept.withColumn("value", F.col("value").cast("string"))
    elif params.break_contract == "extra":
        kept = kept.withColumn("debug_note", F.lit("x"))
    if params.explode_in_write:
        dropped = dropped.withColumn("boom", F.expr("CASE WHEN value >= 0 THEN raise_error('injected failure') ELSE 'x' END"))
    return {"kept": kept, "dropped": dropped}


def _toy_expectations(params, outputs, metrics):
    gxe = gx_expectations()
    return {"kept": [gxe.ExpectColumnValuesToBeUnique(column="id"),
                     gxe.ExpectColumnMinToBeBetween(column="value", min_value=params.min_value)]}


TOY = Stage(
    name="toy", params_cls=ToyParams, description="keeps rows at or above a threshold",
    inputs={"rows": InputSpec(columns=(Column("id", "id"), Column("value", "integer")), default="in/rows")},
    outputs=(Output("kept", (Column("id", "id"), Column("value", "integer"))),
             # passthrough: the injected failure adds a column the declaration does not list
             Output("dropped", (Column("id", "id"), Column("value", "integer"), Column("reason", "string")),
                    passthrough=True)),
    transform=_toy_transform, expectations=_toy_expectations,
)


@pytest.fixture()
def toy_lake(spark, lakehouse):
    """A lakehouse root (the fixture shadows the module name here) holding one input table in/rows."""
    from pipelines.core.lakehouse import write_table

    df = spark.createDataFrame([(i, i % 7) for i in range(50)], "id long, value int")
    write_table(df, TableRef.parse("in/rows", lakehouse), "setup")
    return lakehouse


def _run(spark, root, **params):
    return runner.run(spark, TOY, {"params": params}, lakehouse_root=root)


@pytest.mark.parametrize("breach, column, message", [
    ("missing", "value", r"table 'toy\.kept \(.*toy/kept\)' has no column 'value'"),
    ("mistyped", "value", r"table 'toy\.kept \(.*toy/kept\)' column 'value' has type string, but integer is needed"),
    ("extra", "debug_note", r"table 'toy\.kept \(.*toy/kept\)' has column 'debug_note' that its declaration does not list"),
])
def test_an_output_that_breaks_its_declared_columns_fails_before_any_commit(spark, toy_lake, breach, column, message):
    first = _run(spark, toy_lake, min_value=3)
    versions = {n: lakehouse.table_version(spark, TableRef.parse(f"toy/{n}", toy_lake)) for n in ("kept", "dropped")}
    with pytest.raises(SchemaContractError, match=message):
        runner.run(spark, TOY, {"params": {"min_value": 2, "break_contract": breach}}, lakehouse_root=toy_lake)
    # nothing was committed: both outputs are still at the first run's versions, and the run is recorded failed
    assert {n: lakehouse.table_version(spark, TableRef.parse(f"toy/{n}", toy_lake)) for n in versions} == versions
    assert versions == first.output_versions
    last = ledger.latest_states(spark, toy_lake).first()
    assert last["status"] == "failed" and f"'{column}'" in last["error"]


def test_a_relative_lakehouse_gets_its_data_docs(spark, tmp_path):
    """`lakesieve demo` uses the relative root ./lakehouse; GX needs an absolute Data Docs folder."""
    import os

    spark.createDataFrame([(i, i % 7) for i in range(20)], "id long, value int") \
        .write.format("delta").save(str(tmp_path / "rel" / "in" / "rows"))
    relative = os.path.relpath(tmp_path / "rel")  # relative to the working directory (Python's and the JVM's)
    assert not os.path.isabs(relative)
    result = _run(spark, relative, min_value=3)
    assert result.status == "success" and not result.quality_failures
    assert (tmp_path / "rel" / "_lakesieve" / "data_docs" / "index.html").is_file()


def test_data_docs_accumulate_name_the_run_and_need_no_network(spark, toy_lake):
    """Every run stays on the Data Docs index under its run id (not only the last run's pages), and the
    pages' stylesheets, scripts and fonts come from the site itself (an offline browser renders them)."""
    import re
    from urllib.parse import unquote

    first = _run(spark, toy_lake, min_value=3)
    second = _run(spark, toy_lake, min_value=4)
    docs = runner.data_docs_dir(toy_lake)
    index = (docs / "index.html").read_text()
    assert first.run_id in index and second.run_id in index
    pages = {p.parent.parent.name for p in (docs / "validations" / "toy" / "kept").rglob("*.html")}
    assert {first.run_id, second.run_id} <= pages  # one page per run, in a folder named by its run id
    for page in [docs / "index.html", *docs.rglob("validations/**/*.html")]:
        text = page.read_text()
        remote = re.findall(r'(?:src|href)="(https://[^"]+)"', text)
        for cdn in ("bootstrapcdn.com", "code.jquery.com", "cdnjs.cloudflare.com", "unpkg.com", "amazonaws.com"):
            assert not [u for u in remote if cdn in u], (page, cdn)
        local = [unquote(u) for u in re.findall(r'(?:src|href)="([^"#?]+\.(?:css|js|png))', text)
                 if "://" not in u]
        assert any("vendor/bootstrap/bootstrap.min.css" in u for u in local)
        for u in local:
            assert (page.parent / u).resolve().is_file(), (page, u)
    fa = (docs / "static" / "vendor" / "font-awesome")
    assert (fa / "webfonts" / "fa-solid-900.woff2").is_file() and (fa / "LICENSE.txt").is_file()


def test_run_writes_versioned_outputs_with_run_id_and_ledger_row(spark, toy_lake):
    result = _run(spark, toy_lake, min_value=3)
    assert result.status == "success"
    kept_ref = TableRef.parse("toy/kept", toy_lake)
    assert result.output_versions == {"kept": 0, "dropped": 0}
    assert lakehouse.history(spark, kept_ref, 1).collect()[0]["userMetadata"] == result.run_id
    kept = lakehouse.read_table(spark, kept_ref)
    assert kept.count() == sum(1 for i in range(50) if i % 7 >= 3)
    assert result.metrics["rows.kept"] == kept.count()
    states = {r["run_id"]: r["status"] for r in ledger.latest_states(spark, toy_lake).collect()}
    assert states[result.run_id] == "success"
    quality = lakehouse.read_table(spark, runner.quality_ref(toy_lake)).where(F.col("run_id") == result.run_id)
    assert quality.count() == 2 and quality.where("success").count() == 2
    assert (runner.data_docs_dir(toy_lake) / "index.html").is_file()


def test_rerun_is_skipped_and_force_gives_identical_tables(spark, toy_lake):
    first = _run(spark, toy_lake, min_value=2)
    second = _run(spark, toy_lake, min_value=2)
    assert second.status == "skipped" and second.reused_run == first.run_id
    forced = runner.run(spark, TOY, {"params": {"min_value": 2}}, lakehouse_root=toy_lake, force=True)
    assert forced.status == "success" and forced.output_versions == {"kept": 1, "dropped": 1}
    ref = TableRef.parse("toy/kept", toy_lake)
    v0, v1 = (lakehouse.read_version(spark, ref, v) for v in (0, 1))
    assert v0.exceptAll(v1).count() == 0 and v1.exceptAll(v0).count() == 0
    # a changed config is not skipped
    assert _run(spark, toy_lake, min_value=4).status == "success"


def test_failure_midway_restores_outputs_and_records_failed(spark, toy_lake):
    ok = _run(spark, toy_lake, min_value=1)
    with pytest.raises(Exception, match="injected failure"):
        _run(spark, toy_lake, min_value=5, explode_in_write=True)
    for name in ("kept", "dropped"):
        ref = TableRef.parse(f"toy/{name}", toy_lake)
        current = lakehouse.read_table(spark, ref)
        before = lakehouse.read_version(spark, ref, ok.output_versions[name])
        assert current.exceptAll(before).count() == 0 and before.exceptAll(current).count() == 0
    latest = ledger.latest_states(spark, toy_lake).collect()[0]
    assert latest["status"] == "failed" and "injected failure" in latest["error"]


def test_contract_and_config_errors_name_the_problem(spark, toy_lake):
    with pytest.raises(ConfigError, match="params.nope"):
        runner.build_spec(TOY, {"params": {"nope": 1}}, lakehouse_root=toy_lake)
    with pytest.raises(ConfigError, match="params.min_value.*>= 0"):
        runner.build_spec(TOY, {"params": {"min_value": -1}}, lakehouse_root=toy_lake)
    with pytest.raises(InputNotFoundError, match="missing/table"):
        runner.run(spark, TOY, {"inputs": {"rows": "missing/table"}}, lakehouse_root=toy_lake)
    from pipelines.core.lakehouse import write_table

    write_table(spark.createDataFrame([(1, "x")], "id long, other string"), TableRef.parse("in/bad", toy_lake), "setup")
    with pytest.raises(SchemaContractError, match="no column 'value'.*in/bad|in/bad.*no column 'value'"):
        runner.run(spark, TOY, {"inputs": {"rows": "in/bad"}}, lakehouse_root=toy_lake)


def _engine_check_expectations(params, outputs, metrics):
    from pipelines.core.quality import where_equal

    gxe = gx_expectations()
    return {"kept": [gxe.ExpectColumnValuesToBeUnique(column="id"),
                     gxe.ExpectColumnValuesToBeBetween(column="value", min_value=0, max_value=4),  # 5s and 6s fail
                     gxe.ExpectColumnValuesToBeNull(column="value", row_condition=where_equal("id", 3)),  # 3 fails
                     gxe.ExpectTableRowCountToEqual(value=50)]}


def test_quality_in_the_driver_and_on_spark_gives_the_same_results(spark, toy_lake, monkeypatch):
    """A small local output is checked in the driver (delta-rs + GX's pandas engine), a large one (here:
    ``quality.local_max_rows: 0``) on Spark: the same expectations give the same recorded results."""
    from dataclasses import replace

    stage = replace(TOY, expectations=_engine_check_expectations)
    config = {"params": {"min_value": 0}, "quality": {"fail_on_error": False}}
    driver = runner.run(spark, stage, config, lakehouse_root=toy_lake)
    on_spark = runner.run(spark, stage, {**config, "quality": {"fail_on_error": False, "local_max_rows": 0}},
                          lakehouse_root=toy_lake, force=True)  # the same outputs: quality options are not params
    assert driver.metrics["quality.outputs_in_driver"] == 1 and on_spark.metrics["quality.outputs_in_driver"] == 0
    quality = lakehouse.read_table(spark, runner.quality_ref(toy_lake))

    def results(run):
        return sorted((r["expectation"], r["kwargs"], r["success"], r["observed"])
                      for r in quality.where(F.col("run_id") == run.run_id).collect())

    expected = [  # designed: ids 0..49, value = id % 7
        ("expect_column_values_to_be_between", '{"column": "value", "max_value": 4.0, "min_value": 0.0}', False,
         '"unexpected_count=14"'),
        ("expect_column_values_to_be_null", '{"column": "value", "row_condition": {"column": {"name": "id"}, '
         '"operator": "==", "parameter": 3, "type": "comparison"}}', False, '"unexpected_count=1"'),
        ("expect_column_values_to_be_unique", '{"column": "id"}', True, '"unexpected_count=0"'),
        ("expect_table_row_count_to_equal", '{"value": 50}', True, "50"),
    ]
    assert results(driver) == expected
    assert results(on_spark) == expected
    assert sorted(driver.quality_failures) == sorted(on_spark.quality_failures) and len(driver.quality_failures) == 2
    # an output whose files are larger than the driver's bound is checked on Spark whatever its row count
    monkeypatch.setattr(runner, "QUALITY_LOCAL_MAX_BYTES", 10)
    big = runner.run(spark, stage, config, lakehouse_root=toy_lake, force=True)
    assert big.metrics["quality.outputs_in_driver"] == 0 and results(big) == expected


def test_quality_local_max_rows_must_not_be_negative(toy_lake):
    with pytest.raises(ConfigError, match=r"quality\.local_max_rows"):
        runner.build_spec(TOY, {"quality": {"local_max_rows": -1}}, lakehouse_root=toy_lake)
