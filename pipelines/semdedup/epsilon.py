"""Choosing epsilon for a target kept fraction (pure functions, no Spark).

SemDeDup (Abbas et al., 2023, §4) reports results as a function of the kept share of the data and
picks epsilon to reach it. With ``compare_against='any_earlier'`` (the released code's rule) a
member is kept iff its max similarity M to earlier members of its cluster is <= 1 - epsilon, so the
kept share at any epsilon is read off the distribution of M alone. That distribution is reduced to a
bounded histogram on a grid of width ``resolution`` (bin b = ceil(M / resolution) holds
((b-1) r, b r]), so the driver reads at most 2 / resolution + 1 numbers whatever the data size.
"""
from __future__ import annotations

import math
from typing import Mapping

import numpy as np


def required_kept(num_rows: int, target_kept_fraction: float) -> int:
    """Rows that must be kept: ceil(target * rows), with the target read as the decimal it was written as."""
    from pipelines.tldr.sampling import ratio_as_fraction

    frac = ratio_as_fraction(target_kept_fraction)
    return -(-num_rows * frac.numerator // frac.denominator)


def threshold_bin_for_target(bin_counts: Mapping[int, int], num_never_duplicate: int,
                             target_kept_fraction: float, floor_bin: int) -> int:
    """The smallest threshold bin b >= ``floor_bin`` keeping at least ceil(target * N) rows, where a
    row is kept iff its bin <= b and ``num_never_duplicate`` rows (no earlier member above the floor)
    are always kept. The smallest b is the largest epsilon = 1 - b * resolution reaching the target."""
    total = num_never_duplicate + sum(int(c) for c in bin_counts.values())
    need = required_kept(total, target_kept_fraction)
    kept = num_never_duplicate + sum(int(c) for b, c in bin_counts.items() if b <= floor_bin)
    if kept >= need:
        return floor_bin
    for b in sorted(k for k in bin_counts if k > floor_bin):
        kept += int(bin_counts[b])
        if kept >= need:
            return b
    return max([floor_bin, *bin_counts])  # pragma: no cover - the last bin keeps everything


def epsilon_for_target(max_similarities: np.ndarray, target_kept_fraction: float, *,
                       resolution: float = 1e-4, similarity_floor: float = -1.0) -> tuple[float, int]:
    """(epsilon, threshold bin) keeping at least ``target_kept_fraction`` of the members whose max
    similarities to earlier members are ``max_similarities`` (NaN: no earlier member above the floor).

    Keeping exactly the target may be impossible (ties, the grid, the floor); this keeps the fewest
    rows that are still >= the target."""
    values = np.asarray(max_similarities, dtype=np.float64)
    finite = values[np.isfinite(values) & (values > similarity_floor)]
    never = int(values.size - finite.size)
    bins, counts = np.unique(similarity_bin(finite, resolution).astype(np.int64), return_counts=True)
    floor_bin = int(math.ceil(similarity_floor / resolution))
    b = threshold_bin_for_target(dict(zip(bins.tolist(), counts.tolist())), never, target_kept_fraction, floor_bin)
    return 1.0 - b * resolution, b


def kept_at(max_similarities: np.ndarray, threshold_bin: int, resolution: float) -> np.ndarray:
    """Which members a threshold bin keeps (NaN = never a duplicate)."""
    values = np.asarray(max_similarities, dtype=np.float64)
    return ~(np.isfinite(values) & (similarity_bin(values, resolution) > threshold_bin))


def similarity_bin(similarity: np.ndarray, resolution: float) -> np.ndarray:
    from pipelines.semdedup.kernel import similarity_bin as _bin

    return _bin(similarity, resolution)
