"""ct-reduce end to end on local Spark + real Delta, with designed volumes whose answer is known.

Volume A: 3 runs of near-identical slices (lengths 4, 3, 5: slice indices 1..12), rows given in
lexicographic id order (A-s1, A-s10, A-s11, A-s12, A-s2, ...). Hash-6 keeps exactly A-s1, A-s5, A-s8.
Volume B: 2 runs (3, 4: indices 1..7) plus a truncated PNG (B-s8) and a row without a slice index.
Volume C: two slices that repeat A's second run (so only the across-volume variant drops them) and
one new slice.
"""
from __future__ import annotations

import math
from pathlib import Path

import pytest
from pyspark.sql import functions as F

from jobs import ct_reduce
from jobs.cli import main as cli_main
from pipelines.core import lakehouse, ledger
from pipelines.core.errors import ConfigError, SchemaContractError
from pipelines.core.tables import TableRef
from pipelines.ct_reduce.config import CtReduceParams
from pipelines.ct_reduce.transform import transform
from pipelines.demo_data.volumes import encode_png, volume_runs

pytestmark = pytest.mark.spark

SCHEMA = "id string, volume_id string, slice_index int, image binary"
OFF = {"enabled": False}


def _designed_rows():
    a_pixels, _, _ = volume_runs(seed=11, run_lengths=[4, 3, 5])
    b_pixels, _, _ = volume_runs(seed=12, run_lengths=[3, 4])
    c_new, _, _ = volume_runs(seed=13, run_lengths=[1])
    rows = [(f"A-s{i + 1}", "A", i + 1, encode_png(p)) for i, p in enumerate(a_pixels)]
    rows += [(f"B-s{i + 1}", "B", i + 1, encode_png(p)) for i, p in enumerate(b_pixels)]
    rows += [("B-s8", "B", 8, encode_png(b_pixels[0])[:50]), ("B-none", "B", None, encode_png(b_pixels[1]))]
    rows += [("C-s1", "C", 1, encode_png(a_pixels[4])), ("C-s2", "C", 2, encode_png(a_pixels[5])),
             ("C-s3", "C", 3, encode_png(c_new[0]))]
    rows.sort(key=lambda r: r[0])  # lexicographic: A-s1, A-s10, A-s11, A-s12, A-s2, ...
    return rows, a_pixels


@pytest.fixture(scope="module")
def designed(spark):
    rows, a_pixels = _designed_rows()
    return spark.createDataFrame(rows, SCHEMA), a_pixels


@pytest.fixture(scope="module")
def stage_run(spark, designed, tmp_path_factory):
    """One run of the stage through the runner (Hash-6, within volumes) on the designed slices."""
    root = str(tmp_path_factory.mktemp("ct_lake"))
    lakehouse.write_table(designed[0], TableRef.parse("in/slices", root), "setup")
    result = ct_reduce.run(spark, {"inputs": {"slices": "in/slices"}, "quality": OFF}, lakehouse_root=root)
    read = {name: lakehouse.read_table(spark, TableRef.parse(f"ct-reduce/{name}", root)).toPandas()
            for name in ("selected", "volume_stats", "rejected")}
    return root, result, read


def _decisions(df):
    pdf = df.toPandas().sort_values(["volume_id", "slice_index", "id"]).reset_index(drop=True)
    return pdf


def test_hash6_keeps_exactly_the_first_slice_of_each_run(stage_run):
    _, result, out = stage_run
    assert result.status == "success"
    selected = out["selected"].set_index("id")
    assert sorted(selected.index[selected.kept]) == ["A-s1", "A-s5", "A-s8", "B-s1", "B-s4", "C-s1", "C-s3"]
    refs = selected["reference_id"].to_dict()
    assert [refs[f"A-s{i}"] for i in range(1, 13)] == ["A-s1"] * 4 + ["A-s5"] * 3 + ["A-s8"] * 5
    assert [refs[f"B-s{i}"] for i in range(1, 8)] == ["B-s1"] * 3 + ["B-s4"] * 4
    assert refs["C-s2"] == "C-s1"
    dropped = selected[~selected.kept]
    assert (dropped.distance <= 6).all() and (dropped.distance >= 0).all()
    assert (selected.loc[selected.kept, "distance"] == 0).all()
    assert set(selected.strategy) == {"hash"}
    assert result.metrics["kept"] == 7 and result.metrics["rejected"] == 2 and result.metrics["decided"] == 22


def test_volume_stats_and_rejected_rows(spark, stage_run):
    root, result, out = stage_run
    stats = out["volume_stats"].set_index("volume_id")
    assert stats.loc["A", ["slices_in", "rejected", "kept"]].tolist() == [12, 0, 3]
    assert stats.loc["B", ["slices_in", "rejected", "kept"]].tolist() == [9, 2, 2]
    assert stats.loc["C", ["slices_in", "rejected", "kept"]].tolist() == [3, 0, 2]
    assert stats.loc["A", "ratio"] == pytest.approx(3 / 12)
    rejected = out["rejected"].set_index("id")["reason"].to_dict()
    assert set(rejected) == {"B-s8", "B-none"}
    assert rejected["B-none"] == "null slice_index"
    assert rejected["B-s8"].startswith("undecodable image:") and " at 0x" not in rejected["B-s8"]
    assert ledger.latest_states(spark, root).first()["status"] == "success"


def test_every_n_keeps_ceil_count_over_n_in_index_order(designed):
    params = CtReduceParams(strategy="every-n", every_n=5)
    selected = _decisions(transform({"slices": designed[0]}, params)["selected"])
    for volume, count in (("A", 12), ("B", 7), ("C", 3)):
        kept = selected[(selected.volume_id == volume) & selected.kept]
        assert len(kept) == math.ceil(count / 5)
        assert kept["slice_index"].tolist() == list(range(1, count + 1, 5))


def test_results_are_identical_across_partitionings_and_row_orders(designed):
    df = designed[0]
    for params in (CtReduceParams(), CtReduceParams(scope="dataset")):
        one = _decisions(transform({"slices": df.repartition(1)}, params)["selected"])
        many = _decisions(transform({"slices": df.repartition(5, F.rand(seed=3))}, params)["selected"])
        assert one.equals(many)


def test_across_volume_variant_drops_repeats_of_other_volumes(designed):
    selected = _decisions(transform({"slices": designed[0]}, CtReduceParams(scope="dataset"))["selected"])
    by_id = selected.set_index("id")
    assert sorted(by_id.index[by_id.kept]) == ["A-s1", "A-s5", "A-s8", "B-s1", "B-s4", "C-s3"]
    assert by_id.loc["C-s1", "reference_id"] == "A-s5" and by_id.loc["C-s2", "reference_id"] == "A-s5"


def test_ssim_nmi_and_embedding_strategies_keep_one_slice_per_run(designed):
    only_a = designed[0].where("volume_id = 'A'")
    for strategy in ("ssim", "nmi", "embedding"):
        selected = _decisions(transform({"slices": only_a}, CtReduceParams(strategy=strategy))["selected"])
        assert selected.loc[selected.kept, "id"].tolist() == ["A-s1", "A-s5", "A-s8"], strategy


def test_path_and_pixel_sources_decide_like_image_bytes(spark, designed, tmp_path):
    a_pixels = designed[1]
    paths = []
    for i, pix in enumerate(a_pixels):
        path = tmp_path / f"A_{i + 1}.png"
        path.write_bytes(encode_png(pix))
        paths.append((f"A-s{i + 1}", "A", i + 1, str(path), [[float(v) for v in row] for row in pix]))
    df = spark.createDataFrame(paths, "id string, volume_id string, slice_index int, path string, "
                                      "pixels array<array<double>>")
    for source in ("path", "pixels"):
        selected = _decisions(transform({"slices": df}, CtReduceParams(source=source))["selected"])
        assert selected.loc[selected.kept, "id"].tolist() == ["A-s1", "A-s5", "A-s8"], source


def test_bad_input_is_a_named_error(spark, designed, lakehouse):
    df = designed[0]
    with pytest.raises(SchemaContractError, match="no column 'image'"):
        transform({"slices": df.withColumnRenamed("image", "png")}, CtReduceParams())
    with pytest.raises(SchemaContractError, match="'slice_index'.*integer"):
        transform({"slices": df.withColumn("slice_index", F.col("slice_index").cast("string"))}, CtReduceParams())
    with pytest.raises(SchemaContractError, match="'pixels'.*array<array<numeric>>"):
        transform({"slices": df.withColumn("pixels", F.lit("x"))}, CtReduceParams(source="pixels"))
    with pytest.raises(ConfigError, match="params.scope"):
        ct_reduce.run(spark, {"params": {"scope": "dataset", "strategy": "ssim"}}, lakehouse_root=lakehouse)
    with pytest.raises(ConfigError, match="params.hamming_threshold"):
        ct_reduce.run(spark, {"params": {"hamming_threshold": 65}}, lakehouse_root=lakehouse)
    assert cli_main(["run", "ct-reduce", "--lakehouse", lakehouse, "--set", "strategy=nope"]) == 2
    assert not (Path(lakehouse) / "ct-reduce").exists()  # config errors write nothing


@pytest.mark.slow
def test_demo_config_with_its_quality_suite_on_the_demo_volumes(spark, tmp_path):
    """The shipped YAML on the `lakesieve demo` volumes, GX suite on: Hash-6 keeps exactly the
    ground truth's distinct slices, and every expectation passes."""
    from jobs import demo
    from jobs.runner import quality_ref

    root = str(tmp_path / "lake")
    demo.write_dataset(spark, root, "volumes")
    config = Path(ct_reduce.__file__).parent / "configs" / "ct_reduce.yaml"
    result = ct_reduce.run(spark, str(config), lakehouse_root=root)
    assert result.status == "success" and result.quality_failures == []
    truth = lakehouse.read_table(spark, TableRef.parse("demo/volumes/truth", root)).toPandas()
    selected = lakehouse.read_table(spark, TableRef.parse("ct-reduce/selected", root)).toPandas()
    assert sorted(selected.loc[selected.kept, "id"]) == sorted(truth.loc[truth.distinct, "id"])
    quality = lakehouse.read_table(spark, quality_ref(root)).where(F.col("run_id") == result.run_id).toPandas()
    assert len(quality) >= 10 and quality["success"].all()
