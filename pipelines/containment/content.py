"""Content pruning (R2D2 §4.3): probe a hashed sample of each child against its parents' row hashes.

For every live edge P -> C, the k child rows with the smallest canonical row hashes (a deterministic
pseudo-random sample of C's distinct rows, independent of partitioning and row order) are looked up
among the hashes of P projected onto C's columns. One missing hash proves C is not contained (equal
rows hash alike; :mod:`pipelines.containment.rowhash`). Each parent projection is hashed once per distinct child
column set, not once per edge, and each child is sampled once whatever its number of parents.
Both sides are hashed in the edge's compare types (:func:`pipelines.containment.verify.compared`), so a
child whose types differ from the parent's in width or family (an int copy of a bigint column, a CSV
whose types Spark inferred) is probed by value.
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Mapping, Sequence

from pyspark.sql import DataFrame
from pyspark.sql import functions as F

from pipelines.containment.graph import Edge
from pipelines.containment.rowhash import hash_rows
from pipelines.containment.types import parses
from pipelines.containment.verify import compared


@dataclass
class ContentStats:
    children_sampled: int = 0
    projections_hashed: int = 0
    sample_rows: int = 0               # sampled child rows probed
    parent_rows_hashed: int = 0        # rows of parent projections hashed
    pruned: int = 0


def _union(frames: Sequence[DataFrame]) -> DataFrame:
    out = frames[0]
    for f in frames[1:]:
        out = out.unionByName(f)
    return out


def child_sample(df: DataFrame, columns: Sequence[str] | None, sample_rows: int, num_rows: int) -> DataFrame:
    """A deterministic Bernoulli sample of ``df``'s distinct row hashes, about ``sample_rows`` of them.

    A row is kept when its canonical hash, read as an unsigned 64-bit number, falls below
    ``q * 2^64`` with ``q = min(1, sample_rows / num_rows)``: no sort, no shuffle, the same rows
    whatever the partitioning or row order. Identical rows share a hash, so distinct rows are
    sampled independently (for a well-mixed hash) with probability q each.
    """
    hashed = hash_rows(df, list(columns) if columns is not None else None)
    if num_rows <= sample_rows:
        return hashed
    q = sample_rows / num_rows
    # unsigned comparison of the hash with q * 2^64: shift the signed long by 2^63 into [0, 2^64)
    threshold = int(q * 2**64) - 2**63
    return hashed.where(F.col("row_hash") < F.lit(threshold))


def _parsed(e: Edge) -> list[bool]:
    return [parses(pt, ct) for pt, ct in zip(e.parent_types, e.compare_types)]


def _sample_key(e: Edge) -> tuple:
    """A child is sampled once per way of reading it (its columns in the edge's compare types)."""
    return (e.child, tuple(c.lower() for c in e.columns), e.compare_types, tuple(_parsed(e)))


def _batches(edges: Sequence[Edge], max_projections: int) -> list[list[Edge]]:
    """Edges grouped so that a batch probes at most ``max_projections`` parent projections."""
    batches: list[list[Edge]] = []
    current: list[Edge] = []
    seen: set = set()
    for e in sorted(edges, key=lambda x: (x.projection_key, x.child)):
        if e.projection_key not in seen and len(seen) >= max_projections:
            batches.append(current)
            current, seen = [], set()
        seen.add(e.projection_key)
        current.append(e)
    if current:
        batches.append(current)
    return batches


def prune(edges: Sequence[Edge], tables: Mapping[str, DataFrame], row_counts: Mapping[str, int],
          sample_rows: int, *, max_projections_per_job: int = 40) -> ContentStats:
    """Probe every live edge; mark survivors ``reached='content'`` and prune the rest in place."""
    live = [e for e in edges if e.alive]
    stats = ContentStats()
    if not live:
        return stats
    spark = tables[live[0].child].sparkSession
    for batch in _batches(live, max_projections_per_job):
        projections = sorted({e.projection_key for e in batch})
        proj_id = {k: i for i, k in enumerate(projections)}
        samples = sorted({_sample_key(e) for e in batch})
        sample_id = {k: i for i, k in enumerate(samples)}
        probe_frames = []
        for key in projections:
            e = next(e for e in batch if e.projection_key == key)
            side = compared(tables[e.parent], e.parent_columns, e.parent_types, e.compare_types, _parsed(e))
            probe_frames.append(hash_rows(side).withColumn("projection", F.lit(proj_id[key])))
            stats.parent_rows_hashed += int(row_counts.get(e.parent, 0))
        sample_frames = []
        for key in samples:
            e = next(e for e in batch if _sample_key(e) == key)
            side = compared(tables[e.child], e.columns, e.child_types, e.compare_types, _parsed(e))
            n = int(row_counts.get(e.child, 0))
            sample_frames.append(child_sample(side, None, sample_rows, n).withColumn("sample", F.lit(sample_id[key])))
        stats.children_sampled += len({e.child for e in batch})
        stats.projections_hashed += len(projections)
        edge_rows = [(i, sample_id[_sample_key(e)], proj_id[e.projection_key]) for i, e in enumerate(batch)]
        edge_df = spark.createDataFrame(edge_rows, "edge int, sample int, projection int")
        # small: about sample_rows hashes per child, joined to the child's edges
        edge_samples = edge_df.join(_union(sample_frames), "sample").select("edge", "projection", "row_hash")
        matched = (_union(probe_frames)
                   .join(F.broadcast(edge_samples), ["projection", "row_hash"])
                   .select("edge", "row_hash", F.lit(1).alias("matched")))
        both = edge_samples.select("edge", "row_hash", F.lit(0).alias("matched")).unionByName(matched)
        per_edge = both.groupBy("edge").agg(
            F.countDistinct(F.when(F.col("matched") == 0, F.col("row_hash"))).alias("sampled"),
            F.countDistinct(F.when(F.col("matched") == 1, F.col("row_hash"))).alias("found"))
        got = {r["edge"]: (int(r["sampled"]), int(r["sampled"]) - int(r["found"])) for r in per_edge.collect()}
        missing_by_edge = {i: m for i, (_, m) in got.items()}
        size_by_child = {batch[i].child: n for i, (n, _) in got.items()}
        stats.sample_rows += sum(n for n, _ in got.values())
        for i, e in enumerate(batch):
            e.sample_rows = int(size_by_child.get(e.child, 0))
            if missing_by_edge.get(i, 0) > 0:
                e.prune("content:sample_row_missing",
                        f"{missing_by_edge[i]} of {e.sample_rows} sampled child rows absent from the parent")
                stats.pruned += 1
            else:
                e.reached = "content"
    return stats
