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

from contextlib import contextmanager
from dataclasses import dataclass
from typing import Mapping, Protocol, Sequence

from pyspark.sql import Column, DataFrame
from pyspark.sql import functions as F
from pyspark.sql import types as T

from pipelines.containment.graph import Edge
from pipelines.containment.rowhash import exact_float
from pipelines.containment.types import family, parses


@dataclass(frozen=True)
class EdgeCounts:
    """One edge's child view against its parent view: rows of the child the parent lacks
    (``c_not_p``, distinct ``dc_not_p``), rows matched (``min(n, pn)`` summed; distinct ``dmatched``)."""

    c_not_p: int
    dc_not_p: int
    matched: int
    dmatched: int
    child_rows: int


class CountedViews(Protocol):
    """What content pruning and verification ask of an engine (:class:`ViewCounts` on Spark,
    :class:`~pipelines.containment.driver_views.DriverViews` in the driver); edges by index in the list given."""

    def sample_counts(self, edges: Sequence[Edge], bounds: Sequence[int | None]) -> dict[int, tuple[int, int]]: ...

    def edge_counts(self, edges: Sequence[Edge]) -> dict[int, EdgeCounts]: ...

    def parent_totals(self, e: Edge) -> tuple[int, int]: ...


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


def _quote(name: str) -> str:
    return "`" + name.replace("`", "``") + "`"


def _exact_sql(value: str, target: str) -> str:
    """SQL of a value of type ``target`` as verification compares it (:func:`exact_value`)."""
    t = target.strip().lower()
    if family(t) == "float":
        return f"CAST(CAST({value} AS DOUBLE) AS STRING)"
    if t in ("timestamp", "timestamp_ntz"):
        return f"unix_micros(CAST({value} AS TIMESTAMP))"
    return value


def view_sql(v: View) -> str:
    """SQL of a view's row as exact JSON text, equal text if and only if equal values bit for bit:
    field ``c<i>`` the value read in its compare type (widening casts exact; text parsed with
    ``try_cast``), ``u<i>`` true where the text did not parse. SQL text, not Column objects: one
    expression per table instead of thousands of driver round trips."""
    fields = []
    for i, (c, own, target) in enumerate(zip(v.columns, v.types, v.compare_types)):
        q = _quote(c)
        if own.lower() == target.lower():
            value = q
        elif parses(own, target):
            value = f"try_cast({q} AS {target})"
        else:
            value = f"CAST({q} AS {target})"
        fields.append(f"'c{i}', {_exact_sql(value, target)}")
        if v.parsed[i]:
            flag = f"({q} IS NOT NULL AND {value} IS NULL)" if parses(own, target) else "false"
            fields.append(f"'u{i}', {flag}")
    return f"to_json(named_struct({', '.join(fields)}), map('ignoreNullFields', 'false'))"


def exact_value(col: Column, dtype: T.DataType) -> Column:
    """A value as the exact encoding verification compares (doubles as their exact text, timestamps as
    microseconds)."""
    if isinstance(dtype, (T.FloatType, T.DoubleType)):
        return exact_float(col)
    if isinstance(dtype, (T.TimestampType, T.TimestampNTZType)):
        return F.unix_micros(col.cast("timestamp"))
    return col



def count_rows(tables: Mapping[str, DataFrame], views: Sequence[View], *, tables_per_job: int = 200) -> DataFrame:
    """(view int, row string, n bigint): how often each exact row text occurs in each view (view = index).

    Each table is scanned once for all its views (``inline`` of an array of (view, text)); up to
    ``tables_per_job`` tables share one aggregation, checkpointed, so a plan stays small however
    large the lake."""
    by_table: dict[str, list[int]] = {}
    for i, v in enumerate(views):
        by_table.setdefault(v.table, []).append(i)
    with interpreted(next(iter(tables.values())).sparkSession):
        return _count(tables, views, by_table, tables_per_job)


@contextmanager
def interpreted(spark):
    """Whole-stage code generation off while inside: a union of hundreds of differently-shaped scans
    spends more time compiling one class per branch than running it (measured: bench/RESULTS.md).
    The session's own setting is put back afterwards; a session not started yet is left so (nothing to compile)."""
    from pipelines.core.session import not_started

    if not_started(spark):
        yield
        return
    key = "spark.sql.codegen.wholeStage"
    before = spark.conf.get(key, None)
    spark.conf.set(key, "false")
    try:
        yield
    finally:
        if before is None:
            spark.conf.unset(key)
        else:
            spark.conf.set(key, before)


def _count(tables, views, by_table, tables_per_job: int) -> DataFrame:
    parts = []
    names = sorted(by_table)
    for start in range(0, len(names), tables_per_job):
        branches = []
        for t in names[start:start + tables_per_job]:
            items = ", ".join(f"named_struct('view', {i}, 'row', {view_sql(views[i])})" for i in by_table[t])
            branches.append(tables[t].selectExpr(f"inline(array({items}))"))
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

    def sample_counts(self, edges: Sequence[Edge], bounds: Sequence[int | None]) -> dict[int, tuple[int, int]]:
        """edge index -> (sampled child rows, of them absent from the parent): one join for every edge."""
        per_edge = self.edge_rows(edges, bounds).groupBy("edge").agg(
            F.count(F.lit(1)).alias("sampled"), F.sum(F.when(F.col("pn").isNull(), 1).otherwise(0)).alias("missing"))
        return {r["edge"]: (int(r["sampled"]), int(r["missing"])) for r in per_edge.collect()}  # one row per edge

    def edge_counts(self, edges: Sequence[Edge]) -> dict[int, EdgeCounts]:
        """edge index -> the child view's rows against the parent view's (one join for every edge)."""
        pn = F.coalesce(F.col("pn"), F.lit(0))
        rows = self.edge_rows(edges).groupBy("edge").agg(
            F.sum(F.greatest(F.col("n") - pn, F.lit(0))).alias("c_not_p"),
            F.sum(F.when(F.col("pn").isNull(), 1).otherwise(0)).alias("dc_not_p"),
            F.sum(F.least(F.col("n"), pn)).alias("matched"),
            F.sum(F.when(F.col("pn").isNotNull(), 1).otherwise(0)).alias("dmatched"),
            F.sum("n").alias("child_rows")).collect()  # one row per edge
        return {r["edge"]: EdgeCounts(int(r["c_not_p"]), int(r["dc_not_p"]), int(r["matched"]), int(r["dmatched"]),
                                      int(r["child_rows"])) for r in rows}

    def parent_totals(self, e: Edge) -> tuple[int, int]:
        """(rows, distinct rows) of ``e``'s parent view."""
        return self.totals().get(self.index[parent_view(e)], (0, 0))

    def totals(self) -> dict[int, tuple[int, int]]:
        """view -> (rows, distinct rows)."""
        if self._totals is None:
            self._totals = {r["view"]: (int(r["rows"]), int(r["distinct"])) for r in self.counts.groupBy("view").agg(
                F.sum("n").alias("rows"), F.count(F.lit(1)).alias("distinct")).collect()}  # one row per view
        return self._totals
