"""What the quality step reads in the driver (no JVM): delta-rs at a pinned version, only the named columns,
and nothing (-> Spark) where pandas would judge differently from Spark or cannot read the table."""
from __future__ import annotations

import pyarrow as pa
from deltalake import write_deltalake

from pipelines.core.lakehouse import read_version_local
from pipelines.core.quality import expectation_columns, gx_expectations, where_equal
from pipelines.core.tables import TableRef


def test_reads_the_pinned_version_and_only_the_named_columns(tmp_path):
    path = str(tmp_path / "t")
    write_deltalake(path, pa.table({"id": [1, 2], "score": [0.5, None], "text": ["a", "b"]}))
    write_deltalake(path, pa.table({"id": [3], "score": [0.25], "text": ["c"]}), mode="append")
    v0 = read_version_local(TableRef(path=path), 0, ["id", "score"])
    assert list(v0.columns) == ["id", "score"] and v0["id"].tolist() == [1, 2]  # a null is not a NaN: read here
    assert sorted(read_version_local(TableRef(path=path), 1, ["id"])["id"].tolist()) == [1, 2, 3]


def test_a_nan_a_missing_version_or_a_uri_leave_the_check_to_spark(tmp_path):
    path = str(tmp_path / "t")
    write_deltalake(path, pa.table({"id": [1, 2], "score": [0.5, float("nan")]}))
    assert read_version_local(TableRef(path=path), 0, ["id"]) is not None  # the NaN column is not read
    assert read_version_local(TableRef(path=path), 0, ["id", "score"]) is None  # pandas would call it null
    assert read_version_local(TableRef(path=path), 7, ["id"]) is None
    assert read_version_local(TableRef(path="s3a://bucket/t"), 0, ["id"]) is None


def test_expectation_columns_include_condition_columns_and_refuse_engine_strings():
    gxe = gx_expectations()
    assert expectation_columns([gxe.ExpectColumnValuesToNotBeNull(column="reason", row_condition=where_equal("status", "x")),
                                gxe.ExpectTableRowCountToEqual(value=3),
                                gxe.ExpectColumnValuesToBeUnique(column="id")]) == ["reason", "status", "id"]
    assert expectation_columns([gxe.ExpectColumnValuesToNotBeNull(column="reason", row_condition='status=="x"',
                                                                  condition_parser="spark")]) is None
