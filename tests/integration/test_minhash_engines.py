"""minhash's two engines give the same five outputs, row for row and type for type (``params.engine``): the driver
engine (:mod:`pipelines.minhash.driver`) reimplements the Spark engine's method on arrays, so every choice that
changes an output is compared here on the demo corpus's design, with the rows a real input has that the design
lacks (a null id, a null source, string ids, an input that is not a plain scan)."""
from __future__ import annotations

import pytest
from pyspark.sql import functions as F

from jobs import minhash as job
from pipelines.core import lakehouse as lh
from pipelines.core.errors import ConfigError
from pipelines.core.tables import TableRef
from pipelines.demo_data.corpus import generate
from pipelines.minhash.config import MinhashParams
from pipelines.minhash.driver import in_driver
from pipelines.minhash.transform import transform
from tests.tables_equal import assert_tables_equal

pytestmark = pytest.mark.spark

OUTPUTS = ("kept", "duplicates", "rejected", "source_stats", "index")
VERIFIED = {"num_bands": 32, "rows_per_band": 4, "verify": True, "jaccard_threshold": 0.8}


@pytest.fixture(scope="module")
def documents(spark, tmp_path_factory):
    """The design's documents as a Delta table, plus a document without an id (a copy of a kept one's text) and
    one without a source (a copy too): both must be accounted for the same way by either engine."""
    docs, _ = generate(seed=2, base_per_source=6)
    frame = spark.createDataFrame(docs.frame, docs.schema)
    first = frame.orderBy("id").where(F.col("text").isNotNull()).first()
    extra = (spark.createDataFrame([(None, first.text), (10_000, first.text)], "id long, text string")
             .withColumn("source", F.when(F.col("id").isNull(), F.lit("web"))))
    rows = frame.unionByName(extra, allowMissingColumns=True)
    root = str(tmp_path_factory.mktemp("minhash_engines"))
    ref = TableRef.parse("in/documents", root)
    lh.write_table(rows, ref, "setup")
    return lh.read_table(spark, ref)


def _outputs(docs, params: dict, engine: str) -> dict:
    out = transform({"documents": docs}, MinhashParams(engine=engine, **params))._asdict()
    return {name: out[name] for name in OUTPUTS}


def _assert_same(driver: dict, spark_: dict, what: str) -> None:
    for name in OUTPUTS:
        assert driver[name].schema.simpleString() == spark_[name].schema.simpleString(), f"{what} {name}: types"
        assert_tables_equal(driver[name], spark_[name], digits=12, what=f"{what} {name}")


@pytest.mark.parametrize("params", [
    VERIFIED,
    {**VERIFIED, "scope": "local", "survivor": "longest"},
    {"survivor": "source_priority", "source_priority": ["code", "web"]},  # SlimPajama's recipe: no verification
    {**VERIFIED, "all_pairs_bucket_size": 0, "ngram_unit": "word", "ngram_size": 5},
], ids=["verified-global", "verified-local-longest", "recipe-source-priority", "word-shingles-stars-only"])
def test_the_driver_engine_gives_the_spark_engines_outputs(documents, params):
    driver, spark_ = _outputs(documents, params, "driver"), _outputs(documents, params, "spark")
    _assert_same(driver, spark_, str(params))
    assert driver["duplicates"].count() > 5  # the design has duplicates for each setting to find
    assert driver["rejected"].where(F.col("reason") == "null_id").count() == 1


def test_string_ids_and_an_input_that_is_not_a_plain_scan(documents):
    """A string id (ordered by code point, not as numbers: 'doc-10' < 'doc-9') from a derived frame, which the
    driver engine collects with Spark instead of reading the files."""
    named = documents.withColumn("id", F.concat(F.lit("doc-"), F.col("id").cast("string"))).where(F.col("id") != "doc-3")
    driver, spark_ = _outputs(named, VERIFIED, "driver"), _outputs(named, VERIFIED, "spark")
    _assert_same(driver, spark_, "string ids")
    assert dict(driver["duplicates"].dtypes)["cluster_id"] == "string"


def test_auto_picks_the_driver_only_where_it_can(spark, documents):
    assert in_driver(documents, MinhashParams(), None)
    assert not in_driver(documents, MinhashParams(driver_max_bytes=0), None)
    assert not in_driver(documents, MinhashParams(scope="local-then-global"), None)
    index = spark.createDataFrame([], "id long, band int, bucket long")
    assert not in_driver(documents, MinhashParams(), index)
    assert not in_driver(documents.withColumn("id", F.col("id").cast("double")), MinhashParams(), None)
    with pytest.raises(ConfigError, match="params.engine.*incremental run"):
        in_driver(documents, MinhashParams(engine="driver"), index)
    with pytest.raises(ConfigError, match="params.engine.*local-then-global"):
        in_driver(documents, MinhashParams(engine="driver", scope="local-then-global"), None)


def test_a_run_on_the_driver_engine_commits_its_small_outputs_with_delta_rs(spark, tmp_path):
    docs, _ = generate(seed=3, base_per_source=4)
    root = str(tmp_path)
    lh.write_table(spark.createDataFrame(docs.frame, docs.schema), TableRef.parse("in/documents", root), "setup")
    result = job.run(spark, {"inputs": {"documents": "in/documents"}, "params": VERIFIED}, lakehouse_root=root)
    assert result.status == "success" and result.quality_failures == []
    for name in OUTPUTS:
        log = (tmp_path / "minhash" / name / "_delta_log" / "00000000000000000000.json").read_text()
        assert "delta-rs" in log, name
    assert result.metrics["rows.kept"] + result.metrics["rows.duplicates"] + result.metrics.get("rows.rejected", 0) \
        == len(docs.frame)
