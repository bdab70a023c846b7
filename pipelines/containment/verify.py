"""Exact verification (R2D2 §4.4): except-all in both directions on the projected, cast rows.

For a pair (child rows C, parent rows P) with the same columns and types, this counts
``|C EXCEPT ALL P|`` (child rows the parent lacks; 0 means bag containment), ``|P EXCEPT ALL C|``
(0 as well means the projection is equal) and the set versions (distinct rows). Many pairs are
checked in one grouped aggregation: every row is encoded exactly as JSON text (floating point as
the exact text of its double, :func:`~pipelines.containment.rowhash.exact_float`, so -0.0 is not 0.0:
a child is contained only if a rebuild gives back the same bits; timestamps as microseconds), tagged with
its pair and side, and counted per (pair, row) — the same union-and-count plan Spark itself uses
for ``exceptAll``.
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Sequence

from pyspark.sql import DataFrame
from pyspark.sql import functions as F

from pipelines.containment.graph import Edge
from pipelines.containment.views import CountedViews, exact_value


@dataclass(frozen=True)
class PairCounts:
    child_not_in_parent: int        # |C EXCEPT ALL P|
    parent_not_in_child: int        # |P EXCEPT ALL C|
    distinct_child_not_in_parent: int
    distinct_parent_not_in_child: int
    child_rows: int
    parent_rows: int

    def contained(self, semantics: str) -> bool:
        return (self.child_not_in_parent if semantics == "bag" else self.distinct_child_not_in_parent) == 0

    def equal(self, semantics: str) -> bool:
        if semantics == "bag":
            return self.child_not_in_parent == 0 and self.parent_not_in_child == 0
        return self.distinct_child_not_in_parent == 0 and self.distinct_parent_not_in_child == 0


def encode_rows(df: DataFrame, columns: Sequence[str], names: Sequence[str] | None = None) -> DataFrame:
    """One string column ``row``: the exact JSON encoding of ``columns`` (renamed to ``names``)."""
    names = list(names or columns)
    fields = {f.name: f.dataType for f in df.schema.fields}
    parts = [exact_value(F.col(f"`{c}`"), fields[c]).alias(f"c{i}") for i, c in enumerate(columns)]
    return df.select(F.to_json(F.struct(*parts), {"ignoreNullFields": "false"}).alias("row"))


def project_cast(df: DataFrame, columns: Sequence[str], names: Sequence[str], types: Sequence[str]) -> DataFrame:
    """``df`` projected onto ``columns``, renamed to ``names`` and cast to ``types`` (``try_cast`` where the
    type changes: a rebuild narrows a parent's values to the child's types, and only the rows it keeps
    need to fit; the result is verified against the child's checksum)."""
    own = {f.name: f.dataType.simpleString() for f in df.schema.fields}
    return df.select(*[(F.col(f"`{c}`") if own.get(c) == t else F.col(f"`{c}`").try_cast(t)).alias(n)
                       for c, n, t in zip(columns, names, types)])


def compare_pairs(pairs: Sequence[tuple[DataFrame, DataFrame]], batch_pairs: int = 40) -> list[PairCounts]:
    """Except-all counts both ways for each (child, parent) pair of same-schema DataFrames.

    ``batch_pairs`` pairs share one grouped job (bounding the size of the Spark plan).
    """
    out: list[PairCounts] = []
    for start in range(0, len(pairs), batch_pairs):
        out += _compare_batch(pairs[start:start + batch_pairs])
    return out


def _compare_batch(pairs: Sequence[tuple[DataFrame, DataFrame]]) -> list[PairCounts]:
    if not pairs:
        return []
    tagged = []
    for i, (child, parent) in enumerate(pairs):
        cols = list(child.columns)
        tagged.append(encode_rows(child, cols).select(F.lit(i).alias("pair"), F.lit(1).alias("c"), F.lit(0).alias("p"), "row"))
        tagged.append(encode_rows(parent, cols).select(F.lit(i).alias("pair"), F.lit(0).alias("c"), F.lit(1).alias("p"), "row"))
    union = tagged[0]
    for t in tagged[1:]:
        union = union.unionByName(t)
    per_row = union.groupBy("pair", "row").agg(F.sum("c").alias("nc"), F.sum("p").alias("np"))
    per_pair = per_row.groupBy("pair").agg(
        F.sum(F.greatest(F.col("nc") - F.col("np"), F.lit(0))).alias("c_not_p"),
        F.sum(F.greatest(F.col("np") - F.col("nc"), F.lit(0))).alias("p_not_c"),
        F.sum(F.when((F.col("nc") > 0) & (F.col("np") == 0), 1).otherwise(0)).alias("dc_not_p"),
        F.sum(F.when((F.col("np") > 0) & (F.col("nc") == 0), 1).otherwise(0)).alias("dp_not_c"),
        F.sum("nc").alias("child_rows"), F.sum("np").alias("parent_rows"))
    got = {r["pair"]: r for r in per_pair.collect()}  # bounded: one row per pair
    out = []
    for i in range(len(pairs)):
        r = got.get(i)
        out.append(PairCounts(0, 0, 0, 0, 0, 0) if r is None else PairCounts(
            int(r["c_not_p"]), int(r["p_not_c"]), int(r["dc_not_p"]), int(r["dp_not_c"]),
            int(r["child_rows"]), int(r["parent_rows"])))
    return out


def verify(edges: Sequence[Edge], views: CountedViews, semantics: str) -> int:
    """Verify every live edge exactly; mark ``verified`` or prune it in place. Returns rows compared.

    From the views' exact row counts (:func:`pipelines.containment.views.count_views`, every table
    read once): one join gives, per edge, ``|C EXCEPT ALL P|`` and the set version, and the view
    totals give ``|P EXCEPT ALL C|``."""
    live = [e for e in edges if e.alive]
    if not live:
        return 0
    per_edge = views.edge_counts(live)
    rows_compared = 0
    for i, e in enumerate(live):
        r = per_edge.get(i)
        prows, pdistinct = views.parent_totals(e)
        c = PairCounts(0, prows, 0, pdistinct, 0, prows) if r is None else PairCounts(
            r.c_not_p, prows - r.matched, r.dc_not_p, pdistinct - r.dmatched, r.child_rows, prows)
        rows_compared += c.child_rows + c.parent_rows
        e.rows_child_not_in_parent = c.child_not_in_parent if semantics == "bag" else c.distinct_child_not_in_parent
        e.rows_parent_not_in_child = c.parent_not_in_child if semantics == "bag" else c.distinct_parent_not_in_child
        if c.contained(semantics):
            e.reached = "verified"
            e.relation = "equal" if c.equal(semantics) else "contained"
        else:
            e.prune("verification:rows_missing", f"{e.rows_child_not_in_parent} child rows not in the parent")
    return rows_compared
