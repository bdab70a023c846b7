"""Views: each table's rows as one edge side reads them, for every edge at once (one scan per table).

A *view* is a table projected onto an edge's columns in the edge's compare types
(:func:`pipelines.containment.types.compare_type`), with a flag per parsed text column (text that did
not parse matches nothing). Content pruning and exact verification each need, for every live edge,
the child's view and the parent's view. Instead of one Spark job per batch of edges (each scanning its
tables again), :func:`rows_by_view` reads every table **once**, emits all its views from that one
scan (``explode`` of an array of (view id, encoded row)), and counts rows per (view, encoded row) in
one aggregation; edges are then answered by joining the child's counts with the parent's. The
number of Spark jobs per step is therefore fixed (one per ``tables_per_job`` tables, and one join),
not proportional to the number of tables or edges (R2D2 §4: the steps are the same; this is how they
are batched).
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Mapping, Sequence

from pyspark.sql import Column, DataFrame
from pyspark.sql import functions as F
from pyspark.sql import types as T

from pipelines.containment.graph import Edge
from pipelines.containment.rowhash import exact_float
from pipelines.containment.types import parses, spark_type


@dataclass(frozen=True)
class View:
    """``table``'s ``columns`` (of types ``types``) read in ``compare_types``; ``parsed[i]``: the edge
    parses the parent's text in column i (both sides then carry the flag ``u<i>``)."""

    table: str
    columns: tuple[str, ...]
    types: tuple[str, ...]
    compare_types: tuple[str, ...]
    parsed: tuple[bool, ...]


def _parsed(e: Edge) -> tuple[bool, ...]:
    return tuple(parses(pt, ct) for pt, ct in zip(e.parent_types, e.compare_types))


def child_view(e: Edge) -> View:
    return View(e.child, tuple(e.columns), tuple(e.child_types), tuple(e.compare_types), _parsed(e))


def parent_view(e: Edge) -> View:
    return View(e.parent, tuple(e.parent_columns), tuple(e.parent_types), tuple(e.compare_types), _parsed(e))


def read_as(col: Column, own: str, target: str) -> Column:
    """Column ``col`` of type ``own`` read as ``target``: widening casts are exact; text read as a typed
    value is parsed with ``try_cast`` (null when it does not parse: the view flags it)."""
    if own.lower() == target.lower():
        return col
    return col.try_cast(target) if parses(own, target) else col.cast(target)


def view_columns(v: View) -> list[tuple[str, Column, T.DataType]]:
    """(field name, Column, its type) of a view: ``c<i>`` the values, ``u<i>`` the did-not-parse flags."""
    out = []
    for i, (c, own, target) in enumerate(zip(v.columns, v.types, v.compare_types)):
        ref = F.col("`" + c.replace("`", "``") + "`")
        value = read_as(ref, own, target)
        out.append((f"c{i}", value, spark_type(target)))
        if v.parsed[i]:
            flag = ref.isNotNull() & value.isNull() if parses(own, target) else F.lit(False)
            out.append((f"u{i}", flag, T.BooleanType()))
    return out


def exact_value(col: Column, dtype: T.DataType) -> Column:
    """A value as the exact encoding verification compares (doubles as their exact text, timestamps as
    microseconds)."""
    if isinstance(dtype, (T.FloatType, T.DoubleType)):
        return exact_float(col)
    if isinstance(dtype, (T.TimestampType, T.TimestampNTZType)):
        return F.unix_micros(col.cast("timestamp"))
    return col



def exact_text(view: View) -> Column:
    """A view's row as exact JSON text: equal text if and only if equal values, bit for bit."""
    return F.to_json(F.struct(*[exact_value(col, dtype).alias(name) for name, col, dtype in view_columns(view)]),
                     {"ignoreNullFields": "false"})


def count_rows(tables: Mapping[str, DataFrame], views: Sequence[View], *, tables_per_job: int = 200) -> DataFrame:
    """(view int, row string, n bigint): how often each exact row text occurs in each view (view = index).

    Each table is scanned once for all its views (``explode`` of an array of (view, text)); up to
    ``tables_per_job`` tables share one aggregation, checkpointed, so a plan stays small however
    large the lake."""
    by_table: dict[str, list[int]] = {}
    for i, v in enumerate(views):
        by_table.setdefault(v.table, []).append(i)
    parts = []
    names = sorted(by_table)
    for start in range(0, len(names), tables_per_job):
        branches = []
        for t in names[start:start + tables_per_job]:
            items = [F.struct(F.lit(i).alias("view"), exact_text(views[i]).alias("row")) for i in by_table[t]]
            branches.append(tables[t].select(F.explode(F.array(*items)).alias("v")).select("v.*"))
        union = branches[0]
        for b in branches[1:]:
            union = union.unionByName(b)
        parts.append(union.groupBy("view", "row").agg(F.count(F.lit(1)).alias("n")).localCheckpoint())
    out = parts[0]
    for p in parts[1:]:
        out = out.unionByName(p)
    return out


class ViewCounts:
    """The exact row counts of every view the live edges need, computed in one pass over the lake;
    content pruning and verification both answer their edges from it."""

    def __init__(self, spark, tables: Mapping[str, DataFrame], edges: Sequence[Edge], *, tables_per_job: int = 200):
        self.spark = spark
        views = sorted({v for e in edges for v in (child_view(e), parent_view(e))}, key=repr)
        self.index = {v: i for i, v in enumerate(views)}
        self.views = views
        self.counts = count_rows(tables, views, tables_per_job=tables_per_job) if views else None
        self._totals: dict[int, tuple[int, int]] | None = None

    def edge_rows(self, edges: Sequence[Edge], bounds: Sequence[int | None] | None = None) -> DataFrame:
        """(edge, row, n, pn): each row of edge i's child view with its count ``n`` there and ``pn`` in the
        parent view (null when the parent lacks it); with ``bounds``, only child rows whose hash of the
        text is below ``bounds[i]`` (a deterministic sample; None: every row)."""
        rows = [(i, self.index[child_view(e)], self.index[parent_view(e)], None if bounds is None else bounds[i])
                for i, e in enumerate(edges)]
        pairs = self.spark.createDataFrame(rows, "edge int, cview int, pview int, bound bigint")
        c = self.counts
        child = c.join(F.broadcast(pairs), c["view"] == pairs["cview"])
        if bounds is not None:
            child = child.where(F.col("bound").isNull() | (F.xxhash64(F.col("row")) < F.col("bound")))
        child = child.select("edge", "pview", "row", "n")
        parent = c.select(F.col("view").alias("pview"), "row", F.col("n").alias("pn"))
        return child.join(parent, ["pview", "row"], "left").select("edge", "row", "n", "pn")

    def totals(self) -> dict[int, tuple[int, int]]:
        """view -> (rows, distinct rows)."""
        if self._totals is None:
            self._totals = {r["view"]: (int(r["rows"]), int(r["distinct"])) for r in self.counts.groupBy("view").agg(
                F.sum("n").alias("rows"), F.count(F.lit(1)).alias("distinct")).collect()}  # one row per view
        return self._totals
