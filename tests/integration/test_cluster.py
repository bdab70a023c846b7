"""cluster on real Delta tables: exact blobs, rejects, determinism, the sample bound, embed -> cluster."""
from __future__ import annotations

import numpy as np
import pytest
from pyspark.sql import functions as F

from jobs import cluster as job
from jobs.cli import main as cli_main
from pipelines.cluster.cluster import cluster
from pipelines.cluster.config import ClusterParams
from pipelines.cluster.sample import training_sample
from pipelines.core import lakehouse
from pipelines.core.errors import ConfigError, DataError
from pipelines.core.tables import TableRef
from pipelines.embed.config import EmbedParams
from pipelines.embed.embed import embed
from tests.unit.test_cluster_kernels import blobs
from tests.unit.test_embed_kernels import _noisy, _patterns
from udfs.images import encode_png

pytestmark = pytest.mark.spark

PER_BLOB = 15
BAD = [(900, None), (901, [float("nan")] * 16), (902, [1.0, 2.0, 3.0])]


def embedding_rows():
    x, _ = blobs(num_blobs=4, per_blob=PER_BLOB, dim=16)
    return [(i, "test", [float(v) for v in x[i]], 1.0) for i in range(len(x))] + \
        [(i, "test", v, 1.0) for i, v in BAD]


def blob_of(row_id: int) -> int:
    return row_id // PER_BLOB


@pytest.fixture(scope="module")
def lake(spark, tmp_path_factory):
    root = str(tmp_path_factory.mktemp("cluster_lake"))
    df = spark.createDataFrame(embedding_rows(), "id long, model string, vector array<float>, norm double")
    lakehouse.write_table(df, TableRef.parse("embed/embeddings", root), "setup")
    result = job.run(spark, {"params": {"num_clusters": 4, "niter": 20}}, lakehouse_root=root)
    return root, result


def _read(spark, root, path):
    return lakehouse.read_table(spark, TableRef.parse(path, root))


def test_blobs_are_clustered_exactly_with_sizes_and_rejects(spark, lake):
    root, result = lake
    assert result.status == "success" and result.quality_failures == []
    assert result.metrics["rows.assignments"] == 60 and result.metrics["rows.centroids"] == 4
    assert result.metrics["empty_clusters"] == 0 and result.metrics["largest_cluster"] == PER_BLOB
    rows = _read(spark, root, "cluster/assignments").collect()
    assert sorted(r["id"] for r in rows) == list(range(60))
    by_blob = {}
    for r in rows:
        by_blob.setdefault(blob_of(r["id"]), set()).add(r["cluster"])
    assert all(len(c) == 1 for c in by_blob.values()) and len({next(iter(c)) for c in by_blob.values()}) == 4
    centroids = {r["cluster"]: r for r in _read(spark, root, "cluster/centroids").collect()}
    assert sorted(centroids) == [0, 1, 2, 3] and all(c["size"] == PER_BLOB for c in centroids.values())
    x, _ = blobs(num_blobs=4, per_blob=PER_BLOB, dim=16)
    for r in rows:  # spherical (the default): distance = 1 - cosine to the unit centroid
        c = np.array(centroids[r["cluster"]]["vector"], dtype=np.float64)
        v = x[r["id"]].astype(np.float64)
        assert np.isclose(r["distance"], 1 - v @ c / np.linalg.norm(v), atol=1e-5)
    rejected = {r["id"]: r["reason"] for r in _read(spark, root, "cluster/rejected").collect()}
    assert rejected == {900: "null_vector", 901: "non_finite_vector", 902: "dimension_mismatch: 3 != 16"}


def test_identical_results_across_partitionings_row_orders_and_sample_bound(spark, lake):
    root, _ = lake
    written = sorted((r["id"], r["cluster"], r["distance"]) for r in _read(spark, root, "cluster/assignments").collect())
    emb = _read(spark, root, "embed/embeddings")
    params = ClusterParams(num_clusters=4, niter=20)
    other = cluster(emb.repartition(5, "id").orderBy(F.col("id").desc()), params).assignments
    assert sorted((r["id"], r["cluster"], r["distance"]) for r in other.collect()) == written
    # the sample: at most the bound, the same rows for any partitioning, then plain k-means still exact
    a = training_sample(emb, max_rows=20, seed=7, total_rows=63)
    b = training_sample(emb.repartition(4).orderBy(F.rand(3)), max_rows=20, seed=7, total_rows=63)
    assert 10 <= a.shape[0] <= 20 and a.shape[1] == 16 and np.array_equal(a, b)
    assert training_sample(emb, max_rows=100, seed=7, total_rows=63).shape == (60, 16)  # all usable rows
    small = cluster(emb, ClusterParams(num_clusters=4, max_train_samples=20, spherical=False)).assignments.collect()
    groups = {}
    for r in small:
        groups.setdefault(blob_of(r["id"]), set()).add(r["cluster"])
    assert all(len(g) == 1 for g in groups.values()) and len(set().union(*groups.values())) == 4
    assert all(r["distance"] < 5.0 for r in small)  # squared L2 within a blob of spread 0.1 in 16-d


def test_too_many_clusters_is_an_error_naming_the_key_and_keeps_outputs(spark, lake, capsys):
    root, _ = lake
    before = lakehouse.table_version(spark, TableRef.parse("cluster/assignments", root))
    code = cli_main(["run", "cluster", "--lakehouse", root, "--set", "num_clusters=61", "--set", "quality.enabled=false"])
    err = capsys.readouterr().err
    assert code == 2 and "DataError" in err and "params.num_clusters (61)" in err and "usable rows (60)" in err
    assert lakehouse.table_version(spark, TableRef.parse("cluster/assignments", root)) == before
    assert cli_main(["run", "cluster", "--lakehouse", root, "--set", "num_clusters=10",
                     "--set", "max_train_samples=5"]) == 2


def test_one_model_at_a_time(spark, tmp_path):
    """Two models' vectors of one length are never clustered together: without params.embedding_model
    the run stops naming the column and the key, writing nothing; with it, exactly that model's 60 rows
    are clustered into their blobs; a model the table lacks, or a table without `model`, is named."""
    x, _ = blobs(num_blobs=4, per_blob=PER_BLOB, dim=16)
    rows = [(i, "a", [float(v) for v in x[i]]) for i in range(len(x))] + \
        [(1000 + i, "b", [float(-v) for v in x[i]]) for i in range(len(x))]
    root = str(tmp_path / "lake")
    lakehouse.write_table(spark.createDataFrame(rows, "id long, model string, vector array<float>"),
                          TableRef.parse("in/two_models", root), "setup")
    cfg = {"inputs": {"embeddings": "in/two_models"}, "quality": {"enabled": False},
           "params": {"num_clusters": 4, "niter": 20}}
    with pytest.raises(DataError, match=r"table 'embeddings' column 'model' holds several models \(a, b\); "
                                        r"set 'params.embedding_model'"):
        job.run(spark, cfg, lakehouse_root=root)
    assert not lakehouse.table_exists(spark, TableRef.parse("cluster/assignments", root))
    result = job.run(spark, {**cfg, "params": {**cfg["params"], "embedding_model": "a"}}, lakehouse_root=root)
    got = _read(spark, root, "cluster/assignments").collect()
    assert result.status == "success" and sorted(r["id"] for r in got) == list(range(60))
    by_blob = {}
    for r in got:
        by_blob.setdefault(blob_of(r["id"]), set()).add(r["cluster"])
    assert all(len(c) == 1 for c in by_blob.values()) and len({next(iter(c)) for c in by_blob.values()}) == 4
    with pytest.raises(DataError, match=r"no row of table 'embeddings' has model 'c' \(config key "
                                        r"'params.embedding_model'\); its column 'model' holds: a, b"):
        job.run(spark, {**cfg, "params": {**cfg["params"], "embedding_model": "c"}}, lakehouse_root=root)
    lakehouse.write_table(spark.createDataFrame([(r[0], r[2]) for r in rows[:60]], "id long, vector array<float>"),
                          TableRef.parse("in/no_model", root), "setup")
    with pytest.raises(ConfigError, match="config key 'params.embedding_model' is set but table 'embeddings' "
                                          "has no column 'model'"):
        job.run(spark, {**cfg, "inputs": {"embeddings": "in/no_model"},
                        "params": {**cfg["params"], "embedding_model": "a"}}, lakehouse_root=root)


def test_near_copies_from_embed_land_in_their_original_cluster(spark):
    pats = _patterns()
    rows = [(i, encode_png(p)) for i, p in enumerate(pats)]
    rows += [(10 * (i + 1) + k, encode_png(_noisy(p, 31 * i + k))) for i, p in enumerate(pats) for k in range(3)]
    items = spark.createDataFrame(rows, "id long, image binary").repartition(2)
    emb = embed(items, EmbedParams(model="tiny-clip-32", random_weights=True)).embeddings
    got = {r["id"]: r["cluster"] for r in cluster(emb, ClusterParams(num_clusters=4)).assignments.collect()}
    for i in range(4):
        family = {got[i]} | {got[10 * (i + 1) + k] for k in range(3)}
        assert len(family) == 1, f"pattern {i} and its copies split over clusters {family}"
    assert len({got[i] for i in range(4)}) == 4


def _outputs(outs):
    return {name: sorted(map(tuple, df.collect()), key=repr) for name, df in outs._asdict().items()}


@pytest.mark.parametrize("id_type", ["long", "string"])
def test_the_driver_engine_gives_the_spark_engines_outputs_row_for_row(spark, tmp_path, id_type):
    rows = embedding_rows() + [(None, "test", [1.0] * 16, 1.0), (903, "test", [0.0] * 16, 1.0)]
    df = spark.createDataFrame([(None if i is None else (f"doc-é{i}" if id_type == "string" else i), v)
                                for i, _, v, _ in rows], f"id {id_type}, vector array<float>")
    # the same rows as a Delta table: the driver engine reads its files with pyarrow (a plain scan)
    path = TableRef(path=str(tmp_path / f"emb_{id_type}"))
    lakehouse.write_table(df.repartition(3), path, "setup")
    stored = lakehouse.read_table(spark, path)
    assert lakehouse.plain_scan_arrow(stored, ["id", "vector"]) is not None
    for params in (dict(num_clusters=4), dict(num_clusters=4, max_train_samples=20, spherical=False, seed=2**31 - 1)):
        by_spark = _outputs(cluster(df, ClusterParams(engine="spark", **params)))
        by_driver = _outputs(cluster(df, ClusterParams(engine="driver", **params)))
        assert by_driver == by_spark
        assert _outputs(cluster(stored, ClusterParams(engine="driver", **params))) == by_spark
        placed = 60 if params.get("spherical", True) else 61  # plain k-means places the zero vector too
        assert len(by_driver["assignments"]) == placed and sum(r[2] for r in by_driver["centroids"]) == placed
        reasons = sorted(r[1] for r in by_driver["rejected"])
        assert reasons == sorted(["null_vector", "non_finite_vector", "dimension_mismatch: 3 != 16", "null_id"]
                                 + (["zero_vector"] if params.get("spherical", True) else []))


def test_sample_keys_in_the_driver_are_sparks_bit_for_bit(spark):
    import pyarrow as pa

    from pipelines.cluster.sample import sample_key, sample_keys

    ids = [0, 1, -1, 2**63 - 1, -(2**63), 123456789, None]
    texts = ["", "a", "doc-é1", "日本語", None, "x" * 100]
    for values, ddl in ((ids, "id long"), (texts, "id string"), ([5, -7, None], "id int")):
        df = spark.createDataFrame([(v,) for v in values], ddl)
        for seed in (0, 1234, 2**31 - 1, 2**31, 2**40):
            want = [r[0] for r in df.select(sample_key(seed)).collect()]
            got = sample_keys(pa.array(values, pa.string() if "string" in ddl else pa.int64()), seed).tolist()
            assert got == want, (ddl, seed)


def test_the_engine_is_chosen_by_size_and_id_type_and_a_bad_choice_is_named(spark):
    import pyarrow as pa

    from pipelines.cluster.cluster import in_driver

    df = spark.createDataFrame(pa.table({"id": [1], "vector": pa.array([[1.0, 0.0]], pa.list_(pa.float32()))}))
    assert in_driver(df, ClusterParams(num_clusters=1)) is True
    rows = spark.createDataFrame([(1, [1.0, 0.0])], "id long, vector array<float>")
    assert in_driver(rows, ClusterParams(num_clusters=1)) is False  # Spark cannot size rows it took as an RDD
    assert in_driver(df, ClusterParams(num_clusters=1, driver_max_bytes=1)) is False
    assert in_driver(df, ClusterParams(num_clusters=1, engine="spark")) is False
    doubles = spark.createDataFrame([(1.5, [1.0, 0.0])], "id double, vector array<float>")
    assert in_driver(doubles, ClusterParams(num_clusters=1)) is False
    with pytest.raises(ConfigError, match=r"'params.engine' is 'driver'.*column 'id' is double"):
        in_driver(doubles, ClusterParams(num_clusters=1, engine="driver"))
    from pipelines.core.config import build_config

    with pytest.raises(ConfigError, match="params.engine"):
        build_config(ClusterParams, {"engine": "gpu"})
    with pytest.raises(ConfigError, match="params.seed"):  # FAISS's seed is a C int: it overflowed mid-run
        build_config(ClusterParams, {"seed": 2**31})
