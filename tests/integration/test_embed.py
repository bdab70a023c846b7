"""embed on real Delta tables: exact outputs and rejects, image paths, MiniLM text, partitioning, errors."""
from __future__ import annotations

import numpy as np
import pytest
from pyspark.sql import functions as F

from jobs import embed as job
from jobs.cli import main as cli_main
from pipelines.core import lakehouse
from pipelines.core.errors import SchemaContractError
from pipelines.core.tables import TableRef
from pipelines.embed.config import EmbedParams
from pipelines.embed.embed import embed
from tests.unit.test_embed_kernels import _noisy, _patterns
from udfs.images import encode_png

pytestmark = pytest.mark.spark

TINY = {"model": "tiny-clip-32", "random_weights": True, "seed": 0, "batch_size": 3}
BAD = {100: b"", 101: b"\x89PNG not really", 102: None}


def items_rows():
    """Ids 0-3: four distinct patterns; 4-7: their noisy near-copies; 100-102: unusable images."""
    pats = _patterns()
    rows = [(i, encode_png(p), f"pattern {i}") for i, p in enumerate(pats)]
    rows += [(4 + i, encode_png(_noisy(p, i)), f"pattern {i} again") for i, p in enumerate(pats)]
    rows += [(k, v, None) for k, v in BAD.items()]
    return rows


@pytest.fixture(scope="module")
def lake(spark, tmp_path_factory):
    root = str(tmp_path_factory.mktemp("embed_lake"))
    df = spark.createDataFrame(items_rows(), "id long, image binary, caption string")
    lakehouse.write_table(df, TableRef.parse("in/items", root), "setup")
    result = job.run(spark, {"inputs": {"items": "in/items"}, "params": TINY}, lakehouse_root=root)
    return root, result


def _read(spark, root, path):
    return lakehouse.read_table(spark, TableRef.parse(path, root))


def test_embeddings_and_rejected_are_exact(spark, lake):
    root, result = lake
    assert result.status == "success" and result.quality_failures == []
    assert result.metrics["rows.embeddings"] == 8 and result.metrics["rows.rejected"] == 3
    assert result.metrics["dimension"] == 64
    emb = _read(spark, root, "embed/embeddings")
    assert [(f.name, f.dataType.simpleString()) for f in emb.schema.fields] == [
        ("id", "bigint"), ("model", "string"), ("vector", "array<float>"), ("norm", "double")]
    rows = {r["id"]: r for r in emb.collect()}
    assert sorted(rows) == list(range(8))
    assert {r["model"] for r in rows.values()} == {"open_clip:tiny-clip-32@random-seed0"}
    vec = np.array([rows[i]["vector"] for i in range(8)])
    assert np.allclose(np.linalg.norm(vec, axis=1), 1.0, atol=1e-5)
    assert all(rows[i]["norm"] > 0 for i in range(8))
    # each near-copy's nearest original is the one it was made from
    assert list((vec[4:] @ vec[:4].T).argmax(axis=1)) == [0, 1, 2, 3]
    rejected = {r["id"]: r["reason"] for r in _read(spark, root, "embed/rejected").collect()}
    assert rejected == {100: "empty_image", 101: "undecodable_image: UnidentifiedImageError", 102: "null_image"}


def test_same_vectors_whatever_the_partitioning_and_raw_vectors_when_not_normalised(spark, lake):
    root, _ = lake
    items = _read(spark, root, "in/items")
    written = {r["id"]: np.array(r["vector"]) for r in _read(spark, root, "embed/embeddings").collect()}
    shuffled = items.repartition(3, "id").orderBy(F.col("id").desc())
    out = embed(shuffled, EmbedParams(**TINY))
    again = {r["id"]: np.array(r["vector"]) for r in out.embeddings.collect()}
    assert sorted(again) == sorted(written)
    assert all(np.allclose(again[i], written[i], atol=1e-5) for i in written)
    raw = embed(items, EmbedParams(**{**TINY, "normalize": False})).embeddings.collect()
    for r in raw:
        assert np.isclose(np.linalg.norm(r["vector"]), r["norm"], rtol=1e-5)
        assert np.allclose(np.array(r["vector"]) / r["norm"], written[r["id"]], atol=1e-5)


def test_image_paths_and_string_ids(spark, tmp_path):
    pats = _patterns()
    for i in range(2):
        (tmp_path / f"img{i}.png").write_bytes(encode_png(pats[i]))
    (tmp_path / "broken.png").write_bytes(b"broken")
    df = spark.createDataFrame([("a", str(tmp_path / "img0.png")), ("b", str(tmp_path / "img1.png")),
                                ("c", str(tmp_path / "missing.png")), ("d", str(tmp_path / "broken.png"))],
                               "id string, image_path string")
    out = embed(df, EmbedParams(**TINY))
    assert out.embeddings.schema["id"].dataType.simpleString() == "string"
    assert sorted(r["id"] for r in out.embeddings.collect()) == ["a", "b"]
    assert {r["id"]: r["reason"] for r in out.rejected.collect()} == {
        "c": "unreadable_path: FileNotFoundError", "d": "undecodable_image: UnidentifiedImageError"}


def test_minilm_text_with_null_caption(spark, lake):
    root, _ = lake
    items = _read(spark, root, "in/items")
    params = EmbedParams(encoder="sentence_transformers", model="all-MiniLM-L6-v2", modality="text")
    out = embed(items, params)
    rows = {r["id"]: r for r in out.embeddings.collect()}
    assert sorted(rows) == list(range(8))
    assert {r["model"] for r in rows.values()} == {"sentence_transformers:all-MiniLM-L6-v2"}
    assert {len(r["vector"]) for r in rows.values()} == {384}
    assert {r["id"]: r["reason"] for r in out.rejected.collect()} == {k: "null_text" for k in BAD}
    sim = np.dot(rows[0]["vector"], rows[4]["vector"])  # "pattern 0" vs "pattern 0 again"
    assert sim > np.dot(rows[0]["vector"], rows[7]["vector"]) and sim > 0.7  # vs "pattern 3 again"


def test_bad_inputs_fail_clearly_and_leave_outputs_alone(spark, lake, tmp_path, capsys):
    root, result = lake
    with pytest.raises(SchemaContractError, match="none of the columns text or caption"):
        embed(spark.createDataFrame([(1, b"x")], "id long, image binary"),
              EmbedParams(encoder="sentence_transformers", model="all-MiniLM-L6-v2", modality="text"))
    with pytest.raises(SchemaContractError, match="column 'caption' has type int"):
        embed(spark.createDataFrame([(1, 5)], "id long, caption int"),
              EmbedParams(encoder="sentence_transformers", model="all-MiniLM-L6-v2", modality="text"))
    before = lakehouse.table_version(spark, TableRef.parse("embed/embeddings", root))
    missing = tmp_path / "no" / "ViT.safetensors"
    code = cli_main(["run", "embed", "--lakehouse", root, "--set", "inputs.items=in/items",
                     "--set", "model=tiny-clip-32", "--set", f"pretrained={missing}", "--set", "quality.enabled=false"])
    err = capsys.readouterr().err
    assert code == 2 and "ModelLoadError" in err and str(missing) in err
    assert lakehouse.table_version(spark, TableRef.parse("embed/embeddings", root)) == before
    assert cli_main(["run", "embed", "--lakehouse", root, "--set", "inputs.items=in/items",
                     "--set", "batch_size=0"]) == 2
