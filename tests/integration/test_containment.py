"""The containment stage on the demo lake (real Delta / Parquet / CSV tables, local Spark).

The demo lake (pipelines/demo_data/lake.py) declares its containments and near-misses; the stage
runs once per module and every test asserts a known answer about it.
"""
from __future__ import annotations

import os
import shutil
from pathlib import Path

import pandas as pd
import pytest
from pyspark.sql import functions as F

import jobs.containment as job
from jobs import containment_apply as ops
from jobs import demo
from jobs.cli import main as cli_main
from pipelines.containment.types import compare_type
from pipelines.core import lakehouse
from pipelines.core.errors import ConfigError, InputNotFoundError, SafetyError
from pipelines.core.tables import TableRef
from pipelines.demo_data import lake as demo_lake

pytestmark = pytest.mark.spark

NO_QUALITY = {"quality": {"enabled": False}}


@pytest.fixture(scope="module")
def lake(spark, tmp_path_factory):
    """The demo lake plus a corrupt Parquet table and a symlink out of the lake; the stage run once."""
    root = tmp_path_factory.mktemp("containment") / "lakehouse"
    demo.write_dataset(spark, root, "lake")
    lake_root = root / "demo" / "lake"
    (lake_root / "bad" / "corrupt").mkdir(parents=True)
    (lake_root / "bad" / "corrupt" / "part-0.parquet").write_bytes(b"PAR1 this is not a parquet file")
    outside = tmp_path_factory.mktemp("outside")
    (outside / "secret.csv").write_text("a,b\n1,2\n")
    os.symlink(outside, lake_root / "linked_out")
    result = job.run(spark, dict(NO_QUALITY, params={
        "costs": {"marts/orders_q1": {"access_per_month": 100000.0},
                  "marts/customers_de": {"latency_limit_s": 1e-7}}}), lakehouse_root=str(root))
    out = {name: lakehouse.read_table(spark, TableRef(path=str(root / "containment" / name))).toPandas()
           for name in ("profile", "edges", "plan", "recipes")}  # small outputs of a 55-table lake
    truth = lakehouse.read_table(spark, TableRef(path=str(lake_root / "_ground_truth"))).toPandas()
    return {"root": root, "lake_root": lake_root, "result": result, "truth": truth, **out}


def _read(spark, lake_root: Path, tid: str):
    return lakehouse.read_table(spark, TableRef(path=str(lake_root / tid)))


def test_ground_truth_is_real(spark, lake):
    """Each designed containment holds on the written tables (Spark exceptAll), each near-miss does not."""
    types = demo_lake.build(0)[0].types
    checks = []
    for parent, child, kind in lake["truth"][["parent", "child", "kind"]].itertuples(index=False):
        pairs = demo_lake.schema_compatible(types[child], types[parent])
        if pairs is None:
            assert kind == "near_miss", (parent, child)
            continue
        p, c = _read(spark, lake["lake_root"], parent), _read(spark, lake["lake_root"], child)
        common = [compare_type(dict(c.dtypes)[a], dict(p.dtypes)[b]) for a, b in pairs]
        c_rows = c.select(*[F.col(a).cast(t).alias(b) for (a, b), t in zip(pairs, common)])
        p_rows = p.select(*[F.col(b).cast(t).alias(b) for (_, b), t in zip(pairs, common)])
        extra = c_rows.exceptAll(p_rows).select(F.to_json(F.struct("*")).alias("row"))
        checks.append((parent, child, kind, extra.select(F.lit(f"{parent}|{child}").alias("pair"), "row")))
    union = checks[0][3]
    for chk in checks[1:]:
        union = union.unionByName(chk[3])
    missing = {r["pair"]: r["count"] for r in union.groupBy("pair").count().collect()}
    for parent, child, kind, _ in checks:
        if kind == "contained":
            assert missing.get(f"{parent}|{child}", 0) == 0, (parent, child)
        else:
            assert missing.get(f"{parent}|{child}", 0) > 0, (parent, child)
    assert len(demo_lake.DESIGNED) >= 25 and len(demo_lake.NEAR_MISSES) >= 10


@pytest.mark.filterwarnings("ignore:createDataFrame attempted Arrow optimization")
def test_demo_frames_take_the_arrow_path(spark):
    """A pd.concat of pandas string columns (several Arrow chunks) reaches Spark through Arrow, with
    its values intact, instead of pyspark's slow row-by-row fallback and its warning."""
    frame = pd.concat([pd.DataFrame({"s": ["a", "b"]}), pd.DataFrame({"s": ["c", None]})], ignore_index=True)
    assert frame["s"].array._pa_array.num_chunks == 2
    fixed = demo._one_chunk_strings(frame)
    assert fixed["s"].array._pa_array.num_chunks == 1 and frame["s"].array._pa_array.num_chunks == 2
    key = "spark.sql.execution.arrow.pyspark.fallback.enabled"
    before = spark.conf.get(key)
    spark.conf.set(key, "false")
    try:
        with pytest.raises(Exception, match="ChunkedArray"):
            spark.createDataFrame(frame, "s string")
        rows = spark.createDataFrame(fixed, "s string").collect()
    finally:
        spark.conf.set(key, before)
    assert [r["s"] for r in rows] == ["a", "b", "c", None]


def test_precision_and_recall_are_one(lake):
    edges, truth = lake["edges"], lake["truth"]
    found = set(map(tuple, edges[edges.reached == "verified"][["parent", "child"]].values))
    expected = set(map(tuple, truth[truth.kind == "contained"][["parent", "child"]].values))
    near = set(map(tuple, truth[truth.kind == "near_miss"][["parent", "child"]].values))
    assert found == expected
    assert not found & near
    assert len(expected) == 72
    equal = set(map(tuple, edges[edges.relation == "equal"][["parent", "child"]].values))
    assert ("sales/orders", "marts/orders_copy") in equal and ("marts/orders_copy", "sales/orders") in equal
    assert ("sales/orders", "marts/orders_eu") not in equal


def test_each_step_prunes_what_it_should(lake):
    e = lake["edges"].set_index(["parent", "child"])
    rule = lambda p, c: e.loc[(p, c), "pruned_by"]  # noqa: E731
    assert rule("sales/orders", "marts/orders_out_of_range") == "minmax:max_above_parent"
    assert rule("web/events_all", "archive/events_mar") == "minmax:min_below_parent" or \
        rule("web/events_all", "archive/events_mar") == "minmax:max_above_parent"
    assert rule("inventory/stock", "marts/stock_negative") == "minmax:min_below_parent"
    assert rule("hr/employees.csv", "hr/salaries_raised") == "minmax:max_above_parent"
    assert rule("sales/orders", "marts/orders_eu_edited") == "content:sample_row_missing"
    assert rule("sales/customers", "backup/customers_edited") == "content:sample_row_missing"
    assert rule("web/events_all", "marts/events_clicks_edited") == "content:sample_row_missing"
    assert rule("sales/order_lines", "marts/order_lines_narrow_edited") == "content:sample_row_missing"
    assert rule("finance/ledger", "finance/ledger_rounded") == "minmax:min_below_parent"  # -4999.96 -> -5000.0
    # a duplicated row passes min-max and the distinct-row sample; only exact bag verification stops it
    assert rule("sales/orders", "marts/orders_eu_dup") == "verification:rows_missing"
    assert e.loc[("sales/orders", "marts/orders_eu_dup"), "rows_child_not_in_parent"] == 1
    # a renamed column never becomes a candidate; an int column read as double is compared by value
    assert ("sales/orders", "marts/orders_renamed") not in e.index
    assert e.loc[("sales/orders", "marts/orders_qty_double"), "reached"] == "verified"
    assert e.loc[("sales/orders", "marts/orders_qty_half"), "pruned_by"] == "content:sample_row_missing"
    m = lake["result"].metrics
    assert m["pairs.schema_candidates"] == len(lake["edges"])
    assert (m["pairs.removed_by_minmax"] + m["pairs.removed_by_content"] + m["pairs.removed_by_verification"]
            + m["pairs.verified"]) == m["pairs.schema_candidates"]
    assert m["pairs.removed_by_schema"] == m["pairs.all"] - m["pairs.schema_candidates"]
    assert m["pairs.removed_by_minmax"] > 0 and m["pairs.removed_by_content"] > 0 and m["pairs.verified"] == 72


def test_profile_reads_statistics_and_skips_bad_tables(lake):
    prof = lake["profile"].set_index("table_id")
    skipped = prof[prof.status == "skipped"].reason.to_dict()
    assert set(skipped) == {"bad/empty_orders", "bad/with_map", "bad/with_binary", "bad/corrupt", "linked_out"}
    assert "empty" in skipped["bad/empty_orders"] and "map" in skipped["bad/with_map"]
    assert "binary" in skipped["bad/with_binary"] and "unreadable parquet" in skipped["bad/corrupt"]
    assert "outside the lake root" in skipped["linked_out"]
    assert prof.loc["sales/orders", "stats_source"] == "delta_log"
    assert prof.loc["sales/customers", "stats_source"] == "parquet_footer"
    assert prof.loc["hr/employees.csv", "stats_source"] == "aggregate"
    assert prof.loc["hr/employees.csv", "size_bytes"] == (lake["lake_root"] / "hr" / "employees.csv").stat().st_size
    assert prof.loc["misc/station_ids", "schema_parents"] == 0 and prof.loc["misc/station_ids", "schema_children"] == 0
    orders = demo_lake.build(0)[0].frames["sales/orders"]
    assert prof.loc["sales/orders", "num_rows"] == len(orders) == 300
    cols = {c["name"]: c for c in prof.loc["sales/orders", "columns"]}
    assert cols["amount"]["min_num"] == orders.amount.min() and cols["amount"]["max_num"] == orders.amount.max()
    assert cols["region"]["min_str"] == "APAC" and cols["region"]["max_str"] == "US"  # partition values
    assert cols["amount"]["null_count"] == 0 and cols["amount"]["min_exact"]


def test_metrics_counted_in_the_driver_equal_sparks(spark, lake):
    """The run counted its metrics with polars on the outputs' Arrow rows; Spark's aggregates over the same
    written outputs give the same numbers, and the designed lake's skipped tables are among them."""
    import deltalake

    from pipelines.containment import stage

    root = lake["root"] / "containment"
    frames = {n: lakehouse.read_table(spark, TableRef(path=str(root / n))) for n in ("profile", "edges", "plan")}
    held = {n: deltalake.DeltaTable(str(root / n)).to_pyarrow_table() for n in frames}
    assert stage._held_counts(held) == stage._spark_counts(frames)
    m = lake["result"].metrics
    counts = stage._spark_counts(frames)
    assert m["pairs.verified"] == counts["verified"] == int((lake["edges"].reached == "verified").sum())
    assert m["tables_skipped"] == counts["tables"] - counts["ok"] == int((lake["profile"].status == "skipped").sum()) > 0
    assert m["plan.deletions"] == int((lake["plan"].action == "delete").sum())


def test_plan_respects_costs_and_recipes_pick_the_cheapest_rebuild(lake):
    plan = lake["plan"].set_index("table_id")
    assert plan.loc["marts/orders_q1", "action"] == "keep"
    assert plan.loc["marts/orders_q1", "reason"] == "kept: rebuild cost exceeds storage saving"
    assert plan.loc["marts/customers_de", "reason"] == "kept: rebuild latency over its limit"
    deleted = plan[plan.action == "delete"]
    assert len(deleted) >= 20
    for tid, row in deleted.iterrows():
        assert plan.loc[row.parent, "action"] == "keep", tid
    assert plan.loc["marts/orders_eu_dup", "action"] == "keep"  # not contained (bag): never deleted
    for near in ("marts/orders_eu_edited", "marts/orders_out_of_range", "backup/customers_edited"):
        assert plan.loc[near, "reason"] == "kept: not contained in another table"
    rec = lake["recipes"].set_index("table_id")
    assert set(rec.index) == set(deleted.index) and lake["result"].metrics["plan.deletions"] == len(deleted)
    assert rec.loc["finance/ledger_2024q1", "kind"] == "filter"
    assert rec.loc["finance/ledger_2024q1", "filter_predicate"] == "`booked` <= DATE '2024-03-29'"
    assert rec.loc["finance/ledger_2024q1", "row_count"] == 59
    assert rec.loc["marts/orders_sample", "kind"] == "row_keys"
    assert sum(k["count"] for k in rec.loc["marts/orders_sample", "row_keys"]) == 40
    assert rec.loc["marts/orders_amounts", "kind"] == "projection"
    assert rec.loc["marts/orders_amounts", "row_count"] == 300
    assert {c["column"]: (c["child_type"], c["parent_type"]) for c in rec.loc["marts/order_lines_narrow", "casts"]} == {
        "line_id": ("int", "bigint"), "qty": ("int", "bigint"), "unit_price": ("float", "double")}
    for _, r in rec.iterrows():
        assert r.parent_version is not None or r.parent_format != "delta"
        assert str(r.checksum).startswith(f"v2:{r.row_count}:")


def test_bad_config_names_the_key_and_nothing_is_written(spark, lake):
    with pytest.raises(ConfigError, match="params.costs.x.nope"):
        job.run(spark, dict(NO_QUALITY, params={"costs": {"x": {"nope": 1}}}), lakehouse_root=str(lake["root"]))
    with pytest.raises(ConfigError, match="params.tables"):
        job.run(spark, dict(NO_QUALITY, params={"tables": ["../../etc"]}), lakehouse_root=str(lake["root"]))
    assert cli_main(["containment", "apply", "--plan", str(lake["root"] / "nope" / "plan")]) == 2
    plan = lakehouse.read_table(spark, TableRef(path=str(lake["root"] / "containment" / "plan")))
    assert plan.count() == len(lake["plan"])  # the failed runs left the outputs as they were


def test_apply_then_restore_gives_the_originals(spark, lake, tmp_path):
    lake_root, root = lake["lake_root"], lake["root"]
    plan_path = str(root / "containment" / "plan")
    rec = lake["recipes"].set_index("table_id")
    chosen = ["finance/ledger_2024q1", "marts/orders_sample", "hr/salaries", "marts/order_lines_narrow"]
    assert {rec.loc[t, "kind"] for t in chosen} == {"filter", "row_keys", "projection"}
    assert {rec.loc[t, "format"] for t in chosen} == {"delta", "parquet"}
    originals = {t: tmp_path / "orig" / t for t in chosen}
    for t, dst in originals.items():
        shutil.copytree(lake_root / t, dst) if (lake_root / t).is_dir() else (
            dst.parent.mkdir(parents=True, exist_ok=True), shutil.copy(lake_root / t, dst))
    assert cli_main(["containment", "apply", "--plan", plan_path]) == 0  # dry run: nothing moves
    assert all((lake_root / t).exists() for t in rec.index)
    moved = ops.apply(spark, plan_path, confirm=True)
    assert sorted(moved) == sorted(rec.index)
    assert not any((lake_root / t).exists() for t in moved)
    assert all(any((lake_root / ops.TRASH).glob(f"apply-*/{t}")) for t in moved)
    for t in chosen:
        ops.restore(spark, str(lake_root), t)
        fmt = rec.loc[t, "format"]
        now = _read(spark, lake_root, t)
        if fmt == "delta":
            before = spark.read.format("delta").load(str(originals[t]))
        elif fmt == "parquet":
            before = spark.read.parquet(str(originals[t]))
        else:
            before = spark.read.option("header", "true").schema(now.schema).csv(str(originals[t]))
        assert now.schema == before.schema or fmt == "csv", t
        assert now.count() == before.count() == rec.loc[t, "row_count"], t
        assert now.exceptAll(before).count() == 0 and before.exceptAll(now).count() == 0, t
    with pytest.raises(InputNotFoundError, match="is not deleted"):
        ops.restore(spark, str(lake_root), chosen[0])  # restored already


def test_apply_refuses_when_the_parent_changed(spark, tmp_path):
    lakehouse_root = tmp_path / "lh"
    lake_root = lakehouse_root / "demo" / "lake"
    parent = spark.createDataFrame([(i, f"r{i % 3}") for i in range(40)], "id bigint, grp string")
    lakehouse.write_table(parent, TableRef(path=str(lake_root / "p")), "setup")
    lakehouse.write_table(parent.where("grp = 'r1'"), TableRef(path=str(lake_root / "c")), "setup")
    result = job.run(spark, NO_QUALITY, lakehouse_root=str(lakehouse_root))
    plan = lakehouse.read_table(spark, TableRef(path=str(lakehouse_root / "containment" / "plan")))
    assert [r["table_id"] for r in plan.where("action = 'delete'").collect()] == ["c"]
    assert result.metrics["pairs.verified"] == 1
    lakehouse.write_table(spark.createDataFrame([(99, "r1")], "id bigint, grp string"),
                          TableRef(path=str(lake_root / "p")), "change", mode="append")
    with pytest.raises(SafetyError, match="parent 'p' of 'c' changed since the plan"):
        ops.apply(spark, str(lakehouse_root / "containment" / "plan"), confirm=True)
    assert (lake_root / "c" / "_delta_log").is_dir() and not (lake_root / ops.TRASH).exists()


def test_a_child_equal_only_up_to_the_sign_of_zero_is_not_contained(spark, tmp_path):
    """-0.0 == 0.0 in Spark's comparisons and grouping, but they are different bits: a child holding -0.0
    where its parent holds 0.0 cannot be rebuilt from it exactly, so it is not contained; NaN is one value."""
    lakehouse_root = tmp_path / "lh"
    lake_root = lakehouse_root / "demo" / "lake"
    parent = spark.createDataFrame([(1, 0.0), (2, float("nan")), (3, 2.5)], "k int, x double")
    lakehouse.write_table(parent, TableRef(path=str(lake_root / "p")), "setup")
    lakehouse.write_table(spark.createDataFrame([(1, -0.0), (3, 2.5)], "k int, x double"),
                          TableRef(path=str(lake_root / "signed")), "setup")
    lakehouse.write_table(spark.createDataFrame([(2, float("nan")), (3, 2.5)], "k int, x double"),
                          TableRef(path=str(lake_root / "nan")), "setup")
    job.run(spark, {**NO_QUALITY, "params": {"costs": {"signed": {"access_per_month": 1e-6},
                                                         "nan": {"access_per_month": 1e-6}}}},
            lakehouse_root=str(lakehouse_root))
    edges = {(r["parent"], r["child"]): r for r in lakehouse.read_table(
        spark, TableRef(path=str(lakehouse_root / "containment" / "edges"))).collect()}
    assert edges[("p", "signed")]["reached"] != "verified"
    assert edges[("p", "nan")]["reached"] == "verified"
    plan = {r["table_id"]: r["action"] for r in lakehouse.read_table(
        spark, TableRef(path=str(lakehouse_root / "containment" / "plan"))).collect()}
    assert plan["signed"] == "keep" and plan["nan"] == "delete"


def test_a_recipe_from_before_checksum_version_2_is_applied_and_restored_by_its_own_rule(spark, tmp_path):
    """Recipes written before 2026-12-08 hold version 1 checksums and row keys (floating point hashed by its
    text): apply and restore verify and rebuild them with version 1, and refuse a version 1 checksum that
    does not match."""
    from pipelines.containment.recipes import checksums
    from pipelines.containment.rowhash import canonical_order, hash_rows

    lakehouse_root = tmp_path / "lh"
    lake_root = lakehouse_root / "demo" / "lake"
    parent = spark.createDataFrame([(i, i * 0.5 - 3.0) for i in range(40)], "k int, x double")
    lakehouse.write_table(parent, TableRef(path=str(lake_root / "p")), "setup")
    child = spark.createDataFrame([(1, -2.5), (7, 0.5), (13, 3.5), (6, 0.0)], "k int, x double")
    lakehouse.write_table(child, TableRef(path=str(lake_root / "c")), "setup")
    job.run(spark, NO_QUALITY, lakehouse_root=str(lakehouse_root))
    recipes_path = str(lakehouse_root / "containment" / "recipes")
    rec = lakehouse.read_table(spark, TableRef(path=recipes_path)).where("table_id = 'c'").first()
    assert rec["kind"] == "row_keys" and rec["checksum"].startswith("v2:4:")
    cols = canonical_order(rec["columns"])
    stored = _read(spark, lake_root, "c").select(*cols)
    v1 = checksums({"c": stored}, {"c": 1})["c"][1]
    keys = hash_rows(stored, cols, version=1).groupBy("row_hash").count().orderBy("row_hash").collect()
    v1_keys = "array(" + ", ".join(f"named_struct('row_hash', CAST({r['row_hash']} AS BIGINT), 'count', "
                                   f"CAST({r['count']} AS BIGINT))" for r in keys) + ")"

    def update(checksum: str) -> None:
        spark.sql(f"UPDATE delta.`{recipes_path}` SET checksum = '{checksum}', row_keys = {v1_keys} "
                  "WHERE table_id = 'c'")

    update("4:1:2")  # a version 1 checksum that does not match
    with pytest.raises(SafetyError, match="checksum of the rebuild"):
        ops.apply(spark, str(lakehouse_root / "containment" / "plan"), confirm=True)
    assert (lake_root / "c" / "_delta_log").is_dir()
    update(v1)
    assert ops.apply(spark, str(lakehouse_root / "containment" / "plan"), confirm=True) == ["c"]
    assert not (lake_root / "c").exists()
    ops.restore(spark, str(lake_root), "c")
    back = _read(spark, lake_root, "c")
    assert back.exceptAll(child).count() == 0 and child.exceptAll(back).count() == 0
