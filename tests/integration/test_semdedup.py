"""SemDeDup on real Delta tables: designed copies removed exactly, same result whatever the partitioning."""
from __future__ import annotations

import math

import numpy as np
import pytest
from pyspark.sql import functions as F

from jobs import semdedup as job
from jobs.cli import main as cli_main
from pipelines.core import lakehouse
from pipelines.core.config import build_config
from pipelines.core.errors import DataError, SchemaContractError
from pipelines.core.tables import TableRef
from pipelines.semdedup import SemDedupParams, transform

pytestmark = pytest.mark.spark

DIM = 16


def unit(*terms):
    v = np.zeros(DIM)
    for k, c in terms:
        v[k] += c
    return v


def near(base, extra, similarity):
    return unit((base, similarity), (extra, math.sqrt(1 - similarity ** 2)))


THETA = math.acos(0.97005)
# id: (cluster, distance, vector). Cluster 0: originals 1, 2, 3; copies 11, 12 (of 1) and 21 (of 2,
# farther from the centroid than 2, so 'hard' keeps 21); 31 is only 0.90005 like 3. Cluster 1: the
# chain 41 ~ 42 ~ 43 (0.97005 each, 41 !~ 43). Cluster 2: a singleton.
DESIGN = {
    1: (0, 0.9, unit((0, 1.0))), 21: (0, 0.8, near(1, 10, 0.98005)), 3: (0, 0.7, unit((2, 1.0))),
    31: (0, 0.6, near(2, 7, 0.90005)), 11: (0, 0.5, near(0, 8, 0.99505)), 12: (0, 0.4, near(0, 9, 0.99005)),
    2: (0, 0.3, unit((1, 1.0))),
    41: (1, 0.9, unit((5, 1.0))), 42: (1, 0.8, unit((5, math.cos(THETA)), (6, math.sin(THETA)))),
    43: (1, 0.7, unit((5, math.cos(2 * THETA)), (6, math.sin(2 * THETA)))),
    50: (2, 0.1, unit((15, 1.0))),
}
BAD = {  # rows that cannot be judged, and why
    900: "missing_embedding", 901: "zero_vector", 902: "non_finite_vector", 903: "missing_distance",
}
EXPECTED_KEPT = {1, 21, 3, 31, 41, 50}
EXPECTED_DUPLICATES = {11: (1, 1), 12: (1, 1), 2: (21, 21), 42: (41, 41), 43: (42, 41)}  # id: (matched_id, kept stand-in)


def tables(spark):
    emb = [(i, "designed", [float(x) for x in v], 1.0) for i, (_, _, v) in DESIGN.items()]
    emb += [(901, "designed", [0.0] * DIM, 0.0), (902, "designed", [float("nan")] + [0.0] * (DIM - 1), float("nan")),
            (903, "designed", [float(x) for x in unit((3, 1.0))], 1.0)]
    asg = [(i, c, d) for i, (c, d, _) in DESIGN.items()] + [(900, 0, 0.5), (901, 0, 0.5), (902, 1, 0.5), (903, 1, None)]
    embeddings = spark.createDataFrame(emb, "id long, model string, vector array<float>, norm double")
    assignments = spark.createDataFrame(asg, "id long, cluster int, distance double")
    return assignments, embeddings


@pytest.fixture(scope="module")
def lake(spark, tmp_path_factory):
    root = str(tmp_path_factory.mktemp("semdedup") / "lakehouse")
    assignments, embeddings = tables(spark)
    lakehouse.write_table(assignments, TableRef.parse("cluster/assignments", root), "setup")
    lakehouse.write_table(embeddings, TableRef.parse("embed/embeddings", root), "setup")
    result = job.run(spark, {"params": {"epsilon": 0.05}}, lakehouse_root=root)  # quality suites on
    return root, result


def read(spark, root, name):
    return lakehouse.read_table(spark, TableRef.parse(f"semdedup/{name}", root))


def outcome(result):
    kept = {r["id"] for r in result.kept.collect()}
    dups = {r["id"]: (r["matched_id"], r["representative_id"]) for r in result.duplicates.collect()}
    return kept, dups


def test_removes_exactly_the_designed_copies(spark, lake):
    root, result = lake
    assert result.status == "success" and not result.quality_failures
    kept = {r["id"] for r in read(spark, root, "kept").collect()}
    dups = {r["id"]: r for r in read(spark, root, "duplicates").collect()}
    assert kept == EXPECTED_KEPT
    assert {i: (r["matched_id"], r["representative_id"]) for i, r in dups.items()} == EXPECTED_DUPLICATES
    assert dups[11]["similarity"] == pytest.approx(0.99505, abs=1e-5) and dups[2]["similarity"] == pytest.approx(0.98005, abs=1e-5)
    assert all(r["cluster"] == DESIGN[i][0] and r["epsilon"] == pytest.approx(0.05) for i, r in dups.items())
    rejected = {r["id"]: r["reason"] for r in read(spark, root, "rejected").collect()}
    assert rejected == BAD
    assert result.metrics["kept"] == 6 and result.metrics["duplicates"] == 5 and result.metrics["rejected"] == 4
    assert result.metrics["orphan_duplicates"] == 0


def test_same_tables_across_partitionings_and_runs(spark, lake):
    root, _ = lake
    assignments, embeddings = tables(spark)
    params = build_config(SemDedupParams, {"epsilon": 0.05})
    shuffled = transform({"assignments": assignments.repartition(7).orderBy(F.rand(3)),
                            "embeddings": embeddings.repartition(5, "id")}, params)
    for name, df in (("kept", shuffled.kept), ("duplicates", shuffled.duplicates), ("rejected", shuffled.rejected)):
        stored = read(spark, root, name)
        assert df.exceptAll(stored).count() == 0 and stored.exceptAll(df).count() == 0, name
    forced = job.run(spark, {"params": {"epsilon": 0.05}, "quality": {"enabled": False}}, lakehouse_root=root, force=True)
    ref = TableRef.parse("semdedup/duplicates", root)
    v_new = lakehouse.read_version(spark, ref, forced.output_versions["duplicates"])
    v_old = lakehouse.read_version(spark, ref, forced.output_versions["duplicates"] - 1)
    assert v_new.exceptAll(v_old).count() == 0 and v_old.exceptAll(v_new).count() == 0


def test_faiss_path_and_policies(spark):
    assignments, embeddings = tables(spark)
    inputs = {"assignments": assignments, "embeddings": embeddings}
    faiss_run = transform(inputs, build_config(SemDedupParams, {"epsilon": 0.05, "max_dense_cluster_size": 2}))
    assert outcome(faiss_run) == (EXPECTED_KEPT, EXPECTED_DUPLICATES)
    greedy = transform(inputs, build_config(SemDedupParams, {"epsilon": 0.05, "compare_against": "earlier_kept"}))
    kept, dups = outcome(greedy)
    assert kept == EXPECTED_KEPT | {43} and 43 not in dups
    easy = transform(inputs, build_config(SemDedupParams, {"epsilon": 0.05, "keep": "easy"}))
    kept, dups = outcome(easy)
    assert kept == {2, 12, 31, 3, 43, 50} and dups[21] == (2, 2) and dups[1] == (11, 12)


def test_target_kept_fraction_chooses_epsilon(spark):
    assignments, embeddings = tables(spark)
    inputs = {"assignments": assignments, "embeddings": embeddings}
    # 11 judged rows; 5 have no earlier member above the 0.5 floor. Half -> keep 6: the cut falls at 31 (0.90005)
    res = transform(inputs, build_config(SemDedupParams, {"target_kept_fraction": 0.5}))
    kept, dups = outcome(res)
    assert kept == EXPECTED_KEPT and set(dups) == set(EXPECTED_DUPLICATES)
    assert res.epsilon == pytest.approx(1 - 0.9001)
    res = transform(inputs, build_config(SemDedupParams, {"target_kept_fraction": 0.6}))  # need 7: 42, 43 tie -> 8
    assert outcome(res)[0] == EXPECTED_KEPT | {42, 43}


def test_bad_input_is_a_named_error_with_no_output(spark, tmp_path):
    root = str(tmp_path / "lake")
    assignments, embeddings = tables(spark)
    lakehouse.write_table(assignments, TableRef.parse("cluster/assignments", root), "setup")
    lakehouse.write_table(embeddings.unionByName(embeddings.limit(1)), TableRef.parse("embed/embeddings", root), "setup")
    with pytest.raises(DataError, match="table 'embeddings' column 'id' has duplicate values"):
        job.run(spark, {"quality": {"enabled": False}}, lakehouse_root=root)
    assert lakehouse.read_table(spark, TableRef.parse("semdedup/kept", root)).count() == 0 if \
        lakehouse.table_exists(spark, TableRef.parse("semdedup/kept", root)) else True
    lakehouse.write_table(assignments.drop("distance"), TableRef.parse("bad/assignments", root), "setup")
    with pytest.raises(SchemaContractError, match="no column 'distance'"):
        job.run(spark, {"inputs": {"assignments": "bad/assignments"}}, lakehouse_root=root)
    mixed = embeddings.withColumn("vector", F.when(F.col("id") == 1, F.slice("vector", 1, 8)).otherwise(F.col("vector")))
    with pytest.raises(DataError, match="column 'vector' has vectors of different lengths"):
        transform({"assignments": assignments, "embeddings": mixed}, build_config(SemDedupParams, {}))
    two_models = embeddings.withColumn("model", F.when(F.col("id") == 1, "other").otherwise(F.col("model")))
    with pytest.raises(DataError, match="column 'model' holds several models"):
        transform({"assignments": assignments, "embeddings": two_models}, build_config(SemDedupParams, {}))
    only = transform({"assignments": assignments, "embeddings": two_models},
                       build_config(SemDedupParams, {"embedding_model": "designed", "epsilon": 0.05}))
    assert {r["id"]: r["reason"] for r in only.rejected.collect()}[1] == "missing_embedding"
    assert cli_main(["run", "semdedup", "--lakehouse", root, "--set", "keep=hardest"]) == 2
