"""Content pruning (R2D2 §4.3): probe a sample of each child's rows against its parent's rows.

For every live edge P -> C, about k of C's distinct rows, those whose hash falls below a bound (a
deterministic pseudo-random sample, independent of partitioning and row order), are looked up among
the rows of P projected onto C's columns. One missing row proves C is not contained. Both sides are
read in the edge's compare types (:mod:`pipelines.containment.views`), so a child whose types differ
from the parent's in width or family (an int copy of a bigint column, a CSV whose types Spark
inferred) is probed by value.

How it is batched: the views' row counts are computed once for content pruning and verification
together (every table read once, :class:`~pipelines.containment.views.ViewCounts`); this step is one
join over them, so it costs a fixed number of Spark jobs whatever the number of edges.
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Mapping, Sequence

from pipelines.containment.graph import Edge
from pipelines.containment.views import CountedViews, parent_view


@dataclass
class ContentStats:
    children_sampled: int = 0
    projections_hashed: int = 0
    sample_rows: int = 0               # sampled child rows probed
    parent_rows_hashed: int = 0        # rows of parent projections hashed
    pruned: int = 0


def sample_threshold(sample_rows: int, num_rows: int) -> int | None:
    """The hash bound of a deterministic Bernoulli sample of about ``sample_rows`` distinct rows of a table
    of ``num_rows`` rows, or None when every row is kept.

    A row is kept when its canonical hash, read as an unsigned 64-bit number, falls below
    ``q * 2^64`` with ``q = min(1, sample_rows / num_rows)``: no sort, no shuffle, the same rows
    whatever the partitioning or row order. Identical rows share a hash, so distinct rows are
    sampled independently (for a well-mixed hash) with probability q each.
    """
    if num_rows <= sample_rows:
        return None
    # unsigned comparison of the hash with q * 2^64: shift the signed long by 2^63 into [0, 2^64)
    return int(sample_rows / num_rows * 2**64) - 2**63


def prune(edges: Sequence[Edge], views: CountedViews, row_counts: Mapping[str, int], sample_rows: int) -> ContentStats:
    """Probe every live edge with a sample of its child's distinct rows; mark survivors ``reached='content'``
    and prune the rest in place (answered from the views' row counts: one join for every edge)."""
    live = [e for e in edges if e.alive]
    stats = ContentStats()
    if not live:
        return stats
    bounds = [sample_threshold(sample_rows, int(row_counts.get(e.child, 0))) for e in live]
    got = views.sample_counts(live, bounds)
    probes = {parent_view(e) for e in live}
    stats.children_sampled = len({e.child for e in live})
    stats.projections_hashed = len(probes)
    stats.parent_rows_hashed = sum(int(row_counts.get(v.table, 0)) for v in probes)
    stats.sample_rows = sum(n for n, _ in got.values())
    for i, e in enumerate(live):
        n, missing = got.get(i, (0, 0))
        e.sample_rows = n
        if missing > 0:
            e.prune("content:sample_row_missing", f"{missing} of {n} sampled child rows absent from the parent")
            stats.pruned += 1
        else:
            e.reached = "content"
    return stats
