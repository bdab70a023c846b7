"""Other engines read what the stages write: every output table of every stage on the demo lakehouse,
read by polars (``read_delta``, delta-rs) and by duckdb (over delta-rs' Arrow dataset), without Spark,
holds the rows and columns Spark reads."""
from __future__ import annotations

import duckdb
import polars as pl
import pytest
from deltalake import DeltaTable

from jobs import registry, runner
from pipelines.core import lakehouse as lh
from tests.demo_runs import NO_QUALITY, run_every_stage

pytestmark = [pytest.mark.spark, pytest.mark.slow]


def test_polars_and_duckdb_read_every_stage_output(spark, demo_lake):
    run_every_stage(spark, demo_lake)  # a no-op when the notebook tests already ran them here
    checked = []
    for e in registry.STAGES:
        stage = registry.load_stage(e.name)
        spec = runner.build_spec(stage, registry.config_path(e), overrides=[NO_QUALITY], lakehouse_root=demo_lake)
        for name, ref in spec.outputs.items():
            path = lh.spark_path(ref.path)
            want = lh.read_table(spark, ref)
            frame = pl.read_delta(path)
            assert frame.height == want.count() and frame.columns == want.columns, f"polars {e.name}.{name}"
            dataset = DeltaTable(path).to_pyarrow_dataset()  # noqa: F841 - duckdb scans the local variable
            ((rows,),) = duckdb.sql("SELECT count(*) FROM dataset").fetchall()
            assert rows == frame.height, f"duckdb {e.name}.{name}"
            checked.append(f"{e.name}.{name}")
    assert len(checked) >= 2 * len(registry.STAGES)
