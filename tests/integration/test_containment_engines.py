"""The two engines of content pruning and verification give the same answers (engine 'spark': the views
aggregated on the executors; 'driver': each table read once as Arrow and counted with polars).

A designed lake with every way a value may be read: Parquet written by pyarrow (float32, int32, -0.0,
NaN, nulls, decimals of two scales, timestamps, dates), a Delta table partitioned by Spark (partition
values from folder names), a CSV whose types Spark infers (read through Spark's toArrow), text ids
against integer ids in both directions (Spark's cast to text, Spark's try_cast from text, text that does
not parse). The verified containments are known from the design; both engines must find exactly them,
and write the same edges, plan and recipes.
"""
from __future__ import annotations

import datetime as dt
import math
from decimal import Decimal
from pathlib import Path

import pandas as pd
import pyarrow as pa
import pyarrow.parquet as pq
import pytest

import jobs.containment as job
from pipelines.core import lakehouse
from pipelines.core.tables import TableRef

pytestmark = pytest.mark.spark

N = 12


def _pq(path: Path, table: pa.Table) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    pq.write_table(table, path)


def _base() -> pa.Table:
    d = [1.5, -0.0, math.nan, None] + [k * 0.25 for k in range(N - 4)]
    return pa.table({
        "id": pa.array(range(1, N + 1), pa.int64()),
        "d": pa.array(d, pa.float64()),
        "m": pa.array([Decimal(k) / 4 for k in range(N)], pa.decimal128(10, 2)),
        "t": pa.array([dt.datetime(2024, 1, 1) + dt.timedelta(seconds=k * 3601, microseconds=k) for k in range(N)],
                      pa.timestamp("us", tz="UTC")),
        "day": pa.array([dt.date(2024, 1, 1) + dt.timedelta(days=k % 3) for k in range(N)], pa.date32()),
        "s": pa.array([f"s{k}" if k != 5 else None for k in range(N)], pa.string())})


# parent, child: the designed verified containments (both directions listed for equal copies)
DESIGNED = {
    ("e/base.parquet", "e/narrow.parquet"), ("e/base.parquet", "e/nan_rows.parquet"),
    ("e/base.parquet", "e/m_wide.parquet"), ("e/base.parquet", "e/part_delta"),
    ("e/part_delta", "e/narrow_ids.parquet"), ("e/base.parquet", "e/narrow_ids.parquet"),
    ("e/base.parquet", "e/ids.csv"), ("e/part_delta", "e/ids.csv"),
    ("e/ids.csv", "e/narrow_ids.parquet"), ("e/base.parquet", "e/id_text.parquet"),
    ("e/part_delta", "e/id_text.parquet"), ("e/ids.csv", "e/id_text.parquet"),
    ("e/text_ids.parquet", "e/ids_parsed.parquet"), ("e/text_pad.parquet", "e/ids_parsed.parquet"),
    ("e/m_wide.parquet", "e/nan_rows.parquet"),
    ("e/narrow.parquet", "e/narrow_ids.parquet"), ("e/id_text.parquet", "e/narrow_ids.parquet"),
    ("e/narrow.parquet", "e/id_text.parquet"), ("e/narrow_ids.parquet", "e/id_text.parquet"),
    ("e/base.parquet", "e/d_high.parquet"), ("e/base.parquet", "e/odd_ids.parquet"), ("e/part_delta", "e/odd_ids.parquet"),
    ("e/ids.csv", "e/odd_ids.parquet"), ("e/narrow.parquet", "e/odd_ids.parquet"),
}


@pytest.fixture(scope="module")
def runs(spark, tmp_path_factory):
    root = tmp_path_factory.mktemp("engines") / "lake"
    base = _base()
    _pq(root / "e/base.parquet", base)
    first = base.slice(0, 6)
    _pq(root / "e/narrow.parquet", pa.table({"id": first["id"].cast(pa.int32()), "d": first["d"].cast(pa.float32())}))
    _pq(root / "e/plus_zero.parquet", pa.table({"id": pa.array([2], pa.int64()), "d": pa.array([0.0])}))  # base: -0.0
    _pq(root / "e/nan_rows.parquet", pa.table({"d": pa.array([math.nan, math.nan, None]),
                                               "m": pa.array([Decimal("0.5"), Decimal("0.5"), Decimal("0.75")],
                                                             pa.decimal128(10, 2))}).slice(0, 1))
    _pq(root / "e/m_wide.parquet", pa.table({"d": base["d"], "m": base["m"].cast(pa.decimal128(14, 4))}))
    _pq(root / "e/t_off.parquet", pa.table({"t": pa.array([dt.datetime(2024, 1, 1, 0, 0, 0, 1)],
                                                          pa.timestamp("us", tz="UTC"))}))  # one microsecond off
    pdf = base.select(["id", "day", "s"]).to_pandas()
    spark.createDataFrame(pdf, "id bigint, day date, s string").write.format("delta").partitionBy("day").save(
        str(root / "e/part_delta"))
    wide = pd.DataFrame({f"w{k:02d}": [k + 0.5, -k, None] for k in range(40)})  # Delta: statistics of 32 columns
    wide["w39"] = [None, 1.0, 2.0]
    spark.createDataFrame(wide).write.format("delta").save(str(root / "e/wide_delta"))
    _pq(root / "e/narrow_ids.parquet", pa.table({"id": pa.array([1, 2, 3], pa.int32())}))
    # the rows with d >= 1.0 and the NaN row: Spark's filter d >= 1.0 keeps NaN (above every number)
    high = base.select(["id", "d"]).take([0, 2, 8, 9, 10, 11])
    _pq(root / "e/d_high.parquet", high)
    _pq(root / "e/odd_ids.parquet", pa.table({"id": pa.array([5, 1, 3], pa.int64())}))  # no range filter: row keys
    pd.DataFrame({"id": range(1, 8)}).to_csv(root / "e/ids.csv", index=False)  # Spark infers int
    (root / "e/stats.csv").write_text(  # profiled in the driver (engine driver) or by a Spark aggregate: the same
        "xv,label,day,ts\n1.5,b,2024-01-02,2024-01-02 03:04:05\nNaN,\u00e9t\u00e9,1969-12-31,1969-12-31 23:59:59.5\n"
        ",Z,,\n-0.0,a,2024-01-01,2024-01-01 00:00:00\n-Inf,,2000-02-29,2000-02-29 12:00:00\n", encoding="utf-8")
    _pq(root / "e/id_text.parquet", pa.table({"id": pa.array(["1", "2", "3"], pa.string())}))  # text vs typed ids
    _pq(root / "e/text_ids.parquet", pa.table({"n": pa.array(["10", "x", "30", None], pa.string())}))
    # text Spark trims before parsing (' 10'): the driver engine leaves its parsing to Spark
    _pq(root / "e/text_pad.parquet", pa.table({"n": pa.array([" 10", "30 ", None, "x"], pa.string())}))
    _pq(root / "e/ids_parsed.parquet", pa.table({"n": pa.array([10, 30, None], pa.int64())}))
    _pq(root / "e/ids_unparsed.parquet", pa.table({"n": pa.array([10, None, None], pa.int64())}))  # one null only
    out = {"root": root}
    for engine in ("spark", "driver"):
        house = root.parent / f"house_{engine}"
        result = job.run(spark, {"inputs": {"lake": str(root)}, "quality": {"enabled": False},
                                 "params": {"engine": engine}}, lakehouse_root=str(house))
        out[engine] = {n: lakehouse.read_table(spark, TableRef(path=str(house / "containment" / n))).toPandas()
                       for n in ("profile", "edges", "plan", "recipes")}
        out[engine]["result"] = result
    return out


def profile_columns(run, table: str) -> list[dict]:
    row = run["profile"].set_index("table_id").loc[table]
    return [dict(c) for c in row["columns"]]


def _answers(edges: pd.DataFrame) -> dict:
    """Per edge: alive or not, and for verified edges the relation and the counts (the content sample's size
    and which step pruned an edge may differ between engines; whether it survives may not)."""
    return {(r.parent, r.child): (r.reached == "verified", r.relation,
                                  r.rows_child_not_in_parent if r.reached == "verified" else None,
                                  r.rows_parent_not_in_child if r.reached == "verified" else None)
            for r in edges.itertuples()}


@pytest.mark.parametrize("engine", ["spark", "driver"])
def test_each_engine_finds_the_designed_containments(runs, engine):
    edges = runs[engine]["edges"]
    verified = set(map(tuple, edges[edges.reached == "verified"][["parent", "child"]].values))
    assert verified == DESIGNED
    metrics = runs[engine]["result"].metrics
    assert metrics.get("views.engine_driver") == (1 if engine == "driver" else 0)
    if engine == "driver":
        # Parquet files read with pyarrow, the CSVs kept from profiling (ids.csv read by pipelines.core.spark_csv),
        # text parsed as integers in the driver; only text_pad.parquet, whose ' 10' Spark trims, is read by Spark
        assert metrics["views.tables_read_by_pyarrow"] >= 4 and metrics["views.tables_read_by_spark"] == 1
        assert metrics["views.tables_read_by_kept"] == 2


def test_both_engines_write_the_same_profile_edges_plan_and_recipes(runs):
    spark_run, driver_run = runs["spark"], runs["driver"]

    def profile(run):
        return {r.table_id: (r.status, r.num_rows, r.stats_source, [tuple(c.values()) for c in r.columns])
                for r in run["profile"].itertuples()}

    assert profile(driver_run) == profile(spark_run)  # CSV statistics from Arrow in the driver = Spark's aggregate
    stats = {c["name"]: c for c in profile_columns(driver_run, "e/stats.csv")}
    assert stats["xv"]["data_type"] == "double" and stats["xv"]["null_count"] == 1
    # -Inf is no finite bound and a NaN leaves no max bound (Spark orders NaN above every number)
    assert stats["xv"]["min_num"] is None and stats["xv"]["max_num"] is None
    assert (stats["day"]["data_type"], stats["day"]["min_num"], stats["day"]["max_num"]) == ("date", -1.0, 19724.0)
    wide = {c["name"]: c for c in profile_columns(driver_run, "e/wide_delta")}
    assert (wide["w00"]["stats_source"], wide["w35"]["stats_source"]) == ("delta_log", "aggregate")
    assert (wide["w35"]["min_num"], wide["w35"]["max_num"], wide["w35"]["null_count"]) == (-35.0, 35.5, 1)
    assert (wide["w39"]["min_num"], wide["w39"]["max_num"], wide["w39"]["null_count"]) == (1.0, 2.0, 1)
    assert (stats["label"]["min_str"], stats["label"]["max_str"]) == ("Z", "\u00e9t\u00e9")  # byte order
    assert _answers(driver_run["edges"]) == _answers(spark_run["edges"])
    cols = ["table_id", "action", "parent", "reason"]
    assert (driver_run["plan"][cols].sort_values("table_id").reset_index(drop=True)
            .equals(spark_run["plan"][cols].sort_values("table_id").reset_index(drop=True)))
    def recipes(run):
        return {r.table_id: (r.parent, r.kind, r.filter_predicate, r.row_count, r.checksum,
                             None if r.row_keys is None else [(k["row_hash"], k["count"]) for k in r.row_keys])
                for r in run["recipes"].itertuples()}

    assert recipes(driver_run) == recipes(spark_run)
    assert recipes(spark_run)["e/d_high.parquet"][1:3] == ("filter", "`d` >= CAST('1.0' AS DOUBLE)")
    kinds = {v[1] for v in recipes(spark_run).values()}
    assert {"projection", "filter", "row_keys"} <= kinds, kinds


def test_csv_rows_are_kept_in_the_driver_only_within_their_budget(spark, runs, monkeypatch):
    """Past CSV_KEPT_MAX_BYTES a CSV is still profiled in the driver, but its rows are not kept: the driver
    engine reads it again through Spark, with the same values."""
    from jobs import containment_lake

    monkeypatch.setattr(containment_lake, "CSV_KEPT_MAX_BYTES", 0)
    profiles, tables = containment_lake.build_lake(spark, str(runs["root"]), (), True)
    got = {p.table_id: p for p in profiles}["e/stats.csv"]
    assert got.ok and [tuple(c.__dict__.values()) for c in got.columns] == [
        tuple(c.values()) for c in profile_columns(runs["driver"], "e/stats.csv")]
    ids = tables.read_arrow("e/ids.csv", ["id"], {})
    assert sorted(ids.column("id").to_pylist()) == list(range(1, 8))
    assert tables.arrow_reads == {"pyarrow": 0, "spark": 1, "kept": 0}


# text read as an integer: computed in the driver when every text is a plain integer or holds no ASCII digit
CERTAIN_TEXTS = ["10", "+7", "-0", "007", "x", "NA", "", None, "9223372036854775807", "\u0663", "-"]
LEFT_TO_SPARK = [" 12", "1.0", "12abc", "99999999999999999999", "1e3"]


def test_text_parsed_as_integers_in_the_driver_is_sparks_try_cast(spark):
    from pipelines.containment.driver_views import driver_conversion

    got = driver_conversion(pa.array(CERTAIN_TEXTS, pa.string()), "string", "bigint")
    df = spark.createDataFrame([(t,) for t in CERTAIN_TEXTS], "s string")
    want = [r[0] for r in df.selectExpr("try_cast(s AS bigint)").collect()]
    assert got.to_pylist() == want == [10, 7, 0, 7, None, None, None, None, 9223372036854775807, None, None]
    assert driver_conversion(pa.array(["127", "x"]), "string", "tinyint").to_pylist() == [127, None]
    for text in LEFT_TO_SPARK:
        assert driver_conversion(pa.array(["1", text]), "string", "bigint") is None, text
    assert driver_conversion(pa.array(["128"]), "string", "tinyint") is None  # out of range: Spark decides
    assert driver_conversion(pa.array(["1.5"]), "string", "double") is None  # only integers are done here


def test_checksums_in_the_driver_are_sparks_and_see_the_sign_of_zero(spark):
    """Version 2 checksums (floating point by its bits and a negative-zero flag): the driver's (no Spark job
    for a table without decimals) equal Spark's; -0.0 against 0.0 and a float against its double are told
    apart or not exactly as the values are; a version 1 checksum (no prefix) is still computed by its rule."""
    from pipelines.containment import sparkhash
    from pipelines.containment.recipes import checksums
    from pipelines.containment.rowhash import checksum_version

    types = {"f": "float", "d": "double", "i": "int", "s": "string", "day": "date"}
    table = pa.table({"f": pa.array([1.5, -0.0, None, math.inf], pa.float32()),
                      "d": pa.array([-0.0, math.nan, 0.1, None]), "i": pa.array([1, None, 3, 4], pa.int32()),
                      "s": pa.array(["a", None, "é", ""]),
                      "day": pa.array([dt.date(2024, 1, 1), None, dt.date(1969, 12, 31), dt.date(2000, 2, 29)])})
    ddl = "f float, d double, i int, s string, day date"

    def both(t: pa.Table, version: int = 2):
        cols = sorted(types)
        mine = sparkhash.checksums(spark, {"t": t}, {"t": cols}, {"t": types})[0]["t"][1] if version == 2 else None
        df = spark.createDataFrame(t.to_pylist(), ddl)
        theirs = checksums({"t": df.select(*cols)}, {"t": version})["t"][1]
        return mine, theirs

    mine, theirs = both(table)
    assert mine == theirs and theirs.startswith("v2:4:") and checksum_version(theirs) == 2
    zero = table.set_column(1, "d", pa.array([0.0, math.nan, 0.1, None]))
    assert both(zero)[0] == both(zero)[1] != mine  # -0.0 made 0.0: another checksum
    v1 = both(table, version=1)[1]
    assert checksum_version(v1) == 1 and not v1.startswith("v") and v1.startswith("4:") and v1 != theirs
