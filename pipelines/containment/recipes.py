"""Rebuild recipes (R2D2 §5): how to recreate a deleted table exactly from its kept parent.

A recipe names the parent and its Delta version, the projection (child column <- parent column),
the casts back to the child's types, and how rows are selected:

* ``projection``: every parent row (the child is the parent's projection, bag-equal);
* ``filter``: rows matching ``filter_predicate``, tried from the child's ranges (partition columns
  first, then every column whose range is narrower than the parent's); kept only when it
  reproduces the child exactly (except-all both ways is empty);
* ``row_keys``: otherwise, the child's canonical row hashes with their counts; rebuilding takes that
  many parent rows of each hash.

Plus the child's schema, row count and an order-independent checksum (count and sums of the two
32-bit halves of the canonical row hashes, :mod:`pipelines.containment.rowhash`), checked after every rebuild.
"""
from __future__ import annotations

import json
from dataclasses import dataclass
from typing import Callable, Mapping, Sequence

from pyspark.sql import DataFrame, Window
from pyspark.sql import functions as F

from pipelines.containment.filters import ColumnCondition, column_condition, predicate_sql, quote_identifier
from pipelines.containment.graph import Edge
from pipelines.containment.profile import TableProfile
from pipelines.containment.rowhash import (
    CHECKSUM_VERSION,
    canonical_order,
    checksum_columns,
    format_checksum,
    hash_rows,
    with_row_hash,
)
from pipelines.containment.verify import compare_pairs, project_cast

RECIPES_DDL = (
    "table_id string, path string, format string, child_fingerprint string, child_version bigint, "
    "parent string, parent_path string, parent_format string, parent_version bigint, parent_fingerprint string, "
    "columns array<string>, parent_columns array<string>, child_types array<string>, "
    "casts array<struct<column:string,child_type:string,parent_type:string>>, child_schema string, "
    "partition_columns array<string>, kind string, filter_predicate string, "
    "row_keys array<struct<row_hash:bigint,count:bigint>>, row_count bigint, checksum string, semantics string"
)


def candidate_conditions(child: TableProfile, parent: TableProfile, edge: Edge) -> list[tuple[ColumnCondition, ...]]:
    """Filter predicates to try, cheapest first: none (``()``), the partition columns' ranges, every column's
    ranges (:func:`pipelines.containment.filters.column_condition`)."""
    partitions = {c.lower() for c in parent.partition_columns}
    on_partitions, on_all = [], []
    for cname, pname in zip(edge.columns, edge.parent_columns):
        cond = column_condition(child.column(cname), parent.column(pname), pname)
        if cond is None:
            continue
        on_all.append(cond)
        if pname.lower() in partitions:
            on_partitions.append(cond)
    out: list[tuple[ColumnCondition, ...]] = [()]
    for conds in (tuple(on_partitions), tuple(on_all)):
        if conds and predicate_sql(conds) not in {predicate_sql(o) for o in out}:
            out.append(conds)
    return out


def candidate_predicates(child: TableProfile, parent: TableProfile, edge: Edge) -> list[str | None]:
    """:func:`candidate_conditions` as the Spark SQL a recipe stores (None: no filter)."""
    return [predicate_sql(c) for c in candidate_conditions(child, parent, edge)]


# (parent, conditions) of each trial -> {trial index: rows of the parent it keeps} (those it can count exactly)
DriverCounter = Callable[[Sequence[tuple[str, tuple[ColumnCondition, ...]]]], Mapping[int, int]]


@dataclass
class Recipe:
    table_id: str
    parent: str
    columns: tuple[str, ...]
    parent_columns: tuple[str, ...]
    child_types: tuple[str, ...]
    casts: list
    kind: str
    filter_predicate: str | None


def rebuild(parent: DataFrame, columns: Sequence[str], parent_columns: Sequence[str], child_types: Sequence[str],
            kind: str, filter_predicate: str | None = None, row_keys: DataFrame | None = None,
            version: int = CHECKSUM_VERSION) -> DataFrame:
    """The child rebuilt from ``parent`` (columns in the child's names and types).

    ``row_keys`` (columns ``row_hash``, ``count``, hashed with ``version``: the recipe's checksum version) is
    needed for ``kind='row_keys'``.
    """
    rows = parent.where(filter_predicate) if (kind == "filter" and filter_predicate) else parent
    out = project_cast(rows, parent_columns, columns, child_types)
    if kind != "row_keys":
        return out
    if row_keys is None:
        raise ValueError("a row_keys recipe needs its row keys")
    hashed = with_row_hash(out, canonical_order(columns), version=version)
    joined = hashed.join(F.broadcast(row_keys.select("row_hash", F.col("count").alias("_keep"))), "row_hash")
    order = [F.col(quote_identifier(c)) for c in canonical_order(columns)]
    ranked = joined.withColumn("_n", F.row_number().over(Window.partitionBy("row_hash").orderBy(*order)))
    return ranked.where(F.col("_n") <= F.col("_keep")).select(*[F.col(quote_identifier(c)) for c in columns])


def union_all(frames: Sequence[DataFrame]) -> DataFrame:
    out = frames[0]
    for f in frames[1:]:
        out = out.unionByName(f)
    return out


def checksums(frames: Mapping[str, DataFrame], versions: Mapping[str, int] | None = None) -> dict[str, tuple[int, str]]:
    """(row count, checksum) of each DataFrame, all in one job; ``versions``: the hash version of each (default
    :data:`~pipelines.containment.rowhash.CHECKSUM_VERSION`), the one its recipe's checksum was made with."""
    if not frames:
        return {}
    versions = {name: (versions or {}).get(name, CHECKSUM_VERSION) for name in frames}
    union = union_all([hash_rows(df, canonical_order(df.columns), version=versions[name]).withColumn("_table", F.lit(name))
                       for name, df in frames.items()])
    got = {r["_table"]: r for r in union.groupBy("_table").agg(*checksum_columns()).collect()}  # one row per table
    out = {}
    for name in frames:
        r, v = got.get(name), versions[name]
        out[name] = (0, format_checksum(0, 0, 0, v)) if r is None else (
            int(r["rows"]), format_checksum(r["rows"], r["sum_high"], r["sum_low"], v))
    return out


def _reproducing_filters(trials: Sequence[tuple[str, str, tuple[ColumnCondition, ...]]],
                         tables: Mapping[str, DataFrame], profiles: Mapping[str, TableProfile],
                         count_in_driver: DriverCounter | None = None) -> dict[str, str]:
    """child -> the first of its trial predicates (child, parent, conditions) whose filter of the parent has
    exactly the child's row count; counted by ``count_in_driver`` (trial index -> rows, leaving out the
    trials it cannot count exactly) and the rest in one Spark job.

    Sound for a verified bag containment: every predicate is implied by the child's own exact ranges on
    its own columns, so every child row's matching parent rows satisfy it (the child is a sub-bag of the
    filter); a sub-bag with as many rows is the whole filter. ``lakesieve containment apply`` still
    rebuilds each recipe and compares it with the child bit for bit before anything moves."""
    if not trials:
        return {}
    counts = dict(count_in_driver([(parent, conds) for _, parent, conds in trials])) if count_in_driver else {}
    rest = [i for i in range(len(trials)) if i not in counts]
    if rest:
        union = union_all([tables[trials[i][1]].where(predicate_sql(trials[i][2])).select(F.lit(i).alias("trial"))
                           for i in rest])
        got = {r["trial"]: int(r["n"]) for r in union.groupBy("trial").agg(F.count(F.lit(1)).alias("n")).collect()}
        counts.update({i: got.get(i, 0) for i in rest})
    found: dict[str, str] = {}
    for i, (child, _, conds) in enumerate(trials):
        if child not in found and counts[i] == int(profiles[child].num_rows or -1):
            found[child] = predicate_sql(conds)
    return found


def choose_recipes(chosen: Mapping[str, str], edges: Mapping[tuple[str, str], Edge],
                   profiles: Mapping[str, TableProfile], tables: Mapping[str, DataFrame],
                   semantics: str = "bag",
                   count_in_driver: DriverCounter | None = None) -> dict[str, Recipe]:
    """For each deleted child (-> its parent), the cheapest selection that reproduces it exactly:
    the whole projection when verification found the two equal, else the first filter that
    reproduces it, else row keys. Bag filter trials are counted by ``count_in_driver`` where it can."""
    found: dict[str, str | None] = {}
    trials: list[tuple[str, str, tuple[ColumnCondition, ...]]] = []
    pairs, compared = [], []
    for child, parent in sorted(chosen.items()):
        e = edges[(parent, child)]
        if semantics == "bag" and e.relation == "equal":
            found[child] = None
            continue
        for conds in candidate_conditions(profiles[child], profiles[parent], e):
            pred = predicate_sql(conds)
            if semantics == "bag":
                if pred is not None:
                    trials.append((child, parent, conds))
                continue
            rebuilt = rebuild(tables[parent], e.columns, e.parent_columns, e.child_types,
                              "filter" if pred else "projection", pred)
            compared.append((child, pred))
            pairs.append((tables[child].select(*[F.col(quote_identifier(c)) for c in e.columns]), rebuilt))
    found.update(_reproducing_filters(trials, tables, profiles, count_in_driver))
    for (child, pred), c in zip(compared, compare_pairs(pairs)):
        if child not in found and c.child_not_in_parent == 0 and c.parent_not_in_child == 0:
            found[child] = pred
    out = {}
    for child, parent in sorted(chosen.items()):
        e = edges[(parent, child)]
        if child in found:
            pred = found[child]
            kind = "filter" if pred else "projection"
        else:
            pred, kind = None, "row_keys"
        out[child] = Recipe(child, parent, e.columns, e.parent_columns, e.child_types,
                            [{"column": c, "child_type": ct, "parent_type": pt} for c, ct, pt in e.casts()], kind, pred)
    return out


def schema_json(schema) -> str:
    """A Spark schema (StructType) as canonical JSON text (the child's own column order)."""
    return json.dumps(json.loads(schema.json()), sort_keys=True)
