"""Budget allocation across clusters (He et al. 2025, §3.2 "Capability Degradation-Aware Budget Allocation").

Cluster k gets n_k = ⌊B · CDS_k / Σ_j CDS_j⌋ samples; the B − Σ⌊·⌋ left over go one each to the
clusters with the largest fractional parts (ties: lowest cluster id), so the total is exactly B.
A cluster cannot get more samples than it has: a cluster whose share exceeds its size is capped
and the excess is shared again, by the same rule, among the clusters that are not capped
(water-filling). The paper's code truncates with ``int()`` and neither rounds nor caps, so its
total falls short of B; this module fixes both.
"""
from __future__ import annotations

import math
from typing import Hashable, Mapping, Protocol


def resolve_total_budget(budget_count: int | None, budget_fraction: float | None, num_samples: int) -> int:
    """B: ``budget_count`` when set, else ⌊budget_fraction · num_samples⌋; never more than the samples."""
    if budget_count is not None:
        total = int(budget_count)
    else:
        total = int(math.floor(float(budget_fraction) * num_samples + 1e-9))
    return max(0, min(total, num_samples))


def largest_remainder(weights: Mapping[Hashable, float], total: int) -> dict:
    """Split ``total`` in proportion to ``weights``: floors, then the remainder to the largest fractional
    parts (ties to the lowest key). All weights zero: split in equal parts (same remainder rule)."""
    keys = sorted(weights)
    if not keys or total <= 0:
        return {k: 0 for k in keys}
    weight_sum = float(sum(weights[k] for k in keys))
    if weight_sum <= 0.0:
        shares = {k: total / len(keys) for k in keys}
    else:
        shares = {k: total * float(weights[k]) / weight_sum for k in keys}
    alloc = {k: int(math.floor(shares[k] + 1e-9)) for k in keys}
    left = total - sum(alloc.values())
    by_fraction = sorted(keys, key=lambda k: (-(shares[k] - alloc[k]), k))
    for k in by_fraction[:left]:
        alloc[k] += 1
    return alloc


def allocate_budget(cds: Mapping[Hashable, float], sizes: Mapping[Hashable, int], total_budget: int) -> dict:
    """n_k per cluster: proportional to CDS (largest remainder), capped by size, excess redistributed.

    The total is exactly ``min(total_budget, Σ sizes)``. Clusters with CDS 0 get nothing unless every
    cluster still open has CDS 0, in which case the rest is split in proportion to their sizes.
    """
    for k, value in cds.items():
        if value is None or not math.isfinite(float(value)) or float(value) < 0:
            raise ValueError(f"CDS of cluster {k!r} must be a finite non-negative number, not {value!r}")
    if set(cds) != set(sizes):
        raise ValueError("cds and sizes must name the same clusters")
    remaining = min(int(total_budget), int(sum(sizes.values())))
    alloc = {k: 0 for k in cds}
    open_clusters = {k for k in cds if sizes[k] > 0}
    while remaining > 0 and open_clusters:
        weights = {k: float(cds[k]) for k in open_clusters}
        if sum(weights.values()) <= 0.0:
            weights = {k: float(sizes[k]) for k in open_clusters}
        share = largest_remainder(weights, remaining)
        capped = {k for k in open_clusters if share[k] >= sizes[k]}
        if not capped:
            for k in open_clusters:
                alloc[k] = share[k]
            remaining = 0
            break
        for k in capped:  # fix every cluster that hit its size, then share the rest again
            alloc[k] = int(sizes[k])
            remaining -= int(sizes[k])
        open_clusters -= capped
    return alloc


class Walk(Protocol):
    """What :func:`fill_budget` needs of a cluster's walk (:class:`pipelines.paser.concepts.ClusterWalk`)."""

    taken: int

    @property
    def untried(self) -> int: ...

    def advance(self, budget: int) -> None: ...


def fill_budget(walks: Mapping[Hashable, Walk], initial: Mapping[Hashable, int], cds: Mapping[Hashable, float],
                total_budget: int) -> dict:
    """Walk every cluster to its budget, then hand the slots lost to concept rejections in clusters that
    ran out of candidates to the clusters that still have some, and walk on, until ``total_budget``
    samples are selected or no candidate is left untried. Returns the final budget per cluster.

    The missing slots are shared by the same rule as the budget itself (:func:`allocate_budget`: CDS
    shares, largest remainder), capped by each cluster's untried candidates; clusters are walked in
    ascending id order each round (with one concept graph for all, the order matters). A user who asks
    for B samples gets B while candidates remain; the paper's code stops each cluster at its share.
    Each round tries at least one more candidate, so the loop ends.
    """
    order = sorted(walks)
    alloc = {k: int(initial.get(k, 0)) for k in order}
    for k in order:
        walks[k].advance(alloc[k])
    while True:
        missing = int(total_budget) - sum(walks[k].taken for k in order)
        untried = {k: int(walks[k].untried) for k in order}
        if missing <= 0 or not any(untried.values()):
            return alloc
        extra = allocate_budget({k: float(cds[k]) for k in order}, untried, missing)
        for k in order:
            alloc[k] += extra[k]
            walks[k].advance(alloc[k])
