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


def test_row_count_from_the_delta_log_or_none_where_the_log_cannot_tell(tmp_path):
    """The input-rows guard counts a local Delta input from its log (``numRecords`` of the active files) at
    the version the run fingerprinted, and falls back to Spark (None) wherever the log's count may be wrong."""
    import json

    from pipelines.core.lakehouse import logged_row_count

    path = tmp_path / "t"
    write_deltalake(str(path), pa.table({"id": [1, 2, 3]}))
    write_deltalake(str(path), pa.table({"id": [4, 5]}), mode="append")
    write_deltalake(str(path), pa.table({"id": pa.array([], pa.int64())}), mode="overwrite")
    ref = TableRef(path=str(path))
    assert logged_row_count(ref, 2) == 0  # the overwrite removed both earlier files
    assert logged_row_count(ref, 1) is None  # not the version the run read
    write_deltalake(str(path), pa.table({"id": [6, 7]}), mode="append")
    assert logged_row_count(ref) == 2
    # a file without statistics: unknown, so Spark counts
    commit = path / "_delta_log" / f"{3:020d}.json"
    actions = [json.loads(line) for line in commit.read_text().splitlines() if line.strip()]
    for action in actions:
        action.get("add", {}).pop("stats", None)
    commit.write_text("\n".join(json.dumps(a) for a in actions) + "\n")
    assert logged_row_count(ref) is None
    assert logged_row_count(TableRef(path=str(tmp_path / "no-table"))) is None
    assert logged_row_count(TableRef(path="s3a://bucket/t")) is None


def test_a_new_ledger_is_created_by_delta_rs_with_the_ledger_schema(tmp_path):
    """A fresh lakehouse's first run appends its ledger row without a Spark job: the table is created by
    delta-rs with the Spark schema's types (``spark`` is None here: a Spark write would fail)."""
    from deltalake import DeltaTable

    from pipelines.core import ledger

    rec = ledger.RunRecord(run_id="minhash-1", stage="minhash", status="running", started_at=ledger.now())
    assert ledger.append(None, tmp_path, rec) == 0
    table = DeltaTable(str(tmp_path / "_lakesieve" / "runs"))
    schema = pa.schema(table.schema().to_arrow())
    fields = {f.name: f for f in schema}
    assert schema.names == [c for c, _, _ in ledger.LEDGER_COLUMNS]
    # the types of the Spark schema, every column nullable (as Spark's Delta writer creates it)
    assert str(fields["started_at"].type) == "timestamp[us, tz=UTC]" and all(f.nullable for f in schema)
    assert table.history(1)[0]["userMetadata"] == "minhash-1"
    rec.status, rec.ended_at = "success", ledger.now()
    assert ledger.append(None, tmp_path, rec) == 1
    assert [r["status"] for r in ledger.latest_states_local(tmp_path, stage="minhash")] == ["success"]
