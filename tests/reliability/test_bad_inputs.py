"""The bad-input matrix: each case is a designed bad input and the exact outcome expected of it —
either a LakesieveError naming the problem before anything is written, or the rows set aside with
their reason while the run succeeds. (The 50 MB document is tests/integration/test_minhash.py's
slow test; a corrupt lake table and a ragged CSV are here.)"""
from __future__ import annotations

import io
import shutil
from dataclasses import dataclass
from pathlib import Path
from typing import Callable

import pytest

from jobs import registry, runner
from pipelines.core import lakehouse
from pipelines.core.errors import (
    ConfigError,
    DataError,
    EnvironmentFault,
    InputNotFoundError,
    LakesieveError,
    ModelLoadError,
    OutputError,
    SchemaContractError,
)
from pipelines.core.tables import TableRef

pytestmark = pytest.mark.spark

LONG = "the quick brown fox jumps over the lazy dog near the river bank every single morning " * 4


def _png(size=(16, 16), value=128) -> bytes:
    from PIL import Image

    buf = io.BytesIO()
    Image.new("L", size, value).save(buf, format="PNG")
    return buf.getvalue()


def _write(spark, root: str, name: str, rows, schema: str) -> str:
    lakehouse.write_table(spark.createDataFrame(rows, schema), TableRef.parse(name, root), "setup")
    return name


@dataclass
class Case:
    name: str
    stage: str
    build: Callable  # (spark, root, tmp) -> config dict
    error: type[LakesieveError] | None = None
    match: str = ""
    check: Callable | None = None  # (spark, root, result) -> None, for set-aside cases


def _docs(spark, root, rows, schema="id long, text string, source string"):
    return {"inputs": {"documents": _write(spark, root, "in/docs", rows, schema)}}


def _ok_docs(n=3):
    return [(i, f"{LONG} variant {i * 7919}", "web") for i in range(n)]


def _rows(spark, root, table):
    return {r["id"]: r.asDict() for r in lakehouse.read_table(spark, TableRef.parse(table, root)).collect()}


def _embed_cfg(spark, root, rows, **params):
    table = _write(spark, root, "in/images", rows, "id long, image binary")
    return {"inputs": {"items": table},
            "params": {"modality": "image", "encoder": "open_clip", "model": "tiny-clip-32", **params}}


def _vectors(spark, root, rows):
    return {"inputs": {"embeddings": _write(spark, root, "in/emb", rows, "id long, vector array<float>")}}


def _lake(tmp: Path, spark) -> Path:
    lake = tmp / "lake"
    good = spark.createDataFrame([(i, i * 2) for i in range(20)], "a int, b int")
    lakehouse.write_table(good, TableRef(path=str(lake / "good")), "setup")
    lakehouse.write_table(good.where("a < 10"), TableRef(path=str(lake / "good_part")), "setup")
    (lake / "corrupt").mkdir(parents=True)
    (lake / "corrupt" / "part-0.parquet").write_bytes(b"PAR1 this is not parquet at all PAR1")
    (lake / "ragged.csv").write_text("a,b\n1,2\n3\n4,5,6,7\n")
    lakehouse.write_table(good.limit(0), TableRef(path=str(lake / "empty")), "setup")
    return lake


def _profile_reason(spark, root, table_suffix):
    rows = lakehouse.read_table(spark, TableRef.parse("containment/profile", root)).collect()
    hit = [r for r in rows if r["table_id"].endswith(table_suffix)]
    assert hit, f"no profile row for {table_suffix}: {[r['table_id'] for r in rows]}"
    return hit[0]


CASES = [
    Case("missing column", "minhash",
         lambda s, r, t: _docs(s, r, [(1, "web")], "id long, source string"),
         SchemaContractError, r"table '.*in/docs' has no column 'text'"),
    Case("wrong column type", "minhash",
         lambda s, r, t: _docs(s, r, [(1, 5, "web")], "id long, text int, source string"),
         SchemaContractError, r"column 'text' has type int, but string is needed"),
    Case("duplicate ids", "minhash",
         lambda s, r, t: _docs(s, r, _ok_docs() + [(1, LONG, "wiki")]),
         DataError, r"duplicate.*\b1\b"),
    Case("table path does not exist", "minhash",
         lambda s, r, t: {"inputs": {"documents": "no/such/table"}},
         InputNotFoundError, r"no/such/table"),
    Case("unknown config key", "minhash",
         lambda s, r, t: {**_docs(s, r, _ok_docs()), "params": {"bands": 9}},
         ConfigError, r"unknown config key 'params.bands'"),
    Case("negative threshold", "minhash",
         lambda s, r, t: {**_docs(s, r, _ok_docs()), "params": {"jaccard_threshold": -0.1}},
         ConfigError, r"params.jaccard_threshold.*out of range"),
    Case("null and empty text", "minhash",
         lambda s, r, t: _docs(s, r, _ok_docs() + [(10, None, "web"), (11, "", "web"), (12, "  \n ", "web")]),
         check=lambda s, r, res: _assert_reasons(s, r, "minhash/rejected",
                                                 {10: "null_text", 11: "empty_text", 12: "empty_text"})),
    Case("invalid UTF-8", "minhash",
         lambda s, r, t: {"inputs": {"documents": _write_invalid_utf8(s, r)}},
         check=lambda s, r, res: _assert_accounted(s, r, {0, 1, 2, 3})),
    Case("empty table", "minhash",  # would overwrite yesterday's kept with nothing
         lambda s, r, t: _docs(s, r, []),
         DataError, r"input 'documents' \(.*in/docs\) has 0 row\(s\), fewer than guards.min_input_rows = 1"),
    Case("empty table, allowed by guards.min_input_rows = 0", "minhash",
         lambda s, r, t: {**_docs(s, r, []), "guards": {"min_input_rows": 0}},
         check=lambda s, r, res: _assert_row_counts(res, {"kept": 0, "duplicates": 0, "rejected": 0})),
    Case("fewer rows than guards.min_input_rows", "minhash",
         lambda s, r, t: {**_docs(s, r, _ok_docs(3)), "guards": {"min_input_rows": 5}},
         DataError, r"has 3 row\(s\), fewer than guards.min_input_rows = 5"),
    Case("null id", "minhash",  # set aside with its reason, never silently dropped
         lambda s, r, t: _docs(s, r, _ok_docs(3) + [(None, f"{LONG} orphan", "web")]),
         check=lambda s, r, res: _assert_null_id_set_aside(s, r, res)),
    Case("lakehouse is a file", "minhash",
         lambda s, r, t: _lakehouse_is_a_file(s, r, t),
         OutputError, r"lakehouse '.*lakehouse' is a file, not a folder"),
    Case("Delta data file missing behind its log", "minhash",
         lambda s, r, t: _docs_missing_file(s, r, t),
         EnvironmentFault, r"a data file is missing .*: .*part-"),
    Case("Parquet files disagreeing on a column's type", "minhash",
         lambda s, r, t: _docs_conflicting_types(s, r, t),
         EnvironmentFault, r"the table's files disagree on a column's type"),
    Case("undecodable image bytes", "embed",
         lambda s, r, t: _embed_cfg(s, r, [(1, _png()), (2, b"\x89PNG\r\n\x1a\n garbage")], random_weights=True),
         check=lambda s, r, res: _assert_reasons(s, r, "embed/rejected", {2: "undecodable"}, kept=("embed/embeddings", {1}))),
    Case("zero-size image", "embed",
         lambda s, r, t: _embed_cfg(s, r, [(1, _png()), (3, b"")], random_weights=True),
         check=lambda s, r, res: _assert_reasons(s, r, "embed/rejected", {3: "empty"}, kept=("embed/embeddings", {1}))),
    Case("model path does not exist", "embed",
         lambda s, r, t: _embed_cfg(s, r, [(1, _png())], pretrained=str(t / "missing.safetensors")),
         ModelLoadError, r"missing.safetensors"),
    Case("model file that is not a model", "embed",
         lambda s, r, t: _embed_cfg(s, r, [(1, _png())], pretrained=_not_a_model(t)),
         ModelLoadError, r"not_a_model.safetensors"),
    Case("NaN and infinite embedding values", "cluster",
         lambda s, r, t: {**_vectors(s, r, [(i, [1.0, float(i % 2)]) for i in range(6)]
                                    + [(7, [float("nan"), 1.0]), (8, [float("inf"), 0.0])]),
                          "params": {"num_clusters": 2, "spherical": False}},
         check=lambda s, r, res: _assert_reasons(s, r, "cluster/rejected", {7: "non_finite", 8: "non_finite"})),
    Case("null id in embeddings", "cluster",
         lambda s, r, t: {**_vectors(s, r, [(i, [1.0, float(i % 2)]) for i in range(6)] + [(None, [0.5, 0.5])]),
                          "params": {"num_clusters": 2, "spherical": False}},
         check=lambda s, r, res: _assert_reasons(s, r, "cluster/rejected", {None: "null_id"})),
    Case("null id in images", "embed",
         lambda s, r, t: _embed_cfg(s, r, [(1, _png()), (None, _png(value=9))], random_weights=True),
         check=lambda s, r, res: _assert_reasons(s, r, "embed/rejected", {None: "null_id"}, kept=("embed/embeddings", {1}))),
    Case("null id in semdedup's clusters", "semdedup",
         lambda s, r, t: {"inputs": {
             "assignments": _write(s, r, "in/asg", [(i, i % 2, 0.1 * i) for i in range(1, 7)] + [(None, 0, 0.5)],
                                   "id long, cluster int, distance double"),
             "embeddings": _write(s, r, "in/emb", [(i, [1.0, float(i)]) for i in range(1, 7)] + [(None, [1.0, 0.0])],
                                  "id long, vector array<float>")}},
         check=lambda s, r, res: _assert_reasons(s, r, "semdedup/rejected", {None: "null_id"})),
    Case("null id in tldr's clusters", "tldr",
         lambda s, r, t: {"inputs": {"assignments": _write(s, r, "in/asg", [(i, i % 2) for i in range(1, 9)] + [(None, 0)],
                                                           "id long, cluster int")}},
         check=lambda s, r, res: _assert_reasons(s, r, "tldr/selected", {None: "null_id"})),
    Case("cluster count larger than the rows", "cluster",
         lambda s, r, t: {**_vectors(s, r, [(i, [1.0, float(i)]) for i in range(3)]), "params": {"num_clusters": 5}},
         DataError, r"params.num_clusters"),
    Case("negative epsilon", "semdedup",
         lambda s, r, t: {"params": {"epsilon": -0.5}},
         ConfigError, r"params.epsilon"),
    Case("sample ratio above one", "tldr",
         lambda s, r, t: {"params": {"sample_ratio": 1.5}},
         ConfigError, r"params.sample_ratio"),
    Case("budget larger than the data", "paser",
         lambda s, r, t: _paser_cfg(s, r, budget_count=1000),
         check=lambda s, r, res: _assert_all_selected(s, r)),
    Case("paser-score model folder that does not exist", "paser-score",
         lambda s, r, t: {"inputs": {"instructions": _write(s, r, "in/instr", [(1, "add 1 and 2", "", "3")],
                                                             "id long, instruction string, input string, output string"),
                                     "original_model": str(t / "no-model")},
                          "params": {"build_demo_model_if_missing": False}},
         LakesieveError, r"no-model"),
    Case("slice without index column", "ct-reduce",
         lambda s, r, t: {"inputs": {"slices": _write(s, r, "in/slices", [(1, "v1", _png())],
                                                      "id long, volume_id string, image binary")}},
         SchemaContractError, r"no column 'slice_index'"),
    Case("undecodable slice", "ct-reduce",
         lambda s, r, t: {"inputs": {"slices": _write(s, r, "in/slices", [(1, "v1", 1, _png()), (2, "v1", 2, b"nope")],
                                                      "id long, volume_id string, slice_index int, image binary")}},
         check=lambda s, r, res: _assert_reasons(s, r, "ct-reduce/rejected", {2: ""})),
    Case("null id in slices", "ct-reduce",
         lambda s, r, t: {"inputs": {"slices": _write(s, r, "in/slices", [(1, "v1", 1, _png()), (None, "v1", 2, _png(value=9))],
                                                      "id long, volume_id string, slice_index int, image binary")}},
         check=lambda s, r, res: _assert_reasons(s, r, "ct-reduce/rejected", {None: "null_id"})),
    Case("null id in paser's instructions", "paser",
         lambda s, r, t: _paser_cfg(s, r, null_id=True),
         check=lambda s, r, res: _assert_reasons(s, r, "paser/selected", {None: "null_id"})),
    Case("corrupt Parquet file in a lake", "containment",
         lambda s, r, t: {"inputs": {"lake": str(_lake(t, s))}},
         check=lambda s, r, res: _assert_skipped(s, r, "corrupt")),
    Case("CSV with ragged rows", "containment",
         lambda s, r, t: {"inputs": {"lake": str(_lake(t, s))}},
         check=lambda s, r, res: _assert_skipped(s, r, "ragged.csv")),
    Case("empty table in a lake", "containment",
         lambda s, r, t: {"inputs": {"lake": str(_lake(t, s))}},
         check=lambda s, r, res: _assert_skipped(s, r, "empty")),
]


def _write_invalid_utf8(spark, root):
    from pyspark.sql import functions as F

    raw = [(0, LONG.encode() + b"\xff\xfe\xfd tail"), (1, b"\xc3\x28" * 300), (2, (LONG + " two").encode()),
           (3, b"\xed\xa0\x80 lone surrogate " + LONG.encode())]
    df = spark.createDataFrame(raw, "id long, raw binary").select("id", F.col("raw").cast("string").alias("text"),
                                                                  F.lit("web").alias("source"))
    lakehouse.write_table(df, TableRef.parse("in/utf8", root), "setup")
    return "in/utf8"


def _not_a_model(tmp: Path) -> str:
    path = tmp / "not_a_model.safetensors"
    path.write_text("this is a text file, not a model")
    return str(path)


def _paser_cfg(spark, root, null_id: bool = False, **params):
    instr = [(i, f"add {i} and {i + 1}", "", str(2 * i + 1)) for i in range(6)] + (
        [(None, "add 9 and 10", "", "19")] if null_id else [])
    _write(spark, root, "in/instr", instr, "id long, instruction string, input string, output string")
    _write(spark, root, "in/scores", [(i, 0.1 * (i + 1), 8) for i in range(6)], "id long, jsd double, tokens long")
    _write(spark, root, "in/emb", [(i, [1.0, 0.0] if i < 3 else [0.0, 1.0]) for i in range(6)], "id long, vector array<float>")
    return {"inputs": {"instructions": "in/instr", "scores": "in/scores", "embeddings": "in/emb"},
            "params": {"num_clusters": 2, "knn_neighbors": 2, **params}}


def _assert_reasons(spark, root, table, expected: dict, kept=None):
    rows = _rows(spark, root, table)
    for id_, reason in expected.items():
        assert id_ in rows, f"{table}: id {id_} not set aside; has {sorted(rows)}"
        assert reason in (rows[id_].get("reason") or rows[id_].get("status") or ""), rows[id_]
    if kept is not None:
        assert set(_rows(spark, root, kept[0])) == kept[1]


def _assert_null_id_set_aside(spark, root, result):
    rejected = lakehouse.read_table(spark, TableRef.parse("minhash/rejected", root)).collect()
    assert [(r["id"], r["reason"]) for r in rejected] == [(None, "null_id")]
    assert set(_rows(spark, root, "minhash/kept")) | set(_rows(spark, root, "minhash/duplicates")) == {0, 1, 2}
    stats = lakehouse.read_table(spark, TableRef.parse("minhash/source_stats", root)).collect()
    assert [(r["documents_in"], r["rejected_null_or_empty"], r["kept"] + r["duplicates_removed"]) for r in stats] \
        == [(4, 1, 3)]  # every input row in exactly one place


def _outside_docs(spark, tmp, rows=None) -> str:
    path = str(tmp / "elsewhere" / "docs")
    lakehouse.write_table(spark.createDataFrame(rows or _ok_docs(), "id long, text string, source string"),
                          TableRef(path=path), "setup")
    return path


def _lakehouse_is_a_file(spark, root, tmp):
    docs = _outside_docs(spark, tmp)
    Path(root).write_text("not a folder")
    return {"inputs": {"documents": docs}}


def _docs_missing_file(spark, root, tmp):
    docs = _outside_docs(spark, tmp, _ok_docs(6))
    data = sorted(Path(docs).glob("*.parquet"))
    data[0].unlink()  # the log still lists it
    return {"inputs": {"documents": docs}}


def _docs_conflicting_types(spark, root, tmp):
    folder = tmp / "elsewhere" / "mixed"
    spark.createDataFrame(_ok_docs(2), "id long, text string, source string").write.parquet(str(folder / "a"))
    spark.createDataFrame([("x", LONG, "web")], "id string, text string, source string").write.parquet(str(folder / "b"))
    for sub in ("a", "b"):
        for f in (folder / sub).glob("*.parquet"):
            f.rename(folder / f"{sub}-{f.name}")
    for sub in ("a", "b"):
        shutil.rmtree(folder / sub)
    return {"inputs": {"documents": str(folder)}}


def _assert_accounted(spark, root, ids):
    seen = set(_rows(spark, root, "minhash/kept")) | set(_rows(spark, root, "minhash/duplicates")) \
        | set(_rows(spark, root, "minhash/rejected"))
    assert seen == ids


def _assert_row_counts(result, expected):
    for name, n in expected.items():
        assert result.metrics[f"rows.{name}"] == n


def _assert_all_selected(spark, root):
    rows = _rows(spark, root, "paser/selected")
    assert len(rows) == 6 and all(r["selected"] for r in rows.values())


def _assert_skipped(spark, root, suffix):
    row = _profile_reason(spark, root, suffix)
    assert row["status"] == "skipped" and row["reason"], row


@pytest.mark.parametrize("case", CASES, ids=[c.name.replace(" ", "-") for c in CASES])
def test_bad_input(spark, tmp_path, case: Case):
    root = str(tmp_path / "lakehouse")
    config = case.build(spark, root, tmp_path)
    # a row set aside must pass the stage's own checks too (with them off, minhash's check of the reasons refused
    # `null_id` unseen); a refused input is refused before any check runs
    config = {**config, "quality": {"enabled": case.error is None}}
    stage = registry.load_stage(case.stage)
    if case.error is not None:
        with pytest.raises(case.error, match=case.match):
            runner.run(spark, stage, config, lakehouse_root=root)
        for out in stage.outputs:  # nothing written
            assert lakehouse.table_version(spark, TableRef.parse(f"{case.stage}/{out.name}", root)) is None
    else:
        result = runner.run(spark, stage, config, lakehouse_root=root)
        assert result.status == "success"
        case.check(spark, root, result)


def test_the_matrix_is_at_least_twenty_cases():
    assert len(CASES) >= 20
