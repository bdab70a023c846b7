"""The driver engine's exactness rules on designed Arrow tables (no JVM): the bit pattern of a double decides
(-0.0 is not 0.0, every NaN is one value), nulls match nulls, widths of one family compare by value, and
multiplicities count."""
from __future__ import annotations

import math

import pyarrow as pa

from pipelines.containment import content, verify
from pipelines.containment.driver_views import DriverViews, needs, spark_conversion
from pipelines.containment.graph import Edge
from pipelines.containment.views import parent_view


class Tables:
    """An ArrowSource over in-memory tables; records what it was asked for."""

    def __init__(self, tables: dict[str, pa.Table]):
        self.tables, self.asked = tables, []

    def read_arrow(self, table, columns, expressions):
        self.asked.append((table, tuple(columns), dict(expressions)))
        assert not expressions, "no Spark conversion is needed between these types"
        return self.tables[table].select(list(columns))


def _edge(parent: str, child: str, cols: list[str], ctypes: list[str], ptypes: list[str]) -> Edge:
    return Edge(parent, child, tuple(cols), tuple(cols), tuple(ctypes), tuple(ptypes))


def _run(tables: dict[str, pa.Table], edges: list[Edge]) -> dict[tuple[str, str], tuple]:
    source = Tables(tables)
    views = DriverViews(source, edges)
    content.prune(edges, views, {t: tables[t].num_rows for t in tables}, sample_rows=10_000)
    verify.verify(edges, views, "bag")
    assert len(source.asked) == len({t for e in edges for t in (e.parent, e.child)})  # one read per table
    return {e.key: (e.reached if e.alive else e.pruned_by, e.relation, e.rows_child_not_in_parent,
                    e.rows_parent_not_in_child) for e in edges}


def test_doubles_compare_bit_for_bit_and_nulls_match():
    parent = pa.table({"d": pa.array([1.5, -0.0, math.nan, None, 2.0], pa.float64()),
                       "k": pa.array([1, 2, 3, 4, 5], pa.int64())})
    tables = {
        "p": parent,
        "same_bits_f32": pa.table({"d": pa.array([1.5, -0.0, float("nan"), None], pa.float32()),
                                   "k": pa.array([1, 2, 3, 4], pa.int32())}),
        "plus_zero": pa.table({"d": pa.array([1.5, 0.0], pa.float64()), "k": pa.array([1, 2], pa.int64())}),
        "twice": pa.table({"d": pa.array([2.0, 2.0], pa.float64()), "k": pa.array([5, 5], pa.int64())}),
        "copy": parent,
    }
    edges = [_edge("p", "same_bits_f32", ["d", "k"], ["float", "int"], ["double", "bigint"]),
             _edge("p", "plus_zero", ["d", "k"], ["double", "bigint"], ["double", "bigint"]),
             _edge("p", "twice", ["d", "k"], ["double", "bigint"], ["double", "bigint"]),
             _edge("p", "copy", ["d", "k"], ["double", "bigint"], ["double", "bigint"])]
    got = _run(tables, edges)
    assert got[("p", "same_bits_f32")] == ("verified", "contained", 0, 1)
    # +0.0 is not the parent's -0.0: pruned (by the sample, which holds every row of a 2-row child)
    assert got[("p", "plus_zero")][0] == "content:sample_row_missing"
    assert got[("p", "twice")][0] == "verification:rows_missing" and got[("p", "twice")][2] == 1
    assert got[("p", "copy")] == ("verified", "equal", 0, 0)


def test_decimals_dates_and_timestamps_compare_by_value():
    import datetime as dt
    from decimal import Decimal

    ts = [dt.datetime(2024, 1, 1, 12, 0, 0, 5), dt.datetime(1969, 12, 31, 23, 59, 59)]
    parent = pa.table({"m": pa.array([Decimal("1.50"), Decimal("-2.00")], pa.decimal128(10, 2)),
                       "t": pa.array(ts, pa.timestamp("us", tz="UTC")),
                       "day": pa.array([dt.date(2024, 1, 1), dt.date(1900, 3, 1)], pa.date32())})
    child = pa.table({"m": pa.array([Decimal("-2.000")], pa.decimal128(12, 3)),
                      "t": pa.array([ts[1]], pa.timestamp("us", tz="UTC")),
                      "day": pa.array([dt.date(1900, 3, 1)], pa.date32())})
    wrong_day = child.set_column(2, "day", pa.array([dt.date(1900, 3, 2)], pa.date32()))
    edges = [_edge("p", "c", ["day", "m", "t"], ["date", "decimal(12,3)", "timestamp"],
                   ["date", "decimal(10,2)", "timestamp"]),
             _edge("p", "w", ["day", "m", "t"], ["date", "decimal(12,3)", "timestamp"],
                   ["date", "decimal(10,2)", "timestamp"])]
    got = _run({"p": parent, "c": child, "w": wrong_day}, edges)
    assert got[("p", "c")] == ("verified", "contained", 0, 1)
    assert got[("p", "w")][0] == "content:sample_row_missing"


def test_text_conversions_are_left_to_spark():
    """Parsing text and rendering a typed value as text are Spark's definitions: the driver asks Spark for them."""
    assert spark_conversion("string", "int") == "try_cast({q} AS int)"
    assert spark_conversion("double", "string") == "CAST({q} AS string)"
    assert spark_conversion("int", "bigint") is None and spark_conversion("float", "double") is None
    assert spark_conversion("bigint", "string") is None and spark_conversion("boolean", "string") is None
    assert spark_conversion("date", "string") == "CAST({q} AS string)"
    e = _edge("p", "c", ["id"], ["int"], ["string"])
    need = needs([parent_view(e)])
    assert need.columns == ("id",)  # the stored text too: text that does not parse is flagged
    assert [sql for _, sql in need.expressions] == ["try_cast(`id` AS int)"]


def test_engine_choice_and_its_config_keys():
    import pytest

    from pipelines.containment.config import ContainmentParams
    from pipelines.containment.pipeline import LakeSnapshot, choose_engine
    from pipelines.core.config import build_config
    from pipelines.core.errors import ConfigError

    live = [_edge("p", "c", ["id"], ["int"], ["bigint"])]
    rows = {"p": 600, "c": 400}
    with_source = LakeSnapshot(None, "/lake", [], {}, arrow=Tables({}))
    without = LakeSnapshot(None, "/lake", [], {})
    assert choose_engine(ContainmentParams(driver_max_rows=1000), with_source, live, rows) == "driver"
    assert choose_engine(ContainmentParams(driver_max_rows=999), with_source, live, rows) == "spark"
    assert choose_engine(ContainmentParams(), without, live, rows) == "spark"
    assert choose_engine(ContainmentParams(engine="spark"), with_source, live, rows) == "spark"
    with pytest.raises(ConfigError, match="params.engine"):
        choose_engine(ContainmentParams(engine="driver"), without, live, rows)
    with pytest.raises(ConfigError, match="'params.engine': 'gpu' is not valid"):
        build_config(ContainmentParams, {"engine": "gpu"})
    with pytest.raises(ConfigError, match="'params.driver_max_rows': -1 is out of range"):
        build_config(ContainmentParams, {"driver_max_rows": -1})
