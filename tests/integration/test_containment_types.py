"""Containment by value on designed tables: widened and narrowed types in both directions, integers read
as doubles, an RFC 4180 CSV with a BOM whose types Spark infers, a folder of Parquet files with different
schemas, and the protect / prefer planning rules. The answer is known from the design, and checked
against the independent brute force of bench/real_lake.py as well."""
from __future__ import annotations

import sys
from pathlib import Path

import pandas as pd
import pyarrow as pa
import pyarrow.parquet as pq
import pytest

import jobs.containment as job
from pipelines.core import lakehouse
from pipelines.core.tables import TableRef

sys.path.insert(0, str(Path(__file__).resolve().parents[2] / "bench"))
import real_lake  # noqa: E402  (the benchmark's brute force: no code shared with the stage)

pytestmark = pytest.mark.spark

N = 20


def _base() -> pd.DataFrame:
    return pd.DataFrame({"id": range(1, N + 1), "x": [k * 0.5 for k in range(N)],
                         "name": [f'n{k}, "q"\nline' if k % 4 == 0 else f"n{k}" for k in range(N)],
                         "flag": [k % 2 == 0 for k in range(N)]})


def _pq(path: Path, frame: pd.DataFrame, types: dict | None = None) -> None:
    table = pa.Table.from_pandas(frame, preserve_index=False)
    if types:
        table = table.cast(pa.schema([(f.name, types.get(f.name, f.type)) for f in table.schema]))
    path.parent.mkdir(parents=True, exist_ok=True)
    pq.write_table(table, path)


@pytest.fixture(scope="module")
def lake(spark, tmp_path_factory):
    root = tmp_path_factory.mktemp("typed") / "lake"
    b = _base()
    _pq(root / "wide/base.parquet", b)
    _pq(root / "wide/ints32.parquet", b[["id", "x"]], {"id": pa.int32(), "x": pa.float32()})
    _pq(root / "wide/big_child.parquet", b[b.id <= 10][["id", "x"]])
    _pq(root / "wide/id_double.parquet", b[b.id <= 10][["id"]].astype({"id": "float64"}))
    half = b[b.id <= 10][["id"]].astype({"id": "float64"})
    half.iloc[3, 0] = 4.5
    _pq(root / "wide/id_half.parquet", half)
    (root / "text").mkdir()
    b[["id", "name"]].to_csv(root / "text/names.csv", index=False, encoding="utf-8-sig")  # RFC 4180 + BOM
    _pq(root / "text/ids_as_text.parquet", b[["id"]].astype({"id": "string"}))
    _pq(root / "mixed/a.parquet", b[b.id <= 5][["id", "x"]])
    _pq(root / "mixed/b.parquet", b[["flag"]])
    copies = pd.DataFrame({"id": range(100, 108), "name": [f"c{k}" for k in range(8)]})  # in no other table
    _pq(root / "copies/t.parquet", copies)
    copies.to_csv(root / "copies/t.csv", index=False)
    spark.createDataFrame(copies).write.format("delta").save(str(root / "copies/t_delta"))
    house = root.parent / "house"
    codegen = spark.conf.get("spark.sql.codegen.wholeStage")
    result = job.run(spark, {"inputs": {"lake": str(root)}, "quality": {"enabled": False},
                             "params": {"protect": ["wide/ints32*"], "prefer": ["delta", "parquet"],
                                        "default_access_per_month": 0.0}},
                     lakehouse_root=str(house))
    out = {n: lakehouse.read_table(spark, TableRef(path=str(house / "containment" / n))).toPandas()
           for n in ("profile", "edges", "plan")}
    assert spark.conf.get("spark.sql.codegen.wholeStage") == codegen  # the session's setting is put back
    return {"root": root, "result": result, **out}


def _verified(lake) -> set:
    e = lake["edges"]
    return set(map(tuple, e[e.reached == "verified"][["parent", "child"]].values))


def test_every_table_is_found_as_designed(lake):
    prof = lake["profile"].set_index("table_id")
    assert set(prof.index) == {
        "wide/base.parquet", "wide/ints32.parquet", "wide/big_child.parquet", "wide/id_double.parquet",
        "wide/id_half.parquet", "text/names.csv", "text/ids_as_text.parquet", "mixed/a.parquet",
        "mixed/b.parquet", "copies/t.parquet", "copies/t.csv", "copies/t_delta"}
    assert (prof.status == "ok").all(), prof[prof.status != "ok"].reason.to_dict()
    # the BOM is not part of the first column's name, and quoted commas, quotes and newlines stay in one row
    names = {c["name"]: c["data_type"] for c in prof.loc["text/names.csv", "columns"]}
    assert names == {"id": "int", "name": "string"} and prof.loc["text/names.csv", "num_rows"] == N


def test_containment_by_value_in_either_width_and_from_text(lake):
    got = _verified(lake)
    designed = {
        ("wide/base.parquet", "wide/ints32.parquet"),      # int32/float32 child of bigint/double
        ("wide/ints32.parquet", "wide/big_child.parquet"),  # bigint/double child of int32/float32
        ("wide/base.parquet", "wide/big_child.parquet"),
        ("wide/base.parquet", "wide/id_double.parquet"),    # whole doubles in an integer column
        ("wide/ints32.parquet", "wide/id_double.parquet"),
        ("wide/base.parquet", "text/names.csv"),            # CSV with inferred int id, RFC 4180 names
        ("text/names.csv", "text/ids_as_text.parquet"),     # text child of typed parents: as text
        ("wide/base.parquet", "text/ids_as_text.parquet"),
        ("text/ids_as_text.parquet", "wide/id_double.parquet"),  # typed child of a text parent: parsed
        ("wide/base.parquet", "mixed/a.parquet"),
        ("copies/t.parquet", "copies/t.csv"), ("copies/t.csv", "copies/t.parquet"),
        ("copies/t_delta", "copies/t.parquet"), ("copies/t_delta", "copies/t.csv"),
    }
    assert designed <= got
    assert not {p for p in got if p[1] == "wide/id_half.parquet"}  # 4.5 equals no integer
    assert got == real_lake.truth(lake["root"])  # and nothing else: the independent brute force agrees


def test_protect_and_prefer_decide_the_plan(lake):
    plan = lake["plan"].set_index("table_id")
    assert plan.loc["wide/ints32.parquet", "action"] == "keep"
    assert plan.loc["wide/ints32.parquet", "reason"] == "kept: protected by params.protect 'wide/ints32*'"
    assert plan.loc["copies/t_delta", "action"] == "keep"
    assert plan.loc["copies/t.parquet", "action"] == "delete" and plan.loc["copies/t.parquet", "parent"] == "copies/t_delta"
    assert plan.loc["copies/t.csv", "action"] == "delete"
    seconds = {k for k in lake["result"].metrics if k.startswith("seconds.")}
    assert {"seconds.profile", "seconds.read_views", "seconds.verification", "seconds.recipes"} <= seconds


def test_a_delta_table_with_deletion_vectors_is_profiled_with_its_rows_left(spark, tmp_path):
    """A DELETE with deletion vectors rewrites each file's log entry as an add and a remove of the same path in one
    commit; the log read once dropped them all and profiled the table as empty (skipped)."""
    from jobs.containment_lake import profile_table

    path = tmp_path / "lake" / "orders"
    rows = spark.sql("SELECT id, CAST(id * 2 AS INT) AS qty FROM range(50)")
    lakehouse.write_table(rows.repartition(3), TableRef(path=str(path)), "setup")
    spark.sql(f"ALTER TABLE delta.`{path}` SET TBLPROPERTIES ('delta.enableDeletionVectors' = true)")
    spark.sql(f"DELETE FROM delta.`{path}` WHERE id < 10")
    for in_driver in ({}, None):
        prof, schema = profile_table(spark, Path(tmp_path / "lake"), path, "delta", rows_in_driver=in_driver)
        assert prof.ok and schema is not None and prof.num_rows == 40, prof
        assert {c.name: (c.min_num, c.max_num) for c in prof.columns}["id"] == (10, 49)
